// Printers over one Estimate: JSON (schema_version 2), CSV with the JSON's dotted keys, and a
// table for people. Every output format is derived from to_json or from the Estimate itself.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <variant>
#include <vector>

#include "core/estimate.h"

namespace kvplan {

using Json = nlohmann::ordered_json;

constexpr int kSchemaVersion = 2;  // docs/json.md lists what changed

Json to_json(const Estimate& e);
// One scalar of the JSON (report/estimate_fields.h).
Json field_json(const std::variant<std::nullptr_t, int64_t, double, bool, const char*>& v);
// JSON text for output: indented, invalid UTF-8 in names replaced (never an exception).
std::string json_text(const Json& j);
std::string render_table(const Estimate& e);
// The `in use` lines: the KV cache of the length distributions' requests, paged and contiguous.
std::string render_in_use(const KvInUse& u, const LengthDist& d);
// The prefill / decode / cost lines and the decode-step component table (part of render_table).
std::string render_timing(const Estimate& e);
// The speculative decoding lines (estimate, fit): the step, its rate and where it stops paying;
// a note when the config has no acceptance; nothing without a config.
std::string render_speculative(const EngineSettings& engine, const std::optional<SpeculativeDecode>& spec);

// Flattens nested objects into dotted keys ("memory.kv_cache_bytes"); arrays are not expected.
std::vector<std::pair<std::string, Json>> flatten(const Json& j);
// One header row (the first row's keys) and one line per row; numbers unformatted, null empty.
std::string render_csv(const std::vector<Json>& rows);
std::string csv_header(const Json& row);
std::string csv_row(const Json& row);
// One CSV field: numbers as JSON writes them, null empty, quoted when it holds , " or a newline.
std::string csv_field(const Json& value);

}  // namespace kvplan
