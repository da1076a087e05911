#include "io/hf_config.h"

#include <algorithm>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <map>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace kvplan {

namespace {

using json = nlohmann::json;

// Typed reads from one JSON object of a config.json ("" = top level, "text_config." = nested).
// A null value counts as absent, as transformers treats None as "use the default".
class Config {
 public:
  Config(const json& obj, std::string source, std::string prefix)
      : obj_(obj), source_(std::move(source)), prefix_(std::move(prefix)) {}

  bool has(const std::string& key) const { return obj_.contains(key) && !obj_.at(key).is_null(); }
  bool present(const std::string& key) const { return obj_.contains(key); }  // even if null

  // The first of several spellings that is present (legacy names such as Falcon's n_layer);
  // the first one if none is, so that a "missing field" error names the current spelling.
  std::string pick(std::initializer_list<const char*> keys) const {
    for (const char* k : keys)
      if (has(k)) return k;
    return *keys.begin();
  }

  int64_t integer(const std::string& key) const {
    if (!has(key)) throw fail("missing field '" + prefix_ + key + "'");
    return to_integer(key);
  }
  int64_t integer(const std::string& key, int64_t fallback) const { return has(key) ? to_integer(key) : fallback; }

  bool boolean(const std::string& key, bool fallback) const {
    if (!has(key)) return fallback;
    const json& v = obj_.at(key);
    if (!v.is_boolean()) throw wrong_type(key, "true or false");
    return v.get<bool>();
  }

  std::string string(const std::string& key, const std::string& fallback) const {
    if (!has(key)) return fallback;
    const json& v = obj_.at(key);
    if (!v.is_string()) throw wrong_type(key, "a string");
    return v.get<std::string>();
  }

  // Integer or the string "auto" (Mamba's time_step_rank): `automatic` for "auto" or absent.
  int64_t integer_or_auto(const std::string& key, int64_t automatic) const {
    if (has(key) && obj_.at(key).is_string()) {
      if (obj_.at(key).get<std::string>() != "auto") throw wrong_type(key, "an integer or \"auto\"");
      return automatic;
    }
    return integer(key, automatic);
  }

  std::vector<std::string> strings(const std::string& key) const {
    std::vector<std::string> out;
    if (!has(key)) return out;
    const json& v = obj_.at(key);
    if (!v.is_array()) throw wrong_type(key, "a list of strings");
    for (const json& e : v) {
      if (!e.is_string()) throw wrong_type(key, "a list of strings");
      out.push_back(e.get<std::string>());
    }
    return out;
  }

  std::vector<int64_t> integers(const std::string& key) const {
    std::vector<int64_t> out;
    if (!has(key)) return out;
    const json& v = obj_.at(key);
    if (!v.is_array()) throw wrong_type(key, "a list of integers");
    for (const json& e : v) {
      if (!e.is_number_integer()) throw wrong_type(key, "a list of integers");
      out.push_back(e.get<int64_t>());
    }
    return out;
  }

  Config object(const std::string& key) const {
    const json& v = obj_.at(key);
    if (!v.is_object()) throw wrong_type(key, "an object");
    return Config(v, source_, prefix_ + key + ".");
  }

  Error fail(const std::string& message) const { return Error(message, SourcePos{source_, 0, 0}); }
  Error wrong_type(const std::string& key, const std::string& expected) const {
    std::string got = obj_.at(key).dump();
    if (got.size() > 40) got = got.substr(0, 37) + "...";
    return fail("field '" + prefix_ + key + "' must be " + expected + " (got " + got + ")");
  }

 private:
  int64_t to_integer(const std::string& key) const {
    const json& v = obj_.at(key);
    if (v.is_number_integer()) return v.get<int64_t>();
    // Python writes some integer fields as floats (2.0); accept those that are whole numbers.
    if (v.is_number_float()) {
      const double d = v.get<double>();
      if (d == static_cast<double>(static_cast<int64_t>(d))) return static_cast<int64_t>(d);
    }
    throw wrong_type(key, "an integer");
  }

  const json& obj_;
  std::string source_;
  std::string prefix_;
};

DType weight_dtype(const Config& top, const Config& c) {
  // quantization_config with quant_method "fp8" (DeepSeek-V3) stores the weights in fp8 whatever
  // torch_dtype says; mxfp4 (gpt-oss) covers only the experts (see expert_dtype).
  if (top.has("quantization_config")) {
    const Config q = top.object("quantization_config");
    if (q.string("quant_method", "") == "fp8")
      return q.string("fmt", "e4m3") == "e5m2" ? DType::fp8_e5m2 : DType::fp8_e4m3;
  }
  // `dtype` (transformers >= 4.56) wins over the legacy `torch_dtype` (configuration_utils.py).
  for (const Config* cfg : {&top, &c})
    for (const char* key : {"dtype", "torch_dtype"})
      if (cfg->has(key)) {
        const std::string text = cfg->string(key, "");
        try {
          return parse_dtype(text);
        } catch (const Error& e) {
          throw cfg->fail(std::string("field '") + key + "': " + e.what());
        }
      }
  return DType::bf16;
}

// gpt-oss ships its routed experts in MXFP4 (quant_method "mxfp4"; modules_to_not_convert keeps
// attention, router, embeddings and lm_head in torch_dtype).
std::optional<DType> expert_dtype(const Config& top) {
  if (top.has("quantization_config") && top.object("quantization_config").string("quant_method", "") == "mxfp4")
    return DType::mxfp4;
  return std::nullopt;
}

Model start_model(const Config& top, const Config& c, const std::string& family, bool tie_default,
                  int64_t context_default = 0) {
  Model m;
  m.family = family;
  m.vocab_size = c.integer("vocab_size");
  m.hidden_size = c.integer("hidden_size");
  m.max_context = c.integer("max_position_embeddings", context_default);
  m.tie_word_embeddings = c.has("tie_word_embeddings") ? c.boolean("tie_word_embeddings", tie_default)
                                                       : top.boolean("tie_word_embeddings", tie_default);
  m.dtype = weight_dtype(top, c);
  m.expert_dtype = expert_dtype(top);
  return m;
}

// Grouped-query attention as the Llama family reads it: head_dim defaults to hidden/heads,
// num_key_value_heads to num_attention_heads (configuration_llama.py).
Attention gqa(const Config& c, int64_t hidden, int64_t head_dim_default = 0) {
  Attention a;
  a.heads = c.integer("num_attention_heads");
  a.kv_heads = c.integer("num_key_value_heads", a.heads);
  if (head_dim_default == 0 && a.heads > 0) head_dim_default = hidden / a.heads;
  a.head_dim = c.integer("head_dim", head_dim_default);
  a.v_head_dim = a.head_dim;
  a.input_size = hidden;
  return a;
}

// num_hidden_layers (or a legacy spelling), bounded as the YAML format bounds `repeat`.
int64_t layer_count(const Config& c, const std::string& key = "num_hidden_layers") {
  const int64_t n = c.integer(key);
  if (n < 1 || n > 100000)
    throw c.fail("field '" + key + "' must be between 1 and 100000 (got " + std::to_string(n) + ")");
  return n;
}

Layer make_layer(std::string block, std::optional<Mixer> mixer, std::optional<Mlp> mlp, int64_t norms) {
  Layer l;
  l.block = std::move(block);
  l.mixer = std::move(mixer);
  l.mlp = std::move(mlp);
  l.norms = norms;
  return l;
}

// Which layers use the sliding window: `layer_types` when the config lists them, else the
// family's rule. Every entry other than "sliding_attention" is full attention.
std::vector<bool> sliding_layers(const Config& c, int64_t layers, const std::function<bool(int64_t)>& rule) {
  std::vector<bool> out(layers);
  const std::vector<std::string> types = c.strings("layer_types");
  if (!types.empty()) {
    if (static_cast<int64_t>(types.size()) != layers)
      throw c.fail("field 'layer_types' lists " + std::to_string(types.size()) + " layers but num_hidden_layers is " +
                   std::to_string(layers));
    for (int64_t i = 0; i < layers; ++i) out[i] = types[i] == "sliding_attention";
    return out;
  }
  for (int64_t i = 0; i < layers; ++i) out[i] = rule(i);
  return out;
}

// One decoder layer per entry of `sliding`: the same attention and MLP, the window on sliding ones.
void add_decoders(Model& m, const Attention& a, const Mlp& mlp, int64_t norms, const std::vector<bool>& sliding,
                  int64_t window) {
  const bool mixed = window > 0 && std::count(sliding.begin(), sliding.end(), true) != 0 &&
                     std::count(sliding.begin(), sliding.end(), false) != 0;
  for (bool s : sliding) {
    Attention la = a;
    la.sliding_window = s ? window : 0;
    m.layers.push_back(make_layer(mixed ? (s ? "sliding" : "full") : "decoder", la, mlp, norms));
  }
}

std::vector<bool> none_sliding(int64_t layers) { return std::vector<bool>(layers, false); }

// ---- families ------------------------------------------------------------------------------

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

// configuration_gemma3.py (Gemma3TextConfig): shapes under text_config in multimodal configs,
// which list only what differs from the defaults below; sliding if (i+1) % sliding_window_pattern.
Model gemma3(const Config& top) {
  const Config c = top.has("text_config") ? top.object("text_config") : top;
  Model m;
  m.family = "gemma3";
  m.vocab_size = c.integer("vocab_size", 262208);
  m.hidden_size = c.integer("hidden_size", 2304);
  m.max_context = c.integer("max_position_embeddings", 131072);
  m.tie_word_embeddings =
      c.has("tie_word_embeddings") ? c.boolean("tie_word_embeddings", true) : top.boolean("tie_word_embeddings", true);
  m.dtype = weight_dtype(top, c);
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
  a.head_dim = a.v_head_dim = a.heads > 0 ? m.hidden_size / a.heads : 0;
  a.input_size = m.hidden_size;
  a.qkv_bias = a.o_bias = bias;
  const int64_t ln_in_parallel = c.integer("num_ln_in_parallel_attn", new_arch ? 2 : 1);
  const int64_t norms = (!parallel || ln_in_parallel == 2) ? 2 : 1;
  const DenseMlp mlp{c.integer("ffn_hidden_size", 4 * m.hidden_size), false, bias};
  add_decoders(m, a, mlp, norms, none_sliding(layer_count(c, c.pick({"num_hidden_layers", "n_layer"}))), 0);
  return m;
}

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
  const Attention a = gqa(c, m.hidden_size);
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
    if (static_cast<int64_t>(types.size()) != layers)
      throw c.fail("field 'layers_block_type' lists " + std::to_string(types.size()) +
                   " layers but num_hidden_layers is " + std::to_string(layers));
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
  a.head_dim = a.v_head_dim = c.integer("attention_head_dim", a.heads > 0 ? a.input_size / a.heads : 0);
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

// ---- dispatch ------------------------------------------------------------------------------

struct Family {
  const char* model_type;
  std::function<Model(const Config&)> import;
};

const std::vector<Family>& families() {
  static const std::vector<Family> kFamilies = {
      {"llama", llama},
      {"mistral", mistral},
      {"mixtral", mixtral},
      {"qwen2", [](const Config& c) { return qwen(c, false); }},
      {"qwen3", [](const Config& c) { return qwen(c, true); }},
      {"gemma2", gemma2},
      {"gemma3", gemma3},
      {"gemma3_text", gemma3},
      {"gpt_oss", gpt_oss},
      {"falcon", [](const Config& c) { return falcon(c, "falcon"); }},
      {"RefinedWeb", [](const Config& c) { return falcon(c, "RefinedWeb"); }},
      {"RefinedWebModel", [](const Config& c) { return falcon(c, "RefinedWebModel"); }},
      {"deepseek_v2", [](const Config& c) { return deepseek(c, false); }},
      {"deepseek_v3", [](const Config& c) { return deepseek(c, true); }},
      {"mamba", [](const Config& c) { return mamba(c, false); }},
      {"falcon_mamba", [](const Config& c) { return mamba(c, true); }},
      {"mamba2", mamba2},
      {"jamba", jamba},
      {"zamba2", zamba2},
      {"nemotron_h", nemotron_h},
  };
  return kFamilies;
}

// Python's json module writes Infinity and NaN (e.g. Mamba-2's time_step_limit), which are not
// JSON. kvplan reads none of those fields, so they become null / 0 of the same length outside
// strings, keeping byte offsets (and so error positions) exact.
std::string replace_non_finite(std::string text) {
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char ch = text[i];
    if (in_string) {
      if (ch == '\\')
        ++i;
      else if (ch == '"')
        in_string = false;
      continue;
    }
    if (ch == '"') {
      in_string = true;
    } else if (text.compare(i, 9, "-Infinity") == 0) {
      text.replace(i, 9, "null     ");
      i += 8;
    } else if (text.compare(i, 8, "Infinity") == 0) {
      text.replace(i, 8, "null    ");
      i += 7;
    } else if (text.compare(i, 3, "NaN") == 0) {
      text.replace(i, 3, "0  ");
      i += 2;
    }
  }
  return text;
}

// nlohmann reports the byte count read; turn the offending byte into a 1-based line and column.
SourcePos position_of(const std::string& text, size_t byte, const std::string& source) {
  const size_t at = std::min(byte > 0 ? byte - 1 : 0, text.size());
  SourcePos pos{source, 1, 1};
  for (size_t i = 0; i < at; ++i) {
    if (text[i] == '\n') {
      ++pos.line;
      pos.col = 1;
    } else {
      ++pos.col;
    }
  }
  return pos;
}

json parse_json(const std::string& text, const std::string& source) {
  try {
    return json::parse(replace_non_finite(text));
  } catch (const json::parse_error& e) {
    // "[json.exception.parse_error.101] parse error at line 1, column 5: syntax error ...; last read: ..."
    std::string what = e.what();
    const size_t start = what.find(": ", what.find("parse error"));
    if (start != std::string::npos) what = what.substr(start + 2);
    const size_t last_read = what.find("; last read");
    if (last_read != std::string::npos) what = what.substr(0, last_read);
    throw Error("invalid JSON: " + what, position_of(text, e.byte, source));
  }
}

std::string id_from_source(const std::string& source) {
  const std::filesystem::path p(source);
  std::string id = p.stem().string();
  // A downloaded snapshot is <model>/config.json: the folder names the model.
  if (id == "config" && p.has_parent_path() && !p.parent_path().filename().empty())
    id = p.parent_path().filename().string();
  return id.empty() ? "hf-model" : id;
}

}  // namespace

std::vector<std::string> supported_hf_model_types() {
  std::vector<std::string> out;
  for (const Family& f : families()) out.push_back(f.model_type);
  return out;
}

Model import_hf_config(const std::string& json_text, const std::string& source) {
  try {
    const json root = parse_json(json_text, source);
    if (!root.is_object()) throw Error("a config.json must be a JSON object", SourcePos{source, 0, 0});
    const Config top(root, source, "");
    if (!top.has("model_type"))
      throw Error("missing field 'model_type': not a transformers config.json?", SourcePos{source, 0, 0});
    const std::string model_type = top.string("model_type", "");
    const std::vector<std::string> supported = supported_hf_model_types();
    const auto& all = families();
    const auto it = std::find_if(all.begin(), all.end(), [&](const Family& f) { return model_type == f.model_type; });
    if (it == all.end()) {
      std::string list;
      for (const auto& t : supported) list += (list.empty() ? "" : ", ") + t;
      throw Error(
          "unsupported model_type '" + model_type + "' (supported: " + list + ")" + did_you_mean(model_type, supported),
          SourcePos{source, 0, 0});
    }
    Model m = it->import(top);
    m.id = id_from_source(source);
    m.name = m.id;
    m.source = source;
    try {
      check_model(m);
    } catch (const Error& e) {
      throw Error(e.what(), SourcePos{source, 0, 0});
    }
    return m;
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    // Anything nlohmann throws past the typed reads (a bad access, a number out of range).
    throw Error(std::string("cannot read config: ") + e.what(), SourcePos{source, 0, 0});
  }
}

}  // namespace kvplan
