// Copyright 2026 The spindle Authors.
//
// Brief polling before blocking, shared by spindle's queues and pool (not a
// public API). Header-only.

#ifndef SPINDLE_CONCURRENCY_INTERNAL_SPIN_H_
#define SPINDLE_CONCURRENCY_INTERNAL_SPIN_H_

#include <thread>

#include "spindle/concurrency/internal/perturb.h"

namespace spindle::internal {

// One CPU "pause": tells the core this is a spin-wait loop.
inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

// How many pauses to spend polling before blocking: `pauses` on a
// multi-core machine, 0 on one CPU (where spinning can only delay the thread
// or process being waited for).
inline int SpinBudget(int pauses) {
  static const bool multi_core = std::thread::hardware_concurrency() > 1;
  return multi_core ? pauses : 0;
}

// Polls `ready` until it returns true or `budget` pauses are spent, with
// growing gaps between polls (1, 2, 4, then 8 pauses) so the poller takes
// the polled cache line away from the thread that is changing it less often.
template <typename Ready>
void SpinUntil(Ready ready, int budget) {
  for (int i = 0, spent = 0; spent < budget && !ready(); ++i) {
    SPINDLE_PERTURB_POINT();
    const int gap = i < 3 ? (1 << i) : 8;
    for (int j = 0; j < gap; ++j) CpuRelax();
    spent += gap;
  }
}

}  // namespace spindle::internal

#endif  // SPINDLE_CONCURRENCY_INTERNAL_SPIN_H_
