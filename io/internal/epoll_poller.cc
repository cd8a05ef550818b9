// Copyright 2026 The spindle Authors.
//
// The epoll backend. Each interest carries (token << 32 | fd) in its
// epoll_data so that a report can be matched to the registration that asked
// for it: the kernel keys epoll interests by (fd number, open file
// description), so an interest whose fd was closed while another descriptor
// still refers to the same open file outlives the number, and would
// otherwise be taken for a later registration that reuses that number.
//
// One-shot registrations. The kernel disarms a one-shot interest when it
// reports it; only EPOLL_CTL_MOD re-arms it. Purging a stale interest means
// a fresh epoll instance (Rebuild), and re-adding a disarmed interest there
// would arm it again. So the poller remembers which one-shot registrations
// are disarmed (bit 31 of the fd half of epoll_data marks a one-shot
// interest, so only their reports are looked up), leaves those out of a
// rebuilt set, and adds them back (EPOLL_CTL_ADD instead of MOD) when they
// are re-armed. An interest cannot be added disarmed: the kernel always
// watches EPOLLERR and EPOLLHUP of an armed or freshly added interest.

#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "spindle/concurrency/status.h"
#include "spindle/io/internal/poller.h"

namespace spindle::io::internal {
namespace {

constexpr uint64_t kWakeupData = ~uint64_t{0};
// In the fd half of epoll_data: the interest is one-shot (fds are < 2^31).
constexpr uint32_t kOneShotBit = uint32_t{1} << 31;

uint32_t ToEpoll(int events, int flags) {
  uint32_t out = 0;
  if (events & kRead) out |= EPOLLIN;
  if (events & kWrite) out |= EPOLLOUT;
  if (flags & kFlagEdgeTriggered) out |= EPOLLET;
  if (flags & kFlagOneShot) out |= EPOLLONESHOT;
  return out;
}

uint64_t Pack(int fd, int flags, uint32_t token) {
  uint32_t low = static_cast<uint32_t>(fd);
  if (flags & kFlagOneShot) low |= kOneShotBit;
  return (static_cast<uint64_t>(token) << 32) | low;
}

class EpollPoller final : public Poller {
 public:
  ~EpollPoller() override { Close(); }

  absl::Status Open() {
    epfd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epfd_ < 0) return ErrnoError(errno, "epoll_create1");
    if (absl::Status s = wakeup_.Open(); !s.ok()) return s;
    return AddWakeup();
  }

  absl::string_view name() const override { return "epoll"; }

  absl::Status Add(int fd, int events, int flags, uint32_t token) override {
    one_shot_.erase(fd);
    absl::Status s = AddInterest(fd, events, flags, token);
    if (s.ok() && (flags & kFlagOneShot)) one_shot_[fd] = OneShot{token};
    return s;
  }

  absl::Status Modify(int fd, int events, int flags, uint32_t token) override {
    // Any Modify re-arms a one-shot interest; one left out of a rebuilt set
    // while disarmed is added back.
    auto it = one_shot_.find(fd);
    if (it != one_shot_.end() && it->second.token == token) {
      it->second.disarmed = false;
      if (!it->second.in_kernel) {
        absl::Status s = AddInterest(fd, events, flags, token);
        if (s.ok()) it->second.in_kernel = true;
        return s;
      }
    }
    epoll_event ev = {};
    ev.events = ToEpoll(events, flags);
    ev.data.u64 = Pack(fd, flags, token);
    if (epoll_ctl(epfd_, EPOLL_CTL_MOD, fd, &ev) < 0) {
      return ErrnoError(errno,
                        absl::StrCat("epoll_ctl(EPOLL_CTL_MOD) of fd ", fd));
    }
    return absl::OkStatus();
  }

  void Remove(int fd) override {
    auto it = one_shot_.find(fd);
    if (it != one_shot_.end()) {
      const bool in_kernel = it->second.in_kernel;
      one_shot_.erase(it);
      if (!in_kernel) return;  // Left out of a rebuilt set: nothing to drop.
    }
    // EBADF (fd closed) and ENOENT (number reused by a file we never added)
    // are expected when the caller closed before unregistering; the kernel
    // already dropped the interest if that was the file's last descriptor,
    // and Wait() filters out any interest that survived.
    epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
    if (count_ > 0) --count_;
  }

  absl::Status Wait(const Deadline& deadline,
                    std::vector<PollerEvent>* out) override {
    out->clear();
    // The buffer holds every registration and the wake-up fd, but not the
    // stale interests that outlived their fd numbers (see the file
    // comment): when it comes back full, more may be ready, so collect the
    // rest at once with a bigger buffer (level-triggered ones reported
    // already come again; they are skipped).
    bool collecting = false;
    absl::flat_hash_set<uint64_t> seen;  // Only filled when collecting.
    for (;;) {
      const int n =
          epoll_wait(epfd_, buffer_.data(), static_cast<int>(buffer_.size()),
                     collecting ? 0 : deadline.RemainingMillis());
      if (n < 0) {
        if (errno == EINTR) {
          if (collecting || deadline.Expired()) return absl::OkStatus();
          continue;  // PEP 475: retry with the time left
        }
        return ErrnoError(errno, "epoll_wait");
      }
      bool woken = false;
      for (int i = 0; i < n; ++i) {
        const epoll_event& ev = buffer_[i];
        if (ev.data.u64 == kWakeupData) {
          wakeup_.Drain();
          woken = true;
          continue;
        }
        // (A copy: epoll_event is packed, its data may be misaligned.)
        const uint64_t data = ev.data.u64;
        if (collecting && !seen.insert(data).second) continue;
        // Python's mapping: anything but "writable" (incl. EPOLLERR and
        // EPOLLHUP) counts as readable, anything but "readable" as writable.
        int events = 0;
        if (ev.events & ~static_cast<uint32_t>(EPOLLOUT)) events |= kRead;
        if (ev.events & ~static_cast<uint32_t>(EPOLLIN)) events |= kWrite;
        const uint32_t low = static_cast<uint32_t>(ev.data.u64);
        const int fd = static_cast<int>(low & ~kOneShotBit);
        const uint32_t token = static_cast<uint32_t>(ev.data.u64 >> 32);
        if (low & kOneShotBit) {
          // The kernel disarmed it by reporting it (a stale interest's token
          // matches no entry).
          auto it = one_shot_.find(fd);
          if (it != one_shot_.end() && it->second.token == token) {
            it->second.disarmed = true;
          }
        }
        out->push_back(PollerEvent{fd, token, events});
      }
      if (static_cast<size_t>(n) == buffer_.size()) {
        if (!collecting) {
          for (int i = 0; i < n; ++i)
            seen.insert(uint64_t{buffer_[i].data.u64});
        }
        collecting = true;
        buffer_.resize(2 * buffer_.size());
        continue;
      }
      // The rounded-up wait cannot end before the deadline, but be exact.
      if (n == 0 && !collecting && !woken && !deadline.infinite() &&
          !deadline.Expired()) {
        continue;
      }
      return absl::OkStatus();
    }
  }

  absl::Status Rebuild(absl::Span<const Registration> live) override {
    // The only way to drop an interest whose fd number no longer refers to
    // its file is a fresh epoll instance.
    const int fresh = epoll_create1(EPOLL_CLOEXEC);
    if (fresh < 0) return ErrnoError(errno, "epoll_create1");
    close(epfd_);
    epfd_ = fresh;
    count_ = 0;
    if (absl::Status s = AddWakeup(); !s.ok()) return s;
    absl::flat_hash_map<int, OneShot> previous;
    previous.swap(one_shot_);
    absl::Status result;
    for (const Registration& r : live) {
      // A disarmed one-shot interest stays out of the kernel set until it
      // is re-armed (see the file comment).
      if (r.flags & kFlagOneShot) {
        auto it = previous.find(r.fd);
        if (it != previous.end() && it->second.token == r.token &&
            it->second.disarmed) {
          one_shot_[r.fd] =
              OneShot{r.token, /*disarmed=*/true, /*in_kernel=*/false};
          continue;
        }
      }
      // A registration whose fd was closed cannot be re-added; it stays in
      // the selector's map until unregistered, as with the kernel's own
      // behaviour for closed fds.
      if (absl::Status s = Add(r.fd, r.events, r.flags, r.token);
          !s.ok() && !absl::IsFailedPrecondition(s) &&
          !absl::IsInvalidArgument(s) && !absl::IsNotFound(s)) {
        result.Update(s);
      }
    }
    return result;
  }

  absl::Status Wakeup() override { return wakeup_.Signal(); }

  void Close() override {
    wakeup_.Close();
    if (epfd_ >= 0) {
      close(epfd_);
      epfd_ = -1;
    }
  }

  int fileno() const override { return epfd_; }

 private:
  // Where a one-shot registration stands (see the file comment).
  struct OneShot {
    uint32_t token;
    bool disarmed = false;  // Reported since it was last armed.
    bool in_kernel = true;  // False: left out of a rebuilt set (disarmed).
  };

  absl::Status AddInterest(int fd, int events, int flags, uint32_t token) {
    epoll_event ev = {};
    ev.events = ToEpoll(events, flags);
    ev.data.u64 = Pack(fd, flags, token);
    if (epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) < 0) {
      const int err = errno;
      if (err == EPERM) {
        return ErrnoError(err,
                          absl::StrCat("epoll_ctl(EPOLL_CTL_ADD) of fd ", fd,
                                       " (epoll cannot watch regular "
                                       "files or directories; use "
                                       "PollSelector or plain reads)"));
      }
      return ErrnoError(err,
                        absl::StrCat("epoll_ctl(EPOLL_CTL_ADD) of fd ", fd));
    }
    ++count_;
    // Room for every registration plus the wake-up fd, grown here so that
    // Wait() never allocates.
    if (buffer_.size() < count_ + 1) buffer_.resize(count_ + 1);
    return absl::OkStatus();
  }

  absl::Status AddWakeup() {
    epoll_event ev = {};
    ev.events = EPOLLIN;
    ev.data.u64 = kWakeupData;
    if (epoll_ctl(epfd_, EPOLL_CTL_ADD, wakeup_.fd(), &ev) < 0) {
      return ErrnoError(errno, "epoll_ctl(EPOLL_CTL_ADD) of the wake-up fd");
    }
    if (buffer_.empty()) buffer_.resize(1);
    return absl::OkStatus();
  }

  int epfd_ = -1;
  WakeupFd wakeup_;
  size_t count_ = 0;
  std::vector<epoll_event> buffer_;
  // One-shot registrations by fd (only those: the common case pays nothing).
  absl::flat_hash_map<int, OneShot> one_shot_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Poller>> NewEpollPoller() {
  auto poller = std::make_unique<EpollPoller>();
  if (absl::Status s = poller->Open(); !s.ok()) return s;
  return std::unique_ptr<Poller>(std::move(poller));
}

}  // namespace spindle::io::internal
