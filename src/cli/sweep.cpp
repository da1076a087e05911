// `kvplan sweep`: estimate's numbers over lists and ranges of models, GPUs, KV dtypes, tensor
// parallel degrees, contexts and batches; one row per point (CSV or JSONL), optional plot.
#include <cstdio>
#include <memory>

#include "cli/subcommands.h"
#include "core/error.h"
#include "io/files.h"
#include "io/numbers.h"
#include "io/ranges.h"
#include "report/plots.h"
#include "report/sweep_rows.h"

namespace kvplan::cli {

namespace {
struct SweepOptions {
  QueryOptions query;
  std::string columns;
  std::string plot;
  std::string plot_kind = "auto";
};

// Every (model, GPU, KV dtype, tp, branches, offloaded bytes) combination, each with the query's
// other options.
constexpr int64_t kMaxSweepCases = 4096;

std::vector<SweepCase> cases_of(const SweepOptions& o, const Registry& registry) {
  const QueryOptions& q = o.query;
  const std::vector<std::string> kv_dtypes = q.kv_dtype.empty() ? std::vector<std::string>{""} : parse_list(q.kv_dtype, "--kv-dtype");
  const std::vector<int64_t> tps = parse_range(q.tp, "--tp");
  const std::vector<std::string> models = parse_list(q.model, "--model"), gpus = parse_list(q.gpu, "--gpu");
  // KV-economy lists: one case per branch count and per offloaded amount ("0": none).
  const std::vector<std::string> branches = parse_list(q.branches, "--branches");
  const std::vector<std::string> offloads =
      q.offload_bytes.empty() ? std::vector<std::string>{""} : parse_list(q.offload_bytes, "--offload-bytes");
  // Each case holds its model: their number is bounded before any is built (the contexts and
  // batches of a case stream).
  const double n_cases = static_cast<double>(models.size()) * static_cast<double>(gpus.size()) *
                         static_cast<double>(kv_dtypes.size()) * static_cast<double>(tps.size()) *
                         static_cast<double>(branches.size()) * static_cast<double>(offloads.size());
  if (n_cases > static_cast<double>(kMaxSweepCases))
    throw Error("sweep: " + std::to_string(static_cast<int64_t>(n_cases)) + " model x GPU x KV dtype x tp x branches x offload cases, above the " +
                std::to_string(kMaxSweepCases) + " one sweep may hold; split it");
  std::vector<SweepCase> out;
  for (const std::string& model_spec : models) {
    const Model model = model_of(q, registry, model_spec);
    for (const std::string& gpu_spec : gpus) {
      const Gpu gpu = gpu_of(q, registry.resolve_gpu(gpu_spec));
      for (const std::string& kv : kv_dtypes) {
        for (int64_t tp : tps) {
          for (const std::string& branch : branches) {
            for (const std::string& offload : offloads) {
              QueryOptions one = q;
              one.kv_dtype = kv;
              one.tp = std::to_string(tp);
              one.branches = branch;
              one.offload_bytes = offload == "0" ? "" : offload;
              if (offload == "0") one.offload = "none";
              out.push_back({model, gpu, memory_options_of(one, model, gpu, registry)});
            }
          }
        }
      }
    }
  }
  return out;
}
}  // namespace

void setup_sweep(CLI::App* sub, Globals& globals) {
  auto o = std::make_shared<SweepOptions>();
  add_query_options(sub, o->query);
  o->query.format = "csv";
  add_format_option(sub, o->query.format, {"csv", "jsonl"});
  sub->add_option("--columns", o->columns, "Only these dotted columns, in this order (default: all of estimate's JSON keys)");
  sub->add_option("--plot", o->plot, "Also write an SVG plot to this path")->type_name("FILE");
  sub->add_option("--plot-kind", o->plot_kind,
                  "auto, memory-vs-context (KV cache + state per model, log axes), breakdown (stacked memory), "
                  "throughput (decode tokens/s vs batch)")
      ->check(one_of(plot_kinds()))
      ->capture_default_str();
  sub->callback([o, sub, &globals] {
    const Registry registry = globals.registry();
    const std::vector<SweepCase> cases = cases_of(*o, registry);
    SweepAxes axes;
    axes.contexts = parse_range(o->query.context, "--context");
    axes.batches = parse_range(o->query.batch, "--batch");
    axes.prompt = o->query.prompt.empty() ? 0 : parse_count(o->query.prompt, "--prompt");
    axes.gen = o->query.gen.empty() ? 0 : parse_count(o->query.gen, "--gen");
    // An output path is checked before any row is written: a sweep can be long.
    if (!o->plot.empty()) check_output_path(o->plot, "--plot");
    const std::vector<std::string> columns =
        sub->get_option("--columns")->count() == 0 ? std::vector<std::string>{} : parse_list(o->columns, "--columns");
    const RowFormat format = o->query.format == "jsonl" ? RowFormat::jsonl : RowFormat::csv;
    write_sweep(cases, axes, format, columns, [](const std::string& chunk) { print(chunk); });
    if (!o->plot.empty()) write_text_file(o->plot, plot_sweep(cases, axes, o->plot_kind));
  });
}

}  // namespace kvplan::cli
