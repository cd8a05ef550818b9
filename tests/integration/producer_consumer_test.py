#!/usr/bin/env python3
# Copyright 2026 The spindle Authors.
"""Runs //examples:producer_consumer (the seed tutorial's queue program on
spindle::Thread, spindle::Lock and spindle::Queue) and checks what it
prints: every item of both producers processed exactly once, by the named
consumer threads, which then leave; the Queue(5) demo in order; the
PriorityQueue demo smallest first; exit status 0 within a bound.

Usage: producer_consumer_test.py PRODUCER_CONSUMER
"""

import collections
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from example_server import BOUND, expect_eq, run_tests  # pylint: disable=g-import-not-at-top

BINARY = None
ITEMS = 20  # per producer
CONSUMERS = ["消费者-甲", "消费者-乙", "消费者-丙"]


def run(*flags):
    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    try:
        done = subprocess.run([BINARY] + list(flags), capture_output=True,
                              timeout=BOUND, env=env)
    except subprocess.TimeoutExpired:
        raise AssertionError("did not finish within %.0fs" % BOUND)
    err = done.stderr.decode(errors="replace")
    expect_eq(done.returncode, 0, "exit status (stderr: %s)" % err[-2000:])
    assert "Sanitizer" not in err, err[-8000:]
    return done.stdout.decode().splitlines()


def test_every_item_is_processed_once_by_a_named_consumer():
    lines = run("--items=%d" % ITEMS, "--work_ms=2", "--make_ms=2")
    processed = collections.Counter()
    for line in lines:
        m = re.fullmatch(r"(\S+): 处理 \(processing\) (data-\d+)\.\.\.\.", line)
        if m:
            assert m.group(1) in CONSUMERS, line
            processed[m.group(2)] += 1
    # Each producer makes data-0 .. data-19: every name twice in all.
    expect_eq(dict(processed),
              {"data-%d" % i: 2 for i in range(ITEMS)}, "items processed")
    for name in CONSUMERS:
        assert "%s: 队列已关闭，退出 (queue shut down, leaving)" % name in lines, (
            name, lines)
    assert ("全部任务已完成 (all %d items processed; unfinished: 0)" %
            (2 * ITEMS)) in lines, lines


def test_bounded_and_priority_demos():
    lines = run("--items=1", "--work_ms=2", "--make_ms=1")
    working = [l for l in lines if l.startswith("Working on ")]
    expect_eq(working, ["Working on %d" % i for i in range(10)],
              "Queue(5) demo order")
    assert "全部任务已完成 (all tasks done)" in lines, lines
    start = lines.index("--- PriorityQueue ---")
    expect_eq(lines[start + 1:start + 4], ["[1, 'a']", "[2, 'b']", "[3, 'c']"],
              "PriorityQueue order")


def main():
    global BINARY
    BINARY = os.path.abspath(sys.argv[1])
    return run_tests(globals(), sys.argv[2] if len(sys.argv) > 2 else "")


if __name__ == "__main__":
    sys.exit(main())
