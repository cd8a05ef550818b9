// Copyright 2026 The spindle Authors.
//
// Parallel loops on a ThreadPoolExecutor: SplitRange, SubmitBlocks,
// SubmitLoop, ExecuteBlocks, ParallelFor.

#include "spindle/concurrency/parallel_loop.h"

#include <atomic>
#include <cstdint>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "spindle/concurrency/future.h"
#include "spindle/concurrency/status.h"
#include "spindle/concurrency/thread_pool.h"
#include "tests/test_util.h"

namespace spindle {
namespace {

using ::spindle::test_util::kBound;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// One counter per index: every index must be run exactly once.
class IndexCounts {
 public:
  explicit IndexCounts(int64_t n) : counts_(new std::atomic<int>[n]), n_(n) {
    for (int64_t i = 0; i < n; ++i) counts_[i] = 0;
  }
  void Hit(int64_t i) { counts_[i].fetch_add(1); }
  bool EachOnce() const {
    for (int64_t i = 0; i < n_; ++i) {
      if (counts_[i].load() != 1) return false;
    }
    return true;
  }
  int Total() const {
    int t = 0;
    for (int64_t i = 0; i < n_; ++i) t += counts_[i].load();
    return t;
  }

 private:
  std::unique_ptr<std::atomic<int>[]> counts_;
  int64_t n_;
};

TEST(SplitRangeTest, NearEqualContiguousBlocks) {
  auto blocks = SplitRange(10, 20, 3);
  ASSERT_TRUE(blocks.ok());
  EXPECT_THAT(*blocks, ElementsAre(IndexBlock{10, 14}, IndexBlock{14, 17},
                                   IndexBlock{17, 20}));
}

TEST(SplitRangeTest, MoreBlocksThanIndicesGivesOneIndexEach) {
  auto blocks = SplitRange(-2, 1, 8);
  ASSERT_TRUE(blocks.ok());
  EXPECT_THAT(*blocks, ElementsAre(IndexBlock{-2, -1}, IndexBlock{-1, 0},
                                   IndexBlock{0, 1}));
}

TEST(SplitRangeTest, EmptyRangeHasNoBlocks) {
  auto blocks = SplitRange(5, 5, 4);
  ASSERT_TRUE(blocks.ok());
  EXPECT_TRUE(blocks->empty());
}

TEST(SplitRangeTest, BadArgumentsAreInvalidArgument) {
  EXPECT_TRUE(absl::IsInvalidArgument(SplitRange(3, 2, 1).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(SplitRange(0, 10, 0).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(SplitRange(0, 10, -1).status()));
}

TEST(SplitRangeTest, WholeInt64RangeDoesNotOverflow) {
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  auto blocks = SplitRange(kMin, kMax, 2);
  ASSERT_TRUE(blocks.ok());
  ASSERT_EQ(blocks->size(), 2u);
  EXPECT_EQ((*blocks)[0].begin, kMin);
  EXPECT_EQ((*blocks)[0].end, (*blocks)[1].begin);
  EXPECT_EQ((*blocks)[1].end, kMax);
}

TEST(SubmitBlocksTest, RunsEveryIndexOnceAndReturnsValuesInBlockOrder) {
  ThreadPoolExecutor pool({.max_workers = 4});
  IndexCounts counts(1000);
  auto blocks = SubmitBlocks(
      pool, 0, 1000,
      [&](int64_t begin, int64_t end) {
        int64_t sum = 0;
        for (int64_t i = begin; i < end; ++i) {
          counts.Hit(i);
          sum += i;
        }
        return sum;
      },
      7);
  ASSERT_TRUE(blocks.ok());
  EXPECT_EQ(blocks->size(), 7u);
  absl::StatusOr<std::vector<int64_t>> sums = blocks->GetFor(kBound);
  ASSERT_TRUE(sums.ok()) << sums.status();
  ASSERT_EQ(sums->size(), 7u);
  int64_t total = 0;
  for (size_t b = 0; b < sums->size(); ++b) {
    const IndexBlock& block = blocks->blocks()[b];
    EXPECT_EQ((*sums)[b],
              (block.begin + block.end - 1) * (block.end - block.begin) / 2);
    total += (*sums)[b];
  }
  EXPECT_EQ(total, 999 * 1000 / 2);
  EXPECT_TRUE(counts.EachOnce());
}

TEST(SubmitBlocksTest, DefaultBlockCountIsMaxWorkers) {
  ThreadPoolExecutor pool({.max_workers = 3});
  auto blocks = SubmitBlocks(pool, 0, 100, [](int64_t, int64_t) {});
  ASSERT_TRUE(blocks.ok());
  EXPECT_EQ(blocks->size(), 3u);
  EXPECT_TRUE(blocks->GetFor(kBound).ok());
}

TEST(SubmitBlocksTest, EmptyRangeIsDoneAtOnce) {
  ThreadPoolExecutor pool({.max_workers = 2});
  std::atomic<int> calls{0};
  auto blocks =
      SubmitBlocks(pool, 4, 4, [&](int64_t, int64_t) { return ++calls; });
  ASSERT_TRUE(blocks.ok());
  EXPECT_EQ(blocks->size(), 0u);
  EXPECT_TRUE(blocks->done());
  auto values = blocks->Get();
  ASSERT_TRUE(values.ok());
  EXPECT_TRUE(values->empty());
  EXPECT_EQ(calls.load(), 0);
}

TEST(SubmitBlocksTest, BadArgumentsSubmitNothing) {
  ThreadPoolExecutor pool({.max_workers = 2});
  std::atomic<int> calls{0};
  auto fn = [&](int64_t, int64_t) { ++calls; };
  EXPECT_TRUE(absl::IsInvalidArgument(SubmitBlocks(pool, 5, 4, fn).status()));
  EXPECT_TRUE(
      absl::IsInvalidArgument(SubmitBlocks(pool, 0, 4, fn, 0).status()));
  pool.Shutdown();
  EXPECT_EQ(calls.load(), 0);
  EXPECT_EQ(pool.num_threads(), 0);
}

TEST(SubmitBlocksTest, FirstExceptionInBlockOrderIsRethrownByGet) {
  ThreadPoolExecutor pool({.max_workers = 2});
  auto blocks = SubmitBlocks(
      pool, 0, 4,
      [](int64_t begin, int64_t) -> int {
        if (begin >= 2)
          throw std::runtime_error("block " + std::to_string(begin));
        return 1;
      },
      4);
  ASSERT_TRUE(blocks.ok());
  try {
    (void)blocks->GetFor(kBound);
    ADD_FAILURE() << "Get did not throw";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "block 2");
  }
  EXPECT_TRUE(blocks->done());
}

TEST(SubmitBlocksTest, AFailureWaitsForRunningBlocksAndStopsTheOthers) {
  // Two workers: block 0 throws once block 1 runs; block 1 runs until
  // blocks 2 and 3 are done, each either run (by the worker block 0 freed)
  // or cancelled by Get. Get must not return while block 1 runs.
  ThreadPoolExecutor pool({.max_workers = 2});
  absl::Notification block1_started;
  absl::Notification have_futures;
  std::vector<Future<void>> fs;
  std::atomic<bool> block1_saw_rest_done{false};
  std::atomic<bool> block1_finished{false};
  std::atomic<int> later_blocks_ran{0};
  auto blocks = SubmitBlocks(
      pool, 0, 4,
      [&](int64_t begin, int64_t) {
        if (begin == 0) {
          block1_started.WaitForNotificationWithTimeout(kBound);
          throw std::runtime_error("first");
        }
        if (begin == 1) {
          block1_started.Notify();
          have_futures.WaitForNotificationWithTimeout(kBound);
          block1_saw_rest_done = test_util::Eventually(
              [&] { return fs[2].done() && fs[3].done(); });
          block1_finished = true;
          return;
        }
        ++later_blocks_ran;
      },
      4);
  ASSERT_TRUE(blocks.ok());
  fs = blocks->futures();
  have_futures.Notify();
  EXPECT_THROW((void)blocks->GetFor(kBound), std::runtime_error);
  EXPECT_TRUE(block1_finished.load());  // Get waited for the running block.
  EXPECT_TRUE(block1_saw_rest_done.load());
  pool.Shutdown();
  EXPECT_EQ(later_blocks_ran.load() + (fs[2].cancelled() ? 1 : 0) +
                (fs[3].cancelled() ? 1 : 0),
            2);
}

TEST(SubmitBlocksTest, CancelStopsQueuedBlocksAndGetReportsIt) {
  ThreadPoolExecutor pool({.max_workers = 1});
  absl::Notification release;
  Future<void> busy =
      pool.Submit([&] { release.WaitForNotificationWithTimeout(kBound); });
  std::atomic<int> ran{0};
  auto blocks = SubmitBlocks(
      pool, 0, 3, [&](int64_t, int64_t) { ++ran; }, 3);
  ASSERT_TRUE(blocks.ok());
  EXPECT_EQ(blocks->Cancel(), 3u);
  absl::Status s = blocks->GetFor(kBound);
  EXPECT_TRUE(IsCancelled(s)) << s;
  release.Notify();
  pool.Shutdown();
  EXPECT_EQ(ran.load(), 0);
}

TEST(SubmitBlocksTest, GetForTimesOutAndLeavesBlocksRunning) {
  ThreadPoolExecutor pool({.max_workers = 2});
  absl::Notification release;
  auto blocks = SubmitBlocks(
      pool, 0, 2,
      [&](int64_t, int64_t) {
        release.WaitForNotificationWithTimeout(kBound);
        return 7;
      },
      2);
  ASSERT_TRUE(blocks.ok());
  auto timed_out = blocks->GetFor(absl::Milliseconds(20));
  EXPECT_TRUE(IsTimeout(timed_out.status())) << timed_out.status();
  EXPECT_FALSE(blocks->WaitFor(absl::ZeroDuration()));
  release.Notify();
  auto values = blocks->GetFor(kBound);
  ASSERT_TRUE(values.ok());
  EXPECT_THAT(*values, ElementsAre(7, 7));
}

TEST(SubmitBlocksTest, AfterShutdownGetReturnsIsShutDown) {
  ThreadPoolExecutor pool({.max_workers = 2});
  pool.Shutdown();
  std::atomic<int> calls{0};
  auto blocks = SubmitBlocks(pool, 0, 10, [&](int64_t, int64_t) { ++calls; });
  ASSERT_TRUE(blocks.ok());
  absl::Status s = blocks->GetFor(kBound);
  EXPECT_TRUE(IsShutDown(s)) << s;
  EXPECT_EQ(calls.load(), 0);
}

TEST(SubmitBlocksTest, MoveOnlyFunctionIsShared) {
  ThreadPoolExecutor pool({.max_workers = 2});
  auto owned = std::make_unique<int>(5);
  auto blocks = SubmitBlocks(
      pool, 0, 4,
      [p = std::move(owned)](int64_t b, int64_t e) { return *p * (e - b); }, 2);
  ASSERT_TRUE(blocks.ok());
  auto values = blocks->GetFor(kBound);
  ASSERT_TRUE(values.ok());
  EXPECT_THAT(*values, ElementsAre(10, 10));
}

TEST(SubmitLoopTest, CallsFnForEveryIndexOnce) {
  ThreadPoolExecutor pool({.max_workers = 3});
  IndexCounts counts(257);
  auto loop = SubmitLoop(
      pool, 0, 257, [&](int64_t i) { counts.Hit(i); }, 10);
  ASSERT_TRUE(loop.ok());
  EXPECT_EQ(loop->size(), 10u);
  EXPECT_TRUE(loop->GetFor(kBound).ok());
  EXPECT_TRUE(counts.EachOnce());
}

TEST(SubmitLoopTest, LoopsComposeWhenWaitedOnFromOutside) {
  // Each block of the outer loop submits an inner loop to the same pool and
  // returns without waiting; the caller waits for all of them.
  ThreadPoolExecutor pool({.max_workers = 2});
  IndexCounts counts(40);
  std::vector<BlockFutures<void>> inner(4);
  auto outer = SubmitBlocks(
      pool, 0, 4,
      [&](int64_t b, int64_t) {
        auto loop = SubmitLoop(
            pool, b * 10, b * 10 + 10, [&](int64_t i) { counts.Hit(i); }, 3);
        if (!loop.ok()) return loop.status();
        inner[b] = *std::move(loop);
        return absl::OkStatus();
      },
      4);
  ASSERT_TRUE(outer.ok());
  auto statuses = outer->GetFor(kBound);
  ASSERT_TRUE(statuses.ok());
  for (const absl::Status& s : *statuses) EXPECT_TRUE(s.ok()) << s;
  for (const auto& loop : inner) EXPECT_TRUE(loop.GetFor(kBound).ok());
  EXPECT_TRUE(counts.EachOnce());
}

TEST(ExecuteBlocksTest, RunsEveryIndexOnce) {
  ThreadPoolExecutor pool({.max_workers = 3});
  IndexCounts counts(100);
  absl::BlockingCounter blocks_done(6);
  ASSERT_TRUE(ExecuteBlocks(
                  pool, 0, 100,
                  [&](int64_t begin, int64_t end) {
                    for (int64_t i = begin; i < end; ++i) counts.Hit(i);
                    blocks_done.DecrementCount();
                  },
                  6)
                  .ok());
  pool.Shutdown();  // Waits for the blocks.
  blocks_done.Wait();
  EXPECT_TRUE(counts.EachOnce());
}

TEST(ExecuteBlocksTest, ErrorsAreReturned) {
  ThreadPoolExecutor pool({.max_workers = 2});
  std::atomic<int> calls{0};
  auto fn = [&](int64_t, int64_t) { ++calls; };
  EXPECT_TRUE(absl::IsInvalidArgument(ExecuteBlocks(pool, 1, 0, fn)));
  EXPECT_TRUE(absl::IsInvalidArgument(ExecuteBlocks(pool, 0, 1, fn, -3)));
  EXPECT_TRUE(ExecuteBlocks(pool, 0, 0, fn).ok());
  pool.Shutdown();
  absl::Status s = ExecuteBlocks(pool, 0, 10, fn);
  EXPECT_TRUE(IsShutDown(s)) << s;
  EXPECT_EQ(calls.load(), 0);
}

TEST(ParallelForTest, RunsEveryIndexOnce) {
  ThreadPoolExecutor pool({.max_workers = 4});
  IndexCounts counts(10000);
  ASSERT_TRUE(
      ParallelFor(pool, 0, 10000, [&](int64_t i) { counts.Hit(i); }).ok());
  EXPECT_TRUE(counts.EachOnce());
  IndexCounts more(50);
  ASSERT_TRUE(ParallelFor(
                  pool, 0, 50, [&](int64_t i) { more.Hit(i); }, 50)
                  .ok());
  EXPECT_TRUE(more.EachOnce());
}

TEST(ParallelForTest, EmptyRangeAndBadArguments) {
  ThreadPoolExecutor pool({.max_workers = 2});
  std::atomic<int> calls{0};
  auto fn = [&](int64_t) { ++calls; };
  EXPECT_TRUE(ParallelFor(pool, 3, 3, fn).ok());
  EXPECT_TRUE(absl::IsInvalidArgument(ParallelFor(pool, 3, 2, fn)));
  EXPECT_TRUE(absl::IsInvalidArgument(ParallelFor(pool, 0, 2, fn, 0)));
  EXPECT_EQ(calls.load(), 0);
}

TEST(ParallelForTest, AfterShutdownRunsNothing) {
  ThreadPoolExecutor pool({.max_workers = 2});
  pool.Shutdown();
  std::atomic<int> calls{0};
  absl::Status s = ParallelFor(pool, 0, 100, [&](int64_t) { ++calls; });
  EXPECT_TRUE(IsShutDown(s)) << s;
  // A single block, too.
  s = ParallelFor(pool, 0, 1, [&](int64_t) { ++calls; });
  EXPECT_TRUE(IsShutDown(s)) << s;
  EXPECT_EQ(calls.load(), 0);
}

TEST(ParallelForTest, ExceptionIsRethrownAfterRunningBlocksFinish) {
  ThreadPoolExecutor pool({.max_workers = 2});
  std::atomic<int> running{0};
  EXPECT_THROW((void)ParallelFor(
                   pool, 0, 64,
                   [&](int64_t i) {
                     ++running;
                     if (i == 20) {
                       --running;
                       throw std::invalid_argument("index 20");
                     }
                     --running;
                   },
                   64),
               std::invalid_argument);
  // No block is still inside fn once ParallelFor has returned.
  EXPECT_EQ(running.load(), 0);
}

TEST(ParallelForTest, CallerRunsTheBlocksWhenTheOnlyWorkerIsBusy) {
  // The only worker is blocked until the loop is done: ParallelFor must not
  // wait for it (the calling thread runs every block).
  ThreadPoolExecutor pool({.max_workers = 1});
  absl::Notification loop_done;
  Future<void> busy =
      pool.Submit([&] { loop_done.WaitForNotificationWithTimeout(kBound); });
  IndexCounts counts(100);
  const absl::Time start = absl::Now();
  ASSERT_TRUE(ParallelFor(
                  pool, 0, 100, [&](int64_t i) { counts.Hit(i); }, 4)
                  .ok());
  EXPECT_LT(absl::Now() - start, kBound / 2);  // Did not wait for the worker.
  loop_done.Notify();
  EXPECT_TRUE(counts.EachOnce());
  ASSERT_TRUE(busy.WaitFor(kBound));
}

TEST(ParallelForTest, NestedInsideAOneWorkerPoolDoesNotDeadlock) {
  ThreadPoolExecutor pool({.max_workers = 1});
  IndexCounts counts(100);
  Future<absl::Status> outer = pool.Submit([&] {
    return ParallelFor(
        pool, 0, 10,
        [&](int64_t b) {
          absl::Status s = ParallelFor(
              pool, b * 10, b * 10 + 10, [&](int64_t i) { counts.Hit(i); }, 3);
          if (!s.ok()) throw std::runtime_error(std::string(s.message()));
        },
        5);
  });
  auto r = outer.ResultFor(kBound);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->ok()) << *r;
  EXPECT_TRUE(counts.EachOnce());
}

TEST(ParallelForTest, ManyLoopsFromSeveralThreads) {
  ThreadPoolExecutor pool({.max_workers = 3});
  IndexCounts counts(4 * 500);
  std::vector<Future<absl::Status>> callers;
  ThreadPoolExecutor callers_pool({.max_workers = 4});
  for (int t = 0; t < 4; ++t) {
    callers.push_back(callers_pool.Submit([&, t] {
      absl::Status s;
      for (int round = 0; round < 5 && s.ok(); ++round) {
        s = ParallelFor(pool, t * 500 + round * 100,
                        t * 500 + round * 100 + 100,
                        [&](int64_t i) { counts.Hit(i); });
      }
      return s;
    }));
  }
  for (auto& f : callers) {
    auto r = f.ResultFor(kBound);
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(r->ok()) << *r;
  }
  EXPECT_TRUE(counts.EachOnce());
}

}  // namespace
}  // namespace spindle
