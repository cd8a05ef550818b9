// Copyright 2026 The spindle Authors.
//
// Fuzz target: the four queues of concurrency/queue.h (Queue, LifoQueue,
// PriorityQueue, SimpleQueue) driven by a sequence of operations and
// checked, after every operation, against a small reference model: a list
// of items (FIFO, LIFO, or smallest key first and stable among equal keys),
// maxsize, the unfinished-task count and the shutdown flag.
//
// Single-threaded, so nothing may block: a blocking call is made only when
// the model says it returns at once; otherwise the operation uses one of the
// non-blocking forms instead (Try…, …For with a zero, negative or 1 us
// timeout, …Until with a past or 1 us deadline), and the model says which
// error it returns. Checked, as queue.h documents them:
//   * every status: Full / Empty / ShutDown (ShutDown wins over Full and
//     Empty; gets drain a non-immediately shut down queue first) and
//     InvalidArgument (TaskDone beyond the unfinished count or negative,
//     GetMany(0));
//   * which item each get returns, GetMany's count and order (appended to
//     what the vector held), PutMany's count;
//   * a failed put leaves the caller's item untouched, a successful one moves
//     from it (items are std::unique_ptr, so identity is checked);
//   * Shutdown(true) destroys the items left, subtracts them from
//     unfinished_tasks() (never below 0), and destroys them after the
//     queue's locks are released (an item's destructor calls into the
//     queue: qsize, full, is_shutdown, TryPut);
//   * qsize/empty/full/maxsize/unfinished_tasks/is_shutdown after each op,
//     no waiter left behind (getters_waiting/putters_waiting), no item
//     leaked or destroyed early (a live-object count), JoinFor's answer.
//
// Input: byte 0 picks the queue (% 5: Queue, LifoQueue, PriorityQueue,
// SimpleQueue, or all four in turn on the same operations); byte 1 the
// initial maxsize ((b % 12) - 3, so <= 0 is unbounded); then operations, at
// most 256, each an opcode byte (% 12) and its argument bytes (see Op; a
// missing byte reads as 0). Timed waits (1 us) are capped at 2 per input.
//
// Seed corpus: corpus/queue_model_fuzz/, made by gen_queue_model_corpus.py.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "spindle/concurrency/queue.h"
#include "spindle/concurrency/status.h"
#include "tests/fuzz/fuzz_input.h"

// Inside Runner: aborts with the op and the model's state unless `cond`.
#define CHECK_MODEL(cond, ...)                       \
  do {                                               \
    if (!(cond)) Fail(absl::StrFormat(__VA_ARGS__)); \
  } while (0)

namespace {

using spindle::IsEmpty;
using spindle::IsFull;
using spindle::IsShutDown;

// --- Items ------------------------------------------------------------------

int64_t g_live = 0;  // Items alive right now.
// Called from ~Item while set (Shutdown(true) drops items).
std::function<void()>* g_on_destroy = nullptr;

struct Item {
  Item(int k, uint32_t s) : key(k), seq(s) { ++g_live; }
  ~Item() {
    --g_live;
    if (g_on_destroy != nullptr) (*g_on_destroy)();
  }
  int key;
  uint32_t seq;
};
using Ptr = std::unique_ptr<Item>;
struct ByKey {
  bool operator()(const Ptr& a, const Ptr& b) const { return a->key < b->key; }
};

// --- Input ------------------------------------------------------------------

using Reader = ::spindle::fuzz::ByteReader;

// --- The model
// ----------------------------------------------------------------

enum class Kind { kFifo, kLifo, kPriority, kSimple };
const char* const kKindName[] = {"Queue", "LifoQueue", "PriorityQueue",
                                 "SimpleQueue"};

struct Model {
  Kind kind;
  int64_t maxsize = 0;
  std::vector<std::pair<int, uint32_t>> items;  // (key, seq), put order.
  int64_t unfinished = 0;
  bool shutdown = false;

  bool Full() const {
    return maxsize > 0 && items.size() >= static_cast<size_t>(maxsize);
  }
  size_t Room() const {
    if (maxsize <= 0) return SIZE_MAX;
    return Full() ? 0 : static_cast<size_t>(maxsize) - items.size();
  }
  // Removes and returns the next item in the queue's order.
  std::pair<int, uint32_t> Pop() {
    size_t i = 0;
    if (kind == Kind::kLifo) {
      i = items.size() - 1;
    } else if (kind == Kind::kPriority) {
      for (size_t j = 1; j < items.size(); ++j) {
        if (items[j].first < items[i].first) i = j;  // First of the smallest.
      }
    }
    auto it = items.begin() + static_cast<ptrdiff_t>(i);
    auto out = *it;
    items.erase(it);
    return out;
  }
};

// What a call should return.
enum class Want { kOk, kFull, kEmpty, kShutDown, kInvalid };
const char* const kWantName[] = {"OK", "Full", "Empty", "ShutDown",
                                 "InvalidArgument"};

bool Matches(const absl::Status& s, Want w) {
  switch (w) {
    case Want::kOk:
      return s.ok();
    case Want::kFull:
      return IsFull(s);
    case Want::kEmpty:
      return IsEmpty(s);
    case Want::kShutDown:
      return IsShutDown(s);
    case Want::kInvalid:
      return absl::IsInvalidArgument(s);
  }
  return false;
}

// How a call that might block is made (argument byte % 8). kBlock is used
// only when the model says the call returns at once; otherwise kTry.
enum Mode {
  kBlock,
  kTry,
  kForZero,
  kForNegative,
  kUntilInfinitePast,
  kUntilPast,
  kForShort,    // 1 us: really waits (and times out), capped per input.
  kUntilShort,  // Now() + 1 us, likewise.
};
const char* const kModeName[] = {"blocking",  "Try",         "For(0)",
                                 "For(-1ms)", "Until(-inf)", "Until(past)",
                                 "For(1us)",  "Until(+1us)"};

// The operations (opcode byte % 12); argument bytes in brackets.
enum Op {
  kPut,         // [mode] [key]
  kTryPut,      // [key]
  kPutMany,     // [mode] [n % 6 | nullptr-count bit 0x80] [key]...
  kGet,         // [mode]
  kTryGet,      //
  kGetMany,     // [mode] [max: % 8, 7 = SIZE_MAX] [prefill % 3]
  kTaskDone,    // [count: % 6 - 1, 5 = the default TaskDone()]
  kJoin,        // [mode]
  kShutdown,    // [immediate & 1]
  kSetMaxsize,  // [(b % 12) - 3]
  kPutGet,      // [key]: TryPut then TryGet (a quick round trip)
  kSnapshot,    // nothing: the checks every op gets
  kNumOps
};
const char* const kOpName[] = {
    "Put",      "TryPut", "PutMany",  "Get",         "TryGet", "GetMany",
    "TaskDone", "Join",   "Shutdown", "set_maxsize", "PutGet", "Snapshot"};

constexpr int kMaxOps = 256;
// Timed waits per input (all queues together): each costs ~60 us.
constexpr int kMaxTimedWaits = 2;
int g_timed_waits = 0;

template <typename Q>
class Runner {
 public:
  static constexpr bool kSimple = std::is_same_v<Q, spindle::SimpleQueue<Ptr>>;

  Runner(Kind kind, int64_t maxsize) : q_(MakeQueue(maxsize)) {
    model_.kind = kind;
    model_.maxsize = kSimple ? 0 : maxsize;
  }

  void Run(Reader in) {
    for (op_ = 0; op_ < kMaxOps && !in.empty(); ++op_) {
      const int op = in.Byte() % kNumOps;
      op_name_ = kOpName[op];
      switch (op) {
        case kPut:
          DoPut(in);
          break;
        case kTryPut:
          DoPut(in, kTry);
          break;
        case kPutMany:
          DoPutMany(in);
          break;
        case kGet:
          DoGet(in);
          break;
        case kTryGet:
          DoGet(in, kTry);
          break;
        case kGetMany:
          DoGetMany(in);
          break;
        case kTaskDone:
          DoTaskDone(in);
          break;
        case kJoin:
          DoJoin(in);
          break;
        case kShutdown:
          DoShutdown(in);
          break;
        case kSetMaxsize:
          DoSetMaxsize(in);
          break;
        case kPutGet: {
          const uint8_t key = in.Byte();
          DoPut(key, kTry);
          DoGet(kTry);
          break;
        }
        case kSnapshot:
          break;
      }
      CheckSnapshot();
    }
  }

  ~Runner() = default;

 private:
  static std::unique_ptr<Q> MakeQueue(int64_t maxsize) {
    if constexpr (kSimple) {
      (void)maxsize;
      return std::make_unique<Q>();
    } else {
      return std::make_unique<Q>(maxsize);
    }
  }

  [[noreturn]] void Fail(const std::string& what) {
    std::fprintf(stderr,
                 "queue_model_fuzz: %s, op %d (%s): %s [model: size %zu, "
                 "maxsize %lld, unfinished %lld, %s]\n",
                 kKindName[static_cast<int>(model_.kind)], op_, op_name_,
                 what.c_str(), model_.items.size(),
                 static_cast<long long>(model_.maxsize),
                 static_cast<long long>(model_.unfinished),
                 model_.shutdown ? "shut down" : "open");
    std::abort();
  }
  void CheckStatus(const absl::Status& s, Want w, Mode mode) {
    if (!Matches(s, w)) {
      Fail(absl::StrFormat("%s call returned %s, the model says %s",
                           kModeName[mode], s.ToString(),
                           kWantName[static_cast<int>(w)]));
    }
  }

  // Picks the mode for a call that blocks unless `returns_at_once`.
  Mode PickMode(uint8_t b, bool returns_at_once) {
    Mode m = static_cast<Mode>(b % 8);
    if (m == kBlock && !returns_at_once) m = kTry;
    if (m == kForShort || m == kUntilShort) {
      if (g_timed_waits >= kMaxTimedWaits) return kTry;
      ++g_timed_waits;
    }
    return m;
  }
  static absl::Duration ForTimeout(Mode m) {
    switch (m) {
      case kForNegative:
        return absl::Milliseconds(-1);
      case kForShort:
        return absl::Microseconds(1);
      default:
        return absl::ZeroDuration();
    }
  }
  static absl::Time UntilDeadline(Mode m) {
    switch (m) {
      case kUntilInfinitePast:
        return absl::InfinitePast();
      case kUntilPast:
        return absl::Now() - absl::Seconds(1);
      default:
        return absl::Now() + absl::Microseconds(1);
    }
  }
  static bool IsFor(Mode m) {
    return m == kForZero || m == kForNegative || m == kForShort;
  }

  Ptr NewItem(uint8_t key) {
    // Keys 0..3 make equal keys common (PriorityQueue's stability).
    return std::make_unique<Item>(key % 4, next_seq_++);
  }

  // --- Put ----------------------------------------------------------------

  void DoPut(Reader& in, int forced_mode = -1) {
    const uint8_t mode_byte = forced_mode >= 0 ? 0 : in.Byte();
    const uint8_t key = in.Byte();
    DoPut(key, forced_mode >= 0 ? static_cast<Mode>(forced_mode)
                                : PickMode(mode_byte, ModelPutReturns()));
  }
  bool ModelPutReturns() const { return model_.shutdown || !model_.Full(); }

  void DoPut(uint8_t key, Mode mode) {
    Ptr item = NewItem(key);
    Item* const raw = item.get();
    Want want = Want::kOk;
    if constexpr (kSimple) {
      q_->Put(std::move(item));
    } else {
      if (model_.shutdown) {
        want = Want::kShutDown;
      } else if (model_.Full()) {
        want = Want::kFull;
      }
      absl::Status s;
      switch (mode) {
        case kBlock:
          s = q_->Put(std::move(item));
          break;
        case kTry:
          s = q_->TryPut(std::move(item));
          break;
        default:
          s = IsFor(mode) ? q_->PutFor(std::move(item), ForTimeout(mode))
                          : q_->PutUntil(std::move(item), UntilDeadline(mode));
      }
      CheckStatus(s, want, mode);
    }
    if (want == Want::kOk) {
      CHECK_MODEL(item == nullptr, "a successful put left the caller's item");
      model_.items.emplace_back(raw->key, raw->seq);
      ++model_.unfinished;
    } else {
      CHECK_MODEL(item.get() == raw, "a failed put took the caller's item");
    }
  }

  void DoPutMany(Reader& in) {
    const uint8_t mode_byte = in.Byte();
    const uint8_t nb = in.Byte();
    const size_t n = nb % 6;
    const bool want_count = (nb & 0x80) == 0;
    std::vector<Ptr> items;
    std::vector<Item*> raw;
    for (size_t i = 0; i < n; ++i) {
      items.push_back(NewItem(in.Byte()));
      raw.push_back(items.back().get());
    }
    size_t fit = 0;
    Want want = Want::kOk;
    if (model_.shutdown) {
      want = Want::kShutDown;  // "From now on every put fails" (queue.h).
    } else {
      fit = std::min(n, model_.Room());
      if (fit < n) want = Want::kFull;
    }
    const absl::Span<Ptr> span(items);
    size_t num_put = 12345;
    size_t* const np = want_count ? &num_put : nullptr;
    if constexpr (kSimple) {
      (void)mode_byte;
      (void)np;
      q_->PutMany(span);
      fit = n;
      want = Want::kOk;
    } else {
      const Mode mode =
          PickMode(mode_byte, model_.shutdown || want == Want::kOk);
      absl::Status s;
      switch (mode) {
        case kBlock:
          s = q_->PutMany(span, np);
          break;
        case kTry:
          s = q_->TryPutMany(span, np);
          break;
        default:
          s = IsFor(mode) ? q_->PutManyFor(span, ForTimeout(mode), np)
                          : q_->PutManyUntil(span, UntilDeadline(mode), np);
      }
      CheckStatus(s, want, mode);
      if (want_count) {
        CHECK_MODEL(num_put == fit,
                    "PutMany of %zu put %zu, the model says %zu", n, num_put,
                    fit);
      }
    }
    for (size_t i = 0; i < n; ++i) {
      if (i < fit) {
        CHECK_MODEL(items[i] == nullptr, "PutMany left item %zu (of %zu put)",
                    i, fit);
        model_.items.emplace_back(raw[i]->key, raw[i]->seq);
        ++model_.unfinished;
      } else {
        CHECK_MODEL(items[i].get() == raw[i],
                    "PutMany took item %zu (of %zu put)", i, fit);
      }
    }
  }

  // --- Get ----------------------------------------------------------------

  void DoGet(Reader& in, int forced_mode = -1) {
    DoGet(forced_mode >= 0 ? static_cast<Mode>(forced_mode)
                           : PickMode(in.Byte(), ModelGetReturns()));
  }
  bool ModelGetReturns() const {
    return model_.shutdown || !model_.items.empty();
  }
  Want ModelGetError() const {
    return model_.shutdown ? Want::kShutDown : Want::kEmpty;
  }

  void DoGet(Mode mode) {
    absl::StatusOr<Ptr> got;
    switch (mode) {
      case kBlock:
        got = q_->Get();
        break;
      case kTry:
        got = q_->TryGet();
        break;
      default:
        got = IsFor(mode) ? q_->GetFor(ForTimeout(mode))
                          : q_->GetUntil(UntilDeadline(mode));
    }
    if (model_.items.empty()) {
      CheckStatus(got.status(), ModelGetError(), mode);
      return;
    }
    CheckStatus(got.status(), Want::kOk, mode);
    const auto want = model_.Pop();
    CHECK_MODEL(*got != nullptr, "got a null item");
    CHECK_MODEL((*got)->seq == want.second,
                "got item #%u (key %d), the model says #%u (key %d)",
                (*got)->seq, (*got)->key, want.second, want.first);
  }

  void DoGetMany(Reader& in) {
    const uint8_t mode_byte = in.Byte();
    const uint8_t mb = in.Byte() % 8;
    const size_t max_items = mb == 7 ? SIZE_MAX : mb;
    const size_t prefill = in.Byte() % 3;
    std::vector<Ptr> out;
    for (size_t i = 0; i < prefill; ++i) out.push_back(NewItem(0));
    std::vector<Item*> before;
    for (const Ptr& p : out) before.push_back(p.get());

    const Mode mode = PickMode(mode_byte, max_items == 0 || ModelGetReturns());
    absl::StatusOr<size_t> got;
    switch (mode) {
      case kBlock:
        got = q_->GetMany(max_items, &out);
        break;
      case kTry:
        got = q_->TryGetMany(max_items, &out);
        break;
      default:
        if (IsFor(mode)) {
          got = q_->GetManyFor(max_items, ForTimeout(mode), &out);
        } else if constexpr (!kSimple) {
          got = q_->GetManyUntil(max_items, UntilDeadline(mode), &out);
        } else {
          got = q_->GetManyFor(max_items, absl::ZeroDuration(), &out);
        }
    }
    Want want = Want::kOk;
    if (max_items == 0) {
      want = Want::kInvalid;
    } else if (model_.items.empty()) {
      want = ModelGetError();
    }
    CheckStatus(got.status(), want, mode);
    size_t n = 0;
    if (want == Want::kOk) {
      n = std::min(max_items, model_.items.size());
      CHECK_MODEL(*got == n, "GetMany(%zu) returned %zu, the model says %zu",
                  max_items, *got, n);
    }
    CHECK_MODEL(
        out.size() == prefill + n,
        "GetMany left %zu items in the vector, the model says %zu + %zu",
        out.size(), prefill, n);
    for (size_t i = 0; i < prefill; ++i) {
      CHECK_MODEL(out[i].get() == before[i], "GetMany changed what *out held");
    }
    for (size_t i = 0; i < n; ++i) {
      const auto want_item = model_.Pop();
      const Ptr& p = out[prefill + i];
      CHECK_MODEL(p != nullptr && p->seq == want_item.second,
                  "GetMany item %zu is #%u, the model says #%u", i,
                  p == nullptr ? 0u : p->seq, want_item.second);
    }
  }

  // --- Tasks --------------------------------------------------------------

  void DoTaskDone(Reader& in) {
    const int b = in.Byte() % 6;
    if constexpr (kSimple) {
      (void)b;
      return;
    } else {
      const int64_t count = b == 5 ? 1 : b - 1;
      const absl::Status s = b == 5 ? q_->TaskDone() : q_->TaskDone(count);
      if (count < 0 || count > model_.unfinished) {
        CheckStatus(s, Want::kInvalid, kTry);
      } else {
        CheckStatus(s, Want::kOk, kTry);
        model_.unfinished -= count;
      }
    }
  }

  void DoJoin(Reader& in) {
    const uint8_t mode_byte = in.Byte();
    if constexpr (kSimple) {
      (void)mode_byte;
      return;
    } else {
      const bool all_done = model_.unfinished == 0;
      const Mode mode = PickMode(mode_byte, all_done);
      bool got = true;
      switch (mode) {
        case kBlock:
          q_->Join();
          break;
        case kTry:
          got = q_->JoinFor(absl::ZeroDuration());
          break;
        default:
          got = IsFor(mode) ? q_->JoinFor(ForTimeout(mode))
                            : q_->JoinUntil(UntilDeadline(mode));
      }
      CHECK_MODEL(got == all_done, "%s Join returned %d with %lld unfinished",
                  kModeName[mode], got,
                  static_cast<long long>(model_.unfinished));
    }
  }

  // --- Shutdown and maxsize -------------------------------------------------

  void DoShutdown(Reader& in) {
    const bool immediate = in.Byte() & 1;
    if constexpr (kSimple) {
      (void)immediate;
      return;
    } else {
      // A dropped item's destructor calls into the queue: that must not
      // deadlock (the items are destroyed after the locks are released)
      // and must see the queue shut down.
      bool inside = false;
      size_t destroyed = 0;
      std::function<void()> hook = [&] {
        if (inside) return;
        inside = true;
        ++destroyed;
        CHECK_MODEL(q_->is_shutdown(), "a dropped item saw the queue open");
        (void)q_->qsize();
        (void)q_->full();
        (void)q_->unfinished_tasks();
        {
          Ptr extra = NewItem(0);  // Destroyed before `inside` is reset.
          CheckStatus(q_->TryPut(std::move(extra)), Want::kShutDown, kTry);
        }
        inside = false;
      };
      g_on_destroy = &hook;
      q_->Shutdown(immediate);
      g_on_destroy = nullptr;
      model_.shutdown = true;
      if (immediate) {
        const int64_t dropped = static_cast<int64_t>(model_.items.size());
        CHECK_MODEL(destroyed == model_.items.size(),
                    "Shutdown(true) destroyed %zu items, the model says %zu",
                    destroyed, model_.items.size());
        model_.items.clear();
        model_.unfinished = std::max<int64_t>(0, model_.unfinished - dropped);
      } else {
        CHECK_MODEL(destroyed == 0, "Shutdown(false) destroyed %zu items",
                    destroyed);
      }
    }
  }

  void DoSetMaxsize(Reader& in) {
    const int64_t m = static_cast<int64_t>(in.Byte() % 12) - 3;
    if constexpr (kSimple) {
      (void)m;
      return;
    } else {
      q_->set_maxsize(m);
      model_.maxsize = m;
    }
  }

  // --- After every op -------------------------------------------------------

  void CheckSnapshot() {
    const size_t n = model_.items.size();
    CHECK_MODEL(q_->qsize() == n, "qsize() %zu, the model says %zu",
                q_->qsize(), n);
    CHECK_MODEL(q_->empty() == (n == 0), "empty() is %d", q_->empty());
    CHECK_MODEL(q_->getters_waiting() == 0, "getters_waiting() is %zu",
                q_->getters_waiting());
    if constexpr (!kSimple) {
      CHECK_MODEL(q_->full() == model_.Full(), "full() is %d", q_->full());
      CHECK_MODEL(q_->maxsize() == model_.maxsize, "maxsize() is %lld",
                  static_cast<long long>(q_->maxsize()));
      CHECK_MODEL(q_->unfinished_tasks() == model_.unfinished,
                  "unfinished_tasks() is %lld",
                  static_cast<long long>(q_->unfinished_tasks()));
      CHECK_MODEL(q_->is_shutdown() == model_.shutdown, "is_shutdown() is %d",
                  q_->is_shutdown());
      CHECK_MODEL(q_->putters_waiting() == 0, "putters_waiting() is %zu",
                  q_->putters_waiting());
    }
    CHECK_MODEL(g_live == static_cast<int64_t>(n),
                "%lld items alive, the model holds %zu",
                static_cast<long long>(g_live), n);
  }

  std::unique_ptr<Q> q_;
  Model model_;
  int op_ = 0;
  const char* op_name_ = "";
  uint32_t next_seq_ = 1;
};

template <typename Q>
void RunOne(Kind kind, int64_t maxsize, Reader in) {
  {
    Runner<Q> runner(kind, maxsize);
    runner.Run(in);
  }
  // Destroying the queue destroys what it still held.
  if (g_live != 0) {
    std::fprintf(stderr,
                 "queue_model_fuzz: %s: %lld items alive after the queue was "
                 "destroyed\n",
                 kKindName[static_cast<int>(kind)],
                 static_cast<long long>(g_live));
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const int which = data[0] % 5;
  const int64_t maxsize = static_cast<int64_t>(data[1] % 12) - 3;
  const Reader ops(data + 2, size - 2);
  g_live = 0;
  g_timed_waits = 0;
  if (which == 0 || which == 4) {
    RunOne<spindle::Queue<Ptr>>(Kind::kFifo, maxsize, ops);
  }
  if (which == 1 || which == 4) {
    RunOne<spindle::LifoQueue<Ptr>>(Kind::kLifo, maxsize, ops);
  }
  if (which == 2 || which == 4) {
    RunOne<spindle::PriorityQueue<Ptr, ByKey>>(Kind::kPriority, maxsize, ops);
  }
  if (which == 3 || which == 4) {
    RunOne<spindle::SimpleQueue<Ptr>>(Kind::kSimple, maxsize, ops);
  }
  return 0;
}
