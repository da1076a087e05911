#!/usr/bin/env bash
# kvplan on the GPU machine: correctness of every kernel variant, bandwidth probe, kernel timings,
# the PyTorch SDPA comparison, `kvplan calibrate`, `kvplan validate` for a few models; a short
# table last. Run from the repo root with the binaries in gpu-bin/ (../shared/GPU.md):
#   bench/gpu.sh OUTDIR
# Writes at most 8 files to OUTDIR (the device tool brings back 8): log.txt, check.json,
# probe.json, kernels.json, sdpa.json, <preset>-calibrated.yaml, validate.json, summary.md.
set -uo pipefail
OUT=${1:-${OUT:-/tmp/kvplan-gpu}}
BIN=${KVPLAN_BIN:-gpu-bin}
mkdir -p "$OUT"
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:/usr/local/cuda/targets/x86_64-linux/lib:${LD_LIBRARY_PATH:-}
export PYTHONUNBUFFERED=1
LOG="$OUT/log.txt"
exec > >(tee -a "$LOG") 2>&1
echo "== device"; nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,clocks.mem,temperature.gpu,power.draw,power.limit --format=csv
"$BIN/kvplan" --version
command -v cuobjdump >/dev/null && cuobjdump -res-usage "$BIN/kvplan-gpu-bench" 2>/dev/null | grep -E "Function|REG" | paste - - | sed -E "s/Function ([^ ]{0,90})[^:]*:/\1/" | head -40
echo "== correctness"
timeout 120 "$BIN/kvplan-gpu-bench" --out "$OUT/check.json" check || echo "CHECK FAILED"
echo "== probe"
timeout 60 "$BIN/kvplan-gpu-bench" --out "$OUT/probe.json" probe >/dev/null && python3 -c "
import json; p=json.load(open('$OUT/probe.json'))
for r in p['points']: print(f\"{r['bytes']:>12} read {r['bytes']/r['read']['median_s']/1e9:8.1f} GB/s  copy {r['bytes']/r['copy']['median_s']/1e9:8.1f} GB/s\")
print('fit read', p['read_fit'], 'copy', p['copy_fit'])"
echo "== kernels"
timeout 120 "$BIN/kvplan-gpu-bench" --out "$OUT/kernels.json" kernels
echo "== SDPA comparison"
timeout 240 python3 bench/sdpa_compare.py --bench "$BIN/kvplan-gpu-bench" --probe "$OUT/probe.json" --out "$OUT"
echo "== calibrate"
NAME=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
case "$NAME" in *H200*) PRESET=h200 ;; *) PRESET=h100-sxm ;; esac
timeout 90 "$BIN/kvplan" calibrate --base $PRESET --out "$OUT/$PRESET-calibrated.yaml" >/dev/null
echo "== validate"
VTMP=/tmp/kvplan-validate; mkdir -p $VTMP
CHECK=""
for spec in "llama-3.1-8b 1 4096" "llama-3.1-8b 8 32768" "qwen2.5-7b 32 8192" "gemma-2-9b 8 8192" \
            "gpt-oss-20b 8 8192" "mamba2-2.7b 64 4096" "falcon-mamba-7b 32 4096"; do
  set -- $spec
  echo "-- $1 batch $2 context $3"
  timeout 60 "$BIN/kvplan" validate --model $1 --batch $2 --context $3 --gpu "$OUT/$PRESET-calibrated.yaml" $CHECK --no-prefill \
      --format json > "$VTMP/$1-b$2-c$3.json" || echo "VALIDATE FAILED: $spec"
  timeout 60 "$BIN/kvplan" validate --model $1 --batch $2 --context $3 --gpu $PRESET --no-check --no-prefill --max-time 0.2 \
      --format json > "$VTMP/$1-b$2-c$3-datasheet.json" || true
  CHECK="--no-check"
done
python3 - "$VTMP" "$OUT" <<'PY'
import glob, json, os, sys
vt, out = sys.argv[1], sys.argv[2]
allv = {}
for f in sorted(glob.glob(vt + "/*.json")):
    try: allv[os.path.basename(f)[:-5]] = json.load(open(f))
    except Exception as e: allv[os.path.basename(f)[:-5]] = {"error": str(e)}
json.dump(allv, open(out + "/validate.json", "w"), indent=1)
L = ["# kvplan GPU run summary", ""]
chk = json.load(open(out + "/check.json"))
L.append(f"device: {chk['device']}, driver {chk['driver']}; correctness: {sum(c['pass'] for c in chk['checks'])}/{len(chk['checks'])} pass, worst rel err {max(c['rel_error'] for c in chk['checks']):.2e}")
p = json.load(open(out + "/probe.json"))
ds = 4.8e12 if 'H200' in chk['device'] else 3.35e12  # datasheet bandwidth of the presets h200 / h100-sxm
L.append(f"probe read {p['read_bytes_per_s']/1e12:.3f} TB/s ({100*p['read_bytes_per_s']/ds:.1f}% of {ds/1e12:.2f}), copy {p['copy_bytes_per_s']/1e12:.3f} TB/s, fit t0 {p['read_fit']['t0_s']*1e6:.2f} us")
s = json.load(open(out + "/sdpa.json"))
L += ["", "| heads | batch | context | KV MB | kvplan us | % probe | SDPA us (backend) | % probe | SDPA/kvplan |", "|---|---|---|---|---|---|---|---|---|"]
for r in s["rows"]:
    L.append(f"| {r['heads']}/{r['kv_heads']} | {r['batch']} | {r['context']} | {r['bytes']/1e6:.1f} | {r['kvplan_s']*1e6:.1f} | {r['kvplan_pct_probe']:.1f} | {r.get('sdpa_s',float('nan'))*1e6:.1f} ({r['sdpa_best']}) | {r.get('sdpa_pct_probe',float('nan')):.1f} | {r.get('speedup',float('nan')):.2f} |")
peak = 9.894e14  # dense bf16 peak of the presets h100-sxm and h200 (the same 989.4 TFLOP/s)
L += ["", "| prefill heads, head_dim | tokens | kvplan kernel: us, TFLOP/s, % of bf16 peak | SDPA us (backend), TFLOP/s | SDPA/kvplan (fastest kvplan) |", "|---|---|---|---|---|"]
for r in s.get("prefill", []):
    ks = "; ".join(f"{n} {t*1e6:.1f} us, {r['flops']/t/1e12:.0f}, {100*r['flops']/t/peak:.1f}%" for n, t in r["kvplan"].items())
    best = min(r["kvplan"].values())
    L.append(f"| {r['heads']}/{r['kv_heads']}, d{r['dim']} | {r['tokens']} | {ks} | {r.get('sdpa_s',float('nan'))*1e6:.1f} ({r['sdpa_best']}), {r['flops']/r.get('sdpa_s',float('nan'))/1e12:.0f} | {r.get('sdpa_s',float('nan'))/best:.2f} |")
k = json.load(open(out + "/kernels.json"))
L += ["", "| kernel | us | GB/s | TFLOP/s |", "|---|---|---|---|"]
for r in k["kernels"]:
    L.append(f"| {r['name']} | {r['measured']['median_s']*1e6:.1f} | {r['achieved_bytes_per_s']/1e9:.0f} | {r['achieved_flops_per_s']/1e12:.1f} |")
L += ["", "| validate run | component | predicted us | measured us | error % |", "|---|---|---|---|---|"]
for name, v in allv.items():
    if "decode" not in v: continue
    for c in v["decode"] + [v["decode_step"]] + v.get("prefill", []):
        pr = c["predicted_s"]; e = c["error_pct"]
        L.append(f"| {name} | {c['name']} | {pr*1e6 if pr is not None else float('nan'):.1f} | {c['measured']['median_s']*1e6:.1f} | {e if e is not None else float('nan'):+.1f} |")
open(out + "/summary.md", "w").write("\n".join(L) + "\n")
print("\n".join(L))
PY
