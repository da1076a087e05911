// `kvplan compare`: one estimate per model (--model A,B,C) and per GPU (--gpu X,Y,Z), one row each.
#include <algorithm>
#include <memory>

#include "cli/subcommands.h"
#include "io/ranges.h"
#include "report/estimate_report.h"
#include "report/fleet_report.h"

namespace kvplan::cli {

void setup_compare(CLI::App* sub, Globals& globals) {
  auto q = std::make_shared<QueryOptions>();
  add_query_options(sub, *q);
  add_format_option(sub, q->format, {"table", "json", "csv"});
  sub->callback([q, &globals] {
    const Registry registry = globals.registry();
    std::vector<Estimate> rows;
    for (const std::string& m : parse_list(q->model, "--model")) {
      const Model model = model_of(*q, registry, m);
      for (const std::string& g : parse_list(q->gpu, "--gpu")) {
        const Gpu gpu = gpu_of(*q, registry.resolve_gpu(g));
        rows.push_back(estimate(model, gpu, workload_of(*q), memory_options_of(*q, model, gpu, registry)));
      }
    }
    std::vector<Json> json;
    std::vector<std::string> warnings;
    for (const Estimate& e : rows) {
      json.push_back(to_json(e));
      for (const std::string& w : e.warnings)
        if (std::find(warnings.begin(), warnings.end(), w) == warnings.end()) warnings.push_back(w);
    }
    if (q->format == "json") print(json_text(Json(json)));
    else if (q->format == "csv") print(render_csv(json));
    else print(render_compare(rows));
    warn(warnings);
  });
}

}  // namespace kvplan::cli
