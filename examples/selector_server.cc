// Copyright 2026 The spindle Authors.
//
// selector_server: the selector server of seed 003 (a Chinese tutorial on
// Python's selectors, "IO多路复用模型下的socket 网络编程 selector"), in C++.
//
//   ./bazelw run //examples:selector_server                 # prints its port
//   ./bazelw run //examples:selector_server -- --port=9999  # the seed's port
//   nc 127.0.0.1 <port>      (type lines; "close" ends the connection)
//
// The seed's server.py, in full:
//
//   sel = selectors.DefaultSelector()
//   def accept(server_socket):
//       conn, addr = server_socket.accept()
//       print(f"与客户端 {addr} 建立连接")          # connected to client ...
//       conn.setblocking(False)
//       sel.register(conn, selectors.EVENT_READ, read)
//   def read(conn):
//       data = conn.recv(1024).decode('utf-8')
//       print(f"客户端消息:{data}")                  # client message: ...
//       if data == "close":
//           sel.unregister(conn)
//           conn.close()
//       else:
//           conn.sendall(f"服务器收到消息:{data}".encode())  # received: ...
//   sock.bind(("0.0.0.0", 9999)); sock.listen(); sock.setblocking(False)
//   sel.register(sock, selectors.EVENT_READ, accept)
//   print("创建事件循环")                             # event loop created
//   while True:
//       events = sel.select()
//       for key, _ in events:
//           print(key)
//           callback = key.data
//           callback(key.fileobj)
//
// One thread serves every client: nothing blocks except select(), which
// returns the registrations that are ready, and each registration's `data`
// is the function to call for it - accept for the listening socket, read for
// a connection. The port is the same program with spindle::io: `data` is an
// absl::AnyInvocable that already knows its socket, so `key->data()` is the
// seed's `callback(key.fileobj)`. The seed's messages are kept word for
// word, so its own client.py talks to this server unchanged; unlike the
// blocking server (blocking_server.cc) it sends no welcome, and "close" ends
// the connection without a reply.
//
// What the port adds:
//  * A client that goes away (recv() returns nothing) is unregistered and
//    closed; the seed would keep reading end-of-stream forever.
//  * "close" followed by a line end ("close\n", as nc sends it) counts too.
//  * The seed's sendall() on a non-blocking socket can fail half-way; a
//    reply is one short message answering one request, so it always fits in
//    the socket's buffer unless the client sends without ever reading. Such
//    a client is disconnected rather than let it make the server wait
//    (modify_server.cc shows how to buffer replies instead).
//  * Ctrl-C (SIGINT) or SIGTERM: main() routes them to Stop() (see
//    server_harness.h), which wakes the select() with Wakeup(); the loop
//    ends and every connection is closed.

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
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "spindle/examples/server_harness.h"
#include "spindle/io/selectors.h"
#include "spindle/io/socket.h"

ABSL_FLAG(std::string, host, "127.0.0.1",
          "address to listen on (the seed: 0.0.0.0)");
ABSL_FLAG(int, port, 0, "port to listen on; 0 picks a free one");

namespace {

using spindle::io::kEventRead;
using spindle::io::Socket;

// What a registration's data is: the function to call when it is ready.
using Callback = absl::AnyInvocable<void()>;

// The seed's words.
constexpr absl::string_view kReceived = "服务器收到消息:";  // received: ...

// The seed compares data == "close"; a line end after it is accepted too.
bool IsClose(absl::string_view data) {
  return absl::StripSuffix(absl::StripSuffix(data, "\n"), "\r") == "close";
}

// What is printed of a message: without its line end, if it has one.
int PrintLen(absl::string_view data) {
  return static_cast<int>(
      absl::StripSuffix(absl::StripSuffix(data, "\n"), "\r").size());
}

class SelectorServer {
 public:
  // sel = selectors.DefaultSelector(); sock.bind(...); sock.listen();
  // sock.setblocking(False); sel.register(sock, EVENT_READ, accept)
  absl::Status Start(const std::string& host, int port) {
    absl::StatusOr<std::unique_ptr<spindle::io::Selector<Callback>>> sel =
        spindle::io::DefaultSelector<Callback>();
    if (!sel.ok()) return sel.status();
    sel_ = *std::move(sel);
    absl::StatusOr<Socket> listener = spindle::io::ListenTcp(host, port);
    if (!listener.ok()) return listener.status();
    listener_ = *std::move(listener);
    if (absl::Status s = listener_.SetNonBlocking(); !s.ok()) return s;
    return sel_->Register(listener_, kEventRead, [this] { Accept(); }).status();
  }

  int port() const { return listener_.LocalPort().value_or(-1); }

  // The seed's `while True` loop, until Stop().
  absl::Status Run() {
    std::printf("创建事件循环\n");  // event loop created
    while (!stop_.load()) {
      auto events = sel_->Select(std::nullopt);  // blocks until ready
      if (!events.ok()) return events.status();
      for (const auto& [key, mask] : *events) {
        std::printf("SelectorKey(fd=%d, events=%d)\n", key->fd, key->events);
        key->data();  // callback(key.fileobj)
      }
    }
    for (auto& [fd, conn] : conns_) (void)sel_->Unregister(*conn);
    conns_.clear();  // closes every connection
    return absl::OkStatus();
  }

  // Thread-safe: the flag, then Wakeup() so that a blocked Select returns.
  void Stop() {
    stop_.store(true);
    (void)sel_->Wakeup();
  }

 private:
  // accept(server_socket)
  void Accept() {
    absl::StatusOr<Socket> conn = listener_.Accept(/*non_blocking=*/true);
    if (!conn.ok()) return;  // e.g. the client gave up already
    std::printf("与客户端 %s 建立连接\n",
                spindle::examples::PeerAddress(*conn).c_str());
    auto owned = std::make_unique<Socket>(*std::move(conn));
    Socket* c = owned.get();
    // sel.register(conn, selectors.EVENT_READ, read)
    if (!sel_->Register(*c, kEventRead, [this, c] { Read(*c); }).ok()) return;
    conns_[c->fileno()] = std::move(owned);
  }

  // read(conn)
  void Read(Socket& conn) {
    char buf[1024];
    absl::StatusOr<size_t> n = conn.Recv(buf, sizeof(buf));
    if (!n.ok() && spindle::io::IsWouldBlock(n.status())) return;
    if (!n.ok() || *n == 0) return Close(conn);  // the client went away
    const absl::string_view data(buf, *n);
    std::printf("客户端消息:%.*s\n", PrintLen(data), data.data());
    if (IsClose(data)) return Close(conn);
    const std::string reply = absl::StrCat(kReceived, data);
    absl::StatusOr<size_t> sent = conn.Send(reply);
    if (!sent.ok() || *sent != reply.size()) Close(conn);  // see above
  }

  // sel.unregister(conn); conn.close()
  void Close(Socket& conn) {
    std::printf("connection on fd %d closed\n", conn.fileno());
    // Unregister before close. The callback running now belongs to this
    // registration; the selector keeps it alive until the next Select().
    const int fd = conn.fileno();
    (void)sel_->Unregister(conn);
    conns_.erase(fd);  // closes the socket
  }

  std::unique_ptr<spindle::io::Selector<Callback>> sel_;
  Socket listener_;
  absl::flat_hash_map<int, std::unique_ptr<Socket>> conns_;  // by fd
  std::atomic<bool> stop_{false};
};

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // log lines show up at once
  const std::string host = absl::GetFlag(FLAGS_host);
  SelectorServer server;
  return spindle::examples::Serve(
      server, host, absl::GetFlag(FLAGS_port), [&host](int port) {
        std::printf("selector server ready (try: nc %s %d)\n", host.c_str(),
                    port);
      });
}
