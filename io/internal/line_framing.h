// Copyright 2026 The spindle Authors.
//
// Line framing for TcpServer: where a request line ends, when it is too
// long, and the per-connection buffer that keeps only the input not yet
// handed over (the partial line at its end, and complete lines that wait
// for backpressure to lift).
//
// Private to //io.

#ifndef SPINDLE_IO_INTERNAL_LINE_FRAMING_H_
#define SPINDLE_IO_INTERNAL_LINE_FRAMING_H_

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace spindle::io::internal {

enum class LineKind {
  kNone,      // No complete line yet.
  kLine,      // A line (without "\n" and a "\r" before it).
  kOversize,  // Longer than max_line: the connection must be rejected.
};

// Finds the first line of `input`. kLine sets `*line` and `*consume` (the
// bytes the line takes, newline included). Without a newline, the input is
// a line only at end of stream (`eof`); more than max_line + 1 bytes
// without a newline (room for a "\r") are kOversize already.
LineKind NextLine(absl::string_view input, bool eof, size_t max_line,
                  absl::string_view* line, size_t* consume);

// The input of one connection that was read but not yet handed over.
//
// Read data is appended from the server's shared read buffer; consumed
// bytes are dropped lazily. The buffer gives its memory back when it
// empties or shrinks well below its capacity, so an idle connection costs
// no read-chunk-sized buffer.
class InputBuffer {
 public:
  // The bytes not yet consumed.
  absl::string_view pending() const {
    return absl::string_view(buf_.data() + pos_, buf_.size() - pos_);
  }
  size_t size() const { return buf_.size() - pos_; }
  bool empty() const { return pos_ == buf_.size(); }
  // Bytes of memory held (capacity), for tests.
  size_t capacity() const { return buf_.capacity(); }

  void Append(const char* data, size_t n);
  // Drops the first `n` pending bytes (n <= size()).
  void Consume(size_t n);
  // Drops everything and frees the memory.
  void Clear();

 private:
  // Frees consumed bytes and spare capacity.
  void Compact();

  std::string buf_;
  size_t pos_ = 0;
};

}  // namespace spindle::io::internal

#endif  // SPINDLE_IO_INTERNAL_LINE_FRAMING_H_
