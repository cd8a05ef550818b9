// Copyright 2026 The spindle Authors.
//
// The OS controls of a pool worker (not a public API): CPU affinity and nice
// value, checked and applied to the calling thread (Linux; elsewhere setting
// either is Unimplemented).
//
// Thread safety: thread-safe.

#ifndef SPINDLE_CONCURRENCY_INTERNAL_WORKER_OS_H_
#define SPINDLE_CONCURRENCY_INTERNAL_WORKER_OS_H_

#include <optional>
#include <vector>

#include "absl/status/status.h"

namespace spindle::internal {

// Checks `cpus` (each in [0, CPU_SETSIZE) and allowed to this process) and
// `nice` (-20..19) without changing anything: InvalidArgument.
absl::Status ValidateWorkerOsControls(const std::vector<int>& cpus,
                                      std::optional<int> nice);

// Applies `cpus` (if not empty) and `nice` (if set) to the calling thread.
// The OS's refusal comes back with its errno (ErrnoError).
absl::Status ApplyWorkerOsControls(const std::vector<int>& cpus,
                                   std::optional<int> nice);

// ValidateWorkerOsControls, then ApplyWorkerOsControls on a short-lived
// thread of its own (so that the caller's thread keeps its settings), to
// learn up front what a worker will be told. OK at once if neither is set.
absl::Status ProbeWorkerOsControls(const std::vector<int>& cpus,
                                   std::optional<int> nice);

}  // namespace spindle::internal

#endif  // SPINDLE_CONCURRENCY_INTERNAL_WORKER_OS_H_
