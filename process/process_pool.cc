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
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
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
#include "spindle/process/connection.h"

namespace spindle {
namespace {

// ---------------------------------------------------------------------------
// The pool's own descriptors, of every pool in this process. A fork server
// closes all of them right after it is forked, so that it (and its workers)
// never hold another pool's sockets: EOF on a socket then really means the
// other side is gone. Descriptors are added and removed (and closed) under
// the lock, and the fork that starts a fork server happens under it too, so
// the child's copy of the list is exact.

ABSL_CONST_INIT absl::Mutex registry_mu(absl::kConstInit);
std::vector<int>* registry ABSL_GUARDED_BY(registry_mu) = nullptr;

void RegisterLocked(int fd) ABSL_EXCLUSIVE_LOCKS_REQUIRED(registry_mu) {
  if (registry == nullptr) registry = new std::vector<int>();
  registry->push_back(fd);
}

void UnregisterAndClose(int fd) {
  absl::MutexLock lock(&registry_mu);
  if (registry != nullptr) {
    registry->erase(std::remove(registry->begin(), registry->end(), fd),
                    registry->end());
  }
  close(fd);
}

// In a just-forked child: the parent held registry_mu across the fork, so
// the list is consistent; the child is single-threaded and only reads it.
void CloseRegisteredInChild() ABSL_NO_THREAD_SAFETY_ANALYSIS {
  if (registry == nullptr) return;
  for (int fd : *registry) close(fd);
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

// Closes `conn` and forgets its descriptor (see the registry above).
void UnregisterAndClose(Connection& conn) {
  if (conn.closed()) return;
  absl::MutexLock lock(&registry_mu);
  if (registry != nullptr) {
    registry->erase(
        std::remove(registry->begin(), registry->end(), conn.fileno()),
        registry->end());
  }
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

// Default dispositions for every catchable signal, nothing blocked.
void ResetSignals() {
  struct sigaction dfl;
  memset(&dfl, 0, sizeof(dfl));
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  for (int sig = 1; sig < 32; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    sigaction(sig, &dfl, nullptr);
  }
  for (int sig = SIGRTMIN; sig <= SIGRTMAX; ++sig)
    sigaction(sig, &dfl, nullptr);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
}

[[noreturn]] void ExitChild(int code) {
  fflush(nullptr);
  _exit(code);
}

[[noreturn]] void WorkerMain(int fd, const WorkerConfig& config) {
  Connection conn = WorkerConnection(fd, config.max_message);
  signal(SIGINT, SIG_DFL);  // The fork server ignores it; tasks should not.
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
  ResetSignals();
  signal(SIGINT, SIG_IGN);
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
    absl::MutexLock lock(&registry_mu);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
      return ErrnoError(errno, "socketpair");
    }
    fflush(nullptr);  // Do not let children inherit unwritten stdio buffers.
    pid_t pid = fork();
    if (pid == 0) {
      CloseRegisteredInChild();
      close(sv[0]);
      ForkServerMain(sv[1], config);
    }
    int saved = errno;
    close(sv[1]);
    if (pid < 0) {
      close(sv[0]);
      return ErrnoError(saved, "fork");
    }
    RegisterLocked(sv[0]);
    return std::unique_ptr<ForkServer>(new ForkServer(pid, sv[0]));
  }

  ~ForkServer() { Stop(); }

  // Forks a worker; returns its pid and the caller's end of its socket
  // (registered; close it with UnregisterAndClose).
  absl::StatusOr<std::pair<pid_t, int>> Spawn() {
    absl::MutexLock lock(&mu_);
    if (fd_ < 0) return BrokenError("the fork server has stopped");
    absl::Status s = SendRequest({kSpawn, 0, 0});
    if (!s.ok()) return s;
    Reply reply;
    int fd = -1;
    {
      // Receive and register at once, so that no fork server started
      // meanwhile by another pool inherits the descriptor unregistered.
      absl::MutexLock registry_lock(&registry_mu);
      s = RecvReply(&reply, &fd);
      if (s.ok() && fd >= 0) RegisterLocked(fd);
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
    s = RecvReply(&reply, &fd);
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

  absl::Status RecvReply(Reply* reply, int* fd)
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
    while ((n = recvmsg(fd_, &msg, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR) {
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
  // The manager counted itself in idle_ before completing its last task.
  bool counted_idle = false;
};

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
      initializer_(options.initializer) {}

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
  fork_server_ = *std::move(fs);
  return absl::OkStatus();
}

ProcessPoolExecutor::~ProcessPoolExecutor() {
  Shutdown(/*wait=*/true);
  if (fork_server_ != nullptr) fork_server_->Stop();
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
  if (fn == nullptr) {
    rejected = absl::InvalidArgumentError("null task function");
  } else if (arg.size() > max_message_) {
    rejected = absl::InvalidArgumentError(
        absl::StrCat("argument of ", arg.size(), " bytes exceeds max_message (",
                     max_message_, ")"));
  } else {
    absl::MutexLock lock(&mu_);
    if (!broken_.ok()) {
      rejected = broken_;
    } else if (shutdown_) {
      rejected = ShutDownError("cannot schedule new futures after shutdown");
    } else {
      queue_.push_back(Task{invoker, fn, std::move(arg), std::move(promise)});
      if (queue_.size() > static_cast<size_t>(idle_) &&
          threads_.size() < static_cast<size_t>(max_workers_)) {
        StartManagerLocked();
      }
      return future;
    }
  }
  (void)promise.SetError(rejected);
  return future;
}

void ProcessPoolExecutor::StartManagerLocked() {
  threads_.emplace_back([this] { ManagerMain(); });
}

void ProcessPoolExecutor::ManagerMain() {
  Worker w;
  for (;;) {
    std::optional<Task> task;
    {
      absl::MutexLock lock(&mu_);
      if (!w.counted_idle) ++idle_;
      w.counted_idle = false;
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return !queue_.empty() || shutdown_ || !broken_.ok();
      };
      mu_.Await(absl::Condition(&ready));
      --idle_;
      if (!broken_.ok() || queue_.empty()) break;
      task.emplace(std::move(queue_.front()));
      queue_.pop_front();
    }
    if (!task->promise.SetRunning().ok()) continue;  // Cancelled.
    if (!RunTask(w, *task)) break;
  }
  if (w.counted_idle) {
    absl::MutexLock lock(&mu_);
    --idle_;
  }
  if (!w.conn.closed()) StopWorker(w, /*kill=*/false);
}

void ProcessPoolExecutor::MarkIdle(Worker& w) {
  absl::MutexLock lock(&mu_);
  ++idle_;
  w.counted_idle = true;
}

absl::Status ProcessPoolExecutor::SpawnWorker(Worker& w) {
  absl::StatusOr<std::pair<pid_t, int>> spawned = fork_server_->Spawn();
  if (!spawned.ok()) {
    return BrokenError(absl::StrCat("cannot start a worker process: ",
                                    spawned.status().message()));
  }
  w.pid = spawned->first;
  w.conn = WorkerConnection(spawned->second, max_message_);
  w.tasks = 0;
  {
    absl::MutexLock lock(&mu_);
    pids_.push_back(w.pid);
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
  absl::StatusOr<int> status = fork_server_->Reap(w.pid, kill);
  {
    absl::MutexLock lock(&mu_);
    pids_.erase(std::remove(pids_.begin(), pids_.end(), w.pid), pids_.end());
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
        (void)task.promise.SetError(s);
        Break(s);
        return false;
      }
    }
    if (SendMessage(w.conn, head_view, task.arg).ok()) break;
    if (attempt == 1) {
      const pid_t pid = w.pid;
      std::string how = StopWorker(w, /*kill=*/true);
      MarkIdle(w);
      (void)task.promise.SetError(
          BrokenError(absl::StrCat("process pool worker crashed: pid ", pid,
                                   " ", how, " before it received the task")));
      return true;
    }
    StopWorker(w, /*kill=*/true);
  }

  absl::StatusOr<std::string> reply = w.conn.RecvBytes();
  const pid_t pid = w.pid;
  if (!reply.ok() || reply->empty()) {
    std::string how = StopWorker(w, /*kill=*/true);
    MarkIdle(w);
    std::string why = reply.ok() || absl::IsOutOfRange(reply.status())
                          ? ""
                          : absl::StrCat(" (", reply.status().message(), ")");
    (void)task.promise.SetError(
        BrokenError(absl::StrCat("process pool worker crashed: pid ", pid, " ",
                                 how, " while running the task", why)));
    return true;
  }
  ++w.tasks;
  // Counted idle before the future completes, so that a Submit made as
  // soon as the caller sees the result reuses this worker instead of
  // starting another (CPython's test_idle_process_reuse_*).
  MarkIdle(w);
  const char kind = (*reply)[0];
  if (kind == 'V') {
    reply->erase(0, 1);
    (void)task.promise.SetValue(*std::move(reply));
  } else if (kind == 'E') {
    (void)task.promise.SetException(
        std::make_exception_ptr(RemoteTaskError(reply->substr(1), pid)));
  } else if (kind == 'I') {
    (void)task.promise.SetError(absl::InvalidArgumentError(reply->substr(1)));
  } else {
    std::string how = StopWorker(w, /*kill=*/true);
    (void)task.promise.SetError(BrokenError(absl::StrCat(
        "process pool worker ", pid, " sent a malformed reply; ", how)));
    return true;
  }
  if (max_tasks_per_child_ > 0 && w.tasks >= max_tasks_per_child_) {
    StopWorker(w, /*kill=*/false);
  }
  return true;
}

void ProcessPoolExecutor::Break(const absl::Status& why) {
  std::deque<Task> pending;
  {
    absl::MutexLock lock(&mu_);
    if (broken_.ok()) broken_ = why;
    pending.swap(queue_);
  }
  for (Task& t : pending) (void)t.promise.SetError(why);
}

void ProcessPoolExecutor::Shutdown(bool wait, bool cancel_futures) {
  std::deque<Task> cancelled;
  {
    absl::MutexLock lock(&mu_);
    shutdown_ = true;
    if (cancel_futures) cancelled.swap(queue_);
  }
  for (Task& t : cancelled) t.promise.future().Cancel();
  cancelled.clear();
  if (!wait) return;
  absl::MutexLock join_lock(&join_mu_);
  std::vector<std::thread> threads;
  {
    absl::MutexLock lock(&mu_);
    threads.swap(threads_);
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
    absl::MutexLock lock(&mu_);
    for (std::thread& t : own) threads_.push_back(std::move(t));
    return;
  }
  // Every worker has exited and been reaped; the fork server goes too.
  if (fork_server_ != nullptr) fork_server_->Stop();
}

void ProcessPoolExecutor::TerminateWorkers() { SignalWorkers(SIGTERM); }
void ProcessPoolExecutor::KillWorkers() { SignalWorkers(SIGKILL); }

void ProcessPoolExecutor::SignalWorkers(int sig) {
  Shutdown(/*wait=*/false, /*cancel_futures=*/true);
  if (fork_server_ == nullptr) return;
  for (pid_t pid : worker_pids()) (void)fork_server_->Signal(pid, sig);
}

std::vector<pid_t> ProcessPoolExecutor::worker_pids() const {
  absl::MutexLock lock(&mu_);
  return pids_;
}

pid_t ProcessPoolExecutor::fork_server_pid() const {
  return fork_server_ == nullptr ? 0 : fork_server_->pid();
}

}  // namespace spindle
