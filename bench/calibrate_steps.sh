#!/usr/bin/env bash
# `kvplan calibrate` with its whole-step fit, then its preset checked on engine-like decode steps of
# models and shapes the fit did not see (dense GQA and MHA, head_dim 256, MoE at a batch that
# touches every expert, batch 1..128, 2K..64K context). On the GPU machine, from the repo root,
# binaries in gpu-bin/ (docs/validation/README.md, "Reproduce"):
#   bench/calibrate_steps.sh OUTDIR
# SKIP_CHECK=1 skips the kernels' correctness check. PRESET=FILE prices the steps with that preset
# instead of calibrating (calibrated.yaml is then a copy of it, with a read probe in probe.json);
# STEPS="model batch context; ..." replaces the held-out steps (docs/validation/h100-sxm/ssm-steps:
# the SSM and hybrid steps).
# Writes to OUTDIR: log.txt, check.json (the kernels' correctness), calibrated.yaml (the preset
# calibrate wrote), validate.json (every step's `kvplan validate --format json`: measured components
# and the new preset's predictions). bench/calibrate_steps.py then prices the same steps with any
# other preset (the measurements do not depend on it).
set -uo pipefail
OUT=${1:-${OUT:-/tmp/kvplan-calibrate-steps}}
BIN=${KVPLAN_BIN:-gpu-bin}
mkdir -p "$OUT"
VTMP=/tmp/kvplan-calibrate-validate; rm -rf $VTMP; mkdir -p $VTMP
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:/usr/local/cuda/targets/x86_64-linux/lib:${LD_LIBRARY_PATH:-}
exec > >(tee -a "$OUT/log.txt") 2>&1
echo "== device"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,clocks.mem,temperature.gpu,power.draw,power.limit --format=csv
"$BIN/kvplan" --version
if [ "${SKIP_CHECK:-0}" != 1 ]; then
  echo "== correctness"
  timeout 180 "$BIN/kvplan-gpu-bench" --out "$OUT/check.json" check > "$OUT/check.txt" 2>&1
  rc=$?
  grep -E "grouped|FAIL" "$OUT/check.txt"
  [ $rc -eq 0 ] || echo "CHECK FAILED (exit $rc)"
fi
if [ -n "${PRESET:-}" ]; then
  cp "$PRESET" "$OUT/calibrated.yaml"
  timeout 60 "$BIN/kvplan-gpu-bench" --out "$OUT/probe.json" probe > /dev/null || echo "PROBE FAILED"
else
  echo "== calibrate"
  timeout 300 "$BIN/kvplan" calibrate --out "$OUT/calibrated.yaml" > /dev/null || echo "CALIBRATE FAILED"
  grep -A12 "engine_steps:" "$OUT/calibrated.yaml"
fi
echo "== held-out steps"
STEPS=${STEPS:-"qwen2.5-7b 16 16384; qwen2.5-7b 128 2048; qwen3-8b 4 65536; mistral-7b-v0.1 64 4096;
  gemma-2-9b 8 8192; gemma-2-9b 1 2048; mixtral-8x7b 32 4096; llama-3.1-8b 128 4096; llama-3.1-8b 1 4096;
  qwen2.5-7b 1 4096; mixtral-8x7b 4 4096; falcon-mamba-7b 1 4096; falcon-mamba-7b 32 4096"}
IFS=';' read -ra SPECS <<< "$(echo $STEPS)"   # unquoted: one line
for spec in "${SPECS[@]}"; do
  set -- $spec
  echo "-- $1 batch $2 context $3"
  timeout 120 "$BIN/kvplan" validate --model $1 --batch $2 --context $3 --gpu "$OUT/calibrated.yaml" --no-check --no-prefill \
      --max-time 0.3 --format json > "$VTMP/$1-b$2-c$3.json" || echo "VALIDATE FAILED: $spec"
done
python3 - "$VTMP" "$OUT/validate.json" <<'PY'
import glob, json, os, sys
runs = {}
for f in sorted(glob.glob(sys.argv[1] + "/*.json")):
    try: runs[os.path.basename(f)[:-5]] = json.load(open(f))
    except ValueError as e: runs[os.path.basename(f)[:-5]] = {"error": str(e)}
json.dump(runs, open(sys.argv[2], "w"), indent=1)
for k, r in runs.items():
    if "decode_step" in r:
        d = r["decode_step"]; m = d["measured"]["median_s"]
        print(f"{k}: measured {m * 1e6:.1f} us, predicted {d['predicted_s'] * 1e6:.1f} us ({100 * (d['predicted_s'] / m - 1):+.1f}%)")
PY
