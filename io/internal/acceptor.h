// Copyright 2026 The spindle Authors.
//
// The accept side of TcpServer: binding the listeners, accepting in
// batches, and the limits applied at accept time - the busy reply beyond
// max_connections, the reserve descriptor for EMFILE/ENFILE, and the
// accept pause when even that fails.
//
// Private to //io.

#ifndef SPINDLE_IO_INTERNAL_ACCEPTOR_H_
#define SPINDLE_IO_INTERNAL_ACCEPTOR_H_

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "spindle/io/event_loop.h"
#include "spindle/io/socket.h"

namespace spindle::io::internal {

// Not thread-safe: loop thread only.
class Acceptor {
 public:
  struct Options {
    std::vector<std::string> hosts;
    int port = 0;
    int backlog = 1024;
    bool reuse_port = false;
    int accept_batch = 64;
    std::string busy_message;
  };
  // Where refusals are counted (the server's Stats).
  struct Counters {
    std::atomic<int64_t>* rejected_busy;
    std::atomic<int64_t>* rejected_no_fds;
  };

  // `at_capacity()` says whether a connection accepted now must be refused
  // with the busy message; `on_connection(fd)` takes each accepted
  // (non-blocking, close-on-exec) descriptor.
  Acceptor(EventLoop* loop, Options options, Counters counters,
           absl::AnyInvocable<bool()> at_capacity,
           absl::AnyInvocable<void(int fd)> on_connection);
  Acceptor(const Acceptor&) = delete;
  Acceptor& operator=(const Acceptor&) = delete;
  ~Acceptor() { Close(); }

  // Binds and listens on every host and starts accepting. On error nothing
  // is left listening (and Listen may be called again).
  absl::Status Listen();
  // Whether Listen succeeded and Close has not run.
  bool listening() const { return !listeners_.empty(); }
  // The bound port (after Listen).
  int port() const { return port_; }
  // Stops accepting for good and closes the listeners.
  void Close();

 private:
  void OnAcceptable(int listen_fd);
  void Resume();
  void Pause(absl::Duration d);

  EventLoop* const loop_;
  const Options options_;
  const Counters counters_;
  absl::AnyInvocable<bool()> at_capacity_;
  absl::AnyInvocable<void(int)> on_connection_;
  std::vector<Socket> listeners_;
  bool accepting_ = false;
  bool closed_ = false;
  Handle resume_timer_;
  Fd reserve_fd_;
  int port_ = 0;
};

}  // namespace spindle::io::internal

#endif  // SPINDLE_IO_INTERNAL_ACCEPTOR_H_
