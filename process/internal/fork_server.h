// Copyright 2026 The spindle Authors.
//
// -----------------------------------------------------------------------------
// File: internal/fork_server.h
// -----------------------------------------------------------------------------
//
// PRIVATE to //process:process_pool; not part of the public API. A pool's
// fork server: the single-threaded process, forked once when the pool starts,
// that forks the pool's workers (so that they are never forked from the
// multithreaded caller), signals them, and reaps each as soon as it ends (a
// worker killed while idle is no zombie), keeping its wait status until the
// caller asks for it. Here are its control protocol (a SOCK_SEQPACKET
// socket, one record a request or reply; a new worker's socket comes back
// with SCM_RIGHTS), the fork server process itself, and `ForkServer`, the
// caller's side of the control socket (see the layout at the top of
// process_pool.cc); also DescribeWaitStatus(), which puts the wait statuses
// it reports into words.

#ifndef SPINDLE_PROCESS_INTERNAL_FORK_SERVER_H_
#define SPINDLE_PROCESS_INTERNAL_FORK_SERVER_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "spindle/process/internal/worker.h"

namespace spindle::process_internal {

// Fork server control messages (fork_server.cc).
struct Request;
struct Reply;

// ---------------------------------------------------------------------------
// Wait statuses.

// "exited with status <n>", "killed by signal <n> (<NAME>)", or "ended with
// wait status <n>".
std::string DescribeWaitStatus(int status);

// ---------------------------------------------------------------------------
// ForkServer: the caller's side of the control socket.

class ForkServer {
 public:
  // Forks the fork server, which forks workers that run `config` (see
  // WorkerMain), and waits until it has started.
  static absl::StatusOr<std::unique_ptr<ForkServer>> Start(
      const WorkerConfig& config);

  ~ForkServer();

  // Forks a worker; returns its pid and the caller's end of its socket
  // (registered; close it with UnregisterAndClose).
  absl::StatusOr<std::pair<pid_t, int>> Spawn();

  // Reaps worker `pid` (after SIGKILL if `kill`) and returns its wait
  // status.
  absl::StatusOr<int> Reap(pid_t pid, bool kill);

  // Sends `sig` to worker `pid` if it has not been reaped.
  absl::Status Signal(pid_t pid, int sig);

  // One request that carries no descriptor back: its reply's status, or
  // the errno the fork server reported (as an ErrnoError naming `what`).
  absl::StatusOr<int> Call(Request req, const char* what);

  // Tells the fork server to exit (it kills and reaps any worker left) and
  // reaps it. Idempotent.
  void Stop();

  pid_t pid() const;

 private:
  ForkServer(pid_t pid, int fd);

  absl::Status SendRequest(Request req) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Status RecvReply(Reply* reply, int* fd, int flags)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;  // Serialises request/reply pairs.
  pid_t pid_ ABSL_GUARDED_BY(mu_);
  int fd_ ABSL_GUARDED_BY(mu_);
};

}  // namespace spindle::process_internal

#endif  // SPINDLE_PROCESS_INTERNAL_FORK_SERVER_H_
