// Copyright 2026 The spindle Authors.

#include "spindle/concurrency/timer.h"

namespace spindle {

Timer::~Timer() {
  Cancel();
  // The thread uses *this, so it is waited for even for a daemon timer; the
  // cancel makes that prompt unless the function is running.
  if (thread_.IsAlive()) thread_.Join();
}

void Timer::Run() {
  // Wakes at the end of the interval, or at once on Cancel().
  if (!cancelled_.WaitFor(interval_)) fn_();
  fn_ = nullptr;
  // Python sets the "finished" event after the call, so a late cancel() is a
  // no-op; here Cancel() after the call just sets an Event nobody waits for.
  cancelled_.Set();
}

}  // namespace spindle
