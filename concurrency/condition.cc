// Copyright 2026 The spindle Authors.

#include "spindle/concurrency/condition.h"

#include <algorithm>
#include <memory>

#include "absl/base/internal/raw_logging.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace spindle {

Condition::Condition() : own_(std::make_unique<RLock>()), rlock_(own_.get()) {}
Condition::Condition(Lock* lock) : lock_(lock) {}
Condition::Condition(RLock* lock) : rlock_(lock) {}
Condition::~Condition() = default;

// The analysis models `*this`; the bodies forward to the underlying lock.

void Condition::Acquire() ABSL_NO_THREAD_SAFETY_ANALYSIS {
  if (lock_ != nullptr) {
    lock_->Acquire();
  } else {
    rlock_->Acquire();
  }
}

bool Condition::TryAcquire() ABSL_NO_THREAD_SAFETY_ANALYSIS {
  return lock_ != nullptr ? lock_->TryAcquire() : rlock_->TryAcquire();
}

bool Condition::AcquireFor(absl::Duration timeout)
    ABSL_NO_THREAD_SAFETY_ANALYSIS {
  return lock_ != nullptr ? lock_->AcquireFor(timeout)
                          : rlock_->AcquireFor(timeout);
}

void Condition::Release() ABSL_NO_THREAD_SAFETY_ANALYSIS {
  if (lock_ != nullptr) {
    lock_->Release();
  } else {
    rlock_->Release();
  }
}

void Condition::CheckHeld(const char* caller) const {
  const bool held = lock_ != nullptr ? lock_->locked() : rlock_->IsOwned();
  if (!held) {
    ABSL_RAW_LOG(FATAL, "spindle::Condition::%s: cannot %s un-acquired lock",
                 caller, caller);
  }
}

void Condition::Wait() { WaitUntilTime(absl::InfiniteFuture()); }

bool Condition::WaitFor(absl::Duration timeout) {
  return WaitUntilTime(timeout == absl::InfiniteDuration()
                           ? absl::InfiniteFuture()
                           : absl::Now() + timeout);
}

bool Condition::WaitUntilTime(absl::Time deadline)
    ABSL_NO_THREAD_SAFETY_ANALYSIS {
  CheckHeld("wait");
  Waiter me;
  {
    absl::MutexLock l(&mu_);
    waiters_.push_back(&me);
  }
  // Release the user's lock completely (all RLock levels).
  int saved = 0;
  if (lock_ != nullptr) {
    lock_->Release();
  } else {
    saved = rlock_->ReleaseSave();
  }
  mu_.LockWhenWithDeadline(absl::Condition(&me.notified), deadline);
  const bool notified = me.notified;
  if (!notified) {
    // Timed out: leave the queue so a later Notify does not count us.
    auto it = std::find(waiters_.begin(), waiters_.end(), &me);
    if (it != waiters_.end()) waiters_.erase(it);
  }
  mu_.Unlock();
  if (lock_ != nullptr) {
    lock_->Acquire();
  } else {
    rlock_->AcquireRestore(saved);
  }
  return notified;
}

void Condition::Notify(int n) {
  CheckHeld("notify");
  absl::MutexLock l(&mu_);
  while (n > 0 && !waiters_.empty()) {
    waiters_.front()->notified = true;
    waiters_.pop_front();
    --n;
  }
}

void Condition::NotifyAll() {
  CheckHeld("notify");
  absl::MutexLock l(&mu_);
  for (Waiter* w : waiters_) w->notified = true;
  waiters_.clear();
}

}  // namespace spindle

namespace spindle {

int Condition::n_waiting() const {
  absl::MutexLock l(&mu_);
  return static_cast<int>(waiters_.size());
}

}  // namespace spindle
