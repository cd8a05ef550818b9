// Copyright 2026 The spindle Authors.
//
// RequestLanes: per-lane FIFO, round-robin with a quantum, the per-lane
// running cap, the queue bounds (also across GiveBack), slow lanes,
// GiveBack, who is woken (returning workers, the next after one that
// leaves lanes behind, the one parked last), the job storage (NewJobs,
// Recycle), Close with and without drop, and a producer/consumer stress.

#include "spindle/io/internal/request_lanes.h"

#include <atomic>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace spindle::io::internal {
namespace {

using test_util::Eventually;

constexpr absl::Duration kBound = absl::Seconds(20);

// Jobs "<key>:<first>" .. "<key>:<first + n - 1>" of lane `key`, made by
// `lanes` (and destroyed with it).
std::vector<Job*> MakeJobs(RequestLanes& lanes, uint64_t key, int first,
                           int n) {
  std::vector<Job*> jobs;
  lanes.NewJobs(static_cast<size_t>(n), &jobs);
  for (int i = 0; i < n; ++i) {
    jobs[i]->line.Assign(absl::StrCat(key, ":", first + i));
    jobs[i]->key = key;
  }
  return jobs;
}

// Offers `jobs` as lane `key`'s; returns how many were taken.
size_t OfferOne(RequestLanes& lanes, uint64_t key, std::vector<Job*>& jobs) {
  RequestLanes::Offer offer{key, absl::MakeSpan(jobs)};
  lanes.OfferMany(absl::MakeSpan(&offer, 1));
  return offer.taken;
}

// The lines of `jobs`, in order.
std::vector<std::string> Lines(absl::Span<Job* const> jobs) {
  std::vector<std::string> out;
  for (const Job* j : jobs) out.emplace_back(j->line.view());
  return out;
}

// What one Take returned.
struct Batch {
  bool ok = false;
  std::vector<Job*> jobs;
  std::vector<RequestLanes::Ticket> tickets;
};

// Take() for a test that knows requests are ready (it would block
// otherwise).
Batch TakeNow(RequestLanes& lanes, size_t max_jobs = 1000) {
  Batch b;
  b.ok = lanes.Take(max_jobs, &b.jobs, &b.tickets);
  return b;
}

// Take() on its own thread, so that a test can watch it block.
class AsyncTake {
 public:
  explicit AsyncTake(RequestLanes& lanes, size_t max_jobs = 1000)
      : lanes_(lanes), thread_([this, max_jobs] {
          batch_.ok = lanes_.Take(max_jobs, &batch_.jobs, &batch_.tickets);
          done_.Notify();
        }) {}
  ~AsyncTake() {
    // A Take still blocked is a failure already reported: release it.
    if (!done_.HasBeenNotified()) lanes_.Close(/*drop=*/true);
    thread_.join();
  }
  // The Take's result, once it returned (fails the test after kBound).
  Batch& Get() {
    EXPECT_TRUE(done_.WaitForNotificationWithTimeout(kBound));
    return batch_;
  }
  bool HasReturned() const { return done_.HasBeenNotified(); }

 private:
  RequestLanes& lanes_;
  Batch batch_;
  absl::Notification done_;
  std::thread thread_;
};

RequestLanes::Options Opts(size_t capacity, size_t max_queued,
                           size_t max_running, size_t quantum) {
  RequestLanes::Options o;
  o.capacity = capacity;
  o.max_queued = max_queued;
  o.max_running = max_running;
  o.quantum = quantum;
  return o;
}

TEST(RequestLanesTest, EachLaneIsFifo) {
  RequestLanes lanes(Opts(100, 100, 1, 100));
  std::vector<Job*> a = MakeJobs(lanes, 7, 0, 4);
  std::vector<Job*> b = MakeJobs(lanes, 7, 4, 3);
  ASSERT_EQ(OfferOne(lanes, 7, a), 4u);
  ASSERT_EQ(OfferOne(lanes, 7, b), 3u);
  EXPECT_EQ(lanes.queued(), 7u);
  Batch t = TakeNow(lanes);
  ASSERT_TRUE(t.ok);
  EXPECT_EQ(Lines(t.jobs), (std::vector<std::string>{"7:0", "7:1", "7:2", "7:3",
                                                     "7:4", "7:5", "7:6"}));
  ASSERT_EQ(t.tickets.size(), 1u);
  EXPECT_EQ(t.tickets[0].count, 7u);
  EXPECT_EQ(lanes.queued(), 0u);
  lanes.Finish(t.tickets);
}

TEST(RequestLanesTest, LongLaneDoesNotDelayAShortOne) {
  RequestLanes lanes(Opts(1000, 1000, 2, 64));
  std::vector<Job*> flood = MakeJobs(lanes, 1, 0, 500);
  std::vector<Job*> one = MakeJobs(lanes, 2, 0, 1);
  ASSERT_EQ(OfferOne(lanes, 1, flood), 500u);
  ASSERT_EQ(OfferOne(lanes, 2, one), 1u);
  // The short lane's job is in the first Take, or the next at worst.
  bool seen = false;
  for (int take = 0; take < 2 && !seen; ++take) {
    Batch t = TakeNow(lanes, 256);
    ASSERT_TRUE(t.ok);
    for (const Job* j : t.jobs) seen = seen || j->key == 2;
    lanes.Finish(t.tickets);
  }
  EXPECT_TRUE(seen);
}

TEST(RequestLanesTest, TakeServesLanesRoundRobinAQuantumEach) {
  RequestLanes lanes(Opts(1000, 1000, 4, 3));
  for (uint64_t key : {1, 2, 3}) {
    std::vector<Job*> jobs = MakeJobs(lanes, key, 0, 10);
    ASSERT_EQ(OfferOne(lanes, key, jobs), 10u);
  }
  // One turn per lane per Take, `quantum` jobs each, oldest lane first.
  Batch t = TakeNow(lanes);
  EXPECT_EQ(Lines(t.jobs),
            (std::vector<std::string>{"1:0", "1:1", "1:2", "2:0", "2:1", "2:2",
                                      "3:0", "3:1", "3:2"}));
  ASSERT_EQ(t.tickets.size(), 3u);
  for (const auto& ticket : t.tickets) EXPECT_EQ(ticket.count, 3u);
  // max_jobs cuts a turn short; the next Take goes on where it stopped.
  Batch u = TakeNow(lanes, 4);
  EXPECT_EQ(Lines(u.jobs),
            (std::vector<std::string>{"1:3", "1:4", "1:5", "2:3"}));
  Batch v = TakeNow(lanes, 2);
  EXPECT_EQ(Lines(v.jobs), (std::vector<std::string>{"3:3", "3:4"}));
  lanes.Finish(t.tickets);
  lanes.Finish(u.tickets);
  lanes.Finish(v.tickets);
}

TEST(RequestLanesTest, LaneAtItsRunningCapIsSkipped) {
  RequestLanes lanes(Opts(1000, 1000, 1, 2));
  std::vector<Job*> a = MakeJobs(lanes, 1, 0, 6);
  ASSERT_EQ(OfferOne(lanes, 1, a), 6u);
  Batch first = TakeNow(lanes);
  EXPECT_EQ(Lines(first.jobs), (std::vector<std::string>{"1:0", "1:1"}));
  // Lane 1 is held by one taker (its cap): only lane 2 is served.
  std::vector<Job*> b = MakeJobs(lanes, 2, 0, 1);
  ASSERT_EQ(OfferOne(lanes, 2, b), 1u);
  Batch second = TakeNow(lanes);
  EXPECT_EQ(Lines(second.jobs), (std::vector<std::string>{"2:0"}));
  // With lane 1 still at its cap and nothing else ready, Take waits.
  AsyncTake third(lanes);
  EXPECT_TRUE(Eventually([&] { return lanes.waiting() == 1; }));
  EXPECT_FALSE(third.HasReturned());
  lanes.Finish(second.tickets);
  EXPECT_FALSE(third.HasReturned());
  // Finishing the lane's batch lets it be taken again.
  lanes.Finish(first.tickets);
  Batch& t = third.Get();
  EXPECT_EQ(Lines(t.jobs), (std::vector<std::string>{"1:2", "1:3"}));
  lanes.Finish(t.tickets);
}

TEST(RequestLanesTest, OfferTakesAPrefixWithinMaxQueuedAndCapacity) {
  RequestLanes lanes(Opts(5, 3, 1, 64));
  std::vector<Job*> a = MakeJobs(lanes, 1, 0, 5);
  std::vector<Job*> b = MakeJobs(lanes, 2, 0, 5);
  std::vector<Job*> c = MakeJobs(lanes, 3, 0, 5);
  RequestLanes::Offer offers[] = {
      {1, absl::MakeSpan(a)}, {2, absl::MakeSpan(b)}, {3, absl::MakeSpan(c)}};
  EXPECT_EQ(lanes.OfferMany(absl::MakeSpan(offers)), 5u);
  EXPECT_EQ(offers[0].taken, 3u);  // max_queued.
  EXPECT_EQ(offers[1].taken, 2u);  // What the capacity had left.
  EXPECT_EQ(offers[2].taken, 0u);
  EXPECT_EQ(lanes.queued(), 5u);
  // What was not taken is left alone (the caller keeps it).
  EXPECT_EQ(a[3]->line.view(), "1:3");
  EXPECT_EQ(b[2]->line.view(), "2:2");
  EXPECT_EQ(c[0]->line.view(), "3:0");
  // A full queue takes nothing.
  EXPECT_EQ(OfferOne(lanes, 3, c), 0u);
  Batch t = TakeNow(lanes);
  EXPECT_EQ(Lines(t.jobs),
            (std::vector<std::string>{"1:0", "1:1", "1:2", "2:0", "2:1"}));
  lanes.Finish(t.tickets);
  EXPECT_EQ(OfferOne(lanes, 3, c), 3u);
}

TEST(RequestLanesTest, GiveBackNeverPushesALaneOverItsBounds) {
  // Jobs out in a worker's batch still count against the bounds, so that
  // handing them back (a slow request) cannot overfill the lane or queue.
  RequestLanes lanes(Opts(4, 3, 2, 64));
  std::vector<Job*> a = MakeJobs(lanes, 1, 0, 3);
  ASSERT_EQ(OfferOne(lanes, 1, a), 3u);
  Batch t = TakeNow(lanes);
  ASSERT_EQ(t.jobs.size(), 3u);
  EXPECT_EQ(lanes.queued(), 0u);
  std::vector<Job*> more = MakeJobs(lanes, 1, 3, 3);
  EXPECT_EQ(OfferOne(lanes, 1, more), 0u);  // Lane 1: 3 out already.
  std::vector<Job*> other = MakeJobs(lanes, 2, 0, 3);
  EXPECT_EQ(OfferOne(lanes, 2, other), 1u);  // Capacity: 3 out, 1 free.
  EXPECT_EQ(lanes.GiveBack(absl::MakeSpan(t.jobs).subspan(1), t.tickets), 0u);
  EXPECT_LE(lanes.queued(), 4u);
  EXPECT_EQ(lanes.queued(), 3u);
  Batch u = TakeNow(lanes);
  EXPECT_EQ(Lines(u.jobs), (std::vector<std::string>{"2:0", "1:1", "1:2"}));
  lanes.Finish(u.tickets);
}

TEST(RequestLanesTest, SlowLaneIsServedAloneOneJobATime) {
  RequestLanes lanes(Opts(1000, 1000, 2, 64));
  std::vector<Job*> a = MakeJobs(lanes, 1, 0, 5);
  ASSERT_EQ(OfferOne(lanes, 1, a), 5u);
  Batch t = TakeNow(lanes, 1);
  ASSERT_EQ(t.tickets.size(), 1u);
  RequestLanes::MarkSlow(t.tickets[0], true);
  lanes.Finish(t.tickets);
  std::vector<Job*> b = MakeJobs(lanes, 2, 0, 3);
  ASSERT_EQ(OfferOne(lanes, 2, b), 3u);
  // Ring: lane 1 (slow), lane 2. The slow lane's job goes alone...
  Batch u = TakeNow(lanes);
  EXPECT_EQ(Lines(u.jobs), (std::vector<std::string>{"1:1"}));
  // ... and a batch that began with a fast lane stops before a slow one.
  Batch v = TakeNow(lanes);
  EXPECT_EQ(Lines(v.jobs), (std::vector<std::string>{"2:0", "2:1", "2:2"}));
  lanes.Finish(u.tickets);
  lanes.Finish(v.tickets);
  // A fast request clears the mark: the lane is batched again.
  Batch w = TakeNow(lanes);
  EXPECT_EQ(Lines(w.jobs), (std::vector<std::string>{"1:2"}));
  RequestLanes::MarkSlow(w.tickets[0], false);
  lanes.Finish(w.tickets);
  Batch x = TakeNow(lanes);
  EXPECT_EQ(Lines(x.jobs), (std::vector<std::string>{"1:3", "1:4"}));
  lanes.Finish(x.tickets);
}

TEST(RequestLanesTest, SlowLaneIsNeverBatchedWithAnotherLane) {
  RequestLanes lanes(Opts(1000, 1000, 2, 4));
  std::vector<Job*> s = MakeJobs(lanes, 1, 0, 50);
  ASSERT_EQ(OfferOne(lanes, 1, s), 50u);
  Batch t = TakeNow(lanes, 1);
  RequestLanes::MarkSlow(t.tickets[0], true);
  lanes.Finish(t.tickets);
  std::vector<Job*> f = MakeJobs(lanes, 2, 0, 50);
  ASSERT_EQ(OfferOne(lanes, 2, f), 50u);
  size_t taken = 0;
  while (lanes.queued() > 0) {
    Batch b = TakeNow(lanes);
    bool has_slow = false, has_fast = false;
    for (const Job* j : b.jobs) (j->key == 1 ? has_slow : has_fast) = true;
    if (has_slow) {
      EXPECT_EQ(b.jobs.size(), 1u);
      EXPECT_FALSE(has_fast);
    }
    // Lane 1's requests stay slow.
    for (const auto& ticket : b.tickets) {
      if (ticket.lane->key == 1) RequestLanes::MarkSlow(ticket, true);
    }
    taken += b.jobs.size();
    lanes.Finish(b.tickets);
  }
  EXPECT_EQ(taken, 99u);
}

TEST(RequestLanesTest, GiveBackRestoresOrderAtTheLaneFront) {
  RequestLanes lanes(Opts(1000, 1000, 1, 64));
  std::vector<Job*> a = MakeJobs(lanes, 1, 0, 4);
  std::vector<Job*> b = MakeJobs(lanes, 2, 0, 2);
  ASSERT_EQ(OfferOne(lanes, 1, a), 4u);
  ASSERT_EQ(OfferOne(lanes, 2, b), 2u);
  Batch t = TakeNow(lanes);
  ASSERT_EQ(Lines(t.jobs), (std::vector<std::string>{"1:0", "1:1", "1:2", "1:3",
                                                     "2:0", "2:1"}));
  // Newer requests arrive while the batch is out.
  std::vector<Job*> a2 = MakeJobs(lanes, 1, 4, 2);
  ASSERT_EQ(OfferOne(lanes, 1, a2), 2u);
  // "1:0" ran; the rest (of both lanes) goes back.
  EXPECT_EQ(lanes.GiveBack(absl::MakeSpan(t.jobs).subspan(1), t.tickets), 0u);
  EXPECT_EQ(lanes.queued(), 7u);
  std::vector<std::string> lane1, lane2;
  while (lanes.queued() > 0) {
    Batch u = TakeNow(lanes);
    for (const Job* j : u.jobs) {
      (j->key == 1 ? lane1 : lane2).emplace_back(j->line.view());
    }
    lanes.Finish(u.tickets);
  }
  EXPECT_EQ(lane1,
            (std::vector<std::string>{"1:1", "1:2", "1:3", "1:4", "1:5"}));
  EXPECT_EQ(lane2, (std::vector<std::string>{"2:0", "2:1"}));
}

TEST(RequestLanesTest, OfferWakesABlockedTake) {
  RequestLanes lanes(Opts(100, 100, 1, 64));
  AsyncTake take(lanes);
  ASSERT_TRUE(Eventually([&] { return lanes.waiting() == 1; }));
  std::vector<Job*> a = MakeJobs(lanes, 1, 0, 2);
  ASSERT_EQ(OfferOne(lanes, 1, a), 2u);
  Batch& t = take.Get();
  EXPECT_TRUE(t.ok);
  EXPECT_EQ(Lines(t.jobs), (std::vector<std::string>{"1:0", "1:1"}));
  lanes.Finish(t.tickets);
}

// A worker between Finish(returning) and its next Take is on its way: what
// is offered meanwhile is left for it, and no waiting worker is woken only
// to find it taken. Once it is not returning, offers wake a waiting one.
TEST(RequestLanesTest, AReturningWorkerTakesNewRequestsWithoutAWakeUp) {
  RequestLanes lanes(Opts(100, 100, 1, 64));
  std::vector<Job*> a = MakeJobs(lanes, 1, 0, 1);
  ASSERT_EQ(OfferOne(lanes, 1, a), 1u);
  Batch mine = TakeNow(lanes);
  ASSERT_EQ(mine.jobs.size(), 1u);
  AsyncTake other(lanes);
  ASSERT_TRUE(Eventually([&] { return lanes.waiting() == 1; }));
  const int64_t before = lanes.wakeups();

  lanes.Finish(mine.tickets, /*returning=*/true);
  std::vector<Job*> b = MakeJobs(lanes, 2, 0, 2);
  ASSERT_EQ(OfferOne(lanes, 2, b), 2u);
  EXPECT_EQ(lanes.wakeups(), before);
  Batch next;
  ASSERT_TRUE(lanes.Take(1000, &next.jobs, &next.tickets, /*returning=*/true));
  EXPECT_EQ(Lines(next.jobs), (std::vector<std::string>{"2:0", "2:1"}));
  EXPECT_FALSE(other.HasReturned());

  lanes.Finish(next.tickets);  // Not returning.
  std::vector<Job*> c = MakeJobs(lanes, 3, 0, 1);
  ASSERT_EQ(OfferOne(lanes, 3, c), 1u);
  Batch& o = other.Get();
  EXPECT_EQ(Lines(o.jobs), (std::vector<std::string>{"3:0"}));
  EXPECT_EQ(lanes.wakeups(), before + 1);
  lanes.Finish(o.tickets);
}

// One offer of two lanes wakes one worker; that one, taking only one lane
// (max_jobs 1), wakes the next for the other: nothing is left behind with
// a worker waiting.
TEST(RequestLanesTest, AWorkerThatLeavesLanesBehindWakesTheNext) {
  RequestLanes lanes(Opts(100, 100, 1, 64));
  AsyncTake w1(lanes, /*max_jobs=*/1), w2(lanes, /*max_jobs=*/1);
  ASSERT_TRUE(Eventually([&] { return lanes.waiting() == 2; }));
  std::vector<Job*> a = MakeJobs(lanes, 1, 0, 1);
  std::vector<Job*> b = MakeJobs(lanes, 2, 0, 1);
  RequestLanes::Offer offers[] = {{1, absl::MakeSpan(a)},
                                  {2, absl::MakeSpan(b)}};
  ASSERT_EQ(lanes.OfferMany(absl::MakeSpan(offers)), 2u);
  Batch& t1 = w1.Get();
  Batch& t2 = w2.Get();
  ASSERT_EQ(t1.jobs.size(), 1u);
  ASSERT_EQ(t2.jobs.size(), 1u);
  EXPECT_NE(t1.jobs[0]->key, t2.jobs[0]->key);
  EXPECT_EQ(lanes.wakeups(), 2);
  lanes.Finish(t1.tickets);
  lanes.Finish(t2.tickets);
}

// A wake-up goes to the worker parked last (its stack and buffers are the
// warm ones); the one parked earlier sleeps on until it is needed.
TEST(RequestLanesTest, TheWorkerParkedLastIsWokenFirst) {
  RequestLanes lanes(Opts(100, 100, 1, 64));
  AsyncTake first(lanes);
  ASSERT_TRUE(Eventually([&] { return lanes.waiting() == 1; }));
  AsyncTake last(lanes);
  ASSERT_TRUE(Eventually([&] { return lanes.waiting() == 2; }));
  std::vector<Job*> a = MakeJobs(lanes, 1, 0, 1);
  ASSERT_EQ(OfferOne(lanes, 1, a), 1u);
  Batch& t = last.Get();
  EXPECT_EQ(Lines(t.jobs), (std::vector<std::string>{"1:0"}));
  EXPECT_FALSE(first.HasReturned());
  EXPECT_EQ(lanes.waiting(), 1);
  EXPECT_EQ(lanes.wakeups(), 1);
  lanes.Finish(t.tickets);
  std::vector<Job*> b = MakeJobs(lanes, 2, 0, 1);
  ASSERT_EQ(OfferOne(lanes, 2, b), 1u);
  Batch& u = first.Get();
  EXPECT_EQ(Lines(u.jobs), (std::vector<std::string>{"2:0"}));
  lanes.Finish(u.tickets);
}

// Jobs are made once and reused: recycled ones come back first (the batch
// recycled last first, in its order), emptied; beyond the spare ones, new
// ones are made.
TEST(RequestLanesTest, RecycledJobsAreReusedLastFirstAndEmpty) {
  RequestLanes lanes(Opts(100, 100, 1, 64));
  std::vector<Job*> a = MakeJobs(lanes, 1, 0, 3);
  a[2]->line.Assign(std::string(1000, 'x'));  // On the heap.
  lanes.Recycle(a);
  std::vector<Job*> b;
  lanes.NewJobs(3, &b);
  EXPECT_EQ(b, a);
  for (const Job* j : b) EXPECT_TRUE(j->line.view().empty());
  std::vector<Job*> c;
  lanes.NewJobs(200, &c);
  absl::flat_hash_set<Job*> distinct(b.begin(), b.end());
  distinct.insert(c.begin(), c.end());
  EXPECT_EQ(distinct.size(), 203u);
  // What a lane holds is the job itself: offered, taken, the same address.
  ASSERT_EQ(OfferOne(lanes, 1, b), 3u);
  Batch t = TakeNow(lanes);
  EXPECT_EQ(t.jobs, b);
  lanes.Finish(t.tickets);
}

TEST(RequestLanesTest, CloseWithoutDropDrainsFirst) {
  RequestLanes lanes(Opts(100, 100, 1, 2));
  std::vector<Job*> a = MakeJobs(lanes, 1, 0, 5);
  ASSERT_EQ(OfferOne(lanes, 1, a), 5u);
  EXPECT_EQ(lanes.Close(/*drop=*/false), 0u);
  EXPECT_TRUE(lanes.closed());
  EXPECT_FALSE(lanes.dropping());
  std::vector<Job*> late = MakeJobs(lanes, 1, 5, 1);
  EXPECT_EQ(OfferOne(lanes, 1, late), 0u);
  std::vector<std::string> got;
  for (;;) {
    Batch t = TakeNow(lanes);
    if (!t.ok) break;
    for (const Job* j : t.jobs) got.emplace_back(j->line.view());
    lanes.Finish(t.tickets);
  }
  EXPECT_EQ(got, (std::vector<std::string>{"1:0", "1:1", "1:2", "1:3", "1:4"}));
}

// After Close(false), every blocked taker returns false once the last
// request is taken - not only the one woken for that request.
TEST(RequestLanesTest, CloseWithoutDropReleasesEveryWaiterWhenDrained) {
  RequestLanes lanes(Opts(100, 100, 1, 1));
  std::vector<Job*> a = MakeJobs(lanes, 1, 0, 2);
  ASSERT_EQ(OfferOne(lanes, 1, a), 2u);
  Batch first = TakeNow(lanes);
  ASSERT_EQ(first.jobs.size(), 1u);
  lanes.Close(/*drop=*/false);
  // "1:1" is held, lane 1 is at its cap: two more takers wait.
  AsyncTake w1(lanes), w2(lanes);
  ASSERT_TRUE(Eventually([&] { return lanes.waiting() == 2; }));
  lanes.Finish(first.tickets);  // "1:1" may be taken now, by one of them.
  Batch& b1 = w1.Get();
  Batch& b2 = w2.Get();
  EXPECT_EQ(b1.jobs.size() + b2.jobs.size(), 1u);
  EXPECT_NE(b1.ok, b2.ok);
  lanes.Finish(b1.tickets);
  lanes.Finish(b2.tickets);
  EXPECT_FALSE(TakeNow(lanes).ok);
}

TEST(RequestLanesTest, CloseWithDropDropsAndWakesBlockedTakes) {
  RequestLanes lanes(Opts(100, 100, 1, 64));
  AsyncTake blocked(lanes);
  ASSERT_TRUE(Eventually([&] { return lanes.waiting() == 1; }));
  EXPECT_EQ(lanes.Close(/*drop=*/true), 0u);
  EXPECT_FALSE(blocked.Get().ok);
  EXPECT_TRUE(lanes.dropping());
}

TEST(RequestLanesTest, CloseWithDropCountsWhatItDrops) {
  RequestLanes lanes(Opts(100, 100, 1, 2));
  std::vector<Job*> a = MakeJobs(lanes, 1, 0, 5);
  std::vector<Job*> b = MakeJobs(lanes, 2, 0, 3);
  ASSERT_EQ(OfferOne(lanes, 1, a), 5u);
  ASSERT_EQ(OfferOne(lanes, 2, b), 3u);
  Batch t = TakeNow(lanes, 2);  // "1:0", "1:1" out in a batch.
  ASSERT_EQ(t.jobs.size(), 2u);
  EXPECT_EQ(lanes.Close(/*drop=*/true), 6u);
  EXPECT_EQ(lanes.queued(), 0u);
  EXPECT_FALSE(TakeNow(lanes).ok);
  // A batch handed back once dropping is dropped too.
  EXPECT_EQ(lanes.GiveBack(absl::MakeSpan(t.jobs).subspan(1), t.tickets), 1u);
  EXPECT_FALSE(TakeNow(lanes).ok);
  std::vector<Job*> late = MakeJobs(lanes, 3, 0, 1);
  EXPECT_EQ(OfferOne(lanes, 3, late), 0u);
}

// Producers offer in order (retrying what was not taken) while consumers
// take, sometimes hand part of a batch back, and sometimes mark lanes slow.
// Every job is taken exactly once; with max_running = 1 a lane's takes never
// overlap, so each lane's jobs are run in order; with max_running = 2 no
// lane is held by more than two takers at once.
void Stress(size_t max_running) {
  constexpr int kProducers = 3;
  constexpr int kLanesPerProducer = 4;
  constexpr int kJobsPerLane = 400;
  constexpr int kConsumers = 4;
  constexpr int kLanes = kProducers * kLanesPerProducer;
  RequestLanes lanes(Opts(64, 16, max_running, 5));
  const absl::Time deadline = absl::Now() + kBound;

  absl::Mutex mu;
  std::vector<int> next(kLanes, 0);  // Per lane: next job expected.
  std::vector<int> times(kLanes * kJobsPerLane, 0);
  std::vector<std::atomic<int>> holders(kLanes);
  std::atomic<int> max_holders{0};
  std::atomic<bool> order_ok{true};

  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      std::vector<std::vector<Job*>> pending;
      std::vector<size_t> from(kLanesPerProducer, 0);
      for (int l = 0; l < kLanesPerProducer; ++l) {
        pending.push_back(
            MakeJobs(lanes, p * kLanesPerProducer + l, 0, kJobsPerLane));
      }
      bool left = true;
      while (left && absl::Now() < deadline) {
        left = false;
        std::vector<RequestLanes::Offer> offers;
        for (int l = 0; l < kLanesPerProducer; ++l) {
          if (from[l] == pending[l].size()) continue;
          left = true;
          // A few at a time, like a front end's read.
          const size_t n = std::min<size_t>(7, pending[l].size() - from[l]);
          offers.push_back({static_cast<uint64_t>(p * kLanesPerProducer + l),
                            absl::MakeSpan(pending[l]).subspan(from[l], n)});
        }
        lanes.OfferMany(absl::MakeSpan(offers));
        for (const auto& o : offers) {
          from[o.key - p * kLanesPerProducer] += o.taken;
        }
        std::this_thread::yield();
      }
    });
  }

  std::atomic<int> taken_total{0};
  std::vector<std::thread> consumers;
  for (int c = 0; c < kConsumers; ++c) {
    consumers.emplace_back([&, c] {
      std::mt19937 rng(c);
      std::vector<Job*> jobs;
      std::vector<RequestLanes::Ticket> tickets;
      // Half the batches end "returning" (as LineService's workers do):
      // offers meanwhile wake nobody, so a miscount strands requests.
      bool returning = false;
      while (lanes.Take(1 + rng() % 20, &jobs, &tickets, returning)) {
        returning = rng() % 2 == 0;
        for (const auto& t : tickets) {
          const int h = ++holders[t.lane->key];
          int m = max_holders.load();
          while (h > m && !max_holders.compare_exchange_weak(m, h)) {
          }
        }
        // Run a prefix; hand the rest back now and then.
        size_t run = jobs.size();
        if (rng() % 4 == 0) run = rng() % (jobs.size() + 1);
        {
          absl::MutexLock lock(&mu);
          for (size_t i = 0; i < run; ++i) {
            std::vector<absl::string_view> parts =
                absl::StrSplit(jobs[i]->line.view(), ':');
            int lane = 0, seq = 0;
            ABSL_RAW_CHECK(absl::SimpleAtoi(parts[0], &lane) &&
                               absl::SimpleAtoi(parts[1], &seq),
                           "bad line");
            ++times[lane * kJobsPerLane + seq];
            if (max_running == 1 && next[lane] != seq) order_ok = false;
            next[lane] = seq + 1;
          }
        }
        taken_total += static_cast<int>(run);
        for (const auto& t : tickets) {
          RequestLanes::MarkSlow(t, rng() % 8 == 0);
          --holders[t.lane->key];
        }
        if (run < jobs.size()) {
          EXPECT_EQ(lanes.GiveBack(absl::MakeSpan(jobs).subspan(run), tickets,
                                   returning),
                    0u);
        } else {
          lanes.Finish(tickets, returning);
        }
        // The ones run go back to the storage (as the producers take
        // more from it).
        lanes.Recycle(absl::MakeSpan(jobs).first(run));
        jobs.clear();
        tickets.clear();
      }
    });
  }

  for (auto& t : producers) t.join();
  ASSERT_LT(absl::Now(), deadline) << "producers did not finish";
  lanes.Close(/*drop=*/false);
  // Bounded: should the consumers not drain, Close(true) stops them.
  const bool drained = Eventually(
      [&] { return taken_total.load() == kLanes * kJobsPerLane; }, kBound);
  if (!drained) lanes.Close(/*drop=*/true);
  for (auto& t : consumers) t.join();
  EXPECT_TRUE(drained) << taken_total.load();
  for (int i = 0; i < kLanes * kJobsPerLane; ++i) {
    ASSERT_EQ(times[i], 1) << "job " << i / kJobsPerLane << ":"
                           << i % kJobsPerLane;
  }
  EXPECT_TRUE(order_ok);
  EXPECT_LE(max_holders.load(), static_cast<int>(max_running));
  EXPECT_EQ(lanes.queued(), 0u);
}

TEST(RequestLanesTest, StressOneRunnerPerLaneKeepsOrder) { Stress(1); }
TEST(RequestLanesTest, StressTwoRunnersPerLane) { Stress(2); }

}  // namespace
}  // namespace spindle::io::internal
