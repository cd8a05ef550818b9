// Copyright 2026 The spindle Authors.
//
// RequestLanes: the fair, bounded hand-off between a LineService's front end
// (event loop threads) and its workers. Private to spindle/io.
//
// A FIFO queue between a front end and workers is not fair: a client that
// pipelines 512 expensive requests puts them all ahead of everyone else's.
// Here each connection has its own lane (a FIFO of its requests), and
// workers take from the lanes that have requests in round-robin order:
//
//   * Take() visits the ready lanes in turn and takes at most `quantum`
//     requests from each, so a worker's batch mixes connections and a lane
//     with a long backlog gets one turn per round, like every other.
//   * At most `max_running` workers hold requests of one lane at once, so a
//     connection can never occupy every worker while others wait.
//   * At most `max_queued` requests of one lane, and `capacity` in all, are
//     held here or out in workers' batches not yet finished (Offer() takes
//     fewer, and the front end keeps the rest in its input buffer:
//     backpressure, nothing dropped). Counting the batches too means that a
//     worker handing requests back (GiveBack) never overfills a lane or the
//     queue: queued() <= capacity at every moment.
//   * A worker that finds a request slow gives the requests of its batch it
//     has not started back (GiveBack, to the front of their lanes) so that
//     idle workers take them, and marks its lane slow (MarkSlow): a slow
//     lane is served one request per turn, never in a batch with other
//     lanes, so no cheap request waits behind an expensive one of another
//     connection. The mark is cleared by the lane's next fast request.
//
// Batching is kept where it matters: one lock per front-end batch (Offer
// takes one connection's requests at once; OfferMany all connections of a
// loop iteration), one lock per worker batch, and at most one worker woken
// and not yet running at any time (a worker that leaves ready lanes behind
// wakes the next), so no worker is woken only to find the work taken. The
// worker woken is the one parked last (a stack, not a queue): consecutive
// batches run on the same warm worker - its stack and batch buffers in
// cache - while the workers not needed stay asleep.
//
// Thread safety: all methods are thread-safe.

#ifndef SPINDLE_IO_INTERNAL_REQUEST_LANES_H_
#define SPINDLE_IO_INTERNAL_REQUEST_LANES_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "spindle/io/tcp_server.h"

namespace spindle::io::internal {

// A request line, stored inline when short (no allocation per request; a
// long line is one heap block). Written once by the front end into a Job
// that is reused (see RequestLanes::NewJobs), read once by a worker.
class LineBuf {
 public:
  LineBuf() = default;
  explicit LineBuf(absl::string_view s) { Assign(s); }
  LineBuf(const LineBuf&) = delete;
  LineBuf& operator=(const LineBuf&) = delete;
  void Assign(absl::string_view s) {
    char* to = inline_;
    if (s.size() > kInline) {
      heap_.reset(new char[s.size()]);
      to = heap_.get();
    }
    size_ = s.size();
    if (!s.empty()) std::memcpy(to, s.data(), s.size());
  }
  // Empty, with no heap block.
  void Clear() {
    heap_.reset();
    size_ = 0;
  }
  absl::string_view view() const {
    return absl::string_view(size_ <= kInline ? inline_ : heap_.get(), size_);
  }

 private:
  static constexpr size_t kInline = 80;
  size_t size_ = 0;
  char inline_[kInline];
  std::unique_ptr<char[]> heap_;
};

// A request on its way to a worker. Made by RequestLanes::NewJobs and
// reused: only its address moves through the lanes.
struct Job {
  LineBuf line;
  Responder responder;
  int64_t received_ns = 0;  // absl::GetCurrentTimeNanos() when read.
  uint64_t key = 0;         // The connection's lane (unique across loops).
  uint32_t loop = 0;        // Index of the loop serving the connection.
};

class RequestLanes {
 public:
  struct Options {
    size_t capacity = 1024;   // Requests held, all lanes.
    size_t max_queued = 128;  // Requests held per lane.
    size_t max_running = 2;   // Workers holding one lane's requests.
    size_t quantum = 64;      // Requests per lane per turn.
  };
  // One connection's requests, for OfferMany.
  struct Offer {
    uint64_t key;           // The connection (unique across loops).
    absl::Span<Job*> jobs;  // Taken ones belong to the lanes from then on.
    size_t taken = 0;       // Set by OfferMany.
    // The first `must_take` jobs are taken even beyond max_queued and
    // capacity (a later request of the connection was answered already, so
    // these cannot be refused); unless closed.
    size_t must_take = 0;
  };
  struct Lane;
  // What a worker took from one lane (for Finish/GiveBack/MarkSlow). The
  // lane stays valid until the ticket is finished.
  struct Ticket {
    Lane* lane;
    size_t count;  // Jobs of this lane in the worker's batch.
  };

  explicit RequestLanes(Options options);
  RequestLanes(const RequestLanes&) = delete;
  RequestLanes& operator=(const RequestLanes&) = delete;
  ~RequestLanes();

  // Job storage: every request travels in a Job made here once and reused,
  // so that only its address moves - into a lane, then into a worker's
  // batch - and the request is written once (by the front end) and read
  // once (by a worker). Appends `n` unused jobs to `out`: the batch
  // recycled last first (likeliest in cache), in its order. Every job made
  // stays until the RequestLanes is destroyed (then any still out is destroyed
  // with it): the memory held is that of the most jobs out at once.
  // Thread-safe.
  void NewJobs(size_t n, std::vector<Job*>* out);
  // Takes back jobs no longer in use (run, not taken, or dropped), of this
  // RequestLanes' making: a job whose responder is still valid answers
  // "no reply" here, as a destroyed Responder does. Thread-safe.
  void Recycle(absl::Span<Job* const> jobs);

  // Front end: takes a prefix of each offer's jobs (as many as its lane's
  // max_queued and the capacity allow - counting the lane's requests out
  // in unfinished batches - and at least `must_take`; none once closed) and
  // sets `taken`. Sets each taken job's `key` to the offer's. Never blocks.
  // Returns the total taken.
  size_t OfferMany(absl::Span<Offer> offers);

  // Worker: waits until some lane has requests it may take (or until
  // closed), then appends up to `max_jobs` (>= 1) requests to `jobs` -
  // round-robin over the ready lanes, at most `quantum` per lane, a slow
  // lane's one request alone - and one Ticket per lane to `tickets`.
  // Returns false
  // once closed and dropping, or closed and empty: the worker should exit.
  // Wakes on: an Offer, a Finish/GiveBack that makes a lane takeable again,
  // Close (and the last request taken after Close(false)).
  // `returning`: this call follows the caller's Finish/GiveBack with
  // `returning` true (see there).
  bool Take(size_t max_jobs, std::vector<Job*>* jobs,
            std::vector<Ticket>* tickets, bool returning = false);
  // Worker: records whether the last request run from `t`'s lane was slow.
  static void MarkSlow(const Ticket& t, bool slow);

  // Worker: the requests of `tickets` are done (run or handed back). Each
  // lane may be given to another worker again.
  // With `returning`, the caller promises to call Take(..., returning=true)
  // next, soon and without waiting for anything else (sending replies is
  // fine): until then it counts as a worker on its way, like one just
  // woken, and requests offered meanwhile wake no other worker - they are
  // left for it. (On a loaded core, the worker whose replies woke the front
  // end takes the requests that came of them, and no other is woken only to
  // find them taken.)
  void Finish(absl::Span<const Ticket> tickets, bool returning = false);
  // Worker: puts `jobs` (not started; in their original order) back at the
  // front of their lanes, then Finish(tickets, returning). Once dropping(),
  // recycles them instead (their responders answer) and returns how many.
  size_t GiveBack(absl::Span<Job* const> jobs, absl::Span<const Ticket> tickets,
                  bool returning = false);

  // Stops taking offers. With `drop`, the requests held here are recycled
  // (their responders answer "no reply" to connections that are gone by
  // then) and Take returns false at once; without, workers drain them first.
  // Returns how many were dropped. Wakes every waiting worker.
  size_t Close(bool drop);
  // True once Close ran.
  bool closed() const { return closed_flag_.load(std::memory_order_acquire); }
  // True once Close(true) ran: a worker drops what it has not started.
  bool dropping() const { return dropping_.load(std::memory_order_acquire); }

  // Requests held here (accepted, not taken by a worker). Thread-safe
  // snapshot.
  size_t queued() const { return queued_.load(std::memory_order_relaxed); }
  // Workers blocked in Take now, not yet woken (for tests).
  int waiting() const {
    absl::MutexLock lock(&mu_);
    return static_cast<int>(parked_.size());
  }
  // Wake-ups of waiting workers so far (for tests).
  int64_t wakeups() const {
    absl::MutexLock lock(&mu_);
    return wakeups_;
  }

  // One connection's requests (private; public for Ticket's sake).
  struct Lane {
    uint64_t key = 0;
    // FIFO of jobs: jobs[head..] are live (a vector reused across turns).
    std::vector<Job*> jobs;
    size_t head = 0;
    size_t running = 0;             // Workers holding jobs of this lane.
    size_t out = 0;                 // Its jobs in unfinished batches.
    bool in_ring = false;           // On ring_ (has jobs and may be taken).
    uint64_t take_mark = 0;         // The Take() call that last visited it.
    std::atomic<bool> slow{false};  // Its last request run was slow.
    size_t size() const { return jobs.size() - head; }
  };

 private:
  Lane* LaneFor(uint64_t key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Puts `lane` on the ring if it has jobs and may run; frees it if it is
  // empty and unused.
  void Settle(Lane* lane) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Finish() under the lock: returns whether a lane became ready.
  bool FinishLocked(absl::Span<const Ticket> tickets)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  mutable absl::Mutex mu_;
  // A worker blocked in Take: each waits on its own condition variable, so
  // that a wake-up goes to the worker chosen (the one parked last).
  struct Waiter {
    absl::CondVar cv;
    bool woken = false;
  };
  // Lanes with jobs or workers; emptied ones are kept on free_ (with their
  // vectors' capacity) for the next connection.
  absl::flat_hash_map<uint64_t, std::unique_ptr<Lane>> lanes_
      ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<Lane>> free_ ABSL_GUARDED_BY(mu_);
  // Ready lanes, oldest turn first (a ring buffer over a vector).
  std::vector<Lane*> ring_ ABSL_GUARDED_BY(mu_);
  size_t ring_head_ ABSL_GUARDED_BY(mu_) = 0;
  size_t ring_size_ ABSL_GUARDED_BY(mu_) = 0;
  size_t held_ ABSL_GUARDED_BY(mu_) = 0;  // Jobs in lanes.
  size_t out_ ABSL_GUARDED_BY(mu_) = 0;   // Jobs in unfinished batches.
  // Workers blocked in Take and not woken, the one parked last at the back
  // (woken first: LIFO).
  std::vector<Waiter*> parked_ ABSL_GUARDED_BY(mu_);
  // Workers woken and not yet back from the wait. At most one is woken at
  // a time by WakeOneLocked; the one woken wakes the next when it leaves
  // ready lanes behind.
  int woken_ ABSL_GUARDED_BY(mu_) = 0;
  // Workers between Finish/GiveBack(returning) and their next Take.
  int returning_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t wakeups_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t take_calls_ ABSL_GUARDED_BY(mu_) = 0;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<bool> closed_flag_{false};
  std::atomic<bool> dropping_{false};
  std::atomic<size_t> queued_{0};

  // Job storage (NewJobs/Recycle): a lock of its own, taken once per front
  // end batch and once per worker batch.
  absl::Mutex jobs_mu_;
  std::vector<std::unique_ptr<Job[]>> job_blocks_ ABSL_GUARDED_BY(jobs_mu_);
  std::vector<Job*> spare_jobs_ ABSL_GUARDED_BY(jobs_mu_);

  // Marks `w` woken and signals it (taken off parked_ by the caller).
  void WakeLocked(Waiter* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Wakes the worker parked last unless one woken earlier has not run yet or
  // one is returning (either will take what is ready).
  void WakeOneLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Wakes every waiting worker.
  void WakeAllLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RingPush(Lane* lane) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Lane* RingPop() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
};

}  // namespace spindle::io::internal

#endif  // SPINDLE_IO_INTERNAL_REQUEST_LANES_H_
