// Copyright 2026 The spindle Authors.
//
// The main() of a fuzz target outside --config=fuzz: runs
// LLVMFuzzerTestOneInput once on every file named on the command line, or
// found under a directory named there (sorted, recursively), as libFuzzer
// does with -runs=0. Arguments that start with '-' (libFuzzer flags) are
// ignored. Fails if it finds no input at all, so a missing corpus cannot
// pass for a tested one. A failing input crashes (the targets check with
// abort()); its path is printed first.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
extern "C" __attribute__((weak)) int LLVMFuzzerInitialize(int* argc,
                                                          char*** argv);

int main(int argc, char** argv) {
  if (LLVMFuzzerInitialize != nullptr) LLVMFuzzerInitialize(&argc, &argv);
  std::vector<std::string> inputs;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.empty() || arg[0] == '-') continue;
    std::error_code ec;
    if (std::filesystem::is_directory(arg, ec)) {
      for (const auto& entry :
           std::filesystem::recursive_directory_iterator(arg)) {
        if (entry.is_regular_file()) inputs.push_back(entry.path().string());
      }
    } else if (std::filesystem::is_regular_file(arg, ec)) {
      inputs.push_back(arg);
    } else {
      std::fprintf(stderr, "fuzz_main: no such file or directory: %s\n",
                   arg.c_str());
      return 2;
    }
  }
  if (inputs.empty()) {
    std::fprintf(stderr, "fuzz_main: no inputs (an empty corpus?)\n");
    return 2;
  }
  std::sort(inputs.begin(), inputs.end());
  for (const std::string& path : inputs) {
    std::fprintf(stderr, "fuzz_main: running %s\n", path.c_str());
    std::ifstream in(path, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)),
                            std::istreambuf_iterator<char>());
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()),
                           bytes.size());
  }
  std::fprintf(stderr, "fuzz_main: %zu inputs passed\n", inputs.size());
  return 0;
}
