// Bandwidth probe, SM clock probe, and input fills. The read probe is sized by the caller well past L2.
// Read probe kernels (KVPLAN_PROBE_VARIANT, an experiment switch; default 4, the fastest measured):
//   0: grid-stride, 4 x 512-thread blocks per SM, 8 loads 4.3 MB apart in flight per thread (the original);
//   1-4: block-contiguous tiles on a persistent grid (SMs x resident blocks): 1: 512 threads x 8 ld.cs;
//   2: 512 x 8 ld.nc.L2::256B; 3: 256 x 16 ld.nc.L2::256B; 4: 256 x 4 ld.nc.L2::256B (the default
//   before compute capability 9.0); 5 (the default from 9.0): the bulk copy engine, one warp per SM
//   keeping a ring of four 32 KB chunks in flight into shared memory. On an H200 (4 GiB, cold L2, one
//   run): variant 4 4.25 TB/s, 5 4.56 TB/s, cuDNN's decode attention 4.49 TB/s on 4.3 GB of KV.
#include <cuda_bf16.h>

#include <cstdlib>

#include "gpu/cuda_check.h"
#include "gpu/kernels.h"

namespace kvplan::gpu {
namespace {

__global__ void __launch_bounds__(512) read_kernel(const uint4* __restrict__ src, int64_t n, unsigned* sink) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  unsigned acc = 0;
  for (; i + 7 * stride < n; i += 8 * stride) {  // 8 independent 16-byte loads in flight per thread
    uint4 v[8];
#pragma unroll
    for (int k = 0; k < 8; ++k) v[k] = __ldcs(src + i + k * stride);
#pragma unroll
    for (int k = 0; k < 8; ++k) acc ^= v[k].x ^ v[k].y ^ v[k].z ^ v[k].w;
  }
  for (; i < n; i += stride) {
    const uint4 a = __ldcs(src + i);
    acc ^= a.x ^ a.y ^ a.z ^ a.w;
  }
  if (acc == 0x9e3779b9u) sink[blockIdx.x] = acc;  // keeps the loads; almost never stores
}

// Block-contiguous variant: tiles of T x U 16-byte vectors (each warp reads U contiguous 512-byte runs),
// tiles dealt to a persistent grid (SMs x resident blocks) round robin; U loads in flight per thread,
// no bounds checks in the main loop. MODE 0: ld.global.cs; MODE 1: ld.global.nc with a 256-byte L2 prefetch.
template <int MODE>
__device__ __forceinline__ uint4 ld16(const uint4* p) {
  if constexpr (MODE == 0) {
    return __ldcs(p);
  } else {
    uint4 v;
    asm volatile("ld.global.nc.L1::no_allocate.L2::256B.v4.u32 {%0,%1,%2,%3}, [%4];"
                 : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "l"(p));
    return v;
  }
}

template <int T, int U, int MODE>
__global__ void __launch_bounds__(T) read_tiled_kernel(const uint4* __restrict__ src, int64_t n, unsigned* sink) {
  constexpr int TILE = T * U;
  const int64_t tiles = n / TILE;
  unsigned acc = 0;
  for (int64_t t = blockIdx.x; t < tiles; t += gridDim.x) {
    const uint4* p = src + t * TILE + threadIdx.x;
    uint4 v[U];
#pragma unroll
    for (int k = 0; k < U; ++k) v[k] = ld16<MODE>(p + k * T);
#pragma unroll
    for (int k = 0; k < U; ++k)  // all U vectors live at once: U loads really in flight
      asm volatile("" ::"r"(v[k].x), "r"(v[k].y), "r"(v[k].z), "r"(v[k].w));
#pragma unroll
    for (int k = 0; k < U; ++k) acc ^= v[k].x ^ v[k].y ^ v[k].z ^ v[k].w;
  }
  for (int64_t i = tiles * TILE + int64_t(blockIdx.x) * T + threadIdx.x; i < n; i += int64_t(gridDim.x) * T) {
    const uint4 a = ld16<MODE>(src + i);
    acc ^= a.x ^ a.y ^ a.z ^ a.w;
  }
  if (acc == 0x9e3779b9u) sink[0] = acc;  // keeps the loads; almost never stores
}

// Bulk-copy read: chunks of `chunk` bytes dealt round robin over the grid; thread 0 of each one-warp
// block keeps STAGES of them in flight with cp.async.bulk (the copy engine, compute capability 9.0),
// each completing on its stage's mbarrier; the warp folds one word of each landed chunk into a sink.
constexpr int kBulkStages = 4;
constexpr int kBulkChunk = 32768;

__global__ void __launch_bounds__(32) read_bulk_kernel(const char* __restrict__ src, int64_t bytes, unsigned* sink) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  extern __shared__ __align__(128) unsigned char ring[];
  __shared__ __align__(8) uint64_t full[kBulkStages];
  const int64_t chunks = bytes / kBulkChunk;
  auto bar = [&](int s) { return static_cast<unsigned>(__cvta_generic_to_shared(&full[s])); };
  auto issue = [&](int s, int64_t c) {  // thread 0: expect the chunk's bytes, then start its copy
    const unsigned dst = static_cast<unsigned>(__cvta_generic_to_shared(ring + s * kBulkChunk));
    asm volatile("mbarrier.arrive.expect_tx.shared.b64 _, [%0], %1;" ::"r"(bar(s)), "r"(kBulkChunk));
    asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];" ::"r"(dst),
                 "l"(src + c * kBulkChunk), "r"(kBulkChunk), "r"(bar(s))
                 : "memory");
  };
  if (threadIdx.x == 0) {
    for (int s = 0; s < kBulkStages; ++s) asm volatile("mbarrier.init.shared.b64 [%0], 1;" ::"r"(bar(s)));
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
    for (int s = 0; s < kBulkStages; ++s)
      if (blockIdx.x + int64_t(s) * gridDim.x < chunks) issue(s, blockIdx.x + int64_t(s) * gridDim.x);
  }
  __syncwarp();
  unsigned acc = 0;
  for (int64_t i = 0, c = blockIdx.x; c < chunks; ++i, c += gridDim.x) {
    const int s = static_cast<int>(i % kBulkStages);
    const unsigned phase = static_cast<unsigned>((i / kBulkStages) & 1);
    asm volatile(
        "{\n .reg .pred p;\n WAIT:\n mbarrier.try_wait.parity.shared.b64 p, [%0], %1;\n @!p bra WAIT;\n}\n" ::"r"(bar(s)),
        "r"(phase)
        : "memory");
    acc ^= reinterpret_cast<const unsigned*>(ring + s * kBulkChunk)[threadIdx.x];
    __syncwarp();
    const int64_t next = c + int64_t(kBulkStages) * gridDim.x;
    if (threadIdx.x == 0 && next < chunks) {
      asm volatile("fence.proxy.async.shared::cta;" ::: "memory");  // the warp's reads before the copy's writes
      issue(s, next);
    }
  }
  if (acc == 0x9e3779b9u) sink[0] = acc;  // keeps the loads; almost never stores
#else
  __trap();  // launched only on compute capability 9.0 and newer
#endif
}

__device__ unsigned l2_clean_sink;

__global__ void __launch_bounds__(256) l2_clean_kernel(const uint4* __restrict__ src, int64_t n) {
  unsigned acc = 0;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const uint4 a = __ldg(src + i);
    acc ^= a.x ^ a.y ^ a.z ^ a.w;
  }
  if (acc == 0x9e3779b9u) l2_clean_sink = acc;
}

template <typename K>
int resident_blocks(K kernel, int threads) {
  int per_sm = 0;
  CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, threads, 0));
  return per_sm > 0 ? per_sm : 1;
}

__global__ void __launch_bounds__(512) copy_kernel(const uint4* __restrict__ src, uint4* __restrict__ dst, int64_t n) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  for (; i + stride < n; i += 2 * stride) {
    const uint4 a = __ldcs(src + i), b = __ldcs(src + i + stride);
    __stcs(dst + i, a);
    __stcs(dst + i + stride, b);
  }
  for (; i < n; i += stride) __stcs(dst + i, __ldcs(src + i));
}

__global__ void clock_kernel(unsigned long long ns, double* out) {
  unsigned long long t0, t1;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t0));
  const long long c0 = clock64();
  do {
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t1));
  } while (t1 - t0 < ns);
  const long long c1 = clock64();
  *out = double(c1 - c0) / double(t1 - t0);
}

__global__ void fill_bf16_kernel(__nv_bfloat16* p, int64_t n, uint64_t seed, float lo, float hi) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    uint64_t z = seed + 0x9e3779b97f4a7c15ull * uint64_t(i + 1);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    const float u = float(z >> 40) * (1.0f / 16777216.0f);
    p[i] = __float2bfloat16(lo + (hi - lo) * u);
  }
}

int blocks_for(int sm_count) { return sm_count * 4; }

}  // namespace

void launch_l2_clean_read(const void* p, int64_t bytes, cudaStream_t s) {
  l2_clean_kernel<<<1024, 256, 0, s>>>(static_cast<const uint4*>(p), bytes / 16);
  CUDA_CHECK_LAUNCH();
}

void launch_read_probe(const void* src, int64_t bytes, unsigned* sink, int sm_count, cudaStream_t s) {
  static const int variant = [] {
    if (const char* e = std::getenv("KVPLAN_PROBE_VARIANT")) return std::atoi(e);
    int device = 0, major = 0;
    CUDA_CHECK(cudaGetDevice(&device));
    CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
    return major >= 9 ? 5 : 4;
  }();
  const uint4* p = static_cast<const uint4*>(src);
  const int64_t n = bytes / 16;
  switch (variant) {
    case 0: read_kernel<<<blocks_for(sm_count), 512, 0, s>>>(p, n, sink); break;
    case 1: {
      static const int g = sm_count * resident_blocks(read_tiled_kernel<512, 8, 0>, 512);
      read_tiled_kernel<512, 8, 0><<<g, 512, 0, s>>>(p, n, sink);
    } break;
    case 2: {
      static const int g = sm_count * resident_blocks(read_tiled_kernel<512, 8, 1>, 512);
      read_tiled_kernel<512, 8, 1><<<g, 512, 0, s>>>(p, n, sink);
    } break;
    case 3: {
      static const int g = sm_count * resident_blocks(read_tiled_kernel<256, 16, 1>, 256);
      read_tiled_kernel<256, 16, 1><<<g, 256, 0, s>>>(p, n, sink);
    } break;
    case 5: {
      // The tail below a whole chunk is read by the tiled kernel, so every byte is read once.
      constexpr size_t ring = size_t(kBulkStages) * kBulkChunk;
      static const bool sized = [] {
        CUDA_CHECK(cudaFuncSetAttribute(read_bulk_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(ring)));
        return true;
      }();
      (void)sized;
      const int64_t whole = bytes / kBulkChunk * kBulkChunk;
      read_bulk_kernel<<<sm_count, 32, ring, s>>>(static_cast<const char*>(src), whole, sink);
      if (whole < bytes) {
        CUDA_CHECK_LAUNCH();
        read_tiled_kernel<256, 4, 1><<<sm_count, 256, 0, s>>>(p + whole / 16, (bytes - whole) / 16, sink);
      }
    } break;
    default: {
      static const int g = sm_count * resident_blocks(read_tiled_kernel<256, 4, 1>, 256);
      read_tiled_kernel<256, 4, 1><<<g, 256, 0, s>>>(p, n, sink);
    } break;
  }
  CUDA_CHECK_LAUNCH();
}

void launch_copy_probe(const void* src, void* dst, int64_t bytes, int sm_count, cudaStream_t s) {
  copy_kernel<<<blocks_for(sm_count), 512, 0, s>>>(static_cast<const uint4*>(src), static_cast<uint4*>(dst), bytes / 16);
  CUDA_CHECK_LAUNCH();
}

void launch_clock_probe(unsigned long long ns, double* out, cudaStream_t s) {
  clock_kernel<<<1, 1, 0, s>>>(ns, out);
  CUDA_CHECK_LAUNCH();
}

void fill_random_bf16(void* p, int64_t n, uint64_t seed, float lo, float hi, cudaStream_t s) {
  fill_bf16_kernel<<<1024, 256, 0, s>>>(static_cast<__nv_bfloat16*>(p), n, seed, lo, hi);
  CUDA_CHECK_LAUNCH();
}

void fill_bytes(void* p, int64_t bytes, unsigned char value, cudaStream_t s) {
  CUDA_CHECK(cudaMemsetAsync(p, value, static_cast<size_t>(bytes), s));
}

}  // namespace kvplan::gpu
