// The one result kvplan computes for a (model, GPU, workload): every printer renders this.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/cost.h"
#include "core/decode.h"
#include "core/engine.h"
#include "core/gpu.h"
#include "core/length_dist.h"
#include "core/memory.h"
#include "core/prefill.h"
#include "core/model.h"
#include "core/params.h"
#include "core/speculative.h"

namespace kvplan {

struct Workload {
  int64_t batch = 1;     // concurrent sequences
  int64_t context = 0;   // tokens per sequence held in the cache
  int64_t prompt = 0;    // prefill length (0 = the context)
  int64_t gen = 0;       // generated tokens per request (0 = unknown)
};

// One row of the per-kind layer summary.
struct LayerSummary {
  LayerKind kind;
  int64_t count = 0;
  int64_t params = 0;                   // shared blocks once
  int64_t kv_bytes_per_token = 0;       // all layers of the kind, per GPU
  int64_t kv_bytes_per_sequence = 0;    // at the workload's context
  int64_t state_bytes_per_sequence = 0;
};
std::vector<LayerSummary> summarize_layers(const Model& model, int64_t context, const CacheOptions& opt);

struct Estimate {
  Model model;
  Gpu gpu;
  Workload workload;
  MemoryOptions options;
  ParamCounts params;
  MemoryPlan memory;
  std::vector<LayerSummary> layers;
  PrefillResult prefill;        // one request of workload.prompt tokens: its time is the TTFT
  PrefillResult batch_prefill;  // the batch's prompts together (prompt-token throughput and cost)
  DecodeStep decode;            // one step of the batch at the workload's context
  // With a speculative config and an acceptance: the speculative step at the same point. Output
  // tokens are then served at its rate (cost, checks, fit and plan).
  std::optional<SpeculativeDecode> speculative;
  CostResult cost;
  std::optional<EnginePlan> engine;   // the engine's start-up plan (absent for the ideal engine)
  std::vector<std::string> warnings;  // the model's import warnings, then the workload's (estimate_warnings)
  std::optional<KvInUse> in_use;      // at the length distributions' p99 (options.lengths given)
};

// Output tokens per second of the replica at the workload: the speculative step's when there is
// one, else the plain decode step's; and the time per output token of one sequence.
double output_tokens_per_s(const Estimate& e);
double time_per_output_token_s(const Estimate& e);

// What could make the answer wrong without being an error: the importer's assumptions, and a
// context past the model's trained limit (max_position_embeddings; serving engines refuse it).
std::vector<std::string> estimate_warnings(const Model& model, const Workload& workload);

// Validates the inputs (throws kvplan::Error) and computes everything.
Estimate estimate(const Model& model, const Gpu& gpu, const Workload& workload, const MemoryOptions& options);

}  // namespace kvplan
