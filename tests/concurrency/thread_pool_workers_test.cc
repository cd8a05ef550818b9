// Copyright 2026 The spindle Authors.
//
// ThreadPoolExecutor's workers: the cleanup hook, CPU affinity and nice
// value (Linux), and resizing a live pool with SetMaxWorkers.

#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/blocking_counter.h"
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

using ::testing::HasSubstr;

using test_util::kBound;

// A gate tasks block on until the test opens it (bounded).
struct Gate {
  absl::Notification open;
  void Pass() const { open.WaitForNotificationWithTimeout(kBound); }
};

// Starts `n` tasks that block on `gate` and waits until all are running.
std::vector<Future<void>> OccupyWorkers(ThreadPoolExecutor& pool, int n,
                                        const Gate& gate) {
  absl::BlockingCounter started(n);
  std::vector<Future<void>> fs;
  for (int i = 0; i < n; ++i) {
    fs.push_back(pool.Submit([&started, &gate] {
      started.DecrementCount();
      gate.Pass();
    }));
  }
  started.Wait();
  return fs;
}

TEST(ThreadPoolCleanupTest, EachStartedWorkerRunsCleanupAsItExits) {
  std::atomic<int> inits{0}, cleanups{0}, cleanups_on_worker{0};
  ThreadPoolExecutor pool(
      {.max_workers = 3,
       .initializer =
           [&] {
             ++inits;
             return absl::OkStatus();
           },
       .cleanup =
           [&] {
             ++cleanups;
             if (ThreadPoolExecutor::CurrentWorkerIndex().has_value()) {
               ++cleanups_on_worker;
             }
             return absl::OkStatus();
           }});
  Gate gate;
  auto fs = OccupyWorkers(pool, 3, gate);
  EXPECT_EQ(cleanups.load(), 0);
  gate.open.Notify();
  pool.Shutdown(/*wait=*/true);  // Returns after the workers' cleanup.
  EXPECT_EQ(inits.load(), 3);
  EXPECT_EQ(cleanups.load(), 3);
  EXPECT_EQ(cleanups_on_worker.load(), 3);
}

TEST(ThreadPoolCleanupTest, FailingCleanupIsLoggedNotFatal) {
  for (bool throws : {false, true}) {
    testing::internal::CaptureStderr();
    {
      ThreadPoolExecutor pool(
          {.max_workers = 1, .cleanup = [throws]() -> absl::Status {
             if (throws) throw std::runtime_error("cleanup boom");
             return absl::InternalError("cleanup failed");
           }});
      EXPECT_EQ(*pool.Submit([] { return 1; }).ResultFor(kBound), 1);
    }
    std::string err = testing::internal::GetCapturedStderr();
    EXPECT_THAT(err, HasSubstr("cleanup"));
    EXPECT_THAT(err, HasSubstr(throws ? "cleanup boom" : "cleanup failed"));
  }
}

TEST(ThreadPoolCleanupTest, NotRunAfterAFailedInitializer) {
  std::atomic<int> cleanups{0};
  testing::internal::CaptureStderr();
  {
    ThreadPoolExecutor pool(
        {.max_workers = 2,
         .initializer = [] { return absl::InternalError("init failed"); },
         .cleanup =
             [&] {
               ++cleanups;
               return absl::OkStatus();
             }});
    EXPECT_TRUE(IsBroken(pool.Submit([] { return 1; }).Result().status()));
  }
  testing::internal::GetCapturedStderr();
  EXPECT_EQ(cleanups.load(), 0);
}

#ifdef __linux__
cpu_set_t AllowedCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  EXPECT_EQ(sched_getaffinity(0, sizeof(set), &set), 0);
  return set;
}

TEST(ThreadPoolOsTest, CpuAffinityIsAppliedToEveryWorker) {
  cpu_set_t allowed = AllowedCpus();
  int cpu = 0;
  while (!CPU_ISSET(cpu, &allowed)) ++cpu;
  auto pool =
      ThreadPoolExecutor::Create({.max_workers = 2, .cpu_affinity = {cpu}});
  ASSERT_TRUE(pool.ok()) << pool.status();
  Gate gate;
  absl::BlockingCounter started(2);
  std::vector<Future<std::vector<int>>> fs;
  for (int i = 0; i < 2; ++i) {
    fs.push_back((*pool)->Submit([&] {
      started.DecrementCount();
      gate.Pass();
      cpu_set_t set;
      CPU_ZERO(&set);
      pthread_getaffinity_np(pthread_self(), sizeof(set), &set);
      std::vector<int> cpus;
      for (int c = 0; c < CPU_SETSIZE; ++c) {
        if (CPU_ISSET(c, &set)) cpus.push_back(c);
      }
      return cpus;
    }));
  }
  started.Wait();  // Two tasks at once: two workers.
  gate.open.Notify();
  for (auto& f : fs) EXPECT_EQ(*f.ResultFor(kBound), std::vector<int>{cpu});
  // The thread that made the pool keeps its own affinity.
  cpu_set_t mine = AllowedCpus();
  EXPECT_TRUE(CPU_EQUAL(&mine, &allowed));
}

TEST(ThreadPoolOsTest, CreateRefusesCpusTheProcessCannotUse) {
  cpu_set_t allowed = AllowedCpus();
  int not_allowed = CPU_SETSIZE - 1;
  while (not_allowed >= 0 && CPU_ISSET(not_allowed, &allowed)) --not_allowed;
  for (int cpu : {-1, CPU_SETSIZE, not_allowed}) {
    auto pool = ThreadPoolExecutor::Create({.cpu_affinity = {cpu}});
    ASSERT_FALSE(pool.ok()) << cpu;
    EXPECT_TRUE(absl::IsInvalidArgument(pool.status())) << pool.status();
    EXPECT_THAT(pool.status().message(), HasSubstr("cpu_affinity"));
  }
}

// The constructor does not probe: a worker that the OS refuses breaks the
// pool, as a failing initializer does.
TEST(ThreadPoolOsTest, WorkerRefusedByTheOsBreaksThePool) {
  cpu_set_t allowed = AllowedCpus();
  int not_allowed = CPU_SETSIZE - 1;
  while (not_allowed >= 0 && CPU_ISSET(not_allowed, &allowed)) --not_allowed;
  testing::internal::CaptureStderr();
  ThreadPoolExecutor pool({.max_workers = 1, .cpu_affinity = {not_allowed}});
  absl::StatusOr<int> r = pool.Submit([] { return 1; }).ResultFor(kBound);
  EXPECT_TRUE(IsBroken(r.status())) << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr("OS controls"));
  pool.Shutdown();
  EXPECT_THAT(testing::internal::GetCapturedStderr(),
              HasSubstr("pthread_setaffinity_np"));
}

int ThreadNice() {
  errno = 0;
  return getpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)));
}

TEST(ThreadPoolOsTest, NiceIsAppliedToWorkers) {
  auto pool = ThreadPoolExecutor::Create({.max_workers = 1, .nice = 19});
  ASSERT_TRUE(pool.ok()) << pool.status();
  EXPECT_EQ(*(*pool)->Submit(ThreadNice).ResultFor(kBound), 19);
  EXPECT_NE(ThreadNice(), 19);  // Not the creating thread's.
}

TEST(ThreadPoolOsTest, NiceRefusals) {
  for (int nice : {-21, 20}) {
    auto pool = ThreadPoolExecutor::Create({.nice = nice});
    EXPECT_TRUE(absl::IsInvalidArgument(pool.status())) << pool.status();
  }
  // Raising the priority needs privilege; learn whether we have it on a
  // throwaway thread.
  bool privileged = false;
  std::thread probe([&] {
    privileged = setpriority(PRIO_PROCESS,
                             static_cast<id_t>(syscall(SYS_gettid)), -20) == 0;
  });
  probe.join();
  if (privileged) GTEST_SKIP() << "may raise priorities here (root?)";
  auto pool = ThreadPoolExecutor::Create({.nice = -20});
  EXPECT_TRUE(absl::IsPermissionDenied(pool.status())) << pool.status();
  EXPECT_THAT(pool.status().message(), HasSubstr("setpriority"));
}

int ThreadPolicy() { return sched_getscheduler(0); }

TEST(ThreadPoolOsTest, BatchSchedulingIsAppliedToWorkersAndKeepsNice) {
  const int mine = ThreadPolicy();
  if (mine == SCHED_BATCH) GTEST_SKIP() << "the test runs under SCHED_BATCH";
  auto pool = ThreadPoolExecutor::Create(
      {.max_workers = 2, .nice = 5, .batch_scheduling = true});
  ASSERT_TRUE(pool.ok()) << pool.status();
  EXPECT_EQ(*(*pool)->Submit(ThreadPolicy).ResultFor(kBound), SCHED_BATCH);
  EXPECT_EQ(*(*pool)->Submit(ThreadNice).ResultFor(kBound), 5);
  // Not the creating thread's, nor a default pool's.
  EXPECT_EQ(ThreadPolicy(), mine);
  ThreadPoolExecutor plain({.max_workers = 1});
  EXPECT_EQ(*plain.Submit(ThreadPolicy).ResultFor(kBound), mine);
}
#endif  // __linux__

TEST(ThreadPoolResizeTest, GrowingStartsWorkersForQueuedTasksAtOnce) {
  ThreadPoolExecutor pool({.max_workers = 1});
  Gate gate;
  absl::BlockingCounter started(4);
  std::vector<Future<void>> fs;
  for (int i = 0; i < 4; ++i) {
    fs.push_back(pool.Submit([&] {
      started.DecrementCount();
      gate.Pass();
    }));
  }
  EXPECT_EQ(pool.num_threads(), 1);
  ASSERT_TRUE(pool.SetMaxWorkers(4).ok());
  EXPECT_EQ(pool.max_workers(), 4);
  started.Wait();  // All four run at once: the pool grew.
  EXPECT_EQ(pool.num_threads(), 4);
  gate.open.Notify();
  ASSERT_TRUE(pool.WaitAllFor(kBound).ok());
}

// Surplus workers finish their running task and then leave (running
// cleanup); the pool then runs at most the new number of tasks at once.
TEST(ThreadPoolResizeTest, ShrinkingRetiresWorkersAsTheyBecomeIdle) {
  std::atomic<int> cleanups{0};
  ThreadPoolExecutor pool({.max_workers = 4, .cleanup = [&] {
                             ++cleanups;
                             return absl::OkStatus();
                           }});
  Gate gate;
  auto running = OccupyWorkers(pool, 4, gate);
  ASSERT_TRUE(pool.SetMaxWorkers(1).ok());
  EXPECT_EQ(pool.max_workers(), 1);
  for (auto& f : running) EXPECT_FALSE(f.done());  // Never interrupted.
  gate.open.Notify();
  ASSERT_TRUE(pool.WaitAllFor(kBound).ok());
  for (auto& f : running) EXPECT_TRUE(f.Result().ok());

  std::atomic<int> now{0}, most{0};
  std::vector<Future<std::optional<int>>> fs;
  for (int i = 0; i < 8; ++i) {
    fs.push_back(pool.Submit([&] {
      int n = ++now;
      int m = most.load();
      while (n > m && !most.compare_exchange_weak(m, n)) {
      }
      --now;
      return ThreadPoolExecutor::CurrentWorkerIndex();
    }));
  }
  ASSERT_TRUE(pool.WaitAllFor(kBound).ok());
  EXPECT_EQ(most.load(), 1);
  std::set<int> indices;  // Of the one worker left (the last to finish).
  for (auto& f : fs) indices.insert(**f.Result());
  EXPECT_EQ(indices.size(), 1u);
  ASSERT_TRUE(pool.SetMaxWorkers(1).ok());  // Joins the retired threads.
  EXPECT_EQ(pool.num_threads(), 1);
  EXPECT_EQ(cleanups.load(), 3);
  pool.Shutdown();
  EXPECT_EQ(cleanups.load(), 4);
}

TEST(ThreadPoolResizeTest, RetiredIndicesAreReused) {
  ThreadPoolExecutor pool({.max_workers = 3});
  Gate gate1;
  auto first = OccupyWorkers(pool, 3, gate1);
  ASSERT_TRUE(pool.SetMaxWorkers(1).ok());
  gate1.open.Notify();
  ASSERT_TRUE(pool.WaitAllFor(kBound).ok());
  ASSERT_TRUE(pool.SetMaxWorkers(3).ok());
  Gate gate2;
  absl::BlockingCounter started(3);
  std::vector<Future<std::optional<int>>> fs;
  for (int i = 0; i < 3; ++i) {
    fs.push_back(pool.Submit([&] {
      started.DecrementCount();
      gate2.Pass();
      return ThreadPoolExecutor::CurrentWorkerIndex();
    }));
  }
  started.Wait();
  gate2.open.Notify();
  std::set<int> indices;
  for (auto& f : fs) indices.insert(**f.ResultFor(kBound));
  EXPECT_EQ(indices, (std::set<int>{0, 1, 2}));
}

TEST(ThreadPoolResizeTest, Errors) {
  ThreadPoolExecutor pool({.max_workers = 2});
  EXPECT_TRUE(absl::IsInvalidArgument(pool.SetMaxWorkers(0)));
  EXPECT_TRUE(absl::IsInvalidArgument(pool.SetMaxWorkers(-1)));
  EXPECT_EQ(pool.max_workers(), 2);
  pool.Shutdown();
  EXPECT_TRUE(IsShutDown(pool.SetMaxWorkers(3)));
  EXPECT_EQ(pool.max_workers(), 2);
}

// Resizing while others submit and the pool shuts down: every accepted task
// runs once, nothing hangs (TSan checks the worker bookkeeping).
TEST(ThreadPoolResizeTest, ResizeRacesWithSubmitAndShutdown) {
  for (int round = 0; round < 10; ++round) {
    ThreadPoolExecutor pool({.max_workers = 2});
    std::atomic<bool> stop{false};
    std::thread resizer([&] {
      for (int n = 1; !stop.load(); n = n % 4 + 1) {
        absl::Status s = pool.SetMaxWorkers(n);
        if (!s.ok()) {
          EXPECT_TRUE(IsShutDown(s)) << s;
          return;
        }
      }
    });
    std::atomic<int> ran{0};
    std::vector<Future<void>> fs;
    for (int i = 0; i < 200; ++i) fs.push_back(pool.Submit([&ran] { ++ran; }));
    ASSERT_TRUE(pool.WaitAllFor(kBound).ok());
    EXPECT_EQ(ran.load(), 200);
    pool.Shutdown();
    stop = true;
    resizer.join();
    for (auto& f : fs) EXPECT_TRUE(f.done());
  }
}

}  // namespace
}  // namespace spindle
