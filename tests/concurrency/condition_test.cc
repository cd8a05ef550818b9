// Copyright 2026 The spindle Authors.
//
// Tests for spindle::Condition (checklist section C).

#include "spindle/concurrency/condition.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "spindle/concurrency/lock.h"
#include "spindle/concurrency/rlock.h"
#include "tests/test_util.h"

namespace spindle {
namespace {

using test_util::Counter;
using test_util::kBlockedFor;
using test_util::kBound;
using test_util::WaitForWaiters;

TEST(ConditionTest, DefaultLockIsAnRLock) {
  Condition cond;
  cond.Acquire();
  cond.Acquire();
  cond.Release();
  cond.Release();
}

TEST(ConditionTest, UsesTheGivenLock) {
  Lock lock;
  Condition cond(&lock);
  cond.Acquire();
  EXPECT_FALSE(lock.TryAcquire());
  cond.Release();
  EXPECT_TRUE(lock.TryAcquire());
  bool got = true;
  std::thread t([&] { got = cond.TryAcquire(); });
  t.join();
  EXPECT_FALSE(got);
  lock.Release();
  {
    std::scoped_lock l(cond);
    EXPECT_TRUE(lock.locked());
  }
  EXPECT_FALSE(lock.locked());
}

TEST(ConditionDeathTest, WaitWithoutLockCrashes) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  Condition cond;
  EXPECT_DEATH(cond.Wait(), "cannot wait un-acquired lock");
  Lock lock;
  Condition on_lock(&lock);
  EXPECT_DEATH(on_lock.WaitFor(absl::Seconds(1)), "cannot wait un-acquired");
}

TEST(ConditionDeathTest, NotifyWithoutLockCrashes) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  Condition cond;
  EXPECT_DEATH(cond.Notify(), "cannot notify un-acquired lock");
  EXPECT_DEATH(cond.NotifyAll(), "cannot notify un-acquired lock");
}

void WaitOnOtherThreadsRLock() {
  RLock lock;
  Condition cond(&lock);
  std::thread t([&] { lock.Acquire(); });  // Held (forever) by t.
  t.join();
  cond.Wait();
}

TEST(ConditionDeathTest, WaitOnRLockOwnedByAnotherThreadCrashes) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(WaitOnOtherThreadsRLock(), "cannot wait un-acquired lock");
}

// Checklist C.41-43: notify(3) wakes exactly 3, then notify(5) and
// notify_all(); the whole scenario twice on one Condition.
void CheckNotify(Condition& cond) {
  Counter phase1, phase2;
  std::vector<std::thread> threads;
  for (int i = 0; i < 5; ++i) {
    threads.emplace_back([&] {
      std::unique_lock<Condition> l(cond);
      cond.Wait();
      phase1.Increment();
      cond.Wait();
      phase2.Increment();
    });
  }
  ASSERT_TRUE(WaitForWaiters(cond, 5));
  {
    std::scoped_lock l(cond);
    cond.Notify(3);
    // Woken waiters need the lock we hold: nobody may proceed yet.
    EXPECT_FALSE(phase1.WaitFor(1, kBlockedFor));
  }
  ASSERT_TRUE(phase1.WaitFor(3));
  // Exactly 3: the other 2 stay asleep (waiting is the point).
  EXPECT_FALSE(phase1.WaitFor(4, kBlockedFor));
  // The 3 are back waiting (second wait) next to the 2 first-wait ones.
  ASSERT_TRUE(WaitForWaiters(cond, 5));
  {
    std::scoped_lock l(cond);
    cond.Notify(5);
  }
  ASSERT_TRUE(phase1.WaitFor(5));
  ASSERT_TRUE(phase2.WaitFor(3));
  EXPECT_FALSE(phase2.WaitFor(4, kBlockedFor));
  ASSERT_TRUE(WaitForWaiters(cond, 2));
  {
    std::scoped_lock l(cond);
    cond.NotifyAll();
  }
  ASSERT_TRUE(phase2.WaitFor(5));
  for (auto& t : threads) t.join();
  EXPECT_EQ(cond.n_waiting(), 0);
}

TEST(ConditionTest, NotifyWakesExactlyNWithRLock) {
  Condition cond;
  CheckNotify(cond);
  CheckNotify(cond);  // The waiter list stays clean.
}

TEST(ConditionTest, NotifyWakesExactlyNWithLock) {
  Lock lock;
  Condition cond(&lock);
  CheckNotify(cond);
  CheckNotify(cond);
}

TEST(ConditionTest, NotifyWakesOldestFirst) {
  Condition cond;
  absl::Mutex mu;
  std::vector<int> order;
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      std::scoped_lock l(cond);
      cond.Wait();
      absl::MutexLock m(&mu);
      order.push_back(i);
    });
    ASSERT_TRUE(WaitForWaiters(cond, i + 1));  // They enter one at a time.
  }
  for (int i = 0; i < 4; ++i) {
    {
      std::scoped_lock l(cond);
      cond.Notify(1);
    }
    // Wait (bounded) for the woken thread to record itself.
    absl::MutexLock m(&mu);
    auto recorded = [&]() {
      mu.AssertReaderHeld();
      return static_cast<int>(order.size()) == i + 1;
    };
    ASSERT_TRUE(mu.AwaitWithTimeout(absl::Condition(&recorded), kBound));
    EXPECT_EQ(order[i], i);
  }
  for (auto& t : threads) t.join();
}

TEST(ConditionTest, NotifyOneWakesTheLongestWaiter) {
  Condition cond;
  Counter woke0, woke1;
  std::thread t0([&] {
    std::scoped_lock l(cond);
    cond.Wait();
    woke0.Increment();
  });
  ASSERT_TRUE(WaitForWaiters(cond, 1));
  std::thread t1([&] {
    std::scoped_lock l(cond);
    cond.Wait();
    woke1.Increment();
  });
  ASSERT_TRUE(WaitForWaiters(cond, 2));
  {
    std::scoped_lock l(cond);
    cond.Notify();
  }
  EXPECT_TRUE(woke0.WaitFor(1));
  EXPECT_FALSE(woke1.WaitFor(1, kBlockedFor));
  {
    std::scoped_lock l(cond);
    cond.Notify();
  }
  EXPECT_TRUE(woke1.WaitFor(1));
  t0.join();
  t1.join();
}

TEST(ConditionTest, WaitForTimesOutAndHoldsTheLock) {
  Condition cond;
  std::vector<std::thread> threads;
  Counter ok;
  for (int i = 0; i < 5; ++i) {
    threads.emplace_back([&] {
      std::scoped_lock l(cond);
      // The timeout is the point: 0.2 s must pass.
      const absl::Time start = absl::Now();
      const bool notified = cond.WaitFor(absl::Milliseconds(200));
      const absl::Duration waited = absl::Now() - start;
      EXPECT_FALSE(notified);
      EXPECT_GE(waited, absl::Milliseconds(200));
      EXPECT_LT(waited, absl::Seconds(5));
      ok.Increment();
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.value(), 5);
  EXPECT_EQ(cond.n_waiting(), 0);  // Timed-out waiters left the list.
}

TEST(ConditionTest, ZeroTimeoutDoesNotBlock) {
  Lock lock;
  Condition cond(&lock);
  std::scoped_lock l(cond);
  const absl::Time start = absl::Now();
  EXPECT_FALSE(cond.WaitFor(absl::ZeroDuration()));
  EXPECT_FALSE(cond.WaitFor(absl::Seconds(-1)));
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  EXPECT_TRUE(lock.locked());
}

// Both orderings of notify and wait: a notification with no waiter is not
// remembered.
TEST(ConditionTest, NotifyBeforeWaitIsNotRemembered) {
  Condition cond;
  std::scoped_lock l(cond);
  cond.Notify();  // No-op.
  cond.NotifyAll();
  // The timeout is the point.
  EXPECT_FALSE(cond.WaitFor(absl::Milliseconds(50)));
}

TEST(ConditionTest, TimedOutWaiterDoesNotAbsorbANotify) {
  Condition cond;
  {
    std::scoped_lock l(cond);
    EXPECT_FALSE(cond.WaitFor(absl::Milliseconds(10)));
  }
  Counter woke;
  std::thread t([&] {
    std::scoped_lock l(cond);
    cond.Wait();
    woke.Increment();
  });
  ASSERT_TRUE(WaitForWaiters(cond, 1));
  {
    std::scoped_lock l(cond);
    cond.Notify(1);
  }
  EXPECT_TRUE(woke.WaitFor(1));
  t.join();
}

TEST(ConditionTest, WaitReleasesAllRLockLevelsAndRestoresThem) {
  RLock lock;
  Condition cond(&lock);
  int count_after = -1;
  bool owned_after = false;
  std::thread waiter([&] {
    lock.Acquire();
    lock.Acquire();
    lock.Acquire();
    cond.Wait();
    count_after = lock.recursion_count();
    owned_after = lock.IsOwned();
    lock.Release();
    lock.Release();
    lock.Release();
  });
  ASSERT_TRUE(WaitForWaiters(cond, 1));
  // We can take the lock: all three levels were released by Wait.
  ASSERT_TRUE(lock.AcquireFor(kBound));
  cond.Notify();
  lock.Release();
  waiter.join();
  EXPECT_EQ(count_after, 3);
  EXPECT_TRUE(owned_after);
  EXPECT_FALSE(lock.locked());
}

TEST(ConditionTest, WaitUntilReturnsOnceThePredicateHolds) {
  Condition cond;
  int state = 0;
  bool result = false;
  std::thread waiter([&] {
    std::scoped_lock l(cond);
    result = cond.WaitUntil([&] { return state == 4; }, kBound);
    EXPECT_EQ(state, 4);
  });
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(WaitForWaiters(cond, 1));
    std::scoped_lock l(cond);
    ++state;
    cond.Notify();
  }
  waiter.join();
  EXPECT_TRUE(result);
}

TEST(ConditionTest, WaitUntilForeverOverload) {
  Condition cond;
  bool ready = false;
  std::thread t([&] {
    ASSERT_TRUE(WaitForWaiters(cond, 1));
    std::scoped_lock l(cond);
    ready = true;
    cond.NotifyAll();
  });
  {
    std::scoped_lock l(cond);
    EXPECT_TRUE(cond.WaitUntil([&] { return ready; }));
  }
  t.join();
}

TEST(ConditionTest, WaitUntilTimeoutIsATotalDeadline) {
  Condition cond;
  Counter notified;
  std::atomic<bool> finished{false};
  std::thread notifier([&] {
    for (int i = 0; i < 3; ++i) {
      // Notify only while the waiter waits; stop once it gave up.
      const absl::Time deadline = absl::Now() + kBound;
      while (cond.n_waiting() < 1) {
        if (finished.load() || absl::Now() > deadline) return;
        std::this_thread::yield();
      }
      std::scoped_lock l(cond);
      cond.Notify();
      notified.Increment();
    }
  });
  int result = -1;
  absl::Duration waited;
  {
    std::scoped_lock l(cond);
    // The timeout is the point: 0.3 s in total despite 3 notifications.
    const absl::Time start = absl::Now();
    result = cond.WaitUntil(
        [&] {
          // Keep waiting until all notifications are in, then time out.
          return notified.value() > 100 ? 1 : 0;
        },
        absl::Milliseconds(300));
    waited = absl::Now() - start;
  }
  finished.store(true);
  notifier.join();
  EXPECT_EQ(result, 0);  // The predicate's last value, as is.
  EXPECT_GE(waited, absl::Milliseconds(300));
  EXPECT_LT(waited, absl::Seconds(5));
}

TEST(ConditionTest, WaitUntilWithTruePredicateDoesNotWait) {
  Condition cond;
  std::scoped_lock l(cond);
  EXPECT_EQ(cond.WaitUntil([] { return 7; }, absl::ZeroDuration()), 7);
}

}  // namespace
}  // namespace spindle
