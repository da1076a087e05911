// Mamba single-step updates, in place: the causal-conv1d state shift and the selective state update
// (mamba_ssm's selective_state_update). Each lane owns one 16-byte vector of a state row
// (lanes_per_row = d_state / elements per vector), so a warp reads whole rows, coalesced.
#include <cuda_bf16.h>

#include "gpu/cuda_check.h"
#include "gpu/kernels.h"

namespace kvplan::gpu {
namespace {

__device__ __forceinline__ float silu(float x) { return x / (1.f + __expf(-x)); }
__device__ __forceinline__ float softplus(float x) { return x > 20.f ? x : log1pf(__expf(x)); }

template <typename ST>
__device__ __forceinline__ float to_f(ST v) { return static_cast<float>(v); }
template <>
__device__ __forceinline__ float to_f(__nv_bfloat16 v) { return __bfloat162float(v); }
template <typename ST>
__device__ __forceinline__ ST from_f(float v) { return static_cast<ST>(v); }
template <>
__device__ __forceinline__ __nv_bfloat16 from_f(float v) { return __float2bfloat16(v); }

template <typename ST>
__global__ void conv_update_kernel(ConvUpdate c) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= c.batch * c.channels) return;
  const int64_t ch = i % c.channels;
  const int keep = static_cast<int>(c.width - 1);
  ST* st = static_cast<ST*>(c.state) + i * keep;
  const float* w = static_cast<const float*>(c.weight) + ch * c.width;
  const float xn = __bfloat162float(static_cast<const __nv_bfloat16*>(c.x)[i]);
  float acc = static_cast<const float*>(c.bias)[ch];
  float prev[8];
  for (int k = 0; k < keep && k < 8; ++k) {
    prev[k] = to_f(st[k]);
    acc += w[k] * prev[k];
  }
  acc += w[keep] * xn;
  for (int k = 0; k + 1 < keep && k + 1 < 8; ++k) st[k] = from_f<ST>(prev[k + 1]);
  if (keep > 0) st[keep - 1] = from_f<ST>(xn);
  static_cast<__nv_bfloat16*>(c.out)[i] = __float2bfloat16(silu(acc));
}

template <typename ST>
__global__ void __launch_bounds__(256) ssm_update_kernel(SsmUpdate u, int lanes_per_row) {
  constexpr int E = 16 / sizeof(ST);  // state elements per lane
  const int64_t rows = u.heads * u.head_dim;  // per sequence
  const int64_t gid = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t row = gid / lanes_per_row;  // over batch * rows
  const int j = static_cast<int>(gid % lanes_per_row);
  const bool active = row < u.batch * rows;
  const int64_t b = active ? row / rows : 0;
  const int64_t r = active ? row % rows : 0;
  const int64_t h = u.mamba2 ? r / u.head_dim : r;
  const int64_t g = u.mamba2 ? h / (u.heads / u.groups) : 0;
  const int n0 = j * E;

  float acc = 0.f, x = 0.f;
  if (active) {
    ST* sp = static_cast<ST*>(u.state) + row * u.d_state + n0;
    const float dt_raw = __bfloat162float(static_cast<const __nv_bfloat16*>(u.dt)[b * (u.mamba2 ? u.heads : rows) + h]);
    const float delta = softplus(dt_raw + static_cast<const float*>(u.dt_bias)[h]);
    x = __bfloat162float(static_cast<const __nv_bfloat16*>(u.x)[row]);
    const __nv_bfloat16* Bp = static_cast<const __nv_bfloat16*>(u.B) + (b * u.groups + g) * u.d_state + n0;
    const __nv_bfloat16* Cp = static_cast<const __nv_bfloat16*>(u.C) + (b * u.groups + g) * u.d_state + n0;
    const float* Ap = static_cast<const float*>(u.A);
    const float dA2 = u.mamba2 ? __expf(delta * Ap[h]) : 0.f;
    ST s[E];
    *reinterpret_cast<uint4*>(s) = *reinterpret_cast<const uint4*>(sp);
#pragma unroll
    for (int e = 0; e < E; ++e) {
      const float dA = u.mamba2 ? dA2 : __expf(delta * Ap[r * u.d_state + n0 + e]);
      const float ns = to_f(s[e]) * dA + delta * __bfloat162float(Bp[e]) * x;
      s[e] = from_f<ST>(ns);
      acc += ns * __bfloat162float(Cp[e]);
    }
    *reinterpret_cast<uint4*>(sp) = *reinterpret_cast<const uint4*>(s);
  }
  for (int off = lanes_per_row / 2; off > 0; off /= 2) acc += __shfl_xor_sync(0xffffffff, acc, off);
  if (active && j == 0) {
    const float z = __bfloat162float(static_cast<const __nv_bfloat16*>(u.z)[row]);
    const float y = (acc + static_cast<const float*>(u.D)[h] * x) * silu(z);
    static_cast<__nv_bfloat16*>(u.y)[row] = __float2bfloat16(y);
  }
}

}  // namespace

void launch_conv_update(const ConvUpdate& c, cudaStream_t s) {
  if (c.width < 2 || c.width > 9) throw Error("conv update: width must be 2..9");
  const int64_t n = c.batch * c.channels;
  const unsigned blocks = static_cast<unsigned>((n + 255) / 256);
  if (c.state_fp32) conv_update_kernel<float><<<blocks, 256, 0, s>>>(c);
  else conv_update_kernel<__nv_bfloat16><<<blocks, 256, 0, s>>>(c);
  CUDA_CHECK_LAUNCH();
}

void launch_ssm_update(const SsmUpdate& u, cudaStream_t s) {
  const int e = u.state_fp32 ? 4 : 8;
  if (u.d_state % e || u.d_state / e > 32 || (u.d_state / e & (u.d_state / e - 1)))
    throw Error("ssm update: d_state must be a power of two between 8 and 256");
  if (u.mamba2 && (u.groups <= 0 || u.heads % u.groups)) throw Error("ssm update: heads must be a multiple of groups");
  const int lanes = static_cast<int>(u.d_state / e);
  const int64_t threads = u.batch * u.heads * u.head_dim * lanes;
  const unsigned blocks = static_cast<unsigned>((threads + 255) / 256);
  if (u.state_fp32) ssm_update_kernel<float><<<blocks, 256, 0, s>>>(u, lanes);
  else ssm_update_kernel<__nv_bfloat16><<<blocks, 256, 0, s>>>(u, lanes);
  CUDA_CHECK_LAUNCH();
}

int64_t ssm_update_bytes(const SsmUpdate& u) {
  const int64_t rows = u.batch * u.heads * u.head_dim;
  const int64_t state = rows * u.d_state * (u.state_fp32 ? 4 : 2);
  const int64_t a = u.mamba2 ? u.heads * 4 : u.heads * u.head_dim * u.d_state * 4;
  return 2 * state + rows * 2 * 3 + u.batch * u.groups * u.d_state * 2 * 2 + a;
}

}  // namespace kvplan::gpu
