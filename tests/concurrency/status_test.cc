#include "spindle/concurrency/status.h"

#include <cerrno>

#include "gtest/gtest.h"

namespace spindle {
namespace {

TEST(StatusTest, EachConstructorMatchesOnlyItsPredicate) {
  const absl::Status errors[] = {EmptyError("e"),    FullError("f"),
                                 TimeoutError("t"),  CancelledError("c"),
                                 ShutDownError("s"), BrokenError("b")};
  bool (*const predicates[])(const absl::Status&) = {
      IsEmpty, IsFull, IsTimeout, IsCancelled, IsShutDown, IsBroken};
  for (int i = 0; i < 6; ++i) {
    for (int j = 0; j < 6; ++j) {
      EXPECT_EQ(predicates[j](errors[i]), i == j) << i << " vs " << j;
    }
    EXPECT_FALSE(predicates[i](absl::OkStatus()));
  }
}

TEST(StatusTest, EofErrorIsOutOfRangeAndMatchesOnlyIsEof) {
  const absl::Status eof = EofError("peer closed");
  EXPECT_TRUE(IsEof(eof));
  EXPECT_EQ(eof.code(), absl::StatusCode::kOutOfRange);
  EXPECT_FALSE(IsShutDown(eof) || IsEmpty(eof) || IsTimeout(eof) ||
               IsBroken(eof) || IsEof(absl::OkStatus()));
}

TEST(StatusTest, ErrnoErrorKeepsTheErrnoCodeAndNamesTheCall) {
  absl::Status s = ErrnoError(EBADF, "epoll_ctl");
  EXPECT_TRUE(absl::IsFailedPrecondition(s) || absl::IsInvalidArgument(s));
  EXPECT_NE(s.message().find("epoll_ctl"), absl::string_view::npos);
  EXPECT_EQ(ErrnoError(ENOENT, "open").code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace spindle
