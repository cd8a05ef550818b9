// Copyright 2026 The spindle Authors.
//
// -----------------------------------------------------------------------------
// File: future.h
// -----------------------------------------------------------------------------
//
// Python's `concurrent.futures.Future`, `wait` and `as_completed` for C++,
// plus continuations (`Then`) and a `Promise` for code outside a pool.
//
//   Python                              spindle
//   ----------------------------------  --------------------------------------
//   f.result() / f.result(timeout)      f.Result() / f.ResultFor(d)
//   f.exception() / (timeout)           f.Exception() / f.ExceptionFor(d)
//   f.cancel(), cancelled(), running()  f.Cancel(), cancelled(), running()
//   f.done(), add_done_callback(fn)     f.done(), f.AddDoneCallback(fn)
//   f.set_result / set_exception        Promise<T>::SetValue / SetException
//   f.set_running_or_notify_cancel()    Promise<T>::SetRunning()
//   wait(fs, timeout, return_when)      Wait(fs, d, ReturnWhen::k...)
//   as_completed(fs, timeout)           for (auto f : AsCompleted(fs, d))
//
// Error model (the same for every call in this file):
//
//   * What the *task* threw travels as a `std::exception_ptr`: `Result()`
//     rethrows it, `Exception()` returns it. It is never swallowed.
//   * Everything spindle itself reports is an `absl::Status` (see status.h):
//       cancelled            kCancelled          IsCancelled()
//       timed out            kDeadlineExceeded   IsTimeout()
//       pool broken          kAborted            IsBroken()
//       pool shut down       kFailedPrecondition IsShutDown()
//       Promise set twice    kFailedPrecondition (Python's InvalidStateError)
//     `Result()` returns `absl::StatusOr<T>` (`absl::Status` for
//     `Future<void>`), so `f.Result().value()` reads like Python's
//     `f.result()` and throws `absl::BadStatusOrAccess` on an error status.
//     A timeout is reported only by the `...For` calls.
//   * A future can thus finish in one of four ways: a value, a task
//     exception, an error status (a broken or shut-down pool, a Promise
//     finished with `SetError`), or cancelled. `done()` is true for all four.
//
// Futures are cheap, copyable handles to a reference-counted shared state
// (like Python objects): copies refer to the same future, compare equal and
// hash alike. The state lives as long as any handle, Promise or queue entry
// refers to it.
//
// Thread safety: all const and non-const member functions of `Future`,
// `FutureBase` and `Promise` may be called concurrently from any threads on
// handles to the same shared state; a single handle object is thread-
// compatible (do not assign to it while another thread uses it).
//
// Happens-before: everything the producer did before the future became done
// (the task's body, `Promise::SetValue`, `SetException`, `SetError`,
// `Cancel`) happens-before any call that observes it done returns
// (`Result`, `Exception`, `done()` returning true, `Wait`, `AsCompleted`, and
// done callbacks, which run after completion).
//
// Timeouts and the system clock: `ResultFor`, `ExceptionFor`, `Wait(fs, d)`
// and `AsCompleted(fs, d)` turn `d` into the wall-clock deadline
// `absl::Now() + d` when called, and Abseil 20220623's `Mutex` waits sleep
// until that absolute CLOCK_REALTIME time (a futex wait with
// FUTEX_CLOCK_REALTIME): if the system clock is stepped during the wait, it
// ends that much early (clock set forward) or lasts that much longer (set
// back). The `...Until(absl::Time)` forms take a wall-clock deadline.
//
// Cancellation: a future can be cancelled only while pending (not yet
// running). A cancelled future is done; `Wait` and `AsCompleted` treat it as
// done at once. (CPython keeps a cancelled future "not done" for `wait()`
// until its executor notices it, issue #92001; spindle deliberately does
// not, so `Wait` never hangs on a cancelled future.)

#ifndef SPINDLE_CONCURRENCY_FUTURE_H_
#define SPINDLE_CONCURRENCY_FUTURE_H_

#include <algorithm>
#include <cstddef>
#include <exception>
#include <functional>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "spindle/concurrency/internal/future_state.h"
#include "spindle/concurrency/status.h"

namespace spindle {

template <typename T>
class Future;
template <typename T>
class Promise;
class FutureBase;

namespace internal {
// The shared state behind a future (for spindle's own templates).
inline FutureStateBase* StateOf(const FutureBase& f);
}  // namespace internal

// FutureBase
//
// The part of a future that does not depend on its value type: state,
// cancellation, exceptions and waiting. `Wait` and `AsCompleted` accept
// containers of `FutureBase` to mix futures of different `T`. Every
// `Future<T>` converts to a `FutureBase` referring to the same future.
//
// A default-constructed FutureBase is invalid (`valid()` is false); calling
// anything but `valid()`, comparison or assignment on it is a checked crash.
class FutureBase {
 public:
  FutureBase() = default;
  FutureBase(const FutureBase& other) : state_(other.state_) {
    if (state_ != nullptr) state_->Ref();
  }
  FutureBase(FutureBase&& other) noexcept : state_(other.state_) {
    other.state_ = nullptr;
  }
  FutureBase& operator=(FutureBase other) noexcept {
    std::swap(state_, other.state_);
    return *this;
  }
  ~FutureBase() {
    if (state_ != nullptr) state_->Unref();
  }

  bool valid() const { return state_ != nullptr; }

  // State predicates; none of them blocks.
  // `done()`: finished (any way) or cancelled.
  bool done() const { return checked()->done(); }
  // `cancelled()`: cancelled (by Cancel() or a pool's
  // Shutdown(cancel_futures=true)).
  bool cancelled() const { return checked()->cancelled(); }
  // `running()`: started (a worker or a Promise called SetRunning) and not
  // yet done.
  bool running() const { return checked()->running(); }

  // Cancels the future if it is still pending: returns true and the future
  // becomes done and cancelled (callbacks run on this thread, waiters wake).
  // Returns true if it was already cancelled; false if it is running or
  // finished (it is then left alone).
  bool Cancel() const;

  // Waits until the future is done, or `timeout` passes (`...For`). Returns
  // the task's exception, or a null exception_ptr when it produced a value.
  // Errors: IsCancelled if cancelled; IsTimeout if `timeout` passed first
  // (`ExceptionFor` only); the future's error status (IsBroken, IsShutDown,
  // ...) if it finished with one.
  // Wakes on: completion, cancellation, the timeout.
  absl::StatusOr<std::exception_ptr> Exception() const {
    return ExceptionUntil(absl::InfiniteFuture());
  }
  absl::StatusOr<std::exception_ptr> ExceptionFor(
      absl::Duration timeout) const {
    return ExceptionUntil(DeadlineFrom(timeout));
  }
  absl::StatusOr<std::exception_ptr> ExceptionUntil(absl::Time deadline) const;

  // Waits until done or `timeout` passes; returns done(). Never throws.
  // Wakes on: completion, cancellation, the timeout.
  bool WaitFor(absl::Duration timeout) const {
    return checked()->WaitUntilDone(DeadlineFrom(timeout));
  }
  // Waits until done (no timeout).
  void WaitDone() const { checked()->WaitUntilDone(absl::InfiniteFuture()); }

  // Identity: copies of one future compare equal.
  friend bool operator==(const FutureBase& a, const FutureBase& b) {
    return a.state_ == b.state_;
  }
  friend bool operator!=(const FutureBase& a, const FutureBase& b) {
    return a.state_ != b.state_;
  }
  template <typename H>
  friend H AbslHashValue(H h, const FutureBase& f) {
    return H::combine(std::move(h), f.state_);
  }

  // A debugging description: "Future(0x..., state=finished returned)".
  std::string DebugString() const;

 protected:
  // Adopts one reference to `state`.
  explicit FutureBase(internal::FutureStateBase* state) : state_(state) {}
  internal::FutureStateBase* checked() const;
  static absl::Time DeadlineFrom(absl::Duration timeout) {
    return timeout == absl::InfiniteDuration() ? absl::InfiniteFuture()
                                               : absl::Now() + timeout;
  }
  // Waits, then maps a non-value outcome to a status or rethrows; OK means
  // the value is there.
  absl::Status WaitOutcome(absl::Time deadline) const;

  internal::FutureStateBase* state_ = nullptr;

 private:
  friend internal::FutureStateBase* internal::StateOf(const FutureBase& f);
};

namespace internal {
inline FutureStateBase* StateOf(const FutureBase& f) { return f.state_; }
}  // namespace internal

namespace internal {

template <typename T, typename F>
class CallbackFn;
template <typename T, typename F, typename U>
class Continuation;

template <typename F, typename T>
struct ValueCallResult {
  using type = std::invoke_result_t<F&, const T&>;
};
template <typename F>
struct ValueCallResult<F, void> {
  using type = std::invoke_result_t<F&>;
};

template <typename F, typename T>
struct ThenResult {
  static constexpr bool kTakesFuture =
      std::is_invocable_v<F&, const Future<T>&>;
  using type =
      typename std::conditional_t<kTakesFuture,
                                  std::invoke_result<F&, const Future<T>&>,
                                  ValueCallResult<F, T>>::type;
};

}  // namespace internal

// Future<T>
//
// The result of an asynchronous computation: of a task submitted to a
// ThreadPoolExecutor, of a `Promise<T>`, or of a `Then` continuation. See
// the file comment for the error model, sharing and thread safety.
template <typename T>
class Future : public FutureBase {
 public:
  using value_type = T;
  // Return type of Result(): absl::StatusOr<T>, or absl::Status for void.
  using ResultType =
      std::conditional_t<std::is_void_v<T>, absl::Status, absl::StatusOr<T>>;

  Future() = default;

  // Blocks until the future is done, then returns its value (a copy; T must
  // be copy-constructible to call this, use Then() to consume move-only
  // values). Rethrows the task's exception. Errors: IsCancelled, or the
  // future's error status (IsBroken, IsShutDown). Never IsTimeout.
  // Wakes on: completion, cancellation.
  ResultType Result() const { return ResultUntil(absl::InfiniteFuture()); }

  // As Result(), but waits at most `timeout` (a non-positive timeout does
  // not block); IsTimeout if the future is not done by then (the future is
  // left as it was). Wakes on: completion, cancellation, the timeout.
  ResultType ResultFor(absl::Duration timeout) const {
    return ResultUntil(DeadlineFrom(timeout));
  }
  ResultType ResultUntil(absl::Time deadline) const {
    absl::Status s = WaitOutcome(deadline);
    if constexpr (std::is_void_v<T>) {
      return s;
    } else {
      if (!s.ok()) return s;
      return typed()->value();
    }
  }

  // Calls `fn(future)` (or `fn()`) once the future is done, with a Future
  // referring to this one: at once, on this thread, if it is already done;
  // otherwise on the thread that completes it (a pool worker, the thread
  // that calls Cancel() or a Promise setter), after waiters were woken.
  // Callbacks run in the order they were added, without locks held. An
  // exception thrown by `fn` is reported on stderr and otherwise ignored: it
  // does not affect the future, other callbacks, or the pool.
  //
  // Nesting: a future completed *inside* a callback or continuation (a
  // `Then` whose result completes, a callback that sets a Promise or cancels
  // a future) wakes its waiters at once, but its own callbacks are queued
  // on this thread and run by the outermost call: after every callback of
  // the list it is running (the current callback's later siblings too),
  // in the order the futures completed, each future's oldest first. So a
  // chain of any length (a million `Then`s on a pending Promise) runs in
  // constant stack space. Python runs them recursively instead, before the
  // completing callback returns; the difference shows in the order of
  // different futures' callbacks, and if a callback blocks waiting for the
  // result of a continuation of a future it just completed itself, which
  // here would wait forever.
  //
  // On a ThreadPoolExecutor worker, callbacks are part of the task: the
  // worker counts as busy until they have run (a callback that submits to
  // the same pool gets another worker if max_workers allows).
  template <typename F>
  void AddDoneCallback(F fn) const {
    checked()->AddCallback(
        new internal::CallbackFn<T, std::decay_t<F>>(std::move(fn)));
  }

  // Continuation: returns a Future<U> that completes with `fn`'s result.
  //   * If `fn` takes `const Future<T>&`, it is called with this future
  //     whenever it is done (whatever the outcome).
  //   * Otherwise `fn` takes `const T&` (or nothing for Future<void>) and is
  //     called only on success; a task exception or error status is passed
  //     on unchanged, and if this future is cancelled the returned one is
  //     cancelled too.
  // `fn` runs where a done callback would (see AddDoneCallback); if it
  // throws, the returned future holds that exception. Cancelling the
  // returned future does not cancel this one.
  template <typename F>
  auto Then(F fn) const
      -> Future<typename internal::ThenResult<std::decay_t<F>, T>::type>;

 private:
  template <typename U>
  friend class Future;
  friend class Promise<T>;
  friend class ThreadPoolExecutor;
  template <typename U, typename G>
  friend class internal::CallbackFn;
  template <typename A, typename G, typename U>
  friend class internal::Continuation;

  // Adopts one reference.
  explicit Future(internal::FutureState<T>* state) : FutureBase(state) {}
  static Future FromState(internal::FutureStateBase* state) {
    state->Ref();
    return Future(static_cast<internal::FutureState<T>*>(state));
  }
  internal::FutureState<T>* typed() const {
    return static_cast<internal::FutureState<T>*>(state_);
  }
};

// Promise<T>
//
// The producing end of a Future for code that computes results itself (an
// event loop, a callback-based API). Move-only. Each setter succeeds once;
// later ones return FailedPrecondition (Python's InvalidStateError) and
// leave the first outcome alone. Setters on a cancelled future also fail.
// A Promise destroyed before finishing its future finishes it with a
// Broken error ("promise abandoned") so waiters never hang.
//
// Thread safety: the setters may be called from any thread, concurrently
// with any use of the futures; exactly one setter wins.
template <typename T>
class Promise {
 public:
  Promise() : state_(new internal::FutureState<T>(1)) {}
  Promise(Promise&& other) noexcept : state_(other.state_) {
    other.state_ = nullptr;
  }
  Promise& operator=(Promise&& other) noexcept {
    if (this != &other) {
      Abandon();
      state_ = other.state_;
      other.state_ = nullptr;
    }
    return *this;
  }
  ~Promise() { Abandon(); }

  // A future for this promise (may be called any number of times).
  Future<T> future() const { return Future<T>::FromState(state_); }

  // Python's set_running_or_notify_cancel(): pending -> running and OK, so
  // the caller should start the work; IsCancelled if the future was
  // cancelled (do not start); FailedPrecondition if it is already running
  // or done.
  absl::Status SetRunning() {
    if (state_->Start()) return absl::OkStatus();
    if (state_->cancelled()) return CancelledError("future was cancelled");
    return absl::FailedPreconditionError("future is already running or done");
  }

  // Finishes the future with a value / the task's exception / an error
  // status. Waiters wake and callbacks run on this thread before these
  // return (called from inside another future's callback, the callbacks run
  // right after that callback instead; see Future::AddDoneCallback).
  // FailedPrecondition if it was already done (or cancelled).
  template <typename U = T, typename = std::enable_if_t<!std::is_void_v<U>>>
  absl::Status SetValue(U value) {
    return Check(state_->FinishWithValue(std::move(value)));
  }
  template <typename U = T, typename = std::enable_if_t<std::is_void_v<U>>>
  absl::Status SetValue() {
    return Check(state_->FinishWithValue());
  }
  absl::Status SetException(std::exception_ptr e) {
    return Check(state_->FinishWithException(std::move(e)));
  }
  // `status` must not be OK.
  absl::Status SetError(const absl::Status& status) {
    if (status.ok()) return absl::InvalidArgumentError("status must not be OK");
    return Check(state_->FinishWithStatus(status));
  }

 private:
  static absl::Status Check(bool won) {
    return won ? absl::OkStatus()
               : absl::FailedPreconditionError(
                     "invalid state: future is already done");
  }
  void Abandon() {
    if (state_ == nullptr) return;
    state_->FinishWithStatus(BrokenError("promise abandoned"));
    state_->Unref();
    state_ = nullptr;
  }

  internal::FutureState<T>* state_;
};

// ---------------------------------------------------------------------------
// Wait / AsCompleted

enum class ReturnWhen {
  // Return when any future is done (finished or cancelled).
  kFirstCompleted,
  // Return when any future finishes with an exception or an error status
  // (cancellation does not count); if none does, when all are done.
  kFirstException,
  // Return when all futures are done.
  kAllCompleted,
};

// The two halves of Wait's answer, in input order, duplicates removed.
template <typename F>
struct WaitResult {
  std::vector<F> done;
  std::vector<F> not_done;
};

namespace internal {

// Blocks until `when` holds for `states` (distinct) or `deadline`; returns
// nothing: callers read done() afterwards.
void WaitForStates(const std::vector<FutureStateBase*>& states,
                   absl::Time deadline, ReturnWhen when);

// The waiter behind AsCompleted (it must not move: futures point to it).
class AsCompletedCore {
 public:
  explicit AsCompletedCore(std::vector<FutureStateBase*> states);
  ~AsCompletedCore();
  // Index of the next future to yield, or -1 on timeout, or -2 when all
  // have been yielded.
  std::ptrdiff_t Next(absl::Time deadline);
  size_t unfinished() const;
  size_t total() const { return states_.size(); }

 private:
  struct Node;
  std::vector<FutureStateBase*> states_;
  std::vector<std::unique_ptr<Node>> nodes_;
  mutable absl::Mutex mu_;
  std::vector<size_t> ready_ ABSL_GUARDED_BY(mu_);
  size_t next_ready_ ABSL_GUARDED_BY(mu_) = 0;
};

// Removes duplicates (keeping first occurrences) from `futures`.
template <typename Range>
auto UniqueFutures(const Range& futures) {
  using F = std::decay_t<decltype(*std::begin(futures))>;
  std::vector<F> unique;
  absl::flat_hash_set<const FutureStateBase*> seen;
  for (const auto& f : futures) {
    if (seen.insert(StateOf(f)).second) unique.push_back(f);
  }
  return unique;
}

// A forward-only range over something with `std::optional<V> Next()`.
template <typename Source, typename V>
class NextIterator {
 public:
  using iterator_category = std::input_iterator_tag;
  using value_type = V;
  using difference_type = std::ptrdiff_t;
  using pointer = V*;
  using reference = V&;

  NextIterator() = default;
  explicit NextIterator(Source* source) : source_(source) { ++*this; }
  V& operator*() { return *current_; }
  V* operator->() { return &*current_; }
  NextIterator& operator++() {
    current_ = source_->Next();
    if (!current_.has_value()) source_ = nullptr;
    return *this;
  }
  void operator++(int) { ++*this; }
  friend bool operator==(const NextIterator& a, const NextIterator& b) {
    return a.source_ == b.source_;
  }
  friend bool operator!=(const NextIterator& a, const NextIterator& b) {
    return a.source_ != b.source_;
  }

 private:
  Source* source_ = nullptr;
  std::optional<V> current_;
};

}  // namespace internal

// Waits for the futures in `futures` (any range of Future<T> or FutureBase;
// duplicates are ignored) until `return_when` holds or `timeout` passes,
// whichever comes first. Never reports the timeout as an error: the futures
// that are not done are simply in `not_done`. An empty range returns at
// once. A non-positive timeout does not block.
// Wakes on: each completion or cancellation of one of the futures, the
// timeout.
template <typename Range>
auto Wait(const Range& futures,
          absl::Duration timeout = absl::InfiniteDuration(),
          ReturnWhen return_when = ReturnWhen::kAllCompleted) {
  auto unique = internal::UniqueFutures(futures);
  using F = typename decltype(unique)::value_type;
  std::vector<internal::FutureStateBase*> states;
  states.reserve(unique.size());
  for (const F& f : unique) states.push_back(internal::StateOf(f));
  absl::Time deadline = timeout == absl::InfiniteDuration()
                            ? absl::InfiniteFuture()
                            : absl::Now() + timeout;
  internal::WaitForStates(states, deadline, return_when);
  WaitResult<F> result;
  for (F& f : unique) {
    (f.done() ? result.done : result.not_done).push_back(std::move(f));
  }
  return result;
}
inline WaitResult<FutureBase> Wait(
    std::initializer_list<FutureBase> futures,
    absl::Duration timeout = absl::InfiniteDuration(),
    ReturnWhen return_when = ReturnWhen::kAllCompleted) {
  return Wait(std::vector<FutureBase>(futures), timeout, return_when);
}

// AsCompletedRange: what AsCompleted returns. Yields each distinct future
// once: first those already done when AsCompleted was called (in input
// order), then the others as they complete. If `timeout` passes first
// (counted from the first Next(), i.e. the start of the loop, as Python's
// lazy iterator), it yields one IsTimeout status
// ("2 (of 4) futures unfinished") and ends.
//
// Use in a range-for:
//   for (absl::StatusOr<Future<int>>& f : AsCompleted(futures, d)) {
//     if (!f.ok()) { /* timeout */ break; }
//     ... f->Result() ...
//   }
// or call Next() until it returns nullopt.
//
// Thread safety: thread-compatible (one consumer); the futures may complete
// on any thread.
template <typename F>
class AsCompletedRange {
 public:
  using iterator = internal::NextIterator<AsCompletedRange, absl::StatusOr<F>>;

  AsCompletedRange(std::vector<F> futures, absl::Duration timeout)
      : futures_(std::move(futures)), timeout_(timeout) {
    std::vector<internal::FutureStateBase*> states;
    states.reserve(futures_.size());
    for (const F& f : futures_) states.push_back(internal::StateOf(f));
    core_ = std::make_unique<internal::AsCompletedCore>(std::move(states));
  }

  // Blocks until the next future is done or the timeout passes.
  // Wakes on: completion or cancellation of a remaining future, the timeout.
  std::optional<absl::StatusOr<F>> Next() {
    if (finished_) return std::nullopt;
    if (!started_) {
      started_ = true;
      deadline_ = timeout_ == absl::InfiniteDuration() ? absl::InfiniteFuture()
                                                       : absl::Now() + timeout_;
    }
    std::ptrdiff_t i = core_->Next(deadline_);
    if (i == -2) {
      finished_ = true;
      return std::nullopt;
    }
    if (i == -1) {
      finished_ = true;
      return absl::StatusOr<F>(TimeoutError(
          std::to_string(core_->unfinished()) + " (of " +
          std::to_string(core_->total()) + ") futures unfinished"));
    }
    return absl::StatusOr<F>(futures_[static_cast<size_t>(i)]);
  }

  iterator begin() { return iterator(this); }
  iterator end() { return iterator(); }

 private:
  std::vector<F> futures_;
  absl::Duration timeout_;
  absl::Time deadline_;
  bool started_ = false;
  bool finished_ = false;
  std::unique_ptr<internal::AsCompletedCore> core_;
};

// Python's as_completed(fs, timeout): see AsCompletedRange.
template <typename Range>
auto AsCompleted(const Range& futures,
                 absl::Duration timeout = absl::InfiniteDuration()) {
  auto unique = internal::UniqueFutures(futures);
  using F = typename decltype(unique)::value_type;
  return AsCompletedRange<F>(std::move(unique), timeout);
}
inline AsCompletedRange<FutureBase> AsCompleted(
    std::initializer_list<FutureBase> futures,
    absl::Duration timeout = absl::InfiniteDuration()) {
  return AsCompleted(std::vector<FutureBase>(futures), timeout);
}

// ---------------------------------------------------------------------------
// Implementation details.

namespace internal {

template <typename T, typename F>
class CallbackFn final : public CallbackNode {
 public:
  explicit CallbackFn(F fn) : CallbackNode(false), fn_(std::move(fn)) {}
  void Invoke(FutureStateBase* state) override {
    try {
      if constexpr (std::is_invocable_v<F&, const Future<T>&>) {
        fn_(Future<T>::FromState(state));
      } else {
        fn_();
      }
    } catch (...) {
      ReportException("exception calling callback for future", state,
                      std::current_exception());
    }
  }

 private:
  F fn_;
};

template <typename T, typename F, typename U>
class Continuation final : public CallbackNode {
 public:
  Continuation(F fn, FutureState<U>* out)
      : CallbackNode(false), fn_(std::move(fn)), out_(out) {}
  ~Continuation() override { out_->Unref(); }

  void Invoke(FutureStateBase* state) override {
    constexpr bool kTakesFuture = ThenResult<F, T>::kTakesFuture;
    if (!kTakesFuture && state->cancelled()) {
      out_->Cancel();  // Pass the cancellation on.
      return;
    }
    if (!out_->Start()) return;  // The continuation's future was cancelled.
    Future<T> in = Future<T>::FromState(state);
    if constexpr (!kTakesFuture) {
      if (state->exception() != nullptr) {
        out_->FinishWithException(state->exception());
        return;
      }
      if (!state->status().ok()) {
        out_->FinishWithStatus(state->status());
        return;
      }
    }
    try {
      if constexpr (std::is_void_v<U>) {
        Call(in);
        out_->FinishWithValue();
      } else {
        out_->FinishWithValue(Call(in));
      }
    } catch (...) {
      out_->FinishWithException(std::current_exception());
    }
  }

 private:
  decltype(auto) Call(const Future<T>& in) {
    if constexpr (ThenResult<F, T>::kTakesFuture) {
      return fn_(in);
    } else if constexpr (std::is_void_v<T>) {
      return fn_();
    } else {
      return fn_(static_cast<FutureState<T>*>(StateOf(in))->value());
    }
  }

  F fn_;
  FutureState<U>* out_;  // One reference.
};

}  // namespace internal

template <typename T>
template <typename F>
auto Future<T>::Then(F fn) const
    -> Future<typename internal::ThenResult<std::decay_t<F>, T>::type> {
  using G = std::decay_t<F>;
  using U = typename internal::ThenResult<G, T>::type;
  auto* out = new internal::FutureState<U>(2);  // Returned future + node.
  checked()->AddCallback(
      new internal::Continuation<T, G, U>(std::move(fn), out));
  return Future<U>(out);
}

}  // namespace spindle

#endif  // SPINDLE_CONCURRENCY_FUTURE_H_
