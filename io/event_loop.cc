// Copyright 2026 The spindle Authors.

#include "spindle/io/event_loop.h"

#include <fcntl.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "spindle/concurrency/status.h"
#include "spindle/io/selectors.h"

namespace spindle::io {
namespace internal {

// The callbacks of one fd. The selector key's data points here.
struct FdEntry {
  int fd = -1;
  bool removed = false;  // Retired: kept alive until the dispatch ends.
  std::unique_ptr<EventLoop::Callback> reader;
  std::unique_ptr<EventLoop::Callback> writer;
  int events() const {
    return (reader ? kEventRead : 0) | (writer ? kEventWrite : 0);
  }
};

}  // namespace internal

namespace {

// Signal routing: one loop per signal. The handler only touches atomics and
// the selector's async-signal-safe Wakeup().
constexpr int kMaxSignal = 65;
std::atomic<EventLoop*> g_signal_loop[kMaxSignal];
std::atomic<bool> g_signal_pending[kMaxSignal];
// Bit signo-1 set: g_signal_pending[signo] may be set. Per signal, not one
// "any" flag: with several loops, a loop that does not route a signal must
// not consume the flag of the loop that does (that lost Ctrl-C in
// multi-loop servers).
std::atomic<uint64_t> g_pending_mask{0};
constexpr uint64_t SignalBit(int signo) { return uint64_t{1} << (signo - 1); }
// The selector to wake for each signal, stored as the loop's Wakeup target.
std::atomic<Selector<internal::FdEntry*>*> g_signal_selector[kMaxSignal];
absl::Mutex g_signal_mu(absl::kConstInit);

}  // namespace

absl::StatusOr<std::unique_ptr<EventLoop>> EventLoop::Create() {
  absl::StatusOr<std::unique_ptr<Selector<internal::FdEntry*>>> sel =
      DefaultSelector<internal::FdEntry*>();
  if (!sel.ok()) return sel.status();
  return std::unique_ptr<EventLoop>(new EventLoop(*std::move(sel)));
}

EventLoop::EventLoop(std::unique_ptr<Selector<internal::FdEntry*>> selector)
    : selector_(std::move(selector)),
      ref_(std::make_shared<internal::LoopRef>(this)) {}

EventLoop::~EventLoop() {
  ref_->Reset();
  Close().IgnoreError();
}

bool internal::LoopRef::Post(absl::AnyInvocable<void()>& cb) {
  absl::MutexLock l(&mu_);
  return loop_ != nullptr && loop_->TryCallSoonThreadsafe(cb);
}

bool EventLoop::InLoopThread() const {
  return loop_thread_.load(std::memory_order_acquire) ==
         std::this_thread::get_id();
}

absl::Status EventLoop::AddCallback(int fd, int event, Callback cb) {
  if (IsClosed()) return ShutDownError("event loop is closed");
  if (fd < 0) {
    return absl::InvalidArgumentError(absl::StrCat("invalid fd ", fd));
  }
  auto it = fds_.find(fd);
  if (it == fds_.end()) {
    auto entry = std::make_unique<internal::FdEntry>();
    entry->fd = fd;
    internal::FdEntry* raw = entry.get();
    absl::StatusOr<const SelectorKey<internal::FdEntry*>*> key =
        selector_->Register(fd, event, raw);
    if (!key.ok()) return key.status();
    (event == kEventRead ? entry->reader : entry->writer) =
        std::make_unique<Callback>(std::move(cb));
    fds_.emplace(fd, std::move(entry));
    return absl::OkStatus();
  }
  internal::FdEntry* entry = it->second.get();
  std::unique_ptr<Callback>& slot =
      event == kEventRead ? entry->reader : entry->writer;
  if (slot != nullptr) {
    return absl::AlreadyExistsError(
        absl::StrCat("fd ", fd, " already has a ",
                     event == kEventRead ? "reader" : "writer"));
  }
  absl::StatusOr<const SelectorKey<internal::FdEntry*>*> key =
      selector_->Modify(fd, entry->events() | event, entry);
  if (!key.ok()) {
    // The selector dropped the registration (fd closed under us).
    if (entry->reader) retired_callbacks_.push_back(std::move(entry->reader));
    if (entry->writer) retired_callbacks_.push_back(std::move(entry->writer));
    it->second->removed = true;
    retired_fds_.push_back(std::move(it->second));
    fds_.erase(it);
    return key.status();
  }
  slot = std::make_unique<Callback>(std::move(cb));
  return absl::OkStatus();
}

bool EventLoop::RemoveCallback(int fd, int event) {
  if (IsClosed()) return false;
  auto it = fds_.find(fd);
  if (it == fds_.end()) return false;
  internal::FdEntry* entry = it->second.get();
  std::unique_ptr<Callback>& slot =
      event == kEventRead ? entry->reader : entry->writer;
  if (slot == nullptr) return false;
  // The callback may be the one running now: free it after dispatch.
  retired_callbacks_.push_back(std::move(slot));
  slot = nullptr;
  const int remaining = entry->events();
  if (remaining == 0) {
    selector_->Unregister(fd).IgnoreError();
    it->second->removed = true;
    retired_fds_.push_back(std::move(it->second));
    fds_.erase(it);
  } else if (!selector_->Modify(fd, remaining, entry).ok()) {
    // The fd was closed before its callbacks were removed; forget it.
    if (entry->reader) retired_callbacks_.push_back(std::move(entry->reader));
    if (entry->writer) retired_callbacks_.push_back(std::move(entry->writer));
    it->second->removed = true;
    retired_fds_.push_back(std::move(it->second));
    fds_.erase(it);
  }
  return true;
}

absl::Status EventLoop::AddReader(int fd, Callback cb) {
  return AddCallback(fd, kEventRead, std::move(cb));
}
bool EventLoop::RemoveReader(int fd) { return RemoveCallback(fd, kEventRead); }
absl::Status EventLoop::AddWriter(int fd, Callback cb) {
  return AddCallback(fd, kEventWrite, std::move(cb));
}
bool EventLoop::RemoveWriter(int fd) { return RemoveCallback(fd, kEventWrite); }

bool EventLoop::HasReader(int fd) const {
  auto it = fds_.find(fd);
  return it != fds_.end() && it->second->reader != nullptr;
}
bool EventLoop::HasWriter(int fd) const {
  auto it = fds_.find(fd);
  return it != fds_.end() && it->second->writer != nullptr;
}

Handle EventLoop::CallSoon(Callback cb) {
  auto state = std::make_shared<internal::HandleState>(std::move(cb), Time());
  if (!IsClosed()) ready_.push_back(state);
  return Handle(std::move(state));
}

Handle EventLoop::CallLater(absl::Duration delay, Callback cb) {
  return CallAt(Time() + delay, std::move(cb));
}

Handle EventLoop::CallAt(absl::Time when, Callback cb) {
  auto state = std::make_shared<internal::HandleState>(std::move(cb), when);
  if (!IsClosed()) {
    timers_.emplace_back(++timer_seq_, state);
    std::push_heap(timers_.begin(), timers_.end(), TimerOrder());
    if (timers_.size() >= purge_at_) PurgeCancelledTimers();
  }
  return Handle(std::move(state));
}

void EventLoop::PurgeCancelledTimers() {
  auto cancelled = [](const std::pair<uint64_t, HandlePtr>& t) {
    return t.second->cancelled.load(std::memory_order_acquire);
  };
  timers_.erase(std::remove_if(timers_.begin(), timers_.end(), cancelled),
                timers_.end());
  std::make_heap(timers_.begin(), timers_.end(), TimerOrder());
  // Amortised: the next purge waits until the heap doubles again.
  purge_at_ = std::max<size_t>(1024, timers_.size() * 2);
}

bool EventLoop::TryCallSoonThreadsafe(Callback& cb) {
  bool wake;
  {
    absl::MutexLock l(&mu_);
    if (mu_closed_) return false;
    wake = threadsafe_.empty();
    threadsafe_.push_back(std::move(cb));
    has_threadsafe_.store(true, std::memory_order_release);
  }
  // Only the call that made the list non-empty wakes the loop: the loop
  // drains the whole list after every wake-up.
  if (wake) selector_->Wakeup().IgnoreError();
  return true;
}

absl::Status EventLoop::CallSoonThreadsafe(Callback cb) {
  if (!TryCallSoonThreadsafe(cb)) return ShutDownError("event loop is closed");
  return absl::OkStatus();
}

void EventLoop::Stop() {
  stop_requested_.store(true, std::memory_order_release);
  // Wake a blocked Select. Safe against Close (the eventfd outlives it).
  selector_->Wakeup().IgnoreError();
}

void EventLoop::DrainThreadsafe() {
  if (!has_threadsafe_.load(std::memory_order_acquire)) return;
  std::vector<Callback> batch;
  {
    absl::MutexLock l(&mu_);
    batch.swap(threadsafe_);
    has_threadsafe_.store(false, std::memory_order_relaxed);
  }
  const absl::Time now = Time();
  for (Callback& cb : batch) {
    ready_.push_back(
        std::make_shared<internal::HandleState>(std::move(cb), now));
  }
}

void EventLoop::DispatchSignals() {
  const uint64_t mask = g_pending_mask.load(std::memory_order_acquire);
  if (mask == 0) return;
  for (int signo = 1; signo < kMaxSignal; ++signo) {
    if ((mask & SignalBit(signo)) == 0) continue;
    if (g_signal_loop[signo].load(std::memory_order_acquire) != this) continue;
    // Clear the bit before taking the flag: a signal arriving in between
    // sets both again and is seen now or at the next iteration.
    g_pending_mask.fetch_and(~SignalBit(signo), std::memory_order_acq_rel);
    if (!g_signal_pending[signo].exchange(false)) continue;
    ready_.push_back(std::make_shared<internal::HandleState>(
        [this, signo] {
          auto it = signal_callbacks_.find(signo);
          if (it != signal_callbacks_.end() && it->second) it->second();
        },
        Time()));
  }
}

absl::Status EventLoop::RunOnce() {
  // 1. How long may we wait?
  std::optional<absl::Duration> timeout;  // nullopt: no limit.
  while (!timers_.empty() &&
         timers_.front().second->cancelled.load(std::memory_order_acquire)) {
    std::pop_heap(timers_.begin(), timers_.end(), TimerOrder());
    timers_.pop_back();
  }
  if (!ready_.empty() || stop_requested_.load(std::memory_order_acquire) ||
      has_threadsafe_.load(std::memory_order_acquire)) {
    timeout = absl::ZeroDuration();
  } else if (!timers_.empty()) {
    timeout =
        std::max(absl::ZeroDuration(), timers_.front().second->when - Time());
  }

  // 2. Wait, then run the fd callbacks.
  absl::StatusOr<absl::Span<const Selector<internal::FdEntry*>::Ready>> ready =
      selector_->Select(timeout);
  if (!ready.ok()) return ready.status();
  for (const auto& [key, mask] : *ready) {
    // Entries removed by an earlier callback of this batch stay allocated
    // (retired) until the batch ends, so `removed` can be read safely.
    internal::FdEntry* entry = key->data;
    if (entry->removed) continue;
    if ((mask & kEventRead) && entry->reader) {
      (*entry->reader)();
      if (entry->removed) continue;
    }
    if ((mask & kEventWrite) && entry->writer) (*entry->writer)();
  }
  retired_callbacks_.clear();
  retired_fds_.clear();

  // 3. Collect due timers, threadsafe callbacks and signals.
  const absl::Time now = timers_.empty() ? absl::InfinitePast() : Time();
  while (!timers_.empty() && timers_.front().second->when <= now) {
    std::pop_heap(timers_.begin(), timers_.end(), TimerOrder());
    HandlePtr h = std::move(timers_.back().second);
    timers_.pop_back();
    if (!h->cancelled.load(std::memory_order_acquire)) {
      ready_.push_back(std::move(h));
    }
  }
  DrainThreadsafe();
  DispatchSignals();

  // 4. Run what is ready now; what they schedule waits for the next round.
  for (size_t n = ready_.size(); n > 0 && !ready_.empty(); --n) {
    HandlePtr h = std::move(ready_.front());
    ready_.pop_front();
    if (h->cancelled.load(std::memory_order_acquire) || !h->fn) continue;
    h->running = true;
    struct Reset {
      internal::HandleState* s;
      ~Reset() {
        s->running = false;
        s->fn = nullptr;  // Release captures now.
      }
    } reset{h.get()};
    h->fn();
  }
  retired_callbacks_.clear();
  retired_fds_.clear();
  return absl::OkStatus();
}

absl::Status EventLoop::Run(const FutureBase* until) {
  if (IsClosed()) return ShutDownError("event loop is closed");
  if (running_.exchange(true, std::memory_order_acq_rel)) {
    return absl::FailedPreconditionError("event loop is already running");
  }
  loop_thread_.store(std::this_thread::get_id(), std::memory_order_release);
  struct Done {
    EventLoop* loop;
    ~Done() {
      loop->stop_requested_.store(false, std::memory_order_relaxed);
      loop->loop_thread_.store(std::thread::id(), std::memory_order_release);
      loop->running_.store(false, std::memory_order_release);
    }
  } done{this};
  for (;;) {
    if (until != nullptr && until->done()) return absl::OkStatus();
    absl::Status s = RunOnce();
    if (!s.ok()) return s;
    if (stop_requested_.load(std::memory_order_acquire)) {
      if (until != nullptr && !until->done()) {
        return BrokenError("event loop stopped before future completed");
      }
      return absl::OkStatus();
    }
  }
}

absl::Status EventLoop::RunForever() { return Run(nullptr); }

absl::Status EventLoop::AddSignalHandler(int signo, Callback cb) {
  if (IsClosed()) return ShutDownError("event loop is closed");
  if (signo <= 0 || signo >= kMaxSignal || signo == SIGKILL ||
      signo == SIGSTOP) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot route signal ", signo));
  }
  absl::MutexLock l(&g_signal_mu);
  EventLoop* owner = g_signal_loop[signo].load();
  if (owner != nullptr && owner != this) {
    return absl::AlreadyExistsError(
        absl::StrCat("signal ", signo, " is routed to another loop"));
  }
  signal_callbacks_[signo] = std::move(cb);
  if (owner == this) return absl::OkStatus();
  g_signal_selector[signo].store(selector_.get());
  g_signal_loop[signo].store(this);
  struct sigaction sa;
  std::memset(&sa, 0, sizeof(sa));
  sa.sa_handler = &EventLoop::OnSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  struct sigaction old;
  if (sigaction(signo, &sa, &old) != 0) {
    const int err = errno;
    g_signal_loop[signo].store(nullptr);
    signal_callbacks_.erase(signo);
    return ErrnoError(err, "sigaction");
  }
  old_actions_.emplace_back(signo, old);
  return absl::OkStatus();
}

bool EventLoop::RemoveSignalHandler(int signo) {
  if (signo <= 0 || signo >= kMaxSignal) return false;
  absl::MutexLock l(&g_signal_mu);
  if (g_signal_loop[signo].load() != this) return false;
  for (auto it = old_actions_.begin(); it != old_actions_.end(); ++it) {
    if (it->first == signo) {
      sigaction(signo, &it->second, nullptr);
      old_actions_.erase(it);
      break;
    }
  }
  g_signal_loop[signo].store(nullptr);
  g_signal_selector[signo].store(nullptr);
  g_signal_pending[signo].store(false);
  g_pending_mask.fetch_and(~SignalBit(signo));
  signal_callbacks_.erase(signo);
  return true;
}

void EventLoop::OnSignal(int signo) {
  const int saved_errno = errno;
  if (signo > 0 && signo < kMaxSignal) {
    g_signal_pending[signo].store(true, std::memory_order_release);
    g_pending_mask.fetch_or(SignalBit(signo), std::memory_order_release);
    if (Selector<internal::FdEntry*>* sel = g_signal_selector[signo].load()) {
      sel->Wakeup().IgnoreError();
    }
  }
  errno = saved_errno;
}

absl::Status EventLoop::Close() {
  if (IsRunning()) {
    return absl::FailedPreconditionError("cannot close a running event loop");
  }
  if (closed_.exchange(true)) return absl::OkStatus();
  for (int signo = 1; signo < kMaxSignal; ++signo) RemoveSignalHandler(signo);
  std::vector<Callback> dropped;
  {
    absl::MutexLock l(&mu_);
    mu_closed_ = true;
    dropped.swap(threadsafe_);
  }
  dropped.clear();
  ready_.clear();
  timers_.clear();
  selector_->Close();
  fds_.clear();
  retired_callbacks_.clear();
  retired_fds_.clear();
  return absl::OkStatus();
}

}  // namespace spindle::io
