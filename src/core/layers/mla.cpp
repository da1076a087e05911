#include "core/layers/mla.h"

#include "core/checked.h"

namespace kvplan {

int64_t index_key_bytes(const Mla& m) { return m.index_head_dim + 4 * ceil_div(m.index_head_dim, 128); }

LayerKind layer_kind(const Mla& m) { return m.index_topk > 0 ? LayerKind::mla_sparse : LayerKind::mla; }

void check(const Mla& m, const Checker& c) {
  c.positive(m.heads, "heads");
  c.non_negative(m.q_lora_rank, "q_lora_rank");
  c.positive(m.kv_lora_rank, "kv_lora_rank");
  c.positive(m.qk_nope_head_dim, "qk_nope_head_dim");
  c.positive(m.qk_rope_head_dim, "qk_rope_head_dim");
  c.positive(m.v_head_dim, "v_head_dim");
  c.non_negative(m.index_topk, "index_topk");
  if (m.index_topk > 0) {
    c.positive(m.index_heads, "index_heads");
    c.positive(m.index_head_dim, "index_head_dim");
    if (m.q_lora_rank == 0) c.fail("the sparse-attention indexer reads the q_lora latent: q_lora_rank must be positive");
  }
}

// The down-projections to the latents (q_a_proj, kv_a_proj_with_mqa) and the indexer's projections
// are replicated on every GPU under tensor parallelism: vLLM's DeepseekV2MLAAttention and Indexer
// (vllm/model_executor/models/deepseek_v2.py) and SGLang's DeepseekV2AttentionMLA build them as
// ReplicatedLinear.
void add_tensors(const Mla& m, int64_t hidden, std::vector<Tensor>& out) {
  const int64_t qk = m.qk_nope_head_dim + m.qk_rope_head_dim;
  if (m.q_lora_rank > 0) {
    out.push_back(replicated_linear("q_a_proj", m.q_lora_rank, hidden));
    out.push_back(vector_weight("q_a_layernorm", m.q_lora_rank, TensorRole::norm));
    out.push_back(linear_weight("q_b_proj", m.heads * qk, m.q_lora_rank));
  } else {
    out.push_back(linear_weight("q_proj", m.heads * qk, hidden));
  }
  out.push_back(replicated_linear("kv_a_proj_with_mqa", m.kv_lora_rank + m.qk_rope_head_dim, hidden));
  out.push_back(vector_weight("kv_a_layernorm", m.kv_lora_rank, TensorRole::norm));
  out.push_back(linear_weight("kv_b_proj", m.heads * (m.qk_nope_head_dim + m.v_head_dim), m.kv_lora_rank));
  out.push_back(linear_weight("o_proj", hidden, m.heads * m.v_head_dim));
  if (m.index_topk > 0) {
    // DeepSeek-V3.2 Indexer: wq_b (from the q latent), wk, k_norm (LayerNorm: weight + bias),
    // weights_proj (one weight per index head).
    out.push_back(replicated_linear("indexer.wq_b", m.index_heads * m.index_head_dim, m.q_lora_rank));
    out.push_back(replicated_linear("indexer.wk", m.index_head_dim, hidden));
    out.push_back(vector_weight("indexer.k_norm", 2 * m.index_head_dim, TensorRole::norm));
    out.push_back(replicated_linear("indexer.weights_proj", m.index_heads, hidden));
  }
}

// q_a and kv_a in one GEMM from the hidden state (without a q latent: q_proj and kv_a), q_b, kv_b
// (prefill decompresses K and V; decode's absorbed W_UK and W_UV do the same FLOPs), o_proj; the
// indexer's wq_b, wk and weights_proj. q_a, kv_a and the indexer's run whole on every GPU.
void add_gemms(const Mla& m, int64_t hidden, int64_t tp, std::vector<Gemm>& out) {
  const int64_t qk = m.qk_nope_head_dim + m.qk_rope_head_dim;
  const int64_t kv_a = m.kv_lora_rank + m.qk_rope_head_dim;
  if (m.q_lora_rank > 0) {
    out.push_back(replicated(m.q_lora_rank + kv_a, hidden));
    out.push_back(column_parallel(m.heads * qk, m.q_lora_rank, tp));
  } else {
    out.push_back(column_parallel(m.heads * qk, hidden, tp));
    out.push_back(replicated(kv_a, hidden));
  }
  out.push_back(column_parallel(m.heads * (m.qk_nope_head_dim + m.v_head_dim), m.kv_lora_rank, tp));
  out.push_back(row_parallel(hidden, m.heads * m.v_head_dim, tp));
  if (m.index_topk > 0) {
    out.push_back(replicated(m.index_heads * m.index_head_dim, m.q_lora_rank));
    out.push_back(replicated(m.index_head_dim, hidden));
    out.push_back(replicated(m.index_heads, hidden));
  }
}

std::vector<int64_t> tp_split_heads(const Mla& m, int64_t) { return {m.heads}; }

int64_t kv_bytes_per_token(const Mla& m, const CacheOptions& opt) {
  const DType d = opt.kv_dtype;
  int64_t bytes = 0;
  switch (opt.mla) {  // the latent forms are one "head", replicated on every TP rank
    case MlaCache::latent: bytes = kv_head_vector_bytes(d, m.kv_lora_rank + m.qk_rope_head_dim); break;
    case MlaCache::fp8_ds:
      bytes = add(add(m.kv_lora_rank, mul(4, ceil_div(m.kv_lora_rank, 128))), mul(2, m.qk_rope_head_dim));
      break;
    case MlaCache::decompressed:
      bytes = mul(m.heads / opt.tp,
                  add(kv_head_vector_bytes(d, m.qk_nope_head_dim + m.qk_rope_head_dim),
                      kv_head_vector_bytes(d, opt.mla_value_padded ? m.qk_nope_head_dim + m.qk_rope_head_dim
                                                                   : m.v_head_dim)));
      break;
  }
  return m.index_topk > 0 ? add(bytes, index_key_bytes(m)) : bytes;
}

int64_t resident_window(const Mla&, const CacheOptions&) { return 0; }

SsmState state_bytes(const Mla&, const CacheOptions&) { return {}; }

int64_t widest_intermediate(const Mla& m) {
  return m.heads * (m.qk_nope_head_dim + m.qk_rope_head_dim) + m.kv_lora_rank + m.qk_rope_head_dim;
}

// Decode runs MLA in the absorbed form over the latent (scores over kv_lora_rank + rope dims,
// values over kv_lora_rank: DeepSeek-V2 sec. 2.1.2, vLLM/FlashMLA); prefill decompresses K and V
// per head. The indexer scores every key with index_heads dot products of index_head_dim, and
// the attention proper then reads at most index_topk latents per query.
MixerWork mixer_work(const Mla& m, const CacheOptions& opt) {
  MixerWork w;
  const double heads = static_cast<double>(m.heads) / static_cast<double>(opt.tp);
  const double expanded = 2.0 * heads * static_cast<double>(m.qk_nope_head_dim + m.qk_rope_head_dim + m.v_head_dim);
  const double latent = 2.0 * heads * static_cast<double>(2 * m.kv_lora_rank + m.qk_rope_head_dim);
  const int64_t kv = kv_bytes_per_token(m, opt);
  const int64_t index_bytes = m.index_topk > 0 ? index_key_bytes(m) : 0;
  // Prefill runs the decompressed heads: query/key head size qk_nope + qk_rope.
  w.attention.push_back({m.index_topk, false, kv - index_bytes, opt.mla != MlaCache::decompressed ? latent : expanded, expanded,
                         m.qk_nope_head_dim + m.qk_rope_head_dim});
  // GEMMs: fused q_a + kv_a, q_b, W_UK absorb, W_UV, o_proj | attention, combine | input norm, q_a
  // and kv_a norms, RoPE, the latent's cache write.
  // RoPE: the rope dims of every head's query and of the one shared rope key.
  w.kernels = {.weights = 5,
               .kv_cache = 2,
               .ssm_state = 0,
               .elementwise = 5,
               .norms = 3,
               .rotary = 1,
               .rotary_pairs = (m.heads / opt.tp + 1) * m.qk_rope_head_dim / 2};
  if (m.index_topk > 0) {
    const double score = 2.0 * static_cast<double>(m.index_heads * m.index_head_dim);
    w.attention.push_back({0, false, index_bytes, score, score, m.index_head_dim});
    w.kernels.weights += 3;      // wq_b, wk, weights_proj
    w.kernels.kv_cache += 2;     // index logits, top-k selection
    w.kernels.elementwise += 2;  // k_norm, index-key write
    w.kernels.norms += 1;
  }
  w.kv_write_bytes_per_token = kv;
  // Element-wise, per token: the q_a and kv_a latent norms and RoPE on the heads' and the shared
  // rope dims (read + write each), and the cache write's read of the latent and rope key.
  const int64_t rope_q = m.heads / opt.tp * m.qk_rope_head_dim;
  w.elementwise_elements_per_token = 2 * (m.q_lora_rank + m.kv_lora_rank) + 2 * (rope_q + m.qk_rope_head_dim) +
                                     m.kv_lora_rank + m.qk_rope_head_dim;
  return w;
}

// The decoupled RoPE key/query part (DeepSeek's YaRN table: original 4,096 x factor 40 =
// max_position_embeddings).
void add_rope_tables(const Mla& m, int64_t max_context, std::vector<RopeTable>& out) {
  if (max_context > 0) out.push_back({max_context, m.qk_rope_head_dim});
}

std::string describe(const Mla& m) {
  std::string s = "mla " + std::to_string(m.heads) + " heads, q_lora " + std::to_string(m.q_lora_rank) + ", kv_lora " +
                  std::to_string(m.kv_lora_rank) + ", qk " + std::to_string(m.qk_nope_head_dim) + "+" +
                  std::to_string(m.qk_rope_head_dim) + " rope, v " + std::to_string(m.v_head_dim);
  if (m.index_topk > 0)
    s += ", indexer " + std::to_string(m.index_heads) + " x " + std::to_string(m.index_head_dim) + " top-" +
         std::to_string(m.index_topk);
  return s;
}

}  // namespace kvplan
