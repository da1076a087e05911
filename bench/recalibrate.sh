#!/usr/bin/env bash
# One card's recalibration on the GPU machine, in the order the docs report it: the kernels'
# correctness check, `kvplan calibrate` and its held-out engine-like decode steps
# (bench/calibrate_steps.sh), the PyTorch prefills of bench/step_torch.py on the same card
# (TORCH_PREFILL=0 skips them), whole engine-like prefills of Llama-3.1-8B and Qwen2.5-7B (batch 1,
# 1K-32K tokens) priced with the new preset, the engine-like MoE sweep priced with it
# (bench/moe_sweep.sh), and the PyTorch dense decode steps of bench/decode_step_torch.py in their
# three attention variants (bench/torch_decode_variants.sh with DENSE_ONLY=1; TORCH_DECODE=0 skips
# them), then the held-out SSM and hybrid decode steps priced with the new preset
# (bench/calibrate_steps.sh with their STEPS; SSM_STEPS=0 skips them, and they are skipped when less
# than 100 s are left of the GPU machine's 600 s a command). About 8 minutes on an H100. Binaries in
# gpu-bin/ or KVPLAN_BIN (docs/validation/README.md, "Reproduce"). From the repo root:
#   bench/recalibrate.sh OUTDIR
# Writes OUTDIR/recalibrate.tar.gz after each stage (whatever finished comes back if a later stage
# runs out of time): calibrate-steps/, torch-prefill/, prefill-with-calibration/, moe-sweep/,
# torch-decode/ (decode_fused.json, decode_fused_nosplit.json, decode_fused_gqa.json, log.txt),
# ssm-steps/.
set -uo pipefail
OUT=${1:-${OUT:-/tmp/kvplan-recalibrate}}
BIN=${KVPLAN_BIN:-gpu-bin}
WORK=$(mktemp -d)
pack() { tar -czf "$OUT/recalibrate.tar.gz" -C "$WORK" .; }
mkdir -p "$OUT"
SECONDS=0
KVPLAN_BIN=$BIN bash "$(dirname "$0")/calibrate_steps.sh" "$WORK/calibrate-steps" | tail -40
pack
PRESET_FILE="$WORK/calibrate-steps/calibrated.yaml"
[ -s "$PRESET_FILE" ] || { echo "no calibrated preset"; exit 1; }
echo "calibrate-steps done at ${SECONDS}s"
if [ "${TORCH_PREFILL:-1}" = 1 ]; then
  mkdir -p "$WORK/torch-prefill"
  timeout 200 python3 "$(dirname "$0")/step_torch.py" --only prefill --out "$WORK/torch-prefill" > "$WORK/torch-prefill/log.txt" 2>&1 \
      || echo "PYTORCH PREFILL FAILED"
  tail -14 "$WORK/torch-prefill/log.txt"
  pack
  echo "PyTorch prefills done at ${SECONDS}s"
fi
mkdir -p "$WORK/prefill-with-calibration"
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:/usr/local/cuda/targets/x86_64-linux/lib:${LD_LIBRARY_PATH:-}
for model in llama-3.1-8b qwen2.5-7b; do
  timeout 240 "$BIN/kvplan" validate --model $model --gpu "$PRESET_FILE" --no-check --max-time 0.3 --format json \
      > "$WORK/prefill-with-calibration/prefill-$model.json" || echo "VALIDATE FAILED: $model"
  pack
  echo "prefill $model done at ${SECONDS}s"
done
PRESET="$PRESET_FILE" SKIP_CHECK=1 KVPLAN_BIN=$BIN bash "$(dirname "$0")/moe_sweep.sh" "$WORK/moe-sweep" "$BIN" | tail -32
pack
echo "moe-sweep done at ${SECONDS}s"
if [ "${TORCH_DECODE:-1}" = 1 ]; then
  DENSE_ONLY=1 bash "$(dirname "$0")/torch_decode_variants.sh" "$WORK/torch-decode" > /dev/null 2>&1 \
      || echo "PYTORCH DECODE FAILED"
  grep -h "FAILED" "$WORK/torch-decode/log.txt" 2>/dev/null
  pack
  echo "PyTorch decode done at ${SECONDS}s"
fi
if [ "${SSM_STEPS:-1}" = 1 ] && [ $SECONDS -lt 500 ]; then
  STEPS="mamba2-2.7b 1 4096; mamba2-2.7b 64 4096; mamba-2.8b 32 4096; nemotron-nano-9b-v2 8 8192;
    granite-4.0-h-tiny 16 4096; falcon-h1-7b 8 4096; jamba-1.5-mini 4 8192" \
    PRESET="$PRESET_FILE" SKIP_CHECK=1 KVPLAN_BIN=$BIN bash "$(dirname "$0")/calibrate_steps.sh" "$WORK/ssm-steps" | tail -8
  pack
  echo "SSM and hybrid steps done at ${SECONDS}s"
elif [ "${SSM_STEPS:-1}" = 1 ]; then
  echo "SSM and hybrid steps skipped: ${SECONDS}s gone"
fi
