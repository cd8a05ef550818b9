// Copyright 2026 The spindle Authors.
//
// Tests for spindle::Barrier (checklist section F).

#include "spindle/concurrency/barrier.h"

#include <algorithm>
#include <atomic>
#include <stdexcept>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "spindle/concurrency/status.h"
#include "tests/test_util.h"

namespace spindle {
namespace {

using test_util::kBound;
using test_util::WaitForWaiters;

constexpr int kN = 5;

// Runs `fn(i)` on `n` threads and joins them.
template <typename F>
void RunThreads(int n, F fn) {
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) threads.emplace_back([&fn, i] { fn(i); });
  for (auto& t : threads) t.join();
}

TEST(BarrierDeathTest, PartiesMustBePositive) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(Barrier(0), "parties must be >= 1");
  EXPECT_DEATH(Barrier(-1), "parties must be >= 1");
}

// Lockstep over several passes: nobody starts pass k+1 before everyone
// finished pass k. Also checks the indices of each pass.
void Multipass(Barrier& b, int passes) {
  ASSERT_EQ(b.parties(), kN);
  absl::Mutex mu;
  std::vector<int> arrived(passes, 0);
  std::vector<int> index_sum(passes, 0);
  RunThreads(kN, [&](int) {
    for (int p = 0; p < passes; ++p) {
      {
        absl::MutexLock l(&mu);
        ++arrived[p];
      }
      absl::StatusOr<int> r = b.WaitFor(kBound);
      ASSERT_TRUE(r.ok()) << r.status();
      absl::MutexLock l(&mu);
      // Everyone arrived at pass p before anyone leaves it...
      EXPECT_EQ(arrived[p], kN);
      // ...and nobody arrived at pass p+1 before everyone arrived at p.
      index_sum[p] += *r;
    }
  });
  for (int p = 0; p < passes; ++p) EXPECT_EQ(index_sum[p], 0 + 1 + 2 + 3 + 4);
  EXPECT_EQ(b.n_waiting(), 0);
  EXPECT_FALSE(b.broken());
}

TEST(BarrierTest, OnePass) {
  Barrier b(kN);
  Multipass(b, 1);
}

TEST(BarrierTest, TenPassesCyclic) {
  Barrier b(kN);
  Multipass(b, 10);
}

TEST(BarrierTest, WaitReturnsDistinctIndices) {
  Barrier b(kN);
  absl::Mutex mu;
  std::vector<int> seen;
  RunThreads(kN, [&](int) {
    absl::StatusOr<int> r = b.WaitFor(kBound);
    ASSERT_TRUE(r.ok());
    absl::MutexLock l(&mu);
    seen.push_back(*r);
  });
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(seen, (std::vector<int>{0, 1, 2, 3, 4}));
}

TEST(BarrierTest, ActionRunsOnceBeforeAnyoneIsReleased) {
  std::atomic<int> runs{0};
  Barrier b(kN, [&] { runs.fetch_add(1); });
  RunThreads(kN, [&](int) {
    ASSERT_TRUE(b.WaitFor(kBound).ok());
    EXPECT_EQ(runs.load(), 1);  // Seen by every released thread.
    ASSERT_TRUE(b.WaitFor(kBound).ok());
    EXPECT_EQ(runs.load(), 2);
  });
}

TEST(BarrierTest, AbortBreaksTheBarrierForWaiters) {
  Barrier b(kN);
  std::atomic<int> broken{0};
  RunThreads(kN, [&](int i) {
    ASSERT_TRUE(b.WaitFor(kBound).ok());
    if (i == kN - 1) {
      // This thread "fails" and aborts once the others are waiting.
      ASSERT_TRUE(WaitForWaiters(b, kN - 1));
      b.Abort();
      return;
    }
    absl::StatusOr<int> r = b.WaitFor(kBound);
    if (IsBroken(r.status())) broken.fetch_add(1);
  });
  EXPECT_EQ(broken.load(), kN - 1);
  EXPECT_TRUE(b.broken());
  // A wait on a broken barrier fails at once.
  const absl::Time start = absl::Now();
  EXPECT_TRUE(IsBroken(b.WaitFor(kBound).status()));
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  EXPECT_EQ(b.n_waiting(), 0);
}

TEST(BarrierTest, ResetBreaksCurrentWaitersThenWorksAgain) {
  Barrier b(kN);
  std::atomic<int> broken{0}, passed{0};
  RunThreads(kN, [&](int i) {
    if (i == kN - 1) {
      ASSERT_TRUE(WaitForWaiters(b, kN - 1));
      b.Reset();
    } else {
      absl::StatusOr<int> r = b.WaitFor(kBound);
      if (IsBroken(r.status())) broken.fetch_add(1);
    }
  });
  EXPECT_EQ(broken.load(), kN - 1);
  EXPECT_FALSE(b.broken());
  RunThreads(kN, [&](int) {
    if (b.WaitFor(kBound).ok()) passed.fetch_add(1);
  });
  EXPECT_EQ(passed.load(), kN);
}

TEST(BarrierTest, AbortThenResetAfterEveryoneLeft) {
  Barrier b(kN);
  std::atomic<int> broken{0};
  RunThreads(kN, [&](int i) {
    if (i == kN - 1) {
      ASSERT_TRUE(WaitForWaiters(b, kN - 1));
      b.Abort();
    } else if (IsBroken(b.WaitFor(kBound).status())) {
      broken.fetch_add(1);
    }
  });
  EXPECT_EQ(broken.load(), kN - 1);
  ASSERT_TRUE(b.broken());
  b.Reset();
  EXPECT_FALSE(b.broken());
  std::atomic<int> passed{0};
  RunThreads(kN, [&](int) {
    if (b.WaitFor(kBound).ok()) passed.fetch_add(1);
  });
  EXPECT_EQ(passed.load(), kN);
}

TEST(BarrierTest, TimeoutBreaksItForEveryoneIncludingLateArrivals) {
  Barrier b(kN);
  std::atomic<int> broken{0};
  std::atomic<int> early_done{0};
  RunThreads(kN, [&](int i) {
    if (i == kN - 1) {
      // The late thread arrives only after the others gave up.
      const absl::Time deadline = absl::Now() + kBound;
      while (early_done.load() < kN - 1 && absl::Now() < deadline) {
        std::this_thread::yield();
      }
      if (IsBroken(b.WaitFor(kBound).status())) broken.fetch_add(1);
      return;
    }
    // The timeout is the point: the late thread is not coming in time.
    absl::StatusOr<int> r = b.WaitFor(absl::Milliseconds(100));
    if (IsBroken(r.status())) broken.fetch_add(1);
    early_done.fetch_add(1);
  });
  EXPECT_EQ(broken.load(), kN);
  EXPECT_TRUE(b.broken());
}

TEST(BarrierTest, ConstructorTimeoutIsTheDefault) {
  Barrier b(2, nullptr, absl::Milliseconds(100));
  // The timeout is the point: no second party ever comes.
  const absl::Time start = absl::Now();
  absl::StatusOr<int> r = b.Wait();
  const absl::Duration waited = absl::Now() - start;
  EXPECT_TRUE(IsBroken(r.status())) << r.status();
  EXPECT_GE(waited, absl::Milliseconds(100));
  EXPECT_LT(waited, absl::Seconds(5));
}

TEST(BarrierTest, ZeroTimeoutDoesNotBlock) {
  Barrier b(2);
  const absl::Time start = absl::Now();
  EXPECT_TRUE(IsBroken(b.WaitFor(absl::ZeroDuration()).status()));
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  EXPECT_TRUE(b.broken());
}

TEST(BarrierTest, SinglePartyReturnsAtOnce) {
  Barrier b(1);
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<int> r = b.Wait();
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*r, 0);
  }
}

TEST(BarrierTest, NWaitingCountsBlockedThreads) {
  Barrier b(3);
  EXPECT_EQ(b.n_waiting(), 0);
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i) {
    threads.emplace_back([&] { EXPECT_TRUE(b.WaitFor(kBound).ok()); });
  }
  ASSERT_TRUE(WaitForWaiters(b, 2));
  EXPECT_EQ(b.n_waiting(), 2);
  EXPECT_TRUE(b.WaitFor(kBound).ok());
  for (auto& t : threads) t.join();
  EXPECT_EQ(b.n_waiting(), 0);
  b.Abort();
  EXPECT_TRUE(b.broken());
  EXPECT_EQ(b.n_waiting(), 0);
}

TEST(BarrierTest, ThrowingActionBreaksTheBarrier) {
  Barrier b(3, [] { throw std::runtime_error("action failed"); });
  std::atomic<int> broken{0}, threw{0};
  RunThreads(3, [&](int) {
    try {
      absl::StatusOr<int> r = b.WaitFor(kBound);
      if (IsBroken(r.status())) broken.fetch_add(1);
    } catch (const std::runtime_error& e) {
      EXPECT_STREQ(e.what(), "action failed");
      threw.fetch_add(1);
    }
  });
  EXPECT_EQ(threw.load(), 1);  // The thread that ran the action.
  EXPECT_EQ(broken.load(), 2);
  EXPECT_TRUE(b.broken());
  EXPECT_TRUE(IsBroken(b.Wait().status()));  // Stays broken...
  b.Reset();                                 // ...until reset.
  EXPECT_FALSE(b.broken());
}

}  // namespace
}  // namespace spindle
