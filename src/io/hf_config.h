// Hugging Face config.json import: maps a transformers config of a supported model_type to the
// per-layer Model (docs/hf-import.md lists the rules per family, with sources).
#pragma once

#include <string>
#include <vector>

#include "core/model.h"

namespace kvplan {

// `source` names the text in error messages (e.g. the path). An unknown model_type is an error
// listing the supported ones.
Model import_hf_config(const std::string& json_text, const std::string& source);
std::vector<std::string> supported_hf_model_types();

}  // namespace kvplan
