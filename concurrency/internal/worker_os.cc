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

absl::Status ValidateWorkerOsControls(const WorkerOsControls& controls) {
  const std::vector<int>& cpus = controls.cpus;
  const std::optional<int>& nice = controls.nice;
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
  if (!controls.any()) return absl::OkStatus();
  return absl::UnimplementedError(
      "cpu_affinity, nice and batch_scheduling are supported on Linux only");
#endif
}

absl::Status ApplyWorkerOsControls(const WorkerOsControls& controls) {
  const std::vector<int>& cpus = controls.cpus;
  const std::optional<int>& nice = controls.nice;
#ifdef __linux__
  if (controls.batch_scheduling) {
    // Allowed without privileges; keeps the thread's nice value.
    sched_param param{};
    param.sched_priority = 0;
    int rc = pthread_setschedparam(pthread_self(), SCHED_BATCH, &param);
    if (rc != 0) return ErrnoError(rc, "pthread_setschedparam(SCHED_BATCH)");
  }
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
  return ValidateWorkerOsControls(controls);
#endif
}

absl::Status ProbeWorkerOsControls(const WorkerOsControls& controls) {
  if (!controls.any()) return absl::OkStatus();
  absl::Status s = ValidateWorkerOsControls(controls);
  if (!s.ok()) return s;
  std::thread probe([&] { s = ApplyWorkerOsControls(controls); });
  probe.join();
  return s;
}

}  // namespace spindle::internal
