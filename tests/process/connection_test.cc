// Copyright 2026 The spindle Authors.
//
// Tests for spindle::Pipe and spindle::Connection, following CPython's
// test_multiprocessing (_TestConnection: send/recv both ways, one-way ends,
// EOF, poll with timeout, sending across processes, fileno with selectors)
// plus the framing errors spindle reports (oversize, truncated messages).
// Forks happen only while the test process is single-threaded.

#include "spindle/process/connection.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "spindle/concurrency/status.h"
#include "spindle/io/selectors.h"
#include "spindle/process/process.h"
#include "tests/test_util.h"

namespace spindle {
namespace {

using test_util::kBound;

std::pair<Connection, Connection> MakePipe(
    bool duplex, size_t max = Connection::kDefaultMaxMessage) {
  auto p = Pipe(duplex, max);
  EXPECT_TRUE(p.ok()) << p.status();
  if (!p.ok()) return {};
  return std::move(*p);
}

// Receives one message, waiting at most kBound for it to start.
absl::StatusOr<std::string> RecvBounded(Connection& c) {
  auto ready = c.Poll(kBound);
  if (!ready.ok()) return ready.status();
  if (!*ready) return TimeoutError("no message within the bound");
  return c.RecvBytes();
}

// Writes raw bytes to a connection's descriptor, bypassing the framing.
void WriteRaw(const Connection& c, const std::string& bytes) {
  ASSERT_EQ(write(c.fileno(), bytes.data(), bytes.size()),
            static_cast<ssize_t>(bytes.size()));
}

std::string Header(uint32_t len) {
  return std::string{static_cast<char>(len >> 24), static_cast<char>(len >> 16),
                     static_cast<char>(len >> 8), static_cast<char>(len)};
}

bool SigpipePending() {
  sigset_t pending;
  sigemptyset(&pending);
  sigpending(&pending);
  return sigismember(&pending, SIGPIPE) == 1;
}

// ---- Basics -----------------------------------------------------------------

TEST(ConnectionTest, DuplexSendsBothWays) {
  auto a_b = MakePipe(true);
  Connection& a = a_b.first;
  Connection& b = a_b.second;
  EXPECT_TRUE(a.readable() && a.writable() && b.readable() && b.writable());
  ASSERT_OK(a.SendBytes("ping"));
  ASSERT_OK(a.SendBytes(""));
  auto got = RecvBounded(b);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, "ping");
  got = RecvBounded(b);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, "");  // empty messages are messages
  ASSERT_OK(b.SendBytes("pong"));
  got = RecvBounded(a);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, "pong");
}

TEST(ConnectionTest, OneWayPipeDeliversInOrder) {
  auto r_w = MakePipe(false);
  Connection& r = r_w.first;
  Connection& w = r_w.second;
  for (int i = 0; i < 100; ++i) ASSERT_OK(w.SendBytes(absl::StrCat("m", i)));
  for (int i = 0; i < 100; ++i) {
    auto got = RecvBounded(r);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(*got, absl::StrCat("m", i));
  }
}

TEST(ConnectionTest, OneWayEndsRejectTheWrongDirection) {
  auto r_w = MakePipe(false);
  Connection& r = r_w.first;
  Connection& w = r_w.second;
  EXPECT_TRUE(r.readable());
  EXPECT_FALSE(r.writable());
  EXPECT_FALSE(w.readable());
  EXPECT_TRUE(w.writable());
  EXPECT_TRUE(IsShutDown(r.SendBytes("x")));
  EXPECT_TRUE(IsShutDown(w.RecvBytes().status()));
  EXPECT_TRUE(IsShutDown(w.Poll().status()));
  // Nothing was written by the refused send.
  auto ready = r.Poll();
  ASSERT_TRUE(ready.ok());
  EXPECT_FALSE(*ready);
}

TEST(ConnectionTest, BinaryDataAndLargeMessagesSurvive) {
  auto a_b = MakePipe(true);
  Connection& a = a_b.first;
  Connection& b = a_b.second;
  std::string big(1 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7);
  // 1 MiB does not fit in the socket buffer: a child receives it while we
  // send (partial writes and reads on both sides).
  Process child([&b, &big] {
    auto got = b.RecvBytes();
    if (!got.ok() || *got != big) return 1;
    return b.SendBytes(*got).ok() ? 0 : 2;
  });
  ASSERT_OK(child.Start());
  ASSERT_OK(a.SendBytes(big));
  auto echoed = RecvBounded(a);
  ASSERT_TRUE(echoed.ok()) << echoed.status();
  EXPECT_TRUE(*echoed == big);
  ASSERT_TRUE(child.JoinFor(kBound));
  EXPECT_EQ(child.exitcode(), 0);
}

// ---- EOF
// ------------------------------------------------------------------------

TEST(ConnectionTest, EofAfterThePeerClosesDeliversEverythingFirst) {
  for (bool duplex : {true, false}) {
    SCOPED_TRACE(duplex ? "duplex" : "one-way");
    auto r_w = MakePipe(duplex);
    Connection& r = r_w.first;
    Connection& w = r_w.second;
    ASSERT_OK(w.SendBytes("one"));
    ASSERT_OK(w.SendBytes("two"));
    w.Close();
    EXPECT_EQ(*RecvBounded(r), "one");
    EXPECT_EQ(*RecvBounded(r), "two");
    auto ready = r.Poll(kBound);
    ASSERT_TRUE(ready.ok() && *ready);  // EOF is "ready"
    absl::Status eof = r.RecvBytes().status();
    EXPECT_TRUE(IsEof(eof)) << eof;
    EXPECT_TRUE(IsEof(r.RecvBytes().status()));  // and stays so
  }
}

TEST(ConnectionTest, EofWhenThePeerProcessExits) {
  for (bool duplex : {true, false}) {
    SCOPED_TRACE(duplex ? "duplex" : "one-way");
    auto r_w = MakePipe(duplex);
    Connection& r = r_w.first;
    Connection& w = r_w.second;
    Process child([&w] { return w.SendBytes("last words").ok() ? 0 : 1; });
    ASSERT_OK(child.Start());
    w.Close();  // only the child holds the send end now
    EXPECT_EQ(*RecvBounded(r), "last words");
    absl::Status eof = RecvBounded(r).status();
    EXPECT_TRUE(IsEof(eof)) << eof;
    ASSERT_TRUE(child.JoinFor(kBound));
    EXPECT_EQ(child.exitcode(), 0);
  }
}

TEST(ConnectionTest, EofWhenThePeerDiesWithUnreadMessages) {
  // The peer never reads what we sent; Linux may report ECONNRESET on the
  // socket, which at a message boundary is EOF.
  auto a_b = MakePipe(true);
  Connection& a = a_b.first;
  Connection& b = a_b.second;
  ASSERT_OK(a.SendBytes("never read"));
  b.Close();
  absl::Status eof = a.RecvBytes().status();
  EXPECT_TRUE(IsEof(eof)) << eof;
}

// ---- Errors
// ---------------------------------------------------------------------

TEST(ConnectionTest, OversizeSendIsRejectedBeforeWritingAnything) {
  for (bool duplex : {true, false}) {
    SCOPED_TRACE(duplex ? "duplex" : "one-way");
    auto r_w = MakePipe(duplex, 8);
    Connection& r = r_w.first;
    Connection& w = r_w.second;
    EXPECT_EQ(w.max_message(), 8u);
    absl::Status s = w.SendBytes("123456789");
    EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
    auto ready = r.Poll();
    ASSERT_TRUE(ready.ok());
    EXPECT_FALSE(*ready);                // nothing was written
    ASSERT_OK(w.SendBytes("12345678"));  // the limit itself is fine
    EXPECT_EQ(*RecvBounded(r), "12345678");
  }
}

TEST(ConnectionTest, AnnouncedOversizeIsDataLossAndSticks) {
  auto r_w = MakePipe(false, 8);
  Connection& r = r_w.first;
  Connection& w = r_w.second;
  WriteRaw(w, Header(9) + "123456789");
  absl::Status s = r.RecvBytes().status();
  EXPECT_TRUE(absl::IsDataLoss(s)) << s;
  WriteRaw(w, Header(1) + "x");
  EXPECT_TRUE(absl::IsDataLoss(r.RecvBytes().status()));  // out of step
}

TEST(ConnectionTest, TruncatedMessageIsDataLoss) {
  auto r_w = MakePipe(false);
  Connection& r = r_w.first;
  Connection& w = r_w.second;
  WriteRaw(w, Header(10) + "abc");
  w.Close();
  absl::Status s = r.RecvBytes().status();
  EXPECT_TRUE(absl::IsDataLoss(s)) << s;
  EXPECT_FALSE(IsEof(s));
}

TEST(ConnectionTest, TruncatedHeaderIsDataLoss) {
  auto a_b = MakePipe(true);
  Connection& a = a_b.first;
  Connection& b = a_b.second;
  WriteRaw(b, std::string("\0\0", 2));
  b.Close();
  absl::Status s = a.RecvBytes().status();
  EXPECT_TRUE(absl::IsDataLoss(s)) << s;
}

TEST(ConnectionTest, SendingToAClosedPeerIsEpipeAndDoesNotRaiseSigpipe) {
  // SIGPIPE's default action would kill the test; nothing may raise it.
  for (bool duplex : {true, false}) {
    SCOPED_TRACE(duplex ? "duplex" : "one-way");
    auto r_w = MakePipe(duplex);
    Connection& r = r_w.first;
    Connection& w = r_w.second;
    r.Close();
    absl::Status s = w.SendBytes("anyone?");
    EXPECT_FALSE(s.ok());
    EXPECT_NE(s.message().find("Broken pipe"), absl::string_view::npos) << s;
    EXPECT_FALSE(SigpipePending());
  }
}

TEST(ConnectionTest, ClosedConnectionsRefuseEverything) {
  Connection none;
  EXPECT_TRUE(none.closed());
  EXPECT_EQ(none.fileno(), -1);
  EXPECT_TRUE(IsShutDown(none.SendBytes("x")));
  EXPECT_TRUE(IsShutDown(none.RecvBytes().status()));
  EXPECT_TRUE(IsShutDown(none.Poll().status()));
  auto a_b = MakePipe(true);
  Connection& a = a_b.first;
  Connection& b = a_b.second;
  a.Close();
  a.Close();  // idempotent
  EXPECT_TRUE(a.closed());
  EXPECT_EQ(a.fileno(), -1);
  EXPECT_TRUE(IsEof(b.RecvBytes().status()));  // the peer sees the close
  EXPECT_TRUE(IsShutDown(a.SendBytes("x")));
  EXPECT_TRUE(IsShutDown(a.RecvBytes().status()));
}

TEST(ConnectionTest, MovingTransfersTheDescriptor) {
  auto a_b = MakePipe(true);
  Connection& a = a_b.first;
  Connection& b = a_b.second;
  const int fd = a.fileno();
  Connection c(std::move(a));
  EXPECT_EQ(c.fileno(), fd);
  EXPECT_TRUE(a.closed());  // NOLINT(bugprone-use-after-move)
  Connection d;
  d = std::move(c);
  EXPECT_EQ(d.fileno(), fd);
  ASSERT_OK(d.SendBytes("moved"));
  EXPECT_EQ(*RecvBounded(b), "moved");
}

TEST(ConnectionTest, PipeRefusesALimitTheHeaderCannotCarry) {
  auto p = Pipe(true, size_t{Connection::kMaxMaxMessage} + 1);
  EXPECT_TRUE(absl::IsInvalidArgument(p.status())) << p.status();
}

// ---- Poll
// -----------------------------------------------------------------------------

TEST(ConnectionTest, PollHonoursItsTimeoutAndSeesMessages) {
  auto a_b = MakePipe(true);
  Connection& a = a_b.first;
  Connection& b = a_b.second;
  auto ready = b.Poll();
  ASSERT_TRUE(ready.ok());
  EXPECT_FALSE(*ready);
  // The timeout is what is measured here.
  const absl::Duration timeout = absl::Milliseconds(150);
  const absl::Time start = absl::Now();
  ready = b.Poll(timeout);
  const absl::Duration waited = absl::Now() - start;
  ASSERT_TRUE(ready.ok());
  EXPECT_FALSE(*ready);
  EXPECT_GE(waited, timeout - absl::Milliseconds(5));
  EXPECT_LT(waited, timeout + absl::Seconds(5));
  ASSERT_OK(a.SendBytes("here"));
  ready = b.Poll();
  ASSERT_TRUE(ready.ok());
  EXPECT_TRUE(*ready);
  EXPECT_EQ(*b.RecvBytes(), "here");
}

TEST(ConnectionTest, InfinitePollWakesWhenAnotherProcessSends) {
  auto a_b = MakePipe(true);
  Connection& a = a_b.first;
  Connection& b = a_b.second;
  auto go_r_go_w = MakePipe(false);
  Connection& go_r = go_r_go_w.first;
  Connection& go_w = go_r_go_w.second;
  Process child([&a, &go_r] {
    (void)go_r.RecvBytes();  // wait until the parent is about to poll
    return a.SendBytes("wake").ok() ? 0 : 1;
  });
  ASSERT_OK(child.Start());
  ASSERT_OK(go_w.SendBytes("go"));
  auto ready = b.Poll(absl::InfiniteDuration());
  ASSERT_TRUE(ready.ok());
  EXPECT_TRUE(*ready);
  EXPECT_EQ(*b.RecvBytes(), "wake");
  ASSERT_TRUE(child.JoinFor(kBound));
}

// ---- Across processes
// -----------------------------------------------------------------

TEST(ConnectionTest, ConnectionUsedAcrossFork) {
  auto parent_end_child_end = MakePipe(true);
  Connection& parent_end = parent_end_child_end.first;
  Connection& child_end = parent_end_child_end.second;
  Process echo([&parent_end, &child_end] {
    parent_end.Close();  // the child's copy of the parent's end
    for (;;) {
      auto msg = child_end.RecvBytes();
      if (IsEof(msg.status())) return 0;
      if (!msg.ok()) return 1;
      if (!child_end.SendBytes(absl::StrCat("echo:", *msg)).ok()) return 2;
    }
  });
  ASSERT_OK(echo.Start());
  child_end.Close();
  for (int i = 0; i < 50; ++i) {
    ASSERT_OK(parent_end.SendBytes(absl::StrCat(i)));
    auto got = RecvBounded(parent_end);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(*got, absl::StrCat("echo:", i));
  }
  parent_end.Close();  // the child sees EOF and exits 0
  ASSERT_TRUE(echo.JoinFor(kBound));
  EXPECT_EQ(echo.exitcode(), 0);
}

TEST(ConnectionTest, BothProcessesSendAtOnceOnADuplexPipe) {
  auto a_b = MakePipe(true);
  Connection& a = a_b.first;
  Connection& b = a_b.second;
  // Both sides send before receiving, so everything must fit in the socket
  // buffers (AF_UNIX charges each small message ~1 KiB of buffer space).
  constexpr int kCount = 50;
  Process child([&a, &b] {
    a.Close();
    for (int i = 0; i < kCount; ++i) {
      if (!b.SendBytes(absl::StrCat("c", i)).ok()) return 1;
    }
    for (int i = 0; i < kCount; ++i) {
      auto got = b.RecvBytes();
      if (!got.ok() || *got != absl::StrCat("p", i)) return 2;
    }
    return 0;
  });
  ASSERT_OK(child.Start());
  b.Close();
  for (int i = 0; i < kCount; ++i) ASSERT_OK(a.SendBytes(absl::StrCat("p", i)));
  for (int i = 0; i < kCount; ++i) {
    auto got = RecvBounded(a);
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_EQ(*got, absl::StrCat("c", i));
  }
  ASSERT_TRUE(child.JoinFor(kBound));
  EXPECT_EQ(child.exitcode(), 0);
  EXPECT_TRUE(IsEof(a.RecvBytes().status()));
}

TEST(ConnectionTest, RecvIsNotBrokenByInterruptingSignals) {
  // A handler installed without SA_RESTART makes blocking reads fail with
  // EINTR; RecvBytes must retry them.
  struct sigaction sa = {};
  sa.sa_handler = [](int) {};
  sigemptyset(&sa.sa_mask);
  struct sigaction old;
  ASSERT_EQ(sigaction(SIGUSR1, &sa, &old), 0);
  auto a_b = MakePipe(true);
  Connection& a = a_b.first;
  Connection& b = a_b.second;
  const pid_t parent = getpid();
  Process child([&a, parent] {
    for (int i = 0; i < 20; ++i) kill(parent, SIGUSR1);
    return a.SendBytes(std::string(100000, 'x')).ok() ? 0 : 1;
  });
  ASSERT_OK(child.Start());
  auto got = b.RecvBytes();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->size(), 100000u);
  ASSERT_TRUE(child.JoinFor(kBound));
  EXPECT_EQ(child.exitcode(), 0);
  sigaction(SIGUSR1, &old, nullptr);
}

// ---- Selectors
// ------------------------------------------------------------------------

TEST(ConnectionTest, FilenoBecomesReadableInTheDefaultSelector) {
  auto a_b = MakePipe(true);
  Connection& a = a_b.first;
  Connection& b = a_b.second;
  auto sel = io::DefaultSelector<int>();
  ASSERT_TRUE(sel.ok()) << sel.status();
  auto key = (*sel)->Register(b, io::kEventRead, 7);
  ASSERT_TRUE(key.ok()) << key.status();
  auto ready = (*sel)->Select(absl::ZeroDuration());
  ASSERT_TRUE(ready.ok()) << ready.status();
  EXPECT_TRUE(ready->empty());
  ASSERT_OK(a.SendBytes("for the loop"));
  ready = (*sel)->Select(kBound);
  ASSERT_TRUE(ready.ok()) << ready.status();
  ASSERT_EQ(ready->size(), 1u);
  EXPECT_EQ((*ready)[0].key->fd, b.fileno());
  EXPECT_EQ((*ready)[0].key->data, 7);
  EXPECT_EQ((*ready)[0].events, io::kEventRead);
  EXPECT_EQ(*b.RecvBytes(), "for the loop");
  ASSERT_OK((*sel)->Unregister(b));
}

}  // namespace
}  // namespace spindle
