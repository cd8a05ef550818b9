// Copyright 2026 The spindle Authors.
//
// The OS controls of a pool worker (not a public API): CPU affinity, nice
// value and batch scheduling, checked and applied to the calling thread
// (Linux; elsewhere setting any is Unimplemented).
//
// Thread safety: thread-safe.

#ifndef SPINDLE_CONCURRENCY_INTERNAL_WORKER_OS_H_
#define SPINDLE_CONCURRENCY_INTERNAL_WORKER_OS_H_

#include <optional>
#include <vector>

#include "absl/status/status.h"

namespace spindle::internal {

// What ThreadPoolExecutor::Options says of a worker's OS settings.
struct WorkerOsControls {
  std::vector<int> cpus;          // Empty: inherited.
  std::optional<int> nice;        // Unset: inherited.
  bool batch_scheduling = false;  // SCHED_BATCH (nice unchanged).

  bool any() const {
    return !cpus.empty() || nice.has_value() || batch_scheduling;
  }
};

// Checks the cpus (each in [0, CPU_SETSIZE) and allowed to this process) and
// the nice value (-20..19) without changing anything: InvalidArgument.
absl::Status ValidateWorkerOsControls(const WorkerOsControls& controls);

// Applies the scheduling policy (SCHED_BATCH if asked), the cpus (if not
// empty) and the nice value (if set) to the calling thread. The OS's refusal
// comes back with its errno (ErrnoError).
absl::Status ApplyWorkerOsControls(const WorkerOsControls& controls);

// ValidateWorkerOsControls, then ApplyWorkerOsControls on a short-lived
// thread of its own (so that the caller's thread keeps its settings), to
// learn up front what a worker will be told. OK at once if none is set.
absl::Status ProbeWorkerOsControls(const WorkerOsControls& controls);

}  // namespace spindle::internal

#endif  // SPINDLE_CONCURRENCY_INTERNAL_WORKER_OS_H_
