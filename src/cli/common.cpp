#include "cli/common.h"

#include <cstdio>

#include "core/error.h"
#include "core/params.h"
#include "core/serving_dtypes.h"
#include "io/numbers.h"

namespace kvplan::cli {

void add_format_option(CLI::App* app, std::string& format, const std::vector<std::string>& formats) {
  std::string list;
  for (const auto& f : formats) list += (list.empty() ? "" : "|") + f;
  app->add_option("--format", format, "Output format: " + list)->check(CLI::IsMember(formats));
}

void add_query_options(CLI::App* app, QueryOptions& q, bool require) {
  auto* model = app->add_option("--model,-m", q.model, "Bundled model id, kvplan model YAML, or HF config.json");
  auto* gpu = app->add_option("--gpu,-g", q.gpu, "Bundled GPU preset id or alias, or a preset YAML");
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
  app->add_option("--kv-dtype", q.kv_dtype, "KV cache dtype: auto fp32 bf16 fp16 fp8 (= fp8_e4m3) fp8_e5m2 int8 int4 (default auto: the checkpoint's KV quantization, else the activation dtype)");
  app->add_option("--weight-dtype", q.weight_dtype, "Weight dtype for linear layers: auto or a dtype (default auto: as the checkpoint stores them; fp32 checkpoints in 16 bits)");
  app->add_option("--state-dtype", q.state_dtype, "Recurrent (Mamba, linear-attention) state dtype: auto or a dtype (default auto: the checkpoint's, else the activation dtype)");
  app->add_option("--conv-state-width", q.conv_state_width,
                  "Mamba conv state columns: kernel-1 (vLLM) or kernel (transformers, mamba_ssm)")
      ->check(CLI::IsMember({"kernel-1", "kernel"}))
      ->capture_default_str();
  app->add_option("--sliding-window-cache", q.sliding_window_cache,
                  "Sliding layers keep min(N, window) tokens (window) or all N (full)")
      ->check(CLI::IsMember({"window", "full"}))
      ->capture_default_str();
  app->add_option("--mla-cache", q.mla_cache, "MLA cache: latent (vLLM, SGLang) or decompressed (transformers eager)")
      ->check(CLI::IsMember({"latent", "decompressed"}))
      ->capture_default_str();
  app->add_option("--gpu-memory-utilization", q.gpu_memory_utilization, "Fraction of GPU memory usable (vLLM's default 0.9)")
      ->capture_default_str();
  app->add_option("--prefill-chunk", q.prefill_chunk, "Tokens per prefill forward pass (activation sizing)")
      ->capture_default_str();
  app->add_option("--tp", q.tp, "Tensor-parallel degree (GPUs per replica)")->capture_default_str();
}

Workload workload_of(const QueryOptions& q) {
  Workload w;
  w.context = parse_count(q.context, "--context");
  w.batch = parse_count(q.batch, "--batch");
  w.prompt = q.prompt.empty() ? w.context : parse_count(q.prompt, "--prompt");
  w.gen = q.gen.empty() ? 0 : parse_count(q.gen, "--gen");
  return w;
}

MemoryOptions memory_options_of(const QueryOptions& q, const Model& model) {
  // Empty or "auto": the engine's rule (serving_dtypes.h).
  auto dtype = [&](const std::string& text, const char* flag) -> std::optional<DType> {
    if (text.empty() || text == "auto") return std::nullopt;
    try {
      return parse_dtype(text);
    } catch (const Error& e) {
      throw Error(std::string(flag) + ": " + e.what());
    }
  };
  const ServingDTypes d = serving_dtypes(model, dtype(q.weight_dtype, "--weight-dtype"), dtype(q.kv_dtype, "--kv-dtype"),
                                         dtype(q.state_dtype, "--state-dtype"));
  MemoryOptions o;
  o.weights = d.weights;
  o.dtype_rules = d.rules;
  o.cache.kv_dtype = d.kv;
  o.cache.state_dtype = d.state;
  o.cache.conv_width = q.conv_state_width == "kernel" ? ConvStateWidth::kernel : ConvStateWidth::kernel_minus_1;
  o.cache.sliding = q.sliding_window_cache == "full" ? SlidingCache::full : SlidingCache::window;
  o.cache.mla = q.mla_cache == "decompressed" ? MlaCache::decompressed : MlaCache::latent;
  o.cache.tp = parse_count(q.tp, "--tp");
  o.gpu_memory_utilization = parse_positive(q.gpu_memory_utilization, "--gpu-memory-utilization", true);
  o.prefill_chunk = parse_count(q.prefill_chunk, "--prefill-chunk");
  return o;
}

Gpu gpu_of(const QueryOptions& q, Gpu gpu) {
  if (!q.usd_per_gpu_hour.empty()) gpu.price.usd_per_gpu_hour = parse_positive(q.usd_per_gpu_hour, "--usd-per-gpu-hour");
  return gpu;
}

void print(const std::string& text) { std::fwrite(text.data(), 1, text.size(), stdout); }

void warn(const std::vector<std::string>& warnings) {
  std::fflush(stdout);
  for (const std::string& w : warnings) std::fprintf(stderr, "kvplan: warning: %s\n", w.c_str());
}

}  // namespace kvplan::cli
