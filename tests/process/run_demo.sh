#!/bin/sh
# Smoke test for an example: runs it (bounded by `timeout`, and by Bazel's
# test timeout) and checks that it exits 0 and prints every expected line.
# Usage: run_demo.sh BINARY EXPECTED_LINE...
set -eu
bin="$1"
shift
out="${TEST_TMPDIR:-/tmp}/demo_output.txt"
if ! timeout 60 "$bin" >"$out" 2>&1; then
  echo "FAIL: $bin exited non-zero; output:"
  cat "$out"
  exit 1
fi
for line in "$@"; do
  if ! grep -qxF -- "$line" "$out"; then
    echo "FAIL: missing line: $line"
    echo "output:"
    cat "$out"
    exit 1
  fi
done
echo "PASS"
