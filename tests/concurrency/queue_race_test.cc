// Copyright 2026 The spindle Authors.
//
// Race windows of Queue's engine (internal/queue_fifo.h on the lock-free
// slot ring of internal/queue_slots.h): a getter parking while a putter
// publishes, a putter parking while a getter frees a slot, timed-out waiters
// on the slow path, an immediate Shutdown racing blocked putters and
// getters, and the ring growing under concurrent gets. Each race is run many
// times in both orders (the threads hand-shake through atomics only to line
// up, never through sleeps); --config=perturb widens the windows.
//
// Every blocking call is bounded (kLong) so that a lost wake-up fails the
// test instead of hanging it.

#include <atomic>
#include <cstdint>
#include <future>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "gtest/gtest.h"
#include "spindle/concurrency/queue.h"
#include "spindle/concurrency/status.h"
#include "tests/test_util.h"

namespace spindle {
namespace {

constexpr absl::Duration kLong = absl::Seconds(60);
constexpr int kRounds = 2000;

template <typename F>
auto Async(F f) {
  return std::async(std::launch::async, std::move(f));
}

template <typename Fut>
bool Ready(Fut& f) {
  return f.wait_for(absl::ToChronoMilliseconds(kLong)) ==
         std::future_status::ready;
}

// Round r: the getter announces r and calls GetFor at once, the main thread
// puts r as soon as it sees the announcement. The put lands before, during
// or after the getter's spin and park; the getter must get r every time.
TEST(QueueRaceTest, GetterParkingWhilePutterPublishesIsNeverLost) {
  for (int64_t maxsize : {int64_t{0}, int64_t{1}, int64_t{1024}}) {
    Queue<int> q(maxsize);
    std::atomic<int> announced{0};
    auto getter = Async([&] {
      for (int r = 0; r < kRounds; ++r) {
        announced.store(r + 1);
        absl::StatusOr<int> v = q.GetFor(kLong);
        if (!v.ok() || *v != r) return false;
      }
      return true;
    });
    for (int r = 0; r < kRounds; ++r) {
      ASSERT_TRUE(test_util::Eventually(
          [&] { return announced.load() == r + 1; }, kLong));
      ASSERT_TRUE(q.Put(r).ok());
    }
    ASSERT_TRUE(Ready(getter));
    EXPECT_TRUE(getter.get()) << "maxsize " << maxsize;
    EXPECT_TRUE(q.empty());
    EXPECT_EQ(q.getters_waiting(), 0u);
  }
}

// The mirror image on a full queue of one: the putter announces r and calls
// PutFor(r + 1); the main thread gets as soon as it sees the announcement,
// so the freed slot races the putter's spin and park.
TEST(QueueRaceTest, PutterParkingWhileGetterFreesSlotIsNeverLost) {
  Queue<int> q(1);
  ASSERT_TRUE(q.Put(0).ok());
  std::atomic<int> announced{0};
  auto putter = Async([&] {
    for (int r = 0; r < kRounds; ++r) {
      announced.store(r + 1);
      if (!q.PutFor(r + 1, kLong).ok()) return false;
    }
    return true;
  });
  for (int r = 0; r < kRounds; ++r) {
    ASSERT_TRUE(test_util::Eventually([&] { return announced.load() == r + 1; },
                                      kLong));
    absl::StatusOr<int> v = q.GetFor(kLong);
    ASSERT_TRUE(v.ok()) << v.status();
    ASSERT_EQ(*v, r);
  }
  ASSERT_TRUE(Ready(putter));
  EXPECT_TRUE(putter.get());
  EXPECT_EQ(*q.GetFor(kLong), kRounds);
  EXPECT_EQ(q.putters_waiting(), 0u);
}

// A waiter that times out on the slow path leaves nothing behind: no place
// in the FIFO, no hole in the ring, and a put's item stays the caller's.
TEST(QueueRaceTest, TimedOutWaitersLeaveNoTrace) {
  Queue<std::unique_ptr<int>> q(1);
  // The point of these two calls is to time out (1 ms, nobody acts).
  EXPECT_TRUE(IsEmpty(q.GetFor(absl::Milliseconds(1)).status()));
  EXPECT_EQ(q.getters_waiting(), 0u);
  ASSERT_TRUE(q.Put(std::make_unique<int>(1)).ok());
  auto mine = std::make_unique<int>(2);
  EXPECT_TRUE(IsFull(q.PutFor(std::move(mine), absl::Milliseconds(1))));
  ASSERT_NE(mine, nullptr);  // Not moved from: the put failed.
  EXPECT_EQ(q.putters_waiting(), 0u);
  EXPECT_EQ(q.unfinished_tasks(), 1);
  EXPECT_EQ(**q.TryGet(), 1);
  EXPECT_TRUE(q.TryPut(std::move(mine)).ok());
  EXPECT_EQ(**q.TryGet(), 2);
}

// Getters with tiny timeouts (they keep entering and leaving the slow path)
// race a producer: every item is got exactly once, in order.
TEST(QueueRaceTest, ShortTimeoutGettersRacingPutsLoseNothing) {
  constexpr int kItems = 20000;
  Queue<int> q(8);
  std::atomic<int> got{0};
  std::vector<std::future<bool>> getters;
  for (int g = 0; g < 3; ++g) {
    getters.push_back(Async([&, g] {
      int last = -1;
      while (got.load() < kItems) {
        // Timing out is expected and harmless here: the loop retries.
        absl::StatusOr<int> v = q.GetFor(absl::Microseconds(20 * g));
        if (!v.ok()) {
          if (!IsEmpty(v.status())) return false;
          continue;
        }
        if (*v <= last) return false;  // One producer: FIFO per getter.
        last = *v;
        got.fetch_add(1);
      }
      return true;
    }));
  }
  for (int i = 0; i < kItems; ++i) ASSERT_TRUE(q.PutFor(i, kLong).ok());
  for (auto& g : getters) {
    ASSERT_TRUE(Ready(g));
    EXPECT_TRUE(g.get());
  }
  EXPECT_EQ(got.load(), kItems);
  EXPECT_TRUE(q.empty());
}

// Shutdown(immediate) while putters block on a full queue and getters keep
// taking: every thread returns (OK or ShutDown only), and every accepted
// item is either got or dropped (dropped items count as done, so what stays
// unfinished is exactly what the getters took).
TEST(QueueRaceTest, ImmediateShutdownRacingBlockedPuttersAndGetters) {
  for (int round = 0; round < 50; ++round) {
    Queue<int> q(2);
    std::atomic<int64_t> accepted{0};
    std::atomic<int64_t> got{0};
    std::atomic<bool> bad_status{false};
    std::vector<std::future<void>> threads;
    for (int p = 0; p < 3; ++p) {
      threads.push_back(Async([&] {
        for (;;) {
          absl::Status s = q.PutFor(1, kLong);
          if (!s.ok()) {
            if (!IsShutDown(s)) bad_status = true;
            return;
          }
          accepted.fetch_add(1);
        }
      }));
    }
    for (int g = 0; g < 2; ++g) {
      threads.push_back(Async([&] {
        for (;;) {
          absl::StatusOr<int> v = q.GetFor(kLong);
          if (!v.ok()) {
            if (!IsShutDown(v.status())) bad_status = true;
            return;
          }
          got.fetch_add(1);
        }
      }));
    }
    // Let some items through (both orders of the race below then occur:
    // waiters parked, or still on the fast path).
    ASSERT_TRUE(test_util::Eventually(
        [&] { return got.load() >= 10 * (round % 5); }, kLong));
    q.Shutdown(/*immediate=*/true);
    for (auto& t : threads) ASSERT_TRUE(Ready(t));
    EXPECT_FALSE(bad_status.load());
    EXPECT_EQ(q.qsize(), 0u);
    EXPECT_EQ(q.getters_waiting(), 0u);
    EXPECT_EQ(q.putters_waiting(), 0u);
    EXPECT_LE(got.load(), accepted.load());
    EXPECT_EQ(q.unfinished_tasks(), got.load());
    EXPECT_TRUE(IsShutDown(q.TryPut(1)));
    EXPECT_TRUE(IsShutDown(q.TryGet().status()));
  }
}

// An unbounded queue starts with a small ring and doubles it while a
// consumer takes items concurrently: nothing is lost, the order is kept.
TEST(QueueRaceTest, RingGrowsUnderConcurrentGets) {
  constexpr int64_t kItems = 200000;
  Queue<int64_t> q;
  auto consumer = Async([&] {
    for (int64_t i = 0; i < kItems; ++i) {
      absl::StatusOr<int64_t> v = q.GetFor(kLong);
      if (!v.ok() || *v != i) return false;
    }
    return true;
  });
  std::vector<int64_t> batch;
  for (int64_t i = 0; i < kItems;) {
    if (i % 3 == 0) {  // Mix single puts and batches.
      ASSERT_TRUE(q.Put(i++).ok());
      continue;
    }
    batch.clear();
    for (int k = 0; k < 100 && i < kItems; ++k) batch.push_back(i++);
    ASSERT_TRUE(q.PutMany(absl::MakeSpan(batch)).ok());
  }
  ASSERT_TRUE(Ready(consumer));
  EXPECT_TRUE(consumer.get());
  EXPECT_EQ(q.unfinished_tasks(), kItems);
}

// Raising maxsize above the ring's current capacity grows the ring.
TEST(QueueRaceTest, SetMaxsizeBeyondRingCapacity) {
  Queue<int> q(8);
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(q.TryPut(i).ok());
  EXPECT_TRUE(IsFull(q.TryPut(8)));
  q.set_maxsize(10000);
  for (int i = 8; i < 10000; ++i) ASSERT_TRUE(q.TryPut(i).ok()) << i;
  EXPECT_TRUE(IsFull(q.TryPut(10000)));
  EXPECT_TRUE(q.full());
  for (int i = 0; i < 10000; ++i) ASSERT_EQ(*q.TryGet(), i);
  EXPECT_TRUE(q.empty());
}

}  // namespace
}  // namespace spindle
