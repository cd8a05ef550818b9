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
  kStopServices = 0,   // Stop every running io::LineService (no grace).
  kShutdownPools = 1,  // Shut down and join every live ThreadPoolExecutor.
  kJoinThreads = 2,    // Join every running non-daemon Thread.
};
inline constexpr int kExitSteps = 3;

// A process-global `T`, made on first use and never destroyed (daemon
// threads may still use it while the process exits). `Renew()` replaces it
// with a new one, for a pthread_atfork child handler: the parent's object
// may be mid-update, or locked by a thread that does not exist in the
// child, so the child never touches it again (it stays reachable, so
// LeakSanitizer does not call it a leak). Constant-initialised, so usable
// from static initialisers. Get/Peek are thread-safe; Renew is for the
// single thread of a just-forked child.
template <typename T>
class LeakedGlobal {
 public:
  constexpr LeakedGlobal() = default;
  LeakedGlobal(const LeakedGlobal&) = delete;
  LeakedGlobal& operator=(const LeakedGlobal&) = delete;

  T& Get() {
    Node* current = node_.load(std::memory_order_acquire);
    if (current != nullptr) return current->value;
    auto* fresh = new Node();
    if (node_.compare_exchange_strong(current, fresh,
                                      std::memory_order_acq_rel)) {
      return fresh->value;
    }
    delete fresh;  // Another thread made it first.
    return current->value;
  }

  // The current object, or null if none was made yet.
  T* Peek() const {
    Node* current = node_.load(std::memory_order_acquire);
    return current != nullptr ? &current->value : nullptr;
  }

  // Makes a new, default-constructed object the current one and returns it.
  T& Renew() {
    auto* fresh = new Node();
    fresh->previous = node_.load(std::memory_order_acquire);
    node_.store(fresh, std::memory_order_release);
    return fresh->value;
  }

 private:
  struct Node {
    T value;
    Node* previous = nullptr;  // Never used again; only kept reachable.
  };
  std::atomic<Node*> node_{nullptr};
};

// Sets the function run for `step` at exit (later calls replace it) and
// installs the atexit handler the first time. `fn` returns true if it
// waited for anything (then another pass follows). Thread-safe.
void SetExitStep(ExitStep step, bool (*fn)());

}  // namespace internal
}  // namespace spindle

#endif  // SPINDLE_CONCURRENCY_INTERNAL_LIFECYCLE_H_
