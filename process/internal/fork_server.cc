// Copyright 2026 The spindle Authors.
//
// A pool's fork server and the caller's side of its control socket (see
// fork_server.h). Private to //process:process_pool.

#include "spindle/process/internal/fork_server.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "spindle/concurrency/status.h"
#include "spindle/process/internal/pool_fds.h"
#include "spindle/process/internal/worker.h"

namespace spindle::process_internal {

// Fork server control messages (SOCK_SEQPACKET: one record each).
enum Op : int32_t {
  kSpawn = 1,
  kReap = 2,
  kKillAndReap = 3,
  kSignal = 4,
  kExit = 5
};
struct Request {
  int32_t op;
  int32_t pid;
  int32_t sig = 0;  // kSignal.
};
struct Reply {
  int32_t pid;     // kSpawn: the worker's pid.
  int32_t error;   // errno of a failure, 0 if none.
  int32_t status;  // kReap: the wait status.
};

namespace {

// ---------------------------------------------------------------------------
// Wait statuses.

const char* SignalName(int sig) {
  switch (sig) {
    case SIGHUP:
      return "SIGHUP";
    case SIGINT:
      return "SIGINT";
    case SIGQUIT:
      return "SIGQUIT";
    case SIGILL:
      return "SIGILL";
    case SIGTRAP:
      return "SIGTRAP";
    case SIGABRT:
      return "SIGABRT";
    case SIGBUS:
      return "SIGBUS";
    case SIGFPE:
      return "SIGFPE";
    case SIGKILL:
      return "SIGKILL";
    case SIGUSR1:
      return "SIGUSR1";
    case SIGSEGV:
      return "SIGSEGV";
    case SIGUSR2:
      return "SIGUSR2";
    case SIGPIPE:
      return "SIGPIPE";
    case SIGALRM:
      return "SIGALRM";
    case SIGTERM:
      return "SIGTERM";
    case SIGXCPU:
      return "SIGXCPU";
    case SIGXFSZ:
      return "SIGXFSZ";
    case SIGSYS:
      return "SIGSYS";
    default:
      return "signal";
  }
}

}  // namespace

std::string DescribeWaitStatus(int status) {
  if (WIFEXITED(status)) {
    return absl::StrCat("exited with status ", WEXITSTATUS(status));
  }
  if (WIFSIGNALED(status)) {
    return absl::StrCat("killed by signal ", WTERMSIG(status), " (",
                        SignalName(WTERMSIG(status)), ")");
  }
  return absl::StrCat("ended with wait status ", status);
}

namespace {

// ---------------------------------------------------------------------------
// The fork server process.

// The pool's processes and the signals a whole process group or service
// gets (see "Signals" in process_pool.h): the fork server ignores SIGINT and
// SIGTERM; a worker ignores SIGINT, and SIGTERM from anyone but its parent
// (the fork server, which sends it for TerminateWorkers()). Everything else
// is at its default and nothing is blocked.
void ConfigureForkServerSignals() {
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sigemptyset(&sa.sa_mask);
  for (int sig = 1; sig < 32; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    sa.sa_handler = (sig == SIGINT || sig == SIGTERM) ? SIG_IGN : SIG_DFL;
    sigaction(sig, &sa, nullptr);
  }
  sa.sa_handler = SIG_DFL;
  for (int sig = SIGRTMIN; sig <= SIGRTMAX; ++sig) sigaction(sig, &sa, nullptr);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
}

// ForkServer::Start: a fork server forked while a window was open exits at
// once with this status and another is forked, at most this many times in
// all (then the last one keeps what it inherited; see pool_fds.h).
constexpr int kForkRetryExit = 117;
constexpr int kForkAttempts = 50;

// Waits for `pid` (a child) to end and returns its wait status; kills it
// if it has not ended within `grace`.
int ReapChild(pid_t pid, absl::Duration grace) {
  int status = 0;
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (pidfd >= 0) {
    struct pollfd p = {pidfd, POLLIN, 0};
    int r;
    do {
      r = poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(grace)));
    } while (r < 0 && errno == EINTR);
    close(pidfd);
    if (r == 0) kill(pid, SIGKILL);
  } else {
    // No pidfd (old kernel): poll with short sleeps.
    absl::Time deadline = absl::Now() + grace;
    for (;;) {
      pid_t r = waitpid(pid, &status, WNOHANG);
      if (r == pid) return status;
      if (r < 0 && errno != EINTR) return 0;
      if (absl::Now() > deadline) {
        kill(pid, SIGKILL);
        break;
      }
      absl::SleepFor(absl::Milliseconds(1));
    }
  }
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return 0;
  }
  return status;
}

// SIGCHLD in the fork server: blocked except while it waits for a request
// (ppoll), where its handler's only effect is to interrupt the wait, so
// that a worker that dies while idle is reaped at once (ReapExited), not
// left a zombie until the pool next asks for it.
void OnSigchld(int) {}

void CatchSigchld(sigset_t* wait_mask) {
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, wait_mask);
  sigdelset(wait_mask, SIGCHLD);
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = &OnSigchld;  // No SA_RESTART: ppoll returns EINTR.
  sigemptyset(&sa.sa_mask);
  sigaction(SIGCHLD, &sa, nullptr);
}

// In a just-forked worker: SIGCHLD as the fork server found it.
void ReleaseSigchld() {
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = SIG_DFL;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGCHLD, &sa, nullptr);
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_UNBLOCK, &chld, nullptr);
}

// Reaps the workers in `children` that have ended, moving each to `exited`
// with its wait status (kept for the pool's kReap).
void ReapExited(std::vector<pid_t>& children,
                std::vector<std::pair<pid_t, int>>& exited) {
  for (size_t i = 0; i < children.size();) {
    int status = 0;
    if (waitpid(children[i], &status, WNOHANG) == children[i]) {
      exited.emplace_back(children[i], status);
      children.erase(children.begin() + static_cast<ptrdiff_t>(i));
    } else {
      ++i;
    }
  }
}

absl::Status SendReply(int ctl, const Reply& reply, int fd_to_pass) {
  struct iovec iov = {const_cast<Reply*>(&reply), sizeof(reply)};
  struct msghdr msg;
  memset(&msg, 0, sizeof(msg));
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  if (fd_to_pass >= 0) {
    memset(control, 0, sizeof(control));
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd_to_pass, sizeof(int));
  }
  while (sendmsg(ctl, &msg, MSG_NOSIGNAL) < 0) {
    if (errno != EINTR) return ErrnoError(errno, "sendmsg");
  }
  return absl::OkStatus();
}

// The fork server: single-threaded; serves requests until kExit or EOF,
// then kills and reaps whatever workers are left, and exits.
[[noreturn]] void ForkServerMain(int ctl, const WorkerConfig& config) {
  ConfigureForkServerSignals();
  // Tell the caller that the start-up is over (see ForkServer::Start).
  if (!SendReply(ctl, Reply{getpid(), 0, 0}, -1).ok()) ExitChild(0);
  sigset_t wait_mask;
  CatchSigchld(&wait_mask);
  std::vector<pid_t> children;                // Not reaped yet.
  std::vector<std::pair<pid_t, int>> exited;  // Reaped, not yet reported.
  for (;;) {
    ReapExited(children, exited);
    struct pollfd p = {ctl, POLLIN, 0};
    if (ppoll(&p, 1, nullptr, &wait_mask) < 0) continue;  // EINTR: SIGCHLD.
    Request req;
    ssize_t n = recv(ctl, &req, sizeof(req), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n != static_cast<ssize_t>(sizeof(req)) || req.op == kExit) break;
    Reply reply = {0, 0, 0};
    if (req.op == kSpawn) {
      int sv[2];
      if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        reply.error = errno;
        if (!SendReply(ctl, reply, -1).ok()) break;
        continue;
      }
      fflush(nullptr);
      pid_t pid = fork();
      if (pid == 0) {
        ReleaseSigchld();
        close(ctl);
        close(sv[0]);
        WorkerMain(sv[1], config);
      }
      close(sv[1]);
      if (pid < 0) {
        reply.error = errno;
        close(sv[0]);
        if (!SendReply(ctl, reply, -1).ok()) break;
        continue;
      }
      children.push_back(pid);
      reply.pid = pid;
      absl::Status s = SendReply(ctl, reply, sv[0]);
      close(sv[0]);
      if (!s.ok()) break;
    } else if (req.op == kSignal) {
      // Only a child not yet reaped: its pid cannot have been reused.
      if (std::find(children.begin(), children.end(), req.pid) ==
          children.end()) {
        reply.error = ESRCH;
      } else if (kill(req.pid, req.sig) != 0) {
        reply.error = errno;
      }
      if (!SendReply(ctl, reply, -1).ok()) break;
    } else if (req.op == kReap || req.op == kKillAndReap) {
      auto it = std::find(children.begin(), children.end(), req.pid);
      auto gone = std::find_if(
          exited.begin(), exited.end(),
          [&](const std::pair<pid_t, int>& e) { return e.first == req.pid; });
      if (gone != exited.end()) {  // Reaped already (ReapExited).
        reply.pid = req.pid;
        reply.status = gone->second;
        exited.erase(gone);
      } else if (it == children.end()) {
        reply.error = ECHILD;
      } else {
        children.erase(it);
        if (req.op == kKillAndReap) kill(req.pid, SIGKILL);
        reply.pid = req.pid;
        reply.status = ReapChild(req.pid, absl::Seconds(5));
      }
      if (!SendReply(ctl, reply, -1).ok()) break;
    } else {
      break;
    }
  }
  for (pid_t pid : children) kill(pid, SIGKILL);
  for (pid_t pid : children) ReapChild(pid, absl::Seconds(5));
  close(ctl);
  ExitChild(0);
}

}  // namespace

// ---------------------------------------------------------------------------
// ForkServer: the caller's side of the control socket.

absl::StatusOr<std::unique_ptr<ForkServer>> ForkServer::Start(
    const WorkerConfig& config) {
  for (int attempt = 1;; ++attempt) {
    int sv[2];
    {
      FdWindow window;
      if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
        return ErrnoError(errno, "socketpair");
      }
      Mark(sv[0]);
      Mark(sv[1]);
    }
    fflush(nullptr);  // Do not let children inherit unwritten stdio buffers.
    AwaitNoWindows();
    // Every signal blocked across the fork: the child must not run this
    // process's handlers before it has reset them.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    const uint64_t before = LoadWindows();
    const pid_t pid = fork();
    if (pid == 0) {
      // Go ahead only once the parent has seen that the copy of the pool
      // descriptors is exact (see pool_fds.h).
      char verdict = 0;
      while (recv(sv[1], &verdict, 1, 0) < 0 && errno == EINTR) {
      }
      if (verdict != 'G') _exit(kForkRetryExit);
      CloseMarkedInChild(/*keep=*/sv[1]);
      ForkServerMain(sv[1], config);
    }
    const int saved = errno;
    const bool clean = ForkWasClean(before, LoadWindows());
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    UnregisterAndClose(sv[1]);
    if (pid < 0) {
      UnregisterAndClose(sv[0]);
      return ErrnoError(saved, "fork");
    }
    // After many tries, keep what we have: at worst the fork server holds
    // a descriptor of another pool that was being created or closed.
    const char verdict = clean || attempt >= kForkAttempts ? 'G' : 'R';
    bool started = false;
    if (send(sv[0], &verdict, 1, MSG_NOSIGNAL) == 1 && verdict == 'G') {
      // Its first message says it started (EOF: it exited).
      Reply hello;
      ssize_t n;
      while ((n = recv(sv[0], &hello, sizeof(hello), 0)) < 0 &&
             errno == EINTR) {
      }
      started = n == static_cast<ssize_t>(sizeof(hello));
    }
    if (started) {
      return std::unique_ptr<ForkServer>(new ForkServer(pid, sv[0]));
    }
    UnregisterAndClose(sv[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (verdict == 'R' && WIFEXITED(status) &&
        WEXITSTATUS(status) == kForkRetryExit) {
      continue;
    }
    return BrokenError(absl::StrCat(
        "the fork server ", DescribeWaitStatus(status), " while starting"));
  }
}

ForkServer::~ForkServer() { Stop(); }

absl::StatusOr<std::pair<pid_t, int>> ForkServer::Spawn() {
  absl::MutexLock lock(&mu_);
  if (fd_ < 0) return BrokenError("the fork server has stopped");
  absl::Status s = SendRequest({kSpawn, 0, 0});
  if (!s.ok()) return s;
  // Wait for the reply outside a window (forking the worker takes a
  // while), then receive and register the descriptor in one.
  struct pollfd p = {fd_, POLLIN, 0};
  while (poll(&p, 1, -1) < 0 && errno == EINTR) {
  }
  Reply reply;
  int fd = -1;
  {
    FdWindow window;
    s = RecvReply(&reply, &fd, MSG_DONTWAIT);
    if (s.ok() && fd >= 0) Mark(fd);
  }
  if (!s.ok()) return s;
  if (reply.error != 0) return ErrnoError(reply.error, "fork (fork server)");
  if (fd < 0) return BrokenError("fork server sent no worker socket");
  return std::make_pair(static_cast<pid_t>(reply.pid), fd);
}

absl::StatusOr<int> ForkServer::Reap(pid_t pid, bool kill) {
  return Call({kill ? kKillAndReap : kReap, pid, 0}, "waitpid (fork server)");
}

absl::Status ForkServer::Signal(pid_t pid, int sig) {
  return Call({kSignal, pid, sig}, "kill (fork server)").status();
}

absl::StatusOr<int> ForkServer::Call(Request req, const char* what) {
  absl::MutexLock lock(&mu_);
  if (fd_ < 0) return BrokenError("the fork server has stopped");
  absl::Status s = SendRequest(req);
  if (!s.ok()) return s;
  Reply reply;
  int fd = -1;
  s = RecvReply(&reply, &fd, 0);
  if (fd >= 0) close(fd);
  if (!s.ok()) return s;
  if (reply.error != 0) return ErrnoError(reply.error, what);
  return reply.status;
}

void ForkServer::Stop() {
  absl::MutexLock lock(&mu_);
  if (fd_ < 0) return;
  (void)SendRequest({kExit, 0, 0});
  UnregisterAndClose(fd_);
  fd_ = -1;
  int status;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = 0;
}

pid_t ForkServer::pid() const {
  absl::MutexLock lock(&mu_);
  return pid_;
}

ForkServer::ForkServer(pid_t pid, int fd) : pid_(pid), fd_(fd) {}

absl::Status ForkServer::SendRequest(Request req) {
  while (send(fd_, &req, sizeof(req), MSG_NOSIGNAL) < 0) {
    if (errno != EINTR) {
      return BrokenError(absl::StrCat(
          "the fork server is gone (send: ", strerror(errno), ")"));
    }
  }
  return absl::OkStatus();
}

absl::Status ForkServer::RecvReply(Reply* reply, int* fd, int flags) {
  struct iovec iov = {reply, sizeof(*reply)};
  struct msghdr msg;
  memset(&msg, 0, sizeof(msg));
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  ssize_t n;
  while ((n = recvmsg(fd_, &msg, MSG_CMSG_CLOEXEC | flags)) < 0 &&
         errno == EINTR) {
  }
  *fd = -1;
  for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr;
       c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      memcpy(fd, CMSG_DATA(c), sizeof(int));
    }
  }
  if (n != static_cast<ssize_t>(sizeof(*reply))) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
    return BrokenError("the fork server is gone");
  }
  return absl::OkStatus();
}

}  // namespace spindle::process_internal
