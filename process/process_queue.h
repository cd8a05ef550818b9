// Copyright 2026 The spindle Authors.
//
// -----------------------------------------------------------------------------
// File: process_queue.h
// -----------------------------------------------------------------------------
//
// Process-safe FIFO queues of byte messages, with the semantics of Python's
// `multiprocessing.Queue` and `multiprocessing.JoinableQueue` (plus the
// `shutdown` of Python 3.13's `queue.Queue`):
//
//   Python                           spindle
//   -------------------------------  -----------------------------------------
//   multiprocessing.Queue(maxsize)   ProcessQueue::Create({.maxsize = n})
//   multiprocessing.JoinableQueue()  JoinableProcessQueue::Create()
//   put(x) / put(x, timeout=t)       Put(x) / PutFor(x, t) / PutUntil(x, when)
//   put_nowait(x)                    TryPut(x)
//   get() / get(timeout=t)           Get() / GetFor(t) / GetUntil(when)
//   get_nowait()                     TryGet()
//   qsize() / empty() / full()       qsize() / empty() / full()
//   task_done() / join()             TaskDone() / Join() / JoinFor(t)
//   queue.Queue.shutdown(immediate)  Shutdown(immediate)
//
// Messages are byte strings (`absl::string_view` in, `std::string` out):
// serialise structured data yourself (Python pickles). A message is copied
// into the queue by Put and copied out by Get; nothing is shared by pointer.
//
// Sharing between processes. Create the queue *before* forking (with
// spindle::Process from spindle/process/process.h, or plain fork()): the
// child inherits the queue object and the shared memory behind it, and both
// sides then use the same queue. No names, files or descriptors are
// involved, so a queue cannot be opened by an unrelated process, and a
// process started with exec() loses it. The object in each process is only
// that process's handle: destroying (or moving from) it in one process
// detaches that process only; the memory goes away when the last process
// that maps it detaches or exits. Threads inside a process may share one
// handle too (all member functions are thread-safe).
//
// How it works, and its limits. One shared memory region (an anonymous
// MAP_SHARED mapping made by Create) holds a byte ring of `capacity_bytes`
// bytes, in which each message takes `kRecordOverhead` (4) bytes of length
// plus its own bytes, and the queue's counters. A process-shared, robust
// pthread mutex guards it; blocked callers sleep on futexes (Linux only), not
// on pthread condition variables, because glibc's condition variables can
// hang when a waiter dies. Consequences:
//
//   * The queue is bounded by bytes (`capacity_bytes`) and, optionally, by a
//     message count (`maxsize`). A message larger than `max_message` is
//     rejected with kInvalidArgument; `max_message + kRecordOverhead` must fit
//     in `capacity_bytes`, so every valid message fits in an empty queue.
//   * Each Put and Get copies the message once, under the lock: big messages
//     hold the lock for as long as the copy takes.
//
// Processes that die. A process may be killed at any moment (SIGKILL
// included), also while it holds the queue's lock or is blocked in it:
//
//   * The others do not deadlock: the next caller to take the lock is told by
//     the kernel that its owner died (EOWNERDEAD), repairs it and goes on.
//   * The queue stays consistent. Each operation publishes its effect with
//     one atomic store at its very end, so a dead process's Put either
//     enqueued its whole message or nothing, and its Get either removed the
//     message (which is then lost with the dead process, as in Python) or
//     left it at the head of the queue. No message is ever duplicated,
//     truncated or mixed with another.
//   * Wake-ups that a dying process owed (it enqueued a message but was
//     killed before waking a getter) are not lost for ever: blocked callers
//     re-check the queue at least every 100 ms, and a repaired lock wakes
//     everybody at once. So a death can delay a blocked call by up to about
//     100 ms, never block it for good.
//   * A process that dies while *blocked* in the queue leaves a waiter count
//     one too high: later calls then make a futex wake-up system call they
//     could have skipped, and skip the brief polling described under
//     "Spinning" (slower, never wrong).
//   * TaskDone calls owed by a consumer that died stay owed: a Join waits for
//     them (as in Python). Use JoinFor, or an immediate Shutdown, to recover.
//
// Errors (spindle/concurrency/status.h; test them with the predicates):
//
//   * `IsFull(s)`     (kResourceExhausted): TryPut found no room, or
//                     PutFor/PutUntil timed out waiting for room (Python's
//                     queue.Full in both cases, as in spindle::Queue).
//   * `IsEmpty(s)`    (kUnavailable): TryGet found the queue empty, or
//                     GetFor/GetUntil timed out waiting for a message
//                     (Python's queue.Empty; not kDeadlineExceeded).
//   * `IsShutDown(s)` (kFailedPrecondition): the queue was shut down. It wins
//                     over Full and Empty (a put after Shutdown fails with it
//                     even when the queue is full).
//   * `absl::IsInvalidArgument(s)`: a message longer than max_message; bad
//                     Options in Create; TaskDone called more times than
//                     messages were put (Python's ValueError).
//   * Create returns an ErrnoError if the mapping or the mutex cannot be made.
//
// Timeouts. `…For(d)` waits at most `d`, `…Until(t)` until `t`; a zero or
// negative duration, or a past deadline, means "do not block" (the `Try…`
// form). Timeouts are measured with absl::Now().
//
// Fairness. There is none to rely on (Python's multiprocessing.Queue gives
// none either): blocked callers are not served in arrival order, and a
// caller that arrives while others are being woken may overtake them. What
// is guaranteed: a message put while getters are blocked wakes one of them
// (or a getter that arrives first takes it); a Get wakes every blocked putter
// so that whichever now fits can proceed; a message stays in the queue until
// exactly one Get returns it. A big message waiting for room can be overtaken
// by smaller ones for as long as they keep the ring too full for it.
//
// Spinning. A Get that finds the queue empty (a Put that finds no room)
// first polls, with the lock released, for a short while before it sleeps
// (400 CPU pause instructions: from about a microsecond to a few tens of
// microseconds depending on the CPU), only on multi-core machines and only
// when nobody is blocked ahead of it: a producer and a consumer running at
// the same pace then hand messages over without system calls.
//
// Ordering. FIFO: messages come out in the order their puts took effect; the
// messages of one producer (one thread) come out in the order it put them.
//
// Thread safety. All member functions may be called concurrently from any
// thread of any process that shares the queue. A successful put of a message
// happens-before the get that returns it; every TaskDone happens-before the
// return of a Join it releases; Shutdown happens-before every call that fails
// with its error. `qsize()`, `empty()`, `full()` and the waiter counts are
// snapshots that may be stale by the time they return: use them for
// monitoring, not for deciding whether a call will block. A handle must
// outlive every call made through it (destroying it while one of its own
// process's threads is blocked in it is undefined behaviour); a moved-from
// handle may only be destroyed or assigned to.

#ifndef SPINDLE_PROCESS_PROCESS_QUEUE_H_
#define SPINDLE_PROCESS_PROCESS_QUEUE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace spindle {

namespace process_queue_internal {
struct Shared;
struct TestHooks;
}  // namespace process_queue_internal

// ProcessQueue: a FIFO queue of byte messages shared by a process and the
// children it forks after creating it (multiprocessing.Queue). See the file
// comment for sharing, limits, process death, errors and fairness.
//
// Thread safety: all member functions may be called concurrently from any
// thread of any process sharing the queue.
//
// Happens-before: a successful put of a message happens-before the get that
// returns it; Shutdown happens-before every call that fails with its error.
class ProcessQueue {
 public:
  // Bytes of bookkeeping each message takes in the ring besides its own.
  static constexpr size_t kRecordOverhead = 4;

  struct Options {
    // Size of the shared byte ring. Each message takes kRecordOverhead plus
    // its length.
    size_t capacity_bytes = size_t{1} << 20;
    // Most messages queued at once; 0 (or negative) means no count limit
    // (the byte capacity still applies), as in Python.
    int64_t maxsize = 0;
    // Longest message accepted; 0 means the longest that fits in an empty
    // ring (capacity_bytes - kRecordOverhead, at most 2^32 - 1). Must satisfy
    // max_message + kRecordOverhead <= capacity_bytes and fit in 32 bits.
    size_t max_message = 0;
  };

  // Maps the shared region and initialises the queue. Errors:
  // kInvalidArgument for inconsistent Options; ErrnoError if mmap or the
  // mutex initialisation fails.
  static absl::StatusOr<ProcessQueue> Create();
  static absl::StatusOr<ProcessQueue> Create(const Options& options);

  ProcessQueue(ProcessQueue&& other) noexcept;
  ProcessQueue& operator=(ProcessQueue&& other) noexcept;
  ProcessQueue(const ProcessQueue&) = delete;
  ProcessQueue& operator=(const ProcessQueue&) = delete;
  // Detaches this process from the queue (munmap); other processes keep it.
  ~ProcessQueue();

  // --- Put ------------------------------------------------------------------
  //
  // Put(message): copies `message` into the queue. Blocks while there is no
  // room for it (maxsize messages queued, or too few free bytes in the
  // ring). Wakes when a Get (in any process) frees room -> OkStatus, or when
  // the queue is shut down -> ShutDownError. PutFor/PutUntil also wake at the
  // deadline -> FullError. TryPut never blocks: FullError when there is no
  // room now. A message longer than max_message() fails at once with
  // kInvalidArgument (before any other check). ShutDownError wins over
  // FullError. A failed put leaves the queue unchanged.
  absl::Status Put(absl::string_view message);
  absl::Status PutFor(absl::string_view message, absl::Duration timeout);
  absl::Status PutUntil(absl::string_view message, absl::Time deadline);
  absl::Status TryPut(absl::string_view message);

  // --- Get ------------------------------------------------------------------
  //
  // Get(): removes and returns the oldest message. Blocks while the queue is
  // empty; wakes when a put (in any process) brings a message it manages to
  // take -> the message, or when the queue is shut down -> ShutDownError.
  // After a non-immediate Shutdown, gets keep returning the messages left and
  // fail with ShutDownError once the queue is empty. GetFor/GetUntil also
  // wake at the deadline -> EmptyError. TryGet never blocks: EmptyError when
  // there is nothing now (ShutDownError if shut down and empty).
  absl::StatusOr<std::string> Get();
  absl::StatusOr<std::string> GetFor(absl::Duration timeout);
  absl::StatusOr<std::string> GetUntil(absl::Time deadline);
  absl::StatusOr<std::string> TryGet();

  // --- Shutdown -------------------------------------------------------------
  //
  // Shutdown(immediate): from now on every put fails with ShutDownError
  // (blocked putters, in every process, wake with it). Blocked getters wake:
  // they take a message if one is left, else fail with ShutDownError; later
  // gets drain the remaining messages, then fail with ShutDownError. With
  // `immediate` the remaining messages are dropped now and subtracted from
  // the unfinished-task count (never below zero), so gets fail at once and
  // Join waiters are released unless messages already taken are still
  // unfinished. May be called any number of times, in either mode, from any
  // process; there is no way back.
  void Shutdown(bool immediate = false);
  bool is_shutdown() const;

  // --- Snapshots ------------------------------------------------------------
  //
  // qsize(): messages queued. empty(): qsize() == 0. full(): a put would
  // block now for want of room even for an empty message (maxsize messages
  // queued, or fewer than kRecordOverhead bytes free); a longer message may
  // block while full() is false. free_bytes(): ring bytes not in use.
  // getters_waiting()/putters_waiting(): callers blocked in a get / put in
  // all processes (including, for ever, any that died while blocked).
  size_t qsize() const;
  bool empty() const;
  bool full() const;
  size_t free_bytes() const;
  size_t getters_waiting() const;
  size_t putters_waiting() const;

  // The queue's limits (maxsize() == 0: no count limit; max_message() is
  // the effective one, never 0 unless the ring holds only empty messages).
  size_t capacity_bytes() const;
  int64_t maxsize() const;
  size_t max_message() const;

 protected:
  ProcessQueue(process_queue_internal::Shared* shared, size_t map_bytes)
      : shared_(shared), map_bytes_(map_bytes) {}
  static absl::StatusOr<ProcessQueue> CreateImpl(const Options& options);

  // Task tracking, exposed by JoinableProcessQueue.
  absl::Status TaskDoneImpl(int64_t count);
  bool JoinImpl(absl::Time deadline);
  int64_t UnfinishedImpl() const;
  size_t JoinersImpl() const;

 private:
  friend struct process_queue_internal::TestHooks;

  absl::Status PutImpl(absl::string_view message, absl::Time deadline);
  absl::StatusOr<std::string> GetImpl(absl::Time deadline);
  void Detach();

  process_queue_internal::Shared* shared_;  // Null once moved from.
  size_t map_bytes_;
};

// JoinableProcessQueue: a ProcessQueue that also counts unfinished tasks
// (multiprocessing.JoinableQueue): every successful put adds one, TaskDone
// removes them, Join waits, in any process, until none are left.
//
// Thread safety: all member functions may be called concurrently from any
// thread of any process sharing the queue.
//
// Happens-before: as ProcessQueue; in addition every TaskDone happens-before
// the return of a Join it releases.
class JoinableProcessQueue : public ProcessQueue {
 public:
  static absl::StatusOr<JoinableProcessQueue> Create();
  static absl::StatusOr<JoinableProcessQueue> Create(const Options& options);

  // TaskDone(n): marks `n` (default 1) messages as processed. Asking for
  // more than are unfinished (or a negative n) is kInvalidArgument (Python's
  // ValueError) and changes nothing. When the count reaches zero every Join,
  // in every process, returns.
  absl::Status TaskDone(int64_t count = 1) { return TaskDoneImpl(count); }

  // Join(): blocks until every message ever put has been marked done
  // (unfinished_tasks() == 0). Wakes on the TaskDone that brings the count to
  // zero, or on an immediate Shutdown that does (messages already taken with
  // Get but not yet marked done still count). Never fails; a non-immediate
  // Shutdown does not release it. JoinFor/JoinUntil also wake at the deadline
  // and return false; they return true when all tasks are done.
  void Join() { JoinImpl(absl::InfiniteFuture()); }
  bool JoinFor(absl::Duration timeout);
  bool JoinUntil(absl::Time deadline) { return JoinImpl(deadline); }

  // Snapshots: messages put and not yet marked done; callers blocked in Join.
  int64_t unfinished_tasks() const { return UnfinishedImpl(); }
  size_t joiners_waiting() const { return JoinersImpl(); }

 private:
  explicit JoinableProcessQueue(ProcessQueue&& q)
      : ProcessQueue(std::move(q)) {}
};

namespace process_queue_internal {

// For spindle's own tests only: ways to kill a process at chosen points
// inside the queue's critical sections, to check what process death leaves.
struct TestHooks {
  // Where SetCrashPoint makes the calling process SIGKILL itself.
  enum class CrashPoint {
    kNone,
    kPutAfterCopy,    // Put: message bytes written, not yet published.
    kPutAfterCommit,  // Put: published, lock still held.
    kGetAfterCopy,    // Get: message copied out, not yet removed.
    kGetAfterCommit,  // Get: removed, lock still held.
  };
  // Process-wide (affects every queue used by the calling process).
  static void SetCrashPoint(CrashPoint point);
  // How often blocked callers of the calling process re-check the queue
  // without being woken (see "Processes that die"); InfiniteDuration turns
  // the safety net off, so that a missing wake-up shows up as a hang.
  // Process-wide; children inherit it through fork.
  static void SetRecheckPeriod(absl::Duration period);
  static absl::Duration DefaultRecheckPeriod();
  // Takes the queue's lock and returns with it held.
  static void LockAndHold(ProcessQueue& q);
  static void Unlock(ProcessQueue& q);
  // How many times a caller found the lock's owner dead and repaired it.
  static int64_t owner_deaths(const ProcessQueue& q);
};

}  // namespace process_queue_internal
}  // namespace spindle

#endif  // SPINDLE_PROCESS_PROCESS_QUEUE_H_
