// Copyright 2026 The spindle Authors.
//
// -----------------------------------------------------------------------------
// File: semaphore.h
// -----------------------------------------------------------------------------
//
// `spindle::Semaphore` and `spindle::BoundedSemaphore` are Python's
// `threading.Semaphore` and `threading.BoundedSemaphore`: counters of
// permits with no owner.
//
// clang-format off
//   Python                              spindle
//   ----------------------------------  --------------------------------------
//   Semaphore(value=1)                  Semaphore(value = 1)
//   sem.acquire() / (False) / (t)       Acquire() / TryAcquire() / AcquireFor(d)
//   sem.release(n=1)                    Release(n = 1)
//   with sem: ...                       std::scoped_lock l(sem);
//   BoundedSemaphore(value=1)           BoundedSemaphore(value = 1)
// clang-format on
//
// Errors. These are programming errors that Python reports with ValueError;
// spindle reports them with a checked crash (a FATAL message):
//   * a negative initial value;
//   * `Release(n)` with `n < 1`;
//   * `BoundedSemaphore::Release(n)` that would raise the value above the
//     initial value (checked for all `n` at once; the value is unchanged).
//
// Timeouts and the system clock. `AcquireFor(d)` turns `d` into the wall-clock
// deadline `absl::Now() + d` when it is called (`AcquireUntil(t)` takes one),
// and Abseil's `Mutex::LockWhenWithDeadline` (Abseil 20220623) sleeps until
// that absolute time on CLOCK_REALTIME (a futex wait with
// FUTEX_CLOCK_REALTIME). If the system clock is stepped during the wait
// (settimeofday, an NTP step; gradual slewing does not matter), the wait ends
// that much early when the clock is set forward, or lasts that much longer when
// it is set back. spindle's io/ event loop and selectors run on CLOCK_MONOTONIC
// instead.

#ifndef SPINDLE_CONCURRENCY_SEMAPHORE_H_
#define SPINDLE_CONCURRENCY_SEMAPHORE_H_

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace spindle {

// Semaphore
//
// Holds a count of permits. `Acquire()` takes one, waiting while there are
// none; `Release(n)` gives `n` back, which lets exactly `n` waiting
// acquirers through (in no particular order). Any thread may release; an
// unbounded Semaphore may be released past its initial value. Destroying a
// Semaphore with outstanding acquisitions is allowed.
//
// Blocking. `Acquire()` waits until a permit is available and takes it; it
// wakes only for that. `AcquireFor(d)`/`AcquireUntil(t)` also wake when the
// time is up and then return false; a zero, negative or past timeout does
// not block (as Python's `acquire(timeout=0)` and negative timeouts).
//
// `lock()`/`unlock()`/`try_lock()` (one permit) make it usable with
// `std::scoped_lock`; it is deliberately not `ABSL_LOCKABLE`, since it has
// several permits and no owner.
//
// Thread safety: all member functions may be called concurrently from any
// thread.
//
// Happens-before: a `Release()` happens-before every acquisition that takes
// one of the permits it gave.
class Semaphore {
 public:
  explicit Semaphore(int value = 1);
  Semaphore(const Semaphore&) = delete;
  Semaphore& operator=(const Semaphore&) = delete;
  virtual ~Semaphore() = default;

  // Takes a permit, waiting for one.
  void Acquire();
  // Takes a permit if one is available; never blocks.
  bool TryAcquire();
  // As `Acquire()`, giving up (false) after `timeout`.
  bool AcquireFor(absl::Duration timeout);
  // As `Acquire()`, giving up (false) at `deadline`.
  bool AcquireUntil(absl::Time deadline);
  // Gives `n` permits back; crashes if `n < 1`.
  virtual void Release(int n = 1);

  // The number of available permits (a snapshot).
  int value() const;

  void lock() { Acquire(); }
  void unlock() { Release(); }
  bool try_lock() { return TryAcquire(); }

 protected:
  mutable absl::Mutex mu_;
  int value_ ABSL_GUARDED_BY(mu_);

 private:
  bool Available() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return value_ > 0;
  }
};

// BoundedSemaphore
//
// A Semaphore whose value may never exceed its initial value: a `Release`
// that would do so crashes (Python raises ValueError), catching releases
// that have no matching acquire. Same blocking, thread-safety and
// happens-before guarantees as `Semaphore`.
class BoundedSemaphore : public Semaphore {
 public:
  explicit BoundedSemaphore(int value = 1);

  // Gives `n` permits back; crashes if `n < 1` or if the value would exceed
  // `initial_value()` (then the value is unchanged).
  void Release(int n = 1) override;

  int initial_value() const { return initial_value_; }

 private:
  const int initial_value_;
};

}  // namespace spindle

#endif  // SPINDLE_CONCURRENCY_SEMAPHORE_H_
