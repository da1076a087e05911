#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <dlfcn.h>

#include <fstream>
#include <regex>
#include <sstream>

#include <fmt/format.h>

#include "gpu/host/availability.h"
#include "gpu/kernels.h"
#include "gpu/timer.h"

namespace kvplan::gpu {

namespace {
// The kernel driver's version from /proc/driver/nvidia/version ("... Kernel Module  580.159.04 ...").
std::string kernel_driver_version() {
  std::ifstream f("/proc/driver/nvidia/version");
  std::stringstream ss;
  ss << f.rdbuf();
  std::smatch m;
  const std::string text = ss.str();
  if (std::regex_search(text, m, std::regex(R"(Kernel Module\s+(?:for \S+\s+)?([0-9]+\.[0-9.]+))"))) return m[1];
  return "";
}

// The cuBLAS this process runs on: its version and the file the dynamic loader took it from (the
// linears' speed depends on the library, and an engine runs the one its PyTorch ships).
std::string blas_library() {
  int major = 0, minor = 0, patch = 0;
  if (cublasGetProperty(MAJOR_VERSION, &major) != CUBLAS_STATUS_SUCCESS ||
      cublasGetProperty(MINOR_VERSION, &minor) != CUBLAS_STATUS_SUCCESS ||
      cublasGetProperty(PATCH_LEVEL, &patch) != CUBLAS_STATUS_SUCCESS)
    return "";
  Dl_info info{};
  const bool found = dladdr(reinterpret_cast<void*>(&cublasCreate_v2), &info) != 0 && info.dli_fname != nullptr;
  return fmt::format("{}.{}.{}", major, minor, patch) + (found ? fmt::format(" ({})", info.dli_fname) : "");
}
}  // namespace

DeviceInfo device_info(const std::string& command) {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) fail_no_device(command, std::string("cudaGetDeviceCount: ") + cudaGetErrorName(e));
  if (count == 0) fail_no_device(command, "no CUDA device found");
  cudaDeviceProp p{};
  CUDA_CHECK(cudaGetDeviceProperties(&p, 0));
  DeviceInfo d;
  d.name = p.name;
  d.sm_count = p.multiProcessorCount;
  d.cc_major = p.major;
  d.cc_minor = p.minor;
  d.memory_bytes = static_cast<int64_t>(p.totalGlobalMem);
  d.l2_bytes = p.l2CacheSize;
  int khz = 0;
  CUDA_CHECK(cudaDeviceGetAttribute(&khz, cudaDevAttrClockRate, 0));
  d.max_sm_clock_mhz = khz / 1000.0;
  int drv = 0, rt = 0;
  CUDA_CHECK(cudaDriverGetVersion(&drv));
  CUDA_CHECK(cudaRuntimeGetVersion(&rt));
  const std::string kernel_module = kernel_driver_version();
  d.driver = (kernel_module.empty() ? "" : kernel_module + ", ") + fmt::format("CUDA {}.{}", drv / 1000, drv % 1000 / 10);
  d.cuda_runtime = fmt::format("{}.{}", rt / 1000, rt % 1000 / 10);
  d.blas = blas_library();
  return d;
}

double measure_sm_clock_mhz(cudaStream_t s, double ms) {
  DeviceBuffer out(sizeof(double));
  launch_clock_probe(static_cast<unsigned long long>(ms * 1e6), out.as<double>(), s);
  double ghz = 0;
  CUDA_CHECK(cudaMemcpyAsync(&ghz, out.get(), sizeof(double), cudaMemcpyDeviceToHost, s));
  CUDA_CHECK(cudaStreamSynchronize(s));
  return ghz * 1000.0;
}

}  // namespace kvplan::gpu
