#include "core/layers/parallel_hybrid.h"

#include <algorithm>

namespace kvplan {

LayerKind layer_kind(const ParallelHybrid&) { return LayerKind::parallel_hybrid; }

void check(const ParallelHybrid& p, const Checker& c) {
  check(p.attention, Checker{c.where + "attention: "});
  check(p.mamba, Checker{c.where + "mamba2: "});
}

void add_tensors(const ParallelHybrid& p, int64_t hidden, std::vector<Tensor>& out) {
  add_tensors(p.attention, hidden, out);
  add_tensors(p.mamba, hidden, out);
}

void add_gemms(const ParallelHybrid& p, int64_t hidden, int64_t tp, std::vector<Gemm>& out) {
  add_gemms(p.attention, hidden, tp, out);
  add_gemms(p.mamba, hidden, tp, out);
}

std::vector<int64_t> tp_split_heads(const ParallelHybrid& p, int64_t tp) {
  std::vector<int64_t> out = tp_split_heads(p.attention, tp);
  for (int64_t h : tp_split_heads(p.mamba, tp)) out.push_back(h);
  return out;
}

int64_t kv_bytes_per_token(const ParallelHybrid& p, const CacheOptions& opt) { return kv_bytes_per_token(p.attention, opt); }
int64_t resident_window(const ParallelHybrid& p, const CacheOptions& opt) { return resident_window(p.attention, opt); }
SsmState state_bytes(const ParallelHybrid& p, const CacheOptions& opt) { return state_bytes(p.mamba, opt); }

int64_t widest_intermediate(const ParallelHybrid& p) {
  return widest_intermediate(p.attention) + widest_intermediate(p.mamba);
}

// Both mixers' work; one input norm serves both (the attention's count includes it), and each
// mixer's row-parallel output projection is reduced under tensor parallelism.
MixerWork mixer_work(const ParallelHybrid& p, const CacheOptions& opt) {
  MixerWork w = mixer_work(p.attention, opt);
  const MixerWork m = mixer_work(p.mamba, opt);
  w.scan_flops_per_token = m.scan_flops_per_token;
  w.scan_bytes_per_token = m.scan_bytes_per_token;
  w.scan_on_tensor_cores = m.scan_on_tensor_cores;
  w.ssm_d_state = m.ssm_d_state;
  w.elementwise_elements_per_token += m.elementwise_elements_per_token;
  w.kernels.weights += m.kernels.weights;
  w.kernels.ssm_state += m.kernels.ssm_state;
  w.kernels.elementwise += m.kernels.elementwise - 1;
  w.kernels.norms += m.kernels.norms - 1;  // one input norm for both
  w.allreduces = 2;
  return w;
}

void add_rope_tables(const ParallelHybrid& p, int64_t max_context, std::vector<RopeTable>& out) {
  add_rope_tables(p.attention, max_context, out);
}

std::string describe(const ParallelHybrid& p) {
  return "parallel_hybrid [" + describe(p.attention) + "] + [" + describe(p.mamba) + "]";
}

}  // namespace kvplan
