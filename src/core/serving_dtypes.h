// The formats an engine serves a model in when the user leaves a dtype at `auto` (vLLM's
// --dtype/--kv-cache-dtype auto, SGLang's likewise): activations in the checkpoint's torch_dtype
// (an fp32 checkpoint in 16 bits), weights as stored (quantized formats stay quantized), the KV
// cache in the activation dtype unless the checkpoint declares a KV quantization, recurrent
// state in the activation dtype unless the checkpoint declares one. docs/formulas.md "Data types".
#pragma once

#include <optional>

#include "core/dtype.h"
#include "core/model.h"
#include "core/params.h"

namespace kvplan {

// Why a dtype was chosen.
enum class DTypeRule {
  flag,          // the user's --*-dtype
  checkpoint,    // as the checkpoint stores or declares it (quantization_config, kv_cache_scheme, mamba_ssm_dtype)
  activation,    // the activation dtype (the `auto` rule for KV cache and state)
  served_16bit,  // an fp32 checkpoint served in 16 bits (vLLM: fp32 configs resolve to a 16-bit dtype)
  model_dtype,   // the engine's --dtype: every 16-bit or wider weight loads in it
};
const char* name(DTypeRule rule);

struct DTypeRules {
  DTypeRule weights = DTypeRule::checkpoint;
  DTypeRule kv = DTypeRule::activation;
  DTypeRule state = DTypeRule::activation;
};

// The 16-bit dtype activations run in: the config's torch_dtype (Model::activation_dtype) when
// given, else the weights' dtype when it is 16-bit, else bf16.
DType activation_dtype(const Model& model);

// The engine's --dtype (vLLM's and SGLang's, the model's compute dtype), in the engines' spelling:
// auto (nullopt), half or float16, bfloat16, float or float32. Throws Error otherwise.
std::optional<DType> parse_model_dtype(const std::string& text);

struct ServingDTypes {
  DType activation = DType::bf16;  // the dtype activations (and `auto` KV and state) are in
  WeightDTypes weights;
  DType kv = DType::bf16;
  DType state = DType::bf16;
  std::optional<DType> conv;  // conv windows, when not in `state`: the activation dtype beside a declared state dtype
  DTypeRules rules;
};
// The dtypes for a query: each override when given, else the rule above. `model_dtype` is the
// engine's --dtype: activations in it, so `auto` KV and state too, and every 16-bit or wider
// weight tensor (vLLM loads them in it; quantized formats stay as stored).
ServingDTypes serving_dtypes(const Model& model, std::optional<DType> weights, std::optional<DType> kv,
                             std::optional<DType> state, std::optional<DType> model_dtype = std::nullopt);

}  // namespace kvplan
