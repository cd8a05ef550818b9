// Copyright 2026 The spindle Authors.
//
// -----------------------------------------------------------------------------
// File: process_pool.h
// -----------------------------------------------------------------------------
//
// Python's `concurrent.futures.ProcessPoolExecutor` for C++: tasks run in
// worker *processes*, so a task that crashes (SIGSEGV, abort(), _exit) takes
// down only its own worker, never the caller.
//
//   Python                                       spindle
//   -------------------------------------------  -----------------------------
//   ProcessPoolExecutor(max_workers,             ProcessPoolExecutor({
//       initializer=f, max_tasks_per_child=n)        .max_workers = n,
//                                                    .max_tasks_per_child = n,
//                                                    .initializer = f})
//   pool.submit(fn, arg)                         pool.Submit(fn, arg)
//   pool.map(fn, inputs, timeout=t,              pool.Map(fn, inputs, t, c)
//            chunksize=c)
//   pool.shutdown(wait, cancel_futures)          pool.Shutdown(wait, cancel)
//   pool.terminate_workers(), kill_workers()     pool.TerminateWorkers(),
//                                                  pool.KillWorkers()
//   with ProcessPoolExecutor() as pool:          destructor: Shutdown(true)
//   BrokenProcessPool (the whole pool breaks     only the crashed task's future
//     when one worker dies)                        fails (IsBroken); the worker
//                                                  is replaced
//
// Serialisation contract. A task is a plain function
//
//     std::string Task(absl::string_view arg);      // spindle::ProcessTask
//
// taking and returning bytes. Workers are forked from this very binary
// without exec, so a function pointer names the same code in the worker as
// in the caller, and is all that travels (with the argument bytes).
// Closures are not accepted: a lambda with captures does not convert to a
// ProcessTask (a captureless lambda does), because captured state would
// have to be serialised. Encode what the task needs into `arg`. For typed
// tasks, `Submit(Out (*fn)(In), in)` encodes `in` and decodes the result
// with `ProcessCodec<T>` (specialise it for your types; std::string,
// integers, double and bool are provided) and returns a `Future<Out>`.
//
// Process model and fork safety. The constructor forks one small helper
// process, the *fork server*, which forks every worker on request and hands
// the caller's end of the worker's socket back over SCM_RIGHTS. Workers are
// therefore never forked from the (usually multithreaded) caller, only from
// the single-threaded fork server, and a worker is a snapshot of the caller
// *as it was when the pool was constructed*, with no other threads. What
// follows for code running in a task:
//   * Safe: computation, malloc/new, stdio, files and sockets the task opens
//     itself, threads the task starts itself, globals the initializer set.
//   * Construct the pool early, before the program starts threads, if you
//     can: then the snapshot is as clean as a single-threaded fork.
//   * If the caller had threads at construction, a lock another thread held
//     at that moment stays locked in every worker forever. glibc makes
//     malloc and stdio safe across fork; your own mutexes, and libraries
//     that cache thread state, are not. A task must not rely on threads,
//     locks or objects of the caller that were busy at construction.
//   * Globals hold their values from construction time; later changes in
//     the caller are not seen (the initializer and `arg` are how to pass
//     state).
//   * File descriptors open at construction are inherited (like Python's
//     "fork" start method), except the pool's own sockets (of this and any
//     other ProcessPoolExecutor), which the fork server closes.
//   * A worker ends with _exit() after flushing stdio: no atexit handlers,
//     no static destructors.
//   * spindle holds no lock of its own across the fork of the fork server
//     (nor across any other fork), and its process-wide tables start afresh
//     in a child, so a task may create spindle objects of its own: threads,
//     processes, even a ProcessPoolExecutor. A pool inside a worker works
//     like any other (its fork server is forked from the worker and closes
//     the worker's socket to the caller, so a crash of the worker is still
//     seen). Python refuses this ("daemonic processes are not allowed to
//     have children"); spindle allows it. (ThreadSanitizer refuses to start
//     threads in a process forked from a multithreaded one, so under TSan
//     this needs a pool constructed while the caller had one thread.)
//   * A pool object belongs to the process that constructed it. A forked
//     copy of it (in a worker, which is a snapshot taken while the pool was
//     being constructed, in a spindle::Process child, or after fork()) is
//     inert: Submit() returns a future already failed with
//     kFailedPrecondition ("... belongs to process <pid> ..."), Shutdown(),
//     TerminateWorkers() and KillWorkers() do nothing, worker_pids() is
//     empty, and its destructor (a child that calls exit() with a static
//     pool) leaves the parent's threads, processes and futures alone.
//
// Signals. A terminal's Ctrl-C sends SIGINT to its whole foreground process
// group, and a service manager's stop (systemd's KillMode=control-group)
// sends SIGTERM to every process of the service. The pool's processes are
// not the ones to act on those: the program decides how to stop, and the
// pool stops its processes itself (Shutdown, the destructor). So:
//   * the fork server ignores SIGINT and SIGTERM;
//   * a worker ignores SIGINT, and SIGTERM from anyone but its fork server
//     (which sends it for TerminateWorkers()). A task may install handlers
//     of its own. Everything else is at its default disposition (so SIGKILL,
//     SIGQUIT or SIGHUP still end a worker, as a crash) and no signal is
//     blocked. Processes a task starts inherit these dispositions (an exec
//     keeps SIGINT ignored and resets SIGTERM to the default).
// A program that stops gracefully on SIGINT/SIGTERM (finishing or
// cancelling its tasks, then Shutdown) therefore gets every task's real
// result even when the signal went to the whole group. The processes still
// never outlive their owner: when it exits or dies, the fork server sees
// EOF on its control socket, SIGKILLs any worker left and exits; an idle
// worker sees EOF on its socket and exits. To kill one worker by hand, use
// SIGKILL (its task fails as crashed). Unlike a process group of its own
// (setpgid), this also holds for a signal sent to a whole cgroup, and the
// workers stay in the terminal's foreground group (no SIGTTIN on reads).
//
// Errors (see status.h; futures follow future.h's error model):
//   * A task that throws: its future holds a `RemoteTaskError` whose what()
//     is the exception's what() in the worker (or a description of a
//     non-std exception); Result() rethrows it.
//   * A worker that dies while running a task (signal, _exit, exit): that
//     task's future fails with IsBroken (kAborted), message
//     "process pool worker crashed: pid <p> killed by signal <n> (<NAME>)"
//     or "... exited with status <n>". The worker is reaped and a new one is
//     started for the next task; other tasks are not affected. A worker
//     found dead while idle is replaced without failing anything. A worker
//     SIGKILLed while it starts (before it is ready for its first task)
//     fails the task it was started for the same way ("... killed by
//     signal 9 (SIGKILL) before it received the task"); the pool does not
//     break.
//   * Argument larger than `max_message`: Submit returns a future already
//     done with kInvalidArgument. A result larger than `max_message`: the
//     future fails with kInvalidArgument; the worker lives on.
//   * Submitting after Shutdown(): a future already done with IsShutDown
//     ("cannot schedule new futures after shutdown"), as ThreadPoolExecutor.
//     Submitting to a forked copy of the pool (see above) fails the same way
//     (kFailedPrecondition), with a message naming the owner process.
//   * The pool breaks (every pending future and later Submit get IsBroken,
//     as Python's BrokenProcessPool) only when it cannot start workers: the
//     initializer failed (threw or returned non-OK) in a worker, fork
//     failed, or the fork server died.
//   * Invalid Options, or failing to start the fork server, are a checked
//     crash in the constructor; use Create() to get the status instead.
//
// Workers start lazily, up to max_workers, and an idle worker is reused
// before a new one starts. One caller-side thread (a "manager") per worker
// sends it one task at a time and waits for the answer, so a task is
// "running" from when it is handed to a worker until its result is back;
// done callbacks and Then continuations run on that thread. As in CPython,
// a worker counts as idle again only once its task's callbacks have run:
// a callback that submits to this pool (and even waits for the result) gets
// another worker, started if fewer than max_workers exist (with a single
// worker such a wait can never end, as in Python). So that a caller who
// submits the moment it sees a result still reuses the worker that produced
// it, a new worker process is started for a queued task only when no
// worker is idle and none is finishing callbacks, or after such a worker
// has kept the task waiting for 100 ms (a callback that blocks).
//
// Thread safety: all member functions are thread-safe, except that the
// destructor must not run concurrently with other calls, and must not run on
// one of the pool's own threads (a done callback).
//
// Happens-before: everything before Submit() happens-before the task's
// argument is captured (Submit copies it); a task's completion in the worker
// happens-before the calls that observe its future done return (future.h).
// Memory is not shared with workers: nothing else a task does is visible to
// the caller except its result.
//
// Wire protocol (private): length-prefixed messages (spindle::Connection,
// connection.h) over one AF_UNIX stream socket per worker, one task (or one
// Map chunk of several items) and its reply at a time; the caller's ends are
// close-on-exec.

#ifndef SPINDLE_PROCESS_PROCESS_POOL_H_
#define SPINDLE_PROCESS_PROCESS_POOL_H_

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "spindle/concurrency/future.h"
#include "spindle/concurrency/status.h"
#include "spindle/concurrency/thread_pool.h"  // MapResults

namespace spindle {

// A task for a ProcessPoolExecutor: bytes in, bytes out (see the file
// comment for why it must be a plain function).
using ProcessTask = std::string (*)(absl::string_view arg);

// What a future holds when its task threw in a worker process. what() is
// the worker's message: the exception's what() for a std::exception,
// otherwise "non-std exception of type <T>".
class RemoteTaskError : public std::runtime_error {
 public:
  RemoteTaskError(const std::string& message, pid_t pid)
      : std::runtime_error(message), pid_(pid) {}
  // The worker process the task ran in.
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_;
};

// ProcessCodec<T>
//
// How typed Submit turns a T into bytes and back. Specialise it for your
// types with
//   static std::string Encode(const T& value);
//   static T Decode(absl::string_view bytes);   // may throw on bad input
// Provided: std::string (as is), integers and bool (decimal text), double
// (shortest round-trip text).
template <typename T, typename Enable = void>
struct ProcessCodec;

template <>
struct ProcessCodec<std::string> {
  static std::string Encode(const std::string& v) { return v; }
  static std::string Decode(absl::string_view b) { return std::string(b); }
};

template <typename T>
struct ProcessCodec<T, std::enable_if_t<std::is_integral_v<T>>> {
  static std::string Encode(T v) {
    if constexpr (std::is_same_v<T, bool>) {
      return v ? "1" : "0";
    } else {
      return absl::StrCat(v);
    }
  }
  static T Decode(absl::string_view b) {
    if constexpr (std::is_same_v<T, bool>) {
      if (b == "1") return true;
      if (b == "0") return false;
    } else {
      using Wide = std::conditional_t<std::is_signed_v<T>, int64_t, uint64_t>;
      Wide w;
      if (absl::SimpleAtoi(b, &w) && static_cast<Wide>(static_cast<T>(w)) == w)
        return static_cast<T>(w);
    }
    throw std::invalid_argument(
        absl::StrCat("ProcessCodec: bad integer '", b.substr(0, 32), "'"));
  }
};

template <>
struct ProcessCodec<double> {
  static std::string Encode(double v) { return absl::StrCat(v); }
  static double Decode(absl::string_view b) {
    double d;
    if (absl::SimpleAtod(b, &d)) return d;
    throw std::invalid_argument(
        absl::StrCat("ProcessCodec: bad double '", b.substr(0, 32), "'"));
  }
};

namespace internal {

// Runs in the worker: calls `fn` (the user's function, type-erased) on the
// argument bytes and returns the result bytes.
using ProcessInvoker = std::string (*)(const void* fn, absl::string_view arg);

template <typename Out, typename In>
std::string InvokeTyped(const void* fn, absl::string_view arg) {
  auto f = reinterpret_cast<Out (*)(In)>(const_cast<void*>(fn));
  using InValue = std::remove_cv_t<std::remove_reference_t<In>>;
  return ProcessCodec<Out>::Encode(f(ProcessCodec<InValue>::Decode(arg)));
}

}  // namespace internal

namespace process_internal {
class ForkServer;   // internal/fork_server.h
struct BatchReply;  // internal/batch.h
}  // namespace process_internal

// ProcessPoolExecutor
//
// A pool of up to `max_workers` worker processes running ProcessTasks, with
// Python's ProcessPoolExecutor semantics and per-task crash isolation (see
// the file comment).
class ProcessPoolExecutor {
 public:
  struct Options {
    // At most this many worker processes; unset: the number of CPUs.
    std::optional<int> max_workers = std::nullopt;
    // A worker exits after this many tasks and is replaced (frees whatever
    // it leaked); unset: workers live until shutdown.
    std::optional<int> max_tasks_per_child = std::nullopt;
    // Largest argument or result, in bytes (at most about 4 GiB, the
    // Connection limit).
    size_t max_message = size_t{64} << 20;
    // Run once in each worker process before its first task. Throwing or
    // returning a non-OK status breaks the pool (see the file comment).
    absl::Status (*initializer)() = nullptr;
  };

  // The number of CPUs this process may run on (at least 1).
  static int DefaultMaxWorkers();

  // Checks `options` (InvalidArgument if max_workers, max_tasks_per_child
  // or max_message is not positive) and starts the fork server (ErrnoError
  // if that fails).
  static absl::StatusOr<std::unique_ptr<ProcessPoolExecutor>> Create(
      Options options);

  ProcessPoolExecutor() : ProcessPoolExecutor(Options()) {}
  // Starts the fork server (no worker yet). Checked crash on invalid
  // options or if the fork server cannot be started (see Create()).
  explicit ProcessPoolExecutor(Options options);
  ProcessPoolExecutor(const ProcessPoolExecutor&) = delete;
  ProcessPoolExecutor& operator=(const ProcessPoolExecutor&) = delete;

  // Shutdown(/*wait=*/true): queued tasks still run; then the workers and
  // the fork server exit and are reaped (no zombies, no descriptors left).
  ~ProcessPoolExecutor();

  // Schedules `fn(arg)` in a worker process and returns its future. Never
  // blocks on the tasks. A rejected submission (shut down, broken, argument
  // over max_message, null `fn`) returns a future already done with that
  // status.
  // Cancel() works while the task is queued.
  Future<std::string> Submit(ProcessTask fn, std::string arg);

  // Typed convenience: encodes `arg` with ProcessCodec<In> and decodes the
  // result with ProcessCodec<Out> (a decoding failure in the worker is a
  // RemoteTaskError; in the caller, the future holds the exception). Pass a
  // named function or `+[](In x) { ... }`. The returned future is a Then()
  // continuation of the task's: Cancel() on it does not cancel the task
  // (Shutdown(cancel_futures) does, and the cancellation is passed on).
  template <typename Out, typename In>
  requires(!std::is_same_v<Out (*)(In), ProcessTask>) Future<Out> Submit(
      Out (*fn)(In), const std::remove_cv_t<std::remove_reference_t<In>>& arg) {
    using InValue = std::remove_cv_t<std::remove_reference_t<In>>;
    static_assert(!std::is_void_v<Out>, "a process task must return a value");
    Future<std::string> raw = SubmitInternal(
        &internal::InvokeTyped<Out, In>, reinterpret_cast<const void*>(fn),
        ProcessCodec<InValue>::Encode(arg));
    return raw.Then([](const std::string& bytes) {
      return ProcessCodec<Out>::Decode(bytes);
    });
  }

  // Submits `fn(input)` for every element of `inputs` (each convertible to
  // std::string) and returns the results in input order (see MapResults in
  // thread_pool.h). `timeout` is one deadline measured from this call.
  //
  // `chunksize` (Python's argument): with chunksize > 1, consecutive inputs
  // travel in chunks of up to that many, one message each way per chunk, so
  // that cheap tasks do not each pay a process round trip. The worker runs
  // a chunk's items in order and stops at the first that throws: the
  // results before it are yielded, then its RemoteTaskError is rethrown at
  // that item (as Python's map raises at that item), and iteration ends. A
  // worker that dies during a chunk fails the chunk's items (IsBroken, at
  // the first of them not yet yielded). Limits per chunk: a chunk's
  // arguments together, plus 4 bytes each, must fit in max_message (Map
  // closes a chunk early rather than exceed it; a lone argument over it is
  // InvalidArgument at that item), and so must its results together (the
  // first result that does not fit fails with InvalidArgument and ends the
  // chunk). A chunk counts as one task for max_tasks_per_child. Cancelling
  // (on early exit from the iteration, Shutdown(cancel_futures)) works per
  // chunk while it is queued. A chunksize < 1 submits nothing and yields
  // InvalidArgument (Python's ValueError).
  template <typename Range>
  MapResults<std::string> Map(ProcessTask fn, const Range& inputs,
                              absl::Duration timeout = absl::InfiniteDuration(),
                              int chunksize = 1) {
    absl::Time deadline = timeout == absl::InfiniteDuration()
                              ? absl::InfiniteFuture()
                              : absl::Now() + timeout;
    if (chunksize < 1) {
      return MapResults<std::string>(
          absl::InvalidArgumentError("Map: chunksize must be >= 1"));
    }
    if (chunksize == 1) {
      std::vector<Future<std::string>> futures;
      for (const auto& input : inputs) {
        futures.push_back(Submit(fn, std::string(input)));
      }
      return MapResults<std::string>(std::move(futures), deadline);
    }
    std::vector<Future<internal::MapChunk<std::string>>> chunks;
    std::vector<std::string> chunk;
    size_t bytes = 0;
    for (const auto& input : inputs) {
      std::string item(input);
      const size_t need = kChunkItemOverhead + item.size();
      if (!chunk.empty() && bytes + need > max_message_) {
        chunks.push_back(SubmitChunk(fn, &chunk));
        bytes = 0;
      }
      bytes += need;
      chunk.push_back(std::move(item));
      if (chunk.size() == static_cast<size_t>(chunksize)) {
        chunks.push_back(SubmitChunk(fn, &chunk));
        bytes = 0;
      }
    }
    if (!chunk.empty()) chunks.push_back(SubmitChunk(fn, &chunk));
    return MapResults<std::string>(std::move(chunks), deadline);
  }

  // Stops accepting tasks. With `cancel_futures`, cancels the tasks that
  // are still queued (running ones finish). With `wait`, blocks until every
  // remaining queued task has finished, every worker has exited and been
  // reaped, and the fork server has exited. May be called any number of
  // times, from any thread, by several threads at once. Wakes on: the last
  // task's result, the processes exiting. A task that never returns keeps
  // Shutdown(wait) waiting (as in Python). Without `wait`, the workers still
  // exit once the queue is drained; the fork server is stopped by a later
  // Shutdown(true) or the destructor.
  //
  // From a done callback or continuation (which runs on one of the pool's
  // manager threads), Shutdown(wait) cannot wait for its own manager, whose
  // worker stays up until the callback returns: it waits until every other
  // manager has exited, except those also waiting in Shutdown(wait) from a
  // callback (so two such callbacks do not wait for each other). The last
  // manager to exit then stops the fork server; an outside Shutdown(wait),
  // or the destructor, still waits for everything.
  void Shutdown(bool wait = true, bool cancel_futures = false);

  // Python 3.14's terminate_workers() / kill_workers(): for tasks that will
  // not finish. Shutdown(wait = false, cancel_futures = true), then SIGTERM
  // / SIGKILL to every live worker process. Their running tasks fail with
  // IsBroken ("... killed by signal 15 (SIGTERM) ..."); the workers are
  // reaped as usual, so a following Shutdown(wait = true) or the destructor
  // returns promptly. (A worker being started at that very moment for a
  // task taken off the queue just before may escape the signal.)
  void TerminateWorkers();
  void KillWorkers();

  int max_workers() const { return max_workers_; }
  // Pids of the worker processes alive now (they start lazily).
  std::vector<pid_t> worker_pids() const;
  // Pid of the fork server (0 once it has been reaped).
  pid_t fork_server_pid() const;

 private:
  // A queued task, or a chunk of Map's items (then `arg` is the encoded
  // chunk, internal/batch.h, and `items` its number of items).
  struct Task {
    internal::ProcessInvoker invoker;
    const void* fn;
    std::string arg;
    std::variant<Promise<std::string>, Promise<internal::MapChunk<std::string>>>
        promise;
    size_t items = 0;
    bool chunk() const { return promise.index() == 1; }
  };
  // The bytes a chunk message spends per item besides its argument.
  static constexpr size_t kChunkItemOverhead = 4;
  struct Worker;
  // Everything that changes after construction. On the heap, so that a
  // forked child's copy of a pool (whose threads, fork server and workers
  // are its parent's) can be left alone instead of destroyed.
  struct Core {
    // Set by Start(), then fixed.
    std::unique_ptr<process_internal::ForkServer> fork_server;

    absl::Mutex mu;
    std::deque<Task> queue ABSL_GUARDED_BY(mu);
    // Managers waiting for a task (counted once the callbacks of their
    // previous task have run), and those of them with a live worker.
    int idle ABSL_GUARDED_BY(mu) = 0;
    int idle_warm ABSL_GUARDED_BY(mu) = 0;
    // Managers with a live worker running the callbacks of a task they
    // just completed: about to be idle, unless a callback blocks.
    int completing ABSL_GUARDED_BY(mu) = 0;
    bool shutdown ABSL_GUARDED_BY(mu) = false;
    absl::Status broken ABSL_GUARDED_BY(mu);
    // The manager threads not yet taken by a Shutdown(wait) caller to join.
    std::vector<std::thread> threads ABSL_GUARDED_BY(mu);
    // Managers started and not yet exited (an exited one has reaped its
    // worker), and those of them waiting in Shutdown(wait) from a callback.
    int live_managers ABSL_GUARDED_BY(mu) = 0;
    int managers_in_shutdown ABSL_GUARDED_BY(mu) = 0;
    // A manager called Shutdown(wait): the last manager out stops the fork
    // server.
    bool manager_waited ABSL_GUARDED_BY(mu) = false;
    std::vector<pid_t> pids ABSL_GUARDED_BY(mu);
  };

  struct CreateTag {};
  ProcessPoolExecutor(Options options, CreateTag);
  absl::Status Start();
  // False in a forked child's copy of the pool (see the file comment).
  bool InOwner() const;

  Future<std::string> SubmitInternal(internal::ProcessInvoker invoker,
                                     const void* fn, std::string arg);
  // Submits the items in `*items` as one chunk (Map); clears `*items`.
  Future<internal::MapChunk<std::string>> SubmitChunk(
      ProcessTask fn, std::vector<std::string>* items);
  // Queues `task`, or fails its future with the reason it is rejected.
  void Enqueue(Task task);
  // Finishes `task`'s future with `status` (an error).
  static void FailTask(Task& task, const absl::Status& status);
  // Finishes `task`'s future from the worker's `reply` (non-empty, of a kind
  // checked by RunTask), or for a chunk from `batch` (the decoded reply);
  // `pid` is the worker's.
  static void CompleteTask(Task& task, std::string reply,
                           process_internal::BatchReply* batch, pid_t pid);
  void StartManagerLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(core_->mu);
  void ManagerMain();
  // Waits for a task for `w`'s manager (counting it idle meanwhile); false
  // when the manager should exit.
  bool NextTask(Worker& w, std::optional<Task>* task);
  // Bracket the completion of a task's future (its callbacks run between
  // them, on this thread).
  void BeginCompleting(Worker& w);
  void EndCompleting();
  // Runs `task` on `w` (starting or replacing the worker as needed).
  // Returns false if the pool is now broken.
  bool RunTask(Worker& w, Task& task);
  // Starts a worker in `w`. On failure the pool is broken, unless
  // `*killed` was set: the worker was SIGKILLed before it was ready.
  absl::Status SpawnWorker(Worker& w, bool* killed);
  // Stops `w` (asks it to exit, or kills it) and reaps it; returns the wait
  // status description.
  std::string StopWorker(Worker& w, bool kill);
  void Break(const absl::Status& why);
  void SignalWorkers(int sig);

  const int max_workers_;
  const int max_tasks_per_child_;  // 0: unlimited.
  const size_t max_message_;
  absl::Status (*const initializer_)();
  const pid_t owner_pid_;  // The process that constructed the pool.
  Core* const core_;       // Owned; deleted only in the owner process.
};

}  // namespace spindle

#endif  // SPINDLE_PROCESS_PROCESS_POOL_H_
