// Kimi Delta Attention (core/layers/kda.h): weights, state and YAML, derived by hand from
// Kimi-Linear-48B-A3B's linear_attn_config (32 heads x head_dim 128, short conv kernel 4, hidden 2304).
#include <catch2/catch.hpp>

#include "core/decode.h"
#include "core/kv_cache.h"
#include "core/params.h"
#include "io/model_yaml.h"
#include "test_helpers.h"
#include "hf_test_helpers.h"

using namespace kvplan;
using namespace kvplan::test;
using kvplan::test::model;

namespace {

Kda kimi_linear_kda() {
  Kda k;
  k.heads = 32;
  k.head_dim = 128;
  k.d_conv = 4;
  return k;
}

int64_t params_of(const std::vector<Tensor>& tensors) {
  int64_t n = 0;
  for (const Tensor& t : tensors) n += t.params();
  return n;
}

}  // namespace

TEST_CASE("KDA layer weights match the Kimi-Linear checkpoint table", "[kda][params]") {
  // P = 32 x 128 = 4,096. q/k/v_proj 3 x 4096 x 2304 = 28,311,552; q/k/v_conv1d 3 x 4096 x 4 = 49,152;
  // f_a + g_a 2 x 128 x 2304 = 589,824; f_b + g_b 2 x 4096 x 128 = 1,048,576; b_proj 32 x 2304 = 73,728;
  // A_log 32 + dt_bias 4096 = 4,128; o_norm 128; o_proj 2304 x 4096 = 9,437,184 -> 39,514,272.
  std::vector<Tensor> t;
  add_tensors(kimi_linear_kda(), 2304, t);
  CHECK(params_of(t) == 39514272);
}

TEST_CASE("KDA keeps a fixed state and no KV cache", "[kda][state]") {
  const Kda k = kimi_linear_kda();
  CacheOptions o = bf16_cache();
  CHECK(layer_kind(k) == LayerKind::kda);
  CHECK(std::string(name(LayerKind::kda)) == "kda");
  CHECK(kv_bytes_per_token(k, o) == 0);
  CHECK(resident_window(k, o) == 0);
  // vLLM kda_state_shape: conv 3 x (4 - 1) x 4096 = 36,864 elements; recurrent 32 x 128 x 128 = 524,288.
  SsmState s = state_bytes(k, o);
  CHECK(s.conv_bytes == 36864 * 2);
  CHECK(s.ssm_bytes == 524288 * 2);
  // tp 2: half the channels and half the heads per GPU.
  o.tp = 2;
  s = state_bytes(k, o);
  CHECK(s.conv_bytes == 3 * 3 * 2048 * 2);
  CHECK(s.ssm_bytes == 16 * 128 * 128 * 2);
  // The whole window kept (transformers-style): 3 x 4 x 4096.
  o.tp = 1;
  o.conv_width = ConvStateWidth::kernel;
  o.state_dtype = DType::fp32;
  s = state_bytes(k, o);
  CHECK(s.conv_bytes == 3 * 4 * 4096 * 4);
  CHECK(s.ssm_bytes == 524288 * 4);
}

TEST_CASE("KDA shapes are checked", "[kda]") {
  Kda k = kimi_linear_kda();
  k.d_conv = 0;
  CHECK_THROWS_WITH(check(k, Checker{"layer 0: "}), Catch::Contains("d_conv must be positive"));
  CHECK(describe(kimi_linear_kda()) == "kda 32 heads x 128, d_conv 4");
}

TEST_CASE("kind: kda reads from model YAML", "[kda][yaml]") {
  const Model m = parse_model_yaml(R"(id: tiny-kda
name: tiny
family: kimi_linear
source: "test"
vocab_size: 1000
hidden_size: 256
blocks:
  linear:
    mixer: {kind: kda, heads: 4, head_dim: 64, d_conv: 4}
    mlp: {kind: dense, intermediate_size: 512}
layers:
  - {repeat: 2, pattern: [linear]}
)",
                                   "tiny-kda.yaml");
  REQUIRE(m.layers.size() == 2);
  const Kda& k = std::get<Kda>(*m.layers[0].mixer);
  CHECK(k.heads == 4);
  CHECK(k.head_dim == 64);
  CHECK(k.d_conv == 4);
  CHECK(kind_of(m.layers[1]) == LayerKind::kda);
}

TEST_CASE("kimi-linear-48b-a3b: KV at the 7 MLA layers, state at the 20 KDA layers", "[kda][kv][state]") {
  const Model m = model("kimi-linear-48b-a3b");
  const CacheOptions o = bf16_cache();
  // 7 MLA layers x (kv_lora_rank 512 + qk_rope 64) x 2 B = 8,064 B/token.
  CHECK(kv_bytes_per_token(m, o) == 7 * 576 * 2);
  // 20 KDA layers x (36,864 + 524,288 = 561,152 elements) x 2 B = 22,446,080 B per sequence.
  CHECK(state_bytes_per_sequence(m, o) == 20LL * 561152 * 2);
  CHECK(state_bytes_per_sequence(m, o) == 22446080);
  // 1M tokens: 8,064 x 1,048,576 = 8,455,716,864 B of KV, the state unchanged.
  CHECK(kv_bytes_per_sequence(m, 1048576, o) == 8064LL * 1048576);
}

TEST_CASE("kimi-linear-48b-a3b parameters equal the checkpoint's 49,122,681,728", "[kda][params]") {
  // embed + lm_head 2 x 163840 x 2304 = 754,974,720; final norm 2,304.
  // KDA layer 39,514,272 (above). MLA layer (q_lora null): q_proj 32 x 192 x 2304 = 14,155,776;
  // kv_a 576 x 2304 = 1,327,104; kv_a_norm 512; kv_b 32 x 256 x 512 = 4,194,304; o 2304 x 4096 =
  // 9,437,184 -> 29,114,880. Layer 0 dense 3 x 2304 x 9216 = 63,700,992. MoE layer: router
  // 256 x 2304 + bias 256 = 590,080; experts 256 x 3 x 2304 x 1024 = 1,811,939,328; shared
  // 3 x 2304 x 1024 = 7,077,888 -> 1,819,607,296. Norms 2 x 2304 a layer.
  // 754,974,720 + 2,304 + 20 x 39,514,272 + 7 x 29,114,880 + 63,700,992 + 26 x 1,819,607,296
  // + 27 x 4,608 = 49,122,681,728.
  const ParamCounts p = count_params(model("kimi-linear-48b-a3b"));
  CHECK(p.total == 49122681728LL);
  // Active: 8 of the 256 routed experts per MoE layer, so 26 x 248 x 7,077,888 = 45,638,221,824
  // fewer -> 3,484,459,904 (the figure SOURCES.md computes, embeddings included).
  CHECK(p.active == 3484459904LL);
}

TEST_CASE("kimi-linear-48b-a3b decode step: KV at the MLA layers, state at the KDA layers", "[kda][decode]") {
  const Model m = model("kimi-linear-48b-a3b");
  MemoryOptions o;
  o.weights = weight_dtypes(m);
  o.cache = bf16_cache();
  const DecodeStep s = decode_step(m, kvplan::test::gpu("h100-sxm"), 2, 4096, o);
  const auto part = [&](const std::string& name) {
    for (const DecodeComponent& c : s.components)
      if (c.name == name) return c;
    FAIL("no component " << name);
    return DecodeComponent{};
  };
  // KV: 2 sequences x (4,096 cached + 1 new token) x 8,064 B = 66,076,416 B.
  CHECK(part("kv_cache").bytes == 2LL * 4097 * 8064);
  // State read and written once per sequence: 2 x 2 x 22,446,080 = 89,784,320 B; plus each token's
  // q, k, v, forget gate (32 x 128 = 4,096 each), beta (32) in and output (4,096) out, 20,512 elements
  // x 2 B a KDA layer: 2 x 20 x 41,024 = 1,640,960 B; 2 kernels per KDA layer.
  const DecodeComponent state = part("ssm_state");
  CHECK(state.bytes == 2LL * 2 * 22446080 + 2LL * 20 * (5 * 4096 + 32) * 2);
  CHECK(state.kernels == 20 * 2);
  // Per KDA layer and token: convs 2 x 3 x 4096 x 4 = 98,304 + delta rule 7 x 32 x 128 x 128 = 3,670,016;
  // x 20 layers x batch 2 = 150,732,800 FLOPs.
  CHECK(state.flops == Approx(2.0 * 20 * (98304 + 3670016)));
}
