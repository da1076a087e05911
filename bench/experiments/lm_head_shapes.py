#!/usr/bin/env python3
"""The decode step's vocab projection over vocab sizes (docs/timing.md, "Decode weights by shape").

One bf16 torch.matmul of [m, hidden] x [hidden, vocab] (cuBLAS) alone in a CUDA graph, 8 copies of
the weight back to back so each replay streams >= 0.5 GB, cold L2 (memset of 2 x L2) before each
replay, median of 15 replays; weight bytes / time / the datasheet bandwidth given.

Usage (on the GPU machine): python3 bench/experiments/lm_head_shapes.py --bandwidth 4.8e12 --out DIR
"""
import argparse
import json
import os
import statistics
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from cold_graph import capture  # noqa: E402

VOCABS = [32000, 32768, 49152, 65536, 100352, 128256, 131072, 151936, 152064, 200064, 256000]
HIDDENS = [3584, 4096, 5120, 8192]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bandwidth", type=float, required=True)
    ap.add_argument("--out", default=".")
    args = ap.parse_args()
    flush = torch.empty(2 * torch.cuda.get_device_properties(0).L2_cache_size, dtype=torch.uint8, device="cuda")
    rows = []
    for k in HIDDENS:
        for n in VOCABS:
            for m in (1, 8):
                copies = 8
                ws = [torch.randn(n, k, device="cuda", dtype=torch.bfloat16) / k ** 0.5 for _ in range(copies)]
                x = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
                out = torch.empty(m, n, device="cuda", dtype=torch.bfloat16)

                def fn():
                    for w in ws:
                        torch.matmul(x, w.t(), out=out)
                g = capture(fn)
                ts = []
                for _ in range(17):
                    flush.zero_()
                    a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                    a.record()
                    g.replay()
                    b.record()
                    b.synchronize()
                    ts.append(a.elapsed_time(b) * 1e-3)
                t = statistics.median(ts[2:])
                frac = copies * n * k * 2 / t / args.bandwidth
                rows.append(dict(m=m, n=n, k=k, kernels=copies, time_s=t, fraction=frac))
                print(f"k {k:5d} n {n:6d} m {m}: {frac:.3f}", flush=True)
                del ws
    os.makedirs(args.out, exist_ok=True)
    json.dump({"device": torch.cuda.get_device_name(), "torch": torch.__version__, "bandwidth": args.bandwidth,
               "rows": rows}, open(os.path.join(args.out, "lm_head_shapes.json"), "w"), indent=1)


if __name__ == "__main__":
    main()
