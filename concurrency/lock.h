// Copyright 2026 The spindle Authors.
//
// -----------------------------------------------------------------------------
// File: lock.h
// -----------------------------------------------------------------------------
//
// `spindle::Lock` is Python's `threading.Lock`: a non-recursive mutual
// exclusion lock with no owner, plus the switch that puts spindle's locks
// into Abseil's lock-order (deadlock) detector.
//
//   Python                              spindle
//   ----------------------------------  --------------------------------------
//   lock.acquire()                      lock.Acquire()
//   lock.acquire(blocking=False)        lock.TryAcquire()
//   lock.acquire(timeout=t)             lock.AcquireFor(d) / AcquireUntil(t)
//   lock.release()                      lock.Release()
//   lock.locked()                       lock.locked()
//   with lock: ...                      LockGuard l(&lock);  (checked by
//                                       -Wthread-safety), or std::scoped_lock
//
// Errors. Releasing a `Lock` that is not locked is a programming error that
// Python reports with RuntimeError; spindle reports it with a checked crash
// (a FATAL message naming the call), never undefined behaviour. Timed
// acquires report a timeout by returning false.
//
// Time. A zero, negative or past timeout means "do not block" (unlike
// Python, which rejects negative timeouts other than -1);
// `absl::InfiniteDuration()` means "wait forever". Every timeout is
// honoured, however large.
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

#ifndef SPINDLE_CONCURRENCY_LOCK_H_
#define SPINDLE_CONCURRENCY_LOCK_H_

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "spindle/concurrency/internal/lock_order.h"

namespace spindle {

// Lock
//
// A mutual exclusion lock with Python's semantics: it is either locked or
// unlocked and has no owner, so any thread may release it (a thread can
// acquire it and hand the release to another thread, as with a binary
// semaphore). It is not recursive: a second `Acquire()` by the thread that
// holds it blocks until some thread calls `Release()`. Destroying a `Lock`
// while it is held is allowed.
//
// `Lock` is `ABSL_LOCKABLE` and its calls carry Abseil's thread-safety
// annotations, so clang's `-Wthread-safety` checks code that guards data
// with `ABSL_GUARDED_BY(lock)`. The lower-case `lock()`, `unlock()` and
// `try_lock()` make it a standard *Lockable*, usable with `std::scoped_lock`
// and `std::unique_lock`.
//
// Blocking. `Acquire()` waits until the lock is unlocked and takes it; it
// wakes only for that (no spurious returns). `AcquireFor(d)` and
// `AcquireUntil(t)` also wake when the time is up and then return false.
// Waiters are not served in any particular order.
//
// Deadlock detection. After `SetLockOrderDetection(kReport or kAbort)`,
// every `Lock` and `RLock` acquisition is recorded in Abseil's lock-order
// graph, and a thread acquiring locks in an order that contradicts an order
// seen before gets "Potential Mutex deadlock" with both stacks on stderr
// (and, for kAbort, the process aborts) -- *before* it blocks.
//
// Thread safety: all member functions may be called concurrently from any
// thread.
//
// Happens-before: a `Release()` happens-before the `Acquire()` (or the
// successful `TryAcquire()`/`AcquireFor()`) that next takes the lock.
class ABSL_LOCKABLE Lock {
 public:
  Lock() = default;
  Lock(const Lock&) = delete;
  Lock& operator=(const Lock&) = delete;
  ~Lock() = default;

  // Blocks until the lock is unlocked, then locks it.
  void Acquire() ABSL_EXCLUSIVE_LOCK_FUNCTION();

  // Locks the lock if it is unlocked; never blocks. Returns whether it did.
  bool TryAcquire() ABSL_EXCLUSIVE_TRYLOCK_FUNCTION(true);

  // As `Acquire()`, but gives up after `timeout` (a non-positive timeout
  // does not block) and then returns false.
  bool AcquireFor(absl::Duration timeout) ABSL_EXCLUSIVE_TRYLOCK_FUNCTION(true);

  // As `Acquire()`, but gives up at `deadline` (a past deadline does not
  // block) and then returns false.
  bool AcquireUntil(absl::Time deadline) ABSL_EXCLUSIVE_TRYLOCK_FUNCTION(true);

  // Unlocks the lock; one blocked acquirer, if any, may then take it. May be
  // called from any thread. Crashes if the lock is not locked.
  void Release() ABSL_UNLOCK_FUNCTION();

  // Whether the lock is locked (by any thread). A snapshot: it may change
  // as soon as it is returned.
  bool locked() const;

  // Standard Lockable names for `Acquire`, `Release` and `TryAcquire`.
  void lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { Acquire(); }
  void unlock() ABSL_UNLOCK_FUNCTION() { Release(); }
  bool try_lock() ABSL_EXCLUSIVE_TRYLOCK_FUNCTION(true) { return TryAcquire(); }

 private:
  mutable absl::Mutex mu_;
  bool free_ ABSL_GUARDED_BY(mu_) = true;
  internal::LockOrderToken order_;
};

// LockGuard
//
// Holds a `Lock`, `RLock` or `Condition` (anything with `Acquire()` and
// `Release()`) for a scope, like `std::scoped_lock`, but annotated so that
// clang's `-Wthread-safety` knows the lock is held inside the scope:
//
//   spindle::Lock lock;
//   int balance ABSL_GUARDED_BY(lock);
//   ...
//   {
//     spindle::LockGuard l(&lock);
//     ++balance;  // OK: the analysis sees `lock` held.
//   }
//
// Thread safety: a LockGuard is used by the thread that made it.
template <typename L>
class ABSL_SCOPED_LOCKABLE LockGuard {
 public:
  explicit LockGuard(L* lock) ABSL_EXCLUSIVE_LOCK_FUNCTION(lock) : lock_(lock) {
    lock_->Acquire();
  }
  LockGuard(const LockGuard&) = delete;
  LockGuard& operator=(const LockGuard&) = delete;
  ~LockGuard() ABSL_UNLOCK_FUNCTION() { lock_->Release(); }

 private:
  L* const lock_;
};

// SetLockOrderDetection()
//
// Puts spindle's `Lock` and `RLock` into Abseil's lock-order graph and sets
// Abseil's deadlock detection mode (`absl::SetMutexDeadlockDetectionMode`,
// which also governs every `absl::Mutex` in the process):
//
//   absl::OnDeadlockCycle::kIgnore  spindle locks stay out of the graph (the
//                                   default) and Abseil stops tracking.
//   absl::OnDeadlockCycle::kReport  a lock-order cycle is printed to stderr
//                                   ("Potential Mutex deadlock", with stacks)
//                                   and the program goes on.
//   absl::OnDeadlockCycle::kAbort   the same report, then the process aborts.
//
// The graph records an edge A->B whenever a thread acquires B while it holds
// A, and reports an acquisition that closes a cycle, so two code paths that
// take the same locks in opposite orders are reported the first time the
// second order happens, even if the threads never actually collide.
//
// Abseil keeps this graph only in builds without `NDEBUG` (Bazel's default
// fastbuild and dbg, the sanitizer configs); in `-c opt` builds the call
// has no effect. Off by default because it costs a few global-lock
// operations per acquire and because a `Lock` released by another thread
// (legal in Python) leaves its acquirer "holding" the lock in the graph until
// that thread next uses the lock. Thread-safe; best called early in `main`.
void SetLockOrderDetection(absl::OnDeadlockCycle mode);

}  // namespace spindle

#endif  // SPINDLE_CONCURRENCY_LOCK_H_
