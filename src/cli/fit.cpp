// `kvplan fit`: the largest batch at a context, or the longest context at a batch, that fits.
#include <memory>

#include "cli/subcommands.h"
#include "core/error.h"
#include "core/estimate.h"
#include "core/fleet.h"
#include "io/numbers.h"
#include "report/fleet_report.h"

namespace kvplan::cli {

void setup_fit(CLI::App* sub, Globals& globals) {
  auto q = std::make_shared<QueryOptions>();
  add_query_options(sub, *q);
  add_format_option(sub, q->format, {"table", "json"});
  sub->callback([q, sub, &globals] {
    const bool by_context = sub->get_option("--context")->count() > 0;
    const bool by_batch = sub->get_option("--batch")->count() > 0;
    if (by_context && by_batch) throw Error("fit takes --context (to find the batch) or --batch (to find the context), not both");
    const Registry registry = globals.registry();
    const Model model = model_of(*q, registry, q->model);
    const Gpu gpu = gpu_of(*q, registry.resolve_gpu(q->gpu));
    const MemoryOptions opt = memory_options_of(*q, model, gpu, registry);
    std::optional<int64_t> context, batch;
    if (by_batch) batch = parse_count(q->batch, "--batch");
    else context = parse_count(q->context, "--context");
    const FitResult r = fit(model, gpu, context, batch, opt);
    if (q->format == "json") print(json_text(fit_to_json(model, gpu, opt, r)));
    else print(render_fit(model, gpu, opt, r));
    warn(estimate_warnings(model, Workload{1, context.value_or(1), 0, 0}));
  });
}

}  // namespace kvplan::cli
