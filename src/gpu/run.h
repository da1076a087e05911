// Entry points of `kvplan validate` and `kvplan calibrate` on the local GPU (the CLI files stay thin).
// Predictions come in from the caller (kvplan's decode model), so this code only measures.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "core/gpu.h"
#include "core/kv_cache.h"
#include "core/model.h"
#include "gpu/host/report.h"

namespace kvplan::gpu {

struct ComponentPrediction {
  std::string name;  // weights, kv_cache, ssm_state, lm_head, ...
  double time_s = -1;
  int64_t bytes = 0;
};

using Progress = std::function<void(const std::string&)>;

// One whole prefill to time (batch 1, one pass) and kvplan's prediction for it: per phase
// (linear, attention, elementwise) and in all.
struct PrefillCase {
  int64_t tokens = 0;
  std::vector<ComponentPrediction> phases;
  double predicted_s = -1;
};

struct ValidateRequest {
  Model model;
  Gpu gpu;
  CacheOptions cache;
  int64_t batch = 1, context = 4096, prompt = 0;
  std::vector<ComponentPrediction> predicted;  // per component
  double predicted_step_s = -1;                // decode.step_time_s
  double prefill_attention_s_per_flop = -1;   // kvplan's prefill attention phase: time_s / flops
  bool check = true;                           // run the correctness checks first
  bool in_step = false;                        // also time the step without each component
  // Stream offload: tokens per sequence in host memory, the link's predicted time for their copies,
  // and the step with them prefetched and on demand (gpu/offload_step.h); empty: none.
  int64_t offload_tokens = 0;
  double predicted_link_s = -1;
  double predicted_prefetch_s = -1, predicted_on_demand_s = -1;
  double max_time_per_item_s = 0.5;
  std::vector<PrefillCase> prefills;  // whole prefills (gpu/decode_step.h's prefill pass)
  // Step grids to measure (what, rows and cols set; validate --simulate), returned in the report.
  std::vector<StepGrid> grids;
};

// One engine-like decode step to time (calibrate's whole-step fit and self-check).
struct StepCase {
  Model model;
  CacheOptions cache;
  int64_t batch = 1, context = 4096;
};

// The local device (kvplan::Error, exit 3, when there is none).
DeviceInfo local_device(const std::string& command);
ValidateReport run_validate(const ValidateRequest& r, const Progress& progress);
Calibration run_calibrate(const Gpu& base, const Progress& progress);
// Whole decode weight matrices (n, k), each at the weight-stream grid's rows (1, 8, 32, 128) as
// run_calibrate times the grid: weight_stream_shapes.
std::vector<Calibration::StreamRun> time_weight_shapes(const std::vector<std::pair<int64_t, int64_t>>& shapes,
                                                       const Progress& progress);
// Each case's engine-like decode step (gpu/decode_step.h) in one CUDA graph, cold L2 before each
// replay, median replay as validate's "decode step (graph)"; a case's buffers are freed before the
// next is built. GraphTiming's kernels and bytes are the step's own.
std::vector<GraphTiming> time_decode_steps(const std::vector<StepCase>& cases, const Progress& progress);
// One pass of the model: a decode step of `batch` sequences at `context` tokens, or with
// prefill_tokens > 0 a whole prefill of `batch` prompts of that many tokens (gpu/decode_step.h).
struct PassCase {
  int64_t batch = 1, context = 0, prefill_tokens = 0;
};
// Each case's pass with only the ops of one component in one CUDA graph, timed as above:
// "elementwise" (norms, rotary, KV append, activations, MoE routing) or a component of the decode
// model (weights, kv_cache, ssm_state, lm_head).
std::vector<GraphTiming> time_component(const Model& model, const CacheOptions& cache,
                                        const std::vector<PassCase>& cases, const std::string& component,
                                        const Progress& progress);

}  // namespace kvplan::gpu
