#!/usr/bin/env bash
# Writes the selective-state update of git revision REV beside main.cu (ssm_old_copy.cu, ignored by git),
# for run.sh to time side by side with the current one. Run it where the git history is, then carry
# the file to the GPU machine (device `carry`: bench/experiments/ssm_compare/ssm_old_copy.cu).
# The measurement in docs/validation/h200/ssm-update/ compared REV 31f16a6 (the kernel before it).
set -euo pipefail
cd "$(dirname "$0")"
git show "${1:?usage: prepare.sh REV}:src/gpu/ssm.cu" > ssm_old_copy.cu
