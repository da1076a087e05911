#include "report/disagg_report.h"

#include <fmt/format.h>

#include "report/format.h"

namespace kvplan {

namespace {
Json pool_json(const DisaggPool& p) {
  return {{"gpus_per_replica", p.gpus_per_replica}, {"batch", p.batch},   {"replica_rps", p.replica_rps},
          {"replicas", p.replicas},                 {"gpus", p.gpus}};
}
}  // namespace

Json disaggregation_to_json(const DisaggPlan& p) {
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
            {"prefill_share", p.prefill_share}};
  return j;
}

std::string render_disaggregation(const DisaggPlan& p) {
  std::string out = "\n  disaggregated (prefill and decode pools)\n";
  out += fmt::format("    KV transfer  {} per request, {} over the network\n", gib(p.kv_bytes), seconds(p.kv_transfer_s));
  out += fmt::format("    TTFT         {} (prefill {} + transfer; no queueing)\n", seconds(p.ttft_s), seconds(p.prefill_s));
  if (!p.feasible) return out + fmt::format("    infeasible   {}\n", p.reason);
  auto pool = [&](const char* name, const DisaggPool& q, const std::string& per) {
    out += fmt::format("    {:<12} {} replicas x {} GPUs = {} GPUs; {} each, {:.3f} req/s per replica\n", name,
                       group_digits(q.replicas), q.gpus_per_replica, group_digits(q.gpus), per, q.replica_rps);
  };
  pool("prefill", p.prefill, fmt::format("{} prompts per pass", p.prefill.batch));
  pool("decode", p.decode, fmt::format("batch {} at TPOT {}", p.decode.batch, seconds(p.tpot_s)));
  out += fmt::format("    GPUs         {} in all, {:.0f}% prefill (P:D = {}:{})\n", group_digits(p.prefill.gpus + p.decode.gpus),
                     100 * p.prefill_share, group_digits(p.prefill.gpus), group_digits(p.decode.gpus));
  return out;
}

}  // namespace kvplan
