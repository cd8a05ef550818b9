// Copyright 2026 The spindle Authors.

#include "spindle/concurrency/barrier.h"

#include <exception>
#include <functional>
#include <utility>

#include "absl/base/internal/raw_logging.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "spindle/concurrency/status.h"

namespace spindle {

Barrier::Barrier(int parties, std::function<void()> action,
                 absl::Duration timeout)
    : parties_(parties), timeout_(timeout), action_(std::move(action)) {
  if (parties < 1) {
    ABSL_RAW_LOG(FATAL, "spindle::Barrier: parties must be >= 1, got %d",
                 parties);
  }
}

absl::StatusOr<int> Barrier::Wait() { return WaitFor(timeout_); }

absl::StatusOr<int> Barrier::WaitFor(absl::Duration timeout) {
  const absl::Time deadline = timeout == absl::InfiniteDuration()
                                  ? absl::InfiniteFuture()
                                  : absl::Now() + timeout;
  absl::MutexLock l(&mu_);
  // A new arrival waits while the previous cycle drains or resets. That
  // wait is bounded by the other threads leaving, not by our timeout (as in
  // Python).
  mu_.Await(absl::Condition(this, &Barrier::CanEnter));
  if (state_ == State::kBroken) {
    return BrokenError("barrier is broken");
  }
  const int index = count_++;
  if (index + 1 == parties_) {
    // Last to arrive: run the action, then release everyone.
    if (action_) {
      try {
        action_();
      } catch (...) {
        state_ = State::kBroken;
        --count_;
        Exit();
        throw;
      }
    }
    state_ = State::kDraining;
    --count_;
    Exit();
    return index;
  }
  // Wait for the last party, a break, or our deadline.
  if (!mu_.AwaitWithDeadline(absl::Condition(this, &Barrier::NotFilling),
                             deadline)) {
    state_ = State::kBroken;  // Timed out: break it for everyone.
  }
  absl::StatusOr<int> result = index;
  if (state_ == State::kBroken || state_ == State::kResetting) {
    result = BrokenError(state_ == State::kBroken ? "barrier is broken"
                                                  : "barrier was reset");
  }
  --count_;
  Exit();
  return result;
}

void Barrier::Exit() {
  // The last thread to leave a draining or resetting barrier re-opens it.
  if (count_ == 0 &&
      (state_ == State::kDraining || state_ == State::kResetting)) {
    state_ = State::kFilling;
  }
}

void Barrier::Abort() {
  absl::MutexLock l(&mu_);
  state_ = State::kBroken;
}

void Barrier::Reset() {
  absl::MutexLock l(&mu_);
  if (count_ > 0) {
    if (state_ == State::kFilling || state_ == State::kBroken) {
      state_ = State::kResetting;
    }
    // Draining or resetting already: the leavers re-open it.
  } else {
    state_ = State::kFilling;
  }
}

int Barrier::n_waiting() const {
  absl::MutexLock l(&mu_);
  return state_ == State::kFilling ? count_ : 0;
}

bool Barrier::broken() const {
  absl::MutexLock l(&mu_);
  return state_ == State::kBroken;
}

}  // namespace spindle
