// Copyright 2026 The spindle Authors.
//
// ThreadPoolExecutor's lock-free submission path (the inbox): once the pool
// runs its full number of workers, default-priority tasks are pushed without
// the mutex and moved into the queue by the workers. These tests race that
// path with Shutdown, Pause, parking workers, WaitAll, the monitoring
// snapshots and priorities: no task may be lost, run twice, run while
// paused, or run out of order.

#include <atomic>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "spindle/concurrency/future.h"
#include "spindle/concurrency/status.h"
#include "spindle/concurrency/thread_pool.h"
#include "tests/test_util.h"

namespace spindle {
namespace {

using test_util::kBlockedFor;
using test_util::kBound;

using test_util::Gate;
using test_util::StartBlocker;

// Brings `pool` to its full number of workers (the fast path's condition):
// one blocker per worker, all running at once, then released.
void StartAllWorkers(ThreadPoolExecutor& pool) {
  const int n = pool.max_workers();
  Gate gate;
  std::vector<Future<void>> blockers;
  for (int i = 0; i < n; ++i) blockers.push_back(StartBlocker(pool, gate));
  ASSERT_EQ(pool.num_threads(), n);
  gate.open.Notify();
  for (auto& f : blockers) ASSERT_TRUE(f.ResultFor(kBound).ok());
}

class SubmitRaceTest : public ::testing::TestWithParam<bool> {};

// Submitters keep going until the pool refuses them; Shutdown(wait) comes in
// the middle. Every future is done when Shutdown returns and the submitters
// have stopped: run (or cancelled, with cancel_futures), or refused. A task
// pushed after the inbox was drained for the last time would stay pending.
TEST_P(SubmitRaceTest, EveryFutureIsDoneAfterShutdown) {
  const bool cancel = GetParam();
  ThreadPoolExecutor pool({.max_workers = 2});
  StartAllWorkers(pool);
  constexpr int kSubmitters = 3;
  std::atomic<int> submitted{0};
  std::vector<std::vector<Future<int>>> futures(kSubmitters);
  std::vector<std::thread> submitters;
  for (int t = 0; t < kSubmitters; ++t) {
    submitters.emplace_back([&, t] {
      for (int i = 0;; ++i) {
        Future<int> f = pool.Submit([i] { return i; });
        const bool refused =
            f.done() && IsShutDown(f.ResultFor(absl::ZeroDuration()).status());
        futures[t].push_back(std::move(f));
        if (refused) return;
        submitted.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  ASSERT_TRUE(test_util::Eventually(
      [&] { return submitted.load(std::memory_order_relaxed) >= 2000; }));
  pool.Shutdown(/*wait=*/true, /*cancel_futures=*/cancel);
  for (std::thread& t : submitters) t.join();
  int ran = 0;
  for (int t = 0; t < kSubmitters; ++t) {
    ASSERT_FALSE(futures[t].empty());
    for (size_t i = 0; i < futures[t].size(); ++i) {
      Future<int>& f = futures[t][i];
      ASSERT_TRUE(f.done())
          << "submitter " << t << ", task " << i << " of " << futures[t].size();
      absl::StatusOr<int> r = f.ResultFor(absl::ZeroDuration());
      if (r.ok()) {
        EXPECT_EQ(*r, static_cast<int>(i));
        ++ran;
      } else if (!cancel) {
        // Without cancel_futures only the last one (the refusal) fails.
        EXPECT_EQ(i + 1, futures[t].size()) << r.status();
        EXPECT_TRUE(IsShutDown(r.status())) << r.status();
      } else {
        EXPECT_TRUE(IsShutDown(r.status()) || IsCancelled(r.status()))
            << r.status();
      }
    }
  }
  EXPECT_GE(ran, cancel ? 0 : 2000);
}

INSTANTIATE_TEST_SUITE_P(WithAndWithoutCancel, SubmitRaceTest,
                         ::testing::Bool());

// The same with Execute: every accepted task runs exactly once.
TEST(ThreadPoolInboxTest, ExecuteRacingShutdownRunsEveryAcceptedTask) {
  std::atomic<int> accepted{0};
  std::atomic<int> ran{0};
  {
    ThreadPoolExecutor pool({.max_workers = 2});
    StartAllWorkers(pool);
    std::vector<std::thread> submitters;
    for (int t = 0; t < 3; ++t) {
      submitters.emplace_back([&] {
        while (pool.Execute(
                       [&ran] { ran.fetch_add(1, std::memory_order_relaxed); })
                   .ok()) {
          accepted.fetch_add(1, std::memory_order_relaxed);
        }
      });
    }
    ASSERT_TRUE(test_util::Eventually(
        [&] { return accepted.load(std::memory_order_relaxed) >= 2000; }));
    pool.Shutdown(/*wait=*/true);
    for (std::thread& t : submitters) t.join();
    EXPECT_EQ(ran.load(), accepted.load());
  }
  EXPECT_EQ(ran.load(), accepted.load());
}

// A worker that finds nothing spins briefly and parks; a task pushed onto
// the inbox at that moment must wake it. Every few rounds the test pauses
// (not a synchronisation: the outcome does not depend on how long) so that
// the worker gets to park and the submit meets a parked worker.
TEST(ThreadPoolInboxTest, NoWakeUpIsLostWhenTheWorkerParks) {
  ThreadPoolExecutor pool({.max_workers = 1});
  StartAllWorkers(pool);
  for (int i = 0; i < 3000; ++i) {
    if (i % 100 == 0) absl::SleepFor(absl::Milliseconds(2));
    absl::StatusOr<int> r = pool.Submit([i] { return i; }).ResultFor(kBound);
    ASSERT_TRUE(r.ok()) << "round " << i << ": " << r.status();
    ASSERT_EQ(*r, i);
  }
}

// Tasks still in the inbox (the only worker is busy, so nobody moved them)
// count as queued, and WaitAll waits for them.
TEST(ThreadPoolInboxTest, WaitAllAndSnapshotsCountTheInbox) {
  ThreadPoolExecutor pool({.max_workers = 1});
  StartAllWorkers(pool);
  Gate gate;
  Future<void> blocker = StartBlocker(pool, gate);
  std::atomic<int> ran{0};
  std::vector<Future<void>> fs;
  for (int i = 0; i < 50; ++i) {
    fs.push_back(pool.Submit([&ran] { ran.fetch_add(1); }));
  }
  EXPECT_EQ(pool.tasks_queued(), 50u);
  EXPECT_EQ(pool.tasks_running(), 1u);
  EXPECT_EQ(pool.tasks_total(), 51u);
  EXPECT_TRUE(IsTimeout(pool.WaitAllFor(kBlockedFor)));
  EXPECT_EQ(pool.tasks_queued(), 50u);
  EXPECT_EQ(pool.tasks_total(), 51u);
  EXPECT_EQ(ran.load(), 0);
  gate.open.Notify();
  ASSERT_TRUE(pool.WaitAllFor(kBound).ok());
  EXPECT_EQ(ran.load(), 50);
  for (auto& f : fs) EXPECT_TRUE(f.done());
  EXPECT_EQ(pool.tasks_total(), 0u);
}

// Default-priority tasks pushed without the lock keep FIFO order among
// themselves and stay behind higher levels and ahead of lower ones, however
// the pushes and the locked (priority) submits interleave.
TEST(ThreadPoolInboxTest, InboxTasksKeepTheirPlaceAmongPriorities) {
  ThreadPoolExecutor pool({.max_workers = 1});
  StartAllWorkers(pool);
  Gate gate;
  Future<void> blocker = StartBlocker(pool, gate);
  absl::Mutex mu;
  std::vector<int> order;
  auto record = [&](int id) {
    return [&mu, &order, id] {
      absl::MutexLock lock(&mu);
      order.push_back(id);
    };
  };
  std::vector<Future<void>> fs;
  for (int i = 0; i < 10; ++i) fs.push_back(pool.Submit(record(i)));
  fs.push_back(pool.SubmitWithPriority(-1, record(100)));
  fs.push_back(pool.SubmitWithPriority(1, record(200)));
  for (int i = 10; i < 15; ++i) fs.push_back(pool.Submit(record(i)));
  fs.push_back(pool.SubmitWithPriority(1, record(201)));
  for (int i = 15; i < 20; ++i) fs.push_back(pool.Submit(record(i)));
  gate.open.Notify();
  ASSERT_TRUE(pool.WaitAllFor(kBound).ok());
  std::vector<int> want = {200, 201};
  for (int i = 0; i < 20; ++i) want.push_back(i);
  want.push_back(100);
  absl::MutexLock lock(&mu);
  EXPECT_EQ(order, want);
}

// Pause() while submitters push without the lock: nothing starts while
// paused (beyond the task each worker had already taken), and Resume runs
// every accepted task exactly once.
TEST(ThreadPoolInboxTest, PauseHoldsTasksPushedWithoutTheLock) {
  ThreadPoolExecutor pool({.max_workers = 2});
  StartAllWorkers(pool);
  std::atomic<int> ran{0};
  std::atomic<int> accepted{0};
  std::atomic<bool> stop{false};
  std::thread submitter([&] {
    while (!stop.load()) {
      if (pool.Execute([&ran] { ran.fetch_add(1); }).ok()) {
        accepted.fetch_add(1);
      }
    }
  });
  ASSERT_TRUE(test_util::Eventually([&] { return accepted.load() >= 500; }));
  pool.Pause();
  const int ran_at_pause = ran.load();
  // Counted from the pause: the submitter may have gone far past 500 (all
  // of it run) before Pause, so an absolute count could be met at once.
  const int accepted_at_pause = accepted.load();
  ASSERT_TRUE(test_util::Eventually(
      [&] { return accepted.load() >= accepted_at_pause + 1000; }));
  stop.store(true);
  submitter.join();
  // Queued tasks remain while paused, so this times out.
  EXPECT_TRUE(IsTimeout(pool.WaitAllFor(kBlockedFor)));
  EXPECT_LE(ran.load(), ran_at_pause + pool.max_workers());
  EXPECT_LT(ran.load(), accepted.load());
  pool.Resume();
  ASSERT_TRUE(pool.WaitAllFor(kBound).ok());
  EXPECT_EQ(ran.load(), accepted.load());
}

}  // namespace
}  // namespace spindle
