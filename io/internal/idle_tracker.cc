// Copyright 2026 The spindle Authors.

#include "spindle/io/internal/idle_tracker.h"

#include <utility>

#include "absl/base/internal/raw_logging.h"

namespace spindle::io::internal {

IdleTracker::IdleTracker(EventLoop* loop, absl::Duration timeout,
                         absl::AnyInvocable<void(IdleNode*)> on_idle)
    : loop_(loop), timeout_(timeout), on_idle_(std::move(on_idle)) {}

void IdleTracker::Remove(IdleNode* n) {
  if (!n->in_idle_list) return;
  if (n->prev != nullptr) {
    n->prev->next = n->next;
  } else {
    head_ = n->next;
  }
  if (n->next != nullptr) {
    n->next->prev = n->prev;
  } else {
    tail_ = n->prev;
  }
  n->prev = n->next = nullptr;
  n->in_idle_list = false;
}

void IdleTracker::Touch(IdleNode* n) {
  n->last_active = loop_->IterationTime();
  if (n->in_idle_list) {
    if (tail_ == n) return;
    Remove(n);
  }
  n->prev = tail_;
  n->next = nullptr;
  if (tail_ != nullptr) {
    tail_->next = n;
  } else {
    head_ = n;
  }
  tail_ = n;
  n->in_idle_list = true;
  Arm();
}

void IdleTracker::Arm() {
  if (!enabled() || stopped_ || armed_ || head_ == nullptr) return;
  armed_ = true;
  timer_ = loop_->CallAt(head_->last_active + timeout_, [this] {
    armed_ = false;
    OnTimer();
  });
}

void IdleTracker::OnTimer() {
  const MonotonicTime now = loop_->Time();
  while (head_ != nullptr && head_->last_active + timeout_ <= now) {
    IdleNode* n = head_;
    on_idle_(n);
    ABSL_RAW_CHECK(head_ != n || n->last_active + timeout_ > now,
                   "IdleTracker: on_idle neither touched nor removed");
  }
  Arm();
}

}  // namespace spindle::io::internal
