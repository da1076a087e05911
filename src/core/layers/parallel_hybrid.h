// A layer that runs attention and a Mamba-2 mixer side by side on the same input and sums their
// outputs (Falcon-H1, arXiv 2507.22448): the KV cache of the attention plus the Mamba-2 state.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/layers/attention.h"
#include "core/layers/mamba2.h"

namespace kvplan {

struct ParallelHybrid {
  static constexpr const char* kKind = "parallel_hybrid";
  Attention attention;
  Mamba2 mamba;
  bool operator==(const ParallelHybrid&) const = default;

  template <class Reader>
  static ParallelHybrid read(Reader& r, int64_t hidden) {
    ParallelHybrid p;
    p.attention = r.template sub<Attention>("attention", hidden);
    p.mamba = r.template sub<Mamba2>("mamba2", hidden);
    return p;
  }
};

LayerKind layer_kind(const ParallelHybrid& p);
void check(const ParallelHybrid& p, const Checker& c);
void add_tensors(const ParallelHybrid& p, int64_t hidden, std::vector<Tensor>& out);
void add_gemms(const ParallelHybrid& p, int64_t hidden, int64_t tp, std::vector<Gemm>& out);
std::vector<int64_t> tp_split_heads(const ParallelHybrid& p, int64_t tp);
int64_t kv_bytes_per_token(const ParallelHybrid& p, const CacheOptions& opt);
int64_t resident_window(const ParallelHybrid& p, const CacheOptions& opt);
SsmState state_bytes(const ParallelHybrid& p, const CacheOptions& opt);
int64_t widest_intermediate(const ParallelHybrid& p);
void add_rope_tables(const ParallelHybrid& p, int64_t max_context, std::vector<RopeTable>& out);
MixerWork mixer_work(const ParallelHybrid& p, const CacheOptions& opt);
std::string describe(const ParallelHybrid& p);

}  // namespace kvplan
