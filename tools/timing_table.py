#!/usr/bin/env python3
"""Measured (bench/decode_step_torch.py on the GPU) vs expected (kvplan estimate) decode step times.

Usage: tools/timing_table.py [KVPLAN] > table.md
Reads bench/results/h100_decode_fused.json (split-KV attention where it has few work units) and
h100_decode_fused_nosplit.json (one SDPA call per layer); the measured time of a point is the faster
of the two, as an engine's split heuristic would pick. Prints a markdown table.
"""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KVPLAN = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "kvplan")


def load(name):
    with open(os.path.join(ROOT, "bench", "results", name)) as f:
        return json.load(f)


def main():
    split = load("h100_decode_fused.json")
    nosplit = {(r["model"], r["batch"], r["context"]): r for r in load("h100_decode_fused_nosplit.json")["records"]}
    print(f"Device: {split['device']}, torch {split['torch']}, triton {split['triton']}.\n")
    print("| model | batch | context | measured ms (split-KV / one SDPA) | kernels/step | expected ms | floor ms | expected / measured |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    worst = 0.0
    for r in split["records"]:
        key = (r["model"], r["batch"], r["context"])
        n = nosplit[key]
        measured = min(r["step_ms"], n["step_ms"])
        kernels = r["kernels_per_step"] if r["step_ms"] <= n["step_ms"] else n["kernels_per_step"]
        out = subprocess.run([KVPLAN, "estimate", "--model", r["model"], "--gpu", "h100-sxm", "--batch", str(r["batch"]),
                              "--context", str(r["context"]), "--format", "json"], check=True, capture_output=True, text=True)
        d = json.loads(out.stdout)["decode"]
        expected, floor = d["step_time_s"] * 1e3, d["step_time_floor_s"] * 1e3
        ratio = expected / measured
        worst = max(worst, abs(ratio - 1))
        print(f"| {r['model']} | {r['batch']} | {r['context']} | **{measured:.3f}** ({r['step_ms']:.3f} / {n['step_ms']:.3f}) "
              f"| {kernels} | {expected:.3f} | {floor:.3f} | {ratio:.3f} |")
    print(f"\nLargest deviation: {100 * worst:.1f}%.")


if __name__ == "__main__":
    main()
