// MoE decode kernels: the router's top-k, one grouped GEMV over the experts a batch touches (each
// touched expert's weights read once, as vLLM's fused_moe kernel reads them, instead of a loop of
// per-expert GEMMs) and the weighted combine. Roles as in vLLM's csrc/moe/topk_softmax_kernels.cu,
// vllm/model_executor/layers/fused_moe/fused_moe.py and csrc/moe/moe_align_sum_kernels.cu
// (moe_align_block_size, moe_sum); written here from those definitions.
#include <cuda_bf16.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "gpu/bf16_vec.cuh"
#include "gpu/cuda_check.h"
#include "core/moe_align.h"
#include "gpu/kernels.h"
#include "gpu/mma.cuh"

namespace kvplan::gpu {
namespace {

using bf16 = __nv_bfloat16;
constexpr int kMaxExperts = 256;

// A warp per row; lane l holds experts l, l + 32, ...; k rounds of a warp-wide argmax.
__global__ void topk_kernel(TopK t) {
  constexpr int kPer = kMaxExperts / 32;
  const int64_t row = int64_t(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  if (row >= t.rows) return;
  const int lane = threadIdx.x % 32;
  const bf16* logits = static_cast<const bf16*>(t.logits) + row * t.experts;
  float v[kPer];
  float mx = -INFINITY;
#pragma unroll
  for (int i = 0; i < kPer; ++i) {
    const int e = lane + 32 * i;
    v[i] = e < t.experts ? __bfloat162float(logits[e]) : -INFINITY;
    mx = fmaxf(mx, v[i]);
  }
  for (int o = 16; o > 0; o /= 2) mx = fmaxf(mx, __shfl_xor_sync(0xffffffff, mx, o));
  float chosen_sum = 0.f, my_w = 0.f;
  int my_id = 0;
  for (int j = 0; j < t.k; ++j) {
    float best = -INFINITY;
    int best_e = 1 << 30;
#pragma unroll
    for (int i = 0; i < kPer; ++i)
      if (v[i] > best) {  // increasing e within a lane: the first of equals wins
        best = v[i];
        best_e = lane + 32 * i;
      }
    for (int o = 16; o > 0; o /= 2) {
      const float ob = __shfl_xor_sync(0xffffffff, best, o);
      const int oe = __shfl_xor_sync(0xffffffff, best_e, o);
      if (ob > best || (ob == best && oe < best_e)) {
        best = ob;
        best_e = oe;
      }
    }
    const float w = __expf(best - mx);  // softmax numerator; the denominator cancels in the renormalization
    chosen_sum += w;
    if (lane == j) {
      my_w = w;
      my_id = best_e;
    }
#pragma unroll
    for (int i = 0; i < kPer; ++i)
      if (lane + 32 * i == best_e) v[i] = -INFINITY;
  }
  if (lane < t.k) {
    t.weights[row * t.k + lane] = my_w / chosen_sum;
    t.ids[row * t.k + lane] = my_id;
  }
}

// Weights stream through once: read-only path, no L1 allocation (L1 keeps the activations), L2
// prefetch of the 256-byte sector group.
__device__ __forceinline__ uint4 ld_stream(const uint4* p) {
  uint4 v;
  asm("ld.global.nc.L1::no_allocate.L2::256B.v4.u32 {%0, %1, %2, %3}, [%4];"
      : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
      : "l"(p));
  return v;
}

// blockIdx.y: the group (touched expert); each warp R consecutive output rows of it, for the
// group's slots 8 / R at a time (a group with more slots reads its rows again, mostly from L2).
// Each lane keeps 4 independent 16-byte weight loads in flight (U per row); every activation chunk
// it loads (from L1/L2) serves the R rows.
template <int R>
__global__ void __launch_bounds__(256, 3) grouped_gemv_kernel(GroupedGemv g) {
  constexpr int U = 4 / R, kSlotsPerPass = 8 / R;
  const int group = blockIdx.y;
  const int lane = threadIdx.x % 32;
  const int64_t o0 = (int64_t(blockIdx.x) * 8 + threadIdx.x / 32) * R;
  if (o0 >= g.out) return;
  const int s0 = g.offsets[group], s1 = g.offsets[group + 1];
  const int chunks = static_cast<int>(g.in / 8);
  const uint4* wrow[R];
#pragma unroll
  for (int r = 0; r < R; ++r)  // rows past the end re-read the last row and store nothing
    wrow[r] = reinterpret_cast<const uint4*>(static_cast<const bf16*>(g.w) +
                                             (int64_t(g.expert_ids[group]) * g.out + min(o0 + r, g.out - 1)) * g.in);
  const uint4* x = static_cast<const uint4*>(g.x);
  for (int sb = s0; sb < s1; sb += kSlotsPerPass) {
    const int nt = min(kSlotsPerPass, s1 - sb);
    int xoff[kSlotsPerPass];  // in 16-byte chunks
#pragma unroll
    for (int t = 0; t < kSlotsPerPass; ++t) xoff[t] = g.in_rows[sb + (t < nt ? t : 0)] * chunks;
    float acc[R][kSlotsPerPass] = {};
    for (int c = lane; c < chunks; c += 32 * U) {
      uint4 wv[R][U];
#pragma unroll
      for (int u = 0; u < U; ++u)
#pragma unroll
        for (int r = 0; r < R; ++r)
          if (c + 32 * u < chunks) wv[r][u] = ld_stream(wrow[r] + c + 32 * u);
#pragma unroll
      for (int u = 0; u < U; ++u) {
        if (c + 32 * u >= chunks) break;
#pragma unroll
        for (int t = 0; t < kSlotsPerPass; ++t) {
          if (t >= nt) break;
          float xf[8];
          unpack8(x[xoff[t] + c + 32 * u], xf);
#pragma unroll
          for (int r = 0; r < R; ++r) {
            float wf[8];
            unpack8(wv[r][u], wf);
#pragma unroll
            for (int e = 0; e < 8; ++e) acc[r][t] = fmaf(wf[e], xf[e], acc[r][t]);
          }
        }
      }
    }
#pragma unroll
    for (int t = 0; t < kSlotsPerPass; ++t) {
      if (t >= nt) break;
#pragma unroll
      for (int r = 0; r < R; ++r) {
        float a = acc[r][t];
        for (int off = 16; off > 0; off /= 2) a += __shfl_xor_sync(0xffffffff, a, off);
        if (lane == t * R + r && o0 + r < g.out) static_cast<bf16*>(g.y)[int64_t(sb + t) * g.out + o0 + r] = __float2bfloat16(a);
      }
    }
  }
}

// Tensor-core path for groups of 3 or more slots, where the GEMV above spends more instructions per
// weight byte than the bandwidth allows: a warp computes 16 output rows for up to 8 x NB slots a
// pass with mma.m16n8k16 (bf16 in, fp32 accumulate), the weights as A, the slots' inputs as B. k goes
// 32 at a time: lane (r = lane / 4, q = lane % 4) loads 8 consecutive k (16 bytes) of rows r and
// r + 8 and of slot r of each 8-slot block; the MMA's k order within each 16 is permuted alike for A
// and B (virtual 2q, 2q + 1, 2q + 8, 2q + 9 <- real 8q .. 8q + 3 for the first MMA, 8q + 4 .. 8q + 7
// for the second), which leaves every dot product unchanged. Needs in % 32 == 0.
// Each lane issues all its loads of U k blocks (weights, then every slot block's inputs) before the
// first MMA: an input load issued between MMAs waits out its L1/L2 latency once per slot block. On
// the H200, Mixtral's weights at batch 128 (32 slots a group) streamed at 1.57 TB/s with the loads
// between the MMAs and 3.31 TB/s with them issued together (docs/validation/README.md, "MoE decode
// steps by batch"). U = 2 at NB = 4 keeps the registers in bounds. A group of more than 32 slots
// takes another pass, reading its weights again.
template <int NB>
__global__ void __launch_bounds__(256) grouped_gemv_mma_kernel(GroupedGemv g) {
  constexpr int U = NB >= 4 ? 2 : 4;  // k blocks of 32 in flight
  const int group = blockIdx.y;
  const int lane = threadIdx.x % 32, r = lane / 4, q = lane % 4;
  const int64_t o0 = (int64_t(blockIdx.x) * 8 + threadIdx.x / 32) * 16;
  if (o0 >= g.out) return;
  const int s0 = g.offsets[group], s1 = g.offsets[group + 1];
  const int64_t chunks = g.in / 8, kblocks = g.in / 32;
  const bf16* we = static_cast<const bf16*>(g.w) + int64_t(g.expert_ids[group]) * g.out * g.in;
  // Rows past the end re-read the last row and store nothing.
  const uint4* w_lo = reinterpret_cast<const uint4*>(we + min(o0 + r, g.out - 1) * g.in) + q;
  const uint4* w_hi = reinterpret_cast<const uint4*>(we + min(o0 + r + 8, g.out - 1) * g.in) + q;
  const uint4* x = static_cast<const uint4*>(g.x);
  for (int sb = s0; sb < s1; sb += 8 * NB) {
    const uint4* xs[NB];
#pragma unroll
    for (int j = 0; j < NB; ++j) {
      const int slot = sb + 8 * j + r;  // slots past the group's end read its first input, stored nowhere
      xs[j] = x + int64_t(g.in_rows[slot < s1 ? slot : s0]) * chunks + q;
    }
    const int blocks = min(NB, (s1 - sb + 7) / 8);  // slot blocks of this pass
    float acc[NB][4] = {};
    for (int64_t kb = 0; kb < kblocks; kb += U) {
      uint4 lo[U], hi[U], b[U][NB];
#pragma unroll
      for (int u = 0; u < U; ++u)
        if (kb + u < kblocks) {
          lo[u] = ld_stream(w_lo + (kb + u) * 4);
          hi[u] = ld_stream(w_hi + (kb + u) * 4);
        }
#pragma unroll
      for (int u = 0; u < U; ++u)
#pragma unroll
        for (int j = 0; j < NB; ++j)
          if (kb + u < kblocks && j < blocks) b[u][j] = __ldg(xs[j] + (kb + u) * 4);
#pragma unroll
      for (int u = 0; u < U; ++u) {
        if (kb + u >= kblocks) break;
        const unsigned a0[4] = {lo[u].x, hi[u].x, lo[u].y, hi[u].y};
        const unsigned a1[4] = {lo[u].z, hi[u].z, lo[u].w, hi[u].w};
#pragma unroll
        for (int j = 0; j < NB; ++j)
          if (j < blocks) {
            Mma<bf16>::run(acc[j], a0, b[u][j].x, b[u][j].y);
            Mma<bf16>::run(acc[j], a1, b[u][j].z, b[u][j].w);
          }
      }
    }
    // acc[j]: rows r (0, 1) and r + 8 (2, 3), slots 8j + 2q and 8j + 2q + 1.
    bf16* y = static_cast<bf16*>(g.y);
#pragma unroll
    for (int j = 0; j < NB; ++j)
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const int slot = sb + 8 * j + 2 * q + (i & 1);
        const int64_t row = o0 + r + (i >= 2 ? 8 : 0);
        if (slot < s1 && row < g.out) y[int64_t(slot) * g.out + row] = __float2bfloat16(acc[j][i]);
      }
  }
}

// One block per token, 8 elements per thread per step.
__global__ void moe_combine_kernel(MoeCombine c) {
  const int64_t tok = blockIdx.x;
  const int64_t chunks = c.width / 8;
  for (int64_t i = threadIdx.x; i < chunks; i += blockDim.x) {
    float acc[8] = {};
    for (int64_t j = 0; j < c.k; ++j) {
      const float w = c.weights[tok * c.k + j];
      float f[8];
      unpack8(reinterpret_cast<const uint4*>(static_cast<const bf16*>(c.y) + int64_t(c.slot_of[tok * c.k + j]) * c.width)[i], f);
#pragma unroll
      for (int e = 0; e < 8; ++e) acc[e] = fmaf(w, f[e], acc[e]);
    }
    uint4 u;
    __nv_bfloat162* h = reinterpret_cast<__nv_bfloat162*>(&u);
#pragma unroll
    for (int e = 0; e < 4; ++e) h[e] = __floats2bfloat162_rn(acc[2 * e], acc[2 * e + 1]);
    reinterpret_cast<uint4*>(static_cast<bf16*>(c.out) + tok * c.width)[i] = u;
  }
}

// The one-kernel path (vLLM's small-batch mode): one block, per-expert counts in shared memory, the
// padded offsets by one thread, then each slot claims a place in its expert's group.
__global__ void moe_align_kernel(MoeAlign a) {
  __shared__ int count[kMaxExperts], cursor[kMaxExperts], offset[kMaxExperts + 1];
  const int E = static_cast<int>(a.experts), block = static_cast<int>(a.block);
  for (int e = threadIdx.x; e < E; e += blockDim.x) count[e] = 0;
  __syncthreads();
  for (int64_t i = threadIdx.x; i < a.slots; i += blockDim.x) {
    const int e = a.ids[i];
    if (e >= 0 && e < E) atomicAdd(&count[e], 1);
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    offset[0] = 0;
    for (int e = 0; e < E; ++e) offset[e + 1] = offset[e] + (count[e] + block - 1) / block * block;
    *a.total = offset[E];
  }
  __syncthreads();
  for (int e = threadIdx.x; e < E; e += blockDim.x) {
    cursor[e] = offset[e];
    for (int b = offset[e] / block; b < offset[e + 1] / block; ++b) a.block_expert[b] = e;
  }
  for (int i = threadIdx.x; i < offset[E]; i += blockDim.x) a.sorted[i] = static_cast<int>(a.slots);
  __syncthreads();
  for (int64_t i = threadIdx.x; i < a.slots; i += blockDim.x) {
    const int e = a.ids[i];
    if (e >= 0 && e < E) a.sorted[atomicAdd(&cursor[e], 1)] = static_cast<int>(i);
  }
}

// The two-kernel path, first kernel: per-expert counts, their padded sizes' block-wide inclusive
// scan (one thread per expert, kMaxExperts threads), each expert's blocks and first place.
__global__ void __launch_bounds__(kMaxExperts) moe_align_scan_kernel(MoeAlign a) {
  __shared__ int count[kMaxExperts], scan[kMaxExperts];
  const int E = static_cast<int>(a.experts), block = static_cast<int>(a.block), tid = threadIdx.x;
  count[tid] = 0;
  __syncthreads();
  for (int64_t i = tid; i < a.slots; i += blockDim.x) {
    const int e = a.ids[i];
    if (e >= 0 && e < E) atomicAdd(&count[e], 1);
  }
  __syncthreads();
  const int padded = tid < E ? (count[tid] + block - 1) / block * block : 0;
  scan[tid] = padded;
  __syncthreads();
  for (int off = 1; off < kMaxExperts; off *= 2) {
    const int add = tid >= off ? scan[tid - off] : 0;
    __syncthreads();
    scan[tid] += add;
    __syncthreads();
  }
  const int end = scan[tid], begin = end - padded, total = scan[kMaxExperts - 1];
  if (tid < E) {
    a.cursor[tid] = begin;
    for (int b = begin / block; b < end / block; ++b) a.block_expert[b] = tid;
  }
  if (tid == 0) *a.total = total;
  for (int i = tid; i < total; i += blockDim.x) a.sorted[i] = static_cast<int>(a.slots);
}

// Second kernel: each slot takes the next place of its expert.
__global__ void moe_align_sort_kernel(MoeAlign a) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= a.slots) return;
  const int e = a.ids[i];
  if (e >= 0 && e < a.experts) a.sorted[atomicAdd(&a.cursor[e], 1)] = static_cast<int>(i);
}

}  // namespace

int64_t align_capacity(const MoeAlign& a) { return a.slots + a.experts * (a.block - 1); }
int64_t moe_align_ints(const MoeAlign& a) { return align_capacity(a) + align_capacity(a) / a.block + 1 + a.experts; }
void bind_moe_align(MoeAlign& a, int* workspace) {
  a.sorted = workspace;
  a.block_expert = a.sorted + align_capacity(a);
  a.total = a.block_expert + align_capacity(a) / a.block;
  a.cursor = a.total + 1;
}
bool moe_align_two_kernels(const MoeAlign& a) { return kvplan::moe_align_two_kernels(a.experts, a.slots); }

void launch_moe_align(const MoeAlign& a, cudaStream_t s) {
  if (a.experts < 1 || a.experts > kMaxExperts || a.block < 1 || a.slots < 0 || a.slots >= (int64_t{1} << 30))
    throw Error("MoE align: 1..256 experts, a block of at least 1 slot, fewer than 2^30 slots");
  if (!moe_align_two_kernels(a)) {
    moe_align_kernel<<<1, 256, 0, s>>>(a);
    CUDA_CHECK_LAUNCH();
    return;
  }
  moe_align_scan_kernel<<<1, kMaxExperts, 0, s>>>(a);
  CUDA_CHECK_LAUNCH();
  moe_align_sort_kernel<<<static_cast<unsigned>(std::max<int64_t>(1, (a.slots + 255) / 256)), 256, 0, s>>>(a);
  CUDA_CHECK_LAUNCH();
}

// Reads the ids, writes the padded slot list and the block experts.
int64_t moe_align_bytes(const MoeAlign& a) {
  const int64_t cap = align_capacity(a);
  const bool two = moe_align_two_kernels(a);  // the ids read twice, the cursors written and taken
  return ((two ? 2 : 1) * a.slots + cap + cap / a.block + (two ? 2 * a.experts : 0)) * 4;
}

void launch_topk(const TopK& t, cudaStream_t s) {
  if (t.experts < 1 || t.experts > kMaxExperts || t.k < 1 || t.k > std::min<int64_t>(32, t.experts))
    throw Error("top-k: 1..256 experts and k <= min(32, experts)");
  topk_kernel<<<static_cast<unsigned>((t.rows + 7) / 8), 256, 0, s>>>(t);
  CUDA_CHECK_LAUNCH();
}

void launch_grouped_gemv(const GroupedGemv& g, cudaStream_t s) {
  if (g.in % 8 || reinterpret_cast<uintptr_t>(g.w) % 16 || reinterpret_cast<uintptr_t>(g.x) % 16)
    throw Error("grouped GEMV: the input width must be a multiple of 8, weights and inputs 16-byte aligned");
  if (g.groups < 1 || g.groups > 65535) throw Error("grouped GEMV: 1..65535 groups");
  // Rows per warp: measured on an H200 (docs/validation/README.md), Mixtral's 2 slots per expert
  // streamed at 3.06 / 3.57 / 4.06 TB/s with 1 / 2 / 4 rows, gpt-oss's 1 slot at 3.66 / 3.94 / 3.93.
  static const int forced = [] {  // KVPLAN_MOE_ROWS: experiment switch (1, 2 or 4 rows per warp)
    const char* e = std::getenv("KVPLAN_MOE_ROWS");
    const int r = e ? std::atoi(e) : 0;
    return r == 1 || r == 2 || r == 4 ? r : 0;
  }();
  const int64_t m = g.max_group_slots;
  // KVPLAN_MOE_KERNEL=gemv|mma: experiment switch; by default the tensor cores from 3 slots a group.
  static const std::string kernel = [] {
    const char* e = std::getenv("KVPLAN_MOE_KERNEL");
    return std::string(e ? e : "");
  }();
  if (g.in % 32 == 0 && (kernel == "mma" || (kernel != "gemv" && !forced && m >= 3))) {
    const int nb = m >= 1 && m <= 8 ? 1 : m >= 1 && m <= 16 ? 2 : 4;
    const dim3 grid(static_cast<unsigned>((g.out + 127) / 128), static_cast<unsigned>(g.groups));
    switch (nb) {
      case 1: grouped_gemv_mma_kernel<1><<<grid, 256, 0, s>>>(g); break;
      case 2: grouped_gemv_mma_kernel<2><<<grid, 256, 0, s>>>(g); break;
      default: grouped_gemv_mma_kernel<4><<<grid, 256, 0, s>>>(g); break;
    }
    CUDA_CHECK_LAUNCH();
    return;
  }
  const int rows_per_warp = forced ? forced : m >= 1 && m <= 2 ? 4 : m >= 1 && m <= 4 ? 2 : 1;
  const int64_t rows_per_block = 8 * rows_per_warp;
  const dim3 grid(static_cast<unsigned>((g.out + rows_per_block - 1) / rows_per_block), static_cast<unsigned>(g.groups));
  switch (rows_per_warp) {
    case 1: grouped_gemv_kernel<1><<<grid, 256, 0, s>>>(g); break;
    case 4: grouped_gemv_kernel<4><<<grid, 256, 0, s>>>(g); break;
    default: grouped_gemv_kernel<2><<<grid, 256, 0, s>>>(g); break;
  }
  CUDA_CHECK_LAUNCH();
}

int64_t grouped_gemv_bytes(const GroupedGemv& g) { return (g.groups * g.out * g.in + g.slots * (g.in + g.out)) * 2; }

void launch_moe_combine(const MoeCombine& c, cudaStream_t s) {
  if (c.width % 8) throw Error("MoE combine: width must be a multiple of 8");
  const int threads = static_cast<int>(std::min<int64_t>(256, (c.width / 8 + 31) / 32 * 32));
  moe_combine_kernel<<<static_cast<unsigned>(c.tokens), threads, 0, s>>>(c);
  CUDA_CHECK_LAUNCH();
}

int64_t moe_combine_bytes(const MoeCombine& c) { return c.tokens * (c.k + 1) * c.width * 2 + c.tokens * c.k * 8; }

}  // namespace kvplan::gpu
