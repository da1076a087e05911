// cuBLAS (what engines use) for the linear layers: Y[batch][out] = X[batch][in] . W[out][in]^T in
// bf16 with fp32 accumulation, at the model's shapes; batched for MoE experts and MLA absorption.
#pragma once

#include <cublas_v2.h>

#include <cstdint>

#include "gpu/device.h"

namespace kvplan::gpu {

class Blas {
 public:
  Blas();
  ~Blas();
  Blas(const Blas&) = delete;
  Blas& operator=(const Blas&) = delete;
  void set_stream(cudaStream_t s);
  // y = x w^T; w row-major [out][in] (PyTorch Linear), x [batch][in], y [batch][out].
  void linear(const void* w, const void* x, void* y, int64_t out, int64_t in, int64_t batch);
  // `count` independent linears with weights `w_stride` elements apart (one cuBLAS call).
  void linear_batched(const void* w, const void* x, void* y, int64_t out, int64_t in, int64_t batch, int64_t count);

 private:
  cublasHandle_t h_ = nullptr;
  DeviceBuffer workspace_;
};

}  // namespace kvplan::gpu
