// Copyright 2026 The spindle Authors.
//
// The textbook baseline the queue benchmarks compare against: a std::deque
// guarded by one std::mutex, with two std::condition_variables (not empty,
// not full) and notify_one after each operation. Bounded when capacity > 0.
// Benchmark-only code.

#ifndef SPINDLE_BENCH_STD_BLOCKING_QUEUE_H_
#define SPINDLE_BENCH_STD_BLOCKING_QUEUE_H_

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <utility>

namespace spindle_bench {

template <typename T>
class StdBlockingQueue {
 public:
  explicit StdBlockingQueue(size_t capacity = 0) : capacity_(capacity) {}

  void Put(T item) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      not_full_.wait(
          lock, [this] { return capacity_ == 0 || items_.size() < capacity_; });
      items_.push_back(std::move(item));
    }
    not_empty_.notify_one();
  }

  T Get() {
    T item;
    {
      std::unique_lock<std::mutex> lock(mu_);
      not_empty_.wait(lock, [this] { return !items_.empty(); });
      item = std::move(items_.front());
      items_.pop_front();
    }
    not_full_.notify_one();
    return item;
  }

 private:
  const size_t capacity_;
  std::mutex mu_;
  std::condition_variable not_empty_;
  std::condition_variable not_full_;
  std::deque<T> items_;
};

}  // namespace spindle_bench

#endif  // SPINDLE_BENCH_STD_BLOCKING_QUEUE_H_
