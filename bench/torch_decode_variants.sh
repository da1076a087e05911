#!/usr/bin/env bash
# The PyTorch decode references of docs/timing.md in one run on the GPU machine, from the repo root:
# bench/decode_step_torch.py in its three attention variants (split-KV where the work units are few,
# one flash SDPA call a layer, one cuDNN SDPA call a layer with enable_gqa) and bench/step_torch.py's
# sliding-window and MoE decode sections (each point timed in every variant that passes its check).
#   bench/torch_decode_variants.sh OUTDIR
# Writes OUTDIR/log.txt, decode_fused.json, decode_fused_nosplit.json, decode_fused_gqa.json and
# step.json: copy them to bench/results/CARD_*.json; tools/timing_table.py and
# tools/timing_table_step.py print the tables. DENSE_ONLY=1 stops after the dense steps.
set -uo pipefail
OUT=${1:-${OUT:-/tmp/kvplan-torch-decode}}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
exec > >(tee -a "$OUT/log.txt") 2>&1
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,clocks.mem,temperature.gpu,power.draw,power.limit --format=csv
T=/tmp/kvplan-torch-decode-runs; rm -rf $T; mkdir -p $T/split $T/nosplit $T/gqa $T/step
for v in split nosplit gqa; do
  case $v in split) FLAG="" ;; nosplit) FLAG="--no-split-kv" ;; gqa) FLAG="--gqa-sdpa" ;; esac
  echo "== dense decode, attention $v"
  timeout 150 python3 bench/decode_step_torch.py --out $T/$v $FLAG || echo "DENSE DECODE $v FAILED"
done
cp $T/split/decode_measured.json "$OUT/decode_fused.json"
cp $T/nosplit/decode_measured.json "$OUT/decode_fused_nosplit.json"
cp $T/gqa/decode_measured.json "$OUT/decode_fused_gqa.json"
[ "${DENSE_ONLY:-0}" = 1 ] && exit 0   # bench/recalibrate.sh: the dense steps only
echo "== sliding-window and MoE decode"
timeout ${STEP_TIMEOUT:-300} python3 bench/step_torch.py --only sliding,moe --budget-s ${STEP_BUDGET:-260} --out $T/step \
  || echo "STEP FAILED"
cp $T/step/step_measured.json "$OUT/step.json" 2>/dev/null
