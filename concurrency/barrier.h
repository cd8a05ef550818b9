// Copyright 2026 The spindle Authors.
//
// -----------------------------------------------------------------------------
// File: barrier.h
// -----------------------------------------------------------------------------
//
// `spindle::Barrier` is Python's `threading.Barrier`: a cyclic barrier for a
// fixed number of threads, with an optional action and default timeout.
//
// clang-format off
//   Python                              spindle
//   ----------------------------------  --------------------------------------
//   Barrier(parties, action, timeout)   Barrier(parties, action, timeout)
//   b.wait() / b.wait(timeout)          b.Wait() / b.WaitFor(d) -> StatusOr<int>
//   b.abort() / b.reset()               b.Abort() / b.Reset()
//   b.broken, b.parties, b.n_waiting    b.broken(), b.parties(), b.n_waiting()
//   BrokenBarrierError                  kAborted status, IsBroken(status)
// clang-format on
//
// Errors. `Wait` returns `BrokenError` (kAborted, `IsBroken()`) when the
// barrier is or becomes broken while the caller waits: `Abort()`, `Reset()`
// with waiters present, a wait that timed out (which breaks the barrier for
// every party, the timed-out one included, as in Python), or an exception
// thrown by the action. The thread that ran a throwing action gets the
// action's exception rethrown from `Wait` (as Python raises it); every other
// party gets `BrokenError`. `parties < 1` is a programming error (Python's
// ValueError) and a checked crash.
//
// Timeouts and the system clock. `WaitFor(d)` (and `Wait()`, with the barrier's
// default timeout) turns the timeout into the wall-clock deadline
// `absl::Now() + d` when it is called, and Abseil's `Mutex::AwaitWithDeadline`
// (Abseil 20220623) sleeps until that absolute time on CLOCK_REALTIME (a futex
// wait with FUTEX_CLOCK_REALTIME). If the system clock is stepped during the
// wait (settimeofday, an NTP step; gradual slewing does not matter), the wait
// ends that much early when the clock is set forward, or lasts that much longer
// when it is set back. spindle's io/ event loop and selectors run on
// CLOCK_MONOTONIC instead.

#ifndef SPINDLE_CONCURRENCY_BARRIER_H_
#define SPINDLE_CONCURRENCY_BARRIER_H_

#include <functional>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace spindle {

// Barrier
//
// `parties` threads call `Wait()`; each blocks until all of them have
// arrived, then all are released together and `Wait()` returns each a
// distinct index in [0, parties) (the arrival order; the last to arrive gets
// `parties - 1`). Before anyone is released, the last thread to arrive runs
// `action` (if given). The barrier then resets itself for the next cycle;
// threads arriving for the next cycle wait until every thread of the
// current one has left.
//
// Blocking. `Wait()` waits for the other parties for at most the default
// timeout given to the constructor (infinite by default); `WaitFor(d)`
// waits at most `d` instead. A waiter wakes when the cycle completes
// (returns its index), when the barrier is broken by `Abort()`, `Reset()`,
// another party's timeout or a throwing action (returns `BrokenError`), or
// when its own time is up (breaks the barrier, returns `BrokenError`). A
// `Wait` on a broken barrier returns `BrokenError` at once. A zero or
// negative timeout does not block: unless the caller completes the cycle,
// the barrier breaks.
//
// Thread safety: all member functions may be called concurrently from any
// thread.
//
// Happens-before: everything each party did before its `Wait()`, and the
// action, happen-before any party's `Wait()` returns its index.
class Barrier {
 public:
  explicit Barrier(int parties, std::function<void()> action = nullptr,
                   absl::Duration timeout = absl::InfiniteDuration());
  Barrier(const Barrier&) = delete;
  Barrier& operator=(const Barrier&) = delete;
  ~Barrier() = default;

  // Waits for the cycle to complete (at most the default timeout).
  absl::StatusOr<int> Wait();
  // Waits for the cycle to complete, at most `timeout`.
  absl::StatusOr<int> WaitFor(absl::Duration timeout);

  // Breaks the barrier: current and future waiters get `BrokenError` until
  // `Reset()`.
  void Abort();
  // Returns the barrier to its empty state. Threads waiting get
  // `BrokenError`; a broken barrier becomes usable again once they left.
  void Reset();

  int parties() const { return parties_; }
  // Threads currently waiting for this cycle (0 while draining, resetting
  // or broken).
  int n_waiting() const;
  bool broken() const;

 private:
  enum class State { kFilling, kDraining, kResetting, kBroken };

  bool CanEnter() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return state_ != State::kDraining && state_ != State::kResetting;
  }
  bool NotFilling() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return state_ != State::kFilling;
  }
  void Exit() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const int parties_;
  const absl::Duration timeout_;
  std::function<void()> action_;

  mutable absl::Mutex mu_;
  State state_ ABSL_GUARDED_BY(mu_) = State::kFilling;
  int count_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace spindle

#endif  // SPINDLE_CONCURRENCY_BARRIER_H_
