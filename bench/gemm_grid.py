#!/usr/bin/env python3
"""Measure bf16 GEMM efficiency over a grid of shapes (docs/timing.md, "GEMM efficiency by shape").

C[m, n] = A[m, k] x W[n, k]^T as an engine's linear runs it (torch.nn.functional.linear: cuBLAS),
for every m in M_GRID (tokens: decode batches to prefill chunks) and (n, k) in NK_GRID (the
output and input widths of the models' projections). Each shape: distinct random operands (never
zeros), 3 warm-up calls, then CUDA events around 20 back-to-back calls, median of 5 such groups;
efficiency = 2 m n k / time / the 16-bit dense peak given on the command line (the GPU preset's
peak_flops.bf16). Weights larger than L2 are read from HBM every call, as in a model's forward pass.

Usage (on the GPU machine): python3 bench/gemm_grid.py --peak 989.4e12 --out DIR
Writes DIR/gemm_grid.json ({device, torch, peak, points: [{m, n, k, ms, tflops, efficiency}]}) and
prints a `gemm_efficiency:` block for a GPU preset.
"""
import argparse
import json
import os
import statistics

import torch
import torch.nn.functional as F

M_GRID = [1, 16, 64, 256, 1024, 4096, 8192]
NK_GRID = [1024, 4096, 16384, 32768]


def time_linear(m, n, k, groups=5, calls=20):
    a = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
    w = torch.randn(n, k, device="cuda", dtype=torch.bfloat16) / k ** 0.5
    out = torch.empty(m, n, device="cuda", dtype=torch.bfloat16)
    for _ in range(3):
        torch.matmul(a, w.t(), out=out)
    torch.cuda.synchronize()
    samples = []
    for _ in range(groups):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        for _ in range(calls):
            torch.matmul(a, w.t(), out=out)
        e.record()
        e.synchronize()
        samples.append(s.elapsed_time(e) / calls)
    return statistics.median(samples)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--peak", type=float, required=True, help="16-bit dense peak FLOP/s of the GPU preset")
    ap.add_argument("--out", default=".")
    args = ap.parse_args()
    points = []
    for m in M_GRID:
        for n in NK_GRID:
            for k in NK_GRID:
                ms = time_linear(m, n, k)
                tflops = 2.0 * m * n * k / (ms * 1e-3) / 1e12
                points.append(dict(m=m, n=n, k=k, ms=ms, tflops=tflops, efficiency=tflops * 1e12 / args.peak))
                print(f"m {m:5d} n {n:5d} k {k:5d}: {ms:8.4f} ms {tflops:7.1f} TFLOP/s {points[-1]['efficiency']:.3f}",
                      flush=True)
    res = dict(device=torch.cuda.get_device_name(), torch=torch.__version__, peak=args.peak, points=points)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "gemm_grid.json"), "w") as f:
        json.dump(res, f, indent=1)
    print("gemm_efficiency:  # bench/gemm_grid.py, " + res["device"] + ", torch " + res["torch"])
    for p in points:
        print(f"  - {{m: {p['m']}, n: {p['n']}, k: {p['k']}, efficiency: {p['efficiency']:.3f}}}")


if __name__ == "__main__":
    main()
