// Copyright 2026 The spindle Authors.
//
// job_server: spindle's main program - a line-protocol job service built on
// spindle::io::LineService (io/line_service.h), which owns the event loops,
// the fair bounded hand-off and the worker pool. This file is the protocol:
// a command table, what runs where, and STATS.
//
//   ECHO <text>   -> <text>                              (worker)
//   UPPER <text>  -> <TEXT>                              (worker)
//   PRIMES <n>    -> primes <= n, 0 <= n <= 20000000      (worker, or a
//                    worker process with --process_workers: asynchronous)
//   SLEEP <ms>    -> SLEPT <ms>, 0 <= ms <= 60000 (a loop timer: holds no
//                    worker while it waits)
//   STATS         -> counters and per-command latency (answered at once by
//                    the loop, not queued behind the jobs it reports on)
//   FAIL <text>   -> a handler that throws: "ERR internal error"
//   CRASH         -> with --process_workers: kills its worker process
//                    (SIGSEGV); "ERR process pool worker crashed: ..."
//   QUIT          -> BYE, then the connection is closed
// Commands are case-insensitive; spaces before the command and one space or
// tab after it are separators. Anything else -> "ERR <reason>".
//
// Run:   ./bazelw run //examples:job_server -- --port=7070; nc 127.0.0.1 7070
// Ctrl-C / SIGTERM: graceful shutdown (finish accepted jobs for up to
// --shutdown_grace, then drop what has not started); a second one exits at
// once. Fairness, limits and shutdown are LineService's: see its header.

#include <signal.h>
#include <sys/resource.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "spindle/concurrency/semaphore.h"
#include "spindle/concurrency/status.h"
#include "spindle/examples/primes.h"
#include "spindle/io/latency_histogram.h"
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
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(10),
          "how long a graceful shutdown lets accepted jobs finish");
ABSL_FLAG(int64_t, memory_budget, int64_t{64} << 20,
          "bytes of client input and unsent replies buffered, per loop");
ABSL_FLAG(int, process_workers, 0,
          "worker processes for PRIMES (0 = off); also enables CRASH");

namespace {

using spindle::io::Answer;
using spindle::io::LatencyHistogram;
using spindle::io::LineService;
using spindle::io::Request;

enum Command { kEcho, kUpper, kPrimes, kSleep, kStats, kFail, kCrash, kQuit };
constexpr std::array<const char*, 8> kNames = {
    "ECHO", "UPPER", "PRIMES", "SLEEP", "STATS", "FAIL", "CRASH", "QUIT"};

// A request split into its command and argument; nullopt: not a command.
struct Parsed {
  Command cmd;
  absl::string_view arg;
};
std::optional<Parsed> Parse(absl::string_view line) {
  line = line.substr(std::min(line.find_first_not_of(" \t"), line.size()));
  const size_t end = std::min(line.find_first_of(" \t"), line.size());
  for (size_t c = 0; c < kNames.size(); ++c) {
    if (absl::EqualsIgnoreCase(line.substr(0, end), kNames[c])) {
      return Parsed{static_cast<Command>(c),
                    line.substr(std::min(end + 1, line.size()))};
    }
  }
  return std::nullopt;
}

absl::Status BadArg(absl::string_view what, int64_t hi) {
  return absl::InvalidArgumentError(absl::StrCat(
      "bad argument: ", what, " must be an integer in [0, ", hi, "]"));
}

// Process-pool tasks: bytes in, bytes out, in a worker process.
std::string PrimesTask(absl::string_view n) {
  int64_t v = 0;
  if (!absl::SimpleAtoi(n, &v)) throw std::invalid_argument("bad n");
  return absl::StrCat(spindle_examples::CountPrimes(v));
}
std::string CrashTask(absl::string_view) {
  struct rlimit no_core = {0, 0};
  setrlimit(RLIMIT_CORE, &no_core);  // A demo crash: no core file.
  raise(SIGSEGV);
  return "still alive?";
}

class JobServer {
 public:
  explicit JobServer(spindle::ProcessPoolExecutor* procs)
      : procs_(procs), slots_(procs ? 4 * procs->max_workers() : 1) {}
  void set_service(const LineService* s) { service_ = s; }

  // Worker threads: everything but STATS and SLEEP.
  Answer OnWorker(Request& r) {
    const std::optional<Parsed> p = Parse(r.line());
    if (!p) return Unknown(r.line());
    int64_t n = 0;
    switch (p->cmd) {
      case kEcho:
        return Done(kEcho, r, std::string(p->arg));
      case kUpper:
        return Done(kUpper, r, absl::AsciiStrToUpper(p->arg));
      case kPrimes:
        if (!absl::SimpleAtoi(p->arg, &n) || n < 0 || n > 20000000) {
          return Failed(BadArg("n", 20000000));
        }
        if (procs_ != nullptr)
          return InProcess(kPrimes, r, p->arg, &PrimesTask);
        return Done(kPrimes, r, absl::StrCat(spindle_examples::CountPrimes(n)));
      case kFail:
        failed_.fetch_add(1);
        throw std::runtime_error(absl::StrCat("FAIL requested: ", p->arg));
      case kCrash:
        if (procs_ != nullptr) return InProcess(kCrash, r, p->arg, &CrashTask);
        return Failed(
            absl::FailedPreconditionError("CRASH needs --process_workers"));
      case kQuit:
        done_.fetch_add(1);
        return Answer::Close("BYE");
      default:
        return Failed(absl::InternalError("loop command on a worker"));
    }
  }

  // The loop thread, first: STATS at once; SLEEP as a timer on the loop.
  std::optional<Answer> OnLoop(Request& r) {
    const absl::string_view line = absl::StripLeadingAsciiWhitespace(r.line());
    if (line.empty() || absl::ascii_toupper(line[0]) != 'S')
      return std::nullopt;
    const std::optional<Parsed> p = Parse(line);
    if (!p || (p->cmd != kStats && p->cmd != kSleep)) return std::nullopt;
    if (p->cmd == kStats) return Stats();
    int64_t ms = 0;
    if (!absl::SimpleAtoi(p->arg, &ms) || ms < 0 || ms > 60000) {
      return Failed(BadArg("ms", 60000));
    }
    r.loop().CallLater(
        absl::Milliseconds(ms),
        [this, ms, at = r.received(), rs = r.TakeResponder()]() mutable {
          latency_[kSleep].Record(absl::Now() - at);
          done_.fetch_add(1);
          rs.Reply(absl::StrCat("SLEPT ", ms));
        });
    return Answer::Later();
  }

  std::string Stats() const {
    const LineService::Stats s = service_->stats();
    std::string out = absl::StrCat(
        "STATS connections=", s.connections, " unanswered=", s.unanswered,
        " queue=", s.queued, " busy_workers=", s.busy_workers,
        " done=", done_.load(), " failed=", failed_.load(),
        " internal_errors=", s.internal_errors, " memory=", s.memory_used, "/",
        s.memory_budget);
    if (procs_ != nullptr) {
      absl::StrAppend(&out, " process_workers=", procs_->max_workers(),
                      " in_process=", in_process_.load(),
                      " crashed=", crashed_.load());
    }
    for (size_t c = 0; c < kNames.size(); ++c) {
      if (latency_[c].count() == 0) continue;
      absl::StrAppend(
          &out, " ", kNames[c], ":n=", latency_[c].count(),
          ",p50=", LatencyHistogram::Format(latency_[c].Percentile(0.5)),
          ",p99=", LatencyHistogram::Format(latency_[c].Percentile(0.99)));
    }
    return out;
  }

  std::string Summary(absl::Duration up) const {
    const LineService::Stats s = service_->stats();
    std::string out = absl::StrFormat(
        "job_server: up %s; %d connections (%d refused, %d idle-closed), %d "
        "requests (%d oversize), %d jobs done, %d failed, %d dropped at "
        "shutdown (%.0f jobs/s)\n",
        absl::FormatDuration(absl::Trunc(up, absl::Milliseconds(1))),
        s.accepted, s.refused, s.idle_closed, s.requests, s.oversize,
        done_.load(), failed_.load(), s.dropped,
        done_.load() / std::max(1e-9, absl::ToDoubleSeconds(up)));
    if (procs_ != nullptr) {
      absl::StrAppendFormat(&out,
                            "  process pool: %d worker processes, %d crashed\n",
                            procs_->max_workers(), crashed_.load());
    }
    for (size_t c = 0; c < kNames.size(); ++c) {
      if (latency_[c].count() == 0) continue;
      absl::StrAppendFormat(&out, "  %-7s %s\n", kNames[c],
                            latency_[c].Summary());
    }
    return out;
  }

 private:
  Answer Done(Command c, const Request& r, std::string reply) {
    latency_[c].Record(absl::Now() - r.received());
    done_.fetch_add(1, std::memory_order_relaxed);
    return reply;
  }
  Answer Failed(absl::Status s) {
    failed_.fetch_add(1, std::memory_order_relaxed);
    return s;
  }
  Answer Unknown(absl::string_view line) {
    std::string word(absl::StripLeadingAsciiWhitespace(line).substr(0, 32));
    word = word.substr(0, word.find_first_of(" \t"));
    if (word.empty())
      return Failed(absl::InvalidArgumentError("empty request"));
    for (char& ch : word) {
      if (!absl::ascii_isprint(static_cast<unsigned char>(ch))) ch = '?';
    }
    return Failed(absl::InvalidArgumentError(
        absl::StrCat("unknown command '", word, "' (try ",
                     absl::StrJoin(kNames, ", "), ")")));
  }
  // PRIMES/CRASH in the process pool: the worker moves on; the reply goes
  // out when the future completes. At most 4 per worker process are in
  // flight (a worker waits for a slot), so a flood backs up into the
  // service's bounded queue instead of the pool's unbounded one.
  Answer InProcess(Command c, const Request& r, absl::string_view arg,
                   std::string (*task)(absl::string_view)) {
    slots_.Acquire();
    in_process_.fetch_add(1);
    spindle::Future<std::string> f = procs_->Submit(task, std::string(arg));
    f.AddDoneCallback([this, c, at = r.received()](
                          const spindle::Future<std::string>& f) {
      const absl::Status s = f.Exception().status();  // Cancelled, crashed...
      if (spindle::IsBroken(s)) crashed_.fetch_add(1);
      (s.ok() && !f.Exception().value() ? done_ : failed_).fetch_add(1);
      latency_[c].Record(absl::Now() - at);
      in_process_.fetch_sub(1);
      slots_.Release();
    });
    return f;
  }

  spindle::ProcessPoolExecutor* const procs_;
  spindle::BoundedSemaphore slots_;
  const LineService* service_ = nullptr;
  std::array<LatencyHistogram, kNames.size()> latency_;
  std::atomic<int64_t> done_{0}, failed_{0}, in_process_{0}, crashed_{0};
};

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "usage: job_server [--port=N] [--bind=ADDRS] [--workers=N] [flags]\n"
      "A line-protocol job service on spindle::io::LineService; "
      "see examples/job_server.cc.");
  absl::ParseCommandLine(argc, argv);
  const int workers = absl::GetFlag(FLAGS_workers);
  const int process_workers = absl::GetFlag(FLAGS_process_workers);
  if (workers < 1 || absl::GetFlag(FLAGS_queue_size) < 1 ||
      absl::GetFlag(FLAGS_loops) < 1 || absl::GetFlag(FLAGS_max_line) < 1 ||
      absl::GetFlag(FLAGS_max_connections) < 1 || process_workers < 0) {
    std::fprintf(
        stderr,
        "job_server: --workers, --queue_size, --loops, --max_line "
        "and --max_connections must be >= 1, --process_workers >= 0\n");
    return 2;
  }
  LineService::Options o;
  o.server.hosts =
      absl::StrSplit(absl::GetFlag(FLAGS_bind), ',', absl::SkipWhitespace());
  o.server.port = absl::GetFlag(FLAGS_port);
  o.server.max_line = static_cast<size_t>(absl::GetFlag(FLAGS_max_line));
  o.server.idle_timeout = absl::GetFlag(FLAGS_idle_timeout);
  o.server.max_connections =
      static_cast<size_t>(absl::GetFlag(FLAGS_max_connections));
  o.server.memory_budget = static_cast<size_t>(
      std::max<int64_t>(1, absl::GetFlag(FLAGS_memory_budget)));
  o.loops = absl::GetFlag(FLAGS_loops);
  o.workers = workers;
  o.queue_size = static_cast<size_t>(absl::GetFlag(FLAGS_queue_size));
  o.shutdown_grace = absl::GetFlag(FLAGS_shutdown_grace);
  o.name = "job_server";

  // The process pool first, while this process has one thread: its fork
  // server is a copy of the process as it is now (process_pool.h).
  std::unique_ptr<spindle::ProcessPoolExecutor> procs;
  if (process_workers > 0) {
    auto made =
        spindle::ProcessPoolExecutor::Create({.max_workers = process_workers});
    if (!made.ok()) {
      std::fprintf(stderr, "job_server: process pool: %s\n",
                   made.status().ToString().c_str());
      return 1;
    }
    procs = *std::move(made);
  }
  JobServer jobs(procs.get());
  LineService service(
      o, [&jobs](Request& r) { return jobs.OnWorker(r); },
      [&jobs](Request& r) { return jobs.OnLoop(r); });
  jobs.set_service(&service);
  const absl::Time start = absl::Now();
  absl::Status s = service.Run([&] {
    std::printf(
        "job_server: %d loop(s), %d workers, %d worker processes, queue %d; "
        "Ctrl-C to stop\nlistening on %s:%d\n",
        o.loops, workers, process_workers, static_cast<int>(o.queue_size),
        o.server.hosts.empty() ? "?" : o.server.hosts[0].c_str(),
        service.port());
    std::fflush(stdout);
  });
  if (!s.ok()) {
    std::fprintf(stderr, "job_server: %s\n", s.ToString().c_str());
    return 1;
  }
  // PRIMES still in worker processes end (those not started were cancelled).
  if (procs != nullptr) procs->Shutdown(/*wait=*/true);
  std::printf("%s", jobs.Summary(absl::Now() - start).c_str());
  return 0;
}
