// Copyright 2026 The spindle Authors.

#include "spindle/concurrency/thread_pool.h"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <exception>
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

namespace spindle {
namespace {

std::atomic<int> pool_counter{0};
std::atomic<uint64_t> pool_ids{0};

// At most this many recycled Execute blocks are kept per pool (256 KiB); a
// worker frees the ones beyond.
constexpr size_t kMaxFreeBlocks = 4096;

void* NextBlock(void* block) { return *static_cast<void**>(block); }
void SetNextBlock(void* block, void* next) {
  *static_cast<void**>(block) = next;
}
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

// The pool whose worker this thread is, if any.
thread_local const ThreadPoolExecutor* current_worker_pool = nullptr;

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
  return std::make_unique<ThreadPoolExecutor>(std::move(options));
}

ThreadPoolExecutor::ThreadPoolExecutor(Options options)
    : max_workers_(options.max_workers.value_or(DefaultMaxWorkers())),
      prefix_(
          options.thread_name_prefix.empty()
              ? absl::StrCat("ThreadPoolExecutor-", pool_counter.fetch_add(1))
              : options.thread_name_prefix),
      initializer_(std::move(options.initializer)),
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
  free_block_count_ = 0;
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

void ThreadPoolExecutor::RecycleBlockLocked(void* block) {
  SetNextBlock(block, free_blocks_);
  free_blocks_ = block;
  ++free_block_count_;
}

int ThreadPoolExecutor::num_threads() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(threads_.size());
}

absl::Status ThreadPoolExecutor::Enqueue(internal::TaskNode* task,
                                         bool refill_blocks) {
  if (InheritedByFork()) {
    // Checked before taking mu_, which a parent's thread may have held.
    return ShutDownError(
        "this thread pool was created before fork(); its workers do not "
        "exist in the child process");
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

    if (refill_blocks && free_blocks_ != nullptr) {
      BlockCache& cache = block_cache;
      if (cache.pool_id != id_) {
        stale_blocks = cache.head;
        cache.head = nullptr;
        cache.pool_id = id_;
      }
      if (cache.head == nullptr) {
        cache.head = free_blocks_;
        free_blocks_ = nullptr;
        free_block_count_ = 0;
      }
    }
    task->next_task = nullptr;
    if (tail_ == nullptr) {
      head_ = task;
    } else {
      tail_->next_task = task;
    }
    tail_ = task;
    if (queued_count_++ == 0) {
      has_work_hint_.store(true, std::memory_order_relaxed);
    }
    wake = parked_ > 0;
    // More queued tasks than idle workers to take them: start one more.
    if (queued_count_ > idle_ &&
        threads_.size() < static_cast<size_t>(max_workers_)) {
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

void ThreadPoolExecutor::StartWorkerLocked() {
  int index = static_cast<int>(threads_.size());
  // The new worker counts as idle from now on (it will take a task without
  // anyone waking it), so the next Submit does not start another thread.
  ++idle_;
  ++live_workers_;
  threads_.emplace_back([this, index] { WorkerMain(index); });
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
        pool->has_work_hint_.load(std::memory_order_relaxed)) {
      return;
    }
    SPINDLE_PERTURB_POINT();
    absl::MutexLock lock(&pool->mu_);
    if (pool->head_ == nullptr && !pool->shutdown_) {
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
  if (pool->queued_count_ > pool->idle_ && !pool->shutdown_ &&
      pool->threads_.size() < static_cast<size_t>(pool->max_workers_)) {
    pool->StartWorkerLocked();
  }
}

void ThreadPoolExecutor::WorkerMain(int index) {
  const std::string name = ThreadName(prefix_, index);
  pthread_setname_np(pthread_self(), name.c_str());
  current_worker_pool = this;

  WorkerContext ctx{this};
  ctx.idle_registered = true;  // StartWorkerLocked counted us idle.

  if (initializer_) {
    absl::Status s;
    try {
      s = initializer_();
    } catch (const std::exception& e) {
      s = absl::UnknownError(absl::StrCat("initializer threw: ", e.what()));
    } catch (...) {
      s = absl::UnknownError("initializer threw");
    }
    if (!s.ok()) {
      ABSL_RAW_LOG(ERROR, "spindle: exception in initializer of %s: %s",
                   name.c_str(), s.ToString().c_str());
      Break(BrokenError(absl::StrCat(
          "a thread initializer failed, the thread pool is not usable "
          "anymore: ",
          s.ToString())));
      absl::MutexLock lock(&mu_);
      --idle_;
      --live_workers_;
      return;
    }
  }

  mu_.Lock();
  for (;;) {
    if (head_ != nullptr) {
      internal::TaskNode* task = head_;
      head_ = task->next_task;
      if (head_ == nullptr) tail_ = nullptr;
      if (--queued_count_ == 0) {
        has_work_hint_.store(false, std::memory_order_relaxed);
      }
      if (ctx.idle_registered) {
        --idle_;
        ctx.idle_registered = false;
      }
      mu_.Unlock();
      SPINDLE_PERTURB_POINT();
      void* block = task->Run(&WorkerHook, &ctx);
      if (block != nullptr) {
        // Kept for Execute to reuse (under the lock we take anyway).
        mu_.Lock();
        if (free_block_count_ < kMaxFreeBlocks) {
          RecycleBlockLocked(block);
          continue;
        }
        mu_.Unlock();
        ::operator delete(block);
      }
      mu_.Lock();
      continue;
    }
    if (shutdown_ || !broken_.ok()) break;
    if (!ctx.idle_registered) {
      ++idle_;
      ctx.idle_registered = true;
    }
    // Spin briefly: a task that arrives now is taken without a futex
    // round trip, and the submitter does not have to signal.
    // Between polls the worker yields its core: on a machine with few cores
    // the submitter (or anyone else) gets to run instead of a spinner.
    mu_.Unlock();
    for (int i = 0; i < kSpinRounds; ++i) {
      if (has_work_hint_.load(std::memory_order_relaxed) ||
          stop_hint_.load(std::memory_order_relaxed)) {
        break;
      }
      SPINDLE_PERTURB_POINT();
      for (int j = 0; j < kPausesPerRound; ++j) CpuRelax();
      std::this_thread::yield();
    }
    SPINDLE_PERTURB_POINT();
    mu_.Lock();
    if (head_ != nullptr || shutdown_ || !broken_.ok()) continue;
    ++parked_;
    work_cv_.Wait(&mu_);
    --parked_;
  }
  if (ctx.idle_registered) --idle_;
  --live_workers_;  // Shutdown(wait) callers wake on this.
  mu_.Unlock();
}

void ThreadPoolExecutor::Break(const absl::Status& why) {
  internal::TaskNode* pending = nullptr;
  {
    absl::MutexLock lock(&mu_);
    if (!broken_.ok()) return;
    broken_ = why;
    pending = head_;
    head_ = tail_ = nullptr;
    queued_count_ = 0;
    has_work_hint_.store(false, std::memory_order_relaxed);
    stop_hint_.store(true, std::memory_order_relaxed);
    work_cv_.SignalAll();
  }
  while (pending != nullptr) {
    internal::TaskNode* next = pending->next_task;
    pending->Abandon(why);
    pending = next;
  }
}

void ThreadPoolExecutor::Shutdown(bool wait, bool cancel_futures) {
  // A forked child's copy has no workers here (and mu_ may have been held
  // by one of the parent's threads at the fork).
  if (InheritedByFork()) return;
  internal::TaskNode* cancelled = nullptr;
  {
    absl::MutexLock lock(&mu_);
    shutdown_ = true;
    stop_hint_.store(true, std::memory_order_relaxed);
    if (cancel_futures) {
      cancelled = head_;
      head_ = tail_ = nullptr;
      queued_count_ = 0;
      has_work_hint_.store(false, std::memory_order_relaxed);
    }
    work_cv_.SignalAll();
  }
  const absl::Status why = CancelledError("cancelled by Shutdown()");
  while (cancelled != nullptr) {
    internal::TaskNode* next = cancelled->next_task;
    cancelled->Abandon(why);
    cancelled = next;
  }
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
