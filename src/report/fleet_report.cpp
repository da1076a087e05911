#include "report/fleet_report.h"

#include <algorithm>

#include <fmt/format.h>

#include "report/engine_report.h"
#include "report/estimate_fields.h"
#include "report/estimate_report.h"
#include "report/format.h"

namespace kvplan {

namespace {
Json optional_real(const std::optional<double>& v) { return v ? Json(*v) : Json(nullptr); }
std::string usd(const std::optional<double>& v, int digits = 2) {
  return v ? fmt::format("${:.{}f}", *v, digits) : std::string("-");
}
}  // namespace

Json fit_to_json(const Model& model, const Gpu& gpu, const MemoryOptions& opt, const FitResult& r) {
  Json j;
  j["schema_version"] = kSchemaVersion;
  j["model"] = model.id;
  j["gpu"] = gpu.id;
  j["tp"] = opt.cache.tp;
  j["gpu_memory_utilization"] = opt.gpu_memory_utilization;
  j["mode"] = name(r.mode);
  j["batch"] = r.batch;
  j["context"] = r.context;
  j["unbounded"] = r.unbounded;
  j["binds"] = name(r.binds);
  j["usable_bytes"] = r.usable_bytes;
  j["engine"] = engine_to_json(r.engine);
  j["in_use"] = nullptr;
  if (r.in_use && opt.lengths)
    for (const InUseField& f : in_use_fields()) j["in_use"][f.key] = field_json(f.get(*r.in_use, *opt.lengths));
  if (r.decode) {
    j["memory"] = {{"weights_bytes", r.memory.weights_bytes},
                   {"kv_cache_bytes", r.memory.kv_cache_bytes},
                   {"state_bytes", r.memory.state_bytes},
                   {"activation_bytes", r.memory.activation_bytes},
                   {"total_bytes", r.memory.total_bytes},
                   {"headroom_bytes", r.memory.headroom_bytes}};
    j["decode"] = {{"step_time_s", r.decode->time_s},
                   {"tokens_per_s", r.decode->tokens_per_s},
                   {"tokens_per_s_per_seq", r.decode->tokens_per_s_per_seq},
                   {"bound", r.decode->bound}};
    Json spec = Json::object();
    for (const SpeculativeField& f : speculative_fields()) spec[f.key] = field_json(f.get(opt.engine, r.speculative));
    j["decode"]["speculative"] = spec;
  }
  return j;
}

std::string render_fit(const Model& model, const Gpu& gpu, const MemoryOptions& opt, const FitResult& r) {
  std::string out = fmt::format("{} on {}{}, {} of memory usable ({})\n", model.name, gpu.name,
                                opt.cache.tp > 1 ? fmt::format(" x{} (tp)", opt.cache.tp) : "",
                                percent(opt.gpu_memory_utilization), gib(r.usable_bytes));
  if (r.binds == FitBinds::unbounded) {
    out += fmt::format("  longest context at batch {}: unbounded (memory constant in context)\n", group_digits(r.batch));
    return out;
  }
  switch (r.mode) {
    case FitMode::batch:
      // With length distributions the answer is the requests whose p99 cache fits (the "in use"
      // block below); the fixed-context batch follows as every request at --context.
      if (r.in_use) {
        const KvInUse& u = *r.in_use;
        const bool contiguous = !u.in_blocks && opt.sharing.allocation == Allocation::contiguous;
        out += fmt::format("  most requests at the length distributions' p99: {} ({})\n",
                           group_digits(contiguous ? u.contiguous_max_requests : u.paged_max_requests),
                           contiguous ? "contiguous reservations"
                                      : fmt::format("{}, {}", u.in_blocks ? "the engine's blocks" : "paged", name(u.max_method)));
      }
      out += fmt::format("  largest batch at {}context {}: {}\n", r.in_use ? "a fixed " : "", group_digits(r.context),
                         group_digits(r.batch));
      break;
    case FitMode::context:
      out += fmt::format("  longest context at batch {}: {} tokens\n", group_digits(r.batch), group_digits(r.context));
      break;
  }
  const bool per_sequence = r.mode == FitMode::batch;
  switch (r.binds) {
    case FitBinds::memory:
      if (per_sequence)
        out += r.batch > 0 ? "  binds      memory: one more sequence does not fit\n"
                           : "  binds      memory: one sequence of this context does not fit beside the weights\n";
      else
        out += r.context > 0 ? "  binds      memory: one more token per sequence does not fit\n"
                             : "  binds      memory: the batch does not fit beside the weights at one token a sequence\n";
      break;
    case FitBinds::weights:
      out += per_sequence ? "  binds      weights: they leave no room for one sequence\n"
                          : "  binds      weights: they leave no room for the batch\n";
      break;
    case FitBinds::engine_start: out += "  binds      the engine does not start: " + r.engine->failure + "\n"; break;
    case FitBinds::max_context:
      out += fmt::format("  binds      the model's max context ({} tokens){}\n", group_digits(model.max_context),
                         r.unbounded ? "; memory is constant in context" : ", before memory");
      break;
    case FitBinds::max_model_len:
      out += fmt::format("  binds      max_model_len ({} tokens), before memory\n", group_digits(r.context));
      break;
    case FitBinds::unbounded: break;  // returned above
  }
  if (r.engine) out += render_engine(*r.engine);
  if (r.in_use && opt.lengths) out += render_in_use(*r.in_use, *opt.lengths);
  if (r.decode) {
    const OffloadUse& off = r.memory.offload;
    const std::string tier =
        off.offloaded_bytes > 0 ? fmt::format(" ({} in the {} tier, staging {})", gib(off.offloaded_bytes),
                                              name(opt.offload.tier), gib(off.staging_bytes))
                                : std::string();
    out += fmt::format("  memory     weights {}, KV {}{}, state {}, activations {}, headroom {}\n", gib(r.memory.weights_bytes),
                       gib(r.memory.kv_cache_bytes), tier, gib(r.memory.state_bytes), gib(r.memory.activation_bytes),
                       gib(r.memory.headroom_bytes));
    out += fmt::format("  decode     {} per step, {:.1f} tokens/s ({:.2f} per sequence), {}-bound\n",
                       seconds(r.decode->time_s), r.decode->tokens_per_s, r.decode->tokens_per_s_per_seq, name(r.decode->bound));
    out += render_speculative(opt.engine, r.speculative);
  }
  return out;
}

Json plan_to_json(const Model& model, const Gpu& gpu, const FleetPlan& p) {
  Json j;
  j["schema_version"] = kSchemaVersion;
  j["model"] = model.id;
  j["gpu"] = gpu.id;
  j["engine"] = {{"name", name(p.engine)},
                 {"version", p.engine_version.empty() ? Json(nullptr) : Json(p.engine_version)}};
  const PlanRequest& q = p.request;
  j["request"] = {{"prompt", q.prompt},
                  {"gen", q.gen},
                  {"rps", q.rps},
                  {"ttft_slo_s", optional_real(q.ttft_slo_s)},
                  {"tpot_slo_s", optional_real(q.tpot_slo_s)}};
  j["usd_per_gpu_hour"] = p.usd_per_gpu_hour;
  const bool layouts = q.max_gpus_per_replica > 0;
  Json options = Json::array();
  for (const PlanOption& o : p.options) {
    Json row = {{"tp", o.tp}};
    if (layouts) {  // plan --node: the layout and the Pareto front
      row["pp"] = o.pp;
      row["dp"] = o.dp;
      row["ep"] = o.ep;
      row["gpus_per_replica"] = o.gpus_per_replica;
    }
    row.update(Json{
                       {"feasible", o.feasible},
                       {"reason", o.reason},
                       {"max_batch_memory", o.max_batch_memory},
                       {"max_batch", o.max_batch},
                       {"batch", o.batch},
                       {"replicas", o.replicas},
                       {"gpus", o.gpus},
                       {"ttft_s", o.ttft_s},
                       {"tpot_s", o.tpot_s},
                       {"step_time_s", o.step_time_s},
                       {"replica_rps", o.replica_rps},
                       {"binds", name(o.binds)},
                       {"usd_per_hour", optional_real(o.usd_per_hour)},
                       {"usd_per_million_output_tokens", optional_real(o.usd_per_million_output_tokens)},
                       {"usd_per_million_output_tokens_at_capacity",
                        optional_real(o.usd_per_million_output_tokens_at_capacity)},
                       {"usd_per_million_tokens", optional_real(o.usd_per_million_tokens)}});
    if (layouts) row["pareto"] = o.pareto;
    row["simulated"] = nullptr;
    if (o.simulated) {
      const SimulatedOption& s = *o.simulated;
      row["simulated"] = {{"meets", s.meets},           {"replicas", s.replicas},     {"gpus", s.gpus},
                          {"ttft_p99_s", s.ttft_p99_s}, {"tpot_p99_s", s.tpot_p99_s}, {"simulations", s.simulations}};
    }
    options.push_back(row);
  }
  if (layouts) j["request"]["max_gpus_per_replica"] = q.max_gpus_per_replica;
  j["best"] = p.best >= 0 ? options[static_cast<size_t>(p.best)] : Json(nullptr);
  j["simulated_best"] = p.simulated_best >= 0 ? options[static_cast<size_t>(p.simulated_best)] : Json(nullptr);
  j["options"] = options;
  return j;
}

namespace {
std::string cost_line(const PlanOption& b) {
  if (!b.usd_per_hour) return "";
  return fmt::format("  cost       {}/hour, {} per 1M output tokens ({} at capacity), {} per 1M tokens (prompt + output)\n",
                     usd(b.usd_per_hour), usd(b.usd_per_million_output_tokens, 3),
                     usd(b.usd_per_million_output_tokens_at_capacity, 3), usd(b.usd_per_million_tokens, 3));
}

// plan --node: one row per layout, "*" on the Pareto front of GPUs against TPOT.
std::string render_layouts(const FleetPlan& p) {
  std::string out = fmt::format("  {:>3}{:>4}{:>4}{:>4}{:>6}{:>9}{:>7}{:>7}{:>10}{:>12}{:>12}{:>10}{:>11}{:>12}{:>8}{:>7}\n",
                                "tp", "pp", "dp", "ep", "GPUs", "replicas", "total", "batch", "max batch", "TTFT", "TPOT",
                                "req/s/rep", "$/hour", "$/1M out", "binds", "front");
  for (const PlanOption& o : p.options) {
    const std::string layout = fmt::format("  {:>3}{:>4}{:>4}{:>4}{:>6}", o.tp, o.pp, o.dp, o.ep, o.gpus_per_replica);
    if (!o.feasible) {
      out += layout + "  infeasible: " + o.reason + "\n";
      continue;
    }
    out += layout + fmt::format("{:>9}{:>7}{:>7}{:>10}{:>12}{:>12}{:>10.2f}{:>11}{:>12}{:>8}{}\n", o.replicas, o.gpus,
                                o.batch, o.max_batch, seconds(o.ttft_s), seconds(o.tpot_s), o.replica_rps,
                                usd(o.usd_per_hour), usd(o.usd_per_million_output_tokens, 3), name(o.binds),
                                o.pareto ? "      *" : "");
  }
  out += "\n  GPUs: per replica (tp x pp x dp); batch: per data-parallel rank; front: * on the Pareto front of total GPUs "
         "against TPOT\n\n";
  if (p.best < 0) return out + "  no layout meets the request on this node\n";
  const PlanOption& b = p.options[static_cast<size_t>(p.best)];
  out += fmt::format("  plan       {} replica{} x (tp {} x pp {} x dp {}{}) = {} GPU{}, each rank running batch {} ({} binds at {})\n",
                     b.replicas, b.replicas > 1 ? "s" : "", b.tp, b.pp, b.dp, b.ep > 1 ? fmt::format(", ep {}", b.ep) : "",
                     b.gpus, b.gpus > 1 ? "s" : "", b.batch, name(b.binds), b.max_batch);
  return out + cost_line(b);
}
}  // namespace

namespace {
// plan --simulate: each simulated option's replicas that meet the p99 objectives, and the choice.
std::string render_simulated_options(const FleetPlan& p) {
  const PlanRequest& q = p.request;
  std::string out = "\n  simulated  ";
  if (!q.ttft_slo_s && !q.tpot_slo_s) {
    out += "each option at the closed form's replicas (no TTFT or TPOT objective to meet)\n";
  } else {
    out += "per option, the fewest replicas whose simulated p99";
    if (q.ttft_slo_s) out += fmt::format(" TTFT <= {}", seconds(*q.ttft_slo_s));
    if (q.ttft_slo_s && q.tpot_slo_s) out += " and";
    if (q.tpot_slo_s) out += fmt::format(" TPOT <= {}", seconds(*q.tpot_slo_s));
    out += "\n";
  }
  out += fmt::format("  {:>3}{:>4}{:>4}{:>4}{:>9}{:>7}{:>12}{:>12}{:>6}\n", "tp", "pp", "dp", "ep", "replicas", "total",
                     "p99 TTFT", "p99 TPOT", "runs");
  for (size_t i = 0; i < p.options.size(); ++i) {
    const PlanOption& o = p.options[i];
    if (!o.simulated) continue;
    const SimulatedOption& s = *o.simulated;
    const std::string mark = static_cast<int>(i) == p.simulated_best ? "  choice"
                             : s.meets                               ? ""
                                                                     : fmt::format("  misses up to {} replica{}", s.replicas, s.replicas > 1 ? "s" : "");
    out += fmt::format("  {:>3}{:>4}{:>4}{:>4}{:>9}{:>7}{:>12}{:>12}{:>6}{}\n", o.tp, o.pp, o.dp, o.ep,
                       s.meets ? std::to_string(s.replicas) : "-", s.meets ? std::to_string(s.gpus) : "-",
                       seconds(s.ttft_p99_s), seconds(s.tpot_p99_s), s.simulations, mark);
  }
  const auto skipped = std::count_if(p.options.begin(), p.options.end(),
                                     [](const PlanOption& o) { return o.feasible && !o.simulated; });
  if (skipped > 0)
    out += fmt::format("  ({} more not simulated: their closed form takes more GPUs than the choice)\n", skipped);
  if (p.simulated_best < 0) return out + "\n  plan (sim) no option meets the objectives at its simulated p99\n";
  const PlanOption& b = p.options[static_cast<size_t>(p.simulated_best)];
  return out + fmt::format("\n  plan (sim) {} replica{} x (tp {} x pp {} x dp {}{}) = {} GPU{}\n", b.simulated->replicas,
                           b.simulated->replicas > 1 ? "s" : "", b.tp, b.pp, b.dp,
                           b.ep > 1 ? fmt::format(", ep {}", b.ep) : "", b.simulated->gpus,
                           b.simulated->gpus > 1 ? "s" : "");
}
}  // namespace

std::string render_plan(const Model& model, const Gpu& gpu, const FleetPlan& p) {
  const PlanRequest& q = p.request;
  std::string out = fmt::format("{} on {}: {:.6g} req/s of {} prompt + {} generated tokens", model.name, gpu.name, q.rps,
                                group_digits(q.prompt), group_digits(q.gen));
  out += p.engine == EngineKind::ideal ? std::string(", engine ideal")
                                       : fmt::format(", engine {} {}", name(p.engine), p.engine_version);
  if (q.ttft_slo_s) out += fmt::format(", TTFT <= {}", seconds(*q.ttft_slo_s));
  if (q.tpot_slo_s) out += fmt::format(", TPOT <= {}", seconds(*q.tpot_slo_s));
  out += "\n\n";
  const bool simulated = std::any_of(p.options.begin(), p.options.end(), [](const PlanOption& o) { return o.simulated; });
  if (q.max_gpus_per_replica > 0) return out + render_layouts(p) + (simulated ? render_simulated_options(p) : "");
  out += fmt::format("  {:>3}{:>10}{:>9}{:>7}{:>10}{:>12}{:>12}{:>10}{:>11}{:>12}{:>10}\n", "tp", "replicas", "GPUs",
                     "batch", "max batch", "TTFT", "TPOT", "req/s/rep", "$/hour", "$/1M out", "binds");
  for (const PlanOption& o : p.options) {
    if (!o.feasible) {
      out += fmt::format("  {:>3}  infeasible: {}\n", o.tp, o.reason);
      continue;
    }
    out += fmt::format("  {:>3}{:>10}{:>9}{:>7}{:>10}{:>12}{:>12}{:>10.2f}{:>11}{:>12}{:>10}\n", o.tp, o.replicas, o.gpus,
                       o.batch, o.max_batch, seconds(o.ttft_s), seconds(o.tpot_s), o.replica_rps, usd(o.usd_per_hour),
                       usd(o.usd_per_million_output_tokens, 3), name(o.binds));
  }
  out += "\n";
  if (p.best < 0) {
    out += "  no tensor-parallel degree meets the request on this GPU\n";
    return out;
  }
  const PlanOption& b = p.options[static_cast<size_t>(p.best)];
  out += fmt::format("  plan       {} replica{} x tp {} = {} GPU{}, each running batch {} ({} binds at {})\n", b.replicas,
                     b.replicas > 1 ? "s" : "", b.tp, b.gpus, b.gpus > 1 ? "s" : "", b.batch, name(b.binds), b.max_batch);
  return out + cost_line(b) + (simulated ? render_simulated_options(p) : "");
}

namespace {
Json stats_json(const Stats& s) {
  return {{"count", s.count}, {"mean", s.mean}, {"p50", s.p50}, {"p90", s.p90}, {"p99", s.p99}, {"max", s.max}};
}
}  // namespace

namespace {
// One engine: the whole fleet's only one, or one of replicas x dp.
std::string which_engine(const PlanSimulation& s) {
  return s.engines > 1 ? fmt::format("one of {} engines ({} replica{} x dp {})", group_digits(s.engines),
                                     group_digits(s.replicas), s.replicas > 1 ? "s" : "",
                                     s.engines / std::max<int64_t>(1, s.replicas))
                       : std::string("the one engine");
}
}  // namespace

std::string simulation_caption(const Model& model, const PlanSimulation& s) {
  const Arrivals& a = s.arrivals;
  const std::string n = group_digits(static_cast<int64_t>(s.result.requests.size()));
  switch (a.kind) {
    case ArrivalsKind::poisson:
      return fmt::format("{}, {}: {} requests at {:.3f} req/s (Poisson, seed {})", model.name, which_engine(s), n,
                         s.rps_per_engine.value_or(0), a.seed);
    case ArrivalsKind::trace:
      return fmt::format("{}, {}: {} requests replayed from {}", model.name, which_engine(s), n, a.lengths.prompt_source);
  }
  return model.name;
}

Json simulation_to_json(const PlanSimulation& s) {
  const SimResult& r = s.result;
  const Arrivals& a = s.arrivals;
  const bool trace = a.kind == ArrivalsKind::trace;
  Json queue = Json::array();
  for (const QueuePoint& p : r.queue) queue.push_back({{"time_s", p.time_s}, {"waiting", p.waiting}, {"running", p.running}});
  return {{"arrivals", name(a.kind)},
          {"trace", trace ? Json(a.lengths.prompt_source) : Json(nullptr)},
          {"trace_requests", trace ? Json(s.trace_requests) : Json(nullptr)},
          {"requests", static_cast<int64_t>(r.requests.size())},
          {"seed", trace ? Json(nullptr) : Json(a.seed)},
          {"prompt_dist", a.lengths.prompt_source},
          {"gen_dist", a.lengths.output_source},
          {"replicas", s.replicas},
          {"engines", s.engines},
          {"rps_per_replica", s.rps_per_replica ? Json(*s.rps_per_replica) : Json(nullptr)},
          {"rps_per_engine", s.rps_per_engine ? Json(*s.rps_per_engine) : Json(nullptr)},
          {"max_num_seqs", s.max_num_seqs},
          {"pool_blocks", s.pool_blocks},
          {"block_tokens", s.block_tokens},
          {"latency", {{"ttft_s", stats_json(r.ttft_s)}, {"tpot_s", stats_json(r.tpot_s)}, {"e2e_s", stats_json(r.e2e_s)}}},
          {"throughput",
           {{"output_tokens_per_s", r.output_tokens_per_s}, {"requests_per_s", r.requests_per_s}, {"span_s", r.span_s}}},
          {"goodput_rps", r.goodput_rps},
          {"good_requests", r.good_requests},
          {"preemptions", r.preemptions},
          {"steps", r.steps},
          {"max_waiting", r.max_waiting},
          {"max_running", r.max_running},
          {"max_blocks_used", r.max_blocks_used},
          {"queue", queue}};
}

std::string render_simulation(const PlanSimulation& s) {
  const SimResult& r = s.result;
  const Arrivals& a = s.arrivals;
  const int64_t n = static_cast<int64_t>(r.requests.size());
  const std::string one = which_engine(s);
  std::string out = "\n";
  switch (a.kind) {
    case ArrivalsKind::poisson:
      out += fmt::format("  simulated  {}: {} requests at {:.3f} req/s (Poisson, seed {}), prompts {}, outputs {}\n", one,
                         group_digits(n), s.rps_per_engine.value_or(0), a.seed, a.lengths.prompt_source,
                         a.lengths.output_source);
      break;
    case ArrivalsKind::trace: {
      const std::string share = a.replicas > 1 ? fmt::format("{} of {} requests (1 in {}, round robin)", group_digits(n),
                                                             group_digits(s.trace_requests), a.replicas)
                                               : fmt::format("{} requests", group_digits(n));
      out += fmt::format("  simulated  {}: {} replayed from {}\n", one, share, a.lengths.prompt_source);
      out += "             arrivals and lengths as recorded" +
             (s.rps_per_engine ? fmt::format(", {:.3f} req/s on average", *s.rps_per_engine) : std::string()) + "\n";
      break;
    }
  }
  out += fmt::format("             max_num_seqs {}, pool {} blocks of {} tokens\n", group_digits(s.max_num_seqs),
                     group_digits(s.pool_blocks), s.block_tokens);
  out += fmt::format("             {:<6}{:>12}{:>12}{:>12}{:>12}{:>12}\n", "", "mean", "p50", "p90", "p99", "max");
  auto row = [&](const char* what, const Stats& st) {
    out += fmt::format("             {:<6}{:>12}{:>12}{:>12}{:>12}{:>12}\n", what, seconds(st.mean), seconds(st.p50),
                       seconds(st.p90), seconds(st.p99), seconds(st.max));
  };
  row("TTFT", r.ttft_s);
  row("TPOT", r.tpot_s);
  row("E2E", r.e2e_s);
  out += fmt::format("             {:.2f} req/s, {:.1f} output tokens/s; goodput {:.2f} req/s ({} of {} within the SLOs)\n",
                     r.requests_per_s, r.output_tokens_per_s, r.goodput_rps, group_digits(r.good_requests),
                     group_digits(n));
  out += fmt::format("             at most {} waiting and {} running, {} of {} blocks; {} preemption{}\n",
                     group_digits(r.max_waiting), group_digits(r.max_running), group_digits(r.max_blocks_used),
                     group_digits(s.pool_blocks), group_digits(r.preemptions), r.preemptions == 1 ? "" : "s");
  return out;
}

std::string render_compare(const std::vector<Estimate>& rows) {
  std::string out = fmt::format("{:<18}{:<12}{:>4}{:>11}{:>11}{:>11}{:>6}{:>10}{:>12}{:>11}{:>8}{:>11}{:>10}\n", "model", "gpu",
                                "tp", "weights", "KV/seq", "total", "fits", "max batch", "step", "tokens/s", "bound",
                                "TTFT", "$/1M out");
  for (const Estimate& e : rows) {
    const auto& m = e.memory;
    out += fmt::format("{:<18}{:<12}{:>4}{:>11}{:>11}{:>11}{:>6}{:>10}{:>12}{:>11.1f}{:>8}{:>11}{:>10}\n", e.model.id, e.gpu.id,
                       e.options.cache.tp, fmt::format("{:.2f} G", m.weights_bytes / 1073741824.0),
                       fmt::format("{:.2f} G", m.kv_bytes_per_sequence / 1073741824.0),
                       fmt::format("{:.2f} G", m.total_bytes / 1073741824.0), m.fits ? "yes" : "NO",
                       group_digits(m.max_batch), seconds(e.decode.time_s), e.decode.tokens_per_s, name(e.decode.bound),
                       seconds(e.prefill.time_s), usd(e.cost.usd_per_million_output_tokens, 3));
  }
  if (!rows.empty()) {
    const EngineProfile& engine = rows.front().options.engine.profile;
    out += engine.kind == EngineKind::ideal ? std::string("engine ideal\n")
                                            : fmt::format("engine {} {}\n", name(engine.kind), engine.version);
  }
  return out;
}

}  // namespace kvplan
