// Copyright 2026 The spindle Authors.
//
// -----------------------------------------------------------------------------
// File: tcp_server.h
// -----------------------------------------------------------------------------
//
// TcpServer: a line-oriented TCP front end that runs on an EventLoop and
// hands each request line to a handler, which may answer it later from any
// thread (typically a ThreadPoolExecutor worker fed through a bounded
// spindle::Queue). Replies go back to each connection in request order, even
// when the jobs finish out of order.
//
//   auto loop = *EventLoop::Create();
//   TcpServer server(loop.get(), {.port = 7070},
//       [&](absl::string_view line, Responder& r) -> absl::Status {
//         Job job{std::string(line), std::move(r)};
//         if (absl::Status s = queue.TryPut(std::move(job)); !s.ok()) {
//           r = std::move(job.responder);  // Not taken: give it back.
//           return s;                      // IsFull: retried later.
//         }
//         return absl::OkStatus();
//       });
//   server.Start();            // listen; prints nothing
//   loop->RunForever();
//
// Protocol and framing: requests are lines ended by "\n" (a "\r" before it
// is dropped). A line longer than Options::max_line bytes (without its
// newline) - or that many bytes with no newline yet - gets the reply
// "ERR line too long (max N bytes)" after the replies of the requests before
// it, and the connection is then closed; the server never buffers more than
// max_line plus one read chunk of a connection's input. Replies are lines
// too: the server appends "\n" to each. At end of stream (the peer's
// half-close) a last line without newline still counts as a request; the
// replies are written and the connection is closed.
//
// Backpressure (memory stays bounded whatever clients do):
//  * Per connection, the server stops reading while (a) its unsent output is
//    above output_high_water (until it drains below output_low_water), or
//    (b) max_pipelined requests of it are still unanswered. A client that
//    never reads thus costs at most ~output_high_water + max_pipelined
//    replies, and never slows other connections (writes never block).
//  * Server-wide, reading stops on every connection while more than
//    pending_high_water requests are in flight, and resumes at
//    pending_low_water.
//  * Server-wide memory (memory_budget, default 64 MiB): the server counts
//    what its connections hold - input read but not handed over, replies
//    not yet sent, and for each request in flight the bytes of its line
//    from hand-over until its reply arrives (then the reply's bytes) - in
//    Stats::memory_used. Each connection has a floor F = max_line + 2
//    (one complete request line) it may always read up to, so a client
//    that reads its replies is always served. Beyond its floor a
//    connection is read while the server is under budget, and over budget
//    only while it holds less than its fair share,
//    max(memory_budget / open connections, F), and the total stays under
//    the ceiling below; connections held back resume as memory is
//    released (Stats::memory_paused counts them). Nothing accepted is
//    dropped. The bound, at every moment:
//      memory_used <= memory_budget + open connections * (max_line + 2)
//                     + the bytes by which replies held exceed the request
//                       lines they answer (none for an echo; the server's
//                       own short ERR replies count here too).
//    Input is read into one buffer the connections share; a connection
//    keeps only its unhandled input (a partial line, or lines waiting for
//    backpressure), so an idle connection holds no read buffer. Nor is the
//    capacity of a connection's write buffer once its bytes are sent: it
//    keeps up to 64 KiB of it while it has requests in flight (so that a
//    pipelining client's replies do not regrow it per batch), 4 KiB once
//    it has none. The kernel's socket buffers are not counted (see
//    socket_send_buffer).
//  * A handler that returns IsFull (its queue is full) keeps the line where
//    it is: the connection stops reading, and the same line is offered again
//    as soon as any request of this server completes, or after
//    full_retry_delay otherwise. Nothing is dropped.
//
// Limits and faults:
//  * max_connections: a connection accepted beyond it is sent
//    Options::busy_message and closed at once (rather than left in the
//    kernel backlog, where clients would hang without knowing why and
//    SYN-queue state would still be spent).
//  * idle_timeout: a connection with no complete request line and no write
//    progress for that long - and no request in flight - is sent
//    "ERR idle timeout" and closed. Trickling bytes without finishing lines
//    (slowloris) does not count as activity. Waiting on the server is not
//    idleness: a connection whose input is held back by the server's own
//    backpressure (a line the handler did not take - IsFull - or the
//    server-wide pending_high_water pause) is never timed out for it; its
//    clock restarts when the hold ends. (The memory_budget pause never
//    holds back a complete line: hand-over needs no memory, and a
//    connection held by it has requests in flight, unsent replies, or a
//    complete line that one of the holds above keeps.)
//  * EMFILE/ENFILE on accept: the server keeps one reserve descriptor; when
//    accept fails for lack of descriptors it frees the reserve, accepts the
//    pending connection, sends "ERR server out of file descriptors" and
//    closes it, then takes the reserve again - so the listen backlog drains
//    instead of making the loop spin. If even that fails, accepting pauses
//    for 100 ms.
//  * Resets (ECONNRESET, EPIPE) close the connection at once; replies still
//    to come for it are discarded. A half-close (the peer's FIN) stops
//    reading but the remaining replies are still written.
//  * Connections are closed "lingering": after the last reply the server
//    shuts down its sending side and discards input until the peer closes
//    (at most linger_timeout), so a reply followed by close is not lost to a
//    TCP reset.
//
// Graceful shutdown (Shutdown(grace, done)): stops accepting (closes the
// listeners); stops reading; request lines already received in full but not
// yet handed to the handler get "ERR server shutting down"; requests already
// handed over are waited for and their replies flushed; each connection is
// closed once it is done; `done` runs when all are closed, or at the grace
// deadline, when whatever remains is closed at once.
//
// Time: every delay here (idle_timeout, linger_timeout, full_retry_delay,
// the accept pause, the shutdown grace) runs on the EventLoop's monotonic
// clock (see event_loop.h), so setting the system clock neither closes
// connections early nor holds a shutdown back.
//
// Thread safety: a TcpServer belongs to its EventLoop's thread: construct,
// Start, Shutdown and destroy it there (or while the loop is not running).
// Responder::Reply may be called from any thread. stats() may be read from
// any thread (relaxed counters). The handler runs on the loop thread.

#ifndef SPINDLE_IO_TCP_SERVER_H_
#define SPINDLE_IO_TCP_SERVER_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "spindle/io/event_loop.h"
#include "spindle/io/internal/reply_order.h"
#include "spindle/io/socket.h"

namespace spindle::io {

class TcpServer;

namespace internal {
class Acceptor;
struct Connection;
class IdleTracker;
class MemoryBudget;
struct IdleNode;
enum class LineKind;
}  // namespace internal

// Responder
//
// The right, and duty, to answer one request. Move-only. `Reply` sends one
// reply line (the server appends "\n"); with `close_after`, the connection is
// closed once that reply is written (later requests are dropped unanswered).
// A Responder destroyed without replying answers
// "ERR internal error: no reply", so a request is never left hanging.
// Replying after the connection closed, or after the server was destroyed,
// does nothing.
//
// Thread safety: Reply may be called from any thread; one Responder must
// not be used by two threads at once. Everything before Reply
// happens-before the reply is written by the loop thread.
class Responder {
 public:
  Responder() = default;
  Responder(Responder&& other) noexcept
      : shared_(other.shared_), conn_id_(other.conn_id_), seq_(other.seq_) {
    other.shared_ = nullptr;
  }
  // An armed responder assigned to answers "no reply" first (as if
  // destroyed). Inline: most are assigned to empty ones.
  Responder& operator=(Responder&& other) noexcept {
    if (this != &other) {
      if (shared_ != nullptr) AnswerNoReply();
      shared_ = other.shared_;
      other.shared_ = nullptr;
      conn_id_ = other.conn_id_;
      seq_ = other.seq_;
    }
    return *this;
  }
  Responder(const Responder&) = delete;
  Responder& operator=(const Responder&) = delete;
  // Inline: most responders are destroyed empty (moved from, or replied).
  ~Responder() {
    if (shared_ != nullptr) AnswerNoReply();
  }

  // Answers the request; afterwards valid() is false. Checked crash if
  // !valid().
  void Reply(std::string line, bool close_after = false);
  bool valid() const { return shared_ != nullptr; }
  // The connection's id (unique within its server).
  uint64_t connection_id() const { return conn_id_; }

 private:
  friend class TcpServer;
  friend class ReplyBatch;
  // Forgets the request without answering it.
  void Disarm();
  // Answers "ERR internal error: no reply" (the destructor's slow path).
  void AnswerNoReply();
  // `shared` must already count this responder (ServerShared::Acquire).
  Responder(internal::ServerShared* shared, uint64_t conn_id, uint64_t seq)
      : shared_(shared), conn_id_(conn_id), seq_(seq) {}
  // Counted reference (see ServerShared): released by Reply, Disarm or a
  // ReplyBatch.
  internal::ServerShared* shared_ = nullptr;
  uint64_t conn_id_ = 0;
  uint64_t seq_ = 0;
};

// ReplyBatch
//
// Answers many requests at once: Add() collects replies (copying the text),
// Flush() hands everything collected to the servers' loop threads with one
// lock and at most one loop wake-up per server, instead of one of each per
// Reply. Replies keep their per-connection order as with Responder::Reply
// (the order of requests, not of Adds). Useful for a worker that takes a
// batch of jobs off a queue (Queue::GetMany) and answers them together.
// Replies added for different servers are fine (the batch flushes when the
// server changes). The destructor flushes.
//
// Thread safety: a ReplyBatch belongs to one thread at a time (not
// thread-safe); different batches may be used concurrently. Everything
// before Add happens-before the reply is written by the loop thread.
class ReplyBatch {
 public:
  ReplyBatch() = default;
  ReplyBatch(const ReplyBatch&) = delete;
  ReplyBatch& operator=(const ReplyBatch&) = delete;
  ~ReplyBatch() { Flush(); }

  // Answers `r`'s request with `line` (the server appends "\n"), as
  // r.Reply(line, close_after) would, but only once Flush() runs.
  // Afterwards r.valid() is false. Checked crash if !r.valid().
  void Add(Responder& r, absl::string_view line, bool close_after = false);
  // Hands the collected replies to their loops; no-op when empty.
  void Flush();
  // Replies added since the last Flush.
  size_t size() const { return refs_.size(); }
  bool empty() const { return refs_.empty(); }

 private:
  // The server of the replies in refs_; holds one reference per reply.
  internal::ServerShared* shared_ = nullptr;
  std::string text_;
  std::vector<internal::ReplyRef> refs_;
};

// TcpServer
//
// See the file comment.
class TcpServer {
 public:
  struct Options {
    // Addresses to listen on, one listener each: IPv4 or IPv6 literals
    // ("127.0.0.1", "::1", "0.0.0.0", "::" - the last is dual-stack where
    // the system allows), or host names, resolved as Python's
    // socket.bind((host, port)) does (getaddrinfo; the first IPv4 address,
    // else the first IPv6 one: "localhost" is the loopback address; ""
    // is the IPv4 wildcard).
    std::vector<std::string> hosts = {"127.0.0.1"};
    // In [0, 65535]; 0 picks a free port (the first host's; the others
    // share it); see port().
    int port = 0;
    int backlog = 1024;
    // SO_REUSEPORT: several servers (one per loop thread) may listen on the
    // same port; the kernel spreads connections among them.
    bool reuse_port = false;
    // Connections accepted per readiness event of a listener.
    int accept_batch = 64;
    // Longest request line, in bytes, without its newline.
    size_t max_line = 4096;
    // Open connections at most; see the file comment.
    size_t max_connections = 10000;
    std::string busy_message = "ERR server busy: too many connections";
    // Zero or infinite: no idle timeout.
    absl::Duration idle_timeout = absl::ZeroDuration();
    // Per-connection unsent output that pauses / resumes reading.
    size_t output_high_water = 256 * 1024;
    size_t output_low_water = 64 * 1024;
    // Unanswered requests per connection that pause its reading.
    size_t max_pipelined = 512;
    // Server-wide requests in flight that pause / resume all reading.
    size_t pending_high_water = 65536;
    size_t pending_low_water = 32768;
    // Retry delay for lines a handler refused with IsFull.
    absl::Duration full_retry_delay = absl::Milliseconds(2);
    // How long a closing connection waits for its peer's close.
    absl::Duration linger_timeout = absl::Seconds(2);
    // Bytes read per recv() at most (into one buffer the connections
    // share; a connection keeps only the input not yet handed over).
    size_t read_chunk = 64 * 1024;
    // Server-wide memory budget, in bytes, for what the connections hold:
    // input read but not yet handed over, replies not yet sent, and for
    // each request in flight the bytes of its line (from hand-over until
    // its reply arrives, then the reply's). Over it, connections using
    // more than their fair share are not read; see the file comment
    // ("Backpressure") for the rule and the exact bound. Zero: no
    // server-wide limit (the per-connection limits still hold).
    size_t memory_budget = 64 * 1024 * 1024;
    // SO_SNDBUF for accepted connections, in bytes; 0 keeps the kernel's
    // (autotuned) default. The kernel's socket buffers are outside
    // memory_budget: a small value bounds what each never-reading client
    // can hold there too.
    int socket_send_buffer = 0;
  };

  // Called on the loop thread for each request line (the view is valid only
  // during the call). Return OK having taken the responder (moved it out, or
  // replied already); IsFull (spindle::FullError) to have the same line
  // offered again later - the responder must then be left valid; any other
  // error makes the server reply "ERR <message>" to that request. An
  // exception thrown by the handler is answered "ERR internal error".
  using Handler =
      absl::AnyInvocable<absl::Status(absl::string_view line, Responder& r)>;

  // One request line of a batch, with the responder that answers it.
  struct Request {
    absl::string_view line;
    Responder responder;
  };
  // The batch form of Handler, for handlers that feed a queue (one
  // Queue::TryPutMany per batch instead of one TryPut per line). Called on
  // the loop thread, once per loop iteration, with the complete request
  // lines that may be handed over now from every connection that had input
  // in that iteration (at least one line; per connection as many as are
  // buffered and the backpressure limits allow), each connection's lines
  // together and in request order; the views are valid only during the
  // call. Returns how many requests it took, counting from the
  // front: each of those must have had its responder taken (moved out, or
  // replied - errors are the handler's to answer, e.g. r.Reply("ERR ...")).
  // The rest (index `taken` on) must be left with valid responders: they
  // are not taken, exactly like a Handler's IsFull - each connection with
  // requests not taken stops reading, and its first one is offered again
  // (with what follows it) as soon as any request of this server completes,
  // or after full_retry_delay. A return value above the batch size counts as
  // the batch size. A connection's requests may also be refused on their
  // own (so that one connection's full queue does not hold back the others
  // of the batch): a request before `taken` whose responder is still valid
  // is not taken, and neither are the later requests of its connection,
  // which must keep valid responders too (per connection, what is not taken
  // is a suffix). If the handler throws, the requests whose responders are
  // still valid are answered "ERR internal error" (the exception's text is
  // logged on stderr, never sent) and the rest count as taken.
  using BatchHandler = absl::AnyInvocable<size_t(absl::Span<Request> batch)>;

  // Counters, readable from any thread (each is a relaxed snapshot).
  struct Stats {
    std::atomic<int64_t> connections{0};      // open now
    std::atomic<int64_t> accepted{0};         // ever
    std::atomic<int64_t> rejected_busy{0};    // over max_connections
    std::atomic<int64_t> rejected_no_fds{0};  // EMFILE/ENFILE
    std::atomic<int64_t> requests{0};         // lines handed to handler
    std::atomic<int64_t> replies{0};          // replies written to buffers
    std::atomic<int64_t> errors{0};           // ERR replies by the server
    std::atomic<int64_t> oversize{0};         // lines too long
    std::atomic<int64_t> idle_closed{0};
    std::atomic<int64_t> resets{0};           // closed by peer errors
    std::atomic<int64_t> pending{0};          // requests in flight now
    std::atomic<int64_t> output_buffered{0};  // unsent reply bytes now
    // Input read but not yet handed over, bytes now.
    std::atomic<int64_t> input_buffered{0};
    // Bytes counted against memory_budget now: input_buffered +
    // output_buffered + the reserved bytes of requests in flight.
    std::atomic<int64_t> memory_used{0};
    // Connections whose reading is paused by memory_budget now.
    std::atomic<int64_t> memory_paused{0};
  };

  // The loop must outlive the server. Nothing happens until Start().
  TcpServer(EventLoop* loop, Options options, Handler handler);
  // As above, with a batch handler (see BatchHandler).
  TcpServer(EventLoop* loop, Options options, BatchHandler handler);
  TcpServer(const TcpServer&) = delete;
  TcpServer& operator=(const TcpServer&) = delete;
  // Closes listeners and connections at once (no grace); replies arriving
  // later are discarded.
  ~TcpServer();

  // Binds and listens on every host. Errors, each naming the host or port:
  //  * kInvalidArgument: bad options; a port outside [0, 65535]; an
  //    address that is not one of this host's (EADDRNOTAVAIL: "cannot
  //    assign requested address 1.2.3.4:7070").
  //  * kNotFound: a host name that does not resolve ("cannot resolve host
  //    \"nonsense\": ..."); kUnavailable when the resolver cannot be
  //    reached (EAI_AGAIN).
  //  * kAlreadyExists: the address is in use (EADDRINUSE: "address already
  //    in use: 127.0.0.1:7070").
  //  * the kernel's otherwise (e.g. kPermissionDenied for a privileged
  //    port), with the failing call named.
  //  * kFailedPrecondition: already started, or shut down.
  // A failed Start leaves nothing listening (listeners bound for earlier
  // hosts are closed) and may be retried, e.g. once the address is free;
  // the server can be destroyed as usual. Loop thread (or while the loop
  // is not running).
  absl::Status Start();

  // The bound port (valid after Start()).
  int port() const;

  // Graceful shutdown, see the file comment: returns at once; the work
  // happens in later loop iterations. `done` runs on the loop thread once,
  // when every connection is closed or at the `grace` deadline, whichever
  // comes first. A later call does not restart anything: its `done` runs
  // when the first shutdown completes (at once if it already has). Loop
  // thread.
  void Shutdown(absl::Duration grace, absl::AnyInvocable<void()> done);

  const Stats& stats() const { return stats_; }
  const Options& options() const { return options_; }

 private:
  using Conn = internal::Connection;
  // One connection's part of the batch being handed over.
  struct Segment {
    Conn* c;
    size_t begin, end;        // Its requests: batch_[begin, end).
    internal::LineKind kind;  // What stopped its collection.
    size_t took;              // How many the handler took.
    bool full;                // Stopped by the pipelining or pending limit.
  };
  // A request the handler took but failed: the server answers it.
  struct Failure {
    size_t index;  // In batch_.
    std::string reply;
  };

  void AddConnection(int fd);
  void OnReadable(Conn* c);
  void OnWritable(Conn* c);
  // Hands c's complete lines to the handler while allowed.
  void ProcessInput(Conn* c);
  // Batch handler: queues c's new input for DispatchReady, which runs once
  // per loop iteration after the fd callbacks.
  void QueueInput(Conn* c);
  void DispatchReady();
  // The one dispatch path: hands the lines of `conns` that may go now to
  // the handler, then settles what was taken, failed or given back.
  void DispatchBatch(absl::Span<Conn* const> conns);
  // Collects c's lines into batch_; false if it may hand over none.
  bool Collect(Conn* c);
  // Calls the handler (either form) on batch_: sets each segment's `took`
  // and records failures_.
  void HandOver();
  void HandOverLines();
  // Settles one segment after HandOver; false if `c` was closed.
  bool Settle(const Segment& seg, size_t* failure);
  // Answers an oversize line of `c` and closes it after the reply.
  void RejectOversize(Conn* c);
  // Whether `c` may hand over requests now (pipelining and output limits,
  // server-wide high-water mark - which it then waits on).
  bool InputAllowed(Conn* c);
  // The handler did not take c's next line: stop reading `c`, retry later.
  void Park(Conn* c);
  // Server-made reply for the next slot of `c`.
  void ReplyNow(Conn* c, std::string reply, bool close_after);
  // Stores the reply of `c`'s request `seq` in its slot (one that is not
  // due next, or a closing one), within ApplyCompletions.
  void Complete(Conn* c, uint64_t seq, absl::string_view reply,
                bool close_after);
  // Applies replies made on other threads (ServerShared's inbox).
  void ApplyCompletions(absl::string_view text,
                        absl::Span<const internal::ReplyRef> refs);
  // Ends a batch of completions: flushes and writes each touched
  // connection once.
  void FinishTouched();
  void FlushSlots(Conn* c);
  // Writes what the socket takes; false if the connection was closed.
  bool TryWrite(Conn* c);
  void UpdateInterest(Conn* c);
  // Whether `c` may be read now; a connection held back only by the memory
  // budget joins the memory waiters.
  bool WantsRead(Conn* c);
  // Counts c's bytes again (memory budget, Stats).
  void Reaccount(Conn* c);
  void PublishMemory();
  void WaitForMemory(Conn* c);
  void WakeMemoryWaiters();
  // Closes `c` if it has nothing left to do.
  void MaybeFinish(Conn* c);
  // After input or a retry: updates c's interest and closes it when done.
  void Settled(Conn* c);
  void BeginLinger(Conn* c);
  void CloseConnection(Conn* c);
  // Records activity of `c` (idle tracking).
  void Touch(Conn* c);
  // `c` was inactive for idle_timeout.
  void OnIdle(Conn* c);
  void RetryParked();
  void ResumeGlobal();
  void CheckShutdownDone();
  // The live connection with this id, or nullptr.
  Conn* Find(uint64_t id);

  EventLoop* loop_;
  Options options_;
  Handler handler_;
  BatchHandler batch_handler_;  // Set instead of handler_.
  // DispatchBatch's scratch: the requests, where each line ends in its
  // connection's pending input, each connection's part of the batch, and
  // the requests the handler took but failed.
  std::vector<Request> batch_;
  std::vector<size_t> batch_ends_;
  std::vector<Segment> segments_;
  std::vector<Failure> failures_;
  std::vector<uint64_t> input_ready_;  // Conns with input to dispatch.
  bool dispatch_armed_ = false;
  Handle dispatch_handle_;
  std::vector<Conn*> touched_;      // Connections of the completion batch.
  internal::ServerShared* shared_;  // One reference, released by ~TcpServer.
  Stats stats_;
  std::unique_ptr<internal::Acceptor> acceptor_;
  std::unique_ptr<internal::IdleTracker> idle_;
  std::unique_ptr<internal::MemoryBudget> memory_;
  // Connections paused by the memory budget; retried (all) once the
  // budget's level fell to memory_wake_below_.
  std::vector<uint64_t> memory_waiters_;
  int64_t memory_wake_below_ = 0;
  bool memory_wake_armed_ = false;
  Handle memory_wake_handle_;

  uint64_t next_conn_id_ = 1;
  // Closed connections, freed at the next entry from the loop (a callback of
  // the connection may still be on the stack when it closes).
  std::vector<std::unique_ptr<Conn>> dead_;
  std::vector<char> scratch_;  // Shared read buffer.
  absl::flat_hash_map<uint64_t, std::unique_ptr<Conn>> conns_;

  size_t pending_ = 0;  // Requests handed to the handler, not yet replied.
  bool global_paused_ = false;
  std::vector<uint64_t> global_waiters_;  // Conns paused by global_paused_.
  std::vector<uint64_t> parked_;          // Conns whose handler said Full.
  Handle parked_timer_;
  bool parked_armed_ = false;

  bool shutting_down_ = false;
  std::vector<absl::AnyInvocable<void()>> shutdown_done_;
  Handle shutdown_timer_;
};

}  // namespace spindle::io

#endif  // SPINDLE_IO_TCP_SERVER_H_
