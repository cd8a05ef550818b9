// Copyright 2026 The spindle Authors.
//
// blocking_server: the blocking server of seed 003 (a Chinese tutorial on
// Python's selectors, "阻塞IO模型下的 socket 网络编程"), in C++.
//
//   ./bazelw run //examples:blocking_server                  # prints its port
//   ./bazelw run //examples:blocking_server -- --port=12346  # the seed's port
//   nc 127.0.0.1 <port>      (type lines; "close" ends the connection)
//
// The seed's server.py, in full:
//
//   server_socket.bind(('0.0.0.0', 12346)); server_socket.listen()
//   print("服务器已启动,等待客户端连接...")       # server started, waiting
//   client_socket, client_address = server_socket.accept()        # blocks
//   print(f"与客户端 {client_address} 建立连接")  # connected to client ...
//   client_socket.sendall("欢迎连接到服务器!".encode())  # welcome
//   while True:
//       data = client_socket.recv(1024).decode()                  # blocks
//       print(f"客户端消息:{data}")                   # client message: ...
//       client_socket.sendall(f"服务器收到消息:{data}".encode())  # received
//       if data == "close":
//           client_socket.close()
//
// Every call waits until it is done: accept() until a client connects,
// recv() until the client says something. That is the seed's point (its
// second server, selector_server.cc, is the contrast), and this port keeps
// it: blocking sockets, Accept, Recv and SendAll, and the seed's messages
// word for word, so the seed's own client.py talks to it unchanged.
//
// What the port changes:
//  * The seed accepts one client and serves only it (after "close" its loop
//    even goes on reading the closed socket). A blocking server serves
//    several clients the classic way, with one thread per client: here the
//    accept loop runs until the server is stopped, and every connection is
//    served by its own spindle::Thread (Python's threading.Thread) running
//    the seed's loop, which ends after the reply to "close" (as in the seed)
//    or when the client goes away. A thread per client is exactly the cost
//    that the selector server avoids.
//  * "close" followed by a line end ("close\n", as nc sends it) counts too.
//  * Ctrl-C (SIGINT) or SIGTERM stops it cleanly: main() calls Stop() (see
//    server_harness.h), which wakes the blocked calls the way blocking
//    sockets allow - shutdown(2) of the listening socket makes accept()
//    return, shutdown(2) of each connection makes its recv() see the end of
//    the stream - and Run() joins every client's thread before it returns.

#include <sys/socket.h>

#include <cstdio>
#include <iterator>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "spindle/concurrency/lock.h"
#include "spindle/concurrency/thread.h"
#include "spindle/examples/server_harness.h"
#include "spindle/io/socket.h"

ABSL_FLAG(std::string, host, "127.0.0.1",
          "address to listen on (the seed: 0.0.0.0)");
ABSL_FLAG(int, port, 0, "port to listen on; 0 picks a free one");

namespace {

using spindle::io::Socket;

// The seed's words.
constexpr absl::string_view kWelcome = "欢迎连接到服务器!";  // welcome
constexpr absl::string_view kReceived = "服务器收到消息:";   // received: ...

// The seed compares data == "close"; a line end after it is accepted too.
bool IsClose(absl::string_view data) {
  return absl::StripSuffix(absl::StripSuffix(data, "\n"), "\r") == "close";
}

// What is printed of a message: without its line end, if it has one.
int PrintLen(absl::string_view data) {
  return static_cast<int>(
      absl::StripSuffix(absl::StripSuffix(data, "\n"), "\r").size());
}

class BlockingServer {
 public:
  absl::Status Start(const std::string& host, int port) {
    absl::StatusOr<Socket> listener = spindle::io::ListenTcp(host, port);
    if (!listener.ok()) return listener.status();
    listener_ = *std::move(listener);
    return absl::OkStatus();
  }

  int port() const { return listener_.LocalPort().value_or(-1); }

  // The accept loop: one spindle::Thread per client, until Stop().
  absl::Status Run() {
    std::printf("服务器已启动,等待客户端连接...\n");  // started, waiting
    absl::Status status;
    for (;;) {
      absl::StatusOr<Socket> conn = listener_.Accept();  // blocks
      if (!conn.ok()) {
        if (stopping()) break;  // Stop() shut the listener down
        // A client that gave up before we took it (ECONNABORTED, ...):
        // wait for the next. Anything else (e.g. out of descriptors) ends
        // the server with that error.
        if (absl::IsUnavailable(conn.status())) continue;
        status = conn.status();
        break;
      }
      StartSession(*std::move(conn));
      ReapFinished();
    }
    // Wake every client's blocked recv() (a no-op after Stop()), then wait
    // for their threads: destroying a Session joins its thread.
    Stop();
    std::list<std::unique_ptr<Session>> all;
    {
      spindle::LockGuard l(&lock_);
      all.swap(sessions_);
    }
    all.clear();
    return status;
  }

  // Thread-safe; see the file comment.
  void Stop() {
    spindle::LockGuard l(&lock_);
    stopping_ = true;
    shutdown(listener_.fileno(), SHUT_RDWR);
    for (const auto& s : sessions_) {
      if (s->sock.valid()) shutdown(s->sock.fileno(), SHUT_RDWR);
    }
  }

 private:
  // One connected client and the thread that serves it. The thread owns
  // `sock` for reading and writing; closing it happens under lock_, so that
  // Stop() never shuts down a descriptor number that was closed and reused.
  struct Session {
    Socket sock;
    std::string peer;   // the seed's client_address
    bool done = false;  // the thread has finished with sock (under lock_)
    std::optional<spindle::Thread> thread;
  };

  bool stopping() {
    spindle::LockGuard l(&lock_);
    return stopping_;
  }

  // print(f"与客户端 {client_address} 建立连接"), then serve the client on a
  // thread of its own.
  void StartSession(Socket conn) {
    auto session = std::make_unique<Session>();
    session->sock = std::move(conn);
    session->peer = spindle::examples::PeerAddress(session->sock);
    std::printf("与客户端 %s 建立连接\n", session->peer.c_str());
    Session* s = session.get();
    s->thread.emplace(
        spindle::Thread::Options{.name = absl::StrCat("client ", s->peer)},
        [this, s] { Talk(*s); });
    spindle::LockGuard l(&lock_);
    if (stopping_) return;  // too late: `session` closes the socket
    if (absl::Status st = s->thread->Start(); !st.ok()) {
      std::fprintf(stderr, "%s: %s\n", s->peer.c_str(), st.ToString().c_str());
      return;
    }
    sessions_.push_back(std::move(session));
  }

  // The seed's conversation, on the client's own thread.
  void Talk(Session& s) {
    bool ok = s.sock.SendAll(kWelcome).ok();
    char buf[1024];
    while (ok) {
      absl::StatusOr<size_t> n = s.sock.Recv(buf, sizeof(buf));  // blocks
      if (!n.ok() || *n == 0) break;  // the client went away, or Stop()
      const absl::string_view data(buf, *n);
      std::printf("客户端消息:%.*s\n", PrintLen(data), data.data());
      ok = s.sock.SendAll(absl::StrCat(kReceived, data)).ok();
      if (IsClose(data)) break;  // after the reply, as the seed
    }
    std::printf("connection with %s closed\n", s.peer.c_str());
    spindle::LockGuard l(&lock_);
    (void)s.sock.Close();
    s.done = true;
  }

  // Joins the threads of clients that have left, so that a long-running
  // server does not collect them. Called by the accept loop.
  void ReapFinished() {
    std::list<std::unique_ptr<Session>> finished;
    {
      spindle::LockGuard l(&lock_);
      for (auto it = sessions_.begin(); it != sessions_.end();) {
        auto next = std::next(it);
        if ((*it)->done) finished.splice(finished.end(), sessions_, it);
        it = next;
      }
    }
    // Destroyed here, without the lock: each join waits for a thread that
    // has nothing left to do but return.
  }

  Socket listener_;
  spindle::Lock lock_;
  bool stopping_ ABSL_GUARDED_BY(lock_) = false;
  std::list<std::unique_ptr<Session>> sessions_ ABSL_GUARDED_BY(lock_);
};

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // log lines show up at once
  const std::string host = absl::GetFlag(FLAGS_host);
  BlockingServer server;
  return spindle::examples::Serve(
      server, host, absl::GetFlag(FLAGS_port), [&host](int port) {
        std::printf("blocking server ready (try: nc %s %d)\n", host.c_str(),
                    port);
      });
}
