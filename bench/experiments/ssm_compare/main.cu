// Side by side in one process: kvplan's previous and current selective-state update kernels on the
// shapes `kvplan-gpu-bench kernels` times (Mamba-1 as falcon-mamba-7b, Mamba-2 as mamba2-2.7b; fp32 and
// bf16 state), alternating old/new per sample, cold L2 (memset of 512 MB then read back), medians of 40.
// Before timing, both kernels update the same pseudo-random state once and their states and outputs
// are compared (the previous kernel is the one `kvplan-gpu check` verified against its CPU reference).
// Build and run: prepare.sh REV (where the git history is), then run.sh on the GPU machine.
#include <cuda_bf16.h>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>
#include "../cold_l2.cuh"
#include "gpu/kernels.h"

extern "C" void old_ssm_update(const void* u, cudaStream_t s);
using kvplan::gpu::SsmUpdate;

#define CK(x) do { cudaError_t e_ = (x); if (e_ != cudaSuccess) { std::printf("CUDA %s at %d\n", cudaGetErrorString(e_), __LINE__); return 1; } } while (0)


// Uniform values in [lo, hi) from a hash of the index, as bf16 or fp32.
template <typename T>
__global__ void fill(T* p, size_t n, float lo, float hi, unsigned seed) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x) {
    unsigned h = unsigned(i) * 2654435761u ^ seed * 97u;
    h ^= h >> 15; h *= 2246822519u; h ^= h >> 13; h *= 3266489917u; h ^= h >> 16;
    p[i] = T(lo + (hi - lo) * (h >> 8) * (1.f / 16777216.f));
  }
}
template <typename T>
void fill_range(void* p, size_t n, float lo, float hi, unsigned seed) { fill<T><<<1024, 256>>>(static_cast<T*>(p), n, lo, hi, seed); }

// Largest |a - b| / (1 + |b|) over n elements of bf16 or fp32 on the host.
double max_rel(const void* a, const void* b, size_t n, bool f32) {
  std::vector<unsigned char> ha(n * (f32 ? 4 : 2)), hb(ha.size());
  cudaMemcpy(ha.data(), a, ha.size(), cudaMemcpyDeviceToHost);
  cudaMemcpy(hb.data(), b, hb.size(), cudaMemcpyDeviceToHost);
  double worst = 0;
  for (size_t i = 0; i < n; ++i) {
    float va, vb;
    if (f32) { va = reinterpret_cast<float*>(ha.data())[i]; vb = reinterpret_cast<float*>(hb.data())[i]; }
    else { va = __bfloat162float(reinterpret_cast<__nv_bfloat16*>(ha.data())[i]); vb = __bfloat162float(reinterpret_cast<__nv_bfloat16*>(hb.data())[i]); }
    const double d = std::fabs(double(va) - vb) / (1 + std::fabs(double(vb)));
    worst = std::isnan(d) ? 1e9 : std::max(worst, d);
  }
  return worst;
}

int main() {
  const ColdL2 cold;
  cudaEvent_t e0, e1; CK(cudaEventCreate(&e0)); CK(cudaEventCreate(&e1));
  cudaDeviceProp prop; CK(cudaGetDeviceProperties(&prop, 0));
  const double peak = datasheet_tb_s(prop);
  std::printf("%s: percentages of the %.2f TB/s datasheet\n", prop.name, peak);
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
    const size_t ne = rows * u.d_state, arows = m2 ? u.heads : u.heads * u.head_dim * u.d_state;
    if (fp32) fill_range<float>(st, ne, -1.f, 1.f, 1); else fill_range<__nv_bfloat16>(st, ne, -1.f, 1.f, 1);
    fill_range<__nv_bfloat16>(x, rows, -1.f, 1.f, 2); fill_range<__nv_bfloat16>(z, rows, -2.f, 2.f, 3);
    fill_range<__nv_bfloat16>(dt, rows, -3.f, 1.f, 4); fill_range<float>(dtb, u.heads * u.head_dim, -1.f, 0.f, 5);
    fill_range<float>(A, arows, -8.f, -0.5f, 6); fill_range<__nv_bfloat16>(B, u.batch * u.d_state, -1.f, 1.f, 7);
    fill_range<__nv_bfloat16>(C, u.batch * u.d_state, -1.f, 1.f, 8); fill_range<float>(D, u.heads * u.head_dim, 0.5f, 1.5f, 9);
    CK(cudaDeviceSynchronize());
    u.state = st; u.x = x; u.z = z; u.dt = dt; u.dt_bias = dtb; u.A = A; u.B = B; u.C = C; u.D = D; u.y = y;
    {
      void *st2, *y2;
      CK(cudaMalloc(&st2, sb)); CK(cudaMalloc(&y2, rows * 2));
      CK(cudaMemcpy(st2, st, sb, cudaMemcpyDeviceToDevice));
      old_ssm_update(&u, nullptr);
      SsmUpdate u2 = u; u2.state = st2; u2.y = y2;
      kvplan::gpu::launch_ssm_update(u2, nullptr);
      CK(cudaDeviceSynchronize());
      std::printf("shape %d: new vs previous kernel, max |d|/(1+|ref|): state %.2e, y %.2e\n", shape,
                  max_rel(st2, st, ne, fp32), max_rel(y2, y, rows, false));
      CK(cudaFree(st2)); CK(cudaFree(y2));
    }
    const double bytes = double(kvplan::gpu::ssm_update_bytes(u));
    std::vector<float> t[2];
    for (int i = 0; i < 82; ++i) {
      const int which = i % 2;
      cold.evict(i);
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
                names[shape], bytes / 1e6, med[0], bytes / med[0] * 1e-6, bytes / med[0] * 1e-6 / peak * 100,
                med[1], bytes / med[1] * 1e-6, bytes / med[1] * 1e-6 / peak * 100, med[0] / med[1]);
    for (void* p : {st, x, z, dt, dtb, A, B, C, D, y}) CK(cudaFree(p));
  }
  return 0;
}
