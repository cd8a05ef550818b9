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
#include <csignal>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
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

// Reads exactly `n` bytes from a blocking socket.
absl::StatusOr<std::string> RecvExactly(Socket& s, size_t n) {
  std::string out;
  while (out.size() < n) {
    absl::StatusOr<std::string> part = s.Recv(n - out.size());
    if (!part.ok()) return part.status();
    if (part->empty()) return absl::DataLossError("server closed early");
    out += *part;
  }
  return out;
}

// Server on a free port in a thread, two clients interleaving round trips.
int SelfTest() {
  alarm(60);  // bound the whole test: a hang fails instead of blocking CI
  EchoServer server;
  if (absl::Status s = server.Start("127.0.0.1", 0); !s.ok()) {
    std::fprintf(stderr, "start: %s\n", s.ToString().c_str());
    return 1;
  }
  absl::Status run_status;
  std::thread loop([&] { run_status = server.Run(); });
  int failures = 0;
  {
    std::vector<Socket> clients;
    for (int i = 0; i < 2; ++i) {
      absl::StatusOr<Socket> c =
          spindle::io::ConnectTcp("127.0.0.1", server.port());
      if (!c.ok()) {
        std::fprintf(stderr, "connect: %s\n", c.status().ToString().c_str());
        ++failures;
        break;
      }
      clients.push_back(*std::move(c));
    }
    for (int round = 0; round < 3 && failures == 0; ++round) {
      for (size_t i = 0; i < clients.size(); ++i) {
        const std::string msg =
            absl::StrCat("hi from client ", i, " round ", round);
        absl::Status sent = clients[i].SendAll(msg);
        absl::StatusOr<std::string> echo = RecvExactly(clients[i], msg.size());
        if (!sent.ok() || !echo.ok() || *echo != msg) {
          std::fprintf(stderr, "client %zu: bad echo\n", i);
          ++failures;
        }
      }
    }
  }  // clients close here; the server sees end of stream
  server.Stop();
  loop.join();
  if (!run_status.ok()) {
    std::fprintf(stderr, "run: %s\n", run_status.ToString().c_str());
    ++failures;
  }
  std::printf(failures == 0 ? "selftest OK\n" : "selftest FAILED\n");
  return failures == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // log lines show up at once
  if (absl::GetFlag(FLAGS_selftest)) return SelfTest();
  EchoServer server;
  if (absl::Status s =
          server.Start(absl::GetFlag(FLAGS_host), absl::GetFlag(FLAGS_port));
      !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 1;
  }
  std::printf("echo server listening on %s:%d (try: nc %s %d)\n",
              absl::GetFlag(FLAGS_host).c_str(), server.port(),
              absl::GetFlag(FLAGS_host).c_str(), server.port());
  std::fflush(stdout);
  absl::Status s = server.Run();
  std::fprintf(stderr, "%s\n", s.ToString().c_str());
  return s.ok() ? 0 : 1;
}
