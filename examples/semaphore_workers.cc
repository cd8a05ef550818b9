// Copyright 2026 The spindle Authors.
//
// semaphore_workers: the seed's Semaphore demo, ported.
//
// A Semaphore(5) lets at most 5 threads into a section at a time. Nine
// threads each take a permit, print their name, "work" for a while, and give
// the permit back: the first five print at once, the other four only as
// permits come back. The program also counts how many threads are inside at
// once and checks that it never exceeds 5.
//
//   bazel run //examples:semaphore_workers

#include <algorithm>
#include <cstdio>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "spindle/concurrency/lock.h"
#include "spindle/concurrency/semaphore.h"
#include "spindle/concurrency/thread.h"

int main() {
  constexpr int kPermits = 5;
  constexpr int kThreads = 9;
  // The seed sleeps 1 s; a shorter "job" keeps the demo quick.
  constexpr absl::Duration kWork = absl::Milliseconds(300);

  spindle::Semaphore sm(kPermits);
  spindle::Lock lock;  // guards the two counters
  int inside = 0;
  int most_inside = 0;
  const absl::Time start = absl::Now();

  auto foo = [&] {
    sm.Acquire();
    {
      spindle::LockGuard l(&lock);
      ++inside;
      most_inside = std::max(most_inside, inside);
      std::printf("[%.1f s] %s ... (%d inside)\n",
                  absl::ToDoubleSeconds(absl::Now() - start),
                  spindle::CurrentThread().name().c_str(), inside);
    }
    absl::SleepFor(kWork);
    {
      spindle::LockGuard l(&lock);
      --inside;
    }
    sm.Release();
  };

  std::vector<spindle::Thread> threads;
  for (int i = 0; i < kThreads; ++i) threads.emplace_back(foo);
  for (auto& t : threads) {
    if (!t.Start().ok()) return 1;
  }
  for (auto& t : threads) t.Join();

  std::printf("at most %d of %d threads were inside at once (limit %d)\n",
              most_inside, kThreads, kPermits);
  return most_inside <= kPermits ? 0 : 1;
}
