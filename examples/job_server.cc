// Copyright 2026 The spindle Authors.
//
// job_server: spindle's main program, a line-protocol job service on
// spindle::io::LineService (io/line_service.h), which owns the event loops,
// the fair bounded hand-off to the workers, the limits and the shutdown.
// The protocol - its commands, where each one runs, STATS - is
// examples/job_commands.{h,cc}; this file is its flags and main():
//   ECHO <text>  -> <text>             UPPER <text> -> <TEXT>   (a worker)
//   PRIMES <n>   -> primes <= n, n <= 20000000 (a worker; with
//                   --process_workers a worker process, asynchronously)
//   SLEEP <ms>   -> SLEPT <ms>, ms <= 60000 (a loop timer: holds no worker)
//   STATS        -> counters, latency per command (the loop, at once)
//   FAIL <text>  -> a handler that throws: "ERR internal error"
//   CRASH        -> with --process_workers, kills its worker process
//   QUIT         -> BYE, and the connection is closed
// Case-insensitive; spaces and tabs before a command, one space or tab
// after it.
// Numbers are plain decimal digits (leading zeros allowed; no sign, space,
// exponent or hex): "PRIMES 007" is 7, "PRIMES +7" and "PRIMES 7 " are
// "ERR bad argument: ...".
// Run: ./bazelw run //examples:job_server -- --port=7070; nc 127.0.0.1 7070.
// Ctrl-C/SIGTERM: graceful shutdown (up to --shutdown_grace); twice: now.

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "spindle/examples/job_commands.h"
#include "spindle/io/command_table.h"
#include "spindle/io/line_service.h"
#include "spindle/process/process_pool.h"

ABSL_FLAG(int, port, 7070, "TCP port; 0 picks a free one (printed)");
ABSL_FLAG(std::string, bind, "127.0.0.1",
          "comma-separated listen addresses or host names (e.g. ::1)");
ABSL_FLAG(int, workers, 4, "worker threads");
ABSL_FLAG(int, queue_size, 1024, "requests accepted and not yet started");
ABSL_FLAG(int, max_line, 4096, "longest request line in bytes");
ABSL_FLAG(absl::Duration, idle_timeout, absl::Seconds(300),
          "close connections idle this long (0 = never)");
ABSL_FLAG(int, loops, 1, "event loops (threads) accepting on the port");
ABSL_FLAG(int, max_connections, 10000, "open connections per loop");
ABSL_FLAG(int64_t, memory_budget, int64_t{64} << 20,
          "bytes of client input and unsent replies buffered, per loop");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(10),
          "how long a graceful shutdown lets accepted jobs finish");
ABSL_FLAG(int, process_workers, 0,
          "worker processes for PRIMES (0 = off); also enables CRASH");

using spindle::io::LineService;

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "usage: job_server [--port=N] [--bind=ADDRS] [--workers=N] [...]\n"
      "A line-protocol job service on spindle::io::LineService.");
  absl::ParseCommandLine(argc, argv);
  LineService::Options o;
  o.server.hosts =
      absl::StrSplit(absl::GetFlag(FLAGS_bind), ',', absl::SkipWhitespace());
  o.server.port = absl::GetFlag(FLAGS_port);
  o.server.max_line = std::max(1, absl::GetFlag(FLAGS_max_line));
  o.server.idle_timeout = absl::GetFlag(FLAGS_idle_timeout);
  o.server.max_connections = std::max(1, absl::GetFlag(FLAGS_max_connections));
  o.server.memory_budget =
      std::max<int64_t>(1, absl::GetFlag(FLAGS_memory_budget));
  o.loops = absl::GetFlag(FLAGS_loops);
  o.workers = absl::GetFlag(FLAGS_workers);
  o.queue_size = std::max(0, absl::GetFlag(FLAGS_queue_size));
  o.shutdown_grace = absl::GetFlag(FLAGS_shutdown_grace);
  o.name = "job_server";
  const int process_workers = absl::GetFlag(FLAGS_process_workers);

  // The process pool first, while this process has one thread: its fork
  // server is a copy of the process as it is now (process_pool.h).
  std::unique_ptr<spindle::ProcessPoolExecutor> procs;
  if (process_workers != 0) {
    auto made =
        spindle::ProcessPoolExecutor::Create({.max_workers = process_workers});
    if (!made.ok()) {
      std::fprintf(stderr, "job_server: --process_workers: %s\n",
                   made.status().ToString().c_str());
      return 1;
    }
    procs = *std::move(made);
  }
  std::unique_ptr<spindle_examples::ProcessJobs> jobs;
  if (procs != nullptr) {
    jobs = std::make_unique<spindle_examples::ProcessJobs>(procs.get());
  }
  spindle::io::CommandTable table;
  spindle_examples::AddJobCommands(table, jobs.get());
  o.command_stats = table.stats();
  LineService service(o, table.WorkerHandler(), table.LoopHandler());
  const absl::Time start = absl::Now();
  const absl::Status s = service.Run([&] {
    std::printf(
        "job_server: %d workers, %d worker processes; Ctrl-C stops\n"
        "listening on %s:%d\n",
        o.workers, process_workers,
        o.server.hosts.empty() ? "" : o.server.hosts[0].c_str(),
        service.port());
    std::fflush(stdout);
  });
  if (!s.ok()) {
    std::fprintf(stderr, "job_server: %s\n", s.ToString().c_str());
    return 1;
  }
  // PRIMES still running in worker processes end; the rest were cancelled.
  if (procs != nullptr) procs->Shutdown(/*wait=*/true);
  const LineService::Stats st = service.stats();
  std::printf(
      "job_server: up %s; %lld connections (%lld refused, %lld idle-closed), "
      "%lld requests (%lld oversize), %lld jobs done, %lld failed, %lld "
      "dropped at shutdown\n%s%s",
      absl::FormatDuration(
          absl::Trunc(absl::Now() - start, absl::Milliseconds(1)))
          .c_str(),
      (long long)st.accepted, (long long)st.refused, (long long)st.idle_closed,
      (long long)st.requests, (long long)st.oversize,
      (long long)table.stats()->done(), (long long)table.stats()->failed(),
      (long long)st.dropped, jobs ? jobs->Summary().c_str() : "",
      table.stats()->Lines().c_str());
  return 0;
}
