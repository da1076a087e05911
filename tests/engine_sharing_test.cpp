// Prefix sharing and branches under the engines' prefix caches (docs/kv-economy.md, "Under vLLM
// and SGLang"): expected blocks derived by hand from the block arithmetic and the models' shapes.
#include <catch2/catch.hpp>

#include "core/engine.h"
#include "core/error.h"
#include "core/estimate.h"
#include "core/length_dist.h"
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
  // Prompts of 100 tokens, outputs of 50: a request holds 100 + U tokens, U uniform on 1..50, so
  // 101..150 tokens, each with probability 1/50. In vLLM's 16-token blocks: 101-112 -> 7 blocks (12
  // values), 113-128 -> 8 (16), 129-144 -> 9 (16), 145-150 -> 10 (6): P = .24, .32, .32, .12.
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
  CHECK(u.mean_tokens == Approx(125.5));
  // Expected: 4 x (12 x 7 + 16 x 8 + 16 x 9 + 6 x 10) / 50 = 4 x 8.32 = 33.28 -> 33.
  CHECK(u.expected_blocks == 33);
  // p99 of the sum of 4: P(40) = .12^4 = .000207; P(39) = 4 x .12^3 x .32 = .002212; P(38) = 6 x
  // .12^2 x .32^2 + 4 x .12^3 x .32 = .008847 + .002212 = .011059. P(S <= 37) = .98653 < .99 and
  // P(S <= 38) = .99758, so the p99 is 38 blocks.
  CHECK(u.p99_blocks == 38);
  CHECK(u.method == P99Method::exact);
  // Most requests: 4 hold at most 40 blocks, always within the pool; 5 hold 41.6 on average, more
  // than 40 well over 1% of the time.
  CHECK(u.paged_max_requests == 4);
  // The engine rejects a request longer than max_model_len.
  const EnginePlan short_plan = plan_engine(test::model("llama-3.1-8b"), test::gpu("h100-sxm"), o, 149);
  CHECK_THROWS_AS(engine_in_use(short_plan, d, 1), Error);
}
