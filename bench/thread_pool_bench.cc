// Copyright 2026 The spindle Authors.
//
// spindle::ThreadPoolExecutor against its peers, in one run, 2 workers each:
//
//   * Throughput: submit 1M tiny tasks, then wait for every result.
//       spindle Submit + Result          vs  asio::thread_pool + packaged_task
//                                        vs  thread_pool::ThreadPool (Debian
//                                            libthread-pool-dev) Submit
//       spindle Execute (no future)      vs  oneTBB task_group (no future)
//       spindle SubmitWithPriority (four levels in turn) vs spindle Submit:
//           what priorities cost once they are used
//   * Latency: submit-to-start time of one task on an idle pool (workers
//     parked: the benchmark sleeps between samples, outside the timing).
//
// Heap allocations are counted by replacing the global operator new in this
// binary; each throughput benchmark reports `allocs/task`.
//
// Run: ./bazelw run --config=opt //bench:thread_pool_bench
// Compare ratios within one run; absolute numbers drift on shared machines.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <map>
#include <new>
#include <string>
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
constexpr int kLatencySamples = 1000;

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

// Submits kTasks tiny tasks through `submit(pool, i)`, then waits for every
// result.
template <typename SubmitFn>
void SpindleSubmitAll(benchmark::State& state, SubmitFn submit) {
  spindle::ThreadPoolExecutor pool({.max_workers = kWorkers});
  std::vector<spindle::Future<int>> futures;
  futures.reserve(kTasks);
  Counting counting(state);
  for (auto _ : state) {
    counting.Begin();
    for (int i = 0; i < kTasks; ++i) futures.push_back(submit(pool, i));
    std::int64_t sum = 0;
    for (auto& f : futures) sum += *f.Result();
    counting.End();
    benchmark::DoNotOptimize(sum);
    state.PauseTiming();
    futures.clear();  // Frees the states outside the timing.
    state.ResumeTiming();
  }
}

void BM_Spindle_SubmitResult(benchmark::State& state) {
  SpindleSubmitAll(state, [](spindle::ThreadPoolExecutor& pool, int i) {
    return pool.Submit([i] { return i; });
  });
}

// The same with the tasks spread over four priority levels (-1, 0, 1, 2 in
// turn), so the workers pick among queued levels: what priorities cost once
// they are used.
void BM_Spindle_SubmitPriority(benchmark::State& state) {
  SpindleSubmitAll(state, [](spindle::ThreadPoolExecutor& pool, int i) {
    return pool.SubmitWithPriority(i % 4 - 1, [i] { return i; });
  });
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

// Records one sample per iteration; reports p50/p99 (the manual time is the
// mean).
class Samples {
 public:
  explicit Samples(benchmark::State& state) : state_(state) {
    samples_.reserve(static_cast<size_t>(state.max_iterations));
  }
  void Add(Clock::time_point t0, Clock::time_point started) {
    double s = Seconds(t0, started);
    samples_.push_back(s);
    state_.SetIterationTime(s);
  }
  ~Samples() {
    if (samples_.empty()) return;
    std::sort(samples_.begin(), samples_.end());
    auto at = [&](double q) {
      return samples_[static_cast<size_t>(q * (samples_.size() - 1))] * 1e6;
    };
    state_.counters["p50_us"] = at(0.50);
    state_.counters["p99_us"] = at(0.99);
  }

 private:
  benchmark::State& state_;
  std::vector<double> samples_;
};

void BM_Spindle_SubmitLatency(benchmark::State& state) {
  spindle::ThreadPoolExecutor pool({.max_workers = kWorkers});
  pool.Submit([] {}).WaitDone();
  Samples samples(state);
  for (auto _ : state) {
    LetWorkersPark();
    Clock::time_point started;
    Clock::time_point t0 = Clock::now();
    auto f = pool.Submit([&started] { started = Clock::now(); });
    f.WaitDone();
    samples.Add(t0, started);
  }
}

void BM_Asio_SubmitLatency(benchmark::State& state) {
  asio::thread_pool pool(kWorkers);
  Samples samples(state);
  for (auto _ : state) {
    LetWorkersPark();
    Clock::time_point started;
    Clock::time_point t0 = Clock::now();
    std::packaged_task<void()> task([&started] { started = Clock::now(); });
    std::future<void> f = task.get_future();
    asio::post(pool, [t = std::move(task)]() mutable { t(); });
    f.get();
    samples.Add(t0, started);
  }
  pool.join();
}

void BM_ThreadPoolPeer_SubmitLatency(benchmark::State& state) {
  thread_pool::ThreadPool pool(kWorkers);
  Samples samples(state);
  for (auto _ : state) {
    LetWorkersPark();
    Clock::time_point started;
    Clock::time_point t0 = Clock::now();
    auto f = pool.Submit([&started] { started = Clock::now(); });
    f.get();
    samples.Add(t0, started);
  }
}

// Each throughput benchmark runs kRepetitions times, randomly interleaved
// with the others (see main), and reports mean/median/stddev; ratios use the
// medians, which a busy shared machine disturbs least.
constexpr int kRepetitions = 7;

#define SPINDLE_THROUGHPUT(fn)        \
  BENCHMARK(fn)                       \
      ->Iterations(1)                 \
      ->Repetitions(kRepetitions)     \
      ->ReportAggregatesOnly(true)    \
      ->Unit(benchmark::kMillisecond) \
      ->UseRealTime()
#define SPINDLE_LATENCY(fn)         \
  BENCHMARK(fn)                     \
      ->Iterations(kLatencySamples) \
      ->Repetitions(3)              \
      ->ReportAggregatesOnly(true)  \
      ->UseManualTime()             \
      ->Unit(benchmark::kMicrosecond)

SPINDLE_THROUGHPUT(BM_Spindle_SubmitResult);
SPINDLE_THROUGHPUT(BM_Asio_PackagedTask);
SPINDLE_THROUGHPUT(BM_ThreadPoolPeer_Submit);
SPINDLE_THROUGHPUT(BM_Spindle_SubmitPriority);
SPINDLE_THROUGHPUT(BM_Spindle_Execute);
SPINDLE_THROUGHPUT(BM_Tbb_TaskGroup);
SPINDLE_LATENCY(BM_Spindle_SubmitLatency);
SPINDLE_LATENCY(BM_Asio_SubmitLatency);
SPINDLE_LATENCY(BM_ThreadPoolPeer_SubmitLatency);

// The console output plus, at the end, the ratios the targets are stated in.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      if (run.run_type != Run::RT_Aggregate || run.aggregate_name != "median") {
        continue;
      }
      const std::string& name = run.run_name.function_name;
      auto get = [&](const char* counter) {
        auto it = run.counters.find(counter);
        return it == run.counters.end() ? 0.0 : it->second.value;
      };
      rate_[name] = get("items_per_second");
      allocs_[name] = get("allocs/task");
      p50_[name] = get("p50_us");
    }
  }
  void Finalize() override {
    ConsoleReporter::Finalize();
    auto ratio = [&](const char* a, const char* b) {
      return rate_[b] > 0 ? rate_[a] / rate_[b] : 0.0;
    };
    auto faster = [&](const char* a, const char* b) {
      return p50_[a] > 0 ? p50_[b] / p50_[a] : 0.0;
    };
    std::printf(
        "\nRatios (medians; >1 means spindle is faster)\n"
        "  Submit+Result throughput vs asio+packaged_task : %.2fx "
        "(target >= 2)\n"
        "  Submit+Result throughput vs thread_pool::Submit: %.2fx\n"
        "  Execute throughput vs oneTBB task_group         : %.2fx "
        "(target >= 1)\n"
        "  SubmitWithPriority (4 levels) vs plain Submit   : %.2fx\n"
        "  submit-to-start latency p50 vs asio             : %.2fx\n"
        "  submit-to-start latency p50 vs thread_pool      : %.2fx\n"
        "Heap allocations per task: spindle Submit %.2f, Execute %.2f; "
        "asio+packaged_task %.2f; thread_pool %.2f; oneTBB %.2f\n",
        ratio("BM_Spindle_SubmitResult", "BM_Asio_PackagedTask"),
        ratio("BM_Spindle_SubmitResult", "BM_ThreadPoolPeer_Submit"),
        ratio("BM_Spindle_Execute", "BM_Tbb_TaskGroup"),
        ratio("BM_Spindle_SubmitPriority", "BM_Spindle_SubmitResult"),
        faster("BM_Spindle_SubmitLatency", "BM_Asio_SubmitLatency"),
        faster("BM_Spindle_SubmitLatency", "BM_ThreadPoolPeer_SubmitLatency"),
        allocs_["BM_Spindle_SubmitResult"], allocs_["BM_Spindle_Execute"],
        allocs_["BM_Asio_PackagedTask"], allocs_["BM_ThreadPoolPeer_Submit"],
        allocs_["BM_Tbb_TaskGroup"]);
    std::fflush(stdout);
  }

 private:
  std::map<std::string, double> rate_, allocs_, p50_;
};

}  // namespace

int main(int argc, char** argv) {
  // Interleave the repetitions of all benchmarks at random, so that a burst
  // of load from elsewhere does not land on one contestant only. Flags given
  // on the command line come later and win.
  std::vector<char*> args(argv, argv + argc);
  static char interleave[] = "--benchmark_enable_random_interleaving=true";
  args.insert(args.begin() + 1, interleave);
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
