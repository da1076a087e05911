// Multimodal wrappers and their towers: llama4, llava, mistral3, qwen2_5_vl. The text stack under
// text_config becomes the layers; the vision encoder and projector go to Model::towers.
#include <algorithm>

#include "core/checked.h"
#include "io/hf/families.h"

namespace kvplan::hf {

namespace {

// The nested object `key`, or an empty one (every field at its default) when absent.
const nlohmann::json kEmpty = nlohmann::json::object();
Config nested(const Config& top, const std::string& key) {
  return top.has(key) ? top.object(key) : Config(kEmpty, "", key + ".");
}

// A linear layer [out, in] with an optional bias.
int64_t linear(int64_t out, int64_t in, bool bias) { return add(mul(out, in), bias ? out : 0); }

// A ViT encoder block: two LayerNorms (w+b), q/k/v/o [vh, vh] with biases, fc1/fc2 with biases
// (CLIP, SigLIP and Llama 4's vision encoder share this shape).
int64_t vit_block(int64_t vh, int64_t vi) {
  return add(add(mul(4, vh), mul(4, linear(vh, vh, true))), add(linear(vi, vh, true), linear(vh, vi, true)));
}

Tensor tower(const std::string& name, int64_t params) { return vector_weight(name, params); }

// vision_feature_layer: one layer index, or a list whose features are concatenated (the
// projector's input is then that many times the vision width).
int64_t feature_layer_count(const Config& top) {
  if (!top.has("vision_feature_layer")) return 1;
  try {
    top.integer("vision_feature_layer");
    return 1;
  } catch (const Error&) {
  }
  return std::max<int64_t>(1, static_cast<int64_t>(top.integers("vision_feature_layer").size()));
}

// ---- llama4 ----------------------------------------------------------------------------------

// Llama4VisionModel (modeling_llama4.py): unfold-conv patch embedding [vh, C*P*P] (no bias),
// class embedding [vh], positional_embedding_vlm [(image/P)^2 + 1, vh], layernorm_pre/post (w+b),
// ViT blocks, vision_adapter fc1 [projector_input_dim, intermediate_size] and fc2
// [projector_output_dim, projector_output_dim] (no biases). Defaults: Llama4VisionConfig.
int64_t llama4_vision_params(const Config& v) {
  const int64_t vh = v.integer("hidden_size", 768);
  const int64_t vi = v.integer("intermediate_size", 5632);
  const int64_t layers = v.integer("num_hidden_layers", 34);
  const int64_t channels = v.integer("num_channels", 3);
  const int64_t image = v.integer("image_size", 448);
  const int64_t patch = v.integer("patch_size", 14);
  const int64_t proj_in = v.integer("projector_input_dim", 4096);
  const int64_t proj_out = v.integer("projector_output_dim", 4096);
  if (patch <= 0) throw v.fail("field 'vision_config.patch_size' must be positive");
  const int64_t positions = add(mul(image / patch, image / patch), 1);
  const int64_t embed = add(add(mul(vh, mul(channels, patch, patch)), vh), mul(positions, vh));
  const int64_t adapter = add(mul(proj_in, vi), mul(proj_out, proj_out));
  return add(add(embed, mul(4, vh)), add(mul(layers, vit_block(vh, vi)), adapter));
}

// configuration_llama4.py (Llama4TextConfig): layer i is MoE iff i is in moe_layers (default
// every interleave_moe_layer_step-th layer from step-1), with num_local_experts routed experts of
// intermediate_size and one shared expert of the same size; other layers have a dense MLP of
// intermediate_size_mlp. RoPE layers (no_rope_layers[i] == 1, default all but every
// no_rope_layer_interval-th) use chunked local attention of attention_chunk_size tokens; NoPE layers
// attend globally. use_qk_norm is a weightless L2 norm (no parameters).
Model llama4(const Config& top, bool wrapper) {
  const Config c = top.has("text_config") ? top.object("text_config") : top;
  Model m = start_model(top, c, "llama4", false, 4096 * 32);
  const int64_t layers = layer_count(c);
  Attention a = gqa(c, m.hidden_size, 128);
  a.kv_heads = c.integer("num_key_value_heads", 8);
  a.qkv_bias = a.o_bias = c.boolean("attention_bias", false);
  // null disables chunking (the "chunked" layers then attend globally).
  const int64_t chunk = c.present("attention_chunk_size") ? c.integer("attention_chunk_size", 0) : 8192;

  std::vector<bool> chunked(layers);
  const std::vector<std::string> types = c.strings("layer_types");
  if (!types.empty()) {
    check_list_length(c, "layer_types", types.size(), layers);
    for (int64_t i = 0; i < layers; ++i) {
      if (types[i] == "chunked_attention") chunked[i] = true;
      else if (types[i] == "full_attention") chunked[i] = false;
      else throw c.fail("field 'layer_types' entry " + std::to_string(i) + " is '" + types[i] +
                        "' (expected chunked_attention or full_attention)");
    }
  } else {
    const std::vector<int64_t> rope = c.integers("no_rope_layers");
    const int64_t interval = c.integer("no_rope_layer_interval", 4);
    if (rope.empty() && interval < 1)
      throw c.fail("field 'no_rope_layer_interval' must be positive (got " + std::to_string(interval) + ")");
    if (!rope.empty() && static_cast<int64_t>(rope.size()) < layers)
      throw c.fail("field 'no_rope_layers' lists " + std::to_string(rope.size()) + " layers but num_hidden_layers is " +
                   std::to_string(layers));
    for (int64_t i = 0; i < layers; ++i) chunked[i] = rope.empty() ? (i + 1) % interval != 0 : rope[i] != 0;
  }

  std::vector<bool> is_moe(layers, false);
  if (c.has("moe_layers")) {
    for (int64_t i : c.integers("moe_layers")) {
      if (i < 0 || i >= layers)
        throw c.fail("field 'moe_layers' names layer " + std::to_string(i) + " of " + std::to_string(layers));
      is_moe[i] = true;
    }
  } else {
    const int64_t step = c.integer("interleave_moe_layer_step", 1);
    if (step < 1) throw c.fail("field 'interleave_moe_layer_step' must be positive (got " + std::to_string(step) + ")");
    for (int64_t i = step - 1; i < layers; i += step) is_moe[i] = true;
  }
  MoeMlp moe;
  moe.experts = c.integer("num_local_experts", 16);
  moe.experts_per_token = c.integer("num_experts_per_tok", 1);
  moe.expert_intermediate_size = c.integer("intermediate_size", 8192);
  moe.shared_experts = 1;
  moe.shared_intermediate_size = moe.expert_intermediate_size;
  const DenseMlp dense{c.integer("intermediate_size_mlp", 16384), true, false};

  for (int64_t i = 0; i < layers; ++i) {
    Attention la = a;
    la.chunk_size = chunked[i] ? chunk : 0;
    const std::string block = std::string(chunked[i] ? "chunked" : "global") + (is_moe[i] ? "_moe" : "_dense");
    m.layers.push_back(is_moe[i] ? make_layer(block, la, moe, 2) : make_layer(block, la, dense, 2));
  }
  if (wrapper) {
    const Config v = nested(top, "vision_config");
    m.towers.push_back(tower("vision", llama4_vision_params(v)));
    // Llama4MultiModalProjector: linear_1 [text hidden, vision_output_dim], no bias.
    m.towers.push_back(tower("projector", mul(m.hidden_size, v.integer("vision_output_dim", 7680))));
  }
  return m;
}

// ---- llava ----------------------------------------------------------------------------------

// CLIPVisionModel (modeling_clip.py): class_embedding [vh], patch Conv2d [vh, C, P, P] without
// bias, position_embedding [(image/P)^2 + 1, vh], pre_layrnorm and post_layernorm (w+b), ViT blocks.
int64_t clip_vision_params(int64_t vh, int64_t vi, int64_t layers, int64_t channels, int64_t image, int64_t patch) {
  const int64_t positions = add(mul(image / patch, image / patch), 1);
  const int64_t embed = add(add(vh, mul(vh, mul(channels, patch, patch))), mul(positions, vh));
  return add(add(embed, mul(4, vh)), mul(layers, vit_block(vh, vi)));
}

// configuration_llava.py: text_config is a LlamaConfig filled from its defaults (hidden 4096,
// intermediate 11008, 32 layers, 32 heads, vocab 32000, context 2048); vision_config a
// CLIPVisionConfig (defaults 768 wide, 12 layers, MLP 3072, patch 32, image 224), or LlavaConfig's
// CLIP-L/14-336 when absent. multi_modal_projector: linear_1 [text hidden, vh x feature layers]
// and linear_2 [text hidden, text hidden], biased unless multimodal_projector_bias is false.
Model llava(const Config& top) {
  const Config c = nested(top, "text_config");
  const std::string text_type = c.string("model_type", "llama");
  if (text_type != "llama")
    throw c.fail("field 'text_config.model_type' is '" + text_type + "'; llava imports a llama text_config only");
  Model m;
  m.family = "llava";
  m.vocab_size = c.integer("vocab_size", 32000);
  m.hidden_size = c.integer("hidden_size", 4096);
  m.max_context = c.integer("max_position_embeddings", 2048);
  m.tie_word_embeddings =
      c.has("tie_word_embeddings") ? c.boolean("tie_word_embeddings", false) : top.boolean("tie_word_embeddings", false);
  m.dtype = weight_dtype(top, c);
  Attention a;
  a.heads = c.integer("num_attention_heads", 32);
  a.kv_heads = c.integer("num_key_value_heads", a.heads);
  a.head_dim = a.v_head_dim = c.head_dim("head_dim", m.hidden_size, a.heads);
  a.input_size = m.hidden_size;
  a.qkv_bias = a.o_bias = c.boolean("attention_bias", false);
  const DenseMlp mlp{c.integer("intermediate_size", 11008), true, c.boolean("mlp_bias", false)};
  add_decoders(m, a, mlp, 2, none_sliding(c.has("num_hidden_layers") ? layer_count(c) : 32), 0);

  const bool has_vision = top.has("vision_config");
  const Config v = nested(top, "vision_config");
  const std::string vision_type = v.string("model_type", "clip_vision_model");
  if (vision_type != "clip_vision_model")
    throw v.fail("field 'vision_config.model_type' is '" + vision_type + "'; llava imports a CLIP vision tower only");
  const int64_t vh = v.integer("hidden_size", has_vision ? 768 : 1024);
  const int64_t patch = v.integer("patch_size", has_vision ? 32 : 14);
  if (patch <= 0) throw v.fail("field 'vision_config.patch_size' must be positive");
  m.towers.push_back(tower("vision", clip_vision_params(vh, v.integer("intermediate_size", has_vision ? 3072 : 4096),
                                                        v.integer("num_hidden_layers", has_vision ? 12 : 24),
                                                        v.integer("num_channels", 3),
                                                        v.integer("image_size", has_vision ? 224 : 336), patch)));
  const int64_t feature_layers = feature_layer_count(top);
  const bool bias = top.boolean("multimodal_projector_bias", true);
  m.towers.push_back(tower("projector", add(linear(m.hidden_size, mul(vh, feature_layers), bias),
                                            linear(m.hidden_size, m.hidden_size, bias))));
  return m;
}

// ---- qwen2_5_vl -----------------------------------------------------------------------------

// Qwen2_5_VisionTransformerPretrainedModel (modeling_qwen2_5_vl.py; SOURCES.md "qwen2_5_vl"):
// Conv3d patch embed [vh, C, T, P, P] without bias; per block two RMSNorms (vh), qkv [3vh, vh] + b,
// proj [vh, vh] + b, SwiGLU gate/up [vi, vh] + b and down [vh, vi] + b; merger ln_q RMSNorm(vh),
// mlp [4vh, 4vh] + b and [out_hidden, 4vh] + b (4 = spatial_merge_size^2). Defaults:
// Qwen2_5_VLVisionConfig (hidden 3584, depth 32, MLP 3420, patch 14, out 3584).
int64_t qwen2_5_vision_params(const Config& v) {
  const int64_t vh = v.integer("hidden_size", 3584);
  const int64_t vi = v.integer("intermediate_size", 3420);
  const int64_t depth = v.integer("depth", 32);
  const int64_t channels = v.integer("in_channels", v.integer("in_chans", 3));
  const int64_t patch = v.integer("patch_size", 14);
  const int64_t temporal = v.integer("temporal_patch_size", 2);
  const int64_t merge = v.integer("spatial_merge_size", 2);
  const int64_t out = v.integer("out_hidden_size", 3584);
  const int64_t patch_embed = mul(vh, mul(channels, temporal), mul(patch, patch));
  const int64_t block = add(add(mul(2, vh), add(linear(3 * vh, vh, true), linear(vh, vh, true))),
                            add(mul(2, linear(vi, vh, true)), linear(vh, vi, true)));
  const int64_t merged = mul(vh, merge, merge);
  const int64_t merger = add(vh, add(linear(merged, merged, true), linear(out, merged, true)));
  return add(patch_embed, add(mul(depth, block), merger));
}

// configuration_qwen2_5_vl.py: the text fields sit at the top level (older files) or under
// text_config; qwen2 rules: q/k/v biased, o not; use_sliding_window false drops the window, else
// layers at index >= max_window_layers slide.
Model qwen2_5_vl(const Config& top) {
  const Config c = top.has("text_config") ? top.object("text_config") : top;
  Model m = start_model(top, c, "qwen2_5_vl", false, 128000);
  Attention a = gqa(c, m.hidden_size);
  a.qkv_bias = true;
  const int64_t layers = layer_count(c);
  const int64_t window = c.boolean("use_sliding_window", false) ? c.integer("sliding_window", 4096) : 0;
  const int64_t max_window_layers = c.integer("max_window_layers", 80);
  const DenseMlp mlp{c.integer("intermediate_size"), true, false};
  add_decoders(m, a, mlp, 2, sliding_layers(c, layers, [&](int64_t i) { return window > 0 && i >= max_window_layers; }),
               window);
  m.towers.push_back(tower("vision", qwen2_5_vision_params(nested(top, "vision_config"))));
  return m;
}

// ---- mistral3 -------------------------------------------------------------------------------

// configuration_mistral3.py + models/pixtral (SOURCES.md "mistral3"): the text_config is a
// MistralConfig (sliding_window default 4096, null = full). Tied embeddings follow text_config
// (MistralConfig default false: the checkpoints carry an lm_head). PixtralVisionModel:
// patch_conv [vh, C, P, P] without bias, ln_pre RMSNorm(vh); per layer two RMSNorms, q/k/v/o
// [vh, vh] and a SwiGLU MLP (vi), no biases. Mistral3MultiModalProjector: norm RMSNorm(vh),
// patch_merger [vh, vh * merge^2], linear_1 [text hidden, vh * feature layers] and linear_2
// [text hidden, text hidden], biased iff multimodal_projector_bias (default false).
// PixtralVisionConfig defaults: 1024 wide, MLP 4096, 24 layers, patch 16.
Model mistral3(const Config& top) {
  const Config c = top.has("text_config") ? top.object("text_config") : top;
  Model m = start_model(top, c, "mistral3", false);
  const int64_t window = c.present("sliding_window") ? c.integer("sliding_window", 0) : 4096;
  const DenseMlp mlp{c.integer("intermediate_size"), true, false};
  const int64_t layers = layer_count(c);
  add_decoders(m, gqa(c, m.hidden_size), mlp, 2, sliding_layers(c, layers, [&](int64_t) { return window > 0; }),
               window);

  const Config v = nested(top, "vision_config");
  const int64_t vh = v.integer("hidden_size", 1024);
  const int64_t vi = v.integer("intermediate_size", 4096);
  const int64_t patch = v.integer("patch_size", top.has("vision_config") ? 16 : 14);
  const int64_t vision_layer = add(mul(2, vh), add(mul(4, mul(vh, vh)), mul(3, mul(vi, vh))));
  m.towers.push_back(tower("vision", add(add(mul(vh, mul(v.integer("num_channels", 3), patch, patch)), vh),
                                         mul(v.integer("num_hidden_layers", 24), vision_layer))));
  const int64_t merge = top.integer("spatial_merge_size", 2);
  const int64_t feature_layers = feature_layer_count(top);
  const bool bias = top.boolean("multimodal_projector_bias", false);
  m.towers.push_back(tower("projector", add(add(vh, mul(vh, mul(vh, merge, merge))),
                                            add(linear(m.hidden_size, mul(vh, feature_layers), bias),
                                                linear(m.hidden_size, m.hidden_size, bias)))));
  return m;
}

}  // namespace

void register_multimodal(std::vector<Family>& out) {
  out.push_back({"llama4", [](const Config& c) { return llama4(c, true); }});
  out.push_back({"llama4_text", [](const Config& c) { return llama4(c, false); }});
  out.push_back({"llava", llava});
  out.push_back({"qwen2_5_vl", qwen2_5_vl});
  out.push_back({"mistral3", mistral3});
}

}  // namespace kvplan::hf
