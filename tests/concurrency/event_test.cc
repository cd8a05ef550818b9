// Copyright 2026 The spindle Authors.
//
// Tests for spindle::Event (checklist section E).

#include "spindle/concurrency/event.h"

#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace spindle {
namespace {

using test_util::Counter;
using test_util::kBlockedFor;
using test_util::kBound;
using test_util::WaitForWaiters;

TEST(EventTest, IsSetFollowsSetAndClear) {
  Event e;
  EXPECT_FALSE(e.IsSet());
  e.Set();
  EXPECT_TRUE(e.IsSet());
  e.Set();
  EXPECT_TRUE(e.IsSet());
  e.Clear();
  EXPECT_FALSE(e.IsSet());
  e.Clear();
  EXPECT_FALSE(e.IsSet());
}

// Both orderings: waiters that arrive before the Set, and after it.
TEST(EventTest, SetWakesAllWaitersAndLaterWaitsReturnAtOnce) {
  Event e;
  for (int round = 0; round < 2; ++round) {
    Counter started, woke;
    std::vector<std::thread> threads;
    int results[5] = {0, 0, 0, 0, 0};
    for (int i = 0; i < 5; ++i) {
      threads.emplace_back([&, i] {
        started.Increment();
        const bool first = e.WaitFor(kBound);
        const bool second = e.WaitFor(kBound);
        results[i] = first && second;
        woke.Increment();
      });
    }
    ASSERT_TRUE(WaitForWaiters(e, 5));
    // Waiting is the point: nobody wakes before Set().
    EXPECT_FALSE(woke.WaitFor(1, kBlockedFor));
    e.Set();
    ASSERT_TRUE(woke.WaitFor(5));
    for (auto& t : threads) t.join();
    for (int r : results) EXPECT_EQ(r, 1);
    e.Clear();  // Second round: new waiters block again.
  }
}

TEST(EventTest, WaitAfterSetReturnsAtOnce) {
  Event e;
  e.Set();
  const absl::Time start = absl::Now();
  EXPECT_TRUE(e.Wait());
  EXPECT_TRUE(e.WaitFor(absl::ZeroDuration()));
  EXPECT_TRUE(e.WaitFor(absl::Milliseconds(500)));
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(400));
}

TEST(EventTest, WaitForTimesOutOnUnsetEvent) {
  Event e;
  const absl::Time t0 = absl::Now();
  EXPECT_FALSE(e.WaitFor(absl::ZeroDuration()));
  EXPECT_FALSE(e.WaitFor(absl::Seconds(-1)));
  EXPECT_LT(absl::Now() - t0, absl::Milliseconds(100));
  std::vector<std::thread> threads;
  absl::Mutex mu;
  int falses = 0;
  for (int i = 0; i < 5; ++i) {
    threads.emplace_back([&] {
      // The timeout is the point: 0.2 s must pass.
      const absl::Time start = absl::Now();
      const bool r = e.WaitFor(absl::Milliseconds(200));
      const absl::Duration waited = absl::Now() - start;
      EXPECT_GE(waited, absl::Milliseconds(200));
      EXPECT_LT(waited, absl::Seconds(2));
      absl::MutexLock l(&mu);
      if (!r) ++falses;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(falses, 5);
}

// gh-57711: a Set() immediately followed by Clear() must still wake every
// waiter with true.
TEST(EventTest, SetThenClearStillWakesAllWaitersWithTrue) {
  Event e;
  Counter started;
  absl::Mutex mu;
  int trues = 0;
  std::vector<std::thread> threads;
  for (int i = 0; i < 5; ++i) {
    threads.emplace_back([&] {
      started.Increment();
      const bool r = e.WaitFor(kBound);
      absl::MutexLock l(&mu);
      if (r) ++trues;
    });
  }
  ASSERT_TRUE(started.WaitFor(5));
  // All five must be blocked before Set(); a thread arriving after Clear()
  // would rightly block again.
  ASSERT_TRUE(WaitForWaiters(e, 5));
  e.Set();
  e.Clear();
  for (auto& t : threads) t.join();
  EXPECT_EQ(trues, 5);
}

TEST(EventTest, SetBeforeWaitIsNotLost) {
  Event e;
  std::thread setter([&] { e.Set(); });
  setter.join();
  EXPECT_TRUE(e.WaitFor(kBound));
}

}  // namespace
}  // namespace spindle
