// Copyright 2026 The spindle Authors.

#include "spindle/io/line_service.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "spindle/concurrency/internal/lifecycle.h"
#include "spindle/concurrency/status.h"
#include "spindle/io/internal/request_lanes.h"

namespace spindle::io {
namespace internal {

// What asynchronous answers need after the service may be gone: counters
// and the futures still pending (cancelled at the grace deadline).
struct ServiceShared {
  std::atomic<int64_t> answered{0};
  std::atomic<int64_t> internal_errors{0};
  absl::Mutex mu;
  absl::flat_hash_set<FutureBase> pending ABSL_GUARDED_BY(mu);
  bool cancel_new ABSL_GUARDED_BY(mu) = false;  // Past the grace deadline.
  // Worker tasks started and not yet returned. A worker's last step, after
  // its last use of the service, so Wait() can tell when no worker runs
  // service code any more (with a user's executor nothing joins them).
  int workers_alive ABSL_GUARDED_BY(mu) = 0;
  std::string name;

  void WorkerExited() {
    absl::MutexLock lock(&mu);
    --workers_alive;
  }
  void AwaitWorkersExited() {
    absl::MutexLock lock(&mu);
    auto none = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
      return workers_alive == 0;
    };
    mu.Await(absl::Condition(&none));
  }

  void LogException(const char* where, const char* what) {
    // Internal details stay on the server (never sent to clients).
    const int64_t n = internal_errors.fetch_add(1, std::memory_order_relaxed);
    if (n < 10 || n % 1000 == 0) {
      std::fprintf(stderr, "%s: %s threw: %s (internal error #%lld)\n",
                   name.c_str(), where, what, static_cast<long long>(n + 1));
    }
  }
};

}  // namespace internal

namespace {

using internal::Job;
using internal::RequestLanes;

// Jobs a worker takes at once (and answers with one ReplyBatch at most):
// about kBatchNs of work at the recent cost per request, within [1,
// kMaxBatch]. A batch that takes the whole of a loop iteration's cheap
// requests leaves no lanes behind, so no second worker is woken for them:
// where it could not run alongside (one CPU) that wake-up only cost two
// context switches. Dearer requests make smaller batches, and the workers
// woken for the lanes left behind share them.
constexpr size_t kMaxBatch = 1024;
constexpr int64_t kBatchNs = 100'000;
// A request that runs longer than this is "slow" (see the file comment);
// replies collected before it are sent right after it.
constexpr int64_t kSlowNs = 1'000'000;
// Workers read the clock (for the stats and the slowness test) after every
// request while requests cost more than kCheapNs on average; after cheap
// ones, only every `window` requests, the window doubling up to kMaxWindow.
// A slow request is so noticed at most kMaxWindow - 1 cheap requests late.
constexpr int64_t kCheapNs = 20'000;
constexpr size_t kMaxWindow = 8;

uint64_t LaneKey(uint32_t loop, uint64_t conn_id) {
  return (conn_id << 8) | loop;
}

std::string ErrorReply(const absl::Status& s) {
  return absl::StrCat("ERR ", s.message());
}

sigset_t SignalSet(const std::vector<int>& signals) {
  sigset_t set;
  sigemptyset(&set);
  for (int s : signals) sigaddset(&set, s);
  return set;
}

// Blocks the stop signals in the calling thread (threads it starts inherit
// the mask) until destroyed.
class BlockSignals {
 public:
  // With `int_and_term`, SIGINT and SIGTERM too.
  BlockSignals(const std::vector<int>& signals, bool int_and_term) {
    sigset_t set = SignalSet(signals);
    if (int_and_term) {
      sigaddset(&set, SIGINT);
      sigaddset(&set, SIGTERM);
    }
    pthread_sigmask(SIG_BLOCK, &set, &old_);
  }
  ~BlockSignals() { pthread_sigmask(SIG_SETMASK, &old_, nullptr); }

 private:
  sigset_t old_;
};

// The services started and not yet destroyed, stopped (with no grace) by
// exit() before the pools are shut down: their workers wait for requests
// and would otherwise hold exit() forever.
struct ServiceRegistry {
  absl::Mutex mu;
  absl::flat_hash_set<LineService*> live ABSL_GUARDED_BY(mu);
};
spindle::internal::LeakedGlobal<ServiceRegistry> registry;

bool StopServicesAtExit() {
  ServiceRegistry& r = registry.Get();
  absl::MutexLock lock(&r.mu);  // Destructors wait; so do new Starts.
  for (LineService* s : r.live) s->Shutdown(absl::ZeroDuration());
  for (LineService* s : r.live) s->Wait().IgnoreError();
  const bool waited = !r.live.empty();
  r.live.clear();
  return waited;
}

// Called once started, without the service's lock (the exit step takes
// the registry's lock, then the service's).
void RegisterForExit(LineService* s) {
  {
    ServiceRegistry& r = registry.Get();
    absl::MutexLock lock(&r.mu);
    r.live.insert(s);
  }
  spindle::internal::SetExitStep(spindle::internal::ExitStep::kStopServices,
                                 &StopServicesAtExit);
}

// A forked child's copy of a service has no threads: never stop it there.
[[maybe_unused]] const bool kRegistryRenewedAtFork = [] {
  pthread_atfork(nullptr, nullptr, [] { registry.Renew(); });
  return true;
}();

void UnblockSignals(const std::vector<int>& signals) {
  const sigset_t set = SignalSet(signals);
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
}

// The second stop signal: the process ends at once, whatever it is doing.
void ExitNow(int) {
  static const char kMsg[] = "second stop signal: exiting now\n";
  ssize_t ignored = write(2, kMsg, sizeof(kMsg) - 1);
  (void)ignored;
  _exit(130);
}

}  // namespace

Answer::Answer(const absl::Status& status)
    : kind_(Kind::kReply),
      error_(!status.ok()),
      text_(status.ok() ? "OK" : ErrorReply(status)) {}

Answer::Answer(absl::StatusOr<std::string> result)
    : kind_(Kind::kReply),
      error_(!result.ok()),
      text_(result.ok() ? *std::move(result) : ErrorReply(result.status())) {}

uint64_t Request::connection_id() const { return responder_->connection_id(); }

Responder Request::TakeResponder() {
  ABSL_RAW_CHECK(responder_->valid(), "Request::TakeResponder: taken twice");
  return std::move(*responder_);
}

struct LineService::Loop {
  std::unique_ptr<EventLoop> loop;
  std::unique_ptr<TcpServer> server;
  std::thread thread;
  // Accept()'s scratch (loop thread only): unused jobs from the lanes'
  // storage, one per line of the batch; the first `used` hold requests.
  std::vector<Job*> jobs;
  size_t used = 0;
  std::vector<size_t> index;  // jobs[k] came from batch[index[k]].
  std::vector<RequestLanes::Offer> offers;
};

LineService::LineService(Options options, Handler handler,
                         LoopHandler loop_handler)
    : options_(std::move(options)),
      handler_(std::move(handler)),
      loop_handler_(std::move(loop_handler)),
      shared_(std::make_shared<internal::ServiceShared>()) {
  shared_->name = options_.name;
}

LineService::~LineService() {
  {
    ServiceRegistry& r = registry.Get();
    absl::MutexLock lock(&r.mu);
    r.live.erase(this);
  }
  Shutdown(absl::ZeroDuration());
  Wait().IgnoreError();
}

absl::Status LineService::Start() {
  {
    absl::MutexLock lock(&mu_);
    if (absl::Status s = StartLocked(/*route_signals=*/false); !s.ok()) {
      return s;
    }
  }
  RegisterForExit(this);
  return absl::OkStatus();
}

absl::Status LineService::StartLocked(bool route_signals) {
  if (started_) return absl::FailedPreconditionError("already started");
  const Options& o = options_;
  if (o.workers < 1 || o.loops < 1 || o.loops > 256 || o.queue_size < 1 ||
      o.quantum < 1) {
    return absl::InvalidArgumentError(
        "LineService: workers, loops (<= 256), queue_size and quantum must be "
        ">= 1");
  }
  // A vanished client must be an error, not a process kill.
  signal(SIGPIPE, SIG_IGN);

  RequestLanes::Options lanes;
  lanes.capacity = o.queue_size;
  lanes.max_queued = o.max_queued_per_connection != 0
                         ? o.max_queued_per_connection
                         : std::max<size_t>(64, o.queue_size / 8);
  lanes.max_queued = std::min(lanes.max_queued, o.queue_size);
  lanes.max_running = o.max_running_per_connection != 0
                          ? o.max_running_per_connection
                          : static_cast<size_t>(std::max(1, o.workers / 2));
  lanes.quantum = o.quantum;
  lanes_ = std::make_unique<RequestLanes>(lanes);

  // The loops and their servers; nothing runs yet, so a failure here just
  // unwinds.
  TcpServer::Options server = o.server;
  server.reuse_port = server.reuse_port || o.loops > 1;
  std::vector<std::unique_ptr<Loop>> loops;
  for (int i = 0; i < o.loops; ++i) {
    auto l = std::make_unique<Loop>();
    absl::StatusOr<std::unique_ptr<EventLoop>> loop = EventLoop::Create();
    if (!loop.ok()) return loop.status();
    l->loop = *std::move(loop);
    l->server = std::make_unique<TcpServer>(
        l->loop.get(), server, [this, i](absl::Span<TcpServer::Request> batch) {
          return Accept(i, batch);
        });
    if (absl::Status s = l->server->Start(); !s.ok()) return s;
    server.port = l->server->port();  // The others share the first's port.
    loops.push_back(std::move(l));
  }
  if (route_signals) {
    EventLoop* loop0 = loops[0]->loop.get();
    for (int sig : o.stop_signals) {
      absl::Status s = loop0->AddSignalHandler(sig, [this] {
        if (shutting_down_) ExitNow(0);
        std::fprintf(stderr,
                     "%s: shutting down (finishing requests in flight, up "
                     "to %s; a second signal exits at once)\n",
                     options_.name.c_str(),
                     absl::FormatDuration(options_.shutdown_grace).c_str());
        // From now on a stop signal ends the process at once, even after
        // this loop has stopped.
        struct sigaction sa;
        std::memset(&sa, 0, sizeof(sa));
        sa.sa_handler = &ExitNow;
        sigemptyset(&sa.sa_mask);
        for (int s2 : options_.stop_signals) sigaction(s2, &sa, nullptr);
        BeginShutdown(options_.shutdown_grace);
      });
      if (!s.ok()) return s;
    }
  }

  // Threads from here on: they start with the stop signals blocked.
  BlockSignals blocked(o.stop_signals, /*int_and_term=*/true);
  ThreadPoolExecutor* pool = o.executor;
  if (pool == nullptr) {
    ThreadPoolExecutor::Options po{.max_workers = o.workers,
                                   .thread_name_prefix = o.name};
#ifdef __linux__
    po.batch_scheduling = o.batch_scheduling;
#endif
    auto made = ThreadPoolExecutor::Create(po);
    if (!made.ok()) {
      // The OS refused SCHED_BATCH (checked on a probe thread): the
      // workers run under normal scheduling.
      po.batch_scheduling = false;
      made = std::make_unique<ThreadPoolExecutor>(po);
    }
    own_pool_ = *std::move(made);
    pool = own_pool_.get();
  }
  loops_ = std::move(loops);
  servers_running_ = o.loops;
  workers_running_.store(o.workers, std::memory_order_relaxed);
  for (int i = 0; i < o.workers; ++i) {
    {
      absl::MutexLock lock(&shared_->mu);
      ++shared_->workers_alive;
    }
    // The task keeps `shared` alive for the worker's last step.
    absl::Status s = pool->Execute([this, shared = shared_] {
      WorkerMain();
      shared->WorkerExited();
    });
    if (!s.ok()) {
      shared_->WorkerExited();  // This one never runs.
      // The workers already started leave once the lanes close; loops_
      // stays until they are gone (the last one posts to loop 0).
      workers_running_.fetch_sub(o.workers - i, std::memory_order_relaxed);
      lanes_->Close(/*drop=*/true);
      shared_->AwaitWorkersExited();
      if (own_pool_ != nullptr) own_pool_->Shutdown(/*wait=*/true);
      own_pool_.reset();
      loops_.clear();
      return s;
    }
  }
  for (int i = 0; i < o.loops; ++i) {
    Loop* l = loops_[i].get();
    const bool takes_signals = route_signals && i == 0;
    l->thread = std::thread([this, l, takes_signals] {
      // The routed stop signals are delivered to this thread, blocked in
      // its selector (not to a thread in a futex wait, where a sanitizer's
      // deferred handler would never run).
      if (takes_signals) UnblockSignals(options_.stop_signals);
      absl::Status s = l->loop->RunForever();
      if (!s.ok()) {
        absl::MutexLock lock(&mu_);
        if (loop_error_.ok()) loop_error_ = s;
      }
    });
  }
  port_.store(loops_[0]->server->port(), std::memory_order_release);
  started_ = true;
  return absl::OkStatus();
}

absl::Status LineService::Run(absl::AnyInvocable<void()> on_started) {
  // Blocked here until the service has stopped: a stop signal goes to loop
  // 0's thread (one that arrives while starting waits for it).
  BlockSignals blocked(options_.stop_signals, /*int_and_term=*/false);
  {
    absl::MutexLock lock(&mu_);
    if (absl::Status s = StartLocked(/*route_signals=*/true); !s.ok()) {
      return s;
    }
  }
  RegisterForExit(this);
  if (on_started != nullptr) on_started();
  return Wait();
}

void LineService::Shutdown() { Shutdown(options_.shutdown_grace); }

void LineService::Shutdown(absl::Duration grace) {
  absl::MutexLock lock(&mu_);
  if (!started_ || stopped_ || loops_.empty()) return;
  loops_[0]
      ->loop->CallSoonThreadsafe([this, grace] { BeginShutdown(grace); })
      .IgnoreError();
}

absl::Status LineService::Wait() {
  {
    absl::MutexLock lock(&mu_);
    if (!started_) return absl::OkStatus();
    mu_.Await(absl::Condition(&stopped_));
    if (joining_) {
      mu_.Await(absl::Condition(&done_));
      return loop_error_;
    }
    joining_ = true;
  }
  for (auto& l : loops_) {
    if (l->thread.joinable()) l->thread.join();
  }
  // The last worker posted OnWorkersDone and may still be inside loop 0's
  // CallSoonThreadsafe: wait until every worker is past its last use of the
  // service (a user's executor is not joined below).
  shared_->AwaitWorkersExited();
  if (own_pool_ != nullptr) own_pool_->Shutdown(/*wait=*/true);
  absl::MutexLock lock(&mu_);
  done_ = true;
  return loop_error_;
}

// --- the front end (loop threads) ---------------------------------------

size_t LineService::Accept(int index, absl::Span<TcpServer::Request> batch) {
  Loop& l = *loops_[index];
  l.jobs.clear();
  l.used = 0;
  l.index.clear();
  l.offers.clear();
  lanes_->NewJobs(batch.size(), &l.jobs);
  const int64_t now = absl::GetCurrentTimeNanos();  // One read per batch.
  uint64_t refused_conn = 0;  // Its later lines keep their responders.
  bool refused = false;
  for (size_t i = 0; i < batch.size(); ++i) {
    TcpServer::Request& req = batch[i];
    const uint64_t conn = req.responder.connection_id();
    if (refused && conn == refused_conn) continue;
    refused = false;
    const uint64_t key = LaneKey(static_cast<uint32_t>(index), conn);
    if (loop_handler_ != nullptr) {
      Request r(this, req.line, &req.responder, now, l.loop.get(), index);
      std::optional<Answer> answer;
      try {
        answer = loop_handler_(r);
      } catch (const std::exception& e) {
        shared_->LogException("loop handler", e.what());
        answer = Answer::InternalError();
      } catch (...) {
        shared_->LogException("loop handler", "unknown exception");
        answer = Answer::InternalError();
      }
      if (answer.has_value()) {
        if (answer->kind_ == Answer::Kind::kBusy) {
          refused = true;
          refused_conn = conn;
          continue;
        }
        Deliver(*std::move(answer), req.responder, nullptr, r.command_, now);
        // This line is taken, so the connection's lines before it must be
        // too (what a connection leaves untaken is a suffix).
        if (!l.offers.empty() && l.offers.back().key == key) {
          l.offers.back().must_take = l.used - l.offers.back().taken;
        }
        continue;
      }
    }
    if (l.offers.empty() || l.offers.back().key != key) {
      // `taken` holds the offer's first job until FlushOffers.
      l.offers.push_back(RequestLanes::Offer{key, {}, l.used, 0});
    }
    // Written once, here; only the job's address moves from now on.
    Job& job = *l.jobs[l.used++];
    job.line.Assign(req.line);
    job.responder = std::move(req.responder);
    job.received_ns = now;
    job.key = key;
    job.loop = static_cast<uint32_t>(index);
    l.index.push_back(i);
  }
  FlushOffers(l, batch);
  return batch.size();
}

void LineService::FlushOffers(Loop& l, absl::Span<TcpServer::Request> batch) {
  for (size_t k = 0; k < l.offers.size(); ++k) {
    const size_t begin = l.offers[k].taken;
    const size_t end = k + 1 < l.offers.size() ? l.offers[k + 1].taken : l.used;
    l.offers[k].jobs = absl::MakeSpan(l.jobs).subspan(begin, end - begin);
  }
  if (l.used > 0) lanes_->OfferMany(absl::MakeSpan(l.offers));
  // Not taken (lane or queue full): the responders go back, so the server
  // keeps those lines and offers them again later. Once the lanes are
  // closed (shutting down), they are answered instead. Those jobs, and the
  // ones not used, go back to the lanes' storage.
  const bool closed = lanes_->closed();
  size_t base = 0;
  size_t unused = 0;  // Compacted to the front of l.jobs.
  for (const RequestLanes::Offer& o : l.offers) {
    for (size_t k = base + o.taken; k < base + o.jobs.size(); ++k) {
      Responder& r = batch[l.index[k]].responder;
      r = std::move(l.jobs[k]->responder);
      if (closed) r.Reply("ERR server shutting down");
      l.jobs[unused++] = l.jobs[k];
    }
    base += o.jobs.size();
  }
  for (size_t k = l.used; k < l.jobs.size(); ++k) l.jobs[unused++] = l.jobs[k];
  lanes_->Recycle(absl::MakeSpan(l.jobs).first(unused));
  l.jobs.clear();
  l.used = 0;
  l.index.clear();
  l.offers.clear();
}

// --- answers -------------------------------------------------------------

bool LineService::Deliver(Answer&& answer, Responder& responder,
                          ReplyBatch* replies, int command, int64_t received_ns,
                          int64_t now_ns) {
  CommandStats* const stats = command >= 0 ? options_.command_stats : nullptr;
  if (stats != nullptr && RecordedOnDelivery(answer)) {
    if (now_ns == 0) now_ns = absl::GetCurrentTimeNanos();
    stats->RecordNanos(static_cast<size_t>(command), now_ns - received_ns,
                       Succeeded(answer));
  }
  switch (answer.kind_) {
    case Answer::Kind::kReply:
    case Answer::Kind::kClose: {
      const bool close = answer.kind_ == Answer::Kind::kClose;
      if (replies != nullptr) {
        replies->Add(responder, answer.text(), close);
      } else if (answer.has_view_) {
        responder.Reply(std::string(answer.view_), close);
      } else {
        responder.Reply(std::move(answer.text_), close);
      }
      return true;
    }
    case Answer::Kind::kBusy:
      if (replies != nullptr) {
        replies->Add(responder, "ERR server busy");
      } else {
        responder.Reply("ERR server busy");
      }
      return true;
    case Answer::Kind::kLater:
      if (responder.valid()) {
        // Said "later" but kept the responder: nobody can answer it now.
        shared_->LogException("handler",
                              "returned Answer::Later() without taking the "
                              "responder");
        responder.Reply("ERR internal error");
      }
      return true;
    case Answer::Kind::kFuture:
      break;
  }
  Future<std::string> future = std::move(answer.future_);
  if (!future.valid()) {
    shared_->LogException("handler", "returned an invalid future");
    responder.Reply("ERR internal error");
    return true;
  }
  {
    absl::MutexLock lock(&shared_->mu);
    if (shared_->cancel_new) {
      future.Cancel();
    } else {
      shared_->pending.insert(future);
    }
  }
  // The service may be gone when this runs: it holds `shared` only.
  future.AddDoneCallback([shared = shared_, r = std::move(responder), stats,
                          command,
                          received_ns](const Future<std::string>& f) mutable {
    std::string reply;
    bool ok = false;
    try {
      absl::StatusOr<std::string> result = f.Result();
      ok = result.ok();
      reply = result.ok() ? *std::move(result) : ErrorReply(result.status());
    } catch (const std::exception& e) {
      shared->LogException("asynchronous answer", e.what());
      reply = "ERR internal error";
    } catch (...) {
      shared->LogException("asynchronous answer", "unknown exception");
      reply = "ERR internal error";
    }
    {
      absl::MutexLock lock(&shared->mu);
      shared->pending.erase(f);
    }
    shared->answered.fetch_add(1, std::memory_order_relaxed);
    if (stats != nullptr) {
      stats->RecordNanos(static_cast<size_t>(command),
                         absl::GetCurrentTimeNanos() - received_ns, ok);
    }
    r.Reply(std::move(reply));
  });
  return false;
}

// --- the workers ---------------------------------------------------------

void LineService::WorkerMain() {
  std::vector<Job*> jobs;
  std::vector<RequestLanes::Ticket> tickets;
  jobs.reserve(kMaxBatch);
  ReplyBatch replies;
  CommandStats* const stats = options_.command_stats;
  // The requests run since the clock was last read: their stats wait for
  // the next reading, which also says whether they were slow.
  struct Ran {
    size_t ticket;  // Index into `tickets` (its lane).
    int command;    // For the stats; < 0: nothing to record.
    int64_t received_ns;
    bool ok;
  };
  std::array<Ran, kMaxWindow> ran;
  // This worker's recent cost per request (an average over its windows),
  // which sizes its batches; it starts as if requests cost kCheapNs.
  int64_t cost_ns = kCheapNs;
  auto batch_size = [&cost_ns] {
    return static_cast<size_t>(
        std::clamp<int64_t>(kBatchNs / std::max<int64_t>(cost_ns, 1), 1,
                            static_cast<int64_t>(kMaxBatch)));
  };
  // After the first batch, each Take follows this worker's Finish/GiveBack
  // with `returning`: requests that come of its replies wait for it rather
  // than wake another worker.
  bool returning = false;
  while (lanes_->Take(batch_size(), &jobs, &tickets, returning)) {
    returning = true;
    busy_.fetch_add(1, std::memory_order_relaxed);
    running_.fetch_add(static_cast<int64_t>(jobs.size()),
                       std::memory_order_relaxed);
    size_t done = 0;
    size_t ticket = 0, ticket_left = tickets.empty() ? 0 : tickets[0].count;
    int64_t started = absl::GetCurrentTimeNanos();
    // Requests per clock reading (see kMaxWindow): each batch starts at
    // one, so a slow lane's request (alone in its batch) is timed exactly.
    size_t window = 1;
    size_t in_window = 0;
    int64_t answered = 0;
    // Reads the clock: records the stats of the requests run since the last
    // reading, marks their lanes slow or not, sizes the next window.
    // Returns whether they were slow (together over kSlowNs: with more than
    // one, every lane of the window is marked, as any may hold the slow one).
    auto read_clock = [&]() -> bool {
      const int64_t now = absl::GetCurrentTimeNanos();
      const int64_t took = now - started;
      const bool slow = took > kSlowNs;
      // Requests of one command read in one front-end batch share a
      // latency (the common case): one record counts the run of them.
      for (size_t i = 0; i < in_window;) {
        const Ran& x = ran[i];
        size_t same = 1;
        while (i + same < in_window && ran[i + same].command == x.command &&
               ran[i + same].received_ns == x.received_ns &&
               ran[i + same].ok == x.ok) {
          ++same;
        }
        if (x.command >= 0) {
          stats->RecordNanos(static_cast<size_t>(x.command),
                             now - x.received_ns, x.ok,
                             static_cast<int64_t>(same));
        }
        i += same;
      }
      // Each lane once (a lane's requests are consecutive in the batch).
      for (size_t i = 0; i < in_window; ++i) {
        if (i == 0 || ran[i].ticket != ran[i - 1].ticket) {
          RequestLanes::MarkSlow(tickets[ran[i].ticket], slow);
        }
      }
      const bool cheap = took <= static_cast<int64_t>(in_window) * kCheapNs;
      // A moving average (1/4 weight to the new window), bounded so that
      // one very slow request does not keep batches small for long.
      const int64_t per_request =
          std::min(took / static_cast<int64_t>(in_window), kSlowNs);
      cost_ns += (per_request - cost_ns) / 4;
      window = cheap ? std::min(2 * window, kMaxWindow) : 1;
      in_window = 0;
      started = now;
      return slow;
    };
    for (; done < jobs.size(); ++done) {
      if (lanes_->dropping()) {
        if (in_window > 0) read_clock();
        break;
      }
      Job& job = *jobs[done];
      Request r(this, job.line.view(), &job.responder, job.received_ns,
                loops_[job.loop]->loop.get(), static_cast<int>(job.loop));
      // Made in place from the handler's return value (never moved).
      Answer answer = [&]() -> Answer {
        try {
          return handler_(r);
        } catch (const std::exception& e) {
          shared_->LogException("handler", e.what());
        } catch (...) {
          shared_->LogException("handler", "unknown exception");
        }
        // It threw.
        return job.responder.valid() ? Answer::InternalError()
                                     : Answer::Later();
      }();
      while (ticket_left == 0 && ticket + 1 < tickets.size()) {
        ticket_left = tickets[++ticket].count;
      }
      --ticket_left;
      // A future's latency is recorded by its callback (Deliver), the
      // others' at the next clock reading.
      const bool future = answer.kind_ == Answer::Kind::kFuture;
      const bool record =
          stats != nullptr && r.command_ >= 0 && RecordedOnDelivery(answer);
      ran[in_window++] = Ran{ticket, record ? r.command_ : -1, job.received_ns,
                             Succeeded(answer)};
      // A future is counted as answered by its callback.
      if (Deliver(std::move(answer), job.responder, &replies,
                  future ? r.command_ : -1, job.received_ns)) {
        ++answered;
      }
      if (in_window < window && done + 1 < jobs.size()) continue;
      if (read_clock()) {
        // Send what is done; hand the rest back for idle workers.
        replies.Flush();
        ++done;
        break;
      }
    }
    shared_->answered.fetch_add(answered, std::memory_order_relaxed);
    running_.fetch_sub(static_cast<int64_t>(jobs.size()),
                       std::memory_order_relaxed);
    // Finish (or hand back) before sending the replies: the lanes count a
    // batch against their bounds until then, and the front end retries the
    // connections it could not hand over as the replies arrive.
    if (done < jobs.size()) {
      dropped_.fetch_add(
          static_cast<int64_t>(lanes_->GiveBack(
              absl::MakeSpan(jobs).subspan(done), tickets, /*returning=*/true)),
          std::memory_order_relaxed);
    } else {
      lanes_->Finish(tickets, /*returning=*/true);
    }
    tickets.clear();
    replies.Flush();
    // The jobs run (their responders answered) go back to the storage.
    lanes_->Recycle(absl::MakeSpan(jobs).first(done));
    busy_.fetch_sub(1, std::memory_order_relaxed);
    jobs.clear();
  }
  if (workers_running_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    // The last worker out: loop 0 finishes the shutdown.
    loops_[0]
        ->loop->CallSoonThreadsafe([this] { OnWorkersDone(); })
        .IgnoreError();
  }
}

// --- shutdown (loop 0's thread) ------------------------------------------

void LineService::BeginShutdown(absl::Duration grace) {
  if (shutting_down_) return;
  shutting_down_ = true;
  for (size_t i = 0; i < loops_.size(); ++i) {
    Loop* l = loops_[i].get();
    auto begin = [this, l, grace] {
      l->server->Shutdown(grace, [this] {
        loops_[0]
            ->loop->CallSoonThreadsafe([this] { OnServerDone(); })
            .IgnoreError();
      });
    };
    if (i == 0) {
      begin();
    } else {
      l->loop->CallSoonThreadsafe(std::move(begin)).IgnoreError();
    }
  }
}

void LineService::OnServerDone() {
  if (--servers_running_ > 0) return;
  // Every connection is closed (all answered, or the grace deadline came):
  // what is still queued can never be answered.
  dropped_.fetch_add(static_cast<int64_t>(lanes_->Close(/*drop=*/true)),
                     std::memory_order_relaxed);
  std::vector<FutureBase> pending;
  {
    absl::MutexLock lock(&shared_->mu);
    shared_->cancel_new = true;
    pending.assign(shared_->pending.begin(), shared_->pending.end());
  }
  for (const FutureBase& f : pending) f.Cancel();
  if (workers_running_.load(std::memory_order_acquire) == 0) OnWorkersDone();
}

void LineService::OnWorkersDone() {
  if (servers_running_ > 0 || workers_done_) return;
  workers_done_ = true;
  for (auto& l : loops_) l->loop->Stop();
  absl::MutexLock lock(&mu_);
  stopped_ = true;
}

LineService::Stats LineService::stats() const {
  Stats s;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& l : loops_) {
      const TcpServer::Stats& t = l->server->stats();
      s.connections += t.connections.load(std::memory_order_relaxed);
      s.accepted += t.accepted.load(std::memory_order_relaxed);
      s.refused += t.rejected_busy.load(std::memory_order_relaxed) +
                   t.rejected_no_fds.load(std::memory_order_relaxed);
      s.idle_closed += t.idle_closed.load(std::memory_order_relaxed);
      s.requests += t.requests.load(std::memory_order_relaxed);
      s.oversize += t.oversize.load(std::memory_order_relaxed);
      s.unanswered += t.pending.load(std::memory_order_relaxed);
      s.memory_used += t.memory_used.load(std::memory_order_relaxed);
      s.memory_budget +=
          static_cast<int64_t>(l->server->options().memory_budget);
    }
    // Start() sets lanes_ under mu_.
    s.queued = lanes_ != nullptr ? static_cast<int64_t>(lanes_->queued()) : 0;
  }
  s.running = running_.load(std::memory_order_relaxed);
  s.busy_workers = busy_.load(std::memory_order_relaxed);
  s.answered = shared_->answered.load(std::memory_order_relaxed);
  s.internal_errors = shared_->internal_errors.load(std::memory_order_relaxed);
  s.dropped = dropped_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace spindle::io
