#!/usr/bin/env bash
# One command from a fresh clone: install dependencies, build kvplan, run a real sizing query.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# Same build type as scripts/test.sh and tests left on, so the two commands share build/ in either order.
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo > /dev/null
cmake --build build -j"$(nproc)" --target kvplan
./build/kvplan estimate --model llama-3.1-70b --gpu h100 --context 32k --batch 8
