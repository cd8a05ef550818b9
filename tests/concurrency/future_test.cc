// Copyright 2026 The spindle Authors.
//
// Future / Promise / Then: checklist section J (CPython test_future.py).

#include "spindle/concurrency/future.h"

#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "spindle/concurrency/status.h"

namespace spindle {
namespace {

using ::testing::HasSubstr;

// Every blocking wait in these tests is bounded by this.
constexpr absl::Duration kBound = absl::Seconds(30);

std::string WhatOf(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    return ex.what();
  }
  return "";
}

Future<int> Pending(Promise<int>& p) { return p.future(); }

Future<int> Running(Promise<int>& p) {
  EXPECT_TRUE(p.SetRunning().ok());
  return p.future();
}

Future<int> Succeeded(Promise<int>& p, int v = 42) {
  EXPECT_TRUE(p.SetValue(v).ok());
  return p.future();
}

Future<int> Failed(Promise<int>& p) {
  EXPECT_TRUE(
      p.SetException(std::make_exception_ptr(std::runtime_error("test"))).ok());
  return p.future();
}

Future<int> CancelledFuture(Promise<int>& p) {
  EXPECT_TRUE(p.future().Cancel());
  return p.future();
}

TEST(FutureTest, PromiseValueIsTheResult) {
  Promise<int> p;
  Future<int> f = p.future();
  EXPECT_FALSE(f.done());
  ASSERT_TRUE(p.SetValue(5).ok());
  EXPECT_TRUE(f.done());
  EXPECT_EQ(*f.Result(), 5);
  EXPECT_EQ(*f.ResultFor(absl::ZeroDuration()), 5);
}

TEST(FutureTest, VoidFutureResultIsOkStatus) {
  Promise<void> p;
  Future<void> f = p.future();
  ASSERT_TRUE(p.SetValue().ok());
  EXPECT_TRUE(f.Result().ok());
}

// 165
TEST(FutureTest, CallbackAddedBeforeValueRunsOnCompletingThread) {
  Promise<int> p;
  Future<int> f = p.future();
  std::thread::id ran_on;
  int seen = 0;
  f.AddDoneCallback([&](const Future<int>& g) {
    ran_on = std::this_thread::get_id();
    seen = *g.Result();
  });
  std::thread::id setter;
  std::thread t([&] {
    setter = std::this_thread::get_id();
    ASSERT_TRUE(p.SetValue(5).ok());
  });
  t.join();
  EXPECT_EQ(seen, 5);
  EXPECT_EQ(ran_on, setter);
}

// 166
TEST(FutureTest, CallbackAddedBeforeExceptionSeesIt) {
  Promise<int> p;
  std::string what;
  p.future().AddDoneCallback([&](const Future<int>& g) {
    absl::StatusOr<std::exception_ptr> e = g.Exception();
    ASSERT_TRUE(e.ok());
    what = WhatOf(*e);
  });
  Failed(p);
  EXPECT_EQ(what, "test");
}

// 167
TEST(FutureTest, CallbackAddedBeforeCancelSeesCancelled) {
  Promise<int> p;
  bool was_cancelled = false;
  p.future().AddDoneCallback(
      [&](const Future<int>& g) { was_cancelled = g.cancelled(); });
  EXPECT_TRUE(p.future().Cancel());
  EXPECT_TRUE(was_cancelled);
}

// 168
TEST(FutureTest, ThrowingCallbackIsLoggedAndLaterCallbacksStillRun) {
  Promise<int> p;
  Future<int> f = p.future();
  int later = 0;
  f.AddDoneCallback([] { throw std::runtime_error("doh!"); });
  f.AddDoneCallback([&] { later = 1; });
  testing::internal::CaptureStderr();
  EXPECT_TRUE(p.SetValue(5).ok());  // Not passed to the setter.
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_THAT(err, HasSubstr("doh!"));
  EXPECT_THAT(err, HasSubstr("callback"));
  EXPECT_EQ(later, 1);
  EXPECT_EQ(*f.Result(), 5);
}

// 169
TEST(FutureTest, CallbackOnDoneFutureRunsAtOnceOnCaller) {
  for (int kind = 0; kind < 3; ++kind) {
    Promise<int> p;
    Future<int> f = kind == 0   ? Succeeded(p)
                    : kind == 1 ? Failed(p)
                                : CancelledFuture(p);
    std::thread::id ran_on;
    f.AddDoneCallback([&] { ran_on = std::this_thread::get_id(); });
    EXPECT_EQ(ran_on, std::this_thread::get_id()) << kind;
  }
}

// 170
TEST(FutureTest, ThrowingImmediateCallbackIsLoggedNotThrown) {
  Promise<int> p;
  Future<int> f = Succeeded(p);
  testing::internal::CaptureStderr();
  EXPECT_NO_THROW(f.AddDoneCallback([] { throw std::runtime_error("doh!"); }));
  EXPECT_THAT(testing::internal::GetCapturedStderr(),
              HasSubstr("exception calling callback"));
}

// 171 [REPR]: the state is exposed.
TEST(FutureTest, DebugStringShowsState) {
  Promise<int> a, b, c, d, e;
  EXPECT_THAT(Pending(a).DebugString(), HasSubstr("state=pending"));
  EXPECT_THAT(Running(b).DebugString(), HasSubstr("state=running"));
  EXPECT_THAT(CancelledFuture(c).DebugString(), HasSubstr("state=cancelled"));
  EXPECT_THAT(Failed(d).DebugString(), HasSubstr("state=finished raised"));
  EXPECT_THAT(Succeeded(e).DebugString(), HasSubstr("state=finished returned"));
}

// 173-176
TEST(FutureTest, CancelAndStatePredicatesInEachState) {
  Promise<int> a, b, c, d, e;
  Future<int> pending = Pending(a), running = Running(b),
              cancelled = CancelledFuture(c), failed = Failed(d),
              ok = Succeeded(e);
  EXPECT_FALSE(pending.done());
  EXPECT_FALSE(pending.running());
  EXPECT_FALSE(pending.cancelled());
  EXPECT_TRUE(running.running());
  EXPECT_FALSE(running.done());
  EXPECT_TRUE(cancelled.cancelled());
  EXPECT_TRUE(cancelled.done());
  EXPECT_FALSE(cancelled.running());
  EXPECT_TRUE(failed.done());
  EXPECT_FALSE(failed.cancelled());
  EXPECT_TRUE(ok.done());

  EXPECT_TRUE(pending.Cancel());
  EXPECT_TRUE(pending.cancelled());
  EXPECT_FALSE(running.Cancel());
  EXPECT_TRUE(running.running());
  EXPECT_TRUE(cancelled.Cancel());  // Already cancelled: true, unchanged.
  EXPECT_TRUE(cancelled.cancelled());
  EXPECT_FALSE(failed.Cancel());
  EXPECT_FALSE(ok.Cancel());
  EXPECT_FALSE(ok.cancelled());
}

// 177
TEST(FutureTest, ResultWithZeroTimeoutInEachState) {
  Promise<int> a, b, c, d, e;
  EXPECT_TRUE(IsTimeout(Pending(a).ResultFor(absl::ZeroDuration()).status()));
  EXPECT_TRUE(IsTimeout(Running(b).ResultFor(absl::ZeroDuration()).status()));
  EXPECT_TRUE(spindle::IsCancelled(
      CancelledFuture(c).ResultFor(absl::ZeroDuration()).status()));
  EXPECT_THROW(Failed(d).ResultFor(absl::ZeroDuration()).IgnoreError(),
               std::runtime_error);
  EXPECT_EQ(*Succeeded(e).ResultFor(absl::ZeroDuration()), 42);
  // Cancelled is not a timeout and vice versa (188).
  EXPECT_FALSE(
      IsTimeout(CancelledFuture(c).ResultFor(absl::ZeroDuration()).status()));
}

// 178
TEST(FutureTest, ResultBlocksUntilAnotherThreadSetsIt) {
  Promise<int> p;
  Future<int> f = p.future();
  absl::Notification waiting;
  std::thread t([&] {
    waiting.WaitForNotificationWithTimeout(kBound);
    ASSERT_TRUE(p.SetValue(42).ok());
  });
  waiting.Notify();
  absl::StatusOr<int> r = f.ResultFor(kBound);
  t.join();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 42);
}

// 179
TEST(FutureTest, BlockedResultGetsCancelledWhenAnotherThreadCancels) {
  Promise<int> p;
  Future<int> f = p.future();
  std::thread t([f] { EXPECT_TRUE(f.Cancel()); });
  absl::StatusOr<int> r = f.ResultFor(kBound);
  t.join();
  EXPECT_TRUE(spindle::IsCancelled(r.status()));
}

// 180
TEST(FutureTest, ExceptionWithZeroTimeoutInEachState) {
  Promise<int> a, b, c, d, e;
  EXPECT_TRUE(
      IsTimeout(Pending(a).ExceptionFor(absl::ZeroDuration()).status()));
  EXPECT_TRUE(
      IsTimeout(Running(b).ExceptionFor(absl::ZeroDuration()).status()));
  EXPECT_TRUE(spindle::IsCancelled(
      CancelledFuture(c).ExceptionFor(absl::ZeroDuration()).status()));
  absl::StatusOr<std::exception_ptr> failed =
      Failed(d).ExceptionFor(absl::ZeroDuration());
  ASSERT_TRUE(failed.ok());
  EXPECT_EQ(WhatOf(*failed), "test");
  absl::StatusOr<std::exception_ptr> ok =
      Succeeded(e).ExceptionFor(absl::ZeroDuration());
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, nullptr);
}

// 181
TEST(FutureTest, ExceptionWakesWhenAnotherThreadFailsTheFuture) {
  Promise<int> p;
  Future<int> f = p.future();
  std::thread t([&] { Failed(p); });
  absl::StatusOr<std::exception_ptr> e = f.ExceptionFor(kBound);
  t.join();
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(WhatOf(*e), "test");
}

// 182, 183, 186
TEST(FutureTest, SecondSetterFailsAndFirstOutcomeIsKept) {
  Promise<int> p;
  ASSERT_TRUE(p.SetValue(1).ok());
  absl::Status again = p.SetValue(2);
  EXPECT_TRUE(absl::IsFailedPrecondition(again));
  EXPECT_THAT(std::string(again.message()), HasSubstr("invalid state"));
  EXPECT_FALSE(
      p.SetException(std::make_exception_ptr(std::runtime_error("x"))).ok());
  EXPECT_EQ(*p.future().Result(), 1);
  EXPECT_TRUE(p.future().done());

  Promise<int> q;
  Failed(q);
  EXPECT_FALSE(
      q.SetException(std::make_exception_ptr(std::logic_error("2nd"))).ok());
  EXPECT_EQ(WhatOf(*q.future().Exception()), "test");

  Promise<int> c;
  CancelledFuture(c);
  EXPECT_FALSE(c.SetValue(1).ok());
  EXPECT_FALSE(c.SetException(std::make_exception_ptr(1)).ok());
  EXPECT_TRUE(c.future().cancelled());
}

// 187
TEST(FutureTest, SetRunningOrNotifyCancel) {
  Promise<int> p;
  EXPECT_TRUE(p.SetRunning().ok());
  EXPECT_TRUE(p.future().running());
  EXPECT_TRUE(absl::IsFailedPrecondition(p.SetRunning()));
  Promise<int> c;
  CancelledFuture(c);
  EXPECT_TRUE(spindle::IsCancelled(c.SetRunning()));
  Promise<int> d;
  Succeeded(d);
  EXPECT_TRUE(absl::IsFailedPrecondition(d.SetRunning()));
}

// 188
TEST(FutureTest, CancelTwiceFiresCallbacksOnceInRegistrationOrder) {
  Promise<int> p;
  Future<int> f = p.future();
  std::vector<int> order;
  for (int i = 0; i < 5; ++i)
    f.AddDoneCallback([&order, i] { order.push_back(i); });
  EXPECT_TRUE(f.Cancel());
  EXPECT_TRUE(f.Cancel());
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
}

// 188: exception() returns what result() raises.
TEST(FutureTest, ExceptionIsTheObjectResultRethrows) {
  Promise<int> p;
  Failed(p);
  std::exception_ptr e = *p.future().Exception();
  try {
    p.future().Result().IgnoreError();
    FAIL() << "no throw";
  } catch (const std::runtime_error& thrown) {
    try {
      std::rethrow_exception(e);
    } catch (const std::runtime_error& stored) {
      EXPECT_EQ(&thrown, &stored);
    }
  }
}

// 185: a "falsy" exception (here a thrown 0) still counts.
TEST(FutureTest, AnyThrownValueCountsAsAnException) {
  Promise<int> p;
  ASSERT_TRUE(p.SetException(std::make_exception_ptr(0)).ok());
  EXPECT_THROW(p.future().Result().IgnoreError(), int);
  EXPECT_NE(*p.future().Exception(), nullptr);
}

// 184: consistent snapshots while the state changes under concurrent
// readers (run under tsan).
TEST(FutureTest, ConcurrentReadersSeeConsistentState) {
  for (int iter = 0; iter < 50; ++iter) {
    Promise<std::string> p;
    Future<std::string> f = p.future();
    absl::Notification go;
    std::vector<std::thread> readers;
    for (int i = 0; i < 4; ++i) {
      readers.emplace_back([&] {
        go.WaitForNotificationWithTimeout(kBound);
        absl::StatusOr<std::string> r = f.ResultFor(kBound);
        ASSERT_TRUE(r.ok());
        EXPECT_EQ(*r, "value");
        EXPECT_TRUE(f.done());
        EXPECT_FALSE(f.cancelled());
      });
    }
    go.Notify();
    ASSERT_TRUE(p.SetValue("value").ok());
    for (auto& t : readers) t.join();
  }
}

// Both orderings of "callback added" vs "completion", racing.
TEST(FutureTest, CallbackRacingCompletionRunsExactlyOnce) {
  for (int iter = 0; iter < 200; ++iter) {
    Promise<int> p;
    Future<int> f = p.future();
    std::atomic<int> calls{0};
    absl::Notification go;
    std::thread setter([&] {
      go.WaitForNotificationWithTimeout(kBound);
      ASSERT_TRUE(p.SetValue(iter).ok());
    });
    go.Notify();
    f.AddDoneCallback([&](const Future<int>& g) {
      EXPECT_EQ(*g.Result(), iter);
      calls.fetch_add(1);
    });
    setter.join();
    EXPECT_EQ(calls.load(), 1);
  }
}

// Both orderings of cancel vs SetRunning, racing: exactly one wins.
TEST(FutureTest, CancelRacingSetRunningHasOneWinner) {
  for (int iter = 0; iter < 200; ++iter) {
    Promise<int> p;
    Future<int> f = p.future();
    absl::Notification go;
    bool cancelled = false;
    std::thread canceller([&] {
      go.WaitForNotificationWithTimeout(kBound);
      cancelled = f.Cancel();
    });
    go.Notify();
    bool started = p.SetRunning().ok();
    canceller.join();
    EXPECT_NE(started, cancelled);
    if (started) {
      ASSERT_TRUE(p.SetValue(1).ok());
    }
    EXPECT_TRUE(f.done());
  }
}

TEST(FutureTest, AbandonedPromiseBreaksItsFuture) {
  Future<int> f;
  {
    Promise<int> p;
    f = p.future();
  }
  EXPECT_TRUE(IsBroken(f.ResultFor(kBound).status()));
}

TEST(FutureTest, SetErrorDeliversTheStatus) {
  Promise<int> p;
  EXPECT_TRUE(absl::IsInvalidArgument(p.SetError(absl::OkStatus())));
  ASSERT_TRUE(p.SetError(BrokenError("pool broke")).ok());
  EXPECT_TRUE(IsBroken(p.future().Result().status()));
  EXPECT_TRUE(IsBroken(p.future().Exception().status()));
}

TEST(FutureTest, CopiesShareOneStateAndCompareEqual) {
  Promise<int> p, q;
  Future<int> a = p.future();
  Future<int> b = a;
  FutureBase base = b;
  EXPECT_EQ(a, b);
  EXPECT_EQ(base, a);
  EXPECT_NE(a, q.future());
  absl::flat_hash_set<FutureBase> set = {a, b, base, q.future()};
  EXPECT_EQ(set.size(), 2u);
  ASSERT_TRUE(p.SetValue(3).ok());
  EXPECT_TRUE(base.done());
  EXPECT_EQ(*b.Result(), 3);
}

TEST(FutureTest, MoveOnlyValueThroughThen) {
  Promise<std::unique_ptr<int>> p;
  Future<int> f =
      p.future().Then([](const std::unique_ptr<int>& v) { return *v + 1; });
  ASSERT_TRUE(p.SetValue(std::make_unique<int>(41)).ok());
  EXPECT_EQ(*f.ResultFor(kBound), 42);
}

TEST(FutureTest, ThenChainsValues) {
  Promise<int> p;
  Future<std::string> f =
      p.future().Then([](int v) { return v * 2; }).Then([](int v) {
        return std::to_string(v);
      });
  ASSERT_TRUE(p.SetValue(21).ok());
  EXPECT_EQ(*f.ResultFor(kBound), "42");
}

TEST(FutureTest, ThenOnDoneFutureRunsAtOnce) {
  Promise<int> p;
  Succeeded(p, 1);
  Future<int> f = p.future().Then([](int v) { return v + 1; });
  EXPECT_TRUE(f.done());
  EXPECT_EQ(*f.Result(), 2);
}

TEST(FutureTest, ThenPassesOnExceptionsErrorsAndCancellation) {
  bool called = false;
  auto fn = [&](int v) {
    called = true;
    return v;
  };
  Promise<int> a, b, c;
  Future<int> fa = a.future().Then(fn);
  Future<int> fb = b.future().Then(fn);
  Future<int> fc = c.future().Then(fn);
  Failed(a);
  ASSERT_TRUE(b.SetError(BrokenError("broken")).ok());
  CancelledFuture(c);
  EXPECT_THROW(fa.Result().IgnoreError(), std::runtime_error);
  EXPECT_TRUE(IsBroken(fb.Result().status()));
  EXPECT_TRUE(fc.cancelled());
  EXPECT_FALSE(called);
}

TEST(FutureTest, ThenWithFutureArgumentSeesEveryOutcome) {
  Promise<int> p;
  Future<bool> f =
      p.future().Then([](const Future<int>& in) { return in.cancelled(); });
  EXPECT_TRUE(p.future().Cancel());
  EXPECT_EQ(*f.Result(), true);
}

TEST(FutureTest, ThrowingContinuationFailsItsFuture) {
  Promise<int> p;
  Future<void> f =
      p.future().Then([](int) { throw std::logic_error("in then"); });
  Succeeded(p);
  absl::StatusOr<std::exception_ptr> e = f.ExceptionFor(kBound);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(WhatOf(*e), "in then");
}

TEST(FutureTest, CancellingTheContinuationLeavesTheSourceAlone) {
  Promise<int> p;
  bool called = false;
  Future<int> f = p.future().Then([&](int v) {
    called = true;
    return v;
  });
  EXPECT_TRUE(f.Cancel());
  Succeeded(p);
  EXPECT_FALSE(called);
  EXPECT_EQ(*p.future().Result(), 42);
}

TEST(FutureTest, VoidThen) {
  Promise<void> p;
  Future<int> f = p.future().Then([] { return 7; });
  ASSERT_TRUE(p.SetValue().ok());
  EXPECT_EQ(*f.ResultFor(kBound), 7);
}

TEST(FutureDeathTest, InvalidFutureIsACheckedCrash) {
  EXPECT_DEATH(Future<int>().done(), "invalid");
}

}  // namespace
}  // namespace spindle
