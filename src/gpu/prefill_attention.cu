// Causal prefill attention, FlashAttention-2 style (Dao 2023): a block owns 64 query rows (16 per
// warp, Q fragments in registers), streams 64-key K/V tiles through shared memory with cp.async
// (double-buffered), keeps the running max/sum per row and never materializes P x P. Tensor cores
// through mma.sync m16n8k16 (bf16 in, fp32 accumulate). Heavy (late) query blocks launch first.
#include <cuda_bf16.h>

#include <type_traits>

#include "gpu/cuda_check.h"
#include "gpu/kernels.h"
#include "gpu/mma.cuh"
#include "gpu/wgmma.cuh"

namespace kvplan::gpu {
namespace {

constexpr int kBM = 64, kBN = 64, kThreads = 128;

// The epilogue both kernels share: this thread's rows are row0 and row0 + 8 of an MMA fragment, each
// spread over a quad of 4 threads (columns 2 (lane % 4) + {0, 1} of every 8). Sums l over the quad and
// calls store(hf, out, inv) for each row inside the sequence, with out at the thread's first column.
template <int D, typename Store>
__device__ __forceinline__ void store_rows(const PrefillAttention& a, int64_t b, int64_t h, int64_t row0, int lane,
                                           float (&l_run)[2], Store store) {
#pragma unroll
  for (int hf = 0; hf < 2; ++hf) {
    l_run[hf] += __shfl_xor_sync(0xffffffff, l_run[hf], 1);
    l_run[hf] += __shfl_xor_sync(0xffffffff, l_run[hf], 2);
    const int64_t row = row0 + hf * 8;
    if (row >= a.tokens) continue;
    store(hf, static_cast<__nv_bfloat16*>(a.out) + ((b * a.heads + h) * a.tokens + row) * D + (lane % 4) * 2,
          l_run[hf] > 0 ? 1.f / l_run[hf] : 0.f);
  }
}

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
  store_rows<D>(a, b, h, row0, lane, l_run, [&](int hf, T* out, float inv) {
#pragma unroll
    for (int n = 0; n < D / 8; ++n) *reinterpret_cast<unsigned*>(out + n * 8) = M::pack(o[n][2 * hf] * inv, o[n][2 * hf + 1] * inv);
  });
}

// Both kernels' launch: one block per (block_rows queries, head, sequence), shared memory raised once.
template <auto Kernel>
void launch_kernel(const PrefillAttention& a, cudaStream_t s, int block_rows, int threads, int smem) {
  static bool configured = false;
  if (!configured) {
    CUDA_CHECK(cudaFuncSetAttribute(Kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
    configured = true;
  }
  const dim3 grid(static_cast<unsigned>((a.tokens + block_rows - 1) / block_rows), static_cast<unsigned>(a.heads),
                  static_cast<unsigned>(a.batch));
  Kernel<<<grid, threads, smem, s>>>(a);
  CUDA_CHECK_LAUNCH();
}

template <int D>
void launch(const PrefillAttention& a, cudaStream_t s) {
  launch_kernel<prefill_kernel<D>>(a, s, kBM, kThreads, PCfg<D>::SMEM);
}


// The Hopper variant (sm_90a, head_dim 64 or 128): the same algorithm on warpgroup MMAs, FlashAttention-3
// style scheduling (Shah et al. 2024) without its copy engine. A block of two warpgroups owns 128
// query rows (64 each). All 256 threads stream 128-key K/V tiles into a 3-stage shared-memory ring
// with cp.async (128-byte swizzled rows: the layout the tensor cores read directly); each stage has
// a "full" mbarrier (every thread's copies landed) and an "empty" one (both warpgroups done with it),
// so the warpgroups are not held in step. Each warpgroup computes S = Q K^T with Q and K from shared
// memory (m64n128k16), its online softmax in registers, and O += P V with P from registers and V read
// transposed from shared memory (one m64n64k16 per 16 keys and 64 columns of head_dim). The two
// warpgroups take turns issuing S (named barriers, "ping-pong"), so one's softmax (exp2 on the
// multi-function units) runs while the other's matrix multiply occupies the tensor cores.
// Off sm_90a the kernel body is empty and its helpers unused: no "declared but never referenced".
#pragma nv_diag_suppress 177
namespace hopper {
constexpr int kBM = 128, kBN = 128, kThreads = 256, kStages = 3;
constexpr uint32_t kHalf = kBN * 128;  // bytes of one 64-column block of a tile (Q's too: kBM == kBN)
template <int D>  // head_dim 64 or 128: one or two 64-column blocks
struct Shape {
  static constexpr int kBlocks = D / 64;
  static constexpr uint32_t kTileBytes = kBN * D * 2;  // one K or V tile: kBlocks x [128 rows][128 B]
  static constexpr uint32_t kQBytes = kBM * D * 2;
  static constexpr uint32_t kRingBytes = kStages * 2 * kTileBytes;
  static constexpr uint32_t kSmem = 1024 + kQBytes + kRingBytes + 2 * kStages * 8;  // alignment slack, Q, ring, barriers
};

// 2^x on the multi-function unit, flushing denormals (one MUFU.EX2; exp2f adds range fix-ups).
__device__ __forceinline__ float exp2_approx(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

// Rows [row0, row0 + 128) of a [tokens][D] bf16 matrix into a swizzled tile, rows past the end zero.
// A row is D / 8 16-byte chunks; thread tid copies chunk tid % (D / 8) of rows tid / (D / 8) + R m
// (R = 256 / (D / 8) rows per pass, a multiple of 8): rows R apart share their swizzle (row % 8), so
// a thread's chunks sit R x 128 bytes apart in the tile.
template <int D>
__device__ __forceinline__ void load_tile(unsigned char* dst, const __nv_bfloat16* src, int64_t row0, int64_t rows_total,
                                          int tid) {
  constexpr int kChunks = D / 8, kRows = kThreads / kChunks, kPasses = kBN / kRows;
  static_assert(kRows % 8 == 0 && kPasses * kRows == kBN, "whole passes of 8-row swizzle atoms");
  const int lr = tid / kChunks, lc = (tid % kChunks) * 8;
  unsigned char* d = dst + (lc / 64) * kHalf + sw128_offset(lr, lc % 64);
  const __nv_bfloat16* g = src + (row0 + lr) * D + lc;
  if (row0 + kBN <= rows_total) {
#pragma unroll
    for (int m = 0; m < kPasses; ++m) cp_async16(d + m * kRows * 128, g + m * kRows * D, true);
  } else {
#pragma unroll
    for (int m = 0; m < kPasses; ++m) {
      const bool ok = row0 + lr + kRows * m < rows_total;
      cp_async16(d + m * kRows * 128, ok ? g + m * kRows * D : src, ok);
    }
  }
}

template <int D>
__global__ void __launch_bounds__(kThreads, 1) prefill_kernel(const PrefillAttention a) {
#ifdef KVPLAN_WGMMA
  using C = Shape<D>;
  using T = __nv_bfloat16;
  using M = Mma<T>;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  unsigned char* smem = smem_raw + ((1024 - smem_addr(smem_raw) % 1024) % 1024);  // swizzle atoms: 1024-byte aligned
  unsigned char* Qs = smem;
  unsigned char* ring = smem + C::kQBytes;  // stage s: K at s * 2 * C::kTileBytes, V C::kTileBytes after it
  uint64_t* full = reinterpret_cast<uint64_t*>(ring + C::kRingBytes);
  uint64_t* empty = full + kStages;
  const int tid = threadIdx.x, wg = tid / 128, warp = (tid % 128) / 32, lane = tid % 32;
  const int qblocks = static_cast<int>((a.tokens + kBM - 1) / kBM);
  const int qb = qblocks - 1 - static_cast<int>(blockIdx.x);
  const int64_t h = blockIdx.y, b = blockIdx.z;
  const int64_t kvh = h / (a.heads / a.kv_heads);
  const T* q = static_cast<const T*>(a.q) + ((b * a.heads + h) * a.tokens) * D;
  const T* k = static_cast<const T*>(a.k) + ((b * a.kv_heads + kvh) * a.tokens) * D;
  const T* v = static_cast<const T*>(a.v) + ((b * a.kv_heads + kvh) * a.tokens) * D;
  const int64_t q0 = int64_t(qb) * kBM;
  const int64_t keys = q0 + kBM < a.tokens ? q0 + kBM : a.tokens;  // causal: keys < q0 + kBM
  const int ntiles = static_cast<int>((keys + kBN - 1) / kBN);

  if (tid == 0)
    for (int st = 0; st < kStages; ++st) {
      wgmma::mbar_init(&full[st], kThreads);
      wgmma::mbar_init(&empty[st], kThreads);
    }
  __syncthreads();
  auto load = [&](int t) {  // tile t into stage t % kStages; its full barrier completes when all copies landed
    unsigned char* st = ring + (t % kStages) * 2 * C::kTileBytes;
    load_tile<D>(st, k, int64_t(t) * kBN, a.tokens, tid);
    load_tile<D>(st + C::kTileBytes, v, int64_t(t) * kBN, a.tokens, tid);
    wgmma::cp_async_arrive(&full[t % kStages]);
  };
  load_tile<D>(Qs, q, q0, a.tokens, tid);  // Q's 128 rows: a [2 blocks][128 rows][128 B] tile like K's, lands with tile 0
  for (int t = 0; t < kStages - 1 && t < ntiles; ++t) load(t);
  if (wg == 1) wgmma::named_arrive(1, kThreads);  // warpgroup 0 takes the first turn (barrier 1 + wg: wg's turn)

  float o[C::kBlocks][32];  // this warpgroup's 64 x 128 output: head_dim halves 0-63 and 64-127
#pragma unroll
  for (int i = 0; i < 32; ++i)
#pragma unroll
    for (int c = 0; c < C::kBlocks; ++c) o[c][i] = 0.f;
  float m_run[2] = {-INFINITY, -INFINITY}, l_run[2] = {0.f, 0.f};
  const float scale_log2 = a.scale * 1.4426950408889634f;
  const int64_t row0 = q0 + wg * 64 + warp * 16 + lane / 4;  // this thread's rows: row0 and row0 + 8
  const uint32_t q_addr = smem_addr(Qs) + wg * 64 * 128;     // the warpgroup's 64 rows in both column blocks

  // P V of tile it is issued in iteration it + 1 with S of that tile, inside the same turn, so the
  // tensor cores get both of a warpgroup's multiplies back to back while the other one runs its softmax.
  unsigned p[kBN / 16][4];  // P of the previous tile: keys 16j..16j+15 as wgmma's A fragment
  const auto issue_pv = [&](int tile) {
    const uint32_t v_addr = smem_addr(ring + (tile % kStages) * 2 * C::kTileBytes) + C::kTileBytes;
#pragma unroll
    for (int j = 0; j < kBN / 16; ++j)
#pragma unroll
      for (int c = 0; c < C::kBlocks; ++c)  // V rows 16j.. (16 x 128 B = 2048 bytes per 16 keys), column block c
        wgmma::mma_64x64x16_rs_mn(o[c], p[j], wgmma::desc(v_addr + c * kHalf + j * 2048, 1024));
    wgmma::commit();
  };
  // One tile; `first` (a compile-time constant: wgmma issue must not sit on a divergent path) has
  // no previous P V to issue.
  const auto step = [&](const int it, auto first) {
    const int stage = it % kStages;
    wgmma::mbar_wait(&full[stage], (it / kStages) & 1);
    wgmma::fence_proxy_async();  // cp.async (generic proxy) writes, read next by the tensor cores
    const uint32_t k_addr = smem_addr(ring + stage * 2 * C::kTileBytes);

    float s[64];  // S[64 rows][128 keys], n8 block j: s[4j..4j+3] as mma.sync's C fragment
    wgmma::named_sync(1 + wg, kThreads);  // this warpgroup's turn at the tensor cores
    wgmma::fence_operand(s);
    for (auto& oc : o) wgmma::fence_operand(oc);
    wgmma::fence();
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
      const uint32_t off = (kk / 4) * kHalf + (kk % 4) * 32;  // 16 columns = 32 bytes inside a 128-byte row
      wgmma::mma_64x128x16_ss(s, wgmma::desc(q_addr + off, 16), wgmma::desc(k_addr + off, 16), kk > 0);
    }
    wgmma::commit();
    if constexpr (!first) issue_pv(it - 1);
    if (wg == 0 || it + 1 < ntiles) wgmma::named_arrive(2 - wg, kThreads);  // the other's turn (none after its last)
    if constexpr (first) {
      wgmma::wait<0>();
    } else {
      wgmma::wait<1>();  // S done; P V of the previous tile may still run
    }
    wgmma::fence_operand(s);

    const int64_t key0 = int64_t(it) * kBN;
    const bool diag = key0 + kBN > q0;  // tile crosses the causal boundary or the end
    float corr[2];
    if (diag) {
#pragma unroll
      for (int n = 0; n < kBN / 8; ++n)
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          const int64_t key = key0 + n * 8 + (lane % 4) * 2 + (i % 2), row = row0 + (i / 2) * 8;
          if (key > row || key >= a.tokens) s[4 * n + i] = -INFINITY;
        }
    }
#pragma unroll
    for (int hf = 0; hf < 2; ++hf) {  // running max in raw score units; exp2(s * scale_log2 - max * scale_log2)
      float mx4[4] = {m_run[hf], -INFINITY, -INFINITY, -INFINITY};  // 4 independent chains, then a tree
#pragma unroll
      for (int n = 0; n < kBN / 8; ++n)
#pragma unroll
        for (int e = 0; e < 2; ++e) mx4[(2 * n + e) % 4] = fmaxf(mx4[(2 * n + e) % 4], s[4 * n + 2 * hf + e]);
      float mx = fmaxf(fmaxf(mx4[0], mx4[1]), fmaxf(mx4[2], mx4[3]));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffff, mx, 1));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffff, mx, 2));
      const float m_use = mx == -INFINITY ? 0.f : mx * scale_log2;
      corr[hf] = exp2_approx(m_run[hf] * scale_log2 - m_use);
      float sum4[4] = {0.f, 0.f, 0.f, 0.f};
#pragma unroll
      for (int n = 0; n < kBN / 8; ++n)
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          float& x = s[4 * n + 2 * hf + e];
          x = exp2_approx(fmaf(x, scale_log2, -m_use));
          sum4[(2 * n + e) % 4] += x;
        }
      l_run[hf] = l_run[hf] * corr[hf] + ((sum4[0] + sum4[1]) + (sum4[2] + sum4[3]));
      m_run[hf] = mx;
    }
    wgmma::wait<0>();  // the previous tile's P V has landed in O: rescale to this tile's max
    for (auto& oc : o) wgmma::fence_operand(oc);
#pragma unroll
    for (int n = 0; n < 8; ++n)
#pragma unroll
      for (int c = 0; c < C::kBlocks; ++c)
#pragma unroll
        for (int hf = 0; hf < 2; ++hf) {
          o[c][4 * n + 2 * hf] *= corr[hf];
          o[c][4 * n + 2 * hf + 1] *= corr[hf];
        }
#pragma unroll
    for (int j = 0; j < kBN / 16; ++j)
#pragma unroll
      for (int r = 0; r < 4; ++r) p[j][r] = M::pack(s[8 * j + 2 * r], s[8 * j + 2 * r + 1]);
    if constexpr (!first) {
      // Tile it - 1 is done (its V was read by the P V just waited for): refill its stage with tile
      // it + kStages - 1 once both warpgroups are done with it.
      wgmma::mbar_arrive(&empty[(it - 1) % kStages]);
      const int t = it + kStages - 1;
      if (t < ntiles) {
        wgmma::mbar_wait(&empty[t % kStages], ((it - 1) / kStages) & 1);
        load(t);
      }
    } else if (kStages - 1 < ntiles) {
      load(kStages - 1);  // the one stage not filled before the loop
    }
  };
  step(0, std::true_type{});
  for (int it = 1; it < ntiles; ++it) step(it, std::false_type{});
  for (auto& oc : o) wgmma::fence_operand(oc);
  wgmma::fence();
  issue_pv(ntiles - 1);
  wgmma::wait<0>();
  for (auto& oc : o) wgmma::fence_operand(oc);
  store_rows<D>(a, b, h, row0, lane, l_run, [&](int hf, T* out, float inv) {
#pragma unroll
    for (int c = 0; c < C::kBlocks; ++c)
#pragma unroll
      for (int n = 0; n < 8; ++n)
        *reinterpret_cast<unsigned*>(out + c * 64 + n * 8) = M::pack(o[c][4 * n + 2 * hf] * inv, o[c][4 * n + 2 * hf + 1] * inv);
  });
#endif
}

template <int D>
void launch(const PrefillAttention& a, cudaStream_t s) {
  launch_kernel<prefill_kernel<D>>(a, s, kBM, kThreads, Shape<D>::kSmem);
}
}  // namespace hopper
#pragma nv_diag_default 177

}  // namespace

// The Hopper kernels (wgmma prefill, TMA decode copies) exist only in an sm_90a build (CMake
// architecture "90a", which defines KVPLAN_CUDA_SM90A) and run only on a compute capability 9.0
// device (H100, H200).
bool hopper_kernels_available() {
#if defined(KVPLAN_CUDA_SM90A)
  static const bool yes = [] {
    int dev = 0, major = 0, minor = 0;
    CUDA_CHECK(cudaGetDevice(&dev));
    CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
    CUDA_CHECK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev));
    return major == 9 && minor == 0;
  }();
  return yes;
#else
  return false;
#endif
}
namespace {
bool use_wgmma(const PrefillAttention& a) {
  return (a.dim == 128 || a.dim == 64) && !a.mma_sync_only && hopper_kernels_available();
}
}  // namespace

void launch_prefill_attention(const PrefillAttention& a, cudaStream_t s) {
  if (a.heads % a.kv_heads) throw Error("prefill attention: heads must be a multiple of kv_heads");
  if (use_wgmma(a)) return a.dim == 128 ? hopper::launch<128>(a, s) : hopper::launch<64>(a, s);
  if (a.dim == 128) return launch<128>(a, s);
  if (a.dim == 64) return launch<64>(a, s);
  throw Error("prefill attention: no compiled variant for head_dim " + std::to_string(a.dim));
}

const char* prefill_attention_kernel(const PrefillAttention& a) {
  return use_wgmma(a) ? "wgmma" : "mma.sync";
}

double prefill_attention_flops(const PrefillAttention& a) {
  const double t = static_cast<double>(a.tokens);
  return 4.0 * static_cast<double>(a.batch * a.heads * a.dim) * t * (t + 1) / 2.0;
}

}  // namespace kvplan::gpu
