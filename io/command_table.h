// Copyright 2026 The spindle Authors.
//
// -----------------------------------------------------------------------------
// File: command_table.h
// -----------------------------------------------------------------------------
//
// CommandTable: the commands of a line protocol whose requests read
// "<COMMAND> <argument>", dispatched by name for a LineService - the part
// of a service that is its protocol, and nothing else:
//
//   spindle::io::CommandTable table;
//   table.Add("ECHO", [](Request&, absl::string_view arg) {
//     return Answer::View(arg);
//   });
//   table.Add("STATS", [&](Request&, absl::string_view) { return ...; },
//             spindle::io::CommandTable::kOnLoop);
//   spindle::io::LineService service(options, table.WorkerHandler(),
//                                    table.LoopHandler());
//
// Parsing: spaces and tabs before the command are skipped; the command is
// the first word, matched without regard to case; the argument is the rest
// of the line after one space or tab ("" if none). A line that names no
// command is answered "ERR unknown command '<word>' (try A, B, ...)" (the
// word cut to 32 characters, unprintable bytes shown as '?'), or
// "ERR empty request".
//
// Where a command runs: kOnWorker (the default) on the service's workers;
// kOnLoop on the loop thread, at once, before anything is queued - for
// answers that must not wait behind the work they report on, or requests
// that only wait (a timer on Request::loop()). A kOnLoop command must not
// block.
//
// Stats: stats() has one entry per command, in the order added; pass it as
// LineService::Options::command_stats and the service records every
// request's latency and outcome (the table names each request's command).
// A request the handler answers later through its Responder is the
// handler's to record (stats().RecordSince). Lines that name no command
// count as failed.
//
// Thread safety: Add before the service starts; afterwards the handlers
// may run on any number of threads at once (the command functions must be
// thread-safe).

#ifndef SPINDLE_IO_COMMAND_TABLE_H_
#define SPINDLE_IO_COMMAND_TABLE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/strings/string_view.h"
#include "spindle/io/command_stats.h"
#include "spindle/io/line_service.h"

namespace spindle::io {

class CommandTable {
 public:
  using Fn =
      absl::AnyInvocable<Answer(Request& r, absl::string_view arg) const>;
  enum Where { kOnWorker, kOnLoop };

  CommandTable() = default;
  CommandTable(const CommandTable&) = delete;
  CommandTable& operator=(const CommandTable&) = delete;

  // Adds a command (names are matched without regard to case).
  void Add(std::string name, Fn fn, Where where = kOnWorker);

  // The LineService handlers; the table must outlive the service.
  LineService::Handler WorkerHandler() const {
    return [this](Request& r) { return OnWorker(r); };
  }
  LineService::LoopHandler LoopHandler() const {
    return [this](Request& r) { return OnLoop(r); };
  }
  Answer OnWorker(Request& r) const;
  std::optional<Answer> OnLoop(Request& r) const;

  // Per-command counts and latencies (see the file comment). Made by the
  // first call; call it after the last Add.
  CommandStats* stats();

 private:
  struct Command {
    std::string name;
    Fn fn;
    Where where;
  };
  // The command named by `line` (an index, or -1) and its argument.
  int Find(absl::string_view line, absl::string_view* arg) const;

  std::vector<Command> commands_;
  // First letters (upper case) of the kOnLoop commands: the loop thread
  // parses only lines that start with one.
  bool loop_initial_[256] = {};
  std::unique_ptr<CommandStats> stats_;
};

}  // namespace spindle::io

#endif  // SPINDLE_IO_COMMAND_TABLE_H_
