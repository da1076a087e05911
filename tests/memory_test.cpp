// The memory plan: totals, activations, and the exact largest batch and context that fit.
#include <catch2/catch.hpp>

#include "core/estimate.h"
#include "test_helpers.h"

using namespace kvplan;
using kvplan::test::gpu;
using kvplan::test::model;

TEST_CASE("activation estimate follows its documented formula", "[memory]") {
  const Model m = model("llama-3.1-8b");
  const MemoryOptions o = kvplan::test::bf16_options(m);
  // Widest intermediate: max(q+k+v = 4096 + 2 x 1024, gated MLP 2 x 14336) = 28,672; plus 2 x hidden = 36,864 per token.
  // Batch 8 at 32k: tokens in flight min(8 x 32768, chunk 8192) = 8192 -> 8192 x 36864 x 2 B;
  // logits 8 x 128256 x 4 B.
  CHECK(activation_bytes(m, 8, 32768, o) == 8192LL * 36864 * 2 + 8LL * 128256 * 4);
  // Decode-only batch larger than the chunk: tokens in flight = batch.
  CHECK(activation_bytes(m, 10000, 1, o) == 10000LL * 36864 * 2 + 10000LL * 128256 * 4);
}

TEST_CASE("llama-3.1-8b on an H100 at 32k context fits 14 sequences", "[memory]") {
  const Model m = model("llama-3.1-8b");
  const Gpu g = gpu("h100");
  const MemoryOptions o = kvplan::test::bf16_options(m);
  // usable = floor(85,520,809,984 x 0.9) = 76,968,728,985
  const int64_t usable = 76968728985LL;
  REQUIRE(g.memory_bytes == 85520809984LL);
  // fixed: weights 16,060,522,496 + activations 8192 x 36864 x 2 = 603,979,776
  // per sequence: KV 131,072 x 32,768 = 4,294,967,296 + logits 128256 x 4 = 513,024
  // (76,968,728,985 - 16,060,522,496 - 603,979,776) / 4,295,480,320 = 14.04 -> 14
  const int64_t fixed = 16060522496LL + 603979776LL;
  const int64_t per_seq = 4294967296LL + 513024;
  CHECK((usable - fixed) / per_seq == 14);
  const MemoryPlan p = plan_memory(m, g, 8, 32768, o);
  CHECK(p.usable_bytes == usable);
  CHECK(p.max_batch == 14);
  CHECK(p.total_bytes == fixed + 8 * per_seq);
  CHECK(p.fits);
  // Max context at batch 8: 8 x (131,072 x N) + fixed + 8 x 513,024 <= usable (activations are
  // capped at the chunk for N >= 1024) -> N = floor((usable - fixed - 4,104,192) / 1,048,576).
  CHECK(p.max_context.value() == (usable - fixed - 8 * 513024) / (8 * 131072));
}

TEST_CASE("max batch and max context are exact boundaries for every bundled model", "[memory]") {
  const Gpu g = gpu("h200");
  for (const auto& id : kvplan::test::bundled().model_ids()) {
    INFO(id);
    const Model m = model(id);
    const MemoryOptions o = kvplan::test::bf16_options(m);
    const MemoryModel mm = memory_model(m, o);
    const MemoryPlan p = plan_memory(m, g, 4, 8192, o);
    if (p.max_batch > 0) CHECK(total_bytes(mm, p.max_batch, 8192) <= p.usable_bytes);
    CHECK(total_bytes(mm, p.max_batch + 1, 8192) > p.usable_bytes);
    if (p.max_context && *p.max_context > 0) {
      CHECK(total_bytes(mm, 4, *p.max_context) <= p.usable_bytes);
      CHECK(total_bytes(mm, 4, *p.max_context + 1) > p.usable_bytes);
    }
    CHECK(p.fits == (p.total_bytes <= p.usable_bytes));
  }
}

TEST_CASE("memory that stops growing with context has no max context", "[memory]") {
  const Gpu g = gpu("h100");
  for (const char* id : {"mamba-2.8b", "mamba2-2.7b", "falcon-mamba-7b", "mistral-7b-v0.1"}) {
    INFO(id);
    const Model m = model(id);
    const MemoryPlan p = plan_memory(m, g, 1, 1024, kvplan::test::bf16_options(m));
    CHECK_FALSE(p.max_context.has_value());
  }
  // SSM state is the same at 1K and 1M tokens.
  const Model m = model("mamba-2.8b");
  CHECK(plan_memory(m, g, 1, 1024, kvplan::test::bf16_options(m)).state_bytes ==
        plan_memory(m, g, 1, 1 << 20, kvplan::test::bf16_options(m)).state_bytes);
}

TEST_CASE("weights that do not fit give zero, not a wrong number", "[memory]") {
  const Model m = model("llama-3.1-405b");  // ~811 GB of bf16 weights
  const MemoryPlan p = plan_memory(m, gpu("h100"), 1, 1024, kvplan::test::bf16_options(m));
  CHECK_FALSE(p.fits);
  CHECK(p.max_batch == 0);
  CHECK(p.max_context.value() == 0);
  CHECK(p.headroom_bytes < 0);
}

TEST_CASE("estimate validates its workload", "[memory]") {
  const Model m = model("llama-3.1-8b");
  Workload w;
  w.batch = 0;
  w.context = 1024;
  CHECK_THROWS_WITH(estimate(m, gpu("h100"), w, kvplan::test::bf16_options(m)), "batch must be at least 1");
}
