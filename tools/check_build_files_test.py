#!/usr/bin/env python3
"""Tests for tools/check_build_files.py on small made-up repositories.

Run: python3 tools/check_build_files_test.py   (CI: .ci/cmake_pass.sh)
"""

import os
import subprocess
import sys
import tempfile
import textwrap
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_build_files  # noqa: E402

BUILD = textwrap.dedent("""\
    load("//bazel:spindle.bzl", "spindle_cc_library", "spindle_cc_test")

    spindle_cc_library(
        name = "queue",
        srcs = select({
            "//bazel:perturb": ["internal/extra.cc"],
            "//conditions:default": [],
        }),
        hdrs = ["queue.h"] + ["internal/engine.h"],
    )

    [spindle_cc_test(
        name = name + "_test",
        srcs = [name + "_test.cc"],
        deps = [":queue"],
    ) for name in ["queue"]]
    """)

CMAKE = textwrap.dedent("""\
    # queue.h in a comment does not count: gone.h
    spindle_cc_library(queue
      HDRS queue.h
           internal/engine.h
      SRCS internal/extra.cc)

    spindle_cc_test(queue_test
      SRCS queue_test.cc
      DEPS spindle::queue)
    """)


class CheckBuildFilesTest(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.root = self.dir.name
        for path in ("pkg/queue.h", "pkg/internal/engine.h",
                     "pkg/internal/extra.cc", "pkg/queue_test.cc"):
            self.write(path, "")
        self.write("pkg/BUILD", BUILD)
        self.write("pkg/CMakeLists.txt", CMAKE)

    def tearDown(self):
        self.dir.cleanup()

    def write(self, path, text):
        full = os.path.join(self.root, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w", encoding="utf-8") as f:
            f.write(text)

    def edit(self, path, old, new):
        full = os.path.join(self.root, path)
        with open(full, encoding="utf-8") as f:
            text = f.read()
        self.assertIn(old, text)
        self.write(path, text.replace(old, new))

    def problems(self):
        return check_build_files.check(self.root)[0]

    def test_agreeing_builds_pass(self):
        self.assertEqual(self.problems(), [])

    def test_source_missing_from_cmake_fails(self):
        self.edit("pkg/CMakeLists.txt", "  SRCS internal/extra.cc)", ")")
        self.assertEqual(self.problems(), [
            "pkg/internal/extra.cc: in Bazel (pkg/BUILD), not in CMake"])

    def test_header_missing_from_bazel_fails(self):
        self.edit("pkg/BUILD", ' + ["internal/engine.h"]', "")
        self.assertEqual(self.problems(), [
            "pkg/internal/engine.h: in CMake (pkg/CMakeLists.txt), "
            "not in Bazel"])

    def test_file_in_neither_build_fails(self):
        self.write("pkg/stray.cc", "")
        self.assertEqual(self.problems(),
                         ["pkg/stray.cc: on disk, in neither build"])

    def test_named_file_missing_on_disk_fails(self):
        os.remove(os.path.join(self.root, "pkg/queue.h"))
        problems = self.problems()
        self.assertIn("pkg/queue.h: named in pkg/BUILD, not on disk",
                      problems)
        self.assertIn(
            "pkg/queue.h: named in pkg/CMakeLists.txt, not on disk", problems)

    def test_test_target_missing_from_cmake_fails(self):
        self.edit("pkg/BUILD", 'for name in ["queue"]',
                  'for name in ["queue", "stack"]')
        self.write("pkg/stack_test.cc", "")
        problems = self.problems()
        self.assertIn("test stack_test: in Bazel (pkg/BUILD), not in CMake",
                      problems)
        self.assertIn("pkg/stack_test.cc: in Bazel (pkg/BUILD), not in CMake",
                      problems)

    def test_bazel_only_folder_is_exempt(self):
        self.write("bench/BUILD", 'cc_binary(name = "b", srcs = ["b.cc"])\n')
        self.write("bench/b.cc", "")
        self.assertEqual(self.problems(), [])

    def test_command_line_exit_status(self):
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                              "check_build_files.py")
        ok = subprocess.run([sys.executable, script, self.root],
                            capture_output=True, text=True)
        self.assertEqual(ok.returncode, 0, ok.stdout)
        self.write("pkg/stray.h", "")
        bad = subprocess.run([sys.executable, script, self.root],
                             capture_output=True, text=True)
        self.assertEqual(bad.returncode, 1)
        self.assertIn("pkg/stray.h: on disk, in neither build", bad.stdout)


if __name__ == "__main__":
    unittest.main()
