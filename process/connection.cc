// Copyright 2026 The spindle Authors.

#include "spindle/process/connection.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "spindle/concurrency/status.h"

namespace spindle {
namespace {

// Waits (without timeout) until `fd` is ready for `events`; used only when
// someone made the descriptor non-blocking.
void WaitReady(int fd, short events) {
  struct pollfd pfd = {fd, events, 0};
  while (poll(&pfd, 1, -1) < 0 && errno == EINTR) {
  }
}

// Blocks SIGPIPE in the calling thread for its lifetime; on destruction
// discards the SIGPIPE that this thread's failed write raised, then restores
// the signal mask. If the caller had SIGPIPE blocked already, it does
// nothing at all (the signal stays pending, as the caller arranged).
//
// Two system calls per send (block, restore). No "was it pending before"
// check is needed: with SIGPIPE unblocked in this thread, a pending SIGPIPE
// would already have been delivered; only one sent by someone else in the
// microseconds between the block and the restore could be swallowed.
class ScopedSigpipeBlock {
 public:
  ScopedSigpipeBlock() {
    sigemptyset(&pipe_set_);
    sigaddset(&pipe_set_, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set_, &old_);
    active_ = sigismember(&old_, SIGPIPE) == 0;
  }
  ~ScopedSigpipeBlock() {
    if (!active_) return;
    if (raised_) {
      const struct timespec zero = {0, 0};
      while (sigtimedwait(&pipe_set_, nullptr, &zero) < 0 && errno == EINTR) {
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  void RaisedSigpipe() { raised_ = true; }

 private:
  sigset_t pipe_set_;
  sigset_t old_;
  bool active_ = false;
  bool raised_ = false;
};

}  // namespace

Connection Connection::FromFd(int fd, bool readable, bool writable,
                              bool is_socket, size_t max_message) {
  return Connection(fd, readable, writable, is_socket, max_message);
}

Connection::Connection(Connection&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      readable_(std::exchange(other.readable_, false)),
      writable_(std::exchange(other.writable_, false)),
      is_socket_(other.is_socket_),
      broken_(other.broken_),
      max_message_(other.max_message_) {}

Connection& Connection::operator=(Connection&& other) noexcept {
  if (this != &other) {
    Close();
    fd_ = std::exchange(other.fd_, -1);
    readable_ = std::exchange(other.readable_, false);
    writable_ = std::exchange(other.writable_, false);
    is_socket_ = other.is_socket_;
    broken_ = other.broken_;
    max_message_ = other.max_message_;
  }
  return *this;
}

Connection::~Connection() { Close(); }

void Connection::Close() {
  if (fd_ >= 0) {
    // close() is not retried on EINTR: on Linux the descriptor is gone.
    ::close(fd_);
    fd_ = -1;
  }
}

absl::Status Connection::WriteAll(const char* header, absl::string_view message,
                                  int* error) {
  struct iovec iov[2];
  iov[0].iov_base = const_cast<char*>(header);
  iov[0].iov_len = 4;
  iov[1].iov_base = const_cast<char*>(message.data());
  iov[1].iov_len = message.size();
  struct iovec* cur = iov;
  int count = message.empty() ? 1 : 2;
  while (count > 0) {
    ssize_t n;
    if (is_socket_) {
      struct msghdr msg = {};
      msg.msg_iov = cur;
      msg.msg_iovlen = static_cast<size_t>(count);
      n = ::sendmsg(fd_, &msg, MSG_NOSIGNAL);
    } else {
      n = ::writev(fd_, cur, count);
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        WaitReady(fd_, POLLOUT);
        continue;
      }
      *error = errno;
      return ErrnoError(*error, is_socket_ ? "sendmsg" : "writev");
    }
    size_t done = static_cast<size_t>(n);
    while (count > 0 && done >= cur->iov_len) {
      done -= cur->iov_len;
      ++cur;
      --count;
    }
    if (count > 0) {
      cur->iov_base = static_cast<char*>(cur->iov_base) + done;
      cur->iov_len -= done;
    }
  }
  return absl::OkStatus();
}

absl::Status Connection::SendBytes(absl::string_view message) {
  if (fd_ < 0) return ShutDownError("Connection is closed");
  if (!writable_) return ShutDownError("Connection is read-only");
  if (message.size() > max_message_) {
    return absl::InvalidArgumentError(absl::StrCat(
        "message of ", message.size(),
        " bytes is longer than the connection's limit of ", max_message_));
  }
  const uint32_t len = static_cast<uint32_t>(message.size());
  const char header[4] = {static_cast<char>(len >> 24),
                          static_cast<char>(len >> 16),
                          static_cast<char>(len >> 8), static_cast<char>(len)};
  int error = 0;
  if (is_socket_) return WriteAll(header, message, &error);
  ScopedSigpipeBlock block;
  absl::Status s = WriteAll(header, message, &error);
  if (error == EPIPE) block.RaisedSigpipe();
  return s;
}

absl::Status Connection::ReadExactly(char* buf, size_t n, size_t* got) {
  size_t done = 0;
  while (done < n) {
    ssize_t r = ::read(fd_, buf + done, n - done);
    if (r > 0) {
      done += static_cast<size_t>(r);
      continue;
    }
    if (r == 0) break;  // EOF
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      WaitReady(fd_, POLLIN);
      continue;
    }
    if (errno == ECONNRESET) break;  // the peer closed with unread data
    *got = done;
    return ErrnoError(errno, "read");
  }
  *got = done;
  return absl::OkStatus();
}

absl::StatusOr<std::string> Connection::RecvBytes() {
  if (fd_ < 0) return ShutDownError("Connection is closed");
  if (!readable_) return ShutDownError("Connection is write-only");
  if (broken_) {
    return absl::DataLossError(
        "Connection is out of step after an earlier framing error");
  }
  unsigned char header[4];
  size_t got = 0;
  absl::Status s = ReadExactly(reinterpret_cast<char*>(header), 4, &got);
  if (!s.ok()) return s;
  if (got == 0) return EofError("the peer closed the connection");
  if (got < 4) {
    broken_ = true;
    return absl::DataLossError(absl::StrCat(
        "end of stream inside a message header (", got, " of 4 bytes)"));
  }
  const size_t len = (size_t{header[0]} << 24) | (size_t{header[1]} << 16) |
                     (size_t{header[2]} << 8) | size_t{header[3]};
  if (len > max_message_) {
    broken_ = true;
    return absl::DataLossError(absl::StrCat("the peer announced a message of ",
                                            len, " bytes, over the limit of ",
                                            max_message_));
  }
  // The buffer grows with the bytes that arrive, not with the length the
  // peer announced: four bytes announcing max_message cost no more than
  // the first step (kFirstStep), and memory stays within about twice
  // what was received.
  constexpr size_t kFirstStep = 64 << 10;
  std::string out;
  size_t done = 0;
  while (done < len) {
    const size_t want = std::min(len, std::max(kFirstStep, 2 * done));
    out.resize(want);
    s = ReadExactly(out.data() + done, want - done, &got);
    done += got;
    if (!s.ok()) {
      broken_ = true;
      return s;
    }
    if (done < want) {
      broken_ = true;
      return absl::DataLossError(absl::StrCat(
          "end of stream inside a message (", done, " of ", len, " bytes)"));
    }
  }
  return out;
}

absl::StatusOr<bool> Connection::Poll(absl::Duration timeout) {
  if (fd_ < 0) return ShutDownError("Connection is closed");
  if (!readable_) return ShutDownError("Connection is write-only");
  const bool infinite = timeout == absl::InfiniteDuration();
  const absl::Time deadline =
      infinite ? absl::InfiniteFuture() : absl::Now() + timeout;
  for (;;) {
    struct pollfd pfd = {fd_, POLLIN, 0};
    struct timespec ts;
    struct timespec* tsp = nullptr;
    if (!infinite) {
      absl::Duration left = deadline - absl::Now();
      if (left < absl::ZeroDuration()) left = absl::ZeroDuration();
      ts = absl::ToTimespec(left);
      tsp = &ts;
    }
    int r = ::ppoll(&pfd, 1, tsp, nullptr);
    if (r > 0) return true;  // POLLIN, POLLHUP or POLLERR
    if (r == 0) return false;
    if (errno != EINTR) return ErrnoError(errno, "poll");
  }
}

absl::StatusOr<std::pair<Connection, Connection>> Pipe(bool duplex,
                                                       size_t max_message) {
  if (max_message > Connection::kMaxMaxMessage) {
    return absl::InvalidArgumentError(absl::StrCat("max_message ", max_message,
                                                   " is over the limit of ",
                                                   Connection::kMaxMaxMessage));
  }
  int fds[2];
  if (duplex) {
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
      return ErrnoError(errno, "socketpair");
    }
    return std::make_pair(
        Connection::FromFd(fds[0], true, true, true, max_message),
        Connection::FromFd(fds[1], true, true, true, max_message));
  }
  if (::pipe2(fds, O_CLOEXEC) != 0) return ErrnoError(errno, "pipe2");
  return std::make_pair(
      Connection::FromFd(fds[0], true, false, false, max_message),
      Connection::FromFd(fds[1], false, true, false, max_message));
}

}  // namespace spindle
