#include "io/model_yaml.h"

#include <algorithm>
#include <map>
#include <optional>
#include <utility>
#include <variant>

#include "core/params.h"
#include "io/yaml_fields.h"

namespace kvplan {

namespace {

const std::vector<std::string> kMlpKinds = {"dense", "moe"};

std::string kind_field(YamlFields& f, const std::vector<std::string>& kinds, const std::string& what) {
  const std::string kind = f.string("kind");
  for (const auto& k : kinds)
    if (k == kind) return kind;
  std::string list;
  for (const auto& k : kinds) list += (list.empty() ? "" : ", ") + k;
  throw Error("unknown " + what + " kind '" + kind + "' (expected " + list + ")" + did_you_mean(kind, kinds),
              f.pos("kind"));
}

// The reader a layer module's read() takes: YamlFields' typed getters, and nested mappings.
class MixerReader {
 public:
  explicit MixerReader(YamlFields& f) : f_(f) {}
  int64_t integer(const std::string& key) { return f_.integer(key); }
  int64_t integer(const std::string& key, int64_t fallback) { return f_.integer(key, fallback); }
  bool boolean(const std::string& key, bool fallback) { return f_.boolean(key, fallback); }
  bool has(const std::string& key) const { return f_.has(key); }
  SourcePos pos(const std::string& key) const { return f_.pos(key); }  // for a module's own checks
  template <class T>
  T sub(const std::string& key, int64_t hidden) {
    YamlFields g(f_.node(key), f_.source(), key);
    MixerReader r(g);
    T out = T::read(r, hidden);
    g.finish();
    return out;
  }

 private:
  YamlFields& f_;
};

// The `kind:` names of the Mixer alternatives, in variant order.
template <size_t... I>
std::vector<std::string> mixer_kind_names(std::index_sequence<I...>) {
  return {std::variant_alternative_t<I, Mixer>::kKind...};
}
const std::vector<std::string>& mixer_kinds() {
  static const std::vector<std::string> kinds = mixer_kind_names(std::make_index_sequence<std::variant_size_v<Mixer>>{});
  return kinds;
}

// Reads the alternative whose kKind is `kind`.
template <size_t I = 0>
Mixer read_mixer(const std::string& kind, MixerReader& r, int64_t hidden) {
  using T = std::variant_alternative_t<I, Mixer>;
  if (kind == T::kKind) return T::read(r, hidden);
  if constexpr (I + 1 < std::variant_size_v<Mixer>) return read_mixer<I + 1>(kind, r, hidden);
  throw Error("unknown mixer kind '" + kind + "'");  // unreachable: kind_field checked the name
}

Mixer parse_mixer(const YAML::Node& node, const std::string& source, int64_t hidden) {
  YamlFields f(node, source, "mixer");
  const std::string kind = kind_field(f, mixer_kinds(), "mixer");
  MixerReader r(f);
  Mixer out = read_mixer(kind, r, hidden);
  f.finish();
  return out;
}

Mlp parse_mlp(const YAML::Node& node, const std::string& source) {
  YamlFields f(node, source, "mlp");
  const std::string kind = kind_field(f, kMlpKinds, "mlp");
  Mlp out;
  if (kind == "dense") {
    DenseMlp d;
    d.intermediate_size = f.integer("intermediate_size");
    d.gated = f.boolean("gated", true);
    d.bias = f.boolean("bias", false);
    out = d;
  } else {
    MoeMlp e;
    e.experts = f.integer("experts");
    e.experts_per_token = f.integer("experts_per_token");
    e.expert_intermediate_size = f.integer("expert_intermediate_size");
    e.shared_experts = f.integer("shared_experts", 0);
    e.shared_intermediate_size = f.integer("shared_intermediate_size", 0);
    e.gated = f.boolean("gated", true);
    e.bias = f.boolean("bias", false);
    e.router_bias = f.boolean("router_bias", false);
    e.shared_expert_gate = f.boolean("shared_expert_gate", false);
    e.router_scales = f.boolean("router_scales", false);
    out = e;
  }
  f.finish();
  return out;
}

Layer parse_block(const std::string& name, const YAML::Node& node, const std::string& source, int64_t hidden) {
  YamlFields f(node, source, "block '" + name + "'");
  Layer layer;
  layer.block = name;
  if (f.has("mixer")) layer.mixer = parse_mixer(f.node("mixer"), source, hidden);
  if (f.has("mlp")) layer.mlp = parse_mlp(f.node("mlp"), source);
  if (!layer.mixer && !layer.mlp) throw Error("block '" + name + "' needs a mixer, an mlp or both", f.pos());
  layer.norms = f.integer("norms", layer.mixer && layer.mlp ? 2 : 1);
  if (layer.norms < 0) throw Error("'norms' must not be negative", f.pos("norms"));
  layer.shared_weights = f.string("shared_weights", "");
  const bool has_unquantized = f.has("unquantized");
  layer.unquantized = f.strings("unquantized");
  // formats: {tensor: dtype}: linear tensors the checkpoint stores in a format of their own.
  const bool has_formats = f.has("formats");
  if (has_formats) {
    const YAML::Node formats = f.node("formats");
    if (!formats.IsMap()) throw Error("'formats' must map linear tensor names to dtypes", f.pos("formats"));
    for (const auto& kv : formats) {
      const std::string tensor = kv.first.Scalar();
      try {
        layer.formats.push_back({tensor, parse_dtype(kv.second.Scalar())});
      } catch (const Error& e) {
        throw Error(e.what(), pos_of(kv.second, source));
      }
      if (std::find(layer.unquantized.begin(), layer.unquantized.end(), tensor) != layer.unquantized.end())
        throw Error("block '" + name + "': '" + tensor + "' is in both unquantized and formats", pos_of(kv.first, source));
    }
  }
  f.finish();
  try {
    check_layer(layer, "block '" + name + "': ");
  } catch (const Error& e) {
    throw Error(e.what(), f.pos());
  }
  // Each entry names one of the block's linear tensors (params.cpp's names, as `kvplan show` prints them).
  if (has_unquantized || has_formats) {
    Model shape;
    shape.hidden_size = hidden;
    std::vector<std::string> linear;
    for (const Tensor& t : layer_tensors(shape, layer))
      if (t.quantizable) linear.push_back(t.name);
    auto check_name = [&](const std::string& t, const char* key) {
      if (std::find(linear.begin(), linear.end(), t) == linear.end())
        throw Error("block '" + name + "': " + key + " names '" + t + "', not a linear tensor of the block" +
                        did_you_mean(t, linear),
                    f.pos(key));
    };
    for (const std::string& t : layer.unquantized) check_name(t, "unquantized");
    for (const TensorFormat& t : layer.formats) check_name(t.tensor, "formats");
  }
  return layer;
}

}  // namespace

Model parse_model_yaml(const std::string& text, const std::string& source, const std::string& default_id) {
  const YAML::Node root = parse_yaml(text, source);
  YamlFields f(root, source, "model file");
  Model m;
  m.id = f.string("id", default_id);
  m.name = f.string("name", m.id);
  m.family = f.string("family", "");
  m.source = f.string("source", "");
  auto optional_dtype = [&](const char* key) -> std::optional<DType> {
    if (!f.has(key)) {
      f.expect(key);
      return std::nullopt;
    }
    try {
      return parse_dtype(f.string(key));
    } catch (const Error& e) {
      throw Error(e.what(), f.pos(key));
    }
  };
  m.dtype = optional_dtype("dtype").value_or(DType::bf16);
  m.expert_dtype = optional_dtype("expert_dtype");
  m.activation_dtype = optional_dtype("activation_dtype");
  m.kv_dtype = optional_dtype("kv_dtype");
  m.state_dtype = optional_dtype("state_dtype");
  m.vocab_size = f.integer("vocab_size");
  m.hidden_size = f.integer("hidden_size");
  m.max_context = f.integer("max_context", 0);
  if (m.max_context < 0) throw Error("'max_context' must not be negative (0: not known)", f.pos("max_context"));
  m.tie_word_embeddings = f.boolean("tie_word_embeddings", false);
  m.lm_head_dtype = optional_dtype("lm_head_dtype");
  m.lm_head_bias = f.boolean("lm_head_bias", false);
  const std::string norm = f.string("norm", "rmsnorm");
  if (norm == "rmsnorm") m.norm = Norm::rmsnorm;
  else if (norm == "layernorm") m.norm = Norm::layernorm;
  else throw Error("unknown norm '" + norm + "' (expected rmsnorm or layernorm)" + did_you_mean(norm, {"rmsnorm", "layernorm"}), f.pos("norm"));
  m.final_norm = f.boolean("final_norm", true);
  for (auto [key, field] : {std::pair{"mtp_layers", &m.mtp_layers}, std::pair{"head_fc_inputs", &m.head_fc_inputs},
                            std::pair{"head_vocab_size", &m.head_vocab_size}}) {
    *field = f.integer(key, 0);
    if (*field < 0) throw Error(std::string("'") + key + "' must not be negative", f.pos(key));
  }
  // Informational, checked by tests/bundled_data_test.cpp: the published (rounded) totals as
  // printed on the card ("70.6B"), the checkpoint's exact count, and why a model misses them.
  for (const char* key : {"published_params", "published_active_params", "exact_params", "exact_params_source",
                          "params_note", "published_params_scope"})
    f.expect(key);
  if (f.has("towers")) {
    const YAML::Node towers = f.node("towers");
    if (!towers.IsSequence()) throw Error("'towers' must be a list of {name, params}", pos_of(towers, source));
    for (const auto& t : towers) {
      YamlFields g(t, source, "tower");
      Tensor tower = vector_weight(g.string("name"), g.integer("params"));
      if (tower.rows <= 0) throw Error("a tower's 'params' must be positive", g.pos("params"));
      g.finish();
      m.towers.push_back(tower);
    }
  }

  if (f.has("vision_config")) {
    YamlFields v(f.node("vision_config"), source, "vision_config");
    Model::VisionConfig vc;
    for (auto [key, field] : {std::pair{"num_hidden_layers", &vc.num_hidden_layers}, std::pair{"hidden_size", &vc.hidden_size},
                              std::pair{"intermediate_size", &vc.intermediate_size},
                              std::pair{"max_image_tokens", &vc.max_image_tokens},
                              std::pair{"patches_per_token", &vc.patches_per_token}})
      if (v.has(key)) {
        *field = v.integer(key);
        if (**field <= 0) throw Error(std::string("vision_config '") + key + "' must be positive", v.pos(key));
      }
    if (v.has("gated_mlp")) vc.gated_mlp = v.boolean("gated_mlp", false);
    v.finish();
    m.vision_config = vc;
  }

  const auto check_positive = [&](int64_t v, const char* key) {
    if (v <= 0) throw Error(std::string("'") + key + "' must be positive", f.pos(key));
  };
  check_positive(m.vocab_size, "vocab_size");
  check_positive(m.hidden_size, "hidden_size");

  std::map<std::string, Layer> blocks;
  std::vector<std::string> block_names;
  const YAML::Node blocks_node = f.node("blocks");
  if (!blocks_node.IsMap() || blocks_node.size() == 0)
    throw Error("'blocks' must be a mapping of block names to blocks", pos_of(blocks_node, source));
  for (const auto& kv : blocks_node) {
    const std::string name = kv.first.Scalar();
    blocks[name] = parse_block(name, kv.second, source, m.hidden_size);
    block_names.push_back(name);
  }

  const YAML::Node layers = f.node("layers");
  if (!layers.IsSequence() || layers.size() == 0)
    throw Error("'layers' must be a non-empty list of {repeat: N, pattern: [blocks]}", pos_of(layers, source));
  for (const auto& entry : layers) {
    YamlFields g(entry, source, "layers entry");
    const int64_t repeat = g.integer("repeat", 1);
    if (repeat < 1 || repeat > 100000) throw Error("'repeat' must be between 1 and 100000", g.pos("repeat"));
    const YAML::Node pattern = g.node("pattern");
    if (!pattern.IsSequence() || pattern.size() == 0)
      throw Error("'pattern' must be a non-empty list of block names", pos_of(pattern, source));
    std::vector<const Layer*> seq;
    for (const auto& b : pattern) {
      const std::string name = b.IsScalar() ? b.Scalar() : "";
      auto it = blocks.find(name);
      if (it == blocks.end())
        throw Error("unknown block '" + name + "'" + did_you_mean(name, block_names), pos_of(b, source));
      seq.push_back(&it->second);
    }
    g.finish();
    // Bounded before allocating: no real model has more than a few hundred layers.
    constexpr int64_t kMaxLayers = 100000;
    if (repeat * static_cast<int64_t>(seq.size()) > kMaxLayers - static_cast<int64_t>(m.layers.size()))
      throw Error("the layers expand to more than " + std::to_string(kMaxLayers) + " layers", g.pos("repeat"));
    for (int64_t r = 0; r < repeat; ++r)
      for (const Layer* l : seq) m.layers.push_back(*l);
  }
  f.finish();
  try {
    check_model(m);
  } catch (const Error& e) {
    throw Error(e.what(), e.pos().file.empty() ? SourcePos{source, 0, 0} : e.pos());
  }
  return m;
}

}  // namespace kvplan
