// Copyright 2026 The spindle Authors.
//
// -----------------------------------------------------------------------------
// File: poll_selector.h
// -----------------------------------------------------------------------------
//
// PollSelector: a Selector (selectors.h) built on poll(2), Python's
// `selectors.PollSelector`. Any number of fds, any fd value; each Select()
// costs O(registered fds). Prefer DefaultSelector() (epoll) on Linux; use
// this where epoll is unavailable or to watch a file kind epoll refuses.
// Backend specifics: poll keeps no kernel state, so Modify never fails in the
// kernel; a registered fd that was closed is reported ready (POLLNVAL, as
// both events masked by the registration) until it is unregistered.
//
// Thread safety: as Selector: not thread-safe, except Wakeup().

#ifndef SPINDLE_IO_POLL_SELECTOR_H_
#define SPINDLE_IO_POLL_SELECTOR_H_

#include <any>
#include <memory>
#include <utility>

#include "absl/status/statusor.h"
#include "spindle/io/internal/poller.h"
#include "spindle/io/selectors.h"

namespace spindle::io {

template <typename Data = std::any>
class PollSelector final : public Selector<Data> {
 public:
  // Errors: the kernel's, when the wake-up eventfd cannot be created.
  static absl::StatusOr<std::unique_ptr<PollSelector>> Create() {
    absl::StatusOr<std::unique_ptr<internal::Poller>> poller =
        internal::NewPollPoller();
    if (!poller.ok()) return poller.status();
    return std::unique_ptr<PollSelector>(new PollSelector(*std::move(poller)));
  }

 private:
  explicit PollSelector(std::unique_ptr<internal::Poller> poller)
      : Selector<Data>(std::move(poller)) {}
};

}  // namespace spindle::io

#endif  // SPINDLE_IO_POLL_SELECTOR_H_
