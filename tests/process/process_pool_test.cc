// Copyright 2026 The spindle Authors.
//
// Tests for ProcessPoolExecutor. CPython's test_concurrent_futures
// process-pool cases are the checklist where they apply (results, map,
// exceptions, initializer, max_tasks_per_child, shutdown with and without
// wait and cancel_futures, submit after shutdown); crash isolation is
// spindle's own (CPython breaks the whole pool). Cross-process
// synchronisation uses pipes created before the pool (workers inherit
// them), never sleeps.

#include "spindle/process/process_pool.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "spindle/concurrency/status.h"
#include "tests/test_util.h"

namespace spindle {
namespace {

using test_util::CountOpenFds;
using test_util::kBlockedFor;
using test_util::kBound;

// ---------------------------------------------------------------------------
// Tasks (plain functions: they run in worker processes).

std::string Upper(absl::string_view s) { return absl::AsciiStrToUpper(s); }
std::string Echo(absl::string_view s) { return std::string(s); }
std::string Pid(absl::string_view) { return absl::StrCat(getpid()); }
std::string Throw(absl::string_view s) {
  throw std::runtime_error(std::string(s));
}
std::string ThrowInt(absl::string_view) { throw 42; }
// Crashing tasks turn core dumps off first (no core files from tests).
void NoCoreDump() {
  struct rlimit none = {0, 0};
  setrlimit(RLIMIT_CORE, &none);
}
std::string Segv(absl::string_view) {
  NoCoreDump();
  raise(SIGSEGV);
  return "unreachable";
}
std::string Abort(absl::string_view) {
  NoCoreDump();
  abort();
}
std::string Exit3(absl::string_view) { _exit(3); }
std::string SigKill(absl::string_view) {
  kill(getpid(), SIGKILL);
  return "unreachable";
}
std::string Repeat(absl::string_view n) {
  size_t count = 0;
  if (!absl::SimpleAtoi(n, &count)) throw std::invalid_argument("count");
  return std::string(count, 'x');
}
int Square(int x) { return x * x; }

// "<started write fd> <release read fd>": tells the test it started (one
// byte on `started`), then waits (bounded) for one byte on `release`.
std::string Gate(absl::string_view arg) {
  std::vector<std::string> parts = absl::StrSplit(arg, ' ');
  int started = -1, release = -1;
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &started) ||
      !absl::SimpleAtoi(parts[1], &release)) {
    throw std::invalid_argument("gate arg");
  }
  char c = 's';
  if (write(started, &c, 1) != 1) throw std::runtime_error("write started");
  struct pollfd p = {release, POLLIN, 0};
  if (poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(kBound))) != 1) {
    throw std::runtime_error("gate timed out");
  }
  if (read(release, &c, 1) != 1) throw std::runtime_error("read release");
  return absl::StrCat("gated ", getpid());
}

std::atomic<size_t> busy_sink{0};  // Keeps busy loops from vanishing.
int init_value = 0;                // Set by the initializer, in workers only.
absl::Status SetInitValue() {
  init_value = 7;
  return absl::OkStatus();
}
std::string InitValue(absl::string_view) { return absl::StrCat(init_value); }
absl::Status FailingInit() { return absl::InternalError("init says no"); }
// The first worker to run it writes its pid to `stuck_init_file` and waits
// to be killed; the others find the file there and start normally.
char stuck_init_file[256] = "";
absl::Status StuckFirstInit() {
  const int fd =
      open(stuck_init_file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return absl::OkStatus();
  const std::string pid = absl::StrCat(getpid(), "\n");
  (void)!write(fd, pid.data(), pid.size());
  close(fd);
  for (;;) pause();
}
absl::Status ThrowingInit() { throw std::runtime_error("init threw"); }

// A task that runs a process pool of its own (nested pools): "<inner
// worker pid> <this worker's pid> <UPPER(arg)>", or "error: ..." .
std::string NestedPool(absl::string_view arg) {
  absl::StatusOr<std::unique_ptr<ProcessPoolExecutor>> inner =
      ProcessPoolExecutor::Create({.max_workers = 1});
  if (!inner.ok()) return absl::StrCat("error: ", inner.status().ToString());
  Future<std::string> upper = (*inner)->Submit(&Upper, std::string(arg));
  Future<std::string> pid = (*inner)->Submit(&Pid, "");
  absl::StatusOr<std::string> u = upper.ResultFor(kBound);
  absl::StatusOr<std::string> p = pid.ResultFor(kBound);
  if (!u.ok() || !p.ok()) {
    (*inner)->KillWorkers();
    return absl::StrCat("error: ", u.status().ToString(), " ",
                        p.status().ToString());
  }
  return absl::StrCat(*p, " ", getpid(), " ", *u);
}

// ---------------------------------------------------------------------------
// Helpers.

// Two pipes for Gate tasks: `started` (tasks write, the test reads) and
// `release` (the test writes, tasks read). Create before the pool.
class GatePipes {
 public:
  GatePipes() {
    EXPECT_EQ(pipe(started_), 0);
    EXPECT_EQ(pipe(release_), 0);
  }
  ~GatePipes() {
    for (int fd : {started_[0], started_[1], release_[0], release_[1]}) {
      close(fd);
    }
  }
  std::string arg() const {
    return absl::StrCat(started_[1], " ", release_[0]);
  }
  // Waits (bounded) until `n` tasks have started.
  bool WaitStarted(int n) {
    for (int i = 0; i < n; ++i) {
      struct pollfd p = {started_[0], POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(kBound))) !=
          1) {
        return false;
      }
      char c;
      if (read(started_[0], &c, 1) != 1) return false;
    }
    return true;
  }
  // True if another task has started (without waiting).
  bool AnotherStarted() {
    struct pollfd p = {started_[0], POLLIN, 0};
    return poll(&p, 1, 0) == 1;
  }
  void Release(int n) {
    for (int i = 0; i < n; ++i) {
      char c = 'r';
      EXPECT_EQ(write(release_[1], &c, 1), 1);
    }
  }

 private:
  int started_[2];
  int release_[2];
};

pid_t ToPid(const std::string& s) {
  pid_t pid = 0;
  EXPECT_TRUE(absl::SimpleAtoi(s, &pid)) << s;
  return pid;
}

// The pid no longer names a process, not even a zombie (it was reaped).
bool Gone(pid_t pid) { return kill(pid, 0) != 0 && errno == ESRCH; }

// The process is a zombie (dead, its descriptors closed, not yet reaped).
bool IsZombie(pid_t pid) {
  std::ifstream f(absl::StrCat("/proc/", pid, "/stat"));
  std::stringstream ss;
  ss << f.rdbuf();
  std::string stat = ss.str();
  size_t paren = stat.rfind(") ");
  return paren != std::string::npos && paren + 2 < stat.size() &&
         stat[paren + 2] == 'Z';
}

// The process and all its threads have exited (so its descriptors are
// closed), but it has not been reaped: a zombie leader with no other thread
// left. (A sanitizer runtime may run a thread of its own in the worker, and
// the leader turns zombie before the other threads are gone.)
bool IsDead(pid_t pid) {
  if (!IsZombie(pid)) return false;
  int tasks = 0;
  DIR* d = opendir(absl::StrCat("/proc/", pid, "/task").c_str());
  if (d == nullptr) return false;
  while (struct dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') ++tasks;
  }
  closedir(d);
  return tasks == 1;
}

// Pids whose parent is `parent` (from /proc).
std::vector<pid_t> ChildrenOf(pid_t parent) {
  std::vector<pid_t> out;
  DIR* d = opendir("/proc");
  if (d == nullptr) return out;
  while (struct dirent* e = readdir(d)) {
    pid_t pid;
    if (!absl::SimpleAtoi(e->d_name, &pid)) continue;
    std::ifstream f(absl::StrCat("/proc/", pid, "/stat"));
    std::stringstream ss;
    ss << f.rdbuf();
    std::string stat = ss.str();
    size_t paren = stat.rfind(") ");
    if (paren == std::string::npos) continue;
    std::vector<std::string> fields =
        absl::StrSplit(stat.substr(paren + 2), ' ');
    pid_t ppid;
    if (fields.size() > 1 && absl::SimpleAtoi(fields[1], &ppid) &&
        ppid == parent) {
      out.push_back(pid);
    }
  }
  closedir(d);
  return out;
}

std::string CommandLine(pid_t pid) {
  std::ifstream f(absl::StrCat("/proc/", pid, "/cmdline"));
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

ProcessPoolExecutor::Options Workers(int n) {
  ProcessPoolExecutor::Options o;
  o.max_workers = n;
  return o;
}

// ---------------------------------------------------------------------------
// Results.

TEST(ProcessPoolExecutorTest, SubmitReturnsTheTaskResult) {
  ProcessPoolExecutor pool(Workers(2));
  Future<std::string> f = pool.Submit(&Upper, "hello");
  absl::StatusOr<std::string> r = f.ResultFor(kBound);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "HELLO");
}

TEST(ProcessPoolExecutorTest, TaskRunsInAnotherProcess) {
  ProcessPoolExecutor pool(Workers(1));
  absl::StatusOr<std::string> r = pool.Submit(&Pid, "").ResultFor(kBound);
  ASSERT_TRUE(r.ok()) << r.status();
  pid_t worker = ToPid(*r);
  EXPECT_NE(worker, getpid());
  EXPECT_NE(worker, pool.fork_server_pid());
  EXPECT_EQ(pool.worker_pids(), std::vector<pid_t>{worker});
}

TEST(ProcessPoolExecutorTest, CaptureLessLambdaIsATask) {
  ProcessPoolExecutor pool(Workers(1));
  auto r = pool.Submit([](absl::string_view s) { return absl::StrCat(s, "!"); },
                       "hi")
               .ResultFor(kBound);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "hi!");
}

TEST(ProcessPoolExecutorTest, ManyTasksAllAnswered) {
  ProcessPoolExecutor pool(Workers(2));
  std::vector<Future<std::string>> fs;
  for (int i = 0; i < 200; ++i)
    fs.push_back(pool.Submit(&Echo, absl::StrCat(i)));
  for (int i = 0; i < 200; ++i) {
    auto r = fs[i].ResultFor(kBound);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(*r, absl::StrCat(i));
  }
  EXPECT_LE(pool.worker_pids().size(), 2u);
}

TEST(ProcessPoolExecutorTest, BinaryAndLargeMessagesRoundTrip) {
  ProcessPoolExecutor pool(Workers(1));
  std::string big(3 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 31);
  auto r = pool.Submit(&Echo, big).ResultFor(kBound);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(*r == big);
  r = pool.Submit(&Echo, "").ResultFor(kBound);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "");
}

TEST(ProcessPoolExecutorTest, TypedSubmitUsesTheCodec) {
  ProcessPoolExecutor pool(Workers(1));
  Future<int> f = pool.Submit(&Square, 12);
  absl::StatusOr<int> r = f.ResultFor(kBound);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, 144);
  Future<int> lambda = pool.Submit(
      +[](int x) { return x + 1; }, -5);
  r = lambda.ResultFor(kBound);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, -4);
}

TEST(ProcessPoolExecutorTest, MapReturnsResultsInOrder) {
  ProcessPoolExecutor pool(Workers(2));
  std::vector<std::string> inputs = {"a", "b", "c", "d", "e"};
  std::vector<std::string> out;
  for (const absl::StatusOr<std::string>& r :
       pool.Map(&Upper, inputs, kBound)) {
    ASSERT_TRUE(r.ok()) << r.status();
    out.push_back(*r);
  }
  EXPECT_EQ(out, (std::vector<std::string>{"A", "B", "C", "D", "E"}));
}

TEST(ProcessPoolExecutorTest, MapTimeoutEndsTheIterationAndCancelsTheRest) {
  GatePipes gate;
  ProcessPoolExecutor pool(Workers(1));
  std::vector<std::string> inputs = {gate.arg(), gate.arg()};
  // Times out (that is the point) while the first task waits on the gate.
  MapResults<std::string> results =
      pool.Map(&Gate, inputs, absl::Milliseconds(100));
  std::optional<absl::StatusOr<std::string>> first = results.Next();
  ASSERT_TRUE(first.has_value());
  EXPECT_TRUE(IsTimeout(first->status())) << first->status();
  EXPECT_FALSE(results.Next().has_value());
  EXPECT_TRUE(results.futures()[1].cancelled());
  ASSERT_TRUE(gate.WaitStarted(1));
  gate.Release(1);
  EXPECT_TRUE(results.futures()[0].ResultFor(kBound).ok());
}

TEST(ProcessPoolExecutorTest, IdleWorkerIsReusedForSequentialTasks) {
  ProcessPoolExecutor pool(Workers(4));
  std::vector<std::string> pids;
  for (int i = 0; i < 10; ++i) {
    auto r = pool.Submit(&Pid, "").ResultFor(kBound);
    ASSERT_TRUE(r.ok()) << r.status();
    pids.push_back(*r);
  }
  EXPECT_EQ(std::count(pids.begin(), pids.end(), pids[0]), 10);
  EXPECT_EQ(pool.worker_pids().size(), 1u);
}

TEST(ProcessPoolExecutorTest, ContinuationsRunWhenTheResultArrives) {
  ProcessPoolExecutor pool(Workers(1));
  Future<size_t> n = pool.Submit(&Echo, "abcd").Then([](const std::string& s) {
    return s.size();
  });
  auto r = n.ResultFor(kBound);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, 4u);
}

// CPython counts a worker idle only once its task's done callbacks have
// run. A continuation that submits to the same pool and waits for the
// result must get another worker (one is started: below max_workers).
TEST(ProcessPoolExecutorTest, ContinuationThatSubmitsAndWaitsGetsAWorker) {
  ProcessPoolExecutor pool(Workers(2));
  Future<std::string> chained =
      pool.Submit(&Echo, "a").Then([&pool](const std::string& a) {
        auto b = pool.Submit(&Upper, a + "b").ResultFor(kBound);
        return b.ok() ? *b : absl::StrCat("B failed: ", b.status().ToString());
      });
  auto r = chained.ResultFor(2 * kBound);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "AB");
}

TEST(ProcessPoolExecutorTest, DoneCallbackThatSubmitsAndWaitsGetsAWorker) {
  GatePipes gate;
  ProcessPoolExecutor pool(Workers(2));
  Promise<std::string> out;
  const std::thread::id test_thread = std::this_thread::get_id();
  std::atomic<bool> on_test_thread{true};
  // The task is held until the callback is attached, so the callback runs
  // on the pool's thread when the task completes, not here.
  Future<std::string> a = pool.Submit(&Gate, gate.arg());
  ASSERT_TRUE(gate.WaitStarted(1));
  a.AddDoneCallback([&pool, &out, &on_test_thread, test_thread] {
    on_test_thread = std::this_thread::get_id() == test_thread;
    auto b = pool.Submit(&Upper, "y").ResultFor(kBound);
    (void)(b.ok() ? out.SetValue(*b) : out.SetError(b.status()));
  });
  gate.Release(1);
  auto r = out.future().ResultFor(2 * kBound);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "Y");
  EXPECT_FALSE(on_test_thread.load());
}

// The worker running a blocked callback is not idle, so a task another
// thread submits meanwhile gets a worker of its own.
TEST(ProcessPoolExecutorTest, ContinuationWaitingForAnotherThreadsTaskRuns) {
  ProcessPoolExecutor pool(Workers(2));
  absl::Notification in_callback, submitted;
  std::optional<Future<std::string>> other;  // Written before `submitted`.
  Future<std::string> chained =
      pool.Submit(&Echo, "a").Then([&](const std::string&) -> std::string {
        in_callback.Notify();
        if (!submitted.WaitForNotificationWithTimeout(kBound)) {
          return "not submitted";
        }
        auto c = other->ResultFor(kBound);
        return c.ok() ? *c : absl::StrCat("C failed: ", c.status().ToString());
      });
  ASSERT_TRUE(in_callback.WaitForNotificationWithTimeout(kBound));
  other = pool.Submit(&Upper, "c");
  submitted.Notify();
  auto r = chained.ResultFor(2 * kBound);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "C");
  EXPECT_EQ(pool.worker_pids().size(), 2u);
}

// Sequential tasks with a (quick) continuation still reuse one worker: a
// worker finishing its callbacks is waited for briefly before another
// process is started.
TEST(ProcessPoolExecutorTest, IdleWorkerIsReusedWithContinuations) {
  ProcessPoolExecutor pool(Workers(4));
  std::vector<std::string> pids;
  for (int i = 0; i < 10; ++i) {
    auto r = pool.Submit(&Pid, "")
                 .Then([](const std::string& pid) { return pid; })
                 .ResultFor(kBound);
    ASSERT_TRUE(r.ok()) << r.status();
    pids.push_back(*r);
  }
  EXPECT_EQ(std::count(pids.begin(), pids.end(), pids[0]), 10);
  EXPECT_EQ(pool.worker_pids().size(), 1u);
}

// ---------------------------------------------------------------------------
// Fork safety.

// A task may run a process pool of its own: no lock of the caller's is left
// locked in the worker (the fork server used to be forked under one).
TEST(ProcessPoolExecutorTest, TaskCanRunAProcessPoolOfItsOwn) {
  ProcessPoolExecutor pool(Workers(1));
  Future<std::string> f = pool.Submit(&NestedPool, "nested");
  auto r = f.ResultFor(kBound);
  if (!r.ok()) pool.KillWorkers();  // Do not hang in the destructor.
  ASSERT_TRUE(r.ok()) << r.status();
  std::vector<std::string> fields = absl::StrSplit(*r, ' ');
  ASSERT_EQ(fields.size(), 3u) << *r;
  const pid_t inner = ToPid(fields[0]), outer = ToPid(fields[1]);
  EXPECT_NE(inner, outer);
  EXPECT_NE(inner, getpid());
  EXPECT_EQ(fields[2], "NESTED");
  // The inner pool was shut down (and its processes reaped) before the task
  // returned.
  EXPECT_TRUE(Gone(inner));
  // Again on the same worker: the nested pool left the worker clean.
  auto again = pool.Submit(&NestedPool, "twice").ResultFor(kBound);
  if (!again.ok()) pool.KillWorkers();
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(absl::EndsWith(*again, " TWICE")) << *again;
}

// ---------------------------------------------------------------------------
// Exceptions.

TEST(ProcessPoolExecutorTest, TaskExceptionBecomesRemoteTaskError) {
  ProcessPoolExecutor pool(Workers(1));
  Future<std::string> f = pool.Submit(&Throw, "boom");
  ASSERT_TRUE(f.WaitFor(kBound));
  try {
    (void)f.Result();
    FAIL() << "Result() should rethrow";
  } catch (const RemoteTaskError& e) {
    EXPECT_STREQ(e.what(), "boom");
    EXPECT_GT(e.pid(), 0);
    EXPECT_NE(e.pid(), getpid());
  }
  // The worker survives its task's exception.
  auto r = pool.Submit(&Upper, "still here").ResultFor(kBound);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "STILL HERE");
}

TEST(ProcessPoolExecutorTest, NonStdExceptionIsDescribed) {
  ProcessPoolExecutor pool(Workers(1));
  Future<std::string> f = pool.Submit(&ThrowInt, "");
  absl::StatusOr<std::exception_ptr> e = f.ExceptionFor(kBound);
  ASSERT_TRUE(e.ok()) << e.status();
  ASSERT_NE(*e, nullptr);
  try {
    std::rethrow_exception(*e);
  } catch (const RemoteTaskError& err) {
    EXPECT_TRUE(absl::StrContains(err.what(), "non-std exception of type int"))
        << err.what();
  }
}

TEST(ProcessPoolExecutorTest, TypedDecodeFailureInWorkerIsRemoteTaskError) {
  ProcessPoolExecutor pool(Workers(1));
  // A raw task sending text that is not an int to the typed Square: the
  // decode happens in the worker and throws there.
  Future<std::string> raw = pool.Submit(&Echo, "not a number");
  auto r = raw.ResultFor(kBound);
  ASSERT_TRUE(r.ok());
  Future<int> typed = pool.Submit(
      +[](std::string s) { return static_cast<int>(s.size()); }, *r);
  auto n = typed.ResultFor(kBound);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 12);
  Future<int> bad = pool.Submit(
      +[](int) -> int { throw std::invalid_argument("typed throw"); }, 1);
  ASSERT_TRUE(bad.WaitFor(kBound));
  EXPECT_THROW((void)bad.Result(), RemoteTaskError);
}

// ---------------------------------------------------------------------------
// Crash isolation: only the crashed task fails; the worker is replaced.

void ExpectCrashed(Future<std::string> f, pid_t pid, absl::string_view how) {
  absl::StatusOr<std::string> r = f.ResultFor(kBound);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(IsBroken(r.status())) << r.status();
  EXPECT_TRUE(absl::StrContains(r.status().message(), "worker crashed"))
      << r.status();
  EXPECT_TRUE(
      absl::StrContains(r.status().message(), absl::StrCat("pid ", pid, " ")))
      << r.status();
  EXPECT_TRUE(absl::StrContains(r.status().message(), how)) << r.status();
}

TEST(ProcessPoolExecutorTest, CrashFailsOnlyItsTaskAndTheWorkerIsReplaced) {
  ProcessPoolExecutor pool(Workers(1));
  auto first = pool.Submit(&Pid, "").ResultFor(kBound);
  ASSERT_TRUE(first.ok()) << first.status();
  const pid_t old_pid = ToPid(*first);
  Future<std::string> crash = pool.Submit(&SigKill, "");
  Future<std::string> after = pool.Submit(&Pid, "");  // Queued behind it.
  ExpectCrashed(crash, old_pid, "killed by signal 9 (SIGKILL)");
  // The crashed worker was reaped before its future failed: no zombie.
  EXPECT_TRUE(Gone(old_pid));
  auto r = after.ResultFor(kBound);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_NE(ToPid(*r), old_pid);
  EXPECT_EQ(pool.worker_pids(), std::vector<pid_t>{ToPid(*r)});
}

TEST(ProcessPoolExecutorTest, SegvAbortAndExitAreReported) {
  ProcessPoolExecutor pool(Workers(1));
  // The fork server resets signal handlers, so even under a sanitizer
  // (which would turn SIGSEGV into an exit) the default action applies.
  struct Case {
    ProcessTask task;
    const char* how;
  };
  for (const Case& c : {Case{&Segv, "killed by signal 11 (SIGSEGV)"},
                        Case{&Abort, "killed by signal 6 (SIGABRT)"},
                        Case{&Exit3, "exited with status 3"}}) {
    auto pid = pool.Submit(&Pid, "").ResultFor(kBound);
    ASSERT_TRUE(pid.ok()) << pid.status();
    ExpectCrashed(pool.Submit(c.task, ""), ToPid(*pid), c.how);
  }
  auto r = pool.Submit(&Upper, "ok").ResultFor(kBound);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "OK");
}

TEST(ProcessPoolExecutorTest, CrashesAmongManyTasksFailOnlyThemselves) {
  ProcessPoolExecutor pool(Workers(2));
  std::vector<Future<std::string>> fs;
  for (int i = 0; i < 40; ++i) {
    fs.push_back(i % 5 == 2 ? pool.Submit(&Segv, "")
                            : pool.Submit(&Echo, absl::StrCat(i)));
  }
  for (int i = 0; i < 40; ++i) {
    auto r = fs[i].ResultFor(kBound);
    if (i % 5 == 2) {
      ASSERT_FALSE(r.ok());
      EXPECT_TRUE(IsBroken(r.status())) << r.status();
    } else {
      ASSERT_TRUE(r.ok()) << i << ": " << r.status();
      EXPECT_EQ(*r, absl::StrCat(i));
    }
  }
  EXPECT_LE(pool.worker_pids().size(), 2u);
}

TEST(ProcessPoolExecutorTest, WorkerThatDiedIdleIsReplacedSilently) {
  ProcessPoolExecutor pool(Workers(1));
  auto first = pool.Submit(&Pid, "").ResultFor(kBound);
  ASSERT_TRUE(first.ok()) << first.status();
  const pid_t old_pid = ToPid(*first);
  ASSERT_EQ(kill(old_pid, SIGKILL), 0);
  // Dead (a zombie of the fork server, every thread gone, or already
  // reaped) means its socket is closed.
  ASSERT_TRUE(
      test_util::Eventually([&] { return IsDead(old_pid) || Gone(old_pid); }));
  auto r = pool.Submit(&Pid, "").ResultFor(kBound);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_NE(ToPid(*r), old_pid);
  EXPECT_TRUE(Gone(old_pid));
}

// A worker killed while idle is reaped by the fork server at once, not left
// a zombie until the pool next gives it a task (which may be never: the
// job_server chaos run found zombies of idle workers it had SIGKILLed).
TEST(ProcessPoolExecutorTest, WorkerKilledWhileIdleIsNotLeftAZombie) {
  ProcessPoolExecutor pool(Workers(1));
  auto first = pool.Submit(&Pid, "").ResultFor(kBound);
  ASSERT_TRUE(first.ok()) << first.status();
  const pid_t old_pid = ToPid(*first);
  ASSERT_EQ(kill(old_pid, SIGKILL), 0);
  // No task is submitted: nothing but the fork server can reap it.
  EXPECT_TRUE(test_util::Eventually([&] { return Gone(old_pid); }))
      << "worker " << old_pid << " left a zombie";
  // The pool still works, and reports nothing for the idle death.
  for (int i = 0; i < 4; ++i) {
    auto r = pool.Submit(&Pid, "").ResultFor(kBound);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_NE(ToPid(*r), old_pid);
  }
}

// ---------------------------------------------------------------------------
// max_tasks_per_child.

TEST(ProcessPoolExecutorTest, MaxTasksPerChildRotatesWorkers) {
  ProcessPoolExecutor::Options o = Workers(1);
  o.max_tasks_per_child = 2;
  ProcessPoolExecutor pool(o);
  std::vector<pid_t> pids;
  for (int i = 0; i < 6; ++i) {
    auto r = pool.Submit(&Pid, "").ResultFor(kBound);
    ASSERT_TRUE(r.ok()) << r.status();
    pids.push_back(ToPid(*r));
  }
  EXPECT_EQ(pids[0], pids[1]);
  EXPECT_EQ(pids[2], pids[3]);
  EXPECT_EQ(pids[4], pids[5]);
  EXPECT_NE(pids[0], pids[2]);
  EXPECT_NE(pids[2], pids[4]);
  EXPECT_NE(pids[0], pids[4]);
  // Retired workers are reaped, not left as zombies.
  EXPECT_TRUE(
      test_util::Eventually([&] { return Gone(pids[0]) && Gone(pids[2]); }));
}

// ---------------------------------------------------------------------------
// Parallelism: max_workers tasks really run at the same time.

TEST(ProcessPoolExecutorTest, WorkersRunConcurrently) {
  constexpr int kWorkers = 3;
  GatePipes gate;
  ProcessPoolExecutor pool(Workers(kWorkers));
  std::vector<Future<std::string>> fs;
  for (int i = 0; i < kWorkers; ++i)
    fs.push_back(pool.Submit(&Gate, gate.arg()));
  // All of them start before any is released: they run in parallel.
  ASSERT_TRUE(gate.WaitStarted(kWorkers));
  gate.Release(kWorkers);
  std::vector<std::string> seen;
  for (auto& f : fs) {
    auto r = f.ResultFor(kBound);
    ASSERT_TRUE(r.ok()) << r.status();
    seen.push_back(*r);
  }
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(std::unique(seen.begin(), seen.end()), seen.end())
      << "each task ran in its own worker";
}

// ---------------------------------------------------------------------------
// Cancellation and shutdown.

TEST(ProcessPoolExecutorTest, CancelPendingTask) {
  GatePipes gate;
  ProcessPoolExecutor pool(Workers(1));
  Future<std::string> running = pool.Submit(&Gate, gate.arg());
  ASSERT_TRUE(gate.WaitStarted(1));
  Future<std::string> pending = pool.Submit(&Upper, "x");
  EXPECT_TRUE(running.running());
  EXPECT_FALSE(running.Cancel());  // Running: cannot be cancelled.
  EXPECT_TRUE(pending.Cancel());
  EXPECT_TRUE(pending.cancelled());
  gate.Release(1);
  auto r = running.ResultFor(kBound);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(IsCancelled(pending.ResultFor(kBound).status()));
  // The pool carries on.
  auto after = pool.Submit(&Upper, "y").ResultFor(kBound);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(*after, "Y");
}

TEST(ProcessPoolExecutorTest, ShutdownWaitLetsEveryQueuedTaskFinish) {
  GatePipes gate;
  ProcessPoolExecutor pool(Workers(2));
  std::vector<Future<std::string>> fs;
  for (int i = 0; i < 2; ++i) fs.push_back(pool.Submit(&Gate, gate.arg()));
  ASSERT_TRUE(gate.WaitStarted(2));
  for (int i = 0; i < 4; ++i) fs.push_back(pool.Submit(&Upper, "q"));
  const pid_t server = pool.fork_server_pid();
  absl::Notification done;
  std::thread t([&] {
    pool.Shutdown(/*wait=*/true);
    done.Notify();
  });
  // Shutdown(wait) is waiting for the gated tasks (waiting is the point).
  EXPECT_FALSE(done.WaitForNotificationWithTimeout(kBlockedFor));
  gate.Release(2);
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(kBound));
  t.join();
  for (auto& f : fs) {
    EXPECT_TRUE(f.done());
    EXPECT_TRUE(f.Result().ok()) << f.Result().status();
  }
  // Workers and fork server are gone and reaped.
  EXPECT_TRUE(pool.worker_pids().empty());
  EXPECT_EQ(pool.fork_server_pid(), 0);
  EXPECT_TRUE(Gone(server));
}

TEST(ProcessPoolExecutorTest, ShutdownCancelFuturesCancelsOnlyPendingTasks) {
  GatePipes gate;
  ProcessPoolExecutor pool(Workers(2));
  std::vector<Future<std::string>> running, pending;
  for (int i = 0; i < 2; ++i) running.push_back(pool.Submit(&Gate, gate.arg()));
  ASSERT_TRUE(gate.WaitStarted(2));
  for (int i = 0; i < 3; ++i) pending.push_back(pool.Submit(&Upper, "p"));
  pool.Shutdown(/*wait=*/false, /*cancel_futures=*/true);
  for (auto& f : pending) EXPECT_TRUE(f.cancelled());
  for (auto& f : running) EXPECT_FALSE(f.done());
  gate.Release(2);
  for (auto& f : running) {
    auto r = f.ResultFor(kBound);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_TRUE(absl::StartsWith(*r, "gated "));
  }
  EXPECT_FALSE(gate.AnotherStarted());
}

TEST(ProcessPoolExecutorTest, TerminateWorkersEndsTasksThatWouldNotFinish) {
  GatePipes gate;  // Never released: the running task would wait kBound.
  ProcessPoolExecutor pool(Workers(1));
  Future<std::string> stuck = pool.Submit(&Gate, gate.arg());
  ASSERT_TRUE(gate.WaitStarted(1));
  Future<std::string> pending = pool.Submit(&Upper, "p");
  const std::vector<pid_t> pids = pool.worker_pids();
  ASSERT_EQ(pids.size(), 1u);
  pool.TerminateWorkers();
  EXPECT_TRUE(pending.cancelled());
  auto r = stuck.ResultFor(kBound);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(IsBroken(r.status())) << r.status();
  EXPECT_TRUE(absl::StrContains(r.status().message(), "SIGTERM")) << r.status();
  EXPECT_TRUE(IsShutDown(pool.Submit(&Upper, "late").Result().status()));
  pool.Shutdown(/*wait=*/true);
  EXPECT_TRUE(Gone(pids[0]));
}

TEST(ProcessPoolExecutorTest, KillWorkersUsesSigkill) {
  GatePipes gate;
  ProcessPoolExecutor pool(Workers(2));
  std::vector<Future<std::string>> fs;
  for (int i = 0; i < 2; ++i) fs.push_back(pool.Submit(&Gate, gate.arg()));
  ASSERT_TRUE(gate.WaitStarted(2));
  pool.KillWorkers();
  for (auto& f : fs) {
    auto r = f.ResultFor(kBound);
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(absl::StrContains(r.status().message(), "SIGKILL"))
        << r.status();
  }
}

TEST(ProcessPoolExecutorTest, ShutdownWithoutWaitReturnsAndTasksStillFinish) {
  GatePipes gate;
  std::vector<Future<std::string>> fs;
  {
    ProcessPoolExecutor pool(Workers(2));
    for (int i = 0; i < 2; ++i) fs.push_back(pool.Submit(&Gate, gate.arg()));
    ASSERT_TRUE(gate.WaitStarted(2));
    fs.push_back(pool.Submit(&Upper, "queued"));
    pool.Shutdown(/*wait=*/false);  // Returns although tasks are running.
    for (auto& f : fs) EXPECT_FALSE(f.done());
    gate.Release(2);
  }  // The destructor waits for all three.
  for (auto& f : fs) {
    ASSERT_TRUE(f.done());
    EXPECT_TRUE(f.Result().ok()) << f.Result().status();
  }
  EXPECT_EQ(*fs[2].Result(), "QUEUED");
}

TEST(ProcessPoolExecutorTest, SubmitAfterShutdownIsRejected) {
  ProcessPoolExecutor pool(Workers(1));
  pool.Shutdown();
  Future<std::string> f = pool.Submit(&Upper, "late");
  ASSERT_TRUE(f.done());
  EXPECT_TRUE(IsShutDown(f.Result().status())) << f.Result().status();
  pool.Shutdown();  // Idempotent.
}

TEST(ProcessPoolExecutorTest, DestructorRunsQueuedTasks) {
  std::vector<Future<std::string>> fs;
  {
    ProcessPoolExecutor pool(Workers(2));
    for (int i = 0; i < 10; ++i) fs.push_back(pool.Submit(&Echo, "d"));
  }
  for (auto& f : fs) {
    ASSERT_TRUE(f.done());
    EXPECT_TRUE(f.Result().ok());
  }
}

TEST(ProcessPoolExecutorTest, ShutdownFromADoneCallbackDoesNotDeadlock) {
  GatePipes gate;
  ProcessPoolExecutor pool(Workers(1));
  absl::Notification called;
  const std::thread::id test_thread = std::this_thread::get_id();
  std::atomic<bool> on_test_thread{true};
  // Held until the callback is attached, so that it runs on the pool's own
  // thread (attached to a done future it would run here).
  Future<std::string> f = pool.Submit(&Gate, gate.arg());
  ASSERT_TRUE(gate.WaitStarted(1));
  f.AddDoneCallback([&] {
    on_test_thread = std::this_thread::get_id() == test_thread;
    pool.Shutdown(/*wait=*/true);  // Runs on the pool's own thread.
    called.Notify();
  });
  gate.Release(1);
  ASSERT_TRUE(called.WaitForNotificationWithTimeout(kBound));
  EXPECT_FALSE(on_test_thread.load());
  EXPECT_TRUE(IsShutDown(pool.Submit(&Echo, "y").Result().status()));
}

// Shutdown(wait) from several threads at once, done callbacks (on the pool's
// manager threads) among them. The race lives on the heap: a test that finds
// a deadlock (a bounded wait runs out) abandons it, leaking the pool with its
// threads still blocked in it, and fails instead of hanging.
struct ShutdownRace {
  explicit ShutdownRace(int workers) : pool(Workers(workers)) {}

  // Runs Shutdown(wait) on `outside`, a thread that is not the pool's.
  void StartOutsideShutdown() {
    outside = std::thread([this] {
      pool.Shutdown(/*wait=*/true);
      outside_returned.Notify();
    });
  }
  // A done callback for `f` that calls Shutdown(wait) (`f` must still be
  // running, so the callback runs on its manager thread).
  void ShutdownInCallback(Future<std::string>& f, absl::Notification* entered,
                          absl::Notification* returned) {
    f.AddDoneCallback([this, entered, returned] {
      entered->Notify();
      pool.Shutdown(/*wait=*/true);
      returned->Notify();
    });
  }

  GatePipes gate_a, gate_b;  // Outlive the pool: its tasks use them.
  ProcessPoolExecutor pool;
  absl::Notification entered_a, returned_a, entered_b, returned_b;
  absl::Notification outside_returned;
  std::thread outside;
};

// Leaks `race` (see ShutdownRace) after a failed bounded wait.
void Abandon(std::unique_ptr<ShutdownRace> race) {
  if (race->outside.joinable()) race->outside.detach();
  (void)race.release();
}

TEST(ProcessPoolExecutorTest, ShutdownWaitFromOutsideThenFromADoneCallback) {
  auto race = std::make_unique<ShutdownRace>(1);
  ShutdownRace& r = *race;
  const pid_t server = r.pool.fork_server_pid();
  Future<std::string> f = r.pool.Submit(&Gate, r.gate_a.arg());
  r.ShutdownInCallback(f, &r.entered_a, &r.returned_a);
  if (!r.gate_a.WaitStarted(1)) {
    Abandon(std::move(race));
    FAIL() << "the gated task did not start";
  }
  r.StartOutsideShutdown();
  // The outside Shutdown(wait) waits for the gated task; by now it is
  // joining the manager that runs it (waiting is the point).
  EXPECT_FALSE(r.outside_returned.WaitForNotificationWithTimeout(kBlockedFor));
  r.gate_a.Release(1);  // The callback's Shutdown(wait) runs on that manager.
  if (!r.returned_a.WaitForNotificationWithTimeout(kBound) ||
      !r.outside_returned.WaitForNotificationWithTimeout(kBound)) {
    const bool callback_returned = r.returned_a.HasBeenNotified();
    Abandon(std::move(race));
    FAIL() << "deadlock: callback returned " << callback_returned;
  }
  r.outside.join();
  ASSERT_TRUE(f.Result().ok()) << f.Result().status();
  // The outside caller waited for everything.
  EXPECT_TRUE(r.pool.worker_pids().empty());
  EXPECT_EQ(r.pool.fork_server_pid(), 0);
  EXPECT_TRUE(Gone(server));
}

TEST(ProcessPoolExecutorTest, ShutdownWaitFromADoneCallbackThenFromOutside) {
  auto race = std::make_unique<ShutdownRace>(2);
  ShutdownRace& r = *race;
  const pid_t server = r.pool.fork_server_pid();
  // Task a keeps one manager busy; task b runs on the other, and its
  // callback calls Shutdown(wait), which waits for the manager of a.
  Future<std::string> a = r.pool.Submit(&Gate, r.gate_a.arg());
  if (!r.gate_a.WaitStarted(1)) {
    Abandon(std::move(race));
    FAIL() << "task a did not start";
  }
  Future<std::string> b = r.pool.Submit(&Gate, r.gate_b.arg());
  r.ShutdownInCallback(b, &r.entered_b, &r.returned_b);
  if (!r.gate_b.WaitStarted(1)) {
    Abandon(std::move(race));
    FAIL() << "task b did not start";
  }
  r.gate_b.Release(1);
  if (!r.entered_b.WaitForNotificationWithTimeout(kBound)) {
    Abandon(std::move(race));
    FAIL() << "task b's callback did not run";
  }
  // It waits for a's manager (waiting is the point), and so will the
  // outside caller.
  EXPECT_FALSE(r.returned_b.WaitForNotificationWithTimeout(kBlockedFor));
  r.StartOutsideShutdown();
  EXPECT_FALSE(r.outside_returned.WaitForNotificationWithTimeout(kBlockedFor));
  EXPECT_FALSE(r.returned_b.HasBeenNotified());
  r.gate_a.Release(1);
  if (!r.returned_b.WaitForNotificationWithTimeout(kBound) ||
      !r.outside_returned.WaitForNotificationWithTimeout(kBound)) {
    const bool callback_returned = r.returned_b.HasBeenNotified();
    Abandon(std::move(race));
    FAIL() << "deadlock: callback returned " << callback_returned;
  }
  r.outside.join();
  ASSERT_TRUE(a.Result().ok()) << a.Result().status();
  ASSERT_TRUE(b.Result().ok()) << b.Result().status();
  EXPECT_TRUE(r.pool.worker_pids().empty());
  EXPECT_EQ(r.pool.fork_server_pid(), 0);
  EXPECT_TRUE(Gone(server));
}

TEST(ProcessPoolExecutorTest, DoneCallbacksOnTwoManagersBothShutdownWait) {
  auto race = std::make_unique<ShutdownRace>(2);
  ShutdownRace& r = *race;
  const pid_t server = r.pool.fork_server_pid();
  Future<std::string> a = r.pool.Submit(&Gate, r.gate_a.arg());
  r.ShutdownInCallback(a, &r.entered_a, &r.returned_a);
  if (!r.gate_a.WaitStarted(1)) {
    Abandon(std::move(race));
    FAIL() << "task a did not start";
  }
  Future<std::string> b = r.pool.Submit(&Gate, r.gate_b.arg());
  r.ShutdownInCallback(b, &r.entered_b, &r.returned_b);
  if (!r.gate_b.WaitStarted(1)) {
    Abandon(std::move(race));
    FAIL() << "task b did not start";
  }
  // a's callback waits in Shutdown(wait) for b's manager (waiting is the
  // point)...
  r.gate_a.Release(1);
  if (!r.entered_a.WaitForNotificationWithTimeout(kBound)) {
    Abandon(std::move(race));
    FAIL() << "task a's callback did not run";
  }
  EXPECT_FALSE(r.returned_a.WaitForNotificationWithTimeout(kBlockedFor));
  // ... which then waits in Shutdown(wait) too: neither waits for the other.
  r.gate_b.Release(1);
  if (!r.returned_a.WaitForNotificationWithTimeout(kBound) ||
      !r.returned_b.WaitForNotificationWithTimeout(kBound)) {
    const bool a_returned = r.returned_a.HasBeenNotified();
    const bool b_returned = r.returned_b.HasBeenNotified();
    Abandon(std::move(race));
    FAIL() << "deadlock: callback a returned " << a_returned
           << ", callback b returned " << b_returned;
  }
  ASSERT_TRUE(a.Result().ok()) << a.Result().status();
  ASSERT_TRUE(b.Result().ok()) << b.Result().status();
  // No outside caller: the last manager out stops the fork server.
  EXPECT_TRUE(
      test_util::Eventually([&r] { return r.pool.fork_server_pid() == 0; }));
  EXPECT_TRUE(Gone(server));
  r.pool.Shutdown(/*wait=*/true);  // Joins the managers' threads.
  EXPECT_TRUE(r.pool.worker_pids().empty());
}

// ---------------------------------------------------------------------------
// Message size limits.

TEST(ProcessPoolExecutorTest, OversizeArgumentIsRejectedAtSubmit) {
  ProcessPoolExecutor::Options o = Workers(1);
  o.max_message = 1024;
  ProcessPoolExecutor pool(o);
  Future<std::string> f = pool.Submit(&Echo, std::string(1025, 'a'));
  ASSERT_TRUE(f.done());
  EXPECT_TRUE(absl::IsInvalidArgument(f.Result().status()))
      << f.Result().status();
  auto ok = pool.Submit(&Echo, std::string(1024, 'a')).ResultFor(kBound);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->size(), 1024u);
}

TEST(ProcessPoolExecutorTest, NullTaskIsRejectedAtSubmit) {
  ProcessPoolExecutor pool(Workers(1));
  Future<std::string> f = pool.Submit(ProcessTask{nullptr}, "x");
  ASSERT_TRUE(f.done());
  EXPECT_TRUE(absl::IsInvalidArgument(f.Result().status()));
}

TEST(ProcessPoolExecutorTest, OversizeResultFailsTheTaskNotTheWorker) {
  ProcessPoolExecutor::Options o = Workers(1);
  o.max_message = 1024;
  ProcessPoolExecutor pool(o);
  auto before = pool.Submit(&Pid, "").ResultFor(kBound);
  ASSERT_TRUE(before.ok());
  auto r = pool.Submit(&Repeat, "5000").ResultFor(kBound);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(r.status())) << r.status();
  EXPECT_TRUE(absl::StrContains(r.status().message(), "5000")) << r.status();
  auto after = pool.Submit(&Pid, "").ResultFor(kBound);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(*before, *after) << "same worker still serving";
}

// ---------------------------------------------------------------------------
// Options and initializer.

TEST(ProcessPoolExecutorTest, CreateRejectsInvalidOptions) {
  ProcessPoolExecutor::Options o;
  o.max_workers = 0;
  EXPECT_TRUE(absl::IsInvalidArgument(ProcessPoolExecutor::Create(o).status()));
  o.max_workers = 1;
  o.max_tasks_per_child = 0;
  EXPECT_TRUE(absl::IsInvalidArgument(ProcessPoolExecutor::Create(o).status()));
  o.max_tasks_per_child = std::nullopt;
  o.max_message = 0;
  EXPECT_TRUE(absl::IsInvalidArgument(ProcessPoolExecutor::Create(o).status()));
  o.max_message = 10;
  auto pool = ProcessPoolExecutor::Create(o);
  ASSERT_TRUE(pool.ok()) << pool.status();
  EXPECT_EQ((*pool)->max_workers(), 1);
  EXPECT_GE(ProcessPoolExecutor::DefaultMaxWorkers(), 1);
}

TEST(ProcessPoolExecutorTest, InitializerRunsInEachWorker) {
  ProcessPoolExecutor::Options o = Workers(2);
  o.initializer = &SetInitValue;
  ProcessPoolExecutor pool(o);
  for (int i = 0; i < 4; ++i) {
    auto r = pool.Submit(&InitValue, "").ResultFor(kBound);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(*r, "7");
  }
  EXPECT_EQ(init_value, 0) << "the initializer does not run in the caller";
}

TEST(ProcessPoolExecutorTest, FailingInitializerBreaksThePool) {
  ProcessPoolExecutor::Options o = Workers(1);
  o.initializer = &FailingInit;
  ProcessPoolExecutor pool(o);
  std::vector<Future<std::string>> fs;
  for (int i = 0; i < 3; ++i) fs.push_back(pool.Submit(&Echo, "x"));
  for (auto& f : fs) {
    auto r = f.ResultFor(kBound);
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(IsBroken(r.status())) << r.status();
  }
  auto first = fs[0].Result().status();
  EXPECT_TRUE(absl::StrContains(first.message(), "init says no")) << first;
  Future<std::string> later = pool.Submit(&Echo, "x");
  ASSERT_TRUE(later.done());
  EXPECT_TRUE(IsBroken(later.Result().status()));
}

// A worker SIGKILLed before it is ready (here: in its initializer) is a
// crash of that worker, not a pool that cannot start workers: the task it
// was started for fails as crashed, and the next one gets a new worker. The
// job_server chaos run found the whole pool broken by such a kill.
TEST(ProcessPoolExecutorTest, WorkerKilledWhileStartingFailsOnlyItsTask) {
  const std::string file =
      absl::StrCat(testing::TempDir(), "/stuck_init_", getpid());
  unlink(file.c_str());
  ASSERT_LT(file.size(), sizeof(stuck_init_file));
  strcpy(stuck_init_file, file.c_str());  // Before the fork server starts.
  ProcessPoolExecutor::Options o = Workers(1);
  o.initializer = &StuckFirstInit;
  ProcessPoolExecutor pool(o);
  Future<std::string> first = pool.Submit(&Echo, "first");
  pid_t stuck = 0;
  ASSERT_TRUE(test_util::Eventually([&] {
    std::ifstream f(file);
    std::string line;
    return std::getline(f, line) && absl::SimpleAtoi(line, &stuck);
  }));
  ASSERT_EQ(kill(stuck, SIGKILL), 0);
  ExpectCrashed(first, stuck, "killed by signal 9 (SIGKILL)");
  EXPECT_TRUE(absl::StrContains(first.Result().status().message(),
                                "before it received the task"))
      << first.Result().status();
  auto r = pool.Submit(&Echo, "second").ResultFor(kBound);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "second");
  unlink(file.c_str());
}

TEST(ProcessPoolExecutorTest, ThrowingInitializerBreaksThePool) {
  ProcessPoolExecutor::Options o = Workers(1);
  o.initializer = &ThrowingInit;
  ProcessPoolExecutor pool(o);
  auto r = pool.Submit(&Echo, "x").ResultFor(kBound);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(IsBroken(r.status())) << r.status();
  EXPECT_TRUE(absl::StrContains(r.status().message(), "init threw"))
      << r.status();
}

// ---------------------------------------------------------------------------
// Resources: no zombies, no descriptor leaks.

TEST(ProcessPoolExecutorTest, CreateDestroyLoopLeaksNoFdsAndNoProcesses) {
  const int fds_before = CountOpenFds();
  std::vector<pid_t> seen;
  for (int round = 0; round < 10; ++round) {
    ProcessPoolExecutor pool(Workers(2));
    seen.push_back(pool.fork_server_pid());
    std::vector<Future<std::string>> fs;
    for (int i = 0; i < 4; ++i) fs.push_back(pool.Submit(&Pid, ""));
    fs.push_back(pool.Submit(&Segv, ""));
    for (auto& f : fs) ASSERT_TRUE(f.WaitFor(kBound));
    for (pid_t p : pool.worker_pids()) seen.push_back(p);
    for (size_t i = 0; i < 4; ++i) {
      auto r = fs[i].Result();
      ASSERT_TRUE(r.ok()) << r.status();
      seen.push_back(ToPid(*r));
    }
    if (round % 2 == 1) pool.Shutdown(/*wait=*/false);
  }
  EXPECT_EQ(CountOpenFds(), fds_before);
  for (pid_t p : seen) EXPECT_TRUE(Gone(p)) << "pid " << p << " not reaped";
  // No child of ours is left but the ones a sanitizer runtime may start
  // (TSan's symbolizer): the fork servers were all reaped (checked above).
  for (pid_t child : ChildrenOf(getpid())) {
    if (absl::StrContains(CommandLine(child), "symbolizer")) continue;
    ADD_FAILURE() << "child " << child << ": " << CommandLine(child);
  }
}

TEST(ProcessPoolExecutorTest, WorkersDoNotInheritAnotherPoolsSockets) {
  // Pool b's fork server is forked while pool a has a worker socket open. If
  // b's processes kept a copy, a's worker would not see EOF when a closes
  // it; here a's shutdown must complete and reap its worker.
  ProcessPoolExecutor a(Workers(1));
  auto pa = a.Submit(&Pid, "").ResultFor(kBound);
  ASSERT_TRUE(pa.ok());
  ProcessPoolExecutor b(Workers(1));
  auto pb = b.Submit(&Pid, "").ResultFor(kBound);
  ASSERT_TRUE(pb.ok());
  a.Shutdown(/*wait=*/true);
  EXPECT_TRUE(Gone(ToPid(*pa)));
  // b's worker holds no descriptor of a's: count b's worker's sockets.
  int sockets = 0;
  DIR* d = opendir(absl::StrCat("/proc/", ToPid(*pb), "/fd").c_str());
  ASSERT_NE(d, nullptr);
  while (struct dirent* e = readdir(d)) {
    char target[256];
    std::string path = absl::StrCat("/proc/", ToPid(*pb), "/fd/", e->d_name);
    ssize_t n = readlink(path.c_str(), target, sizeof(target) - 1);
    if (n > 0 && absl::StartsWith(absl::string_view(target, n), "socket:")) {
      ++sockets;
    }
  }
  closedir(d);
  EXPECT_EQ(sockets, 1) << "only its own socket to the caller";
}

// Sockets of process `pid` (from /proc; -1 if it cannot be read).
int SocketsOf(pid_t pid) {
  DIR* d = opendir(absl::StrCat("/proc/", pid, "/fd").c_str());
  if (d == nullptr) return -1;
  int sockets = 0;
  while (struct dirent* e = readdir(d)) {
    char target[256];
    std::string path = absl::StrCat("/proc/", pid, "/fd/", e->d_name);
    ssize_t n = readlink(path.c_str(), target, sizeof(target) - 1);
    if (n > 0 && absl::StartsWith(absl::string_view(target, n), "socket:")) {
      ++sockets;
    }
  }
  closedir(d);
  return sockets;
}

TEST(ProcessPoolExecutorTest, PoolsStartedConcurrentlyKeepToTheirOwnSockets) {
  // Fork servers forked while other threads create, receive and close other
  // pools' sockets: each fork server and worker holds its own socket only
  // (no lock orders these; see process/internal/pool_fds.h).
  constexpr int kThreads = 3, kRounds = 4;
  std::vector<std::string> problems(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t, &problems] {
      for (int round = 0; round < kRounds; ++round) {
        ProcessPoolExecutor pool(Workers(2));
        std::vector<Future<std::string>> fs;
        for (int i = 0; i < 4; ++i) fs.push_back(pool.Submit(&Pid, ""));
        for (auto& f : fs) {
          auto r = f.ResultFor(kBound);
          if (!r.ok()) {
            problems[t] += r.status().ToString() + "; ";
            continue;
          }
          const int n = SocketsOf(ToPid(*r));
          if (n != 1)
            absl::StrAppend(&problems[t], "worker ", *r, ": ", n, "; ");
        }
        // The fork server closes its copy of a worker's socket just after
        // handing it over: wait for that.
        const pid_t server = pool.fork_server_pid();
        int n = 0;
        if (!test_util::Eventually(
                [&] { return (n = SocketsOf(server)) == 1; })) {
          absl::StrAppend(&problems[t], "fork server: ", n, "; ");
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t)
    EXPECT_EQ(problems[t], "") << "thread " << t;
}

TEST(ProcessPoolExecutorTest, ConstructedWhileOtherThreadsAllocate) {
  // The fork server is forked while other threads are busy in malloc (glibc
  // keeps malloc usable in the child): workers allocate freely.
  std::atomic<bool> stop{false};
  std::vector<std::thread> busy;
  for (int i = 0; i < 2; ++i) {
    busy.emplace_back([&stop] {
      while (!stop.load(std::memory_order_relaxed)) {
        std::vector<std::string> v(64, std::string(100, 'x'));
        busy_sink = v.size();
      }
    });
  }
  {
    ProcessPoolExecutor pool(Workers(2));
    std::vector<Future<std::string>> fs;
    for (int i = 0; i < 20; ++i) fs.push_back(pool.Submit(&Repeat, "100000"));
    for (auto& f : fs) {
      auto r = f.ResultFor(kBound);
      ASSERT_TRUE(r.ok()) << r.status();
      EXPECT_EQ(r->size(), 100000u);
    }
  }
  stop = true;
  for (auto& t : busy) t.join();
}

TEST(ProcessPoolExecutorTest, WorkersAndForkServerExitWhenTheOwnerDies) {
  // A child process owns a pool with one idle and one busy worker, reports
  // their pids and the fork server's, and is then SIGKILLed: the fork server
  // sees EOF on its control socket, kills and reaps the workers, and exits.
  GatePipes gate;
  int report[2];
  ASSERT_EQ(pipe(report), 0);
  pid_t owner = fork();
  ASSERT_GE(owner, 0);
  if (owner == 0) {
    close(report[0]);
    ProcessPoolExecutor pool(Workers(2));
    std::string idle = pool.Submit(&Pid, "").Result().value_or("0");
    Future<std::string> busy = pool.Submit(&Gate, gate.arg());  // Never ends.
    if (!gate.WaitStarted(1)) _exit(1);
    std::string pids = absl::StrCat(pool.fork_server_pid(), " ", idle);
    for (pid_t p : pool.worker_pids()) absl::StrAppend(&pids, " ", p);
    pids += "\n";
    if (write(report[1], pids.data(), pids.size()) < 0) _exit(1);
    pause();
    _exit(0);
  }
  close(report[1]);
  std::string text;
  char buf[256];
  struct pollfd p = {report[0], POLLIN, 0};
  while (text.find('\n') == std::string::npos &&
         poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(kBound))) ==
             1) {
    ssize_t n = read(report[0], buf, sizeof(buf));
    if (n <= 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  close(report[0]);
  ASSERT_EQ(kill(owner, SIGKILL), 0);
  int status;
  ASSERT_EQ(waitpid(owner, &status, 0), owner);
  std::vector<std::string> fields =
      absl::StrSplit(absl::StripAsciiWhitespace(text), ' ');
  ASSERT_GE(fields.size(), 3u) << text;  // Fork server, idle worker, workers.
  for (const std::string& f : fields) {
    pid_t pid = ToPid(f);
    ASSERT_GT(pid, 0);
    // Orphans are reparented; whoever adopts them may not reap them, so a
    // zombie with no thread left counts as gone too.
    EXPECT_TRUE(test_util::Eventually([&] { return Gone(pid) || IsDead(pid); }))
        << "pid " << pid << " outlived its pool's owner";
  }
}

}  // namespace
}  // namespace spindle
