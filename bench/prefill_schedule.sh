#!/usr/bin/env bash
# Whole prefills and a measured schedule on the GPU machine: `kvplan validate` for Llama-3.1-8B and
# Qwen2.5-7B with its whole prefills (batch 1, 1K-32K tokens, one pass each, engine-like kernels),
# then `kvplan validate --simulate` for Llama-3.1-8B: decode steps and prefill passes measured on a
# grid, and the same Poisson requests through the scheduler with kvplan's step times and with the
# measured ones. All against the bundled preset of the card. Run from the repo root with the
# binaries in gpu-bin/ (or KVPLAN_BIN):
#   bench/prefill_schedule.sh OUTDIR
# Writes to OUTDIR: log.txt, prefill-MODEL.json, schedule-rpsR.json (validate --format json), tables.txt.
set -uo pipefail
OUT=${1:-${OUT:-/tmp/kvplan-prefill-schedule}}
source "$(dirname "$0")/device_setup.sh"
PRESET=$CARD
echo "preset: $PRESET"
for model in llama-3.1-8b qwen2.5-7b; do
  echo "== whole prefills: $model"
  timeout 240 "$BIN/kvplan" validate --model $model --gpu $PRESET --no-check --max-time 0.3 --format json \
      > "$OUT/prefill-$model.json" || echo "VALIDATE FAILED: $model"
done
for rps in 4 8; do
  echo "== schedule: llama-3.1-8b, 300 requests of 1024 + 256 tokens at $rps/s"
  timeout 300 "$BIN/kvplan" validate --model llama-3.1-8b --gpu $PRESET --no-check --no-prefill --max-time 0.2 \
      --simulate --rps $rps --requests 300 --prompt 1024 --gen 256 --format json > "$OUT/schedule-rps$rps.json" \
      || echo "SCHEDULE FAILED: $rps/s"
done
python3 - "$OUT" > "$OUT/tables.txt" <<'PY'
import json, sys, pathlib
out = pathlib.Path(sys.argv[1])
for f in sorted(out.glob("prefill-*.json")) + sorted(out.glob("schedule-*.json")):
    try:
        r = json.loads(f.read_text())
    except Exception as e:
        print(f.name, "unreadable:", e); continue
    print(f"## {f.name}: {r['model']} on {r['device']['name']}")
    for t in r["prefill"]:
        e = t["error_pct"]
        print(f"  {t['name']:<28} predicted {1e3*(t['predicted_s'] or 0):9.2f} ms  measured {1e3*t['measured']['median_s']:9.2f} ms"
              f"  error {e:+6.1f}%" if e is not None else f"  {t['name']:<28} measured {1e3*t['measured']['median_s']:9.2f} ms")
    for g in r.get("step_grids", []):
        print(f"  {g['what']} grid rows {g['rows']} cols {g['cols']}")
        for i, row in enumerate(g["rows"]):
            cells = [f"{1e3*m:7.2f}/{1e3*p:7.2f}" for m, p in zip(g["measured_s"][i], g["predicted_s"][i])]
            print(f"    {row:>4}: " + "  ".join(cells) + "   (measured/predicted ms)")
    s = r.get("schedule")
    if s:
        print(f"  schedule {s['requests']} requests at {s['rate_rps']}/s")
        for run in s["runs"]:
            print(f"    {run['steps']:<9} TTFT p50/p90/p99 {run['ttft_s']['p50']*1e3:.1f}/{run['ttft_s']['p90']*1e3:.1f}/"
                  f"{run['ttft_s']['p99']*1e3:.1f} ms  TPOT {run['tpot_s']['p50']*1e3:.2f}/{run['tpot_s']['p90']*1e3:.2f}/"
                  f"{run['tpot_s']['p99']*1e3:.2f} ms  {run['output_tokens_per_s']:.0f} tok/s  {run['steps_run']} steps")
    for n in r["notes"]:
        print("  note:", n)
PY
cat "$OUT/tables.txt"
