// Copyright 2026 The spindle Authors.
//
// -----------------------------------------------------------------------------
// File: condition.h
// -----------------------------------------------------------------------------
//
// `spindle::Condition` is Python's `threading.Condition`: a condition
// variable bound to a `Lock` or an `RLock`, with exact, FIFO notification.
//
//   Python                              spindle
//   ----------------------------------  --------------------------------------
//   Condition() / Condition(lock)       Condition() / Condition(&lock)
//   with cond: ...                      std::scoped_lock l(cond);
//   cond.acquire() / release()          cond.Acquire() / cond.Release()
//   cond.wait() / wait(timeout)         cond.Wait() / cond.WaitFor(d)
//   cond.wait_for(pred, timeout)        cond.WaitUntil(pred) / (pred, d)
//   cond.notify(n) / notify_all()       cond.Notify(n) / cond.NotifyAll()
//
// Errors. `Wait*` and `Notify*` without holding the lock are programming
// errors that Python reports with RuntimeError; spindle reports them with a
// checked crash (a FATAL message). "Holding" means, for an `RLock`, owned by
// the calling thread; for a `Lock` (which has no owner), locked.
//
// Timeouts and the system clock. `WaitFor(d)` and `WaitUntil(pred, d)` turn `d`
// into the wall-clock deadline `absl::Now() + d` when they are called
// (`WaitUntilTime(t)` takes one), and Abseil's `Mutex::LockWhenWithDeadline`
// (Abseil 20220623) sleeps until that absolute time on CLOCK_REALTIME (a futex
// wait with FUTEX_CLOCK_REALTIME). If the system clock is stepped during the
// wait (settimeofday, an NTP step; gradual slewing does not matter), the wait
// ends that much early when the clock is set forward, or lasts that much longer
// when it is set back. spindle's io/ event loop and selectors run on
// CLOCK_MONOTONIC instead.

#ifndef SPINDLE_CONCURRENCY_CONDITION_H_
#define SPINDLE_CONCURRENCY_CONDITION_H_

#include <deque>
#include <memory>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "spindle/concurrency/lock.h"
#include "spindle/concurrency/rlock.h"

namespace spindle {

// Condition
//
// Lets threads wait, while holding a lock, until another thread that holds
// the same lock notifies them. `Wait()` releases the lock (every recursion
// level of an `RLock`), sleeps until notified, then takes the lock back
// (restoring the recursion count) before it returns. A default-constructed
// `Condition` uses an `RLock` of its own; otherwise it uses the `Lock` or
// `RLock` it was given, which must outlive it.
//
// The Condition is itself a lockable for its lock (`Acquire`, `Release`,
// `TryAcquire`, `AcquireFor`, and `lock()`/`unlock()`/`try_lock()` for
// `std::scoped_lock`), carrying Abseil's thread-safety annotations.
//
// Notification is exact: each waiter has its own wait handle, and
// `Notify(n)` wakes exactly `min(n, waiters)` of them, oldest first. There
// are no spurious wake-ups: `Wait()` returns only when notified.
//
// Blocking. `Wait()` waits for a notification; `WaitFor(d)` also wakes when
// `d` has passed (returning false; a non-positive `d` does not block but
// still releases and re-takes the lock). In every case the lock is held
// again when the call returns; a woken waiter proceeds only after the
// notifier releases the lock. `WaitUntil(pred[, d])` waits, re-checking
// `pred` under the lock after each notification, until `pred()` is truthy
// or the total time `d` has passed; it returns `pred()`'s last value.
//
// Thread safety: all member functions may be called concurrently from any
// thread (`Wait*` and `Notify*` only while holding the lock).
//
// Happens-before: everything the notifier did before `Notify()`/
// `NotifyAll()` and before releasing the lock happens-before the return of
// each `Wait` it woke.
class ABSL_LOCKABLE Condition {
 public:
  // Uses an RLock owned by the Condition.
  Condition();
  // Uses `*lock`, which must outlive the Condition.
  explicit Condition(Lock* lock);
  explicit Condition(RLock* lock);
  Condition(const Condition&) = delete;
  Condition& operator=(const Condition&) = delete;
  ~Condition();

  // The underlying lock's calls.
  void Acquire() ABSL_EXCLUSIVE_LOCK_FUNCTION();
  bool TryAcquire() ABSL_EXCLUSIVE_TRYLOCK_FUNCTION(true);
  bool AcquireFor(absl::Duration timeout) ABSL_EXCLUSIVE_TRYLOCK_FUNCTION(true);
  void Release() ABSL_UNLOCK_FUNCTION();
  void lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { Acquire(); }
  void unlock() ABSL_UNLOCK_FUNCTION() { Release(); }
  bool try_lock() ABSL_EXCLUSIVE_TRYLOCK_FUNCTION(true) { return TryAcquire(); }

  // Releases the lock, waits until notified, re-takes the lock.
  void Wait();
  // As `Wait()`, but also returns after `timeout`; returns true if notified,
  // false on timeout.
  bool WaitFor(absl::Duration timeout);
  bool WaitUntilTime(absl::Time deadline);

  // Waits until `pred()` is truthy; returns its last value. `pred` runs with
  // the lock held, first before any waiting.
  template <typename Pred>
  auto WaitUntil(Pred pred) -> decltype(pred()) {
    return WaitUntil(std::move(pred), absl::InfiniteDuration());
  }
  // As above, giving up after `timeout` in total (not per wake-up); returns
  // `pred()`'s last value, which is falsy on timeout.
  template <typename Pred>
  auto WaitUntil(Pred pred, absl::Duration timeout) -> decltype(pred()) {
    const absl::Time deadline = timeout == absl::InfiniteDuration()
                                    ? absl::InfiniteFuture()
                                    : absl::Now() + timeout;
    auto result = pred();
    while (!result) {
      if (deadline != absl::InfiniteFuture() && absl::Now() >= deadline) break;
      WaitUntilTime(deadline);
      result = pred();
    }
    return result;
  }

  // Wakes the `n` longest-waiting threads (fewer if fewer wait; `n <= 0`
  // wakes none).
  void Notify(int n = 1);
  // Wakes every waiting thread.
  void NotifyAll();

  // The number of threads waiting for a notification (a snapshot, for tests
  // and diagnostics). May be called without holding the lock.
  int n_waiting() const;

 private:
  struct Waiter {
    bool notified = false;
  };

  void CheckHeld(const char* caller) const;

  std::unique_ptr<RLock> own_;
  Lock* lock_ = nullptr;
  RLock* rlock_ = nullptr;

  mutable absl::Mutex mu_;
  std::deque<Waiter*> waiters_ ABSL_GUARDED_BY(mu_);
};

}  // namespace spindle

#endif  // SPINDLE_CONCURRENCY_CONDITION_H_
