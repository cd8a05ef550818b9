// Copyright 2026 The spindle Authors.
//
// What the selectors examples (echo_server, modify_server, chat_room) share
// around their servers: main()'s serving path, the --selftest skeleton (the
// server on a free port in a background thread) and the blocking clients the
// self-tests speak with.
//
// A `Server` here is any class with
//   absl::Status Start(const std::string& host, int port);
//   int port() const;
//   absl::Status Run();  // until Stop() or an error
//   void Stop();         // thread-safe, may be called more than once

#ifndef SPINDLE_EXAMPLES_SERVER_HARNESS_H_
#define SPINDLE_EXAMPLES_SERVER_HARNESS_H_

#include <unistd.h>

#include <cstddef>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "spindle/io/socket.h"

namespace spindle::examples {

// main() without --selftest: starts `server` on host:port, calls
// `announce(port)` (the port actually bound) and runs the server until it
// fails. Returns main()'s exit code; errors go to stderr.
template <typename Server>
int Serve(Server& server, const std::string& host, int port,
          absl::FunctionRef<void(int port)> announce) {
  if (absl::Status s = server.Start(host, port); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 1;
  }
  announce(server.port());
  std::fflush(stdout);
  absl::Status s = server.Run();
  std::fprintf(stderr, "%s\n", s.ToString().c_str());
  return s.ok() ? 0 : 1;
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
  std::thread loop([&] { run_status = server.Run(); });
  int failures = clients(server);
  server.Stop();
  loop.join();
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

// Connects `n_clients` clients to 127.0.0.1:port; then, `rounds` times, each
// client in turn sends `message(client, round)` and must read exactly it
// back. Returns the number of failures, each reported on stderr.
int EchoRoundTrips(
    int port, int n_clients, int rounds,
    absl::FunctionRef<std::string(size_t client, int round)> message);

}  // namespace spindle::examples

#endif  // SPINDLE_EXAMPLES_SERVER_HARNESS_H_
