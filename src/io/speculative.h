// vLLM's --speculative-config (a JSON object) and its deploy-file twin, read into the three keys
// kvplan models: method, model (the draft's config) and num_speculative_tokens.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace kvplan {

struct SpeculativeConfig {
  std::string method;  // draft_model, eagle, eagle3, mtp, ngram ("" with a model: draft_model)
  std::string model;   // the draft's bundled id, kvplan YAML, config.json or model folder
  int64_t num_speculative_tokens = 0;  // SGLang's speculative_num_steps (0 there: the engine's choice)
  int64_t eagle_topk = 0;              // SGLang's speculative_eagle_topk (0: the engine's choice)
  int64_t num_draft_tokens = 0;        // SGLang's speculative_num_draft_tokens (0: the engine's choice)
  std::vector<std::string> unmodelled_keys;  // vLLM's other keys given: a note each
};

// vLLM's SpeculativeConfig keys beyond the three kvplan models (vllm/config/speculative.py, with
// the older releases' keys): accepted with a note, any other key is an error.
const std::vector<std::string>& unmodelled_speculative_keys();
bool unmodelled_speculative_key(const std::string& key);

// The most draft tokens (and SGLang's steps, topk and verified tokens) kvplan takes: far above any
// drafter's useful depth (a step verifies k + 1 tokens of each sequence), and low enough that the
// step's token counts stay exact. Larger counts are refused where they are read.
constexpr int64_t kMaxSpeculativeTokens = 1024;
// Throws kvplan::Error "'<what>' must be from 1 to 1024, got v" unless 1 <= v <= kMaxSpeculativeTokens.
void check_speculative_count(int64_t v, const std::string& what);

// Parses the JSON text of --speculative-config; throws kvplan::Error naming the flag for bad JSON,
// an unknown key or method, a missing method (without a model), or num_speculative_tokens outside 1..kMaxSpeculativeTokens.
// A model's own MTP method (deepseek_mtp, ...) reads as mtp.
SpeculativeConfig parse_speculative_config(const std::string& json_text);

// SGLang's --speculative-algorithm and its arguments as kvplan's method (server_args.py): EAGLE
// with a draft path is eagle, EAGLE without one and NEXTN draft with the model's own MTP modules
// (mtp), EAGLE3 is eagle3, STANDALONE draft_model (its path required), NGRAM ngram. Counts of 0
// are unset (the engine's choice: resolve_speculative_shape). Throws kvplan::Error, naming no flag,
// for another algorithm (with "did you mean"), STANDALONE without a path, or a count above
// kMaxSpeculativeTokens (named by SGLang's argument).
SpeculativeConfig sglang_speculative_config(const std::string& algorithm, const std::string& draft_path, int64_t steps,
                                            int64_t topk, int64_t draft_tokens);

}  // namespace kvplan
