// One weight tensor of a model: its shape, copies and role. Layer modules (core/layers/) list
// their tensors with these; params.h turns the list into counts and bytes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "core/dtype.h"

namespace kvplan {

enum class TensorRole { embedding, lm_head, linear, expert, shared_expert, router, norm, other };

struct Tensor {
  std::string name;   // e.g. "q_proj", "experts.down_proj"
  int64_t rows = 0;   // output features (vectors: length)
  int64_t cols = 1;   // input features (vectors: 1)
  int64_t count = 1;  // copies (routed experts)
  TensorRole role = TensorRole::other;
  // Linear weight matrices are stored in --weight-dtype; all else (embeddings, lm_head, norms,
  // biases, convs, router, SSM A/D/dt) stays in the 16-bit base dtype.
  bool quantizable = false;
  // A quantizable tensor the checkpoint keeps in 16 bits (Layer::unquantized): in the base dtype
  // unless --weight-dtype sets every linear weight.
  bool unquantized = false;
  // The checkpoint's own format for this tensor where it differs from the model's (Layer::formats:
  // ModelOpt MIXED_PRECISION, compressed-tensors groups of several formats; Model::lm_head_dtype):
  // used unless --weight-dtype sets every linear weight.
  std::optional<DType> format = std::nullopt;
  // Held whole on every GPU under tensor parallelism (ReplicatedLinear: an EAGLE-3 head's fc, MLA's
  // latent down-projections, the indexer, KDA's gate legs).
  bool replicated = false;
  int64_t params() const;
  bool operator==(const Tensor&) const = default;
};

// Whether every GPU holds the whole tensor under tensor parallelism: norms, MoE routers and gates,
// which vLLM and SGLang keep as replicated linears (ReplicatedLinear), and tensors marked so;
// everything else is split over the tp GPUs.
inline bool replicated_under_tp(const Tensor& t) {
  return t.replicated || t.role == TensorRole::norm || t.role == TensorRole::router;
}

// A linear weight matrix [out, in] (quantizable).
inline Tensor linear_weight(std::string name, int64_t out, int64_t in, TensorRole role = TensorRole::linear,
                            int64_t count = 1) {
  return {std::move(name), out, in, count, role, true};
}
// A vector (bias, norm weight, per-head scalar), kept in the base dtype.
inline Tensor vector_weight(std::string name, int64_t n, TensorRole role = TensorRole::other, int64_t count = 1) {
  return {std::move(name), n, 1, count, role, false};
}
// A linear weight matrix every GPU holds whole under tensor parallelism (vLLM's and SGLang's
// ReplicatedLinear: MLA's q_a/kv_a down-projections, the sparse-attention indexer's projections,
// KDA's low-rank gate legs).
inline Tensor replicated_linear(std::string name, int64_t out, int64_t in) {
  Tensor t = linear_weight(std::move(name), out, in);
  t.replicated = true;
  return t;
}
// A small matrix kept in the base dtype (conv kernels, SSM A).
inline Tensor plain_matrix(std::string name, int64_t rows, int64_t cols) {
  return {std::move(name), rows, cols, 1, TensorRole::other, false};
}

}  // namespace kvplan
