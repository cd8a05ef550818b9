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
// On `Queue` and `SimpleQueue` a call that finds nobody queued on its side
// takes the lock-free path (see "Where things are"); it "arrives" at the
// instant it looks for queued threads. A getter that looked an instant
// before another getter blocked was there first, and may take the next item
// ahead of it; no thread that arrives after a thread blocked overtakes it.
//
// A thread polls briefly before it blocks (a few pauses on multi-core
// machines, then up to 32 yields of the CPU, only when nobody is queued
// ahead of it); while it polls it is not yet "blocked" and has no place in
// the FIFO.
//
// Ordering. `Queue` is FIFO, `LifoQueue` LIFO. `PriorityQueue<T, Compare>`
// returns the *smallest* item first according to `Compare` (like Python's
// heapq, and unlike std::priority_queue); items that compare equal come out in
// the order they were put (it is stable, which Python's PriorityQueue is not).
//
// Where things are. The four public classes are at the end of this file;
// their member functions (shared by all four) are documented once on
// `queue_internal::QueueApi`. Two engines implement them, each in its own
// private header. `FifoQueue` (Queue, SimpleQueue; internal/queue_fifo.h)
// keeps its items in a lock-free ring of sequence-numbered slots
// (internal/queue_slots.h): a put or get that finds nobody blocked on its
// side is one compare-and-swap on its own counter plus a store into the
// item's slot, with no lock and no system call; locks, waiter lists and
// wake-ups are only the slow path (a queue that is empty or full, or threads
// already blocked). An unbounded queue, or one whose maxsize exceeds the
// ring, grows the ring by doubling and keeps the old, smaller arrays until
// it is destroyed (less than the final ring's size again). `BasicQueue`
// (LifoQueue, PriorityQueue; internal/queue_basic.h) is one mutex around a
// stack or a heap (internal/queue_containers.h), whose order needs the whole
// container under one lock. The blocked-thread lists both engines use are
// in internal/queue_waiters.h.
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

#include <cstddef>
#include <cstdint>
#include <functional>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "spindle/concurrency/internal/queue_basic.h"
#include "spindle/concurrency/internal/queue_containers.h"
#include "spindle/concurrency/internal/queue_fifo.h"
#include "spindle/concurrency/internal/queue_waiters.h"
#include "spindle/concurrency/status.h"

namespace spindle {
namespace queue_internal {

// ---------------------------------------------------------------------------
// QueueApi: the public interface shared by all four queue kinds, documented
// here once. It owns an `Engine` (FifoQueue, internal/queue_fifo.h, or
// BasicQueue, internal/queue_basic.h) and forwards every call to the engine's
// operations: PutImpl(T&, deadline) (moves from the item only on success),
// PutManyImpl(span, deadline, num_put), TakeImpl(GetWaiter<T>*, deadline),
// TaskDoneImpl(n), JoinImpl(deadline), UnfinishedImpl(), ShutdownImpl(
// immediate), IsShutdownImpl(), QsizeImpl(), FullImpl(), GettersWaitingImpl(),
// PuttersWaitingImpl(), MaxsizeImpl() and SetMaxsizeImpl(n). A deadline of
// absl::InfinitePast() means "do not block", absl::InfiniteFuture() "block".
// ---------------------------------------------------------------------------
template <typename Engine, typename T>
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
    return engine_.PutImpl(item, absl::InfiniteFuture());
  }
  absl::Status Put(const T& item) {
    T copy(item);
    return Put(std::move(copy));
  }
  absl::Status PutFor(T&& item, absl::Duration timeout) {
    return engine_.PutImpl(item, DeadlineAfter(timeout));
  }
  absl::Status PutFor(const T& item, absl::Duration timeout) {
    T copy(item);
    return PutFor(std::move(copy), timeout);
  }
  absl::Status PutUntil(T&& item, absl::Time deadline) {
    return engine_.PutImpl(item, deadline);
  }
  absl::Status PutUntil(const T& item, absl::Time deadline) {
    T copy(item);
    return PutUntil(std::move(copy), deadline);
  }
  absl::Status TryPut(T&& item) {
    return engine_.PutImpl(item, absl::InfinitePast());
  }
  absl::Status TryPut(const T& item) {
    T copy(item);
    return TryPut(std::move(copy));
  }

  // PutMany(items): puts items[0], items[1], ... in order, as many as fit
  // in one step, and waits like Put for room for the rest.
  // Items that went into the queue are moved-from; the count is stored in
  // `*num_put` (if not null). On error (ShutDown; Full for the Try/For/Until
  // forms once the deadline passes) the items from `*num_put` on are left
  // untouched. On a Queue that nobody is blocked on, PutMany claims all the
  // positions that fit at once, without a lock.
  // An empty span puts nothing: OK, or ShutDownError once the queue is shut
  // down (like every put).
  absl::Status PutMany(absl::Span<T> items, size_t* num_put = nullptr) {
    return engine_.PutManyImpl(items, absl::InfiniteFuture(), num_put);
  }
  absl::Status PutManyFor(absl::Span<T> items, absl::Duration timeout,
                          size_t* num_put = nullptr) {
    return engine_.PutManyImpl(items, DeadlineAfter(timeout), num_put);
  }
  absl::Status PutManyUntil(absl::Span<T> items, absl::Time deadline,
                            size_t* num_put = nullptr) {
    return engine_.PutManyImpl(items, deadline, num_put);
  }
  absl::Status TryPutMany(absl::Span<T> items, size_t* num_put = nullptr) {
    return engine_.PutManyImpl(items, absl::InfinitePast(), num_put);
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
  // `*out` (in the queue's order) in one step (one claim or one critical
  // section) and returns how many. Waits, like Get, for at least one item;
  // never waits for more. A blocked GetMany is one waiter in the FIFO of
  // blocked getters: a put hands it the item(s) it brings (up to
  // `max_items`). Errors as for Get; InvalidArgument if `max_items` is 0.
  // Each item still needs its own TaskDone (or one TaskDone(n)).
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
  // them done; asking for more than are unfinished (or a negative `n`) is
  // InvalidArgument (Python's ValueError) and changes nothing. When the
  // count reaches zero every Join returns.
  absl::Status TaskDone(int64_t count = 1) {
    return engine_.TaskDoneImpl(count);
  }

  // Join(): blocks until every item ever put has been marked done
  // (unfinished_tasks() == 0). Wakes on the TaskDone that brings the count
  // to zero, or on an immediate Shutdown that does (the dropped items count
  // as done; items already taken with Get but not yet marked done still
  // count, so Join keeps waiting for them). Never fails; a non-immediate
  // Shutdown does not release it. JoinFor/JoinUntil also wake at the
  // deadline and return false; they return true when all tasks are done.
  void Join() { engine_.JoinImpl(absl::InfiniteFuture()); }
  bool JoinFor(absl::Duration timeout) {
    return engine_.JoinImpl(DeadlineAfter(timeout));
  }
  bool JoinUntil(absl::Time deadline) { return engine_.JoinImpl(deadline); }
  int64_t unfinished_tasks() const { return engine_.UnfinishedImpl(); }

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
  void Shutdown(bool immediate = false) { engine_.ShutdownImpl(immediate); }
  bool is_shutdown() const { return engine_.IsShutdownImpl(); }

  // --- Snapshots ----------------------------------------------------------
  //
  // Racy snapshots (see the file comment). qsize() and empty() do not lock.
  size_t qsize() const { return engine_.QsizeImpl(); }
  bool empty() const { return qsize() == 0; }
  bool full() const { return engine_.FullImpl(); }

  // How many threads are blocked in a get / put right now (threads still
  // spinning before they block are not counted). Racy snapshots, for
  // monitoring and tests.
  size_t getters_waiting() const { return engine_.GettersWaitingImpl(); }
  size_t putters_waiting() const { return engine_.PuttersWaitingImpl(); }

  // maxsize() <= 0 means unbounded (Python's convention; negative values are
  // accepted and mean the same). set_maxsize changes the bound at run time:
  // growing it admits blocked putters at once; shrinking it never drops
  // items, puts just fail/block until the queue shrinks below the new bound.
  int64_t maxsize() const { return engine_.MaxsizeImpl(); }
  void set_maxsize(int64_t maxsize) { engine_.SetMaxsizeImpl(maxsize); }

 protected:
  explicit QueueApi(int64_t maxsize) : engine_(maxsize) {}
  QueueApi(const QueueApi&) = delete;
  QueueApi& operator=(const QueueApi&) = delete;

 private:
  absl::StatusOr<T> GetOne(absl::Time deadline) {
    GetWaiter<T> w;
    if (absl::Status s = engine_.TakeImpl(&w, deadline); !s.ok()) return s;
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
    if (absl::Status s = engine_.TakeImpl(&w, deadline); !s.ok()) return s;
    return w.received;
  }

  Engine engine_;
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
class Queue : public queue_internal::QueueApi<queue_internal::FifoQueue<T>, T> {
 public:
  explicit Queue(int64_t maxsize = 0)
      : queue_internal::QueueApi<queue_internal::FifoQueue<T>, T>(maxsize) {}
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
    : public queue_internal::QueueApi<
          queue_internal::BasicQueue<T, queue_internal::Stack<T>>, T> {
  static_assert(std::is_nothrow_move_assignable_v<T>,
                "LifoQueue needs T's move assignment to be noexcept");

 public:
  explicit LifoQueue(int64_t maxsize = 0)
      : queue_internal::QueueApi<
            queue_internal::BasicQueue<T, queue_internal::Stack<T>>, T>(
            maxsize) {}
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
class PriorityQueue
    : public queue_internal::QueueApi<
          queue_internal::BasicQueue<T, queue_internal::StableHeap<T, Compare>>,
          T> {
  static_assert(std::is_nothrow_move_assignable_v<T>,
                "PriorityQueue needs T's move assignment to be noexcept");

 public:
  explicit PriorityQueue(int64_t maxsize = 0)
      : queue_internal::QueueApi<queue_internal::BasicQueue<
                                     T, queue_internal::StableHeap<T, Compare>>,
                                 T>(maxsize) {}
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
  // PutMany: enqueues every item (moving from them), in order.
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
  Queue<T> impl_;  // Unbounded.
};

}  // namespace spindle

#endif  // SPINDLE_CONCURRENCY_QUEUE_H_
