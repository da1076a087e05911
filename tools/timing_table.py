#!/usr/bin/env python3
"""Measured (bench/decode_step_torch.py on the GPU) vs expected (kvplan estimate) decode step times.

Usage: tools/timing_table.py [--kvplan KVPLAN] [--card h100|h200] [--gpu PRESET] [--results DIR] > table.md
Reads, from DIR (default bench/results), CARD_decode_fused.json (split-KV attention where it has few work units),
CARD_decode_fused_nosplit.json (one SDPA call per layer) and, where the run has it,
CARD_decode_fused_gqa.json (one cuDNN SDPA call per layer with enable_gqa); the measured time of a
point is the fastest of them, as an engine's split heuristic would pick. Expected: `kvplan estimate --engine ideal`
with the preset (default: the card's bundled one). Prints a markdown table and the mean and largest
|expected / measured - 1|.
"""
import argparse
import json
import math
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUNDLED = {"h100": "h100-sxm", "h200": "h200"}


RESULTS = os.path.join(ROOT, "bench", "results")


def load(name):
    with open(os.path.join(RESULTS, name)) as f:
        return json.load(f)


CHECK_TOL = 3e-2  # bench/decode_step_torch.py's check: a step this far from float32 is not a measurement


def by_point(name, optional=False):
    """The file's records that passed their float32 check, by (model, batch, context); {} when an
    optional file is absent."""
    if optional and not os.path.exists(os.path.join(RESULTS, name)):
        return {}
    return {(r["model"], r["batch"], r["context"]): r for r in load(name)["records"]
            if math.isfinite(r.get("check_rel_err", 0.0)) and r.get("check_rel_err", 0.0) < CHECK_TOL}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kvplan", default=os.path.join(ROOT, "build", "kvplan"))
    ap.add_argument("--card", default="h100", choices=sorted(BUNDLED))
    ap.add_argument("--gpu", help="preset id or file (default: the card's bundled preset)")
    ap.add_argument("--results", help="folder of the CARD_decode_fused*.json files (default: bench/results)")
    a = ap.parse_args()
    global RESULTS
    RESULTS = a.results or RESULTS
    gpu = a.gpu or BUNDLED[a.card]
    split = load(f"{a.card}_decode_fused.json")
    nosplit = by_point(f"{a.card}_decode_fused_nosplit.json")
    gqa = by_point(f"{a.card}_decode_fused_gqa.json", optional=True)
    print(f"Device: {split['device']}, torch {split['torch']}, triton {split['triton']}; preset {gpu}.\n")
    head = "split-KV / one SDPA" + (" / cuDNN GQA" if gqa else "")
    print(f"| model | batch | context | measured ms ({head}) | kernels/step | expected ms | floor ms | expected / measured |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    errors = []
    checked = by_point(f"{a.card}_decode_fused.json")
    for r in split["records"]:
        key = (r["model"], r["batch"], r["context"])
        if key not in checked:
            continue  # failed its float32 check
        runs = [x for x in (r, nosplit.get(key), gqa.get(key)) if x is not None]
        best = min(runs, key=lambda x: x["step_ms"])
        measured, kernels = best["step_ms"], best["kernels_per_step"]
        out = subprocess.run([a.kvplan, "estimate", "--engine", "ideal", "--model", r["model"], "--gpu", gpu, "--batch",
                              str(r["batch"]), "--context", str(r["context"]), "--format", "json"],
                             check=True, capture_output=True, text=True)
        d = json.loads(out.stdout)["decode"]
        expected, floor = d["step_time_s"] * 1e3, d["step_time_floor_s"] * 1e3
        ratio = expected / measured
        errors.append(abs(ratio - 1))
        each = " / ".join(f"{x['step_ms']:.3f}" if x else "-" for x in (r, nosplit.get(key)) + ((gqa.get(key),) if gqa else ()))
        print(f"| {r['model']} | {r['batch']} | {r['context']} | **{measured:.3f}** ({each}) "
              f"| {kernels} | {expected:.3f} | {floor:.3f} | {ratio:.3f} |")
    print(f"\nMean |expected / measured - 1| over {len(errors)} points: {100 * sum(errors) / len(errors):.1f}%; "
          f"largest {100 * max(errors):.1f}%.")


if __name__ == "__main__":
    main()
