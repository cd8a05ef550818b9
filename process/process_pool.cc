// Copyright 2026 The spindle Authors.
//
// Layout of a pool (see process_pool.h for the contract):
//
//   caller process                      fork server              workers
//   -------------------------------     ----------------------   ----------
//   Submit -> queue_ (under mu_)
//   manager thread i  --- AF_UNIX stream socket, framed messages ---  worker i
//   ForkServer (mu_)  --- SOCK_SEQPACKET control ---  fork server  --fork-->
//                         (spawn / reap / exit)       (single-threaded;
//                         worker socket back via      reaps its children)
//                         SCM_RIGHTS
//
// One manager thread per worker hands it one task at a time and blocks on
// its reply, so a crash is seen as EOF on that one socket and fails that one
// task. Workers are children of the fork server, which reaps them on
// request and reports their wait status; the caller reaps the fork server.
//
// Messages (framed by spindle::Connection: a length, then the bytes):
//   caller -> worker  'T' invoker(8) fn(8) arg...  |  'X' (exit)
//   worker -> caller  'R' (ready, after the initializer)
//                     'F' message  (initializer failed; the worker exits)
//                     'V' result   |  'E' exception message
//                     'I' message  (result over max_message)

#include "spindle/process/process_pool.h"

#include <cxxabi.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/base/const_init.h"
#include "absl/base/internal/raw_logging.h"
#include "absl/strings/str_cat.h"
#include "spindle/concurrency/internal/spin.h"
#include "spindle/process/connection.h"

namespace spindle {
namespace {

// ---------------------------------------------------------------------------
// The pool descriptors of this process (of every pool in it).
//
// A fork server closes all of them right after it is forked, so that it (and
// its workers) never hold another pool's sockets: EOF on a socket then really
// means that the other side is gone. The set takes no lock, so that no lock
// of spindle's is ever held across a fork - neither ours nor one another
// thread makes (a lock held across the fork of a fork server stays locked in
// every worker, and a task that starts a pool of its own would hang on it):
//   * The set is a bitmap of atomic words indexed by descriptor, in chunks
//     allocated on first use and never freed.
//   * Every change of the descriptor table that involves a pool descriptor
//     (creating or receiving one, then marking it; unmarking one, then
//     closing it) happens inside a "window". g_windows counts the windows
//     open and those ever entered (a generation), tagged with the pid of the
//     process that counts (a forked child's copy is its parent's, and counts
//     threads that do not exist there).
//   * fork() copies the descriptor table first and the memory page by page
//     afterwards, so a child's copy of the set is exact only if no window
//     was open at any moment of the fork. ForkServer::Start checks this in
//     the parent: no window open just before fork(), and the generation
//     unchanged when it returns. Otherwise the new fork server is told to
//     exit at once, and another is forked.
// Unmarking comes before closing, so the set never names a descriptor that
// is not a pool's.
//
// A child forked by other means (spindle::Process, fork()) inherits the set
// with the descriptors: they are still pool descriptors (its parent's), so a
// pool the child starts closes them in its own fork server.

constexpr int kFdsPerChunkLog2 = 16;
constexpr int kFdsPerChunk = 1 << kFdsPerChunkLog2;
constexpr int kWordsPerChunk = kFdsPerChunk / 64;
constexpr int kChunks = 1 << 15;  // Descriptors below 2^31.

ABSL_CONST_INIT std::atomic<std::atomic<uint64_t>*> g_fd_chunks[kChunks] = {};

// g_windows: pid (bits 63-32), generation (31-12), windows open (11-0).
constexpr uint64_t kPidMask = ~uint64_t{0xffffffff};
constexpr int kGenShift = 12;
constexpr uint64_t kGenMask = 0xfffff;
constexpr uint64_t kOpenMask = 0xfff;
ABSL_CONST_INIT std::atomic<uint64_t> g_windows{0};

// One change of the descriptor table involving pool descriptors.
class FdWindow {
 public:
  FdWindow() {
    const uint64_t me = static_cast<uint64_t>(getpid()) << 32;
    uint64_t v = g_windows.load(std::memory_order_relaxed);
    uint64_t next;
    do {
      const bool mine = (v & kPidMask) == me;
      const uint64_t gen = mine ? (v >> kGenShift) & kGenMask : 0;
      const uint64_t open = mine ? v & kOpenMask : 0;
      ABSL_RAW_CHECK(open < kOpenMask, "too many pool descriptor windows");
      next = me | (((gen + 1) & kGenMask) << kGenShift) | (open + 1);
    } while (!g_windows.compare_exchange_weak(
        v, next, std::memory_order_seq_cst, std::memory_order_relaxed));
  }
  ~FdWindow() { g_windows.fetch_sub(1, std::memory_order_seq_cst); }
  FdWindow(const FdWindow&) = delete;
  FdWindow& operator=(const FdWindow&) = delete;
};

// Waits until none of this process's windows is open (briefly: windows are
// a system call or two long; at most 100 ms).
void AwaitNoWindows() {
  const uint64_t me = static_cast<uint64_t>(getpid()) << 32;
  auto none_open = [me](uint64_t v) {
    return (v & kPidMask) != me || (v & kOpenMask) == 0;
  };
  const absl::Time deadline = absl::Now() + absl::Milliseconds(100);
  uint64_t v = g_windows.load(std::memory_order_seq_cst);
  while (!none_open(v) && absl::Now() < deadline) {
    internal::SpinUntil(
        [&] {
          v = g_windows.load(std::memory_order_seq_cst);
          return none_open(v);
        },
        internal::SpinBudget(1000));
    if (!none_open(v)) sched_yield();
    v = g_windows.load(std::memory_order_seq_cst);
  }
}

// Whether a fork made between reading g_windows as `before` and as `after`
// raced with no window (see above).
bool ForkWasClean(uint64_t before, uint64_t after) {
  const uint64_t me = static_cast<uint64_t>(getpid()) << 32;
  if ((before & kPidMask) != me) return (after & kPidMask) != me;
  return (before & kOpenMask) == 0 && after == before;
}

std::atomic<uint64_t>* Chunk(int fd, bool create) {
  std::atomic<std::atomic<uint64_t>*>& slot =
      g_fd_chunks[fd >> kFdsPerChunkLog2];
  std::atomic<uint64_t>* chunk = slot.load(std::memory_order_acquire);
  if (chunk != nullptr || !create) return chunk;
  auto* fresh = new std::atomic<uint64_t>[kWordsPerChunk]();
  if (slot.compare_exchange_strong(chunk, fresh, std::memory_order_acq_rel,
                                   std::memory_order_acquire)) {
    return fresh;
  }
  delete[] fresh;
  return chunk;  // Installed by another thread meanwhile.
}

bool InRange(int fd) { return fd >= 0 && (fd >> kFdsPerChunkLog2) < kChunks; }

// Call inside an FdWindow (or in a single-threaded process).
void Mark(int fd) {
  if (!InRange(fd)) return;
  Chunk(fd, /*create=*/true)[(fd & (kFdsPerChunk - 1)) >> 6].fetch_or(
      uint64_t{1} << (fd & 63), std::memory_order_relaxed);
}

void Unmark(int fd) {
  if (!InRange(fd)) return;
  std::atomic<uint64_t>* chunk = Chunk(fd, /*create=*/false);
  if (chunk == nullptr) return;
  chunk[(fd & (kFdsPerChunk - 1)) >> 6].fetch_and(~(uint64_t{1} << (fd & 63)),
                                                  std::memory_order_relaxed);
}

void UnregisterAndClose(int fd) {
  FdWindow window;
  Unmark(fd);
  close(fd);
}

// In a just-forked fork server (single-threaded): closes every pool
// descriptor but `keep` and empties the set - this process has no pool.
void CloseMarkedInChild(int keep) {
  for (int i = 0; i < kChunks; ++i) {
    std::atomic<uint64_t>* chunk =
        g_fd_chunks[i].load(std::memory_order_relaxed);
    if (chunk == nullptr) continue;
    for (int w = 0; w < kWordsPerChunk; ++w) {
      uint64_t bits = chunk[w].exchange(0, std::memory_order_relaxed);
      while (bits != 0) {
        const int fd =
            (i << kFdsPerChunkLog2) | (w << 6) | __builtin_ctzll(bits);
        bits &= bits - 1;
        if (fd != keep) close(fd);
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Messages (Connection frames them).

constexpr size_t kTaskPrefix = 1 + 2 * sizeof(uint64_t);

// Wraps a worker socket. Both directions carry at most a task message.
Connection WorkerConnection(int fd, size_t max_message) {
  return Connection::FromFd(fd, /*readable=*/true, /*writable=*/true,
                            /*is_socket=*/true, max_message + kTaskPrefix);
}

// Sends `head` and `body` as one message.
absl::Status SendMessage(Connection& conn, absl::string_view head,
                         absl::string_view body) {
  if (body.empty()) return conn.SendBytes(head);
  std::string message;
  message.reserve(head.size() + body.size());
  message.append(head.data(), head.size());
  message.append(body.data(), body.size());
  return conn.SendBytes(message);
}

// Forgets `conn`'s descriptor (see the pool descriptors above) and closes
// it.
void UnregisterAndClose(Connection& conn) {
  if (conn.closed()) return;
  FdWindow window;
  Unmark(conn.fileno());
  conn.Close();
}

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

std::string DescribeCurrentException() {
  try {
    throw;
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    const std::type_info* type = abi::__cxa_current_exception_type();
    if (type == nullptr) return "non-std exception";
    int err = 0;
    char* name = abi::__cxa_demangle(type->name(), nullptr, nullptr, &err);
    std::string out = absl::StrCat("non-std exception of type ",
                                   name != nullptr ? name : type->name());
    free(name);
    return out;
  }
}

// ---------------------------------------------------------------------------
// Child processes.

struct WorkerConfig {
  size_t max_message;
  absl::Status (*initializer)();
};

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

// A worker's SIGTERM handler: dies of the signal if the fork server sent it,
// ignores it otherwise (async-signal-safe).
void OnWorkerSigterm(int sig, siginfo_t* info, void*) {
  const bool from_user = info->si_code == SI_USER ||
                         info->si_code == SI_QUEUE || info->si_code == SI_TKILL;
  if (!from_user || info->si_pid != getppid()) return;
  struct sigaction dfl;
  memset(&dfl, 0, sizeof(dfl));
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  sigaction(sig, &dfl, nullptr);
  raise(sig);  // Delivered, and fatal, once this handler returns.
}

// In a just-forked worker (SIGINT and SIGTERM are ignored, inherited from
// the fork server, so there is no moment at which a stray SIGTERM kills it).
void ConfigureWorkerSignals() {
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_sigaction = &OnWorkerSigterm;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
}

[[noreturn]] void ExitChild(int code) {
  fflush(nullptr);
  _exit(code);
}

[[noreturn]] void WorkerMain(int fd, const WorkerConfig& config) {
  ConfigureWorkerSignals();
  // Single-threaded: no window needed. A pool the task starts closes this
  // socket in its fork server, so the caller sees EOF when this worker dies.
  Mark(fd);
  Connection conn = WorkerConnection(fd, config.max_message);
  if (config.initializer != nullptr) {
    std::string failure;
    try {
      absl::Status s = config.initializer();
      if (!s.ok()) failure = s.ToString();
    } catch (...) {
      failure = DescribeCurrentException();
    }
    if (!failure.empty()) {
      failure.resize(std::min(failure.size(), config.max_message));
      (void)SendMessage(conn, "F", failure);
      ExitChild(0);
    }
  }
  if (!conn.SendBytes("R").ok()) ExitChild(0);
  for (;;) {
    absl::StatusOr<std::string> msg = conn.RecvBytes();
    if (!msg.ok() || msg->size() < kTaskPrefix || (*msg)[0] != 'T') break;
    uint64_t invoker_bits, fn_bits;
    memcpy(&invoker_bits, msg->data() + 1, sizeof(invoker_bits));
    memcpy(&fn_bits, msg->data() + 1 + sizeof(invoker_bits), sizeof(fn_bits));
    auto invoker = reinterpret_cast<internal::ProcessInvoker>(
        static_cast<uintptr_t>(invoker_bits));
    auto fn = reinterpret_cast<const void*>(static_cast<uintptr_t>(fn_bits));
    absl::string_view arg = absl::string_view(*msg).substr(kTaskPrefix);
    const char* kind = "V";
    std::string out;
    try {
      out = invoker(fn, arg);
    } catch (...) {
      kind = "E";
      out = DescribeCurrentException();
      out.resize(std::min(out.size(), config.max_message));
    }
    if (out.size() > config.max_message) {
      out =
          absl::StrCat("result of ", out.size(), " bytes exceeds max_message (",
                       config.max_message, ")");
      kind = "I";
    }
    if (!SendMessage(conn, kind, out).ok()) break;
  }
  ExitChild(0);
}

// ForkServer::Start: a fork server forked while a window was open exits at
// once with this status and another is forked, at most this many times in
// all (then the last one keeps what it inherited; see the pool descriptors
// above).
constexpr int kForkRetryExit = 117;
constexpr int kForkAttempts = 50;

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
  std::vector<pid_t> children;
  for (;;) {
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
      if (it == children.end()) {
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

class ProcessPoolExecutor::ForkServer {
 public:
  static absl::StatusOr<std::unique_ptr<ForkServer>> Start(
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
      const uint64_t before = g_windows.load(std::memory_order_seq_cst);
      const pid_t pid = fork();
      if (pid == 0) {
        // Go ahead only once the parent has seen that the copy of the pool
        // descriptors is exact (see above).
        char verdict = 0;
        while (recv(sv[1], &verdict, 1, 0) < 0 && errno == EINTR) {
        }
        if (verdict != 'G') _exit(kForkRetryExit);
        CloseMarkedInChild(/*keep=*/sv[1]);
        ForkServerMain(sv[1], config);
      }
      const int saved = errno;
      const bool clean =
          ForkWasClean(before, g_windows.load(std::memory_order_seq_cst));
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

  ~ForkServer() { Stop(); }

  // Forks a worker; returns its pid and the caller's end of its socket
  // (registered; close it with UnregisterAndClose).
  absl::StatusOr<std::pair<pid_t, int>> Spawn() {
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

  // Reaps worker `pid` (after SIGKILL if `kill`) and returns its wait
  // status.
  absl::StatusOr<int> Reap(pid_t pid, bool kill) {
    return Call({kill ? kKillAndReap : kReap, pid, 0}, "waitpid (fork server)");
  }

  // Sends `sig` to worker `pid` if it has not been reaped.
  absl::Status Signal(pid_t pid, int sig) {
    return Call({kSignal, pid, sig}, "kill (fork server)").status();
  }

  // One request that carries no descriptor back: its reply's status, or
  // the errno the fork server reported (as an ErrnoError naming `what`).
  absl::StatusOr<int> Call(Request req, const char* what) {
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

  // Tells the fork server to exit (it kills and reaps any worker left) and
  // reaps it. Idempotent.
  void Stop() {
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

  pid_t pid() const {
    absl::MutexLock lock(&mu_);
    return pid_;
  }

 private:
  ForkServer(pid_t pid, int fd) : pid_(pid), fd_(fd) {}

  absl::Status SendRequest(Request req) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    while (send(fd_, &req, sizeof(req), MSG_NOSIGNAL) < 0) {
      if (errno != EINTR) {
        return BrokenError(absl::StrCat(
            "the fork server is gone (send: ", strerror(errno), ")"));
      }
    }
    return absl::OkStatus();
  }

  absl::Status RecvReply(Reply* reply, int* fd, int flags)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
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

  mutable absl::Mutex mu_;  // Serialises request/reply pairs.
  pid_t pid_ ABSL_GUARDED_BY(mu_);
  int fd_ ABSL_GUARDED_BY(mu_);
};

// ---------------------------------------------------------------------------
// ProcessPoolExecutor.

struct ProcessPoolExecutor::Worker {
  pid_t pid = 0;
  Connection conn;  // Closed when there is no worker.
  int tasks = 0;
  // Counted in core_->completing (guarded by core_->mu).
  bool completing = false;
};

namespace {

// Set on a manager thread while it completes a task's future (the future's
// callbacks run then): its pool and its Worker.
thread_local const ProcessPoolExecutor* t_completing_pool = nullptr;
thread_local void* t_completing_worker = nullptr;

// How long a manager without a worker process leaves a queued task to a
// manager that has one and is finishing a previous task's callbacks, before
// it takes the task and starts a new worker process (see NextTask).
constexpr absl::Duration kColdStartGrace = absl::Milliseconds(100);

}  // namespace

int ProcessPoolExecutor::DefaultMaxWorkers() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    return std::max(1, CPU_COUNT(&set));
  }
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

namespace {
absl::Status CheckOptions(const ProcessPoolExecutor::Options& o) {
  if (o.max_workers.has_value() && *o.max_workers <= 0) {
    return absl::InvalidArgumentError("max_workers must be greater than 0");
  }
  if (o.max_tasks_per_child.has_value() && *o.max_tasks_per_child <= 0) {
    return absl::InvalidArgumentError(
        "max_tasks_per_child must be greater than 0");
  }
  if (o.max_message == 0 ||
      o.max_message > Connection::kMaxMaxMessage - kTaskPrefix) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_message must be in [1, ",
                     Connection::kMaxMaxMessage - kTaskPrefix, "]"));
  }
  return absl::OkStatus();
}
}  // namespace

absl::StatusOr<std::unique_ptr<ProcessPoolExecutor>>
ProcessPoolExecutor::Create(Options options) {
  absl::Status s = CheckOptions(options);
  if (!s.ok()) return s;
  std::unique_ptr<ProcessPoolExecutor> pool(
      new ProcessPoolExecutor(std::move(options), CreateTag()));
  s = pool->Start();
  if (!s.ok()) return s;
  return pool;
}

ProcessPoolExecutor::ProcessPoolExecutor(Options options, CreateTag)
    : max_workers_(options.max_workers.value_or(DefaultMaxWorkers())),
      max_tasks_per_child_(options.max_tasks_per_child.value_or(0)),
      max_message_(options.max_message),
      initializer_(options.initializer),
      owner_pid_(getpid()),
      core_(new Core) {}

ProcessPoolExecutor::ProcessPoolExecutor(Options options)
    : ProcessPoolExecutor(options, CreateTag()) {
  absl::Status s = CheckOptions(options);
  if (s.ok()) s = Start();
  if (!s.ok()) {
    ABSL_RAW_LOG(FATAL, "ProcessPoolExecutor: %s", s.ToString().c_str());
  }
}

absl::Status ProcessPoolExecutor::Start() {
  absl::StatusOr<std::unique_ptr<ForkServer>> fs =
      ForkServer::Start(WorkerConfig{max_message_, initializer_});
  if (!fs.ok()) return fs.status();
  core_->fork_server = *std::move(fs);
  return absl::OkStatus();
}

bool ProcessPoolExecutor::InOwner() const { return getpid() == owner_pid_; }

ProcessPoolExecutor::~ProcessPoolExecutor() {
  // A forked child's copy (the child called exit() with a static pool, say):
  // its threads do not exist here, and its fork server, workers and queued
  // futures are the parent's. Leave them alone; the copy of core_ is leaked.
  if (!InOwner()) return;
  Shutdown(/*wait=*/true);
  if (core_->fork_server != nullptr) core_->fork_server->Stop();
  delete core_;
}

Future<std::string> ProcessPoolExecutor::Submit(ProcessTask fn,
                                                std::string arg) {
  return SubmitInternal(
      [](const void* f, absl::string_view a) {
        return reinterpret_cast<ProcessTask>(const_cast<void*>(f))(a);
      },
      reinterpret_cast<const void*>(fn), std::move(arg));
}

Future<std::string> ProcessPoolExecutor::SubmitInternal(
    internal::ProcessInvoker invoker, const void* fn, std::string arg) {
  Promise<std::string> promise;
  Future<std::string> future = promise.future();
  absl::Status rejected;
  if (!InOwner()) {
    rejected = absl::FailedPreconditionError(absl::StrCat(
        "this ProcessPoolExecutor belongs to process ", owner_pid_,
        "; a forked child of it (such as one of its workers) cannot use it"));
  } else if (fn == nullptr) {
    rejected = absl::InvalidArgumentError("null task function");
  } else if (arg.size() > max_message_) {
    rejected = absl::InvalidArgumentError(
        absl::StrCat("argument of ", arg.size(), " bytes exceeds max_message (",
                     max_message_, ")"));
  } else {
    absl::MutexLock lock(&core_->mu);
    if (!core_->broken.ok()) {
      rejected = core_->broken;
    } else if (core_->shutdown) {
      rejected = ShutDownError("cannot schedule new futures after shutdown");
    } else {
      // Submitted from a callback of a task this very manager completed:
      // its worker is not about to be free (the callback may wait for this
      // task), so it no longer counts as completing.
      if (t_completing_pool == this) {
        Worker* w = static_cast<Worker*>(t_completing_worker);
        if (w->completing) {
          w->completing = false;
          --core_->completing;
        }
      }
      core_->queue.push_back(
          Task{invoker, fn, std::move(arg), std::move(promise)});
      // As CPython: a new worker if there are more tasks than idle ones
      // (a worker running callbacks is not idle).
      if (core_->queue.size() > static_cast<size_t>(core_->idle) &&
          core_->threads.size() < static_cast<size_t>(max_workers_)) {
        StartManagerLocked();
      }
      return future;
    }
  }
  (void)promise.SetError(rejected);
  return future;
}

void ProcessPoolExecutor::StartManagerLocked() {
  core_->threads.emplace_back([this] { ManagerMain(); });
}

bool ProcessPoolExecutor::NextTask(Worker& w, std::optional<Task>* task) {
  Core& c = *core_;
  absl::MutexLock lock(&c.mu);
  if (w.completing) {
    w.completing = false;
    --c.completing;
  }
  // A manager whose worker process is alive ("warm") takes any task. One
  // without ("cold": not started yet, crashed, rotated) would start a
  // process for it, so it leaves the task for a while to warm managers that
  // are idle or finishing callbacks, unless there are more tasks than
  // those: a caller that submits as soon as it sees a result (before the
  // manager that produced it is done with the callbacks) reuses that worker,
  // while a callback that blocks delays the task by kColdStartGrace at most.
  const bool warm = !w.conn.closed();
  ++c.idle;
  if (warm) ++c.idle_warm;
  absl::Time grace_end = absl::InfiniteFuture();
  bool take = false;
  for (;;) {
    if (!c.broken.ok()) break;
    if (c.queue.empty()) {
      if (c.shutdown) break;
      grace_end = absl::InfiniteFuture();
    } else if (warm ||
               c.queue.size() >
                   static_cast<size_t>(c.idle_warm + c.completing) ||
               absl::Now() >= grace_end) {
      take = true;
      break;
    } else if (grace_end == absl::InfiniteFuture()) {
      grace_end = absl::Now() + kColdStartGrace;
    }
    const bool waiting_out_grace = grace_end != absl::InfiniteFuture();
    auto wake = [&c, warm,
                 waiting_out_grace]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(c.mu) {
      if (!c.broken.ok()) return true;
      if (c.queue.empty()) return c.shutdown;
      return warm || !waiting_out_grace ||
             c.queue.size() > static_cast<size_t>(c.idle_warm + c.completing);
    };
    c.mu.AwaitWithDeadline(absl::Condition(&wake), grace_end);
  }
  --c.idle;
  if (warm) --c.idle_warm;
  if (!take) return false;
  task->emplace(std::move(c.queue.front()));
  c.queue.pop_front();
  return true;
}

void ProcessPoolExecutor::ManagerMain() {
  Worker w;
  for (;;) {
    std::optional<Task> task;
    if (!NextTask(w, &task)) break;
    if (!task->promise.SetRunning().ok()) continue;  // Cancelled.
    if (!RunTask(w, *task)) break;
  }
  {
    absl::MutexLock lock(&core_->mu);
    if (w.completing) {
      w.completing = false;
      --core_->completing;
    }
  }
  if (!w.conn.closed()) StopWorker(w, /*kill=*/false);
}

void ProcessPoolExecutor::BeginCompleting(Worker& w) {
  {
    absl::MutexLock lock(&core_->mu);
    if (!w.conn.closed()) {
      w.completing = true;
      ++core_->completing;
    }
  }
  t_completing_pool = this;
  t_completing_worker = &w;
}

void ProcessPoolExecutor::EndCompleting() {
  // The manager counts itself idle in its next NextTask().
  t_completing_pool = nullptr;
  t_completing_worker = nullptr;
}

absl::Status ProcessPoolExecutor::SpawnWorker(Worker& w) {
  absl::StatusOr<std::pair<pid_t, int>> spawned = core_->fork_server->Spawn();
  if (!spawned.ok()) {
    return BrokenError(absl::StrCat("cannot start a worker process: ",
                                    spawned.status().message()));
  }
  w.pid = spawned->first;
  w.conn = WorkerConnection(spawned->second, max_message_);
  w.tasks = 0;
  {
    absl::MutexLock lock(&core_->mu);
    core_->pids.push_back(w.pid);
  }
  // The worker runs the initializer, then says it is ready.
  const pid_t pid = w.pid;
  absl::StatusOr<std::string> hello = w.conn.RecvBytes();
  if (hello.ok() && *hello == "R") return absl::OkStatus();
  if (hello.ok() && !hello->empty() && (*hello)[0] == 'F') {
    StopWorker(w, /*kill=*/true);
    return BrokenError(absl::StrCat("initializer failed in worker process ",
                                    pid, ": ", hello->substr(1)));
  }
  std::string how = StopWorker(w, /*kill=*/true);
  return BrokenError(
      absl::StrCat("worker process ", pid, " failed to start: ", how));
}

std::string ProcessPoolExecutor::StopWorker(Worker& w, bool kill) {
  if (!kill) (void)w.conn.SendBytes("X");
  UnregisterAndClose(w.conn);
  absl::StatusOr<int> status = core_->fork_server->Reap(w.pid, kill);
  {
    absl::MutexLock lock(&core_->mu);
    std::vector<pid_t>& pids = core_->pids;
    pids.erase(std::remove(pids.begin(), pids.end(), w.pid), pids.end());
  }
  w.pid = 0;
  w.tasks = 0;
  if (!status.ok()) {
    return absl::StrCat("(wait status unknown: ", status.status().message(),
                        ")");
  }
  return DescribeWaitStatus(*status);
}

bool ProcessPoolExecutor::RunTask(Worker& w, Task& task) {
  char head[kTaskPrefix];
  head[0] = 'T';
  uint64_t invoker_bits = reinterpret_cast<uintptr_t>(task.invoker);
  uint64_t fn_bits = reinterpret_cast<uintptr_t>(task.fn);
  memcpy(head + 1, &invoker_bits, sizeof(invoker_bits));
  memcpy(head + 1 + sizeof(invoker_bits), &fn_bits, sizeof(fn_bits));
  const absl::string_view head_view(head, sizeof(head));

  // Two attempts at handing the task over: a worker found dead when the
  // task is sent (it died idle) is replaced, and the task goes to the new
  // one. Once sent, the task's fate is this worker's.
  for (int attempt = 0;; ++attempt) {
    if (!w.conn.closed()) {
      // Anything readable on an idle worker's socket is EOF (it died) or a
      // protocol error: replace it.
      absl::StatusOr<bool> readable = w.conn.Poll();
      if (!readable.ok() || *readable) StopWorker(w, /*kill=*/true);
    }
    if (w.conn.closed()) {
      absl::Status s = SpawnWorker(w);
      if (!s.ok()) {
        BeginCompleting(w);
        (void)task.promise.SetError(s);
        EndCompleting();
        Break(s);
        return false;
      }
    }
    if (SendMessage(w.conn, head_view, task.arg).ok()) break;
    if (attempt == 1) {
      const pid_t pid = w.pid;
      std::string how = StopWorker(w, /*kill=*/true);
      BeginCompleting(w);
      (void)task.promise.SetError(
          BrokenError(absl::StrCat("process pool worker crashed: pid ", pid,
                                   " ", how, " before it received the task")));
      EndCompleting();
      return true;
    }
    StopWorker(w, /*kill=*/true);
  }

  absl::StatusOr<std::string> reply = w.conn.RecvBytes();
  const pid_t pid = w.pid;
  if (!reply.ok() || reply->empty()) {
    std::string how = StopWorker(w, /*kill=*/true);
    std::string why = reply.ok() || absl::IsOutOfRange(reply.status())
                          ? ""
                          : absl::StrCat(" (", reply.status().message(), ")");
    BeginCompleting(w);
    (void)task.promise.SetError(
        BrokenError(absl::StrCat("process pool worker crashed: pid ", pid, " ",
                                 how, " while running the task", why)));
    EndCompleting();
    return true;
  }
  ++w.tasks;
  const char kind = (*reply)[0];
  if (kind != 'V' && kind != 'E' && kind != 'I') {
    std::string how = StopWorker(w, /*kill=*/true);
    BeginCompleting(w);
    (void)task.promise.SetError(BrokenError(absl::StrCat(
        "process pool worker ", pid, " sent a malformed reply; ", how)));
    EndCompleting();
    return true;
  }
  // As CPython, the worker counts as idle again only after the future's
  // callbacks have run (they run here, on this thread): a callback that
  // submits to this pool and waits gets another worker.
  BeginCompleting(w);
  if (kind == 'V') {
    reply->erase(0, 1);
    (void)task.promise.SetValue(*std::move(reply));
  } else if (kind == 'E') {
    (void)task.promise.SetException(
        std::make_exception_ptr(RemoteTaskError(reply->substr(1), pid)));
  } else {
    (void)task.promise.SetError(absl::InvalidArgumentError(reply->substr(1)));
  }
  EndCompleting();
  if (max_tasks_per_child_ > 0 && w.tasks >= max_tasks_per_child_) {
    StopWorker(w, /*kill=*/false);
  }
  return true;
}

void ProcessPoolExecutor::Break(const absl::Status& why) {
  std::deque<Task> pending;
  {
    absl::MutexLock lock(&core_->mu);
    if (core_->broken.ok()) core_->broken = why;
    pending.swap(core_->queue);
  }
  for (Task& t : pending) (void)t.promise.SetError(why);
}

void ProcessPoolExecutor::Shutdown(bool wait, bool cancel_futures) {
  if (!InOwner()) return;  // A forked child's copy: not ours to stop.
  Core& c = *core_;
  std::deque<Task> cancelled;
  {
    absl::MutexLock lock(&c.mu);
    c.shutdown = true;
    if (cancel_futures) cancelled.swap(c.queue);
  }
  for (Task& t : cancelled) t.promise.future().Cancel();
  cancelled.clear();
  if (!wait) return;
  absl::MutexLock join_lock(&c.join_mu);
  std::vector<std::thread> threads;
  {
    absl::MutexLock lock(&c.mu);
    threads.swap(c.threads);
  }
  const std::thread::id self = std::this_thread::get_id();
  std::vector<std::thread> own;
  for (std::thread& t : threads) {
    if (t.get_id() == self) {
      own.push_back(std::move(t));  // Joined later, by the destructor.
    } else {
      t.join();
    }
  }
  if (!own.empty()) {
    absl::MutexLock lock(&c.mu);
    for (std::thread& t : own) c.threads.push_back(std::move(t));
    return;
  }
  // Every worker has exited and been reaped; the fork server goes too.
  if (c.fork_server != nullptr) c.fork_server->Stop();
}

void ProcessPoolExecutor::TerminateWorkers() { SignalWorkers(SIGTERM); }
void ProcessPoolExecutor::KillWorkers() { SignalWorkers(SIGKILL); }

void ProcessPoolExecutor::SignalWorkers(int sig) {
  if (!InOwner()) return;
  Shutdown(/*wait=*/false, /*cancel_futures=*/true);
  if (core_->fork_server == nullptr) return;
  for (pid_t pid : worker_pids()) (void)core_->fork_server->Signal(pid, sig);
}

std::vector<pid_t> ProcessPoolExecutor::worker_pids() const {
  if (!InOwner()) return {};
  absl::MutexLock lock(&core_->mu);
  return core_->pids;
}

pid_t ProcessPoolExecutor::fork_server_pid() const {
  if (!InOwner() || core_->fork_server == nullptr) return 0;
  return core_->fork_server->pid();
}

}  // namespace spindle
