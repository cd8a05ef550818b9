// Copyright 2026 The spindle Authors.

#include "spindle/concurrency/semaphore.h"

#include "absl/base/internal/raw_logging.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace spindle {

Semaphore::Semaphore(int value) : value_(value) {
  if (value < 0) {
    ABSL_RAW_LOG(
        FATAL, "spindle::Semaphore: initial value must be >= 0, got %d", value);
  }
}

void Semaphore::Acquire() { AcquireUntil(absl::InfiniteFuture()); }

bool Semaphore::TryAcquire() { return AcquireUntil(absl::InfinitePast()); }

bool Semaphore::AcquireFor(absl::Duration timeout) {
  return AcquireUntil(timeout == absl::InfiniteDuration()
                          ? absl::InfiniteFuture()
                          : absl::Now() + timeout);
}

bool Semaphore::AcquireUntil(absl::Time deadline) {
  const bool acquired = mu_.LockWhenWithDeadline(
      absl::Condition(this, &Semaphore::Available), deadline);
  if (acquired) --value_;
  mu_.Unlock();
  return acquired;
}

void Semaphore::Release(int n) {
  if (n < 1) {
    ABSL_RAW_LOG(FATAL, "spindle::Semaphore::Release: n must be >= 1, got %d",
                 n);
  }
  absl::MutexLock l(&mu_);
  value_ += n;
}

int Semaphore::value() const {
  absl::MutexLock l(&mu_);
  return value_;
}

BoundedSemaphore::BoundedSemaphore(int value)
    : Semaphore(value), initial_value_(value) {}

void BoundedSemaphore::Release(int n) {
  if (n < 1) {
    ABSL_RAW_LOG(
        FATAL, "spindle::BoundedSemaphore::Release: n must be >= 1, got %d", n);
  }
  absl::MutexLock l(&mu_);
  if (value_ + n > initial_value_) {
    ABSL_RAW_LOG(FATAL,
                 "spindle::BoundedSemaphore::Release: semaphore released too "
                 "many times (value %d + %d > initial %d)",
                 value_, n, initial_value_);
  }
  value_ += n;
}

}  // namespace spindle
