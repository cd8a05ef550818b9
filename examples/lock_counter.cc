// Copyright 2026 The spindle Authors.
//
// lock_counter: the seed's "why locks" demo, ported.
//
// 100 threads each decrement a shared counter that starts at 100, by reading
// it, pausing, and writing back the read value minus one. Without a lock the
// threads read the same old value and overwrite each other's updates: the
// counter ends far above 0 (the seed says "99 or 98, hardly ever 0"). With a
// spindle::Lock around the read-pause-write, the section runs one thread at
// a time and the counter ends at exactly 0.
//
//   bazel run //examples:lock_counter
//
// (In C++ a plain `int` touched by several threads without a lock is a data
// race, which is undefined behaviour, not just a wrong answer. The racy half
// therefore uses std::atomic loads and stores: each access is well defined,
// but the read-modify-write as a whole is not atomic, which is exactly the
// bug the seed shows.)

#include <atomic>
#include <cstdio>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "spindle/concurrency/lock.h"
#include "spindle/concurrency/thread.h"

namespace {

constexpr int kThreads = 100;
// The seed's time.sleep(0.01) inside the critical section.
constexpr absl::Duration kPause = absl::Milliseconds(10);

// Starts `kThreads` threads running `work` and joins them.
template <typename F>
void RunAll(F work) {
  std::vector<spindle::Thread> threads;
  threads.reserve(kThreads);
  for (int i = 0; i < kThreads; ++i) threads.emplace_back(work);
  for (auto& t : threads) {
    if (!t.Start().ok()) std::perror("start");
  }
  for (auto& t : threads) t.Join();
}

// The racy version: read, pause, write back.
int RacyCounter() {
  std::atomic<int> n{kThreads};
  RunAll([&n] {
    const int temp = n.load();
    absl::SleepFor(kPause);  // Every other thread reads the same old value.
    n.store(temp - 1);
  });
  return n.load();
}

// The fixed version: the same steps, under a spindle::Lock. The annotations
// let clang's -Wthread-safety check that `n` is only touched under `lock`.
class LockedCounter {
 public:
  void Decrement() {
    spindle::LockGuard<spindle::Lock> guard(&lock_);
    const int temp = n_;
    absl::SleepFor(kPause);
    n_ = temp - 1;
  }
  int value() {
    spindle::LockGuard<spindle::Lock> guard(&lock_);
    return n_;
  }

 private:
  spindle::Lock lock_;
  int n_ ABSL_GUARDED_BY(lock_) = kThreads;
};

}  // namespace

int main() {
  const int racy = RacyCounter();
  std::printf(
      "without a lock: %d threads took 1 each from %d -> %d "
      "(%d updates lost)\n",
      kThreads, kThreads, racy, racy);

  LockedCounter counter;
  const absl::Time start = absl::Now();
  RunAll([&counter] { counter.Decrement(); });
  std::printf(
      "with a Lock:    %d threads took 1 each from %d -> %d "
      "(serialised: %.1f s)\n",
      kThreads, kThreads, counter.value(),
      absl::ToDoubleSeconds(absl::Now() - start));
  return counter.value() == 0 ? 0 : 1;
}
