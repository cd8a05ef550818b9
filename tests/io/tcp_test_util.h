// Copyright 2026 The spindle Authors.
//
// What the TcpServer tests share: a blocking line client and a fixture that
// runs an EventLoop with a TcpServer (per-line or batch handler) in its own
// thread.

#ifndef SPINDLE_TESTS_IO_TCP_TEST_UTIL_H_
#define SPINDLE_TESTS_IO_TCP_TEST_UTIL_H_

#include <sys/socket.h>
#include <sys/time.h>

#include <cerrno>
#include <memory>
#include <string>
#include <thread>
#include <utility>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "spindle/io/event_loop.h"
#include "spindle/io/socket.h"
#include "spindle/io/tcp_server.h"
#include "tests/test_util.h"

namespace spindle::io::tcp_test {

// How long a client read or a loop call may take before the test fails.
inline constexpr absl::Duration kIoBound = absl::Seconds(20);

// A blocking client socket whose reads time out after kIoBound.
class Client {
 public:
  explicit Client(int port, const char* host = "127.0.0.1") {
    auto s = ConnectTcp(host, port);
    EXPECT_TRUE(s.ok()) << s.status();
    if (s.ok()) sock_ = *std::move(s);
    timeval tv{static_cast<time_t>(absl::ToInt64Seconds(kIoBound)), 0};
    setsockopt(sock_.fileno(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  }
  void Send(absl::string_view data) { ASSERT_OK(sock_.SendAll(data)); }
  // The next line without its newline; "<eof>" at end of stream, "<timeout>"
  // when nothing came within kIoBound.
  std::string ReadLine() {
    for (;;) {
      size_t nl = buf_.find('\n');
      if (nl != std::string::npos) {
        std::string line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return line;
      }
      char tmp[65536];
      ssize_t n = recv(sock_.fileno(), tmp, sizeof(tmp), 0);
      if (n == 0) return "<eof>";
      if (n < 0) return errno == EAGAIN ? "<timeout>" : "<error>";
      buf_.append(tmp, static_cast<size_t>(n));
    }
  }
  Socket& sock() { return sock_; }

 private:
  Socket sock_;
  std::string buf_;
};

// An EventLoop running in its own thread, with a TcpServer made on it.
class ServerFixture {
 public:
  ServerFixture(TcpServer::Options options, TcpServer::Handler handler) {
    Init(std::move(options), std::move(handler));
  }
  ServerFixture(TcpServer::Options options, TcpServer::BatchHandler handler) {
    Init(std::move(options), std::move(handler));
  }
  ~ServerFixture() { StopLoop(); }

  // Runs `fn` on the loop thread and waits for it.
  void OnLoop(absl::AnyInvocable<void()> fn) {
    absl::Notification done;
    ASSERT_OK(loop_->CallSoonThreadsafe([&] {
      fn();
      done.Notify();
    }));
    ASSERT_TRUE(done.WaitForNotificationWithTimeout(kIoBound));
  }
  // Destroys the server (on its loop) and stops the loop; idempotent.
  void StopLoop() {
    if (!thread_.joinable()) return;
    OnLoop([this] {
      server_.reset();
      loop_->Stop();
    });
    thread_.join();
    EXPECT_TRUE(run_.ok()) << run_;
  }

  absl::Status start() const { return start_; }
  // The server's port (still known after StopLoop).
  int port() const { return port_; }
  TcpServer& server() { return *server_; }
  const TcpServer::Stats& stats() const { return server_->stats(); }
  EventLoop& loop() { return *loop_; }

 private:
  template <typename Handler>
  void Init(TcpServer::Options options, Handler handler) {
    loop_ = *EventLoop::Create();
    server_ = std::make_unique<TcpServer>(loop_.get(), std::move(options),
                                          std::move(handler));
    start_ = server_->Start();
    if (start_.ok()) {
      port_ = server_->port();
      thread_ = std::thread([this] { run_ = loop_->RunForever(); });
    }
  }

  std::unique_ptr<EventLoop> loop_;
  std::unique_ptr<TcpServer> server_;
  absl::Status start_;
  absl::Status run_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace spindle::io::tcp_test

#endif  // SPINDLE_TESTS_IO_TCP_TEST_UTIL_H_
