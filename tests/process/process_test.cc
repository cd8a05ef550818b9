// Copyright 2026 The spindle Authors.
//
// Tests for spindle::Process, following CPython's test_multiprocessing
// (_TestProcess: exit codes, terminate, kill, join timeouts, is_alive, pid,
// daemon children, start twice).
//
// Children block on pipes the test controls, never on sleeps, except where
// the sleep is the subject (terminating a sleeping child). Every wait is
// bounded by test_util::kBound. The test process stays single-threaded at
// every fork (ThreadSanitizer supports fork only from a single-threaded
// process); the one multi-threaded test creates its threads after the fork.

#include "spindle/process/process.h"

#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "spindle/concurrency/status.h"
#include "spindle/process/connection.h"
#include "tests/test_util.h"

namespace spindle {
namespace {

using test_util::CountOpenFds;
using test_util::kBound;

// A one-way pipe: `r` receives, `w` sends.
struct Channel {
  Connection r;
  Connection w;
};

Channel MakeChannel() {
  auto p = Pipe(/*duplex=*/false);
  EXPECT_TRUE(p.ok()) << p.status();
  return Channel{std::move(p->first), std::move(p->second)};
}

// Blocks the child until the parent sends a message (or closes the pipe).
void WaitForGo(Connection& r) { (void)r.RecvBytes(); }

// Receives one message within kBound.
std::string RecvBounded(Connection& c) {
  auto ready = c.Poll(kBound);
  EXPECT_TRUE(ready.ok() && *ready) << "no message within the bound";
  if (!ready.ok() || !*ready) return "";
  auto got = c.RecvBytes();
  EXPECT_TRUE(got.ok()) << got.status();
  return got.ok() ? *got : "";
}

int PidfdOpen(pid_t pid) {
  return static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
}

// Whether `pid` (which must not have been reaped) is a zombie or gone.
bool HasExited(pid_t pid) {
  siginfo_t info = {};
  if (waitid(P_PID, static_cast<id_t>(pid), &info,
             WEXITED | WNOHANG | WNOWAIT) != 0) {
    return errno == ECHILD;
  }
  return info.si_pid == pid;
}

// ---- Exit codes -----------------------------------------------------------

TEST(ProcessTest, VoidFunctionExitsZero) {
  Process p([] {});
  ASSERT_OK(p.Start());
  ASSERT_TRUE(p.JoinFor(kBound));
  EXPECT_EQ(p.exitcode(), 0);
}

TEST(ProcessTest, ReturnedIntIsTheExitCode) {
  Process p([](int n) { return n; }, 7);
  ASSERT_OK(p.Start());
  ASSERT_TRUE(p.JoinFor(kBound));
  EXPECT_EQ(p.exitcode(), 7);
}

TEST(ProcessTest, ExitCodeKeepsTheLowEightBits) {
  Process p([] { return 256 + 3; });
  ASSERT_OK(p.Start());
  ASSERT_TRUE(p.JoinFor(kBound));
  EXPECT_EQ(p.exitcode(), 3);
}

TEST(ProcessTest, UnderscoreExitCodeIsTheExitCode) {
  Process p([] { _exit(5); });
  ASSERT_OK(p.Start());
  ASSERT_TRUE(p.JoinFor(kBound));
  EXPECT_EQ(p.exitcode(), 5);
}

TEST(ProcessTest, ExitCallInsideTheChildIsTheExitCode) {
  Process p([] { std::exit(4); });
  ASSERT_OK(p.Start());
  ASSERT_TRUE(p.JoinFor(kBound));
  EXPECT_EQ(p.exitcode(), 4);
}

TEST(ProcessTest, ExitInTheChildLeavesTheParentsProcessObjectAlone) {
  // exit() in the child runs static destructors there, including that of
  // the child's copy of this very Process (mid-Start in that copy): it must
  // neither hang nor touch the parent's child.
  static Process p([] { std::exit(6); });
  ASSERT_OK(p.Start());
  ASSERT_TRUE(p.JoinFor(kBound));
  EXPECT_EQ(p.exitcode(), 6);
}

TEST(ProcessTest, UncaughtExceptionExitsOneAndNamesTheProcess) {
  Channel err = MakeChannel();
  // The child points its stderr at the pipe, then throws.
  Process p(Process::Options{.name = "worker"}, [&err] {
    dup2(err.w.fileno(), STDERR_FILENO);
    throw std::runtime_error("boom");
  });
  ASSERT_OK(p.Start());
  ASSERT_TRUE(p.JoinFor(kBound));
  EXPECT_EQ(p.exitcode(), 1);
  err.w.Close();
  // Not a framed message: read the raw bytes.
  std::string text;
  char buf[256];
  ssize_t n;
  while ((n = read(err.r.fileno(), buf, sizeof buf)) > 0) {
    text.append(buf, static_cast<size_t>(n));
  }
  EXPECT_EQ(text, "Process worker: boom\n");
}

TEST(ProcessTest, NonStandardExceptionExitsOne) {
  Process p([] { throw 42; });
  ASSERT_OK(p.Start());
  ASSERT_TRUE(p.JoinFor(kBound));
  EXPECT_EQ(p.exitcode(), 1);
}

TEST(ProcessTest, KillGivesMinusSigkill) {
  Channel go = MakeChannel();
  Process p([&go] { WaitForGo(go.r); });
  ASSERT_OK(p.Start());
  ASSERT_OK(p.Kill());
  ASSERT_TRUE(p.JoinFor(kBound));
  EXPECT_EQ(p.exitcode(), -SIGKILL);
}

TEST(ProcessTest, TerminateOfASleepingChildGivesMinusSigterm) {
  Process p([] {
    // Sleeping is the point here: terminate() interrupts a sleeping child.
    absl::SleepFor(absl::Seconds(60));
  });
  ASSERT_OK(p.Start());
  ASSERT_TRUE(p.IsAlive());
  const absl::Time start = absl::Now();
  ASSERT_OK(p.Terminate());
  ASSERT_TRUE(p.JoinFor(kBound));
  EXPECT_LT(absl::Now() - start, absl::Seconds(30));
  EXPECT_EQ(p.exitcode(), -SIGTERM);
  EXPECT_FALSE(p.IsAlive());
}

TEST(ProcessTest, SignalsBeforeStartFailAndAfterExitAreNoOps) {
  Process p([] {});
  EXPECT_TRUE(IsShutDown(p.Terminate()));
  EXPECT_TRUE(IsShutDown(p.Kill()));
  ASSERT_OK(p.Start());
  p.Join();
  EXPECT_OK(p.Terminate());
  EXPECT_OK(p.Kill());
  EXPECT_EQ(p.exitcode(), 0);
}

TEST(ProcessTest, ManyProcessesTerminatedAndJoined) {
  // CPython's test_many_processes: start many, terminate them all, join.
  Channel go = MakeChannel();  // never sent to
  std::vector<Process> procs;
  for (int i = 0; i < 20; ++i) {
    procs.emplace_back([&go] { WaitForGo(go.r); });
    ASSERT_OK(procs.back().Start());
  }
  for (Process& p : procs) EXPECT_TRUE(p.IsAlive());
  for (Process& p : procs) ASSERT_OK(p.Terminate());
  for (Process& p : procs) {
    ASSERT_TRUE(p.JoinFor(kBound));
    EXPECT_EQ(p.exitcode(), -SIGTERM);
  }
}

// ---- Join, IsAlive, pid
// ------------------------------------------------------

TEST(ProcessTest, JoinForHonoursItsTimeoutWhileTheChildIsBlocked) {
  Channel go = MakeChannel();
  Process p([&go] { WaitForGo(go.r); });
  ASSERT_OK(p.Start());
  // The timeout is what is measured here.
  const absl::Duration timeout = absl::Milliseconds(200);
  const absl::Time start = absl::Now();
  EXPECT_FALSE(p.JoinFor(timeout));
  const absl::Duration waited = absl::Now() - start;
  EXPECT_GE(waited, timeout - absl::Milliseconds(5));
  EXPECT_LT(waited, timeout + absl::Seconds(5));
  EXPECT_TRUE(p.IsAlive());
  EXPECT_EQ(p.exitcode(), std::nullopt);
  EXPECT_FALSE(p.JoinFor(absl::ZeroDuration()));
  EXPECT_FALSE(p.JoinFor(-absl::Seconds(1)));
  ASSERT_OK(go.w.SendBytes("go"));
  ASSERT_TRUE(p.JoinFor(kBound));
  EXPECT_EQ(p.exitcode(), 0);
}

TEST(ProcessTest, JoinForWakesWhenTheChildExitsNotAtTheTimeout) {
  Channel go = MakeChannel();
  Process p([&go] { WaitForGo(go.r); });
  ASSERT_OK(p.Start());
  ASSERT_OK(go.w.SendBytes("go"));
  const absl::Time start = absl::Now();
  ASSERT_TRUE(p.JoinFor(absl::Seconds(60)));
  EXPECT_LT(absl::Now() - start, absl::Seconds(30));
}

TEST(ProcessTest, IsAliveTransitions) {
  Channel go = MakeChannel();
  Process p([&go] { WaitForGo(go.r); });
  EXPECT_FALSE(p.IsAlive());
  EXPECT_EQ(p.exitcode(), std::nullopt);
  ASSERT_OK(p.Start());
  EXPECT_TRUE(p.IsAlive());
  EXPECT_EQ(p.exitcode(), std::nullopt);
  ASSERT_OK(go.w.SendBytes("go"));
  p.Join();
  EXPECT_FALSE(p.IsAlive());
  EXPECT_EQ(p.exitcode(), 0);
}

TEST(ProcessTest, IsAliveReapsAnExitedChild) {
  Process p([] {});
  ASSERT_OK(p.Start());
  // Wait for the exit without Process's help: our own pidfd on the child.
  const int pidfd = PidfdOpen(p.pid());
  if (pidfd < 0) GTEST_SKIP() << "pidfd_open unavailable";
  struct pollfd pfd = {pidfd, POLLIN, 0};
  ASSERT_EQ(poll(&pfd, 1, static_cast<int>(absl::ToInt64Milliseconds(kBound))),
            1);
  close(pidfd);
  EXPECT_EQ(p.exitcode(), std::nullopt);  // exitcode() alone does not reap
  EXPECT_FALSE(p.IsAlive());
  EXPECT_EQ(p.exitcode(), 0);
  // Reaped: no zombie is left.
  EXPECT_EQ(waitpid(p.pid(), nullptr, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD);
}

TEST(ProcessTest, PidIsZeroBeforeStartAndTheChildsPidAfter) {
  Channel out = MakeChannel();
  Process p([&out] { (void)out.w.SendBytes(absl::StrCat(getpid())); });
  EXPECT_EQ(p.pid(), 0);
  ASSERT_OK(p.Start());
  EXPECT_NE(p.pid(), 0);
  EXPECT_NE(p.pid(), getpid());
  EXPECT_EQ(RecvBounded(out.r), absl::StrCat(p.pid()));
  p.Join();
  EXPECT_NE(p.pid(), 0);  // kept after the reap
}

TEST(ProcessTest, StartTwiceFails) {
  Process p([] {});
  ASSERT_OK(p.Start());
  absl::Status again = p.Start();
  EXPECT_TRUE(IsShutDown(again)) << again;
  p.Join();
  EXPECT_TRUE(IsShutDown(p.Start()));
  EXPECT_EQ(p.exitcode(), 0);
}

TEST(ProcessDeathTest, JoinOfAnUnstartedProcessCrashes) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        Process p([] {});
        p.Join();
      },
      "never started");
  EXPECT_DEATH(
      {
        Process p([] {});
        p.JoinFor(absl::Milliseconds(1));
      },
      "never started");
}

TEST(ProcessTest, ManyThreadsMayJoinTheSameChild) {
  Channel go = MakeChannel();
  Process p([&go] { WaitForGo(go.r); });
  ASSERT_OK(p.Start());
  // Threads are created after the fork (see the file comment).
  std::vector<int> joined(4, 0);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&p, &joined, i] {
      joined[static_cast<size_t>(i)] = p.JoinFor(kBound) ? 1 : 0;
    });
  }
  std::thread alive([&p] {
    for (int i = 0; i < 100; ++i) (void)p.IsAlive();
  });
  ASSERT_OK(go.w.SendBytes("go"));
  for (auto& t : threads) t.join();
  alive.join();
  EXPECT_EQ(joined, std::vector<int>(4, 1));
  EXPECT_EQ(p.exitcode(), 0);
}

TEST(ProcessTest, ChildOfAMultiThreadedParentCanUseItsConnection) {
  // Another thread holds a lock at the time of the fork: in the child that
  // lock stays locked forever, but what the child was given (a Connection)
  // works. See "Fork and threads" in process.h.
  std::mutex held;
  Channel release = MakeChannel();
  Channel locked = MakeChannel();
  std::thread holder([&] {
    std::lock_guard<std::mutex> l(held);
    (void)locked.w.SendBytes("locked");
    (void)release.r.RecvBytes();
  });
  ASSERT_EQ(RecvBounded(locked.r), "locked");
  Channel out = MakeChannel();
  Process p([&out, &held] {
    const bool lock_is_stuck = !held.try_lock();
    return out.w.SendBytes(lock_is_stuck ? "stuck" : "free").ok() ? 0 : 1;
  });
  ASSERT_OK(p.Start());
  EXPECT_EQ(RecvBounded(out.r), "stuck");
  ASSERT_TRUE(p.JoinFor(kBound));
  EXPECT_EQ(p.exitcode(), 0);
  ASSERT_OK(release.w.SendBytes("go"));
  holder.join();
}

TEST(ProcessTest, DaemonStartedOnAnotherThreadOutlivesThatThread) {
  // PR_SET_PDEATHSIG fires when the forking *thread* exits, so spindle arms
  // it only on the main thread: a daemon started from a short-lived thread
  // must not die with that thread.
  Channel go = MakeChannel();
  Channel running = MakeChannel();
  std::optional<Process> p;
  absl::Status started;
  std::thread starter([&] {
    p.emplace(Process::Options{.daemon = true}, [&go, &running] {
      (void)running.w.SendBytes("running");
      WaitForGo(go.r);
    });
    started = p->Start();
    // The thread ends only once the child runs its function (after the
    // point where spindle would arm PDEATHSIG).
    if (started.ok()) {
      EXPECT_EQ(RecvBounded(running.r), "running");
    }
  });
  starter.join();  // the forking thread is gone
  ASSERT_OK(started);
  // Had PDEATHSIG been armed the child would now be dying of SIGKILL.
  EXPECT_FALSE(p->JoinFor(absl::Milliseconds(200)));
  EXPECT_TRUE(p->IsAlive());
  ASSERT_OK(go.w.SendBytes("go"));
  ASSERT_TRUE(p->JoinFor(kBound));
  EXPECT_EQ(p->exitcode(), 0);
}

// ---- Names, options, moves, subclasses
// ----------------------------------------

TEST(ProcessTest, NamesAndDaemonFlag) {
  Process a([] {});
  Process b([] {});
  EXPECT_EQ(a.name().rfind("Process-", 0), 0u) << a.name();
  EXPECT_NE(a.name(), b.name());
  EXPECT_FALSE(a.daemon());
  Process c(Process::Options{.name = "named", .daemon = true}, [] {});
  EXPECT_EQ(c.name(), "named");
  EXPECT_TRUE(c.daemon());
}

TEST(ProcessTest, ArgumentsAreCopiedIntoTheChild) {
  Channel out = MakeChannel();
  std::string word = "hello";
  Process p([&out](std::string s,
                   int n) { (void)out.w.SendBytes(absl::StrCat(s, n)); },
            word, 3);
  word = "changed";
  ASSERT_OK(p.Start());
  EXPECT_EQ(RecvBounded(out.r), "hello3");
  p.Join();
}

TEST(ProcessTest, AMovedProcessIsJoinedThroughItsNewOwner) {
  Channel go = MakeChannel();
  Process p([&go] {
    WaitForGo(go.r);
    return 9;
  });
  ASSERT_OK(p.Start());
  const pid_t pid = p.pid();
  Process q(std::move(p));
  EXPECT_EQ(q.pid(), pid);
  ASSERT_OK(go.w.SendBytes("go"));
  ASSERT_TRUE(q.JoinFor(kBound));
  EXPECT_EQ(q.exitcode(), 9);
}

class Doubler : public Process {
 public:
  Doubler(Connection* out, int n)
      : Process(Options{.name = "doubler"}), out_(out), n_(n) {}
  int Run() override {
    (void)out_->SendBytes(absl::StrCat(2 * n_));
    return n_;
  }

 private:
  Connection* out_;
  int n_;
};

TEST(ProcessTest, SubclassRunIsWhatTheChildRuns) {
  Channel out = MakeChannel();
  Doubler d(&out.w, 21);
  ASSERT_OK(d.Start());
  EXPECT_EQ(RecvBounded(out.r), "42");
  ASSERT_TRUE(d.JoinFor(kBound));
  EXPECT_EQ(d.exitcode(), 21);
  EXPECT_EQ(d.name(), "doubler");
}

// ---- Destruction
// ------------------------------------------------------------------

TEST(ProcessTest, DestroyingAStartedNonDaemonJoinsIt) {
  Channel go = MakeChannel();
  pid_t pid;
  {
    Process p([&go] { WaitForGo(go.r); });
    ASSERT_OK(p.Start());
    pid = p.pid();
    ASSERT_OK(go.w.SendBytes("go"));
  }                                               // waits for the child
  EXPECT_EQ(waitpid(pid, nullptr, WNOHANG), -1);  // reaped: no zombie
  EXPECT_EQ(errno, ECHILD);
}

TEST(ProcessTest, DestroyingAStartedDaemonTerminatesAndReapsIt) {
  Channel go = MakeChannel();  // never sent to: the child would wait forever
  int pidfd = -1;
  pid_t pid;
  {
    Process p(Process::Options{.daemon = true}, [&go] { WaitForGo(go.r); });
    ASSERT_OK(p.Start());
    pid = p.pid();
    pidfd = PidfdOpen(pid);
  }
  EXPECT_EQ(waitpid(pid, nullptr, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD);
  if (pidfd >= 0) {
    struct pollfd pfd = {pidfd, POLLIN, 0};
    EXPECT_EQ(poll(&pfd, 1, 0), 1);  // it is dead
    close(pidfd);
  }
}

TEST(ProcessTest, DestroyingADaemonThatIgnoresSigtermKillsIt) {
  Channel ready = MakeChannel();
  Channel go = MakeChannel();
  pid_t pid;
  const absl::Time start = absl::Now();
  {
    Process p(Process::Options{.daemon = true}, [&] {
      signal(SIGTERM, SIG_IGN);
      (void)ready.w.SendBytes("ignoring");
      WaitForGo(go.r);
    });
    ASSERT_OK(p.Start());
    pid = p.pid();
    EXPECT_EQ(RecvBounded(ready.r), "ignoring");
  }  // SIGTERM, the 2 s grace period, SIGKILL
  EXPECT_GE(absl::Now() - start, absl::Seconds(1));
  EXPECT_EQ(waitpid(pid, nullptr, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD);
}

TEST(ProcessTest, DestroyingAnUnstartedOrMovedFromProcessDoesNothing) {
  {
    Process p([] {});
  }
  Process a([] {});
  ASSERT_OK(a.Start());
  Process b(std::move(a));
  b.Join();
}

TEST(ProcessTest, StartAndJoinLeakNoDescriptors) {
  const int before = CountOpenFds();
  for (int i = 0; i < 20; ++i) {
    Process p([] {});
    ASSERT_OK(p.Start());
    ASSERT_TRUE(p.JoinFor(kBound));
  }
  EXPECT_EQ(CountOpenFds(), before);
}

// ---- Daemon children die with their parent
// -----------------------------------------
//
// A helper child starts a daemon grandchild that would block forever, reports
// its pid, and ends in one of three ways. The test process is a child
// subreaper, so the orphaned grandchild becomes its child and can be waited
// for (and cannot be reaped by init, so its pid cannot be reused).

enum class HelperEnd { kReturn, kExit, kUnderscoreExit };

// Returns how the grandchild died (its wait status), or -1.
int GrandchildFate(HelperEnd end) {
  EXPECT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  Channel out = MakeChannel();
  Process helper([&out, end] {
    Channel never = MakeChannel();
    Process grandchild(Process::Options{.name = "grandchild", .daemon = true},
                       [&never] { WaitForGo(never.r); });
    if (!grandchild.Start().ok()) return 2;
    (void)out.w.SendBytes(absl::StrCat(grandchild.pid()));
    switch (end) {
      case HelperEnd::kReturn:
        // Leak the Process so that its destructor (which would terminate
        // the daemon itself) does not run: what is tested is the child's
        // exit path, which terminates daemon children as Python's does.
        static Process* leaked = nullptr;
        leaked = new Process(std::move(grandchild));
        (void)leaked;
        return 0;
      case HelperEnd::kExit:
        std::exit(0);
      case HelperEnd::kUnderscoreExit:
        _exit(0);
    }
    return 3;
  });
  EXPECT_TRUE(helper.Start().ok());
  out.w.Close();
  pid_t gpid = 0;
  const std::string got = RecvBounded(out.r);
  EXPECT_TRUE(absl::SimpleAtoi(got, &gpid)) << got;
  EXPECT_TRUE(helper.JoinFor(kBound));
  EXPECT_EQ(helper.exitcode(), 0);
  int result = -1;
  if (gpid > 0) {
    // The helper has exited, so the grandchild is now our child.
    const int pidfd = PidfdOpen(gpid);
    if (pidfd >= 0) {
      struct pollfd pfd = {pidfd, POLLIN, 0};
      EXPECT_EQ(
          poll(&pfd, 1, static_cast<int>(absl::ToInt64Milliseconds(kBound))), 1)
          << "the daemon grandchild is still alive";
      close(pidfd);
    }
    if (!HasExited(gpid)) kill(gpid, SIGKILL);  // do not leak it
    int status = 0;
    if (waitpid(gpid, &status, 0) == gpid) result = status;
  }
  EXPECT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 0), 0);
  return result;
}

TEST(ProcessTest, DaemonGrandchildIsTerminatedWhenItsParentReturns) {
  const int status = GrandchildFate(HelperEnd::kReturn);
  ASSERT_TRUE(WIFSIGNALED(status)) << status;
  EXPECT_EQ(WTERMSIG(status), SIGTERM);
}

TEST(ProcessTest, DaemonGrandchildIsTerminatedWhenItsParentCallsExit) {
  const int status = GrandchildFate(HelperEnd::kExit);
  ASSERT_TRUE(WIFSIGNALED(status)) << status;
  EXPECT_EQ(WTERMSIG(status), SIGTERM);  // by the atexit handler
}

TEST(ProcessTest, DaemonGrandchildIsKilledWhenItsParentDiesAbruptly) {
  const int status = GrandchildFate(HelperEnd::kUnderscoreExit);
  ASSERT_TRUE(WIFSIGNALED(status)) << status;
  EXPECT_EQ(WTERMSIG(status), SIGKILL);  // PR_SET_PDEATHSIG
}

// ---- fork() while another thread holds a lock of spindle's
// -------------------

// No lock of spindle's is held across fork(): a fork made while another
// thread holds the daemon registry's lock neither waits for that thread nor
// leaves the lock locked in the child, which keeps a registry of its own
// (the parent's daemons are not its children).
TEST(ProcessTest, ForkWhileAnotherThreadHoldsTheDaemonRegistryLock) {
  Channel never = MakeChannel();
  Process daemon(Process::Options{.name = "parents-daemon", .daemon = true},
                 [&never] { WaitForGo(never.r); });
  ASSERT_TRUE(daemon.Start().ok());
  absl::Notification held, release;
  std::atomic<bool> holder_gave_up{false};
  std::thread holder([&] {
    process_internal::TestHooks::WithDaemonRegistryLocked([&] {
      held.Notify();
      if (!release.WaitForNotificationWithTimeout(kBound)) {
        holder_gave_up = true;
      }
    });
  });
  ASSERT_TRUE(held.WaitForNotificationWithTimeout(kBound));
  Channel out = MakeChannel();
  Process child([&out] {
    // Registers a daemon of its own, reaps it, and exits (the exit path
    // terminates the child's daemons: none left, and not the parent's).
    Channel never2 = MakeChannel();
    Process grandchild(Process::Options{.daemon = true},
                       [&never2] { WaitForGo(never2.r); });
    if (!grandchild.Start().ok()) return 2;
    if (!grandchild.Terminate().ok()) return 3;
    if (!grandchild.JoinFor(kBound)) return 4;
    (void)out.w.SendBytes("done");
    return 0;
  });
  ASSERT_TRUE(child.Start().ok());
  EXPECT_FALSE(holder_gave_up.load()) << "fork() waited for the lock";
  EXPECT_EQ(RecvBounded(out.r), "done");
  const bool exited = child.JoinFor(kBound);
  if (!exited) (void)child.Kill();
  EXPECT_TRUE(exited) << "the child hung";
  release.Notify();
  holder.join();
  if (exited) {
    EXPECT_EQ(child.exitcode(), 0);
  }
  EXPECT_TRUE(daemon.IsAlive()) << "the child's exit terminated our daemon";
}

}  // namespace
}  // namespace spindle
