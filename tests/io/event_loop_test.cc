// Copyright 2026 The spindle Authors.

#include "spindle/io/event_loop.h"

#include <fcntl.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "spindle/concurrency/future.h"
#include "spindle/concurrency/status.h"
#include "spindle/concurrency/thread_pool.h"
#include "spindle/io/socket.h"
#include "tests/test_util.h"

namespace spindle::io {
namespace {

constexpr absl::Duration kBound = absl::Seconds(20);

std::unique_ptr<EventLoop> MakeLoop() {
  auto loop = EventLoop::Create();
  EXPECT_TRUE(loop.ok()) << loop.status();
  return *std::move(loop);
}

// Stops the loop after `d` so that a failing test ends instead of hanging.
Handle Watchdog(EventLoop& loop, absl::Duration d = kBound) {
  return loop.CallLater(d, [&loop] {
    ADD_FAILURE() << "watchdog fired";
    loop.Stop();
  });
}

TEST(EventLoopTest, CallSoonRunsInFifoOrder) {
  auto loop = MakeLoop();
  std::vector<int> order;
  for (int i = 0; i < 5; ++i)
    loop->CallSoon([&order, i] { order.push_back(i); });
  loop->CallSoon([&] { loop->Stop(); });
  ASSERT_OK(loop->RunForever());
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
}

TEST(EventLoopTest, CallbacksScheduledByCallbacksRunNextIteration) {
  auto loop = MakeLoop();
  std::vector<std::string> order;
  loop->CallSoon([&] {
    order.push_back("a");
    loop->CallSoon([&] { order.push_back("c"); });
  });
  loop->CallSoon([&] {
    order.push_back("b");
    loop->Stop();  // Stops after this iteration: "c" has not run.
  });
  ASSERT_OK(loop->RunForever());
  EXPECT_EQ(order, (std::vector<std::string>{"a", "b"}));
  loop->CallSoon([&] { loop->Stop(); });
  ASSERT_OK(loop->RunForever());
  EXPECT_EQ(order, (std::vector<std::string>{"a", "b", "c"}));
}

TEST(EventLoopTest, CancelledHandleDoesNotRun) {
  auto loop = MakeLoop();
  bool ran = false;
  Handle h = loop->CallSoon([&] { ran = true; });
  h.Cancel();
  EXPECT_TRUE(h.cancelled());
  loop->CallSoon([&] { loop->Stop(); });
  ASSERT_OK(loop->RunForever());
  EXPECT_FALSE(ran);
}

TEST(EventLoopTest, TimersRunInDeadlineOrder) {
  auto loop = MakeLoop();
  Watchdog(*loop);
  std::vector<int> order;
  const MonotonicTime t0 = loop->Time();
  loop->CallAt(t0 + absl::Milliseconds(30), [&] {
    order.push_back(3);
    loop->Stop();
  });
  loop->CallAt(t0 + absl::Milliseconds(10), [&] { order.push_back(1); });
  loop->CallAt(t0 + absl::Milliseconds(10), [&] { order.push_back(2); });
  loop->CallLater(-absl::Seconds(1), [&] { order.push_back(0); });
  ASSERT_OK(loop->RunForever());
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3}));
  // Timing is the point here: the 30 ms timer did not fire early.
  EXPECT_GE(loop->Time() - t0, absl::Milliseconds(30));
}

TEST(EventLoopTest, CancelledTimerDoesNotRunAndIsPurged) {
  auto loop = MakeLoop();
  Watchdog(*loop);
  bool ran = false;
  Handle h = loop->CallLater(absl::Milliseconds(1), [&] { ran = true; });
  h.Cancel();
  std::vector<Handle> many;
  for (int i = 0; i < 5000; ++i) {
    many.push_back(loop->CallLater(absl::Hours(1), [] {}));
    many.back().Cancel();
  }
  EXPECT_LT(loop->num_timers(), 3000u);  // Purged, not kept for an hour.
  loop->CallLater(absl::Milliseconds(5), [&] { loop->Stop(); });
  ASSERT_OK(loop->RunForever());
  EXPECT_FALSE(ran);
}

absl::Duration MonotonicNow() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return absl::DurationFromTimespec(ts);
}

// The loop's clock is CLOCK_MONOTONIC (asyncio's loop.time()), not the wall
// clock: a reading lies between two CLOCK_MONOTONIC readings around it.
TEST(EventLoopTest, TimeIsTheMonotonicClock) {
  auto loop = MakeLoop();
  const absl::Duration before = MonotonicNow();
  const MonotonicTime t = loop->Time();
  const absl::Duration after = MonotonicNow();
  EXPECT_LE(before, t.since_origin());
  EXPECT_LE(t.since_origin(), after);
  EXPECT_EQ(MonotonicTime::FromOrigin(t.since_origin()), t);
}

// IterationTime() reads the clock once per iteration: later calls in the
// same iteration return that reading although Time() moved on; the next
// iteration reads afresh; outside an iteration it is Time().
TEST(EventLoopTest, IterationTimeIsReadOncePerIteration) {
  auto loop = MakeLoop();
  const MonotonicTime idle = loop->IterationTime();
  EXPECT_LE(idle, loop->Time());
  MonotonicTime first, again, moved, next;
  loop->CallSoon([&] {
    first = loop->IterationTime();
    // Wait (bounded) for the clock to move: no sleep, just reads.
    const MonotonicTime give_up = first + kBound;
    do {
      moved = loop->Time();
    } while (moved == first && moved < give_up);
    again = loop->IterationTime();
    loop->CallSoon([&] {
      next = loop->IterationTime();
      loop->Stop();
    });
  });
  ASSERT_TRUE(loop->RunForever().ok());
  EXPECT_LE(idle, first);
  EXPECT_LT(first, moved);
  EXPECT_EQ(again, first);  // The same iteration: the same reading.
  EXPECT_LE(moved, next);   // The next iteration: read afresh.
  EXPECT_LE(next, loop->IterationTime());  // Not running: Time().
}

// CallLater schedules on that clock: the handle is due `delay` after Time().
TEST(EventLoopTest, CallLaterIsDueOnTheLoopClock) {
  auto loop = MakeLoop();
  const MonotonicTime before = loop->Time();
  Handle h = loop->CallLater(absl::Hours(1), [] {});
  const MonotonicTime after = loop->Time();
  EXPECT_LE(before + absl::Hours(1), h.when());
  EXPECT_LE(h.when(), after + absl::Hours(1));
  EXPECT_EQ(h.when() - absl::Hours(1) - before,
            h.when() - (before + absl::Hours(1)));
  // Never: an infinite delay saturates instead of wrapping into the past.
  Handle never = loop->CallLater(absl::InfiniteDuration(), [] {});
  EXPECT_EQ(never.when(), MonotonicTime::InfiniteFuture());
  EXPECT_LT(MonotonicTime::InfinitePast(), before);
  EXPECT_EQ(Handle().when(), MonotonicTime::InfinitePast());
}

// Issue 11: a million timers scheduled and then cancelled used to make the
// next iteration pop them one by one (1.8 s). Once cancelled timers are over
// half the heap, the iteration drops them all in one pass. A live timer at
// the top of the heap shows which happened: popping stops at it, purging
// does not.
TEST(EventLoopTest, MassCancelledTimersArePurgedInOnePass) {
  auto loop = MakeLoop();
  Handle live = loop->CallLater(absl::Hours(1), [] {});
  constexpr size_t kTimers = 100000;
  std::vector<Handle> cancelled;
  cancelled.reserve(kTimers);
  for (size_t i = 0; i < kTimers; ++i) {
    cancelled.push_back(loop->CallLater(absl::Hours(2), [] {}));
  }
  for (Handle& h : cancelled) h.Cancel();
  EXPECT_EQ(loop->num_timers(), kTimers + 1);
  EXPECT_EQ(loop->num_cancelled_timers(), kTimers);
  loop->Stop();
  ASSERT_OK(loop->RunForever());  // One iteration.
  EXPECT_EQ(loop->num_timers(), 1u);
  EXPECT_EQ(loop->num_cancelled_timers(), 0u);
  EXPECT_FALSE(live.cancelled());
  // Cancelling again counts nothing: they are no longer in the heap.
  for (Handle& h : cancelled) h.Cancel();
  EXPECT_EQ(loop->num_cancelled_timers(), 0u);
}

// Below half, cancelled timers wait for their turn at the top (asyncio's
// rule): the heap is not rebuilt for a few of them. Past half, it is.
TEST(EventLoopTest, CancelledTimersPurgedOnlyPastHalfTheHeap) {
  auto loop = MakeLoop();
  std::vector<Handle> early, late;
  for (int i = 0; i < 200; ++i) {
    early.push_back(loop->CallLater(absl::Hours(1), [] {}));
    late.push_back(loop->CallLater(absl::Hours(2), [] {}));
  }
  for (int i = 0; i < 200; ++i) late[i].Cancel();  // Exactly half.
  loop->Stop();
  ASSERT_OK(loop->RunForever());
  EXPECT_EQ(loop->num_timers(), 400u);
  EXPECT_EQ(loop->num_cancelled_timers(), 200u);
  early[0].Cancel();  // Now over half.
  loop->Stop();
  ASSERT_OK(loop->RunForever());
  EXPECT_EQ(loop->num_timers(), 199u);
  EXPECT_EQ(loop->num_cancelled_timers(), 0u);
}

// Scheduling and cancelling without ever iterating keeps the heap bounded:
// CallAt purges too.
TEST(EventLoopTest, ScheduleCancelChurnKeepsHeapBounded) {
  auto loop = MakeLoop();
  std::vector<Handle> live;
  for (int i = 0; i < 50; ++i) {
    live.push_back(loop->CallLater(absl::Hours(1), [] {}));
  }
  size_t peak = 0;
  for (int i = 0; i < 100000; ++i) {
    loop->CallLater(absl::Hours(2), [] {}).Cancel();
    peak = std::max(peak, loop->num_timers());
  }
  // Purged whenever cancelled ones pass half of a heap over 100 entries.
  EXPECT_LE(peak, 2 * live.size() + 102);
}

// A cancelled timer that comes due leaves the count; handles outliving
// their loop can still be cancelled (ASan checks the count is not touched).
TEST(EventLoopTest, CancelledCountFollowsTimersAndLoopLifetime) {
  auto loop = MakeLoop();
  Handle due = loop->CallLater(absl::ZeroDuration(), [] {});
  due.Cancel();
  EXPECT_EQ(loop->num_cancelled_timers(), 1u);
  loop->Stop();
  ASSERT_OK(loop->RunForever());
  EXPECT_EQ(loop->num_timers(), 0u);
  EXPECT_EQ(loop->num_cancelled_timers(), 0u);
  Handle pending = loop->CallLater(absl::Hours(1), [] {});
  Handle closed_over = loop->CallLater(absl::Hours(1), [] {});
  ASSERT_OK(loop->Close());
  pending.Cancel();
  loop.reset();
  closed_over.Cancel();
  EXPECT_TRUE(pending.cancelled());
  EXPECT_TRUE(closed_over.cancelled());
}

TEST(EventLoopTest, TimerCancelsItselfWhileRunning) {
  auto loop = MakeLoop();
  Handle h;
  int runs = 0;
  h = loop->CallSoon([&] {
    ++runs;
    h.Cancel();  // Must not destroy the running callback.
    loop->Stop();
  });
  ASSERT_OK(loop->RunForever());
  EXPECT_EQ(runs, 1);
}

TEST(EventLoopTest, CallSoonThreadsafeWakesBlockedLoop) {
  auto loop = MakeLoop();
  Watchdog(*loop);
  std::atomic<int> sum{0};
  std::vector<std::thread> threads;
  constexpr int kThreads = 4, kPerThread = 1000;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        ASSERT_OK(loop->CallSoonThreadsafe([&] {
          if (sum.fetch_add(1) + 1 == kThreads * kPerThread) loop->Stop();
        }));
      }
    });
  }
  ASSERT_OK(loop->RunForever());
  for (auto& t : threads) t.join();
  EXPECT_EQ(sum.load(), kThreads * kPerThread);
}

// Ping-pong: every callback is posted while the loop is about to wait or
// waiting with nothing else to do (no timers: a lost wake-up is a hang), so
// the post races with the loop's last look before it blocks. The loop
// writes its wake-up fd only for a loop that waits; this checks that no
// post falls between the two.
TEST(EventLoopTest, CallSoonThreadsafeNeverMissesALoopGoingToSleep) {
  auto loop = MakeLoop();
  Watchdog(*loop);
  constexpr int kRounds = 20000;
  absl::Mutex mu;
  int ran = 0;  // Guarded by mu.
  std::atomic<bool> failed{false};
  std::thread poster([&] {
    for (int i = 0; i < kRounds && !failed; ++i) {
      ASSERT_OK(loop->CallSoonThreadsafe([&] {
        absl::MutexLock l(&mu);
        ++ran;
      }));
      absl::MutexLock l(&mu);
      const int want = i + 1;
      auto done = [&] { return ran >= want; };
      if (!mu.AwaitWithTimeout(absl::Condition(&done), kBound)) {
        ADD_FAILURE() << "callback " << i << " did not run";
        failed = true;
      }
    }
    loop->Stop();
  });
  ASSERT_OK(loop->RunForever());
  poster.join();
  absl::MutexLock l(&mu);
  EXPECT_EQ(ran, kRounds);
}

TEST(EventLoopTest, CallSoonThreadsafePreservesPerThreadOrder) {
  auto loop = MakeLoop();
  Watchdog(*loop);
  std::vector<int> seen;
  std::thread producer([&] {
    for (int i = 0; i < 500; ++i) {
      ASSERT_OK(loop->CallSoonThreadsafe([&seen, i] { seen.push_back(i); }));
    }
    ASSERT_OK(loop->CallSoonThreadsafe([&] { loop->Stop(); }));
  });
  ASSERT_OK(loop->RunForever());
  producer.join();
  ASSERT_EQ(seen.size(), 500u);
  for (int i = 0; i < 500; ++i) EXPECT_EQ(seen[i], i);
}

TEST(EventLoopTest, StopFromAnotherThreadWakesLoop) {
  auto loop = MakeLoop();
  Watchdog(*loop);
  absl::Notification running;
  loop->CallSoon([&] { running.Notify(); });
  std::thread stopper([&] {
    ASSERT_TRUE(running.WaitForNotificationWithTimeout(kBound));
    loop->Stop();
  });
  ASSERT_OK(loop->RunForever());
  stopper.join();
  EXPECT_FALSE(loop->IsRunning());
}

TEST(EventLoopTest, StopBeforeRunRunsOneIteration) {
  auto loop = MakeLoop();
  bool ran = false;
  loop->CallSoon([&] { ran = true; });
  loop->Stop();
  ASSERT_OK(loop->RunForever());
  EXPECT_TRUE(ran);
}

TEST(EventLoopTest, RunForeverTwiceConcurrentlyFails) {
  auto loop = MakeLoop();
  absl::Status inner;
  loop->CallSoon([&] {
    inner = loop->RunForever();
    loop->Stop();
  });
  ASSERT_OK(loop->RunForever());
  EXPECT_TRUE(IsShutDown(inner)) << inner;  // kFailedPrecondition.
}

TEST(EventLoopTest, ReaderCalledWhenReadableAndRemovable) {
  auto loop = MakeLoop();
  Watchdog(*loop);
  auto pair = SocketPair();
  ASSERT_TRUE(pair.ok());
  Socket& a = pair->first;
  Socket& b = pair->second;
  ASSERT_OK(b.SetNonBlocking());
  std::string got;
  ASSERT_OK(loop->AddReader(b.fileno(), [&] {
    char buf[64];
    auto n = b.Recv(buf, sizeof(buf));
    if (n.ok()) got.append(buf, *n);
    if (got == "hello") {
      EXPECT_TRUE(loop->RemoveReader(b.fileno()));  // Removes itself.
      loop->Stop();
    }
  }));
  EXPECT_TRUE(absl::IsAlreadyExists(loop->AddReader(b.fileno(), [] {})));
  ASSERT_OK(a.SendAll("hello"));
  ASSERT_OK(loop->RunForever());
  EXPECT_EQ(got, "hello");
  EXPECT_FALSE(loop->HasReader(b.fileno()));
  EXPECT_FALSE(loop->RemoveReader(b.fileno()));
  EXPECT_EQ(loop->num_fds(), 0u);
}

TEST(EventLoopTest, ReaderAndWriterOnSameFd) {
  auto loop = MakeLoop();
  Watchdog(*loop);
  auto pair = SocketPair();
  ASSERT_TRUE(pair.ok());
  Socket& a = pair->first;
  Socket& b = pair->second;
  ASSERT_OK(a.SetNonBlocking());
  ASSERT_OK(b.SetNonBlocking());
  int writes = 0;
  std::string got;
  ASSERT_OK(loop->AddWriter(a.fileno(), [&] {
    ASSERT_TRUE(a.Send("x").ok());
    if (++writes == 3) loop->RemoveWriter(a.fileno());
  }));
  ASSERT_OK(loop->AddReader(a.fileno(), [] {}));  // Same fd, both events.
  ASSERT_OK(loop->AddReader(b.fileno(), [&] {
    char buf[16];
    auto n = b.Recv(buf, sizeof(buf));
    if (n.ok()) got.append(buf, *n);
    if (got.size() == 3) loop->Stop();
  }));
  ASSERT_OK(loop->RunForever());
  EXPECT_EQ(got, "xxx");
  EXPECT_TRUE(loop->HasReader(a.fileno()));
  EXPECT_FALSE(loop->HasWriter(a.fileno()));
  EXPECT_TRUE(loop->RemoveReader(a.fileno()));
  EXPECT_TRUE(loop->RemoveReader(b.fileno()));
}

TEST(EventLoopTest, CallbackRemovingAnotherReadyFdPreventsItsCall) {
  auto loop = MakeLoop();
  Watchdog(*loop);
  auto p1 = SocketPair();
  auto p2 = SocketPair();
  ASSERT_TRUE(p1.ok() && p2.ok());
  ASSERT_OK(p1->first.SendAll("1"));
  ASSERT_OK(p2->first.SendAll("2"));
  int calls = 0;
  const int f1 = p1->second.fileno(), f2 = p2->second.fileno();
  // Whichever runs first removes both, and closes the other's fd: the other
  // callback must not run in this iteration.
  auto cb = [&] {
    ++calls;
    loop->RemoveReader(f1);
    loop->RemoveReader(f2);
    loop->CallSoon([&] { loop->Stop(); });
  };
  ASSERT_OK(loop->AddReader(f1, cb));
  ASSERT_OK(loop->AddReader(f2, cb));
  ASSERT_OK(loop->RunForever());
  EXPECT_EQ(calls, 1);
}

TEST(EventLoopTest, AddReaderErrors) {
  auto loop = MakeLoop();
  EXPECT_TRUE(absl::IsInvalidArgument(loop->AddReader(-1, [] {})));
  ASSERT_OK(loop->Close());
  EXPECT_TRUE(IsShutDown(loop->AddReader(0, [] {})));
  EXPECT_TRUE(IsShutDown(loop->CallSoonThreadsafe([] {})));
  EXPECT_TRUE(IsShutDown(loop->RunForever()));
}

TEST(EventLoopTest, RunUntilFutureDoneOnAnotherThread) {
  auto loop = MakeLoop();
  Watchdog(*loop);
  Promise<int> promise;
  Future<int> f = promise.future();
  std::thread t([&] { ASSERT_OK(promise.SetValue(42)); });
  ASSERT_OK(loop->RunUntil(f));
  t.join();
  ASSERT_TRUE(f.done());
  EXPECT_EQ(*f.Result(), 42);
}

TEST(EventLoopTest, RunUntilStoppedEarlyIsBroken) {
  auto loop = MakeLoop();
  Promise<int> promise;
  loop->CallSoon([&] { loop->Stop(); });
  absl::Status s = loop->RunUntil(promise.future());
  EXPECT_TRUE(IsBroken(s)) << s;
}

TEST(EventLoopTest, RunInExecutorCompletesOnLoopThread) {
  auto loop = MakeLoop();
  Watchdog(*loop);
  ThreadPoolExecutor pool(ThreadPoolExecutor::Options{.max_workers = 2});
  std::thread::id loop_id = std::this_thread::get_id();
  std::atomic<bool> ran_on_worker{false};
  Future<int> f = loop->RunInExecutor(pool, [&] {
    ran_on_worker = std::this_thread::get_id() != loop_id;
    return 7;
  });
  std::thread::id callback_thread;
  f.AddDoneCallback([&] { callback_thread = std::this_thread::get_id(); });
  ASSERT_OK(loop->RunUntil(f));
  EXPECT_EQ(*f.Result(), 7);
  EXPECT_TRUE(ran_on_worker.load());
  EXPECT_EQ(callback_thread, loop_id);
}

TEST(EventLoopTest, RunInExecutorPassesExceptions) {
  auto loop = MakeLoop();
  Watchdog(*loop);
  ThreadPoolExecutor pool(ThreadPoolExecutor::Options{.max_workers = 1});
  Future<int> f = loop->RunInExecutor(
      pool, []() -> int { throw std::runtime_error("boom"); });
  ASSERT_OK(loop->RunUntil(f));
  auto e = f.Exception();
  ASSERT_TRUE(e.ok());
  ASSERT_NE(*e, nullptr);
  EXPECT_THROW(std::rethrow_exception(*e), std::runtime_error);
}

TEST(EventLoopTest, RunInExecutorVoidAndShutDownPool) {
  auto loop = MakeLoop();
  Watchdog(*loop);
  ThreadPoolExecutor pool(ThreadPoolExecutor::Options{.max_workers = 1});
  Future<void> ok = loop->RunInExecutor(pool, [] {});
  ASSERT_OK(loop->RunUntil(ok));
  ASSERT_OK(ok.Result());
  pool.Shutdown();
  Future<void> rejected = loop->RunInExecutor(pool, [] {});
  ASSERT_OK(loop->RunUntil(rejected));
  EXPECT_TRUE(IsShutDown(rejected.Result()));
}

TEST(EventLoopTest, RunInExecutorAfterLoopDestroyedCompletesOnWorker) {
  ThreadPoolExecutor pool(ThreadPoolExecutor::Options{.max_workers = 1});
  absl::Notification release;
  Future<int> f;
  {
    auto loop = MakeLoop();
    f = loop->RunInExecutor(pool, [&] {
      release.WaitForNotificationWithTimeout(kBound);
      return 5;
    });
  }
  release.Notify();
  auto r = f.ResultFor(kBound);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, 5);
}

TEST(EventLoopTest, SignalRoutedToCallback) {
  auto loop = MakeLoop();
  Watchdog(*loop);
  int got = 0;
  ASSERT_OK(loop->AddSignalHandler(SIGUSR1, [&] {
    ++got;
    loop->Stop();
  }));
  // Raised from another thread: the handler may run on either thread.
  std::thread t([] { kill(getpid(), SIGUSR1); });
  ASSERT_OK(loop->RunForever());
  t.join();
  EXPECT_EQ(got, 1);
  EXPECT_TRUE(loop->RemoveSignalHandler(SIGUSR1));
  EXPECT_FALSE(loop->RemoveSignalHandler(SIGUSR1));
  EXPECT_TRUE(absl::IsInvalidArgument(loop->AddSignalHandler(SIGKILL, [] {})));
}

TEST(EventLoopTest, SignalRoutedToOneLoopOnly) {
  auto a = MakeLoop();
  auto b = MakeLoop();
  ASSERT_OK(a->AddSignalHandler(SIGUSR2, [] {}));
  EXPECT_TRUE(absl::IsAlreadyExists(b->AddSignalHandler(SIGUSR2, [] {})));
  a.reset();  // Destruction un-routes it.
  ASSERT_OK(b->AddSignalHandler(SIGUSR2, [] {}));
}

TEST(EventLoopTest, CreateDestroyDoesNotLeakFds) {
  auto count_fds = [] {
    int n = 0;
    for (int fd = 0; fd < 4096; ++fd) n += fcntl(fd, F_GETFD) != -1;
    return n;
  };
  const int before = count_fds();
  for (int i = 0; i < 200; ++i) {
    auto loop = MakeLoop();
    loop->CallSoon([&] { loop->Stop(); });
    ASSERT_OK(loop->RunForever());
  }
  EXPECT_EQ(count_fds(), before);
}

TEST(EventLoopTest, CloseWhileRunningFails) {
  auto loop = MakeLoop();
  absl::Status s;
  loop->CallSoon([&] {
    s = loop->Close();
    loop->Stop();
  });
  ASSERT_OK(loop->RunForever());
  EXPECT_FALSE(s.ok());
  ASSERT_OK(loop->Close());
  EXPECT_TRUE(loop->IsClosed());
}

}  // namespace
}  // namespace spindle::io
