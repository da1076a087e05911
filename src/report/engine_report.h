// The engine's start-up plan as JSON (`engine.*`, the same keys for every engine so that CSV rows
// share one header) and as the table lines people read beside the engine's own log.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>

#include "core/engine.h"

namespace kvplan {

// `plan` absent: the ideal engine (name "ideal", every figure null).
nlohmann::ordered_json engine_to_json(const std::optional<EnginePlan>& plan);
// One block of lines, each figure as the engine logs it; "" for the ideal engine.
std::string render_engine(const EnginePlan& plan);

}  // namespace kvplan
