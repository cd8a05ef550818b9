"""spindle_fuzz_test: one libFuzzer target, also a regression test."""

load("//bazel:spindle.bzl", "SPINDLE_COPTS")

def spindle_fuzz_test(name, srcs, deps = [], size = "small", **kwargs):
    """A fuzz target `name` with its corpus in corpus/<name>/.

    Under --config=fuzz it is a libFuzzer binary (tests/fuzz/run_fuzzers.sh
    fuzzes it; as a test it runs each corpus input once, -runs=0). In every
    other configuration it links fuzz_main.cc instead, and as a test runs
    each corpus input once: the corpus, including every input that ever
    found a bug, is a regression test under the default, TSan and ASan
    builds alike.

    Args:
      name: target name; its corpus is corpus/<name>/ (at least one file).
      srcs: the target's sources; one defines LLVMFuzzerTestOneInput.
      deps: what it tests (fuzz_input.h comes with every target).
      size: the test size.
      **kwargs: passed to cc_test.
    """
    corpus = "corpus/" + name
    native.cc_test(
        name = name,
        size = size,
        srcs = srcs,
        copts = SPINDLE_COPTS,
        deps = deps + [":fuzz_input", "//bazel:tsan_suppressions"] + select({
            "//bazel:fuzz": [],
            "//conditions:default": [":fuzz_main"],
        }),
        linkopts = select({
            "//bazel:fuzz": ["-fsanitize=fuzzer"],
            "//conditions:default": [],
        }),
        data = native.glob([corpus + "/**"]),
        args = ["-runs=0", "tests/fuzz/" + corpus],
        tags = ["fuzz_target"],
        **kwargs
    )
