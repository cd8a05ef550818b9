// Copyright 2026 The spindle Authors.
//
// ThreadPoolExecutor::WaitAll's bookkeeping (not a public API): the pool's
// unfinished tasks counted by the generation they were submitted in. Each
// WaitAll call closes the current generation (a cut: everything submitted
// before the call) and waits until it and every older one have no
// unfinished task left. Tasks of several priorities finish out of order, so
// a single finished-counter could not tell which side of a cut a finished
// task was on; the generation stamped on each task (TaskNode's
// wait_generation) can. Header-only.
//
// Cost: a submission increments one counter; a finishing task of the open
// generation decrements it. Only tasks submitted before a WaitAll that is
// still waiting take the (short) search through the closed generations.
//
// Thread safety: thread-compatible; the pool guards it with its mutex.

#ifndef SPINDLE_CONCURRENCY_INTERNAL_POOL_GENERATIONS_H_
#define SPINDLE_CONCURRENCY_INTERNAL_POOL_GENERATIONS_H_

#include <cstddef>
#include <cstdint>
#include <vector>

namespace spindle::internal {

class PoolGenerations {
 public:
  // A task is submitted: returns the generation to stamp on it.
  uint64_t Submitted() {
    ++open_count_;
    return open_;
  }

  // The task stamped `generation` finished (ran, was skipped because its
  // future was cancelled, or was abandoned by Shutdown/a broken pool).
  void Finished(uint64_t generation) {
    if (generation == open_) {
      --open_count_;
      return;
    }
    for (Closed& c : closed_) {
      if (c.generation == generation) {
        --c.unfinished;
        break;
      }
    }
    size_t done = 0;
    while (done < closed_.size() && closed_[done].unfinished == 0) ++done;
    closed_.erase(closed_.begin(), closed_.begin() + done);
  }

  // Closes the open generation: returns the generation whose completion
  // (with every older one) means every task submitted so far has finished.
  uint64_t Cut() {
    if (open_count_ == 0) {
      // Nothing new to wait for: the newest closed generation (or the open
      // one, which Done() already reports as done) is the cut.
      return closed_.empty() ? open_ : closed_.back().generation;
    }
    closed_.push_back({open_, open_count_});
    open_count_ = 0;
    return open_++;
  }

  // True once every task of `generation` (a value Cut() returned) and of
  // every older generation has finished.
  bool Done(uint64_t generation) const {
    return closed_.empty() || closed_.front().generation > generation;
  }

  // Tasks submitted and not finished, all generations.
  size_t unfinished() const {
    size_t n = open_count_;
    for (const Closed& c : closed_) n += c.unfinished;
    return n;
  }

 private:
  struct Closed {
    uint64_t generation;
    size_t unfinished;
  };

  // First: ThreadPoolExecutor keeps it on its mutex's cache line (it changes
  // with every task; the rest only when WaitAll cuts a generation).
  size_t open_count_ = 0;
  uint64_t open_ = 0;
  // Oldest first; the front one always has unfinished tasks. Few: one per
  // WaitAll call still waiting.
  std::vector<Closed> closed_;
};

}  // namespace spindle::internal

#endif  // SPINDLE_CONCURRENCY_INTERNAL_POOL_GENERATIONS_H_
