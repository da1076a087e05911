#!/usr/bin/env python3
"""Decode-sized linears: how PyTorch (and so vLLM and SGLang, whose unquantized linears are F.linear) calls
cuBLAS against how kvplan's reference step calls it, side by side in one process.

Each variant runs the same shapes the same way: per (m, n, k) one CUDA graph of back-to-back GEMMs
y[m, n] = x[m, k] w[n, k]^T in bf16 (32 launches, or as many as hold 4 GiB of weights, at least 4) on up
to 1 GiB of distinct random weights, a 256 MB memset before each replay so the weights come from HBM,
CUDA events around the replay only, median of the replays (at least 10, up to 0.2 s). Variants:
  torch          torch.nn.functional.linear (PyTorch's default BLAS path)
  torch-lt       the same with torch.backends.cuda.preferred_blas_library("cublaslt")
  gemmex-64      cublasGemmEx(OP_T, OP_N, n, m, k, ..., CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT) through
                 ctypes on the libcublas PyTorch loaded, its own handle with a 64 MiB workspace: the call
                 src/gpu/blas.cpp makes (kvplan's binaries link whichever libcublas the loader finds)
  gemmex-32      the same with a 32 MiB workspace
(A second libcublas cannot be compared in this process: it would share PyTorch's libcublasLt.)
The kernels each variant launches (torch.profiler, one eager call at m = 1 and 32) are printed too.
Shapes: the decode step's linears of Llama-3.1-8B, Qwen2.5-7B and Llama-2-7B (fused QKV, o_proj, fused
gate_up, down, lm_head). Usage: python3 bench/linear_compare.py --out DIR (writes linear_compare.json).
"""
import argparse
import ctypes
import json
import os

import torch
import torch.nn.functional as F

from cold_graph import time_fn_cold

SHAPES = {  # (n, k) = (out, in) of each weight
    "llama-3.1-8b": [(6144, 4096), (4096, 4096), (28672, 4096), (4096, 14336), (128256, 4096)],
    "qwen2.5-7b": [(4608, 3584), (3584, 3584), (37888, 3584), (3584, 18944), (152064, 3584)],
    "llama-2-7b": [(12288, 4096), (4096, 4096), (22016, 4096), (4096, 11008), (32000, 4096)],
}
ROWS = [1, 8, 32, 64, 128]
DATASHEET = {"H100": 3.35e12, "H200": 4.8e12}


class Cublas:
    """cublasGemmEx through ctypes on one libcublas, with its own handle and a 64 MiB workspace."""

    def __init__(self, path, ws_mib):
        self.lib = ctypes.CDLL(path)
        self.h = ctypes.c_void_p()
        assert self.lib.cublasCreate_v2(ctypes.byref(self.h)) == 0
        self.ws = torch.empty(ws_mib << 20, dtype=torch.uint8, device="cuda")
        assert self.lib.cublasSetWorkspace_v2(self.h, ctypes.c_void_p(self.ws.data_ptr()), ctypes.c_size_t(ws_mib << 20)) == 0
        self.one, self.zero = ctypes.c_float(1.0), ctypes.c_float(0.0)
        ver = ctypes.c_int()
        self.lib.cublasGetVersion_v2(self.h, ctypes.byref(ver))
        self.version = ver.value

    def linear(self, x, w, y):
        m, k = x.shape
        n = w.shape[0]
        assert self.lib.cublasSetStream_v2(self.h, ctypes.c_void_p(torch.cuda.current_stream().cuda_stream)) == 0
        r = self.lib.cublasGemmEx(self.h, 1, 0, n, m, k, ctypes.byref(self.one), ctypes.c_void_p(w.data_ptr()), 14, k,
                                  ctypes.c_void_p(x.data_ptr()), 14, k, ctypes.byref(self.zero),
                                  ctypes.c_void_p(y.data_ptr()), 14, n, 68, -1)
        assert r == 0, f"cublasGemmEx status {r}"


def torch_cublas_path():
    """The libcublas PyTorch has loaded (after one matmul), from the process's mappings."""
    a = torch.ones(64, 64, device="cuda", dtype=torch.bfloat16)
    (a @ a).sum().item()
    with open("/proc/self/maps") as f:
        for line in f:
            p = line.split()[-1]
            if "libcublas.so" in p and "Lt" not in os.path.basename(p):
                return p
    return None


def time_graph(fn, flush):
    return time_fn_cold(fn, flush, max_time=0.2, max_samples=100)


def kernels_of(fn):
    from torch.profiler import ProfilerActivity, profile
    fn()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        fn()
        torch.cuda.synchronize()
    return sorted({e.name for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=".")
    a = ap.parse_args()
    props = torch.cuda.get_device_properties(0)
    bw = next((v for key, v in DATASHEET.items() if key in props.name), None)
    tpath = torch_cublas_path()
    variants = {}
    blas = {}
    for name, ws_mib in [("gemmex-64", 64), ("gemmex-32", 32)]:
        try:
            blas[name] = Cublas(tpath, ws_mib)
        except Exception as exc:  # the other variants still run
            print(f"{name}: {path}: {exc}", flush=True)
    print(f"device {props.name}; torch {torch.__version__}; torch's cuBLAS {tpath}; TORCH_CUBLAS_DIR={os.path.dirname(tpath)} "
          + " ".join(f"{k} {v.version}" for k, v in blas.items()), flush=True)
    flush = torch.empty(256 << 20, dtype=torch.uint8, device="cuda")
    torch.manual_seed(0)
    records = []
    seen = set()
    for model, shapes in SHAPES.items():
        for n, k in shapes:
            if (n, k) in seen:
                continue
            seen.add((n, k))
            wbytes = n * k * 2
            launches = max(4, min(32, (4 << 30) // wbytes))
            copies = max(1, min(launches, (1 << 30) // wbytes))
            ws = [torch.empty((n, k), dtype=torch.bfloat16, device="cuda").uniform_(-0.05, 0.05) for _ in range(copies)]
            x = torch.empty((max(ROWS), k), dtype=torch.bfloat16, device="cuda").uniform_(-1, 1)
            y = torch.empty((max(ROWS), n), dtype=torch.bfloat16, device="cuda")
            for m in ROWS:
                xm, ym = x[:m], y[:m]

                def run_torch():
                    for i in range(launches):
                        F.linear(xm, ws[i % copies])

                def make_blas(b):
                    def run():
                        for i in range(launches):
                            b.linear(xm, ws[i % copies], ym)
                    return run

                rec = dict(model=model, n=n, k=k, m=m, launches=launches, bytes=launches * wbytes)
                torch.backends.cuda.preferred_blas_library("cublas")
                rec["torch"] = time_graph(run_torch, flush)
                torch.backends.cuda.preferred_blas_library("cublaslt")
                rec["torch-lt"] = time_graph(run_torch, flush)
                torch.backends.cuda.preferred_blas_library("cublas")
                for name, b in blas.items():
                    rec[name] = time_graph(make_blas(b), flush)
                if m in (1, 32):
                    one = lambda: F.linear(xm, ws[0])
                    rec["kernels"] = {"torch": kernels_of(one)}
                    torch.backends.cuda.preferred_blas_library("cublaslt")
                    rec["kernels"]["torch-lt"] = kernels_of(one)
                    torch.backends.cuda.preferred_blas_library("cublas")
                    for name, b in blas.items():
                        rec["kernels"][name] = kernels_of(lambda b=b: b.linear(xm, ws[0], ym))
                records.append(rec)
                times = " ".join(f"{v}={rec[v] * 1e6:9.1f}" for v in ["torch", "torch-lt", *blas] if v in rec)
                eff = f" (torch {rec['bytes'] / rec['torch'] / bw:.3f} of datasheet)" if bw else ""
                print(f"{model:13} n={n:6} k={k:5} m={m:3} x{launches:2}: {times} us{eff}", flush=True)
                if "kernels" in rec:
                    for v, names in rec["kernels"].items():
                        print(f"    {v}: {'; '.join(s[:90] for s in names)}", flush=True)
            del ws, x, y
            torch.cuda.empty_cache()
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "linear_compare.json"), "w") as f:
        json.dump({"device": props.name, "torch": torch.__version__, "torch_cublas": tpath,
                   "cublas_versions": {k: v.version for k, v in blas.items()}, "records": records}, f, indent=1)
    # A decode step's weights at batch m: each model's layers x its four linears (+ lm_head once).
    layers = {"llama-3.1-8b": 32, "qwen2.5-7b": 28, "llama-2-7b": 32}
    print("\nper model, the step's linears (layers x QKV, o, gate_up, down, + lm_head), us:")
    for model, shapes in SHAPES.items():
        for m in ROWS:
            row = {}
            for v in ["torch", "torch-lt", *blas]:
                t = 0.0
                for idx, (n, k) in enumerate(shapes):
                    r = next(r for r in records if r["n"] == n and r["k"] == k and r["m"] == m)
                    per = r[v] / r["launches"]
                    t += per * (1 if idx == len(shapes) - 1 else layers[model])
                row[v] = t * 1e6
            print(f"  {model:13} m={m:3}: " + " ".join(f"{v} {t:8.1f}" for v, t in row.items())
                  + f"  torch / gemmex-64 {row['torch'] / row.get('gemmex-64', float('nan')):.4f}", flush=True)


if __name__ == "__main__":
    main()
