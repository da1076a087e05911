// Length distributions and the KV cache in use (core/length_dist.h, io/lengths.h), derived by hand
// or by enumeration written out here. Llama-3.1-8B in bf16 holds 131,072 B/token (32 layers x 8 KV
// heads x head_dim 128 x (K+V) 2 x 2 B; tests/kv_cache_test.cpp), so a 16-token block is 2 MiB.
#include <catch2/catch.hpp>

#include <cmath>
#include <map>

#include "core/error.h"
#include "core/length_dist.h"
#include "io/lengths.h"

using namespace kvplan;

namespace {
constexpr int64_t k8b = 131072;  // B/token
constexpr int64_t kGiB = int64_t{1} << 30;

LengthDist independent(int64_t p_lo, int64_t p_hi, int64_t g_lo, int64_t g_hi) {
  LengthDist d;
  d.prompt = {p_lo, p_hi};
  d.output = {g_lo, g_hi};
  return d;
}

// A memory model of the KV cache only: weights W, no state, no activations.
MemoryModel cache_only(int64_t bytes_per_token, int64_t weights, int64_t block = 16) {
  MemoryModel mm;
  mm.weights_bytes = weights;
  mm.kv = KvTerms{bytes_per_token, {}};
  mm.kv_bytes_per_token = bytes_per_token;
  mm.sharing.allocation = Allocation::paged;
  mm.sharing.block_tokens = block;
  return mm;
}

// Paged bytes by tokens held, for p99_total: ceil(t / block) x block x bytes_per_token.
std::vector<int64_t> paged_bytes(int64_t top, int64_t block, int64_t bytes_per_token) {
  std::vector<int64_t> v(static_cast<size_t>(top) + 1);
  for (int64_t t = 0; t <= top; ++t) v[static_cast<size_t>(t)] = (t + block - 1) / block * block * bytes_per_token;
  return v;
}

// The distribution of a running request's bytes by brute force over (prompt, output, U), U =
// 0..g-1: each step of each (prompt, output) pair equally likely, so every combination weighs
// 1 / (nP x the outputs' sum): the test's own enumeration, independent of the difference arrays in
// tokens_held_pmf.
std::map<int64_t, double> enumerate_request(const LengthDist& d, const std::vector<int64_t>& bytes) {
  std::map<int64_t, double> out;
  const double np = static_cast<double>(d.prompt.hi - d.prompt.lo + 1);
  double steps = 0;
  for (int64_t g = d.output.lo; g <= d.output.hi; ++g) steps += static_cast<double>(g);
  for (int64_t p = d.prompt.lo; p <= d.prompt.hi; ++p)
    for (int64_t g = d.output.lo; g <= d.output.hi; ++g)
      for (int64_t u = 0; u < g; ++u) out[bytes[static_cast<size_t>(p + u)]] += 1.0 / (np * steps);
  return out;
}

// The distribution of the sum of n requests, by repeated convolution of the maps.
std::map<int64_t, double> sum_of(const std::map<int64_t, double>& one, int n) {
  std::map<int64_t, double> s{{0, 1.0}};
  for (int i = 0; i < n; ++i) {
    std::map<int64_t, double> next;
    for (const auto& [a, pa] : s)
      for (const auto& [b, pb] : one) next[a + b] += pa * pb;
    s.swap(next);
  }
  return s;
}

// The smallest x with P(S <= x) >= q.
int64_t quantile(const std::map<int64_t, double>& s, double q) {
  double cum = 0;
  for (const auto& [x, p] : s) {
    cum += p;
    if (cum >= q - 1e-12) return x;
  }
  return s.rbegin()->first;
}
}  // namespace

TEST_CASE("lengths: tokens held by a request at a random step of its output", "[lengths]") {
  // A request of prompt P and output G holds P tokens while its prefill yields the first output
  // token, then P + 1 .. P + G - 1 at its G - 1 decode steps: T = P + U, U uniform on 0..G-1. It
  // runs G steps, so at a given step the running requests are met in proportion to P(P, G) x G.
  SECTION("a fixed prompt of 2, outputs 1 or 2") {
    // G = 1 runs 1 step, G = 2 runs 2: of the 3 steps, G = 1's holds T = 2, G = 2's hold 2 and 3.
    // So P(2) = 2/3, P(3) = 1/3; the longest request is 2 + 2 = 4 tokens, so 0..3 are covered.
    const std::vector<double> p = tokens_held_pmf(independent(2, 2, 1, 2));
    REQUIRE(p.size() == 4);
    CHECK(p[0] == 0);
    CHECK(p[1] == 0);
    CHECK(p[2] == Approx(2.0 / 3).margin(1e-15));
    CHECK(p[3] == Approx(1.0 / 3).margin(1e-15));
  }
  SECTION("prompts 1 or 2, a fixed output of 2") {
    // P = 1: T = 1, 2; P = 2: T = 2, 3; each 1/4: P(1) = 1/4, P(2) = 1/2, P(3) = 1/4.
    const std::vector<double> p = tokens_held_pmf(independent(1, 2, 2, 2));
    REQUIRE(p.size() == 4);
    CHECK(p[0] == 0);
    CHECK(p[1] == Approx(0.25).margin(1e-15));
    CHECK(p[2] == Approx(0.5).margin(1e-15));
    CHECK(p[3] == Approx(0.25).margin(1e-15));
  }
  SECTION("a trace's pairs are joint") {
    // (1, 1) runs 1 step at T = 1; (3, 2) runs 2 at T = 3 and 4: 1/3 each. Independent marginals
    // would also give T = 2.
    LengthDist d;
    d.kind = LengthsKind::trace;
    d.trace = {{1, 1}, {3, 2}};
    const std::vector<double> p = tokens_held_pmf(d);
    REQUIRE(p.size() == 5);
    CHECK(p[1] == Approx(1.0 / 3).margin(1e-15));
    CHECK(p[2] == 0);
    CHECK(p[3] == Approx(1.0 / 3).margin(1e-15));
    CHECK(p[4] == Approx(1.0 / 3).margin(1e-15));
    CHECK(longest_request(d) == 5);
  }
  SECTION("wide ranges sum to 1 and match the enumeration") {
    const LengthDist d = independent(5, 40, 3, 30);
    const std::vector<double> p = tokens_held_pmf(d);
    std::vector<int64_t> identity(p.size());
    for (size_t t = 0; t < p.size(); ++t) identity[t] = static_cast<int64_t>(t);
    const std::map<int64_t, double> e = enumerate_request(d, identity);
    double total = 0;
    for (size_t t = 0; t < p.size(); ++t) {
      total += p[t];
      const auto it = e.find(static_cast<int64_t>(t));
      CHECK(p[t] == Approx(it == e.end() ? 0.0 : it->second).margin(1e-12));
    }
    CHECK(total == Approx(1.0).margin(1e-12));
  }
}

TEST_CASE("lengths: expected bytes of Llama-3.1-8B requests, uniform prompts and a fixed output", "[lengths]") {
  // Prompts uniform on 1..64, outputs of 16 tokens, 16-token blocks. Write P = 16k + j (k = 0..3,
  // j = 1..16): T = P + U (U = 0..15) holds k + ceil((j + U) / 16) blocks, and ceil((j + U) / 16) = 1
  // for the 16 + 15 + ... + 1 = 136 of the 256 pairs (j, U) with j + U <= 16 (U = 0..16-j), else 2
  // (120 pairs). So E[blocks] = E[k] + (136 + 2 x 120) / 256 = 1.5 + 1.46875 = 2.96875 blocks =
  // 47.5 tokens' worth, x 2 MiB = 6,225,920 B per request; the tokens alone, E[P] + E[U] = 32.5 +
  // 7.5 = 40 tokens = 5,242,880 B (7.5 tokens per request, about half a block, allocated and empty).
  const MemoryModel mm = cache_only(k8b, kGiB);
  const LengthDist d = independent(1, 64, 16, 16);
  const KvInUse u = kv_in_use(mm, d, 2 * kGiB, 10);
  CHECK(u.requests == 10);
  CHECK(u.mean_tokens == Approx(40.0).epsilon(1e-12));
  CHECK(u.max_tokens == 79);                 // 64 + 16 - 1
  CHECK(u.expected_bytes == 62259200);       // 10 x 6,225,920
  CHECK(u.held_expected_bytes == 52428800);  // 10 x 5,242,880
  // Contiguous: every request reserves the longest, 64 + 16 = 80 tokens = 10,485,760 B (max_model_len
  // reaches prompt + output, as the engines require).
  CHECK(u.reserve_tokens == 80);
  CHECK(u.contiguous_bytes == 104857600);
  // 1 GiB for the cache: floor(1,073,741,824 / 10,485,760) = floor(102.4) = 102 contiguous requests.
  CHECK(u.contiguous_max_requests == 102);
  // Paged: 1 GiB is 512 blocks. At most 512 / 2.96875 = 172.5 requests on average; at p99 fewer.
  CHECK(u.method == P99Method::exact);
  CHECK(u.max_method == P99Method::exact);
  CHECK(u.paged_max_requests < 173);
  CHECK(u.paged_max_requests > 150);
  // The search's boundary: the p99 of n requests fits 512 blocks, of n + 1 it does not.
  const std::vector<int64_t> bytes = paged_bytes(80, 16, k8b);
  const int64_t block = 16 * k8b;
  CHECK(p99_total(d, bytes, u.paged_max_requests, P99Method::exact) <= 512 * block);
  CHECK(p99_total(d, bytes, u.paged_max_requests + 1, P99Method::exact) > 512 * block);
  CHECK(u.p99_bytes == p99_total(d, bytes, 10, P99Method::exact));
}

TEST_CASE("lengths: the exact p99 equals an enumeration of every combination", "[lengths]") {
  // Prompts 1..3, outputs 1..2, 2-token blocks of 1 B/token: each request holds 2 or 4 bytes
  // (t = 1..4). Three requests: 3 x 3 x 2 x ... combinations, summed by the test's own maps.
  const LengthDist d = independent(1, 3, 1, 2);
  const std::vector<int64_t> bytes = paged_bytes(5, 2, 1);
  const std::map<int64_t, double> one = enumerate_request(d, bytes);
  for (int n : {1, 2, 3, 5}) {
    const std::map<int64_t, double> s = sum_of(one, n);
    CHECK(p99_total(d, bytes, n, P99Method::exact) == quantile(s, 0.99));
  }
  // One request by hand: 3 prompts x (1 + 2) steps = 9 equally likely (p, g, u). t = 1: (1, 1, 0),
  // (1, 2, 0): 2/9; t = 2: (2, 1, 0), (2, 2, 0), (1, 2, 1): 3/9; t = 3: (3, 1, 0), (3, 2, 0),
  // (2, 2, 1): 3/9; t = 4: (3, 2, 1): 1/9. Bytes 2, 2, 4, 4: P(2) = 5/9, P(4) = 4/9 > 1%, so the
  // p99 of one request is 4.
  CHECK(p99_total(d, bytes, 1, P99Method::exact) == 4);
}

TEST_CASE("lengths: Monte Carlo agrees with the exact p99", "[lengths]") {
  // 10,000 samples: the share of samples at or below the true p99 has standard deviation
  // sqrt(0.99 x 0.01 / 10,000) = 0.001, so the sample p99 lies between the exact 0.987 and 0.993
  // quantiles (3 standard deviations) except with probability ~0.3%; the seed is fixed, so the
  // test is deterministic and fails if the sampler or the quantile's rank is wrong.
  const LengthDist d = independent(1, 24, 1, 12);
  const std::vector<int64_t> bytes = paged_bytes(36, 4, 1);
  const std::map<int64_t, double> one = enumerate_request(d, bytes);
  for (int n : {1, 4, 20}) {
    const std::map<int64_t, double> s = sum_of(one, n);
    const int64_t mc = p99_total(d, bytes, n, P99Method::monte_carlo);
    CHECK(mc >= quantile(s, 0.987));
    CHECK(mc <= quantile(s, 0.993));
    CHECK(p99_total(d, bytes, n, P99Method::exact) == quantile(s, 0.99));
  }
}

TEST_CASE("lengths: Monte Carlo agrees with the normal approximation at many requests", "[lengths]") {
  // 1,500 requests of prompts 1..4096 and outputs 1..1024, 16-token blocks of 1 B/token. The total
  // is near normal: p99 ~ n mu + 2.326 sigma sqrt(n). The Monte Carlo quantile's noise is
  // 0.001 / phi(2.326) = 0.037 sigma sqrt(n); the normal's skew error (Cornish-Fisher,
  // (z^2 - 1) / 6 x skewness / sqrt(n) = 0.019 x skewness, skewness below 1 here) is smaller: a
  // tolerance of 0.2 sigma sqrt(n) is more than 4 noise deviations.
  const LengthDist d = independent(1, 4096, 1, 1024);
  const std::vector<int64_t> bytes = paged_bytes(4096 + 1024, 16, 1);
  const std::vector<double> p = tokens_held_pmf(d);
  double mu = 0, var = 0;
  for (size_t t = 0; t < p.size(); ++t) mu += p[t] * static_cast<double>(bytes[t]);
  for (size_t t = 0; t < p.size(); ++t) var += p[t] * std::pow(static_cast<double>(bytes[t]) - mu, 2);
  const int64_t n = 1500;
  const double spread = std::sqrt(var * n);
  const double normal = n * mu + 2.3263478740408408 * spread;
  const int64_t mc = p99_total(d, bytes, n, P99Method::monte_carlo);
  CHECK(std::abs(static_cast<double>(mc) - normal) < 0.2 * spread);
  CHECK(std::abs(static_cast<double>(p99_total(d, bytes, n, P99Method::normal)) - normal) <= 1.0);
}

TEST_CASE("lengths: a fixed request matches kv_use, shared prefix included", "[lengths]") {
  // Prompts of 100 tokens, 1 output token: every request holds its 100 prompt tokens (the one
  // output token comes from the prefill and is never cached). A 64-token shared prefix (4 blocks of
  // 16) is held once; each request owns ceil(100 / 16) - 4 = 3 blocks. Ten requests at 1 B/token:
  // (4 + 10 x 3) x 16 = 544 B, as kv_use sizes 10 sequences at 100 tokens.
  MemoryModel mm = cache_only(1, 0);
  mm.sharing.shared_prefix = 64;
  const KvInUse u = kv_in_use(mm, independent(100, 100, 1, 1), 1 << 20, 10);
  // The normal approximation never passes the largest possible total (here every total is 544).
  CHECK(p99_total(independent(100, 100, 1, 1), std::vector<int64_t>(102, 7), 3, P99Method::normal) == 21);
  CHECK(u.expected_bytes == 544);
  CHECK(u.p99_bytes == 544);
  CHECK(u.expected_bytes == kv_use(mm.kv, 10, 100, mm.sharing).total_bytes);
  // Exact allocation: 64 + 10 x 36 = 424 tokens.
  CHECK(u.held_expected_bytes == 424);
  // Contiguous shares nothing, and reserves the whole request (max_model_len 101): 10 x 101.
  CHECK(u.contiguous_bytes == 1010);
  // A prompt shorter than the prefix is an error.
  CHECK_THROWS_WITH(kv_in_use(mm, independent(10, 100, 1, 1), 1 << 20, 1),
                    Catch::Contains("shorter than the shared prefix"));
}

TEST_CASE("lengths: a reservation shorter than the longest request is an error", "[lengths]") {
  MemoryModel mm = cache_only(1, 0);
  mm.sharing.reserve_tokens = 50;
  CHECK_THROWS_WITH(kv_in_use(mm, independent(1, 40, 1, 20), 1 << 20, 1), Catch::Contains("fewer than the longest"));
  mm.sharing.reserve_tokens = 60;
  CHECK(kv_in_use(mm, independent(1, 40, 1, 20), 1 << 20, 1).contiguous_bytes == 60);
}

TEST_CASE("lengths: the Monte Carlo and normal switches keep the answer", "[lengths]") {
  // 1 B/token and 2^40 B usable: hundreds of millions of requests fit, past the exact and Monte
  // Carlo caps, so the normal approximation finds the most; the p99 at 100 requests is Monte
  // Carlo's (the exact lattice has 160 sizes, 1..160 blocks: 160^2 x n^2 / 2 multiply-adds pass
  // 3 x 10^7 by n = 50).
  const MemoryModel mm = cache_only(1, 0);
  const LengthDist d = independent(1, 2048, 1, 512);
  const KvInUse u = kv_in_use(mm, d, int64_t{1} << 40, 100);
  CHECK(u.max_method == P99Method::normal);
  CHECK(u.method == P99Method::monte_carlo);
  CHECK(u.samples == kMonteCarloSamples);
  CHECK(u.p99_bytes >= u.expected_bytes);
  // Mean blocks per request are at most 2048 + 512 tokens; 2^40 / 2560 = 429,496,729.6.
  CHECK(u.paged_max_requests > 429496729);
  // A budget of a few hundred requests is in Monte Carlo's reach. A running request holds on average
  // E[P] + E[U] tokens: E[P] = 1,024.5, and with outputs met in proportion to G, E[U] = E[G (G - 1) /
  // 2] / E[G] = (E[G^2] - E[G]) / (2 E[G]); for G uniform on 1..512, E[G] = 256.5 and E[G^2] =
  // 513 x 1025 / 6 = 87,637.5, so E[U] = 87,381 / 513 = 170.333... and the mean is 1,194.8333
  // tokens, paged at least that: fewer than 390,000 / 1,194.83 = 326.4 requests fit on average,
  // and at p99 fewer still.
  const KvInUse m = kv_in_use(mm, d, 300 * 1300, 100);
  CHECK(m.method == P99Method::monte_carlo);
  CHECK(m.max_method == P99Method::monte_carlo);
  CHECK(m.samples == kMonteCarloSamples);
  CHECK(m.mean_tokens == Approx(1024.5 + 511.0 / 3).epsilon(1e-12));
  CHECK(m.paged_max_requests > 250);
  CHECK(m.paged_max_requests <= 326);
  // The search's boundary, by the same method.
  const std::vector<int64_t> bytes = paged_bytes(2560, 16, 1);
  CHECK(p99_total(d, bytes, m.paged_max_requests, P99Method::monte_carlo) <= 300 * 1300);
  CHECK(p99_total(d, bytes, m.paged_max_requests + 1, P99Method::monte_carlo) > 300 * 1300);
}

TEST_CASE("lengths: specs", "[lengths]") {
  CHECK(is_length_spec("fixed"));
  CHECK(is_length_spec("uniform:1..2"));
  CHECK_FALSE(is_length_spec("trace.csv"));
  const LengthRange u = *parse_length_spec("uniform:1k..4k", "--prompt-dist", std::nullopt, "--prompt");
  CHECK(u.lo == 1024);
  CHECK(u.hi == 4096);
  CHECK(parse_length_spec("fixed", "--gen-dist", 7, "--gen")->hi == 7);
  CHECK(parse_length_spec("fixed:9", "--gen-dist", 7, "--gen")->lo == 9);
  CHECK_THROWS_WITH(parse_length_spec("uniform:5..4", "--prompt-dist", std::nullopt, "--prompt"),
                    Catch::Contains("lower bound is above the upper"));
  CHECK_THROWS_WITH(parse_length_spec("uniform:-5..4", "--prompt-dist", std::nullopt, "--prompt"),
                    Catch::Contains("must be positive"));
  CHECK_THROWS_WITH(parse_length_spec("uniform:5", "--prompt-dist", std::nullopt, "--prompt"),
                    Catch::Contains("is not uniform:A..B"));
  CHECK_THROWS_WITH(parse_length_spec("fixed", "--gen-dist", std::nullopt, "--gen"),
                    Catch::Contains("takes its length from --gen"));
}

namespace {
SourcePos error_at(const std::string& text) {
  try {
    parse_trace(text, "t.csv");
  } catch (const Error& e) {
    return e.pos();
  }
  return {};
}
std::string error_of(const std::string& text) {
  try {
    parse_trace(text, "t.csv");
  } catch (const Error& e) {
    return e.located();
  }
  return "";
}
}  // namespace

TEST_CASE("lengths: CSV traces", "[lengths]") {
  const LengthDist d = parse_trace("output_tokens, prompt_tokens,arrival_s\r\n10,200,0.5\n\n3,7,1\n", "t.csv");
  CHECK(d.kind == LengthsKind::trace);
  REQUIRE(d.trace.size() == 2);
  CHECK(d.trace[0].prompt == 200);
  CHECK(d.trace[0].output == 10);
  CHECK(d.trace[1].prompt == 7);
  CHECK(d.prompt_source == "t.csv");
  // Arrivals and lines are kept, one per request: the blank line 3 is skipped, so the second
  // request is on line 4.
  CHECK(d.arrivals_s == std::vector<double>{0.5, 1});
  CHECK(d.lines == std::vector<int>{2, 4});
  CHECK(parse_trace("prompt_tokens,output_tokens\n5,6\n", "t.csv").arrivals_s.empty());

  CHECK(error_of("prompt_tokens,output_tokens\n5,x\n") == "t.csv:2:3: output_tokens 'x' is not a whole number of tokens");
  CHECK(error_of("prompt_tokens,output_tokens\n5,6\n-5,6\n") ==
        "t.csv:3:1: prompt_tokens '-5' is negative: a length is at least 1 token");
  CHECK(error_of("prompt_tokens,output_tokens\n0,6\n") == "t.csv:2:1: prompt_tokens must be at least 1 token, got 0");
  CHECK(error_of("prompt_tokens\n5\n") ==
        "t.csv:1:1: the header has no column 'output_tokens' (expected prompt_tokens,output_tokens[,arrival_s])");
  CHECK(error_of("") == "t.csv:1:1: empty trace: expected a header prompt_tokens,output_tokens[,arrival_s] and one "
                        "request per line");
  CHECK(error_of("prompt_tokens,output_tokens\n") == "t.csv:1:1: the trace holds no request, only its header");
  CHECK(error_of("prompt_tokens,output_tokens,arrival_s\n1,2,-1\n") ==
        "t.csv:2:5: arrival_s '-1' is not a time of at least 0 seconds");
  CHECK(error_of("prompt_tokens,output_tokens,arrival_s\n1,2,0\n1,2, 3s\n") ==
        "t.csv:3:6: arrival_s '3s' is not a time of at least 0 seconds");
  CHECK(error_of("arrival_s,prompt_tokens,output_tokens\nnan,1,2\n") ==
        "t.csv:2:1: arrival_s 'nan' is not a time of at least 0 seconds");
  CHECK(error_of("arrival_s,prompt_tokens,output_tokens\ninf,1,2\n") ==
        "t.csv:2:1: arrival_s 'inf' is not a time of at least 0 seconds");
  CHECK(error_of("prompt_tokens,output_tokens,arrival_s\n1,2,0\n1,2,1e300\n") ==
        "t.csv:3:5: arrival_s 1e300 is past the 1e9 seconds a trace may span");
  CHECK(error_of("prompt_tokens,output_tokens,arrival_s\n1,2,\n") ==
        "t.csv:2:5: arrival_s '' is not a time of at least 0 seconds");
  CHECK(error_at("prompt_tokens,output_tokens\n1,2,3\n").col == 5);
  CHECK(error_at("prompt_tokens,output_tokens\n1\n").col == 2);
  CHECK_THROWS_WITH(parse_trace("prompt_tokens,output_tokns\n1,2\n", "t.csv"), Catch::Contains("did you mean 'output_tokens'"));
  CHECK_THROWS_WITH(parse_trace("prompt_tokens,output_tokens,prompt_tokens\n", "t.csv"), Catch::Contains("appears twice"));
  CHECK(error_at("prompt_tokens,output_tokens\n1,99999999999999999999999\n").col == 3);
}

TEST_CASE("lengths: a trace to replay needs its arrival times", "[lengths]") {
  const LengthDist d = parse_arrival_trace("prompt_tokens,output_tokens,arrival_s\n100,10,2.5\n7,3,0\n", "r.csv");
  CHECK(d.kind == LengthsKind::trace);
  CHECK(d.arrivals_s == std::vector<double>{2.5, 0});
  CHECK(d.lines == std::vector<int>{2, 3});
  auto error = [](const std::string& text) {
    try {
      parse_arrival_trace(text, "r.csv");
    } catch (const Error& e) {
      return e.located();
    }
    return std::string();
  };
  // The missing column at the header (line 2: a blank first line is skipped).
  CHECK(error("\nprompt_tokens,output_tokens\n100,10\n") ==
        "r.csv:2:1: the header has no column 'arrival_s': replaying a trace needs each request's arrival time "
        "(expected prompt_tokens,output_tokens,arrival_s)");
  CHECK(error("prompt_tokens,output_tokens,arrival_s\n100,10,x\n") ==
        "r.csv:2:8: arrival_s 'x' is not a time of at least 0 seconds");
  // check_lengths applies: 2^22 tokens in one request is past what a distribution may hold.
  CHECK_THAT(error("prompt_tokens,output_tokens,arrival_s\n4194304,1,0\n"), Catch::Contains("past the"));
}

TEST_CASE("lengths: a trace is given once", "[lengths]") {
  auto read = [](const std::string&) { return std::string("prompt_tokens,output_tokens\n100,10\n"); };
  LengthSpecs s;
  s.prompt = "a.csv";
  const LengthDist d = length_dist(s, read);
  CHECK(d.trace.size() == 1);
  s.output = "a.csv";
  CHECK(length_dist(s, read).trace.size() == 1);
  s.output = "uniform:1..5";
  CHECK_THROWS_WITH(length_dist(s, read), Catch::Contains("gives each request's prompt and output lengths together"));
  LengthSpecs fixed_gen;
  fixed_gen.prompt = "uniform:1..100";
  CHECK_THROWS_WITH(length_dist(fixed_gen, read), Catch::Contains("--gen-dist fixed takes its length from --gen"));
  fixed_gen.output_fixed = 64;
  const LengthDist f = length_dist(fixed_gen, read);
  CHECK(f.output_source == "fixed:64");
  CHECK(f.prompt_source == "uniform:1..100");
}
