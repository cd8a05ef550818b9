// Copyright 2026 The spindle Authors.
//
// -----------------------------------------------------------------------------
// File: socket.h
// -----------------------------------------------------------------------------
//
// Small, owning wrappers for file descriptors and sockets: enough for
// selector loops, their tests and examples, and the base that the event loop
// and TCP front end build on. Not a general networking library: IPv4 TCP and
// AF_UNIX socket pairs only.
//
// Conventions:
//  * Every descriptor made here is close-on-exec (SOCK_CLOEXEC, accept4).
//  * Errors are absl::Status carrying the errno's code and the failing call
//    (spindle::ErrnoError). A non-blocking call that would block returns
//    `WouldBlockError` (kUnavailable with a marker), recognised by
//    `IsWouldBlock(status)` and distinct from other kUnavailable errors such
//    as ECONNREFUSED.
//  * EINTR is retried internally; SIGPIPE is never raised (MSG_NOSIGNAL):
//    writing to a closed peer returns EPIPE as an error instead.
//  * Both classes have `fileno()`, so they are selector file objects.
//
// Thread safety: Fd and Socket are not thread-safe; they are as safe as the
// int they hold (distinct objects may be used from distinct threads, and
// concurrent Send/Recv on one socket from two threads is as the kernel
// allows, but Close() must not overlap any other call).

#ifndef SPINDLE_IO_SOCKET_H_
#define SPINDLE_IO_SOCKET_H_

#include <cstddef>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace spindle::io {

// Fd
//
// Owns one file descriptor and closes it on destruction. Move-only.
class Fd {
 public:
  Fd() = default;
  // Takes ownership of `fd` (may be -1 for "none").
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(other.release()) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) Reset(other.release());
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { Reset(); }

  // The descriptor, or -1 when empty or closed.
  int fileno() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  // Gives up ownership without closing; returns the fd (or -1).
  int release() { return std::exchange(fd_, -1); }
  // Closes the current fd (ignoring errors) and takes `fd`.
  void Reset(int fd = -1);
  // Closes now and reports close()'s error. Idempotent: OK when empty. The
  // fd is released even when close() fails (retrying close is never safe).
  absl::Status Close();

 private:
  int fd_ = -1;
};

// Socket
//
// A stream socket (TCP or AF_UNIX) owning its fd. Move-only; a
// default-constructed or closed Socket has fileno() == -1.
class Socket {
 public:
  Socket() = default;
  explicit Socket(Fd fd) : fd_(std::move(fd)) {}

  int fileno() const { return fd_.fileno(); }
  bool valid() const { return fd_.valid(); }
  Fd& fd() { return fd_; }

  // O_NONBLOCK on or off.
  absl::Status SetNonBlocking(bool non_blocking = true);

  // Sends what the kernel takes now; returns the count (> 0 unless `data` is
  // empty). Errors: WouldBlockError on a full non-blocking socket, EPIPE /
  // ECONNRESET when the peer is gone.
  absl::StatusOr<size_t> Send(absl::string_view data);
  // Sends all of `data`, blocking as needed (on a non-blocking socket it
  // returns WouldBlockError with the rest unsent; use Send there).
  absl::Status SendAll(absl::string_view data);
  // Receives up to `len` bytes into `buf`; 0 means end of stream. Errors:
  // WouldBlockError when nothing is buffered on a non-blocking socket.
  absl::StatusOr<size_t> Recv(char* buf, size_t len);
  // Receives up to `max` bytes as a string; empty means end of stream.
  absl::StatusOr<std::string> Recv(size_t max);

  // Accepts one connection (close-on-exec, blocking unless
  // `non_blocking`). Errors: WouldBlockError on a non-blocking listener with
  // nothing pending.
  absl::StatusOr<Socket> Accept(bool non_blocking = false);

  // The local port of a TCP socket (e.g. after ListenTcp(..., 0)).
  absl::StatusOr<int> LocalPort() const;

  // Half-close: no more sends; the peer reads end of stream.
  absl::Status ShutdownWrite();

  // Closes now (idempotent); see Fd::Close.
  absl::Status Close() { return fd_.Close(); }

 private:
  Fd fd_;
};

// A connected pair of AF_UNIX stream sockets (Python's socket.socketpair()).
absl::StatusOr<std::pair<Socket, Socket>> SocketPair();

// A TCP socket bound to host:port (IPv4 dotted quad; port 0 picks a free
// port, see LocalPort) and listening, with SO_REUSEADDR.
absl::StatusOr<Socket> ListenTcp(absl::string_view host = "127.0.0.1",
                                 int port = 0, int backlog = 128);

// A blocking TCP connection to host:port (IPv4 dotted quad).
absl::StatusOr<Socket> ConnectTcp(absl::string_view host, int port);

// EAGAIN from `call`, marked so that IsWouldBlock recognises it.
absl::Status WouldBlockError(absl::string_view call);
// True for WouldBlockError results.
bool IsWouldBlock(const absl::Status& status);

}  // namespace spindle::io

#endif  // SPINDLE_IO_SOCKET_H_
