#!/usr/bin/env bash
# Builds and runs main.cu on the GPU machine (nvcc there; it includes src/gpu/moe.cu and links core/error).
set -euo pipefail
cd "$(dirname "$0")"
R=../../..
nvidia-smi --query-gpu=name,driver_version,clocks.sm --format=csv,noheader
nvcc -O3 -std=c++20 -arch=sm_90a -I$R/src -o /tmp/moe_compare main.cu $R/src/core/error.cpp -lcublas
/tmp/moe_compare
