// The resolved model of a network: a list of layers, each with an optional token mixer
// (attention, MLA, Mamba-1, Mamba-2) and an optional MLP (dense or mixture of experts).
// Everything kvplan computes is a sum over this list; docs/model-format.md describes the YAML.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "core/dtype.h"

namespace kvplan {

// Full or sliding-window attention (MHA, GQA, MQA are the same kind with kv_heads = heads, < heads, = 1).
struct Attention {
  int64_t heads = 0;
  int64_t kv_heads = 0;
  int64_t head_dim = 0;        // K (and Q) head dim
  int64_t v_head_dim = 0;      // V head dim (= head_dim unless the model differs)
  int64_t sliding_window = 0;  // 0 = full attention; else the layer attends to the last `window` tokens
  int64_t input_size = 0;      // width the Q/K/V projections read (= hidden_size except Zamba2's 2*hidden)
  bool qkv_bias = false;
  bool o_bias = false;
  bool qk_norm = false;        // per-head RMSNorm on Q and K (Qwen3, Gemma 3): 2*head_dim params
  bool sinks = false;          // learned per-head attention sink logits (gpt-oss): `heads` params, no KV
  bool operator==(const Attention&) const = default;
};

// DeepSeek-V2/V3 multi-head latent attention. The cache holds one latent per token per layer:
// kv_lora_rank + qk_rope_head_dim elements, no separate K and V (arXiv 2405.04434, vLLM's MLA backend).
struct Mla {
  int64_t heads = 0;
  int64_t q_lora_rank = 0;  // 0 = queries projected directly from the hidden state
  int64_t kv_lora_rank = 0;
  int64_t qk_nope_head_dim = 0;
  int64_t qk_rope_head_dim = 0;
  int64_t v_head_dim = 0;
  bool operator==(const Mla&) const = default;
};

// Mamba-1 selective SSM (arXiv 2312.00752; transformers MambaMixer).
struct Mamba1 {
  int64_t d_inner = 0;
  int64_t d_state = 0;
  int64_t d_conv = 0;
  int64_t dt_rank = 0;
  bool conv_bias = true;
  bool proj_bias = false;
  bool bc_dt_norm = false;  // Falcon-Mamba's RMS norms on B, C and dt (parameter-free)
  bool operator==(const Mamba1&) const = default;
};

// Mamba-2 SSD layer (arXiv 2405.21060; transformers Mamba2Mixer).
struct Mamba2 {
  int64_t n_heads = 0;
  int64_t head_dim = 0;
  int64_t n_groups = 0;
  int64_t d_state = 0;
  int64_t d_conv = 0;
  bool conv_bias = true;
  bool proj_bias = false;
  int64_t d_inner() const { return n_heads * head_dim; }
  // Channels that go through the causal conv: x, B and C.
  int64_t conv_dim() const { return d_inner() + 2 * n_groups * d_state; }
  bool operator==(const Mamba2&) const = default;
};

using Mixer = std::variant<Attention, Mla, Mamba1, Mamba2>;

struct DenseMlp {
  int64_t intermediate_size = 0;
  bool gated = true;  // SwiGLU/GeGLU: gate+up+down (3 matrices) vs up+down (2)
  bool bias = false;
  bool operator==(const DenseMlp&) const = default;
};

struct MoeMlp {
  int64_t experts = 0;
  int64_t experts_per_token = 0;
  int64_t expert_intermediate_size = 0;
  int64_t shared_experts = 0;
  int64_t shared_intermediate_size = 0;  // per shared expert; 0 = expert_intermediate_size
  bool gated = true;
  bool bias = false;         // biases inside each expert (gpt-oss)
  bool router_bias = false;  // bias on the router logits (gpt-oss)
  bool operator==(const MoeMlp&) const = default;
};

using Mlp = std::variant<DenseMlp, MoeMlp>;

enum class Norm { rmsnorm, layernorm };

struct Layer {
  std::string block;           // the name of the block it came from (for display)
  std::optional<Mixer> mixer;  // absent: an MLP-only layer (Nemotron-H '-')
  std::optional<Mlp> mlp;      // absent: a mixer-only layer (Mamba, Nemotron-H 'M'/'*')
  int64_t norms = 0;           // hidden-size norms in the layer
  // Layers naming the same shared_weights tag reuse one copy of the weights (Zamba2's shared
  // transformer blocks): parameters are counted once per tag, KV cache per layer.
  std::string shared_weights;
  bool operator==(const Layer&) const = default;
};

struct Model {
  std::string id;               // registry id, e.g. "llama-3.1-8b"
  std::string name;             // display name
  std::string family;           // e.g. "llama", "deepseek_v3"
  std::string source;           // where the numbers come from
  DType dtype = DType::bf16;    // published weight dtype
  std::optional<DType> expert_dtype;  // routed experts' published dtype when it differs (gpt-oss: mxfp4)
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t max_context = 0;      // max_position_embeddings; 0 = unknown / unbounded
  bool tie_word_embeddings = false;
  Norm norm = Norm::rmsnorm;
  bool final_norm = true;
  std::vector<Layer> layers;
  bool operator==(const Model&) const = default;
};

enum class LayerKind { attention, sliding_attention, mla, mamba1, mamba2, mlp_only };
LayerKind kind_of(const Layer& layer);
const char* name(LayerKind kind);

// Throws kvplan::Error if the structure is impossible (zero layers, heads not divisible by KV
// heads, non-positive sizes, experts_per_token > experts, ...). `where` prefixes messages.
void check_model(const Model& model);
// The same checks for one layer; `where` prefixes messages.
void check_layer(const Layer& layer, const std::string& where);

}  // namespace kvplan
