// Copyright 2026 The spindle Authors.
//
// ThreadPoolExecutor: checklist sections M (map) and N (ThreadPoolExecutor)
// from CPython's executor.py, test_thread_pool.py, test_shutdown.py and
// test_init.py.

#include "spindle/concurrency/thread_pool.h"

#include <pthread.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "spindle/concurrency/future.h"
#include "spindle/concurrency/status.h"

namespace spindle {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// Every blocking wait in these tests is bounded by this.
constexpr absl::Duration kBound = absl::Seconds(30);

// A gate tasks block on until the test opens it (bounded).
struct Gate {
  absl::Notification open;
  void Pass() const { open.WaitForNotificationWithTimeout(kBound); }
};

std::string CurrentThreadName() {
  char name[32] = {};
  pthread_getname_np(pthread_self(), name, sizeof(name));
  return name;
}

// 217
TEST(ThreadPoolExecutorTest, SubmitReturnsTheResult) {
  ThreadPoolExecutor pool;
  Future<int> f = pool.Submit(
      [](int b, int e) {
        int r = 1;
        for (int i = 0; i < e; ++i) r *= b;
        return r;
      },
      2, 8);
  EXPECT_EQ(*f.ResultFor(kBound), 256);
}

TEST(ThreadPoolExecutorTest, SubmitMovesMoveOnlyArguments) {
  ThreadPoolExecutor pool({.max_workers = 2});
  Future<int> f = pool.Submit([](std::unique_ptr<int> p) { return *p; },
                              std::make_unique<int>(7));
  EXPECT_EQ(*f.ResultFor(kBound), 7);
  Future<void> v = pool.Submit([] {});
  EXPECT_TRUE(v.ResultFor(kBound).ok());
}

// 219
TEST(ThreadPoolExecutorTest, NonPositiveMaxWorkersIsInvalid) {
  for (int n : {0, -1}) {
    auto pool = ThreadPoolExecutor::Create({.max_workers = n});
    EXPECT_TRUE(absl::IsInvalidArgument(pool.status()));
    EXPECT_THAT(std::string(pool.status().message()),
                HasSubstr("max_workers must be greater than 0"));
  }
  EXPECT_TRUE(ThreadPoolExecutor::Create({.max_workers = 1}).ok());
}

TEST(ThreadPoolExecutorDeathTest, ConstructorCrashesOnInvalidOptions) {
  EXPECT_DEATH(ThreadPoolExecutor({.max_workers = 0}), "max_workers");
}

// 220
TEST(ThreadPoolExecutorTest, DefaultWorkers) {
  int cores = static_cast<int>(std::thread::hardware_concurrency());
  EXPECT_EQ(ThreadPoolExecutor::DefaultMaxWorkers(),
            std::min(32, std::max(cores, 1) + 4));
  ThreadPoolExecutor pool;
  EXPECT_EQ(pool.max_workers(), ThreadPoolExecutor::DefaultMaxWorkers());
}

// Lazy start: a new pool has no threads.
TEST(ThreadPoolExecutorTest, WorkersStartLazily) {
  ThreadPoolExecutor pool({.max_workers = 4});
  EXPECT_EQ(pool.num_threads(), 0);
  EXPECT_TRUE(pool.Submit([] {}).ResultFor(kBound).ok());
  EXPECT_EQ(pool.num_threads(), 1);
}

// 221
TEST(ThreadPoolExecutorTest, SaturationStartsExactlyMaxWorkersThreads) {
  Gate gate;
  ThreadPoolExecutor pool({.max_workers = 4});
  std::vector<Future<void>> fs;
  for (int i = 0; i < 60; ++i) fs.push_back(pool.Submit([&] { gate.Pass(); }));
  EXPECT_EQ(pool.num_threads(), 4);
  gate.open.Notify();
  for (auto& f : fs) EXPECT_TRUE(f.ResultFor(kBound).ok());
  EXPECT_EQ(pool.num_threads(), 4);
}

// 222
TEST(ThreadPoolExecutorTest, IdleThreadIsReused) {
  ThreadPoolExecutor pool({.max_workers = 4});
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(pool.Submit([] {}).ResultFor(kBound).ok());
  }
  EXPECT_EQ(pool.num_threads(), 1);
}

// 223
TEST(ThreadPoolExecutorTest, SubmitAfterShutdownIsRejected) {
  ThreadPoolExecutor pool({.max_workers = 2});
  pool.Shutdown();
  Future<int> f = pool.Submit([] { return 1; });
  ASSERT_TRUE(f.done());
  absl::Status s = f.Result().status();
  EXPECT_TRUE(IsShutDown(s));
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("cannot schedule new futures after shutdown"));
  EXPECT_TRUE(IsShutDown(pool.Execute([] {})));
}

// 226
TEST(ThreadPoolExecutorTest, ShutdownWaitsForQueuedWork) {
  ThreadPoolExecutor pool({.max_workers = 5});
  std::vector<Future<int>> fs;
  for (int i = 0; i < 50; ++i) fs.push_back(pool.Submit([i] { return i; }));
  pool.Shutdown();
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(fs[i].done());
    EXPECT_EQ(*fs[i].Result(), i);
  }
}

// 227, made deterministic: one worker blocked, the queue behind it cancelled.
TEST(ThreadPoolExecutorTest, ShutdownCancelFuturesCancelsOnlyQueuedTasks) {
  Gate gate;
  absl::Notification started;
  std::atomic<int> ran{0};
  ThreadPoolExecutor pool({.max_workers = 1});
  Future<int> first = pool.Submit([&] {
    started.Notify();
    gate.Pass();
    return 1;
  });
  std::vector<Future<int>> rest;
  for (int i = 0; i < 49; ++i) {
    rest.push_back(pool.Submit([&] { return ++ran; }));
  }
  ASSERT_TRUE(started.WaitForNotificationWithTimeout(kBound));
  pool.Shutdown(/*wait=*/false, /*cancel_futures=*/true);
  for (auto& f : rest) EXPECT_TRUE(f.cancelled());
  gate.open.Notify();
  EXPECT_EQ(*first.ResultFor(kBound), 1);
  pool.Shutdown();
  EXPECT_EQ(ran.load(), 0);
}

// 228
TEST(ThreadPoolExecutorTest, ShutdownAfterCancelledSubmitDoesNotHang) {
  Gate gate;
  ThreadPoolExecutor pool({.max_workers = 1});
  Future<void> blocker = pool.Submit([&] { gate.Pass(); });
  Future<int> f = pool.Submit([] { return 1; });
  EXPECT_TRUE(f.Cancel());
  gate.open.Notify();
  pool.Shutdown();
  EXPECT_TRUE(f.cancelled());
  EXPECT_TRUE(blocker.done());
}

// 229
TEST(ThreadPoolExecutorTest, ThreadsTerminateAfterShutdown) {
  Gate gate;
  absl::BlockingCounter started(3);
  ThreadPoolExecutor pool({.max_workers = 5});
  std::vector<Future<void>> fs;
  for (int i = 0; i < 3; ++i) {
    fs.push_back(pool.Submit([&] {
      started.DecrementCount();
      gate.Pass();
    }));
  }
  started.Wait();
  EXPECT_EQ(pool.num_threads(), 3);
  gate.open.Notify();
  pool.Shutdown();  // Joins every worker.
  EXPECT_EQ(pool.num_threads(), 0);
  for (auto& f : fs) EXPECT_TRUE(f.done());
}

// 230, 231: the destructor shuts down, waits, and the work is done.
TEST(ThreadPoolExecutorTest, DestructorFinishesSubmittedWork) {
  std::vector<Future<int>> fs;
  {
    ThreadPoolExecutor pool({.max_workers = 2});
    for (int i = 0; i < 20; ++i) fs.push_back(pool.Submit([i] { return i; }));
    auto results =
        pool.Map([](int x) { return x * 2; }, std::vector<int>{1, 2});
    std::vector<int> got;
    for (auto& r : results) got.push_back(*r);
    EXPECT_THAT(got, ElementsAre(2, 4));
  }
  for (int i = 0; i < 20; ++i)
    EXPECT_EQ(*fs[i].ResultFor(absl::ZeroDuration()), i);
}

// 232, 225: Shutdown(wait=false) returns; work still completes; the
// destructor joins.
TEST(ThreadPoolExecutorTest, ShutdownNoWaitThenWorkCompletes) {
  Gate gate;
  ThreadPoolExecutor pool({.max_workers = 2});
  std::vector<Future<int>> fs;
  for (int i = 0; i < 6; ++i) {
    fs.push_back(pool.Submit([&gate, i] {
      gate.Pass();
      return i;
    }));
  }
  pool.Shutdown(/*wait=*/false);
  gate.open.Notify();
  for (int i = 0; i < 6; ++i) EXPECT_EQ(*fs[i].ResultFor(kBound), i);
  pool.Shutdown(/*wait=*/true);  // Joining now.
  EXPECT_EQ(pool.num_threads(), 0);
}

// 234
TEST(ThreadPoolExecutorTest, ShutdownNoWaitCancelRightAfterSubmit) {
  Future<int> f;
  {
    ThreadPoolExecutor pool({.max_workers = 1});
    f = pool.Submit([] { return 1; });
    pool.Shutdown(/*wait=*/false, /*cancel_futures=*/true);
  }
  ASSERT_TRUE(f.done());  // Either ran or was cancelled.
  if (!f.cancelled()) {
    EXPECT_EQ(*f.Result(), 1);
  }
}

// 233
TEST(ThreadPoolExecutorTest, ThreadNamesUseThePrefix) {
  for (std::string prefix : {std::string("SpecialPool"), std::string()}) {
    absl::BlockingCounter all_running(5);
    Gate gate;
    absl::Mutex mu;
    std::set<std::string> names;
    ThreadPoolExecutor pool({.max_workers = 5, .thread_name_prefix = prefix});
    std::vector<Future<void>> fs;
    for (int i = 0; i < 5; ++i) {
      fs.push_back(pool.Submit([&] {
        {
          absl::MutexLock l(&mu);
          names.insert(CurrentThreadName());
        }
        all_running.DecrementCount();
        gate.Pass();
      }));
    }
    all_running.Wait();
    gate.open.Notify();
    for (auto& f : fs) EXPECT_TRUE(f.ResultFor(kBound).ok());
    if (!prefix.empty()) {
      EXPECT_EQ(names, (std::set<std::string>{"SpecialPool_0", "SpecialPool_1",
                                              "SpecialPool_2", "SpecialPool_3",
                                              "SpecialPool_4"}));
    } else {
      ASSERT_EQ(names.size(), 5u);
      int i = 0;
      for (const std::string& n : names) {
        // "ThreadPoolExecutor-<n>_<i>" cut to Linux's 15 bytes, suffix kept.
        EXPECT_THAT(n, StartsWith("ThreadPoolExe"));
        EXPECT_EQ(n.substr(n.size() - 2), "_" + std::to_string(i++));
      }
    }
  }
}

// 235
TEST(ThreadPoolExecutorTest, InitializerRunsInEachWorkerBeforeTasks) {
  static thread_local bool initialized = false;
  std::atomic<int> inits{0};
  ThreadPoolExecutor pool({.max_workers = 3, .initializer = [&] {
                             initialized = true;
                             ++inits;
                             return absl::OkStatus();
                           }});
  std::vector<Future<bool>> fs;
  for (int i = 0; i < 30; ++i)
    fs.push_back(pool.Submit([] { return initialized; }));
  for (auto& f : fs) EXPECT_TRUE(*f.ResultFor(kBound));
  pool.Shutdown();
  EXPECT_GE(inits.load(), 1);
  EXPECT_LE(inits.load(), 3);
}

// 236: a failing initializer (status or exception) breaks the pool.
TEST(ThreadPoolExecutorTest, FailingInitializerBreaksThePool) {
  for (bool throws : {false, true}) {
    ThreadPoolExecutor pool(
        {.max_workers = 2, .initializer = [throws]() -> absl::Status {
           if (throws) throw std::runtime_error("init boom");
           return absl::InternalError("init failed");
         }});
    testing::internal::CaptureStderr();
    std::vector<Future<int>> fs;
    for (int i = 0; i < 10; ++i) fs.push_back(pool.Submit([] { return 1; }));
    for (auto& f : fs) {
      absl::StatusOr<int> r = f.ResultFor(kBound);
      EXPECT_TRUE(IsBroken(r.status())) << r.status();
    }
    pool.Shutdown();
    std::string err = testing::internal::GetCapturedStderr();
    EXPECT_THAT(err, HasSubstr("initializer"));
    Future<int> later = pool.Submit([] { return 1; });
    EXPECT_TRUE(IsBroken(later.Result().status()));
    EXPECT_TRUE(IsBroken(pool.Execute([] {})));
  }
}

// 237
TEST(ThreadPoolExecutorTest, ShutdownTwiceIsSafe) {
  ThreadPoolExecutor pool({.max_workers = 2});
  pool.Submit([] {});
  pool.Shutdown();
  pool.Shutdown();
  pool.Shutdown(false, true);
}

// A task may shut its own pool down (waiting for the other workers); the
// destructor joins the calling worker later.
TEST(ThreadPoolExecutorTest, ShutdownFromATaskDoesNotDeadlock) {
  Future<bool> f;
  Gate gate;
  {
    ThreadPoolExecutor pool({.max_workers = 2});
    Future<void> other = pool.Submit([&] { gate.Pass(); });
    f = pool.Submit([&] {
      gate.open.Notify();
      pool.Shutdown(/*wait=*/true);  // Waits for the other worker.
      return IsShutDown(pool.Execute([] {}));
    });
    EXPECT_TRUE(*f.ResultFor(kBound));
    EXPECT_TRUE(other.ResultFor(kBound).ok());
    // A worker joins nobody: both threads are left to the destructor.
    EXPECT_EQ(pool.num_threads(), 2);
  }
  EXPECT_TRUE(f.done());
}

// A task that throws fails only its own future.
TEST(ThreadPoolExecutorTest, ThrowingTaskFailsOnlyItsFuture) {
  ThreadPoolExecutor pool({.max_workers = 1});
  Future<int> bad =
      pool.Submit([]() -> int { throw std::runtime_error("bad"); });
  Future<int> good = pool.Submit([] { return 2; });
  EXPECT_THROW(bad.ResultFor(kBound).IgnoreError(), std::runtime_error);
  EXPECT_EQ(*good.ResultFor(kBound), 2);
  EXPECT_EQ(pool.num_threads(), 1);
}

TEST(ThreadPoolExecutorTest, ExecuteRunsAndSurvivesThrowingTasks) {
  absl::Notification done;
  ThreadPoolExecutor pool({.max_workers = 1});
  testing::internal::CaptureStderr();
  ASSERT_TRUE(pool.Execute([] { throw std::runtime_error("exec boom"); }).ok());
  ASSERT_TRUE(pool.Execute([&] { done.Notify(); }).ok());
  EXPECT_TRUE(done.WaitForNotificationWithTimeout(kBound));
  pool.Shutdown();
  EXPECT_THAT(testing::internal::GetCapturedStderr(), HasSubstr("exec boom"));
}

// Execute recycles the blocks of small finished tasks: many tasks, in FIFO
// order on one worker, from one thread to several pools (one destroyed while
// this thread still caches its blocks), plus callables too big to recycle.
TEST(ThreadPoolExecutorTest, ExecuteManyTasksAcrossPools) {
  constexpr int kTasks = 20000;
  std::vector<int> order;
  order.reserve(kTasks);
  {
    ThreadPoolExecutor pool({.max_workers = 1});
    for (int i = 0; i < kTasks; ++i) {
      ASSERT_TRUE(pool.Execute([&order, i] { order.push_back(i); }).ok());
    }
    pool.Shutdown();
  }
  ASSERT_EQ(order.size(), static_cast<size_t>(kTasks));
  for (int i = 0; i < kTasks; ++i) ASSERT_EQ(order[i], i);

  auto pool_a = std::make_unique<ThreadPoolExecutor>(
      ThreadPoolExecutor::Options{.max_workers = 2});
  ThreadPoolExecutor pool_b({.max_workers = 2});
  std::atomic<int> ran{0};
  for (int round = 0; round < 4; ++round) {
    ThreadPoolExecutor& pool = round % 2 == 0 ? *pool_a : pool_b;
    for (int i = 0; i < 2000; ++i) {
      ASSERT_TRUE(pool.Execute([&ran] { ran.fetch_add(1); }).ok());
      std::array<int64_t, 16> big{};
      big[0] = 1;
      ASSERT_TRUE(pool.Execute([&ran, big] { ran.fetch_add(big[0]); }).ok());
    }
    if (round == 2) pool_a.reset();  // Its blocks may still be cached here.
  }
  pool_b.Shutdown();
  EXPECT_EQ(ran.load(), 4 * 2 * 2000);
}

// Cancel before run (the task never runs) and cancel while running (fails).
TEST(ThreadPoolExecutorTest, CancelBeforeRunAndWhileRunning) {
  Gate gate;
  absl::Notification started;
  ThreadPoolExecutor pool({.max_workers = 1});
  Future<void> running = pool.Submit([&] {
    started.Notify();
    gate.Pass();
  });
  bool ran = false;
  Future<void> queued = pool.Submit([&] { ran = true; });
  ASSERT_TRUE(started.WaitForNotificationWithTimeout(kBound));
  EXPECT_FALSE(running.Cancel());
  EXPECT_TRUE(running.running());
  EXPECT_TRUE(queued.Cancel());
  gate.open.Notify();
  pool.Shutdown();
  EXPECT_FALSE(ran);
  EXPECT_TRUE(running.Result().ok());
  EXPECT_TRUE(spindle::IsCancelled(queued.Result()));
}

// Callbacks added before and after completion of a pool task.
TEST(ThreadPoolExecutorTest, DoneCallbacksBeforeAndAfterCompletion) {
  Gate gate;
  absl::Notification before;
  ThreadPoolExecutor pool({.max_workers = 1});
  Future<int> f = pool.Submit([&] {
    gate.Pass();
    return 3;
  });
  std::thread::id before_thread;
  f.AddDoneCallback([&](const Future<int>& g) {
    EXPECT_EQ(*g.Result(), 3);
    before_thread = std::this_thread::get_id();
    before.Notify();
  });
  gate.open.Notify();
  ASSERT_TRUE(before.WaitForNotificationWithTimeout(kBound));
  EXPECT_NE(before_thread, std::this_thread::get_id());  // A worker ran it.
  std::thread::id after_thread;
  f.AddDoneCallback([&] { after_thread = std::this_thread::get_id(); });
  EXPECT_EQ(after_thread, std::this_thread::get_id());
}

TEST(ThreadPoolExecutorTest, ThenOnPoolFutures) {
  ThreadPoolExecutor pool({.max_workers = 2});
  Future<std::string> f =
      pool.Submit([] { return 20; })
          .Then([](int v) { return v + 1; })
          .Then([](int v) { return std::to_string(v * 2); });
  EXPECT_EQ(*f.ResultFor(kBound), "42");
}

// 206
TEST(MapTest, ResultsComeInInputOrder) {
  ThreadPoolExecutor pool({.max_workers = 3});
  std::vector<int> in;
  for (int i = 0; i < 20; ++i) in.push_back(i);
  std::vector<int> out;
  for (absl::StatusOr<int>& r : pool.Map([](int x) { return x * x; }, in)) {
    ASSERT_TRUE(r.ok());
    out.push_back(*r);
  }
  ASSERT_EQ(out.size(), 20u);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(out[i], i * i);
}

// 207 (3.13 semantics): earlier results, then the exception, then the end.
TEST(MapTest, ExceptionIsRaisedAtItsPositionAndEndsIteration) {
  ThreadPoolExecutor pool({.max_workers = 1});
  auto results = pool.Map(
      [](int x) {
        if (x == 0) throw std::domain_error("division by zero");
        return 10 / x;
      },
      std::vector<int>{5, 2, 0, 1});
  auto a = results.Next();
  auto b = results.Next();
  ASSERT_TRUE(a && b);
  EXPECT_EQ(**a, 2);
  EXPECT_EQ(**b, 5);
  EXPECT_THROW(results.Next(), std::domain_error);
  EXPECT_FALSE(results.Next().has_value());
}

// 208: the timeout is the point; a gate stands in for sleep(6).
TEST(MapTest, TimeoutYieldsEarlierResultsThenTimeoutThenEnds) {
  Gate gate;
  ThreadPoolExecutor pool({.max_workers = 3});
  std::vector<absl::StatusOr<int>> got;
  {
    auto results = pool.Map(
        [&](int x) {
          if (x == 6) gate.Pass();
          return x;
        },
        std::vector<int>{0, 0, 6}, absl::Milliseconds(200));
    for (auto& r : results) got.push_back(r);
  }
  gate.open.Notify();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(*got[0], 0);
  EXPECT_EQ(*got[1], 0);
  EXPECT_TRUE(IsTimeout(got[2].status()));
}

// 211
TEST(MapTest, SubmitsEverythingWithoutIteration) {
  std::atomic<int> finished{0};
  ThreadPoolExecutor pool({.max_workers = 2});
  pool.Map([&](int) { return ++finished; }, std::vector<int>(10, 0));
  pool.Shutdown();
  EXPECT_EQ(finished.load(), 10);
}

// 212: a busy single worker; timeout 0 cancels the waited-on future and the
// rest, and neither starts.
TEST(MapTest, TimeoutCancelsTheCurrentAndRemainingFutures) {
  Gate gate;
  std::atomic<int> started{0};
  ThreadPoolExecutor pool({.max_workers = 1});
  Future<void> busy = pool.Submit([&] { gate.Pass(); });
  std::vector<Future<int>> fs;
  {
    auto results = pool.Map([&](int x) { return ++started + x; },
                            std::vector<int>{1, 2}, absl::ZeroDuration());
    fs = results.futures();
    auto r = results.Next();
    ASSERT_TRUE(r.has_value());
    EXPECT_TRUE(IsTimeout(r->status()));
  }
  for (auto& f : fs) EXPECT_TRUE(f.cancelled());
  gate.open.Notify();
  pool.Shutdown();
  EXPECT_EQ(started.load(), 0);
}

// 214: one deadline counted from the Map call. Sleeping past it is the
// point of this test.
TEST(MapTest, DeadlineCountsFromTheCall) {
  Gate gate;
  ThreadPoolExecutor pool({.max_workers = 1});
  auto results = pool.Map(
      [&](int x) {
        gate.Pass();
        return x;
      },
      std::vector<int>{1}, absl::Milliseconds(50));
  absl::SleepFor(absl::Milliseconds(100));
  absl::Time start = absl::Now();
  auto r = results.Next();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));  // At once (slack).
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(IsTimeout(r->status()));
  gate.open.Notify();
}

// 216
TEST(MapTest, ShutdownWithUnconsumedResultsDoesNotHang) {
  ThreadPoolExecutor pool({.max_workers = 2});
  auto results = pool.Map([](int x) { return x; }, std::vector<int>{1, 2, 3});
  pool.Shutdown();
  EXPECT_EQ(**results.Next(), 1);
}

TEST(MapTest, EmptyInputGivesNoResults) {
  ThreadPoolExecutor pool({.max_workers = 1});
  auto results = pool.Map([](int x) { return x; }, std::vector<int>{});
  EXPECT_FALSE(results.Next().has_value());
}

// Many threads submit while another shuts down: every future ends done
// (value or cancelled) or was rejected; none hangs, none is lost.
TEST(ThreadPoolExecutorStressTest, SubmittingWhileShuttingDown) {
  for (int round = 0; round < 10; ++round) {
    for (bool cancel : {false, true}) {
      std::atomic<int> ran{0};
      absl::Notification go;
      ThreadPoolExecutor pool({.max_workers = 3});
      constexpr int kSubmitters = 4, kPerThread = 500;
      std::vector<std::vector<Future<int>>> fs(kSubmitters);
      std::vector<std::thread> submitters;
      for (int t = 0; t < kSubmitters; ++t) {
        submitters.emplace_back([&, t] {
          go.WaitForNotificationWithTimeout(kBound);
          for (int i = 0; i < kPerThread; ++i) {
            fs[t].push_back(pool.Submit([&ran, i] {
              ran.fetch_add(1, std::memory_order_relaxed);
              return i;
            }));
          }
        });
      }
      std::thread closer([&] {
        go.WaitForNotificationWithTimeout(kBound);
        pool.Shutdown(/*wait=*/true, cancel);
      });
      go.Notify();
      for (auto& t : submitters) t.join();
      closer.join();
      int values = 0, cancelled = 0, rejected = 0;
      for (auto& v : fs) {
        for (auto& f : v) {
          ASSERT_TRUE(f.WaitFor(kBound)) << "a future hangs";
          if (f.cancelled()) {
            ++cancelled;
            continue;
          }
          absl::StatusOr<int> r = f.Result();
          if (r.ok()) {
            ++values;
          } else {
            ASSERT_TRUE(IsShutDown(r.status())) << r.status();
            ++rejected;
          }
        }
      }
      EXPECT_EQ(values + cancelled + rejected, kSubmitters * kPerThread);
      EXPECT_EQ(values, ran.load());
      if (!cancel) {
        EXPECT_EQ(cancelled, 0);
      }
    }
  }
}

// Create/destroy loops catch thread leaks and shutdown races.
TEST(ThreadPoolExecutorStressTest, CreateUseDestroyLoop) {
  for (int i = 0; i < 100; ++i) {
    ThreadPoolExecutor pool({.max_workers = 2});
    Future<int> f = pool.Submit([i] { return i; });
    if (i % 2 == 0) {
      EXPECT_EQ(*f.ResultFor(kBound), i);
    }
  }
}

}  // namespace
}  // namespace spindle
