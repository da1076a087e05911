// Multi-head latent attention families: deepseek_v2/v3.
#include <algorithm>
#include <map>

#include "io/hf/families.h"

namespace kvplan::hf {

namespace {

// Mixtral-style expert block of a DeepSeek-V2/V3 layer (configuration_deepseek_v3.py): shared
// experts are each moe_intermediate_size wide; V3 routes with a bias (e_score_correction_bias).
Model deepseek(const Config& c, bool v3) {
  Model m = start_model(c, c, v3 ? "deepseek_v3" : "deepseek_v2", false);
  Mla mla;
  mla.heads = c.integer("num_attention_heads");
  mla.q_lora_rank = c.integer("q_lora_rank", 0);
  mla.kv_lora_rank = c.integer("kv_lora_rank");
  mla.qk_nope_head_dim = c.integer("qk_nope_head_dim");
  mla.qk_rope_head_dim = c.integer("qk_rope_head_dim");
  mla.v_head_dim = c.integer("v_head_dim");
  const DenseMlp dense{c.integer("intermediate_size"), true, false};
  const bool has_experts = c.has("n_routed_experts");
  MoeMlp moe;
  if (has_experts) {
    moe.experts = c.integer("n_routed_experts");
    moe.experts_per_token = c.integer("num_experts_per_tok");
    moe.expert_intermediate_size = c.integer("moe_intermediate_size");
    moe.shared_experts = c.integer("n_shared_experts", 0);
    moe.shared_intermediate_size = moe.shared_experts > 0 ? moe.expert_intermediate_size : 0;
    moe.router_bias = v3;
  }
  const int64_t first_dense = c.integer("first_k_dense_replace", 0);
  const int64_t freq = std::max<int64_t>(1, c.integer("moe_layer_freq", 1));
  // The num_nextn_predict_layers MTP modules are not part of the served model's layer stack.
  const int64_t layers = layer_count(c);
  for (int64_t i = 0; i < layers; ++i) {
    const bool is_moe = has_experts && i >= first_dense && i % freq == 0;
    m.layers.push_back(is_moe ? make_layer("moe", mla, moe, 2) : make_layer("dense", mla, dense, 2));
  }
  return m;
}

}  // namespace

void register_mla(std::vector<Family>& out) {
  out.push_back({"deepseek_v2", [](const Config& c) { return deepseek(c, false); }});
  out.push_back({"deepseek_v3", [](const Config& c) { return deepseek(c, true); }});
}

}  // namespace kvplan::hf
