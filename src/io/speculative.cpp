#include "io/speculative.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/speculative.h"

namespace kvplan {

const std::vector<std::string>& unmodelled_speculative_keys() {
  static const std::vector<std::string> keys = {
      // vLLM mid-2026
      "enforce_eager", "draft_tensor_parallel_size", "tensor_parallel_size", "quantization", "moe_backend",
      "attention_backend", "kv_cache_dtype", "max_model_len", "revision", "code_revision",
      "disable_padded_drafter_batch", "use_local_argmax_reduction", "use_heterogeneous_vocab", "prompt_lookup_max",
      "prompt_lookup_min", "parallel_drafting", "num_speculative_tokens_per_batch_size",
      "suffix_decoding_max_tree_depth", "suffix_decoding_max_cached_requests", "suffix_decoding_max_spec_factor",
      "suffix_decoding_min_token_prob", "draft_load_config", "rejection_sample_method", "synthetic_acceptance_rates",
      "synthetic_acceptance_length", "enable_adaptive_verification", "draft_sample_method", "dspark_draft_topk",
      // earlier releases (0.6-0.11)
      "disable_by_batch_size", "speculative_token_tree", "disable_logprobs", "disable_log_stats",
      "disable_mqa_scorer", "acceptance_method", "posterior_threshold", "posterior_alpha", "ngram_prompt_lookup_max",
      "ngram_prompt_lookup_min"};
  return keys;
}

bool unmodelled_speculative_key(const std::string& key) {
  const std::vector<std::string>& keys = unmodelled_speculative_keys();
  return std::find(keys.begin(), keys.end(), key) != keys.end();
}

void check_speculative_count(int64_t v, const std::string& what) {
  if (v < 1 || v > kMaxSpeculativeTokens)
    throw Error("'" + what + "' must be from 1 to " + std::to_string(kMaxSpeculativeTokens) + ", got " + std::to_string(v));
}

SpeculativeConfig parse_speculative_config(const std::string& text) {
  const std::string flag = "--speculative-config";
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception&) {
    throw Error(flag + ": not a JSON object, got '" + text + "' (e.g. '{\"method\": \"eagle3\", \"num_speculative_tokens\": 3}')");
  }
  if (!j.is_object()) throw Error(flag + ": expected a JSON object");
  SpeculativeConfig c;
  // The keys kvplan reads, vLLM's others with a note, anything else refused (as in a deploy file).
  std::vector<std::string> keys = {"method", "model", "num_speculative_tokens"};
  for (const auto& [key, value] : j.items()) {
    if (std::find(keys.begin(), keys.end(), key) != keys.end()) continue;
    if (unmodelled_speculative_key(key)) {
      c.unmodelled_keys.push_back(key);
      continue;
    }
    keys.insert(keys.end(), unmodelled_speculative_keys().begin(), unmodelled_speculative_keys().end());
    throw Error(flag + ": unknown key '" + key + "' (kvplan reads method, model and num_speculative_tokens)" +
                did_you_mean(key, keys));
  }
  auto text_of = [&](const char* key) -> std::string {
    if (!j.contains(key)) return "";
    if (!j[key].is_string()) throw Error(flag + ": '" + key + "' must be a string");
    return j[key].get<std::string>();
  };
  c.method = text_of("method");
  if (!c.method.empty()) {
    try {
      c.method = canonical_speculative_method(c.method);
    } catch (const Error& e) {
      throw Error(flag + ": " + e.what());
    }
  }
  c.model = text_of("model");
  if (c.method.empty() && !c.model.empty()) c.method = "draft_model";
  if (c.method.empty()) throw Error(flag + ": needs \"method\" (draft_model, eagle, eagle3, mtp or ngram)");
  if (!j.contains("num_speculative_tokens") || !j["num_speculative_tokens"].is_number_integer())
    throw Error(flag + ": needs \"num_speculative_tokens\", a whole number from 1 to " +
                std::to_string(kMaxSpeculativeTokens));
  const nlohmann::json& k = j["num_speculative_tokens"];
  // JSON's non-negative numbers read as unsigned (past 2^63 - 1 too), negative ones as signed.
  if (!k.is_number_unsigned() || k.get<uint64_t>() < 1 || k.get<uint64_t>() > uint64_t{kMaxSpeculativeTokens})
    throw Error(flag + ": 'num_speculative_tokens' must be from 1 to " + std::to_string(kMaxSpeculativeTokens) +
                ", got " + k.dump());
  c.num_speculative_tokens = k.get<int64_t>();
  return c;
}

SpeculativeConfig sglang_speculative_config(const std::string& algorithm, const std::string& draft_path, int64_t steps,
                                            int64_t topk, int64_t draft_tokens) {
  const std::pair<int64_t, const char*> counts[] = {
      {steps, "speculative_num_steps"}, {topk, "speculative_eagle_topk"}, {draft_tokens, "speculative_num_draft_tokens"}};
  for (const auto& [v, what] : counts)
    if (v != 0) check_speculative_count(v, what);
  SpeculativeConfig x;
  x.model = draft_path;
  x.num_speculative_tokens = steps;
  x.eagle_topk = topk;
  x.num_draft_tokens = draft_tokens;
  if (algorithm == "EAGLE") x.method = draft_path.empty() ? "mtp" : "eagle";
  else if (algorithm == "NEXTN") x.method = "mtp";
  else if (algorithm == "EAGLE3") x.method = "eagle3";
  else if (algorithm == "STANDALONE") x.method = "draft_model";
  else if (algorithm == "NGRAM") x.method = "ngram";
  else
    throw Error("speculative_algorithm '" + algorithm + "' is not SGLang's (EAGLE, EAGLE3, NEXTN, STANDALONE, NGRAM)" +
                did_you_mean(algorithm, {"EAGLE", "EAGLE3", "NEXTN", "STANDALONE", "NGRAM"}));
  if (x.method == "draft_model" && draft_path.empty())
    throw Error("speculative_algorithm STANDALONE needs speculative_draft_model_path (the draft model)");
  return x;
}

}  // namespace kvplan
