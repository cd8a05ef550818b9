// Copyright 2026 The spindle Authors.
//
// -----------------------------------------------------------------------------
// File: internal/lifecycle.h
// -----------------------------------------------------------------------------
//
// Private: the process life-cycle events that `Thread` and
// `ThreadPoolExecutor` take part in, as CPython's `threading` module does
// with `threading._shutdown` (run at interpreter exit) and
// `os.register_at_fork`. Not part of the public API.
//
// At exit. One `atexit` handler, installed the first time a step is set,
// runs the registered steps in order (pools first: Python's
// `threading._register_atexit` callbacks run before the non-daemon threads
// are joined) and repeats the pass until no step reports that it waited for
// anything, so work started while exit() is already waiting (a thread
// started by a leaked thread, a pool created by a task) is waited for too.
//
// After fork. `ForkGeneration()` is 0 in the original process and grows by
// one in every child forked by any thread (a pthread_atfork child handler).
// Objects that own threads record it when made: one whose generation is
// not the current one is a copy inherited by a child, whose threads do not
// exist here.

#ifndef SPINDLE_CONCURRENCY_INTERNAL_LIFECYCLE_H_
#define SPINDLE_CONCURRENCY_INTERNAL_LIFECYCLE_H_

#include <atomic>
#include <cstdint>

namespace spindle {
namespace internal {

// Incremented in the child of every fork(); see the file comment.
inline std::atomic<uint64_t> fork_generation{0};

inline uint64_t ForkGeneration() {
  return fork_generation.load(std::memory_order_relaxed);
}

// The steps of the exit pass, in the order they run.
enum class ExitStep {
  kShutdownPools = 0,  // Shut down and join every live ThreadPoolExecutor.
  kJoinThreads = 1,    // Join every running non-daemon Thread.
};
inline constexpr int kExitSteps = 2;

// A process-global `T`, made on first use and never destroyed (daemon
// threads may still use it while the process exits). `Renew()` replaces it
// with a new one and leaks the old: for a pthread_atfork child handler, as
// the parent's object may be mid-update, or locked by a thread that does
// not exist in the child. Constant-initialised, so usable from static
// initialisers. Thread-safe.
template <typename T>
class LeakedGlobal {
 public:
  constexpr LeakedGlobal() = default;
  LeakedGlobal(const LeakedGlobal&) = delete;
  LeakedGlobal& operator=(const LeakedGlobal&) = delete;

  T& Get() {
    T* current = ptr_.load(std::memory_order_acquire);
    if (current != nullptr) return *current;
    T* fresh = new T();
    if (ptr_.compare_exchange_strong(current, fresh,
                                     std::memory_order_acq_rel)) {
      return *fresh;
    }
    delete fresh;  // Another thread made it first.
    return *current;
  }

  // The current object, or null if none was made yet.
  T* Peek() const { return ptr_.load(std::memory_order_acquire); }

  // Installs `fresh` (owned from now on) as the object.
  void Renew(T* fresh) { ptr_.store(fresh, std::memory_order_release); }

 private:
  std::atomic<T*> ptr_{nullptr};
};

// Sets the function run for `step` at exit (later calls replace it) and
// installs the atexit handler the first time. `fn` returns true if it
// waited for anything (then another pass follows). Thread-safe.
void SetExitStep(ExitStep step, bool (*fn)());

}  // namespace internal
}  // namespace spindle

#endif  // SPINDLE_CONCURRENCY_INTERNAL_LIFECYCLE_H_
