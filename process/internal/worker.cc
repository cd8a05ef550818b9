// Copyright 2026 The spindle Authors.
//
// A pool's worker process and its messages (see worker.h). Private to
// //process:process_pool.

#include "spindle/process/internal/worker.h"

#include <cxxabi.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <typeinfo>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "spindle/process/connection.h"
#include "spindle/process/internal/batch.h"
#include "spindle/process/internal/pool_fds.h"

namespace spindle::process_internal {
namespace {

std::string DescribeCurrentException() {
  try {
    throw;
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    const std::type_info* type = abi::__cxa_current_exception_type();
    if (type == nullptr) return "non-std exception";
    int err = 0;
    char* name = abi::__cxa_demangle(type->name(), nullptr, nullptr, &err);
    std::string out = absl::StrCat("non-std exception of type ",
                                   name != nullptr ? name : type->name());
    free(name);
    return out;
  }
}

// A worker's SIGTERM handler: dies of the signal if the fork server sent it,
// ignores it otherwise (async-signal-safe).
void OnWorkerSigterm(int sig, siginfo_t* info, void*) {
  const bool from_user = info->si_code == SI_USER ||
                         info->si_code == SI_QUEUE || info->si_code == SI_TKILL;
  if (!from_user || info->si_pid != getppid()) return;
  struct sigaction dfl;
  memset(&dfl, 0, sizeof(dfl));
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  sigaction(sig, &dfl, nullptr);
  raise(sig);  // Delivered, and fatal, once this handler returns.
}

// In a just-forked worker (SIGINT and SIGTERM are ignored, inherited from
// the fork server, so there is no moment at which a stray SIGTERM kills it).
void ConfigureWorkerSignals() {
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_sigaction = &OnWorkerSigterm;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
}

// What one task gave: 'V' (its result), 'E' (what it threw) or 'I' (its
// result was over max_message), and the bytes to send.
struct Outcome {
  char kind;
  std::string bytes;
};

Outcome RunOne(TaskInvoker invoker, const void* fn, absl::string_view arg,
               size_t max_message) {
  Outcome o{'V', {}};
  try {
    o.bytes = invoker(fn, arg);
  } catch (...) {
    o.kind = 'E';
    o.bytes = DescribeCurrentException();
    o.bytes.resize(std::min(o.bytes.size(), max_message));
  }
  if (o.bytes.size() > max_message) {
    o = {'I', absl::StrCat("result of ", o.bytes.size(),
                           " bytes exceeds max_message (", max_message, ")")};
  }
  return o;
}

}  // namespace

Connection WorkerConnection(int fd, size_t max_message) {
  return Connection::FromFd(fd, /*readable=*/true, /*writable=*/true,
                            /*is_socket=*/true, max_message + kTaskPrefix);
}

absl::Status SendMessage(Connection& conn, absl::string_view head,
                         absl::string_view body) {
  if (body.empty()) return conn.SendBytes(head);
  std::string message;
  message.reserve(head.size() + body.size());
  message.append(head.data(), head.size());
  message.append(body.data(), body.size());
  return conn.SendBytes(message);
}

void ExitChild(int code) {
  fflush(nullptr);
  _exit(code);
}

void WorkerMain(int fd, const WorkerConfig& config) {
  ConfigureWorkerSignals();
  // Single-threaded: no window needed. A pool the task starts closes this
  // socket in its fork server, so the caller sees EOF when this worker dies.
  Mark(fd);
  Connection conn = WorkerConnection(fd, config.max_message);
  if (config.initializer != nullptr) {
    std::string failure;
    try {
      absl::Status s = config.initializer();
      if (!s.ok()) failure = s.ToString();
    } catch (...) {
      failure = DescribeCurrentException();
    }
    if (!failure.empty()) {
      failure.resize(std::min(failure.size(), config.max_message));
      (void)SendMessage(conn, "F", failure);
      ExitChild(0);
    }
  }
  if (!conn.SendBytes("R").ok()) ExitChild(0);
  for (;;) {
    absl::StatusOr<std::string> msg = conn.RecvBytes();
    if (!msg.ok() || msg->size() < kTaskPrefix) break;
    const char kind = (*msg)[0];
    if (kind != 'T' && kind != 'B') break;
    uint64_t invoker_bits, fn_bits;
    memcpy(&invoker_bits, msg->data() + 1, sizeof(invoker_bits));
    memcpy(&fn_bits, msg->data() + 1 + sizeof(invoker_bits), sizeof(fn_bits));
    auto invoker =
        reinterpret_cast<TaskInvoker>(static_cast<uintptr_t>(invoker_bits));
    auto fn = reinterpret_cast<const void*>(static_cast<uintptr_t>(fn_bits));
    absl::string_view body = absl::string_view(*msg).substr(kTaskPrefix);
    if (kind == 'B') {
      std::vector<absl::string_view> args;
      if (!DecodeBatchArgs(body, &args)) break;
      // The reply may be as large as the largest message the caller reads.
      BatchReplyWriter reply(config.max_message + kTaskPrefix);
      for (absl::string_view arg : args) {
        Outcome o = RunOne(invoker, fn, arg, config.max_message);
        if (o.kind == 'V' && reply.AddValue(o.bytes)) continue;
        if (o.kind == 'V') {
          o = {'I', absl::StrCat("results of the chunk exceed max_message (",
                                 config.max_message, ")")};
        }
        reply.AddFailure(o.kind, o.bytes);
        break;
      }
      if (!conn.SendBytes(reply.Take()).ok()) break;
      continue;
    }
    Outcome o = RunOne(invoker, fn, body, config.max_message);
    if (!SendMessage(conn, absl::string_view(&o.kind, 1), o.bytes).ok()) break;
  }
  ExitChild(0);
}

}  // namespace spindle::process_internal
