// Kimi Delta Attention (Kimi-Linear, arXiv 2510.26692): a gated delta rule with a per-channel
// forget gate. No KV cache; a fixed per-sequence state of three short-conv windows (q, k, v) and
// one head_dim x head_dim matrix per head (fla KimiDeltaAttention; vLLM
// MambaStateShapeCalculator.kda_state_shape).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/cache_options.h"
#include "core/layers/common.h"
#include "core/tensor.h"

namespace kvplan {

struct Kda {
  static constexpr const char* kKind = "kda";
  int64_t heads = 0;     // linear_attn_config.num_heads
  int64_t head_dim = 0;  // linear_attn_config.head_dim (keys and values alike)
  int64_t d_conv = 0;    // linear_attn_config.short_conv_kernel_size
  // Width of each of the q, k and v projections.
  int64_t proj_dim() const { return heads * head_dim; }
  bool operator==(const Kda&) const = default;

  template <class Reader>
  static Kda read(Reader& r, int64_t) {
    Kda k;
    k.heads = r.integer("heads");
    k.head_dim = r.integer("head_dim");
    k.d_conv = r.integer("d_conv");
    return k;
  }
};

LayerKind layer_kind(const Kda& k);
void check(const Kda& k, const Checker& c);
void add_tensors(const Kda& k, int64_t hidden, std::vector<Tensor>& out);
void add_gemms(const Kda& k, int64_t hidden, int64_t tp, std::vector<Gemm>& out);
std::vector<int64_t> tp_split_heads(const Kda& k, int64_t tp);
int64_t kv_bytes_per_token(const Kda& k, const CacheOptions& opt);
int64_t resident_window(const Kda& k, const CacheOptions& opt);
SsmState state_bytes(const Kda& k, const CacheOptions& opt);
int64_t widest_intermediate(const Kda& k);
// No RoPE.
inline void add_rope_tables(const Kda&, int64_t, std::vector<RopeTable>&) {}
MixerWork mixer_work(const Kda& k, const CacheOptions& opt);
std::string describe(const Kda& k);

}  // namespace kvplan
