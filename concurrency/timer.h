// Copyright 2026 The spindle Authors.
//
// -----------------------------------------------------------------------------
// File: timer.h
// -----------------------------------------------------------------------------
//
// `spindle::Timer` is Python's `threading.Timer`: a thread that runs a
// function once, after an interval, unless cancelled first.
//
//   Python                              spindle
//   ----------------------------------  --------------------------------------
//   Timer(interval, f, args)            Timer t(d, f, args...);
//   t.start() / t.cancel()              t.Start() / t.Cancel()
//   t.join() / t.join(timeout)          t.Join() / t.JoinFor(d)
//   t.is_alive(), t.name                t.IsAlive(), t.name()
//
// Errors: as for `Thread` (a second `Start()` returns
// `FailedPreconditionError`; `Join()` before `Start()` crashes). An exception
// thrown by the function goes to the except hook (see thread.h).
//
// Timeouts and the system clock. The interval is waited for with
// `Event::WaitFor`, which turns it into the wall-clock deadline
// `absl::Now() + interval` when the timer's thread starts waiting; `JoinFor(d)`
// uses Abseil's `Mutex::AwaitWithTimeout`, which likewise adds `d` to
// gettimeofday(). Either way Abseil's Mutex (Abseil 20220623) sleeps until that
// absolute time on CLOCK_REALTIME (a futex wait with FUTEX_CLOCK_REALTIME). If
// the system clock is stepped meanwhile (settimeofday, an NTP step; gradual
// slewing does not matter), the timer fires (or the join gives up) that much
// early when the clock is set forward, or that much late when it is set back.
// spindle's io/ event loop and selectors run on CLOCK_MONOTONIC instead.

#ifndef SPINDLE_CONCURRENCY_TIMER_H_
#define SPINDLE_CONCURRENCY_TIMER_H_

#include <concepts>
#include <functional>
#include <string>
#include <type_traits>
#include <utility>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "spindle/concurrency/event.h"
#include "spindle/concurrency/thread.h"

namespace spindle {

// Timer
//
// After `Start()`, a new thread waits for `interval` and then calls
// `fn(args...)` once, unless `Cancel()` was called first. `Cancel()` wakes
// the waiting thread at once, so a cancelled timer's thread ends promptly
// without calling the function; cancelling after the function started, or
// twice, does nothing. The interval starts at `Start()`.
//
// Destruction: a Timer that has not fired yet is cancelled; then the timer's
// thread is joined (a running function is waited for), daemon or not, since
// that thread uses the Timer. `Thread::Options::daemon` only decides whether
// `exit()` waits for a Timer that is never destroyed.
//
// Blocking. `Join()` waits until the timer's thread has finished: the
// function returned, or the timer was cancelled. `JoinFor(d)` also returns
// (false) after `d`.
//
// Thread safety: all member functions may be called concurrently from any
// thread, except construction and destruction.
//
// Happens-before: `Start()` happens-before the function runs; the function's
// return happens-before `Join()` returns. A `Cancel()` that happens-before
// the interval ends prevents the call.
class Timer {
 public:
  template <typename F, typename... Args>
  requires(!std::same_as<std::decay_t<F>, Thread::Options> &&
           std::invocable<std::decay_t<F>, std::decay_t<Args>...>)
      Timer(absl::Duration interval, F&& f, Args&&... args)
      : Timer(Thread::Options(), interval, std::forward<F>(f),
              std::forward<Args>(args)...) {}

  template <typename F, typename... Args>
  requires std::invocable<std::decay_t<F>, std::decay_t<Args>...> Timer(
      Thread::Options options, absl::Duration interval, F&& f, Args&&... args)
      : interval_(interval),
        fn_([f = std::forward<F>(f),
             ... args = std::forward<Args>(args)]() mutable {
          std::invoke(std::move(f), std::move(args)...);
        }),
        thread_(std::move(options), [this] { Run(); }) {}

  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;
  ~Timer();

  // Starts the timer's thread (see `Thread::Start`).
  absl::Status Start() { return thread_.Start(); }
  // Stops the timer if it has not fired yet.
  void Cancel() { cancelled_.Set(); }
  void Join() { thread_.Join(); }
  bool JoinFor(absl::Duration timeout) { return thread_.JoinFor(timeout); }
  bool IsAlive() const { return thread_.IsAlive(); }
  std::string name() const { return thread_.name(); }
  ThreadHandle handle() const { return thread_.handle(); }
  absl::Duration interval() const { return interval_; }

 private:
  void Run();

  const absl::Duration interval_;
  absl::AnyInvocable<void()> fn_;
  Event cancelled_;
  Thread thread_;  // Last: destroyed (joined) first.
};

}  // namespace spindle

#endif  // SPINDLE_CONCURRENCY_TIMER_H_
