"""What a serving engine sees of the GPU's memory before it loads a model (docs/engines.md).

Prints the CUDA driver's total and free memory (cudaMemGetInfo through PyTorch, which vLLM and
SGLang read), nvidia-smi's total, and the memory the CUDA context, cuBLAS workspace and a first
GEMM take outside PyTorch's caching allocator (what vLLM logs as non-torch memory at start-up).
Run on the GPU machine: python3 bench/cuda_memory.py
"""
import json
import subprocess

import torch


def main():
    smi = subprocess.run(
        ["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader,nounits"],
        capture_output=True, text=True, check=True).stdout.strip().split(", ")
    torch.cuda.init()
    free0, total = torch.cuda.mem_get_info()
    # A bf16 GEMM initializes cuBLAS (handle and workspace), as an engine's first forward does.
    a = torch.randn(4096, 4096, device="cuda", dtype=torch.bfloat16)
    b = a @ a
    torch.cuda.synchronize()
    free1, _ = torch.cuda.mem_get_info()
    torch_reserved = torch.cuda.memory_reserved()
    out = {
        "gpu": smi[0],
        "driver": smi[2],
        "nvidia_smi_total_bytes": int(smi[1]) * 2**20,
        "cuda_total_bytes": total,
        "cuda_free_after_context_bytes": free0,
        "context_bytes": total - free0,
        "non_torch_after_first_gemm_bytes": (total - free1) - torch_reserved,
        "torch_version": torch.__version__,
    }
    print(json.dumps(out, indent=1))
    del b


if __name__ == "__main__":
    main()
