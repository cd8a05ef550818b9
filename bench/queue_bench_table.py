#!/usr/bin/env python3
"""Prints the ratio table for //bench:queue_bench from its JSON output.

Usage: python3 bench/queue_bench_table.py OUT.json

Uses the median of each benchmark's repetitions. Ratios > 1 mean spindle is
faster: spindle/std, spindle/tbb, and spindle_many (GetMany) / moody (the
single-item moodycamel consumer), and spindle_batch (PutMany + GetMany) /
moody_batch (enqueue_bulk + wait_dequeue_bulk). The last two columns are the
process's CPU time per item (user + system) of spindle and std: unlike items/s
they hardly depend on how much of a loaded machine the run got.
"""
import json
import sys


def main(path):
    with open(path) as f:
        data = json.load(f)
    rate = {}
    cpu = {}
    for b in data["benchmarks"]:
        if b.get("aggregate_name", "median") != "median":
            continue
        # Handoff/1P1C/cap1024/spindle/1/1/1024/... -> (config, impl)
        parts = b["run_name"].split("/")
        config, impl = parts[1] + " " + parts[2], parts[3]
        rate[(config, impl)] = b["items_per_second"] / 1e6
        cpu[(config, impl)] = b.get("cpu_ns/item")
    impls = ["spindle", "spindle_many", "spindle_batch", "std", "tbb",
             "moody", "moody_bulk", "moody_batch"]
    configs = sorted({c for c, _ in rate},
                     key=lambda c: (c.split()[1] != "cap1024", int(c[0])))
    head = ["config"] + [i + " M/s" for i in impls] + [
        "spindle/std", "spindle/tbb", "many/moody", "batch/moody_batch",
        "cpu ns/item spindle", "cpu ns/item std"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for c in configs:
        r = {i: rate.get((c, i)) for i in impls}
        row = [c] + ["%.1f" % r[i] if r[i] else "-" for i in impls]

        def ratio(a, b):
            return "%.2f" % (r[a] / r[b]) if r[a] and r[b] else "-"

        row += [ratio("spindle", "std"), ratio("spindle", "tbb"),
                ratio("spindle_many", "moody"),
                ratio("spindle_batch", "moody_batch")]
        row += ["%.0f" % cpu[(c, i)] if cpu.get((c, i)) else "-"
                for i in ("spindle", "std")]
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main(sys.argv[1])
