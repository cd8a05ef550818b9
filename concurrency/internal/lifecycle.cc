// Copyright 2026 The spindle Authors.

#include "spindle/concurrency/internal/lifecycle.h"

#include <pthread.h>

#include <atomic>
#include <cstdlib>
#include <mutex>

namespace spindle {
namespace internal {
namespace {

std::atomic<bool (*)()> exit_steps[kExitSteps] = {};

void RunExitSteps() {
  for (;;) {
    bool waited = false;
    for (auto& step : exit_steps) {
      bool (*fn)() = step.load(std::memory_order_acquire);
      if (fn != nullptr && fn()) waited = true;
    }
    if (!waited) return;
  }
}

void CountFork() { fork_generation.fetch_add(1, std::memory_order_relaxed); }

[[maybe_unused]] const bool kForkCounted = [] {
  pthread_atfork(nullptr, nullptr, &CountFork);
  return true;
}();

}  // namespace

void SetExitStep(ExitStep step, bool (*fn)()) {
  exit_steps[static_cast<int>(step)].store(fn, std::memory_order_release);
  static std::once_flag once;
  std::call_once(once, [] { std::atexit(&RunExitSteps); });
}

}  // namespace internal
}  // namespace spindle
