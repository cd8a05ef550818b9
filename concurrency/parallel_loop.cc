// Copyright 2026 The spindle Authors.

#include "spindle/concurrency/parallel_loop.h"

#include <algorithm>
#include <cstdint>
#include <exception>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace spindle {

absl::StatusOr<std::vector<IndexBlock>> SplitRange(int64_t first, int64_t last,
                                                   int num_blocks) {
  if (first > last) {
    return absl::InvalidArgumentError(absl::StrCat(
        "parallel loop: first (", first, ") is after last (", last, ")"));
  }
  if (num_blocks <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "parallel loop: num_blocks must be >= 1, got ", num_blocks));
  }
  // Unsigned arithmetic: last - first may not fit in int64_t.
  const uint64_t count =
      static_cast<uint64_t>(last) - static_cast<uint64_t>(first);
  const uint64_t n = std::min<uint64_t>(count, num_blocks);
  std::vector<IndexBlock> blocks;
  if (n == 0) return blocks;
  blocks.reserve(n);
  const uint64_t base = count / n;
  const uint64_t extra = count % n;
  uint64_t begin = static_cast<uint64_t>(first);
  for (uint64_t i = 0; i < n; ++i) {
    const uint64_t end = begin + base + (i < extra ? 1 : 0);
    blocks.push_back(
        IndexBlock{static_cast<int64_t>(begin), static_cast<int64_t>(end)});
    begin = end;
  }
  return blocks;
}

namespace internal {

void LoopClaims::Finish(std::exception_ptr e) {
  absl::MutexLock lock(&mu_);
  if (e != nullptr && exception_ == nullptr) exception_ = std::move(e);
  ++finished_;
}

std::exception_ptr LoopClaims::AwaitAll() {
  absl::MutexLock lock(&mu_);
  auto all_finished = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return finished_ == blocks_.size();
  };
  mu_.Await(absl::Condition(&all_finished));
  return exception_;
}

}  // namespace internal
}  // namespace spindle
