// Request-level serving simulation: requests arrive, a continuous-batching scheduler with chunked
// prefill and a paged KV pool (vLLM V1's rules) runs them step by step, and each step lasts what a
// step-cost model says; out come every request's TTFT, TPOT and end-to-end latency, their
// percentiles, throughput, goodput and the queue over time (docs/fleet.md, "Request-level
// simulation"). Deterministic: the same requests, configuration and cost give the same result.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "core/decode.h"
#include "core/engine.h"
#include "core/gpu.h"
#include "core/length_dist.h"
#include "core/memory.h"
#include "core/model.h"
#include "core/prefill.h"

namespace kvplan {

// The lowest arrival rate kvplan takes (--rps, a deploy file's rate_rps): one request in 11.6 days.
// Far below it, step times vanish beside the arrival times in double precision.
constexpr double kMinRateRps = 1e-6;

struct SimRequest {
  double arrival_s = 0;
  int64_t prompt = 1;   // tokens
  int64_t output = 1;   // tokens to generate (the first comes from the prefill's last step)
};

// `n` requests arriving as a Poisson process of `rate_rps` (exponential gaps from t = 0, the first
// request one gap after 0), lengths drawn from `lengths` (independent: uniform integers in each
// range; trace: a uniformly chosen recorded pair). Draws are std::mt19937_64's raw words through
// our own transforms (never std::*_distribution), so the sequence is the same with every standard
// library. Throws kvplan::Error for a rate that is not a positive finite number, n < 1, or bad
// lengths (check_lengths).
std::vector<SimRequest> poisson_requests(double rate_rps, int64_t n, uint64_t seed, const LengthDist& lengths);

// A recorded trace replayed (its arrivals_s and pairs): the requests stably sorted by arrival (equal
// times keep the file's order), the first `first` of them (all: nullopt), and of those every
// `replicas`-th from the first, requests 0, R, 2R, ... (what a round-robin balancer over R replicas
// sends one replica); arrival times shifted so that the trace's first request arrives at 0 s.
// Throws kvplan::Error for a trace without arrival times (naming its file), `first` or `replicas`
// below 1, or bad lengths (check_lengths).
std::vector<SimRequest> trace_requests(const LengthDist& trace, std::optional<int64_t> first, int64_t replicas);
// The mean arrival rate of the same requests (before the round robin): n requests have n - 1 gaps
// over the span from the first arrival to the last, so (n - 1) / span. None for a single request or
// a span of 0 s (they give no rate). Throws as trace_requests.
std::optional<double> trace_rate_rps(const LengthDist& trace, std::optional<int64_t> first);

// What one engine step computes: the decoding sequences (one new token each) and the chunked
// prefill of the others.
struct StepLoad {
  int64_t decode_seqs = 0;
  int64_t decode_context_tokens = 0;   // sum over the decoding sequences of the tokens in their cache
  int64_t prefill_seqs = 0;            // requests with prefill tokens in this step
  int64_t prefill_tokens = 0;          // this step's prefill tokens, summed
  int64_t prefill_context_tokens = 0;  // tokens already in those requests' caches before them, summed
};

// Seconds one step takes; an interface so that tests can use closed forms.
struct StepCost {
  virtual ~StepCost() = default;
  virtual double step_s(const StepLoad& load) const = 0;
};

// kvplan's own timing model as a step cost. A step is priced as its decode part plus its prefill
// part, each timed as if it ran alone (the weights counted in both when a step mixes them, as two
// passes would read them; a step that only decodes or only prefills costs only its part):
//   decode part   DecodeModel::step(decode_seqs, ceil(decode_context_tokens / decode_seqs)).time_s;
//   prefill part  with s = prefill_seqs, n = ceil(prefill_tokens / s), c = ceil(prefill_context_tokens
//                 / s): the larger of two lower bounds on s chunks of n tokens after c cached ones,
//                 (a) PrefillModel::run(s, n).time_s, the chunks as prompts of their own (one pass:
//                     the weights, their tokens' linear work, attention among themselves, launches);
//                 (b) run(s, c + n).time_s - run(s, c).time_s, the growth of a one-pass prefill from
//                     c to c + n tokens (attention to the c cached tokens included, weights cancelled).
// The prefill model runs with one pass per call (the simulation chunks) and no prefix-cache hits
// (the simulation computes every prompt token); everything else in `opt` applies as given.
class KvplanStepCost : public StepCost {
 public:
  KvplanStepCost(const Model& model, const Gpu& gpu, const MemoryOptions& opt);
  double step_s(const StepLoad& load) const override;
  double decode_s(int64_t seqs, int64_t context_tokens) const;
  double prefill_s(int64_t seqs, int64_t tokens, int64_t context_tokens) const;

 private:
  DecodeModel decode_;
  PrefillModel prefill_;
};

// Step times measured on a grid (validate --simulate times kvplan's engine-like decode steps and
// prefill passes on the GPU): seconds[i][j] at rows[i] (decode: sequences; prefill: prompts) and
// cols[j] (decode: tokens in each sequence's cache; prefill: tokens of each prompt), both grids
// ascending with at least two points. at() interpolates linearly in each variable (bilinearly),
// and beyond an edge extends the last segment's line.
struct StepTable {
  std::vector<int64_t> rows, cols;
  std::vector<std::vector<double>> seconds;
  // Throws kvplan::Error for grids shorter than 2, not strictly ascending, or a table of another shape.
  void check(const char* what) const;
  double at(double row, double col) const;
};

// A step priced from measured tables with KvplanStepCost's rules (the decode part at the mean
// context; the prefill part the larger of the chunks alone and the growth from c to c + n cached
// tokens), so that a simulation with it differs from one with KvplanStepCost only by the step
// times. A step time that comes out zero or negative (a table extended too far) is an error.
class TableStepCost : public StepCost {
 public:
  TableStepCost(StepTable decode, StepTable prefill);
  double step_s(const StepLoad& load) const override;

 private:
  StepTable decode_, prefill_;
};

struct SimConfig {
  int64_t max_num_seqs = 256;             // running requests at most (vLLM --max-num-seqs)
  int64_t max_num_batched_tokens = 8192;  // tokens per step (vLLM --max-num-batched-tokens)
  int64_t block_tokens = 16;              // tokens per KV block
  int64_t pool_blocks = 0;                // blocks in the KV pool (an engine's num_gpu_blocks)
  // Blocks a request holds at t tokens; empty: ceil(t / block_tokens). Must not decrease with t
  // (e.g. blocks_for_request of an EnginePlan, for an engine's own groups).
  std::function<int64_t(int64_t tokens)> blocks_for_tokens;
  std::optional<double> ttft_slo_s;       // goodput counts requests within both SLOs that are set
  std::optional<double> tpot_slo_s;
  // Called once per step, once it is scheduled: the requests running in it and the pool's blocks
  // they hold (the step's own tokens included). Optional.
  std::function<void(int64_t running, int64_t blocks_used)> on_step;
};

struct SimRequestResult {
  double arrival_s = 0;
  double first_token_s = 0;          // end of the step that finished the prefill
  double finish_s = 0;               // end of the step that produced the last output token
  double ttft_s = 0;                 // first_token_s - arrival_s
  std::optional<double> tpot_s;      // (e2e - ttft) / (output - 1); none for output == 1
  double e2e_s = 0;                  // finish_s - arrival_s
  int64_t preemptions = 0;           // times this request was preempted
};

// Summary of a sample. Percentiles are nearest-rank: the p-th of n sorted values x_1..x_n is
// x_k with k = max(1, ceil(p/100 x n)), a value of the sample (no interpolation).
struct Stats {
  int64_t count = 0;
  double mean = 0;
  double p50 = 0;
  double p90 = 0;
  double p99 = 0;
  double max = 0;
};
Stats stats_of(std::vector<double> values);  // count 0 and zeros for an empty sample
// The nearest-rank p-th percentile (0 < p <= 100) of values sorted ascending (not empty).
double nearest_rank(const std::vector<double>& sorted, double p);

// The queue over time, at most kQueuePoints points: each point covers an equal run of consecutive
// steps (1, 2, 4, ... as the simulation grows) and holds the start of its first step and the
// largest waiting and running counts seen at its steps, so no peak is lost to the thinning.
struct QueuePoint {
  double time_s = 0;
  int64_t waiting = 0;  // arrived, not running (new or preempted)
  int64_t running = 0;  // admitted, holding blocks
};
constexpr int64_t kQueuePoints = 1000;

struct SimResult {
  std::vector<SimRequestResult> requests;  // in the order given
  Stats ttft_s, tpot_s, e2e_s;             // tpot over the requests with output > 1
  double start_s = 0;                      // the first arrival
  double end_s = 0;                        // the last request's finish
  double span_s = 0;                       // end_s - start_s
  int64_t output_tokens = 0;
  double output_tokens_per_s = 0;          // over span_s
  double requests_per_s = 0;               // over span_s
  int64_t good_requests = 0;               // within every SLO set (all requests when none is)
  double goodput_rps = 0;                  // good_requests / span_s
  int64_t preemptions = 0;
  int64_t steps = 0;
  double busy_s = 0;                       // time spent in steps (span_s minus idle gaps)
  int64_t max_waiting = 0;
  int64_t max_running = 0;
  int64_t max_blocks_used = 0;
  std::vector<QueuePoint> queue;
};

// Runs the requests through the scheduler (docs/fleet.md, "Request-level simulation"). Throws
// kvplan::Error for an empty request list, a request with a bad arrival time or length, a
// configuration value below 1, a token budget below max_num_seqs (vLLM refuses it too), an SLO that
// is not a positive number, a request that needs more blocks than the pool at its longest
// (prompt + output - 1 tokens), or a step cost that is not a positive finite time.
SimResult simulate(const std::vector<SimRequest>& requests, const SimConfig& config, const StepCost& cost);

// Where a simulation's requests come from: drawn (a Poisson process) or replayed (a recorded trace).
enum class ArrivalsKind { poisson, trace };
const char* name(ArrivalsKind k);  // "poisson", "trace"
constexpr int64_t kDefaultSimRequests = 10000;
struct Arrivals {
  ArrivalsKind kind = ArrivalsKind::poisson;
  LengthDist lengths;               // poisson: the lengths drawn; trace: the trace, with its arrivals_s
  std::optional<int64_t> requests;  // poisson: how many (default kDefaultSimRequests); trace: its first (default all)
  uint64_t seed = 1;                // poisson
  double rate_rps = 0;              // poisson
  int64_t replicas = 1;             // trace: one replica's round-robin share (trace_requests)
};
// The requests: poisson_requests or trace_requests.
std::vector<SimRequest> requests_of(const Arrivals& a);

// The simulation's scheduler as an engine's plan sets it: max_num_seqs, the block pool and its
// per-request blocks (blocks_for_request over the groups), and the token budget.
SimConfig engine_sim_config(const EnginePlan& engine, int64_t max_num_batched_tokens);
// One engine simulated (plan --simulate, check with workload.rate_rps or workload.trace): the
// requests of `arrivals`, engine_sim_config with the budget opt.prefill_chunk, the SLOs for goodput,
// and KvplanStepCost under `opt`. Throws kvplan::Error for an engine that does not start, a request
// longer than its max_model_len (the engine rejects it; a trace's at its file:line), and what
// requests_of and simulate throw.
SimResult simulate_engine(const Model& model, const Gpu& gpu, const MemoryOptions& opt, const EnginePlan& engine,
                          const Arrivals& arrivals, std::optional<double> ttft_slo_s, std::optional<double> tpot_slo_s);

}  // namespace kvplan
