// `kvplan check`: a deployment (engine settings, expected workload, limits) evaluated into a
// list of pass/fail checks. Pure functions: estimates and limits in, results out (docs/check.md).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/engine.h"
#include "core/estimate.h"
#include "core/simulate.h"

namespace kvplan {

// The traffic the deployment must carry.
// The engine section of a deployment file, in the engine's own names. kv_cache_dtype stays text:
// its meaning is the engine version's. `settings.profile` is resolved by the caller (the registry).
struct DeployEngine {
  EngineSettings settings;
  std::optional<double> gpu_memory_utilization;   // default: the profile's
  std::optional<int64_t> max_num_batched_tokens;  // default: the profile's
  std::string kv_cache_dtype;                     // "" = auto
  std::optional<DType> quantization;              // vLLM --quantization: the weights' format (nullopt = the checkpoint's)
  std::optional<DType> dtype;                     // --dtype: the model's compute dtype (nullopt = auto)
  int64_t tensor_parallel_size = 1;
  int64_t data_parallel_size = 1;                 // vLLM --data-parallel-size (SGLang dp_size)
  bool enable_expert_parallel = false;            // vLLM --enable-expert-parallel: MoE layers over tp x dp GPUs
};

struct DeployWorkload {
  int64_t prompt_tokens = 0;
  int64_t output_tokens = 0;
  std::optional<int64_t> concurrency;  // requests in flight; default: engine max_num_seqs
  // The KV economy (engine ideal, docs/kv-economy.md): a prefix every request shares, each request
  // forked into branches sharing its trunk, a bounded cache.
  int64_t shared_prefix_tokens = 0;
  int64_t branches = 1;
  int64_t trunk_tokens = 0;
  CachePolicy cache_policy;
  double prefix_hit_rate = 0;  // fraction of prompt tokens found in the prefix cache (any engine)
  // Speculative decoding (engine.speculative_config): acceptance_rate or acceptance_length.
  std::optional<Acceptance> acceptance;
  // Length distributions as written (empty: none), and as resolved by the caller (trace files read):
  // the p99 KV cache in use (engine ideal, core/length_dist.h).
  std::string prompt_dist, gen_dist;
  std::shared_ptr<const LengthDist> lengths;
  // KV offload (engine ideal, core/offload.h): the tier, its bytes per GPU or share of the
  // full-attention KV, mode and overlap; bandwidth and capacity 0 = the GPU preset's host link and memory.
  OffloadTier offload = OffloadTier::none;
  int64_t offload_bytes = 0;
  double offload_fraction = 0;
  OffloadMode offload_mode = OffloadMode::stream;
  OffloadOverlap offload_overlap = OffloadOverlap::prefetch;
  double offload_bandwidth_bytes_per_s = 0;
  int64_t offload_capacity_bytes = 0;
  // A request-level simulation of the deployment (an engine's; docs/fleet.md): requests arriving
  // as a Poisson process at rate_rps, `requests` of them (default 10,000), drawn with `seed`; or a
  // recorded trace replayed (its path as written, and as read by the caller, with its arrival
  // times), the first `requests` of it (default all).
  std::optional<double> rate_rps;
  std::string trace;
  std::shared_ptr<const LengthDist> arrival_trace;
  std::optional<int64_t> requests;
  int64_t seed = 1;
};

// What must hold. Unset limits are not checked; `fits` is on unless turned off.
struct Limits {
  bool fits = true;                              // the workload fits in usable memory (the engine's KV pool)
  bool engine_starts = true;                     // the engine starts: max_model_len fits its KV pool
  std::optional<double> min_headroom_percent;    // usable - total, as % of usable
  bool max_model_len_fits = false;               // one sequence of max_model_len fits (vLLM refuses to start otherwise)
  bool max_num_seqs_fit = false;                 // max_num_seqs sequences of max_model_len fit at once (no preemption)
  std::optional<double> max_ttft_s;                // prefill of one prompt on an idle replica (a lower bound on TTFT)
  std::optional<double> max_time_per_output_token_s;  // decode step at concurrency x (prompt + output) tokens
                                                      // (speculative: step time / acceptance length)
  std::optional<double> min_output_tokens_per_s;      // decode tokens/s of one replica at that step (speculative: its rate)
  std::optional<double> max_usd_per_million_output_tokens;
  // From the simulation (workload.rate_rps or workload.trace): p99 TTFT and TPOT, and the requests
  // per second that meet both latency limits that are set (all requests when neither is).
  std::optional<double> max_ttft_p99_s;
  std::optional<double> max_tpot_p99_s;
  std::optional<double> min_goodput_rps;
};

struct DeploySpec {
  std::optional<double> usd_per_gpu_hour;  // overrides the GPU preset's price
  DeployEngine engine;
  DeployWorkload workload;
  Limits limits;
  // Where a deployment file gave each key ("engine.max_model_len", in vLLM's names; "" = the file),
  // so that a check on the values reports file:line:col; empty for a spec built in code.
  std::map<std::string, SourcePos> key_pos;
  SourcePos pos(const std::string& key) const;
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

// The estimates a deployment is judged on: `workload` at concurrency x (prompt + output) tokens
// (under a serving engine it carries the engine's plan at max_model_len), and, for the ideal
// engine, `engine` at max_num_seqs x max_model_len (present when a limit needs it).
struct DeployEstimates {
  Estimate workload;
  std::optional<Estimate> engine;
  std::optional<SimResult> simulation;  // with workload.rate_rps or workload.trace
};

struct DeployResult {
  DeployEstimates estimates;
  std::vector<CheckResult> checks;
  bool pass() const;
};

// Tokens a sequence of `tokens` occupies when the cache is allocated in whole blocks.
int64_t round_up_to_block(int64_t tokens, int64_t block_size);
// Core inputs for the deployment's model: published weight formats, the engine's KV dtype
// ("auto" = model dtype), utilization, tensor parallel, batched tokens (the engine's default for
// the GPU), the engine settings at max_model_len.
MemoryOptions memory_options(const Model& model, const Gpu& gpu, const DeployEngine& engine, int64_t max_model_len);
// Validates the settings against the model (throws kvplan::Error) and computes the estimates.
DeployEstimates estimate_deployment(const Model& model, const Gpu& gpu, const DeploySpec& spec);
// The checks the limits ask for, in a fixed order; pure.
std::vector<CheckResult> run_checks(const DeployEstimates& e, const DeploySpec& spec);
DeployResult check_deployment(const Model& model, const Gpu& gpu, const DeploySpec& spec);

}  // namespace kvplan
