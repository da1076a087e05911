#include "cli/common.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <set>

#include <fmt/core.h>

#include "core/checked.h"
#include "core/gpu.h"
#include "core/error.h"
#include "core/parallel.h"
#include "core/params.h"
#include "core/serving_dtypes.h"
#include "core/speculative.h"
#include "io/files.h"
#include "io/lengths.h"
#include "io/hf_overrides.h"
#include "io/mm_limits.h"
#include "io/numbers.h"

namespace kvplan::cli {

void add_format_option(CLI::App* app, std::string& format, const std::vector<std::string>& formats) {
  std::string list;
  for (const auto& f : formats) list += (list.empty() ? "" : "|") + f;
  app->add_option("--format", format, "Output format: " + list)->check(one_of(formats));
}

CLI::Validator one_of(const std::vector<std::string>& names) {
  std::string set, list;
  for (const auto& n : names) {
    set += (set.empty() ? "{" : ",") + n;
    list += (list.empty() ? "" : ", ") + n;
  }
  set += "}";
  return CLI::Validator(
      [names, list](std::string& value) {
        if (std::find(names.begin(), names.end(), value) != names.end()) return std::string();
        if (value.empty()) return "an empty value; expected one of " + list;
        return "'" + value + "' is not one of " + list + did_you_mean(value, names);
      },
      set);
}

void add_query_options(CLI::App* app, QueryOptions& q, bool require) {
  auto* model = app->add_option("--model,-m", q.model, "Bundled model id, kvplan model YAML, or HF config.json")
                    ->type_name("MODEL");
  auto* gpu = app->add_option("--gpu,-g", q.gpu, "Bundled GPU preset id or alias, or a preset YAML")
                  ->type_name("GPU");
  if (require) {
    model->required();
    gpu->required();
  }
  app->add_option("--context,-c", q.context, "Tokens per sequence in the cache (32k = 32768, 1M = 1048576)")
      ->capture_default_str();
  app->add_option("--batch,-b", q.batch, "Concurrent sequences")->capture_default_str();
  app->add_option("--prompt", q.prompt, "Prefill length in tokens (default: the context)");
  app->add_option("--gen", q.gen, "Generated tokens per request (for the cost per request)");
  app->add_option("--usd-per-gpu-hour", q.usd_per_gpu_hour, "Price per GPU-hour (default: the preset's)");
  app->add_option("--kv-dtype,--kv-cache-dtype", q.kv_dtype, "KV cache dtype: auto fp32 bf16 fp16 fp8 (= fp8_e4m3) fp8_e5m2 int8 int4 (default auto: the checkpoint's KV quantization, else the activation dtype)");
  app->add_option("--weight-dtype", q.weight_dtype, "Weight dtype for linear layers: auto or a dtype (default auto: as the checkpoint stores them; fp32 checkpoints in 16 bits)");
  app->add_option("--dtype", q.dtype,
                  "The engine's --dtype, the model's compute dtype: auto, half/float16, bfloat16, float/float32 "
                  "(default auto: the checkpoint's torch_dtype, fp32 checkpoints in 16 bits); activations, the auto KV "
                  "cache and state, and every 16-bit or wider weight take it (quantized formats stay)");
  app->add_option("--state-dtype", q.state_dtype, "Recurrent (Mamba, linear-attention) state dtype: auto or a dtype (default auto: the checkpoint's, else the activation dtype)");
  app->add_option("--conv-state-width", q.conv_state_width,
                  "Mamba conv state columns: kernel-1 (vLLM) or kernel (transformers, mamba_ssm)")
      ->check(one_of({"kernel-1", "kernel"}))
      ->capture_default_str();
  app->add_option("--sliding-window-cache", q.sliding_window_cache,
                  "Sliding layers keep min(N, window) tokens (window) or all N (full)")
      ->check(one_of({"window", "full"}))
      ->capture_default_str();
  app->add_option("--mla-cache", q.mla_cache,
                  "MLA cache: latent (vLLM, SGLang), decompressed (transformers eager) or fp8_ds (DeepSeek's FP8 sparse-MLA "
                  "layout, 656 B/token for DeepSeek-V3.2; set by vLLM's --kv-cache-dtype fp8_ds_mla)")
      ->check(one_of({"latent", "decompressed", "fp8_ds"}))
      ->capture_default_str();
  app->add_option("--gpu-memory-utilization,--mem-fraction-static", q.gpu_memory_utilization,
                  "Fraction of GPU memory the engine may use (default: the engine's, vLLM 0.9)");
  app->add_option("--max-num-batched-tokens,--prefill-chunk,--chunked-prefill-size", q.prefill_chunk,
                  "Tokens per forward pass (chunked prefill; sizes the activation peak; default: the engine's)");
  app->add_option("--tp,--tensor-parallel-size", q.tp, "Tensor-parallel degree (GPUs per replica)")->capture_default_str();
  app->add_option("--engine", q.engine,
                  "Engine whose rules size the KV cache: vllm, sglang or ideal, optionally @VERSION (vllm@0.10); "
                  "`kvplan list engines`")
      ->type_name("ENGINE")
      ->capture_default_str();
  app->add_option("--max-model-len,--context-length", q.max_model_len,
                  "Longest request the engine admits (default: the context)");
  app->add_option("--block-size,--page-size", q.block_size, "Tokens per KV-cache block (default: the engine's)");
  app->add_option("--max-num-seqs,--max-running-requests", q.max_num_seqs,
                  "Most sequences the engine runs at once (default: the engine's)");
  app->add_option("--max-mamba-cache-size", q.max_mamba_cache_size,
                  "SGLang: request states a hybrid's state pool holds (default: SGLang's split of the budget)");
  app->add_option("--kv-cache-memory,--kv-cache-memory-bytes", q.kv_cache_memory,
                  "KV-cache budget per GPU in bytes (16GiB, 1.5e10): skips the engine's memory profile");
  app->add_option("--pp,--pipeline-parallel-size", q.pp, "Pipeline-parallel stages")->capture_default_str();
  app->add_option("--dp,--data-parallel-size", q.dp,
                  "Data-parallel replicas in the layout (GPUs = tp x pp x dp; with --ep, attention runs on each "
                  "replica's tp GPUs and the experts spread over all)")
      ->capture_default_str();
  app->add_option("--ep,--ep-size,--expert-parallel-size", q.ep,
                  "Expert parallelism: experts spread whole over this many GPUs, which must be tp x dp (1: experts "
                  "split over tp)")
      ->capture_default_str();
  app->add_option("--redundant-experts,--ep-num-redundant-experts", q.redundant_experts,
                  "Extra expert copies per MoE layer over the expert-parallel GPUs (EPLB)")
      ->capture_default_str();
  app->add_option("--micro-batches", q.micro_batches, "Pipeline micro-batches in flight (default: --pp)");
  app->add_option("--node", q.node,
                  "Node preset (kvplan list nodes): GPUs per node and the network between nodes, for layouts that "
                  "span nodes")
      ->type_name("NODE");
  app->add_option("--nodes", q.nodes, "Nodes the layout fills: tp x pp x dp must equal nodes x GPUs per node");
  app->add_option("--speculative-config", q.speculative_config,
                  "vLLM's speculative decoding JSON: {\"method\": draft_model|eagle|eagle3|mtp|ngram, \"model\": "
                  "the draft, \"num_speculative_tokens\": N}; the draft's weights and KV share the GPU");
  app->add_option("--speculative-algorithm", q.speculative_algorithm,
                  "SGLang's speculative decoding (--engine sglang): EAGLE, EAGLE3, NEXTN, STANDALONE or NGRAM, with "
                  "--speculative-draft-model-path, --speculative-num-steps, --speculative-eagle-topk and "
                  "--speculative-num-draft-tokens (docs/engines.md \"SGLang with a drafter\")");
  app->add_option("--speculative-draft-model-path", q.speculative_draft_model_path,
                  "SGLang: the drafter (bundled id, kvplan YAML, config.json or model folder)");
  app->add_option("--speculative-num-steps", q.speculative_num_steps, "SGLang: draft steps per target step (default: the version's choice)");
  app->add_option("--speculative-eagle-topk", q.speculative_eagle_topk, "SGLang: drafts kept per step (default: the version's choice, else 1)");
  app->add_option("--speculative-num-draft-tokens", q.speculative_num_draft_tokens,
                  "SGLang: tokens verified per step (steps + 1 with topk 1)");
  app->add_option("--acceptance-rate", q.acceptance_rate,
                  "Speculative decoding: accepted / proposed draft tokens, as vLLM reports it, in [0, 1]; a step "
                  "yields 1 + k x F tokens (needs --speculative-config)");
  app->add_option("--acceptance-length", q.acceptance_length,
                  "Speculative decoding: tokens per target step, from 1 to k + 1 (vLLM's mean acceptance length; "
                  "instead of --acceptance-rate)");
  // How the ideal engine holds the cache (docs/kv-economy.md).
  app->add_option("--allocation", q.allocation,
                  "kvplan's own cache (--engine ideal): exact bytes, paged blocks of --block-size (default 16), or "
                  "contiguous reservations of --max-model-len per sequence")
      ->check(one_of({"exact", "paged", "contiguous"}))
      ->capture_default_str();
  app->add_option("--shared-prefix", q.shared_prefix,
                  "Tokens at the start of every sequence that all sequences share (inside --context)");
  app->add_option("--branches", q.branches, "Sequences per request: each request's trunk forked this many ways")
      ->capture_default_str();
  app->add_option("--trunk", q.trunk, "Tokens of each request that its branches share (inside --context)");
  app->add_option("--prefix-hit-rate", q.prefix_hit_rate,
                  "Fraction of prompt tokens found in the prefix cache (vLLM's prefix cache hit rate): their "
                  "prefill is skipped (default 0)");
  app->add_option("--cache-policy", q.cache_policy,
                  "kvplan's own cache: full, sinks:S+window:W (StreamingLLM) or budget:N (H2O, SnapKV): the most "
                  "tokens each layer keeps per sequence")
      ->capture_default_str();
  app->add_option("--offload", q.offload,
                  "kvplan's own cache: place KV in a slower tier: host memory over the preset's host link (cpu), "
                  "Grace memory over NVLink-C2C (c2c), CXL memory or NVMe (docs/kv-economy.md)")
      ->check(one_of({"none", "cpu", "c2c", "cxl", "nvme"}))
      ->capture_default_str();
  app->add_option("--offload-bytes", q.offload_bytes,
                  "KV bytes per GPU in the tier (64GiB, 7e10), or a share of the full-attention KV (40%)");
  app->add_option("--offload-mode", q.offload_mode,
                  "stream: the oldest KV of each sequence lives in the tier and every decode step reads it over the "
                  "link; reload: the tier holds cached prefixes, loaded back once on a prefix-cache hit")
      ->check(one_of({"stream", "reload"}))
      ->capture_default_str();
  app->add_option("--offload-overlap", q.offload_overlap,
                  "prefetch: the link runs under the step (layer l+1's KV moves during layer l); on-demand: each "
                  "layer waits for its KV")
      ->check(one_of({"prefetch", "on-demand"}))
      ->capture_default_str();
  app->add_option("--offload-bandwidth", q.offload_bandwidth,
                  "The tier's read rate into the GPU, bytes/s (25e9, 25GB/s; default: the preset's host link)");
  app->add_option("--offload-capacity", q.offload_capacity,
                  "The tier's memory per GPU (256GiB; default: the preset's host_memory_bytes)");
  app->add_option("--prompt-dist", q.prompt_dist,
                  "Prompt lengths for the KV cache in use at p99 (bytes, or an engine's blocks): fixed (--prompt), "
                  "fixed:N, uniform:A..B, or a CSV trace with the header prompt_tokens,output_tokens[,arrival_s]")
      ->type_name("DIST");
  app->add_option("--gen-dist", q.gen_dist,
                  "Output lengths, as --prompt-dist: fixed (--gen), fixed:N, uniform:A..B, or a CSV trace (its pairs "
                  "are joint: give a trace once)")
      ->type_name("DIST");
  app->add_flag("--enforce-eager", q.enforce_eager, "No CUDA graphs (vLLM): no graph memory is deducted, and a decode step waits for its kernels' launches");
  app->add_option("--vllm-use-flashinfer-sampler", q.flashinfer_sampler,
                  "vLLM's VLLM_USE_FLASHINFER_SAMPLER (0 or 1): the top-k/top-p path its start-up sampler run takes "
                  "(1: FlashInfer; 0: PyTorch's, which sorts the vocabulary); unset: the version's default. Model "
                  "Runner V2 (dense models from 0.25) profiles its sampler without top-k/top-p, so it has no effect there")
      ->type_name("0|1");
  app->add_option("--vllm-use-v2-model-runner", q.v2_model_runner,
                  "vLLM's VLLM_USE_V2_MODEL_RUNNER (0 or 1): 0 keeps the V1 model runner for every model (CUDA-graph "
                  "memory deducted, the V1 sampler's activation peak); 1 Model Runner V2 (modelled from vllm@0.22); "
                  "unset: the version's choice by model")
      ->type_name("0|1");
  auto* on = app->add_flag("--enable-prefix-caching", q.enable_prefix_caching,
                           "vLLM: cache prefixes, so --shared-prefix and --trunk blocks are held once (default: the "
                           "engine version's: on in V1 and SGLang)");
  app->add_flag("--no-enable-prefix-caching,--disable-radix-cache", q.no_prefix_caching,
                "vLLM / SGLang: no prefix cache, so every sequence holds its own blocks")
      ->excludes(on);
  app->add_flag("--disable-hybrid-kv-cache-manager", q.disable_hybrid_kv_cache_manager,
                "vLLM: size sliding-window and chunked layers as full attention");
  app->add_flag("--disable-piecewise-cuda-graph", q.disable_piecewise_cuda_graph,
                "SGLang 0.5.10+: no piecewise CUDA graphs, so the default mem_fraction_static reserves nothing for them");
  app->add_option("--limit-mm-per-prompt", q.limit_mm_per_prompt,
                  "vLLM: items of each modality a prompt may carry, as JSON ('{\"image\": 1, \"video\": 0}') or "
                  "image=1,video=0; a modality at 0 is left out of the profile's vision-encoder pass (Qwen2.5-VL's "
                  "video: the pass falls back to one image)")
      ->type_name("LIMITS");
  app->add_option("--hf-overrides", q.hf_overrides,
                  "vLLM: config.json keys the engine overrides, as JSON; kvplan applies max_position_embeddings and "
                  "rope_scaling (a YaRN, linear or dynamic factor lifts the context limit and the RoPE tables)")
      ->type_name("JSON");
  app->add_flag("--skip-mm-profiling", q.skip_mm_profiling,
                "vLLM: no vision-encoder pass in the memory profile (its activations are then not budgeted)");
  app->add_flag("--enable-multimodal", q.enable_multimodal,
                "SGLang: serve Gemma 3 or Llama 4 with its vision tower (SGLang serves them text-only by default; "
                "other vision models are multimodal anyway)");
}

Model model_of(const QueryOptions& q, const Registry& registry, const std::string& spec) {
  const Model model = registry.resolve_model(spec);
  if (q.hf_overrides.empty()) return model;
  if (registry.resolve_engine(q.engine).kind == EngineKind::sglang)
    throw Error("--hf-overrides is vLLM's: SGLang's --json-model-override-args is not modelled (the engine is sglang)");
  const HfOverrides o = parse_hf_overrides(q.hf_overrides, "--hf-overrides");
  static std::set<std::string> noted;  // one note per key and process (compare and sweep load several models)
  for (const std::string& key : o.unmodelled_keys)
    if (noted.insert(key).second)
      fmt::print(stderr, "kvplan: note: --hf-overrides key '{}' is not applied by kvplan (it applies "
                 "max_position_embeddings and rope_scaling); the numbers are the config's\n", key);
  try {
    return with_overrides(model, o.config);
  } catch (const Error& e) {
    throw Error(std::string("--hf-overrides: ") + e.what());
  }
}

Workload workload_of(const QueryOptions& q, bool prompt_in_context) {
  Workload w;
  w.context = parse_count(q.context, "--context");
  w.batch = parse_count(q.batch, "--batch");
  w.prompt = q.prompt.empty() ? w.context : parse_count(q.prompt, "--prompt");
  w.gen = q.gen.empty() ? 0 : parse_count(q.gen, "--gen");
  if (prompt_in_context && w.prompt > w.context)
    throw Error("--prompt " + std::to_string(w.prompt) + " exceeds --context " + std::to_string(w.context) +
                ": the context holds the prompt (and the tokens generated after it)");
  return w;
}

namespace {
// The drafter the flags describe: vLLM's --speculative-config, or SGLang's --speculative-algorithm
// and its arguments (SGLang's only, so under --engine sglang); nullopt for none.
std::optional<SpeculativeConfig> speculative_of(const QueryOptions& q) {
  const bool sglang = !q.speculative_algorithm.empty();
  const char* sglang_arg = !q.speculative_draft_model_path.empty() ? "--speculative-draft-model-path"
                           : !q.speculative_num_steps.empty()      ? "--speculative-num-steps"
                           : !q.speculative_eagle_topk.empty()     ? "--speculative-eagle-topk"
                           : !q.speculative_num_draft_tokens.empty() ? "--speculative-num-draft-tokens"
                                                                     : nullptr;
  if (!sglang && sglang_arg)
    throw Error(std::string(sglang_arg) + " is one of SGLang's speculative arguments: it needs --speculative-algorithm");
  if (!sglang) {
    if (q.speculative_config.empty()) return std::nullopt;
    return parse_speculative_config(q.speculative_config);
  }
  if (!q.speculative_config.empty())
    throw Error("--speculative-config (vLLM's) and --speculative-algorithm (SGLang's) describe one drafter two ways: "
                "give one");
  if (q.engine.rfind("sglang", 0) != 0)
    throw Error("--speculative-algorithm is SGLang's: it needs --engine sglang (vLLM's is --speculative-config)");
  const auto count = [](const std::string& v, const char* flag) -> int64_t {
    if (v.empty()) return 0;
    const int64_t n = parse_count(v, flag);
    if (n > kMaxSpeculativeTokens)
      throw Error(std::string(flag) + ": at most " + std::to_string(kMaxSpeculativeTokens) + ", got " + v);
    return n;
  };
  const int64_t steps = count(q.speculative_num_steps, "--speculative-num-steps");
  const int64_t topk = count(q.speculative_eagle_topk, "--speculative-eagle-topk");
  const int64_t draft_tokens = count(q.speculative_num_draft_tokens, "--speculative-num-draft-tokens");
  try {
    return sglang_speculative_config(q.speculative_algorithm, q.speculative_draft_model_path, steps, topk, draft_tokens);
  } catch (const Error& e) {
    throw Error(std::string("--speculative-algorithm: ") + e.what());
  }
}

// --acceptance-rate or --acceptance-length (not both), checked against --speculative-config.
std::optional<Acceptance> acceptance_of(const QueryOptions& q) {
  const bool rate = !q.acceptance_rate.empty(), length = !q.acceptance_length.empty();
  if (!rate && !length) return std::nullopt;
  if (rate && length)
    throw Error("--acceptance-rate and --acceptance-length say the same thing two ways: give one (length = 1 + k x rate)");
  const char* flag = rate ? "--acceptance-rate" : "--acceptance-length";
  const std::optional<SpeculativeConfig> c = speculative_of(q);
  if (!c)
    throw Error(std::string(flag) + " describes speculative decoding: it needs --speculative-config (method and "
                "num_speculative_tokens)");
  EngineSettings e;
  e.speculative_method = c->method;
  // SGLang's steps may be left to the engine: the length's upper bound is checked once they are
  // resolved (estimate, check).
  e.num_speculative_tokens = c->num_speculative_tokens > 0 ? c->num_speculative_tokens : int64_t{1} << 20;
  const std::string& text = rate ? q.acceptance_rate : q.acceptance_length;
  e.acceptance = Acceptance{rate ? AcceptanceKind::rate : AcceptanceKind::length, parse_real(text, flag)};
  try {
    check_acceptance(e);
  } catch (const Error& err) {
    throw Error(std::string(flag) + ": " + err.what());
  }
  return e.acceptance;
}
}  // namespace

namespace {
// --dp, --ep, --redundant-experts, --micro-batches, --node and --nodes as a layout, checked.
Parallel parallel_of(const QueryOptions& q, const Model& model, const Gpu& gpu, int64_t tp, int64_t pp,
                     const Registry& registry) {
  Parallel p;
  p.dp = parse_count(q.dp, "--dp");
  p.ep = parse_count(q.ep, "--ep");
  if (q.redundant_experts != "0") p.redundant_experts = parse_count(q.redundant_experts, "--redundant-experts");
  if (!q.micro_batches.empty()) p.micro_batches = parse_count(q.micro_batches, "--micro-batches");
  if (!q.node.empty()) {
    const Node n = registry.resolve_node(q.node);
    if (n.gpu != gpu.id)
      throw Error("--node " + n.id + " holds " + n.gpu + " GPUs, not " + gpu.id + ": give --gpu " + n.gpu);
    p.node = n.id;
    p.gpus_per_node = n.gpus_per_node;
    p.scale_out = n.scale_out;
  }
  if (!q.nodes.empty()) {
    if (q.node.empty()) throw Error("--nodes needs --node (a node preset: its GPUs per node and network)");
    const int64_t nodes = parse_count(q.nodes, "--nodes");
    const int64_t gpus = layout_gpus(tp, pp, p);
    if (gpus != mul(nodes, p.gpus_per_node))
      throw Error("the layout takes tp x pp x dp = " + std::to_string(tp) + " x " + std::to_string(pp) + " x " +
                  std::to_string(p.dp) + " = " + std::to_string(gpus) + " GPUs, but --nodes " + q.nodes + " of " +
                  p.node + " hold " + std::to_string(mul(nodes, p.gpus_per_node)));
  }
  check_layout(model, tp, pp, p);
  return p;
}
}  // namespace

MemoryOptions memory_options_of(const QueryOptions& q, const Model& model, const Gpu& gpu, const Registry& registry) {
  // Empty or "auto": the engine's rule (serving_dtypes.h).
  auto dtype = [&](const std::string& text, const char* flag) -> std::optional<DType> {
    if (text.empty() || text == "auto") return std::nullopt;
    try {
      return parse_dtype(text);
    } catch (const Error& e) {
      throw Error(std::string(flag) + ": " + e.what());
    }
  };
  EngineSettings engine;
  engine.profile = registry.resolve_engine(q.engine);
  const bool ideal = engine.profile.kind == EngineKind::ideal;
  const std::optional<DType> kv = ideal ? dtype(q.kv_dtype, "--kv-dtype") : engine_kv_cache_dtype(engine.profile, q.kv_dtype);
  const std::optional<DType> model_dtype = parse_model_dtype(q.dtype);
  const ServingDTypes d = serving_dtypes(model, dtype(q.weight_dtype, "--weight-dtype"), kv,
                                         dtype(q.state_dtype, "--state-dtype"), model_dtype);
  MemoryOptions o;
  o.model_dtype = model_dtype;
  o.weights = d.weights;
  o.dtype_rules = d.rules;
  o.cache.kv_dtype = d.kv;
  o.cache.state_dtype = d.state;
  o.cache.conv_dtype = d.conv;
  o.cache.conv_width = q.conv_state_width == "kernel" ? ConvStateWidth::kernel : ConvStateWidth::kernel_minus_1;
  o.cache.sliding = q.sliding_window_cache == "full" ? SlidingCache::full : SlidingCache::window;
  o.cache.mla = q.mla_cache == "decompressed" ? MlaCache::decompressed
                : q.mla_cache == "fp8_ds"     ? MlaCache::fp8_ds
                                              : MlaCache::latent;
  if (!ideal && engine_mla_fp8_ds(engine.profile, model, q.kv_dtype)) o.cache.mla = MlaCache::fp8_ds;
  o.cache.mla_value_padded = engine.profile.mla_value_padding;
  o.cache.kda_state_dtype = engine.profile.kda_state_dtype;
  o.cache.tp = parse_count(q.tp, "--tp");
  engine.pipeline_parallel_size = parse_count(q.pp, "--pp");
  o.parallel = parallel_of(q, model, gpu, o.cache.tp, engine.pipeline_parallel_size, registry);
  if (!q.max_model_len.empty()) engine.max_model_len = parse_count(q.max_model_len, "--max-model-len");
  // The engine's defaults depend on max_model_len: --max-model-len, else the context when it is one
  // number (a sweep's range sets it per point: estimate() takes each point's context).
  int64_t max_model_len = 0;
  if (engine.max_model_len) max_model_len = *engine.max_model_len;
  else if (!q.context.empty() && q.context.find_first_of(".,:") == std::string::npos)
    max_model_len = parse_count(q.context, "--context");
  if (const std::optional<SpeculativeConfig> c = speculative_of(q)) {
    // One note per key and process (a sweep builds its options per point).
    static std::set<std::string> noted;
    for (const std::string& key : c->unmodelled_keys)
      if (noted.insert(key).second)
        fmt::print(stderr, "kvplan: note: --speculative-config key '{}' is vLLM's; kvplan does not model it, and it "
                   "does not change the numbers\n", key);
    set_speculative(engine, *c);
    engine.draft = drafter_of(*c, model, registry);
    resolve_speculative_shape(engine, model);
  }
  // SGLang's own flags.
  const auto sglang_only = [&](const char* flag) {
    if (engine.profile.kind != EngineKind::sglang)
      throw Error(std::string(flag) + " is SGLang's: it needs --engine sglang (the engine is " +
                  name(engine.profile.kind) + ")");
  };
  if (q.enable_multimodal) {
    sglang_only("--enable-multimodal");
    engine.enable_multimodal = true;
  }
  const EngineDefaults defaults =
      engine_defaults(engine.profile, gpu, max_model_len, o.cache.tp * engine.pipeline_parallel_size, &model,
                      engine.pipeline_parallel_size, q.disable_piecewise_cuda_graph, engine.speculative_method,
                      engine.enable_multimodal);
  o.gpu_memory_utilization = q.gpu_memory_utilization.empty()
                                 ? (ideal ? 0.9 : defaults.gpu_memory_utilization)
                                 : parse_positive(q.gpu_memory_utilization, "--gpu-memory-utilization", true);
  o.prefill_chunk = q.prefill_chunk.empty() ? (ideal ? 8192 : defaults.max_num_batched_tokens)
                                            : parse_count(q.prefill_chunk, "--max-num-batched-tokens");
  if (!q.block_size.empty()) engine.block_size = parse_count(q.block_size, "--block-size");
  if (!q.max_num_seqs.empty()) engine.max_num_seqs = parse_count(q.max_num_seqs, "--max-num-seqs");
  if (!q.kv_cache_memory.empty()) engine.kv_cache_memory_bytes = parse_bytes(q.kv_cache_memory, "--kv-cache-memory");
  if (!q.max_mamba_cache_size.empty()) {
    sglang_only("--max-mamba-cache-size");
    engine.max_mamba_cache_size = parse_count(q.max_mamba_cache_size, "--max-mamba-cache-size");
  }
  engine.enforce_eager = q.enforce_eager;
  // vLLM's own flags, and its environment variables (0 or 1).
  const auto vllm_only = [&](const char* flag) {
    if (engine.profile.kind != EngineKind::vllm)
      throw Error(std::string(flag) + " is vLLM's: it needs --engine vllm (the engine is " + name(engine.profile.kind) + ")");
  };
  const auto vllm_switch = [&](const std::string& value, const char* flag) -> std::optional<bool> {
    if (value.empty()) return std::nullopt;
    vllm_only(flag);
    if (value != "0" && value != "1") throw Error(std::string(flag) + " must be 0 or 1, got '" + value + "'");
    return value == "1";
  };
  engine.flashinfer_sampler = vllm_switch(q.flashinfer_sampler, "--vllm-use-flashinfer-sampler");
  if (!q.limit_mm_per_prompt.empty()) {
    vllm_only("--limit-mm-per-prompt");
    engine.limit_mm_per_prompt = parse_mm_limits(q.limit_mm_per_prompt, "--limit-mm-per-prompt");
  }
  if (q.skip_mm_profiling) {
    vllm_only("--skip-mm-profiling");
    engine.skip_mm_profiling = true;
  }
  engine.v2_model_runner = vllm_switch(q.v2_model_runner, "--vllm-use-v2-model-runner");
  engine.acceptance = acceptance_of(q);
  engine.disable_hybrid_kv_cache_manager = q.disable_hybrid_kv_cache_manager;
  engine.disable_piecewise_cuda_graph = q.disable_piecewise_cuda_graph;
  if (q.enable_prefix_caching || q.no_prefix_caching) engine.prefix_caching = q.enable_prefix_caching;
  o.sharing.allocation = q.allocation == "paged"        ? Allocation::paged
                         : q.allocation == "contiguous" ? Allocation::contiguous
                                                        : Allocation::exact;
  if (!q.shared_prefix.empty()) o.sharing.shared_prefix = parse_count(q.shared_prefix, "--shared-prefix");
  if (!q.trunk.empty()) o.sharing.trunk = parse_count(q.trunk, "--trunk");
  o.sharing.branches = parse_count(q.branches, "--branches");
  o.cache.policy = parse_cache_policy(q.cache_policy, "--cache-policy");
  if (!q.prefix_hit_rate.empty() && q.prefix_hit_rate != "0")
    o.sharing.prefix_hit_rate = parse_positive(q.prefix_hit_rate, "--prefix-hit-rate", true);
  if (q.offload != "none") {
    const OffloadTier tier = q.offload == "cpu" ? OffloadTier::cpu
                             : q.offload == "c2c" ? OffloadTier::c2c
                             : q.offload == "cxl" ? OffloadTier::cxl
                                                  : OffloadTier::nvme;
    o.offload = resolve_offload(tier, gpu.host_link, gpu.host_memory_bytes, gpu.id,
                                q.offload_bandwidth.empty() ? 0 : parse_bytes_per_s(q.offload_bandwidth, "--offload-bandwidth"),
                                q.offload_capacity.empty() ? 0 : parse_bytes(q.offload_capacity, "--offload-capacity"));
    o.offload.mode = q.offload_mode == "reload" ? OffloadMode::reload : OffloadMode::stream;
    o.offload.overlap = q.offload_overlap == "on-demand" ? OffloadOverlap::on_demand : OffloadOverlap::prefetch;
    if (q.offload_bytes.empty()) throw Error("--offload " + q.offload + " needs --offload-bytes: the KV bytes per GPU to place there");
    if (q.offload_bytes.back() == '%') {
      const double pct = parse_positive(q.offload_bytes.substr(0, q.offload_bytes.size() - 1), "--offload-bytes");
      if (pct > 100) throw Error("--offload-bytes: a share of the KV cache must be at most 100%, got '" + q.offload_bytes + "'");
      o.offload.fraction = pct / 100;
    } else {
      o.offload.bytes = parse_bytes(q.offload_bytes, "--offload-bytes");
    }
  } else {
    const char* given = !q.offload_bytes.empty()       ? "--offload-bytes"
                        : !q.offload_bandwidth.empty() ? "--offload-bandwidth"
                        : !q.offload_capacity.empty()  ? "--offload-capacity"
                        : q.offload_mode != "stream"   ? "--offload-mode"
                        : q.offload_overlap != "prefetch" ? "--offload-overlap"
                                                       : nullptr;
    if (given) throw Error(std::string(given) + " describes an offload tier: add --offload cpu|c2c|cxl|nvme");
  }
  if (!q.prompt_dist.empty() || !q.gen_dist.empty()) {
    LengthSpecs specs;
    specs.prompt = q.prompt_dist;
    specs.output = q.gen_dist;
    if (!q.prompt.empty()) specs.prompt_fixed = parse_count(q.prompt, "--prompt");
    if (!q.gen.empty()) specs.output_fixed = parse_count(q.gen, "--gen");
    o.lengths = std::make_shared<const LengthDist>(length_dist(specs, read_text_file));
  }
  // A length distribution is sized paged (--block-size) and contiguous (--max-model-len) both.
  const bool dist = o.lengths != nullptr;
  if (ideal && (o.sharing.allocation == Allocation::paged || dist) && engine.block_size)
    o.sharing.block_tokens = *engine.block_size;
  if (ideal && (o.sharing.allocation == Allocation::contiguous || dist) && engine.max_model_len)
    o.sharing.reserve_tokens = *engine.max_model_len;
  if (ideal) {
    const bool paged = o.sharing.allocation == Allocation::paged || dist;
    const bool contiguous = o.sharing.allocation == Allocation::contiguous || dist;
    const char* engine_only = !q.max_model_len.empty() && !contiguous ? "--max-model-len"
                              : !q.block_size.empty() && !paged      ? "--block-size"
                              : !q.max_num_seqs.empty() ? "--max-num-seqs"
                              : !q.kv_cache_memory.empty() ? "--kv-cache-memory"
                              : engine.pipeline_parallel_size != 1 ? "--pp"
                                                                   : nullptr;
    if (engine_only)
      throw Error(std::string(engine_only) + " is an engine setting: it needs --engine vllm or sglang" +
                  (std::string(engine_only) == "--block-size"      ? " (or --allocation paged)"
                   : std::string(engine_only) == "--max-model-len" ? " (or --allocation contiguous)"
                                                                   : ""));
  }
  o.engine = engine;
  return o;
}

void set_speculative(EngineSettings& engine, const SpeculativeConfig& c) {
  engine.speculative_method = c.method;
  engine.num_speculative_tokens = c.num_speculative_tokens;
  engine.speculative_eagle_topk = c.eagle_topk;
  engine.speculative_num_draft_tokens = c.num_draft_tokens;
}

std::shared_ptr<const Model> drafter_of(const SpeculativeConfig& c, const Model& target, const Registry& registry) {
  if (c.model.empty() || c.method == "ngram") return speculative_drafter(target, c.method, std::nullopt);
  try {
    return speculative_drafter(target, c.method, registry.resolve_model(c.model));
  } catch (const Error&) {
    if (c.method == "draft_model") throw;
    auto head = std::make_shared<Model>(*speculative_drafter(target, c.method, std::nullopt));
    head->warnings = {"speculative draft '" + c.model + "' not found: sized as one decoder layer of " + target.id +
                      "'s shape (an EAGLE head or MTP module)"};
    return head;
  }
}

Gpu gpu_of(const QueryOptions& q, Gpu gpu) {
  if (!q.usd_per_gpu_hour.empty()) {
    gpu.price.usd_per_gpu_hour = parse_positive(q.usd_per_gpu_hour, "--usd-per-gpu-hour");
    if (gpu.price.usd_per_gpu_hour > kMaxUsdPerGpuHour)
      throw Error("--usd-per-gpu-hour: " + q.usd_per_gpu_hour + " is above the $1e6 per GPU-hour kvplan takes");
  }
  return gpu;
}

Registry Globals::registry() const {
  if (!data_dir.empty()) {
    Registry r = Registry::load(data_dir);
    for (const std::string& n : r.notes())
      if (std::find(notes.begin(), notes.end(), n) == notes.end()) notes.push_back(n);
    return r;
  }
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  const std::filesystem::path installed = self.parent_path().parent_path() / "share" / "kvplan";
  if (!ec && std::filesystem::is_directory(installed / "presets", ec)) return Registry::load(installed.string());
  return Registry::load("");
}

void ProgressLine::operator()(const std::string& what) const {
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (s > 1.0) fmt::print(stderr, "kvplan: [{:5.1f} s] {}\n", s, what);
}

int run_on_gpu_helper(const std::string& command, const Globals& globals) {
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  const std::string helper = ec ? std::string() : (self.parent_path() / "kvplan-gpu").string();
  if (helper.empty() || ::access(helper.c_str(), X_OK) != 0)
    throw Error("`kvplan " + command + "` runs the CUDA reference kernels in kvplan-gpu, which is not installed beside " +
                    (ec ? std::string("kvplan") : self.string()) +
                    " (build kvplan where nvcc is installed, with -DKVPLAN_CUDA=ON)",
                {}, 3);
  std::vector<std::string> args = globals.argv;
  if (args.empty()) args.push_back("kvplan");
  args[0] = helper;
  std::vector<char*> c_args;
  for (std::string& a : args) c_args.push_back(a.data());
  c_args.push_back(nullptr);
  std::fflush(stdout);
  std::fflush(stderr);
  // A child, not exec in place: where the CUDA libraries are missing, the dynamic loader ends
  // kvplan-gpu with status 127 after its own message, and kvplan turns that into exit 3.
  const pid_t pid = ::fork();
  if (pid < 0) throw Error("`kvplan " + command + "` could not start " + helper + ": " + std::strerror(errno), {}, 3);
  if (pid == 0) {
    ::execv(helper.c_str(), c_args.data());
    ::_exit(126);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) throw Error("`kvplan " + command + "`: waiting for " + helper + ": " + std::strerror(errno), {}, 3);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  const int code = WEXITSTATUS(status);
  if (code == 127)
    throw Error("`kvplan " + command + "` needs the CUDA libraries that " + helper +
                    " links (CUDA runtime, cuBLAS); the loader could not find them (its message is above)",
                {}, 3);
  if (code == 126) throw Error("`kvplan " + command + "` could not execute " + helper, {}, 3);
  return code;
}

void print(const std::string& text) { std::fwrite(text.data(), 1, text.size(), stdout); }

void warn(const std::vector<std::string>& warnings) {
  std::fflush(stdout);
  for (const std::string& w : warnings) std::fprintf(stderr, "kvplan: warning: %s\n", w.c_str());
}

}  // namespace kvplan::cli
