// Hugging Face config.json import: maps a transformers config of a supported model_type to the
// per-layer Model (docs/hf-import.md lists the rules per family, with sources).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/model.h"

namespace kvplan {

// A ModelOpt checkpoint's hf_quant_config.json beside its config.json: its "quantization" object
// stands in for a missing quantization_config (vLLM reads it the same way).
struct HfQuantFile {
  std::string text;
  std::string source;
};

// `source` names the text in error messages (e.g. the path). An unknown model_type is an error
// listing the supported ones.
Model import_hf_config(const std::string& json_text, const std::string& source,
                       const std::optional<HfQuantFile>& quant_file = std::nullopt);
std::vector<std::string> supported_hf_model_types();

}  // namespace kvplan
