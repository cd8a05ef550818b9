// Copyright 2026 The spindle Authors.
//
// Fuzz target: the TCP front end's framing end to end - a real TcpServer on
// an EventLoop (io/tcp_server.h), fed over loopback in writes cut where the
// fuzzer says, then half-closed - against the same reference splitter as
// line_framing_fuzz: one reply per request line, in order (the server
// answers each with its bytes in hex, so CR, NUL and any byte survive the
// trip), then "ERR line too long (max N bytes)" and the end of the stream
// where the reference finds a line over max_line. This covers what the
// unit-level target cannot: the dispatch path (dispatch.cc), its read and
// reply ordering, end of stream, and the close after an error.
//
// Input: a byte choosing the server (max_line 1, 2, 5, 64 or 300), then
// writes, each a length byte and that many bytes (a short last write
// takes what is left); after them the client half-closes.

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "spindle/io/event_loop.h"
#include "spindle/io/socket.h"
#include "spindle/io/tcp_server.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

using spindle::io::EventLoop;
using spindle::io::Responder;
using spindle::io::TcpServer;

constexpr size_t kMaxLines[] = {1, 2, 5, 64, 300};
constexpr int kServers = sizeof(kMaxLines) / sizeof(kMaxLines[0]);

void Check(bool ok, const std::string& what) {
  if (!ok) {
    std::fprintf(stderr, "tcp_framing_fuzz: %s\n", what.c_str());
    std::abort();
  }
}

// The servers, one per max_line, on one loop thread; made once per process
// and never destroyed (the fuzzer ends the process at any point).
struct Servers {
  std::unique_ptr<EventLoop> loop;
  std::vector<std::unique_ptr<TcpServer>> servers;
  int ports[kServers] = {};

  Servers() {
    loop = *EventLoop::Create();
    for (int i = 0; i < kServers; ++i) {
      TcpServer::Options o;
      o.max_line = kMaxLines[i];
      servers.push_back(std::make_unique<TcpServer>(
          loop.get(), o, [](absl::string_view line, Responder& r) {
            r.Reply(absl::BytesToHexString(line));
            return absl::OkStatus();
          }));
      const absl::Status started = servers.back()->Start();
      Check(started.ok(), "TcpServer::Start: " + started.ToString());
      ports[i] = servers.back()->port();
    }
    std::thread([this] { (void)loop->RunForever(); }).detach();
  }
};

Servers& GetServers() {
  static Servers* servers = new Servers();
  return *servers;
}

// The reference (fuzz_input.h): what the server must answer for `stream`.
std::vector<std::string> Reference(absl::string_view s, size_t max_line) {
  bool oversize;
  std::vector<std::string> out;
  for (const std::string& line :
       spindle::fuzz::SplitLines(s, max_line, &oversize)) {
    out.push_back(absl::BytesToHexString(line));
  }
  if (oversize) {
    out.push_back(absl::StrCat("ERR line too long (max ", max_line, " bytes)"));
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  Servers& servers = GetServers();
  const int which = data[0] % kServers;
  absl::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);

  auto sock = spindle::io::ConnectTcp("127.0.0.1", servers.ports[which]);
  Check(sock.ok(), absl::StrCat("connect: ", sock.status().ToString()));
  const int fd = sock->fileno();
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  const timeval bound = {20, 0};  // A reply this late is a hang.
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &bound, sizeof(bound));

  std::string stream;
  while (!rest.empty()) {
    const size_t n =
        std::min<size_t>(static_cast<uint8_t>(rest[0]), rest.size() - 1);
    const absl::string_view chunk = rest.substr(1, n);
    rest.remove_prefix(1 + n);
    stream.append(chunk.data(), chunk.size());
    // After a too-long line the server may close first: later writes can
    // fail, which is theirs to do.
    if (!chunk.empty() && !sock->SendAll(chunk).ok()) break;
  }
  (void)sock->ShutdownWrite();

  std::string replies;
  char buf[65536];
  for (;;) {
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n == 0) break;
    if (n < 0 && errno == EINTR) continue;
    // A reset after the error reply is the close the contract allows.
    if (n < 0 && errno == ECONNRESET) break;
    Check(n > 0, absl::StrCat("no end of stream within 20 s (errno ", errno,
                              "), after: ", absl::CEscape(replies)));
    replies.append(buf, static_cast<size_t>(n));
  }
  std::vector<std::string> got;
  for (absl::string_view r = replies; !r.empty();) {
    const size_t nl = r.find('\n');
    Check(nl != r.npos, "a reply without its newline");
    got.emplace_back(r.substr(0, nl));
    r.remove_prefix(nl + 1);
  }
  const std::vector<std::string> want = Reference(stream, kMaxLines[which]);
  if (got != want) {
    std::string g, w;
    for (const auto& s : got) absl::StrAppend(&g, "  ", s, "\n");
    for (const auto& s : want) absl::StrAppend(&w, "  ", s, "\n");
    Check(false, absl::StrCat("replies differ from the reference\ngot:\n", g,
                              "want:\n", w));
  }
  return 0;
}
