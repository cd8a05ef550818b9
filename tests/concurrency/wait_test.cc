// Copyright 2026 The spindle Authors.
//
// Wait() and AsCompleted() from future.h: checklist sections K and L (CPython
// test_wait.py, test_as_completed.py).
//
// Deliberate difference (checklist 199, [BUG?]): a cancelled future is done
// for Wait/AsCompleted at once; CPython keeps it "not done" until its
// executor notices. The cases 190/193 are adapted accordingly.

#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "spindle/concurrency/future.h"
#include "spindle/concurrency/status.h"
#include "spindle/concurrency/thread_pool.h"

namespace spindle {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

constexpr absl::Duration kBound = absl::Seconds(30);

// A future completed later, on another thread, when the test says so.
class Later {
 public:
  Later() = default;
  ~Later() {
    if (thread_.joinable()) thread_.join();
  }
  Future<int> future() const { return promise_.future(); }
  void SucceedFromThread(int v) {
    thread_ =
        std::thread([this, v] { ASSERT_TRUE(promise_.SetValue(v).ok()); });
  }
  void FailFromThread() {
    thread_ = std::thread([this] {
      ASSERT_TRUE(promise_
                      .SetException(
                          std::make_exception_ptr(std::runtime_error("later")))
                      .ok());
    });
  }
  Promise<int>& promise() { return promise_; }

 private:
  Promise<int> promise_;
  std::thread thread_;
};

Future<int> Done(int v) {
  Promise<int> p;
  EXPECT_TRUE(p.SetValue(v).ok());
  return p.future();
}
Future<int> Raised() {
  Promise<int> p;
  EXPECT_TRUE(
      p.SetException(std::make_exception_ptr(std::runtime_error("x"))).ok());
  return p.future();
}
Future<int> CancelledFuture() {
  Promise<int> p;
  EXPECT_TRUE(p.future().Cancel());
  return p.future();
}

// 189
TEST(WaitTest, DuplicatesAreRemoved) {
  Future<int> f = Done(1);
  auto r = Wait(std::vector<Future<int>>{f, f}, kBound);
  EXPECT_THAT(r.done, ElementsAre(f));
  EXPECT_THAT(r.not_done, IsEmpty());
}

// 190 (adapted: no un-notified cancelled state)
TEST(WaitTest, FirstCompletedReturnsWhenOneCompletes) {
  Later first;
  Promise<int> slow;
  first.SucceedFromThread(1);
  auto r = Wait(std::vector<Future<int>>{first.future(), slow.future()}, kBound,
                ReturnWhen::kFirstCompleted);
  EXPECT_THAT(r.done, ElementsAre(first.future()));
  EXPECT_THAT(r.not_done, ElementsAre(slow.future()));
}

// 191
TEST(WaitTest, FirstCompletedWithSomeAlreadyCompleteReturnsAtOnce) {
  Future<int> cancelled = CancelledFuture(), ok = Done(1);
  Promise<int> running;
  ASSERT_TRUE(running.SetRunning().ok());
  auto r = Wait(std::vector<Future<int>>{cancelled, ok, running.future()},
                kBound, ReturnWhen::kFirstCompleted);
  EXPECT_THAT(r.done, UnorderedElementsAre(cancelled, ok));
  EXPECT_THAT(r.not_done, ElementsAre(running.future()));
}

// 192
TEST(WaitTest, FirstExceptionReturnsWhenOneRaises) {
  Future<int> ok = Done(1);
  Later raises;
  Promise<int> pending;
  raises.FailFromThread();
  auto r = Wait(std::vector<Future<int>>{ok, raises.future(), pending.future()},
                kBound, ReturnWhen::kFirstException);
  EXPECT_THAT(r.done, UnorderedElementsAre(ok, raises.future()));
  EXPECT_THAT(r.not_done, ElementsAre(pending.future()));
}

// 193 (adapted) and 198: cancelled futures are done but are not exceptions.
TEST(WaitTest, FirstExceptionWithPriorCompletions) {
  Future<int> ok = Done(1), cancelled = CancelledFuture();
  Later raises;
  Promise<int> running;
  ASSERT_TRUE(running.SetRunning().ok());
  raises.FailFromThread();
  auto r = Wait(std::vector<Future<int>>{ok, cancelled, raises.future(),
                                         running.future()},
                kBound, ReturnWhen::kFirstException);
  EXPECT_THAT(r.done, UnorderedElementsAre(ok, cancelled, raises.future()));
  EXPECT_THAT(r.not_done, ElementsAre(running.future()));
}

// 194
TEST(WaitTest, FirstExceptionWithOneAlreadyFailedReturnsAtOnce) {
  Future<int> failed = Raised();
  Promise<int> running;
  auto r = Wait(std::vector<Future<int>>{failed, running.future()},
                absl::ZeroDuration(), ReturnWhen::kFirstException);
  EXPECT_THAT(r.done, ElementsAre(failed));
  EXPECT_THAT(r.not_done, ElementsAre(running.future()));
}

// An error status (a broken pool) counts as an exception.
TEST(WaitTest, FirstExceptionCountsErrorStatuses) {
  Promise<int> broken, pending;
  ASSERT_TRUE(broken.SetError(BrokenError("broken")).ok());
  auto r = Wait(std::vector<Future<int>>{broken.future(), pending.future()},
                kBound, ReturnWhen::kFirstException);
  EXPECT_THAT(r.done, ElementsAre(broken.future()));
}

// 198: FIRST_EXCEPTION with no failure is ALL_COMPLETED; cancellation is not
// an exception.
TEST(WaitTest, FirstExceptionWithoutFailuresWaitsForAll) {
  Future<int> cancelled = CancelledFuture();
  Later a, b;
  a.SucceedFromThread(1);
  b.SucceedFromThread(2);
  auto r = Wait(std::vector<Future<int>>{cancelled, a.future(), b.future()},
                kBound, ReturnWhen::kFirstException);
  EXPECT_EQ(r.done.size(), 3u);
  EXPECT_THAT(r.not_done, IsEmpty());
}

// 195
TEST(WaitTest, AllCompletedWaitsForEveryKindOfCompletion) {
  Future<int> ok = Done(1), failed = Raised(), cancelled = CancelledFuture();
  Later a, b;
  a.SucceedFromThread(2);
  b.FailFromThread();
  auto r = Wait(
      std::vector<Future<int>>{ok, failed, cancelled, a.future(), b.future()},
      kBound, ReturnWhen::kAllCompleted);
  EXPECT_EQ(r.done.size(), 5u);
  EXPECT_THAT(r.not_done, IsEmpty());
}

// 196: the timeout is the point here; asserted with slack.
TEST(WaitTest, TimeoutReturnsWithoutRaising) {
  Future<int> ok = Done(1);
  Promise<int> running;
  ASSERT_TRUE(running.SetRunning().ok());
  absl::Time start = absl::Now();
  auto r = Wait(std::vector<Future<int>>{ok, running.future()},
                absl::Milliseconds(50), ReturnWhen::kAllCompleted);
  absl::Duration took = absl::Now() - start;
  EXPECT_GE(took, absl::Milliseconds(30));
  EXPECT_LT(took, absl::Seconds(10));
  EXPECT_THAT(r.done, ElementsAre(ok));
  EXPECT_THAT(r.not_done, ElementsAre(running.future()));
}

// 197: many futures finishing while Wait registers: no lost wake-up.
TEST(WaitTest, PendingCallsRace) {
  for (int iter = 0; iter < 20; ++iter) {
    ThreadPoolExecutor pool({.max_workers = 4});
    std::vector<Future<int>> fs;
    for (int i = 0; i < 100; ++i) fs.push_back(pool.Submit([i] { return i; }));
    auto r = Wait(fs, kBound, ReturnWhen::kAllCompleted);
    EXPECT_EQ(r.done.size(), 100u);
    EXPECT_THAT(r.not_done, IsEmpty());
  }
}

// 198
TEST(WaitTest, EmptyInputReturnsAtOnce) {
  auto r = Wait(std::vector<Future<int>>{}, kBound);
  EXPECT_THAT(r.done, IsEmpty());
  EXPECT_THAT(r.not_done, IsEmpty());
}

TEST(WaitTest, MixesFuturesOfDifferentTypes) {
  Promise<std::string> s;
  Promise<void> v;
  Future<int> i = Done(1);
  ASSERT_TRUE(s.SetValue("x").ok());
  auto r = Wait({i, s.future(), v.future()}, absl::ZeroDuration());
  EXPECT_THAT(r.done,
              UnorderedElementsAre(FutureBase(i), FutureBase(s.future())));
  EXPECT_THAT(r.not_done, ElementsAre(FutureBase(v.future())));
}

TEST(WaitTest, CancellationFromAnotherThreadWakesFirstCompleted) {
  Promise<int> p, other;
  Future<int> f = p.future();
  std::thread t([f] { EXPECT_TRUE(f.Cancel()); });
  auto r = Wait(std::vector<Future<int>>{f, other.future()}, kBound,
                ReturnWhen::kFirstCompleted);
  t.join();
  EXPECT_THAT(r.done, ElementsAre(f));
}

// 200
TEST(AsCompletedTest, YieldsEveryFutureAlreadyDoneFirst) {
  Future<int> cancelled = CancelledFuture(), failed = Raised(), ok = Done(1);
  Later later;
  std::vector<Future<int>> fs = {cancelled, failed, ok, later.future()};
  std::vector<Future<int>> got;
  bool started = false;
  for (absl::StatusOr<Future<int>>& f : AsCompleted(fs, kBound)) {
    ASSERT_TRUE(f.ok()) << f.status();
    got.push_back(*f);
    if (!started) {
      started = true;
      later.SucceedFromThread(2);
    }
  }
  // 205: already-finished ones first, in input order.
  EXPECT_THAT(got, ElementsAre(cancelled, failed, ok, later.future()));
}

// 201, 204; the timeout is the point.
TEST(AsCompletedTest, TimesOutAfterYieldingTheFinishedOnes) {
  for (absl::Duration timeout :
       {absl::ZeroDuration(), absl::Milliseconds(100)}) {
    Future<int> ok = Done(1), failed = Raised();
    Promise<int> slow1, slow2;
    std::vector<Future<int>> fs = {ok, failed, slow1.future(), slow2.future()};
    std::vector<Future<int>> got;
    absl::Status timeout_status;
    int items = 0;
    for (absl::StatusOr<Future<int>>& f : AsCompleted(fs, timeout)) {
      ++items;
      if (!f.ok()) {
        timeout_status = f.status();
        continue;  // The range ends after the timeout.
      }
      got.push_back(*f);
    }
    EXPECT_EQ(items, 3);
    EXPECT_THAT(got, ElementsAre(ok, failed));
    EXPECT_TRUE(IsTimeout(timeout_status));
    EXPECT_THAT(std::string(timeout_status.message()),
                HasSubstr("2 (of 4) futures unfinished"));
  }
}

// 202
TEST(AsCompletedTest, DuplicatesAreYieldedOnce) {
  Future<int> f = Done(1);
  std::vector<Future<int>> fs = {f, f, f};
  int n = 0;
  for (auto& r : AsCompleted(fs, kBound)) {
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*r, f);
    ++n;
  }
  EXPECT_EQ(n, 1);
}

// 203
TEST(AsCompletedTest, EightPendingTwoFinishedZeroTimeout) {
  std::vector<Promise<int>> pending(8);
  std::vector<Future<int>> fs;
  for (auto& p : pending) fs.push_back(p.future());
  fs.push_back(Done(1));
  fs.push_back(Done(2));
  auto range = AsCompleted(fs, absl::ZeroDuration());
  auto a = range.Next(), b = range.Next(), c = range.Next(), d = range.Next();
  ASSERT_TRUE(a && b && c);
  EXPECT_TRUE(a->ok());
  EXPECT_TRUE(b->ok());
  EXPECT_TRUE(IsTimeout(c->status()));
  EXPECT_THAT(std::string(c->status().message()),
              HasSubstr("8 (of 10) futures unfinished"));
  EXPECT_FALSE(d.has_value());
}

// 205: the deadline starts at the first Next(), not at the call.
TEST(AsCompletedTest, CompletionOnAnotherThreadWakesNext) {
  Later later;
  std::vector<Future<int>> fs = {later.future()};
  auto range = AsCompleted(fs, kBound);
  later.SucceedFromThread(5);
  auto r = range.Next();
  ASSERT_TRUE(r.has_value() && r->ok());
  EXPECT_EQ(*(*r)->Result(), 5);
  EXPECT_FALSE(range.Next().has_value());
}

TEST(AsCompletedTest, AbandonedIterationUnregistersCleanly) {
  Promise<int> p;
  {
    std::vector<Future<int>> fs = {p.future(), Done(1)};
    auto range = AsCompleted(fs, kBound);
    auto first = range.Next();
    ASSERT_TRUE(first && first->ok());
  }
  // Completing after the range is gone must not touch it (asan checks).
  ASSERT_TRUE(p.SetValue(1).ok());
}

TEST(AsCompletedTest, MixesFuturesOfDifferentTypes) {
  Promise<std::string> s;
  ASSERT_TRUE(s.SetValue("x").ok());
  int n = 0;
  for (auto& f : AsCompleted({Done(1), s.future()}, kBound)) {
    ASSERT_TRUE(f.ok());
    EXPECT_TRUE(f->done());
    ++n;
  }
  EXPECT_EQ(n, 2);
}

TEST(AsCompletedTest, WorksWithAPool) {
  ThreadPoolExecutor pool({.max_workers = 2});
  std::vector<Future<int>> fs;
  for (int i = 0; i < 50; ++i) fs.push_back(pool.Submit([i] { return i * i; }));
  int sum = 0, n = 0;
  for (auto& f : AsCompleted(fs, kBound)) {
    ASSERT_TRUE(f.ok());
    sum += *(*f).Result();
    ++n;
  }
  EXPECT_EQ(n, 50);
  int expected = 0;
  for (int i = 0; i < 50; ++i) expected += i * i;
  EXPECT_EQ(sum, expected);
}

}  // namespace
}  // namespace spindle
