// Attention-and-MLP families: llama, mistral, mixtral, qwen2/3, gemma (1, 2, 3, 4), gpt_oss, falcon.
#include <algorithm>
#include <map>

#include "core/checked.h"
#include "io/hf/families.h"

namespace kvplan::hf {

namespace {

// configuration_llama.py: attention_bias on q/k/v/o, mlp_bias on the MLP; no sliding window.
Model llama(const Config& c) {
  Model m = start_model(c, c, "llama", false);
  Attention a = gqa(c, m.hidden_size);
  a.qkv_bias = a.o_bias = c.boolean("attention_bias", false);
  const DenseMlp mlp{c.integer("intermediate_size"), true, c.boolean("mlp_bias", false)};
  add_decoders(m, a, mlp, 2, none_sliding(layer_count(c)), 0);
  return m;
}

// configuration_mistral.py: sliding_window defaults to 4096 and applies to every layer; null = full.
Model mistral(const Config& c) {
  Model m = start_model(c, c, "mistral", false);
  const int64_t window = c.present("sliding_window") ? c.integer("sliding_window", 0) : 4096;
  if (!c.present("sliding_window"))
    m.warnings.push_back("config has no 'sliding_window': transformers' MistralConfig default 4096 applies to every layer");
  const DenseMlp mlp{c.integer("intermediate_size"), true, false};
  const int64_t layers = layer_count(c);
  add_decoders(m, gqa(c, m.hidden_size), mlp, 2, sliding_layers(c, layers, [&](int64_t) { return window > 0; }),
               window);
  return m;
}

// configuration_mixtral.py: num_local_experts (alias num_experts), sliding_window default None.
Model mixtral(const Config& c) {
  Model m = start_model(c, c, "mixtral", false);
  const int64_t window = c.integer("sliding_window", 0);
  MoeMlp moe;
  moe.experts = c.integer(c.pick({"num_local_experts", "num_experts"}));
  moe.experts_per_token = c.integer("num_experts_per_tok");
  moe.expert_intermediate_size = c.integer("intermediate_size");
  const int64_t layers = layer_count(c);
  add_decoders(m, gqa(c, m.hidden_size), moe, 2, sliding_layers(c, layers, [&](int64_t) { return window > 0; }),
               window);
  return m;
}

// configuration_qwen2.py / qwen3: use_sliding_window false drops the window; otherwise layers at
// index >= max_window_layers slide. Qwen2 has q/k/v biases; Qwen3 has per-head Q/K RMSNorm,
// head_dim 128 by default and attention_bias (q/k/v/o) false.
Model qwen(const Config& c, bool qwen3) {
  Model m = start_model(c, c, qwen3 ? "qwen3" : "qwen2", false);
  Attention a = gqa(c, m.hidden_size, qwen3 ? 128 : 0);
  if (qwen3) {
    a.qk_norm = true;
    a.qkv_bias = a.o_bias = c.boolean("attention_bias", false);
  } else {
    a.qkv_bias = c.boolean("attention_bias", true);
  }
  const int64_t layers = layer_count(c);
  const int64_t window = c.boolean("use_sliding_window", false) ? c.integer("sliding_window", 4096) : 0;
  const int64_t max_window_layers = c.integer("max_window_layers", 28);
  const DenseMlp mlp{c.integer("intermediate_size"), true, false};
  add_decoders(m, a, mlp, 2, sliding_layers(c, layers, [&](int64_t i) { return window > 0 && i >= max_window_layers; }),
               window);
  return m;
}

// configuration_gemma.py / modeling_gemma.py (Gemma 1): head_dim read as given (default 256), so
// gemma-7b's 16 x 256 = 4096 query width differs from its hidden 3072; num_key_value_heads 1 on
// gemma-2b (MQA); a gated GeLU MLP (gate, up, down); input and post-attention RMSNorms (2 per
// layer); attention_bias on q/k/v/o; tied embeddings; max_position_embeddings 8192.
Model gemma(const Config& c) {
  Model m = start_model(c, c, "gemma", true, 8192);
  Attention a = gqa(c, m.hidden_size, 256);
  a.qkv_bias = a.o_bias = c.boolean("attention_bias", false);
  const DenseMlp mlp{c.integer("intermediate_size"), true, false};
  add_decoders(m, a, mlp, 2, none_sliding(layer_count(c)), 0);
  return m;
}

// configuration_gemma2.py: head_dim 256, window 4096 on even layers ((i+1) % 2), four norms per
// layer (input, post-attention, pre- and post-feedforward), tied embeddings.
Model gemma2(const Config& c) {
  Model m = start_model(c, c, "gemma2", true, 8192);
  const Attention a = gqa(c, m.hidden_size, 256);
  const int64_t window = c.integer("sliding_window", 4096);
  const int64_t layers = layer_count(c);
  const DenseMlp mlp{c.integer("intermediate_size"), true, false};
  add_decoders(m, a, mlp, 4, sliding_layers(c, layers, [](int64_t i) { return (i + 1) % 2 != 0; }), window);
  return m;
}

// SiglipVisionModel (modeling_siglip.py): patch Conv2d [vh, C, P, P] + bias, position_embedding
// [(image/P)^2, vh], per layer two LayerNorms (w+b), q/k/v/out [vh, vh] + b, fc1 [vi, vh] + b,
// fc2 [vh, vi] + b, post_layernorm (w+b); the attention-pooling head (probe, MultiheadAttention,
// LayerNorm, MLP) unless vision_use_head is false (Gemma 3 sets it false). Defaults:
// SiglipVisionConfig (768 wide, MLP 3072, 12 layers, patch 16, image 224).
int64_t siglip_vision_params(const Config& v) {
  const int64_t vh = v.integer("hidden_size", 768);
  const int64_t vi = v.integer("intermediate_size", 3072);
  const int64_t layers = v.integer("num_hidden_layers", 12);
  const int64_t channels = v.integer("num_channels", 3);
  const int64_t image = v.integer("image_size", 224);
  const int64_t patch = v.integer("patch_size", 16);
  if (patch <= 0) throw v.fail("field 'vision_config.patch_size' must be positive");
  const int64_t linear_vh = add(mul(vh, vh), vh);
  const int64_t mlp = add(add(mul(vi, vh), vi), add(mul(vh, vi), vh));
  const int64_t block = add(add(mul(4, vh), mul(4, linear_vh)), mlp);
  const int64_t embed = add(add(mul(vh, mul(channels, patch, patch)), vh), mul(mul(image / patch, image / patch), vh));
  int64_t total = add(add(embed, mul(layers, block)), mul(2, vh));
  if (v.boolean("vision_use_head", true)) total = add(total, add(add(vh, mul(4, linear_vh)), add(mul(2, vh), mlp)));
  return total;
}

// configuration_gemma3.py (Gemma3TextConfig): shapes under text_config in multimodal configs,
// which list only what differs from the defaults below; sliding if (i+1) % sliding_window_pattern.
// With a vision_config (Gemma3ForConditionalGeneration) the SigLIP tower and the
// multi_modal_projector (mm_input_projection [vh, text hidden] + mm_soft_emb_norm RMSNorm(vh))
// go to Model::towers.
Model gemma3(const Config& top) {
  const Config c = top.has("text_config") ? top.object("text_config") : top;
  Model m;
  m.family = "gemma3";
  m.vocab_size = c.integer("vocab_size", 262208);
  m.hidden_size = c.integer("hidden_size", 2304);
  m.max_context = c.integer("max_position_embeddings", 131072);
  m.tie_word_embeddings =
      c.has("tie_word_embeddings") ? c.boolean("tie_word_embeddings", true) : top.boolean("tie_word_embeddings", true);
  read_dtypes(m, top, c);
  Attention a;
  a.heads = c.integer("num_attention_heads", 8);
  a.kv_heads = c.integer("num_key_value_heads", 4);
  a.head_dim = a.v_head_dim = c.integer("head_dim", 256);
  a.input_size = m.hidden_size;
  a.qk_norm = true;
  a.qkv_bias = a.o_bias = c.boolean("attention_bias", false);
  const int64_t window = c.integer("sliding_window", 4096);
  const int64_t pattern = c.integer("sliding_window_pattern", 6);
  const int64_t layers = c.has("num_hidden_layers") ? layer_count(c) : 26;
  const DenseMlp mlp{c.integer("intermediate_size", 9216), true, false};
  add_decoders(m, a, mlp, 4,
               sliding_layers(c, layers, [&](int64_t i) { return pattern > 0 && (i + 1) % pattern != 0; }), window);
  if (top.has("vision_config")) {
    const Config v = top.object("vision_config");
    m.towers.push_back(vector_weight("vision", siglip_vision_params(v)));
    const int64_t vh = v.integer("hidden_size", 768);
    m.towers.push_back(vector_weight("projector", add(mul(vh, m.hidden_size), vh)));
  }
  return m;
}

// Gemma4VisionModel (modeling_gemma4.py): patch input_proj [vh, 3 P^2] without bias, a 2-D
// position table [2, position_embedding_size, vh]; per layer q/k/v/o [vh, vh], q_norm and k_norm
// (head_dim each; v_norm has no weight), a gated MLP (2 x [vi, vh] + [vh, vi]) and 4 RMSNorms, no
// biases; std_bias and std_scale [vh] when standardize. Defaults: Gemma4VisionConfig.
int64_t gemma4_vision_params(const Config& v) {
  const int64_t vh = v.integer("hidden_size", 768);
  const int64_t vi = v.integer("intermediate_size", 3072);
  const int64_t layers = v.integer("num_hidden_layers", 16);
  const int64_t head_dim = v.integer("head_dim", 64);
  const int64_t patch = v.integer("patch_size", 16);
  const int64_t positions = v.integer("position_embedding_size", 10240);
  const int64_t embed = add(mul(mul(vh, 3), mul(patch, patch)), mul(2, positions, vh));
  const int64_t block = add(add(mul(4, vh, vh), mul(2, head_dim)), add(mul(3, vi, vh), mul(4, vh)));
  return add(add(embed, mul(layers, block)), v.boolean("standardize", false) ? mul(2, vh) : 0);
}

// configuration_gemma4.py / modeling_gemma4.py (Gemma4TextConfig under text_config). layer_types
// (default every 6th full; the last layer is always full). Sliding layers: head_dim x
// num_key_value_heads within sliding_window; full layers: global_head_dim and, with
// attention_k_eq_v, num_global_key_value_heads and no v_proj (V is the K projection before k_norm;
// vLLM and SGLang still cache K and V). Weighted q_norm and k_norm of the head size; v_norm has
// none. 4 RMSNorms a layer. With enable_moe_block a MoE block runs beside the dense MLP (which acts
// as a shared expert of intermediate_size), with 3 more RMSNorms and the router's scale [hidden]
// and per_expert_scale [experts]. The last num_kv_shared_layers layers attend over the cache of
// the last earlier layer of their type (q_proj and o_proj only; use_double_wide_mlp doubles their
// MLP). Per-layer input embeddings (hidden_size_per_layer_input > 0: Gemma 4 E2B/E4B) are not
// modelled and refused. layer_scalar (one element a layer) is left out. The vision tower and its
// embedding_projection [hidden, vh] go to Model::towers.
Model gemma4(const Config& top) {
  const Config c = top.has("text_config") ? top.object("text_config") : top;
  Model m = start_model(top, c, "gemma4", true, 131072);
  if (c.integer("hidden_size_per_layer_input", 256) > 0)
    throw c.fail("field 'text_config.hidden_size_per_layer_input': per-layer input embeddings (Gemma 4 E2B/E4B) "
                 "are not modelled; write the model as YAML (docs/model-format.md)");
  const int64_t layers = layer_count(c);
  std::vector<std::string> types = c.strings("layer_types");
  if (types.empty())
    for (int64_t i = 0; i < layers; ++i) types.push_back((i + 1) % 6 != 0 ? "sliding_attention" : "full_attention");
  check_list_length(c, "layer_types", types.size(), layers);
  types.back() = "full_attention";
  Attention local;
  local.heads = c.integer("num_attention_heads", 8);
  local.kv_heads = c.integer("num_key_value_heads", 4);
  local.head_dim = local.v_head_dim = c.integer("head_dim", 256);
  local.input_size = m.hidden_size;
  local.qk_norm = true;
  local.qkv_bias = local.o_bias = c.boolean("attention_bias", false);
  local.sliding_window = c.integer("sliding_window", 512);
  Attention global = local;
  global.sliding_window = 0;
  global.head_dim = global.v_head_dim = c.integer("global_head_dim", 512);
  global.k_eq_v = c.boolean("attention_k_eq_v", false);
  if (global.k_eq_v) global.kv_heads = c.integer("num_global_key_value_heads", local.kv_heads);
  const int64_t intermediate = c.integer("intermediate_size", 9216);
  const bool moe_block = c.boolean("enable_moe_block", false);
  const int64_t shared_from = layers - c.integer("num_kv_shared_layers", 0);
  if (shared_from < 1 || shared_from > layers)
    throw c.fail("field 'text_config.num_kv_shared_layers' must be below num_hidden_layers (got " +
                 std::to_string(layers - shared_from) + ")");
  for (int64_t i = 0; i < layers; ++i) {
    const bool full = types[i] != "sliding_attention";
    Attention a = full ? global : local;
    a.kv_shared = i >= shared_from;
    if (a.kv_shared &&
        std::find(types.begin(), types.begin() + shared_from, types[i]) == types.begin() + shared_from)
      throw c.fail("field 'text_config.layer_types': kv-shared layer " + std::to_string(i) + " (" + types[i] +
                   ") has no earlier layer of its type to share");
    const int64_t width = a.kv_shared && c.boolean("use_double_wide_mlp", false) ? mul(2, intermediate) : intermediate;
    Mlp mlp = DenseMlp{width, true, false};
    if (moe_block) {
      MoeMlp e;
      e.experts = c.integer("num_experts");
      e.experts_per_token = c.integer("top_k_experts");
      e.expert_intermediate_size = c.integer("moe_intermediate_size");
      e.shared_experts = 1;
      e.shared_intermediate_size = width;
      e.router_scales = true;
      mlp = e;
    }
    m.layers.push_back(make_layer(full ? "full" : "sliding", a, mlp, moe_block ? 7 : 4));
  }
  if (top.has("vision_config")) {
    const Config v = top.object("vision_config");
    m.towers.push_back(vector_weight("vision", gemma4_vision_params(v)));
    m.towers.push_back(vector_weight("projector", mul(v.integer("hidden_size", 768), m.hidden_size)));
  }
  return m;
}

// configuration_gpt_oss.py: attention_bias (default true) on q/k/v/o, per-head sinks (no KV),
// window 128 on alternate layers, MoE with expert and router biases (modeling_gpt_oss.py).
Model gpt_oss(const Config& c) {
  Model m = start_model(c, c, "gpt_oss", false);
  Attention a = gqa(c, m.hidden_size, 64);
  a.qkv_bias = a.o_bias = c.boolean("attention_bias", true);
  a.sinks = true;
  MoeMlp moe;
  moe.experts = c.integer(c.pick({"num_local_experts", "num_experts"}));
  moe.experts_per_token = c.integer(c.pick({"num_experts_per_tok", "experts_per_token"}));
  moe.expert_intermediate_size = c.integer("intermediate_size");
  moe.bias = moe.router_bias = true;
  const int64_t window = c.integer("sliding_window", 128);
  const int64_t layers = layer_count(c);
  add_decoders(m, a, moe, 2, sliding_layers(c, layers, [](int64_t i) { return (i + 1) % 2 != 0; }), window);
  return m;
}

// configuration_falcon.py / modeling_falcon.py. KV heads: num_kv_heads if new_decoder_architecture
// or not multi_query, else 1 (converted Falcon-7B configs say 71 with multi_query: the real value is
// 1). Norms: two unless parallel attention with one shared norm (num_ln_in_parallel_attn, default
// 2 with the new decoder architecture). Legacy RefinedWeb (40B) implies the new architecture.
Model falcon(const Config& c, const std::string& model_type) {
  Model m = start_model(c, c, "falcon", true, 2048);
  m.norm = Norm::layernorm;
  const bool new_arch = c.boolean("new_decoder_architecture", model_type == "RefinedWeb");
  const bool multi_query = c.boolean("multi_query", true);
  const bool parallel = c.boolean("parallel_attn", true);
  const bool bias = c.boolean("bias", false);
  Attention a;
  a.heads = c.integer(c.pick({"num_attention_heads", "n_head"}));
  const int64_t kv = c.integer(c.pick({"num_kv_heads", "n_head_kv"}), a.heads);
  a.kv_heads = (new_arch || !multi_query) ? kv : 1;
  a.head_dim = a.v_head_dim = c.derived_head_dim(m.hidden_size, a.heads, "Falcon has no head_dim field");
  a.input_size = m.hidden_size;
  a.qkv_bias = a.o_bias = bias;
  const int64_t ln_in_parallel = c.integer("num_ln_in_parallel_attn", new_arch ? 2 : 1);
  const int64_t norms = (!parallel || ln_in_parallel == 2) ? 2 : 1;
  const DenseMlp mlp{c.integer("ffn_hidden_size", 4 * m.hidden_size), false, bias};
  add_decoders(m, a, mlp, norms, none_sliding(layer_count(c, c.pick({"num_hidden_layers", "n_layer"}))), 0);
  return m;
}

}  // namespace

void register_dense(std::vector<Family>& out) {
  out.push_back({"llama", llama});
  out.push_back({"mistral", mistral});
  out.push_back({"mixtral", mixtral});
  out.push_back({"qwen2", [](const Config& c) { return qwen(c, false); }});
  out.push_back({"qwen3", [](const Config& c) { return qwen(c, true); }});
  out.push_back({"gemma", gemma});
  out.push_back({"gemma2", gemma2});
  out.push_back({"gemma3", gemma3});
  out.push_back({"gemma3_text", gemma3});
  out.push_back({"gemma4", gemma4});
  out.push_back({"gemma4_text", gemma4});
  out.push_back({"gpt_oss", gpt_oss});
  out.push_back({"falcon", [](const Config& c) { return falcon(c, "falcon"); }});
  out.push_back({"RefinedWeb", [](const Config& c) { return falcon(c, "RefinedWeb"); }});
  out.push_back({"RefinedWebModel", [](const Config& c) { return falcon(c, "RefinedWebModel"); }});
}

}  // namespace kvplan::hf
