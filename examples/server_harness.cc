// Copyright 2026 The spindle Authors.

#include "spindle/examples/server_harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "spindle/io/socket.h"

namespace spindle::examples {

absl::StatusOr<std::vector<io::Socket>> ConnectClients(int port, int n) {
  std::vector<io::Socket> clients;
  for (int i = 0; i < n; ++i) {
    absl::StatusOr<io::Socket> c = io::ConnectTcp("127.0.0.1", port);
    if (!c.ok()) return c.status();
    clients.push_back(*std::move(c));
  }
  return clients;
}

absl::StatusOr<std::string> RecvExactly(io::Socket& s, size_t n) {
  std::string out;
  while (out.size() < n) {
    absl::StatusOr<std::string> part = s.Recv(n - out.size());
    if (!part.ok()) return part.status();
    if (part->empty()) return absl::DataLossError("server closed early");
    out += *part;
  }
  return out;
}

absl::StatusOr<std::string> RecvLine(io::Socket& s) {
  std::string line;
  char ch;
  for (;;) {
    absl::StatusOr<size_t> n = s.Recv(&ch, 1);
    if (!n.ok()) return n.status();
    if (*n == 0) return absl::DataLossError("server closed early");
    if (ch == '\n') return line;
    line += ch;
  }
}

std::string PeerAddress(const io::Socket& s) {
  sockaddr_in addr{};
  socklen_t len = sizeof(addr);
  char host[INET_ADDRSTRLEN];
  if (getpeername(s.fileno(), reinterpret_cast<sockaddr*>(&addr), &len) != 0 ||
      addr.sin_family != AF_INET ||
      inet_ntop(AF_INET, &addr.sin_addr, host, sizeof(host)) == nullptr) {
    return "?";
  }
  return absl::StrCat(host, ":", ntohs(addr.sin_port));
}

int EchoRoundTrips(
    int port, int n_clients, int rounds,
    absl::FunctionRef<std::string(size_t client, int round)> message) {
  absl::StatusOr<std::vector<io::Socket>> clients =
      ConnectClients(port, n_clients);
  if (!clients.ok()) {
    std::fprintf(stderr, "connect: %s\n", clients.status().ToString().c_str());
    return 1;
  }
  int failures = 0;
  for (int round = 0; round < rounds && failures == 0; ++round) {
    for (size_t i = 0; i < clients->size(); ++i) {
      const std::string msg = message(i, round);
      absl::Status sent = (*clients)[i].SendAll(msg);
      absl::StatusOr<std::string> reply =
          RecvExactly((*clients)[i], msg.size());
      if (!sent.ok() || !reply.ok() || *reply != msg) {
        std::fprintf(stderr, "client %zu round %d: bad reply\n", i, round);
        ++failures;
      }
    }
  }
  return failures;
}

}  // namespace spindle::examples
