// Copyright 2026 The spindle Authors.
//
// What the fuzz targets share: reading the fuzzer's bytes, and the
// reference line splitter the framing targets check the TCP front end
// against.

#ifndef SPINDLE_TESTS_FUZZ_FUZZ_INPUT_H_
#define SPINDLE_TESTS_FUZZ_FUZZ_INPUT_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace spindle::fuzz {

// The input's bytes one at a time, then zeros.
class ByteReader {
 public:
  ByteReader(const uint8_t* data, size_t size) : p_(data), n_(size) {}
  bool empty() const { return n_ == 0; }
  uint8_t Byte() {
    if (n_ == 0) return 0;
    --n_;
    return *p_++;
  }

 private:
  const uint8_t* p_;
  size_t n_;
};

// The documented framing of a request stream: lines end at "\n", one "\r"
// before it is dropped, a last line without "\n" counts (end of stream),
// and a line over max_line is an error that ends the stream. Returns the
// lines before that error; `*oversize` tells whether it came.
inline std::vector<std::string> SplitLines(absl::string_view s, size_t max_line,
                                           bool* oversize) {
  std::vector<std::string> out;
  *oversize = false;
  while (!s.empty()) {
    const size_t nl = s.find('\n');
    absl::string_view line = s.substr(0, nl);
    s.remove_prefix(nl == s.npos ? s.size() : nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.size() > max_line) return *oversize = true, out;
    out.emplace_back(line);
  }
  return out;
}

}  // namespace spindle::fuzz

#endif  // SPINDLE_TESTS_FUZZ_FUZZ_INPUT_H_
