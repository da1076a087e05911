#!/usr/bin/env bash
# KV offload on the GPU machine: `kvplan validate` with part of every sequence's KV in pinned host
# memory, at several offloaded shares, prefetched and on demand, against kvplan's prediction
# (docs/validation/h200/README.md, "KV offload and shared KV"). Run from the repo root with kvplan and kvplan-gpu in BIN:
#   KVPLAN_BIN=gpu-bin bench/offload.sh OUTDIR
set -uo pipefail
OUT=${1:-${OUT:-/tmp/kvplan-offload}}
BIN=${KVPLAN_BIN:-gpu-bin}
mkdir -p "$OUT"
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:/usr/local/cuda/targets/x86_64-linux/lib:${LD_LIBRARY_PATH:-}
exec > >(tee -a "$OUT/log.txt") 2>&1
nvidia-smi --query-gpu=name,driver_version,pcie.link.gen.current,pcie.link.width.current --format=csv
NAME=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
case "$NAME" in *H200*) PRESET=h200 ;; *) PRESET=h100-sxm ;; esac
MODEL=${MODEL:-llama-3.1-8b} BATCH=${BATCH:-8} CONTEXT=${CONTEXT:-32768}
for share in ${SHARES:-1% 3% 10% 25% 50%}; do
  echo "== $MODEL batch $BATCH context $CONTEXT, $share offloaded ($PRESET)"
  timeout 300 "$BIN/kvplan" validate -m "$MODEL" -g "$PRESET" -b "$BATCH" -c "$CONTEXT" --no-check --no-prefill --max-time 0.3 \
    --offload cpu --offload-bytes "$share" --format json > "$OUT/validate-${share%\%}.json" || echo "validate FAILED"
done
python3 - "$OUT" <<'PY'
import glob, json, sys
rows = []
for f in sorted(glob.glob(sys.argv[1] + "/validate-*.json"), key=lambda p: int(p.rsplit("-", 1)[1][:-5])):
    j = json.load(open(f))
    share = f.rsplit("-", 1)[1][:-5] + "%"
    plain = j["decode_step"]
    rows.append((share, "step, no offload", plain))
    for t in j["offload"]:
        rows.append((share, t["name"], t))
print(f"{'offloaded':>9}  {'item':<22}{'predicted ms':>14}{'measured ms':>13}{'error':>9}")
for share, name, t in rows:
    p, m = t["predicted_s"], t["measured"]["median_s"]
    err = f"{(p - m) / m * 100:+.1f}%" if p and p > 0 else "-"
    print(f"{share:>9}  {name:<22}{p * 1e3 if p and p > 0 else float('nan'):>14.3f}{m * 1e3:>13.3f}{err:>9}")
PY
