// Copyright 2026 The spindle Authors.
//
// ThreadPoolExecutor::Map with chunksize (Python's Executor.map(...,
// chunksize=)): results flattened in input order, per-item exceptions, one
// deadline from the call, cancellation of the rest, chunksize < 1.

#include <atomic>
#include <list>
#include <stdexcept>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
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
using ::testing::ElementsAreArray;

template <typename R>
std::vector<R> Drain(MapResults<R>& results) {
  std::vector<R> out;
  for (absl::StatusOr<R>& r : results) {
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) break;
    out.push_back(*r);
  }
  return out;
}

class ThreadPoolMapChunkTest : public ::testing::TestWithParam<int> {};

TEST_P(ThreadPoolMapChunkTest, ResultsInInputOrder) {
  ThreadPoolExecutor pool({.max_workers = 3});
  std::vector<int> inputs;
  std::vector<int> expected;
  for (int i = 0; i < 103; ++i) {
    inputs.push_back(i);
    expected.push_back(i * i);
  }
  auto results = pool.Map([](int x) { return x * x; }, inputs, kBound,
                          /*chunksize=*/GetParam());
  EXPECT_THAT(Drain(results), ElementsAreArray(expected));
  if (GetParam() > 1) {
    EXPECT_TRUE(results.futures().empty());
    EXPECT_EQ(results.chunk_futures().size(),
              static_cast<size_t>((103 + GetParam() - 1) / GetParam()));
  }
}

TEST_P(ThreadPoolMapChunkTest, AnyRangeOfCopyableInputs) {
  ThreadPoolExecutor pool({.max_workers = 2});
  std::list<std::string> inputs = {"a", "bb", "ccc", "dddd", "eeeee"};
  auto results = pool.Map([](const std::string& s) { return s.size(); }, inputs,
                          absl::InfiniteDuration(), GetParam());
  EXPECT_THAT(Drain(results), ElementsAreArray<size_t>({1, 2, 3, 4, 5}));
}

TEST_P(ThreadPoolMapChunkTest, ExceptionIsRaisedAtItsItemAfterEarlierResults) {
  ThreadPoolExecutor pool({.max_workers = 2});
  std::vector<int> inputs = {0, 1, 2, 3, 4, 5, 6, 7};
  auto results = pool.Map(
      [](int x) {
        if (x == 5) throw std::runtime_error("five");
        return x;
      },
      inputs, kBound, GetParam());
  std::vector<int> got;
  try {
    for (absl::StatusOr<int>& r : results) {
      ASSERT_TRUE(r.ok()) << r.status();
      got.push_back(*r);
    }
    ADD_FAILURE() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "five");
  }
  EXPECT_THAT(got, ElementsAreArray({0, 1, 2, 3, 4}));
  EXPECT_FALSE(results.Next().has_value());  // Iteration ended.
}

TEST_P(ThreadPoolMapChunkTest, EmptyInputGivesNoResults) {
  ThreadPoolExecutor pool({.max_workers = 1});
  auto results = pool.Map([](int x) { return x; }, std::vector<int>{},
                          absl::InfiniteDuration(), GetParam());
  EXPECT_FALSE(results.Next().has_value());
}

INSTANTIATE_TEST_SUITE_P(Chunksizes, ThreadPoolMapChunkTest,
                         ::testing::Values(1, 2, 16, 1000));

TEST(ThreadPoolMapTest, ChunksizeBelowOneIsInvalidArgumentAndRunsNothing) {
  ThreadPoolExecutor pool({.max_workers = 1});
  std::atomic<int> calls{0};
  for (int chunksize : {0, -1}) {
    auto results = pool.Map([&](int x) { return ++calls + x; },
                            std::vector<int>{1, 2}, kBound, chunksize);
    auto r = results.Next();
    ASSERT_TRUE(r.has_value());
    EXPECT_TRUE(absl::IsInvalidArgument(r->status())) << r->status();
    EXPECT_FALSE(results.Next().has_value());
  }
  pool.Shutdown();
  EXPECT_EQ(calls.load(), 0);
}

TEST(ThreadPoolMapTest, ChunkedTimeoutCancelsTheCurrentAndRemainingChunks) {
  // A busy single worker: timeout 0 yields IsTimeout at the first item and
  // cancels every chunk, none of which starts.
  ThreadPoolExecutor pool({.max_workers = 1});
  absl::Notification release;
  Future<void> busy =
      pool.Submit([&] { release.WaitForNotificationWithTimeout(kBound); });
  std::atomic<int> started{0};
  std::vector<Future<internal::MapChunk<int>>> chunks;
  {
    auto results =
        pool.Map([&](int x) { return ++started + x; },
                 std::vector<int>{1, 2, 3, 4, 5}, absl::ZeroDuration(), 2);
    chunks = results.chunk_futures();
    ASSERT_EQ(chunks.size(), 3u);
    auto r = results.Next();
    ASSERT_TRUE(r.has_value());
    EXPECT_TRUE(IsTimeout(r->status())) << r->status();
    EXPECT_FALSE(results.Next().has_value());
  }
  for (auto& c : chunks) EXPECT_TRUE(c.cancelled());
  release.Notify();
  pool.Shutdown();
  EXPECT_EQ(started.load(), 0);
}

TEST(ThreadPoolMapTest, ChunkedDeadlineIsOneDeadlineFromTheCall) {
  // The first chunk is done, the second never finishes before the deadline:
  // the first chunk's items are yielded, then IsTimeout. Waiting for the
  // 50 ms deadline to pass is the point of the test.
  absl::Notification release;  // Outlives the pool's workers.
  ThreadPoolExecutor pool({.max_workers = 2});
  auto results = pool.Map(
      [&](int x) {
        if (x >= 2) release.WaitForNotificationWithTimeout(kBound);
        return x;
      },
      std::vector<int>{0, 1, 2, 3}, absl::Milliseconds(50), 2);
  // Chunk 0 is done (whenever that is) and yields its items even once the
  // deadline has passed; chunk 1 is not done before it.
  ASSERT_TRUE(results.chunk_futures()[0].WaitFor(kBound));
  std::vector<absl::StatusOr<int>> got;
  for (absl::StatusOr<int>& r : results) got.push_back(r);
  release.Notify();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(*got[0], 0);
  EXPECT_EQ(*got[1], 1);
  EXPECT_TRUE(IsTimeout(got[2].status())) << got[2].status();
}

TEST(ThreadPoolMapTest, DestroyingChunkedResultsMidwayCancelsUnstartedChunks) {
  ThreadPoolExecutor pool({.max_workers = 1});
  absl::Notification release;
  std::atomic<int> ran{0};
  std::vector<Future<internal::MapChunk<int>>> chunks;
  {
    auto results = pool.Map(
        [&](int x) {
          ++ran;
          if (x == 0) release.WaitForNotificationWithTimeout(kBound);
          return x;
        },
        std::vector<int>{0, 1, 2, 3, 4, 5}, kBound, 2);
    chunks = results.chunk_futures();
    release.Notify();
    auto first = results.Next();  // Chunk 0 done; chunks 1 and 2 may run.
    ASSERT_TRUE(first.has_value());
    EXPECT_EQ(**first, 0);
  }
  ASSERT_TRUE(chunks[0].WaitFor(kBound));
  pool.Shutdown();
  // Each later chunk either ran whole or was cancelled before it started.
  int cancelled = 0;
  for (size_t c = 1; c < chunks.size(); ++c) {
    cancelled += chunks[c].cancelled() ? 1 : 0;
  }
  EXPECT_EQ(ran.load(), 2 + 2 * (2 - cancelled));
}

TEST(ThreadPoolMapTest, ShutdownBeforeMapYieldsIsShutDown) {
  ThreadPoolExecutor pool({.max_workers = 1});
  pool.Shutdown();
  auto results =
      pool.Map([](int x) { return x; }, std::vector<int>{1, 2, 3}, kBound, 2);
  auto r = results.Next();
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(IsShutDown(r->status())) << r->status();
  EXPECT_FALSE(results.Next().has_value());
}

}  // namespace
}  // namespace spindle
