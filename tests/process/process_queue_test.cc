// Copyright 2026 The spindle Authors.
//
// Tests for spindle/process/process_queue.h.
//
// Most tests fork children with spindle::Process (daemon, so that a test
// that fails early does not leave them behind). Children report through
// exit codes (CHILD_CHECK prints the failed condition and exits 1) and
// through small shared-memory blocks of atomics. Processes synchronise
// through the queue itself and its waiter counts (getters_waiting() etc.),
// never through sleeps; every wait is bounded (test_util::kBound). Where a
// short timeout is the point of a check (a call must time out, a child must
// still be blocked), a comment says so and the assertion leaves slack.
//
// The test parent stays single-threaded while it forks (the one test that
// uses threads runs them in one process and forks nothing), so everything
// here also runs under ThreadSanitizer.

#include "spindle/process/process_queue.h"

#include <signal.h>
#include <sys/mman.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <new>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "spindle/concurrency/status.h"
#include "spindle/process/process.h"
#include "tests/test_util.h"

namespace spindle {
namespace {

using process_queue_internal::TestHooks;
using test_util::Eventually;
using test_util::kBlockedFor;
using test_util::kBound;

// A lost wake-up must show up as a hang (which the bounded waits turn into a
// failure), not be papered over by the queue's periodic re-check (a safety
// net for processes that die owing a wake-up): off in this test program and
// in every child it forks, except where a test turns it back on.
[[maybe_unused]] const bool kRecheckOff = [] {
  TestHooks::SetRecheckPeriod(absl::InfiniteDuration());
  return true;
}();

// In a child: on failure, say where and exit with code 1.
#define CHILD_CHECK(cond)                                                 \
  do {                                                                    \
    if (!(cond)) {                                                        \
      std::fprintf(stderr, "child check failed at %s:%d: %s\n", __FILE__, \
                   __LINE__, #cond);                                      \
      return 1;                                                           \
    }                                                                     \
  } while (0)

// Starts `fn` (returning the exit code) in a daemon child process.
template <typename F>
std::unique_ptr<Process> Spawn(F&& fn) {
  auto p = std::make_unique<Process>(
      Process::Options{.name = "pq-child", .daemon = true},
      std::forward<F>(fn));
  const absl::Status s = p->Start();
  EXPECT_TRUE(s.ok()) << s;
  return p;
}

// Waits (bounded) for `p` to exit and returns its exit code (-N: killed by
// signal N). A child still running after kBound is killed and the test fails
// (so children use the untimed calls: a lost wake-up shows up here).
int Reap(Process& p) {
  if (!p.JoinFor(kBound)) {
    ADD_FAILURE() << "child " << p.pid() << " still running after " << kBound;
    (void)p.Kill();
    p.Join();
  }
  return p.exitcode().value_or(-1000);
}

// Runs `call`, a blocking call on a queue bounded by kBound, and fails the
// test if it returned only at that bound: a timed call re-checks the queue
// at its deadline, which would hide a lost wake-up.
template <typename F>
auto WithinBound(F call) {
  const absl::Time start = absl::Now();
  auto result = call();
  EXPECT_LT(absl::Now() - start, kBound - absl::Seconds(1))
      << "returned only at its deadline: a wake-up was lost";
  return result;
}

// True if `p` is still running after kBlockedFor (watching it stay blocked
// is the point of this wait).
bool StillBlocked(Process& p) { return !p.JoinFor(kBlockedFor); }

// What the kernel says process `pid` is doing (state, wait channel, kernel
// stack), for failure messages.
std::string ProcessReport(pid_t pid) {
  std::string report;
  for (const char* file : {"stat", "wchan", "stack"}) {
    std::ifstream in(absl::StrCat("/proc/", pid, "/", file));
    std::stringstream text;
    text << in.rdbuf();
    absl::StrAppend(&report, file, ": ", text.str(), "\n");
  }
  return report;
}

// A T (made of atomics) in MAP_SHARED memory, visible to forked children.
template <typename T>
class SharedBlock {
 public:
  SharedBlock() {
    void* p = mmap(nullptr, sizeof(T), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) std::abort();
    ptr_ = new (p) T();
  }
  ~SharedBlock() {
    ptr_->~T();
    munmap(ptr_, sizeof(T));
  }
  SharedBlock(const SharedBlock&) = delete;
  SharedBlock& operator=(const SharedBlock&) = delete;
  T* operator->() const { return ptr_; }
  T& operator*() const { return *ptr_; }

 private:
  T* ptr_;
};

ProcessQueue MakeQueue(ProcessQueue::Options options = {}) {
  absl::StatusOr<ProcessQueue> q = ProcessQueue::Create(options);
  if (!q.ok()) {
    ADD_FAILURE() << q.status();
    std::abort();
  }
  return *std::move(q);
}

JoinableProcessQueue MakeJoinable(ProcessQueue::Options options = {}) {
  absl::StatusOr<JoinableProcessQueue> q =
      JoinableProcessQueue::Create(options);
  if (!q.ok()) {
    ADD_FAILURE() << q.status();
    std::abort();
  }
  return *std::move(q);
}

// --- Messages for the multi-process tests: self-checking, numbered. ---------

uint64_t Mix(uint64_t x) {  // splitmix64's finaliser.
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// 16 bytes of (producer, seq) then 0..40 bytes of a pattern derived from them.
std::string MakeMessage(uint32_t producer, uint64_t seq) {
  std::string m(16 + seq % 41, '\0');
  std::memcpy(m.data(), &producer, sizeof(producer));
  std::memcpy(m.data() + 8, &seq, sizeof(seq));
  for (size_t i = 16; i < m.size(); ++i) {
    m[i] = static_cast<char>((producer * 31 + seq + i) & 0xff);
  }
  return m;
}

bool ParseMessage(const std::string& m, uint32_t* producer, uint64_t* seq) {
  if (m.size() < 16) return false;
  std::memcpy(producer, m.data(), sizeof(*producer));
  std::memcpy(seq, m.data() + 8, sizeof(*seq));
  if (m.size() != 16 + *seq % 41) return false;
  for (size_t i = 16; i < m.size(); ++i) {
    if (m[i] != static_cast<char>((*producer * 31 + *seq + i) & 0xff)) {
      return false;
    }
  }
  return true;
}

uint64_t MessageHash(uint32_t producer, uint64_t seq) {
  return Mix((static_cast<uint64_t>(producer) << 40) ^ seq);
}

// --- Creation, FIFO, sizes
// ----------------------------------------------------

TEST(ProcessQueueTest, CreateRejectsInconsistentOptions) {
  absl::StatusOr<ProcessQueue> q =
      ProcessQueue::Create({.capacity_bytes = 8, .max_message = 8});
  EXPECT_TRUE(absl::IsInvalidArgument(q.status())) << q.status();
  q = ProcessQueue::Create({.capacity_bytes = 2, .max_message = 0});
  EXPECT_TRUE(absl::IsInvalidArgument(q.status())) << q.status();
  q = ProcessQueue::Create(
      {.capacity_bytes = size_t{1} << 34, .max_message = size_t{1} << 33});
  EXPECT_TRUE(absl::IsInvalidArgument(q.status())) << q.status();
  // Exactly one max-size message fits.
  q = ProcessQueue::Create({.capacity_bytes = 12, .max_message = 8});
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->capacity_bytes(), 12u);
  EXPECT_EQ(q->max_message(), 8u);
  EXPECT_EQ(q->maxsize(), 0);
  EXPECT_OK(q->TryPut("12345678"));
  EXPECT_TRUE(q->full());
  EXPECT_TRUE(IsFull(q->TryPut("")));
}

TEST(ProcessQueueTest, FifoAndBinarySafe) {
  ProcessQueue q = MakeQueue();
  EXPECT_TRUE(q.empty());
  EXPECT_FALSE(q.full());
  const std::string binary("a\0b\xff\x01", 5);
  ASSERT_OK(q.Put("first"));
  ASSERT_OK(q.Put(""));
  ASSERT_OK(q.Put(binary));
  EXPECT_EQ(q.qsize(), 3u);
  EXPECT_FALSE(q.empty());
  EXPECT_EQ(q.free_bytes(), q.capacity_bytes() - 3 * 4 - 5 - 0 - 5);
  EXPECT_EQ(*q.Get(), "first");
  EXPECT_EQ(*q.Get(), "");
  EXPECT_EQ(*q.TryGet(), binary);
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.free_bytes(), q.capacity_bytes());
}

TEST(ProcessQueueTest, MessagesWrapAroundTheRing) {
  // 64-byte ring, 4+27-byte records: records straddle the end of the ring
  // in every position as the queue keeps one or two of them.
  ProcessQueue q = MakeQueue({.capacity_bytes = 64, .max_message = 40});
  for (uint64_t i = 0; i < 500; ++i) {
    const std::string m = absl::StrCat("message-", i, "-", std::string(27, 'x'))
                              .substr(0, 27 - (i % 3));
    ASSERT_OK(q.TryPut(m));
    if (i % 2 == 0) {
      ASSERT_OK(q.TryPut("odd"));
      EXPECT_EQ(*q.TryGet(), m);
      EXPECT_EQ(*q.TryGet(), "odd");
    } else {
      EXPECT_EQ(*q.TryGet(), m);
    }
  }
  EXPECT_TRUE(q.empty());
}

TEST(ProcessQueueTest, OversizeMessageIsInvalidArgument) {
  ProcessQueue q = MakeQueue({.capacity_bytes = 64, .max_message = 16});
  EXPECT_TRUE(absl::IsInvalidArgument(q.Put(std::string(17, 'x'))));
  EXPECT_TRUE(absl::IsInvalidArgument(q.TryPut(std::string(17, 'x'))));
  EXPECT_TRUE(q.empty());
  EXPECT_OK(q.Put(std::string(16, 'x')));
  // Checked before anything else, even shutdown.
  q.Shutdown();
  EXPECT_TRUE(absl::IsInvalidArgument(q.Put(std::string(17, 'x'))));
}

TEST(ProcessQueueTest, NowaitVariants) {
  ProcessQueue q = MakeQueue({.capacity_bytes = 64, .maxsize = 2});
  EXPECT_TRUE(IsEmpty(q.TryGet().status()));
  ASSERT_OK(q.TryPut("a"));
  ASSERT_OK(q.TryPut("b"));
  EXPECT_TRUE(q.full());
  EXPECT_TRUE(IsFull(q.TryPut("c")));
  // A zero or negative timeout, or a past deadline, does not block either.
  EXPECT_TRUE(IsFull(q.PutFor("c", absl::ZeroDuration())));
  EXPECT_TRUE(IsFull(q.PutFor("c", absl::Seconds(-1))));
  EXPECT_TRUE(IsFull(q.PutUntil("c", absl::InfinitePast())));
  EXPECT_EQ(*q.TryGet(), "a");
  EXPECT_EQ(*q.GetFor(absl::ZeroDuration()), "b");
  EXPECT_TRUE(IsEmpty(q.GetFor(absl::Seconds(-1)).status()));
  EXPECT_TRUE(IsEmpty(q.GetUntil(absl::Now() - absl::Seconds(1)).status()));
}

TEST(ProcessQueueTest, FullByBytes) {
  ProcessQueue q = MakeQueue({.capacity_bytes = 32, .max_message = 20});
  ASSERT_OK(q.TryPut(std::string(20, 'x')));  // 24 of 32 bytes.
  EXPECT_FALSE(q.full());
  EXPECT_EQ(q.free_bytes(), 8u);
  EXPECT_TRUE(IsFull(q.TryPut("12345")));  // Needs 9.
  EXPECT_OK(q.TryPut("1234"));             // Needs 8.
  EXPECT_TRUE(q.full());
  EXPECT_TRUE(IsFull(q.TryPut("")));
}

TEST(ProcessQueueTest, GetForTimesOutWhenEmpty) {
  ProcessQueue q = MakeQueue();
  // The timeout is the point: the call must wait about 200 ms, then fail.
  const absl::Time start = absl::Now();
  absl::StatusOr<std::string> m = q.GetFor(absl::Milliseconds(200));
  const absl::Duration took = absl::Now() - start;
  EXPECT_TRUE(IsEmpty(m.status())) << m.status();
  EXPECT_GE(took, absl::Milliseconds(190));
  EXPECT_LT(took, kBound);
}

TEST(ProcessQueueTest, PutForTimesOutWhenFull) {
  ProcessQueue q = MakeQueue({.maxsize = 1});
  ASSERT_OK(q.Put("x"));
  // The timeout is the point.
  const absl::Time start = absl::Now();
  const absl::Status s = q.PutFor("y", absl::Milliseconds(200));
  const absl::Duration took = absl::Now() - start;
  EXPECT_TRUE(IsFull(s)) << s;
  EXPECT_GE(took, absl::Milliseconds(190));
  EXPECT_LT(took, kBound);
  EXPECT_EQ(q.qsize(), 1u);
}

TEST(ProcessQueueTest, MoveKeepsTheQueue) {
  ProcessQueue a = MakeQueue();
  ASSERT_OK(a.Put("kept"));
  ProcessQueue b(std::move(a));
  EXPECT_EQ(*b.Get(), "kept");
  ProcessQueue c = MakeQueue();
  c = std::move(b);
  ASSERT_OK(c.Put("again"));
  EXPECT_EQ(*c.Get(), "again");
}

// --- Blocking across processes
// -------------------------------------------------

TEST(ProcessQueueTest, BlockedGetReleasedByPutFromAnotherProcess) {
  ProcessQueue q = MakeQueue();
  auto child = Spawn([&q]() -> int {
    CHILD_CHECK(Eventually([&q] { return q.getters_waiting() >= 1; }));
    CHILD_CHECK(q.Put("from child").ok());
    return 0;
  });
  absl::StatusOr<std::string> m =
      WithinBound([&q] { return q.GetFor(kBound); });
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(*m, "from child");
  EXPECT_EQ(Reap(*child), 0);
}

TEST(ProcessQueueTest, BlockedGetInAnotherProcessReleasedByPut) {
  ProcessQueue q = MakeQueue();
  auto child = Spawn([&q]() -> int {
    absl::StatusOr<std::string> m = q.Get();
    CHILD_CHECK(m.ok() && *m == "from parent");
    return 0;
  });
  ASSERT_TRUE(Eventually([&q] { return q.getters_waiting() >= 1; }));
  EXPECT_TRUE(StillBlocked(*child));
  ASSERT_OK(q.Put("from parent"));
  EXPECT_EQ(Reap(*child), 0);
}

TEST(ProcessQueueTest, PutOnFullBlocksUntilGetInAnotherProcess) {
  ProcessQueue q = MakeQueue({.maxsize = 1});
  ASSERT_OK(q.Put("first"));
  auto child = Spawn([&q]() -> int {
    CHILD_CHECK(q.Put("second").ok());
    return 0;
  });
  ASSERT_TRUE(Eventually([&q] { return q.putters_waiting() >= 1; }));
  EXPECT_TRUE(StillBlocked(*child));
  EXPECT_EQ(*q.GetFor(kBound), "first");
  EXPECT_EQ(Reap(*child), 0);
  EXPECT_EQ(*q.TryGet(), "second");
}

TEST(ProcessQueueTest, PutBlocksUntilEnoughBytesAreFree) {
  // 64-byte ring: two 24-byte records fill 48 bytes; a 30-byte message
  // (34 bytes) needs both gone... or at least one (16 + 34 <= 64 after one).
  ProcessQueue q = MakeQueue({.capacity_bytes = 64, .max_message = 40});
  ASSERT_OK(q.Put(std::string(20, 'a')));
  ASSERT_OK(q.Put(std::string(20, 'b')));
  auto child = Spawn([&q]() -> int {
    CHILD_CHECK(q.Put(std::string(30, 'c')).ok());
    return 0;
  });
  ASSERT_TRUE(Eventually([&q] { return q.putters_waiting() >= 1; }));
  EXPECT_TRUE(StillBlocked(*child));
  EXPECT_EQ(*q.Get(), std::string(20, 'a'));
  EXPECT_EQ(Reap(*child), 0);
  EXPECT_EQ(*q.Get(), std::string(20, 'b'));
  EXPECT_EQ(*q.Get(), std::string(30, 'c'));
}

TEST(ProcessQueueTest, ChildKeepsTheQueueAfterTheParentDetaches) {
  struct Flags {
    std::atomic<int> parent_detached{0};
  };
  SharedBlock<Flags> flags;
  std::optional<ProcessQueue> q = MakeQueue();
  ASSERT_OK(q->Put("left behind"));
  ProcessQueue* child_q = &*q;
  auto child = Spawn([child_q, &flags]() -> int {
    CHILD_CHECK(Eventually([&] { return flags->parent_detached.load() == 1; }));
    absl::StatusOr<std::string> m = child_q->TryGet();
    CHILD_CHECK(m.ok() && *m == "left behind");
    CHILD_CHECK(child_q->Put("still works").ok());
    CHILD_CHECK(*child_q->TryGet() == "still works");
    return 0;
  });
  q.reset();  // munmap in the parent only.
  flags->parent_detached.store(1);
  EXPECT_EQ(Reap(*child), 0);
}

// --- Task tracking across processes
// -----------------------------------------------

TEST(JoinableProcessQueueTest, TaskDoneTooOftenIsInvalidArgument) {
  JoinableProcessQueue q = MakeJoinable();
  EXPECT_TRUE(absl::IsInvalidArgument(q.TaskDone()));
  EXPECT_TRUE(absl::IsInvalidArgument(q.TaskDone(-1)));
  ASSERT_OK(q.Put("a"));
  ASSERT_OK(q.Put("b"));
  EXPECT_EQ(q.unfinished_tasks(), 2);
  EXPECT_TRUE(absl::IsInvalidArgument(q.TaskDone(3)));
  EXPECT_EQ(q.unfinished_tasks(), 2);  // Unchanged by the failed call.
  // The count is shared: a child sees it and spends it.
  auto child = Spawn([&q]() -> int {
    CHILD_CHECK(q.TaskDone(2).ok());
    CHILD_CHECK(absl::IsInvalidArgument(q.TaskDone()));
    return 0;
  });
  EXPECT_EQ(Reap(*child), 0);
  EXPECT_EQ(q.unfinished_tasks(), 0);
  EXPECT_TRUE(absl::IsInvalidArgument(q.TaskDone()));
  EXPECT_TRUE(q.JoinFor(absl::ZeroDuration()));
}

TEST(JoinableProcessQueueTest, JoinWaitsForConsumersInOtherProcesses) {
  constexpr int kItems = 200;
  struct Counts {
    std::atomic<int> processed{0};
  };
  SharedBlock<Counts> counts;
  JoinableProcessQueue q = MakeJoinable();
  for (int i = 0; i < kItems; ++i) ASSERT_OK(q.Put(absl::StrCat("item-", i)));
  ASSERT_OK(q.Put("last"));
  // No consumer yet: Join must time out (the timeout is the point).
  EXPECT_FALSE(q.JoinFor(absl::Milliseconds(50)));

  auto consumer = [&q, &counts]() -> int {
    for (;;) {
      absl::StatusOr<std::string> m = q.Get();
      if (IsShutDown(m.status())) return 0;
      CHILD_CHECK(m.ok());
      if (*m == "last") {
        // Hold the last task until the parent is blocked in Join, so Join
        // demonstrably waits for this TaskDone.
        CHILD_CHECK(Eventually([&q] { return q.joiners_waiting() >= 1; }));
      }
      counts->processed.fetch_add(1);
      CHILD_CHECK(q.TaskDone().ok());
    }
  };
  auto c1 = Spawn(consumer);
  auto c2 = Spawn(consumer);
  ASSERT_TRUE(WithinBound([&q] { return q.JoinFor(kBound); }));
  EXPECT_EQ(counts->processed.load(), kItems + 1);
  EXPECT_EQ(q.unfinished_tasks(), 0);
  q.Shutdown();
  EXPECT_EQ(Reap(*c1), 0);
  EXPECT_EQ(Reap(*c2), 0);
}

TEST(JoinableProcessQueueTest, JoinersInOtherProcessesReleasedByLastTaskDone) {
  JoinableProcessQueue q = MakeJoinable();
  ASSERT_OK(q.Put("work"));
  auto joiner = [&q]() -> int {
    q.Join();
    CHILD_CHECK(q.unfinished_tasks() == 0);
    return 0;
  };
  auto j1 = Spawn(joiner);
  auto j2 = Spawn(joiner);
  ASSERT_TRUE(Eventually([&q] { return q.joiners_waiting() >= 2; }));
  EXPECT_EQ(*q.Get(), "work");
  EXPECT_TRUE(StillBlocked(*j1));  // Taken is not done.
  ASSERT_OK(q.TaskDone());
  EXPECT_EQ(Reap(*j1), 0);
  EXPECT_EQ(Reap(*j2), 0);
}

// --- Shutdown
// -------------------------------------------------------------------

class ShutdownModeTest : public testing::TestWithParam<bool> {};

TEST_P(ShutdownModeTest, WakesBlockedGettersInOtherProcesses) {
  const bool immediate = GetParam();
  ProcessQueue q = MakeQueue();
  auto getter = [&q]() -> int {
    absl::StatusOr<std::string> m = q.Get();
    CHILD_CHECK(IsShutDown(m.status()));
    return 0;
  };
  auto g1 = Spawn(getter);
  auto g2 = Spawn(getter);
  ASSERT_TRUE(Eventually([&q] { return q.getters_waiting() >= 2; }));
  q.Shutdown(immediate);
  EXPECT_EQ(Reap(*g1), 0);
  EXPECT_EQ(Reap(*g2), 0);
  EXPECT_TRUE(q.is_shutdown());
  EXPECT_TRUE(IsShutDown(q.TryPut("late")));
  EXPECT_TRUE(IsShutDown(q.Get().status()));
  EXPECT_TRUE(IsShutDown(q.TryGet().status()));
}

TEST_P(ShutdownModeTest, WakesBlockedPuttersInOtherProcesses) {
  const bool immediate = GetParam();
  JoinableProcessQueue q = MakeJoinable({.maxsize = 2});
  ASSERT_OK(q.Put("a"));
  ASSERT_OK(q.Put("b"));
  auto putter = Spawn([&q]() -> int {
    CHILD_CHECK(IsShutDown(q.Put("c")));
    return 0;
  });
  auto joiner = Spawn([&q]() -> int {
    q.Join();
    return 0;
  });
  ASSERT_TRUE(Eventually([&q] { return q.putters_waiting() >= 1; }));
  ASSERT_TRUE(Eventually([&q] { return q.joiners_waiting() >= 1; }));
  q.Shutdown(immediate);
  EXPECT_EQ(Reap(*putter), 0);
  EXPECT_TRUE(IsShutDown(q.Put("late")));  // Even though there may be room.
  if (immediate) {
    // Pending messages dropped, counted as done: Join released.
    EXPECT_EQ(Reap(*joiner), 0);
    EXPECT_EQ(q.qsize(), 0u);
    EXPECT_EQ(q.unfinished_tasks(), 0);
    EXPECT_TRUE(IsShutDown(q.TryGet().status()));
  } else {
    // Messages stay for getters; Join is not released by the shutdown.
    EXPECT_TRUE(StillBlocked(*joiner));
    EXPECT_EQ(*q.Get(), "a");
    EXPECT_EQ(*q.GetFor(kBound), "b");
    EXPECT_TRUE(IsShutDown(q.Get().status()));
    ASSERT_OK(q.TaskDone(2));
    EXPECT_EQ(Reap(*joiner), 0);
  }
}

INSTANTIATE_TEST_SUITE_P(Modes, ShutdownModeTest, testing::Bool(),
                         [](const testing::TestParamInfo<bool>& info) {
                           return info.param ? "Immediate" : "Drain";
                         });

TEST(ProcessQueueTest, ImmediateShutdownKeepsTakenButUnfinishedTasks) {
  JoinableProcessQueue q = MakeJoinable();
  ASSERT_OK(q.Put("a"));
  ASSERT_OK(q.Put("b"));
  ASSERT_OK(q.Put("c"));
  EXPECT_EQ(*q.Get(), "a");
  q.Shutdown(/*immediate=*/true);
  EXPECT_EQ(q.unfinished_tasks(), 1);  // "a" was taken, not marked done.
  EXPECT_FALSE(q.JoinFor(absl::ZeroDuration()));
  ASSERT_OK(q.TaskDone());
  EXPECT_TRUE(q.JoinFor(absl::ZeroDuration()));
  q.Shutdown(false);  // Again, either mode: no effect, no error.
  EXPECT_TRUE(q.is_shutdown());
}

// --- Many processes
// ------------------------------------------------------------------

TEST(ProcessQueueTest, ManyProducersManyConsumersNoLossNoDuplication) {
  constexpr int kProducers = 4;
  constexpr int kConsumers = 3;
  constexpr uint64_t kPerProducer = 50000;  // 200k messages in all.
  struct Result {
    std::atomic<uint64_t> count{0};
    std::atomic<uint64_t> sum{0};
    std::atomic<uint64_t> xor_hash{0};
  };
  struct Results {
    Result consumer[kConsumers];
  };
  SharedBlock<Results> results;
  // Small on purpose: producers and consumers both block often.
  ProcessQueue q =
      MakeQueue({.capacity_bytes = 4096, .maxsize = 64, .max_message = 1024});

  std::vector<std::unique_ptr<Process>> consumers;
  for (int c = 0; c < kConsumers; ++c) {
    consumers.push_back(Spawn([&q, &results, c]() -> int {
      Result& r = results->consumer[c];
      uint64_t last_seq[kProducers];
      bool seen[kProducers] = {};
      uint64_t count = 0, sum = 0, xor_hash = 0;
      for (;;) {
        absl::StatusOr<std::string> m = q.Get();
        if (IsShutDown(m.status())) break;
        CHILD_CHECK(m.ok());
        uint32_t producer;
        uint64_t seq;
        CHILD_CHECK(ParseMessage(*m, &producer, &seq));
        CHILD_CHECK(producer < kProducers);
        // FIFO: one producer's messages reach each consumer in order.
        CHILD_CHECK(!seen[producer] || seq > last_seq[producer]);
        seen[producer] = true;
        last_seq[producer] = seq;
        ++count;
        const uint64_t h = MessageHash(producer, seq);
        sum += h;
        xor_hash ^= h;
      }
      r.count.store(count);
      r.sum.store(sum);
      r.xor_hash.store(xor_hash);
      return 0;
    }));
  }
  std::vector<std::unique_ptr<Process>> producers;
  for (uint32_t p = 0; p < kProducers; ++p) {
    producers.push_back(Spawn([&q, p]() -> int {
      for (uint64_t seq = 0; seq < kPerProducer; ++seq) {
        CHILD_CHECK(q.Put(MakeMessage(p, seq)).ok());
      }
      return 0;
    }));
  }
  for (auto& p : producers) EXPECT_EQ(Reap(*p), 0);
  q.Shutdown();  // Consumers drain what is left, then stop.
  for (auto& c : consumers) EXPECT_EQ(Reap(*c), 0);

  uint64_t want_sum = 0, want_xor = 0;
  for (uint32_t p = 0; p < kProducers; ++p) {
    for (uint64_t seq = 0; seq < kPerProducer; ++seq) {
      want_sum += MessageHash(p, seq);
      want_xor ^= MessageHash(p, seq);
    }
  }
  uint64_t count = 0, sum = 0, xor_hash = 0;
  for (int c = 0; c < kConsumers; ++c) {
    count += results->consumer[c].count.load();
    sum += results->consumer[c].sum.load();
    xor_hash ^= results->consumer[c].xor_hash.load();
  }
  EXPECT_EQ(count, kProducers * kPerProducer);
  EXPECT_EQ(sum, want_sum);
  EXPECT_EQ(xor_hash, want_xor);
  EXPECT_TRUE(q.empty());
}

// --- Processes that die
// ------------------------------------------------------------

TEST(ProcessQueueTest, OwnerKilledWhileHoldingTheLockDoesNotDeadlock) {
  struct Flags {
    std::atomic<int> locked{0};
  };
  SharedBlock<Flags> flags;
  ProcessQueue q = MakeQueue();
  ASSERT_OK(q.Put("before"));
  auto holder = Spawn([&q, &flags]() -> int {
    TestHooks::LockAndHold(q);
    flags->locked.store(1);
    for (;;) pause();  // Killed here, lock held.
  });
  ASSERT_TRUE(Eventually([&] { return flags->locked.load() == 1; }));
  // Another process now blocks on the lock itself.
  auto getter = Spawn([&q]() -> int {
    absl::StatusOr<std::string> m = q.Get();
    CHILD_CHECK(m.ok() && *m == "before");
    m = q.Get();
    CHILD_CHECK(m.ok() && *m == "after");
    return 0;
  });
  EXPECT_TRUE(StillBlocked(*getter));
  ASSERT_OK(holder->Kill());
  EXPECT_EQ(Reap(*holder), -SIGKILL);
  ASSERT_OK(WithinBound([&q] { return q.PutFor("after", kBound); }));
  EXPECT_EQ(Reap(*getter), 0);
  EXPECT_EQ(TestHooks::owner_deaths(q), 1);
  // The lock is usable again, the queue consistent.
  EXPECT_TRUE(q.empty());
  ASSERT_OK(q.TryPut("later"));
  EXPECT_EQ(*q.TryGet(), "later");
}

TEST(ProcessQueueTest, GetterKilledWhileBlockedDoesNotSwallowAWakeUp) {
  // The re-check safety net is off here: the put below must wake the live
  // getter, not the dead one.
  ProcessQueue q = MakeQueue();
  auto doomed = Spawn([&q]() -> int {
    (void)q.Get();
    return 1;  // Not reached: killed while blocked.
  });
  ASSERT_TRUE(Eventually([&q] { return q.getters_waiting() >= 1; }));
  auto live = Spawn([&q]() -> int {
    absl::StatusOr<std::string> m = q.Get();
    CHILD_CHECK(m.ok() && *m == "for the living");
    return 0;
  });
  ASSERT_TRUE(Eventually([&q] { return q.getters_waiting() >= 2; }));
  ASSERT_OK(doomed->Kill());
  EXPECT_EQ(Reap(*doomed), -SIGKILL);
  // The dead getter is still counted (documented): it cannot say it left.
  EXPECT_EQ(q.getters_waiting(), 2u);
  ASSERT_OK(q.Put("for the living"));
  EXPECT_EQ(Reap(*live), 0);
  EXPECT_TRUE(q.empty());
  // Later calls work as before.
  ASSERT_OK(q.Put("later"));
  EXPECT_EQ(*q.TryGet(), "later");
  EXPECT_EQ(TestHooks::owner_deaths(q), 0);
}

class CrashPointTest : public testing::TestWithParam<TestHooks::CrashPoint> {};

// A process killed at each point inside Put / Get leaves the queue as if
// its operation had happened entirely, or not at all.
TEST_P(CrashPointTest, KilledMidOperationLeavesTheQueueConsistent) {
  using CP = TestHooks::CrashPoint;
  const CP point = GetParam();
  JoinableProcessQueue q =
      MakeJoinable({.capacity_bytes = 64, .max_message = 40});
  // Move the positions so the dying operation's record wraps the ring.
  ASSERT_OK(q.Put(std::string(40, 'w')));
  EXPECT_EQ(q.Get()->size(), 40u);
  ASSERT_OK(q.TaskDone());
  ASSERT_OK(q.Put("one"));
  ASSERT_OK(q.Put("two"));
  const bool put = point == CP::kPutAfterCopy || point == CP::kPutAfterCommit;
  auto victim = Spawn([&q, point, put]() -> int {
    TestHooks::SetCrashPoint(point);
    if (put) {
      (void)q.Put(std::string(30, 'd'));
    } else {
      (void)q.Get();
    }
    return 1;  // Not reached: the crash point kills us.
  });
  EXPECT_EQ(Reap(*victim), -SIGKILL);

  std::vector<std::string> want;
  switch (point) {
    case CP::kPutAfterCopy:
      want = {"one", "two"};
      break;
    case CP::kPutAfterCommit:
      want = {"one", "two", std::string(30, 'd')};
      break;
    case CP::kGetAfterCopy:
      want = {"one", "two"};
      break;
    case CP::kGetAfterCommit:
      want = {"two"};
      break;
    case CP::kNone:
      break;
  }
  EXPECT_EQ(q.unfinished_tasks(), point == CP::kPutAfterCommit ? 3 : 2);
  std::vector<std::string> got;
  while (true) {
    absl::StatusOr<std::string> m = q.TryGet();
    if (!m.ok()) {
      EXPECT_TRUE(IsEmpty(m.status())) << m.status();
      break;
    }
    got.push_back(*m);
  }
  EXPECT_EQ(got, want);
  EXPECT_EQ(TestHooks::owner_deaths(q), 1);  // We found the lock abandoned.
  EXPECT_EQ(q.free_bytes(), 64u);
  // Still a working queue.
  ASSERT_OK(q.Put(std::string(40, 'z')));
  EXPECT_EQ(*q.Get(), std::string(40, 'z'));
}

INSTANTIATE_TEST_SUITE_P(
    Points, CrashPointTest,
    testing::Values(TestHooks::CrashPoint::kPutAfterCopy,
                    TestHooks::CrashPoint::kPutAfterCommit,
                    TestHooks::CrashPoint::kGetAfterCopy,
                    TestHooks::CrashPoint::kGetAfterCommit),
    [](const testing::TestParamInfo<TestHooks::CrashPoint>& info) {
      switch (info.param) {
        case TestHooks::CrashPoint::kPutAfterCopy:
          return "PutAfterCopy";
        case TestHooks::CrashPoint::kPutAfterCommit:
          return "PutAfterCommit";
        case TestHooks::CrashPoint::kGetAfterCopy:
          return "GetAfterCopy";
        case TestHooks::CrashPoint::kGetAfterCommit:
          return "GetAfterCommit";
        default:
          return "None";
      }
    });

TEST(ProcessQueueTest, ConsumersKilledInALoopDoNotDeadlockTheRest) {
  // One producer streams numbered messages through a small queue until told
  // to stop; consumers are SIGKILLed one after another at arbitrary moments
  // (sometimes inside the queue's lock), a fresh one taking over each time.
  // Nothing may hang, no message may be corrupted or delivered twice, and
  // each kill may lose at most the one message its victim had just taken.
  constexpr int kKills = 12;
  struct Progress {
    std::atomic<int> stop{0};
    std::atomic<uint64_t> produced{0};
    std::atomic<uint64_t> received[kKills + 1];
    std::atomic<int64_t> first[kKills + 1];
    std::atomic<int64_t> last[kKills + 1];
  };
  SharedBlock<Progress> progress;
  // This test runs with the production re-check period: a victim may die
  // after taking a message and before waking a blocked producer.
  TestHooks::SetRecheckPeriod(TestHooks::DefaultRecheckPeriod());
  struct RecheckOffAgain {
    ~RecheckOffAgain() {
      TestHooks::SetRecheckPeriod(absl::InfiniteDuration());
    }
  } recheck_off_again;
  for (int i = 0; i <= kKills; ++i) {
    progress->received[i].store(0);
    progress->first[i].store(-1);
    progress->last[i].store(-1);
  }
  ProcessQueue q =
      MakeQueue({.capacity_bytes = 2048, .maxsize = 32, .max_message = 256});
  auto producer = Spawn([&q, &progress]() -> int {
    for (uint64_t seq = 0; progress->stop.load() == 0; ++seq) {
      CHILD_CHECK(q.Put(MakeMessage(7, seq)).ok());
      progress->produced.store(seq + 1);
    }
    return 0;
  });
  auto consume = [&q, &progress](int i) -> int {
    int64_t last = -1;
    for (;;) {
      absl::StatusOr<std::string> m = q.Get();
      if (IsShutDown(m.status())) return 0;
      CHILD_CHECK(m.ok());
      uint32_t producer;
      uint64_t seq;
      CHILD_CHECK(ParseMessage(*m, &producer, &seq) && producer == 7);
      CHILD_CHECK(static_cast<int64_t>(seq) > last);
      last = static_cast<int64_t>(seq);
      if (progress->first[i].load() < 0) progress->first[i].store(last);
      progress->last[i].store(last);
      progress->received[i].fetch_add(1);
    }
  };
  auto diagnose = [&](int i, Process& consumer) {
    return absl::StrCat(
        "consumer ", i, " received ", progress->received[i].load(),
        "; produced ", progress->produced.load(), ", qsize ", q.qsize(),
        ", getters ", q.getters_waiting(), ", putters ", q.putters_waiting(),
        ", owner deaths ", TestHooks::owner_deaths(q),
        "\nconsumer: ", ProcessReport(consumer.pid()),
        "\nproducer: ", ProcessReport(producer->pid()));
  };
  for (int i = 0; i < kKills; ++i) {
    auto consumer = Spawn([&consume, i] { return consume(i); });
    const uint64_t target = 200 + 131 * static_cast<uint64_t>(i);
    ASSERT_TRUE(Eventually([&] {
      return progress->received[i].load() >= target;
    })) << diagnose(i, *consumer);
    ASSERT_OK(consumer->Kill());
    EXPECT_EQ(Reap(*consumer), -SIGKILL);
  }
  auto last_consumer = Spawn([&consume] { return consume(kKills); });
  ASSERT_TRUE(Eventually([&] {
    return progress->received[kKills].load() >= 100;
  })) << diagnose(kKills, *last_consumer);
  progress->stop.store(1);
  EXPECT_EQ(Reap(*producer), 0);
  q.Shutdown();  // The last consumer drains the queue, then leaves.
  EXPECT_EQ(Reap(*last_consumer), 0);

  const uint64_t produced = progress->produced.load();
  uint64_t total = 0;
  int64_t previous_last = -1;
  for (int i = 0; i <= kKills; ++i) {
    total += progress->received[i].load();
    // Consumers ran one after another: no message seen twice.
    EXPECT_GT(progress->first[i].load(), previous_last) << "consumer " << i;
    previous_last = progress->last[i].load();
  }
  EXPECT_LE(total, produced);
  EXPECT_GE(total + kKills, produced);
  // Only the last consumer ran after the producer stopped: it got the end.
  EXPECT_EQ(progress->last[kKills].load(), static_cast<int64_t>(produced) - 1);
  std::printf(
      "killed %d consumers; %llu of %llu message(s) lost with them; the "
      "lock was found abandoned %lld time(s)\n",
      kKills, static_cast<unsigned long long>(produced - total),
      static_cast<unsigned long long>(produced),
      static_cast<long long>(TestHooks::owner_deaths(q)));
}

// --- Threads sharing one handle (no fork)
// ----------------------------------------

TEST(ProcessQueueTest, ThreadsOfOneProcessShareAHandle) {
  constexpr int kPerThread = 20000;
  ProcessQueue q = MakeQueue({.capacity_bytes = 1024, .maxsize = 16});
  std::atomic<uint64_t> sum{0};
  std::atomic<int> count{0};
  std::vector<std::thread> threads;
  for (uint32_t p = 0; p < 2; ++p) {
    threads.emplace_back([&q, p] {
      for (uint64_t seq = 0; seq < kPerThread; ++seq) {
        ASSERT_OK(q.PutFor(MakeMessage(p, seq), kBound));
      }
    });
  }
  for (int c = 0; c < 2; ++c) {
    threads.emplace_back([&] {
      for (;;) {
        absl::StatusOr<std::string> m = q.GetFor(kBound);
        if (IsShutDown(m.status())) return;
        ASSERT_TRUE(m.ok()) << m.status();
        uint32_t producer;
        uint64_t seq;
        ASSERT_TRUE(ParseMessage(*m, &producer, &seq));
        sum.fetch_add(MessageHash(producer, seq));
        count.fetch_add(1);
      }
    });
  }
  threads[0].join();
  threads[1].join();
  q.Shutdown();
  threads[2].join();
  threads[3].join();
  uint64_t want = 0;
  for (uint32_t p = 0; p < 2; ++p) {
    for (uint64_t seq = 0; seq < kPerThread; ++seq) {
      want += MessageHash(p, seq);
    }
  }
  EXPECT_EQ(count.load(), 2 * kPerThread);
  EXPECT_EQ(sum.load(), want);
}

}  // namespace
}  // namespace spindle
