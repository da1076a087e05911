#!/usr/bin/env bash
# MoE decode steps by batch on the GPU machine: the grouped GEMV's correctness checks, then
# `kvplan validate` (engine-like decode step; the bundled preset, or the preset file in PRESET) for Mixtral-8x7B (8 experts, top-2)
# and Qwen3-30B-A3B (128 experts, top-8) at batch 1-128, 4K context, once per binary folder given,
# in one run so that two builds compare side by side. From the repo root:
#   bench/moe_sweep.sh OUTDIR [BINDIR...]      (default BINDIR: gpu-bin)
# Writes to OUTDIR: log.txt, check.txt, moe_sweep.json (per binary, model and batch: the whole step
# and its weights component, measured and predicted, and the experts' bytes). SKIP_CHECK=1 skips the
# kernels' correctness check (run it once per build).
set -uo pipefail
OUT=${1:-${OUT:-/tmp/kvplan-moe-sweep}}
shift || true
BINS=("$@")
[ ${#BINS[@]} -eq 0 ] && BINS=(gpu-bin)
KVPLAN_BIN=${BINS[-1]}
source "$(dirname "$0")/device_setup.sh"
if [ "${SKIP_CHECK:-0}" != 1 ]; then
  echo "== correctness ($BIN)"
  timeout 180 "$BIN/kvplan-gpu-bench" check > "$OUT/check.txt" 2>&1 || echo "CHECK FAILED"
  grep -E "^grouped|FAIL" "$OUT/check.txt"
fi
VTMP=$(mktemp -d)
for bin in "${BINS[@]}"; do
  for model in mixtral-8x7b qwen3-30b-a3b; do
    for batch in 1 4 8 16 32 64 128; do
      name=$(echo "$bin" | tr '/' '_')
      timeout 120 "$bin/kvplan" validate --model $model --batch $batch --context 4096 --gpu "${PRESET:-$CARD}" --no-check --no-prefill \
          --max-time 0.3 --format json > "$VTMP/$name--$model--$batch.json" 2>/dev/null || echo "VALIDATE FAILED: $bin $model $batch"
    done
  done
done
python3 - "$VTMP" "$OUT/moe_sweep.json" <<'PY'
import glob, json, os, sys
records, device = [], None
for f in sorted(glob.glob(sys.argv[1] + "/*.json")):
    binary, model, batch = os.path.basename(f)[:-5].split("--")
    try:
        r = json.load(open(f))
    except ValueError:
        continue
    device = r.get("device")
    step = r["decode_step"]
    weights = next(c for c in r["decode"] if c["name"] == "weights")
    records.append(dict(binary=binary, model=model, batch=int(batch), context=r["context"],
                        step_measured_s=step["measured"]["median_s"], step_predicted_s=step["predicted_s"],
                        weights_bytes=weights["bytes"], weights_measured_s=weights["measured"]["median_s"],
                        weights_predicted_s=weights["predicted_s"]))
json.dump({"device": device, "records": records}, open(sys.argv[2], "w"), indent=1)
print("binary model batch | step measured us, predicted us, error % | weights measured TB/s")
for x in sorted(records, key=lambda x: (x["model"], x["batch"], x["binary"])):
    print(f"{x['binary']:16} {x['model']:14} {x['batch']:4} | {x['step_measured_s'] * 1e6:9.1f} {x['step_predicted_s'] * 1e6:9.1f} "
          f"{100 * (x['step_predicted_s'] / x['step_measured_s'] - 1):+6.1f} | {x['weights_bytes'] / x['weights_measured_s'] / 1e12:5.2f}")
PY
