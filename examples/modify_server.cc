// Copyright 2026 The spindle Authors.
//
// modify_server: the seeds' read/write toggling server, in C++.
//
//   ./bazelw run //examples:modify_server                 # prints its port
//   ./bazelw run //examples:modify_server -- --port=8080  # the seed's port
//   nc 127.0.0.1 <port>                                   # type; it replies
//   ./bazelw run //examples:modify_server -- --selftest   # in-process check
//
// Each connection alternates between two states, and its registration says
// which one it is in:
//
//   READ  (callback to_read):  recv a message, keep it as the pending reply,
//                              switch the registration to WRITE.
//   WRITE (callback to_write): send the pending reply (as much as the socket
//                              takes; the rest waits for the next WRITE
//                              readiness), then switch back to READ.
//
// The Python seed switches with unregister() + register(); the selectors
// documentation recommends modify(), which changes the events and the data
// in one step (one epoll_ctl call) and is what this port uses. Watching for
// WRITE only while there is something to write matters: an idle socket is
// almost always writable, so a permanent WRITE registration would make every
// select() return at once and the loop spin.

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
          "start on a free port, exchange messages with two in-process "
          "clients, exit 0 on success");

namespace {

using spindle::io::kEventRead;
using spindle::io::kEventWrite;
using spindle::io::Socket;

using Callback = absl::AnyInvocable<void(int mask)>;

// One client: its socket and the reply still to be sent (the seed's
// `wdict[conn]`).
struct Connection {
  Socket sock;
  std::string pending;
};

class ModifyServer {
 public:
  absl::Status Start(const std::string& host, int port) {
    auto sel = spindle::io::DefaultSelector<Callback>();
    if (!sel.ok()) return sel.status();
    sel_ = *std::move(sel);
    auto listener = spindle::io::ListenTcp(host, port);
    if (!listener.ok()) return listener.status();
    listener_ = *std::move(listener);
    if (absl::Status s = listener_.SetNonBlocking(); !s.ok()) return s;
    return sel_->Register(listener_, kEventRead, [this](int) { Accept(); })
        .status();
  }

  int port() const { return listener_.LocalPort().value_or(-1); }

  absl::Status Run() {
    while (!stop_.load()) {
      auto ready = sel_->Select(std::nullopt);
      if (!ready.ok()) return ready.status();
      for (const auto& [key, mask] : *ready) key->data(mask);
    }
    return absl::OkStatus();
  }

  void Stop() {  // thread-safe
    stop_.store(true);
    (void)sel_->Wakeup();
  }

 private:
  // to_accept: new connections start in the READ state.
  void Accept() {
    auto sock = listener_.Accept(/*non_blocking=*/true);
    if (!sock.ok()) return;
    auto conn = std::make_unique<Connection>();
    conn->sock = *std::move(sock);
    Connection* c = conn.get();
    if (sel_->Register(c->sock, kEventRead, ToRead(c)).ok()) {
      conns_[c->sock.fileno()] = std::move(conn);
    }
  }

  Callback ToRead(Connection* c) {
    return [this, c](int) { OnReadable(*c); };
  }
  Callback ToWrite(Connection* c) {
    return [this, c](int) { OnWritable(*c); };
  }

  // to_read: take a message, then wait for WRITE readiness to reply.
  void OnReadable(Connection& c) {
    char buf[1024];
    absl::StatusOr<size_t> n = c.sock.Recv(buf, sizeof(buf));
    if (!n.ok() && spindle::io::IsWouldBlock(n.status())) return;
    if (!n.ok() || *n == 0) return Drop(c);  // error or client gone
    std::printf("fd %d says: %.*s\n", c.sock.fileno(), static_cast<int>(*n),
                buf);
    c.pending.assign(buf, *n);
    // READ -> WRITE: new events and new data (the callback) in one call.
    // This replaces the very callback that is running; the selector keeps
    // the old one alive until the next Select(), so that is safe.
    if (!sel_->Modify(c.sock, kEventWrite, ToWrite(&c)).ok()) Drop(c);
  }

  // to_write: send the reply; once it is all out, back to READ.
  void OnWritable(Connection& c) {
    absl::StatusOr<size_t> n = c.sock.Send(c.pending);
    if (!n.ok() && spindle::io::IsWouldBlock(n.status())) return;
    if (!n.ok()) return Drop(c);
    c.pending.erase(0, *n);
    if (!c.pending.empty()) return;  // rest on the next WRITE readiness
    if (!sel_->Modify(c.sock, kEventRead, ToRead(&c)).ok()) Drop(c);
  }

  void Drop(Connection& c) {
    const int fd = c.sock.fileno();
    (void)sel_->Unregister(c.sock);  // before close
    conns_.erase(fd);
  }

  std::unique_ptr<spindle::io::Selector<Callback>> sel_;
  Socket listener_;
  absl::flat_hash_map<int, std::unique_ptr<Connection>> conns_;
  std::atomic<bool> stop_{false};
};

// Server on a free port in a thread; two clients take turns in several
// request/reply rounds, each one toggling READ -> WRITE -> READ.
int SelfTest() {
  return spindle::examples::RunSelfTest<ModifyServer>([](ModifyServer& server) {
    return spindle::examples::EchoRoundTrips(
        server.port(), /*n_clients=*/2, /*rounds=*/5,
        [](size_t i, int round) { return absl::StrCat("hi ", i, "/", round); });
  });
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // log lines show up at once
  if (absl::GetFlag(FLAGS_selftest)) return SelfTest();
  const std::string host = absl::GetFlag(FLAGS_host);
  ModifyServer server;
  return spindle::examples::Serve(
      server, host, absl::GetFlag(FLAGS_port), [&host](int port) {
        std::printf("modify server ready (try: nc %s %d)\n", host.c_str(),
                    port);
      });
}
