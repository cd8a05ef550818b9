// Copyright 2026 The spindle Authors.

#include "spindle/concurrency/lock.h"

#include "absl/base/internal/raw_logging.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "spindle/concurrency/internal/lock_order.h"

namespace spindle {

// The public calls lock and unlock `*this` only in the thread-safety
// analysis' model; their bodies work on `mu_`, so the analysis is off here.

void Lock::Acquire() ABSL_NO_THREAD_SAFETY_ANALYSIS {
  AcquireUntil(absl::InfiniteFuture());
}

bool Lock::TryAcquire() ABSL_NO_THREAD_SAFETY_ANALYSIS {
  return AcquireUntil(absl::InfinitePast());
}

bool Lock::AcquireFor(absl::Duration timeout) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  return AcquireUntil(timeout == absl::InfiniteDuration()
                          ? absl::InfiniteFuture()
                          : absl::Now() + timeout);
}

bool Lock::AcquireUntil(absl::Time deadline) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  const bool entered = order_.Enter();
  // With a past deadline LockWhenWithDeadline evaluates the condition once
  // and does not block.
  const bool acquired =
      mu_.LockWhenWithDeadline(absl::Condition(&free_), deadline);
  if (acquired) {
    free_ = false;
    // Under mu_, so that a concurrent Release() (from any thread) sees it.
    order_.Acquired(entered);
  }
  mu_.Unlock();
  if (!acquired && entered) order_.Abandon();
  return acquired;
}

void Lock::Release() ABSL_NO_THREAD_SAFETY_ANALYSIS {
  {
    absl::MutexLock l(&mu_);
    if (free_) {
      ABSL_RAW_LOG(FATAL, "spindle::Lock::Release: release unlocked lock");
    }
    // Before the lock becomes free, so that the next holder's record is
    // not mistaken for ours. Releasing a token adds no edge to the graph.
    order_.Released();
    free_ = true;
  }
}

bool Lock::locked() const {
  absl::MutexLock l(&mu_);
  return !free_;
}

void SetLockOrderDetection(absl::OnDeadlockCycle mode) {
  internal::SetLockOrderDetectionEnabled(mode !=
                                         absl::OnDeadlockCycle::kIgnore);
  absl::SetMutexDeadlockDetectionMode(mode);
}

}  // namespace spindle
