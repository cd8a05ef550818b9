// Copyright 2026 The spindle Authors.

#include "spindle/examples/job_commands.h"

#include <signal.h>
#include <sys/resource.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "spindle/concurrency/future.h"
#include "spindle/concurrency/status.h"
#include "spindle/examples/primes.h"

namespace spindle_examples {
namespace {

using spindle::io::Answer;
using spindle::io::CommandTable;
using spindle::io::LineService;
using spindle::io::Request;

// Process-pool tasks: bytes in, bytes out, run in a worker process.
std::string PrimesTask(absl::string_view n) {  // Digits only (IntArg).
  int64_t v = 0;
  for (const char c : n) v = v * 10 + (c - '0');
  return absl::StrCat(CountPrimes(v));
}
std::string CrashTask(absl::string_view) {
  const struct rlimit no_core = {0, 0};
  setrlimit(RLIMIT_CORE, &no_core);  // A demo crash: no core file.
  raise(SIGSEGV);
  return "still alive?";
}

}  // namespace

absl::StatusOr<int64_t> IntArg(absl::string_view arg, absl::string_view what,
                               int64_t hi) {
  // Digits only; the value saturates above `hi`, so no length overflows.
  int64_t v = 0;
  bool ok = !arg.empty();
  for (const char c : arg) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) ok = false;
    if (ok && v <= hi) v = v * 10 + (c - '0');
  }
  if (ok && v <= hi) return v;
  return absl::InvalidArgumentError(absl::StrCat(
      "bad argument: ", what, " must be an integer in [0, ", hi, "]"));
}

Answer ProcessJobs::Run(std::string (*task)(absl::string_view),
                        std::string arg) {
  slots_.Acquire();
  in_flight_.fetch_add(1);
  spindle::Future<std::string> f = procs_->Submit(task, std::move(arg));
  f.AddDoneCallback([this](const spindle::Future<std::string>& f) {
    if (spindle::IsBroken(f.Exception().status())) crashed_.fetch_add(1);
    in_flight_.fetch_sub(1);
    slots_.Release();
  });
  return f;
}

std::string ProcessJobs::Stats() const {
  return absl::StrCat(" process_workers=", procs_->max_workers(),
                      " in_process=", in_flight_.load(),
                      " crashed=", crashed_.load());
}

std::string ProcessJobs::Summary() const {
  return absl::StrCat("  process pool: ", procs_->max_workers(),
                      " worker processes, ", crashed_.load(), " crashed\n");
}

void AddJobCommands(CommandTable& t, ProcessJobs* procs, JobLimits limits) {
  t.Add("ECHO", [](Request&, absl::string_view arg) {
    return Answer::View(arg);  // A view of the line: no copy.
  });
  t.Add("UPPER", [](Request&, absl::string_view arg) -> Answer {
    return absl::AsciiStrToUpper(arg);
  });
  t.Add("PRIMES", [procs, limits](Request&, absl::string_view arg) -> Answer {
    const absl::StatusOr<int64_t> n = IntArg(arg, "n", limits.max_primes);
    if (!n.ok()) return n.status();
    if (procs != nullptr) return procs->Run(&PrimesTask, absl::StrCat(*n));
    return absl::StrCat(CountPrimes(*n));
  });
  // On a loop timer: the request holds no thread while it waits.
  t.Add(
      "SLEEP",
      [&t, limits](Request& r, absl::string_view arg) -> Answer {
        const absl::StatusOr<int64_t> ms =
            IntArg(arg, "ms", limits.max_sleep_ms);
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
    if (procs != nullptr) return procs->Run(&CrashTask, std::string(arg));
    return absl::FailedPreconditionError("CRASH needs --process_workers");
  });
  t.Add("QUIT",
        [](Request&, absl::string_view) { return Answer::Close("BYE"); });
}

}  // namespace spindle_examples
