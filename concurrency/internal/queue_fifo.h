// Copyright 2026 The spindle Authors.
//
// FifoQueue, the engine of Queue and SimpleQueue: a lock-free slot ring with
// blocked threads on the slow path only (private to
// spindle/concurrency/queue.h).

#ifndef SPINDLE_CONCURRENCY_INTERNAL_QUEUE_FIFO_H_
#define SPINDLE_CONCURRENCY_INTERNAL_QUEUE_FIFO_H_

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "spindle/concurrency/internal/perturb.h"
#include "spindle/concurrency/internal/queue_slots.h"
#include "spindle/concurrency/internal/queue_waiters.h"
#include "spindle/concurrency/status.h"

namespace spindle {
namespace queue_internal {

// ---------------------------------------------------------------------------
// FifoQueue: the engine of Queue and SimpleQueue. Items live in a SlotRing
// (internal/queue_slots.h): a put or a get that finds no thread blocked on
// its side is one CAS on its own counter plus a store into the item's slot,
// with no lock and no system call. Locks and blocked threads are the slow
// path only:
//
//   * Blocked getters wait in a FIFO list under `get_mu_`, blocked putters
//     in one under `put_mu_`; `getters_waiting_` / `putters_waiting_` say
//     whether a list is non-empty. A newcomer that sees its side's flag set
//     takes the lock and serves the blocked threads first (no barging).
//   * No lost wake-up: a getter about to block raises `getters_waiting_`
//     (seq_cst) and then looks at the ring's put counter (seq_cst); a put
//     claims its position with a seq_cst CAS on that counter and then reads
//     the flag. One of the two sees the other: either the getter finds the
//     item (and waits the few instructions until it is published) or the
//     putter finds the flag and hands the item over under `get_mu_`. Putters
//     blocked on a full queue and gets are symmetrical.
//   * Whoever holds a side's lock serves that side's waiters, oldest first,
//     before serving itself; then it settles the other side (Settle).
//   * Shutdown takes both locks (always `put_mu_` first), closes the ring to
//     puts and fails every blocked thread. Growing the ring (an unbounded
//     queue, or a maxsize above the ring's capacity) also takes both locks.
//   * Task tracking needs no counter of its own on the fast path:
//     unfinished_tasks() = puts claimed - `done_`.
//
// Its public member functions are the engine operations QueueApi calls (see
// queue.h).
// ---------------------------------------------------------------------------
template <typename T>
class FifoQueue {
  using Ring = SlotRing<T>;
  using Result = typename Ring::Result;

 public:
  explicit FifoQueue(int64_t maxsize = 0)
      : ring_(maxsize > 0
                  ? static_cast<size_t>(std::min<int64_t>(maxsize, 4096))
                  : 16),
        maxsize_(maxsize) {}

  FifoQueue(const FifoQueue&) = delete;
  FifoQueue& operator=(const FifoQueue&) = delete;

  // --- Engine operations (called by QueueApi) ------------------------------

  absl::Status PutImpl(T& item, absl::Time deadline) {
    if (!putters_waiting_.load(std::memory_order_relaxed)) {
      const Result r =
          ring_.TryPush(item, maxsize_.load(std::memory_order_relaxed));
      if (r == Result::kOk) {
        AfterPut();
        return absl::OkStatus();
      }
      if (r == Result::kClosed) {
        return ShutDownError("put on a shut down queue");
      }
    }
    return PutSlow(&item, deadline);
  }

  absl::Status PutManyImpl(absl::Span<T> items, absl::Time deadline,
                           size_t* num_put) {
    size_t done = 0;
    absl::Status status;
    // An empty batch is a put too: it fails on a shut down queue.
    if (items.empty() && ring_.closed()) {
      status = ShutDownError("put on a shut down queue");
    }
    if (!putters_waiting_.load(std::memory_order_relaxed)) {
      const int64_t max = maxsize_.load(std::memory_order_relaxed);
      size_t n = 0;
      while (done < items.size() &&
             ring_.TryPushMany(items.data() + done, items.size() - done, max,
                               &n) == Result::kOk) {
        done += n;
      }
      if (done != 0) AfterPut();
    }
    for (; done < items.size(); ++done) {
      status = PutSlow(&items[done], deadline);
      if (!status.ok()) break;
    }
    if (num_put != nullptr) *num_put = done;
    return status;
  }

  // Fills `w` (see QueueApi::GetOne / GetBatch) or fails.
  absl::Status TakeImpl(GetWaiter<T>* w, absl::Time deadline) {
    if (!getters_waiting_.load(std::memory_order_relaxed) && Fill(w) > 0) {
      AfterGet();
      return absl::OkStatus();
    }
    return TakeSlow(w, deadline);
  }

  absl::Status TaskDoneImpl(int64_t count) {
    int64_t now = done_.load(std::memory_order_relaxed);
    int64_t puts;
    do {
      puts = static_cast<int64_t>(ring_.puts());
      if (count < 0 || count > puts - now) {
        return absl::InvalidArgumentError(
            "TaskDone() called more times than there were items");
      }
    } while (!done_.compare_exchange_weak(now, now + count,
                                          std::memory_order_acq_rel,
                                          std::memory_order_relaxed));
    SPINDLE_PERTURB_POINT();
    if (now + count == puts) WakeJoiners();
    return absl::OkStatus();
  }

  bool JoinImpl(absl::Time deadline) {
    absl::MutexLock lock(&task_mu_);
    while (UnfinishedImpl() > 0) {
      if (deadline == absl::InfiniteFuture()) {
        all_done_.Wait(&task_mu_);
      } else if (all_done_.WaitWithDeadline(&task_mu_, deadline)) {
        return UnfinishedImpl() == 0;
      }
    }
    return true;
  }
  int64_t UnfinishedImpl() const {
    // done_ first: done_ <= puts at every instant, so this is never < 0.
    const int64_t done = done_.load(std::memory_order_acquire);
    return static_cast<int64_t>(ring_.puts()) - done;
  }

  void ShutdownImpl(bool immediate) {
    // Dropped items are destroyed after the locks are released, so an
    // item's destructor may use the queue.
    std::vector<T> dropped;
    {
      absl::MutexLock put_lock(&put_mu_);
      absl::MutexLock get_lock(&get_mu_);
      ring_.Close();
      shutdown_ = true;
      ServeGetters();  // Items already put go to waiting getters.
      while (!putters_.empty()) {
        PutWaiter<T>* w = putters_.PopFront();
        w->status = ShutDownError("queue is shut down");
        w->done = true;
        w->cv.Signal();
      }
      putters_waiting_.store(false, std::memory_order_relaxed);
      while (!getters_.empty()) {
        GetWaiter<T>* w = getters_.PopFront();
        w->status = ShutDownError("queue is shut down");
        w->done = true;
        w->cv.Signal();
      }
      getters_waiting_.store(false, std::memory_order_relaxed);
      if (immediate) {
        while (ring_.TryPop([&](T&& item) {
          dropped.push_back(std::move(item));
        }) == Result::kOk) {
        }
        // The dropped items count as done (unfinished never below zero).
        const int64_t n = static_cast<int64_t>(dropped.size());
        const int64_t puts = static_cast<int64_t>(ring_.puts());
        int64_t now = done_.load(std::memory_order_relaxed);
        while (!done_.compare_exchange_weak(now, std::min(puts, now + n),
                                            std::memory_order_acq_rel,
                                            std::memory_order_relaxed)) {
        }
      }
    }
    if (immediate) WakeJoiners();
  }
  bool IsShutdownImpl() const { return ring_.closed(); }

  size_t QsizeImpl() const { return ring_.size(); }
  bool FullImpl() const {
    const int64_t max = maxsize_.load(std::memory_order_relaxed);
    return max > 0 && QsizeImpl() >= static_cast<size_t>(max);
  }
  size_t GettersWaitingImpl() const {
    absl::MutexLock lock(&get_mu_);
    return getters_.size();
  }
  size_t PuttersWaitingImpl() const {
    absl::MutexLock lock(&put_mu_);
    return putters_.size();
  }
  int64_t MaxsizeImpl() const {
    return maxsize_.load(std::memory_order_relaxed);
  }
  void SetMaxsizeImpl(int64_t maxsize) {
    bool put;
    {
      absl::MutexLock lock(&put_mu_);
      maxsize_.store(maxsize, std::memory_order_relaxed);
      put = AdmitPutters() > 0;
    }
    if (put) AfterPut();
  }

 private:
  // --- The putting side ---------------------------------------------------

  // Puts `*item` into the ring (the caller holds put_mu_), growing it when
  // maxsize allows more than it holds. kOk, kFull or kClosed.
  Result PushLocked(T* item) ABSL_EXCLUSIVE_LOCKS_REQUIRED(put_mu_) {
    for (;;) {
      const Result r =
          ring_.TryPush(*item, maxsize_.load(std::memory_order_relaxed));
      if (r == Result::kNeedGrow) {
        absl::MutexLock lock(&get_mu_);  // Lock order: put_mu_, get_mu_.
        ring_.Grow();
        continue;
      }
      // kBusy cannot happen here: Grow runs only under put_mu_.
      return r;
    }
  }

  // The put path once a thread is blocked, the ring is full or the ring
  // must grow: under put_mu_, blocked putters first.
  absl::Status PutSlow(T* item, absl::Time deadline) {
    absl::Status status;
    bool put = false;  // This call put items (its own or admitted ones).
    bool spun = false;
    put_mu_.Lock();
    for (;;) {
      if (!putters_.empty() && AdmitPutters() > 0) put = true;
      if (putters_.empty()) {
        const Result r = PushLocked(item);
        if (r == Result::kOk) {
          put = true;
          break;
        }
        if (r == Result::kClosed) {
          status = ShutDownError("put on a shut down queue");
          break;
        }
      } else if (ring_.closed()) {
        status = ShutDownError("put on a shut down queue");
        break;
      }
      if (Expired(deadline)) {
        status = FullError("queue is full");
        break;
      }
      if (put) {  // Let getters take what was admitted before waiting.
        put_mu_.Unlock();
        AfterPut();
        put = false;
        put_mu_.Lock();
        continue;
      }
      if (!spun && putters_.empty()) {
        spun = true;
        put_mu_.Unlock();
        Spin([this] {
          const int64_t max = maxsize_.load(std::memory_order_relaxed);
          return max <= 0 || ring_.size() < static_cast<size_t>(max);
        });
        put_mu_.Lock();
        continue;
      }
      status = AwaitRoom(item, deadline);
      break;
    }
    put_mu_.Unlock();
    SPINDLE_PERTURB_POINT();
    if (put) AfterPut();
    return status;
  }

  // Admits blocked putters, oldest first, while there is room; returns how
  // many.
  size_t AdmitPutters() ABSL_EXCLUSIVE_LOCKS_REQUIRED(put_mu_) {
    size_t n = 0;
    while (!putters_.empty()) {
      PutWaiter<T>* w = putters_.front();
      if (PushLocked(w->item) != Result::kOk) break;
      putters_.PopFront();
      w->done = true;
      w->cv.Signal();
      ++n;
    }
    if (putters_.empty()) {
      putters_waiting_.store(false, std::memory_order_relaxed);
    }
    return n;
  }

  // --- The getting side ---------------------------------------------------

  // Fills `w` from the ring without waiting; returns how many items.
  size_t Fill(GetWaiter<T>* w) {
    if (w->batch == nullptr) {
      if (ring_.TryPop([w](T&& item) { w->item.emplace(std::move(item)); }) !=
          Result::kOk) {
        return 0;
      }
      w->received = 1;
      return 1;
    }
    size_t n = 0;
    ring_.TryPopMany(
        w->max_items, [w](T&& item) { w->batch->push_back(std::move(item)); },
        &n);
    w->received = n;
    return n;
  }

  // The get path once a thread is blocked, the ring is empty or growing:
  // under get_mu_, blocked getters first.
  absl::Status TakeSlow(GetWaiter<T>* w, absl::Time deadline) {
    absl::Status status;
    bool got = false;  // This call took items (its own or for others).
    bool spun = false;
    get_mu_.Lock();
    for (;;) {
      if (!getters_.empty() && ServeGetters() > 0) got = true;
      if (getters_.empty() && Fill(w) > 0) {
        got = true;
        break;
      }
      if (shutdown_) {
        status = ShutDownError("get on a shut down, empty queue");
        break;
      }
      if (Expired(deadline)) {
        status = EmptyError("queue is empty");
        break;
      }
      if (got) {  // Let putters into the freed slots before waiting.
        get_mu_.Unlock();
        AfterGet();
        got = false;
        get_mu_.Lock();
        continue;
      }
      if (!spun && getters_.empty()) {
        spun = true;
        get_mu_.Unlock();
        Spin([this] { return ring_.size() != 0; });
        get_mu_.Lock();
        continue;
      }
      status = AwaitItem(w, deadline);
      break;
    }
    get_mu_.Unlock();
    SPINDLE_PERTURB_POINT();
    if (got) AfterGet();
    return status;
  }

  // Hands available items to blocked getters, oldest first; returns how
  // many items.
  size_t ServeGetters() ABSL_EXCLUSIVE_LOCKS_REQUIRED(get_mu_) {
    size_t n = 0;
    while (!getters_.empty()) {
      GetWaiter<T>* w = getters_.front();
      const size_t got = Fill(w);
      if (got == 0) break;
      getters_.PopFront();
      n += got;
      w->done = true;
      w->cv.Signal();
    }
    if (getters_.empty()) {
      getters_waiting_.store(false, std::memory_order_relaxed);
    }
    return n;
  }

  // --- Hand-offs between the two sides (no lock held) ----------------------

  // After items were put: serve blocked getters, and then whatever that
  // makes possible on the other side, until neither side can progress. The
  // seq_cst loads of the flags pair with the waiters' seq_cst stores (see
  // the class comment).
  void AfterPut() { Settle(/*put=*/true); }
  // After items were taken: admit blocked putters, and so on.
  void AfterGet() { Settle(/*put=*/false); }
  void Settle(bool put) {
    for (;;) {
      SPINDLE_PERTURB_POINT();
      if (put) {
        if (!getters_waiting_.load(std::memory_order_seq_cst)) return;
        SPINDLE_PERTURB_POINT();
        absl::MutexLock lock(&get_mu_);
        if (ServeGetters() == 0) return;
      } else {
        if (!putters_waiting_.load(std::memory_order_seq_cst)) return;
        SPINDLE_PERTURB_POINT();
        absl::MutexLock lock(&put_mu_);
        if (AdmitPutters() == 0) return;
      }
      put = !put;
    }
  }

  // --- Waiting ------------------------------------------------------------

  // Blocks in the putters' FIFO until `*item` is admitted (OkStatus), the
  // deadline passes (FullError, item untouched) or the queue is shut down.
  absl::Status AwaitRoom(T* item, absl::Time deadline)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(put_mu_) {
    PutWaiter<T> w;
    w.item = item;
    putters_.PushBack(&w);
    putters_waiting_.store(true, std::memory_order_seq_cst);
    SPINDLE_PERTURB_POINT();
    // A get may have freed a slot before it could see the flag: AdmitPutters
    // reads the get counter (seq_cst) before deciding there is no room.
    if (AdmitPutters() > 0) {
      put_mu_.Unlock();
      AfterPut();
      put_mu_.Lock();
    }
    if (!AwaitServed(&w, &putters_, &put_mu_, deadline)) {
      if (putters_.empty()) {
        putters_waiting_.store(false, std::memory_order_relaxed);
      }
      return FullError("timed out waiting for room in the queue");
    }
    return w.status;
  }

  // Blocks in the getters' FIFO until `w` is served (OkStatus), the
  // deadline passes (EmptyError) or the queue is shut down.
  absl::Status AwaitItem(GetWaiter<T>* w, absl::Time deadline)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(get_mu_) {
    getters_.PushBack(w);
    getters_waiting_.store(true, std::memory_order_seq_cst);
    SPINDLE_PERTURB_POINT();
    // A put may have claimed a position before it could see the flag:
    // ServeGetters reads the put counter (seq_cst) before deciding the ring
    // is empty, and waits for a claimed item to be published.
    if (ServeGetters() > 0) {
      get_mu_.Unlock();
      AfterGet();
      get_mu_.Lock();
    }
    if (!AwaitServed(w, &getters_, &get_mu_, deadline)) {
      if (getters_.empty()) {
        getters_waiting_.store(false, std::memory_order_relaxed);
      }
      return EmptyError("timed out waiting for an item");
    }
    return w->status;
  }

  void WakeJoiners() {
    absl::MutexLock lock(&task_mu_);
    all_done_.SignalAll();
  }

  // The items (lock-free; see queue_slots.h).
  Ring ring_;

  // Read by every operation, written rarely.
  alignas(64) std::atomic<int64_t> maxsize_;
  std::atomic<bool> getters_waiting_{false};  // !getters_.empty()
  std::atomic<bool> putters_waiting_{false};  // !putters_.empty()

  // The slow paths.
  alignas(64) mutable absl::Mutex put_mu_;
  WaiterList<PutWaiter<T>> putters_ ABSL_GUARDED_BY(put_mu_);
  alignas(64) mutable absl::Mutex get_mu_;
  WaiterList<GetWaiter<T>> getters_ ABSL_GUARDED_BY(get_mu_);
  bool shutdown_ ABSL_GUARDED_BY(get_mu_) = false;  // Both locks to write.

  // Task tracking: TaskDone counts (plus dropped items); Join.
  alignas(64) std::atomic<int64_t> done_{0};
  absl::Mutex task_mu_;
  absl::CondVar all_done_;  // Signalled when unfinished reaches 0.
};

}  // namespace queue_internal
}  // namespace spindle

#endif  // SPINDLE_CONCURRENCY_INTERNAL_QUEUE_FIFO_H_
