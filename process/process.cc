// Copyright 2026 The spindle Authors.

#include "spindle/process/process.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "spindle/concurrency/internal/lifecycle.h"
#include "spindle/concurrency/status.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

namespace spindle {
namespace internal {

struct ProcessState {
  ProcessState(Process::Options o, absl::AnyInvocable<int()> f)
      : name(std::move(o.name)), daemon(o.daemon), fn(std::move(f)) {}

  const std::string name;
  const bool daemon;
  absl::AnyInvocable<int()> fn;  // Empty for subclasses overriding Run().

  mutable absl::Mutex mu;
  bool started ABSL_GUARDED_BY(mu) = false;
  // True while Start() is forking (without holding mu, so that the child's
  // copy of mu is not locked); the other calls wait until it is false.
  bool starting ABSL_GUARDED_BY(mu) = false;
  // The process that started the child (set before the fork): in the
  // child's copy of this object it is not getpid().
  std::atomic<pid_t> owner{0};
  // Written once by Start() (under mu); 0 before.
  std::atomic<pid_t> pid{0};
  int pidfd ABSL_GUARDED_BY(mu) = -1;  // -1: none (not started, or fallback)
  std::optional<int> exitcode ABSL_GUARDED_BY(mu);
};

}  // namespace internal

namespace {

using internal::ProcessState;

constexpr absl::Duration kDaemonGrace = absl::Seconds(2);

std::atomic<int> g_process_counter{0};
std::atomic<bool> g_daemon_handlers{false};

// SPINDLE_PROCESS_NO_PIDFD is set. (An atomic rather than a function-local
// static: a forked child must not find a static's initialisation guard taken
// by a thread that does not exist there.)
bool NoPidfd() {
  static std::atomic<int> cached{-1};  // Constant-initialised: no guard.
  int v = cached.load(std::memory_order_relaxed);
  if (v < 0) {
    v = std::getenv("SPINDLE_PROCESS_NO_PIDFD") != nullptr ? 1 : 0;
    cached.store(v, std::memory_order_relaxed);
  }
  return v == 1;
}

int PidfdOpen(pid_t pid) {
  return static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
}

int PidfdSendSignal(int pidfd, int sig) {
  return static_cast<int>(
      syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
}

// Waits until `pidfd` is readable (the child exited) or `timeout` passed.
// Returns true if readable.
bool PollPidfd(int pidfd, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    struct pollfd pfd = {pidfd, POLLIN, 0};
    struct timespec ts;
    struct timespec* tsp = nullptr;
    if (timeout != absl::InfiniteDuration()) {
      absl::Duration left = deadline - absl::Now();
      if (left < absl::ZeroDuration()) left = absl::ZeroDuration();
      ts = absl::ToTimespec(left);
      tsp = &ts;
    }
    int r = ppoll(&pfd, 1, tsp, nullptr);
    if (r > 0) return true;
    if (r == 0) return false;
    if (errno != EINTR) return false;
  }
}

int DecodeStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return -WTERMSIG(status);
  return 255;
}

// ---- The daemon registry: unreaped daemon children of this process. -------
//
// Entries are removed under the lock when a child is reaped, so the exit
// handler never signals a recycled pid. One registry per process: a forked
// child never touches its parent's (another thread may have held its lock
// at the fork, and its entries are the parent's children) but starts a fresh
// one (a pthread_atfork child handler renews it; the parent's stays
// reachable). No lock is held across fork().
struct DaemonEntry {
  pid_t pid;
  int pidfd;  // Borrowed from the ProcessState; -1 if none.
};

struct DaemonRegistry {
  pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  std::vector<DaemonEntry> entries;
};

internal::LeakedGlobal<DaemonRegistry> g_registry;

DaemonRegistry& Registry() { return g_registry.Get(); }

[[maybe_unused]] const bool kRegistryRenewedInChild = [] {
  pthread_atfork(nullptr, nullptr, [] { g_registry.Renew(); });
  return true;
}();

void TerminateDaemonChildren() {
  DaemonRegistry& reg = Registry();
  pthread_mutex_lock(&reg.mu);
  if (!reg.entries.empty()) {
    for (const DaemonEntry& e : reg.entries) {
      if (e.pidfd >= 0) {
        PidfdSendSignal(e.pidfd, SIGTERM);
      } else {
        kill(e.pid, SIGTERM);
      }
    }
    const absl::Time deadline = absl::Now() + kDaemonGrace;
    for (const DaemonEntry& e : reg.entries) {
      bool dead = false;
      if (e.pidfd >= 0) {
        dead = PollPidfd(e.pidfd, deadline - absl::Now());
      } else {
        absl::Duration step = absl::Milliseconds(1);
        for (;;) {
          siginfo_t info = {};
          if (waitid(P_PID, static_cast<id_t>(e.pid), &info,
                     WEXITED | WNOHANG | WNOWAIT) != 0 ||
              info.si_pid != 0) {
            dead = true;
            break;
          }
          if (absl::Now() >= deadline) break;
          absl::SleepFor(step);
          step = std::min(step * 2, absl::Milliseconds(20));
        }
      }
      if (!dead) {
        if (e.pidfd >= 0) {
          PidfdSendSignal(e.pidfd, SIGKILL);
        } else {
          kill(e.pid, SIGKILL);
        }
      }
    }
    // Not reaped: the exiting process's children are reaped by init.
  }
  pthread_mutex_unlock(&reg.mu);
}

void InstallDaemonHandlers() {
  static std::once_flag once;  // pthread_once: restarts in a forked child.
  std::call_once(once, [] {
    std::atexit(TerminateDaemonChildren);
    std::at_quick_exit(TerminateDaemonChildren);
    g_daemon_handlers.store(true);
  });
}

void RegisterDaemon(pid_t pid, int pidfd) {
  DaemonRegistry& reg = Registry();
  pthread_mutex_lock(&reg.mu);
  reg.entries.push_back({pid, pidfd});
  pthread_mutex_unlock(&reg.mu);
}

// Reaps `pid` (if it exited) and forgets it as a daemon, atomically with
// respect to the exit handler. Returns the waitpid result.
pid_t ReapDaemonAware(pid_t pid, bool daemon, int* status) {
  if (!daemon) {
    pid_t r;
    do {
      r = waitpid(pid, status, WNOHANG);
    } while (r < 0 && errno == EINTR);
    return r;
  }
  DaemonRegistry& reg = Registry();
  pthread_mutex_lock(&reg.mu);
  pid_t r;
  do {
    r = waitpid(pid, status, WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r != 0) {
    for (size_t i = 0; i < reg.entries.size(); ++i) {
      if (reg.entries[i].pid == pid) {
        reg.entries.erase(reg.entries.begin() + static_cast<ptrdiff_t>(i));
        break;
      }
    }
  }
  pthread_mutex_unlock(&reg.mu);
  return r;
}

// Waits while Start() is forking.
void AwaitStartedLocked(ProcessState& s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s.mu) {
  s.mu.Await(absl::Condition(
      +[](bool* starting) { return !*starting; }, &s.starting));
}

// Tries to reap the child. Returns true if it has been reaped (now or
// before).
bool TryReapLocked(ProcessState& s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s.mu) {
  if (s.exitcode.has_value()) return true;
  if (s.pid.load(std::memory_order_relaxed) <= 0) return false;  // never
  int status = 0;
  pid_t r =
      ReapDaemonAware(s.pid.load(std::memory_order_relaxed), s.daemon, &status);
  if (r == 0) return false;
  // r < 0 (ECHILD): someone else reaped it; the status is lost.
  s.exitcode = r > 0 ? DecodeStatus(status) : 255;
  if (s.pidfd >= 0) {
    close(s.pidfd);
    s.pidfd = -1;
  }
  return true;
}

// The child side of Start(): never returns.
[[noreturn]] void RunChild(Process& self, const ProcessState& s, pid_t parent,
                           bool arm_pdeathsig) {
  if (arm_pdeathsig) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    // The parent may have died between fork() and prctl(): die as the
    // signal would have made us.
    if (getppid() != parent) kill(getpid(), SIGKILL);
  }
  int code;
  try {
    code = self.Run();
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "Process %s: %s\n", s.name.c_str(), e.what());
    code = 1;
  } catch (...) {
    std::fflush(stdout);
    std::fprintf(stderr, "Process %s: unknown exception\n", s.name.c_str());
    code = 1;
  }
  std::fflush(nullptr);
  // As Python's child bootstrap: daemon children of this child die with it.
  if (g_daemon_handlers.load()) TerminateDaemonChildren();
  _exit(code);
}

}  // namespace

namespace process_internal {
void TestHooks::WithDaemonRegistryLocked(absl::FunctionRef<void()> fn) {
  DaemonRegistry& reg = Registry();
  pthread_mutex_lock(&reg.mu);
  fn();
  pthread_mutex_unlock(&reg.mu);
}
}  // namespace process_internal

Process::Process(Options options, absl::AnyInvocable<int()> fn) {
  const int n = g_process_counter.fetch_add(1, std::memory_order_relaxed) + 1;
  if (options.name.empty()) options.name = absl::StrCat("Process-", n);
  state_ = std::make_unique<ProcessState>(std::move(options), std::move(fn));
}

Process::Process(Options options)
    : Process(std::move(options), absl::AnyInvocable<int()>()) {}

Process::Process(Process&& other) noexcept = default;

Process::~Process() {
  if (state_ == nullptr) return;
  // The child's copy of a Process object (destroyed if the child calls
  // exit()) does nothing: the child is not its parent.
  const pid_t owner = state_->owner.load(std::memory_order_relaxed);
  if (owner != 0 && owner != getpid()) return;
  {
    absl::MutexLock l(&state_->mu);
    AwaitStartedLocked(*state_);
    if (!state_->started || TryReapLocked(*state_)) return;
  }
  if (state_->daemon) {
    (void)Terminate();
    if (!JoinFor(kDaemonGrace)) (void)Kill();
  }
  Join();
}

int Process::Run() {
  ABSL_RAW_CHECK(state_->fn != nullptr,
                 "Process::Run: no function given and Run() not overridden");
  return state_->fn();
}

absl::Status Process::Start() {
  ProcessState& s = *state_;
  const pid_t parent = getpid();
  {
    absl::MutexLock l(&s.mu);
    if (s.started) {
      return ShutDownError(
          absl::StrCat("Process ", s.name, ": cannot start a process twice"));
    }
    s.started = true;
    s.starting = true;
    s.owner.store(parent, std::memory_order_relaxed);
  }
  if (s.daemon) InstallDaemonHandlers();
  const bool on_main_thread = static_cast<pid_t>(syscall(SYS_gettid)) == parent;
  std::fflush(nullptr);
  const pid_t pid = fork();
  const int fork_errno = errno;
  if (pid == 0) RunChild(*this, s, parent, s.daemon && on_main_thread);
  absl::MutexLock l(&s.mu);
  s.starting = false;
  if (pid < 0) {
    s.started = false;  // may be started again
    return ErrnoError(fork_errno, "fork");
  }
  s.pid.store(pid, std::memory_order_relaxed);
  // -1 (ENOSYS, EPERM...): the fallback. SPINDLE_PROCESS_NO_PIDFD in the
  // environment forces the fallback (for spindle's own tests).
  s.pidfd = NoPidfd() ? -1 : PidfdOpen(pid);
  if (s.daemon) RegisterDaemon(pid, s.pidfd);
  return absl::OkStatus();
}

void Process::Join() {
  bool done = JoinFor(absl::InfiniteDuration());
  ABSL_RAW_CHECK(done, "Process::Join: child not reaped");
}

bool Process::JoinFor(absl::Duration timeout) {
  ProcessState& s = *state_;
  const absl::Time deadline = timeout == absl::InfiniteDuration()
                                  ? absl::InfiniteFuture()
                                  : absl::Now() + timeout;
  absl::Duration step = absl::Milliseconds(1);
  for (;;) {
    int pidfd;
    {
      absl::MutexLock l(&s.mu);
      AwaitStartedLocked(s);
      ABSL_RAW_CHECK(s.started, "Process::Join: process was never started");
      if (TryReapLocked(s)) return true;
      pidfd = s.pidfd;
      // Keep the pidfd open while we poll it: only a reap closes it, and a
      // reap makes the next TryReapLocked return true. Duplicate it so a
      // concurrent reap on another thread cannot close it under us.
      if (pidfd >= 0) pidfd = fcntl(pidfd, F_DUPFD_CLOEXEC, 0);
    }
    const absl::Time now = absl::Now();
    if (now >= deadline) {
      if (pidfd >= 0) close(pidfd);
      absl::MutexLock l(&s.mu);
      return TryReapLocked(s);
    }
    if (pidfd >= 0) {
      PollPidfd(pidfd, deadline == absl::InfiniteFuture()
                           ? absl::InfiniteDuration()
                           : deadline - now);
      close(pidfd);
    } else {
      absl::SleepFor(std::min(step, deadline - now));
      step = std::min(step * 2, absl::Milliseconds(20));
    }
  }
}

bool Process::IsAlive() {
  ProcessState& s = *state_;
  absl::MutexLock l(&s.mu);
  AwaitStartedLocked(s);
  if (!s.started) return false;
  return !TryReapLocked(s);
}

pid_t Process::pid() const {
  return state_->pid.load(std::memory_order_relaxed);
}

std::optional<int> Process::exitcode() const {
  absl::MutexLock l(&state_->mu);
  return state_->exitcode;
}

namespace {
absl::Status SendSignal(ProcessState& s, int sig) {
  absl::MutexLock l(&s.mu);
  AwaitStartedLocked(s);
  if (!s.started) {
    return ShutDownError(
        absl::StrCat("Process ", s.name, ": not started, cannot signal it"));
  }
  if (s.exitcode.has_value()) return absl::OkStatus();
  int r = s.pidfd >= 0 ? PidfdSendSignal(s.pidfd, sig)
                       : kill(s.pid.load(std::memory_order_relaxed), sig);
  if (r != 0 && errno != ESRCH) {
    return ErrnoError(errno, s.pidfd >= 0 ? "pidfd_send_signal" : "kill");
  }
  return absl::OkStatus();
}
}  // namespace

absl::Status Process::Terminate() { return SendSignal(*state_, SIGTERM); }
absl::Status Process::Kill() { return SendSignal(*state_, SIGKILL); }

const std::string& Process::name() const { return state_->name; }
bool Process::daemon() const { return state_->daemon; }

}  // namespace spindle
