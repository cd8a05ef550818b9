// Copyright 2026 The spindle Authors.
//
// TaskInbox: ThreadPoolExecutor's lock-free submission stack (not a public
// API). Header-only.
//
// Submitters push tasks (internal::TaskNode, linked through next_task) with
// one compare-and-swap each; the holder of the pool's mutex takes them all
// at once, oldest first, and queues them. Closing it (at shutdown, or when
// the pool breaks) makes every later push fail, so the submitter takes the
// pool's locked path, which says why.
//
// Thread safety: Push and NonEmpty may be called from any thread at any
// time. TakeAll, Close and Length are the drainer's: one thread at a time
// (the pool calls them under its mutex), which is what makes Length safe -
// pushes only add above the head it reads, and only the drainer removes.

#ifndef SPINDLE_CONCURRENCY_INTERNAL_TASK_INBOX_H_
#define SPINDLE_CONCURRENCY_INTERNAL_TASK_INBOX_H_

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "spindle/concurrency/internal/future_state.h"

namespace spindle::internal {

class TaskInbox {
 public:
  // Any thread: pushes `task`; false once closed (the task is untouched).
  // Sequentially consistent, so that a pusher that then reads the pool's
  // parked-worker count and a worker that announces itself parked and then
  // reads NonEmpty(seq_cst) cannot both miss each other.
  bool Push(TaskNode* task) {
    TaskNode* head = head_.load(std::memory_order_relaxed);
    do {
      if (head == Closed()) return false;
      task->next_task = head;
    } while (!head_.compare_exchange_weak(head, task, std::memory_order_seq_cst,
                                          std::memory_order_relaxed));
    return true;
  }

  // Any thread: true when a task may be waiting, or the inbox is closed
  // (either way the caller should take the mutex and look). A hint with the
  // default order; seq_cst for the parking handshake (see Push).
  bool NonEmpty(std::memory_order order = std::memory_order_relaxed) const {
    return head_.load(order) != nullptr;
  }

  // Drainer: every task pushed so far, oldest first (linked through
  // next_task); nullptr when there is none or the inbox is closed.
  TaskNode* TakeAll() {
    TaskNode* head = head_.load(std::memory_order_relaxed);
    // Only the drainer closes, so a closed inbox stays closed meanwhile.
    if (head == nullptr || head == Closed()) return nullptr;
    return OldestFirst(head_.exchange(nullptr, std::memory_order_acquire));
  }

  // Drainer: closes the inbox for good; returns the tasks still in it,
  // oldest first (nullptr if none, or if it was closed already).
  TaskNode* Close() {
    TaskNode* head = head_.exchange(Closed(), std::memory_order_acquire);
    return head == Closed() ? nullptr : OldestFirst(head);
  }

  // Drainer: the tasks waiting now (0 once closed). Walks the stack.
  size_t Length() const {
    TaskNode* t = head_.load(std::memory_order_acquire);
    if (t == Closed()) return 0;
    size_t n = 0;
    for (; t != nullptr; t = t->next_task) ++n;
    return n;
  }

 private:
  // The head of a closed inbox (never a real node's address).
  static TaskNode* Closed() {
    return reinterpret_cast<TaskNode*>(uintptr_t{1});
  }
  // Reverses a newest-first list.
  static TaskNode* OldestFirst(TaskNode* newest) {
    TaskNode* oldest = nullptr;
    while (newest != nullptr) {
      TaskNode* next = newest->next_task;
      newest->next_task = oldest;
      oldest = newest;
      newest = next;
    }
    return oldest;
  }

  std::atomic<TaskNode*> head_{nullptr};
};

}  // namespace spindle::internal

#endif  // SPINDLE_CONCURRENCY_INTERNAL_TASK_INBOX_H_
