// Copyright 2026 The spindle Authors.
//
// ThreadPoolExecutor's task priorities: order, FIFO within a level, range
// errors, starvation, and Shutdown across levels.

#include <atomic>
#include <functional>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
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

using ::testing::ElementsAre;

using test_util::kBound;

// The order in which tasks ran, recorded by the tasks.
class RunOrder {
 public:
  void Add(int id) {
    absl::MutexLock lock(&mu_);
    order_.push_back(id);
  }
  std::vector<int> Get() {
    absl::MutexLock lock(&mu_);
    return order_;
  }

 private:
  absl::Mutex mu_;
  std::vector<int> order_ ABSL_GUARDED_BY(mu_);
};

TEST(ThreadPoolPriorityTest, HigherRunsFirstFifoWithinALevel) {
  ThreadPoolExecutor pool({.max_workers = 1});
  pool.Pause();  // Everything is queued before the single worker starts.
  RunOrder order;
  std::vector<Future<void>> fs;
  const int priorities[] = {0, 3, -2, 3, 7, -8, 0, 7};
  for (int id = 0; id < 8; ++id) {
    fs.push_back(pool.SubmitWithPriority(priorities[id],
                                         [&order, id] { order.Add(id); }));
  }
  // Execute takes priorities too (id 8 at 3 goes after ids 1 and 3).
  ASSERT_TRUE(pool.ExecuteWithPriority(3, [&order] { order.Add(8); }).ok());
  pool.Resume();
  ASSERT_TRUE(pool.WaitAllFor(kBound).ok());
  for (auto& f : fs) EXPECT_TRUE(f.done());
  EXPECT_THAT(order.Get(), ElementsAre(4, 7, 1, 3, 8, 0, 6, 2, 5));
}

TEST(ThreadPoolPriorityTest, DefaultPriorityIsZero) {
  ThreadPoolExecutor pool({.max_workers = 1});
  pool.Pause();
  RunOrder order;
  pool.SubmitWithPriority(-1, [&order] { order.Add(0); });
  pool.Submit([&order] { order.Add(1); });
  ASSERT_TRUE(pool.Execute([&order] { order.Add(2); }).ok());
  pool.SubmitWithPriority(1, [&order] { order.Add(3); });
  pool.SubmitWithPriority(ThreadPoolExecutor::kDefaultPriority,
                          [&order] { order.Add(4); });
  pool.Resume();
  ASSERT_TRUE(pool.WaitAllFor(kBound).ok());
  EXPECT_THAT(order.Get(), ElementsAre(3, 1, 2, 4, 0));
}

TEST(ThreadPoolPriorityTest, OutOfRangeIsInvalidArgument) {
  ThreadPoolExecutor pool({.max_workers = 1});
  for (int p : {ThreadPoolExecutor::kMinPriority - 1,
                ThreadPoolExecutor::kMaxPriority + 1}) {
    bool ran = false;
    Future<int> f = pool.SubmitWithPriority(p, [&ran] {
      ran = true;
      return 1;
    });
    ASSERT_TRUE(f.done());
    EXPECT_TRUE(absl::IsInvalidArgument(f.Result().status()))
        << f.Result().status();
    EXPECT_TRUE(absl::IsInvalidArgument(
        pool.ExecuteWithPriority(p, [&ran] { ran = true; })));
    ASSERT_TRUE(pool.WaitAllFor(kBound).ok());
    EXPECT_FALSE(ran);
  }
  // The limits themselves are fine.
  EXPECT_EQ(*pool.SubmitWithPriority(ThreadPoolExecutor::kMinPriority,
                                     [] { return 1; })
                 .ResultFor(kBound),
            1);
  EXPECT_EQ(*pool.SubmitWithPriority(ThreadPoolExecutor::kMaxPriority,
                                     [] { return 2; })
                 .ResultFor(kBound),
            2);
}

// A running task is not pre-empted, and a steady stream of higher-priority
// tasks starves a lower one: it runs only once the stream stops (documented
// in thread_pool.h).
TEST(ThreadPoolPriorityTest, SteadyHighPriorityStreamStarvesLowerTasks) {
  ThreadPoolExecutor pool({.max_workers = 1});
  absl::Notification started, gate;
  Future<void> blocker = pool.Submit([&] {
    started.Notify();
    gate.WaitForNotificationWithTimeout(kBound);
  });
  ASSERT_TRUE(started.WaitForNotificationWithTimeout(kBound));

  constexpr int kStream = 100;
  std::atomic<int> high_runs{0};
  // Each high task queues the next one before it returns, so whenever the
  // worker picks a task there is a high one waiting.
  std::function<void()> high = [&] {
    if (++high_runs < kStream) {
      ASSERT_TRUE(pool.ExecuteWithPriority(1, high).ok());
    }
  };
  Future<int> low = pool.Submit([&] { return high_runs.load(); });
  ASSERT_TRUE(pool.ExecuteWithPriority(1, high).ok());
  // Queued behind the running blocker, a higher task cannot overtake it.
  EXPECT_FALSE(blocker.done());
  gate.Notify();
  absl::StatusOr<int> seen = low.ResultFor(kBound);
  ASSERT_TRUE(seen.ok()) << seen.status();
  EXPECT_EQ(*seen, kStream);  // It ran only after the whole stream.
}

TEST(ThreadPoolPriorityTest, ShutdownCancelFuturesCancelsEveryLevel) {
  ThreadPoolExecutor pool({.max_workers = 1});
  pool.Pause();
  std::vector<Future<int>> fs;
  for (int p = ThreadPoolExecutor::kMinPriority;
       p <= ThreadPoolExecutor::kMaxPriority; ++p) {
    fs.push_back(pool.SubmitWithPriority(p, [p] { return p; }));
  }
  EXPECT_EQ(pool.tasks_queued(), fs.size());
  pool.Shutdown(/*wait=*/true, /*cancel_futures=*/true);
  for (auto& f : fs) EXPECT_TRUE(f.cancelled());
  EXPECT_EQ(pool.tasks_total(), 0u);
}

TEST(ThreadPoolPriorityTest, ShutdownRunsQueuedTasksOfEveryLevel) {
  RunOrder order;
  std::vector<Future<void>> fs;
  {
    ThreadPoolExecutor pool({.max_workers = 1});
    pool.Pause();
    for (int p : {-3, 5, 0, 2}) {
      fs.push_back(pool.SubmitWithPriority(p, [&order, p] { order.Add(p); }));
    }
  }  // The destructor shuts down: a pause ends, queued tasks run in order.
  for (auto& f : fs) EXPECT_TRUE(f.done());
  EXPECT_THAT(order.Get(), ElementsAre(5, 2, 0, -3));
}

// Many submitters at mixed priorities on several workers: every task runs
// once (TSan checks the levels' bookkeeping).
TEST(ThreadPoolPriorityTest, ConcurrentMixedPrioritySubmitters) {
  ThreadPoolExecutor pool({.max_workers = 3});
  std::atomic<int> ran{0};
  constexpr int kPerThread = 300;
  std::vector<std::thread> submitters;
  for (int t = 0; t < 3; ++t) {
    submitters.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const int p = (i + t) % 5 - 2;
        if (i % 2 == 0) {
          pool.SubmitWithPriority(p, [&ran] { ++ran; });
        } else {
          ASSERT_TRUE(pool.ExecuteWithPriority(p, [&ran] { ++ran; }).ok());
        }
      }
    });
  }
  for (auto& t : submitters) t.join();
  ASSERT_TRUE(pool.WaitAllFor(kBound).ok());
  EXPECT_EQ(ran.load(), 3 * kPerThread);
}

}  // namespace
}  // namespace spindle
