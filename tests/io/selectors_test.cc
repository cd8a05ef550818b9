// Copyright 2026 The spindle Authors.
//
// The selector contract, as CPython's test_selectors.py states it (checklist
// section O, item numbers in the comments), run against every backend:
// EpollSelector, PollSelector, SelectSelector and DefaultSelector(). Tests of
// one backend's specifics (epoll's regular-file refusal, edge-triggered and
// one-shot modes, stale interests; select's FD_SETSIZE limit) follow the
// typed suite.

#include "spindle/io/selectors.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <any>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "spindle/concurrency/status.h"
#include "spindle/io/epoll_selector.h"
#include "spindle/io/poll_selector.h"
#include "spindle/io/select_selector.h"
#include "spindle/io/socket.h"
#include "tests/test_util.h"

namespace spindle::io {
namespace {

using test_util::CountOpenFds;
using test_util::kBound;

// --- backends ---------------------------------------------------------------

template <typename Data>
using SelectorPtr = std::unique_ptr<Selector<Data>>;

struct EpollBackend {
  static constexpr const char* kName = "epoll";
  static constexpr bool kScalable = true;
  template <typename Data = std::any>
  static absl::StatusOr<SelectorPtr<Data>> Make() {
    auto s = EpollSelector<Data>::Create();
    if (!s.ok()) return s.status();
    return SelectorPtr<Data>(*std::move(s));
  }
};

struct PollBackend {
  static constexpr const char* kName = "poll";
  static constexpr bool kScalable = true;
  template <typename Data = std::any>
  static absl::StatusOr<SelectorPtr<Data>> Make() {
    auto s = PollSelector<Data>::Create();
    if (!s.ok()) return s.status();
    return SelectorPtr<Data>(*std::move(s));
  }
};

struct SelectBackend {
  static constexpr const char* kName = "select";
  static constexpr bool kScalable = false;
  template <typename Data = std::any>
  static absl::StatusOr<SelectorPtr<Data>> Make() {
    auto s = SelectSelector<Data>::Create();
    if (!s.ok()) return s.status();
    return SelectorPtr<Data>(*std::move(s));
  }
};

struct DefaultBackend {
  static constexpr const char* kName = "epoll";  // on Linux
  static constexpr bool kScalable = true;
  template <typename Data = std::any>
  static absl::StatusOr<SelectorPtr<Data>> Make() {
    return DefaultSelector<Data>();
  }
};

class BackendNames {
 public:
  template <typename T>
  static std::string GetName(int) {
    if (std::is_same_v<T, EpollBackend>) return "Epoll";
    if (std::is_same_v<T, PollBackend>) return "Poll";
    if (std::is_same_v<T, SelectBackend>) return "Select";
    return "Default";
  }
};

// --- helpers ----------------------------------------------------------------

std::pair<Socket, Socket> Pair() {
  absl::StatusOr<std::pair<Socket, Socket>> p = SocketPair();
  ABSL_RAW_CHECK(p.ok(), "socketpair failed");
  return *std::move(p);
}

// Raises the soft RLIMIT_NOFILE towards `want`; returns the new soft limit.
rlim_t RaiseFdLimit(rlim_t want) {
  rlimit lim;
  getrlimit(RLIMIT_NOFILE, &lim);
  if (lim.rlim_cur < want) {
    lim.rlim_cur = std::min(want, lim.rlim_max);
    setrlimit(RLIMIT_NOFILE, &lim);
    getrlimit(RLIMIT_NOFILE, &lim);
  }
  return lim.rlim_cur;
}

// Fills the socket's send buffer so that it is no longer writable.
void FillSendBuffer(Socket& s) {
  ASSERT_OK(s.SetNonBlocking());
  const std::string chunk(64 * 1024, 'x');
  for (;;) {
    absl::StatusOr<size_t> n = s.Send(chunk);
    if (!n.ok()) {
      ASSERT_TRUE(IsWouldBlock(n.status())) << n.status();
      return;
    }
  }
}

template <typename Data>
std::vector<std::pair<int, int>> FdsAndMasks(
    absl::Span<const ReadyEvent<Data>> ready) {
  std::vector<std::pair<int, int>> out;
  for (const auto& [key, mask] : ready) out.emplace_back(key->fd, mask);
  std::sort(out.begin(), out.end());
  return out;
}

using FdMasks = std::vector<std::pair<int, int>>;

// --- the typed suite
// ----------------------------------------------------------

template <typename Backend>
class SelectorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<SelectorPtr<std::any>> s = Backend::Make();
    ASSERT_TRUE(s.ok()) << s.status();
    sel_ = *std::move(s);
  }

  // Select that must succeed.
  FdMasks SelectOk(std::optional<absl::Duration> timeout) {
    absl::StatusOr<absl::Span<const ReadyEvent<std::any>>> r =
        sel_->Select(timeout);
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return {};
    return FdsAndMasks<std::any>(*r);
  }

  SelectorPtr<std::any> sel_;
};

using Backends =
    ::testing::Types<EpollBackend, PollBackend, SelectBackend, DefaultBackend>;
TYPED_TEST_SUITE(SelectorTest, Backends, BackendNames);

TYPED_TEST(SelectorTest, BackendName) {
  EXPECT_EQ(this->sel_->backend(), TypeParam::kName);
}

// 239: register returns a key with fileobj, fd, events and data.
TYPED_TEST(SelectorTest, RegisterReturnsKey) {
  auto [rd, wr] = Pair();
  auto key = this->sel_->Register(rd, kEventRead, std::string("data"));
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ((*key)->fd, rd.fileno());
  EXPECT_EQ((*key)->fileobj.fd(), rd.fileno());
  EXPECT_EQ((*key)->fileobj.identity(), &rd);
  EXPECT_EQ((*key)->events, kEventRead);
  EXPECT_EQ(std::any_cast<std::string>((*key)->data), "data");

  // A raw fd is a file object too; data defaults to an empty std::any.
  auto raw = this->sel_->Register(wr.fileno(), kEventWrite);
  ASSERT_TRUE(raw.ok()) << raw.status();
  EXPECT_EQ((*raw)->fd, wr.fileno());
  EXPECT_EQ((*raw)->fileobj.identity(), nullptr);
  EXPECT_FALSE((*raw)->data.has_value());
}

// 240, 275: events 0 or with unknown bits are refused, nothing registered.
TYPED_TEST(SelectorTest, RegisterRejectsBadEvents) {
  auto [rd, wr] = Pair();
  for (int events : {0, 999999, kEventRead | 4, -1}) {
    auto key = this->sel_->Register(rd, events);
    EXPECT_TRUE(absl::IsInvalidArgument(key.status()))
        << events << ": " << key.status();
  }
  EXPECT_TRUE(this->sel_->GetMap().empty());
}

// 241, 275: a negative fd, or one that is not open, is an invalid file object.
TYPED_TEST(SelectorTest, RegisterRejectsInvalidFd) {
  EXPECT_TRUE(
      absl::IsInvalidArgument(this->sel_->Register(-10, kEventRead).status()));
  Socket closed;  // fileno() == -1
  EXPECT_TRUE(absl::IsInvalidArgument(
      this->sel_->Register(closed, kEventRead).status()));
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  close(fds[0]);
  close(fds[1]);
  EXPECT_TRUE(absl::IsInvalidArgument(
      this->sel_->Register(fds[0], kEventRead).status()));
  EXPECT_TRUE(this->sel_->GetMap().empty());
}

// 242, 243: registrations are keyed by fd, through any object.
TYPED_TEST(SelectorTest, RegisterTwiceIsAlreadyExists) {
  auto [rd, wr] = Pair();
  ASSERT_TRUE(this->sel_->Register(rd, kEventRead).ok());
  EXPECT_TRUE(
      absl::IsAlreadyExists(this->sel_->Register(rd, kEventRead).status()));
  EXPECT_TRUE(absl::IsAlreadyExists(
      this->sel_->Register(rd.fileno(), kEventWrite).status()));
  EXPECT_EQ(this->sel_->GetMap().size(), 1u);
}

// 244: unregister; unknown and twice-unregistered objects are kNotFound.
TYPED_TEST(SelectorTest, Unregister) {
  auto [rd, wr] = Pair();
  ASSERT_TRUE(this->sel_->Register(rd, kEventRead).ok());
  EXPECT_OK(this->sel_->Unregister(rd));
  EXPECT_TRUE(this->sel_->GetMap().empty());
  EXPECT_TRUE(absl::IsNotFound(this->sel_->Unregister(rd)));
  EXPECT_TRUE(absl::IsNotFound(this->sel_->Unregister(999999)));
  // Unregistered fds are not reported.
  ASSERT_OK(wr.SendAll("x"));
  EXPECT_TRUE(this->SelectOk(absl::ZeroDuration()).empty());
}

// 245: unregister by int fd after the fd was closed.
TYPED_TEST(SelectorTest, UnregisterAfterFdClose) {
  auto [rd, wr] = Pair();
  const int r = rd.fileno();
  const int w = wr.fileno();
  ASSERT_TRUE(this->sel_->Register(r, kEventRead).ok());
  ASSERT_TRUE(this->sel_->Register(w, kEventWrite).ok());
  ASSERT_OK(rd.Close());
  ASSERT_OK(wr.Close());
  EXPECT_OK(this->sel_->Unregister(r));
  EXPECT_OK(this->sel_->Unregister(w));
  EXPECT_TRUE(this->sel_->GetMap().empty());
  EXPECT_TRUE(this->SelectOk(absl::ZeroDuration()).empty());
}

// 246: unregister after the fd was closed and its number reused (dup2), and
// the new file behind that number is not left watched: it is reported only
// once registered, for what it is registered for.
TYPED_TEST(SelectorTest, UnregisterAfterFdCloseAndReuse) {
  auto [rd, wr] = Pair();
  const int r = rd.fileno();
  const int w = wr.fileno();
  ASSERT_TRUE(this->sel_->Register(r, kEventRead).ok());
  ASSERT_TRUE(this->sel_->Register(w, kEventWrite).ok());
  auto [rd2, wr2] = Pair();
  ASSERT_OK(rd.Close());
  ASSERT_OK(wr.Close());
  ASSERT_EQ(dup2(rd2.fileno(), r), r);
  ASSERT_EQ(dup2(wr2.fileno(), w), w);
  Fd reused_r(r), reused_w(w);  // closes them at the end
  EXPECT_OK(this->sel_->Unregister(r));
  EXPECT_OK(this->sel_->Unregister(w));
  EXPECT_TRUE(this->sel_->GetMap().empty());

  // Readable and writable now, yet nothing is watched.
  ASSERT_OK(wr2.SendAll("x"));
  EXPECT_TRUE(this->SelectOk(absl::ZeroDuration()).empty());

  // The number can be registered again and behaves as a fresh registration.
  ASSERT_TRUE(this->sel_->Register(r, kEventRead).ok());
  EXPECT_EQ(this->SelectOk(absl::ZeroDuration()), (FdMasks{{r, kEventRead}}));
  EXPECT_OK(this->sel_->Unregister(r));
}

// 247: unregister a closed socket object (fileno() now -1) by identity.
TYPED_TEST(SelectorTest, UnregisterAfterSocketClose) {
  auto [rd, wr] = Pair();
  ASSERT_TRUE(this->sel_->Register(rd, kEventRead).ok());
  ASSERT_TRUE(this->sel_->Register(wr, kEventWrite).ok());
  ASSERT_OK(rd.Close());
  ASSERT_OK(wr.Close());
  ASSERT_EQ(rd.fileno(), -1);
  EXPECT_OK(this->sel_->Unregister(rd));
  EXPECT_OK(this->sel_->Unregister(wr));
  EXPECT_TRUE(this->sel_->GetMap().empty());
  // A closed object never registered is still unknown.
  Socket other;
  EXPECT_TRUE(absl::IsNotFound(this->sel_->Unregister(other)));
}

// 248, 250, 276: modify with changed events; unknown objects.
TYPED_TEST(SelectorTest, ModifyEvents) {
  auto [rd, wr] = Pair();
  auto key = this->sel_->Register(rd, kEventRead, 1);
  ASSERT_TRUE(key.ok());
  auto modified = this->sel_->Modify(rd, kEventWrite, 2);
  ASSERT_TRUE(modified.ok()) << modified.status();
  EXPECT_EQ((*modified)->events, kEventWrite);
  EXPECT_EQ(std::any_cast<int>((*modified)->data), 2);
  EXPECT_EQ(*this->sel_->GetKey(rd), *modified);
  // The kernel interest changed too: writable, not readable.
  ASSERT_OK(wr.SendAll("x"));
  EXPECT_EQ(this->SelectOk(absl::ZeroDuration()),
            (FdMasks{{rd.fileno(), kEventWrite}}));

  EXPECT_TRUE(absl::IsNotFound(this->sel_->Modify(wr, kEventRead).status()));
  EXPECT_TRUE(
      absl::IsNotFound(this->sel_->Modify(999999, kEventRead).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(this->sel_->Modify(rd, 0).status()));
}

// 249, 251: same events, new data: the key carries the data, and no system
// call is made. Proof of the latter: the fd is closed first, so any kernel
// call on it (epoll_ctl) would fail with EBADF.
TYPED_TEST(SelectorTest, ModifyDataOnlyMakesNoSystemCall) {
  auto [rd, wr] = Pair();
  const int r = rd.fileno();
  ASSERT_TRUE(this->sel_->Register(r, kEventRead, std::string("a")).ok());
  ASSERT_OK(rd.Close());
  auto modified = this->sel_->Modify(r, kEventRead, std::string("b"));
  ASSERT_TRUE(modified.ok()) << modified.status();
  EXPECT_EQ(std::any_cast<std::string>((*modified)->data), "b");
  EXPECT_EQ((*modified)->events, kEventRead);
  EXPECT_EQ(*this->sel_->GetKey(r), *modified);
  EXPECT_OK(this->sel_->Unregister(r));
}

// 253, 258, 273: after Close every call is kFailedPrecondition, an earlier
// GetMap() view is empty, Close is idempotent.
TYPED_TEST(SelectorTest, Close) {
  auto [rd, wr] = Pair();
  ASSERT_TRUE(this->sel_->Register(rd, kEventRead).ok());
  const SelectorMap<std::any>& map = this->sel_->GetMap();
  ASSERT_EQ(map.size(), 1u);
  this->sel_->Close();
  EXPECT_TRUE(this->sel_->closed());
  EXPECT_TRUE(map.empty());
  EXPECT_EQ(map.Get(rd.fileno()), nullptr);
  EXPECT_TRUE(absl::IsNotFound(map.At(rd.fileno()).status()));
  EXPECT_TRUE(IsShutDown(this->sel_->GetKey(rd).status()));
  EXPECT_TRUE(IsShutDown(this->sel_->Register(wr, kEventRead).status()));
  EXPECT_TRUE(IsShutDown(this->sel_->Unregister(rd)));
  EXPECT_TRUE(IsShutDown(this->sel_->Modify(rd, kEventWrite).status()));
  EXPECT_TRUE(IsShutDown(this->sel_->Select(absl::ZeroDuration()).status()));
  EXPECT_TRUE(IsShutDown(this->sel_->Wakeup()));
  this->sel_->Close();  // again
  EXPECT_TRUE(this->sel_->GetMap().empty());
}

// 254: get_key.
TYPED_TEST(SelectorTest, GetKey) {
  auto [rd, wr] = Pair();
  auto key = this->sel_->Register(rd, kEventRead);
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(*this->sel_->GetKey(rd), *key);
  EXPECT_EQ(*this->sel_->GetKey(rd.fileno()), *key);
  EXPECT_TRUE(absl::IsNotFound(this->sel_->GetKey(wr).status()));
}

// 255: the map is a live, read-only fd -> key view.
TYPED_TEST(SelectorTest, GetMap) {
  auto [rd, wr] = Pair();
  const SelectorMap<std::any>& map = this->sel_->GetMap();
  EXPECT_TRUE(map.empty());
  EXPECT_EQ(map.size(), 0u);
  EXPECT_EQ(map.begin(), map.end());
  EXPECT_EQ(map.Get(rd.fileno()), nullptr);

  auto key = this->sel_->Register(rd, kEventRead);
  ASSERT_TRUE(key.ok());
  EXPECT_TRUE(map.contains(rd.fileno()));
  EXPECT_EQ(map.Get(rd.fileno()), *key);
  EXPECT_EQ(*map.At(rd.fileno()), *key);
  EXPECT_EQ(map.size(), 1u);
  std::vector<int> fds;
  for (const SelectorKey<std::any>& k : map) fds.push_back(k.fd);
  EXPECT_EQ(fds, std::vector<int>{rd.fileno()});
  EXPECT_TRUE(absl::IsNotFound(map.At(wr.fileno()).status()));

  // Live: shows later registrations.
  ASSERT_TRUE(this->sel_->Register(wr, kEventWrite).ok());
  EXPECT_EQ(map.size(), 2u);
  static_assert(
      !std::is_assignable_v<decltype(*map.begin()), SelectorKey<std::any>>,
      "the map is read-only");
}

// 256: only the registered, ready events are reported.
TYPED_TEST(SelectorTest, SelectReportsReadyRegisteredEvents) {
  auto [rd, wr] = Pair();
  auto wr_key = this->sel_->Register(wr, kEventWrite);
  ASSERT_TRUE(wr_key.ok());
  ASSERT_TRUE(this->sel_->Register(rd, kEventRead).ok());
  auto ready = this->sel_->Select(absl::ZeroDuration());
  ASSERT_TRUE(ready.ok()) << ready.status();
  ASSERT_EQ(ready->size(), 1u);
  EXPECT_EQ((*ready)[0].key, *wr_key);
  EXPECT_EQ((*ready)[0].events, kEventWrite);
}

// 257: an fd registered for both and ready for both: one entry, both bits.
TYPED_TEST(SelectorTest, SelectReportsReadAndWriteTogether) {
  auto [a, b] = Pair();
  ASSERT_TRUE(this->sel_->Register(a, kEventRead | kEventWrite).ok());
  ASSERT_OK(b.SendAll("x"));
  EXPECT_EQ(this->SelectOk(absl::ZeroDuration()),
            (FdMasks{{a.fileno(), kEventRead | kEventWrite}}));
}

// 260: end to end over 12 socket pairs: each write makes exactly the
// matching reader ready, data arrives intact.
TYPED_TEST(SelectorTest, EndToEnd) {
  std::vector<std::pair<Socket, Socket>> pairs;
  for (int i = 0; i < 12; ++i) {
    pairs.push_back(Pair());
    ASSERT_TRUE(this->sel_->Register(pairs.back().first, kEventRead, i).ok());
  }
  unsigned seed = 42;
  std::vector<int> order;
  for (int i = 0; i < 12; ++i) order.push_back(i);
  for (int i = 11; i > 0; --i)
    std::swap(order[i], order[rand_r(&seed) % (i + 1)]);
  for (int i : order) {
    const std::string msg = "message " + std::to_string(i);
    ASSERT_OK(pairs[i].second.SendAll(msg));
    auto ready = this->sel_->Select(kBound);
    ASSERT_TRUE(ready.ok()) << ready.status();
    ASSERT_EQ(ready->size(), 1u);
    const SelectorKey<std::any>* key = (*ready)[0].key;
    EXPECT_EQ(std::any_cast<int>(key->data), i);
    EXPECT_EQ((*ready)[0].events, kEventRead);
    auto got = pairs[i].first.Recv(100);
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(*got, msg);
    ASSERT_OK(this->sel_->Unregister(pairs[i].first));
  }
  EXPECT_TRUE(this->sel_->GetMap().empty());
}

// 261: select(0) with nothing registered.
TYPED_TEST(SelectorTest, EmptySelect) {
  EXPECT_TRUE(this->SelectOk(absl::ZeroDuration()).empty());
}

// 262: zero and negative timeouts poll without blocking.
TYPED_TEST(SelectorTest, ZeroAndNegativeTimeoutsDoNotBlock) {
  auto [rd, wr] = Pair();
  ASSERT_TRUE(this->sel_->Register(wr, kEventWrite).ok());
  const absl::Time start = absl::Now();
  EXPECT_EQ(this->SelectOk(absl::ZeroDuration()).size(), 1u);
  EXPECT_EQ(this->SelectOk(absl::Seconds(-1)).size(), 1u);
  ASSERT_OK(this->sel_->Unregister(wr));
  ASSERT_TRUE(this->sel_->Register(rd, kEventRead).ok());
  EXPECT_TRUE(this->SelectOk(absl::ZeroDuration()).empty());
  EXPECT_TRUE(this->SelectOk(absl::Seconds(-1)).empty());
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

// 263, 272: a short timeout with nothing ready. The wait is the point of
// the test: it must last at least the timeout (sub-millisecond timeouts are
// rounded up, never down to a spin) and end well before the bound.
TYPED_TEST(SelectorTest, TimeoutWaitsAtLeastTheTimeout) {
  auto [rd, wr] = Pair();
  ASSERT_TRUE(this->sel_->Register(rd, kEventRead).ok());
  for (absl::Duration timeout :
       {absl::Microseconds(300), absl::Milliseconds(20),
        absl::Milliseconds(150)}) {
    const absl::Time start = absl::Now();
    EXPECT_TRUE(this->SelectOk(timeout).empty());
    const absl::Duration waited = absl::Now() - start;
    EXPECT_GE(waited, timeout);
    EXPECT_LT(waited, timeout + absl::Seconds(10));
  }
}

// Wakeup() from another thread releases a Select blocked without a limit
// (here: a bounded one, so a bug fails instead of hanging).
TYPED_TEST(SelectorTest, WakeupReleasesBlockedSelect) {
  auto [rd, wr] = Pair();
  ASSERT_TRUE(this->sel_->Register(rd, kEventRead).ok());
  absl::Notification selecting;
  absl::Notification returned;
  absl::Status status;
  size_t count = 99;
  absl::Duration waited;
  std::thread selector_thread([&] {
    selecting.Notify();
    const absl::Time start = absl::Now();
    auto r = this->sel_->Select(kBound);
    waited = absl::Now() - start;
    status = r.status();
    if (r.ok()) count = r->size();
    returned.Notify();
  });
  ASSERT_TRUE(selecting.WaitForNotificationWithTimeout(kBound));
  // Whether this lands before or during the Select, it must release it.
  ASSERT_OK(this->sel_->Wakeup());
  ASSERT_TRUE(returned.WaitForNotificationWithTimeout(kBound));
  selector_thread.join();
  EXPECT_OK(status);
  EXPECT_EQ(count, 0u);  // the wake-up fd is never reported
  EXPECT_LT(waited, kBound / 2);
  EXPECT_EQ(this->sel_->GetMap().size(), 1u);
}

// The other ordering: a Wakeup before Select is not lost, and several
// coalesce into one early return.
TYPED_TEST(SelectorTest, WakeupBeforeSelectIsNotLost) {
  ASSERT_OK(this->sel_->Wakeup());
  ASSERT_OK(this->sel_->Wakeup());
  const absl::Time start = absl::Now();
  EXPECT_TRUE(this->SelectOk(kBound).empty());
  EXPECT_LT(absl::Now() - start, kBound / 2);
  // Consumed: the next select waits for its (short) timeout again.
  const absl::Time again = absl::Now();
  EXPECT_TRUE(this->SelectOk(absl::Milliseconds(50)).empty());
  EXPECT_GE(absl::Now() - again, absl::Milliseconds(50));
}

// A peer's write releases a blocked Select with the reader's key.
TYPED_TEST(SelectorTest, PeerWriteReleasesBlockedSelect) {
  auto [rd, wr] = Pair();
  ASSERT_TRUE(this->sel_->Register(rd, kEventRead).ok());
  absl::Notification selecting;
  FdMasks result;
  absl::Status status;
  std::thread selector_thread([&] {
    selecting.Notify();
    auto r = this->sel_->Select(kBound);
    status = r.status();
    if (r.ok()) result = FdsAndMasks<std::any>(*r);
  });
  ASSERT_TRUE(selecting.WaitForNotificationWithTimeout(kBound));
  ASSERT_OK(wr.SendAll("ping"));
  selector_thread.join();  // bounded by kBound inside the thread
  EXPECT_OK(status);
  EXPECT_EQ(result, (FdMasks{{rd.fileno(), kEventRead}}));
}

// 270: a peer's hang-up is reported, masked by the registered events: READ
// for a read registration, WRITE for a write one.
TYPED_TEST(SelectorTest, HangUpIsReportedAsRegisteredEvents) {
  auto [a, peer_a] = Pair();
  auto [b, peer_b] = Pair();
  ASSERT_TRUE(this->sel_->Register(a, kEventRead).ok());
  FillSendBuffer(b);  // not writable until something happens
  ASSERT_TRUE(this->sel_->Register(b, kEventWrite).ok());
  EXPECT_TRUE(this->SelectOk(absl::ZeroDuration()).empty());
  ASSERT_OK(peer_a.Close());
  ASSERT_OK(peer_b.Close());
  EXPECT_EQ(this->SelectOk(kBound),
            (FdMasks{{a.fileno(), kEventRead}, {b.fileno(), kEventWrite}}));
  // The reader sees end of stream.
  auto got = a.Recv(10);
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(got->empty());
}

// 271: a registered fd closed without unregistering, per backend.
TYPED_TEST(SelectorTest, ClosedButRegisteredFd) {
  auto [rd, wr] = Pair();
  const int r = rd.fileno();
  ASSERT_TRUE(this->sel_->Register(r, kEventRead).ok());
  ASSERT_OK(rd.Close());
  auto ready = this->sel_->Select(absl::ZeroDuration());
  const std::string backend(this->sel_->backend());
  if (backend == "select") {
    EXPECT_FALSE(ready.ok());  // EBADF
  } else if (backend == "poll") {
    ASSERT_TRUE(ready.ok()) << ready.status();
    EXPECT_EQ(FdsAndMasks<std::any>(*ready), (FdMasks{{r, kEventRead}}));
  } else {
    ASSERT_TRUE(ready.ok()) << ready.status();
    EXPECT_TRUE(ready->empty());
  }
  EXPECT_OK(this->sel_->Unregister(r));
  EXPECT_TRUE(this->SelectOk(absl::ZeroDuration()).empty());
}

// 266: more than FD_SETSIZE fds (>= 2000 registered) for scalable backends;
// select() returns exactly the writers.
TYPED_TEST(SelectorTest, ManyFds) {
  if (!TypeParam::kScalable) {
    GTEST_SKIP() << "SelectSelector is limited to FD_SETSIZE (see "
                    "SelectSelectorTest.RefusesFdAboveFdSetSize)";
  }
  constexpr int kPairs = 1100;  // 2200 registered fds
  const rlim_t limit = RaiseFdLimit(2 * kPairs + 256);
  ASSERT_GE(limit, static_cast<rlim_t>(2 * kPairs + 64))
      << "RLIMIT_NOFILE hard limit too low for this test";
  std::vector<std::pair<Socket, Socket>> pairs;
  pairs.reserve(kPairs);
  for (int i = 0; i < kPairs; ++i) {
    pairs.push_back(Pair());
    ASSERT_TRUE(this->sel_->Register(pairs.back().first, kEventRead).ok());
    ASSERT_TRUE(this->sel_->Register(pairs.back().second, kEventWrite).ok());
  }
  EXPECT_GT(pairs.back().second.fileno(), FD_SETSIZE);
  EXPECT_EQ(this->sel_->GetMap().size(), 2u * kPairs);
  FdMasks ready = this->SelectOk(kBound);
  ASSERT_EQ(ready.size(), static_cast<size_t>(kPairs));
  for (const auto& [fd, mask] : ready) EXPECT_EQ(mask, kEventWrite);
  // And all readers, once written to.
  for (auto& [rd, wr] : pairs) ASSERT_OK(wr.SendAll("x"));
  ready = this->SelectOk(kBound);
  EXPECT_EQ(ready.size(), 2u * kPairs);
}

// --- signals (265)
// ------------------------------------------------------------

std::atomic<int> g_signals{0};
void CountSignal(int) { g_signals.fetch_add(1, std::memory_order_relaxed); }

// Installs CountSignal for SIGUSR1 WITHOUT SA_RESTART, so the kernel fails
// the interrupted wait with EINTR. Installed once and kept: restoring the
// default (fatal) action could race with a signal still in flight.
class ScopedSignalHandler {
 public:
  ScopedSignalHandler() {
    static const bool installed = [] {
      struct sigaction sa = {};
      sa.sa_handler = &CountSignal;
      sigemptyset(&sa.sa_mask);
      sa.sa_flags = 0;  // no SA_RESTART
      return sigaction(SIGUSR1, &sa, nullptr) == 0;
    }();
    ABSL_RAW_CHECK(installed, "sigaction(SIGUSR1)");
  }
};

// Sends SIGUSR1 to `target` every 2 ms until stopped; the pacing sleep is the
// point (a stream of interruptions throughout the wait).
class SignalHammer {
 public:
  explicit SignalHammer(pthread_t target)
      : thread_([this, target] {
          while (!stop_.HasBeenNotified()) {
            pthread_kill(target, SIGUSR1);
            absl::SleepFor(absl::Milliseconds(2));
          }
        }) {}
  ~SignalHammer() {
    stop_.Notify();
    thread_.join();
  }

 private:
  absl::Notification stop_;
  std::thread thread_;
};

// 265: EINTR neither surfaces nor shortens the wait (PEP 475).
TYPED_TEST(SelectorTest, SignalDoesNotInterruptTimedSelect) {
  ScopedSignalHandler handler;
  auto [rd, wr] = Pair();
  ASSERT_TRUE(this->sel_->Register(rd, kEventRead).ok());
  const int before = g_signals.load();
  const absl::Duration timeout = absl::Milliseconds(300);
  absl::Duration waited;
  absl::StatusOr<absl::Span<const ReadyEvent<std::any>>> ready;
  {
    SignalHammer hammer(pthread_self());
    // The timeout is the point: it must be honoured despite the signals.
    const absl::Time start = absl::Now();
    ready = this->sel_->Select(timeout);
    waited = absl::Now() - start;
  }
  ASSERT_TRUE(ready.ok()) << ready.status();
  EXPECT_TRUE(ready->empty());
  EXPECT_GE(waited, timeout);
  EXPECT_LT(waited, timeout + absl::Seconds(10));
  EXPECT_GT(g_signals.load(), before) << "no signal was delivered";
}

// EINTR during a blocking select: readiness is still reported, no error.
TYPED_TEST(SelectorTest, SignalDoesNotInterruptBlockingSelect) {
  ScopedSignalHandler handler;
  auto pair = Pair();
  Socket& rd = pair.first;
  Socket& wr = pair.second;
  ASSERT_TRUE(this->sel_->Register(rd, kEventRead).ok());
  const int before = g_signals.load();
  absl::StatusOr<absl::Span<const ReadyEvent<std::any>>> ready;
  {
    SignalHammer hammer(pthread_self());
    std::thread writer([&] {
      // Write only after the selecting thread has taken a few signals.
      while (g_signals.load() < before + 20)
        absl::SleepFor(absl::Milliseconds(1));
      ASSERT_OK(wr.SendAll("x"));
    });
    ready = this->sel_->Select(kBound);
    writer.join();
  }
  ASSERT_TRUE(ready.ok()) << ready.status();
  EXPECT_EQ(FdsAndMasks<std::any>(*ready),
            (FdMasks{{rd.fileno(), kEventRead}}));
}

std::atomic<Selector<std::any>*> g_wake_target{nullptr};
volatile sig_atomic_t g_interrupted = 0;
void InterruptAndWake(int) {
  g_interrupted = 1;
  if (Selector<std::any>* sel = g_wake_target.load()) (void)sel->Wakeup();
}

// 264: how a user's interrupt surfaces, since EINTR is retried: the signal
// handler sets its flag and calls the async-signal-safe Wakeup(), so Select
// returns at once and the loop sees the flag. Either ordering (signal before
// or during the Select) releases it.
TYPED_TEST(SelectorTest, SignalHandlerCanWakeSelect) {
  struct sigaction sa = {};
  sa.sa_handler = &InterruptAndWake;
  sigemptyset(&sa.sa_mask);
  ASSERT_EQ(sigaction(SIGUSR2, &sa, nullptr), 0);  // kept installed: see above
  auto [rd, wr] = Pair();
  ASSERT_TRUE(this->sel_->Register(rd, kEventRead).ok());
  g_interrupted = 0;
  g_wake_target.store(this->sel_.get());
  const pthread_t self = pthread_self();
  std::thread sender([self] { pthread_kill(self, SIGUSR2); });
  const absl::Time start = absl::Now();
  auto ready = this->sel_->Select(kBound);
  const absl::Duration waited = absl::Now() - start;
  sender.join();
  g_wake_target.store(nullptr);
  ASSERT_TRUE(ready.ok()) << ready.status();
  EXPECT_TRUE(ready->empty());
  EXPECT_EQ(g_interrupted, 1);
  EXPECT_LT(waited, kBound / 2);
}

std::atomic<Selector<std::any>*> g_closing_target{nullptr};
std::atomic<int> g_wakeups_open{0};
std::atomic<int> g_wakeups_closed{0};
void WakeClosingSelector(int) {
  if (Selector<std::any>* sel = g_closing_target.load()) {
    const absl::Status s = sel->Wakeup();
    (s.ok() ? g_wakeups_open : g_wakeups_closed).fetch_add(1);
  }
}

// Wakeup() stays async-signal-safe after Close() and while Close() runs on
// the thread it interrupts: a no-op that reports kFailedPrecondition without
// allocating (every call returns the same shared status; under TSan, an
// allocation in the handler is reported as a signal-unsafe call).
TYPED_TEST(SelectorTest, WakeupDuringAndAfterCloseIsSignalSafe) {
  struct sigaction sa = {};
  sa.sa_handler = &WakeClosingSelector;
  sigemptyset(&sa.sa_mask);
  ASSERT_EQ(sigaction(SIGUSR2, &sa, nullptr), 0);  // kept installed: see above
  auto [rd, wr] = Pair();
  ASSERT_TRUE(this->sel_->Register(rd, kEventRead).ok());
  g_wakeups_open = 0;
  g_wakeups_closed = 0;
  g_closing_target.store(this->sel_.get());
  const pthread_t self = pthread_self();
  absl::Notification stop;
  // Signals this thread until told to stop, before, during and after Close.
  std::thread sender([self, &stop] {
    while (!stop.HasBeenNotified()) {
      pthread_kill(self, SIGUSR2);
      std::this_thread::yield();
    }
  });
  EXPECT_TRUE(test_util::Eventually([] { return g_wakeups_open >= 10; }));
  this->sel_->Close();
  EXPECT_TRUE(test_util::Eventually([] { return g_wakeups_closed >= 10; }));
  stop.Notify();
  sender.join();
  g_closing_target.store(nullptr);
  const absl::Status a = this->sel_->Wakeup();
  const absl::Status b = this->sel_->Wakeup();
  EXPECT_TRUE(IsShutDown(a)) << a;
  EXPECT_TRUE(IsShutDown(b)) << b;
  // Both alive at once, yet one message buffer: nothing was allocated.
  EXPECT_EQ(a.message().data(), b.message().data());
}

// --- data, keys and handlers
// ---------------------------------------------------

// Data may be a move-only callable, and a handler may unregister or modify
// any key - its own included - while the result is being walked: keys (and
// their data) live until the next Select. (ASan checks the lifetimes.)
TYPED_TEST(SelectorTest, HandlersMayUnregisterAndModifyDuringIteration) {
  using Handler = absl::AnyInvocable<void(int)>;
  auto made = TypeParam::template Make<Handler>();
  ASSERT_TRUE(made.ok()) << made.status();
  Selector<Handler>& sel = **made;
  auto pair_a = Pair();
  auto pair_b = Pair();
  Socket& a = pair_a.first;
  Socket& b = pair_b.first;
  Socket& peer_a = pair_a.second;
  Socket& peer_b = pair_b.second;
  std::vector<std::string> log;
  const std::string big(200, 'x');  // forces heap storage in the callable
  ASSERT_TRUE(sel.Register(a, kEventRead,
                           [&, big](int mask) {
                             log.push_back("a" + std::to_string(mask));
                             // Replace our own data while it runs, then drop
                             // the other registration.
                             EXPECT_TRUE(sel.Modify(a, kEventWrite,
                                                    [&](int m) {
                                                      log.push_back(
                                                          "a-write" +
                                                          std::to_string(m));
                                                    })
                                             .ok());
                             (void)sel.Unregister(b);
                             log.push_back(big.substr(0, 1));
                           })
                  .ok());
  ASSERT_TRUE(sel.Register(b, kEventRead,
                           [&, big](int mask) {
                             log.push_back("b" + std::to_string(mask) +
                                           big.substr(0, 1));
                             (void)sel.Unregister(a);
                           })
                  .ok());
  ASSERT_OK(peer_a.SendAll("1"));
  ASSERT_OK(peer_b.SendAll("1"));
  auto ready = sel.Select(kBound);
  ASSERT_TRUE(ready.ok()) << ready.status();
  // Both were ready; whichever runs first changes the other's registration,
  // and the walk still sees valid keys.
  for (const auto& [key, mask] : *ready) key->data(mask);
  EXPECT_GE(log.size(), 2u);
  ready = sel.Select(absl::ZeroDuration());
  ASSERT_TRUE(ready.ok());
  for (const auto& [key, mask] : *ready) key->data(mask);
}

// Loops of create/register/select/destroy leave no fd behind.
TYPED_TEST(SelectorTest, NoFdLeaks) {
  this->sel_.reset();
  const int before = CountOpenFds();
  for (int i = 0; i < 50; ++i) {
    auto sel = TypeParam::Make();
    ASSERT_TRUE(sel.ok()) << sel.status();
    auto [rd, wr] = Pair();
    ASSERT_TRUE((*sel)->Register(rd, kEventRead).ok());
    ASSERT_TRUE((*sel)->Register(wr, kEventWrite).ok());
    ASSERT_OK(wr.SendAll("x"));
    auto ready = (*sel)->Select(kBound);
    ASSERT_TRUE(ready.ok());
    EXPECT_EQ(ready->size(), 2u);
    ASSERT_OK((*sel)->Wakeup());
    if (i % 2 == 0) (*sel)->Close();  // and destruction without Close
  }
  EXPECT_EQ(CountOpenFds(), before);
}

// --- backend specifics
// ----------------------------------------------------------

TEST(DefaultSelectorTest, IsEpollOnLinux) {
  auto sel = DefaultSelector();
  ASSERT_TRUE(sel.ok()) << sel.status();
  EXPECT_EQ((*sel)->backend(), "epoll");
}

// Data without casts: a typed selector hands back the caller's type.
TEST(DefaultSelectorTest, TypedData) {
  struct Connection {
    std::string name;
  };
  Connection conn{"client-1"};
  auto sel = DefaultSelector<Connection*>();
  ASSERT_TRUE(sel.ok());
  auto [rd, wr] = Pair();
  ASSERT_TRUE((*sel)->Register(wr, kEventWrite, &conn).ok());
  auto ready = (*sel)->Select(absl::ZeroDuration());
  ASSERT_TRUE(ready.ok());
  ASSERT_EQ(ready->size(), 1u);
  EXPECT_EQ((*ready)[0].key->data->name, "client-1");
}

std::unique_ptr<EpollSelector<>> MakeEpoll() {
  auto sel = EpollSelector<>::Create();
  ABSL_RAW_CHECK(sel.ok(), "EpollSelector::Create failed");
  return *std::move(sel);
}

// 267: epoll refuses regular files; nothing is left registered.
TEST(EpollSelectorTest, RegisterRegularFileFailsCleanly) {
  auto sel = MakeEpoll();
  char path[] = "/tmp/spindle_selectors_test_XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  unlink(path);
  Fd file(fd);
  auto key = sel->Register(file, kEventRead);
  EXPECT_TRUE(absl::IsPermissionDenied(key.status())) << key.status();
  EXPECT_TRUE(absl::IsNotFound(sel->GetKey(file).status()));
  EXPECT_TRUE(sel->GetMap().empty());
  // The poll backend watches it (always ready).
  auto poll = PollSelector<>::Create();
  ASSERT_TRUE(poll.ok());
  EXPECT_TRUE((*poll)->Register(file, kEventRead).ok());
}

// 252: a kernel refusal of modify propagates and removes the registration.
TEST(EpollSelectorTest, ModifyFailureUnregisters) {
  auto sel = MakeEpoll();
  auto [rd, wr] = Pair();
  const int r = rd.fileno();
  ASSERT_TRUE(sel->Register(r, kEventRead).ok());
  ASSERT_OK(rd.Close());
  auto modified = sel->Modify(r, kEventWrite);
  EXPECT_FALSE(modified.ok());
  EXPECT_EQ(sel->GetMap().size(), 0u);
  EXPECT_TRUE(absl::IsNotFound(sel->GetKey(r).status()));
}

// 259: fileno().
TEST(EpollSelectorTest, Fileno) {
  auto sel = MakeEpoll();
  EXPECT_GE(sel->fileno(), 0);
  sel->Close();
  EXPECT_EQ(sel->fileno(), -1);
}

// Edge-triggered: reported on change only; the caller drains to EAGAIN.
TEST(EpollSelectorTest, EdgeTriggered) {
  auto sel = MakeEpoll();
  auto [rd, wr] = Pair();
  ASSERT_OK(rd.SetNonBlocking());
  ASSERT_TRUE(
      sel->Register(rd, kEventRead, {}, EpollOptions{.edge_triggered = true})
          .ok());
  ASSERT_OK(wr.SendAll("abc"));
  auto ready = sel->Select(kBound);
  ASSERT_TRUE(ready.ok());
  EXPECT_EQ(ready->size(), 1u);
  // Still readable, but no new edge: not reported again (level-triggered
  // would report it).
  ready = sel->Select(absl::ZeroDuration());
  ASSERT_TRUE(ready.ok());
  EXPECT_TRUE(ready->empty());
  // New data is a new edge.
  ASSERT_OK(wr.SendAll("d"));
  ready = sel->Select(kBound);
  ASSERT_TRUE(ready.ok());
  EXPECT_EQ(ready->size(), 1u);
  // Drain until EAGAIN, as the contract requires.
  std::string got;
  for (;;) {
    auto chunk = rd.Recv(2);
    if (!chunk.ok()) {
      EXPECT_TRUE(IsWouldBlock(chunk.status())) << chunk.status();
      break;
    }
    got += *chunk;
  }
  EXPECT_EQ(got, "abcd");
  ready = sel->Select(absl::ZeroDuration());
  ASSERT_TRUE(ready.ok());
  EXPECT_TRUE(ready->empty());
}

// One-shot: reported once, then disarmed until Modify or Rearm.
TEST(EpollSelectorTest, OneShot) {
  auto sel = MakeEpoll();
  auto [rd, wr] = Pair();
  ASSERT_TRUE(
      sel->Register(rd, kEventRead, {}, EpollOptions{.one_shot = true}).ok());
  ASSERT_OK(wr.SendAll("x"));
  auto ready = sel->Select(kBound);
  ASSERT_TRUE(ready.ok());
  EXPECT_EQ(ready->size(), 1u);
  ready = sel->Select(absl::ZeroDuration());  // still readable, disarmed
  ASSERT_TRUE(ready.ok());
  EXPECT_TRUE(ready->empty());
  // Modify with the same events re-arms a one-shot registration.
  ASSERT_TRUE(sel->Modify(rd, kEventRead, std::string("again")).ok());
  ready = sel->Select(kBound);
  ASSERT_TRUE(ready.ok());
  ASSERT_EQ(ready->size(), 1u);
  EXPECT_EQ(std::any_cast<std::string>((*ready)[0].key->data), "again");
  ready = sel->Select(absl::ZeroDuration());
  ASSERT_TRUE(ready.ok());
  EXPECT_TRUE(ready->empty());
  // So does Rearm, keeping the data.
  ASSERT_OK(sel->Rearm(rd));
  ready = sel->Select(kBound);
  ASSERT_TRUE(ready.ok());
  ASSERT_EQ(ready->size(), 1u);
  EXPECT_EQ(std::any_cast<std::string>((*ready)[0].key->data), "again");
  EXPECT_TRUE(absl::IsNotFound(sel->Rearm(wr)));
}

// The fd-reuse hazard epoll adds: the kernel keys interests by (fd, open
// file). If the registered fd is closed while a dup keeps its file open, the
// interest survives with the old number; a later registration that reuses
// the number must not be reported for the old file's readiness.
TEST(EpollSelectorTest, StaleInterestIsNeverReportedForReusedNumber) {
  auto sel = MakeEpoll();
  auto [old_rd, old_wr] = Pair();
  const int n = old_rd.fileno();
  ASSERT_TRUE(sel->Register(n, kEventRead, std::string("old")).ok());
  Fd keep_old_open(dup(n));
  ASSERT_TRUE(keep_old_open.valid());
  ASSERT_OK(old_rd.Close());
  auto [new_rd, new_wr] = Pair();
  ASSERT_EQ(dup2(new_rd.fileno(), n), n);
  Fd reused(n);
  ASSERT_OK(sel->Unregister(n));  // EPOLL_CTL_DEL hits the new file: ENOENT
  ASSERT_TRUE(sel->Register(n, kEventRead, std::string("new")).ok());

  // The old file becomes readable: nothing may be reported, and the stale
  // interest is purged (not reported, and no busy loop).
  ASSERT_OK(old_wr.SendAll("old data"));
  for (int i = 0; i < 3; ++i) {
    auto ready = sel->Select(absl::ZeroDuration());
    ASSERT_TRUE(ready.ok()) << ready.status();
    EXPECT_TRUE(ready->empty());
  }
  // A short timed select waits its time rather than returning at once.
  const absl::Time start = absl::Now();
  auto ready = sel->Select(absl::Milliseconds(50));
  ASSERT_TRUE(ready.ok());
  EXPECT_TRUE(ready->empty());
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(50));

  // The new file is reported for its own readiness.
  ASSERT_OK(new_wr.SendAll("new data"));
  ready = sel->Select(kBound);
  ASSERT_TRUE(ready.ok());
  ASSERT_EQ(ready->size(), 1u);
  EXPECT_EQ(std::any_cast<std::string>((*ready)[0].key->data), "new");
}

// A stale interest takes a place in epoll_wait's buffer, which is sized for
// the registrations: a zero-timeout Select must still report every ready
// registration (found by tests/fuzz/selectors_model_fuzz).
TEST(EpollSelectorTest, StaleInterestDoesNotCrowdOutReadyRegistrations) {
  auto sel = MakeEpoll();
  auto [old_rd, old_wr] = Pair();
  const int n = old_rd.fileno();
  ASSERT_TRUE(sel->Register(n, kEventRead).ok());
  Fd keep_old_open(dup(n));
  ASSERT_TRUE(keep_old_open.valid());
  ASSERT_OK(old_rd.Close());
  ASSERT_OK(sel->Unregister(n));  // EBADF: the interest stays in the kernel.
  // The kernel's ready list: the stale interest, the wake-up fd, then a
  // writable registration - one more than the buffer's two places.
  ASSERT_OK(old_wr.SendAll("stale"));
  ASSERT_OK(sel->Wakeup());
  auto [rd, wr] = Pair();
  ASSERT_TRUE(sel->Register(wr.fileno(), kEventWrite).ok());
  auto ready = sel->Select(absl::ZeroDuration());
  ASSERT_TRUE(ready.ok()) << ready.status();
  ASSERT_EQ(ready->size(), 1u);
  EXPECT_EQ((*ready)[0].key->fd, wr.fileno());
  EXPECT_EQ((*ready)[0].events, kEventWrite);
}

// Purging a stale interest rebuilds the epoll set; a one-shot registration
// that was reported (and so disarmed) must stay disarmed through the
// rebuild, until Rearm() - not be re-armed by it and reported again.
TEST(EpollSelectorTest, PurgingAStaleInterestKeepsOneShotDisarmed) {
  auto sel = MakeEpoll();
  auto [a_rd, a_wr] = Pair();
  ASSERT_TRUE(sel->Register(a_rd, kEventRead, std::string("a"),
                            EpollOptions{.one_shot = true})
                  .ok());
  ASSERT_OK(a_wr.SendAll("x"));  // A stays readable: never drained.
  auto ready = sel->Select(kBound);
  ASSERT_TRUE(ready.ok()) << ready.status();
  ASSERT_EQ(ready->size(), 1u);
  EXPECT_EQ(std::any_cast<std::string>((*ready)[0].key->data), "a");

  // A stale interest: B is closed while a dup keeps its file open, then
  // unregistered (EPOLL_CTL_DEL fails with EBADF and the interest stays).
  auto [b_rd, b_wr] = Pair();
  const int b = b_rd.fileno();
  ASSERT_TRUE(sel->Register(b, kEventRead, std::string("b")).ok());
  Fd b_dup(dup(b));
  ASSERT_TRUE(b_dup.valid());
  ASSERT_OK(b_rd.Close());
  ASSERT_OK(sel->Unregister(b));
  const int epfd_before = sel->fileno();

  // The dup fires: the stale report makes the selector rebuild its set.
  ASSERT_OK(b_wr.SendAll("stale"));
  ready = sel->Select(absl::ZeroDuration());
  ASSERT_TRUE(ready.ok()) << ready.status();
  EXPECT_TRUE(ready->empty());
  ASSERT_NE(sel->fileno(), epfd_before) << "the stale interest was not purged";

  // A is still readable but disarmed: not reported, not even once.
  for (int i = 0; i < 3; ++i) {
    ready = sel->Select(absl::ZeroDuration());
    ASSERT_TRUE(ready.ok()) << ready.status();
    EXPECT_TRUE(ready->empty()) << "a disarmed one-shot fd was reported";
  }
  // Rearm() makes it report again, exactly once.
  ASSERT_OK(sel->Rearm(a_rd));
  ready = sel->Select(kBound);
  ASSERT_TRUE(ready.ok()) << ready.status();
  ASSERT_EQ(ready->size(), 1u);
  EXPECT_EQ(std::any_cast<std::string>((*ready)[0].key->data), "a");
  ready = sel->Select(absl::ZeroDuration());
  ASSERT_TRUE(ready.ok());
  EXPECT_TRUE(ready->empty());
  // Modify re-arms too (a second rebuild first, to cover the path where
  // the disarmed interest is absent from the kernel set).
  auto [c_rd, c_wr] = Pair();
  const int c = c_rd.fileno();
  ASSERT_TRUE(sel->Register(c, kEventRead, std::string("c")).ok());
  Fd c_dup(dup(c));
  ASSERT_OK(c_rd.Close());
  ASSERT_OK(sel->Unregister(c));
  ASSERT_OK(c_wr.SendAll("stale"));
  ready = sel->Select(absl::ZeroDuration());
  ASSERT_TRUE(ready.ok());
  EXPECT_TRUE(ready->empty());
  ASSERT_TRUE(sel->Modify(a_rd, kEventRead, std::string("a2")).ok());
  ready = sel->Select(kBound);
  ASSERT_TRUE(ready.ok()) << ready.status();
  ASSERT_EQ(ready->size(), 1u);
  EXPECT_EQ(std::any_cast<std::string>((*ready)[0].key->data), "a2");
  // Unregistering a disarmed, absent interest works and leaves nothing.
  ready = sel->Select(absl::ZeroDuration());
  ASSERT_TRUE(ready.ok());
  EXPECT_TRUE(ready->empty());
  ASSERT_OK(sel->Unregister(a_rd));
  EXPECT_TRUE(absl::IsNotFound(sel->Rearm(a_rd)));
}

// SelectSelector refuses fds >= FD_SETSIZE instead of corrupting memory.
TEST(SelectSelectorTest, RefusesFdAboveFdSetSize) {
  ASSERT_GE(RaiseFdLimit(FD_SETSIZE + 64), static_cast<rlim_t>(FD_SETSIZE + 2));
  auto sel = SelectSelector<>::Create();
  ASSERT_TRUE(sel.ok()) << sel.status();
  auto [rd, wr] = Pair();
  Fd high(fcntl(rd.fileno(), F_DUPFD_CLOEXEC, FD_SETSIZE));
  ASSERT_GE(high.fileno(), FD_SETSIZE);
  auto key = (*sel)->Register(high, kEventRead);
  EXPECT_TRUE(absl::IsInvalidArgument(key.status())) << key.status();
  EXPECT_TRUE((*sel)->GetMap().empty());
  EXPECT_TRUE((*sel)->Register(rd, kEventRead).ok());
  // The scalable backends take it.
  auto poll = PollSelector<>::Create();
  ASSERT_TRUE(poll.ok());
  EXPECT_TRUE((*poll)->Register(high, kEventRead).ok());
}

// FileObject: raw fds and anything with fileno().
TEST(FileObjectTest, FromIntAndFromObjects) {
  struct MyWrapper {
    int fileno() const { return 7; }
  };
  MyWrapper w;
  FileObject a = 5;
  FileObject b = w;
  EXPECT_EQ(a.fd(), 5);
  EXPECT_EQ(a.identity(), nullptr);
  EXPECT_EQ(b.fd(), 7);
  EXPECT_EQ(b.identity(), &w);
  FileObject c = b;  // copies, not wrapping
  EXPECT_EQ(c.identity(), &w);
}

}  // namespace
}  // namespace spindle::io
