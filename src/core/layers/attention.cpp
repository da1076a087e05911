#include "core/layers/attention.h"

#include "core/checked.h"

namespace kvplan {

int64_t kv_heads_per_gpu(const Attention& a, int64_t tp) {
  if (a.kv_heads % tp == 0) return a.kv_heads / tp;
  if (tp % a.kv_heads == 0) return 1;
  throw Error("tensor parallel " + std::to_string(tp) + " does not divide " + std::to_string(a.kv_heads) +
              " KV heads (nor do the KV heads divide it), so the KV cache cannot be split evenly");
}

LayerKind layer_kind(const Attention& a) {
  if (a.chunk_size > 0) return LayerKind::chunked_attention;
  return a.sliding_window > 0 ? LayerKind::sliding_attention : LayerKind::attention;
}

void check(const Attention& a, const Checker& c) {
  c.positive(a.heads, "heads");
  c.positive(a.kv_heads, "kv_heads");
  c.positive(a.head_dim, "head_dim");
  c.positive(a.v_head_dim, "v_head_dim");
  c.positive(a.input_size, "input_size");
  c.non_negative(a.sliding_window, "sliding_window");
  c.non_negative(a.chunk_size, "chunk_size");
  c.non_negative(a.rope_positions, "rope_positions");
  if (a.sliding_window > 0 && a.chunk_size > 0) c.fail("a layer has either sliding_window or chunk_size, not both");
  if (a.k_eq_v && a.v_head_dim != a.head_dim)
    c.fail("k_eq_v needs v_head_dim equal to head_dim (got " + std::to_string(a.v_head_dim) + " and " +
           std::to_string(a.head_dim) + ")");
  if (a.qk_norm && a.qk_norm_full) c.fail("a layer has either qk_norm (one weight for all heads) or qk_norm_full (a weight per head), not both");
  if (a.kv_heads > a.heads)
    c.fail("kv_heads (" + std::to_string(a.kv_heads) + ") exceeds heads (" + std::to_string(a.heads) + ")");
  c.divides(a.heads, "heads", a.kv_heads, "kv_heads");
}

void add_tensors(const Attention& a, int64_t hidden, std::vector<Tensor>& out) {
  // A kv-shared layer projects only queries; a k_eq_v layer has no V projection.
  const int64_t q = mul(a.output_gate ? 2 : 1, mul(a.heads, a.head_dim));
  const int64_t k = a.kv_shared ? 0 : mul(a.kv_heads, a.head_dim);
  const int64_t v = a.kv_shared || a.k_eq_v ? 0 : mul(a.kv_heads, a.v_head_dim);
  out.push_back(linear_weight("q_proj", q, a.input_size));
  if (k > 0) out.push_back(linear_weight("k_proj", k, a.input_size));
  if (v > 0) out.push_back(linear_weight("v_proj", v, a.input_size));
  out.push_back(linear_weight("o_proj", hidden, a.heads * a.v_head_dim));
  if (a.qkv_bias) out.push_back(vector_weight("qkv_bias", add(q, add(k, v))));
  if (a.o_bias) out.push_back(vector_weight("o_bias", hidden));
  // q_norm, and k_norm unless the layer has no keys of its own.
  const int64_t key_norms = a.kv_shared ? 0 : 1;
  if (a.qk_norm_full)
    out.push_back(vector_weight("q_norm+k_norm", mul(add(a.heads, key_norms * a.kv_heads), a.head_dim), TensorRole::norm));
  else if (a.qk_norm)
    out.push_back(vector_weight("q_norm+k_norm", (1 + key_norms) * a.head_dim, TensorRole::norm));
  if (a.sinks) out.push_back(vector_weight("sinks", a.heads));
}

// Q, K and V in one GEMM (a kv-shared layer projects only Q, a k_eq_v layer no V), o_proj.
void add_gemms(const Attention& a, int64_t hidden, int64_t tp, std::vector<Gemm>& out) {
  const int64_t q = (a.output_gate ? 2 : 1) * a.heads * a.head_dim;
  const int64_t k = a.kv_shared ? 0 : a.kv_heads * a.head_dim;
  const int64_t v = a.kv_shared || a.k_eq_v ? 0 : a.kv_heads * a.v_head_dim;
  out.push_back(column_parallel(q + k + v, a.input_size, tp));
  out.push_back(row_parallel(hidden, a.heads * a.v_head_dim, tp));
}

std::vector<int64_t> tp_split_heads(const Attention& a, int64_t tp) {
  kv_heads_per_gpu(a, tp);
  return {a.heads};
}

namespace {

// Bytes of one token's K and V entries of the layer's shape, per GPU (a k_eq_v layer caches both).
int64_t entry_bytes(const Attention& a, const CacheOptions& opt) {
  const int64_t heads = kv_heads_per_gpu(a, opt.tp);
  return mul(heads, add(kv_head_vector_bytes(opt.kv_dtype, a.head_dim), kv_head_vector_bytes(opt.kv_dtype, a.v_head_dim)));
}

}  // namespace

int64_t kv_bytes_per_token(const Attention& a, const CacheOptions& opt) {
  return a.kv_shared ? 0 : entry_bytes(a, opt);
}

// A sliding layer keeps its window and a chunked one its current chunk (min(N, chunk) at most),
// when the engine frees the tokens it no longer reads (SlidingCache::window, the default).
int64_t resident_window(const Attention& a, const CacheOptions& opt) {
  if (opt.sliding == SlidingCache::full) return 0;
  return a.chunk_size > 0 ? a.chunk_size : a.sliding_window;
}

SsmState state_bytes(const Attention&, const CacheOptions&) { return {}; }

int64_t widest_intermediate(const Attention& a) {
  return (a.output_gate ? 2 : 1) * a.heads * a.head_dim + a.kv_heads * (a.head_dim + a.v_head_dim);
}

// The rotary dim is taken as the head dim (a partial-rotary model's table is smaller).
void add_rope_tables(const Attention& a, int64_t max_context, std::vector<RopeTable>& out) {
  if (!a.rope) return;
  const int64_t positions = a.rope_positions > 0 ? a.rope_positions : max_context;
  if (positions > 0) out.push_back({positions, a.head_dim});
}

// QK^T + PV: 2 x head_dim + 2 x v_head_dim FLOPs per head for one (query, key) pair.
MixerWork mixer_work(const Attention& a, const CacheOptions& opt) {
  MixerWork w;
  const double f = 2.0 * static_cast<double>(a.heads) / static_cast<double>(opt.tp) *
                   static_cast<double>(a.head_dim + a.v_head_dim);
  const int64_t kv = entry_bytes(a, opt);  // a kv-shared layer reads the earlier layer's entries
  const int64_t window = a.chunk_size > 0 ? a.chunk_size : a.sliding_window;
  w.attention.push_back({window, a.chunk_size > 0, kv, f, f, a.head_dim});
  w.kv_write_bytes_per_token = kv_bytes_per_token(a, opt);
  // Element-wise, per token: RoPE rotates Q and K in place (read + write), per-head Q/K norms the
  // same again, the cache write reads K and V, an output gate reads O and the gate and writes O.
  const int64_t q = a.heads / opt.tp * a.head_dim;
  const int64_t k = a.kv_shared ? 0 : kv_heads_per_gpu(a, opt.tp) * a.head_dim;
  const int64_t v = a.kv_shared ? 0 : kv_heads_per_gpu(a, opt.tp) * a.v_head_dim;
  w.elementwise_elements_per_token = (a.rope ? 2 * (q + k) : 0) + ((a.qk_norm || a.qk_norm_full) ? 2 * (q + k) : 0) + k + v +
                                     (a.output_gate ? 3 * (a.heads / opt.tp) * a.v_head_dim : 0);
  // GEMMs: fused QKV, o_proj | attention (split-KV), combine | input norm, the per-head Q/K norm
  // where the model has one, RoPE where it has it, the cache write (not in a kv-shared layer), the output gate.
  w.kernels = {.weights = 2,
               .kv_cache = 2,
               .ssm_state = 0,
               .elementwise = 1 + (a.rope ? 1 : 0) + ((a.qk_norm || a.qk_norm_full) ? 1 : 0) + (a.kv_shared ? 0 : 1) +
                              (a.output_gate ? 1 : 0),
               .norms = 1 + ((a.qk_norm || a.qk_norm_full) ? 1 : 0),
               .rotary = a.rope ? 1 : 0,
               .rotary_pairs = a.rope ? (q + kv_heads_per_gpu(a, opt.tp) * a.head_dim) / 2 : 0};
  return w;
}

std::string describe(const Attention& a) {
  std::string s = "attention " + std::to_string(a.heads) + " heads / " + std::to_string(a.kv_heads) +
                  " KV x head_dim " + std::to_string(a.head_dim);
  if (a.v_head_dim != a.head_dim) s += " (v " + std::to_string(a.v_head_dim) + ")";
  if (a.sliding_window > 0) s += ", sliding window " + std::to_string(a.sliding_window);
  if (a.chunk_size > 0) s += ", chunks of " + std::to_string(a.chunk_size);
  if (a.qkv_bias) s += ", qkv bias";
  if (a.qk_norm) s += ", qk norm";
  if (a.qk_norm_full) s += ", qk norm per head";
  if (a.sinks) s += ", sinks";
  if (a.output_gate) s += ", output gate";
  if (a.k_eq_v) s += ", V = K projection";
  if (a.kv_shared) s += ", reads an earlier layer's KV";
  if (!a.rope) s += ", no RoPE";
  if (a.rope && a.rope_positions > 0) s += ", RoPE table " + std::to_string(a.rope_positions) + " positions";
  return s;
}

}  // namespace kvplan
