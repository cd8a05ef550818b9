// Copyright 2026 The spindle Authors.
//
// threading_demo: a short tour of spindle's threading primitives, each with
// its Python counterpart. Runs in about a second.
//
//   bazel run //examples:threading_demo
//
//   1. Thread     named threads with arguments, Join, ident/native_id,
//                 Enumerate/ActiveCount, and the except hook.
//   2. Lock       a guarded counter (clang's -Wthread-safety checks it).
//   3. Condition  a producer hands items to consumers, Notify waking one.
//   4. Event      a start signal for a group of threads.
//   5. Barrier    workers meet after each phase; the action runs once.
//   6. Timer      one timer fires, another is cancelled.

#include <cstdio>
#include <deque>
#include <stdexcept>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "spindle/concurrency/barrier.h"
#include "spindle/concurrency/condition.h"
#include "spindle/concurrency/event.h"
#include "spindle/concurrency/lock.h"
#include "spindle/concurrency/thread.h"
#include "spindle/concurrency/timer.h"

namespace {

// Starts every thread; returns false if one could not be started.
bool StartAll(std::vector<spindle::Thread>& threads) {
  for (auto& t : threads) {
    if (!t.Start().ok()) return false;
  }
  return true;
}

void JoinAll(std::vector<spindle::Thread>& threads) {
  for (auto& t : threads) t.Join();
}

// 1. Thread ----------------------------------------------------------------
bool ThreadTour() {
  std::printf("-- Thread\n");
  spindle::Thread t(
      {.name = "greeter"},
      [](const std::string& who, int n) {
        std::printf(
            "   %s: hello %s x%d (native id %lld)\n",
            spindle::CurrentThread().name().c_str(), who.c_str(), n,
            static_cast<long long>(spindle::CurrentThread().native_id()));
      },
      std::string("world"), 3);
  if (!t.Start().ok()) return false;
  t.Join();
  std::printf("   main is %s; %d thread(s) alive now\n",
              spindle::MainThread().name().c_str(), spindle::ActiveCount());

  // An exception escaping a thread goes to the hook, not std::terminate.
  spindle::ExceptHook previous =
      spindle::SetExceptHook([](const spindle::ExceptHookArgs& args) {
        try {
          std::rethrow_exception(args.exception);
        } catch (const std::exception& e) {
          std::printf("   hook: %s raised \"%s\"; the process goes on\n",
                      args.thread.name().c_str(), e.what());
        }
      });
  spindle::Thread failing({.name = "failing"},
                          [] { throw std::runtime_error("oops"); });
  if (!failing.Start().ok()) return false;
  failing.Join();
  spindle::SetExceptHook(previous);
  return true;
}

// 2. Lock ------------------------------------------------------------------
class Account {
 public:
  void Deposit(int amount) {
    spindle::LockGuard<spindle::Lock> l(&lock_);
    balance_ += amount;
  }
  int balance() {
    spindle::LockGuard<spindle::Lock> l(&lock_);
    return balance_;
  }

 private:
  spindle::Lock lock_;
  int balance_ ABSL_GUARDED_BY(lock_) = 0;
};

bool LockTour() {
  std::printf("-- Lock\n");
  Account account;
  std::vector<spindle::Thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&account] {
      for (int j = 0; j < 1000; ++j) account.Deposit(1);
    });
  }
  if (!StartAll(threads)) return false;
  JoinAll(threads);
  std::printf("   4 threads x 1000 deposits = %d\n", account.balance());
  return account.balance() == 4000;
}

// 3. Condition -------------------------------------------------------------
bool ConditionTour() {
  std::printf("-- Condition\n");
  spindle::Condition cond;  // Python's Condition(): an RLock inside.
  std::deque<int> items;
  bool done = false;
  int consumed = 0;
  std::vector<spindle::Thread> consumers;
  for (int i = 0; i < 2; ++i) {
    consumers.emplace_back(
        spindle::Thread::Options{.name = absl::StrCat("consumer-", i)}, [&] {
          while (true) {
            spindle::LockGuard<spindle::Condition> l(&cond);
            // Python's cond.wait_for(predicate), bounded for the demo.
            if (!cond.WaitUntil([&] { return done || !items.empty(); },
                                absl::Seconds(10))) {
              return;
            }
            if (items.empty()) return;  // done
            items.pop_front();
            ++consumed;
          }
        });
  }
  if (!StartAll(consumers)) return false;
  for (int i = 0; i < 10; ++i) {
    spindle::LockGuard<spindle::Condition> l(&cond);
    items.push_back(i);
    cond.Notify();  // Wakes exactly one consumer (the longest waiting).
  }
  {
    spindle::LockGuard<spindle::Condition> l(&cond);
    done = true;
    cond.NotifyAll();
  }
  JoinAll(consumers);
  std::printf("   2 consumers took %d of 10 items\n", consumed);
  return consumed == 10;
}

// 4. Event -----------------------------------------------------------------
bool EventTour() {
  std::printf("-- Event\n");
  spindle::Event go;
  spindle::Lock lock;
  int ready = 0;
  std::vector<spindle::Thread> runners;
  for (int i = 0; i < 3; ++i) {
    runners.emplace_back([&] {
      if (go.WaitFor(absl::Seconds(10))) {
        spindle::LockGuard<spindle::Lock> l(&lock);
        ++ready;
      }
    });
  }
  if (!StartAll(runners)) return false;
  std::printf("   3 runners wait for the start signal...\n");
  go.Set();
  JoinAll(runners);
  std::printf("   ...and all %d ran after Set()\n", ready);
  return ready == 3;
}

// 5. Barrier ---------------------------------------------------------------
bool BarrierTour() {
  std::printf("-- Barrier\n");
  int phase = 0;  // Only the action writes it, while everyone waits.
  spindle::Barrier barrier(3, [&phase] {
    ++phase;
    std::printf("   action: everyone finished phase %d\n", phase);
  });
  std::vector<spindle::Thread> workers;
  for (int i = 0; i < 3; ++i) {
    workers.emplace_back([&barrier] {
      for (int p = 0; p < 2; ++p) {
        absl::StatusOr<int> index = barrier.WaitFor(absl::Seconds(10));
        if (!index.ok()) return;
      }
    });
  }
  if (!StartAll(workers)) return false;
  JoinAll(workers);
  return phase == 2 && !barrier.broken();
}

// 6. Timer -----------------------------------------------------------------
bool TimerTour() {
  std::printf("-- Timer\n");
  const absl::Time start = absl::Now();
  spindle::Timer fires(absl::Milliseconds(200), [start] {
    std::printf("   timer fired after %s\n",
                absl::FormatDuration(
                    absl::Trunc(absl::Now() - start, absl::Milliseconds(10)))
                    .c_str());
  });
  spindle::Timer cancelled(absl::Seconds(30),
                           [] { std::printf("   this never prints\n"); });
  if (!fires.Start().ok() || !cancelled.Start().ok()) return false;
  cancelled.Cancel();
  cancelled.Join();
  std::printf("   the 30 s timer was cancelled at once\n");
  fires.Join();
  return true;
}

}  // namespace

int main() {
  const bool ok = ThreadTour() && LockTour() && ConditionTour() &&
                  EventTour() && BarrierTour() && TimerTour();
  std::printf(ok ? "tour complete\n" : "tour FAILED\n");
  return ok ? 0 : 1;
}
