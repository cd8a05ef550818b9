// Copyright 2026 The spindle Authors.
//
// -----------------------------------------------------------------------------
// File: parallel_loop.h
// -----------------------------------------------------------------------------
//
// Parallel loops over an index range on a ThreadPoolExecutor (beyond
// Python, which has no parallel loop; the vocabulary of BS::thread_pool's
// submit_blocks / detach_blocks / submit_loop and oneTBB's parallel_for):
//
//   spindle                                   what it does
//   ----------------------------------------  --------------------------------
//   SubmitBlocks(pool, first, last, fn, n)    fn(begin, end) per block; one
//                                               future per block (BlockFutures)
//   SubmitLoop(pool, first, last, fn, n)      fn(i) for every i, in blocks;
//                                               BlockFutures<void>
//   ExecuteBlocks(pool, first, last, fn, n)   fire and forget: fn(begin, end)
//                                               per block, no futures
//   ParallelFor(pool, first, last, fn, n)     fn(i) for every i; blocks until
//                                               done; the caller helps
//
// Blocks. [first, last) is split into min(n, last - first) contiguous blocks
// whose sizes differ by at most one, in index order (SplitRange); n defaults
// to the pool's max_workers(). Indices are int64_t. An empty range
// (first == last) submits nothing and is done at once. Bad arguments are
// InvalidArgument, nothing submitted: first > last, n <= 0.
//
// Errors (see status.h):
//   * A block that throws: its future holds the exception; BlockFutures::Get
//     rethrows the first one in block order (after cancelling the blocks not
//     started yet and waiting for those running); ParallelFor rethrows the
//     first one and skips the blocks not started yet. An exception escaping
//     an ExecuteBlocks block is logged on stderr by the pool.
//   * A shut-down or broken pool: each block's future is done with IsShutDown
//     / IsBroken, and Get returns that status; ExecuteBlocks and ParallelFor
//     return it without running anything (if the pool shuts down while
//     ExecuteBlocks submits, the blocks submitted before run, and the status
//     is returned; if it shuts down during a ParallelFor that it accepted,
//     the calling thread runs the blocks no worker took, and returns OK).
//
// Example:
//
//   std::vector<double> out(n);
//   absl::Status s = spindle::ParallelFor(pool, 0, n, [&](int64_t i) {
//     out[i] = std::sqrt(in[i]);
//   });
//
//   auto sums = spindle::SubmitBlocks(pool, 0, n, [&](int64_t b, int64_t e) {
//     return std::accumulate(in.begin() + b, in.begin() + e, 0.0);
//   });
//   if (sums.ok()) absl::StatusOr<std::vector<double>> v = sums->GetFor(d);
//
// Waiting from inside the pool. ParallelFor never waits for a block that no
// thread has started: the calling thread claims and runs blocks too
// (oneTBB's caller participation), so it may be called from one of the
// pool's own tasks, even in a pool of one worker, and nested loops do not
// deadlock. BlockFutures::Wait/Get wait for queued tasks like any future:
// waiting on them from a worker of the same pool while every other worker is
// busy (always, in a pool of one worker) waits forever, as Python's
// `future.result()` in that case. Use ParallelFor there, or a bounded GetFor.
//
// Every block calls the same `fn`, possibly from several threads at once:
// it must be safe to call concurrently. SubmitBlocks, SubmitLoop and
// ExecuteBlocks move it into one shared copy (move-only callables work),
// kept until the last block's task is gone; ParallelFor calls the caller's
// own `fn`, which it does not copy. Whatever `fn` refers to must outlive the
// blocks: until Get/Wait return (SubmitBlocks, SubmitLoop), until the blocks
// have run (ExecuteBlocks), or until ParallelFor returns.
//
// Thread safety: the functions are thread-safe (as ThreadPoolExecutor's
// Submit). BlockFutures is thread-compatible, its futures thread-safe.
//
// Happens-before: everything before the call happens-before each block
// starts; every block's completion happens-before Wait/WaitFor (returning
// true)/Get/ParallelFor return.

#ifndef SPINDLE_CONCURRENCY_PARALLEL_LOOP_H_
#define SPINDLE_CONCURRENCY_PARALLEL_LOOP_H_

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
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
#include "spindle/concurrency/status.h"
#include "spindle/concurrency/thread_pool.h"

namespace spindle {

// A block of indices [begin, end).
struct IndexBlock {
  int64_t begin;
  int64_t end;
  friend bool operator==(const IndexBlock& a, const IndexBlock& b) {
    return a.begin == b.begin && a.end == b.end;
  }
};

// Splits [first, last) into min(num_blocks, last - first) contiguous blocks
// in index order; the first (last - first) % blocks of them hold one index
// more than the others. Empty range: no blocks. InvalidArgument if
// first > last or num_blocks <= 0. The whole int64_t range is allowed.
absl::StatusOr<std::vector<IndexBlock>> SplitRange(int64_t first, int64_t last,
                                                   int num_blocks);

// BlockFutures<R>
//
// What SubmitBlocks and SubmitLoop return: one future per block, in block
// order, and calls that wait for all of them.
template <typename R>
class BlockFutures {
 public:
  // Get's result: the blocks' values in block order, or OK for void.
  using GetType = std::conditional_t<std::is_void_v<R>, absl::Status,
                                     absl::StatusOr<std::vector<R>>>;

  BlockFutures() = default;
  BlockFutures(std::vector<IndexBlock> blocks, std::vector<Future<R>> futures)
      : blocks_(std::move(blocks)), futures_(std::move(futures)) {}

  size_t size() const { return futures_.size(); }
  const std::vector<IndexBlock>& blocks() const { return blocks_; }
  const std::vector<Future<R>>& futures() const { return futures_; }

  // True once every block's future is done (finished, failed or cancelled).
  bool done() const {
    return std::all_of(futures_.begin(), futures_.end(),
                       [](const Future<R>& f) { return f.done(); });
  }

  // Blocks until every block's future is done. Wakes on: each completion.
  void Wait() const { spindle::Wait(futures_); }
  // As Wait(), for at most `timeout`; true if every block is done.
  bool WaitFor(absl::Duration timeout) const {
    return spindle::Wait(futures_, timeout).not_done.empty();
  }

  // Waits until every block is done, or one fails: then cancels the blocks
  // not started and waits for the running ones. Rethrows the first
  // exception in block order, else returns the first error status in block
  // order (IsCancelled for a block cancelled before it ran, IsShutDown,
  // IsBroken), else the values in block order (OK for void).
  GetType Get() const { return GetUntil(absl::InfiniteFuture()); }
  // As Get(), but IsTimeout if the blocks are not all done within `timeout`
  // (the blocks are left as they are).
  GetType GetFor(absl::Duration timeout) const {
    return GetUntil(timeout == absl::InfiniteDuration()
                        ? absl::InfiniteFuture()
                        : absl::Now() + timeout);
  }

  // Cancels the blocks that have not started; returns how many it cancelled.
  size_t Cancel() const {
    size_t n = 0;
    for (const Future<R>& f : futures_) n += f.Cancel() ? 1 : 0;
    return n;
  }

 private:
  GetType GetUntil(absl::Time deadline) const {
    auto left = [deadline] {
      return deadline == absl::InfiniteFuture() ? absl::InfiniteDuration()
                                                : deadline - absl::Now();
    };
    spindle::Wait(futures_, left(), ReturnWhen::kFirstException);
    if (!done()) {
      // kFirstException returned early: a block failed, or the timeout.
      const bool failed =
          std::any_of(futures_.begin(), futures_.end(), [](const Future<R>& f) {
            if (!f.done()) return false;
            absl::StatusOr<std::exception_ptr> e = f.Exception();
            return !e.ok() || *e != nullptr;
          });
      if (!failed) {
        return absl::DeadlineExceededError(
            "parallel loop: blocks not done before the timeout");
      }
      Cancel();
      spindle::Wait(futures_, left());
    }
    // Exceptions first (in block order), then error statuses.
    for (const Future<R>& f : futures_) {
      if (!f.done()) continue;
      absl::StatusOr<std::exception_ptr> e = f.Exception();
      if (e.ok() && *e != nullptr) std::rethrow_exception(*e);
    }
    if constexpr (std::is_void_v<R>) {
      for (const Future<R>& f : futures_) {
        if (!f.done()) {
          return absl::DeadlineExceededError(
              "parallel loop: blocks still running at the timeout");
        }
        absl::Status s = f.Result();
        if (!s.ok()) return s;
      }
      return absl::OkStatus();
    } else {
      std::vector<R> values;
      values.reserve(futures_.size());
      for (const Future<R>& f : futures_) {
        if (!f.done()) {
          return absl::DeadlineExceededError(
              "parallel loop: blocks still running at the timeout");
        }
        absl::StatusOr<R> r = f.Result();
        if (!r.ok()) return r.status();
        values.push_back(*std::move(r));
      }
      return values;
    }
  }

  std::vector<IndexBlock> blocks_;
  std::vector<Future<R>> futures_;
};

// Submits `fn(begin, end)` for each block of [first, last) (see the file
// comment) and returns the blocks' futures. InvalidArgument for bad
// arguments (nothing is submitted).
template <typename F>
auto SubmitBlocks(ThreadPoolExecutor& pool, int64_t first, int64_t last, F fn,
                  std::optional<int> num_blocks = std::nullopt)
    -> absl::StatusOr<
        BlockFutures<std::invoke_result_t<F&, int64_t, int64_t>>> {
  using R = std::invoke_result_t<F&, int64_t, int64_t>;
  absl::StatusOr<std::vector<IndexBlock>> blocks =
      SplitRange(first, last, num_blocks.value_or(pool.max_workers()));
  if (!blocks.ok()) return blocks.status();
  auto shared = std::make_shared<F>(std::move(fn));
  std::vector<Future<R>> futures;
  futures.reserve(blocks->size());
  for (const IndexBlock& b : *blocks) {
    futures.push_back(pool.Submit(
        [shared, b]() -> R { return std::invoke(*shared, b.begin, b.end); }));
  }
  return BlockFutures<R>(*std::move(blocks), std::move(futures));
}

// Submits blocks of [first, last) that call `fn(i)` for each of their
// indices, in order (a block stops at its first exception). `fn`'s result,
// if any, is ignored.
template <typename F>
absl::StatusOr<BlockFutures<void>> SubmitLoop(
    ThreadPoolExecutor& pool, int64_t first, int64_t last, F fn,
    std::optional<int> num_blocks = std::nullopt) {
  static_assert(std::is_invocable_v<F&, int64_t>, "fn(int64_t index)");
  return SubmitBlocks(
      pool, first, last,
      [fn = std::move(fn)](int64_t begin, int64_t end) mutable {
        for (int64_t i = begin; i < end; ++i) std::invoke(fn, i);
      },
      num_blocks);
}

// Fire and forget: schedules `fn(begin, end)` for each block of [first,
// last) with ThreadPoolExecutor::Execute. Returns InvalidArgument for bad
// arguments (nothing submitted), or the pool's status (IsShutDown,
// IsBroken) at the first block it rejected (the blocks before it still run).
template <typename F>
absl::Status ExecuteBlocks(ThreadPoolExecutor& pool, int64_t first,
                           int64_t last, F fn,
                           std::optional<int> num_blocks = std::nullopt) {
  static_assert(std::is_invocable_v<F&, int64_t, int64_t>,
                "fn(int64_t begin, int64_t end)");
  absl::StatusOr<std::vector<IndexBlock>> blocks =
      SplitRange(first, last, num_blocks.value_or(pool.max_workers()));
  if (!blocks.ok()) return blocks.status();
  auto shared = std::make_shared<F>(std::move(fn));
  for (const IndexBlock& b : *blocks) {
    absl::Status s =
        pool.Execute([shared, b] { std::invoke(*shared, b.begin, b.end); });
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

namespace internal {

// The blocks of one ParallelFor, claimed one at a time by whichever thread
// (a helper task or the caller) gets to them first.
class LoopClaims {
 public:
  explicit LoopClaims(std::vector<IndexBlock> blocks)
      : blocks_(std::move(blocks)) {}

  // Claims and runs blocks with `fn` until none is left. `fn` is touched
  // only for a claimed block, and the caller of ParallelFor waits for every
  // claimed block, so `fn` may live on its stack.
  template <typename F>
  void RunClaims(F& fn) {
    for (;;) {
      const size_t i = next_.fetch_add(1, std::memory_order_relaxed);
      if (i >= blocks_.size()) return;
      std::exception_ptr e;
      if (!stop_.load(std::memory_order_relaxed)) {
        try {
          for (int64_t k = blocks_[i].begin; k < blocks_[i].end; ++k) {
            std::invoke(fn, k);
          }
        } catch (...) {
          e = std::current_exception();
          stop_.store(true, std::memory_order_relaxed);
        }
      }
      Finish(std::move(e));
    }
  }

  // Blocks until every block has been claimed and has finished; returns the
  // first exception a block threw (or null).
  std::exception_ptr AwaitAll();

 private:
  void Finish(std::exception_ptr e);

  const std::vector<IndexBlock> blocks_;
  std::atomic<size_t> next_{0};
  // Set by the first exception: blocks claimed later are skipped.
  std::atomic<bool> stop_{false};
  absl::Mutex mu_;
  size_t finished_ ABSL_GUARDED_BY(mu_) = 0;
  std::exception_ptr exception_ ABSL_GUARDED_BY(mu_);
};

}  // namespace internal

// Calls `fn(i)` for every i in [first, last), in blocks (see the file
// comment), and returns once every index has been run: each block on a pool
// worker or on the calling thread, which runs blocks too while no worker has
// claimed them. Rethrows the first exception a block threw (blocks not
// started by then are skipped). Returns InvalidArgument for bad arguments,
// IsShutDown/IsBroken if the pool rejects work (nothing runs). Never waits
// for a queued task, so it is safe on the pool's own workers (nested loops
// included). Wakes on: the last running block finishing.
template <typename F>
absl::Status ParallelFor(ThreadPoolExecutor& pool, int64_t first, int64_t last,
                         F&& fn, std::optional<int> num_blocks = std::nullopt) {
  static_assert(std::is_invocable_v<F&, int64_t>, "fn(int64_t index)");
  absl::StatusOr<std::vector<IndexBlock>> blocks =
      SplitRange(first, last, num_blocks.value_or(pool.max_workers()));
  if (!blocks.ok()) return blocks.status();
  if (blocks->empty()) return absl::OkStatus();
  const int helpers = std::max<int>(
      1, std::min<int64_t>(static_cast<int64_t>(blocks->size()) - 1,
                           pool.max_workers()));
  auto claims = std::make_shared<internal::LoopClaims>(*std::move(blocks));
  auto* fn_ptr = &fn;
  for (int h = 0; h < helpers; ++h) {
    absl::Status s =
        pool.Execute([claims, fn_ptr] { claims->RunClaims(*fn_ptr); });
    if (!s.ok() && h == 0) return s;  // Nothing was handed over.
    if (!s.ok()) break;               // This thread does the rest.
  }
  claims->RunClaims(fn);
  std::exception_ptr e = claims->AwaitAll();
  if (e != nullptr) std::rethrow_exception(e);
  return absl::OkStatus();
}

}  // namespace spindle

#endif  // SPINDLE_CONCURRENCY_PARALLEL_LOOP_H_
