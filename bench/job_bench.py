#!/usr/bin/env python3
# Copyright 2026 The spindle Authors.
"""Job server benchmark: spindle's job_server vs the same service in Python
(bench/py_job_server.py: selectors front end + ThreadPoolExecutor).

For each mix (ECHO only; PRIMES only) and 1, 2 and 4 workers, runs
job_client (32 connections x depth 8) against each server and reports
throughput, p99 latency and server CPU time per request, and spindle's
throughput as a multiple of Python's, all from one run. (On a small machine
the client shares the cores: for cheap requests it, not the server, is the
bottleneck, which is why CPU per request is reported too.)

Usage: job_bench.py JOB_SERVER JOB_CLIENT [seconds]
"""

import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def start(cmd):
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE)
    while True:
        line = proc.stdout.readline().decode()
        if not line:
            raise SystemExit("server did not start: %r" % cmd)
        m = re.search(r"listening on \S+:(\d+)", line)
        if m:
            return proc, int(m.group(1))


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(client, port, mix, secs):
    out = subprocess.run(
        [client, "--port=%d" % port, "--connections=32", "--depth=8",
         "--duration=%ss" % secs, "--progress=false", "--mix=" + mix,
         "--primes_n=10000", "--echo_size=32"],
        capture_output=True, timeout=300).stdout.decode()
    rate = float(re.search(r"([\d.]+) req/s", out).group(1))
    p99 = float(re.search(r"p99 (\d+)us", out).group(1))
    ok = "0 ERR replies, 0 wrong/out-of-order, 0 unanswered" in out
    return rate, p99, ok


def main():
    server, client = sys.argv[1], sys.argv[2]
    secs = sys.argv[3] if len(sys.argv) > 3 else "3"
    rows = []
    for mix in ("ECHO:1", "PRIMES:1"):
        for workers in (1, 2, 4):
            res = {}
            for name, cmd in (
                    ("spindle", [server, "--port=0", "--workers=%d" % workers]),
                    ("python", [sys.executable,
                                os.path.join(HERE, "py_job_server.py"),
                                str(workers)])):
                proc, port = start(cmd)
                try:
                    c0 = cpu_seconds(proc.pid)
                    rate, p99, ok = run(client, port, mix, secs)
                    cpu = cpu_seconds(proc.pid) - c0
                    res[name] = (rate, p99, ok,
                                 cpu * 1e6 / max(rate * float(secs), 1))
                finally:
                    proc.kill()
                    proc.wait()
                print("%-8s %-9s workers=%d: %9.0f req/s  p99 %8.0f us  %s" %
                      ((name, mix, workers) + res[name][:2] +
                       ("ok" if res[name][2] else "ERRORS",)), flush=True)
            rows.append((mix, workers, res))
    print()
    print("| mix | workers | spindle req/s | spindle p99 | spindle CPU/req |"
          " python req/s | python p99 | python CPU/req | throughput ratio |")
    print("|---|---|---|---|---|---|---|---|---|")
    for mix, workers, res in rows:
        s, p = res["spindle"], res["python"]
        print("| %s | %d | %.0f | %.2f ms | %.1f us | %.0f | %.2f ms |"
              " %.1f us | %.1fx |" %
              (mix.split(":")[0], workers, s[0], s[1] / 1e3, s[3], p[0],
               p[1] / 1e3, p[3], s[0] / max(p[0], 1e-9)))


if __name__ == "__main__":
    main()
