// Copyright 2026 The spindle Authors.
//
// Tests for spindle::Thread and the thread-inspection functions (checklist
// section G).

#include "spindle/concurrency/thread.h"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "spindle/concurrency/event.h"
#include "tests/test_util.h"

namespace spindle {
namespace {

using test_util::Eventually;
using test_util::kBound;

bool Listed(const ThreadHandle& h) {
  std::vector<ThreadHandle> all = Enumerate();
  return std::find(all.begin(), all.end(), h) != all.end();
}

std::string OsName() {
  char buf[32] = {};
  pthread_getname_np(pthread_self(), buf, sizeof(buf));
  return buf;
}

TEST(ThreadTest, GivenNameIsKeptAndSetOnTheOsThread) {
  std::string os_name;
  Thread t({.name = "worker"}, [&] { os_name = OsName(); });
  EXPECT_EQ(t.name(), "worker");
  ASSERT_TRUE(t.Start().ok());
  t.Join();
  EXPECT_EQ(os_name, "worker");
}

TEST(ThreadTest, OsNameIsTruncatedTo15Bytes) {
  std::string os_name;
  Thread t({.name = "a-very-long-thread-name"}, [&] { os_name = OsName(); });
  ASSERT_TRUE(t.Start().ok());
  t.Join();
  EXPECT_EQ(t.name(), "a-very-long-thread-name");
  EXPECT_EQ(os_name, "a-very-long-thr");
}

TEST(ThreadTest, DefaultNameIsThreadN) {
  Thread a([] {});
  Thread b([] {});
  EXPECT_TRUE(absl::StartsWith(a.name(), "Thread-")) << a.name();
  EXPECT_TRUE(absl::StartsWith(b.name(), "Thread-")) << b.name();
  EXPECT_NE(a.name(), b.name());
}

TEST(ThreadTest, ArgumentsArePassed) {
  int got_int = 0;
  std::string got_string;
  std::vector<int> got_vector;
  Thread t(
      [&](int i, std::string s, const std::vector<int>& v) {
        got_int = i;
        got_string = s;
        got_vector = v;
      },
      42, std::string("hello"), std::vector<int>{1, 2, 3});
  ASSERT_TRUE(t.Start().ok());
  t.Join();
  EXPECT_EQ(got_int, 42);
  EXPECT_EQ(got_string, "hello");
  EXPECT_EQ(got_vector, (std::vector<int>{1, 2, 3}));
}

TEST(ThreadTest, ReferenceArgumentsWithStdRef) {
  int counter = 0;
  Thread t([](int& c) { c = 7; }, std::ref(counter));
  ASSERT_TRUE(t.Start().ok());
  t.Join();
  EXPECT_EQ(counter, 7);
}

TEST(ThreadTest, MoveOnlyArgumentsAndCallables) {
  auto p = std::make_unique<int>(5);
  int got = 0;
  Thread t([&got](std::unique_ptr<int> v) { got = *v; }, std::move(p));
  ASSERT_TRUE(t.Start().ok());
  t.Join();
  EXPECT_EQ(got, 5);
}

TEST(ThreadTest, IdentsAndNativeIds) {
  Event release;
  std::vector<Thread> threads;
  for (int i = 0; i < 10; ++i) {
    threads.emplace_back([&] { release.WaitFor(kBound); });
  }
  for (auto& t : threads) {
    EXPECT_EQ(t.ident(), 0u);  // Python: None before start.
    EXPECT_EQ(t.native_id(), 0);
  }
  for (auto& t : threads) ASSERT_TRUE(t.Start().ok());
  std::vector<int64_t> native_ids = {MainThread().native_id()};
  for (auto& t : threads) {
    EXPECT_NE(t.ident(), 0u);
    native_ids.push_back(t.native_id());
  }
  std::sort(native_ids.begin(), native_ids.end());
  EXPECT_EQ(std::unique(native_ids.begin(), native_ids.end()),
            native_ids.end());
  release.Set();
  for (auto& t : threads) t.Join();
}

TEST(ThreadTest, LifecycleStates) {
  Event release;
  Thread t([&] { release.WaitFor(kBound); });
  EXPECT_FALSE(t.IsAlive());  // initial
  ASSERT_TRUE(t.Start().ok());
  EXPECT_TRUE(t.IsAlive());  // started
  release.Set();
  // stopped shows up without a join.
  EXPECT_TRUE(Eventually([&] { return !t.IsAlive(); }));
  t.Join();
  EXPECT_FALSE(t.IsAlive());
}

TEST(ThreadTest, StartTwiceFails) {
  Thread t([] {});
  ASSERT_TRUE(t.Start().ok());
  absl::Status again = t.Start();
  EXPECT_TRUE(absl::IsFailedPrecondition(again)) << again;
  EXPECT_TRUE(absl::StrContains(again.message(), "only be started once"));
  t.Join();
  EXPECT_TRUE(absl::IsFailedPrecondition(t.Start()));
}

// Checklist G.119: when the OS cannot create the thread, Start() reports it,
// the function never runs, the thread is not alive or listed, and nothing is
// left half-started (the object is destroyed quietly).
TEST(ThreadTest, StartReportsTheOsRefusingToCreateTheThread) {
  const size_t active_before = ActiveCount();
  std::atomic<bool> ran{false};
  {
    // A stack larger than the whole 47-bit user address space: mmap must
    // fail, so pthread_create does (EAGAIN) whatever the overcommit policy.
    Thread t({.stack_size = size_t{1} << 47}, [&] { ran = true; });
    absl::Status s = t.Start();
    EXPECT_FALSE(s.ok());
    EXPECT_FALSE(absl::IsFailedPrecondition(s)) << s;
    EXPECT_FALSE(absl::IsInvalidArgument(s)) << s;
    EXPECT_TRUE(absl::StrContains(s.message(), "pthread_create")) << s;
    EXPECT_FALSE(t.IsAlive());
    EXPECT_EQ(ActiveCount(), active_before);
  }
  EXPECT_FALSE(ran.load());
}

TEST(ThreadTest, StackSizeBelowTheMinimumIsInvalidArgument) {
  Thread t({.stack_size = 1}, [] { FAIL() << "never started"; });
  absl::Status s = t.Start();
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_FALSE(t.IsAlive());
}

TEST(ThreadTest, CustomStackSizeIsUsed) {
  constexpr size_t kStack = size_t{4} << 20;
  size_t seen = 0;
  Thread t({.stack_size = kStack}, [&] {
    pthread_attr_t attr;
    ASSERT_EQ(pthread_getattr_np(pthread_self(), &attr), 0);
    ASSERT_EQ(pthread_attr_getstacksize(&attr, &seen), 0);
    pthread_attr_destroy(&attr);
  });
  ASSERT_TRUE(t.Start().ok());
  ASSERT_TRUE(t.JoinFor(kBound));
  // Sanitizers may enlarge stacks; never below what was asked for.
  EXPECT_GE(seen, kStack);
}

TEST(ThreadTest, JoinForTimesOutWhileTheThreadRuns) {
  Event release;
  Thread t([&] { release.WaitFor(kBound); });
  ASSERT_TRUE(t.Start().ok());
  // The timeout is the point: the thread is blocked.
  const absl::Time start = absl::Now();
  EXPECT_FALSE(t.JoinFor(absl::Milliseconds(100)));
  const absl::Duration waited = absl::Now() - start;
  EXPECT_GE(waited, absl::Milliseconds(100));
  EXPECT_LT(waited, absl::Seconds(5));
  EXPECT_FALSE(t.JoinFor(absl::ZeroDuration()));
  EXPECT_TRUE(t.IsAlive());
  release.Set();
  EXPECT_TRUE(t.JoinFor(kBound));
  EXPECT_FALSE(t.IsAlive());
  t.Join();  // Joining again is fine.
  EXPECT_TRUE(t.JoinFor(absl::ZeroDuration()));
}

TEST(ThreadTest, ManyThreadsJoinTheSameThread) {
  Event release;
  Thread target([&] { release.WaitFor(kBound); });
  ASSERT_TRUE(target.Start().ok());
  std::atomic<int> joined{0};
  std::vector<std::thread> joiners;
  for (int i = 0; i < 10; ++i) {
    joiners.emplace_back([&] {
      if (target.JoinFor(kBound)) joined.fetch_add(1);
    });
  }
  release.Set();
  for (auto& j : joiners) j.join();
  EXPECT_EQ(joined.load(), 10);
}

TEST(ThreadTest, CurrentAndMainThread) {
  ThreadHandle main = MainThread();
  EXPECT_EQ(main.name(), "MainThread");
  EXPECT_TRUE(main.is_main());
  EXPECT_TRUE(main.IsAlive());
  // gtest runs tests on the main thread.
  EXPECT_EQ(CurrentThread(), main);
  EXPECT_EQ(CurrentThread().ident(), main.ident());
  EXPECT_EQ(main.ident(), static_cast<uint64_t>(pthread_self()));

  ThreadHandle inside;
  uint64_t inside_main_ident = 0;
  Thread t({.name = "inner"}, [&] {
    inside = CurrentThread();
    inside_main_ident = MainThread().ident();
  });
  ASSERT_TRUE(t.Start().ok());
  t.Join();
  EXPECT_EQ(inside, t.handle());
  EXPECT_EQ(inside.name(), "inner");
  EXPECT_NE(inside.ident(), main.ident());
  EXPECT_EQ(inside_main_ident, main.ident());
}

TEST(ThreadTest, ForeignThreadsGetDummyRecords) {
  ThreadHandle dummy;
  bool listed_while_running = false;
  std::thread foreign([&] {
    dummy = CurrentThread();
    EXPECT_EQ(CurrentThread(), dummy);  // Same record on each call.
    listed_while_running = Listed(dummy);
    EXPECT_EQ(dummy.ident(), static_cast<uint64_t>(pthread_self()));
  });
  foreign.join();
  ASSERT_TRUE(dummy.valid());
  EXPECT_TRUE(dummy.is_dummy());
  EXPECT_TRUE(absl::StartsWith(dummy.name(), "Dummy-")) << dummy.name();
  EXPECT_TRUE(listed_while_running);
  // It left the registry when it exited.
  EXPECT_FALSE(Listed(dummy));
  EXPECT_FALSE(dummy.IsAlive());
}

TEST(ThreadTest, ActiveCountAndEnumerate) {
  const int before = ActiveCount();
  EXPECT_GE(before, 1);  // At least the main thread.
  EXPECT_TRUE(Listed(MainThread()));
  Event release;
  Thread t([&] { release.WaitFor(kBound); });
  EXPECT_FALSE(Listed(t.handle()));  // Not started yet.
  ASSERT_TRUE(t.Start().ok());
  EXPECT_TRUE(Listed(t.handle()));
  EXPECT_EQ(ActiveCount(), before + 1);
  release.Set();
  t.Join();
  EXPECT_FALSE(Listed(t.handle()));  // Never lists a joined thread.
  EXPECT_EQ(ActiveCount(), before);
}

TEST(ThreadTest, EnumerateNeverListsAJoinedThread) {
  for (int i = 0; i < 50; ++i) {
    Thread t([] {});
    ASSERT_TRUE(t.Start().ok());
    t.Join();
    ASSERT_FALSE(Listed(t.handle()));
  }
}

TEST(ThreadTest, DaemonFlag) {
  Thread normal([] {});
  EXPECT_FALSE(normal.daemon());
  Thread daemon({.daemon = true}, [] {});
  EXPECT_TRUE(daemon.daemon());
}

TEST(ThreadTest, NonDaemonThreadIsJoinedAtDestruction) {
  Event go;
  std::atomic<bool> finished{false};
  {
    Thread t([&] {
      go.WaitFor(kBound);
      finished.store(true);
    });
    ASSERT_TRUE(t.Start().ok());
    go.Set();
  }  // ~Thread joins.
  EXPECT_TRUE(finished.load());
}

TEST(ThreadTest, DaemonThreadIsDetachedAtDestruction) {
  auto release = std::make_shared<Event>();
  ThreadHandle h;
  {
    Thread t({.daemon = true}, [release] { release->WaitFor(kBound); });
    ASSERT_TRUE(t.Start().ok());
    h = t.handle();
  }  // Returns at once: detached.
  EXPECT_TRUE(h.IsAlive());
  release->Set();
  EXPECT_TRUE(Eventually([&] { return !h.IsAlive(); }));
}

TEST(ThreadTest, UnstartedThreadIsDestroyedQuietly) {
  Thread t([] { FAIL() << "never started"; });
}

TEST(ThreadTest, ThreadsCanBeMovedIntoContainers) {
  std::atomic<int> ran{0};
  std::vector<Thread> threads;
  for (int i = 0; i < 8; ++i) threads.emplace_back([&] { ran.fetch_add(1); });
  for (auto& t : threads) ASSERT_TRUE(t.Start().ok());
  for (auto& t : threads) t.Join();
  EXPECT_EQ(ran.load(), 8);
}

TEST(ThreadTest, CustomExceptHookReceivesTheException) {
  absl::Mutex mu;
  std::string what, thread_name;
  ExceptHook previous = SetExceptHook([&](const ExceptHookArgs& args) {
    absl::MutexLock l(&mu);
    thread_name = args.thread.name();
    try {
      std::rethrow_exception(args.exception);
    } catch (const std::exception& e) {
      what = e.what();
    }
  });
  Thread t({.name = "thrower"}, [] { throw std::runtime_error("kaboom"); });
  ASSERT_TRUE(t.Start().ok());
  t.Join();  // The process goes on; the thread ended normally.
  SetExceptHook(previous);
  absl::MutexLock l(&mu);
  EXPECT_EQ(what, "kaboom");
  EXPECT_EQ(thread_name, "thrower");
}

void ThrowWithDefaultHookAndExit() {
  SetExceptHook(nullptr);
  Thread t({.name = "boom"}, [] { throw std::runtime_error("kaboom"); });
  if (!t.Start().ok()) std::abort();
  t.Join();
  Thread u({.name = "odd"}, [] { throw 42; });
  if (!u.Start().ok()) std::abort();
  u.Join();
  std::exit(0);
}

TEST(ThreadDeathTest, DefaultExceptHookPrintsAndTheProcessGoesOn) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(ThrowWithDefaultHookAndExit(), testing::ExitedWithCode(0),
              "Exception in thread boom:\nkaboom\n"
              "Exception in thread odd:\nunknown exception");
}

void HookThatThrowsAndExit() {
  SetExceptHook([](const ExceptHookArgs&) { throw 1; });
  Thread t([] { throw std::runtime_error("x"); });
  if (!t.Start().ok()) std::abort();
  t.Join();
  std::exit(0);
}

TEST(ThreadDeathTest, ThrowingHookIsReportedAndIgnored) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(HookThatThrowsAndExit(), testing::ExitedWithCode(0),
              "Exception in spindle except hook");
}

TEST(ThreadDeathTest, JoinBeforeStartCrashes) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  Thread t([] {});
  EXPECT_DEATH(t.Join(), "before it is started");
  EXPECT_DEATH(t.JoinFor(absl::Seconds(1)), "before it is started");
}

void JoinSelf() {
  std::unique_ptr<Thread> t;
  absl::Notification made;
  t = std::make_unique<Thread>([&] {
    made.WaitForNotification();
    t->Join();
  });
  made.Notify();
  if (!t->Start().ok()) std::abort();
  t->Join();
}

TEST(ThreadDeathTest, JoinSelfCrashes) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(JoinSelf(), "cannot join itself");
}

void DaemonStillRunningAtExit() {
  // A daemon thread blocked forever does not keep the process alive, and
  // the process exits cleanly while it runs.
  auto* forever = new Event();
  auto* t = new Thread({.daemon = true}, [forever] { forever->Wait(); });
  if (!t->Start().ok()) std::abort();
  delete t;  // Detached.
  std::fprintf(stderr, "main done\n");
  std::exit(0);
}

TEST(ThreadDeathTest, DaemonThreadsDoNotBlockExit) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(DaemonStillRunningAtExit(), testing::ExitedWithCode(0),
              "main done");
}

Event* g_exit_release = nullptr;
void ReleaseAtExit() { g_exit_release->Set(); }

void LeakedNonDaemonIsWaitedForAtExit() {
  g_exit_release = new Event();
  // Never destroyed, so only the at-exit wait can wait for it.
  auto* t = new Thread({.name = "late"}, [] {
    g_exit_release->Wait();
    std::fprintf(stderr, "worker finished\n");
  });
  if (!t->Start().ok()) std::abort();
  // Runs before spindle's at-exit wait, which was registered first.
  std::atexit(ReleaseAtExit);
  std::exit(0);
}

TEST(ThreadDeathTest, ExitWaitsForNonDaemonThreads) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(LeakedNonDaemonIsWaitedForAtExit(), testing::ExitedWithCode(0),
              "worker finished");
}

}  // namespace
}  // namespace spindle
