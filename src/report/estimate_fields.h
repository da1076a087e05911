// The scalar fields of estimate's JSON sections workload, memory, layers, prefill, decode and cost:
// one table, read by to_json (the nested objects, in the table's order) and by the sweep's row
// writer (the fields that vary with the point, written straight from each Estimate).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "core/estimate.h"

namespace kvplan {

// null, an integer, a real, a boolean, or a name (static text).
using FieldValue = std::variant<std::nullptr_t, int64_t, double, bool, const char*>;

struct EstimateField {
  std::string key;  // dotted: "memory.kv_cache_bytes"
  bool varies;      // with batch, context, prompt or gen (else fixed by model, GPU and options)
  std::function<FieldValue(const Estimate&)> get;
};

// The fields of the KV cache in use under length distributions (memory.in_use.*, and fit's in_use).
struct InUseField {
  std::string key;  // "p99_bytes"
  bool varies;      // with the batch (the requests)
  std::function<FieldValue(const KvInUse&, const LengthDist&)> get;
};
const std::vector<InUseField>& in_use_fields();

// In to_json's order, section by section.
const std::vector<EstimateField>& estimate_fields();

// decode.speculative.*: the speculative config (method, k; null without one) and the speculative
// step (null without an acceptance). Keys relative to "decode.speculative."; estimate_fields()
// holds them, and fit's JSON reads them too.
struct SpeculativeField {
  std::string key;
  std::function<FieldValue(const EngineSettings&, const std::optional<SpeculativeDecode>&)> get;
};
const std::vector<SpeculativeField>& speculative_fields();

}  // namespace kvplan
