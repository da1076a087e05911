// The work a model does per token and per step, per GPU, summed once over its layers: the
// coefficients that the prefill and decode timing models (prefill.h, decode.h) multiply by batch,
// prompt and context. Building it is O(#layers); using it is O(#distinct windows + #MoE shapes).
// Formulas and sources: docs/timing.md.
#pragma once

#include <cstdint>
#include <vector>

#include "core/gpu.h"
#include "core/memory.h"
#include "core/model.h"

namespace kvplan {

// Which roofline term is larger: memory traffic or arithmetic.
// link: an offload tier's link (core/offload.h) takes longer than the step's HBM reads and math.
enum class Bound { memory, compute, link };
const char* name(Bound b);

// Attention reads that share a window: 0 = full (causal over all tokens), else a sliding window
// or top-k (`chunked`: the query's own chunk of `window` tokens).
struct AttentionGroup {
  int64_t window = 0;
  bool chunked = false;
  int64_t layers = 0;
  int64_t kv_bytes_per_token = 0;      // per GPU, all layers of the group, as the cache stores it
  double decode_flops_per_key = 0;     // per GPU and sequence: QK^T + PV for one query over one cached token
  double prefill_flops_per_pair = 0;   // per GPU: the same for one (query, key) pair of the prompt
  int64_t head_dim = 0;                // the prefill attention's query/key head size
};

// Recurrent layers whose decode state update streams at one rate: Mamba layers by the state's row
// (d_state elements of `bits` bits), every other recurrent state in one group of d_state 0.
struct StateGroup {
  int64_t d_state = 0;
  int64_t bits = 0;
  int64_t bytes_per_sequence = 0;  // per GPU, conv + recurrent state of the group's layers
};

// MoE layers of one routing shape: a decode step reads only the experts its tokens touch. Under
// tensor parallelism a GPU holds 1/tp of all `experts` and sees its replica's tokens; under expert
// parallelism it holds `local_experts` whole ones and sees the tokens of all dp replicas.
struct ExpertGroup {
  int64_t experts = 0;
  int64_t experts_per_token = 0;
  int64_t bytes_per_expert = 0;  // per GPU, one routed expert summed over the group's layers
  int64_t local_experts = 0;     // expert slots on a GPU: experts (tp), (experts + redundant) / ep (EP)
  int64_t token_replicas = 1;    // replicas whose tokens reach a GPU's experts: 1 (tp), dp (EP)
  int64_t layers = 0;
  int64_t ranks = 1;             // GPUs the experts are spread over, each its own (ep; 1 under tp)
};
// Expected experts of a group the busiest GPU reads in a pass of `tokens` tokens per replica,
// which sets the step (the GPUs meet at the combine). Each of a GPU's L local slots is touched with
// the probability that one of the tokens reaching it picked that expert, p = 1 - (1 - k/E)^(tokens
// x token_replicas). Under tensor parallelism every GPU holds a slice of every expert: L p. Under
// expert parallelism the ranks' counts are taken as independent Binomial(L, p), so the busiest of R
// reads E[max] = sum over m = 1..L of (1 - F(m - 1)^R), F the binomial CDF (uniform routing; skewed
// routing makes it worse, EPLB's redundant slots better).
double expected_local_experts_touched(const ExpertGroup& g, int64_t tokens);
// MoE layers whose routing alignment runs as two kernels in a pass of `tokens` rows per replica
// (moe_align.h; the align sees the top-k ids of every replica whose tokens reach the GPU's
// experts). KernelCounts holds the one-kernel case.
int64_t moe_two_kernel_align_layers(const std::vector<ExpertGroup>& groups, int64_t tokens);
// The routing kernels of a group's layers in such a pass: top-k, align (one or two), combine, a layer.
int64_t moe_routing_kernels(const ExpertGroup& g, int64_t tokens);

// Kernels an engine launches per decode step, by the component that owns them (vLLM's decode
// sequence with CUDA graphs; docs/timing.md "Decode", its kernels per layer).
struct KernelCounts {
  int64_t weights = 0;      // GEMMs: projections, router, experts
  int64_t kv_cache = 0;     // attention, split-KV combine
  int64_t ssm_state = 0;    // conv-state update, selective-state update
  int64_t elementwise = 1;  // norms (the final one too), RoPE, gates, activations, cache writes, MoE routing
  int64_t norms = 1;        // of `elementwise`, the norms (residual-fused or not, per-head Q/K, gated; the final one)
                            // (of `elementwise` too, the rotary embeddings: ModelWork::rotary_groups)
  int64_t lm_head = 1;      // lm_head GEMM
  int64_t embedding = 1;    // row gather
  int64_t total() const { return weights + kv_cache + ssm_state + elementwise + lm_head + embedding; }
};

// Per-kind totals, for the prefill breakdown.
struct KindWork {
  LayerKind kind;
  int64_t layers = 0;
  double linear_flops_per_token = 0;
  double scan_flops_per_token = 0;
  std::vector<AttentionGroup> attention;  // this kind's attention layers by window
};

// A rate as the datasheet gives it and as the efficiency model expects to reach it.
struct Rate {
  double peak = 0;
  double achievable = 0;
};
// The GPU's rates for one (model, options): the one place the preset's efficiency fractions
// apply (the weight GEMMs' efficiency by shape: gemm_rate below). Weight GEMMs run in the weights' GEMM format, attention in 16-bit math, the lm_head
// in the model's base dtype, CUDA-core work (Mamba-1's scan) at the fp32 rate. Bytes stream at
// bandwidth_fraction, except the decode step's KV cache, SSM state and lm_head, which have their own.
struct Rates {
  Rate bandwidth;          // bytes/s
  Rate kv_bandwidth;       // decode attention reading the KV cache (attention_bandwidth_fraction)
  Rate state_bandwidth;    // decode SSM/conv state update, read + write (state_bandwidth_fraction)
  Rate lm_head_bandwidth;  // decode step's vocab projection, one GEMV/GEMM (lm_head_bandwidth_fraction)
  Rate expert_bandwidth;   // decode step's routed experts in the fused MoE kernel (expert_bandwidth_fraction)
  Rate elementwise_bandwidth;  // norms, rotary, KV append, activations (elementwise_bandwidth_fraction)
  Rate decode_elementwise_bandwidth;  // the same kernels in a decode step (decode_elementwise_bytes_per_s)
  Rate linear;     // FLOP/s
  Rate attention;
  Rate fp32;
  Rate bf16;       // 16-bit tensor-core work other than the weight GEMMs (Mamba-2's chunked scan)
  Rate head;
};
Rates rates(const Model& model, const Gpu& gpu, const MemoryOptions& opt);

// The decode step's state update over `groups`: each group's bytes at its own fraction
// (Efficiency::state_bandwidth(d_state, bits)) of `flat`'s peak, one rate for their sum; `flat`
// (state_bandwidth_fraction) without groups.
Rate state_rate(const Rate& flat, const std::vector<StateGroup>& groups, const Efficiency& e);

struct ModelWork {
  int64_t tp = 1;
  // Weights each step reads (per GPU). Shared blocks (Zamba2) are read at every use: one copy in
  // memory, but a layer's weights do not stay in L2 until the next layer that shares them.
  int64_t dense_weight_bytes = 0;        // every non-routed-expert tensor of every layer
  std::vector<ExpertGroup> expert_groups;
  // The decode step's rotary kernels by their (cos, sin) pairs a token: {pairs, kernels}.
  std::vector<std::pair<int64_t, int64_t>> rotary_groups;
  double linear_flops_per_token = 0;     // 2 x matrix params touched per token (MoE: k experts), layers only
  // The same work as GEMM shapes (equal shapes merged): what the preset's GEMM efficiency grid is
  // looked up with; their FLOPs per token sum to linear_flops_per_token.
  std::vector<Gemm> gemms;
  std::vector<AttentionGroup> attention; // all attention/MLA layers by window
  int64_t kv_write_bytes_per_token = 0;  // the new token's K/V in every layer
  int64_t state_bytes_per_sequence = 0;  // conv + recurrent state, all recurrent layers
  std::vector<StateGroup> state_groups;  // the same bytes by the rate their update streams at
  double scan_flops_per_token = 0;       // conv + recurrent state update, all recurrent layers
  int64_t scan_bytes_per_token = 0;      // the scan's inputs and outputs (x, dt, B, C in; y out), prefill and decode
  bool scan_on_tensor_cores = false;     // Mamba-2 SSD and the delta rule run on tensor cores; Mamba-1's scan on CUDA cores
  int64_t lm_head_bytes = 0;             // the lm_head (or tied embedding) matrix, per GPU
  double lm_head_flops_per_token = 0;
  Gemm lm_head_gemm;                     // vocab / tp x hidden
  int64_t embedding_bytes_per_token = 0; // one gathered row
  // Activation bytes per token that the element-wise kernels of every layer read and write
  // (fused residual add + RMSNorm before each mixer and MLP, the mixers' own, the MLP's activation
  // and the MoE combine) and the final norm; per GPU. Prefill prices it (docs/timing.md).
  int64_t elementwise_bytes_per_token = 0;
  int64_t activation_bytes_per_element = 2;
  int64_t hidden_size = 0;
  int64_t allreduces_per_pass = 0;       // under tp > 1: one after each mixer and each MLP (Megatron);
                                         // under EP with dp > 1 the MoE layers' are all-to-alls instead
  int64_t moe_layers = 0;                // MoE layers: an all-to-all dispatch and combine each under EP with dp > 1
  int64_t experts_per_token = 0;         // the largest top-k (all-to-all volume)
  Parallel parallel;                     // the layout the work is per GPU of
  KernelCounts kernels;
  std::vector<KindWork> kinds;
};

ModelWork model_work(const Model& model, const MemoryOptions& opt);
// The work of one pipeline stage holding layers [first_layer, end_layer): the first stage gathers
// the embedding rows, the last runs the final norm and the lm_head (core/parallel.h pipeline_stages).
ModelWork stage_work(const Model& model, const MemoryOptions& opt, size_t first_layer, size_t end_layer);

// The rate weight GEMMs reach in a pass of `tokens` rows: the peak x the FLOP-weighted harmonic
// mean of Efficiency::gemm over the shapes (rows = tokens x rows_per_token), so that FLOPs / rate
// = the sum of each shape's FLOPs / (peak x its efficiency). Without a grid: `flat` itself.
Rate gemm_rate(const Rate& flat, const std::vector<Gemm>& gemms, const Efficiency& e, double tokens);

// The rate the decode step's dense weight GEMMs stream their weights at in a pass of `tokens` rows:
// the peak bandwidth x the parameter-weighted harmonic mean of Efficiency::weight_stream over the
// shapes that are not routed experts (rows = tokens x rows_per_token), so that bytes / rate = the
// sum of each shape's bytes / (peak x its efficiency). Without a grid (or no such shape): `flat`.
Rate weight_stream_rate(const Rate& flat, const std::vector<Gemm>& gemms, const Efficiency& e, double tokens);

// The format the weight GEMMs multiply in: fp8 weights run fp8 GEMMs (W8A8, vLLM's fp8 path);
// weight-only formats (int8, int4, mxfp4, nvfp4: Hopper has no FP4 tensor cores) are dequantized to 16 bits and run on the 16-bit tensor
// cores (AWQ/GPTQ/Marlin kernels); 16- and 32-bit weights multiply in their own format.
DType gemm_dtype(DType weights);

// Expected number of distinct experts that `tokens` tokens touch when each picks k of E uniformly
// and independently: E x (1 - (1 - k/E)^tokens).
double expected_experts_touched(int64_t experts, int64_t experts_per_token, int64_t tokens);

// Causal (query, key) pairs of a P-token prompt, the diagonal included: query i (1-based) sees
// min(i, window) keys. Full attention: P(P+1)/2; window W < P: W(W+1)/2 + (P-W)W.
double causal_pairs(int64_t prompt, int64_t window);
// The same for chunked local attention: query i sees the keys of its own chunk up to itself,
// floor(P/C) x C(C+1)/2 + r(r+1)/2 with r = P mod C.
double chunked_pairs(int64_t prompt, int64_t chunk);
// The pairs of a group: causal_pairs or chunked_pairs.
double attention_pairs(int64_t prompt, const AttentionGroup& g);

}  // namespace kvplan
