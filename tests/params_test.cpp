// Parameter counts and weight bytes from the per-layer structure, derived by hand.
#include <catch2/catch.hpp>

#include <cstdlib>

#include "core/params.h"
#include "test_helpers.h"

using namespace kvplan;
using kvplan::test::model;

TEST_CASE("llama-3.1-8b has 8,030,261,248 parameters", "[params]") {
  // embed 128256 x 4096 = 525,336,576 (and an untied lm_head of the same size)
  // per layer: q 4096x4096 + k 1024x4096 + v 1024x4096 + o 4096x4096 = 41,943,040
  //            gate+up+down 3 x 4096 x 14336 = 176,160,768; 2 RMSNorms 8,192 -> 218,112,000
  // 32 layers = 6,979,584,000; + final norm 4,096 + 2 x 525,336,576 = 8,030,261,248
  const ParamCounts p = count_params(model("llama-3.1-8b"));
  CHECK(p.total == 8030261248LL);
  CHECK(p.active == p.total);
  CHECK(p.embedding == 525336576);
  CHECK(p.lm_head == 525336576);
  CHECK(p.norms == 32 * 8192 + 4096);
}

TEST_CASE("llama-2-7b has 6,738,415,616 parameters", "[params]") {
  // embed 32000 x 4096 = 131,072,000, untied lm_head the same; per layer 4 x 4096^2 = 67,108,864
  // + 3 x 4096 x 11008 = 135,266,304 + 8,192 = 202,383,360; x 32 = 6,476,267,520; + 4,096 + 262,144,000.
  CHECK(count_params(model("llama-2-7b")).total == 6738415616LL);
}

TEST_CASE("MoE active parameters count experts_per_token experts", "[params][moe]") {
  // Mixtral-8x7B: per layer attention 4096x4096x2 + 1024x4096x2 = 41,943,040; router 8 x 4096 = 32,768;
  // each expert 3 x 4096 x 14336 = 176,160,768; norms 8,192.
  // total per layer = 41,943,040 + 32,768 + 8 x 176,160,768 + 8,192 = 1,451,270,144
  // active per layer = 41,943,040 + 32,768 + 2 x 176,160,768 + 8,192 = 394,305,536
  // + embeddings 2 x 32000 x 4096 = 262,144,000 + final norm 4,096.
  const ParamCounts p = count_params(model("mixtral-8x7b"));
  CHECK(p.total == 32LL * 1451270144 + 262144000 + 4096);   // 46,702,792,704 (published: 46.7B)
  CHECK(p.active == 32LL * 394305536 + 262144000 + 4096);   // 12,879,921,152 (published: 12.9B)
}

TEST_CASE("mamba-2.8b parameters", "[params][ssm]") {
  // per layer: in_proj 2x5120x2560 = 26,214,400; conv 5120x4 + bias 5120 = 25,600;
  // x_proj (160 + 32) x 5120 = 983,040; dt_proj 5120 x 160 + 5120 = 824,320; A_log 5120 x 16 = 81,920;
  // D 5120; out_proj 2560 x 5120 = 13,107,200; norm 2560 -> 41,244,160; x 64 = 2,639,626,240
  // + tied embedding 50280 x 2560 = 128,716,800 + final norm 2560 = 2,768,345,600.
  CHECK(count_params(model("mamba-2.8b")).total == 2768345600LL);
}

TEST_CASE("shared blocks count once (Zamba2)", "[params][hybrid]") {
  const Model m = model("zamba2-2.7b");
  const std::vector<bool> shared = shares_earlier_weights(m);
  int64_t repeats = 0;
  for (bool s : shared) repeats += s;
  CHECK(repeats == 9 - 2);  // 9 applications of 2 shared blocks
}

TEST_CASE("weight bytes per dtype, scales included", "[params][dtype]") {
  const Model m = model("llama-3.1-8b");
  // bf16: 2 bytes x 8,030,261,248.
  CHECK(weight_bytes(m, weight_dtypes(m)) == 16060522496LL);
  // int4 (group 128, fp16 scale): a matrix [rows x cols] takes rows x cols/2 + rows x cols/128 x 2 bytes.
  auto int4 = [](int64_t rows, int64_t cols) { return rows * cols / 2 + rows * (cols / 128) * 2; };
  const int64_t per_layer = int4(4096, 4096) * 2 + int4(1024, 4096) * 2 + int4(14336, 4096) * 2 + int4(4096, 14336);
  // embeddings, lm_head and norms stay bf16: (2 x 525,336,576 + 32 x 8,192 + 4,096) x 2 B.
  const int64_t rest = (2LL * 525336576 + 32 * 8192 + 4096) * 2;
  CHECK(weight_bytes(m, weight_dtypes(m, DType::int4)) == 32 * per_layer + rest);
  // tp 2: matrices and embeddings split, norms replicated.
  const int64_t norms = (32 * 8192 + 4096) * 2;
  CHECK(weight_bytes(m, weight_dtypes(m), 2) == (16060522496LL - norms) / 2 + norms);
}

TEST_CASE("gpt-oss experts in mxfp4", "[params][dtype][moe]") {
  // An mxfp4 matrix [rows x cols] takes rows x cols/2 bytes + one e8m0 byte per 32 inputs.
  const Model m = model("gpt-oss-20b");
  const WeightDTypes w = weight_dtypes(m);
  CHECK(w.linear == DType::bf16);
  CHECK(w.expert == DType::mxfp4);
  CHECK(matrix_bytes(DType::mxfp4, 2880, 2880) == 2880LL * 1440 + 2880LL * 90);
}

TEST_CASE("MLA's latent down-projections and the indexer are whole on every GPU", "[params][mla][tp]") {
  // vLLM's DeepseekV2MLAAttention and Indexer and SGLang's DeepseekV2AttentionMLA build q_a_proj,
  // kv_a_proj_with_mqa and the indexer's wq_b, wk and weights_proj as ReplicatedLinear.
  // Under tp, weight_bytes = ceil((T - R) / tp) + R for the replicated bytes R, so
  // 8 x bytes(tp 8) - bytes(tp 1) = 7 R (to within 8 bytes of rounding).
  auto replicated_bytes = [](const Model& m) {
    const WeightDTypes w = weight_dtypes(m, DType::bf16);
    return (8 * weight_bytes(m, w, 8) - weight_bytes(m, w, 1)) / 7;
  };
  // DeepSeek-V3, 61 layers of hidden 7168: q_a 1536 x 7168 + kv_a (512 + 64) x 7168 = 15,138,816 a
  // layer; norms 2 x 7168 + q_a 1536 + kv_a 512 = 16,384 a layer and the final 7168; the routers
  // 256 x 7168 in the 58 MoE layers. R = 61 x 15,138,816 + 61 x 16,384 + 7,168 + 58 x 1,835,008
  // = 923,467,776 + 1,006,592 + 106,430,464 = 1,030,904,832 parameters, 2 B each.
  CHECK(std::abs(replicated_bytes(model("deepseek-v3")) - 2 * 1030904832LL) <= 2);
  // DeepSeek-V3.2 adds per layer the indexer: wq_b 8192 x 1536 + wk 128 x 7168 + weights_proj
  // 64 x 7168 = 13,959,168, and its k_norm (weight and bias, 256): 61 x 13,959,424 = 851,524,864 more.
  CHECK(std::abs(replicated_bytes(model("deepseek-v3.2")) - 2 * (1030904832LL + 851524864LL)) <= 2);
  for (const Tensor& t : layer_tensors(model("deepseek-v3.2"), model("deepseek-v3.2").layers[5])) {
    const bool whole = t.name == "q_a_proj" || t.name == "kv_a_proj_with_mqa" || t.name.starts_with("indexer.") ||
                       t.name == "router" || t.role == TensorRole::norm;
    INFO(t.name);
    CHECK(replicated_under_tp(t) == whole);
  }
}
