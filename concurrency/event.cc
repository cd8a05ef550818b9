// Copyright 2026 The spindle Authors.

#include "spindle/concurrency/event.h"

#include <cstdint>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace spindle {

void Event::Set() {
  absl::MutexLock l(&mu_);
  if (!flag_) {
    flag_ = true;
    ++sets_;
  }
}

void Event::Clear() {
  absl::MutexLock l(&mu_);
  flag_ = false;
}

bool Event::IsSet() const {
  absl::MutexLock l(&mu_);
  return flag_;
}

bool Event::Wait() { return WaitUntil(absl::InfiniteFuture()); }

bool Event::WaitFor(absl::Duration timeout) {
  return WaitUntil(timeout == absl::InfiniteDuration() ? absl::InfiniteFuture()
                                                       : absl::Now() + timeout);
}

bool Event::WaitUntil(absl::Time deadline) {
  absl::MutexLock l(&mu_);
  if (flag_) return true;
  const uint64_t start = sets_;
  auto woken = [this, start]() {
    mu_.AssertReaderHeld();
    return flag_ || sets_ != start;
  };
  ++n_waiting_;
  const bool woke = mu_.AwaitWithDeadline(absl::Condition(&woken), deadline);
  --n_waiting_;
  return woke;
}

int Event::n_waiting() const {
  absl::MutexLock l(&mu_);
  return n_waiting_;
}

}  // namespace spindle
