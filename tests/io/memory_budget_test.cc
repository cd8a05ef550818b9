// Copyright 2026 The spindle Authors.
//
// MemoryBudget's read rule (io/internal/memory_budget.h) on its own: the
// floor, the room under the budget, and the fair share, which follows the
// number of open connections as they open and close.

#include "spindle/io/internal/memory_budget.h"

#include <cstddef>
#include <limits>
#include <vector>

#include "gtest/gtest.h"

namespace spindle::io::internal {
namespace {

constexpr size_t kBudget = 1000;
constexpr size_t kFloor = 10;

TEST(MemoryBudgetTest, NoBudgetMeansNoLimit) {
  MemoryBudget b(0, kFloor);
  MemoryBudget::Account a;
  b.Open();
  b.Update(&a, 1 << 20, 0, 0);
  EXPECT_EQ(b.ReadAllowance(a), std::numeric_limits<size_t>::max());
  EXPECT_EQ(b.used(), size_t{1} << 20);
  b.Close(&a);
  EXPECT_EQ(b.used(), 0u);
}

// With the budget spent, an empty connection may read its fair share
// S = max(budget / N, floor) - and S grows as connections close.
TEST(MemoryBudgetTest, FairShareFollowsTheOpenConnections) {
  MemoryBudget b(kBudget, kFloor);
  std::vector<MemoryBudget::Account> accounts(20);
  for (size_t i = 0; i < accounts.size(); ++i) b.Open();
  // One connection holds 900 bytes: T = 900, D = 19 * 10, T + D >= budget.
  b.Update(&accounts[0], 900, 0, 0);
  EXPECT_EQ(b.used(), 900u);
  EXPECT_EQ(b.input(), 900u);
  // No room; the share is 1000 / 20 = 50 (under the ceiling 1200 - 1090).
  EXPECT_EQ(b.ReadAllowance(accounts[1]), 50u);
  // The big one is over its share and there is no room: only the floor,
  // which it used already.
  EXPECT_EQ(b.ReadAllowance(accounts[0]), 0u);

  // Ten empty connections close: N = 10, D = 9 * 10, T + D = 990.
  for (size_t i = 10; i < 20; ++i) b.Close(&accounts[i]);
  // Room is 10; the share is now 1000 / 10 = 100 (ceiling 1100 - 990 = 110).
  EXPECT_EQ(b.ReadAllowance(accounts[1]), 100u);

  // Nine more close: only the big one is left, alone with the budget.
  for (size_t i = 1; i < 10; ++i) b.Close(&accounts[i]);
  // Room is 100; its share (1000) is below what it holds.
  EXPECT_EQ(b.ReadAllowance(accounts[0]), 100u);

  // A new connection: N = 2, share 500, T + D = 910, ceiling 1020.
  MemoryBudget::Account fresh;
  b.Open();
  EXPECT_EQ(b.ReadAllowance(fresh), 110u);  // min(500, 1020 - 910).
  b.Close(&fresh);
  b.Close(&accounts[0]);
  EXPECT_EQ(b.used(), 0u);
}

// A connection below the floor may always read up to it, however full the
// server is.
TEST(MemoryBudgetTest, TheFloorIsAlwaysThere) {
  MemoryBudget b(kBudget, kFloor);
  std::vector<MemoryBudget::Account> accounts(3);
  for (size_t i = 0; i < accounts.size(); ++i) b.Open();
  b.Update(&accounts[0], 0, 5000, 0);  // Replies far over the budget.
  b.Update(&accounts[1], 4, 0, 0);
  EXPECT_EQ(b.output(), 5000u);
  EXPECT_EQ(b.ReadAllowance(accounts[1]), kFloor - 4);
  EXPECT_EQ(b.ReadAllowance(accounts[2]), kFloor);
  EXPECT_EQ(b.ReadAllowance(accounts[0]), 0u);
  for (MemoryBudget::Account& a : accounts) b.Close(&a);
  EXPECT_EQ(b.used(), 0u);
  EXPECT_EQ(b.output(), 0u);
}

}  // namespace
}  // namespace spindle::io::internal
