// Copyright 2026 The spindle Authors.
//
// Chunk message bodies (see batch.h). Private to //process:process_pool.

#include "spindle/process/internal/batch.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace spindle::process_internal {
namespace {

constexpr size_t kRecordOverhead = 1 + sizeof(uint32_t);
// Room kept for a failure record after the values: its head (its message
// is cut to fit, to nothing if need be).
constexpr size_t kFailureReserve = kRecordOverhead;

static_assert(kBatchItemOverhead == sizeof(uint32_t));

void AppendLength(std::string* out, size_t n) {
  const uint32_t n32 = static_cast<uint32_t>(n);
  out->append(reinterpret_cast<const char*>(&n32), sizeof(n32));
}

// Reads a length and that many bytes from `*in`; false if `*in` is short.
bool ReadSized(absl::string_view* in, absl::string_view* bytes) {
  uint32_t n;
  if (in->size() < sizeof(n)) return false;
  memcpy(&n, in->data(), sizeof(n));
  in->remove_prefix(sizeof(n));
  if (in->size() < n) return false;
  *bytes = in->substr(0, n);
  in->remove_prefix(n);
  return true;
}

}  // namespace

std::string EncodeBatchArgs(const std::vector<std::string>& args) {
  size_t total = 0;
  for (const std::string& a : args) total += kBatchItemOverhead + a.size();
  std::string body;
  body.reserve(total);
  for (const std::string& a : args) {
    AppendLength(&body, a.size());
    body.append(a);
  }
  return body;
}

bool DecodeBatchArgs(absl::string_view body,
                     std::vector<absl::string_view>* args) {
  args->clear();
  while (!body.empty()) {
    absl::string_view arg;
    if (!ReadSized(&body, &arg)) return false;
    args->push_back(arg);
  }
  return true;
}

BatchReplyWriter::BatchReplyWriter(size_t limit) : limit_(limit), reply_("W") {}

bool BatchReplyWriter::AddValue(absl::string_view value) {
  if (reply_.size() + kRecordOverhead + value.size() + kFailureReserve >
      limit_) {
    return false;
  }
  AddRecord('V', value);
  return true;
}

void BatchReplyWriter::AddFailure(char kind, absl::string_view message) {
  const size_t used = reply_.size() + kRecordOverhead;
  const size_t room = limit_ > used ? limit_ - used : 0;
  AddRecord(kind, message.substr(0, room));
}

void BatchReplyWriter::AddRecord(char kind, absl::string_view bytes) {
  reply_.push_back(kind);
  AppendLength(&reply_, bytes.size());
  reply_.append(bytes.data(), bytes.size());
}

bool DecodeBatchReply(absl::string_view reply, size_t max_items,
                      BatchReply* out) {
  if (reply.empty() || reply[0] != 'W') return false;
  reply.remove_prefix(1);
  while (!reply.empty()) {
    const char kind = reply[0];
    reply.remove_prefix(1);
    absl::string_view bytes;
    if (!ReadSized(&reply, &bytes)) return false;
    if (kind == 'V') {
      if (out->values.size() == max_items) return false;
      out->values.emplace_back(bytes);
    } else if ((kind == 'E' || kind == 'I') && reply.empty() &&
               out->values.size() < max_items) {
      out->failure_kind = kind;
      out->failure = std::string(bytes);
    } else {
      return false;
    }
  }
  return true;
}

}  // namespace spindle::process_internal
