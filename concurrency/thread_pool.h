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
// Beyond Python (what users of BS::thread_pool and oneTBB expect):
//   pool.SubmitWithPriority(p, fn, args...) / pool.ExecuteWithPriority(p, fn):
//       higher p runs first, FIFO within a level (kMinPriority..kMaxPriority)
//   pool.Pause() / pool.Resume() / pool.is_paused()
//   pool.WaitAll() / WaitAllFor(d) / WaitAllUntil(t): every task submitted
//       before the call has finished; the pool stays open
//   pool.tasks_queued() / tasks_running() / tasks_total(); inside a task:
//       ThreadPoolExecutor::Current(), ThreadPoolExecutor::CurrentWorkerIndex()
//   Options::cleanup (the counterpart of initializer), Options::cpu_affinity,
//       Options::nice, Options::batch_scheduling (Linux)
//   pool.SetMaxWorkers(n): grow at once, shrink as workers become idle
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
//     constructor; use Create() to get InvalidArgument instead. Create() also
//     checks cpu_affinity, nice and batch_scheduling by trying them on a
//     probe thread (InvalidArgument for a CPU this process may not use,
//     PermissionDenied where the OS refuses a nice value or SCHED_BATCH);
//     if a worker's own attempt fails later, it breaks the pool as a
//     failing initializer does.
//   * A priority outside [kMinPriority, kMaxPriority]: SubmitWithPriority
//     returns a future already done with InvalidArgument;
//     ExecuteWithPriority returns InvalidArgument.
//   * WaitAll on one of the pool's own workers (in a task, a done callback
//     or a continuation running there) returns FailedPrecondition ("would
//     deadlock": the caller's own task is among those it waits for). That
//     code is also what IsShutDown() tests, and what WaitAll returns in a
//     forked child for an inherited pool; WaitAll on a pool that is shut
//     down but not forked still waits (for the remaining tasks) and returns
//     OK. WaitAllFor/Until return IsTimeout when the deadline passes first.
//   * A cleanup that throws or returns a non-OK status is logged on stderr;
//     the worker exits anyway and the pool is not broken.
//
// Workers start lazily: Submit starts a new thread (up to max_workers; none
// while the pool is paused) only when there are more queued tasks than idle
// workers, so idle workers are reused before new ones start (Python's idle
// semaphore, made exact). A worker is idle only once its task's done
// callbacks and `Then` continuations (which run on it) have returned, so a
// callback that submits to the same pool, and waits for the result, gets
// another worker while max_workers allows; without callbacks, a worker
// counts idle just before its future is published, so a waiter who submits
// again reuses it.
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
// happens-after every task it waited for finished, and after the exiting
// workers' cleanup returned. WaitAll returning OK happens-after every task it
// waited for finished (its future published and its done callbacks run).
//
// Priorities: a task's priority decides only the order in which queued tasks
// are taken; a running task is never pre-empted, and the OS scheduler knows
// nothing of it. Strict priority can starve: while tasks of a higher level
// keep arriving at least as fast as the workers take them, a lower-level
// task stays queued (nothing ages it). Tasks without a priority (Submit,
// Execute) have kDefaultPriority (0), and as long as none with another
// priority is queued, they take the same path as in a pool without
// priorities.
//
// Performance: at most one heap allocation per submitted task (the future's
// shared state holds the callable inline and is itself the queue node of an
// intrusive FIFO guarded by one absl::Mutex; small Execute tasks reuse the
// blocks of finished ones). Once the pool runs its full number of workers, a
// default-priority Submit/Execute takes no lock: it pushes the task onto a
// lock-free stack with one compare-and-swap, and a worker that needs work
// moves the whole stack into the FIFO at once (oldest first), so submitters
// and workers meet on one cache line instead of contending for the mutex.
// Workers spin briefly before parking, and a submitter signals (taking the
// mutex) only when a worker is parked.

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
#include "spindle/concurrency/internal/pool_generations.h"
#include "spindle/concurrency/internal/pool_queue.h"
#include "spindle/concurrency/internal/task_inbox.h"
#include "spindle/concurrency/internal/worker_os.h"
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
// Python's ThreadPoolExecutor semantics (see the file comment), plus
// priorities, pause/resume, WaitAll, monitoring, worker hooks and OS controls,
// and resizing.
class ThreadPoolExecutor {
 public:
  // The range of task priorities; higher runs first.
  static constexpr int kMinPriority = internal::PoolQueue::kMinPriority;
  static constexpr int kMaxPriority = internal::PoolQueue::kMaxPriority;
  static constexpr int kDefaultPriority = internal::PoolQueue::kDefaultPriority;

  struct Options {
    // At most this many worker threads; unset: min(32, cores + 4).
    std::optional<int> max_workers = std::nullopt;
    // Threads are named `<prefix>_<i>`; empty: "ThreadPoolExecutor-<n>".
    std::string thread_name_prefix = "";
    // Run once by each worker before its first task. A throw or a non-OK
    // status breaks the pool (see the file comment). It may be called from
    // several workers at once.
    std::function<absl::Status()> initializer = nullptr;
    // Run by each worker as it exits (at shutdown, when a broken pool
    // stops, or when SetMaxWorkers retires it), after its last task: the
    // counterpart of `initializer`, and run only by workers whose start
    // (OS controls and initializer) succeeded. A throw or a non-OK status is
    // logged on stderr and is otherwise ignored. It may be called from
    // several workers at once.
    std::function<absl::Status()> cleanup = nullptr;
    // Linux: CPUs every worker may run on (pthread_setaffinity_np); empty:
    // inherited from the thread that starts the worker. Each must be one
    // this process may use (sched_getaffinity).
    std::vector<int> cpu_affinity = {};
    // Linux: the workers' nice value (-20..19, setpriority on the worker's
    // thread id); unset: inherited. A value below the current one needs
    // CAP_SYS_NICE or RLIMIT_NICE, else the OS refuses (PermissionDenied).
    std::optional<int> nice = std::nullopt;
    // Linux: run the workers under SCHED_BATCH (their nice value and CPU
    // share unchanged; no privilege needed). A batch thread woken by a
    // Submit or Execute does not preempt the thread running on its CPU: the
    // submitter keeps the CPU until it blocks or its time slice ends, and
    // the woken worker runs then. For pools that serve a latency-critical
    // thread on the same CPUs (an event loop that hands work over): with
    // more runnable threads than CPUs, each hand-off otherwise costs the
    // submitter an involuntary context switch in the middle of its work.
    // The cost: when every CPU is busy, a woken worker waits until the
    // running thread blocks or its time slice ends (milliseconds at most),
    // whatever that thread is.
    bool batch_scheduling = false;
  };

  // Python's default worker count: min(32, hardware threads + 4).
  static int DefaultMaxWorkers();

  // Checks `options`: InvalidArgument if max_workers <= 0, if cpu_affinity
  // names a CPU this process may not use, or if nice is outside -20..19;
  // with cpu_affinity, nice or batch_scheduling set, applies them to a
  // short-lived probe thread first and returns what the OS said
  // (PermissionDenied...).
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
    return SubmitWithPriority(kDefaultPriority, std::forward<F>(fn),
                              std::forward<Args>(args)...);
  }

  // Submit() at `priority` (kMinPriority..kMaxPriority; higher runs first,
  // FIFO among tasks of one priority; see the file comment on starvation).
  // Out of range: the future is already done with InvalidArgument.
  template <typename F, typename... Args>
  auto SubmitWithPriority(int priority, F&& fn, Args&&... args)
      -> Future<std::invoke_result_t<std::decay_t<F>, std::decay_t<Args>...>> {
    using R = std::invoke_result_t<std::decay_t<F>, std::decay_t<Args>...>;
    auto call = [fn = std::forward<F>(fn),
                 ... args = std::forward<Args>(args)]() mutable -> R {
      return std::invoke(std::move(fn), std::move(args)...);
    };
    auto* task = new internal::TaskState<R, decltype(call)>(std::move(call));
    Future<R> future(task);  // Adopts the first of the task's two references.
    absl::Status s = internal::PoolQueue::ValidPriority(priority)
                         ? Enqueue(task, /*refill_blocks=*/false, priority)
                         : PriorityError(priority);
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
    return ExecuteWithPriority(kDefaultPriority, std::forward<F>(fn));
  }

  // Execute() at `priority` (as SubmitWithPriority). Out of range: returns
  // InvalidArgument and the task is destroyed, not run.
  template <typename F>
  absl::Status ExecuteWithPriority(int priority, F&& fn) {
    if (!internal::PoolQueue::ValidPriority(priority)) {
      return PriorityError(priority);
    }
    using Task = internal::ExecuteTask<std::decay_t<F>>;
    Task* task;
    if constexpr (Task::kRecyclable) {
      static_assert(sizeof(Task) <= internal::kExecuteBlockSize);
      void* block = AllocateExecuteBlock();
      try {
        task = ::new (block) Task(std::decay_t<F>(std::forward<F>(fn)));
      } catch (...) {
        ::operator delete(block);
        throw;
      }
    } else {
      task = new Task(std::decay_t<F>(std::forward<F>(fn)));
    }
    absl::Status s =
        Enqueue(task, /*refill_blocks=*/Task::kRecyclable, priority);
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

  // Stops accepting tasks, and ends a pause (queued tasks run, or with
  // `cancel_futures` are cancelled; later Pause calls do nothing). With
  // `cancel_futures`, cancels the tasks that are still queued (running ones
  // finish). With `wait`, blocks until every
  // worker has finished the remaining queued tasks and exited. May be called
  // any number of times, from any threads at once; no lock is held while
  // waiting. Called with `wait` from one of the pool's own tasks (or from a
  // done callback or continuation running on a worker), it waits for every
  // other worker except those that are themselves waiting in Shutdown (Python
  // raises "cannot join current thread" there; the caller's own thread is
  // joined later, by another caller or the destructor). Wakes on: the last
  // awaited worker exiting.
  void Shutdown(bool wait = true, bool cancel_futures = false);

  // Stops workers from taking queued tasks: running tasks finish, then their
  // workers park (no spinning) until Resume() or Shutdown(). Submit and
  // Execute still queue tasks, and no worker starts while paused. After
  // Shutdown() began, Pause does nothing (a paused pool could never drain).
  void Pause();
  // Lets the workers take tasks again, starting the workers the queued tasks
  // need (up to max_workers). Does nothing if not paused.
  void Resume();
  bool is_paused() const;

  // Blocks until every task submitted (accepted by Submit/Execute) before
  // this call has finished: run (its future published, its done callbacks
  // run), or been cancelled/abandoned by Shutdown or a broken pool. A task
  // cancelled through its future while queued counts once a worker discards
  // it. Tasks submitted meanwhile are not waited for, and the pool stays open.
  // On a paused pool it waits for Resume(). Returns OK; FailedPrecondition
  // when called on one of this pool's workers (it would deadlock); IsTimeout
  // when the deadline of WaitAllFor/WaitAllUntil passes first (a deadline in
  // the past: only checks). Wakes on: the last awaited task finishing, the
  // deadline.
  absl::Status WaitAll() { return WaitAllUntil(absl::InfiniteFuture()); }
  absl::Status WaitAllFor(absl::Duration timeout) {
    return WaitAllUntil(absl::Now() + timeout);
  }
  absl::Status WaitAllUntil(absl::Time deadline);

  // Monitoring snapshots (racy: the numbers may change as soon as they are
  // returned). Queued: accepted and not yet taken by a worker (cancelled
  // futures included until a worker discards them). Running: taken by a
  // worker and not finished (done callbacks included), or being cancelled
  // by Shutdown(cancel_futures) or a broken pool right now. Total: both.
  size_t tasks_queued() const;
  size_t tasks_running() const;
  size_t tasks_total() const;

  // On one of a pool's workers (in a task, or a done callback or
  // continuation running there): that pool, and the worker's index in
  // [0, max_workers) (the `_<i>` of its thread name; a retired worker's
  // index is reused by the next worker started). Elsewhere: nullptr and
  // std::nullopt.
  static ThreadPoolExecutor* Current();
  static std::optional<int> CurrentWorkerIndex();

  // Changes max_workers of a live pool. Growing starts at once the workers
  // that the queued tasks need; shrinking lets surplus workers exit as they
  // become idle (after their running task, never interrupting it; each runs
  // `cleanup`). InvalidArgument if n <= 0; IsShutDown after Shutdown();
  // IsBroken on a broken pool. Also joins the threads of workers retired
  // earlier (never its own; it does not wait for running tasks).
  absl::Status SetMaxWorkers(int n);

  int max_workers() const;
  // Worker threads started and not yet joined (they start lazily; Shutdown
  // and SetMaxWorkers join exited ones).
  int num_threads() const;

 private:
  struct WorkerContext;

  // `refill_blocks`: if this thread has no recycled block of this pool left,
  // take the pool's free blocks.
  absl::Status Enqueue(internal::TaskNode* task, bool refill_blocks,
                       int priority);
  static absl::Status PriorityError(int priority);
  // A block of internal::kExecuteBlockSize bytes: a recycled one from this
  // thread's cache for this pool, or a new one.
  void* AllocateExecuteBlock();
  // Keeps `block` (from a recyclable Execute task) for reuse; false if the
  // pool keeps kMaxFreeBlocks already (the caller frees it).
  bool RecycleBlockLocked(void* block) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void StartWorkerLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Enqueue's path without mu_ (see inbox_); false if it does not apply and
  // the caller takes the locked path.
  bool TryEnqueueFast(internal::TaskNode* task, bool refill_blocks);
  // If this thread's block cache has no block of this pool, hands it the
  // pool's free blocks. Returns another pool's blocks the cache held (to
  // free after unlocking).
  void* RefillBlockCacheLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Moves the inbox's tasks into queue_ (oldest first), stamping their
  // WaitAll generation.
  void DrainInboxLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Queues a list taken from the inbox (oldest first).
  void QueueInboxLocked(internal::TaskNode* oldest)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Drains the inbox and closes it for good (Shutdown, Break).
  void CloseInboxLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Recomputes fast_path_.
  void UpdateFastPathLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Starts workers while the queued tasks outnumber the idle workers and
  // max_workers allows (not while paused).
  void StartNeededWorkersLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WorkerMain(int index);
  // Runs cleanup_ (if any) on an exiting worker; logs a failure.
  void RunCleanup(const std::string& name);
  void Break(const absl::Status& why);
  // Abandons `tasks` (linked through next_task) with `why`, then counts them
  // finished for WaitAll.
  void AbandonAll(internal::TaskNode* tasks, const absl::Status& why);
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

  const std::string prefix_;
  const std::function<absl::Status()> initializer_;
  const std::function<absl::Status()> cleanup_;
  const internal::WorkerOsControls os_controls_;

  // The members that a locked Submit/Execute and every finished task write
  // share the mutex's cache line, so a hand-off moves that one line between
  // cores; what is only read on that path (paused_, shutdown_, broken_, the
  // limits) follows on lines that stay shared. Measured: the generation
  // count on a second written line cost Submit+Result a third of its
  // throughput on two cores (before the lock-free inbox, below).
  alignas(64) mutable absl::Mutex mu_;
  internal::PoolQueue queue_ ABSL_GUARDED_BY(mu_);
  // Recycled Execute blocks, linked through their first word; the second
  // word of the first block holds the list's length (at most
  // kMaxFreeBlocks).
  void* free_blocks_ ABSL_GUARDED_BY(mu_) = nullptr;
  // Workers waiting for work that no queued task has been matched with.
  uint32_t idle_ ABSL_GUARDED_BY(mu_) = 0;
  // Its first member (the open generation's count) ends the line above.
  internal::PoolGenerations generations_ ABSL_GUARDED_BY(mu_);
  static_assert(sizeof(absl::Mutex) + sizeof(internal::PoolQueue) +
                        sizeof(void*) + sizeof(uint64_t) /* idle_, padded */ +
                        sizeof(size_t) <=
                    64,
                "the hot members no longer fit one cache line");

  absl::CondVar work_cv_;  // Signalled when a task is queued or on shutdown.
  // Workers started and not leaving (what max_workers limits).
  size_t active_workers_ ABSL_GUARDED_BY(mu_) = 0;
  int max_workers_ ABSL_GUARDED_BY(mu_);
  bool paused_ ABSL_GUARDED_BY(mu_) = false;
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status broken_ ABSL_GUARDED_BY(mu_);
  // Started workers whose std::thread no Shutdown caller has taken yet.
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(mu_);
  // Workers of threads_ that have retired (SetMaxWorkers), to be joined.
  std::vector<std::thread::id> retired_ ABSL_GUARDED_BY(mu_);
  // Worker indices free for reuse (retired workers'), and the next new one.
  std::vector<int> free_indices_ ABSL_GUARDED_BY(mu_);
  int next_index_ ABSL_GUARDED_BY(mu_) = 0;
  // Workers started and not yet exited; those of them inside Shutdown(wait).
  size_t live_workers_ ABSL_GUARDED_BY(mu_) = 0;
  size_t workers_in_shutdown_ ABSL_GUARDED_BY(mu_) = 0;
  // Never reused: tells this pool's blocks in a thread's cache apart.
  const uint64_t id_;
  // internal::ForkGeneration() when the pool was made.
  const uint64_t fork_generation_;
  // Hints read without the lock by spinning workers, written under mu_ only
  // when they change (queue empty <-> not empty), on their own cache line so
  // that spinning does not slow down the lock's line.
  alignas(64) std::atomic<bool> has_work_hint_{false};
  std::atomic<bool> stop_hint_{false};
  // Whether Enqueue may push a default-priority task onto inbox_ without
  // taking mu_: the pool runs its full number of workers (so no worker has
  // to be started) and is not paused, shut down or broken. Written under
  // mu_ when one of those changes (UpdateFastPathLocked).
  std::atomic<bool> fast_path_{false};
  // Set when free_blocks_ becomes non-empty, cleared when a submitter takes
  // the list: an Execute whose thread has no recycled block left takes the
  // locked path only when there are blocks to take.
  std::atomic<bool> free_blocks_hint_{false};
  // Workers blocked in work_cv_ (changed under mu_; read without it by a
  // submitter on the fast path, after its push: see TryEnqueueFast).
  std::atomic<uint32_t> parked_{0};

  // Default-priority tasks submitted on the fast path, newest first (a
  // lock-free stack linked through next_task), or a closed marker once the
  // pool is shut down or broken (see task_inbox.h). Moved into queue_,
  // oldest first, under mu_ (DrainInboxLocked); everything in queue_'s
  // default level is older than everything here. A submitter on the fast path
  // touches this line and no other the workers write. The last member: the
  // class's 64-byte alignment leaves the line to it.
  alignas(64) internal::TaskInbox inbox_;
};

}  // namespace spindle

#endif  // SPINDLE_CONCURRENCY_THREAD_POOL_H_
