// Copyright 2026 The spindle Authors.
//
// deadlock: the seed's deadlock demo, ported, and its RLock fix.
//
// Part 1. Ten threads each run func1 (take lockA, then lockB) and then
// func2 (take lockB, pause, then lockA). Two threads that are in func1 and
// func2 at the same time each hold the lock the other wants: the seed's
// Python program hangs forever ("卡死了", stuck) without a word.
//
// spindle instead *reports* the problem. With
// `SetLockOrderDetection(kReport)`, spindle's locks feed Abseil's lock-order
// graph: the first time any thread takes lockA while holding lockB after
// lockB was seen taken while holding lockA, Abseil prints "Potential Mutex
// deadlock" with the stacks of both orders -- before any thread blocks, and
// even in runs where the threads happen not to collide. (kAbort would stop
// the program right there; pass --abort to see it.) So that this demo ends
// by itself, the second acquisition in each function gives up after a
// timeout and says so, instead of hanging.
//
// Part 2. The seed's fix: one RLock under both names (lockA = lockB =
// RLock()). A thread that holds it may take it again, threads never hold
// "half" of the pair, there is no lock-order cycle to report, and all ten
// threads run to completion.
//
//   bazel run //examples:deadlock [-- --abort]
//
// Lock-order detection needs a build without NDEBUG (Bazel's default).

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"  // absl::OnDeadlockCycle
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "spindle/concurrency/lock.h"
#include "spindle/concurrency/rlock.h"
#include "spindle/concurrency/thread.h"

namespace {

constexpr int kThreads = 10;
// The seed's time.sleep(2) while holding lockB (shortened).
constexpr absl::Duration kPause = absl::Milliseconds(50);
// How long a thread waits for its second lock before declaring a deadlock.
constexpr absl::Duration kGiveUp = absl::Milliseconds(300);

spindle::Lock print_lock;  // one line at a time on stdout
void Say(const std::string& line) {
  spindle::LockGuard l(&print_lock);
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

std::string Me() { return spindle::CurrentThread().name(); }

// The seed's MyThread, over any lock type with Acquire/AcquireFor/Release.
template <typename L>
struct Worker {
  L& lock_a;
  L& lock_b;
  int* deadlocks;  // Guarded by print_lock.

  void Run() {
    Func1();
    Func2();
  }

  // The second acquisition gave up: in the seed this is where it hangs.
  void GaveUp(const char* name) {
    spindle::LockGuard l(&print_lock);
    ++*deadlocks;
    std::printf("%s could not get %s in %s: deadlock (backing off)\n",
                Me().c_str(), name, absl::FormatDuration(kGiveUp).c_str());
  }

  void Func1() {
    lock_a.Acquire();
    Say(absl::StrCat(Me(), " got lock A"));
    if (lock_b.AcquireFor(kGiveUp)) {
      Say(absl::StrCat(Me(), " got lock B"));
      lock_b.Release();
      Say(absl::StrCat(Me(), " released lock B"));
    } else {
      GaveUp("lock B");
    }
    lock_a.Release();
    Say(absl::StrCat(Me(), " released lock A"));
  }

  void Func2() {
    lock_b.Acquire();
    Say(absl::StrCat(Me(), " got lock B"));
    absl::SleepFor(kPause);
    if (lock_a.AcquireFor(kGiveUp)) {
      Say(absl::StrCat(Me(), " got lock A"));
      lock_a.Release();
      Say(absl::StrCat(Me(), " released lock A"));
    } else {
      GaveUp("lock A");
    }
    lock_b.Release();
    Say(absl::StrCat(Me(), " released lock B"));
  }
};

template <typename L>
int RunThreads(L& lock_a, L& lock_b, const char* prefix) {
  int deadlocks = 0;
  std::vector<spindle::Thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back(
        spindle::Thread::Options{.name = absl::StrCat(prefix, i)}, [&] {
          Worker<L>{lock_a, lock_b, &deadlocks}.Run();
        });
  }
  for (auto& t : threads) {
    if (!t.Start().ok()) return -1;
  }
  for (auto& t : threads) t.Join();
  spindle::LockGuard l(&print_lock);
  return deadlocks;
}

}  // namespace

int main(int argc, char** argv) {
  const bool abort_on_cycle = argc > 1 && std::strcmp(argv[1], "--abort") == 0;
  spindle::SetLockOrderDetection(abort_on_cycle
                                     ? absl::OnDeadlockCycle::kAbort
                                     : absl::OnDeadlockCycle::kReport);

  std::printf("== Part 1: two Locks taken in opposite orders ==\n");
  std::printf("(watch stderr for Abseil's \"Potential Mutex deadlock\")\n");
  {
    spindle::Lock lock_a, lock_b;
    const int deadlocks = RunThreads(lock_a, lock_b, "thread-");
    std::printf(
        "part 1: %d acquisitions gave up; the lock-order cycle was "
        "reported on stderr\n\n",
        deadlocks);
  }

  std::printf("== Part 2: the seed's fix, lockA = lockB = RLock() ==\n");
  spindle::RLock rlock;
  const int deadlocks = RunThreads(rlock, rlock, "rthread-");
  std::printf("part 2: %d deadlocks; all %d threads finished\n", deadlocks,
              kThreads);
  spindle::SetLockOrderDetection(absl::OnDeadlockCycle::kIgnore);
  return deadlocks == 0 ? 0 : 1;
}
