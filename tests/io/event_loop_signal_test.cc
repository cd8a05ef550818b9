// Copyright 2026 The spindle Authors.
//
// Signal routing with several loops running at once.

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <functional>
#include <memory>
#include <thread>

#include "absl/functional/function_ref.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "spindle/io/event_loop.h"
#include "tests/test_util.h"

namespace spindle::io {
namespace {

constexpr absl::Duration kBound = absl::Seconds(20);

TEST(EventLoopSignalTest, BusyLoopDoesNotSwallowAnotherLoopsSignal) {
  // Loop A routes SIGUSR1; loop B does not and iterates as fast as it can.
  // Every signal must reach A (B used to consume a shared "some signal is
  // pending" flag, so A never looked).
  auto a = *EventLoop::Create();
  auto b = *EventLoop::Create();
  absl::Mutex mu;
  int delivered = 0;  // Guarded by mu.
  ASSERT_OK(a->AddSignalHandler(SIGUSR1, [&] {
    absl::MutexLock l(&mu);
    ++delivered;
  }));
  std::atomic<bool> stop_b{false};
  std::function<void()> spin = [&] {
    if (!stop_b.load()) b->CallSoon(spin);
  };
  b->CallSoon(spin);
  std::thread ta([&] { EXPECT_OK(a->RunForever()); });
  std::thread tb([&] { EXPECT_OK(b->RunForever()); });
  constexpr int kSignals = 200;
  int lost_at = 0;
  for (int i = 1; i <= kSignals && lost_at == 0; ++i) {
    ASSERT_EQ(kill(getpid(), SIGUSR1), 0);
    // Signals of one kind coalesce until dispatched: wait for this one.
    absl::MutexLock l(&mu);
    if (!mu.AwaitWithTimeout(absl::Condition(
                                 +[](int* n) { return *n > 0; }, &delivered),
                             kBound)) {
      lost_at = i;
    }
    delivered = 0;
  }
  EXPECT_EQ(lost_at, 0) << "signal " << lost_at << " never reached loop A";
  stop_b = true;
  a->Stop();
  b->Stop();
  ta.join();
  tb.join();
  EXPECT_TRUE(a->RemoveSignalHandler(SIGUSR1));
}

// --- races with the OS handler ---------------------------------------------

std::atomic<int> g_benign{0};
void BenignHandler(int) { g_benign.fetch_add(1, std::memory_order_relaxed); }

// Installs BenignHandler for `signo` and keeps it: it is the disposition the
// loops below replace and restore, so that a signal raised while no loop
// routes it does not kill the test.
void InstallBenignHandler(int signo) {
  struct sigaction sa = {};
  sa.sa_handler = &BenignHandler;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  ASSERT_EQ(sigaction(signo, &sa, nullptr), 0);
}

bool HasBenignHandler(int signo) {
  struct sigaction cur;
  return sigaction(signo, nullptr, &cur) == 0 &&
         cur.sa_handler == &BenignHandler;
}

// A thread raises the signal without pause (each OS handler runs on that
// thread) while this one routes it to a fresh loop, takes one delivery,
// un-routes it (by RemoveSignalHandler or by destruction) and destroys the
// loop. The OS handler must never touch a selector being or already
// destroyed: TSan reports a read of freed memory without happens-before,
// ASan a use after free, if RemoveSignalHandler returns while a handler
// still holds the selector.
TEST(EventLoopSignalTest, RemoveAndDestroyWaitOutHandlersOnOtherThreads) {
  InstallBenignHandler(SIGUSR2);
  std::atomic<bool> stop{false};
  std::thread raiser([&] {
    while (!stop.load(std::memory_order_relaxed)) raise(SIGUSR2);
  });
  constexpr int kRounds = 200;
  int delivered = 0;
  for (int i = 0; i < kRounds && !::testing::Test::HasFailure(); ++i) {
    auto made = EventLoop::Create();
    ASSERT_TRUE(made.ok()) << made.status();
    EventLoop& loop = **made;
    ASSERT_OK(loop.AddSignalHandler(SIGUSR2, [&] {
      ++delivered;
      loop.Stop();
    }));
    loop.CallLater(kBound, [&] {
      ADD_FAILURE() << "no signal reached the loop in round " << i;
      loop.Stop();
    });
    ASSERT_OK(loop.RunForever());
    if (i % 2 == 0) {
      EXPECT_TRUE(loop.RemoveSignalHandler(SIGUSR2));
      EXPECT_TRUE(HasBenignHandler(SIGUSR2));
    }
    made->reset();  // Un-routes it on odd rounds.
    EXPECT_TRUE(HasBenignHandler(SIGUSR2));
  }
  stop = true;
  raiser.join();
  EXPECT_EQ(delivered, kRounds);
}

// --- fork --------------------------------------------------------------------

// Runs `child` in a forked child process and returns its exit code (128 +
// the signal if it was killed). The child exits with what `child` returns,
// and is killed by SIGALRM if it hangs (it needs milliseconds), so the wait
// is bounded.
int RunInChild(absl::FunctionRef<int()> child) {
  const pid_t pid = fork();
  if (pid == 0) {
    alarm(20);
    _exit(child());
  }
  if (pid < 0) return -1;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// In a child: 0 if `signo` has its pre-loop disposition back and a new loop
// can route it and receive it; else a code saying what failed.
int RouteAndReceive(int signo) {
  if (!HasBenignHandler(signo)) return 10;
  auto made = EventLoop::Create();
  if (!made.ok()) return 11;
  EventLoop& loop = **made;
  bool got = false;
  if (!loop.AddSignalHandler(signo,
                             [&] {
                               got = true;
                               loop.Stop();
                             })
           .ok()) {
    return 12;
  }
  loop.CallLater(kBound, [&] { loop.Stop(); });
  raise(signo);
  if (!loop.RunForever().ok()) return 13;
  if (!got) return 14;
  if (!loop.RemoveSignalHandler(signo)) return 15;
  return HasBenignHandler(signo) ? 0 : 16;
}

// A child forked while a loop routes a signal starts with it un-routed: the
// disposition the loop replaced is back, a new loop may route it, and the
// parent's loop, copied into the child, may be destroyed there without
// un-routing the child's. The parent keeps its routing.
TEST(EventLoopSignalTest, ForkedChildStartsWithNoSignalRouted) {
  InstallBenignHandler(SIGUSR1);
  auto parent = *EventLoop::Create();
  int parent_got = 0;
  ASSERT_OK(parent->AddSignalHandler(SIGUSR1, [&] {
    ++parent_got;
    parent->Stop();
  }));
  const int rc = RunInChild([&] {
    if (const int r = RouteAndReceive(SIGUSR1); r != 0) return r;
    auto own = EventLoop::Create();
    if (!own.ok()) return 20;
    bool got = false;
    if (!(*own)->AddSignalHandler(SIGUSR1, [&] { got = true; }).ok()) {
      return 21;
    }
    parent.reset();  // The copy: it routes nothing here.
    raise(SIGUSR1);
    (*own)->Stop();
    if (!(*own)->RunForever().ok()) return 22;  // One iteration.
    return got ? 0 : 23;
  });
  EXPECT_EQ(rc, 0) << "child failed with code " << rc;
  parent->CallLater(kBound, [&] { parent->Stop(); });
  raise(SIGUSR1);
  ASSERT_OK(parent->RunForever());
  EXPECT_EQ(parent_got, 1);
  EXPECT_TRUE(parent->RemoveSignalHandler(SIGUSR1));
  EXPECT_TRUE(HasBenignHandler(SIGUSR1));
}

// Forks while other threads route, un-route and raise the signal: whatever
// state a fork catches (routing half done, a handler running on a thread the
// child does not have), the child can route the signal afresh and never
// hangs on state left by the parent's threads. (Those threads neither
// allocate nor lock while the forks happen, after a first round: a child
// could inherit a held allocator lock - ASan's allocator has no fork
// handlers - and hang for reasons that are not the event loop's.)
TEST(EventLoopSignalTest, ForkWhileOtherThreadsRouteAndRaise) {
  InstallBenignHandler(SIGUSR1);
  std::atomic<bool> stop{false};
  absl::Notification warmed_up;
  std::thread router([&] {
    auto loop = *EventLoop::Create();
    for (int round = 0; !stop.load(std::memory_order_relaxed); ++round) {
      EXPECT_OK(loop->AddSignalHandler(SIGUSR1, [] {}));
      EXPECT_TRUE(loop->RemoveSignalHandler(SIGUSR1));
      if (round == 0) warmed_up.Notify();
    }
  });
  std::thread raiser([&] {
    while (!stop.load(std::memory_order_relaxed)) raise(SIGUSR1);
  });
  const bool warm = warmed_up.WaitForNotificationWithTimeout(kBound);
  EXPECT_TRUE(warm);
  constexpr int kForks = 20;
  for (int i = 0; i < kForks && warm; ++i) {
    const int rc = RunInChild([] { return RouteAndReceive(SIGUSR1); });
    EXPECT_EQ(rc, 0) << "child " << i << " failed with code " << rc;
  }
  stop = true;
  router.join();
  raiser.join();
  EXPECT_TRUE(HasBenignHandler(SIGUSR1));
}

}  // namespace
}  // namespace spindle::io
