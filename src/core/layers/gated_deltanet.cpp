#include "core/layers/gated_deltanet.h"

#include "core/checked.h"

namespace kvplan {

LayerKind layer_kind(const GatedDeltaNet&) { return LayerKind::gated_deltanet; }

void check(const GatedDeltaNet& g, const Checker& c) {
  c.positive(g.k_heads, "k_heads");
  c.positive(g.v_heads, "v_heads");
  c.positive(g.k_head_dim, "k_head_dim");
  c.positive(g.v_head_dim, "v_head_dim");
  c.positive(g.d_conv, "d_conv");
  c.divides(g.v_heads, "v_heads", g.k_heads, "k_heads");
}

// transformers Qwen3NextGatedDeltaNet: in_proj_qkvz [2 key_dim + 2 value_dim, hidden] (Qwen3.5
// splits it into in_proj_qkv and in_proj_z, the same sizes), in_proj_ba [2 v_heads, hidden],
// depthwise conv1d [conv_dim, d_conv] without bias, dt_bias and A_log per value head, the gated
// RMSNorm over v_head_dim, out_proj [hidden, value_dim].
void add_tensors(const GatedDeltaNet& g, int64_t hidden, std::vector<Tensor>& out) {
  out.push_back(linear_weight("in_proj_qkvz", 2 * g.key_dim() + 2 * g.value_dim(), hidden));
  out.push_back(linear_weight("in_proj_ba", 2 * g.v_heads, hidden));
  out.push_back(plain_matrix("conv1d", g.conv_dim(), g.d_conv));
  out.push_back(vector_weight("dt_bias+A_log", 2 * g.v_heads));
  out.push_back(vector_weight("norm", g.v_head_dim, TensorRole::norm));
  out.push_back(linear_weight("out_proj", hidden, g.value_dim()));
}

// in_proj_qkvz, in_proj_ba, out_proj.
void add_gemms(const GatedDeltaNet& g, int64_t hidden, int64_t tp, std::vector<Gemm>& out) {
  out.push_back(column_parallel(2 * g.key_dim() + 2 * g.value_dim(), hidden, tp));
  out.push_back(column_parallel(2 * g.v_heads, hidden, tp));
  out.push_back(row_parallel(hidden, g.value_dim(), tp));
}

std::vector<int64_t> tp_split_heads(const GatedDeltaNet& g, int64_t) { return {g.k_heads, g.v_heads}; }

int64_t kv_bytes_per_token(const GatedDeltaNet&, const CacheOptions&) { return 0; }
int64_t resident_window(const GatedDeltaNet&, const CacheOptions&) { return 0; }

// Conv state: conv_dim / tp channels x (d_conv - 1) columns; recurrent state: v_heads / tp
// matrices of k_head_dim x v_head_dim (vLLM gated_delta_net_state_shape).
SsmState state_bytes(const GatedDeltaNet& g, const CacheOptions& opt) {
  return {element_bytes(opt.conv(), mul(g.conv_dim() / opt.tp, add(opt.conv_columns(g.d_conv), opt.speculative_conv_columns))),
          element_bytes(opt.state_dtype, mul(g.v_heads / opt.tp, g.k_head_dim, g.v_head_dim))};
}

int64_t widest_intermediate(const GatedDeltaNet& g) { return 2 * g.key_dim() + 2 * g.value_dim() + 2 * g.v_heads; }

// Recurrent form per token and value head, with S the k x v state: decay S *= g (kv), read
// S^T k (2kv), rank-one update S += k (beta (v - S^T k))^T (2kv), output S^T q (2kv) = 7kv FLOPs;
// plus the conv (2 FLOPs per channel and tap). Prefill's chunked delta rule runs on tensor cores
// and reads q, k, v, z, beta, g and writes the output, 16-bit.
MixerWork mixer_work(const GatedDeltaNet& g, const CacheOptions& opt) {
  MixerWork w;
  const double tp = static_cast<double>(opt.tp);
  const double heads = static_cast<double>(g.v_heads) / tp;
  w.scan_flops_per_token = 2.0 * static_cast<double>(g.conv_dim()) / tp * static_cast<double>(g.d_conv) +
                           7.0 * heads * static_cast<double>(g.k_head_dim * g.v_head_dim);
  w.scan_bytes_per_token = 2 * ((2 * g.key_dim() + 3 * g.value_dim() + 2 * g.v_heads) / opt.tp);
  w.scan_on_tensor_cores = true;
  // Element-wise: the causal convolution reads and writes q, k, v; the gated RMSNorm reads the
  // output and z and writes its output.
  w.elementwise_elements_per_token = 2 * (g.conv_dim() / opt.tp) + 3 * (g.value_dim() / opt.tp);
  // GEMMs: in_proj_qkvz, in_proj_ba, out_proj | conv update, delta-rule update | norm, gated RMSNorm
  w.kernels = {.weights = 3, .kv_cache = 0, .ssm_state = 2, .elementwise = 2, .norms = 2};
  return w;
}

std::string describe(const GatedDeltaNet& g) {
  return "gated_deltanet " + std::to_string(g.k_heads) + " qk heads x " + std::to_string(g.k_head_dim) + ", " +
         std::to_string(g.v_heads) + " v heads x " + std::to_string(g.v_head_dim) + ", d_conv " +
         std::to_string(g.d_conv);
}

}  // namespace kvplan
