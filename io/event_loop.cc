// Copyright 2026 The spindle Authors.

#include "spindle/io/event_loop.h"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "spindle/concurrency/internal/perturb.h"
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

// Signal routing: one loop per signal, in a table of slots that needs no
// lock. The OS handler (OnSignal) touches only atomics and the
// routing loop's selector (its async-signal-safe Wakeup()); the slot's
// `handlers` count makes RemoveSignalHandler wait until no handler can still
// be using that selector, so the loop may then be destroyed.
constexpr int kMaxSignal = 65;

struct SignalSlot {
  // The loop routing the signal, or null. Taken by AddSignalHandler with a
  // compare-and-swap, given back (only) by its owner's RemoveSignalHandler,
  // so that Add and Remove of one signal never overlap without a lock.
  std::atomic<EventLoop*> loop{nullptr};
  // The selector the OS handler wakes: the owner's, or null when none.
  std::atomic<Selector<internal::FdEntry*>*> selector{nullptr};
  // OS handlers that may have read `selector` and are not done with it.
  std::atomic<int> handlers{0};
  // Set by the OS handler, taken by the owner's DispatchSignals.
  std::atomic<bool> pending{false};
  // The disposition our handler replaced, read by each owner before it
  // installs ours and restored by its RemoveSignalHandler; also restored in
  // a forked child that has our handler installed. Only an owner writes it.
  // Between owners it keeps the value last restored, which is what the next
  // owner reads again, so it is right for a fork at any moment.
  struct sigaction old;
  // `old` has been read at least once (set before ours is first installed).
  std::atomic<bool> old_valid{false};
};

SignalSlot g_signal_slots[kMaxSignal];
// Bit signo-1 set: slot signo's `pending` may be set. Per signal, not one
// "any" flag: with several loops, a loop that does not route a signal must
// not consume the flag of the loop that does (that lost Ctrl-C in
// multi-loop servers).
std::atomic<uint64_t> g_pending_mask{0};
constexpr uint64_t SignalBit(int signo) { return uint64_t{1} << (signo - 1); }

// Waits until no OS handler is using slot's selector. Called after the
// selector was unpublished (and, except on a failed Add, after our handler
// was uninstalled), so no new handler can pick it up: only handlers already
// past their load are waited for, and they do not block.
void AwaitSignalHandlers(SignalSlot& slot) {
  while (slot.handlers.load(std::memory_order_acquire) != 0) {
    sched_yield();
  }
}

// The OS-level handler of every routed signal.
void OnSignal(int signo) {
  // Async-signal-safe: atomics, and a Wakeup() that neither locks nor
  // allocates. Never touches a selector after its loop's RemoveSignalHandler
  // returned: the count below is what that call waits for.
  const int saved_errno = errno;
  if (signo > 0 && signo < kMaxSignal) {
    SignalSlot& slot = g_signal_slots[signo];
    slot.pending.store(true, std::memory_order_release);
    g_pending_mask.fetch_or(SignalBit(signo), std::memory_order_release);
    slot.handlers.fetch_add(1, std::memory_order_seq_cst);
    if (Selector<internal::FdEntry*>* sel =
            slot.selector.load(std::memory_order_seq_cst)) {
      sel->Wakeup().IgnoreError();
    }
    slot.handlers.fetch_sub(1, std::memory_order_release);
  }
  errno = saved_errno;
}

bool IsOurHandler(const struct sigaction& sa) {
  return (sa.sa_flags & SA_SIGINFO) == 0 && sa.sa_handler == &OnSignal;
}

// pthread_atfork child handler: the child has one thread, so no handler is
// running and no Add/Remove is under way in it, whatever the parent's
// threads were doing. Gives the child the dispositions the loops replaced,
// forgets pending signals and frees every slot (see event_loop.h, "fork()").
// Only async-signal-safe calls (sigaction) and atomics.
//
// What is restored is decided by the child's actual disposition, not by the
// slot's state: fork() copies the signal dispositions before the memory,
// while the parent's other threads run on, so the copied slot may already
// say "un-routed" when the child still has our handler installed (seen as
// a flaky ForkWhileOtherThreadsRouteAndRaise before this check).
void ResetSignalRoutingInChild() {
  for (int signo = 1; signo < kMaxSignal; ++signo) {
    SignalSlot& slot = g_signal_slots[signo];
    // First: a signal now must not wake the parent's loop (shared eventfd).
    slot.selector.store(nullptr);
    struct sigaction current;
    if (slot.old_valid.load() && sigaction(signo, nullptr, &current) == 0 &&
        IsOurHandler(current)) {
      sigaction(signo, &slot.old, nullptr);
    }
    slot.handlers.store(0);  // Counted handlers ran on threads not copied.
    slot.pending.store(false);
    slot.loop.store(nullptr);
  }
  g_pending_mask.store(0);
}

void RegisterForkHandlerOnce() {
  static const bool registered [[maybe_unused]] =
      pthread_atfork(nullptr, nullptr, &ResetSignalRoutingInChild) == 0;
}

}  // namespace

MonotonicTime MonotonicTime::Now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return MonotonicTime(absl::DurationFromTimespec(ts));
}

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

Handle EventLoop::CallAt(MonotonicTime when, Callback cb) {
  auto state = std::make_shared<internal::HandleState>(std::move(cb), when);
  if (!IsClosed()) {
    // Purge first, so the new timer is never part of the pass.
    MaybePurgeCancelledTimers();
    state->cancelled_timers = &cancelled_timers_;
    timers_.emplace_back(++timer_seq_, state);
    std::push_heap(timers_.begin(), timers_.end(), TimerOrder());
  }
  return Handle(std::move(state));
}

EventLoop::HandlePtr EventLoop::PopTimer() {
  std::pop_heap(timers_.begin(), timers_.end(), TimerOrder());
  HandlePtr h = std::move(timers_.back().second);
  timers_.pop_back();
  h->cancelled_timers = nullptr;
  if (h->cancelled.load(std::memory_order_acquire)) --cancelled_timers_;
  return h;
}

void EventLoop::MaybePurgeCancelledTimers() {
  // asyncio's rule (_MIN_SCHEDULED_TIMER_HANDLES = 100,
  // _MIN_CANCELLED_TIMER_HANDLES_FRACTION = 0.5). Amortised O(1) per timer:
  // after a purge, at least as many cancellations as the live timers left
  // are needed before the next one.
  constexpr size_t kMinTimersToPurge = 100;
  if (timers_.size() <= kMinTimersToPurge ||
      cancelled_timers_ * 2 <= timers_.size()) {
    return;
  }
  auto cancelled = [](const std::pair<uint64_t, HandlePtr>& t) {
    if (!t.second->cancelled.load(std::memory_order_acquire)) return false;
    t.second->cancelled_timers = nullptr;
    return true;
  };
  timers_.erase(std::remove_if(timers_.begin(), timers_.end(), cancelled),
                timers_.end());
  std::make_heap(timers_.begin(), timers_.end(), TimerOrder());
  cancelled_timers_ = 0;
}

bool EventLoop::TryCallSoonThreadsafe(Callback& cb) {
  bool wake;
  {
    absl::MutexLock l(&mu_);
    if (mu_closed_) return false;
    wake = threadsafe_.empty();
    threadsafe_.push_back(std::move(cb));
    has_threadsafe_.store(true, std::memory_order_seq_cst);
  }
  // Only the call that made the list non-empty wakes the loop (the loop
  // drains the whole list after every wake-up), and only when the loop is
  // waiting or about to wait in its selector: a running loop sees
  // `has_threadsafe_` before it next waits (see polling_), so the eventfd
  // write, and the loop's read of it, are saved.
  SPINDLE_PERTURB_POINT();  // The loop may start or stop waiting here.
  if (wake && polling_.load(std::memory_order_seq_cst)) {
    selector_->Wakeup().IgnoreError();
  }
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
  const MonotonicTime now = Time();
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
    SignalSlot& slot = g_signal_slots[signo];
    if (slot.loop.load(std::memory_order_acquire) != this) continue;
    // Clear the bit before taking the flag: a signal arriving in between
    // sets both again and is seen now or at the next iteration.
    g_pending_mask.fetch_and(~SignalBit(signo), std::memory_order_acq_rel);
    if (!slot.pending.exchange(false, std::memory_order_acq_rel)) continue;
    ready_.push_back(std::make_shared<internal::HandleState>(
        [this, signo] {
          auto it = signal_callbacks_.find(signo);
          if (it != signal_callbacks_.end() && it->second) it->second();
        },
        Time()));
  }
}

absl::Status EventLoop::RunOnce() {
  // 1. How long may we wait? (Cancelled timers: all dropped at once when
  // they are over half the heap, else those at its top.)
  std::optional<absl::Duration> timeout;  // nullopt: no limit.
  MaybePurgeCancelledTimers();
  while (!timers_.empty() &&
         timers_.front().second->cancelled.load(std::memory_order_acquire)) {
    PopTimer();
  }
  if (!ready_.empty() || stop_requested_.load(std::memory_order_acquire) ||
      has_threadsafe_.load(std::memory_order_acquire)) {
    timeout = absl::ZeroDuration();
  } else if (!timers_.empty()) {
    timeout =
        std::max(absl::ZeroDuration(), timers_.front().second->when - Time());
  }

  // 2. Wait, then run the fd callbacks. A wait that may block is announced
  // first (polling_), then the threadsafe list is looked at once more: a
  // CallSoonThreadsafe either is seen here or sees polling_ and wakes the
  // selector.
  const bool may_block =
      !timeout.has_value() || *timeout > absl::ZeroDuration();
  if (may_block) {
    polling_.store(true, std::memory_order_seq_cst);
    SPINDLE_PERTURB_POINT();  // A CallSoonThreadsafe may come in here.
    if (has_threadsafe_.load(std::memory_order_seq_cst)) {
      timeout = absl::ZeroDuration();
    }
  }
  absl::StatusOr<absl::Span<const Selector<internal::FdEntry*>::Ready>> ready =
      selector_->Select(timeout);
  if (may_block) polling_.store(false, std::memory_order_seq_cst);
  if (!ready.ok()) return ready.status();
  struct Iteration {  // IterationTime() reads the clock afresh each round.
    EventLoop* loop;
    explicit Iteration(EventLoop* l) : loop(l) {
      loop->in_iteration_ = true;
      loop->iteration_time_ = MonotonicTime::InfinitePast();
    }
    ~Iteration() { loop->in_iteration_ = false; }
  } iteration(this);
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
  const MonotonicTime now =
      timers_.empty() ? MonotonicTime::InfinitePast() : Time();
  while (!timers_.empty() && timers_.front().second->when <= now) {
    HandlePtr h = PopTimer();
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

MonotonicTime EventLoop::IterationTime() {
  if (!in_iteration_) return Time();
  if (iteration_time_ == MonotonicTime::InfinitePast()) {
    iteration_time_ = Time();
  }
  return iteration_time_;
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
  RegisterForkHandlerOnce();
  SignalSlot& slot = g_signal_slots[signo];
  EventLoop* owner = nullptr;
  if (!slot.loop.compare_exchange_strong(owner, this,
                                         std::memory_order_acq_rel)) {
    if (owner != this) {
      return absl::AlreadyExistsError(
          absl::StrCat("signal ", signo, " is routed to another loop"));
    }
    signal_callbacks_[signo] = std::move(cb);  // Already routed here.
    return absl::OkStatus();
  }
  // The slot is ours. Save the disposition to restore before replacing it,
  // so that a fork at any point restores the right one in the child.
  if (sigaction(signo, nullptr, &slot.old) != 0) {
    const int err = errno;
    slot.loop.store(nullptr, std::memory_order_release);
    return ErrnoError(err, "sigaction");
  }
  slot.old_valid.store(true, std::memory_order_release);
  signal_callbacks_[signo] = std::move(cb);
  slot.selector.store(selector_.get(), std::memory_order_seq_cst);
  struct sigaction sa;
  std::memset(&sa, 0, sizeof(sa));
  sa.sa_handler = &OnSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  if (sigaction(signo, &sa, nullptr) != 0) {
    const int err = errno;
    slot.selector.store(nullptr, std::memory_order_seq_cst);
    AwaitSignalHandlers(slot);  // An earlier owner's handler, in theory.
    signal_callbacks_.erase(signo);
    slot.loop.store(nullptr, std::memory_order_release);
    return ErrnoError(err, "sigaction");
  }
  return absl::OkStatus();
}

bool EventLoop::RemoveSignalHandler(int signo) {
  if (signo <= 0 || signo >= kMaxSignal) return false;
  SignalSlot& slot = g_signal_slots[signo];
  if (slot.loop.load(std::memory_order_acquire) != this) return false;
  // 1. No new OS handler for this slot: restore the old disposition.
  sigaction(signo, &slot.old, nullptr);
  // 2. Unpublish the selector and wait out handlers that may hold it. The
  //    seq_cst store and the handlers' seq_cst increment-then-load order
  //    each handler either before this store (counted, waited for) or after
  //    it (sees null).
  slot.selector.store(nullptr, std::memory_order_seq_cst);
  AwaitSignalHandlers(slot);
  slot.pending.store(false, std::memory_order_relaxed);
  g_pending_mask.fetch_and(~SignalBit(signo), std::memory_order_acq_rel);
  signal_callbacks_.erase(signo);
  // 3. Give the slot back; another loop may take it from here on.
  slot.loop.store(nullptr, std::memory_order_release);
  return true;
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
  // Handles may outlive the loop: they must not count into it any more.
  for (auto& timer : timers_) timer.second->cancelled_timers = nullptr;
  timers_.clear();
  cancelled_timers_ = 0;
  selector_->Close();
  fds_.clear();
  retired_callbacks_.clear();
  retired_fds_.clear();
  return absl::OkStatus();
}

}  // namespace spindle::io
