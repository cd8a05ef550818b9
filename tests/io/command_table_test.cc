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

// Names are matched whole, case aside, whatever their length: names of
// more than 8 bytes that differ only after the 8th, and a prefix.
TEST(CommandTableTest, LongNamesAreMatchedWhole) {
  CommandTable table;
  table.Add("LONGCOMMAND1",
            [](Request&, absl::string_view) -> Answer { return "one"; });
  table.Add("LONGCOMMAND2",
            [](Request&, absl::string_view) -> Answer { return "two"; });
  table.Add("LONG", [](Request&, absl::string_view a) -> Answer {
    return absl::StrCat("short ", a);
  });
  LineService service(LineService::Options{}, table.WorkerHandler(),
                      table.LoopHandler());
  ASSERT_TRUE(service.Start().ok());
  Client c(service.port());
  c.Send("longCommand2 x\nLONGCOMMAND1\nLONGCOMMAND\nlong x\nLONGX\n");
  EXPECT_EQ(c.ReadLine(), "two");
  EXPECT_EQ(c.ReadLine(), "one");
  EXPECT_EQ(c.ReadLine(),
            "ERR unknown command 'LONGCOMMAND' (try LONGCOMMAND1, "
            "LONGCOMMAND2, LONG)");
  EXPECT_EQ(c.ReadLine(), "short x");
  EXPECT_EQ(c.ReadLine(),
            "ERR unknown command 'LONGX' (try LONGCOMMAND1, LONGCOMMAND2, "
            "LONG)");
}

// RecordNanos with a count records that many samples of one latency (the
// workers record a run of requests read together in one call).
TEST(CommandTableTest, StatsRecordARunOfRequestsAtOnce) {
  CommandStats s({"A", "B"});
  s.RecordNanos(0, 3000, /*ok=*/true, 5);
  s.RecordNanos(1, 9000, /*ok=*/false, 2);
  s.RecordNanos(1, 9000, /*ok=*/true);
  EXPECT_EQ(s.latency(0).count(), 5);
  EXPECT_EQ(s.latency(1).count(), 3);
  EXPECT_EQ(s.done(), 6);
  EXPECT_EQ(s.failed(), 2);
  EXPECT_EQ(s.latency(0).Percentile(1.0), s.latency(0).Percentile(0.01));
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
