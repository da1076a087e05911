// Shared by the side-by-side experiments (ssm_compare, moe_compare): a cold L2 before each sample
// (512 MB written, then read back) and the card's datasheet bandwidth for percentages.
#pragma once

#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>
#include <string>

__global__ void cold_l2_touch(const uint4* p, size_t n, unsigned* out) {
  unsigned acc = 0;
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x) acc ^= p[i].x;
  if (acc == 0x12345678u) *out = acc;
}

class ColdL2 {
 public:
  ColdL2() {
    if (cudaMalloc(&flush_, kBytes) != cudaSuccess || cudaMalloc(&sink_, 4) != cudaSuccess) {
      std::printf("CUDA: no room for the 512 MB L2 flush\n");
      std::exit(1);
    }
  }
  // Evicts L2 on the default stream before the next launch; `sample` varies the bytes written.
  void evict(int sample) const {
    cudaMemsetAsync(flush_, sample & 0xff, kBytes);
    cold_l2_touch<<<1024, 256>>>(static_cast<const uint4*>(flush_), kBytes / 16, sink_);
  }

 private:
  static constexpr size_t kBytes = size_t{512} << 20;
  void* flush_ = nullptr;
  unsigned* sink_ = nullptr;
};

// TB/s on the datasheet: the H200's 4.8, else the H100 SXM's 3.35.
inline double datasheet_tb_s(const cudaDeviceProp& prop) {
  return std::string(prop.name).find("H200") != std::string::npos ? 4.8 : 3.35;
}
