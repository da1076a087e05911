// The Hopper tensor memory accelerator (TMA, compute capability 9.0): tiles of a 4-D tensor copied
// from global into shared memory by one thread, the copy completing on an mbarrier that counts its
// bytes (PTX ISA 8.0+, "cp.async.bulk.tensor" and "mbarrier.expect_tx"; the tensor map is built on
// the host with the driver's cuTensorMapEncodeTiled). Bodies compile for sm_90 and newer only;
// elsewhere they trap, and the host never launches a kernel using them there.
#pragma once

#include <cuda.h>

#include <cstdint>

#include "gpu/mma.cuh"  // smem_addr

namespace kvplan::gpu::tma {

// One thread initializes a barrier expecting one arrival per phase; the fence publishes it to the
// copy engine (async proxy) before any copy signals it.
__device__ __forceinline__ void barrier_init(uint64_t* bar) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("mbarrier.init.shared::cta.b64 [%0], 1;\n" ::"r"(smem_addr(bar)) : "memory");
  asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
#else
  __trap();
#endif
}
// The issuing thread's arrival, announcing `bytes` the phase's copies will deliver.
__device__ __forceinline__ void arrive_expect_bytes(uint64_t* bar, uint32_t bytes) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(smem_addr(bar)), "r"(bytes) : "memory");
#else
  __trap();
#endif
}
// Waits until the barrier's phase of this parity has completed (its bytes have landed).
__device__ __forceinline__ void wait_parity(uint64_t* bar, uint32_t parity) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile(
      "{\n.reg .pred p;\nWAIT_%=:\nmbarrier.try_wait.parity.shared::cta.b64 p, [%0], %1;\n@!p bra WAIT_%=;\n}\n" ::"r"(
          smem_addr(bar)),
      "r"(parity)
      : "memory");
#else
  __trap();
#endif
}
// Orders this thread's earlier generic-proxy reads of shared memory before the copy engine's next
// writes to it (a stage is refilled after the warp has read it).
__device__ __forceinline__ void fence_before_refill() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
#endif
}
// The box of `map` at coordinates (c0 innermost .. c3) into shared memory at dst (1024-byte aligned
// for the 128-byte swizzle), completing on bar. Out-of-range elements arrive as zeros.
__device__ __forceinline__ void load_4d(void* dst, const CUtensorMap* map, int c0, int c1, int c2, int c3, uint64_t* bar) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile(
      "cp.async.bulk.tensor.4d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3, %4, %5}], [%6];\n" ::"r"(
          smem_addr(dst)),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(c0), "r"(c1), "r"(c2), "r"(c3), "r"(smem_addr(bar))
      : "memory");
#else
  __trap();
#endif
}

}  // namespace kvplan::gpu::tma
