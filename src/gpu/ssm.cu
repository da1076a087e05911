// Mamba single-step updates, in place: the causal-conv1d state shift and the selective state update
// (mamba_ssm's selective_state_update). Each lane owns one 16-byte vector of a state row
// (lanes_per_row = d_state / elements per vector), so a warp reads whole rows, coalesced.
#include <cuda_bf16.h>

#include <cstdint>
#include <cstdlib>

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

// N contiguous elements as 16-byte (or, for 8 bytes in all, 8-byte) loads; p aligned to the total size.
template <typename T, int N>
__device__ __forceinline__ void load_vec(const T* p, T (&out)[N]) {
  constexpr int BYTES = N * int(sizeof(T));
  static_assert(BYTES % 8 == 0, "vector of 8-byte multiples");
  if constexpr (BYTES % 16 == 0) {
#pragma unroll
    for (int i = 0; i < BYTES / 16; ++i) reinterpret_cast<uint4*>(out)[i] = reinterpret_cast<const uint4*>(p)[i];
  } else {
#pragma unroll
    for (int i = 0; i < BYTES / 8; ++i) reinterpret_cast<uint2*>(out)[i] = reinterpret_cast<const uint2*>(p)[i];
  }
}

// R rows per thread: the block covers R slabs of (blockDim / lanes_per_row) consecutive rows. Every
// load a row needs (state vector, x, z, dt, B, C, A, D) is issued for all R rows before any is used,
// so a lane keeps R x 16 bytes of state (and the small operands) in flight.
template <typename ST, int R>
__global__ void __launch_bounds__(256) ssm_update_kernel(SsmUpdate u, int lanes_per_row) {
  constexpr int E = 16 / sizeof(ST);  // state elements per lane
  const unsigned rows = static_cast<unsigned>(u.heads * u.head_dim);  // per sequence
  const unsigned total = static_cast<unsigned>(u.batch) * rows;
  const unsigned slab = blockDim.x / lanes_per_row;
  const unsigned row0 = blockIdx.x * slab * R + threadIdx.x / lanes_per_row;
  const int j = static_cast<int>(threadIdx.x % lanes_per_row);
  const int n0 = j * E;
  const unsigned hd = static_cast<unsigned>(u.head_dim), hpg = static_cast<unsigned>(u.heads / u.groups);
  const unsigned ds = static_cast<unsigned>(u.d_state);
  ST* const state = static_cast<ST*>(u.state);
  const __nv_bfloat16* const X = static_cast<const __nv_bfloat16*>(u.x);
  const __nv_bfloat16* const Z = static_cast<const __nv_bfloat16*>(u.z);
  const __nv_bfloat16* const DT = static_cast<const __nv_bfloat16*>(u.dt);
  const __nv_bfloat16* const Bm = static_cast<const __nv_bfloat16*>(u.B);
  const __nv_bfloat16* const Cm = static_cast<const __nv_bfloat16*>(u.C);
  const float* const Am = static_cast<const float*>(u.A);
  const float* const Dm = static_cast<const float*>(u.D);
  const float* const DTB = static_cast<const float*>(u.dt_bias);

  uint4 raw[R];
  __nv_bfloat16 xr[R], zr[R], dtr[R], Br[R][E], Cr[R][E];
  float Ar[R][E], dtb[R], Dr[R];
#pragma unroll
  for (int k = 0; k < R; ++k) {
    const unsigned row = row0 + k * slab;
    if (row < total) {
      const unsigned b = row / rows, r = row - b * rows;
      const unsigned h = u.mamba2 ? r / hd : r;
      const unsigned g = u.mamba2 ? h / hpg : 0;
      raw[k] = *reinterpret_cast<const uint4*>(state + size_t(row) * ds + n0);
      xr[k] = X[row];
      zr[k] = Z[row];
      dtr[k] = DT[size_t(b) * (u.mamba2 ? u.heads : rows) + h];
      dtb[k] = DTB[h];
      Dr[k] = Dm[h];
      // B, C (E bf16) and Mamba-1's A row slice (E fp32) are contiguous and E-aligned: vector loads.
      const size_t bc = (size_t(b) * u.groups + g) * ds + n0;
      load_vec(Bm + bc, Br[k]);
      load_vec(Cm + bc, Cr[k]);
      if (u.mamba2) {
        Ar[k][0] = Am[h];
      } else {
        load_vec(Am + size_t(r) * ds + n0, Ar[k]);
      }
    }
  }
#pragma unroll
  for (int k = 0; k < R; ++k) {
    const unsigned row = row0 + k * slab;
    const bool active = row < total;
    float acc = 0.f, x = 0.f;
    if (active) {
      const float delta = softplus(__bfloat162float(dtr[k]) + dtb[k]);
      x = __bfloat162float(xr[k]);
      const float dA2 = u.mamba2 ? __expf(delta * Ar[k][0]) : 0.f;
      ST s[E];
      *reinterpret_cast<uint4*>(s) = raw[k];
#pragma unroll
      for (int e = 0; e < E; ++e) {
        const float dA = u.mamba2 ? dA2 : __expf(delta * Ar[k][e]);
        const float ns = to_f(s[e]) * dA + delta * __bfloat162float(Br[k][e]) * x;
        s[e] = from_f<ST>(ns);
        acc += ns * __bfloat162float(Cr[k][e]);
      }
      *reinterpret_cast<uint4*>(state + size_t(row) * ds + n0) = *reinterpret_cast<const uint4*>(s);
    }
    for (int off = lanes_per_row / 2; off > 0; off /= 2) acc += __shfl_xor_sync(0xffffffff, acc, off);
    if (active && j == 0) {
      const float y = (acc + Dr[k] * x) * silu(__bfloat162float(zr[k]));
      static_cast<__nv_bfloat16*>(u.y)[row] = __float2bfloat16(y);
    }
  }
}

template <typename ST>
void launch_ssm_rows(const SsmUpdate& u, int lanes, int rows_per_thread, cudaStream_t s) {
  const int64_t total_rows = u.batch * u.heads * u.head_dim;
  const int64_t per_block = (256 / lanes) * rows_per_thread;
  const unsigned blocks = static_cast<unsigned>((total_rows + per_block - 1) / per_block);
  switch (rows_per_thread) {
    case 1: ssm_update_kernel<ST, 1><<<blocks, 256, 0, s>>>(u, lanes); break;
    case 2: ssm_update_kernel<ST, 2><<<blocks, 256, 0, s>>>(u, lanes); break;
    default: ssm_update_kernel<ST, 4><<<blocks, 256, 0, s>>>(u, lanes); break;
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
  const auto misaligned = [](const void* p, int bytes) { return reinterpret_cast<uintptr_t>(p) % static_cast<uintptr_t>(bytes) != 0; };
  if (misaligned(u.state, 16) || misaligned(u.B, 2 * e) || misaligned(u.C, 2 * e) || (!u.mamba2 && misaligned(u.A, 4 * e)))
    throw Error("ssm update: state, B, C and A must be aligned to their vector loads");
  const int lanes = static_cast<int>(u.d_state / e);
  const int64_t total_rows = u.batch * u.heads * u.head_dim;
  if (total_rows * lanes >= (int64_t(1) << 31)) throw Error("ssm update: batch x rows x d_state too large");
  static const int rows_per_thread = [] {  // KVPLAN_SSM_ROWS: experiment switch (1, 2 or 4)
    const char* e = std::getenv("KVPLAN_SSM_ROWS");
    return e ? std::atoi(e) : 2;
  }();
  if (u.state_fp32) launch_ssm_rows<float>(u, lanes, rows_per_thread, s);
  else launch_ssm_rows<__nv_bfloat16>(u, lanes, rows_per_thread, s);
  CUDA_CHECK_LAUNCH();
}

int64_t ssm_update_bytes(const SsmUpdate& u) {
  const int64_t rows = u.batch * u.heads * u.head_dim;
  const int64_t state = rows * u.d_state * (u.state_fp32 ? 4 : 2);
  const int64_t a = u.mamba2 ? u.heads * 4 : u.heads * u.head_dim * u.d_state * 4;
  return 2 * state + rows * 2 * 3 + u.batch * u.groups * u.d_state * 2 * 2 + a;
}

}  // namespace kvplan::gpu
