// Copyright 2026 The spindle Authors.
//
// The job server's protocol (examples/job_server.cc): its commands, where
// each one runs, and the argument checks, as a command table for a
// LineService. A library so that a fuzz target (tests/fuzz/
// job_commands_fuzz.cc) drives the very parser the server runs.
//
//   ECHO <text>  -> <text>             UPPER <text> -> <TEXT>   (a worker)
//   PRIMES <n>   -> primes <= n, n <= max_primes (a worker; with process
//                   workers a worker process, asynchronously)
//   SLEEP <ms>   -> SLEPT <ms>, ms <= max_sleep_ms (a loop timer)
//   STATS        -> counters, latency per command (the loop, at once)
//   FAIL <text>  -> a handler that throws: "ERR internal error"
//   CRASH        -> with process workers, kills its worker process;
//                   without, "ERR CRASH needs --process_workers"
//   QUIT         -> BYE, and the connection is closed
//
// Numbers (n, ms) are plain decimal: one or more ASCII digits and nothing
// else - no sign, no spaces, no exponent, no hex; leading zeros are allowed
// ("007" is 7) - with a value in [0, limit]. Anything else, however many
// digits, is "ERR bad argument: <n|ms> must be an integer in [0, limit]".
// The argument is the rest of the line after the one space or tab that
// follows the command (io/command_table.h), so "PRIMES  5" is refused.

#ifndef SPINDLE_EXAMPLES_JOB_COMMANDS_H_
#define SPINDLE_EXAMPLES_JOB_COMMANDS_H_

#include <atomic>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "spindle/concurrency/semaphore.h"
#include "spindle/io/command_table.h"
#include "spindle/io/line_service.h"
#include "spindle/process/process_pool.h"

namespace spindle_examples {

// The largest arguments the commands accept.
struct JobLimits {
  int64_t max_primes = 20000000;
  int64_t max_sleep_ms = 60000;
};

// An integer argument in [0, hi] (the grammar above), or the client's error
// naming it `what`. `hi` must be below 2^59 (no arithmetic overflows).
absl::StatusOr<int64_t> IntArg(absl::string_view arg, absl::string_view what,
                               int64_t hi);

// PRIMES and CRASH in worker processes: the worker thread submits the task
// and moves on; the reply goes out when the future completes. At most 4
// per worker process are in flight (a worker waits for a slot), so a flood
// backs up into the service's bounded queue, not the pool's unbounded one.
class ProcessJobs {
 public:
  explicit ProcessJobs(spindle::ProcessPoolExecutor* procs)
      : procs_(procs), slots_(4 * procs->max_workers()) {}
  spindle::io::Answer Run(std::string (*task)(absl::string_view),
                          std::string arg);
  // " process_workers=N in_process=N crashed=N", for STATS.
  std::string Stats() const;
  // A line for the exit report.
  std::string Summary() const;

 private:
  spindle::ProcessPoolExecutor* const procs_;
  spindle::BoundedSemaphore slots_;
  std::atomic<int64_t> in_flight_{0}, crashed_{0};
};

// Adds the job server's commands to `t` (which must outlive the service).
// `procs` (may be null: PRIMES on the workers, CRASH refused) must outlive
// the service too.
void AddJobCommands(spindle::io::CommandTable& t, ProcessJobs* procs,
                    JobLimits limits = {});

}  // namespace spindle_examples

#endif  // SPINDLE_EXAMPLES_JOB_COMMANDS_H_
