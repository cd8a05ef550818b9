// Copyright 2026 The spindle Authors.
//
// job_server: spindle's main program, a line-protocol job service on
// spindle::io::LineService (io/line_service.h), which owns the event loops,
// the fair bounded hand-off to the workers, the limits and the shutdown.
// This file is the protocol - its commands, where each one runs - and STATS:
//   ECHO <text>  -> <text>             UPPER <text> -> <TEXT>   (a worker)
//   PRIMES <n>   -> primes <= n, n <= 20000000 (a worker; with
//                   --process_workers a worker process, asynchronously)
//   SLEEP <ms>   -> SLEPT <ms>, ms <= 60000 (a loop timer: holds no worker)
//   STATS        -> counters, latency per command (the loop, at once)
//   FAIL <text>  -> a handler that throws: "ERR internal error"
//   CRASH        -> with --process_workers, kills its worker process
//   QUIT         -> BYE, and the connection is closed
// Case-insensitive; spaces before a command, a space or tab after it.
// Run: ./bazelw run //examples:job_server -- --port=7070; nc 127.0.0.1 7070.
// Ctrl-C/SIGTERM: graceful shutdown (up to --shutdown_grace); twice: now.

#include <signal.h>
#include <sys/resource.h>

#include <atomic>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "spindle/concurrency/semaphore.h"
#include "spindle/concurrency/status.h"
#include "spindle/examples/primes.h"
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

namespace {

using spindle::io::Answer;
using spindle::io::CommandTable;
using spindle::io::LineService;
using spindle::io::Request;

// An integer argument in [0, hi], or the client's error.
absl::StatusOr<int64_t> IntArg(absl::string_view arg, absl::string_view what,
                               int64_t hi) {
  int64_t v;
  if (absl::SimpleAtoi(arg, &v) && v >= 0 && v <= hi) return v;
  return absl::InvalidArgumentError(absl::StrCat(
      "bad argument: ", what, " must be an integer in [0, ", hi, "]"));
}

// Process-pool tasks: bytes in, bytes out, run in a worker process.
std::string PrimesTask(absl::string_view n) {  // `n` was checked.
  return absl::StrCat(
      spindle_examples::CountPrimes(std::stoll(std::string(n))));
}
std::string CrashTask(absl::string_view) {
  const struct rlimit no_core = {0, 0};
  setrlimit(RLIMIT_CORE, &no_core);  // A demo crash: no core file.
  raise(SIGSEGV);
  return "still alive?";
}

// PRIMES and CRASH in worker processes: the worker thread submits the task
// and moves on; the reply goes out when the future completes. At most 4
// per worker process are in flight (a worker waits for a slot), so a flood
// backs up into the service's bounded queue, not the pool's unbounded one.
class ProcessJobs {
 public:
  explicit ProcessJobs(spindle::ProcessPoolExecutor* procs)
      : procs_(procs), slots_(4 * procs->max_workers()) {}
  Answer Run(std::string (*task)(absl::string_view), absl::string_view arg) {
    slots_.Acquire();
    in_flight_.fetch_add(1);
    spindle::Future<std::string> f = procs_->Submit(task, std::string(arg));
    f.AddDoneCallback([this](const spindle::Future<std::string>& f) {
      if (spindle::IsBroken(f.Exception().status())) crashed_.fetch_add(1);
      in_flight_.fetch_sub(1);
      slots_.Release();
    });
    return f;
  }
  std::string Stats() const {
    return absl::StrCat(" process_workers=", procs_->max_workers(),
                        " in_process=", in_flight_.load(),
                        " crashed=", crashed_.load());
  }
  std::string Summary() const {
    return absl::StrCat("  process pool: ", procs_->max_workers(),
                        " worker processes, ", crashed_.load(), " crashed\n");
  }

 private:
  spindle::ProcessPoolExecutor* const procs_;
  spindle::BoundedSemaphore slots_;
  std::atomic<int64_t> in_flight_{0}, crashed_{0};
};

// The protocol: each command, and where it runs.
void AddCommands(CommandTable& t, ProcessJobs* procs) {
  t.Add("ECHO", [](Request&, absl::string_view arg) {
    return Answer::View(arg);  // A view of the line: no copy.
  });
  t.Add("UPPER", [](Request&, absl::string_view arg) -> Answer {
    return absl::AsciiStrToUpper(arg);
  });
  t.Add("PRIMES", [procs](Request&, absl::string_view arg) -> Answer {
    const absl::StatusOr<int64_t> n = IntArg(arg, "n", 20000000);
    if (!n.ok()) return n.status();
    if (procs != nullptr) return procs->Run(&PrimesTask, arg);
    return absl::StrCat(spindle_examples::CountPrimes(*n));
  });
  // On a loop timer: the request holds no thread while it waits.
  t.Add(
      "SLEEP",
      [&t](Request& r, absl::string_view arg) -> Answer {
        const absl::StatusOr<int64_t> ms = IntArg(arg, "ms", 60000);
        if (!ms.ok()) return ms.status();
        r.loop().CallLater(absl::Milliseconds(*ms),
                           [&t, c = r.command(), ms = *ms, at = r.received(),
                            responder = r.TakeResponder()]() mutable {
                             t.stats()->RecordSince(c, at, true);
                             responder.Reply(absl::StrCat("SLEPT ", ms));
                           });
        return Answer::Later();
      },
      CommandTable::kOnLoop);
  // Answered by the loop at once, not queued behind what it reports on.
  t.Add(
      "STATS",
      [&t, procs](Request& r, absl::string_view) -> Answer {
        const LineService::Stats s = r.service().stats();
        return absl::StrCat(
            "STATS connections=", s.connections, " unanswered=", s.unanswered,
            " queue=", s.queued, " busy_workers=", s.busy_workers,
            " done=", t.stats()->done(), " failed=", t.stats()->failed(),
            " internal_errors=", s.internal_errors, " memory=", s.memory_used,
            "/", s.memory_budget, procs ? procs->Stats() : "",
            t.stats()->Fields());
      },
      CommandTable::kOnLoop);
  t.Add("FAIL", [](Request&, absl::string_view arg) -> Answer {
    throw std::runtime_error(absl::StrCat("FAIL requested: ", arg));
  });
  t.Add("CRASH", [procs](Request&, absl::string_view arg) -> Answer {
    if (procs != nullptr) return procs->Run(&CrashTask, arg);
    return absl::FailedPreconditionError("CRASH needs --process_workers");
  });
  t.Add("QUIT",
        [](Request&, absl::string_view) { return Answer::Close("BYE"); });
}

}  // namespace

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
  std::unique_ptr<ProcessJobs> jobs;
  if (procs != nullptr) jobs = std::make_unique<ProcessJobs>(procs.get());
  CommandTable table;
  AddCommands(table, jobs.get());
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
