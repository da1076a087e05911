#!/usr/bin/env bash
# The test suite under AddressSanitizer and UndefinedBehaviorSanitizer (any report fails the test
# that triggered it: -fno-sanitize-recover), then, where clang is installed, every libFuzzer target
# of tests/fuzz for a few seconds on its seed corpus. CI runs it after scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
jobs="$(nproc)"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKVPLAN_BUILD_TESTS=ON -DKVPLAN_SANITIZE=address,undefined > /dev/null
cmake --build build-asan -j"$jobs"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
   ctest --output-on-failure --no-tests=error -j"$jobs")
# clang with libFuzzer's runtime (libclang-rt-14-dev), probed by linking an empty target.
probe=$(mktemp)
if command -v clang++ > /dev/null &&
   echo 'extern "C" int LLVMFuzzerTestOneInput(const char*, unsigned long) { return 0; }' |
     clang++ -x c++ -fsanitize=fuzzer,address,undefined - -o "$probe" 2> /dev/null; then
  rm -f "$probe"
  cmake -S . -B build-fuzz -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKVPLAN_FUZZ=ON > /dev/null
  targets=(fuzz_numbers fuzz_model_yaml fuzz_hf_config fuzz_gpu_yaml fuzz_engine_yaml fuzz_deploy_yaml)
  cmake --build build-fuzz -j"$jobs" --target "${targets[@]}"
  (cd build-fuzz && ctest --output-on-failure --no-tests=error -R '^fuzz\.' -j"$jobs")
else
  rm -f "$probe"
  echo "kvplan: clang++ with libFuzzer not found: the fuzz targets were not built (scripts/install-deps.sh installs them)"
fi
