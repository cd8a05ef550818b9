// Copyright 2026 The spindle Authors.
//
// TcpServer's server-wide memory budget (Options::memory_budget): many
// clients that pipeline requests and never read their replies cannot make
// the server hold more than the stated bound, a client that reads its
// replies is still served meanwhile, and everything drains when the hogs
// leave.

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
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

constexpr absl::Duration kBound = absl::Seconds(60);

using tcp_test::Client;
using tcp_test::ServerFixture;

// Runs `check` on the loop thread every millisecond of the loop's clock
// until Stop(); each run sees the server between two loop callbacks.
class LoopSampler {
 public:
  LoopSampler(EventLoop* loop, absl::AnyInvocable<void()> check)
      : state_(std::make_shared<State>()) {
    state_->loop = loop;
    state_->check = std::move(check);
    EXPECT_OK(loop->CallSoonThreadsafe([s = state_] { Tick(s); }));
  }
  ~LoopSampler() { Stop(); }
  // Waits for the sampler's last run to finish; no run starts after.
  void Stop() {
    if (state_ == nullptr) return;
    absl::Notification stopped;
    EXPECT_OK(state_->loop->CallSoonThreadsafe([&, s = state_] {
      s->stopped = true;
      stopped.Notify();
    }));
    EXPECT_TRUE(stopped.WaitForNotificationWithTimeout(kBound));
    state_ = nullptr;
  }

 private:
  struct State {
    EventLoop* loop;
    absl::AnyInvocable<void()> check;
    bool stopped = false;  // Loop thread only.
  };
  static void Tick(std::shared_ptr<State> s) {
    if (s->stopped) return;
    s->check();
    s->loop->CallLater(absl::Milliseconds(1), [s] { Tick(s); });
  }
  std::shared_ptr<State> state_;
};

// Waits (at most kBound) until `pred` holds on the loop thread.
bool AwaitOnLoop(ServerFixture& f, absl::AnyInvocable<bool()> pred) {
  absl::Notification done;
  LoopSampler sampler(&f.loop(), [&] {
    if (!done.HasBeenNotified() && pred()) done.Notify();
  });
  return done.WaitForNotificationWithTimeout(kBound);
}

// A client that pipelines requests and never reads: small socket buffers,
// so that the replies pile up at the server rather than in the kernel.
Socket HogConnect(int port) {
  Fd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  EXPECT_TRUE(fd.valid());
  int small = 4096;
  setsockopt(fd.fileno(), SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
  setsockopt(fd.fileno(), SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(connect(fd.fileno(), reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0)
      << errno;
  Socket s(std::move(fd));
  EXPECT_OK(s.SetNonBlocking());
  return s;
}

// Echoes each line back unchanged, on the loop thread: a reply takes
// exactly the bytes its request line took, so the bound below needs no
// allowance for replies longer than their requests.
TcpServer::Handler Echo() {
  return [](absl::string_view line, Responder& r) {
    r.Reply(std::string(line));
    return absl::OkStatus();
  };
}

TEST(TcpServerMemoryTest, NeverReadingClientsStayWithinTheBudget) {
  constexpr int kHogs = 500;
  constexpr size_t kBudget = 2 << 20;
  constexpr size_t kHogBytes = 128 << 10;  // Requests each hog sends.
  TcpServer::Options o;
  o.memory_budget = kBudget;
  o.max_line = 256;
  o.socket_send_buffer = 4096;  // Replies pile up here, not in the kernel.
  ServerFixture f(o, Echo());
  ASSERT_OK(f.start());

  // The bound of tcp_server.h: budget + open connections * (max_line + 2).
  const int64_t bound =
      static_cast<int64_t>(kBudget + (kHogs + 1) * (o.max_line + 2));
  std::atomic<int64_t> peak{0};
  LoopSampler peak_sampler(&f.loop(), [&] {
    const int64_t used = f.stats().memory_used.load();
    if (used > peak.load()) peak.store(used);
  });

  std::vector<Socket> hogs;
  for (int i = 0; i < kHogs; ++i) hogs.push_back(HogConnect(f.port()));
  const std::string line = std::string(199, 'h') + "\n";
  std::string requests;
  while (requests.size() < kHogBytes) requests += line;
  size_t sent = 0;
  for (Socket& hog : hogs) {
    // One non-blocking pass: what the kernel takes now.
    absl::string_view rest = requests;
    while (!rest.empty()) {
      auto n = hog.Send(rest);
      if (!n.ok()) break;
      rest.remove_prefix(*n);
      sent += *n;
    }
  }
  // The hogs' replies pile up until the budget stops the reading.
  ASSERT_TRUE(AwaitOnLoop(f,
                          [&] {
                            return f.stats().memory_paused.load() > 0 &&
                                   f.stats().memory_used.load() >=
                                       static_cast<int64_t>(kBudget);
                          }))
      << "sent " << sent << " bytes; memory_used "
      << f.stats().memory_used.load();

  // A client that reads its replies is served meanwhile.
  Client good(f.port());
  for (int i = 0; i < 50; ++i) {
    good.Send(absl::StrCat("good ", i, "\n"));
    ASSERT_EQ(good.ReadLine(), absl::StrCat("good ", i));
  }
  EXPECT_GE(f.stats().memory_paused.load(), 1);
  EXPECT_LE(f.stats().memory_used.load(), bound);

  // The hogs leave; what they held is released.
  hogs.clear();
  ASSERT_TRUE(AwaitOnLoop(f, [&] { return f.stats().connections == 1; }));
  good.Send("last\n");
  EXPECT_EQ(good.ReadLine(), "last");
  ASSERT_OK(good.sock().ShutdownWrite());
  EXPECT_EQ(good.ReadLine(), "<eof>");
  ASSERT_TRUE(AwaitOnLoop(f,
                          [&] {
                            return f.stats().connections == 0 &&
                                   f.stats().memory_used == 0 &&
                                   f.stats().input_buffered == 0 &&
                                   f.stats().output_buffered == 0 &&
                                   f.stats().memory_paused == 0;
                          }))
      << "memory_used " << f.stats().memory_used.load();
  peak_sampler.Stop();
  ::testing::Test::RecordProperty("peak_memory_used",
                                  absl::StrCat(peak.load()));
  ::testing::Test::RecordProperty("bound", absl::StrCat(bound));
  ::testing::Test::RecordProperty("sent", absl::StrCat(sent));
  EXPECT_GE(peak.load(), static_cast<int64_t>(kBudget));
  EXPECT_LE(peak.load(), bound) << "sent " << sent << " bytes";
  f.StopLoop();
}

TEST(TcpServerMemoryTest, PausedConnectionResumesWhenMemoryIsReleased) {
  // One hog fills the budget; once it reads its replies, its reading
  // resumes and every request is answered: nothing accepted is dropped.
  constexpr size_t kBudget = 64 << 10;
  TcpServer::Options o;
  o.memory_budget = kBudget;
  o.max_line = 128;
  o.socket_send_buffer = 4096;
  ServerFixture f(o, Echo());
  ASSERT_OK(f.start());
  Socket hog = HogConnect(f.port());
  const std::string line = std::string(99, 'r') + "\n";
  constexpr int kLines = 5000;  // 500 KB: far more than the budget.
  std::string requests;
  for (int i = 0; i < kLines; ++i) requests += line;
  absl::string_view rest = requests;
  while (!rest.empty()) {
    auto n = hog.Send(rest);
    if (!n.ok()) break;
    rest.remove_prefix(*n);
  }
  ASSERT_FALSE(rest.empty()) << "the server took everything";
  ASSERT_TRUE(AwaitOnLoop(f, [&] { return f.stats().memory_paused == 1; }));
  EXPECT_LE(f.stats().memory_used.load(),
            static_cast<int64_t>(kBudget + o.max_line + 2));
  // Now read everything, sending the rest as it fits.
  size_t received = 0;
  std::string buf(64 << 10, '\0');
  const absl::Time deadline = absl::Now() + kBound;
  while (received < requests.size() && absl::Now() < deadline) {
    if (!rest.empty()) {
      auto n = hog.Send(rest);
      if (n.ok()) rest.remove_prefix(*n);
    }
    auto got = hog.Recv(buf.data(), buf.size());
    if (got.ok()) {
      ASSERT_GT(*got, 0u) << "closed after " << received << " bytes";
      EXPECT_EQ(absl::string_view(buf.data(), *got),
                absl::string_view(requests).substr(received, *got));
      received += *got;
      continue;
    }
    ASSERT_TRUE(IsWouldBlock(got.status())) << got.status();
    pollfd p{hog.fileno(),
             static_cast<short>(POLLIN | (rest.empty() ? 0 : POLLOUT)), 0};
    poll(&p, 1, 1000);  // Bounded by `deadline` above.
  }
  EXPECT_EQ(received, requests.size());
  EXPECT_EQ(f.stats().requests.load(), kLines);
  f.StopLoop();
}

}  // namespace
}  // namespace spindle::io
