#include "core/layers/mamba1.h"

#include "core/checked.h"

namespace kvplan {

LayerKind layer_kind(const Mamba1&) { return LayerKind::mamba1; }

void check(const Mamba1& m, const Checker& c) {
  c.positive(m.d_inner, "d_inner");
  c.positive(m.d_state, "d_state");
  c.positive(m.d_conv, "d_conv");
  c.positive(m.dt_rank, "dt_rank");
}

// transformers MambaMixer: in_proj, conv1d, x_proj, dt_proj (always biased), A_log, D, out_proj.
void add_tensors(const Mamba1& s, int64_t hidden, std::vector<Tensor>& out) {
  out.push_back(linear_weight("in_proj", 2 * s.d_inner, hidden));
  if (s.proj_bias) out.push_back(vector_weight("in_proj.bias", 2 * s.d_inner));
  out.push_back(plain_matrix("conv1d", s.d_inner, s.d_conv));
  if (s.conv_bias) out.push_back(vector_weight("conv1d.bias", s.d_inner));
  out.push_back(linear_weight("x_proj", s.dt_rank + 2 * s.d_state, s.d_inner));
  out.push_back(linear_weight("dt_proj", s.d_inner, s.dt_rank));
  out.push_back(vector_weight("dt_proj.bias", s.d_inner));
  out.push_back(plain_matrix("A_log", s.d_inner, s.d_state));
  out.push_back(vector_weight("D", s.d_inner));
  out.push_back(linear_weight("out_proj", hidden, s.d_inner));
  if (s.proj_bias) out.push_back(vector_weight("out_proj.bias", hidden));
}

// in_proj (x and z), x_proj (dt, B, C from the rank's channels), dt_proj, out_proj.
void add_gemms(const Mamba1& s, int64_t hidden, int64_t tp, std::vector<Gemm>& out) {
  out.push_back(column_parallel(2 * s.d_inner, hidden, tp));
  out.push_back(row_parallel(s.dt_rank + 2 * s.d_state, s.d_inner, tp));
  out.push_back(column_parallel(s.d_inner, s.dt_rank, tp));
  out.push_back(row_parallel(hidden, s.d_inner, tp));
}

std::vector<int64_t> tp_split_heads(const Mamba1& m, int64_t) { return {m.d_inner}; }

int64_t kv_bytes_per_token(const Mamba1&, const CacheOptions&) { return 0; }
int64_t resident_window(const Mamba1&, const CacheOptions&) { return 0; }

SsmState state_bytes(const Mamba1& s, const CacheOptions& opt) {
  const int64_t d_inner = s.d_inner / opt.tp;
  return {element_bytes(opt.conv(), mul(d_inner, opt.conv_columns(s.d_conv))),
          element_bytes(opt.state_dtype, mul(d_inner, s.d_state))};
}

int64_t widest_intermediate(const Mamba1& s) { return 2 * s.d_inner; }

// Recurrent form per token: the causal conv (2 FLOPs per channel and tap) plus, per (channel,
// state), exp(dt*A), dt*B*x, h = dA*h + dBx, y += C*h = 8 FLOPs. The prefill scan reads x, z, dt
// (d_inner each) and B, C, and writes y, in 16 bits.
MixerWork mixer_work(const Mamba1& s, const CacheOptions& opt) {
  MixerWork w;
  const double d_inner = static_cast<double>(s.d_inner / opt.tp);
  w.scan_flops_per_token = d_inner * (2.0 * static_cast<double>(s.d_conv) + 8.0 * static_cast<double>(s.d_state));
  w.scan_bytes_per_token = 2 * (4 * (s.d_inner / opt.tp) + 2 * s.d_state);
  w.ssm_d_state = s.d_state;
  // Element-wise: the causal convolution reads and writes x (the gate is fused into the scan).
  w.elementwise_elements_per_token = 2 * (s.d_inner / opt.tp);
  // GEMMs: in_proj, x_proj, dt_proj, out_proj | conv-state update, selective-state update | norm
  w.kernels = {.weights = 4, .kv_cache = 0, .ssm_state = 2, .elementwise = 1, .norms = 1};
  if (s.bc_dt_norm) {
    // Falcon-Mamba: vLLM's MambaMixer with use_rms_norm runs an RMSNorm on each of dt, B and C
    // after x_proj (vllm/model_executor/layers/mamba/mamba_mixer.py _ssm_transform; models/mamba.py
    // sets it for falcon_mamba), each reading and writing its slice of x_proj's output. Rows of 256
    // and 16 elements: priced as the point-wise kernels, not as the hidden-size norms
    // norm_kernel_overhead_s measures (H100, 2026-12-05: about 2.0 us a kernel in a graph against
    // 2.75; docs/timing.md).
    w.kernels.elementwise += 3;
    w.elementwise_elements_per_token += 2 * (s.dt_rank + 2 * s.d_state);
  }
  return w;
}

std::string describe(const Mamba1& s) {
  return "mamba1 d_inner " + std::to_string(s.d_inner) + ", d_state " + std::to_string(s.d_state) + ", d_conv " +
         std::to_string(s.d_conv) + ", dt_rank " + std::to_string(s.dt_rank);
}

}  // namespace kvplan
