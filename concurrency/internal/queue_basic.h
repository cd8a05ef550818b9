// Copyright 2026 The spindle Authors.
//
// BasicQueue, the engine of LifoQueue and PriorityQueue (private to
// spindle/concurrency/queue.h).

#ifndef SPINDLE_CONCURRENCY_INTERNAL_QUEUE_BASIC_H_
#define SPINDLE_CONCURRENCY_INTERNAL_QUEUE_BASIC_H_

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "spindle/concurrency/internal/perturb.h"
#include "spindle/concurrency/internal/queue_waiters.h"
#include "spindle/concurrency/status.h"

namespace spindle {
namespace queue_internal {

// ---------------------------------------------------------------------------
// BasicQueue: one mutex around a container. The engine of LifoQueue and
// PriorityQueue, whose order needs the whole container under one lock.
// Its public member functions are the engine operations QueueApi calls (see
// queue.h); `Container` is Stack or StableHeap (internal/queue_containers.h).
// ---------------------------------------------------------------------------
template <typename T, typename Container>
class BasicQueue {
 public:
  explicit BasicQueue(int64_t maxsize = 0)
      : maxsize_(maxsize),
        items_(maxsize > 0
                   ? static_cast<size_t>(std::min<int64_t>(maxsize, 4096))
                   : 16) {}

  BasicQueue(const BasicQueue&) = delete;
  BasicQueue& operator=(const BasicQueue&) = delete;

  // --- Engine operations (called by QueueApi) ------------------------------

  absl::Status PutImpl(T& item, absl::Time deadline) {
    absl::MutexLock lock(&mu_);
    if (shutdown_) return ShutDownError("put on a shut down queue");
    if (!IsFull()) {
      Admit(std::move(item));
      Rebalance();
      return absl::OkStatus();
    }
    if (Expired(deadline)) return FullError("queue is full");
    if (putters_.empty()) {
      const int64_t max = maxsize_;
      mu_.Unlock();
      SPINDLE_PERTURB_POINT();
      Spin([this, max] {
        return size_.load(std::memory_order_relaxed) < static_cast<size_t>(max);
      });
      mu_.Lock();
      if (shutdown_) return ShutDownError("put on a shut down queue");
      if (!IsFull() && putters_.empty()) {
        Admit(std::move(item));
        Rebalance();
        return absl::OkStatus();
      }
    }
    PutWaiter<T> w;
    w.item = &item;
    putters_.PushBack(&w);
    if (!AwaitServed(&w, &putters_, &mu_, deadline)) {
      return FullError("timed out waiting for room in the queue");
    }
    return w.status;
  }

  absl::Status PutManyImpl(absl::Span<T> items, absl::Time deadline,
                           size_t* num_put) {
    size_t put = 0;
    absl::Status status;
    mu_.Lock();
    // An empty batch is a put too: it fails on a shut down queue.
    if (items.empty() && shutdown_) {
      status = ShutDownError("put on a shut down queue");
    }
    while (put < items.size()) {
      if (shutdown_) {
        status = ShutDownError("put on a shut down queue");
        break;
      }
      const size_t before = put;
      while (put < items.size() && !IsFull()) Admit(std::move(items[put++]));
      if (put != before) Rebalance();
      if (put == items.size()) break;
      if (Expired(deadline)) {
        status = FullError(put == before ? "queue is full"
                                         : "timed out waiting for room");
        break;
      }
      // Wait like a single Put for the next item, then continue.
      PutWaiter<T> w;
      w.item = &items[put];
      putters_.PushBack(&w);
      if (!AwaitServed(&w, &putters_, &mu_, deadline)) {
        status = FullError("timed out waiting for room in the queue");
        break;
      }
      if (!w.status.ok()) {
        status = w.status;
        break;
      }
      ++put;
    }
    mu_.Unlock();
    if (num_put != nullptr) *num_put = put;
    return status;
  }

  // Fills `w` (see QueueApi::GetOne / GetBatch) or fails.
  absl::Status TakeImpl(GetWaiter<T>* w, absl::Time deadline) {
    absl::MutexLock lock(&mu_);
    if (!items_.empty()) {
      FillLocked(w);
      Rebalance();
      return absl::OkStatus();
    }
    if (shutdown_) return ShutDownError("get on a shut down, empty queue");
    if (Expired(deadline)) return EmptyError("queue is empty");
    if (getters_.empty()) {
      mu_.Unlock();
      SPINDLE_PERTURB_POINT();
      Spin([this] { return size_.load(std::memory_order_relaxed) > 0; });
      mu_.Lock();
      if (!items_.empty()) {
        FillLocked(w);
        Rebalance();
        return absl::OkStatus();
      }
      if (shutdown_) return ShutDownError("get on a shut down, empty queue");
    }
    getters_.PushBack(w);
    if (!AwaitServed(w, &getters_, &mu_, deadline)) {
      return EmptyError("timed out waiting for an item");
    }
    return w->status;
  }

  absl::Status TaskDoneImpl(int64_t count) {
    absl::MutexLock lock(&mu_);
    if (count < 0 || count > unfinished_) {
      return absl::InvalidArgumentError(
          "TaskDone() called more times than there were items");
    }
    unfinished_ -= count;
    if (unfinished_ == 0) all_done_.SignalAll();
    return absl::OkStatus();
  }

  bool JoinImpl(absl::Time deadline) {
    absl::MutexLock lock(&mu_);
    while (unfinished_ > 0) {
      if (deadline == absl::InfiniteFuture()) {
        all_done_.Wait(&mu_);
      } else if (all_done_.WaitWithDeadline(&mu_, deadline)) {
        return unfinished_ == 0;
      }
    }
    return true;
  }
  int64_t UnfinishedImpl() const {
    absl::MutexLock lock(&mu_);
    return unfinished_;
  }

  void ShutdownImpl(bool immediate) {
    // With `immediate`, the dropped items are moved here and destroyed after
    // the lock is released, so an item's destructor may use the queue.
    Container dropped(0);
    absl::MutexLock lock(&mu_);
    shutdown_ = true;
    while (!putters_.empty()) {
      PutWaiter<T>* w = putters_.PopFront();
      w->status = ShutDownError("queue is shut down");
      w->done = true;
      w->cv.Signal();
    }
    while (!getters_.empty()) {
      GetWaiter<T>* w = getters_.PopFront();
      w->status = ShutDownError("queue is shut down");
      w->done = true;
      w->cv.Signal();
    }
    if (immediate) {
      items_.Swap(dropped);
      const int64_t n = static_cast<int64_t>(dropped.size());
      unfinished_ = std::max<int64_t>(0, unfinished_ - n);
      PublishSize();
      all_done_.SignalAll();
    }
  }
  bool IsShutdownImpl() const {
    absl::MutexLock lock(&mu_);
    return shutdown_;
  }

  size_t QsizeImpl() const { return size_.load(std::memory_order_relaxed); }
  bool FullImpl() const {
    absl::MutexLock lock(&mu_);
    return IsFull();
  }
  size_t GettersWaitingImpl() const {
    absl::MutexLock lock(&mu_);
    return getters_.size();
  }
  size_t PuttersWaitingImpl() const {
    absl::MutexLock lock(&mu_);
    return putters_.size();
  }
  int64_t MaxsizeImpl() const {
    absl::MutexLock lock(&mu_);
    return maxsize_;
  }
  void SetMaxsizeImpl(int64_t maxsize) {
    absl::MutexLock lock(&mu_);
    maxsize_ = maxsize;
    Rebalance();
  }

 private:
  bool IsFull() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return maxsize_ > 0 && items_.size() >= static_cast<size_t>(maxsize_);
  }

  void PublishSize() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    size_.store(items_.size(), std::memory_order_relaxed);
  }

  void Admit(T&& item) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    items_.Push(std::move(item));
    ++unfinished_;
  }

  // Fills `w` from the container.
  void FillLocked(GetWaiter<T>* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (w->batch == nullptr) {
      w->item.emplace(items_.Pop());
      w->received = 1;
      return;
    }
    size_t n = 0;
    for (; n < w->max_items && !items_.empty(); ++n) {
      w->batch->push_back(items_.Pop());
    }
    w->received = n;
  }

  // Restores the invariants "getters blocked => queue empty" and "putters
  // blocked => queue full" by serving waiters, oldest first.
  void Rebalance() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (;;) {
      bool progress = false;
      while (!putters_.empty() && !IsFull()) {
        PutWaiter<T>* w = putters_.PopFront();
        Admit(std::move(*w->item));
        w->done = true;
        w->cv.Signal();
        progress = true;
      }
      while (!getters_.empty() && !items_.empty()) {
        GetWaiter<T>* w = getters_.PopFront();
        FillLocked(w);
        w->done = true;
        w->cv.Signal();
        progress = true;
      }
      if (!progress || (putters_.empty() || IsFull())) break;
    }
    PublishSize();
  }

  mutable absl::Mutex mu_;
  // items_.size(), published under mu_ for lock-free snapshots and for
  // spinning waiters.
  std::atomic<size_t> size_{0};
  int64_t maxsize_ ABSL_GUARDED_BY(mu_);
  Container items_ ABSL_GUARDED_BY(mu_);
  int64_t unfinished_ ABSL_GUARDED_BY(mu_) = 0;
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  WaiterList<GetWaiter<T>> getters_ ABSL_GUARDED_BY(mu_);
  WaiterList<PutWaiter<T>> putters_ ABSL_GUARDED_BY(mu_);
  absl::CondVar all_done_;  // Signalled when unfinished_ reaches 0.
};

}  // namespace queue_internal
}  // namespace spindle

#endif  // SPINDLE_CONCURRENCY_INTERNAL_QUEUE_BASIC_H_
