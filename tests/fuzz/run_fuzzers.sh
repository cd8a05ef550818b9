#!/usr/bin/env bash
# Builds every fuzz target of //tests/fuzz with --config=fuzz (libFuzzer,
# ASan, UBSan) and fuzzes each for a bounded time, starting from its
# checked-in corpus (tests/fuzz/corpus/<target>/, never modified here).
#
#   tests/fuzz/run_fuzzers.sh [seconds per target, default 25] [target...]
#
# Exits non-zero if any target crashes, leaks, times out on an input or
# exceeds its memory limit. For each failure it prints the input (base64,
# so it survives a CI log), where it was saved, and how to reproduce it.
# Set FUZZ_ARTIFACTS to keep crash inputs somewhere (default: a temp dir).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

seconds="${1:-25}"
shift || true
t0=$(date +%s)

if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(./bazelw query 'attr(tags, "fuzz_target", tests(//tests/fuzz:all))' 2>/dev/null | sed 's|^//tests/fuzz:||')
fi
if [ "${#targets[@]}" = 0 ]; then
  echo "run_fuzzers: no fuzz targets found" >&2
  exit 2
fi
labels=()
for t in "${targets[@]}"; do labels+=("//tests/fuzz:$t"); done

echo "=== fuzz: building ${#targets[@]} targets with --config=fuzz"
./bazelw build --config=fuzz "${labels[@]}" || exit 1
bin_dir="$(./bazelw info --config=fuzz bazel-bin 2>/dev/null)/tests/fuzz"

artifacts="${FUZZ_ARTIFACTS:-$(mktemp -d /tmp/spindle-fuzz.XXXXXX)}"
mkdir -p "$artifacts"
failed=()
for t in "${targets[@]}"; do
  work="$(mktemp -d)"  # New inputs found now; the checked-in corpus stays.
  log="$artifacts/$t.log"
  echo "=== fuzz: $t for ${seconds}s"
  # -timeout: one input taking this long is a hang; -rss_limit_mb and
  # -malloc_limit_mb: memory beyond these is a bug in any target here.
  "$bin_dir/$t" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2560 \
    -malloc_limit_mb=512 -print_final_stats=1 \
    -artifact_prefix="$artifacts/$t-" "$work" "tests/fuzz/corpus/$t" \
    >"$log" 2>&1
  rc=$?
  grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+ +DONE)' "$log" | tail -3
  if [ "$rc" != 0 ]; then
    failed+=("$t")
    echo "!!! fuzz: $t FAILED (exit $rc); the end of its log:"
    tail -60 "$log"
    for input in "$artifacts/$t"-*; do
      [ -f "$input" ] || continue
      echo "!!! input saved as $input ($(stat -c %s "$input") bytes), base64:"
      base64 -w 76 "$input" | head -200
      echo "!!! reproduce: echo '<the base64 above>' | base64 -d > crash &&"
      echo "      ./bazelw build --config=fuzz //tests/fuzz:$t &&"
      echo "      $(./bazelw info --config=fuzz bazel-bin 2>/dev/null | sed "s|$PWD/||")/tests/fuzz/$t crash"
      echo "    then add it to tests/fuzz/corpus/$t/ as a regression input."
    done
  fi
  rm -rf "$work"
done
echo "=== fuzz: ${#targets[@]} targets, ${#failed[@]} failed${failed:+: ${failed[*]}}, took $(($(date +%s) - t0)) s"
[ "${#failed[@]}" = 0 ]
