// More dense attention families: phi, phi3, olmo2/olmo3, cohere/cohere2, smollm3, granite, exaone4.
// Defaults for absent keys are those of each family's transformers configuration_<family>.py;
// tensor layouts as tests/fixtures/hf/SOURCES.md records them.
#include "io/hf/families.h"

namespace kvplan::hf {

namespace {

// GQA attention with the Llama-style attention_bias flag on q/k/v/o.
Attention biased_gqa(const Config& c, int64_t hidden) {
  Attention a = gqa(c, hidden);
  a.qkv_bias = a.o_bias = c.boolean("attention_bias", false);
  return a;
}

// configuration_phi.py / modeling_phi.py (phi-1, phi-1_5, phi-2): attention and MLP run in
// parallel off one LayerNorm with bias (1 norm a layer, Norm::layernorm); q_proj, k_proj, v_proj
// and dense (o) all have biases; an ungated MLP fc1 [I, h] and fc2 [h, I], both biased; the final
// LayerNorm has a bias; the lm_head is untied and has a bias of vocab_size. num_key_value_heads null = the head count. partial_rotary_factor (0.4 on
// phi-2) rotates part of each head and changes no size. qk_layernorm adds LayerNorms over
// head_dim on q and k: counted as qk_norm, their two head_dim biases left out (false in releases).
Model phi(const Config& c) {
  Model m = start_model(c, c, "phi", false, 2048);
  m.norm = Norm::layernorm;
  m.lm_head_bias = !m.tie_word_embeddings;
  Attention a = gqa(c, m.hidden_size);
  a.qkv_bias = a.o_bias = true;
  a.qk_norm = c.boolean("qk_layernorm", false);
  const DenseMlp mlp{c.integer("intermediate_size", 8192), false, true};
  add_decoders(m, a, mlp, 1, none_sliding(layer_count(c)), 0);
  return m;
}

// configuration_phi3.py: max_position_embeddings 4096, untied, sliding_window None; when set the
// window applies to every layer. The fused qkv_proj and gate_up_proj hold exactly the q/k/v and
// gate/up weights, so they size as separate projections. No biases, no q/k norm.
Model phi3(const Config& c) {
  Model m = start_model(c, c, "phi3", false, 4096);
  const int64_t window = c.integer("sliding_window", 0);
  const DenseMlp mlp{c.integer("intermediate_size", 8192), true, false};
  const int64_t layers = layer_count(c);
  add_decoders(m, gqa(c, m.hidden_size), mlp, 2,
               sliding_layers(c, layers, [&](int64_t) { return window > 0; }), window);
  return m;
}

// configuration_olmo2.py / configuration_olmo3.py (max_position_embeddings 2048, untied,
// attention_bias False). No input norm: post_attention_layernorm and post_feedforward_layernorm
// (2 norms). q_norm and k_norm are RMSNorms over the whole projection (heads*head_dim and
// kv_heads*head_dim): Attention::qk_norm_full.
// OLMo-3 slides (sliding_window 4096; null = none) on every layer but each 4th: (i+1) % 4 != 0.
Model olmo(const Config& c, bool olmo3) {
  Model m = start_model(c, c, olmo3 ? "olmo3" : "olmo2", false, 2048);
  Attention a = biased_gqa(c, m.hidden_size);
  a.qk_norm_full = true;
  const DenseMlp mlp{c.integer("intermediate_size", 11008), true, false};
  const int64_t layers = layer_count(c);
  const int64_t window = !olmo3 ? 0 : c.present("sliding_window") ? c.integer("sliding_window", 0) : 4096;
  add_decoders(m, a, mlp, 2,
               sliding_layers(c, layers, [&](int64_t i) { return window > 0 && (i + 1) % 4 != 0; }), window);
  return m;
}

// configuration_cohere.py / configuration_cohere2.py: max_position_embeddings 8192, tied
// embeddings, attention_bias False. Attention and MLP run in parallel off one LayerNorm without a
// bias (weight only, so it counts as Norm::rmsnorm's hidden params), 1 norm per layer.
// use_qk_norm (Command R+) is a LayerNorm without bias over [heads, head_dim] and [kv_heads,
// head_dim], a weight per head: Attention::qk_norm_full. Cohere2 slides (window 4096,
// null = none) on layers with (i+1) % sliding_window_pattern != 0 (pattern 4): every 4th layer is
// global (NoPE).
Model cohere(const Config& c, bool cohere2) {
  Model m = start_model(c, c, cohere2 ? "cohere2" : "cohere", true, 8192);
  Attention a = biased_gqa(c, m.hidden_size);
  a.qk_norm_full = c.boolean("use_qk_norm", false);
  const DenseMlp mlp{c.integer("intermediate_size", 22528), true, false};
  const int64_t layers = layer_count(c);
  const int64_t window = !cohere2 ? 0 : c.present("sliding_window") ? c.integer("sliding_window", 0) : 4096;
  const int64_t pattern = c.integer("sliding_window_pattern", 4);
  add_decoders(m, a, mlp, 1,
               sliding_layers(c, layers,
                              [&](int64_t i) { return window > 0 && pattern > 0 && (i + 1) % pattern != 0; }),
               window);
  return m;
}

// configuration_smollm3.py: 16 heads, 4 KV heads, max_position_embeddings 32768, tied,
// attention_bias False. no_rope_layers (default: every 4th layer NoPE) changes only RoPE; a layer slides only if
// use_sliding_window and sliding_window are set and it is a NoPE layer (released: none).
Model smollm3(const Config& c) {
  Model m = start_model(c, c, "smollm3", true, 32768);
  Attention a;
  a.heads = c.integer("num_attention_heads", 16);
  a.kv_heads = c.integer("num_key_value_heads", 4);
  a.head_dim = a.v_head_dim = c.head_dim("head_dim", m.hidden_size, a.heads);
  a.input_size = m.hidden_size;
  a.qkv_bias = a.o_bias = c.boolean("attention_bias", false);
  const int64_t layers = layer_count(c);
  const int64_t window = c.boolean("use_sliding_window", false) ? c.integer("sliding_window", 0) : 0;
  std::vector<int64_t> rope = c.integers("no_rope_layers");
  if (rope.empty()) {
    const int64_t interval = c.integer("no_rope_layer_interval", 4);
    for (int64_t i = 0; i < layers; ++i) rope.push_back(interval > 0 && (i + 1) % interval != 0 ? 1 : 0);
  }
  check_list_length(c, "no_rope_layers", rope.size(), layers);
  const DenseMlp mlp{c.integer("intermediate_size", 11008), true, c.boolean("mlp_bias", false)};
  add_decoders(m, a, mlp, 2, sliding_layers(c, layers, [&](int64_t i) { return window > 0 && rope[i] == 0; }), window);
  return m;
}

// configuration_granite.py: Llama's tensors (attention_bias, mlp_bias default False), untied by
// default, max_position_embeddings 2048. Its embedding/attention/residual multipliers and
// logits_scaling scale activations and add no weights.
Model granite(const Config& c) {
  Model m = start_model(c, c, "granite", false, 2048);
  const DenseMlp mlp{c.integer("intermediate_size", 11008), true, c.boolean("mlp_bias", false)};
  add_decoders(m, biased_gqa(c, m.hidden_size), mlp, 2, none_sliding(layer_count(c)), 0);
  return m;
}

// configuration_exaone4.py: sliding_window 4096, sliding_window_pattern 4 (an int: (i+1) % p != 0
// slides; or a string such as "LLLG", one letter per layer, repeating), none when sliding_window
// is null; max_position_embeddings 2048, untied. Per-head q/k RMSNorm (exactly qk_norm) and
// post-norms only (post_attention_layernorm, post_feedforward_layernorm).
Model exaone4(const Config& c) {
  Model m = start_model(c, c, "exaone4", false, 2048);
  Attention a = biased_gqa(c, m.hidden_size);
  a.qk_norm = true;
  const int64_t window = c.present("sliding_window") ? c.integer("sliding_window", 0) : 4096;
  int64_t every = 4;
  std::string letters;
  try {
    every = c.integer("sliding_window_pattern", 4);
  } catch (const Error&) {
    letters = c.string("sliding_window_pattern", "");
    if (letters.empty() || letters.find_first_not_of("LG") != std::string::npos)
      throw c.fail("field 'sliding_window_pattern' must be an integer or a string of L and G (got \"" + letters +
                   "\")");
  }
  const auto rule = [&](int64_t i) {
    if (window <= 0) return false;
    if (!letters.empty()) return letters[i % static_cast<int64_t>(letters.size())] == 'L';
    return every > 0 && (i + 1) % every != 0;
  };
  const DenseMlp mlp{c.integer("intermediate_size", 16384), true, false};
  const int64_t layers = layer_count(c);
  add_decoders(m, a, mlp, 2, sliding_layers(c, layers, rule), window);
  return m;
}

}  // namespace

void register_more_dense(std::vector<Family>& out) {
  out.push_back({"phi", phi});
  out.push_back({"phi3", phi3});
  out.push_back({"olmo2", [](const Config& c) { return olmo(c, false); }});
  out.push_back({"olmo3", [](const Config& c) { return olmo(c, true); }});
  out.push_back({"cohere", [](const Config& c) { return cohere(c, false); }});
  out.push_back({"cohere2", [](const Config& c) { return cohere(c, true); }});
  out.push_back({"smollm3", smollm3});
  out.push_back({"granite", granite});
  out.push_back({"exaone4", exaone4});
}

}  // namespace kvplan::hf
