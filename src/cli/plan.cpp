// `kvplan plan`: GPUs (replicas x tp, or with --node replicas x a searched layout) for a workload of
// requests per second, within SLOs.
#include <memory>

#include "cli/subcommands.h"
#include "core/checked.h"
#include "core/error.h"
#include "core/estimate.h"
#include "core/disaggregate.h"
#include "core/fleet.h"
#include "core/kv_cache.h"
#include "core/parallel.h"
#include "core/simulate.h"
#include "io/files.h"
#include "io/lengths.h"
#include "io/numbers.h"
#include "report/disagg_report.h"
#include "report/fleet_report.h"
#include "report/plots.h"

namespace kvplan::cli {

namespace {
struct PlanOptions {
  QueryOptions q;
  std::string rps;
  std::string ttft_slo;
  std::string tpot_slo;
  bool simulate = false;
  std::string requests = "10000";
  std::string seed = "1";
  std::string trace;
  bool disaggregate = false;
  std::string prefill_tp;
  std::string plot;
};
}  // namespace

void setup_plan(CLI::App* sub, Globals& globals) {
  auto o = std::make_shared<PlanOptions>();
  add_query_options(sub, o->q);
  // plan sizes requests of --prompt + --gen tokens at the batch it finds: no --context or --batch.
  sub->remove_option(sub->get_option("--context"));
  sub->remove_option(sub->get_option("--batch"));
  sub->get_option("--prompt")->required()->description("Prompt tokens per request");
  sub->get_option("--gen")->required()->description("Generated tokens per request");
  sub->get_option("--node")->description(
      "Node preset (kvplan list nodes): search layouts tp x pp x dp (and expert parallelism) within --nodes of them "
      "per replica, for the cheapest that meets the SLOs and the Pareto front of GPUs against TPOT");
  sub->get_option("--nodes")->description("With --node: the most nodes one replica may span (default 1)");
  sub->add_option("--rps", o->rps,
                  "Requests per second for the whole fleet (required unless --trace gives them: its mean rate)");
  sub->add_option("--ttft-slo", o->ttft_slo, "Time-to-first-token objective, seconds");
  sub->add_option("--tpot-slo", o->tpot_slo, "Time-per-output-token objective, seconds");
  sub->add_flag("--simulate", o->simulate,
                "Also simulate every option's engines request by request (Poisson arrivals, the engine's scheduler "
                "and block pool), adding replicas until the p99 TTFT and TPOT meet the SLOs: latency percentiles, "
                "goodput, the queue, the cheapest option by simulation (docs/fleet.md)");
  sub->add_option("--requests", o->requests, "With --simulate: requests to simulate (--trace: its first; default all)")
      ->capture_default_str();
  sub->add_option("--seed", o->seed, "With --simulate: the arrivals' and lengths' seed")->capture_default_str();
  sub->add_option("--trace", o->trace,
                  "With --simulate: replay this CSV trace (prompt_tokens,output_tokens,arrival_s) instead of Poisson "
                  "arrivals, one engine taking every (replicas x dp)-th request (round robin)")
      ->type_name("FILE");
  sub->add_option("--plot", o->plot,
                  "With --simulate: also write the shown run's requests waiting and running over time as an SVG plot "
                  "to this path")
      ->type_name("FILE");
  sub->add_flag("--disaggregate", o->disaggregate,
                "Also plan prefill and decode on separate pools: each pool's replicas, the KV cache sent between "
                "them over the node's network (needs --node), TTFT and the split of GPUs (docs/fleet.md)");
  sub->add_option("--prefill-tp", o->prefill_tp,
                  "With --disaggregate: the prefill pool's tensor-parallel degree (default: searched as the "
                  "colocated layouts are, each pool taking its cheapest)");
  add_format_option(sub, o->q.format, {"table", "json"});
  sub->callback([o, sub, &globals] {
    const Registry registry = globals.registry();
    const Model model = model_of(o->q, registry, o->q.model);
    const Gpu gpu = gpu_of(o->q, registry.resolve_gpu(o->q.gpu));
    const Workload w = workload_of(o->q, false);  // plan sizes prompt + gen, not --context
    QueryOptions q = o->q;  // the engine admits prompt + gen tokens unless --max-model-len says otherwise
    const int64_t tokens = add(w.prompt, w.gen);  // each request holds prompt + gen tokens
    if (q.max_model_len.empty() && registry.resolve_engine(q.engine).kind != EngineKind::ideal)
      q.max_model_len = std::to_string(tokens);
    // plan's --nodes bounds the nodes one replica may span (estimate's fills them exactly).
    const std::string nodes = q.nodes;
    q.nodes.clear();
    if (!nodes.empty() && q.node.empty()) throw Error("--nodes needs --node (a node preset: its GPUs per node and network)");
    const MemoryOptions opt = memory_options_of(q, model, gpu, registry);
    PlanRequest r;
    r.prompt = w.prompt;
    r.gen = w.gen;
    const bool requests_given = sub->get_option("--requests")->count() > 0;
    const bool seed_given = sub->get_option("--seed")->count() > 0;
    if (!o->simulate && (requests_given || seed_given || !o->trace.empty() || !o->plot.empty()))
      throw Error("--requests, --seed, --trace and --plot set up the simulation: add --simulate");
    if (!o->trace.empty() && seed_given) throw Error("--seed draws Poisson arrivals; --trace replays its own");
    if (o->rps.empty() && o->trace.empty()) throw Error("--rps is required (or --simulate --trace FILE: the trace's mean rate)");
    // The simulation's requests: Poisson at the replica's share of --rps, or the trace replayed.
    std::optional<PlanSimulation> sim;
    if (o->simulate) {
      sim.emplace();
      Arrivals& a = sim->arrivals;
      if (requests_given || o->trace.empty()) a.requests = parse_count(o->requests, "--requests");
      if (!o->trace.empty()) {
        a.kind = ArrivalsKind::trace;
        a.lengths = parse_arrival_trace(read_text_file(o->trace), o->trace);
      } else {
        a.seed = static_cast<uint64_t>(parse_count(o->seed, "--seed"));
        a.lengths = opt.lengths ? *opt.lengths : fixed_lengths(w.prompt, w.gen);
      }
    }
    if (!o->rps.empty()) {
      r.rps = parse_positive(o->rps, "--rps");
      // At least kMinRateRps (a fleet too large is refused below, by its replicas).
      if (r.rps < kMinRateRps) throw Error("--rps: " + o->rps + " is below 1e-6 requests/s");
    } else {  // the trace's mean rate sizes the fleet
      const std::optional<double> rate = trace_rate_rps(sim->arrivals.lengths, sim->arrivals.requests);
      if (!rate) throw Error("--trace " + o->trace + ": its arrivals give no rate (one request, or all at once): give --rps");
      r.rps = *rate;
    }
    const auto slo = [](const std::string& text, const std::string& flag) {
      const double s = parse_positive(text, flag);
      if (s > 1e6) throw Error(flag + ": " + text + " seconds is past the 1e6 s an objective may be");
      return s;
    };
    if (!o->ttft_slo.empty()) r.ttft_slo_s = slo(o->ttft_slo, "--ttft-slo");
    if (!o->tpot_slo.empty()) r.tpot_slo_s = slo(o->tpot_slo, "--tpot-slo");
    if (!q.node.empty()) {  // search layouts within --nodes nodes (default 1)
      r.max_gpus_per_replica = mul(nodes.empty() ? 1 : parse_count(nodes, "--nodes"), opt.parallel.gpus_per_node);
      r.tp_candidates = tp_within_node(opt.parallel.gpus_per_node);
    }
    if (sub->get_option("--tp")->count() > 0) r.tp_candidates = {opt.cache.tp};
    if (!o->prefill_tp.empty() && !o->disaggregate) throw Error("--prefill-tp sizes the prefill pool: add --disaggregate");
    FleetPlan p = plan_fleet(model, gpu, r, opt);
    if (sim) simulate_plan(model, gpu, p, opt, *sim);
    if (sim && !o->plot.empty()) write_text_file(o->plot, plot_queue(sim->result.queue, simulation_caption(model, *sim)));
    std::optional<DisaggPlan> disagg;
    if (o->disaggregate) {
      // Each pool searches the colocated layouts (--node), the prefill pool's tp fixed by --prefill-tp.
      const DisaggRequest dq{r.prompt, r.gen, r.rps, r.ttft_slo_s, r.tpot_slo_s};
      PlanRequest pre = r;
      if (!o->prefill_tp.empty()) {
        const int64_t tp = parse_count(o->prefill_tp, "--prefill-tp");
        check_tensor_parallel(model, tp);
        pre.tp_candidates = {tp};
      }
      // Without --node there is no network to send the cache over: plan_disaggregated says so.
      disagg = r.max_gpus_per_replica > 0
                   ? search_disaggregated(model, gpu, dq, opt, layout_candidates(model, pre, opt),
                                          layout_candidates(model, r, opt))
                   : plan_disaggregated(model, gpu, dq, opt, opt);
    }
    if (o->q.format == "json") {
      Json j = plan_to_json(model, gpu, p);
      j["simulation"] = sim ? simulation_to_json(*sim) : Json(nullptr);
      j["disaggregation"] = disagg ? disaggregation_to_json(*disagg, p) : Json(nullptr);
      print(json_text(j));
    } else {
      print(render_plan(model, gpu, p) + (sim ? render_simulation(*sim) : "") +
            (disagg ? render_disaggregation(*disagg, p) : ""));
    }
    warn(estimate_warnings(model, Workload{1, tokens, w.prompt, w.gen}));
  });
}

}  // namespace kvplan::cli
