// Copyright 2026 The spindle Authors.
//
// TcpServer's server-wide memory budget: the bytes every connection holds
// (input read but not handed over, replies not yet sent, and the bytes
// reserved for requests in flight), and the rule that decides how much a
// connection may read now.
//
// The rule, with T the bytes held by all connections, N the open
// connections, F the per-connection floor, m a connection's bytes and
// D = sum over connections of max(0, F - m) (the floor not yet used):
//  * floor: a connection below F may read up to F (every client can always
//    get one complete request line in);
//  * room: anyone may read while T + D < budget (up to the difference);
//  * fair share: a connection below S = max(budget / N, F) may read up to S
//    while T + D < budget + N * F.
// Reads keep T + D <= budget + N * F; opening a connection adds F to both
// sides and closing one takes at least F off the left, so
//   T <= budget + N * F + (the bytes by which replies exceed the request
//   lines reserved for them).
//
// Private to //io. Not thread-safe: loop thread only.

#ifndef SPINDLE_IO_INTERNAL_MEMORY_BUDGET_H_
#define SPINDLE_IO_INTERNAL_MEMORY_BUDGET_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>

namespace spindle::io::internal {

class MemoryBudget {
 public:
  // One connection's bytes, as last reported.
  struct Account {
    size_t input = 0;
    size_t output = 0;
    size_t reserved = 0;
    size_t total() const { return input + output + reserved; }
  };

  // A zero `budget` means no server-wide limit (accounting only).
  MemoryBudget(size_t budget, size_t floor) : budget_(budget), floor_(floor) {}

  // A connection opened (with an empty account).
  void Open();
  // Records a connection's current bytes.
  void Update(Account* a, size_t input, size_t output, size_t reserved);
  // A connection closed: its bytes are released.
  void Close(Account* a);

  // How many bytes a connection holding `a` may read now; 0: none.
  size_t ReadAllowance(const Account& a) const;
  // A level that falls as memory is released: paused connections may
  // read again only after it fell (see TcpServer's memory waiters).
  int64_t level() const {
    return static_cast<int64_t>(used_ + deficit_) -
           static_cast<int64_t>(open_ * floor_);
  }
  // How far the level must fall before paused connections are retried.
  size_t wake_step() const;

  size_t used() const { return used_; }
  size_t input() const { return input_; }
  size_t output() const { return output_; }
  size_t reserved() const { return reserved_; }
  size_t floor() const { return floor_; }

 private:
  size_t Deficit(size_t used) const {
    return used < floor_ ? floor_ - used : 0;
  }

  const size_t budget_;
  const size_t floor_;
  size_t open_ = 0;
  // S of the fair share, max(budget / max(open, 1), floor): set by SetShare
  // when open_ changes, so that ReadAllowance (several calls per read) does
  // not divide.
  size_t share_ = std::max(budget_, floor_);
  void SetShare() {
    share_ = std::max(budget_ / std::max<size_t>(open_, 1), floor_);
  }
  size_t used_ = 0;
  size_t input_ = 0;
  size_t output_ = 0;
  size_t reserved_ = 0;
  size_t deficit_ = 0;  // D: the floor not yet used, summed.
};

}  // namespace spindle::io::internal

#endif  // SPINDLE_IO_INTERNAL_MEMORY_BUDGET_H_
