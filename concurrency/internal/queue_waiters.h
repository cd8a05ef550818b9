// Copyright 2026 The spindle Authors.
//
// Waiter nodes, the FIFO list that holds them and the wait helpers shared by
// the queue engines (private to spindle/concurrency/queue.h).

#ifndef SPINDLE_CONCURRENCY_INTERNAL_QUEUE_WAITERS_H_
#define SPINDLE_CONCURRENCY_INTERNAL_QUEUE_WAITERS_H_

#include <cstddef>
#include <optional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "spindle/concurrency/internal/perturb.h"
#include "spindle/concurrency/internal/spin.h"

namespace spindle {
namespace queue_internal {

// ---------------------------------------------------------------------------
// Waiters: one node per blocked thread, on that thread's stack, linked into a
// FIFO list guarded by the queue's mutex. Each node has its own CondVar, so
// serving a node wakes exactly that thread.
// ---------------------------------------------------------------------------

template <typename Node>
class WaiterList {
 public:
  bool empty() const { return head_ == nullptr; }
  size_t size() const { return size_; }
  Node* front() const { return head_; }
  void PushBack(Node* n) {
    ++size_;
    n->next = nullptr;
    n->prev = tail_;
    if (tail_ != nullptr) {
      tail_->next = n;
    } else {
      head_ = n;
    }
    tail_ = n;
  }
  void Remove(Node* n) {
    --size_;
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
  }
  Node* PopFront() {
    Node* n = head_;
    Remove(n);
    return n;
  }

 private:
  Node* head_ = nullptr;
  Node* tail_ = nullptr;
  size_t size_ = 0;
};

template <typename T>
struct GetWaiter {
  GetWaiter* prev = nullptr;
  GetWaiter* next = nullptr;
  absl::CondVar cv;
  std::vector<T>* batch = nullptr;  // GetMany: append here, up to max_items.
  size_t max_items = 1;
  size_t received = 0;
  std::optional<T> item;  // Get: the item handed over.
  bool done = false;      // Served (received > 0) or failed (status).
  absl::Status status;
};

template <typename T>
struct PutWaiter {
  PutWaiter* prev = nullptr;
  PutWaiter* next = nullptr;
  absl::CondVar cv;
  T* item = nullptr;  // The caller's item; moved from only when admitted.
  bool done = false;  // Admitted (status ok) or failed (status).
  absl::Status status;
};

// True when `deadline` has passed (InfinitePast: always; InfiniteFuture:
// never, without reading the clock).
inline bool Expired(absl::Time deadline) {
  if (deadline == absl::InfiniteFuture()) return false;
  return deadline == absl::InfinitePast() || deadline <= absl::Now();
}

// The deadline for a `…For(timeout)` call; InfinitePast means "do not block".
inline absl::Time DeadlineAfter(absl::Duration timeout) {
  if (timeout == absl::InfiniteDuration()) return absl::InfiniteFuture();
  if (timeout <= absl::ZeroDuration()) return absl::InfinitePast();
  return absl::Now() + timeout;
}

// Waits on `w->cv` (with `mu` held) until `w->done` or the deadline; returns
// false on timeout, with `w` removed from `list`.
template <typename Node>
bool AwaitServed(Node* w, WaiterList<Node>* list, absl::Mutex* mu,
                 absl::Time deadline) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
  while (!w->done) {
    SPINDLE_PERTURB_POINT();
    if (deadline == absl::InfiniteFuture()) {
      w->cv.Wait(mu);
    } else if (w->cv.WaitWithDeadline(mu, deadline) && !w->done) {
      list->Remove(w);
      return false;
    }
  }
  return true;
}

// Polls `ready` (unlocked) briefly before a thread blocks: a few pauses (see
// spin.h; none on one CPU), then up to 32 yields of the CPU. Tuned on a
// 2-core machine shared with other work: a long pause-spin burns the very
// core the other side of the queue needs when both share one, while a yield
// lets it run, and a yield that finds the item avoids a futex sleep and the
// wake-up the other side would have to pay for.
template <typename Ready>
void Spin(Ready ready) {
  constexpr int kPauses = 50;
  constexpr int kYields = 32;
  spindle::internal::SpinUntil(ready, spindle::internal::SpinBudget(kPauses));
  for (int i = 0; i < kYields && !ready(); ++i) {
    SPINDLE_PERTURB_POINT();
    std::this_thread::yield();
  }
}

}  // namespace queue_internal
}  // namespace spindle

#endif  // SPINDLE_CONCURRENCY_INTERNAL_QUEUE_WAITERS_H_
