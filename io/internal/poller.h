// Copyright 2026 The spindle Authors.
//
// -----------------------------------------------------------------------------
// File: internal/poller.h
// -----------------------------------------------------------------------------
//
// PRIVATE to //io. The kernel half of a selector: a `Poller` watches file
// descriptors with one mechanism (epoll, poll or select) and knows nothing of
// keys, file objects or user data; `spindle::io::Selector<Data>` (selectors.h)
// keeps the fd -> key map and drives a Poller. Splitting them this way keeps
// every backend a small non-template .cc file and the bookkeeping in one
// place.
//
// Thread safety: a Poller is not thread-safe, except `Wakeup()`, which may be
// called from any thread (and from a signal handler) at any time before the
// Poller is destroyed, Close() included.

#ifndef SPINDLE_IO_INTERNAL_POLLER_H_
#define SPINDLE_IO_INTERNAL_POLLER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

namespace spindle::io::internal {

// Same values as spindle::io::kEventRead / kEventWrite.
inline constexpr int kRead = 1;
inline constexpr int kWrite = 2;

// Registration flags; only the epoll backend honours them.
inline constexpr int kFlagEdgeTriggered = 1;
inline constexpr int kFlagOneShot = 2;

// One ready descriptor as the kernel reported it. `events` is already mapped
// to kRead/kWrite (error and hang-up conditions set both) but NOT yet masked
// by the registered events. `token` is the value given to Add(); the selector
// uses it to drop reports that belong to an older registration of the same fd
// number.
struct PollerEvent {
  int fd;
  uint32_t token;
  int events;
};

// One live registration, as handed to Rebuild().
struct Registration {
  int fd;
  int events;
  int flags;
  uint32_t token;
};

// A deadline on the monotonic clock, built from Python's timeout convention:
// nullopt (or an infinite duration) blocks, zero or negative polls.
class Deadline {
 public:
  explicit Deadline(std::optional<absl::Duration> timeout);

  bool infinite() const { return infinite_; }
  // True when a finite deadline has been reached.
  bool Expired() const;
  // Time left, >= 0; only meaningful when !infinite().
  absl::Duration Remaining() const;
  // For epoll_wait/poll: -1 when infinite, 0 when expired, otherwise the time
  // left rounded UP to whole milliseconds (so a short wait never spins) and
  // clamped to INT_MAX.
  int RemainingMillis() const;

 private:
  bool infinite_ = false;
  int64_t deadline_ns_ = 0;  // CLOCK_MONOTONIC
};

// Nanoseconds on CLOCK_MONOTONIC.
int64_t MonotonicNanos();

// The wake-up channel shared by all backends: a non-blocking, close-on-exec
// eventfd. Signal() is thread-safe and async-signal-safe at any time between
// Open() and destruction, Close() included: one atomic load and at most one
// write(2); no lock, and no allocation on any path, errors included (their
// statuses are made without a heap-allocated message, or copied from one
// made by Open()). Close() only marks it closed (Signal() then fails with
// kFailedPrecondition and writes nothing); the fd itself is released by the
// destructor, so a Signal() racing with Close() can never write to a closed,
// or reused, fd number. The other calls belong to the owning thread.
class WakeupFd {
 public:
  WakeupFd() = default;
  WakeupFd(const WakeupFd&) = delete;
  WakeupFd& operator=(const WakeupFd&) = delete;
  ~WakeupFd();

  absl::Status Open();
  // The fd to watch for readability; owner thread only.
  int fd() const { return fd_; }
  // Makes fd() readable until the next Drain(). Thread-safe and
  // async-signal-safe (see above). Errors: kFailedPrecondition once closed
  // (or never opened); the errno's code, without a message, if write(2)
  // fails in any way but EAGAIN (a saturated counter: a wake-up is pending).
  absl::Status Signal();
  // Consumes pending signals; owner thread only.
  void Drain();
  void Close() { closed_.store(true, std::memory_order_release); }

 private:
  int fd_ = -1;  // written once by Open(), before the selector is shared
  std::atomic<bool> closed_{false};
};

class Poller {
 public:
  virtual ~Poller() = default;

  // "epoll", "poll" or "select".
  virtual absl::string_view name() const = 0;

  // Starts watching `fd` (known to be open and not yet watched) for
  // `events` (kRead|kWrite). Nothing is left behind on failure.
  virtual absl::Status Add(int fd, int events, int flags, uint32_t token) = 0;
  // Changes the interest of a watched fd (also re-arms a one-shot one).
  virtual absl::Status Modify(int fd, int events, int flags,
                              uint32_t token) = 0;
  // Stops watching `fd`. Never fails: a kernel refusal because the fd was
  // closed, or its number reused, since Add() is expected and ignored.
  virtual void Remove(int fd) = 0;

  // Waits as `deadline` says for readiness or Wakeup(), retrying EINTR with
  // the time left (PEP 475). Clears `*out` and fills it; never reports the
  // wake-up fd. Returns early, possibly with nothing, after a Wakeup().
  virtual absl::Status Wait(const Deadline& deadline,
                            std::vector<PollerEvent>* out) = 0;

  // Replaces the kernel's interest set with exactly `live` (used after the
  // kernel reported an fd that is no longer, or differently, registered: an
  // epoll interest that outlived its fd number). Backends without kernel
  // state do nothing.
  virtual absl::Status Rebuild(absl::Span<const Registration> live) = 0;

  // Thread-safe and async-signal-safe, also after and concurrently with
  // Close() (then a no-op that returns kFailedPrecondition); see
  // WakeupFd::Signal().
  virtual absl::Status Wakeup() = 0;

  // Releases the kernel objects (the wake-up fd at destruction); idempotent.
  virtual void Close() = 0;

  // The kernel object's fd where there is one (epoll), else -1.
  virtual int fileno() const { return -1; }
};

absl::StatusOr<std::unique_ptr<Poller>> NewEpollPoller();
absl::StatusOr<std::unique_ptr<Poller>> NewPollPoller();
absl::StatusOr<std::unique_ptr<Poller>> NewSelectPoller();

}  // namespace spindle::io::internal

#endif  // SPINDLE_IO_INTERNAL_POLLER_H_
