// Request-level simulation (core/simulate.h). Every expectation is derived by hand below, from
// closed-form step costs: the scheduler's rules (docs/fleet.md, "Request-level simulation") give
// which tokens each step carries, the cost gives how long it lasts.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <tuple>

#include "core/error.h"
#include "core/fleet.h"
#include "core/simulate.h"
#include "test_helpers.h"

using namespace kvplan;
using Catch::Matchers::Contains;

namespace {

// base + per_prefill_token x prefill tokens + per_decode_seq x decoding sequences.
struct AffineCost : StepCost {
  double base = 0.001, per_prefill_token = 1e-5, per_decode_seq = 1e-4;
  double step_s(const StepLoad& l) const override {
    return base + per_prefill_token * static_cast<double>(l.prefill_tokens) +
           per_decode_seq * static_cast<double>(l.decode_seqs);
  }
};

// A step with any prefill lasts prefill_s, a decode-only step decode_s.
struct TwoLevelCost : StepCost {
  double prefill = 0.05, decode = 0.01;
  double step_s(const StepLoad& l) const override { return l.prefill_tokens > 0 ? prefill : decode; }
};

// Records every step's load, priced by an AffineCost.
struct RecordingCost : StepCost {
  AffineCost affine;
  mutable std::vector<StepLoad> loads;
  double step_s(const StepLoad& l) const override {
    loads.push_back(l);
    return affine.step_s(l);
  }
};

struct ConstantCost : StepCost {
  double value = 0.01;
  double step_s(const StepLoad&) const override { return value; }
};

SimConfig config(int64_t seqs, int64_t budget, int64_t block, int64_t pool) {
  SimConfig c;
  c.max_num_seqs = seqs;
  c.max_num_batched_tokens = budget;
  c.block_tokens = block;
  c.pool_blocks = pool;
  return c;
}

LengthDist fixed(int64_t prompt, int64_t output) {
  LengthDist d;
  d.prompt = {prompt, prompt};
  d.output = {output, output};
  return d;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

bool same_load(const StepLoad& a, const StepLoad& b) {
  return a.decode_seqs == b.decode_seqs && a.decode_context_tokens == b.decode_context_tokens &&
         a.prefill_seqs == b.prefill_seqs && a.prefill_tokens == b.prefill_tokens &&
         a.prefill_context_tokens == b.prefill_context_tokens;
}

}  // namespace

TEST_CASE("simulate: M/D/1 queue at batch 1 matches Lindley's recursion and Pollaczek-Khinchine's mean wait",
          "[simulate]") {
  // max_num_seqs 1 serves one request at a time, first come first served. Prompt 100 tokens (one
  // prefill step within the 8192 budget) and output 6: one prefill step of 0.05 s, then 5 decode
  // steps of 0.01 s, so every service time is D = 0.05 + 5 x 0.01 = 0.1 s, mu = 10/s. Poisson
  // arrivals at lambda = rho / D. A request waits in the queue for TTFT - 0.05 s (its TTFT is the
  // wait plus its own prefill step).
  //   Per request, FCFS with a deterministic service gives Lindley's recursion:
  //     W_1 = 0, W_{k+1} = max(0, W_k + D - (a_{k+1} - a_k)).
  //   On average, M/D/1's mean wait (Pollaczek-Khinchine with zero service variance):
  //     Wq = rho / (2 mu (1 - rho)) = rho D / (2 (1 - rho)): rho 0.5: 0.05 s; 0.8: 0.2 s; 0.9: 0.45 s.
  // Seed 1 for every rho, chosen before the first run. Waits are strongly correlated near
  // saturation: over 200 seeds, the mean of 100,000 waits (Lindley's recursion alone) missed Wq by
  // 1.1%, 2.4% and 4.5% root-mean-square at rho 0.5, 0.8 and 0.9, and by more than 2% in 6%, 40%
  // and 66% of the seeds. The error falls as 1 / sqrt(requests), so the three run 200,000,
  // 1,000,000 and 3,200,000 requests (about 0.8% each) and are checked to 2%. The standard error,
  // by batch means (20 batches), is checked to be below 1% so that 2% is at least 2 of them.
  const TwoLevelCost cost;
  const double D = 0.1, mu = 1 / D;
  const SimConfig c = config(1, 8192, 16, 1000);
  struct Case {
    double rho, expected_wait_s;
    int64_t requests;
  };
  for (const Case k : {Case{0.5, 0.05, 200000}, Case{0.8, 0.2, 1000000}, Case{0.9, 0.45, 3200000}}) {
    CAPTURE(k.rho);
    REQUIRE(k.rho / (2 * mu * (1 - k.rho)) == Approx(k.expected_wait_s));
    const std::vector<SimRequest> reqs = poisson_requests(k.rho / D, k.requests, 1, fixed(100, 6));
    const SimResult r = simulate(reqs, c, cost);
    constexpr int kBatches = 20;
    const int64_t per_batch = k.requests / kBatches;
    std::vector<double> batch_mean(kBatches, 0.0);
    double lindley = 0, worst = 0;
    for (size_t i = 0; i < r.requests.size(); ++i) {
      const SimRequestResult& q = r.requests[i];
      if (i > 0) lindley = std::max(0.0, lindley + D - (reqs[i].arrival_s - reqs[i - 1].arrival_s));
      const double wait = q.ttft_s - 0.05;
      worst = std::max(worst, std::abs(wait - lindley));
      // Service is exactly D: first token after the prefill step, then 5 decode steps.
      worst = std::max(worst, std::abs(q.e2e_s - q.ttft_s - 5 * 0.01));
      batch_mean[i / static_cast<size_t>(per_batch)] += wait / static_cast<double>(per_batch);
    }
    // The simulator and the recursion add their times in different orders, so rounding grows with
    // the run: 1e-8 s per 100,000 requests (the clock reaches 3.6e5 s at rho 0.9, where a double's
    // rounding is 6e-11 s).
    CHECK(worst < 1e-8 * static_cast<double>(k.requests) / 100000);
    double wait = 0;
    for (double m : batch_mean) wait += m / kBatches;
    double var = 0;
    for (double m : batch_mean) var += (m - wait) * (m - wait) / (kBatches - 1);
    const double se = std::sqrt(var / kBatches);
    CAPTURE(wait, se);
    CHECK(wait == Approx(k.expected_wait_s).epsilon(0.02));
    CHECK(se < 0.01 * k.expected_wait_s);
    CHECK(r.preemptions == 0);
    CHECK(r.max_running == 1);
    CHECK(r.steps == k.requests * 6);
    // The queue series: thinned to at most 1000 points, in time order, keeping the peak.
    REQUIRE(r.queue.size() <= static_cast<size_t>(kQueuePoints));
    CHECK(r.queue.size() >= static_cast<size_t>(kQueuePoints / 2));
    CHECK(std::is_sorted(r.queue.begin(), r.queue.end(),
                         [](const QueuePoint& a, const QueuePoint& b) { return a.time_s < b.time_s; }));
    int64_t peak = 0;
    for (const QueuePoint& p : r.queue) peak = std::max(peak, p.waiting);
    CHECK(peak == r.max_waiting);
  }
}

TEST_CASE("simulate: requests that never overlap take their own steps' time", "[simulate]") {
  // Budget 2048; AffineCost: 0.001 s + 1e-5 s per prefill token + 1e-4 s per decoding sequence.
  //   A at 0 s, prompt 100, output 5: one prefill step 0.001 + 100e-5 = 0.002 s = TTFT, then 4
  //     decode steps of 0.001 + 1e-4 = 0.0011 s: E2E = 0.002 + 4 x 0.0011 = 0.0064 s, TPOT 0.0011.
  //   B at 1000 s, prompt 5000, output 1: chunks 2048 + 2048 + 904 in 3 steps, 3 x 0.001 +
  //     5000 x 1e-5 = 0.053 s = TTFT = E2E, no TPOT.
  //   C at 2000 s, prompt 1, output 3: 0.001 + 1e-5 = 0.00101 s, then 2 x 0.0011: E2E 0.00321 s.
  const AffineCost cost;
  const std::vector<SimRequest> reqs{{0, 100, 5}, {1000, 5000, 1}, {2000, 1, 3}};
  SimConfig c = config(8, 2048, 16, 1000);
  const SimResult r = simulate(reqs, c, cost);
  REQUIRE(r.requests.size() == 3);
  CHECK(r.requests[0].ttft_s == Approx(0.002));
  CHECK(r.requests[0].e2e_s == Approx(0.0064));
  REQUIRE(r.requests[0].tpot_s);
  CHECK(*r.requests[0].tpot_s == Approx(0.0011));
  CHECK(r.requests[1].ttft_s == Approx(0.053));
  CHECK(r.requests[1].e2e_s == Approx(0.053));
  CHECK_FALSE(r.requests[1].tpot_s);
  CHECK(r.requests[2].ttft_s == Approx(0.00101));
  CHECK(r.requests[2].e2e_s == Approx(0.00321));
  CHECK(r.requests[2].first_token_s == Approx(2000.00101));
  // Steps: 5 + 3 + 3; time in steps 0.0064 + 0.053 + 0.00321 = 0.06261 s; span 0 .. 2000.00321 s.
  CHECK(r.steps == 11);
  CHECK(r.busy_s == Approx(0.06261));
  CHECK(r.span_s == Approx(2000.00321));
  CHECK(r.output_tokens == 9);
  CHECK(r.output_tokens_per_s == Approx(9 / 2000.00321));
  CHECK(r.requests_per_s == Approx(3 / 2000.00321));
  CHECK(r.max_waiting == 0);
  CHECK(r.max_running == 1);
  // Stats over the three: TTFT sorted 0.00101, 0.002, 0.053 (nearest rank: p50 = 2nd, p90 = p99 =
  // 3rd); TPOT only A and C, both 0.0011.
  CHECK(r.ttft_s.count == 3);
  CHECK(r.ttft_s.mean == Approx((0.002 + 0.053 + 0.00101) / 3));
  CHECK(r.ttft_s.p50 == Approx(0.002));
  CHECK(r.ttft_s.p99 == Approx(0.053));
  CHECK(r.tpot_s.count == 2);
  CHECK(r.tpot_s.p50 == Approx(0.0011));
  CHECK(r.e2e_s.max == Approx(0.053));
  // One queue point per step (11 < 1000): nobody ever waits, one request runs.
  REQUIRE(r.queue.size() == 11);
  CHECK(r.queue.front().time_s == 0);
  CHECK(r.queue[5].time_s == 1000);  // B's first step
  for (const QueuePoint& p : r.queue) CHECK((p.waiting == 0 && p.running == 1));
  // Goodput: all three without SLOs; TTFT <= 10 ms keeps A and C; TPOT <= 1 ms keeps only B (no
  // TPOT to miss).
  CHECK(r.good_requests == 3);
  c.ttft_slo_s = 0.01;
  const SimResult by_ttft = simulate(reqs, c, cost);
  CHECK(by_ttft.good_requests == 2);
  CHECK(by_ttft.goodput_rps == Approx(2 / 2000.00321));
  c.ttft_slo_s.reset();
  c.tpot_slo_s = 0.001;
  CHECK(simulate(reqs, c, cost).good_requests == 1);
}

TEST_CASE("simulate: a 10,000-token prompt under a 4,096-token budget takes 3 prefill steps", "[simulate]") {
  // Chunks of 4096, 4096 and 10000 - 8192 = 1808 tokens, each after the tokens already cached
  // (0, 4096, 8192). Output 1: the third step samples the only token. TTFT = 3 x 0.001 +
  // 10000 x 1e-5 = 0.103 s.
  const RecordingCost cost;
  const SimResult r = simulate({{0, 10000, 1}}, config(4, 4096, 16, 1000), cost);
  CHECK(r.steps == 3);
  REQUIRE(cost.loads.size() == 3);
  CHECK(same_load(cost.loads[0], StepLoad{0, 0, 1, 4096, 0}));
  CHECK(same_load(cost.loads[1], StepLoad{0, 0, 1, 4096, 4096}));
  CHECK(same_load(cost.loads[2], StepLoad{0, 0, 1, 1808, 8192}));
  CHECK(r.requests[0].ttft_s == Approx(0.103));
  CHECK(r.requests[0].e2e_s == Approx(0.103));
  // ceil(10000 / 16) = 625 blocks at the end.
  CHECK(r.max_blocks_used == 625);
}

TEST_CASE("simulate: decodes take their token first, prefills share what the budget leaves", "[simulate]") {
  // Budget 100. A (prompt 50, output 5) and B (prompt 150, output 2) arrive together.
  //   step 1: both admitted in order: A 50 tokens (its whole prompt: first token), B 50.
  //   step 2: A decodes (context 50), B prefills 99 more (context 50).
  //   step 3: A decodes (51), B its last prompt token (149 cached): B's first token.
  //   step 4: both decode (A at 52, B at 150): B's second and last token.
  //   step 5: A decodes (53): its fifth and last token.
  // Times (AffineCost): 0.002, 0.001 + 99e-5 + 1e-4 = 0.00209, 0.001 + 1e-5 + 1e-4 = 0.00111,
  // 0.001 + 2e-4 = 0.0012, 0.0011. A: TTFT 0.002, E2E 0.0075. B: TTFT 0.0052, E2E 0.0064.
  const RecordingCost cost;
  const SimResult r = simulate({{0, 50, 5}, {0, 150, 2}}, config(8, 100, 16, 1000), cost);
  REQUIRE(cost.loads.size() == 5);
  CHECK(same_load(cost.loads[0], StepLoad{0, 0, 2, 100, 0}));
  CHECK(same_load(cost.loads[1], StepLoad{1, 50, 1, 99, 50}));
  CHECK(same_load(cost.loads[2], StepLoad{1, 51, 1, 1, 149}));
  CHECK(same_load(cost.loads[3], StepLoad{2, 52 + 150, 0, 0, 0}));
  CHECK(same_load(cost.loads[4], StepLoad{1, 53, 0, 0, 0}));
  CHECK(r.requests[0].ttft_s == Approx(0.002));
  CHECK(r.requests[0].e2e_s == Approx(0.0075));
  CHECK(r.requests[1].ttft_s == Approx(0.0052));
  CHECK(r.requests[1].e2e_s == Approx(0.0064));
  CHECK(*r.requests[1].tpot_s == Approx(0.0012));
  CHECK(r.max_running == 2);
}

TEST_CASE("simulate: max_num_seqs caps the running requests", "[simulate]") {
  // Three requests at 0 s (prompt 10, output 2) with max_num_seqs 2: A and B run in steps 1-2, C
  // waits and runs in steps 3-4 (ConstantCost 0.01 s per step): C's TTFT 0.03 s, E2E 0.04 s.
  const ConstantCost cost;
  const SimResult r = simulate({{0, 10, 2}, {0, 10, 2}, {0, 10, 2}}, config(2, 100, 16, 1000), cost);
  CHECK(r.steps == 4);
  CHECK(r.max_running == 2);
  CHECK(r.max_waiting == 1);
  CHECK(r.requests[0].e2e_s == Approx(0.02));
  CHECK(r.requests[2].ttft_s == Approx(0.03));
  CHECK(r.requests[2].e2e_s == Approx(0.04));
}

TEST_CASE("simulate: a full KV pool makes a request wait, or preempts the newest", "[simulate]") {
  const AffineCost cost;
  SECTION("the second request waits until the first frees its blocks") {
    // Blocks of 4 tokens, a pool of 5. A (prompt 16, output 2) arrives with B (prompt 8, output 1).
    //   step 1: A's 16 tokens take 4 blocks; B's 8 would need 2, 1 is free: B waits.
    //   step 2: A decodes at 16 cached + 1 = 17 tokens: a 5th block; A's second token ends it.
    //   step 3: the pool is free; B's 8 tokens take 2 blocks; its only token.
    // 0.001 + 16e-5 = 0.00116; 0.0011; 0.001 + 8e-5 = 0.00108: B's TTFT = E2E = 0.00334 s.
    const SimResult r = simulate({{0, 16, 2}, {0, 8, 1}}, config(8, 100, 4, 5), cost);
    CHECK(r.steps == 3);
    CHECK(r.preemptions == 0);
    CHECK(r.max_waiting == 1);
    CHECK(r.max_blocks_used == 5);
    CHECK(r.requests[0].e2e_s == Approx(0.00226));
    CHECK(r.requests[1].ttft_s == Approx(0.00334));
    CHECK(r.requests[1].e2e_s == Approx(0.00334));
  }
  SECTION("a decoding request short of a block preempts the most recently admitted") {
    // Blocks of 4, a pool of 6. A and B (each prompt 8, output 9; at most 8 + 9 - 1 = 16 tokens =
    // 4 blocks) arrive together, A first.
    //   step 1: both prefill 8 tokens (2 blocks each, 2 free); first tokens.
    //   step 2: both decode at 9 tokens: a 3rd block each (0 free). Steps 3-5: 10..12 tokens, no
    //     new block; after step 5 each has 5 tokens out, 12 cached, 13 in all.
    //   step 6: A needs a 4th block at 13 tokens, none free: B, admitted last, is preempted (its 3
    //     blocks freed, recomputed later: 8 + 5 = 13 tokens). Nothing is admitted in that step.
    //   steps 7-9: A decodes alone; B's 13 tokens need 4 blocks, 2 are free: B waits. A's 9th
    //     token ends step 9.
    //   step 10: B recomputes its 13 tokens (4 blocks): its 6th token. Steps 11-13: tokens 7-9.
    // Times: step 1 0.001 + 16e-5 = 0.00116; steps 2-5 0.0012 each; steps 6-9 0.0011 each;
    // step 10 0.001 + 13e-5 = 0.00113; steps 11-13 0.0011 each.
    //   A: TTFT 0.00116, E2E 0.00116 + 4 x 0.0012 + 4 x 0.0011 = 0.01036.
    //   B: TTFT 0.00116 (its first token came before the preemption), E2E 0.01036 + 0.00113 +
    //      3 x 0.0011 = 0.01479.
    const RecordingCost rec;
    const SimResult r = simulate({{0, 8, 9}, {0, 8, 9}}, config(8, 100, 4, 6), rec);
    CHECK(r.steps == 13);
    CHECK(r.preemptions == 1);
    CHECK(r.requests[0].preemptions == 0);
    CHECK(r.requests[1].preemptions == 1);
    REQUIRE(rec.loads.size() == 13);
    CHECK(same_load(rec.loads[5], StepLoad{1, 12, 0, 0, 0}));  // step 6: A alone
    CHECK(same_load(rec.loads[9], StepLoad{0, 0, 1, 13, 0}));  // step 10: B's recompute
    CHECK(r.requests[0].ttft_s == Approx(0.00116));
    CHECK(r.requests[0].e2e_s == Approx(0.01036));
    CHECK(r.requests[1].ttft_s == Approx(0.00116));
    CHECK(r.requests[1].e2e_s == Approx(0.01479));
    CHECK(r.max_blocks_used == 6);
  }
  SECTION("the engine's own blocks per request") {
    // Two groups of 4-token blocks: 2 x ceil(t / 4) blocks. A prompt of 8 and output 3 holds at
    // most 10 tokens: 2 x 3 = 6 blocks.
    SimConfig c = config(8, 100, 4, 6);
    c.blocks_for_tokens = [](int64_t t) { return 2 * ((t + 3) / 4); };
    CHECK(simulate({{0, 8, 3}}, c, cost).max_blocks_used == 6);
    c.pool_blocks = 5;
    CHECK_THROWS_WITH(simulate({{0, 8, 3}}, c, cost), Contains("needs 6 KV blocks at its longest (10 tokens)"));
  }
  SECTION("a request larger than the pool is an error") {
    // Prompt 18 + output 4 - 1 = 21 tokens = 6 blocks of 4; the pool holds 5.
    CHECK(error_of([&] { simulate({{0, 18, 3}}, config(8, 100, 4, 5), cost); }) == "no error");  // 20 tokens: 5
    CHECK(error_of([&] { simulate({{0, 10, 1}, {0, 18, 4}}, config(8, 100, 4, 5), cost); }) ==
          "request 1 (counting from 0) needs 6 KV blocks at its longest (21 tokens) but the pool holds 5");
  }
}

TEST_CASE("simulate: the same seed gives the same requests and the same results", "[simulate]") {
  LengthDist d;
  d.prompt = {100, 2000};
  d.output = {10, 300};
  const auto a = poisson_requests(20, 2000, 42, d), b = poisson_requests(20, 2000, 42, d);
  REQUIRE(a.size() == 2000);
  bool same = true;
  for (size_t i = 0; i < a.size(); ++i)
    same = same && a[i].arrival_s == b[i].arrival_s && a[i].prompt == b[i].prompt && a[i].output == b[i].output;
  CHECK(same);
  const auto other = poisson_requests(20, 2000, 43, d);
  CHECK(other[0].arrival_s != a[0].arrival_s);

  // A pool that forces preemptions, so that the run exercises every rule.
  const AffineCost cost;
  const SimConfig c = config(64, 2048, 16, 500);
  const SimResult r1 = simulate(a, c, cost), r2 = simulate(b, c, cost);
  CHECK(r1.preemptions > 0);
  CHECK(r1.steps == r2.steps);
  CHECK(r1.preemptions == r2.preemptions);
  bool identical = true;
  for (size_t i = 0; i < a.size(); ++i)
    identical = identical && r1.requests[i].first_token_s == r2.requests[i].first_token_s &&
                r1.requests[i].finish_s == r2.requests[i].finish_s;
  CHECK(identical);
  REQUIRE(r1.queue.size() == r2.queue.size());
  for (size_t i = 0; i < r1.queue.size(); ++i)
    CHECK((r1.queue[i].time_s == r2.queue[i].time_s && r1.queue[i].waiting == r2.queue[i].waiting));
}

TEST_CASE("simulate: Poisson arrivals and length draws", "[simulate]") {
  SECTION("mean gap within 1% of 1 / rate over 100,000 draws") {
    // The sample mean of 100,000 exponential gaps has a standard error of 1/sqrt(100000) = 0.32%
    // of the mean: 1% is about 3 standard errors.
    const auto r = poisson_requests(4, 100000, 7, fixed(1, 1));
    CHECK(r.back().arrival_s / 100000 == Approx(0.25).epsilon(0.01));
    CHECK(r.front().arrival_s > 0);
    CHECK(std::is_sorted(r.begin(), r.end(),
                         [](const SimRequest& x, const SimRequest& y) { return x.arrival_s < y.arrival_s; }));
  }
  SECTION("uniform lengths stay within their bounds, hit both ends and each value about equally") {
    LengthDist d;
    d.prompt = {1, 4};
    d.output = {10, 12};
    const auto r = poisson_requests(1, 100000, 7, d);
    std::map<int64_t, int64_t> prompts, outputs;
    for (const SimRequest& q : r) {
      ++prompts[q.prompt];
      ++outputs[q.output];
    }
    // Keys are exactly the range (both ends hit); each share within 3% of 1/4 and 1/3 (standard
    // errors 0.55% and 0.45% of the share).
    CHECK(prompts.size() == 4);
    CHECK(prompts.begin()->first == 1);
    CHECK(prompts.rbegin()->first == 4);
    for (const auto& [v, count] : prompts) CHECK(static_cast<double>(count) / 100000 == Approx(0.25).epsilon(0.03));
    CHECK(outputs.size() == 3);
    CHECK(outputs.begin()->first == 10);
    CHECK(outputs.rbegin()->first == 12);
    for (const auto& [v, count] : outputs) CHECK(static_cast<double>(count) / 100000 == Approx(1.0 / 3).epsilon(0.03));
  }
  SECTION("a trace gives recorded pairs, each chosen") {
    LengthDist d;
    d.kind = LengthsKind::trace;
    d.trace = {{100, 5}, {7, 300}, {2000, 1}};
    const auto r = poisson_requests(1, 3000, 9, d);
    std::set<std::pair<int64_t, int64_t>> seen;
    for (const SimRequest& q : r) seen.insert({q.prompt, q.output});
    CHECK(seen == std::set<std::pair<int64_t, int64_t>>{{100, 5}, {7, 300}, {2000, 1}});
  }
  SECTION("bad inputs") {
    const LengthDist d = fixed(10, 10);
    CHECK_THROWS_WITH(poisson_requests(0, 10, 1, d),
                      "the arrival rate must be a positive number of requests per second, got 0");
    CHECK_THROWS_AS(poisson_requests(-1, 10, 1, d), Error);
    CHECK_THROWS_AS(poisson_requests(std::nan(""), 10, 1, d), Error);
    CHECK_THROWS_AS(poisson_requests(std::numeric_limits<double>::infinity(), 10, 1, d), Error);
    CHECK_THROWS_WITH(poisson_requests(1, 0, 1, d), "the number of requests must be from 1 to 16777216, got 0");
    CHECK_THROWS_AS(poisson_requests(1, 10, 1, fixed(0, 10)), Error);
  }
}

TEST_CASE("simulate: nearest-rank percentiles on a hand-made list", "[simulate]") {
  // 1..10 shuffled: the p-th percentile is the ceil(p x 10 / 100)-th smallest value:
  // p50 -> 5th = 5, p90 -> 9th = 9, p99 -> ceil(9.9) = 10th = 10; mean 5.5.
  const Stats s = stats_of({7, 3, 10, 1, 9, 2, 8, 5, 4, 6});
  CHECK(s.count == 10);
  CHECK(s.mean == 5.5);
  CHECK(s.p50 == 5);
  CHECK(s.p90 == 9);
  CHECK(s.p99 == 10);
  CHECK(s.max == 10);
  // Three values: p50 -> ceil(1.5) = 2nd; p90 -> ceil(2.7) = 3rd; a small p -> the 1st.
  const std::vector<double> three{0.5, 2.5, 4.0};
  CHECK(nearest_rank(three, 50) == 2.5);
  CHECK(nearest_rank(three, 90) == 4.0);
  CHECK(nearest_rank(three, 1) == 0.5);
  CHECK(nearest_rank(three, 100) == 4.0);
  // 1..100: p99 is the 99th value, p90 the 90th, p50 the 50th.
  std::vector<double> hundred;
  for (int i = 100; i >= 1; --i) hundred.push_back(i);
  const Stats h = stats_of(hundred);
  CHECK(h.p50 == 50);
  CHECK(h.p90 == 90);
  CHECK(h.p99 == 99);
  CHECK(stats_of({}).count == 0);
}

TEST_CASE("simulate: bad configurations and requests are errors", "[simulate]") {
  const AffineCost cost;
  const std::vector<SimRequest> one{{0, 10, 2}};
  CHECK_THROWS_WITH(simulate({}, config(1, 1, 16, 10), cost), "the simulation needs at least 1 request");
  CHECK_THROWS_WITH(simulate(one, config(0, 10, 16, 10), cost), "max_num_seqs must be at least 1, got 0");
  CHECK_THROWS_WITH(simulate(one, config(1, 0, 16, 10), cost), "max_num_batched_tokens must be at least 1, got 0");
  CHECK_THROWS_WITH(simulate(one, config(1, 10, 0, 10), cost), "block_tokens must be at least 1, got 0");
  CHECK_THROWS_WITH(simulate(one, config(1, 10, 16, 0), cost), "the KV pool's blocks must be at least 1, got 0");
  CHECK_THROWS_WITH(simulate(one, config(8, 4, 16, 10), cost),
                    "max_num_batched_tokens (4) must be at least max_num_seqs (8)");
  CHECK_THROWS_WITH(simulate({{std::nan(""), 10, 2}}, config(1, 10, 16, 10), cost),
                    "request 0 (counting from 0) arrives at nan s; an arrival is a finite time of at least 0 s");
  CHECK_THROWS_AS(simulate({{-1, 10, 2}}, config(1, 10, 16, 10), cost), Error);
  CHECK_THROWS_WITH(simulate({{0, 10, 0}}, config(1, 10, 16, 10), cost),
                    "request 0 (counting from 0) has a prompt of 10 and an output of 0 tokens; each is at least 1");
  SimConfig slo = config(1, 10, 16, 10);
  slo.tpot_slo_s = 0;
  CHECK_THROWS_WITH(simulate(one, slo, cost), "the TPOT SLO must be a positive number of seconds, got 0");
  slo.tpot_slo_s = std::nan("");
  CHECK_THROWS_AS(simulate(one, slo, cost), Error);
  ConstantCost zero;
  zero.value = 0;
  CHECK_THROWS_WITH(simulate(one, config(1, 10, 16, 10), zero),
                    "the step cost gave 0 s for a step of 0 decoding and 1 prefilling requests; a step takes a "
                    "positive, finite time");
  ConstantCost nan_cost;
  nan_cost.value = std::nan("");
  CHECK_THROWS_AS(simulate(one, config(1, 10, 16, 10), nan_cost), Error);
}

TEST_CASE("simulate: 10,000 requests under load", "[simulate]") {
  // Not a timing assertion (speed is measured outside the tests): a busy run completes every
  // request, in order of events, and accounts for every output token.
  LengthDist d;
  d.prompt = {100, 2000};
  d.output = {50, 500};
  const auto reqs = poisson_requests(30, 10000, 2024, d);
  const AffineCost cost;
  const SimResult r = simulate(reqs, config(256, 8192, 16, 20000), cost);
  int64_t tokens = 0;
  bool ordered = true;
  for (size_t i = 0; i < reqs.size(); ++i) {
    const SimRequestResult& q = r.requests[i];
    ordered = ordered && q.arrival_s < q.first_token_s && q.first_token_s <= q.finish_s;
    tokens += reqs[i].output;
  }
  CHECK(ordered);
  CHECK(r.output_tokens == tokens);
  CHECK(r.e2e_s.count == 10000);
  CHECK(r.busy_s <= r.span_s * (1 + 1e-12));
  CHECK(r.queue.size() <= static_cast<size_t>(kQueuePoints));
}

TEST_CASE("simulate: kvplan's timing model as the step cost", "[simulate]") {
  // The adapter is thin: its parts are the decode and prefill models' own times.
  const Model m = test::model("llama-3.1-8b");
  const Gpu g = test::gpu("h100-sxm");
  const MemoryOptions o = test::bf16_options(m);
  const KvplanStepCost cost(m, g, o);
  const DecodeModel dm(m, g, o);
  MemoryOptions one_pass = o;
  one_pass.prefill_chunk = std::numeric_limits<int64_t>::max();
  const PrefillModel pm(m, g, one_pass);
  // Decode at the mean context rounded up: contexts 1000 and 1001 -> ceil(2001 / 2) = 1001.
  CHECK(cost.decode_s(2, 2001) == dm.step(2, 1001).time_s);
  // A first chunk is a prompt of its own.
  CHECK(cost.prefill_s(1, 4096, 0) == pm.run(1, 4096).time_s);
  // A later chunk costs at least as much as a first one, and at least the growth of the prefill.
  const double later = cost.prefill_s(1, 4096, 8192);
  CHECK(later >= pm.run(1, 4096).time_s);
  CHECK(later >= pm.run(1, 12288).time_s - pm.run(1, 8192).time_s);
  // A mixed step is the sum of its parts; an empty part costs nothing.
  const StepLoad mixed{2, 2001, 1, 4096, 8192};
  CHECK(cost.step_s(mixed) == cost.decode_s(2, 2001) + later);
  CHECK(cost.step_s(StepLoad{2, 2001, 0, 0, 0}) == cost.decode_s(2, 2001));
  // It drives a simulation: 20 requests, each TTFT at least its own prefill alone.
  const auto reqs = poisson_requests(5, 20, 3, fixed(2000, 20));
  const SimResult r = simulate(reqs, config(16, 8192, 16, 10000), cost);
  for (const SimRequestResult& q : r.requests) CHECK(q.ttft_s >= pm.run(1, 2000).time_s * (1 - 1e-12));
}

namespace {
// A trace of (prompt, output, arrival) rows in the file's order, on lines 2, 3, ...
LengthDist trace_of(const std::vector<std::tuple<int64_t, int64_t, double>>& rows) {
  LengthDist d;
  d.kind = LengthsKind::trace;
  d.prompt_source = d.output_source = "t.csv";
  int line = 2;
  for (const auto& [prompt, output, arrival] : rows) {
    d.trace.push_back({prompt, output});
    d.arrivals_s.push_back(arrival);
    d.lines.push_back(line++);
  }
  return d;
}
}  // namespace

TEST_CASE("simulate: a trace replayed in arrival order, cut to its first requests, shared round robin",
          "[simulate][trace]") {
  // File order: lengths 10..60 at 4, 1, 3, 1, 9, 6 s. Stably sorted by arrival: rows 2 (1 s), 4 (1 s,
  // after row 2 as in the file), 3 (3 s), 1 (4 s), 6 (6 s), 5 (9 s); shifted by the first, 1 s.
  const LengthDist t = trace_of({{10, 1, 4}, {20, 2, 1}, {30, 3, 3}, {40, 4, 1}, {50, 5, 9}, {60, 6, 6}});
  auto prompts = [](const std::vector<SimRequest>& r) {
    std::vector<int64_t> out;
    for (const SimRequest& q : r) out.push_back(q.prompt);
    return out;
  };
  auto arrivals = [](const std::vector<SimRequest>& r) {
    std::vector<double> out;
    for (const SimRequest& q : r) out.push_back(q.arrival_s);
    return out;
  };
  const std::vector<SimRequest> all = trace_requests(t, std::nullopt, 1);
  CHECK(prompts(all) == std::vector<int64_t>{20, 40, 30, 10, 60, 50});
  CHECK(arrivals(all) == std::vector<double>{0, 0, 2, 3, 5, 8});
  CHECK(all[0].output == 2);
  // The first 4 by arrival; every 2nd of them from the first (sorted positions 0 and 2); every 3rd
  // of all six (positions 0 and 3); 7 replicas: the first request alone.
  CHECK(prompts(trace_requests(t, 4, 1)) == std::vector<int64_t>{20, 40, 30, 10});
  CHECK(prompts(trace_requests(t, 4, 2)) == std::vector<int64_t>{20, 30});
  CHECK(prompts(trace_requests(t, std::nullopt, 3)) == std::vector<int64_t>{20, 10});
  CHECK(prompts(trace_requests(t, std::nullopt, 7)) == std::vector<int64_t>{20});
  // Mean rate: n requests have n - 1 gaps over the span from the first arrival to the last:
  // 6 requests from 1 s to 9 s: 5 / 8 req/s; the first 4 (1 s to 4 s): 3 / 3 = 1 req/s.
  CHECK(*trace_rate_rps(t, std::nullopt) == Approx(5.0 / 8));
  CHECK(*trace_rate_rps(t, 4) == Approx(1.0));
  // The first 2 both arrive at 1 s, and one request has no gap: no rate.
  CHECK_FALSE(trace_rate_rps(t, 2));
  CHECK_FALSE(trace_rate_rps(t, 1));

  LengthDist no_arrivals = t;
  no_arrivals.arrivals_s.clear();
  auto located = [](const std::function<void()>& f) {
    try {
      f();
    } catch (const Error& e) {
      return e.located();
    }
    return std::string("no error");
  };
  CHECK(located([&] { trace_requests(no_arrivals, std::nullopt, 1); }) ==
        "t.csv: the trace has no arrival_s column: replaying it needs each request's arrival time");
  CHECK(located([&] { trace_requests(t, 7, 1); }) == "t.csv: the trace holds 6 requests, fewer than the 7 asked for");
  CHECK(located([&] { trace_requests(t, 0, 1); }) == "the number of requests must be from 1 to 16777216, got 0");
  CHECK(located([&] { trace_requests(t, std::nullopt, 0); }) == "the replicas sharing a trace must be at least 1, got 0");
  // Through Arrivals: the same requests.
  Arrivals a;
  a.kind = ArrivalsKind::trace;
  a.lengths = t;
  a.requests = 4;
  a.replicas = 2;
  CHECK(prompts(requests_of(a)) == std::vector<int64_t>{20, 30});
  CHECK(std::string(name(a.kind)) == "trace");
}

TEST_CASE("simulate: a three-request trace replayed, by hand", "[simulate][trace]") {
  // Rows in the file's order: A (prompt 100, output 3) at 5 s, B (50, 2) at 2 s, C (200, 1) at
  // 5.0015 s. Sorted and shifted by B's 2 s: B at 0, A at 3, C at 3.0015. Budget 8192 (every
  // prompt in one step); AffineCost: 0.001 s + 1e-5 s per prefill token + 1e-4 s per decoding
  // request.
  //   B alone: prefill 0.001 + 50e-5 = 0.0015 s (first token at 0.0015), one decode step 0.0011 s:
  //     TTFT 0.0015, E2E 0.0026.
  //   A at 3 s, the replica idle: prefill 0.001 + 100e-5 = 0.002 s, first token at 3.002.
  //   C arrives during that step and joins at its end, 3.002: A decodes (at 100 cached tokens) and C
  //     prefills 200 in one step, 0.001 + 200e-5 + 1e-4 = 0.0031 s, ending at 3.0051: A's second
  //     token, C's first and only. C: TTFT = E2E = 3.0051 - 3.0015 = 0.0036.
  //   A alone decodes its third token: 0.0011 s, ending at 3.0062. A: TTFT 0.002, E2E 0.0062,
  //     TPOT (0.0062 - 0.002) / 2 = 0.0021.
  // Means: TTFT (0.0015 + 0.002 + 0.0036) / 3 = 0.0071 / 3; E2E (0.0026 + 0.0062 + 0.0036) / 3 =
  // 0.0124 / 3. Span 0 .. 3.0062 s; 2 + 3 + 1 = 6 output tokens.
  const LengthDist t = trace_of({{100, 3, 5}, {50, 2, 2}, {200, 1, 5.0015}});
  const AffineCost cost;
  const SimConfig c = config(8, 8192, 16, 1000);
  const SimResult r = simulate(trace_requests(t, std::nullopt, 1), c, cost);
  REQUIRE(r.requests.size() == 3);  // in arrival order: B, A, C
  CHECK(r.requests[0].ttft_s == Approx(0.0015));
  CHECK(r.requests[0].e2e_s == Approx(0.0026));
  CHECK(r.requests[1].ttft_s == Approx(0.002));
  CHECK(r.requests[1].e2e_s == Approx(0.0062));
  CHECK(*r.requests[1].tpot_s == Approx(0.0021));
  CHECK(r.requests[2].ttft_s == Approx(0.0036));
  CHECK(r.requests[2].e2e_s == Approx(0.0036));
  CHECK(r.ttft_s.mean == Approx(0.0071 / 3));
  CHECK(r.e2e_s.mean == Approx(0.0124 / 3));
  CHECK(r.steps == 5);
  CHECK(r.span_s == Approx(3.0062));
  CHECK(r.output_tokens == 6);
  CHECK(r.max_running == 2);
  // Two replicas: this one takes B and C (sorted positions 0 and 2), each alone. C's prefill of 200
  // tokens: 0.001 + 200e-5 = 0.003 s = TTFT = E2E.
  const SimResult half = simulate(trace_requests(t, std::nullopt, 2), c, cost);
  REQUIRE(half.requests.size() == 2);
  CHECK(half.requests[0].e2e_s == Approx(0.0026));
  CHECK(half.requests[1].ttft_s == Approx(0.003));
  CHECK(half.requests[1].e2e_s == Approx(0.003));
  CHECK(half.max_running == 1);
}

TEST_CASE("simulate: at low load the mean TTFT and TPOT agree with the closed-form plan", "[simulate][closed-form]") {
  // Llama-3.1-8B on an H100 (bf16, the ideal engine's defaults), prompts of P = 1,000 and outputs
  // of G = 100 tokens, Poisson arrivals at 2% utilisation, kvplan's own step cost.
  const Model m = test::model("llama-3.1-8b");
  const Gpu g = test::gpu("h100-sxm");
  const MemoryOptions o = test::bf16_options(m);
  const int64_t P = 1000, G = 100;
  const KvplanStepCost cost(m, g, o);
  // Alone on the replica a request's prefill is one step (P <= the 8,192-token budget) of T_p =
  // prefill_s(1, P, 0), and its G - 1 decode steps run at contexts P .. P + G - 2, so its TPOT is
  // their mean; its service time is S = T_p + (G - 1) x that TPOT.
  const double T_p = cost.prefill_s(1, P, 0);
  double decode_sum_s = 0;
  for (int64_t c = P; c <= P + G - 2; ++c) decode_sum_s += cost.decode_s(1, c);
  const double alone_tpot_s = decode_sum_s / static_cast<double>(G - 1);
  const double S = T_p + decode_sum_s;
  const double rate_rps = 0.02 / S;  // rho = lambda S = 2%
  // The closed-form plan at that rate (core/fleet.cpp, plan_option): one replica at batch 1, TTFT =
  // one prefill of P alone (no queueing), and the decode step at batch 1 and the mean context
  // P + ceil(G / 2). Its TTFT is the simulation's prefill step exactly (both one pass of P tokens);
  // its step differs from the mean of the steps alone only by the context's rounding (P + 50 against
  // the mean P + 49 of P .. P + 98): a token of KV read per step, far below the tolerance below.
  PlanRequest q;
  q.prompt = P;
  q.gen = G;
  q.rps = rate_rps;
  q.tp_candidates = {1};
  const FleetPlan plan = plan_fleet(m, g, q, o);
  REQUIRE(plan.best == 0);
  const PlanOption& closed = plan.options[0];
  REQUIRE(closed.batch == 1);
  REQUIRE(closed.ttft_s == T_p);
  CHECK(closed.step_time_s == Approx(alone_tpot_s).epsilon(1e-4));

  // Seed 1, chosen before the first run (not tuned); 10,000 requests; an unbounded pool and vLLM's
  // default budget, so that nothing but overlap with other requests can delay one.
  const auto reqs = poisson_requests(rate_rps, 10000, 1, fixed(P, G));
  const SimResult r = simulate(reqs, config(256, 8192, 16, 1 << 20), cost);
  REQUIRE(r.preemptions == 0);
  // How far overlap can push the means. By Little's law the replica holds on average
  // E[N] = lambda x E[E2E] requests (about rho = 2% here), and Poisson arrivals see that average
  // (PASTA); overlaps of two or more others are of order rho^2.
  //   TTFT. Arriving at an idle replica a request's TTFT is exactly T_p (its prefill alone; every
  //   step holding its prefill costs at least that, so T_p is also a lower bound). Finding k others,
  //   it waits for the step under way (at most their k prefills plus their decode step) and its own
  //   prefill step carries their decodes: at most k (T_p + 2 d_1), with d_1 the decode step at
  //   batch 1 and the step of k decoders at most k d_1. So E[TTFT] - T_p <= E[N] (T_p + 2 d_1).
  //   TPOT. Each other request overlapping a request's decode steps adds at most its own prefill,
  //   T_p, to one of those steps, and to each step it shares as a decoder at most delta = the
  //   decode step of 2 at the longest contexts less the step of 1 at the shortest; spread over the
  //   G - 1 tokens, at most T_p / (G - 1) + delta. The others overlapping are those present at its
  //   arrival (E[N]) and those arriving during its life (lambda x E[E2E] = E[N] again):
  //   |E[TPOT] - alone TPOT| <= 2 E[N] (T_p / (G - 1) + delta).
  // The tolerance is twice each bound: the second-order overlaps, and the sampling noise of 10,000
  // requests (for TTFT a standard error of about sqrt(rho / 10,000) x (T_p + 2 d_1) =
  // 1.4e-3 x (T_p + 2 d_1): three of them are a tenth of the tolerance), stay well inside it.
  const double n_mean = rate_rps * r.e2e_s.mean;
  CHECK(n_mean == Approx(0.02).epsilon(0.1));
  const double d_1 = cost.decode_s(1, P + G);
  const double delta = cost.decode_s(2, 2 * (P + G)) - cost.decode_s(1, P);
  const double ttft_tolerance_s = 2 * n_mean * (T_p + 2 * d_1);
  const double tpot_tolerance_s = 2 * 2 * n_mean * (T_p / static_cast<double>(G - 1) + delta);
  CAPTURE(T_p, alone_tpot_s, closed.step_time_s, r.ttft_s.mean, r.tpot_s.mean, ttft_tolerance_s, tpot_tolerance_s);
  CHECK(r.ttft_s.mean >= closed.ttft_s * (1 - 1e-12));
  CHECK(r.ttft_s.mean - closed.ttft_s <= ttft_tolerance_s);
  CHECK(std::abs(r.tpot_s.mean - closed.step_time_s) <= tpot_tolerance_s + std::abs(closed.step_time_s - alone_tpot_s));
  // The checks are not vacuous: a few percent of TTFT, well under one percent of TPOT.
  CHECK(ttft_tolerance_s < 0.1 * closed.ttft_s);
  CHECK(tpot_tolerance_s < 0.01 * closed.step_time_s);
  // And the load is low enough that most requests ran alone: their TTFT is T_p, up to the rounding
  // of first_token_s - arrival_s at times of some 3e5 s (a few 1e-11 s; one shared step adds at
  // least d_1, some 6 ms).
  const auto alone = std::count_if(r.requests.begin(), r.requests.end(),
                                   [&](const SimRequestResult& x) { return std::abs(x.ttft_s - T_p) < 1e-8; });
  CHECK(alone > 9500);
}

TEST_CASE("TableStepCost: measured grids, interpolated bilinearly, priced with the model's rules", "[simulate]") {
  // Decode: 10 ms + 1 ms per sequence + 1 us per sequence per 1,000 cached tokens, on the grid
  // sequences {1, 4, 16} x context {1,000, 3,000}: an affine-in-each-variable function, which the
  // bilinear interpolation reproduces exactly between and beyond the points.
  auto decode_s = [](double b, double c) { return 0.010 + 0.001 * b + 1e-6 * b * c / 1000; };
  StepTable d{{1, 4, 16}, {1000, 3000}, {}};
  for (int64_t b : d.rows) d.seconds.push_back({decode_s(b, 1000), decode_s(b, 3000)});
  // Prefill: 5 ms + 2 us per prompt token, on prompts {1, 2} x tokens {100, 1,000, 2,000}.
  auto prefill_s = [](double s, double n) { return 0.005 + 2e-6 * s * n; };
  StepTable p{{1, 2}, {100, 1000, 2000}, {}};
  for (int64_t s : p.rows) p.seconds.push_back({prefill_s(s, 100), prefill_s(s, 1000), prefill_s(s, 2000)});
  const TableStepCost cost(d, p);
  // 8 sequences at 2,000 tokens each (16,000 in all), between grid points in both variables:
  // 0.010 + 0.008 + 1e-6 x 8 x 2 = 0.018016 s.
  StepLoad l;
  l.decode_seqs = 8;
  l.decode_context_tokens = 16000;
  CHECK(cost.step_s(l) == Approx(0.018016).epsilon(1e-12));
  // 32 sequences at 4,000 tokens: beyond both edges, along the last segments: 0.010 + 0.032 +
  // 1e-6 x 32 x 4 = 0.042128 s.
  l.decode_seqs = 32;
  l.decode_context_tokens = 128000;
  CHECK(cost.step_s(l) == Approx(0.042128).epsilon(1e-12));
  // A prefill of 2 prompts x 500 tokens: 0.005 + 2e-6 x 1,000 = 0.007 s; with the decode part above.
  l.prefill_seqs = 2;
  l.prefill_tokens = 1000;
  CHECK(cost.step_s(l) == Approx(0.042128 + 0.007).epsilon(1e-12));
  // Chunks after 1,000 cached tokens each: alone 0.007 s; growth from 1,000 to 1,500 tokens:
  // (0.005 + 2e-6 x 2 x 1,500) - (0.005 + 2e-6 x 2 x 1,000) = 0.002 s; the larger is 0.007 s.
  l.decode_seqs = 0;
  l.decode_context_tokens = 0;
  l.prefill_context_tokens = 2000;
  CHECK(cost.step_s(l) == Approx(0.007).epsilon(1e-12));
  // Bad tables are refused.
  StepTable flat = d;
  flat.cols = {1000, 1000};
  CHECK_THROWS_WITH(TableStepCost(flat, p), Contains("strictly ascending"));
  StepTable short_rows = d;
  short_rows.seconds.pop_back();
  CHECK_THROWS_WITH(TableStepCost(short_rows, p), Contains("2 rows of times for 3 grid rows"));
  // A table extended to a non-positive time is an error, not a step of no time.
  StepTable falling{{1, 2}, {1, 2}, {{0.002, 0.001}, {0.002, 0.001}}};
  StepLoad far;
  far.decode_seqs = 1;
  far.decode_context_tokens = 10;
  CHECK_THROWS_WITH(TableStepCost(falling, p).step_s(far), Contains("a grid too small"));
}
