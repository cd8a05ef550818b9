// Copyright 2026 The spindle Authors.

#include "spindle/concurrency/rlock.h"

#include <thread>

#include "absl/base/internal/raw_logging.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace spindle {

// As in lock.cc, the analysis models `*this`; the bodies work on `mu_`.

void RLock::Acquire() ABSL_NO_THREAD_SAFETY_ANALYSIS {
  AcquireUntil(absl::InfiniteFuture());
}

bool RLock::TryAcquire() ABSL_NO_THREAD_SAFETY_ANALYSIS {
  return AcquireUntil(absl::InfinitePast());
}

bool RLock::AcquireFor(absl::Duration timeout) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  return AcquireUntil(timeout == absl::InfiniteDuration()
                          ? absl::InfiniteFuture()
                          : absl::Now() + timeout);
}

bool RLock::AcquireUntil(absl::Time deadline) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  const std::thread::id self = std::this_thread::get_id();
  {
    absl::MutexLock l(&mu_);
    if (count_ > 0 && owner_ == self) {
      ++count_;
      return true;
    }
  }
  // Not the owner: only this thread could make itself the owner, so the
  // answer cannot change before the wait below.
  const bool entered = order_.Enter();
  const bool acquired =
      mu_.LockWhenWithDeadline(absl::Condition(this, &RLock::IsFree), deadline);
  if (acquired) {
    owner_ = self;
    count_ = 1;
    order_.Acquired(entered);
  }
  mu_.Unlock();
  if (!acquired && entered) order_.Abandon();
  return acquired;
}

void RLock::ReleaseLevels(int levels, const char* caller) {
  absl::MutexLock l(&mu_);
  if (count_ == 0 || owner_ != std::this_thread::get_id()) {
    ABSL_RAW_LOG(FATAL, "spindle::RLock::%s: cannot release un-acquired lock",
                 caller);
  }
  if (levels < 0) levels = count_;
  count_ -= levels;
  if (count_ == 0) {
    order_.Released();
    owner_ = std::thread::id();
  }
}

void RLock::Release() ABSL_NO_THREAD_SAFETY_ANALYSIS {
  ReleaseLevels(1, "Release");
}

int RLock::ReleaseSave() ABSL_NO_THREAD_SAFETY_ANALYSIS {
  int count;
  {
    absl::MutexLock l(&mu_);
    count = count_;
  }
  // Only the owner can change count_ from a non-zero value it owns; if we
  // are not the owner, ReleaseLevels crashes.
  ReleaseLevels(-1, "ReleaseSave");
  return count;
}

void RLock::AcquireRestore(int count) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  Acquire();
  absl::MutexLock l(&mu_);
  count_ = count;
}

bool RLock::locked() const {
  absl::MutexLock l(&mu_);
  return count_ > 0;
}

bool RLock::IsOwned() const {
  absl::MutexLock l(&mu_);
  return count_ > 0 && owner_ == std::this_thread::get_id();
}

int RLock::recursion_count() const {
  absl::MutexLock l(&mu_);
  return owner_ == std::this_thread::get_id() ? count_ : 0;
}

}  // namespace spindle
