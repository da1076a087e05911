// GPU memory plan: weights + KV cache + SSM state + activations against a GPU's capacity, with
// the largest batch and context that fit (docs/formulas.md, "Memory plan").
#pragma once

#include <cstdint>
#include <memory>
#include <optional>

#include "core/engine_settings.h"
#include "core/gpu.h"
#include "core/kv_cache.h"
#include "core/kv_sharing.h"
#include "core/offload.h"
#include "core/serving_dtypes.h"
#include "core/model.h"
#include "core/parallel.h"
#include "core/params.h"

namespace kvplan {

struct LengthDist;  // core/length_dist.h

struct MemoryOptions {
  WeightDTypes weights;                  // linear and expert weight formats
  DTypeRules dtype_rules;                // why each dtype was chosen (serving_dtypes.h)
  std::optional<DType> model_dtype;      // the engine's --dtype, activations in it (nullopt: the checkpoint's)
  CacheOptions cache;                    // KV/state dtypes, conventions, tp
  Parallel parallel;                     // data and expert parallelism, the node (core/parallel.h)
  double gpu_memory_utilization = 0.90;  // fraction of the GPU's memory the engine may use (vLLM's default)
  int64_t prefill_chunk = 8192;          // tokens per forward pass in chunked prefill (vLLM max_num_batched_tokens)
  EngineSettings engine;                 // the serving engine whose rules size the cache (ideal: kvplan's)
  KvSharing sharing;                     // allocation, shared prefix, branches (ideal engine)
  Offload offload;                       // KV in a slower tier (ideal engine; core/offload.h)
  // Prompt and output length distributions (--prompt-dist, --gen-dist): the KV cache in use at
  // their p99 (core/length_dist.h; ideal engine). Null: none given.
  std::shared_ptr<const LengthDist> lengths;
};

struct MemoryPlan {
  int64_t weights_bytes = 0;             // per GPU (a speculative drafter's included, every engine)
  int64_t kv_bytes_per_token = 0;        // per GPU, a token resident in every layer (the drafter's too)
  int64_t draft_weights_bytes = 0;       // of weights_bytes: the speculative drafter's
  int64_t draft_kv_bytes_per_token = 0;  // of kv_bytes_per_token: the drafter's layers'
  int64_t kv_bytes_per_sequence = 0;     // at the workload's context
  int64_t kv_cache_bytes = 0;            // whole batch
  int64_t state_bytes_per_sequence = 0;
  int64_t state_bytes = 0;               // whole batch
  int64_t activation_bytes = 0;
  int64_t total_bytes = 0;
  int64_t capacity_bytes = 0;            // the GPU's memory
  int64_t usable_bytes = 0;              // capacity x gpu_memory_utilization
  int64_t headroom_bytes = 0;            // usable - total (negative when it does not fit)
  bool fits = false;
  int64_t max_batch = 0;                 // largest batch that fits at the context (0: none)
  std::optional<int64_t> max_context;    // largest context that fits at the batch; nullopt = unbounded
                                         // (memory stops growing with context: SSM, sliding-only)
  KvUse kv;                              // the cache's sharing and allocation at the point
  OffloadUse offload;                    // of kv_cache_bytes, what lives in the offload tier (stream
                                         // mode); HBM holds kv_cache_bytes - offloaded + staging
  std::optional<EngineBlocks> engine_blocks;  // under an engine: its blocks at the point (apply_engine)
};

// Everything about a (model, options) pair that does not depend on batch or context, computed
// once, so that sizing one (batch, context) point costs O(#sliding windows) (sweeps, searches).
// A speculative drafter (--speculative-config) is part of the model under every engine: its
// weights (core/speculative.h) and its layers' KV and state per sequence, at the same context
// (with pipeline parallelism, on the last stage).
struct MemoryModel {
  int64_t weights_bytes = 0;
  KvTerms kv;
  int64_t kv_bytes_per_token = 0;
  int64_t draft_weights_bytes = 0;
  int64_t draft_kv_bytes_per_token = 0;
  int64_t state_bytes_per_sequence = 0;
  int64_t activation_elements_per_token = 0;  // 2*hidden + widest intermediate / tp
  DType activation_dtype = DType::bf16;
  int64_t logits_bytes_per_sequence = 0;      // fp32 logits, vocab / tp
  int64_t prefill_chunk = 0;
  KvSharing sharing;
  Offload offload;
  int64_t full_kv_layers = 0;                 // layers whose KV grows with context (offload's staging)
};
// The KV offloaded and staged at a point.
OffloadUse offload_at(const MemoryModel& mm, int64_t batch, int64_t context);
MemoryModel memory_model(const Model& model, const MemoryOptions& opt);
// The dtype activations run in: the engine's --dtype when given, else the checkpoint's rule.
DType activation_dtype(const Model& model, const MemoryOptions& opt);

// Peak activation/workspace bytes per GPU for a batch at a context (documented formula).
int64_t activation_bytes(const MemoryModel& mm, int64_t batch, int64_t context);
int64_t activation_bytes(const Model& model, int64_t batch, int64_t context, const MemoryOptions& opt);
// Everything resident on one GPU for batch x context.
int64_t total_bytes(const MemoryModel& mm, int64_t batch, int64_t context);
int64_t total_bytes(const Model& model, int64_t batch, int64_t context, const MemoryOptions& opt);

MemoryPlan plan_memory(const MemoryModel& mm, int64_t gpu_memory_bytes, double gpu_memory_utilization,
                       int64_t batch, int64_t context);
MemoryPlan plan_memory(const Model& model, const Gpu& gpu, int64_t batch, int64_t context, const MemoryOptions& opt);
// plan_memory without the two searches (max_batch 0, max_context nullopt): sweeps run those once
// per context and per batch instead of once per point.
MemoryPlan size_memory(const MemoryModel& mm, int64_t gpu_memory_bytes, double gpu_memory_utilization,
                       int64_t batch, int64_t context);
// floor(memory x utilization): what the engine may use.
int64_t usable_bytes(int64_t gpu_memory_bytes, double gpu_memory_utilization);

// Largest batch that fits at `context` (0 if none) and largest context at `batch`
// (0 if none, nullopt if unbounded), by exact integer search.
int64_t max_batch_at(const MemoryModel& mm, int64_t usable_bytes, int64_t context);
std::optional<int64_t> max_context_at(const MemoryModel& mm, int64_t usable_bytes, int64_t batch);

}  // namespace kvplan
