// Copyright 2026 The spindle Authors.
//
// -----------------------------------------------------------------------------
// File: select_selector.h
// -----------------------------------------------------------------------------
//
// SelectSelector: a Selector (selectors.h) built on select(2), Python's
// `selectors.SelectSelector`, as the seeds' chat room uses it. Portable and
// fine for a handful of fds, but limited to fds below FD_SETSIZE (1024):
// Register refuses a larger fd with kInvalidArgument instead of writing past
// the fd_set, and Create() fails the same way when no fd below FD_SETSIZE is
// free for the wake-up channel. Backend specifics: a registered fd that was
// closed makes Select() fail with EBADF (kFailedPrecondition) until it is
// unregistered.
//
// Thread safety: as Selector: not thread-safe, except Wakeup().

#ifndef SPINDLE_IO_SELECT_SELECTOR_H_
#define SPINDLE_IO_SELECT_SELECTOR_H_

#include <any>
#include <memory>
#include <utility>

#include "absl/status/statusor.h"
#include "spindle/io/internal/poller.h"
#include "spindle/io/selectors.h"

namespace spindle::io {

template <typename Data = std::any>
class SelectSelector final : public Selector<Data> {
 public:
  // Errors: the kernel's, when the wake-up eventfd cannot be created;
  // kInvalidArgument when it would be >= FD_SETSIZE.
  static absl::StatusOr<std::unique_ptr<SelectSelector>> Create() {
    absl::StatusOr<std::unique_ptr<internal::Poller>> poller =
        internal::NewSelectPoller();
    if (!poller.ok()) return poller.status();
    return std::unique_ptr<SelectSelector>(
        new SelectSelector(*std::move(poller)));
  }

 private:
  explicit SelectSelector(std::unique_ptr<internal::Poller> poller)
      : Selector<Data>(std::move(poller)) {}
};

}  // namespace spindle::io

#endif  // SPINDLE_IO_SELECT_SELECTOR_H_
