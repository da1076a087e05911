// State-space and hybrid families: mamba, falcon_mamba, mamba2, jamba, zamba2, nemotron_h,
// falcon_h1, granitemoehybrid.
#include <algorithm>
#include <map>

#include "io/hf/families.h"

namespace kvplan::hf {

namespace {

// configuration_mamba.py / configuration_falcon_mamba.py: intermediate_size (when given) wins over
// expand * hidden; time_step_rank "auto" = ceil(hidden / 16). Falcon-Mamba adds parameter-free
// RMS norms on B, C and dt.
Model mamba(const Config& c, bool falcon_mamba) {
  Model m = start_model(c, c, falcon_mamba ? "falcon_mamba" : "mamba", true);
  Mamba1 s;
  s.d_inner = c.integer("intermediate_size", c.integer("expand", 2) * m.hidden_size);
  s.d_state = c.integer("state_size", 16);
  s.d_conv = c.integer("conv_kernel", 4);
  s.dt_rank = c.integer_or_auto("time_step_rank", (m.hidden_size + 15) / 16);
  s.conv_bias = c.boolean("use_conv_bias", true);
  s.proj_bias = c.boolean("use_bias", false);
  s.bc_dt_norm = falcon_mamba;
  const int64_t layers = layer_count(c);
  for (int64_t i = 0; i < layers; ++i) m.layers.push_back(make_layer("mamba", s, std::nullopt, 1));
  return m;
}

// configuration_mamba2.py; embeddings untied by default.
Model mamba2(const Config& c) {
  Model m = start_model(c, c, "mamba2", false);
  Mamba2 s;
  s.n_heads = c.integer("num_heads", 128);
  s.head_dim = c.integer("head_dim", 64);
  s.n_groups = c.integer("n_groups", 8);
  s.d_state = c.integer("state_size", 128);
  s.d_conv = c.integer("conv_kernel", 4);
  s.conv_bias = c.boolean("use_conv_bias", true);
  s.proj_bias = c.boolean("use_bias", false);
  const int64_t layers = layer_count(c);
  for (int64_t i = 0; i < layers; ++i) m.layers.push_back(make_layer("mamba", s, std::nullopt, 1));
  return m;
}

// configuration_jamba.py: layer i is attention iff i % attn_layer_period == attn_layer_offset,
// else Mamba-1 (d_inner = mamba_expand * hidden); MoE iff i % expert_layer_period ==
// expert_layer_offset. Two norms per layer. The Mamba layers' dt/B/C RMSNorms (with weights,
// dt_rank + 2*d_state each) are not modelled.
Model jamba(const Config& c) {
  Model m = start_model(c, c, "jamba", false);
  Mamba1 s;
  s.d_inner = c.integer("mamba_expand", 2) * m.hidden_size;
  s.d_state = c.integer("mamba_d_state", 16);
  s.d_conv = c.integer("mamba_d_conv", 4);
  s.dt_rank = c.integer_or_auto("mamba_dt_rank", (m.hidden_size + 15) / 16);
  s.conv_bias = c.boolean("mamba_conv_bias", true);
  s.proj_bias = c.boolean("mamba_proj_bias", false);
  Attention a = gqa(c, m.hidden_size);
  a.rope = false;  // modeling_jamba.py / vLLM's jamba.py: attention without positional encoding
  const DenseMlp dense{c.integer("intermediate_size"), true, false};
  MoeMlp moe;
  moe.experts = c.integer("num_experts", 16);
  moe.experts_per_token = c.integer("num_experts_per_tok", 2);
  moe.expert_intermediate_size = dense.intermediate_size;
  const int64_t attn_period = c.integer("attn_layer_period", 8), attn_offset = c.integer("attn_layer_offset", 4);
  const int64_t expert_period = c.integer("expert_layer_period", 2),
                expert_offset = c.integer("expert_layer_offset", 1);
  if (attn_period <= 0 || expert_period <= 0)
    throw c.fail("fields 'attn_layer_period' and 'expert_layer_period' must be positive");
  const int64_t layers = layer_count(c);
  for (int64_t i = 0; i < layers; ++i) {
    const bool attn = i % attn_period == attn_offset;
    const bool is_moe = moe.experts > 1 && i % expert_period == expert_offset;
    const std::string block = std::string(attn ? "attn" : "mamba") + (is_moe ? "_moe" : "_dense");
    m.layers.push_back(make_layer(block, attn ? Mixer(a) : Mixer(s), is_moe ? Mlp(moe) : Mlp(dense), 2));
  }
  return m;
}

// configuration_zamba2.py / modeling_zamba2.py: num_hidden_layers Mamba-2 layers; before each
// "hybrid" one runs a shared transformer block (attention reading concat(hidden, embeddings) =
// 2*hidden, gated MLP) drawn in turn from num_mem_blocks copies. Its input norm is 2*hidden wide,
// so the block counts 3 hidden-size norms. Not modelled: the unshared hidden x hidden linear of
// each hybrid layer and the LoRA adapters.
Model zamba2(const Config& c) {
  Model m = start_model(c, c, "zamba2", true, 4096);
  const int64_t layers = layer_count(c);
  std::vector<bool> hybrid(layers, false);
  const std::vector<std::string> types = c.strings("layers_block_type");
  if (!types.empty()) {
    check_list_length(c, "layers_block_type", types.size(), layers);
    for (int64_t i = 0; i < layers; ++i) hybrid[i] = types[i] == "hybrid";
  } else {
    for (int64_t id : c.integers("hybrid_layer_ids")) {
      if (id < 0 || id >= layers)
        throw c.fail("field 'hybrid_layer_ids' has layer " + std::to_string(id) + " outside 0.." +
                     std::to_string(layers - 1));
      hybrid[id] = true;
    }
  }
  const bool linear_bias = c.boolean("add_bias_linear", false);
  Mamba2 s;
  s.n_heads = c.integer("n_mamba_heads", 8);
  s.head_dim = c.integer("mamba_headdim", s.n_heads > 0 ? c.integer("mamba_expand", 2) * m.hidden_size / s.n_heads : 0);
  s.n_groups = c.integer("mamba_ngroups", 1);
  s.d_state = c.integer("mamba_d_state", 64);
  s.d_conv = c.integer("mamba_d_conv", 4);
  s.conv_bias = c.boolean("use_conv_bias", true);
  s.proj_bias = linear_bias;
  Attention a;
  a.heads = c.integer("num_attention_heads");
  a.kv_heads = c.integer("num_key_value_heads", a.heads);
  a.input_size = c.integer("attention_hidden_size", 2 * m.hidden_size);
  a.head_dim = a.v_head_dim = c.head_dim("attention_head_dim", a.input_size, a.heads);
  const DenseMlp mlp{c.integer("intermediate_size", 4 * m.hidden_size), true, linear_bias};
  const int64_t mem_blocks = c.integer("num_mem_blocks", 1);
  if (mem_blocks < 1 || mem_blocks > 26) throw c.fail("field 'num_mem_blocks' must be between 1 and 26");
  int64_t next_block = 0;
  for (int64_t i = 0; i < layers; ++i) {
    if (hybrid[i]) {
      const std::string tag(1, static_cast<char>('A' + next_block++ % mem_blocks));
      Layer shared = make_layer("shared_" + tag, a, mlp, 3);
      shared.shared_weights = tag;
      m.layers.push_back(shared);
    }
    m.layers.push_back(make_layer("mamba", s, std::nullopt, 1));
  }
  return m;
}

// configuration_nemotron_h.py: one letter per layer in hybrid_override_pattern ('M' Mamba-2, '*'
// attention, '-' relu2 MLP, 'E' MoE), or the newer layers_block_type list; one norm per layer.
Model nemotron_h(const Config& c) {
  Model m = start_model(c, c, "nemotron_h", false);
  std::string pattern = c.string("hybrid_override_pattern", "");
  if (pattern.empty()) {
    static const std::map<std::string, char> kLetters = {{"mamba", 'M'},     {"linear_attention", 'M'},
                                                         {"attention", '*'}, {"full_attention", '*'},
                                                         {"mlp", '-'},       {"moe", 'E'}};
    for (const std::string& t : c.strings("layers_block_type")) {
      auto it = kLetters.find(t);
      if (it == kLetters.end()) throw c.fail("field 'layers_block_type' has unknown layer type '" + t + "'");
      pattern += it->second;
    }
  }
  if (pattern.empty()) throw c.fail("missing field 'hybrid_override_pattern'");
  if (c.has("num_hidden_layers") && layer_count(c) != static_cast<int64_t>(pattern.size()))
    throw c.fail("field 'hybrid_override_pattern' has " + std::to_string(pattern.size()) +
                 " layers but num_hidden_layers is " + std::to_string(layer_count(c)));
  const size_t bad = pattern.find_first_not_of("M*-E");
  if (bad != std::string::npos)
    throw c.fail(std::string("field 'hybrid_override_pattern' has unknown layer letter '") + pattern[bad] +
                 "' (expected M, *, - or E)");
  if (c.has("moe_latent_size")) throw c.fail("field 'moe_latent_size' (latent MoE projections) is not supported");

  const auto mamba_layer = [&] {
    Mamba2 s;
    s.n_heads = c.integer("mamba_num_heads");
    s.head_dim = c.integer("mamba_head_dim");
    s.n_groups = c.integer(c.pick({"n_groups", "mamba_n_groups"}), 8);
    s.d_state = c.integer("ssm_state_size", 128);
    s.d_conv = c.integer(c.pick({"conv_kernel", "mamba_d_conv"}), 4);
    s.conv_bias = c.boolean(c.pick({"use_conv_bias", "mamba_conv_bias"}), true);
    s.proj_bias = c.boolean("mamba_proj_bias", false);
    return make_layer("mamba", s, std::nullopt, 1);
  };
  const auto attention_layer = [&] {
    Attention a = gqa(c, m.hidden_size, c.integer("attention_head_dim", 128));
    a.qkv_bias = a.o_bias = c.boolean("attention_bias", false);
    a.rope = false;  // vLLM's nemotron_h.py NemotronHAttention: no rotary embedding
    return make_layer("attention", a, std::nullopt, 1);
  };
  const auto mlp_layer = [&] {
    return make_layer("mlp", std::nullopt,
                      DenseMlp{c.integer("intermediate_size"), false, c.boolean("mlp_bias", false)}, 1);
  };
  const auto moe_layer = [&] {
    MoeMlp e;
    e.experts = c.integer(c.pick({"n_routed_experts", "num_local_experts"}));
    e.experts_per_token = c.integer("num_experts_per_tok");
    e.expert_intermediate_size = c.integer("moe_intermediate_size");
    e.shared_experts = c.integer("n_shared_experts", 1);
    e.shared_intermediate_size = e.shared_experts > 0 ? c.integer("moe_shared_expert_intermediate_size") : 0;
    e.gated = false;
    e.bias = c.boolean("mlp_bias", false);
    e.router_bias = true;  // e_score_correction_bias, as DeepSeek-V3
    return make_layer("moe", std::nullopt, e, 1);
  };
  for (char ch : pattern) {
    switch (ch) {
      case 'M': m.layers.push_back(mamba_layer()); break;
      case '*': m.layers.push_back(attention_layer()); break;
      case '-': m.layers.push_back(mlp_layer()); break;
      case 'E': m.layers.push_back(moe_layer()); break;
    }
  }
  return m;
}

// configuration_falcon_h1.py / modeling_falcon_h1.py: every layer runs attention and a Mamba-2
// mixer side by side (ParallelHybrid), then a gated MLP; input_layernorm and pre_ff_layernorm.
// Attention: an explicit head_dim wins over hidden/heads (Falcon-H1-7B: 128, not 256); KV heads
// default 8. Mamba: d_ssm = mamba_d_ssm (default 1024; null = mamba_expand * hidden) =
// mamba_n_heads (128) x mamba_d_head ("auto" = d_ssm / n_heads); mamba_n_groups 1, d_state 256,
// d_conv 4; the gated RMSNorm exists only with mamba_rms_norm (default False). in_proj's bias is
// mamba_proj_bias and out_proj's projectors_bias (both default False): Mamba2 has one flag for
// both, so configs where they differ are refused. max_position_embeddings 8192, untied.
Model falcon_h1(const Config& c) {
  Model m = start_model(c, c, "falcon_h1", false, 8192);
  Attention a = gqa(c, m.hidden_size);
  if (!c.present("num_key_value_heads")) a.kv_heads = 8;
  a.qkv_bias = a.o_bias = c.boolean("attention_bias", false);
  if (!c.integers("attn_layer_indices").empty())
    throw c.fail("field 'attn_layer_indices' (attention on some layers only) is not supported");
  Mamba2 s;
  const int64_t expanded = c.integer("mamba_expand", 2) * m.hidden_size;
  const int64_t d_ssm = c.present("mamba_d_ssm") ? c.integer("mamba_d_ssm", expanded) : 1024;
  s.n_heads = c.integer("mamba_n_heads", 128);
  s.head_dim = c.integer_or_auto("mamba_d_head", s.n_heads > 0 ? d_ssm / s.n_heads : 0);
  if (s.n_heads * s.head_dim != d_ssm)
    throw c.fail("mamba_n_heads x mamba_d_head (" + std::to_string(s.n_heads) + " x " + std::to_string(s.head_dim) +
                 ") must equal mamba_d_ssm (" + std::to_string(d_ssm) + ")");
  s.n_groups = c.integer("mamba_n_groups", 1);
  s.d_state = c.integer("mamba_d_state", 256);
  s.d_conv = c.integer("mamba_d_conv", 4);
  s.conv_bias = c.boolean("mamba_conv_bias", true);
  s.proj_bias = c.boolean("mamba_proj_bias", false);
  if (c.boolean("projectors_bias", false) != s.proj_bias)
    throw c.fail("fields 'mamba_proj_bias' and 'projectors_bias' differ: one bias flag covers in_proj and out_proj");
  s.gated_norm = c.boolean("mamba_rms_norm", false);
  const DenseMlp mlp{c.integer("intermediate_size", 14336), true, c.boolean("mlp_bias", false)};
  const int64_t layers = layer_count(c);
  for (int64_t i = 0; i < layers; ++i) m.layers.push_back(make_layer("hybrid", ParallelHybrid{a, s}, mlp, 2));
  return m;
}

// configuration_granitemoehybrid.py / modular_granitemoehybrid.py: layer_types (default all
// "mamba") picks each layer's mixer, Mamba-2 (BambaMixer: d_inner = mamba_expand * hidden =
// mamba_n_heads (128) x mamba_d_head ("auto"), mamba_n_groups 1, d_state 256, d_conv 4, gated
// RMSNorm) or attention (head_dim hidden/heads, attention_bias False). Every layer then has the
// MoE block when num_local_experts (default 8) > 0, top num_experts_per_tok (2), each expert
// intermediate_size wide, plus the always-present shared_mlp (shared_intermediate_size, default
// 1024), modelled as one shared expert; with 0 experts the shared MLP is the layer's dense MLP.
// Two norms per layer; untied, max_position_embeddings 2048 by default.
Model granitemoehybrid(const Config& c) {
  Model m = start_model(c, c, "granitemoehybrid", false, 2048);
  const int64_t layers = layer_count(c);
  std::vector<std::string> types = c.strings(c.pick({"layer_types", "layers_block_type"}));
  if (types.empty()) types.assign(layers, "mamba");
  check_list_length(c, "layer_types", types.size(), layers);
  Attention a = gqa(c, m.hidden_size);
  a.qkv_bias = a.o_bias = c.boolean("attention_bias", false);
  Mamba2 s;
  const int64_t d_inner = c.integer("mamba_expand", 2) * m.hidden_size;
  s.n_heads = c.integer("mamba_n_heads", 128);
  s.head_dim = c.integer_or_auto("mamba_d_head", s.n_heads > 0 ? d_inner / s.n_heads : 0);
  if (s.n_heads * s.head_dim != d_inner)
    throw c.fail("mamba_n_heads x mamba_d_head (" + std::to_string(s.n_heads) + " x " + std::to_string(s.head_dim) +
                 ") must equal mamba_expand x hidden_size (" + std::to_string(d_inner) + ")");
  s.n_groups = c.integer("mamba_n_groups", 1);
  s.d_state = c.integer("mamba_d_state", 256);
  s.d_conv = c.integer("mamba_d_conv", 4);
  s.conv_bias = c.boolean("mamba_conv_bias", true);
  s.proj_bias = c.boolean("mamba_proj_bias", false);
  const int64_t shared = c.integer("shared_intermediate_size", 1024);
  Mlp mlp = DenseMlp{shared, true, false};
  const int64_t experts = c.integer("num_local_experts", 8);
  if (experts > 0) {
    MoeMlp e;
    e.experts = experts;
    e.experts_per_token = c.integer("num_experts_per_tok", 2);
    e.expert_intermediate_size = c.integer("intermediate_size", 11008);
    e.shared_experts = shared > 0 ? 1 : 0;
    e.shared_intermediate_size = shared;
    mlp = e;
  }
  for (const std::string& t : types) {
    if (t == "mamba") {
      m.layers.push_back(make_layer("mamba", s, mlp, 2));
    } else if (t == "attention") {
      m.layers.push_back(make_layer("attention", a, mlp, 2));
    } else {
      throw c.fail("field 'layer_types' has unknown layer type '" + t + "' (expected mamba or attention)");
    }
  }
  return m;
}

}  // namespace

void register_ssm(std::vector<Family>& out) {
  out.push_back({"mamba", [](const Config& c) { return mamba(c, false); }});
  out.push_back({"falcon_mamba", [](const Config& c) { return mamba(c, true); }});
  out.push_back({"mamba2", mamba2});
  out.push_back({"jamba", jamba});
  out.push_back({"zamba2", zamba2});
  out.push_back({"nemotron_h", nemotron_h});
  out.push_back({"falcon_h1", falcon_h1});
  out.push_back({"granitemoehybrid", granitemoehybrid});
}

}  // namespace kvplan::hf
