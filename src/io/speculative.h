// vLLM's --speculative-config (a JSON object) and its deploy-file twin, read into the three keys
// kvplan models: method, model (the draft's config) and num_speculative_tokens.
#pragma once

#include <cstdint>
#include <string>

namespace kvplan {

struct SpeculativeConfig {
  std::string method;  // draft_model, eagle, eagle3, mtp, ngram ("" with a model: draft_model)
  std::string model;   // the draft's bundled id, kvplan YAML, config.json or model folder
  int64_t num_speculative_tokens = 0;
};

// Parses the JSON text of --speculative-config; throws kvplan::Error naming the flag for bad JSON,
// a missing method (without a model), or num_speculative_tokens below 1. Other keys of vLLM's
// config are accepted and do not change the numbers.
SpeculativeConfig parse_speculative_config(const std::string& json_text);

}  // namespace kvplan
