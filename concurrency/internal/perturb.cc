// Copyright 2026 The spindle Authors.
//
// The perturbation points' generator and actions (see perturb.h). Empty
// unless the build defines SPINDLE_PERTURB.

#include "spindle/concurrency/internal/perturb.h"

#if defined(SPINDLE_PERTURB) && SPINDLE_PERTURB

#include <sched.h>
#include <time.h>

#include <algorithm>
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

// The run's settings, read at static initialisation (before main, while
// the process has one thread), so a fork() later never finds them half made.
struct Settings {
  uint64_t seed = 0;  // SPINDLE_PERTURB_SEED, or one taken from the clock.
  uint64_t odds = 8;  // SPINDLE_PERTURB_ODDS: 1 in `odds` points acts.
};

Settings ReadSettings() {
  Settings s;
  const char* env = std::getenv("SPINDLE_PERTURB_SEED");
  if (env != nullptr && *env != '\0') {
    s.seed = std::strtoull(env, nullptr, 10);
  } else {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    s.seed = SplitMix(static_cast<uint64_t>(ts.tv_sec) * 1000000007ULL +
                      static_cast<uint64_t>(ts.tv_nsec)) %
             1000000000ULL;
  }
  env = std::getenv("SPINDLE_PERTURB_ODDS");
  if (env != nullptr && *env != '\0') {
    s.odds = std::max<uint64_t>(1, std::strtoull(env, nullptr, 10));
  }
  std::fprintf(stderr,
               "spindle: perturbation seed %llu, odds 1/%llu (rerun with "
               "SPINDLE_PERTURB_SEED=%llu)\n",
               static_cast<unsigned long long>(s.seed),
               static_cast<unsigned long long>(s.odds),
               static_cast<unsigned long long>(s.seed));
  return s;
}

const Settings g_settings = ReadSettings();
std::atomic<uint64_t> g_threads{0};

// This thread's generator (xorshift64*); 0: not seeded yet.
thread_local uint64_t generator_state = 0;

uint64_t Draw() {
  uint64_t x = generator_state;
  if (x == 0) {
    // Seeded from the run's seed and the order in which threads get here.
    x = SplitMix(g_settings.seed ^
                 SplitMix(g_threads.fetch_add(1, std::memory_order_relaxed))) |
        1;
  }
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  generator_state = x;
  return x * 0x2545f4914f6cdd1dULL;
}

}  // namespace

void PerturbPoint() {
  const uint64_t draw = Draw();
  // (Zero only for a point reached by another file's static initialiser
  // before this file's: then the default.)
  const uint64_t odds = g_settings.odds == 0 ? 8 : g_settings.odds;
  if ((draw >> 16) % odds != 0) return;
  // Of the points that act, 7 in 8 yield and 1 in 8 sleeps 1 to 64 us.
  if ((draw & 7) != 0) {
    sched_yield();
    return;
  }
  struct timespec ts = {0, static_cast<long>(((draw >> 3) & 63) + 1) * 1000};
  nanosleep(&ts, nullptr);
}

}  // namespace spindle::internal

#endif  // SPINDLE_PERTURB
