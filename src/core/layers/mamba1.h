// Mamba-1 selective SSM (arXiv 2312.00752; transformers MambaMixer): a fixed conv window and
// d_inner x d_state recurrent state per sequence.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/cache_options.h"
#include "core/layers/common.h"
#include "core/tensor.h"

namespace kvplan {

struct Mamba1 {
  static constexpr const char* kKind = "mamba1";
  int64_t d_inner = 0;
  int64_t d_state = 0;
  int64_t d_conv = 0;
  int64_t dt_rank = 0;
  bool conv_bias = true;
  bool proj_bias = false;
  bool bc_dt_norm = false;  // Falcon-Mamba's RMS norms on B, C and dt (parameter-free)
  bool operator==(const Mamba1&) const = default;

  template <class Reader>
  static Mamba1 read(Reader& r, int64_t) {
    Mamba1 m;
    m.d_inner = r.integer("d_inner");
    m.d_state = r.integer("d_state");
    m.d_conv = r.integer("d_conv");
    m.dt_rank = r.integer("dt_rank");
    m.conv_bias = r.boolean("conv_bias", true);
    m.proj_bias = r.boolean("proj_bias", false);
    m.bc_dt_norm = r.boolean("bc_dt_norm", false);
    return m;
  }
};

LayerKind layer_kind(const Mamba1& m);
void check(const Mamba1& m, const Checker& c);
void add_tensors(const Mamba1& m, int64_t hidden, std::vector<Tensor>& out);
void add_gemms(const Mamba1& s, int64_t hidden, int64_t tp, std::vector<Gemm>& out);
std::vector<int64_t> tp_split_heads(const Mamba1& m, int64_t tp);
int64_t kv_bytes_per_token(const Mamba1& m, const CacheOptions& opt);
int64_t resident_window(const Mamba1& m, const CacheOptions& opt);
SsmState state_bytes(const Mamba1& m, const CacheOptions& opt);
int64_t widest_intermediate(const Mamba1& m);
// No RoPE.
inline void add_rope_tables(const Mamba1&, int64_t, std::vector<RopeTable>&) {}
MixerWork mixer_work(const Mamba1& m, const CacheOptions& opt);
std::string describe(const Mamba1& m);

}  // namespace kvplan
