// Mamba-2 SSD layer (arXiv 2405.21060; transformers Mamba2Mixer): a conv window over x, B, C and
// an n_heads x head_dim x d_state recurrent state per sequence.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/cache_options.h"
#include "core/layers/common.h"
#include "core/tensor.h"

namespace kvplan {

struct Mamba2 {
  static constexpr const char* kKind = "mamba2";
  int64_t n_heads = 0;
  int64_t head_dim = 0;
  int64_t n_groups = 0;
  int64_t d_state = 0;
  int64_t d_conv = 0;
  bool conv_bias = true;
  bool proj_bias = false;
  bool gated_norm = true;  // RMSNorm on y gated by z before out_proj (Falcon-H1's mamba_rms_norm may drop it)
  int64_t d_inner() const { return n_heads * head_dim; }
  // Channels that go through the causal conv: x, B and C.
  int64_t conv_dim() const { return d_inner() + 2 * n_groups * d_state; }
  bool operator==(const Mamba2&) const = default;

  template <class Reader>
  static Mamba2 read(Reader& r, int64_t) {
    Mamba2 m;
    m.n_heads = r.integer("n_heads");
    m.head_dim = r.integer("head_dim");
    m.n_groups = r.integer("n_groups");
    m.d_state = r.integer("d_state");
    m.d_conv = r.integer("d_conv");
    m.conv_bias = r.boolean("conv_bias", true);
    m.proj_bias = r.boolean("proj_bias", false);
    m.gated_norm = r.boolean("gated_norm", true);
    return m;
  }
};

LayerKind layer_kind(const Mamba2& m);
void check(const Mamba2& m, const Checker& c);
void add_tensors(const Mamba2& m, int64_t hidden, std::vector<Tensor>& out);
void add_gemms(const Mamba2& s, int64_t hidden, int64_t tp, std::vector<Gemm>& out);
std::vector<int64_t> tp_split_heads(const Mamba2& m, int64_t tp);
int64_t kv_bytes_per_token(const Mamba2& m, const CacheOptions& opt);
int64_t resident_window(const Mamba2& m, const CacheOptions& opt);
SsmState state_bytes(const Mamba2& m, const CacheOptions& opt);
int64_t widest_intermediate(const Mamba2& m);
// No RoPE.
inline void add_rope_tables(const Mamba2&, int64_t, std::vector<RopeTable>&) {}
MixerWork mixer_work(const Mamba2& m, const CacheOptions& opt);
std::string describe(const Mamba2& m);

}  // namespace kvplan
