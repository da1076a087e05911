#!/usr/bin/env bash
# Builds main.cu with the selective-state update of the working tree and runs it with the default
# launch and under each rows-per-thread / vectors-per-lane switch (KVPLAN_SSM_ROWS, KVPLAN_SSM_VECTORS;
# the previous kernel reads the same switches), every run side by side with the previous kernel
# (prepare.sh REV). On the GPU machine, from the repo root:
#   bash bench/experiments/ssm_compare/sweep.sh > sweep.txt
set -uo pipefail
cd "$(dirname "$0")"
R=../../..
nvidia-smi --query-gpu=name,driver_version,clocks.sm --format=csv,noheader
nvcc -O3 -std=c++20 -arch=sm_90a -I$R/src -o /tmp/ssm_compare main.cu wrap_old.cu $R/src/gpu/ssm.cu $R/src/core/error.cpp error_old.cpp
echo "== default launch"
/tmp/ssm_compare
for rows in 1 2 4; do
  echo "== rows per thread $rows"
  KVPLAN_SSM_ROWS=$rows /tmp/ssm_compare
done
echo "== vectors per lane 1"
KVPLAN_SSM_VECTORS=1 /tmp/ssm_compare
