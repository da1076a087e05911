// HF import of the hybrid families falcon_h1 (attention + Mamba-2 side by side) and
// granitemoehybrid (Mamba-2 or attention, then MoE + shared MLP), plus the bundled Nemotron-Nano-
// 9B-v2: layer kinds, KV bytes, Mamba state and parameters derived by hand from the configs
// (tests/fixtures/hf/SOURCES.md). Mamba state per layer as vLLM sizes it (mamba_utils.py):
// conv (d_conv - 1) x (d_ssm + 2 x groups x d_state), ssm heads x head_dim x d_state.
#include <catch2/catch.hpp>

#include <map>
#include <string>

#include "core/kv_cache.h"
#include "core/params.h"
#include "io/hf_config.h"
#include "test_helpers.h"
#include "hf_test_helpers.h"

using namespace kvplan;
using namespace kvplan::test;
using kvplan::test::model;

namespace {

std::string repeat(const std::string& item, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += (i ? ", " : "") + item;
  return out;
}

// Falcon-H1-7B-Instruct fields (SOURCES.md falcon-h1-7b), with the flags every released
// Falcon-H1 config carries (mamba_rms_norm, mamba_proj_bias, projectors_bias false).
const std::string kFalconH17b = R"({"model_type": "falcon_h1", "hidden_size": 3072, "num_hidden_layers": 44,
    "num_attention_heads": 12, "num_key_value_heads": 2, "head_dim": 128, "intermediate_size": 12288,
    "vocab_size": 130048, "tie_word_embeddings": false, "mamba_d_state": 256, "mamba_n_groups": 1,
    "mamba_n_heads": 24, "mamba_d_head": 128, "mamba_d_ssm": 3072, "mamba_expand": 2, "mamba_d_conv": 4,
    "mamba_chunk_size": 128, "max_position_embeddings": 262144, "attn_layer_indices": null,
    "mamba_rms_norm": false, "mamba_proj_bias": false, "projectors_bias": false, "mamba_conv_bias": true})";

}  // namespace

TEST_CASE("falcon_h1 (Falcon-H1-7B): every layer attention + Mamba-2 in parallel", "[hf][hybrid]") {
  const Model m = import_hf_config(kFalconH17b, "falcon-h1-7b.json");
  CHECK(m.family == "falcon_h1");
  CHECK(count_kinds(m) == std::map<LayerKind, int>{{LayerKind::parallel_hybrid, 44}});
  const ParallelHybrid& p = std::get<ParallelHybrid>(*m.layers[0].mixer);
  CHECK(p.attention.head_dim == 128);  // explicit head_dim, not 3072 / 12 = 256
  CHECK(p.attention.kv_heads == 2);
  CHECK(p.mamba.n_heads == 24);
  CHECK(p.mamba.head_dim == 128);
  CHECK(p.mamba.d_inner() == 3072);
  CHECK_FALSE(p.mamba.gated_norm);
  CHECK(m.layers[0].norms == 2);
  CHECK(std::get<DenseMlp>(*m.layers[0].mlp).intermediate_size == 12288);
  CHECK(structure(m) == structure(model("falcon-h1-7b")));
  // KV in every layer: 44 x 2 KV heads x 128 x 2 x 2 B = 45,056 B/token.
  CHECK(kv_bytes_per_token(m, bf16_cache()) == 45056);
  // State per layer: conv 3 x (3072 + 2 x 1 x 256) = 10,752; ssm 24 x 128 x 256 = 786,432;
  // (10,752 + 786,432) x 2 B = 1,594,368; x 44 = 70,152,192 B.
  CHECK(state_bytes_per_sequence(m, bf16_cache()) == 44LL * (10752 + 786432) * 2);
  // Per layer: attention q 1536 x 3072 = 4,718,592, k, v 2 x 256 x 3072 = 1,572,864, o 4,718,592;
  // Mamba in_proj (3072 + 3584 + 24) x 3072 = 20,520,960, conv 3584 x 4 + 3584 = 17,920,
  // dt_bias/A_log/D 72, out_proj 3072^2 = 9,437,184; MLP 3 x 3072 x 12288 = 113,246,208;
  // 2 norms 6,144 -> 154,238,536; x 44 = 6,786,495,584; + 2 x 130048 x 3072 = 799,014,912 + 3,072.
  CHECK(count_params(m).total == 7585513568LL);
}

TEST_CASE("falcon_h1 defaults and refusals", "[hf][hybrid]") {
  // configuration_falcon_h1.py: kv 8, mamba_d_ssm 1024 = 128 heads x "auto" (8), 1 group,
  // d_state 256, d_conv 4, intermediate 14336, no gated norm.
  const Model m = import_hf_config(R"({"model_type": "falcon_h1", "hidden_size": 1024, "num_hidden_layers": 2,
      "num_attention_heads": 16, "vocab_size": 32784})",
                                   "d.json");
  const ParallelHybrid& p = std::get<ParallelHybrid>(*m.layers[0].mixer);
  CHECK(p.attention.kv_heads == 8);
  CHECK(p.attention.head_dim == 64);  // 1024 / 16
  CHECK(p.mamba.n_heads == 128);
  CHECK(p.mamba.head_dim == 8);
  CHECK(p.mamba.n_groups == 1);
  CHECK(p.mamba.d_state == 256);
  CHECK_FALSE(p.mamba.gated_norm);
  CHECK(std::get<DenseMlp>(*m.layers[0].mlp).intermediate_size == 14336);
  CHECK(m.max_context == 8192);
  // mamba_d_ssm null: mamba_expand x hidden = 2048 = 32 x 64; mamba_rms_norm adds the gated norm.
  const Model e = import_hf_config(R"({"model_type": "falcon_h1", "hidden_size": 1024, "num_hidden_layers": 1,
      "num_attention_heads": 16, "vocab_size": 32784, "mamba_d_ssm": null, "mamba_n_heads": 32,
      "mamba_rms_norm": true})",
                                   "e.json");
  const ParallelHybrid& q = std::get<ParallelHybrid>(*e.layers[0].mixer);
  CHECK(q.mamba.d_inner() == 2048);
  CHECK(q.mamba.head_dim == 64);
  CHECK(q.mamba.gated_norm);
  CHECK_THROWS_WITH(import_hf_config(R"({"model_type": "falcon_h1", "hidden_size": 1024, "num_hidden_layers": 1,
      "num_attention_heads": 16, "vocab_size": 32784, "projectors_bias": true})",
                                     "b.json"),
                    Catch::Contains("projectors_bias"));
  CHECK_THROWS_WITH(import_hf_config(R"({"model_type": "falcon_h1", "hidden_size": 1024, "num_hidden_layers": 1,
      "num_attention_heads": 16, "vocab_size": 32784, "mamba_d_ssm": 1024, "mamba_n_heads": 16, "mamba_d_head": 32})",
                                     "w.json"),
                    Catch::Contains("must equal mamba_d_ssm"));
}

TEST_CASE("bundled Falcon-H1-34B: KV and state", "[hf][hybrid]") {
  const Model m = model("falcon-h1-34b");
  // 72 x 4 KV heads x 128 x 2 x 2 B = 147,456 B/token (144 KiB).
  CHECK(kv_bytes_per_token(m, bf16_cache()) == 147456);
  // Per layer: conv 3 x (4096 + 2 x 2 x 256) = 15,360; ssm 32 x 128 x 256 = 1,048,576;
  // x 2 B = 2,127,872; x 72 = 153,206,784 B.
  CHECK(state_bytes_per_sequence(m, bf16_cache()) == 153206784LL);
  // Per layer: attention 2 x 2560 x 5120 + 2 x 512 x 5120 = 31,457,280; Mamba in_proj
  // (4096 + 5120 + 32) x 5120 = 47,349,760, conv 5120 x 5 = 25,600, 96, out_proj 5120 x 4096 =
  // 20,971,520; MLP 3 x 5120 x 21504 = 330,301,440; norms 10,240 -> 430,115,936; x 72 =
  // 30,968,347,392; + 2 x 261120 x 5120 = 2,673,868,800 + 5,120 (vocab and MLP width unverified).
  CHECK(count_params(m).total == 33642221312LL);
}

TEST_CASE("granitemoehybrid (Granite-4.0-H-Tiny): Mamba-2 / attention, each with MoE + shared MLP",
          "[hf][hybrid][moe]") {
  // ibm-granite/granite-4.0-h-tiny fields as a public test fixture quotes them (models/granite-4.0-h-tiny.yaml).
  const std::string types = "[" + repeat("\"mamba\"", 5) + ", \"attention\", " + repeat("\"mamba\"", 9) +
                            ", \"attention\", " + repeat("\"mamba\"", 9) + ", \"attention\", " +
                            repeat("\"mamba\"", 9) + ", \"attention\", " + repeat("\"mamba\"", 4) + "]";
  const std::string common = R"("model_type": "granitemoehybrid", "hidden_size": 1536, "num_hidden_layers": 40,
      "num_attention_heads": 12, "num_key_value_heads": 4, "vocab_size": 100352, "tie_word_embeddings": true,
      "mamba_d_state": 128, "mamba_n_groups": 1, "mamba_n_heads": 48, "mamba_d_head": 64, "mamba_expand": 2,
      "mamba_d_conv": 4, "mamba_chunk_size": 256, "max_position_embeddings": 131072, "layer_types": )" + types;
  const Model m = import_hf_config("{" + common + R"(, "intermediate_size": 512, "shared_intermediate_size": 1024,
      "num_local_experts": 64, "num_experts_per_tok": 6})",
                                   "granite-4.0-h-tiny.json");
  CHECK(m.family == "granitemoehybrid");
  CHECK(count_kinds(m) == std::map<LayerKind, int>{{LayerKind::mamba2, 36}, {LayerKind::attention, 4}});
  CHECK(kind_of(m.layers[5]) == LayerKind::attention);
  CHECK(kind_of(m.layers[35]) == LayerKind::attention);
  const MoeMlp& e = std::get<MoeMlp>(*m.layers[0].mlp);
  CHECK(e.experts == 64);
  CHECK(e.experts_per_token == 6);
  CHECK(e.expert_intermediate_size == 512);
  CHECK(e.shared_experts == 1);
  CHECK(e.shared_intermediate_size == 1024);
  CHECK(std::holds_alternative<MoeMlp>(*m.layers[5].mlp));
  CHECK(structure(m) == structure(model("granite-4.0-h-tiny")));
  // KV only at the 4 attention layers: 4 x 4 x 128 x 2 x 2 B = 8,192 B/token.
  CHECK(kv_bytes_per_token(m, bf16_cache()) == 8192);
  // Per Mamba layer: conv 3 x (3072 + 2 x 128) = 9,984; ssm 48 x 64 x 128 = 393,216;
  // x 2 B = 806,400; x 36 = 29,030,400 B.
  CHECK(state_bytes_per_sequence(m, bf16_cache()) == 29030400LL);
  // Mamba in_proj (3072 + 3328 + 48) x 1536 = 9,904,128, conv 3328 x 5 = 16,640, 144, norm 3,072,
  // out_proj 1536 x 3072 = 4,718,592 -> 14,642,576; attention 2 x 1536^2 + 2 x 512 x 1536 =
  // 6,291,456; MoE router 64 x 1536 = 98,304 + experts 64 x 3 x 1536 x 512 = 150,994,944 + shared
  // 3 x 1536 x 1024 = 4,718,592 -> 155,811,840; 2 norms 3,072.
  // 36 x 170,457,488 + 4 x 162,106,368 + tied 100352 x 1536 = 154,140,672 + 1,536.
  const ParamCounts p = count_params(m);
  CHECK(p.total == 6939037248LL);
  // Active: 6 of 64 experts, 58 x 2,359,296 x 40 = 5,473,566,720 fewer.
  CHECK(p.active == 1465470528LL);

  // Granite-4.0-H-1B (num_local_experts 0): the shared MLP is the layer's dense MLP.
  const Model d = import_hf_config("{" + common + R"(, "intermediate_size": 4096, "shared_intermediate_size": 4096,
      "num_local_experts": 0, "num_experts_per_tok": 0})",
                                   "granite-4.0-h-1b.json");
  const DenseMlp& mlp = std::get<DenseMlp>(*d.layers[0].mlp);
  CHECK(mlp.intermediate_size == 4096);
  CHECK(mlp.gated);
}

TEST_CASE("granitemoehybrid defaults and errors", "[hf][hybrid]") {
  // configuration_granitemoehybrid.py: no layer_types = all Mamba; 8 experts top-2,
  // shared 1024; 128 Mamba heads x "auto" (2 x 1024 / 128 = 16), d_state 256.
  const Model m = import_hf_config(R"({"model_type": "granitemoehybrid", "hidden_size": 1024,
      "num_hidden_layers": 3, "num_attention_heads": 8, "vocab_size": 1000, "intermediate_size": 512})",
                                   "g.json");
  CHECK(count_kinds(m) == std::map<LayerKind, int>{{LayerKind::mamba2, 3}});
  const Mamba2& s = std::get<Mamba2>(*m.layers[0].mixer);
  CHECK(s.n_heads == 128);
  CHECK(s.head_dim == 16);
  CHECK(s.d_state == 256);
  CHECK(s.gated_norm);
  const MoeMlp& e = std::get<MoeMlp>(*m.layers[0].mlp);
  CHECK(e.experts == 8);
  CHECK(e.experts_per_token == 2);
  CHECK(e.shared_intermediate_size == 1024);
  CHECK_THROWS_WITH(import_hf_config(R"({"model_type": "granitemoehybrid", "hidden_size": 1024,
      "num_hidden_layers": 2, "num_attention_heads": 8, "vocab_size": 1000, "layer_types": ["mamba", "conv"]})",
                                     "bad.json"),
                    Catch::Contains("unknown layer type 'conv'"));
  CHECK_THROWS_WITH(import_hf_config(R"({"model_type": "granitemoehybrid", "hidden_size": 1024,
      "num_hidden_layers": 2, "num_attention_heads": 8, "vocab_size": 1000, "layer_types": ["mamba"]})",
                                     "short.json"),
                    Catch::Contains("lists 1 layers but num_hidden_layers is 2"));
}

TEST_CASE("bundled Granite-4.0-H-Small: 32B total, 9B active", "[hf][hybrid][moe]") {
  const Model m = model("granite-4.0-h-small");
  CHECK(count_kinds(m) == std::map<LayerKind, int>{{LayerKind::mamba2, 36}, {LayerKind::attention, 4}});
  // 4 x 8 x 128 x 2 x 2 B = 16,384 B/token.
  CHECK(kv_bytes_per_token(m, bf16_cache()) == 16384);
  // Per Mamba layer: conv 3 x (8192 + 256) = 25,344; ssm 128 x 64 x 128 = 1,048,576;
  // x 2 B = 2,147,840; x 36 = 77,322,240 B.
  CHECK(state_bytes_per_sequence(m, bf16_cache()) == 77322240LL);
  // Mamba in_proj (8192 + 8448 + 128) x 4096 = 68,681,728, conv 8448 x 5 = 42,240, 384, norm 8,192,
  // out_proj 4096 x 8192 = 33,554,432 -> 102,286,976; attention 2 x 4096^2 + 2 x 1024 x 4096 =
  // 41,943,040; MoE 72 x 4096 + 72 x 3 x 4096 x 768 + 3 x 4096 x 1536 = 698,646,528; norms 8,192.
  // 36 x 800,941,696 + 4 x 740,597,760 + tied 100352 x 4096 = 411,041,792 + 4,096.
  const ParamCounts p = count_params(m);
  CHECK(p.total == 32207337984LL);
  // 10 of 72 experts active: 40 x 62 x 9,437,184 = 23,404,216,320 fewer.
  CHECK(p.active == 8803121664LL);
}

TEST_CASE("nemotron_h (Nemotron-Nano-9B-v2) against its bundled YAML", "[hf][hybrid]") {
  // Fields from SOURCES.md nemotron-nano-9b-v2.
  const Model m = import_hf_config(R"({"model_type": "nemotron_h", "vocab_size": 131072, "hidden_size": 4480,
      "intermediate_size": 15680, "num_hidden_layers": 56, "num_attention_heads": 40, "num_key_value_heads": 8,
      "head_dim": 128, "max_position_embeddings": 131072,
      "hybrid_override_pattern": "M-M-M-MM-M-M-M*-M-M-M*-M-M-M-M*-M-M-M-M*-M-MM-M-M-M-M-M-",
      "mamba_num_heads": 128, "mamba_head_dim": 80, "n_groups": 8, "ssm_state_size": 128, "conv_kernel": 4,
      "tie_word_embeddings": false})",
                                   "nemotron-nano-9b-v2.json");
  CHECK(count_kinds(m) ==
        std::map<LayerKind, int>{{LayerKind::mamba2, 27}, {LayerKind::mlp_only, 25}, {LayerKind::attention, 4}});
  CHECK(structure(m) == structure(model("nemotron-nano-9b-v2")));
  // NemotronHAttention has no positional encoding (vLLM's nemotron_h.py builds no rotary_emb).
  for (const Layer& l : m.layers)
    if (l.mixer)
      if (const auto* a = std::get_if<Attention>(&*l.mixer)) CHECK_FALSE(a->rope);
  // 4 x 8 x 128 x 2 x 2 B = 16,384 B/token.
  CHECK(kv_bytes_per_token(m, bf16_cache()) == 16384);
  // Per Mamba layer: conv 3 x (10240 + 2 x 8 x 128) = 36,864; ssm 128 x 80 x 128 = 1,310,720;
  // x 2 B = 2,695,168; x 27 = 72,769,536 B.
  CHECK(state_bytes_per_sequence(m, bf16_cache()) == 72769536LL);
  // SOURCES.md computed count: 27 x 147,450,624 + 25 x 140,497,280 + 4 x 55,054,720
  // + 2 x 131072 x 4480 + 4,480 = 8,888,227,328.
  CHECK(count_params(m).total == 8888227328LL);
}
