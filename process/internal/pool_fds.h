// Copyright 2026 The spindle Authors.
//
// -----------------------------------------------------------------------------
// File: internal/pool_fds.h
// -----------------------------------------------------------------------------
//
// PRIVATE to //process:process_pool; not part of the public API. The set of
// pool descriptors of this process and the windows in which it changes.
//
// The pool descriptors of this process (of every pool in it).
//
// A fork server closes all of them right after it is forked, so that it (and
// its workers) never hold another pool's sockets: EOF on a socket then really
// means that the other side is gone. The set takes no lock, so that no lock
// of spindle's is ever held across a fork - neither ours nor one another
// thread makes (a lock held across the fork of a fork server stays locked in
// every worker, and a task that starts a pool of its own would hang on it):
//   * The set is a bitmap of atomic words indexed by descriptor, in chunks
//     allocated on first use and never freed.
//   * Every change of the descriptor table that involves a pool descriptor
//     (creating or receiving one, then marking it; unmarking one, then
//     closing it) happens inside a "window". g_windows counts the windows
//     open and those ever entered (a generation), tagged with the pid of the
//     process that counts (a forked child's copy is its parent's, and counts
//     threads that do not exist there).
//   * fork() copies the descriptor table first and the memory page by page
//     afterwards, so a child's copy of the set is exact only if no window
//     was open at any moment of the fork. ForkServer::Start checks this in
//     the parent: no window open just before fork(), and the generation
//     unchanged when it returns. Otherwise the new fork server is told to
//     exit at once, and another is forked.
// Unmarking comes before closing, so the set never names a descriptor that
// is not a pool's.
//
// A child forked by other means (spindle::Process, fork()) inherits the set
// with the descriptors: they are still pool descriptors (its parent's), so a
// pool the child starts closes them in its own fork server.

#ifndef SPINDLE_PROCESS_INTERNAL_POOL_FDS_H_
#define SPINDLE_PROCESS_INTERNAL_POOL_FDS_H_

#include <cstdint>

#include "spindle/process/connection.h"

namespace spindle::process_internal {

// One change of the descriptor table involving pool descriptors.
class FdWindow {
 public:
  FdWindow();
  ~FdWindow();
  FdWindow(const FdWindow&) = delete;
  FdWindow& operator=(const FdWindow&) = delete;
};

// Waits until none of this process's windows is open (briefly: windows are
// a system call or two long; at most 100 ms).
void AwaitNoWindows();

// g_windows now (a sequentially consistent load): read it just before a
// fork and again when the fork returns, and give both to ForkWasClean().
uint64_t LoadWindows();

// Whether a fork made between reading g_windows as `before` and as `after`
// raced with no window (see the file comment).
bool ForkWasClean(uint64_t before, uint64_t after);

// Call inside an FdWindow (or in a single-threaded process).
void Mark(int fd);

// Unmarks `fd` and closes it, in a window.
void UnregisterAndClose(int fd);

// Forgets `conn`'s descriptor (see the file comment) and closes it.
void UnregisterAndClose(Connection& conn);

// In a just-forked fork server (single-threaded): closes every pool
// descriptor but `keep` and empties the set - this process has no pool.
void CloseMarkedInChild(int keep);

}  // namespace spindle::process_internal

#endif  // SPINDLE_PROCESS_INTERNAL_POOL_FDS_H_
