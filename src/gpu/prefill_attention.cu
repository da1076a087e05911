// Causal prefill attention, FlashAttention-2 style (Dao 2023): a block owns 64 query rows (16 per
// warp, Q fragments in registers), streams 64-key K/V tiles through shared memory with cp.async
// (double-buffered), keeps the running max/sum per row and never materializes P x P. Tensor cores
// through mma.sync m16n8k16 (bf16 in, fp32 accumulate). Heavy (late) query blocks launch first.
#include <cuda_bf16.h>

#include "gpu/cuda_check.h"
#include "gpu/kernels.h"
#include "gpu/mma.cuh"

namespace kvplan::gpu {
namespace {

constexpr int kBM = 64, kBN = 64, kThreads = 128;

template <int D>
struct PCfg {
  static constexpr int LD = D + 8;
  static constexpr int Q_BYTES = kBM * LD * 2;
  static constexpr int KV_BYTES = 2 * 2 * kBN * LD * 2;  // K and V, two stages
  static constexpr int SMEM = Q_BYTES + KV_BYTES;
};

template <int D>
__global__ void __launch_bounds__(kThreads) prefill_kernel(const PrefillAttention a) {
  using C = PCfg<D>;
  using T = __nv_bfloat16;
  using M = Mma<T>;
  extern __shared__ __align__(16) unsigned char smem[];
  T* Qs = reinterpret_cast<T*>(smem);
  T* Ks = reinterpret_cast<T*>(smem + C::Q_BYTES);          // [2][kBN][LD]
  T* Vs = Ks + 2 * kBN * C::LD;                             // [2][kBN][LD]
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int qblocks = static_cast<int>((a.tokens + kBM - 1) / kBM);
  const int qb = qblocks - 1 - static_cast<int>(blockIdx.x);
  const int64_t h = blockIdx.y, b = blockIdx.z;
  const int64_t kvh = h / (a.heads / a.kv_heads);
  const T* q = static_cast<const T*>(a.q) + ((b * a.heads + h) * a.tokens) * D;
  const T* k = static_cast<const T*>(a.k) + ((b * a.kv_heads + kvh) * a.tokens) * D;
  const T* v = static_cast<const T*>(a.v) + ((b * a.kv_heads + kvh) * a.tokens) * D;
  const int64_t q0 = int64_t(qb) * kBM;

  for (int i = tid; i < kBM * D / 8; i += kThreads) {
    const int r = i / (D / 8), c = (i % (D / 8)) * 8;
    const bool ok = q0 + r < a.tokens;
    cp_async16(Qs + r * C::LD + c, q + (ok ? q0 + r : 0) * D + c, ok);
  }
  auto load_kv = [&](int tile, int stage) {
    const int64_t k0 = int64_t(tile) * kBN;
    for (int i = tid; i < kBN * D / 8; i += kThreads) {
      const int r = i / (D / 8), c = (i % (D / 8)) * 8;
      const bool ok = k0 + r < a.tokens;
      cp_async16(Ks + (stage * kBN + r) * C::LD + c, k + (ok ? k0 + r : 0) * D + c, ok);
      cp_async16(Vs + (stage * kBN + r) * C::LD + c, v + (ok ? k0 + r : 0) * D + c, ok);
    }
  };
  const int ntiles = static_cast<int>((q0 + kBM + kBN - 1) / kBN);  // causal: keys < q0 + kBM
  load_kv(0, 0);
  cp_async_commit();

  unsigned qa[D / 16][4];
  float o[D / 8][4];
#pragma unroll
  for (int n = 0; n < D / 8; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.f;
  float m_run[2] = {-INFINITY, -INFINITY}, l_run[2] = {0.f, 0.f};
  const float scale_log2 = a.scale * 1.4426950408889634f;
  const int64_t row0 = q0 + warp * 16 + lane / 4;  // this thread's rows: row0 and row0 + 8

  for (int it = 0; it < ntiles; ++it) {
    if (it + 1 < ntiles) load_kv(it + 1, (it + 1) % 2);
    cp_async_commit();
    cp_async_wait<1>();
    __syncthreads();
    if (it == 0) {
#pragma unroll
      for (int kk = 0; kk < D / 16; ++kk) ldmatrix_x4(qa[kk], Qs + (warp * 16 + (lane % 16)) * C::LD + kk * 16 + (lane / 16) * 8);
    }
    const T* Kt = Ks + (it % 2) * kBN * C::LD;
    const T* Vt = Vs + (it % 2) * kBN * C::LD;
    float s[kBN / 8][4];
#pragma unroll
    for (int n = 0; n < kBN / 8; ++n) s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.f;
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk)
#pragma unroll
      for (int n = 0; n < kBN / 16; ++n) {
        unsigned kb[4];
        ldmatrix_x4(kb, Kt + (n * 16 + (lane % 8) + (lane / 16) * 8) * C::LD + kk * 16 + ((lane / 8) % 2) * 8);
        M::run(s[2 * n], qa[kk], kb[0], kb[1]);
        M::run(s[2 * n + 1], qa[kk], kb[2], kb[3]);
      }
    const int64_t key0 = int64_t(it) * kBN;
    const bool diag = key0 + kBN > q0;  // tile crosses the causal boundary or the end
#pragma unroll
    for (int hf = 0; hf < 2; ++hf) {
      const int64_t row = row0 + hf * 8;
      float mx = -INFINITY;
#pragma unroll
      for (int n = 0; n < kBN / 8; ++n)
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const int64_t key = key0 + n * 8 + (lane % 4) * 2 + e;
          float val = s[n][2 * hf + e] * scale_log2;
          if (diag && (key > row || key >= a.tokens)) val = -INFINITY;
          s[n][2 * hf + e] = val;
          mx = fmaxf(mx, val);
        }
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffff, mx, 1));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffff, mx, 2));
      const float m_new = fmaxf(m_run[hf], mx);
      const float m_use = m_new == -INFINITY ? 0.f : m_new;
      const float corr = exp2f(m_run[hf] - m_use);
      float sum = 0.f;
#pragma unroll
      for (int n = 0; n < kBN / 8; ++n) {
        s[n][2 * hf] = exp2f(s[n][2 * hf] - m_use);
        s[n][2 * hf + 1] = exp2f(s[n][2 * hf + 1] - m_use);
        sum += s[n][2 * hf] + s[n][2 * hf + 1];
      }
      l_run[hf] = l_run[hf] * corr + sum;
      m_run[hf] = m_new;
#pragma unroll
      for (int n = 0; n < D / 8; ++n) {
        o[n][2 * hf] *= corr;
        o[n][2 * hf + 1] *= corr;
      }
    }
#pragma unroll
    for (int j = 0; j < kBN / 16; ++j) {
      const unsigned pa[4] = {M::pack(s[2 * j][0], s[2 * j][1]), M::pack(s[2 * j][2], s[2 * j][3]),
                              M::pack(s[2 * j + 1][0], s[2 * j + 1][1]), M::pack(s[2 * j + 1][2], s[2 * j + 1][3])};
#pragma unroll
      for (int n = 0; n < D / 16; ++n) {
        unsigned vb[4];
        ldmatrix_x4_trans(vb, Vt + (j * 16 + (lane % 8) + ((lane / 8) % 2) * 8) * C::LD + n * 16 + (lane / 16) * 8);
        M::run(o[2 * n], pa, vb[0], vb[1]);
        M::run(o[2 * n + 1], pa, vb[2], vb[3]);
      }
    }
    __syncthreads();  // the next iteration's load overwrites this stage
  }
  cp_async_wait<0>();
#pragma unroll
  for (int hf = 0; hf < 2; ++hf) {
    l_run[hf] += __shfl_xor_sync(0xffffffff, l_run[hf], 1);
    l_run[hf] += __shfl_xor_sync(0xffffffff, l_run[hf], 2);
    const int64_t row = row0 + hf * 8;
    if (row >= a.tokens) continue;
    const float inv = l_run[hf] > 0 ? 1.f / l_run[hf] : 0.f;
    T* out = static_cast<T*>(a.out) + ((b * a.heads + h) * a.tokens + row) * D + (lane % 4) * 2;
#pragma unroll
    for (int n = 0; n < D / 8; ++n) *reinterpret_cast<unsigned*>(out + n * 8) = M::pack(o[n][2 * hf] * inv, o[n][2 * hf + 1] * inv);
  }
}

template <int D>
void launch(const PrefillAttention& a, cudaStream_t s) {
  static bool configured = false;
  if (!configured) {
    CUDA_CHECK(cudaFuncSetAttribute(prefill_kernel<D>, cudaFuncAttributeMaxDynamicSharedMemorySize, PCfg<D>::SMEM));
    configured = true;
  }
  const dim3 grid(static_cast<unsigned>((a.tokens + kBM - 1) / kBM), static_cast<unsigned>(a.heads), static_cast<unsigned>(a.batch));
  prefill_kernel<D><<<grid, kThreads, PCfg<D>::SMEM, s>>>(a);
  CUDA_CHECK_LAUNCH();
}

}  // namespace

void launch_prefill_attention(const PrefillAttention& a, cudaStream_t s) {
  if (a.heads % a.kv_heads) throw Error("prefill attention: heads must be a multiple of kv_heads");
  if (a.dim == 128) return launch<128>(a, s);
  if (a.dim == 64) return launch<64>(a, s);
  throw Error("prefill attention: no compiled variant for head_dim " + std::to_string(a.dim));
}

double prefill_attention_flops(const PrefillAttention& a) {
  const double t = static_cast<double>(a.tokens);
  return 4.0 * static_cast<double>(a.batch * a.heads * a.dim) * t * (t + 1) / 2.0;
}

}  // namespace kvplan::gpu
