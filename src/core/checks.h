// `kvplan check`: a deployment (engine settings, expected workload, limits) evaluated into a
// list of pass/fail checks. Pure functions: estimates and limits in, results out (docs/check.md).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/estimate.h"

namespace kvplan {

// The inference engine's settings, in vLLM's names and with vLLM's defaults.
struct EngineSettings {
  double gpu_memory_utilization = 0.90;
  std::optional<int64_t> max_model_len;           // default: the model's max_position_embeddings
  std::optional<int64_t> max_num_seqs;            // concurrent sequences the scheduler admits
  std::optional<DType> kv_cache_dtype;            // nullopt = "auto": the model's dtype
  int64_t block_size = 16;                        // tokens per KV block (paged attention)
  int64_t tensor_parallel_size = 1;
  int64_t max_num_batched_tokens = 8192;          // tokens per forward pass (chunked prefill)
};

// The traffic the deployment must carry.
struct DeployWorkload {
  int64_t prompt_tokens = 0;
  int64_t output_tokens = 0;
  std::optional<int64_t> concurrency;  // sequences in flight; default: engine max_num_seqs
};

// What must hold. Unset limits are not checked; `fits` is on unless turned off.
struct Limits {
  bool fits = true;                              // the workload fits in usable memory
  std::optional<double> min_headroom_percent;    // usable - total, as % of usable
  bool max_model_len_fits = false;               // one sequence of max_model_len fits (vLLM refuses to start otherwise)
  bool max_num_seqs_fit = false;                 // max_num_seqs sequences of max_model_len fit at once (no preemption)
  std::optional<double> max_ttft_s;                // prefill of one prompt on an idle replica (a lower bound on TTFT)
  std::optional<double> max_time_per_output_token_s;  // decode step at concurrency x (prompt + output) tokens
  std::optional<double> min_output_tokens_per_s;      // decode tokens/s of one replica at that step
  std::optional<double> max_usd_per_million_output_tokens;
};

struct DeploySpec {
  std::optional<double> usd_per_gpu_hour;  // overrides the GPU preset's price
  EngineSettings engine;
  DeployWorkload workload;
  Limits limits;
};

enum class Comparison { at_most, at_least };  // measured <= limit, measured >= limit

struct CheckResult {
  std::string name;        // the limit's key in the deployment file, e.g. "min_headroom_percent"
  bool pass = false;
  double measured = 0;
  double limit = 0;
  Comparison comparison = Comparison::at_most;
  std::string unit;        // "bytes", "percent", "sequences", "s", "tokens/s", "USD"
  std::string description; // what was measured, for people
};
const char* symbol(Comparison c);  // "<=" or ">="

// The estimates a deployment is judged on: `workload` at concurrency x (prompt + output) tokens,
// and `engine` at max_num_seqs x max_model_len (present when a limit needs it).
struct DeployEstimates {
  Estimate workload;
  std::optional<Estimate> engine;
};

struct DeployResult {
  DeployEstimates estimates;
  std::vector<CheckResult> checks;
  bool pass() const;
};

// Tokens a sequence of `tokens` occupies when the cache is allocated in whole blocks.
int64_t round_up_to_block(int64_t tokens, int64_t block_size);
// Core inputs for the deployment's model: published weight formats, the engine's KV dtype
// ("auto" = model dtype), utilization, tensor parallel, prefill chunk.
MemoryOptions memory_options(const Model& model, const EngineSettings& engine);
// Validates the settings against the model (throws kvplan::Error) and computes the estimates.
DeployEstimates estimate_deployment(const Model& model, const Gpu& gpu, const DeploySpec& spec);
// The checks the limits ask for, in a fixed order; pure.
std::vector<CheckResult> run_checks(const DeployEstimates& e, const DeploySpec& spec);
DeployResult check_deployment(const Model& model, const Gpu& gpu, const DeploySpec& spec);

}  // namespace kvplan
