#include "core/serving_dtypes.h"

#include <algorithm>
#include <string>
#include <vector>

#include "core/error.h"

namespace kvplan {

const char* name(DTypeRule rule) {
  switch (rule) {
    case DTypeRule::flag: return "flag";
    case DTypeRule::checkpoint: return "checkpoint";
    case DTypeRule::activation: return "activations";
    case DTypeRule::served_16bit: return "fp32 checkpoint served in 16 bits";
    case DTypeRule::model_dtype: return "--dtype";
  }
  return "?";
}

DType activation_dtype(const Model& model) {
  if (model.activation_dtype) return *model.activation_dtype;
  return info(model.dtype).bits == 16 ? model.dtype : DType::bf16;
}

std::optional<DType> parse_model_dtype(const std::string& text) {
  if (text.empty() || text == "auto") return std::nullopt;
  const std::vector<std::string> names = {"auto", "half", "float16", "bfloat16", "float", "float32"};
  if (std::find(names.begin(), names.end(), text) == names.end())
    throw Error("--dtype '" + text + "' is not one of auto, half, float16, bfloat16, float, float32 (the model's "
                "compute dtype; weight formats are --weight-dtype's, a deploy file's quantization)" + did_you_mean(text, names));
  return parse_dtype(text);
}

ServingDTypes serving_dtypes(const Model& model, std::optional<DType> weights, std::optional<DType> kv,
                             std::optional<DType> state, std::optional<DType> model_dtype) {
  ServingDTypes s;
  const DType act = model_dtype.value_or(activation_dtype(model));
  s.activation = act;
  if (weights) {
    s.weights = weight_dtypes(model, weights);
    s.rules.weights = DTypeRule::flag;
  } else if (model_dtype) {
    // The engine loads every 16-bit or wider tensor in --dtype; quantized formats stay as stored.
    s.weights = weight_dtypes(model);
    const auto widen = [act](DType d) { return info(d).bits >= 16 ? act : d; };
    s.weights.linear = widen(s.weights.linear);
    s.weights.expert = widen(s.weights.expert);
    s.weights.base = act;
    s.rules.weights = DTypeRule::model_dtype;
  } else if (model.dtype == DType::fp32) {
    s.weights = weight_dtypes(model, act);
    s.rules.weights = DTypeRule::served_16bit;
  } else {
    s.weights = weight_dtypes(model);
  }
  if (kv) {
    s.kv = *kv;
    s.rules.kv = DTypeRule::flag;
  } else if (model.kv_dtype) {
    s.kv = *model.kv_dtype;
    s.rules.kv = DTypeRule::checkpoint;
  } else {
    s.kv = act;
  }
  if (state) {
    s.state = *state;
    s.rules.state = DTypeRule::flag;
  } else if (model.state_dtype) {
    s.state = *model.state_dtype;
    s.rules.state = DTypeRule::checkpoint;
    if (s.state != act) s.conv = act;
  } else {
    s.state = act;
  }
  return s;
}

}  // namespace kvplan
