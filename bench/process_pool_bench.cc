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
// Run: ./bazelw run --config=opt //bench:process_pool_bench
// Compare ratios within one run; absolute numbers drift on shared machines.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
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

BENCHMARK(BM_ThreadPool_Trivial)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ProcessPool_Trivial)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ThreadPool_CountPrimes20000)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ProcessPool_CountPrimes20000)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
