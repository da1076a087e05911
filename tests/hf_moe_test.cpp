// HF import of the MoE-on-attention families (io/hf/moe.cpp). Apart from MiniMax-M2.5-NVFP4's
// (SOURCES.md Part G), no verbatim config.json of these models was found (tests/fixtures/hf/
// SOURCES.md), so each test feeds a config string built from the fields SOURCES.md cites, and the
// expectations are derived by hand from them.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <map>
#include <string>

#include "core/kv_cache.h"
#include "core/params.h"
#include "io/hf_config.h"
#include "test_helpers.h"
#include "hf_test_helpers.h"

using namespace kvplan;
using namespace kvplan::test;

namespace {

// GLM-4.5 (SOURCES.md: slime glm4.5-355B-A32B.sh and the GLM-4.5-FP8 tensor table).
const char* kGlm45 = R"({"model_type": "glm4_moe", "vocab_size": 151552, "hidden_size": 5120,
    "num_hidden_layers": 92, "num_attention_heads": 96, "num_key_value_heads": 8, "head_dim": 128,
    "intermediate_size": 12288, "moe_intermediate_size": 1536, "n_routed_experts": 160,
    "n_shared_experts": 1, "num_experts_per_tok": 8, "first_k_dense_replace": 3, "attention_bias": true,
    "use_qk_norm": true, "partial_rotary_factor": 0.5, "max_position_embeddings": 131072,
    "num_nextn_predict_layers": 1, "tie_word_embeddings": false, "torch_dtype": "bfloat16"})";

// GLM-4.5-Air (slime glm4.5-106B-A12B.sh): no qk norm, 1 dense layer, 128 experts of 1408.
const char* kGlm45Air = R"({"model_type": "glm4_moe", "vocab_size": 151552, "hidden_size": 4096,
    "num_hidden_layers": 46, "num_attention_heads": 96, "num_key_value_heads": 8, "head_dim": 128,
    "intermediate_size": 10944, "moe_intermediate_size": 1408, "n_routed_experts": 128,
    "n_shared_experts": 1, "num_experts_per_tok": 8, "first_k_dense_replace": 1, "attention_bias": true,
    "use_qk_norm": false, "max_position_embeddings": 131072, "tie_word_embeddings": false})";

// MiniMax-M2 (configuration_minimax_m2.py defaults; the M2.7 config in SOURCES.md agrees).
const char* kMiniMaxM2 = R"({"model_type": "minimax_m2", "vocab_size": 200064, "hidden_size": 3072,
    "num_hidden_layers": 62, "num_attention_heads": 48, "num_key_value_heads": 8, "head_dim": 128,
    "intermediate_size": 1536, "num_local_experts": 256, "num_experts_per_tok": 8, "rotary_dim": 64,
    "use_qk_norm": true, "qk_norm_type": "per_layer", "shared_intermediate_size": 0,
    "max_position_embeddings": 196608, "num_mtp_modules": 3, "use_mtp": true})";

}  // namespace

TEST_CASE("GLM-4.5: 3 dense then 89 MoE layers, q/k/v bias and qk norm", "[hf][moe]") {
  const Model m = import_hf_config(kGlm45, "glm-4.5/config.json");
  CHECK(m.family == "glm4_moe");
  REQUIRE(m.layers.size() == 92);  // the MTP layer 92 is not part of the stack
  CHECK(count_kinds(m) == std::map<LayerKind, int>{{LayerKind::attention, 92}});
  const Attention& a = attention_of(m.layers[0]);
  CHECK(a.qkv_bias);
  CHECK_FALSE(a.o_bias);
  CHECK(a.qk_norm);
  CHECK(a.head_dim == 128);
  CHECK(std::holds_alternative<DenseMlp>(*m.layers[2].mlp));
  const MoeMlp& moe = std::get<MoeMlp>(*m.layers[3].mlp);
  CHECK(moe.experts == 160);
  CHECK(moe.shared_experts == 1);
  CHECK(moe.shared_intermediate_size == 1536);
  CHECK(moe.router_bias);
  // The bundled YAML says the same, layer by layer.
  CHECK(structure(m) == structure(kvplan::test::model("glm-4.5")));
  // KV: 92 layers x 8 KV heads x 128 x (K + V) x 2 B = 376,832 B/token.
  CHECK(kv_bytes_per_token(m, bf16_cache()) == 92 * 8 * 128 * 2 * 2);
  // Attention: q 12288 x 5120 = 62,914,560; k, v 1024 x 5120 = 5,242,880 each; o 5120 x 12288 =
  // 62,914,560; q/k/v bias 12288 + 2048 = 14,336; q/k norm 256 -> 136,329,472. Dense 3 x 5120 x 12288
  // = 188,743,680. MoE: router 160 x 5120 + 160 = 819,360; experts 160 x 3 x 5120 x 1536 =
  // 3,774,873,600; shared 3 x 5120 x 1536 = 23,592,960 -> 3,799,285,920. Embed + lm_head
  // 2 x 151552 x 5120 = 1,551,892,480; norms 2 x 5120 a layer + 5120.
  // 1,551,892,480 + 5,120 + 92 x (136,329,472 + 10,240) + 3 x 188,743,680 + 89 x 3,799,285,920
  // = 352,797,829,024, the GLM-4.5-FP8 checkpoint's main weights without MTP and scales.
  const int64_t total = count_params(m).total;
  CHECK(total == 352797829024LL);
  CHECK(std::fabs(static_cast<double>(total) / 352797829024.0 - 1) < 0.005);
}

TEST_CASE("GLM-4.5-Air: one dense layer, no qk norm", "[hf][moe]") {
  const Model m = import_hf_config(kGlm45Air, "glm-4.5-air/config.json");
  REQUIRE(m.layers.size() == 46);
  CHECK_FALSE(attention_of(m.layers[0]).qk_norm);
  CHECK(std::holds_alternative<DenseMlp>(*m.layers[0].mlp));
  CHECK(std::get<MoeMlp>(*m.layers[1].mlp).experts == 128);
  CHECK(structure(m) == structure(kvplan::test::model("glm-4.5-air")));
  // Attention: q 12288 x 4096 + k, v 1024 x 4096 x 2 + o 4096 x 12288 + bias 14,336 = 109,066,240.
  // Dense 3 x 4096 x 10944 = 134,479,872. MoE: 128 x 4096 + 128 + 129 x 3 x 4096 x 1408 = 2,232,418,432.
  // Embed + lm_head 2 x 151552 x 4096 = 1,241,513,984; norms 8,192 a layer + 4,096.
  // 1,241,513,984 + 4,096 + 46 x 109,074,432 + 134,479,872 + 45 x 2,232,418,432 = 106,852,251,264;
  // no exact checkpoint count was found, and the published "106B" is within 1%.
  const int64_t total = count_params(m).total;
  CHECK(total == 106852251264LL);
  CHECK(std::fabs(static_cast<double>(total) / 106e9 - 1) < 0.01);
}

TEST_CASE("MiniMax-M2: 62 full-attention MoE layers", "[hf][moe]") {
  const Model m = import_hf_config(kMiniMaxM2, "minimax-m2/config.json");
  CHECK(m.family == "minimax_m2");
  REQUIRE(m.layers.size() == 62);
  CHECK(count_kinds(m) == std::map<LayerKind, int>{{LayerKind::attention, 62}});
  const Attention& a = attention_of(m.layers[0]);
  CHECK(a.qk_norm_full);
  CHECK_FALSE(a.qkv_bias);
  const MoeMlp& moe = std::get<MoeMlp>(*m.layers[0].mlp);
  CHECK(moe.experts == 256);
  CHECK(moe.shared_experts == 0);
  CHECK(moe.router_bias);
  CHECK(m.max_context == 196608);
  CHECK(structure(m) == structure(kvplan::test::model("minimax-m2")));
  // KV: 62 x 8 x 128 x 2 x 2 B = 253,952 B/token.
  CHECK(kv_bytes_per_token(m, bf16_cache()) == 253952);
  // Attention q 6144 x 3072 + k, v 1024 x 3072 x 2 + o 3072 x 6144 = 44,040,192 + q/k norms over
  // the whole projections (48 + 8) x 128 = 7,168. MoE: 256 x 3072 + 256 + 256 x 3 x 3072 x 1536 =
  // 3,624,665,344. Embed + lm_head 2 x 200064 x 3072 = 1,229,193,216; norms 6,144 a layer + 3,072.
  // 1,229,193,216 + 3,072 + 62 x (44,047,360 + 3,624,665,344 + 6,144) = 228,689,764,864, the
  // weight count of the M2.7 checkpoint (same shapes; SOURCES.md) exactly.
  CHECK(count_params(m).total == 228689764864LL);
  // A lightning-attention layer (0 in attn_type_list) is refused, not imported as full attention.
  const std::string lightning = R"({"model_type": "minimax_m2", "vocab_size": 200064, "hidden_size": 3072,
      "num_hidden_layers": 2, "attn_type_list": [0, 1]})";
  CHECK_THROWS_WITH(import_hf_config(lightning, "l.json"), Catch::Contains("lightning"));
}

TEST_CASE("MiniMax-M2.7: the verbatim config.json, fp8 blocks, weight bytes against the checkpoint's", "[hf][moe]") {
  const Model m = import_file(kFixtures + "/minimax-m2.7.json");
  CHECK(m.family == "minimax_m2");
  CHECK(m.dtype == DType::fp8_e4m3);
  CHECK(m.activation_dtype == DType::bf16);
  CHECK(m.max_context == 204800);
  CHECK(m.warnings.empty());  // gate, e_score_correction_bias and lm_head are 16-bit in kvplan too
  for (const Layer& l : m.layers) CHECK(l.unquantized.empty());
  CHECK(structure(m) == structure(kvplan::test::model("minimax-m2")));
  // The same shapes as M2 (above): 228,689,764,864 weights, the checkpoint's exactly.
  CHECK(count_params(m).total == 228689764864LL);
  // Bytes, fp8 with an fp32 scale per output row. Attention: q [6144 x 3072] 18,874,368 + 24,576,
  // k and v [1024 x 3072] 3,145,728 + 4,096 each, o [3072 x 6144] 18,874,368 + 12,288 -> 44,085,248 B.
  // Experts: gate, up [1536 x 3072] 4,718,592 + 6,144; down [3072 x 1536] 4,718,592 + 12,288 ->
  // 14,180,352 B an expert, x 256 = 3,630,170,112 B. bf16: q/k norms 7,168 + 2 norms 6,144 + router
  // 786,432 + its bias 256 = 800,000 params = 1,600,000 B. Layer 3,675,855,360 B; x 62 =
  // 227,903,032,320 B; embedding and lm_head 2 x 200064 x 3072 x 2 B = 2,458,386,432 B; final norm 6,144 B.
  const int64_t kvplan_bytes = 227903032320LL + 2458386432LL + 6144;
  CHECK(weight_bytes(m, weight_dtypes(m)) == kvplan_bytes);
  // The checkpoint (SOURCES.md Part J): fp8 227,410,968,576 x 1 B, bf16 (1,229,193,216 + 828,416) x 2 B,
  // fp32 (48,758,784 + 15,872 + 13,880,064 scales) x 4 B = 230,121,630,720 B. kvplan is 0.10% above:
  // its per-row scales 62 x (6144 + 2 x 1024 + 3072 + 256 x (2 x 1536 + 3072)) x 4 B = 392,863,744 B
  // against the 128 x 128 block scales' 55,520,256 B, less the router and its bias in bf16 where
  // the checkpoint keeps them in fp32 (62 x 786,688 x 2 B = 97,549,312 B).
  const int64_t checkpoint = 227410968576LL + (1229193216LL + 828416) * 2 + (48758784LL + 15872 + 13880064) * 4;
  CHECK(checkpoint == 230121630720LL);
  CHECK(kvplan_bytes - checkpoint == 392863744LL - 55520256LL - 97549312LL);
}

TEST_CASE("MiniMax-M2.5-NVFP4: a verbatim minimax_m2 config.json", "[hf][moe]") {
  // NVIDIA's NVFP4 checkpoint of MiniMax-M2.5 (SOURCES.md Part G), the M2 shapes.
  const Model m = import_file(kFixtures + "/extra/minimax-m2.5-nvfp4.json");
  CHECK(m.family == "minimax_m2");
  CHECK(m.max_context == 196608);
  std::vector<Layer> layers = structure(m);
  for (Layer& l : layers) l.unquantized.clear();  // attention kept in bf16 (hf_quantized_modules_test)
  CHECK(layers == structure(kvplan::test::model("minimax-m2")));
  // KV: 62 layers x 8 KV heads x 128 x (K + V) 2 x 2 B = 253,952 B/token in bf16; the config
  // declares an fp8 KV cache (kv_cache_scheme, 8-bit float): 1 B an element, 126,976 B/token.
  CHECK(kv_bytes_per_token(m, bf16_cache()) == 62 * 8 * 128 * 2 * 2);
  REQUIRE(m.kv_dtype == DType::fp8_e4m3);
  CacheOptions fp8 = bf16_cache();
  fp8.kv_dtype = *m.kv_dtype;
  CHECK(kv_bytes_per_token(m, fp8) == 126976);
}

TEST_CASE("ERNIE-4.5 MoE: configuration defaults, layer 0 dense", "[hf][moe]") {
  // Only what configuration_ernie4_5_moe.py has no default for; everything else is its default:
  // hidden 2560, 28 layers, 20 heads / 4 KV heads (head_dim 128), dense 12288, 64 experts of 1536,
  // top-6, 2 shared experts, MoE from layer 1 to the last, tied embeddings, no biases.
  const Model m = import_hf_config(R"({"model_type": "ernie4_5_moe", "vocab_size": 103424, "hidden_size": 2560,
      "num_hidden_layers": 28})",
                                   "ernie/config.json");
  REQUIRE(m.layers.size() == 28);
  CHECK(m.tie_word_embeddings);
  CHECK(m.max_context == 131072);
  CHECK(std::holds_alternative<DenseMlp>(*m.layers[0].mlp));
  const MoeMlp& moe = std::get<MoeMlp>(*m.layers[27].mlp);
  CHECK(moe.experts == 64);
  CHECK(moe.experts_per_token == 6);
  CHECK(moe.shared_experts == 2);
  CHECK(moe.shared_intermediate_size == 1536);
  CHECK(moe.router_bias);  // moe_statics.e_score_correction_bias
  const Attention& a = attention_of(m.layers[0]);
  CHECK(a.kv_heads == 4);
  CHECK(a.head_dim == 128);
  // Attention q 2560 x 2560 + k, v 512 x 2560 x 2 + o 2560 x 2560 = 15,728,640; dense 3 x 2560 x 12288 =
  // 94,371,840; MoE 64 x 2560 + 64 + 66 x 3 x 2560 x 1536 = 778,731,584; tied embed 103424 x 2560 =
  // 264,765,440; norms 5,120 a layer + 2,560.
  // 264,765,440 + 2,560 + 28 x (15,728,640 + 5,120) + 94,371,840 + 27 x 778,731,584 = 21,825,437,888.
  CHECK(count_params(m).total == 21825437888LL);
  // moe_layer_interval 2: MoE where (i + 1) % 2 == 0 and 1 <= i <= 3 -> layers 1 and 3.
  const Model odd = import_hf_config(R"({"model_type": "ernie4_5_moe", "vocab_size": 1000, "hidden_size": 256,
      "num_hidden_layers": 4, "num_attention_heads": 4, "num_key_value_heads": 2, "moe_layer_interval": 2})",
                                     "e.json");
  CHECK(std::holds_alternative<DenseMlp>(*odd.layers[0].mlp));
  CHECK(std::holds_alternative<MoeMlp>(*odd.layers[1].mlp));
  CHECK(std::holds_alternative<DenseMlp>(*odd.layers[2].mlp));
  CHECK(std::holds_alternative<MoeMlp>(*odd.layers[3].mlp));
}

TEST_CASE("Phi-3.5-MoE: LayerNorm, attention biases, 16 experts top-2", "[hf][moe]") {
  // configuration_phimoe.py defaults (SOURCES.md) with attention_bias true, as mlx-lm phimoe.py builds it.
  const Model m = import_hf_config(R"({"model_type": "phimoe", "vocab_size": 32064, "hidden_size": 4096,
      "num_hidden_layers": 32, "attention_bias": true, "sliding_window": null})",
                                   "phimoe/config.json");
  REQUIRE(m.layers.size() == 32);
  CHECK(m.norm == Norm::layernorm);
  CHECK(count_kinds(m) == std::map<LayerKind, int>{{LayerKind::attention, 32}});
  CHECK(attention_of(m.layers[0]).o_bias);
  // Attention 4096 x 4096 x 2 + 1024 x 4096 x 2 + biases 4096 + 2048 + 4096 = 41,953,280; MoE
  // 16 x 4096 + 16 x 3 x 4096 x 6400 = 1,258,356,736; 2 LayerNorms 2 x 8,192; embed + lm_head
  // 2 x 32064 x 4096 = 262,668,288; final LayerNorm 8,192.
  // 262,668,288 + 8,192 + 32 x (41,953,280 + 1,258,356,736 + 16,384) = 41,873,121,280 (published 41.9B).
  const ParamCounts p = count_params(m);
  CHECK(p.total == 41873121280LL);
  // Active: 2 of 16 experts: 32 x 14 x 3 x 4096 x 6400 = 35,232,153,600 fewer = 6,640,967,680 (published 6.6B).
  CHECK(p.active == 6640967680LL);
  // Phi-3.5-MoE-instruct's config sets lm_head_bias: a bias of vocab_size on the head, 32,064 more
  // (41,873,153,344, still 41.9B).
  const Model biased = import_hf_config(R"({"model_type": "phimoe", "vocab_size": 32064, "hidden_size": 4096,
      "num_hidden_layers": 32, "attention_bias": true, "sliding_window": null, "lm_head_bias": true})",
                                        "phimoe/config.json");
  CHECK(count_params(biased).total == 41873121280LL + 32064);
  // sliding_window set: every layer slides.
  const Model w = import_hf_config(R"({"model_type": "phimoe", "vocab_size": 32064, "hidden_size": 4096,
      "num_hidden_layers": 2, "sliding_window": 131072})",
                                   "w.json");
  CHECK(kind_of(w.layers[1]) == LayerKind::sliding_attention);
}

TEST_CASE("GraniteMoE: configuration defaults, fused experts", "[hf][moe]") {
  // A synthetic config (no real one was found): configuration_granitemoe.py's defaults give 32 heads
  // with as many KV heads, 8 experts top-2 of intermediate_size, no bias, untied, context 2048.
  const Model m = import_hf_config(R"({"model_type": "granitemoe", "vocab_size": 49152, "hidden_size": 1024,
      "num_hidden_layers": 2, "intermediate_size": 512})",
                                   "granite/config.json");
  REQUIRE(m.layers.size() == 2);
  CHECK(m.max_context == 2048);
  const Attention& a = attention_of(m.layers[0]);
  CHECK(a.heads == 32);
  CHECK(a.kv_heads == 32);
  CHECK(a.head_dim == 32);
  const MoeMlp& moe = std::get<MoeMlp>(*m.layers[0].mlp);
  CHECK(moe.experts == 8);
  CHECK(moe.experts_per_token == 2);
  CHECK_FALSE(moe.router_bias);
  // Per layer: attention 4 x 1024 x 1024 = 4,194,304; router 8 x 1024 = 8,192; experts
  // 8 x 3 x 1024 x 512 = 12,582,912; norms 2,048 -> 16,787,456. Embed + lm_head 2 x 49152 x 1024 =
  // 100,663,296; final norm 1,024. 100,663,296 + 1,024 + 2 x 16,787,456 = 134,239,232.
  CHECK(count_params(m).total == 134239232LL);
}

TEST_CASE("the MoE families are registered", "[hf][moe]") {
  const std::vector<std::string> types = supported_hf_model_types();
  for (const char* t : {"glm4_moe", "minimax_m2", "ernie4_5_moe", "phimoe", "granitemoe", "deepseek_v32", "kimi_k2",
                        "glm_moe_dsa", "kimi_linear"})
    CHECK(std::find(types.begin(), types.end(), t) != types.end());
}
