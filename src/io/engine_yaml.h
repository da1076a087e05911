// Parses an engine profile (presets/engines/<name>-<version>.yaml, docs/engines.md) into an
// EngineProfile.
#pragma once

#include <string>

#include "core/engine.h"

namespace kvplan {

EngineProfile parse_engine_yaml(const std::string& text, const std::string& source);

// A profile's identity only (engine, version, releases, default), which is all that choosing a
// profile needs: read from the leading lines that hold those keys when the file starts with them
// (as the bundled profiles do), so that a query parses one whole profile, not every one.
EngineProfile parse_engine_header(const std::string& text, const std::string& source);

}  // namespace kvplan
