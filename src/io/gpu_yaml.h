// Parses a GPU preset file (docs/presets.md) into a Gpu.
#pragma once

#include <string>

#include "core/gpu.h"

namespace kvplan {

Gpu parse_gpu_yaml(const std::string& text, const std::string& source, const std::string& default_id = "");

}  // namespace kvplan
