// Copyright 2026 The spindle Authors.
//
// ProcessPoolExecutor::Map with chunksize (Python's map(..., chunksize=)):
// chunks travel as one message each way; results in input order, an
// exception raised at its item, a worker crash failing its chunk, one
// deadline from the call, the max_message limits per chunk.

#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "spindle/concurrency/status.h"
#include "spindle/process/process_pool.h"
#include "tests/test_util.h"

namespace spindle {
namespace {

using test_util::kBound;

// Tasks (plain functions: they run in worker processes).

// "throw" throws, "kill" SIGKILLs its worker, anything else comes back with
// a '!' appended.
std::string Item(absl::string_view s) {
  if (s == "throw") throw std::runtime_error("item threw");
  if (s == "kill") kill(getpid(), SIGKILL);
  return absl::StrCat(s, "!");
}
// "<fd>": waits (bounded) for a byte on pipe `fd`.
std::string WaitForByte(absl::string_view arg) {
  int fd = -1;
  if (!absl::SimpleAtoi(arg, &fd)) return arg.empty() ? "" : "plain";
  struct pollfd p = {fd, POLLIN, 0};
  if (poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(kBound))) != 1) {
    throw std::runtime_error("not released");
  }
  char c;
  if (read(fd, &c, 1) != 1) throw std::runtime_error("read");
  return "released";
}
// A string of `n` x's.
std::string Repeat(absl::string_view n) {
  size_t count = 0;
  if (!absl::SimpleAtoi(n, &count)) throw std::invalid_argument("count");
  return std::string(count, 'x');
}

ProcessPoolExecutor::Options Workers(int n) {
  ProcessPoolExecutor::Options o;
  o.max_workers = n;
  return o;
}

// Iterates `results`, collecting the OK values; stops at the first error
// (returned in `*error`) or exception (its what() in `*thrown`).
std::vector<std::string> Collect(MapResults<std::string>& results,
                                 absl::Status* error, std::string* thrown) {
  std::vector<std::string> out;
  try {
    for (absl::StatusOr<std::string>& r : results) {
      if (!r.ok()) {
        *error = r.status();
        break;
      }
      out.push_back(*r);
    }
  } catch (const RemoteTaskError& e) {
    *thrown = e.what();
  }
  return out;
}

class ProcessPoolMapChunkTest : public ::testing::TestWithParam<int> {};

TEST_P(ProcessPoolMapChunkTest, ResultsInInputOrder) {
  ProcessPoolExecutor pool(Workers(2));
  std::vector<std::string> inputs, expected;
  for (int i = 0; i < 300; ++i) {
    inputs.push_back(absl::StrCat(i));
    expected.push_back(absl::StrCat(i, "!"));
  }
  MapResults<std::string> results = pool.Map(&Item, inputs, kBound, GetParam());
  absl::Status error;
  std::string thrown;
  EXPECT_EQ(Collect(results, &error, &thrown), expected);
  EXPECT_TRUE(error.ok()) << error;
  EXPECT_EQ(thrown, "");
  if (GetParam() == 1) {
    EXPECT_EQ(results.futures().size(), 300u);  // As before chunksize.
    EXPECT_TRUE(results.chunk_futures().empty());
  } else {
    EXPECT_TRUE(results.futures().empty());
    EXPECT_EQ(results.chunk_futures().size(),
              static_cast<size_t>((300 + GetParam() - 1) / GetParam()));
  }
}

TEST_P(ProcessPoolMapChunkTest, ExceptionIsRaisedAtItsItem) {
  ProcessPoolExecutor pool(Workers(2));
  std::vector<std::string> inputs = {"a",     "b", "c", "d", "e",
                                     "throw", "g", "h", "i"};
  MapResults<std::string> results = pool.Map(&Item, inputs, kBound, GetParam());
  absl::Status error;
  std::string thrown;
  EXPECT_EQ(Collect(results, &error, &thrown),
            (std::vector<std::string>{"a!", "b!", "c!", "d!", "e!"}));
  EXPECT_TRUE(error.ok()) << error;
  EXPECT_EQ(thrown, "item threw");
  EXPECT_FALSE(results.Next().has_value());
}

INSTANTIATE_TEST_SUITE_P(Chunksizes, ProcessPoolMapChunkTest,
                         ::testing::Values(1, 4, 16, 256));

TEST(ProcessPoolMapTest, WorkerCrashMidChunkFailsThatChunksItems) {
  ProcessPoolExecutor pool(Workers(1));
  std::vector<std::string> inputs = {"0", "1", "2",    "3", "4", "5",
                                     "6", "7", "kill", "9", "a", "b"};
  MapResults<std::string> results = pool.Map(&Item, inputs, kBound, 4);
  absl::Status error;
  std::string thrown;
  // Chunk 0 (items 0-3) is fine; chunk 1 (items 4-7) too; chunk 2 (items
  // 8-11) dies at item 8, so its first item reports the crash.
  EXPECT_EQ(Collect(results, &error, &thrown),
            (std::vector<std::string>{"0!", "1!", "2!", "3!", "4!", "5!", "6!",
                                      "7!"}));
  EXPECT_TRUE(IsBroken(error)) << error;
  EXPECT_NE(error.message().find("killed by signal 9"), std::string::npos)
      << error;
  EXPECT_EQ(thrown, "");
  // The worker is replaced: the pool goes on.
  std::vector<std::string> more = {"x", "y", "z"};
  MapResults<std::string> again = pool.Map(&Item, more, kBound, 2);
  EXPECT_EQ(Collect(again, &error, &thrown),
            (std::vector<std::string>{"x!", "y!", "z!"}));
}

TEST(ProcessPoolMapTest, CrashFailsTheChunkBeforeAnyOfItsResults) {
  // The crash is in the middle of the first chunk: the chunk's earlier
  // results died with the worker.
  ProcessPoolExecutor pool(Workers(1));
  std::vector<std::string> inputs = {"0", "1", "kill", "3", "4"};
  MapResults<std::string> results = pool.Map(&Item, inputs, kBound, 4);
  absl::Status error;
  std::string thrown;
  EXPECT_TRUE(Collect(results, &error, &thrown).empty());
  EXPECT_TRUE(IsBroken(error)) << error;
  EXPECT_FALSE(results.Next().has_value());
}

TEST(ProcessPoolMapTest, ChunkedTimeoutEndsTheIterationAndCancelsTheRest) {
  int release[2];
  ASSERT_EQ(pipe(release), 0);
  ProcessPoolExecutor pool(Workers(1));
  // The first chunk waits for a byte on the pipe; the second is queued.
  std::vector<std::string> inputs = {absl::StrCat(release[0]), "", "", ""};
  // Times out (that is the point) while the first chunk waits.
  MapResults<std::string> results =
      pool.Map(&WaitForByte, inputs, absl::Milliseconds(100), 2);
  // Once the first chunk runs it cannot be cancelled (however long the
  // worker took to start); the second is queued behind it.
  ASSERT_EQ(results.chunk_futures().size(), 2u);
  ASSERT_TRUE(test_util::Eventually(
      [&] { return results.chunk_futures()[0].running(); }));
  std::optional<absl::StatusOr<std::string>> first = results.Next();
  ASSERT_TRUE(first.has_value());
  EXPECT_TRUE(IsTimeout(first->status())) << first->status();
  EXPECT_FALSE(results.Next().has_value());
  EXPECT_TRUE(results.chunk_futures()[1].cancelled());
  char c = 'r';
  ASSERT_EQ(write(release[1], &c, 1), 1);
  auto chunk0 = results.chunk_futures()[0].ResultFor(kBound);
  ASSERT_TRUE(chunk0.ok()) << chunk0.status();
  EXPECT_EQ(chunk0->values, (std::vector<std::string>{"released", ""}));
  close(release[0]);
  close(release[1]);
}

TEST(ProcessPoolMapTest, ChunksizeBelowOneIsInvalidArgument) {
  ProcessPoolExecutor pool(Workers(1));
  std::vector<std::string> inputs = {"a"};
  MapResults<std::string> results = pool.Map(&Item, inputs, kBound, 0);
  std::optional<absl::StatusOr<std::string>> r = results.Next();
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(absl::IsInvalidArgument(r->status())) << r->status();
  EXPECT_FALSE(results.Next().has_value());
  EXPECT_TRUE(pool.worker_pids().empty());  // Nothing was submitted.
}

TEST(ProcessPoolMapTest, ChunkIsClosedEarlyToFitMaxMessage) {
  ProcessPoolExecutor::Options o = Workers(2);
  o.max_message = 64;
  ProcessPoolExecutor pool(o);
  // 30 bytes + 4 of framing each: two do not fit in 64 bytes.
  std::vector<std::string> inputs(5, std::string(30, 'a'));
  MapResults<std::string> results = pool.Map(&Item, inputs, kBound, 16);
  EXPECT_EQ(results.chunk_futures().size(), 5u);
  absl::Status error;
  std::string thrown;
  EXPECT_EQ(Collect(results, &error, &thrown),
            std::vector<std::string>(5, std::string(30, 'a') + "!"));
  EXPECT_TRUE(error.ok()) << error;
}

TEST(ProcessPoolMapTest, LoneArgumentOverMaxMessageIsInvalidArgument) {
  ProcessPoolExecutor::Options o = Workers(1);
  o.max_message = 64;
  ProcessPoolExecutor pool(o);
  std::vector<std::string> inputs = {"a", std::string(100, 'b'), "c"};
  MapResults<std::string> results = pool.Map(&Item, inputs, kBound, 16);
  absl::Status error;
  std::string thrown;
  EXPECT_EQ(Collect(results, &error, &thrown),
            (std::vector<std::string>{"a!"}));
  EXPECT_TRUE(absl::IsInvalidArgument(error)) << error;
}

TEST(ProcessPoolMapTest, ResultsOverMaxMessageFailAtTheFirstThatDoesNotFit) {
  ProcessPoolExecutor::Options o = Workers(1);
  o.max_message = 64;
  ProcessPoolExecutor pool(o);
  // Each result is 40 bytes: one fits in a chunk's reply, two do not.
  std::vector<std::string> inputs = {"40", "40", "40"};
  MapResults<std::string> results = pool.Map(&Repeat, inputs, kBound, 4);
  absl::Status error;
  std::string thrown;
  EXPECT_EQ(Collect(results, &error, &thrown),
            (std::vector<std::string>{std::string(40, 'x')}));
  EXPECT_TRUE(absl::IsInvalidArgument(error)) << error;
  // The worker lives on.
  auto r = pool.Submit(&Repeat, "3").ResultFor(kBound);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "xxx");
}

TEST(ProcessPoolMapTest, ShutdownCancelFuturesCancelsQueuedChunks) {
  int release[2];
  ASSERT_EQ(pipe(release), 0);
  ProcessPoolExecutor pool(Workers(1));
  std::vector<std::string> inputs = {absl::StrCat(release[0]), "", "", ""};
  MapResults<std::string> results = pool.Map(&WaitForByte, inputs, kBound, 2);
  ASSERT_EQ(results.chunk_futures().size(), 2u);
  // Wait until the first chunk is running, so that only the second is
  // queued.
  ASSERT_TRUE(test_util::Eventually(
      [&] { return results.chunk_futures()[0].running(); }));
  pool.Shutdown(/*wait=*/false, /*cancel_futures=*/true);
  char c = 'r';
  ASSERT_EQ(write(release[1], &c, 1), 1);
  absl::Status error;
  std::string thrown;
  EXPECT_EQ(Collect(results, &error, &thrown),
            (std::vector<std::string>{"released", ""}));
  EXPECT_TRUE(IsCancelled(error)) << error;
  pool.Shutdown();
  close(release[0]);
  close(release[1]);
}

}  // namespace
}  // namespace spindle
