// Copyright 2026 The spindle Authors.

#include "spindle/concurrency/thread.h"

#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/internal/raw_logging.h"
#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "spindle/concurrency/internal/lifecycle.h"
#include "spindle/concurrency/status.h"

namespace spindle {
namespace internal {

enum class ThreadKind { kSpindle, kMain, kDummy };

// Everything known about one thread. Shared by the `Thread` object, the
// running thread, handles and the registry; never outlived by its users.
struct ThreadRecord {
  ThreadRecord(std::string n, bool d, ThreadKind k)
      : name(std::move(n)), daemon(d), kind(k) {}

  const std::string name;
  const bool daemon;
  const ThreadKind kind;

  absl::Mutex mu;
  bool started ABSL_GUARDED_BY(mu) = false;     // Start() succeeded.
  bool registered ABSL_GUARDED_BY(mu) = false;  // The thread is running.
  bool finished ABSL_GUARDED_BY(mu) = false;    // The function returned.
  uint64_t ident ABSL_GUARDED_BY(mu) = 0;
  int64_t native_id ABSL_GUARDED_BY(mu) = 0;

  // Only for kSpindle. `fn` is moved to the new thread by Start().
  absl::AnyInvocable<void()> fn;
  // internal::ForkGeneration() when started (kSpindle). In a forked child,
  // a thread started before the fork does not exist: its record is a copy
  // that counts as finished (Python's threading._after_fork).
  std::atomic<uint64_t> fork_generation{0};
  size_t stack_size = 0;  // Options::stack_size.
  // The OS thread, once pthread_create returned; then reaped (joined) at
  // most once, or detached.
  bool have_handle ABSL_GUARDED_BY(mu) = false;
  pthread_t handle ABSL_GUARDED_BY(mu){};
  enum class Os { kRunning, kReaping, kReaped, kDetached };
  Os os ABSL_GUARDED_BY(mu) = Os::kRunning;
};

}  // namespace internal

namespace {

using internal::ThreadKind;
using internal::ThreadRecord;

int64_t GetTid() { return static_cast<int64_t>(syscall(SYS_gettid)); }
uint64_t SelfIdent() { return static_cast<uint64_t>(pthread_self()); }

// The set of live threads. Never destroyed, so that daemon threads may use
// it while the process exits. A forked child gets a new one (see
// AfterForkInChild); the parent's is leaked there.
struct Registry {
  absl::Mutex mu;
  std::vector<std::shared_ptr<ThreadRecord>> live ABSL_GUARDED_BY(mu);
  std::shared_ptr<ThreadRecord> main ABSL_GUARDED_BY(mu);
  // Started spindle threads whose OS thread is neither joined nor detached
  // yet; what exit() waits for. A thread leaves `live` when its function
  // returns, but stays here until it is reaped.
  std::vector<std::shared_ptr<ThreadRecord>> unreaped ABSL_GUARDED_BY(mu);
};

internal::LeakedGlobal<Registry> g_registry;

Registry& GetRegistry() { return g_registry.Get(); }

// True for a spindle thread started before fork() when seen in the child.
bool GoneByFork(const ThreadRecord& rec) {
  return rec.kind == ThreadKind::kSpindle &&
         rec.fork_generation.load(std::memory_order_relaxed) !=
             internal::ForkGeneration();
}

void Register(const std::shared_ptr<ThreadRecord>& rec) {
  Registry& r = GetRegistry();
  absl::MutexLock l(&r.mu);
  r.live.push_back(rec);
}

void Erase(std::vector<std::shared_ptr<ThreadRecord>>& v,
           const ThreadRecord* rec) {
  for (auto it = v.begin(); it != v.end(); ++it) {
    if (it->get() == rec) {
      v.erase(it);
      return;
    }
  }
}

void Unregister(const ThreadRecord* rec) {
  Registry& r = GetRegistry();
  absl::MutexLock l(&r.mu);
  Erase(r.live, rec);
}

// The OS thread of `rec` was joined or detached.
void Settled(const ThreadRecord* rec) {
  Registry& r = GetRegistry();
  absl::MutexLock l(&r.mu);
  Erase(r.unreaped, rec);
}

std::atomic<int> g_thread_counter{0};
std::atomic<int> g_dummy_counter{0};

// The main thread's record, made on first use. The main thread is the one
// whose kernel thread id equals the process id.
std::shared_ptr<ThreadRecord> MainRecord() {
  Registry& r = GetRegistry();
  absl::MutexLock l(&r.mu);
  if (r.main == nullptr) {
    auto rec =
        std::make_shared<ThreadRecord>("MainThread", false, ThreadKind::kMain);
    {
      absl::MutexLock rl(&rec->mu);
      rec->started = rec->registered = true;
      rec->native_id = getpid();
      // ident is pthread_self() of the main thread; known only on it.
      if (GetTid() == getpid()) rec->ident = SelfIdent();
    }
    r.main = rec;
    r.live.insert(r.live.begin(), rec);
  }
  return r.main;
}

// Records the main thread during static initialisation, which runs on it.
[[maybe_unused]] const bool kMainRecorded = [] {
  if (GetTid() == getpid()) MainRecord();
  return true;
}();

// The calling thread's record. For dummy threads, the destructor of this
// thread-local unregisters the record when the thread exits.
struct CurrentSlot {
  std::shared_ptr<ThreadRecord> rec;
  ~CurrentSlot() {
    if (rec != nullptr && rec->kind == ThreadKind::kDummy) {
      Unregister(rec.get());
      absl::MutexLock l(&rec->mu);
      rec->finished = true;
    }
  }
};
thread_local CurrentSlot tls_current;

// The except hook; never destroyed (daemon threads may use it at exit). A
// forked child gets a new lock (another thread may have held this one at
// the fork).
struct HookState {
  absl::Mutex mu;
  ExceptHook* hook ABSL_GUARDED_BY(mu) = nullptr;
};
internal::LeakedGlobal<HookState> g_hook_state;

HookState& Hook() { return g_hook_state.Get(); }

void RunExceptHook(std::exception_ptr exception, ThreadHandle thread) {
  ExceptHook hook;
  {
    HookState& h = Hook();
    absl::MutexLock l(&h.mu);
    if (h.hook != nullptr) hook = *h.hook;
  }
  ExceptHookArgs args{std::move(exception), std::move(thread)};
  try {
    if (hook) {
      hook(args);
    } else {
      DefaultExceptHook(args);
    }
  } catch (...) {
    std::fprintf(stderr, "Exception in spindle except hook (ignored)\n");
  }
}

void Reap(ThreadRecord* rec);

// The exit step that waits for every running non-daemon spindle thread, as
// Python's interpreter does at shutdown. The lifecycle handler repeats it
// (with the pool step) until a pass finds nothing to wait for, so threads
// started while it waits are waited for too. True if it waited.
bool JoinNonDaemonAtExit() {
  std::vector<std::shared_ptr<ThreadRecord>> pending;
  {
    Registry& r = GetRegistry();
    absl::MutexLock l(&r.mu);
    for (const auto& rec : r.unreaped) {
      if (!rec->daemon && rec.get() != tls_current.rec.get()) {
        pending.push_back(rec);
      }
    }
  }
  for (const auto& rec : pending) {
    {
      absl::MutexLock l(&rec->mu);
      rec->mu.Await(absl::Condition(&rec->finished));
    }
    Reap(rec.get());
  }
  return !pending.empty();
}

// pthread_atfork child handler: the child has one thread, the one that
// forked. Describe that (Python's threading._after_fork): a new registry
// holding a new record for it, which is also the child's main thread, and
// a new except-hook lock. Nothing of the parent's is locked or freed (other
// threads may have held those locks at the fork); the old records still
// reachable through Thread objects count as finished (GoneByFork).
void AfterForkInChild() {
  std::shared_ptr<ThreadRecord> old = tls_current.rec;
  auto rec = std::make_shared<ThreadRecord>(
      old != nullptr ? old->name : std::string("MainThread"),
      /*daemon=*/false, ThreadKind::kMain);
  {
    absl::MutexLock rl(&rec->mu);
    rec->started = rec->registered = true;
    rec->ident = SelfIdent();
    rec->native_id = GetTid();
  }
  Registry& registry = g_registry.Renew();
  {
    absl::MutexLock l(&registry.mu);
    registry.main = rec;
    registry.live.push_back(rec);
  }
  // The parent's record is still referred to by the parent's registry, so
  // this only drops a reference (its lock may be held; it is not destroyed).
  tls_current.rec = std::move(rec);

  // The hook is copied without the parent's lock: this is the only thread
  // now.
  ExceptHook* parent_hook = nullptr;
  if (HookState* parent = g_hook_state.Peek(); parent != nullptr) {
    parent_hook = [parent]()
                      ABSL_NO_THREAD_SAFETY_ANALYSIS { return parent->hook; }();
  }
  HookState& hook = g_hook_state.Renew();
  if (parent_hook != nullptr) {
    absl::MutexLock l(&hook.mu);
    hook.hook = new ExceptHook(*parent_hook);
  }
}

[[maybe_unused]] const bool kAfterForkInstalled = [] {
  pthread_atfork(nullptr, nullptr, &AfterForkInChild);
  return true;
}();

void* ThreadMain(void* arg) {
  std::shared_ptr<ThreadRecord> rec(
      std::move(*static_cast<std::shared_ptr<ThreadRecord>*>(arg)));
  delete static_cast<std::shared_ptr<ThreadRecord>*>(arg);

  // The OS name is limited to 15 bytes plus the terminator.
  pthread_setname_np(pthread_self(), rec->name.substr(0, 15).c_str());
  tls_current.rec = rec;
  Register(rec);
  absl::AnyInvocable<void()> fn;
  {
    absl::MutexLock l(&rec->mu);
    rec->ident = SelfIdent();
    rec->native_id = GetTid();
    rec->registered = true;
    fn = std::move(rec->fn);
  }
  try {
    fn();
  } catch (...) {
    RunExceptHook(std::current_exception(), ThreadHandle(rec));
  }
  try {
    fn = nullptr;  // Destroy the function and its arguments here.
  } catch (...) {
    RunExceptHook(std::current_exception(), ThreadHandle(rec));
  }
  // Leave the registry before anyone can see us finished, so that
  // Enumerate() never lists a joined thread.
  Unregister(rec.get());
  {
    absl::MutexLock l(&rec->mu);
    rec->finished = true;
  }
  return nullptr;
}

// Joins the OS thread of a finished spindle thread, once, so that it leaves
// no resources behind. Concurrent callers wait for the one that joins.
void Reap(ThreadRecord* rec) {
  absl::MutexLock l(&rec->mu);
  rec->mu.Await(absl::Condition(&rec->have_handle));
  switch (rec->os) {
    case ThreadRecord::Os::kReaped:
    case ThreadRecord::Os::kDetached:
      return;
    case ThreadRecord::Os::kReaping: {
      auto done = [rec]() {
        rec->mu.AssertReaderHeld();
        return rec->os == ThreadRecord::Os::kReaped;
      };
      rec->mu.Await(absl::Condition(&done));
      return;
    }
    case ThreadRecord::Os::kRunning:
      break;
  }
  rec->os = ThreadRecord::Os::kReaping;
  const pthread_t handle = rec->handle;
  rec->mu.Unlock();
  pthread_join(handle, nullptr);
  Settled(rec);
  rec->mu.Lock();
  rec->os = ThreadRecord::Os::kReaped;
}

}  // namespace

// ---------------------------------------------------------------------------
// ThreadHandle

std::string ThreadHandle::name() const { return rec_->name; }
bool ThreadHandle::daemon() const { return rec_->daemon; }
uint64_t ThreadHandle::ident() const {
  absl::MutexLock l(&rec_->mu);
  return rec_->ident;
}
int64_t ThreadHandle::native_id() const {
  absl::MutexLock l(&rec_->mu);
  return rec_->native_id;
}
bool ThreadHandle::IsAlive() const {
  if (GoneByFork(*rec_)) return false;
  absl::MutexLock l(&rec_->mu);
  return rec_->started && !rec_->finished;
}
bool ThreadHandle::is_main() const { return rec_->kind == ThreadKind::kMain; }
bool ThreadHandle::is_dummy() const { return rec_->kind == ThreadKind::kDummy; }

// ---------------------------------------------------------------------------
// Thread

Thread::Thread(Options options, absl::AnyInvocable<void()> fn) {
  const int n = g_thread_counter.fetch_add(1) + 1;
  std::string name = options.name.empty() ? absl::StrCat("Thread-", n)
                                          : std::move(options.name);
  rec_ = std::make_shared<ThreadRecord>(std::move(name), options.daemon,
                                        ThreadKind::kSpindle);
  rec_->fn = std::move(fn);
  rec_->stack_size = options.stack_size;
}

Thread::~Thread() {
  if (rec_ == nullptr) return;  // Moved from.
  if (GoneByFork(*rec_)) {
    // A copy in a forked child of a thread that runs in the parent only:
    // nothing to join here, and the record's lock may have been held at the
    // fork. Leak the record rather than touch it.
    new std::shared_ptr<ThreadRecord>(std::move(rec_));
    return;
  }
  bool detached = false;
  {
    absl::MutexLock l(&rec_->mu);
    if (!rec_->started) return;
    rec_->mu.Await(absl::Condition(&rec_->have_handle));
    if (rec_->os != ThreadRecord::Os::kRunning) {
      // Reaped (or being reaped) by a Join; wait for that to finish.
      auto settled = [this]() {
        rec_->mu.AssertReaderHeld();
        return rec_->os != ThreadRecord::Os::kReaping;
      };
      rec_->mu.Await(absl::Condition(&settled));
      return;
    }
    if (rec_->daemon || pthread_equal(rec_->handle, pthread_self())) {
      // A daemon thread keeps running on its own; a thread destroying its
      // own Thread object cannot wait for itself.
      pthread_detach(rec_->handle);
      rec_->os = ThreadRecord::Os::kDetached;
      detached = true;
    }
  }
  if (detached) {
    Settled(rec_.get());
  } else {
    Join();
  }
}

absl::Status Thread::Start() {
  {
    absl::MutexLock l(&rec_->mu);
    if (rec_->started) {
      return absl::FailedPreconditionError("threads can only be started once");
    }
    rec_->started = true;
  }
  internal::SetExitStep(internal::ExitStep::kJoinThreads, &JoinNonDaemonAtExit);
  rec_->fork_generation.store(internal::ForkGeneration(),
                              std::memory_order_relaxed);

  pthread_attr_t attr;
  pthread_attr_init(&attr);
  int err = 0;
  if (rec_->stack_size != 0) {
    err = pthread_attr_setstacksize(&attr, rec_->stack_size);
  }
  auto* arg = new std::shared_ptr<ThreadRecord>(rec_);
  pthread_t handle;
  if (err == 0) err = pthread_create(&handle, &attr, &ThreadMain, arg);
  pthread_attr_destroy(&attr);
  if (err != 0) {
    delete arg;
    absl::MutexLock l(&rec_->mu);
    rec_->started = false;
    if (err == EINVAL && rec_->stack_size != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "thread stack_size ", rec_->stack_size, " is not usable (below ",
          PTHREAD_STACK_MIN, " bytes, or not a multiple of the page size)"));
    }
    return ErrnoError(err, "pthread_create");
  }
  {
    Registry& r = GetRegistry();
    absl::MutexLock l(&r.mu);
    r.unreaped.push_back(rec_);
  }
  absl::MutexLock l(&rec_->mu);
  rec_->handle = handle;
  rec_->have_handle = true;
  rec_->mu.Await(absl::Condition(&rec_->registered));
  return absl::OkStatus();
}

void Thread::Join() {
  const bool finished = JoinFor(absl::InfiniteDuration());
  ABSL_RAW_CHECK(finished, "an infinite join returned early");
}

bool Thread::JoinFor(absl::Duration timeout) {
  // In a forked child, a thread of the parent is over (Python marks it
  // stopped, and joining it returns at once).
  if (GoneByFork(*rec_)) return true;
  {
    absl::MutexLock l(&rec_->mu);
    if (!rec_->started) {
      ABSL_RAW_LOG(FATAL,
                   "spindle::Thread::Join: cannot join thread %s before it is "
                   "started",
                   rec_->name.c_str());
    }
    if (tls_current.rec.get() == rec_.get()) {
      ABSL_RAW_LOG(FATAL, "spindle::Thread::Join: thread %s cannot join itself",
                   rec_->name.c_str());
    }
    const bool finished =
        timeout == absl::InfiniteDuration()
            ? (rec_->mu.Await(absl::Condition(&rec_->finished)), true)
            : rec_->mu.AwaitWithTimeout(absl::Condition(&rec_->finished),
                                        timeout);
    if (!finished) return false;
  }
  // The function has returned; the OS thread is about to exit. Reap it so
  // that a joined thread leaves nothing behind (as Python's join does).
  Reap(rec_.get());
  return true;
}

bool Thread::IsAlive() const { return handle().IsAlive(); }
std::string Thread::name() const { return rec_->name; }
bool Thread::daemon() const { return rec_->daemon; }
uint64_t Thread::ident() const { return handle().ident(); }
int64_t Thread::native_id() const { return handle().native_id(); }
ThreadHandle Thread::handle() const { return ThreadHandle(rec_); }

// ---------------------------------------------------------------------------
// Module-level functions

ThreadHandle CurrentThread() {
  if (tls_current.rec != nullptr) return ThreadHandle(tls_current.rec);
  if (GetTid() == getpid()) {
    tls_current.rec = MainRecord();
    return ThreadHandle(tls_current.rec);
  }
  const int n = g_dummy_counter.fetch_add(1) + 1;
  auto rec =
      std::make_shared<ThreadRecord>(absl::StrCat("Dummy-", n),
                                     /*daemon=*/true, ThreadKind::kDummy);
  {
    absl::MutexLock l(&rec->mu);
    rec->started = rec->registered = true;
    rec->ident = SelfIdent();
    rec->native_id = GetTid();
  }
  Register(rec);
  tls_current.rec = rec;
  return ThreadHandle(rec);
}

ThreadHandle MainThread() { return ThreadHandle(MainRecord()); }

int ActiveCount() {
  MainRecord();
  Registry& r = GetRegistry();
  absl::MutexLock l(&r.mu);
  return static_cast<int>(r.live.size());
}

std::vector<ThreadHandle> Enumerate() {
  MainRecord();
  Registry& r = GetRegistry();
  absl::MutexLock l(&r.mu);
  std::vector<ThreadHandle> out;
  out.reserve(r.live.size());
  for (const auto& rec : r.live) out.push_back(ThreadHandle(rec));
  return out;
}

ExceptHook SetExceptHook(ExceptHook hook) {
  HookState& h = Hook();
  absl::MutexLock l(&h.mu);
  ExceptHook previous = h.hook != nullptr ? *h.hook : ExceptHook();
  if (h.hook == nullptr) h.hook = new ExceptHook();
  *h.hook = std::move(hook);
  return previous;
}

void DefaultExceptHook(const ExceptHookArgs& args) {
  std::string what = "unknown exception";
  try {
    std::rethrow_exception(args.exception);
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
  }
  const std::string name =
      args.thread.valid() ? args.thread.name() : std::string("?");
  std::fprintf(stderr, "Exception in thread %s:\n%s\n", name.c_str(),
               what.c_str());
  std::fflush(stderr);
}

}  // namespace spindle
