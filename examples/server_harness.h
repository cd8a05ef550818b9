// Copyright 2026 The spindle Authors.
//
// What the server examples (echo_server, modify_server, chat_room,
// blocking_server, selector_server) share around their servers: main()'s
// serving path with its Ctrl-C handling, the --selftest skeleton (the server
// on a free port in a background thread) and the blocking clients the
// self-tests speak with.
//
// A `Server` here is any class with
//   absl::Status Start(const std::string& host, int port);
//   int port() const;
//   absl::Status Run();  // until Stop() or an error
//   void Stop();         // thread-safe, may be called more than once, also
//                        // before Run() (which then returns at once)

#ifndef SPINDLE_EXAMPLES_SERVER_HARNESS_H_
#define SPINDLE_EXAMPLES_SERVER_HARNESS_H_

#include <signal.h>
#include <unistd.h>

#include <cstddef>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "spindle/concurrency/thread.h"
#include "spindle/io/event_loop.h"
#include "spindle/io/socket.h"

namespace spindle::examples {

// main() without --selftest: starts `server` on host:port, prints
// "listening on HOST:PORT" (the port actually bound) as its first line, calls
// `announce(port)` for any further hints, and runs the server until it fails
// or the user stops it with Ctrl-C (SIGINT) or SIGTERM. Returns main()'s exit
// code: 0 after a signal, 1 when the server could not start or failed;
// errors go to stderr.
//
// Signals take Python's asyncio route (loop.add_signal_handler): the main
// thread runs a spindle::io::EventLoop that does nothing but own SIGINT and
// SIGTERM; their callbacks run as ordinary code on that thread and call
// server.Stop(), while server.Run() runs on a spindle::Thread of its own.
// So Stop() need not be async-signal-safe, and blocking servers are stopped
// the same way as selector ones. The handlers are in place before the
// "listening on" line, so a signal sent after it is never lost.
template <typename Server>
int Serve(Server& server, const std::string& host, int port,
          absl::FunctionRef<void(int port)> announce) {
  absl::StatusOr<std::unique_ptr<io::EventLoop>> loop = io::EventLoop::Create();
  if (!loop.ok()) {
    std::fprintf(stderr, "%s\n", loop.status().ToString().c_str());
    return 1;
  }
  for (int signo : {SIGINT, SIGTERM}) {
    absl::Status s = (*loop)->AddSignalHandler(signo, [&server, signo] {
      std::printf("signal %d: shutting down\n", signo);
      server.Stop();
    });
    if (!s.ok()) {
      std::fprintf(stderr, "%s\n", s.ToString().c_str());
      return 1;
    }
  }
  if (absl::Status s = server.Start(host, port); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 1;
  }
  std::printf("listening on %s:%d\n", host.c_str(), server.port());
  announce(server.port());
  std::fflush(stdout);

  // The server runs on its own thread; when Run() returns (after Stop(), or
  // on an error) it stops the signal loop, so main() wakes up either way.
  absl::Status run_status;
  Thread runner(Thread::Options{.name = "server"}, [&] {
    run_status = server.Run();
    (*loop)->Stop();
  });
  if (absl::Status s = runner.Start(); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 1;
  }
  absl::Status loop_status = (*loop)->RunForever();
  if (!loop_status.ok()) server.Stop();  // the loop broke: stop serving too
  runner.Join();
  for (const absl::Status& s : {loop_status, run_status}) {
    if (!s.ok()) {
      std::fprintf(stderr, "%s\n", s.ToString().c_str());
      return 1;
    }
  }
  std::printf("server stopped\n");
  return 0;
}

// The skeleton of every --selftest: bounds the whole process with alarm(60)
// (a hang fails instead of blocking CI), starts a `Server` on 127.0.0.1 and a
// free port, runs it in a background thread, calls `clients(server)` (which
// returns how many checks failed; its sockets close when it returns), stops
// the server and prints "selftest OK" or "selftest FAILED". Returns main()'s
// exit code.
template <typename Server>
int RunSelfTest(absl::FunctionRef<int(Server& server)> clients) {
  alarm(60);
  Server server;
  if (absl::Status s = server.Start("127.0.0.1", 0); !s.ok()) {
    std::fprintf(stderr, "start: %s\n", s.ToString().c_str());
    return 1;
  }
  absl::Status run_status;
  Thread loop(Thread::Options{.name = "server"},
              [&] { run_status = server.Run(); });
  if (absl::Status s = loop.Start(); !s.ok()) {
    std::fprintf(stderr, "start: %s\n", s.ToString().c_str());
    return 1;
  }
  int failures = clients(server);
  server.Stop();
  loop.Join();
  if (!run_status.ok()) {
    std::fprintf(stderr, "run: %s\n", run_status.ToString().c_str());
    ++failures;
  }
  std::printf(failures == 0 ? "selftest OK\n" : "selftest FAILED\n");
  return failures == 0 ? 0 : 1;
}

// Connects `n` blocking clients to 127.0.0.1:port, in order.
absl::StatusOr<std::vector<io::Socket>> ConnectClients(int port, int n);

// Reads exactly `n` bytes from a blocking socket.
absl::StatusOr<std::string> RecvExactly(io::Socket& s, size_t n);

// Reads one '\n'-terminated line (without it) from a blocking socket.
absl::StatusOr<std::string> RecvLine(io::Socket& s);

// The peer's address of a connected TCP socket as "HOST:PORT" (Python's
// str(addr) of accept()), or "?" when it cannot be had.
std::string PeerAddress(const io::Socket& s);

// Connects `n_clients` clients to 127.0.0.1:port; then, `rounds` times, each
// client in turn sends `message(client, round)` and must read exactly it
// back. Returns the number of failures, each reported on stderr.
int EchoRoundTrips(
    int port, int n_clients, int rounds,
    absl::FunctionRef<std::string(size_t client, int round)> message);

}  // namespace spindle::examples

#endif  // SPINDLE_EXAMPLES_SERVER_HARNESS_H_
