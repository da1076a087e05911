// What every layer kind module (core/layers/*.h) provides, and the kinds' one list.
//
// A mixer type X (a token mixer: attention, MLA, Mamba, linear attention, ...) is a struct with
//   static constexpr const char* kKind;                  its `kind:` in model YAML
//   template <class Reader> static X read(Reader&, int64_t hidden);   its YAML fields and defaults
//     (Reader: integer, boolean, sub, has, and pos(key) for an error at a field)
// and these free functions, found by overload (model.h's std::visit calls them, so a mixer that
// lacks one does not compile):
//   LayerKind layer_kind(const X&);                                 JSON/CSV `layers.<kind>`
//   void check(const X&, const Checker&);                           impossible shapes
//   void add_tensors(const X&, int64_t hidden, std::vector<Tensor>&);  its weights
//   void add_gemms(const X&, int64_t hidden, int64_t tp, std::vector<Gemm>&);  the GEMMs over
//     those weights per GPU, fused as engines run them; FLOPs = 2 x the matrices' params / tp
//   std::vector<int64_t> tp_split_heads(const X&, int64_t tp);    head counts tp must divide
//   int64_t kv_bytes_per_token(const X&, const CacheOptions&);      KV cache added per token
//   int64_t resident_window(const X&, const CacheOptions&);         most tokens kept (0 = all)
//   SsmState state_bytes(const X&, const CacheOptions&);            fixed state per sequence
//   int64_t widest_intermediate(const X&);                          widest per-token activation
//   void add_rope_tables(const X&, int64_t max_context, std::vector<RopeTable>&);  the rotary
//     position tables its engine builds (none for a mixer without RoPE)
//   MixerWork mixer_work(const X&, const CacheOptions&);            FLOPs, bytes, kernels
//   std::string describe(const X&);                                 `kvplan show`
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"

namespace kvplan {

// Every layer kind, named once as it appears in JSON/CSV (`layers.<kind>.*`). A layer's kind is
// its mixer's (an attention layer with a window is sliding_attention), or mlp_only without one.
enum class LayerKind {
  attention,
  sliding_attention,
  chunked_attention,
  mla,
  mla_sparse,
  mamba1,
  mamba2,
  gated_deltanet,
  kda,
  parallel_hybrid,
  mlp_only,
};
inline constexpr std::array kAllLayerKinds = {
    LayerKind::attention, LayerKind::sliding_attention, LayerKind::chunked_attention, LayerKind::mla,
    LayerKind::mla_sparse, LayerKind::mamba1,           LayerKind::mamba2,            LayerKind::gated_deltanet,
    LayerKind::kda,       LayerKind::parallel_hybrid,   LayerKind::mlp_only};
const char* name(LayerKind kind);

// Messages for impossible shapes, prefixed with where the layer is.
struct Checker {
  std::string where;
  void positive(int64_t v, const char* key) const {
    if (v <= 0) throw Error(where + key + " must be positive (got " + std::to_string(v) + ")");
  }
  void non_negative(int64_t v, const char* key) const {
    if (v < 0) throw Error(where + key + " must not be negative (got " + std::to_string(v) + ")");
  }
  void divides(int64_t whole, const char* whole_key, int64_t part, const char* part_key) const {
    if (part > 0 && whole % part != 0)
      fail(std::string(whole_key) + " (" + std::to_string(whole) + ") not divisible by " + part_key + " (" +
           std::to_string(part) + ")");
  }
  [[noreturn]] void fail(const std::string& what) const { throw Error(where + what); }
};

// Attention reads of one mixer: `window` = 0 reads every cached token; else at most `window`
// keys per query (a sliding window, or DeepSeek sparse attention's top-k). `chunked`: the keys
// are those of the query's own chunk of `window` tokens (Llama 4 local attention).
struct AttentionPart {
  int64_t window = 0;
  bool chunked = false;
  int64_t kv_bytes_per_token = 0;     // per GPU, what the decode step reads per key
  double decode_flops_per_key = 0;    // per GPU and sequence, one query against one cached key
  double prefill_flops_per_pair = 0;  // per GPU, one (query, key) pair of the prompt
  int64_t head_dim = 0;               // the prefill kernel's query/key head size (its efficiency)
};

// Weight GEMMs of the same shape that a layer runs in one forward pass, per GPU: each
// [rows, k] x [k, n] with rows = the pass's tokens x rows_per_token (1; the MoE routed experts'
// grouped GEMM: top_k), `count` of them. Under tensor parallelism a column-parallel matrix splits
// n and a row-parallel one k over the tp GPUs; a replicated one (router, ReplicatedLinear) runs
// whole on every GPU.
struct Gemm {
  double n = 0;
  double k = 0;
  double count = 1;
  double rows_per_token = 1;
  bool routed = false;  // a routed expert projection (grouped over the touched experts), not a dense weight
  double flops_per_token() const { return 2.0 * rows_per_token * n * k * count; }
};
// A matrix [out, in] split over tp GPUs by its output (Q/K/V, gate/up, in_proj) or its input
// (o_proj, down_proj, out_proj).
inline Gemm column_parallel(int64_t out, int64_t in, int64_t tp, double count = 1) {
  return {static_cast<double>(out) / static_cast<double>(tp), static_cast<double>(in), count, 1};
}
inline Gemm row_parallel(int64_t out, int64_t in, int64_t tp, double count = 1) {
  return {static_cast<double>(out), static_cast<double>(in) / static_cast<double>(tp), count, 1};
}
inline Gemm replicated(int64_t out, int64_t in, double count = 1) {
  return {static_cast<double>(out), static_cast<double>(in), count, 1};
}

// Kernels a mixer launches per decode step, by the component that owns them (vLLM's decode
// path with CUDA graphs; docs/timing.md "Decode", its kernels per layer).
struct MixerKernels {
  int64_t weights = 0;      // the projections' GEMMs
  int64_t kv_cache = 0;     // attention, split-KV combine
  int64_t ssm_state = 0;    // conv-state update, recurrent-state update
  int64_t elementwise = 0;  // the input norm, inner norms, RoPE, gates, the cache write
  int64_t norms = 0;        // of `elementwise`, the norms (the input norm, per-head Q/K, latent, gated)
  int64_t rotary = 0;       // of `elementwise`, the rotary embedding of Q and K
  // The rotary kernel's (cos, sin) pairs a token, per GPU: (Q heads + K heads) x rotary_dim / 2.
  // A kernel that loops over a token's pairs in one block (vLLM's CUDA custom op) costs more the more
  // pairs, a flat grid over the batch's pairs (the compiled rotary, kvplan's) about the same at any
  // count; the preset may price either (Efficiency::rotary_kernel_overhead_s).
  int64_t rotary_pairs = 0;
};

// The work of one mixer per token, per GPU under tensor parallel degree tp.
// A rotary-embedding cos/sin table as vLLM and SGLang keep it on the GPU: `positions` rows of
// `rotary_dim` values (cos and sin halves) in the model dtype. Layers with the same table share it.
struct RopeTable {
  int64_t positions = 0;
  int64_t rotary_dim = 0;
  bool operator==(const RopeTable&) const = default;
};

struct MixerWork {
  std::vector<AttentionPart> attention;  // empty for recurrent mixers
  int64_t kv_write_bytes_per_token = 0;  // the new token's cache entries
  double scan_flops_per_token = 0;       // conv + recurrent state update
  int64_t scan_bytes_per_token = 0;      // prefill scan's per-token inputs and outputs
  bool scan_on_tensor_cores = false;     // chunked scan on tensor cores (Mamba-2 SSD, delta rule)
  // A Mamba selective state's elements a row (d_state): what its decode update's rate depends on
  // (Efficiency::state_bandwidth); 0 for other recurrent states (linear attention) and none.
  int64_t ssm_d_state = 0;
  // Activation elements per token that the mixer's element-wise kernels read and write, per GPU
  // (RoPE and norms on Q/K, the cache write's read of K and V, convolutions, gated norms); the
  // layer's input norm is the layer's (layer_work.cpp). Priced in prefill (docs/timing.md).
  int64_t elementwise_elements_per_token = 0;
  MixerKernels kernels;
  int64_t allreduces = 1;                // under tp > 1: row-parallel outputs reduced per pass
};

}  // namespace kvplan
