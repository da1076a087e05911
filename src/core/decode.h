// Decode step: bytes, FLOPs and time of one step that generates one token for each of `batch`
// sequences at `context` tokens, per GPU (docs/timing.md, "Decode").
//
// Bytes per step: the weights once (MoE: the experts the batch touches, expected value), every
// sequence's KV cache (sliding layers only their window) plus the new K/V written, the SSM state read
// and written, the gathered embedding rows, the lm_head in full. Time per component =
//   floor:    max(bytes / datasheet bandwidth, FLOPs / datasheet peak)
//   expected: max(bytes / (bandwidth x bandwidth_fraction), FLOPs / (peak x flops fraction))
//             (weights and lm_head: each GEMM shape at the preset's gemm_efficiency, if it has one)
//             + kernels x kernel_overhead_s
// where kv_cache's bytes use attention_bandwidth_fraction, ssm_state's state_bandwidth_fraction,
// lm_head's lm_head_bandwidth_fraction and the weights' routed experts expert_bandwidth_fraction
// (each bandwidth_fraction unless the preset sets it),
// summed over components (a step runs them one after another), plus the tensor-parallel all-reduces.
// Under --enforce-eager (an engine profile with eager_launch_s) the step is at least
// kernels x eager_launch_s, the host's time to issue them; eager_launch is the GPU's wait for it.
// Stream offload adds a kv_offload component: the link time not hidden behind the rest of the step
// (prefetch) or all of it (on demand); its bytes cross the link, not HBM.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/gpu.h"
#include "core/layer_work.h"
#include "core/memory.h"
#include "core/model.h"

namespace kvplan {

// One part of a step. name: weights, kv_cache, ssm_state, lm_head, embedding, elementwise,
// allreduce, ep_dispatch, ep_combine, pp_send, pp_bubble, eager_launch or kv_offload. For the collectives
// (allreduce, ep_*, pp_send), bytes are link bytes each GPU sends, not HBM bytes.
//
// Pipeline parallelism (pp stages, M micro-batches in flight, default M = pp as the engines run
// one micro-batch per virtual engine): the batch splits into M micro-batches of ceil(batch / M);
// a token passes every stage and the sends between them, and a stage serves one micro-batch at a
// time, so a micro-batch comes round every
//   cycle = max(sum_s t_s + sends, M x max_s t_s),
// the step's time (each sequence gains one token per cycle); components are summed over the
// stages for one micro-batch, and pp_bubble is the cycle's wait beyond them (stage imbalance, or
// fewer micro-batches than stages leaving no bubble but no overlap either).
struct DecodeComponent {
  std::string name;
  int64_t bytes = 0;
  double flops = 0;
  int64_t kernels = 0;
  double time_floor_s = 0;
  double time_s = 0;
};

// Stream offload (core/offload.h): the KV the step brings over the tier's link, and the step with
// the link overlapped (prefetch) and not (on demand); time_s is the one the workload chose.
struct DecodeOffload {
  int64_t link_bytes = 0;
  int64_t transfers = 0;            // one per full-attention layer
  double link_time_s = 0;           // link_bytes / achievable link rate + transfers x kernel overhead
  double step_without_s = 0;        // the step's HBM, math and overhead terms alone
  double step_prefetch_s = 0;       // max(step_without, link) + one layer's share of the smaller (pipeline fill)
  double step_on_demand_s = 0;      // step_without + link
};

struct DecodeStep {
  int64_t batch = 0;
  int64_t context = 0;
  int64_t query_tokens = 1;     // tokens per sequence in the pass: 1, or k + 1 when verifying k drafted tokens
  int64_t bytes = 0;            // HBM bytes per GPU (all components but allreduce)
  double flops = 0;             // per GPU
  double time_floor_s = 0;      // roofline with datasheet peaks
  double time_s = 0;            // expected, with the preset's efficiency model
  double tokens_per_s = 0;      // aggregate: batch / time_s (per replica of tp GPUs)
  double tokens_per_s_per_seq = 0;
  Bound bound = Bound::memory;  // the larger of the two expected terms
  double arithmetic_intensity = 0;  // FLOPs per HBM byte
  double memory_time_s = 0;     // sum of bytes / achievable bandwidth
  double compute_time_s = 0;    // sum of FLOPs / achievable FLOP/s
  double overhead_s = 0;        // kernels x kernel_overhead_s + all-reduce latency
  int64_t kernels = 0;
  double experts_touched = 0;   // expected distinct experts per MoE layer (largest group); 0 = dense
  // Smallest batch at this context where compute binds; nullopt = memory-bound for every batch
  // (long context: KV bytes grow as fast as FLOPs). Filled by decode_step(), not DecodeModel::step.
  std::optional<int64_t> compute_bound_batch;
  std::vector<DecodeComponent> components;
  std::optional<DecodeOffload> offload;  // stream offload only
};

// Everything that does not depend on (batch, context), computed once; step() is then
// O(#distinct windows + #MoE shapes) for sweeps.
class DecodeModel {
 public:
  DecodeModel(const Model& model, const Gpu& gpu, const MemoryOptions& opt);
  // One pass over `batch` sequences at `context` tokens, each with `query_tokens` new tokens (1: a
  // decode step; k + 1: speculative decoding's verification of k drafted tokens, core/speculative.h):
  // weights and KV read once, FLOPs, KV writes, embedding rows and all-reduces x query_tokens.
  DecodeStep step(int64_t batch, int64_t context, int64_t query_tokens = 1) const;
  // Smallest batch <= limit at which the step is compute-bound (binary search), or nullopt.
  std::optional<int64_t> compute_bound_batch(int64_t context, int64_t limit = int64_t{1} << 24) const;
  const ModelWork& work() const { return work_; }

 private:
  DecodeStep stage_step(const ModelWork& w, int64_t batch, int64_t context, int64_t query_tokens) const;
  DecodeStep pipeline_step(int64_t batch, int64_t context, int64_t query_tokens) const;
  ModelWork work_;
  std::vector<ModelWork> stages_;  // pipeline stages (pp > 1); empty: one stage, work_
  std::vector<bool> sends_cross_nodes_;  // per stage boundary (stage s-1 -> s, s >= 1)
  int64_t micro_batches_ = 1;
  Gpu gpu_;
  Rates rates_;
  int64_t keep_tokens_ = 0;  // a bounded cache's tokens per layer (0: all)
  std::optional<MemoryModel> offload_;  // stream offload: where the KV lives at each point
  double eager_launch_s_ = 0;  // --enforce-eager: the engine's host time per kernel (0: graphs)
};

DecodeStep decode_step(const Model& model, const Gpu& gpu, int64_t batch, int64_t context, const MemoryOptions& opt);

}  // namespace kvplan
