// Copyright 2026 The spindle Authors.
//
// The select(2) backend: two master fd_sets copied for every call. An fd_set
// holds only FD_SETSIZE (1024) bits and FD_SET past that corrupts memory, so
// Add() refuses such fds instead.

#include <sys/select.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "spindle/concurrency/status.h"
#include "spindle/io/internal/poller.h"

namespace spindle::io::internal {
namespace {

class SelectPoller final : public Poller {
 public:
  absl::Status Open() {
    if (absl::Status s = wakeup_.Open(); !s.ok()) return s;
    if (wakeup_.fd() >= FD_SETSIZE) {
      wakeup_.Close();
      return absl::InvalidArgumentError(absl::StrCat(
          "SelectSelector: no descriptor below FD_SETSIZE (", FD_SETSIZE,
          ") is free for its wake-up fd; use PollSelector or EpollSelector"));
    }
    FD_ZERO(&readers_);
    FD_ZERO(&writers_);
    return absl::OkStatus();
  }

  absl::string_view name() const override { return "select"; }

  absl::Status Add(int fd, int events, int /*flags*/, uint32_t token) override {
    if (fd >= FD_SETSIZE) {
      return absl::InvalidArgumentError(
          absl::StrCat("SelectSelector cannot watch fd ", fd,
                       ": select() handles only fds "
                       "below FD_SETSIZE (",
                       FD_SETSIZE, "); use PollSelector or EpollSelector"));
    }
    Set(fd, events);
    tokens_[fd] = token;
    max_fd_ = std::max(max_fd_, fd);
    return absl::OkStatus();
  }

  absl::Status Modify(int fd, int events, int /*flags*/,
                      uint32_t token) override {
    if (fd < 0 || fd >= FD_SETSIZE) return absl::NotFoundError("not watched");
    Set(fd, events);
    tokens_[fd] = token;
    return absl::OkStatus();
  }

  void Remove(int fd) override {
    if (fd < 0 || fd >= FD_SETSIZE) return;
    Set(fd, 0);
    while (max_fd_ >= 0 && !FD_ISSET(max_fd_, &readers_) &&
           !FD_ISSET(max_fd_, &writers_)) {
      --max_fd_;
    }
  }

  absl::Status Wait(const Deadline& deadline,
                    std::vector<PollerEvent>* out) override {
    out->clear();
    const int wake = wakeup_.fd();
    for (;;) {
      fd_set r = readers_;
      fd_set w = writers_;
      FD_SET(wake, &r);
      const int nfds = std::max(max_fd_, wake) + 1;
      timeval tv;
      timeval* tvp = nullptr;
      if (!deadline.infinite()) {
        // Round up to whole microseconds so the wait is never shorter.
        const int64_t us = absl::ToInt64Microseconds(
            absl::Ceil(deadline.Remaining(), absl::Microseconds(1)));
        tv.tv_sec = us / 1000000;
        tv.tv_usec = us % 1000000;
        tvp = &tv;
      }
      const int n = select(nfds, &r, &w, nullptr, tvp);
      if (n < 0) {
        if (errno == EINTR) {
          if (deadline.Expired()) return absl::OkStatus();
          continue;  // PEP 475: retry with the time left
        }
        if (errno == EBADF) {
          return ErrnoError(EBADF,
                            "select (a registered fd was closed before it "
                            "was unregistered)");
        }
        return ErrnoError(errno, "select");
      }
      if (n == 0) {
        if (!deadline.infinite() && !deadline.Expired()) continue;
        return absl::OkStatus();
      }
      if (FD_ISSET(wake, &r)) wakeup_.Drain();
      for (int fd = 0; fd <= max_fd_; ++fd) {
        int events = 0;
        if (FD_ISSET(fd, &r) && FD_ISSET(fd, &readers_)) events |= kRead;
        if (FD_ISSET(fd, &w)) events |= kWrite;
        if (events != 0) out->push_back(PollerEvent{fd, tokens_[fd], events});
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
    FD_ZERO(&readers_);
    FD_ZERO(&writers_);
    max_fd_ = -1;
  }

 private:
  void Set(int fd, int events) {
    if (events & kRead) {
      FD_SET(fd, &readers_);
    } else {
      FD_CLR(fd, &readers_);
    }
    if (events & kWrite) {
      FD_SET(fd, &writers_);
    } else {
      FD_CLR(fd, &writers_);
    }
  }

  WakeupFd wakeup_;
  fd_set readers_;
  fd_set writers_;
  int max_fd_ = -1;
  std::array<uint32_t, FD_SETSIZE> tokens_ = {};
};

}  // namespace

absl::StatusOr<std::unique_ptr<Poller>> NewSelectPoller() {
  auto poller = std::make_unique<SelectPoller>();
  if (absl::Status s = poller->Open(); !s.ok()) return s;
  return std::unique_ptr<Poller>(std::move(poller));
}

}  // namespace spindle::io::internal
