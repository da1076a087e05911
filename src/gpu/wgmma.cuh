// Hopper warpgroup MMA (wgmma, sm_90a only): the 128-byte-swizzled shared-memory layout, its matrix
// descriptor, the fences, and the two instruction shapes kvplan's prefill attention issues. PTX ISA
// 8.0+, "Asynchronous Warpgroup Level Matrix Multiply-Accumulate" (the matrix-descriptor format,
// the m64nNk16 register fragments). Bodies compile only for sm_90a (__CUDA_ARCH_FEAT_SM90_ALL);
// callers must not reach them elsewhere (the kernels using them are empty on other targets).
#pragma once

#include <cstdint>

namespace kvplan::gpu::wgmma {

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define KVPLAN_WGMMA 1
#endif

// The tiles the descriptors below read use mma.cuh's sw128_offset layout (8-row atoms of 1024 bytes,
// which must start 1024-byte aligned for the descriptor's swizzle mode 1).

// Shared-memory matrix descriptor, swizzle mode 1 (128 B): start address, leading and stride byte
// offsets in 16-byte units; the stride (8-row atom to the next) is 1024 bytes in this layout.
__device__ __forceinline__ uint64_t desc(uint32_t smem_address, uint32_t leading_bytes) {
  return static_cast<uint64_t>((smem_address & 0x3FFFF) >> 4) | static_cast<uint64_t>(leading_bytes >> 4) << 16 |
         static_cast<uint64_t>(1024 >> 4) << 32 | static_cast<uint64_t>(1) << 62;
}

__device__ __forceinline__ void fence() {
#ifdef KVPLAN_WGMMA
  asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
#endif
}
__device__ __forceinline__ void commit() {
#ifdef KVPLAN_WGMMA
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
#endif
}
template <int N>
__device__ __forceinline__ void wait() {
#ifdef KVPLAN_WGMMA
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
#endif
}
// Shared memory written through the generic proxy (cp.async, st.shared) before the tensor cores
// (async proxy) read it: each writing thread fences before the barrier.
__device__ __forceinline__ void fence_proxy_async() {
#ifdef KVPLAN_WGMMA
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
#endif
}
// Pins accumulator registers across wgmma issue/wait (the compiler must not move them).
template <int N>
__device__ __forceinline__ void fence_operand(float (&r)[N]) {
#pragma unroll
  for (int i = 0; i < N; ++i) asm volatile("" : "+f"(r[i])::"memory");
}

// --- the pipeline around the MMAs: mbarriers (PTX "Parallel Synchronization and Communication
// Instructions: mbarrier") and named barriers (bar.sync / bar.arrive with an id and a thread count).
__device__ __forceinline__ uint32_t shared_address(const void* p) { return static_cast<uint32_t>(__cvta_generic_to_shared(p)); }
__device__ __forceinline__ void mbar_init(uint64_t* bar, unsigned count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(shared_address(bar)), "r"(count) : "memory");
}
__device__ __forceinline__ void mbar_arrive(uint64_t* bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(shared_address(bar)) : "memory");
}
// One arrival on bar once all of this thread's earlier cp.async copies have landed (counted in the
// barrier's initial count: .noinc).
__device__ __forceinline__ void cp_async_arrive(uint64_t* bar) {
  asm volatile("cp.async.mbarrier.arrive.noinc.shared::cta.b64 [%0];\n" ::"r"(shared_address(bar)) : "memory");
}
// Waits until the barrier's phase with this parity has completed.
__device__ __forceinline__ void mbar_wait(uint64_t* bar, unsigned parity) {
  unsigned done = 0;
  while (!done)
    asm volatile("{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\nselp.u32 %0, 1, 0, p;\n}\n"
                 : "=r"(done)
                 : "r"(shared_address(bar)), "r"(parity)
                 : "memory");
}
__device__ __forceinline__ void named_sync(int id, int threads) { asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(threads) : "memory"); }
__device__ __forceinline__ void named_arrive(int id, int threads) {
  asm volatile("bar.arrive %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}

#define KVPLAN_F4(d, i) "+f"(d[i]), "+f"(d[i + 1]), "+f"(d[i + 2]), "+f"(d[i + 3])
#define KVPLAN_F16(d, i) KVPLAN_F4(d, i), KVPLAN_F4(d, i + 4), KVPLAN_F4(d, i + 8), KVPLAN_F4(d, i + 12)
#define KVPLAN_F32(d, i) KVPLAN_F16(d, i), KVPLAN_F16(d, i + 16)

// d[64x128] = (accumulate ? d : 0) + A[64x16] B[128x16]^T, bf16 in, fp32 out; A and B in shared
// memory, both K-major (rows of K contiguous).
__device__ __forceinline__ void mma_64x128x16_ss(float (&d)[64], uint64_t a, uint64_t b, int accumulate) {
#ifdef KVPLAN_WGMMA
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 "
      "{%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,"
      "%29,%30,%31,%32,%33,%34,%35,%36,%37,%38,%39,%40,%41,%42,%43,%44,%45,%46,%47,%48,%49,%50,%51,%52,%53,%54,%55,"
      "%56,%57,%58,%59,%60,%61,%62,%63}, %64, %65, p, 1, 1, 0, 0;\n}\n"
      : KVPLAN_F32(d, 0), KVPLAN_F32(d, 32)
      : "l"(a), "l"(b), "r"(accumulate));
#endif
}

// d[64x64] += A[64x16] B[16x64], bf16 in, fp32 out; A in registers (the m16n8k16-style fragment of
// each warp's 16 rows), B in shared memory MN-major (rows of N contiguous, "transposed").
__device__ __forceinline__ void mma_64x64x16_rs_mn(float (&d)[32], const unsigned (&a)[4], uint64_t b) {
#ifdef KVPLAN_WGMMA
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 "
      "{%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,"
      "%29,%30,%31}, {%32,%33,%34,%35}, %36, p, 1, 1, 1;\n}\n"
      : KVPLAN_F32(d, 0)
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b), "r"(1));
#endif
}

#undef KVPLAN_F4
#undef KVPLAN_F16
#undef KVPLAN_F32

}  // namespace kvplan::gpu::wgmma
