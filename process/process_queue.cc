// Copyright 2026 The spindle Authors.
//
// ProcessQueue: a byte ring in an anonymous MAP_SHARED mapping, guarded by a
// robust process-shared pthread mutex, with futex words for sleeping.
//
// Consistency under process death rests on one rule: the queue's counters
// (read/write positions, message count, unfinished tasks, shutdown flag) live
// in a `State` struct kept twice, and an operation writes the new state into
// the copy that is not current and then flips `current` with a single atomic
// store. Whatever moment a process dies at, `current` names a complete state,
// and the ring bytes it describes were all written before the flip. The only
// other shared words are the futex sequence numbers and waiter counts, which
// can only err on the side of too many wake-ups (see the header).

#include "spindle/process/process_queue.h"

#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstring>
#include <limits>
#include <new>
#include <utility>

#include "absl/base/internal/raw_logging.h"
#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "spindle/concurrency/internal/perturb.h"
#include "spindle/concurrency/internal/spin.h"
#include "spindle/concurrency/status.h"

namespace spindle {
namespace process_queue_internal {
namespace {

// Blocked callers re-check the queue at least this often, so that a wake-up
// owed by a process that died is late, never missing. Nanoseconds; negative
// means never (TestHooks::SetRecheckPeriod).
constexpr int64_t kDefaultRecheckNanos = 100'000'000;
std::atomic<int64_t> g_recheck_nanos{kDefaultRecheckNanos};

// Pauses spent polling before a blocking call sleeps (see SpinUnlocked).
constexpr int kSpinPauses = 400;

// TestHooks::SetCrashPoint (process-local).
std::atomic<int> g_crash_point{0};

inline void MaybeCrash(TestHooks::CrashPoint point) {
  if (g_crash_point.load(std::memory_order_relaxed) ==
      static_cast<int>(point)) {
    raise(SIGKILL);
  }
}

static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t) &&
                  std::atomic<uint32_t>::is_always_lock_free,
              "futex words must be plain 32-bit words");
static_assert(std::atomic<uint64_t>::is_always_lock_free,
              "shared counters must be lock-free (address-free) atomics");

// Sleeps while *word == expected, at most `timeout` (infinite: no limit).
void FutexWait(std::atomic<uint32_t>* word, uint32_t expected,
               absl::Duration timeout) {
  const struct timespec ts = absl::ToTimespec(timeout);
  // EAGAIN (the word changed), EINTR and ETIMEDOUT all mean "re-check".
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT, expected,
          timeout == absl::InfiniteDuration() ? nullptr : &ts, nullptr, 0);
}

void FutexWake(std::atomic<uint32_t>* word, int n) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE, n, nullptr,
          nullptr, 0);
}

bool Expired(absl::Time deadline) {
  if (deadline == absl::InfiniteFuture()) return false;
  return deadline == absl::InfinitePast() || deadline <= absl::Now();
}

absl::Time DeadlineAfter(absl::Duration timeout) {
  if (timeout == absl::InfiniteDuration()) return absl::InfiniteFuture();
  if (timeout <= absl::ZeroDuration()) return absl::InfinitePast();
  return absl::Now() + timeout;
}

}  // namespace

// A robust, process-shared pthread mutex living in the shared mapping.
class ABSL_LOCKABLE RobustMutex {
 public:
  absl::Status Init() {
    pthread_mutexattr_t attr;
    int rc = pthread_mutexattr_init(&attr);
    if (rc != 0) return ErrnoError(rc, "pthread_mutexattr_init");
    rc = pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    if (rc == 0) rc = pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
    if (rc == 0) rc = pthread_mutex_init(&m_, &attr);
    pthread_mutexattr_destroy(&attr);
    if (rc != 0) return ErrnoError(rc, "pthread_mutex_init");
    return absl::OkStatus();
  }

  // Returns true when the previous owner died holding the lock; the mutex
  // has then been marked consistent again and is held.
  bool Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() {
    const int rc = pthread_mutex_lock(&m_);
    if (rc == 0) return false;
    ABSL_RAW_CHECK(rc == EOWNERDEAD, "pthread_mutex_lock failed");
    ABSL_RAW_CHECK(pthread_mutex_consistent(&m_) == 0,
                   "pthread_mutex_consistent failed");
    return true;
  }

  void Unlock() ABSL_UNLOCK_FUNCTION() {
    ABSL_RAW_CHECK(pthread_mutex_unlock(&m_) == 0,
                   "pthread_mutex_unlock failed");
  }

 private:
  pthread_mutex_t m_;
};

// The queue's counters. Positions are byte offsets since creation (they
// never wrap in practice); the ring index is `pos % capacity`.
struct State {
  uint64_t read_pos = 0;
  uint64_t write_pos = 0;
  uint64_t count = 0;       // Messages queued.
  uint64_t unfinished = 0;  // Messages put and not yet marked done.
  uint64_t shutdown = 0;    // Nonzero once Shutdown was called.
};

// The head of the shared mapping; the ring follows it (at kRingOffset).
struct Shared {
  RobustMutex mu;
  // Fixed at creation.
  uint64_t capacity = 0;
  int64_t maxsize = 0;
  uint64_t max_message = 0;

  // states[current] is the live state; see the file comment.
  State states[2] ABSL_GUARDED_BY(mu);
  std::atomic<uint32_t> current{0};

  // Published after each change, for lock-free snapshots.
  std::atomic<uint64_t> size_snapshot{0};
  std::atomic<int64_t> owner_deaths{0};

  // Futex words: bumped (under mu) to wake getters / putters / joiners.
  alignas(64) std::atomic<uint32_t> get_seq{0};
  std::atomic<uint32_t> put_seq{0};
  std::atomic<uint32_t> join_seq{0};
  // Callers blocked (or about to block) on each word; changed under mu.
  std::atomic<uint32_t> getters{0};
  std::atomic<uint32_t> putters{0};
  std::atomic<uint32_t> joiners{0};

  const State& live() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return states[current.load(std::memory_order_relaxed)];
  }

  // Publishes `next` with one atomic store (the commit point).
  void Commit(const State& next) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    const uint32_t spare = 1 - current.load(std::memory_order_relaxed);
    states[spare] = next;
    // Everything written so far (ring bytes, the spare state) precedes the
    // flip in program order, which is all a process killed mid-way needs:
    // the next owner gets the lock through the kernel, a full barrier.
    std::atomic_signal_fence(std::memory_order_seq_cst);
    current.store(spare, std::memory_order_release);
    std::atomic_signal_fence(std::memory_order_seq_cst);
    size_snapshot.store(next.count, std::memory_order_relaxed);
  }

  char* ring();
  void CopyIn(uint64_t pos, const char* src, size_t n) {
    char* r = ring();
    const size_t off = static_cast<size_t>(pos % capacity);
    const size_t first = std::min<size_t>(n, capacity - off);
    std::memcpy(r + off, src, first);
    std::memcpy(r, src + first, n - first);
  }
  void CopyOut(uint64_t pos, char* dst, size_t n) {
    const char* r = ring();
    const size_t off = static_cast<size_t>(pos % capacity);
    const size_t first = std::min<size_t>(n, capacity - off);
    std::memcpy(dst, r + off, first);
    std::memcpy(dst + first, r, n - first);
  }
};

constexpr size_t kRingOffset = (sizeof(Shared) + 63) / 64 * 64;

char* Shared::ring() { return reinterpret_cast<char*>(this) + kRingOffset; }

namespace {

// Takes the lock; if its previous owner died, counts it and wakes every
// waiter (any wake-up the dead process owed is delivered now).
void LockQueue(Shared* s) ABSL_EXCLUSIVE_LOCK_FUNCTION(s->mu) {
  if (!s->mu.Lock()) return;
  s->owner_deaths.fetch_add(1, std::memory_order_relaxed);
  // The dead owner may have flipped the state without publishing its size.
  s->size_snapshot.store(s->live().count, std::memory_order_relaxed);
  for (std::atomic<uint32_t>* w : {&s->get_seq, &s->put_seq, &s->join_seq}) {
    w->fetch_add(1, std::memory_order_relaxed);
    FutexWake(w, INT_MAX);
  }
}

// Sleeps on `seq` until woken, the deadline, or the re-check period. Called
// with the lock held, returns with it held; the caller re-checks its condition.
void WaitLocked(Shared* s, std::atomic<uint32_t>* seq,
                std::atomic<uint32_t>* waiters, absl::Time deadline)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->mu) {
  const uint32_t seen = seq->load(std::memory_order_relaxed);
  waiters->fetch_add(1, std::memory_order_relaxed);
  s->mu.Unlock();
  SPINDLE_PERTURB_POINT();
  const int64_t recheck = g_recheck_nanos.load(std::memory_order_relaxed);
  absl::Duration wait =
      recheck < 0 ? absl::InfiniteDuration() : absl::Nanoseconds(recheck);
  if (deadline != absl::InfiniteFuture()) {
    wait = std::min(wait, deadline - absl::Now());
  }
  if (wait > absl::ZeroDuration()) FutexWait(seq, seen, wait);
  SPINDLE_PERTURB_POINT();
  LockQueue(s);
  waiters->fetch_sub(1, std::memory_order_relaxed);
}

// Polls `ready` (lock-free snapshots only) with the lock released, for at
// most kSpinPauses pauses (none on one CPU). Called with the lock held, returns
// with it held.
template <typename Ready>
void SpinUnlocked(Shared* s, Ready ready) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->mu) {
  const int budget = internal::SpinBudget(kSpinPauses);
  if (budget == 0) return;
  s->mu.Unlock();
  internal::SpinUntil(ready, budget);
  LockQueue(s);
}

// If anyone waits on `seq`, bumps it (under the lock) and returns true: the
// caller then calls FutexWake after unlocking.
bool PrepareWake(const std::atomic<uint32_t>& waiters,
                 std::atomic<uint32_t>* seq) {
  if (waiters.load(std::memory_order_relaxed) == 0) return false;
  seq->fetch_add(1, std::memory_order_relaxed);
  return true;
}

bool HasRoom(const Shared& s, const State& st, uint64_t need) {
  if (s.maxsize > 0 && st.count >= static_cast<uint64_t>(s.maxsize)) {
    return false;
  }
  return s.capacity - (st.write_pos - st.read_pos) >= need;
}

}  // namespace

void TestHooks::SetCrashPoint(CrashPoint point) {
  g_crash_point.store(static_cast<int>(point), std::memory_order_relaxed);
}

void TestHooks::SetRecheckPeriod(absl::Duration period) {
  g_recheck_nanos.store(period == absl::InfiniteDuration()
                            ? -1
                            : absl::ToInt64Nanoseconds(period),
                        std::memory_order_relaxed);
}

absl::Duration TestHooks::DefaultRecheckPeriod() {
  return absl::Nanoseconds(kDefaultRecheckNanos);
}

void TestHooks::LockAndHold(ProcessQueue& q) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  LockQueue(q.shared_);
}

void TestHooks::Unlock(ProcessQueue& q) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  q.shared_->mu.Unlock();
}

int64_t TestHooks::owner_deaths(const ProcessQueue& q) {
  return q.shared_->owner_deaths.load(std::memory_order_relaxed);
}

}  // namespace process_queue_internal

using process_queue_internal::DeadlineAfter;
using process_queue_internal::FutexWake;
using process_queue_internal::HasRoom;
using process_queue_internal::kRingOffset;
using process_queue_internal::LockQueue;
using process_queue_internal::MaybeCrash;
using process_queue_internal::PrepareWake;
using process_queue_internal::Shared;
using process_queue_internal::SpinUnlocked;
using process_queue_internal::State;
using process_queue_internal::WaitLocked;
using CrashPoint = process_queue_internal::TestHooks::CrashPoint;

absl::StatusOr<ProcessQueue> ProcessQueue::Create() {
  return CreateImpl(Options());
}

absl::StatusOr<ProcessQueue> ProcessQueue::Create(const Options& options) {
  return CreateImpl(options);
}

absl::StatusOr<ProcessQueue> ProcessQueue::CreateImpl(const Options& options) {
  if (options.capacity_bytes < kRecordOverhead) {
    return absl::InvalidArgumentError(
        absl::StrCat("capacity_bytes must be at least ", kRecordOverhead));
  }
  const size_t max_message =
      options.max_message != 0
          ? options.max_message
          : std::min<size_t>(options.capacity_bytes - kRecordOverhead,
                             std::numeric_limits<uint32_t>::max());
  if (max_message > std::numeric_limits<uint32_t>::max()) {
    return absl::InvalidArgumentError("max_message must fit in 32 bits");
  }
  if (max_message > options.capacity_bytes - kRecordOverhead) {
    return absl::InvalidArgumentError(
        absl::StrCat("capacity_bytes (", options.capacity_bytes,
                     ") must hold one message of max_message (", max_message,
                     ") bytes plus ", kRecordOverhead, " bytes of overhead"));
  }
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const size_t want = kRingOffset + options.capacity_bytes;
  if (want < options.capacity_bytes) {
    return absl::InvalidArgumentError("capacity_bytes too large");
  }
  const size_t map_bytes = (want + page - 1) / page * page;
  void* p = mmap(nullptr, map_bytes, PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return ErrnoError(errno, "mmap");
  Shared* s = new (p) Shared;
  if (absl::Status st = s->mu.Init(); !st.ok()) {
    munmap(p, map_bytes);
    return st;
  }
  s->capacity = options.capacity_bytes;
  s->maxsize = std::max<int64_t>(0, options.maxsize);
  s->max_message = max_message;
  return ProcessQueue(s, map_bytes);
}

ProcessQueue::ProcessQueue(ProcessQueue&& other) noexcept
    : shared_(std::exchange(other.shared_, nullptr)),
      map_bytes_(std::exchange(other.map_bytes_, 0)) {}

ProcessQueue& ProcessQueue::operator=(ProcessQueue&& other) noexcept {
  if (this != &other) {
    Detach();
    shared_ = std::exchange(other.shared_, nullptr);
    map_bytes_ = std::exchange(other.map_bytes_, 0);
  }
  return *this;
}

ProcessQueue::~ProcessQueue() { Detach(); }

void ProcessQueue::Detach() {
  if (shared_ != nullptr) munmap(shared_, map_bytes_);
  shared_ = nullptr;
  map_bytes_ = 0;
}

// --- Put ---------------------------------------------------------------------

absl::Status ProcessQueue::Put(absl::string_view message) {
  return PutImpl(message, absl::InfiniteFuture());
}
absl::Status ProcessQueue::PutFor(absl::string_view message,
                                  absl::Duration timeout) {
  return PutImpl(message, DeadlineAfter(timeout));
}
absl::Status ProcessQueue::PutUntil(absl::string_view message,
                                    absl::Time deadline) {
  return PutImpl(message, deadline);
}
absl::Status ProcessQueue::TryPut(absl::string_view message) {
  return PutImpl(message, absl::InfinitePast());
}

absl::Status ProcessQueue::PutImpl(absl::string_view message,
                                   absl::Time deadline) {
  Shared* s = shared_;
  if (message.size() > s->max_message) {
    return absl::InvalidArgumentError(absl::StrCat(
        "message of ", message.size(), " bytes is longer than max_message (",
        s->max_message, ")"));
  }
  const uint64_t need = kRecordOverhead + message.size();
  bool waited = false;
  LockQueue(s);
  for (;;) {
    const State& st = s->live();
    if (st.shutdown != 0) {
      s->mu.Unlock();
      return ShutDownError("put on a shut down queue");
    }
    if (HasRoom(*s, st, need)) break;
    if (process_queue_internal::Expired(deadline)) {
      s->mu.Unlock();
      return FullError(waited ? "timed out waiting for room in the queue"
                              : "queue is full");
    }
    if (!waited && s->putters.load(std::memory_order_relaxed) == 0) {
      // First time, nobody blocked ahead of us: poll briefly for a get to
      // free room before paying for a futex sleep and wake-up.
      const uint64_t seen = st.count;
      waited = true;
      SpinUnlocked(s, [s, seen] {
        return s->size_snapshot.load(std::memory_order_relaxed) < seen;
      });
      continue;
    }
    WaitLocked(s, &s->put_seq, &s->putters, deadline);
    waited = true;
  }
  State next = s->live();
  const uint32_t len = static_cast<uint32_t>(message.size());
  s->CopyIn(next.write_pos, reinterpret_cast<const char*>(&len),
            kRecordOverhead);
  s->CopyIn(next.write_pos + kRecordOverhead, message.data(), message.size());
  MaybeCrash(CrashPoint::kPutAfterCopy);
  next.write_pos += need;
  ++next.count;
  ++next.unfinished;
  s->Commit(next);
  MaybeCrash(CrashPoint::kPutAfterCommit);
  const bool wake = PrepareWake(s->getters, &s->get_seq);
  s->mu.Unlock();
  SPINDLE_PERTURB_POINT();
  // One message: one getter is enough (any getter can take it).
  if (wake) FutexWake(&s->get_seq, 1);
  return absl::OkStatus();
}

// --- Get ---------------------------------------------------------------------

absl::StatusOr<std::string> ProcessQueue::Get() {
  return GetImpl(absl::InfiniteFuture());
}
absl::StatusOr<std::string> ProcessQueue::GetFor(absl::Duration timeout) {
  return GetImpl(DeadlineAfter(timeout));
}
absl::StatusOr<std::string> ProcessQueue::GetUntil(absl::Time deadline) {
  return GetImpl(deadline);
}
absl::StatusOr<std::string> ProcessQueue::TryGet() {
  return GetImpl(absl::InfinitePast());
}

absl::StatusOr<std::string> ProcessQueue::GetImpl(absl::Time deadline) {
  Shared* s = shared_;
  bool waited = false;
  LockQueue(s);
  for (;;) {
    const State& st = s->live();
    if (st.count > 0) break;
    if (st.shutdown != 0) {
      s->mu.Unlock();
      return ShutDownError("get on a shut down, empty queue");
    }
    if (process_queue_internal::Expired(deadline)) {
      s->mu.Unlock();
      return EmptyError(waited ? "timed out waiting for a message"
                               : "queue is empty");
    }
    if (!waited && s->getters.load(std::memory_order_relaxed) == 0) {
      // First time, nobody blocked ahead of us: poll briefly for a message
      // before paying for a futex sleep and wake-up.
      waited = true;
      SpinUnlocked(s, [s] {
        return s->size_snapshot.load(std::memory_order_relaxed) > 0;
      });
      continue;
    }
    WaitLocked(s, &s->get_seq, &s->getters, deadline);
    waited = true;
  }
  State next = s->live();
  uint32_t len = 0;
  s->CopyOut(next.read_pos, reinterpret_cast<char*>(&len), kRecordOverhead);
  ABSL_RAW_CHECK(len <= s->max_message &&
                     kRecordOverhead + len <= next.write_pos - next.read_pos,
                 "ProcessQueue: corrupt message length in shared memory");
  std::string out;
  try {
    out.resize(len);
  } catch (...) {
    s->mu.Unlock();
    throw;
  }
  s->CopyOut(next.read_pos + kRecordOverhead, out.data(), len);
  MaybeCrash(CrashPoint::kGetAfterCopy);
  next.read_pos += kRecordOverhead + len;
  --next.count;
  s->Commit(next);
  MaybeCrash(CrashPoint::kGetAfterCommit);
  const bool wake = PrepareWake(s->putters, &s->put_seq);
  s->mu.Unlock();
  SPINDLE_PERTURB_POINT();
  // Every blocked putter: the room freed may suit one but not another.
  if (wake) FutexWake(&s->put_seq, INT_MAX);
  return out;
}

// --- Shutdown and task tracking ----------------------------------------------

void ProcessQueue::Shutdown(bool immediate) {
  Shared* s = shared_;
  LockQueue(s);
  State next = s->live();
  next.shutdown = 1;
  if (immediate) {
    next.unfinished -= std::min(next.unfinished, next.count);
    next.read_pos = next.write_pos;
    next.count = 0;
  }
  s->Commit(next);
  for (std::atomic<uint32_t>* w : {&s->get_seq, &s->put_seq, &s->join_seq}) {
    w->fetch_add(1, std::memory_order_relaxed);
  }
  s->mu.Unlock();
  SPINDLE_PERTURB_POINT();
  for (std::atomic<uint32_t>* w : {&s->get_seq, &s->put_seq, &s->join_seq}) {
    FutexWake(w, INT_MAX);
  }
}

bool ProcessQueue::is_shutdown() const {
  Shared* s = shared_;
  LockQueue(s);
  const bool down = s->live().shutdown != 0;
  s->mu.Unlock();
  return down;
}

absl::Status ProcessQueue::TaskDoneImpl(int64_t count) {
  Shared* s = shared_;
  LockQueue(s);
  State next = s->live();
  if (count < 0 || static_cast<uint64_t>(count) > next.unfinished) {
    s->mu.Unlock();
    return absl::InvalidArgumentError(
        "TaskDone() called more times than there were messages");
  }
  next.unfinished -= static_cast<uint64_t>(count);
  s->Commit(next);
  const bool wake =
      next.unfinished == 0 && PrepareWake(s->joiners, &s->join_seq);
  s->mu.Unlock();
  SPINDLE_PERTURB_POINT();
  if (wake) FutexWake(&s->join_seq, INT_MAX);
  return absl::OkStatus();
}

bool ProcessQueue::JoinImpl(absl::Time deadline) {
  Shared* s = shared_;
  LockQueue(s);
  for (;;) {
    if (s->live().unfinished == 0) {
      s->mu.Unlock();
      return true;
    }
    if (process_queue_internal::Expired(deadline)) {
      s->mu.Unlock();
      return false;
    }
    WaitLocked(s, &s->join_seq, &s->joiners, deadline);
  }
}

int64_t ProcessQueue::UnfinishedImpl() const {
  Shared* s = shared_;
  LockQueue(s);
  const uint64_t n = s->live().unfinished;
  s->mu.Unlock();
  return static_cast<int64_t>(n);
}

size_t ProcessQueue::JoinersImpl() const {
  return shared_->joiners.load(std::memory_order_relaxed);
}

// --- Snapshots ---------------------------------------------------------------

size_t ProcessQueue::qsize() const {
  return static_cast<size_t>(
      shared_->size_snapshot.load(std::memory_order_relaxed));
}

bool ProcessQueue::empty() const { return qsize() == 0; }

bool ProcessQueue::full() const {
  Shared* s = shared_;
  LockQueue(s);
  const bool is_full = !HasRoom(*s, s->live(), kRecordOverhead);
  s->mu.Unlock();
  return is_full;
}

size_t ProcessQueue::free_bytes() const {
  Shared* s = shared_;
  LockQueue(s);
  const State& st = s->live();
  const uint64_t free = s->capacity - (st.write_pos - st.read_pos);
  s->mu.Unlock();
  return static_cast<size_t>(free);
}

size_t ProcessQueue::getters_waiting() const {
  return shared_->getters.load(std::memory_order_relaxed);
}

size_t ProcessQueue::putters_waiting() const {
  return shared_->putters.load(std::memory_order_relaxed);
}

size_t ProcessQueue::capacity_bytes() const {
  return static_cast<size_t>(shared_->capacity);
}
int64_t ProcessQueue::maxsize() const { return shared_->maxsize; }
size_t ProcessQueue::max_message() const {
  return static_cast<size_t>(shared_->max_message);
}

// --- JoinableProcessQueue ----------------------------------------------------

absl::StatusOr<JoinableProcessQueue> JoinableProcessQueue::Create() {
  return Create(Options());
}

absl::StatusOr<JoinableProcessQueue> JoinableProcessQueue::Create(
    const Options& options) {
  absl::StatusOr<ProcessQueue> q = CreateImpl(options);
  if (!q.ok()) return q.status();
  return JoinableProcessQueue(*std::move(q));
}

bool JoinableProcessQueue::JoinFor(absl::Duration timeout) {
  return JoinImpl(DeadlineAfter(timeout));
}

}  // namespace spindle
