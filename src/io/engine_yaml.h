// Parses an engine profile (presets/engines/<name>-<version>.yaml, docs/engines.md) into an
// EngineProfile.
#pragma once

#include <string>

#include "core/engine.h"

namespace kvplan {

EngineProfile parse_engine_yaml(const std::string& text, const std::string& source);

}  // namespace kvplan
