// HF import of the Qwen2-MoE, Qwen3-MoE, Qwen3-Next and Qwen3.5 families (src/io/hf/qwen.cpp): layer kinds,
// KV bytes per token, Gated DeltaNet state and parameter counts, derived by hand from the configs
// (tests/fixtures/hf/SOURCES.md) and checked against the exact checkpoint counts where known.
#include <catch2/catch.hpp>

#include <cmath>
#include <map>
#include <string>

#include "core/error.h"
#include "core/kv_cache.h"
#include "core/params.h"
#include "io/files.h"
#include "io/hf_config.h"
#include "test_helpers.h"
#include "hf_test_helpers.h"

using namespace kvplan;
using namespace kvplan::test;

namespace {

// Qwen3.5-35B-A3B's text and vision fields (SOURCES.md, from the Qwen3_5MoeConfig re-dump; the raw
// file was not found), with the layer_types list written out: 3 linear_attention + 1 full, x10.
std::string qwen3_5_35b_config() {
  std::string types;
  for (int i = 0; i < 40; ++i) types += std::string(i ? ", " : "") + ((i + 1) % 4 ? "\"linear_attention\"" : "\"full_attention\"");
  return R"({"model_type": "qwen3_5_moe", "tie_word_embeddings": false,
    "text_config": {"model_type": "qwen3_5_moe_text", "hidden_size": 2048, "num_hidden_layers": 40,
      "layer_types": [)" + types + R"(], "num_attention_heads": 16, "num_key_value_heads": 2,
      "head_dim": 256, "attn_output_gate": true, "num_experts": 256, "num_experts_per_tok": 8,
      "moe_intermediate_size": 512, "shared_expert_intermediate_size": 512, "linear_num_key_heads": 16,
      "linear_num_value_heads": 32, "linear_key_head_dim": 128, "linear_value_head_dim": 128,
      "linear_conv_kernel_dim": 4, "vocab_size": 248320, "max_position_embeddings": 262144,
      "mtp_num_hidden_layers": 1, "mamba_ssm_dtype": "float32", "dtype": "bfloat16"},
    "vision_config": {"depth": 27, "hidden_size": 1152, "intermediate_size": 4304, "num_heads": 16,
      "in_channels": 3, "patch_size": 16, "temporal_patch_size": 2, "spatial_merge_size": 2,
      "out_hidden_size": 2048, "num_position_embeddings": 2304}})";
}

// Qwen3.5-27B's fields (SOURCES.md, tt-metal's reformatted copy); the layer types left to
// full_attention_interval's default 4, which gives the same 3 linear + 1 full pattern.
const char* kQwen3_5_27b = R"({"model_type": "qwen3_5",
    "text_config": {"model_type": "qwen3_5_text", "hidden_size": 5120, "num_hidden_layers": 64,
      "intermediate_size": 17408, "num_attention_heads": 24, "num_key_value_heads": 4, "head_dim": 256,
      "attn_output_gate": true, "linear_num_key_heads": 16, "linear_num_value_heads": 48,
      "linear_key_head_dim": 128, "linear_value_head_dim": 128, "linear_conv_kernel_dim": 4,
      "vocab_size": 248320, "tie_word_embeddings": false, "max_position_embeddings": 262144},
    "vision_config": {"depth": 27, "hidden_size": 1152, "intermediate_size": 4304, "num_heads": 16,
      "patch_size": 16, "out_hidden_size": 5120, "num_position_embeddings": 2304},
    "dtype": "bfloat16"})";

}  // namespace

TEST_CASE("Qwen3-30B-A3B: every layer MoE, no shared expert", "[hf][qwen]") {
  const Model m = import_file(kFixtures + "/qwen3-30b-a3b.json");
  REQUIRE(m.layers.size() == 48);
  CHECK(count_kinds(m) == std::map<LayerKind, int>{{LayerKind::attention, 48}});
  const Attention& a = std::get<Attention>(*m.layers[0].mixer);
  CHECK(a.heads == 32);
  CHECK(a.kv_heads == 4);
  CHECK(a.head_dim == 128);
  CHECK(a.qk_norm);
  for (const Layer& l : m.layers) REQUIRE(std::holds_alternative<MoeMlp>(*l.mlp));
  const MoeMlp& e = std::get<MoeMlp>(*m.layers[47].mlp);
  CHECK(e.experts == 128);
  CHECK(e.experts_per_token == 8);
  CHECK(e.expert_intermediate_size == 768);
  CHECK(e.shared_experts == 0);
  // KV: 48 layers x 4 KV heads x 128 x (K+V) 2 x 2 B = 98,304 B/token.
  CHECK(kv_bytes_per_token(m, bf16_cache()) == 48 * 4 * 128 * 2 * 2);
  // embed + lm_head 2 x 151936 x 2048 = 622,329,856; final norm 2,048.
  // per layer: q 4096x2048 8,388,608 + k, v 512x2048 1,048,576 each + o 2048x4096 8,388,608 = 18,874,368;
  //   q/k norm 256; router 128 x 2048 = 262,144; experts 128 x 3 x 768 x 2048 = 603,979,776; norms 4,096
  //   -> 623,120,640; x 48 = 29,909,790,720.
  // total 29,909,790,720 + 622,331,904 = 30,532,122,624 (published 30.5B).
  // active per layer: 18,874,368 + 256 + 262,144 + 8 x 4,718,592 + 4,096 = 56,889,600; x 48 + 622,331,904
  //   = 3,353,032,704 (published 3.3B).
  const ParamCounts p = count_params(m);
  CHECK(p.total == 30532122624LL);
  CHECK(p.active == 3353032704LL);
  CHECK(std::fabs(p.total / 30.5e9 - 1) < 0.005);
}

TEST_CASE("qwen3_moe: decoder_sparse_step, mlp_only_layers, head_dim and window defaults", "[hf][qwen]") {
  // Layer i is MoE iff i not in mlp_only_layers and (i+1) % decoder_sparse_step == 0: with step 2 and
  // mlp_only_layers [3] only layer 1 is MoE. No head_dim: hidden / heads = 1024 / 16 = 64.
  const Model m = import_hf_config(R"({"model_type": "qwen3_moe", "hidden_size": 1024, "num_hidden_layers": 4,
      "num_attention_heads": 16, "num_key_value_heads": 4, "intermediate_size": 3072, "vocab_size": 1000,
      "num_experts": 8, "num_experts_per_tok": 2, "moe_intermediate_size": 256, "decoder_sparse_step": 2,
      "mlp_only_layers": [3], "use_sliding_window": true, "sliding_window": 2048})",
                                   "q.json");
  REQUIRE(m.layers.size() == 4);
  CHECK(std::holds_alternative<DenseMlp>(*m.layers[0].mlp));
  CHECK(std::holds_alternative<MoeMlp>(*m.layers[1].mlp));
  CHECK(std::holds_alternative<DenseMlp>(*m.layers[2].mlp));
  CHECK(std::holds_alternative<DenseMlp>(*m.layers[3].mlp));
  CHECK(std::get<DenseMlp>(*m.layers[0].mlp).intermediate_size == 3072);
  CHECK(std::get<Attention>(*m.layers[0].mixer).head_dim == 64);
  // use_sliding_window: the window applies to every layer (modeling_qwen3_moe.py).
  CHECK(count_kinds(m) == std::map<LayerKind, int>{{LayerKind::sliding_attention, 4}});
  CHECK(std::get<Attention>(*m.layers[0].mixer).sliding_window == 2048);
}

TEST_CASE("Qwen3-Next-80B-A3B: gated attention every 4th layer, Gated DeltaNet, shared-expert MoE", "[hf][qwen]") {
  const Model m = import_file(kFixtures + "/qwen3-next-80b-a3b.json");
  REQUIRE(m.layers.size() == 48);
  // full_attention_interval 4: layers 3, 7, ..., 47 full (12), the rest linear (36).
  CHECK(count_kinds(m) == std::map<LayerKind, int>{{LayerKind::attention, 12}, {LayerKind::gated_deltanet, 36}});
  CHECK(kind_of(m.layers[3]) == LayerKind::attention);
  CHECK(kind_of(m.layers[47]) == LayerKind::attention);
  CHECK(kind_of(m.layers[0]) == LayerKind::gated_deltanet);
  const Attention& a = std::get<Attention>(*m.layers[3].mixer);
  CHECK(a.heads == 16);
  CHECK(a.kv_heads == 2);
  CHECK(a.head_dim == 256);
  CHECK(a.output_gate);
  CHECK(a.qk_norm);
  const GatedDeltaNet& g = std::get<GatedDeltaNet>(*m.layers[0].mixer);
  CHECK(g.k_heads == 16);
  CHECK(g.v_heads == 32);
  CHECK(g.k_head_dim == 128);
  CHECK(g.v_head_dim == 128);
  CHECK(g.d_conv == 4);
  const MoeMlp& e = std::get<MoeMlp>(*m.layers[0].mlp);
  CHECK(e.experts == 512);
  CHECK(e.experts_per_token == 10);
  CHECK(e.expert_intermediate_size == 512);
  CHECK(e.shared_experts == 1);
  CHECK(e.shared_intermediate_size == 512);
  CHECK(e.shared_expert_gate);  // [1, hidden], a sigmoid on the shared expert's output
  for (const Layer& l : m.layers) CHECK(l.norms == 2);

  // KV: 12 full layers x 2 KV heads x 256 x (K+V) 2 x 2 B = 24,576 B/token; GDN layers add none.
  CHECK(kv_bytes_per_token(m, bf16_cache()) == 12 * 2 * 256 * 2 * 2);
  // GDN state per layer (vLLM): conv (4-1) x conv_dim (2 x 2048 + 4096 = 8192) x 2 B = 49,152;
  // temporal 32 v-heads x 128 x 128 x 2 B = 1,048,576 -> 1,097,728; x 36 layers = 39,518,208 B.
  CHECK(state_bytes_per_sequence(m, bf16_cache()) == 36LL * (3 * 8192 * 2 + 32 * 128 * 128 * 2));
  CHECK(state_bytes_per_sequence(m, bf16_cache()) == 39518208);
  // fp32 state (mamba_ssm_dtype float32 in Qwen3.5 configs): twice that, 79,036,416 B.
  CacheOptions fp32 = bf16_cache();
  fp32.state_dtype = DType::fp32;
  CHECK(state_bytes_per_sequence(m, fp32) == 79036416);

  // embed + lm_head 2 x 151936 x 2048 = 622,329,856; final norm 2,048.
  // full layer: q (gated) 8192x2048 16,777,216 + k, v 512x2048 1,048,576 each + o 2048x4096 8,388,608
  //   + q/k norm 512 = 27,263,488.
  // GDN layer: in_proj_qkvz 12288x2048 25,165,824 + in_proj_ba 64x2048 131,072 + conv 8192x4 32,768
  //   + dt_bias, A_log 64 + norm 128 + out_proj 2048x4096 8,388,608 = 33,718,464.
  // MoE: router 512x2048 1,048,576 + experts 512 x 3 x 512 x 2048 1,610,612,736 + shared 3 x 512 x 2048
  //   3,145,728 + shared_expert_gate 1 x 2048 = 1,614,809,088; norms 2 x 2048 = 4,096.
  // total = 622,331,904 + 12 x 27,263,488 + 36 x 33,718,464 + 48 x 1,614,813,184 = 79,674,391,296, the
  // checkpoint's 81,324,862,720 less its MTP block 1,650,471,424 (SOURCES.md).
  const ParamCounts p = count_params(m);
  CHECK(p.total == 79674391296LL);
  CHECK(p.total == 81324862720LL - 1650471424LL);
  CHECK(std::fabs(p.total / 80e9 - 1) < 0.005);  // published 80B
  // Active: MoE router 1,048,576 + 10 x 3,145,728 + shared 3,145,728 + gate 2,048 + norms 4,096 = 35,657,728 per
  // layer; 622,331,904 + 12 x 27,263,488 + 36 x 33,718,464 + 48 x 35,657,728 = 3,874,929,408
  // (Qwen's "3B" leaves out embed + lm_head: 3,252,599,552).
  CHECK(p.active == 3874929408LL);
}

TEST_CASE("qwen3_next: layer_types list and legacy names", "[hf][qwen]") {
  const std::string common = R"("model_type": "qwen3_next", "hidden_size": 2048, "num_hidden_layers": 4,
      "num_attention_heads": 16, "num_key_value_heads": 2, "vocab_size": 1000, "num_experts": 8,
      "num_experts_per_tok": 2, "moe_intermediate_size": 512, "shared_expert_intermediate_size": 512)";
  const Model by_interval = import_hf_config("{" + common + R"(, "full_attention_interval": 2})", "a.json");
  const Model by_list = import_hf_config(
      "{" + common + R"(, "layer_types": ["linear_attention", "full_attention", "mamba", "attention"]})", "b.json");
  CHECK(structure(by_interval) == structure(by_list));
  CHECK(kind_of(by_list.layers[1]) == LayerKind::attention);
  CHECK(kind_of(by_list.layers[2]) == LayerKind::gated_deltanet);
  CHECK(import_error("{" + common + R"(, "layer_types": ["linear_attention", "sliding_attention", "x", "y"]})")
            .find("field 'layer_types' entry 1 is 'sliding_attention'") != std::string::npos);
  CHECK(import_error("{" + common + R"(, "layer_types": ["full_attention"]})").find("lists 1 layers") != std::string::npos);
}

TEST_CASE("Qwen3.5-35B-A3B: text stack under text_config plus the vision tower", "[hf][qwen]") {
  const Model m = import_hf_config(qwen3_5_35b_config(), "qwen3.5-35b-a3b.json");
  CHECK(m.mtp_layers == 1);  // text_config.mtp_num_hidden_layers 1
  REQUIRE(m.layers.size() == 40);
  CHECK(m.family == "qwen3_5_moe");
  CHECK(count_kinds(m) == std::map<LayerKind, int>{{LayerKind::attention, 10}, {LayerKind::gated_deltanet, 30}});
  CHECK(std::get<Attention>(*m.layers[3].mixer).output_gate);
  CHECK(std::get<MoeMlp>(*m.layers[0].mlp).experts == 256);
  // KV: 10 full layers x 2 KV heads x 256 x 2 x 2 B = 20,480 B/token.
  CHECK(kv_bytes_per_token(m, bf16_cache()) == 20480);
  // GDN state as Qwen3-Next's (same linear shapes): 30 x 1,097,728 = 32,931,840 B.
  CHECK(state_bytes_per_sequence(m, bf16_cache()) == 32931840);
  // Vision: patch embed 1152 x 3 x 2 x 16 x 16 + 1152 = 1,770,624; pos_embed 2304 x 1152 = 2,654,208;
  // block: 2 LayerNorms 4,608 + qkv 3,981,312 + 3,456 + proj 1,327,104 + 1,152 + fc1 4,958,208 + 4,304
  //   + fc2 4,958,208 + 1,152 = 15,239,504; x 27 = 411,466,608;
  // merger: LayerNorm 2,304 + fc1 4608 x 4608 + 4608 = 21,238,272 + fc2 2048 x 4608 + 2048 = 9,439,232.
  // total 1,770,624 + 2,654,208 + 411,466,608 + 30,679,808 = 446,571,248.
  REQUIRE(m.towers.size() == 1);
  CHECK(m.towers[0].name == "vision");
  CHECK(m.towers[0].params() == 446571248);
  // Text: embed + lm_head 2 x 248320 x 2048 = 1,017,118,720 + final norm 2,048; 10 full x 27,263,488;
  // 30 GDN x 33,718,464; 40 MoE x (router 524,288 + experts 805,306,368 + shared 3,145,728 + gate 2,048
  // + 2 norms x 2,048)
  // = 40 x 808,982,528 -> 34,660,610,688. With the tower: 35,107,181,936 = the checkpoint's
  // 35,951,822,704 less MTP 844,640,768 (SOURCES.md).
  const ParamCounts p = count_params(m);
  CHECK(p.total - p.towers == 34660610688LL);
  CHECK(p.total == 35951822704LL - 844640768LL);
  // The bundled YAML is the same model.
  const Model yaml = kvplan::test::model("qwen3.5-35b-a3b");
  CHECK(structure(yaml) == structure(m));
  CHECK(yaml.towers == m.towers);
  CHECK(count_params(yaml).total == p.total);
}

TEST_CASE("Qwen3.5-27B: dense MLP on every layer, 48 value heads", "[hf][qwen]") {
  const Model m = import_hf_config(kQwen3_5_27b, "qwen3.5-27b.json");
  REQUIRE(m.layers.size() == 64);
  CHECK(m.mtp_layers == 0);  // this copy of the fields leaves mtp_num_hidden_layers out
  CHECK(count_kinds(m) == std::map<LayerKind, int>{{LayerKind::attention, 16}, {LayerKind::gated_deltanet, 48}});
  CHECK(std::get<DenseMlp>(*m.layers[0].mlp).intermediate_size == 17408);
  for (const Layer& l : m.layers) CHECK(l.norms == 2);
  // KV: 16 full layers x 4 KV heads x 256 x 2 x 2 B = 65,536 B/token.
  CHECK(kv_bytes_per_token(m, bf16_cache()) == 65536);
  // GDN: conv_dim 2 x 2048 + 48 x 128 = 10,240; conv 3 x 10,240 x 2 B = 61,440; temporal
  // 48 x 128 x 128 x 2 B = 1,572,864 -> 1,634,304 per layer; x 48 = 78,446,592 B.
  CHECK(state_bytes_per_sequence(m, bf16_cache()) == 48LL * (3 * 10240 * 2 + 48 * 128 * 128 * 2));
  // Vision as 35B-A3B's but merger fc2 5120 x 4608 + 5120 = 23,598,080: 460,730,096.
  REQUIRE(m.towers.size() == 1);
  CHECK(m.towers[0].params() == 460730096);
  // Text: embed + lm_head 2 x 248320 x 5120 = 2,542,796,800 + 5,120;
  // full: q 12288x5120 62,914,560 + k, v 1024x5120 5,242,880 each + o 5120x6144 31,457,280 + 512
  //   = 104,858,112; x 16 = 1,677,729,792;
  // GDN: qkvz 16384x5120 83,886,080 + ba 96x5120 491,520 + conv 10240x4 40,960 + 96 + 128
  //   + out 5120x6144 31,457,280 = 115,876,064; x 48 = 5,562,051,072;
  // MLP 3 x 17408 x 5120 = 267,386,880 + norms 10,240; x 64 = 17,113,415,680.
  // total 26,895,998,464 + 460,730,096 = 27,356,728,560 (published "27B": 27.36B rounds to it).
  const ParamCounts p = count_params(m);
  CHECK(p.total - p.towers == 26895998464LL);
  CHECK(p.total == 27356728560LL);
  CHECK(std::fabs(static_cast<double>(p.total) - 27e9) < 0.5e9);
  const Model yaml = kvplan::test::model("qwen3.5-27b");
  CHECK(structure(yaml) == structure(m));
  CHECK(yaml.towers == m.towers);
}

TEST_CASE("bundled Qwen3 models: parameter counts from their configs", "[hf][qwen][params]") {
  using kvplan::test::model;
  // Qwen3-8B: embed + lm_head 2 x 151936 x 4096 = 1,244,659,712 + 4,096; per layer q 4096x4096 + k, v
  // 1024x4096 + o 4096x4096 = 41,943,040 + q/k norm 256 + MLP 3 x 12288 x 4096 = 150,994,944 + 8,192
  // = 192,946,432; x 36 = 6,946,071,552 -> 8,190,735,360 (published 8.2B).
  CHECK(count_params(model("qwen3-8b")).total == 8190735360LL);
  // Qwen3-32B: 2 x 151936 x 5120 = 1,555,824,640 + 5,120; per layer 8192x5120 x 2 + 1024x5120 x 2
  // = 94,371,840 + 256 + 3 x 25600 x 5120 = 393,216,000 + 10,240 = 487,598,336; x 64 -> 32,762,123,264.
  CHECK(count_params(model("qwen3-32b")).total == 32762123264LL);
  // Qwen3-235B-A22B: 2 x 151936 x 4096 + 4,096 = 1,244,663,808; per layer attention 71,303,168 + 256,
  // router 524,288, experts 128 x 3 x 1536 x 4096 = 2,415,919,104, norms 8,192 -> 2,487,755,008; x 94.
  // Active: 71,303,168 + 256 + 524,288 + 8 x 18,874,368 + 8,192 = 222,830,848 x 94 + 1,244,663,808.
  const ParamCounts big = count_params(model("qwen3-235b-a22b"));
  CHECK(big.total == 235093634560LL);
  CHECK(big.active == 22190763520LL);
  CHECK(std::fabs(big.total / 235e9 - 1) < 0.005);
  CHECK(std::fabs(big.active / 22e9 - 1) < 0.01);
  CHECK(count_params(model("qwen3-next-80b-a3b")).total == 79674391296LL);
}

TEST_CASE("Qwen import errors", "[hf][qwen]") {
  CHECK(import_error(R"({"model_type": "qwen3_moe", "hidden_size": 1024, "num_hidden_layers": 2,
      "num_attention_heads": 16, "vocab_size": 1000, "num_experts_per_tok": 2, "moe_intermediate_size": 256})") ==
        "cfg.json: missing field 'num_experts'");
  CHECK(import_error(R"({"model_type": "qwen3_5", "text_config": {"hidden_size": 1024, "vocab_size": 1000,
      "num_hidden_layers": 4, "num_attention_heads": 8, "intermediate_size": 3072,
      "linear_num_value_heads": "32"}})")
            .find("field 'text_config.linear_num_value_heads' must be an integer") != std::string::npos);
  CHECK(import_error(R"({"model_type": "qwen3_5", "text_config": {"hidden_size": 1024, "vocab_size": 1000,
      "num_hidden_layers": 4, "num_attention_heads": 8, "intermediate_size": 3072},
      "vision_config": {"depth": true}})")
            .find("field 'vision_config.depth' must be an integer") != std::string::npos);
  CHECK(import_error(R"({"model_type": "qwen3_moe", "hidden_size": 1024, "num_hidden_layers": 2, "num_attention_heads": 16,
      "vocab_size": 1000, "num_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": 256,
      "decoder_sparse_step": 0})")
            .find("decoder_sparse_step") != std::string::npos);
}

TEST_CASE("Qwen3-VL: Qwen3 / Qwen3-MoE text stacks and a vision tower with deepstack mergers", "[hf][qwen]") {
  // Vision (vh 1152, vi 4304, depth 27, merge 2 -> 4608 merged): Conv3d 1152 x 3 x 2 x 16 x 16 + 1152 =
  // 1,770,624; pos_embed 2304 x 1152 = 2,654,208; 27 blocks x 15,239,504 = 411,466,608 -> 415,891,440.
  // Merger: LayerNorm(1152) 2,304 + fc1 4608^2 + 4608 + fc2 out x 4608 + out; each deepstack merger:
  // LayerNorm(4608) 9,216 + fc1 21,238,272 + fc2 out x 4608 + out.
  //   out 4096 (8B): merger 2,304 + 21,238,272 + 18,878,464 = 40,119,040; deepstack 9,216 +
  //     21,238,272 + 18,878,464 = 40,125,952; x 3 -> 415,891,440 + 40,119,040 + 120,377,856 = 576,388,336.
  //   out 2048 (30B-A3B): merger 2,304 + 21,238,272 + 9,439,232 = 30,679,808; deepstack 30,686,720 x 3
  //     -> 415,891,440 + 30,679,808 + 92,060,160 = 538,631,408.
  // Text: Qwen3-8B's 8,190,735,360 (tests/params + hf tests) and Qwen3-30B-A3B's 30,532,122,624.
  // Totals equal the checkpoints' safetensors totals (SOURCES.md Part F): 8,767,123,696 and
  // 31,070,754,032.
  const Model vl8 = import_file(kFixtures + "/qwen3-vl-8b.json");
  CHECK(vl8.family == "qwen3_vl");
  CHECK_FALSE(vl8.tie_word_embeddings);
  REQUIRE(vl8.towers.size() == 1);
  CHECK(vl8.towers[0].params() == 576388336);
  CHECK(count_params(vl8).total == 8767123696LL);
  // KV as Qwen3-8B: 36 x 8 x 128 x 2 x 2 B = 147,456 B/token.
  CHECK(kv_bytes_per_token(vl8, bf16_cache()) == 147456);
  const Model vl30 = import_file(kFixtures + "/qwen3-vl-30b-a3b.json");
  CHECK(vl30.family == "qwen3_vl_moe");
  CHECK(count_kinds(vl30) == std::map<LayerKind, int>{{LayerKind::attention, 48}});
  CHECK(vl30.towers[0].params() == 538631408);
  CHECK(count_params(vl30).total == 31070754032LL);
  CHECK(count_params(vl30).active == 3353032704LL);  // Qwen3-30B-A3B's active count (text only)
  // The other published sizes, each the checkpoint's safetensors total (SOURCES.md Part F). 2B and 4B
  // are tied (no lm_head stored); 32B and 235B-A22B untied.
  CHECK(count_params(import_file(kFixtures + "/extra/qwen3-vl-2b-instruct.json")).total == 2127532032LL);
  CHECK(count_params(import_file(kFixtures + "/extra/qwen3-vl-4b-instruct.json")).total == 4437815808LL);
  CHECK(count_params(import_file(kFixtures + "/extra/qwen3-vl-32b-instruct.json")).total == 33357390064LL);
  CHECK(count_params(import_file(kFixtures + "/extra/qwen3-vl-235b-a22b-instruct.json")).total == 235670022896LL);
}

TEST_CASE("qwen2_moe (Qwen1.5-MoE-A2.7B): shared expert with its sigmoid gate, q/k/v bias", "[hf][qwen]") {
  // Qwen/Qwen1.5-MoE-A2.7B's shape fields (SOURCES.md "qwen2_moe": no verbatim config.json was found; these
  // are the Qwen1.5-MoE-A2.7B-Chat-GPTQ-Int4 copy's, whose layers are the same, without its
  // quantization_config, with torch_dtype bfloat16 and Qwen2MoeConfig's max_position_embeddings 8192).
  const Model m = import_hf_config(R"({"architectures": ["Qwen2MoeForCausalLM"], "model_type": "qwen2_moe",
      "decoder_sparse_step": 1, "hidden_size": 2048, "intermediate_size": 5632, "max_position_embeddings": 8192,
      "max_window_layers": 21, "moe_intermediate_size": 1408, "norm_topk_prob": false, "num_attention_heads": 16,
      "num_experts": 60, "num_experts_per_tok": 4, "num_hidden_layers": 24, "num_key_value_heads": 16,
      "shared_expert_intermediate_size": 5632, "sliding_window": 32768, "tie_word_embeddings": false,
      "torch_dtype": "bfloat16", "use_sliding_window": false, "vocab_size": 151936})",
                                   "qwen1.5-moe-a2.7b.json");
  CHECK(m.family == "qwen2_moe");
  REQUIRE(m.layers.size() == 24);
  CHECK(count_kinds(m) == std::map<LayerKind, int>{{LayerKind::attention, 24}});  // use_sliding_window false
  const Attention& a = attention_of(m.layers[0]);
  CHECK(a.heads == 16);
  CHECK(a.kv_heads == 16);
  CHECK(a.head_dim == 128);
  CHECK(a.qkv_bias);
  CHECK_FALSE(a.o_bias);
  CHECK_FALSE(a.qk_norm);
  for (const Layer& l : m.layers) REQUIRE(std::holds_alternative<MoeMlp>(*l.mlp));
  const MoeMlp& e = std::get<MoeMlp>(*m.layers[0].mlp);
  CHECK(e.experts == 60);
  CHECK(e.experts_per_token == 4);
  CHECK(e.expert_intermediate_size == 1408);
  CHECK(e.shared_experts == 1);
  CHECK(e.shared_intermediate_size == 5632);
  CHECK(e.shared_expert_gate);
  // KV: 24 layers x 16 KV heads x 128 x (K+V) 2 x 2 B = 196,608 B/token.
  CHECK(kv_bytes_per_token(m, bf16_cache()) == 196608);
  // per layer: q, k, v 3 x (2048 x 2048 + 2048) = 12,589,056 + o 2048 x 2048 = 4,194,304 -> 16,783,360;
  //   router 60 x 2048 = 122,880; experts 60 x 3 x 1408 x 2048 = 519,045,120; shared expert 3 x 5632 x 2048
  //   = 34,603,008; shared_expert_gate 2,048; 2 norms 4,096 -> 570,560,512; x 24 = 13,693,452,288.
  // embed + lm_head 2 x 151936 x 2048 = 622,329,856; final norm 2,048.
  // total 13,693,452,288 + 622,331,904 = 14,315,784,192: keras-hub's qwen1.5_moe_2.7b_en preset "params"
  // (SOURCES.md).
  // active: 16,783,360 + 122,880 + 4 x 8,650,752 + 34,603,008 + 2,048 + 4,096 = 86,118,400 per layer;
  //   x 24 = 2,066,841,600 + 622,331,904 = 2,689,173,504 ("2.7B activated", model card).
  const ParamCounts p = count_params(m);
  CHECK(p.total == 14315784192LL);
  CHECK(p.active == 2689173504LL);
}

TEST_CASE("qwen2_moe: decoder_sparse_step, mlp_only_layers and the Qwen2 window rule", "[hf][qwen]") {
  // Layer i is sparse iff not in mlp_only_layers and (i+1) % decoder_sparse_step == 0; with
  // use_sliding_window, layers >= max_window_layers slide.
  const Model m = import_hf_config(R"({"model_type": "qwen2_moe", "hidden_size": 1024, "num_hidden_layers": 4,
      "num_attention_heads": 16, "num_key_value_heads": 4, "intermediate_size": 3072, "vocab_size": 1000,
      "num_experts": 8, "num_experts_per_tok": 2, "moe_intermediate_size": 256,
      "shared_expert_intermediate_size": 512, "decoder_sparse_step": 2, "mlp_only_layers": [3],
      "use_sliding_window": true, "sliding_window": 2048, "max_window_layers": 2})",
                                   "q.json");
  REQUIRE(m.layers.size() == 4);
  CHECK(std::get<DenseMlp>(*m.layers[0].mlp) == DenseMlp{3072, true, false});
  CHECK(std::holds_alternative<MoeMlp>(*m.layers[1].mlp));
  CHECK(std::holds_alternative<DenseMlp>(*m.layers[2].mlp));
  CHECK(std::holds_alternative<DenseMlp>(*m.layers[3].mlp));
  CHECK(kind_of(m.layers[1]) == LayerKind::attention);
  CHECK(kind_of(m.layers[2]) == LayerKind::sliding_attention);
  CHECK(attention_of(m.layers[3]).sliding_window == 2048);
}

TEST_CASE("qwen2_moe: bad input is one located error", "[hf][qwen]") {
  CHECK(import_error(R"({"model_type": "qwen2_moe", "hidden_size": 1024, "num_hidden_layers": 2,
      "num_attention_heads": 16, "vocab_size": 1000, "num_experts": 8, "num_experts_per_tok": 2,
      "moe_intermediate_size": 256, "decoder_sparse_step": 0})") ==
        // Line 3: 6 spaces and "moe_intermediate_size": 256, (30 characters): column 37.
        "cfg.json:3:37: field 'decoder_sparse_step' must be positive (got 0)");
  CHECK(import_error(R"({"model_type": "qwen2_moe", "hidden_size": 1024, "num_hidden_layers": 2,
      "num_attention_heads": 16, "vocab_size": 1000, "num_experts": 8, "moe_intermediate_size": 256})") ==
        "cfg.json: missing field 'num_experts_per_tok'");
}
