// Parameter inventory: every weight tensor of a model, from its per-layer structure. Parameter
// counts, weight bytes and (later) the bytes a decode step reads all come from this one list.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/model.h"
#include "core/parallel.h"
#include "core/tensor.h"

namespace kvplan {

// Tensors of one layer, counted as if the layer owned its weights (shared ones included).
std::vector<Tensor> layer_tensors(const Model& model, const Layer& layer);
// Tensors outside the layers: embedding, lm_head unless tied, final norm.
std::vector<Tensor> global_tensors(const Model& model);

struct ParamCounts {
  int64_t total = 0;          // every stored parameter, shared blocks once
  int64_t active = 0;         // per token: routed experts counted experts_per_token times
  int64_t embedding = 0;      // input embedding (also the lm_head if tied)
  int64_t lm_head = 0;        // 0 when tied
  int64_t mixers = 0;         // attention / MLA / Mamba projections, norms inside them
  int64_t mlps = 0;           // dense MLPs and MoE (all experts, router, shared experts)
  int64_t norms = 0;          // layer norms and the final norm
  int64_t towers = 0;         // vision/audio encoders and projectors (in total, not in active)
};
ParamCounts count_params(const Model& model);

// Whether a layer's weights are already counted by an earlier layer with the same shared tag.
std::vector<bool> shares_earlier_weights(const Model& model);

// Storage formats of the weights: linear matrices, and routed experts (which checkpoints such as
// gpt-oss ship in another format). Everything else is in base_dtype.
struct WeightDTypes {
  DType linear = DType::bf16;
  DType expert = DType::bf16;
  bool per_module = true;  // the checkpoint's 16-bit modules (Tensor::unquantized) stay 16-bit
  // The dtype of the tensors no quantization touches (embeddings, norms, the checkpoint's 16-bit
  // modules) when the engine's --dtype sets it; nullopt: base_dtype(model, linear).
  std::optional<DType> base;
  bool operator==(const WeightDTypes&) const = default;
};
// The model's published formats, or `override` for all linear weights when given (the
// checkpoint's 16-bit modules included).
WeightDTypes weight_dtypes(const Model& model, std::optional<DType> override = std::nullopt);
// The 16-bit (or wider) dtype that non-quantizable tensors are stored in.
DType base_dtype(const Model& model, DType linear_dtype);
// The same under the query's formats: WeightDTypes::base when set.
DType base_dtype(const Model& model, const WeightDTypes& w);
// Bytes of one tensor (all its copies).
int64_t tensor_bytes(const Tensor& t, const Model& model, const WeightDTypes& w);
// Bytes of all weights (shared blocks once), per GPU under tensor parallel degree tp; under expert
// parallelism (parallel.ep > 1) each GPU holds (experts + redundant) / ep whole routed experts per
// MoE layer instead of 1/tp of every one.
int64_t weight_bytes(const Model& model, const WeightDTypes& w, int64_t tp = 1, const Parallel& parallel = {});
// The same for one pipeline stage holding layers [first_layer, end_layer): the first stage also
// holds the embedding and any vision towers, the last the final norm and the lm_head (a copy of
// the embedding when tied and the stage is not also the first).
int64_t stage_weight_bytes(const Model& model, const WeightDTypes& w, int64_t tp, size_t first_layer, size_t end_layer,
                           bool first_stage, bool last_stage, const Parallel& parallel = {});

}  // namespace kvplan
