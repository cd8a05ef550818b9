// Copyright 2026 The spindle Authors.
//
// -----------------------------------------------------------------------------
// File: event.h
// -----------------------------------------------------------------------------
//
// `spindle::Event` is Python's `threading.Event`: a flag that threads can
// wait for.
//
//   Python                              spindle
//   ----------------------------------  --------------------------------------
//   e.set() / e.clear() / e.is_set()    e.Set() / e.Clear() / e.IsSet()
//   e.wait() / e.wait(timeout)          e.Wait() / e.WaitFor(d)
//
// Unlike `absl::Notification`, an Event can be cleared and set again.
// No call here can fail.
//
// Timeouts and the system clock. `WaitFor(d)` turns `d` into the wall-clock
// deadline `absl::Now() + d` when it is called (`WaitUntil(t)` takes one), and
// Abseil's `Mutex::AwaitWithDeadline` (Abseil 20220623) sleeps until that
// absolute time on CLOCK_REALTIME (a futex wait with FUTEX_CLOCK_REALTIME). If
// the system clock is stepped during the wait (settimeofday, an NTP step;
// gradual slewing does not matter), the wait ends that much early when the
// clock is set forward, or lasts that much longer when it is set back.
// spindle's io/ event loop and selectors run on CLOCK_MONOTONIC instead.

#ifndef SPINDLE_CONCURRENCY_EVENT_H_
#define SPINDLE_CONCURRENCY_EVENT_H_

#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace spindle {

// Event
//
// A boolean flag, initially false. `Set()` makes it true and wakes every
// waiter; `Clear()` makes it false again.
//
// Blocking. `Wait()` returns at once if the flag is set, otherwise waits
// until some `Set()` happens and returns true. A waiter woken by a `Set()`
// returns true even if `Clear()` runs before it gets to run (the wake-up is
// never lost; Python's gh-57711). `WaitFor(d)`/`WaitUntil(t)` also wake
// when the time is up and then return the flag (false); a zero, negative or
// past timeout does not block.
//
// Thread safety: all member functions may be called concurrently from any
// thread.
//
// Happens-before: everything a thread did before `Set()` happens-before any
// `Wait*` that returns true because of that `Set()`, and before any
// `IsSet()` that returns true because of it.
class Event {
 public:
  Event() = default;
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  // Sets the flag and wakes all waiters. Setting a set Event does nothing.
  void Set();
  // Clears the flag.
  void Clear();
  // The flag (a snapshot).
  bool IsSet() const;

  // Waits until the flag is set; returns true.
  bool Wait();
  // Waits at most `timeout`; returns true if the flag was set (or a `Set()`
  // woke the caller), false on timeout.
  bool WaitFor(absl::Duration timeout);
  // As `WaitFor`, with a deadline.
  bool WaitUntil(absl::Time deadline);

  // The number of threads blocked in `Wait*` (a snapshot, for tests and
  // diagnostics).
  int n_waiting() const;

 private:
  mutable absl::Mutex mu_;
  bool flag_ ABSL_GUARDED_BY(mu_) = false;
  // Counts Set() calls that changed the flag, so that a waiter can tell that
  // it was woken even if the flag was cleared again before it ran.
  uint64_t sets_ ABSL_GUARDED_BY(mu_) = 0;
  int n_waiting_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace spindle

#endif  // SPINDLE_CONCURRENCY_EVENT_H_
