// Copyright 2026 The spindle Authors.
//
// Signal routing with several loops running at once.

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <memory>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "spindle/io/event_loop.h"
#include "tests/test_util.h"

namespace spindle::io {
namespace {

constexpr absl::Duration kBound = absl::Seconds(20);

TEST(EventLoopSignalTest, BusyLoopDoesNotSwallowAnotherLoopsSignal) {
  // Loop A routes SIGUSR1; loop B does not and iterates as fast as it can.
  // Every signal must reach A (B used to consume a shared "some signal is
  // pending" flag, so A never looked).
  auto a = *EventLoop::Create();
  auto b = *EventLoop::Create();
  absl::Mutex mu;
  int delivered = 0;  // Guarded by mu.
  ASSERT_OK(a->AddSignalHandler(SIGUSR1, [&] {
    absl::MutexLock l(&mu);
    ++delivered;
  }));
  std::atomic<bool> stop_b{false};
  std::function<void()> spin = [&] {
    if (!stop_b.load()) b->CallSoon(spin);
  };
  b->CallSoon(spin);
  std::thread ta([&] { EXPECT_OK(a->RunForever()); });
  std::thread tb([&] { EXPECT_OK(b->RunForever()); });
  constexpr int kSignals = 200;
  int lost_at = 0;
  for (int i = 1; i <= kSignals && lost_at == 0; ++i) {
    ASSERT_EQ(kill(getpid(), SIGUSR1), 0);
    // Signals of one kind coalesce until dispatched: wait for this one.
    absl::MutexLock l(&mu);
    if (!mu.AwaitWithTimeout(absl::Condition(
                                 +[](int* n) { return *n > 0; }, &delivered),
                             kBound)) {
      lost_at = i;
    }
    delivered = 0;
  }
  EXPECT_EQ(lost_at, 0) << "signal " << lost_at << " never reached loop A";
  stop_b = true;
  a->Stop();
  b->Stop();
  ta.join();
  tb.join();
  EXPECT_TRUE(a->RemoveSignalHandler(SIGUSR1));
}

}  // namespace
}  // namespace spindle::io
