// Copyright 2026 The spindle Authors.
//
// spindle::ThreadPoolExecutor against its peers, in one run, 2 workers each:
//
//   * Throughput: submit 1M tiny tasks, then wait for every result.
//       spindle Submit + Result          vs  asio::thread_pool + packaged_task
//                                        vs  thread_pool::ThreadPool (Debian
//                                            libthread-pool-dev) Submit
//       spindle Execute (no future)      vs  oneTBB task_group (no future)
//   * Latency: submit-to-start time of one task on an idle pool (workers
//     parked: the benchmark sleeps between samples, outside the timing).
//
// Heap allocations are counted by replacing the global operator new in this
// binary; each throughput benchmark reports `allocs/task`.
//
// Run: ./bazelw run --config=opt //bench:thread_pool_bench
// Compare ratios within one run; absolute numbers drift on shared machines.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <future>
#include <new>
#include <thread>
#include <utility>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "spindle/concurrency/future.h"
#include "spindle/concurrency/thread_pool.h"

// The peers.
#include <tbb/task_arena.h>
#include <tbb/task_group.h>

#include <asio.hpp>
#include <thread_pool/thread_pool.hpp>

// Allocation counting: thread_pool_bench_alloc.cc replaces the global
// operator new of this binary and counts every call here.
extern std::atomic<std::int64_t> g_allocations;

namespace {

constexpr int kWorkers = 2;
constexpr int kTasks = 1'000'000;
constexpr int kLatencySamples = 2000;

// Reports throughput and allocations per task for one iteration set.
class Counting {
 public:
  explicit Counting(benchmark::State& state) : state_(state) {}
  void Begin() { start_ = g_allocations.load(std::memory_order_relaxed); }
  void End() {
    allocs_ += g_allocations.load(std::memory_order_relaxed) - start_;
    tasks_ += kTasks;
  }
  ~Counting() {
    state_.SetItemsProcessed(tasks_);
    state_.counters["allocs/task"] =
        tasks_ == 0 ? 0.0 : static_cast<double>(allocs_) / tasks_;
  }

 private:
  benchmark::State& state_;
  std::int64_t start_ = 0;
  std::int64_t allocs_ = 0;
  std::int64_t tasks_ = 0;
};

// --------------------------------------------------------------- Throughput

void BM_Spindle_SubmitResult(benchmark::State& state) {
  spindle::ThreadPoolExecutor pool({.max_workers = kWorkers});
  std::vector<spindle::Future<int>> futures;
  futures.reserve(kTasks);
  Counting counting(state);
  for (auto _ : state) {
    counting.Begin();
    for (int i = 0; i < kTasks; ++i) {
      futures.push_back(pool.Submit([i] { return i; }));
    }
    std::int64_t sum = 0;
    for (auto& f : futures) sum += *f.Result();
    counting.End();
    benchmark::DoNotOptimize(sum);
    state.PauseTiming();
    futures.clear();  // Frees the states outside the timing.
    state.ResumeTiming();
  }
}

void BM_Asio_PackagedTask(benchmark::State& state) {
  asio::thread_pool pool(kWorkers);
  std::vector<std::future<int>> futures;
  futures.reserve(kTasks);
  Counting counting(state);
  for (auto _ : state) {
    counting.Begin();
    for (int i = 0; i < kTasks; ++i) {
      std::packaged_task<int()> task([i] { return i; });
      futures.push_back(task.get_future());
      // Wrapped: asio treats a bare packaged_task as a completion token.
      asio::post(pool, [t = std::move(task)]() mutable { t(); });
    }
    std::int64_t sum = 0;
    for (auto& f : futures) sum += f.get();
    counting.End();
    benchmark::DoNotOptimize(sum);
    state.PauseTiming();
    futures.clear();
    state.ResumeTiming();
  }
  pool.join();
}

void BM_ThreadPoolPeer_Submit(benchmark::State& state) {
  thread_pool::ThreadPool pool(kWorkers);
  std::vector<std::future<int>> futures;
  futures.reserve(kTasks);
  Counting counting(state);
  for (auto _ : state) {
    counting.Begin();
    for (int i = 0; i < kTasks; ++i) {
      futures.push_back(pool.Submit([i] { return i; }));
    }
    std::int64_t sum = 0;
    for (auto& f : futures) sum += f.get();
    counting.End();
    benchmark::DoNotOptimize(sum);
    state.PauseTiming();
    futures.clear();
    state.ResumeTiming();
  }
}

void BM_Spindle_Execute(benchmark::State& state) {
  spindle::ThreadPoolExecutor pool({.max_workers = kWorkers});
  Counting counting(state);
  for (auto _ : state) {
    counting.Begin();
    std::atomic<int> left{kTasks};
    absl::Notification all_done;
    for (int i = 0; i < kTasks; ++i) {
      (void)pool.Execute([&] {
        if (left.fetch_sub(1, std::memory_order_acq_rel) == 1) {
          all_done.Notify();
        }
      });
    }
    all_done.WaitForNotification();
    counting.End();
  }
}

void BM_Tbb_TaskGroup(benchmark::State& state) {
  // Concurrency 2: the submitting thread plus one worker, or two workers
  // while the submitter is busy; the submitter helps in wait(), as TBB does.
  tbb::task_arena arena(kWorkers);
  Counting counting(state);
  for (auto _ : state) {
    counting.Begin();
    std::atomic<int> ran{0};
    arena.execute([&] {
      tbb::task_group group;
      for (int i = 0; i < kTasks; ++i) {
        group.run([&] { ran.fetch_add(1, std::memory_order_relaxed); });
      }
      group.wait();
    });
    counting.End();
    benchmark::DoNotOptimize(ran.load());
  }
}

// ------------------------------------------------------------------ Latency
// Manual time: from just before the submit call to the first instruction of
// the task. Between samples the pool is left idle long enough for workers to
// park (spindle spins for a few microseconds first).

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

void LetWorkersPark() {
  std::this_thread::sleep_for(std::chrono::microseconds(200));
}

void BM_Spindle_SubmitLatency(benchmark::State& state) {
  spindle::ThreadPoolExecutor pool({.max_workers = kWorkers});
  pool.Submit([] {}).WaitDone();
  for (auto _ : state) {
    LetWorkersPark();
    Clock::time_point started;
    Clock::time_point t0 = Clock::now();
    auto f = pool.Submit([&started] { started = Clock::now(); });
    f.WaitDone();
    state.SetIterationTime(Seconds(t0, started));
  }
}

void BM_Asio_SubmitLatency(benchmark::State& state) {
  asio::thread_pool pool(kWorkers);
  for (auto _ : state) {
    LetWorkersPark();
    Clock::time_point started;
    Clock::time_point t0 = Clock::now();
    std::packaged_task<void()> task([&started] { started = Clock::now(); });
    std::future<void> f = task.get_future();
    asio::post(pool, [t = std::move(task)]() mutable { t(); });
    f.get();
    state.SetIterationTime(Seconds(t0, started));
  }
  pool.join();
}

void BM_ThreadPoolPeer_SubmitLatency(benchmark::State& state) {
  thread_pool::ThreadPool pool(kWorkers);
  for (auto _ : state) {
    LetWorkersPark();
    Clock::time_point started;
    Clock::time_point t0 = Clock::now();
    auto f = pool.Submit([&started] { started = Clock::now(); });
    f.get();
    state.SetIterationTime(Seconds(t0, started));
  }
}

BENCHMARK(BM_Spindle_SubmitResult)
    ->Iterations(3)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_Asio_PackagedTask)
    ->Iterations(3)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_ThreadPoolPeer_Submit)
    ->Iterations(3)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_Spindle_Execute)
    ->Iterations(3)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_Tbb_TaskGroup)
    ->Iterations(3)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_Spindle_SubmitLatency)
    ->Iterations(kLatencySamples)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Asio_SubmitLatency)
    ->Iterations(kLatencySamples)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ThreadPoolPeer_SubmitLatency)
    ->Iterations(kLatencySamples)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace
