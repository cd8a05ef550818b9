// Copyright 2026 The spindle Authors.
//
// -----------------------------------------------------------------------------
// File: line_service.h
// -----------------------------------------------------------------------------
//
// LineService: a line-protocol TCP service whose requests are handled by
// pooled workers - spindle's two halves, a selector-driven front end and
// producer-consumer workers, put together once, fairly and within bounds.
// Its user writes an Options struct and a handler:
//
//   #include "spindle/io/line_service.h"
//
//   int main() {
//     spindle::io::LineService service(
//         {.server = {.port = 7070}, .workers = 4},
//         [](spindle::io::Request& r) -> spindle::io::Answer {
//           return absl::AsciiStrToUpper(r.line());  // Runs on a worker.
//         });
//     absl::Status s = service.Run();  // Serves until SIGINT or SIGTERM.
//     if (!s.ok()) std::fprintf(stderr, "%s\n", s.ToString().c_str());
//     return s.ok() ? 0 : 1;
//   }
//
// What it is made of (all owned by the service):
//
//   clients --TCP--> EventLoop + TcpServer (one per loop thread, sharing the
//                    port with SO_REUSEPORT)
//                        | batch of request lines per loop iteration
//                        v
//                    fair, bounded hand-off: one FIFO lane per connection
//                        | round-robin over connections
//                        v
//                    `workers` worker threads (a ThreadPoolExecutor, or the
//                    user's) run the handler; replies go back to each
//                    connection's loop in request order, in batches
//
// Everything TcpServer does for the front end holds here (framing, reply
// order, per-connection and server-wide backpressure, the memory budget,
// idle timeout, connection limit, fd exhaustion, lingering close): see
// tcp_server.h; Options::server configures it.
//
// Handlers. Request lines go to the worker `Handler`, which returns an
// Answer:
//   * a reply line (std::string) - synchronous; the worker then takes the
//     next request;
//   * an error (a non-OK absl::Status or StatusOr) - answered
//     "ERR <message>": for the client's mistakes;
//   * a Future<std::string> - asynchronous: the worker moves on at once and
//     the reply is sent when the future completes (its error status is
//     answered "ERR <message>"), so a request that waits on something else
//     (a process-pool job, a call to another service) holds no worker;
//   * Answer::Later() after taking the request's Responder
//     (Request::TakeResponder) - asynchronous: answer it from anywhere,
//     any time (a Responder destroyed unanswered answers
//     "ERR internal error: no reply");
//   * Answer::Close(reply) - the reply, then the connection is closed.
// An optional `LoopHandler` sees each line first, on the loop thread: it
// returns std::nullopt to pass the line on to the workers, or answers it
// there (it must not block: a status report, or a timer on Request::loop()
// for a request that only waits), or returns Answer::Busy() to have the line
// offered again later (the connection stops reading meanwhile).
// An exception escaping a handler is answered "ERR internal error" (its
// text is logged on stderr, never sent to the client) and counted in
// Stats::internal_errors.
//
// Fairness: no client can starve the others. Each connection's requests
// wait in their own lane and workers serve the lanes round-robin (at most
// `quantum` requests per turn); at most max_running_per_connection workers
// serve one connection at once, and one connection holds at most
// max_queued_per_connection of the queue_size places. A request that turns
// out slow (over ~1 ms) marks its connection slow: its requests are then
// taken one at a time and never batched with other connections' requests,
// and the requests the worker had not started yet are handed back for idle
// workers. (Workers time cheap requests in runs of up to 8, reading the
// clock once per run: a slow request that follows cheap ones in a batch is
// noticed up to 7 cheap requests later, and marks the connections of its
// whole run slow until their next fast request; the command_stats latency
// of a cheap request is taken at the end of its run.) So a client that
// pipelines 512 expensive requests occupies at most max_running_per_connection
// workers, and another client's cheap request is served by the others at once.
// A worker takes about 100 us of work at once, judged by its recent cost
// per request (at most 1024 requests; one at a time once they cost 100 us
// or more) and wakes another worker only for the lanes it leaves behind:
// cheap requests are served by one warm worker, dear ones spread over all.
//
// Bounds: requests accepted and not yet finished by a worker - waiting, or
// in a worker's batch not yet done - queue_size (per connection:
// max_queued_per_connection); beyond them the front end stops reading the
// connection (nothing is dropped). Counting the batches means the requests
// a worker hands back never overfill the queue: Stats::queued stays within
// both bounds. Memory: the TcpServer's
// memory_budget per loop. Requests in flight per connection:
// server.max_pipelined.
//
// Shutdown (Shutdown(), or the first SIGINT/SIGTERM under Run()): the
// listeners close; lines received but not handed over are answered
// "ERR server shutting down"; requests already accepted are run and
// answered, for up to `shutdown_grace`. At the grace deadline the
// connections still open are closed, the requests not yet started are
// dropped (counted in Stats::dropped), asynchronous futures still pending
// are cancelled (Future::Cancel: a process-pool job not started yet never
// runs) and loop timers are discarded; the service ends as soon as the
// requests already running on workers return. Under Run(), a second
// SIGINT/SIGTERM at any point of the shutdown ends the process at once
// (exit status 130), even while running requests are awaited.
//
// Errors: Start()/Run() return TcpServer::Start's errors (InvalidArgument
// for a port outside [0, 65535] or an address that is not local, NotFound
// for an unresolvable host, AlreadyExists for an address in use) and
// InvalidArgument for zero workers, loops or queue_size; after a failed start
// nothing of the service is left running, so the caller can print the error and
// exit at once.
//
// Thread safety: Start, Shutdown, Wait, Run, port and stats may be called
// from any thread (Run/Wait block the caller). The worker Handler runs on
// several worker threads at once and must be thread-safe; the LoopHandler
// runs on the loop threads (several, with loops > 1). The destructor shuts
// the service down with no grace and waits for it to stop; it must not run
// on one of the service's own threads.
//
// Exit and fork: exit() (or returning from main) while a service runs -
// started and never destroyed, e.g. leaked - stops it first, with no grace
// (connections closed, queued requests dropped, running handlers awaited),
// before the thread pools are shut down (concurrency/internal/lifecycle.h),
// so it never holds the process. A child forked while a service runs has a
// copy of the object but none of its threads: it must not use or destroy it
// (exit() in the child leaves it alone).
//
// Signals: the service's threads block SIGINT and SIGTERM (and the
// stop_signals), so those signals never interrupt a handler. Run() routes
// the stop_signals to the first loop's thread, the only one that takes
// them: the calling thread blocks them until Run returns. SIGPIPE is set to
// be ignored by Start() (a vanished client must be an error, not a process
// kill).

#ifndef SPINDLE_IO_LINE_SERVICE_H_
#define SPINDLE_IO_LINE_SERVICE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "spindle/concurrency/future.h"
#include "spindle/concurrency/thread_pool.h"
#include "spindle/io/command_stats.h"
#include "spindle/io/event_loop.h"
#include "spindle/io/tcp_server.h"

namespace spindle::io {

class LineService;

namespace internal {
class RequestLanes;
struct Job;
struct ServiceShared;
}  // namespace internal

// Request
//
// One request line, as a LineService handler sees it. Valid only during the
// handler call (copy the line to keep it).
class Request {
 public:
  Request(const Request&) = delete;
  Request& operator=(const Request&) = delete;

  // The line, without its "\n" (or "\r\n").
  absl::string_view line() const { return line_; }
  // The connection's id (unique per loop; see loop_index()).
  uint64_t connection_id() const;
  // Which of the service's loops serves the connection (0-based).
  int loop_index() const { return loop_index_; }
  // The service handling the request (e.g. for its stats()).
  const LineService& service() const { return *service_; }
  // When the front end read the line.
  absl::Time received() const { return absl::FromUnixNanos(received_ns_); }
  // The loop that serves the connection. Its loop-thread-only calls
  // (CallLater, ...) may be used from a LoopHandler; from a worker, use
  // loop().CallSoonThreadsafe.
  EventLoop& loop() const { return *loop_; }
  // Takes the right to answer (see Answer::Later). Afterwards the handler
  // must return Answer::Later(). Checked crash if taken twice.
  Responder TakeResponder();
  // Names the request's command: its index in Options::command_stats, where
  // the service records the request when it is answered (see there).
  void set_command(int index) { command_ = index; }
  int command() const { return command_; }  // -1 until set.

 private:
  friend class LineService;
  Request(const LineService* service, absl::string_view line,
          Responder* responder, int64_t received_ns, EventLoop* loop,
          int loop_index)
      : service_(service),
        line_(line),
        responder_(responder),
        received_ns_(received_ns),
        loop_(loop),
        loop_index_(loop_index) {}

  const LineService* service_;

  absl::string_view line_;
  Responder* responder_;
  int64_t received_ns_;
  EventLoop* loop_;
  int loop_index_;
  int command_ = -1;
};

// Answer
//
// What a handler returns; see the file comment. Implicit from a reply
// string, a Status, a StatusOr<std::string> or a Future<std::string>.
class Answer {
 public:
  // Replies `reply` (one line; the service appends "\n").
  Answer(std::string reply) : kind_(Kind::kReply), text_(std::move(reply)) {}
  Answer(const char* reply) : Answer(std::string(reply)) {}
  // An error status is answered "ERR <message>"; OK is answered "OK".
  Answer(const absl::Status& status);
  // The value, or "ERR <message>".
  Answer(absl::StatusOr<std::string> result);
  // Answered when `future` completes: its value, or "ERR <message>" for its
  // error status ("ERR internal error" for an exception).
  Answer(Future<std::string> future)
      : kind_(Kind::kFuture), future_(std::move(future)) {}

  // The handler took the Responder (Request::TakeResponder) and answers
  // through it.
  static Answer Later() { return Answer(Kind::kLater, ""); }
  // Replies `reply`, then closes the connection (later requests of it are
  // dropped unanswered).
  static Answer Close(std::string reply) {
    return Answer(Kind::kClose, std::move(reply));
  }
  // LoopHandler only: not now - the line is offered again later (after any
  // request of the loop completes, or shortly), and the connection stops
  // reading meanwhile. From a worker Handler it is answered "ERR server
  // busy".
  static Answer Busy() { return Answer(Kind::kBusy, ""); }
  // Replies `text` without copying it into the Answer: it must stay valid
  // until the handler has returned (the service copies it at once) - e.g. a
  // part of Request::line(), or a constant. Saves an allocation per reply.
  static Answer View(absl::string_view text) {
    Answer a(Kind::kReply, "");
    a.view_ = text;
    a.has_view_ = true;
    return a;
  }

 private:
  friend class LineService;
  enum class Kind : uint8_t { kReply, kClose, kFuture, kLater, kBusy };
  Answer(Kind kind, std::string text) : kind_(kind), text_(std::move(text)) {}
  // What an exception escaping a handler is answered (a failure).
  static Answer InternalError() {
    Answer a(Kind::kReply, "ERR internal error");
    a.error_ = true;
    return a;
  }

  absl::string_view text() const {
    return has_view_ ? view_ : absl::string_view(text_);
  }

  Kind kind_;
  bool error_ = false;  // Made from an error status.
  bool has_view_ = false;
  std::string text_;
  absl::string_view view_;
  Future<std::string> future_;
};

// LineService
//
// See the file comment.
class LineService {
 public:
  struct Options {
    // The front end: hosts, port, line and connection limits, memory
    // budget, idle timeout... (see TcpServer::Options). With loops > 1,
    // server.max_connections and server.memory_budget apply per loop.
    TcpServer::Options server;
    // Event loops, each on its own thread, sharing the port
    // (SO_REUSEPORT) when more than one.
    int loops = 1;
    // Worker threads running the Handler (in an owned ThreadPoolExecutor,
    // or on `executor`).
    int workers = 4;
    // If set, the workers run as `workers` long-running tasks of this pool
    // (not owned; it must outlive the service and have room for them).
    ThreadPoolExecutor* executor = nullptr;
    // Linux, the owned pool only: its workers run under SCHED_BATCH
    // (ThreadPoolExecutor::Options::batch_scheduling; same CPU share, no
    // privilege needed), so a loop that hands requests over is not
    // preempted by the worker it wakes: it finishes its iteration (reads,
    // replies, writes) and the worker runs when the loop waits. Where the
    // workers share CPUs with the loop this halves the context switches per
    // hand-off; when every CPU is busy, a woken worker may wait for the
    // running thread's time slice to end (milliseconds at most: the
    // fairness probes of README's benchmarks showed no change). false:
    // normal scheduling. If the OS refuses SCHED_BATCH, the workers run
    // under normal scheduling. A user's `executor` is left as it is.
    bool batch_scheduling = true;
    // Requests accepted and not yet finished by a worker (waiting, or in a
    // worker's unfinished batch), all connections.
    size_t queue_size = 1024;
    // Of those, at most this many of one connection. 0: max(64,
    // queue_size / 8), at most queue_size.
    size_t max_queued_per_connection = 0;
    // Workers serving one connection at once. 0: max(1, workers / 2).
    // With more than 1, a connection's pipelined requests may run at the
    // same time on different workers (their replies still go out in
    // request order); 1 runs them one after another, in order - what a
    // protocol whose requests depend on each other (SET, then GET) needs.
    size_t max_running_per_connection = 0;
    // Requests of one connection a worker takes per turn.
    size_t quantum = 64;
    // How long a graceful shutdown lets accepted requests finish.
    absl::Duration shutdown_grace = absl::Seconds(10);
    // The signals Run() answers with a graceful shutdown (a second one ends
    // the process at once).
    std::vector<int> stop_signals = {2 /*SIGINT*/, 15 /*SIGTERM*/};
    // Prefix of log lines and thread names.
    std::string name = "line_service";
    // If set (not owned; it must outlive the service and its pending
    // futures), each request whose handler named its command
    // (Request::set_command) is recorded there when answered: its latency
    // from received() to the answer (for a Future, to its completion) and
    // whether it succeeded (not an error status, exception or failed
    // future). A request answered through its Responder (Answer::Later) is
    // the handler's to record. Costs no clock read of its own on a worker.
    CommandStats* command_stats = nullptr;
  };

  // Runs on a worker thread, concurrently with itself.
  using Handler = absl::AnyInvocable<Answer(Request&) const>;
  // Runs on a loop thread first; std::nullopt passes the line to the
  // workers. Must not block.
  using LoopHandler = absl::AnyInvocable<std::optional<Answer>(Request&) const>;

  // A snapshot of the service's counters (each read atomically, not all at
  // one instant).
  struct Stats {
    int64_t connections = 0;      // Open now.
    int64_t accepted = 0;         // Connections ever accepted.
    int64_t refused = 0;          // Over max_connections, or out of fds.
    int64_t idle_closed = 0;      // Closed by the idle timeout.
    int64_t requests = 0;         // Request lines accepted.
    int64_t oversize = 0;         // Lines over max_line.
    int64_t unanswered = 0;       // Accepted, reply not yet sent to the
                                  // connection's loop (queued, running,
                                  // in a worker's batch, or asynchronous).
    int64_t queued = 0;           // Accepted, not yet taken by a worker.
    int64_t running = 0;          // In workers' batches now.
    int64_t busy_workers = 0;     // Workers running requests now.
    int64_t answered = 0;         // Answered by workers (incl. async).
    int64_t internal_errors = 0;  // Handler exceptions.
    int64_t dropped = 0;          // Not started by the grace deadline.
    int64_t memory_used = 0;      // Front-end buffers (all loops).
    int64_t memory_budget = 0;    // Their budget (all loops).
  };

  LineService(Options options, Handler handler,
              LoopHandler loop_handler = nullptr);
  LineService(const LineService&) = delete;
  LineService& operator=(const LineService&) = delete;
  // Shutdown(ZeroDuration()) and Wait().
  ~LineService();

  // Binds every host and starts the loops and the workers; returns once the
  // service accepts connections. Errors: see the file comment;
  // kFailedPrecondition if already started. After an error nothing is
  // left running.
  absl::Status Start();

  // Begins a graceful shutdown with Options::shutdown_grace (or `grace`);
  // returns at once. Idempotent: a later call changes nothing (the first
  // grace period stands). No-op before Start().
  void Shutdown();
  void Shutdown(absl::Duration grace);

  // Blocks until the service has stopped after Shutdown (every loop and
  // worker thread has ended). Returns the first error a loop hit, if any.
  // Wakes for: the end of the shutdown. Returns at once if never started.
  absl::Status Wait();

  // Start(), then serves until a stop signal (Options::stop_signals) or
  // Shutdown(): the signal begins a graceful shutdown, a second one ends the
  // process at once (_exit(130), after a line on stderr). `on_started`, if
  // given, runs on the calling thread once the service accepts connections
  // (e.g. to print port()). Returns Start's error, or Wait's result.
  absl::Status Run(absl::AnyInvocable<void()> on_started = nullptr);

  // The bound port (valid after a successful Start()).
  int port() const { return port_.load(std::memory_order_acquire); }

  Stats stats() const;
  const Options& options() const { return options_; }

 private:
  struct Loop;

  absl::Status StartLocked(bool route_signals)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The TcpServer batch handler of loop `index` (on its thread).
  size_t Accept(int index, absl::Span<TcpServer::Request> batch);
  // Offers loop `l`'s collected jobs to the lanes; gives the responders of
  // those not taken back to `batch` (answers them once the lanes closed).
  void FlushOffers(Loop& l, absl::Span<TcpServer::Request> batch);
  // Whether `answer`'s request is recorded in command_stats when it is
  // delivered (a future's when it completes; Later's never).
  static bool RecordedOnDelivery(const Answer& answer) {
    return answer.kind_ != Answer::Kind::kFuture &&
           answer.kind_ != Answer::Kind::kLater;
  }
  // Whether it counts as a success in command_stats.
  static bool Succeeded(const Answer& answer) {
    return !answer.error_ && answer.kind_ != Answer::Kind::kBusy;
  }
  // Sends `answer` for `responder`'s request: through `replies` if given
  // (a worker's batch), or at once; a future is answered when it completes
  // (and counted in Stats::answered then): returns false for it.
  // Records a request of command `command` (if >= 0 and command_stats is
  // set) answered at `now_ns`.
  bool Deliver(Answer&& answer, Responder& responder, ReplyBatch* replies,
               int command = -1, int64_t received_ns = 0, int64_t now_ns = 0);
  void WorkerMain();
  // On loop 0's thread.
  void BeginShutdown(absl::Duration grace);
  void OnServerDone();
  void OnWorkersDone();

  const Options options_;
  const Handler handler_;
  const LoopHandler loop_handler_;
  std::shared_ptr<internal::ServiceShared> shared_;
  // Made by Start(), kept until destruction (stats stay readable).
  std::unique_ptr<internal::RequestLanes> lanes_;
  std::vector<std::unique_ptr<Loop>> loops_;
  std::unique_ptr<ThreadPoolExecutor> own_pool_;
  std::atomic<int> port_{0};

  mutable absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;  // Loops asked to stop.
  bool joining_ ABSL_GUARDED_BY(mu_) = false;  // A Wait() joins threads.
  bool done_ ABSL_GUARDED_BY(mu_) = false;     // Threads joined.
  absl::Status loop_error_ ABSL_GUARDED_BY(mu_);

  // Loop 0's thread only.
  bool shutting_down_ = false;
  int servers_running_ = 0;
  bool workers_done_ = false;

  std::atomic<int> workers_running_{0};
  std::atomic<int64_t> busy_{0};
  std::atomic<int64_t> running_{0};
  std::atomic<int64_t> dropped_{0};
};

}  // namespace spindle::io

#endif  // SPINDLE_IO_LINE_SERVICE_H_
