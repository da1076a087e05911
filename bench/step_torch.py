#!/usr/bin/env python3
"""Time chunked prefill, MoE decode and sliding-window decode on the GPU: a second, independent
reference for kvplan's prefill time and decode step time (issue 12; docs/timing.md).

Method (for docs/timing.md): the models are written in PyTorch the way inference engines run them,
with random 16-bit weights of the shapes in kvplan's own models/*.yaml (never zeros, distinct per
layer), cuBLAS linears with fused QKV and gate_up matrices, and the elementwise work in fused Triton
kernels (residual add + RMSNorm, RoPE + KV-cache write, per-head Q/K RMSNorm, SiLU/GeLU(gate) x up;
bench/decode_step_torch.py's kernels and split-KV attention are reused).
  - Prefill (llama-3.1-8b and qwen3-32b, the bundled 32B dense model: qwen2.5-32b is not in
    models/; batch 1, prompts 1K..32K) runs eagerly, as engines run prefill, in chunks of
    max_num_batched_tokens = 8192 tokens as vLLM's chunked prefill does: each chunk writes its K/V into the cache and attends to the cached earlier tokens plus causally within
    itself. The first chunk is SDPA with is_causal; a later chunk is either SDPA with a lower-right
    causal mask (torch.nn.attention.bias.causal_lower_right: flash attention), or two cuDNN
    attention calls, the earlier tokens without a mask and the chunk's own tokens causally, merged by
    their log-sum-exps; the faster of the methods that pass a float32 check on the model's head
    shapes is used (recorded). The lm_head runs on the last token only. Timed with CUDA events around
    the whole prompt, median of repeats; one extra profiled run puts CUDA events between the op
    classes (linear, attention, elementwise) and sums each class, so the error can be split by
    component.
  - MoE decode (mixtral-8x7b and qwen3-30b-a3b; batch 1..64, context 1K/4K): the router GEMM and
    softmax run in the step, but the experts each token goes to are fixed before capture, either
    "balanced" (token t to experts (t*k + j) mod E: every expert equally loaded, min(E, B*k) touched)
    or "random" (k distinct experts per token, uniform and independent, seeded: kvplan's assumption,
    E*(1-(1-k/E)^B) touched in expectation); the distinct experts touched per layer are recorded. The
    experts run fused-style, each touched expert's weights read once: the tokens gathered by expert
    and one grouped GEMM (torch._grouped_mm) for gate_up and one for down over all experts, or a
    cuBLAS GEMM per touched expert (always the fallback, and also timed for <= 16 experts; the faster
    is the measurement); the weighted combine is an index_add.
  - Sliding-window decode (mistral-7b-v0.1: every layer slides over 4096 tokens; gemma-2-9b: head_dim
    256, local 4096 / global layers alternating, four RMSNorms per layer, GeGLU; its logit
    soft-capping is left out): a sliding layer's cache is a rolling buffer of min(N, W) tokens.
  - Decode steps are captured in one CUDA graph each and timed over back-to-back replays, median of
    groups; attention with split-KV (flash-decoding) where the work units are few, also without
    split when the split would apply (dense models), and as one cuDNN call a layer with the query
    heads and enable_gqa=True (cuDNN's decode path splits the cache inside its kernel); the fastest
    variant that passed the float32 check is the measurement, as an engine's heuristic picks.
  - Before timing, a 2-layer copy of every model (windows cut to 256 tokens so the rolling buffer
    wraps) is checked against a float32 reference; the relative error is recorded.
Every record carries the kvplan command line that predicts it (`kvplan estimate ... --engine ideal
--format json`; prefill.time_s or decode.step_time_s); tools/timing_table_step.py prints the table.

Usage (on the GPU machine, from the repo root):
  python3 bench/step_torch.py --out DIR [--only prefill,moe,sliding] [--quick]
Writes DIR/step_measured.json after every point (kept if the run is cut short) and prints progress.
On an H200 the full run took 161 s (61 points; gemma-2-9b at batch 32 x 32K is skipped: its KV cache
does not fit), --quick 58 s (bench/results/h200_step.json, .log). Points not started within
--budget-s (420 s) are skipped and listed. Table: tools/timing_table_step.py DIR/step_measured.json.
"""
import argparse
import gc
import json
import math
import os
import statistics
import sys
import time
import traceback

import torch
import torch.nn.functional as F
import triton
import triton.language as tl
from torch.nn.attention import SDPBackend, sdpa_kernel

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import decode_step_torch as ds  # noqa: E402
from decode_step_torch import (EPS, ROPE_THETA, add_rmsnorm_kernel, count_kernels, kv_splits, layer_blocks,  # noqa: E402
                               rand, read_model, rope_cache_kernel, silu_mul_kernel, split_kv_attention, time_graph)

CHUNK = 8192  # vLLM's default max_num_batched_tokens
PREFILL_MODELS = ["llama-3.1-8b", "qwen3-32b"]  # qwen2.5-32b is not bundled; qwen3-32b is the bundled 32B dense model
PROMPTS = [1024, 2048, 4096, 8192, 16384, 32768]
MOE_MODELS = ["mixtral-8x7b", "qwen3-30b-a3b"]
MOE_POINTS = [(b, n) for n in (1024, 4096) for b in (1, 8, 32, 64)]
SLIDING_MODELS = ["mistral-7b-v0.1", "gemma-2-9b"]
SLIDING_POINTS = [(b, n) for n in (2048, 8192, 32768) for b in (1, 8, 32)]
QUICK_PROMPTS = [1024, 16384]
QUICK_MOE_POINTS = [(1, 1024), (32, 4096)]
QUICK_SLIDING_POINTS = [(1, 8192), (8, 32768)]
ROUTINGS = ["balanced", "random"]
LOOP_MAX_EXPERTS = 16  # also time the per-expert GEMM loop when the model has at most this many experts
PREFILL_BACKENDS = [SDPBackend.CUDNN_ATTENTION, SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION]  # never math
CHECK_TOL = 3e-2
LOG_THETA = math.log(ROPE_THETA)

STATE = {"t0": time.time(), "deadline": float("inf"), "result": None, "out": "."}


def log(msg):
    print(f"[{time.time() - STATE['t0']:6.1f} s] {msg}", flush=True)


def save():
    res = STATE["result"]
    res["elapsed_s"] = time.time() - STATE["t0"]
    path = os.path.join(STATE["out"], "step_measured.json")
    with open(path + ".tmp", "w") as f:
        json.dump(res, f, indent=1, default=str)
    os.replace(path + ".tmp", path)


def record_error(where, exc):
    msg = f"{type(exc).__name__}: {exc}"
    log(f"ERROR in {where}: {msg}")
    STATE["result"]["errors"].append({"where": where, "error": msg[:2000], "traceback": traceback.format_exc()[-4000:]})
    save()


def free():
    gc.collect()
    torch.cuda.empty_cache()


def out_of_time():
    return time.time() > STATE["deadline"]


# ---------------------------------------------------------------------------------------------
# Triton kernels beyond decode_step_torch.py's (same conventions: one program per row or head).

@triton.jit
def rmsnorm_kernel(x_ptr, w_ptr, out_ptr, n_cols, eps, BLOCK: tl.constexpr):
    # out = rmsnorm(x) * w, no residual (Gemma-2's post-attention and post-feedforward norms).
    row = tl.program_id(0)
    cols = tl.arange(0, BLOCK)
    mask = cols < n_cols
    h = tl.load(x_ptr + row * n_cols + cols, mask=mask, other=0.0).to(tl.float32)
    var = tl.sum(h * h, axis=0) / n_cols
    w = tl.load(w_ptr + cols, mask=mask, other=0.0).to(tl.float32)
    tl.store(out_ptr + row * n_cols + cols, (h * tl.rsqrt(var + eps) * w).to(out_ptr.dtype.element_ty), mask=mask)


@triton.jit
def qk_norm_kernel(qkv_ptr, w_ptr, n_q, n_kv, eps, HEAD_DIM: tl.constexpr):
    # In place, per head: RMSNorm of each q head (weight row 0) and k head (weight row 1) of a qkv row
    # [q heads | k heads | v heads] x head_dim. Grid (tokens, n_q + n_kv).
    t = tl.program_id(0)
    h = tl.program_id(1)
    i = tl.arange(0, HEAD_DIM)
    ptr = qkv_ptr + (t * (n_q + 2 * n_kv) + h) * HEAD_DIM + i
    x = tl.load(ptr).to(tl.float32)
    var = tl.sum(x * x, axis=0) / HEAD_DIM
    w = tl.load(w_ptr + (h >= n_q).to(tl.int32) * HEAD_DIM + i).to(tl.float32)
    tl.store(ptr, (x * tl.rsqrt(var + eps) * w).to(qkv_ptr.dtype.element_ty))


@triton.jit
def rope_prefill_kernel(qkv_ptr, q_ptr, k_cache_ptr, v_cache_ptr, start, n_tok, n_q, n_kv, cache_len, log_theta,
                        HEAD_DIM: tl.constexpr, HALF: tl.constexpr):
    # Token t of the chunk is at position start + t. Rotate q and k (rotate-half RoPE); q to
    # q_ptr [n_q, n_tok, D] (SDPA's [1, heads, tokens, D]); k and v into the caches
    # [n_kv, cache_len, D] at row start + t. Grid (n_tok, n_q + 2 n_kv).
    t = tl.program_id(0)
    h = tl.program_id(1)
    i = tl.arange(0, HALF)
    src = qkv_ptr + (t * (n_q + 2 * n_kv) + h) * HEAD_DIM
    x1 = tl.load(src + i).to(tl.float32)
    x2 = tl.load(src + HALF + i).to(tl.float32)
    pos = (start + t).to(tl.float32)
    ang = pos * tl.exp(-(2.0 * i.to(tl.float32) / HEAD_DIM) * log_theta)
    c = tl.cos(ang)
    s = tl.sin(ang)
    r1 = x1 * c - x2 * s
    r2 = x2 * c + x1 * s
    if h < n_q:
        dst = q_ptr + (h * n_tok + t) * HEAD_DIM
        tl.store(dst + i, r1.to(q_ptr.dtype.element_ty))
        tl.store(dst + HALF + i, r2.to(q_ptr.dtype.element_ty))
    elif h < n_q + n_kv:
        dst = k_cache_ptr + ((h - n_q) * cache_len + start + t) * HEAD_DIM
        tl.store(dst + i, r1.to(k_cache_ptr.dtype.element_ty))
        tl.store(dst + HALF + i, r2.to(k_cache_ptr.dtype.element_ty))
    else:
        dst = v_cache_ptr + ((h - n_q - n_kv) * cache_len + start + t) * HEAD_DIM
        tl.store(dst + i, x1.to(v_cache_ptr.dtype.element_ty))
        tl.store(dst + HALF + i, x2.to(v_cache_ptr.dtype.element_ty))


@triton.jit
def gelu_tanh_mul_kernel(gu_ptr, out_ptr, inter, BLOCK: tl.constexpr):
    # out = gelu_tanh(gate) * up (Gemma's GeGLU), gu row = [gate | up];
    # gelu_tanh(g) = g * sigmoid(2 sqrt(2/pi) (g + 0.044715 g^3)).
    b = tl.program_id(0)
    cols = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    mask = cols < inter
    g = tl.load(gu_ptr + b * 2 * inter + cols, mask=mask, other=0.0).to(tl.float32)
    u = tl.load(gu_ptr + b * 2 * inter + inter + cols, mask=mask, other=0.0).to(tl.float32)
    z = 1.5957691216057308 * (g + 0.044715 * g * g * g)
    tl.store(out_ptr + b * inter + cols, (g / (1.0 + tl.exp(-z)) * u).to(out_ptr.dtype.element_ty), mask=mask)


def act_mul(c, gu, out):
    rows, inter = out.shape
    kernel = gelu_tanh_mul_kernel if c["act"] == "gelu_tanh" else silu_mul_kernel
    kernel[(rows, triton.cdiv(inter, 1024))](gu, out, inter, BLOCK=1024, num_warps=4)


def add_norm(x, residual, weight, out, has_res):
    add_rmsnorm_kernel[(x.shape[0],)](x, residual, weight, out, x.shape[1], EPS, HAS_RES=has_res,
                                      BLOCK=triton.next_power_of_2(x.shape[1]), num_warps=8)


def plain_norm(x, weight):
    out = torch.empty_like(x)
    rmsnorm_kernel[(x.shape[0],)](x, weight, out, x.shape[1], EPS, BLOCK=triton.next_power_of_2(x.shape[1]), num_warps=8)
    return out


# ---------------------------------------------------------------------------------------------
# Models

def model_config(repo, model_id):
    """Shapes of a decoder-only attention model (dense or MoE MLP, per-layer windows and norm counts)."""
    y = read_model(repo, model_id)
    names = layer_blocks(y)
    blocks = y["blocks"]
    first = blocks[names[0]]
    m0, p0 = first["mixer"], first["mlp"]
    same = ("heads", "kv_heads", "head_dim", "qkv_bias", "qk_norm")
    for n in names:
        mx, mlp = blocks[n]["mixer"], blocks[n]["mlp"]
        if mx["kind"] != "attention" or mlp["kind"] not in ("dense", "moe") or not mlp.get("gated", True):
            raise ValueError(f"{model_id}: block {n} is not attention + gated dense/MoE MLP")
        if any(mx.get(k) != m0.get(k) for k in same) or mlp != p0:
            raise ValueError(f"{model_id}: blocks differ beyond window and norms")
        if mlp.get("shared_experts", 0):
            raise ValueError(f"{model_id}: shared experts are not modelled here")
    h = y["hidden_size"]
    return dict(id=model_id, layers=len(names), hidden=h, vocab=y["vocab_size"], heads=m0["heads"],
                kv_heads=m0["kv_heads"], head_dim=m0.get("head_dim", h // m0["heads"]),
                qkv_bias=bool(m0.get("qkv_bias", False)), qk_norm=bool(m0.get("qk_norm", False)),
                windows=[int(blocks[n]["mixer"].get("sliding_window", 0) or 0) for n in names],
                norms=[int(blocks[n].get("norms", 2)) for n in names],
                moe=p0["kind"] == "moe", inter=p0.get("intermediate_size", 0), experts=p0.get("experts", 0),
                topk=p0.get("experts_per_token", 0), expert_inter=p0.get("expert_intermediate_size", 0),
                act="gelu_tanh" if str(y.get("family", "")).startswith("gemma") else "silu",
                tied=bool(y.get("tie_word_embeddings", False)),
                dtype=torch.float16 if y["dtype"] == "fp16" else torch.bfloat16)


def small_copy(c, window=256):
    """2 layers, a 4096-token vocabulary and windows cut to `window` tokens: for the float32 checks."""
    return dict(c, layers=2, vocab=4096, windows=[min(w, window) if w else 0 for w in c["windows"][:2]],
                norms=c["norms"][:2])


class ModelWeights:
    def __init__(self, c):
        d, h, D = c["dtype"], c["hidden"], c["head_dim"]
        qkv_out = (c["heads"] + 2 * c["kv_heads"]) * D
        norm = lambda n: rand((n,), d, 0.1).add_(1.0)  # noqa: E731
        self.embed = rand((c["vocab"], h), d, 1.0)
        self.lm_head = self.embed if c["tied"] else rand((c["vocab"], h), d, h ** -0.5)
        self.final_norm = norm(h)
        self.layers = []
        for i in range(c["layers"]):
            L = dict(ln1=norm(h), ln2=norm(h), w_qkv=rand((qkv_out, h), d, h ** -0.5),
                     b_qkv=rand((qkv_out,), d, 0.1) if c["qkv_bias"] else None,
                     w_o=rand((h, c["heads"] * D), d, (c["heads"] * D) ** -0.5))
            if c["qk_norm"]:
                L["qk_norm"] = rand((2, D), d, 0.1).add_(1.0)  # row 0: q, row 1: k
            if c["norms"][i] == 4:
                L["ln_post_attn"], L["ln_post_mlp"] = norm(h), norm(h)
            if c["moe"]:
                E, I = c["experts"], c["expert_inter"]
                L["w_router"] = rand((E, h), d, h ** -0.5)
                L["w_gu"] = rand((E, 2 * I, h), d, h ** -0.5)
                L["w_down"] = rand((E, h, I), d, I ** -0.5)
            else:
                L["w_gu"] = rand((2 * c["inter"], h), d, h ** -0.5)
                L["w_down"] = rand((h, c["inter"]), d, c["inter"] ** -0.5)
            self.layers.append(L)


def rms32(t, g):
    return t * torch.rsqrt(t.pow(2).mean(-1, keepdim=True) + EPS) * g.float()


def rope32(t, pos, D):
    """Rotate-half RoPE in float32 of t [..., tokens, heads, D] at positions pos [tokens] (float)."""
    inv = torch.exp(-(2.0 * torch.arange(D // 2, device=t.device).float() / D) * LOG_THETA)
    ang = pos.float()[:, None] * inv[None, :]
    cos, sin = torch.cos(ang)[:, None, :], torch.sin(ang)[:, None, :]
    t1, t2 = t[..., :D // 2], t[..., D // 2:]
    return torch.cat([t1 * cos - t2 * sin, t2 * cos + t1 * sin], -1)


def act32(c, g, u):
    return (F.gelu(g, approximate="tanh") if c["act"] == "gelu_tanh" else F.silu(g)) * u


def rel_err(got, want):
    return ((got.float() - want.float()).norm() / want.float().norm()).item()


def gpu_preset(name):
    n = name.upper()
    if "GH200" in n:
        return "gh200"
    if "H200" in n:
        return "h200"
    if "H100" in n:
        return "h100-nvl" if "NVL" in n else "h100-pcie" if "PCIE" in n else "h100-sxm"
    if "B200" in n:
        return "b200"
    if "A100" in n:
        return "a100-40gb" if "40GB" in n else "a100-80gb-pcie" if "PCIE" in n else "a100-80gb"
    return None


def kvplan_argv(model, batch, context, prompt=None):
    argv = ["kvplan", "estimate", "-m", model, "-g", STATE["result"]["gpu_preset"] or "GPU", "--engine", "ideal",
            "-b", str(batch), "-c", str(context)]
    if prompt is not None:
        argv += ["--prompt", str(prompt), "--max-num-batched-tokens", str(CHUNK)]
    return argv + ["--format", "json"]


# ---------------------------------------------------------------------------------------------
# Prefill

def attn_lse(q, k, v, causal, backend):
    """Attention output [1, H, L, D] and log-sum-exp [1, H, L] (float32) of one call."""
    L = q.shape[2]
    if backend == "cudnn_rep":  # K/V heads repeated to the query heads (if cuDNN's op takes no GQA)
        G = q.shape[1] // k.shape[1]
        k, v, backend = k.repeat_interleave(G, 1), v.repeat_interleave(G, 1), "cudnn"
    if backend == "cudnn":
        out, lse = torch.ops.aten._scaled_dot_product_cudnn_attention(q, k, v, None, True, 0.0, causal, False)[:2]
    else:
        out, lse = torch.ops.aten._scaled_dot_product_flash_attention(q, k, v, 0.0, causal)[:2]
    return out, lse.reshape(lse.shape[0], lse.shape[1], -1)[..., :L].float()


def merge_lse(o1, l1, o2, l2):
    m = torch.maximum(l1, l2)
    w1, w2 = torch.exp(l1 - m), torch.exp(l2 - m)
    s = w1 + w2
    return (o1.float() * (w1 / s).unsqueeze(-1) + o2.float() * (w2 / s).unsqueeze(-1)).to(o1.dtype)


def chunk_attention(method, q, kc, vc, start, n):
    """Attention of a chunk's queries q [1, H, n, D] (positions start..start+n-1) over the cache
    [1, kv_heads, cap, D] rows 0..start+n-1: the cached earlier tokens plus causally within the chunk."""
    if start == 0:
        return F.scaled_dot_product_attention(q, kc[:, :, :n], vc[:, :, :n], is_causal=True, enable_gqa=True)
    if method == "sdpa_lower_right":
        from torch.nn.attention.bias import causal_lower_right
        return F.scaled_dot_product_attention(q, kc[:, :, :start + n], vc[:, :, :start + n],
                                              attn_mask=causal_lower_right(n, start + n), enable_gqa=True)
    backend = {"cudnn_split": "cudnn", "cudnn_split_rep": "cudnn_rep", "flash_split": "flash"}[method]
    o1, l1 = attn_lse(q, kc[:, :, :start], vc[:, :, :start], False, backend)  # earlier tokens, no mask
    o2, l2 = attn_lse(q, kc[:, :, start:start + n], vc[:, :, start:start + n], True, backend)  # the chunk, causal
    return merge_lse(o1, l1, o2, l2)


ATTN_METHODS = ["cudnn_split", "sdpa_lower_right", "flash_split", "cudnn_split_rep"]


def check_attention(method, nq, nkv, D, dtype, prompt=640, chunk=256, cap=768):
    """Chunked attention by `method` vs float32 causal attention over the whole prompt (relative error)."""
    q = rand((1, nq, prompt, D), dtype, 2.0)  # std 2: peaked softmax, so a wrong merge shows
    kc, vc = rand((1, nkv, cap, D), dtype, 1.0), rand((1, nkv, cap, D), dtype, 1.0)
    outs = []
    with sdpa_kernel(PREFILL_BACKENDS):
        for s in range(0, prompt, chunk):
            n = min(chunk, prompt - s)
            outs.append(chunk_attention(method, q[:, :, s:s + n].contiguous(), kc, vc, s, n))
    got = torch.cat(outs, 2)
    G = nq // nkv
    kr = kc[:, :, :prompt].float().repeat_interleave(G, 1)
    vr = vc[:, :, :prompt].float().repeat_interleave(G, 1)
    s = q.float() @ kr.transpose(-1, -2) / math.sqrt(D)
    mask = torch.ones(prompt, prompt, dtype=torch.bool, device="cuda").tril()
    want = torch.softmax(s.masked_fill(~mask, float("-inf")), -1) @ vr
    return rel_err(got, want)


def time_attention(method, nq, nkv, D, dtype, n=CHUNK, start=CHUNK, reps=5):
    q = rand((1, nq, n, D), dtype, 1.0)
    kc, vc = rand((1, nkv, start + n, D), dtype, 1.0), rand((1, nkv, start + n, D), dtype, 1.0)
    with sdpa_kernel(PREFILL_BACKENDS):
        chunk_attention(method, q, kc, vc, start, n)
        torch.cuda.synchronize()
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        for _ in range(reps):
            chunk_attention(method, q, kc, vc, start, n)
        b.record()
        b.synchronize()
    return a.elapsed_time(b) / reps


def choose_attention(c):
    """The fastest chunk-attention method that passes the float32 check on this model's head shapes."""
    info = {}
    for m in ATTN_METHODS:
        try:
            err = check_attention(m, c["heads"], c["kv_heads"], c["head_dim"], c["dtype"])
            ok = math.isfinite(err) and err < 2e-2
            info[m] = dict(check_rel_err=err, ok=ok)
            if ok:
                info[m]["ms_8k_after_8k"] = time_attention(m, c["heads"], c["kv_heads"], c["head_dim"], c["dtype"])
        except Exception as exc:
            info[m] = dict(ok=False, error=f"{type(exc).__name__}: {str(exc)[:300]}")
        free()
    good = [m for m in ATTN_METHODS if info[m].get("ok") and "ms_8k_after_8k" in info[m]]
    if not good:
        raise RuntimeError(f"no chunked attention method passed: {info}")
    best = min(good, key=lambda m: info[m]["ms_8k_after_8k"])
    return best, info


class Marks:
    """CUDA events between op classes; class time = sum of the gaps that follow its marks."""

    def __init__(self):
        self.events = []

    def __call__(self, cls):
        e = torch.cuda.Event(enable_timing=True)
        e.record()
        self.events.append((e, cls))

    def totals(self):
        self.events[-1][0].synchronize()
        out = {}
        for (a, cls), (b, _) in zip(self.events, self.events[1:]):
            if cls is not None:
                out[cls] = out.get(cls, 0.0) + a.elapsed_time(b)
        return out


class Prefill:
    """Chunked prefill of one prompt (batch 1) over a KV cache of `cap` tokens."""

    def __init__(self, c, w, cap, method, chunk=CHUNK):
        if c["moe"] or c["act"] != "silu" or any(n != 2 for n in c["norms"]) or any(c["windows"]):
            raise ValueError(f"{c['id']}: prefill here is for dense full-attention Llama-style models")
        self.c, self.w, self.cap, self.method, self.chunk = c, w, cap, method, chunk
        shape = (1, c["kv_heads"], cap, c["head_dim"])
        self.caches = [(torch.empty(shape, dtype=c["dtype"], device="cuda"),
                        torch.empty(shape, dtype=c["dtype"], device="cuda")) for _ in w.layers]

    def run_chunk(self, tokens, start, last, mark=None):
        c, w = self.c, self.w
        h, D, nq, nkv = c["hidden"], c["head_dim"], c["heads"], c["kv_heads"]
        n = tokens.numel()
        mk = mark if mark is not None else (lambda cls: None)
        mk("elementwise")
        x = F.embedding(tokens, w.embed)
        residual = torch.empty((n, h), dtype=c["dtype"], device="cuda")
        normed = torch.empty((n, h), dtype=c["dtype"], device="cuda")
        q = torch.empty((1, nq, n, D), dtype=c["dtype"], device="cuda")
        act = torch.empty((n, c["inter"]), dtype=c["dtype"], device="cuda")
        for li, L in enumerate(w.layers):
            add_norm(x, residual, L["ln1"], normed, li > 0)
            mk("linear")
            qkv = F.linear(normed, L["w_qkv"], L["b_qkv"])
            mk("elementwise")
            if c["qk_norm"]:
                qk_norm_kernel[(n, nq + nkv)](qkv, L["qk_norm"], nq, nkv, EPS, HEAD_DIM=D, num_warps=1)
            kc, vc = self.caches[li]
            rope_prefill_kernel[(n, nq + 2 * nkv)](qkv, q, kc, vc, start, n, nq, nkv, self.cap, LOG_THETA,
                                                   HEAD_DIM=D, HALF=D // 2, num_warps=1)
            mk("attention")
            o = chunk_attention(self.method, q, kc, vc, start, n)
            mk("linear")
            x = F.linear(o.transpose(1, 2).reshape(n, nq * D), L["w_o"])
            mk("elementwise")
            add_norm(x, residual, L["ln2"], normed, True)
            mk("linear")
            gu = F.linear(normed, L["w_gu"])
            mk("elementwise")
            act_mul(c, gu, act)
            mk("linear")
            x = F.linear(act, L["w_down"])
            mk("elementwise")
        add_norm(x, residual, w.final_norm, normed, True)
        logits = None
        if last:  # logits of the prompt's last token only, as engines compute them
            mk("linear")
            logits = F.linear(normed[-1:], w.lm_head)
        mk(None)
        return logits

    def run(self, tokens, mark=None):
        P = tokens.numel()
        logits = None
        with sdpa_kernel(PREFILL_BACKENDS):
            for s in range(0, P, self.chunk):
                n = min(self.chunk, P - s)
                logits = self.run_chunk(tokens[s:s + n], s, s + n == P, mark)
        return logits


def reference_prefill(c, w, tokens):
    """Float32, whole prompt at once: last token's logits and the last layer's K [P, kv_heads, D]."""
    P = tokens.numel()
    D, nq, nkv = c["head_dim"], c["heads"], c["kv_heads"]
    G = nq // nkv
    pos = torch.arange(P, device="cuda")
    mask = torch.ones(P, P, dtype=torch.bool, device="cuda").tril()
    res, k = None, None
    x = w.embed[tokens].float()
    for L in w.layers:
        res = x if res is None else res + x
        qkv = rms32(res, L["ln1"]) @ L["w_qkv"].float().T
        if L["b_qkv"] is not None:
            qkv = qkv + L["b_qkv"].float()
        qkv = qkv.view(P, nq + 2 * nkv, D)
        q, k, v = qkv[:, :nq], qkv[:, nq:nq + nkv], qkv[:, nq + nkv:]
        if c["qk_norm"]:
            q, k = rms32(q, L["qk_norm"][0]), rms32(k, L["qk_norm"][1])
        q, k = rope32(q, pos, D), rope32(k, pos, D)
        kr, vr = k.repeat_interleave(G, 1), v.repeat_interleave(G, 1)
        s = torch.einsum("qhd,khd->hqk", q, kr) / math.sqrt(D)
        o = torch.einsum("hqk,khd->qhd", torch.softmax(s.masked_fill(~mask, float("-inf")), -1), vr)
        res = res + o.reshape(P, nq * D) @ L["w_o"].float().T
        g, u = (rms32(res, L["ln2"]) @ L["w_gu"].float().T).chunk(2, -1)
        x = act32(c, g, u) @ L["w_down"].float().T
    res = res + x
    return rms32(res[-1:], w.final_norm) @ w.lm_head.float().T, k


def check_prefill(c, method):
    small = small_copy(c)
    w = ModelWeights(small)
    pf = Prefill(small, w, cap=768, method=method, chunk=256)
    tokens = torch.randint(0, small["vocab"], (640,), device="cuda")  # chunks of 256, 256, 128
    got = pf.run(tokens)
    want, k_want = reference_prefill(small, w, tokens)
    k_got = pf.caches[-1][0][0, :, :640].transpose(0, 1)
    return rel_err(got, want), rel_err(k_got, k_want)


def time_prefill(pf, tokens, repeats):
    pf.run(tokens)  # warm-up (Triton compiles, cuBLAS heuristics, allocator)
    torch.cuda.synchronize()
    samples = []
    for _ in range(repeats):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        pf.run(tokens)
        b.record()
        b.synchronize()
        samples.append(a.elapsed_time(b))
    samples.sort()
    marks = Marks()
    marks("elementwise")
    pf.run(tokens, marks)
    classes = marks.totals()
    return statistics.median(samples), samples, classes


def run_prefill(repo, models, prompts):
    res = STATE["result"]
    for model_id in models:
        if out_of_time():
            res["skipped"].append(f"prefill {model_id}: out of time")
            continue
        w = pf = None
        try:
            c = model_config(repo, model_id)
            method, info = choose_attention(c)
            res["checks"][f"prefill/{model_id}/attention"] = dict(chosen=method, methods=info)
            log(f"prefill {model_id}: chunk attention {method} "
                + ", ".join(f"{m} {v.get('ms_8k_after_8k', float('nan')):.2f} ms err {v.get('check_rel_err', float('nan')):.1e}"
                            for m, v in info.items()))
            e_logits, e_k = check_prefill(c, method)
            res["checks"][f"prefill/{model_id}"] = dict(logits_rel_err=e_logits, k_cache_rel_err=e_k)
            ok = max(e_logits, e_k) < CHECK_TOL
            log(f"prefill {model_id}: chunked bf16 vs float32 reference: logits {e_logits:.2e}, K cache {e_k:.2e}"
                + ("" if ok else "  WARNING: above tolerance"))
            free()
            w = ModelWeights(c)
            pf = Prefill(c, w, max(prompts), method)
            save()
        except Exception as exc:
            record_error(f"prefill {model_id} setup", exc)
            w = pf = None
            free()
            continue
        for P in prompts:
            if out_of_time():
                res["skipped"].append(f"prefill {model_id} P={P}: out of time")
                continue
            try:
                t0 = time.time()
                tokens = torch.randint(0, c["vocab"], (P,), device="cuda")
                repeats = 3 if P >= 16384 else 5
                ms, samples, classes = time_prefill(pf, tokens, repeats)
                argv = kvplan_argv(model_id, 1, P, prompt=P)
                rec = dict(kind="prefill", model=model_id, batch=1, prompt=P, context=P, chunk=CHUNK,
                           chunks=math.ceil(P / CHUNK), median_ms=ms, min_ms=samples[0], max_ms=samples[-1],
                           samples_ms=samples, classes_ms=classes, classes_sum_ms=sum(classes.values()),
                           attention_method=method, layers=c["layers"], check=res["checks"].get(f"prefill/{model_id}"),
                           kvplan=argv, kvplan_cmd=" ".join(argv), kvplan_field="prefill.time_s")
                res["records"].append(rec)
                save()
                log(f"  prefill {model_id:14} P={P:6}  {ms:9.2f} ms  [{samples[0]:.2f}, {samples[-1]:.2f}]  "
                    + " ".join(f"{k} {v:.1f}" for k, v in classes.items()) + f"  ({time.time() - t0:.1f} s)")
            except Exception as exc:
                record_error(f"prefill {model_id} P={P}", exc)
                free()
        del w, pf
        free()


# ---------------------------------------------------------------------------------------------
# Decode (MoE and sliding window)

def fixed_routing(batch, E, k, mode, layer, gen):
    """Experts of each token [batch, k] (long, CPU): balanced = round robin, random = uniform distinct."""
    if mode == "balanced":
        return ((torch.arange(batch * k) + layer * k) % E).view(batch, k)
    return torch.stack([torch.randperm(E, generator=gen)[:k] for _ in range(batch)])


class Route:
    def __init__(self, ids, E):
        flat = ids.flatten()
        k = ids.shape[1]
        order = torch.argsort(flat, stable=True)
        counts = torch.bincount(flat, minlength=E)
        self.ids = ids.cuda()
        self.order = order.cuda()  # assignment (t * k + j) of each row of the expert-sorted rows
        self.sorted_tok = (order // k).cuda()  # token of each expert-sorted row
        self.offs = torch.cumsum(counts, 0).to(torch.int32).cuda()  # grouped GEMM group ends
        self.touched = int((counts > 0).sum())
        ends = torch.cumsum(counts, 0).tolist()
        self.segments = [(e, ends[e] - int(counts[e]), ends[e]) for e in range(E) if counts[e] > 0]


class DecodeStep:
    """One decode step (batch B, context N) of a dense or MoE model with per-layer windows."""

    def __init__(self, c, w, batch, context, routing="balanced", seed=0):
        d, h, D = c["dtype"], c["hidden"], c["head_dim"]
        self.c, self.w, self.B = c, w, batch
        self.pos = context - 1  # the new token is the context-th
        self.cache_lens = [min(context, win) if win else context for win in c["windows"]]  # rolling buffers
        self.slots = [self.pos % n for n in self.cache_lens]
        self.mode = "split"
        self.impl = "grouped_mm"
        self.caches = [(rand((batch, c["kv_heads"], n, D), d, 1.0), rand((batch, c["kv_heads"], n, D), d, 1.0))
                       for n in self.cache_lens]
        self.tokens = torch.randint(0, c["vocab"], (batch,), device="cuda")
        self.residual = torch.empty((batch, h), dtype=d, device="cuda")
        self.normed = torch.empty((batch, h), dtype=d, device="cuda")
        self.q = torch.empty((batch, c["heads"], D), dtype=d, device="cuda")
        self.routes = []
        if c["moe"]:
            gen = torch.Generator().manual_seed(seed)
            self.routes = [Route(fixed_routing(batch, c["experts"], c["topk"], routing, li, gen), c["experts"])
                           for li in range(c["layers"])]
            self.act = torch.empty((batch * c["topk"], c["expert_inter"]), dtype=d, device="cuda")
            self.down = torch.empty((batch * c["topk"], h), dtype=d, device="cuda")
        else:
            self.act = torch.empty((batch, c["inter"]), dtype=d, device="cuda")
        self.configure("split", "grouped_mm")

    def configure(self, mode, impl):
        """mode: "split" (split-KV where the work units are few), "nosplit" (one flash call a layer) or
        "gqa" (one cuDNN call a layer with the query heads and enable_gqa: ds.gqa_attention)."""
        self.mode, self.impl = mode, impl
        self.splits = [kv_splits(self.B * self.c["kv_heads"], n) if mode == "split" else 1 for n in self.cache_lens]

    def backends(self):
        return ds.GQA_BACKENDS if self.mode == "gqa" else ds.DECODE_BACKENDS

    def norm(self, x, weight, has_res):
        add_norm(x, self.residual, weight, self.normed, has_res)

    def moe(self, li, L):
        c, B, r = self.c, self.B, self.routes[li]
        k, I = c["topk"], c["expert_inter"]
        logits = F.linear(self.normed, L["w_router"])  # the router GEMM runs; its choice is fixed (r.ids)
        probs = torch.softmax(logits, dim=-1, dtype=torch.float32)
        wts = probs.gather(1, r.ids)
        wts = wts / wts.sum(-1, keepdim=True)
        ws = wts.flatten()[r.order].to(self.normed.dtype)  # weight of each expert-sorted row
        xs = self.normed[r.sorted_tok]  # tokens gathered by expert
        if self.impl == "grouped_mm":
            gu = torch._grouped_mm(xs, L["w_gu"].transpose(1, 2), offs=r.offs)
            act_mul(c, gu, self.act)
            down = torch._grouped_mm(self.act, L["w_down"].transpose(1, 2), offs=r.offs)
        else:  # one cuBLAS GEMM per touched expert and matrix
            down = self.down
            for e, s, t in r.segments:
                gu = F.linear(xs[s:t], L["w_gu"][e])
                act_mul(c, gu, self.act[s:t])
                torch.mm(self.act[s:t], L["w_down"][e].t(), out=down[s:t])
        out = torch.zeros((B, c["hidden"]), dtype=self.normed.dtype, device="cuda")
        return out.index_add_(0, r.sorted_tok, down * ws.unsqueeze(1))

    def __call__(self):
        c, w, B = self.c, self.w, self.B
        D, nq, nkv = c["head_dim"], c["heads"], c["kv_heads"]
        x = F.embedding(self.tokens, w.embed)
        for li, L in enumerate(w.layers):
            self.norm(x, L["ln1"], li > 0)
            qkv = F.linear(self.normed, L["w_qkv"], L["b_qkv"])
            if c["qk_norm"]:
                qk_norm_kernel[(B, nq + nkv)](qkv, L["qk_norm"], nq, nkv, EPS, HEAD_DIM=D, num_warps=1)
            kc, vc = self.caches[li]
            rope_cache_kernel[(B, nq + 2 * nkv)](qkv, self.q, kc, vc, self.pos, self.slots[li], nq, nkv,
                                                 self.cache_lens[li], LOG_THETA, HEAD_DIM=D, HALF=D // 2, num_warps=1)
            qg = self.q.view(B, nkv, nq // nkv, D)
            o = ds.gqa_attention(qg, kc, vc) if self.mode == "gqa" else split_kv_attention(qg, kc, vc, self.splits[li])
            x = F.linear(o.reshape(B, nq * D), L["w_o"])
            if c["norms"][li] == 4:
                x = plain_norm(x, L["ln_post_attn"])
            self.norm(x, L["ln2"], True)
            if c["moe"]:
                x = self.moe(li, L)
            else:
                gu = F.linear(self.normed, L["w_gu"])
                act_mul(c, gu, self.act)
                x = F.linear(self.act, L["w_down"])
            if c["norms"][li] == 4:
                x = plain_norm(x, L["ln_post_mlp"])
        self.norm(x, w.final_norm, True)
        return F.linear(self.normed, w.lm_head)


def reference_decode(step, saved):
    """The same step in float32 with plain torch ops, on copies of the caches taken before the step."""
    c, w, B = step.c, step.w, step.B
    D, nq, nkv = c["head_dim"], c["heads"], c["kv_heads"]
    G = nq // nkv
    pos = torch.full((1,), step.pos, device="cuda")
    res = None
    x = w.embed[step.tokens].float()
    for li, L in enumerate(w.layers):
        res = x if res is None else res + x
        qkv = rms32(res, L["ln1"]) @ L["w_qkv"].float().T
        if L["b_qkv"] is not None:
            qkv = qkv + L["b_qkv"].float()
        qkv = qkv.view(B, nq + 2 * nkv, D)
        q, k, v = qkv[:, :nq], qkv[:, nq:nq + nkv], qkv[:, nq + nkv:]
        if c["qk_norm"]:
            q, k = rms32(q, L["qk_norm"][0]), rms32(k, L["qk_norm"][1])
        q, k = rope32(q, pos, D), rope32(k, pos, D)  # [B, heads, D]: B plays the token axis, one position
        kc, vc = (t.float() for t in saved[li])
        kc[:, :, step.slots[li]], vc[:, :, step.slots[li]] = k, v
        s = q.reshape(B, nkv, G, D) @ kc.transpose(-1, -2) / math.sqrt(D)
        o = torch.softmax(s, -1) @ vc  # [B, nkv, G, D]
        a = o.reshape(B, nq * D) @ L["w_o"].float().T
        if c["norms"][li] == 4:
            a = rms32(a, L["ln_post_attn"])
        res = res + a
        hn = rms32(res, L["ln2"])
        if c["moe"]:
            r = step.routes[li]
            probs = torch.softmax(hn @ L["w_router"].float().T, -1)
            wts = probs.gather(1, r.ids)
            wts = wts / wts.sum(-1, keepdim=True)
            m = torch.zeros_like(hn)
            ids = r.ids.tolist()
            for t in range(B):
                for j, e in enumerate(ids[t]):
                    g, u = (hn[t] @ L["w_gu"][e].float().T).chunk(2, -1)
                    m[t] += wts[t, j] * (act32(c, g, u) @ L["w_down"][e].float().T)
        else:
            g, u = (hn @ L["w_gu"].float().T).chunk(2, -1)
            m = act32(c, g, u) @ L["w_down"].float().T
        if c["norms"][li] == 4:
            m = rms32(m, L["ln_post_mlp"])
        x = m
    res = res + x
    return rms32(res, w.final_norm) @ w.lm_head.float().T


def check_decode(c, impls, routing):
    """Relative error of the bf16 step (each impl; NaN where it raised) vs float32 on a 2-layer copy:
    batch 4, context 1024, windows cut to 256 (the rolling buffer wraps; split-KV runs on full layers)."""
    small = small_copy(c)
    w = ModelWeights(small)
    step = DecodeStep(small, w, 4, 1024, routing=routing, seed=1)
    saved = [(k.clone(), v.clone()) for k, v in step.caches]
    want = reference_decode(step, saved)
    errs = {}
    for mode, impl in [("split", i) for i in impls] + [("gqa", i) for i in impls]:
        key = impl if mode == "split" else f"{impl}/gqa"
        try:
            for (k, v), (k0, v0) in zip(step.caches, saved):
                k.copy_(k0)
                v.copy_(v0)
            step.configure(mode, impl)
            with sdpa_kernel(step.backends()):
                errs[key] = rel_err(step(), want)
        except Exception as exc:
            record_error(f"check {c['id']} {key}", exc)
            errs[key] = float("nan")
    return errs


def passing(errs):
    """The impls (keys without a mode) whose split-KV step passed the float32 check."""
    return [k for k, e in errs.items() if "/" not in k and math.isfinite(e) and e < CHECK_TOL]


def gqa_passing(errs, impl):
    e = errs.get(f"{impl}/gqa", float("nan"))
    return math.isfinite(e) and e < CHECK_TOL


def kv_bytes(c, batch, context):
    per = c["kv_heads"] * c["head_dim"] * 2 * torch.tensor([], dtype=c["dtype"]).element_size()
    return sum(batch * (min(context, w) if w else context) * per for w in c["windows"])


def time_decode_point(step, variants, kind_label):
    """Median ms of each (mode, impl) variant in a CUDA graph; returns (per-variant dict, best key)."""
    times = {}
    for mode, impl in variants:
        key = f"{impl}/{mode}"
        try:
            step.configure(mode, impl)
            with sdpa_kernel(step.backends()):
                ms, lo, hi = time_graph(step, replays=5, repeats=8, warmup=2)
            times[key] = dict(median_ms=ms, min_ms=lo, max_ms=hi, kv_splits=sorted(set(step.splits)))
        except Exception as exc:
            record_error(f"{kind_label} {key}", exc)
            free()
    if not times:
        raise RuntimeError("no variant ran")
    best = min(times, key=lambda k: times[k]["median_ms"])
    return times, best


def run_decode(repo, kind, models, points, kernel_count):
    res = STATE["result"]
    for model_id in models:
        if out_of_time():
            res["skipped"].append(f"{kind} {model_id}: out of time")
            continue
        w = None
        try:
            c = model_config(repo, model_id)
            if kind == "moe_decode" and not c["moe"]:
                raise ValueError(f"{model_id} is not MoE")
            if not c["moe"]:
                impls = ["dense"]
            else:  # the grouped GEMM where torch has it; the per-expert loop for few experts or as the fallback
                impls = (["grouped_mm"] if hasattr(torch, "_grouped_mm") else []) + \
                        (["loop"] if c["experts"] <= LOOP_MAX_EXPERTS or not hasattr(torch, "_grouped_mm") else [])
            errs = check_decode(c, impls, "random")
            if c["moe"] and not passing(errs) and "loop" not in impls:
                errs.update(check_decode(c, ["loop"], "random"))
                impls.append("loop")
            impls = passing(errs) or impls  # time what passed; if nothing did, time anyway (the warning stands)
            res["checks"][f"{kind}/{model_id}"] = errs
            log(f"{kind} {model_id}: bf16 step vs float32 reference: "
                + ", ".join(f"{k} {v:.2e}" for k, v in errs.items())
                + ("" if all(math.isfinite(e) and e < CHECK_TOL for e in errs.values())
                   else "  WARNING: above tolerance or failed")
                + f"; timing {impls}")
            free()
            w = ModelWeights(c)
            save()
        except Exception as exc:
            record_error(f"{kind} {model_id} setup", exc)
            w = None
            free()
            continue
        routings = ROUTINGS if c["moe"] else [None]
        for batch, context in points:
            for routing in routings:
                label = f"{kind} {model_id} B={batch} N={context}" + (f" {routing}" if routing else "")
                if out_of_time():
                    res["skipped"].append(f"{label}: out of time")
                    continue
                need = kv_bytes(c, batch, context)
                free_b = torch.cuda.mem_get_info()[0]
                if need > free_b - 6e9:
                    res["skipped"].append(f"{label}: KV cache {need / 1e9:.1f} GB does not fit ({free_b / 1e9:.1f} GB free)")
                    log(f"  skip {label}: KV {need / 1e9:.1f} GB, free {free_b / 1e9:.1f} GB")
                    continue
                step = None
                try:
                    t0 = time.time()
                    step = DecodeStep(c, w, batch, context, routing=routing or "balanced", seed=batch * 7 + context)
                    splits_apply = any(kv_splits(batch * c["kv_heads"], n) > 1 for n in step.cache_lens)
                    modes = ["split"] + (["nosplit"] if splits_apply and not c["moe"] else [])
                    variants = [(m, impl) for impl in impls for m in modes] + \
                               [("gqa", impl) for impl in impls if gqa_passing(errs, impl)]
                    try:
                        times, best = time_decode_point(step, variants, label)
                    except RuntimeError:
                        if not c["moe"] or "loop" in impls:
                            raise
                        times, best = time_decode_point(step, [("split", "loop")], label)  # e.g. grouped GEMM not capturable
                    impl_b, mode_b = best.split("/")
                    step.configure(mode_b, impl_b)
                    kernels = None
                    if kernel_count:
                        with sdpa_kernel(step.backends()):
                            kernels = count_kernels(step)
                    argv = kvplan_argv(model_id, batch, context)
                    rec = dict(kind=kind, model=model_id, batch=batch, context=context,
                               median_ms=times[best]["median_ms"], min_ms=times[best]["min_ms"],
                               max_ms=times[best]["max_ms"], best=best, variants=times, kernels_per_step=kernels,
                               layers=c["layers"], cache_lens=sorted(set(step.cache_lens)),
                               windows=sorted(set(c["windows"])), check=res["checks"].get(f"{kind}/{model_id}"),
                               kvplan=argv, kvplan_cmd=" ".join(argv), kvplan_field="decode.step_time_s")
                    if c["moe"]:
                        E, k = c["experts"], c["topk"]
                        touched = [r.touched for r in step.routes]
                        rec.update(routing=routing, experts=E, topk=k, experts_touched_per_layer=touched,
                                   experts_touched_mean=sum(touched) / len(touched),
                                   experts_touched_uniform_expectation=E * (1 - (1 - k / E) ** batch))
                    res["records"].append(rec)
                    save()
                    extra = f"  touched {rec['experts_touched_mean']:.2f}" if c["moe"] else ""
                    log(f"  {label:44} {times[best]['median_ms']:8.3f} ms  best {best}  "
                        + " ".join(f"{k}={v['median_ms']:.3f}" for k, v in times.items())
                        + f"  kernels {kernels}{extra}  ({time.time() - t0:.1f} s)")
                except Exception as exc:
                    record_error(label, exc)
                del step
                free()
        del w
        free()


# ---------------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=".", help="directory for step_measured.json")
    ap.add_argument("--repo", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap.add_argument("--only", default="prefill,moe,sliding", help="comma-separated sections: prefill, moe, sliding")
    ap.add_argument("--quick", action="store_true", help="fewest points: every model, two points each")
    ap.add_argument("--prefill-models", default=",".join(PREFILL_MODELS))
    ap.add_argument("--moe-models", default=",".join(MOE_MODELS))
    ap.add_argument("--sliding-models", default=",".join(SLIDING_MODELS))
    ap.add_argument("--budget-s", type=float, default=420.0,
                    help="points not started within this many seconds of the start are skipped (recorded)")
    ap.add_argument("--no-kernel-count", action="store_true", help="skip the profiler's kernel count per decode point")
    args = ap.parse_args()
    sections = [s.strip() for s in args.only.split(",") if s.strip()]
    bad = [s for s in sections if s not in ("prefill", "moe", "sliding")]
    if bad:
        ap.error(f"unknown section(s) {bad}; use prefill, moe, sliding")
    os.makedirs(args.out, exist_ok=True)
    STATE["out"] = args.out
    STATE["deadline"] = STATE["t0"] + args.budget_s
    torch.manual_seed(0)
    props = torch.cuda.get_device_properties(0)
    STATE["result"] = dict(device=props.name, gpu_preset=gpu_preset(props.name), torch=torch.__version__,
                           triton=triton.__version__, sms=props.multi_processor_count,
                           cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version(),
                           argv=sys.argv, quick=args.quick, sections=sections, chunk=CHUNK,
                           grouped_mm=hasattr(torch, "_grouped_mm"), checks={}, records=[], errors=[], skipped=[])
    log(f"device {props.name} ({STATE['result']['gpu_preset']}), torch {torch.__version__}, triton {triton.__version__}, "
        f"sections {sections}{' (quick)' if args.quick else ''}")
    save()
    models = lambda s: [m for m in s.split(",") if m]  # noqa: E731
    if "prefill" in sections:
        try:
            run_prefill(args.repo, models(args.prefill_models), QUICK_PROMPTS if args.quick else PROMPTS)
        except Exception as exc:
            record_error("prefill", exc)
        free()
    if "moe" in sections:
        try:
            run_decode(args.repo, "moe_decode", models(args.moe_models), QUICK_MOE_POINTS if args.quick else MOE_POINTS,
                       not args.no_kernel_count)
        except Exception as exc:
            record_error("moe", exc)
        free()
    if "sliding" in sections:
        try:
            run_decode(args.repo, "sliding_decode", models(args.sliding_models),
                       QUICK_SLIDING_POINTS if args.quick else SLIDING_POINTS, not args.no_kernel_count)
        except Exception as exc:
            record_error("sliding", exc)
        free()
    save()
    res = STATE["result"]
    print("\nkind            model            batch  ctx/prompt  measured_ms  best", flush=True)
    for r in res["records"]:
        print(f"{r['kind']:15} {r['model']:16} {r['batch']:5} {r.get('prompt', r['context']):11} {r['median_ms']:12.3f}  "
              f"{r.get('best', r.get('attention_method', ''))}{' ' + r['routing'] if r.get('routing') else ''}")
    print(f"\n{len(res['records'])} records, {len(res['errors'])} errors, {len(res['skipped'])} skipped, "
          f"{time.time() - STATE['t0']:.0f} s; wrote {os.path.join(args.out, 'step_measured.json')}", flush=True)
    for s in res["skipped"]:
        print("  skipped:", s)
    for e in res["errors"]:
        print("  error:", e["where"], e["error"][:200])


if __name__ == "__main__":
    main()
