// Copyright 2026 The spindle Authors.

#include "spindle/io/internal/request_lanes.h"

#include <algorithm>
#include <iterator>
#include <utility>

#include "spindle/concurrency/internal/perturb.h"

namespace spindle::io::internal {
namespace {
constexpr size_t kMaxFreeLanes = 1024;
}  // namespace

RequestLanes::RequestLanes(Options options) : options_(options) {
  ring_.resize(64);
}

RequestLanes::~RequestLanes() { Close(/*drop=*/true); }

void RequestLanes::NewJobs(size_t n, std::vector<Job*>* out) {
  absl::MutexLock lock(&jobs_mu_);
  if (spare_jobs_.size() < n) {
    const size_t make = std::max<size_t>(64, n - spare_jobs_.size());
    job_blocks_.push_back(std::make_unique<Job[]>(make));
    Job* block = job_blocks_.back().get();
    // Reversed, so that the block's first jobs are handed out first.
    for (size_t i = make; i-- > 0;) spare_jobs_.push_back(&block[i]);
  }
  // spare_jobs_ is a stack whose top is the batch recycled last, first job
  // on top.
  const auto first = spare_jobs_.end() - static_cast<ptrdiff_t>(n);
  out->insert(out->end(), std::make_reverse_iterator(spare_jobs_.end()),
              std::make_reverse_iterator(first));
  spare_jobs_.erase(first, spare_jobs_.end());
}

void RequestLanes::Recycle(absl::Span<Job* const> jobs) {
  if (jobs.empty()) return;
  for (Job* j : jobs) {
    // Answers "no reply" if it was never answered (not under a lock: the
    // reply may run the server's code).
    if (j->responder.valid()) {
      Responder unanswered = std::move(j->responder);
    }
    j->line.Clear();
  }
  absl::MutexLock lock(&jobs_mu_);
  spare_jobs_.insert(spare_jobs_.end(), jobs.rbegin(), jobs.rend());
}

RequestLanes::Lane* RequestLanes::LaneFor(uint64_t key) {
  auto [it, inserted] = lanes_.try_emplace(key);
  if (inserted) {
    if (!free_.empty()) {
      it->second = std::move(free_.back());
      free_.pop_back();
    } else {
      it->second = std::make_unique<Lane>();
    }
    it->second->key = key;
  }
  return it->second.get();
}

void RequestLanes::RingPush(Lane* lane) {
  if (ring_size_ == ring_.size()) {
    std::vector<Lane*> bigger(ring_.size() * 2);
    for (size_t i = 0; i < ring_size_; ++i) {
      bigger[i] = ring_[(ring_head_ + i) % ring_.size()];
    }
    ring_.swap(bigger);
    ring_head_ = 0;
  }
  ring_[(ring_head_ + ring_size_) % ring_.size()] = lane;
  ++ring_size_;
  lane->in_ring = true;
}

RequestLanes::Lane* RequestLanes::RingPop() {
  Lane* lane = ring_[ring_head_];
  ring_head_ = (ring_head_ + 1) % ring_.size();
  --ring_size_;
  lane->in_ring = false;
  return lane;
}

void RequestLanes::Settle(Lane* lane) {
  if (lane->in_ring) return;
  if (lane->size() > 0) {
    if (lane->running < options_.max_running) RingPush(lane);
    return;
  }
  if (lane->running > 0) return;
  // Empty and unused: recycle it.
  lane->jobs.clear();
  lane->head = 0;
  lane->take_mark = 0;
  lane->out = 0;
  lane->slow.store(false, std::memory_order_relaxed);
  auto it = lanes_.find(lane->key);
  if (free_.size() < kMaxFreeLanes && lane->jobs.capacity() <= 1024) {
    free_.push_back(std::move(it->second));
  }
  lanes_.erase(it);
}

size_t RequestLanes::OfferMany(absl::Span<Offer> offers) {
  size_t total = 0;
  absl::MutexLock lock(&mu_);
  if (closed_) {
    for (Offer& o : offers) o.taken = 0;
    return 0;
  }
  const size_t ready_before = ring_size_;
  for (Offer& o : offers) {
    o.taken = 0;
    // Jobs out in batches count too: they may be handed back.
    if (o.jobs.empty() ||
        (held_ + out_ >= options_.capacity && o.must_take == 0)) {
      continue;
    }
    Lane* lane = LaneFor(o.key);
    const size_t lane_used = lane->size() + lane->out;
    const size_t lane_room =
        lane_used < options_.max_queued ? options_.max_queued - lane_used : 0;
    const size_t room =
        held_ + out_ < options_.capacity ? options_.capacity - held_ - out_ : 0;
    const size_t n = std::min(o.jobs.size(),
                              std::max(o.must_take, std::min(lane_room, room)));
    if (lane->head > 0 && lane->head == lane->jobs.size()) {
      lane->jobs.clear();
      lane->head = 0;
    }
    for (size_t i = 0; i < n; ++i) {
      o.jobs[i]->key = o.key;  // GiveBack finds the lane by it.
      lane->jobs.push_back(o.jobs[i]);
    }
    o.taken = n;
    held_ += n;
    total += n;
    Settle(lane);
  }
  queued_.store(held_, std::memory_order_relaxed);
  if (ring_size_ > ready_before) WakeOneLocked();
  return total;
}

bool RequestLanes::Take(size_t max_jobs, std::vector<Job*>* jobs,
                        std::vector<Ticket>* tickets, bool returning) {
  SPINDLE_PERTURB_POINT();  // An offer or another worker may come first.
  absl::MutexLock lock(&mu_);
  if (returning) --returning_;
  while (ring_size_ == 0 && !(closed_ && (dropping() || held_ == 0))) {
    // Parked on top of the stack of waiters: the next wake-up is this
    // worker's (see WakeOneLocked).
    Waiter self;
    parked_.push_back(&self);
    while (!self.woken) self.cv.Wait(&mu_);
    --woken_;
  }
  if (ring_size_ == 0) return false;
  const uint64_t mark = ++take_calls_;
  size_t taken = 0;
  while (taken < max_jobs && ring_size_ > 0) {
    Lane* lane = ring_[ring_head_];
    if (lane->take_mark == mark) break;  // Every ready lane had its turn.
    const bool slow = lane->slow.load(std::memory_order_relaxed);
    if (slow && taken > 0) break;  // A slow lane goes alone, next time.
    RingPop();
    lane->take_mark = mark;
    const size_t n = std::min(
        {slow ? size_t{1} : options_.quantum, lane->size(), max_jobs - taken});
    jobs->insert(jobs->end(), lane->jobs.begin() + lane->head,
                 lane->jobs.begin() + lane->head + n);
    lane->head += n;
    if (lane->head == lane->jobs.size()) {
      lane->jobs.clear();
      lane->head = 0;
    }
    ++lane->running;
    lane->out += n;
    tickets->push_back(Ticket{lane, n});
    taken += n;
    held_ -= n;
    out_ += n;
    Settle(lane);
    if (slow) break;
  }
  queued_.store(held_, std::memory_order_relaxed);
  if (closed_ && held_ == 0) {
    // Drained after Close(false): every waiter must leave, not only the
    // one a Finish would wake.
    WakeAllLocked();
  } else if (ring_size_ > 0) {
    // Ready lanes left behind: let another worker have them.
    WakeOneLocked();
  }
  return true;
}

void RequestLanes::WakeLocked(Waiter* w) {
  w->woken = true;
  ++woken_;
  ++wakeups_;
  w->cv.Signal();
}

void RequestLanes::WakeOneLocked() {
  // A worker woken before and not yet running will look at the ring when it
  // runs (and wake the next if it leaves lanes behind): waking another now
  // would only make it find the ring empty (on a busy core, a wasted switch
  // per batch).
  if (!parked_.empty() && woken_ == 0 && returning_ == 0) {
    // The worker parked last: its stack and batch buffers are the likeliest
    // to be in cache, and the others stay asleep.
    Waiter* w = parked_.back();
    parked_.pop_back();
    WakeLocked(w);
  }
}

void RequestLanes::WakeAllLocked() {
  for (Waiter* w : parked_) WakeLocked(w);
  parked_.clear();
}

void RequestLanes::MarkSlow(const Ticket& t, bool slow) {
  // Written only on a change: the flag's cache line stays shared.
  if (t.lane->slow.load(std::memory_order_relaxed) != slow) {
    t.lane->slow.store(slow, std::memory_order_relaxed);
  }
}

bool RequestLanes::FinishLocked(absl::Span<const Ticket> tickets) {
  const size_t ready_before = ring_size_;
  for (const Ticket& t : tickets) {
    --t.lane->running;
    t.lane->out -= t.count;
    out_ -= t.count;
    Settle(t.lane);
  }
  return ring_size_ > ready_before;
}

void RequestLanes::Finish(absl::Span<const Ticket> tickets, bool returning) {
  SPINDLE_PERTURB_POINT();
  absl::MutexLock lock(&mu_);
  if (returning) ++returning_;
  if (FinishLocked(tickets)) WakeOneLocked();
}

size_t RequestLanes::GiveBack(absl::Span<Job* const> jobs,
                              absl::Span<const Ticket> tickets,
                              bool returning) {
  absl::Span<Job* const> dropped;
  {
    absl::MutexLock lock(&mu_);
    if (returning) ++returning_;
    if (dropping()) {
      dropped = jobs;
    } else {
      // Back to the front of each lane, last first, so order is kept.
      for (size_t i = jobs.size(); i-- > 0;) {
        auto it = lanes_.find(jobs[i]->key);
        if (it == lanes_.end()) continue;  // Cannot happen: lane is running.
        Lane* lane = it->second.get();
        if (lane->head > 0) {
          lane->jobs[--lane->head] = jobs[i];
        } else {
          lane->jobs.insert(lane->jobs.begin(), jobs[i]);
        }
        ++held_;
      }
      queued_.store(held_, std::memory_order_relaxed);
    }
    // In the same critical section, so that the jobs handed back are never
    // counted twice (held and out) against the bounds.
    if (FinishLocked(tickets)) WakeOneLocked();
  }
  // Without the lock (responders answer).
  Recycle(dropped);
  return dropped.size();
}

size_t RequestLanes::Close(bool drop) {
  std::vector<Job*> dropped;
  {
    absl::MutexLock lock(&mu_);
    closed_ = true;
    closed_flag_.store(true, std::memory_order_release);
    if (drop) {
      dropping_.store(true, std::memory_order_release);
      while (ring_size_ > 0) RingPop();
      std::vector<Lane*> idle;
      for (auto& [key, lane] : lanes_) {
        dropped.insert(dropped.end(), lane->jobs.begin() + lane->head,
                       lane->jobs.end());
        lane->jobs.clear();
        lane->head = 0;
        if (lane->running == 0) idle.push_back(lane.get());
      }
      for (Lane* lane : idle) Settle(lane);
      held_ = 0;
      queued_.store(0, std::memory_order_relaxed);
    }
    WakeAllLocked();
  }
  Recycle(dropped);  // Without the lock (responders answer).
  return dropped.size();
}

}  // namespace spindle::io::internal
