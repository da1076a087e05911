// What the subcommands share: global options, the registry, and the options that describe a
// planning query (model, GPU, workload, dtypes, conventions). No arithmetic here.
#pragma once

#include <CLI/CLI.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "core/estimate.h"
#include "io/registry.h"
#include "io/speculative.h"

namespace kvplan::cli {

struct Globals {
  std::string data_dir;  // --data-dir / KVPLAN_DATA_DIR
  int exit_status = 0;   // set by a subcommand that reports pass/fail
  std::vector<std::string> argv;  // the command line as given (validate/calibrate hand it to kvplan-gpu)
  // Bundled data, then --data-dir; without one, the data installed beside the binary
  // (PREFIX/share/kvplan next to PREFIX/bin/kvplan), so that edits there take effect. Its notes
  // (a --data-dir file replacing a bundled one) go to `notes`, printed once the command has run:
  // a command that fails on bad input prints its error alone.
  Registry registry() const;
  mutable std::vector<std::string> notes;
};

// Options of one (model, GPU, workload) query, as typed; resolved after parsing.
struct QueryOptions {
  std::string model;
  std::string gpu;
  std::string context = "4096";
  std::string batch = "1";
  std::string prompt;
  std::string gen;              // generated tokens per request (cost per request)
  std::string usd_per_gpu_hour; // overrides the preset's price
  std::string kv_dtype;       // default: the model's dtype
  std::string weight_dtype;   // default: the model's dtype
  std::string state_dtype;    // default: the model's dtype
  std::string dtype;          // the engine's --dtype (activations); default auto: the checkpoint's
  std::string conv_state_width = "kernel-1";
  std::string sliding_window_cache = "window";
  std::string mla_cache = "latent";
  std::string gpu_memory_utilization;  // default: the engine profile's
  std::string prefill_chunk;           // max_num_batched_tokens; default: the engine profile's
  std::string tp = "1";
  // The serving engine whose rules size the cache, and its own settings.
  std::string engine = "vllm";
  std::string max_model_len;           // default: the context
  std::string block_size;
  std::string max_num_seqs;
  std::string max_mamba_cache_size;
  std::string kv_cache_memory;
  std::string pp = "1";
  // The layout beyond tp and pp (core/parallel.h) and the server it runs on.
  std::string dp = "1";
  std::string ep = "1";
  std::string redundant_experts = "0";
  std::string micro_batches;           // pipeline micro-batches; default pp
  std::string node;                    // a node preset (presets/nodes/)
  std::string nodes;                   // nodes the layout fills (checks tp x pp x dp)
  std::string speculative_config;      // vLLM's JSON
  std::string speculative_algorithm;   // SGLang's --speculative-algorithm and its arguments
  std::string speculative_draft_model_path;
  std::string speculative_num_steps, speculative_eagle_topk, speculative_num_draft_tokens;
  std::string acceptance_rate;         // speculative decoding: accepted / proposed draft tokens
  std::string acceptance_length;       // or tokens per target step (1 + accepted / drafts)
  // The ideal engine's cache: allocation, sharing (core/kv_sharing.h).
  std::string allocation = "exact";
  std::string shared_prefix;
  std::string branches = "1";
  std::string trunk;
  std::string cache_policy = "full";
  std::string prefix_hit_rate;
  // KV in a slower tier (core/offload.h).
  std::string offload = "none";
  std::string offload_bytes;           // bytes, or P% of the full-attention KV
  std::string offload_mode = "stream";
  std::string offload_overlap = "prefetch";
  std::string offload_bandwidth;       // bytes/s; default: the preset's host link
  std::string offload_capacity;        // bytes per GPU; default: the preset's host memory
  std::string prompt_dist;     // fixed, uniform:A..B or a CSV trace (core/length_dist.h)
  std::string gen_dist;
  bool enforce_eager = false;
  std::string flashinfer_sampler;  // vLLM's VLLM_USE_FLASHINFER_SAMPLER: "0", "1" or unset
  std::string v2_model_runner;     // vLLM's VLLM_USE_V2_MODEL_RUNNER: "0", "1" or unset
  bool disable_hybrid_kv_cache_manager = false;
  bool disable_piecewise_cuda_graph = false;
  bool enable_multimodal = false;  // SGLang --enable-multimodal (unset: SGLang's choice by model)
  std::string limit_mm_per_prompt;  // vLLM --limit-mm-per-prompt (JSON or image=N,video=M)
  std::string hf_overrides;         // vLLM --hf-overrides (JSON): the config keys kvplan applies
  bool skip_mm_profiling = false;   // vLLM --skip-mm-profiling
  bool enable_prefix_caching = false;
  bool no_prefix_caching = false;
  std::string format = "table";
};

// Adds --model/--gpu (required unless `require` is false) and the other query options.
void add_query_options(CLI::App* app, QueryOptions& q, bool require = true);
void add_format_option(CLI::App* app, std::string& format, const std::vector<std::string>& formats);
// Like CLI::IsMember (its description {a,b,c} shows in the help, and completion offers the names),
// and a value not among them is reported with "did you mean".
CLI::Validator one_of(const std::vector<std::string>& names);

// The model `spec` names (bundled id, YAML, config.json or folder) as the engine loads it, with
// --hf-overrides applied (a note on stderr for each key kvplan does not apply, once a process).
Model model_of(const QueryOptions& q, const Registry& registry, const std::string& spec);

// Turns typed options into core inputs for one model (dtype defaults come from the model).
Workload workload_of(const QueryOptions& q, bool prompt_in_context = true);
MemoryOptions memory_options_of(const QueryOptions& q, const Model& model, const Gpu& gpu, const Registry& registry);
// The preset with the query's overrides applied (--usd-per-gpu-hour).
Gpu gpu_of(const QueryOptions& q, Gpu gpu);

// The drafter of a speculative config: its model resolved through the registry (relative paths
// as given); an EAGLE or MTP model that cannot be resolved falls back to a head of the target's
// shape, with a warning on the drafter.
std::shared_ptr<const Model> drafter_of(const SpeculativeConfig& c, const Model& target, const Registry& registry);
// The method and shape a speculative config gives the engine settings (its drafter: drafter_of;
// the shape SGLang leaves to itself: resolve_speculative_shape).
void set_speculative(EngineSettings& engine, const SpeculativeConfig& c);

// validate and calibrate run the CUDA kernels, which live in a second executable, kvplan-gpu,
// installed beside kvplan (so that kvplan itself starts without the CUDA libraries). In kvplan
// this runs kvplan-gpu with the same arguments and returns its exit status; where kvplan-gpu is
// absent or cannot start (no CUDA libraries), it throws kvplan::Error with exit status 3.
int run_on_gpu_helper(const std::string& command, const Globals& globals);

// Progress on stderr once the run has taken more than a second.
struct ProgressLine {
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  void operator()(const std::string& what) const;
};

// Writes to stdout.
void print(const std::string& text);
// Each as one `kvplan: warning: ...` line on stderr, after the command's output.
void warn(const std::vector<std::string>& warnings);

}  // namespace kvplan::cli
