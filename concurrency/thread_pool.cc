// Copyright 2026 The spindle Authors.

#include "spindle/concurrency/thread_pool.h"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <new>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/internal/raw_logging.h"
#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "spindle/concurrency/internal/lifecycle.h"
#include "spindle/concurrency/internal/perturb.h"
#include "spindle/concurrency/internal/spin.h"
#include "spindle/concurrency/internal/worker_os.h"

namespace spindle {
namespace {

std::atomic<int> pool_counter{0};
std::atomic<uint64_t> pool_ids{0};

// At most this many recycled Execute blocks are kept per pool (256 KiB); a
// worker frees the ones beyond.
constexpr size_t kMaxFreeBlocks = 4096;

// A free block's first word links the next one; in a pool's list, the
// second word of the first block holds the list's length.
void* NextBlock(void* block) { return *static_cast<void**>(block); }
void SetNextBlock(void* block, void* next) {
  *static_cast<void**>(block) = next;
}
size_t ListLength(void* head) {
  return head == nullptr ? 0 : static_cast<size_t*>(head)[1];
}
static_assert(internal::kExecuteBlockSize >= sizeof(void*) + sizeof(size_t));
void FreeBlocks(void* list) {
  while (list != nullptr) {
    void* next = NextBlock(list);
    ::operator delete(list);
    list = next;
  }
}

// This thread's recycled Execute blocks, all from the pool with id
// `pool_id`. They are plain ::operator new blocks, so they may outlive that
// pool: they are freed when the thread moves on to another pool, or exits.
struct BlockCache {
  uint64_t pool_id = 0;
  void* head = nullptr;
  ~BlockCache() { FreeBlocks(head); }
};
thread_local BlockCache block_cache;

// How long an idle worker polls the queue before parking: kSpinRounds polls,
// each after kPausesPerRound pause instructions and a yield. Short, and
// yielding, because the machine may have few cores (a spinner would take the
// submitter's); long enough that a steady stream of tasks finds workers
// awake, so submitters rarely pay for a futex wake.
constexpr int kSpinRounds = 8;
constexpr int kPausesPerRound = 16;

using internal::CpuRelax;

// The pool whose worker this thread is, if any, and the worker's index.
thread_local ThreadPoolExecutor* current_worker_pool = nullptr;
thread_local int current_worker_index = -1;

// Every live pool of this process, for the exit step (Python's
// concurrent.futures joins its pools through threading._register_atexit).
// Never destroyed; a forked child starts with a new, empty one (the
// parent's may have been locked by another thread at the fork).
struct PoolRegistry {
  absl::Mutex mu;
  std::vector<ThreadPoolExecutor*> pools ABSL_GUARDED_BY(mu);
  // Pools the exit step has shut down already.
  std::vector<ThreadPoolExecutor*> exit_joined ABSL_GUARDED_BY(mu);
  // The pool the exit step is shutting down right now (its destructor waits
  // for the step to let go of it).
  ThreadPoolExecutor* joining ABSL_GUARDED_BY(mu) = nullptr;
};
internal::LeakedGlobal<PoolRegistry> pool_registry;

PoolRegistry& Pools() { return pool_registry.Get(); }

// Set once exit() has begun: pools then reject new tasks, as Python's do
// ("cannot schedule new futures after interpreter shutdown").
std::atomic<bool> exiting{false};

template <typename T>
void EraseOne(std::vector<T*>& v, const T* x) {
  for (auto it = v.begin(); it != v.end(); ++it) {
    if (*it == x) {
      v.erase(it);
      return;
    }
  }
}

[[maybe_unused]] const bool kPoolsForgetAfterFork = [] {
  // The parent's pools have no workers in the child: forget them (leaked,
  // never locked again), so that exit() in the child does not wait for them.
  pthread_atfork(nullptr, nullptr, [] { pool_registry.Renew(); });
  return true;
}();

std::string ThreadName(const std::string& prefix, int index) {
  // Linux keeps 15 bytes of a name; keep the "_<i>" suffix whole.
  std::string suffix = absl::StrCat("_", index);
  constexpr size_t kMax = 15;
  std::string head = prefix.substr(
      0, suffix.size() >= kMax ? 0
                               : std::min(prefix.size(), kMax - suffix.size()));
  return head + suffix;
}

// Calls `hook` (if set); a throw becomes an Unknown status naming `what`.
absl::Status CallWorkerHook(const std::function<absl::Status()>& hook,
                            const char* what) {
  if (!hook) return absl::OkStatus();
  try {
    return hook();
  } catch (const std::exception& e) {
    return absl::UnknownError(absl::StrCat(what, " threw: ", e.what()));
  } catch (...) {
    return absl::UnknownError(absl::StrCat(what, " threw"));
  }
}

}  // namespace

// Per-worker bookkeeping that WorkerHook updates.
struct ThreadPoolExecutor::WorkerContext {
  ThreadPoolExecutor* pool;
  bool idle_registered = false;
};

bool ThreadPoolExecutor::ShutdownAllAtExit() {
  exiting.store(true, std::memory_order_relaxed);
  PoolRegistry& r = Pools();
  bool waited = false;
  absl::MutexLock lock(&r.mu);
  for (;;) {
    ThreadPoolExecutor* next = nullptr;
    for (ThreadPoolExecutor* pool : r.pools) {
      if (std::find(r.exit_joined.begin(), r.exit_joined.end(), pool) ==
          r.exit_joined.end()) {
        next = pool;
        break;
      }
    }
    if (next == nullptr) return waited;
    r.exit_joined.push_back(next);
    r.joining = next;
    r.mu.Unlock();
    // Runs the queued tasks and joins the workers (on a worker of `next`:
    // waits for the others), with no registry lock held.
    next->Shutdown(/*wait=*/true);
    r.mu.Lock();
    r.joining = nullptr;
    waited = true;
  }
}

int ThreadPoolExecutor::DefaultMaxWorkers() {
  int cores = static_cast<int>(std::thread::hardware_concurrency());
  if (cores <= 0) cores = 1;
  return std::min(32, cores + 4);
}

absl::StatusOr<std::unique_ptr<ThreadPoolExecutor>> ThreadPoolExecutor::Create(
    Options options) {
  if (options.max_workers.has_value() && *options.max_workers <= 0) {
    return absl::InvalidArgumentError("max_workers must be greater than 0");
  }
  absl::Status os = internal::ProbeWorkerOsControls(
      {options.cpu_affinity, options.nice, options.batch_scheduling});
  if (!os.ok()) return os;
  return std::make_unique<ThreadPoolExecutor>(std::move(options));
}

ThreadPoolExecutor::ThreadPoolExecutor(Options options)
    : prefix_(
          options.thread_name_prefix.empty()
              ? absl::StrCat("ThreadPoolExecutor-", pool_counter.fetch_add(1))
              : options.thread_name_prefix),
      initializer_(std::move(options.initializer)),
      cleanup_(std::move(options.cleanup)),
      os_controls_{std::move(options.cpu_affinity), options.nice,
                   options.batch_scheduling},
      max_workers_(options.max_workers.value_or(DefaultMaxWorkers())),
      id_(pool_ids.fetch_add(1, std::memory_order_relaxed) + 1),
      fork_generation_(internal::ForkGeneration()) {
  ABSL_RAW_CHECK(max_workers_ > 0, "max_workers must be greater than 0");
  internal::SetExitStep(internal::ExitStep::kShutdownPools,
                        &ThreadPoolExecutor::ShutdownAllAtExit);
  PoolRegistry& r = Pools();
  absl::MutexLock lock(&r.mu);
  r.pools.push_back(this);
}

ThreadPoolExecutor::~ThreadPoolExecutor() {
  if (InheritedByFork()) {
    // A forked child's copy: the workers live in the parent only, and the
    // parent's threads may have held mu_ at the fork. Touch nothing; the
    // thread objects are leaked (destroying a joinable std::thread would
    // terminate the process, joining one would wait forever).
    new std::vector<std::thread>(std::move(threads_unsafe()));
    return;
  }
  Shutdown(/*wait=*/true);
  {
    PoolRegistry& r = Pools();
    absl::MutexLock lock(&r.mu);
    // The exit step may be shutting us down from another thread right now.
    auto released = [&r, this]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
      return r.joining != this;
    };
    r.mu.Await(absl::Condition(&released));
    EraseOne(r.pools, this);
    EraseOne(r.exit_joined, this);
  }
  absl::MutexLock lock(&mu_);
  FreeBlocks(free_blocks_);
  free_blocks_ = nullptr;
}

void* ThreadPoolExecutor::AllocateExecuteBlock() {
  BlockCache& cache = block_cache;
  if (cache.pool_id == id_ && cache.head != nullptr) {
    void* block = cache.head;
    cache.head = NextBlock(block);
    return block;
  }
  return ::operator new(internal::kExecuteBlockSize);
}

bool ThreadPoolExecutor::RecycleBlockLocked(void* block) {
  const size_t length = ListLength(free_blocks_);
  if (length >= kMaxFreeBlocks) return false;
  SetNextBlock(block, free_blocks_);
  static_cast<size_t*>(block)[1] = length + 1;
  free_blocks_ = block;
  if (length == 0) free_blocks_hint_.store(true, std::memory_order_relaxed);
  return true;
}

int ThreadPoolExecutor::num_threads() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(threads_.size());
}

int ThreadPoolExecutor::max_workers() const {
  absl::MutexLock lock(&mu_);
  return max_workers_;
}

absl::Status ThreadPoolExecutor::PriorityError(int priority) {
  return absl::InvalidArgumentError(absl::StrCat("priority ", priority,
                                                 " is outside [", kMinPriority,
                                                 ", ", kMaxPriority, "]"));
}

absl::Status ThreadPoolExecutor::Enqueue(internal::TaskNode* task,
                                         bool refill_blocks, int priority) {
  if (InheritedByFork()) {
    // Checked before taking mu_, which a parent's thread may have held.
    return ShutDownError(
        "this thread pool was created before fork(); its workers do not "
        "exist in the child process");
  }
  if (priority == kDefaultPriority && TryEnqueueFast(task, refill_blocks)) {
    return absl::OkStatus();
  }
  bool wake;
  void* stale_blocks = nullptr;  // Another pool's, freed after unlocking.
  {
    absl::MutexLock lock(&mu_);
    if (!broken_.ok()) return broken_;
    if (shutdown_) {
      return ShutDownError("cannot schedule new futures after shutdown");
    }
    if (exiting.load(std::memory_order_relaxed)) {
      return ShutDownError("cannot schedule new futures after exit() began");
    }

    if (refill_blocks) stale_blocks = RefillBlockCacheLocked();
    // Older tasks first (FIFO within the default level).
    DrainInboxLocked();
    task->wait_generation = generations_.Submitted();
    if (queue_.empty()) has_work_hint_.store(true, std::memory_order_relaxed);
    queue_.Push(task, priority);
    wake = parked_.load(std::memory_order_relaxed) > 0 && !paused_;
    // More queued tasks than idle workers to take them: start one more.
    if (queue_.size() > idle_ &&
        active_workers_ < static_cast<size_t>(max_workers_) && !paused_) {
      StartWorkerLocked();
    }
  }
  // Signalled after unlocking, so the woken worker finds the lock free. No
  // wake-up is lost: a worker parks only after seeing an empty queue under
  // the lock, so one parked before our unlock is still waiting now, and one
  // that parks later sees the task.
  SPINDLE_PERTURB_POINT();
  if (wake) work_cv_.Signal();
  FreeBlocks(stale_blocks);
  return absl::OkStatus();
}

bool ThreadPoolExecutor::TryEnqueueFast(internal::TaskNode* task,
                                        bool refill_blocks) {
  if (!fast_path_.load(std::memory_order_relaxed) ||
      exiting.load(std::memory_order_relaxed)) {
    return false;
  }
  if (refill_blocks && free_blocks_hint_.load(std::memory_order_relaxed)) {
    const BlockCache& cache = block_cache;
    if (cache.pool_id != id_ || cache.head == nullptr) {
      // This thread has no recycled block left and the pool has some: take
      // them (the task itself still goes onto the inbox).
      void* stale_blocks;
      {
        absl::MutexLock lock(&mu_);
        stale_blocks = RefillBlockCacheLocked();
      }
      FreeBlocks(stale_blocks);
    }
  }
  // Closed: shut down or broken; the locked path says which.
  if (!inbox_.Push(task)) return false;
  // No wake-up is lost: a worker increments parked_ and then looks at the
  // inbox (both sequentially consistent, under mu_, which it holds until it
  // waits), so either it sees this task or this load sees it parked; the
  // signal is sent under mu_, so it reaches a worker that is waiting.
  if (parked_.load(std::memory_order_seq_cst) > 0) {
    SPINDLE_PERTURB_POINT();
    absl::MutexLock lock(&mu_);
    work_cv_.Signal();
  }
  return true;
}

void* ThreadPoolExecutor::RefillBlockCacheLocked() {
  if (free_blocks_ == nullptr) return nullptr;
  BlockCache& cache = block_cache;
  void* stale_blocks = nullptr;
  if (cache.pool_id != id_) {
    stale_blocks = cache.head;
    cache.head = nullptr;
    cache.pool_id = id_;
  }
  if (cache.head == nullptr) {
    cache.head = free_blocks_;
    free_blocks_ = nullptr;
    free_blocks_hint_.store(false, std::memory_order_relaxed);
  }
  return stale_blocks;
}

void ThreadPoolExecutor::DrainInboxLocked() {
  QueueInboxLocked(inbox_.TakeAll());
}

void ThreadPoolExecutor::CloseInboxLocked() {
  QueueInboxLocked(inbox_.Close());
}

void ThreadPoolExecutor::QueueInboxLocked(internal::TaskNode* oldest) {
  if (oldest != nullptr && queue_.empty()) {
    has_work_hint_.store(true, std::memory_order_relaxed);
  }
  while (oldest != nullptr) {
    internal::TaskNode* next = oldest->next_task;
    oldest->wait_generation = generations_.Submitted();
    queue_.Push(oldest);
    oldest = next;
  }
}

void ThreadPoolExecutor::UpdateFastPathLocked() {
  fast_path_.store(!shutdown_ && broken_.ok() && !paused_ &&
                       active_workers_ >= static_cast<size_t>(max_workers_),
                   std::memory_order_relaxed);
}

void ThreadPoolExecutor::StartWorkerLocked() {
  int index;
  if (free_indices_.empty()) {
    index = next_index_++;
  } else {
    // The lowest free index, so indices stay in [0, max_workers).
    auto lowest = std::min_element(free_indices_.begin(), free_indices_.end());
    index = *lowest;
    free_indices_.erase(lowest);
  }
  // The new worker counts as idle from now on (it will take a task without
  // anyone waking it), so the next Submit does not start another thread.
  ++idle_;
  ++active_workers_;
  UpdateFastPathLocked();
  ++live_workers_;
  threads_.emplace_back([this, index] { WorkerMain(index); });
}

void ThreadPoolExecutor::StartNeededWorkersLocked() {
  while (!paused_ && !shutdown_ && broken_.ok() && queue_.size() > idle_ &&
         active_workers_ < static_cast<size_t>(max_workers_)) {
    StartWorkerLocked();
  }
}

void ThreadPoolExecutor::WorkerHook(void* arg, bool idle) {
  auto* ctx = static_cast<WorkerContext*>(arg);
  ThreadPoolExecutor* pool = ctx->pool;
  if (idle) {
    // The task and its callbacks are over (or it has none, and its future
    // is about to be published). If the queue is empty, count the worker
    // idle *now*, so that a caller woken by this future who submits again
    // finds it idle and no new thread starts (Python's
    // test_idle_thread_reuse). The hint keeps the busy path lock-free.
    if (ctx->idle_registered ||
        pool->has_work_hint_.load(std::memory_order_relaxed) ||
        pool->inbox_.NonEmpty()) {
      return;
    }
    SPINDLE_PERTURB_POINT();
    absl::MutexLock lock(&pool->mu_);
    pool->DrainInboxLocked();
    if (pool->queue_.empty() && !pool->shutdown_) {
      ++pool->idle_;
      ctx->idle_registered = true;
    }
    return;
  }
  // A user callback turned up after the worker was counted idle: it runs on
  // this worker, which is busy again. A task queued meanwhile in the belief
  // that this worker would take it gets a new worker if the pool may grow.
  if (!ctx->idle_registered) return;
  absl::MutexLock lock(&pool->mu_);
  --pool->idle_;
  ctx->idle_registered = false;
  if (pool->queue_.size() > pool->idle_) pool->StartNeededWorkersLocked();
}

void ThreadPoolExecutor::RunCleanup(const std::string& name) {
  absl::Status s = CallWorkerHook(cleanup_, "cleanup");
  if (!s.ok()) {
    ABSL_RAW_LOG(ERROR, "spindle: cleanup of %s failed: %s", name.c_str(),
                 s.ToString().c_str());
  }
}

void ThreadPoolExecutor::WorkerMain(int index) {
  const std::string name = ThreadName(prefix_, index);
  pthread_setname_np(pthread_self(), name.c_str());
  current_worker_pool = this;
  current_worker_index = index;

  WorkerContext ctx{this};
  ctx.idle_registered = true;  // StartWorkerLocked counted us idle.

  // OS controls first, so that the initializer runs where the tasks will.
  const absl::Status os = internal::ApplyWorkerOsControls(os_controls_);
  const absl::Status s =
      os.ok() ? CallWorkerHook(initializer_, "initializer") : os;
  if (!s.ok()) {
    const char* what = os.ok() ? "a thread initializer failed"
                               : "a worker could not apply its OS controls";
    ABSL_RAW_LOG(ERROR, "spindle: starting %s: %s: %s", name.c_str(), what,
                 s.ToString().c_str());
    Break(BrokenError(absl::StrCat(
        what, ", the thread pool is not usable anymore: ", s.ToString())));
    absl::MutexLock lock(&mu_);
    --idle_;
    --active_workers_;
    UpdateFastPathLocked();
    --live_workers_;
    return;
  }

  bool retired = false;
  mu_.Lock();
  for (;;) {
    // The inbox holds the newest default-priority tasks: needed only when
    // the queue has nothing older of that level or anything of another.
    if (queue_.empty() || !queue_.only_default()) DrainInboxLocked();
    if (!paused_ && !queue_.empty()) {
      // More workers than max_workers (SetMaxWorkers shrank the pool): this
      // one leaves instead of taking another task.
      if (active_workers_ > static_cast<size_t>(max_workers_)) {
        retired = true;
        break;
      }
      internal::TaskNode* task = queue_.Pop();
      if (queue_.empty()) {
        has_work_hint_.store(false, std::memory_order_relaxed);
      }
      if (ctx.idle_registered) {
        --idle_;
        ctx.idle_registered = false;
      }
      const uint64_t generation = task->wait_generation;
      mu_.Unlock();
      SPINDLE_PERTURB_POINT();
      void* block = task->Run(&WorkerHook, &ctx);
      mu_.Lock();
      generations_.Finished(generation);
      if (block != nullptr) {
        // Kept for Execute to reuse (under the lock we take anyway).
        if (!RecycleBlockLocked(block)) {
          mu_.Unlock();
          ::operator delete(block);
          mu_.Lock();
        }
      }
      continue;
    }
    if (shutdown_ || !broken_.ok()) break;
    if (active_workers_ > static_cast<size_t>(max_workers_)) {
      retired = true;
      break;
    }
    if (!ctx.idle_registered) {
      ++idle_;
      ctx.idle_registered = true;
    }
    // Spin briefly: a task that arrives now is taken without a futex
    // round trip, and the submitter does not have to signal. A paused
    // worker does not spin: the hint may stay set while paused.
    // Between polls the worker yields its core: on a machine with few cores
    // the submitter (or anyone else) gets to run instead of a spinner.
    const bool spin = !paused_;
    mu_.Unlock();
    for (int i = 0; spin && i < kSpinRounds; ++i) {
      if (has_work_hint_.load(std::memory_order_relaxed) ||
          stop_hint_.load(std::memory_order_relaxed) || inbox_.NonEmpty()) {
        break;
      }
      SPINDLE_PERTURB_POINT();
      for (int j = 0; j < kPausesPerRound; ++j) CpuRelax();
      std::this_thread::yield();
    }
    SPINDLE_PERTURB_POINT();
    mu_.Lock();
    DrainInboxLocked();
    if ((!paused_ && !queue_.empty()) || shutdown_ || !broken_.ok() ||
        active_workers_ > static_cast<size_t>(max_workers_)) {
      continue;
    }
    // Announce, then look at the inbox once more (see TryEnqueueFast).
    parked_.fetch_add(1, std::memory_order_seq_cst);
    if (!inbox_.NonEmpty(std::memory_order_seq_cst)) work_cv_.Wait(&mu_);
    parked_.fetch_sub(1, std::memory_order_relaxed);
  }
  if (ctx.idle_registered) --idle_;
  // No longer counted against max_workers; still live until it has run
  // its cleanup (Shutdown(wait) waits for that).
  --active_workers_;
  UpdateFastPathLocked();
  if (retired) {
    free_indices_.push_back(index);
    retired_.push_back(std::this_thread::get_id());
    // Tasks it would have taken need someone else (e.g. it retired with
    // the queue non-empty because it was over the limit, and another worker
    // parked meanwhile).
    if (!queue_.empty()) work_cv_.Signal();
  }
  mu_.Unlock();
  RunCleanup(name);
  absl::MutexLock lock(&mu_);
  --live_workers_;  // Shutdown(wait) callers wake on this.
}

void ThreadPoolExecutor::AbandonAll(internal::TaskNode* tasks,
                                    const absl::Status& why) {
  if (tasks == nullptr) return;
  // Each node is gone after Abandon: keep the generations to count them.
  std::vector<uint64_t> generations;
  for (internal::TaskNode* t = tasks; t != nullptr; t = t->next_task) {
    generations.push_back(t->wait_generation);
  }
  while (tasks != nullptr) {
    internal::TaskNode* next = tasks->next_task;
    tasks->Abandon(why);
    tasks = next;
  }
  absl::MutexLock lock(&mu_);
  for (uint64_t g : generations) generations_.Finished(g);
}

void ThreadPoolExecutor::Break(const absl::Status& why) {
  internal::TaskNode* pending = nullptr;
  {
    absl::MutexLock lock(&mu_);
    if (!broken_.ok()) return;
    broken_ = why;
    CloseInboxLocked();
    UpdateFastPathLocked();
    pending = queue_.TakeAll();
    has_work_hint_.store(false, std::memory_order_relaxed);
    stop_hint_.store(true, std::memory_order_relaxed);
    work_cv_.SignalAll();
  }
  AbandonAll(pending, why);
}

void ThreadPoolExecutor::Pause() {
  if (InheritedByFork()) return;
  absl::MutexLock lock(&mu_);
  if (!shutdown_) paused_ = true;
  UpdateFastPathLocked();
}

void ThreadPoolExecutor::Resume() {
  if (InheritedByFork()) return;
  absl::MutexLock lock(&mu_);
  if (!paused_) return;
  paused_ = false;
  DrainInboxLocked();
  StartNeededWorkersLocked();
  UpdateFastPathLocked();
  if (parked_.load(std::memory_order_relaxed) > 0 && !queue_.empty()) {
    work_cv_.SignalAll();
  }
}

bool ThreadPoolExecutor::is_paused() const {
  if (InheritedByFork()) return false;
  absl::MutexLock lock(&mu_);
  return paused_;
}

absl::Status ThreadPoolExecutor::WaitAllUntil(absl::Time deadline) {
  if (current_worker_pool == this) {
    return absl::FailedPreconditionError(
        "WaitAll called on one of the pool's own workers would deadlock (it "
        "waits for the task it is running)");
  }
  if (InheritedByFork()) {
    return ShutDownError(
        "this thread pool was created before fork(); its workers do not "
        "exist in the child process");
  }
  absl::MutexLock lock(&mu_);
  DrainInboxLocked();  // Tasks submitted before this call are counted.
  const uint64_t cut = generations_.Cut();
  auto done = [this, cut]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    return generations_.Done(cut);
  };
  if (!mu_.AwaitWithDeadline(absl::Condition(&done), deadline)) {
    return TimeoutError("WaitAll: tasks still unfinished at the deadline");
  }
  return absl::OkStatus();
}

size_t ThreadPoolExecutor::tasks_queued() const {
  if (InheritedByFork()) return 0;
  absl::MutexLock lock(&mu_);
  return queue_.size() + inbox_.Length();
}

size_t ThreadPoolExecutor::tasks_running() const {
  if (InheritedByFork()) return 0;
  absl::MutexLock lock(&mu_);
  // Submitted and unfinished, less those still queued.
  return generations_.unfinished() - queue_.size();
}

size_t ThreadPoolExecutor::tasks_total() const {
  if (InheritedByFork()) return 0;
  absl::MutexLock lock(&mu_);
  return generations_.unfinished() + inbox_.Length();
}

ThreadPoolExecutor* ThreadPoolExecutor::Current() {
  return current_worker_pool;
}

std::optional<int> ThreadPoolExecutor::CurrentWorkerIndex() {
  if (current_worker_pool == nullptr) return std::nullopt;
  return current_worker_index;
}

absl::Status ThreadPoolExecutor::SetMaxWorkers(int n) {
  if (n <= 0) {
    return absl::InvalidArgumentError("max_workers must be greater than 0");
  }
  if (InheritedByFork()) {
    return ShutDownError(
        "this thread pool was created before fork(); its workers do not "
        "exist in the child process");
  }
  std::vector<std::thread> exited;
  {
    absl::MutexLock lock(&mu_);
    if (!broken_.ok()) return broken_;
    if (shutdown_) return ShutDownError("cannot resize after shutdown");
    max_workers_ = n;
    DrainInboxLocked();
    StartNeededWorkersLocked();
    UpdateFastPathLocked();
    // Surplus workers parked idle wake up to leave.
    if (active_workers_ > static_cast<size_t>(n)) work_cv_.SignalAll();
    // Join the workers that retired earlier (they have left the loop).
    for (std::thread::id id : retired_) {
      for (auto it = threads_.begin(); it != threads_.end(); ++it) {
        if (it->get_id() == id) {
          exited.push_back(std::move(*it));
          threads_.erase(it);
          break;
        }
      }
    }
    retired_.clear();
  }
  for (std::thread& t : exited) t.join();
  return absl::OkStatus();
}

void ThreadPoolExecutor::Shutdown(bool wait, bool cancel_futures) {
  // A forked child's copy has no workers here (and mu_ may have been held
  // by one of the parent's threads at the fork).
  if (InheritedByFork()) return;
  internal::TaskNode* cancelled = nullptr;
  {
    absl::MutexLock lock(&mu_);
    // From here on every Submit takes the locked path and sees shutdown_.
    CloseInboxLocked();
    if (cancel_futures) {
      cancelled = queue_.TakeAll();
      has_work_hint_.store(false, std::memory_order_relaxed);
    }
    if (paused_) {
      // Shutdown ends a pause: the queued tasks run (none started a worker
      // while paused, so start those they need now).
      paused_ = false;
      StartNeededWorkersLocked();
    }
    shutdown_ = true;
    UpdateFastPathLocked();
    stop_hint_.store(true, std::memory_order_relaxed);
    work_cv_.SignalAll();
  }
  AbandonAll(cancelled, CancelledError("cancelled by Shutdown()"));
  if (!wait) return;
  SPINDLE_PERTURB_POINT();
  // No lock is held while joining, so any number of callers, workers among
  // them, can wait at once. A caller from outside the pool joins the
  // threads it finds (a later caller finds none and waits for the workers
  // to exit). One of the pool's own workers joins nobody: it waits until
  // every worker that is not itself waiting in Shutdown has exited (Python
  // raises "cannot join current thread" in there); its own thread is
  // joined later, by an outside caller or the destructor.
  const bool own_worker = current_worker_pool == this;
  std::vector<std::thread> threads;
  {
    absl::MutexLock lock(&mu_);
    if (own_worker) {
      ++workers_in_shutdown_;
    } else {
      threads.swap(threads_);
    }
  }
  for (std::thread& t : threads) t.join();
  absl::MutexLock lock(&mu_);
  auto exited = [this, own_worker]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    return live_workers_ == (own_worker ? workers_in_shutdown_ : 0);
  };
  mu_.Await(absl::Condition(&exited));
  if (own_worker) --workers_in_shutdown_;
}

}  // namespace spindle
