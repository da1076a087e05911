#include "io/hf_config.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <map>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/hf/families.h"

namespace kvplan {

namespace {

using json = nlohmann::json;
using hf::Config;

const std::vector<hf::Family>& families() {
  static const std::vector<hf::Family> kFamilies = [] {
    std::vector<hf::Family> out;
    hf::register_dense(out);
    hf::register_mla(out);
    hf::register_ssm(out);
    hf::register_qwen(out);
    hf::register_multimodal(out);
    hf::register_moe(out);
    hf::register_more_dense(out);
    return out;
  }();
  return kFamilies;
}

// Python's json module writes Infinity and NaN (e.g. Mamba-2's time_step_limit), which are not
// JSON. Outside strings they become marker strings of the same length (hf::kInfinityMarker and
// the others), keeping byte offsets (and so error positions) exact: kvplan reads none of those
// fields, and a typed read of one names the original token (Config::wrong_type).
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
      text.replace(i, 9, hf::kMinusInfinityMarker);
      i += 8;
    } else if (text.compare(i, 8, "Infinity") == 0) {
      text.replace(i, 8, hf::kInfinityMarker);
      i += 7;
    } else if (text.compare(i, 3, "NaN") == 0) {
      text.replace(i, 3, hf::kNanMarker);
      i += 2;
    }
  }
  return text;
}

// Every key of the config's objects, in order, with its position: a small scan over strings and
// brackets (the text has already parsed as JSON). `path` names the key as hf::Config's prefixes do
// ("text_config.num_attention_heads"); keys of objects inside arrays get paths no Config asks for.
struct JsonKey {
  std::string key, path;
  int line = 0, col = 0;
  int first_line = 0, first_col = 0;  // an earlier occurrence in the same object (0: none)
};
std::vector<JsonKey> scan_json_keys(const std::string& text) {
  struct Frame {
    bool object = false;
    std::string prefix;
    std::map<std::string, std::pair<int, int>> keys;
  };
  std::vector<Frame> stack;
  std::vector<JsonKey> out;
  int line = 1, col = 1;
  std::string last_string, value_key;  // value_key: the key whose value comes next
  std::pair<int, int> last_at{0, 0};
  bool have_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char ch = text[i];
    if (ch == '"') {
      const std::pair<int, int> at{line, col};
      std::string s;
      for (++i, ++col; i < text.size() && text[i] != '"'; ++i, ++col) {
        if (text[i] == '\\' && i + 1 < text.size()) {
          s += text[i];
          ++i;
          ++col;
        }
        s += text[i];
      }
      last_string = s;
      last_at = at;
      have_string = true;
      ++col;
      continue;
    }
    if (ch == ':' && have_string && !stack.empty() && stack.back().object) {
      Frame& f = stack.back();
      JsonKey k{last_string, f.prefix + last_string, last_at.first, last_at.second};
      auto [it, inserted] = f.keys.emplace(last_string, last_at);
      if (!inserted) std::tie(k.first_line, k.first_col) = it->second;
      out.push_back(k);
      value_key = last_string;
    }
    if (ch != ' ' && ch != '\t' && ch != '\r' && ch != '\n') have_string = false;
    if (ch == '{' || ch == '[') {
      // An object under a key is "key."; anything inside an array is "...[]." (no Config's prefix).
      std::string prefix;
      if (!stack.empty()) {
        const Frame& up = stack.back();
        const std::string name = up.prefix + (up.object ? value_key : "");
        prefix = name + (ch == '{' && up.object ? "." : "[].");
      }
      stack.push_back({ch == '{', prefix, {}});
    }
    if ((ch == '}' || ch == ']') && !stack.empty()) stack.pop_back();
    if (ch == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return out;
}

// Keys an object of the config names twice, each with both positions: nlohmann (like Python's
// json, which the engines use) keeps the last value, so this is a warning, not an error.
std::vector<std::string> duplicate_keys(const std::vector<JsonKey>& keys, const std::string& source) {
  std::vector<std::string> out;
  for (const JsonKey& k : keys)
    if (k.first_line > 0 && out.size() < 10)
      out.push_back(source + ": key '" + k.key + "' appears twice in one object (line " + std::to_string(k.first_line) +
                    ", column " + std::to_string(k.first_col) + " and line " + std::to_string(k.line) + ", column " +
                    std::to_string(k.col) + "); the last value is used, as the engines' Python json does");
  return out;
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

// A suggestion for an unknown model_type, only from the config's own `architectures` name
// (Qwen3MoeForCausalLM -> qwen3_moe: the class name without its head suffix, compared without
// underscores and case), never by spelling distance: falcon_h1 is not falcon.
std::string related_model_type(const Config& top, const std::vector<std::string>& supported) {
  auto squash = [](std::string s) {
    std::string out;
    for (char ch : s)
      if (ch != '_' && ch != '-') out += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return out;
  };
  for (const std::string& arch : top.strings("architectures")) {
    std::string base = arch;
    for (const char* suffix : {"ForCausalLM", "ForConditionalGeneration", "LMHeadModel", "Model"})
      if (base.size() > std::string(suffix).size() && base.compare(base.size() - std::string(suffix).size(), std::string::npos, suffix) == 0) {
        base.resize(base.size() - std::string(suffix).size());
        break;
      }
    for (const std::string& type : supported)
      if (squash(type) == squash(base))
        return "; its architectures name " + arch + ", which kvplan reads as model_type '" + type + "'";
  }
  return "";
}

}  // namespace

std::vector<std::string> supported_hf_model_types() {
  std::vector<std::string> out;
  for (const hf::Family& f : families()) out.push_back(f.model_type);
  return out;
}

Model import_hf_config(const std::string& json_text, const std::string& source,
                       const std::optional<HfQuantFile>& quant_file) {
  try {
    json root = parse_json(json_text, source);
    if (!root.is_object()) throw Error("a config.json must be a JSON object", SourcePos{source, 0, 0});
    // vLLM also takes compressed-tensors' older key, compression_config (config/model.py).
    const bool has_quant = root.contains("quantization_config") && !root["quantization_config"].is_null();
    std::string quant_source, quant_prefix;
    if (!has_quant && root.contains("compression_config") && !root["compression_config"].is_null()) {
      root["quantization_config"] = root["compression_config"];
      quant_source = source;
      quant_prefix = "compression_config.";
    } else if (!has_quant && quant_file) {
      const json q = parse_json(quant_file->text, quant_file->source);
      if (!q.is_object() || !q.contains("quantization") || !q["quantization"].is_object())
        throw Error("hf_quant_config.json has no \"quantization\" object", SourcePos{quant_file->source, 0, 0});
      root["quantization_config"] = q["quantization"];
      quant_source = quant_file->source;
      quant_prefix = "quantization.";
    }
    // Where each key stands, for messages about its value (the last of a repeated key, whose value
    // nlohmann keeps).
    const std::vector<JsonKey> keys = scan_json_keys(json_text);
    auto positions = std::make_shared<hf::KeyPositions>();
    for (const JsonKey& k : keys) (*positions)[k.path] = SourcePos{source, k.line, k.col};
    Config top(root, source, "", positions);
    if (!quant_source.empty()) top.from_elsewhere("quantization_config", quant_source, quant_prefix);
    const bool speculator = top.has("speculators_model_type");
    if (!top.has("model_type") && !speculator)
      throw Error("missing field 'model_type': not a transformers config.json?", SourcePos{source, 0, 0});
    std::string wrapper_warning;
    const auto import_family = [&]() -> Model {
      if (speculator) return hf::speculator(top);
      const std::string model_type = top.string("model_type", "");
      const auto& all = families();
      auto find = [&](const std::string& type) {
        return std::find_if(all.begin(), all.end(), [&](const hf::Family& f) { return type == f.model_type; });
      };
      auto it = find(model_type);
      if (it == all.end() && top.has("text_config")) {
        // An unknown multimodal wrapper around a known text model: import the text model, say so.
        const std::string text_type = top.object("text_config").string("model_type", "");
        if (find(text_type) != all.end()) {
          it = find(text_type);
          wrapper_warning = "model_type '" + model_type + "' is a wrapper kvplan does not know: imported its text_config (" +
                            text_type + "); weights outside the text model (vision/audio towers) are not counted";
        }
      }
      if (it == all.end())
        throw Error("unsupported model_type '" + model_type + "'" + related_model_type(top, supported_hf_model_types()) +
                        "; docs/hf-import.md lists the supported families, or describe the model in kvplan's YAML format "
                        "(docs/model-format.md)",
                    SourcePos{source, 0, 0});
      return it->import(wrapper_warning.empty() ? top : top.object("text_config"));
    };
    Model m = import_family();
    // The vision_config fields an engine reads for a multimodal model's headroom (SGLang's
    // adjust_mem_fraction_for_vlm), each only where the config states it.
    if (!m.towers.empty() && top.has_object("vision_config")) {
      const Config v = top.object("vision_config");
      Model::VisionConfig vc;
      for (auto [key, field] : {std::pair{"num_hidden_layers", &vc.num_hidden_layers}, std::pair{"hidden_size", &vc.hidden_size},
                                std::pair{"intermediate_size", &vc.intermediate_size}})
        if (v.has(key)) {
          *field = v.integer(key);
          if (**field <= 0) throw v.fail(std::string("field 'vision_config.") + key + "' must be positive");
        }
      if (v.has("spatial_merge_size")) {
        const int64_t merge = v.integer("spatial_merge_size");
        if (merge <= 0 || merge > 64) throw v.fail("field 'vision_config.spatial_merge_size' must be in 1..64");
        vc.patches_per_token = merge * merge;
        m.warnings.push_back(
            "vision_config: the largest image's tokens (preprocessor_config.json) and the MLP's form are not in "
            "config.json: vLLM's profiled vision-encoder pass is not counted (give vision_config max_image_tokens "
            "and gated_mlp in a model YAML: docs/model-format.md)");
      }
      m.vision_config = vc;
    }
    // A wrapper's quantization_config sits beside its text_config (Kimi-K2.5-NVFP4).
    if (!wrapper_warning.empty() && top.has("quantization_config")) hf::read_dtypes(m, top, top.object("text_config"));
    hf::read_module_formats(m, top);
    // The RoPE fields sit in text_config in multimodal configs (Gemma 3, Llama 4), at the top elsewhere.
    const bool text_rope = top.has_object("text_config") && (top.object("text_config").has_object("rope_scaling") ||
                                                             top.object("text_config").has_object("rope_parameters"));
    hf::read_rope_tables(m, text_rope ? top.object("text_config") : top);
    if (!wrapper_warning.empty()) m.warnings.insert(m.warnings.begin(), wrapper_warning);
    const std::vector<std::string> duplicates = duplicate_keys(keys, source);
    m.warnings.insert(m.warnings.begin(), duplicates.begin(), duplicates.end());
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
