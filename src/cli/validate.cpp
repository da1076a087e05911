// `kvplan validate`: runs kernels shaped like the model's decode step (and prefill attention) on the
// local GPU and compares the measured times with kvplan's predictions for the same workload.
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <algorithm>
#include <memory>
#include <optional>

#include "cli/subcommands.h"
#include "gpu/host/availability.h"
#include "gpu/host/report.h"
#include "report/estimate_report.h"
#if KVPLAN_HAVE_CUDA
#include "gpu/run.h"
#endif
#include "core/checked.h"
#include "core/decode.h"
#include "core/engine.h"
#include "core/prefill.h"
#include "core/simulate.h"
#include "io/numbers.h"

namespace kvplan::cli {

namespace {

struct ValidateOptions {
  QueryOptions q;
  bool no_check = false;
  bool no_prefill = false;
  bool in_step = false;
  double max_time_s = 0.5;
  bool simulate = false;
  std::string rps;
  int64_t requests = 300;
  uint64_t seed = 1;
};

// The request's model, GPU, workload and options, resolved (bad arguments fail here, before any
// GPU is touched, in kvplan as in kvplan-gpu).
struct ValidateInputs {
  QueryOptions q;
  Model model;
  Gpu gpu;
  Workload workload;
  MemoryOptions memory;
  MemoryOptions engine_memory;  // --simulate: the engine's options, for its block pool
};

ValidateInputs validate_inputs(const ValidateOptions& o, const Registry& registry) {
  ValidateInputs in;
  in.q = o.q;
  QueryOptions& q = in.q;
  if (q.model.empty()) q.model = "llama-3.1-8b";
  if (q.weight_dtype.empty()) q.weight_dtype = "bf16";  // the reference linears run in bf16
  // The reference kernels' activations are 16-bit: a wider --dtype would price work they do not do.
  if (const std::optional<DType> d = parse_model_dtype(q.dtype); d && info(*d).bits != 16)
    throw Error("--dtype " + q.dtype + ": validate runs its reference kernels with 16-bit activations (leave it auto, "
                "or give bfloat16 or float16)");
  if (q.gpu.empty()) q.gpu = registry.has_gpu("h100-sxm-calibrated") ? "h100-sxm-calibrated" : "h100-sxm";
  in.model = model_of(q, registry, q.model);
  in.gpu = registry.resolve_gpu(q.gpu);
  in.workload = workload_of(q);
  // --simulate's scheduler takes its block pool from the engine asked for (default vllm; ideal has none).
  if (o.simulate) {
    QueryOptions engine = q;
    if (engine.engine == "ideal") engine.engine.clear();
    in.engine_memory = memory_options_of(engine, in.model, in.gpu, registry);
  }
  q.engine = "ideal";  // validate times kernels: an engine's block layout does not change them
  in.memory = memory_options_of(q, in.model, in.gpu, registry);
  if (!(o.max_time_s > 0)) throw Error("--max-time must be positive");
  return in;
}

// validate --simulate: the requests, the scheduler and the step grids that cover them.
struct ScheduleSetup {
  std::vector<SimRequest> requests;
  SimConfig config;
  std::vector<gpu::StepGrid> grids;
};

ScheduleSetup schedule_setup(const ValidateOptions& o, const ValidateInputs& in) {
  const Workload& w = in.workload;
  if (o.rps.empty()) throw Error("--simulate needs --rps (the Poisson arrival rate)");
  if (w.gen < 1) throw Error("--simulate needs --gen (the tokens each request generates)");
  if (o.requests < 1 || o.requests > 100000) throw Error("--requests must be between 1 and 100,000");
  ScheduleSetup s;
  const int64_t P = w.prompt, G = w.gen;
  LengthDist lengths;
  lengths.prompt = {P, P};
  lengths.output = {G, G};
  s.requests = poisson_requests(parse_positive(o.rps, "--rps"), o.requests, o.seed, lengths);
  const EnginePlan plan = plan_engine(in.model, in.gpu, in.engine_memory, add(P, G));
  if (!plan.starts) throw Error("the engine does not start: " + plan.failure);
  s.config = engine_sim_config(plan, in.engine_memory.prefill_chunk);
  // The grid spans the batch the scheduler may run: max_num_seqs (--max-num-seqs, default 64 here).
  s.config.max_num_seqs = in.q.max_num_seqs.empty() ? 64 : parse_count(in.q.max_num_seqs, "--max-num-seqs");
  if (s.config.max_num_seqs > 256) throw Error("validate --simulate measures batches up to 256 (--max-num-seqs)");
  gpu::StepGrid d{"decode", {}, {}, {}, {}};
  for (int64_t b = 1; b < s.config.max_num_seqs; b *= 2) d.rows.push_back(b);
  d.rows.push_back(s.config.max_num_seqs);
  if (d.rows.size() < 2) d.rows.push_back(2);
  // A decoding sequence holds P + 1 .. P + G - 1 tokens.
  d.cols = {P, P + std::max<int64_t>(1, G / 2), P + std::max<int64_t>(2, G)};
  // Prefill passes: up to the prompts one token budget holds (and 1 more for a chunk), chunks of P/16 .. P tokens.
  gpu::StepGrid p{"prefill", {}, {}, {}, {}};
  const int64_t whole = std::max<int64_t>(1, s.config.max_num_batched_tokens / std::max<int64_t>(1, P)) + 1;
  for (int64_t n = 1; n < whole; n *= 2) p.rows.push_back(n);
  p.rows.push_back(whole);
  if (p.rows.size() < 2) p.rows.push_back(2);
  for (const int64_t div : {16, 4, 2, 1})
    if (P / div >= 16 && (p.cols.empty() || P / div > p.cols.back())) p.cols.push_back(P / div);
  if (p.cols.size() < 2) throw Error("--simulate needs a prompt of at least 32 tokens");
  s.grids = {d, p};
  return s;
}

#if KVPLAN_HAVE_CUDA
// The same requests through the same scheduler with kvplan's step times and with the measured grids.
void run_schedule(const ValidateInputs& in, const ScheduleSetup& s, uint64_t seed, double rate, gpu::ValidateReport& rep) {
  const KvplanStepCost model_cost(in.model, in.gpu, in.memory);
  StepTable tables[2];
  for (size_t g = 0; g < rep.grids.size() && g < 2; ++g) {
    gpu::StepGrid& grid = rep.grids[g];
    grid.predicted_s.assign(grid.rows.size(), std::vector<double>(grid.cols.size(), 0));
    for (size_t i = 0; i < grid.rows.size(); ++i)
      for (size_t k = 0; k < grid.cols.size(); ++k)
        grid.predicted_s[i][k] = grid.what == "decode"
                                     ? model_cost.decode_s(grid.rows[i], mul(grid.rows[i], grid.cols[k]))
                                     : model_cost.prefill_s(grid.rows[i], mul(grid.rows[i], grid.cols[k]), 0);
    tables[g] = StepTable{grid.rows, grid.cols, grid.measured_s};
  }
  const TableStepCost measured_cost(tables[0], tables[1]);
  gpu::ScheduleCheck& sc = rep.schedule;
  sc.requests = static_cast<int64_t>(s.requests.size());
  sc.prompt = s.requests.front().prompt;
  sc.output = s.requests.front().output;
  sc.rate_rps = rate;
  sc.seed = seed;
  sc.max_num_seqs = s.config.max_num_seqs;
  sc.max_num_batched_tokens = s.config.max_num_batched_tokens;
  for (const StepCost* cost : {static_cast<const StepCost*>(&model_cost), static_cast<const StepCost*>(&measured_cost)}) {
    const SimResult r = simulate(s.requests, s.config, *cost);
    gpu::ScheduleRun run;
    run.steps = cost == &model_cost ? "kvplan" : "measured";
    run.ttft_p50_s = r.ttft_s.p50;
    run.ttft_p90_s = r.ttft_s.p90;
    run.ttft_p99_s = r.ttft_s.p99;
    run.tpot_p50_s = r.tpot_s.p50;
    run.tpot_p90_s = r.tpot_s.p90;
    run.tpot_p99_s = r.tpot_s.p99;
    run.output_tokens_per_s = r.output_tokens_per_s;
    run.span_s = r.span_s;
    run.steps_run = r.steps;
    sc.runs.push_back(run);
  }
}

// The whole prefills validate times: the --prompt given, else 1K, 4K, 16K and 32K tokens within the
// model's context.
std::vector<int64_t> prefill_lengths(const QueryOptions& q, const Workload& w, const Model& m) {
  if (!q.prompt.empty()) return {w.prompt};
  std::vector<int64_t> out;
  for (const int64_t t : {1024, 4096, 16384, 32768})
    if (m.max_context <= 0 || t <= m.max_context) out.push_back(t);
  return out;
}
#endif


void run_validate_command(const ValidateOptions& o, Globals& globals) {
  const Registry registry = globals.registry();
  const ValidateInputs in = validate_inputs(o, registry);
  std::optional<ScheduleSetup> schedule;
  if (o.simulate) schedule = schedule_setup(o, in);
#if !KVPLAN_HAVE_CUDA
  globals.exit_status = run_on_gpu_helper("validate", globals);
#else
  const QueryOptions& q = in.q;
  gpu::ValidateRequest r;
  r.model = in.model;
  r.gpu = in.gpu;
  const Workload& w = in.workload;
  const MemoryOptions& mo = in.memory;
  r.cache = mo.cache;
  r.batch = w.batch;
  r.context = w.context;
  r.prompt = w.prompt;
  r.check = !o.no_check;
  r.in_step = o.in_step;
  r.max_time_per_item_s = o.max_time_s;
  // The step's kernels run as without an offload; the offload cases add the tier's copies.
  MemoryOptions plain = mo;
  plain.offload = Offload{};
  const DecodeStep d = decode_step(r.model, r.gpu, w.batch, w.context, plain);
  for (const auto& c : d.components) r.predicted.push_back({c.name, c.time_s, c.bytes});
  r.predicted_step_s = d.time_s;
  if (mo.offload.enabled()) {
    if (mo.offload.mode != OffloadMode::stream)
      throw Error("validate times stream offload (decode reading KV from the tier); reload is prefill-side");
    // Whole tokens of every sequence in every full-attention layer, as the copies move them.
    const int64_t full_bpt = memory_model(r.model, mo).kv.full_bytes_per_token;
    const DecodeStep asked = decode_step(r.model, r.gpu, w.batch, w.context, mo);
    r.offload_tokens = asked.offload && full_bpt > 0 ? asked.offload->link_bytes / (w.batch * full_bpt) : 0;
    if (r.offload_tokens < 1) throw Error("validate: the offload holds less than one token per sequence");
    MemoryOptions tokens = mo;
    tokens.offload.fraction = 0;
    tokens.offload.bytes = r.offload_tokens * w.batch * full_bpt;
    for (const OffloadOverlap overlap : {OffloadOverlap::prefetch, OffloadOverlap::on_demand}) {
      tokens.offload.overlap = overlap;
      const DecodeStep t = decode_step(r.model, r.gpu, w.batch, w.context, tokens);
      r.predicted_link_s = t.offload->link_time_s;
      (overlap == OffloadOverlap::prefetch ? r.predicted_prefetch_s : r.predicted_on_demand_s) = t.time_s;
    }
  }
  // Prefill attention: kvplan's attention phase rate (s per FLOP) at the prompt length run here.
  const PrefillResult p = prefill(r.model, r.gpu, 1, std::min<int64_t>(w.prompt > 0 ? w.prompt : w.context, 16384), mo);
  for (const auto& ph : p.phases)
    if (ph.name == "attention" && ph.flops > 0) r.prefill_attention_s_per_flop = ph.time_s / ph.flops;
  // Whole prefills, batch 1, in one pass (max_num_batched_tokens at least the prompt, as the GPU runs them).
  if (!o.no_prefill)
    for (const int64_t tokens : prefill_lengths(q, w, r.model)) {
      MemoryOptions one_pass = mo;
      one_pass.prefill_chunk = std::max(mo.prefill_chunk, tokens);
      const PrefillResult pr = prefill(r.model, r.gpu, 1, tokens, one_pass);
      gpu::PrefillCase pc;
      pc.tokens = tokens;
      pc.predicted_s = pr.time_s;
      for (const auto& ph : pr.phases) pc.phases.push_back({ph.name, ph.time_s, ph.bytes});
      r.prefills.push_back(pc);
    }
  if (schedule) r.grids = schedule->grids;
  gpu::ValidateReport rep = gpu::run_validate(r, ProgressLine{});
  if (schedule) run_schedule(in, *schedule, o.seed, parse_positive(o.rps, "--rps"), rep);
  if (q.format == "json") print(json_text(gpu::to_json(rep)));
  else print(gpu::render_table(rep));
  for (const auto& c : rep.correctness)
    if (!c.pass()) globals.exit_status = 1;
#endif
}

}  // namespace

void setup_validate(CLI::App* sub, Globals& globals) {
  auto o = std::make_shared<ValidateOptions>();
  add_query_options(sub, o->q, false);
  add_format_option(sub, o->q.format, {"table", "json"});
  sub->add_flag("--no-check", o->no_check, "Skip the kernel correctness checks");
  sub->add_flag("--no-prefill", o->no_prefill,
                "Skip the whole prefills (batch 1 at --prompt, else 1K, 4K, 16K and 32K tokens)");
  sub->add_flag("--in-step", o->in_step,
                "Also time the decode step without each component: the whole step less that is the component's cost "
                "inside the step, waits on its neighbours included (rows 'in step: NAME')");
  sub->add_option("--max-time", o->max_time_s, "Measured-time cap per timed item, seconds")->capture_default_str();
  sub->add_flag("--simulate", o->simulate,
                "Also measure decode steps and prefill passes on a grid and run --requests Poisson requests of --prompt + "
                "--gen tokens through the scheduler with kvplan's step times and with the measured ones");
  sub->add_option("--rps", o->rps, "With --simulate: the arrival rate, requests per second");
  sub->add_option("--requests", o->requests, "With --simulate: requests to simulate")->capture_default_str();
  sub->add_option("--seed", o->seed, "With --simulate: the arrivals' seed")->capture_default_str();
  sub->callback([o, &globals, sub] {
    if (!o->simulate && (!o->rps.empty() || sub->count("--requests") > 0 || sub->count("--seed") > 0))
      throw Error("--rps, --requests and --seed set up the schedule check: add --simulate");
    run_validate_command(*o, globals);
  });
}

}  // namespace kvplan::cli
