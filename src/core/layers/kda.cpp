#include "core/layers/kda.h"

#include "core/checked.h"

namespace kvplan {

LayerKind layer_kind(const Kda&) { return LayerKind::kda; }

void check(const Kda& k, const Checker& c) {
  c.positive(k.heads, "heads");
  c.positive(k.head_dim, "head_dim");
  c.positive(k.d_conv, "d_conv");
}

// Kimi-Linear checkpoint (moonshotai/Kimi-Linear-48B-A3B-Instruct, modeling_kimi.py): q/k/v_proj
// [P, hidden]; depthwise q/k/v_conv1d [P, 1, d_conv] without bias; the low-rank forget gate
// f_a_proj [head_dim, hidden] -> f_b_proj [P, head_dim] and output gate g_a_proj -> g_b_proj of the
// same shapes; b_proj [heads, hidden] (beta); A_log per head and dt_bias per channel; the gated
// RMSNorm o_norm over head_dim; o_proj [hidden, P]. P = heads x head_dim. f_a and g_a are
// replicated on every GPU under tensor parallelism (ReplicatedLinear in vLLM's and SGLang's KDA).
void add_tensors(const Kda& k, int64_t hidden, std::vector<Tensor>& out) {
  const int64_t p = k.proj_dim();
  out.push_back(linear_weight("q_proj+k_proj+v_proj", 3 * p, hidden));
  out.push_back(plain_matrix("q/k/v_conv1d", 3 * p, k.d_conv));
  out.push_back(replicated_linear("f_a_proj+g_a_proj", 2 * k.head_dim, hidden));
  out.push_back(linear_weight("f_b_proj+g_b_proj", 2 * p, k.head_dim));
  out.push_back(linear_weight("b_proj", k.heads, hidden));
  out.push_back(vector_weight("A_log+dt_bias", k.heads + p));
  out.push_back(vector_weight("o_norm", k.head_dim, TensorRole::norm));
  out.push_back(linear_weight("o_proj", hidden, p));
}

// q/k/v in one GEMM; the forget and output gates' low-rank pairs f_a, g_a (from the hidden state)
// and f_b, g_b (from their head_dim latents), two GEMMs of each shape; b_proj; o_proj.
void add_gemms(const Kda& k, int64_t hidden, int64_t tp, std::vector<Gemm>& out) {
  const int64_t p = k.proj_dim();
  out.push_back(column_parallel(3 * p, hidden, tp));
  out.push_back(replicated(k.head_dim, hidden, 2));
  out.push_back(column_parallel(p, k.head_dim, tp, 2));
  out.push_back(column_parallel(k.heads, hidden, tp));
  out.push_back(row_parallel(hidden, p, tp));
}

std::vector<int64_t> tp_split_heads(const Kda& k, int64_t) { return {k.heads}; }

int64_t kv_bytes_per_token(const Kda&, const CacheOptions&) { return 0; }
int64_t resident_window(const Kda&, const CacheOptions&) { return 0; }

// vLLM kda_state_shape: three conv states (q, k, v) of (d_conv - 1) x P/tp each, and the
// recurrent state heads/tp x head_dim x head_dim (in the engine's KDA state dtype where it has one).
SsmState state_bytes(const Kda& k, const CacheOptions& opt) {
  return {element_bytes(opt.conv(), mul(3, k.proj_dim() / opt.tp, opt.conv_columns(k.d_conv))),
          element_bytes(opt.kda_state_dtype.value_or(opt.state_dtype), mul(k.heads / opt.tp, k.head_dim, k.head_dim))};
}

// q, k, v, the forget gate and the output gate (P each) and beta (one per head).
int64_t widest_intermediate(const Kda& k) { return 5 * k.proj_dim() + k.heads; }

// Recurrent form per token and head, with S the head_dim x head_dim state: per-channel decay
// (kv), read S^T k (2kv), rank-one delta update (2kv), output S^T q (2kv) = 7kv FLOPs, as for
// Gated DeltaNet; plus the three convs (2 FLOPs per channel and tap). Prefill's chunked delta rule
// runs on tensor cores and reads q, k, v, the forget gate and beta and writes the output, 16-bit.
MixerWork mixer_work(const Kda& k, const CacheOptions& opt) {
  MixerWork w;
  const double tp = static_cast<double>(opt.tp);
  const double p = static_cast<double>(k.proj_dim()) / tp;
  w.scan_flops_per_token = 2.0 * 3.0 * p * static_cast<double>(k.d_conv) +
                           7.0 * static_cast<double>(k.heads) / tp * static_cast<double>(k.head_dim * k.head_dim);
  w.scan_bytes_per_token = 2 * ((5 * k.proj_dim() + k.heads) / opt.tp);
  w.scan_on_tensor_cores = true;
  // Element-wise: the three causal convolutions read and write q, k, v; the gated RMSNorm reads the
  // output and the gate and writes its output.
  w.elementwise_elements_per_token = 2 * 3 * (k.proj_dim() / opt.tp) + 3 * (k.proj_dim() / opt.tp);
  // GEMMs: q/k/v, f_a, f_b, g_a, g_b, b_proj, o_proj | conv update, delta-rule update | norm, gated RMSNorm
  w.kernels = {.weights = 7, .kv_cache = 0, .ssm_state = 2, .elementwise = 2, .norms = 2};
  return w;
}

std::string describe(const Kda& k) {
  return "kda " + std::to_string(k.heads) + " heads x " + std::to_string(k.head_dim) + ", d_conv " +
         std::to_string(k.d_conv);
}

}  // namespace kvplan
