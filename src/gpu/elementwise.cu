// The decode step's small kernels: fused residual add + RMSNorm, NeoX rotary embedding, the KV
// append and the gated activations. Each does what the vLLM custom op of the same role does
// (csrc/layernorm_kernels.cu, csrc/pos_encoding_kernels.cu, csrc/cache_kernels.cu,
// csrc/activation_kernels.cu), written here from those definitions; all arithmetic in fp32, one
// rounding to the output format. At decode sizes (a few KB to a few MB) they are launch- and
// latency-bound, so they are simple: 16-byte accesses where rows allow, one block per row or token
// (the rotary: a flat grid of eight pairs a thread over the whole batch).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include <algorithm>

#include <cstdint>

#include "gpu/bf16_vec.cuh"
#include "gpu/cuda_check.h"
#include "gpu/kernels.h"

namespace kvplan::gpu {
namespace {

using bf16 = __nv_bfloat16;

// Sum over the threads of a row group: a warp (WARP) or the whole block.
template <bool WARP>
__device__ __forceinline__ float group_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffff, v, o);
  if constexpr (WARP) return v;
  __shared__ float part[32];
  __shared__ float total;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  if (lane == 0) part[warp] = v;
  __syncthreads();
  if (warp == 0) {
    float t = lane < static_cast<int>(blockDim.x / 32) ? part[lane] : 0.f;
#pragma unroll
    for (int o = 16; o > 0; o /= 2) t += __shfl_xor_sync(0xffffffff, t, o);
    if (lane == 0) total = t;
  }
  __syncthreads();
  return total;
}

// WARP: a warp per vector (narrow vectors: per-head norms), 8 a block; else a block per vector.
// Two passes over the vector: the second re-reads it from L1/L2.
template <bool WARP>
__global__ void rms_norm_kernel(RmsNorm n) {
  const int64_t vec = WARP ? int64_t(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32 : blockIdx.x;
  if (vec >= n.rows * n.heads) return;  // whole warps (WARP) or whole blocks leave together
  const int t = WARP ? threadIdx.x % 32 : threadIdx.x, nt = WARP ? 32 : blockDim.x;
  const int64_t stride = n.row_stride > 0 ? n.row_stride : n.heads * n.width;
  const int64_t row = vec / n.heads, off = row * stride + (vec - row * n.heads) * n.width;
  uint4* x = reinterpret_cast<uint4*>(static_cast<bf16*>(n.x) + off);
  uint4* r = n.residual ? reinterpret_cast<uint4*>(static_cast<bf16*>(n.residual) + off) : nullptr;
  const uint4* w = static_cast<const uint4*>(n.weight);
  const int chunks = static_cast<int>(n.width / 8);
  float ss = 0.f;
  for (int c = t; c < chunks; c += nt) {
    float a[8];
    unpack8(x[c], a);
    if (r) {
      float b[8];
      unpack8(r[c], b);
#pragma unroll
      for (int i = 0; i < 8; ++i) a[i] += b[i];
      const uint4 sum = pack8(a);
      r[c] = sum;
      unpack8(sum, a);  // the norm reads the stored (rounded) residual, as the next layer will
    }
#pragma unroll
    for (int i = 0; i < 8; ++i) ss += a[i] * a[i];
  }
  const float inv = rsqrtf(group_sum<WARP>(ss) / static_cast<float>(n.width) + n.eps);
  const float one = n.unit_offset ? 1.f : 0.f;
  for (int c = t; c < chunks; c += nt) {
    float a[8], g[8];
    unpack8(r ? r[c] : x[c], a);
    unpack8(w[c], g);
#pragma unroll
    for (int i = 0; i < 8; ++i) a[i] = a[i] * inv * (g[i] + one);
    x[c] = pack8(a);
  }
}

// A flat grid over the batch's (token, head, pair-group) triples, as the torch.compile'd rotary of
// vLLM's V1 engine runs (Inductor lowers RotaryEmbedding.forward_native to point-wise Triton
// kernels over the elements; vLLM issue #22293), not one block a token as its CUDA custom op,
// whose one block holds a batch-1 step's rotary on one SM. A thread rotates W consecutive pairs of
// one head: pair j is (x[j], x[j + rotary_dim/2]); W = 8 makes every access 16 bytes (where the
// shapes and pointers allow), W = 1 is the scalar fallback. Index arithmetic is 32-bit (the launch
// splits the tokens so that each grid's threads fit); only the pointer offsets are 64-bit.
template <int W>
__device__ __forceinline__ void load_w(const bf16* p, float (&f)[W]) {
  if constexpr (W == 8) {
    unpack8(*reinterpret_cast<const uint4*>(p), f);
  } else {
#pragma unroll
    for (int e = 0; e < W; ++e) f[e] = __bfloat162float(p[e]);
  }
}

template <int W>
__device__ __forceinline__ void store_w(bf16* p, const float (&f)[W]) {
  if constexpr (W == 8) {
    *reinterpret_cast<uint4*>(p) = pack8(f);
  } else {
#pragma unroll
    for (int e = 0; e < W; ++e) p[e] = __float2bfloat16(f[e]);
  }
}

template <int W>
__global__ void rotary_kernel(Rotary r, uint32_t groups_per_head, uint32_t groups_per_token, uint32_t threads) {
  const uint32_t i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= threads) return;
  const uint32_t tok = i / groups_per_token, rem = i - tok * groups_per_token, h = rem / groups_per_head;
  const uint32_t j = (rem - h * groups_per_head) * W, half = static_cast<uint32_t>(r.rotary_dim / 2);
  const int64_t pos = r.positions[tok];  // issued first: the cos/sin loads wait on it, x's do not
  const uint32_t heads = static_cast<uint32_t>(r.heads);
  bf16* base = h < heads ? static_cast<bf16*>(r.q) + int64_t(tok) * r.token_stride + int64_t(h) * r.head_dim
                         : static_cast<bf16*>(r.k) + int64_t(tok) * (r.k_token_stride > 0 ? r.k_token_stride : r.token_stride) +
                               int64_t(h - heads) * r.head_dim;
  float x1[W], x2[W], c[W], s[W];
  load_w<W>(base + j, x1);
  load_w<W>(base + j + half, x2);
  const bf16* cs = static_cast<const bf16*>(r.cos_sin) + pos * r.rotary_dim;
  load_w<W>(cs + j, c);
  load_w<W>(cs + half + j, s);
  float y1[W], y2[W];
#pragma unroll
  for (int e = 0; e < W; ++e) {
    y1[e] = x1[e] * c[e] - x2[e] * s[e];
    y2[e] = x2[e] * c[e] + x1[e] * s[e];
  }
  store_w<W>(base + j, y1);
  store_w<W>(base + j + half, y2);
}

// One block per sequence; 8 elements per thread per step (16-byte loads). bf16 caches copy, fp16
// ones convert, fp8 ones quantize with the tensor scale.
template <KvType T>
__global__ void kv_append_kernel(KvAppend a) {
  constexpr int64_t kEl = T == KvType::fp8_e4m3 ? 1 : 2;
  const int64_t b = blockIdx.x;
  const int64_t slot = a.slots[b];
  for (int part = 0; part < (a.v ? 2 : 1); ++part) {
    const bool is_v = part == 1;
    const int64_t dim = is_v ? a.v_dim : a.head_dim;
    const bf16* src = static_cast<const bf16*>(is_v ? a.v : a.k) + b * a.src_stride;
    char* dst = static_cast<char*>(is_v ? a.v_cache : a.k_cache) +
                kEl * (b * (is_v ? a.v_batch_stride : a.k_batch_stride) + slot * (is_v ? a.v_token_stride : a.k_token_stride));
    const int64_t head_stride = is_v ? a.v_head_stride : a.k_head_stride;
    const float inv_scale = 1.f / (is_v ? a.v_scale : a.k_scale);
    const int64_t chunks = a.kv_heads * dim / 8;
    for (int64_t c = threadIdx.x; c < chunks; c += blockDim.x) {
      const int64_t h = c * 8 / dim, d = c * 8 - h * dim;
      const uint4 u = reinterpret_cast<const uint4*>(src)[c];
      char* out = dst + kEl * (h * head_stride + d);
      if constexpr (T == KvType::bf16) {
        *reinterpret_cast<uint4*>(out) = u;
      } else {
        float f[8];
        unpack8(u, f);
        if constexpr (T == KvType::fp16) {
          uint4 q;
          __half2* qh = reinterpret_cast<__half2*>(&q);
#pragma unroll
          for (int i = 0; i < 4; ++i) qh[i] = __floats2half2_rn(f[2 * i], f[2 * i + 1]);
          *reinterpret_cast<uint4*>(out) = q;
        } else {
          uint2 q;
          uint8_t* qb = reinterpret_cast<uint8_t*>(&q);
#pragma unroll
          for (int i = 0; i < 8; ++i)
            qb[i] = static_cast<uint8_t>(__nv_cvt_float_to_fp8(f[i] * inv_scale, __NV_SATFINITE, __NV_E4M3));
          *reinterpret_cast<uint2*>(out) = q;
        }
      }
    }
  }
}

__device__ __forceinline__ float act(float x, Activation a) {
  switch (a) {
    case Activation::silu: return __fdividef(x, 1.f + __expf(-x));  // 0 where exp(-x) overflows, as silu tends to
    case Activation::gelu_tanh: {
      const float k0 = 0.7978845608028654f;  // sqrt(2/pi)
      return 0.5f * x * (1.f + tanhf(k0 * (x + 0.044715f * x * x * x)));
    }
    case Activation::relu2: {
      const float r = fmaxf(x, 0.f);
      return r * r;
    }
  }
  return x;
}

__global__ void act_and_mul_kernel(ActAndMul a) {
  const int64_t chunks = a.width / 8;
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= a.rows * chunks) return;
  const int64_t row = i / chunks, c = i - row * chunks;
  const uint4* in = reinterpret_cast<const uint4*>(static_cast<const bf16*>(a.in) + row * (a.gated ? 2 : 1) * a.width);
  float g[8], u[8];
  unpack8(in[c], g);
  if (a.gated) {
    unpack8(in[chunks + c], u);
#pragma unroll
    for (int e = 0; e < 8; ++e) g[e] = act(g[e], a.act) * u[e];
  } else {
#pragma unroll
    for (int e = 0; e < 8; ++e) g[e] = act(g[e], a.act);
  }
  reinterpret_cast<uint4*>(static_cast<bf16*>(a.out) + row * a.width)[c] = pack8(g);
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

}  // namespace

void launch_rms_norm(const RmsNorm& n, cudaStream_t s) {
  const int64_t stride = n.row_stride > 0 ? n.row_stride : n.heads * n.width;
  if (n.width % 8 || stride % 8 || !aligned16(n.x) || (n.residual && !aligned16(n.residual)) || !aligned16(n.weight))
    throw Error("rms norm: width and row stride must be multiples of 8 elements, buffers 16-byte aligned");
  const int64_t vectors = n.rows * n.heads;
  if (n.width / 8 <= 64) {  // narrow vectors (per-head norms): a warp each, 8 a block
    rms_norm_kernel<true><<<static_cast<unsigned>((vectors + 7) / 8), 256, 0, s>>>(n);
  } else {
    const int64_t chunks = n.width / 8;
    const int threads = static_cast<int>(std::min<int64_t>(1024, (chunks + 31) / 32 * 32));
    rms_norm_kernel<false><<<static_cast<unsigned>(vectors), threads, 0, s>>>(n);
  }
  CUDA_CHECK_LAUNCH();
}

int64_t rms_norm_bytes(const RmsNorm& n) {
  return n.rows * n.heads * n.width * 2 * (n.residual ? 4 : 2) + n.width * 2;  // x (and residual) read + written, weight
}

void launch_rotary(const Rotary& r, cudaStream_t s) {
  if (r.rotary_dim <= 0 || r.rotary_dim % 2 || r.rotary_dim > r.head_dim) throw Error("rotary: rotary_dim must be even and <= head_dim");
  const int64_t half = r.rotary_dim / 2, k_stride = r.k_token_stride > 0 ? r.k_token_stride : r.token_stride;
  const bool vec = half % 8 == 0 && r.head_dim % 8 == 0 && r.token_stride % 8 == 0 && k_stride % 8 == 0 && aligned16(r.q) &&
                   aligned16(r.k) && aligned16(r.cos_sin);
  const int64_t w = vec ? 8 : 1, per_token = (r.heads + r.kv_heads) * (half / w);
  if (r.tokens <= 0 || per_token == 0) return;
  if (per_token >= (int64_t(1) << 30)) throw Error("rotary: more than 2^30 pair groups a token");
  // Whole tokens a launch, at most 2^30 threads (the kernel's 32-bit indices).
  const int64_t tokens_per_launch = std::max<int64_t>(1, (int64_t(1) << 30) / per_token);
  for (int64_t t0 = 0; t0 < r.tokens; t0 += tokens_per_launch) {
    Rotary part = r;
    part.tokens = std::min(tokens_per_launch, r.tokens - t0);
    part.q = static_cast<bf16*>(r.q) + t0 * r.token_stride;
    part.k = static_cast<bf16*>(r.k) + t0 * k_stride;
    part.positions = r.positions + t0;
    const int64_t n = part.tokens * per_token;
    const auto blocks = static_cast<unsigned>((n + 255) / 256);
    const auto per_head = static_cast<uint32_t>(half / w), per_tok = static_cast<uint32_t>(per_token), threads = static_cast<uint32_t>(n);
    if (vec)
      rotary_kernel<8><<<blocks, 256, 0, s>>>(part, per_head, per_tok, threads);
    else
      rotary_kernel<1><<<blocks, 256, 0, s>>>(part, per_head, per_tok, threads);
    CUDA_CHECK_LAUNCH();
  }
}

int64_t rotary_bytes(const Rotary& r) {
  return r.tokens * ((r.heads + r.kv_heads) * r.rotary_dim * 2 * 2 + r.rotary_dim * 2 + 8);
}

void launch_kv_append(const KvAppend& a, cudaStream_t s) {
  if (a.head_dim % 8 || (a.v && a.v_dim % 8) || a.src_stride % 8 || !aligned16(a.k) || (a.v && !aligned16(a.v)))
    throw Error("kv append: head dims and the source stride must be multiples of 8 elements, sources 16-byte aligned");
  const int64_t chunks = a.kv_heads * std::max(a.head_dim, a.v ? a.v_dim : 0) / 8;
  const int threads = static_cast<int>(std::min<int64_t>(256, (chunks + 31) / 32 * 32));
  switch (a.kv) {
    case KvType::bf16: kv_append_kernel<KvType::bf16><<<static_cast<unsigned>(a.batch), threads, 0, s>>>(a); break;
    case KvType::fp16: kv_append_kernel<KvType::fp16><<<static_cast<unsigned>(a.batch), threads, 0, s>>>(a); break;
    case KvType::fp8_e4m3: kv_append_kernel<KvType::fp8_e4m3><<<static_cast<unsigned>(a.batch), threads, 0, s>>>(a); break;
  }
  CUDA_CHECK_LAUNCH();
}

int64_t kv_append_bytes(const KvAppend& a) {
  const int64_t elements = a.batch * a.kv_heads * (a.head_dim + (a.v ? a.v_dim : 0));
  return elements * (2 + kv_type_bytes(a.kv)) + a.batch * 8;
}

void launch_act_and_mul(const ActAndMul& a, cudaStream_t s) {
  if (a.width % 8 || !aligned16(a.in) || !aligned16(a.out)) throw Error("act_and_mul: width must be a multiple of 8");
  const int64_t n = a.rows * a.width / 8;
  act_and_mul_kernel<<<static_cast<unsigned>((n + 255) / 256), 256, 0, s>>>(a);
  CUDA_CHECK_LAUNCH();
}

int64_t act_and_mul_bytes(const ActAndMul& a) { return a.rows * a.width * 2 * (a.gated ? 3 : 2); }

}  // namespace kvplan::gpu
