#!/usr/bin/env python3
# Copyright 2026 The spindle Authors.
"""Integration tests for //examples:job_client's progress line.

The progress line goes to stderr once a second. By default it is drawn only
when stderr is a terminal, and there in place (carriage return, the line,
clear to end of line); --progress forces it on (into a pipe: one plain line
per second), --progress=false off. The summary on stdout, which
bench/job_bench.py parses, is the same in every case. Runs the real
job_client against a real job_server; the terminal is a pseudo-terminal from
Python's pty module. Every wait is bounded.

Usage: job_client_test.py JOB_SERVER JOB_CLIENT [test-name-substring]
"""

import os
import pty
import re
import select
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import job_server_test as base  # noqa: E402
from job_server_test import BOUND, Server, env  # noqa: E402

# Two seconds of load: the progress tick at 1 s comes before the end.
CLIENT_FLAGS = ["--connections=4", "--depth=4", "--duration=2s",
                "--mix=ECHO:1"]
# "[  1.0s] 1234 replies, 1234 req/s, p99 850us, 0 errors"
PROGRESS = re.compile(
    r"\[\s*(\d+\.\d)s\] (\d+) replies, (\d+) req/s, "
    r"p99 (\d+(?:\.\d+)?)(us|ms|s), (\d+) errors")
# The summary's first two lines, as bench/job_bench.py reads them.
SUMMARY = re.compile(
    r"job_client: 4 connections x depth 4, [\d.]+s: \d+ requests, \d+ "
    r"replies, \d+ req/s\r?\n"
    r"latency: p50 \d+us  p90 \d+us  p99 \d+us  p99\.9 \d+us  max \d+us")


def run_piped(*flags):
    """Runs job_client against a fresh server with stdout and stderr on
    pipes; returns (stdout, stderr)."""
    srv = Server("--workers=2")
    try:
        res = subprocess.run(
            [base.CLIENT, "--port=%d" % srv.port] + CLIENT_FLAGS + list(flags),
            capture_output=True, timeout=BOUND, env=env())
        out, err = res.stdout.decode(), res.stderr.decode()
        assert res.returncode == 0, out + err
    finally:
        srv.stop()
    assert SUMMARY.search(out), out
    return out, err


def run_on_terminal(*flags):
    """Runs job_client against a fresh server with stdout and stderr on one
    pseudo-terminal; returns everything it wrote there."""
    srv = Server("--workers=2")
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(
            [base.CLIENT, "--port=%d" % srv.port] + CLIENT_FLAGS + list(flags),
            stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, env=env())
        os.close(slave)
        slave = None
        data = b""
        deadline = time.monotonic() + BOUND
        while True:  # Until EOF: EIO on Linux once the client has exited.
            left = deadline - time.monotonic()
            if left <= 0:
                proc.kill()
                proc.wait()
                raise AssertionError("job_client did not finish: %r" % data)
            if not select.select([master], [], [], left)[0]:
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            data += chunk
        rc = proc.wait(timeout=BOUND)
        text = data.decode(errors="replace")
        assert rc == 0, text
    finally:
        os.close(master)
        if slave is not None:
            os.close(slave)
        srv.stop()
    assert SUMMARY.search(text), text
    return text


def check_progress(line):
    """A progress line reports replies and, once there are some, a p99."""
    m = PROGRESS.fullmatch(line)
    assert m, repr(line)
    assert int(m.group(6)) == 0, line
    if int(m.group(2)) > 0:
        assert float(m.group(4)) > 0, "p99 of zero after replies: " + line


def test_no_progress_when_not_a_terminal():
    _, err = run_piped()
    assert "replies," not in err and "\r" not in err, repr(err)


def test_progress_flag_forces_plain_lines():
    _, err = run_piped("--progress")
    lines = [l for l in err.splitlines() if l.startswith("[")]
    assert lines, repr(err)
    for line in lines:
        check_progress(line)
    assert "\r" not in err and "\x1b" not in err, repr(err)


def test_progress_redraws_in_place_on_a_terminal():
    text = run_on_terminal()
    # Each redraw: carriage return, the line, clear to end of line.
    draws = re.findall(r"\r(\[[^\r\n\x1b]*)\x1b\[K", text)
    assert draws, repr(text)
    for line in draws:
        check_progress(line)
    # The summary starts on a line of its own.
    assert re.search(r"\x1b\[K\r?\n(?:\r?\n)*job_client: ", text), repr(text)


def test_progress_false_on_a_terminal():
    text = run_on_terminal("--progress=false")
    assert "replies," not in text.split("job_client:")[0], repr(text)
    assert "\x1b" not in text, repr(text)


def main():
    return base.run_main(globals())


if __name__ == "__main__":
    sys.exit(main())
