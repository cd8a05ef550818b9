// Copyright 2026 The spindle Authors.
//
// Hand-off throughput of spindle's Queue against its peers, in one run:
//
//   spindle       spindle::Queue<int64_t>: Put / Get
//   spindle_many  spindle::Queue<int64_t>: Put / GetMany(64)
//   std           bench/std_blocking_queue.h: std::mutex + 2 condvars + deque
//   tbb           tbb::concurrent_bounded_queue<int64_t>: push / pop
//   moody         moodycamel::BlockingConcurrentQueue: enqueue / wait_dequeue
//   moody_bulk    moodycamel: enqueue / wait_dequeue_bulk(64)
//   spindle_batch spindle::Queue<int64_t>: PutMany(16) / GetMany(64)
//   moody_batch   moodycamel: enqueue_bulk(16) / wait_dequeue_bulk(64)
//
// Each benchmark moves kItems items from P producer threads to C consumer
// threads (args: P, C, capacity; capacity 0 = unbounded) and reports
// items/s. moodycamel's queue has no blocking bounded put, so it always runs
// unbounded (its "capacity 1024" rows are the unbounded queue). Consumers
// stop on end markers (see kDone below). Benchmarks for one configuration run
// next to each other to keep the ratios comparable on a noisy machine.
//
// Each benchmark runs 5 repetitions and reports mean/median/stddev; compare
// medians. Add --benchmark_enable_random_interleaving=true to spread bursts
// of machine noise over all implementations. For a ratio table:
//
//   ./bazelw run --config=opt //bench:queue_bench --
//       --benchmark_enable_random_interleaving=true
//       --benchmark_out=/tmp/q.json --benchmark_out_format=json  (one line)
//   python3 bench/queue_bench_table.py /tmp/q.json
//
// Run: ./bazelw run --config=opt //bench:queue_bench
//
// Besides items/s, each benchmark reports two counters that do not depend on
// how much of the machine the benchmark got: cpu_ns/item (user + system CPU
// time of the whole process per item) and csw/kitem (context switches,
// voluntary + involuntary, per 1000 items). On a loaded machine items/s
// follows the CPU share the threads get; these say why one queue is faster.
//
// Pinning: SPINDLE_BENCH_PIN=split puts every producer on CPU 0 and every
// consumer on CPU 1 (the other CPUs stay unused), so that a producer and a
// consumer never share a core. Unset, the scheduler places the threads.

#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <tbb/concurrent_queue.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "bench/std_blocking_queue.h"
#include "benchmark/benchmark.h"
#include "concurrentqueue/blockingconcurrentqueue.h"
#include "spindle/concurrency/queue.h"

namespace {

constexpr int64_t kItems = 1 << 18;
// End markers. Each producer puts kDone after its items (every queue here
// keeps one producer's items in order). The consumer that takes the last
// kDone has, by then, seen every item dequeued, and puts one kStop for each
// other consumer. This works for moodycamel too, which keeps no order
// between different producers.
constexpr int64_t kDone = -1;
constexpr int64_t kStop = -2;
constexpr size_t kBatch = 64;
constexpr size_t kPutBatch = 16;

// Adapters: Make(capacity), Put(q, v), Get(q) -> v, GetBatch(q, buf, max).
struct SpindleAdapter {
  using Q = spindle::Queue<int64_t>;
  static constexpr bool kBatched = false;
  static std::unique_ptr<Q> Make(size_t cap) {
    return std::make_unique<Q>(static_cast<int64_t>(cap));
  }
  static void Put(Q& q, int64_t v) { (void)q.Put(v); }
  static int64_t Get(Q& q) { return *q.Get(); }
  static size_t GetBatch(Q& q, std::vector<int64_t>& buf) {
    buf.clear();
    return *q.GetMany(kBatch, &buf);
  }
};

struct SpindleManyAdapter : SpindleAdapter {
  static constexpr bool kBatched = true;
};

struct SpindleBatchAdapter : SpindleManyAdapter {
  static constexpr bool kBatchedPut = true;
  static void PutBatch(Q& q, int64_t* items, size_t n) {
    (void)q.PutMany(absl::MakeSpan(items, n));
  }
};

struct StdAdapter {
  using Q = spindle_bench::StdBlockingQueue<int64_t>;
  static constexpr bool kBatched = false;
  static std::unique_ptr<Q> Make(size_t cap) {
    return std::make_unique<Q>(cap);
  }
  static void Put(Q& q, int64_t v) { q.Put(v); }
  static int64_t Get(Q& q) { return q.Get(); }
  static size_t GetBatch(Q&, std::vector<int64_t>&) { return 0; }
};

struct TbbAdapter {
  using Q = tbb::concurrent_bounded_queue<int64_t>;
  static constexpr bool kBatched = false;
  static std::unique_ptr<Q> Make(size_t cap) {
    auto q = std::make_unique<Q>();
    if (cap > 0) q->set_capacity(static_cast<std::ptrdiff_t>(cap));
    return q;
  }
  static void Put(Q& q, int64_t v) { q.push(v); }
  static int64_t Get(Q& q) {
    int64_t v;
    q.pop(v);
    return v;
  }
  static size_t GetBatch(Q&, std::vector<int64_t>&) { return 0; }
};

struct MoodyAdapter {
  using Q = moodycamel::BlockingConcurrentQueue<int64_t>;
  static constexpr bool kBatched = false;
  static std::unique_ptr<Q> Make(size_t) { return std::make_unique<Q>(); }
  static void Put(Q& q, int64_t v) { q.enqueue(v); }
  static int64_t Get(Q& q) {
    int64_t v;
    q.wait_dequeue(v);
    return v;
  }
  static size_t GetBatch(Q& q, std::vector<int64_t>& buf) {
    buf.resize(kBatch);
    size_t n = q.wait_dequeue_bulk(buf.data(), kBatch);
    buf.resize(n);
    return n;
  }
};

struct MoodyBulkAdapter : MoodyAdapter {
  static constexpr bool kBatched = true;
};

struct MoodyBatchAdapter : MoodyBulkAdapter {
  static constexpr bool kBatchedPut = true;
  static void PutBatch(Q& q, int64_t* items, size_t n) {
    q.enqueue_bulk(items, n);
  }
};

// Adapters without PutBatch put one item at a time.
template <typename A, typename = void>
struct HasPutBatch : std::false_type {};
template <typename A>
struct HasPutBatch<A, std::void_t<decltype(A::kBatchedPut)>> : std::true_type {
};

// SPINDLE_BENCH_PIN=split: producers on CPU 0, consumers on CPU 1.
bool PinSplit() {
  static const bool split = [] {
    const char* pin = std::getenv("SPINDLE_BENCH_PIN");
    return pin != nullptr && std::strcmp(pin, "split") == 0;
  }();
  return split;
}

void PinCurrentThreadTo(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  (void)pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

// Process-wide CPU time (ns) and context switches so far.
struct Usage {
  double cpu_ns;
  double switches;
};
Usage ProcessUsage() {
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  auto ns = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) * 1e9 +
           static_cast<double>(tv.tv_usec) * 1e3;
  };
  return {ns(ru.ru_utime) + ns(ru.ru_stime),
          static_cast<double>(ru.ru_nvcsw + ru.ru_nivcsw)};
}

struct Shared {
  int producers;
  int consumers;
  std::atomic<int> done_seen{0};
  std::atomic<int64_t> sum{0};
};

// Handles one dequeued value; returns true when this consumer must stop.
template <typename A>
bool Handle(typename A::Q& q, Shared& shared, int64_t v, int64_t& sum,
            int& stops) {
  if (v >= 0) {
    sum += v;
    return false;
  }
  if (v == kStop) {
    ++stops;
    return true;
  }
  // kDone: the last one means every item has been dequeued.
  if (shared.done_seen.fetch_add(1) + 1 == shared.producers) {
    for (int c = 1; c < shared.consumers; ++c) A::Put(q, kStop);
    stops = 1;  // Stop ourselves, without taking a marker.
    return true;
  }
  return false;
}

template <typename A>
void Consume(typename A::Q& q, Shared& shared) {
  int64_t sum = 0;
  int stops = 0;
  if constexpr (A::kBatched) {
    std::vector<int64_t> buf;
    buf.reserve(kBatch);
    bool stop = false;
    while (!stop) {
      const size_t n = A::GetBatch(q, buf);
      int marker_stops = 0;
      for (size_t i = 0; i < n; ++i) {
        int s = 0;
        if (Handle<A>(q, shared, buf[i], sum, s)) stop = true;
        if (buf[i] == kStop) marker_stops += s;
      }
      // Markers meant for other consumers go back.
      for (int i = 1; i < marker_stops; ++i) A::Put(q, kStop);
    }
  } else {
    while (!Handle<A>(q, shared, A::Get(q), sum, stops)) {
    }
  }
  shared.sum += sum;
}

template <typename A>
void BM_Handoff(benchmark::State& state) {
  const int producers = static_cast<int>(state.range(0));
  const int consumers = static_cast<int>(state.range(1));
  const size_t capacity = static_cast<size_t>(state.range(2));
  const int64_t per_producer = kItems / producers;
  const int64_t total = per_producer * producers;
  const int64_t expected = total * (total - 1) / 2;
  const Usage before = ProcessUsage();
  for (auto _ : state) {
    auto q = A::Make(capacity);
    Shared shared;
    shared.producers = producers;
    shared.consumers = consumers;
    std::vector<std::thread> threads;
    for (int c = 0; c < consumers; ++c) {
      threads.emplace_back([&] {
        if (PinSplit()) PinCurrentThreadTo(1);
        Consume<A>(*q, shared);
      });
    }
    for (int p = 0; p < producers; ++p) {
      threads.emplace_back([&, p] {
        if (PinSplit()) PinCurrentThreadTo(0);
        const int64_t end = (p + 1) * per_producer;
        if constexpr (HasPutBatch<A>::value) {
          int64_t batch[kPutBatch];
          for (int64_t i = p * per_producer; i < end;) {
            size_t n = 0;
            while (n < kPutBatch && i < end) batch[n++] = i++;
            A::PutBatch(*q, batch, n);
          }
        } else {
          for (int64_t i = p * per_producer; i < end; ++i) A::Put(*q, i);
        }
        A::Put(*q, kDone);
      });
    }
    for (auto& t : threads) t.join();
    if (shared.sum.load() != expected) {
      state.SkipWithError("lost or duplicated items");
      break;
    }
  }
  const Usage after = ProcessUsage();
  const double items = static_cast<double>(state.iterations() * total);
  state.SetItemsProcessed(state.iterations() * total);
  state.counters["cpu_ns/item"] = (after.cpu_ns - before.cpu_ns) / items;
  state.counters["csw/kitem"] =
      (after.switches - before.switches) * 1000 / items;
}

int RegisterAll() {
  struct Impl {
    const char* name;
    void (*fn)(benchmark::State&);
  };
  const Impl impls[] = {
      {"spindle", BM_Handoff<SpindleAdapter>},
      {"spindle_many", BM_Handoff<SpindleManyAdapter>},
      {"std", BM_Handoff<StdAdapter>},
      {"tbb", BM_Handoff<TbbAdapter>},
      {"moody", BM_Handoff<MoodyAdapter>},
      {"moody_bulk", BM_Handoff<MoodyBulkAdapter>},
      {"spindle_batch", BM_Handoff<SpindleBatchAdapter>},
      {"moody_batch", BM_Handoff<MoodyBatchAdapter>},
  };
  for (int64_t cap : {int64_t{1024}, int64_t{0}}) {
    for (int n : {1, 2, 4}) {
      for (const Impl& impl : impls) {
        benchmark::RegisterBenchmark(
            absl::StrCat("Handoff/", n, "P", n, "C/",
                         cap == 0 ? "unbounded" : absl::StrCat("cap", cap), "/",
                         impl.name)
                .c_str(),
            impl.fn)
            ->Args({n, n, cap})
            ->UseRealTime()
            ->MinTime(0.1)
            ->Repetitions(5)
            ->ReportAggregatesOnly(true)
            ->Unit(benchmark::kMillisecond);
      }
    }
  }
  return 0;
}

const int registered = RegisterAll();

}  // namespace
