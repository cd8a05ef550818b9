// Copyright 2026 The spindle Authors.
//
// ThreadPoolExecutor's private parts, where their logic is easier to pin
// down than through a pool: the priority levels of internal/pool_queue.h and
// WaitAll's generations of internal/pool_generations.h.

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "spindle/concurrency/internal/future_state.h"
#include "spindle/concurrency/internal/pool_generations.h"
#include "spindle/concurrency/internal/pool_queue.h"

namespace spindle::internal {
namespace {

using ::testing::ElementsAre;

// A queue node that only carries an id.
class Node final : public TaskNode {
 public:
  explicit Node(int id) : id(id) {}
  void* Run(Hook, void*) override { return nullptr; }
  void Abandon(const absl::Status&) override {}
  const int id;
};

std::vector<int> Ids(TaskNode* list) {
  std::vector<int> ids;
  for (; list != nullptr; list = list->next_task) {
    ids.push_back(static_cast<Node*>(list)->id);
  }
  return ids;
}

std::vector<int> PopAll(PoolQueue& q) {
  std::vector<int> ids;
  while (TaskNode* t = q.Pop()) ids.push_back(static_cast<Node*>(t)->id);
  return ids;
}

TEST(PoolQueueTest, DefaultLevelIsAFifo) {
  PoolQueue q;
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.Pop(), nullptr);
  Node a(1), b(2), c(3);
  q.Push(&a);
  q.Push(&b);
  EXPECT_EQ(q.size(), 2u);
  EXPECT_EQ(static_cast<Node*>(q.Pop())->id, 1);
  q.Push(&c);
  EXPECT_THAT(PopAll(q), ElementsAre(2, 3));
  EXPECT_TRUE(q.empty());
}

TEST(PoolQueueTest, HighestLevelFirstFifoWithin) {
  PoolQueue q;
  std::vector<Node> nodes;
  nodes.reserve(8);
  const int priorities[] = {0, -8, 7, 0, 3, -1, 7, 3};
  for (int i = 0; i < 8; ++i) nodes.emplace_back(i);
  for (int i = 0; i < 8; ++i) q.Push(&nodes[i], priorities[i]);
  EXPECT_EQ(q.size(), 8u);
  EXPECT_THAT(PopAll(q), ElementsAre(2, 6, 4, 7, 0, 3, 5, 1));
  // Emptied levels are forgotten: the default level alone again.
  q.Push(&nodes[0]);
  q.Push(&nodes[1], -1);
  q.Push(&nodes[2]);
  EXPECT_THAT(PopAll(q), ElementsAre(0, 2, 1));
}

TEST(PoolQueueTest, TakeAllKeepsThePopOrderAndEmpties) {
  PoolQueue q;
  std::vector<Node> nodes;
  nodes.reserve(6);
  for (int i = 0; i < 6; ++i) nodes.emplace_back(i);
  const int priorities[] = {-2, 0, 5, 0, -2, 5};
  for (int i = 0; i < 6; ++i) q.Push(&nodes[i], priorities[i]);
  EXPECT_THAT(Ids(q.TakeAll()), ElementsAre(2, 5, 1, 3, 0, 4));
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.Pop(), nullptr);
  EXPECT_EQ(q.TakeAll(), nullptr);
}

TEST(PoolGenerationsTest, CutWaitsOnlyForWhatCameBefore) {
  PoolGenerations g;
  EXPECT_TRUE(g.Done(g.Cut()));  // Nothing submitted: done at once.
  const uint64_t a = g.Submitted();
  const uint64_t b = g.Submitted();
  const uint64_t cut = g.Cut();
  EXPECT_FALSE(g.Done(cut));
  const uint64_t later = g.Submitted();  // After the cut.
  EXPECT_NE(later, a);
  g.Finished(b);  // Out of order.
  EXPECT_FALSE(g.Done(cut));
  g.Finished(a);
  EXPECT_TRUE(g.Done(cut));  // `later` is still unfinished.
  EXPECT_EQ(g.unfinished(), 1u);
  g.Finished(later);
  EXPECT_EQ(g.unfinished(), 0u);
}

TEST(PoolGenerationsTest, LaterCutsWaitForEarlierGenerationsToo) {
  PoolGenerations g;
  const uint64_t first = g.Submitted();
  const uint64_t cut1 = g.Cut();
  const uint64_t second = g.Submitted();
  const uint64_t cut2 = g.Cut();
  // A cut with nothing new since the last one waits for that one.
  const uint64_t cut3 = g.Cut();
  g.Finished(second);
  EXPECT_FALSE(g.Done(cut2));  // `first` is older and unfinished.
  EXPECT_FALSE(g.Done(cut3));
  EXPECT_FALSE(g.Done(cut1));
  g.Finished(first);
  EXPECT_TRUE(g.Done(cut1));
  EXPECT_TRUE(g.Done(cut2));
  EXPECT_TRUE(g.Done(cut3));
}

}  // namespace
}  // namespace spindle::internal
