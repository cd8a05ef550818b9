// Copyright 2026 The spindle Authors.
//
// Schedule perturbation for testing (not a public API).
//
// SPINDLE_PERTURB_POINT() marks a hand-off point of a lock-free or spinning
// path: a place where another thread's move in between changes what happens
// next (after publishing an item and before checking for waiters, between
// reading a state word and acting on it, before parking). In an ordinary
// build it expands to nothing at all. Built with
// `--define=spindle_perturb=1` (see `--config=perturb` in .bazelrc), each
// point draws from a per-thread pseudo-random generator and then usually
// does nothing, sometimes yields the CPU and rarely sleeps a few tens of
// microseconds, so that interleavings the stress tests would almost never
// meet become common.
//
// The run's seed is printed once on stderr ("spindle: perturbation seed
// N"); set SPINDLE_PERTURB_SEED=N to draw the same choices again (each
// thread's generator is seeded from N and the order in which threads first
// reach a point, so a rerun repeats a failure's schedule only roughly).
// Pass it to a Bazel test with `--test_env=SPINDLE_PERTURB_SEED=N`.

#ifndef SPINDLE_CONCURRENCY_INTERNAL_PERTURB_H_
#define SPINDLE_CONCURRENCY_INTERNAL_PERTURB_H_

#if defined(SPINDLE_PERTURB) && SPINDLE_PERTURB

#include <cstdint>

namespace spindle::internal {

// The slow path of a point: sleeps or yields (defined in perturb.cc).
void PerturbAct(uint64_t draw);

// Advances this thread's generator (seeded on first use from the run's seed,
// see perturb.cc) and returns its next value.
uint64_t PerturbDraw();

inline void PerturbPoint() {
  const uint64_t draw = PerturbDraw();
  // 1 in 8 points acts (7 of those 8 yield, 1 sleeps): frequent enough to
  // reorder threads, rare enough that the tests still finish in time.
  if ((draw & 7) == 0) PerturbAct(draw >> 3);
}

}  // namespace spindle::internal

#define SPINDLE_PERTURB_POINT() ::spindle::internal::PerturbPoint()

#else  // !SPINDLE_PERTURB

#define SPINDLE_PERTURB_POINT() ((void)0)

#endif  // SPINDLE_PERTURB

#endif  // SPINDLE_CONCURRENCY_INTERNAL_PERTURB_H_
