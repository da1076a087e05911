#include "gpu/host/availability.h"

#include "core/error.h"

namespace kvplan::gpu {

void fail_no_cuda_build(const std::string& command) {
  throw Error("`kvplan " + command +
                  "` needs the CUDA reference kernels, and this kvplan was built without CUDA "
                  "(rebuild where nvcc is installed, with -DKVPLAN_CUDA=ON)",
              {}, kNoGpuExitStatus);
}

void fail_no_device(const std::string& command, const std::string& cuda_error) {
  throw Error("`kvplan " + command + "` needs an NVIDIA GPU, and none is usable here (" + cuda_error +
                  "); run it on a machine with a GPU and its driver",
              {},
              kNoGpuExitStatus);
}

}  // namespace kvplan::gpu
