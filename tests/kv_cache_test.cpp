// KV cache and SSM state sizes, derived by hand from the published configs (reference:
// ../shared/reference-data.md and each models/*.yaml's cited config.json).
#include <catch2/catch.hpp>

#include "core/kv_cache.h"
#include "test_helpers.h"

using namespace kvplan;
using kvplan::test::model;

namespace {
CacheOptions kv(DType d) {
  CacheOptions o;
  o.kv_dtype = d;
  o.state_dtype = DType::bf16;
  return o;
}
}  // namespace

TEST_CASE("7B MHA at 100,000 tokens in fp16", "[kv]") {
  // Llama-2-7B: 32 layers x 32 KV heads x head_dim 128 x (K+V) 2 x 2 bytes = 524,288 B/token.
  const Model m = model("llama-2-7b");
  CHECK(kv_bytes_per_token(m, kv(DType::fp16)) == 32 * 32 * 128 * 2 * 2);
  // 524,288 x 100,000 = 52,428,800,000 B.
  CHECK(kv_bytes_per_sequence(m, 100000, kv(DType::fp16)) == 52428800000LL);
}

TEST_CASE("70B GQA-8 at 32,768 tokens in bf16", "[kv]") {
  // 80 layers x 8 KV heads x 128 x 2 x 2 B = 327,680 B/token; x 32,768 = 10,737,418,240 B.
  for (const char* id : {"llama-2-70b", "llama-3.1-70b"}) {
    const Model m = model(id);
    CHECK(kv_bytes_per_token(m, kv(DType::bf16)) == 327680);
    CHECK(kv_bytes_per_sequence(m, 32768, kv(DType::bf16)) == 10737418240LL);
  }
}

TEST_CASE("falcon-7b is multi-query: 8,192 B/token", "[kv]") {
  // 32 layers x 1 KV head x head_dim 64 (4544/71) x 2 x 2 B = 8,192.
  CHECK(kv_bytes_per_token(model("falcon-7b"), kv(DType::bf16)) == 8192);
  // falcon-40b: 60 layers x 8 KV heads x 64 x 2 x 2 B = 122,880.
  CHECK(kv_bytes_per_token(model("falcon-40b"), kv(DType::bf16)) == 122880);
}

TEST_CASE("deepseek-v3 MLA latent: 70,272 B/token in bf16", "[kv][mla]") {
  // 61 layers x (kv_lora_rank 512 + qk_rope_head_dim 64) x 2 B, one latent, no K/V factor of 2.
  const Model m = model("deepseek-v3");
  CHECK(kv_bytes_per_token(m, kv(DType::bf16)) == 61 * 576 * 2);
  CHECK(kv_bytes_per_token(m, kv(DType::bf16)) == 70272);
  // transformers' eager cache: 128 heads x (K 128+64 + V 128) x 2 B x 61 = 4,997,120.
  CacheOptions eager = kv(DType::bf16);
  eager.mla = MlaCache::decompressed;
  CHECK(kv_bytes_per_token(m, eager) == 61 * 128 * (192 + 128) * 2);
  CHECK(kv_bytes_per_token(m, eager) == 4997120);
}

TEST_CASE("deepseek-v3.2 in DeepSeek's FP8 sparse-MLA layout: 656 B of latent per token and layer", "[kv][mla]") {
  // FlashMLA's FP8 layout (vLLM's fp8_ds_mla): kv_lora_rank 512 in fp8 (512 B) + one fp32 scale per
  // 128 of them (4 x 4 = 16 B) + qk_rope 64 in bf16 (128 B) = 656 B, whatever the KV dtype; the
  // indexer's key beside it: index_head_dim 128 in fp8 + one fp32 scale = 132 B. 61 layers x
  // (656 + 132) = 48,068 B/token, against 61 x (576 + 132) = 43,188 B/token as plain fp8.
  const Model m = model("deepseek-v3.2");
  CacheOptions ds = kv(DType::fp8_e4m3);
  ds.mla = MlaCache::fp8_ds;
  CHECK(kv_bytes_per_token(m, ds) == 61 * (656 + 132));
  CHECK(kv_bytes_per_token(m, ds) == 48068);
  CHECK(kv_bytes_per_token(m, kv(DType::fp8_e4m3)) == 43188);
  ds.kv_dtype = DType::bf16;  // the layout fixes its own types
  CHECK(kv_bytes_per_token(m, ds) == 48068);
}

TEST_CASE("deepseek-v3 decompressed: K at qk_nope + qk_rope, V at v_head_dim or padded to K's", "[kv][mla]") {
  // 128 heads / tp 8 = 16 a GPU, bf16, 61 layers. Decompressed as transformers caches it: K 128 + 64 =
  // 192 and V 128 a head: 16 x (192 + 128) x 2 B = 10,240 B a layer, x 61 = 624,640 B/token. vLLM's
  // non-MLA DeepseekV2Attention runs one head size for K and V and zero-pads V to 192:
  // 16 x (192 + 192) x 2 = 12,288 B a layer, x 61 = 749,568 B/token.
  const Model m = model("deepseek-v3");
  CacheOptions o = kv(DType::bf16);
  o.tp = 8;
  o.mla = MlaCache::decompressed;
  CHECK(kv_bytes_per_token(m, o) == 624640);
  o.mla_value_padded = true;
  CHECK(kv_bytes_per_token(m, o) == 749568);
  o.mla = MlaCache::latent;  // the latent form has no V to pad: (512 + 64) x 2 x 61
  CHECK(kv_bytes_per_token(m, o) == 70272);
}

TEST_CASE("sliding windows cap the resident tokens", "[kv][sliding]") {
  // Mistral-7B: every layer slides with window 4096; 32 x 8 x 128 x 2 x 2 = 131,072 B/token.
  const Model mistral = model("mistral-7b-v0.1");
  CHECK(kv_bytes_per_sequence(mistral, 1000, kv(DType::bf16)) == 1000LL * 131072);
  CHECK(kv_bytes_per_sequence(mistral, 8192, kv(DType::bf16)) == 4096LL * 131072);
  CHECK(kv_bytes_per_sequence(mistral, 1 << 20, kv(DType::bf16)) == 4096LL * 131072);
  CacheOptions full = kv(DType::bf16);
  full.sliding = SlidingCache::full;  // an engine that does not free tokens outside the window
  CHECK(kv_bytes_per_sequence(mistral, 8192, full) == 8192LL * 131072);

  // Gemma-2-9B: 42 layers alternate sliding (4096) and full; 8 KV heads x head_dim 256 x 2 x 2 B = 8,192 B per layer.
  const Model gemma = model("gemma-2-9b");
  CHECK(kv_bytes_per_token(gemma, kv(DType::bf16)) == 42 * 8192);  // 344,064
  CHECK(kv_bytes_per_sequence(gemma, 32768, kv(DType::bf16)) == 21LL * 8192 * 32768 + 21LL * 8192 * 4096);

  // gpt-oss-20b: 24 layers, 12 sliding with window 128; 8 KV heads x 64 x 2 x 2 B = 2,048 B per layer.
  const Model oss = model("gpt-oss-20b");
  CHECK(kv_bytes_per_token(oss, kv(DType::bf16)) == 49152);
  CHECK(kv_bytes_per_sequence(oss, 8192, kv(DType::bf16)) == 12LL * 2048 * 8192 + 12LL * 2048 * 128);

  // Gemma-3-27B: 62 layers, 5 local (window 1024) per global; 16 KV heads x 128 x 2 x 2 B = 8,192 B per layer.
  const Model g3 = model("gemma-3-27b");
  CHECK(kv_bytes_per_sequence(g3, 131072, kv(DType::bf16)) == 10LL * 8192 * 131072 + 52LL * 8192 * 1024);
}

TEST_CASE("KV terms agree with the per-layer sum at every context", "[kv]") {
  for (const char* id : {"gemma-2-9b", "gemma-3-27b", "gpt-oss-120b", "jamba-v0.1", "zamba2-2.7b", "deepseek-v3"}) {
    const Model m = model(id);
    const KvTerms t = kv_terms(m, kv(DType::bf16));
    for (int64_t n : {1, 127, 128, 129, 1023, 4096, 100000, 1 << 20})
      CHECK(kv_bytes_per_sequence(t, n) == kv_bytes_per_sequence(m, n, kv(DType::bf16)));
  }
}

TEST_CASE("quantized KV formats count their scales", "[kv][dtype]") {
  const Model m = model("llama-3.1-8b");  // 32 layers x 8 KV heads x head_dim 128, K and V
  // fp8: 1 B/element, per-tensor scales live with the weights: 32 x 8 x 2 x 128 = 65,536.
  CHECK(kv_bytes_per_token(m, kv(DType::fp8_e4m3)) == 65536);
  // int8: 128 B + one fp16 scale per token and head = 130 B per head vector: 32 x 8 x 2 x 130 = 66,560.
  CHECK(kv_bytes_per_token(m, kv(DType::int8)) == 66560);
  // int4: 64 B + 128/32 = 4 fp16 scales (8 B) = 72 B per head vector: 32 x 8 x 2 x 72 = 36,864.
  CHECK(kv_bytes_per_token(m, kv(DType::int4)) == 36864);
  // fp32: 32 x 8 x 2 x 128 x 4 = 262,144.
  CHECK(kv_bytes_per_token(m, kv(DType::fp32)) == 262144);
}

TEST_CASE("SSM state is constant in context", "[state]") {
  // Mamba-2.8B: 64 layers, d_inner 5120, d_state 16, d_conv 4, bf16.
  const Model m = model("mamba-2.8b");
  CacheOptions o = kv(DType::bf16);
  // Default conv width d_conv - 1 = 3: per layer (5120 x 3 + 5120 x 16) x 2 B = 194,560; x 64 = 12,451,840.
  CHECK(state_bytes_per_sequence(m, o) == 64LL * (5120 * 3 + 5120 * 16) * 2);
  o.conv_width = ConvStateWidth::kernel;  // transformers' MambaCache: (5120 x 4 + 5120 x 16) x 2 x 64 = 12.5 MiB
  CHECK(state_bytes_per_sequence(m, o) == 13107200);
  CHECK(kv_bytes_per_sequence(m, 1024, o) == 0);
  CHECK(kv_bytes_per_sequence(m, 1 << 20, o) == 0);

  // Mamba2-2.7B: 64 layers, 80 heads x 64, 1 group, d_state 128, d_conv 4: conv channels
  // 5120 + 2 x 1 x 128 = 5,376; ssm 80 x 64 x 128 = 655,360 elements.
  const Model m2 = model("mamba2-2.7b");
  CHECK(state_bytes_per_sequence(m2, o) == 64LL * (5376 * 4 + 655360) * 2);  // 82.6 MiB
  o.state_dtype = DType::fp32;
  CHECK(state_bytes_per_sequence(m2, o) == 64LL * (5376 * 4 + 655360) * 4);
}

TEST_CASE("hybrids: KV only at attention layers, state at every Mamba layer", "[kv][state][hybrid]") {
  CacheOptions o = kv(DType::bf16);
  o.conv_width = ConvStateWidth::kernel;
  // Jamba-v0.1: 4 attention layers x 8 KV x 128 x 2 x 2 B = 16,384 B/token;
  // 28 Mamba layers x (8192 x 4 + 8192 x 16) x 2 B = 9,175,040 B = 8.75 MiB per sequence.
  const Model jamba = model("jamba-v0.1");
  CHECK(kv_bytes_per_token(jamba, o) == 16384);
  CHECK(state_bytes_per_sequence(jamba, o) == 9175040);
  // Zamba2-2.7B: 9 shared-attention applications x 32 KV heads x 160 x 2 x 2 B = 184,320 B/token;
  // 54 Mamba-2 layers x ((5120 + 2 x 64) x 4 + 80 x 64 x 64) x 2 B = 37,656,576 B.
  const Model zamba = model("zamba2-2.7b");
  CHECK(kv_bytes_per_token(zamba, o) == 184320);
  CHECK(state_bytes_per_sequence(zamba, o) == 54LL * (5248 * 4 + 327680) * 2);
}

TEST_CASE("tensor parallel shards KV heads, replicating when tp exceeds them", "[kv][tp]") {
  const Model m = model("llama-3.1-70b");
  CacheOptions o = kv(DType::bf16);
  o.tp = 2;  // 4 KV heads per GPU: 80 x 4 x 128 x 2 x 2 = 163,840
  CHECK(kv_bytes_per_token(m, o) == 163840);
  o.tp = 16;  // 8 KV heads over 16 GPUs: one (replicated) head each: 80 x 1 x 128 x 2 x 2 = 40,960
  CHECK(kv_bytes_per_token(m, o) == 40960);
  CHECK_THROWS_WITH(check_tensor_parallel(m, 3), Catch::Contains("does not divide 8 KV heads"));
  // MLA's latent is replicated on every rank.
  o.tp = 8;
  CHECK(kv_bytes_per_token(model("deepseek-v3"), o) == 70272);
}
