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
// SPINDLE_PERTURB_ODDS=K makes 1 in K points act (default 8; 1: every
// point). Both reach Bazel tests under --config=perturb when set.

#ifndef SPINDLE_CONCURRENCY_INTERNAL_PERTURB_H_
#define SPINDLE_CONCURRENCY_INTERNAL_PERTURB_H_

#if defined(SPINDLE_PERTURB) && SPINDLE_PERTURB

namespace spindle::internal {

// One point: draws from this thread's generator and usually returns at
// once; sometimes yields, rarely sleeps (defined in perturb.cc).
void PerturbPoint();

}  // namespace spindle::internal

#define SPINDLE_PERTURB_POINT() ::spindle::internal::PerturbPoint()

#else  // !SPINDLE_PERTURB

#define SPINDLE_PERTURB_POINT() ((void)0)

#endif  // SPINDLE_PERTURB

#endif  // SPINDLE_CONCURRENCY_INTERNAL_PERTURB_H_
