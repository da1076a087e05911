// Gated DeltaNet linear attention (arXiv 2412.06464; Qwen3-Next, Qwen3.5): no KV cache, a fixed
// per-sequence state of a conv window over q, k, v and one k_head_dim x v_head_dim matrix per
// value head (transformers Qwen3NextGatedDeltaNet; vLLM MambaStateShapeCalculator.gated_delta_net).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/cache_options.h"
#include "core/layers/common.h"
#include "core/tensor.h"

namespace kvplan {

struct GatedDeltaNet {
  static constexpr const char* kKind = "gated_deltanet";
  int64_t k_heads = 0;     // linear_num_key_heads (q and k)
  int64_t v_heads = 0;     // linear_num_value_heads
  int64_t k_head_dim = 0;  // linear_key_head_dim
  int64_t v_head_dim = 0;  // linear_value_head_dim
  int64_t d_conv = 0;      // linear_conv_kernel_dim
  int64_t key_dim() const { return k_heads * k_head_dim; }
  int64_t value_dim() const { return v_heads * v_head_dim; }
  // Channels through the depthwise causal conv: q, k and v.
  int64_t conv_dim() const { return 2 * key_dim() + value_dim(); }
  bool operator==(const GatedDeltaNet&) const = default;

  template <class Reader>
  static GatedDeltaNet read(Reader& r, int64_t) {
    GatedDeltaNet g;
    g.k_heads = r.integer("k_heads");
    g.v_heads = r.integer("v_heads");
    g.k_head_dim = r.integer("k_head_dim");
    g.v_head_dim = r.integer("v_head_dim");
    g.d_conv = r.integer("d_conv");
    return g;
  }
};

LayerKind layer_kind(const GatedDeltaNet& g);
void check(const GatedDeltaNet& g, const Checker& c);
void add_tensors(const GatedDeltaNet& g, int64_t hidden, std::vector<Tensor>& out);
void add_gemms(const GatedDeltaNet& g, int64_t hidden, int64_t tp, std::vector<Gemm>& out);
std::vector<int64_t> tp_split_heads(const GatedDeltaNet& g, int64_t tp);
int64_t kv_bytes_per_token(const GatedDeltaNet& g, const CacheOptions& opt);
int64_t resident_window(const GatedDeltaNet& g, const CacheOptions& opt);
SsmState state_bytes(const GatedDeltaNet& g, const CacheOptions& opt);
int64_t widest_intermediate(const GatedDeltaNet& g);
// No RoPE.
inline void add_rope_tables(const GatedDeltaNet&, int64_t, std::vector<RopeTable>&) {}
MixerWork mixer_work(const GatedDeltaNet& g, const CacheOptions& opt);
std::string describe(const GatedDeltaNet& g);

}  // namespace kvplan
