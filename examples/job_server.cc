// Copyright 2026 The spindle Authors.
//
// job_server: spindle's main program. A line-protocol TCP service where both
// halves of spindle meet:
//
//   clients --TCP--> EventLoop + TcpServer --TryPutMany--> Queue<Job>
//                        ^                                (bounded)
//                        |                                    |
//                        |                  ThreadPoolExecutor workers
//                        |                        (GetMany)
//                        +--- ReplyBatch (CallSoonThreadsafe) <--+
//
// With --process_workers=N, PRIMES (CPU-bound) runs in a
// spindle::ProcessPoolExecutor of N worker processes instead: the thread
// worker submits it and moves on; the result's done callback answers the
// request (replies still go out in request order). A worker process that
// crashes fails only its own request ("ERR process pool worker crashed:
// ...") and is replaced - try CRASH.
//
// Each request line becomes a Job on a bounded spindle::Queue; `--workers`
// ThreadPoolExecutor workers take jobs off it and answer through the job's
// Responder, which hands the reply back to the loop thread; the TcpServer
// writes replies to each connection in request order. When the queue is
// full the front end stops reading from that connection until there is room
// (nothing is dropped); slow readers, oversize lines, idle clients and
// descriptor exhaustion are handled by TcpServer (see io/tcp_server.h).
//
// Batching (it is what makes cheap requests cheap): the front end hands
// the complete lines of one read to the queue in one TryPutMany (a batch
// wakes at most one blocked worker, which takes it whole); a worker takes
// up to kMaxBatch jobs per GetMany and answers them through one
// ReplyBatch - one lock and at most one loop wake-up per batch - flushing
// early after an expensive job (PRIMES, SLEEP) so that cheap replies never
// wait behind it. Every line is still its own Job with its own Responder.
//
// Protocol (one request per line, one reply line per request):
//   ECHO <text>     -> <text>
//   UPPER <text>    -> <TEXT>
//   PRIMES <n>      -> number of primes <= n (CPU-bound; 0 <= n <= 20000000;
//                      in a worker process with --process_workers)
//   SLEEP <ms>      -> SLEPT <ms> after sleeping (I/O stand-in; <= 60000)
//   STATS           -> connections, queue depth, busy workers, jobs
//                      done/failed, per-command latency percentiles
//                      (answered by the loop thread at once, not queued);
//                      with --process_workers also process_workers,
//                      in_process (submitted, not answered) and crashed
//   FAIL <text>     -> a job that throws (to see one request fail alone)
//   CRASH           -> with --process_workers: a task that kills its worker
//                      process (SIGSEGV) -> "ERR process pool worker crashed:
//                      pid <p> killed by signal 11 (SIGSEGV) ..."; the pool
//                      replaces the worker and serves everyone else as before.
//                      Without it: "ERR CRASH needs --process_workers".
//   QUIT            -> BYE, then the server closes the connection
// Anything else -> "ERR <reason>"; the connection stays usable. A job that
// throws answers "ERR <what>" for that request only.
//
// Run:   ./bazelw run //examples:job_server            (127.0.0.1:7070)
//        nc 127.0.0.1 7070
// Flags: --port (0 = any free port; the bound one is printed), --bind
//        (comma-separated addresses, IPv4 or IPv6), --workers,
//        --queue_size, --max_line, --idle_timeout, --loops (event loops,
//        each in its own thread, sharing the port with SO_REUSEPORT),
//        --max_connections, --shutdown_grace, --process_workers (worker
//        processes for PRIMES; 0 = off, PRIMES runs on the thread pool).
// Ctrl-C (SIGINT) or SIGTERM: graceful shutdown - stop accepting, finish
// the jobs already accepted, flush their replies, close, print a summary. A
// second signal exits at once. A terminal's Ctrl-C (or a service manager's
// stop) signals the worker processes too; they leave stopping to the pool
// (process_pool.h, "Signals"), so PRIMES in flight still get their results.

#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "spindle/concurrency/queue.h"
#include "spindle/concurrency/semaphore.h"
#include "spindle/concurrency/status.h"
#include "spindle/concurrency/thread_pool.h"
#include "spindle/examples/primes.h"
#include "spindle/io/event_loop.h"
#include "spindle/io/tcp_server.h"
#include "spindle/process/process_pool.h"

ABSL_FLAG(int, port, 7070, "TCP port; 0 picks a free one (printed)");
ABSL_FLAG(std::string, bind, "127.0.0.1",
          "comma-separated listen addresses (IPv4 or IPv6, e.g. ::1)");
ABSL_FLAG(int, workers, 4, "ThreadPoolExecutor worker threads");
ABSL_FLAG(int, queue_size, 1024, "bounded job queue capacity");
ABSL_FLAG(int, max_line, 4096, "longest request line in bytes");
ABSL_FLAG(absl::Duration, idle_timeout, absl::Seconds(300),
          "close connections idle this long (0 = never)");
ABSL_FLAG(int, loops, 1, "event loops (threads) accepting on the port");
ABSL_FLAG(int, max_connections, 10000, "open connections per loop");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(10),
          "how long a graceful shutdown waits for jobs in flight");
ABSL_FLAG(int, process_workers, 0,
          "worker processes for PRIMES (a ProcessPoolExecutor); 0 = off, "
          "PRIMES runs on the thread pool; also enables CRASH");

namespace {

using spindle::io::EventLoop;
using spindle::io::Responder;
using spindle::io::TcpServer;

// --- latency histogram ------------------------------------------------------
// Log-linear buckets over microseconds (8 per power of two): lock-free
// recording from any worker, percentiles within ~9%.
class Histogram {
 public:
  // Records `n` samples of latency `ns` nanoseconds.
  void Record(int64_t ns, int64_t n = 1) {
    const double us = std::max(1.0, static_cast<double>(ns) / 1e3);
    int b = static_cast<int>(std::log2(us) * kPerOctave);
    b = std::clamp(b, 0, kBuckets - 1);
    buckets_[b].fetch_add(n, std::memory_order_relaxed);
    count_.fetch_add(n, std::memory_order_relaxed);
  }
  int64_t count() const { return count_.load(std::memory_order_relaxed); }
  // Upper bound of the bucket holding the q-quantile, in microseconds.
  double Percentile(double q) const {
    const int64_t total = count();
    if (total == 0) return 0;
    const int64_t want = std::max<int64_t>(1, std::llround(q * total));
    int64_t seen = 0;
    for (int b = 0; b < kBuckets; ++b) {
      seen += buckets_[b].load(std::memory_order_relaxed);
      if (seen >= want)
        return std::exp2(static_cast<double>(b + 1) / kPerOctave);
    }
    return std::exp2(static_cast<double>(kBuckets) / kPerOctave);
  }
  std::string Summary() const {
    return absl::StrFormat("n=%d p50=%s p99=%s p999=%s", count(),
                           Us(Percentile(0.5)), Us(Percentile(0.99)),
                           Us(Percentile(0.999)));
  }
  static std::string Us(double us) {
    if (us >= 1e6) return absl::StrFormat("%.2fs", us / 1e6);
    if (us >= 1e3) return absl::StrFormat("%.2fms", us / 1e3);
    return absl::StrFormat("%.0fus", us);
  }

 private:
  static constexpr int kPerOctave = 8;
  static constexpr int kBuckets = 40 * kPerOctave;
  std::array<std::atomic<int64_t>, kBuckets> buckets_{};
  std::atomic<int64_t> count_{0};
};

// --- the service ------------------------------------------------------------

enum Command {
  kEcho,
  kUpper,
  kPrimes,
  kSleep,
  kStats,
  kFail,
  kCrash,
  kQuit,
  kOther
};
constexpr const char* kCommandNames[] = {"ECHO",  "UPPER", "PRIMES",
                                         "SLEEP", "STATS", "FAIL",
                                         "CRASH", "QUIT",  "other"};
constexpr int kNumCommands = 9;

// A request that is the client's mistake; answered "ERR <what>".
class BadRequest : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// The request line, stored inline when short (no allocation per job).
class LineBuf {
 public:
  LineBuf() = default;
  explicit LineBuf(absl::string_view s) : size_(s.size()) {
    if (s.size() <= kInline) {
      std::memcpy(inline_, s.data(), s.size());
    } else {
      heap_.assign(s.data(), s.size());
    }
  }
  absl::string_view view() const {
    return size_ <= kInline ? absl::string_view(inline_, size_)
                            : absl::string_view(heap_);
  }

 private:
  static constexpr size_t kInline = 72;
  size_t size_ = 0;
  char inline_[kInline];
  std::string heap_;
};

struct Job {
  LineBuf line;
  Responder responder;
  int64_t received_ns;  // absl::GetCurrentTimeNanos() when read.
};

// Jobs a worker takes per GetMany (and answers per ReplyBatch at most).
constexpr size_t kMaxBatch = 256;

using spindle_examples::CountPrimes;

// Process-pool tasks (spindle::ProcessTask: bytes in, bytes out; they run
// in a worker process forked from this binary).
std::string PrimesTask(absl::string_view n) {
  int64_t v = 0;
  if (!absl::SimpleAtoi(n, &v)) throw std::invalid_argument("bad n");
  return absl::StrCat(CountPrimes(v));
}
std::string CrashTask(absl::string_view) {
  struct rlimit no_core = {0, 0};
  setrlimit(RLIMIT_CORE, &no_core);  // A demo crash: no core file.
  raise(SIGSEGV);
  return "still alive?";
}

class Service {
 public:
  Service(int queue_size, int workers)
      : queue_(queue_size), workers_(workers) {}

  spindle::Queue<Job>& queue() { return queue_; }
  void AddServer(const TcpServer* s) { servers_.push_back(s); }
  // PRIMES and CRASH go to `procs` (not owned; outlives the workers). At
  // most `max_in_flight` of them are submitted and not yet answered: a
  // worker waits for a slot, so that a flood of PRIMES backs up into the
  // bounded queue (and the front end stops reading) instead of growing the
  // process pool's own, unbounded, queue.
  void SetProcessPool(spindle::ProcessPoolExecutor* procs, int max_in_flight) {
    procs_ = procs;
    process_slots_ = std::make_unique<spindle::BoundedSemaphore>(max_in_flight);
  }

  // The worker body: takes batches of jobs until the queue is shut down
  // and drained.
  void WorkerLoop() {
    std::vector<Job> jobs;
    jobs.reserve(kMaxBatch);
    Answers answers;
    for (;;) {
      jobs.clear();
      if (!queue_.GetMany(kMaxBatch, &jobs).ok()) return;  // Shut down.
      busy_.fetch_add(1, std::memory_order_relaxed);
      for (size_t i = 0; i < jobs.size(); ++i) {
        if (i + 1 < jobs.size() && IsExpensive(jobs[i].line.view()) &&
            busy_.load(std::memory_order_relaxed) < workers_) {
          // A long job ahead and idle workers: hand them the jobs after
          // it (what fits back in the queue) rather than make them wait.
          size_t put = 0;
          queue_.TryPutMany(absl::MakeSpan(jobs).subspan(i + 1), &put)
              .IgnoreError();  // Whatever did not fit stays here.
          jobs.erase(jobs.begin() + static_cast<std::ptrdiff_t>(i + 1),
                     jobs.begin() + static_cast<std::ptrdiff_t>(i + 1 + put));
        }
        if (Run(jobs[i], answers)) Flush(answers);  // Expensive: answer now.
      }
      Flush(answers);
      busy_.fetch_sub(1, std::memory_order_relaxed);
    }
  }

  // The front end's batch handler (loop thread): one TryPutMany for the
  // lines of one loop iteration; STATS is answered here, at once, not queued
  // behind the jobs it reports on (its reply still keeps its place in the
  // order).
  size_t Submit(absl::Span<TcpServer::Request> batch) {
    // One staging vector per loop thread (kept for its capacity).
    thread_local std::vector<Job> jobs;
    thread_local std::vector<size_t> index;  // jobs[k] is batch[index[k]].
    jobs.clear();
    index.clear();
    const int64_t now = absl::GetCurrentTimeNanos();  // One read per batch.
    for (size_t i = 0; i < batch.size(); ++i) {
      TcpServer::Request& req = batch[i];
      if (IsStats(req.line)) {
        // Put what comes before it first, so that order and "not taken"
        // stay a prefix.
        if (size_t taken = Put(batch, jobs, index); taken < batch.size()) {
          return taken;
        }
        jobs.clear();
        index.clear();
        req.responder.Reply(Stats());
        continue;
      }
      jobs.push_back(Job{LineBuf(req.line), std::move(req.responder), now});
      index.push_back(i);
    }
    return Put(batch, jobs, index);
  }

  std::string Summary(absl::Duration uptime) const {
    int64_t accepted = 0, requests = 0, rejected = 0, idle = 0, oversize = 0;
    for (const TcpServer* s : servers_) {
      accepted += s->stats().accepted.load();
      requests += s->stats().requests.load();
      rejected +=
          s->stats().rejected_busy.load() + s->stats().rejected_no_fds.load();
      idle += s->stats().idle_closed.load();
      oversize += s->stats().oversize.load();
    }
    std::string out = absl::StrFormat(
        "job_server: up %s; %d connections (%d refused, %d idle-closed), %d "
        "requests (%d oversize), %d jobs done, %d failed (%.0f jobs/s)\n",
        absl::FormatDuration(absl::Trunc(uptime, absl::Milliseconds(1))),
        accepted, rejected, idle, requests, oversize, done_.load(),
        failed_.load(),
        static_cast<double>(done_.load()) /
            std::max(1e-9, absl::ToDoubleSeconds(uptime)));
    if (procs_ != nullptr) {
      absl::StrAppendFormat(&out,
                            "  process pool: %d worker processes, %d crashed "
                            "(and replaced)\n",
                            procs_->max_workers(), crashed_.load());
    }
    for (int c = 0; c < kNumCommands; ++c) {
      if (latency_[c].count() == 0) continue;
      absl::StrAppendFormat(&out, "  %-7s %s\n", kCommandNames[c],
                            latency_[c].Summary());
    }
    return out;
  }

  // Thread-safe (atomics and snapshots).
  std::string Stats() const {
    int64_t conns = 0;
    for (const TcpServer* s : servers_) conns += s->stats().connections.load();
    std::string out =
        absl::StrCat("STATS connections=", conns, " queue=", queue_.qsize(),
                     " busy_workers=", busy_.load(), " done=", done_.load(),
                     " failed=", failed_.load());
    if (procs_ != nullptr) {
      absl::StrAppend(&out, " process_workers=", procs_->max_workers(),
                      " in_process=", in_process_.load(),
                      " crashed=", crashed_.load());
    }
    for (int c = 0; c < kNumCommands; ++c) {
      if (latency_[c].count() == 0) continue;
      absl::StrAppend(&out, " ", kCommandNames[c], ":n=", latency_[c].count(),
                      ",p50=", Histogram::Us(latency_[c].Percentile(0.5)),
                      ",p99=", Histogram::Us(latency_[c].Percentile(0.99)));
    }
    return out;
  }

 private:
  // A worker's replies not yet handed to the loop, with what is needed to
  // record their latency when they are.
  struct Answers {
    spindle::io::ReplyBatch replies;
    std::string reply;  // Scratch, reused.
    struct Sample {
      Command cmd;
      int64_t received_ns;
    };
    std::vector<Sample> samples;
    int64_t done = 0, failed = 0;
  };

  // Hands the answers to the loop and records their latency (one clock
  // read per flush: the replies leave the worker now).
  void Flush(Answers& a) {
    if (a.samples.empty()) return;
    const int64_t now = absl::GetCurrentTimeNanos();
    a.replies.Flush();
    // Samples of one read share their receive time: record runs at once.
    for (size_t i = 0; i < a.samples.size();) {
      size_t j = i + 1;
      while (j < a.samples.size() && a.samples[j].cmd == a.samples[i].cmd &&
             a.samples[j].received_ns == a.samples[i].received_ns) {
        ++j;
      }
      latency_[a.samples[i].cmd].Record(now - a.samples[i].received_ns,
                                        static_cast<int64_t>(j - i));
      i = j;
    }
    a.samples.clear();
    if (a.done) done_.fetch_add(a.done, std::memory_order_relaxed);
    if (a.failed) failed_.fetch_add(a.failed, std::memory_order_relaxed);
    a.done = a.failed = 0;
  }

  // Runs one job, adding its reply to `a`. True for an expensive command
  // (its reply, and those before it, should be sent now).
  bool Run(Job& job, Answers& a) {
    absl::string_view line = job.line.view();
    absl::string_view word = line.substr(0, line.find(' '));
    absl::string_view arg =
        word.size() < line.size() ? line.substr(word.size() + 1) : "";
    const Command cmd = Parse(word);
    if (procs_ != nullptr && (cmd == kPrimes || cmd == kCrash) &&
        RunInProcess(cmd, arg, job, a)) {
      return false;  // Answered later, by the future's callback.
    }
    bool quit = false;
    a.reply.clear();
    try {
      Execute(cmd, word, arg, &quit, &a.reply);
      ++a.done;
    } catch (const std::exception& e) {
      a.reply = absl::StrCat("ERR ", e.what());
      ++a.failed;
    }
    a.replies.Add(job.responder, a.reply, quit);
    a.samples.push_back({cmd, job.received_ns});
    return cmd == kPrimes || cmd == kSleep;
  }

  // Submits PRIMES (a valid one; a bad argument gets the thread path's
  // error) or CRASH to the process pool, and chains the reply to its
  // future. Returns false if the job should run here instead.
  bool RunInProcess(Command cmd, absl::string_view arg, Job& job, Answers& a) {
    if (cmd == kPrimes) {
      int64_t n;
      if (!absl::SimpleAtoi(arg, &n) || n < 0 || n > 20000000) return false;
    }
    if (!process_slots_->TryAcquire()) {
      Flush(a);  // Do not hold earlier replies while waiting.
      process_slots_->Acquire();
    }
    in_process_.fetch_add(1, std::memory_order_relaxed);
    spindle::Future<std::string> result =
        cmd == kPrimes ? procs_->Submit(&PrimesTask, std::string(arg))
                       : procs_->Submit(&CrashTask, "");
    // Runs on the pool's thread when the worker answers (or crashes).
    result.AddDoneCallback([this, cmd, responder = std::move(job.responder),
                            received_ns = job.received_ns](
                               const spindle::Future<std::string>& f) mutable {
      std::string reply;
      bool ok = false;
      try {
        absl::StatusOr<std::string> r = f.Result();
        if (r.ok()) {
          reply = *std::move(r);
          ok = true;
        } else {
          if (spindle::IsBroken(r.status())) {
            crashed_.fetch_add(1, std::memory_order_relaxed);
          }
          reply = absl::StrCat("ERR ", r.status().message());
        }
      } catch (const std::exception& e) {  // RemoteTaskError
        reply = absl::StrCat("ERR ", e.what());
      }
      latency_[cmd].Record(absl::GetCurrentTimeNanos() - received_ns);
      (ok ? done_ : failed_).fetch_add(1, std::memory_order_relaxed);
      in_process_.fetch_sub(1, std::memory_order_relaxed);
      responder.Reply(std::move(reply));
      process_slots_->Release();
    });
    return true;
  }

  // PRIMES (unless a worker process runs it) and SLEEP (their replies are
  // sent as soon as they are done; see WorkerLoop).
  bool IsExpensive(absl::string_view line) const {
    return (procs_ == nullptr && absl::StartsWithIgnoreCase(line, "PRIMES")) ||
           absl::StartsWithIgnoreCase(line, "SLEEP");
  }

  static bool IsStats(absl::string_view line) {
    return line.size() >= 5 && (line[0] == 'S' || line[0] == 's') &&
           absl::EqualsIgnoreCase(absl::StripTrailingAsciiWhitespace(line),
                                  "STATS");
  }

  // TryPutMany(jobs): returns how many requests of `batch` are taken - all
  // of them when every job went in, otherwise up to the first job that did
  // not (its responder, and those after it, go back to `batch`).
  size_t Put(absl::Span<TcpServer::Request> batch, std::vector<Job>& jobs,
             const std::vector<size_t>& index) {
    if (jobs.empty()) return batch.size();
    size_t put = 0;
    absl::Status s = queue_.TryPutMany(absl::MakeSpan(jobs), &put);
    if (put == jobs.size()) return batch.size();
    for (size_t k = put; k < jobs.size(); ++k) {
      batch[index[k]].responder = std::move(jobs[k].responder);
    }
    if (!spindle::IsFull(s)) {
      // Shut down (the server is stopping): answer rather than retry.
      for (size_t k = put; k < jobs.size(); ++k) {
        batch[index[k]].responder.Reply("ERR server shutting down");
      }
      return batch.size();
    }
    return index[put];
  }

  static Command Parse(absl::string_view word) {
    for (int c = 0; c < kOther; ++c) {
      if (absl::EqualsIgnoreCase(word, kCommandNames[c])) {
        return static_cast<Command>(c);
      }
    }
    return kOther;
  }

  static int64_t IntArg(absl::string_view arg, int64_t lo, int64_t hi,
                        absl::string_view what) {
    int64_t v;
    if (!absl::SimpleAtoi(arg, &v) || v < lo || v > hi) {
      throw BadRequest(absl::StrCat("bad argument: ", what,
                                    " must be an "
                                    "integer in [",
                                    lo, ", ", hi, "]"));
    }
    return v;
  }

  // Appends the reply to `out`.
  void Execute(Command cmd, absl::string_view word, absl::string_view arg,
               bool* quit, std::string* out) {
    switch (cmd) {
      case kEcho:
        out->append(arg.data(), arg.size());
        return;
      case kUpper:
        out->append(arg.data(), arg.size());
        absl::AsciiStrToUpper(out);
        return;
      case kPrimes:
        absl::StrAppend(out, CountPrimes(IntArg(arg, 0, 20000000, "n")));
        return;
      case kSleep: {
        const int64_t ms = IntArg(arg, 0, 60000, "ms");
        absl::SleepFor(absl::Milliseconds(ms));  // The job's "I/O".
        absl::StrAppend(out, "SLEPT ", ms);
        return;
      }
      case kStats:
        out->append(Stats());
        return;
      case kFail:
        throw std::runtime_error(
            absl::StrCat("job failed: ", arg.empty() ? "FAIL" : arg));
      case kCrash:  // With a process pool, RunInProcess took it.
        throw BadRequest("CRASH needs --process_workers");
      case kQuit:
        *quit = true;
        out->append("BYE");
        return;
      case kOther:
        break;
    }
    if (word.empty()) throw BadRequest("empty request");
    std::string shown(word.substr(0, 32));
    for (char& ch : shown) {
      if (!absl::ascii_isprint(static_cast<unsigned char>(ch))) ch = '?';
    }
    throw BadRequest(
        absl::StrCat("unknown command '", shown,
                     "' (try ECHO, UPPER, PRIMES, SLEEP, STATS, FAIL, CRASH, "
                     "QUIT)"));
  }

  spindle::Queue<Job> queue_;
  const int workers_;
  std::vector<const TcpServer*> servers_;
  std::atomic<int> busy_{0};
  std::atomic<int64_t> done_{0};
  std::atomic<int64_t> failed_{0};
  std::array<Histogram, kNumCommands> latency_;
  spindle::ProcessPoolExecutor* procs_ = nullptr;
  std::unique_ptr<spindle::BoundedSemaphore> process_slots_;
  std::atomic<int64_t> crashed_{0};     // Process-pool jobs whose worker died.
  std::atomic<int64_t> in_process_{0};  // Submitted, not yet answered.
};

int Fail(const absl::Status& s, absl::string_view what) {
  std::fprintf(stderr, "job_server: %s: %s\n", std::string(what).c_str(),
               s.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int workers = absl::GetFlag(FLAGS_workers);
  const int queue_size = absl::GetFlag(FLAGS_queue_size);
  const int nloops = absl::GetFlag(FLAGS_loops);
  const int process_workers = absl::GetFlag(FLAGS_process_workers);
  if (workers < 1 || queue_size < 1 || nloops < 1 ||
      absl::GetFlag(FLAGS_max_line) < 1) {
    std::fprintf(stderr,
                 "job_server: --workers, --queue_size, --loops and "
                 "--max_line must be >= 1\n");
    return 2;
  }
  if (process_workers < 0) {
    std::fprintf(stderr, "job_server: --process_workers must be >= 0\n");
    return 2;
  }
  // Writing to a vanished client must be an error, not a process kill.
  signal(SIGPIPE, SIG_IGN);
  // SIGINT/SIGTERM are taken by the thread running loop 0 only: blocked
  // here, inherited blocked by every thread made from now on (workers,
  // other loops), unblocked in this thread once its handler is routed - so
  // the handler never interrupts a worker, and a signal that comes during
  // start-up waits for the handler instead of killing the process.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  Service service(queue_size, workers);
  // The process pool first, while this process has no other thread: its
  // fork server (which forks every worker) is a copy of the process as it
  // is now (see process_pool.h, "fork safety").
  std::unique_ptr<spindle::ProcessPoolExecutor> procs;
  if (process_workers > 0) {
    auto created =
        spindle::ProcessPoolExecutor::Create({.max_workers = process_workers});
    if (!created.ok()) return Fail(created.status(), "process pool");
    procs = *std::move(created);
    service.SetProcessPool(procs.get(), 4 * process_workers);
  }
  spindle::ThreadPoolExecutor pool(spindle::ThreadPoolExecutor::Options{
      .max_workers = workers, .thread_name_prefix = "job"});
  std::vector<spindle::Future<void>> worker_loops;
  for (int i = 0; i < workers; ++i) {
    worker_loops.push_back(pool.Submit([&service] { service.WorkerLoop(); }));
  }

  // The front end's handler: runs on a loop thread; never blocks.
  auto handler = [&service](absl::Span<TcpServer::Request> batch) {
    return service.Submit(batch);
  };

  TcpServer::Options options;
  options.hosts =
      absl::StrSplit(absl::GetFlag(FLAGS_bind), ',', absl::SkipWhitespace());
  options.port = absl::GetFlag(FLAGS_port);
  options.reuse_port = nloops > 1;
  options.max_line = static_cast<size_t>(absl::GetFlag(FLAGS_max_line));
  options.idle_timeout = absl::GetFlag(FLAGS_idle_timeout);
  options.max_connections =
      static_cast<size_t>(std::max(1, absl::GetFlag(FLAGS_max_connections)));

  std::vector<std::unique_ptr<EventLoop>> loops;
  std::vector<std::unique_ptr<TcpServer>> servers;
  for (int i = 0; i < nloops; ++i) {
    auto loop = EventLoop::Create();
    if (!loop.ok()) return Fail(loop.status(), "event loop");
    auto server = std::make_unique<TcpServer>(loop->get(), options, handler);
    if (absl::Status s = server->Start(); !s.ok()) return Fail(s, "listen");
    options.port = server->port();  // The others share the first's port.
    service.AddServer(server.get());
    loops.push_back(*std::move(loop));
    servers.push_back(std::move(server));
  }
  std::printf(
      "job_server: listening on %s port %d (%d loop%s, %d workers, "
      "%d worker processes, queue %d); Ctrl-C to stop\n",
      absl::GetFlag(FLAGS_bind).c_str(), servers[0]->port(), nloops,
      nloops == 1 ? "" : "s", workers, process_workers, queue_size);
  std::printf("listening on %s:%d\n", options.hosts[0].c_str(),
              servers[0]->port());
  std::fflush(stdout);

  // Ctrl-C / SIGTERM, routed to loop 0: every server shuts down gracefully,
  // and each loop stops once its server is done.
  const absl::Time start = absl::Now();
  const absl::Duration grace = absl::GetFlag(FLAGS_shutdown_grace);
  bool shutting_down = false;
  auto on_signal = [&] {
    if (shutting_down) {
      std::fprintf(stderr, "job_server: second signal, exiting now\n");
      std::_Exit(130);
    }
    shutting_down = true;
    std::fprintf(stderr,
                 "job_server: shutting down (finishing jobs in flight, up to "
                 "%s)\n",
                 absl::FormatDuration(grace).c_str());
    for (int i = 0; i < nloops; ++i) {
      EventLoop* loop = loops[i].get();
      TcpServer* server = servers[i].get();
      auto begin = [loop, server, grace] {
        server->Shutdown(grace, [loop] { loop->Stop(); });
      };
      if (i == 0) {
        begin();
      } else {
        loop->CallSoonThreadsafe(begin).IgnoreError();
      }
    }
  };
  for (int sig : {SIGINT, SIGTERM}) {
    if (absl::Status s = loops[0]->AddSignalHandler(sig, on_signal); !s.ok()) {
      return Fail(s, "signal handler");
    }
  }

  std::vector<std::thread> threads;
  for (int i = 1; i < nloops; ++i) {
    threads.emplace_back([&, i] {
      absl::Status s = loops[i]->RunForever();
      if (!s.ok()) Fail(s, "event loop");
    });
  }
  pthread_sigmask(SIG_UNBLOCK, &stop_signals, nullptr);  // Pending: now.
  absl::Status run = loops[0]->RunForever();
  for (std::thread& t : threads) t.join();

  // Every accepted job has been answered (or the grace period ran out):
  // release the workers and wait for them.
  service.queue().Shutdown();
  pool.Shutdown(/*wait=*/true);
  // PRIMES still in worker processes (if the grace period ran out) finish;
  // then the worker processes and their fork server exit and are reaped.
  if (procs != nullptr) procs->Shutdown(/*wait=*/true);
  const std::string summary = service.Summary(absl::Now() - start);
  servers.clear();
  loops.clear();
  std::printf("%s", summary.c_str());
  std::fflush(stdout);
  if (!run.ok()) return Fail(run, "event loop");
  return 0;
}
