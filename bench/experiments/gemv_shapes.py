#!/usr/bin/env python3
"""Decode-step linears of real models, as an engine runs them (docs/timing.md, "Decode weights by shape").

For each model the per-layer projections of its decode step (fused QKV, with Qwen2's bias, o_proj,
fused gate_up, down_proj) through torch.nn.functional.linear (cuBLAS / cuBLASLt), every layer on
its own random bf16 weights (never zeros), m = batch rows, written in place (matmul / addmm with
out=, one kernel each); captured in one CUDA graph per projection
kind (all layers of that kind back to back) and one graph of the whole sequence in layer order; a
memset of 2 x L2 before each replay (cold L2), CUDA events around the replay only, median of 15
replays. Reports weight bytes / time and that as a fraction of the datasheet bandwidth given on the
command line, per kind and for the whole sequence, plus the lm_head alone.

Usage (on the GPU machine): python3 bench/experiments/gemv_shapes.py --bandwidth 4.8e12 --out DIR
Writes DIR/gemv_shapes.json.
"""
import argparse
import json
import os
import statistics

import torch
import torch.nn.functional as F

# (name, layers, hidden, [(kind, out n, in k, bias)], vocab): shapes from models/*.yaml.
MODELS = {
    "llama-3.1-8b": (32, [("qkv", 6144, 4096, False), ("o", 4096, 4096, False), ("gate_up", 28672, 4096, False),
                          ("down", 4096, 14336, False)], 128256, 4096),
    "qwen2.5-7b": (28, [("qkv", 4608, 3584, True), ("o", 3584, 3584, False), ("gate_up", 37888, 3584, False),
                        ("down", 3584, 18944, False)], 152064, 3584),
    "qwen2.5-32b": (64, [("qkv", 7168, 5120, True), ("o", 5120, 5120, False), ("gate_up", 55296, 5120, False),
                         ("down", 5120, 27648, False)], 152064, 5120),
    "qwen3-8b": (36, [("qkv", 6144, 4096, False), ("o", 4096, 4096, False), ("gate_up", 24576, 4096, False),
                      ("down", 4096, 12288, False)], 151936, 4096),
    "gemma-2-9b": (42, [("qkv", 8192, 3584, False), ("o", 3584, 4096, False), ("gate_up", 28672, 3584, False),
                        ("down", 3584, 14336, False)], 256000, 3584),
    "mistral-7b-v0.1": (32, [("qkv", 6144, 4096, False), ("o", 4096, 4096, False), ("gate_up", 28672, 4096, False),
                             ("down", 4096, 14336, False)], 32000, 4096),
}
BATCHES = [1, 8, 32]


def time_graph(fn, flush, reps=15):
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(2):
            fn()
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        fn()
    times = []
    for _ in range(reps + 2):
        flush.zero_()
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        g.replay()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b) * 1e-3)
    return statistics.median(times[2:])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bandwidth", type=float, required=True, help="datasheet HBM bytes/s")
    ap.add_argument("--out", default=".")
    args = ap.parse_args()
    torch.manual_seed(0)
    l2 = torch.cuda.get_device_properties(0).L2_cache_size
    flush = torch.empty(2 * l2, dtype=torch.uint8, device="cuda")
    results = []
    for model, (layers, projs, vocab, hidden) in MODELS.items():
        weights = {kind: [torch.randn(n, k, device="cuda", dtype=torch.bfloat16) / k ** 0.5 for _ in range(layers)]
                   for kind, n, k, _ in projs}
        biases = {kind: [torch.randn(n, device="cuda", dtype=torch.bfloat16) for _ in range(layers)]
                  for kind, n, k, bias in projs if bias}
        lm_head = torch.randn(vocab, hidden, device="cuda", dtype=torch.bfloat16) / hidden ** 0.5
        for m in BATCHES:
            xs = {kind: torch.randn(m, k, device="cuda", dtype=torch.bfloat16) for kind, n, k, _ in projs}
            outs = {kind: torch.empty(m, n, device="cuda", dtype=torch.bfloat16) for kind, n, k, _ in projs}
            row = {"model": model, "m": m, "kinds": {}}

            def run(kinds):
                def fn():
                    for layer in range(layers):
                        for kind in kinds:
                            w = weights[kind][layer].t()
                            if kind in biases:  # F.linear with a bias: addmm, cuBLASLt's bias epilogue
                                torch.addmm(biases[kind][layer], xs[kind], w, out=outs[kind])
                            else:
                                torch.matmul(xs[kind], w, out=outs[kind])
                return fn

            for kind, n, k, bias in projs:
                t = time_graph(run([kind]), flush)
                bytes_ = layers * n * k * 2
                row["kinds"][kind] = {"n": n, "k": k, "bias": bias, "kernels": layers, "time_s": t, "bytes": bytes_,
                                      "fraction": bytes_ / t / args.bandwidth}
            allk = [kd for kd, *_ in projs]
            t = time_graph(run(allk), flush)
            total = sum(v["bytes"] for v in row["kinds"].values())
            row["all"] = {"time_s": t, "kernels": layers * len(allk), "bytes": total,
                          "fraction": total / t / args.bandwidth}
            xl = torch.randn(m, hidden, device="cuda", dtype=torch.bfloat16)
            ol = torch.empty(m, vocab, device="cuda", dtype=torch.bfloat16)

            def head():
                torch.matmul(xl, lm_head.t(), out=ol)
            th = time_graph(head, flush)
            row["lm_head"] = {"n": vocab, "k": hidden, "time_s": th, "bytes": vocab * hidden * 2,
                              "fraction": vocab * hidden * 2 / th / args.bandwidth}
            results.append(row)
            print(f"{model:16s} m {m:3d}: " + " ".join(
                f"{kd} {v['fraction']:.3f}" for kd, v in row["kinds"].items()) +
                f" | all {row['all']['fraction']:.3f} ({row['all']['time_s'] * 1e3:.3f} ms, {row['all']['kernels']} kernels)"
                f" | lm_head {row['lm_head']['fraction']:.3f}", flush=True)
        del weights, biases, lm_head
        torch.cuda.empty_cache()
    os.makedirs(args.out, exist_ok=True)
    json.dump({"device": torch.cuda.get_device_name(), "torch": torch.__version__, "bandwidth": args.bandwidth,
               "results": results}, open(os.path.join(args.out, "gemv_shapes.json"), "w"), indent=1)


if __name__ == "__main__":
    main()
