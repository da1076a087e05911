#include "gpu/host/availability.h"

#include "core/error.h"

namespace kvplan::gpu {

void fail_no_device(const std::string& command, const std::string& cuda_error) {
  throw Error("`kvplan " + command + "` needs an NVIDIA GPU, and none is usable here (" + cuda_error +
                  "); run it on a machine with a GPU and its driver",
              {},
              kNoGpuExitStatus);
}

}  // namespace kvplan::gpu
