// Copyright 2026 The spindle Authors.
//
// CommandTable on a real LineService: parsing (separators, case), where a
// command runs, unknown and empty lines, and the per-command stats the
// service records.

#include "spindle/io/command_table.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "spindle/io/line_service.h"
#include "tests/io/tcp_test_util.h"

namespace spindle::io {
namespace {

using tcp_test::Client;

TEST(CommandTableTest, DispatchesByNameAndRunsWhereTold) {
  CommandTable table;
  table.Add("ECHO",
            [](Request&, absl::string_view arg) { return Answer::View(arg); });
  // Answers which kind of thread ran it: the loop thread is the one that
  // runs r.loop().
  table.Add(
      "WHERE",
      [](Request& r, absl::string_view) -> Answer {
        return r.loop().InLoopThread() ? "loop" : "worker";
      },
      CommandTable::kOnLoop);
  table.Add("WHO", [](Request& r, absl::string_view) -> Answer {
    return r.loop().InLoopThread() ? "loop" : "worker";
  });
  table.Add("FAIL", [](Request&, absl::string_view) -> Answer {
    return absl::InvalidArgumentError("nope");
  });
  LineService::Options o;
  o.command_stats = table.stats();
  LineService service(o, table.WorkerHandler(), table.LoopHandler());
  ASSERT_TRUE(service.Start().ok());
  Client c(service.port());
  c.Send("ECHO a b\n  echo\tx\nEcho\nWHERE\nwho\nFAIL\nFROB z\n\n\x01\x02 q\n");
  EXPECT_EQ(c.ReadLine(), "a b");
  EXPECT_EQ(c.ReadLine(), "x");
  EXPECT_EQ(c.ReadLine(), "");
  EXPECT_EQ(c.ReadLine(), "loop");
  EXPECT_EQ(c.ReadLine(), "worker");
  EXPECT_EQ(c.ReadLine(), "ERR nope");
  EXPECT_EQ(c.ReadLine(),
            "ERR unknown command 'FROB' (try ECHO, WHERE, WHO, FAIL)");
  EXPECT_EQ(c.ReadLine(), "ERR empty request");
  EXPECT_EQ(c.ReadLine(),
            "ERR unknown command '?"
            "?' (try ECHO, WHERE, WHO, FAIL)");
  // Every reply above is out, so every request is recorded.
  const CommandStats& s = *table.stats();
  EXPECT_EQ(s.done(), 5);
  EXPECT_EQ(s.failed(), 4);  // FAIL, FROB, the empty line, the garbage.
  const std::string fields = s.Fields();
  EXPECT_NE(fields.find(" ECHO:n=3,"), std::string::npos) << fields;
  EXPECT_NE(fields.find(" FAIL:n=1,"), std::string::npos) << fields;
}

// Only spaces and tabs separate: a line that starts with another control
// byte names no command (found by tests/fuzz/job_commands_fuzz).
TEST(CommandTableTest, OnlySpacesAndTabsBeforeTheCommand) {
  CommandTable table;
  table.Add("ECHO",
            [](Request&, absl::string_view arg) { return Answer::View(arg); });
  table.Add(
      "STATS", [](Request&, absl::string_view) -> Answer { return "stats"; },
      CommandTable::kOnLoop);
  LineService service(LineService::Options{}, table.WorkerHandler(),
                      table.LoopHandler());
  ASSERT_TRUE(service.Start().ok());
  Client c(service.port());
  c.Send(" \t ECHO a\n\vECHO b\n\fSTATS\n\rECHO c\n\v\n");
  EXPECT_EQ(c.ReadLine(), "a");
  EXPECT_EQ(c.ReadLine(), "ERR unknown command '?ECHO' (try ECHO, STATS)");
  EXPECT_EQ(c.ReadLine(), "ERR unknown command '?STATS' (try ECHO, STATS)");
  EXPECT_EQ(c.ReadLine(), "ERR unknown command '?ECHO' (try ECHO, STATS)");
  EXPECT_EQ(c.ReadLine(), "ERR unknown command '?' (try ECHO, STATS)");
}

}  // namespace
}  // namespace spindle::io
