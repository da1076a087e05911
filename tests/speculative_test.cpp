// Speculative decoding timing and the drafter's memory, derived by hand from the published configs
// (models/llama-3.1-8b.yaml, models/llama-3.1-70b.yaml) and the H100 SXM preset (3.35e12 B/s,
// bandwidth_fraction 0.90 -> 3.015e12 B/s; 989.4e12 bf16 FLOP/s x flops_fraction 0.75 = 742.05e12;
// 4 us per kernel). Tokens per step: vLLM's spec-decode metrics (acceptance rate = accepted /
// draft tokens; mean acceptance length = 1 + accepted / drafts), so L = 1 + k x F.
#include <catch2/catch.hpp>

#include <regex>

#include "core/checks.h"
#include "core/engine.h"
#include "core/estimate.h"
#include "core/fleet.h"
#include "core/speculative.h"
#include "io/files.h"
#include "io/hf_config.h"
#include "test_helpers.h"

using namespace kvplan;
using kvplan::test::gpu;
using kvplan::test::flat_h100;
using kvplan::test::model;

namespace {
// bf16 KV, the ideal engine, `method` with k drafted tokens and an acceptance rate F.
MemoryOptions speculative(const Model& target, const std::string& method, int64_t k, std::optional<Acceptance> a,
                          const std::optional<Model>& draft = std::nullopt) {
  MemoryOptions o = kvplan::test::bf16_options(target);
  o.engine.speculative_method = method;
  o.engine.num_speculative_tokens = k;
  o.engine.draft = speculative_drafter(target, method, draft);
  o.engine.acceptance = a;
  return o;
}
Acceptance rate(double f) { return {AcceptanceKind::rate, f}; }
Acceptance length(double l) { return {AcceptanceKind::length, l}; }
const DecodeComponent& part(const DecodeStep& s, const std::string& name) {
  for (const auto& c : s.components)
    if (c.name == name) return c;
  FAIL("no component " << name);
  return s.components.front();
}
constexpr double kBandwidth = 0.90 * 3.35e12;  // achievable bytes/s
constexpr double kLinear = 0.75 * 989.4e12;    // achievable FLOP/s for bf16 GEMMs
constexpr double kKernel = 4e-6;
}  // namespace

TEST_CASE("tokens per step: L = 1 + k x F, or L as given", "[speculative]") {
  CHECK(acceptance_length(rate(0.6), 3) == Approx(2.8));  // 1 + 3 x 0.6
  CHECK(acceptance_length(rate(0), 5) == Approx(1.0));    // nothing accepted: the target's own token
  CHECK(acceptance_length(rate(1), 5) == Approx(6.0));    // everything: k + 1
  CHECK(acceptance_length(length(2.5), 4) == Approx(2.5));
}

TEST_CASE("Llama-3.1-8B with a one-layer EAGLE head, k = 3, F = 0.6, batch 1 at 4096 tokens", "[speculative]") {
  const Model m = model("llama-3.1-8b");
  const Gpu h100 = flat_h100();
  const MemoryOptions o = speculative(m, "eagle", 3, rate(0.6));
  const SpeculativeModel sm(m, h100, o);
  const SpeculativeDecode s = sm.at(1, 4096);
  CHECK(s.acceptance_length == Approx(2.8));
  CHECK(s.acceptance_rate == Approx(0.6));

  // Draft pass: one decoder layer of the target's shape (q 4096x4096, k and v 1024x4096, o 4096x4096,
  // gate/up/down 3 x 14336x4096 + 2 norms = 218,112,000 params x 2 B), its KV (8 KV heads x 256 x 2 B
  // = 4,096 B/token x 4,096 tokens, + 4,096 written), the target's lm_head (128,256 x 4,096 x 2 B)
  // and one embedding row (8,192 B); the layer's element-wise traffic (88,064 bf16 elements,
  // tests/prefill_test.cpp) and the final norm's 4 x 4,096: 176,128 + 32,768 = 208,896 B.
  REQUIRE(s.draft);
  CHECK(part(*s.draft, "weights").bytes == 436224000);
  CHECK(part(*s.draft, "kv_cache").bytes == 4096LL * 4096 + 4096);
  CHECK(part(*s.draft, "lm_head").bytes == 1050673152);
  const int64_t draft_bytes = 436224000 + 16781312 + 1050673152 + 8192 + 208896;  // 1,503,895,552
  CHECK(s.draft->bytes == draft_bytes);
  // Kernels: one layer (attention 4 + 3, MLP 4) + lm_head 2 + embedding 1 = 14. Memory-bound at batch 1
  // (its largest FLOP term, the lm_head's 1.05 GFLOP, takes 1.4 us against 348 us of bytes).
  CHECK(s.draft->kernels == 14);
  const double draft_pass_s = draft_bytes / kBandwidth + 14 * kKernel;  // 0.4987 + 0.056 = 0.5547 ms
  CHECK(s.draft->time_s == Approx(draft_pass_s));
  CHECK(s.draft_time_s == Approx(3 * draft_pass_s));  // k = 3 passes: 1.664 ms

  // Verify: the target once over 1 x 4 query tokens. Weights (32 x 218,112,000 x 2 B) and the
  // lm_head read once; KV 4,096 x 131,072 B read and 4 tokens x 131,072 B written; 4 embedding rows;
  // 4 tokens' element-wise traffic, 4 x 5,668,864 B.
  CHECK(s.verify.query_tokens == 4);
  CHECK(part(s.verify, "weights").bytes == 13959168000);
  CHECK(part(s.verify, "kv_cache").bytes == 4096LL * 131072 + 4 * 131072);
  CHECK(part(s.verify, "embedding").bytes == 4 * 8192);
  const int64_t verify_bytes = 13959168000 + 537395200 + 1050673152 + 32768 + 4 * 5668864;  // 15,569,944,576
  CHECK(s.verify.bytes == verify_bytes);
  // FLOPs x 4: linear 4 x 2 x 6,979,321,856, lm_head 4 x 2 x 128,256 x 4,096, attention 4 x 4,096
  // keys x 32 layers x 32 heads x 2 x 256.
  CHECK(s.verify.flops == Approx(4 * (13958643712.0 + 1050673152.0 + 2147483648.0)));
  // Still memory-bound (linear: 55.8 GFLOP / 742e12 = 75 us against 4.63 ms of weights): the
  // same 355 kernels as a decode step.
  CHECK(s.verify.kernels == 355);
  const double verify_s = verify_bytes / kBandwidth + 355 * kKernel;  // 5.1641 + 1.42 = 6.5841 ms
  CHECK(s.verify_time_s == Approx(verify_s));

  // The plain step reads 15,552,520,192 B (tests/decode_test.cpp): 6.5784 ms.
  const double plain_s = 15552520192.0 / kBandwidth + 355 * kKernel;
  CHECK(s.step_time_s == Approx(3 * draft_pass_s + verify_s));  // 8.2486 ms
  CHECK(s.tokens_per_s == Approx(2.8 / (3 * draft_pass_s + verify_s)));  // 339.5 tokens/s
  CHECK(s.time_per_output_token_s == Approx((3 * draft_pass_s + verify_s) / 2.8));
  CHECK(s.plain_tokens_per_s == Approx(1 / plain_s));
  CHECK(s.speedup == Approx(2.8 * plain_s / (3 * draft_pass_s + verify_s)));  // 2.23
  CHECK(s.speedup == Approx(2.2330).epsilon(1e-3));  // the number itself, to 0.1%

  // The same acceptance given as a length.
  const SpeculativeDecode by_length = SpeculativeModel(m, h100, speculative(m, "eagle", 3, length(2.8))).at(1, 4096);
  CHECK(by_length.step_time_s == Approx(s.step_time_s));
  CHECK(by_length.acceptance_rate == Approx(0.6));
}

TEST_CASE("ngram drafts on the CPU: the step is the verify pass alone", "[speculative]") {
  const Model m = model("llama-3.1-8b");
  const SpeculativeDecode s = SpeculativeModel(m, flat_h100(), speculative(m, "ngram", 4, rate(0.25))).at(8, 2048);
  CHECK_FALSE(s.draft);
  CHECK(s.draft_time_s == 0);
  CHECK(s.verify.query_tokens == 5);
  CHECK(s.step_time_s == s.verify_time_s);
  CHECK(s.tokens_per_s == Approx(8 * 2.0 / s.verify_time_s));  // L = 1 + 4 x 0.25 = 2
}

TEST_CASE("a draft model: k decode steps of Llama-3.1-8B in front of Llama-3.1-70B", "[speculative]") {
  const Model target = model("llama-3.1-70b");
  const Model draft = model("llama-3.1-8b");
  const Gpu h100 = flat_h100();
  const MemoryOptions o = speculative(target, "draft_model", 4, rate(0.5), draft);
  const SpeculativeDecode s = SpeculativeModel(target, h100, o).at(1, 4096);
  // A draft pass is the 8B's own decode step: 15,552,520,192 B and 355 kernels (tests/decode_test.cpp).
  REQUIRE(s.draft);
  CHECK(s.draft->bytes == 15552520192);
  CHECK(s.draft_time_s == Approx(4 * (15552520192.0 / kBandwidth + 355 * kKernel)));  // 4 x 6.5784 ms
  CHECK(s.acceptance_length == Approx(3.0));
  // The 70B's verify pass over 5 tokens: weights read once, so close to its plain step.
  const DecodeStep plain = decode_step(target, h100, 1, 4096, o);
  // 4 more tokens of KV written, 4 more embedding rows and 4 more tokens of element-wise traffic: per
  // layer 2 x 4 x 8,192 (norms) + 2 x (8,192 + 1,024) + 2,048 (RoPE, cache write's read) + 3 x 28,672
  // (SiLU x up) = 172,032 elements x 2 B x 80 layers + the final norm 4 x 8,192 x 2 B = 27,590,656 B.
  CHECK(s.verify.bytes - plain.bytes == 4 * 327680 + 4 * 16384 + 4 * 27590656);
  CHECK(s.speedup == Approx(3.0 * plain.time_s / (s.draft_time_s + s.verify_time_s)));
}

TEST_CASE("the drafter's weights and KV are in the memory plan, under every engine", "[speculative][memory]") {
  const Model m = model("llama-3.1-8b");
  const Gpu h100 = flat_h100();
  const MemoryPlan plain = plan_memory(m, h100, 16, 4096, kvplan::test::bf16_options(m));
  // EAGLE head: one layer's 218,112,000 params x 2 B (the embedding and lm_head are the target's);
  // its KV 4,096 B/token beside the target's 131,072.
  const MemoryPlan eagle = plan_memory(m, h100, 16, 4096, speculative(m, "eagle", 3, std::nullopt));
  CHECK(eagle.draft_weights_bytes == 436224000);
  CHECK(eagle.weights_bytes == plain.weights_bytes + 436224000);
  CHECK(eagle.draft_kv_bytes_per_token == 4096);
  CHECK(eagle.kv_bytes_per_token == 131072 + 4096);
  CHECK(eagle.kv_cache_bytes == 16LL * 4096 * (131072 + 4096));
  CHECK(eagle.max_batch < plain.max_batch);
  // A draft model brings all of its weights, embedding and lm_head included: Llama-3.1-8B's
  // 8,030,261,248 params x 2 B (tests/params_test.cpp); its KV 131,072 B/token.
  const Model target = model("llama-3.1-70b");
  const MemoryPlan drafted =
      plan_memory(target, h100, 1, 4096, speculative(target, "draft_model", 4, std::nullopt, m));
  CHECK(drafted.draft_weights_bytes == 16060522496);
  CHECK(drafted.kv_bytes_per_token == 327680 + 131072);
  // ngram holds nothing.
  const MemoryPlan ngram = plan_memory(m, h100, 16, 4096, speculative(m, "ngram", 3, std::nullopt));
  CHECK(ngram.weights_bytes == plain.weights_bytes);
  CHECK(ngram.kv_cache_bytes == plain.kv_cache_bytes);
  // Under an engine the GPU holds the drafter just the same (the engine's pool counts its layers
  // too, engine.cpp).
  MemoryOptions vllm = speculative(m, "eagle", 3, std::nullopt);
  vllm.engine.profile.kind = EngineKind::vllm;
  const MemoryPlan under_vllm = plan_memory(m, h100, 16, 4096, vllm);
  CHECK(under_vllm.draft_weights_bytes == 436224000);
  CHECK(under_vllm.weights_bytes == eagle.weights_bytes);
  CHECK(under_vllm.draft_kv_bytes_per_token == 4096);
  // Two pipeline stages of 16 layers: the drafter runs beside the last, which also holds the final
  // norm and the lm_head: 16 x 218,112,000 + 525,336,576 (lm_head, 128,256 x 4,096) + 4,096 (norm)
  // = 4,015,132,672 params x 2 B = 8,030,265,344 B, + the head's 436,224,000 = 8,466,489,344 B (the
  // first stage, 16 layers and the embedding, holds 4,015,128,576 x 2 = 8,030,257,152 B). Its cache: 16 x 4,096 B/token
  // + the head's 4,096.
  vllm.engine.pipeline_parallel_size = 2;
  const MemoryPlan staged = plan_memory(m, h100, 16, 4096, vllm);
  CHECK(staged.weights_bytes == 8466489344);
  CHECK(staged.draft_weights_bytes == 436224000);
  CHECK(staged.kv_bytes_per_token == 16 * 4096 + 4096);
  CHECK(staged.draft_kv_bytes_per_token == 4096);
}

TEST_CASE("an EAGLE-3 drafter in the speculators format: its layer, fc and own lm_head", "[speculative][memory][hf]") {
  // RedHatAI/gemma-4-31B-it-speculator.eagle3 (tests/fixtures/hf/SOURCES.md, Part K): one Llama
  // layer of hidden 5,376, 32 heads, 16 KV heads x 256, MLP 21,504; draft vocab 32,000; target
  // hidden null (= 5,376). vLLM's Eagle3LlamaForCausalLM (llama_eagle3.py): the first layer's
  // q/k/v read 2 x 5,376 = 10,752 and it has three norms; fc 3 x 5,376 = 16,128 -> 5,376.
  //   q 8,192 x 10,752 = 88,080,384; k, v 4,096 x 10,752 = 44,040,192 each; o 5,376 x 8,192 =
  //   44,040,192; MLP 3 x 21,504 x 5,376 = 346,816,512; norms 3 x 5,376 = 16,128: 567,033,600
  //   lm_head 32,000 x 5,376 = 172,032,000; final norm 5,376; fc 5,376 x 16,128 = 86,704,128
  // = 825,775,104 params x 2 B = 1,651,550,208 B (the embedding is the target's).
  const std::string path = std::string(KVPLAN_SOURCE_DIR) + "/tests/fixtures/hf/gemma-4-31b-it-speculator.eagle3.json";
  const Model d = import_hf_config(read_text_file(path), path);
  CHECK(d.family == "eagle3");
  CHECK(d.head_vocab_size == 32000);
  CHECK(d.head_fc_inputs == 16128);
  REQUIRE(d.layers.size() == 1);
  const Model target = model("gemma-4-31b");
  const Gpu h200 = gpu("h200");
  const MemoryPlan p = plan_memory(target, h200, 1, 8192, speculative(target, "eagle3", 3, std::nullopt, d));
  CHECK(p.draft_weights_bytes == 1651550208);
  // Its KV: 16 KV heads x 256 x (K + V) x 2 B = 16,384 B a token.
  CHECK(p.draft_kv_bytes_per_token == 16384);
  // Tensor parallel 2: fc replicated (86,704,128 x 2 B = 173,408,256) and the norms ((16,128 +
  // 5,376) x 2 B = 43,008); the rest split: (567,017,472 + 172,032,000) x 2 B / 2 = 739,049,472.
  MemoryOptions tp2 = speculative(target, "eagle3", 3, std::nullopt, d);
  tp2.cache.tp = 2;
  CHECK(plan_memory(target, h200, 1, 8192, tp2).draft_weights_bytes == 739049472 + 173408256 + 43008);
  // Another speculators algorithm, or another layer type, is an error.
  std::string text = read_text_file(path);
  const std::string other = std::regex_replace(text, std::regex(R"("speculators_model_type": "eagle3")"),
                                               R"("speculators_model_type": "mtp")");
  CHECK_THROWS_WITH(import_hf_config(other, "x.json"), Catch::Contains("speculators_model_type 'mtp' is not modelled"));
  const std::string qwen = std::regex_replace(text, std::regex(R"("model_type": "llama")"), R"("model_type": "qwen3")");
  CHECK_THROWS_WITH(import_hf_config(qwen, "x.json"), Catch::Contains("has model_type 'qwen3'"));
}

TEST_CASE("speculation stops paying at a large batch, where the verify pass is compute-bound", "[speculative]") {
  const Model m = model("llama-3.1-8b");
  const Gpu h100 = flat_h100();
  const SpeculativeModel sm(m, h100, speculative(m, "eagle", 3, rate(0.5)));  // L = 2.5
  CHECK(sm.at(1, 512).speedup > 1.9);
  // Batch 1024 at 512 tokens: the verify pass multiplies 1024 x 4 tokens by 13,958,643,712 linear
  // FLOPs each: 5.72e16 / 742.05e12 = 77.0 ms against 4.63 ms of weight bytes, so its weights
  // component is compute-bound (plus its 32 layers x 4 GEMMs x 4 us).
  const SpeculativeDecode big = sm.at(1024, 512);
  CHECK(part(big.verify, "weights").time_s == Approx(4096 * 13958643712.0 / kLinear + 128 * kKernel));
  CHECK(big.speedup < 1);
  // Where it stops. Below batch 246 the plain step's and the head's weight GEMMs and lm_head are
  // still memory-bound (246 x 18.8109 us of linear FLOPs per token < 4,629.91 us of weight bytes),
  // the verify pass's (4 tokens a sequence) compute-bound from 62 on. In us, per sequence B:
  //   plain   weights 4,629.91 + lm_head 348.48 + 1,420 of kernels = 6,398.39, plus per sequence
  //           KV 512 x 131,072 B / 3.015e12 = 22.2583 read + 0.0435 written, embedding 0.0027,
  //           element-wise 5,668,864 B / 3.015e12 = 1.8802: 24.1847 B           x L = 2.5
  //   verify  (4 x 18.8109 linear + 4 x 1.41591 lm_head + 22.4322 KV + 0.0109 embedding + 4 x 1.8802
  //           element-wise) B + 1,420 = 110.8713 B + 1,420
  //   draft   3 x (144.685 layer + 348.48 lm_head + 56 + (0.69697 KV + 0.0027 + 0.06929
  //           element-wise) B) = 3 x (549.167 + 0.76893 B)
  // so it pays while 2.5 x (6,398.39 + 24.1847 B) > 3 x (549.167 + 0.76893 B) + 110.8713 B + 1,420,
  // i.e. 12,928.5 > 52.716 B, B < 245.2 (below 246: the regime holds).
  const std::optional<int64_t> pays = sm.pays_up_to_batch(512);
  REQUIRE(pays);
  CHECK(*pays == 245);
  // The boundary, and every batch below it pays (checked one by one).
  CHECK(sm.speedup(*pays, 512) > 1);
  CHECK(sm.speedup(*pays + 1, 512) <= 1);
  for (int64_t b = 1; b <= *pays; ++b) CHECK(sm.speedup(b, 512) > 1);
  // At 32K tokens each sequence's KV read (4 GiB) dominates and stays memory-bound: the verify
  // pass costs about a decode step at every batch, and speculation pays throughout.
  CHECK_FALSE(sm.pays_up_to_batch(32768));
  // Nothing accepted: one token per step for the price of the draft and a wider pass.
  const SpeculativeModel none(m, h100, speculative(m, "eagle", 3, rate(0)));
  CHECK(none.at(1, 512).speedup < 1);
  CHECK(none.pays_up_to_batch(512) == std::optional<int64_t>(0));
}

TEST_CASE("MoE: the verify pass touches more experts, so the speedup is not monotone in the batch", "[speculative][moe]") {
  // Mixtral-8x7B, top-2 of 8: a decode step at batch 1 reads 2 experts per layer; a verify pass
  // of 4 tokens 8 x (1 - (3/4)^4) = 5.47. By batch 8 both read nearly all 8.
  const Model m = model("mixtral-8x7b");
  const SpeculativeModel sm(m, flat_h100(), speculative(m, "eagle", 3, rate(0.4)));  // L = 2.2
  const SpeculativeDecode one = sm.at(1, 1024);
  CHECK(one.verify.experts_touched == Approx(8 * (1 - 0.75 * 0.75 * 0.75 * 0.75)));
  CHECK(one.speedup < sm.at(8, 1024).speedup);  // rises with the batch first
  // pays_up_to_batch is the last batch before the first that does not pay, whatever comes after.
  const std::optional<int64_t> pays = sm.pays_up_to_batch(1024);
  const int64_t first_not = pays ? *pays + 1 : 0;
  for (int64_t b = 1; b < first_not; ++b) CHECK(sm.speedup(b, 1024) > 1);
  if (pays) CHECK(sm.speedup(first_not, 1024) <= 1);
}

TEST_CASE("impossible acceptances are errors", "[speculative][errors]") {
  EngineSettings e;
  e.speculative_method = "eagle3";
  e.num_speculative_tokens = 3;
  e.acceptance = rate(1.5);
  CHECK_THROWS_WITH(check_acceptance(e), "the acceptance rate is accepted / proposed draft tokens, a fraction in [0, 1], got 1.5");
  e.acceptance = rate(-0.1);
  CHECK_THROWS(check_acceptance(e));
  e.acceptance = length(4.5);
  CHECK_THROWS_WITH(check_acceptance(e),
                    "the acceptance length is tokens per target step, from 1 to num_speculative_tokens + 1 = 4, got 4.5");
  e.acceptance = length(0.5);
  CHECK_THROWS(check_acceptance(e));
  e.acceptance = length(4);  // every draft accepted
  CHECK_NOTHROW(check_acceptance(e));
  e.acceptance = rate(0);
  CHECK_NOTHROW(check_acceptance(e));
  e.speculative_method.clear();
  CHECK_THROWS_WITH(check_acceptance(e),
                    "an acceptance rate or length needs a speculative config (method and num_speculative_tokens)");
}

TEST_CASE("estimate, fit and plan serve output tokens at the speculative rate", "[speculative]") {
  const Model m = model("llama-3.1-8b");
  const Gpu h100 = flat_h100();
  const MemoryOptions o = speculative(m, "eagle3", 3, rate(0.6));
  const Estimate e = estimate(m, h100, Workload{4, 4096, 0, 0}, o);
  REQUIRE(e.speculative);
  CHECK(output_tokens_per_s(e) == e.speculative->tokens_per_s);
  // $/1M output tokens = $2.69/hour / 3600 / tokens/s x 1e6 at the speculative rate.
  REQUIRE(e.cost.usd_per_million_output_tokens);
  CHECK(*e.cost.usd_per_million_output_tokens == Approx(2.69 / 3600 / e.speculative->tokens_per_s * 1e6));
  // Without an acceptance the config only sizes memory; decode is plain.
  const Estimate plain = estimate(m, h100, Workload{4, 4096, 0, 0}, speculative(m, "eagle3", 3, std::nullopt));
  CHECK_FALSE(plain.speculative);
  CHECK(output_tokens_per_s(plain) == plain.decode.tokens_per_s);
  // fit reports the speculative step at its batch.
  const FitResult f = fit(m, h100, 4096, std::nullopt, o);
  REQUIRE(f.speculative);
  CHECK(f.speculative->verify.batch == f.batch);
  // plan: a speculative replica's TPOT is step time / L (one request at batch 1: prefill + gen steps).
  PlanRequest q;
  q.prompt = 1000;
  q.gen = 200;
  q.rps = 0.01;
  q.tp_candidates = {1};
  const FleetPlan p = plan_fleet(m, h100, q, o);
  REQUIRE(p.best == 0);
  const PlanOption& b = p.options[0];
  CHECK(b.batch == 1);
  const SpeculativeDecode at1 = SpeculativeModel(m, h100, o).at(1, 1100);  // context prompt + gen / 2
  CHECK(b.step_time_s == Approx(at1.step_time_s));
  CHECK(b.tpot_s == Approx(at1.step_time_s / 2.8 + b.ttft_s / 200));
}

TEST_CASE("SGLang with a drafter: its reserve, max_running_requests, headroom and own pool by version", "[speculative][engine]") {
  // Rules: presets/engines/sglang-*.yaml "speculative" (docs/engines.md "SGLang with a drafter").
  const Model m = model("llama-3.1-8b");
  const Gpu h100 = flat_h100();  // nvidia-smi 81,559 MiB
  const EngineProfile v05 = kvplan::test::bundled().resolve_engine("sglang@0.5");
  const EngineProfile v10 = kvplan::test::bundled().resolve_engine("sglang@0.5.10");
  const EngineProfile v18 = kvplan::test::bundled().resolve_engine("sglang@0.5.18");
  // The default mem_fraction_static: tp 1 reserves 512 + 1.5 x 8,192 + 2 x 256 + 128 = 13,440 MiB
  // (above the 10,240 floor); an EAGLE-family drafter adds 2,048 after the floor in 0.5.3-0.5.9:
  // (81,559 - 15,488) / 81,559 = 0.81010 -> 0.810; 4,096 from 0.5.10: 0.78499 -> 0.785; a
  // STANDALONE draft model 6,144: 0.75988 -> 0.760; ngram nothing (0.835, as without a drafter).
  CHECK(engine_defaults(v05, h100, 8192, 1, nullptr, 1, false, "eagle").gpu_memory_utilization == Approx(0.810));
  CHECK(engine_defaults(v05, h100, 8192, 1, nullptr, 1, false, "mtp").gpu_memory_utilization == Approx(0.810));
  CHECK(engine_defaults(v10, h100, 8192, 1, nullptr, 1, false, "eagle3").gpu_memory_utilization == Approx(0.785));
  CHECK(engine_defaults(v05, h100, 8192, 1, nullptr, 1, false, "draft_model").gpu_memory_utilization == Approx(0.760));
  CHECK(engine_defaults(v05, h100, 8192, 1, nullptr, 1, false, "ngram").gpu_memory_utilization == Approx(0.835));
  // 0.5.18 reserves nothing for a drafter (its weights and layers are in the profiled budget).
  CHECK(engine_defaults(v18, h100, 8192, 1, nullptr, 1, false, "eagle").gpu_memory_utilization ==
        Approx(engine_defaults(v18, h100, 8192, 1).gpu_memory_utilization));
  // max_running_requests defaults to 48 with any drafter (the profile's 2048 without).
  CHECK(engine_defaults(v05, h100, 8192).max_num_seqs == 2048);
  CHECK(engine_defaults(v05, h100, 8192, 1, nullptr, 1, false, "ngram").max_num_seqs == 48);

  // The pool, from a given 40 GiB budget: Llama-3.1-8B's cell is 32 layers x 4,096 B = 131,072 B,
  // 42,949,672,960 / 131,072 = 327,680 profiled tokens.
  const auto drafted = [&](const EngineProfile& profile, int64_t steps, int64_t topk, int64_t draft_tokens,
                           const std::string& method = "eagle") {
    MemoryOptions o = kvplan::test::bf16_options(m);
    o.engine.profile = profile;
    o.engine.kv_cache_memory_bytes = 40LL << 30;
    o.engine.speculative_method = method;
    o.engine.num_speculative_tokens = steps;
    o.engine.speculative_eagle_topk = topk;
    o.engine.speculative_num_draft_tokens = draft_tokens;
    o.engine.draft = speculative_drafter(m, method, std::nullopt);
    resolve_speculative_shape(o.engine, m);
    return plan_engine(m, h100, o, 8192);
  };
  // 0.5.3-0.5.7, 3 steps of topk 1 (4 draft tokens): + 48 x (3 x 1 + 4) + 100 = 436 tokens of
  // headroom: 328,116. The EAGLE head loads after the pool: its 436,224,000 B of weights and its own
  // pool of 328,116 tokens x one layer's 4,096 B = 1,343,963,136 B lie beyond mem_fraction_static;
  // the target's weights are its 16,060,522,496 B + the RoPE table's 33,554,432.
  const EnginePlan p05 = drafted(v05, 3, 0, 0);
  CHECK(p05.max_num_seqs == 48);
  CHECK(p05.speculative_headroom_tokens == 436);
  CHECK(p05.kv_cache_tokens == 328116);
  CHECK(p05.weights_bytes == 16094076928);
  CHECK(p05.draft_weights_bytes == 436224000);
  CHECK(p05.draft_kv_cache_bytes == 1343963136);
  // Without speculative_num_steps 0.5.3-0.5.7 choose 5 steps, topk 4, 8 draft tokens for Llama:
  // 48 x (5 x 4 + 8) + 100 = 1,444.
  CHECK(drafted(v05, 0, 0, 0).kv_cache_tokens == 327680 + 1444);
  // topk 1 verifies steps + 1 tokens whatever is given: 48 x (3 + 4) + 100 again.
  CHECK(drafted(v05, 3, 1, 9).speculative_headroom_tokens == 436);
  // ngram: no headroom, no drafter on the GPU.
  const EnginePlan ngram = drafted(v05, 3, 0, 0, "ngram");
  CHECK(ngram.kv_cache_tokens == 327680);
  CHECK(ngram.draft_kv_cache_bytes == 0);
  // 0.5.10-0.5.12: no headroom (PR #15748), the drafter's pool still its own.
  const EnginePlan p10 = drafted(v10, 3, 0, 0);
  CHECK(p10.kv_cache_tokens == 327680);
  CHECK(p10.draft_kv_cache_bytes == 327680LL * 4096);
  // 0.5.18: the head's weights are in the budget and its layer widens the cell by 1/32:
  // 131,072 x 33 / 32 = 135,168 B; 42,949,672,960 / 135,168 = 317,750 tokens.
  const EnginePlan p18 = drafted(v18, 3, 0, 0);
  CHECK(p18.kv_cache_tokens == 317750);
  CHECK(p18.weights_bytes == 16094076928 + 436224000);
  CHECK(p18.draft_kv_cache_bytes == 0);
  CHECK(p18.speculative_headroom_tokens == 0);
  // A STANDALONE draft model (Llama-3.1-8B drafting for itself, 3 steps) at mem_fraction_static 0.9:
  // SGLang keeps (85,029,158,912 - 408,021,893 non-torch) x 0.1 = 8,462,113,702 B beyond the static
  // budget (requested floor(84,621,137,019 x 0.9) = 76,159,023,317 B), below the draft's
  // 16,060,522,496 B of weights alone: it does not start.
  MemoryOptions standalone = kvplan::test::bf16_options(m);
  standalone.engine.profile = v05;
  standalone.engine.speculative_method = "draft_model";
  standalone.engine.num_speculative_tokens = 3;
  standalone.engine.draft = speculative_drafter(m, "draft_model", m);
  resolve_speculative_shape(standalone.engine, m);
  standalone.gpu_memory_utilization = 0.9;
  const EnginePlan tight = plan_engine(m, h100, standalone, 8192);
  CHECK(tight.requested_bytes == 76159023317);
  CHECK(tight.draft_weights_bytes == 16060522496);
  CHECK_FALSE(tight.starts);
  CHECK_THAT(tight.failure, Catch::Matchers::Contains("beyond mem_fraction_static"));
  // At 0.4: requested floor(84,621,137,019 x 0.4) = 33,848,454,807 B, less the target's
  // 16,094,076,928 = 17,754,377,879 B / 131,072 = 135,455 tokens + 436 = 135,891; the draft's pool
  // 135,891 x 131,072 = 17,811,505,152 B + its weights = 33,872,027,648 B, within the 50,772,682,212
  // B beyond the static budget.
  standalone.gpu_memory_utilization = 0.4;
  const EnginePlan roomy = plan_engine(m, h100, standalone, 8192);
  CHECK(roomy.kv_cache_tokens == 135891);
  CHECK(roomy.draft_kv_cache_bytes == 17811505152);
  CHECK(roomy.starts);
  // A tree (topk > 1) needs its draft tokens.
  CHECK_THROWS_WITH(drafted(v05, 3, 4, 0), Catch::Matchers::Contains("speculative_num_draft_tokens"));
}
