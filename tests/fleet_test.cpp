// fit and plan: properties of the searches, and the plan's cycle arithmetic by hand.
#include <catch2/catch.hpp>

#include "core/disaggregate.h"
#include "core/fleet.h"
#include "core/error.h"
#include "core/prefill.h"
#include "test_helpers.h"

using namespace kvplan;
using kvplan::test::gpu;
using kvplan::test::flat_h100;
using kvplan::test::model;

namespace {
// The model's published formats under vLLM 0.19 with a 50 GiB KV budget (25,600 blocks of 2 MiB for
// Llama-3.1-8B, tests/engine_test.cpp) and a step budget of 8,192 tokens.
MemoryOptions vllm_pool_options(const Model& m) {
  MemoryOptions o = kvplan::test::bf16_options(m);
  o.engine.profile = kvplan::test::bundled().resolve_engine("vllm@0.19");
  o.engine.kv_cache_memory_bytes = int64_t{50} << 30;
  o.prefill_chunk = 8192;
  return o;
}
}  // namespace

TEST_CASE("fit: the largest batch at a context is exact", "[fleet][fit]") {
  const Model m = model("llama-3.1-8b");
  const Gpu g = flat_h100();
  const MemoryOptions o = kvplan::test::bf16_options(m);
  const FitResult r = fit(m, g, 8192, std::nullopt, o);
  CHECK(r.mode == kvplan::FitMode::batch);
  CHECK(r.binds == kvplan::FitBinds::memory);
  // usable = floor(85,520,809,984 x 0.9); batch b fits iff total_bytes(b) <= usable.
  CHECK(r.usable_bytes == 76968728985);
  CHECK(total_bytes(m, r.batch, 8192, o) <= r.usable_bytes);
  CHECK(total_bytes(m, r.batch + 1, 8192, o) > r.usable_bytes);
  // (76.97e9 - 16.06e9 weights) / (8192 x 131,072 B) is about 56 sequences, less the activations.
  CHECK(r.batch > 50);
  CHECK(r.batch < 57);
  REQUIRE(r.decode);
  CHECK(r.decode->batch == r.batch);
}

TEST_CASE("fit: the longest context and what stops it", "[fleet][fit]") {
  const Gpu g = flat_h100();
  // Llama-3.1-8B at batch 1: memory binds before the model's 131,072 tokens? No: ~460K fit, so the
  // trained context binds.
  const Model l = model("llama-3.1-8b");
  const FitResult rl = fit(l, g, std::nullopt, 1, kvplan::test::bf16_options(l));
  CHECK(rl.binds == kvplan::FitBinds::max_context);
  CHECK(rl.context == 131072);
  // At batch 32 memory binds first.
  const FitResult r32 = fit(l, g, std::nullopt, 32, kvplan::test::bf16_options(l));
  CHECK(r32.binds == kvplan::FitBinds::memory);
  CHECK(r32.context < 131072);
  // Pure SSM without a trained limit: unbounded.
  const Model s = model("mamba2-2.7b");
  const FitResult rs = fit(s, g, std::nullopt, 8, kvplan::test::bf16_options(s));
  CHECK(rs.unbounded);
  CHECK(rs.binds == kvplan::FitBinds::unbounded);
  // Weights alone too large: Llama-3.1-405B in bf16 on one GPU.
  const Model big = model("llama-3.1-405b");
  CHECK(fit(big, g, 4096, std::nullopt, kvplan::test::bf16_options(big)).binds == kvplan::FitBinds::weights);
  CHECK_THROWS(fit(l, g, 4096, 1, kvplan::test::bf16_options(l)));
  // The weights leave room, but one sequence's cache does not: 10M tokens x 131,072 B = 1.31e12 B
  // of KV against 76.97e9 usable less 16.06e9 of weights. The context binds (memory), not the
  // weights; so does a batch of 1e9 sequences at one token (1e9 x 131,072 B = 1.31e14 B).
  const FitResult huge = fit(l, g, 10'000'000, std::nullopt, kvplan::test::bf16_options(l));
  CHECK(huge.batch == 0);
  CHECK(huge.binds == kvplan::FitBinds::memory);
  const FitResult wide = fit(l, g, std::nullopt, 1'000'000'000, kvplan::test::bf16_options(l));
  CHECK(wide.context == 0);
  CHECK(wide.binds == kvplan::FitBinds::memory);
  // 405B's 810e9 B of bf16 weights alone pass 76.97e9: weights, at any batch too.
  CHECK(fit(big, g, std::nullopt, 1, kvplan::test::bf16_options(big)).binds == kvplan::FitBinds::weights);
}

TEST_CASE("plan: replicas, batch and SLOs", "[fleet][plan]") {
  const Model m = model("llama-3.1-8b");
  const Gpu g = flat_h100();
  PlanRequest q;
  q.prompt = 1000;
  q.gen = 200;
  q.rps = 20;
  q.tpot_slo_s = 0.030;
  q.tp_candidates = {1};
  const FleetPlan p = plan_fleet(m, g, q, kvplan::test::bf16_options(m));
  REQUIRE(p.best == 0);
  const PlanOption& o = p.options[0];
  CHECK(o.feasible);
  CHECK(o.batch <= o.max_batch);
  CHECK(o.max_batch <= o.max_batch_memory);
  CHECK(o.tpot_s <= 0.030);
  CHECK(o.replica_rps * static_cast<double>(o.replicas) >= q.rps);
  CHECK(o.gpus == o.replicas);
  // The cycle by hand: T(b) = gen x step(b, 1000 + 100) + b x TTFT; TPOT = T / gen.
  const DecodeModel dm(m, g, kvplan::test::bf16_options(m));
  const double ttft = PrefillModel(m, g, kvplan::test::bf16_options(m)).run(1, 1000).time_s;
  CHECK(o.ttft_s == Approx(ttft));
  CHECK(o.tpot_s == Approx((200 * dm.step(o.batch, 1100).time_s + o.batch * ttft) / 200));
  // $/1M output tokens = GPUs x $2.69/h / 3600 / (20 req/s x 200 tokens) x 1e6.
  CHECK(*o.usd_per_million_output_tokens == Approx(o.gpus * 2.69 / 3600 / 4000 * 1e6));
  // At capacity: the same dollars over replicas x replica_rps x 200 tokens/s, never above the served figure.
  CHECK(*o.usd_per_million_output_tokens_at_capacity ==
        Approx(o.gpus * 2.69 / 3600 / (static_cast<double>(o.replicas) * o.replica_rps * 200) * 1e6));
  CHECK(*o.usd_per_million_output_tokens_at_capacity <= *o.usd_per_million_output_tokens);
  // Prompt + output: 20 req/s x 1,200 tokens.
  CHECK(*o.usd_per_million_tokens == Approx(o.gpus * 2.69 / 3600 / 24000 * 1e6));

  // An impossible TPOT: no option.
  q.tpot_slo_s = 0.001;
  CHECK(plan_fleet(m, g, q, kvplan::test::bf16_options(m)).best == -1);
  // A model that needs tensor parallel: Llama-3.1-70B in bf16 does not fit one H100.
  const Model big = model("llama-3.1-70b");
  PlanRequest qb;
  qb.prompt = 2000;
  qb.gen = 500;
  qb.rps = 1;
  const FleetPlan pb = plan_fleet(big, g, qb, kvplan::test::bf16_options(big));
  CHECK_FALSE(pb.options[0].feasible);
  REQUIRE(pb.best > 0);
  CHECK(pb.options[static_cast<size_t>(pb.best)].tp >= 2);
}

TEST_CASE("plan --simulate: one replica at its share of the rate, in the engine's own pool", "[fleet][plan][simulate]") {
  const Model m = model("llama-3.1-8b");
  const Gpu g = flat_h100();
  MemoryOptions o = vllm_pool_options(m);
  PlanRequest r;
  r.prompt = 1000;
  r.gen = 100;
  r.rps = 4;
  r.tp_candidates = {1};
  FleetPlan p = plan_fleet(m, g, r, o);
  REQUIRE(p.best == 0);
  REQUIRE(p.options[0].replicas == 1);
  PlanSimulation s;
  s.arrivals.requests = 200;
  s.arrivals.lengths.prompt = {1000, 1000};
  s.arrivals.lengths.output = {100, 100};
  simulate_plan(m, g, p, o, s);
  // The whole rate on the one replica; vLLM's pool and its big-GPU max_num_seqs (1,024 on an H100).
  CHECK(s.rps_per_replica == 4.0);
  CHECK(s.arrivals.rate_rps == 4.0);
  CHECK(s.pool_blocks == 25600);
  CHECK(s.block_tokens == 16);
  CHECK(s.max_num_seqs == 1024);
  CHECK(s.result.requests.size() == 200);
  // Each request produces 100 tokens: 200 x 100 = 20,000.
  CHECK(s.result.output_tokens == 20000);
  // A request holds at most cdiv(1,100, 16) = 69 blocks; at 4 req/s of about a second each, a few run
  // at once, far below 25,600 blocks: no preemption.
  CHECK(s.result.preemptions == 0);
  // Every TTFT is at least one prefill of the 1,000-token prompt alone (the step cost of that chunk).
  const KvplanStepCost cost(m, g, o);
  CHECK(s.result.ttft_s.max >= s.result.ttft_s.p50);
  CHECK(s.result.ttft_s.p50 >= cost.prefill_s(1, 1000, 0) * (1 - 1e-9));
  // The ideal engine has no scheduler or pool to simulate.
  MemoryOptions ideal = kvplan::test::bf16_options(m);
  FleetPlan pi = plan_fleet(m, g, r, ideal);
  CHECK_THROWS_AS(simulate_plan(m, g, pi, ideal, s), Error);
}

TEST_CASE("plan --simulate with a trace: one replica replays every replicas-th request", "[fleet][plan][simulate][trace]") {
  const Model m = model("llama-3.1-8b");
  const Gpu g = flat_h100();
  MemoryOptions o = kvplan::test::bf16_options(m);
  o.engine.profile = kvplan::test::bundled().resolve_engine("vllm@0.19");
  o.engine.kv_cache_memory_bytes = int64_t{50} << 30;
  o.engine.max_model_len = 1100;
  PlanRequest r;
  r.prompt = 1000;
  r.gen = 100;
  r.rps = 100;  // more than one replica carries
  r.tp_candidates = {1};
  FleetPlan p = plan_fleet(m, g, r, o);
  REQUIRE(p.best == 0);
  const int64_t R = p.options[0].replicas;
  REQUIRE(R >= 2);
  // Ten requests 0.1 s apart, listed last first (lines 2..11 hold arrivals 0.9, 0.8, ..., 0).
  LengthDist t;
  t.kind = LengthsKind::trace;
  t.prompt_source = t.output_source = "t.csv";
  for (int i = 0; i < 10; ++i) {
    t.trace.push_back({1000, 100});
    t.arrivals_s.push_back(0.1 * (9 - i));
    t.lines.push_back(i + 2);
  }
  PlanSimulation s;
  s.arrivals.kind = ArrivalsKind::trace;
  s.arrivals.lengths = t;
  simulate_plan(m, g, p, o, s);
  // Requests 0, R, 2R, ... of the ten in arrival order: ceil(10 / R) of them, R x 0.1 s apart.
  CHECK(s.arrivals.replicas == R);
  CHECK(s.trace_requests == 10);
  REQUIRE(static_cast<int64_t>(s.result.requests.size()) == (10 + R - 1) / R);
  CHECK(s.result.requests[0].arrival_s == 0);
  CHECK(s.result.requests[1].arrival_s == Approx(0.1 * static_cast<double>(R)));
  // The trace's mean rate, 9 gaps over 0.9 s = 10 req/s, shared by R replicas.
  REQUIRE(s.rps_per_replica);
  CHECK(*s.rps_per_replica == Approx(10.0 / static_cast<double>(R)));
  // Its first 3 only: ceil(3 / R) of them on this replica.
  PlanSimulation first3;
  first3.arrivals = s.arrivals;
  first3.arrivals.requests = 3;
  simulate_plan(m, g, p, o, first3);
  CHECK(first3.trace_requests == 3);
  CHECK(static_cast<int64_t>(first3.result.requests.size()) == (3 + R - 1) / R);
  // A request past max_model_len 1100 is refused at its line, whichever replica it would go to.
  t.trace[3] = {1000, 200};
  s.arrivals.lengths = t;
  try {
    simulate_plan(m, g, p, o, s);
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.located() == "t.csv:5:1: a request of 1000 + 200 = 1200 tokens (prompt + output) is longer than "
                         "max_model_len 1100 (the engine rejects it)");
  }
}

TEST_CASE("plan --simulate: each data-parallel rank is an engine of its own", "[fleet][plan][simulate]") {
  // Llama-3.1-8B (dense) at tp 1 x dp 2: no collective joins the two ranks (tp 1: no all-reduce;
  // ep 1: no all-to-all), so each rank is the tp-1 engine alone at 1/(replicas x dp) of the rate.
  const Model m = model("llama-3.1-8b");
  const Gpu g = flat_h100();
  MemoryOptions o = vllm_pool_options(m);
  o.parallel.dp = 2;
  PlanRequest r;
  r.prompt = 1000;
  r.gen = 100;
  r.rps = 30;
  r.tp_candidates = {1};
  FleetPlan p = plan_fleet(m, g, r, o);
  REQUIRE(p.best == 0);
  const int64_t R = p.options[0].replicas;
  PlanSimulation s;
  s.arrivals.requests = 500;
  s.arrivals.lengths = fixed_lengths(1000, 100);
  simulate_plan(m, g, p, o, s);
  // No SLO: the closed form's replicas, R x 2 engines at 30 / (2R) req/s each.
  REQUIRE(p.options[0].simulated);
  CHECK(p.options[0].simulated->replicas == R);
  CHECK(p.options[0].simulated->simulations == 1);
  CHECK(p.simulated_best == 0);
  CHECK(s.replicas == R);
  CHECK(s.engines == 2 * R);
  CHECK(*s.rps_per_replica == Approx(30.0 / static_cast<double>(R)));
  CHECK(*s.rps_per_engine == Approx(15.0 / static_cast<double>(R)));
  // The same requests on one tp-1 engine (dp 1) give the same latencies.
  MemoryOptions one = o;
  one.parallel.dp = 1;
  const EnginePlan engine = plan_engine(m, g, one, 1100);
  Arrivals a = s.arrivals;
  a.rate_rps = 15.0 / static_cast<double>(R);
  const SimResult alone = simulate_engine(m, g, one, engine, a, std::nullopt, std::nullopt);
  CHECK(s.result.ttft_s.p99 == alone.ttft_s.p99);
  CHECK(s.result.tpot_s.p99 == alone.tpot_s.p99);
  CHECK(s.result.e2e_s.mean == alone.e2e_s.mean);
}

TEST_CASE("plan --simulate: replicas are added until the simulated p99s meet the SLOs", "[fleet][plan][simulate]") {
  const Model m = model("llama-3.1-8b");
  const Gpu g = flat_h100();
  MemoryOptions o = vllm_pool_options(m);
  PlanRequest r;
  r.prompt = 1000;
  r.gen = 200;
  r.rps = 40;
  r.tp_candidates = {1, 2, 4, 8};
  // A TTFT objective the closed form meets with an idle replica (one prefill, about 23 ms at tp 1),
  // while queueing and shared steps at the closed form's load push the p99 past it.
  r.ttft_slo_s = 0.06;
  FleetPlan p = plan_fleet(m, g, r, o);
  REQUIRE(p.best == 0);  // tp 1: two GPUs, the lower TPOT of the two-GPU options
  PlanSimulation s;
  s.arrivals.requests = 1000;
  s.arrivals.lengths = fixed_lengths(1000, 200);
  simulate_plan(m, g, p, o, s);
  // tp 1 runs first (the closed form's order): more replicas than the closed form's, the fewest
  // whose p99 TTFT is within 60 ms, checked run by run at the count and one below.
  const SimulatedOption& tp1 = *p.options[0].simulated;
  REQUIRE(tp1.meets);
  CHECK(tp1.replicas > p.options[0].replicas);
  CHECK(tp1.gpus == tp1.replicas);
  const EnginePlan engine = plan_engine(m, g, o, 1200);
  auto p99_ttft = [&](int64_t replicas) {
    Arrivals a = s.arrivals;
    a.rate_rps = 40.0 / static_cast<double>(replicas);
    return simulate_engine(m, g, o, engine, a, std::nullopt, std::nullopt).ttft_s.p99;
  };
  CHECK(p99_ttft(tp1.replicas) <= 0.06);
  CHECK(p99_ttft(tp1.replicas - 1) > 0.06);
  CHECK(tp1.ttft_p99_s == p99_ttft(tp1.replicas));
  // The choice: the fewest GPUs among the options that meet; every option left out could not
  // have taken as few (its closed-form GPUs are already more).
  REQUIRE(p.simulated_best >= 0);
  const PlanOption& choice = p.options[static_cast<size_t>(p.simulated_best)];
  for (const PlanOption& o2 : p.options) {
    if (o2.simulated && o2.simulated->meets) CHECK(o2.simulated->gpus >= choice.simulated->gpus);
    if (!o2.simulated) CHECK(o2.gpus > choice.simulated->gpus);
  }
  CHECK(choice.simulated->gpus < tp1.gpus);  // a wider replica queues less: fewer GPUs than tp 1's
  // The run shown is the choice at its replicas.
  CHECK(s.option == p.simulated_best);
  CHECK(s.replicas == choice.simulated->replicas);
  CHECK(s.result.ttft_s.p99 <= 0.06);
}

TEST_CASE("plan --disaggregate: each pool's cheapest layout, and the serving choice", "[fleet][plan][disaggregate]") {
  // Llama-3.1-8B on dgx-h100 nodes, 2000 + 500 tokens at 10 req/s (tests/layout_test.cpp derives
  // one request's cache: 262,144,000 B).
  const Model m = model("llama-3.1-8b");
  const Gpu h100 = flat_h100();
  MemoryOptions o = kvplan::test::bf16_options(m);
  o.parallel.gpus_per_node = 8;
  o.parallel.scale_out = {50e9, 5e-6};
  DisaggRequest q;
  q.prompt = 2000;
  q.gen = 500;
  q.rps = 10;
  // A prefill pool of tp 2 sends from both GPUs: 262,144,000 / (2 x 50e9) s + 5 us.
  const DisaggPlan two = search_disaggregated(m, h100, q, o, {{2, 1, 1, 1}}, {{1, 1, 1, 1}});
  REQUIRE(two.feasible);
  CHECK(two.prefill.layout.tp == 2);
  CHECK(two.kv_transfer_s == Approx(2.62144e-3 + 5e-6));
  // Over tp 1, 2 and 4 each pool takes the layout with the fewest GPUs of those planned one by one.
  const std::vector<Layout> tps{{1, 1, 1, 1}, {2, 1, 1, 1}, {4, 1, 1, 1}};
  const DisaggPlan best = search_disaggregated(m, h100, q, o, tps, tps);
  REQUIRE(best.feasible);
  CHECK(best.prefill.layouts_tried == 3);
  int64_t fewest_prefill = INT64_MAX, fewest_decode = INT64_MAX;
  for (const Layout& l : tps) {
    const DisaggPlan one = plan_disaggregated(m, h100, q, with_layout(o, l), with_layout(o, l));
    REQUIRE(one.feasible);
    fewest_prefill = std::min(fewest_prefill, one.prefill.gpus);
    fewest_decode = std::min(fewest_decode, one.decode.gpus);
  }
  CHECK(best.prefill.gpus == fewest_prefill);
  CHECK(best.decode.gpus == fewest_decode);
  // Colocated or disaggregated: fewer GPUs wins, colocated on a tie or when the pools do not fit.
  FleetPlan colocated;
  colocated.options.resize(1);
  colocated.options[0].feasible = true;
  colocated.best = 0;
  const int64_t pools = best.prefill.gpus + best.decode.gpus;
  colocated.options[0].gpus = pools + 1;
  CHECK(serving_choice(colocated, best) == Serving::disaggregated);
  colocated.options[0].gpus = pools;
  CHECK(serving_choice(colocated, best) == Serving::colocated);
  DisaggPlan none = best;
  none.feasible = false;
  colocated.options[0].gpus = pools + 100;
  CHECK(serving_choice(colocated, none) == Serving::colocated);
  colocated.best = -1;
  CHECK(serving_choice(colocated, best) == Serving::disaggregated);
}

TEST_CASE("plan --node: the layouts searched for a MoE model", "[fleet][plan][layouts]") {
  const Model m = model("mixtral-8x7b");  // 8 experts per MoE layer, 32 layers
  MemoryOptions o = kvplan::test::bf16_options(m);  // the ideal engine: no pipeline stages
  o.parallel.gpus_per_node = 8;
  PlanRequest q;
  q.tp_candidates = tp_within_node(8);
  CHECK(q.tp_candidates == std::vector<int64_t>{1, 2, 4, 8});
  q.max_gpus_per_replica = 16;
  // (tp, dp) with tp x dp <= 16: 5 + 4 + 3 + 2 = 14, each with ep = 1; ep = tp x dp where it divides
  // the 8 experts: tp x dp in {2, 4, 8}: 2 + 3 + 4 = 9 more.
  const std::vector<Layout> ls = layout_candidates(m, q, o);
  CHECK(ls.size() == 23);
  for (const Layout& l : ls) {
    CHECK(l.pp == 1);
    CHECK(l.tp * l.dp <= 16);
    CHECK((l.ep == 1 || (l.ep == l.tp * l.dp && 8 % l.ep == 0)));
  }
  // Two redundant experts: ep must divide 10, so only tp x dp = 2 keeps an ep candidate.
  o.parallel.redundant_experts = 2;
  CHECK(layout_candidates(m, q, o).size() == 14 + 2);
  // Under an engine, pipeline stages too: pp in {1, 2, 4, 8, 16} within 16 GPUs.
  o.parallel.redundant_experts = 0;
  o.engine.profile.kind = EngineKind::vllm;
  size_t with_pp = 0;
  for (const Layout& l : layout_candidates(m, q, o)) with_pp += l.pp > 1 ? 1 : 0;
  CHECK(with_pp > 0);
  // A dense model has no expert-parallel candidates: Llama-3.1-8B under the ideal engine, 14.
  const Model dense = model("llama-3.1-8b");
  MemoryOptions od = kvplan::test::bf16_options(dense);
  od.parallel.gpus_per_node = 8;
  CHECK(layout_candidates(dense, q, od).size() == 14);
}

TEST_CASE("plan --node: dp ranks multiply a replica's capacity exactly", "[fleet][plan][layouts]") {
  const Model m = model("mixtral-8x7b");
  const Gpu g = flat_h100();
  MemoryOptions o = kvplan::test::bf16_options(m);
  o.parallel.gpus_per_node = 8;
  PlanRequest q;
  q.prompt = 1000;
  q.gen = 200;
  q.rps = 50;
  q.tp_candidates = {2};
  q.max_gpus_per_replica = 8;
  const FleetPlan p = plan_fleet(m, g, q, o);
  auto find = [&](int64_t dp, int64_t ep) -> const PlanOption& {
    for (const PlanOption& x : p.options)
      if (x.dp == dp && x.ep == ep) return x;
    FAIL("no option dp " << dp << " ep " << ep);
    return p.options.front();
  };
  const PlanOption& one = find(1, 1);
  REQUIRE(one.feasible);
  for (int64_t dp : {2, 4}) {
    // Without expert parallelism each rank is the dp = 1 replica: the same memory, step and batch.
    const PlanOption& r = find(dp, 1);
    REQUIRE(r.feasible);
    CHECK(r.gpus_per_replica == 2 * dp);
    CHECK(r.max_batch == one.max_batch);
    CHECK(r.replica_rps == Approx(static_cast<double>(dp) * one.replica_rps).epsilon(1e-12));
    CHECK(r.gpus == r.replicas * 2 * dp);
    CHECK(static_cast<double>(r.replicas) * r.replica_rps >= q.rps);
  }
  // Expert parallelism over tp x dp = 4 GPUs: each holds 2 of the 8 experts, so the weights shrink
  // and more sequences fit than with every expert split over tp = 2.
  const PlanOption& ep = find(2, 4);
  REQUIRE(ep.feasible);
  CHECK(ep.max_batch_memory > one.max_batch_memory);
  // The chosen option is the cheapest feasible one, on the Pareto front.
  REQUIRE(p.best >= 0);
  const PlanOption& b = p.options[static_cast<size_t>(p.best)];
  CHECK(b.pareto);
  for (const PlanOption& x : p.options)
    if (x.feasible) CHECK((x.gpus > b.gpus || (x.gpus == b.gpus && x.tpot_s >= b.tpot_s)));
}

TEST_CASE("plan: the Pareto front of GPUs against TPOT", "[fleet][plan][pareto]") {
  auto option = [](int64_t gpus, double tpot_s, bool feasible = true) {
    PlanOption o;
    o.gpus = gpus;
    o.tpot_s = tpot_s;
    o.feasible = feasible;
    return o;
  };
  std::vector<PlanOption> os{option(8, 0.030),   // front: the fewest GPUs
                             option(8, 0.040),   // beaten by the first (same GPUs, slower)
                             option(16, 0.020),  // front
                             option(16, 0.020),  // front: ties with the one before, beaten by none
                             option(32, 0.025),  // beaten by 16 GPUs at 20 ms
                             option(64, 0.010),  // front: the fastest
                             option(4, 0.001, false)};  // infeasible: never on the front, beats none
  mark_pareto(os);
  std::vector<bool> front;
  for (const PlanOption& o : os) front.push_back(o.pareto);
  CHECK(front == std::vector<bool>{true, false, true, true, false, true, false});
}
