#!/usr/bin/env bash
# One command: build everything (CUDA kernels too where nvcc exists) and run the whole test suite
# (unit tests, golden CLI tests, bad-input tests; GPU tests only run on a machine with a GPU).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKVPLAN_BUILD_TESTS=ON > /dev/null
cmake --build build -j"$(nproc)"
cd build && ctest --output-on-failure --no-tests=error -j"$(nproc)"
