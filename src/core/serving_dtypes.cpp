#include "core/serving_dtypes.h"

namespace kvplan {

const char* name(DTypeRule rule) {
  switch (rule) {
    case DTypeRule::flag: return "flag";
    case DTypeRule::checkpoint: return "checkpoint";
    case DTypeRule::activation: return "activations";
    case DTypeRule::served_16bit: return "fp32 checkpoint served in 16 bits";
  }
  return "?";
}

DType activation_dtype(const Model& model) {
  if (model.activation_dtype) return *model.activation_dtype;
  return info(model.dtype).bits == 16 ? model.dtype : DType::bf16;
}

ServingDTypes serving_dtypes(const Model& model, std::optional<DType> weights, std::optional<DType> kv,
                             std::optional<DType> state) {
  ServingDTypes s;
  const DType act = activation_dtype(model);
  if (weights) {
    s.weights = weight_dtypes(model, weights);
    s.rules.weights = DTypeRule::flag;
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
