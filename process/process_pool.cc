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
//                     'B' invoker(8) fn(8) chunk of args (Map's chunksize;
//                         internal/batch.h)
//   worker -> caller  'R' (ready, after the initializer)
//                     'F' message  (initializer failed; the worker exits)
//                     'V' result   |  'E' exception message
//                     'I' message  (result over max_message)
//                     'W' chunk of results, then maybe one failure (to 'B')
//
// The private machinery is in internal/: pool_fds (the set of pool
// descriptors, closed in every fork server), worker (the worker process and
// its messages) and fork_server (the fork server process and the caller's
// side of its control socket). This file is the executor.

#include "spindle/process/process_pool.h"

#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "absl/base/internal/raw_logging.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "spindle/concurrency/future.h"
#include "spindle/concurrency/status.h"
#include "spindle/process/connection.h"
#include "spindle/process/internal/batch.h"
#include "spindle/process/internal/fork_server.h"
#include "spindle/process/internal/pool_fds.h"
#include "spindle/process/internal/worker.h"

namespace spindle {

using process_internal::BatchReply;
using process_internal::DecodeBatchReply;
using process_internal::DescribeWaitStatus;
using process_internal::EncodeBatchArgs;
using process_internal::ForkServer;
using process_internal::kBatchItemOverhead;
using process_internal::kTaskPrefix;
using process_internal::SendMessage;
using process_internal::UnregisterAndClose;
using process_internal::WorkerConfig;
using process_internal::WorkerConnection;

// A task message carries an internal::ProcessInvoker, which the worker calls
// as a process_internal::TaskInvoker (internal/worker.h).
static_assert(
    std::is_same_v<internal::ProcessInvoker, process_internal::TaskInvoker>,
    "TaskInvoker must be the type of internal::ProcessInvoker");

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

// Set on a manager thread for its whole life: its pool.
thread_local const ProcessPoolExecutor* t_manager_pool = nullptr;

// Set on a manager thread while it completes a task's future (the future's
// callbacks run then): its pool and its Worker.
thread_local const ProcessPoolExecutor* t_completing_pool = nullptr;
thread_local void* t_completing_worker = nullptr;

// How long a manager without a worker process leaves a queued task to a
// manager that has one and is finishing a previous task's callbacks, before
// it takes the task and starts a new worker process (see NextTask).
constexpr absl::Duration kColdStartGrace = absl::Milliseconds(100);

// The invoker of a plain ProcessTask.
std::string InvokePlain(const void* fn, absl::string_view arg) {
  return reinterpret_cast<ProcessTask>(const_cast<void*>(fn))(arg);
}

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
  return SubmitInternal(&InvokePlain, reinterpret_cast<const void*>(fn),
                        std::move(arg));
}

Future<std::string> ProcessPoolExecutor::SubmitInternal(
    internal::ProcessInvoker invoker, const void* fn, std::string arg) {
  Promise<std::string> promise;
  Future<std::string> future = promise.future();
  Enqueue(Task{invoker, fn, std::move(arg), std::move(promise)});
  return future;
}

Future<internal::MapChunk<std::string>> ProcessPoolExecutor::SubmitChunk(
    ProcessTask fn, std::vector<std::string>* items) {
  static_assert(kChunkItemOverhead == kBatchItemOverhead);
  Promise<internal::MapChunk<std::string>> promise;
  Future<internal::MapChunk<std::string>> future = promise.future();
  Task task{&InvokePlain, reinterpret_cast<const void*>(fn),
            EncodeBatchArgs(*items), std::move(promise), items->size()};
  items->clear();
  Enqueue(std::move(task));
  return future;
}

void ProcessPoolExecutor::Enqueue(Task task) {
  absl::Status rejected;
  if (!InOwner()) {
    rejected = absl::FailedPreconditionError(absl::StrCat(
        "this ProcessPoolExecutor belongs to process ", owner_pid_,
        "; a forked child of it (such as one of its workers) cannot use it"));
  } else if (task.fn == nullptr) {
    rejected = absl::InvalidArgumentError("null task function");
  } else if (task.arg.size() > max_message_) {
    rejected = absl::InvalidArgumentError(absl::StrCat(
        task.chunk() ? "arguments of a Map chunk take " : "argument of ",
        task.arg.size(), " bytes", task.chunk() ? ", over" : " exceeds",
        " max_message (", max_message_, ")"));
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
      core_->queue.push_back(std::move(task));
      // As CPython: a new worker if there are more tasks than idle ones
      // (a worker running callbacks is not idle).
      if (core_->queue.size() > static_cast<size_t>(core_->idle) &&
          core_->threads.size() < static_cast<size_t>(max_workers_)) {
        StartManagerLocked();
      }
      return;
    }
  }
  FailTask(task, rejected);
}

void ProcessPoolExecutor::FailTask(Task& task, const absl::Status& status) {
  std::visit([&status](auto& p) { (void)p.SetError(status); }, task.promise);
}

void ProcessPoolExecutor::CompleteTask(Task& task, std::string reply,
                                       BatchReply* batch, pid_t pid) {
  if (batch != nullptr) {
    auto& promise = std::get<1>(task.promise);
    internal::MapChunk<std::string> chunk;
    chunk.values = std::move(batch->values);
    if (batch->failure_kind == 'E') {
      chunk.exception = std::make_exception_ptr(
          RemoteTaskError(std::move(batch->failure), pid));
    } else if (batch->failure_kind == 'I') {
      chunk.error = absl::InvalidArgumentError(
          batch->failure.empty() ? "results of the chunk exceed max_message"
                                 : batch->failure);
    }
    (void)promise.SetValue(std::move(chunk));
    return;
  }
  auto& promise = std::get<0>(task.promise);
  const char kind = reply[0];
  if (kind == 'V') {
    reply.erase(0, 1);
    (void)promise.SetValue(std::move(reply));
  } else if (kind == 'E') {
    (void)promise.SetException(
        std::make_exception_ptr(RemoteTaskError(reply.substr(1), pid)));
  } else {
    (void)promise.SetError(absl::InvalidArgumentError(reply.substr(1)));
  }
}

void ProcessPoolExecutor::StartManagerLocked() {
  ++core_->live_managers;
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
  t_manager_pool = this;
  Worker w;
  for (;;) {
    std::optional<Task> task;
    if (!NextTask(w, &task)) break;
    const bool cancelled =
        std::visit([](auto& p) { return !p.SetRunning().ok(); }, task->promise);
    if (cancelled) continue;
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
  bool last_out;
  {
    absl::MutexLock lock(&core_->mu);
    --core_->live_managers;  // Shutdown(wait) callers wake on this.
    last_out = core_->live_managers == 0 && core_->manager_waited;
  }
  // After a Shutdown(wait) from a manager, the last manager out stops the
  // fork server (see Shutdown). This thread is joined (by an outside
  // Shutdown(wait) or the destructor) before the pool goes, so core_ is
  // still there.
  if (last_out && core_->fork_server != nullptr) core_->fork_server->Stop();
  t_manager_pool = nullptr;
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

absl::Status ProcessPoolExecutor::SpawnWorker(Worker& w, bool* killed) {
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
  // SIGKILLed from outside before it was ready (a SIGKILL is never the
  // worker's own doing): a crash of this worker, not a pool that cannot
  // start workers.
  if (absl::IsOutOfRange(hello.status()) &&
      how == DescribeWaitStatus(SIGKILL)) {
    *killed = true;
    return BrokenError(absl::StrCat("process pool worker crashed: pid ", pid,
                                    " ", how, " before it received the task"));
  }
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
  head[0] = task.chunk() ? 'B' : 'T';
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
      bool killed = false;
      absl::Status s = SpawnWorker(w, &killed);
      if (!s.ok()) {
        BeginCompleting(w);
        FailTask(task, s);
        EndCompleting();
        if (killed) return true;  // Its task failed; the next one respawns.
        Break(s);
        return false;
      }
    }
    if (SendMessage(w.conn, head_view, task.arg).ok()) break;
    if (attempt == 1) {
      const pid_t pid = w.pid;
      std::string how = StopWorker(w, /*kill=*/true);
      BeginCompleting(w);
      FailTask(task, BrokenError(absl::StrCat(
                         "process pool worker crashed: pid ", pid, " ", how,
                         " before it received the task")));
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
    FailTask(task, BrokenError(absl::StrCat("process pool worker crashed: pid ",
                                            pid, " ", how,
                                            " while running the task", why)));
    EndCompleting();
    return true;
  }
  ++w.tasks;
  const char kind = (*reply)[0];
  bool well_formed;
  std::optional<BatchReply> batch;
  if (task.chunk()) {
    batch.emplace();
    well_formed =
        DecodeBatchReply(*reply, task.items, &*batch) &&
        (batch->failure_kind != 0 || batch->values.size() == task.items);
    reply->clear();
  } else {
    well_formed = kind == 'V' || kind == 'E' || kind == 'I';
  }
  if (!well_formed) {
    std::string how = StopWorker(w, /*kill=*/true);
    BeginCompleting(w);
    FailTask(task, BrokenError(absl::StrCat("process pool worker ", pid,
                                            " sent a malformed reply; ", how)));
    EndCompleting();
    return true;
  }
  // As CPython, the worker counts as idle again only after the future's
  // callbacks have run (they run here, on this thread): a callback that
  // submits to this pool and waits gets another worker.
  BeginCompleting(w);
  CompleteTask(task, *std::move(reply), batch ? &*batch : nullptr, pid);
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
  for (Task& t : pending) FailTask(t, why);
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
  for (Task& t : cancelled) {
    std::visit([](auto& p) { p.future().Cancel(); }, t.promise);
  }
  cancelled.clear();
  if (!wait) return;
  // No lock is held while joining, so any number of callers, managers
  // among them, can wait at once (as ThreadPoolExecutor::Shutdown). A
  // caller from outside the pool takes the manager threads it finds and
  // joins them (a later caller finds none), then waits until every manager
  // has exited, so every worker has been reaped, and stops the fork server.
  // A manager (in a done callback) joins nobody: it waits until every
  // manager that is not itself waiting in Shutdown has exited. Its own
  // thread is joined later, by an outside caller or the destructor, and the
  // last manager out stops the fork server (see ManagerMain).
  const bool own_manager = t_manager_pool == this;
  std::vector<std::thread> threads;
  {
    absl::MutexLock lock(&c.mu);
    if (own_manager) {
      ++c.managers_in_shutdown;
      c.manager_waited = true;
    } else {
      threads.swap(c.threads);
    }
  }
  for (std::thread& t : threads) t.join();
  {
    absl::MutexLock lock(&c.mu);
    auto exited = [&c, own_manager]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(c.mu) {
      return c.live_managers == (own_manager ? c.managers_in_shutdown : 0);
    };
    c.mu.Await(absl::Condition(&exited));
    if (own_manager) {
      --c.managers_in_shutdown;
      return;
    }
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
