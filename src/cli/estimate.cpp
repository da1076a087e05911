// `kvplan estimate`: memory (and, with the timing model, speed and cost) of one deployment.
#include <memory>

#include "cli/subcommands.h"
#include "io/files.h"
#include "report/estimate_report.h"
#include "report/plots.h"

namespace kvplan::cli {

void setup_estimate(CLI::App* sub, Globals& globals) {
  auto q = std::make_shared<QueryOptions>();
  auto plot = std::make_shared<std::string>();
  add_query_options(sub, *q);
  add_format_option(sub, q->format, {"table", "json", "csv"});
  sub->add_option("--plot", *plot, "Also write the memory breakdown as an SVG plot to this path")->type_name("FILE");
  sub->callback([q, plot, &globals] {
    const Registry registry = globals.registry();
    const Model model = model_of(*q, registry, q->model);
    const Gpu gpu = gpu_of(*q, registry.resolve_gpu(q->gpu));
    const Estimate e = estimate(model, gpu, workload_of(*q), memory_options_of(*q, model, gpu, registry));
    if (q->format == "json") {
      Json j = to_json(e);
      j["warnings"] = e.warnings;
      print(json_text(j));
    }
    else if (q->format == "csv") print(render_csv({to_json(e)}));
    else print(render_table(e));
    if (!plot->empty()) write_text_file(*plot, plot_estimate(e));
    warn(e.warnings);
  });
}

}  // namespace kvplan::cli
