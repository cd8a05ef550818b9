#!/bin/sh
# Runs a Python 3 integration script with the remaining arguments.
# (sh_test wrapper: Bazel 4.2.3's py_test would need a Python toolchain.)
set -eu
script="$1"
shift
command -v python3 >/dev/null 2>&1 || {
  echo "python3 is required (Debian: apt-get install python3)" >&2
  exit 1
}
exec python3 -u "$script" "$@"
