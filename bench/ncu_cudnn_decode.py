import torch, torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
h, kvh, b, n, d = 64, 8, 32, 32768, 128
q = torch.randn(b, h, 1, d, device="cuda", dtype=torch.bfloat16)
k = torch.randn(b, kvh, n, d, device="cuda", dtype=torch.bfloat16)
v = torch.randn(b, kvh, n, d, device="cuda", dtype=torch.bfloat16)
with sdpa_kernel([SDPBackend.CUDNN_ATTENTION]):
    for _ in range(4):
        F.scaled_dot_product_attention(q, k, v, enable_gqa=True)
torch.cuda.synchronize()
