// Prefill: FLOPs, bytes and time to process `batch` prompts of `prompt` tokens, per GPU
// (docs/timing.md, "Prefill"). Counted:
//   linear     2 x matrix params touched per token x tokens (MoE: the k routed experts, shared
//              experts and router), plus the lm_head for the last token of each prompt only;
//   attention  QK^T and PV over the causal lower triangle, diagonal included: query i sees
//              min(i, window) keys, so P(P+1)/2 pairs per head for full attention and
//              W(W+1)/2 + (P-W)W for a window W < P; per pair 2 x (head_dim + v_head_dim) per head.
//              MLA as engines run prefill: K and V decompressed per head (qk_nope+qk_rope, v_head_dim);
//   scan       Mamba conv + recurrent state update per token (layer_work.h).
// Time per phase = max(FLOPs / achievable FLOP/s, bytes / achievable bandwidth), summed, plus
// kernels x kernel_overhead_s per forward pass and the collectives (tensor-parallel all-reduces,
// expert-parallel all-to-alls, pipeline sends: core/collectives.h). Prompts run in forward passes
// of prefill_chunk tokens (chunked prefill): the weights are read once per pass. Under pipeline
// parallelism a pass crosses the stages one after another: its time is the whole model's (every
// stage's layers) plus the sends between stages.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/gpu.h"
#include "core/layer_work.h"
#include "core/memory.h"
#include "core/model.h"

namespace kvplan {

// One phase: "linear", "attention", "elementwise" or "scan".
struct PrefillPhase {
  std::string name;
  int64_t bytes = 0;
  double flops = 0;
  double time_floor_s = 0;
  double time_s = 0;
};

struct PrefillKind {
  LayerKind kind;
  int64_t layers = 0;
  double linear_flops = 0;
  double attention_flops = 0;
  double scan_flops = 0;
};

struct PrefillResult {
  int64_t batch = 0;
  int64_t prompt = 0;
  int64_t cached = 0;            // prompt tokens per sequence found in the prefix cache (not computed)
  int64_t passes = 0;            // forward passes of up to prefill_chunk tokens
  double flops = 0;              // per GPU, all phases
  double linear_flops = 0;       // lm_head included
  double attention_flops = 0;
  double scan_flops = 0;
  double attention_share = 0;    // attention_flops / flops: the quadratic term's share
  int64_t bytes = 0;             // HBM bytes per GPU
  double time_floor_s = 0;
  double time_s = 0;             // expected; for batch 1, the time to first token
  double overhead_s = 0;         // kernel overhead + all-reduces
  double tokens_per_s = 0;       // batch x prompt / time_s
  Bound bound = Bound::memory;
  // Reload offload (core/offload.h): the cached prefixes' KV (and recurrent state) loaded back from
  // the tier instead of recomputed; prefetched layer by layer under the computed tokens' work, or
  // before it (on demand). time_s includes it.
  int64_t load_bytes = 0;
  double load_time_s = 0;
  std::vector<PrefillPhase> phases;
  std::vector<PrefillKind> kinds;
};

class PrefillModel {
 public:
  PrefillModel(const Model& model, const Gpu& gpu, const MemoryOptions& opt);
  PrefillResult run(int64_t batch, int64_t prompt) const;
  const ModelWork& work() const { return work_; }

 private:
  double pass_pairs_at_peak(const AttentionGroup& g, int64_t cached, int64_t prompt) const;
  ModelWork work_;
  Gpu gpu_;
  int64_t chunk_ = 0;
  double prefix_hit_rate_ = 0;  // the workload's prefix cache hit rate
  Offload reload_;              // a reload-mode offload tier the cached prefixes come from
  Rates rates_;
  Rate scan_;  // Mamba-2's chunked SSD runs on tensor cores; Mamba-1's selective scan on CUDA cores
  std::vector<bool> sends_cross_nodes_;  // pipeline stages' incoming sends (empty: one stage)
};

PrefillResult prefill(const Model& model, const Gpu& gpu, int64_t batch, int64_t prompt, const MemoryOptions& opt);

}  // namespace kvplan
