// Copyright 2026 The spindle Authors.
//
// Load driver for bench/echo_bench.py: --connections connections to an echo
// server, each doing ping-pong with one --size-byte message in flight, for
// --duration. A raw epoll client (no spindle code), so that it costs every
// server the same. Prints "messages=N seconds=S".

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "spindle/io/socket.h"

ABSL_FLAG(int, port, 0, "echo server port on 127.0.0.1");
ABSL_FLAG(int, connections, 1, "connections");
ABSL_FLAG(int, size, 64, "message size in bytes");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(3), "run time");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int n = absl::GetFlag(FLAGS_connections);
  const size_t size = absl::GetFlag(FLAGS_size);
  std::vector<spindle::io::Socket> socks;
  std::vector<size_t> got(n, 0);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  const std::string msg(size, 'm');
  for (int i = 0; i < n; ++i) {
    auto s = spindle::io::ConnectTcp("127.0.0.1", absl::GetFlag(FLAGS_port));
    if (!s.ok()) {
      std::fprintf(stderr, "connect: %s\n", s.status().ToString().c_str());
      return 1;
    }
    int one = 1;
    setsockopt(s->fileno(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    (void)s->SetNonBlocking();
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = static_cast<uint32_t>(i);
    epoll_ctl(ep, EPOLL_CTL_ADD, s->fileno(), &ev);
    socks.push_back(*std::move(s));
  }
  const absl::Time start = absl::Now();
  const absl::Time end = start + absl::GetFlag(FLAGS_duration);
  for (auto& s : socks) (void)send(s.fileno(), msg.data(), size, MSG_NOSIGNAL);
  int64_t messages = 0;
  std::array<epoll_event, 1024> events;
  static char buf[65536];
  int outstanding = n;
  bool sending = true;
  while (outstanding > 0) {
    int k = epoll_wait(ep, events.data(), events.size(), 100);
    if (sending && absl::Now() >= end) sending = false;
    for (int e = 0; e < k; ++e) {
      const uint32_t i = events[e].data.u32;
      ssize_t r = recv(socks[i].fileno(), buf, sizeof(buf), 0);
      if (r <= 0) {
        if (r < 0 && errno == EAGAIN) continue;
        std::fprintf(stderr, "connection %u lost\n", i);
        return 1;
      }
      got[i] += r;
      while (got[i] >= size) {
        got[i] -= size;
        ++messages;
        if (sending) {
          (void)send(socks[i].fileno(), msg.data(), size, MSG_NOSIGNAL);
        } else {
          --outstanding;
        }
      }
    }
  }
  std::printf("messages=%lld seconds=%.3f\n", static_cast<long long>(messages),
              absl::ToDoubleSeconds(absl::Now() - start));
  return 0;
}
