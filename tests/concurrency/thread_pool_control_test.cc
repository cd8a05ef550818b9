// Copyright 2026 The spindle Authors.
//
// ThreadPoolExecutor's Pause/Resume, WaitAll and monitoring snapshots,
// including their races with Submit and Shutdown.

#include <pthread.h>

#include <atomic>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "spindle/concurrency/future.h"
#include "spindle/concurrency/status.h"
#include "spindle/concurrency/thread_pool.h"
#include "tests/test_util.h"

namespace spindle {
namespace {

using ::testing::EndsWith;
using ::testing::HasSubstr;

using test_util::kBound;
// For the waits whose timing out is the point of the test.
using test_util::kBlockedFor;

using test_util::Gate;
using test_util::StartBlocker;

TEST(ThreadPoolPauseTest, PausedPoolQueuesAndResumeRunsThem) {
  ThreadPoolExecutor pool({.max_workers = 2});
  EXPECT_FALSE(pool.is_paused());
  pool.Pause();
  EXPECT_TRUE(pool.is_paused());
  std::vector<Future<int>> fs;
  for (int i = 0; i < 5; ++i) fs.push_back(pool.Submit([i] { return i; }));
  // No worker starts while paused, so nothing can have run.
  EXPECT_EQ(pool.num_threads(), 0);
  EXPECT_EQ(pool.tasks_queued(), 5u);
  for (auto& f : fs) EXPECT_FALSE(f.done());
  pool.Resume();
  EXPECT_FALSE(pool.is_paused());
  for (int i = 0; i < 5; ++i) EXPECT_EQ(*fs[i].ResultFor(kBound), i);
  pool.Resume();  // Not paused: nothing happens.
}

TEST(ThreadPoolPauseTest, RunningTaskFinishesAndWorkersStopTakingTasks) {
  ThreadPoolExecutor pool({.max_workers = 1});
  Gate gate;
  Future<void> running = StartBlocker(pool, gate);
  pool.Pause();
  Future<int> queued = pool.Submit([] { return 2; });
  gate.open.Notify();
  EXPECT_TRUE(running.ResultFor(kBound).ok());  // Not interrupted.
  // The worker is free but paused: the task stays queued.
  EXPECT_TRUE(IsTimeout(pool.WaitAllFor(kBlockedFor)));
  EXPECT_EQ(pool.tasks_queued(), 1u);
  EXPECT_FALSE(queued.done());
  pool.Resume();
  EXPECT_EQ(*queued.ResultFor(kBound), 2);
}

TEST(ThreadPoolPauseTest, ShutdownOfPausedPoolRunsQueuedTasks) {
  for (bool wait : {true, false}) {
    ThreadPoolExecutor pool({.max_workers = 2});
    pool.Pause();
    std::vector<Future<int>> fs;
    for (int i = 0; i < 6; ++i) fs.push_back(pool.Submit([i] { return i; }));
    pool.Shutdown(wait);
    EXPECT_FALSE(pool.is_paused());
    for (int i = 0; i < 6; ++i) EXPECT_EQ(*fs[i].ResultFor(kBound), i);
    pool.Pause();  // After Shutdown: does nothing.
    EXPECT_FALSE(pool.is_paused());
  }
}

TEST(ThreadPoolPauseTest, ShutdownCancelFuturesOfPausedPoolCancelsThem) {
  ThreadPoolExecutor pool({.max_workers = 2});
  pool.Pause();
  std::vector<Future<int>> fs;
  for (int i = 0; i < 6; ++i) fs.push_back(pool.Submit([i] { return i; }));
  pool.Shutdown(/*wait=*/true, /*cancel_futures=*/true);
  for (auto& f : fs) EXPECT_TRUE(f.cancelled());
  EXPECT_EQ(pool.num_threads(), 0);
}

TEST(ThreadPoolPauseTest, DestroyingPausedPoolRunsQueuedTasks) {
  std::vector<Future<int>> fs;
  Gate gate;  // Outlives the pool, whose destructor runs the tasks.
  {
    ThreadPoolExecutor pool({.max_workers = 2});
    fs.push_back(pool.Submit([&gate] {
      gate.Pass();
      return 0;
    }));
    pool.Pause();
    for (int i = 1; i < 6; ++i) fs.push_back(pool.Submit([i] { return i; }));
    gate.open.Notify();
  }
  for (int i = 0; i < 6; ++i)
    EXPECT_EQ(*fs[i].ResultFor(absl::ZeroDuration()), i);
}

// Pause, Resume, Submit and Shutdown from several threads at once: no hang,
// every accepted task runs, every rejected one says so (TSan checks the
// rest).
TEST(ThreadPoolPauseTest, PauseResumeRaceWithSubmitAndShutdown) {
  for (int round = 0; round < 20; ++round) {
    ThreadPoolExecutor pool({.max_workers = 2});
    std::atomic<bool> stop{false};
    std::thread toggler([&] {
      while (!stop.load()) {
        pool.Pause();
        pool.Resume();
      }
      pool.Pause();  // Maybe after Shutdown began, maybe before.
    });
    std::vector<std::vector<Future<int>>> fs(2);
    std::vector<std::thread> submitters;
    for (int t = 0; t < 2; ++t) {
      submitters.emplace_back([&pool, &fs, t] {
        for (int i = 0; i < 50; ++i) {
          fs[t].push_back(
              pool.SubmitWithPriority(i % 3 - 1, [i] { return i; }));
        }
      });
    }
    std::thread shutter([&] { pool.Shutdown(/*wait=*/true); });
    for (auto& t : submitters) t.join();
    shutter.join();
    stop = true;
    toggler.join();
    pool.Shutdown(/*wait=*/true);
    for (auto& v : fs) {
      for (int i = 0; i < static_cast<int>(v.size()); ++i) {
        ASSERT_TRUE(v[i].done());
        absl::StatusOr<int> r = v[i].Result();
        if (r.ok()) {
          EXPECT_EQ(*r, i);
        } else {
          EXPECT_TRUE(IsShutDown(r.status())) << r.status();
        }
      }
    }
  }
}

TEST(ThreadPoolWaitAllTest, WaitsForEverySubmittedTaskAndKeepsThePoolOpen) {
  ThreadPoolExecutor pool({.max_workers = 2});
  EXPECT_TRUE(pool.WaitAllFor(absl::ZeroDuration()).ok());  // Nothing yet.
  Gate gate;
  std::vector<Future<int>> fs;
  for (int i = 0; i < 8; ++i) {
    fs.push_back(pool.SubmitWithPriority(i % 4 - 2, [&gate, i] {
      gate.Pass();
      return i;
    }));
  }
  // The timeout is the point: nothing can finish before the gate opens.
  EXPECT_TRUE(IsTimeout(pool.WaitAllFor(kBlockedFor)));
  EXPECT_TRUE(IsTimeout(pool.WaitAllUntil(absl::InfinitePast())));
  gate.open.Notify();
  ASSERT_TRUE(pool.WaitAllFor(kBound).ok());
  for (auto& f : fs) EXPECT_TRUE(f.done());
  EXPECT_EQ(pool.tasks_total(), 0u);
  // Still open.
  EXPECT_EQ(*pool.Submit([] { return 9; }).ResultFor(kBound), 9);
  EXPECT_TRUE(pool.WaitAll().ok());
}

TEST(ThreadPoolWaitAllTest, FromOwnWorkerIsAnErrorNotADeadlock) {
  ThreadPoolExecutor pool({.max_workers = 2});
  Future<absl::Status> in_task =
      pool.Submit([&pool] { return pool.WaitAll(); });
  absl::StatusOr<absl::Status> s = in_task.ResultFor(kBound);
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(*s)) << *s;
  EXPECT_THAT(s->message(), HasSubstr("deadlock"));

  // From a done callback that runs on the worker.
  Gate gate;
  absl::Notification called;
  absl::Status in_callback;
  Future<void> f = pool.Submit([&gate] { gate.Pass(); });
  f.AddDoneCallback([&] {
    in_callback = pool.WaitAllFor(kBound);
    called.Notify();
  });
  gate.open.Notify();
  ASSERT_TRUE(called.WaitForNotificationWithTimeout(kBound));
  EXPECT_TRUE(absl::IsFailedPrecondition(in_callback)) << in_callback;

  // Another pool's worker may wait for this one.
  ThreadPoolExecutor other({.max_workers = 1});
  Future<absl::Status> cross = other.Submit([&pool] { return pool.WaitAll(); });
  EXPECT_TRUE(cross.ResultFor(kBound)->ok());
}

TEST(ThreadPoolWaitAllTest, CancelledTasksCountAsFinished) {
  ThreadPoolExecutor pool({.max_workers = 1});
  Gate gate;
  Future<void> blocker = StartBlocker(pool, gate);
  Future<int> cancelled = pool.Submit([] { return 1; });
  ASSERT_TRUE(cancelled.Cancel());
  std::vector<Future<int>> queued;
  for (int i = 0; i < 4; ++i) queued.push_back(pool.Submit([] { return 2; }));
  absl::Status waited;
  absl::Notification wait_returned;
  std::thread waiter([&] {
    waited = pool.WaitAllFor(kBound);
    wait_returned.Notify();
  });
  // Cancels the queued ones while WaitAll waits for them (or before).
  pool.Shutdown(/*wait=*/false, /*cancel_futures=*/true);
  gate.open.Notify();
  ASSERT_TRUE(wait_returned.WaitForNotificationWithTimeout(kBound));
  waiter.join();
  EXPECT_TRUE(waited.ok()) << waited;
  EXPECT_TRUE(blocker.done());
  EXPECT_TRUE(cancelled.cancelled());
  for (auto& f : queued) EXPECT_TRUE(f.cancelled());
}

// WaitAll waits only for what was submitted before it: a submitter that
// never stops does not keep it waiting (and TSan checks the generations).
TEST(ThreadPoolWaitAllTest, ReturnsWhileOthersKeepSubmitting) {
  ThreadPoolExecutor pool({.max_workers = 2});
  std::atomic<bool> stop{false};
  std::thread feeder([&] {
    while (!stop.load()) {
      // One at a time, so the feeder cannot outrun the workers.
      ASSERT_TRUE(pool.Submit([] {}).WaitFor(kBound));
    }
  });
  for (int round = 0; round < 30; ++round) {
    std::vector<Future<int>> mine;
    for (int i = 0; i < 4; ++i) {
      mine.push_back(pool.SubmitWithPriority(i - 2, [i] { return i; }));
    }
    ASSERT_TRUE(pool.WaitAllFor(kBound).ok());
    for (auto& f : mine) EXPECT_TRUE(f.done());
  }
  stop = true;
  feeder.join();
}

TEST(ThreadPoolWaitAllTest, ConcurrentWaitersAllReturn) {
  ThreadPoolExecutor pool({.max_workers = 2});
  Gate gate;
  for (int i = 0; i < 6; ++i) pool.Submit([&gate] { gate.Pass(); });
  std::vector<std::thread> waiters;
  std::atomic<int> ok{0};
  for (int i = 0; i < 3; ++i) {
    waiters.emplace_back([&] {
      if (pool.WaitAllFor(kBound).ok()) ++ok;
    });
  }
  gate.open.Notify();
  for (auto& t : waiters) t.join();
  EXPECT_EQ(ok.load(), 3);
}

TEST(ThreadPoolMonitoringTest, QueuedRunningAndTotal) {
  ThreadPoolExecutor pool({.max_workers = 2});
  EXPECT_EQ(pool.tasks_total(), 0u);
  Gate gate;
  absl::BlockingCounter started(2);
  for (int i = 0; i < 2; ++i) {
    pool.Submit([&] {
      started.DecrementCount();
      gate.Pass();
    });
  }
  started.Wait();
  for (int i = 0; i < 3; ++i) pool.Submit([&gate] { gate.Pass(); });
  EXPECT_EQ(pool.tasks_running(), 2u);
  EXPECT_EQ(pool.tasks_queued(), 3u);
  EXPECT_EQ(pool.tasks_total(), 5u);
  gate.open.Notify();
  ASSERT_TRUE(pool.WaitAllFor(kBound).ok());
  EXPECT_EQ(pool.tasks_running(), 0u);
  EXPECT_EQ(pool.tasks_queued(), 0u);
  EXPECT_EQ(pool.tasks_total(), 0u);
}

std::string CurrentThreadName() {
  char name[32] = {};
  pthread_getname_np(pthread_self(), name, sizeof(name));
  return name;
}

TEST(ThreadPoolMonitoringTest, CurrentPoolAndWorkerIndex) {
  EXPECT_EQ(ThreadPoolExecutor::Current(), nullptr);
  EXPECT_EQ(ThreadPoolExecutor::CurrentWorkerIndex(), std::nullopt);
  ThreadPoolExecutor pool({.max_workers = 3, .thread_name_prefix = "mon"});
  Gate gate;
  absl::BlockingCounter started(3);
  struct Seen {
    ThreadPoolExecutor* pool;
    std::optional<int> index;
    std::string name;
  };
  std::vector<Future<Seen>> fs;
  for (int i = 0; i < 3; ++i) {
    fs.push_back(pool.Submit([&] {
      started.DecrementCount();
      gate.Pass();  // All three run at once, on three workers.
      return Seen{ThreadPoolExecutor::Current(),
                  ThreadPoolExecutor::CurrentWorkerIndex(),
                  CurrentThreadName()};
    }));
  }
  started.Wait();
  gate.open.Notify();
  std::set<int> indices;
  for (auto& f : fs) {
    absl::StatusOr<Seen> seen = f.ResultFor(kBound);
    ASSERT_TRUE(seen.ok());
    EXPECT_EQ(seen->pool, &pool);
    ASSERT_TRUE(seen->index.has_value());
    EXPECT_THAT(seen->name, EndsWith("_" + std::to_string(*seen->index)));
    indices.insert(*seen->index);
  }
  EXPECT_EQ(indices, (std::set<int>{0, 1, 2}));
  // Another pool's worker sees its own pool.
  ThreadPoolExecutor other({.max_workers = 1});
  EXPECT_EQ(*other.Submit([] { return ThreadPoolExecutor::Current(); })
                 .ResultFor(kBound),
            &other);
}

}  // namespace
}  // namespace spindle
