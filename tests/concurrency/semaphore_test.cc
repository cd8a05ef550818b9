// Copyright 2026 The spindle Authors.
//
// Tests for spindle::Semaphore and spindle::BoundedSemaphore (checklist
// section D).

#include "spindle/concurrency/semaphore.h"

#include <mutex>
#include <stdexcept>
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

TEST(SemaphoreDeathTest, NegativeInitialValueCrashes) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(Semaphore(-1), "initial value must be >= 0");
  EXPECT_DEATH(BoundedSemaphore(-5), "initial value must be >= 0");
}

TEST(SemaphoreDeathTest, ReleaseOfLessThanOneCrashes) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  Semaphore sem(1);
  EXPECT_DEATH(sem.Release(0), "n must be >= 1");
  EXPECT_DEATH(sem.Release(-1), "n must be >= 1");
}

TEST(SemaphoreTest, AcquireRelease) {
  Semaphore one(1);
  one.Acquire();
  one.Release();
  Semaphore two(2);
  two.Acquire();
  two.Acquire();
  two.Release();
  two.Release();
  EXPECT_EQ(two.value(), 2);
}

TEST(SemaphoreTest, DestroyWithOutstandingAcquires) {
  auto* sem = new Semaphore(2);
  sem->Acquire();
  sem->Acquire();
  delete sem;
}

TEST(SemaphoreTest, DefaultValueIsOne) {
  Semaphore sem;
  sem.Acquire();
  Counter done;
  std::thread t([&] {
    sem.Acquire();
    done.Increment();
    sem.Release();
  });
  // Waiting is the point: the second acquire must block.
  EXPECT_FALSE(done.WaitFor(1, kBlockedFor));
  sem.Release();
  EXPECT_TRUE(done.WaitFor(1));
  t.join();
}

// Checklist D.54: Semaphore(7), one taken, 10 threads acquiring twice.
TEST(SemaphoreTest, ContendedAcquireLetsExactlyAsManyThroughAsReleased) {
  Semaphore sem(7);
  sem.Acquire();
  Counter acquired;
  std::vector<std::thread> threads;
  for (int i = 0; i < 10; ++i) {
    threads.emplace_back([&] {
      sem.Acquire();
      acquired.Increment();
      sem.Acquire();
      acquired.Increment();
    });
  }
  ASSERT_TRUE(acquired.WaitFor(6));
  EXPECT_FALSE(acquired.WaitFor(7, kBlockedFor));
  for (int i = 0; i < 7; ++i) sem.Release();
  ASSERT_TRUE(acquired.WaitFor(13));
  EXPECT_FALSE(acquired.WaitFor(14, kBlockedFor));
  for (int i = 0; i < 6; ++i) sem.Release();
  ASSERT_TRUE(acquired.WaitFor(19));
  EXPECT_FALSE(sem.TryAcquire());
  sem.Release();
  ASSERT_TRUE(acquired.WaitFor(20));
  for (auto& t : threads) t.join();
  EXPECT_EQ(acquired.value(), 20);
}

TEST(SemaphoreTest, MultiReleaseWakesExactlyN) {
  Semaphore sem(0);
  Counter acquired;
  std::vector<std::thread> threads;
  for (int i = 0; i < 13; ++i) {
    threads.emplace_back([&] {
      sem.Acquire();
      acquired.Increment();
    });
  }
  sem.Release(7);
  ASSERT_TRUE(acquired.WaitFor(7));
  EXPECT_FALSE(acquired.WaitFor(8, kBlockedFor));
  sem.Release(6);
  ASSERT_TRUE(acquired.WaitFor(13));
  for (auto& t : threads) t.join();
  EXPECT_EQ(sem.value(), 0);
}

TEST(SemaphoreTest, TryAcquire) {
  Semaphore sem(2);
  EXPECT_TRUE(sem.TryAcquire());
  EXPECT_TRUE(sem.TryAcquire());
  EXPECT_FALSE(sem.TryAcquire());
  sem.Release();
  EXPECT_TRUE(sem.TryAcquire());
}

TEST(SemaphoreTest, TryAcquireContended) {
  Semaphore sem(4);
  sem.Acquire();
  absl::Mutex mu;
  int yes = 0, no = 0;
  std::vector<std::thread> threads;
  for (int i = 0; i < 5; ++i) {
    threads.emplace_back([&] {
      for (int j = 0; j < 2; ++j) {
        const bool got = sem.TryAcquire();
        absl::MutexLock l(&mu);
        ++(got ? yes : no);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(yes, 3);
  EXPECT_EQ(no, 7);
}

TEST(SemaphoreTest, AcquireForTimesOut) {
  Semaphore sem(2);
  EXPECT_TRUE(sem.AcquireFor(absl::Milliseconds(5)));
  EXPECT_TRUE(sem.AcquireFor(absl::Milliseconds(5)));
  EXPECT_FALSE(sem.AcquireFor(absl::Milliseconds(5)));
  sem.Release();
  EXPECT_TRUE(sem.AcquireFor(absl::Milliseconds(5)));
  // The timeout is the point: 0.2 s must pass.
  const absl::Time start = absl::Now();
  EXPECT_FALSE(sem.AcquireFor(absl::Milliseconds(200)));
  const absl::Duration waited = absl::Now() - start;
  EXPECT_GE(waited, absl::Milliseconds(200));
  EXPECT_LT(waited, absl::Seconds(2));
}

TEST(SemaphoreTest, NonPositiveTimeoutDoesNotBlock) {
  Semaphore empty(0);
  const absl::Time start = absl::Now();
  EXPECT_FALSE(empty.AcquireFor(absl::ZeroDuration()));
  EXPECT_FALSE(empty.AcquireFor(absl::Seconds(-1)));
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  Semaphore one(1);
  EXPECT_TRUE(one.AcquireFor(absl::Seconds(-1)));
}

TEST(SemaphoreTest, ScopedLockTakesOneUnitEach) {
  Semaphore sem(2);
  EXPECT_THROW(
      {
        std::scoped_lock a(sem);
        EXPECT_EQ(sem.value(), 1);
        {
          std::scoped_lock b(sem);
          EXPECT_EQ(sem.value(), 0);
          throw std::runtime_error("boom");
        }
      },
      std::runtime_error);
  EXPECT_EQ(sem.value(), 2);
}

TEST(SemaphoreTest, UnboundedMayBeReleasedPastInitialValue) {
  Semaphore sem(1);
  sem.Release();
  sem.Acquire();
  sem.Acquire();
  EXPECT_EQ(sem.value(), 0);
}

TEST(BoundedSemaphoreDeathTest, ReleaseAboveInitialValueCrashes) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  BoundedSemaphore sem(3);
  EXPECT_DEATH(sem.Release(), "released too many times");
  sem.Acquire();
  sem.Release();
  EXPECT_DEATH(sem.Release(), "released too many times");
  sem.Acquire();
  // All-or-nothing: 1 + 2 > 3 would exceed, value stays 2.
  EXPECT_DEATH(sem.Release(2), "released too many times");
  EXPECT_EQ(sem.value(), 2);
  EXPECT_EQ(sem.initial_value(), 3);
}

// Checklist D.65: acquisitions and releases by different threads.
void BoundedLimitThenOverRelease(int limit) {
  BoundedSemaphore sem(limit);
  std::vector<std::thread> threads;
  for (int i = 0; i < limit; ++i) threads.emplace_back([&] { sem.Acquire(); });
  for (auto& t : threads) t.join();
  threads.clear();
  for (int i = 0; i < limit; ++i) threads.emplace_back([&] { sem.Release(); });
  for (auto& t : threads) t.join();
  sem.Release();  // One too many.
}

TEST(BoundedSemaphoreDeathTest, LimitWithReleasesFromOtherThreads) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  for (int limit = 1; limit < 10; limit += 4) {
    EXPECT_DEATH(BoundedLimitThenOverRelease(limit), "released too many times");
  }
}

TEST(BoundedSemaphoreTest, NeverMoreThanValueInside) {
  BoundedSemaphore sem(3);
  absl::Mutex mu;
  int inside = 0, max_inside = 0;
  std::vector<std::thread> threads;
  for (int i = 0; i < 10; ++i) {
    threads.emplace_back([&] {
      for (int j = 0; j < 50; ++j) {
        std::scoped_lock l(sem);
        {
          absl::MutexLock m(&mu);
          ++inside;
          if (inside > max_inside) max_inside = inside;
        }
        std::this_thread::yield();
        absl::MutexLock m(&mu);
        --inside;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_LE(max_inside, 3);
  EXPECT_GE(max_inside, 1);
  EXPECT_EQ(sem.value(), 3);
}

}  // namespace
}  // namespace spindle
