// Copyright 2026 The spindle Authors.

#include "spindle/concurrency/future.h"

#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "absl/base/internal/raw_logging.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace spindle {
namespace internal {

void ReportException(const char* context, const void* who,
                     std::exception_ptr e) {
  std::string what = "unknown exception";
  try {
    std::rethrow_exception(std::move(e));
  } catch (const std::exception& ex) {
    what = absl::StrCat(ex.what());
  } catch (...) {
  }
  // One write so concurrent reports do not interleave.
  std::string line =
      absl::StrFormat("spindle: %s %p: %s\n", context, who, what);
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

FutureStateBase::~FutureStateBase() {
  // Every state is completed before its last reference goes (a TaskState is
  // run or abandoned, a Promise finishes its state when destroyed), so the
  // list is normally empty. Defensive: free user nodes without calling them.
  CallbackNode* node = callbacks_;
  while (node != nullptr) {
    CallbackNode* next = node->next;
    if (!node->internal) delete node;
    node = next;
  }
}

bool FutureStateBase::Claim() {
  SPINDLE_PERTURB_POINT();
  uint32_t expected = word_.load(std::memory_order_relaxed);
  for (;;) {
    uint32_t s = expected & kStateMask;
    if (s != kPending && s != kRunning) return false;
    if (word_.compare_exchange_weak(
            expected, (expected & ~kStateMask) | kCompleting,
            std::memory_order_acquire, std::memory_order_relaxed)) {
      return true;
    }
  }
}

bool FutureStateBase::Cancel() {
  SPINDLE_PERTURB_POINT();
  uint32_t expected = word_.load(std::memory_order_relaxed);
  for (;;) {
    uint32_t s = expected & kStateMask;
    if (s == kCancelled) return true;
    if (s != kPending) return false;
    if (word_.compare_exchange_weak(
            expected, (expected & ~kStateMask) | kCancelled,
            std::memory_order_acq_rel, std::memory_order_relaxed)) {
      if (expected & kListeners) NotifyListeners(nullptr, nullptr, true);
      return true;
    }
  }
}

namespace {

// True if `deadline` is already over: a wait for it must not block.
bool DeadlinePassed(absl::Time deadline) {
  return deadline != absl::InfiniteFuture() && deadline <= absl::Now();
}

// This thread's trampoline for user callbacks: while `active`, completions
// on this thread queue their user nodes here (FIFO) instead of running them
// one stack frame deeper; the outermost RunUserCallbacks drains the queue.
struct Trampoline {
  bool active = false;
  CallbackNode* head = nullptr;
  CallbackNode* tail = nullptr;
};
thread_local Trampoline trampoline;

void InvokeAndDelete(CallbackNode* node, FutureStateBase* state) {
  node->Invoke(state);
  delete node;
}

// Runs the user nodes `list` (oldest first) of `state`, and everything that
// they complete on this thread, iteratively.
void RunUserCallbacks(FutureStateBase* state, CallbackNode* list) {
  Trampoline& t = trampoline;
  if (t.active) {
    // Inside a callback already: queue the nodes for the outermost call.
    // Each holds a reference, so the state outlives whoever completed it.
    while (list != nullptr) {
      CallbackNode* next = list->next;
      state->Ref();
      list->deferred_state = state;
      list->next = nullptr;
      if (t.tail == nullptr) {
        t.head = list;
      } else {
        t.tail->next = list;
      }
      t.tail = list;
      list = next;
    }
    return;
  }
  t.active = true;
  while (list != nullptr) {
    CallbackNode* next = list->next;
    InvokeAndDelete(list, state);
    list = next;
  }
  while (t.head != nullptr) {
    CallbackNode* node = t.head;
    t.head = node->next;
    if (t.head == nullptr) t.tail = nullptr;
    FutureStateBase* deferred = node->deferred_state;
    InvokeAndDelete(node, deferred);
    deferred->Unref();
  }
  t.active = false;
}

}  // namespace

void FutureStateBase::NotifyListeners(TaskNode::Hook hook, void* arg,
                                      bool idle_said) {
  CallbackNode* user = nullptr;  // Reversed: newest first.
  mu_.Lock();
  CallbackNode* node = callbacks_;
  callbacks_ = nullptr;
  // Internal nodes are registered by threads blocked in Wait/AsCompleted:
  // tell them under the lock (they unregister under it, so they cannot go
  // away while we call them).
  while (node != nullptr) {
    CallbackNode* next = node->next;
    if (node->internal) {
      node->Invoke(this);
    } else {
      node->next = user;
      user = node;
    }
    node = next;
  }
  // Unlock wakes threads blocked in WaitUntilDone (their condition is true).
  mu_.Unlock();
  SPINDLE_PERTURB_POINT();
  if (user == nullptr) {
    if (hook != nullptr && !idle_said) hook(arg, true);
    return;
  }
  // A worker runs the callbacks as part of its task: busy until they end.
  if (hook != nullptr && idle_said) hook(arg, false);
  // `callbacks_` was pushed newest-first, so `user` is now oldest-first.
  RunUserCallbacks(this, user);
  if (hook != nullptr) hook(arg, true);
}

bool FutureStateBase::WaitUntilDone(absl::Time deadline) {
  if (done()) return true;
  // A deadline already passed does not block (Mutex::AwaitWithDeadline
  // would still sleep in the kernel until that past time).
  if (DeadlinePassed(deadline)) return done();
  SPINDLE_PERTURB_POINT();
  mu_.Lock();
  uint32_t old = word_.fetch_or(kListeners, std::memory_order_acq_rel);
  bool is_done = IsDoneState(old & kStateMask);
  if (!is_done) {
    is_done =
        mu_.AwaitWithDeadline(absl::Condition(&IsDoneCond, this), deadline);
  }
  mu_.Unlock();
  return is_done;
}

void FutureStateBase::AddCallback(CallbackNode* node) {
  SPINDLE_PERTURB_POINT();
  mu_.Lock();
  uint32_t old =
      word_.fetch_or(kListeners | kUserCallbacks, std::memory_order_acq_rel);
  if (!IsDoneState(old & kStateMask)) {
    node->next = callbacks_;
    callbacks_ = node;
    mu_.Unlock();
    return;
  }
  mu_.Unlock();
  // Already done: run it now, on this thread.
  node->Invoke(this);
  delete node;
}

bool FutureStateBase::AddInternal(CallbackNode* node) {
  SPINDLE_PERTURB_POINT();
  absl::MutexLock lock(&mu_);
  uint32_t old = word_.fetch_or(kListeners, std::memory_order_acq_rel);
  if (IsDoneState(old & kStateMask)) return false;
  node->next = callbacks_;
  callbacks_ = node;
  return true;
}

void FutureStateBase::RemoveInternal(CallbackNode* node) {
  SPINDLE_PERTURB_POINT();
  absl::MutexLock lock(&mu_);
  for (CallbackNode** p = &callbacks_; *p != nullptr; p = &(*p)->next) {
    if (*p == node) {
      *p = node->next;
      return;
    }
  }
}

// ---------------------------------------------------------------------------
// Wait

namespace {

struct Waiter {
  absl::Mutex mu;
  size_t done ABSL_GUARDED_BY(mu) = 0;
  bool any_failed ABSL_GUARDED_BY(mu) = false;
};

struct WaitNode final : CallbackNode {
  WaitNode() : CallbackNode(true) {}
  void Invoke(FutureStateBase* state) override {
    absl::MutexLock lock(&waiter->mu);
    ++waiter->done;
    if (state->failed()) waiter->any_failed = true;
  }
  Waiter* waiter = nullptr;
};

}  // namespace

void WaitForStates(const std::vector<FutureStateBase*>& states,
                   absl::Time deadline, ReturnWhen when) {
  const size_t n = states.size();
  if (n == 0 || DeadlinePassed(deadline)) return;  // Callers read done().
  Waiter waiter;
  std::vector<WaitNode> nodes(n);
  std::vector<bool> registered(n, false);
  size_t done = 0;
  bool any_failed = false;
  for (size_t i = 0; i < n; ++i) {
    nodes[i].waiter = &waiter;
    if (states[i]->AddInternal(&nodes[i])) {
      registered[i] = true;
    } else {
      ++done;
      if (states[i]->failed()) any_failed = true;
    }
  }
  {
    absl::MutexLock lock(&waiter.mu);
    waiter.done += done;
    waiter.any_failed = waiter.any_failed || any_failed;
    struct Args {
      Waiter* w;
      size_t n;
      ReturnWhen when;
    } args{&waiter, n, when};
    auto ready = [](Args* a) ABSL_NO_THREAD_SAFETY_ANALYSIS {
      if (a->w->done >= a->n) return true;
      switch (a->when) {
        case ReturnWhen::kFirstCompleted:
          return a->w->done > 0;
        case ReturnWhen::kFirstException:
          return a->w->any_failed;
        case ReturnWhen::kAllCompleted:
          return false;
      }
      return false;
    };
    waiter.mu.AwaitWithDeadline(
        absl::Condition(static_cast<bool (*)(Args*)>(ready), &args), deadline);
  }
  for (size_t i = 0; i < n; ++i) {
    if (registered[i]) states[i]->RemoveInternal(&nodes[i]);
  }
}

// ---------------------------------------------------------------------------
// AsCompleted

struct AsCompletedCore::Node final : CallbackNode {
  Node(AsCompletedCore* core, size_t index)
      : CallbackNode(true), core(core), index(index) {}
  void Invoke(FutureStateBase*) override {
    absl::MutexLock lock(&core->mu_);
    core->ready_.push_back(index);
  }
  AsCompletedCore* core;
  size_t index;
  bool registered = false;
};

AsCompletedCore::AsCompletedCore(std::vector<FutureStateBase*> states)
    : states_(std::move(states)) {
  nodes_.reserve(states_.size());
  std::vector<size_t> already;
  for (size_t i = 0; i < states_.size(); ++i) {
    nodes_.push_back(std::make_unique<Node>(this, i));
    if (states_[i]->AddInternal(nodes_[i].get())) {
      nodes_[i]->registered = true;
    } else {
      already.push_back(i);
    }
  }
  // Already-done futures first, in input order, then the others as they
  // complete (those may have been appended during registration already).
  absl::MutexLock lock(&mu_);
  ready_.insert(ready_.begin(), already.begin(), already.end());
}

AsCompletedCore::~AsCompletedCore() {
  for (size_t i = 0; i < states_.size(); ++i) {
    if (nodes_[i]->registered) states_[i]->RemoveInternal(nodes_[i].get());
  }
}

std::ptrdiff_t AsCompletedCore::Next(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  if (next_ready_ == states_.size()) return -2;
  auto has_ready = [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    return next_ready_ < ready_.size();
  };
  if (!has_ready() && DeadlinePassed(deadline)) return -1;
  if (!mu_.AwaitWithDeadline(absl::Condition(&has_ready), deadline)) {
    return -1;
  }
  return static_cast<std::ptrdiff_t>(ready_[next_ready_++]);
}

size_t AsCompletedCore::unfinished() const {
  size_t n = 0;
  for (FutureStateBase* s : states_) {
    if (!s->done()) ++n;
  }
  return n;
}

}  // namespace internal

// ---------------------------------------------------------------------------
// FutureBase

internal::FutureStateBase* FutureBase::checked() const {
  ABSL_RAW_CHECK(state_ != nullptr, "use of an invalid (default) Future");
  return state_;
}

bool FutureBase::Cancel() const { return checked()->Cancel(); }

absl::Status FutureBase::WaitOutcome(absl::Time deadline) const {
  internal::FutureStateBase* s = checked();
  if (!s->WaitUntilDone(deadline)) {
    return TimeoutError("future not done before the timeout");
  }
  if (s->cancelled()) return CancelledError("future was cancelled");
  if (s->exception() != nullptr) std::rethrow_exception(s->exception());
  return s->status();
}

absl::StatusOr<std::exception_ptr> FutureBase::ExceptionUntil(
    absl::Time deadline) const {
  internal::FutureStateBase* s = checked();
  if (!s->WaitUntilDone(deadline)) {
    return TimeoutError("future not done before the timeout");
  }
  if (s->cancelled()) return CancelledError("future was cancelled");
  if (!s->status().ok()) return s->status();
  return s->exception();
}

std::string FutureBase::DebugString() const {
  if (state_ == nullptr) return "Future(invalid)";
  const char* what = "pending";
  switch (state_->state()) {
    case internal::FutureStateBase::kPending:
      what = "pending";
      break;
    case internal::FutureStateBase::kRunning:
    case internal::FutureStateBase::kCompleting:
      what = "running";
      break;
    case internal::FutureStateBase::kCancelled:
      what = "cancelled";
      break;
    default:
      if (state_->exception() != nullptr) {
        what = "finished raised";
      } else if (!state_->status().ok()) {
        what = "finished with error";
      } else {
        what = "finished returned";
      }
  }
  return absl::StrFormat("Future(%p, state=%s)", state_, what);
}

}  // namespace spindle
