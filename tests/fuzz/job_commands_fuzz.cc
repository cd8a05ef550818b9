// Copyright 2026 The spindle Authors.
//
// Fuzz target: the job server's command parser, end to end. One LineService
// per process runs the job server's own command table (examples/
// job_commands.h: no process workers, 1 loop, 2 workers, small limits so
// every input stays fast); each input is one client connection that sends
// the input's lines, half-closes, and reads every reply to the end. The
// replies must be exactly one line per request, in order, each as a
// reference written from the documented protocol says (io/command_table.h,
// examples/job_commands.h, io/tcp_server.h's framing):
//   * a line is cut at "\n", one "\r" before it dropped; a last line without
//     "\n" counts at end of stream; a line over max_line is answered
//     "ERR line too long (max N bytes)" and ends the connection;
//   * spaces and tabs before the command are skipped; the command is the
//     word up to the first space or tab, matched ignoring ASCII case; the
//     argument is the rest after that one space or tab;
//   * ECHO arg, UPPER ARG, PRIMES n (a reference sieve), SLEEP ms -> SLEPT
//     ms, STATS -> "STATS ...", FAIL -> "ERR internal error", CRASH -> its
//     ERR, QUIT -> BYE and the end, nothing -> "ERR empty request", other
//     words -> "ERR unknown command '<word>' (try ...)" (cut to 32 bytes,
//     unprintable bytes as '?');
//   * n and ms: one or more ASCII digits and nothing else, value within the
//     limit; anything else is "ERR bad argument: ...".
//
// Input: the bytes a client sends (up to 4 KiB, NUL, CR, tabs and bytes
// >= 0x80 included); see corpus/job_commands_fuzz/ for examples.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "spindle/examples/job_commands.h"
#include "spindle/io/command_table.h"
#include "spindle/io/line_service.h"

namespace {

constexpr size_t kMaxLine = 128;
constexpr size_t kMaxInput = 4096;
constexpr int64_t kMaxPrimes = 2000;
constexpr int64_t kMaxSleepMs = 3;

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "job_commands_fuzz: %s\n", what.c_str());
  std::abort();
}

// A byte string as a C literal would show it.
std::string Show(absl::string_view s) { return absl::CEscape(s); }

// The server, started once per process and left running (LineService stops
// it at exit).
int ServerPort() {
  static const int port = [] {
    auto* table = new spindle::io::CommandTable;
    spindle_examples::AddJobCommands(
        *table, nullptr,
        {.max_primes = kMaxPrimes, .max_sleep_ms = kMaxSleepMs});
    spindle::io::LineService::Options o;
    o.server.hosts = {"127.0.0.1"};
    o.server.port = 0;
    o.server.max_line = kMaxLine;
    o.loops = 1;
    o.workers = 2;
    o.name = "job_commands_fuzz";
    o.command_stats = table->stats();
    auto* service = new spindle::io::LineService(o, table->WorkerHandler(),
                                                 table->LoopHandler());
    if (absl::Status s = service->Start(); !s.ok()) Fail(s.ToString());
    return service->port();
  }();
  return port;
}

// --- The reference, from the documented protocol -------------------------

int64_t ReferencePrimes(int64_t n) {
  std::vector<bool> sieve(n + 1, true);
  int64_t count = 0;
  for (int64_t i = 2; i <= n; ++i) {
    if (!sieve[i]) continue;
    ++count;
    for (int64_t j = 2 * i; j <= n; j += i) sieve[j] = false;
  }
  return count;
}

// Digits only, value <= hi; -1 otherwise.
int64_t ReferenceNumber(absl::string_view s, int64_t hi) {
  if (s.empty() || s.size() > 40) return -1;
  // Compare as decimal strings: strip leading zeros, then by length/value.
  for (char c : s) {
    if (c < '0' || c > '9') return -1;
  }
  while (s.size() > 1 && s[0] == '0') s.remove_prefix(1);
  const std::string limit = absl::StrCat(hi);
  if (s.size() > limit.size() || (s.size() == limit.size() && s > limit)) {
    return -1;
  }
  int64_t v = 0;
  for (char c : s) v = v * 10 + (c - '0');
  return v;
}

std::string BadArgument(absl::string_view what, int64_t hi) {
  return absl::StrCat("ERR bad argument: ", what, " must be an integer in [0, ",
                      hi, "]");
}

bool IsSpace(char c) { return c == ' ' || c == '\t'; }

// The expected reply to one request line; `last` is set by QUIT.
std::string Reference(absl::string_view line, bool* last) {
  size_t i = 0;
  while (i < line.size() && IsSpace(line[i])) ++i;
  line.remove_prefix(i);
  size_t end = 0;
  while (end < line.size() && !IsSpace(line[end])) ++end;
  const absl::string_view word = line.substr(0, end);
  const absl::string_view arg =
      end < line.size() ? line.substr(end + 1) : absl::string_view();
  auto is = [&](absl::string_view name) {
    return absl::EqualsIgnoreCase(word, name);
  };
  if (is("ECHO")) return std::string(arg);
  if (is("UPPER")) return absl::AsciiStrToUpper(arg);
  if (is("PRIMES")) {
    const int64_t n = ReferenceNumber(arg, kMaxPrimes);
    if (n < 0) return BadArgument("n", kMaxPrimes);
    return absl::StrCat(ReferencePrimes(n));
  }
  if (is("SLEEP")) {
    const int64_t ms = ReferenceNumber(arg, kMaxSleepMs);
    if (ms < 0) return BadArgument("ms", kMaxSleepMs);
    return absl::StrCat("SLEPT ", ms);
  }
  if (is("STATS")) return "STATS ";  // A prefix; see Matches().
  if (is("FAIL")) return "ERR internal error";
  if (is("CRASH")) return "ERR CRASH needs --process_workers";
  if (is("QUIT")) {
    *last = true;
    return "BYE";
  }
  if (word.empty()) return "ERR empty request";
  std::string shown(word.substr(0, 32));
  for (char& c : shown) {
    if (c < 0x20 || c > 0x7e) c = '?';
  }
  return absl::StrCat("ERR unknown command '", shown,
                      "' (try ECHO, UPPER, PRIMES, SLEEP, STATS, FAIL, "
                      "CRASH, QUIT)");
}

bool Matches(absl::string_view got, absl::string_view want) {
  if (want == "STATS ") return absl::StartsWith(got, want);
  return got == want;
}

// --- The client ------------------------------------------------------------

int Connect() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) Fail(absl::StrCat("socket: errno ", errno));
  const timeval bound = {10, 0};  // A reply that never comes fails the input.
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &bound, sizeof(bound));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &bound, sizeof(bound));
  // Closed with a reset (after reading to the end): no TIME_WAIT piles up
  // over millions of inputs.
  const linger reset = {1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(ServerPort()));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    // libFuzzer's timeout alarm (SIGALRM, every second) can interrupt the
    // connect, which then goes on: wait for it rather than fail.
    if (errno != EINTR) Fail(absl::StrCat("connect: errno ", errno));
    pollfd p = {fd, POLLOUT, 0};
    while (poll(&p, 1, 10000) < 0 && errno == EINTR) {
    }
    int err = -1;
    socklen_t len = sizeof(err);
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) Fail(absl::StrCat("connect (after EINTR): errno ", err));
  }
  return fd;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data),
                                std::min(size, kMaxInput));

  // The expected replies.
  std::vector<std::string> lines, want;
  bool last = false;
  for (absl::string_view rest = input; !rest.empty() && !last;) {
    const size_t nl = rest.find('\n');
    absl::string_view line = rest.substr(0, nl);
    rest.remove_prefix(nl == rest.npos ? rest.size() : nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.emplace_back(line);
    if (line.size() > kMaxLine) {
      want.push_back(
          absl::StrCat("ERR line too long (max ", kMaxLine, " bytes)"));
      break;
    }
    want.push_back(Reference(line, &last));
  }

  // Send it all, half-close, read to the end of stream.
  const int fd = Connect();
  for (size_t sent = 0; sent < input.size();) {
    const ssize_t n =
        send(fd, input.data() + sent, input.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // The server may close first (QUIT, too long).
    sent += static_cast<size_t>(n);
  }
  shutdown(fd, SHUT_WR);
  std::string got;
  char buf[4096];
  for (;;) {
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      // A reset after QUIT or a line too long may drop unread input; the
      // replies before it were read already (the server writes them first).
      if (errno == ECONNRESET) break;
      Fail(absl::StrCat("recv: errno ", errno, " after ", Show(got)));
    }
    got.append(buf, static_cast<size_t>(n));
  }
  close(fd);

  // Exactly one reply line per request, in order.
  std::vector<absl::string_view> replies;
  for (absl::string_view rest = got; !rest.empty();) {
    const size_t nl = rest.find('\n');
    if (nl == rest.npos) Fail("a reply without newline: " + Show(rest));
    replies.push_back(rest.substr(0, nl));
    rest.remove_prefix(nl + 1);
  }
  for (size_t i = 0; i < std::max(want.size(), replies.size()); ++i) {
    if (i >= replies.size()) {
      Fail(absl::StrCat("line ", i, " \"", Show(lines[i]), "\": no reply (",
                        replies.size(), " replies to ", want.size(),
                        " requests), want \"", Show(want[i]), "\""));
    }
    if (i >= want.size()) {
      Fail(absl::StrCat("an extra reply \"", Show(replies[i]), "\" after ",
                        want.size(), " requests"));
    }
    if (!Matches(replies[i], want[i])) {
      Fail(absl::StrCat("line ", i, " \"", Show(lines[i]), "\": got \"",
                        Show(replies[i]), "\", want \"", Show(want[i]), "\""));
    }
  }
  return 0;
}
