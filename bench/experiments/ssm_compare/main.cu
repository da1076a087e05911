// Side by side in one process: kvplan's previous and current selective-state update kernels on the
// shapes `kvplan-gpu-bench kernels` times (Mamba-1 as falcon-mamba-7b, Mamba-2 as mamba2-2.7b; fp32 and
// bf16 state), alternating old/new per sample, cold L2 (memset of 512 MB then read back), medians of 40.
// Build and run: prepare.sh REV (where the git history is), then run.sh on the GPU machine.
#include <cuda_bf16.h>
#include <algorithm>
#include <cstdio>
#include <vector>
#include "gpu/kernels.h"

extern "C" void old_ssm_update(const void* u, cudaStream_t s);
using kvplan::gpu::SsmUpdate;

#define CK(x) do { cudaError_t e_ = (x); if (e_ != cudaSuccess) { std::printf("CUDA %s at %d\n", cudaGetErrorString(e_), __LINE__); return 1; } } while (0)

__global__ void touch(const uint4* p, size_t n, unsigned* out) {
  unsigned acc = 0;
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x) acc ^= p[i].x;
  if (acc == 0x12345678u) *out = acc;
}

int main() {
  const size_t fb = 512u << 20;
  void* flush; unsigned* sink;
  CK(cudaMalloc(&flush, fb)); CK(cudaMalloc(&sink, 4));
  cudaEvent_t e0, e1; CK(cudaEventCreate(&e0)); CK(cudaEventCreate(&e1));
  for (int shape = 0; shape < 4; ++shape) {
    SsmUpdate u;
    const bool m2 = shape >= 2, fp32 = shape % 2 == 0;
    u.mamba2 = m2; u.state_fp32 = fp32;
    if (m2) { u.batch = 64; u.heads = 80; u.head_dim = 64; u.groups = 1; u.d_state = 128; }
    else { u.batch = 256; u.heads = 8192; u.head_dim = 1; u.groups = 1; u.d_state = 16; }
    const size_t rows = u.batch * u.heads * u.head_dim;
    const size_t sb = rows * u.d_state * (fp32 ? 4 : 2);
    void *st, *x, *z, *dt, *dtb, *A, *B, *C, *D, *y;
    CK(cudaMalloc(&st, sb)); CK(cudaMalloc(&x, rows * 2)); CK(cudaMalloc(&z, rows * 2)); CK(cudaMalloc(&dt, rows * 2));
    CK(cudaMalloc(&dtb, u.heads * u.head_dim * 4)); CK(cudaMalloc(&A, u.heads * u.head_dim * u.d_state * 4));
    CK(cudaMalloc(&B, u.batch * u.d_state * 2)); CK(cudaMalloc(&C, u.batch * u.d_state * 2)); CK(cudaMalloc(&D, u.heads * u.head_dim * 4));
    CK(cudaMalloc(&y, rows * 2));
    CK(cudaMemset(st, 0x3c, sb)); CK(cudaMemset(x, 0x3c, rows * 2)); CK(cudaMemset(z, 0x3c, rows * 2)); CK(cudaMemset(dt, 0x3c, rows * 2));
    CK(cudaMemset(dtb, 0x3c, u.heads * u.head_dim * 4)); CK(cudaMemset(A, 0xbc, u.heads * u.head_dim * u.d_state * 4));
    CK(cudaMemset(B, 0x3c, u.batch * u.d_state * 2)); CK(cudaMemset(C, 0x3c, u.batch * u.d_state * 2)); CK(cudaMemset(D, 0x3c, u.heads * u.head_dim * 4));
    u.state = st; u.x = x; u.z = z; u.dt = dt; u.dt_bias = dtb; u.A = A; u.B = B; u.C = C; u.D = D; u.y = y;
    const double bytes = double(kvplan::gpu::ssm_update_bytes(u));
    std::vector<float> t[2];
    for (int i = 0; i < 82; ++i) {
      const int which = i % 2;
      CK(cudaMemsetAsync(flush, i & 0xff, fb));
      touch<<<1024, 256>>>(static_cast<const uint4*>(flush), fb / 16, sink);
      CK(cudaEventRecord(e0));
      if (which == 0) old_ssm_update(&u, nullptr); else kvplan::gpu::launch_ssm_update(u, nullptr);
      CK(cudaEventRecord(e1)); CK(cudaEventSynchronize(e1));
      float ms; CK(cudaEventElapsedTime(&ms, e0, e1));
      if (i >= 2) t[which].push_back(ms * 1000.f);
    }
    const char* names[] = {"mamba1 b256 d_inner 8192 N16 fp32", "mamba1 b256 d_inner 8192 N16 bf16",
                           "mamba2 b64 80x64 N128 fp32", "mamba2 b64 80x64 N128 bf16"};
    double med[2];
    for (int w = 0; w < 2; ++w) { std::sort(t[w].begin(), t[w].end()); med[w] = t[w][t[w].size() / 2]; }
    std::printf("%-36s %7.1f MB  previous %7.1f us %6.3f TB/s (%4.1f%%)  current %7.1f us %6.3f TB/s (%4.1f%%)  previous/current %.3f\n",
                names[shape], bytes / 1e6, med[0], bytes / med[0] * 1e-6, bytes / med[0] * 1e-6 / 4.8 * 100,
                med[1], bytes / med[1] * 1e-6, bytes / med[1] * 1e-6 / 4.8 * 100, med[0] / med[1]);
    for (void* p : {st, x, z, dt, dtb, A, B, C, D, y}) CK(cudaFree(p));
  }
  return 0;
}
