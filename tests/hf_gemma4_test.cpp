// Gemma 4 (model_type gemma4 / gemma4_text): global layers with their own head size and KV heads,
// K = V projections, the MoE block beside the dense MLP, KV-shared layers; derived by hand from the
// published configs and modeling_gemma4.py's tensors (tests/fixtures/hf/SOURCES.md "gemma4").
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>
#include <string>

#include "core/error.h"
#include "core/kv_cache.h"
#include "core/layer_work.h"
#include "core/params.h"
#include "hf_test_helpers.h"
#include "test_helpers.h"

using namespace kvplan;
using namespace kvplan::test;

TEST_CASE("Gemma-4-26B-A4B: 5 sliding to 1 global, K = V globals, MoE beside the dense MLP", "[hf][gemma4]") {
  const Model m = import_file(kFixtures + "/gemma-4-26b-a4b.json");
  CHECK(m.family == "gemma4");
  REQUIRE(m.layers.size() == 30);
  CHECK(count_kinds(m) == std::map<LayerKind, int>{{LayerKind::sliding_attention, 25}, {LayerKind::attention, 5}});
  const Attention& local = attention_of(m.layers[0]);
  CHECK(local.kv_heads == 8);
  CHECK(local.head_dim == 256);
  CHECK(local.sliding_window == 1024);
  CHECK_FALSE(local.k_eq_v);
  const Attention& global = attention_of(m.layers[5]);
  CHECK(global.kv_heads == 2);  // num_global_key_value_heads
  CHECK(global.head_dim == 512);
  CHECK(global.k_eq_v);
  CHECK(m.layers[0].norms == 7);
  const MoeMlp& e = std::get<MoeMlp>(*m.layers[0].mlp);
  CHECK(e.experts == 128);
  CHECK(e.experts_per_token == 8);
  CHECK(e.shared_intermediate_size == 2112);
  CHECK(e.router_scales);

  // KV per token, bf16, every token kept: sliding 8 x 256 x (K+V) 2 x 2 B = 8,192, global
  // 2 x 512 x 2 x 2 B = 4,096 (a K = V layer still caches both): 25 x 8,192 + 5 x 4,096 = 225,280.
  CacheOptions all = bf16_cache();
  all.sliding = SlidingCache::full;
  CHECK(kv_bytes_per_token(m, all) == 225280);
  // At 32,768 tokens, windowed: 25 x 1,024 x 8,192 + 5 x 32,768 x 4,096 = 209,715,200 + 671,088,640.
  CHECK(kv_bytes_per_sequence(m, 32768, bf16_cache()) == 880803840);

  // Sliding layer: q 4096x2816 + k, v 2048x2816 each + o 2816x4096 = 34,603,008 + q/k norm 2 x 256
  //   = 34,603,520; router 128 x 2816 = 360,448 + scales 2,816 + 128; experts 128 x 3 x 704 x 2816
  //   = 761,266,176; dense MLP (shared) 3 x 2112 x 2816 = 17,842,176; norms 7 x 2816 = 19,712
  //   -> 814,094,976.
  // Global layer: q 8192x2816 + k 1024x2816 (no v_proj) + o 2816x8192 = 49,020,928 + 2 x 512
  //   = 49,021,952 -> 828,513,408.
  // Text: 25 x 814,094,976 + 5 x 828,513,408 + tied embedding 262144 x 2816 = 738,197,504 + final
  //   norm 2,816 = 25,233,141,760 (Google: "25.2B").
  const ParamCounts p = count_params(m);
  CHECK(p.total - p.towers == 25233141760LL);
  // Vision: input_proj 1152 x 768 = 884,736 + positions 2 x 10240 x 1152 = 23,592,960 + 27 layers x
  //   (4 x 1152^2 + 2 x 72 + 3 x 4304 x 1152 + 4 x 1152 = 20,187,792) + std_bias/scale 2,304 =
  //   569,550,384; projector 1152 x 2816 = 3,244,032.
  CHECK(p.towers == 569550384LL + 3244032LL);
  // Active: experts 8 of 128 = 30 x 8 x 5,947,392 = 1,427,374,080 instead of 22,837,985,280:
  //   25,233,141,760 - 21,410,611,200 = 3,822,530,560 (Google: "3.8B").
  CHECK(p.active == 3822530560LL);
  // The bundled YAML is the same model.
  const Model yaml = kvplan::test::model("gemma-4-26b-a4b");
  CHECK(structure(yaml) == structure(m));
  CHECK(yaml.towers == m.towers);
}

TEST_CASE("Gemma-4-31B: the NVFP4 config's text shape is the bundled model", "[hf][gemma4]") {
  // NVIDIA's NVFP4 checkpoint of gemma-4-31B-it; its quantization_config is dropped to read the
  // shapes of the bf16 model (the NVFP4 weights: hf_quantized_modules_test.cpp).
  nlohmann::json cfg = nlohmann::json::parse(read_text_file(kFixtures + "/extra/gemma-4-31b-it-nvfp4.json"));
  cfg.erase("quantization_config");
  const Model m = import_hf_config(cfg.dump(), "gemma-4-31b-it.json");
  REQUIRE(m.layers.size() == 60);
  CHECK(count_kinds(m) == std::map<LayerKind, int>{{LayerKind::sliding_attention, 50}, {LayerKind::attention, 10}});
  const Model yaml = kvplan::test::model("gemma-4-31b");
  CHECK(structure(yaml) == structure(m));
  CHECK(yaml.towers == m.towers);
  // KV, bf16, every token kept: 50 x 16 x 256 x 2 x 2 B = 819,200 + 10 x 4 x 512 x 2 x 2 B = 81,920.
  CacheOptions all = bf16_cache();
  all.sliding = SlidingCache::full;
  CHECK(kv_bytes_per_token(yaml, all) == 901120);
  // Sliding layer: 8192x5376 x 2 + 4096x5376 x 2 + 512 = 132,121,088 + MLP 3 x 21504 x 5376 =
  //   346,816,512 + norms 4 x 5376 -> 478,959,104; global: 16384x5376 x 2 + 2048x5376 + 1024 =
  //   187,171,840 -> 534,009,856; 50 x 478,959,104 + 10 x 534,009,856 + 262144 x 5376 + 5376 =
  //   30,697,345,280 ("30.7B").
  const ParamCounts p = count_params(yaml);
  CHECK(p.total - p.towers == 30697345280LL);
  CHECK(p.towers == 569550384LL + 6193152LL);
}

TEST_CASE("Gemma 4 KV-shared layers read an earlier layer's cache", "[hf][gemma4]") {
  // Four layers (sliding, full, sliding, full); the last two share the cache of layers 0 and 1.
  const std::string cfg = R"({"model_type": "gemma4_text", "vocab_size": 1000, "hidden_size": 64,
      "num_hidden_layers": 4, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
      "global_head_dim": 32, "num_global_key_value_heads": 1, "attention_k_eq_v": true,
      "intermediate_size": 128, "sliding_window": 8, "hidden_size_per_layer_input": 0,
      "num_kv_shared_layers": 2, "use_double_wide_mlp": true,
      "layer_types": ["sliding_attention", "full_attention", "sliding_attention", "full_attention"]})";
  const Model m = import_hf_config(cfg, "g4.json");
  REQUIRE(m.layers.size() == 4);
  CHECK_FALSE(attention_of(m.layers[1]).kv_shared);
  CHECK(attention_of(m.layers[2]).kv_shared);
  CHECK(attention_of(m.layers[3]).kv_shared);
  // Cache only in layers 0 and 1: 2 x 16 x 2 x 2 B = 128 + 1 x 32 x 2 x 2 B = 128 per token.
  CacheOptions all = bf16_cache();
  all.sliding = SlidingCache::full;
  CHECK(kv_bytes_per_token(m, all) == 256);
  // A shared layer has q_proj, o_proj and q_norm only; its MLP is double wide (use_double_wide_mlp).
  // Layer 2: q 64x64 + o 64x64 = 8,192 + q_norm 16; MLP 3 x 256 x 64 = 49,152; norms 4 x 64.
  // Layer 0: q 64x64 + k, v 32x64 each + o 64x64 = 12,288 + q/k norms 32; MLP 3 x 128 x 64 = 24,576.
  const std::vector<Tensor> l0 = layer_tensors(m, m.layers[0]), l2 = layer_tensors(m, m.layers[2]);
  auto sum = [](const std::vector<Tensor>& ts) {
    int64_t s = 0;
    for (const Tensor& t : ts) s += t.params();
    return s;
  };
  CHECK(sum(l0) == 12288 + 32 + 24576 + 256);
  CHECK(sum(l2) == 8192 + 16 + 49152 + 256);
  // The decode step still reads the shared keys: layer 2 reads 128 B per cached token.
  const MixerWork w = std::visit([&](const auto& x) { return mixer_work(x, bf16_cache()); }, *m.layers[2].mixer);
  REQUIRE(w.attention.size() == 1);
  CHECK(w.attention[0].kv_bytes_per_token == 128);
  CHECK(w.kv_write_bytes_per_token == 0);
}

TEST_CASE("Gemma 4 configs kvplan cannot model say so", "[hf][gemma4]") {
  // hidden_size_per_layer_input defaults to 256 (per-layer input embeddings of E2B/E4B).
  CHECK_THAT(import_error(R"({"model_type": "gemma4_text", "vocab_size": 1000, "hidden_size": 64,
      "num_hidden_layers": 2})"),
             Catch::Contains("per-layer input embeddings") && Catch::Contains("docs/model-format.md"));
  // A shared layer needs an earlier layer of its type.
  CHECK_THAT(import_error(R"({"model_type": "gemma4_text", "vocab_size": 1000, "hidden_size": 64,
      "num_hidden_layers": 2, "hidden_size_per_layer_input": 0, "num_kv_shared_layers": 1,
      "layer_types": ["sliding_attention", "full_attention"]})"),
             Catch::Contains("no earlier layer of its type"));
  CHECK_THAT(import_error(R"({"model_type": "gemma4_text", "vocab_size": 1000, "hidden_size": 64,
      "num_hidden_layers": 2, "hidden_size_per_layer_input": 0, "num_kv_shared_layers": 2})"),
             Catch::Contains("num_kv_shared_layers"));
}
