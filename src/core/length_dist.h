// Prompt and output length distributions, and the KV cache their requests hold at once: expected
// and p99 bytes in use under paged and contiguous allocation, and the most concurrent requests
// each way (docs/kv-economy.md, "Length distributions").
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/memory.h"

namespace kvplan {

// Integers lo..hi, each equally likely (fixed: lo == hi).
struct LengthRange {
  int64_t lo = 1;
  int64_t hi = 1;
};

struct LengthPair {
  int64_t prompt = 0;
  int64_t output = 0;
};

// independent: prompt and output lengths drawn apart from their ranges. trace: one recorded
// request's (prompt, output) pair, each pair equally likely (the lengths are joint).
enum class LengthsKind { independent, trace };

struct LengthDist {
  LengthsKind kind = LengthsKind::independent;
  LengthRange prompt;               // independent
  LengthRange output;               // independent
  std::vector<LengthPair> trace;    // trace, in the file's order
  // trace: each pair's recorded arrival in seconds (the arrival_s column; empty when there is none),
  // replayed by the request-level simulation (core/simulate.h, trace_requests).
  std::vector<double> arrivals_s;
  std::vector<int> lines;           // trace: each pair's line in its file, for errors (empty: not from a file)
  std::string prompt_source;        // as the user gave it, for reports: "fixed:512", "uniform:1..4096", a path
  std::string output_source;
};

// The longest prompt + output a distribution may hold (past it the searches stop).
constexpr int64_t kMaxDistTokens = int64_t{1} << 22;
// Throws kvplan::Error unless every length is >= 1, each range has lo <= hi, a trace has a pair,
// prompt + output stays within kMaxDistTokens, and a trace's arrivals (if any) are one finite time
// of at least 0 s per pair (and its lines, if any, one per pair).
void check_lengths(const LengthDist& d);
// The longest request's prompt + output: what max_model_len must reach (the engines reject a request
// past it). Throws as check_lengths.
int64_t longest_request(const LengthDist& d);

// How the p99 was found: exact convolution of the per-request distribution (small supports), seeded
// Monte Carlo (kMonteCarloSamples draws of the total), or the normal approximation (where Monte
// Carlo would pass kMaxMonteCarloDraws request draws).
enum class P99Method { exact, monte_carlo, normal };
const char* name(P99Method m);
constexpr int64_t kMonteCarloSamples = 10000;
constexpr uint64_t kMonteCarloSeed = 20230912;  // the vLLM paper's arXiv date (2309.06180), fixed
constexpr int64_t kMaxConvolutionWork = 30'000'000;  // multiply-adds of the exact method
constexpr int64_t kMaxMonteCarloDraws = int64_t{1} << 24;  // up to 1,677 requests of 10,000 samples

// The KV cache of `requests` concurrent requests, as a running engine holds them at a step: a
// request of prompt P and output G holds P + U tokens, U uniform on 0..G-1 (P while its prefill
// yields the first output token, then one more at each of the G - 1 decode steps; the last output
// token is never fed back, so never cached), and the requests running at a step are length-biased:
// one of output G is running G steps, so it is met in proportion to P(P, G) x G.
struct KvInUse {
  int64_t requests = 0;              // concurrent requests (the workload's batch)
  double mean_tokens = 0;            // E[P + U]: tokens one running request (one branch) holds on average
  int64_t max_tokens = 0;            // largest P + G - 1: the most tokens one request holds
  int64_t block_tokens = 16;         // paged
  int64_t held_expected_bytes = 0;   // the tokens' own bytes (exact allocation), expected total
  int64_t expected_bytes = 0;        // paged, expected total over `requests`
  int64_t p99_bytes = 0;             // paged, 99th percentile of the total over `requests`
  int64_t reserve_tokens = 0;        // contiguous: tokens each sequence reserves (max_model_len)
  int64_t contiguous_bytes = 0;      // contiguous: requests x the reservation
  int64_t paged_max_requests = 0;    // most requests with weights + state + activations + p99 KV within usable memory
  int64_t contiguous_max_requests = 0;  // the same with every sequence reserving reserve_tokens
  P99Method method = P99Method::exact;       // of p99_bytes: the first method within its cap at `requests`
  int64_t samples = 0;                       // Monte Carlo draws of the total (0: another method)
  P99Method max_method = P99Method::exact;   // of paged_max_requests: the first within its cap up to the answer
  // Under an engine (engine_in_use) the cache is counted in the engine's blocks: in_blocks, and the
  // three below; the byte and contiguous figures above stay 0.
  bool in_blocks = false;
  int64_t expected_blocks = 0;
  int64_t p99_blocks = 0;
  int64_t pool_blocks = 0;                   // the engine's num_gpu_blocks
};

// The distribution of the tokens a running request holds (above), as probabilities of 0..max_tokens
// (exact).
std::vector<double> tokens_held_pmf(const LengthDist& d);

// The sizes above for the model `mm` (its sharing: block size, reservation, shared prefix, branches,
// trunk; the shared prefix is held once). Contiguous allocation shares nothing. Throws
// kvplan::Error where the distribution does not fit the sharing (a prompt shorter than the shared
// prefix, a reservation shorter than a request).
KvInUse kv_in_use(const MemoryModel& mm, const LengthDist& d, int64_t usable_bytes, int64_t requests);

struct EnginePlan;
// The same under a serving engine, in its blocks (core/engine.h, blocks_for_batch, with the plan's
// sharing): expected and p99 blocks of `requests` requests, and the most requests whose p99 fits the
// pool (block_tokens: the engine's block size).
KvInUse engine_in_use(const EnginePlan& plan, const LengthDist& d, int64_t requests);

// The p99 of the total bytes of `n` independent requests, each holding bytes_by_tokens[t] at t
// tokens (t = P + U as above), by the given method; exported for tests. Throws kvplan::Error where
// the method would pass its cap (kMaxConvolutionWork, kMaxMonteCarloDraws).
int64_t p99_total(const LengthDist& d, const std::vector<int64_t>& bytes_by_tokens, int64_t n, P99Method method);

}  // namespace kvplan
