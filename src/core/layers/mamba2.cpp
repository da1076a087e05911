#include "core/layers/mamba2.h"

#include "core/checked.h"

namespace kvplan {

LayerKind layer_kind(const Mamba2&) { return LayerKind::mamba2; }

void check(const Mamba2& m, const Checker& c) {
  c.positive(m.n_heads, "n_heads");
  c.positive(m.head_dim, "head_dim");
  c.positive(m.n_groups, "n_groups");
  c.positive(m.d_state, "d_state");
  c.positive(m.d_conv, "d_conv");
  c.divides(m.n_heads, "n_heads", m.n_groups, "n_groups");
}

// transformers Mamba2Mixer: in_proj -> [z, x, B, C, dt], conv1d over x,B,C, gated RMSNorm, out_proj.
void add_tensors(const Mamba2& s, int64_t hidden, std::vector<Tensor>& out) {
  const int64_t in_out = 2 * s.d_inner() + 2 * s.n_groups * s.d_state + s.n_heads;
  out.push_back(linear_weight("in_proj", in_out, hidden));
  if (s.proj_bias) out.push_back(vector_weight("in_proj.bias", in_out));
  out.push_back(plain_matrix("conv1d", s.conv_dim(), s.d_conv));
  if (s.conv_bias) out.push_back(vector_weight("conv1d.bias", s.conv_dim()));
  out.push_back(vector_weight("dt_bias+A_log+D", 3 * s.n_heads));
  if (s.gated_norm) out.push_back(vector_weight("norm", s.d_inner(), TensorRole::norm));
  out.push_back(linear_weight("out_proj", hidden, s.d_inner()));
  if (s.proj_bias) out.push_back(vector_weight("out_proj.bias", hidden));
}

// in_proj (z, x, B, C, dt), out_proj.
void add_gemms(const Mamba2& s, int64_t hidden, int64_t tp, std::vector<Gemm>& out) {
  out.push_back(column_parallel(2 * s.d_inner() + 2 * s.n_groups * s.d_state + s.n_heads, hidden, tp));
  out.push_back(row_parallel(hidden, s.d_inner(), tp));
}

std::vector<int64_t> tp_split_heads(const Mamba2& m, int64_t) { return {m.n_heads}; }

int64_t kv_bytes_per_token(const Mamba2&, const CacheOptions&) { return 0; }
int64_t resident_window(const Mamba2&, const CacheOptions&) { return 0; }

// Under TP each rank holds its heads' x channels and (vLLM) a full copy of B and C when
// n_groups < tp; we split groups when they divide and replicate otherwise.
SsmState state_bytes(const Mamba2& s, const CacheOptions& opt) {
  const int64_t heads = s.n_heads / opt.tp;
  const int64_t groups = s.n_groups % opt.tp == 0 ? s.n_groups / opt.tp : s.n_groups;
  const int64_t conv_dim = add(mul(heads, s.head_dim), mul(2, groups, s.d_state));
  return {element_bytes(opt.conv(), mul(conv_dim, opt.conv_columns(s.d_conv))),
          element_bytes(opt.state_dtype, mul(heads, s.head_dim, s.d_state))};
}

int64_t widest_intermediate(const Mamba2& s) { return 2 * s.d_inner() + 2 * s.n_groups * s.d_state + s.n_heads; }

// Recurrent form per token: the conv (2 FLOPs per channel and tap) plus, per (head channel,
// state) with dA a scalar per head, h = dA*h + (dt*x)*B, y += C*h = 5 FLOPs. Prefill's chunked SSD
// runs on tensor cores and reads x (d_inner), dt (per head), B, C; writes y (d_inner); 16-bit. The
// gate z is applied by the gated RMSNorm after it (element-wise below), not by the scan.
MixerWork mixer_work(const Mamba2& s, const CacheOptions& opt) {
  MixerWork w;
  const double tp = static_cast<double>(opt.tp);
  const double d_inner = static_cast<double>(s.d_inner() / opt.tp);
  const double conv = static_cast<double>(s.conv_dim()) / tp;
  w.scan_flops_per_token = 2.0 * conv * static_cast<double>(s.d_conv) + 5.0 * d_inner * static_cast<double>(s.d_state);
  w.scan_bytes_per_token = 2 * (2 * s.d_inner() / opt.tp + s.n_heads / opt.tp + 2 * s.n_groups * s.d_state);
  w.scan_on_tensor_cores = true;
  w.ssm_d_state = s.d_state;
  // Element-wise: the causal convolution reads and writes x, B, C; the gated RMSNorm reads y and z
  // and writes its output (without the norm, Falcon-H1's mamba_rms_norm false, vLLM's
  // Mixer2RMSNormGated still gates y by silu(z) in one point-wise kernel of the same bytes).
  w.elementwise_elements_per_token = 2 * (s.conv_dim() / opt.tp) + 3 * (s.d_inner() / opt.tp);
  // GEMMs: in_proj, out_proj | conv-state update, selective-state update | norm, gated RMSNorm (or
  // the gate alone, a point-wise kernel, not a norm)
  w.kernels = {.weights = 2, .kv_cache = 0, .ssm_state = 2, .elementwise = 2, .norms = s.gated_norm ? 2 : 1};
  return w;
}

std::string describe(const Mamba2& s) {
  return "mamba2 " + std::to_string(s.n_heads) + " heads x " + std::to_string(s.head_dim) + ", " +
         std::to_string(s.n_groups) + " groups, d_state " + std::to_string(s.d_state) + ", d_conv " +
         std::to_string(s.d_conv);
}

}  // namespace kvplan
