// The one place that decides "no GPU here" at run time (a kvplan without kvplan-gpu beside it is
// reported by the CLI, cli/common.h run_on_gpu_helper).
#pragma once

#include <string>

namespace kvplan::gpu {

// Exit status of validate/calibrate when they cannot run (no CUDA in the build, no GPU found).
constexpr int kNoGpuExitStatus = 3;

// Throws kvplan::Error (exit status 3) with a message saying why and what to do.
[[noreturn]] void fail_no_device(const std::string& command, const std::string& cuda_error);

}  // namespace kvplan::gpu
