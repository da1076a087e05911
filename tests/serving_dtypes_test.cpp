// The `auto` dtypes (serving_dtypes.h) and the formats the HF importer reads from a checkpoint's
// quantization_config, derived by hand from the configs.
#include <catch2/catch.hpp>

#include <algorithm>

#include "core/kv_cache.h"
#include "core/params.h"
#include "core/serving_dtypes.h"
#include "io/hf_config.h"
#include "test_helpers.h"

using namespace kvplan;
using kvplan::test::model;

namespace {

// A 2-layer Llama of hidden 64 with the given extra top-level JSON members.
Model tiny_llama(const std::string& extra) {
  return import_hf_config(R"({"model_type": "llama", "hidden_size": 64, "intermediate_size": 128,
      "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 100)" + extra + "}", "tiny.json");
}

}  // namespace

TEST_CASE("DeepSeek-V3: fp8 weights as stored, the KV cache in the bf16 activations", "[dtype]") {
  const Model m = model("deepseek-v3");
  const ServingDTypes d = serving_dtypes(m, std::nullopt, std::nullopt, std::nullopt);
  CHECK(d.weights.linear == DType::fp8_e4m3);
  CHECK(d.rules.weights == DTypeRule::checkpoint);
  CHECK(d.kv == DType::bf16);
  CHECK(d.rules.kv == DTypeRule::activation);
  // 61 layers x (kv_lora 512 + rope 64) x 2 B = 70,272 B/token (vLLM/SGLang bf16 latent cache).
  CacheOptions o;
  o.kv_dtype = d.kv;
  CHECK(kv_bytes_per_token(m, o) == 61 * 576 * 2);
}

TEST_CASE("an fp32 checkpoint is served in 16 bits", "[dtype]") {
  const Model m = model("mamba-2.8b");
  REQUIRE(m.dtype == DType::fp32);
  const ServingDTypes d = serving_dtypes(m, std::nullopt, std::nullopt, std::nullopt);
  CHECK(d.weights.linear == DType::bf16);
  CHECK(d.rules.weights == DTypeRule::served_16bit);
  CHECK(d.state == DType::bf16);
  CHECK(activation_dtype(m) == DType::bf16);
}

TEST_CASE("flags win over every rule", "[dtype]") {
  const ServingDTypes d = serving_dtypes(model("deepseek-v3"), DType::int4, DType::fp8_e4m3, DType::fp32);
  CHECK(d.weights.linear == DType::int4);
  CHECK(d.kv == DType::fp8_e4m3);
  CHECK(d.state == DType::fp32);
  CHECK(d.rules.weights == DTypeRule::flag);
  CHECK(d.rules.kv == DTypeRule::flag);
  CHECK(d.rules.state == DTypeRule::flag);
}

TEST_CASE("the engine's --dtype: activations, the auto KV cache and unquantized weights", "[dtype]") {
  // vLLM's and SGLang's spellings; auto leaves the checkpoint's rule.
  CHECK(parse_model_dtype("auto") == std::nullopt);
  CHECK(parse_model_dtype("") == std::nullopt);
  CHECK(parse_model_dtype("half") == DType::fp16);
  CHECK(parse_model_dtype("float16") == DType::fp16);
  CHECK(parse_model_dtype("bfloat16") == DType::bf16);
  CHECK(parse_model_dtype("float") == DType::fp32);
  CHECK(parse_model_dtype("float32") == DType::fp32);
  CHECK_THROWS_WITH(parse_model_dtype("fp8"), Catch::Contains("not one of auto, half, float16, bfloat16, float, float32"));
  CHECK_THROWS_WITH(parse_model_dtype("bfloat18"), Catch::Contains("did you mean 'bfloat16'"));
  CHECK_THROWS(parse_model_dtype("fp32"));  // kvplan's name, not the engines'
  CHECK_THROWS(parse_model_dtype("bf16"));

  // Llama-3.1-8B (bf16 checkpoint) under --dtype float32: fp32 weights, activations, KV and state.
  // KV: 32 layers x 2 (K, V) x 8 heads x 128 x 4 B = 262,144 B/token (vLLM 0.19 logs 175,296
  // tokens in 42.80 GiB: 42.80 x 2^30 / 175,296 = 262,164 B, one block's rounding).
  const Model llama = model("llama-3.1-8b");
  const ServingDTypes d = serving_dtypes(llama, std::nullopt, std::nullopt, std::nullopt, DType::fp32);
  CHECK(d.activation == DType::fp32);
  CHECK(d.weights.linear == DType::fp32);
  CHECK(d.rules.weights == DTypeRule::model_dtype);
  CHECK(d.kv == DType::fp32);
  CHECK(d.rules.kv == DTypeRule::activation);
  CHECK(d.state == DType::fp32);
  CacheOptions o;
  o.kv_dtype = d.kv;
  CHECK(kv_bytes_per_token(llama, o) == 32 * 2 * 8 * 128 * 4);
  // An explicit KV dtype still wins.
  CHECK(serving_dtypes(llama, std::nullopt, DType::fp8_e4m3, std::nullopt, DType::fp32).kv == DType::fp8_e4m3);

  // DeepSeek-V3's fp8 checkpoint under --dtype float32: the linear weights stay fp8, the tensors
  // no quantization touches (embeddings, norms, the lm_head it keeps in 16 bits) load in fp32, the
  // latent cache is fp32.
  const Model ds = model("deepseek-v3");
  const ServingDTypes q = serving_dtypes(ds, std::nullopt, std::nullopt, std::nullopt, DType::fp32);
  CHECK(q.weights.linear == DType::fp8_e4m3);
  CHECK(q.weights.base == DType::fp32);
  CHECK(q.rules.weights == DTypeRule::model_dtype);
  CHECK(q.kv == DType::fp32);
  // Its embedding, 129,280 x 7,168 (config.json vocab_size x hidden_size), in 4 B instead of 2.
  const std::vector<Tensor> globals = global_tensors(ds);
  const auto embed = std::find_if(globals.begin(), globals.end(), [](const Tensor& t) { return t.role == TensorRole::embedding; });
  REQUIRE(embed != globals.end());
  CHECK(tensor_bytes(*embed, ds, q.weights) == int64_t{129280} * 7168 * 4);
  CHECK(tensor_bytes(*embed, ds, serving_dtypes(ds, std::nullopt, std::nullopt, std::nullopt).weights) ==
        int64_t{129280} * 7168 * 2);
  // gpt-oss-20b's mxfp4 experts stay mxfp4; its bf16 attention weights widen with the rest.
  const ServingDTypes g = serving_dtypes(model("gpt-oss-20b"), std::nullopt, std::nullopt, std::nullopt, DType::fp32);
  CHECK(g.weights.expert == DType::mxfp4);
  CHECK(g.weights.linear == DType::fp32);
}

TEST_CASE("quantization_config sets the weights' format; torch_dtype the activations", "[dtype][hf]") {
  // AutoAWQ / GPTQ checkpoints: 4-bit weights, activations in torch_dtype.
  const Model awq = tiny_llama(R"(, "torch_dtype": "float16", "quantization_config": {"quant_method": "awq", "bits": 4, "group_size": 128})");
  CHECK(awq.dtype == DType::int4);
  CHECK(awq.activation_dtype == DType::fp16);
  CHECK(tiny_llama(R"(, "quantization_config": {"quant_method": "gptq", "bits": 8})").dtype == DType::int8);
  // compressed-tensors W8A8-FP8 with an fp8 KV cache scheme.
  const Model ct = tiny_llama(R"(, "torch_dtype": "bfloat16", "quantization_config": {"quant_method": "compressed-tensors",
      "config_groups": {"group_0": {"weights": {"num_bits": 8, "type": "float"}}},
      "kv_cache_scheme": {"num_bits": 8, "type": "float", "strategy": "tensor"}})");
  CHECK(ct.dtype == DType::fp8_e4m3);
  CHECK(ct.kv_dtype == DType::fp8_e4m3);
  const ServingDTypes d = serving_dtypes(ct, std::nullopt, std::nullopt, std::nullopt);
  CHECK(d.kv == DType::fp8_e4m3);
  CHECK(d.rules.kv == DTypeRule::checkpoint);
  // W4A16 from compressed-tensors, bitsandbytes 4-bit, ModelOpt FP8 with an FP8 KV cache.
  CHECK(tiny_llama(R"(, "quantization_config": {"quant_method": "compressed-tensors",
      "config_groups": {"g": {"weights": {"num_bits": 4, "type": "int"}}}})").dtype == DType::int4);
  CHECK(tiny_llama(R"(, "quantization_config": {"quant_method": "bitsandbytes", "load_in_4bit": true})").dtype ==
        DType::int4);
  const Model mo = tiny_llama(R"(, "quantization_config": {"quant_method": "modelopt", "quant_algo": "FP8", "kv_cache_quant_algo": "FP8"})");
  CHECK(mo.dtype == DType::fp8_e4m3);
  CHECK(mo.kv_dtype == DType::fp8_e4m3);
  // A format kvplan cannot size is an error, not a silent 16-bit count.
  CHECK_THROWS_WITH(tiny_llama(R"(, "quantization_config": {"quant_method": "gptq", "bits": 3})"),
                    Catch::Contains("3-bit weights are not modelled"));
}

TEST_CASE("a declared recurrent-state dtype is the state's default", "[dtype][hf]") {
  const Model m = tiny_llama(R"(, "mamba_ssm_dtype": "float32")");
  CHECK(m.state_dtype == DType::fp32);
  const ServingDTypes d = serving_dtypes(m, std::nullopt, std::nullopt, std::nullopt);
  CHECK(d.state == DType::fp32);
  CHECK(d.rules.state == DTypeRule::checkpoint);
  CHECK(d.conv == DType::bf16);  // the conv windows stay in the activation dtype
}

TEST_CASE("Qwen3.5: fp32 recurrent states, conv windows in the model dtype", "[dtype][hf]") {
  // tests/fixtures/hf/qwen3.5-35b-a3b.json: mamba_ssm_dtype float32, dtype bfloat16; Gated DeltaNet
  // layers of 16 key heads x 128, 32 value heads x 128, conv kernel 4.
  const Model m = model("qwen3.5-35b-a3b");
  const ServingDTypes d = serving_dtypes(m, std::nullopt, std::nullopt, std::nullopt);
  REQUIRE(d.state == DType::fp32);
  REQUIRE(d.conv == DType::bf16);
  CacheOptions o;
  o.state_dtype = d.state;
  o.conv_dtype = d.conv;
  const Layer* gdn = nullptr;
  for (const Layer& l : m.layers)
    if (l.mixer && std::holds_alternative<GatedDeltaNet>(*l.mixer)) gdn = &l;
  REQUIRE(gdn != nullptr);
  // conv: (2 x 16 x 128 + 32 x 128) = 8,192 channels x (4 - 1) columns x 2 B = 49,152 B;
  // state: 32 heads x 128 x 128 x 4 B = 2,097,152 B (vLLM 0.18 sizes the same page, see
  // tests/engines/vllm-qwen3.5-35b-a3b-fp8-gb10-len262144-0.18.1rc1.yaml: 2,146,304 B over 2,048 B
  // of attention per token = 1,048 tokens, rounded up to a multiple of 16 = the logged block of 1,056).
  CHECK(state_bytes(*gdn, o).conv_bytes == 8192 * 3 * 2);
  CHECK(state_bytes(*gdn, o).ssm_bytes == 32 * 128 * 128 * 4);
  // An explicit --state-dtype sets both, as vLLM's --mamba-cache-dtype does.
  const ServingDTypes flag = serving_dtypes(m, std::nullopt, std::nullopt, DType::fp32);
  CHECK_FALSE(flag.conv.has_value());
}

TEST_CASE("NVFP4 checkpoints: 4-bit weights with an fp8 scale per 16 inputs", "[dtype][hf]") {
  // A [4096 x 4096] matrix: 4096 x 4096 / 2 = 8,388,608 B of e2m1 values + 4096 x 256 fp8 scales =
  // 1,048,576 B + weight_scale_2 and input_scale (fp32) 8 B = 9,437,192 B (4.5 bits a weight).
  CHECK(matrix_bytes(DType::nvfp4, 4096, 4096) == 9437192);
  // ModelOpt NVFP4 with the newer kv_cache_scheme string, and compressed-tensors nvfp4-pack-quantized.
  const Model mo = tiny_llama(R"(, "quantization_config": {"quant_method": "modelopt", "quant_algo": "NVFP4",
      "kv_cache_scheme": "FP8", "ignore": ["lm_head"]})");
  CHECK(mo.dtype == DType::nvfp4);
  CHECK(mo.kv_dtype == DType::fp8_e4m3);
  CHECK(mo.warnings.empty());  // lm_head stays in 16 bits in kvplan too
  CHECK(tiny_llama(R"(, "quantization_config": {"quant_method": "compressed-tensors",
      "config_groups": {"g": {"weights": {"num_bits": 4, "type": "float", "group_size": 16}}}})").dtype ==
        DType::nvfp4);
  // Linear modules the checkpoint leaves in 16 bits (Gemma-4-31B-IT-NVFP4 keeps every self_attn)
  // stay in 16 bits (hf_quantized_modules_test.cpp); a router entry in a model without routers
  // names nothing kvplan counts, and says so.
  const Model attn = tiny_llama(R"(, "quantization_config": {"quant_method": "modelopt", "quant_algo": "NVFP4",
      "ignore": ["lm_head", "model.layers.0.self_attn*", "model.layers.1.self_attn*", "model.layers.0.mlp.gate"]})");
  const std::vector<std::string> qkvo = {"q_proj", "k_proj", "v_proj", "o_proj"};
  CHECK(attn.layers[0].unquantized == qkvo);
  CHECK(attn.layers[1].unquantized == qkvo);
  REQUIRE(attn.warnings.size() == 1);
  CHECK_THAT(attn.warnings[0], Catch::Contains("1 module pattern(s)") && Catch::Contains("'model.layers.0.mlp.gate'"));
  CHECK_THROWS_WITH(tiny_llama(R"(, "quantization_config": {"quant_method": "modelopt", "quant_algo": "FP8",
      "kv_cache_scheme": "INT4"})"),
                    Catch::Contains("kv_cache_scheme") && Catch::Contains("'INT4' is not modelled"));
}
