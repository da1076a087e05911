#include "core/estimate.h"

#include <map>

#include "core/checked.h"
#include "core/error.h"

namespace kvplan {

std::vector<LayerSummary> summarize_layers(const Model& model, int64_t context, const CacheOptions& opt) {
  std::map<LayerKind, LayerSummary> by_kind;
  const std::vector<bool> shared = shares_earlier_weights(model);
  for (size_t i = 0; i < model.layers.size(); ++i) {
    const Layer& layer = model.layers[i];
    LayerSummary& s = by_kind[kind_of(layer)];
    s.kind = kind_of(layer);
    s.count += 1;
    if (!shared[i])
      for (const Tensor& t : layer_tensors(model, layer)) s.params = add(s.params, t.params());
    s.kv_bytes_per_token = add(s.kv_bytes_per_token, kv_bytes_per_token(layer, opt));
    s.kv_bytes_per_sequence = add(s.kv_bytes_per_sequence, mul(tokens_resident(layer, context, opt), kv_bytes_per_token(layer, opt)));
    s.state_bytes_per_sequence = add(s.state_bytes_per_sequence, state_bytes(layer, opt).total());
  }
  std::vector<LayerSummary> out;
  for (auto& [kind, s] : by_kind) out.push_back(s);
  return out;
}

void check_workload(const Workload& w, const MemoryOptions& opt) {
  if (w.batch < 1) throw Error("batch must be at least 1");
  if (w.context < 1) throw Error("context must be at least 1 token");
  if (w.prompt < 0 || w.gen < 0) throw Error("prompt and gen must not be negative");
  if (!(opt.gpu_memory_utilization > 0 && opt.gpu_memory_utilization <= 1))
    throw Error("gpu memory utilization must be in (0, 1]");
  if (opt.prefill_chunk < 1) throw Error("prefill chunk must be at least 1 token");
  check_sharing(opt.sharing, w.context);
  check_acceptance(opt.engine);
  const bool shares = opt.sharing.shared_prefix > 0 || opt.sharing.branches > 1 || opt.sharing.trunk > 0;
  const bool bounded = opt.cache.policy.kind != CachePolicyKind::full;
  if (opt.engine.profile.kind != EngineKind::ideal && (opt.sharing.allocation != Allocation::exact || bounded))
    throw Error("--allocation and --cache-policy size kvplan's own cache: use them with --engine ideal (the engines "
                "page their blocks, and neither evicts within a sequence)");
  if (opt.lengths) check_lengths(*opt.lengths);
  if (bounded && shares)
    throw Error("a bounded cache (--cache-policy) keeps different tokens in each sequence: it is not combined with a "
                "shared prefix or trunk");
  const Offload& off = opt.offload;
  if (off.enabled()) {
    check_offload(off);
    if (opt.engine.profile.kind != EngineKind::ideal)
      throw Error("--offload sizes kvplan's own cache: use it with --engine ideal (the engines' offload connectors are "
                  "not modelled yet)");
    if (off.mode == OffloadMode::stream && (shares || bounded))
      throw Error("stream offload moves each sequence's oldest KV to the tier: it is not combined with a shared prefix, "
                  "branches or a bounded cache");
    if (off.mode == OffloadMode::stream && opt.engine.draft)
      throw Error("stream offload with a speculative drafter is not modelled yet: the drafter's steps would read its "
                  "offloaded KV over the link too (use --offload-mode reload, or method ngram)");
    if (off.mode == OffloadMode::reload && !(opt.sharing.prefix_hit_rate > 0))
      throw Error("--offload-mode reload loads cached prefixes back from the tier: give the hit rate "
                  "(--prefix-hit-rate, or workload.prefix_hit_rate)");
    if (off.mode == OffloadMode::reload && off.fraction > 0)
      throw Error("--offload-mode reload sizes the tier's prefix cache in bytes (--offload-bytes 200GiB), not as a share");
  }
}

double output_tokens_per_s(const Estimate& e) {
  return e.speculative ? e.speculative->tokens_per_s : e.decode.tokens_per_s;
}

double time_per_output_token_s(const Estimate& e) {
  return e.speculative ? e.speculative->time_per_output_token_s : e.decode.time_s;
}

std::vector<std::string> estimate_warnings(const Model& model, const Workload& workload) {
  std::vector<std::string> out = model.warnings;
  if (model.max_context > 0 && workload.context > model.max_context)
    out.push_back("context " + std::to_string(workload.context) + " exceeds " + model.id + "'s maximum of " +
                  std::to_string(model.max_context) + " tokens (max_position_embeddings); engines refuse it");
  return out;
}

Estimate estimate(const Model& model, const Gpu& gpu, const Workload& workload, const MemoryOptions& options) {
  check_model(model);
  check_gpu(gpu);
  check_workload(workload, options);
  check_tensor_parallel(model, options.cache.tp);
  Estimate e{model, gpu, workload, options, count_params(model), {}, {}, {}, {}, {}, {}, {}, {}, {}, {}};
  if (e.workload.prompt == 0) e.workload.prompt = workload.context;
  try {
    e.memory = plan_memory(model, gpu, workload.batch, workload.context, options);
  } catch (const Error& err) {
    throw Error(std::string(err.what()) + " (batch " + std::to_string(workload.batch) + " x context " +
                std::to_string(workload.context) + " tokens)");
  }
  if (options.engine.profile.kind != EngineKind::ideal) {
    const int64_t max_model_len = options.engine.max_model_len.value_or(workload.context);
    if (workload.context > max_model_len)
      throw Error("context " + std::to_string(workload.context) + " exceeds --max-model-len " +
                  std::to_string(max_model_len) + " (the engine rejects longer requests)");
    e.engine = plan_engine(model, gpu, options, max_model_len);
    apply_engine(e.memory, *e.engine, workload.batch, workload.context);
  }
  if (options.offload.enabled() && options.offload.mode == OffloadMode::stream) {
    if (e.memory.offload.offloaded_bytes == 0) {
      if (memory_model(model, options).full_kv_layers > 0)
        throw Error("nothing to offload: the offload share is below one byte of the batch's KV");
      throw Error("nothing to offload: " + model.id + " has no full-attention KV that grows with context (sliding "
                  "windows and recurrent state stay in HBM)");
    }
    if (e.memory.offload.offloaded_bytes > options.offload.capacity_bytes)
      throw Error("offloading " + std::to_string(e.memory.offload.offloaded_bytes) + " bytes of KV needs more than the " +
                  name(options.offload.tier) + " tier holds (" + std::to_string(options.offload.capacity_bytes) +
                  " bytes per GPU)");
  }
  if (options.lengths)
    e.in_use = e.engine ? engine_in_use(*e.engine, *options.lengths, workload.batch)
                        : kv_in_use(memory_model(model, options), *options.lengths, e.memory.usable_bytes, workload.batch);
  e.layers = summarize_layers(model, workload.context, options.cache);
  const PrefillModel pm(model, gpu, options);
  e.prefill = pm.run(1, e.workload.prompt);
  e.batch_prefill = pm.run(workload.batch, e.workload.prompt);
  if (options.offload.enabled() && options.offload.mode == OffloadMode::reload &&
      e.prefill.load_bytes > options.offload.bytes)
    throw Error("a cached prefix of " + std::to_string(e.prefill.cached) + " tokens is " +
                std::to_string(e.prefill.load_bytes) + " bytes of KV, more than the tier's prefix cache holds (" +
                std::to_string(options.offload.bytes) + " bytes, --offload-bytes)");
  // Every branch is a sequence of the decode batch, reading all of its context (shared blocks too).
  e.decode = decode_step(model, gpu, e.memory.kv.sequences, workload.context, options);
  e.speculative = speculative_decode(model, gpu, e.memory.kv.sequences, workload.context, options);
  e.warnings = estimate_warnings(model, workload);
  if (options.engine.draft)
    e.warnings.insert(e.warnings.end(), options.engine.draft->warnings.begin(), options.engine.draft->warnings.end());
  if (e.engine && !e.engine->prefix_caching && (options.sharing.shared_prefix > 0 || options.sharing.trunk > 0))
    e.warnings.push_back(std::string(name(e.engine->kind)) + " " + e.engine->version + " caches no prefixes here " +
                         "(enable_prefix_caching off): every sequence holds its own copy of the shared prefix and trunk");
  if (e.engine && gpu.cuda_total_bytes == 0)
    e.warnings.push_back("GPU preset '" + gpu.id + "' states no cuda_total_bytes: the engine's total is taken as "
                         "nvidia-smi's memory_bytes, about 0.5 GiB more than the CUDA driver reports");
  // The decode step's tokens come from one replica: tp x pp GPUs (each of dp replicas runs its own batch).
  e.cost = cost(gpu.price.usd_per_gpu_hour, mul(options.cache.tp, options.engine.pipeline_parallel_size),
                output_tokens_per_s(e), e.batch_prefill,
                e.workload.prompt, workload.gen);
  return e;
}

}  // namespace kvplan
