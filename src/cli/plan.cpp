// `kvplan plan`: GPUs (replicas x tp) for a workload of requests per second, within SLOs.
#include <memory>

#include "cli/subcommands.h"
#include "core/checked.h"
#include "core/error.h"
#include "core/estimate.h"
#include "core/fleet.h"
#include "io/numbers.h"
#include "report/fleet_report.h"

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
  sub->add_option("--rps", o->rps, "Requests per second for the whole fleet")->required();
  sub->add_option("--ttft-slo", o->ttft_slo, "Time-to-first-token objective, seconds");
  sub->add_option("--tpot-slo", o->tpot_slo, "Time-per-output-token objective, seconds");
  sub->add_flag("--simulate", o->simulate,
                "Also simulate one replica of the plan request by request (Poisson arrivals, the engine's scheduler "
                "and block pool): latency percentiles, goodput, the queue (docs/fleet.md)");
  sub->add_option("--requests", o->requests, "With --simulate: requests to simulate")->capture_default_str();
  sub->add_option("--seed", o->seed, "With --simulate: the arrivals' and lengths' seed")->capture_default_str();
  add_format_option(sub, o->q.format, {"table", "json"});
  sub->callback([o, sub, &globals] {
    const Registry registry = globals.registry();
    const Model model = registry.resolve_model(o->q.model);
    const Gpu gpu = gpu_of(o->q, registry.resolve_gpu(o->q.gpu));
    const Workload w = workload_of(o->q, false);  // plan sizes prompt + gen, not --context
    QueryOptions q = o->q;  // the engine admits prompt + gen tokens unless --max-model-len says otherwise
    const int64_t tokens = add(w.prompt, w.gen);  // each request holds prompt + gen tokens
    if (q.max_model_len.empty() && registry.resolve_engine(q.engine).kind != EngineKind::ideal)
      q.max_model_len = std::to_string(tokens);
    const MemoryOptions opt = memory_options_of(q, model, gpu, registry);
    PlanRequest r;
    r.prompt = w.prompt;
    r.gen = w.gen;
    r.rps = parse_positive(o->rps, "--rps");
    if (!o->ttft_slo.empty()) r.ttft_slo_s = parse_positive(o->ttft_slo, "--ttft-slo");
    if (!o->tpot_slo.empty()) r.tpot_slo_s = parse_positive(o->tpot_slo, "--tpot-slo");
    if (sub->get_option("--tp")->count() > 0) r.tp_candidates = {opt.cache.tp};
    if (!o->simulate && (sub->get_option("--requests")->count() > 0 || sub->get_option("--seed")->count() > 0))
      throw Error("--requests and --seed set up the simulation: add --simulate");
    const FleetPlan p = plan_fleet(model, gpu, r, opt);
    std::optional<PlanSimulation> sim;
    if (o->simulate) {
      sim.emplace();
      sim->requests = parse_count(o->requests, "--requests");
      sim->seed = static_cast<uint64_t>(parse_count(o->seed, "--seed"));
      if (opt.lengths) {
        sim->lengths = *opt.lengths;
      } else {
        sim->lengths = fixed_lengths(w.prompt, w.gen);
      }
      simulate_plan(model, gpu, p, opt, *sim);
    }
    if (o->q.format == "json") {
      Json j = plan_to_json(model, gpu, p);
      j["simulation"] = sim ? simulation_to_json(*sim) : Json(nullptr);
      print(json_text(j));
    } else {
      print(render_plan(model, gpu, p) + (sim ? render_simulation(*sim) : ""));
    }
    warn(estimate_warnings(model, Workload{1, tokens, w.prompt, w.gen}));
  });
}

}  // namespace kvplan::cli
