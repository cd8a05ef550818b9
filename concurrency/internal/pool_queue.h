// Copyright 2026 The spindle Authors.
//
// The task list of ThreadPoolExecutor (not a public API): one intrusive FIFO
// of internal::TaskNode per priority level, highest level first. Header-only.
//
// The default level (0) is the fast path: as long as no task of another
// level is queued, Push and Pop touch only its list and test one word (the
// mask of the other non-empty levels), so a pool that never uses priorities
// pays for them with one predictable branch per call.
//
// Thread safety: thread-compatible; the pool guards it with its mutex.

#ifndef SPINDLE_CONCURRENCY_INTERNAL_POOL_QUEUE_H_
#define SPINDLE_CONCURRENCY_INTERNAL_POOL_QUEUE_H_

#include <bit>
#include <cstddef>
#include <cstdint>

#include "spindle/concurrency/internal/future_state.h"

namespace spindle::internal {

class PoolQueue {
 public:
  static constexpr int kMinPriority = -8;
  static constexpr int kMaxPriority = 7;
  static constexpr int kDefaultPriority = 0;

  static constexpr bool ValidPriority(int priority) {
    return priority >= kMinPriority && priority <= kMaxPriority;
  }

  bool empty() const { return size_ == 0; }
  size_t size() const { return size_; }

  // Appends `task` to the list of `priority` (which must be valid).
  void Push(TaskNode* task, int priority = kDefaultPriority) {
    const int level = priority - kMinPriority;
    List& list = lists_[level];
    task->next_task = nullptr;
    if (list.tail == nullptr) {
      list.head = task;
      if (level != kDefaultLevel) mask_ |= 1u << level;
    } else {
      list.tail->next_task = task;
    }
    list.tail = task;
    ++size_;
  }

  // Removes and returns the oldest task of the highest non-empty level;
  // nullptr if empty.
  TaskNode* Pop() {
    int level = kDefaultLevel;
    if (mask_ != 0) {
      const int top = std::bit_width(mask_) - 1;
      if (top > kDefaultLevel || lists_[kDefaultLevel].head == nullptr) {
        level = top;
      }
    }
    List& list = lists_[level];
    TaskNode* task = list.head;
    if (task == nullptr) return nullptr;
    list.head = task->next_task;
    if (list.head == nullptr) {
      list.tail = nullptr;
      if (level != kDefaultLevel) mask_ &= ~(1u << level);
    }
    --size_;
    return task;
  }

  // Empties the queue; returns its tasks linked through next_task, highest
  // level first, FIFO within a level.
  TaskNode* TakeAll() {
    TaskNode* head = nullptr;
    TaskNode** link = &head;
    for (int level = kLevels - 1; level >= 0; --level) {
      List& list = lists_[level];
      if (list.head == nullptr) continue;
      *link = list.head;
      link = &list.tail->next_task;
      list.head = list.tail = nullptr;
    }
    *link = nullptr;
    mask_ = 0;
    size_ = 0;
    return head;
  }

 private:
  static constexpr int kLevels = kMaxPriority - kMinPriority + 1;
  static constexpr int kDefaultLevel = kDefaultPriority - kMinPriority;
  static_assert(kLevels <= 32, "mask_ has one bit per level");

  struct List {
    TaskNode* head = nullptr;
    TaskNode* tail = nullptr;
  };

  List lists_[kLevels];
  // Bit i set: lists_[i] is not empty (never set for the default level).
  uint32_t mask_ = 0;
  size_t size_ = 0;
};

}  // namespace spindle::internal

#endif  // SPINDLE_CONCURRENCY_INTERNAL_POOL_QUEUE_H_
