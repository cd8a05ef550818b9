// Copyright 2026 The spindle Authors.
//
// -----------------------------------------------------------------------------
// File: thread_pool.h
// -----------------------------------------------------------------------------
//
// Python's `concurrent.futures.ThreadPoolExecutor` for C++.
//
//   Python                                       spindle
//   -------------------------------------------  -----------------------------
//   ThreadPoolExecutor(max_workers,              ThreadPoolExecutor({
//       thread_name_prefix, initializer)             .max_workers = n,
//                                                    .thread_name_prefix = "",
//                                                    .initializer = fn})
//   pool.submit(fn, *args)                       pool.Submit(fn, args...)
//   pool.map(fn, inputs, timeout=t,              pool.Map(fn, inputs, t, c)
//            chunksize=c)
//   pool.shutdown(wait, cancel_futures)          pool.Shutdown(wait, cancel)
//   with ThreadPoolExecutor() as pool:           destructor: Shutdown(true)
//   (none)                                       pool.Execute(fn)
//
// Errors (see status.h; futures follow future.h's error model):
//   * Submitting after Shutdown(): Submit returns a future that is already
//     done with IsShutDown ("cannot schedule new futures after shutdown");
//     Execute returns that status. Python raises RuntimeError instead; a
//     returned status keeps Submit exception-free and testable.
//   * A failing initializer (throws, or returns a non-OK status) breaks the
//     pool: every pending future finishes with IsBroken, the workers exit,
//     and later Submit/Execute calls are rejected with IsBroken (as
//     Python's BrokenThreadPool). The failure is logged on stderr.
//   * A task that throws fails only its own future (Result() rethrows). An
//     exception escaping an Execute() task is logged on stderr; the worker
//     carries on.
//   * Invalid Options (max_workers <= 0) are a checked crash in the
//     constructor; use Create() to get InvalidArgument instead.
//
// Workers start lazily: Submit starts a new thread (up to max_workers) only
// when there are more queued tasks than idle workers, so idle workers are
// reused before new ones start (Python's idle semaphore, made exact). A
// worker is idle only once its task's done callbacks and `Then`
// continuations (which run on it) have returned, so a callback that submits
// to the same pool, and waits for the result, gets another worker while
// max_workers allows; without callbacks, a worker counts idle just before
// its future is published, so a waiter who submits again reuses it.
//
// At exit (Python's concurrent.futures does the same through
// threading._register_atexit): a pool still alive when `exit()` runs, one
// leaked or never destroyed, is shut down with wait = true: its queued
// tasks run and its workers are joined, before the non-daemon `Thread`s are
// joined (thread.h), repeatedly until neither is left. From then on every
// pool rejects new tasks with IsShutDown ("cannot schedule new futures
// after exit() began"), as Python's do after interpreter shutdown began.
// A static pool's destructor does the same if it runs first.
//
// After fork(): a pool made before the fork is a lifeless copy in the child
// (its threads were not copied). There, Submit/Execute reject tasks with
// IsShutDown (kFailedPrecondition, as a forked copy of a
// ProcessPoolExecutor does), Shutdown returns at once and the destructor frees
// nothing; the child should make its own pools. (CPython may start fresh
// threads for an inherited pool in the child; spindle refuses instead of
// half-working, since the parent's workers may have held the pool's lock at the
// fork.) Each worker runs `initializer` once before its first task. Worker
// threads are named `<prefix>_<i>` (Python's naming; the default prefix is
// "ThreadPoolExecutor-<n>"); Linux keeps 15 bytes of a thread name, so the
// prefix is cut to keep the `_<i>` suffix.
//
// Thread safety: all member functions are thread-safe, except that the
// destructor must not run concurrently with other calls, and must not run on
// one of the pool's own workers.
//
// Timeouts and the system clock: `Map(fn, inputs, d)` measures its deadline
// on the wall clock (`absl::Now() + d`, waited for by the futures, see
// future.h), so a step of the system clock moves it.
//
// Happens-before: everything before a Submit/Execute call happens-before the
// task starts; a task's completion happens-before the calls that observe its
// future done return (future.h). Shutdown(wait = true) returning
// happens-after every task it waited for finished.
//
// Performance: at most one heap allocation per submitted task (the future's
// shared state holds the callable inline and is itself the queue node of an
// intrusive FIFO guarded by one absl::Mutex; small Execute tasks reuse the
// blocks of finished ones); workers spin briefly before parking, and a
// submitter signals only when a worker is parked.

#ifndef SPINDLE_CONCURRENCY_THREAD_POOL_H_
#define SPINDLE_CONCURRENCY_THREAD_POOL_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <new>
#include <optional>
#include <string>
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
#include "spindle/concurrency/future.h"
#include "spindle/concurrency/internal/future_state.h"
#include "spindle/concurrency/internal/lifecycle.h"
#include "spindle/concurrency/status.h"

namespace spindle {

namespace internal {

// One chunk of a Map with chunksize > 1 (one task, or one process-pool
// message): the results of its first `values.size()` items, in order. If the
// chunk stopped early, the item after them threw `exception` or failed with
// `error` (not OK), and the chunk's later items were not run.
template <typename R>
struct MapChunk {
  std::vector<R> values;
  std::exception_ptr exception;
  absl::Status error;
};

// Runs `fn` on each item of a chunk, stopping at the first exception.
template <typename R, typename F, typename In>
MapChunk<R> RunMapChunk(F& fn, const std::vector<In>& items) {
  MapChunk<R> out;
  out.values.reserve(items.size());
  for (const In& item : items) {
    try {
      out.values.push_back(std::invoke(fn, item));
    } catch (...) {
      out.exception = std::current_exception();
      break;
    }
  }
  return out;
}

}  // namespace internal

// MapResults<R>
//
// What ThreadPoolExecutor::Map (and ProcessPoolExecutor::Map) returns: the
// results in input order. Each element is an `absl::StatusOr<R>`. Iteration
// ends after the last result, or right after yielding the first non-OK
// status (IsTimeout when the deadline of the Map call passed, IsCancelled,
// IsBroken, IsShutDown, InvalidArgument for a chunksize < 1). A task's
// exception is rethrown from Next() (from the range-for's ++) and also ends
// the iteration. Once iteration has begun, ending it early (error,
// exception, or destroying the MapResults) cancels the futures that have
// not started (Python's result iterator does the same); a MapResults
// destroyed before its first Next() leaves the tasks running, since Map
// submits everything at once. (This is Python 3.13's behaviour; later
// CPython versions keep iterating after a task's exception, gh-108518.)
// Python's `buffersize` (3.14) is not provided: Map submits every input.
//
// With chunksize > 1 each future covers a chunk of consecutive inputs
// (`chunk_futures()`; `futures()` is then empty). The results are yielded
// item by item, in input order, as with chunksize 1: the items of a chunk
// become available together, an item's exception is rethrown at that item
// (after the chunk's earlier results were yielded), and an error of the
// whole chunk (timeout, cancellation, a crashed process-pool worker) is
// yielded at the chunk's first item not yet yielded.
//
// Thread safety: thread-compatible.
template <typename R>
class MapResults {
 public:
  using iterator = internal::NextIterator<MapResults, absl::StatusOr<R>>;

  MapResults(std::vector<Future<R>> futures, absl::Time deadline)
      : futures_(std::move(futures)), deadline_(deadline) {}
  MapResults(std::vector<Future<internal::MapChunk<R>>> chunks,
             absl::Time deadline)
      : chunks_(std::move(chunks)), deadline_(deadline) {}
  // Yields `error` once, then ends (nothing was submitted).
  explicit MapResults(absl::Status error)
      : deadline_(absl::InfiniteFuture()), error_(std::move(error)) {}
  MapResults(MapResults&&) = default;
  MapResults& operator=(MapResults&&) = default;
  ~MapResults() {
    if (started_) CancelRest(next_, next_chunk_);
  }

  // Blocks until the next result is ready or the Map deadline passes.
  // Wakes on: completion or cancellation of the next future, the deadline.
  std::optional<absl::StatusOr<R>> Next() {
    started_ = true;
    if (finished_) return std::nullopt;
    if (!error_.ok()) {
      finished_ = true;
      return absl::StatusOr<R>(error_);
    }
    if (!chunks_.empty()) return NextFromChunk();
    if (next_ == futures_.size()) return std::nullopt;
    const size_t i = next_++;
    absl::StatusOr<R> r;
    try {
      r = futures_[i].ResultUntil(deadline_);
    } catch (...) {
      finished_ = true;
      CancelRest(i, 0);
      throw;
    }
    if (!r.ok()) {
      finished_ = true;
      CancelRest(i, 0);  // Including the one that timed out.
    }
    return r;
  }

  iterator begin() { return iterator(this); }
  iterator end() { return iterator(); }

  // The futures, in input order (chunksize 1; empty otherwise).
  const std::vector<Future<R>>& futures() const { return futures_; }
  // The chunks' futures, in input order (chunksize > 1; empty otherwise).
  const std::vector<Future<internal::MapChunk<R>>>& chunk_futures() const {
    return chunks_;
  }

 private:
  std::optional<absl::StatusOr<R>> NextFromChunk() {
    while (next_chunk_ < chunks_.size()) {
      const size_t c = next_chunk_;
      if (!current_.has_value()) {
        absl::StatusOr<internal::MapChunk<R>> r;
        try {
          r = chunks_[c].ResultUntil(deadline_);
        } catch (...) {
          finished_ = true;
          CancelRest(0, c);
          throw;
        }
        if (!r.ok()) {
          finished_ = true;
          CancelRest(0, c);  // Including the one that timed out.
          return absl::StatusOr<R>(r.status());
        }
        current_ = *std::move(r);
        pos_ = 0;
      }
      if (pos_ < current_->values.size()) {
        return absl::StatusOr<R>(std::move(current_->values[pos_++]));
      }
      if (current_->exception != nullptr || !current_->error.ok()) {
        finished_ = true;
        CancelRest(0, c + 1);
        if (current_->exception != nullptr) {
          std::rethrow_exception(current_->exception);
        }
        return absl::StatusOr<R>(current_->error);
      }
      current_.reset();
      ++next_chunk_;
    }
    return std::nullopt;
  }

  void CancelRest(size_t from, size_t chunk_from) {
    for (size_t i = from; i < futures_.size(); ++i) futures_[i].Cancel();
    for (size_t i = chunk_from; i < chunks_.size(); ++i) chunks_[i].Cancel();
  }

  std::vector<Future<R>> futures_;
  std::vector<Future<internal::MapChunk<R>>> chunks_;
  absl::Time deadline_;
  absl::Status error_;
  size_t next_ = 0;
  // Chunk mode: the chunk being yielded, and the position in it.
  size_t next_chunk_ = 0;
  std::optional<internal::MapChunk<R>> current_;
  size_t pos_ = 0;
  bool started_ = false;
  bool finished_ = false;
};

// ThreadPoolExecutor
//
// A pool of up to `max_workers` threads running submitted callables, with
// Python's ThreadPoolExecutor semantics (see the file comment).
class ThreadPoolExecutor {
 public:
  struct Options {
    // At most this many worker threads; unset: min(32, cores + 4).
    std::optional<int> max_workers = std::nullopt;
    // Threads are named `<prefix>_<i>`; empty: "ThreadPoolExecutor-<n>".
    std::string thread_name_prefix = "";
    // Run once by each worker before its first task. A throw or a non-OK
    // status breaks the pool (see the file comment). It may be called from
    // several workers at once.
    std::function<absl::Status()> initializer = nullptr;
  };

  // Python's default worker count: min(32, hardware threads + 4).
  static int DefaultMaxWorkers();

  // Checks `options`: InvalidArgument if max_workers <= 0.
  static absl::StatusOr<std::unique_ptr<ThreadPoolExecutor>> Create(
      Options options);

  ThreadPoolExecutor() : ThreadPoolExecutor(Options()) {}
  // Checked crash on invalid options (see Create()). Starts no thread.
  explicit ThreadPoolExecutor(Options options);
  ThreadPoolExecutor(const ThreadPoolExecutor&) = delete;
  ThreadPoolExecutor& operator=(const ThreadPoolExecutor&) = delete;

  // Shutdown(/*wait=*/true), and joins every worker (also after an earlier
  // Shutdown(wait = false)): queued tasks still run.
  ~ThreadPoolExecutor();

  // Schedules `fn(args...)` (decayed copies, moved into the call) and
  // returns its future. Never blocks on the tasks. A rejected submission
  // (shut down, broken) returns a future already done with that status.
  template <typename F, typename... Args>
  auto Submit(F&& fn, Args&&... args)
      -> Future<std::invoke_result_t<std::decay_t<F>, std::decay_t<Args>...>> {
    using R = std::invoke_result_t<std::decay_t<F>, std::decay_t<Args>...>;
    auto call = [fn = std::forward<F>(fn),
                 ... args = std::forward<Args>(args)]() mutable -> R {
      return std::invoke(std::move(fn), std::move(args)...);
    };
    auto* task = new internal::TaskState<R, decltype(call)>(std::move(call));
    Future<R> future(task);  // Adopts the first of the task's two references.
    absl::Status s = Enqueue(task);
    if (!s.ok()) task->Abandon(s);
    return future;
  }

  // Fire and forget: schedules `fn()` with no future. Returns IsShutDown or
  // IsBroken if the task was rejected (it is then destroyed, not run).
  //
  // A small task's block is recycled: the worker that ran it returns it to
  // the pool (under the lock it takes anyway), and Execute reuses it, so a
  // steady stream of Execute calls does not make every task a cross-thread
  // malloc/free pair (allocated by the submitter, freed by a worker).
  template <typename F>
  absl::Status Execute(F&& fn) {
    using Task = internal::ExecuteTask<std::decay_t<F>>;
    Task* task;
    if constexpr (Task::kRecyclable) {
      static_assert(sizeof(Task) <= internal::kExecuteBlockSize);
      void* block = AllocateExecuteBlock();
      try {
        task = ::new (block) Task(std::forward<F>(fn));
      } catch (...) {
        ::operator delete(block);
        throw;
      }
    } else {
      task = new Task(std::forward<F>(fn));
    }
    absl::Status s = Enqueue(task, /*refill_blocks=*/Task::kRecyclable);
    if (!s.ok()) task->Abandon(s);
    return s;
  }

  // Submits `fn(input)` for every element of `inputs` at once, and returns
  // the results in input order (see MapResults). `timeout` is one deadline
  // measured from this call (as Python), not per result.
  //
  // `chunksize` (Python's argument, which its ThreadPoolExecutor ignores):
  // with chunksize > 1, consecutive inputs are grouped into chunks of that
  // many (the last may be shorter), each chunk is one task that runs `fn` on
  // its inputs in order and stops at the first exception; fewer, larger
  // tasks for cheap functions. A chunksize < 1 submits nothing and yields
  // InvalidArgument (Python's ValueError).
  template <typename F, typename Range>
  auto Map(F fn, const Range& inputs,
           absl::Duration timeout = absl::InfiniteDuration(),
           int chunksize = 1) {
    using In = decltype(*std::begin(inputs));
    using R = std::invoke_result_t<F&, In>;
    static_assert(!std::is_void_v<R>, "Map needs a function returning a value");
    absl::Time deadline = timeout == absl::InfiniteDuration()
                              ? absl::InfiniteFuture()
                              : absl::Now() + timeout;
    if (chunksize < 1) {
      return MapResults<R>(
          absl::InvalidArgumentError("Map: chunksize must be >= 1"));
    }
    if (chunksize == 1) {
      std::vector<Future<R>> futures;
      for (const auto& input : inputs) futures.push_back(Submit(fn, input));
      return MapResults<R>(std::move(futures), deadline);
    }
    using InValue = std::decay_t<In>;
    std::vector<Future<internal::MapChunk<R>>> chunks;
    std::vector<InValue> chunk;
    auto flush = [&] {
      chunks.push_back(Submit([fn, items = std::move(chunk)]() mutable {
        return internal::RunMapChunk<R>(fn, items);
      }));
      chunk.clear();
    };
    for (const auto& input : inputs) {
      chunk.push_back(input);
      if (chunk.size() == static_cast<size_t>(chunksize)) flush();
    }
    if (!chunk.empty()) flush();
    return MapResults<R>(std::move(chunks), deadline);
  }

  // Stops accepting tasks. With `cancel_futures`, cancels the tasks that
  // are still queued (running ones finish). With `wait`, blocks until every
  // worker has finished the remaining queued tasks and exited. May be called
  // any number of times, from any threads at once; no lock is held while
  // waiting. Called with `wait` from one of the pool's own tasks (or from a
  // done callback or continuation running on a worker), it waits for every
  // other worker except those that are themselves waiting in Shutdown (Python
  // raises "cannot join current thread" there; the caller's own thread is
  // joined later, by another caller or the destructor). Wakes on: the last
  // awaited worker exiting.
  void Shutdown(bool wait = true, bool cancel_futures = false);

  int max_workers() const { return max_workers_; }
  // Worker threads started so far (they start lazily).
  int num_threads() const;

 private:
  struct WorkerContext;

  // `refill_blocks`: if this thread has no recycled block of this pool left,
  // take the pool's free blocks.
  absl::Status Enqueue(internal::TaskNode* task, bool refill_blocks = false);
  // A block of internal::kExecuteBlockSize bytes: a recycled one from this
  // thread's cache for this pool, or a new one.
  void* AllocateExecuteBlock();
  // Keeps `block` (from a recyclable Execute task) for reuse, or frees it.
  void RecycleBlockLocked(void* block) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void StartWorkerLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WorkerMain(int index);
  void Break(const absl::Status& why);
  // internal::TaskNode::Hook: keeps idle_ right while a worker finishes a
  // task and runs its callbacks.
  static void WorkerHook(void* ctx, bool idle);
  // The exit step (internal/lifecycle.h): shuts down and joins every live
  // pool; true if there was one.
  static bool ShutdownAllAtExit();
  // True in a forked child for a pool made before the fork.
  bool InheritedByFork() const {
    return fork_generation_ != internal::ForkGeneration();
  }
  std::vector<std::thread>& threads_unsafe() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    return threads_;
  }

  const int max_workers_;
  const std::string prefix_;
  const std::function<absl::Status()> initializer_;

  mutable absl::Mutex mu_;
  absl::CondVar work_cv_;  // Signalled when a task is queued or on shutdown.
  internal::TaskNode* head_ ABSL_GUARDED_BY(mu_) = nullptr;
  internal::TaskNode* tail_ ABSL_GUARDED_BY(mu_) = nullptr;
  size_t queued_count_ ABSL_GUARDED_BY(mu_) = 0;
  // Workers waiting for work that no queued task has been matched with.
  size_t idle_ ABSL_GUARDED_BY(mu_) = 0;
  // Workers blocked in work_cv_.
  size_t parked_ ABSL_GUARDED_BY(mu_) = 0;
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status broken_ ABSL_GUARDED_BY(mu_);
  // Started workers whose std::thread no Shutdown caller has taken yet.
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(mu_);
  // Workers started and not yet exited; those of them inside Shutdown(wait).
  size_t live_workers_ ABSL_GUARDED_BY(mu_) = 0;
  size_t workers_in_shutdown_ ABSL_GUARDED_BY(mu_) = 0;
  // Recycled Execute blocks (linked through their first word), at most
  // kMaxFreeBlocks of them.
  void* free_blocks_ ABSL_GUARDED_BY(mu_) = nullptr;
  size_t free_block_count_ ABSL_GUARDED_BY(mu_) = 0;
  // Never reused: tells this pool's blocks in a thread's cache apart.
  const uint64_t id_;
  // internal::ForkGeneration() when the pool was made.
  const uint64_t fork_generation_;
  // Hints read without the lock by spinning workers, written under mu_ only
  // when they change (queue empty <-> not empty), on their own cache line so
  // that spinning does not slow down the lock's line.
  alignas(64) std::atomic<bool> has_work_hint_{false};
  std::atomic<bool> stop_hint_{false};
};

}  // namespace spindle

#endif  // SPINDLE_CONCURRENCY_THREAD_POOL_H_
