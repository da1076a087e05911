#include "io/hf/reader.h"

#include <algorithm>

namespace kvplan::hf {

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
                  int64_t context_default) {
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
Attention gqa(const Config& c, int64_t hidden, int64_t head_dim_default) {
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
int64_t layer_count(const Config& c, const std::string& key) {
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

}  // namespace kvplan::hf
