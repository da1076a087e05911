// `kvplan validate`: runs kernels shaped like the model's decode step (and prefill attention) on the
// local GPU and compares the measured times with kvplan's predictions for the same workload.
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <algorithm>
#include <memory>

#include "cli/subcommands.h"
#include "gpu/host/availability.h"
#include "gpu/host/report.h"
#include "report/estimate_report.h"
#if KVPLAN_HAVE_CUDA
#include "gpu/run.h"
#endif
#include "core/decode.h"
#include "core/prefill.h"

namespace kvplan::cli {

namespace {

struct ValidateOptions {
  QueryOptions q;
  bool no_check = false;
  double max_time_s = 0.5;
};


// The request's model, GPU, workload and options, resolved (bad arguments fail here, before any
// GPU is touched, in kvplan as in kvplan-gpu).
struct ValidateInputs {
  QueryOptions q;
  Model model;
  Gpu gpu;
  Workload workload;
  MemoryOptions memory;
};

ValidateInputs validate_inputs(const ValidateOptions& o, const Registry& registry) {
  ValidateInputs in;
  in.q = o.q;
  QueryOptions& q = in.q;
  if (q.model.empty()) q.model = "llama-3.1-8b";
  if (q.weight_dtype.empty()) q.weight_dtype = "bf16";  // the reference linears run in bf16
  if (q.gpu.empty()) q.gpu = registry.has_gpu("h100-sxm-calibrated") ? "h100-sxm-calibrated" : "h100-sxm";
  in.model = registry.resolve_model(q.model);
  in.gpu = registry.resolve_gpu(q.gpu);
  in.workload = workload_of(q);
  q.engine = "ideal";  // validate times kernels: an engine's block layout does not change them
  in.memory = memory_options_of(q, in.model, in.gpu, registry);
  if (!(o.max_time_s > 0)) throw Error("--max-time must be positive");
  return in;
}

void run_validate_command(const ValidateOptions& o, Globals& globals) {
  const Registry registry = globals.registry();
  const ValidateInputs in = validate_inputs(o, registry);
#if !KVPLAN_HAVE_CUDA
  globals.exit_status = run_on_gpu_helper("validate", globals);
#else
  const QueryOptions& q = in.q;
  gpu::ValidateRequest r;
  r.model = in.model;
  r.gpu = in.gpu;
  const Workload& w = in.workload;
  const MemoryOptions& mo = in.memory;
  r.cache = mo.cache;
  r.batch = w.batch;
  r.context = w.context;
  r.prompt = w.prompt;
  r.check = !o.no_check;
  r.max_time_per_item_s = o.max_time_s;
  // The step's kernels run as without an offload; the offload cases add the tier's copies.
  MemoryOptions plain = mo;
  plain.offload = Offload{};
  const DecodeStep d = decode_step(r.model, r.gpu, w.batch, w.context, plain);
  for (const auto& c : d.components) r.predicted.push_back({c.name, c.time_s, c.bytes});
  r.predicted_step_s = d.time_s;
  if (mo.offload.enabled()) {
    if (mo.offload.mode != OffloadMode::stream)
      throw Error("validate times stream offload (decode reading KV from the tier); reload is prefill-side");
    // Whole tokens of every sequence in every full-attention layer, as the copies move them.
    const int64_t full_bpt = memory_model(r.model, mo).kv.full_bytes_per_token;
    const DecodeStep asked = decode_step(r.model, r.gpu, w.batch, w.context, mo);
    r.offload_tokens = asked.offload && full_bpt > 0 ? asked.offload->link_bytes / (w.batch * full_bpt) : 0;
    if (r.offload_tokens < 1) throw Error("validate: the offload holds less than one token per sequence");
    MemoryOptions tokens = mo;
    tokens.offload.fraction = 0;
    tokens.offload.bytes = r.offload_tokens * w.batch * full_bpt;
    for (const OffloadOverlap overlap : {OffloadOverlap::prefetch, OffloadOverlap::on_demand}) {
      tokens.offload.overlap = overlap;
      const DecodeStep t = decode_step(r.model, r.gpu, w.batch, w.context, tokens);
      r.predicted_link_s = t.offload->link_time_s;
      (overlap == OffloadOverlap::prefetch ? r.predicted_prefetch_s : r.predicted_on_demand_s) = t.time_s;
    }
  }
  // Prefill attention: kvplan's attention phase rate (s per FLOP) at the prompt length run here.
  const PrefillResult p = prefill(r.model, r.gpu, 1, std::min<int64_t>(w.prompt > 0 ? w.prompt : w.context, 16384), mo);
  for (const auto& ph : p.phases)
    if (ph.name == "attention" && ph.flops > 0) r.prefill_attention_s_per_flop = ph.time_s / ph.flops;
  gpu::ValidateReport rep = gpu::run_validate(r, ProgressLine{});
  if (q.format == "json") print(json_text(gpu::to_json(rep)));
  else print(gpu::render_table(rep));
  for (const auto& c : rep.correctness)
    if (!c.pass()) globals.exit_status = 1;
#endif
}

}  // namespace

void setup_validate(CLI::App* sub, Globals& globals) {
  auto o = std::make_shared<ValidateOptions>();
  add_query_options(sub, o->q, false);
  add_format_option(sub, o->q.format, {"table", "json"});
  sub->add_flag("--no-check", o->no_check, "Skip the kernel correctness checks");
  sub->add_option("--max-time", o->max_time_s, "Measured-time cap per timed item, seconds")->capture_default_str();
  sub->callback([o, &globals] { run_validate_command(*o, globals); });
}

}  // namespace kvplan::cli
