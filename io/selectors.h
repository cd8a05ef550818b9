// Copyright 2026 The spindle Authors.
//
// -----------------------------------------------------------------------------
// File: selectors.h
// -----------------------------------------------------------------------------
//
// Python's `selectors` module for C++: wait until any of many file
// descriptors is ready for reading or writing, then act on the ready ones.
//
// clang-format off
//   Python                              spindle::io
//   ----------------------------------  -------------------------------------
//   selectors.EVENT_READ, EVENT_WRITE   kEventRead (1), kEventWrite (2)
//   SelectorKey(fileobj, fd, events,    SelectorKey<Data>{fileobj, fd,
//               data)                                     events, data}
//   selectors.DefaultSelector()         DefaultSelector<Data>()   (epoll)
//   EpollSelector(), PollSelector(),    EpollSelector<Data>::Create(),
//   SelectSelector()                    PollSelector<Data>::Create(),
//                                       SelectSelector<Data>::Create()
//   sel.register(f, events, data)       sel->Register(f, events, data)
//   sel.unregister(f)                   sel->Unregister(f)
//   sel.modify(f, events, data)         sel->Modify(f, events, data)
//   for key, mask in sel.select(t):     for (auto [key, mask] : *sel->Select(t))
//   sel.get_key(f)                      sel->GetKey(f)
//   sel.get_map()                       sel->GetMap()
//   sel.close(), with sel:              sel->Close(), the destructor
//   (none)                              sel->Wakeup()  (any thread, signals)
// clang-format on
//
// Errors (see concurrency/status.h): bad events or fd -> kInvalidArgument
// (ValueError); fd already registered -> kAlreadyExists (KeyError); unknown
// file object -> kNotFound (KeyError); any call after Close() ->
// kFailedPrecondition (IsShutDown; Python's RuntimeError); kernel refusals ->
// the errno's code with the call named (ErrnoError).
//
// Example, the loop of the seeds' echo server (all of it in
// examples/echo_server.cc): each registration's data is the callback to run
// when its fd is ready.
//
//   using Callback = absl::AnyInvocable<void(int mask)>;
//   auto sel = spindle::io::DefaultSelector<Callback>();
//   if (!sel.ok()) return sel.status();
//   (*sel)->Register(listener, kEventRead, [&](int) { Accept(); });
//   for (;;) {
//     auto ready = (*sel)->Select(std::nullopt);  // block until ready
//     if (!ready.ok()) return ready.status();
//     for (const auto& [key, mask] : *ready) key->data(mask);
//   }
//
// Time: Select()'s timeout is measured on CLOCK_MONOTONIC (the wait is
// retried for the time left after EINTR), so setting the system clock
// neither shortens nor lengthens it. (spindle's concurrency/ waits, built on
// absl::Mutex, wait for wall-clock deadlines instead; see their headers.)
//
// Choosing `Data`: every class is a template on the type of the caller's
// per-registration value, `Data` (Python's `data`). It defaults to `std::any`,
// which holds anything but must be read back with std::any_cast; naming the
// type instead (a function pointer, a `Connection*`, an
// `absl::AnyInvocable<void(int)>`, a `std::shared_ptr<Session>`) makes
// `key->data` directly usable with no cast. `Data` needs only to be movable
// (and default-constructible when `data` is omitted).

#ifndef SPINDLE_IO_SELECTORS_H_
#define SPINDLE_IO_SELECTORS_H_

#include <fcntl.h>

#include <any>
#include <cerrno>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "spindle/concurrency/status.h"
#include "spindle/io/internal/poller.h"

namespace spindle::io {

// Event masks, as Python's EVENT_READ and EVENT_WRITE.
inline constexpr int kEventRead = 1;
inline constexpr int kEventWrite = 2;

// Anything with an `int fileno() const` (spindle::io::Socket, or the caller's
// own wrapper types).
template <typename T>
concept HasFileno = requires(const T& t) {
  { t.fileno() } -> std::convertible_to<int>;
};

// FileObject
//
// What Python calls a "file object": either a plain fd or any object with
// `fileno()`. Both convert implicitly, so every selector call accepts
// `sel->Register(fd, ...)` and `sel->Register(socket, ...)` alike.
//
// Converting an object calls its `fileno()` once and remembers the object's
// address (`identity()`), never the object itself: a selector does not own or
// keep alive what it watches. The address serves one purpose, as in CPython:
// unregistering an object that was closed first, whose fileno() is now -1,
// finds its key by identity instead of by fd.
class FileObject {
 public:
  // A raw fd. Negative values are accepted here and refused by the selector.
  FileObject(int fd) : fd_(fd) {}  // NOLINT(google-explicit-constructor)

  // An object with fileno(); see the class comment.
  template <HasFileno T>
  requires(!std::same_as<std::remove_cvref_t<T>, FileObject>)
      FileObject(const T& obj)  // NOLINT(google-explicit-constructor)
      : fd_(static_cast<int>(obj.fileno())), identity_(&obj) {}

  // The descriptor (as fileno() returned it at conversion time).
  int fd() const { return fd_; }
  // So that a FileObject is itself a file object.
  int fileno() const { return fd_; }
  // The converted object's address, or nullptr for a raw fd.
  const void* identity() const { return identity_; }

 private:
  int fd_;
  const void* identity_ = nullptr;
};

// SelectorKey
//
// One registration, as Python's namedtuple: the file object it was made with,
// its fd, the events it waits for and the caller's `data`. Selectors hand out
// `const SelectorKey*`; see `Selector` for how long such a pointer lives.
//
// `data` is declared `mutable`: the selector never reads it, so a handler may
// update its own state, or call a non-const callable, through the const key.
template <typename Data = std::any>
struct SelectorKey {
  FileObject fileobj;
  int fd;
  int events;
  mutable Data data;
};

// One entry of Select()'s result: a ready key and the ready events, a
// non-zero subset of key->events. Supports structured bindings:
// `for (const auto& [key, mask] : *ready)`.
template <typename Data = std::any>
struct ReadyEvent {
  const SelectorKey<Data>* key;
  int events;
};

template <typename Data>
class Selector;

// SelectorMap
//
// The read-only, live fd -> key view that `Selector::GetMap()` returns
// (Python's get_map()). It reflects later registrations, and is empty once
// the selector is closed. Iteration yields `const SelectorKey<Data>&` (read
// `key.fd` for the fd) in no particular order, and is invalidated by
// Register, Unregister, Modify and Close.
template <typename Data = std::any>
class SelectorMap {
 private:
  struct Entry;
  using Map = absl::flat_hash_map<int, std::unique_ptr<Entry>>;

 public:
  class const_iterator {
   public:
    using value_type = SelectorKey<Data>;
    using reference = const SelectorKey<Data>&;
    using pointer = const SelectorKey<Data>*;
    using difference_type = std::ptrdiff_t;
    using iterator_category = std::forward_iterator_tag;

    const_iterator() = default;
    reference operator*() const { return it_->second->key; }
    pointer operator->() const { return &it_->second->key; }
    const_iterator& operator++() {
      ++it_;
      return *this;
    }
    const_iterator operator++(int) {
      const_iterator old = *this;
      ++it_;
      return old;
    }
    friend bool operator==(const const_iterator& a, const const_iterator& b) {
      return a.it_ == b.it_;
    }
    friend bool operator!=(const const_iterator& a, const const_iterator& b) {
      return a.it_ != b.it_;
    }

   private:
    friend class SelectorMap;
    explicit const_iterator(typename Map::const_iterator it) : it_(it) {}
    typename Map::const_iterator it_;
  };

  SelectorMap(const SelectorMap&) = delete;
  SelectorMap& operator=(const SelectorMap&) = delete;

  size_t size() const { return map_.size(); }
  bool empty() const { return map_.empty(); }
  bool contains(int fd) const { return map_.contains(fd); }
  // The key registered for `fd`, or nullptr (Python's map.get(fd)).
  const SelectorKey<Data>* Get(int fd) const {
    auto it = map_.find(fd);
    return it == map_.end() ? nullptr : &it->second->key;
  }
  // The key registered for `fd`, or kNotFound (Python's map[fd]).
  absl::StatusOr<const SelectorKey<Data>*> At(int fd) const {
    if (const SelectorKey<Data>* key = Get(fd)) return key;
    return absl::NotFoundError(absl::StrCat("fd ", fd, " is not registered"));
  }
  const_iterator begin() const { return const_iterator(map_.begin()); }
  const_iterator end() const { return const_iterator(map_.end()); }

 private:
  friend class Selector<Data>;
  struct Entry {
    SelectorKey<Data> key;
    int flags;
    uint32_t token;
  };
  SelectorMap() = default;
  Map map_;
};

// Selector
//
// Registers file objects with the events they should be watched for and
// waits for any of them to become ready (Python's `selectors.BaseSelector`).
// The backends differ only in the kernel mechanism (`EpollSelector`,
// `PollSelector`, `SelectSelector`, each in its own header); all behave as
// documented here. Make one with `DefaultSelector()` or a backend's
// `Create()`; the destructor closes it.
//
// Keys: `Register`, `Modify` and `GetKey` return `const SelectorKey<Data>*`
// pointers that stay valid while the registration lasts, and - after
// `Unregister` or a `Modify` that installs new data - until the next
// `Select()` or `Close()`. So a handler running from a Select() result may
// unregister or modify any key, including its own, even when `data` is the
// very callable that is running. Modify always returns the key now current
// (a new pointer whenever it changed the key, as Python's modify returns a
// new key).
//
// Close before unregister: unregister a file object before closing its fd.
// If the fd is closed first, Unregister still succeeds (by fd, or by identity
// for an object whose fileno() became -1), but until then the backends
// differ as in CPython: select() fails with EBADF, poll reports the fd ready
// (POLLNVAL, as both events), epoll silently drops it.
//
// Thread safety: a Selector is not thread-safe: calls on one selector must
// not overlap, except `Wakeup()`, which any thread (or a signal handler) may
// call at any time while the selector exists. Different selectors are
// independent.
template <typename Data = std::any>
class Selector {
 public:
  using Key = SelectorKey<Data>;
  using Ready = ReadyEvent<Data>;

  Selector(const Selector&) = delete;
  Selector& operator=(const Selector&) = delete;
  virtual ~Selector() { Close(); }

  // Watches `fileobj` for `events` (kEventRead, kEventWrite or both) and
  // returns its new key carrying `data`. Registrations are keyed by fd: the
  // same fd cannot be registered twice, through the same object or another.
  //
  // Errors: kInvalidArgument for events that are 0 or carry unknown bits, for
  // a negative fd or one that is not open, and (SelectSelector) for an fd >=
  // FD_SETSIZE; kAlreadyExists when the fd is registered; the kernel's error
  // when it refuses the fd (epoll: kPermissionDenied, EPERM, for regular
  // files and directories); kFailedPrecondition after Close(). Nothing is
  // registered when an error is returned.
  absl::StatusOr<const Key*> Register(FileObject fileobj, int events,
                                      Data data = Data()) {
    return RegisterWithFlags(fileobj, events, std::move(data), 0);
  }

  // Stops watching `fileobj`. Works after the fd was closed, and after its
  // number was reused by another file: the new file is not left watched.
  //
  // Errors: kNotFound when it is not registered; kFailedPrecondition after
  // Close().
  absl::Status Unregister(FileObject fileobj) {
    if (closed_) return Closed();
    auto it = Find(fileobj);
    if (it == map_.map_.end()) return NotRegistered(fileobj);
    poller_->Remove(it->first);
    Retire(it);
    return absl::OkStatus();
  }

  // Replaces the events and data of a registration and returns its current
  // key. When only the data changes no system call is made; changed events
  // re-arm the kernel's interest with a single call (as does every Modify of
  // an epoll one-shot registration).
  //
  // Errors: those of Register for `events`; kNotFound when `fileobj` is not
  // registered; kFailedPrecondition after Close(). If the kernel refuses the
  // change (epoll, e.g. the fd was closed) its error is returned and the
  // registration is removed (as CPython, bpo-30014).
  absl::StatusOr<const Key*> Modify(FileObject fileobj, int events,
                                    Data data = Data()) {
    if (closed_) return Closed();
    if (absl::Status s = CheckEvents(events); !s.ok()) return s;
    auto it = Find(fileobj);
    if (it == map_.map_.end()) return NotRegistered(fileobj);
    Entry& old = *it->second;
    if (events != old.key.events || (old.flags & internal::kFlagOneShot)) {
      absl::Status s =
          poller_->Modify(old.key.fd, events, old.flags, old.token);
      if (!s.ok()) {
        poller_->Remove(old.key.fd);
        Retire(it);
        return s;
      }
    }
    // A fresh entry: the old one (and its data, which may be the running
    // handler) lives on until the next Select().
    auto fresh = std::make_unique<Entry>(
        Entry{Key{old.key.fileobj, old.key.fd, events, std::move(data)},
              old.flags, old.token});
    const Key* key = &fresh->key;
    retired_.push_back(std::move(it->second));
    it->second = std::move(fresh);
    return key;
  }

  // Waits until at least one registered fd is ready, then returns every
  // ready (key, events) pair, each key once, with events masked by
  // key->events. Error and hang-up conditions count as both readable and
  // writable (so a peer's close shows up as kEventRead on a read
  // registration, kEventWrite on a write one).
  //
  // `timeout`: std::nullopt (or absl::InfiniteDuration()) waits without
  // limit; zero or negative only polls; otherwise waits at most that long
  // (rounded up to the backend's resolution: whole milliseconds for epoll
  // and poll, so a short wait never spins).
  //
  // Wakes when: an fd is ready; the timeout passes (empty result); another
  // thread or a signal handler calls Wakeup() (result possibly empty), also
  // when that call came before this Select began. A signal (EINTR) does not
  // wake it: the wait is resumed with the time left (PEP 475).
  //
  // The returned span is owned by the selector and valid until the next
  // Select() or Close(). Steady-state calls allocate nothing: the kernel
  // buffer grows at Register, the result vector is reused.
  //
  // Errors: kFailedPrecondition after Close(); the kernel's error otherwise
  // (SelectSelector: EBADF when a registered fd was closed).
  absl::StatusOr<absl::Span<const Ready>> Select(
      std::optional<absl::Duration> timeout) {
    if (closed_) return Closed();
    retired_.clear();
    ready_.clear();
    const internal::Deadline deadline(timeout);
    for (;;) {
      if (absl::Status s = poller_->Wait(deadline, &raw_); !s.ok()) return s;
      bool stale = false;
      for (const internal::PollerEvent& ev : raw_) {
        auto it = map_.map_.find(ev.fd);
        if (it == map_.map_.end() || it->second->token != ev.token) {
          stale = true;  // an interest that outlived its registration
          continue;
        }
        const Key& key = it->second->key;
        const int mask = ev.events & key.events;
        if (mask != 0) ready_.push_back(Ready{&key, mask});
      }
      if (!stale) break;
      if (absl::Status s = RebuildKernelSet(); !s.ok()) return s;
      if (!ready_.empty() || deadline.Expired()) break;
      // Only stale reports: wait again for the time left.
    }
    return absl::Span<const Ready>(ready_);
  }

  // Makes a Select() that is blocked in another thread return early (or the
  // next Select(), if none is blocked now); wake-ups before a Select coalesce
  // into one early return. The wake-up fd is internal: it never appears in
  // results or in GetMap().
  //
  // Thread-safe and async-signal-safe (one atomic load and at most one
  // write(2) to an eventfd; no lock and no allocation, on the error paths
  // too), also after Close() and concurrently with it: a signal handler may
  // set a flag and call Wakeup() so that the loop notices the flag at once -
  // the way to surface a user's interrupt, since Select() itself retries
  // EINTR. After Close() it writes nothing (the eventfd stays open until
  // destruction, so a racing call never writes to a reused fd number).
  // Everything written before Wakeup() happens-before the Select() it
  // releases returns. Must not overlap the selector's destruction: a signal
  // handler must be unable to reach a selector that is being destroyed
  // (EventLoop's signal routing waits out running handlers for this).
  //
  // Errors: kFailedPrecondition after Close() (a copy of one shared status,
  // so nothing is allocated); the errno's code, with no message, if the
  // write fails (not expected while the selector exists).
  absl::Status Wakeup() { return poller_->Wakeup(); }

  // The key registered for `fileobj` (looked up by fd, or by identity when
  // its fileno() is -1). Errors: kNotFound; kFailedPrecondition after
  // Close().
  absl::StatusOr<const Key*> GetKey(FileObject fileobj) const {
    if (closed_) return Closed();
    auto it = Find(fileobj);
    if (it == map_.map_.end()) return NotRegistered(fileobj);
    return &it->second->key;
  }

  // The live, read-only fd -> key view (see SelectorMap); empty after
  // Close(). The reference is valid for the selector's lifetime.
  const SelectorMap<Data>& GetMap() const { return map_; }

  // Unregisters everything and releases the kernel objects (the internal
  // wake-up eventfd lives on until destruction, so that a racing Wakeup()
  // can never write to a closed or reused fd). Keys and the last Select()
  // result are invalidated. Idempotent; afterwards every call but GetMap()
  // and closed() fails with kFailedPrecondition.
  void Close() {
    if (closed_) return;
    closed_ = true;
    poller_->Close();
    map_.map_.clear();
    retired_.clear();
    ready_.clear();
  }

  bool closed() const { return closed_; }

  // "epoll", "poll" or "select".
  absl::string_view backend() const { return poller_->name(); }

 protected:
  using Entry = typename SelectorMap<Data>::Entry;

  explicit Selector(std::unique_ptr<internal::Poller> poller)
      : poller_(std::move(poller)) {}

  // Register with backend flags (internal::kFlag*); for EpollSelector.
  absl::StatusOr<const Key*> RegisterWithFlags(FileObject fileobj, int events,
                                               Data data, int flags) {
    if (closed_) return Closed();
    if (absl::Status s = CheckEvents(events); !s.ok()) return s;
    const int fd = fileobj.fd();
    if (fd < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid file object: fd ", fd));
    }
    if (map_.map_.contains(fd)) {
      return absl::AlreadyExistsError(
          absl::StrCat("fd ", fd, " is already registered"));
    }
    if (fcntl(fd, F_GETFD) < 0 && errno == EBADF) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid file object: fd ", fd, " is not open"));
    }
    const uint32_t token = ++last_token_;
    if (absl::Status s = poller_->Add(fd, events, flags, token); !s.ok()) {
      return s;
    }
    auto entry = std::make_unique<Entry>(
        Entry{Key{fileobj, fd, events, std::move(data)}, flags, token});
    const Key* key = &entry->key;
    map_.map_.emplace(fd, std::move(entry));
    return key;
  }

  // Flags of a registration, for EpollSelector.
  absl::StatusOr<const Entry*> FindEntry(FileObject fileobj) const {
    if (closed_) return Closed();
    auto it = Find(fileobj);
    if (it == map_.map_.end()) return NotRegistered(fileobj);
    return it->second.get();
  }

  internal::Poller& poller() { return *poller_; }

 private:
  using MapIt = typename SelectorMap<Data>::Map::iterator;
  using ConstMapIt = typename SelectorMap<Data>::Map::const_iterator;

  static absl::Status Closed() { return ShutDownError("selector is closed"); }

  static absl::Status CheckEvents(int events) {
    if (events == 0 || (events & ~(kEventRead | kEventWrite)) != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid events: ", events,
                       " (want kEventRead, kEventWrite or both)"));
    }
    return absl::OkStatus();
  }

  static absl::Status NotRegistered(const FileObject& fileobj) {
    return absl::NotFoundError(
        absl::StrCat("fd ", fileobj.fd(), " is not registered"));
  }

  // By fd; an object whose fileno() is now -1 (closed) by identity.
  MapIt Find(const FileObject& fileobj) {
    auto& map = map_.map_;
    if (fileobj.fd() >= 0) return map.find(fileobj.fd());
    if (fileobj.identity() == nullptr) return map.end();
    for (auto it = map.begin(); it != map.end(); ++it) {
      if (it->second->key.fileobj.identity() == fileobj.identity()) return it;
    }
    return map.end();
  }
  ConstMapIt Find(const FileObject& fileobj) const {
    return const_cast<Selector*>(this)->Find(fileobj);
  }

  void Retire(MapIt it) {
    retired_.push_back(std::move(it->second));
    map_.map_.erase(it);
  }

  absl::Status RebuildKernelSet() {
    std::vector<internal::Registration> live;
    live.reserve(map_.map_.size());
    for (const auto& [fd, entry] : map_.map_) {
      live.push_back(internal::Registration{fd, entry->key.events, entry->flags,
                                            entry->token});
    }
    return poller_->Rebuild(live);
  }

  std::unique_ptr<internal::Poller> poller_;
  SelectorMap<Data> map_;
  // Keys unregistered or replaced since the last Select(); see class comment.
  std::vector<std::unique_ptr<Entry>> retired_;
  std::vector<internal::PollerEvent> raw_;  // reused by every Select()
  std::vector<Ready> ready_;                // reused by every Select()
  uint32_t last_token_ = 0;
  bool closed_ = false;
};

// The most efficient selector for this platform: an epoll one on Linux
// (otherwise poll). Errors: the kernel's, when it cannot create one (e.g.
// kResourceExhausted for EMFILE).
template <typename Data = std::any>
absl::StatusOr<std::unique_ptr<Selector<Data>>> DefaultSelector();

namespace internal {
// Grants DefaultSelector the protected constructor.
template <typename Data>
class DefaultSelectorImpl final : public Selector<Data> {
 public:
  explicit DefaultSelectorImpl(std::unique_ptr<Poller> poller)
      : Selector<Data>(std::move(poller)) {}
};
}  // namespace internal

template <typename Data>
absl::StatusOr<std::unique_ptr<Selector<Data>>> DefaultSelector() {
#ifdef __linux__
  absl::StatusOr<std::unique_ptr<internal::Poller>> poller =
      internal::NewEpollPoller();
#else
  absl::StatusOr<std::unique_ptr<internal::Poller>> poller =
      internal::NewPollPoller();
#endif
  if (!poller.ok()) return poller.status();
  return std::unique_ptr<Selector<Data>>(
      new internal::DefaultSelectorImpl<Data>(*std::move(poller)));
}

}  // namespace spindle::io

#endif  // SPINDLE_IO_SELECTORS_H_
