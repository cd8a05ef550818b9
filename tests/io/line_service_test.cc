// Copyright 2026 The spindle Authors.
//
// LineService over real sockets on 127.0.0.1: the answer kinds (reply,
// status, exception, future, Later, Close), the LoopHandler (answer, pass
// on, Busy, a loop timer), fairness between connections, the queue bounds,
// graceful and cut-short shutdown, Start errors, destruction, a user's
// executor, and several loops.

#include "spindle/io/line_service.h"

#include <dirent.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <deque>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "spindle/concurrency/future.h"
#include "spindle/concurrency/thread_pool.h"
#include "spindle/io/command_stats.h"
#include "spindle/io/socket.h"
#include "spindle/io/tcp_server.h"
#include "tests/io/tcp_test_util.h"
#include "tests/test_util.h"

namespace spindle::io {
namespace {

using tcp_test::Client;
using test_util::Eventually;

constexpr absl::Duration kBound = absl::Seconds(20);

// Handlers that must wait for the test: each Enter() blocks until the test
// releases it (one permit each, or all at once). Bounded, so that a failing
// test cannot hang a worker forever.
class Gate {
 public:
  void Enter() {
    absl::MutexLock l(&mu_);
    ++entered_;
    ++inside_;
    max_inside_ = std::max(max_inside_, inside_);
    auto may_pass = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return open_ || permits_ > 0;
    };
    EXPECT_TRUE(mu_.AwaitWithTimeout(absl::Condition(&may_pass), kBound))
        << "gate never opened";
    if (!open_ && permits_ > 0) --permits_;
    --inside_;
  }
  void Release(int n) {
    absl::MutexLock l(&mu_);
    permits_ += n;
  }
  void Open() {
    absl::MutexLock l(&mu_);
    open_ = true;
  }
  // Waits (bounded) until `n` handlers have entered.
  bool WaitEntered(int n) {
    absl::MutexLock l(&mu_);
    auto reached = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return entered_ >= n;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&reached), kBound);
  }
  int entered() {
    absl::MutexLock l(&mu_);
    return entered_;
  }
  int max_inside() {
    absl::MutexLock l(&mu_);
    return max_inside_;
  }

 private:
  absl::Mutex mu_;
  int entered_ ABSL_GUARDED_BY(mu_) = 0;
  int inside_ ABSL_GUARDED_BY(mu_) = 0;
  int max_inside_ ABSL_GUARDED_BY(mu_) = 0;
  int permits_ ABSL_GUARDED_BY(mu_) = 0;
  bool open_ ABSL_GUARDED_BY(mu_) = false;
};

LineService::Options TestOptions(int workers = 2) {
  LineService::Options o;
  o.workers = workers;
  o.name = "line_service_test";
  o.shutdown_grace = absl::Seconds(5);
  return o;
}

// A started service (the test fails if Start does).
std::unique_ptr<LineService> Started(
    LineService::Options options, LineService::Handler handler,
    LineService::LoopHandler loop_handler = nullptr) {
  auto s = std::make_unique<LineService>(std::move(options), std::move(handler),
                                         std::move(loop_handler));
  absl::Status st = s->Start();
  EXPECT_TRUE(st.ok()) << st;
  return s;
}

// Sends `n` lines "<prefix><i>\n" at once.
void SendLines(Client& c, absl::string_view prefix, int n) {
  std::string all;
  for (int i = 0; i < n; ++i) absl::StrAppend(&all, prefix, i, "\n");
  c.Send(all);
}

int CountThreads() {
  DIR* dir = opendir("/proc/self/task");
  if (dir == nullptr) return -1;
  int n = 0;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(dir);
  return n;
}

Answer Echo(Request& r) { return absl::StrCat("echo:", r.line()); }

TEST(LineServiceTest, SyncHandlerAnswersPipelinedRequestsInOrder) {
  auto service = Started(TestOptions(4), [](Request& r) -> Answer {
    // Uneven work, so that workers finish out of order.
    int n = 0;
    if (absl::SimpleAtoi(r.line().substr(1), &n) && n % 7 == 0) {
      std::this_thread::yield();
    }
    return absl::StrCat("echo:", r.line());
  });
  Client c(service->port());
  SendLines(c, "r", 500);
  for (int i = 0; i < 500; ++i) {
    ASSERT_EQ(c.ReadLine(), absl::StrCat("echo:r", i));
  }
  LineService::Stats s = service->stats();
  EXPECT_EQ(s.requests, 500);
  EXPECT_EQ(s.answered, 500);
}

TEST(LineServiceTest, StatusAnswers) {
  auto service = Started(TestOptions(), [](Request& r) -> Answer {
    if (r.line() == "ok") return absl::OkStatus();
    if (r.line() == "bad") return absl::InvalidArgumentError("bad input");
    if (r.line() == "value") return absl::StatusOr<std::string>("the value");
    return absl::StatusOr<std::string>(absl::NotFoundError("no such key"));
  });
  Client c(service->port());
  c.Send("ok\nbad\nvalue\nmissing\n");
  EXPECT_EQ(c.ReadLine(), "OK");
  EXPECT_EQ(c.ReadLine(), "ERR bad input");
  EXPECT_EQ(c.ReadLine(), "the value");
  EXPECT_EQ(c.ReadLine(), "ERR no such key");
}

TEST(LineServiceTest, ExceptionIsAnsweredInternalErrorAndCounted) {
  auto service = Started(TestOptions(), [](Request& r) -> Answer {
    if (r.line() == "throw") throw std::runtime_error("secret detail");
    if (r.line() == "throw-int") throw 42;
    return Echo(r);
  });
  Client c(service->port());
  c.Send("throw\nafter\nthrow-int\n");
  EXPECT_EQ(c.ReadLine(), "ERR internal error");
  EXPECT_EQ(c.ReadLine(), "echo:after");
  EXPECT_EQ(c.ReadLine(), "ERR internal error");
  EXPECT_EQ(service->stats().internal_errors, 2);
}

TEST(LineServiceTest, LaterWithoutTakingTheResponderIsAnInternalError) {
  auto service = Started(TestOptions(),
                         [](Request&) -> Answer { return Answer::Later(); });
  Client c(service->port());
  c.Send("x\n");
  EXPECT_EQ(c.ReadLine(), "ERR internal error");
  EXPECT_EQ(service->stats().internal_errors, 1);
}

// The promises a handler made, for the test to finish.
class Promises {
 public:
  Future<std::string> Make(absl::string_view line) {
    absl::MutexLock l(&mu_);
    Promise<std::string>& p = promises_.emplace_back();
    lines_.emplace_back(line);
    futures_.push_back(p.future());
    return p.future();
  }
  bool WaitFor(size_t n) {
    absl::MutexLock l(&mu_);
    auto reached = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return promises_.size() >= n;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&reached), kBound);
  }
  Promise<std::string>& promise(size_t i) {
    absl::MutexLock l(&mu_);
    return promises_[i];
  }
  Future<std::string> future(size_t i) {
    absl::MutexLock l(&mu_);
    return futures_[i];
  }

 private:
  absl::Mutex mu_;
  std::deque<Promise<std::string>> promises_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> lines_ ABSL_GUARDED_BY(mu_);
  std::vector<Future<std::string>> futures_ ABSL_GUARDED_BY(mu_);
};

TEST(LineServiceTest, FutureAnswersHoldNoWorker) {
  Promises promises;
  std::atomic<int> handled{0};
  // One worker: the requests after the first can only run if the pending
  // future does not hold it.
  auto service = Started(TestOptions(1), [&](Request& r) -> Answer {
    ++handled;
    if (absl::StartsWith(r.line(), "future")) return promises.Make(r.line());
    return Echo(r);
  });
  Client c(service->port());
  c.Send("future-value\nsync\nfuture-error\nfuture-cancel\n");
  ASSERT_TRUE(promises.WaitFor(3));
  ASSERT_TRUE(Eventually([&] { return handled.load() == 4; }, kBound))
      << handled.load() << " " << service->stats().queued << " "
      << service->stats().running << " " << service->stats().requests;
  // Completed from another thread, in reverse order: the replies keep the
  // request order.
  std::thread completer([&] {
    EXPECT_TRUE(promises.future(2).Cancel());
    EXPECT_OK(
        promises.promise(1).SetError(absl::UnavailableError("backend down")));
    EXPECT_OK(promises.promise(0).SetValue("the answer"));
  });
  EXPECT_EQ(c.ReadLine(), "the answer");
  EXPECT_EQ(c.ReadLine(), "echo:sync");
  EXPECT_EQ(c.ReadLine(), "ERR backend down");
  const std::string cancelled = c.ReadLine();
  EXPECT_TRUE(absl::StartsWith(cancelled, "ERR ")) << cancelled;
  completer.join();
  EXPECT_TRUE(Eventually([&] { return service->stats().answered == 4; }));
}

TEST(LineServiceTest, FutureAlreadyDoneIsAnsweredAtOnce) {
  auto service = Started(TestOptions(), [](Request& r) -> Answer {
    Promise<std::string> p;
    if (r.line() == "throw") {
      EXPECT_OK(p.SetException(
          std::make_exception_ptr(std::runtime_error("secret"))));
    } else {
      EXPECT_OK(p.SetValue(absl::StrCat("done:", r.line())));
    }
    return p.future();
  });
  Client c(service->port());
  c.Send("a\nthrow\nb\n");
  EXPECT_EQ(c.ReadLine(), "done:a");
  EXPECT_EQ(c.ReadLine(), "ERR internal error");
  EXPECT_EQ(c.ReadLine(), "done:b");
  EXPECT_EQ(service->stats().internal_errors, 1);
}

TEST(LineServiceTest, LaterIsAnsweredThroughTheResponderFromAnotherThread) {
  absl::Mutex mu;
  std::vector<std::pair<std::string, Responder>> taken;
  auto service = Started(TestOptions(), [&](Request& r) -> Answer {
    Responder responder = r.TakeResponder();
    absl::MutexLock l(&mu);
    taken.emplace_back(std::string(r.line()), std::move(responder));
    return Answer::Later();
  });
  Client c(service->port());
  c.Send("one\ntwo\n");
  auto two_taken = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return taken.size() == 2;
  };
  {
    absl::MutexLock l(&mu);
    ASSERT_TRUE(mu.AwaitWithTimeout(absl::Condition(&two_taken), kBound));
  }
  std::thread replier([&] {
    absl::MutexLock l(&mu);
    for (int i = 1; i >= 0; --i) {
      taken[i].second.Reply(absl::StrCat("later:", taken[i].first));
    }
  });
  EXPECT_EQ(c.ReadLine(), "later:one");
  EXPECT_EQ(c.ReadLine(), "later:two");
  replier.join();
}

TEST(LineServiceTest, CloseAnswerClosesTheConnectionAfterTheReply) {
  auto service = Started(TestOptions(), [](Request& r) -> Answer {
    if (r.line() == "bye") return Answer::Close("goodbye");
    return Echo(r);
  });
  Client c(service->port());
  c.Send("a\nbye\nnever\n");
  EXPECT_EQ(c.ReadLine(), "echo:a");
  EXPECT_EQ(c.ReadLine(), "goodbye");
  EXPECT_EQ(c.ReadLine(), "<eof>");
  // The service goes on serving others.
  Client d(service->port());
  d.Send("b\n");
  EXPECT_EQ(d.ReadLine(), "echo:b");
}

TEST(LineServiceTest, LoopHandlerAnswersPassesOnAndAnswersFromATimer) {
  std::atomic<int> worker_calls{0};
  auto service = Started(
      TestOptions(),
      [&](Request& r) -> Answer {
        ++worker_calls;
        return absl::StrCat("worker:", r.line());
      },
      [](Request& r) -> std::optional<Answer> {
        if (r.line() == "ping") return Answer("pong");
        if (r.line() == "timer") {
          // A request that only waits: a loop timer answers it.
          r.loop().CallLater(absl::Milliseconds(1),
                             [responder = r.TakeResponder()]() mutable {
                               responder.Reply("tick");
                             });
          return Answer::Later();
        }
        if (r.line() == "throw") throw std::runtime_error("loop secret");
        return std::nullopt;
      });
  Client c(service->port());
  c.Send("ping\nwork\ntimer\nthrow\nping\n");
  EXPECT_EQ(c.ReadLine(), "pong");
  EXPECT_EQ(c.ReadLine(), "worker:work");
  EXPECT_EQ(c.ReadLine(), "tick");
  EXPECT_EQ(c.ReadLine(), "ERR internal error");
  EXPECT_EQ(c.ReadLine(), "pong");
  EXPECT_EQ(worker_calls.load(), 1);
  EXPECT_EQ(service->stats().internal_errors, 1);
}

TEST(LineServiceTest, LoopHandlerBusyOffersTheLineAgain) {
  std::atomic<int> busy_offers{0};
  auto service =
      Started(TestOptions(), Echo, [&](Request& r) -> std::optional<Answer> {
        if (r.line() != "busy") return std::nullopt;
        // Busy twice, then answered.
        if (busy_offers.fetch_add(1) < 2) {
          return Answer::Busy();
        }
        return Answer("not busy now");
      });
  Client c(service->port());
  c.Send("before\nbusy\nafter\n");
  EXPECT_EQ(c.ReadLine(), "echo:before");
  EXPECT_EQ(c.ReadLine(), "not busy now");
  EXPECT_EQ(c.ReadLine(), "echo:after");
  EXPECT_EQ(busy_offers.load(), 3);
  // The connection was not lost.
  c.Send("again\n");
  EXPECT_EQ(c.ReadLine(), "echo:again");
}

// A connection flooding requests that block cannot keep another
// connection's request from being answered.
TEST(LineServiceTest, FloodingConnectionDoesNotStarveAnother) {
  Gate gate;
  LineService::Options o = TestOptions(2);
  o.max_running_per_connection = 1;
  auto service = Started(o, [&](Request& r) -> Answer {
    if (absl::StartsWith(r.line(), "slow")) gate.Enter();
    return Echo(r);
  });
  absl::Cleanup open_gate = [&] { gate.Open(); };
  Client flood(service->port());
  SendLines(flood, "slow", 200);
  ASSERT_TRUE(gate.WaitEntered(1));
  for (int round = 0; round < 3; ++round) {
    Client other(service->port());
    other.Send("fast\n");
    EXPECT_EQ(other.ReadLine(), "echo:fast");
  }
  // One worker at most ever served the flooding connection.
  EXPECT_EQ(gate.max_inside(), 1);
  gate.Open();
  for (int i = 0; i < 200; ++i) {
    ASSERT_EQ(flood.ReadLine(), absl::StrCat("echo:slow", i));
  }
  EXPECT_EQ(gate.max_inside(), 1);
}

// A worker takes about 100 us of work at once, judged by its recent cost
// per request: requests of one connection that cost a few hundred
// microseconds each (dear, yet below the 1 ms "slow" mark) are not all
// taken by the first worker and run one after another while the others
// idle - a second worker (max_running_per_connection is 2) shares them.
TEST(LineServiceTest, RequestsOfMediumCostAreSharedByTwoWorkers) {
  std::atomic<int> inside{0}, max_inside{0};
  auto service = Started(TestOptions(4), [&](Request& r) -> Answer {
    const int now = ++inside;
    int seen = max_inside.load();
    while (now > seen && !max_inside.compare_exchange_weak(seen, now)) {
    }
    absl::SleepFor(absl::Microseconds(300));  // The work itself.
    --inside;
    return Echo(r);
  });
  Client c(service->port());
  SendLines(c, "work", 64);  // One read: one hand-over.
  for (int i = 0; i < 64; ++i) {
    ASSERT_EQ(c.ReadLine(), absl::StrCat("echo:work", i));
  }
  EXPECT_EQ(max_inside.load(), 2);
}

// Workers time cheap requests in runs (one clock reading per run): every
// request is still recorded in command_stats once, and a slow request that
// follows cheap ones in the same batch is recorded with its whole run time.
TEST(LineServiceTest, CommandStatsRecordEveryRequestAndTheSlowOnesFullTime) {
  Gate gate;
  CommandStats stats({"cheap", "slow"});
  LineService::Options o = TestOptions(1);  // One worker: one batch.
  o.command_stats = &stats;
  auto service = Started(o, [&](Request& r) -> Answer {
    const bool slow = absl::StartsWith(r.line(), "slow");
    r.set_command(slow ? 1 : 0);
    if (slow) gate.Enter();
    return Echo(r);
  });
  absl::Cleanup open_gate = [&] { gate.Open(); };
  Client c(service->port());
  std::string all;
  for (int i = 0; i < 20; ++i) absl::StrAppend(&all, "cheap", i, "\n");
  all += "slow\n";
  for (int i = 20; i < 1000; ++i) absl::StrAppend(&all, "cheap", i, "\n");
  c.Send(all);
  ASSERT_TRUE(gate.WaitEntered(1));
  const absl::Time entered = absl::Now();
  // Held at least as long as it takes to connect another client and send a
  // line (that client is answered once the only worker is free again).
  Client other(service->port());
  other.Send("cheap-other\n");
  const absl::Time opened = absl::Now();
  gate.Open();
  for (int i = 0; i < 20; ++i)
    ASSERT_EQ(c.ReadLine(), absl::StrCat("echo:cheap", i));
  ASSERT_EQ(c.ReadLine(), "echo:slow");
  for (int i = 20; i < 1000; ++i) {
    ASSERT_EQ(c.ReadLine(), absl::StrCat("echo:cheap", i));
  }
  EXPECT_EQ(other.ReadLine(), "echo:cheap-other");
  EXPECT_TRUE(test_util::Eventually([&] {
    return stats.latency(0).count() == 1001 && stats.latency(1).count() == 1;
  })) << stats.Lines();
  // The upper bound of its bucket is at least the time it was held.
  EXPECT_GE(stats.latency(1).Percentile(1.0), opened - entered)
      << stats.Lines();
  EXPECT_EQ(stats.failed(), 0);
}

// Stats::queued never goes above queue_size, nor (with one connection)
// above max_queued_per_connection - also when a slow request makes a worker
// hand the rest of its batch back.
TEST(LineServiceTest, QueuedStaysWithinItsBounds) {
  Gate gate;
  LineService::Options o = TestOptions(1);
  o.queue_size = 8;
  o.max_queued_per_connection = 4;
  auto service = Started(o, [&](Request& r) -> Answer {
    gate.Enter();
    // Slow (over the service's 1 ms mark), so that the worker hands the
    // rest of its batch back: the sleep is the point here.
    absl::SleepFor(absl::Milliseconds(2));
    return Echo(r);
  });
  absl::Cleanup open_gate = [&] { gate.Open(); };
  Client a(service->port()), b(service->port()), c(service->port());
  SendLines(a, "a", 50);
  SendLines(b, "b", 50);
  SendLines(c, "c", 50);
  int64_t max_queued = 0;
  auto sample = [&] {
    max_queued = std::max(max_queued, service->stats().queued);
  };
  ASSERT_TRUE(gate.WaitEntered(1));
  // Let the front end fill what room it has while the first batch is out.
  Eventually([&] { return service->stats().queued >= 8; },
             test_util::kBlockedFor);
  // One request at a time: each is slow, so the worker hands back what it
  // had taken with it.
  for (int i = 1; i < 30; ++i) {
    gate.Release(1);
    ASSERT_TRUE(gate.WaitEntered(i + 1));
    sample();
    ASSERT_LE(max_queued, 8) << "after " << i << " requests";
  }
  EXPECT_GT(max_queued, 0);
  gate.Open();
  for (int i = 0; i < 50; ++i) {
    ASSERT_EQ(a.ReadLine(), absl::StrCat("echo:a", i));
    ASSERT_EQ(b.ReadLine(), absl::StrCat("echo:b", i));
    ASSERT_EQ(c.ReadLine(), absl::StrCat("echo:c", i));
    sample();
  }
  EXPECT_LE(max_queued, 8);
}

TEST(LineServiceTest, QueuedOfOneConnectionStaysWithinMaxQueued) {
  Gate gate;
  LineService::Options o = TestOptions(2);
  o.queue_size = 100;
  o.max_queued_per_connection = 4;
  auto service = Started(o, [&](Request& r) -> Answer {
    gate.Enter();
    absl::SleepFor(absl::Milliseconds(2));  // Slow: see above.
    return Echo(r);
  });
  absl::Cleanup open_gate = [&] { gate.Open(); };
  Client a(service->port());
  SendLines(a, "a", 60);
  int64_t max_queued = 0;
  ASSERT_TRUE(gate.WaitEntered(1));
  // While the first batch is out, the front end retries the connection: let
  // it (the batch counts against the lane, so it must not get more room).
  Eventually([&] { return service->stats().queued >= 4; },
             test_util::kBlockedFor);
  for (int i = 1; i < 20; ++i) {
    gate.Release(1);
    ASSERT_TRUE(gate.WaitEntered(i + 1));
    max_queued = std::max(max_queued, service->stats().queued);
    ASSERT_LE(max_queued, 4) << "after " << i << " requests";
  }
  gate.Open();
  for (int i = 0; i < 60; ++i)
    ASSERT_EQ(a.ReadLine(), absl::StrCat("echo:a", i));
}

TEST(LineServiceTest, GracefulShutdownAnswersAcceptedRequests) {
  Gate gate;
  auto service = Started(TestOptions(2), [&](Request& r) -> Answer {
    gate.Enter();
    return Echo(r);
  });
  absl::Cleanup open_gate = [&] { gate.Open(); };
  auto c = std::make_unique<Client>(service->port());
  SendLines(*c, "r", 5);
  ASSERT_TRUE(gate.WaitEntered(1));
  ASSERT_TRUE(Eventually([&] { return service->stats().requests == 5; }));
  service->Shutdown(kBound);
  service->Shutdown(absl::ZeroDuration());  // The first grace stands.
  gate.Open();
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(c->ReadLine(), absl::StrCat("echo:r", i));
  }
  EXPECT_EQ(c->ReadLine(), "<eof>");
  c.reset();  // The server lingers until the peer closes.
  EXPECT_OK(service->Wait());
  EXPECT_EQ(service->stats().dropped, 0);
  EXPECT_EQ(service->stats().answered, 5);
  // Listening no more.
  EXPECT_FALSE(ConnectTcp("127.0.0.1", service->port()).ok());
}

TEST(LineServiceTest, ShortGraceDropsUnstartedRequestsAndWaitsForRunning) {
  Gate gate;
  auto service = Started(TestOptions(1), [&](Request& r) -> Answer {
    gate.Enter();
    return Echo(r);
  });
  absl::Cleanup open_gate = [&] { gate.Open(); };
  Client c(service->port());
  SendLines(c, "r", 5);
  ASSERT_TRUE(gate.WaitEntered(1));
  ASSERT_TRUE(Eventually([&] { return service->stats().requests == 5; }));
  service->Shutdown(absl::Milliseconds(20));
  absl::Notification waited;
  absl::Status wait_status;
  std::thread waiter([&] {
    wait_status = service->Wait();
    waited.Notify();
  });
  // At the deadline the connection is closed; Wait() still waits for the
  // request running in the handler.
  EXPECT_EQ(c.ReadLine(), "<eof>");
  EXPECT_FALSE(waited.WaitForNotificationWithTimeout(test_util::kBlockedFor));
  gate.Open();
  EXPECT_TRUE(waited.WaitForNotificationWithTimeout(kBound));
  waiter.join();
  EXPECT_OK(wait_status);
  EXPECT_EQ(gate.entered(), 1);
  EXPECT_EQ(service->stats().dropped, 4);
}

TEST(LineServiceTest, ShutdownAnswersLinesNotHandedOverAsShuttingDown) {
  Gate gate;
  LineService::Options o = TestOptions(1);
  o.queue_size = 1;  // r0 fills it (out in the worker's batch).
  auto service = Started(o, [&](Request& r) -> Answer {
    gate.Enter();
    return Echo(r);
  });
  absl::Cleanup open_gate = [&] { gate.Open(); };
  auto c = std::make_unique<Client>(service->port());
  SendLines(*c, "r", 5);
  ASSERT_TRUE(gate.WaitEntered(1));
  service->Shutdown(kBound);
  // Shutdown returns at once; r0 must not finish before the shutdown has
  // begun (its listener closed), or r1 could be handed over in between.
  ASSERT_TRUE(Eventually(
      [&] { return !ConnectTcp("127.0.0.1", service->port()).ok(); }));
  gate.Open();
  EXPECT_EQ(c->ReadLine(), "echo:r0");
  for (int i = 1; i < 5; ++i) {
    EXPECT_EQ(c->ReadLine(), "ERR server shutting down");
  }
  EXPECT_EQ(c->ReadLine(), "<eof>");
  c.reset();
  EXPECT_OK(service->Wait());
  EXPECT_EQ(gate.entered(), 1);
  EXPECT_EQ(service->stats().dropped, 0);
}

TEST(LineServiceTest, PendingFutureIsCancelledAtTheGraceDeadline) {
  Promises promises;
  auto service = Started(TestOptions(1), [&](Request& r) -> Answer {
    return promises.Make(r.line());
  });
  Client c(service->port());
  c.Send("never\n");
  ASSERT_TRUE(promises.WaitFor(1));
  service->Shutdown(absl::Milliseconds(20));
  EXPECT_EQ(c.ReadLine(), "<eof>");
  EXPECT_OK(service->Wait());
  EXPECT_TRUE(promises.future(0).cancelled());
  // Its promise can no longer be set.
  EXPECT_FALSE(promises.promise(0).SetValue("late").ok());
}

TEST(LineServiceTest, StartRejectsBadOptions) {
  LineService::Options o = TestOptions();
  o.server.port = 70000;
  LineService bad_port(o, Echo);
  EXPECT_EQ(bad_port.Start().code(), absl::StatusCode::kInvalidArgument);
  o = TestOptions();
  o.workers = 0;
  LineService no_workers(o, Echo);
  EXPECT_EQ(no_workers.Start().code(), absl::StatusCode::kInvalidArgument);
  // Never started: Shutdown and Wait are no-ops.
  no_workers.Shutdown();
  EXPECT_OK(no_workers.Wait());
}

TEST(LineServiceTest, StartTwiceFails) {
  auto service = Started(TestOptions(), Echo);
  EXPECT_EQ(service->Start().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(LineServiceTest, BusyPortFailsAndLeavesNothingRunning) {
  auto first = Started(TestOptions(), Echo);
  const int threads = CountThreads();
  LineService::Options o = TestOptions();
  o.server.port = first->port();
  {
    LineService second(o, Echo);
    absl::Status s = second.Start();
    EXPECT_FALSE(s.ok());
    EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists) << s;
    EXPECT_EQ(CountThreads(), threads);
    const absl::Time start = absl::Now();
    second.Shutdown();
    EXPECT_OK(second.Wait());
    EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  }
  // The first is unharmed.
  Client c(first->port());
  c.Send("x\n");
  EXPECT_EQ(c.ReadLine(), "echo:x");
}

TEST(LineServiceTest, DestructorClosesLiveConnections) {
  auto service = Started(TestOptions(), Echo);
  Client idle(service->port());
  Client used(service->port());
  used.Send("x\n");
  EXPECT_EQ(used.ReadLine(), "echo:x");
  ASSERT_TRUE(Eventually([&] { return service->stats().connections == 2; }));
  service.reset();
  EXPECT_EQ(idle.ReadLine(), "<eof>");
  EXPECT_EQ(used.ReadLine(), "<eof>");
}

TEST(LineServiceTest, RunsOnAUserExecutor) {
  ThreadPoolExecutor pool(ThreadPoolExecutor::Options{.max_workers = 3});
  // Several lives, ended at once after use: the workers must be done with
  // the service before it is gone (the pool outlives it).
  for (int life = 0; life < 10; ++life) {
    LineService::Options o = TestOptions(3);
    o.executor = &pool;
    auto service = Started(o, Echo);
    Client c(service->port());
    SendLines(c, "r", 20);
    for (int i = 0; i < 20; ++i) {
      ASSERT_EQ(c.ReadLine(), absl::StrCat("echo:r", i));
    }
    service.reset();
  }
  // The pool is still usable, and all its workers are free again.
  std::vector<Future<int>> fs;
  for (int i = 0; i < 3; ++i) fs.push_back(pool.Submit([i] { return i; }));
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<int> r = fs[i].ResultFor(kBound);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(*r, i);
  }
}

#ifdef __linux__
// The owned pool's workers run under SCHED_BATCH unless told otherwise; a
// user's executor keeps its own policy.
TEST(LineServiceTest, OwnWorkersRunUnderBatchSchedulingByDefault) {
  const int mine = sched_getscheduler(0);
  if (mine == SCHED_BATCH) GTEST_SKIP() << "the test runs under SCHED_BATCH";
  auto policy = [](Request&) -> Answer {
    return absl::StrCat(sched_getscheduler(0));
  };
  for (bool batch : {true, false}) {
    LineService::Options o = TestOptions(2);
    o.batch_scheduling = batch;
    auto service = Started(o, policy);
    Client c(service->port());
    SendLines(c, "p", 2);
    for (int i = 0; i < 2; ++i) {
      EXPECT_EQ(c.ReadLine(), absl::StrCat(batch ? SCHED_BATCH : mine));
    }
  }
  ThreadPoolExecutor pool(ThreadPoolExecutor::Options{.max_workers = 1});
  LineService::Options o = TestOptions(1);
  o.executor = &pool;
  auto service = Started(o, policy);
  Client c(service->port());
  SendLines(c, "p", 1);
  EXPECT_EQ(c.ReadLine(), absl::StrCat(mine));
}
#endif  // __linux__

TEST(LineServiceTest, TwoLoopsBothServe) {
  LineService::Options o = TestOptions(2);
  o.loops = 2;
  auto service = Started(
      o, [](Request& r) -> Answer { return absl::StrCat(r.loop_index()); });
  bool seen[2] = {false, false};
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < 64 && !(seen[0] && seen[1]); ++i) {
    clients.push_back(std::make_unique<Client>(service->port()));
    clients.back()->Send("which\n");
    const std::string line = clients.back()->ReadLine();
    ASSERT_TRUE(line == "0" || line == "1") << line;
    seen[line == "1"] = true;
  }
  EXPECT_TRUE(seen[0]);
  EXPECT_TRUE(seen[1]);
}

}  // namespace
}  // namespace spindle::io
