// Copyright 2026 The spindle Authors.
//
// Tests for spindle/concurrency/queue.h, following section I of
// reference/cpython_checklist.md (numbers in comments refer to it).
//
// Threads synchronise through notifications, futures and the queues' own
// waiter counts, never through sleeps. Every wait is bounded (kLong) so a
// bug fails instead of hanging. Where a short timeout is the point of a test
// (the call must time out, or must still be blocked), a comment says so and
// the assertion leaves slack.

#include "spindle/concurrency/queue.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <numeric>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "spindle/concurrency/status.h"
#include "tests/test_util.h"

namespace spindle {
namespace {

using ::testing::ElementsAre;
using ::testing::UnorderedElementsAre;

// Generous bound for anything that must happen.
constexpr absl::Duration kLong = absl::Seconds(20);
// How long we watch a thread that must stay blocked (the point of the check:
// nothing may release it in this window).
constexpr absl::Duration kStillBlocked = absl::Milliseconds(50);

template <typename F>
auto Async(F f) {
  return std::async(std::launch::async, std::move(f));
}

template <typename Fut>
bool Ready(Fut& f, absl::Duration d = kLong) {
  return f.wait_for(absl::ToChronoMilliseconds(d)) == std::future_status::ready;
}

// Polls `pred` (yielding) for up to kLong; a bounded wait on queue state.
bool Eventually(const std::function<bool()>& pred) {
  return test_util::Eventually(pred, kLong);
}

// ---------------------------------------------------------------------------
// Typed tests over the three queues with maxsize, task tracking and shutdown.
// ---------------------------------------------------------------------------

template <typename Q>
class BoundedQueueTest : public ::testing::Test {};

using BoundedKinds =
    ::testing::Types<Queue<int>, LifoQueue<int>, PriorityQueue<int>>;
TYPED_TEST_SUITE(BoundedQueueTest, BoundedKinds);

// The order each kind returns 111, 333, 222 in (125).
template <typename Q>
std::vector<int> ExpectedOrder();
template <>
std::vector<int> ExpectedOrder<Queue<int>>() {
  return {111, 333, 222};
}
template <>
std::vector<int> ExpectedOrder<LifoQueue<int>>() {
  return {222, 333, 111};
}
template <>
std::vector<int> ExpectedOrder<PriorityQueue<int>>() {
  return {111, 222, 333};
}

TYPED_TEST(BoundedQueueTest, NewQueueIsEmptyAndNotFull) {  // 124
  TypeParam q(5);
  EXPECT_TRUE(q.empty());
  EXPECT_FALSE(q.full());
  EXPECT_EQ(q.qsize(), 0u);
  EXPECT_EQ(q.maxsize(), 5);
  EXPECT_FALSE(q.is_shutdown());
}

TYPED_TEST(BoundedQueueTest, BasicScenarioTwice) {  // 125-131
  TypeParam q(5);
  for (int round = 0; round < 2; ++round) {
    SCOPED_TRACE(round);
    // 125: order.
    ASSERT_TRUE(q.Put(111).ok());
    ASSERT_TRUE(q.Put(333).ok());
    ASSERT_TRUE(q.Put(222).ok());
    std::vector<int> got;
    for (int i = 0; i < 3; ++i) got.push_back(*q.Get());
    EXPECT_EQ(got, ExpectedOrder<TypeParam>());
    // 126: fill to maxsize.
    for (int i = 0; i < 4; ++i) ASSERT_TRUE(q.Put(i).ok());
    EXPECT_GT(q.qsize(), 0u);
    EXPECT_FALSE(q.full());
    ASSERT_TRUE(q.Put(4).ok());
    EXPECT_TRUE(q.full());
    EXPECT_FALSE(q.empty());
    // 127: non-blocking and timed puts on a full queue fail with Full.
    EXPECT_TRUE(IsFull(q.TryPut(5)));
    EXPECT_TRUE(IsFull(q.PutFor(5, absl::Milliseconds(10))));  // Times out.
    // 128: a blocking put really blocks until a get makes room.
    auto putter = Async([&] { return q.Put(77); });
    ASSERT_TRUE(Eventually([&] { return q.putters_waiting() == 1; }));
    EXPECT_FALSE(Ready(putter, kStillBlocked));  // Still blocked: the point.
    ASSERT_TRUE(q.Get().ok());
    ASSERT_TRUE(Ready(putter));
    EXPECT_TRUE(putter.get().ok());
    auto timed_putter = Async([&] { return q.PutFor(78, absl::Seconds(10)); });
    ASSERT_TRUE(Eventually([&] { return q.putters_waiting() == 1; }));
    ASSERT_TRUE(q.Get().ok());
    ASSERT_TRUE(Ready(timed_putter));
    EXPECT_TRUE(timed_putter.get().ok());
    // Drain.
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(q.Get().ok());
    EXPECT_TRUE(q.empty());
    // 129: non-blocking and timed gets on an empty queue fail with Empty.
    EXPECT_TRUE(IsEmpty(q.TryGet().status()));
    EXPECT_TRUE(IsEmpty(q.GetFor(absl::Milliseconds(10)).status()));
    // 130: a blocking get really blocks until a put.
    auto getter = Async([&] { return q.Get(); });
    ASSERT_TRUE(Eventually([&] { return q.getters_waiting() == 1; }));
    EXPECT_FALSE(Ready(getter, kStillBlocked));  // Still blocked: the point.
    ASSERT_TRUE(q.Put(42).ok());
    ASSERT_TRUE(Ready(getter));
    EXPECT_EQ(*getter.get(), 42);
    auto timed_getter = Async([&] { return q.GetFor(absl::Seconds(10)); });
    ASSERT_TRUE(Eventually([&] { return q.getters_waiting() == 1; }));
    ASSERT_TRUE(q.Put(43).ok());
    ASSERT_TRUE(Ready(timed_getter));
    EXPECT_EQ(*timed_getter.get(), 43);
    // Settle the task count for the next round.
    ASSERT_TRUE(q.TaskDone(q.unfinished_tasks()).ok());
  }
}

TYPED_TEST(BoundedQueueTest, GetForHonoursTimeout) {
  TypeParam q;
  const absl::Time start = absl::Now();
  // The timeout is the point: nothing is ever put.
  absl::StatusOr<int> r = q.GetFor(absl::Milliseconds(100));
  const absl::Duration waited = absl::Now() - start;
  EXPECT_TRUE(IsEmpty(r.status())) << r.status();
  EXPECT_FALSE(IsTimeout(r.status()));
  EXPECT_GE(waited, absl::Milliseconds(95));
  EXPECT_LT(waited, absl::Seconds(10));
  EXPECT_EQ(q.getters_waiting(), 0u);
}

TYPED_TEST(BoundedQueueTest, PutForHonoursTimeout) {
  TypeParam q(1);
  ASSERT_TRUE(q.Put(1).ok());
  const absl::Time start = absl::Now();
  // The timeout is the point: nothing is ever taken.
  int item = 2;
  absl::Status s = q.PutFor(std::move(item), absl::Milliseconds(100));
  const absl::Duration waited = absl::Now() - start;
  EXPECT_TRUE(IsFull(s)) << s;
  EXPECT_GE(waited, absl::Milliseconds(95));
  EXPECT_LT(waited, absl::Seconds(10));
  EXPECT_EQ(q.putters_waiting(), 0u);
  EXPECT_EQ(q.qsize(), 1u);
}

TYPED_TEST(BoundedQueueTest, ZeroAndNegativeTimeoutsDoNotBlock) {  // 134, 137
  TypeParam q(1);
  EXPECT_TRUE(IsEmpty(q.GetFor(absl::ZeroDuration()).status()));
  EXPECT_TRUE(IsEmpty(q.GetFor(-absl::Seconds(1)).status()));
  EXPECT_TRUE(IsEmpty(q.GetUntil(absl::Now() - absl::Seconds(1)).status()));
  // spindle's rule: a negative timeout means "don't block" (Python raises
  // ValueError), and a present item is returned.
  ASSERT_TRUE(q.PutFor(1, -absl::Seconds(1)).ok());
  EXPECT_TRUE(IsFull(q.PutFor(2, -absl::Seconds(1))));
  EXPECT_TRUE(IsFull(q.PutFor(2, absl::ZeroDuration())));
  EXPECT_TRUE(IsFull(q.PutUntil(2, absl::InfinitePast())));
  EXPECT_EQ(*q.GetFor(-absl::Seconds(1)), 1);
}

TYPED_TEST(BoundedQueueTest, TaskDoneOnFreshQueueIsInvalidArgument) {  // 132
  TypeParam q;
  EXPECT_TRUE(absl::IsInvalidArgument(q.TaskDone()));
  EXPECT_EQ(q.unfinished_tasks(), 0);
}

TYPED_TEST(BoundedQueueTest, JoinWaitsForEveryTaskDone) {  // 133
  TypeParam q;
  std::atomic<int> sum{0};
  constexpr int kWorkers = 2;
  std::vector<std::future<void>> workers;
  for (int w = 0; w < kWorkers; ++w) {
    workers.push_back(Async([&] {
      for (;;) {
        int v = *q.Get();
        if (v < 0) {
          ASSERT_TRUE(q.TaskDone().ok());
          return;
        }
        sum += v;
        ASSERT_TRUE(q.TaskDone().ok());
      }
    }));
  }
  for (int round = 0; round < 2; ++round) {
    sum = 0;
    for (int i = 0; i < 100; ++i) ASSERT_TRUE(q.Put(i).ok());
    q.Join();
    EXPECT_EQ(sum.load(), 4950);
  }
  for (int w = 0; w < kWorkers; ++w) ASSERT_TRUE(q.Put(-1).ok());
  for (auto& f : workers) ASSERT_TRUE(Ready(f));
  q.Join();  // Twice is fine.
  EXPECT_TRUE(q.JoinFor(absl::ZeroDuration()));
  EXPECT_TRUE(absl::IsInvalidArgument(q.TaskDone()));  // One too many.
  EXPECT_EQ(q.unfinished_tasks(), 0);
}

TYPED_TEST(BoundedQueueTest, JoinBlockedThenTaskDone) {
  TypeParam q;
  ASSERT_TRUE(q.Put(1).ok());
  ASSERT_TRUE(q.Get().ok());
  auto joiner = Async([&] { q.Join(); });
  EXPECT_FALSE(Ready(joiner, kStillBlocked));  // Still blocked: the point.
  ASSERT_TRUE(q.TaskDone().ok());
  EXPECT_TRUE(Ready(joiner));
}

TYPED_TEST(BoundedQueueTest, TaskDoneBeforeJoin) {
  TypeParam q;
  ASSERT_TRUE(q.Put(1).ok());
  ASSERT_TRUE(q.Get().ok());
  ASSERT_TRUE(q.TaskDone().ok());
  auto joiner = Async([&] { q.Join(); });
  EXPECT_TRUE(Ready(joiner));
}

TYPED_TEST(BoundedQueueTest, JoinForTimesOut) {
  TypeParam q;
  ASSERT_TRUE(q.Put(1).ok());
  // The timeout is the point: the task is never marked done.
  const absl::Time start = absl::Now();
  EXPECT_FALSE(q.JoinFor(absl::Milliseconds(50)));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(45));
  EXPECT_FALSE(q.JoinFor(absl::ZeroDuration()));
  ASSERT_TRUE(q.TaskDone().ok());
  EXPECT_TRUE(q.JoinFor(absl::ZeroDuration()));
}

TYPED_TEST(BoundedQueueTest, TaskDoneManyIsAllOrNothing) {
  TypeParam q;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(q.Put(i).ok());
  EXPECT_TRUE(absl::IsInvalidArgument(q.TaskDone(4)));
  EXPECT_EQ(q.unfinished_tasks(), 3);
  EXPECT_TRUE(q.TaskDone(3).ok());
  EXPECT_EQ(q.unfinished_tasks(), 0);
}

TYPED_TEST(BoundedQueueTest, NowaitFillsThenFullThenDrainsThenEmpty) {  // 135
  TypeParam q(3);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(q.TryPut(i).ok());
  EXPECT_TRUE(IsFull(q.TryPut(3)));
  std::vector<int> got;
  for (int i = 0; i < 3; ++i) got.push_back(*q.TryGet());
  EXPECT_THAT(got, UnorderedElementsAre(0, 1, 2));
  EXPECT_TRUE(IsEmpty(q.TryGet().status()));
}

TYPED_TEST(BoundedQueueTest, ShrinkingMaxsize) {  // 136
  TypeParam q(3);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(q.TryPut(i).ok());
  q.set_maxsize(2);
  EXPECT_TRUE(q.full());
  EXPECT_TRUE(IsFull(q.TryPut(3)));
  ASSERT_TRUE(q.Get().ok());
  EXPECT_TRUE(IsFull(q.TryPut(3)));  // 2 items, maxsize 2.
  ASSERT_TRUE(q.Get().ok());
  EXPECT_TRUE(q.TryPut(3).ok());
}

TYPED_TEST(BoundedQueueTest, GrowingMaxsizeAdmitsBlockedPutter) {
  TypeParam q(1);
  ASSERT_TRUE(q.Put(1).ok());
  auto putter = Async([&] { return q.Put(2); });
  ASSERT_TRUE(Eventually([&] { return q.putters_waiting() == 1; }));
  q.set_maxsize(2);
  ASSERT_TRUE(Ready(putter));
  EXPECT_TRUE(putter.get().ok());
  EXPECT_EQ(q.qsize(), 2u);
}

TYPED_TEST(BoundedQueueTest, NonPositiveMaxsizeIsUnbounded) {  // 137
  for (int64_t maxsize : {0, -1, -100}) {
    TypeParam q(maxsize);
    for (int i = 0; i < 10000; ++i) ASSERT_TRUE(q.TryPut(i).ok());
    EXPECT_FALSE(q.full());
    EXPECT_EQ(q.qsize(), 10000u);
  }
}

// --- Shutdown (139-154) ---------------------------------------------------

TYPED_TEST(BoundedQueueTest, ShutdownEmpty) {  // 139
  TypeParam q;
  q.Shutdown();
  EXPECT_TRUE(IsShutDown(q.Put(1)));
  EXPECT_TRUE(IsShutDown(q.Get().status()));
}

TYPED_TEST(BoundedQueueTest, ShutdownNonEmptyDrainsFirst) {  // 140, 145
  TypeParam q(2);
  ASSERT_TRUE(q.Put(1).ok());
  ASSERT_TRUE(q.Put(2).ok());
  q.Shutdown();
  EXPECT_TRUE(q.Get().ok());
  EXPECT_TRUE(q.TaskDone().ok());
  EXPECT_TRUE(q.TryGet().ok());
  EXPECT_TRUE(q.TaskDone().ok());
  q.Join();
  EXPECT_TRUE(IsShutDown(q.Get().status()));
  EXPECT_TRUE(IsShutDown(q.TryGet().status()));  // ShutDown, not Empty.
  const absl::Time start = absl::Now();
  EXPECT_TRUE(IsShutDown(q.GetFor(absl::Seconds(1)).status()));
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(500));  // At once.
}

TYPED_TEST(BoundedQueueTest, ShutdownImmediateDropsItems) {  // 141, 144
  TypeParam q(2);
  ASSERT_TRUE(q.Put(1).ok());
  ASSERT_TRUE(q.Put(2).ok());
  q.Shutdown(/*immediate=*/true);
  EXPECT_EQ(q.qsize(), 0u);
  EXPECT_TRUE(q.empty());
  EXPECT_TRUE(IsShutDown(q.Get().status()));
  EXPECT_TRUE(IsShutDown(q.TryGet().status()));
  EXPECT_TRUE(absl::IsInvalidArgument(q.TaskDone()));
  EXPECT_TRUE(q.JoinFor(kLong));
}

TYPED_TEST(BoundedQueueTest, ShutdownAllowedTransitions) {  // 142
  TypeParam q;
  EXPECT_FALSE(q.is_shutdown());
  q.Shutdown();
  EXPECT_TRUE(q.is_shutdown());
  q.Shutdown(true);
  EXPECT_TRUE(q.is_shutdown());
  q.Shutdown(false);
  EXPECT_TRUE(q.is_shutdown());
}

TYPED_TEST(BoundedQueueTest, ShutDownWinsOverFull) {  // 143, 149
  for (bool immediate : {false, true}) {
    TypeParam q(2);
    ASSERT_TRUE(q.Put(1).ok());
    ASSERT_TRUE(q.Put(2).ok());
    q.Shutdown(immediate);
    EXPECT_TRUE(IsShutDown(q.Put(3)));
    EXPECT_TRUE(IsShutDown(q.TryPut(3)));
    EXPECT_TRUE(IsShutDown(q.PutFor(3, absl::Seconds(1))));
  }
}

TYPED_TEST(BoundedQueueTest, NonImmediateShutdownThreeGettersTwoItems) {  // 147
  TypeParam q(2);
  ASSERT_TRUE(q.Put(1).ok());
  ASSERT_TRUE(q.Put(2).ok());
  q.Shutdown();
  std::vector<std::future<absl::StatusOr<int>>> getters;
  for (int i = 0; i < 3; ++i) getters.push_back(Async([&] { return q.Get(); }));
  int ok = 0, shut = 0;
  for (auto& g : getters) {
    ASSERT_TRUE(Ready(g));
    absl::StatusOr<int> r = g.get();
    if (r.ok()) ++ok;
    if (IsShutDown(r.status())) ++shut;
  }
  EXPECT_EQ(ok, 2);
  EXPECT_EQ(shut, 1);
}

TYPED_TEST(BoundedQueueTest, ImmediateShutdownGettersAllFail) {  // 148
  TypeParam q(2);
  ASSERT_TRUE(q.Put(1).ok());
  ASSERT_TRUE(q.Put(2).ok());
  q.Shutdown(true);
  auto g1 = Async([&] { return q.Get(); });
  auto g2 = Async([&] { return q.Get(); });
  ASSERT_TRUE(Ready(g1));
  ASSERT_TRUE(Ready(g2));
  EXPECT_TRUE(IsShutDown(g1.get().status()));
  EXPECT_TRUE(IsShutDown(g2.get().status()));
}

TYPED_TEST(BoundedQueueTest, BlockedGetterWokenByShutdown) {  // 153
  for (bool immediate : {false, true}) {
    for (bool timed : {false, true}) {
      TypeParam q;
      auto getter =
          Async([&] { return timed ? q.GetFor(absl::Seconds(60)) : q.Get(); });
      ASSERT_TRUE(Eventually([&] { return q.getters_waiting() == 1; }));
      q.Shutdown(immediate);
      ASSERT_TRUE(Ready(getter));
      EXPECT_TRUE(IsShutDown(getter.get().status()));
    }
  }
}

TYPED_TEST(BoundedQueueTest, BlockedPutterWokenByShutdownKeepsItsItem) {  // 154
  for (bool immediate : {false, true}) {
    for (bool timed : {false, true}) {
      TypeParam q(1);
      ASSERT_TRUE(q.Put(1).ok());
      auto putter = Async([&] {
        int item = 99;
        absl::Status s = timed ? q.PutFor(std::move(item), absl::Seconds(60))
                               : q.Put(std::move(item));
        return std::make_pair(s, item);
      });
      ASSERT_TRUE(Eventually([&] { return q.putters_waiting() == 1; }));
      q.Shutdown(immediate);
      ASSERT_TRUE(Ready(putter));
      auto [status, item] = putter.get();
      EXPECT_TRUE(IsShutDown(status)) << status;
      EXPECT_EQ(item, 99);
      EXPECT_EQ(q.qsize(), immediate ? 0u : 1u);
      EXPECT_EQ(q.unfinished_tasks(), immediate ? 0 : 1);
    }
  }
}

TYPED_TEST(BoundedQueueTest, ImmediateShutdownReleasesJoiners) {  // 150
  TypeParam q;
  ASSERT_TRUE(q.Put(1).ok());
  auto j1 = Async([&] { q.Join(); });
  auto j2 = Async([&] { return q.JoinFor(absl::Seconds(60)); });
  EXPECT_FALSE(Ready(j1, kStillBlocked));  // Still blocked: the point.
  q.Shutdown(true);
  ASSERT_TRUE(Ready(j1));
  ASSERT_TRUE(Ready(j2));
  EXPECT_TRUE(j2.get());
}

TYPED_TEST(BoundedQueueTest, NonImmediateShutdownKeepsJoinersUntilDone) {
  // 150, 151, 152, 154
  TypeParam q(2);
  ASSERT_TRUE(q.Put(1).ok());
  auto j1 = Async([&] { q.Join(); });
  auto j2 = Async([&] { q.Join(); });
  q.Shutdown();
  EXPECT_FALSE(Ready(j1, kStillBlocked));  // Still blocked: the point.
  EXPECT_TRUE(IsShutDown(q.Put(2)));
  ASSERT_TRUE(q.Get().ok());
  EXPECT_FALSE(Ready(j2, kStillBlocked));  // Taken but not done: blocked.
  ASSERT_TRUE(q.TaskDone().ok());
  EXPECT_TRUE(Ready(j1));
  EXPECT_TRUE(Ready(j2));
}

TYPED_TEST(BoundedQueueTest, ImmediateShutdownKeepsJoinersForTakenTasks) {
  // 154: items taken but not done still count after an immediate shutdown.
  TypeParam q;
  ASSERT_TRUE(q.Put(1).ok());
  ASSERT_TRUE(q.Put(2).ok());
  ASSERT_TRUE(q.Get().ok());
  auto joiner = Async([&] { q.Join(); });
  q.Shutdown(true);
  EXPECT_EQ(q.unfinished_tasks(), 1);
  EXPECT_FALSE(Ready(joiner, kStillBlocked));  // Still blocked: the point.
  ASSERT_TRUE(q.TaskDone().ok());
  EXPECT_TRUE(Ready(joiner));
}

TYPED_TEST(BoundedQueueTest, ShutdownPutJoin) {  // 151
  for (bool immediate : {false, true}) {
    TypeParam q(2);
    ASSERT_TRUE(q.Put(1).ok());
    auto joiner = Async([&] { q.Join(); });
    q.Shutdown(immediate);
    auto putter = Async([&] { return q.Put(2); });
    ASSERT_TRUE(Ready(putter));
    EXPECT_TRUE(IsShutDown(putter.get()));
    if (immediate) {
      EXPECT_TRUE(IsShutDown(q.TryGet().status()));
    } else {
      EXPECT_EQ(*q.Get(), 1);
      ASSERT_TRUE(q.TaskDone().ok());
    }
    EXPECT_TRUE(Ready(joiner));
  }
}

TYPED_TEST(BoundedQueueTest, ShutdownThenGetVersusGetThenShutdown) {
  // Both orderings of the shutdown / get race on an empty queue.
  {
    TypeParam q;
    q.Shutdown();
    auto getter = Async([&] { return q.Get(); });
    ASSERT_TRUE(Ready(getter));
    EXPECT_TRUE(IsShutDown(getter.get().status()));
  }
  {
    TypeParam q;
    auto getter = Async([&] { return q.Get(); });
    ASSERT_TRUE(Eventually([&] { return q.getters_waiting() == 1; }));
    q.Shutdown();
    ASSERT_TRUE(Ready(getter));
    EXPECT_TRUE(IsShutDown(getter.get().status()));
  }
}

TYPED_TEST(BoundedQueueTest, ManyThreadsShutdownMidStream) {  // 146
  for (bool immediate : {false, true}) {
    TypeParam q(16);
    std::atomic<int> put_ok{0}, put_shut{0}, got{0};
    std::vector<std::future<void>> threads;
    absl::Notification some_put;
    for (int w = 0; w < 4; ++w) {
      threads.push_back(Async([&] {
        for (int i = 0;; ++i) {  // Until the shutdown stops us.
          absl::Status s = q.Put(i);
          if (!s.ok()) {
            EXPECT_TRUE(IsShutDown(s));
            ++put_shut;
            return;
          }
          if (++put_ok == 1000) some_put.Notify();
        }
      }));
    }
    for (int r = 0; r < 6; ++r) {
      threads.push_back(Async([&] {
        for (;;) {
          absl::StatusOr<int> v = q.TryGet();
          if (v.ok()) {
            ++got;
            continue;
          }
          if (IsShutDown(v.status())) return;
          EXPECT_TRUE(IsEmpty(v.status()));
          std::this_thread::yield();
        }
      }));
    }
    auto j1 = Async([&] { q.Join(); });
    auto j2 = Async([&] { q.Join(); });
    ASSERT_TRUE(some_put.WaitForNotificationWithTimeout(kLong));
    q.Shutdown(immediate);
    if (immediate) {
      EXPECT_EQ(q.qsize(), 0u);
    }
    for (auto& t : threads) ASSERT_TRUE(Ready(t));
    EXPECT_GE(put_shut.load(), 1);
    EXPECT_TRUE(q.empty());
    // Readers never call TaskDone: settle the items they took.
    ASSERT_TRUE(q.TaskDone(q.unfinished_tasks()).ok());
    EXPECT_TRUE(Ready(j1));
    EXPECT_TRUE(Ready(j2));
    EXPECT_LE(got.load(), put_ok.load());
    if (!immediate) {
      EXPECT_EQ(got.load(), put_ok.load());
    }
  }
}

// --- Fairness ---------------------------------------------------------------

TYPED_TEST(BoundedQueueTest, BlockedGettersServedInArrivalOrder) {
  TypeParam q;
  auto a = Async([&] { return q.Get(); });
  ASSERT_TRUE(Eventually([&] { return q.getters_waiting() == 1; }));
  auto b = Async([&] { return q.Get(); });
  ASSERT_TRUE(Eventually([&] { return q.getters_waiting() == 2; }));
  ASSERT_TRUE(q.Put(1).ok());
  // No barging: the item went to a blocked getter, not to a newcomer.
  EXPECT_TRUE(IsEmpty(q.TryGet().status()));
  ASSERT_TRUE(Ready(a));
  EXPECT_EQ(*a.get(), 1);
  EXPECT_EQ(q.getters_waiting(), 1u);
  ASSERT_TRUE(q.Put(2).ok());
  ASSERT_TRUE(Ready(b));
  EXPECT_EQ(*b.get(), 2);
}

TYPED_TEST(BoundedQueueTest, BlockedPuttersServedInArrivalOrder) {
  TypeParam q(1);
  ASSERT_TRUE(q.Put(0).ok());
  auto a = Async([&] { return q.Put(1); });
  ASSERT_TRUE(Eventually([&] { return q.putters_waiting() == 1; }));
  auto b = Async([&] { return q.Put(2); });
  ASSERT_TRUE(Eventually([&] { return q.putters_waiting() == 2; }));
  EXPECT_EQ(*q.Get(), 0);
  // The freed slot went to the oldest putter, not to a newcomer.
  EXPECT_TRUE(IsFull(q.TryPut(3)));
  ASSERT_TRUE(Ready(a));
  EXPECT_TRUE(a.get().ok());
  EXPECT_EQ(q.putters_waiting(), 1u);
  EXPECT_EQ(*q.Get(), 1);
  ASSERT_TRUE(Ready(b));
  EXPECT_TRUE(b.get().ok());
  EXPECT_EQ(*q.Get(), 2);
}

// --- Batches ----------------------------------------------------------------

TYPED_TEST(BoundedQueueTest, PutManyGetMany) {
  TypeParam q;
  std::vector<int> in = {111, 333, 222};
  size_t n = 0;
  ASSERT_TRUE(q.PutMany(absl::MakeSpan(in), &n).ok());
  EXPECT_EQ(n, 3u);
  EXPECT_EQ(q.unfinished_tasks(), 3);
  std::vector<int> out;
  absl::StatusOr<size_t> got = q.GetMany(2, &out);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, 2u);
  got = q.GetMany(10, &out);  // Appends; never waits for more than 1.
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, 1u);
  EXPECT_EQ(out, ExpectedOrder<TypeParam>());
  EXPECT_TRUE(IsEmpty(q.TryGetMany(10, &out).status()));
  EXPECT_TRUE(IsEmpty(q.GetManyFor(10, absl::Milliseconds(1), &out).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(q.GetMany(0, &out).status()));
  EXPECT_TRUE(q.TaskDone(3).ok());
}

TYPED_TEST(BoundedQueueTest, BlockedGetManyIsHandedAPutMany) {
  TypeParam q;
  std::vector<int> out;
  auto getter = Async([&] { return q.GetMany(2, &out); });
  ASSERT_TRUE(Eventually([&] { return q.getters_waiting() == 1; }));
  std::vector<int> in = {111, 333, 222};
  ASSERT_TRUE(q.PutMany(absl::MakeSpan(in)).ok());
  ASSERT_TRUE(Ready(getter));
  EXPECT_EQ(*getter.get(), 2u);
  std::vector<int> expected = ExpectedOrder<TypeParam>();
  EXPECT_EQ(out, std::vector<int>(expected.begin(), expected.begin() + 2));
  EXPECT_EQ(*q.Get(), expected[2]);
}

TYPED_TEST(BoundedQueueTest, BlockedGetManyWokenByOnePut) {
  TypeParam q;
  std::vector<int> out;
  auto getter = Async([&] { return q.GetMany(100, &out); });
  ASSERT_TRUE(Eventually([&] { return q.getters_waiting() == 1; }));
  ASSERT_TRUE(q.Put(5).ok());
  ASSERT_TRUE(Ready(getter));
  EXPECT_EQ(*getter.get(), 1u);
  EXPECT_THAT(out, ElementsAre(5));
}

TYPED_TEST(BoundedQueueTest, TryPutManyPutsWhatFits) {
  TypeParam q(3);
  std::vector<int> in = {1, 2, 3, 4, 5};
  size_t n = 0;
  EXPECT_TRUE(IsFull(q.TryPutMany(absl::MakeSpan(in), &n)));
  EXPECT_EQ(n, 3u);
  EXPECT_EQ(q.qsize(), 3u);
  EXPECT_TRUE(IsFull(
      q.PutManyFor(absl::MakeSpan(in).subspan(n), absl::Milliseconds(10), &n)));
  EXPECT_EQ(n, 0u);
}

TYPED_TEST(BoundedQueueTest, PutManyWaitsForRoom) {
  TypeParam q(2);
  std::vector<int> in = {1, 2, 3, 4, 5};
  auto putter = Async([&] {
    size_t n = 0;
    absl::Status s = q.PutMany(absl::MakeSpan(in), &n);
    return std::make_pair(s, n);
  });
  std::vector<int> got;
  while (got.size() < 5) {
    absl::StatusOr<int> v = q.GetFor(kLong);
    ASSERT_TRUE(v.ok()) << v.status();
    got.push_back(*v);
  }
  ASSERT_TRUE(Ready(putter));
  auto [s, n] = putter.get();
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(n, 5u);
  EXPECT_THAT(got, UnorderedElementsAre(1, 2, 3, 4, 5));
}

TYPED_TEST(BoundedQueueTest, PutManyStopsAtShutdown) {
  TypeParam q(2);
  std::vector<int> in = {1, 2, 3, 4};
  auto putter = Async([&] {
    size_t n = 0;
    absl::Status s = q.PutMany(absl::MakeSpan(in), &n);
    return std::make_pair(s, n);
  });
  ASSERT_TRUE(Eventually([&] { return q.putters_waiting() == 1; }));
  q.Shutdown();
  ASSERT_TRUE(Ready(putter));
  auto [s, n] = putter.get();
  EXPECT_TRUE(IsShutDown(s));
  EXPECT_EQ(n, 2u);
  EXPECT_EQ(q.qsize(), 2u);
}

// An empty batch is still a put: on a shut down queue it fails like any
// other (found by tests/fuzz/queue_model_fuzz), and on a full one it is OK.
TYPED_TEST(BoundedQueueTest, EmptyPutManyFailsAfterShutdown) {
  TypeParam q(1);
  ASSERT_TRUE(q.Put(1).ok());
  std::vector<int> none;
  size_t n = 7;
  EXPECT_TRUE(q.TryPutMany(absl::MakeSpan(none), &n).ok());
  EXPECT_EQ(n, 0u);
  q.Shutdown();
  n = 7;
  EXPECT_TRUE(IsShutDown(q.PutMany(absl::MakeSpan(none), &n)));
  EXPECT_EQ(n, 0u);
  EXPECT_TRUE(IsShutDown(q.TryPutMany(absl::MakeSpan(none))));
  EXPECT_TRUE(IsShutDown(q.PutManyFor(absl::MakeSpan(none), kLong)));
  EXPECT_EQ(q.unfinished_tasks(), 1);
}

// ---------------------------------------------------------------------------
// Kind-specific ordering.
// ---------------------------------------------------------------------------

TEST(LifoQueueTest, LastInFirstOut) {
  LifoQueue<int> q;
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(q.Put(i).ok());
  std::vector<int> got;
  for (int i = 0; i < 5; ++i) got.push_back(*q.Get());
  EXPECT_THAT(got, ElementsAre(4, 3, 2, 1, 0));
}

TEST(PriorityQueueTest, SmallestFirst) {
  PriorityQueue<int> q;
  for (int v : {5, 1, 4, 2, 3}) ASSERT_TRUE(q.Put(v).ok());
  std::vector<int> got;
  for (int i = 0; i < 5; ++i) got.push_back(*q.Get());
  EXPECT_THAT(got, ElementsAre(1, 2, 3, 4, 5));
}

TEST(PriorityQueueTest, GreaterGivesLargestFirst) {
  PriorityQueue<int, std::greater<int>> q;
  for (int v : {5, 1, 4, 2, 3}) ASSERT_TRUE(q.Put(v).ok());
  std::vector<int> got;
  for (int i = 0; i < 5; ++i) got.push_back(*q.Get());
  EXPECT_THAT(got, ElementsAre(5, 4, 3, 2, 1));
}

TEST(PriorityQueueTest, PythonTupleStyle) {  // 138, seed example
  PriorityQueue<std::pair<int, std::string>> q;
  ASSERT_TRUE(q.Put({3, "c"}).ok());
  ASSERT_TRUE(q.Put({1, "a"}).ok());
  ASSERT_TRUE(q.Put({2, "b"}).ok());
  EXPECT_EQ(q.Get()->second, "a");
  EXPECT_EQ(q.Get()->second, "b");
  EXPECT_EQ(q.Get()->second, "c");
}

struct ByPriority {
  bool operator()(const std::pair<int, int>& a,
                  const std::pair<int, int>& b) const {
    return a.first < b.first;
  }
};

TEST(PriorityQueueTest, EqualPrioritiesComeOutInInsertionOrder) {
  PriorityQueue<std::pair<int, int>, ByPriority> q;
  // Many equal keys, interleaved, so that heap reshuffles would show.
  constexpr int kPerKey = 200;
  for (int i = 0; i < kPerKey; ++i) {
    for (int key : {2, 0, 1}) ASSERT_TRUE(q.Put({key, i}).ok());
  }
  for (int key = 0; key < 3; ++key) {
    for (int i = 0; i < kPerKey; ++i) {
      std::pair<int, int> v = *q.Get();
      ASSERT_EQ(v.first, key);
      ASSERT_EQ(v.second, i) << "unstable for key " << key;
    }
  }
  // Stability also holds with gets interleaved with puts.
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(q.Put({7, i}).ok());
  for (int i = 0; i < 50; ++i) ASSERT_EQ(q.Get()->second, i);
  for (int i = 100; i < 150; ++i) ASSERT_TRUE(q.Put({7, i}).ok());
  for (int i = 50; i < 150; ++i) ASSERT_EQ(q.Get()->second, i);
}

// ---------------------------------------------------------------------------
// Move-only items and failed puts.
// ---------------------------------------------------------------------------

TEST(QueueTest, MoveOnlyUniquePtr) {
  Queue<std::unique_ptr<int>> q(1);
  ASSERT_TRUE(q.Put(std::make_unique<int>(7)).ok());
  auto item = std::make_unique<int>(8);
  // A failed put leaves the item with the caller.
  EXPECT_TRUE(IsFull(q.TryPut(std::move(item))));
  ASSERT_NE(item, nullptr);
  EXPECT_EQ(*item, 8);
  EXPECT_TRUE(IsFull(q.PutFor(std::move(item), absl::Milliseconds(1))));
  ASSERT_NE(item, nullptr);
  absl::StatusOr<std::unique_ptr<int>> got = q.Get();
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(**got, 7);
  ASSERT_TRUE(q.Put(std::move(item)).ok());
  EXPECT_EQ(item, nullptr);  // Moved from on success.
  q.Shutdown();
  auto late = std::make_unique<int>(9);
  EXPECT_TRUE(IsShutDown(q.Put(std::move(late))));
  ASSERT_NE(late, nullptr);
  EXPECT_EQ(**q.Get(), 8);
}

TEST(QueueTest, MoveOnlyAnyInvocable) {
  Queue<absl::AnyInvocable<int() &&>> q;
  auto owned = std::make_unique<int>(41);
  ASSERT_TRUE(q.Put([p = std::move(owned)]() { return *p + 1; }).ok());
  absl::StatusOr<absl::AnyInvocable<int()&&>> fn = q.Get();
  ASSERT_TRUE(fn.ok());
  EXPECT_EQ(std::move(*fn)(), 42);
}

TEST(LifoQueueTest, MoveOnlyBatches) {
  LifoQueue<std::unique_ptr<int>> lifo;
  std::vector<std::unique_ptr<int>> in;
  for (int i = 0; i < 3; ++i) in.push_back(std::make_unique<int>(i));
  ASSERT_TRUE(lifo.PutMany(absl::MakeSpan(in)).ok());
  for (const auto& p : in) EXPECT_EQ(p, nullptr);
  std::vector<std::unique_ptr<int>> out;
  ASSERT_TRUE(lifo.GetMany(3, &out).ok());
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(*out[0], 2);
  EXPECT_EQ(*out[2], 0);
}

struct DerefLess {
  bool operator()(const std::unique_ptr<int>& a,
                  const std::unique_ptr<int>& b) const {
    return *a < *b;
  }
};

TEST(PriorityQueueTest, MoveOnlyItems) {
  PriorityQueue<std::unique_ptr<int>, DerefLess> q;
  for (int v : {3, 1, 2}) ASSERT_TRUE(q.Put(std::make_unique<int>(v)).ok());
  EXPECT_EQ(**q.Get(), 1);
  EXPECT_EQ(**q.Get(), 2);
  EXPECT_EQ(**q.Get(), 3);
}

// An item whose destructor uses the queue it was in.
struct Reentrant {
  Queue<Reentrant>* q = nullptr;
  int* destroyed = nullptr;
  Reentrant(Queue<Reentrant>* queue, int* counter)
      : q(queue), destroyed(counter) {}
  Reentrant(Reentrant&& other) noexcept
      : q(std::exchange(other.q, nullptr)),
        destroyed(std::exchange(other.destroyed, nullptr)) {}
  Reentrant& operator=(Reentrant&& other) noexcept {
    q = std::exchange(other.q, nullptr);
    destroyed = std::exchange(other.destroyed, nullptr);
    return *this;
  }
  ~Reentrant() {
    if (q == nullptr) return;
    // Locks the queue: this must not run under the queue's lock.
    EXPECT_TRUE(q->is_shutdown());
    ++*destroyed;
  }
};

TEST(QueueTest, ImmediateShutdownDestroysDroppedItemsOutsideTheLock) {
  Queue<Reentrant> q;
  int destroyed = 0;
  ASSERT_TRUE(q.Put(Reentrant(&q, &destroyed)).ok());
  ASSERT_TRUE(q.Put(Reentrant(&q, &destroyed)).ok());
  q.Shutdown(/*immediate=*/true);
  EXPECT_EQ(destroyed, 2);
  EXPECT_EQ(q.unfinished_tasks(), 0);
}

TEST(QueueTest, CopyablePutByConstReference) {
  Queue<std::string> q(1);
  const std::string s = "hello";
  ASSERT_TRUE(q.Put(s).ok());
  EXPECT_TRUE(IsFull(q.TryPut(s)));
  EXPECT_TRUE(IsFull(q.PutFor(s, absl::ZeroDuration())));
  EXPECT_EQ(s, "hello");
  EXPECT_EQ(*q.Get(), "hello");
}

TEST(QueueTest, RingBufferGrowsAndWraps) {
  Queue<std::string> q;
  int next_put = 0, next_get = 0;
  for (int round = 0; round < 50; ++round) {
    for (int i = 0; i < round * 7; ++i) {
      ASSERT_TRUE(q.Put(std::to_string(next_put++)).ok());
    }
    for (int i = 0; i < round * 5; ++i) {
      ASSERT_EQ(*q.Get(), std::to_string(next_get++));
    }
  }
  while (next_get < next_put) ASSERT_EQ(*q.Get(), std::to_string(next_get++));
  EXPECT_TRUE(q.empty());
}

// ---------------------------------------------------------------------------
// SimpleQueue (158-164).
// ---------------------------------------------------------------------------

TEST(SimpleQueueTest, Basic) {  // 158
  SimpleQueue<int> q;
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.qsize(), 0u);
  q.Put(1);
  q.Put(2);
  q.Put(3);
  q.Put(4);
  EXPECT_FALSE(q.empty());
  EXPECT_EQ(q.qsize(), 4u);
  EXPECT_EQ(*q.Get(), 1);
  EXPECT_EQ(*q.TryGet(), 2);
  EXPECT_EQ(*q.GetFor(absl::Milliseconds(100)), 3);
  EXPECT_EQ(*q.GetFor(absl::ZeroDuration()), 4);
  EXPECT_TRUE(q.empty());
  EXPECT_TRUE(IsEmpty(q.TryGet().status()));
  EXPECT_TRUE(IsEmpty(q.GetFor(absl::Milliseconds(1)).status()));
  EXPECT_TRUE(IsEmpty(q.GetFor(-absl::Seconds(1)).status()));  // 159
}

TEST(SimpleQueueTest, OneProducerOneConsumerKeepOrder) {  // 160
  SimpleQueue<int> q;
  auto consumer = Async([&] {
    std::vector<int> got;
    for (int i = 0; i < 100; ++i) got.push_back(*q.GetFor(kLong));
    return got;
  });
  for (int i = 0; i < 100; ++i) q.Put(i);
  ASSERT_TRUE(Ready(consumer));
  std::vector<int> expected(100);
  std::iota(expected.begin(), expected.end(), 0);
  EXPECT_EQ(consumer.get(), expected);
}

TEST(SimpleQueueTest, ManyThreadsDeliverEachItemOnce) {  // 161
  for (int mode = 0; mode < 3; ++mode) {  // blocking, nonblocking, timeout.
    SCOPED_TRACE(mode);
    SimpleQueue<int> q;
    constexpr int kThreads = 8, kPerThread = 1000;
    std::vector<std::future<std::vector<int>>> consumers;
    for (int c = 0; c < kThreads; ++c) {
      consumers.push_back(Async([&, mode] {
        std::vector<int> got;
        for (;;) {
          absl::StatusOr<int> v = mode == 0 ? q.GetFor(kLong)
                                  : mode == 1
                                      ? q.TryGet()
                                      : q.GetFor(absl::Microseconds(10));
          if (!v.ok()) {
            std::this_thread::yield();
            continue;
          }
          if (*v < 0) return got;
          got.push_back(*v);
        }
      }));
    }
    std::vector<std::future<void>> producers;
    for (int p = 0; p < kThreads; ++p) {
      producers.push_back(Async([&, p] {
        for (int i = 0; i < kPerThread; ++i) q.Put(p * kPerThread + i);
      }));
    }
    for (auto& p : producers) ASSERT_TRUE(Ready(p));
    for (int c = 0; c < kThreads; ++c) q.Put(-1);
    std::vector<int> all;
    for (auto& c : consumers) {
      ASSERT_TRUE(Ready(c));
      std::vector<int> got = c.get();
      all.insert(all.end(), got.begin(), got.end());
    }
    std::sort(all.begin(), all.end());
    std::vector<int> expected(kThreads * kPerThread);
    std::iota(expected.begin(), expected.end(), 0);
    EXPECT_EQ(all, expected);
    EXPECT_TRUE(q.empty());
  }
}

TEST(SimpleQueueTest, BatchesAndMoveOnly) {
  SimpleQueue<std::unique_ptr<int>> q;
  std::vector<std::unique_ptr<int>> in;
  for (int i = 0; i < 10; ++i) in.push_back(std::make_unique<int>(i));
  q.PutMany(absl::MakeSpan(in));
  std::vector<std::unique_ptr<int>> out;
  EXPECT_EQ(*q.GetMany(4, &out), 4u);
  EXPECT_EQ(*q.TryGetMany(100, &out), 6u);
  ASSERT_EQ(out.size(), 10u);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(*out[i], i);
  EXPECT_TRUE(IsEmpty(q.GetManyFor(1, absl::Milliseconds(1), &out).status()));
}

TEST(SimpleQueueTest, BlockedGetReleasedByPut) {
  SimpleQueue<int> q;
  auto getter = Async([&] { return q.Get(); });
  ASSERT_TRUE(Eventually([&] { return q.getters_waiting() == 1; }));
  q.Put(5);
  ASSERT_TRUE(Ready(getter));
  EXPECT_EQ(*getter.get(), 5);
}

}  // namespace
}  // namespace spindle
