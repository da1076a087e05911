// Mixture-of-experts families on attention layers: glm4_moe, minimax_m2, ernie4_5_moe, phimoe, granitemoe.
#include <algorithm>

#include "io/hf/families.h"

namespace kvplan::hf {

namespace {

// Grouped-query attention with the family's defaults for absent head counts.
Attention attention_with(const Config& c, int64_t hidden, int64_t heads_default, int64_t kv_default,
                         int64_t head_dim_default = 0) {
  Attention a;
  a.heads = c.integer("num_attention_heads", heads_default);
  a.kv_heads = c.integer("num_key_value_heads", kv_default > 0 ? kv_default : a.heads);
  a.head_dim = a.v_head_dim =
      head_dim_default ? c.integer("head_dim", head_dim_default) : c.head_dim("head_dim", hidden, a.heads);
  a.input_size = hidden;
  return a;
}

// configuration_glm4_moe.py (GLM-4.5, GLM-4.5-Air, GLM-4.6): q/k/v biases with attention_bias
// (o_proj never has one), per-head q/k RMSNorm with use_qk_norm, partial RoPE (no effect on sizes).
// The first first_k_dense_replace layers are dense; then n_routed_experts routed and
// n_shared_experts shared experts of moe_intermediate_size, routed by sigmoid with
// e_score_correction_bias (Glm4MoeTopkRouter). The num_nextn_predict_layers MTP layer is not part
// of the served stack.
Model glm4_moe(const Config& c) {
  Model m = start_model(c, c, "glm4_moe", false, 131072);
  Attention a = attention_with(c, m.hidden_size, 96, 8);
  a.qkv_bias = c.boolean("attention_bias", false);
  a.qk_norm = c.boolean("use_qk_norm", false);
  MoeMlp moe;
  moe.experts = c.integer("n_routed_experts", 128);
  moe.experts_per_token = c.integer("num_experts_per_tok", 8);
  moe.expert_intermediate_size = c.integer("moe_intermediate_size", 1408);
  moe.shared_experts = c.integer("n_shared_experts", 1);
  moe.shared_intermediate_size = moe.shared_experts > 0 ? moe.expert_intermediate_size : 0;
  moe.router_bias = true;
  const DenseMlp dense{c.integer("intermediate_size", 10944), true, false};
  const int64_t first_dense = c.integer("first_k_dense_replace", 1);
  const int64_t layers = layer_count(c);
  for (int64_t i = 0; i < layers; ++i)
    m.layers.push_back(i < first_dense ? make_layer("dense", a, dense, 2) : make_layer("moe", a, moe, 2));
  return m;
}

// configuration_minimax_m2.py: 48 heads / 8 KV heads of 128, 256 experts of intermediate_size
// (1536), top-8, no shared expert (shared_intermediate_size 0), a sigmoid router with
// e_score_correction_bias, partial RoPE (rotary_dim). Every layer is full attention
// (attn_type_list all 1); the MTP modules (num_mtp_modules) are not served. q_norm and k_norm are
// RMSNorms over the whole projections (heads x head_dim and kv_heads x head_dim, qk_norm_type
// per_layer): a weight per head, Attention::qk_norm_full.
Model minimax_m2(const Config& c) {
  Model m = start_model(c, c, "minimax_m2", false, 196608);
  Attention a = attention_with(c, m.hidden_size, 48, 8, 128);
  a.qk_norm_full = c.boolean("use_qk_norm", true);
  MoeMlp moe;
  moe.experts = c.integer(c.pick({"num_local_experts", "num_experts"}), 256);
  moe.experts_per_token = c.integer("num_experts_per_tok", 8);
  moe.expert_intermediate_size = c.integer("intermediate_size", 1536);
  const int64_t shared = c.integer("shared_intermediate_size", 0);
  moe.shared_experts = shared > 0 ? 1 : 0;
  moe.shared_intermediate_size = shared;
  moe.router_bias = true;
  const int64_t layers = layer_count(c);
  const std::vector<int64_t> types = c.integers("attn_type_list");
  if (!types.empty()) check_list_length(c, "attn_type_list", types.size(), layers);
  if (std::count(types.begin(), types.end(), 0) > 0)
    throw c.fail("field 'attn_type_list': linear (lightning) attention layers (0) are not supported for minimax_m2");
  add_decoders(m, a, moe, 2, none_sliding(layers), 0);
  return m;
}

// configuration_ernie4_5_moe.py: use_bias on every projection (attention and MLPs), tied
// embeddings; layer i is MoE when (i + 1) % moe_layer_interval == 0 and moe_layer_start_index
// <= i <= moe_layer_end_index (-1 = the last layer), else dense (intermediate_size). Experts of
// moe_intermediate_size, top moe_k, moe_num_shared_experts shared experts of the same width, and
// the routing bias moe_statics.e_score_correction_bias (Ernie4_5_MoeStatics).
Model ernie4_5_moe(const Config& c) {
  Model m = start_model(c, c, "ernie4_5_moe", true, 131072);
  const bool bias = c.boolean("use_bias", false);
  Attention a = attention_with(c, m.hidden_size, 20, 4);
  a.qkv_bias = a.o_bias = bias;
  MoeMlp moe;
  moe.experts = c.integer("moe_num_experts", 64);
  moe.experts_per_token = c.integer("moe_k", 6);
  moe.expert_intermediate_size = c.integer("moe_intermediate_size", 1536);
  moe.shared_experts = c.integer("moe_num_shared_experts", 2);
  moe.shared_intermediate_size = moe.shared_experts > 0 ? moe.expert_intermediate_size : 0;
  moe.bias = bias;
  moe.router_bias = true;
  const DenseMlp dense{c.integer("intermediate_size", 12288), true, bias};
  const int64_t layers = layer_count(c);
  const int64_t start = c.integer("moe_layer_start_index", 1);
  const int64_t end_index = c.integer("moe_layer_end_index", -1);
  const int64_t end = end_index == -1 ? layers - 1 : end_index;
  const int64_t interval = std::max<int64_t>(1, c.integer("moe_layer_interval", 1));
  for (int64_t i = 0; i < layers; ++i) {
    const bool is_moe = (i + 1) % interval == 0 && i >= start && i <= end;
    m.layers.push_back(is_moe ? make_layer("moe", a, moe, 2) : make_layer("dense", a, dense, 2));
  }
  return m;
}

// configuration_phimoe.py (Phi-3.5-MoE): LayerNorms with bias (modeling_phimoe.py), q/k/v/o biases
// with attention_bias, sliding_window (default None) on every layer when set, Mixtral-style
// experts (num_local_experts 16, top-2, intermediate_size 6400) with a bias-free router; an
// lm_head bias of vocab_size with lm_head_bias (default false).
Model phimoe(const Config& c) {
  Model m = start_model(c, c, "phimoe", false, 4096 * 32);
  m.norm = Norm::layernorm;
  m.lm_head_bias = c.boolean("lm_head_bias", false) && !m.tie_word_embeddings;
  Attention a = attention_with(c, m.hidden_size, 32, 8);
  a.qkv_bias = a.o_bias = c.boolean("attention_bias", false);
  MoeMlp moe;
  moe.experts = c.integer("num_local_experts", 16);
  moe.experts_per_token = c.integer("num_experts_per_tok", 2);
  moe.expert_intermediate_size = c.integer("intermediate_size", 6400);
  const int64_t window = c.integer("sliding_window", 0);
  const int64_t layers = layer_count(c);
  add_decoders(m, a, moe, 2, sliding_layers(c, layers, [&](int64_t) { return window > 0; }), window);
  return m;
}

// configuration_granitemoe.py: q/k/v/o biases with attention_bias, num_key_value_heads defaults
// to the head count; experts are fused input_linear [E, 2 x intermediate_size, hidden] (gate +
// up) and output_linear [E, hidden, intermediate_size], top-k softmax router without bias, no
// shared expert (mlx-lm granitemoe.py). The embedding/residual/logit multipliers add no weights.
Model granitemoe(const Config& c) {
  Model m = start_model(c, c, "granitemoe", false, 2048);
  Attention a = attention_with(c, m.hidden_size, 32, 0);
  a.qkv_bias = a.o_bias = c.boolean("attention_bias", false);
  MoeMlp moe;
  moe.experts = c.integer("num_local_experts", 8);
  moe.experts_per_token = c.integer("num_experts_per_tok", 2);
  moe.expert_intermediate_size = c.integer("intermediate_size", 11008);
  add_decoders(m, a, moe, 2, none_sliding(layer_count(c)), 0);
  return m;
}

}  // namespace

void register_moe(std::vector<Family>& out) {
  out.push_back({"glm4_moe", glm4_moe});
  out.push_back({"minimax_m2", minimax_m2});
  out.push_back({"ernie4_5_moe", ernie4_5_moe});
  out.push_back({"phimoe", phimoe});
  out.push_back({"granitemoe", granitemoe});
}

}  // namespace kvplan::hf
