// Decode attention over a KV cache on tensor cores: one query token per sequence, the query heads
// of a KV group stacked as the M rows of m16n8k16 MMAs (so they share one KV tile load), KV tiles
// streamed through shared memory with cp.async, split-KV across blocks (flash-decoding, Dao et al.
// 2023) with the log-sum-exp combine in a second small kernel (one block per output row, its warps
// splitting the splits) launched with programmatic dependent launch so its launch overlaps the tail.
// Two split kernels: the warp kernel (bf16/fp16), where each warp streams its own tiles and keeps
// its own softmax, merged once at the end; and the staged kernel (fp8, converted in shared memory,
// and MLA's 576-wide latent tiles), where the 4 warps share each tile: they split its tokens for
// Q.K^T, share S through shared memory and split V's columns for P.V. MLA absorbed form: one
// latent head, K = latent (kv_lora + rope), V = its first v_dim.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>
#include <cudaTypedefs.h>

#include <algorithm>
#include <type_traits>

#include "gpu/cuda_check.h"
#include "gpu/kernels.h"
#include "gpu/mma.cuh"
#include "gpu/tma.cuh"

namespace kvplan::gpu {

int kv_type_bytes(KvType t) { return t == KvType::fp8_e4m3 ? 1 : 2; }

namespace {

constexpr int kThreads = 128;
constexpr int kMaxSplits = 128;

constexpr float kLog2e = 1.4426950408889634f;

// The warp kernel's K and V tensor maps (TMA path): [batch][kv_heads][context][D] with the caller's
// strides, boxes of TT tokens x 64 columns in the 128-byte swizzle. Unused by the cp.async path.
struct KvMaps {
  CUtensorMap k, v;
};

template <int DK, int DV, int MT, typename KV, bool V_IN_K, int TT, int STAGES>
struct Cfg {
  static constexpr bool kFp8 = std::is_same_v<KV, uint8_t>;
  using CT = std::conditional_t<std::is_same_v<KV, __half>, __half, __nv_bfloat16>;
  static_assert(!(kFp8 && V_IN_K), "fp8 MLA is not instantiated");
  static constexpr int ROWS = 16 * MT;
  static constexpr int TPW = TT / 4;  // tokens per warp in Q.K^T
  static constexpr int NT = TPW / 8;
  static constexpr int DVW = DV / 4;  // V columns per warp in P.V
  static_assert(TPW % 8 == 0 && DVW % 16 == 0 && DK % 16 == 0, "tile shape");
  static constexpr int QLD = DK + 8;
  static constexpr int KLD_RAW = kFp8 ? DK : DK + 8;
  static constexpr int VLD_RAW = kFp8 ? DV : DV + 8;
  static constexpr int KLD = DK + 8;
  static constexpr int VLD = V_IN_K ? KLD : DV + 8;
  static constexpr int SLD = TT + 4;
  static constexpr int Q_BYTES = ROWS * QLD * 2;
  static constexpr int K_BYTES = STAGES * TT * KLD_RAW * int(sizeof(KV));
  static constexpr int V_BYTES = V_IN_K ? 0 : STAGES * TT * VLD_RAW * int(sizeof(KV));
  static constexpr int C_BYTES = kFp8 ? TT * (KLD + VLD) * 2 : 0;
  static constexpr int S_BYTES = ROWS * SLD * 4;
  static constexpr int SMEM = Q_BYTES + K_BYTES + V_BYTES + C_BYTES + S_BYTES;
};

// 16 e4m3 bytes -> 16 bf16 (exact: every e4m3 value is a bf16 value).
__device__ __forceinline__ void fp8x16_to_bf16(const uint8_t* src, __nv_bfloat16* dst) {
  const uint4 raw = *reinterpret_cast<const uint4*>(src);
  const unsigned w[4] = {raw.x, raw.y, raw.z, raw.w};
  unsigned outw[8];
#pragma unroll
  for (int i = 0; i < 4; ++i) {
#pragma unroll
    for (int j = 0; j < 2; ++j) {
      const __half2_raw h = __nv_cvt_fp8x2_to_halfraw2(static_cast<__nv_fp8x2_storage_t>(w[i] >> (16 * j)), __NV_E4M3);
      const float2 f = __half22float2(*reinterpret_cast<const __half2*>(&h));
      __nv_bfloat162 b = __float22bfloat162_rn(f);
      outw[i * 2 + j] = *reinterpret_cast<unsigned*>(&b);
    }
  }
  reinterpret_cast<uint4*>(dst)[0] = make_uint4(outw[0], outw[1], outw[2], outw[3]);
  reinterpret_cast<uint4*>(dst)[1] = make_uint4(outw[4], outw[5], outw[6], outw[7]);
}

// Each lane holds partial row sums of its MMA rows; the 4 lanes of a row (lane / 4 equal) add them up.
template <int MT>
__device__ __forceinline__ void quad_sum_rows(float (&l)[MT][2]) {
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int hf = 0; hf < 2; ++hf) {
      l[mt][hf] += __shfl_xor_sync(0xffffffff, l[mt][hf], 1);
      l[mt][hf] += __shfl_xor_sync(0xffffffff, l[mt][hf], 2);
    }
}

// Where a block of a split kernel works: its (batch, KV head, head tile, split) from the grid, the
// query heads of its head tile, and the tiles [tile_begin, tile_begin + ntiles) of TT tokens of the
// attended range [first, context) that its split covers.
struct BlockWork {
  int split, kvh, head0, rows_valid, ntiles;
  int64_t b, first, tok0;
};
template <int ROWS, int TT>
__device__ __forceinline__ BlockWork block_work(const DecodeAttention& a, int head_tiles) {
  BlockWork w;
  const int ht = blockIdx.x % head_tiles;
  const int rest = blockIdx.x / head_tiles;
  w.split = rest % a.splits;
  w.kvh = rest / a.splits;
  w.b = blockIdx.y;
  const int group = static_cast<int>(a.heads / a.kv_heads);
  w.head0 = w.kvh * group + ht * ROWS;
  w.rows_valid = min(ROWS, group - ht * ROWS);
  w.first = a.window > 0 ? max(int64_t(0), a.context - a.window) : 0;
  const int64_t tiles_total = (a.context - w.first + TT - 1) / TT;
  const int64_t tps = (tiles_total + a.splits - 1) / a.splits;
  const int64_t tile_begin = w.split * tps;
  w.ntiles = static_cast<int>(max(int64_t(0), min(tiles_total, tile_begin + tps) - tile_begin));
  w.tok0 = w.first + tile_begin * TT;
  return w;
}
// The head tile's query rows into shared memory (row pitch LD; zero rows pad a small group).
template <int ROWS, int D, int LD, typename CT>
__device__ __forceinline__ void load_q_tile(const DecodeAttention& a, const BlockWork& w, CT* Qs) {
  const CT* q = static_cast<const CT*>(a.q) + (w.b * a.heads + w.head0) * D;
  for (int i = threadIdx.x; i < ROWS * D / 8; i += kThreads) {
    const int r = i / (D / 8), c = (i % (D / 8)) * 8;
    uint4 val = make_uint4(0, 0, 0, 0);
    if (r < w.rows_valid) val = *reinterpret_cast<const uint4*>(q + r * D + c);
    *reinterpret_cast<uint4*>(Qs + r * LD + c) = val;
  }
}

template <int DK, int DV, int MT, typename KV, bool V_IN_K, int TT, int STAGES>
__global__ void __launch_bounds__(kThreads) decode_attention_kernel(const DecodeAttention a, int head_tiles) {
  using C = Cfg<DK, DV, MT, KV, V_IN_K, TT, STAGES>;
  using CT = typename C::CT;
  using M = Mma<CT>;
  extern __shared__ __align__(16) unsigned char smem[];
  CT* Qs = reinterpret_cast<CT*>(smem);
  KV* Kr = reinterpret_cast<KV*>(smem + C::Q_BYTES);
  KV* Vr = reinterpret_cast<KV*>(smem + C::Q_BYTES + C::K_BYTES);
  CT* Kc = reinterpret_cast<CT*>(smem + C::Q_BYTES + C::K_BYTES + C::V_BYTES);
  CT* Vc = Kc + TT * C::KLD;
  float* Ss = reinterpret_cast<float*>(smem + C::Q_BYTES + C::K_BYTES + C::V_BYTES + C::C_BYTES);

  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const BlockWork w = block_work<C::ROWS, TT>(a, head_tiles);
  const int64_t b = w.b, first = w.first, tok0 = w.tok0;
  const int kvh = w.kvh, split = w.split, head0 = w.head0, rows_valid = w.rows_valid, ntiles = w.ntiles;
  load_q_tile<C::ROWS, DK, C::QLD>(a, w, Qs);

  const KV* kbase = static_cast<const KV*>(a.k) + b * a.k_batch_stride + kvh * a.k_head_stride;
  const KV* vbase = static_cast<const KV*>(a.v) + b * a.v_batch_stride + kvh * a.v_head_stride;
  auto load_tile = [&](int tile, int stage) {
    const int64_t t0 = tok0 + int64_t(tile) * TT;
    constexpr int KCH = DK * int(sizeof(KV)) / 16, KE = 16 / int(sizeof(KV));
    KV* kd = Kr + stage * TT * C::KLD_RAW;
    for (int i = tid; i < TT * KCH; i += kThreads) {
      const int r = i / KCH, c = i % KCH;
      const bool ok = t0 + r < a.context;
      cp_async16_stream(kd + r * C::KLD_RAW + c * KE, kbase + (ok ? t0 + r : first) * a.k_token_stride + c * KE, ok);
    }
    if constexpr (!V_IN_K) {
      constexpr int VCH = DV * int(sizeof(KV)) / 16;
      KV* vd = Vr + stage * TT * C::VLD_RAW;
      for (int i = tid; i < TT * VCH; i += kThreads) {
        const int r = i / VCH, c = i % VCH;
        const bool ok = t0 + r < a.context;
        cp_async16_stream(vd + r * C::VLD_RAW + c * KE, vbase + (ok ? t0 + r : first) * a.v_token_stride + c * KE, ok);
      }
    }
  };

#pragma unroll
  for (int s = 0; s < STAGES - 1; ++s) {
    if (s < ntiles) load_tile(s, s);
    cp_async_commit();
  }

  const float scale_log2 = a.scale * a.k_scale * kLog2e;
  float m_run[MT][2], l_run[MT][2], o[MT][C::DVW / 8][4];
#pragma unroll
  for (int mt = 0; mt < MT; ++mt) {
    m_run[mt][0] = m_run[mt][1] = -INFINITY;
    l_run[mt][0] = l_run[mt][1] = 0.f;
#pragma unroll
    for (int n = 0; n < C::DVW / 8; ++n) o[mt][n][0] = o[mt][n][1] = o[mt][n][2] = o[mt][n][3] = 0.f;
  }

  for (int it = 0; it < ntiles; ++it) {
    cp_async_wait<STAGES - 2>();
    __syncthreads();
    if (it + STAGES - 1 < ntiles) load_tile(it + STAGES - 1, (it + STAGES - 1) % STAGES);
    cp_async_commit();
    const int st = it % STAGES;
    const CT* Kt;
    const CT* Vt;
    if constexpr (C::kFp8) {
      const uint8_t* kr = reinterpret_cast<const uint8_t*>(Kr + st * TT * C::KLD_RAW);
      const uint8_t* vr = reinterpret_cast<const uint8_t*>(Vr + st * TT * C::VLD_RAW);
      for (int i = tid; i < TT * DK / 16; i += kThreads) {
        const int r = i / (DK / 16), c = (i % (DK / 16)) * 16;
        fp8x16_to_bf16(kr + r * DK + c, reinterpret_cast<__nv_bfloat16*>(Kc) + r * C::KLD + c);
      }
      for (int i = tid; i < TT * DV / 16; i += kThreads) {
        const int r = i / (DV / 16), c = (i % (DV / 16)) * 16;
        fp8x16_to_bf16(vr + r * DV + c, reinterpret_cast<__nv_bfloat16*>(Vc) + r * C::VLD + c);
      }
      __syncthreads();
      Kt = Kc;
      Vt = Vc;
    } else {
      Kt = reinterpret_cast<const CT*>(Kr + st * TT * C::KLD_RAW);
      Vt = V_IN_K ? Kt : reinterpret_cast<const CT*>(Vr + st * TT * C::VLD_RAW);
    }

    // S = Q K^T for this warp's tokens.
    float s[MT][C::NT][4];
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
      for (int nt = 0; nt < C::NT; ++nt) s[mt][nt][0] = s[mt][nt][1] = s[mt][nt][2] = s[mt][nt][3] = 0.f;
#pragma unroll 4
    for (int kk = 0; kk < DK / 16; ++kk) {
      unsigned qa[MT][4];
#pragma unroll
      for (int mt = 0; mt < MT; ++mt) ldmatrix_x4(qa[mt], Qs + (mt * 16 + (lane % 16)) * C::QLD + kk * 16 + (lane / 16) * 8);
#pragma unroll
      for (int nt = 0; nt < C::NT; ++nt) {
        unsigned kb[2];
        ldmatrix_x2(kb, Kt + (warp * C::TPW + nt * 8 + (lane % 8)) * C::KLD + kk * 16 + ((lane / 8) % 2) * 8);
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) M::run(s[mt][nt], qa[mt], kb[0], kb[1]);
      }
    }
    const int64_t tile_tok = tok0 + int64_t(it) * TT;
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
      for (int nt = 0; nt < C::NT; ++nt)
#pragma unroll
        for (int hf = 0; hf < 2; ++hf) {
          const int row = mt * 16 + lane / 4 + hf * 8;
          const int col = warp * C::TPW + nt * 8 + (lane % 4) * 2;
          float2 v;
          v.x = tile_tok + col < a.context ? s[mt][nt][2 * hf] * scale_log2 : -INFINITY;
          v.y = tile_tok + col + 1 < a.context ? s[mt][nt][2 * hf + 1] * scale_log2 : -INFINITY;
          *reinterpret_cast<float2*>(Ss + row * C::SLD + col) = v;
        }
    __syncthreads();

    // Online softmax over the whole tile (every warp, same numbers), then P V for this warp's columns.
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) {
      float p[TT / 8][4];
      float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
      for (int j = 0; j < TT / 8; ++j)
#pragma unroll
        for (int hf = 0; hf < 2; ++hf) {
          const float2 v = *reinterpret_cast<const float2*>(Ss + (mt * 16 + lane / 4 + hf * 8) * C::SLD + j * 8 + (lane % 4) * 2);
          p[j][2 * hf] = v.x;
          p[j][2 * hf + 1] = v.y;
          mx[hf] = fmaxf(mx[hf], fmaxf(v.x, v.y));
        }
#pragma unroll
      for (int hf = 0; hf < 2; ++hf) {
        mx[hf] = fmaxf(mx[hf], __shfl_xor_sync(0xffffffff, mx[hf], 1));
        mx[hf] = fmaxf(mx[hf], __shfl_xor_sync(0xffffffff, mx[hf], 2));
        const float m_new = fmaxf(m_run[mt][hf], mx[hf]);
        const float m_use = m_new == -INFINITY ? 0.f : m_new;
        const float corr = exp2f(m_run[mt][hf] - m_use);
        float sum = 0.f;
#pragma unroll
        for (int j = 0; j < TT / 8; ++j) {
          p[j][2 * hf] = exp2f(p[j][2 * hf] - m_use);
          p[j][2 * hf + 1] = exp2f(p[j][2 * hf + 1] - m_use);
          sum += p[j][2 * hf] + p[j][2 * hf + 1];
        }
        l_run[mt][hf] = l_run[mt][hf] * corr + sum;
        m_run[mt][hf] = m_new;
#pragma unroll
        for (int n = 0; n < C::DVW / 8; ++n) {
          o[mt][n][2 * hf] *= corr;
          o[mt][n][2 * hf + 1] *= corr;
        }
      }
#pragma unroll
      for (int j = 0; j < TT / 16; ++j) {
        const unsigned pa[4] = {M::pack(p[2 * j][0], p[2 * j][1]), M::pack(p[2 * j][2], p[2 * j][3]),
                                M::pack(p[2 * j + 1][0], p[2 * j + 1][1]), M::pack(p[2 * j + 1][2], p[2 * j + 1][3])};
#pragma unroll
        for (int n = 0; n < C::DVW / 16; ++n) {
          unsigned vb[4];
          ldmatrix_x4_trans(vb, Vt + (j * 16 + (lane % 8) + ((lane / 8) % 2) * 8) * C::VLD + warp * C::DVW + n * 16 + (lane / 16) * 8);
          M::run(o[mt][2 * n], pa, vb[0], vb[1]);
          M::run(o[mt][2 * n + 1], pa, vb[2], vb[3]);
        }
      }
    }
  }
  cp_async_wait<0>();

  quad_sum_rows(l_run);

  if (a.splits == 1) {
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
      for (int hf = 0; hf < 2; ++hf) {
        const int r = mt * 16 + lane / 4 + hf * 8;
        if (r >= rows_valid) continue;
        const float inv = l_run[mt][hf] > 0 ? a.v_scale / l_run[mt][hf] : 0.f;
        CT* out = static_cast<CT*>(a.out) + (b * a.heads + head0 + r) * DV + warp * C::DVW + (lane % 4) * 2;
#pragma unroll
        for (int n = 0; n < C::DVW / 8; ++n)
          *reinterpret_cast<unsigned*>(out + n * 8) = M::pack(o[mt][n][2 * hf] * inv, o[mt][n][2 * hf + 1] * inv);
      }
    return;
  }

  // Split-KV: write this split's partial (unnormalized O, max, sum); decode_combine_kernel merges.
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int hf = 0; hf < 2; ++hf) {
      const int r = mt * 16 + lane / 4 + hf * 8;
      if (r >= rows_valid) continue;
      const int64_t slot = (b * a.heads + head0 + r) * a.splits + split;
      float* po = a.partial_o + slot * DV + warp * C::DVW + (lane % 4) * 2;
#pragma unroll
      for (int n = 0; n < C::DVW / 8; ++n)
        *reinterpret_cast<float2*>(po + n * 8) = make_float2(o[mt][n][2 * hf], o[mt][n][2 * hf + 1]);
      if (warp == 0 && lane % 4 == 0)
        *reinterpret_cast<float2*>(a.partial_ml + slot * 2) = make_float2(m_run[mt][hf], l_run[mt][hf]);
    }
}

// The bf16/fp16 kernel: every warp is its own pipeline. Warp w of a block streams tiles w, w+4, ...
// of the block's split through its own stages (TMA copies on its own mbarriers on compute capability
// 9.0, else cp.async) and keeps its own online softmax in
// registers (S never leaves the MMA accumulators: they are repacked as the A operand of P.V), so
// the main loop has no block-wide barrier and no redundant work; the 4 warps' (max, sum, O) are
// merged through shared memory once at the end. The staged kernel above stays for fp8 (tiles are
// converted in shared memory) and MLA (576-wide tiles).
// Element offset of (row, col) in a K or V tile of TT rows x D columns (16-bit), stored as D / 64
// blocks of [TT rows][64 columns] in the 128-byte swizzle (sw128_offset): ldmatrix reads 8 rows
// without bank conflicts and every row stays 128-byte aligned for the cp.async fills (a padded pitch
// left rows 16-byte aligned, and the copies then asked L2 for 1.56x the sectors they needed,
// measured with ncu: docs/validation/README.md, "How the current kernels got here").
template <int TT>
__host__ __device__ constexpr int kv_offset(int row, int col) {
  return (col / 64) * TT * 64 + static_cast<int>(sw128_offset(row, col % 64)) / 2;
}
// The ldmatrix reads of a tile: lane l reads row 16 i + (l % 8) + 8 b and 8 columns from 16 k + 8 c,
// with (b, c) = (l / 16, (l / 8) % 2) for K and ((l / 8) % 2, l / 16) for V (transposed). The row's
// swizzle is l % 8 and the chunk (2 (k % 4) + c) ^ (l % 8) = 2 (k % 4) ^ (c ^ l % 8), so each lane
// keeps four bases (k % 4 = m) and the rest of the offset, (k / 4) TT 64 + i 1024, is an immediate.
__host__ __device__ constexpr int kv_lane_base(int lane, int m, bool v) {
  const int b = v ? (lane / 8) % 2 : lane / 16, c = v ? lane / 16 : (lane / 8) % 2;
  return ((lane % 8) + 8 * b) * 64 + (((2 * m) ^ (c ^ (lane % 8))) * 8);
}
template <int TT, int D>
constexpr bool kv_lane_bases_match() {
  for (int lane = 0; lane < 32; ++lane)
    for (int k = 0; k < D / 16; ++k)
      for (int i = 0; i < TT / 16; ++i)
        for (const bool v : {false, true}) {
          const int b = v ? (lane / 8) % 2 : lane / 16, c = v ? lane / 16 : (lane / 8) % 2;
          if (kv_offset<TT>(16 * i + lane % 8 + 8 * b, 16 * k + 8 * c) !=
              kv_lane_base(lane, k % 4, v) + (k / 4) * TT * 64 + i * 1024)
            return false;
        }
  return true;
}

template <int D, int MT, typename CT, int TT, int STAGES, bool TMA>
struct WarpCfg {
  static constexpr int W = kThreads / 32;
  static constexpr int ROWS = 16 * MT;
  static constexpr int LD = D + 8;         // Q's row pitch (elements): 16 B of padding against bank conflicts
  static constexpr int TILE = TT * D;      // elements of one K (or V) tile, unpadded (kv_offset)
  static constexpr int WARP_ELEMS = STAGES * 2 * TILE;
  static constexpr int Q_BYTES = ROWS * LD * 2;
  // The tensor copies' 128-byte swizzle repeats every 1024 bytes: with TMA the tiles start 1024-byte
  // aligned (the kernel rounds its shared-memory base up, hence the extra 1024 bytes).
  static constexpr int PIPE_OFF = TMA ? (Q_BYTES + 1023) / 1024 * 1024 : Q_BYTES;
  static constexpr int PIPE_BYTES = W * WARP_ELEMS * 2;
  static constexpr int OLD = D + 4;        // merge scratch pitch (floats)
  static constexpr int MERGE_BYTES = W * ROWS * OLD * 4 + W * ROWS * 8;
  static constexpr int SMEM = (TMA ? 1024 : 0) + PIPE_OFF + (PIPE_BYTES > MERGE_BYTES ? PIPE_BYTES : MERGE_BYTES);
  static_assert(!TMA || (TT * 64 * 2) % 1024 == 0, "every 64-column block of a tile starts 1024-byte aligned");
  static constexpr bool Q_IN_REGS = MT == 1 && D <= 128;  // else ldmatrix from shared memory per use
  static_assert(TT % 16 == 0 && D % 64 == 0, "tile shape");
  static_assert(Q_BYTES % 128 == 0, "K/V tiles start 128-byte aligned");
  static_assert(kv_lane_bases_match<TT, D>(), "ldmatrix lane bases = kv_offset");
};

template <int D, int MT, typename CT, int TT, int STAGES, bool TMA>
__global__ void __launch_bounds__(kThreads)
    decode_attention_warp_kernel(const DecodeAttention a, int head_tiles, const __grid_constant__ KvMaps maps) {
  using C = WarpCfg<D, MT, CT, TT, STAGES, TMA>;
  using M = Mma<CT>;
  extern __shared__ __align__(128) unsigned char smem_rows128[];  // K/V rows 128-byte aligned (kv_offset)
  __shared__ __align__(8) uint64_t full[TMA ? C::W * STAGES : 1];  // TMA: a warp's stage s landed
  unsigned char* const smem = TMA ? smem_rows128 + (1024 - smem_addr(smem_rows128) % 1024) % 1024 : smem_rows128;
  CT* Qs = reinterpret_cast<CT*>(smem);
  CT* pipe = reinterpret_cast<CT*>(smem + C::PIPE_OFF);

  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const BlockWork w = block_work<C::ROWS, TT>(a, head_tiles);
  const int64_t b = w.b, first = w.first, tok0 = w.tok0;
  const int kvh = w.kvh, split = w.split, head0 = w.head0, rows_valid = w.rows_valid, ntiles = w.ntiles;
  const int my_tiles = ntiles > warp ? (ntiles - warp + C::W - 1) / C::W : 0;
  load_q_tile<C::ROWS, D, C::LD>(a, w, Qs);
  int kx[4], vx[4];  // this lane's ldmatrix bases in a K and a V tile (kv_lane_base)
#pragma unroll
  for (int m = 0; m < 4; ++m) {
    kx[m] = kv_lane_base(lane, m, false);
    vx[m] = kv_lane_base(lane, m, true);
  }

  const CT* kbase = static_cast<const CT*>(a.k) + b * a.k_batch_stride + kvh * a.k_head_stride;
  const CT* vbase = static_cast<const CT*>(a.v) + b * a.v_batch_stride + kvh * a.v_head_stride;
  CT* wpipe = pipe + warp * C::WARP_ELEMS;
  // Warp-local tile i is the split's tile warp + i*W.
  const auto tile_tok = [&](int i) { return tok0 + int64_t(warp + i * C::W) * TT; };
  // Fills: a warp instruction copies RS whole rows, lane l the 16-byte chunk l % CH of row l / CH + RS i;
  // rows 8 apart share their swizzle, so the destination is one of 8 / RS per-lane offsets plus an immediate.
  constexpr int CH = D / 8, RS = 32 / CH;
  static_assert(32 % CH == 0 && TT % RS == 0, "whole rows per warp instruction");
  const int fill_col = (lane % CH) * 8;
  int fill[8];
#pragma unroll
  for (int q = 0; q < 8; q += RS) fill[q] = kv_offset<TT>(lane / CH + q, fill_col);
  uint64_t* const bar = full + (TMA ? warp * STAGES : 0);
  auto load_tile = [&](int i, int stage) {
    const int64_t t0 = tile_tok(i);
    CT* kd = wpipe + stage * 2 * C::TILE;
    CT* vd = kd + C::TILE;
    if constexpr (TMA) {
      // Lane 0 copies the tile's D / 64 column blocks of K and of V (rows past the context arrive
      // as zeros); the stage's barrier completes when all 2 x TT x D x 2 bytes have landed.
      if (lane == 0) {
        tma::arrive_expect_bytes(bar + stage, 2 * C::TILE * 2);
#pragma unroll
        for (int c = 0; c < D / 64; ++c) {
          tma::load_4d(kd + c * TT * 64, &maps.k, c * 64, static_cast<int>(t0), kvh, static_cast<int>(b), bar + stage);
          tma::load_4d(vd + c * TT * 64, &maps.v, c * 64, static_cast<int>(t0), kvh, static_cast<int>(b), bar + stage);
        }
      }
    } else {
#pragma unroll
      for (int j = 0; j < TT / RS; ++j) {
        const int r = lane / CH + RS * j, off = fill[(RS * j) % 8] + (RS * j / 8) * 8 * 64;
        const bool ok = t0 + r < a.context;
        const int64_t t = ok ? t0 + r : first;
        cp_async16_stream(kd + off, kbase + t * a.k_token_stride + fill_col, ok);
        cp_async16_stream(vd + off, vbase + t * a.v_token_stride + fill_col, ok);
      }
    }
  };
  if constexpr (TMA) {
    if (lane == 0)
      for (int s = 0; s < STAGES; ++s) tma::barrier_init(bar + s);
    __syncwarp();
  }
#pragma unroll
  for (int s = 0; s < STAGES - 1; ++s) {
    if (s < my_tiles) load_tile(s, s);
    if constexpr (!TMA) cp_async_commit();
  }
  __syncthreads();  // Q tile

  unsigned qreg[C::Q_IN_REGS ? D / 16 : 1][4];
  if constexpr (C::Q_IN_REGS) {
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) ldmatrix_x4(qreg[kk], Qs + (lane % 16) * C::LD + kk * 16 + (lane / 16) * 8);
  }

  const float scale_log2 = a.scale * kLog2e;
  float m_run[MT][2], l_run[MT][2], o[MT][D / 8][4];
#pragma unroll
  for (int mt = 0; mt < MT; ++mt) {
    m_run[mt][0] = m_run[mt][1] = -INFINITY;
    l_run[mt][0] = l_run[mt][1] = 0.f;
#pragma unroll
    for (int n = 0; n < D / 8; ++n) o[mt][n][0] = o[mt][n][1] = o[mt][n][2] = o[mt][n][3] = 0.f;
  }

  for (int it = 0; it < my_tiles; ++it) {
    if constexpr (TMA) {
      tma::wait_parity(bar + it % STAGES, (it / STAGES) & 1);
      __syncwarp();  // every lane is done with the stage refilled next (read in iteration it - 1)
      if (lane == 0) tma::fence_before_refill();
      if (it + STAGES - 1 < my_tiles) load_tile(it + STAGES - 1, (it + STAGES - 1) % STAGES);
    } else {
      cp_async_wait<STAGES - 2>();
      __syncwarp();
      if (it + STAGES - 1 < my_tiles) load_tile(it + STAGES - 1, (it + STAGES - 1) % STAGES);
      cp_async_commit();
    }
    const CT* Kt = wpipe + (it % STAGES) * 2 * C::TILE;
    const CT* Vt = Kt + C::TILE;

    // S = Q K^T (ldmatrix x4 gives two 8-token B fragments).
    float s[MT][TT / 8][4];
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
      for (int nt = 0; nt < TT / 8; ++nt) s[mt][nt][0] = s[mt][nt][1] = s[mt][nt][2] = s[mt][nt][3] = 0.f;
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
      unsigned qa[MT][4];
#pragma unroll
      for (int mt = 0; mt < MT; ++mt) {
        if constexpr (C::Q_IN_REGS) {
#pragma unroll
          for (int e = 0; e < 4; ++e) qa[mt][e] = qreg[kk][e];
        } else {
          ldmatrix_x4(qa[mt], Qs + (mt * 16 + (lane % 16)) * C::LD + kk * 16 + (lane / 16) * 8);
        }
      }
#pragma unroll
      for (int np = 0; np < TT / 16; ++np) {
        unsigned kb[4];
        ldmatrix_x4(kb, Kt + kx[kk % 4] + (kk / 4) * TT * 64 + np * 1024);
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) {
          M::run(s[mt][2 * np], qa[mt], kb[0], kb[1]);
          M::run(s[mt][2 * np + 1], qa[mt], kb[2], kb[3]);
        }
      }
    }

    // Online softmax in registers: a row's 4 lanes (lane / 4 equal) share its max through shuffles;
    // each lane keeps a partial row sum (the corrections are row-uniform), summed after the loop.
    const int64_t t0 = tile_tok(it);
    unsigned pa[MT][TT / 16][4];
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
      for (int hf = 0; hf < 2; ++hf) {
        float mx = -INFINITY;
#pragma unroll
        for (int nt = 0; nt < TT / 8; ++nt)
#pragma unroll
          for (int e = 0; e < 2; ++e) {
            const int col = nt * 8 + (lane % 4) * 2 + e;
            float& v = s[mt][nt][2 * hf + e];
            v = t0 + col < a.context ? v * scale_log2 : -INFINITY;
            mx = fmaxf(mx, v);
          }
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffff, mx, 1));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffff, mx, 2));
        const float m_new = fmaxf(m_run[mt][hf], mx);
        const float m_use = m_new == -INFINITY ? 0.f : m_new;
        const float corr = exp2f(m_run[mt][hf] - m_use);
        float sum = 0.f;
#pragma unroll
        for (int nt = 0; nt < TT / 8; ++nt)
#pragma unroll
          for (int e = 0; e < 2; ++e) {
            float& v = s[mt][nt][2 * hf + e];
            v = exp2f(v - m_use);
            sum += v;
          }
        l_run[mt][hf] = l_run[mt][hf] * corr + sum;
        m_run[mt][hf] = m_new;
#pragma unroll
        for (int n = 0; n < D / 8; ++n) {
          o[mt][n][2 * hf] *= corr;
          o[mt][n][2 * hf + 1] *= corr;
        }
      }
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
      for (int j = 0; j < TT / 16; ++j) {
        pa[mt][j][0] = M::pack(s[mt][2 * j][0], s[mt][2 * j][1]);
        pa[mt][j][1] = M::pack(s[mt][2 * j][2], s[mt][2 * j][3]);
        pa[mt][j][2] = M::pack(s[mt][2 * j + 1][0], s[mt][2 * j + 1][1]);
        pa[mt][j][3] = M::pack(s[mt][2 * j + 1][2], s[mt][2 * j + 1][3]);
      }

    // O += P V.
#pragma unroll
    for (int j = 0; j < TT / 16; ++j)
#pragma unroll
      for (int n = 0; n < D / 16; ++n) {
        unsigned vb[4];
        ldmatrix_x4_trans(vb, Vt + vx[n % 4] + (n / 4) * TT * 64 + j * 1024);
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) {
          M::run(o[mt][2 * n], pa[mt][j], vb[0], vb[1]);
          M::run(o[mt][2 * n + 1], pa[mt][j], vb[2], vb[3]);
        }
      }
  }
  if constexpr (!TMA) cp_async_wait<0>();  // (TMA: every issued tile was waited for in the loop)
  quad_sum_rows(l_run);
  __syncthreads();  // every warp is done with its pipeline: reuse it as merge scratch

  float* o_s = reinterpret_cast<float*>(smem + C::PIPE_OFF);  // [W][ROWS][OLD]
  float2* ml_s = reinterpret_cast<float2*>(o_s + C::W * C::ROWS * C::OLD);
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int hf = 0; hf < 2; ++hf) {
      const int r = mt * 16 + lane / 4 + hf * 8;
      float* dst = o_s + (warp * C::ROWS + r) * C::OLD + (lane % 4) * 2;
#pragma unroll
      for (int n = 0; n < D / 8; ++n) *reinterpret_cast<float2*>(dst + n * 8) = make_float2(o[mt][n][2 * hf], o[mt][n][2 * hf + 1]);
      if (lane % 4 == 0) ml_s[warp * C::ROWS + r] = make_float2(m_run[mt][hf], l_run[mt][hf]);
    }
  __syncthreads();
  for (int i = tid; i < C::ROWS * D / 4; i += kThreads) {
    const int r = i / (D / 4), c = (i % (D / 4)) * 4;
    if (r >= rows_valid) continue;
    float mx = -INFINITY;
#pragma unroll
    for (int w = 0; w < C::W; ++w) mx = fmaxf(mx, ml_s[w * C::ROWS + r].x);
    const float m_use = mx == -INFINITY ? 0.f : mx;
    float L = 0.f;
    float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
#pragma unroll
    for (int w = 0; w < C::W; ++w) {
      const float2 ml = ml_s[w * C::ROWS + r];
      const float f = exp2f(ml.x - m_use);
      const float4 v = *reinterpret_cast<const float4*>(o_s + (w * C::ROWS + r) * C::OLD + c);
      L += f * ml.y;
      acc.x += f * v.x;
      acc.y += f * v.y;
      acc.z += f * v.z;
      acc.w += f * v.w;
    }
    if (a.splits == 1) {
      const float inv = L > 0 ? a.v_scale / L : 0.f;
      CT* out = static_cast<CT*>(a.out) + (b * a.heads + head0 + r) * D + c;
      *reinterpret_cast<uint2*>(out) = make_uint2(M::pack(acc.x * inv, acc.y * inv), M::pack(acc.z * inv, acc.w * inv));
    } else {
      const int64_t slot = (b * a.heads + head0 + r) * a.splits + split;
      *reinterpret_cast<float4*>(a.partial_o + slot * D + c) = acc;
      if (c == 0) *reinterpret_cast<float2*>(a.partial_ml + slot * 2) = make_float2(mx, L);
    }
  }
}

// Log-sum-exp merge of the splits: one block per (batch, head) row; warp w sums splits w, w+4, ...
// (each lane 4 columns per 128-column pass, 4 independent loads in flight), then the warps add up.
template <typename CT>
__global__ void __launch_bounds__(kThreads) decode_combine_kernel(const DecodeAttention a) {
  __shared__ float w_s[kMaxSplits];
  __shared__ float red[kThreads / 32];
  __shared__ __align__(16) float acc_s[kThreads / 32][512];
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int S = a.splits;
  const int DV = static_cast<int>(a.v_dim);
  const int64_t row = blockIdx.x;
  const float* ml = a.partial_ml + row * S * 2;
  float2 mine = make_float2(-INFINITY, 0.f);
  if (tid < S) mine = *reinterpret_cast<const float2*>(ml + tid * 2);
  float mx = mine.x;
#pragma unroll
  for (int o = 16; o > 0; o /= 2) mx = fmaxf(mx, __shfl_xor_sync(0xffffffff, mx, o));
  if (lane == 0) red[warp] = mx;
  __syncthreads();
  float mmax = fmaxf(fmaxf(red[0], red[1]), fmaxf(red[2], red[3]));
  if (mmax == -INFINITY) mmax = 0.f;
  const float w = tid < S ? exp2f(mine.x - mmax) : 0.f;
  if (tid < S) w_s[tid] = w;
  float L = w * mine.y;
#pragma unroll
  for (int o = 16; o > 0; o /= 2) L += __shfl_xor_sync(0xffffffff, L, o);
  __syncthreads();
  if (lane == 0) red[warp] = L;
  __syncthreads();
  L = red[0] + red[1] + red[2] + red[3];
  const float inv = L > 0 ? a.v_scale / L : 0.f;
  const float* po = a.partial_o + row * S * DV;
  for (int c = lane * 4; c < DV; c += 128) {
    float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
    int sp = warp;
    for (; sp + 12 < S; sp += 16) {
      float4 v[4];
#pragma unroll
      for (int u = 0; u < 4; ++u) v[u] = *reinterpret_cast<const float4*>(po + int64_t(sp + 4 * u) * DV + c);
#pragma unroll
      for (int u = 0; u < 4; ++u) {
        const float ww = w_s[sp + 4 * u];
        acc.x += ww * v[u].x;
        acc.y += ww * v[u].y;
        acc.z += ww * v[u].z;
        acc.w += ww * v[u].w;
      }
    }
    for (; sp < S; sp += 4) {
      const float4 v = *reinterpret_cast<const float4*>(po + int64_t(sp) * DV + c);
      const float ww = w_s[sp];
      acc.x += ww * v.x;
      acc.y += ww * v.y;
      acc.z += ww * v.z;
      acc.w += ww * v.w;
    }
    *reinterpret_cast<float4*>(&acc_s[warp][c]) = acc;
  }
  __syncthreads();
  using M = Mma<CT>;
  for (int c = tid * 4; c < DV; c += kThreads * 4) {
    float4 t = make_float4(0.f, 0.f, 0.f, 0.f);
#pragma unroll
    for (int wi = 0; wi < kThreads / 32; ++wi) {
      const float4 v = *reinterpret_cast<const float4*>(&acc_s[wi][c]);
      t.x += v.x;
      t.y += v.y;
      t.z += v.z;
      t.w += v.w;
    }
    CT* out = static_cast<CT*>(a.out) + row * DV + c;
    *reinterpret_cast<uint2*>(out) = make_uint2(M::pack(t.x * inv, t.y * inv), M::pack(t.z * inv, t.w * inv));
  }
}

// A plain launch after the split kernel. Launched early instead (programmatic dependent launch,
// its blocks resident and waiting while the split kernel runs), the combine made the attention 15-22 us
// faster alone in a graph of Llama-3.1-8B's 32 layers at batch 1 but the whole step 75-78 us slower
// (H100, 2026-12-07; docs/validation/h100-sxm/README.md, "Which component").
template <typename CT>
void launch_combine(const DecodeAttention& a, cudaStream_t s) {
  decode_combine_kernel<CT><<<static_cast<unsigned>(a.batch * a.heads), kThreads, 0, s>>>(a);
  CUDA_CHECK_LAUNCH();
}

struct Variant {
  bool warp;  // decode_attention_warp_kernel (bf16/fp16) or the staged block kernel (fp8, MLA)
  int mt;     // 16-row M tiles per block
  int tt;     // tokens per tile (per warp tile in the warp kernel)
  int unit() const { return warp ? kThreads / 32 : 1; }  // tiles a block works on at once
};

Variant variant_of(const DecodeAttention& a) {
  if (a.v_in_k) return {false, 1, 32};
  // MQA-size groups take two 16-row MMA tiles per block (each KV tile read once), except for tiny
  // caches (< 4 MB), where the second head tile doubles the blocks and costs only L2 re-reads
  // (measured: 32/1 b1 4K 2 MB 0.67 -> 0.93 of SDPA; at >= 17 MB two tiles per block win).
  const int64_t group = a.heads / a.kv_heads;
  const int64_t kv_bytes = a.batch * a.kv_heads * a.context * (a.qk_dim + a.v_dim) * kv_type_bytes(a.kv);
  const int mt = group <= 16 || kv_bytes < (int64_t(4) << 20) ? 1 : 2;
  if (a.kv == KvType::fp8_e4m3) return {false, mt, 32};
  return {true, a.qk_dim <= 128 ? mt : 1, a.qk_dim == 64 ? 32 : 16};
}

// Sets the kernel's shared-memory limit once, then reports occupancy (blocks per SM) or launches.
template <auto Kernel, typename CT, typename... Extra>
void launch_kernel(int smem, int rows, const DecodeAttention& a, cudaStream_t s, int* occupancy, const Extra&... extra) {
  static bool configured = false;
  if (!configured) {
    CUDA_CHECK(cudaFuncSetAttribute(Kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
    configured = true;
  }
  if (occupancy) {
    CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(occupancy, Kernel, kThreads, smem));
    return;
  }
  const int head_tiles = static_cast<int>((a.heads / a.kv_heads + rows - 1) / rows);
  const dim3 grid(static_cast<unsigned>(head_tiles * a.splits * a.kv_heads), static_cast<unsigned>(a.batch));
  Kernel<<<grid, kThreads, smem, s>>>(a, head_tiles, extra...);
  CUDA_CHECK_LAUNCH();
  if (a.splits > 1) launch_combine<CT>(a, s);
}

template <int DK, int DV, int MT, typename KV, bool V_IN_K, int TT, int STAGES>
void launch(const DecodeAttention& a, cudaStream_t s, int* occupancy) {
  using C = Cfg<DK, DV, MT, KV, V_IN_K, TT, STAGES>;
  launch_kernel<decode_attention_kernel<DK, DV, MT, KV, V_IN_K, TT, STAGES>, typename C::CT>(C::SMEM, C::ROWS, a, s, occupancy);
}

// The warp kernel's tiles come by TMA where decode_attention_copies says so. A stride of 0 on a
// dimension stepped through (one K/V shared by the batch) is left to cp.async.
bool decode_uses_tma(const DecodeAttention& a) {
  if (a.cp_async_only || a.v_in_k || a.kv == KvType::fp8_e4m3 || !hopper_kernels_available()) return false;
  const auto ok = [&](int64_t stride, int64_t extent) { return extent == 1 || (stride > 0 && stride * 2 % 16 == 0); };
  const auto aligned = [](const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; };
  return ok(a.k_token_stride, 2) && ok(a.v_token_stride, 2) && ok(a.k_head_stride, a.kv_heads) &&
         ok(a.v_head_stride, a.kv_heads) && ok(a.k_batch_stride, a.batch) && ok(a.v_batch_stride, a.batch) &&
         aligned(a.k) && aligned(a.v) && a.context > 0 && a.context < (int64_t(1) << 31) && a.batch < (int64_t(1) << 31);
}

// The driver's tensor-map encoder, found once through the runtime (no link to libcuda); null where
// the driver lacks it.
PFN_cuTensorMapEncodeTiled_v12000 tensor_map_encoder() {
  static const PFN_cuTensorMapEncodeTiled_v12000 fn = [] {
    void* p = nullptr;
    cudaDriverEntryPointQueryResult q{};
#if CUDART_VERSION >= 12050
    const cudaError_t found = cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &p, 12000, cudaEnableDefault, &q);
#else
    const cudaError_t found = cudaGetDriverEntryPoint("cuTensorMapEncodeTiled", &p, cudaEnableDefault, &q);
#endif
    if (found != cudaSuccess || q != cudaDriverEntryPointSuccess) {
      (void)cudaGetLastError();
      return PFN_cuTensorMapEncodeTiled_v12000{nullptr};
    }
    return reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(p);
  }();
  return fn;
}

// A 4-D map of one KV tensor, dims (D, context, kv_heads, batch) innermost first; false where the
// driver refuses it.
template <int D, int TT>
bool encode_kv_map(CUtensorMap* map, CUtensorMapDataType type, const void* base, const DecodeAttention& a,
                   int64_t batch_stride, int64_t head_stride, int64_t token_stride) {
  const auto encode = tensor_map_encoder();  // (decode_uses_tma checked the base's alignment)
  if (!encode) return false;
  const cuuint64_t dims[4] = {cuuint64_t(D), cuuint64_t(a.context), cuuint64_t(a.kv_heads), cuuint64_t(a.batch)};
  // A dimension of size 1 is never stepped: give it the packed stride, which the encoder accepts.
  const int64_t tok = token_stride * 2;
  const int64_t head = a.kv_heads == 1 ? tok * a.context : head_stride * 2;
  const int64_t bat = a.batch == 1 ? head * a.kv_heads : batch_stride * 2;
  const cuuint64_t strides[3] = {cuuint64_t(tok), cuuint64_t(head), cuuint64_t(bat)};
  const cuuint32_t box[4] = {64, TT, 1, 1};
  const cuuint32_t step[4] = {1, 1, 1, 1};
  // No L2 promotion: a box row is 128 bytes, half of a 128-dim token row, and with 256-byte promotion
  // each token row was fetched once per box (ncu on the H200: 1.25x the L2 sectors; 7% slower).
  return encode(map, type, 4, const_cast<void*>(base), dims, strides, box, step, CU_TENSOR_MAP_INTERLEAVE_NONE,
                CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_NONE, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) ==
         CUDA_SUCCESS;
}

// The warp kernel copying its tiles with TMA where it can (an sm_90a build on a compute capability
// 9.0 device, a layout the encoder takes, a.cp_async_only unset), else with cp.async.
template <int D, int MT, typename CT, int TT, int STAGES>
void launch_warp(const DecodeAttention& a, cudaStream_t s, int* occupancy) {
  KvMaps maps{};
  const CUtensorMapDataType type = std::is_same_v<CT, __half> ? CU_TENSOR_MAP_DATA_TYPE_FLOAT16 : CU_TENSOR_MAP_DATA_TYPE_BFLOAT16;
  if (decode_uses_tma(a)) {
    if (!occupancy &&
        !(encode_kv_map<D, TT>(&maps.k, type, a.k, a, a.k_batch_stride, a.k_head_stride, a.k_token_stride) &&
          encode_kv_map<D, TT>(&maps.v, type, a.v, a, a.v_batch_stride, a.v_head_stride, a.v_token_stride)))
      throw Error("decode attention: the driver refused the KV cache's tensor map");
    using C = WarpCfg<D, MT, CT, TT, STAGES, true>;
    return launch_kernel<decode_attention_warp_kernel<D, MT, CT, TT, STAGES, true>, CT>(C::SMEM, C::ROWS, a, s, occupancy, maps);
  }
  using C = WarpCfg<D, MT, CT, TT, STAGES, false>;
  launch_kernel<decode_attention_warp_kernel<D, MT, CT, TT, STAGES, false>, CT>(C::SMEM, C::ROWS, a, s, occupancy, maps);
}

// Calls the launcher of the variant compiled for this shape (or throws).
void dispatch(const DecodeAttention& a, cudaStream_t s, int* occupancy) {
  const Variant v = variant_of(a);
  const auto unsupported = [&] {
    return Error("decode attention: no compiled variant for qk_dim " + std::to_string(a.qk_dim) + ", v_dim " +
                 std::to_string(a.v_dim) + (a.v_in_k ? " (MLA)" : "") +
                 (a.kv == KvType::fp8_e4m3 ? ", fp8" : a.kv == KvType::fp16 ? ", fp16" : ", bf16"));
  };
  if (a.v_in_k) {
    if (a.qk_dim == 576 && a.v_dim == 512 && a.kv == KvType::bf16)
      return launch<576, 512, 1, __nv_bfloat16, true, 32, 3>(a, s, occupancy);
    throw unsupported();
  }
  if (a.qk_dim != a.v_dim) throw unsupported();
  const bool two = v.mt == 2;
  switch (a.kv) {
    case KvType::bf16:
      if (a.qk_dim == 128) return two ? launch_warp<128, 2, __nv_bfloat16, 16, 3>(a, s, occupancy)
                                      : launch_warp<128, 1, __nv_bfloat16, 16, 3>(a, s, occupancy);
      if (a.qk_dim == 64) return two ? launch_warp<64, 2, __nv_bfloat16, 32, 3>(a, s, occupancy)
                                     : launch_warp<64, 1, __nv_bfloat16, 32, 3>(a, s, occupancy);
      if (a.qk_dim == 256) return launch_warp<256, 1, __nv_bfloat16, 16, 3>(a, s, occupancy);
      break;
    case KvType::fp16:
      if (a.qk_dim == 128) return two ? launch_warp<128, 2, __half, 16, 3>(a, s, occupancy)
                                      : launch_warp<128, 1, __half, 16, 3>(a, s, occupancy);
      break;
    case KvType::fp8_e4m3:
      if (a.qk_dim == 128) return two ? launch<128, 128, 2, uint8_t, false, 32, 4>(a, s, occupancy)
                                      : launch<128, 128, 1, uint8_t, false, 32, 4>(a, s, occupancy);
      break;
  }
  throw unsupported();
}

}  // namespace

int64_t plan_decode_attention(DecodeAttention& a, int sm_count) {
  if (a.heads <= 0 || a.kv_heads <= 0 || a.heads % a.kv_heads) throw Error("decode attention: heads must be a multiple of kv_heads");
  const Variant v = variant_of(a);
  const int64_t head_tiles = (a.heads / a.kv_heads + 16 * v.mt - 1) / (16 * v.mt);
  const int64_t first = a.window > 0 ? std::max<int64_t>(0, a.context - a.window) : 0;
  const int64_t tiles = (a.context - first + v.tt - 1) / v.tt;
  if (a.splits <= 0) {
    // Splits minimizing (whole waves of resident blocks) x (tile steps per block + a fixed cost
    // per block: launch, pipeline fill, merge and partial write), the smallest within 0.5%. A
    // split keeps at least 2 tiles per warp and enough KV that writing and re-reading its fp32
    // partial (rows x v_dim x 8 B) stays <= 1/4 of its KV bytes (the staged kernel: <= 64 splits).
    int occupancy = 1;
    dispatch(a, nullptr, &occupancy);
    const int64_t slots = static_cast<int64_t>(sm_count) * std::max(occupancy, 1);
    const int64_t base = a.batch * a.kv_heads * head_tiles;
    const int64_t rows = std::min<int64_t>(a.heads / a.kv_heads, 16 * v.mt);
    const int64_t tile_bytes = int64_t(v.tt) * (a.qk_dim + (a.v_in_k ? 0 : a.v_dim)) * kv_type_bytes(a.kv);
    const int64_t partial_bytes = rows * a.v_dim * 8;
    const int64_t min_tiles = v.warp ? std::max<int64_t>(2 * v.unit(), (4 * partial_bytes + tile_bytes - 1) / tile_bytes) : 1;
    const int64_t max_sp = std::max<int64_t>(1, std::min<int64_t>(v.warp ? kMaxSplits : 64, tiles / min_tiles));
    const int64_t fixed_steps = v.warp ? 2 : 4;
    int64_t best = 1;
    double best_cost = 1e300;
    for (int64_t sp = 1; sp <= max_sp; ++sp) {
      const int64_t waves = (base * sp + slots - 1) / slots;
      const int64_t steps = ((tiles + sp - 1) / sp + v.unit() - 1) / v.unit();
      const double cost = static_cast<double>(waves) * static_cast<double>(steps + fixed_steps);
      if (cost < best_cost * 0.995) {
        best_cost = cost;
        best = sp;
      }
    }
    a.splits = static_cast<int>(best);
  }
  if (a.splits > kMaxSplits) throw Error("decode attention: at most 128 splits");
  if (a.v_dim > 512 || a.v_dim % 4) throw Error("decode attention: v_dim must be a multiple of 4, at most 512");
  const int64_t counters = a.batch * a.kv_heads * head_tiles;
  const int64_t rows = a.batch * a.heads * a.splits;
  return (counters * 4 + 255) / 256 * 256 + (rows * 2 * 4 + 255) / 256 * 256 + rows * a.v_dim * 4;
}

void bind_decode_workspace(DecodeAttention& a, void* ws) {
  const Variant v = variant_of(a);
  const int64_t head_tiles = (a.heads / a.kv_heads + 16 * v.mt - 1) / (16 * v.mt);
  const int64_t counters = a.batch * a.kv_heads * head_tiles;
  char* p = static_cast<char*>(ws);
  a.counters = reinterpret_cast<int*>(p);
  p += (counters * 4 + 255) / 256 * 256;
  a.partial_ml = reinterpret_cast<float*>(p);
  p += (a.batch * a.heads * a.splits * 2 * 4 + 255) / 256 * 256;
  a.partial_o = reinterpret_cast<float*>(p);
}

int64_t decode_attention_bytes(const DecodeAttention& a) {
  const int64_t first = a.window > 0 ? std::max<int64_t>(0, a.context - a.window) : 0;
  const int64_t tokens = a.context - first;
  const int64_t kv_el = kv_type_bytes(a.kv);
  const int64_t kv = a.v_in_k ? a.batch * tokens * a.qk_dim * kv_el
                              : a.batch * a.kv_heads * tokens * (a.qk_dim + a.v_dim) * kv_el;
  return kv + a.batch * a.heads * (a.qk_dim + a.v_dim) * 2;
}

const char* decode_attention_copies(const DecodeAttention& a) { return decode_uses_tma(a) ? "tma" : "cp.async"; }

void launch_decode_attention(const DecodeAttention& a, cudaStream_t s) {
  if (a.splits <= 0) throw Error("decode attention: plan_decode_attention first");
  if (a.splits > 1 && (!a.partial_o || !a.partial_ml || !a.counters)) throw Error("decode attention: no workspace bound");
  dispatch(a, s, nullptr);
}

}  // namespace kvplan::gpu
