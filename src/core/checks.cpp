#include "core/checks.h"

#include <cstdio>
#include <string>
#include <utility>

#include "core/checked.h"
#include "core/error.h"
#include "core/fleet.h"
#include "core/serving_dtypes.h"

namespace kvplan {

const char* symbol(Comparison c) { return c == Comparison::at_most ? "<=" : ">="; }

SourcePos DeploySpec::pos(const std::string& key) const {
  if (auto it = key_pos.find(key); it != key_pos.end()) return it->second;
  if (auto it = key_pos.find(""); it != key_pos.end()) return it->second;
  return {};
}

bool DeployResult::pass() const {
  for (const CheckResult& c : checks)
    if (!c.pass) return false;
  return true;
}

int64_t round_up_to_block(int64_t tokens, int64_t block_size) { return mul(ceil_div(tokens, block_size), block_size); }

MemoryOptions memory_options(const Model& model, const Gpu& gpu, const DeployEngine& engine, int64_t max_model_len) {
  const EngineProfile& profile = engine.settings.profile;
  const std::optional<DType> kv = profile.kind == EngineKind::ideal
                                      ? (engine.kv_cache_dtype.empty() || engine.kv_cache_dtype == "auto"
                                             ? std::nullopt
                                             : std::optional<DType>(parse_dtype(engine.kv_cache_dtype)))
                                      : engine_kv_cache_dtype(profile, engine.kv_cache_dtype);
  const ServingDTypes d = serving_dtypes(model, engine.quantization, kv, std::nullopt, engine.dtype);
  MemoryOptions o;
  o.model_dtype = engine.dtype;
  o.weights = d.weights;
  o.dtype_rules = d.rules;
  o.cache.kv_dtype = d.kv;
  if (profile.kind != EngineKind::ideal && engine_mla_fp8_ds(profile, model, engine.kv_cache_dtype)) o.cache.mla = MlaCache::fp8_ds;
  o.cache.state_dtype = d.state;  // vLLM's mamba_ssm_cache_dtype "auto"
  o.cache.conv_dtype = d.conv;
  o.cache.kda_state_dtype = profile.kda_state_dtype;
  o.cache.tp = engine.tensor_parallel_size;
  o.parallel.dp = engine.data_parallel_size;
  o.parallel.ep = engine.enable_expert_parallel ? mul(engine.tensor_parallel_size, engine.data_parallel_size) : 1;
  const EngineDefaults defaults =
      engine_defaults(profile, gpu, max_model_len, engine.tensor_parallel_size * engine.settings.pipeline_parallel_size,
                      &model, engine.settings.pipeline_parallel_size, engine.settings.disable_piecewise_cuda_graph,
                      engine.settings.speculative_method, engine.settings.enable_multimodal);
  o.gpu_memory_utilization = engine.gpu_memory_utilization.value_or(
      profile.kind == EngineKind::ideal ? 0.9 : defaults.gpu_memory_utilization);
  o.prefill_chunk = engine.max_num_batched_tokens.value_or(
      profile.kind == EngineKind::ideal ? 8192 : defaults.max_num_batched_tokens);
  o.engine = engine.settings;
  o.engine.max_model_len = max_model_len;
  return o;
}

namespace {

std::string str(int64_t v) { return std::to_string(v); }
std::string fmt_concurrency(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

int64_t max_model_len_of(const Model& model, const DeploySpec& spec) {
  const EngineSettings& engine = spec.engine.settings;
  // vLLM and SGLang take the model's max_position_embeddings when max_model_len is unset.
  if (engine.max_model_len) {
    if (model.max_context > 0 && *engine.max_model_len > model.max_context)
      throw Error("engine.max_model_len " + str(*engine.max_model_len) + " exceeds model '" + model.id +
                  "' max_position_embeddings " + str(model.max_context) + " (vLLM refuses to start)",
                  spec.pos("engine.max_model_len"));
    return *engine.max_model_len;
  }
  if (model.max_context == 0)
    throw Error("model '" + model.id + "' states no maximum context: set engine.max_model_len", spec.pos("model"));
  return model.max_context;
}

}  // namespace

DeployEstimates estimate_deployment(const Model& model, const Gpu& gpu, const DeploySpec& spec) {
  const EngineSettings& engine = spec.engine.settings;
  const bool ideal = engine.profile.kind == EngineKind::ideal;
  // The ideal engine rounds each sequence to vLLM's default 16-token blocks; an engine, to its own.
  const int64_t block = ideal ? engine.block_size.value_or(16) : 1;
  const DeployWorkload& w = spec.workload;
  const int64_t max_len = max_model_len_of(model, spec);
  const int64_t tokens = add(w.prompt_tokens, w.output_tokens);
  if (tokens > max_len)
    throw Error("workload prompt_tokens + output_tokens = " + str(tokens) + " exceeds max_model_len " + str(max_len) +
                " (the engine would reject these requests)",
                spec.pos(spec.key_pos.count("workload.output_tokens") ? "workload.output_tokens" : "workload.prompt_tokens"));
  if (!w.concurrency && !engine.max_num_seqs)
    throw Error("set workload.concurrency or engine.max_num_seqs", spec.pos("workload"));
  const int64_t concurrency = w.concurrency.value_or(engine.max_num_seqs.value_or(0));
  if (engine.max_num_seqs && concurrency > *engine.max_num_seqs)
    throw Error("workload.concurrency " + str(concurrency) + " exceeds engine.max_num_seqs " +
                str(*engine.max_num_seqs) + " (the engine runs at most max_num_seqs at once)",
                spec.pos("workload.concurrency"));
  if (spec.limits.max_num_seqs_fit && !engine.max_num_seqs)
    throw Error("limit max_num_seqs_fit needs engine.max_num_seqs", spec.pos("limits.max_num_seqs_fit"));

  MemoryOptions options = memory_options(model, gpu, spec.engine, max_len);
  try {
    check_layout(model, options.cache.tp, engine.pipeline_parallel_size, options.parallel);
  } catch (const Error& e) {
    // The layout's messages name the CLI flags; a file names its keys.
    std::string what = e.what();
    if (what.rfind("--ep: ", 0) == 0) what = "enable_expert_parallel: " + what.substr(6);
    throw Error(what, spec.pos(spec.engine.enable_expert_parallel ? "engine.enable_expert_parallel"
                                                                  : "engine.data_parallel_size"));
  }
  options.sharing.prefix_hit_rate = w.prefix_hit_rate;
  options.engine.acceptance = w.acceptance;
  if (w.acceptance) {
    const std::string key = w.acceptance->kind == AcceptanceKind::rate ? "workload.acceptance_rate"
                                                                       : "workload.acceptance_length";
    try {
      check_acceptance(options.engine);
    } catch (const Error& e) {
      throw Error(key + ": " + e.what(), spec.pos(key));
    }
  }
  if (w.cache_policy.kind != CachePolicyKind::full && !ideal)
    throw Error("workload.cache_policy sizes kvplan's own cache: it needs engine: ideal (neither engine evicts within "
                "a sequence)",
                spec.pos("workload.cache_policy"));
  const bool economy = w.shared_prefix_tokens > 0 || w.branches > 1 || w.trunk_tokens > 0 ||
                       w.cache_policy.kind != CachePolicyKind::full;
  if (economy) {
    // The ideal engine's 16-token blocks (or engine.block_size), shared whole; an engine shares in
    // its own blocks (core/engine.h, blocks_for_batch).
    if (ideal) {
      options.sharing.allocation = Allocation::paged;
      options.sharing.block_tokens = block;
    }
    options.sharing.shared_prefix = w.shared_prefix_tokens;
    options.sharing.branches = w.branches;
    options.sharing.trunk = w.trunk_tokens;
    options.cache.policy = w.cache_policy;
  }
  if (w.lengths) {
    const char* key = !w.prompt_dist.empty() ? "workload.prompt_dist" : "workload.gen_dist";
    options.lengths = w.lengths;
    options.sharing.block_tokens = block;
    options.sharing.reserve_tokens = max_len;  // a contiguous server reserves max_model_len per sequence
    try {
      check_lengths(*w.lengths);
    } catch (const Error& e) {
      throw Error(e.what(), spec.pos(key));
    }
  }
  if (w.offload == OffloadTier::none)
    for (const char* key : {"workload.offload_bytes", "workload.offload_mode", "workload.offload_overlap",
                            "workload.offload_bandwidth", "workload.offload_capacity"})
      if (spec.key_pos.count(key))
        throw Error(std::string(key) + " describes an offload tier: set workload.offload (cpu, c2c, cxl or nvme)",
                    spec.pos(key));
  if (w.offload != OffloadTier::none) {
    if (!ideal)
      throw Error("workload.offload sizes kvplan's own cache: it needs engine: ideal (the engines' offload connectors "
                  "are not modelled yet)",
                  spec.pos("workload.offload"));
    if (w.offload_bytes == 0 && w.offload_fraction == 0)
      throw Error(std::string("workload.offload ") + name(w.offload) +
                      " needs workload.offload_bytes: the KV bytes per GPU to place there, or a share (\"40%\")",
                  spec.pos("workload.offload"));
    if ((w.offload == OffloadTier::cxl || w.offload == OffloadTier::nvme) &&
        (!(w.offload_bandwidth_bytes_per_s > 0) || w.offload_capacity_bytes <= 0))
      throw Error(std::string("workload.offload ") + name(w.offload) +
                      " needs workload.offload_bandwidth and workload.offload_capacity: the device's read rate and size "
                      "per GPU (no preset describes them)",
                  spec.pos("workload.offload"));
    const char* size_key = "workload.offload_bytes";
    try {
      options.offload = resolve_offload(w.offload, gpu.host_link, gpu.host_memory_bytes, gpu.id,
                                        w.offload_bandwidth_bytes_per_s, w.offload_capacity_bytes);
      options.offload.bytes = w.offload_bytes;
      options.offload.fraction = w.offload_fraction;
      options.offload.mode = w.offload_mode;
      options.offload.overlap = w.offload_overlap;
      check_offload(options.offload);
    } catch (const Error& e) {
      throw Error(std::string(e.what()), spec.pos(size_key));
    }
    if (w.offload_mode == OffloadMode::reload && !(w.prefix_hit_rate > 0))
      throw Error("workload.offload_mode reload loads cached prefixes back from the tier: set workload.prefix_hit_rate",
                  spec.pos("workload.offload_mode"));
    if (w.offload_mode == OffloadMode::reload && w.offload_fraction > 0)
      throw Error("workload.offload_mode reload sizes the tier's prefix cache in bytes, not as a share",
                  spec.pos(size_key));
    if (w.offload_mode == OffloadMode::stream && economy)
      throw Error("stream offload moves each sequence's oldest KV to the tier: it is not combined with a shared prefix, "
                  "branches or a bounded cache",
                  spec.pos("workload.offload"));
  }
  Workload load;
  load.batch = concurrency;
  load.context = round_up_to_block(tokens, block);
  load.prompt = w.prompt_tokens;
  load.gen = w.output_tokens;
  Gpu priced = gpu;
  if (spec.usd_per_gpu_hour) priced.price.usd_per_gpu_hour = *spec.usd_per_gpu_hour;
  if (spec.limits.max_usd_per_million_output_tokens && !(priced.price.usd_per_gpu_hour > 0))
    throw Error("limit max_usd_per_million_output_tokens needs a price: GPU preset '" + gpu.id +
                "' has none, set usd_per_gpu_hour",
                spec.pos("limits.max_usd_per_million_output_tokens"));
  const Limits& l = spec.limits;
  // The simulation: Poisson arrivals at rate_rps, or a trace replayed (the parser refuses both).
  const bool simulated = w.rate_rps || w.arrival_trace;
  const char* sim_key = w.arrival_trace ? "workload.trace" : "workload.rate_rps";
  const std::pair<const char*, bool> simulated_limits[] = {{"limits.max_ttft_p99_s", l.max_ttft_p99_s.has_value()},
                                                           {"limits.max_tpot_p99_s", l.max_tpot_p99_s.has_value()},
                                                           {"limits.min_goodput_rps", l.min_goodput_rps.has_value()}};
  for (const auto& [key, set] : simulated_limits)
    if (set && !simulated)  // at the key where the spec came from a file
      throw Error(std::string(key) + " is measured by a simulation: set workload.rate_rps or workload.trace",
                  spec.pos(key));
  if (simulated && ideal)
    throw Error(std::string(sim_key) + " simulates an engine's scheduler and block pool: it needs engine vllm or sglang",
                spec.pos(sim_key));
  if (w.arrival_trace && spec.key_pos.count("workload.seed"))
    throw Error("workload.seed draws the arrivals and lengths of rate_rps; a trace replays its own",
                spec.pos("workload.seed"));
  for (const char* key : {"workload.requests", "workload.seed"})
    if (spec.key_pos.count(key) && !simulated)
      throw Error(std::string(key) + " sets up the simulation: set workload.rate_rps or workload.trace", spec.pos(key));
  DeployEstimates out{estimate(model, priced, load, options), std::nullopt, std::nullopt};
  if (simulated && out.workload.engine->starts) {
    Arrivals a;
    a.requests = w.requests;
    if (w.arrival_trace) {
      a.kind = ArrivalsKind::trace;
      a.lengths = *w.arrival_trace;
    } else {
      a.rate_rps = *w.rate_rps;
      a.seed = static_cast<uint64_t>(w.seed);
      a.lengths = w.lengths ? *w.lengths : fixed_lengths(w.prompt_tokens, w.output_tokens);
    }
    try {
      out.simulation =
          simulate_engine(model, priced, options, *out.workload.engine, a, l.max_ttft_p99_s, l.max_tpot_p99_s);
    } catch (const Error& e) {
      if (!e.pos().file.empty()) throw;  // at a trace's line
      throw Error(std::string(sim_key) + ": " + e.what(), spec.pos(sim_key));
    }
  }
  if (ideal && (spec.limits.max_model_len_fits || spec.limits.max_num_seqs_fit)) {
    Workload full;
    full.batch = engine.max_num_seqs.value_or(1);
    full.context = round_up_to_block(max_len, block);
    full.prompt = max_len;
    out.engine = estimate(model, priced, full, options);
  }
  return out;
}

std::vector<CheckResult> run_checks(const DeployEstimates& e, const DeploySpec& spec) {
  std::vector<CheckResult> out;
  auto add_check = [&](std::string name, double measured, Comparison cmp, double limit, std::string unit,
                       std::string description) {
    const bool pass = cmp == Comparison::at_most ? measured <= limit : measured >= limit;
    out.push_back({std::move(name), pass, measured, limit, cmp, std::move(unit), std::move(description)});
  };
  const Limits& l = spec.limits;
  const MemoryPlan& m = e.workload.memory;
  const std::string load =
      (m.kv.sequences == e.workload.workload.batch
           ? str(e.workload.workload.batch) + " sequences"
           : str(e.workload.workload.batch) + " requests x " + str(m.kv.sequences / e.workload.workload.batch) +
                 " branches") +
      " x " + str(e.workload.workload.context) + " tokens";
  const std::optional<EnginePlan>& plan = e.workload.engine;
  if (plan) {
    const std::string who = std::string(name(plan->kind)) + " " + plan->version;
    if (l.engine_starts)
      add_check("engine_starts", plan->starts ? 1 : 0, Comparison::at_least, 1, "start",
                plan->starts ? who + " starts; its KV cache holds " + fmt_concurrency(plan->max_concurrency) +
                                   " requests of max_model_len " + str(plan->max_model_len) + " tokens"
                             : who + " does not start: " + plan->failure);
    // At the length distributions' p99 where they are given, else every request at the fixed context.
    const std::optional<KvInUse>& u = e.workload.in_use;
    const int64_t used = u ? u->p99_blocks
                           : blocks_for_batch(*plan, e.workload.workload.batch, e.workload.workload.context).total();
    if (l.fits)
      add_check("fits", static_cast<double>(used), Comparison::at_most, static_cast<double>(plan->num_gpu_blocks),
                "blocks", u ? "KV-cache blocks of " + str(u->requests) + " requests at the length distributions' p99 " +
                                  "within the " + who + " pool"
                            : "KV-cache blocks for " + load + " within the " + who + " pool");
    if (l.min_headroom_percent)
      add_check("min_headroom_percent",
                plan->num_gpu_blocks > 0 ? 100.0 * static_cast<double>(plan->num_gpu_blocks - used) /
                                               static_cast<double>(plan->num_gpu_blocks)
                                         : 0.0,
                Comparison::at_least, *l.min_headroom_percent, "percent", "KV-cache blocks left free at " + load);
  } else if (l.fits && e.workload.in_use) {
    const KvInUse& u = *e.workload.in_use;
    add_check("fits", static_cast<double>(u.requests), Comparison::at_most, static_cast<double>(u.paged_max_requests),
              "requests", "requests whose KV cache at the length distributions' p99 (paged, " + str(u.block_tokens) +
                              "-token blocks) fits with the weights in usable memory");
    if (l.min_headroom_percent)
      add_check("min_headroom_percent",
                100.0 * static_cast<double>(m.headroom_bytes) / static_cast<double>(m.usable_bytes), Comparison::at_least,
                *l.min_headroom_percent, "percent", "usable memory left free at " + load);
  } else {
    if (l.fits)
      add_check("fits", static_cast<double>(m.total_bytes), Comparison::at_most, static_cast<double>(m.usable_bytes),
                "bytes", "memory per GPU at " + load + " within usable memory");
    if (l.min_headroom_percent)
      add_check("min_headroom_percent",
                100.0 * static_cast<double>(m.headroom_bytes) / static_cast<double>(m.usable_bytes), Comparison::at_least,
                *l.min_headroom_percent, "percent", "usable memory left free at " + load);
  }
  const Estimate& w = e.workload;
  if (l.max_ttft_s)
    add_check("max_ttft_s", w.prefill.time_s, Comparison::at_most, *l.max_ttft_s, "s",
              "prefill of one " + str(w.workload.prompt) + "-token prompt on an idle replica (time to first token)");
  if (l.max_time_per_output_token_s)
    add_check("max_time_per_output_token_s", time_per_output_token_s(w), Comparison::at_most,
              *l.max_time_per_output_token_s, "s",
              (w.speculative ? "speculative step / tokens per step at " : "decode step at ") + load);
  if (l.min_output_tokens_per_s)
    add_check("min_output_tokens_per_s", output_tokens_per_s(w), Comparison::at_least, *l.min_output_tokens_per_s,
              "tokens/s", "output tokens per second of one replica at " + load + (w.speculative ? ", speculative" : ""));
  if (l.max_usd_per_million_output_tokens)
    add_check("max_usd_per_million_output_tokens", w.cost.usd_per_million_output_tokens.value_or(0),
              Comparison::at_most, *l.max_usd_per_million_output_tokens, "USD",
              "per million output tokens at " + load + " on " + str(w.options.cache.tp) + " GPU(s)");
  if (const std::optional<SimResult>& s = e.simulation) {
    const std::string n = str(static_cast<int64_t>(s->requests.size()));
    const std::string at = spec.workload.arrival_trace
                               ? "of " + n + " requests replayed from " + spec.workload.arrival_trace->prompt_source
                               : "of " + n + " simulated requests at " +
                                     fmt_concurrency(spec.workload.rate_rps.value_or(0)) + " req/s";
    if (l.max_ttft_p99_s)
      add_check("max_ttft_p99_s", s->ttft_s.p99, Comparison::at_most, *l.max_ttft_p99_s, "s", "p99 time to first token " + at);
    if (l.max_tpot_p99_s)
      add_check("max_tpot_p99_s", s->tpot_s.p99, Comparison::at_most, *l.max_tpot_p99_s, "s",
                "p99 time per output token " + at);
    if (l.min_goodput_rps)
      add_check("min_goodput_rps", s->goodput_rps, Comparison::at_least, *l.min_goodput_rps, "req/s",
                "requests per second within the latency limits, " + at);
  }
  if (plan || e.engine) {
    // The engine's own start-up question: sequences of max_model_len, each holding all its blocks.
    const int64_t per = plan ? blocks_for_request(*plan, plan->max_model_len) : 0;
    const double fit = static_cast<double>(plan ? (plan->starts && per > 0 ? plan->num_gpu_blocks / per : 0)
                                                : e.engine->memory.max_batch);
    const int64_t len = plan ? plan->max_model_len : e.engine->workload.context;
    const std::string at = "sequences of max_model_len " + str(len) + " tokens that fit";
    if (l.max_model_len_fits) add_check("max_model_len_fits", fit, Comparison::at_least, 1, "sequences", at);
    if (l.max_num_seqs_fit)
      add_check("max_num_seqs_fit", fit, Comparison::at_least,
                static_cast<double>(spec.engine.settings.max_num_seqs.value_or(0)), "sequences", at);
  }
  return out;
}

DeployResult check_deployment(const Model& model, const Gpu& gpu, const DeploySpec& spec) {
  DeployResult r{estimate_deployment(model, gpu, spec), {}};
  r.checks = run_checks(r.estimates, spec);
  return r;
}

}  // namespace kvplan
