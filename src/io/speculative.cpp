#include "io/speculative.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace kvplan {

SpeculativeConfig parse_speculative_config(const std::string& text) {
  const std::string flag = "--speculative-config";
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception&) {
    throw Error(flag + ": not a JSON object, got '" + text + "' (e.g. '{\"method\": \"eagle3\", \"num_speculative_tokens\": 3}')");
  }
  if (!j.is_object()) throw Error(flag + ": expected a JSON object");
  // The keys kvplan reads, as a deploy file's speculative_config: any other is refused.
  const std::vector<std::string> keys = {"method", "model", "num_speculative_tokens"};
  for (const auto& [key, value] : j.items())
    if (std::find(keys.begin(), keys.end(), key) == keys.end())
      throw Error(flag + ": unknown key '" + key + "' (kvplan reads method, model and num_speculative_tokens)" +
                  did_you_mean(key, keys));
  SpeculativeConfig c;
  auto text_of = [&](const char* key) -> std::string {
    if (!j.contains(key)) return "";
    if (!j[key].is_string()) throw Error(flag + ": '" + key + "' must be a string");
    return j[key].get<std::string>();
  };
  c.method = text_of("method");
  c.model = text_of("model");
  if (c.method.empty() && !c.model.empty()) c.method = "draft_model";
  if (c.method.empty()) throw Error(flag + ": needs \"method\" (draft_model, eagle, eagle3, mtp or ngram)");
  if (!j.contains("num_speculative_tokens") || !j["num_speculative_tokens"].is_number_integer() ||
      j["num_speculative_tokens"].get<int64_t>() < 1)
    throw Error(flag + ": needs \"num_speculative_tokens\", a whole number of at least 1");
  c.num_speculative_tokens = j["num_speculative_tokens"].get<int64_t>();
  return c;
}

}  // namespace kvplan
