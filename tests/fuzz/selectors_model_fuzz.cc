// Copyright 2026 The spindle Authors.
//
// Fuzz target: the selectors (io/selectors.h and its epoll, poll and select
// backends) against a model, on a few socketpairs. Every call is checked
// against what the headers document - each result's status code, each key's
// fd, events and data, and the exact ready set of Select() with a zero (or
// negative) timeout - while the fuzzer registers, modifies and unregisters
// fds, writes and reads bytes (a round trip: the bytes read are the bytes
// written), shuts a peer down, closes registered fds (the documented
// backend differences: epoll drops them, poll reports them as both events,
// select fails with EBADF), dups and reuses fd numbers, calls Wakeup(), and
// closes the selector (every call after it fails with kFailedPrecondition).
// For epoll the model keeps the kernel's interest list - interests keyed by
// (fd number, open file), dropped when the file's last descriptor closes,
// one-shot ones disarmed when reported - so a closed-but-duplicated fd, a
// stale interest and its purge are all checked exactly too. At the end of
// each input every descriptor opened for it must be closed again.
//
// Input: byte 0 chooses the selector (0 DefaultSelector, 1 EpollSelector,
// 2 PollSelector, 3 SelectSelector). Then operations, each an opcode byte
// and its argument bytes (missing bytes read as 0): see Op below. Slots 0-7
// are four socketpairs (slot s's peer is s ^ 1), slots 8-9 hold dups; a
// target byte names a slot's last fd number (open or not), -1, or an fd that
// is not open (1000, or 5000 >= FD_SETSIZE). Writes stay small (the peer
// reads at most ~64 bytes behind), so a socket is always writable.

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "spindle/io/epoll_selector.h"
#include "spindle/io/poll_selector.h"
#include "spindle/io/select_selector.h"
#include "spindle/io/selectors.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

using spindle::io::EpollOptions;
using spindle::io::EpollSelector;
using spindle::io::kEventRead;
using spindle::io::kEventWrite;
using spindle::io::PollSelector;
using spindle::io::Selector;
using spindle::io::SelectSelector;
using Key = spindle::io::SelectorKey<int>;

constexpr int kPairSlots = 8;
constexpr int kSlots = 10;
// Our descriptors live at or above this number, so that the selector's own
// (its epoll fd is replaced by a purge) never take one of their numbers.
constexpr int kFdBase = 200;
constexpr int kFdEnd = 240;  // Checked for leaks: [kFdBase, kFdEnd).
constexpr int kLowFds = 64;  // Checked for leaks: [0, kLowFds).
constexpr int kNotOpen = 1000;
constexpr int kTooHigh = 5000;

enum Kind { kDefault, kEpoll, kPoll, kSelectKind };

enum Op {
  kRegister,    // target, events, data, options (epoll: bit 0 one-shot)
  kModify,      // target, events, data
  kUnregister,  // target
  kGetKey,      // target
  kSelect,      // timeout (bit 0: zero or -1 ms)
  kWrite,       // slot, length (1-16)
  kRead,        // slot, length (1-32)
  kShutdown,    // slot (SHUT_WR)
  kCloseFd,     // slot
  kReopen,      // pair (a new socketpair where both ends are closed)
  kDup,         // slot (into slot 8 or 9, whichever is free)
  kGetMap,      //
  kWakeup,      //
  kClose,       // guard (closes the selector when guard % 8 == 0)
  kRearm,       // target (EpollSelector only)
  kNumOps
};

// SPINDLE_FUZZ_TRACE=1 prints each operation as it runs.
const bool kTrace = std::getenv("SPINDLE_FUZZ_TRACE") != nullptr;

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "selectors_model_fuzz: %s\n", what.c_str());
  std::abort();
}

// Fails with `what` (evaluated only then) unless `ok`.
#define CHECK_THAT(ok, what) \
  do {                       \
    if (!(ok)) Fail(what);   \
  } while (0)

using Reader = ::spindle::fuzz::ByteReader;

// One open file description (a socket of a pair).
struct File {
  int peer;
  int refs = 1;            // Open descriptors for it.
  bool shut_wr = false;    // shutdown(SHUT_WR) was called on it.
  std::string inbox;       // Written by the peer, not yet read.
  int pending_writes = 0;  // Sends since inbox was last empty.
  // The peer was closed with unread input: the next read (once the inbox
  // is empty) fails with ECONNRESET (Linux's AF_UNIX sk_err).
  bool reset = false;
};

// A registration in the model selector.
struct Reg {
  int events;
  int data;
  uint64_t serial;  // Which Register made it (Modify keeps it).
  bool one_shot = false;
  bool disarmed = false;       // One-shot: reported since last armed.
  bool out_of_kernel = false;  // One-shot: left out of a rebuilt set.
};

// An interest in the model epoll instance, keyed by (fd number, file).
struct Interest {
  int events;
  uint64_t serial;
  bool one_shot;
  bool armed = true;
};

class Model {
 public:
  std::vector<File> files;
  std::map<int, int> open;                         // fd number -> file
  std::map<int, Reg> regs;                         // fd number -> registration
  std::map<std::pair<int, int>, Interest> kernel;  // epoll only
  bool closed = false;

  bool Readable(int f) const {
    const File& p = files[files[f].peer];
    return !files[f].inbox.empty() || p.shut_wr || p.refs == 0;
  }
  int Ready(int f, int events) const {
    return ((Readable(f) ? kEventRead : 0) | kEventWrite) & events;
  }
  std::optional<int> FileAt(int fd) const {
    auto it = open.find(fd);
    if (it == open.end()) return std::nullopt;
    return it->second;
  }

  // The model kernel's epoll_ctl; returns the errno, 0 on success.
  int EpollAdd(int fd, const Reg& r) {
    const std::optional<int> f = FileAt(fd);
    if (!f) return EBADF;
    if (kernel.contains({fd, *f})) return EEXIST;
    kernel[{fd, *f}] = Interest{r.events, r.serial, r.one_shot};
    return 0;
  }
  int EpollMod(int fd, const Reg& r) {
    const std::optional<int> f = FileAt(fd);
    if (!f) return EBADF;
    auto it = kernel.find({fd, *f});
    if (it == kernel.end()) return ENOENT;
    it->second = Interest{r.events, r.serial, r.one_shot};
    return 0;
  }
  void EpollDel(int fd) {
    if (const std::optional<int> f = FileAt(fd)) kernel.erase({fd, *f});
  }
  // The last descriptor of file f was closed.
  void FileGone(int f) {
    for (auto it = kernel.begin(); it != kernel.end();) {
      it = it->first.second == f ? kernel.erase(it) : std::next(it);
    }
  }
};

absl::StatusCode CodeOf(int err) { return absl::ErrnoToStatus(err, "").code(); }

std::string Name(absl::StatusCode c) { return absl::StatusCodeToString(c); }

class Run {
 public:
  Run(Kind kind, Reader& in) : kind_(kind), in_(in) {}

  void Go() {
    Setup();
    int n = 0;
    while (!in_.empty() && n < 400) Step(n++);
    Teardown();
  }

 private:
  void Setup() {
    low_fds_ = OpenFds(0, kLowFds);
    switch (kind_) {
      case kDefault:
        sel_ = Must(spindle::io::DefaultSelector<int>());
        break;
      case kEpoll: {
        auto e = Must(EpollSelector<int>::Create());
        epoll_ = e.get();
        sel_ = std::move(e);
        break;
      }
      case kPoll:
        sel_ = Must(PollSelector<int>::Create());
        break;
      case kSelectKind:
        sel_ = Must(SelectSelector<int>::Create());
        break;
    }
    CHECK_THAT(sel_->backend() == (kind_ == kPoll         ? "poll"
                                   : kind_ == kSelectKind ? "select"
                                                          : "epoll"),
               "backend() names the wrong kind");
    for (int s = 0; s < kSlots; ++s) slot_fd_[s] = -1;
    for (int p = 0; p < kPairSlots / 2; ++p) NewPair(p);
  }

  template <typename T>
  static T Must(absl::StatusOr<T> v) {
    if (!v.ok()) Fail("cannot create a selector: " + v.status().ToString());
    return *std::move(v);
  }

  static int High(int fd) {
    const int high = fcntl(fd, F_DUPFD_CLOEXEC, kFdBase);
    if (high < 0 || high >= kFdEnd) Fail(absl::StrCat("F_DUPFD gave ", high));
    close(fd);
    return high;
  }

  void NewPair(int p) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
      Fail(absl::StrCat("socketpair: errno ", errno));
    }
    const int f = static_cast<int>(m_.files.size());
    m_.files.push_back(File{.peer = f + 1, .inbox = {}});
    m_.files.push_back(File{.peer = f, .inbox = {}});
    for (int i = 0; i < 2; ++i) {
      const int fd = High(sv[i]);
      slot_fd_[2 * p + i] = fd;
      slot_open_[2 * p + i] = true;
      m_.open[fd] = f + i;
    }
  }

  static std::vector<bool> OpenFds(int from, int to) {
    std::vector<bool> v;
    for (int fd = from; fd < to; ++fd) v.push_back(fcntl(fd, F_GETFD) >= 0);
    return v;
  }

  void Teardown() {
    sel_.reset();
    for (int s = 0; s < kSlots; ++s) {
      if (slot_open_[s]) close(slot_fd_[s]);
    }
    CHECK_THAT(OpenFds(0, kLowFds) == low_fds_,
               "a descriptor below 64 was leaked or closed by the selector");
    const std::vector<bool> high = OpenFds(kFdBase, kFdEnd);
    for (int i = 0; i < kFdEnd - kFdBase; ++i) {
      CHECK_THAT(!high[i], absl::StrCat("fd ", kFdBase + i, " leaked"));
    }
  }

  // A target fd from a byte (see the file comment).
  int Target() {
    const int t = in_.Byte() % 16;
    if (t == 10) return -1;
    if (t == 11) return kNotOpen;
    if (t == 12) return kTooHigh;
    return slot_fd_[t % kSlots];
  }

  static int Events(uint8_t b) { return b % 8; }  // 0, 4-7 are invalid.
  static bool ValidEvents(int e) { return e == 1 || e == 2 || e == 3; }

  void Expect(const absl::Status& s, absl::StatusCode want,
              const std::string& what) {
    if (s.code() != want) {
      Fail(absl::StrCat(what, ": expected ", Name(want), ", got ",
                        s.ToString()));
    }
  }

  void CheckKey(const Key* key, int fd, const Reg& r, const std::string& what) {
    CHECK_THAT(key != nullptr, what + ": null key");
    CHECK_THAT(key->fd == fd && key->fileobj.fd() == fd,
               absl::StrCat(what, ": key fd ", key->fd, ", want ", fd));
    CHECK_THAT(
        key->events == r.events && key->data == r.data,
        absl::StrCat(what, ": key (events ", key->events, ", data ", key->data,
                     "), want (", r.events, ", ", r.data, ")"));
  }

  // What Register/Modify/Unregister/GetKey fail with before any backend
  // call, in the documented order; OK when they get that far.
  absl::StatusCode Precheck(int fd, std::optional<int> events,
                            bool must_exist) const {
    if (m_.closed) return absl::StatusCode::kFailedPrecondition;
    if (events && !ValidEvents(*events)) {
      return absl::StatusCode::kInvalidArgument;
    }
    if (must_exist) {
      return m_.regs.contains(fd) ? absl::StatusCode::kOk
                                  : absl::StatusCode::kNotFound;
    }
    if (fd < 0) return absl::StatusCode::kInvalidArgument;
    if (m_.regs.contains(fd)) return absl::StatusCode::kAlreadyExists;
    if (!m_.FileAt(fd)) return absl::StatusCode::kInvalidArgument;
    return absl::StatusCode::kOk;
  }

  bool IsEpoll() const { return kind_ == kDefault || kind_ == kEpoll; }

  // The backend side of removing a registration (Selector's Remove+Retire).
  void ModelRemove(int fd) {
    const Reg& r = m_.regs.at(fd);
    if (IsEpoll() && !r.out_of_kernel) m_.EpollDel(fd);
    m_.regs.erase(fd);
  }

  // The backend call of Modify/Rearm for a registration that needs one;
  // returns the expected error code (the registration is then removed).
  absl::StatusCode ModelRearm(int fd, Reg& r) {
    int err = 0;
    if (r.one_shot && r.out_of_kernel) {
      r.disarmed = false;
      err = m_.EpollAdd(fd, r);
      if (err == 0) r.out_of_kernel = false;
    } else {
      if (r.one_shot) r.disarmed = false;
      err = m_.EpollMod(fd, r);
    }
    if (err == 0) return absl::StatusCode::kOk;
    ModelRemove(fd);
    return CodeOf(err);
  }

  void Step(int n) {
    const int op = in_.Byte() % kNumOps;
    const std::string at = absl::StrCat("op #", n, " ");
    if (kTrace) std::fprintf(stderr, "%sop %d\n", at.c_str(), op);
    switch (op) {
      case kRegister: {
        const int fd = Target();
        const int events = Events(in_.Byte());
        const int data = in_.Byte();
        const bool one_shot = kind_ == kEpoll && (in_.Byte() & 1);
        const std::string what =
            absl::StrCat(at, "Register(fd ", fd, ", events ", events,
                         one_shot ? ", one-shot" : "", ")");
        absl::StatusCode want = Precheck(fd, events, false);
        Reg r{events, data, ++serial_, one_shot};
        if (want == absl::StatusCode::kOk && IsEpoll()) {
          want = CodeOf(m_.EpollAdd(fd, r));
        }
        absl::StatusOr<const Key*> key =
            one_shot ? epoll_->Register(fd, events, data,
                                        EpollOptions{.one_shot = true})
                     : sel_->Register(fd, events, data);
        Expect(key.status(), want, what);
        if (key.ok()) {
          m_.regs[fd] = r;
          CheckKey(*key, fd, r, what);
        }
        break;
      }
      case kModify: {
        const int fd = Target();
        const int events = Events(in_.Byte());
        const int data = in_.Byte();
        const std::string what =
            absl::StrCat(at, "Modify(fd ", fd, ", events ", events, ")");
        absl::StatusCode want = Precheck(fd, events, true);
        if (want == absl::StatusCode::kOk) {
          Reg& r = m_.regs.at(fd);
          const bool call = events != r.events || r.one_shot;
          r.events = events;
          r.data = data;
          if (IsEpoll() && call) want = ModelRearm(fd, r);
        }
        absl::StatusOr<const Key*> key = sel_->Modify(fd, events, data);
        Expect(key.status(), want, what);
        if (key.ok()) CheckKey(*key, fd, m_.regs.at(fd), what);
        break;
      }
      case kUnregister: {
        const int fd = Target();
        const absl::StatusCode want = Precheck(fd, std::nullopt, true);
        if (want == absl::StatusCode::kOk) ModelRemove(fd);
        Expect(sel_->Unregister(fd), want,
               absl::StrCat(at, "Unregister(fd ", fd, ")"));
        break;
      }
      case kGetKey: {
        const int fd = Target();
        const std::string what = absl::StrCat(at, "GetKey(fd ", fd, ")");
        absl::StatusOr<const Key*> key = sel_->GetKey(fd);
        Expect(key.status(), Precheck(fd, std::nullopt, true), what);
        if (key.ok()) CheckKey(*key, fd, m_.regs.at(fd), what);
        break;
      }
      case kSelect:
        DoSelect(at, (in_.Byte() & 1) ? absl::Milliseconds(-1)
                                      : absl::ZeroDuration());
        break;
      case kWrite: {
        const int s = in_.Byte() % kSlots;
        const size_t len = 1 + in_.Byte() % 16;
        if (!slot_open_[s]) break;
        const int f = m_.open.at(slot_fd_[s]);
        File& p = m_.files[m_.files[f].peer];
        if (p.inbox.size() >= 64 || p.pending_writes >= 16) break;
        std::string bytes;
        for (size_t i = 0; i < len; ++i) {
          bytes.push_back(static_cast<char>(next_byte_++));
        }
        const ssize_t got =
            send(slot_fd_[s], bytes.data(), len, MSG_NOSIGNAL | MSG_DONTWAIT);
        const std::string what =
            absl::StrCat(at, "send(fd ", slot_fd_[s], ", ", len, ") = ", got);
        if (m_.files[f].shut_wr || p.refs == 0) {
          // A pending reset may be reported here instead (and is consumed).
          const bool reset =
              m_.files[f].reset && got < 0 && errno == ECONNRESET;
          CHECK_THAT(got < 0 && (errno == EPIPE || reset),
                     what + ", want EPIPE");
          if (reset) m_.files[f].reset = false;
        } else {
          CHECK_THAT(got == static_cast<ssize_t>(len),
                     absl::StrCat(what, " (errno ", errno, "), want all"));
          p.inbox += bytes;
          ++p.pending_writes;
        }
        break;
      }
      case kRead: {
        const int s = in_.Byte() % kSlots;
        const size_t len = 1 + in_.Byte() % 32;
        if (!slot_open_[s]) break;
        File& f = m_.files[m_.open.at(slot_fd_[s])];
        char buf[32];
        const ssize_t got = recv(slot_fd_[s], buf, len, MSG_DONTWAIT);
        const std::string what =
            absl::StrCat(at, "recv(fd ", slot_fd_[s], ", ", len, ") = ", got);
        if (!f.inbox.empty()) {
          const size_t want = std::min(len, f.inbox.size());
          CHECK_THAT(got == static_cast<ssize_t>(want),
                     absl::StrCat(what, ", want ", want));
          CHECK_THAT(f.inbox.compare(0, want, buf, want) == 0,
                     what + ": not the bytes written");
          f.inbox.erase(0, want);
          if (f.inbox.empty()) f.pending_writes = 0;
        } else if (f.reset) {
          CHECK_THAT(got < 0 && errno == ECONNRESET,
                     what + ", want ECONNRESET");
          f.reset = false;
        } else if (m_.Readable(m_.open.at(slot_fd_[s]))) {
          CHECK_THAT(got == 0, what + ", want 0 (end of stream)");
        } else {
          CHECK_THAT(got < 0 && errno == EAGAIN, what + ", want EAGAIN");
        }
        break;
      }
      case kShutdown: {
        const int s = in_.Byte() % kSlots;
        if (!slot_open_[s]) break;
        CHECK_THAT(shutdown(slot_fd_[s], SHUT_WR) == 0, at + "shutdown failed");
        m_.files[m_.open.at(slot_fd_[s])].shut_wr = true;
        break;
      }
      case kCloseFd: {
        const int s = in_.Byte() % kSlots;
        if (!slot_open_[s]) break;
        const int fd = slot_fd_[s];
        close(fd);
        slot_open_[s] = false;
        const int f = m_.open.at(fd);
        m_.open.erase(fd);
        if (--m_.files[f].refs == 0) {
          if (!m_.files[f].inbox.empty()) {
            m_.files[m_.files[f].peer].reset = true;
          }
          m_.files[f].inbox.clear();
          m_.FileGone(f);
        }
        break;
      }
      case kReopen: {
        const int p = in_.Byte() % (kPairSlots / 2);
        if (slot_open_[2 * p] || slot_open_[2 * p + 1]) break;
        NewPair(p);
        break;
      }
      case kDup: {
        const int s = in_.Byte() % kSlots;
        const int d = !slot_open_[8] ? 8 : !slot_open_[9] ? 9 : -1;
        if (!slot_open_[s] || d < 0) break;
        const int fd = fcntl(slot_fd_[s], F_DUPFD_CLOEXEC, kFdBase);
        CHECK_THAT(fd >= kFdBase && fd < kFdEnd, at + "dup failed");
        const int f = m_.open.at(slot_fd_[s]);
        ++m_.files[f].refs;
        m_.open[fd] = f;
        slot_fd_[d] = fd;
        slot_open_[d] = true;
        break;
      }
      case kGetMap:
        CheckMap(at + "GetMap");
        break;
      case kWakeup:
        Expect(sel_->Wakeup(),
               m_.closed ? absl::StatusCode::kFailedPrecondition
                         : absl::StatusCode::kOk,
               at + "Wakeup");
        break;
      case kClose:
        if (in_.Byte() % 8 != 0) break;
        sel_->Close();
        m_.closed = true;
        m_.regs.clear();
        m_.kernel.clear();
        CHECK_THAT(sel_->closed(), at + "closed() is false after Close()");
        CheckMap(at + "GetMap after Close");
        break;
      case kRearm: {
        const int fd = Target();
        if (kind_ != kEpoll) break;
        absl::StatusCode want = Precheck(fd, std::nullopt, true);
        if (want == absl::StatusCode::kOk) want = ModelRearm(fd, m_.regs[fd]);
        Expect(epoll_->Rearm(fd), want, absl::StrCat(at, "Rearm(fd ", fd, ")"));
        break;
      }
    }
  }

  void CheckMap(const std::string& what) {
    const spindle::io::SelectorMap<int>& map = sel_->GetMap();
    CHECK_THAT(
        map.size() == m_.regs.size(),
        absl::StrCat(what, ": size ", map.size(), ", want ", m_.regs.size()));
    size_t seen = 0;
    for (const Key& key : map) {
      ++seen;
      auto it = m_.regs.find(key.fd);
      CHECK_THAT(it != m_.regs.end(),
                 absl::StrCat(what, ": fd ", key.fd, " is not registered"));
      CheckKey(&key, key.fd, it->second, what);
      CHECK_THAT(map.contains(key.fd) && map.Get(key.fd) == &key,
                 what + ": Get() disagrees with iteration");
    }
    CHECK_THAT(seen == m_.regs.size(), what + ": iteration count");
  }

  // Select's expected ready set: fd -> events.
  absl::StatusOr<std::map<int, int>> ModelSelect() {
    std::map<int, int> ready;
    if (m_.closed) return absl::FailedPreconditionError("closed");
    if (!IsEpoll()) {
      for (const auto& [fd, r] : m_.regs) {
        const std::optional<int> f = m_.FileAt(fd);
        if (!f && kind_ == kSelectKind)
          return absl::FailedPreconditionError("EBADF");
        const int mask = f ? m_.Ready(*f, r.events) : r.events;  // POLLNVAL
        if (mask != 0) ready[fd] = mask;
      }
      return ready;
    }
    bool stale = false;
    for (auto& [where, interest] : m_.kernel) {
      const auto [fd, f] = where;
      if (!interest.armed || m_.Ready(f, interest.events) == 0) continue;
      if (interest.one_shot) interest.armed = false;
      auto it = m_.regs.find(fd);
      if (it == m_.regs.end() || it->second.serial != interest.serial) {
        stale = true;
        continue;
      }
      if (it->second.one_shot) it->second.disarmed = true;
      ready[fd] = m_.Ready(f, it->second.events);
    }
    if (stale) {  // The purge: a fresh epoll instance with the live ones.
      m_.kernel.clear();
      for (auto& [fd, r] : m_.regs) {
        if (r.one_shot && r.disarmed) {
          r.out_of_kernel = true;
          continue;
        }
        r.out_of_kernel = false;
        m_.EpollAdd(fd, r);  // Fails (ignored) for closed fds.
      }
    }
    return ready;
  }

  void DoSelect(const std::string& at, absl::Duration timeout) {
    const std::string what =
        absl::StrCat(at, "Select(", absl::FormatDuration(timeout), ")");
    absl::StatusOr<std::map<int, int>> want = ModelSelect();
    absl::StatusOr<absl::Span<const spindle::io::ReadyEvent<int>>> got =
        sel_->Select(timeout);
    Expect(got.status(), want.status().code(), what);
    if (!got.ok()) return;
    std::map<int, int> ready;
    for (const auto& [key, mask] : *got) {
      CHECK_THAT(key != nullptr, what + ": null key");
      CHECK_THAT(!ready.contains(key->fd),
                 absl::StrCat(what, ": fd ", key->fd, " reported twice"));
      auto it = m_.regs.find(key->fd);
      CHECK_THAT(it != m_.regs.end(),
                 absl::StrCat(what, ": fd ", key->fd, " is not registered"));
      CheckKey(key, key->fd, it->second, what);
      ready[key->fd] = mask;
    }
    if (ready != *want) {
      std::string diff;
      for (const auto& [fd, mask] : ready) {
        absl::StrAppend(&diff, " got ", fd, ":", mask);
      }
      for (const auto& [fd, mask] : *want) {
        absl::StrAppend(&diff, " want ", fd, ":", mask);
      }
      Fail(absl::StrCat(what, ": ready set differs:", diff));
    }
  }

  const Kind kind_;
  Reader& in_;
  Model m_;
  std::unique_ptr<Selector<int>> sel_;
  EpollSelector<int>* epoll_ = nullptr;
  int slot_fd_[kSlots];
  bool slot_open_[kSlots] = {};
  uint64_t serial_ = 0;
  uint8_t next_byte_ = 0;
  std::vector<bool> low_fds_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  Reader in(data, size);
  Run(static_cast<Kind>(in.Byte() % 4), in).Go();
  return 0;
}
