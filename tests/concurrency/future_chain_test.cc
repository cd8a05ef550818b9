// Copyright 2026 The spindle Authors.
//
// Completion of futures never recurses without bound: continuations and
// callbacks completed inside other callbacks run on the same thread's
// trampoline, in documented order.

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "spindle/concurrency/future.h"

namespace spindle {
namespace {

using ::testing::ElementsAre;

constexpr absl::Duration kBound = absl::Seconds(60);

// A million inline continuations on a pending promise: completing it ran
// each one a stack frame deeper and overflowed the stack.
TEST(FutureChainTest, MillionContinuationsOnAPendingPromise) {
  constexpr int kLinks = 1000000;
  Promise<int> p;
  Future<int> f = p.future();
  for (int i = 0; i < kLinks; ++i) {
    f = f.Then([](int v) { return v + 1; });
  }
  ASSERT_TRUE(p.SetValue(0).ok());
  EXPECT_TRUE(f.done());  // All ran before SetValue returned.
  EXPECT_EQ(*f.ResultFor(kBound), kLinks);
}

// The same with continuations that take the future, and an error passed
// along the whole chain.
TEST(FutureChainTest, LongChainPassesAnErrorThrough) {
  constexpr int kLinks = 200000;
  Promise<int> p;
  Future<int> f = p.future();
  for (int i = 0; i < kLinks; ++i) {
    f = f.Then([](int v) { return v + 1; });
  }
  ASSERT_TRUE(p.SetError(absl::InternalError("root failed")).ok());
  absl::StatusOr<int> r = f.ResultFor(kBound);
  EXPECT_EQ(r.status(), absl::InternalError("root failed"));
}

// A long chain of plain done callbacks, each setting the next promise.
TEST(FutureChainTest, CallbacksSettingPromisesInAChain) {
  constexpr int kLinks = 200000;
  std::vector<Promise<int>> promises(kLinks + 1);
  for (int i = 0; i < kLinks; ++i) {
    promises[i].future().AddDoneCallback([&promises, i](const Future<int>& f) {
      promises[i + 1].SetValue(*f.Result() + 1).IgnoreError();
    });
  }
  ASSERT_TRUE(promises[0].SetValue(0).ok());
  EXPECT_EQ(*promises[kLinks].future().ResultFor(kBound), kLinks);
}

// Order: a future's callbacks run oldest first; what they complete runs
// after the current callback returns, in the order it was completed.
TEST(FutureChainTest, NestedCompletionsRunAfterTheCurrentCallbackInOrder) {
  std::vector<std::string> log;
  Promise<void> root;
  Promise<void> child;
  child.future().AddDoneCallback([&] { log.push_back("child-1"); });
  child.future().AddDoneCallback([&] { log.push_back("child-2"); });
  root.future().AddDoneCallback([&] {
    log.push_back("root-1 begin");
    ASSERT_TRUE(child.SetValue().ok());
    // Waiters of `child` are woken at once; its callbacks wait for us.
    EXPECT_TRUE(child.future().done());
    log.push_back("root-1 end");
  });
  root.future().AddDoneCallback([&] { log.push_back("root-2"); });
  ASSERT_TRUE(root.SetValue().ok());
  EXPECT_THAT(log, ElementsAre("root-1 begin", "root-1 end", "root-2",
                               "child-1", "child-2"));
}

// A callback added inside a callback to a future that is already done runs
// at once, as documented.
TEST(FutureChainTest, CallbackOnADoneFutureInsideACallbackRunsAtOnce) {
  std::vector<std::string> log;
  Promise<void> done_one;
  ASSERT_TRUE(done_one.SetValue().ok());
  Promise<void> root;
  root.future().AddDoneCallback([&] {
    done_one.future().AddDoneCallback([&] { log.push_back("inner"); });
    log.push_back("outer end");
  });
  ASSERT_TRUE(root.SetValue().ok());
  EXPECT_THAT(log, ElementsAre("inner", "outer end"));
}

// A chain whose futures are dropped as it is built: the trampoline keeps
// each queued state alive until its callbacks ran.
TEST(FutureChainTest, DroppedIntermediateFuturesStayAliveUntilRun) {
  Promise<std::string> p;
  Future<std::string> last =
      p.future()
          .Then([](const std::string& s) { return s + "b"; })
          .Then([](const std::string& s) { return s + "c"; })
          .Then([](const std::string& s) { return s + "d"; });
  ASSERT_TRUE(p.SetValue("a").ok());
  EXPECT_EQ(*last.ResultFor(kBound), "abcd");
}

}  // namespace
}  // namespace spindle
