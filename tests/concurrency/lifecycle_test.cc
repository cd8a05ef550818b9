// Copyright 2026 The spindle Authors.
//
// The process life cycle around threads and pools, as CPython's threading
// and concurrent.futures handle it: exit() waits for non-daemon threads
// (also those started while it waits) and for leaked pools' queued tasks;
// a child forked from a threaded parent describes itself (one thread) and
// its exit() returns.

#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "spindle/concurrency/future.h"
#include "spindle/concurrency/status.h"
#include "spindle/concurrency/thread.h"
#include "spindle/concurrency/thread_pool.h"
#include "tests/test_util.h"

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
// The fork tests start threads in a child of a threaded parent, which
// ThreadSanitizer refuses by default.
extern "C" const char* __tsan_default_options() { return "die_after_fork=0"; }
#endif
#endif

namespace spindle {
namespace {

constexpr absl::Duration kBound = absl::Seconds(60);

// Opened by an atexit handler registered after spindle's own, so it runs
// first: work gated on it runs only once exit() has begun. Leaked: threads
// use it while the process exits.
absl::Notification* const exit_began = new absl::Notification();

void OpenGateAtExit() {
  std::atexit([] { exit_began->Notify(); });
}

void Say(const char* line) {
  std::fputs(line, stderr);
  std::fflush(stderr);
}

// Threads and pools these tests leak on purpose, kept reachable so that
// LeakSanitizer does not report them.
Thread* leaked_threads[4] = {};
ThreadPoolExecutor* leaked_pool = nullptr;

// A forked child's exit code, once set. The handler is registered during
// static initialisation, before spindle registers its own at-exit handler
// (lazily), so it runs after spindle's and before LeakSanitizer's: a child
// thus goes through spindle's exit step, then ends without a leak check,
// which would report what only the parent's threads (absent in the child)
// still refer to.
//
// The same handler checks that spindle's step waited for the late thread.
int child_exit_code = -1;
std::atomic<bool> late_thread_expected{false};
std::atomic<bool> late_thread_done{false};
[[maybe_unused]] const bool kChildExitInstalled = [] {
  std::atexit([] {
    if (child_exit_code >= 0) _exit(child_exit_code);
    if (late_thread_expected.load() && !late_thread_done.load()) {
      Say("exit() went on before the late thread finished\n");
      _exit(3);
    }
  });
  return true;
}();

// A non-daemon thread that, once exit() has begun, starts another one: the
// late thread must be waited for too.
void ThreadStartedDuringExit() {
  Thread* first = leaked_threads[0] = new Thread({.name = "first"}, [] {
    exit_began->WaitForNotificationWithTimeout(kBound);
    Thread* late = leaked_threads[1] = new Thread({.name = "late"}, [] {
      // Finish only after `first` is gone, when a single snapshot of the
      // running threads would no longer include us.
      const absl::Time deadline = absl::Now() + kBound;
      while (absl::Now() < deadline) {
        bool first_alive = false;
        for (const ThreadHandle& t : Enumerate()) {
          if (t.name() == "first") first_alive = true;
        }
        if (!first_alive) break;
        std::this_thread::yield();
      }
      Say("late thread done\n");
      late_thread_done.store(true);
    });
    if (!late->Start().ok()) Say("late thread did not start\n");
  });
  late_thread_expected.store(true);
  if (!first->Start().ok()) Say("first thread did not start\n");
  OpenGateAtExit();
  std::exit(0);
}

TEST(LifecycleDeathTest, ExitWaitsForThreadsStartedWhileItWaits) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(ThreadStartedDuringExit(), testing::ExitedWithCode(0),
              "late thread done");
}

// A leaked pool (never shut down, never destroyed) still runs its queued
// tasks at exit, and new pools refuse work once exit() has begun.
void LeakedPoolAtExit() {
  ThreadPoolExecutor* pool = leaked_pool =
      new ThreadPoolExecutor({.max_workers = 1});
  pool->Submit([] {
    exit_began->WaitForNotificationWithTimeout(kBound);
    Say("first task ran\n");
    // The gate opens just before spindle's exit handler starts, so the
    // refusal may lag the gate by a moment: retry until refused (bounded:
    // a pool that never refuses fails the test).
    ThreadPoolExecutor late({.max_workers = 1});
    const absl::Time deadline = absl::Now() + kBound;
    while (absl::Now() < deadline) {
      if (IsShutDown(late.Submit([] {}).ResultFor(kBound))) {
        Say("new work refused during exit\n");
        break;
      }
      std::this_thread::yield();
    }
  });
  pool->Submit([] { Say("queued task ran\n"); });
  OpenGateAtExit();
  std::exit(0);
}

TEST(LifecycleDeathTest, ExitRunsALeakedPoolsQueuedTasks) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(LeakedPoolAtExit(), testing::ExitedWithCode(0),
              "first task ran.*new work refused during exit.*queued task ran");
}

// A leaked pool whose task starts a non-daemon thread during exit, and a
// thread that submits to a leaked pool before exit: both waited for.
void PoolAndThreadsInterleavedAtExit() {
  ThreadPoolExecutor* pool = leaked_pool =
      new ThreadPoolExecutor({.max_workers = 2});
  pool->Submit([] {
    exit_began->WaitForNotificationWithTimeout(kBound);
    Thread* t = leaked_threads[2] = new Thread(
        {.name = "from-pool"}, [] { Say("thread from pool task done\n"); });
    if (!t->Start().ok()) Say("thread did not start\n");
  });
  OpenGateAtExit();
  std::exit(0);
}

TEST(LifecycleDeathTest, ExitWaitsForAThreadStartedByAPoolTask) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(PoolAndThreadsInterleavedAtExit(), testing::ExitedWithCode(0),
              "thread from pool task done");
}

// Bits of the child's exit code: which check failed.
enum ChildCheck {
  kActiveCount = 1 << 0,
  kEnumerate = 1 << 1,
  kParentThreadAlive = 1 << 2,
  kInheritedPoolAccepted = 1 << 3,
  kNewPoolFailed = 1 << 4,
  kNewThreadFailed = 1 << 5,
  kMainThread = 1 << 6,
};

TEST(LifecycleForkTest, ChildOfAThreadedParentDescribesItselfAndExits) {
  absl::Notification stop;
  Thread worker({.name = "parent-worker"},
                [&] { stop.WaitForNotificationWithTimeout(kBound); });
  ASSERT_TRUE(worker.Start().ok());
  ThreadPoolExecutor pool({.max_workers = 2});
  ASSERT_EQ(*pool.Submit([] { return 1; }).ResultFor(kBound), 1);
  ASSERT_GE(ActiveCount(), 2);

  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    int code = 0;
    if (ActiveCount() != 1) code |= kActiveCount;
    std::vector<ThreadHandle> threads = Enumerate();
    if (threads.size() != 1 || threads[0].native_id() != getpid() ||
        !threads[0].is_main()) {
      code |= kEnumerate;
    }
    if (worker.IsAlive()) code |= kParentThreadAlive;
    if (!IsShutDown(pool.Submit([] { return 1; }).ResultFor(kBound).status())) {
      code |= kInheritedPoolAccepted;
    }
    {
      ThreadPoolExecutor own({.max_workers = 1});
      absl::StatusOr<int> r = own.Submit([] { return 2; }).ResultFor(kBound);
      if (!r.ok() || *r != 2) code |= kNewPoolFailed;
    }
    bool ran = false;
    Thread mine({.name = "child-thread"}, [&] { ran = true; });
    if (!mine.Start().ok() || !mine.JoinFor(kBound) || !ran) {
      code |= kNewThreadFailed;
    }
    if (MainThread().native_id() != getpid() ||
        CurrentThread().native_id() != getpid()) {
      code |= kMainThread;
    }
    // exit() runs spindle's at-exit step: it must not wait for the parent's
    // `worker` (which does not exist here) nor for the inherited pool.
    child_exit_code = code;
    std::exit(code);
  }
  const int status = test_util::WaitChild(pid, kBound);
  stop.Notify();
  ASSERT_NE(status, -1) << "the child hung (exit() waited for the parent's "
                           "threads?)";
  ASSERT_TRUE(WIFEXITED(status)) << "child wait status " << status;
  EXPECT_EQ(WEXITSTATUS(status), 0) << "failed child checks (bits of "
                                       "ChildCheck)";
}

// A forked child joining a copy of a parent's Thread returns at once (the
// thread does not exist there), as Python's join of a stopped thread does.
TEST(LifecycleForkTest, ChildJoinOfAParentThreadReturns) {
  absl::Notification stop;
  Thread worker({.name = "busy"},
                [&] { stop.WaitForNotificationWithTimeout(kBound); });
  ASSERT_TRUE(worker.Start().ok());
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    bool joined = worker.JoinFor(absl::Seconds(30));
    _exit(joined && !worker.IsAlive() ? 0 : 1);
  }
  const int status = test_util::WaitChild(pid, kBound);
  stop.Notify();
  ASSERT_NE(status, -1) << "the child hung";
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace spindle
