#include "gpu/blas.h"

#include <cuda_bf16.h>

#include "gpu/cuda_check.h"

namespace kvplan::gpu {

Blas::Blas() : workspace_(64 << 20) {
  CUBLAS_CHECK(cublasCreate(&h_));
  CUBLAS_CHECK(cublasSetWorkspace(h_, workspace_.get(), static_cast<size_t>(workspace_.bytes())));
}

Blas::~Blas() {
  if (h_) cublasDestroy(h_);
}

void Blas::set_stream(cudaStream_t s) { CUBLAS_CHECK(cublasSetStream(h_, s)); }

void Blas::linear(const void* w, const void* x, void* y, int64_t out, int64_t in, int64_t batch) {
  const float alpha = 1.f, beta = 0.f;
  CUBLAS_CHECK(cublasGemmEx(h_, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(out), static_cast<int>(batch),
                            static_cast<int>(in), &alpha, w, CUDA_R_16BF, static_cast<int>(in), x, CUDA_R_16BF,
                            static_cast<int>(in), &beta, y, CUDA_R_16BF, static_cast<int>(out), CUBLAS_COMPUTE_32F,
                            CUBLAS_GEMM_DEFAULT));
}

void Blas::linear_batched(const void* w, const void* x, void* y, int64_t out, int64_t in, int64_t batch, int64_t count) {
  const float alpha = 1.f, beta = 0.f;
  CUBLAS_CHECK(cublasGemmStridedBatchedEx(
      h_, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(out), static_cast<int>(batch), static_cast<int>(in), &alpha, w,
      CUDA_R_16BF, static_cast<int>(in), out * in, x, CUDA_R_16BF, static_cast<int>(in), batch * in, &beta, y, CUDA_R_16BF,
      static_cast<int>(out), batch * out, static_cast<int>(count), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

}  // namespace kvplan::gpu
