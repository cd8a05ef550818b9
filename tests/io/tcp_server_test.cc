// Copyright 2026 The spindle Authors.

#include "spindle/io/tcp_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "spindle/concurrency/status.h"
#include "spindle/concurrency/thread_pool.h"
#include "spindle/io/event_loop.h"
#include "spindle/io/socket.h"
#include "tests/io/tcp_test_util.h"
#include "tests/test_util.h"

namespace spindle::io {
namespace {

constexpr absl::Duration kBound = absl::Seconds(20);

using tcp_test::Client;
using tcp_test::ServerFixture;

// Replies on the loop thread at once.
TcpServer::Handler Echo() {
  return [](absl::string_view line, Responder& r) {
    r.Reply(absl::StrCat("OK ", line));
    return absl::OkStatus();
  };
}

TEST(TcpServerTest, EchoesLinesInOrder) {
  ServerFixture f({}, Echo());
  ASSERT_OK(f.start());
  Client c(f.port());
  c.Send("a\nbb\r\nccc\n");
  EXPECT_EQ(c.ReadLine(), "OK a");
  EXPECT_EQ(c.ReadLine(), "OK bb");  // "\r" dropped.
  EXPECT_EQ(c.ReadLine(), "OK ccc");
  c.Send("\n");
  EXPECT_EQ(c.ReadLine(), "OK ");
}

TEST(TcpServerTest, RepliesInRequestOrderWhenJobsFinishOutOfOrder) {
  ThreadPoolExecutor pool(ThreadPoolExecutor::Options{.max_workers = 2});
  absl::Notification gate, fast_done;
  ServerFixture f({}, [&](absl::string_view line, Responder& r) {
    std::string l(line);
    pool.Execute([&, l, r = std::move(r)]() mutable {
          if (l == "slow") {
            gate.WaitForNotificationWithTimeout(kBound);
            r.Reply("slow done");
          } else {
            r.Reply("fast done");
            fast_done.Notify();
          }
        })
        .IgnoreError();
    return absl::OkStatus();
  });
  ASSERT_OK(f.start());
  Client c(f.port());
  c.Send("slow\nfast\n");
  ASSERT_TRUE(fast_done.WaitForNotificationWithTimeout(kBound));
  gate.Notify();
  EXPECT_EQ(c.ReadLine(), "slow done");
  EXPECT_EQ(c.ReadLine(), "fast done");
  f.StopLoop();
}

TEST(TcpServerTest, ManyPipelinedRequestsFromWorkers) {
  ThreadPoolExecutor pool(ThreadPoolExecutor::Options{.max_workers = 4});
  ServerFixture f({}, [&](absl::string_view line, Responder& r) {
    std::string l(line);
    pool.Execute([l, r = std::move(r)]() mutable { r.Reply(l); }).IgnoreError();
    return absl::OkStatus();
  });
  ASSERT_OK(f.start());
  Client c(f.port());
  constexpr int kN = 5000;
  std::thread writer([&] {
    std::string batch;
    for (int i = 0; i < kN; ++i) absl::StrAppend(&batch, "req", i, "\n");
    c.Send(batch);
  });
  for (int i = 0; i < kN; ++i) {
    ASSERT_EQ(c.ReadLine(), absl::StrCat("req", i));
  }
  writer.join();
  f.StopLoop();
}

TEST(TcpServerTest, OversizeLineGetsErrorAndClose) {
  TcpServer::Options o;
  o.max_line = 16;
  ServerFixture f(o, Echo());
  ASSERT_OK(f.start());
  Client c(f.port());
  c.Send("short\n");
  c.Send(std::string(100, 'x'));  // No newline: still too long.
  EXPECT_EQ(c.ReadLine(), "OK short");
  EXPECT_EQ(c.ReadLine(), "ERR line too long (max 16 bytes)");
  EXPECT_EQ(c.ReadLine(), "<eof>");
  Client d(f.port());  // The server keeps serving.
  d.Send(std::string(16, 'y') + "\n" + std::string(17, 'z') + "\nlater\n");
  EXPECT_EQ(d.ReadLine(), "OK " + std::string(16, 'y'));
  EXPECT_EQ(d.ReadLine(), "ERR line too long (max 16 bytes)");
  EXPECT_EQ(d.ReadLine(), "<eof>");
  EXPECT_EQ(f.stats().oversize.load(), 2);
}

TEST(TcpServerTest, HalfCloseAnswersLastLineThenCloses) {
  ServerFixture f({}, Echo());
  ASSERT_OK(f.start());
  Client c(f.port());
  c.Send("one\ntwo");  // The last line has no newline.
  ASSERT_OK(c.sock().ShutdownWrite());
  EXPECT_EQ(c.ReadLine(), "OK one");
  EXPECT_EQ(c.ReadLine(), "OK two");
  EXPECT_EQ(c.ReadLine(), "<eof>");
}

TEST(TcpServerTest, HandlerErrorRepliesErrAndConnectionStaysUsable) {
  ServerFixture f({}, [](absl::string_view line, Responder& r) -> absl::Status {
    if (line == "bad") return absl::InvalidArgumentError("bad request");
    if (line == "throw") throw std::runtime_error("kaboom");
    if (line == "drop") return absl::OkStatus();  // Responder not taken.
    r.Reply(std::string(line));
    return absl::OkStatus();
  });
  ASSERT_OK(f.start());
  Client c(f.port());
  c.Send("bad\nthrow\ndrop\nfine\n");
  EXPECT_EQ(c.ReadLine(), "ERR bad request");
  EXPECT_EQ(c.ReadLine(), "ERR internal error");  // what() stays on the server.
  EXPECT_EQ(c.ReadLine(), "ERR internal error: no reply");
  EXPECT_EQ(c.ReadLine(), "fine");
}

TEST(TcpServerTest, HandlerErrorsBeyondThePipelineLimitAreAllAnswered) {
  // The server answers failed requests itself; those answers free pipeline
  // slots, so lines already buffered behind the limit must go on without
  // waiting for more input.
  TcpServer::Options o;
  o.max_pipelined = 2;
  ServerFixture f(o, [](absl::string_view line, Responder&) {
    return absl::InvalidArgumentError(absl::StrCat("no ", line));
  });
  ASSERT_OK(f.start());
  Client c(f.port());
  c.Send("1\n2\n3\n4\n5\n");  // One write: buffered together.
  for (int i = 1; i <= 5; ++i)
    EXPECT_EQ(c.ReadLine(), absl::StrCat("ERR no ", i));
  EXPECT_EQ(f.stats().errors.load(), 5);
}

TEST(TcpServerTest, QuitReplyClosesAndDropsLaterRequests) {
  ServerFixture f({}, [](absl::string_view line, Responder& r) {
    r.Reply(line == "QUIT" ? "BYE" : std::string(line), line == "QUIT");
    return absl::OkStatus();
  });
  ASSERT_OK(f.start());
  Client c(f.port());
  c.Send("x\nQUIT\ny\n");
  EXPECT_EQ(c.ReadLine(), "x");
  EXPECT_EQ(c.ReadLine(), "BYE");
  EXPECT_EQ(c.ReadLine(), "<eof>");
}

TEST(TcpServerTest, MaxConnectionsRejectsWithMessage) {
  TcpServer::Options o;
  o.max_connections = 2;
  ServerFixture f(o, Echo());
  ASSERT_OK(f.start());
  Client a(f.port()), b(f.port());
  a.Send("a\n");
  b.Send("b\n");
  EXPECT_EQ(a.ReadLine(), "OK a");  // Both accepted before the third.
  EXPECT_EQ(b.ReadLine(), "OK b");
  Client c(f.port());
  EXPECT_EQ(c.ReadLine(), "ERR server busy: too many connections");
  EXPECT_EQ(c.ReadLine(), "<eof>");
  EXPECT_EQ(f.stats().rejected_busy.load(), 1);
  // A freed slot is usable again.
  ASSERT_OK(a.sock().ShutdownWrite());
  EXPECT_EQ(a.ReadLine(), "<eof>");
  Client d(f.port());
  d.Send("d\n");
  EXPECT_EQ(d.ReadLine(), "OK d");
}

TEST(TcpServerTest, IdleTimeoutDropsSlowlorisButNotBusyConnections) {
  TcpServer::Options o;
  o.idle_timeout = absl::Milliseconds(300);
  ThreadPoolExecutor pool(ThreadPoolExecutor::Options{.max_workers = 1});
  absl::Notification gate;
  ServerFixture f(o, [&](absl::string_view line, Responder& r) {
    if (line == "hold") {
      pool.Execute([&, r = std::move(r)]() mutable {
            gate.WaitForNotificationWithTimeout(kBound);
            r.Reply("held");
          })
          .IgnoreError();
    } else {
      r.Reply(std::string(line));
    }
    return absl::OkStatus();
  });
  ASSERT_OK(f.start());
  Client busy(f.port());
  busy.Send("hold\n");
  Client slow(f.port());
  slow.Send("GET / HTTP/1.1");  // Never finishes its line.
  const absl::Time t0 = absl::Now();
  EXPECT_EQ(slow.ReadLine(), "ERR idle timeout");
  EXPECT_EQ(slow.ReadLine(), "<eof>");
  // The timeout is the point: it did not fire early.
  EXPECT_GE(absl::Now() - t0, absl::Milliseconds(250));
  gate.Notify();
  EXPECT_EQ(busy.ReadLine(), "held");  // Its job in flight kept it open.
  EXPECT_GE(f.stats().idle_closed.load(), 1);
  f.StopLoop();
}

TEST(TcpServerTest, LineRefusedByAFullHandlerIsNotIdle) {
  // The handler refuses (IsFull) for three idle timeouts, timed by a loop
  // timer; the connection waits on the server, not idling, so its request
  // is answered when the handler takes it.
  TcpServer::Options o;
  o.idle_timeout = absl::Milliseconds(200);
  o.full_retry_delay = absl::Milliseconds(20);
  bool released = false;  // Loop thread only.
  int refusals = 0;
  MonotonicTime first_refusal;
  absl::Duration waited;
  ServerFixture* fixture = nullptr;
  ServerFixture f(o, [&](absl::string_view line, Responder& r) {
    if (!released) {
      if (refusals++ == 0) {
        first_refusal = fixture->loop().Time();
        fixture->loop().CallLater(3 * o.idle_timeout, [&] { released = true; });
      }
      return FullError("queue full");
    }
    waited = fixture->loop().Time() - first_refusal;
    r.Reply(absl::StrCat("OK ", line));
    return absl::OkStatus();
  });
  fixture = &f;
  ASSERT_OK(f.start());
  Client c(f.port());
  c.Send("wait for me\n");
  EXPECT_EQ(c.ReadLine(), "OK wait for me");
  f.OnLoop([&] {
    EXPECT_GT(refusals, 1);
    EXPECT_GE(waited, 3 * o.idle_timeout);  // It did wait past the timeout.
  });
  EXPECT_EQ(f.stats().idle_closed.load(), 0);
}

TEST(TcpServerTest, ConnectionHeldByPendingHighWaterIsNotIdle) {
  // One request in flight fills the server (pending_high_water = 1) for
  // three idle timeouts; another connection's request waits on the server
  // meanwhile and must be answered, not timed out.
  TcpServer::Options o;
  o.idle_timeout = absl::Milliseconds(200);
  o.pending_high_water = 1;
  o.pending_low_water = 0;
  ServerFixture* fixture = nullptr;
  absl::Notification holding;
  ServerFixture f(o, [&](absl::string_view line, Responder& r) {
    if (line == "hold") {
      fixture->loop().CallLater(
          3 * o.idle_timeout,
          [r = std::move(r)]() mutable { r.Reply("held"); });
      holding.Notify();
    } else {
      r.Reply(absl::StrCat("OK ", line));
    }
    return absl::OkStatus();
  });
  fixture = &f;
  ASSERT_OK(f.start());
  Client a(f.port());
  a.Send("hold\n");
  ASSERT_TRUE(holding.WaitForNotificationWithTimeout(kBound));
  Client b(f.port());
  b.Send("x\n");
  EXPECT_EQ(b.ReadLine(), "OK x");
  EXPECT_EQ(a.ReadLine(), "held");
  EXPECT_EQ(f.stats().idle_closed.load(), 0);
  f.StopLoop();
}

TEST(TcpServerTest, ReaderThatNeverReadsIsBoundedAndOthersUnaffected) {
  TcpServer::Options o;
  o.output_high_water = 64 * 1024;
  o.output_low_water = 16 * 1024;
  o.max_pipelined = 64;
  const std::string big(16 * 1024, 'b');
  ServerFixture f(o, [&](absl::string_view line, Responder& r) {
    r.Reply(line == "big" ? big : std::string(line));
    return absl::OkStatus();
  });
  ASSERT_OK(f.start());
  Client hog(f.port());
  ASSERT_OK(hog.sock().SetNonBlocking());
  // Push requests until the server stops reading and our buffers fill.
  std::string reqs;
  for (int i = 0; i < 1024; ++i) reqs += "big\n";
  size_t sent = 0;
  bool blocked = false;
  for (const absl::Time end = absl::Now() + kBound; absl::Now() < end;) {
    auto n = hog.sock().Send(absl::string_view(reqs));
    if (!n.ok()) {
      blocked = IsWouldBlock(n.status());  // Backpressure reached us.
      break;
    }
    sent += *n;
  }
  ASSERT_TRUE(blocked) << "sent " << sent << " bytes without blocking";
  // Others are served normally meanwhile.
  Client other(f.port());
  for (int i = 0; i < 100; ++i) {
    other.Send(absl::StrCat("hi", i, "\n"));
    ASSERT_EQ(other.ReadLine(), absl::StrCat("hi", i));
  }
  // The server stopped reading from the hog: it holds at most the high-water
  // mark plus one round of pipelined replies, whatever the hog sent (the
  // rest waits in kernel buffers, whose size is the kernel's business).
  const int64_t buffered = f.stats().output_buffered.load();
  EXPECT_LE(buffered, static_cast<int64_t>(o.output_high_water +
                                           o.max_pipelined * (big.size() + 1)))
      << "sent " << sent << " bytes";
  EXPECT_GT(sent, 0u);
  f.StopLoop();
}

TEST(TcpServerTest, ServerWidePendingHighWaterPausesAllReading) {
  TcpServer::Options o;
  o.pending_high_water = 4;
  o.pending_low_water = 2;
  ThreadPoolExecutor pool(ThreadPoolExecutor::Options{.max_workers = 8});
  absl::Notification gate, reached;
  std::atomic<int> in_flight{0}, max_in_flight{0};
  ServerFixture f(o, [&](absl::string_view line, Responder& r) {
    const int now = in_flight.fetch_add(1) + 1;
    int seen = max_in_flight.load();
    while (now > seen && !max_in_flight.compare_exchange_weak(seen, now)) {
    }
    if (now == 4 && !reached.HasBeenNotified()) reached.Notify();
    std::string l(line);
    pool.Execute([&, l, r = std::move(r)]() mutable {
          gate.WaitForNotificationWithTimeout(kBound);
          in_flight.fetch_sub(1);
          r.Reply(l);
        })
        .IgnoreError();
    return absl::OkStatus();
  });
  ASSERT_OK(f.start());
  Client a(f.port()), b(f.port());
  a.Send("a1\na2\na3\na4\na5\n");
  b.Send("b1\nb2\nb3\nb4\nb5\n");
  ASSERT_TRUE(reached.WaitForNotificationWithTimeout(kBound));
  gate.Notify();
  for (int i = 1; i <= 5; ++i) EXPECT_EQ(a.ReadLine(), absl::StrCat("a", i));
  for (int i = 1; i <= 5; ++i) EXPECT_EQ(b.ReadLine(), absl::StrCat("b", i));
  EXPECT_EQ(max_in_flight.load(), 4);  // Never past the high-water mark.
  f.StopLoop();
}

TEST(TcpServerTest, FullHandlerIsRetriedAndNothingIsLost) {
  ThreadPoolExecutor pool(ThreadPoolExecutor::Options{.max_workers = 2});
  std::atomic<int> in_flight{0};
  std::atomic<int> refused{0};
  ServerFixture f({}, [&](absl::string_view line, Responder& r) {
    if (in_flight.load() >= 2) {
      refused.fetch_add(1);
      return FullError("queue full");
    }
    in_flight.fetch_add(1);
    std::string l(line);
    pool.Execute([&, l, r = std::move(r)]() mutable {
          in_flight.fetch_sub(1);
          r.Reply(l);
        })
        .IgnoreError();
    return absl::OkStatus();
  });
  ASSERT_OK(f.start());
  Client c(f.port());
  std::string batch;
  for (int i = 0; i < 300; ++i) absl::StrAppend(&batch, i, "\n");
  c.Send(batch);
  for (int i = 0; i < 300; ++i) ASSERT_EQ(c.ReadLine(), absl::StrCat(i));
  f.StopLoop();
}

TEST(TcpServerTest, GracefulShutdownAnswersJobsInFlight) {
  ThreadPoolExecutor pool(ThreadPoolExecutor::Options{.max_workers = 1});
  absl::Notification gate, started, done;
  ServerFixture f({}, [&](absl::string_view line, Responder& r) {
    std::string l(line);
    pool.Execute([&, l, r = std::move(r)]() mutable {
          started.Notify();
          gate.WaitForNotificationWithTimeout(kBound);
          r.Reply("done " + l);
        })
        .IgnoreError();
    return absl::OkStatus();
  });
  ASSERT_OK(f.start());
  const int port = f.port();
  Client c(port);
  c.Send("job\n");
  ASSERT_TRUE(started.WaitForNotificationWithTimeout(kBound));
  f.OnLoop([&] { f.server().Shutdown(kBound, [&] { done.Notify(); }); });
  EXPECT_FALSE(ConnectTcp("127.0.0.1", port).ok());  // No longer accepting.
  gate.Notify();
  EXPECT_EQ(c.ReadLine(), "done job");
  EXPECT_EQ(c.ReadLine(), "<eof>");
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(kBound));
  f.StopLoop();
}

TEST(TcpServerTest, GracefulShutdownGivesUpAtDeadline) {
  ThreadPoolExecutor pool(ThreadPoolExecutor::Options{.max_workers = 1});
  absl::Notification gate, started, done;
  ServerFixture f({}, [&](absl::string_view, Responder& r) {
    pool.Execute([&, r = std::move(r)]() mutable {
          started.Notify();
          gate.WaitForNotificationWithTimeout(kBound);
          r.Reply("too late");  // Server gone: discarded.
        })
        .IgnoreError();
    return absl::OkStatus();
  });
  ASSERT_OK(f.start());
  Client c(f.port());
  c.Send("job\n");
  ASSERT_TRUE(started.WaitForNotificationWithTimeout(kBound));
  f.OnLoop([&] {
    f.server().Shutdown(absl::Milliseconds(100), [&] { done.Notify(); });
  });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(kBound));
  EXPECT_EQ(c.ReadLine(), "<eof>");
  f.StopLoop();
  gate.Notify();
  pool.Shutdown();
}

TEST(TcpServerTest, ResetByPeerWithJobInFlight) {
  ThreadPoolExecutor pool(ThreadPoolExecutor::Options{.max_workers = 1});
  absl::Notification gate, started;
  ServerFixture f({}, [&](absl::string_view line, Responder& r) {
    if (line == "job") {
      pool.Execute([&, r = std::move(r)]() mutable {
            started.Notify();
            gate.WaitForNotificationWithTimeout(kBound);
            r.Reply("late");
          })
          .IgnoreError();
    } else {
      r.Reply(std::string(line));
    }
    return absl::OkStatus();
  });
  ASSERT_OK(f.start());
  {
    Client c(f.port());
    c.Send("job\n");
    ASSERT_TRUE(started.WaitForNotificationWithTimeout(kBound));
    linger l{1, 0};  // Close with RST.
    setsockopt(c.sock().fileno(), SOL_SOCKET, SO_LINGER, &l, sizeof(l));
  }
  gate.Notify();
  pool.Shutdown();  // The late reply was made; it is discarded.
  Client d(f.port());
  d.Send("alive\n");
  EXPECT_EQ(d.ReadLine(), "alive");
  f.StopLoop();
}

TEST(TcpServerTest, ManyConnectsAndDisconnectsLeaveNothingBehind) {
  ServerFixture f({}, Echo());
  ASSERT_OK(f.start());
  for (int i = 0; i < 1000; ++i) {
    Client c(f.port());
    if (i % 2 == 0) {
      c.Send("x\n");
      ASSERT_EQ(c.ReadLine(), "OK x");
    }
    ASSERT_OK(c.sock().ShutdownWrite());
    ASSERT_EQ(c.ReadLine(), "<eof>");  // The server closed its side.
  }
  EXPECT_EQ(f.stats().connections.load(), 0);
  EXPECT_EQ(f.stats().accepted.load(), 1000);
}

TEST(TcpServerTest, ListensOnIpv6Loopback) {
  TcpServer::Options o;
  o.hosts = {"::1"};
  ServerFixture f(o, Echo());
  if (!f.start().ok()) GTEST_SKIP() << "no IPv6 loopback: " << f.start();
  Fd fd(socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_port = htons(static_cast<uint16_t>(f.port()));
  a.sin6_addr = in6addr_loopback;
  ASSERT_EQ(connect(fd.fileno(), reinterpret_cast<sockaddr*>(&a), sizeof(a)),
            0);
  Socket s(std::move(fd));
  ASSERT_OK(s.SendAll("v6\n"));
  auto got = s.Recv(100);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, "OK v6\n");
}

// A server on its own loop, not running: Start's errors need no loop.
struct Unstarted {
  explicit Unstarted(TcpServer::Options o)
      : loop(*EventLoop::Create()), server(loop.get(), std::move(o), Echo()) {}
  std::unique_ptr<EventLoop> loop;
  TcpServer server;
};

// A port nobody listens on now (there is a small window for another
// process to take it).
int FreePort() {
  auto l = ListenTcp("127.0.0.1", 0);
  EXPECT_TRUE(l.ok()) << l.status();
  return l.ok() ? *l->LocalPort() : 0;
}

TEST(TcpServerTest, StartResolvesHostNamesLikePythonBind) {
  // ("localhost", port) binds the loopback address, as Python's bind does.
  TcpServer::Options o;
  o.hosts = {"localhost"};
  ServerFixture f(o, Echo());
  ASSERT_OK(f.start());
  Client c(f.port(), "127.0.0.1");
  c.Send("by name\n");
  EXPECT_EQ(c.ReadLine(), "OK by name");
}

TEST(TcpServerTest, StartNamesAHostItCannotResolve) {
  TcpServer::Options o;
  o.hosts = {"nonsense.invalid"};
  Unstarted u(o);
  const absl::Status s = u.server.Start();
  // kNotFound; kUnavailable only where no resolver answers at all.
  EXPECT_TRUE(absl::IsNotFound(s) || absl::IsUnavailable(s)) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "\"nonsense.invalid\"")) << s;
}

TEST(TcpServerTest, StartRejectsAPortOutOfRange) {
  for (int port : {70000, 65536, -1}) {
    TcpServer::Options o;
    o.port = port;
    Unstarted u(o);
    const absl::Status s = u.server.Start();
    EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
    EXPECT_TRUE(absl::StrContains(s.message(), absl::StrCat("port ", port)))
        << s;
  }
}

TEST(TcpServerTest, StartOnAnAddressOfAnotherHostSaysSo) {
  TcpServer::Options o;
  o.hosts = {"1.2.3.4"};
  o.port = FreePort();
  Unstarted u(o);
  const absl::Status s = u.server.Start();
  if (s.ok()) GTEST_SKIP() << "this host may bind non-local addresses";
  EXPECT_FALSE(absl::IsAlreadyExists(s)) << s;
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_TRUE(absl::StrContains(
      s.message(),
      absl::StrCat("cannot assign requested address 1.2.3.4:", o.port)))
      << s;
}

TEST(TcpServerTest, AddressInUseFailsCleanlyAndStartMayBeRetried) {
  auto blocker = ListenTcp("127.0.0.1", 0);
  ASSERT_OK(blocker.status());
  TcpServer::Options o;
  o.port = *blocker->LocalPort();
  Unstarted u(o);
  const absl::Status s = u.server.Start();
  EXPECT_TRUE(absl::IsAlreadyExists(s)) << s;
  EXPECT_TRUE(absl::StrContains(
      s.message(), absl::StrCat("address already in use: 127.0.0.1:", o.port)))
      << s;
  // Once the address is free, the same server starts.
  ASSERT_OK(blocker->Close());
  ASSERT_OK(u.server.Start());
  EXPECT_EQ(u.server.port(), o.port);
  EXPECT_OK(ConnectTcp("127.0.0.1", o.port).status());  // Listening.
  EXPECT_TRUE(absl::IsFailedPrecondition(u.server.Start()));
}

TEST(TcpServerTest, FailedStartLeavesNothingListening) {
  // The first host binds, the second fails: the first is closed again.
  TcpServer::Options o;
  o.hosts = {"127.0.0.1", "nonsense.invalid"};
  o.port = FreePort();
  {
    Unstarted u(o);
    EXPECT_FALSE(u.server.Start().ok());
    EXPECT_FALSE(ConnectTcp("127.0.0.1", o.port).ok());
  }  // And the failed server is destroyed cleanly.
}

TEST(TcpServerTest, ReusePortLetsTwoServersShareAPort) {
  TcpServer::Options o;
  o.reuse_port = true;
  ServerFixture a(o, Echo());
  ASSERT_OK(a.start());
  o.port = a.port();
  ServerFixture b(o, Echo());
  ASSERT_OK(b.start());
  for (int i = 0; i < 20; ++i) {
    Client c(a.port());
    c.Send("x\n");
    EXPECT_EQ(c.ReadLine(), "OK x");
  }
  EXPECT_EQ(a.stats().accepted.load() + b.stats().accepted.load(), 20);
}

}  // namespace
}  // namespace spindle::io
