// Copyright 2026 The spindle Authors.
//
// TcpServer's batch interface: BatchHandler (several lines, of several
// connections, per call; partial takes; exceptions) and ReplyBatch.

#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "spindle/io/event_loop.h"
#include "spindle/io/socket.h"
#include "spindle/io/tcp_server.h"
#include "tests/io/tcp_test_util.h"
#include "tests/test_util.h"

namespace spindle::io {
namespace {

constexpr absl::Duration kBound = absl::Seconds(20);
using Request = TcpServer::Request;

using tcp_test::Client;
using BatchServer = tcp_test::ServerFixture;

// Takes every request; answers them in reverse order from another thread
// through one ReplyBatch (the server must restore the request order).
class ReverseWorker {
 public:
  size_t Handle(absl::Span<Request> batch) {
    absl::MutexLock l(&mu_);
    sizes_.push_back(batch.size());
    for (Request& r : batch) {
      jobs_.push_back({std::string(r.line), std::move(r.responder)});
    }
    return batch.size();
  }
  // Worker thread: waits (until `deadline` at most) for requests, then
  // answers everything received so far, last first.
  size_t AnswerAll(absl::Time deadline) {
    std::vector<std::pair<std::string, Responder>> jobs;
    {
      absl::MutexLock l(&mu_);
      auto have_jobs = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return !jobs_.empty();
      };
      mu_.AwaitWithDeadline(absl::Condition(&have_jobs), deadline);
      jobs.swap(jobs_);
    }
    ReplyBatch replies;
    for (auto it = jobs.rbegin(); it != jobs.rend(); ++it) {
      replies.Add(it->second, absl::StrCat("R ", it->first));
    }
    EXPECT_EQ(replies.size(), jobs.size());
    replies.Flush();
    EXPECT_TRUE(replies.empty());
    return jobs.size();
  }
  std::vector<size_t> sizes() {
    absl::MutexLock l(&mu_);
    return sizes_;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::pair<std::string, Responder>> jobs_ ABSL_GUARDED_BY(mu_);
  std::vector<size_t> sizes_ ABSL_GUARDED_BY(mu_);
};

TEST(TcpServerBatchTest, PipelinedLinesComeInBatchesAndRepliesKeepOrder) {
  ReverseWorker worker;
  BatchServer f({}, [&](absl::Span<Request> b) { return worker.Handle(b); });
  ASSERT_OK(f.start());
  constexpr int kClients = 3, kLines = 100;
  std::vector<std::unique_ptr<Client>> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.push_back(std::make_unique<Client>(f.port()));
    std::string burst;
    for (int i = 0; i < kLines; ++i) absl::StrAppend(&burst, c, "-", i, "\n");
    clients.back()->Send(burst);  // One write: read in few chunks.
  }
  // Answer from a worker thread until every line was answered.
  size_t answered = 0;
  const absl::Time deadline = absl::Now() + kBound;
  std::thread t([&] {
    while (answered < kClients * kLines && absl::Now() < deadline) {
      answered += worker.AnswerAll(deadline);
    }
  });
  for (int c = 0; c < kClients; ++c) {
    for (int i = 0; i < kLines; ++i) {
      ASSERT_EQ(clients[c]->ReadLine(), absl::StrCat("R ", c, "-", i));
    }
  }
  t.join();
  const std::vector<size_t> sizes = worker.sizes();
  size_t total = 0;
  for (size_t s : sizes) total += s;
  EXPECT_EQ(total, kClients * kLines);
  // 100 lines sent in one write are not handed over one by one.
  EXPECT_GT(*std::max_element(sizes.begin(), sizes.end()), 1u);
  EXPECT_EQ(f.stats().requests.load(), kClients * kLines);
}

TEST(TcpServerBatchTest, LinesNotTakenAreOfferedAgainInOrder) {
  // Takes at most two lines per call, and none on every other call (the
  // queue-full case): the rest must come back, in order, nothing lost.
  std::vector<std::string> seen;  // Loop thread only.
  int calls = 0;
  TcpServer::Options o;
  o.full_retry_delay = absl::Milliseconds(1);
  BatchServer f(o, [&](absl::Span<Request> b) -> size_t {
    if (++calls % 2 == 1) return 0;
    const size_t take = std::min<size_t>(2, b.size());
    for (size_t i = 0; i < take; ++i) {
      seen.emplace_back(b[i].line);
      b[i].responder.Reply(absl::StrCat("took ", b[i].line));
    }
    return take;
  });
  ASSERT_OK(f.start());
  Client c(f.port());
  c.Send("a\nb\nc\nd\ne\n");
  for (const char* l : {"a", "b", "c", "d", "e"}) {
    EXPECT_EQ(c.ReadLine(), absl::StrCat("took ", l));
  }
  f.OnLoop([&] {
    EXPECT_EQ(seen, (std::vector<std::string>{"a", "b", "c", "d", "e"}));
  });
  EXPECT_EQ(f.stats().requests.load(), 5);
  EXPECT_EQ(f.stats().pending.load(), 0);
}

TEST(TcpServerBatchTest, ThrowingHandlerAnswersTheRestErrInternal) {
  BatchServer f({}, [](absl::Span<Request> b) -> size_t {
    b[0].responder.Reply("first");
    throw std::runtime_error("boom");
  });
  ASSERT_OK(f.start());
  Client c(f.port());
  c.Send("x\ny\n");
  EXPECT_EQ(c.ReadLine(), "first");
  // "y" came in the same batch, or later alone (then it is "first" too).
  const std::string second = c.ReadLine();
  EXPECT_TRUE(second == "ERR internal error" || second == "first") << second;
  c.Send("z\n");  // The connection stays usable.
  EXPECT_EQ(c.ReadLine(), "first");
}

TEST(TcpServerBatchTest, DroppedResponderAnswersNoReply) {
  BatchServer f({}, [](absl::Span<Request> b) {
    for (Request& r : b) {
      Responder taken = std::move(r.responder);  // Dropped unanswered.
    }
    return b.size();
  });
  ASSERT_OK(f.start());
  Client c(f.port());
  c.Send("x\n");
  EXPECT_EQ(c.ReadLine(), "ERR internal error: no reply");
}

TEST(TcpServerBatchTest, OversizeLineAfterABatchIsAnsweredAfterIt) {
  TcpServer::Options o;
  o.max_line = 100;
  BatchServer f(o, [](absl::Span<Request> b) {
    for (Request& r : b) r.responder.Reply(absl::StrCat("OK ", r.line));
    return b.size();
  });
  ASSERT_OK(f.start());
  Client c(f.port());
  c.Send(absl::StrCat("a\nb\n", std::string(500, 'x'), "\nc\n"));
  EXPECT_EQ(c.ReadLine(), "OK a");
  EXPECT_EQ(c.ReadLine(), "OK b");
  EXPECT_EQ(c.ReadLine(), "ERR line too long (max 100 bytes)");
  EXPECT_EQ(c.ReadLine(), "<eof>");
  EXPECT_EQ(f.stats().oversize.load(), 1);
}

TEST(TcpServerBatchTest, ReplyBatchAfterServerDestroyedDoesNothing) {
  // Responders outlive their server; answering them later (in a batch) is
  // harmless, and the shared state is freed with the last of them (ASan).
  std::vector<Responder> held;  // Filled on the loop thread.
  absl::Notification got;
  auto f = std::make_unique<BatchServer>(
      TcpServer::Options{}, [&](absl::Span<Request> b) {
        for (Request& r : b) held.push_back(std::move(r.responder));
        if (held.size() == 3) got.Notify();
        return b.size();
      });
  ASSERT_OK(f->start());
  Client c(f->port());
  c.Send("a\nb\nc\n");
  ASSERT_TRUE(got.WaitForNotificationWithTimeout(kBound));
  f->StopLoop();  // Server and loop gone; the client sees the close.
  EXPECT_EQ(c.ReadLine(), "<eof>");
  ReplyBatch batch;
  batch.Add(held[0], "late");
  batch.Add(held[1], "late", /*close_after=*/true);
  EXPECT_FALSE(held[0].valid());
  batch.Flush();
  held[2].Reply("late too");
  held.clear();
}

TEST(TcpServerBatchTest, ReplyBatchSpansServers) {
  // One batch answering requests of two servers delivers to each.
  std::vector<Responder> held;  // Test thread, after the notifications.
  absl::Mutex mu;
  absl::Notification got1, got2;
  auto take = [&](absl::Notification* n) {
    return [&, n](absl::Span<Request> b) {
      absl::MutexLock l(&mu);
      for (Request& r : b) held.push_back(std::move(r.responder));
      n->Notify();
      return b.size();
    };
  };
  BatchServer f1({}, take(&got1));
  BatchServer f2({}, take(&got2));
  ASSERT_OK(f1.start());
  ASSERT_OK(f2.start());
  Client c1(f1.port());
  c1.Send("one\n");
  ASSERT_TRUE(got1.WaitForNotificationWithTimeout(kBound));
  Client c2(f2.port());
  c2.Send("two\n");
  ASSERT_TRUE(got2.WaitForNotificationWithTimeout(kBound));
  {
    ReplyBatch batch;
    absl::MutexLock l(&mu);
    ASSERT_EQ(held.size(), 2u);
    batch.Add(held[0], "to one");
    batch.Add(held[1], "to two");
  }  // Flushed by the destructor.
  EXPECT_EQ(c1.ReadLine(), "to one");
  EXPECT_EQ(c2.ReadLine(), "to two");
}

// One batch of replies mixing runs due in order, replies ahead of their
// turn, two connections, an empty reply and a closing one: each connection
// gets its replies in request order, nothing after the closing one.
TEST(TcpServerBatchTest, MixedReplyBatchKeepsEveryConnectionsOrder) {
  absl::Mutex mu;
  std::vector<std::pair<std::string, Responder>> held;  // Under mu.
  absl::Notification all;
  BatchServer f({}, [&](absl::Span<Request> b) {
    absl::MutexLock l(&mu);
    for (Request& r : b) {
      held.emplace_back(std::string(r.line), std::move(r.responder));
    }
    if (held.size() == 10) all.Notify();
    return b.size();
  });
  ASSERT_OK(f.start());
  Client a(f.port());
  a.Send("a0\na1\na2\na3\na4\na5\na6\n");
  Client b(f.port());
  b.Send("b0\nb1\nb2\n");
  ASSERT_TRUE(all.WaitForNotificationWithTimeout(kBound));
  {
    absl::MutexLock l(&mu);
    absl::flat_hash_map<std::string, Responder*> by_line;
    for (auto& [line, r] : held) by_line[line] = &r;
    ReplyBatch batch;
    for (const char* line :
         {"a0", "a1", "b1", "a4", "b0", "a3", "a2", "b2", "a6"}) {
      // a1's reply is empty; a5 closes; a6's reply is never sent.
      batch.Add(*by_line[line], absl::string_view(line) == "a1"
                                    ? ""
                                    : absl::StrCat("R ", line));
      if (absl::string_view(line) == "a4") {
        batch.Add(*by_line["a5"], "R a5", /*close_after=*/true);
      }
    }
  }  // Flushed by the destructor.
  for (const char* want : {"R a0", "", "R a2", "R a3", "R a4", "R a5"}) {
    EXPECT_EQ(a.ReadLine(), want);
  }
  EXPECT_EQ(a.ReadLine(), "<eof>");
  for (const char* want : {"R b0", "R b1", "R b2"}) {
    EXPECT_EQ(b.ReadLine(), want);
  }
}

}  // namespace
}  // namespace spindle::io

namespace spindle::io {
namespace {

// A connection's requests may be refused on their own: the handler keeps
// refusing connection A's lines (leaving their responders valid) while it
// takes B's, whether or not they share a batch; A's lines are offered again
// later and answered in order once the handler takes them.
TEST(TcpServerBatchTest, OneConnectionRefusedAloneOthersServed) {
  std::atomic<bool> open{false};
  BatchServer f({}, [&open](absl::Span<Request> b) -> size_t {
    bool refusing = false;
    uint64_t refused_conn = 0;
    for (Request& r : b) {
      const uint64_t conn = r.responder.connection_id();
      if (refusing && conn == refused_conn) continue;  // The suffix.
      refusing = false;
      if (absl::StartsWith(r.line, "wait") &&
          !open.load(std::memory_order_acquire)) {
        refusing = true;
        refused_conn = conn;
        continue;
      }
      r.responder.Reply(std::string(r.line));
    }
    return b.size();
  });
  ASSERT_OK(f.start());
  Client a(f.port());
  Client b(f.port());
  a.Send("wait1\nwait2\n");
  b.Send("b1\nb2\n");
  EXPECT_EQ(b.ReadLine(), "b1");
  EXPECT_EQ(b.ReadLine(), "b2");
  open.store(true, std::memory_order_release);
  EXPECT_EQ(a.ReadLine(), "wait1");
  EXPECT_EQ(a.ReadLine(), "wait2");
}

}  // namespace
}  // namespace spindle::io
