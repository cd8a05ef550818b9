// Copyright 2026 The spindle Authors.
//
// -----------------------------------------------------------------------------
// File: rlock.h
// -----------------------------------------------------------------------------
//
// `spindle::RLock` is Python's `threading.RLock`: a reentrant lock owned by
// the thread that acquired it.
//
// clang-format off
//   Python                              spindle
//   ----------------------------------  --------------------------------------
//   rlock.acquire() / (False) / (t)     Acquire() / TryAcquire() / AcquireFor(d)
//   rlock.release()                     Release()
//   rlock.locked() (3.14)               locked()
//   rlock._is_owned()                   IsOwned()
//   rlock._recursion_count()            recursion_count()
//   with rlock: ...                     std::scoped_lock l(rlock);
// clang-format on
//
// Errors. `Release()` by a thread that does not own the lock (including when
// nobody does) is a programming error that Python reports with RuntimeError;
// spindle reports it with a checked crash (a FATAL message), never undefined
// behaviour.
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

#ifndef SPINDLE_CONCURRENCY_RLOCK_H_
#define SPINDLE_CONCURRENCY_RLOCK_H_

#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "spindle/concurrency/internal/lock_order.h"

namespace spindle {

class Condition;

// RLock
//
// A reentrant lock. The thread that acquires it owns it and may acquire it
// again without blocking; each `Acquire()` needs a matching `Release()`,
// and the lock is free for other threads once the count is back to zero.
// Only the owner may release it. Destroying an `RLock` while it is held is
// allowed.
//
// `RLock` is `ABSL_LOCKABLE` (thread-safety annotations as for `Lock`) and a
// standard *Lockable* (`lock()`, `unlock()`, `try_lock()`). It takes part in
// the lock-order detection switched on by `SetLockOrderDetection()` (see
// lock.h); recursive acquisitions by the owner add nothing to the graph.
//
// Blocking. `Acquire()` returns at once for the owner; any other thread
// waits until the lock is free and then owns it (count 1). It wakes only for
// that. `AcquireFor(d)`/`AcquireUntil(t)` also wake when the time is up and
// then return false. A zero, negative or past timeout does not block.
//
// Thread safety: all member functions may be called concurrently from any
// thread.
//
// Happens-before: the owner's last `Release()` happens-before the
// acquisition that next takes the lock.
class ABSL_LOCKABLE RLock {
 public:
  RLock() = default;
  RLock(const RLock&) = delete;
  RLock& operator=(const RLock&) = delete;
  ~RLock() = default;

  // Takes the lock (or one more level of it, for the owner).
  void Acquire() ABSL_EXCLUSIVE_LOCK_FUNCTION();
  // As `Acquire()` but never blocks; returns whether the lock was taken.
  bool TryAcquire() ABSL_EXCLUSIVE_TRYLOCK_FUNCTION(true);
  // As `Acquire()` but gives up after `timeout` and returns false.
  bool AcquireFor(absl::Duration timeout) ABSL_EXCLUSIVE_TRYLOCK_FUNCTION(true);
  // As `Acquire()` but gives up at `deadline` and returns false.
  bool AcquireUntil(absl::Time deadline) ABSL_EXCLUSIVE_TRYLOCK_FUNCTION(true);

  // Drops one level; the last one frees the lock. Crashes unless the calling
  // thread owns the lock.
  void Release() ABSL_UNLOCK_FUNCTION();

  // Whether any thread holds the lock (Python 3.14's `RLock.locked()`).
  bool locked() const;
  // Whether the calling thread owns the lock (Python's `_is_owned()`).
  bool IsOwned() const;
  // The calling thread's recursion level: how many `Release()` calls would
  // free the lock. 0 when the calling thread does not own it, even if
  // another thread does (Python's `_recursion_count()`).
  int recursion_count() const;

  // Standard Lockable names.
  void lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { Acquire(); }
  void unlock() ABSL_UNLOCK_FUNCTION() { Release(); }
  bool try_lock() ABSL_EXCLUSIVE_TRYLOCK_FUNCTION(true) { return TryAcquire(); }

 private:
  friend class Condition;

  // For `Condition::Wait`: releases every level at once and returns the
  // count (Python's `_release_save`); crashes unless owned.
  int ReleaseSave();
  // Takes the lock back with `count` levels (Python's `_acquire_restore`).
  void AcquireRestore(int count);

  bool IsFree() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return count_ == 0; }
  void ReleaseLevels(int levels, const char* caller);

  mutable absl::Mutex mu_;
  std::thread::id owner_ ABSL_GUARDED_BY(mu_);
  int count_ ABSL_GUARDED_BY(mu_) = 0;
  internal::LockOrderToken order_;
};

}  // namespace spindle

#endif  // SPINDLE_CONCURRENCY_RLOCK_H_
