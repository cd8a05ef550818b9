// Copyright 2026 The spindle Authors.
//
// echo_server: the selectors echo server of the seeds, in C++.
//
//   ./bazelw run //examples:echo_server                 # prints its port
//   ./bazelw run //examples:echo_server -- --port=8888  # the seeds' port
//   nc 127.0.0.1 <port>                                 # type; it echoes
//   ./bazelw run //examples:echo_server -- --selftest   # in-process check
//
// The Python original, in three parts:
//
//   sel = selectors.DefaultSelector()
//   def accept(sock):  conn = sock.accept(); conn.setblocking(False)
//                      sel.register(conn, EVENT_READ, read)
//   def read(conn):    data = conn.recv(1024)
//                      if data: conn.send(data)
//                      else:    sel.unregister(conn); conn.close()
//   sel.register(server_socket, EVENT_READ, accept)
//   while True:
//       for key, mask in sel.select():
//           key.data(key.fileobj)
//
// and below the same three parts with spindle::io. As in Python, the
// registration's `data` is the callback to run when its fd is ready; here it
// is an absl::AnyInvocable, so `key->data(mask)` calls it with no cast.

#include <atomic>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "spindle/examples/server_harness.h"
#include "spindle/io/selectors.h"
#include "spindle/io/socket.h"

ABSL_FLAG(std::string, host, "127.0.0.1", "address to listen on");
ABSL_FLAG(int, port, 0, "port to listen on; 0 picks a free one");
ABSL_FLAG(bool, selftest, false,
          "start on a free port, echo through two in-process clients, exit 0 "
          "on success");

namespace {

using spindle::io::kEventRead;
using spindle::io::Socket;

// What runs when a registered fd is ready; `mask` is the ready events.
using Callback = absl::AnyInvocable<void(int mask)>;

class EchoServer {
 public:
  // Listens on host:port and registers the listening socket with `accept` as
  // its callback, as the seed's `sel.register(server_socket, EVENT_READ,
  // accept)`.
  absl::Status Start(const std::string& host, int port) {
    absl::StatusOr<std::unique_ptr<spindle::io::Selector<Callback>>> sel =
        spindle::io::DefaultSelector<Callback>();
    if (!sel.ok()) return sel.status();
    sel_ = *std::move(sel);
    absl::StatusOr<Socket> listener = spindle::io::ListenTcp(host, port);
    if (!listener.ok()) return listener.status();
    listener_ = *std::move(listener);
    if (absl::Status s = listener_.SetNonBlocking(); !s.ok()) return s;
    return sel_->Register(listener_, kEventRead, [this](int) { Accept(); })
        .status();
  }

  int port() const { return listener_.LocalPort().value_or(-1); }

  // The event loop: wait, then run the callback of every ready fd. Returns
  // when Stop() is called (from any thread) or on an error.
  absl::Status Run() {
    while (!stop_.load()) {
      auto ready = sel_->Select(std::nullopt);  // block until something
      if (!ready.ok()) return ready.status();
      for (const auto& [key, mask] : *ready) key->data(mask);
    }
    return absl::OkStatus();
  }

  // Thread-safe: the flag, then Wakeup() so that a blocked Select returns.
  void Stop() {
    stop_.store(true);
    (void)sel_->Wakeup();
  }

 private:
  // accept(sock): a new client, non-blocking, registered with `read`.
  void Accept() {
    absl::StatusOr<Socket> conn = listener_.Accept(/*non_blocking=*/true);
    if (!conn.ok()) return;  // e.g. the client gave up already
    std::printf("new connection on fd %d\n", conn->fileno());
    auto owned = std::make_unique<Socket>(*std::move(conn));
    Socket* c = owned.get();
    if (!sel_->Register(*c, kEventRead, [this, c](int) { Read(*c); }).ok()) {
      return;
    }
    conns_[c->fileno()] = std::move(owned);
  }

  // read(conn): echo what arrived; an empty read means the client left.
  void Read(Socket& conn) {
    char buf[1024];
    absl::StatusOr<size_t> n = conn.Recv(buf, sizeof(buf));
    if (!n.ok() && spindle::io::IsWouldBlock(n.status())) return;
    if (n.ok() && *n > 0) {
      // A client that does not read its echoes fills its buffer; this small
      // example drops it then (see modify_server for buffering writes).
      absl::StatusOr<size_t> sent = conn.Send(absl::string_view(buf, *n));
      if (sent.ok() && *sent == *n) return;
    }
    std::printf("closing fd %d\n", conn.fileno());
    // Unregister before close. The callback running now belongs to this
    // registration; the selector keeps it alive until the next Select().
    const int fd = conn.fileno();
    (void)sel_->Unregister(conn);
    conns_.erase(fd);  // closes the socket
  }

  std::unique_ptr<spindle::io::Selector<Callback>> sel_;
  Socket listener_;
  absl::flat_hash_map<int, std::unique_ptr<Socket>> conns_;
  std::atomic<bool> stop_{false};
};

// Server on a free port in a thread, two clients interleaving round trips.
int SelfTest() {
  return spindle::examples::RunSelfTest<EchoServer>([](EchoServer& server) {
    return spindle::examples::EchoRoundTrips(
        server.port(), /*n_clients=*/2, /*rounds=*/3, [](size_t i, int round) {
          return absl::StrCat("hi from client ", i, " round ", round);
        });
  });
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // log lines show up at once
  if (absl::GetFlag(FLAGS_selftest)) return SelfTest();
  const std::string host = absl::GetFlag(FLAGS_host);
  EchoServer server;
  return spindle::examples::Serve(
      server, host, absl::GetFlag(FLAGS_port), [&host](int port) {
        std::printf("echo server ready (try: nc %s %d)\n", host.c_str(), port);
      });
}
