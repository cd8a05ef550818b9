// Copyright 2026 The spindle Authors.
//
// -----------------------------------------------------------------------------
// File: thread.h
// -----------------------------------------------------------------------------
//
// `spindle::Thread` is Python's `threading.Thread`, plus the module-level
// functions that inspect threads.
//
//   Python                              spindle
//   ----------------------------------  --------------------------------------
//   Thread(target=f, args=(a, b))       Thread t(f, a, b);
//   Thread(..., name="x", daemon=True)  Thread t({.name = "x", .daemon = true},
//   f) t.start()                           t.Start()            -> absl::Status
//   t.join() / t.join(timeout)          t.Join() / t.JoinFor(d) -> bool
//   t.is_alive(), t.name, t.daemon      t.IsAlive(), t.name(), t.daemon()
//   t.ident, t.native_id                t.ident(), t.native_id()
//   current_thread(), main_thread()     CurrentThread(), MainThread()
//   active_count(), enumerate()         ActiveCount(), Enumerate()
//   threading.excepthook = hook         SetExceptHook(hook)
//
// Errors.
//   * `Start()` on a thread that was already started returns
//     `FailedPreconditionError` ("threads can only be started once", Python's
//     RuntimeError); if the OS cannot create the thread it returns the errno
//     status (`ErrnoError`) and the thread may be started again later.
//   * `Join()` on a thread that was never started, or by the thread itself,
//     would wait forever; spindle reports it with a checked crash (a FATAL
//     message; Python raises RuntimeError). `JoinFor` checks the same.
//   * An exception escaping the thread's function does not terminate the
//     process: it is passed to the except hook (see `SetExceptHook`) and the
//     thread ends normally.
//
// Daemon threads. C++ has no interpreter that waits for threads at exit, so
// spindle defines:
//   * A non-daemon `Thread` (the default) is joined when the `Thread` object
//     is destroyed (like `std::jthread`, without a stop token), and the
//     process waits for every still-running non-daemon spindle thread at
//     `exit()` (an `atexit` handler; only matters for `Thread` objects that
//     are never destroyed, e.g. leaked or static ones). As Python's
//     `threading._shutdown`, it first lets live ThreadPoolExecutors finish
//     their queued tasks (thread_pool.h), then joins the threads, and
//     repeats until neither is left, so threads started while exit() is
//     already waiting (by a leaked thread or a pool task) are waited for too.
//   * A daemon `Thread` is detached when the `Thread` object is destroyed;
//     the thread keeps running and the process may exit while it runs.
//     spindle's own state that such a thread may touch (its record, the
//     thread registry, the except hook) is never destroyed, so a daemon
//     thread still running while the process exits does not crash it; the
//     thread's function must itself not use objects that static
//     destruction destroys.
//
// After fork(). The child has one thread, the one that forked, and spindle
// describes that (Python's `threading._after_fork`): `Enumerate()` lists
// only it, `ActiveCount()` is 1, and it is the child's `MainThread()` (with
// its old name). A `Thread` started before the fork is, in the child, a
// thread that has ended: `IsAlive()` is false, `Join()` returns at once and
// its destructor does nothing; so `exit()` in the child does not wait for
// the parent's threads. None of the parent's locks are touched in the child.
//
// Timeouts and the system clock. `JoinFor(d)` waits with Abseil's
// `Mutex::AwaitWithTimeout` (Abseil 20220623), which turns `d` into the
// wall-clock deadline `gettimeofday() + d` and sleeps until that absolute
// CLOCK_REALTIME time: if the system clock is stepped during the wait, the
// wait ends that much early (clock set forward) or lasts that much longer
// (set back). spindle's io/ event loop and selectors run on CLOCK_MONOTONIC.

#ifndef SPINDLE_CONCURRENCY_THREAD_H_
#define SPINDLE_CONCURRENCY_THREAD_H_

#include <concepts>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/time/time.h"

namespace spindle {

namespace internal {
struct ThreadRecord;
}  // namespace internal

// ThreadHandle
//
// A copyable reference to a thread's record, as returned by
// `CurrentThread()`, `MainThread()` and `Enumerate()`; it stays valid after
// the thread ends. It can describe threads spindle did not start: the main
// thread ("MainThread") and "dummy" threads (other threads, named
// "Dummy-N", registered the first time they call `CurrentThread()` and
// unregistered when they exit).
//
// Thread safety: all member functions may be called concurrently from any
// thread.
class ThreadHandle {
 public:
  // Refers to no thread: `valid()` is false and the accessors must not be
  // called.
  ThreadHandle() = default;

  bool valid() const { return rec_ != nullptr; }
  std::string name() const;
  bool daemon() const;
  // Python's `ident`: `pthread_self()` of the thread as an integer; 0
  // before the thread started.
  uint64_t ident() const;
  // The kernel's thread id (`gettid()`); 0 before the thread started.
  int64_t native_id() const;
  // True from `Start()` until the thread's function returned (for main and
  // dummy threads: while registered).
  bool IsAlive() const;
  bool is_main() const;
  bool is_dummy() const;

  friend bool operator==(const ThreadHandle& a, const ThreadHandle& b) {
    return a.rec_ == b.rec_;
  }

  // For spindle's implementation; the record type is private.
  explicit ThreadHandle(std::shared_ptr<internal::ThreadRecord> rec)
      : rec_(std::move(rec)) {}

 private:
  std::shared_ptr<internal::ThreadRecord> rec_;
};

// Thread
//
// Runs a callable with arguments on a new OS thread once `Start()` is
// called. The callable and the arguments are copied or moved into the
// `Thread` (pass `std::ref` to share); they are destroyed on the thread when
// the function returns or throws.
//
// Names. `Options::name` names the thread; an empty name gives "Thread-N"
// (N counts threads created in the process). The OS thread name (what `ps`,
// `top` and debuggers show) is set to the first 15 bytes of it, the Linux
// limit.
//
// Blocking. `Join()` waits until the thread's function has returned (or
// thrown); it wakes only for that. `JoinFor(d)` also wakes when `d` has
// passed and returns whether the thread had finished; a zero or negative
// `d` does not block. Any number of threads may join the same thread.
// `Start()` waits until the new thread is registered, so that `ident()`,
// `native_id()` and `IsAlive()` are meaningful as soon as it returns.
//
// Thread safety: all member functions may be called concurrently from any
// thread, except construction and destruction.
//
// Happens-before: `Start()` happens-before the start of the thread's
// function; the function's return happens-before `Join()` returning, and
// `JoinFor()` or `IsAlive()` returning a value that shows it finished.
class Thread {
 public:
  struct Options {
    // Thread name; empty means "Thread-N". (The `= {}` keeps GCC's
    // -Wmissing-field-initializers quiet for `{.daemon = true}`.)
    std::string name = {};
    // See "Daemon threads" above.
    bool daemon = false;
    // Stack size in bytes (Python's threading.stack_size()); 0 means the
    // system default. A size the system rejects (below PTHREAD_STACK_MIN)
    // makes Start() return InvalidArgumentError; one it cannot provide makes
    // Start() return the errno status (see "Errors").
    size_t stack_size = 0;
  };

  // A thread running `f(args...)`, with default options.
  template <typename F, typename... Args>
  requires(
      !std::same_as<std::decay_t<F>, Options> &&
      std::invocable<std::decay_t<F>,
                     std::decay_t<Args>...>) explicit Thread(F&& f,
                                                             Args&&... args)
      : Thread(Options(), std::forward<F>(f), std::forward<Args>(args)...) {}

  // A thread running `f(args...)` with `options`.
  template <typename F, typename... Args>
  requires std::invocable<std::decay_t<F>, std::decay_t<Args>...> Thread(
      Options options, F&& f, Args&&... args)
      : Thread(std::move(options),
               absl::AnyInvocable<void()>(
                   [f = std::forward<F>(f),
                    ... args = std::forward<Args>(args)]() mutable {
                     std::invoke(std::move(f), std::move(args)...);
                   })) {}

  Thread(Options options, absl::AnyInvocable<void()> fn);

  // Moving transfers the thread; the moved-from object refers to none and
  // may only be destroyed.
  Thread(Thread&& other) noexcept = default;
  Thread& operator=(Thread&&) = delete;
  Thread(const Thread&) = delete;
  Thread& operator=(const Thread&) = delete;

  // Joins a started non-daemon thread; detaches a daemon thread.
  ~Thread();

  // Starts the thread. Returns `FailedPreconditionError` if it was already
  // started, or the OS error if no thread could be created.
  absl::Status Start();

  // Waits for the thread to finish. Crashes if it was never started or if
  // called by the thread itself.
  void Join();
  // Waits at most `timeout`; returns true if the thread has finished.
  bool JoinFor(absl::Duration timeout);

  bool IsAlive() const;
  std::string name() const;
  bool daemon() const;
  uint64_t ident() const;
  int64_t native_id() const;
  // A handle to this thread's record (compares equal to `CurrentThread()`
  // inside the thread).
  ThreadHandle handle() const;

 private:
  std::shared_ptr<internal::ThreadRecord> rec_;
};

// The calling thread's handle. For threads spindle did not start, this
// registers a dummy record (once per thread) as Python does.
ThreadHandle CurrentThread();

// The main thread's handle (the thread whose kernel id is the process id).
ThreadHandle MainThread();

// The number of live threads spindle knows of: started `Thread`s whose
// function has not returned, the main thread, and dummy threads.
int ActiveCount();

// Handles of the threads counted by `ActiveCount()`. A joined thread is
// never listed.
std::vector<ThreadHandle> Enumerate();

// What an except hook receives.
struct ExceptHookArgs {
  std::exception_ptr exception;  // What escaped the thread's function.
  ThreadHandle thread;           // The thread it escaped from.
};
using ExceptHook = std::function<void(const ExceptHookArgs&)>;

// Sets the function called, on the failing thread, with every exception that
// escapes a `Thread`'s function (Python's `threading.excepthook`); an empty
// function restores the default. Returns the previous hook. The default,
// `DefaultExceptHook`, prints "Exception in thread <name>:" and the
// exception's `what()` (or "unknown exception") to stderr. An exception
// thrown by a hook is reported to stderr and otherwise ignored. Thread-safe.
ExceptHook SetExceptHook(ExceptHook hook);
void DefaultExceptHook(const ExceptHookArgs& args);

}  // namespace spindle

#endif  // SPINDLE_CONCURRENCY_THREAD_H_
