#include "report/disagg_report.h"

#include <fmt/format.h>

#include "core/checked.h"
#include "report/format.h"

namespace kvplan {

namespace {
Json pool_json(const DisaggPool& p) {
  return {{"layout", {{"tp", p.layout.tp}, {"pp", p.layout.pp}, {"dp", p.layout.dp}, {"ep", p.layout.ep}}},
          {"layouts_tried", p.layouts_tried},
          {"gpus_per_replica", p.gpus_per_replica},
          {"batch", p.batch},
          {"replica_rps", p.replica_rps},
          {"replicas", p.replicas},
          {"gpus", p.gpus}};
}

std::string layout_text(const Layout& l) {
  return fmt::format("tp {} x pp {} x dp {}{}", l.tp, l.pp, l.dp, l.ep > 1 ? fmt::format(", ep {}", l.ep) : "");
}

int64_t colocated_gpus(const FleetPlan& c) { return c.best >= 0 ? c.options[static_cast<size_t>(c.best)].gpus : 0; }
}  // namespace

Json disaggregation_to_json(const DisaggPlan& p, const FleetPlan& colocated) {
  Json j = {{"feasible", p.feasible},
            {"reason", p.feasible ? Json(nullptr) : Json(p.reason)},
            {"prefill_s", p.prefill_s},
            {"kv_transfer_bytes", p.kv_bytes},
            {"kv_transfer_s", p.kv_transfer_s},
            {"ttft_s", p.ttft_s},
            {"tpot_s", p.feasible ? Json(p.tpot_s) : Json(nullptr)},
            {"prefill", pool_json(p.prefill)},
            {"decode", pool_json(p.decode)},
            {"gpus", p.prefill.gpus + p.decode.gpus},
            {"prefill_share", p.prefill_share},
            {"colocated_gpus", colocated.best >= 0 ? Json(colocated_gpus(colocated)) : Json(nullptr)},
            {"serving", name(serving_choice(colocated, p))}};
  return j;
}

std::string render_disaggregation(const DisaggPlan& p, const FleetPlan& colocated) {
  std::string out = "\n  disaggregated (prefill and decode pools)\n";
  out += fmt::format("    KV transfer  {} per request, {} over the network\n", gib(p.kv_bytes), seconds(p.kv_transfer_s));
  out += fmt::format("    TTFT         {} (prefill {} + transfer; no queueing)\n", seconds(p.ttft_s), seconds(p.prefill_s));
  if (!p.feasible)
    return out + fmt::format("    infeasible   {}\n    choice       colocated\n", p.reason);
  auto pool = [&](const char* name, const DisaggPool& q, const std::string& per) {
    const std::string tried = q.layouts_tried > 1 ? fmt::format(", the cheapest of {} layouts", q.layouts_tried) : "";
    out += fmt::format("    {:<12} {} replica{} x ({}) = {} GPUs{}; {} each, {:.3f} req/s per replica\n", name,
                       group_digits(q.replicas), q.replicas > 1 ? "s" : "", layout_text(q.layout), group_digits(q.gpus),
                       tried, per, q.replica_rps);
  };
  pool("prefill", p.prefill, fmt::format("{} prompts per pass", p.prefill.batch));
  pool("decode", p.decode, fmt::format("batch {} at TPOT {}", p.decode.batch, seconds(p.tpot_s)));
  out += fmt::format("    GPUs         {} in all, {:.0f}% prefill (P:D = {}:{})\n", group_digits(p.prefill.gpus + p.decode.gpus),
                     100 * p.prefill_share, group_digits(p.prefill.gpus), group_digits(p.decode.gpus));
  const int64_t gpus = add(p.prefill.gpus, p.decode.gpus);
  switch (serving_choice(colocated, p)) {
    case Serving::disaggregated:
      out += colocated.best >= 0 ? fmt::format("    choice       disaggregated: {} GPUs against {} colocated\n",
                                               group_digits(gpus), group_digits(colocated_gpus(colocated)))
                                 : "    choice       disaggregated: no colocated option meets the request\n";
      break;
    case Serving::colocated:
      out += fmt::format("    choice       colocated: {} GPUs against {} disaggregated\n",
                         group_digits(colocated_gpus(colocated)), group_digits(gpus));
      break;
  }
  return out;
}

}  // namespace kvplan
