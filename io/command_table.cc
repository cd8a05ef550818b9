// Copyright 2026 The spindle Authors.

#include "spindle/io/command_table.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace spindle::io {
namespace {

// The separators around a command: spaces and tabs only (not "\r", "\v" or
// "\f", which absl::StripLeadingAsciiWhitespace would also skip). Tested
// byte by byte: string_view's find_first_of/find_first_not_of call memchr
// on the set for every byte, which showed in the profile of every request.
bool IsBlank(char c) { return c == ' ' || c == '\t'; }

absl::string_view SkipBlanks(absl::string_view line) {
  size_t start = 0;
  while (start < line.size() && IsBlank(line[start])) ++start;
  return line.substr(start);
}

// The length of the first word of `line` (up to a blank or the end).
size_t WordEnd(absl::string_view line) {
  size_t end = 0;
  while (end < line.size() && !IsBlank(line[end])) ++end;
  return end;
}

// ASCII case-insensitive equality, inline: a command name is a few bytes,
// compared once per request.
bool SameWord(absl::string_view a, absl::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (absl::ascii_tolower(static_cast<unsigned char>(a[i])) !=
        absl::ascii_tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

}  // namespace

void CommandTable::Add(std::string name, Fn fn, Where where) {
  if (where == kOnLoop && !name.empty()) {
    const auto first = static_cast<unsigned char>(name[0]);
    loop_initial_[static_cast<unsigned char>(absl::ascii_toupper(first))] =
        true;
    loop_initial_[static_cast<unsigned char>(absl::ascii_tolower(first))] =
        true;
  }
  commands_.push_back(Command{std::move(name), std::move(fn), where});
}

CommandStats* CommandTable::stats() {
  if (stats_ == nullptr) {
    std::vector<std::string> names;
    for (const Command& c : commands_) names.push_back(c.name);
    stats_ = std::make_unique<CommandStats>(std::move(names));
  }
  return stats_.get();
}

int CommandTable::Find(absl::string_view line, absl::string_view* arg) const {
  line = SkipBlanks(line);
  const size_t end = WordEnd(line);
  *arg = end < line.size() ? line.substr(end + 1) : "";
  const absl::string_view word = line.substr(0, end);
  for (size_t c = 0; c < commands_.size(); ++c) {
    if (SameWord(word, commands_[c].name)) {
      return static_cast<int>(c);
    }
  }
  return -1;
}

std::optional<Answer> CommandTable::OnLoop(Request& r) const {
  const absl::string_view line = SkipBlanks(r.line());
  if (line.empty() || !loop_initial_[static_cast<unsigned char>(line[0])]) {
    return std::nullopt;  // The common case: no parsing on the loop.
  }
  absl::string_view arg;
  const int c = Find(r.line(), &arg);
  if (c < 0 || commands_[c].where != kOnLoop) return std::nullopt;
  r.set_command(c);
  return commands_[c].fn(r, arg);
}

Answer CommandTable::OnWorker(Request& r) const {
  absl::string_view arg;
  const int c = Find(r.line(), &arg);
  if (c >= 0) {
    r.set_command(c);
    return commands_[c].fn(r, arg);
  }
  if (stats_ != nullptr) stats_->RecordUnknown();
  const absl::string_view line = SkipBlanks(r.line());
  std::string word(line.substr(0, std::min(WordEnd(line), size_t{32})));
  if (word.empty()) return absl::InvalidArgumentError("empty request");
  for (char& ch : word) {
    if (!absl::ascii_isprint(static_cast<unsigned char>(ch))) ch = '?';
  }
  std::string names;
  for (const Command& cmd : commands_) {
    absl::StrAppend(&names, names.empty() ? "" : ", ", cmd.name);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown command '", word, "' (try ", names, ")"));
}

}  // namespace spindle::io
