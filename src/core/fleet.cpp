#include "core/fleet.h"

#include <algorithm>
#include <cmath>

#include "core/checked.h"
#include "core/engine.h"
#include "core/error.h"
#include "core/kv_cache.h"
#include "core/parallel.h"
#include "core/prefill.h"

namespace kvplan {

const char* name(FitMode m) {
  switch (m) {
    case FitMode::batch: return "batch";
    case FitMode::context: return "context";
  }
  return "?";
}

const char* name(FitBinds b) {
  switch (b) {
    case FitBinds::memory: return "memory";
    case FitBinds::weights: return "weights";
    case FitBinds::max_context: return "max_context";
    case FitBinds::max_model_len: return "max_model_len";
    case FitBinds::engine_start: return "engine_start";
    case FitBinds::unbounded: return "unbounded";
  }
  return "?";
}

const char* name(PlanBinds b) {
  switch (b) {
    case PlanBinds::memory: return "memory";
    case PlanBinds::tpot: return "tpot";
    case PlanBinds::demand: return "demand";
  }
  return "?";
}

namespace {
// The engine's answer replaces the ideal one: batch mode plans at max_model_len = the context (or
// --max-model-len); context mode at --max-model-len, else the model's maximum.
void fit_under_engine(const Model& model, const Gpu& gpu, const MemoryOptions& opt, FitResult& r) {
  // A size past 64 bits (a context of 2^62 tokens) names the length it came from.
  const auto plan_at = [&](int64_t max_len) {
    try {
      return plan_engine(model, gpu, opt, max_len);
    } catch (const Error& e) {
      throw Error(std::string(e.what()) + " (max_model_len " + std::to_string(max_len) + " tokens)");
    }
  };
  if (r.mode == FitMode::batch) {
    const int64_t max_len = opt.engine.max_model_len.value_or(r.context);
    if (r.context > max_len)
      throw Error("context " + std::to_string(r.context) + " exceeds --max-model-len " + std::to_string(max_len) +
                  " (the engine rejects longer requests)");
    r.engine = plan_at(max_len);
    r.batch = r.engine->starts ? requests_that_fit(*r.engine, r.context) : 0;
    r.binds = r.engine->starts ? FitBinds::memory : FitBinds::engine_start;
    return;
  }
  const int64_t max_len = opt.engine.max_model_len.value_or(model.max_context);
  if (max_len <= 0) throw Error("model '" + model.id + "' states no maximum context: set --max-model-len");
  r.engine = plan_at(max_len);
  r.unbounded = false;
  MemoryPlan m;
  try {
    apply_engine(m, *r.engine, r.batch, max_len);
  } catch (const Error& e) {
    throw Error(std::string(e.what()) + " (batch " + std::to_string(r.batch) + ")");
  }
  r.context = m.max_context.value_or(0);
  r.binds = !r.engine->starts          ? FitBinds::engine_start
            : r.context == max_len ? FitBinds::max_model_len
                                   : FitBinds::memory;
}
}  // namespace

FitResult fit(const Model& model, const Gpu& gpu, std::optional<int64_t> context, std::optional<int64_t> batch,
              const MemoryOptions& opt) {
  if (context.has_value() == batch.has_value()) throw Error("fit needs exactly one of --context and --batch");
  check_model(model);
  check_gpu(gpu);
  check_tensor_parallel(model, opt.cache.tp);
  const MemoryModel mm = memory_model(model, opt);
  FitResult r;
  r.usable_bytes = usable_bytes(gpu.memory_bytes, opt.gpu_memory_utilization);
  const auto weights_leave_room = [&] { return max_batch_at(mm, r.usable_bytes, 1) > 0; };
  if (context) {
    if (*context < 1) throw Error("context must be at least 1 token");
    r.mode = FitMode::batch;
    r.context = *context;
    r.batch = max_batch_at(mm, r.usable_bytes, r.context);
    // No batch: the weights bind if they leave no room for one token, else this context's own cache.
    r.binds = r.batch > 0 || weights_leave_room() ? FitBinds::memory : FitBinds::weights;
  } else {
    if (*batch < 1) throw Error("batch must be at least 1");
    r.mode = FitMode::context;
    r.batch = *batch;
    const std::optional<int64_t> n = max_context_at(mm, r.usable_bytes, r.batch);
    r.unbounded = !n.has_value();
    if (!n && model.max_context <= 0) {
      r.binds = FitBinds::unbounded;
      return r;  // no point to report: any context fits
    }
    r.context = n.value_or(model.max_context);
    r.binds = r.context > 0 || weights_leave_room() ? FitBinds::memory : FitBinds::weights;
    if (model.max_context > 0 && (!n || *n > model.max_context)) {
      r.context = model.max_context;
      r.binds = FitBinds::max_context;
    }
  }
  if (opt.engine.profile.kind != EngineKind::ideal) fit_under_engine(model, gpu, opt, r);
  if (opt.lengths) {
    // The most requests whose p99 cache fits, and the sizes there: in kvplan's bytes, or the
    // engine's blocks (its plan above, at max_model_len).
    auto in_use = [&](int64_t requests) {
      return r.engine ? engine_in_use(*r.engine, *opt.lengths, requests)
                      : kv_in_use(mm, *opt.lengths, r.usable_bytes, requests);
    };
    const KvInUse most = in_use(1);
    r.in_use = most.paged_max_requests > 1 ? in_use(most.paged_max_requests) : most;
  }
  if (r.batch > 0 && r.context > 0) {
    r.memory = plan_memory(mm, gpu.memory_bytes, opt.gpu_memory_utilization, r.batch, r.context);
    if (r.engine) apply_engine(r.memory, *r.engine, r.batch, r.context);
    const int64_t sequences = mul(r.batch, opt.sharing.branches);  // every branch decodes
    r.decode = decode_step(model, gpu, sequences, r.context, opt);
    r.speculative = speculative_decode(model, gpu, sequences, r.context, opt);
  }
  return r;
}

namespace {

// Smallest x in [1, hi] with pred(x), pred monotone false..true and pred(hi) true.
template <typename Pred>
int64_t smallest_true(int64_t hi, Pred pred) {
  int64_t lo = 0;  // pred(lo) false by convention
  while (hi - lo > 1) {
    const int64_t mid = lo + (hi - lo) / 2;
    (pred(mid) ? hi : lo) = mid;
  }
  return hi;
}

constexpr int64_t kBatchLimit = int64_t{1} << 20;  // beyond any engine's max_num_seqs

PlanOption plan_option(const Model& model, const Gpu& gpu, const PlanRequest& q, const MemoryOptions& base,
                       const Layout& l) {
  PlanOption o;
  o.tp = l.tp;
  o.pp = l.pp;
  o.dp = l.dp;
  o.ep = l.ep;
  const MemoryOptions opt = with_layout(base, l);
  o.gpus_per_replica = layout_gpus(l.tp, l.pp, opt.parallel);
  try {
    check_tensor_parallel(model, l.tp);
    check_layout(model, l.tp, l.pp, opt.parallel);
  } catch (const Error& e) {
    o.reason = e.what();
    return o;
  }
  const int64_t context = add(q.prompt, q.gen);
  if (opt.lengths && opt.engine.profile.kind != EngineKind::ideal) {
    // The engine's pool at max_model_len (default: the longest request), its blocks at the p99.
    const int64_t longest = longest_request(*opt.lengths);
    const EnginePlan plan = plan_engine(model, gpu, opt, opt.engine.max_model_len.value_or(longest));
    o.max_batch_memory = std::min(engine_in_use(plan, *opt.lengths, 1).paged_max_requests, kBatchLimit);
  } else if (opt.lengths) {  // the most requests whose p99 cache fits: contiguous reservations, else paged blocks
    const KvInUse u =
        kv_in_use(memory_model(model, opt), *opt.lengths, usable_bytes(gpu.memory_bytes, opt.gpu_memory_utilization), 1);
    o.max_batch_memory = std::min(
        opt.sharing.allocation == Allocation::contiguous ? u.contiguous_max_requests : u.paged_max_requests, kBatchLimit);
  } else {
    o.max_batch_memory = std::min(max_batch_under_engine(model, gpu, opt, context), kBatchLimit);
  }
  if (o.max_batch_memory == 0) {
    o.reason = opt.lengths ? "weights and one request at the length distributions' p99 do not fit in memory"
                           : "weights and one sequence of " + std::to_string(context) + " tokens do not fit in memory";
    return o;
  }
  const DecodeModel dm(model, gpu, opt);
  std::optional<SpeculativeModel> spec;
  if (!opt.engine.speculative_method.empty() && opt.engine.acceptance) spec.emplace(model, gpu, opt);
  o.ttft_s = PrefillModel(model, gpu, opt).run(1, q.prompt).time_s;
  const int64_t decode_context = q.prompt + ceil_div(q.gen, 2);  // the average context over the generation
  const double gen = static_cast<double>(q.gen);
  // A request's branches decode side by side: b requests are b x branches sequences of the step.
  auto step_s = [&](int64_t b) {
    const int64_t n = mul(b, opt.sharing.branches);
    return spec ? spec->at(n, decode_context).step_time_s : dm.step(n, decode_context).time_s;
  };
  // Time per output token of a sequence: a speculative step yields acceptance_length tokens.
  auto token_s = [&](int64_t b) {
    const int64_t n = mul(b, opt.sharing.branches);
    return spec ? spec->at(n, decode_context).time_per_output_token_s : dm.step(n, decode_context).time_s;
  };
  auto cycle_s = [&](int64_t b) { return gen * token_s(b) + static_cast<double>(b) * o.ttft_s; };
  auto tpot_s = [&](int64_t b) { return cycle_s(b) / gen; };
  if (q.ttft_slo_s && o.ttft_s > *q.ttft_slo_s) {
    o.reason = "prefill of one prompt takes longer than the TTFT SLO";
    return o;
  }
  if (q.tpot_slo_s && tpot_s(1) > *q.tpot_slo_s) {
    o.reason = "a decode step at batch 1 takes longer than the TPOT SLO";
    return o;
  }
  o.max_batch = o.max_batch_memory;
  if (q.tpot_slo_s && tpot_s(o.max_batch) > *q.tpot_slo_s)  // TPOT grows with the batch
    o.max_batch = smallest_true(o.max_batch, [&](int64_t b) { return tpot_s(b) > *q.tpot_slo_s; }) - 1;
  // A replica's dp ranks each run batch b: dp x b / T(b) requests/s.
  const double ranks = static_cast<double>(l.dp);
  auto replica_rps = [&](int64_t b) { return ranks * static_cast<double>(b) / cycle_s(b); };
  o.replica_rps = replica_rps(o.max_batch);
  const double replicas = std::ceil(q.rps / o.replica_rps);
  if (!(replicas < 0x1p40)) throw Error("--rps needs more than 2^40 replicas: not a fleet kvplan can plan");
  o.replicas = std::max<int64_t>(1, static_cast<int64_t>(replicas));
  o.gpus = mul(o.replicas, o.gpus_per_replica);
  // The batch each of a replica's ranks runs: the smallest that carries its share (requests/s grows with b).
  const double share = q.rps / static_cast<double>(o.replicas);
  o.batch = smallest_true(o.max_batch, [&](int64_t b) { return replica_rps(b) >= share; });
  o.step_time_s = step_s(o.batch);
  o.tpot_s = tpot_s(o.batch);
  if (o.replicas == 1 && o.replica_rps > q.rps) o.binds = PlanBinds::demand;
  else o.binds = o.max_batch == o.max_batch_memory ? PlanBinds::memory : PlanBinds::tpot;
  o.feasible = true;
  return o;
}

}  // namespace

MemoryOptions with_layout(MemoryOptions base, const Layout& l) {
  base.cache.tp = l.tp;
  base.engine.pipeline_parallel_size = l.pp;
  base.parallel.dp = l.dp;
  base.parallel.ep = l.ep;
  if (l.ep == 1) base.parallel.redundant_experts = 0;
  return base;
}

std::vector<int64_t> tp_within_node(int64_t gpus_per_node) {
  std::vector<int64_t> out;
  for (int64_t tp = 1; tp <= gpus_per_node; tp *= 2) out.push_back(tp);
  return out;
}

std::vector<Layout> layout_candidates(const Model& model, const PlanRequest& q, const MemoryOptions& base) {
  std::vector<Layout> out;
  const int64_t most = q.max_gpus_per_replica;
  const int64_t max_pp = base.engine.profile.kind == EngineKind::ideal ? 1 : static_cast<int64_t>(model.layers.size());
  for (int64_t tp : q.tp_candidates)
    for (int64_t pp = 1; pp <= max_pp && tp * pp <= most; pp *= 2)
      for (int64_t dp = 1; tp * pp * dp <= most; dp *= 2)
        for (int64_t ep : tp * dp > 1 ? std::vector<int64_t>{1, tp * dp} : std::vector<int64_t>{1}) {
          try {
            check_layout(model, tp, pp, with_layout(base, {tp, pp, dp, ep}).parallel);
          } catch (const Error&) {
            continue;  // ep over a dense model, experts that do not divide, more stages than layers
          }
          out.push_back({tp, pp, dp, ep});
        }
  return out;
}

void mark_pareto(std::vector<PlanOption>& options) {
  for (PlanOption& o : options) {
    o.pareto = o.feasible;
    for (const PlanOption& other : options)
      if (o.pareto && other.feasible && other.gpus <= o.gpus && other.tpot_s <= o.tpot_s &&
          (other.gpus < o.gpus || other.tpot_s < o.tpot_s))
        o.pareto = false;
  }
}

LengthDist fixed_lengths(int64_t prompt, int64_t gen) {
  LengthDist d;
  d.prompt = {prompt, prompt};
  d.output = {gen, gen};
  d.prompt_source = "fixed:" + std::to_string(prompt);
  d.output_source = "fixed:" + std::to_string(gen);
  return d;
}

namespace {
// One option's engines under plan --simulate: the engine's plan at the option's layout, and runs of
// one engine's share of the requests at a number of replicas.
class OptionSimulator {
 public:
  OptionSimulator(const Model& model, const Gpu& gpu, const FleetPlan& plan, const PlanOption& o,
                  const MemoryOptions& base, const PlanSimulation& setup)
      : model_(model), gpu_(gpu), plan_(plan), o_(o), opt_(with_layout(base, {o.tp, o.pp, o.dp, o.ep})), setup_(setup),
        engine_(plan_engine(model, gpu, opt_, opt_.engine.max_model_len.value_or(longest_request(setup.arrivals.lengths)))) {}

  const EnginePlan& engine() const { return engine_; }

  PlanSimulation run(int64_t replicas) const {
    PlanSimulation s = setup_;
    s.replicas = replicas;
    s.engines = mul(replicas, o_.dp);
    const double r = static_cast<double>(replicas), e = static_cast<double>(s.engines);
    switch (s.arrivals.kind) {
      case ArrivalsKind::poisson:
        s.arrivals.rate_rps = plan_.request.rps / e;
        s.rps_per_replica = plan_.request.rps / r;
        s.rps_per_engine = s.arrivals.rate_rps;
        break;
      case ArrivalsKind::trace: {
        s.arrivals.replicas = s.engines;
        const std::optional<double> rate = trace_rate_rps(s.arrivals.lengths, s.arrivals.requests);
        if (rate) {
          s.rps_per_replica = *rate / r;
          s.rps_per_engine = *rate / e;
        }
        s.trace_requests = s.arrivals.requests.value_or(static_cast<int64_t>(s.arrivals.lengths.trace.size()));
        break;
      }
    }
    s.max_num_seqs = engine_.max_num_seqs;
    s.pool_blocks = engine_.num_gpu_blocks;
    s.block_tokens = engine_.block_size;
    s.result = simulate_engine(model_, gpu_, opt_, engine_, s.arrivals, plan_.request.ttft_slo_s, plan_.request.tpot_slo_s);
    return s;
  }

  bool meets(const SimResult& r) const {
    const PlanRequest& q = plan_.request;
    return (!q.ttft_slo_s || r.ttft_s.p99 <= *q.ttft_slo_s) && (!q.tpot_slo_s || r.tpot_s.p99 <= *q.tpot_slo_s);
  }

  // From the closed form's replicas up to `most`: the fewest whose run meets the SLOs (steps
  // doubling, then halving back), or the most tried.
  SimulatedOption search(int64_t most) const {
    SimulatedOption out;
    auto record = [&](int64_t replicas) {
      const SimResult r = run(replicas).result;
      ++out.simulations;
      const bool ok = meets(r);
      if (ok || !out.meets) {
        out.meets = ok;
        out.replicas = replicas;
        out.ttft_p99_s = r.ttft_s.p99;
        out.tpot_p99_s = r.tpot_s.p99;
      }
      return ok;
    };
    const int64_t first = o_.replicas;
    int64_t miss = first, hit = 0;
    if (record(first)) hit = first;
    for (int64_t step = 1; hit == 0 && miss < most; step *= 2) {
      const int64_t r = std::min(add(miss, step), most);
      if (record(r)) hit = r;
      else miss = r;
    }
    while (hit > 0 && hit - miss > 1) {  // the fewest between the last miss and the first hit
      const int64_t mid = miss + (hit - miss) / 2;
      if (record(mid)) {
        hit = mid;
      } else {
        miss = mid;
      }
    }
    out.gpus = mul(out.replicas, o_.gpus_per_replica);
    return out;
  }

 private:
  const Model& model_;
  const Gpu& gpu_;
  const FleetPlan& plan_;
  const PlanOption& o_;
  const MemoryOptions opt_;
  const PlanSimulation& setup_;
  const EnginePlan engine_;
};
}  // namespace

void simulate_plan(const Model& model, const Gpu& gpu, FleetPlan& plan, const MemoryOptions& base, PlanSimulation& sim) {
  if (base.engine.profile.kind == EngineKind::ideal)
    throw Error("--simulate runs an engine's scheduler and block pool: use --engine vllm or sglang");
  if (plan.best < 0) throw Error("--simulate needs a feasible plan: no option carries the load");
  plan.simulated_best = -1;
  // Branch and bound: options in the closed form's order (fewest GPUs, then the lower TPOT); an option
  // runs only while it could take no more GPUs than the best found (its closed-form replicas are the
  // fewest it may need); at equal GPUs the lower p99 TPOT wins.
  std::vector<size_t> order;
  for (size_t i = 0; i < plan.options.size(); ++i)
    if (plan.options[i].feasible) order.push_back(i);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const PlanOption &x = plan.options[a], &y = plan.options[b];
    return x.gpus < y.gpus || (x.gpus == y.gpus && x.tpot_s < y.tpot_s);
  });
  for (size_t i : order) {
    PlanOption& o = plan.options[i];
    int64_t most = std::max(mul(o.replicas, kMaxSimulatedReplicasFactor), add(o.replicas, 8));
    const SimulatedOption* best =
        plan.simulated_best >= 0 ? &*plan.options[static_cast<size_t>(plan.simulated_best)].simulated : nullptr;
    if (best) {  // no more GPUs than the best found
      most = std::min(most, best->gpus / o.gpus_per_replica);
      if (most < o.replicas) continue;  // not simulated: it cannot take as few GPUs
    }
    const OptionSimulator s(model, gpu, plan, o, base, sim);
    if (!s.engine().starts) continue;  // at the simulation's max_model_len; not simulated
    o.simulated = s.search(most);
    const SimulatedOption& n = *o.simulated;
    if (n.meets && (!best || n.gpus < best->gpus || n.tpot_p99_s < best->tpot_p99_s))
      plan.simulated_best = static_cast<int>(i);
  }
  // The run shown: the simulated choice at its replicas, else the closed form's at its own.
  sim.option = plan.simulated_best >= 0 ? plan.simulated_best : plan.best;
  const PlanOption& shown = plan.options[static_cast<size_t>(sim.option)];
  const OptionSimulator s(model, gpu, plan, shown, base, sim);
  if (!s.engine().starts) throw Error("--simulate: the engine does not start: " + s.engine().failure);
  sim = s.run(shown.simulated && shown.simulated->meets ? shown.simulated->replicas : shown.replicas);
  sim.option = plan.simulated_best >= 0 ? plan.simulated_best : plan.best;
}

FleetPlan plan_fleet(const Model& model, const Gpu& gpu, const PlanRequest& q, const MemoryOptions& base) {
  check_model(model);
  check_gpu(gpu);
  if (q.prompt < 1 || q.gen < 1) throw Error("plan needs --prompt and --gen of at least 1 token");
  if (!(q.rps > 0)) throw Error("--rps must be positive");
  FleetPlan p;
  p.request = q;
  p.engine = base.engine.profile.kind;
  if (p.engine != EngineKind::ideal) p.engine_version = base.engine.profile.version;
  p.usd_per_gpu_hour = gpu.price.usd_per_gpu_hour;
  const bool search = q.max_gpus_per_replica > 0;
  std::vector<Layout> layouts;
  if (search) {
    layouts = layout_candidates(model, q, base);
  } else {
    for (int64_t tp : q.tp_candidates)
      layouts.push_back({tp, base.engine.pipeline_parallel_size, base.parallel.dp, base.parallel.ep});
  }
  for (const Layout& layout : layouts) {
    PlanOption o = plan_option(model, gpu, q, base, layout);
    if (o.feasible && p.usd_per_gpu_hour > 0) {
      const double usd_per_hour = p.usd_per_gpu_hour * static_cast<double>(o.gpus);
      o.usd_per_hour = usd_per_hour;
      // Served: the requested rate; at capacity: every replica at its largest batch. Each of a
      // request's branches generates `gen` tokens.
      const double gen = static_cast<double>(q.gen) * static_cast<double>(base.sharing.branches);
      o.usd_per_million_output_tokens = usd_per_million(usd_per_hour, q.rps * gen);
      o.usd_per_million_output_tokens_at_capacity =
          usd_per_million(usd_per_hour, static_cast<double>(o.replicas) * o.replica_rps * gen);
      o.usd_per_million_tokens = usd_per_million(usd_per_hour, q.rps * (static_cast<double>(q.prompt) + gen));
    }
    p.options.push_back(o);
  }
  for (size_t i = 0; i < p.options.size(); ++i) {
    const PlanOption& o = p.options[i];
    if (!o.feasible) continue;
    if (p.best < 0) {
      p.best = static_cast<int>(i);
      continue;
    }
    const PlanOption& b = p.options[static_cast<size_t>(p.best)];
    if (o.gpus < b.gpus || (search && o.gpus == b.gpus && o.tpot_s < b.tpot_s)) p.best = static_cast<int>(i);
  }
  mark_pareto(p.options);
  return p;
}

}  // namespace kvplan
