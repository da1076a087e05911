// HF import of the MLA families (io/hf/mla.cpp): DeepSeek-V3.2 and GLM-5 sparse attention,
// DeepSeek-R1 and Kimi-K2 (the DeepSeek-V3 layout), Kimi-Linear (KDA + MLA). Every expectation is
// derived by hand from the real config.json under tests/fixtures/hf/ (SOURCES.md).
#include <catch2/catch.hpp>
#include <cmath>
#include <map>
#include <string>

#include "core/error.h"
#include "core/kv_cache.h"
#include "core/params.h"
#include "io/files.h"
#include "io/hf_config.h"
#include "hf_test_helpers.h"

using namespace kvplan;
using namespace kvplan::test;

namespace {

const std::string kFixtures = std::string(KVPLAN_SOURCE_DIR) + "/tests/fixtures/hf";

Model import_fixture(const std::string& name) {
  const std::string path = kFixtures + "/" + name;
  return import_hf_config(read_text_file(path), path);
}

CacheOptions cache(DType kv) {
  CacheOptions o;
  o.kv_dtype = kv;
  o.state_dtype = DType::bf16;
  return o;
}

const Mla& mla_of(const Layer& l) { return std::get<Mla>(*l.mixer); }

}  // namespace

TEST_CASE("DeepSeek-V3.2: MLA with the lightning indexer on all 61 layers", "[hf][mla]") {
  // deepseek-v3.2.json: model_type deepseek_v32, index_n_heads 64, index_head_dim 128, index_topk 2048,
  // first_k_dense_replace 3, 256 routed + 1 shared expert, fp8 e4m3.
  const Model m = import_fixture("deepseek-v3.2.json");
  CHECK(m.family == "deepseek_v32");
  CHECK(m.dtype == DType::fp8_e4m3);
  REQUIRE(m.layers.size() == 61);
  CHECK(count_kinds(m) == std::map<LayerKind, int>{{LayerKind::mla_sparse, 61}});
  const Mla& a = mla_of(m.layers[0]);
  CHECK(a.heads == 128);
  CHECK(a.q_lora_rank == 1536);
  CHECK(a.index_heads == 64);
  CHECK(a.index_head_dim == 128);
  CHECK(a.index_topk == 2048);
  CHECK(std::holds_alternative<DenseMlp>(*m.layers[2].mlp));
  const MoeMlp& moe = std::get<MoeMlp>(*m.layers[3].mlp);
  CHECK(moe.experts == 256);
  CHECK(moe.router_bias);

  // KV per token: 61 layers x (latent (512 + 64) x 2 B + index key 128 fp8 + one fp32 scale = 132 B)
  // = 61 x 1,284 = 78,324 B in bf16; fp8 latent: 61 x (576 + 132) = 43,188 B.
  CHECK(kv_bytes_per_token(m, cache(DType::bf16)) == 61 * (576 * 2 + 132));
  CHECK(kv_bytes_per_token(m, cache(DType::bf16)) == 78324);
  CHECK(kv_bytes_per_token(m, cache(DType::fp8_e4m3)) == 43188);

  // Parameters: DeepSeek-R1's 671,026,419,200 (below) + 61 indexers of wq_b 64 x 128 x 1536 =
  // 12,582,912, wk 128 x 7168 = 917,504, k_norm 2 x 128 = 256, weights_proj 64 x 7168 = 458,752
  // (13,959,424 each, 851,524,864 in all) = 671,877,944,064: the checkpoint's main weights
  // without MTP and scales (SOURCES.md).
  const int64_t total = count_params(m).total;
  CHECK(total == 671026419200LL + 61LL * 13959424);
  CHECK(std::fabs(static_cast<double>(total) / 671877944064.0 - 1) < 0.005);
}

TEST_CASE("DeepSeek-R1: the deepseek_v3 layout, dense MLA", "[hf][mla]") {
  const Model m = import_fixture("deepseek-r1.json");
  CHECK(m.family == "deepseek_v3");
  REQUIRE(m.layers.size() == 61);
  CHECK(count_kinds(m) == std::map<LayerKind, int>{{LayerKind::mla, 61}});
  CHECK(mla_of(m.layers[60]).index_topk == 0);
  // 61 x (512 + 64) x 2 B = 70,272 B/token.
  CHECK(kv_bytes_per_token(m, cache(DType::bf16)) == 70272);
  // MLA layer: q_a 1536 x 7168 = 11,010,048; q_a_norm 1,536; q_b 128 x 192 x 1536 = 37,748,736;
  // kv_a 576 x 7168 = 4,128,768; kv_a_norm 512; kv_b 128 x 256 x 512 = 16,777,216; o 7168 x 16384 =
  // 117,440,512 -> 187,107,328; + 2 norms 14,336. Dense MLP 3 x 7168 x 18432 = 396,361,728. MoE:
  // router 256 x 7168 + bias 256 = 1,835,264; experts 256 x 3 x 7168 x 2048 = 11,274,289,152; shared
  // 3 x 7168 x 2048 = 44,040,192 -> 11,320,164,608. Embed + lm_head 2 x 129280 x 7168 =
  // 1,853,358,080; final norm 7,168.
  // 1,853,358,080 + 7,168 + 61 x 187,121,664 + 3 x 396,361,728 + 58 x 11,320,164,608 = 671,026,419,200.
  const int64_t total = count_params(m).total;
  CHECK(total == 671026419200LL);
  CHECK(std::fabs(static_cast<double>(total) / 671026419200.0 - 1) < 0.005);
}

TEST_CASE("Kimi-K2: model_type kimi_k2 with the DeepSeek-V3 layout", "[hf][mla]") {
  // kimi-k2.json: 64 heads, first_k_dense_replace 1, 384 routed + 1 shared expert, vocab 163840, no MTP.
  const Model m = import_fixture("kimi-k2.json");
  CHECK(m.family == "kimi_k2");
  CHECK(m.mtp_layers == 0);  // num_nextn_predict_layers 0
  CHECK(import_fixture("deepseek-v3.json").mtp_layers == 1);  // num_nextn_predict_layers 1
  CHECK(m.dtype == DType::fp8_e4m3);
  REQUIRE(m.layers.size() == 61);
  CHECK(count_kinds(m) == std::map<LayerKind, int>{{LayerKind::mla, 61}});
  CHECK(mla_of(m.layers[0]).heads == 64);
  CHECK(std::holds_alternative<DenseMlp>(*m.layers[0].mlp));
  CHECK(std::get<MoeMlp>(*m.layers[1].mlp).experts == 384);
  // The latent does not depend on the head count: 61 x 576 x 2 B = 70,272 B/token.
  CHECK(kv_bytes_per_token(m, cache(DType::bf16)) == 70272);
  // MLA layer with 64 heads: 11,010,048 + 1,536 + 64 x 192 x 1536 (18,874,368) + 4,128,768 + 512
  // + 64 x 256 x 512 (8,388,608) + 7168 x 8192 (58,720,256) = 101,124,096; + norms 14,336.
  // MoE: 384 x 7168 + 384 = 2,752,896; experts 384 x 44,040,192 = 16,911,433,728; shared 44,040,192
  // -> 16,958,226,816. Embed + lm_head 2 x 163840 x 7168 = 2,348,810,240; final norm 7,168.
  // 2,348,810,240 + 7,168 + 61 x 101,138,432 + 396,361,728 + 60 x 16,958,226,816 = 1,026,408,232,448,
  // the checkpoint's weights without scale_inv and inv_freq (SOURCES.md).
  CHECK(count_params(m).total == 1026408232448LL);
}

TEST_CASE("GLM-5: glm_moe_dsa, every indexer full", "[hf][mla]") {
  // glm-5.json: 78 layers, 64 heads, q_lora 2048, qk_nope 192, v_head_dim 256, index_n_heads 32,
  // index_head_dim 128, index_topk 2048, no index_topk_freq, bf16.
  const Model m = import_fixture("glm-5.json");
  CHECK(m.family == "glm_moe_dsa");
  CHECK(m.dtype == DType::bf16);
  REQUIRE(m.layers.size() == 78);
  CHECK(count_kinds(m) == std::map<LayerKind, int>{{LayerKind::mla_sparse, 78}});
  const Mla& a = mla_of(m.layers[77]);
  CHECK(a.index_heads == 32);
  CHECK(a.v_head_dim == 256);
  CHECK(a.qk_nope_head_dim == 192);
  CHECK(std::holds_alternative<DenseMlp>(*m.layers[2].mlp));
  CHECK(std::holds_alternative<MoeMlp>(*m.layers[3].mlp));
  // 78 x (576 x 2 + 132) = 78 x 1,284 = 100,152 B/token.
  CHECK(kv_bytes_per_token(m, cache(DType::bf16)) == 100152);
  // MLA: q_a 2048 x 6144 = 12,582,912; 2,048; q_b 64 x 256 x 2048 = 33,554,432; kv_a 576 x 6144 =
  // 3,538,944; 512; kv_b 64 x 448 x 512 = 14,680,064; o 6144 x 16384 = 100,663,296 -> 165,022,208.
  // Indexer: 32 x 128 x 2048 = 8,388,608 + 128 x 6144 = 786,432 + 256 + 32 x 6144 = 196,608 ->
  // 9,371,904. Dense 3 x 6144 x 12288 = 226,492,416. MoE 256 x 6144 + 256 + 257 x 3 x 6144 x 2048 =
  // 9,702,998,272. Embed + lm_head 2 x 154880 x 6144 = 1,903,165,440; norms 2 x 6144 a layer + 6144.
  // 1,903,165,440 + 6,144 + 78 x (165,022,208 + 9,371,904 + 12,288) + 3 x 226,492,416
  // + 75 x 9,702,998,272 = 743,911,218,432: within 0.5% of the published 744B (no exact count found).
  const int64_t total = count_params(m).total;
  CHECK(total == 743911218432LL);
  CHECK(std::fabs(static_cast<double>(total) / 744e9 - 1) < 0.005);
}

TEST_CASE("glm_moe_dsa: shared indexer layers have no indexer of their own", "[hf][mla]") {
  // GLM-5 shapes (SOURCES.md) cut to 8 layers, with GLM-5.2's index_topk_freq 4 and offset 3:
  // layer i is full iff max(i - 3 + 1, 0) % 4 == 0 -> full 0, 1, 2, 6; shared 3, 4, 5, 7.
  const std::string base = R"("model_type": "glm_moe_dsa", "vocab_size": 154880, "hidden_size": 6144,
      "num_hidden_layers": 8, "num_attention_heads": 64, "q_lora_rank": 2048, "kv_lora_rank": 512,
      "qk_nope_head_dim": 192, "qk_rope_head_dim": 64, "v_head_dim": 256, "intermediate_size": 12288,
      "moe_intermediate_size": 2048, "n_routed_experts": 256, "n_shared_experts": 1,
      "num_experts_per_tok": 8, "first_k_dense_replace": 3)";
  const Model m = import_hf_config("{" + base + R"(, "index_topk_freq": 4, "index_skip_topk_offset": 3})", "g.json");
  REQUIRE(m.layers.size() == 8);
  const std::vector<LayerKind> want = {LayerKind::mla_sparse, LayerKind::mla_sparse, LayerKind::mla_sparse,
                                       LayerKind::mla,        LayerKind::mla,        LayerKind::mla,
                                       LayerKind::mla_sparse, LayerKind::mla};
  for (size_t i = 0; i < want.size(); ++i) CHECK(kind_of(m.layers[i]) == want[i]);
  // A shared layer caches only the latent: 4 x 1,284 + 4 x 1,152 = 9,744 B/token in bf16.
  CHECK(kv_bytes_per_token(m, cache(DType::bf16)) == 4 * 1284 + 4 * 1152);
  // index_topk_pattern and indexer_types say the same thing.
  const Model p = import_hf_config("{" + base + R"(, "index_topk_pattern": "FFFSSSFS"})", "p.json");
  const Model t = import_hf_config(
      "{" + base +
          R"(, "indexer_types": ["full", "full", "full", "shared", "shared", "shared", "full", "shared"]})",
      "t.json");
  for (size_t i = 0; i < want.size(); ++i) {
    CHECK(kind_of(p.layers[i]) == want[i]);
    CHECK(kind_of(t.layers[i]) == want[i]);
  }
  CHECK_THROWS_WITH(import_hf_config("{" + base + R"(, "index_topk_pattern": "FFX"})", "x.json"),
                    Catch::Contains("index_topk_pattern"));
}

TEST_CASE("Kimi-Linear: 1-based KDA layers, MLA without query compression", "[hf][mla][kda]") {
  // kimi-linear-48b-a3b.json: kda_layers 1-3, 5-7, ..., 25, 26; full_attn_layers 4, 8, ..., 24, 27.
  const Model m = import_fixture("kimi-linear-48b-a3b.json");
  CHECK(m.family == "kimi_linear");
  CHECK(m.max_context == 1048576);  // model_max_length; the config has no max_position_embeddings
  REQUIRE(m.layers.size() == 27);
  CHECK(count_kinds(m) == std::map<LayerKind, int>{{LayerKind::kda, 20}, {LayerKind::mla, 7}});
  for (size_t i : {3, 7, 11, 15, 19, 23, 26}) CHECK(kind_of(m.layers[i]) == LayerKind::mla);
  for (size_t i : {0, 1, 2, 4, 24, 25}) CHECK(kind_of(m.layers[i]) == LayerKind::kda);
  const Kda& k = std::get<Kda>(*m.layers[0].mixer);
  CHECK(k.heads == 32);
  CHECK(k.head_dim == 128);
  CHECK(k.d_conv == 4);
  const Mla& a = mla_of(m.layers[3]);
  CHECK(a.q_lora_rank == 0);
  CHECK(a.heads == 32);
  CHECK(std::get<DenseMlp>(*m.layers[0].mlp).intermediate_size == 9216);
  const MoeMlp& moe = std::get<MoeMlp>(*m.layers[1].mlp);
  CHECK(moe.experts == 256);
  CHECK(moe.experts_per_token == 8);
  CHECK(moe.shared_experts == 1);
  CHECK(moe.expert_intermediate_size == 1024);
  // KV: 7 MLA layers x 576 x 2 B = 8,064 B/token; state: 20 KDA layers x (3 x 3 x 4096 + 32 x 128 x 128)
  // x 2 B = 20 x 1,122,304 = 22,446,080 B per sequence.
  CHECK(kv_bytes_per_token(m, cache(DType::bf16)) == 8064);
  CHECK(state_bytes_per_sequence(m, cache(DType::bf16)) == 22446080);
  // Total: 49,122,681,728, the checkpoint's tensor sum (kda_test.cpp derives it).
  CHECK(count_params(m).total == 49122681728LL);
}

TEST_CASE("kimi_linear: layer lists are checked", "[hf][kda]") {
  const std::string json = R"({"model_type": "kimi_linear", "vocab_size": 1000, "hidden_size": 256,
      "num_hidden_layers": 2, "num_attention_heads": 4, "kv_lora_rank": 64, "qk_nope_head_dim": 32,
      "qk_rope_head_dim": 16, "v_head_dim": 32, "intermediate_size": 512,
      "linear_attn_config": {"num_heads": 4, "head_dim": 64, "short_conv_kernel_size": 4,
                             "kda_layers": [1, 3], "full_attn_layers": [2]}})";
  CHECK_THROWS_WITH(import_hf_config(json, "k.json"), Catch::Contains("names layer 3 (1-based)"));
}
