#include "io/hf_overrides.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <vector>

#include "core/error.h"

namespace kvplan {

namespace {

int64_t whole(const nlohmann::json& v, const std::string& what, const std::string& flag) {
  if (!v.is_number_integer() || v.get<int64_t>() < 1) throw Error(flag + ": '" + what + "' must be a whole number >= 1");
  return v.get<int64_t>();
}

RopeScaling rope_of(const nlohmann::json& v, const std::string& key, const std::string& flag) {
  if (!v.is_object()) throw Error(flag + ": '" + key + "' must be an object ({\"rope_type\": \"yarn\", \"factor\": 4.0, ...})");
  RopeScaling r;
  const char* type_key = v.contains("rope_type") ? "rope_type" : "type";
  if (!v.contains(type_key) || !v[type_key].is_string()) throw Error(flag + ": '" + key + "' needs a rope_type");
  r.type = v[type_key].get<std::string>();
  // The types vLLM's get_rope builds (vllm/model_executor/layers/rotary_embedding/__init__.py; "su"
  // and "mrope" are spellings configs carry for longrope and default): a typo is refused here, where
  // a config.json's unknown type only leaves the tables unscaled.
  const std::vector<std::string> known = {"default", "linear", "dynamic", "ntk", "yarn", "deepseek_yarn",
                                          "llama3", "longrope", "su", "mrope"};
  if (std::find(known.begin(), known.end(), r.type) == known.end())
    throw Error(flag + ": '" + key + "." + type_key + "' '" + r.type + "' is not a RoPE type vLLM builds" +
                did_you_mean(r.type, known));
  if (v.contains("factor")) {
    if (!v["factor"].is_number() || !(v["factor"].get<double>() > 0))
      throw Error(flag + ": '" + key + ".factor' must be a number > 0");
    r.factor = v["factor"].get<double>();
  }
  if (v.contains("original_max_position_embeddings"))
    r.original_max_position_embeddings =
        whole(v["original_max_position_embeddings"], key + ".original_max_position_embeddings", flag);
  return r;
}

// The keys of one object: a multimodal checkpoint's text model takes its overrides under
// text_config, read as the top level's (kvplan's model is the text model).
void read_keys(const nlohmann::json& j, const std::string& prefix, const std::string& flag, HfOverrides& out) {
  for (const auto& [key, value] : j.items()) {
    const std::string name = prefix + key;
    if (key == "max_position_embeddings") out.config.max_position_embeddings = whole(value, name, flag);
    else if (key == "rope_scaling" || key == "rope_parameters") out.config.rope_scaling = rope_of(value, name, flag);
    else if (key == "text_config" && prefix.empty() && value.is_object()) read_keys(value, "text_config.", flag, out);
    else out.unmodelled_keys.push_back(name);
  }
}

}  // namespace

HfOverrides parse_hf_overrides(const std::string& json_text, const std::string& flag) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(json_text);
  } catch (const nlohmann::json::exception&) {
    j = nullptr;
  }
  if (!j.is_object())
    throw Error(flag + ": not a JSON object, got '" + json_text +
                "' (e.g. '{\"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4.0, "
                "\"original_max_position_embeddings\": 32768}}')");
  HfOverrides out;
  read_keys(j, "", flag, out);
  return out;
}

}  // namespace kvplan
