// Copyright 2026 The spindle Authors.
//
// Tests for spindle::Timer (checklist section H).

#include "spindle/concurrency/timer.h"

#include <atomic>
#include <string>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "spindle/concurrency/event.h"
#include "tests/test_util.h"

namespace spindle {
namespace {

using test_util::kBound;

TEST(TimerTest, CallsTheFunctionOnceAfterTheInterval) {
  std::atomic<int> calls{0};
  int arg = 0;
  absl::Time fired;
  const absl::Time start = absl::Now();
  Timer t(
      absl::Milliseconds(50),
      [&](int x) {
        arg = x;
        fired = absl::Now();
        calls.fetch_add(1);
      },
      7);
  ASSERT_TRUE(t.Start().ok());
  ASSERT_TRUE(t.JoinFor(kBound));
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(arg, 7);
  // The interval is the point: it must have passed.
  EXPECT_GE(fired - start, absl::Milliseconds(50));
  EXPECT_FALSE(t.IsAlive());
}

TEST(TimerTest, NoArguments) {
  std::atomic<bool> called{false};
  Timer t(absl::ZeroDuration(), [&] { called = true; });
  ASSERT_TRUE(t.Start().ok());
  t.Join();
  EXPECT_TRUE(called.load());
}

TEST(TimerTest, CancelBeforeItFiresEndsItPromptly) {
  std::atomic<bool> called{false};
  Timer t(kBound, [&] { called = true; });
  ASSERT_TRUE(t.Start().ok());
  t.Cancel();
  const absl::Time start = absl::Now();
  ASSERT_TRUE(t.JoinFor(kBound));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));  // Not the 30 s interval.
  EXPECT_FALSE(called.load());
  EXPECT_FALSE(t.IsAlive());
}

TEST(TimerTest, CancelBeforeStart) {
  std::atomic<bool> called{false};
  Timer t(absl::Milliseconds(1), [&] { called = true; });
  t.Cancel();
  ASSERT_TRUE(t.Start().ok());
  ASSERT_TRUE(t.JoinFor(kBound));
  EXPECT_FALSE(called.load());
}

TEST(TimerTest, CancelAfterItFiredIsANoOp) {
  std::atomic<int> calls{0};
  Timer t(absl::ZeroDuration(), [&] { calls.fetch_add(1); });
  ASSERT_TRUE(t.Start().ok());
  ASSERT_TRUE(t.JoinFor(kBound));
  t.Cancel();
  t.Cancel();
  EXPECT_EQ(calls.load(), 1);
}

TEST(TimerTest, CancelWhileTheFunctionRunsDoesNotStopIt) {
  Event running, release;
  std::atomic<bool> finished{false};
  Timer t(absl::ZeroDuration(), [&] {
    running.Set();
    release.WaitFor(kBound);
    finished = true;
  });
  ASSERT_TRUE(t.Start().ok());
  ASSERT_TRUE(running.WaitFor(kBound));
  t.Cancel();
  release.Set();
  ASSERT_TRUE(t.JoinFor(kBound));
  EXPECT_TRUE(finished.load());
}

TEST(TimerTest, DestructionCancelsAnUnfiredTimer) {
  std::atomic<bool> called{false};
  const absl::Time start = absl::Now();
  {
    Timer t(kBound, [&] { called = true; });
    ASSERT_TRUE(t.Start().ok());
  }
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_FALSE(called.load());
}

TEST(TimerTest, StartTwiceFails) {
  Timer t(absl::ZeroDuration(), [] {});
  ASSERT_TRUE(t.Start().ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(t.Start()));
  t.Join();
}

TEST(TimerTest, NameAndOptions) {
  Timer t({.name = "alarm"}, absl::Seconds(1), [] {});
  EXPECT_EQ(t.name(), "alarm");
  EXPECT_EQ(t.interval(), absl::Seconds(1));
}

TEST(TimerTest, EachTimerHasItsOwnArguments) {
  std::string a, b;
  Timer t1(
      absl::ZeroDuration(), [&](std::string s) { a = s; }, std::string("one"));
  Timer t2(
      absl::ZeroDuration(), [&](std::string s) { b = s; }, std::string("two"));
  ASSERT_TRUE(t1.Start().ok());
  ASSERT_TRUE(t2.Start().ok());
  t1.Join();
  t2.Join();
  EXPECT_EQ(a, "one");
  EXPECT_EQ(b, "two");
}

}  // namespace
}  // namespace spindle
