// Copyright 2026 The spindle Authors.
//
// Private: the shared state behind spindle::Future / Promise and the task
// node that ThreadPoolExecutor queues. Not part of the public API.
//
// One allocation per submitted task: a `TaskState<T, F>` is at once the
// future's shared state (outcome, waiters, callbacks), the holder of the
// callable (stored inline), and the node of the executor's intrusive queue.
//
// The life cycle of a state is one atomic word (`word_`):
//
//   kPending ──Start()──▶ kRunning ──Publish──▶ kFinished
//      │  │                   │
//      │  └──Claim()──▶ kCompleting ──Publish──▶ kFinished   (Promise, errors)
//      └──Cancel()──▶ kCancelled
//
// plus the bit `kListeners`, set (under `mu_`) by whoever registers a waiter
// or callback, and the bit `kUserCallbacks`, set with it when the listener
// is a user callback or continuation (a worker that sees it stays busy
// until the callbacks have run; see PublishFromWorker). A completer that sees
// the bit locks `mu_` to wake waiters and run callbacks; one that does not see
// it needs no lock at all. Because both sides go through read-modify-write
// operations on the same word, either the registration is ordered before the
// completion (and the completer sees the bit) or after it (and the registrant
// sees a done state and does not wait).
//
// The outcome (`value`, `exception_`, `status_`) is written only by the
// single thread that moved the state to kRunning or kCompleting, before the
// release operation that publishes kFinished; readers read it only after an
// acquire load that saw kFinished. So outcome reads and writes never race.

#ifndef SPINDLE_CONCURRENCY_INTERNAL_FUTURE_STATE_H_
#define SPINDLE_CONCURRENCY_INTERNAL_FUTURE_STATE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <new>
#include <optional>
#include <type_traits>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "spindle/concurrency/internal/perturb.h"

namespace spindle {
namespace internal {

class FutureStateBase;

// A node of an executor's intrusive FIFO. Exactly one of Run() or Abandon()
// is called once per queued node; either one ends the queue's ownership.
class TaskNode {
 public:
  TaskNode* next_task = nullptr;
  // The executor's bookkeeping: which WaitAll generation the task was
  // submitted in (see internal/pool_generations.h).
  uint64_t wait_generation = 0;

  // How a worker is told where it stands while it finishes a task (see
  // ThreadPoolExecutor's idle accounting): `idle(arg, true)` once the task
  // and every user callback it runs on this thread are over, or just
  // before the future is published when no user callback is registered
  // (so that a waiter woken by the result finds the worker idle);
  // `idle(arg, false)` if a user callback turns up after that after all
  // (registered between the check and the publication), before it runs.
  using Hook = void (*)(void* arg, bool idle);

  // Runs the task (or skips it if its future was cancelled), publishes its
  // outcome (running the future's callbacks on this thread), then releases
  // the node; `hook` (if set) as described above. Returns nullptr, or the
  // node's memory (a block of kExecuteBlockSize bytes from ::operator new,
  // the node already destroyed) for the caller to reuse or free.
  virtual void* Run(Hook hook, void* arg) = 0;

  // Releases the node without running it. `why` is a Cancelled status (the
  // future becomes cancelled) or another error (the future finishes with
  // it).
  virtual void Abandon(const absl::Status& why) = 0;

 protected:
  ~TaskNode() = default;
};

// Something to call when a state becomes done. Internal nodes (waiters of
// Wait / AsCompleted) are called with the state's mutex held, must be quick
// and must not throw; they are owned by whoever registered them. User nodes
// (callbacks, continuations) are called without any lock held, in
// registration order, and are deleted after the call. A completion that
// happens while this thread is already running user nodes (a continuation
// that completes its own future, a callback that sets a Promise) does not
// run its user nodes there and then: they are queued on this thread and run
// by the outermost call once its own list has run, so a chain of any
// length costs heap, not stack (see RunUserCallbacks in future.cc).
class CallbackNode {
 public:
  explicit CallbackNode(bool internal) : internal(internal) {}
  virtual ~CallbackNode() = default;
  virtual void Invoke(FutureStateBase* state) = 0;

  CallbackNode* next = nullptr;
  // While queued on a thread's trampoline: the state to pass to Invoke (one
  // reference held for the node).
  FutureStateBase* deferred_state = nullptr;
  const bool internal;
};

// Execute() nodes that fit in this many bytes are allocated with
// ::operator new(kExecuteBlockSize), and the executor recycles their blocks
// (see ThreadPoolExecutor::Execute).
inline constexpr size_t kExecuteBlockSize = 64;

// Reports on stderr an exception that escaped user code with nobody to
// receive it (a done callback, an Execute() task); never throws.
void ReportException(const char* context, const void* who,
                     std::exception_ptr e);

class FutureStateBase {
 public:
  enum : uint32_t {
    kPending = 0,
    kRunning = 1,
    kCompleting = 2,
    kCancelled = 3,
    kFinished = 4,
    kStateMask = 7,
    kListeners = 8,
    kUserCallbacks = 16,
  };

  explicit FutureStateBase(int initial_refs) : refs_(initial_refs) {}
  FutureStateBase(const FutureStateBase&) = delete;
  FutureStateBase& operator=(const FutureStateBase&) = delete;

  void Ref() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void Unref() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  uint32_t state() const {
    return word_.load(std::memory_order_acquire) & kStateMask;
  }
  static bool IsDoneState(uint32_t s) { return s >= kCancelled; }
  bool done() const { return IsDoneState(state()); }
  bool cancelled() const { return state() == kCancelled; }
  bool running() const {
    uint32_t s = state();
    return s == kRunning || s == kCompleting;
  }
  // Finished with an exception or an error status (not cancelled). Only
  // meaningful once done().
  bool failed() const {
    return state() == kFinished && (exception_ != nullptr || !status_.ok());
  }

  // The outcome; read only after done() returned true.
  const absl::Status& status() const { return status_; }
  const std::exception_ptr& exception() const { return exception_; }

  // pending -> cancelled: true. Already cancelled: true. Otherwise false.
  bool Cancel();

  // pending -> running: true. Otherwise false (cancelled, or misuse).
  bool Start() {
    SPINDLE_PERTURB_POINT();
    uint32_t expected = word_.load(std::memory_order_relaxed);
    for (;;) {
      if ((expected & kStateMask) != kPending) return false;
      if (word_.compare_exchange_weak(
              expected, (expected & ~kStateMask) | kRunning,
              std::memory_order_acquire, std::memory_order_relaxed)) {
        return true;
      }
    }
  }

  // pending or running -> completing: the caller may now write the outcome
  // and must then call Publish(kCompleting). False if already done or being
  // completed by someone else.
  bool Claim();

  // `from` (the current state, known to the caller) -> kFinished; wakes
  // waiters and runs callbacks if any were registered.
  void Publish(uint32_t from) {
    SPINDLE_PERTURB_POINT();
    uint32_t old = word_.fetch_add(kFinished - from, std::memory_order_acq_rel);
    SPINDLE_PERTURB_POINT();
    if (old & kListeners) NotifyListeners(nullptr, nullptr, true);
  }

  // Publish() for a pool worker that ran the task: tells the worker's
  // `hook` when it is idle (see TaskNode::Hook). Without user callbacks the
  // worker is declared idle before the publication (cheap path); with them,
  // only after they (and whatever they queued on this thread) have run.
  void PublishFromWorker(uint32_t from, TaskNode::Hook hook, void* arg) {
    if (hook == nullptr) {
      Publish(from);
      return;
    }
    // Only the completer changes the state from here on; the bit may still
    // be set concurrently (NotifyListeners handles that late registration:
    // the bit comes with kListeners).
    const bool callbacks =
        (word_.load(std::memory_order_acquire) & kUserCallbacks) != 0;
    SPINDLE_PERTURB_POINT();
    if (!callbacks) hook(arg, true);
    SPINDLE_PERTURB_POINT();
    uint32_t old = word_.fetch_add(kFinished - from, std::memory_order_acq_rel);
    SPINDLE_PERTURB_POINT();
    if (old & kListeners) NotifyListeners(hook, arg, !callbacks);
  }

  // Finishes a pending or running future with `status` (not OK). False if it
  // was already done.
  bool FinishWithStatus(const absl::Status& status) {
    if (!Claim()) return false;
    status_ = status;
    Publish(kCompleting);
    return true;
  }
  bool FinishWithException(std::exception_ptr e) {
    if (!Claim()) return false;
    exception_ = std::move(e);
    Publish(kCompleting);
    return true;
  }

  // Blocks until done or `deadline`; true if done.
  bool WaitUntilDone(absl::Time deadline);

  // Runs `node` (a user node) when the state is done: at once, on this
  // thread, if it already is.
  void AddCallback(CallbackNode* node);

  // Registers an internal node. False (and not registered) if already done.
  bool AddInternal(CallbackNode* node);
  // Unregisters `node` if it has not been called yet. After this returns
  // the state will not touch `node` again.
  void RemoveInternal(CallbackNode* node);

 protected:
  virtual ~FutureStateBase();

  absl::Status status_;
  std::exception_ptr exception_;

 private:
  static bool IsDoneCond(FutureStateBase* self) { return self->done(); }
  // Wakes waiters and runs user callbacks. `hook`/`arg`: the worker's (or
  // null); `idle_said`: whether hook(arg, true) was called already. Calls
  // hook(arg, true) at the end if it was not.
  void NotifyListeners(TaskNode::Hook hook, void* arg, bool idle_said);

  std::atomic<uint32_t> word_{kPending};
  std::atomic<int32_t> refs_;
  absl::Mutex mu_;
  CallbackNode* callbacks_ ABSL_GUARDED_BY(mu_) = nullptr;
};

// Where a state keeps its value.
template <typename T>
class FutureState : public FutureStateBase {
 public:
  using FutureStateBase::FutureStateBase;

  template <typename... A>
  void EmplaceValue(A&&... a) {
    value_.emplace(std::forward<A>(a)...);
  }
  bool FinishWithValue(T v) {
    if (!Claim()) return false;
    value_.emplace(std::move(v));
    Publish(kCompleting);
    return true;
  }
  const T& value() const { return *value_; }
  bool has_value() const { return value_.has_value(); }

 private:
  std::optional<T> value_;
};

template <>
class FutureState<void> : public FutureStateBase {
 public:
  using FutureStateBase::FutureStateBase;
  bool FinishWithValue() {
    if (!Claim()) return false;
    Publish(kCompleting);
    return true;
  }
};

// A submitted task: state + callable in one allocation. Starts with two
// references: the Future returned to the submitter and the queue's.
template <typename T, typename F>
class TaskState final : public FutureState<T>, public TaskNode {
 public:
  explicit TaskState(F&& fn) : FutureState<T>(2) {
    ::new (static_cast<void*>(&fn_)) F(std::move(fn));
  }

  void* Run(TaskNode::Hook hook, void* arg) override {
    if (!this->Start()) {  // Cancelled while queued: skip it.
      DestroyFn();
      this->Unref();
      return nullptr;
    }
    try {
      if constexpr (std::is_void_v<T>) {
        std::move (*fn())();
      } else {
        this->EmplaceValue(std::move(*fn())());
      }
    } catch (...) {
      this->exception_ = std::current_exception();
    }
    // The callable (and what it captured) is gone before the future is done.
    DestroyFn();
    this->PublishFromWorker(FutureStateBase::kRunning, hook, arg);
    this->Unref();
    return nullptr;
  }

  void Abandon(const absl::Status& why) override {
    DestroyFn();
    if (absl::IsCancelled(why)) {
      this->Cancel();
    } else {
      this->FinishWithStatus(why);
    }
    this->Unref();
  }

 private:
  F* fn() { return std::launder(reinterpret_cast<F*>(&fn_)); }
  void DestroyFn() { fn()->~F(); }

  // Constructed in the constructor, destroyed by exactly one of Run() or
  // Abandon() (every TaskState is handed to one of them).
  alignas(F) unsigned char fn_[sizeof(F)];
};

// Execute(): a queued callable with no future. A recyclable one lives in a
// block of kExecuteBlockSize bytes from ::operator new (placement-new'ed
// there by the executor); Run() hands that block back to the worker instead
// of freeing it. Others are allocated with plain `new`.
template <typename F>
class ExecuteTask final : public TaskNode {
 public:
  explicit ExecuteTask(F&& fn) : fn_(std::move(fn)) {}
  void* Run(TaskNode::Hook hook, void* arg) override {
    try {
      std::move(fn_)();
    } catch (...) {
      ReportException("exception in task run by Execute()", this,
                      std::current_exception());
    }
    if (hook != nullptr) hook(arg, true);
    return Release(/*keep_block=*/true);
  }
  void Abandon(const absl::Status&) override { Release(/*keep_block=*/false); }

  static constexpr bool kRecyclable =
      sizeof(F) + sizeof(TaskNode) <= kExecuteBlockSize &&
      alignof(F) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__;

 private:
  ~ExecuteTask() = default;

  // Destroys the node; returns its block if recyclable and `keep_block`,
  // else frees it and returns nullptr.
  void* Release(bool keep_block) {
    if constexpr (kRecyclable) {
      void* block = static_cast<void*>(this);
      this->~ExecuteTask();
      if (keep_block) return block;
      ::operator delete(block);
    } else {
      delete this;
    }
    return nullptr;
  }

  F fn_;
};

}  // namespace internal
}  // namespace spindle

#endif  // SPINDLE_CONCURRENCY_INTERNAL_FUTURE_STATE_H_
