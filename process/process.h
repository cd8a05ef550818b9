// Copyright 2026 The spindle Authors.
//
// -----------------------------------------------------------------------------
// File: process.h
// -----------------------------------------------------------------------------
//
// `spindle::Process` is Python's `multiprocessing.Process` with the "fork"
// start method: a callable runs in a child process forked from this one.
//
//   Python                              spindle
//   ----------------------------------  --------------------------------------
//   Process(target=f, args=(a, b))      Process p(f, a, b);
//   Process(..., name="x", daemon=True) Process p({.name = "x", .daemon =
//   true},
//                                                 f, a, b);
//   class P(Process): def run(self)     class P : public Process { int Run()
//                                         override; };
//   p.start()                           p.Start()             -> absl::Status
//   p.join() / p.join(timeout)          p.Join() / p.JoinFor(d) -> bool
//   p.is_alive(), p.pid, p.exitcode     p.IsAlive(), p.pid(), p.exitcode()
//   p.terminate() / p.kill()            p.Terminate() / p.Kill()
//   p.name, p.daemon                    p.name(), p.daemon()
//
// The child. `Start()` forks; the child runs `Run()`, whose default calls
// `fn(args...)` (a copy of everything the parent had at the time of the
// fork, as with any fork). `fn` may return `void` (exit code 0) or something
// convertible to `int` (that exit code; the OS keeps its low 8 bits). An
// exception escaping `fn` prints "Process <name>: <what()>" to stderr and
// the exit code is 1 (Python prints the traceback and exits 1). When `fn`
// is done the child flushes C stdio (and so `std::cout`) and ends with
// `_exit()`: no `atexit` handlers and no static destructors run in the
// child, so it cannot flush or tear down state it shares with the parent
// (temporary files, sockets' TLS sessions, ...). `fn` may itself call
// `exit()` or `_exit()`; the exit code is then what it passed.
//
// Exit codes (`exitcode()`): `nullopt` until the child has been reaped (by
// `Join`, a `JoinFor` that saw it exit, or an `IsAlive` that returned
// false); then the child's exit status, or `-N` if it was killed by signal
// N (e.g. `-SIGTERM` after `Terminate()`), as in Python. If something else
// reaped the child first (a `waitpid(-1, ...)` elsewhere in the program, or
// SIGCHLD set to SIG_IGN) the status is lost and `exitcode()` is 255.
//
// Waiting. `Join()` waits until the child has exited and reaps it (no
// zombie is left); it wakes only for that. `JoinFor(d)` also wakes when `d`
// has passed and returns whether the child had exited (and was reaped); a
// zero or negative `d` does not block. Neither polls: on Linux 5.3 and later
// they sleep in `poll()` on a pidfd (`pidfd_open`), which becomes readable
// when the child exits, so several threads may wait for the same child. On
// older kernels (or where seccomp forbids pidfd_open) they fall back to
// `waitpid(WNOHANG)` retried with a backoff from 1 ms up to 20 ms, so a
// waiter notices an exit at most ~20 ms late (setting the environment
// variable SPINDLE_PROCESS_NO_PIDFD forces this path, for tests). Signals sent
// with `Terminate()` / `Kill()` go through the pidfd when there is one, so they
// can never reach an unrelated process that reused a reaped child's pid.
//
// Errors.
//   * `Start()` on a process that was already started returns
//     `FailedPreconditionError` (`IsShutDown`; Python's AssertionError
//     "cannot start a process twice"); if `fork()` fails it returns the
//     errno status (`ErrnoError`, e.g. EAGAIN) and the process may be started
//     again later.
//   * `Join()` / `JoinFor()` on a process that was never started is misuse
//     that would wait forever: a checked crash (Python asserts too).
//   * `Terminate()` / `Kill()` before `Start()` return
//     `FailedPreconditionError`; after the child exited they do nothing and
//     return OK (as Python); an OS failure returns `ErrnoError`.
//
// Daemon processes. A daemon child (`Options::daemon`) must not outlive
// its parent (Python terminates daemonic children when the interpreter
// exits). spindle does this in two layers:
//   * At normal exit (`exit()`, returning from `main`, `quick_exit()`), an
//     `atexit` / `at_quick_exit` handler sends SIGTERM to every daemon child
//     that has not been reaped, waits up to 2 s for them to die, then sends
//     SIGKILL to any survivor. It does not reap them (the exiting parent's
//     children are reaped by init), so it never races with a `Join` on
//     another thread.
//   * When the parent dies without running `atexit` handlers (a crash,
//     `_exit()`, SIGKILL), the kernel's parent-death signal
//     (`PR_SET_PDEATHSIG`) sends SIGKILL to the daemon child. The kernel
//     sends it when the *thread* that forked the child exits, not when the
//     process does, so spindle only arms it when `Start()` is called on the
//     main thread (whose exit ends the process, unless it calls
//     `pthread_exit`). A daemon started from another thread is covered by
//     the `atexit` handler and by its `Process` object's destructor only.
//   Non-daemon children are not waited for at exit (C++ has no interpreter
//   to do so); see the destructor. Unlike Python, a daemon process may
//   start processes of its own.
//
// Destruction. Destroying a `Process` that was started and not yet reaped
// never leaves a zombie or an unowned child:
//   * a non-daemon child is joined (the destructor waits until it exits, as
//     `spindle::Thread` and `std::jthread` do);
//   * a daemon child is terminated: SIGTERM, up to 2 s to exit, then
//     SIGKILL; then it is reaped.
// Call `Join()`, `Terminate()` or `Kill()` first to choose otherwise.
//
// Fork and threads. If the parent has other threads when `Start()` forks,
// only the calling thread exists in the child, and whatever those threads
// were doing is frozen mid-way: a mutex one of them held (an `absl::Mutex`,
// a spindle `Lock`, a `Queue`'s or `ThreadPoolExecutor`'s internal lock, a
// logger's lock) stays locked forever in the child, and data it was
// updating may be half-written. POSIX only promises async-signal-safe
// functions in such a child. In practice, with glibc:
//   * safe: async-signal-safe system calls (read/write/close/_exit, ...),
//     malloc/free and C stdio (glibc takes their locks around fork), the
//     child's own new objects, `Connection`s (each is just a file
//     descriptor and no lock), and anything the forking thread itself owned;
//   * unsafe: any object another thread may have been using at the time of
//     the fork (queues, pools, futures, events, selectors shared with other
//     threads), spindle `Thread`s and pools started in the parent (their
//     threads do not exist in the child; joining them hangs), and library
//     state guarded by locks without fork handlers.
//   Creating new threads in the child works with glibc (ThreadSanitizer
//   refuses it after a multi-threaded fork). The safest pattern, as in
//   Python: create processes before threads, or have the child only use
//   what it was given (a `Connection`, plain data).
//
// A `Process` object belongs to the process that started it: the child's
// copy of it (and of its siblings' `Process` objects) must not be used. Its
// destructor does nothing in the child, so a child that calls `exit()`
// (running static destructors) does not wait for or signal its siblings.
// `Start()` does not hold the object's lock across `fork()`, and spindle
// installs no `pthread_atfork` handler that takes a lock: a `fork()` never
// waits for spindle, and the process-wide daemon registry is replaced by a
// fresh one in the child (its entries are the parent's children) instead of
// being reused.
//
// Thread safety: all member functions may be called concurrently from any
// thread of the process that created the object, except construction,
// destruction and moving.
//
// Happens-before: everything the parent did before `Start()` is visible to
// the child (it is a copy of the parent at the fork); the child's exit
// happens-before `Join()` returning and `JoinFor()` / `IsAlive()` returning
// a value that shows it exited. (The processes share no memory unless
// arranged, so this is about files, pipes and shared mappings.)

#ifndef SPINDLE_PROCESS_PROCESS_H_
#define SPINDLE_PROCESS_PROCESS_H_

#include <sys/types.h>

#include <concepts>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "absl/functional/any_invocable.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/time/time.h"

namespace spindle {

namespace internal {
struct ProcessState;
}  // namespace internal

// Process
//
// See the file comment. Typical use:
//
//   spindle::Process p(Work, 1, "lczmx");
//   if (absl::Status s = p.Start(); !s.ok()) ...;
//   p.Join();
//   if (p.exitcode() != 0) ...;
//
// Subclasses (Python's "override run()") derive from `Process`, construct
// the base with `Process(Options)` and override `Run()`.
class Process {
 public:
  struct Options {
    // Process name; empty means "Process-N" (N counts `Process` objects
    // created by this program, from 1).
    std::string name = {};
    // See "Daemon processes" in the file comment.
    bool daemon = false;
  };

  // A process that will run `fn(args...)`, with default options. `fn` and
  // `args` are copied or moved into the `Process` object.
  template <typename F, typename... Args>
  requires(
      !std::same_as<std::decay_t<F>, Options> &&
      std::invocable<std::decay_t<F>,
                     std::decay_t<Args>...>) explicit Process(F&& fn,
                                                              Args&&... args)
      : Process(Options(), std::forward<F>(fn), std::forward<Args>(args)...) {}

  // A process that will run `fn(args...)` with `options`.
  template <typename F, typename... Args>
  requires std::invocable<std::decay_t<F>, std::decay_t<Args>...> Process(
      Options options, F&& fn, Args&&... args)
      : Process(std::move(options),
                absl::AnyInvocable<int()>(
                    [fn = std::forward<F>(fn),
                     ... args = std::forward<Args>(args)]() mutable -> int {
                      using R = std::invoke_result_t<std::decay_t<F>&,
                                                     std::decay_t<Args>&...>;
                      static_assert(
                          std::is_void_v<R> || std::is_convertible_v<R, int>,
                          "a Process function returns void or an "
                          "exit code convertible to int");
                      if constexpr (std::is_void_v<R>) {
                        std::invoke(fn, args...);
                        return 0;
                      } else {
                        return static_cast<int>(std::invoke(fn, args...));
                      }
                    })) {}

  // The type-erased form of the constructors above.
  Process(Options options, absl::AnyInvocable<int()> fn);

  // Moving transfers the process (started or not); the moved-from object
  // refers to none and may only be destroyed.
  Process(Process&& other) noexcept;
  Process& operator=(Process&&) = delete;
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  // See "Destruction" in the file comment.
  virtual ~Process();

  // Forks the child, which runs `Run()` and exits. Returns
  // `FailedPreconditionError` if already started, or the fork error.
  // C stdio buffers are flushed first so the child does not repeat them.
  absl::Status Start();

  // Waits until the child has exited, and reaps it. Crashes if never
  // started.
  void Join();
  // Waits at most `timeout` for the child to exit; returns true if it has
  // exited (it is then reaped and `exitcode()` is set).
  bool JoinFor(absl::Duration timeout);

  // True from `Start()` until the child is known to have exited. Reaps the
  // child (setting `exitcode()`) when it has exited. False before `Start()`.
  bool IsAlive();

  // The child's process id; 0 before `Start()`. Still the old id after the
  // child was reaped (do not signal it yourself then: it may be reused).
  pid_t pid() const;

  // See "Exit codes" in the file comment.
  std::optional<int> exitcode() const;

  // Sends SIGTERM (Terminate) or SIGKILL (Kill) to the child. Neither waits;
  // `Join()` afterwards. Children the child started are not signalled.
  absl::Status Terminate();
  absl::Status Kill();

  const std::string& name() const;
  bool daemon() const;

  // What the child runs: the function given to the constructor (returning
  // its exit code). Subclasses override it; it runs only in the child.
  virtual int Run();

 protected:
  // For subclasses that override `Run()`.
  explicit Process(Options options);

 private:
  std::unique_ptr<internal::ProcessState> state_;
};

namespace process_internal {
// For spindle's own tests only.
struct TestHooks {
  // Runs `fn` while holding the lock of this process's daemon registry.
  static void WithDaemonRegistryLocked(absl::FunctionRef<void()> fn);
};
}  // namespace process_internal

}  // namespace spindle

#endif  // SPINDLE_PROCESS_PROCESS_H_
