// Copyright 2026 The spindle Authors.

#include "spindle/io/socket.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <thread>
#include <utility>

#include "absl/status/status.h"
#include "gtest/gtest.h"

namespace spindle::io {
namespace {

bool IsCloseOnExec(int fd) { return (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0; }
bool IsNonBlocking(int fd) { return (fcntl(fd, F_GETFL) & O_NONBLOCK) != 0; }
bool IsOpen(int fd) { return fcntl(fd, F_GETFD) >= 0; }

TEST(FdTest, OwnsClosesAndMoves) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const int r = fds[0];
  {
    Fd a(r);
    Fd w(fds[1]);
    EXPECT_EQ(a.fileno(), r);
    Fd b = std::move(a);
    EXPECT_EQ(a.fileno(), -1);  // NOLINT(bugprone-use-after-move)
    EXPECT_EQ(b.fileno(), r);
    EXPECT_TRUE(IsOpen(r));
    EXPECT_TRUE(w.Close().ok());
    EXPECT_TRUE(w.Close().ok());  // idempotent
    EXPECT_FALSE(w.valid());
  }
  EXPECT_FALSE(IsOpen(r));  // closed by the destructor
}

TEST(FdTest, ReleaseGivesUpOwnership) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  {
    Fd a(fds[0]);
    Fd b(fds[1]);
    EXPECT_EQ(a.release(), fds[0]);
  }
  EXPECT_TRUE(IsOpen(fds[0]));
  EXPECT_FALSE(IsOpen(fds[1]));
  close(fds[0]);
}

TEST(SocketTest, SocketPairRoundTripAndEndOfStream) {
  auto pair = SocketPair();
  ASSERT_TRUE(pair.ok()) << pair.status();
  auto& [a, b] = *pair;
  EXPECT_TRUE(IsCloseOnExec(a.fileno()));
  EXPECT_TRUE(IsCloseOnExec(b.fileno()));
  ASSERT_TRUE(a.SendAll("hello").ok());
  auto got = b.Recv(100);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, "hello");
  ASSERT_TRUE(a.ShutdownWrite().ok());
  got = b.Recv(100);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, "");  // end of stream
}

TEST(SocketTest, WouldBlockIsRecognisable) {
  auto pair = SocketPair();
  ASSERT_TRUE(pair.ok());
  auto& [a, b] = *pair;
  ASSERT_TRUE(a.SetNonBlocking().ok());
  EXPECT_TRUE(IsNonBlocking(a.fileno()));
  auto got = a.Recv(10);
  ASSERT_FALSE(got.ok());
  EXPECT_TRUE(IsWouldBlock(got.status())) << got.status();
  EXPECT_FALSE(IsWouldBlock(absl::UnavailableError("other")));
  ASSERT_TRUE(a.SetNonBlocking(false).ok());
  EXPECT_FALSE(IsNonBlocking(a.fileno()));
}

TEST(SocketTest, SendToClosedPeerIsAnErrorNotSigpipe) {
  auto pair = SocketPair();
  ASSERT_TRUE(pair.ok());
  auto& [a, b] = *pair;
  ASSERT_TRUE(b.Close().ok());
  absl::Status s = a.SendAll("x");  // SIGPIPE would kill the test
  EXPECT_FALSE(s.ok());
  EXPECT_FALSE(IsWouldBlock(s));
}

TEST(SocketTest, TcpListenConnectAccept) {
  auto listener = ListenTcp();
  ASSERT_TRUE(listener.ok()) << listener.status();
  EXPECT_TRUE(IsCloseOnExec(listener->fileno()));
  auto port = listener->LocalPort();
  ASSERT_TRUE(port.ok());
  EXPECT_GT(*port, 0);
  auto client = ConnectTcp("127.0.0.1", *port);
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_TRUE(IsCloseOnExec(client->fileno()));
  auto conn = listener->Accept(/*non_blocking=*/true);
  ASSERT_TRUE(conn.ok()) << conn.status();
  EXPECT_TRUE(IsCloseOnExec(conn->fileno()));
  EXPECT_TRUE(IsNonBlocking(conn->fileno()));
  ASSERT_TRUE(client->SendAll("ping").ok());
  ASSERT_TRUE(conn->SetNonBlocking(false).ok());
  auto got = conn->Recv(4);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, "ping");

  // Nothing pending: a non-blocking accept would block.
  ASSERT_TRUE(listener->SetNonBlocking().ok());
  auto none = listener->Accept();
  EXPECT_TRUE(IsWouldBlock(none.status())) << none.status();
}

TEST(SocketTest, Errors) {
  EXPECT_TRUE(absl::IsInvalidArgument(ListenTcp("not-an-ip", 0).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(ListenTcp("127.0.0.1", 70000).status()));
  // A port nobody listens on: find one by closing a listener.
  int port = 0;
  {
    auto l = ListenTcp();
    ASSERT_TRUE(l.ok());
    port = *l->LocalPort();
  }
  auto refused = ConnectTcp("127.0.0.1", port);
  ASSERT_FALSE(refused.ok());
  EXPECT_FALSE(IsWouldBlock(refused.status()));
  // Bind conflict.
  auto l1 = ListenTcp();
  ASSERT_TRUE(l1.ok());
  auto l2 = ListenTcp("127.0.0.1", *l1->LocalPort());
  EXPECT_FALSE(l2.ok());
  // Calls on a closed socket report EBADF instead of crashing.
  Socket closed;
  EXPECT_FALSE(closed.Send("x").ok());
  EXPECT_FALSE(closed.SetNonBlocking().ok());
}

}  // namespace
}  // namespace spindle::io
