// Qwen2-MoE, Qwen3 MoE, Qwen3-Next and Qwen3.5 families (gated attention, Gated DeltaNet).
#include <algorithm>

#include "core/checked.h"
#include "io/hf/families.h"

namespace kvplan::hf {

namespace {

// Qwen3 attention (configuration_qwen3_moe.py has no head_dim default: modeling_qwen3_moe.py
// falls back to hidden/heads): per-head Q/K RMSNorm, attention_bias on q/k/v/o.
Attention qwen3_attention(const Config& c, int64_t hidden) {
  Attention a = gqa(c, hidden);
  a.qk_norm = true;
  a.qkv_bias = a.o_bias = c.boolean("attention_bias", false);
  return a;
}

// modeling_qwen3_moe.py Qwen3MoeDecoderLayer: layer i has the sparse MoE block iff it is not in
// mlp_only_layers, num_experts > 0 and (i+1) % decoder_sparse_step == 0; else a dense MLP.
std::vector<bool> sparse_layers(const Config& c, int64_t layers, int64_t experts) {
  const int64_t step = c.integer("decoder_sparse_step", 1);
  if (step < 1) throw c.fail("field 'decoder_sparse_step' must be positive (got " + std::to_string(step) + ")");
  const std::vector<int64_t> mlp_only = c.integers("mlp_only_layers");
  std::vector<bool> out(layers);
  for (int64_t i = 0; i < layers; ++i)
    out[i] = experts > 0 && (i + 1) % step == 0 && std::find(mlp_only.begin(), mlp_only.end(), i) == mlp_only.end();
  return out;
}

Model qwen3_moe(const Config& c) {
  Model m = start_model(c, c, "qwen3_moe", false);
  Attention a = qwen3_attention(c, m.hidden_size);
  // configuration_qwen3_moe.py: sliding_window only with use_sliding_window, then on every layer.
  a.sliding_window = c.boolean("use_sliding_window", false) ? c.integer("sliding_window", 4096) : 0;
  MoeMlp moe;
  moe.experts = c.integer("num_experts");
  moe.experts_per_token = c.integer("num_experts_per_tok");
  moe.expert_intermediate_size = c.integer("moe_intermediate_size");
  const int64_t layers = layer_count(c);
  const std::vector<bool> sparse = sparse_layers(c, layers, moe.experts);
  const bool any_dense = std::count(sparse.begin(), sparse.end(), false) > 0;
  const DenseMlp dense{any_dense ? c.integer("intermediate_size") : 0, true, false};
  for (bool s : sparse) m.layers.push_back(s ? make_layer("moe", a, moe, 2) : make_layer("dense", a, dense, 2));
  return m;
}

// The text stack's layer types (configuration_qwen3_next.py / configuration_qwen3_5.py):
// `layer_types` when listed (legacy "attention"/"mamba" remapped as remap_legacy_layer_types
// does), else "full_attention" every full_attention_interval-th layer (default 4). True = full.
std::vector<bool> full_attention_layers(const Config& c, int64_t layers) {
  std::vector<bool> out(layers);
  const std::vector<std::string> types = c.strings("layer_types");
  if (!types.empty()) {
    check_list_length(c, "layer_types", types.size(), layers);
    for (int64_t i = 0; i < layers; ++i) {
      if (types[i] == "full_attention" || types[i] == "attention") out[i] = true;
      else if (types[i] == "linear_attention" || types[i] == "mamba") out[i] = false;
      else throw c.fail("field 'layer_types' entry " + std::to_string(i) + " is '" + types[i] +
                        "' (expected full_attention or linear_attention)");
    }
    return out;
  }
  const int64_t interval = c.integer("full_attention_interval", 4);
  if (interval < 1) throw c.fail("field 'full_attention_interval' must be positive (got " + std::to_string(interval) + ")");
  for (int64_t i = 0; i < layers; ++i) out[i] = (i + 1) % interval == 0;
  return out;
}

// Qwen3NextAttention: q_proj is 2x wide (query + sigmoid output gate), Q/K RMSNorm, head_dim 256
// by default; Qwen3.5 configs name the gate attn_output_gate (true in every release).
Attention gated_attention(const Config& c, int64_t hidden, int64_t kv_default, bool gate) {
  Attention a;
  a.heads = c.integer("num_attention_heads");
  a.kv_heads = c.integer("num_key_value_heads", kv_default);
  a.head_dim = a.v_head_dim = c.integer("head_dim", 256);
  a.input_size = hidden;
  a.qk_norm = true;
  a.qkv_bias = a.o_bias = c.boolean("attention_bias", false);
  a.output_gate = gate;
  return a;
}

// Qwen3NextGatedDeltaNet from the linear_* fields (class defaults 16/32 heads x 128, conv 4).
GatedDeltaNet deltanet(const Config& c) {
  GatedDeltaNet g;
  g.k_heads = c.integer("linear_num_key_heads", 16);
  g.v_heads = c.integer("linear_num_value_heads", 32);
  g.k_head_dim = c.integer("linear_key_head_dim", 128);
  g.v_head_dim = c.integer("linear_value_head_dim", 128);
  g.d_conv = c.integer("linear_conv_kernel_dim", 4);
  return g;
}

// Qwen3NextSparseMoeBlock: router, routed experts, one shared expert of
// shared_expert_intermediate_size and shared_expert_gate [1, hidden] (a sigmoid on the shared
// expert's output).
MoeMlp shared_expert_moe(const Config& c) {
  MoeMlp moe;
  moe.experts = c.integer("num_experts");
  moe.experts_per_token = c.integer("num_experts_per_tok");
  moe.expert_intermediate_size = c.integer("moe_intermediate_size");
  const int64_t shared = c.integer("shared_expert_intermediate_size", 0);
  if (shared > 0) {
    moe.shared_experts = 1;
    moe.shared_intermediate_size = shared;
    moe.shared_expert_gate = true;
  }
  return moe;
}

// configuration_qwen2_moe.py / modeling_qwen2_moe.py (Qwen1.5-MoE-A2.7B, Qwen2-57B-A14B): Qwen2
// attention (q/k/v biased, o not; head_dim hidden/heads); layer i has the sparse block under the
// qwen3_moe rule (decoder_sparse_step, mlp_only_layers), else a dense MLP of intermediate_size.
// Qwen2MoeSparseMoeBlock is Qwen3-Next's: a bias-free router, experts of moe_intermediate_size,
// one shared expert of shared_expert_intermediate_size and its sigmoid shared_expert_gate
// [1, hidden]. With use_sliding_window, layers >= max_window_layers (default 28) slide, as qwen2
// (the released configs set it false).
Model qwen2_moe(const Config& c) {
  Model m = start_model(c, c, "qwen2_moe", false);
  Attention a = gqa(c, m.hidden_size);
  a.qkv_bias = c.boolean("qkv_bias", true);
  const MoeMlp moe = shared_expert_moe(c);
  const int64_t layers = layer_count(c);
  const std::vector<bool> sparse = sparse_layers(c, layers, moe.experts);
  const bool any_dense = std::count(sparse.begin(), sparse.end(), false) > 0;
  const DenseMlp dense{any_dense ? c.integer("intermediate_size") : 0, true, false};
  const int64_t window = c.boolean("use_sliding_window", false) ? c.integer("sliding_window", 4096) : 0;
  const int64_t max_window_layers = c.integer("max_window_layers", 28);
  const std::vector<bool> sliding =
      sliding_layers(c, layers, [&](int64_t i) { return window > 0 && i >= max_window_layers; });
  for (int64_t i = 0; i < layers; ++i) {
    Attention ai = a;
    ai.sliding_window = sliding[i] ? window : 0;
    m.layers.push_back(sparse[i] ? make_layer("moe", ai, moe, 2) : make_layer("dense", ai, dense, 2));
  }
  return m;
}

void add_hybrid_layers(Model& m, const std::vector<bool>& full, const Attention& a, const GatedDeltaNet& g,
                       const std::vector<std::optional<Mlp>>& mlps) {
  for (size_t i = 0; i < full.size(); ++i) {
    if (full[i]) m.layers.push_back(make_layer("full_attention", a, mlps[i], 2));
    else m.layers.push_back(make_layer("linear_attention", g, mlps[i], 2));
  }
}

// configuration_qwen3_next.py. The checkpoint's MTP block (mtp.*: fc, one full-attention MoE
// layer, norms; 1,650,471,424 parameters in Qwen3-Next-80B) serves speculative decoding only and
// is not part of the served layer stack, so it is left out (as DeepSeek's MTP module is). The
// config names no count of it: vLLM's Qwen3NextMultiTokenPredictor (qwen3_next_mtp.py) takes
// num_nextn_predict_layers, default 1.
Model qwen3_next(const Config& c) {
  Model m = start_model(c, c, "qwen3_next", false);
  if (!c.has("num_nextn_predict_layers") && !c.has("mtp_num_hidden_layers")) m.mtp_layers = 1;
  const int64_t layers = layer_count(c);
  const std::vector<bool> full = full_attention_layers(c, layers);
  const MoeMlp moe = shared_expert_moe(c);
  const std::vector<bool> sparse = sparse_layers(c, layers, moe.experts);
  const bool any_dense = std::count(sparse.begin(), sparse.end(), false) > 0;
  const DenseMlp dense{any_dense ? c.integer("intermediate_size") : 0, true, false};
  std::vector<std::optional<Mlp>> mlps;
  for (bool s : sparse) mlps.push_back(s ? Mlp(moe) : Mlp(dense));
  add_hybrid_layers(m, full, gated_attention(c, m.hidden_size, 2, true), deltanet(c), mlps);
  return m;
}

// Qwen3_5VisionModel (modeling_qwen3_5.py; SOURCES.md "qwen3_5 / qwen3_5_moe"): Conv3d patch
// embed [vh, C, T, P, P] + bias, learned pos_embed [num_position_embeddings, vh]; per block two
// LayerNorms (w+b), qkv [3vh, vh] + b, proj [vh, vh] + b, fc1 [vi, vh] + b, fc2 [vh, vi] + b;
// merger LayerNorm(vh) and fc1 [4vh, 4vh] + b, fc2 [out_hidden, 4vh] + b (4 = spatial_merge_size^2).
// Defaults: Qwen3_5VisionConfig.
int64_t qwen3_5_vision_params(const Config& v) {
  const int64_t vh = v.integer("hidden_size", 1152);
  const int64_t vi = v.integer("intermediate_size", 4304);
  const int64_t depth = v.integer("depth", 27);
  const int64_t channels = v.integer("in_channels", 3);
  const int64_t patch = v.integer("patch_size", 16);
  const int64_t temporal = v.integer("temporal_patch_size", 2);
  const int64_t merge = v.integer("spatial_merge_size", 2);
  const int64_t out = v.integer("out_hidden_size", 3584);
  const int64_t positions = v.integer("num_position_embeddings", 2304);
  const int64_t patch_embed = add(mul(vh, mul(channels, temporal), mul(patch, patch)), vh);
  const int64_t block = add(add(mul(4, vh), add(mul(3 * vh, vh), 3 * vh)),
                            add(add(mul(vh, vh), vh), add(add(mul(vi, vh), vi), add(mul(vh, vi), vh))));
  const int64_t merged = mul(vh, merge, merge);
  const int64_t merger = add(add(2 * vh, add(mul(merged, merged), merged)), add(mul(out, merged), out));
  return add(add(patch_embed, mul(positions, vh)), add(mul(depth, block), merger));
}

// configuration_qwen3_5.py / configuration_qwen3_5_moe.py: the text stack of Qwen3-Next (gated
// attention + Gated DeltaNet by layer_types) under text_config, with a dense MLP on every layer
// (qwen3_5) or the shared-expert MoE on every layer (qwen3_5_moe). The multimodal wrappers add
// the vision tower (vision_config, or the class defaults when absent) to Model::towers. The
// mtp_num_hidden_layers MTP block stored in the checkpoint is not served and is left out.
Model qwen3_5(const Config& top, bool moe, bool wrapper) {
  const Config c = top.has("text_config") ? top.object("text_config") : top;
  Model m = start_model(top, c, moe ? "qwen3_5_moe" : "qwen3_5", false);
  const int64_t layers = layer_count(c);
  const std::vector<bool> full = full_attention_layers(c, layers);
  const std::vector<std::optional<Mlp>> mlps(
      layers, moe ? Mlp(shared_expert_moe(c)) : Mlp(DenseMlp{c.integer("intermediate_size"), true, false}));
  const Attention a = gated_attention(c, m.hidden_size, moe ? 2 : 4, c.boolean("attn_output_gate", true));
  add_hybrid_layers(m, full, a, deltanet(c), mlps);
  if (wrapper) {
    const nlohmann::json empty = nlohmann::json::object();
    const Config v = top.has("vision_config") ? top.object("vision_config") : Config(empty, "", "vision_config.");
    m.towers.push_back(vector_weight("vision", qwen3_5_vision_params(v)));
  }
  return m;
}

}  // namespace

// Qwen3VLVisionModel (modeling_qwen3_vl.py): Qwen3.5's tower (the same tensors and defaults)
// plus one deepstack merger per deepstack_visual_indexes entry (default [8, 16, 24]): a LayerNorm
// over 4vh (w+b), fc1 [4vh, 4vh] + b, fc2 [out_hidden, 4vh] + b (4 = spatial_merge_size^2).
int64_t qwen3_vl_vision_params(const Config& v) {
  const int64_t vh = v.integer("hidden_size", 1152);
  const int64_t merge = v.integer("spatial_merge_size", 2);
  const int64_t out = v.integer("out_hidden_size", 3584);
  const int64_t merged = mul(vh, merge, merge);
  const int64_t deepstack = add(add(mul(2, merged), add(mul(merged, merged), merged)), add(mul(out, merged), out));
  const int64_t stacks = v.has("deepstack_visual_indexes") ? static_cast<int64_t>(v.integers("deepstack_visual_indexes").size()) : 3;
  return add(qwen3_5_vision_params(v), mul(stacks, deepstack));
}

// configuration_qwen3_vl.py / configuration_qwen3_vl_moe.py: the text stack of Qwen3 (dense MLP on
// every layer) or Qwen3-MoE (the qwen3_moe layer rule, no shared expert) under text_config, and
// the vision tower (vision_config, or the class defaults) in Model::towers. The top-level
// tie_word_embeddings decides (default false; the MoE text config's own default differs and is
// not what the checkpoints store).
Model qwen3_vl(const Config& top, bool moe) {
  const Config c = top.has("text_config") ? top.object("text_config") : top;
  Model m = moe ? qwen3_moe(c) : Model{};
  if (!moe) {
    m = start_model(c, c, "qwen3", false);
    const Attention a = qwen3_attention(c, m.hidden_size);
    const DenseMlp mlp{c.integer("intermediate_size"), true, false};
    add_decoders(m, a, mlp, 2, none_sliding(layer_count(c)), 0);
  }
  m.family = moe ? "qwen3_vl_moe" : "qwen3_vl";
  m.tie_word_embeddings = top.has("tie_word_embeddings") ? top.boolean("tie_word_embeddings", false)
                                                         : c.boolean("tie_word_embeddings", false);
  read_dtypes(m, top, c);
  const nlohmann::json empty = nlohmann::json::object();
  const Config v = top.has("vision_config") ? top.object("vision_config") : Config(empty, "", "vision_config.");
  m.towers.push_back(vector_weight("vision", qwen3_vl_vision_params(v)));
  return m;
}

void register_qwen(std::vector<Family>& out) {
  out.push_back({"qwen3_vl", [](const Config& c) { return qwen3_vl(c, false); }});
  out.push_back({"qwen3_vl_moe", [](const Config& c) { return qwen3_vl(c, true); }});
  out.push_back({"qwen2_moe", qwen2_moe});
  out.push_back({"qwen3_moe", qwen3_moe});
  out.push_back({"qwen3_next", qwen3_next});
  out.push_back({"qwen3_5", [](const Config& c) { return qwen3_5(c, false, true); }});
  out.push_back({"qwen3_5_moe", [](const Config& c) { return qwen3_5(c, true, true); }});
  out.push_back({"qwen3_5_text", [](const Config& c) { return qwen3_5(c, false, false); }});
  out.push_back({"qwen3_5_moe_text", [](const Config& c) { return qwen3_5(c, true, false); }});
}

}  // namespace kvplan::hf
