// Copyright 2026 The spindle Authors.
//
// The task list of ThreadPoolExecutor (not a public API): one intrusive FIFO
// of internal::TaskNode per priority level, highest level first. Header-only.
//
// The default level (0) is the fast path: as long as no task of another
// level has ever been queued, Push and Pop touch only its list and test one
// pointer (the other levels live behind it, allocated on first use), so a
// pool that never uses priorities pays for them with one predictable branch
// per call. The whole object is four words: the pool keeps it on the cache
// line of its mutex (see ThreadPoolExecutor's members).
//
// Thread safety: thread-compatible; the pool guards it with its mutex.

#ifndef SPINDLE_CONCURRENCY_INTERNAL_POOL_QUEUE_H_
#define SPINDLE_CONCURRENCY_INTERNAL_POOL_QUEUE_H_

#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>

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

  // Appends `task` to the list of `priority` (which must be valid). The
  // first task of a non-default priority allocates the other levels' lists.
  void Push(TaskNode* task, int priority = kDefaultPriority) {
    task->next_task = nullptr;
    ++size_;
    if (priority == kDefaultPriority) {
      Append(default_, task);
      return;
    }
    const int level = priority - kMinPriority;
    if (levels_ == nullptr) levels_ = std::make_unique<Levels>();
    if (levels_->lists[level].head == nullptr) levels_->mask |= 1u << level;
    Append(levels_->lists[level], task);
  }

  // True if every queued task (if any) has the default priority.
  bool only_default() const { return levels_ == nullptr || levels_->mask == 0; }

  // Removes and returns the oldest task of the highest non-empty level;
  // nullptr if empty.
  TaskNode* Pop() {
    if (only_default()) return size_ == 0 ? nullptr : PopFrom(default_);
    uint32_t& mask = levels_->mask;
    const int top = std::bit_width(mask) - 1;
    if (top < kDefaultLevel && default_.head != nullptr) {
      return PopFrom(default_);
    }
    List& list = levels_->lists[top];
    TaskNode* task = PopFrom(list);
    if (list.head == nullptr) mask &= ~(1u << top);
    return task;
  }

  // Empties the queue; returns its tasks linked through next_task, highest
  // level first, FIFO within a level.
  TaskNode* TakeAll() {
    TaskNode* head = nullptr;
    TaskNode** link = &head;
    auto take = [&link](List& list) {
      if (list.head == nullptr) return;
      *link = list.head;
      link = &list.tail->next_task;
      list.head = list.tail = nullptr;
    };
    for (int level = kLevels - 1; level >= 0; --level) {
      if (level == kDefaultLevel) {
        take(default_);
      } else if (levels_ != nullptr && (levels_->mask & (1u << level))) {
        take(levels_->lists[level]);
      }
    }
    *link = nullptr;
    if (levels_ != nullptr) levels_->mask = 0;
    size_ = 0;
    return head;
  }

 private:
  static constexpr int kLevels = kMaxPriority - kMinPriority + 1;
  static constexpr int kDefaultLevel = kDefaultPriority - kMinPriority;
  static_assert(kLevels <= 32, "Levels::mask has one bit per level");

  struct List {
    TaskNode* head = nullptr;
    TaskNode* tail = nullptr;
  };

  static void Append(List& list, TaskNode* task) {
    if (list.tail == nullptr) {
      list.head = task;
    } else {
      list.tail->next_task = task;
    }
    list.tail = task;
  }
  // `list` must not be empty.
  TaskNode* PopFrom(List& list) {
    TaskNode* task = list.head;
    list.head = task->next_task;
    if (list.head == nullptr) list.tail = nullptr;
    --size_;
    return task;
  }

  // The levels other than the default one (lists[kDefaultLevel] is unused).
  struct Levels {
    // Bit i set: lists[i] is not empty.
    uint32_t mask = 0;
    List lists[kLevels];
  };

  // The default level's list and the count (the hot part); the other levels
  // only once one is used.
  List default_;
  size_t size_ = 0;
  std::unique_ptr<Levels> levels_;
};

}  // namespace spindle::internal

#endif  // SPINDLE_CONCURRENCY_INTERNAL_POOL_QUEUE_H_
