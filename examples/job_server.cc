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

#include <array>
#include <atomic>
#include <cstdio>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

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
#include "spindle/io/command_stats.h"
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

class JobServer {
 public:
  explicit JobServer(spindle::ProcessPoolExecutor* procs)
      : procs_(procs), slots_(procs ? 4 * procs->max_workers() : 1) {}
  void set_service(const LineService* s) { service_ = s; }
  spindle::io::CommandStats* stats() { return &stats_; }

  // LineService's handlers: the loop thread sees each line first and runs
  // the loop's commands; the workers run the rest.
  std::optional<Answer> OnLoop(Request& r);
  Answer OnWorker(Request& r);

  std::string Stats() const {
    const LineService::Stats s = service_->stats();
    std::string out = absl::StrCat(
        "STATS connections=", s.connections, " unanswered=", s.unanswered,
        " queue=", s.queued, " busy_workers=", s.busy_workers,
        " done=", stats_.done(), " failed=", stats_.failed(),
        " internal_errors=", s.internal_errors, " memory=", s.memory_used, "/",
        s.memory_budget);
    if (procs_ != nullptr) {
      absl::StrAppend(&out, " process_workers=", procs_->max_workers(),
                      " in_process=", in_process_.load(),
                      " crashed=", crashed_.load());
    }
    return out + stats_.Fields();
  }
  std::string Summary(absl::Duration up) const {
    const LineService::Stats s = service_->stats();
    std::string out = absl::StrCat(
        "job_server: up ",
        absl::FormatDuration(absl::Trunc(up, absl::Milliseconds(1))), "; ",
        s.accepted, " connections (", s.refused, " refused, ", s.idle_closed,
        " idle-closed), ", s.requests, " requests (", s.oversize,
        " oversize), ", stats_.done(), " jobs done, ", stats_.failed(),
        " failed, ", s.dropped, " dropped at shutdown\n");
    if (procs_ != nullptr) {
      absl::StrAppend(&out, "  process pool: ", procs_->max_workers(),
                      " worker processes, ", crashed_.load(), " crashed\n");
    }
    return out + stats_.Lines();
  }

 private:
  // One command: its name, whether the loop thread answers it (then it
  // must not block), and its handler.
  struct Command {
    const char* name;
    bool on_loop;
    Answer (JobServer::*run)(Request& r, absl::string_view arg);
  };
  static const std::array<Command, 8> kCommands;

  Answer Echo(Request&, absl::string_view arg) {
    return Answer::View(arg);  // A view of the line: no copy.
  }
  Answer Upper(Request&, absl::string_view arg) {
    return absl::AsciiStrToUpper(arg);
  }
  Answer Primes(Request&, absl::string_view arg) {
    const absl::StatusOr<int64_t> n = IntArg(arg, "n", 20000000);
    if (!n.ok()) return n.status();
    if (procs_ != nullptr) return InProcess(arg, &PrimesTask);
    return absl::StrCat(spindle_examples::CountPrimes(*n));
  }
  // Waits on a loop timer: the request holds no thread meanwhile.
  Answer Sleep(Request& r, absl::string_view arg) {
    const absl::StatusOr<int64_t> ms = IntArg(arg, "ms", 60000);
    if (!ms.ok()) return ms.status();
    r.loop().CallLater(absl::Milliseconds(*ms),
                       [this, c = r.command(), ms = *ms, at = r.received(),
                        responder = r.TakeResponder()]() mutable {
                         stats_.RecordSince(c, at, true);
                         responder.Reply(absl::StrCat("SLEPT ", ms));
                       });
    return Answer::Later();
  }
  Answer StatsCmd(Request&, absl::string_view) { return Stats(); }
  Answer Fail(Request&, absl::string_view arg) {
    throw std::runtime_error(absl::StrCat("FAIL requested: ", arg));
  }
  Answer Crash(Request&, absl::string_view arg) {
    if (procs_ != nullptr) return InProcess(arg, &CrashTask);
    return absl::FailedPreconditionError("CRASH needs --process_workers");
  }
  Answer Quit(Request&, absl::string_view) { return Answer::Close("BYE"); }

  // PRIMES/CRASH in the process pool: the worker moves on and the reply goes
  // out when the future completes. At most 4 per worker process are in
  // flight (a worker waits for a slot), so a flood backs up into the
  // service's bounded queue rather than the pool's unbounded one.
  Answer InProcess(absl::string_view arg,
                   std::string (*task)(absl::string_view)) {
    slots_.Acquire();
    in_process_.fetch_add(1);
    spindle::Future<std::string> f = procs_->Submit(task, std::string(arg));
    f.AddDoneCallback([this](const auto& f) {
      const absl::Status s = f.Exception().status();  // Cancelled, crashed?
      if (spindle::IsBroken(s)) crashed_.fetch_add(1);
      in_process_.fetch_sub(1);
      slots_.Release();
    });
    return f;
  }

  // The command of `line` (an index into kCommands, or -1) and its argument,
  // which starts after one space or tab.
  static int Find(absl::string_view line, absl::string_view* arg);
  static absl::Status Unknown(absl::string_view line);
  static std::vector<std::string> Names() {
    std::vector<std::string> names;
    for (const Command& c : kCommands) names.push_back(c.name);
    return names;
  }

  spindle::ProcessPoolExecutor* const procs_;
  spindle::BoundedSemaphore slots_;
  const LineService* service_ = nullptr;
  spindle::io::CommandStats stats_{Names()};
  std::atomic<int64_t> in_process_{0}, crashed_{0};
};

// The command table.
const std::array<JobServer::Command, 8> JobServer::kCommands = {{
    {"ECHO", false, &JobServer::Echo},
    {"UPPER", false, &JobServer::Upper},
    {"PRIMES", false, &JobServer::Primes},
    {"SLEEP", true, &JobServer::Sleep},
    {"STATS", true, &JobServer::StatsCmd},
    {"FAIL", false, &JobServer::Fail},
    {"CRASH", false, &JobServer::Crash},
    {"QUIT", false, &JobServer::Quit},
}};

std::optional<Answer> JobServer::OnLoop(Request& r) {
  const absl::string_view line = absl::StripLeadingAsciiWhitespace(r.line());
  if (line.empty() || absl::ascii_toupper(line[0]) != 'S') return {};  // Fast.
  absl::string_view arg;
  const int c = Find(r.line(), &arg);
  if (c < 0 || !kCommands[c].on_loop) return std::nullopt;  // To a worker.
  r.set_command(c);  // LineService records it in stats_ when answered.
  return (this->*kCommands[c].run)(r, arg);
}

Answer JobServer::OnWorker(Request& r) {
  absl::string_view arg;
  const int c = Find(r.line(), &arg);
  if (c >= 0) {
    r.set_command(c);
    return (this->*kCommands[c].run)(r, arg);
  }
  stats_.RecordUnknown();
  return Unknown(r.line());
}

int JobServer::Find(absl::string_view line, absl::string_view* arg) {
  line = absl::StripLeadingAsciiWhitespace(line);
  const size_t end = std::min(line.find_first_of(" \t"), line.size());
  *arg = end < line.size() ? line.substr(end + 1) : "";
  for (size_t c = 0; c < kCommands.size(); ++c) {
    if (absl::EqualsIgnoreCase(line.substr(0, end), kCommands[c].name)) {
      return static_cast<int>(c);
    }
  }
  return -1;
}

absl::Status JobServer::Unknown(absl::string_view line) {
  line = absl::StripLeadingAsciiWhitespace(line);
  std::string word(
      line.substr(0, std::min<size_t>(32, line.find_first_of(" \t"))));
  if (word.empty()) return absl::InvalidArgumentError("empty request");
  for (char& ch : word) {
    if (!absl::ascii_isprint(static_cast<unsigned char>(ch))) ch = '?';
  }
  std::string names;
  for (const Command& c : kCommands)
    absl::StrAppend(&names, names.empty() ? "" : ", ", c.name);
  return absl::InvalidArgumentError(
      absl::StrCat("unknown command '", word, "' (try ", names, ")"));
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
  JobServer jobs(procs.get());
  o.command_stats = jobs.stats();
  LineService service(
      o, [&jobs](Request& r) { return jobs.OnWorker(r); },
      [&jobs](Request& r) { return jobs.OnLoop(r); });
  jobs.set_service(&service);
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
  std::printf("%s", jobs.Summary(absl::Now() - start).c_str());
  return 0;
}
