// HF import of the further dense families (phi, phi3, olmo2/olmo3, cohere/cohere2, smollm3, granite,
// exaone4, gemma) and their bundled models: layer kinds, KV bytes and parameter counts derived by hand
// from the config values (tests/fixtures/hf/SOURCES.md, SOURCES.md).
#include <catch2/catch.hpp>

#include <cmath>
#include <map>
#include <string>

#include "core/kv_cache.h"
#include "core/layer_work.h"
#include "core/memory.h"
#include "core/params.h"
#include "io/files.h"
#include "io/hf_config.h"
#include "test_helpers.h"
#include "hf_test_helpers.h"

using namespace kvplan;
using namespace kvplan::test;
using kvplan::test::model;

namespace {

// |got / want - 1| < 0.5%.
bool within_half_percent(int64_t got, double want) {
  return std::fabs(static_cast<double>(got) / want - 1) < 0.005;
}

}  // namespace

TEST_CASE("phi3 (Phi-4): fused projections size as separate ones", "[hf][more_dense]") {
  // microsoft/phi-4 shape fields (two public fixtures quoting its config.json; models/phi-4.yaml).
  const Model m = import_hf_config(R"({"model_type": "phi3", "hidden_size": 5120, "num_hidden_layers": 40,
      "num_attention_heads": 40, "num_key_value_heads": 10, "intermediate_size": 17920, "vocab_size": 100352,
      "max_position_embeddings": 16384, "rope_theta": 250000.0, "rms_norm_eps": 1e-5, "hidden_act": "silu"})",
                                   "phi-4.json");
  CHECK(m.family == "phi3");
  CHECK(count_kinds(m) == std::map<LayerKind, int>{{LayerKind::attention, 40}});
  CHECK(attention_of(m.layers[0]).head_dim == 128);  // 5120 / 40
  CHECK_FALSE(m.tie_word_embeddings);                // Phi3Config default
  CHECK(structure(m) == structure(model("phi-4")));
  // 40 layers x 10 KV heads x 128 x (K+V) 2 x 2 B = 204,800 B/token.
  CHECK(kv_bytes_per_token(m, bf16_cache()) == 204800);
  // Per layer: qkv (40 + 20) x 128 x 5120 = 39,321,600; o 26,214,400; gate_up 2 x 17920 x 5120 =
  // 183,500,800; down 91,750,400; 2 norms 10,240 -> 340,797,440; x 40 = 13,631,897,600;
  // + embed and lm_head 2 x 100352 x 5120 = 1,027,604,480 + final norm 5,120 = 14,659,507,200.
  const ParamCounts p = count_params(m);
  CHECK(p.total == 14659507200LL);
  CHECK(within_half_percent(p.total, 14.7e9));  // model card "14.7B"
}

TEST_CASE("phi3 with sliding_window slides every layer", "[hf][more_dense]") {
  // Phi-3-medium-4k style config: sliding_window 2047 applies to all layers (configuration_phi3.py).
  const Model m = import_hf_config(R"({"model_type": "phi3", "hidden_size": 5120, "num_hidden_layers": 4,
      "num_attention_heads": 40, "num_key_value_heads": 10, "intermediate_size": 17920, "vocab_size": 32064,
      "sliding_window": 2047})",
                                   "phi3.json");
  CHECK(count_kinds(m) == std::map<LayerKind, int>{{LayerKind::sliding_attention, 4}});
  CHECK(attention_of(m.layers[3]).sliding_window == 2047);
  CHECK(m.max_context == 4096);  // Phi3Config default
}

TEST_CASE("olmo2 (OLMo-2-7B): post-norms and q/k norms", "[hf][more_dense]") {
  const Model m = import_file(kFixtures + "/olmo-2-7b.json");
  CHECK(m.family == "olmo2");
  CHECK(count_kinds(m) == std::map<LayerKind, int>{{LayerKind::attention, 32}});
  const Attention& a = attention_of(m.layers[0]);
  CHECK(a.heads == 32);
  CHECK(a.kv_heads == 32);
  CHECK(a.qk_norm_full);
  CHECK_FALSE(a.qk_norm);
  CHECK_FALSE(a.qkv_bias);
  CHECK(m.layers[0].norms == 2);  // post_attention_layernorm, post_feedforward_layernorm
  // 32 layers x 32 KV heads x 128 x 2 x 2 B = 524,288 B/token.
  CHECK(kv_bytes_per_token(m, bf16_cache()) == 524288);
  // Per layer: q/k/v/o 4 x 4096^2 = 67,108,864; q_norm and k_norm over the whole projections
  // (32 + 32) x 128 = 8,192; MLP 3 x 4096 x 11008 = 135,266,304; norms 8,192 -> 202,391,552;
  // x 32 = 6,476,529,664; + 2 x 100352 x 4096 = 822,083,584 + final norm 4,096 = 7,298,617,344.
  CHECK(count_params(m).total == 7298617344LL);
}

TEST_CASE("olmo3: 3 sliding layers to 1 full", "[hf][more_dense]") {
  // OLMo-3-7B-like shape; no layer_types, so configuration_olmo3.py's rule applies:
  // sliding iff (i+1) % 4 != 0, window 4096 by default.
  const std::string base = R"("model_type": "olmo3", "hidden_size": 4096, "num_hidden_layers": 32,
      "num_attention_heads": 32, "num_key_value_heads": 32, "intermediate_size": 11008, "vocab_size": 100278)";
  const Model m = import_hf_config("{" + base + "}", "olmo3.json");
  CHECK(count_kinds(m) == std::map<LayerKind, int>{{LayerKind::sliding_attention, 24}, {LayerKind::attention, 8}});
  CHECK(kind_of(m.layers[2]) == LayerKind::sliding_attention);
  CHECK(kind_of(m.layers[3]) == LayerKind::attention);
  CHECK(attention_of(m.layers[0]).sliding_window == 4096);
  CHECK(attention_of(m.layers[0]).qk_norm_full);
  // Per layer 32 x 128 x 2 x 2 B = 16,384 B/token. At 8,192 tokens: 8 full layers x 8,192 tokens
  // + 24 sliding layers x 4,096 tokens.
  CHECK(kv_bytes_per_sequence(m, 8192, bf16_cache()) == 8LL * 16384 * 8192 + 24LL * 16384 * 4096);
  // An explicit layer_types list wins over the rule.
  std::string types;
  for (int i = 0; i < 32; ++i)
    types += std::string(i ? ", " : "") + (i == 0 ? "\"sliding_attention\"" : "\"full_attention\"");
  const Model t =
      import_hf_config("{" + base + R"(, "sliding_window": 1024, "layer_types": [)" + types + "]}", "t.json");
  CHECK(count_kinds(t) == std::map<LayerKind, int>{{LayerKind::sliding_attention, 1}, {LayerKind::attention, 31}});
  CHECK(attention_of(t.layers[0]).sliding_window == 1024);
}

TEST_CASE("cohere (Command-R): parallel block with one weight-only LayerNorm", "[hf][more_dense]") {
  // c4ai-command-r-v01 shape: hidden 8192, 40 layers, 64 heads = 64 KV heads, intermediate 22528,
  // vocab 256000, tied (SOURCES.md cohere; published "35B").
  const Model m = import_hf_config(R"({"model_type": "cohere", "hidden_size": 8192, "num_hidden_layers": 40,
      "num_attention_heads": 64, "num_key_value_heads": 64, "intermediate_size": 22528, "vocab_size": 256000,
      "use_qk_norm": false, "logit_scale": 0.0625})",
                                   "command-r.json");
  CHECK(count_kinds(m) == std::map<LayerKind, int>{{LayerKind::attention, 40}});
  CHECK(m.layers[0].norms == 1);
  CHECK(m.norm == Norm::rmsnorm);  // no bias: the weight alone, hidden params
  CHECK(m.tie_word_embeddings);    // configuration_cohere.py default
  CHECK(m.max_context == 8192);
  // 40 x 64 x 128 x 2 x 2 B = 1,310,720 B/token.
  CHECK(kv_bytes_per_token(m, bf16_cache()) == 1310720);
  // Per layer: 4 x 8192^2 = 268,435,456 + 3 x 8192 x 22528 = 553,648,128 + 8,192 = 822,091,776;
  // x 40 = 32,883,671,040 + tied 256000 x 8192 = 2,097,152,000 + 8,192 = 34,980,831,232.
  const ParamCounts p = count_params(m);
  CHECK(p.total == 34980831232LL);
  CHECK(within_half_percent(p.total, 35e9));
  // Command R+ sets use_qk_norm.
  const Model plus = import_hf_config(R"({"model_type": "cohere", "hidden_size": 12288, "num_hidden_layers": 2,
      "num_attention_heads": 96, "num_key_value_heads": 8, "intermediate_size": 33792, "vocab_size": 256000,
      "use_qk_norm": true})",
                                      "plus.json");
  CHECK(attention_of(plus.layers[0]).qk_norm_full);
  // Per layer its q/k LayerNorms hold a weight per head: (96 + 8) x 128 = 13,312 more than Command-R's.
  const Model r = import_hf_config(R"({"model_type": "cohere", "hidden_size": 12288, "num_hidden_layers": 2,
      "num_attention_heads": 96, "num_key_value_heads": 8, "intermediate_size": 33792, "vocab_size": 256000})",
                                   "r.json");
  CHECK(count_params(plus).total - count_params(r).total == 2 * 13312);
}

TEST_CASE("cohere2 (Command-A): every 4th layer global", "[hf][more_dense]") {
  const Model m = import_hf_config(R"({"model_type": "cohere2", "hidden_size": 12288, "num_hidden_layers": 64,
      "num_attention_heads": 96, "num_key_value_heads": 8, "intermediate_size": 36864, "vocab_size": 256000,
      "max_position_embeddings": 131072, "sliding_window": 4096, "sliding_window_pattern": 4})",
                                   "command-a.json");
  // (i+1) % 4 != 0 slides: 48 sliding, 16 full (layers 3, 7, ..., 63).
  CHECK(count_kinds(m) == std::map<LayerKind, int>{{LayerKind::sliding_attention, 48}, {LayerKind::attention, 16}});
  CHECK(kind_of(m.layers[3]) == LayerKind::attention);
  CHECK(kind_of(m.layers[4]) == LayerKind::sliding_attention);
  CHECK(structure(m) == structure(model("command-a")));
  // Per layer 8 x 128 x 2 x 2 B = 4,096 B/token: 64 layers = 262,144 B/token; at 131,072 tokens
  // 16 full layers keep all of them, 48 sliding layers 4,096.
  CHECK(kv_bytes_per_token(m, bf16_cache()) == 262144);
  CHECK(kv_bytes_per_sequence(m, 131072, bf16_cache()) == 16LL * 4096 * 131072 + 48LL * 4096 * 4096);
  // Per layer: q 12288^2 = 150,994,944; k, v 2 x 1024 x 12288 = 25,165,824; o 150,994,944;
  // MLP 3 x 12288 x 36864 = 1,358,954,496; 1 norm 12,288 -> 1,686,122,496; x 64 =
  // 107,911,839,744; + tied 256000 x 12288 = 3,145,728,000 + 12,288 = 111,057,580,032.
  const ParamCounts p = count_params(m);
  CHECK(p.total == 111057580032LL);
  CHECK(within_half_percent(p.total, 111e9));  // model card "111B"
  // sliding_window null: no window anywhere.
  const Model full = import_hf_config(R"({"model_type": "cohere2", "hidden_size": 4096, "num_hidden_layers": 4,
      "num_attention_heads": 32, "num_key_value_heads": 8, "intermediate_size": 14336, "vocab_size": 256000,
      "sliding_window": null})",
                                      "full.json");
  CHECK(count_kinds(full) == std::map<LayerKind, int>{{LayerKind::attention, 4}});
}

TEST_CASE("smollm3 (SmolLM3-3B): NoPE layers are still full attention", "[hf][more_dense]") {
  // HuggingFaceTB/SmolLM3-3B shape fields as a public fixture quotes them (models/smollm3-3b.yaml).
  std::string types;
  for (int i = 0; i < 36; ++i) types += std::string(i ? ", " : "") + "\"full_attention\"";
  const Model m = import_hf_config(R"({"model_type": "smollm3", "hidden_size": 2048, "num_hidden_layers": 36,
      "num_attention_heads": 16, "num_key_value_heads": 4, "intermediate_size": 11008, "vocab_size": 128256,
      "tie_word_embeddings": true, "max_position_embeddings": 65536, "layer_types": [)" + types + "]}",
                                   "smollm3-3b.json");
  CHECK(count_kinds(m) == std::map<LayerKind, int>{{LayerKind::attention, 36}});
  CHECK(structure(m) == structure(model("smollm3-3b")));
  // 36 x 4 x 128 x 2 x 2 B = 73,728 B/token.
  CHECK(kv_bytes_per_token(m, bf16_cache()) == 73728);
  // Per layer: q 2048^2 = 4,194,304; k, v 2 x 512 x 2048 = 2,097,152; o 4,194,304; MLP
  // 3 x 2048 x 11008 = 67,633,152; norms 4,096 -> 78,123,008; x 36 = 2,812,428,288;
  // + tied 128256 x 2048 = 262,668,288 + 2,048 = 3,075,098,624.
  CHECK(count_params(m).total == 3075098624LL);
  // With use_sliding_window and no layer_types only the NoPE layers ((i+1) % 4 == 0) slide
  // (configuration_smollm3.py).
  const Model s = import_hf_config(R"({"model_type": "smollm3", "hidden_size": 2048, "num_hidden_layers": 8,
      "vocab_size": 128256, "use_sliding_window": true, "sliding_window": 2048})",
                                   "s.json");
  CHECK(count_kinds(s) == std::map<LayerKind, int>{{LayerKind::sliding_attention, 2}, {LayerKind::attention, 6}});
  CHECK(kind_of(s.layers[3]) == LayerKind::sliding_attention);
  CHECK(attention_of(s.layers[0]).kv_heads == 4);  // SmolLM3Config default
  CHECK(attention_of(s.layers[0]).heads == 16);
}

TEST_CASE("granite (Granite-3.3-8B): Llama tensors, multipliers add none", "[hf][more_dense]") {
  const Model m = import_file(kFixtures + "/granite-3.3-8b.json");
  CHECK(m.family == "granite");
  CHECK(count_kinds(m) == std::map<LayerKind, int>{{LayerKind::attention, 40}});
  CHECK(m.tie_word_embeddings);
  // 40 x 8 x 128 x 2 x 2 B = 163,840 B/token.
  CHECK(kv_bytes_per_token(m, bf16_cache()) == 163840);
  // Per layer: q 16,777,216; k, v 2 x 1024 x 4096 = 8,388,608; o 16,777,216; MLP
  // 3 x 4096 x 12800 = 157,286,400; norms 8,192 -> 199,237,632; x 40 = 7,969,505,280;
  // + tied 49159 x 4096 = 201,355,264 + 4,096 = 8,170,864,640.
  CHECK(count_params(m).total == 8170864640LL);
}

TEST_CASE("exaone4 (EXAONE-4.0-32B): LLLG pattern, post-norms, per-head q/k norms", "[hf][more_dense]") {
  // EXAONE-4.0-32B shape: hidden 5120, 64 layers, 40 heads, 8 KV heads, head_dim 128,
  // intermediate 27392, vocab 102400, window 4096 (SOURCES.md exaone4 for the rules).
  const std::string base = R"("model_type": "exaone4", "hidden_size": 5120, "num_hidden_layers": 64,
      "num_attention_heads": 40, "num_key_value_heads": 8, "head_dim": 128, "intermediate_size": 27392,
      "vocab_size": 102400, "max_position_embeddings": 131072, "sliding_window": 4096)";
  const Model m = import_hf_config("{" + base + R"(, "sliding_window_pattern": "LLLG"})", "exaone.json");
  const Model n = import_hf_config("{" + base + R"(, "sliding_window_pattern": 4})", "exaone.json");
  CHECK(structure(m) == structure(n));
  CHECK(count_kinds(m) == std::map<LayerKind, int>{{LayerKind::sliding_attention, 48}, {LayerKind::attention, 16}});
  CHECK(kind_of(m.layers[3]) == LayerKind::attention);
  CHECK(attention_of(m.layers[0]).qk_norm);
  CHECK(m.layers[0].norms == 2);
  // Per layer: q 5120^2 = 26,214,400; k, v 2 x 1024 x 5120 = 10,485,760; o 26,214,400; q/k norms
  // 2 x 128; MLP 3 x 5120 x 27392 = 420,741,120; norms 10,240 -> 483,666,176; x 64 =
  // 30,954,635,264 (+ final norm: the card's "30.95B without embeddings");
  // + 2 x 102400 x 5120 = 1,048,576,000 + 5,120 = 32,003,216,384.
  const ParamCounts p = count_params(m);
  CHECK(p.total == 32003216384LL);
  CHECK(within_half_percent(p.total - p.embedding - p.lm_head, 30.95e9));
  // sliding_window null: all global.
  const Model g = import_hf_config(R"({"model_type": "exaone4", "hidden_size": 1024, "num_hidden_layers": 4,
      "num_attention_heads": 8, "vocab_size": 1000, "sliding_window": null})",
                                   "g.json");
  CHECK(count_kinds(g) == std::map<LayerKind, int>{{LayerKind::attention, 4}});
  CHECK_THROWS_WITH(import_hf_config("{" + base + R"(, "sliding_window_pattern": "LXG"})", "bad.json"),
                    Catch::Contains("sliding_window_pattern"));
}

TEST_CASE("qwen2 cross-check: Qwen2.5-72B-Instruct's exact 72,706,203,648 parameters", "[hf][more_dense]") {
  const Model m = import_file(kFixtures + "/qwen2.5-72b-instruct.json");
  CHECK(count_kinds(m) == std::map<LayerKind, int>{{LayerKind::attention, 80}});  // use_sliding_window false
  CHECK(structure(m) == structure(model("qwen2.5-72b")));  // same architecture as the bundled base id
  // 80 x 8 x 128 x 2 x 2 B = 327,680 B/token.
  CHECK(kv_bytes_per_token(m, bf16_cache()) == 327680);
  // Per layer: q 8192^2 = 67,108,864; k, v 2 x 1024 x 8192 = 16,777,216; o 67,108,864; q/k/v
  // biases 8192 + 2 x 1024 = 10,240; MLP 3 x 8192 x 29568 = 726,663,168; norms 16,384 ->
  // 877,684,736; x 80 = 70,214,778,880; + 2 x 152064 x 8192 = 2,491,416,576 + 8,192.
  const ParamCounts p = count_params(m);
  CHECK(p.total == 72706203648LL);  // the checkpoint's tensor sum (SOURCES.md)
  CHECK(within_half_percent(p.total, 72706203648.0));
}

TEST_CASE("bundled Mistral-Nemo and Mistral-Small: explicit head_dim 128", "[hf][more_dense]") {
  // Mistral-Nemo-Instruct-2407 fields (SOURCES.md): head_dim 128 while 5120 / 32 = 160.
  const Model nemo = import_hf_config(R"({"model_type": "mistral", "hidden_size": 5120, "num_hidden_layers": 40,
      "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128, "intermediate_size": 14336,
      "vocab_size": 131072, "max_position_embeddings": 1024000, "sliding_window": null,
      "tie_word_embeddings": false})",
                                      "mistral-nemo-12b.json");
  CHECK(structure(nemo) == structure(model("mistral-nemo-12b")));
  // 40 x 8 x 128 x 2 x 2 B = 163,840 B/token.
  CHECK(kv_bytes_per_token(nemo, bf16_cache()) == 163840);
  // Per layer: q 4096 x 5120 = 20,971,520; k, v 2 x 1024 x 5120 = 10,485,760; o 20,971,520; MLP
  // 3 x 5120 x 14336 = 220,200,960; norms 10,240 -> 272,640,000; x 40 = 10,905,600,000;
  // + 2 x 131072 x 5120 = 1,342,177,280 + 5,120 = 12,247,782,400 (SOURCES.md's computed figure).
  CHECK(count_params(nemo).total == 12247782400LL);
  // Mistral-Small-24B-2501: MLP 3 x 5120 x 32768 = 503,316,480 -> 555,755,520 per layer;
  // 40 x 555,755,520 + 1,342,177,280 + 5,120 = 23,572,403,200 (SOURCES.md: text tower 23,572,403,200).
  CHECK(count_params(model("mistral-small-24b")).total == 23572403200LL);
}

TEST_CASE("phi (phi-2): parallel block, biased projections and LayerNorms, ungated MLP", "[hf][more_dense]") {
  const Model m = import_file(kFixtures + "/phi-2.json");
  CHECK(m.family == "phi");
  CHECK(m.norm == Norm::layernorm);
  CHECK_FALSE(m.tie_word_embeddings);
  CHECK(m.dtype == DType::fp16);  // torch_dtype float16
  CHECK(m.max_context == 2048);
  REQUIRE(m.layers.size() == 32);
  CHECK(count_kinds(m) == std::map<LayerKind, int>{{LayerKind::attention, 32}});
  const Attention& a = attention_of(m.layers[0]);
  CHECK(a.heads == 32);
  CHECK(a.kv_heads == 32);
  CHECK(a.head_dim == 80);  // 2560 / 32; partial_rotary_factor 0.4 rotates 32 of the 80 dims, no size effect
  CHECK(a.qkv_bias);
  CHECK(a.o_bias);
  CHECK_FALSE(a.qk_norm);
  CHECK(std::get<DenseMlp>(*m.layers[0].mlp) == DenseMlp{10240, false, true});
  CHECK(m.layers[0].norms == 1);  // one input_layernorm feeds attention and MLP
  // KV: 32 layers x 32 KV heads x 80 x (K+V) 2 x 2 B (fp16) = 327,680 B/token.
  CHECK(kv_bytes_per_token(m, bf16_cache()) == 327680);
  // per layer: q, k, v, dense 4 x (2560 x 2560 + 2560) = 26,224,640; fc1 10240 x 2560 + 10240 = 26,224,640;
  //   fc2 2560 x 10240 + 2560 = 26,216,960; input_layernorm w+b 5,120 -> 78,671,360; x 32 = 2,517,483,520.
  // embed 51200 x 2560 = 131,072,000; lm_head weight 131,072,000 + bias 51,200; final_layernorm w+b 5,120.
  // checkpoint total 2,517,483,520 + 262,144,000 + 51,200 + 5,120 = 2,779,683,840, exactly the published
  // model.safetensors.index.json total_size 5,559,367,680 B / 2 B (fp16) (SOURCES.md, phi-2.json).
  const int64_t checkpoint = 5559367680LL / 2;
  CHECK(checkpoint == 2779683840LL);
  CHECK(m.lm_head_bias);
  CHECK(count_params(m).total == checkpoint);
  CHECK(count_params(m).lm_head == 131072000 + 51200);
  // The bias is read with the head each decode step: 51,200 x 2 B more than the matrix alone.
  MemoryOptions opt;
  opt.weights = weight_dtypes(m);
  const ModelWork w = model_work(m, opt);
  CHECK(w.lm_head_bytes == (131072000 + 51200) * 2);
}

TEST_CASE("phi: defaults and qk_layernorm", "[hf][more_dense]") {
  // phi-1_5's shapes (SOURCES.md): num_key_value_heads null = heads; qk_layernorm counted as qk_norm.
  const Model m = import_hf_config(R"({"model_type": "phi", "hidden_size": 2048, "intermediate_size": 8192,
      "num_hidden_layers": 24, "num_attention_heads": 32, "num_key_value_heads": null, "vocab_size": 51200,
      "partial_rotary_factor": 0.5, "qk_layernorm": true})",
                                   "phi-1_5.json");
  const Attention& a = attention_of(m.layers[0]);
  CHECK(a.kv_heads == 32);
  CHECK(a.head_dim == 64);
  CHECK(a.qk_norm);
  CHECK(m.max_context == 2048);  // PhiConfig default
  CHECK_FALSE(m.tie_word_embeddings);
}

TEST_CASE("phi: bad input is one located error", "[hf][more_dense]") {
  CHECK(import_error(R"({"model_type": "phi", "hidden_size": 2560, "num_hidden_layers": 32,
      "num_attention_heads": 32, "vocab_size": 51200, "qk_layernorm": "no"})") ==
        // Line 2: 6 spaces, "num_attention_heads": 32, (27) and "vocab_size": 51200, (21): column 55.
        "cfg.json:2:55: field 'qk_layernorm' must be true or false (got \"no\")");
}

namespace {

// google/gemma-7b's config as transformers 4.45.2 prints it (GemmaConfig; SOURCES.md "gemma": no verbatim
// config.json was found, this print agrees with the fields every copy quotes).
const char* kGemma7b = R"({
  "_name_or_path": "google/gemma-7b",
  "architectures": [
    "GemmaForCausalLM"
  ],
  "attention_bias": false,
  "attention_dropout": 0.0,
  "bos_token_id": 2,
  "eos_token_id": 1,
  "head_dim": 256,
  "hidden_act": "gelu",
  "hidden_activation": "gelu_pytorch_tanh",
  "hidden_size": 3072,
  "initializer_range": 0.02,
  "intermediate_size": 24576,
  "max_position_embeddings": 8192,
  "model_type": "gemma",
  "num_attention_heads": 16,
  "num_hidden_layers": 28,
  "num_key_value_heads": 16,
  "pad_token_id": 0,
  "rms_norm_eps": 1e-06,
  "rope_scaling": null,
  "rope_theta": 10000.0,
  "torch_dtype": "bfloat16",
  "transformers_version": "4.45.2",
  "use_cache": true,
  "vocab_size": 256000
})";

}  // namespace

TEST_CASE("gemma (Gemma-7B): head_dim 256 wider than hidden / heads, tied embeddings", "[hf][more_dense]") {
  const Model m = import_hf_config(kGemma7b, "gemma-7b.json");
  CHECK(m.family == "gemma");
  CHECK(m.tie_word_embeddings);  // GemmaConfig default; the config does not say
  CHECK(m.max_context == 8192);
  REQUIRE(m.layers.size() == 28);
  CHECK(count_kinds(m) == std::map<LayerKind, int>{{LayerKind::attention, 28}});
  const Attention& a = attention_of(m.layers[0]);
  CHECK(a.heads == 16);
  CHECK(a.kv_heads == 16);
  CHECK(a.head_dim == 256);  // not 3072 / 16 = 192
  CHECK_FALSE(a.qkv_bias);
  CHECK(std::get<DenseMlp>(*m.layers[0].mlp) == DenseMlp{24576, true, false});
  CHECK(m.layers[0].norms == 2);
  // KV: 28 layers x 16 KV heads x 256 x (K+V) 2 x 2 B = 458,752 B/token.
  CHECK(kv_bytes_per_token(m, bf16_cache()) == 458752);
  // per layer: q, k, v 3 x (4096 x 3072) = 37,748,736 + o 3072 x 4096 = 12,582,912; MLP 3 x 24576 x 3072
  //   = 226,492,416; 2 RMSNorms 6,144 -> 276,830,208; x 28 = 7,751,245,824.
  // embed (tied) 256000 x 3072 = 786,432,000; final norm 3,072.
  // total 7,751,245,824 + 786,432,000 + 3,072 = 8,537,680,896: keras-hub's gemma_7b_en preset "params"
  // (SOURCES.md).
  CHECK(count_params(m).total == 8537680896LL);
}

TEST_CASE("gemma (Gemma-2B): multi-query attention", "[hf][more_dense]") {
  // google/gemma-2b's shape fields (SOURCES.md "gemma").
  const Model m = import_hf_config(R"({"architectures": ["GemmaForCausalLM"], "model_type": "gemma",
      "head_dim": 256, "hidden_size": 2048, "intermediate_size": 16384, "max_position_embeddings": 8192,
      "num_attention_heads": 8, "num_hidden_layers": 18, "num_key_value_heads": 1, "vocab_size": 256000,
      "torch_dtype": "bfloat16"})",
                                   "gemma-2b.json");
  const Attention& a = attention_of(m.layers[0]);
  CHECK(a.heads == 8);
  CHECK(a.kv_heads == 1);
  // KV: 18 layers x 1 KV head x 256 x (K+V) 2 x 2 B = 18,432 B/token.
  CHECK(kv_bytes_per_token(m, bf16_cache()) == 18432);
  // per layer: q 2048 x 2048 = 4,194,304, k, v 256 x 2048 = 524,288 each, o 4,194,304 -> 9,437,184;
  //   MLP 3 x 16384 x 2048 = 100,663,296; norms 4,096 -> 110,104,576; x 18 = 1,981,882,368.
  // embed (tied) 256000 x 2048 = 524,288,000; final norm 2,048.
  // total 1,981,882,368 + 524,288,000 + 2,048 = 2,506,172,416: keras-hub's gemma_2b_en preset "params".
  CHECK(count_params(m).total == 2506172416LL);
}

TEST_CASE("gemma: a missing field is one located error", "[hf][more_dense]") {
  CHECK(import_error(R"({"model_type": "gemma", "hidden_size": 2048, "num_hidden_layers": 18,
      "num_attention_heads": 8, "vocab_size": 256000})") == "cfg.json: missing field 'intermediate_size'");
}
