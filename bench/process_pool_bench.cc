// Copyright 2026 The spindle Authors.
//
// spindle::ProcessPoolExecutor against spindle::ThreadPoolExecutor, in one
// run, 2 workers each, for the same task function
// (std::string(absl::string_view), bytes in and out):
//
//   * Trivial task (echo a few bytes): the cost of the process hop itself
//     (two socket messages and two context switches per task) against a
//     thread hand-off.
//   * CPU task (count the primes <= 20000 by trial division, ~0.1 ms): where
//     a process pool is meant to be used; the hop should then be noise.
//
// Each iteration submits a batch and waits for every result; items/s is
// tasks per second. The ratio to report is items/s (process) / items/s
// (thread) for each task kind.
//
//   * Map of the trivial task with chunksize 1, 16 and 256 (the argument is
//     the chunksize), on both pools: with chunksize > 1 a process pool sends
//     a chunk as one message each way, so the per-task hop is shared by the
//     chunk. Ratios to report: process Map/16 and /256 against process
//     Map/1, and each against the thread pool's Map at the same chunksize.
//
// Run: ./bazelw run --config=opt //bench:process_pool_bench
// Compare ratios within one run; absolute numbers drift on shared machines.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "spindle/concurrency/future.h"
#include "spindle/concurrency/thread_pool.h"
#include "spindle/process/process_pool.h"

namespace {

constexpr int kWorkers = 2;
constexpr int kTrivialBatch = 2000;
constexpr int kCpuBatch = 200;

std::string Trivial(absl::string_view s) { return std::string(s); }

// Number of primes <= limit, by trial division.
std::string CountPrimes(absl::string_view limit_text) {
  int limit = 0;
  if (!absl::SimpleAtoi(limit_text, &limit)) return "bad";
  int count = 0;
  for (int n = 2; n <= limit; ++n) {
    bool prime = true;
    for (int d = 2; d * d <= n; ++d) {
      if (n % d == 0) {
        prime = false;
        break;
      }
    }
    count += prime;
  }
  return absl::StrCat(count);
}

template <typename Pool>
void RunBatches(benchmark::State& state, Pool& pool,
                std::string (*fn)(absl::string_view), const std::string& arg,
                int batch, const std::string& expect) {
  std::vector<spindle::Future<std::string>> futures;
  futures.reserve(batch);
  int64_t tasks = 0;
  for (auto _ : state) {
    for (int i = 0; i < batch; ++i) futures.push_back(pool.Submit(fn, arg));
    for (auto& f : futures) {
      auto r = f.Result();
      if (!r.ok() || *r != expect) {
        state.SkipWithError("wrong result");
        return;
      }
    }
    futures.clear();
    tasks += batch;
  }
  state.SetItemsProcessed(tasks);
}

template <typename Pool>
void RunMaps(benchmark::State& state, Pool& pool) {
  const int chunksize = static_cast<int>(state.range(0));
  const std::vector<std::string> inputs(kTrivialBatch, "ping");
  int64_t tasks = 0;
  for (auto _ : state) {
    for (absl::StatusOr<std::string>& r :
         pool.Map(&Trivial, inputs, absl::InfiniteDuration(), chunksize)) {
      if (!r.ok() || *r != "ping") {
        state.SkipWithError("wrong result");
        return;
      }
    }
    tasks += kTrivialBatch;
  }
  state.SetItemsProcessed(tasks);
}

void BM_ThreadPool_Trivial(benchmark::State& state) {
  spindle::ThreadPoolExecutor pool({.max_workers = kWorkers});
  RunBatches(state, pool, &Trivial, "ping", kTrivialBatch, "ping");
}

void BM_ProcessPool_Trivial(benchmark::State& state) {
  spindle::ProcessPoolExecutor pool({.max_workers = kWorkers});
  RunBatches(state, pool, &Trivial, "ping", kTrivialBatch, "ping");
}

void BM_ThreadPool_CountPrimes20000(benchmark::State& state) {
  spindle::ThreadPoolExecutor pool({.max_workers = kWorkers});
  RunBatches(state, pool, &CountPrimes, "20000", kCpuBatch, "2262");
}

void BM_ProcessPool_CountPrimes20000(benchmark::State& state) {
  spindle::ProcessPoolExecutor pool({.max_workers = kWorkers});
  RunBatches(state, pool, &CountPrimes, "20000", kCpuBatch, "2262");
}

void BM_ThreadPool_MapTrivial(benchmark::State& state) {
  spindle::ThreadPoolExecutor pool({.max_workers = kWorkers});
  RunMaps(state, pool);
}

void BM_ProcessPool_MapTrivial(benchmark::State& state) {
  spindle::ProcessPoolExecutor pool({.max_workers = kWorkers});
  RunMaps(state, pool);
}

BENCHMARK(BM_ThreadPool_Trivial)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ProcessPool_Trivial)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ThreadPool_CountPrimes20000)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ProcessPool_CountPrimes20000)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ThreadPool_MapTrivial)
    ->Arg(1)
    ->Arg(16)
    ->Arg(256)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ProcessPool_MapTrivial)
    ->Arg(1)
    ->Arg(16)
    ->Arg(256)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
