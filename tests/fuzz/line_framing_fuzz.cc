// Copyright 2026 The spindle Authors.
//
// Fuzz target: TcpServer's line framing (io/internal/line_framing.h), fed
// the way a connection is - a byte stream cut into reads at points the
// fuzzer chooses, with a fuzzer-chosen max_line - against a ten-line
// reference splitter (differential): the same requests, in order, and the
// same "line too long" error at the same point, CR/LF and NUL bytes
// included. Also checks the documented memory bound: a connection never
// holds more than max_line + 1 bytes of a partial line plus one read, and
// its buffer's capacity stays within twice that (or the small amount an
// idle buffer may keep).
//
// Input: two bytes of max_line (little-endian, modulo 600), then reads,
// each a length byte and that many bytes (a short last read takes what is
// left); end of input is the peer's end of stream.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "spindle/io/internal/line_framing.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

using spindle::io::internal::InputBuffer;
using spindle::io::internal::LineKind;
using spindle::io::internal::NextLine;

constexpr char kOversize[] = "<line too long>";

// The reference (fuzz_input.h), with the error as a line of its own.
std::vector<std::string> Reference(absl::string_view s, size_t max_line) {
  bool oversize;
  std::vector<std::string> out =
      spindle::fuzz::SplitLines(s, max_line, &oversize);
  if (oversize) out.push_back(kOversize);
  return out;
}

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "line_framing_fuzz: %s\n", what);
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const size_t max_line = (data[0] | (data[1] << 8)) % 600;
  absl::string_view rest(reinterpret_cast<const char*>(data) + 2, size - 2);

  // The connection's side: read, frame every complete line, keep the rest.
  InputBuffer in;
  std::vector<std::string> got;
  std::string stream;  // Everything read, for the reference.
  bool eof = false, closed = false;
  while (!closed) {
    size_t read = 0;
    if (rest.empty()) {
      eof = true;
    } else {
      read = std::min<size_t>(static_cast<uint8_t>(rest[0]), rest.size() - 1);
      const absl::string_view chunk = rest.substr(1, read);
      rest.remove_prefix(1 + read);
      in.Append(chunk.data(), chunk.size());
      stream.append(chunk.data(), chunk.size());
    }
    for (;;) {
      absl::string_view line;
      size_t consume = 0;
      const LineKind kind =
          NextLine(in.pending(), eof, max_line, &line, &consume);
      if (kind == LineKind::kNone) break;
      if (kind == LineKind::kOversize) {
        got.push_back(kOversize);
        closed = true;
        break;
      }
      Check(consume > 0 && consume <= in.size(), "consume out of range");
      Check(line.size() <= max_line, "a line longer than max_line");
      got.emplace_back(line);
      in.Consume(consume);
    }
    if (closed) break;
    // What stays is a partial line, within its bound; memory follows it.
    Check(in.size() <= max_line + 1, "kept more than max_line + 1 bytes");
    Check(in.capacity() <= std::max<size_t>(2 * (max_line + 1 + read), 2048),
          "buffer capacity over its bound");
    if (eof) {
      Check(in.empty(), "input left over at end of stream");
      break;
    }
  }
  // At an error the server stops reading; the reference, given what was
  // read, ends with the same error at the same place.
  Check(got == Reference(stream, max_line), "differs from the reference");
  in.Clear();
  Check(in.capacity() == 0 || in.capacity() <= 32, "Clear kept memory");
  return 0;
}
