// Copyright 2026 The spindle Authors.
//
// The poll(2) backend: a pollfd array kept up to date incrementally (slot 0
// is the wake-up fd), with an fd -> slot index so that Modify and Remove are
// O(1). No kernel state, so nothing can go stale.

#include <poll.h>

#include <cerrno>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "spindle/concurrency/status.h"
#include "spindle/io/internal/poller.h"

namespace spindle::io::internal {
namespace {

short ToPoll(int events) {  // NOLINT(runtime/int): pollfd uses short
  short out = 0;            // NOLINT(runtime/int)
  if (events & kRead) out |= POLLIN;
  if (events & kWrite) out |= POLLOUT;
  return out;
}

class PollPoller final : public Poller {
 public:
  absl::Status Open() {
    if (absl::Status s = wakeup_.Open(); !s.ok()) return s;
    fds_.push_back(pollfd{wakeup_.fd(), POLLIN, 0});
    tokens_.push_back(0);
    return absl::OkStatus();
  }

  absl::string_view name() const override { return "poll"; }

  absl::Status Add(int fd, int events, int /*flags*/, uint32_t token) override {
    index_[fd] = fds_.size();
    fds_.push_back(pollfd{fd, ToPoll(events), 0});
    tokens_.push_back(token);
    return absl::OkStatus();
  }

  absl::Status Modify(int fd, int events, int /*flags*/,
                      uint32_t token) override {
    auto it = index_.find(fd);
    if (it == index_.end()) return absl::NotFoundError("fd is not watched");
    fds_[it->second].events = ToPoll(events);
    tokens_[it->second] = token;
    return absl::OkStatus();
  }

  void Remove(int fd) override {
    auto it = index_.find(fd);
    if (it == index_.end()) return;
    const size_t slot = it->second;
    index_.erase(it);
    const size_t last = fds_.size() - 1;
    if (slot != last) {
      fds_[slot] = fds_[last];
      tokens_[slot] = tokens_[last];
      index_[fds_[slot].fd] = slot;
    }
    fds_.pop_back();
    tokens_.pop_back();
  }

  absl::Status Wait(const Deadline& deadline,
                    std::vector<PollerEvent>* out) override {
    out->clear();
    for (;;) {
      const int n = poll(fds_.data(), fds_.size(), deadline.RemainingMillis());
      if (n < 0) {
        if (errno == EINTR) {
          if (deadline.Expired()) return absl::OkStatus();
          continue;  // PEP 475: retry with the time left
        }
        return ErrnoError(errno, "poll");
      }
      if (n == 0) {
        if (!deadline.infinite() && !deadline.Expired()) continue;
        return absl::OkStatus();
      }
      if (fds_[0].revents != 0) wakeup_.Drain();
      for (size_t i = 1; i < fds_.size(); ++i) {
        const short revents = fds_[i].revents;  // NOLINT(runtime/int)
        if (revents == 0) continue;
        // Python's mapping: POLLERR/POLLHUP/POLLNVAL count as both.
        int events = 0;
        if (revents & ~POLLOUT) events |= kRead;
        if (revents & ~POLLIN) events |= kWrite;
        out->push_back(PollerEvent{fds_[i].fd, tokens_[i], events});
      }
      return absl::OkStatus();
    }
  }

  absl::Status Rebuild(absl::Span<const Registration>) override {
    return absl::OkStatus();
  }

  absl::Status Wakeup() override { return wakeup_.Signal(); }

  void Close() override {
    wakeup_.Close();
    fds_.clear();
    tokens_.clear();
    index_.clear();
  }

 private:
  WakeupFd wakeup_;
  std::vector<pollfd> fds_;
  std::vector<uint32_t> tokens_;
  absl::flat_hash_map<int, size_t> index_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Poller>> NewPollPoller() {
  auto poller = std::make_unique<PollPoller>();
  if (absl::Status s = poller->Open(); !s.ok()) return s;
  return std::unique_ptr<Poller>(std::move(poller));
}

}  // namespace spindle::io::internal
