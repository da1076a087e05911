#!/usr/bin/env bash
# Builds and runs main.cu on the GPU machine (nvcc there; no kvplan dependencies beyond src/gpu/ssm.cu and core/error).
set -euo pipefail
cd "$(dirname "$0")"
R=../../..
nvcc -O3 -std=c++20 -arch=sm_90a -I$R/src -o /tmp/ssm_compare main.cu wrap_old.cu $R/src/gpu/ssm.cu $R/src/core/error.cpp error_old.cpp
/tmp/ssm_compare
