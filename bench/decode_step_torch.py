#!/usr/bin/env python3
"""Time a real decode step on the GPU, to check kvplan's expected decode step time (docs/timing.md).

One decode step of a dense Llama-style model (RMSNorm, attention with RoPE and a KV cache, gated MLP),
written the way inference engines run it:
  - random weights of the model's shapes in its dtype (bf16/fp16), distinct tensors per layer,
    scaled 1/sqrt(fan_in) so activations stay finite; never zeros;
  - linears through cuBLAS (torch.nn.functional.linear; q/k/v fused into one matrix and gate/up into
    another, as vLLM does);
  - attention through torch's scaled_dot_product_attention over the KV cache (flash/cuDNN/efficient;
    the math backend is excluded); GQA run as q = [B, kv_heads, group, head_dim] against the cache
    [B, kv_heads, N, head_dim], which reads each KV head once, as decode kernels do; or, with
    --gqa-sdpa, one cuDNN call with the query heads and enable_gqa=True (cuDNN's decode path, which
    splits the cache inside its kernel);
  - the elementwise work in three fused Triton kernels, as engines have custom kernels for it:
    residual add + RMSNorm, RoPE + KV-cache write, SiLU(gate) x up;
  - the whole step (embedding gather .. lm_head) captured in one CUDA graph; timed with CUDA events
    over back-to-back replays, median of several repeats.
Before timing, a 2-layer copy of each model checks the fused step against a float32 reference.
It also measures three physical constants the efficiency model stands for: device-to-device copy
bandwidth, the per-kernel cost of tiny dependent kernels inside a graph, and a large GEMV's bandwidth.

Usage (on the GPU machine, from the repo root):  python3 bench/decode_step_torch.py --out $OUT
Writes decode_measured.json (one record per model x point) and prints a table.
"""
import argparse
import json
import math
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F
import triton
import triton.language as tl
import yaml
from torch.nn.attention import SDPBackend, sdpa_kernel

# Models and (batch, context) points. Every point fits an 80 GB H100 at 16-bit weights and KV.
MODELS = ["llama-3.1-8b", "llama-2-7b", "qwen2.5-7b", "mistral-7b-v0.1"]
POINTS = [(1, 512), (1, 4096), (8, 2048), (16, 4096), (32, 1024), (64, 512)]
LONG_POINTS = [(1, 32768), (32, 8192)]  # GQA models with long context only
ROPE_THETA = 10000.0  # the step's cost does not depend on it
EPS = 1e-5
SPLIT_KV = True  # flash-decoding for few work units; False = one SDPA call (no split)
GQA_SDPA = False  # one cuDNN SDPA call per layer with the query heads and enable_gqa=True
FUSED = True  # the Triton kernels; False = the same math in plain torch ops (more kernels per layer)
DECODE_BACKENDS = [SDPBackend.FLASH_ATTENTION, SDPBackend.CUDNN_ATTENTION, SDPBackend.EFFICIENT_ATTENTION]  # never math


@triton.jit
def add_rmsnorm_kernel(x_ptr, res_ptr, w_ptr, out_ptr, n_cols, eps, HAS_RES: tl.constexpr, BLOCK: tl.constexpr):
    # res = x + res (or x on the first layer); out = rmsnorm(res) * w. One program per row.
    row = tl.program_id(0)
    cols = tl.arange(0, BLOCK)
    mask = cols < n_cols
    h = tl.load(x_ptr + row * n_cols + cols, mask=mask, other=0.0).to(tl.float32)
    if HAS_RES:
        h += tl.load(res_ptr + row * n_cols + cols, mask=mask, other=0.0).to(tl.float32)
    tl.store(res_ptr + row * n_cols + cols, h.to(res_ptr.dtype.element_ty), mask=mask)
    var = tl.sum(h * h, axis=0) / n_cols
    w = tl.load(w_ptr + cols, mask=mask, other=0.0).to(tl.float32)
    y = h * tl.rsqrt(var + eps) * w
    tl.store(out_ptr + row * n_cols + cols, y.to(out_ptr.dtype.element_ty), mask=mask)


@triton.jit
def rope_cache_kernel(qkv_ptr, q_ptr, k_cache_ptr, v_cache_ptr, pos, slot, n_q, n_kv, cache_len, log_theta,
                      HEAD_DIM: tl.constexpr, HALF: tl.constexpr):
    # qkv row = [q heads | k heads | v heads] x head_dim. Rotate q and k (rotate-half RoPE), write q
    # to q_ptr [B, n_q, D], k and v into the caches [B, n_kv, cache_len, D] at `slot`.
    b = tl.program_id(0)
    h = tl.program_id(1)
    i = tl.arange(0, HALF)
    src = qkv_ptr + (b * (n_q + 2 * n_kv) + h) * HEAD_DIM
    x1 = tl.load(src + i).to(tl.float32)
    x2 = tl.load(src + HALF + i).to(tl.float32)
    ang = pos * tl.exp(-(2.0 * i.to(tl.float32) / HEAD_DIM) * log_theta)
    c = tl.cos(ang)
    s = tl.sin(ang)
    r1 = x1 * c - x2 * s
    r2 = x2 * c + x1 * s
    if h < n_q:
        dst = q_ptr + (b * n_q + h) * HEAD_DIM
        tl.store(dst + i, r1.to(q_ptr.dtype.element_ty))
        tl.store(dst + HALF + i, r2.to(q_ptr.dtype.element_ty))
    elif h < n_q + n_kv:
        dst = k_cache_ptr + ((b * n_kv + (h - n_q)) * cache_len + slot) * HEAD_DIM
        tl.store(dst + i, r1.to(k_cache_ptr.dtype.element_ty))
        tl.store(dst + HALF + i, r2.to(k_cache_ptr.dtype.element_ty))
    else:
        dst = v_cache_ptr + ((b * n_kv + (h - n_q - n_kv)) * cache_len + slot) * HEAD_DIM
        tl.store(dst + i, x1.to(v_cache_ptr.dtype.element_ty))
        tl.store(dst + HALF + i, x2.to(v_cache_ptr.dtype.element_ty))


@triton.jit
def silu_mul_kernel(gu_ptr, out_ptr, inter, BLOCK: tl.constexpr):
    # out = silu(gate) * up, with gu row = [gate | up].
    b = tl.program_id(0)
    cols = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    mask = cols < inter
    g = tl.load(gu_ptr + b * 2 * inter + cols, mask=mask, other=0.0).to(tl.float32)
    u = tl.load(gu_ptr + b * 2 * inter + inter + cols, mask=mask, other=0.0).to(tl.float32)
    tl.store(out_ptr + b * inter + cols, (g / (1.0 + tl.exp(-g)) * u).to(out_ptr.dtype.element_ty), mask=mask)


def read_model(repo, model_id):
    """kvplan's own model YAML (models/ID.yaml) as a dict: the one source of truth for the shapes."""
    with open(os.path.join(repo, "models", model_id + ".yaml")) as f:
        return yaml.safe_load(f)


def layer_blocks(y):
    """The block name of every layer, in order (the YAML's `layers` patterns expanded)."""
    return [name for entry in y["layers"] for _ in range(entry["repeat"]) for name in entry["pattern"]]


def load_config(repo, model_id):
    """The dense single-block models' shapes, from kvplan's own model YAML (one source of truth)."""
    y = read_model(repo, model_id)
    (block,) = y["blocks"].values()
    mixer, mlp = block["mixer"], block["mlp"]
    assert mixer["kind"] == "attention" and mlp["kind"] == "dense" and mlp.get("gated", True)
    layers = len(layer_blocks(y))
    return dict(id=model_id, layers=layers, hidden=y["hidden_size"], vocab=y["vocab_size"],
                heads=mixer["heads"], kv_heads=mixer["kv_heads"], head_dim=mixer.get("head_dim", y["hidden_size"] // mixer["heads"]),
                qkv_bias=mixer.get("qkv_bias", False), window=mixer.get("sliding_window", 0),
                inter=mlp["intermediate_size"], tied=y.get("tie_word_embeddings", False),
                dtype=torch.float16 if y["dtype"] == "fp16" else torch.bfloat16)


def rand(shape, dtype, std):
    return torch.empty(shape, dtype=dtype, device="cuda").normal_(0.0, std)


def kv_splits(units, cache_len):
    """Split-KV chunks of a decode attention over `cache_len` tokens with `units` = batch x kv_heads
    work units: powers of two while units x S stays within 2 waves of SMs and chunks keep at least
    256 tokens (1 = no split; always 1 when SPLIT_KV is off)."""
    splits = 1
    target = 2 * torch.cuda.get_device_properties(0).multi_processor_count
    while SPLIT_KV and units * splits * 2 <= target and cache_len % (2 * splits) == 0 \
            and cache_len // (2 * splits) >= 256:
        splits *= 2
    return splits


def split_kv_attention(q, kc, vc, S):
    """Decode attention of q [B, kv_heads, group, D] over the cache [B, kv_heads, C, D] in S chunks.

    With few (batch x kv_head) work units the cache is split into S chunks along the tokens,
    each chunk attended by flash attention with its log-sum-exp, and the chunks combined
    (flash-decoding, as vLLM, FlashInfer and FlashAttention's split-KV kernels do): otherwise a
    batch-1 GQA step keeps only kv_heads SMs busy and reads its cache at a tenth of the bandwidth.
    S = 1: one SDPA call.
    """
    if S == 1:
        return F.scaled_dot_product_attention(q, kc, vc)
    B, nkv, G, D = q.shape
    C = kc.shape[2]
    qs = q.unsqueeze(2).expand(B, nkv, S, G, D).reshape(B, nkv * S, G, D)
    ks, vs = kc.view(B, nkv * S, C // S, D), vc.view(B, nkv * S, C // S, D)
    out, lse = torch.ops.aten._scaled_dot_product_flash_attention(qs, ks, vs)[:2]
    w = torch.softmax(lse[..., :G].unflatten(1, (nkv, S)), dim=2)  # [B, nkv, S, G], float32
    return torch.einsum("bhsgd,bhsg->bhgd", out.unflatten(1, (nkv, S)), w.to(out.dtype))


def gqa_attention(q, kc, vc):
    """Decode attention of q [B, kv_heads, group, D] over the cache [B, kv_heads, C, D] as one SDPA call
    with the query heads as heads and enable_gqa=True (query head h reads KV head h // group); run it
    under sdpa_kernel(GQA_BACKENDS). Returns [B, kv_heads, group, D], as split_kv_attention does."""
    B, nkv, G, D = q.shape
    out = F.scaled_dot_product_attention(q.reshape(B, nkv * G, 1, D), kc, vc, enable_gqa=True)
    return out.reshape(B, nkv, G, D)


GQA_BACKENDS = [SDPBackend.CUDNN_ATTENTION]


def backends():
    """The SDPA backends the step's attention may use."""
    return GQA_BACKENDS if GQA_SDPA else DECODE_BACKENDS


class Weights:
    def __init__(self, c, layers):
        d, h, D = c["dtype"], c["hidden"], c["head_dim"]
        qkv_out = (c["heads"] + 2 * c["kv_heads"]) * D
        self.embed = rand((c["vocab"], h), d, 1.0)
        self.lm_head = self.embed if c["tied"] else rand((c["vocab"], h), d, h ** -0.5)
        self.final_norm = rand((h,), d, 0.1).add_(1.0)
        self.layers = []
        for _ in range(layers):
            self.layers.append(dict(
                ln1=rand((h,), d, 0.1).add_(1.0), ln2=rand((h,), d, 0.1).add_(1.0),
                w_qkv=rand((qkv_out, h), d, h ** -0.5), b_qkv=rand((qkv_out,), d, 0.1) if c["qkv_bias"] else None,
                w_o=rand((h, c["heads"] * D), d, (c["heads"] * D) ** -0.5),
                w_gu=rand((2 * c["inter"], h), d, h ** -0.5), w_down=rand((h, c["inter"]), d, c["inter"] ** -0.5)))


class Step:
    """Buffers of one (batch, context) point and the decode step over them."""

    def __init__(self, c, w, batch, context):
        d, h, D = c["dtype"], c["hidden"], c["head_dim"]
        self.c, self.w, self.B = c, w, batch
        self.cache_len = min(context, c["window"]) if c["window"] else context  # rolling buffer for sliding layers
        self.pos = context - 1  # the new token is the context-th; attention covers cache_len tokens
        self.slot = self.pos % self.cache_len
        self.splits = kv_splits(batch * c["kv_heads"], self.cache_len)  # split-KV chunks (1 = none)
        self.caches = [(rand((batch, c["kv_heads"], self.cache_len, D), d, 1.0),
                        rand((batch, c["kv_heads"], self.cache_len, D), d, 1.0)) for _ in w.layers]
        self.tokens = torch.randint(0, c["vocab"], (batch,), device="cuda")
        self.residual = torch.empty((batch, h), dtype=d, device="cuda")
        self.normed = torch.empty((batch, h), dtype=d, device="cuda")
        self.q = torch.empty((batch, c["heads"], D), dtype=d, device="cuda")
        self.act = torch.empty((batch, c["inter"]), dtype=d, device="cuda")

    def norm(self, x, weight, has_res):
        h = self.c["hidden"]
        if not FUSED:  # fallback: the same math in several torch kernels
            self.residual.add_(x) if has_res else self.residual.copy_(x)
            r = self.residual.float()
            self.normed.copy_(r * torch.rsqrt(r.pow(2).mean(-1, keepdim=True) + EPS) * weight.float())
            return
        add_rmsnorm_kernel[(self.B,)](x, self.residual, weight, self.normed, h, EPS, HAS_RES=has_res,
                                      BLOCK=triton.next_power_of_2(h), num_warps=8)

    def attention(self, q, kc, vc):
        """Decode attention of q [B, kv_heads, group, D] over the cache [B, kv_heads, C, D] (split_kv_attention,
        or gqa_attention with --gqa-sdpa)."""
        if GQA_SDPA:
            return gqa_attention(q, kc, vc)
        return split_kv_attention(q, kc, vc, self.splits)

    def rope_torch(self, qkv, kc, vc):
        c, B = self.c, self.B
        D, nq, nkv = c["head_dim"], c["heads"], c["kv_heads"]
        t = qkv.view(B, nq + 2 * nkv, D).float()
        inv = torch.exp(-(2.0 * torch.arange(D // 2, device="cuda").float() / D) * math.log(ROPE_THETA))
        cos, sin = torch.cos(self.pos * inv), torch.sin(self.pos * inv)
        r = torch.cat([t[..., :D // 2] * cos - t[..., D // 2:] * sin, t[..., D // 2:] * cos + t[..., :D // 2] * sin], -1)
        self.q.copy_(r[:, :nq])
        kc[:, :, self.slot] = r[:, nq:nq + nkv].to(kc.dtype)
        vc[:, :, self.slot] = t[:, nq + nkv:].to(vc.dtype)

    def __call__(self):
        c, w, B = self.c, self.w, self.B
        D, nq, nkv = c["head_dim"], c["heads"], c["kv_heads"]
        x = F.embedding(self.tokens, w.embed)
        for li, L in enumerate(w.layers):
            self.norm(x, L["ln1"], li > 0)
            qkv = F.linear(self.normed, L["w_qkv"], L["b_qkv"])
            kc, vc = self.caches[li]
            if not FUSED:
                self.rope_torch(qkv, kc, vc)
            else:
                rope_cache_kernel[(B, nq + 2 * nkv)](qkv, self.q, kc, vc, self.pos, self.slot, nq, nkv, self.cache_len,
                                                     math.log(ROPE_THETA), HEAD_DIM=D, HALF=D // 2, num_warps=1)
            o = self.attention(self.q.view(B, nkv, nq // nkv, D), kc, vc)
            x = F.linear(o.reshape(B, nq * D), L["w_o"])  # heads in q's order: a view, no copy kernel
            self.norm(x, L["ln2"], True)
            gu = F.linear(self.normed, L["w_gu"])
            if not FUSED:
                g, u = gu.chunk(2, -1)
                torch.mul(F.silu(g), u, out=self.act)
            else:
                silu_mul_kernel[(B, triton.cdiv(c["inter"], 1024))](gu, self.act, c["inter"], BLOCK=1024, num_warps=4)
            x = F.linear(self.act, L["w_down"])
        self.norm(x, w.final_norm, True)
        return F.linear(self.normed, w.lm_head)


def reference(step):
    """The same step in float32 with plain torch ops, on copies of the caches (before the step)."""
    c, w, B = step.c, step.w, step.B
    D, nq, nkv, h = c["head_dim"], c["heads"], c["kv_heads"], c["hidden"]
    rms = lambda t, g: t * torch.rsqrt(t.pow(2).mean(-1, keepdim=True) + EPS) * g.float()
    inv = torch.exp(-(2.0 * torch.arange(D // 2, device="cuda").float() / D) * math.log(ROPE_THETA))
    ang = step.pos * inv
    cos, sin = torch.cos(ang), torch.sin(ang)
    rope = lambda t: torch.cat([t[..., :D // 2] * cos - t[..., D // 2:] * sin, t[..., D // 2:] * cos + t[..., :D // 2] * sin], -1)
    res = None
    x = w.embed[step.tokens].float()
    for li, L in enumerate(w.layers):
        res = x if res is None else res + x
        qkv = rms(res, L["ln1"]) @ L["w_qkv"].float().T
        if L["b_qkv"] is not None:
            qkv = qkv + L["b_qkv"].float()
        qkv = qkv.view(B, nq + 2 * nkv, D)
        q, k, v = rope(qkv[:, :nq]), rope(qkv[:, nq:nq + nkv]), qkv[:, nq + nkv:]
        kc, vc = (t.float() for t in step.saved[li])
        kc[:, :, step.slot], vc[:, :, step.slot] = k, v
        s = q.view(B, nkv, nq // nkv, D) @ kc.transpose(-1, -2) / math.sqrt(D)
        o = torch.softmax(s, -1) @ vc
        res = res + o.reshape(B, nq * D) @ L["w_o"].float().T
        g, u = (rms(res, L["ln2"]) @ L["w_gu"].float().T).chunk(2, -1)
        x = (F.silu(g) * u) @ L["w_down"].float().T
    res = res + x
    return rms(res, w.final_norm) @ w.lm_head.float().T


def check(c):
    """Fused bf16 step vs float32 reference on a 2-layer copy of the model; returns the relative error."""
    small = dict(c, layers=2, vocab=4096)
    w = Weights(small, 2)
    step = Step(small, w, 2, 1024)  # 16 work units: the split-KV path runs (S = 4 for 8 KV heads)
    step.saved = [(k.clone(), v.clone()) for k, v in step.caches]
    with sdpa_kernel(backends()):
        got = step().float()
    want = reference(step)
    err = ((got - want).norm() / want.norm()).item()
    if not math.isfinite(err) or err > 3e-2:
        print(f"WARNING {c['id']}: step differs from the float32 reference: relative error {err:.3g}", flush=True)
    return err


def count_kernels(step):
    """Kernels one eager step launches (torch profiler), or None if the profiler is unavailable."""
    try:
        from torch.profiler import ProfilerActivity, profile
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            step()
            torch.cuda.synchronize()
        return sum(1 for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA)
    except Exception as exc:  # the timing does not depend on it
        print(f"  (kernel count unavailable: {exc})", file=sys.stderr)
        return None


def time_graph(fn, replays=10, repeats=12, warmup=3):
    """Median and spread of one replay's time (ms), over `repeats` groups of back-to-back replays."""
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(warmup):
            fn()
    torch.cuda.current_stream().wait_stream(s)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn()
    for _ in range(warmup):
        graph.replay()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    samples = []
    for _ in range(repeats):
        start.record()
        for _ in range(replays):
            graph.replay()
        end.record()
        end.synchronize()
        samples.append(start.elapsed_time(end) / replays)
    del graph
    samples.sort()
    return statistics.median(samples), samples[0], samples[-1]


def time_eager(fn, calls=10, repeats=12, warmup=3):
    """Median and spread of one eager call's time (ms): launched from Python one op at a time, as an
    engine runs with --enforce-eager, over `repeats` groups of back-to-back calls."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    samples = []
    for _ in range(repeats):
        start.record()
        for _ in range(calls):
            fn()
        end.record()
        end.synchronize()
        samples.append(start.elapsed_time(end) / calls)
    samples.sort()
    return statistics.median(samples), samples[0], samples[-1]


def physical_constants():
    """What the efficiency parameters stand for, measured on this card (not used to tune anything)."""
    out = {}
    a = rand((1 << 30,), torch.bfloat16, 1.0)  # 2 GiB
    b = torch.empty_like(a)
    ms, _, _ = time_graph(lambda: b.copy_(a), replays=5, repeats=8)
    out["copy_bytes_per_s"] = 2 * a.numel() * 2 / (ms * 1e-3)  # read + write
    del a, b
    t = torch.zeros(1, device="cuda")
    n = 1000
    ms, _, _ = time_graph(lambda: [t.add_(1.0) for _ in range(n)], replays=3, repeats=8)
    out["tiny_kernel_in_graph_s"] = ms * 1e-3 / n
    ms, _, _ = time_eager(lambda: [t.add_(1.0) for _ in range(n)], calls=3, repeats=8)
    out["tiny_kernel_eager_s"] = ms * 1e-3 / n
    w = rand((14336 * 2, 4096), torch.bfloat16, 4096 ** -0.5)
    x = rand((1, 4096), torch.bfloat16, 1.0)
    ms, _, _ = time_graph(lambda: F.linear(x, w), replays=20, repeats=8)
    out["gemv_28672x4096_bytes_per_s"] = w.numel() * 2 / (ms * 1e-3)
    del w, x
    torch.cuda.empty_cache()
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=".")
    ap.add_argument("--repo", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--unfused", action="store_true", help="plain torch ops instead of the fused Triton kernels")
    ap.add_argument("--no-split-kv", action="store_true", help="one SDPA call per layer, no split-KV")
    ap.add_argument("--gqa-sdpa", action="store_true",
                    help="one cuDNN SDPA call per layer with the query heads and enable_gqa=True")
    ap.add_argument("--eager", action="store_true", help="also time each step launched eagerly (no CUDA graph)")
    ap.add_argument("--points", help="batch:context,... instead of the default grid (every model takes them all)")
    args = ap.parse_args()
    if args.points:
        try:
            args.points = [(int(b), int(n)) for b, n in (p.split(":") for p in args.points.split(","))]
        except ValueError:
            ap.error(f"--points {args.points!r}: want batch:context pairs separated by commas, e.g. 128:2048,1:65536")
        if any(b < 1 or n < 1 for b, n in args.points):
            ap.error("--points: batch and context must be positive")
    global FUSED, SPLIT_KV, GQA_SDPA
    FUSED = not args.unfused
    GQA_SDPA = args.gqa_sdpa
    SPLIT_KV = not args.no_split_kv and not GQA_SDPA
    torch.manual_seed(0)
    props = torch.cuda.get_device_properties(0)
    result = {"device": props.name, "torch": torch.__version__, "triton": triton.__version__, "sms": props.multi_processor_count}
    print(f"device {props.name}, torch {torch.__version__}, triton {triton.__version__}", flush=True)
    result["constants"] = physical_constants()
    print("constants", json.dumps(result["constants"]), flush=True)
    records = []
    for model_id in args.models.split(","):
        c = load_config(args.repo, model_id)
        try:
            err = check(c)
        except Exception as exc:  # split-KV or Triton unusable here: fall back, and say so
            if GQA_SDPA:  # the variant is the one call; there is nothing to fall back to
                raise
            print(f"WARNING step failed ({type(exc).__name__}: {exc}); retrying without split-KV", flush=True)
            SPLIT_KV = False
            try:
                err = check(c)
            except Exception as exc2:
                print(f"WARNING fused kernels failed ({type(exc2).__name__}: {exc2}); using torch ops", flush=True)
                FUSED = False
                err = check(c)
        torch.cuda.empty_cache()
        print(f"{model_id}: fused step vs float32 reference: relative error {err:.2e}", flush=True)
        w = Weights(c, c["layers"])
        points = POINTS + (LONG_POINTS if c["kv_heads"] < c["heads"] else [])
        if args.points:
            points = args.points
        for batch, context in points:
            t0 = time.time()
            step = Step(c, w, batch, context)
            with sdpa_kernel(backends()):
                kernels = count_kernels(step)
            with sdpa_kernel(backends()):
                ms, lo, hi = time_graph(step)
            rec = dict(model=model_id, batch=batch, context=context, step_ms=ms, min_ms=lo, max_ms=hi,
                       kernels_per_step=kernels, layers=c["layers"], check_rel_err=err, fused=FUSED,
                       split_kv=SPLIT_KV, gqa_sdpa=GQA_SDPA, kv_splits=step.splits)
            if args.eager:
                with sdpa_kernel(backends()):
                    rec["eager_step_ms"], _, _ = time_eager(step)
            records.append(rec)
            result["records"] = records
            path = os.path.join(args.out, "decode_measured.json")  # kept if the run is cut short
            with open(path + ".tmp", "w") as f:
                json.dump(result, f, indent=1)
            os.replace(path + ".tmp", path)
            eager = f"  eager {rec['eager_step_ms']:.3f} ms" if args.eager else ""
            print(f"  {model_id:16} B={batch:3} N={context:6}  {ms:8.3f} ms  [{lo:.3f}, {hi:.3f}]  kernels/step {kernels}"
                  f"{eager}  splits {step.splits}"
                  f"  ({time.time() - t0:.1f} s)", flush=True)
            del step
            torch.cuda.empty_cache()
        del w
        torch.cuda.empty_cache()
    print("\nmodel            batch context  step_ms")
    for r in records:
        print(f"{r['model']:16} {r['batch']:5} {r['context']:7} {r['step_ms']:8.3f}")


if __name__ == "__main__":
    main()
