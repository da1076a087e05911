// One checking macro for every CUDA runtime and cuBLAS call: throws kvplan::Error with file:line,
// the call's text and the error name (nvbench's NVBENCH_CUDA_CALL habit). CUDA_CHECK_LAUNCH()
// checks the last error after a kernel launch.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <string>

#include "core/error.h"

namespace kvplan::gpu {

[[noreturn]] inline void throw_cuda(const char* file, int line, const char* call, const std::string& what) {
  throw Error(std::string(file) + ":" + std::to_string(line) + ": " + call + " failed: " + what, {}, 4);
}
inline void check_cuda(cudaError_t e, const char* file, int line, const char* call) {
  if (e != cudaSuccess) throw_cuda(file, line, call, std::string(cudaGetErrorName(e)) + " (" + cudaGetErrorString(e) + ")");
}
inline void check_cublas(cublasStatus_t s, const char* file, int line, const char* call) {
  if (s != CUBLAS_STATUS_SUCCESS) throw_cuda(file, line, call, cublasGetStatusName(s));
}

}  // namespace kvplan::gpu

#define CUDA_CHECK(call) ::kvplan::gpu::check_cuda((call), __FILE__, __LINE__, #call)
#define CUBLAS_CHECK(call) ::kvplan::gpu::check_cublas((call), __FILE__, __LINE__, #call)
#define CUDA_CHECK_LAUNCH() ::kvplan::gpu::check_cuda(cudaGetLastError(), __FILE__, __LINE__, "kernel launch")
