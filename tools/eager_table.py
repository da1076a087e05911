#!/usr/bin/env python3
"""Eager (no CUDA graph) decode steps: measured on the GPU against kvplan's --enforce-eager rule.

Usage: tools/eager_table.py [KVPLAN] > table.md
Reads bench/results/h200_decode_eager.json (bench/decode_step_torch.py --eager: each step timed
replayed from one CUDA graph and launched eagerly from Python). Prints two markdown tables:
- the rule on the bench's own steps: max(graph step, the bench's kernels x the engine profile's
  eager_launch_s), against the eager time measured;
- kvplan's prediction (`kvplan estimate --gpu h200 --enforce-eager`, its own kernel count for an
  engine's step) beside the measured graph and eager times.
"""
import glob
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KVPLAN = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "kvplan")


def estimate(r, eager):
    args = [KVPLAN, "estimate", "--model", r["model"], "--gpu", "h200", "--engine", "vllm", "--batch", str(r["batch"]),
            "--context", str(r["context"]), "--format", "json"] + (["--enforce-eager"] if eager else [])
    out = subprocess.run(args, check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def default_vllm_profile():
    import yaml
    for path in sorted(glob.glob(os.path.join(ROOT, "presets", "engines", "*.yaml"))):
        with open(path) as f:
            p = yaml.safe_load(f)
        if p["engine"] == "vllm" and p.get("default"):
            return p
    raise SystemExit("no default vllm profile")


def main():
    with open(os.path.join(ROOT, "bench", "results", "h200_decode_eager.json")) as f:
        run = json.load(f)
    records = run["records"]
    launch = default_vllm_profile()["eager_launch_s"]
    print(f"Device: {run['device']}, torch {run['torch']}, triton {run['triton']}; "
          f"the engine profile's eager_launch_s = {launch * 1e6:.1f} us.\n")
    print("| model | batch | context | graph ms | eager ms | bench kernels | rule ms | rule / eager | "
          "kvplan kernels | kvplan graph ms | kvplan eager ms |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    errors = []
    for r in records:
        rule = max(r["step_ms"], r["kernels_per_step"] * launch * 1e3)
        errors.append(abs(rule / r["eager_step_ms"] - 1))
        graph, eager = estimate(r, False)["decode"], estimate(r, True)["decode"]
        print(f"| {r['model']} | {r['batch']} | {r['context']} | {r['step_ms']:.3f} | {r['eager_step_ms']:.3f} "
              f"| {r['kernels_per_step']} | {rule:.3f} | {rule / r['eager_step_ms']:.3f} | {eager['kernels_per_step']} "
              f"| {graph['step_time_s'] * 1e3:.3f} | {eager['step_time_s'] * 1e3:.3f} |")
    print(f"\nThe rule on the bench's steps: mean |rule / eager - 1| {100 * statistics.mean(errors):.1f}%, "
          f"median {100 * statistics.median(errors):.1f}%, largest {100 * max(errors):.1f}%.")


if __name__ == "__main__":
    main()
