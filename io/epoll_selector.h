// Copyright 2026 The spindle Authors.
//
// -----------------------------------------------------------------------------
// File: epoll_selector.h
// -----------------------------------------------------------------------------
//
// EpollSelector: a Selector (selectors.h) built on Linux epoll, Python's
// `selectors.EpollSelector` and what DefaultSelector() uses on Linux. Select()
// costs O(ready fds), not O(registered fds), and there is no fd limit beyond
// RLIMIT_NOFILE.
//
// Backend specifics:
//  * epoll refuses regular files and directories: Register fails with
//    kPermissionDenied (EPERM) and nothing is registered.
//  * A registered fd that is closed is silently dropped by the kernel (never
//    reported) while it stays in the map until unregistered. An interest that
//    outlives its fd number (the file was still open through a dup) is
//    detected when it fires and purged, so it is never reported for a later
//    registration that reuses the number. The purge builds a fresh epoll
//    instance (fileno() changes); one-shot registrations that were disarmed
//    stay disarmed through it.
//  * Beyond Python, a registration may be edge-triggered and/or one-shot
//    (`EpollOptions`):
//      - edge-triggered (EPOLLET): Select() reports an fd only when its state
//        changes (new data arrives, buffer space frees up), not while it stays
//        ready. The caller MUST then read (or write) until the call fails with
//        EAGAIN, else the data left behind is never reported again. Use it
//        with non-blocking fds only.
//      - one-shot (EPOLLONESHOT): after an fd is reported once it is disarmed
//        (stays registered, reports nothing) until the caller re-arms it with
//        Modify() (any Modify re-arms, even with unchanged events) or
//        Rearm(). Useful when the ready fd is handed to another thread: no
//        second report can race with the first one's handling.
//    The options are fixed at Register and kept by Modify.
//
// Thread safety: as Selector: not thread-safe, except Wakeup().

#ifndef SPINDLE_IO_EPOLL_SELECTOR_H_
#define SPINDLE_IO_EPOLL_SELECTOR_H_

#include <any>
#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "spindle/io/internal/poller.h"
#include "spindle/io/selectors.h"

namespace spindle::io {

// Per-registration epoll modes; see the file comment for each contract.
struct EpollOptions {
  bool edge_triggered = false;
  bool one_shot = false;
};

template <typename Data = std::any>
class EpollSelector final : public Selector<Data> {
 public:
  using Key = SelectorKey<Data>;

  // Errors: the kernel's, when epoll_create1 or eventfd fails (e.g.
  // kResourceExhausted for EMFILE).
  static absl::StatusOr<std::unique_ptr<EpollSelector>> Create() {
    absl::StatusOr<std::unique_ptr<internal::Poller>> poller =
        internal::NewEpollPoller();
    if (!poller.ok()) return poller.status();
    return std::unique_ptr<EpollSelector>(
        new EpollSelector(*std::move(poller)));
  }

  using Selector<Data>::Register;

  // Register with epoll modes; errors as Selector::Register.
  absl::StatusOr<const Key*> Register(FileObject fileobj, int events, Data data,
                                      EpollOptions options) {
    int flags = 0;
    if (options.edge_triggered) flags |= internal::kFlagEdgeTriggered;
    if (options.one_shot) flags |= internal::kFlagOneShot;
    return this->RegisterWithFlags(fileobj, events, std::move(data), flags);
  }

  // Re-arms a one-shot registration with its current events, keeping its key
  // and data (a no-op system call for other registrations). Errors:
  // kNotFound; kFailedPrecondition after Close(); the kernel's (the
  // registration is then removed, as with Modify).
  absl::Status Rearm(FileObject fileobj) {
    absl::StatusOr<const typename Selector<Data>::Entry*> entry =
        this->FindEntry(fileobj);
    if (!entry.ok()) return entry.status();
    const auto& e = **entry;
    absl::Status s =
        this->poller().Modify(e.key.fd, e.key.events, e.flags, e.token);
    if (!s.ok()) (void)this->Unregister(e.key.fd);
    return s;
  }

  // The epoll instance's fd (Python's fileno()), or -1 after Close(). It may
  // change when a stale interest is purged; do not cache it.
  int fileno() { return this->closed() ? -1 : this->poller().fileno(); }

 private:
  explicit EpollSelector(std::unique_ptr<internal::Poller> poller)
      : Selector<Data>(std::move(poller)) {}
};

}  // namespace spindle::io

#endif  // SPINDLE_IO_EPOLL_SELECTOR_H_
