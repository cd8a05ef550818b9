// Copyright 2026 The spindle Authors.
//
// The containers behind LifoQueue and PriorityQueue (private to
// spindle/concurrency/queue.h): a stack and a stable heap, each wrapped by
// BasicQueue (internal/queue_basic.h).

#ifndef SPINDLE_CONCURRENCY_INTERNAL_QUEUE_CONTAINERS_H_
#define SPINDLE_CONCURRENCY_INTERNAL_QUEUE_CONTAINERS_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace spindle {
namespace queue_internal {

// ---------------------------------------------------------------------------
// Containers for BasicQueue (LifoQueue, PriorityQueue). Each offers
// Push(T&&), Pop() -> T, size(), empty(), Clear(), Swap(). None is
// thread-safe; BasicQueue guards them with its mutex. (Queue and SimpleQueue
// use FifoQueue's own ring, below.)
// ---------------------------------------------------------------------------

// A LIFO stack.
template <typename T>
class Stack {
 public:
  explicit Stack(size_t initial_capacity) {
    items_.reserve(std::min<size_t>(initial_capacity, 1024));
  }
  size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  void Push(T&& item) { items_.push_back(std::move(item)); }
  T Pop() {
    T item(std::move(items_.back()));
    items_.pop_back();
    return item;
  }
  size_t Clear() {
    const size_t n = items_.size();
    items_.clear();
    return n;
  }
  void Swap(Stack& other) noexcept { items_.swap(other.items_); }

 private:
  std::vector<T> items_;
};

// A stable binary min-heap: the smallest item per `Compare` comes out first;
// ties come out in insertion order (each entry carries a sequence number).
template <typename T, typename Compare>
class StableHeap {
 public:
  explicit StableHeap(size_t initial_capacity) {
    entries_.reserve(std::min<size_t>(initial_capacity, 1024));
  }
  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  void Push(T&& item) {
    entries_.push_back(Entry{std::move(item), next_seq_++});
    std::push_heap(entries_.begin(), entries_.end(), ComesLater{&compare_});
  }
  T Pop() {
    std::pop_heap(entries_.begin(), entries_.end(), ComesLater{&compare_});
    T item(std::move(entries_.back().value));
    entries_.pop_back();
    return item;
  }
  size_t Clear() {
    const size_t n = entries_.size();
    entries_.clear();
    return n;
  }
  // Swaps the items only (each heap keeps its own sequence counter, which
  // only has to grow while the heap is in use).
  void Swap(StableHeap& other) noexcept { entries_.swap(other.entries_); }

 private:
  struct Entry {
    T value;
    uint64_t seq;
  };
  // std heap algorithms keep the "largest" element at the front, so
  // "larger" here means "comes out earlier".
  struct ComesLater {
    const Compare* compare;
    bool operator()(const Entry& a, const Entry& b) const {
      if ((*compare)(b.value, a.value)) return true;
      if ((*compare)(a.value, b.value)) return false;
      return b.seq < a.seq;
    }
  };

  std::vector<Entry> entries_;
  uint64_t next_seq_ = 0;
  Compare compare_;
};

}  // namespace queue_internal
}  // namespace spindle

#endif  // SPINDLE_CONCURRENCY_INTERNAL_QUEUE_CONTAINERS_H_
