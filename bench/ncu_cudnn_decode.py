#!/usr/bin/env python3
"""cuDNN's decode attention (PyTorch SDPA, cuDNN backend) on one shape, for ncu next to kvplan's kernel:
  ncu --clock-control none -k regex:cudnn --launch-skip 2 --launch-count 1 --metrics ... python3 bench/ncu_cudnn_decode.py
and for kvplan: kvplan-gpu-bench attn-grid --shape 64,8,32,32768 (docs/validation/h200/README.md).
Shape: heads 64 / kv_heads 8, batch 32, context 32768, head_dim 128, bf16, one query token."""
import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

h, kvh, b, n, d = 64, 8, 32, 32768, 128
q = torch.randn(b, h, 1, d, device="cuda", dtype=torch.bfloat16)
k = torch.randn(b, kvh, n, d, device="cuda", dtype=torch.bfloat16)
v = torch.randn(b, kvh, n, d, device="cuda", dtype=torch.bfloat16)
with sdpa_kernel([SDPBackend.CUDNN_ATTENTION]):
    for _ in range(4):
        F.scaled_dot_product_attention(q, k, v, enable_gqa=True)
torch.cuda.synchronize()
