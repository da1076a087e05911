// HF import of the multimodal wrappers (src/io/hf/multimodal.cpp, gemma3 in dense.cpp): the text
// stack's layers, KV bytes, and the vision tower + projector parameters in Model::towers, derived by
// hand from the configs and the tensor rules in tests/fixtures/hf/SOURCES.md / SOURCES.md.
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

int64_t tower_params(const Model& m, const std::string& name) {
  for (const Tensor& t : m.towers)
    if (t.name == name) return t.params();
  return -1;
}


// Llama-4-Scout's fields from the transformers Llama4Config dump cited in SOURCES.md (its moe_layers
// "0..47" is not JSON; interleave_moe_layer_step 1 gives the same list).
const char* kScoutVision = R"("vision_config": {"hidden_size": 1408, "image_size": 336, "intermediate_size": 5632,
    "model_type": "llama4_vision_model", "multi_modal_projector_bias": false, "num_attention_heads": 16,
    "num_channels": 3, "num_hidden_layers": 34, "patch_size": 14, "pixel_shuffle_ratio": 0.5,
    "projector_input_dim": 4096, "projector_output_dim": 4096, "vision_output_dim": 4096})";
std::string llama4_config(int experts, int step, int max_pos) {
  return R"({"model_type": "llama4", "tie_word_embeddings": false, "text_config": {
    "attention_bias": false, "attention_chunk_size": 8192, "head_dim": 128, "hidden_size": 5120,
    "interleave_moe_layer_step": )" +
         std::to_string(step) + R"(, "intermediate_size": 8192, "intermediate_size_mlp": 16384,
    "max_position_embeddings": )" +
         std::to_string(max_pos) + R"(, "model_type": "llama4_text",
    "no_rope_layers": [1,1,1,0,1,1,1,0,1,1,1,0,1,1,1,0,1,1,1,0,1,1,1,0,1,1,1,0,1,1,1,0,1,1,1,0,1,1,1,0,1,1,1,0,1,1,1,0],
    "num_attention_heads": 40, "num_experts_per_tok": 1, "num_hidden_layers": 48, "num_key_value_heads": 8,
    "num_local_experts": )" +
         std::to_string(experts) + R"(, "torch_dtype": "bfloat16", "use_qk_norm": true, "vocab_size": 202048},
    )" + kScoutVision + "}";
}

}  // namespace

TEST_CASE("Llama-4-Scout: chunked attention on RoPE layers, MoE with a shared expert, vision tower", "[hf][multimodal]") {
  const Model m = import_hf_config(llama4_config(16, 1, 10485760), "llama-4-scout.json");
  REQUIRE(m.layers.size() == 48);
  // no_rope_layers [1,1,1,0] x 12: 36 RoPE layers chunked, 12 NoPE layers (3, 7, ..., 47) global.
  CHECK(count_kinds(m) == std::map<LayerKind, int>{{LayerKind::chunked_attention, 36}, {LayerKind::attention, 12}});
  CHECK(kind_of(m.layers[3]) == LayerKind::attention);
  CHECK(std::get<Attention>(*m.layers[0].mixer).chunk_size == 8192);
  for (const Layer& l : m.layers) REQUIRE(std::holds_alternative<MoeMlp>(*l.mlp));
  const MoeMlp& e = std::get<MoeMlp>(*m.layers[0].mlp);
  CHECK(e.experts == 16);
  CHECK(e.experts_per_token == 1);
  CHECK(e.shared_experts == 1);
  CHECK(e.shared_intermediate_size == 8192);
  // KV: 48 layers x 8 KV heads x 128 x 2 x 2 B = 196,608 B/token while every layer holds the token;
  // at 100,000 tokens the chunked layers keep one chunk: 4,096 B x (12 x 100,000 + 36 x 8,192)
  // = 6,123,159,552 B.
  CHECK(kv_bytes_per_token(m, bf16_cache()) == 48 * 8 * 128 * 2 * 2);
  CHECK(kv_bytes_per_sequence(m, 100000, bf16_cache()) == 4096LL * (12 * 100000 + 36 * 8192));
  // Vision: patch linear 1408 x 588 = 827,904; class 1,408; positions 577 x 1408 = 812,416; pre/post
  // LayerNorms 5,632; block: q/k/v/o 4 x (1,982,464 + 1,408) = 7,935,488, fc1 7,929,856 + 5,632, fc2
  // 7,929,856 + 1,408, 2 LayerNorms 5,632 -> 23,807,872; x 34 = 809,467,648; adapter fc1 4096 x 5632
  // = 23,068,672, fc2 4096 x 4096 = 16,777,216. Total 850,960,896. Projector 5120 x 4096 = 20,971,520.
  CHECK(tower_params(m, "vision") == 850960896);
  CHECK(tower_params(m, "projector") == 20971520);
  // Text: embed + lm_head 2 x 202048 x 5120 = 2,068,971,520 + 5,120; per layer attention
  // 26,214,400 x 2 + 5,242,880 x 2 = 62,914,560, router 81,920, experts 16 x 3 x 8192 x 5120
  // = 2,013,265,920, shared 125,829,120, norms 10,240 -> 2,202,101,760; x 48 = 105,700,884,480.
  // Total 107,769,861,120 + 871,932,416 = 108,641,793,536 (published 109B: -0.33%).
  const ParamCounts p = count_params(m);
  CHECK(p.total == 108641793536LL);
  CHECK(std::fabs(p.total / 109e9 - 1) < 0.005);
  // Active: 62,914,560 + 81,920 + 2 x 125,829,120 + 10,240 = 314,664,960 x 48 + 2,068,976,640
  // = 17,172,894,720 (published 17B).
  CHECK(p.active == 17172894720LL);
  const Model yaml = kvplan::test::model("llama-4-scout");
  CHECK(structure(yaml) == structure(m));
  CHECK(yaml.towers == m.towers);
  CHECK(yaml.max_context == m.max_context);
}

TEST_CASE("Llama-4-Scout: RedHatAI's FP8-dynamic config.json is the Scout model", "[hf][multimodal]") {
  // A verbatim llama4 config with complete text and vision configs (SOURCES.md Part G); its
  // no_rope_layers is [] (transformers' default rule: every 4th layer NoPE).
  const Model m = import_file(kFixtures + "/extra/llama-4-scout-17b-16e-instruct-fp8-dynamic.json");
  REQUIRE(m.layers.size() == 48);
  CHECK(count_kinds(m) == std::map<LayerKind, int>{{LayerKind::chunked_attention, 36}, {LayerKind::attention, 12}});
  // KV: 48 x 8 KV heads x 128 x 2 x 2 B = 196,608 B/token; at 100,000 tokens the 36 chunked
  // layers keep one chunk of 8,192: 4,096 B x (12 x 100,000 + 36 x 8,192) = 6,123,159,552 B.
  CHECK(kv_bytes_per_token(m, bf16_cache()) == 196608);
  CHECK(kv_bytes_per_sequence(m, 100000, bf16_cache()) == 6123159552LL);
  const Model yaml = kvplan::test::model("llama-4-scout");
  std::vector<Layer> layers = structure(m);
  for (Layer& l : layers) l.unquantized.clear();  // attention kept in bf16 (hf_quantized_modules_test)
  CHECK(layers == structure(yaml));
  CHECK(yaml.towers == m.towers);
  // The config's vision_config: "num_hidden_layers": 34, "hidden_size": 1408 (SGLang's VLM fraction).
  REQUIRE(m.vision_config);
  CHECK(m.vision_config->num_hidden_layers == std::optional<int64_t>(34));
  CHECK(m.vision_config->hidden_size == std::optional<int64_t>(1408));
  CHECK(yaml.vision_config == m.vision_config);
  CHECK(yaml.max_context == m.max_context);
}

TEST_CASE("Llama-4-Maverick: MoE on odd layers, dense intermediate_size_mlp on even ones", "[hf][multimodal]") {
  const Model m = import_hf_config(llama4_config(128, 2, 1048576), "llama-4-maverick.json");
  REQUIRE(m.layers.size() == 48);
  CHECK(std::get<DenseMlp>(*m.layers[0].mlp).intermediate_size == 16384);
  CHECK(std::get<MoeMlp>(*m.layers[1].mlp).experts == 128);
  int moe = 0;
  for (const Layer& l : m.layers) moe += std::holds_alternative<MoeMlp>(*l.mlp);
  CHECK(moe == 24);
  // Dense layer 62,914,560 + 3 x 16384 x 5120 = 251,658,240 + 10,240 = 314,583,040;
  // MoE layer 62,914,560 + 655,360 + 128 x 125,829,120 + 125,829,120 + 10,240 = 16,295,536,640;
  // 24 of each + 2,068,976,640 = 400,711,848,960; + towers 871,932,416 = 401,583,781,376
  // (published "400B" is a round figure: +0.40%).
  const ParamCounts p = count_params(m);
  CHECK(p.total == 401583781376LL);
  CHECK(std::fabs(p.total / 400e9 - 1) < 0.005);
  // Active: 24 x 314,583,040 + 24 x (62,914,560 + 655,360 + 2 x 125,829,120 + 10,240) + 2,068,976,640
  // = 17,184,691,200 (published 17B).
  CHECK(p.active == 17184691200LL);
  CHECK(structure(kvplan::test::model("llama-4-maverick")) == structure(m));
}

TEST_CASE("llama4 rules: moe_layers, layer_types, null chunk size", "[hf][multimodal]") {
  const std::string common = R"("model_type": "llama4_text", "hidden_size": 512, "num_hidden_layers": 4,
      "num_attention_heads": 8, "num_key_value_heads": 2, "head_dim": 64, "vocab_size": 1000,
      "num_local_experts": 4, "intermediate_size": 256, "intermediate_size_mlp": 1024)";
  const Model listed = import_hf_config("{" + common + R"(, "moe_layers": [2],
      "layer_types": ["chunked_attention", "full_attention", "chunked_attention", "full_attention"]})",
                                        "a.json");
  CHECK(std::holds_alternative<DenseMlp>(*listed.layers[1].mlp));
  CHECK(std::holds_alternative<MoeMlp>(*listed.layers[2].mlp));
  CHECK(kind_of(listed.layers[0]) == LayerKind::chunked_attention);
  CHECK(kind_of(listed.layers[1]) == LayerKind::attention);
  CHECK(listed.towers.empty());  // llama4_text: no vision tower
  const Model unchunked = import_hf_config("{" + common + R"(, "attention_chunk_size": null})", "b.json");
  CHECK(count_kinds(unchunked) == std::map<LayerKind, int>{{LayerKind::attention, 4}});
  CHECK(import_error("{" + common + R"(, "moe_layers": [4]})").find("'moe_layers' names layer 4 of 4") != std::string::npos);
  CHECK(import_error("{" + common + R"(, "no_rope_layers": [1, 0]})").find("'no_rope_layers' lists 2 layers") !=
        std::string::npos);
}

TEST_CASE("LLaVA-1.5-7B: LlamaConfig defaults under text_config, CLIP tower and projector", "[hf][multimodal]") {
  const Model m = import_file(kFixtures + "/llava-1.5-7b.json");
  // text_config lists only vocab 32064 and max_position_embeddings 4096; LlamaConfig supplies hidden
  // 4096, 32 layers, 32 heads (= KV heads), intermediate 11008.
  REQUIRE(m.layers.size() == 32);
  CHECK(count_kinds(m) == std::map<LayerKind, int>{{LayerKind::attention, 32}});
  CHECK(m.vocab_size == 32064);
  CHECK(m.max_context == 4096);
  CHECK(m.dtype == DType::fp16);
  CHECK(std::get<Attention>(*m.layers[0].mixer).kv_heads == 32);
  // KV: 32 layers x 32 heads x 128 x 2 x 2 B = 524,288 B/token.
  CHECK(kv_bytes_per_token(m, bf16_cache()) == 524288);
  // CLIP-L/14-336: class 1,024 + patch conv 1024 x 3 x 14 x 14 = 602,112 + positions 577 x 1024
  // = 590,848; pre/post LayerNorms 4,096; block 4 x (1,048,576 + 1,024) + fc1 4,194,304 + 4,096
  // + fc2 4,194,304 + 1,024 + 4,096 = 12,596,224; x 24 = 302,309,376. Total 303,507,456.
  CHECK(tower_params(m, "vision") == 303507456);
  // Projector: linear_1 4096 x 1024 + 4096 = 4,198,400; linear_2 4096 x 4096 + 4096 = 16,781,312.
  CHECK(tower_params(m, "projector") == 20979712);
  // Text: 2 x 32064 x 4096 = 262,668,288 + 4,096 + 32 x 202,383,360 = 6,738,939,904; + towers
  // 324,487,168 = 7,063,427,072 (published 7.06B).
  CHECK(count_params(m).total == 7063427072LL);
}

TEST_CASE("Qwen2.5-VL-7B: qwen2 text at the top level plus the vision tower", "[hf][multimodal]") {
  const Model m = import_file(kFixtures + "/qwen2.5-vl-7b.json");
  REQUIRE(m.layers.size() == 28);
  CHECK(count_kinds(m) == std::map<LayerKind, int>{{LayerKind::attention, 28}});
  CHECK(std::get<Attention>(*m.layers[0].mixer).qkv_bias);
  CHECK_FALSE(std::get<Attention>(*m.layers[0].mixer).o_bias);
  CHECK(m.max_context == 128000);
  // KV: 28 layers x 4 KV heads x 128 x 2 x 2 B = 57,344 B/token.
  CHECK(kv_bytes_per_token(m, bf16_cache()) == 57344);
  // Vision: patch embed 1280 x 3 x 2 x 14 x 14 = 1,505,280; block 2 RMSNorms 2,560 + qkv 3840 x 1280
  // + 3840 = 4,919,040 + proj 1,639,680 + gate/up 2 x (3420 x 1280 + 3420) = 8,762,040 + down
  // 1280 x 3420 + 1280 = 4,378,880 -> 19,702,200; x 32 = 630,470,400; merger ln_q 1,280 + 5120 x 5120
  // + 5120 = 26,219,520 + 3584 x 5120 + 3584 = 18,353,664. Total 676,550,144.
  CHECK(tower_params(m, "vision") == 676550144);
  // Text: 2 x 152064 x 3584 = 1,089,994,752 + 3,584; per layer q/o 12,845,056 each + k/v 1,835,008
  // each + biases 4,608 + MLP 203,685,888 + norms 7,168 = 233,057,792; x 28 = 6,525,618,176
  // -> 7,615,616,512; + 676,550,144 = 8,292,166,656 (published 8.29B).
  const int64_t total = count_params(m).total;
  CHECK(total == 8292166656LL);
  CHECK(std::fabs(total / 8.29e9 - 1) < 0.005);
  CHECK(kvplan::test::model("qwen2.5-vl-7b").towers == m.towers);
  // Its vision_config states "depth": 32 and "hidden_size": 1280, no num_hidden_layers: only the width.
  REQUIRE(m.vision_config);
  CHECK(m.vision_config->num_hidden_layers == std::nullopt);
  CHECK(m.vision_config->hidden_size == std::optional<int64_t>(1280));
  // A text-only config has no vision_config to read.
  CHECK_FALSE(import_file(kFixtures + "/qwen2.5-7b.json").vision_config);
}

TEST_CASE("Mistral-Small-3.1 (mistral3): mistral text, Pixtral tower, patch-merger projector", "[hf][multimodal]") {
  // Fields of mistralai/Mistral-Small-3.1-24B-Instruct-2503 config.json as SOURCES.md records them
  // (the vision fields after hidden_size/image_size from the non-official copies it cites).
  const Model m = import_hf_config(R"({"architectures": ["Mistral3ForConditionalGeneration"],
      "image_token_index": 10, "model_type": "mistral3", "multimodal_projector_bias": false,
      "projector_hidden_act": "gelu", "spatial_merge_size": 2,
      "text_config": {"head_dim": 128, "hidden_act": "silu", "hidden_size": 5120, "intermediate_size": 32768,
        "max_position_embeddings": 131072, "model_type": "mistral", "num_attention_heads": 32,
        "num_hidden_layers": 40, "num_key_value_heads": 8, "rms_norm_eps": 1e-05,
        "rope_theta": 1000000000.0, "sliding_window": null, "vocab_size": 131072},
      "torch_dtype": "bfloat16",
      "vision_config": {"head_dim": 64, "hidden_act": "silu", "hidden_size": 1024, "image_size": 1540,
        "intermediate_size": 4096, "model_type": "pixtral", "num_attention_heads": 16, "num_channels": 3,
        "num_hidden_layers": 24, "patch_size": 14, "rope_theta": 10000.0},
      "vision_feature_layer": -1})",
                                   "mistral-small-3.1.json");
  REQUIRE(m.layers.size() == 40);
  CHECK(count_kinds(m) == std::map<LayerKind, int>{{LayerKind::attention, 40}});  // sliding_window null
  CHECK_FALSE(m.tie_word_embeddings);
  // KV: 40 x 8 x 128 x 2 x 2 B = 163,840 B/token.
  CHECK(kv_bytes_per_token(m, bf16_cache()) == 163840);
  // Pixtral: patch conv 1024 x 3 x 14 x 14 = 602,112 + ln_pre 1,024; per layer 2 norms 2,048 + q/k/v/o
  // 4 x 1,048,576 + gate/up/down 3 x 4096 x 1024 = 16,779,264; x 24 = 402,702,336. Total 403,305,472.
  CHECK(tower_params(m, "vision") == 403305472);
  // Projector: norm 1,024 + merger 1024 x 4096 = 4,194,304 + linear_1 5120 x 1024 = 5,242,880 + linear_2
  // 5120 x 5120 = 26,214,400 -> 35,652,608.
  CHECK(tower_params(m, "projector") == 35652608);
  // Text: 2 x 131072 x 5120 = 1,342,177,280 + 5,120 + 40 x (52,428,800 + 503,316,480 + 10,240)
  // = 23,572,403,200; + towers 438,958,080 = 24,011,361,280 (published "24B").
  const int64_t total = count_params(m).total;
  CHECK(total == 24011361280LL);
  CHECK(std::fabs(static_cast<double>(total) - 24e9) < 0.5e9);
}

TEST_CASE("Gemma 3 multimodal: SigLIP tower and projector", "[hf][multimodal]") {
  const Model m4 = import_file(kFixtures + "/extra/gemma-3-4b-it.json");
  // SigLIP (27 x 1152, MLP 4304, patch 14, image 896, vision_use_head false): patch conv
  // 1152 x 3 x 14 x 14 + 1152 = 678,528; positions (896/14)^2 = 4096 x 1152 = 4,718,592; block
  // 2 LayerNorms 4,608 + 4 x (1,327,104 + 1,152) + fc1 4,958,208 + 4,304 + fc2 4,958,208 + 1,152
  // = 15,239,504; x 27 = 411,466,608; post_layernorm 2,304. Total 416,866,032.
  CHECK(tower_params(m4, "vision") == 416866032);
  // Projector: mm_input_projection 1152 x 2560 = 2,949,120 + mm_soft_emb_norm 1,152.
  CHECK(tower_params(m4, "projector") == 2950272);
  // Text: tied 262208 x 2560 = 671,252,480 + 2,560; per layer q 2048x2560 5,242,880 + k, v 1024x2560
  // 2,621,440 each + o 5,242,880 + q/k norm 512 + MLP 3 x 10240 x 2560 = 78,643,200 + 4 norms 10,240
  // = 94,382,592; x 34 = 3,209,008,128 -> 3,880,263,168; + towers 419,816,304 = 4,300,079,472 (4.3B).
  CHECK(count_params(m4).total == 4300079472LL);
  const Model yaml = kvplan::test::model("gemma-3-4b");
  CHECK(structure(yaml) == structure(m4));
  CHECK(yaml.towers == m4.towers);
  // Gemma-3-27B's config carries the same SigLIP; its projector is 1152 x 5376 + 1152 = 6,194,304.
  const Model m27 = import_file(kFixtures + "/gemma-3-27b.json");
  CHECK(tower_params(m27, "vision") == 416866032);
  CHECK(tower_params(m27, "projector") == 6194304);
  // A text-only config has no towers.
  CHECK(import_hf_config(R"({"model_type": "gemma3_text", "num_hidden_layers": 2})", "g.json").towers.empty());
  // Gemma-3-12B (bundled): text 11,766,034,176 + towers 421,290,864 = 12,187,325,040 (12.2B).
  CHECK(count_params(kvplan::test::model("gemma-3-12b")).total == 12187325040LL);
}

TEST_CASE("multimodal import errors", "[hf][multimodal]") {
  CHECK(import_error(R"({"model_type": "llava", "text_config": {"model_type": "mistral"}})")
            .find("llava imports a llama text_config only") != std::string::npos);
  CHECK(import_error(R"({"model_type": "llava", "vision_config": {"hidden_size": "1024"}})")
            .find("field 'vision_config.hidden_size' must be an integer") != std::string::npos);
  CHECK(import_error(R"({"model_type": "qwen2_5_vl", "hidden_size": 3584, "num_hidden_layers": 2,
      "num_attention_heads": 28, "vocab_size": 1000})") == "cfg.json: missing field 'intermediate_size'");
  CHECK(import_error(R"({"model_type": "mistral3", "text_config": {"hidden_size": 5120, "vocab_size": 1000}})") ==
        "cfg.json: missing field 'text_config.intermediate_size'");
}
