// Copyright 2026 The spindle Authors.
//
// -----------------------------------------------------------------------------
// File: event_loop.h
// -----------------------------------------------------------------------------
//
// An event loop in the spirit of Python's `asyncio` loop (its callback layer,
// without coroutines), built on spindle's selectors: one thread runs the
// loop, which waits on a selector and calls the callbacks that became due.
//
//   Python (asyncio.AbstractEventLoop)     spindle::io::EventLoop
//   -------------------------------------  ----------------------------------
//   loop.add_reader(fd, cb)                loop->AddReader(fd, cb)
//   loop.remove_reader(fd) -> bool         loop->RemoveReader(fd) -> bool
//   loop.add_writer / remove_writer        AddWriter / RemoveWriter
//   loop.call_soon(cb) -> Handle           loop->CallSoon(cb) -> Handle
//   loop.call_later(delay, cb)             loop->CallLater(d, cb)
//   loop.call_at(when, cb)                 loop->CallAt(t, cb)
//   handle.cancel(), cancelled(), when()   Cancel(), cancelled(), when()
//   loop.call_soon_threadsafe(cb)          loop->CallSoonThreadsafe(cb)
//   loop.run_forever()                     loop->RunForever()
//   loop.run_until_complete(fut)           loop->RunUntil(fut)
//   loop.stop()                            loop->Stop()  (any thread)
//   loop.run_in_executor(pool, fn)         loop->RunInExecutor(pool, fn)
//   loop.add_signal_handler(sig, cb)       loop->AddSignalHandler(sig, cb)
//   loop.remove_signal_handler(sig)        loop->RemoveSignalHandler(sig)
//   loop.time()  (monotonic)               loop->Time()  (MonotonicTime)
//   loop.is_running(), close()             IsRunning(), Close()
//
// One iteration of the loop ("RunOnce"):
//   1. waits in the selector until an fd is ready, the earliest timer is
//      due, a thread calls CallSoonThreadsafe()/Stop(), or a routed signal
//      arrives - without waiting at all when callbacks are already ready;
//   2. calls the reader/writer callbacks of the ready fds;
//   3. moves due timers, threadsafe callbacks and signal callbacks to the
//      ready queue;
//   4. runs the callbacks that were ready when this step began (callbacks
//      scheduled by them run in the next iteration, as in asyncio, so a
//      callback that re-schedules itself cannot starve I/O).
//
// Fd callbacks are level-triggered and are called repeatedly while the fd
// stays ready; they may also be called spuriously (e.g. after a remove and
// re-add within one iteration), so use non-blocking fds and treat EAGAIN as
// "nothing now". A callback may add or remove any callback, its own
// included, and may close fds after removing their callbacks.
//
// Time: the loop's clock is monotonic (CLOCK_MONOTONIC, as asyncio's
// loop.time() and spindle's selectors): Time() returns a MonotonicTime, a
// point on that clock, and CallAt() takes one; CallLater(), and every delay
// in io/ built on the loop (TcpServer's idle, linger, retry and shutdown
// timers), is measured on it. Setting the system clock (settimeofday, an NTP
// step) therefore neither fires timers early nor holds them back. A
// MonotonicTime is not an absl::Time and does not convert to one; to run a
// callback at a wall-clock instant `t`, use CallLater(t - absl::Now()), which
// fixes the delay when it is called. (spindle's concurrency/ waits use
// wall-clock deadlines; see concurrency/condition.h.)
//
// Cancelled timers stay in the timer heap until they reach its top, unless
// they come to outnumber the live ones: once more than half of a heap of over
// 100 entries is cancelled, the next iteration (or CallAt) drops them all in
// one pass, as asyncio does, so mass cancellation costs O(n) once, not a
// stalled iteration popping them one by one.
//
// Errors (see concurrency/status.h): calls on a closed loop ->
// kFailedPrecondition (IsShutDown); a second reader/writer for an fd ->
// kAlreadyExists; an invalid fd -> kInvalidArgument; RunForever while already
// running -> kFailedPrecondition; the selector's kernel errors are returned
// by RunForever/RunUntil (the loop stops).
//
// An exception escaping a callback is not caught: the loop is a C++ object
// and lets it propagate out of RunForever (the loop stays usable). Callbacks
// that must not fail the loop should catch their own exceptions.
//
// Thread safety: an EventLoop is thread-compatible and belongs to the thread
// that runs it: every member function must be called from the loop's thread
// (or while no thread runs the loop), except CallSoonThreadsafe(), Stop(),
// IsRunning(), InLoopThread() and Time(), which any thread may call while the
// loop exists. Happens-before: everything a thread did before
// CallSoonThreadsafe(cb) happens-before cb runs; RunInExecutor's task body
// happens-before the returned future's completion, which happens on the loop
// thread.
//
// fork(): a child forked while loops route signals (by any thread) starts
// with no signal routed: the dispositions in place before AddSignalHandler
// are restored in the child, pending signals are forgotten, and nothing in
// the child can wake the parent's loops (whose eventfds the child's copies
// share). The child's copies of the parent's loops must not run (their
// selectors' kernel objects are shared with the parent); destroying them is
// fine. Loops created in the child route signals as usual. (CPython's asyncio
// likewise detaches its wake-up fd in the child; it leaves its handlers in
// place, where spindle gives the child back the dispositions it replaced.)
//
// Many cores: an EventLoop uses one thread. Run N loops in N threads, each
// with its own TcpServer accepting on the same port with SO_REUSEPORT
// (TcpServer::Options::reuse_port), so the kernel spreads connections.

#ifndef SPINDLE_IO_EVENT_LOOP_H_
#define SPINDLE_IO_EVENT_LOOP_H_

#include <signal.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "spindle/concurrency/future.h"
#include "spindle/concurrency/status.h"
#include "spindle/concurrency/thread_pool.h"
#include "spindle/io/selectors.h"

namespace spindle::io {

class EventLoop;

// MonotonicTime
//
// A point on the event loop's clock, CLOCK_MONOTONIC: it never jumps when the
// system clock is set, and counts from an unspecified origin (on Linux, boot),
// so it is only meaningful relative to other MonotonicTimes of this machine.
// Arithmetic is with absl::Duration and saturates like it:
// `MonotonicTime::Now() + absl::InfiniteDuration()` is InfiniteFuture().
// A value type; thread-safe as an int.
class MonotonicTime {
 public:
  // The clock's origin.
  constexpr MonotonicTime() = default;

  // clock_gettime(CLOCK_MONOTONIC). Thread-safe and async-signal-safe.
  static MonotonicTime Now();
  static constexpr MonotonicTime InfinitePast() {
    return MonotonicTime(-absl::InfiniteDuration());
  }
  static constexpr MonotonicTime InfiniteFuture() {
    return MonotonicTime(absl::InfiniteDuration());
  }
  // The point `since_origin` after the origin, e.g. from a CLOCK_MONOTONIC
  // timespec (absl::DurationFromTimespec).
  static constexpr MonotonicTime FromOrigin(absl::Duration since_origin) {
    return MonotonicTime(since_origin);
  }
  // The time since the origin (what asyncio's loop.time() returns, in
  // seconds): for logs and for comparing with other CLOCK_MONOTONIC readings.
  constexpr absl::Duration since_origin() const { return d_; }

  MonotonicTime& operator+=(absl::Duration d) {
    d_ += d;
    return *this;
  }
  MonotonicTime& operator-=(absl::Duration d) {
    d_ -= d;
    return *this;
  }
  friend MonotonicTime operator+(MonotonicTime t, absl::Duration d) {
    return t += d;
  }
  friend MonotonicTime operator+(absl::Duration d, MonotonicTime t) {
    return t += d;
  }
  friend MonotonicTime operator-(MonotonicTime t, absl::Duration d) {
    return t -= d;
  }
  friend absl::Duration operator-(MonotonicTime a, MonotonicTime b) {
    return a.d_ - b.d_;
  }
  friend constexpr bool operator==(MonotonicTime a, MonotonicTime b) {
    return a.d_ == b.d_;
  }
  friend constexpr bool operator!=(MonotonicTime a, MonotonicTime b) {
    return a.d_ != b.d_;
  }
  friend constexpr bool operator<(MonotonicTime a, MonotonicTime b) {
    return a.d_ < b.d_;
  }
  friend constexpr bool operator<=(MonotonicTime a, MonotonicTime b) {
    return a.d_ <= b.d_;
  }
  friend constexpr bool operator>(MonotonicTime a, MonotonicTime b) {
    return a.d_ > b.d_;
  }
  friend constexpr bool operator>=(MonotonicTime a, MonotonicTime b) {
    return a.d_ >= b.d_;
  }

 private:
  explicit constexpr MonotonicTime(absl::Duration d) : d_(d) {}
  absl::Duration d_;
};

namespace internal {
struct HandleState {
  explicit HandleState(absl::AnyInvocable<void()> f, MonotonicTime w)
      : fn(std::move(f)), when(w) {}
  absl::AnyInvocable<void()> fn;
  MonotonicTime when;
  std::atomic<bool> cancelled{false};
  bool running = false;  // Loop thread only.
  // While the handle is in its loop's timer heap: the loop's count of
  // cancelled timers in the heap, which Cancel() increments. Loop thread only.
  size_t* cancelled_timers = nullptr;
};
struct FdEntry;

// A thread-safe weak reference to a loop: posts callbacks to it while it is
// open, refuses once it is destroyed. Held by futures' done callbacks.
class LoopRef {
 public:
  explicit LoopRef(EventLoop* loop) : loop_(loop) {}
  // Moves `cb` to the loop (CallSoonThreadsafe) and returns true, or leaves
  // it alone and returns false when the loop is closed or gone.
  bool Post(absl::AnyInvocable<void()>& cb);
  void Reset() {
    absl::MutexLock l(&mu_);
    loop_ = nullptr;
  }

 private:
  absl::Mutex mu_;
  EventLoop* loop_ ABSL_GUARDED_BY(mu_);
};
}  // namespace internal

// Handle
//
// A scheduled callback (Python's Handle / TimerHandle): returned by CallSoon,
// CallLater and CallAt. Copyable; copies refer to the same callback. A
// default-constructed Handle refers to nothing (Cancel is a no-op).
//
// Thread safety: Cancel() must be called on the loop's thread (or while the
// loop is not running), as in asyncio; cancelled() and when() from any
// thread. To cancel from another thread, post it:
// `loop->CallSoonThreadsafe([h] { h.Cancel(); })`.
class Handle {
 public:
  Handle() = default;

  // Prevents the callback from running if it has not run yet and releases it
  // (and what it captured) now, unless it is the callback running at this
  // moment. Idempotent.
  void Cancel() {
    if (state_ == nullptr) return;
    if (!state_->cancelled.exchange(true, std::memory_order_acq_rel) &&
        state_->cancelled_timers != nullptr) {
      ++*state_->cancelled_timers;  // Lets the loop purge its timer heap.
    }
    if (!state_->running) state_->fn = nullptr;
  }
  bool cancelled() const {
    return state_ != nullptr &&
           state_->cancelled.load(std::memory_order_acquire);
  }
  // When a timer is due, on the loop's clock (CallSoon: when it was
  // scheduled); InfinitePast() for a default-constructed Handle.
  MonotonicTime when() const {
    return state_ == nullptr ? MonotonicTime::InfinitePast() : state_->when;
  }
  bool valid() const { return state_ != nullptr; }

 private:
  friend class EventLoop;
  explicit Handle(std::shared_ptr<internal::HandleState> s)
      : state_(std::move(s)) {}
  std::shared_ptr<internal::HandleState> state_;
};

// EventLoop
//
// See the file comment. Create one with Create(); destroy it on the thread
// that ran it, after RunForever returned.
class EventLoop {
 public:
  friend class internal::LoopRef;
  using Callback = absl::AnyInvocable<void()>;

  // Errors: the kernel's, when the selector cannot be made (e.g.
  // kResourceExhausted for EMFILE).
  static absl::StatusOr<std::unique_ptr<EventLoop>> Create();

  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;
  // Close()s the loop. Must not run while RunForever runs on another thread.
  ~EventLoop();

  // --- fd callbacks ---------------------------------------------------------

  // Calls `cb` on the loop thread whenever `fd` is readable (or has hung up
  // or failed), until RemoveReader(fd). The loop does not own `fd`: remove
  // the callbacks before closing it. Errors: kAlreadyExists when `fd`
  // already has a reader; kInvalidArgument for a closed/negative fd;
  // kFailedPrecondition when the loop is closed.
  absl::Status AddReader(int fd, Callback cb);
  // Stops watching `fd` for reading; false when it had no reader. The
  // callback is destroyed after the current callback returns (so a callback
  // may remove itself).
  bool RemoveReader(int fd);
  // As AddReader/RemoveReader, for writability.
  absl::Status AddWriter(int fd, Callback cb);
  bool RemoveWriter(int fd);
  bool HasReader(int fd) const;
  bool HasWriter(int fd) const;

  // --- callbacks and timers ------------------------------------------------

  // Runs `cb` on the loop thread at the next iteration, in FIFO order with
  // other CallSoon callbacks. Loop thread only. On a closed loop nothing is
  // scheduled (the returned handle's callback never runs).
  Handle CallSoon(Callback cb);
  // Runs `cb` once `delay` has passed on the loop's monotonic clock (a
  // non-positive delay: at the next iteration; InfiniteDuration: never,
  // until cancelled). Timers due at the same instant run in scheduling
  // order. Loop thread only.
  Handle CallLater(absl::Duration delay, Callback cb);
  // Runs `cb` once Time() reaches `when` (a past time: at the next
  // iteration). `when` is on the loop's monotonic clock, e.g.
  // `loop->Time() + absl::Seconds(5)`. Loop thread only.
  Handle CallAt(MonotonicTime when, Callback cb);

  // The thread-safe CallSoon: schedules `cb` for the loop's next iteration
  // and wakes the loop if it is blocked in its selector. May be called from
  // any thread, including from callbacks. Calls from one thread run in the
  // order they were made. Errors: kFailedPrecondition when the loop is
  // closed (`cb` is then destroyed, not run).
  absl::Status CallSoonThreadsafe(Callback cb);

  // --- running -------------------------------------------------------------

  // Runs iterations until Stop() is called; returns OK then. Blocks the
  // calling thread, which becomes the loop thread. Wakes for: ready fds, due
  // timers, CallSoonThreadsafe, Stop, routed signals.
  // Errors: kFailedPrecondition if the loop is closed or already running;
  // the selector's error if waiting fails (the loop stops).
  absl::Status RunForever();

  // Runs iterations until `future` is done (in any way: value, exception,
  // error, cancellation); returns OK then. Use future.Result() for the
  // outcome. Errors: as RunForever; kAborted (IsBroken) when Stop() ended
  // the run before the future was done ("event loop stopped before future
  // completed", as asyncio).
  template <typename T>
  absl::Status RunUntil(const Future<T>& future) {
    if (!future.valid()) return absl::InvalidArgumentError("invalid future");
    if (!future.done()) {
      // Completion on another thread wakes the loop to re-check the future.
      future.AddDoneCallback([ref = ref_] {
        Callback noop = [] {};
        ref->Post(noop);
      });
    }
    return Run(&future);
  }

  // Asks the loop to stop: RunForever returns after the iteration in
  // progress (callbacks already ready still run). When the loop is not
  // running, the next RunForever runs one iteration and returns (asyncio's
  // behaviour). Thread-safe.
  void Stop();

  // True while RunForever/RunUntil runs. Thread-safe.
  bool IsRunning() const { return running_.load(std::memory_order_acquire); }
  // True on the thread running the loop. Thread-safe.
  bool InLoopThread() const;
  // The loop's clock, CLOCK_MONOTONIC (asyncio's loop.time()); timers compare
  // against it. Unaffected by changes to the system (wall) clock.
  // Thread-safe.
  MonotonicTime Time() const { return MonotonicTime::Now(); }
  // Time(), read at most once per iteration of the loop: the first call
  // while the loop runs its callbacks reads the clock and later calls in the
  // same iteration return that reading, so it may lag Time() by the work the
  // iteration has done since. For bookkeeping that needs no finer clock
  // (idle timeouts) on paths that run per connection or per request. Outside
  // an iteration (the loop not running, or between its waits) it is Time().
  // Loop thread only.
  MonotonicTime IterationTime();

  // Unregisters every fd callback, drops every pending callback and timer,
  // removes signal handlers and closes the selector. Idempotent. Must not be
  // called while the loop runs (kFailedPrecondition). Later calls fail with
  // kFailedPrecondition (IsShutDown).
  absl::Status Close();
  bool IsClosed() const { return closed_.load(std::memory_order_acquire); }

  // --- executors -----------------------------------------------------------

  // Runs `fn()` on `executor` and returns a Future that completes *on this
  // loop's thread* with fn's outcome (value, exception, error, or
  // cancellation), so its done callbacks may touch loop-owned state. The
  // returned future's callbacks run during an iteration of the loop. If the
  // loop is closed or destroyed before the task finishes, the future
  // completes on the worker thread instead; if the loop is closed after the
  // outcome was queued to it but before an iteration delivered it, the
  // future completes with IsBroken ("promise abandoned") - never hangs.
  // `executor` must outlive the task.
  // The result type must be copy-constructible (or void).
  // Loop thread or any thread.
  template <typename F>
  auto RunInExecutor(ThreadPoolExecutor& executor, F fn)
      -> Future<std::invoke_result_t<std::decay_t<F>>>;

  // --- signals -------------------------------------------------------------

  // Routes `signo` (e.g. SIGINT, SIGTERM) to `cb`, run on the loop thread in
  // the iteration after the signal arrives (signals of one kind that arrive
  // before then are coalesced). Implemented with an async-signal-safe
  // handler that sets a flag and wakes the selector (the self-pipe
  // technique; the selector's eventfd is the pipe), so it works whatever
  // thread the kernel delivers the signal to. A signal can be routed to one
  // loop at a time; replaces this loop's earlier callback for `signo`.
  // Errors: kInvalidArgument for SIGKILL/SIGSTOP or an invalid number;
  // kAlreadyExists when another loop routes `signo`; kFailedPrecondition when
  // closed; the kernel's if sigaction fails. Loop thread only; other loops'
  // threads may add and remove their own signals at the same time.
  absl::Status AddSignalHandler(int signo, Callback cb);
  // Restores the disposition that was in place before AddSignalHandler,
  // then waits until no thread is still inside the loop's OS-level handler
  // for `signo` (one that started before the restore on another thread; it
  // only sets a flag and wakes the selector, so the wait is short and never
  // blocks on a lock), so the loop may be destroyed as soon as this returns.
  // A signal pending but not yet dispatched is dropped. Close() and the
  // destructor do this for every signal the loop routes. Returns false if
  // `signo` was not routed here. Loop thread only.
  bool RemoveSignalHandler(int signo);

  // Number of fds with callbacks, timers (including cancelled ones not yet
  // purged), cancelled timers still in the heap, and ready callbacks; for
  // tests and monitoring. Loop thread.
  size_t num_fds() const { return fds_.size(); }
  size_t num_timers() const { return timers_.size(); }
  size_t num_cancelled_timers() const { return cancelled_timers_; }
  size_t num_ready() const { return ready_.size(); }

 private:
  using HandlePtr = std::shared_ptr<internal::HandleState>;
  struct TimerOrder {
    bool operator()(const std::pair<uint64_t, HandlePtr>& a,
                    const std::pair<uint64_t, HandlePtr>& b) const {
      if (a.second->when != b.second->when) {
        return a.second->when > b.second->when;
      }
      return a.first > b.first;
    }
  };

  explicit EventLoop(std::unique_ptr<Selector<internal::FdEntry*>> selector);

  absl::Status AddCallback(int fd, int event, Callback cb);
  bool RemoveCallback(int fd, int event);
  absl::Status RunOnce();
  absl::Status Run(const FutureBase* until);
  void DrainThreadsafe();
  void DispatchSignals();
  // Pops the earliest timer off the heap; fixes the cancelled count.
  HandlePtr PopTimer();
  // Drops every cancelled timer when they are more than half of the heap.
  void MaybePurgeCancelledTimers();
  // Moves the callback out unless the loop is closed; for RunInExecutor.
  bool TryCallSoonThreadsafe(Callback& cb);

  std::unique_ptr<Selector<internal::FdEntry*>> selector_;
  std::shared_ptr<internal::LoopRef> ref_;
  absl::flat_hash_map<int, std::unique_ptr<internal::FdEntry>> fds_;
  // Fd entries and callbacks removed during dispatch; freed after it.
  std::vector<std::unique_ptr<internal::FdEntry>> retired_fds_;
  std::vector<std::unique_ptr<Callback>> retired_callbacks_;

  std::deque<HandlePtr> ready_;
  std::vector<std::pair<uint64_t, HandlePtr>> timers_;  // Heap (TimerOrder).
  uint64_t timer_seq_ = 0;
  // Cancelled handles in timers_ (HandleState::cancelled_timers points here).
  size_t cancelled_timers_ = 0;

  absl::Mutex mu_;
  std::vector<Callback> threadsafe_ ABSL_GUARDED_BY(mu_);
  bool mu_closed_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<bool> has_threadsafe_{false};
  // True while the loop thread is in (or about to enter) a Select that may
  // block. CallSoonThreadsafe writes the selector's wake-up only then: a
  // loop that is running will look at `has_threadsafe_` before it next
  // blocks (both sides use seq_cst: the store of one, then the load of the
  // other, so at least one of them sees the other's store).
  std::atomic<bool> polling_{false};
  // IterationTime(): whether RunOnce is running callbacks, and the clock
  // reading of this iteration (InfinitePast: not read yet). Loop thread.
  bool in_iteration_ = false;
  MonotonicTime iteration_time_ = MonotonicTime::InfinitePast();

  absl::flat_hash_map<int, Callback> signal_callbacks_;

  std::atomic<bool> stop_requested_{false};
  std::atomic<bool> running_{false};
  std::atomic<bool> closed_{false};
  std::atomic<std::thread::id> loop_thread_{};
};

// ---------------------------------------------------------------------------
// Implementation details.

namespace internal {
// Copies `in`'s outcome (done) into `promise`, or cancels promise's future.
template <typename R>
void TransferOutcome(const Future<R>& in, Promise<R>& promise) {
  if (in.cancelled()) {
    promise.future().Cancel();
    return;
  }
  absl::StatusOr<std::exception_ptr> e = in.Exception();
  if (!e.ok()) {
    promise.SetError(e.status()).IgnoreError();
    return;
  }
  if (*e != nullptr) {
    promise.SetException(*e).IgnoreError();
    return;
  }
  if constexpr (std::is_void_v<R>) {
    promise.SetValue().IgnoreError();
  } else {
    absl::StatusOr<R> v = in.Result();
    if (v.ok()) {
      promise.SetValue(*std::move(v)).IgnoreError();
    } else {
      promise.SetError(v.status()).IgnoreError();
    }
  }
}
}  // namespace internal

template <typename F>
auto EventLoop::RunInExecutor(ThreadPoolExecutor& executor, F fn)
    -> Future<std::invoke_result_t<std::decay_t<F>>> {
  using R = std::invoke_result_t<std::decay_t<F>>;
  Promise<R> promise;
  Future<R> out = promise.future();
  Future<R> in = executor.Submit(std::move(fn));
  in.AddDoneCallback([ref = ref_, promise = std::move(promise)](
                         const Future<R>& done) mutable {
    Callback deliver = [done, promise = std::move(promise)]() mutable {
      internal::TransferOutcome(done, promise);
    };
    // Loop closed: complete here rather than abandon the future.
    if (!ref->Post(deliver)) deliver();
  });
  return out;
}

}  // namespace spindle::io

#endif  // SPINDLE_IO_EVENT_LOOP_H_
