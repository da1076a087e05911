#!/usr/bin/env python3
"""The PyTorch decode step of bench/decode_step_torch.py (one cuDNN SDPA call a layer, --gqa-sdpa) split
into the components `kvplan validate` times: each kind of op of the whole step alone in one CUDA graph
(all layers), a 256 MB memset before each replay so weights and KV come from HBM, CUDA events around
the replay, median of >= 10 replays; then the whole step the same way.
  attention    the layers' SDPA calls (cuDNN, enable_gqa)
  rope_cache   the layers' fused rotary + KV-cache write kernels
  norms        the residual-add + RMSNorm kernels (two a layer and the final one)
  activations  the layers' SiLU(gate) x up kernels
  linears      the layers' QKV, o_proj, gate_up and down GEMMs; lm_head apart
Then the attention's cost inside the step: the whole step less the step without it (its output ready).
Usage: python3 bench/torch_components.py --model llama-3.1-8b --points 1:4096,32:1024 --out DIR
(writes torch_components.json and prints one line a point).
"""
import argparse
import json
import math
import os
import sys

import torch
import torch.nn.functional as F
import triton
from torch.nn.attention import sdpa_kernel

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import decode_step_torch as dst  # noqa: E402
from cold_graph import time_fn_cold  # noqa: E402


def time_graph(fn, flush):
    return time_fn_cold(fn, flush, max_time=0.2, max_samples=60)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="llama-3.1-8b")
    ap.add_argument("--points", default="1:4096,32:1024,16:4096,64:512,1:512")
    ap.add_argument("--out", default=".")
    ap.add_argument("--repo", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    a = ap.parse_args()
    dst.FUSED, dst.GQA_SDPA, dst.SPLIT_KV = True, True, False
    torch.manual_seed(0)
    c = dst.load_config(a.repo, a.model)
    w = dst.Weights(c, c["layers"])
    flush = torch.empty(256 << 20, dtype=torch.uint8, device="cuda")
    D, nq, nkv, h = c["head_dim"], c["heads"], c["kv_heads"], c["hidden"]
    records = []
    for p in a.points.split(","):
        B, N = (int(v) for v in p.split(":"))
        step = dst.Step(c, w, B, N)
        qkv = torch.empty((B, (nq + 2 * nkv) * D), dtype=c["dtype"], device="cuda").normal_()
        x = torch.empty((B, h), dtype=c["dtype"], device="cuda").normal_()
        gu = torch.empty((B, 2 * c["inter"]), dtype=c["dtype"], device="cuda").normal_()
        act = torch.empty((B, c["inter"]), dtype=c["dtype"], device="cuda").normal_()
        o = torch.empty((B, nq * D), dtype=c["dtype"], device="cuda").normal_()

        def attention():
            for kc, vc in step.caches:
                step.attention(step.q.view(B, nkv, nq // nkv, D), kc, vc)

        def rope_cache():
            for kc, vc in step.caches:
                dst.rope_cache_kernel[(B, nq + 2 * nkv)](qkv, step.q, kc, vc, step.pos, step.slot, nq, nkv, step.cache_len,
                                                         math.log(dst.ROPE_THETA), HEAD_DIM=D, HALF=D // 2, num_warps=1)

        def norms():
            for L in w.layers:
                step.norm(x, L["ln1"], True)
                step.norm(x, L["ln2"], True)
            step.norm(x, w.final_norm, True)

        def activations():
            for _ in w.layers:
                dst.silu_mul_kernel[(B, triton.cdiv(c["inter"], 1024))](gu, act, c["inter"], BLOCK=1024, num_warps=4)

        def linears():
            for L in w.layers:
                F.linear(step.normed, L["w_qkv"], L["b_qkv"])
                F.linear(o, L["w_o"])
                F.linear(step.normed, L["w_gu"])
                F.linear(act, L["w_down"])

        def lm_head():
            F.linear(step.normed, w.lm_head)

        rec = dict(model=a.model, batch=B, context=N)
        with sdpa_kernel(dst.backends()):
            for name, fn in [("attention", attention), ("rope_cache", rope_cache), ("norms", norms),
                             ("activations", activations), ("linears", linears), ("lm_head", lm_head), ("step", step)]:
                rec[name] = time_graph(fn, flush) * 1e6
        parts = sum(rec[k] for k in ["attention", "rope_cache", "norms", "activations", "linears", "lm_head"])
        rec["gaps"] = rec["step"] - parts
        # The attention's cost inside the step (as `kvplan validate --in-step`): the whole step less the
        # step whose attention returns a ready output.
        o_ready = o.view(B, nkv, nq // nkv, D)
        step.attention = lambda q, kc, vc: o_ready
        with sdpa_kernel(dst.backends()):
            rec["in_step_attention"] = rec["step"] - time_graph(step, flush) * 1e6
        del step.attention
        records.append(rec)
        print(f"torch {B}:{N} " + " ".join(f"{k} {rec[k]:.1f}" for k in
              ["attention", "rope_cache", "norms", "activations", "linears", "lm_head", "gaps", "step", "in_step_attention"])
              + " us", flush=True)
        del step
        torch.cuda.empty_cache()
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "torch_components.json"), "w") as f:
        json.dump({"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "records": records}, f, indent=1)


if __name__ == "__main__":
    main()
