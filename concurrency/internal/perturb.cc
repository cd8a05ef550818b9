// Copyright 2026 The spindle Authors.
//
// The perturbation points' generator and actions (see perturb.h). Empty
// unless the build defines SPINDLE_PERTURB.

#include "spindle/concurrency/internal/perturb.h"

#if defined(SPINDLE_PERTURB) && SPINDLE_PERTURB

#include <sched.h>
#include <time.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace spindle::internal {
namespace {

uint64_t SplitMix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// The run's seed: SPINDLE_PERTURB_SEED, or one taken from the clock. Read
// at static initialisation (before main, while the process has one thread),
// so a fork() later never finds it half made.
uint64_t ReadSeed() {
  uint64_t seed = 0;
  const char* env = std::getenv("SPINDLE_PERTURB_SEED");
  if (env != nullptr && *env != '\0') {
    seed = std::strtoull(env, nullptr, 10);
  } else {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    seed = SplitMix(static_cast<uint64_t>(ts.tv_sec) * 1000000007ULL +
                    static_cast<uint64_t>(ts.tv_nsec)) %
           1000000000ULL;
  }
  std::fprintf(stderr,
               "spindle: perturbation seed %llu (rerun with "
               "SPINDLE_PERTURB_SEED=%llu)\n",
               static_cast<unsigned long long>(seed),
               static_cast<unsigned long long>(seed));
  return seed;
}

const uint64_t g_seed = ReadSeed();
std::atomic<uint64_t> g_threads{0};

struct Generator {
  uint64_t state = 0;  // 0: not seeded yet.
};
thread_local Generator generator;

}  // namespace

uint64_t PerturbDraw() {
  Generator& g = generator;
  if (g.state == 0) {
    g.state =
        SplitMix(g_seed ^ SplitMix(g_threads.fetch_add(
                              1, std::memory_order_relaxed))) |
        1;
  }
  // xorshift64*.
  uint64_t x = g.state;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  g.state = x;
  return x * 0x2545f4914f6cdd1dULL;
}

void PerturbAct(uint64_t draw) {
  if ((draw & 7) != 0) {
    sched_yield();
    return;
  }
  // 1 to 64 microseconds.
  struct timespec ts = {0, static_cast<long>(((draw >> 3) & 63) + 1) * 1000};
  nanosleep(&ts, nullptr);
}

}  // namespace spindle::internal

#endif  // SPINDLE_PERTURB
