// Copyright 2026 The spindle Authors.

#include "spindle/io/internal/line_framing.h"

#include <cstring>
#include <string>

namespace spindle::io::internal {
namespace {

// Capacity an empty or small buffer may keep (one typical request line or
// a few), so that a connection with steady small requests does not
// allocate per read.
constexpr size_t kKeepCapacity = 1024;

}  // namespace

LineKind NextLine(absl::string_view input, bool eof, size_t max_line,
                  absl::string_view* line, size_t* consume) {
  if (input.empty()) return LineKind::kNone;
  const void* nl = std::memchr(input.data(), '\n', input.size());
  size_t len;
  if (nl == nullptr) {
    // Room for a "\r" before a newline still to come.
    if (input.size() > max_line + 1) return LineKind::kOversize;
    if (!eof) return LineKind::kNone;  // Wait for the rest.
    len = *consume = input.size();     // A last line without newline.
  } else {
    len = static_cast<size_t>(static_cast<const char*>(nl) - input.data());
    *consume = len + 1;
  }
  absl::string_view l = input.substr(0, len);
  if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
  if (l.size() > max_line) return LineKind::kOversize;
  *line = l;
  return LineKind::kLine;
}

void InputBuffer::Append(const char* data, size_t n) {
  Compact();
  buf_.append(data, n);
}

void InputBuffer::Consume(size_t n) {
  pos_ += n;
  Compact();
}

void InputBuffer::Clear() {
  std::string().swap(buf_);
  pos_ = 0;
}

void InputBuffer::Compact() {
  const size_t live = buf_.size() - pos_;
  if (live == 0) {
    if (buf_.capacity() > kKeepCapacity) {
      std::string().swap(buf_);
    } else {
      buf_.clear();
    }
    pos_ = 0;
    return;
  }
  if (buf_.capacity() > kKeepCapacity && buf_.capacity() > 4 * live) {
    std::string(buf_, pos_).swap(buf_);  // A partial line: keep just it.
    pos_ = 0;
  } else if (pos_ > 0 && pos_ >= live) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
}

}  // namespace spindle::io::internal
