#!/usr/bin/env python3
"""Host <-> GPU copy bandwidth over the local link (PCIe or NVLink-C2C), for KV offload tiers
(docs/kv-economy.md): pinned and pageable host memory, host->device, device->host and both at
once, at the sizes KV offload moves (one block of a large model up to a whole sequence).

Each figure is the median of N timed copies (CUDA events around one copy, after 3 warm-up copies).
usage: bench/host_link.py [N] > result.json     (needs PyTorch with CUDA)
"""
import json
import statistics
import subprocess
import sys

import torch

MiB = 1 << 20


def timed(fn, n):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    out = []
    for _ in range(n):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        out.append(start.elapsed_time(end) / 1e3)
    return statistics.median(out)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    dev = torch.device("cuda")
    smi = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,pcie.link.gen.current,pcie.link.gen.max,"
                          "pcie.link.width.current,pcie.link.width.max", "--format=csv,noheader"],
                         capture_output=True, text=True).stdout.strip()
    rows = []
    # 5 MiB: one 16-token block of a 70B-class model in bf16 (16 x 327,680 B); up to 1 GiB.
    for size in [5 * MiB, 64 * MiB, 256 * MiB, 1024 * MiB]:
        d = torch.empty(size, dtype=torch.uint8, device=dev)
        d2 = torch.empty(size, dtype=torch.uint8, device=dev)
        pinned = torch.empty(size, dtype=torch.uint8, pin_memory=True)
        pinned2 = torch.empty(size, dtype=torch.uint8, pin_memory=True)
        pageable = torch.empty(size, dtype=torch.uint8)
        pinned.fill_(1)
        pageable.fill_(1)
        side = torch.cuda.Stream()

        def both():
            d.copy_(pinned, non_blocking=True)
            with torch.cuda.stream(side):
                pinned2.copy_(d2, non_blocking=True)
            torch.cuda.current_stream().wait_stream(side)

        t_h2d = timed(lambda: d.copy_(pinned, non_blocking=True), n)
        t_d2h = timed(lambda: pinned2.copy_(d2, non_blocking=True), n)
        t_pageable = timed(lambda: d.copy_(pageable), max(5, n // 4))
        t_both = timed(both, n)
        rows.append({"bytes": size,
                     "h2d_pinned_bytes_per_s": size / t_h2d,
                     "d2h_pinned_bytes_per_s": size / t_d2h,
                     "h2d_pageable_bytes_per_s": size / t_pageable,
                     "bidirectional_pinned_bytes_per_s": 2 * size / t_both})
        del d, d2, pinned, pinned2, pageable
    print(json.dumps({"device": smi, "torch": torch.__version__, "cuda": torch.version.cuda, "runs": n,
                      "results": rows}, indent=2))


if __name__ == "__main__":
    main()
