#!/usr/bin/env bash
# The engine-like decode step against the heavy-kernels-only one, on the GPU machine: the
# correctness checks (every kernel, the small ones included), then `kvplan validate` for each model
# twice, KVPLAN_DECODE_STEP=heavy (the step as it was: linears, attention, lm_head) and the default
# engine-like step (norms, rotary, KV append, activations, MoE routing added), both against the
# card's calibrated preset; then the MoE models once per KVPLAN_MOE_ROWS (the grouped GEMV's rows
# per warp: 1, 2, 4). Run from the repo root with the binaries in gpu-bin/ (docs/validation/README.md):
#   bench/engine_step.sh OUTDIR
# Writes to OUTDIR: log.txt, check.json, validate.json (every run's JSON), summary.md (the tables printed last).
set -uo pipefail
OUT=${1:-${OUT:-/tmp/kvplan-engine-step}}
source "$(dirname "$0")/device_setup.sh"
PRESET=presets/$CARD-calibrated.yaml
echo "preset: $PRESET"
echo "== correctness"
timeout 180 "$BIN/kvplan-gpu-bench" --out "$OUT/check.json" check || echo "CHECK FAILED"
for rows in 1 2 4; do  # every grouped GEMV variant on every check shape
  echo "rows per warp $rows:"
  KVPLAN_MOE_ROWS=$rows timeout 180 "$BIN/kvplan-gpu-bench" check 2>&1 | grep -E "^grouped GEMV|FAIL" || echo "CHECK FAILED (rows $rows)"
done
echo "== validate"
VTMP=/tmp/kvplan-engine-validate; rm -rf $VTMP; mkdir -p $VTMP
for spec in "llama-3.1-8b 1 4096" "llama-3.1-8b 8 32768" "gemma-2-9b 8 8192" "mixtral-8x7b 8 8192" "gpt-oss-20b 8 8192"; do
  set -- $spec
  for step in heavy engine; do
    echo "-- $1 batch $2 context $3 ($step)"
    KVPLAN_DECODE_STEP=$step timeout 120 "$BIN/kvplan" validate --model $1 --batch $2 --context $3 --gpu $PRESET --no-check --no-prefill \
        --format json > "$VTMP/$1-b$2-c$3-$step.json" || echo "VALIDATE FAILED: $spec $step"
  done
done
echo "== MoE grouped GEMV: rows per warp (KVPLAN_MOE_ROWS)"
for spec in "mixtral-8x7b 8 8192" "gpt-oss-20b 8 8192"; do
  set -- $spec
  for rows in 1 2 4; do
    KVPLAN_MOE_ROWS=$rows timeout 120 "$BIN/kvplan" validate --model $1 --batch $2 --context $3 --gpu $PRESET --no-check --no-prefill \
        --format json > "$VTMP/$1-b$2-c$3-engine-rows$rows.json" || echo "VALIDATE FAILED: $spec rows $rows"
  done
done
python3 - "$VTMP" "$OUT" <<'PY'
import glob, json, os, sys
vt, out = sys.argv[1], sys.argv[2]
runs = {}
for f in sorted(glob.glob(vt + "/*.json")):
    name = os.path.basename(f)[:-5]
    try: runs[name] = json.load(open(f))
    except Exception as e: runs[name] = {"error": str(e), "text": open(f).read()[-2000:]}
json.dump(runs, open(out + "/validate.json", "w"), indent=1)
chk = json.load(open(out + "/check.json"))
L = ["# engine-like decode step vs heavy kernels only", "",
     f"device: {chk['device']}, driver {chk['driver']}; correctness: {sum(c['pass'] for c in chk['checks'])}/{len(chk['checks'])} pass", ""]
for c in chk["checks"]:
    if not c["pass"]: L.append(f"FAILED: {c['name']} rel err {c['rel_error']}")
L += ["| run | component | kernels heavy / engine | predicted us | heavy us | engine us | heavy err % | engine err % |",
      "|---|---|---|---|---|---|---|---|"]
fmt = lambda v: "" if v is None else f"{v:.1f}"
for key in sorted({k.rsplit('-', 1)[0] for k in runs if k.endswith(("-heavy", "-engine"))}):
    h, e = runs.get(key + "-heavy", {}), runs.get(key + "-engine", {})
    if "decode" not in e: L.append(f"| {key} | (engine run failed) | | | | | | |"); continue
    comps = {c["name"]: c for c in h.get("decode", []) + ([h["decode_step"]] if "decode_step" in h else [])}
    for c in e["decode"] + [e["decode_step"]]:
        hc = comps.get(c["name"], {})
        pr = c["predicted_s"]
        em = c["measured"]["median_s"]; hm = hc.get("measured", {}).get("median_s")
        err = lambda m: "" if pr is None or m is None else f"{100 * (pr - m) / m:+.1f}"
        L.append(f"| {key} | {c['name']} | {hc.get('kernels', '')} / {c['kernels']} | {fmt(pr * 1e6 if pr is not None else None)} | "
                 f"{fmt(hm * 1e6 if hm else None)} | {em * 1e6:.1f} | {err(hm)} | {err(em)} |")
L += ["", "| MoE run, rows per warp | weights us | weights TB/s | decode step us |", "|---|---|---|---|"]
for k, r in runs.items():
    if "-rows" not in k or "decode" not in r: continue
    w = next(c for c in r["decode"] if c["name"] == "weights")
    L.append(f"| {k} | {w['measured']['median_s'] * 1e6:.1f} | {w['bytes'] / w['measured']['median_s'] / 1e12:.3f} | "
             f"{r['decode_step']['measured']['median_s'] * 1e6:.1f} |")
open(out + "/summary.md", "w").write("\n".join(L) + "\n")
print("\n".join(L))
PY
