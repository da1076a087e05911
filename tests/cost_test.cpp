// Cost per token and ring all-reduce arithmetic on synthetic inputs.
#include <catch2/catch.hpp>

#include "core/collectives.h"
#include "core/cost.h"
#include "core/estimate.h"
#include "test_helpers.h"

using namespace kvplan;

TEST_CASE("dollars per token from the price and the throughput", "[cost]") {
  const double d = 1000;  // output tokens/s of the replica
  PrefillResult p;
  p.tokens_per_s = 10000;
  // $3.60 per GPU-hour x 2 GPUs = $7.20/hour = $0.002/s.
  const CostResult c = cost(3.6, 2, d, p, 1000, 100);
  REQUIRE(c.usd_per_hour);
  CHECK(*c.usd_per_hour == Approx(7.2));
  CHECK(*c.usd_per_million_output_tokens == Approx(2.0));   // 0.002 / 1000 x 1e6
  CHECK(*c.usd_per_million_prompt_tokens == Approx(0.2));   // 0.002 / 10000 x 1e6
  CHECK(*c.usd_per_request == Approx(1000 * 2e-7 + 100 * 2e-6));  // $0.0004
  // Unknown generation length: no per-request figure.
  CHECK_FALSE(cost(3.6, 2, d, p, 1000, 0).usd_per_request);
  // Unknown price: no dollar figures at all.
  const CostResult none = cost(0, 1, d, p, 1000, 100);
  CHECK_FALSE(none.usd_per_hour);
  CHECK_FALSE(none.usd_per_million_output_tokens);
}

TEST_CASE("ring all-reduce sends 2(N-1)/N of the message", "[cost][tp]") {
  CHECK(ring_allreduce_link_bytes(1048576, 1) == 0);
  CHECK(ring_allreduce_link_bytes(1048576, 2) == Approx(1048576));       // 2 x 1/2
  CHECK(ring_allreduce_link_bytes(1048576, 8) == Approx(1835008));       // 2 x 7/8 x 1 MiB
  const Gpu h100 = kvplan::test::gpu("h100-sxm");
  CHECK(ring_allreduce_s(1048576, 8, h100, false) == Approx(1835008 / 450e9));
  CHECK(ring_allreduce_s(1048576, 8, h100, true) == Approx(1835008 / 450e9 + 10e-6));
  Gpu lonely = h100;
  lonely.interconnect_bytes_per_s = 0;
  CHECK_THROWS_WITH(ring_allreduce_s(1024, 2, lonely, true), Catch::Contains("no interconnect"));
}

TEST_CASE("estimate carries prefill, decode and cost", "[cost][estimate]") {
  const Model m = kvplan::test::model("llama-3.1-8b");
  Gpu g = kvplan::test::gpu("h100-sxm");
  MemoryOptions o;
  o.weights = weight_dtypes(m);
  Workload w;
  w.batch = 16;
  w.context = 4096;
  w.prompt = 1000;
  w.gen = 200;
  const Estimate e = estimate(m, g, w, o);
  // $/1M output tokens = $2.69/h / 3600 / (16 / step time) x 1e6.
  CHECK(*e.cost.usd_per_million_output_tokens == Approx(2.69 / 3600 * e.decode.time_s / 16 * 1e6));
  CHECK(e.prefill.prompt == 1000);
  CHECK(e.batch_prefill.batch == 16);
  CHECK(*e.cost.usd_per_request ==
        Approx(1000 * 2.69 / 3600 / e.batch_prefill.tokens_per_s + 200 * 2.69 / 3600 / e.decode.tokens_per_s));
}
