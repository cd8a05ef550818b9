// Copyright 2026 The spindle Authors.
//
// Idle tracking for TcpServer: connections in order of last activity (an
// intrusive list, least recently active first) and one loop timer for the
// oldest, so that tracking costs O(1) per activity and one timer in all.
//
// Private to //io.

#ifndef SPINDLE_IO_INTERNAL_IDLE_TRACKER_H_
#define SPINDLE_IO_INTERNAL_IDLE_TRACKER_H_

#include "absl/functional/any_invocable.h"
#include "absl/time/time.h"
#include "spindle/io/event_loop.h"

namespace spindle::io::internal {

// The tracker's part of a connection (which derives from it).
struct IdleNode {
  IdleNode* prev = nullptr;
  IdleNode* next = nullptr;
  bool in_idle_list = false;
  MonotonicTime last_active;  // On the loop's clock (IterationTime).
};

// Not thread-safe: loop thread only.
class IdleTracker {
 public:
  // `on_idle` runs (from the timer) for each node inactive for `timeout`;
  // it must Touch the node (not idle after all) or Remove it. A zero or
  // infinite timeout disables tracking (Touch only records the time).
  IdleTracker(EventLoop* loop, absl::Duration timeout,
              absl::AnyInvocable<void(IdleNode*)> on_idle);
  IdleTracker(const IdleTracker&) = delete;
  IdleTracker& operator=(const IdleTracker&) = delete;
  ~IdleTracker() { timer_.Cancel(); }

  // Records activity now: `n` moves to the most recent end (joining the
  // list if it was not on it), and the timer is armed if needed.
  void Touch(IdleNode* n);
  // Takes `n` off the list (no-op if it is not on it).
  void Remove(IdleNode* n);
  // Stops the timer for good.
  void Stop() {
    stopped_ = true;
    timer_.Cancel();
  }

 private:
  bool enabled() const {
    return timeout_ > absl::ZeroDuration() &&
           timeout_ != absl::InfiniteDuration();
  }
  void Arm();
  void OnTimer();

  EventLoop* const loop_;
  const absl::Duration timeout_;
  absl::AnyInvocable<void(IdleNode*)> on_idle_;
  IdleNode* head_ = nullptr;
  IdleNode* tail_ = nullptr;
  Handle timer_;
  bool armed_ = false;
  bool stopped_ = false;
};

}  // namespace spindle::io::internal

#endif  // SPINDLE_IO_INTERNAL_IDLE_TRACKER_H_
