// Copyright 2026 The spindle Authors.
//
// FifoQueue, the two-lock ring engine of Queue and SimpleQueue (private to
// spindle/concurrency/queue.h).

#ifndef SPINDLE_CONCURRENCY_INTERNAL_QUEUE_FIFO_H_
#define SPINDLE_CONCURRENCY_INTERNAL_QUEUE_FIFO_H_

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <utility>
#include <vector>

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
// FifoQueue: the engine of Queue and SimpleQueue. A ring buffer with two
// locks, one for the putting side and one for the getting side, so that
// producers and consumers do not contend with each other:
//
//   * `tail_` (next slot to fill) is written only under `put_mu_`, `head_`
//     (next slot to empty) only under `get_mu_`; both are ever-increasing
//     counters, each on its own cache line. A putter publishes an item with
//     a release store of `tail_`, a getter frees a slot with a release store
//     of `head_`. Each side keeps a cached copy of the other side's counter
//     and re-reads the real one only when the copy says "full" / "empty",
//     so in steady state a put and a get touch no common cache line except
//     the item's slot.
//   * The ring grows (doubling) when a put needs room beyond its capacity;
//     growing takes both locks (always `put_mu_` first).
//   * Blocked getters wait in a FIFO list under `get_mu_`, blocked putters
//     in one under `put_mu_`; `getters_flag_` / `putters_flag_` say whether a
//     list is non-empty. A put checks `getters_flag_` after publishing (and
//     a getter re-checks `tail_` after raising the flag), with a sequentially
//     consistent fence on both sides, so one of the two always sees the
//     other: no lost wake-up. Whoever holds a side's lock serves that side's
//     waiters, oldest first, before serving itself, so no newcomer barges
//     ahead of a blocked thread.
//   * `shutdown_` and the ring's storage change only with both locks held,
//     so reading them under either lock is safe.
//
// Its public member functions are the engine operations QueueApi calls (see
// queue.h).
// ---------------------------------------------------------------------------
template <typename T>
class FifoQueue {
 public:
  explicit FifoQueue(int64_t maxsize = 0) : maxsize_(maxsize) {
    const size_t want =
        maxsize > 0 ? static_cast<size_t>(std::min<int64_t>(maxsize, 4096))
                    : 16;
    size_t cap = 16;
    while (cap < want) cap <<= 1;
    slots_ = std::allocator<T>().allocate(cap);
    mask_ = cap - 1;
  }
  ~FifoQueue() {
    const size_t tail = tail_.load(std::memory_order_relaxed);
    for (size_t i = head_.load(std::memory_order_relaxed); i != tail; ++i) {
      slots_[i & mask_].~T();
    }
    std::allocator<T>().deallocate(slots_, mask_ + 1);
  }

  FifoQueue(const FifoQueue&) = delete;
  FifoQueue& operator=(const FifoQueue&) = delete;

  // --- Engine operations (called by QueueApi) ------------------------------

  absl::Status PutImpl(T& item, absl::Time deadline) {
    absl::Status status;
    bool put = false;  // This call put items (its own or admitted ones).
    bool spun = false;
    put_mu_.Lock();
    for (;;) {
      if (shutdown_) {
        status = ShutDownError("put on a shut down queue");
        break;
      }
      if (!putters_.empty() && AdmitPutters() > 0) put = true;
      if (putters_.empty() && HasRoom()) {
        PushLocked(std::move(item));
        put = true;
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
        const size_t max = static_cast<size_t>(maxsize_);
        put_mu_.Unlock();
        Spin([this, max] {
          return tail_.load(std::memory_order_relaxed) -
                     head_.load(std::memory_order_relaxed) <
                 max;
        });
        put_mu_.Lock();
        continue;
      }
      status = AwaitRoom(&item, deadline);
      break;
    }
    put_mu_.Unlock();
    SPINDLE_PERTURB_POINT();
    if (put) AfterPut();
    return status;
  }

  absl::Status PutManyImpl(absl::Span<T> items, absl::Time deadline,
                           size_t* num_put) {
    size_t done = 0;
    absl::Status status;
    bool put = false;
    put_mu_.Lock();
    // An empty batch is a put too: it fails on a shut down queue.
    if (items.empty() && shutdown_) {
      status = ShutDownError("put on a shut down queue");
    }
    while (done < items.size()) {
      if (shutdown_) {
        status = ShutDownError("put on a shut down queue");
        break;
      }
      if (!putters_.empty() && AdmitPutters() > 0) put = true;
      const size_t before = done;
      while (done < items.size() && putters_.empty() && HasRoom()) {
        PushLocked(std::move(items[done++]));
      }
      if (done != before) put = true;
      if (done == items.size()) break;
      if (Expired(deadline)) {
        status = FullError(done == 0 ? "queue is full"
                                     : "timed out waiting for room");
        break;
      }
      if (put) {  // Let getters take what is there before waiting.
        put_mu_.Unlock();
        AfterPut();
        put = false;
        put_mu_.Lock();
        continue;
      }
      // Wait like a single Put for the next item, then continue.
      status = AwaitRoom(&items[done], deadline);
      if (!status.ok()) break;
      ++done;
    }
    put_mu_.Unlock();
    SPINDLE_PERTURB_POINT();
    if (put) AfterPut();
    if (num_put != nullptr) *num_put = done;
    return status;
  }

  // Fills `w` (see QueueApi::GetOne / GetBatch) or fails.
  absl::Status TakeImpl(GetWaiter<T>* w, absl::Time deadline) {
    absl::Status status;
    bool got = false;  // This call took items (its own or for others).
    bool spun = false;
    get_mu_.Lock();
    for (;;) {
      if (!getters_.empty() && ServeGetters() > 0) got = true;
      if (getters_.empty() && HasItem()) {
        FillLocked(w);
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
        Spin([this] {
          return tail_.load(std::memory_order_relaxed) !=
                 head_.load(std::memory_order_relaxed);
        });
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

  absl::Status TaskDoneImpl(int64_t count) {
    int64_t now = unfinished_.load(std::memory_order_relaxed);
    do {
      if (count < 0 || count > now) {
        return absl::InvalidArgumentError(
            "TaskDone() called more times than there were items");
      }
    } while (!unfinished_.compare_exchange_weak(now, now - count,
                                                std::memory_order_acq_rel,
                                                std::memory_order_relaxed));
    SPINDLE_PERTURB_POINT();
    if (now == count) WakeJoiners();
    return absl::OkStatus();
  }

  bool JoinImpl(absl::Time deadline) {
    absl::MutexLock lock(&task_mu_);
    while (unfinished_.load(std::memory_order_acquire) > 0) {
      if (deadline == absl::InfiniteFuture()) {
        all_done_.Wait(&task_mu_);
      } else if (all_done_.WaitWithDeadline(&task_mu_, deadline)) {
        return unfinished_.load(std::memory_order_acquire) == 0;
      }
    }
    return true;
  }
  int64_t UnfinishedImpl() const {
    return unfinished_.load(std::memory_order_acquire);
  }

  void ShutdownImpl(bool immediate) {
    // Dropped items are destroyed after the locks are released, so an
    // item's destructor may use the queue.
    std::vector<T> dropped;
    {
      absl::MutexLock put_lock(&put_mu_);
      absl::MutexLock get_lock(&get_mu_);
      shutdown_ = true;
      ServeGetters();  // Items already published go to waiting getters.
      while (!putters_.empty()) {
        PutWaiter<T>* w = putters_.PopFront();
        w->status = ShutDownError("queue is shut down");
        w->done = true;
        w->cv.Signal();
      }
      putters_flag_.store(false, std::memory_order_relaxed);
      while (!getters_.empty()) {
        GetWaiter<T>* w = getters_.PopFront();
        w->status = ShutDownError("queue is shut down");
        w->done = true;
        w->cv.Signal();
      }
      getters_flag_.store(false, std::memory_order_relaxed);
      if (immediate) {
        while (HasItem()) dropped.push_back(PopLocked());
        const int64_t n = static_cast<int64_t>(dropped.size());
        int64_t now = unfinished_.load(std::memory_order_relaxed);
        while (!unfinished_.compare_exchange_weak(
            now, std::max<int64_t>(0, now - n), std::memory_order_acq_rel,
            std::memory_order_relaxed)) {
        }
      }
    }
    if (immediate) WakeJoiners();
  }
  bool IsShutdownImpl() const {
    absl::MutexLock lock(&get_mu_);
    return shutdown_;
  }

  size_t QsizeImpl() const {
    // head first: head <= tail at every instant, so this never underflows.
    const size_t head = head_.load(std::memory_order_acquire);
    return tail_.load(std::memory_order_acquire) - head;
  }
  bool FullImpl() const {
    absl::MutexLock lock(&put_mu_);
    return maxsize_ > 0 && QsizeImpl() >= static_cast<size_t>(maxsize_);
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
    absl::MutexLock lock(&put_mu_);
    return maxsize_;
  }
  void SetMaxsizeImpl(int64_t maxsize) {
    bool put;
    {
      absl::MutexLock lock(&put_mu_);
      maxsize_ = maxsize;
      head_cache_ = head_.load(std::memory_order_acquire);
      put = AdmitPutters() > 0;
    }
    if (put) AfterPut();
  }

 private:
  // --- The putting side (put_mu_) -----------------------------------------

  // True if one more item fits under maxsize (refreshes the cached head).
  bool HasRoom() ABSL_EXCLUSIVE_LOCKS_REQUIRED(put_mu_) {
    if (maxsize_ <= 0) return true;
    const size_t tail = tail_.load(std::memory_order_relaxed);
    const size_t max = static_cast<size_t>(maxsize_);
    if (tail - head_cache_ < max) return true;
    head_cache_ = head_.load(std::memory_order_acquire);
    return tail - head_cache_ < max;
  }

  // Appends `item` (the caller checked HasRoom) and counts a task.
  void PushLocked(T&& item) ABSL_EXCLUSIVE_LOCKS_REQUIRED(put_mu_) {
    const size_t tail = tail_.load(std::memory_order_relaxed);
    if (tail - head_cache_ > mask_) {
      head_cache_ = head_.load(std::memory_order_acquire);
      if (tail - head_cache_ > mask_) Grow();
    }
    ::new (static_cast<void*>(slots_ + (tail & mask_))) T(std::move(item));
    // Counted before it is published, so a TaskDone for it never underflows.
    unfinished_.fetch_add(1, std::memory_order_relaxed);
    SPINDLE_PERTURB_POINT();
    tail_.store(tail + 1, std::memory_order_release);
  }

  // Doubles the ring. Takes get_mu_ (lock order: put_mu_, then get_mu_).
  void Grow() ABSL_EXCLUSIVE_LOCKS_REQUIRED(put_mu_) {
    absl::MutexLock lock(&get_mu_);
    const size_t head = head_.load(std::memory_order_relaxed);
    const size_t tail = tail_.load(std::memory_order_relaxed);
    const size_t old_cap = mask_ + 1;
    const size_t new_mask = old_cap * 2 - 1;
    T* fresh = std::allocator<T>().allocate(old_cap * 2);
    for (size_t i = head; i != tail; ++i) {
      T* from = slots_ + (i & mask_);
      ::new (static_cast<void*>(fresh + (i & new_mask))) T(std::move(*from));
      from->~T();
    }
    std::allocator<T>().deallocate(slots_, old_cap);
    slots_ = fresh;
    mask_ = new_mask;
    head_cache_ = head;
  }

  // Admits blocked putters, oldest first, while there is room; returns how
  // many.
  size_t AdmitPutters() ABSL_EXCLUSIVE_LOCKS_REQUIRED(put_mu_) {
    size_t n = 0;
    while (!putters_.empty() && HasRoom()) {
      PutWaiter<T>* w = putters_.PopFront();
      PushLocked(std::move(*w->item));
      w->done = true;
      w->cv.Signal();
      ++n;
    }
    if (putters_.empty()) putters_flag_.store(false, std::memory_order_relaxed);
    return n;
  }

  // --- The getting side (get_mu_) -----------------------------------------

  // True if an item is available (refreshes the cached tail).
  bool HasItem() ABSL_EXCLUSIVE_LOCKS_REQUIRED(get_mu_) {
    const size_t head = head_.load(std::memory_order_relaxed);
    if (head != tail_cache_) return true;
    tail_cache_ = tail_.load(std::memory_order_acquire);
    return head != tail_cache_;
  }

  // Removes the oldest item (the caller checked HasItem).
  T PopLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(get_mu_) {
    const size_t head = head_.load(std::memory_order_relaxed);
    T* slot = slots_ + (head & mask_);
    T item(std::move(*slot));
    slot->~T();
    SPINDLE_PERTURB_POINT();
    head_.store(head + 1, std::memory_order_release);
    return item;
  }

  // Fills `w` (the caller checked HasItem); returns how many items.
  size_t FillLocked(GetWaiter<T>* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(get_mu_) {
    if (w->batch == nullptr) {
      w->item.emplace(PopLocked());
      w->received = 1;
      return 1;
    }
    size_t n = 0;
    for (; n < w->max_items && HasItem(); ++n) {
      w->batch->push_back(PopLocked());
    }
    w->received = n;
    return n;
  }

  // Hands available items to blocked getters, oldest first; returns how
  // many items.
  size_t ServeGetters() ABSL_EXCLUSIVE_LOCKS_REQUIRED(get_mu_) {
    size_t n = 0;
    while (!getters_.empty() && HasItem()) {
      GetWaiter<T>* w = getters_.PopFront();
      n += FillLocked(w);
      w->done = true;
      w->cv.Signal();
    }
    if (getters_.empty()) getters_flag_.store(false, std::memory_order_relaxed);
    return n;
  }

  // --- Hand-offs between the two sides (no lock held) ----------------------

  // After items were put: serve blocked getters, and then whatever that
  // makes possible on the other side, until neither side can progress.
  void AfterPut() { Settle(/*put=*/true); }
  // After items were taken: admit blocked putters, and so on.
  void AfterGet() { Settle(/*put=*/false); }
  void Settle(bool put) {
    for (;;) {
      SPINDLE_PERTURB_POINT();
      std::atomic_thread_fence(std::memory_order_seq_cst);
      if (put) {
        if (!getters_flag_.load(std::memory_order_relaxed)) return;
        SPINDLE_PERTURB_POINT();
        absl::MutexLock lock(&get_mu_);
        if (ServeGetters() == 0) return;
      } else {
        if (!putters_flag_.load(std::memory_order_relaxed)) return;
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
    putters_flag_.store(true, std::memory_order_relaxed);
    SPINDLE_PERTURB_POINT();
    std::atomic_thread_fence(std::memory_order_seq_cst);
    // A get may have freed a slot before it could see the flag.
    if (AdmitPutters() > 0) {
      put_mu_.Unlock();
      AfterPut();
      put_mu_.Lock();
    }
    if (!AwaitServed(&w, &putters_, &put_mu_, deadline)) {
      if (putters_.empty()) {
        putters_flag_.store(false, std::memory_order_relaxed);
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
    getters_flag_.store(true, std::memory_order_relaxed);
    SPINDLE_PERTURB_POINT();
    std::atomic_thread_fence(std::memory_order_seq_cst);
    // A put may have published an item before it could see the flag.
    if (ServeGetters() > 0) {
      get_mu_.Unlock();
      AfterGet();
      get_mu_.Lock();
    }
    if (!AwaitServed(w, &getters_, &get_mu_, deadline)) {
      if (getters_.empty()) {
        getters_flag_.store(false, std::memory_order_relaxed);
      }
      return EmptyError("timed out waiting for an item");
    }
    return w->status;
  }

  void WakeJoiners() {
    absl::MutexLock lock(&task_mu_);
    all_done_.SignalAll();
  }

  // The putting side's line(s).
  alignas(64) mutable absl::Mutex put_mu_;
  size_t head_cache_ ABSL_GUARDED_BY(put_mu_) = 0;  // <= head_
  int64_t maxsize_ ABSL_GUARDED_BY(put_mu_);
  WaiterList<PutWaiter<T>> putters_ ABSL_GUARDED_BY(put_mu_);
  // Unfinished tasks: raised by puts, lowered by TaskDone and immediate
  // Shutdown.
  std::atomic<int64_t> unfinished_{0};
  alignas(64) std::atomic<size_t> tail_{0};  // Written under put_mu_.

  // The getting side's line(s).
  alignas(64) mutable absl::Mutex get_mu_;
  size_t tail_cache_ ABSL_GUARDED_BY(get_mu_) = 0;  // <= tail_
  WaiterList<GetWaiter<T>> getters_ ABSL_GUARDED_BY(get_mu_);
  alignas(64) std::atomic<size_t> head_{0};  // Written under get_mu_.

  // Read by both sides, rarely written.
  alignas(64) std::atomic<bool> getters_flag_{false};  // !getters_.empty()
  std::atomic<bool> putters_flag_{false};              // !putters_.empty()
  bool shutdown_ = false;  // Written with both locks held.
  T* slots_;               // Changed (Grow) with both locks held.
  size_t mask_;            // Capacity - 1 (a power of two minus one).

  // Join.
  alignas(64) absl::Mutex task_mu_;
  absl::CondVar all_done_;  // Signalled when unfinished_ reaches 0.
};

}  // namespace queue_internal
}  // namespace spindle

#endif  // SPINDLE_CONCURRENCY_INTERNAL_QUEUE_FIFO_H_
