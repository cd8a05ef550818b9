// Copyright 2026 The spindle Authors.
//
// -----------------------------------------------------------------------------
// File: queue.h
// -----------------------------------------------------------------------------
//
// Blocking queues with the semantics of Python's `queue` module (CPython
// 3.13, including `shutdown`), built for throughput:
//
//   Python                          spindle
//   ------------------------------  ------------------------------------------
//   queue.Queue(maxsize)            Queue<T>(maxsize)            FIFO
//   queue.LifoQueue(maxsize)        LifoQueue<T>(maxsize)        LIFO (stack)
//   queue.PriorityQueue(maxsize)    PriorityQueue<T, Compare>(maxsize)
//   queue.SimpleQueue()             SimpleQueue<T>()             unbounded FIFO
//   put(x) / put(x, timeout=t)      Put(x) / PutFor(x, t) / PutUntil(x, when)
//   put_nowait(x), put(x, False)    TryPut(x)
//   get() / get(timeout=t)          Get() / GetFor(t) / GetUntil(when)
//   get_nowait(), get(False)        TryGet()
//   qsize() / empty() / full()      qsize() / empty() / full()
//   task_done() / join()            TaskDone() / Join() / JoinFor(t)
//   shutdown(immediate)             Shutdown(immediate)
//   is_shutdown                     is_shutdown()
//   maxsize (attribute)             maxsize() / set_maxsize(n)
//   unfinished_tasks                unfinished_tasks()
//   (none)                          PutMany / GetMany batch forms
//
// Errors (see spindle/concurrency/status.h; test them with the predicates,
// never by comparing strings):
//
//   * `IsFull(s)`     (kResourceExhausted): a `TryPut` found the queue full,
//                     or a `PutFor`/`PutUntil` timed out waiting for room
//                     (Python raises queue.Full in both cases, and so do we).
//   * `IsEmpty(s)`    (kUnavailable): a `TryGet` found the queue empty, or a
//                     `GetFor`/`GetUntil` timed out waiting for an item
//                     (Python raises queue.Empty in both cases; a timed-out
//                     get is *not* reported as kDeadlineExceeded).
//   * `IsShutDown(s)` (kFailedPrecondition): the queue was shut down. It wins
//                     over Full and Empty: a put after `Shutdown` fails with
//                     it even when the queue is full, and a get on a shut
//                     down, empty queue fails with it even in the `Try` form.
//   * `absl::IsInvalidArgument(s)`: `TaskDone` called more times than items
//                     were put (Python's ValueError), or `GetMany` asked for
//                     zero items.
//
// Timeouts. `…For(d)` waits at most `d`; `…Until(t)` waits until `t`. A zero
// or negative duration, or a deadline in the past, means "do not block": the
// call behaves exactly like its `Try…` form. (Python raises ValueError for a
// negative timeout; spindle follows the library-wide rule instead.)
// `absl::InfiniteDuration()` / `absl::InfiniteFuture()` mean "block".
//
// Timeouts and the system clock. `…For(d)` turns `d` into the wall-clock
// deadline `absl::Now() + d` when it is called (`…Until(t)` takes one), and
// each blocked thread waits with Abseil's `CondVar::WaitWithDeadline`, which
// (Abseil 20220623) sleeps until that absolute time on CLOCK_REALTIME (a futex
// wait with FUTEX_CLOCK_REALTIME). If the system clock is stepped during the
// wait (settimeofday, an NTP step; gradual slewing does not matter), the wait
// ends that much early when the clock is set forward, or lasts that much longer
// when it is set back. spindle's io/ event loop and selectors run on
// CLOCK_MONOTONIC instead.
//
// Items and failed puts. Every put takes its item either as `T&&` or as
// `const T&`. A put moves from the item *only when it succeeds*: when it
// fails (Full, ShutDown, timeout) the caller's object is left untouched, so
// nothing is ever silently lost:
//
//   std::unique_ptr<Job> job = ...;
//   if (absl::Status s = q.PutFor(std::move(job), absl::Seconds(1)); !s.ok()) {
//     // `job` still owns the Job here: retry, log it, or run it inline.
//   }
//
// The batch form `PutMany(absl::Span<T>)` moves items from the front of the
// span and reports how many it took; the rest are left untouched.
// Items still in the queue when an immediate `Shutdown(true)` happens are
// destroyed (and counted as done for `Join`), exactly as Python drops them;
// use `Shutdown(false)` and drain with `Get` if you need them back.
//
// Fairness. Waiters are served strictly first come, first served, with
// direct hand-off and no barging:
//
//   * A getter that has to block joins a FIFO list. Items put while getters
//     are blocked are handed to the blocked getters, oldest first, before
//     the put returns; a getter that arrives later cannot take them (a
//     newcomer that finds getters still queued serves them first).
//   * Likewise a putter that has to block on a full queue joins a FIFO list,
//     and each slot a get frees is given to the oldest blocked putter (its
//     item enters the queue before the get returns; a newcomer putter that
//     finds putters still queued admits them first).
//   * Each blocked thread has its own wake-up handle, so a put wakes exactly
//     one getter and a get wakes exactly one putter (no thundering herd).
//
// A thread spins briefly (a few microseconds, only on multi-core machines and
// only when nobody is queued ahead of it) before it blocks; while it spins it
// is not yet "blocked" and has no place in the FIFO.
//
// Ordering. `Queue` is FIFO, `LifoQueue` LIFO. `PriorityQueue<T, Compare>`
// returns the *smallest* item first according to `Compare` (like Python's
// heapq, and unlike std::priority_queue); items that compare equal come out in
// the order they were put (it is stable, which Python's PriorityQueue is not).
//
// Where things are. The four public classes are at the end of this file;
// their member functions (shared by all four) are documented once on
// `queue_internal::QueueApi`. Two engines implement them: `FifoQueue`
// (Queue, SimpleQueue) keeps putters and getters on separate locks and cache
// lines, so one producer and one consumer hardly touch each other's memory;
// `BasicQueue` (LifoQueue, PriorityQueue) is one mutex around a stack or a
// heap, whose order needs the whole container under one lock.
//
// Thread safety. All member functions of these classes may be called
// concurrently from any thread on the same queue. A successful put of an item
// happens-before the get that returns that item; every `TaskDone`
// happens-before the return of a `Join` it releases; `Shutdown` happens-before
// every call that fails with its error. `qsize()`, `empty()` and `full()` are
// snapshots that may be stale by the time they return; use them for monitoring,
// not for deciding whether a call will block. The queue must outlive every call
// made on it: destroying it while a thread is blocked in it is undefined
// behaviour.
//
// Requirements on T: move-constructible without throwing (std::unique_ptr,
// absl::AnyInvocable, std::string, std::vector… all qualify). `LifoQueue` and
// `PriorityQueue` also need nothrow move assignment, and `PriorityQueue`'s
// `Compare` must not throw. Copyable types may also be put by const
// reference (the copy is made before the queue is locked).

#ifndef SPINDLE_CONCURRENCY_QUEUE_H_
#define SPINDLE_CONCURRENCY_QUEUE_H_

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <new>
#include <optional>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "spindle/concurrency/internal/spin.h"
#include "spindle/concurrency/status.h"

namespace spindle {
namespace queue_internal {

// ---------------------------------------------------------------------------
// Containers for BasicQueue (LifoQueue, PriorityQueue). Each offers
// Push(T&&), Pop() -> T, size(), empty(), Clear(), Swap(). None is
// thread-safe; BasicQueue guards them with its mutex. (Queue and SimpleQueue
// use FifoQueue's own ring, below.)
// ---------------------------------------------------------------------------

// A LIFO stack.
template <typename T>
class Stack {
 public:
  explicit Stack(size_t initial_capacity) {
    items_.reserve(std::min<size_t>(initial_capacity, 1024));
  }
  size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  void Push(T&& item) { items_.push_back(std::move(item)); }
  T Pop() {
    T item(std::move(items_.back()));
    items_.pop_back();
    return item;
  }
  size_t Clear() {
    const size_t n = items_.size();
    items_.clear();
    return n;
  }
  void Swap(Stack& other) noexcept { items_.swap(other.items_); }

 private:
  std::vector<T> items_;
};

// A stable binary min-heap: the smallest item per `Compare` comes out first;
// ties come out in insertion order (each entry carries a sequence number).
template <typename T, typename Compare>
class StableHeap {
 public:
  explicit StableHeap(size_t initial_capacity) {
    entries_.reserve(std::min<size_t>(initial_capacity, 1024));
  }
  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  void Push(T&& item) {
    entries_.push_back(Entry{std::move(item), next_seq_++});
    std::push_heap(entries_.begin(), entries_.end(), ComesLater{&compare_});
  }
  T Pop() {
    std::pop_heap(entries_.begin(), entries_.end(), ComesLater{&compare_});
    T item(std::move(entries_.back().value));
    entries_.pop_back();
    return item;
  }
  size_t Clear() {
    const size_t n = entries_.size();
    entries_.clear();
    return n;
  }
  // Swaps the items only (each heap keeps its own sequence counter, which
  // only has to grow while the heap is in use).
  void Swap(StableHeap& other) noexcept { entries_.swap(other.entries_); }

 private:
  struct Entry {
    T value;
    uint64_t seq;
  };
  // std heap algorithms keep the "largest" element at the front, so
  // "larger" here means "comes out earlier".
  struct ComesLater {
    const Compare* compare;
    bool operator()(const Entry& a, const Entry& b) const {
      if ((*compare)(b.value, a.value)) return true;
      if ((*compare)(a.value, b.value)) return false;
      return b.seq < a.seq;
    }
  };

  std::vector<Entry> entries_;
  uint64_t next_seq_ = 0;
  Compare compare_;
};

// ---------------------------------------------------------------------------
// Waiters: one node per blocked thread, on that thread's stack, linked into a
// FIFO list guarded by the queue's mutex. Each node has its own CondVar, so
// serving a node wakes exactly that thread.
// ---------------------------------------------------------------------------

template <typename Node>
class WaiterList {
 public:
  bool empty() const { return head_ == nullptr; }
  size_t size() const { return size_; }
  void PushBack(Node* n) {
    ++size_;
    n->next = nullptr;
    n->prev = tail_;
    if (tail_ != nullptr) {
      tail_->next = n;
    } else {
      head_ = n;
    }
    tail_ = n;
  }
  void Remove(Node* n) {
    --size_;
    if (n->prev != nullptr) {
      n->prev->next = n->next;
    } else {
      head_ = n->next;
    }
    if (n->next != nullptr) {
      n->next->prev = n->prev;
    } else {
      tail_ = n->prev;
    }
    n->prev = n->next = nullptr;
  }
  Node* PopFront() {
    Node* n = head_;
    Remove(n);
    return n;
  }

 private:
  Node* head_ = nullptr;
  Node* tail_ = nullptr;
  size_t size_ = 0;
};

template <typename T>
struct GetWaiter {
  GetWaiter* prev = nullptr;
  GetWaiter* next = nullptr;
  absl::CondVar cv;
  std::vector<T>* batch = nullptr;  // GetMany: append here, up to max_items.
  size_t max_items = 1;
  size_t received = 0;
  std::optional<T> item;  // Get: the item handed over.
  bool done = false;      // Served (received > 0) or failed (status).
  absl::Status status;
};

template <typename T>
struct PutWaiter {
  PutWaiter* prev = nullptr;
  PutWaiter* next = nullptr;
  absl::CondVar cv;
  T* item = nullptr;  // The caller's item; moved from only when admitted.
  bool done = false;  // Admitted (status ok) or failed (status).
  absl::Status status;
};

// True when `deadline` has passed (InfinitePast: always; InfiniteFuture:
// never, without reading the clock).
inline bool Expired(absl::Time deadline) {
  if (deadline == absl::InfiniteFuture()) return false;
  return deadline == absl::InfinitePast() || deadline <= absl::Now();
}

// The deadline for a `…For(timeout)` call; InfinitePast means "do not block".
inline absl::Time DeadlineAfter(absl::Duration timeout) {
  if (timeout == absl::InfiniteDuration()) return absl::InfiniteFuture();
  if (timeout <= absl::ZeroDuration()) return absl::InfinitePast();
  return absl::Now() + timeout;
}

// Waits on `w->cv` (with `mu` held) until `w->done` or the deadline; returns
// false on timeout, with `w` removed from `list`.
template <typename Node>
bool AwaitServed(Node* w, WaiterList<Node>* list, absl::Mutex* mu,
                 absl::Time deadline) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
  while (!w->done) {
    if (deadline == absl::InfiniteFuture()) {
      w->cv.Wait(mu);
    } else if (w->cv.WaitWithDeadline(mu, deadline) && !w->done) {
      list->Remove(w);
      return false;
    }
  }
  return true;
}

// Polls `ready` (unlocked) briefly before a thread blocks; see spin.h.
template <typename Ready>
void Spin(Ready ready) {
  spindle::internal::SpinUntil(ready, spindle::internal::SpinBudget(200));
}

// ---------------------------------------------------------------------------
// QueueApi: the public interface shared by all four queue kinds, documented
// here once. `Impl` (BasicQueue or FifoQueue) supplies the *Impl functions.
// ---------------------------------------------------------------------------
template <typename Impl, typename T>
class QueueApi {
  static_assert(std::is_nothrow_move_constructible_v<T>,
                "spindle queues need T's move constructor to be noexcept");

 public:
  // --- Put ----------------------------------------------------------------
  //
  // Put(item): blocks while the queue is full (qsize() >= maxsize() > 0) or
  // while earlier putters are still blocked. Wakes when a get (or
  // set_maxsize) gives it a slot -> OkStatus, or when the queue is shut down
  // -> ShutDownError. PutFor/PutUntil also wake at the deadline ->
  // FullError. TryPut never blocks: FullError when there is no room now.
  // ShutDownError wins over FullError. On any error `item` is untouched.
  absl::Status Put(T&& item) {
    return impl().PutImpl(item, absl::InfiniteFuture());
  }
  absl::Status Put(const T& item) {
    T copy(item);
    return Put(std::move(copy));
  }
  absl::Status PutFor(T&& item, absl::Duration timeout) {
    return impl().PutImpl(item, DeadlineAfter(timeout));
  }
  absl::Status PutFor(const T& item, absl::Duration timeout) {
    T copy(item);
    return PutFor(std::move(copy), timeout);
  }
  absl::Status PutUntil(T&& item, absl::Time deadline) {
    return impl().PutImpl(item, deadline);
  }
  absl::Status PutUntil(const T& item, absl::Time deadline) {
    T copy(item);
    return PutUntil(std::move(copy), deadline);
  }
  absl::Status TryPut(T&& item) {
    return impl().PutImpl(item, absl::InfinitePast());
  }
  absl::Status TryPut(const T& item) {
    T copy(item);
    return TryPut(std::move(copy));
  }

  // PutMany(items): puts items[0], items[1], ... in order, taking the lock
  // once for as many as fit, and waiting like Put for room for the rest.
  // Items that went into the queue are moved-from; the count is stored in
  // `*num_put` (if not null). On error (ShutDown; Full for the Try/For/Until
  // forms once the deadline passes) the items from `*num_put` on are left
  // untouched. On an unbounded queue PutMany takes the lock exactly once.
  absl::Status PutMany(absl::Span<T> items, size_t* num_put = nullptr) {
    return impl().PutManyImpl(items, absl::InfiniteFuture(), num_put);
  }
  absl::Status PutManyFor(absl::Span<T> items, absl::Duration timeout,
                          size_t* num_put = nullptr) {
    return impl().PutManyImpl(items, DeadlineAfter(timeout), num_put);
  }
  absl::Status PutManyUntil(absl::Span<T> items, absl::Time deadline,
                            size_t* num_put = nullptr) {
    return impl().PutManyImpl(items, deadline, num_put);
  }
  absl::Status TryPutMany(absl::Span<T> items, size_t* num_put = nullptr) {
    return impl().PutManyImpl(items, absl::InfinitePast(), num_put);
  }

  // --- Get ----------------------------------------------------------------
  //
  // Get(): returns the next item (per the queue's order). Blocks while the
  // queue is empty; wakes when a put hands it an item (blocked getters are
  // served oldest first) -> the item, or when the queue is shut down ->
  // ShutDownError. After a non-immediate shutdown, Get keeps returning the
  // items left and fails with ShutDownError only once the queue is empty.
  // GetFor/GetUntil also wake at the deadline -> EmptyError. TryGet never
  // blocks: EmptyError when there is nothing now (ShutDownError if the queue
  // is shut down and empty).
  absl::StatusOr<T> Get() { return GetOne(absl::InfiniteFuture()); }
  absl::StatusOr<T> GetFor(absl::Duration timeout) {
    return GetOne(DeadlineAfter(timeout));
  }
  absl::StatusOr<T> GetUntil(absl::Time deadline) { return GetOne(deadline); }
  absl::StatusOr<T> TryGet() { return GetOne(absl::InfinitePast()); }

  // GetMany(max_items, out): appends between 1 and `max_items` items to
  // `*out` (in the queue's order) in one critical section and returns how
  // many. Waits, like Get, for at least one item; never waits for more. A
  // blocked GetMany is one waiter in the FIFO of blocked getters: a put
  // hands it the item(s) it brings (up to `max_items`). Errors as for Get;
  // InvalidArgument if `max_items` is 0. Each item still needs its own
  // TaskDone (or one TaskDone(n)).
  absl::StatusOr<size_t> GetMany(size_t max_items, std::vector<T>* out) {
    return GetBatch(max_items, out, absl::InfiniteFuture());
  }
  absl::StatusOr<size_t> GetManyFor(size_t max_items, absl::Duration timeout,
                                    std::vector<T>* out) {
    return GetBatch(max_items, out, DeadlineAfter(timeout));
  }
  absl::StatusOr<size_t> GetManyUntil(size_t max_items, absl::Time deadline,
                                      std::vector<T>* out) {
    return GetBatch(max_items, out, deadline);
  }
  absl::StatusOr<size_t> TryGetMany(size_t max_items, std::vector<T>* out) {
    return GetBatch(max_items, out, absl::InfinitePast());
  }

  // --- Task tracking ------------------------------------------------------
  //
  // Every successful put adds one unfinished task. TaskDone(n) marks `n` of
  // them done; asking for more than are unfinished is InvalidArgument
  // (Python's ValueError) and changes nothing. When the count reaches zero
  // every Join returns.
  absl::Status TaskDone(int64_t count = 1) {
    return impl().TaskDoneImpl(count);
  }

  // Join(): blocks until every item ever put has been marked done
  // (unfinished_tasks() == 0). Wakes on the TaskDone that brings the count
  // to zero, or on an immediate Shutdown that does (the dropped items count
  // as done; items already taken with Get but not yet marked done still
  // count, so Join keeps waiting for them). Never fails; a non-immediate
  // Shutdown does not release it. JoinFor/JoinUntil also wake at the
  // deadline and return false; they return true when all tasks are done.
  void Join() { impl().JoinImpl(absl::InfiniteFuture()); }
  bool JoinFor(absl::Duration timeout) {
    return impl().JoinImpl(DeadlineAfter(timeout));
  }
  bool JoinUntil(absl::Time deadline) { return impl().JoinImpl(deadline); }
  int64_t unfinished_tasks() const { return impl().UnfinishedImpl(); }

  // --- Shutdown -----------------------------------------------------------
  //
  // Shutdown(immediate): from now on every put fails with ShutDownError
  // (blocked putters wake with it; their items stay theirs). Blocked getters
  // wake with ShutDownError (they were blocked, so the queue was empty).
  // Later gets drain the remaining items, then fail with ShutDownError.
  // With `immediate`, the remaining items are destroyed now (after the
  // queue's locks are released, so an item's destructor may use the queue)
  // and subtracted from unfinished_tasks() (never below zero), so gets fail
  // at once and Join waiters are released unless tasks already taken are
  // still unfinished. May be called any number of times, in either mode;
  // there is no way back.
  void Shutdown(bool immediate = false) { impl().ShutdownImpl(immediate); }
  bool is_shutdown() const { return impl().IsShutdownImpl(); }

  // --- Snapshots ----------------------------------------------------------
  //
  // Racy snapshots (see the file comment). qsize() and empty() do not lock.
  size_t qsize() const { return impl().QsizeImpl(); }
  bool empty() const { return qsize() == 0; }
  bool full() const { return impl().FullImpl(); }

  // How many threads are blocked in a get / put right now (threads still
  // spinning before they block are not counted). Racy snapshots, for
  // monitoring and tests.
  size_t getters_waiting() const { return impl().GettersWaitingImpl(); }
  size_t putters_waiting() const { return impl().PuttersWaitingImpl(); }

  // maxsize() <= 0 means unbounded (Python's convention; negative values are
  // accepted and mean the same). set_maxsize changes the bound at run time:
  // growing it admits blocked putters at once; shrinking it never drops
  // items, puts just fail/block until the queue shrinks below the new bound.
  int64_t maxsize() const { return impl().MaxsizeImpl(); }
  void set_maxsize(int64_t maxsize) { impl().SetMaxsizeImpl(maxsize); }

 protected:
  QueueApi() = default;
  QueueApi(const QueueApi&) = delete;
  QueueApi& operator=(const QueueApi&) = delete;

 private:
  Impl& impl() { return static_cast<Impl&>(*this); }
  const Impl& impl() const { return static_cast<const Impl&>(*this); }

  absl::StatusOr<T> GetOne(absl::Time deadline) {
    GetWaiter<T> w;
    if (absl::Status s = impl().TakeImpl(&w, deadline); !s.ok()) return s;
    return std::move(*w.item);
  }
  absl::StatusOr<size_t> GetBatch(size_t max_items, std::vector<T>* out,
                                  absl::Time deadline) {
    if (max_items == 0) {
      return absl::InvalidArgumentError("GetMany needs max_items >= 1");
    }
    GetWaiter<T> w;
    w.batch = out;
    w.max_items = max_items;
    if (absl::Status s = impl().TakeImpl(&w, deadline); !s.ok()) return s;
    return w.received;
  }
};

// ---------------------------------------------------------------------------
// BasicQueue: one mutex around a container. The engine of LifoQueue and
// PriorityQueue, whose order needs the whole container under one lock.
// ---------------------------------------------------------------------------
template <typename T, typename Container>
class BasicQueue : public QueueApi<BasicQueue<T, Container>, T> {
 public:
  explicit BasicQueue(int64_t maxsize = 0)
      : maxsize_(maxsize),
        items_(maxsize > 0
                   ? static_cast<size_t>(std::min<int64_t>(maxsize, 4096))
                   : 16) {}

 private:
  friend class QueueApi<BasicQueue<T, Container>, T>;

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
// ---------------------------------------------------------------------------
template <typename T>
class FifoQueue : public QueueApi<FifoQueue<T>, T> {
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

 private:
  friend class QueueApi<FifoQueue<T>, T>;

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
      std::atomic_thread_fence(std::memory_order_seq_cst);
      if (put) {
        if (!getters_flag_.load(std::memory_order_relaxed)) return;
        absl::MutexLock lock(&get_mu_);
        if (ServeGetters() == 0) return;
      } else {
        if (!putters_flag_.load(std::memory_order_relaxed)) return;
        absl::MutexLock lock(&put_mu_);
        if (AdmitPutters() == 0) return;
      }
      put = !put;
    }
  }

  // --- Operations ----------------------------------------------------------

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
    if (put) AfterPut();
    return status;
  }

  // Blocks in the putters' FIFO until `*item` is admitted (OkStatus), the
  // deadline passes (FullError, item untouched) or the queue is shut down.
  absl::Status AwaitRoom(T* item, absl::Time deadline)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(put_mu_) {
    PutWaiter<T> w;
    w.item = item;
    putters_.PushBack(&w);
    putters_flag_.store(true, std::memory_order_relaxed);
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

  absl::Status PutManyImpl(absl::Span<T> items, absl::Time deadline,
                           size_t* num_put) {
    size_t done = 0;
    absl::Status status;
    bool put = false;
    put_mu_.Lock();
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
    if (got) AfterGet();
    return status;
  }

  // Blocks in the getters' FIFO until `w` is served (OkStatus), the
  // deadline passes (EmptyError) or the queue is shut down.
  absl::Status AwaitItem(GetWaiter<T>* w, absl::Time deadline)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(get_mu_) {
    getters_.PushBack(w);
    getters_flag_.store(true, std::memory_order_relaxed);
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
    if (now == count) WakeJoiners();
    return absl::OkStatus();
  }

  void WakeJoiners() {
    absl::MutexLock lock(&task_mu_);
    all_done_.SignalAll();
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

// Queue<T>: a FIFO queue, bounded (maxsize > 0) or unbounded (maxsize <= 0),
// with Python's task tracking (TaskDone/Join) and shutdown. The workhorse
// for handing work from producer threads to consumer threads.
//
// Its member functions are documented on queue_internal::QueueApi above:
// what each blocking call (Put, PutMany, Get, GetMany, Join) waits for and
// every way it wakes, its errors, and the fairness and item-ownership rules
// in the file comment.
//
// Thread safety: all member functions may be called concurrently from any
// thread.
//
// Happens-before: a successful put of an item happens-before the get that
// returns it; a TaskDone happens-before the return of a Join it releases;
// Shutdown happens-before every call that fails with its error.
template <typename T>
class Queue : public queue_internal::FifoQueue<T> {
 public:
  explicit Queue(int64_t maxsize = 0) : queue_internal::FifoQueue<T>(maxsize) {}
};

// LifoQueue<T>: like Queue, but Get returns the most recently put item
// first (a stack). Useful for depth-first work lists and for keeping the
// hottest items in cache. GetMany returns items newest first.
//
// Thread safety: all member functions may be called concurrently from any
// thread.
//
// Happens-before: a successful put of an item happens-before the get that
// returns it; a TaskDone happens-before the return of a Join it releases;
// Shutdown happens-before every call that fails with its error.
template <typename T>
class LifoQueue
    : public queue_internal::BasicQueue<T, queue_internal::Stack<T>> {
  static_assert(std::is_nothrow_move_assignable_v<T>,
                "LifoQueue needs T's move assignment to be noexcept");

 public:
  explicit LifoQueue(int64_t maxsize = 0)
      : queue_internal::BasicQueue<T, queue_internal::Stack<T>>(maxsize) {}
};

// PriorityQueue<T, Compare>: like Queue, but Get returns the smallest item
// according to `Compare` (default std::less<T>: smallest first, as Python's
// heapq-based PriorityQueue). Stable: items that compare equal come out in
// the order they were put (Python gives no such promise). Typical use is
// `PriorityQueue<std::pair<int, Job>, ByFirst>` with a comparator that looks
// at the priority only, so jobs of equal priority stay FIFO.
//
// Thread safety: all member functions may be called concurrently from any
// thread.
//
// Happens-before: a successful put of an item happens-before the get that
// returns it; a TaskDone happens-before the return of a Join it releases;
// Shutdown happens-before every call that fails with its error.
template <typename T, typename Compare = std::less<T>>
class PriorityQueue : public queue_internal::BasicQueue<
                          T, queue_internal::StableHeap<T, Compare>> {
  static_assert(std::is_nothrow_move_assignable_v<T>,
                "PriorityQueue needs T's move assignment to be noexcept");

 public:
  explicit PriorityQueue(int64_t maxsize = 0)
      : queue_internal::BasicQueue<T, queue_internal::StableHeap<T, Compare>>(
            maxsize) {}
};

// SimpleQueue<T>: an unbounded FIFO queue without task tracking or
// shutdown, like Python's queue.SimpleQueue: Put never blocks and never
// fails. The smallest API for the simplest job (passing results back to one
// thread). Get/GetFor/GetUntil/TryGet/GetMany behave as on Queue: a blocking
// Get waits until a Put hands it an item (a SimpleQueue cannot be shut down,
// so that is its only way to wake); the timed forms also wake at the
// deadline with EmptyError, and TryGet fails at once with EmptyError. It
// shares Queue's engine (an unbounded FifoQueue), so it is as fast
// as an unbounded Queue; what it saves is API surface.
//
// Thread safety: all member functions may be called concurrently from any
// thread.
//
// Happens-before: a put of an item happens-before the get that returns it.
template <typename T>
class SimpleQueue {
 public:
  SimpleQueue() = default;
  SimpleQueue(const SimpleQueue&) = delete;
  SimpleQueue& operator=(const SimpleQueue&) = delete;

  // Put: enqueues `item`; never blocks, never fails.
  void Put(T&& item) { (void)impl_.Put(std::move(item)); }
  void Put(const T& item) { (void)impl_.Put(item); }
  // PutMany: enqueues every item (moving from them) under one lock.
  void PutMany(absl::Span<T> items) { (void)impl_.PutMany(items); }

  absl::StatusOr<T> Get() { return impl_.Get(); }
  absl::StatusOr<T> GetFor(absl::Duration timeout) {
    return impl_.GetFor(timeout);
  }
  absl::StatusOr<T> GetUntil(absl::Time deadline) {
    return impl_.GetUntil(deadline);
  }
  absl::StatusOr<T> TryGet() { return impl_.TryGet(); }
  absl::StatusOr<size_t> GetMany(size_t max_items, std::vector<T>* out) {
    return impl_.GetMany(max_items, out);
  }
  absl::StatusOr<size_t> GetManyFor(size_t max_items, absl::Duration timeout,
                                    std::vector<T>* out) {
    return impl_.GetManyFor(max_items, timeout, out);
  }
  absl::StatusOr<size_t> TryGetMany(size_t max_items, std::vector<T>* out) {
    return impl_.TryGetMany(max_items, out);
  }

  size_t qsize() const { return impl_.qsize(); }
  bool empty() const { return impl_.empty(); }
  size_t getters_waiting() const { return impl_.getters_waiting(); }

 private:
  queue_internal::FifoQueue<T> impl_;
};

}  // namespace spindle

#endif  // SPINDLE_CONCURRENCY_QUEUE_H_
