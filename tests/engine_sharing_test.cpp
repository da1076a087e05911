// Prefix sharing and branches under the engines' prefix caches (docs/kv-economy.md, "Under vLLM
// and SGLang"): expected blocks derived by hand from the block arithmetic and the models' shapes.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/engine.h"
#include "core/error.h"
#include "core/estimate.h"
#include "core/fleet.h"
#include "core/length_dist.h"
#include "core/simulate.h"
#include "test_helpers.h"

using namespace kvplan;

namespace {

constexpr int64_t kGiB = int64_t{1} << 30;

// Llama 3.1 8B in bf16 under an engine with a 50 GiB KV budget: vLLM's 16-token block of all 32
// layers is 16 x 2 (K, V) x 8 heads x 128 x 2 B x 32 = 2 MiB, so 25,600 blocks; SGLang's page of
// one token is 131,072 B, so 50 GiB / 128 KiB = 409,600 pages.
MemoryOptions options(const std::string& engine, const KvSharing& sharing) {
  const Model m = test::model("llama-3.1-8b");
  MemoryOptions o = test::bf16_options(m);
  o.engine.profile = test::bundled().resolve_engine(engine);
  o.engine.kv_cache_memory_bytes = 50 * kGiB;
  o.prefill_chunk = 8192;
  o.sharing = sharing;
  return o;
}

EnginePlan plan(const std::string& engine, const KvSharing& sharing, int64_t max_model_len = 131072) {
  return plan_engine(test::model("llama-3.1-8b"), test::gpu("h100-sxm"), options(engine, sharing), max_model_len);
}

KvSharing prefix(int64_t tokens) {
  KvSharing s;
  s.shared_prefix = tokens;
  return s;
}

KvSharing branches(int64_t n, int64_t trunk, int64_t shared_prefix = 0) {
  KvSharing s;
  s.branches = n;
  s.trunk = trunk;
  s.shared_prefix = shared_prefix;
  return s;
}

}  // namespace

TEST_CASE("engine sharing: vLLM holds a shared prefix's whole blocks once", "[engine][sharing]") {
  const EnginePlan p = plan("vllm@0.19", prefix(2010));
  REQUIRE(p.num_gpu_blocks == 25600);
  REQUIRE(p.prefix_caching);  // V1's default
  // 64 requests of 4096 tokens: 256 blocks each. The 2010-token prefix fills floor(2010 / 16) = 125
  // whole blocks (the 126th holds prefix tokens 2000-2009 and each sequence's own 2010-2015, so each
  // sequence owns it): shared 125, owned 64 x (256 - 125) = 8384; alone 64 x 256 = 16,384.
  const EngineBlocks b = blocks_for_batch(p, 64, 4096);
  CHECK(b.sequences == 64);
  CHECK(b.shared == 125);
  CHECK(b.owned == 8384);
  CHECK(b.unshared == 16384);
  CHECK(b.total() == 8509);
  // Most requests: 125 + 131 B <= 25,600 -> B = floor(25,475 / 131) = 194 (194 x 131 = 25,414;
  // 195 x 131 = 25,545 > 25,475). Without sharing: 25,600 / 256 = 100.
  CHECK(requests_that_fit(p, 4096) == 194);
  CHECK(requests_that_fit(plan("vllm@0.19", KvSharing{}), 4096) == 100);
  // blocks_for_request stays the engine's own per-sequence figure (its "maximum concurrency").
  CHECK(blocks_for_request(p, 4096) == 256);
}

TEST_CASE("engine sharing: a sequence never reuses its last token", "[engine][sharing]") {
  // Both engines compute a prompt's last token even when all of it is cached, so a sequence of
  // 2048 tokens whose 2048 are all shared reuses floor(2047 / 16) = 127 blocks and owns
  // 128 - 127 = 1: 8 sequences hold 127 + 8 = 135 blocks, not 128.
  const EngineBlocks b = blocks_for_batch(plan("vllm@0.19", prefix(2048)), 8, 2048);
  CHECK(b.shared == 127);
  CHECK(b.owned == 8);
  // The longest context at 8 requests with a 2048-token prefix: 128 + 8 x (cdiv(L, 16) - 128)
  // <= 25,600 -> cdiv(L, 16) <= 128 + 3184 = 3312 -> L = 52,992.
  MemoryPlan m;
  apply_engine(m, plan("vllm@0.19", prefix(2048)), 8, 4096);
  CHECK(m.max_context == std::optional<int64_t>(52992));
  CHECK(m.fits);
}

TEST_CASE("engine sharing: branches share their request's trunk blocks", "[engine][sharing]") {
  // 4 requests x 16 branches at 8192 tokens (512 blocks), a 6000-token trunk (375 whole blocks)
  // holding a 1000-token system prompt (62 whole blocks) common to all requests:
  // shared = 62 + 4 x (375 - 62) = 1314; owned = 64 x (512 - 375) = 8768; alone 64 x 512 = 32,768.
  const EngineBlocks b = blocks_for_batch(plan("vllm@0.19", branches(16, 6000, 1000)), 4, 8192);
  CHECK(b.sequences == 64);
  CHECK(b.shared == 1314);
  CHECK(b.owned == 8768);
  CHECK(b.unshared == 32768);
  // Most requests: 62 + B x (313 + 16 x 137 = 2505) <= 25,600 -> B = floor(25,538 / 2505) = 10.
  CHECK(requests_that_fit(plan("vllm@0.19", branches(16, 6000, 1000)), 8192) == 10);
}

TEST_CASE("engine sharing: SGLang's radix cache shares token by token", "[engine][sharing]") {
  // Page size 1: 8 requests x 4 branches at 32,768 tokens with a 30,000-token trunk: shared
  // 8 x 30,000 = 240,000 pages, owned 32 x 2768 = 88,576.
  const EnginePlan p = plan("sglang@0.5", branches(4, 30000));
  REQUIRE(p.block_size == 1);
  REQUIRE(p.num_gpu_blocks == 409600);
  const EngineBlocks b = blocks_for_batch(p, 8, 32768);
  CHECK(b.shared == 240000);
  CHECK(b.owned == 88576);
  // Most requests: 30,000 + 4 x 2768 = 41,072 pages each: floor(409,600 / 41,072) = 9.
  CHECK(requests_that_fit(p, 32768) == 9);
}

TEST_CASE("engine sharing: without a prefix cache nothing is shared", "[engine][sharing]") {
  // vLLM V0's default, and V1 with enable_prefix_caching off: every sequence holds 256 blocks, and
  // branches are still sequences: 16 x 4 x 256 = 16,384.
  const EnginePlan v0 = plan("vllm@0.6", branches(4, 2048, 1024));
  CHECK_FALSE(v0.prefix_caching);
  CHECK(blocks_for_batch(v0, 16, 4096).shared == 0);
  CHECK(blocks_for_batch(v0, 16, 4096).total() == 16384);
  MemoryOptions off = options("vllm@0.19", prefix(2048));
  off.engine.prefix_caching = false;
  const EnginePlan p = plan_engine(test::model("llama-3.1-8b"), test::gpu("h100-sxm"), off, 131072);
  CHECK(requests_that_fit(p, 4096) == 100);
}

TEST_CASE("engine sharing: layers that are not full attention are refused", "[engine][sharing]") {
  // Gemma 2's sliding layers keep a window's blocks by the engine's own rules: not modelled.
  const Model m = test::model("gemma-2-9b");
  MemoryOptions o = test::bf16_options(m);
  o.engine.profile = test::bundled().resolve_engine("vllm@0.19");
  o.engine.kv_cache_memory_bytes = 50 * kGiB;
  o.sharing = prefix(2048);
  CHECK_THROWS_AS(plan_engine(m, test::gpu("h100-sxm"), o, 8192), Error);
  // Branches without a trunk share nothing, so they are fine there.
  o.sharing = KvSharing{};
  o.sharing.branches = 1;
  CHECK_NOTHROW(plan_engine(m, test::gpu("h100-sxm"), o, 8192));
}

TEST_CASE("engine sharing: length distributions count the engine's blocks", "[engine][sharing][lengths]") {
  // Prompts of 100 tokens, outputs of 50: a request holds 100 + U tokens, U uniform on 0..49 (the
  // prompt while it yields its first token, then one more per decode step; the 50th output token is
  // never cached), so 100..149 tokens, each with probability 1/50. In vLLM's 16-token blocks:
  // 100-112 -> 7 blocks (13 values), 113-128 -> 8 (16), 129-144 -> 9 (16), 145-149 -> 10 (5):
  // P = .26, .32, .32, .10.
  LengthDist d;
  d.prompt = {100, 100};
  d.output = {50, 50};
  // A pool of 40 blocks: 40 x 2 MiB (the 16-token block of Llama 3.1 8B's 32 layers).
  MemoryOptions o = options("vllm@0.19", KvSharing{});
  o.engine.kv_cache_memory_bytes = 40 * 2 * (int64_t{1} << 20);
  const EnginePlan p = plan_engine(test::model("llama-3.1-8b"), test::gpu("h100-sxm"), o, 150);
  REQUIRE(p.num_gpu_blocks == 40);
  const KvInUse u = engine_in_use(p, d, 4);
  CHECK(u.in_blocks);
  CHECK(u.pool_blocks == 40);
  CHECK(u.mean_tokens == Approx(124.5));
  // Expected: 4 x (13 x 7 + 16 x 8 + 16 x 9 + 5 x 10) / 50 = 4 x 413 / 50 = 33.04 -> 33.
  CHECK(u.expected_blocks == 33);
  // p99 of the sum of 4 (at most 40): P(40) = .1^4 = .0001; P(39) = 4 x .1^3 x .32 = .00128;
  // P(38) = 6 x .1^2 x .32^2 + 4 x .1^3 x .32 = .006144 + .00128 = .007424; P(37) = 4 x .1^3 x .26
  // (10,10,10,7) + 12 x .1^2 x .32^2 (10,10,9,8) + 4 x .1 x .32^3 (10,9,9,9) = .00104 + .012288 +
  // .0131072 = .0264352. P(S <= 36) = 1 - .0352392 = .96476 < .99 and P(S <= 37) = .991196, so the
  // p99 is 37 blocks.
  CHECK(u.p99_blocks == 37);
  CHECK(u.method == P99Method::exact);
  // Most requests: 4 hold at most 40 blocks, always within the pool; 5 hold 41.3 on average, more
  // than 40 well over 1% of the time.
  CHECK(u.paged_max_requests == 4);
  // The engine rejects a request longer than max_model_len.
  const EnginePlan short_plan = plan_engine(test::model("llama-3.1-8b"), test::gpu("h100-sxm"), o, 149);
  CHECK_THROWS_AS(engine_in_use(short_plan, d, 1), Error);
}

TEST_CASE("engine sharing: the blocks in use agree with the simulator's steps", "[engine][sharing][lengths][simulate]") {
  // engine_in_use sizes 16 running requests each drawn from the distribution of a running request
  // (core/length_dist.h); the simulator runs requests through vLLM V1's scheduler and holds their
  // blocks step by step. With 16 requests always running (100,000 requests queued at t = 0,
  // max_num_seqs 16) and a pool that never binds (no preemption), the blocks in use at a step are 16
  // independent running requests' blocks, so the two must agree.
  // Prompts uniform on 100..2,000, outputs on 10..500. By hand, a running request holds E[P] + E[U]
  // tokens with E[P] = 1,050 and, requests met in proportion to their G steps, E[U] = E[G (G - 1)]
  // / (2 E[G]) = (E[G^2] - E[G]) / (2 E[G]); E[G] = 255, Var G = (491^2 - 1) / 12 = 20,090, E[G^2] =
  // 20,090 + 65,025 = 85,115, so E[U] = 84,860 / 510 = 166.39 and the mean is 1,216.39 tokens. Each
  // request equally likely (no length bias) would give E[U] = (E[G] - 1) / 2 = 127, 39.4 tokens
  // (2.5 blocks of ~76.5, 3.2%) fewer: the comparison below tells the two apart.
  LengthDist d;
  d.prompt = {100, 2000};
  d.output = {10, 500};
  MemoryOptions o = options("vllm@0.19", KvSharing{});
  o.engine.kv_cache_memory_bytes = 4000 * 2 * (int64_t{1} << 20);  // 4,000 blocks; 16 x 157 at most
  const EnginePlan p = plan_engine(test::model("llama-3.1-8b"), test::gpu("h100-sxm"), o, 2500);
  REQUIRE(p.num_gpu_blocks == 4000);
  const KvInUse u = engine_in_use(p, d, 16);
  CHECK(u.mean_tokens == Approx(1050.0 + 84860.0 / 510).epsilon(1e-9));
  REQUIRE(u.method == P99Method::exact);

  // Lengths drawn by the simulator's own generator; at 10^9 requests per second every one has
  // arrived before the first step (1 s) ends.
  const std::vector<SimRequest> reqs = poisson_requests(1e9, 100000, 7, d);
  SimConfig c = engine_sim_config(p, 8192);
  c.max_num_seqs = 16;
  std::vector<double> blocks;  // at every step with all 16 running
  c.on_step = [&](int64_t running, int64_t used) {
    if (running == 16) blocks.push_back(static_cast<double>(used));
  };
  struct OneSecond : StepCost {
    double step_s(const StepLoad&) const override { return 1.0; }
  } cost;
  const SimResult r = simulate(reqs, c, cost);
  CHECK(r.preemptions == 0);
  // About 100,000 x 255 / 16 = 1.6 million steps; nearly all have 16 running.
  REQUIRE(blocks.size() > 1500000);

  // The mean: the steps' blocks are correlated over a request's life (~255 steps), so its standard
  // error comes from 100 batches of consecutive steps (each ~16,000 steps, ~60 lives long, nearly
  // independent): SE = sd(batch means) / sqrt(100).
  const size_t batches = 100, per = blocks.size() / batches;
  std::vector<double> means;
  double mean = 0;
  for (size_t b = 0; b < batches; ++b) {
    double sum = 0;
    for (size_t i = b * per; i < (b + 1) * per; ++i) sum += blocks[i];
    means.push_back(sum / static_cast<double>(per));
    mean += means.back() / static_cast<double>(batches);
  }
  double var = 0;
  for (double m : means) var += (m - mean) * (m - mean) / static_cast<double>(batches - 1);
  const double se = std::sqrt(var / static_cast<double>(batches));
  // The test can tell a 3.2% bias: its noise is well below 1% of the mean.
  CHECK(4 * se < 0.01 * mean);
  CHECK(std::abs(mean - static_cast<double>(u.expected_blocks)) < std::max(4 * se, 1.0));  // expected_blocks is rounded
  // The p99: the nearest-rank p99 of the steps against the exact p99 of 16 independent requests.
  // The total's sd is ~4 x 36 blocks (a prompt's 1,900-token spread is 549 tokens = 34 blocks),
  // and the empirical p99 of ~6,000 independent lives' worth of steps has an SE of
  // sqrt(.99 x .01 / 6,000) / density(p99) ~ 0.0013 / (0.0267 / 145) ~ 7 blocks: within 2% (~30 blocks)
  // is over 4 of them.
  std::vector<double> sorted = blocks;
  std::sort(sorted.begin(), sorted.end());
  const double p99 = nearest_rank(sorted, 99);
  CHECK(std::abs(p99 - static_cast<double>(u.p99_blocks)) < 0.02 * static_cast<double>(u.p99_blocks));
}
