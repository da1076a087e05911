// KV sharing and allocation (core/kv_sharing.h), derived by hand. Llama-3.1-70B in bf16:
// 80 layers x 8 KV heads x head_dim 128 x (K+V) 2 x 2 B = 327,680 B/token (tests/kv_cache_test.cpp).
#include <catch2/catch.hpp>

#include "core/error.h"
#include "core/fleet.h"
#include "core/kv_sharing.h"
#include "core/decode.h"
#include "core/prefill.h"
#include "core/memory.h"
#include "test_helpers.h"

using namespace kvplan;

namespace {
constexpr int64_t k70b = 327680;  // B/token
KvTerms full_only(int64_t bytes_per_token) { return KvTerms{bytes_per_token, {}}; }
KvSharing paged(int64_t block = 16) {
  KvSharing s;
  s.allocation = Allocation::paged;
  s.block_tokens = block;
  return s;
}
}  // namespace

TEST_CASE("sharing: the defaults are batch x the exact bytes of a sequence", "[sharing]") {
  // Full attention 100 B/token plus a 4096-token window at 30 B/token, 8 sequences at 10,000 tokens:
  // 8 x (10,000 x 100 + 4,096 x 30) = 8 x 1,122,880 = 8,983,040.
  const KvTerms t{100, {{4096, 30}}};
  const KvUse u = kv_use(t, 8, 10000, KvSharing{});
  CHECK(u.total_bytes == 8983040);
  CHECK(u.total_bytes == 8 * kv_bytes_per_sequence(t, 10000));
  CHECK(u.unshared_bytes == u.total_bytes);
  CHECK(u.shared_bytes == 0);
  CHECK(u.fragmentation_bytes == 0);
  CHECK(u.sequences == 8);
}

TEST_CASE("sharing: a 32K trunk forked 64 ways (Llama-3.1-70B)", "[sharing]") {
  // Without sharing, 64 branches at the trunk's 32,768 tokens: 64 x 32,768 x 327,680 B = 640 GiB.
  KvSharing s = paged();
  s.branches = 64;
  s.trunk = 32768;
  const KvUse at_fork = kv_use(full_only(k70b), 1, 32768, s);
  CHECK(at_fork.unshared_bytes == 640LL * 1024 * 1024 * 1024);
  // Shared copy-on-write: the trunk's 2,048 blocks once = 32,768 x 327,680 = 10 GiB.
  CHECK(at_fork.shared_bytes == 10LL * 1024 * 1024 * 1024);
  CHECK(at_fork.owned_bytes == 0);
  // After 1,000 more tokens per branch (context 33,768): each branch owns ceil(33,768 / 16) - 2,048
  // = 2,111 - 2,048 = 63 blocks = 1,008 tokens; 64 x 1,008 x 327,680 = 21,139,292,160 B.
  const KvUse later = kv_use(full_only(k70b), 1, 33768, s);
  CHECK(later.owned_bytes == 21139292160LL);
  CHECK(later.total_bytes == 10737418240LL + 21139292160LL);
  // Unshared: 64 x 2,111 blocks x 16 x 327,680 = 708,334,059,520; the last blocks hold 8 empty
  // slots each: 64 x 8 x 327,680 = 167,772,160 of fragmentation.
  CHECK(later.unshared_bytes == 708334059520LL);
  CHECK(later.fragmentation_bytes == 167772160LL);
  // Two requests: the trunk is shared within a request, not across them.
  CHECK(kv_use(full_only(k70b), 2, 33768, s).total_bytes == 2 * later.total_bytes);
}

TEST_CASE("sharing: a system prompt shared by every sequence, in whole blocks", "[sharing]") {
  // 32 sequences of 4,000 tokens whose first 2,010 are one system prompt, 100 B/token.
  KvSharing s = paged();
  s.shared_prefix = 2010;
  const KvUse u = kv_use(full_only(100), 32, 4000, s);
  // Only full blocks are shared: floor(2,010 / 16) = 125 blocks = 2,000 tokens, once: 200,000 B.
  CHECK(u.shared_bytes == 200000);
  // Each sequence holds ceil(4,000 / 16) = 250 blocks, 125 of its own: 32 x 2,000 x 100 = 6,400,000.
  CHECK(u.owned_bytes == 6400000);
  CHECK(u.unshared_bytes == 32 * 4000 * 100);
  // Exact allocation shares all 2,010 tokens: 201,000 once + 32 x 1,990 x 100 = 6,569,000.
  s.allocation = Allocation::exact;
  CHECK(kv_use(full_only(100), 32, 4000, s).total_bytes == 201000 + 6368000);
}

TEST_CASE("sharing: a sliding window shares only the prefix blocks still in the window", "[sharing]") {
  // Window 4,096 at 10 B/token, prefix 2,048, blocks of 16.
  KvSharing s = paged();
  s.shared_prefix = 2048;
  const KvTerms t{0, {{4096, 10}}};
  // Context 5,000: the oldest resident token is 5,000 - 4,096 = 904, in block 56 (tokens 896..911),
  // so blocks 56..127 of the prefix are shared: 2,048 - 896 = 1,152 tokens.
  const KvUse u = kv_use(t, 4, 5000, s);
  CHECK(u.shared_bytes == 1152 * 10);
  // Each sequence holds blocks 56..312 (ceil(5,000 / 16) = 313): 257 blocks = 4,112 tokens, of which
  // 1,152 shared: 4 x 2,960 x 10 = 118,400 owned.
  CHECK(u.owned_bytes == 118400);
  CHECK(u.unshared_bytes == 4 * 4112 * 10);
  // Context 8,192: the window starts at 4,096, past the prefix: nothing shared.
  CHECK(kv_use(t, 4, 8192, s).shared_bytes == 0);
}

TEST_CASE("sharing: contiguous allocation reserves max_model_len per sequence", "[sharing]") {
  KvSharing s;
  s.allocation = Allocation::contiguous;
  s.reserve_tokens = 8192;
  // 10 sequences at 1,000 tokens each reserve 8,192: 10 x 8,192 x 100 = 8,192,000 B, of which
  // 10 x 7,192 x 100 = 7,192,000 hold nothing.
  const KvUse u = kv_use(full_only(100), 10, 1000, s);
  CHECK(u.total_bytes == 8192000);
  CHECK(u.fragmentation_bytes == 7192000);
  // Paged at the same point: 10 x ceil(1,000 / 16) = 63 blocks = 1,008 tokens x 100 = 1,008,000.
  CHECK(kv_use(full_only(100), 10, 1000, paged()).total_bytes == 1008000);
}

TEST_CASE("sharing: impossible descriptions are errors", "[sharing]") {
  KvSharing s;
  s.shared_prefix = 5000;
  CHECK_THROWS_AS(check_sharing(s, 4000), Error);
  s.shared_prefix = 2000;
  s.trunk = 1000;
  CHECK_THROWS_AS(check_sharing(s, 4000), Error);  // the prefix lies inside each trunk
  s.trunk = 0;
  s.allocation = Allocation::contiguous;
  CHECK_THROWS_AS(check_sharing(s, 4000), Error);
  KvSharing r;
  r.allocation = Allocation::contiguous;
  r.reserve_tokens = 1000;
  CHECK_THROWS_AS(check_sharing(r, 4000), Error);  // max_model_len below the context
  KvSharing b;
  b.branches = 0;
  CHECK_THROWS_AS(check_sharing(b, 4000), Error);
}

TEST_CASE("sharing: the memory plan counts shared blocks once and every branch's state", "[sharing][memory]") {
  const Model m = kvplan::test::model("llama-3.1-70b");
  MemoryOptions o = kvplan::test::bf16_options(m);
  o.cache.tp = 8;  // 327,680 / 8 = 40,960 B/token per GPU
  o.sharing = paged();
  o.sharing.branches = 64;
  o.sharing.trunk = 32768;
  const Gpu g = kvplan::test::gpu("h200");
  const MemoryPlan p = plan_memory(m, g, 1, 33768, o);
  // Per GPU: shared 32,768 x 40,960 = 1,342,177,280; owned 64 x 1,008 x 40,960 = 2,642,411,520.
  CHECK(p.kv_cache_bytes == 1342177280LL + 2642411520LL);
  CHECK(p.kv.sequences == 64);
  // Sharing fits more requests than copying every branch would.
  MemoryOptions copied = o;
  copied.sharing.trunk = 0;
  CHECK(p.max_batch > plan_memory(m, g, 1, 33768, copied).max_batch);
}

TEST_CASE("bounded caches: sinks + window and token budgets", "[sharing][policy]") {
  // Llama-3.1-8B in bf16: 32 layers x 8 KV heads x 128 x 2 x 2 B = 131,072 B/token.
  const Model m = kvplan::test::model("llama-3.1-8b");
  MemoryOptions o = kvplan::test::bf16_options(m);
  o.cache.policy.kind = CachePolicyKind::sinks_window;
  o.cache.policy.sinks = 4;
  o.cache.policy.window = 4092;
  // StreamingLLM keeps 4 + 4,092 = 4,096 tokens per layer: 4,096 x 131,072 = 536,870,912 B at any
  // context past it, and the exact tokens below it.
  CHECK(kv_bytes_per_sequence(m, 131072, o.cache) == 536870912);
  CHECK(kv_bytes_per_sequence(m, 1000, o.cache) == 1000 * 131072);
  // Memory stops growing with context: no longest context.
  const Gpu g = kvplan::test::gpu("h100-sxm");
  CHECK_FALSE(plan_memory(m, g, 1, 131072, o).max_context.has_value());
  // Decode reads the kept tokens only: the same KV bytes at 131,072 tokens as at 4,096.
  const DecodeModel bounded(m, g, o);
  auto kv_read = [](const DecodeStep& s) {
    for (const DecodeComponent& c : s.components)
      if (c.name == "kv_cache") return c.bytes;
    return int64_t{-1};
  };
  CHECK(kv_read(bounded.step(8, 131072)) == kv_read(bounded.step(8, 4096)));
  CHECK(kv_read(bounded.step(8, 131072)) < kv_read(DecodeModel(m, g, kvplan::test::bf16_options(m)).step(8, 131072)));

  // A budget of 2,048 tokens on Gemma-2-9B (window 4,096 on half its 42 layers): every layer keeps
  // 2,048 tokens; 42 layers x 8 KV heads x 256 x 2 x 2 B = 344,064 B/token -> 2,048 x 344,064.
  const Model gemma = kvplan::test::model("gemma-2-9b");
  CacheOptions b = kvplan::test::bf16_options(gemma).cache;
  b.policy.kind = CachePolicyKind::budget;
  b.policy.budget = 2048;
  CHECK(kv_bytes_per_token(gemma, b) == 344064);
  CHECK(kv_bytes_per_sequence(gemma, 100000, b) == 2048LL * 344064);
}

TEST_CASE("prefix cache hits skip the cached prompt tokens' prefill", "[sharing][prefill]") {
  const Model m = kvplan::test::model("llama-3.1-8b");
  const Gpu g = kvplan::test::gpu("h100-sxm");
  MemoryOptions o = kvplan::test::bf16_options(m);
  const PrefillResult full = PrefillModel(m, g, o).run(1, 8192);
  o.sharing.prefix_hit_rate = 0.5;
  const PrefillResult half = PrefillModel(m, g, o).run(1, 8192);
  // floor(0.5 x 8,192) = 4,096 tokens cached; the other 4,096 are computed.
  CHECK(half.cached == 4096);
  // Linear work per computed token, plus one lm_head row either way:
  // full = 8,192 x L + H, half = 4,096 x L + H, so half = (full + H) / 2.
  const double head = PrefillModel(m, g, o).work().lm_head_flops_per_token;
  CHECK(half.linear_flops == Approx((full.linear_flops + head) / 2));
  // Attention: the computed queries 4,097..8,192 attend to all earlier keys: causal pairs
  // 8,192 x 8,193 / 2 - 4,096 x 4,097 / 2 = 33,558,528 - 8,390,656 = 25,167,872 of the full
  // 33,558,528 (same FLOPs per pair).
  CHECK(half.attention_flops == Approx(full.attention_flops * 25167872.0 / 33558528.0));
  CHECK(half.time_s < full.time_s);
  // Everything cached still computes the last token.
  o.sharing.prefix_hit_rate = 1;
  CHECK(PrefillModel(m, g, o).run(1, 8192).cached == 8191);
  CHECK(cached_prompt_tokens(0.3, 1000) == 300);
  CHECK(cached_prompt_tokens(0, 1000) == 0);
}

TEST_CASE("fit and plan decode every branch of a request", "[sharing][fleet]") {
  const Model m = kvplan::test::model("llama-3.1-8b");
  const Gpu g = kvplan::test::gpu("h100-sxm");
  MemoryOptions o = kvplan::test::bf16_options(m);
  o.sharing.allocation = Allocation::paged;
  o.sharing.branches = 4;
  o.sharing.trunk = 1024;
  const FitResult f = fit(m, g, 2048, std::nullopt, o);
  REQUIRE(f.batch > 0);
  REQUIRE(f.decode.has_value());
  // The largest batch is in requests; the decode step runs 4 sequences for each.
  CHECK(f.decode->batch == 4 * f.batch);
  PlanRequest q;
  q.prompt = 1024;
  q.gen = 256;
  q.rps = 1;
  q.tp_candidates = {1};
  const FleetPlan p = plan_fleet(m, g, q, o);
  REQUIRE(p.best == 0);
  const PlanOption& best = p.options[0];
  // The step at the replica's batch of requests is the decode of 4 x that many sequences, at the
  // average context 1,024 + 128.
  CHECK(best.step_time_s == Approx(DecodeModel(m, g, o).step(4 * best.batch, 1152).time_s));
}

TEST_CASE("plan prices every branch's output tokens", "[sharing][fleet][cost]") {
  const Model m = kvplan::test::model("llama-3.1-8b");
  const Gpu g = kvplan::test::gpu("h100-sxm");
  MemoryOptions o = kvplan::test::bf16_options(m);
  o.sharing.branches = 4;
  o.sharing.trunk = 1024;
  PlanRequest q;
  q.prompt = 1024;
  q.gen = 256;
  q.rps = 2;
  q.tp_candidates = {1};
  const FleetPlan p = plan_fleet(m, g, q, o);
  const PlanOption& best = p.options[0];
  // $2.69/h over 2 req/s x 4 branches x 256 tokens = 2,048 output tokens/s:
  // 2.69 / 3,600 / 2,048 x 1e6 = $0.3649 per 1M.
  CHECK(*best.usd_per_million_output_tokens == Approx(2.69 / 3600 / 2048 * 1e6));
  // Prompt + output: 2 x (1,024 + 1,024) = 4,096 tokens/s.
  CHECK(*best.usd_per_million_tokens == Approx(2.69 / 3600 / 4096 * 1e6));
}
