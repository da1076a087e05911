#include <catch2/catch.hpp>

#include <memory>

#include "core/checks.h"
#include "core/error.h"
#include "io/registry.h"

using namespace kvplan;

namespace {
const CheckResult* find(const std::vector<CheckResult>& checks, const std::string& name) {
  for (const CheckResult& c : checks)
    if (c.name == name) return &c;
  return nullptr;
}

// An estimate with only the numbers the memory checks read.
DeployEstimates synthetic(int64_t total, int64_t usable) {
  DeployEstimates e;
  e.workload.workload.batch = 8;
  e.workload.workload.context = 1024;
  e.workload.memory.total_bytes = total;
  e.workload.memory.usable_bytes = usable;
  e.workload.memory.headroom_bytes = usable - total;
  return e;
}
}  // namespace

TEST_CASE("checks: fits compares total with usable memory", "[checks]") {
  DeploySpec spec;
  auto fits = run_checks(synthetic(70, 100), spec);
  REQUIRE(fits.size() == 1);
  CHECK(fits[0].name == "fits");
  CHECK(fits[0].pass);
  CHECK(fits[0].measured == 70);
  CHECK(fits[0].limit == 100);
  CHECK(fits[0].comparison == Comparison::at_most);
  CHECK(fits[0].unit == "bytes");
  CHECK(run_checks(synthetic(100, 100), spec)[0].pass);  // exactly full fits
  CHECK_FALSE(run_checks(synthetic(101, 100), spec)[0].pass);
  spec.limits.fits = false;
  CHECK(run_checks(synthetic(101, 100), spec).empty());
}

TEST_CASE("checks: headroom is a percent of usable memory", "[checks]") {
  DeploySpec spec;
  spec.limits.min_headroom_percent = 25;
  auto checks = run_checks(synthetic(70, 100), spec);  // 30 of 100 free: 30%
  const CheckResult* h = find(checks, "min_headroom_percent");
  REQUIRE(h);
  CHECK(h->measured == Approx(30.0));
  CHECK(h->limit == 25);
  CHECK(h->comparison == Comparison::at_least);
  CHECK(h->pass);
  CHECK_FALSE(find(run_checks(synthetic(80, 100), spec), "min_headroom_percent")->pass);  // 20% < 25%
  CHECK(find(run_checks(synthetic(75, 100), spec), "min_headroom_percent")->pass);        // 25% = 25%
}

TEST_CASE("checks: max_num_seqs_fit and max_model_len_fits count sequences of max_model_len", "[checks]") {
  DeploySpec spec;
  spec.engine.settings.max_num_seqs = 16;
  spec.limits.max_model_len_fits = true;
  spec.limits.max_num_seqs_fit = true;
  DeployEstimates e = synthetic(1, 2);
  e.engine = Estimate{};
  e.engine->workload.context = 32768;
  e.engine->memory.max_batch = 5;
  auto checks = run_checks(e, spec);
  REQUIRE(checks.size() == 3);
  CHECK(find(checks, "max_model_len_fits")->pass);   // 5 >= 1
  CHECK_FALSE(find(checks, "max_num_seqs_fit")->pass);  // 5 < 16
  CHECK(find(checks, "max_num_seqs_fit")->limit == 16);
  e.engine->memory.max_batch = 0;
  CHECK_FALSE(find(run_checks(e, spec), "max_model_len_fits")->pass);
}

TEST_CASE("checks: a deployment rounds each sequence up to whole KV blocks", "[checks]") {
  const Registry registry = Registry::load("");
  const Model model = registry.resolve_model("llama-3.1-8b");
  const Gpu gpu = registry.resolve_gpu("h100-sxm");
  DeploySpec spec;
  spec.engine.settings.max_num_seqs = 4;
  spec.workload.prompt_tokens = 1000;
  spec.workload.output_tokens = 10;  // 1010 tokens -> 64 blocks of 16 = 1024
  const DeployResult r = check_deployment(model, gpu, spec);
  // Llama 3.1 8B: 32 layers x 8 KV heads x 128 dims x (K + V) x 2 bytes = 131072 bytes per token.
  CHECK(r.estimates.workload.workload.context == 1024);
  CHECK(r.estimates.workload.memory.kv_cache_bytes == 4 * 1024 * int64_t{131072});
  CHECK(r.pass());
  spec.engine.settings.block_size = 1;
  CHECK(check_deployment(model, gpu, spec).estimates.workload.memory.kv_cache_bytes == 4 * 1010 * int64_t{131072});
  spec.engine.kv_cache_dtype = "fp8_e4m3";
  CHECK(check_deployment(model, gpu, spec).estimates.workload.memory.kv_cache_bytes == 4 * 1010 * int64_t{65536});
}

TEST_CASE("checks: a deployment's branches share their trunk's blocks", "[checks][sharing]") {
  const Registry registry = Registry::load("");
  const Model model = registry.resolve_model("llama-3.1-8b");
  const Gpu gpu = registry.resolve_gpu("h100-sxm");
  DeploySpec spec;
  spec.workload.concurrency = 2;
  spec.workload.prompt_tokens = 30000;
  spec.workload.output_tokens = 2000;  // one branch: 32,000 tokens = 2,000 blocks of 16
  spec.workload.branches = 8;
  spec.workload.trunk_tokens = 30000;  // 1,875 blocks shared by each request's 8 branches
  const DeployEstimates e = estimate_deployment(model, gpu, spec);
  // 2 trunks x 30,000 tokens + 16 branches x (2,000 - 1,875 blocks = 2,000 tokens), x 131,072 B/token
  // = 92,000 x 131,072 = 12,058,624,000 B.
  CHECK(e.workload.memory.kv_cache_bytes == 12058624000LL);
  CHECK(e.workload.memory.kv.sequences == 16);
  // Under vLLM (prefix caching on in V1) in its 16-token blocks: shared 2 x 1,875 = 3,750, owned
  // 16 x (2,000 - 1,875) = 2,000; every branch alone would hold 16 x 2,000 = 32,000.
  spec.engine.settings.profile = registry.resolve_engine("vllm@0.19");
  const DeployEstimates v = estimate_deployment(model, gpu, spec);
  REQUIRE(v.workload.memory.engine_blocks.has_value());
  CHECK(v.workload.memory.engine_blocks->shared == 3750);
  CHECK(v.workload.memory.engine_blocks->owned == 2000);
  CHECK(v.workload.memory.engine_blocks->unshared == 32000);
  // A cache policy stays kvplan's own: refused under an engine, at its line.
  spec.workload.cache_policy.kind = CachePolicyKind::budget;
  spec.workload.cache_policy.budget = 1024;
  CHECK_THROWS_AS(estimate_deployment(model, gpu, spec), Error);
  spec.workload.cache_policy = CachePolicy{};
  // Branches without a trunk share nothing: an input error.
  spec.engine.settings.profile = EngineProfile{};
  spec.workload.trunk_tokens = 0;
  CHECK_THROWS_AS(estimate_deployment(model, gpu, spec), Error);
}

TEST_CASE("checks: inconsistent deployments are input errors", "[checks]") {
  const Registry registry = Registry::load("");
  const Model model = registry.resolve_model("llama-3.1-8b");  // max_position_embeddings 131072
  const Gpu gpu = registry.resolve_gpu("h100-sxm");
  DeploySpec spec;
  spec.workload.prompt_tokens = 1000;
  spec.workload.output_tokens = 100;
  CHECK_THROWS_WITH(estimate_deployment(model, gpu, spec), "set workload.concurrency or engine.max_num_seqs");
  spec.engine.settings.max_num_seqs = 8;
  spec.workload.concurrency = 9;
  CHECK_THROWS_WITH(estimate_deployment(model, gpu, spec),
                    "workload.concurrency 9 exceeds engine.max_num_seqs 8 (the engine runs at most max_num_seqs at once)");
  spec.workload.concurrency = 8;
  spec.engine.settings.max_model_len = 1024;
  CHECK_THROWS_WITH(estimate_deployment(model, gpu, spec),
                    "workload prompt_tokens + output_tokens = 1100 exceeds max_model_len 1024 (the engine would reject "
                    "these requests)");
  spec.engine.settings.max_model_len = 200000;
  CHECK_THROWS_WITH(estimate_deployment(model, gpu, spec),
                    "engine.max_model_len 200000 exceeds model 'llama-3.1-8b' max_position_embeddings 131072 (vLLM "
                    "refuses to start)");
}

TEST_CASE("checks: latency, throughput and cost limits read the estimate's timing", "[checks]") {
  DeploySpec spec;
  spec.limits.fits = false;
  spec.limits.max_ttft_s = 0.5;
  spec.limits.max_time_per_output_token_s = 0.02;
  spec.limits.min_output_tokens_per_s = 1000;
  spec.limits.max_usd_per_million_output_tokens = 1.0;
  DeployEstimates e = synthetic(1, 2);
  e.workload.prefill.time_s = 0.4;     // 0.4 <= 0.5
  e.workload.decode.time_s = 0.025;    // 25 ms > 20 ms
  e.workload.decode.tokens_per_s = 8 / 0.025;  // 320 < 1000
  e.workload.cost.usd_per_million_output_tokens = 0.9;
  const auto checks = run_checks(e, spec);
  REQUIRE(checks.size() == 4);
  CHECK(find(checks, "max_ttft_s")->pass);
  CHECK(find(checks, "max_ttft_s")->measured == 0.4);
  CHECK_FALSE(find(checks, "max_time_per_output_token_s")->pass);
  CHECK_FALSE(find(checks, "min_output_tokens_per_s")->pass);
  CHECK(find(checks, "min_output_tokens_per_s")->comparison == Comparison::at_least);
  CHECK(find(checks, "max_usd_per_million_output_tokens")->pass);
}

TEST_CASE("checks: a cost limit needs a price", "[checks]") {
  const Registry registry = Registry::load("");
  const Model model = registry.resolve_model("llama-3.1-8b");
  Gpu gpu = registry.resolve_gpu("h100-sxm");
  gpu.price.usd_per_gpu_hour = 0;
  DeploySpec spec;
  spec.engine.settings.max_num_seqs = 8;
  spec.workload.prompt_tokens = 100;
  spec.workload.output_tokens = 100;
  spec.limits.max_usd_per_million_output_tokens = 1;
  CHECK_THROWS_WITH(estimate_deployment(model, gpu, spec),
                    "limit max_usd_per_million_output_tokens needs a price: GPU preset 'h100-sxm' has none, set "
                    "usd_per_gpu_hour");
  spec.usd_per_gpu_hour = 3.0;
  const DeployResult r = check_deployment(model, gpu, spec);
  CHECK(r.estimates.workload.cost.usd_per_gpu_hour == 3.0);
  CHECK(r.checks.back().name == "max_usd_per_million_output_tokens");
}

TEST_CASE("checks: the p99 and goodput limits come from the simulation at workload.rate_rps", "[checks][simulate]") {
  const Registry registry = Registry::load("");
  const Model model = registry.resolve_model("llama-3.1-8b");
  const Gpu gpu = registry.resolve_gpu("h100-sxm");
  DeploySpec spec;
  spec.engine.settings.profile = registry.resolve_engine("vllm@0.19");
  spec.workload.concurrency = 8;
  spec.workload.prompt_tokens = 1000;
  spec.workload.output_tokens = 100;
  spec.limits.max_ttft_p99_s = 10.0;
  spec.limits.max_tpot_p99_s = 1.0;
  spec.limits.min_goodput_rps = 0.0;
  // Without a rate the limits cannot be measured: an input error.
  CHECK_THROWS_AS(estimate_deployment(model, gpu, spec), Error);
  spec.workload.rate_rps = 2.0;
  spec.workload.requests = 300;
  const DeployResult r = check_deployment(model, gpu, spec);
  REQUIRE(r.estimates.simulation.has_value());
  const SimResult& s = *r.estimates.simulation;
  CHECK(s.requests.size() == 300);
  // Each check reports the simulation's own figure against its limit.
  auto find = [&](const std::string& name) {
    for (const CheckResult& c : r.checks)
      if (c.name == name) return c;
    FAIL("no check " << name);
    return CheckResult{};
  };
  CHECK(find("max_ttft_p99_s").measured == s.ttft_s.p99);
  CHECK(find("max_tpot_p99_s").measured == s.tpot_s.p99);
  CHECK(find("min_goodput_rps").measured == s.goodput_rps);
  // Limits of 10 s and 1 s hold for every request of an idle-ish engine: goodput = throughput.
  CHECK(s.good_requests == 300);
  CHECK(find("max_ttft_p99_s").pass);
  // Under the ideal engine there is no scheduler to simulate.
  spec.engine.settings.profile = EngineProfile{};
  CHECK_THROWS_AS(estimate_deployment(model, gpu, spec), Error);
}

TEST_CASE("checks: workload.trace replays a trace at the one engine, all of it by default", "[checks][simulate][trace]") {
  const Registry registry = Registry::load("");
  const Model model = registry.resolve_model("llama-3.1-8b");
  const Gpu gpu = registry.resolve_gpu("h100-sxm");
  DeploySpec spec;
  spec.engine.settings.profile = registry.resolve_engine("vllm@0.19");
  spec.workload.concurrency = 8;
  spec.workload.prompt_tokens = 1000;
  spec.workload.output_tokens = 100;
  spec.limits.max_ttft_p99_s = 10.0;
  // Five requests a second apart (lines 2..6), prompts of 100..500 tokens, 10 tokens out each.
  auto t = std::make_shared<LengthDist>();
  t->kind = LengthsKind::trace;
  t->prompt_source = t->output_source = "t.csv";
  for (int i = 0; i < 5; ++i) {
    t->trace.push_back({100 * (i + 1), 10});
    t->arrivals_s.push_back(i);
    t->lines.push_back(i + 2);
  }
  spec.workload.arrival_trace = t;
  const DeployResult r = check_deployment(model, gpu, spec);
  REQUIRE(r.estimates.simulation.has_value());
  // Every request, one engine: no round robin.
  CHECK(r.estimates.simulation->requests.size() == 5);
  CHECK(r.estimates.simulation->output_tokens == 50);
  CHECK(r.checks.back().description == "p99 time to first token of 5 requests replayed from t.csv");
  spec.workload.requests = 2;
  CHECK(check_deployment(model, gpu, spec).estimates.simulation->requests.size() == 2);
  // A seed draws nothing from a trace: an input error at its key.
  spec.key_pos["workload.seed"] = {"d.yaml", 9, 3};
  CHECK_THROWS_WITH(estimate_deployment(model, gpu, spec),
                    "workload.seed draws the arrivals and lengths of rate_rps; a trace replays its own");
  // Without a rate or a trace, requests and seed set up nothing.
  spec.key_pos.erase("workload.seed");
  spec.workload.arrival_trace = nullptr;
  spec.limits.max_ttft_p99_s.reset();
  spec.key_pos["workload.requests"] = {"d.yaml", 8, 3};
  CHECK_THROWS_WITH(estimate_deployment(model, gpu, spec),
                    "workload.requests sets up the simulation: set workload.rate_rps or workload.trace");
}
