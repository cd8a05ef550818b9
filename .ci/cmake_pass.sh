#!/usr/bin/env bash
# CI's CMake pass (README "Building with CMake"): the two builds list the
# same files (tools/check_build_files.py, itself tested first); then
# README's commands (configure, build, ctest) against Debian's Abseil and
# GoogleTest; install into a temporary prefix; and a downstream project (tests/cmake_consumer)
# built and run against that install with find_package(spindle), and again
# through FetchContent from this checkout. Prints the time of each step.
# Usage: .ci/cmake_pass.sh [BUILD_DIR]   (default: a temporary folder)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
build="${1:-$tmp/build}"
prefix="$tmp/prefix"
jobs="$(nproc)"

step() {
  local name="$1"
  shift
  local t0
  t0=$(date +%s)
  echo "=== cmake_pass: $name: $*"
  "$@"
  echo "=== cmake_pass: $name took $(($(date +%s) - t0)) s"
}

step deps tools/install_cmake_deps.sh
step check_build_files_test python3 tools/check_build_files_test.py
step check_build_files python3 tools/check_build_files.py
step configure cmake -S . -B "$build"
step build cmake --build "$build" -j"$jobs"
step ctest ctest --test-dir "$build" --output-on-failure -j"$jobs"
step install cmake --install "$build" --prefix "$prefix"
step consumer_installed tests/cmake_consumer/check.sh "$prefix"
step consumer_fetchcontent tests/cmake_consumer/check.sh
