// Copyright 2026 The spindle Authors.

#include "spindle/io/internal/poller.h"

#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdint>

#include "absl/status/status.h"
#include "spindle/concurrency/status.h"

namespace spindle::io::internal {

int64_t MonotonicNanos() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

Deadline::Deadline(std::optional<absl::Duration> timeout) {
  if (!timeout.has_value() || *timeout == absl::InfiniteDuration()) {
    infinite_ = true;
    return;
  }
  const int64_t now = MonotonicNanos();
  if (*timeout <= absl::ZeroDuration()) {
    deadline_ns_ = now;
    return;
  }
  const int64_t ns = absl::ToInt64Nanoseconds(*timeout);
  // Saturate: a timeout of centuries is as good as forever.
  deadline_ns_ = ns > INT64_MAX - now ? INT64_MAX : now + ns;
}

bool Deadline::Expired() const {
  return !infinite_ && MonotonicNanos() >= deadline_ns_;
}

absl::Duration Deadline::Remaining() const {
  if (infinite_) return absl::InfiniteDuration();
  const int64_t left = deadline_ns_ - MonotonicNanos();
  return left <= 0 ? absl::ZeroDuration() : absl::Nanoseconds(left);
}

int Deadline::RemainingMillis() const {
  if (infinite_) return -1;
  const int64_t left = deadline_ns_ - MonotonicNanos();
  if (left <= 0) return 0;
  const int64_t ms = (left + 999999) / 1000000;  // round up
  return ms > INT_MAX ? INT_MAX : static_cast<int>(ms);
}

namespace {

// The status Signal() returns once closed. Made once, by the first Open(), so
// that Signal() - which may run in a signal handler - only copies it: a copy
// of a Status is an atomic increment of its reference count, and this one's
// count never drops to zero, so no copy ever frees it.
const absl::Status& ClosedStatus() {
  static const absl::Status* const closed =
      new absl::Status(ShutDownError("selector is closed"));
  return *closed;
}

}  // namespace

WakeupFd::~WakeupFd() {
  if (fd_ >= 0) close(fd_);
}

absl::Status WakeupFd::Open() {
  (void)ClosedStatus();  // Made here, never in Signal().
  fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd_ < 0) return ErrnoError(errno, "eventfd");
  return absl::OkStatus();
}

absl::Status WakeupFd::Signal() {
  // Async-signal-safe: no lock, no allocation, errno left as it was.
  if (closed_.load(std::memory_order_acquire) || fd_ < 0) {
    return ClosedStatus();
  }
  const int saved_errno = errno;
  const uint64_t one = 1;
  ssize_t n;
  do {
    n = write(fd_, &one, sizeof(one));
  } while (n < 0 && errno == EINTR);
  // EAGAIN: the counter is saturated, so a wake-up is pending anyway.
  const int err = n < 0 && errno != EAGAIN ? errno : 0;
  errno = saved_errno;
  // Cannot happen while fd_ is open (EBADF, EINVAL); the code alone, since a
  // Status with a message would allocate.
  if (err != 0) return absl::Status(absl::ErrnoToStatusCode(err), "");
  return absl::OkStatus();
}

void WakeupFd::Drain() {
  uint64_t value;
  // One read resets an eventfd's counter; EAGAIN means nothing was pending.
  while (read(fd_, &value, sizeof(value)) < 0 && errno == EINTR) {
  }
}

}  // namespace spindle::io::internal
