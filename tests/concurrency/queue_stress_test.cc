// Copyright 2026 The spindle Authors.
//
// Stress tests for spindle/concurrency/queue.h: several producers and
// consumers move many items (>= 1M per configuration in normal builds)
// through bounded and unbounded queues of every kind, with single-item and
// batch operations mixed, and check that nothing is lost or duplicated:
// every item id is marked when a put accepts it and when a get returns it,
// so "exactly once" is checked per item, not only by count and checksum.
//
// With a concurrent Shutdown (graceful or immediate) in the middle: every
// item accepted by a successful put is gotten exactly once, or (immediate
// only) is dropped, and the dropped items count as done: once consumers have
// marked what they got, unfinished_tasks() is 0.
//
// Every blocking call is bounded (kLong) so that a bug fails, not hangs.

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <thread>
#include <type_traits>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "gtest/gtest.h"
#include "spindle/concurrency/queue.h"
#include "spindle/concurrency/status.h"

#if defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#define SPINDLE_QUEUE_STRESS_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define SPINDLE_QUEUE_STRESS_SANITIZED 1
#endif

namespace spindle {
namespace {

#ifdef SPINDLE_QUEUE_STRESS_SANITIZED
// Sanitizers slow everything ~10x; keep the same shapes, fewer items.
constexpr int64_t kItems = 1 << 18;
constexpr int64_t kShutdownItems = 1 << 16;
#else
constexpr int64_t kItems = 1 << 20;  // 1,048,576 per configuration.
constexpr int64_t kShutdownItems = 1 << 18;
#endif
constexpr int kProducers = 4;
constexpr int kConsumers = 4;
constexpr size_t kPutBatch = 8;
constexpr size_t kGetBatch = 16;
constexpr int64_t kSentinel = -1;
constexpr absl::Duration kLong = absl::Seconds(60);

enum class Shut { kNone, kGraceful, kImmediate };

template <typename Q>
constexpr bool kIsSimple = false;
template <typename T>
constexpr bool kIsSimple<SimpleQueue<T>> = true;

// Per-item ledger: accepted[id] is set by the producer after a successful
// put; got[id] counts how many times a consumer received id.
struct Ledger {
  explicit Ledger(int64_t n) : accepted(n), got(n) {}
  std::vector<std::atomic<uint8_t>> accepted;
  std::vector<std::atomic<uint8_t>> got;
  std::atomic<int64_t> accepted_count{0};
  std::atomic<int64_t> got_count{0};
  std::atomic<int64_t> duplicates{0};
};

template <typename Q>
std::unique_ptr<Q> MakeQueue(int64_t maxsize) {
  if constexpr (kIsSimple<Q>) {
    (void)maxsize;
    return std::make_unique<Q>();
  } else {
    return std::make_unique<Q>(maxsize);
  }
}

// Puts ids [begin, end); single puts for even producers, batches for odd.
// Returns when done or when the queue is shut down.
template <typename Q>
void Produce(Q& q, Ledger& ledger, int index, int64_t begin, int64_t end) {
  const bool batched = index % 2 == 1;
  std::vector<int64_t> batch;
  for (int64_t id = begin; id < end;) {
    if (!batched) {
      absl::Status s;
      if constexpr (kIsSimple<Q>) {
        q.Put(id);
      } else {
        s = q.PutFor(id, kLong);
      }
      if (!s.ok()) {
        EXPECT_TRUE(IsShutDown(s)) << s;
        return;
      }
      ledger.accepted[id].store(1);
      ++ledger.accepted_count;
      ++id;
      continue;
    }
    batch.clear();
    for (int64_t i = id; i < end && batch.size() < kPutBatch; ++i) {
      batch.push_back(i);
    }
    size_t n = batch.size();
    absl::Status s;
    if constexpr (kIsSimple<Q>) {
      q.PutMany(absl::MakeSpan(batch));
    } else {
      s = q.PutManyFor(absl::MakeSpan(batch), kLong, &n);
    }
    for (size_t i = 0; i < n; ++i) {
      ledger.accepted[id + static_cast<int64_t>(i)].store(1);
    }
    ledger.accepted_count += static_cast<int64_t>(n);
    id += static_cast<int64_t>(n);
    if (!s.ok()) {
      EXPECT_TRUE(IsShutDown(s)) << s;
      return;
    }
  }
}

// Gets until a sentinel or ShutDown. Even consumers use Get, odd GetMany.
// Marks every item it gets (sentinels too) done.
template <typename Q>
void Consume(Q& q, Ledger& ledger, int index, int64_t total,
             bool expect_fifo_per_producer, int64_t per_producer,
             absl::Notification* half) {
  const bool batched = index % 2 == 1;
  std::vector<int64_t> last_from(kProducers, -1);
  std::vector<int64_t> batch;
  auto record = [&](int64_t id) -> bool {  // Returns false on a sentinel.
    if (id == kSentinel) return false;
    if (ledger.got[id].fetch_add(1) != 0) ++ledger.duplicates;
    if (expect_fifo_per_producer) {
      const int64_t p = id / per_producer;
      EXPECT_GT(id, last_from[p]) << "per-producer FIFO order broken";
      last_from[p] = id;
    }
    const int64_t n = ++ledger.got_count;
    if (half != nullptr && n == total / 2) half->Notify();
    if (n == total && half == nullptr) {
      // Every item is out: release the other consumers.
      for (int c = 1; c < kConsumers; ++c) {
        if constexpr (kIsSimple<Q>) {
          q.Put(kSentinel);
        } else {
          EXPECT_TRUE(q.Put(kSentinel).ok());
        }
      }
      return false;
    }
    return true;
  };
  for (;;) {
    if (!batched) {
      absl::StatusOr<int64_t> v = q.GetFor(kLong);
      if (!v.ok()) {
        EXPECT_TRUE(IsShutDown(v.status())) << v.status();
        return;
      }
      if constexpr (!kIsSimple<Q>) {
        EXPECT_TRUE(q.TaskDone().ok());
      }
      if (!record(*v)) return;
      continue;
    }
    batch.clear();
    absl::StatusOr<size_t> n = q.GetManyFor(kGetBatch, kLong, &batch);
    if (!n.ok()) {
      EXPECT_TRUE(IsShutDown(n.status())) << n.status();
      return;
    }
    EXPECT_EQ(*n, batch.size());
    if constexpr (!kIsSimple<Q>) {
      EXPECT_TRUE(q.TaskDone(static_cast<int64_t>(*n)).ok());
    }
    bool stop = false;
    int sentinels = 0;
    for (int64_t id : batch) {
      if (id == kSentinel) {
        ++sentinels;
        stop = true;
        continue;
      }
      if (!record(id)) stop = true;
    }
    // Sentinels meant for other consumers go back.
    for (int i = 1; i < sentinels; ++i) {
      if constexpr (kIsSimple<Q>) {
        q.Put(kSentinel);
      } else {
        EXPECT_TRUE(q.Put(kSentinel).ok());
      }
    }
    if (stop) return;
  }
}

template <typename Q>
void RunStress(int64_t maxsize, Shut shut, bool fifo) {
  const int64_t total = shut == Shut::kNone ? kItems : kShutdownItems;
  const int64_t per_producer = total / kProducers;
  auto q = MakeQueue<Q>(maxsize);
  Ledger ledger(total);
  absl::Notification half;
  absl::Notification* half_ptr = shut == Shut::kNone ? nullptr : &half;
  std::vector<std::thread> threads;
  for (int c = 0; c < kConsumers; ++c) {
    threads.emplace_back([&, c] {
      Consume(*q, ledger, c, total, fifo, per_producer, half_ptr);
    });
  }
  for (int p = 0; p < kProducers; ++p) {
    threads.emplace_back([&, p] {
      Produce(*q, ledger, p, p * per_producer, (p + 1) * per_producer);
    });
  }
  if constexpr (!kIsSimple<Q>) {
    if (shut != Shut::kNone) {
      EXPECT_TRUE(half.WaitForNotificationWithTimeout(kLong));
      q->Shutdown(shut == Shut::kImmediate);
    }
  }
  for (auto& t : threads) t.join();

  EXPECT_EQ(ledger.duplicates.load(), 0);
  int64_t got = 0, accepted = 0, got_not_accepted = 0, lost = 0;
  for (int64_t id = 0; id < total; ++id) {
    const bool a = ledger.accepted[id].load() != 0;
    const bool g = ledger.got[id].load() != 0;
    accepted += a;
    got += g;
    if (g && !a) ++got_not_accepted;
    if (a && !g) ++lost;
  }
  std::fprintf(stderr, "total=%lld accepted=%lld got=%lld not gotten=%lld\n",
               static_cast<long long>(total), static_cast<long long>(accepted),
               static_cast<long long>(got), static_cast<long long>(lost));
  EXPECT_EQ(got_not_accepted, 0);
  EXPECT_EQ(accepted, ledger.accepted_count.load());
  EXPECT_EQ(got, ledger.got_count.load());
  if (shut == Shut::kImmediate) {
    // Accepted but not gotten = dropped by the immediate shutdown, and the
    // dropped items were counted as done.
    EXPECT_EQ(accepted - got, lost);
  } else {
    EXPECT_EQ(lost, 0);
    EXPECT_EQ(got, accepted);
  }
  if (shut == Shut::kNone) {
    EXPECT_EQ(got, total);
  }
  if constexpr (!kIsSimple<Q>) {
    EXPECT_EQ(q->unfinished_tasks(), 0);
    EXPECT_TRUE(q->JoinFor(absl::ZeroDuration()));
  }
  EXPECT_TRUE(q->empty());
}

template <typename Q>
class QueueStressTest : public ::testing::Test {};
using Kinds = ::testing::Types<Queue<int64_t>, LifoQueue<int64_t>,
                               PriorityQueue<int64_t>>;
TYPED_TEST_SUITE(QueueStressTest, Kinds);

constexpr bool IsFifo(const Queue<int64_t>*) { return true; }
template <typename Q>
constexpr bool IsFifo(const Q*) {
  return false;
}

TYPED_TEST(QueueStressTest, Bounded) {
  RunStress<TypeParam>(64, Shut::kNone,
                       IsFifo(static_cast<TypeParam*>(nullptr)));
}
TYPED_TEST(QueueStressTest, Unbounded) {
  RunStress<TypeParam>(0, Shut::kNone,
                       IsFifo(static_cast<TypeParam*>(nullptr)));
}
TYPED_TEST(QueueStressTest, BoundedGracefulShutdown) {
  RunStress<TypeParam>(64, Shut::kGraceful, false);
}
TYPED_TEST(QueueStressTest, BoundedImmediateShutdown) {
  RunStress<TypeParam>(64, Shut::kImmediate, false);
}
TYPED_TEST(QueueStressTest, UnboundedGracefulShutdown) {
  RunStress<TypeParam>(0, Shut::kGraceful, false);
}
TYPED_TEST(QueueStressTest, UnboundedImmediateShutdown) {
  RunStress<TypeParam>(0, Shut::kImmediate, false);
}

TEST(SimpleQueueStressTest, Unbounded) {
  RunStress<SimpleQueue<int64_t>>(0, Shut::kNone, /*fifo=*/true);
}

}  // namespace
}  // namespace spindle
