#!/bin/sh
# Runs an example binary's in-process self-test (server on a free 127.0.0.1
# port plus clients); the binary bounds itself with alarm(60) and Bazel's
# test timeout bounds this script.
set -eu
exec "$1" --selftest
