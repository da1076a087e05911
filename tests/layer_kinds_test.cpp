// The layer kinds added as modules: chunked local attention, MLA with DeepSeek's sparse-attention
// indexer, Gated DeltaNet and the parallel hybrid, on small shapes derived by hand.
#include <catch2/catch.hpp>

#include "core/kv_cache.h"
#include "core/layer_work.h"
#include "core/params.h"
#include "io/model_yaml.h"

using namespace kvplan;

namespace {

Model yaml(const std::string& mixer) {
  return parse_model_yaml("id: t\nvocab_size: 100\nhidden_size: 64\nblocks:\n  b:\n    mixer: " + mixer +
                              "\n    mlp: {kind: dense, intermediate_size: 128}\nlayers:\n  - {repeat: 2, pattern: [b]}\n",
                          "t.yaml");
}

}  // namespace

TEST_CASE("chunked attention keeps at most one chunk and pairs within chunks", "[kinds]") {
  const Model m = yaml("{kind: attention, heads: 4, kv_heads: 2, head_dim: 16, chunk_size: 8}");
  CHECK(kind_of(m.layers[0]) == LayerKind::chunked_attention);
  CacheOptions o;
  // 2 KV heads x 16 x (K+V) x 2 B = 128 B/token/layer; 2 layers; at 20 tokens each keeps min(20, 8) = 8.
  CHECK(kv_bytes_per_sequence(m, 20, o) == 2 * 8 * 128);
  CHECK(kv_bytes_per_sequence(m, 5, o) == 2 * 5 * 128);
  // 20 tokens in chunks of 8: 2 full chunks x 8*9/2 + a 4-token chunk 4*5/2 = 72 + 10 = 82 pairs.
  CHECK(chunked_pairs(20, 8) == 82.0);
  CHECK(chunked_pairs(5, 8) == 15.0);  // one partial chunk: causal 5*6/2
  o.sliding = SlidingCache::full;      // an engine that keeps every token
  CHECK(kv_bytes_per_sequence(m, 20, o) == 2 * 20 * 128);
}

TEST_CASE("sparse MLA caches the latent plus a 132-byte index key", "[kinds]") {
  const Model m = yaml(
      "{kind: mla, heads: 4, q_lora_rank: 32, kv_lora_rank: 16, qk_nope_head_dim: 8, qk_rope_head_dim: 4, "
      "v_head_dim: 8, index_heads: 2, index_head_dim: 128, index_topk: 10}");
  CHECK(kind_of(m.layers[0]) == LayerKind::mla_sparse);
  CacheOptions o;
  // latent (16 + 4) x 2 B = 40 B + index key 128 fp8 + one fp32 scale = 132 B; per layer 172 B.
  CHECK(kv_bytes_per_token(m.layers[0], o) == 40 + 132);
  MemoryOptions mo;
  const ModelWork w = model_work(m, mo);
  // Two read groups: the latents, read at most top-10 per query, and the index keys, read in full.
  REQUIRE(w.attention.size() == 2);
  CHECK(w.attention[0].window == 10);
  CHECK(w.attention[0].kv_bytes_per_token == 2 * 40);
  CHECK(w.attention[1].window == 0);
  CHECK(w.attention[1].kv_bytes_per_token == 2 * 132);
  // Indexer params per layer: wq_b 2*128 x 32 = 8,192; wk 128 x 64 = 8,192; k_norm 2 x 128 = 256;
  // weights_proj 2 x 64 = 128: 16,768.
  int64_t indexer = 0;
  for (const Tensor& t : layer_tensors(m, m.layers[0]))
    if (t.name.rfind("indexer.", 0) == 0) indexer += t.params();
  CHECK(indexer == 16768);
}

TEST_CASE("Gated DeltaNet: no KV, a conv window and one k x v state per value head", "[kinds]") {
  const Model m = yaml("{kind: gated_deltanet, k_heads: 2, v_heads: 4, k_head_dim: 8, v_head_dim: 16, d_conv: 4}");
  CacheOptions o;
  CHECK(kv_bytes_per_token(m.layers[0], o) == 0);
  // conv: (2*2*8 + 4*16) = 96 channels x 3 columns x 2 B = 576; state 4 x 8 x 16 x 2 B = 1,024.
  const SsmState s = state_bytes(m.layers[0], o);
  CHECK(s.conv_bytes == 576);
  CHECK(s.ssm_bytes == 1024);
  // Params: in_proj_qkvz (2*16 + 2*64) x 64 = 10,240; in_proj_ba 8 x 64 = 512; conv 96 x 4 = 384;
  // dt_bias + A_log 8; norm 16; out_proj 64 x 64 = 4,096: 15,256.
  std::vector<Tensor> tensors;
  add_tensors(std::get<GatedDeltaNet>(*m.layers[0].mixer), 64, tensors);
  int64_t mixer = 0;
  for (const Tensor& t : tensors) mixer += t.params();
  CHECK(mixer == 10240 + 512 + 384 + 8 + 16 + 4096);
}

TEST_CASE("a parallel hybrid layer holds its attention's KV and its Mamba-2 state", "[kinds]") {
  const Model m = yaml(
      "{kind: parallel_hybrid, attention: {heads: 4, kv_heads: 2, head_dim: 16}, "
      "mamba2: {n_heads: 4, head_dim: 8, n_groups: 1, d_state: 16, d_conv: 4}}");
  CHECK(kind_of(m.layers[0]) == LayerKind::parallel_hybrid);
  CacheOptions o;
  CHECK(kv_bytes_per_token(m.layers[0], o) == 2 * 16 * 2 * 2);  // 128
  // Mamba-2: conv (4*8 + 2*1*16) = 64 channels x 3 x 2 B = 384; ssm 4 x 8 x 16 x 2 B = 1,024.
  CHECK(state_bytes(m.layers[0], o).total() == 384 + 1024);
  CHECK_THROWS_WITH(yaml("{kind: parallel_hybrid, attention: {heads: 4}, mamba2: {n_heads: 4, head_dim: 8, "
                         "n_groups: 1, d_state: 16, d_conv: 4, typo: 1}}"),
                    Catch::Contains("unknown key 'typo'"));
}

TEST_CASE("q/k norms: one weight for all heads, or a weight per head", "[kinds][params]") {
  // Per layer, 4 heads / 2 KV heads of 16 on hidden 64: q 64x64 + k, v 32x64 x 2 + o 64x64 = 12,288;
  // MLP 3 x 128 x 64 = 24,576; 2 hidden-size norms (the default) 128. Embedding 100 x 64 = 6,400
  // and an untied lm_head of the same size; final norm 64.
  const int64_t base = count_params(yaml("{kind: attention, heads: 4, kv_heads: 2, head_dim: 16}")).total;
  CHECK(base == 2 * (12288 + 24576 + 128) + 2 * 6400 + 64);
  // qk_norm: q_norm and k_norm of head_dim each, 2 x 16 = 32 per layer.
  CHECK(count_params(yaml("{kind: attention, heads: 4, kv_heads: 2, head_dim: 16, qk_norm: true}")).total ==
        base + 2 * 32);
  // qk_norm_full: a weight per head, (4 + 2) x 16 = 96 per layer.
  CHECK(count_params(yaml("{kind: attention, heads: 4, kv_heads: 2, head_dim: 16, qk_norm_full: true}")).total ==
        base + 2 * 96);
  CHECK_THROWS_WITH(yaml("{kind: attention, heads: 4, kv_heads: 2, head_dim: 16, qk_norm: true, qk_norm_full: true}"),
                    Catch::Contains("either qk_norm") && Catch::Contains("not both"));
}

TEST_CASE("a shared expert's sigmoid gate adds [1, hidden]", "[kinds][params]") {
  auto moe = [](const std::string& extra) {
    return parse_model_yaml(
        "id: t\nvocab_size: 100\nhidden_size: 64\nblocks:\n  b:\n    mixer: {kind: attention, heads: 4}\n"
        "    mlp: {kind: moe, experts: 4, experts_per_token: 2, expert_intermediate_size: 32" + extra +
            "}\nlayers:\n  - {repeat: 2, pattern: [b]}\n",
        "t.yaml");
  };
  const int64_t shared = count_params(moe(", shared_experts: 1")).total;
  // The gate is one 64-wide row per layer, active on every token.
  CHECK(count_params(moe(", shared_experts: 1, shared_expert_gate: true")).total == shared + 2 * 64);
  CHECK(count_params(moe(", shared_experts: 1, shared_expert_gate: true")).active ==
        count_params(moe(", shared_experts: 1")).active + 2 * 64);
  CHECK_THROWS_WITH(moe(", shared_expert_gate: true"), Catch::Contains("shared_expert_gate without shared experts"));
}

TEST_CASE("mtp_layers: the MTP modules a model stores, never counted", "[kinds][params]") {
  auto with = [](const std::string& extra) {
    return parse_model_yaml("id: t\nvocab_size: 100\nhidden_size: 64\n" + extra +
                                "blocks:\n  b:\n    mixer: {kind: attention, heads: 4}\n"
                                "    mlp: {kind: dense, intermediate_size: 128}\nlayers:\n  - {repeat: 2, pattern: [b]}\n",
                            "t.yaml");
  };
  CHECK(with("").mtp_layers == 0);
  CHECK(with("mtp_layers: 1\n").mtp_layers == 1);
  CHECK(count_params(with("mtp_layers: 1\n")).total == count_params(with("")).total);
  CHECK_THROWS_WITH(with("mtp_layers: -1\n"), "'mtp_layers' must not be negative");
  // The same file reads max_context (0: not known); a negative one is refused at its line.
  CHECK(with("max_context: 0\n").max_context == 0);
  CHECK_THROWS_WITH(with("max_context: -5\n"), "'max_context' must not be negative (0: not known)");
  // An optional key written without a value is refused at the key (line 4 here), not read as its
  // default (bf16 for dtype): `dtype:`, `dtype: ~` and `dtype: null` alike.
  for (const char* empty : {"dtype:\n", "dtype: ~\n", "dtype: null\n"}) {
    try {
      with(empty);
      FAIL("accepted " << empty);
    } catch (const kvplan::Error& e) {
      CHECK(e.located() == "t.yaml:4:1: 'dtype' has no value");
    }
  }
}
