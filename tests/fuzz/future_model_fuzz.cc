// Copyright 2026 The spindle Authors.
//
// Fuzz target: Promise / Future (concurrency/future.h) driven by a sequence
// of operations, in any order, on up to 4 promises and up to 16 futures
// (the promises' and `Then` continuations'), checked after every operation
// against a small reference model of each future's state, outcome and
// listeners:
//   * SetValue / SetException / SetError / SetRunning / Cancel and the
//     abandoning of a Promise succeed or fail as documented (a second
//     setter, or one on a cancelled future, fails with FailedPrecondition
//     and keeps the first outcome; SetError(OK) is InvalidArgument; Cancel
//     is true while pending or once cancelled, false once running or done;
//     SetRunning: OK / IsCancelled / FailedPrecondition; an abandoned
//     promise's future ends IsBroken);
//   * done() / cancelled() / running(), and ResultFor(0), ExceptionFor(0),
//     WaitFor(0), Result() and Exception() on done futures, Wait(fs, 0) and
//     AsCompleted(fs, 0) say what the model says;
//   * every done callback runs exactly once, sees its future done with the
//     model's outcome, at once if added after completion, otherwise in the
//     order added when the future completes; a callback may itself set a
//     promise, cancel a future or add a callback, and the order of
//     everything that then runs is the documented one (callbacks of a
//     future completed inside a callback are queued on this thread and run
//     by the outermost call, after the callbacks it is running, in the
//     order the futures completed);
//   * `Then` with a value-taking function (passes on exceptions, errors and
//     cancellation without calling it), a future-taking one (called with
//     any outcome), and one that throws (its future holds the exception);
//     a cancelled continuation never calls its function.
// At the end every promise is abandoned: then every future must be done and
// every callback must have run exactly once (ASan: nothing leaks).
//
// Input: operations, at most 256, each an opcode byte (% 11) and its
// argument bytes (see Op; a missing byte reads as 0).
//
// Seed corpus: corpus/future_model_fuzz/, made by make_model_corpora.py.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <exception>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "spindle/concurrency/future.h"
#include "spindle/concurrency/status.h"
#include "tests/fuzz/fuzz_input.h"

// Aborts with the op index, its name and `...` unless `cond`.
#define CHECK_MODEL(cond, ...)                       \
  do {                                               \
    if (!(cond)) Fail(absl::StrFormat(__VA_ARGS__)); \
  } while (0)

namespace {

using spindle::Future;
using spindle::Promise;

int g_op = -1;
const char* g_op_name = "setup";

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "future_model_fuzz: op %d (%s): %s\n", g_op, g_op_name,
               what.c_str());
  std::abort();
}

// What the tasks "throw".
struct TestError {
  int id;
};

using Reader = ::spindle::fuzz::ByteReader;

// --- Outcomes
// -------------------------------------------------------------------

enum class St { kPending, kRunning, kValue, kException, kError, kCancelled };
const char* const kStName[] = {"pending",   "running", "value",
                               "exception", "error",   "cancelled"};

struct Outcome {
  St st = St::kPending;
  int value = 0;  // kValue: the value; kException: the TestError id.
  absl::StatusCode code = absl::StatusCode::kOk;  // kError.
  bool operator==(const Outcome& o) const {
    return st == o.st && value == o.value && code == o.code;
  }
  bool done() const { return st >= St::kValue; }
  std::string ToString() const {
    return absl::StrFormat("%s/%d/%s", kStName[static_cast<int>(st)], value,
                           absl::StatusCodeToString(code));
  }
  // A number for a Then function to return.
  int Encode() const {
    return static_cast<int>(static_cast<uint32_t>(st) * 1000003u +
                            static_cast<uint32_t>(value) * 31u +
                            static_cast<uint32_t>(code));
  }
};

// Reads a future's state through the public API only; checks that the
// different ways of asking agree.
Outcome Observe(const Future<int>& f) {
  Outcome o;
  if (!f.done()) {
    CHECK_MODEL(!f.cancelled(), "cancelled() but not done()");
    CHECK_MODEL(!f.WaitFor(absl::ZeroDuration()), "WaitFor(0) but not done()");
    const absl::StatusOr<int> r = f.ResultFor(absl::ZeroDuration());
    CHECK_MODEL(spindle::IsTimeout(r.status()),
                "ResultFor(0) on a future not done: %s", r.status().ToString());
    const absl::StatusOr<std::exception_ptr> e =
        f.ExceptionFor(absl::ZeroDuration());
    CHECK_MODEL(spindle::IsTimeout(e.status()),
                "ExceptionFor(0) on a future not done: %s",
                e.status().ToString());
    o.st = f.running() ? St::kRunning : St::kPending;
    return o;
  }
  CHECK_MODEL(!f.running(), "running() and done()");
  CHECK_MODEL(f.WaitFor(absl::ZeroDuration()), "done() but not WaitFor(0)");
  // On a done future the blocking forms return at once.
  const absl::StatusOr<std::exception_ptr> e = f.Exception();
  absl::StatusOr<int> r = absl::UnknownError("not set");
  int thrown = -1;
  try {
    r = f.Result();
  } catch (const TestError& t) {
    thrown = t.id;
  }
  if (f.cancelled()) {
    CHECK_MODEL(absl::IsCancelled(e.status()) && absl::IsCancelled(r.status()),
                "cancelled, but Exception() %s, Result() %s",
                e.status().ToString(), r.status().ToString());
    o.st = St::kCancelled;
  } else if (!e.ok()) {
    CHECK_MODEL(thrown < 0 && r.status() == e.status(),
                "Exception() %s, Result() %s", e.status().ToString(),
                r.status().ToString());
    CHECK_MODEL(!absl::IsCancelled(e.status()),
                "IsCancelled() but not cancelled()");
    o.st = St::kError;
    o.code = e.status().code();
  } else if (*e != nullptr) {
    int id = -1;
    try {
      std::rethrow_exception(*e);
    } catch (const TestError& t) {
      id = t.id;
    }
    CHECK_MODEL(id >= 0 && thrown == id,
                "Exception() holds %d, Result() threw %d", id, thrown);
    o.st = St::kException;
    o.value = id;
  } else {
    CHECK_MODEL(thrown < 0 && r.ok(), "no exception, but Result() %s / %d",
                r.status().ToString(), thrown);
    o.st = St::kValue;
    o.value = *r;
  }
  // The zero-timeout forms agree with the blocking ones.
  const absl::StatusOr<std::exception_ptr> e0 =
      f.ExceptionFor(absl::ZeroDuration());
  CHECK_MODEL(e0.status() == e.status() && (!e0.ok() || *e0 == *e),
              "ExceptionFor(0) %s differs from Exception() %s",
              e0.status().ToString(), e.status().ToString());
  return o;
}

// --- The operations
// -----------------------------------------------------------

enum Op {
  kNewPromise,    //
  kSetValue,      // [slot] [value]
  kSetException,  // [slot]
  kSetError,      // [slot] [code % 4: OK, Internal, DataLoss, Aborted]
  kSetRunning,    // [slot]
  kCancel,        // [future]
  kCallback,      // [future] [action % 4] [target]
  kThen,          // [future] [fn % 3: value, future-taking, throwing]
  kResult,        // [future]
  kAbandon,       // [slot]
  kWait,          // [mask of futures 0..7]
  kNumOps
};
const char* const kOpName[] = {"NewPromise",      "SetValue",   "SetException",
                               "SetError",        "SetRunning", "Cancel",
                               "AddDoneCallback", "Then",       "Result",
                               "Abandon",         "Wait"};

// What a callback does besides recording that it ran.
enum Action { kNothing, kSetPromise, kCancelFuture, kAddCallback };

constexpr int kMaxOps = 256;
constexpr int kMaxPromises = 4;
constexpr int kMaxFutures = 16;
constexpr int kMaxNodes = 128;

const absl::StatusCode kCodes[] = {
    absl::StatusCode::kOk, absl::StatusCode::kInternal,
    absl::StatusCode::kDataLoss, absl::StatusCode::kAborted};

// One entry per callback run or Then function call, real or modelled.
struct Event {
  int node;
  int what;    // A callback: its future's outcome (encoded); a Then
               // function: the value it got (or the encoded outcome).
  int result;  // A callback's action: its result (encoded), else 0.
  bool operator==(const Event& e) const {
    return node == e.node && what == e.what && result == e.result;
  }
};

// What the value-taking Then function returns (wraps, never overflows).
int Next(int v) { return static_cast<int>(static_cast<uint32_t>(v) * 2u + 1u); }

int StatusResult(const absl::Status& s) { return static_cast<int>(s.code()); }

class Fuzz {
 public:
  void Run(Reader in) {
    for (g_op = 0; g_op < kMaxOps && !in.empty(); ++g_op) {
      const int op = in.Byte() % kNumOps;
      g_op_name = kOpName[op];
      Step(op, in);
      CheckAll();
    }
    // The end: abandoning every promise completes everything.
    g_op_name = "end";
    for (int slot = 0; slot < kMaxPromises; ++slot) {
      Abandon(slot);
      CheckAll();
    }
    for (size_t i = 0; i < model_.size(); ++i) {
      CHECK_MODEL(model_[i].o.done(), "future %zu not done at the end", i);
    }
    for (int n = 0; n < model_nodes_; ++n) {
      if (nodes_[n].then) continue;
      CHECK_MODEL(nodes_[n].runs == 1 && real_runs_[n] == 1,
                  "callback %d ran %d times (the model: %d)", n, real_runs_[n],
                  nodes_[n].runs);
    }
  }

 private:
  // --- The model
  // --------------------------------------------------------------

  struct MFuture {
    Outcome o;
    std::vector<int> listeners;  // Nodes, in registration order.
  };
  struct MNode {
    bool then = false;
    int future = 0;                     // Its source.
    int action = kNothing, target = 0;  // A callback.
    int fn = 0, out = -1;               // A Then: function kind, its future.
    int runs = 0;
  };

  // The model's future `f` became done: its listeners run now (or, inside
  // a callback, are queued for the outermost one).
  void MComplete(int f) {
    std::vector<int> list;
    list.swap(model_[f].listeners);
    if (active_) {
      for (int n : list) queue_.push_back(n);
      return;
    }
    active_ = true;
    for (int n : list) MRun(n);
    // Then what they completed, in completion order (and what that
    // completes, and so on).
    while (!queue_.empty()) {
      const int q = queue_.front();
      queue_.pop_front();
      MRun(q);
    }
    active_ = false;
  }

  void MAddListener(int f, int n) {
    if (model_[f].o.done()) {
      MRun(n);  // At once, on this thread.
    } else {
      model_[f].listeners.push_back(n);
    }
  }

  bool MFinish(int f, const Outcome& o) {
    const St st = model_[f].o.st;
    if (st != St::kPending && st != St::kRunning) return false;
    model_[f].o = o;
    MComplete(f);
    return true;
  }

  bool MCancel(int f) {
    if (model_[f].o.st == St::kCancelled) return true;
    if (model_[f].o.st != St::kPending) return false;
    model_[f].o.st = St::kCancelled;
    MComplete(f);
    return true;
  }

  void MRun(int n) {
    MNode& node = nodes_[n];
    ++node.runs;
    const Outcome in = model_[node.future].o;
    if (!node.then) {
      model_log_.push_back({n, in.Encode(), MAction(node.action, node.target)});
      return;
    }
    const int out = node.out;
    const bool takes_future = node.fn == 1;
    if (!takes_future && in.st == St::kCancelled) {
      MCancel(out);
      return;
    }
    if (model_[out].o.st != St::kPending) return;  // Cancelled.
    model_[out].o.st = St::kRunning;
    Outcome result;
    if (!takes_future && in.st == St::kException) {
      result = in;
    } else if (!takes_future && in.st == St::kError) {
      result = in;
    } else if (takes_future) {
      model_log_.push_back({n, in.Encode(), 0});
      result.st = St::kValue;
      result.value = in.Encode();
    } else {
      model_log_.push_back({n, in.value, 0});
      if (node.fn == 2) {
        result.st = St::kException;
        result.value = 1000 + n;
      } else {
        result.st = St::kValue;
        result.value = Next(in.value);
      }
    }
    MFinish(out, result);
  }

  int MAction(int action, int target) {
    switch (action) {
      case kSetPromise: {
        const int slot = target % kMaxPromises;
        if (!m_promise_live_[slot]) return -1;
        return MSetValue(promise_future_[slot], 100 + target);
      }
      case kCancelFuture: {
        const int f = target % kMaxFutures;
        if (f >= static_cast<int>(model_.size())) return -1;
        return MCancel(f) ? 1 : 0;
      }
      case kAddCallback: {
        const int f = target % kMaxFutures;
        if (f >= static_cast<int>(model_.size()) || model_nodes_ >= kMaxNodes) {
          return -1;
        }
        const int id = model_nodes_++;
        MNode node;
        node.future = f;
        nodes_[id] = node;
        MAddListener(f, id);
        return id;
      }
      default:
        return 0;
    }
  }

  int MSetValue(int f, int value) {
    Outcome o;
    o.st = St::kValue;
    o.value = value;
    return MFinish(f, o)
               ? 0
               : static_cast<int>(absl::StatusCode::kFailedPrecondition);
  }

  // --- The real thing
  // ---------------------------------------------------------

  void RealCallback(int id, int action, int target, const Future<int>& f) {
    ++real_runs_[id];
    CHECK_MODEL(f.done(), "callback %d runs on a future not done", id);
    const Outcome o = Observe(f);
    int result = 0;
    switch (action) {
      case kSetPromise: {
        const int slot = target % kMaxPromises;
        result = promise_[slot].has_value()
                     ? StatusResult(promise_[slot]->SetValue(100 + target))
                     : -1;
        break;
      }
      case kCancelFuture: {
        const int fi = target % kMaxFutures;
        result = fi < static_cast<int>(futures_.size())
                     ? (futures_[fi].Cancel() ? 1 : 0)
                     : -1;
        break;
      }
      case kAddCallback: {
        const int fi = target % kMaxFutures;
        if (fi >= static_cast<int>(futures_.size()) ||
            real_nodes_ >= kMaxNodes) {
          result = -1;
        } else {
          result = real_nodes_++;
          AddRealCallback(fi, result, kNothing, 0);
        }
        break;
      }
      default:
        break;
    }
    real_log_.push_back({id, o.Encode(), result});
  }

  void AddRealCallback(int f, int id, int action, int target) {
    futures_[f].AddDoneCallback(
        [this, id, action, target](const Future<int>& fut) {
          RealCallback(id, action, target, fut);
        });
  }

  // --- Steps
  // ------------------------------------------------------------------

  int FutureIndex(uint8_t b) const {
    return static_cast<int>(b % futures_.size());
  }

  void Step(int op, Reader& in) {
    switch (op) {
      case kNewPromise: {
        if (futures_.size() >= kMaxFutures) return;
        for (int slot = 0; slot < kMaxPromises; ++slot) {
          if (promise_[slot].has_value()) continue;
          promise_[slot].emplace();
          m_promise_live_[slot] = true;
          promise_future_[slot] = static_cast<int>(futures_.size());
          futures_.push_back(promise_[slot]->future());
          model_.emplace_back();
          return;
        }
        return;
      }
      case kSetValue:
      case kSetException:
      case kSetError:
      case kSetRunning: {
        const int slot = in.Byte() % kMaxPromises;
        const uint8_t arg = op == kSetValue || op == kSetError ? in.Byte() : 0;
        if (!promise_[slot].has_value()) return;
        const int f = promise_future_[slot];
        Promise<int>& p = *promise_[slot];
        absl::Status s;
        absl::StatusCode want = absl::StatusCode::kFailedPrecondition;
        Outcome o;
        if (op == kSetValue) {
          s = p.SetValue(arg);
          o.st = St::kValue;
          o.value = arg;
        } else if (op == kSetException) {
          const int id = next_exception_++;
          s = p.SetException(std::make_exception_ptr(TestError{id}));
          o.st = St::kException;
          o.value = id;
        } else if (op == kSetError) {
          const absl::StatusCode code = kCodes[arg % 4];
          s = p.SetError(absl::Status(code, "fuzz"));
          if (code == absl::StatusCode::kOk) {
            CHECK_MODEL(absl::IsInvalidArgument(s), "SetError(OK) returned %s",
                        s.ToString());
            return;
          }
          o.st = St::kError;
          o.code = code;
        } else {
          s = p.SetRunning();
          const St st = model_[f].o.st;
          if (st == St::kPending) {
            model_[f].o.st = St::kRunning;
            want = absl::StatusCode::kOk;
          } else if (st == St::kCancelled) {
            want = absl::StatusCode::kCancelled;
          }
          CHECK_MODEL(s.code() == want, "SetRunning on a %s future: %s",
                      kStName[static_cast<int>(st)], s.ToString());
          return;
        }
        const St before = model_[f].o.st;
        if (MFinish(f, o)) want = absl::StatusCode::kOk;
        CHECK_MODEL(s.code() == want, "setter on a %s future returned %s",
                    kStName[static_cast<int>(before)], s.ToString());
        return;
      }
      case kCancel: {
        const uint8_t b = in.Byte();
        if (futures_.empty()) return;
        const int f = FutureIndex(b);
        const St before = model_[f].o.st;
        const bool got = futures_[f].Cancel();
        const bool want = MCancel(f);
        CHECK_MODEL(got == want, "Cancel() of a %s future returned %d",
                    kStName[static_cast<int>(before)], got);
        return;
      }
      case kCallback: {
        const uint8_t b = in.Byte();
        const int action = in.Byte() % 4;
        const int target = in.Byte();
        if (futures_.empty() || real_nodes_ >= kMaxNodes) return;
        const int f = FutureIndex(b);
        const int id = real_nodes_++;
        const bool was_done = futures_[f].done();
        AddRealCallback(f, id, action, target);
        CHECK_MODEL(!was_done || real_runs_[id] == 1,
                    "a callback added to a done future did not run at once");
        const int mid = model_nodes_++;
        MNode node;
        node.future = f;
        node.action = action;
        node.target = target;
        nodes_[mid] = node;
        MAddListener(f, mid);
        return;
      }
      case kThen: {
        const uint8_t b = in.Byte();
        const int fn = in.Byte() % 3;
        if (futures_.empty() || futures_.size() >= kMaxFutures ||
            real_nodes_ >= kMaxNodes) {
          return;
        }
        const int f = FutureIndex(b);
        const int id = real_nodes_++;
        Future<int> out;
        if (fn == 0) {
          out = futures_[f].Then([this, id](const int& v) {
            ++real_runs_[id];
            real_log_.push_back({id, v, 0});
            return Next(v);
          });
        } else if (fn == 1) {
          out = futures_[f].Then([this, id](const Future<int>& src) {
            ++real_runs_[id];
            const Outcome o = Observe(src);
            real_log_.push_back({id, o.Encode(), 0});
            return o.Encode();
          });
        } else {
          out = futures_[f].Then([this, id](const int& v) -> int {
            ++real_runs_[id];
            real_log_.push_back({id, v, 0});
            throw TestError{1000 + id};
          });
        }
        futures_.push_back(out);
        model_.emplace_back();
        const int mid = model_nodes_++;
        MNode node;
        node.then = true;
        node.future = f;
        node.fn = fn;
        node.out = static_cast<int>(model_.size()) - 1;
        nodes_[mid] = node;
        MAddListener(f, mid);
        return;
      }
      case kResult: {
        // Every future is observed with zero timeouts after each op; this
        // waits 1 us on one that is not done (at most 3 per input).
        const uint8_t b = in.Byte();
        if (futures_.empty() || model_[FutureIndex(b)].o.done() ||
            timed_waits_ >= 3) {
          return;
        }
        ++timed_waits_;
        const Future<int>& f = futures_[FutureIndex(b)];
        const absl::StatusOr<int> r = f.ResultFor(absl::Microseconds(1));
        CHECK_MODEL(spindle::IsTimeout(r.status()),
                    "ResultFor(1us) on a future not done: %s",
                    r.status().ToString());
        CHECK_MODEL(!f.WaitFor(absl::Microseconds(1)),
                    "WaitFor(1us) on a future not done returned true");
        return;
      }
      case kAbandon:
        Abandon(in.Byte() % kMaxPromises);
        return;
      case kWait: {
        const uint8_t mask = in.Byte();
        std::vector<Future<int>> fs;
        std::vector<int> idx;
        for (int i = 0; i < 8 && i < static_cast<int>(futures_.size()); ++i) {
          if (mask & (1 << i)) {
            fs.push_back(futures_[i]);
            idx.push_back(i);
          }
        }
        const auto w =
            spindle::Wait(fs, absl::ZeroDuration(),
                          mask & 0x80 ? spindle::ReturnWhen::kFirstCompleted
                                      : spindle::ReturnWhen::kAllCompleted);
        size_t di = 0, ni = 0;
        std::vector<int> done_idx;
        for (size_t k = 0; k < idx.size(); ++k) {
          const bool done = model_[idx[k]].o.done();
          if (done) done_idx.push_back(idx[k]);
          const std::vector<Future<int>>& side = done ? w.done : w.not_done;
          size_t& at = done ? di : ni;
          CHECK_MODEL(at < side.size() && side[at] == fs[k],
                      "Wait(0) put future %d on the wrong side", idx[k]);
          ++at;
        }
        CHECK_MODEL(di == w.done.size() && ni == w.not_done.size(),
                    "Wait(0) returned extra futures");
        // AsCompleted(0): the done ones in input order, then one timeout
        // if any is not done.
        size_t k = 0;
        bool timed_out = false;
        for (absl::StatusOr<Future<int>>& f :
             spindle::AsCompleted(fs, absl::ZeroDuration())) {
          if (!f.ok()) {
            CHECK_MODEL(spindle::IsTimeout(f.status()) && !timed_out,
                        "AsCompleted(0) returned %s", f.status().ToString());
            timed_out = true;
            continue;
          }
          CHECK_MODEL(
              !timed_out && k < done_idx.size() && *f == futures_[done_idx[k]],
              "AsCompleted(0) yielded the wrong future at %zu", k);
          ++k;
        }
        CHECK_MODEL(k == done_idx.size() && timed_out == (k < fs.size()),
                    "AsCompleted(0) yielded %zu of %zu done futures", k,
                    done_idx.size());
        return;
      }
    }
  }

  void Abandon(int slot) {
    if (!promise_[slot].has_value()) return;
    {
      // Its callbacks see the slot empty while the promise abandons its
      // future (as the model's do).
      Promise<int> dying(std::move(*promise_[slot]));
      promise_[slot].reset();
    }
    m_promise_live_[slot] = false;
    Outcome o;
    o.st = St::kError;
    o.code = absl::StatusCode::kAborted;  // IsBroken.
    MFinish(promise_future_[slot], o);
  }

  void CheckAll() {
    for (size_t i = 0; i < futures_.size(); ++i) {
      const Outcome got = Observe(futures_[i]);
      CHECK_MODEL(got == model_[i].o, "future %zu is %s, the model says %s", i,
                  got.ToString(), model_[i].o.ToString());
    }
    CHECK_MODEL(real_nodes_ == model_nodes_, "%d callbacks, the model %d",
                real_nodes_, model_nodes_);
    CHECK_MODEL(real_log_.size() == model_log_.size(),
                "%zu callback/function runs, the model says %zu",
                real_log_.size(), model_log_.size());
    for (size_t i = 0; i < real_log_.size(); ++i) {
      const Event& r = real_log_[i];
      const Event& m = model_log_[i];
      CHECK_MODEL(r == m,
                  "run %zu: node %d saw %d and did %d; the model: node %d saw "
                  "%d and did %d",
                  i, r.node, r.what, r.result, m.node, m.what, m.result);
    }
    for (int n = 0; n < model_nodes_; ++n) {
      CHECK_MODEL(nodes_[n].runs <= 1 && real_runs_[n] <= 1,
                  "node %d ran %d times (the model: %d)", n, real_runs_[n],
                  nodes_[n].runs);
    }
  }

  // The real futures and promises (Run abandons every promise before it
  // returns, so no callback runs while the members are destroyed).
  std::vector<Future<int>> futures_;
  std::optional<Promise<int>> promise_[kMaxPromises];
  int promise_future_[kMaxPromises] = {};  // Index in futures_ and model_.
  int timed_waits_ = 0;
  int next_exception_ = 1;
  int real_nodes_ = 0;
  int real_runs_[kMaxNodes] = {};
  std::vector<Event> real_log_;

  std::vector<MFuture> model_;
  bool m_promise_live_[kMaxPromises] = {};
  MNode nodes_[kMaxNodes];
  int model_nodes_ = 0;
  bool active_ = false;
  std::deque<int> queue_;
  std::vector<Event> model_log_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  g_op = -1;
  g_op_name = "setup";
  Fuzz fuzz;
  fuzz.Run(Reader(data, size));
  return 0;
}
