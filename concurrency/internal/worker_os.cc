// Copyright 2026 The spindle Authors.

#include "spindle/concurrency/internal/worker_os.h"

#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <optional>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "spindle/concurrency/status.h"

namespace spindle::internal {
namespace {

#ifdef __linux__
absl::Status CpuRangeError(int cpu) {
  return absl::InvalidArgumentError(absl::StrCat(
      "cpu_affinity: CPU ", cpu, " is outside [0, ", CPU_SETSIZE, ")"));
}
#endif

}  // namespace

absl::Status ValidateWorkerOsControls(const std::vector<int>& cpus,
                                      std::optional<int> nice) {
#ifdef __linux__
  if (!cpus.empty()) {
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0) {
      return ErrnoError(errno, "sched_getaffinity");
    }
    for (int cpu : cpus) {
      if (cpu < 0 || cpu >= CPU_SETSIZE) return CpuRangeError(cpu);
      if (!CPU_ISSET(cpu, &allowed)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "cpu_affinity: CPU ", cpu, " is not one this process may run on"));
      }
    }
  }
  if (nice.has_value() && (*nice < -20 || *nice > 19)) {
    return absl::InvalidArgumentError(
        absl::StrCat("nice ", *nice, " is outside [-20, 19]"));
  }
  return absl::OkStatus();
#else
  if (cpus.empty() && !nice.has_value()) return absl::OkStatus();
  return absl::UnimplementedError(
      "cpu_affinity and nice are supported on Linux only");
#endif
}

absl::Status ApplyWorkerOsControls(const std::vector<int>& cpus,
                                   std::optional<int> nice) {
#ifdef __linux__
  if (!cpus.empty()) {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int cpu : cpus) {
      if (cpu < 0 || cpu >= CPU_SETSIZE) return CpuRangeError(cpu);
      CPU_SET(cpu, &set);
    }
    // Returns the error number instead of setting errno.
    int rc = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
    if (rc != 0) return ErrnoError(rc, "pthread_setaffinity_np");
  }
  if (nice.has_value()) {
    // On Linux a nice value belongs to a thread: set it on our thread id.
    const auto tid = static_cast<id_t>(syscall(SYS_gettid));
    if (setpriority(PRIO_PROCESS, tid, *nice) != 0) {
      return ErrnoError(errno, absl::StrCat("setpriority(nice=", *nice, ")"));
    }
  }
  return absl::OkStatus();
#else
  return ValidateWorkerOsControls(cpus, nice);
#endif
}

absl::Status ProbeWorkerOsControls(const std::vector<int>& cpus,
                                   std::optional<int> nice) {
  if (cpus.empty() && !nice.has_value()) return absl::OkStatus();
  absl::Status s = ValidateWorkerOsControls(cpus, nice);
  if (!s.ok()) return s;
  std::thread probe([&] { s = ApplyWorkerOsControls(cpus, nice); });
  probe.join();
  return s;
}

}  // namespace spindle::internal
