// Fleet sizing: what fits on one replica (`kvplan fit`) and how many GPUs a workload needs
// (`kvplan plan`), from the memory plan and the timing model (docs/timing.md, "Fit and plan").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/cost.h"
#include "core/decode.h"
#include "core/engine.h"
#include "core/gpu.h"
#include "core/length_dist.h"
#include "core/memory.h"
#include "core/model.h"
#include "core/simulate.h"
#include "core/speculative.h"

namespace kvplan {

// batch: the largest batch at a context; context: the longest context at a batch.
enum class FitMode { batch, context };
// What stops a fit: memory (the next sequence or token does not fit), weights (the weights alone
// leave no room for one sequence), max_context (the model's trained context, reached before
// memory), max_model_len (the engine's), engine_start (the engine would not start), or unbounded
// (memory stops growing with context).
enum class FitBinds { memory, weights, max_context, max_model_len, engine_start, unbounded };
// What caps a plan's replica: memory, tpot (the SLO caps the batch), or demand (one replica suffices).
enum class PlanBinds { memory, tpot, demand };
const char* name(FitMode m);
const char* name(FitBinds b);
const char* name(PlanBinds b);

struct FitResult {
  FitMode mode = FitMode::batch;
  int64_t context = 0;              // given (batch mode) or found (context mode; 0 = none fits)
  int64_t batch = 0;                // found (batch mode; 0 = none fits) or given
  bool unbounded = false;           // context mode: memory stops growing with context (SSM, sliding-only)
  FitBinds binds = FitBinds::memory;
  int64_t usable_bytes = 0;
  MemoryPlan memory;                // at the found point (when one fits)
  std::optional<DecodeStep> decode; // at the found point
  std::optional<SpeculativeDecode> speculative;  // at the found point, with a speculative config and an acceptance
  std::optional<EnginePlan> engine; // the engine's plan the answer comes from (absent: ideal)
  // With length distributions: the most requests whose p99 KV cache fits (paged and contiguous),
  // the expected and p99 bytes at the paged answer.
  std::optional<KvInUse> in_use;
};

// Exactly one of context (-> largest batch) and batch (-> longest context) is given.
FitResult fit(const Model& model, const Gpu& gpu, std::optional<int64_t> context, std::optional<int64_t> batch,
              const MemoryOptions& opt);

struct PlanRequest {
  int64_t prompt = 0;
  int64_t gen = 0;
  double rps = 0;                        // requests per second, the whole fleet
  std::optional<double> ttft_slo_s;
  std::optional<double> tpot_slo_s;      // time per output token
  std::vector<int64_t> tp_candidates{1, 2, 4, 8};
  // plan --node: search layouts (layout_candidates) of at most this many GPUs per replica, tp from
  // tp_candidates; 0: tp_candidates alone, over the base options' pp, dp and ep.
  int64_t max_gpus_per_replica = 0;
};

// One replica's layout (core/parallel.h): tp x pp x dp GPUs, experts over ep = 1 or tp x dp.
struct Layout {
  int64_t tp = 1;
  int64_t pp = 1;
  int64_t dp = 1;
  int64_t ep = 1;
};
// The base options with a layout applied: tp, pipeline stages, dp and ep (no redundant experts
// without expert parallelism).
MemoryOptions with_layout(MemoryOptions base, const Layout& l);

// The layouts plan --node searches: tp from q.tp_candidates, pp a power of two (above 1 only under an
// engine, at most the layers), dp a power of two, tp x pp x dp at most q.max_gpus_per_replica, and
// ep = 1 or (MoE models, where the experts plus base's redundant ones divide) ep = tp x dp; every
// one passes check_layout.
// Powers of two from 1 to gpus_per_node: the tensor-parallel degrees within one node.
std::vector<int64_t> tp_within_node(int64_t gpus_per_node);
std::vector<Layout> layout_candidates(const Model& model, const PlanRequest& q, const MemoryOptions& base);

// plan --simulate: an option's engines (each of its replicas' dp ranks) simulated request by request
// (simulate_plan), with the fewest replicas whose simulated p99 TTFT and TPOT meet the SLOs.
struct SimulatedOption {
  bool meets = false;        // the p99s within the SLOs (those given) at `replicas`
  int64_t replicas = 0;      // the fewest found that meet them; not meeting: the most tried
  int64_t gpus = 0;          // replicas x GPUs per replica
  double ttft_p99_s = 0;     // at `replicas`
  double tpot_p99_s = 0;
  int64_t simulations = 0;   // runs the search took
};

// One replica shape (tp) for the workload. A replica of batch b cycles each of its b slots through
// one prefill and `gen` decode steps; prefills stall the whole replica, so the cycle takes
//   T(b) = gen x step_time(b, prompt + gen/2) + b x prefill_time(prompt),
// where under speculative decoding step_time is the speculative step's time per output token
// (step time / acceptance length),
// TPOT = T(b) / gen, requests/s = b / T(b), TTFT = prefill_time(prompt) (no queueing).
// A replica of layout tp x pp x dp is dp such ranks side by side, each of tp x pp GPUs running
// batch b (the step and prefill times at the layout): dp x b / T(b) requests/s.
struct PlanOption {
  int64_t tp = 1;
  int64_t pp = 1;
  int64_t dp = 1;
  int64_t ep = 1;
  int64_t gpus_per_replica = 1;     // tp x pp x dp
  bool feasible = false;
  std::string reason;               // why not, when infeasible
  int64_t max_batch_memory = 0;     // at context prompt + gen
  int64_t max_batch = 0;            // also within the TPOT SLO
  int64_t batch = 0;                // what each replica (each of its dp ranks) runs to carry the load
  int64_t replicas = 0;
  int64_t gpus = 0;
  double ttft_s = 0;
  double tpot_s = 0;                // at `batch`
  double step_time_s = 0;           // decode step at `batch` (a speculative step: draft + verify)
  double replica_rps = 0;           // capacity of one replica at max_batch
  PlanBinds binds = PlanBinds::memory;
  bool pareto = false;              // feasible, and no feasible option has both fewer GPUs and a lower TPOT
  std::optional<double> usd_per_hour;
  std::optional<double> usd_per_million_output_tokens;  // at the requested rate (what the fleet serves)
  std::optional<double> usd_per_million_output_tokens_at_capacity;  // were every replica at max_batch
  std::optional<double> usd_per_million_tokens;  // prompt + output tokens, at the requested rate
  std::optional<SimulatedOption> simulated;      // plan --simulate (feasible options)
};

struct FleetPlan {
  PlanRequest request;
  EngineKind engine = EngineKind::ideal;  // the engine the replicas' memory plans are sized for
  std::string engine_version;             // its profile's version ("" for ideal)
  double usd_per_gpu_hour = 0;
  std::vector<PlanOption> options;  // one per tp candidate, or per layout (max_gpus_per_replica > 0)
  // The feasible option with the fewest GPUs, then (layout search) the lower TPOT, then the first.
  int best = -1;
  // plan --simulate: the option whose simulation meets the SLOs with the fewest GPUs, then the lower
  // p99 TPOT; -1 when none does, or without a simulation.
  int simulated_best = -1;
};

// Marks the Pareto front of the feasible options over (GPUs, TPOT at their batch): those that no
// other feasible option matches on both and beats on one.
void mark_pareto(std::vector<PlanOption>& options);

FleetPlan plan_fleet(const Model& model, const Gpu& gpu, const PlanRequest& request, const MemoryOptions& base);

// `plan --simulate`: every feasible option's engines simulated request by request
// (simulate_engine). An engine is one data-parallel rank of a replica (tp x pp GPUs) with the
// engine's own block pool (its plan at max_model_len = the longest request, or the given one),
// max_num_seqs and token budget, and kvplan's step cost at the option's layout. Poisson arrivals
// come at one engine's share of the rate (request.rps / (replicas x dp)); a trace is replayed with
// one engine's round-robin share (every (replicas x dp)-th request, trace_requests).
// Each option starts at the closed form's replicas; while the simulated p99 TTFT or TPOT misses its
// SLO, replicas are added (doubling the step, then halving back to the fewest that meet them), up
// to kMaxSimulatedReplicasFactor x the closed form's count (at least 8 more). The options run in the
// closed form's order (fewest GPUs, then the lower TPOT), each only while it could take no more
// GPUs than the best found; one that cannot is not simulated (`simulated` empty).
constexpr int64_t kMaxSimulatedReplicasFactor = 4;
struct PlanSimulation {
  Arrivals arrivals;                      // as given; simulate_plan sets the rate (poisson) or the engines (trace)
  int option = -1;                        // filled: the option shown (simulated_best, else the plan's best)
  int64_t replicas = 0;                   // filled: its replicas in the run shown
  int64_t engines = 0;                    // filled: replicas x dp, the engines the requests are shared by
  std::optional<double> rps_per_replica;  // filled: poisson: request.rps / replicas; trace: its mean rate / replicas
  std::optional<double> rps_per_engine;   // filled: the same over replicas x dp
  int64_t trace_requests = 0;             // filled (trace): the trace's requests replayed across the fleet
  int64_t max_num_seqs = 0;               // filled: the engine's
  int64_t pool_blocks = 0;                // filled: the engine's num_gpu_blocks
  int64_t block_tokens = 0;               // filled
  SimResult result;                       // filled
};
// Fixed lengths as a distribution (fixed:P, fixed:G).
LengthDist fixed_lengths(int64_t prompt, int64_t gen);
// Sets every feasible option's `simulated` and plan.simulated_best, and fills `sim` with the run of
// the option shown at its replicas (simulated_best's, else the plan's best at the closed form's).
// Throws kvplan::Error without a feasible option, or under the ideal engine (the simulation runs an
// engine's block pool: use --engine vllm or sglang).
void simulate_plan(const Model& model, const Gpu& gpu, FleetPlan& plan, const MemoryOptions& base, PlanSimulation& sim);

}  // namespace kvplan
