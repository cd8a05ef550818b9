// Copyright 2026 The spindle Authors.
//
// ThreadPoolExecutor and futures used together, the way services chain
// them: callbacks and continuations that submit to their own pool, long
// chains of continuations, and Shutdown(wait) from every direction at once.

#include <atomic>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "spindle/concurrency/future.h"
#include "spindle/concurrency/status.h"
#include "spindle/concurrency/thread_pool.h"

namespace spindle {
namespace {

// Every blocking wait in these tests is bounded by this.
constexpr absl::Duration kBound = absl::Seconds(60);

// Spins (yielding) until `done()` or the bound passes; true if done.
template <typename F>
bool SpinUntil(F done) {
  const absl::Time deadline = absl::Now() + kBound;
  while (!done()) {
    if (absl::Now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

// The example: a continuation of task A submits task B to the same
// pool and waits for B. The worker running the continuation is busy, so B
// needs another worker, which max_workers = 4 allows.
TEST(PoolCompositionTest, ContinuationThatSubmitsAndWaitsGetsAWorker) {
  absl::Notification release_a;
  ThreadPoolExecutor pool({.max_workers = 4});
  Future<int> a = pool.Submit([&] {
    release_a.WaitForNotificationWithTimeout(kBound);
    return 20;
  });
  Future<int> chained = a.Then([&pool](int v) -> int {
    absl::StatusOr<int> b =
        pool.Submit([v] { return v + 22; }).ResultFor(absl::Seconds(30));
    return b.ok() ? *b : -1;
  });
  release_a.Notify();  // A is running or queued; the continuation is set.
  absl::StatusOr<int> r = chained.ResultFor(kBound);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, 42);
  EXPECT_EQ(pool.num_threads(), 2);
}

// The same through AddDoneCallback, with a pool of exactly two workers: the
// callback's worker is busy, the other one takes B.
TEST(PoolCompositionTest, DoneCallbackThatSubmitsAndWaitsGetsAWorker) {
  absl::Notification release_a;
  Promise<int> seen;
  ThreadPoolExecutor pool({.max_workers = 2});
  Future<void> a =
      pool.Submit([&] { release_a.WaitForNotificationWithTimeout(kBound); });
  a.AddDoneCallback([&] {
    absl::StatusOr<int> b =
        pool.Submit([] { return 7; }).ResultFor(absl::Seconds(30));
    seen.SetValue(b.ok() ? *b : -1).IgnoreError();
  });
  release_a.Notify();
  EXPECT_EQ(*seen.future().ResultFor(kBound), 7);
}

// With one worker there is no other thread to start: the submitted task
// runs once the callback returns (Python does the same).
TEST(PoolCompositionTest, CallbackSubmitRunsAfterTheCallbackOnOneWorker) {
  Future<int> b;
  absl::Notification b_submitted;
  absl::Notification registered;
  std::thread::id callback_thread;
  ThreadPoolExecutor pool({.max_workers = 1});
  // A finishes only once its callback is registered, so the callback runs
  // on the worker (registered on a done future, it would run right here).
  Future<void> a =
      pool.Submit([&] { registered.WaitForNotificationWithTimeout(kBound); });
  a.AddDoneCallback([&] {
    callback_thread = std::this_thread::get_id();
    b = pool.Submit([] { return 5; });
    b_submitted.Notify();
  });
  registered.Notify();
  ASSERT_TRUE(b_submitted.WaitForNotificationWithTimeout(kBound));
  EXPECT_NE(callback_thread, std::this_thread::get_id());
  EXPECT_EQ(*b.ResultFor(kBound), 5);
  EXPECT_EQ(pool.num_threads(), 1);
}

// A slow callback does not hold back new work while capacity is unused.
TEST(PoolCompositionTest, SlowCallbackDoesNotHoldBackOtherTasks) {
  absl::Notification release_callback;
  absl::Notification callback_running;
  absl::Notification registered;
  ThreadPoolExecutor pool({.max_workers = 2});
  // A finishes only once its callback is registered, so the callback runs
  // on the worker. (It used to be `Submit([] {})`: when A was done before
  // AddDoneCallback, the callback ran on this thread and blocked it for
  // kBound; the test still passed, after 60 s. Schedule perturbation made
  // that common.)
  Future<void> a =
      pool.Submit([&] { registered.WaitForNotificationWithTimeout(kBound); });
  std::thread::id callback_thread;
  a.AddDoneCallback([&] {
    callback_thread = std::this_thread::get_id();
    callback_running.Notify();
    release_callback.WaitForNotificationWithTimeout(kBound);
  });
  registered.Notify();
  ASSERT_TRUE(callback_running.WaitForNotificationWithTimeout(kBound));
  EXPECT_NE(callback_thread, std::this_thread::get_id());
  // The callback still runs on the first worker (for up to kBound); this
  // task gets the second, well before.
  absl::StatusOr<int> r =
      pool.Submit([] { return 3; }).ResultFor(absl::Seconds(20));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, 3);
  release_callback.Notify();
}

// Without callbacks, a worker counts idle before its future is published,
// so a waiter that submits again reuses it (Python's test_idle_thread_reuse).
TEST(PoolCompositionTest, IdleReuseWithoutCallbacksIsKept) {
  ThreadPoolExecutor pool({.max_workers = 4});
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(*pool.Submit([i] { return i; }).ResultFor(kBound), i);
  }
  EXPECT_EQ(pool.num_threads(), 1);
}

// A chain of 10,000 continuations, each submitting the next task to the
// pool from the worker that ran the previous one.
TEST(PoolCompositionTest, TenThousandContinuationsEachSubmittingTheNext) {
  constexpr int kLinks = 10000;
  Promise<int> last;
  std::function<void(int)> step;
  ThreadPoolExecutor pool({.max_workers = 4});
  step = [&](int i) {
    if (i == kLinks) {
      last.SetValue(i).IgnoreError();
      return;
    }
    pool.Submit([i] { return i + 1; }).Then([&step](int next) { step(next); });
  };
  step(0);
  absl::StatusOr<int> r = last.future().ResultFor(kBound);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, kLinks);
}

// Continuations that themselves wait on the pool, nested: each level's
// continuation submits the next level and blocks on it. Needs one worker
// per level, which max_workers allows.
TEST(PoolCompositionTest, NestedWaitingContinuationsWithinMaxWorkers) {
  constexpr int kDepth = 6;
  std::function<int(int)> level;
  ThreadPoolExecutor pool({.max_workers = kDepth + 1});
  level = [&](int d) -> int {
    if (d == kDepth) return d;
    absl::StatusOr<int> r =
        pool.Submit([d] { return d + 1; })
            .Then([&level](int next) { return level(next); })
            .ResultFor(absl::Seconds(30));
    return r.ok() ? *r : -100;
  };
  EXPECT_EQ(*pool.Submit([&] { return level(0); }).ResultFor(kBound), kDepth);
}

// Callbacks that submit while another thread shuts the pool down without
// waiting: every submission either runs or is rejected with IsShutDown,
// nothing hangs, and the destructor joins everything. (TSan checks the
// races.)
TEST(PoolCompositionTest, CallbacksSubmitWhileShutdownNoWaitRuns) {
  for (int round = 0; round < 50; ++round) {
    std::atomic<int> ran{0};
    std::atomic<int> rejected{0};
    std::atomic<int> settled{0};
    constexpr int kTasks = 40;
    {
      absl::Notification go;
      ThreadPoolExecutor pool({.max_workers = 3});
      for (int i = 0; i < kTasks; ++i) {
        Future<void> f =
            pool.Submit([&] { go.WaitForNotificationWithTimeout(kBound); });
        f.AddDoneCallback([&] {
          Future<void> g = pool.Submit([&] { ran.fetch_add(1); });
          g.AddDoneCallback([&](const Future<void>& done) {
            if (IsShutDown(done.Result())) rejected.fetch_add(1);
            settled.fetch_add(1);
          });
        });
      }
      std::thread stopper([&] { pool.Shutdown(/*wait=*/false); });
      go.Notify();
      stopper.join();
    }
    // Every callback ran (a cancelled or rejected first task also runs its
    // callback), and each follow-up either ran or was rejected.
    EXPECT_TRUE(SpinUntil([&] { return settled.load() == kTasks; }))
        << "round " << round << ": settled " << settled.load();
    EXPECT_EQ(ran.load() + rejected.load(), kTasks) << "round " << round;
  }
}

// Shutdown(wait) from a task while another thread is inside
// Shutdown(wait): deadlocked when the outside caller held a join lock
// while joining the worker that waited for that lock.
TEST(PoolCompositionTest, ShutdownWaitFromTaskWhileAnotherThreadWaits) {
  for (int round = 0; round < 20; ++round) {
    absl::Notification release_other;
    ThreadPoolExecutor pool({.max_workers = 2});
    Future<void> other = pool.Submit(
        [&] { release_other.WaitForNotificationWithTimeout(kBound); });
    Future<bool> inner = pool.Submit([&] {
      // Wait until the outside Shutdown(wait) has begun (the pool then
      // rejects work), then wait for the pool from inside it.
      bool began = SpinUntil([&] { return IsShutDown(pool.Execute([] {})); });
      release_other.Notify();
      pool.Shutdown(/*wait=*/true);
      return began;
    });
    std::thread outside([&] { pool.Shutdown(/*wait=*/true); });
    outside.join();
    EXPECT_TRUE(*inner.ResultFor(kBound));
    EXPECT_TRUE(other.ResultFor(kBound).ok());
  }
}

// Two tasks of the same pool both wait for the pool: each waits for the
// other workers except those waiting too, so neither waits forever.
TEST(PoolCompositionTest, TwoTasksShutdownWaitAtOnce) {
  std::atomic<int> arrived{0};
  ThreadPoolExecutor pool({.max_workers = 2});
  auto task = [&] {
    arrived.fetch_add(1);
    SpinUntil([&] { return arrived.load() == 2; });
    pool.Shutdown(/*wait=*/true);
    return true;
  };
  Future<bool> a = pool.Submit(task);
  Future<bool> b = pool.Submit(task);
  EXPECT_TRUE(*a.ResultFor(kBound));
  EXPECT_TRUE(*b.ResultFor(kBound));
}

// Shutdown(wait) from a continuation and from a done callback running on a
// worker while the destructor (another thread) waits as well.
TEST(PoolCompositionTest, ShutdownWaitFromContinuationAndCallback) {
  for (int round = 0; round < 20; ++round) {
    Promise<bool> from_then;
    Promise<bool> from_callback;
    {
      absl::Notification go;
      ThreadPoolExecutor pool({.max_workers = 3});
      Future<void> a =
          pool.Submit([&] { go.WaitForNotificationWithTimeout(kBound); });
      Future<void> b =
          pool.Submit([&] { go.WaitForNotificationWithTimeout(kBound); });
      Future<bool> t = a.Then([&] {
        pool.Shutdown(/*wait=*/true);
        return true;
      });
      b.AddDoneCallback([&] {
        pool.Shutdown(/*wait=*/true);
        from_callback.SetValue(true).IgnoreError();
      });
      t.AddDoneCallback([&](const Future<bool>& f) {
        from_then.SetValue(*f.Result()).IgnoreError();
      });
      go.Notify();
    }  // The destructor waits too.
    EXPECT_TRUE(*from_then.future().ResultFor(kBound));
    EXPECT_TRUE(*from_callback.future().ResultFor(kBound));
  }
}

}  // namespace
}  // namespace spindle
