#include "io/hf/reader.h"

#include <cctype>
#include <cmath>
#include <algorithm>

namespace kvplan::hf {

namespace {

// `dtype` (transformers >= 4.56) wins over the legacy `torch_dtype` (configuration_utils.py).
std::optional<DType> torch_dtype(const Config& top, const Config& c) {
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
  return std::nullopt;
}

// Each compressed-tensors config group's weight format, in key order.
std::vector<DType> group_formats(const Config& q) {
  std::vector<DType> out;
  const Config groups = q.object("config_groups");
  for (const std::string& name : groups.keys())
    if (const auto f = group_weight_format(groups.object(name))) out.push_back(*f);
  return out;
}

// The format of most ModelOpt MIXED_PRECISION quantized_layers entries (the first of equals); each
// module's own is read with the layers (quantized_modules.cpp).
std::optional<DType> mixed_precision_dtype(const Config& q) {
  if (!q.has_object("quantized_layers") || q.object("quantized_layers").keys().empty())
    throw q.fail("field 'quantization_config.quantized_layers': MIXED_PRECISION needs a non-empty mapping of modules "
                 "to their quant_algo");
  const Config layers = q.object("quantized_layers");
  std::vector<std::pair<DType, int64_t>> counts;
  for (const std::string& module : layers.keys()) {
    const std::optional<DType> f = modelopt_format(layers.object(module), "quant_algo");
    if (!f) continue;
    auto it = std::find_if(counts.begin(), counts.end(), [&](const auto& c) { return c.first == *f; });
    if (it == counts.end()) counts.push_back({*f, 1});
    else ++it->second;
  }
  if (counts.empty()) return std::nullopt;
  return std::max_element(counts.begin(), counts.end(), [](const auto& a, const auto& b) { return a.second < b.second; })
      ->first;
}

// The weights' format from quantization_config (transformers' quantizers; vLLM's
// quantization/*.py read the same keys): fp8 (DeepSeek, block scales), fbgemm_fp8, awq/gptq
// (bits: int4 with a 16-bit scale per group), compressed-tensors (config_groups.*.weights:
// num_bits and type int/float; 4-bit float is NVFP4's nvfp4-pack-quantized), bitsandbytes
// (load_in_4bit / load_in_8bit), modelopt (quant_algo FP8, NVFP4). mxfp4 (gpt-oss) covers only the
// experts (see expert_dtype).
std::optional<DType> quantized_dtype(const Config& top) {
  if (!top.has("quantization_config")) return std::nullopt;
  const Config q = top.object("quantization_config");
  // ModelOpt's hf_quant_config style names only quant_algo (Qwen3-32B-FP8-Static-PerTensor).
  const std::string method = q.string("quant_method", q.has("quant_algo") ? "modelopt" : "");
  if (method == "fp8" || method == "fbgemm_fp8")
    return q.string("fmt", "e4m3") == "e5m2" ? DType::fp8_e5m2 : DType::fp8_e4m3;
  if (method == "awq" || method == "gptq" || method == "awq_marlin" || method == "gptq_marlin")
    return integer_bits(q, q.integer(q.pick({"bits", "w_bit"}), 4), "quantization_config.bits");
  if (method == "bitsandbytes") {
    if (q.boolean("load_in_4bit", false)) return DType::int4;
    if (q.boolean("load_in_8bit", false)) return DType::int8;
    throw q.fail("field 'quantization_config': bitsandbytes with neither load_in_4bit nor load_in_8bit");
  }
  if (method == "modelopt") {
    if (!q.has("quant_algo")) return std::nullopt;
    if (modelopt_mixed(q)) return mixed_precision_dtype(q);
    return modelopt_format(q, "quant_algo");
  }
  if (method == "compressed-tensors" && q.has("config_groups")) {
    const std::vector<DType> formats = group_formats(q);
    if (!formats.empty()) return formats.front();
  }
  if (method == "mxfp4" || method == "compressed-tensors") return std::nullopt;  // gpt-oss experts: expert_dtype
  throw q.fail("field 'quantization_config.quant_method': '" + method +
               "' is not modelled (fp8, fbgemm_fp8, awq, gptq, bitsandbytes, modelopt, compressed-tensors, mxfp4)");
}

// A KV-cache quantization the checkpoint declares: compressed-tensors' kv_cache_scheme
// ({num_bits: 8, type: float}), ModelOpt's kv_cache_quant_algo "FP8" or its newer
// kv_cache_scheme "FP8".
std::optional<DType> declared_kv_dtype(const Config& top) {
  if (!top.has("quantization_config")) return std::nullopt;
  const Config q = top.object("quantization_config");
  if (q.has("kv_cache_scheme") && !q.has_object("kv_cache_scheme")) {
    const std::string algo = q.string("kv_cache_scheme", "");
    if (algo == "FP8") return DType::fp8_e4m3;
    throw q.fail("field 'quantization_config.kv_cache_scheme': '" + algo + "' is not modelled (FP8)");
  }
  if (q.has("kv_cache_scheme")) {
    const Config k = q.object("kv_cache_scheme");
    const int64_t bits = k.integer("num_bits", 8);
    const bool is_float = k.string("type", "float") == "float";
    if (bits == 8) return is_float ? DType::fp8_e4m3 : DType::int8;
    throw k.fail("field 'num_bits': a " + std::to_string(bits) + "-bit KV cache is not modelled (8)");
  }
  if (q.string("kv_cache_quant_algo", "") == "FP8") return DType::fp8_e4m3;
  return std::nullopt;
}

}  // namespace

DType integer_bits(const Config& cfg, int64_t bits, const std::string& key) {
  if (bits == 4) return DType::int4;
  if (bits == 8) return DType::int8;
  throw cfg.fail("field '" + key + "': " + std::to_string(bits) + "-bit weights are not modelled (4 or 8)");
}

std::optional<DType> group_weight_format(const Config& g) {
  if (!g.has("weights")) return std::nullopt;
  const Config w = g.object("weights");
  const int64_t bits = w.integer("num_bits", 8);
  if (w.string("type", "int") == "float") {
    if (bits == 8) return DType::fp8_e4m3;
    if (bits == 4 && w.integer("group_size", 16) == 16) return DType::nvfp4;
    throw w.fail("field 'num_bits': " + std::to_string(bits) + "-bit float weights are not modelled (8, or 4 in groups of 16)");
  }
  return integer_bits(w, bits, "num_bits");
}

namespace {
std::string upper(std::string s) {
  for (char& ch : s) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return s;
}
}  // namespace

bool modelopt_mixed(const Config& q) { return upper(q.string("quant_algo", "")) == "MIXED_PRECISION"; }

std::optional<DType> modelopt_format(const Config& c, const std::string& key) {
  const std::string algo = upper(c.string(key, ""));
  // vLLM modelopt.py: FP8 with per-tensor, per-channel or 128x128 block scales; NVFP4 weights with
  // 4- or 16-bit activations. kvplan stores every fp8 variant with per-channel scales.
  if (algo == "FP8" || algo == "FP8_PER_CHANNEL_PER_TOKEN" || algo == "FP8_PB_WO") return DType::fp8_e4m3;
  if (algo == "NVFP4" || algo == "W4A16_NVFP4") return DType::nvfp4;
  if (algo.empty() || algo == "NONE" || algo == "UNQUANTIZED") return std::nullopt;  // left in 16 bits
  throw c.fail("field '" + c.prefix() + key + "': '" + c.string(key, "") +
               "' is not modelled (FP8, FP8_PER_CHANNEL_PER_TOKEN, FP8_PB_WO, NVFP4, W4A16_NVFP4, MIXED_PRECISION)");
}

DType weight_dtype(const Config& top, const Config& c) {
  if (const auto q = quantized_dtype(top)) return *q;
  return torch_dtype(top, c).value_or(DType::bf16);
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
  read_dtypes(m, top, c);
  // The MTP modules stored beside the layers (DeepSeek/GLM: num_nextn_predict_layers; Qwen3-Next,
  // Qwen3.5: mtp_num_hidden_layers).
  for (const char* key : {"num_nextn_predict_layers", "mtp_num_hidden_layers"}) {
    if (!c.has(key)) continue;
    m.mtp_layers = c.integer(key, 0);
    if (m.mtp_layers < 0) throw c.fail(std::string("field '") + key + "' must not be negative");
  }
  return m;
}

void read_rope_tables(Model& m, const Config& c) {
  const char* key = c.has_object("rope_scaling") ? "rope_scaling" : c.has_object("rope_parameters") ? "rope_parameters" : nullptr;
  if (!key || m.max_context <= 0) return;
  const Config rope = c.object(key);
  RopeScaling r;
  r.type = rope.has("rope_type") ? rope.string("rope_type", "") : rope.string("type", "");
  r.factor = rope.number("factor", 1.0);
  if (!(r.factor < 1e6)) return;
  if (rope.has("original_max_position_embeddings")) r.original_max_position_embeddings = rope.integer("original_max_position_embeddings");
  int64_t rows = 0;
  try {
    rows = rope_rows(r, m.max_context);
  } catch (const Error&) {
    throw c.fail("field '" + std::string(key) + ".factor' makes a RoPE table past 2^63 positions");
  }
  if (rows > 0) set_rope_rows(m, rows);
}

void read_dtypes(Model& m, const Config& top, const Config& c) {
  m.dtype = weight_dtype(top, c);
  m.expert_dtype = expert_dtype(top);
  const std::optional<DType> act = torch_dtype(top, c);
  if (act && *act != m.dtype && info(*act).bits == 16) m.activation_dtype = act;
  m.kv_dtype = declared_kv_dtype(top);
  // Qwen3.5 declares its recurrent state dtype (mamba_ssm_dtype: float32).
  for (const Config* cfg : {&c, &top})
    if (cfg->has("mamba_ssm_dtype")) {
      try {
        m.state_dtype = parse_dtype(cfg->string("mamba_ssm_dtype", ""));
      } catch (const Error& e) {
        throw cfg->fail(std::string("field 'mamba_ssm_dtype': ") + e.what());
      }
      break;
    }
}

// Grouped-query attention as the Llama family reads it: head_dim defaults to hidden/heads,
// num_key_value_heads to num_attention_heads (configuration_llama.py).
Attention gqa(const Config& c, int64_t hidden, int64_t head_dim_default) {
  Attention a;
  a.heads = c.integer("num_attention_heads");
  a.kv_heads = c.integer("num_key_value_heads", a.heads);
  a.head_dim = head_dim_default ? c.integer("head_dim", head_dim_default) : c.head_dim("head_dim", hidden, a.heads);
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

void check_list_length(const Config& c, const std::string& key, size_t listed, int64_t layers) {
  if (static_cast<int64_t>(listed) != layers)
    throw c.fail("field '" + key + "' lists " + std::to_string(listed) + " layers but num_hidden_layers is " +
                 std::to_string(layers));
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
    check_list_length(c, "layer_types", types.size(), layers);
    for (int64_t i = 0; i < layers; ++i) {
      if (types[i] != "sliding_attention" && types[i] != "full_attention")
        throw c.fail("field 'layer_types' entry " + std::to_string(i) + " is '" + types[i] +
                     "' (expected full_attention or sliding_attention)" +
                     did_you_mean(types[i], {"full_attention", "sliding_attention"}));
      out[i] = types[i] == "sliding_attention";
    }
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
