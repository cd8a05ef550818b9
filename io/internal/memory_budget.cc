// Copyright 2026 The spindle Authors.

#include "spindle/io/internal/memory_budget.h"

#include <algorithm>
#include <cstddef>
#include <limits>

namespace spindle::io::internal {

void MemoryBudget::Open() {
  ++open_;
  deficit_ += floor_;
  SetShare();
}

void MemoryBudget::Update(Account* a, size_t input, size_t output,
                          size_t reserved) {
  const size_t before = a->total();
  input_ += input - a->input;
  output_ += output - a->output;
  reserved_ += reserved - a->reserved;
  a->input = input;
  a->output = output;
  a->reserved = reserved;
  const size_t after = a->total();
  used_ += after - before;  // Modular arithmetic: also right when shrinking.
  deficit_ += Deficit(after) - Deficit(before);
}

void MemoryBudget::Close(Account* a) {
  Update(a, 0, 0, 0);
  --open_;
  deficit_ -= floor_;
  SetShare();
}

size_t MemoryBudget::ReadAllowance(const Account& a) const {
  if (budget_ == 0) return std::numeric_limits<size_t>::max();
  const size_t m = a.total();
  const size_t x = used_ + deficit_;
  size_t allow = Deficit(m);                              // The floor.
  if (x < budget_) allow = std::max(allow, budget_ - x);  // Room.
  const size_t share = share_;
  const size_t ceiling = budget_ + open_ * floor_;
  if (m < share && x < ceiling) {  // The fair share.
    allow = std::max(allow, std::min(share - m, ceiling - x));
  }
  return allow;
}

size_t MemoryBudget::wake_step() const {
  return std::max(floor_, budget_ / 64);
}

}  // namespace spindle::io::internal
