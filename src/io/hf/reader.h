// Reading a transformers config.json for the importer (hf_config.cpp): typed field reads with
// the defaults transformers applies, and the pieces every family builds its layers from. Each
// file under src/io/hf/ imports a group of families and registers their model_types (families.h).
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/model.h"

namespace kvplan::hf {

using json = nlohmann::json;

// Python's Infinity, -Infinity and NaN in a config.json are read as these strings (of the
// tokens' lengths, so positions stay exact); messages name the original token.
inline constexpr const char* kInfinityMarker = "\"Infini\"";
inline constexpr const char* kMinusInfinityMarker = "\"-Infini\"";
inline constexpr const char* kNanMarker = "\"N\"";

// Typed reads from one JSON object of a config.json ("" = top level, "text_config." = nested).
// A null value counts as absent, as transformers treats None as "use the default".
// Where each key of a config.json stands, by its path ("text_config.num_attention_heads").
using KeyPositions = std::map<std::string, SourcePos>;

class Config {
 public:
  Config(const json& obj, std::string source, std::string prefix, std::shared_ptr<const KeyPositions> positions = {})
      : obj_(obj), source_(std::move(source)), prefix_(std::move(prefix)), positions_(std::move(positions)) {}

  bool has(const std::string& key) const { return obj_.contains(key) && !obj_.at(key).is_null(); }
  bool present(const std::string& key) const { return obj_.contains(key); }  // even if null
  bool has_object(const std::string& key) const { return has(key) && obj_.at(key).is_object(); }

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
  double number(const std::string& key, double fallback) const {
    if (!has(key)) return fallback;
    if (!obj_.at(key).is_number()) throw wrong_type(key, "a number");
    return obj_.at(key).get<double>();
  }

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

  // The object's keys (sorted, as nlohmann::json stores them).
  std::vector<std::string> keys() const {
    std::vector<std::string> out;
    for (auto it = obj_.begin(); it != obj_.end(); ++it) out.push_back(it.key());
    return out;
  }

  Config object(const std::string& key) const {
    const json& v = obj_.at(key);
    if (!v.is_object()) throw wrong_type(key, "an object");
    if (auto it = elsewhere_.find(key); it != elsewhere_.end()) return Config(v, it->second.first, it->second.second);
    return Config(v, source_, prefix_ + key + ".", positions_);
  }
  // The object under `key` came from another file (hf_quant_config.json's "quantization" standing
  // in for quantization_config): messages about its fields name that file and spelling.
  void from_elsewhere(const std::string& key, std::string source, std::string prefix) {
    elsewhere_[key] = {std::move(source), std::move(prefix)};
  }

  // The head size under `key`, else width / heads as the family's code derives it.
  int64_t head_dim(const std::string& key, int64_t width, int64_t heads) const {
    return has(key) ? integer(key) : derived_head_dim(width, heads, "'" + prefix_ + key + "' is not given");
  }
  // width / heads, refused where it would round down (the projections' shapes would not match the
  // checkpoint's); `why` says why the config gives no head size.
  int64_t derived_head_dim(int64_t width, int64_t heads, const std::string& why) const {
    if (heads <= 0) return 0;
    if (width % heads != 0)
      throw fail(std::to_string(width) + " (the hidden width) is not a multiple of " + std::to_string(heads) +
                 " heads, and " + why);
    return width / heads;
  }

  // An error in this file; a message about one field ("field 'name' ...", the name as given or under
  // this object's prefix) stands at that field's line and column.
  Error fail(const std::string& message) const {
    const std::string lead = "field '";
    if (positions_ && message.rfind(lead, 0) == 0) {
      const size_t end = message.find('\'', lead.size());
      const std::string name = message.substr(lead.size(), end == std::string::npos ? 0 : end - lead.size());
      for (const std::string& path : {prefix_ + name, name})
        if (const auto it = positions_->find(path); it != positions_->end()) return Error(message, it->second);
    }
    return Error(message, SourcePos{source_, 0, 0});
  }
  const std::string& prefix() const { return prefix_; }  // how messages name this object's fields
  const json& raw(const std::string& key) const { return obj_.at(key); }  // for shapes the getters do not read
  Error wrong_type(const std::string& key, const std::string& expected) const {
    std::string got = obj_.at(key).dump();
    if (got == kInfinityMarker) got = "Infinity";
    if (got == kMinusInfinityMarker) got = "-Infinity";
    if (got == kNanMarker) got = "NaN";
    if (got.size() > 40) got = got.substr(0, 37) + "...";
    return fail("field '" + prefix_ + key + "' must be " + expected + " (got " + got + ")");
  }

 private:
  int64_t to_integer(const std::string& key) const {
    const json& v = obj_.at(key);
    if (v.is_number_unsigned()) {
      const uint64_t u = v.get<uint64_t>();
      if (u > static_cast<uint64_t>(INT64_MAX)) throw wrong_type(key, "an integer below 2^63");
      return static_cast<int64_t>(u);
    }
    if (v.is_number_integer()) return v.get<int64_t>();
    // Python writes some integer fields as floats (2.0); accept those that are whole numbers in
    // range (checked before the conversion: a double past 2^63 has no int64 value).
    if (v.is_number_float()) {
      const double d = v.get<double>();
      if (!(d >= -9.2233720368547758e18 && d < 9.2233720368547758e18)) throw wrong_type(key, "an integer below 2^63");
      if (d == std::trunc(d)) return static_cast<int64_t>(d);
    }
    throw wrong_type(key, "an integer");
  }

  const json& obj_;
  std::string source_;
  std::string prefix_;
  std::shared_ptr<const KeyPositions> positions_;  // null: no positions (another file, an empty object)
  std::map<std::string, std::pair<std::string, std::string>> elsewhere_;
};

// A compressed-tensors config group's weight format (weights: num_bits and type int/float; 4-bit
// float in groups of 16 is NVFP4's nvfp4-pack-quantized); nullopt without `weights`.
std::optional<DType> group_weight_format(const Config& group);
// GPTQ/AWQ/compressed-tensors integer weights of `bits` (4 or 8; `key` names the field in errors).
DType integer_bits(const Config& cfg, int64_t bits, const std::string& key);
// Whether a quantization_config is ModelOpt's MIXED_PRECISION (quant_algo, in any case).
bool modelopt_mixed(const Config& q);
// A ModelOpt quant_algo (the field `key` of c) as a weight format; nullopt where the module stays
// 16-bit (UNQUANTIZED, NONE, empty); an error for one kvplan does not model.
std::optional<DType> modelopt_format(const Config& c, const std::string& key);
// The weights' published format: quantization_config (fp8) else dtype / torch_dtype.
DType weight_dtype(const Config& top, const Config& c);
// The checkpoint's formats: weights (weight_dtype, expert_dtype), the torch_dtype activations
// run in when the weights are stored otherwise, a declared KV quantization and state dtype.
void read_dtypes(Model& m, const Config& top, const Config& c);
// Each layer's linear modules that a quantized checkpoint keeps in 16 bits (quantization_config
// ignore, exclude_modules, modules_to_not_convert; compressed-tensors targets) or stores in a
// format of their own (compressed-tensors groups, ModelOpt MIXED_PRECISION quantized_layers), onto
// Layer::unquantized and Layer::formats, and a quantized lm_head onto Model::lm_head_dtype; a
// warning for entries that name no weight kvplan counts. After the layers are built
// (quantized_modules.cpp).
void read_module_formats(Model& m, const Config& top);
// The rows of each attention layer's RoPE table where rope_scaling (or rope_parameters) enlarges
// it, as vLLM builds them (vllm/model_executor/layers/rotary_embedding/: linear and dynamic
// scaling: max_position_embeddings x factor; YaRN: original_max_position_embeddings x factor;
// llama3, longrope, mrope and none: max_position_embeddings). Gemma 3 scales its global layers
// only; its sliding layers keep an unscaled local table.
void read_rope_tables(Model& m, const Config& c);
// gpt-oss ships its routed experts in MXFP4 (quant_method "mxfp4").
std::optional<DType> expert_dtype(const Config& top);
// The fields every family shares: vocab, hidden, context, tied embeddings, dtypes.
Model start_model(const Config& top, const Config& c, const std::string& family, bool tie_default,
                  int64_t context_default = 0);
// Grouped-query attention as the Llama family reads it: head_dim defaults to hidden/heads,
// num_key_value_heads to num_attention_heads (configuration_llama.py).
Attention gqa(const Config& c, int64_t hidden, int64_t head_dim_default = 0);
// num_hidden_layers (or a legacy spelling), bounded as the YAML format bounds `repeat`.
int64_t layer_count(const Config& c, const std::string& key = "num_hidden_layers");
// A per-layer list (layer_types, no_rope_layers, ...) must list num_hidden_layers entries.
void check_list_length(const Config& c, const std::string& key, size_t listed, int64_t layers);
Layer make_layer(std::string block, std::optional<Mixer> mixer, std::optional<Mlp> mlp, int64_t norms);
// Which layers use the sliding window: `layer_types` when the config lists them, else the
// family's rule. Entries are "full_attention" or "sliding_attention"; anything else is an error.
std::vector<bool> sliding_layers(const Config& c, int64_t layers, const std::function<bool(int64_t)>& rule);
// One decoder layer per entry of `sliding`: the same attention and MLP, the window on sliding ones.
void add_decoders(Model& m, const Attention& a, const Mlp& mlp, int64_t norms, const std::vector<bool>& sliding,
                  int64_t window);
std::vector<bool> none_sliding(int64_t layers);

}  // namespace kvplan::hf
