// Parses a kvplan model file (docs/model-format.md) into the per-layer Model.
#pragma once

#include <string>

#include "core/model.h"

namespace kvplan {

// `source` names the text in error messages; `default_id` is used when the file has no `id`.
Model parse_model_yaml(const std::string& text, const std::string& source, const std::string& default_id = "");

}  // namespace kvplan
