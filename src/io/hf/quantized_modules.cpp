// Which linear modules a quantized checkpoint keeps in 16 bits, onto kvplan's layer tensors.
//
// The lists and how each format matches a module's full name (model.layers.3.self_attn.q_proj):
//   compressed-tensors `ignore`: a name equal to the entry, or, for an entry "re:<regex>", a
//     regex that matches from the start of the name (Python re.match); the same rule picks the
//     modules each config group's `targets` quantize ("Linear" targets every linear module).
//   ModelOpt `ignore` / `exclude_modules`: a shell wildcard over the whole name (fnmatch: `*`
//     any run of characters dots included, `?` one, `[...]` a set), or the name itself.
//   transformers `modules_to_not_convert` (fp8, awq, gptq, bitsandbytes, mxfp4 quantizers): a
//     regex that matches from the start of the name, or an entry the name ends with.
// (compressed-tensors and vLLM's compressed_tensors/utils.py; vLLM modelopt.py is_layer_excluded;
// transformers quantizers/quantizers_utils.py should_convert_module.)
//
// Per-module formats (a tensor stored in a quantized format other than the model's):
//   compressed-tensors config groups of different weight formats: a module takes the format of
//     the first group whose name or regex targets match it, else that of a group targeting the
//     class "Linear"; a module no group targets stays 16-bit.
//   ModelOpt MIXED_PRECISION `quantized_layers` {module: {quant_algo}}: a linear module takes
//     the algorithm of the entry with its own name, routed experts also that of an entry naming
//     their parent module (layers.N.mlp.experts); a module with no entry stays 16-bit, and so
//     does one whose algorithm is UNQUANTIZED / NONE (vLLM modelopt.py,
//     ModelOptMixedPrecisionConfig._resolve_quant_algo, vLLM 0.2x).
//   An untied lm_head is quantized where a MIXED_PRECISION entry names it, or where GPTQ / AWQ
//     configs set `lm_head: true` (vLLM gptq.py, gptq_marlin.py, awq_marlin.py lm_head_quantized).
//
// kvplan does not know a checkpoint's exact module names, so each of a layer's tensors is given
// the names the families spell it with (layer prefixes x containers x leaves below); an entry
// keeps the tensor in 16 bits when it matches any of them. Routed experts are named by expert 0:
// every expert of a layer is kept or none.
#include <algorithm>
#include <cctype>
#include <regex>

#include "core/params.h"
#include "io/hf/reader.h"

namespace kvplan::hf {

namespace {

enum class Rule { compressed_tensors, modelopt, transformers, modelopt_layer };

struct Pattern {
  std::string text;
  Rule rule;
  std::optional<std::regex> regex;  // compressed-tensors "re:" and transformers entries
  std::string literal;              // the same, when its only special character is '.' (most entries)
  bool unreadable = false;          // a Python regex std::regex cannot read (it then matches nothing)
  bool matched = false;
  std::optional<DType> format;      // a target's format (nullopt: the module stays 16-bit)
};

// re.match of a regex whose only special character is '.': the name starts with it, '.' any character.
bool dotted_prefix(const std::string& pattern, const std::string& name) {
  if (name.size() < pattern.size()) return false;
  for (size_t i = 0; i < pattern.size(); ++i)
    if (pattern[i] != '.' && pattern[i] != name[i]) return false;
  return true;
}

bool regex_match_at_start(const Pattern& pat, const std::string& name) {
  if (!pat.literal.empty()) return dotted_prefix(pat.literal, name);
  return pat.regex && std::regex_search(name, *pat.regex, std::regex_constants::match_continuous);
}

// fnmatch: `*` any run (dots included), `?` one character, `[...]` / `[!...]` a set.
bool glob_match(const char* p, const char* s) {
  for (; *p; ++p, ++s) {
    if (*p == '*') {
      while (*p == '*') ++p;
      if (!*p) return true;
      for (; *s; ++s)
        if (glob_match(p, s)) return true;
      return false;
    }
    if (!*s) return false;
    if (*p == '[') {
      const char* q = p + 1;
      const bool negate = *q == '!';
      if (negate) ++q;
      bool in = false;
      const char* start = q;
      while (*q && (*q != ']' || q == start)) {
        if (q[1] == '-' && q[2] && q[2] != ']') {
          in = in || (*s >= q[0] && *s <= q[2]);
          q += 3;
        } else {
          in = in || *s == *q;
          ++q;
        }
      }
      if (!*q) {  // no closing bracket: a literal '['
        if (*s != '[') return false;
        continue;
      }
      if (in == negate) return false;
      p = q;
      continue;
    }
    if (*p != *s) return false;
  }
  return !*s;
}

bool matches(const Pattern& pat, const std::string& name) {
  switch (pat.rule) {
    case Rule::compressed_tensors:
      if (pat.regex || !pat.literal.empty()) return regex_match_at_start(pat, name);
      return pat.text == name;
    case Rule::modelopt:
      return pat.text == name || glob_match(pat.text.c_str(), name.c_str());
    case Rule::modelopt_layer:  // the module's own name (experts also take a parent's: read_module_formats)
      return pat.text == name;
    case Rule::transformers:
      if (name.size() >= pat.text.size() && name.compare(name.size() - pat.text.size(), pat.text.size(), pat.text) == 0)
        return true;
      return regex_match_at_start(pat, name);
  }
  return false;
}

Pattern make_pattern(const std::string& text, Rule rule) {
  Pattern p{text, rule, std::nullopt, "", false, false, std::nullopt};
  const bool is_regex = (rule == Rule::compressed_tensors && text.rfind("re:", 0) == 0) || rule == Rule::transformers;
  const std::string regex = rule == Rule::compressed_tensors ? (is_regex ? text.substr(3) : "") : text;
  if (is_regex && !regex.empty() && regex.find_first_of("^$*+?()[]{}|\\") == std::string::npos) {
    p.literal = regex;
  } else if (is_regex) {
    try {
      p.regex = std::regex(regex, std::regex::ECMAScript);
    } catch (const std::regex_error&) {
      p.unreadable = true;
    }
  }
  return p;
}

// The layer prefixes the families use: text models, multimodal wrappers (transformers 4.x and
// 5.x spellings), Mamba-style backbones.
const char* const kLayerPrefixes[] = {"model.layers.", "model.language_model.layers.", "language_model.model.layers.",
                                      "backbone.layers.", "model.language_model.model.layers."};

// Containers of a mixer's modules, by family: self_attn (most), mixer (Mamba, Nemotron-H),
// mamba (Jamba, Falcon-H1, Granite 4), linear_attn (Qwen3-Next, Qwen3.5).
const char* const kMixerContainers[] = {"self_attn", "mixer", "mamba", "linear_attn", "attention"};
// Dense MLPs: mlp (most), feed_forward (Llama 4, Jamba, Falcon-H1), shared_mlp (Granite 4).
const char* const kMlpContainers[] = {"mlp", "feed_forward", "shared_mlp"};
// Routed experts, named by expert 0 (unfused) or fused per layer; Gemma 4 keeps them beside its
// dense MLP (layers.N.experts), where the others nest them in the MLP block.
const char* const kExpertContainers[] = {"mlp.experts.0",         "mlp.experts",   "block_sparse_moe.experts.0",
                                         "block_sparse_moe.experts", "feed_forward.experts.0", "feed_forward.experts",
                                         "block_sparse_moe",      "moe.experts.0", "moe.experts"};
const char* const kGemma4ExpertContainers[] = {"experts"};
// Shared experts; Gemma 4's dense MLP beside its experts is kvplan's shared expert.
const char* const kSharedContainers[] = {"mlp.shared_experts", "mlp.shared_expert", "feed_forward.shared_expert",
                                         "shared_mlp", "moe.shared_experts"};
const char* const kGemma4SharedContainers[] = {"mlp"};
// Routers and gates (kept in 16 bits by kvplan anyway).
const char* const kRouterNames[] = {"mlp.gate",        "mlp.router",          "block_sparse_moe.gate", "block_sparse_moe.router",
                                    "feed_forward.router", "router",          "router.proj",           "mlp.gate.wg",
                                    "moe.gate",        "mlp.shared_expert_gate"};

// The leaf names one kvplan tensor goes by, part by part: a tensor kvplan counts as one matrix
// but a family stores as several (KDA's q/k/v, Qwen3.5's split GDN projections, fused gate+up)
// is kept in 16 bits when every part is. Each part lists the spellings of the same weights.
std::vector<std::vector<std::string>> leaf_parts(const std::string& tensor) {
  std::string leaf = tensor;
  for (const char* prefix : {"experts.", "shared_experts."})
    if (leaf.rfind(prefix, 0) == 0) leaf = leaf.substr(std::string(prefix).size());
  if (leaf == "gate_proj") return {{"gate_proj", "w1", "gate_up_proj", "input_linear", "c_fc", "fc1"}};
  if (leaf == "up_proj") return {{"up_proj", "w3", "gate_up_proj", "input_linear", "c_fc", "fc1"}};
  if (leaf == "down_proj") return {{"down_proj", "w2", "output_linear", "c_proj", "fc2"}};
  if (leaf == "in_proj_qkvz") return {{"in_proj_qkvz", "in_proj_qkv"}, {"in_proj_qkvz", "in_proj_z"}};
  if (leaf == "in_proj_ba") return {{"in_proj_ba", "in_proj_b"}, {"in_proj_ba", "in_proj_a"}};
  if (leaf == "q_proj" || leaf == "k_proj" || leaf == "v_proj") return {{leaf, "qkv_proj", "query_key_value"}};
  if (leaf == "o_proj") return {{"o_proj", "dense", "out_proj"}};
  if (leaf == "indexer.weights_proj") return {{"indexer.weights_proj", "indexers_proj"}};  // GLM-5's spelling
  std::vector<std::vector<std::string>> parts;
  size_t start = 0;
  while (start <= leaf.size()) {  // "q_proj+k_proj+v_proj", "f_a_proj+g_a_proj"
    const size_t plus = leaf.find('+', start);
    parts.push_back({leaf.substr(start, plus == std::string::npos ? std::string::npos : plus - start)});
    if (plus == std::string::npos) break;
    start = plus + 1;
  }
  return parts;
}

// The containers a tensor of this role sits in, under a layer prefix.
std::vector<std::string> containers(const Tensor& t, bool in_mixer, const std::string& family) {
  std::vector<std::string> out;
  auto add = [&](const auto& list) {
    for (const char* c : list) out.push_back(c);
  };
  const bool gemma4 = family == "gemma4";
  if (in_mixer) add(kMixerContainers);
  else if (t.role == TensorRole::expert) gemma4 ? add(kGemma4ExpertContainers) : add(kExpertContainers);
  else if (t.role == TensorRole::shared_expert) gemma4 ? add(kGemma4SharedContainers) : add(kSharedContainers);
  else add(kMlpContainers);
  return out;
}

// Full names outside the layers that kvplan keeps in 16 bits anyway: embeddings and the head.
const char* const kGlobalNames[] = {"lm_head",          "model.embed_tokens", "model.language_model.embed_tokens",
                                    "language_model.lm_head", "language_model.model.embed_tokens",
                                    "backbone.embeddings", "backbone.embedding", "model.norm", "model.language_model.norm"};
// Words that name what kvplan keeps in 16 bits anyway: vision/audio towers and their projectors,
// norms, embeddings, biases (DeepSeek's e_score_correction_bias).
const char* const kKeptWords[] = {"vision", "visual", "audio", "multi_modal", "mm_projector", "projector",
                                  "image_newline", "patch_embed", "norm", "embed", "bias", "lm_head"};

struct Lists {
  std::vector<Pattern> kept;     // ignore / exclude_modules / modules_to_not_convert
  // compressed-tensors targets other than "Linear", or ModelOpt MIXED_PRECISION quantized_layers,
  // each with its format, in the order they take precedence.
  std::vector<Pattern> targets;
  bool all_linear = true;               // every linear module is quantized (in the model's formats)
  std::optional<DType> linear_format;   // the format of a group targeting "Linear" beside named targets
  std::optional<DType> lm_head;         // a quantized lm_head's format
  // GPTQ (gptq, gptq_marlin): modules_in_block_to_quantize entries (a module is quantized when one
  // is a substring of its name; empty: every module) and the `dynamic` rules ("-:regex" leaves a
  // module unquantized, "+:regex" or "regex" sets its bits), matched from the start of the name.
  bool gptq = false;
  std::vector<std::string> gptq_blocks;
  std::vector<Pattern> gptq_dynamic;  // format set: positive with bits; unreadable ones match nothing
  std::vector<bool> gptq_negative;
};

Lists read_lists(const Config& q, DType weights) {
  Lists out;
  const std::string method = q.string("quant_method", q.has("quant_algo") ? "modelopt" : "");
  const Rule rule = method == "compressed-tensors" ? Rule::compressed_tensors
                    : method == "modelopt"         ? Rule::modelopt
                                                   : Rule::transformers;
  for (const char* key : {"ignore", "exclude_modules", "modules_to_not_convert", "ignored_layers"})
    for (const std::string& entry : q.strings(key)) out.kept.push_back(make_pattern(entry, rule));
  if (rule == Rule::compressed_tensors && q.has("config_groups")) {
    const Config groups = q.object("config_groups");
    for (const std::string& name : groups.keys()) {
      const Config g = groups.object(name);
      const std::optional<DType> format = group_weight_format(g);
      for (const std::string& target : g.strings("targets")) {
        // A class name: compressed-tensors compares it with the module's class (Linear).
        if (target.rfind("re:", 0) != 0 && target.find('.') == std::string::npos) {
          std::string lower = target;
          for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
          if (std::string("linear").find(lower) != std::string::npos) {
            if (!out.linear_format) out.linear_format = format;
            continue;
          }
        }
        out.all_linear = false;
        out.targets.push_back(make_pattern(target, Rule::compressed_tensors));
        out.targets.back().format = format;
      }
    }
    // Only "Linear" targets (or none): every linear module is quantized.
    if (out.targets.empty()) out.all_linear = true;
  }
  if (rule == Rule::modelopt && modelopt_mixed(q) && q.has_object("quantized_layers")) {
    out.all_linear = false;
    const Config layers = q.object("quantized_layers");
    for (const std::string& module : layers.keys()) {
      const Config entry = layers.object(module);
      const std::optional<DType> format = modelopt_format(entry, "quant_algo");
      if (module == "lm_head" || (module.size() > 8 && module.compare(module.size() - 8, 8, ".lm_head") == 0)) {
        out.lm_head = format;
        continue;
      }
      out.targets.push_back(make_pattern(module, Rule::modelopt_layer));
      out.targets.back().format = format;
    }
  }
  // GPTQ's per-module rules (vLLM gptq_utils.py: is_layer_gptq_quantized, get_dynamic_override).
  if (method == "gptq" || method == "gptq_marlin") {
    if (q.has("modules_in_block_to_quantize")) {
      const json& blocks = q.raw("modules_in_block_to_quantize");
      auto add = [&](const json& v) {
        if (!v.is_string()) throw q.wrong_type("modules_in_block_to_quantize", "a list of module names (or of lists of them)");
        out.gptq_blocks.push_back(v.get<std::string>());
      };
      if (!blocks.is_array()) throw q.wrong_type("modules_in_block_to_quantize", "a list of module names (or of lists of them)");
      for (const json& e : blocks) {
        if (e.is_array())
          for (const json& n : e) add(n);
        else
          add(e);
      }
    }
    if (q.has_object("dynamic")) {
      const Config dynamic = q.object("dynamic");
      for (const std::string& key : dynamic.keys()) {
        const bool negative = key.rfind("-:", 0) == 0;
        const std::string regex = key.rfind("-:", 0) == 0 || key.rfind("+:", 0) == 0 ? key.substr(2) : key;
        // re.match, as compressed-tensors' "re:" entries are matched.
        Pattern p = make_pattern("re:" + regex, Rule::compressed_tensors);
        p.text = key;
        if (!negative && dynamic.has_object(key) && dynamic.object(key).has("bits"))
          p.format = integer_bits(dynamic.object(key), dynamic.object(key).integer("bits"), "quantization_config.dynamic.bits");
        out.gptq_dynamic.push_back(std::move(p));
        out.gptq_negative.push_back(negative);
      }
    }
    out.gptq = !out.gptq_blocks.empty() || !out.gptq_dynamic.empty();
    if (out.gptq) out.all_linear = false;
  }
  // GPTQ / AWQ: `lm_head: true` quantizes the lm_head like the other linear modules.
  if (rule == Rule::transformers && q.boolean("lm_head", false) &&
      (method == "gptq" || method == "awq" || method == "gptq_marlin" || method == "awq_marlin"))
    out.lm_head = weights;
  return out;
}

// An entry under a multi-token-prediction module kvplan does not count: `mtp.` (Qwen3-Next,
// Qwen3.5) or a layer index past the model's layers (DeepSeek, GLM: model.layers.<L>.).
bool names_mtp(const std::string& text, size_t layers) {
  if (text.rfind("mtp", 0) == 0 || text.find(".mtp.") != std::string::npos) return true;
  const std::string key = "layers.";
  for (size_t at = text.find(key); at != std::string::npos; at = text.find(key, at + 1)) {
    size_t end = at + key.size(), index = 0;
    bool digits = false;
    while (end < text.size() && std::isdigit(static_cast<unsigned char>(text[end])) && index < 1000000) {
      index = index * 10 + static_cast<size_t>(text[end] - '0');
      digits = true;
      ++end;
    }
    if (digits && (end == text.size() || text[end] == '.' || text[end] == '*') && index >= layers) return true;
  }
  return false;
}

bool any_match(const std::vector<Pattern*>& patterns, const std::string& name) {
  bool hit = false;
  for (Pattern* p : patterns)
    if (matches(*p, name)) {
      p->matched = true;
      hit = true;
    }
  return hit;
}

// Whether a pattern can match some name that starts with `start` (a layer prefix and index with
// its dot): false only where it certainly cannot, so filtering by it never changes a match. A
// checkpoint lists up to hundreds of per-layer entries; without the filter every generated name
// of every layer is tried against all of them.
bool may_match_under(const Pattern& pat, const std::string& start) {
  // Characters up to the first one that is not plain text in this rule, and whether that is
  // the whole pattern.
  auto compatible = [&](const std::string& text, bool dot_is_any) {
    const size_t n = std::min(text.size(), start.size());
    for (size_t i = 0; i < n; ++i)
      if (text[i] != start[i] && !(dot_is_any && text[i] == '.')) return false;
    return true;
  };
  switch (pat.rule) {
    case Rule::compressed_tensors:
      if (pat.regex) return true;
      if (!pat.literal.empty()) return compatible(pat.literal, true);
      return pat.text.size() > start.size() && pat.text.compare(0, start.size(), start) == 0;
    case Rule::modelopt_layer:
      return compatible(pat.text, false) && pat.text.size() > start.size();
    case Rule::modelopt: {
      const size_t meta = pat.text.find_first_of("*?[");
      return compatible(pat.text.substr(0, meta), false) &&
             (meta != std::string::npos || pat.text.size() > start.size());
    }
    case Rule::transformers: {
      if (pat.regex || compatible(pat.literal.empty() ? pat.text : pat.literal, true)) return true;
      // The name ends with the entry: an entry that spells "layers.<n>." names layer n only,
      // since a generated name holds "layers." once, in its prefix.
      const std::string key = "layers.";
      const size_t at = pat.text.find(key);
      if (at == std::string::npos) return true;
      size_t end = at + key.size();
      while (end < pat.text.size() && std::isdigit(static_cast<unsigned char>(pat.text[end]))) ++end;
      if (end == at + key.size() || end >= pat.text.size() || pat.text[end] != '.') return true;
      const std::string layer = pat.text.substr(at, end + 1 - at);
      return start.size() >= layer.size() && start.compare(start.size() - layer.size(), layer.size(), layer) == 0;
    }
  }
  return true;
}

std::vector<Pattern*> under(std::vector<Pattern>& patterns, size_t layer) {
  std::vector<Pattern*> out;
  for (Pattern& p : patterns)
    for (const char* prefix : kLayerPrefixes)
      if (may_match_under(p, prefix + std::to_string(layer) + ".")) {
        out.push_back(&p);
        break;
      }
  return out;
}

// GPTQ's format for one part of a layer tensor (nullopt: unquantized): quantized when a
// modules_in_block_to_quantize entry is a substring of one of its names (or the list is empty) and
// no "-:" dynamic rule matches one; a "+:" rule with bits sets the format. kvplan reads `dynamic`
// in key order, not the file's, so where both kinds match one module the "-:" rule wins.
std::optional<DType> gptq_format(Lists& lists, size_t layer, const Tensor& t, bool in_mixer, const std::string& family,
                                 const std::vector<std::string>& part, DType stored) {
  bool in_block = lists.gptq_blocks.empty(), negative = false;
  std::optional<DType> positive;
  for (const char* prefix : kLayerPrefixes)
    for (const std::string& c : containers(t, in_mixer, family))
      for (const std::string& leaf : part) {
        const std::string name = prefix + std::to_string(layer) + "." + c + "." + leaf;
        for (const std::string& entry : lists.gptq_blocks) in_block = in_block || name.find(entry) != std::string::npos;
        for (size_t k = 0; k < lists.gptq_dynamic.size(); ++k) {
          Pattern& p = lists.gptq_dynamic[k];
          if (!matches(p, name)) continue;
          p.matched = true;
          if (lists.gptq_negative[k]) negative = true;
          else if (!positive && p.format) positive = p.format;
        }
      }
  if (!in_block || negative) return std::nullopt;
  return positive ? positive : std::optional<DType>(stored);
}

}  // namespace

void read_module_formats(Model& m, const Config& top) {
  if (!top.has_object("quantization_config")) return;
  const bool quantized = info(m.dtype).bits < 16 || (m.expert_dtype && info(*m.expert_dtype).bits < 16);
  if (!quantized) return;
  Lists lists = read_lists(top.object("quantization_config"), m.dtype);
  if (lists.lm_head && !m.tie_word_embeddings && info(*lists.lm_head).bits < 16) m.lm_head_dtype = lists.lm_head;
  // A target kvplan cannot read: every linear module counts as quantized, as before this list.
  for (const Pattern& t : lists.targets)
    if (t.unreadable) lists.all_linear = true;
  if (lists.kept.empty() && lists.all_linear) return;

  bool split_formats = false;  // one kvplan tensor whose parts the checkpoint stores in different formats
  for (size_t i = 0; i < m.layers.size(); ++i) {
    Layer& layer = m.layers[i];
    const std::vector<Pattern*> kept_here = under(lists.kept, i), targets_here = under(lists.targets, i);
    std::vector<Tensor> mixer_part;
    if (layer.mixer) std::visit([&](const auto& x) { add_tensors(x, m.hidden_size, mixer_part); }, *layer.mixer);
    std::vector<std::string> kept;
    std::vector<TensorFormat> formats;
    for (const Tensor& t : layer_tensors(m, layer)) {
      const bool in_mixer = std::find(mixer_part.begin(), mixer_part.end(), t) != mixer_part.end();
      if (t.role == TensorRole::router) {
        for (const char* prefix : kLayerPrefixes)
          for (const char* r : kRouterNames) any_match(kept_here, prefix + std::to_string(i) + "." + r);
        continue;
      }
      if (!t.quantizable) continue;
      // The format the model gives the tensor, and the one its modules are stored in: a part
      // the ignore list keeps, or that no target names, is 16-bit (nullopt).
      const DType stored = t.role == TensorRole::expert ? m.expert_dtype.value_or(m.dtype) : m.dtype;
      const std::optional<DType> untargeted = lists.all_linear ? std::optional<DType>(stored) : lists.linear_format;
      bool all_parts_kept = true, first_part = true;
      std::optional<DType> format;
      for (const std::vector<std::string>& part : leaf_parts(t.name)) {
        bool part_kept = false, part_targeted = false;
        std::optional<DType> part_format;
        for (const char* prefix : kLayerPrefixes)
          for (const std::string& c : containers(t, in_mixer, m.family))
            for (const std::string& leaf : part) {
              const std::string name = prefix + std::to_string(i) + "." + c + "." + leaf;
              if (any_match(kept_here, name)) part_kept = true;
              if (lists.all_linear) continue;
              for (Pattern* p : targets_here) {
                // Routed experts also take an entry naming their parent module (mlp.experts).
                const bool parent = p->rule == Rule::modelopt_layer && t.role == TensorRole::expert &&
                                    name.size() > p->text.size() && name.compare(0, p->text.size(), p->text) == 0 &&
                                    name[p->text.size()] == '.';
                if (!matches(*p, name) && !parent) continue;
                p->matched = true;
                if (!part_targeted) part_format = p->format;
                part_targeted = true;
              }
            }
        if (!part_targeted) part_format = untargeted;
        if (lists.gptq) part_format = gptq_format(lists, i, t, in_mixer, m.family, part, stored);
        all_parts_kept = all_parts_kept && part_kept;
        if (first_part) format = part_format;
        else if (format != part_format) {
          split_formats = true;
          if (!part_format) format = std::nullopt;  // a 16-bit part keeps the whole tensor 16-bit
        }
        first_part = false;
      }
      if (all_parts_kept) format = std::nullopt;
      if (!format || info(*format).bits >= 16) {
        if (info(stored).bits < 16) kept.push_back(t.name);
      } else if (*format != stored) {
        formats.push_back({t.name, *format});
      }
    }
    layer.unquantized = kept;
    layer.formats = formats;
  }
  if (split_formats)
    m.warnings.push_back("quantization_config stores parts of one tensor kvplan counts (such as fused q/k/v or gate/up "
                         "projections) in different formats; kvplan counts each such tensor in its first part's format, or in 16 bits "
                         "where any part is");

  std::vector<std::string> unmatched, unreadable, unmatched_formats;
  for (const std::vector<Pattern>* list : {&lists.kept, &lists.targets})
    for (const Pattern& p : *list)
      if (p.unreadable) unreadable.push_back(p.text);
  for (Pattern& p : lists.targets) {  // MIXED_PRECISION entries kvplan counts nowhere are reported as the kept ones
    if (p.rule != Rule::modelopt_layer || p.matched) continue;
    if (names_mtp(p.text, m.layers.size())) continue;
    bool known = false;
    for (const char* word : kKeptWords) known = known || p.text.find(word) != std::string::npos;
    // Entries for routed experts other than expert 0 (kvplan names every expert by expert 0).
    for (size_t at = p.text.find(".experts."); at != std::string::npos; at = p.text.find(".experts.", at + 1))
      known = known || (at + 9 < p.text.size() && std::isdigit(static_cast<unsigned char>(p.text[at + 9])));
    if (!known) unmatched_formats.push_back(p.text);
  }
  for (Pattern& p : lists.kept) {
    if (p.matched || p.unreadable) continue;
    if (names_mtp(p.text, m.layers.size())) continue;  // the importer says MTP layers are not counted
    for (const char* g : kGlobalNames)
      if (matches(p, g)) p.matched = true;
    for (const char* word : kKeptWords)
      if (p.text.find(word) != std::string::npos) p.matched = true;
    if (!p.matched) unmatched.push_back(p.text);
  }
  if (!unmatched.empty())
    m.warnings.push_back("quantization_config keeps " + std::to_string(unmatched.size()) +
                         " module pattern(s) in 16 bits that name no weight kvplan counts, such as '" + unmatched.front() +
                         "' (a module spelling kvplan does not know)");
  if (!unmatched_formats.empty())
    m.warnings.push_back("quantization_config's quantized_layers gives " + std::to_string(unmatched_formats.size()) +
                         " module(s) a format that name no weight kvplan counts, such as '" + unmatched_formats.front() +
                         "' (a module spelling kvplan does not know)");
  if (!unreadable.empty())
    m.warnings.push_back("quantization_config has " + std::to_string(unreadable.size()) +
                         " regular expression(s) kvplan cannot read, such as '" + unreadable.front() +
                         "'; the modules they name are counted as the other entries make them");
}

}  // namespace kvplan::hf
