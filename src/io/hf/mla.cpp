// Multi-head latent attention families: deepseek_v2/v3, deepseek_v32 and glm_moe_dsa (MLA with
// the sparse-attention indexer), kimi_k2 (the DeepSeek-V3 layout), kimi_linear (KDA + MLA).
#include <algorithm>
#include <map>

#include "io/hf/families.h"

namespace kvplan::hf {

namespace {

// The latent-attention shapes (configuration_deepseek_v3.py); q_lora_rank null = no query compression.
Mla read_mla(const Config& c) {
  Mla mla;
  mla.heads = c.integer("num_attention_heads");
  mla.q_lora_rank = c.integer("q_lora_rank", 0);
  mla.kv_lora_rank = c.integer("kv_lora_rank");
  mla.qk_nope_head_dim = c.integer("qk_nope_head_dim");
  mla.qk_rope_head_dim = c.integer("qk_rope_head_dim");
  mla.v_head_dim = c.integer("v_head_dim");
  return mla;
}

// The lightning indexer's index_n_heads x index_head_dim and index_topk, with the family's defaults
// (configuration_deepseek_v32.py: 64 x 128, top-2048; configuration_glm_moe_dsa.py: 32 x 128, top-2048).
Mla with_indexer(Mla mla, const Config& c, int64_t heads_default) {
  mla.index_heads = c.integer("index_n_heads", heads_default);
  mla.index_head_dim = c.integer("index_head_dim", 128);
  mla.index_topk = c.integer("index_topk", 2048);
  return mla;
}

struct DeepseekRules {
  std::string family;
  bool router_bias = false;        // noaux_tc routing with e_score_correction_bias (V3 and later)
  int64_t first_dense_default = 0;  // first_k_dense_replace when absent
};

// The expert block of a DeepSeek-V2/V3 layer (configuration_deepseek_v3.py): shared experts are
// each moe_intermediate_size wide.
MoeMlp deepseek_moe(const Config& c, bool router_bias) {
  MoeMlp moe;
  moe.experts = c.integer("n_routed_experts");
  moe.experts_per_token = c.integer("num_experts_per_tok");
  moe.expert_intermediate_size = c.integer("moe_intermediate_size");
  moe.shared_experts = c.integer("n_shared_experts", 0);
  moe.shared_intermediate_size = moe.shared_experts > 0 ? moe.expert_intermediate_size : 0;
  moe.router_bias = router_bias;
  return moe;
}

// Which layers carry the experts: `mlp_layer_types` ("dense"/"sparse", the newer configs) when
// listed, else layers i >= first_k_dense_replace with i % moe_layer_freq == 0 (modeling_deepseek.py).
std::vector<bool> moe_layers(const Config& c, int64_t layers, int64_t first_dense_default) {
  std::vector<bool> out(layers, false);
  if (!c.has("n_routed_experts")) return out;
  const std::vector<std::string> types = c.strings("mlp_layer_types");
  if (!types.empty()) {
    check_list_length(c, "mlp_layer_types", types.size(), layers);
    for (int64_t i = 0; i < layers; ++i) out[i] = types[i] == "sparse";
    return out;
  }
  const int64_t first_dense = c.integer("first_k_dense_replace", first_dense_default);
  const int64_t freq = std::max<int64_t>(1, c.integer("moe_layer_freq", 1));
  for (int64_t i = 0; i < layers; ++i) out[i] = i >= first_dense && i % freq == 0;
  return out;
}

// One decoder layer per entry: its own MLA (with or without the indexer), dense or MoE MLP.
// The num_nextn_predict_layers MTP modules are not part of the served model's layer stack.
Model deepseek_layers(const Config& c, const DeepseekRules& rules, const std::vector<Mla>& mixers) {
  Model m = start_model(c, c, rules.family, false);
  const int64_t layers = static_cast<int64_t>(mixers.size());
  const DenseMlp dense{c.integer("intermediate_size"), true, false};
  const std::vector<bool> is_moe = moe_layers(c, layers, rules.first_dense_default);
  const std::optional<MoeMlp> moe =
      c.has("n_routed_experts") ? std::optional<MoeMlp>(deepseek_moe(c, rules.router_bias)) : std::nullopt;
  for (int64_t i = 0; i < layers; ++i)
    m.layers.push_back(is_moe[i] ? make_layer("moe", mixers[i], *moe, 2) : make_layer("dense", mixers[i], dense, 2));
  if (const int64_t mtp = c.integer("num_nextn_predict_layers", 0); mtp > 0)
    m.warnings.push_back(std::to_string(mtp) + " multi-token-prediction layer(s) (num_nextn_predict_layers) not counted: "
                         "an engine loads them only for MTP speculative decoding");
  return m;
}

// deepseek_v2 / deepseek_v3 / kimi_k2 (Kimi-K2 ships DeepseekV3ForCausalLM): dense MLA.
Model deepseek(const Config& c, const DeepseekRules& rules) {
  return deepseek_layers(c, rules, std::vector<Mla>(layer_count(c), read_mla(c)));
}

// deepseek_v32 (configuration_deepseek_v32.py): every layer is MLA with its own indexer
// (layer_types all "deepseek_sparse_attention"); first_k_dense_replace defaults to 3.
Model deepseek_v32(const Config& c) {
  const Mla mla = with_indexer(read_mla(c), c, 64);
  return deepseek_layers(c, {"deepseek_v32", true, 3}, std::vector<Mla>(layer_count(c), mla));
}

// index_topk_pattern: a string of "F" (full) and "S" (shared), or a list of the type names.
std::vector<std::string> indexer_pattern(const Config& c) {
  std::string letters;
  try {
    letters = c.string("index_topk_pattern", "");
  } catch (const Error&) {
    return c.strings("index_topk_pattern");
  }
  std::vector<std::string> out;
  for (char ch : letters) {
    if (ch != 'F' && ch != 'S')
      throw c.fail("field 'index_topk_pattern' must hold only 'F' and 'S' (got '" + std::string(1, ch) + "')");
    out.push_back(ch == 'S' ? "shared" : "full");
  }
  return out;
}

// glm_moe_dsa (GLM-5, configuration_glm_moe_dsa.py): DeepSeek-V3.2's MLA + indexer. Each layer's
// indexer is "full" or "shared" (indexer_types; else index_topk_pattern "F"/"S"; else
// "full" iff max(i - index_skip_topk_offset + 1, 0) % index_topk_freq == 0, defaults 2 and 1, so
// every layer of GLM-5 is full). A shared layer owns no indexer (no wq_b/wk/k_norm/weights_proj,
// no index-key cache) and reuses the previous full layer's top-k. The Mla fields cannot express
// "top-k sparse without an indexer", so a shared layer is imported as dense MLA: its weights and
// cache are exact, its decode attention reads all N latents instead of at most index_topk.
Model glm_moe_dsa(const Config& c) {
  const int64_t layers = layer_count(c);
  std::vector<std::string> types = c.strings("indexer_types");
  if (types.empty()) {
    if (c.has("index_topk_pattern")) {
      types = indexer_pattern(c);
    } else {
      const int64_t freq = std::max<int64_t>(1, c.integer("index_topk_freq", 1));
      const int64_t offset = c.integer("index_skip_topk_offset", 2);
      for (int64_t i = 0; i < layers; ++i)
        types.push_back(std::max<int64_t>(i - offset + 1, 0) % freq == 0 ? "full" : "shared");
    }
  }
  if (static_cast<int64_t>(types.size()) != layers)
    throw c.fail("the indexer types list " + std::to_string(types.size()) + " layers but num_hidden_layers is " +
                 std::to_string(layers));
  const Mla dense = read_mla(c);
  const Mla sparse = with_indexer(dense, c, 32);
  std::vector<Mla> mixers;
  for (const std::string& t : types) mixers.push_back(t == "shared" ? dense : sparse);
  return deepseek_layers(c, {"glm_moe_dsa", true, 3}, mixers);
}

// kimi_linear (Kimi-Linear, configuration_kimi.py / modeling_kimi.py): linear_attn_config lists the
// KDA layers 1-based (is_kda_layer: (i + 1) in kda_layers); every other layer is MLA without RoPE
// (mla_use_nope; the rope slices are still projected, so the shapes are DeepSeek's). MoE as in
// DeepSeek-V3 (sigmoid router with e_score_correction_bias, shared experts each
// moe_intermediate_size wide) on layers i >= first_k_dense_replace with i % moe_layer_freq == 0.
// The config has no max_position_embeddings; model_max_length gives the context.
Model kimi_linear(const Config& c) {
  Model m = start_model(c, c, "kimi_linear", false, c.integer("model_max_length", 0));
  const int64_t layers = layer_count(c);
  std::vector<bool> is_kda(layers, false);
  Kda kda;
  if (c.has("linear_attn_config")) {
    const Config lin = c.object("linear_attn_config");
    kda.heads = lin.integer("num_heads");
    kda.head_dim = lin.integer("head_dim");
    kda.d_conv = lin.integer("short_conv_kernel_size");
    for (const char* key : {"kda_layers", "full_attn_layers"})
      for (int64_t n : lin.integers(key))
        if (n < 1 || n > layers)
          throw lin.fail("field 'linear_attn_config." + std::string(key) + "' names layer " + std::to_string(n) +
                         " (1-based) but num_hidden_layers is " + std::to_string(layers));
    for (int64_t n : lin.integers("kda_layers")) is_kda[n - 1] = true;
  }
  const Mla mla = read_mla(c);
  const DenseMlp dense{c.integer("intermediate_size"), true, false};
  const bool has_experts = c.has("num_experts");
  MoeMlp moe;
  if (has_experts) {
    moe.experts = c.integer("num_experts");
    moe.experts_per_token = c.integer("num_experts_per_token");
    moe.expert_intermediate_size = c.integer("moe_intermediate_size");
    moe.shared_experts = c.integer("num_shared_experts", 0);
    moe.shared_intermediate_size = moe.shared_experts > 0 ? moe.expert_intermediate_size : 0;
    moe.router_bias = true;
  }
  const int64_t first_dense = c.integer("first_k_dense_replace", 0);
  const int64_t freq = std::max<int64_t>(1, c.integer("moe_layer_freq", 1));
  for (int64_t i = 0; i < layers; ++i) {
    const Mixer mixer = is_kda[i] ? Mixer(kda) : Mixer(mla);
    const bool expert_layer = has_experts && i >= first_dense && i % freq == 0;
    const std::string block = std::string(is_kda[i] ? "kda" : "mla") + (expert_layer ? "_moe" : "_dense");
    m.layers.push_back(expert_layer ? make_layer(block, mixer, moe, 2) : make_layer(block, mixer, dense, 2));
  }
  return m;
}

}  // namespace

void register_mla(std::vector<Family>& out) {
  out.push_back({"deepseek_v2", [](const Config& c) { return deepseek(c, {"deepseek_v2", false, 0}); }});
  out.push_back({"deepseek_v3", [](const Config& c) { return deepseek(c, {"deepseek_v3", true, 0}); }});
  out.push_back({"deepseek_v32", deepseek_v32});
  out.push_back({"kimi_k2", [](const Config& c) { return deepseek(c, {"kimi_k2", true, 0}); }});
  out.push_back({"glm_moe_dsa", glm_moe_dsa});
  out.push_back({"kimi_linear", kimi_linear});
}

}  // namespace kvplan::hf
