// Mamba single-step updates, in place: the causal-conv1d state shift and the selective state update
// (mamba_ssm's selective_state_update). Each lane owns one or two 16-byte vectors of a state row,
// so the lanes of a row read it whole, coalesced.
#include <cuda_bf16.h>

#include <cstdint>
#include <cstdlib>
#include <string>

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

// Unsigned division by a divisor fixed at launch, without the device's ~20-instruction integer
// divide: q = (umulhi(n, m) + n) >> l with l = ceil(log2 d) and m = floor(2^32 (2^l - d) / d) + 1
// (Granlund and Montgomery, "Division by invariant integers using multiplication", 1994).
struct FastDiv {
  uint32_t d = 1, m = 0, l = 0;
  FastDiv() = default;
  explicit FastDiv(uint32_t divisor) : d(divisor) {
    while ((uint64_t{1} << l) < d) ++l;
    m = static_cast<uint32_t>(((uint64_t{1} << 32) * ((uint64_t{1} << l) - d)) / d + 1);
  }
  __device__ __forceinline__ uint32_t div(uint32_t n) const {
    return static_cast<uint32_t>((uint64_t{__umulhi(n, m)} + n) >> l);
  }
};

struct Shape {
  FastDiv rows;  // rows per sequence: the batch index is row / rows
  FastDiv hd;    // Mamba-2 head_dim: the head is (row % rows) / hd
  FastDiv hpg;   // Mamba-2 heads per group
};

// A row of d_state elements is split over lanes_per_row lanes, each holding V vectors of E
// elements (16 bytes) at vectors j, j + L, ... (L = lanes_per_row), so a lane carries V x 16 bytes
// of state. R rows per thread: the block covers R slabs of (blockDim / L) consecutive rows, and
// every load a row needs (state, x, z, dt, B, C, A, D) is issued for all R rows before any is used.
// M2 fixes Mamba-2 (one scalar A per head, B and C per group) at compile time; otherwise the kind
// is u.mamba2 at run time, the path Mamba-1 takes. MINB is the blocks a multiprocessor must hold
// (__launch_bounds__), which caps the registers a thread may use. Measured side by side on an H100
// (bench/experiments/ssm_compare/sweep.sh): a bf16-state Mamba-2 thread took 77 registers with the
// kind at run time, three blocks a multiprocessor and too few bytes in flight; fixed at compile
// time and held to 64 registers (four blocks), it streams 7% faster. Mamba-1 stays on the run-time
// path: with the kind fixed, the compiler hoists every element's exponential and a bf16 thread of
// two rows needs about 100 registers instead of 64 (31% less throughput), or spills when held to 64.
// MINB 0 leaves the register budget to the compiler (as __launch_bounds__ with one argument does;
// a minimum of 1 block already changes its choice).
template <typename ST, bool M2, int V, int R, int MINB>
__global__ void __launch_bounds__(256, MINB) ssm_update_kernel(SsmUpdate u, Shape sh, int lanes_per_row) {
  constexpr int E = 16 / sizeof(ST);  // state elements per vector
  constexpr int AE = M2 ? 1 : E;      // A elements a vector needs
  const bool m2 = M2 || u.mamba2;
  const unsigned rows = sh.rows.d;
  const unsigned total = static_cast<unsigned>(u.batch) * rows;
  const unsigned L = static_cast<unsigned>(lanes_per_row);
  const unsigned slab = blockDim.x / L;
  const unsigned row0 = blockIdx.x * slab * R + threadIdx.x / L;
  const int j = static_cast<int>(threadIdx.x % L);
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

  uint4 raw[R][V];
  __nv_bfloat16 xr[R], zr[R], dtr[R], Br[R][V][E], Cr[R][V][E];
  float Ar[R][V][AE], dtb[R], Dr[R];
#pragma unroll
  for (int k = 0; k < R; ++k) {
    const unsigned row = row0 + k * slab;
    if (row < total) {
      const unsigned b = sh.rows.div(row), r = row - b * rows;
      const unsigned h = m2 ? sh.hd.div(r) : r;
      const unsigned g = m2 ? sh.hpg.div(h) : 0;
      const size_t bc = (size_t(b) * u.groups + g) * ds;
#pragma unroll
      for (int v = 0; v < V; ++v) {
        const unsigned n0 = (v * L + j) * E;
        raw[k][v] = *reinterpret_cast<const uint4*>(state + size_t(row) * ds + n0);
        // B, C (E bf16) and Mamba-1's A row slice (E fp32) are contiguous and E-aligned: vector loads.
        load_vec(Bm + bc + n0, Br[k][v]);
        load_vec(Cm + bc + n0, Cr[k][v]);
        if constexpr (M2) Ar[k][v][0] = Am[h];
        else if (m2) Ar[k][v][0] = Am[h];
        else load_vec(Am + size_t(r) * ds + n0, Ar[k][v]);
      }
      xr[k] = X[row];
      zr[k] = Z[row];
      dtr[k] = DT[size_t(b) * (m2 ? u.heads : rows) + h];
      dtb[k] = DTB[h];
      Dr[k] = Dm[h];
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
      const float dA2 = m2 ? __expf(delta * Ar[k][0][0]) : 0.f;
      const float dx = delta * x;
#pragma unroll
      for (int v = 0; v < V; ++v) {
        ST s[E];
        *reinterpret_cast<uint4*>(s) = raw[k][v];
#pragma unroll
        for (int e = 0; e < E; ++e) {
          const float dA = m2 ? dA2 : __expf(delta * Ar[k][v][e % AE]);
          const float ns = fmaf(to_f(s[e]), dA, dx * __bfloat162float(Br[k][v][e]));
          s[e] = from_f<ST>(ns);
          acc += ns * __bfloat162float(Cr[k][v][e]);
        }
        *reinterpret_cast<uint4*>(state + size_t(row) * ds + (v * L + j) * E) = *reinterpret_cast<const uint4*>(s);
      }
    }
    for (unsigned off = L / 2; off > 0; off /= 2) acc += __shfl_xor_sync(0xffffffff, acc, off);
    if (active && j == 0) {
      const float y = (acc + Dr[k] * x) * silu(__bfloat162float(zr[k]));
      static_cast<__nv_bfloat16*>(u.y)[row] = __float2bfloat16(y);
    }
  }
}

template <typename ST, bool M2, int V>
void launch_ssm_rows(const SsmUpdate& u, const Shape& sh, int lanes, int rows_per_thread, cudaStream_t s) {
  const int64_t total_rows = u.batch * u.heads * u.head_dim;
  const int64_t per_block = (256 / lanes) * rows_per_thread;
  const unsigned blocks = static_cast<unsigned>((total_rows + per_block - 1) / per_block);
  // A bf16 Mamba-2 thread of one row is held to 64 registers (four blocks a multiprocessor); the
  // other variants keep the compiler's choice (held to 64, those of two or more rows spill).
  constexpr int MINB = M2 && sizeof(ST) == 2 ? 4 : 0;
  switch (rows_per_thread) {  // 1, 2 or 4 (launch_ssm_update), matching per_block above
    case 1: ssm_update_kernel<ST, M2, V, 1, MINB><<<blocks, 256, 0, s>>>(u, sh, lanes); break;
    case 2: ssm_update_kernel<ST, M2, V, 2, 0><<<blocks, 256, 0, s>>>(u, sh, lanes); break;
    default: ssm_update_kernel<ST, M2, V, 4, 0><<<blocks, 256, 0, s>>>(u, sh, lanes); break;
  }
}

template <typename ST, bool M2>
void launch_ssm_vectors(const SsmUpdate& u, const Shape& sh, int vectors, int per_lane, int rows_per_thread,
                        cudaStream_t s) {
  if (per_lane == 2) launch_ssm_rows<ST, M2, 2>(u, sh, vectors / 2, rows_per_thread, s);
  else launch_ssm_rows<ST, M2, 1>(u, sh, vectors, rows_per_thread, s);
}

template <typename ST>
void launch_ssm_kind(const SsmUpdate& u, const Shape& sh, int vectors, int per_lane, int rows_per_thread,
                     cudaStream_t s) {
  if (u.mamba2) launch_ssm_vectors<ST, true>(u, sh, vectors, per_lane, rows_per_thread, s);
  else launch_ssm_vectors<ST, false>(u, sh, vectors, per_lane, rows_per_thread, s);
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
  if (u.batch < 1 || u.heads < 1 || u.head_dim < 1) throw Error("ssm update: batch, heads and head_dim must be positive");
  if (u.d_state < e || u.d_state % e || u.d_state / e > 32 || (u.d_state / e & (u.d_state / e - 1)))
    throw Error(std::string("ssm update: d_state must be a power of two between ") + (u.state_fp32 ? "4" : "8") +
                " and " + (u.state_fp32 ? "128" : "256"));
  if (u.mamba2 && (u.groups <= 0 || u.heads % u.groups)) throw Error("ssm update: heads must be a multiple of groups");
  const auto misaligned = [](const void* p, int bytes) { return reinterpret_cast<uintptr_t>(p) % static_cast<uintptr_t>(bytes) != 0; };
  if (misaligned(u.state, 16) || misaligned(u.B, 2 * e) || misaligned(u.C, 2 * e) || (!u.mamba2 && misaligned(u.A, 4 * e)))
    throw Error("ssm update: state, B, C and A must be aligned to their vector loads");
  const int vectors = static_cast<int>(u.d_state / e);  // 16-byte vectors per state row
  const int64_t total_rows = u.batch * u.heads * u.head_dim;
  if (total_rows * vectors >= (int64_t(1) << 31)) throw Error("ssm update: batch x rows x d_state too large");
  // Rows of 8 or more vectors (Mamba-2's d_state 128) are split over half as many lanes, two vectors
  // each, one row per thread; shorter rows (Mamba-1's d_state 16) take one vector per lane and two
  // rows per thread. Measured side by side on an H200 (bench/experiments/ssm_compare,
  // docs/validation/README.md item 9): each the fastest of rows 1, 2, 4 per thread.
  // KVPLAN_SSM_ROWS / KVPLAN_SSM_VECTORS: experiment switches (rows per thread 1, 2 or 4; vectors per lane 1 or 2).
  static const int rows_env = [] {
    const char* v = std::getenv("KVPLAN_SSM_ROWS");
    const int r = v ? std::atoi(v) : 0;
    if (v && r != 1 && r != 2 && r != 4) throw Error("KVPLAN_SSM_ROWS must be 1, 2 or 4");
    return r;
  }();
  static const int per_lane_max = [] {
    const char* v = std::getenv("KVPLAN_SSM_VECTORS");
    return v ? std::atoi(v) : 2;
  }();
  const int per_lane = vectors >= 8 && per_lane_max >= 2 ? 2 : 1;
  const int rows_per_thread = rows_env > 0 ? rows_env : per_lane == 2 ? 1 : 2;
  Shape sh;
  sh.rows = FastDiv(static_cast<uint32_t>(u.heads * u.head_dim));
  sh.hd = FastDiv(static_cast<uint32_t>(u.head_dim));
  sh.hpg = FastDiv(static_cast<uint32_t>(u.mamba2 ? u.heads / u.groups : 1));
  if (u.state_fp32) launch_ssm_kind<float>(u, sh, vectors, per_lane, rows_per_thread, s);
  else launch_ssm_kind<__nv_bfloat16>(u, sh, vectors, per_lane, rows_per_thread, s);
  CUDA_CHECK_LAUNCH();
}

int64_t ssm_update_bytes(const SsmUpdate& u) {
  const int64_t rows = u.batch * u.heads * u.head_dim;
  const int64_t state = rows * u.d_state * (u.state_fp32 ? 4 : 2);
  const int64_t a = u.mamba2 ? u.heads * 4 : u.heads * u.head_dim * u.d_state * 4;
  return 2 * state + rows * 2 * 3 + u.batch * u.groups * u.d_state * 2 * 2 + a;
}

}  // namespace kvplan::gpu
