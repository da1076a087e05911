#include "io/deploy_yaml.h"

#include <filesystem>

#include "io/yaml_fields.h"

namespace kvplan {

namespace {

// vLLM's --kv-cache-dtype spellings (vllm/config/cache.py CacheDType); "auto" = the model's dtype.
const std::vector<std::pair<std::string, std::optional<DType>>> kKvCacheDtypes = {
    {"auto", std::nullopt},
    {"fp8", DType::fp8_e4m3},
    {"fp8_e4m3", DType::fp8_e4m3},
    {"fp8_e5m2", DType::fp8_e5m2},
};

int64_t positive(YamlFields& f, const std::string& key) {
  const int64_t v = f.integer(key);
  if (v < 1) throw Error("'" + key + "' must be at least 1, got " + std::to_string(v), f.pos(key));
  return v;
}

double non_negative(YamlFields& f, const std::string& key) {
  const double v = f.number(key);
  if (v < 0) throw Error("'" + key + "' must not be negative", f.pos(key));
  return v;
}

using Reader = void (*)(YamlFields&, const std::string& key, DeployFile&);

struct KeySpec {
  const char* section;
  const char* key;
  const char* type;
  const char* default_value;  // "" = required (when `required`) or unset
  bool required;
  const char* meaning;
  Reader read;  // called only when the key is present
};

// The one table of deployment-file keys: the parser reads through it and --explain prints it.
const KeySpec kKeys[] = {
    {"", "schema_version", "integer", "1", false, "version of this file format; only 1 exists",
     [](YamlFields& f, const std::string& k, DeployFile&) {
       if (f.integer(k) != kDeploySchemaVersion)
         throw Error("unsupported schema_version " + f.string(k) + " (this kvplan reads version 1)", f.pos(k));
     }},
    {"", "name", "string", "the file's path", false, "display name in reports and JUnit test suites",
     [](YamlFields& f, const std::string& k, DeployFile& d) { d.name = f.string(k); }},
    {"", "model", "string", "", true,
     "bundled model id (`kvplan list models`), or a path to a kvplan model YAML or an HF config.json, "
     "relative to this file",
     [](YamlFields& f, const std::string& k, DeployFile& d) {
       d.model = f.string(k);
       d.model_pos = f.pos(k);
     }},
    {"", "gpu", "string", "", true,
     "bundled GPU preset id or alias (`kvplan list gpus`), or a path to a preset YAML, relative to this file",
     [](YamlFields& f, const std::string& k, DeployFile& d) {
       d.gpu = f.string(k);
       d.gpu_pos = f.pos(k);
     }},
    {"", "usd_per_gpu_hour", "number", "the GPU preset's price", false,
     "price of one GPU-hour in US dollars, for the cost limit",
     [](YamlFields& f, const std::string& k, DeployFile& d) {
       const double v = f.number(k);
       if (!(v > 0)) throw Error("'" + k + "' must be positive", f.pos(k));
       d.spec.usd_per_gpu_hour = v;
     }},

    {"engine", "gpu_memory_utilization", "fraction", "0.9", false,
     "vLLM --gpu-memory-utilization: fraction of each GPU's memory the engine may use, in (0, 1]",
     [](YamlFields& f, const std::string& k, DeployFile& d) {
       const double v = f.number(k);
       if (!(v > 0 && v <= 1)) throw Error("'" + k + "' must be a fraction in (0, 1], got " + f.string(k), f.pos(k));
       d.spec.engine.gpu_memory_utilization = v;
     }},
    {"engine", "max_model_len", "integer", "the model's max_position_embeddings", false,
     "vLLM --max-model-len: longest sequence (prompt + output tokens) the engine accepts",
     [](YamlFields& f, const std::string& k, DeployFile& d) { d.spec.engine.max_model_len = positive(f, k); }},
    {"engine", "max_num_seqs", "integer", "", false,
     "vLLM --max-num-seqs: most sequences the scheduler runs at once; the default workload.concurrency",
     [](YamlFields& f, const std::string& k, DeployFile& d) { d.spec.engine.max_num_seqs = positive(f, k); }},
    {"engine", "kv_cache_dtype", "string", "auto", false,
     "vLLM --kv-cache-dtype: auto (the model's dtype), fp8 (= fp8_e4m3), fp8_e4m3 or fp8_e5m2",
     [](YamlFields& f, const std::string& k, DeployFile& d) {
       const std::string v = f.string(k);
       std::vector<std::string> names;
       for (const auto& [name, dtype] : kKvCacheDtypes) {
         if (name == v) {
           d.spec.engine.kv_cache_dtype = dtype;
           return;
         }
         names.push_back(name);
       }
       throw Error("unknown kv_cache_dtype '" + v + "' (vLLM accepts auto, fp8, fp8_e4m3, fp8_e5m2)" +
                       did_you_mean(v, names),
                   f.pos(k));
     }},
    {"engine", "block_size", "integer", "16", false,
     "vLLM --block-size: tokens per KV-cache block; each sequence's context is rounded up to whole blocks",
     [](YamlFields& f, const std::string& k, DeployFile& d) { d.spec.engine.block_size = positive(f, k); }},
    {"engine", "tensor_parallel_size", "integer", "1", false,
     "vLLM --tensor-parallel-size: GPUs one replica is split over; memory is reported per GPU",
     [](YamlFields& f, const std::string& k, DeployFile& d) { d.spec.engine.tensor_parallel_size = positive(f, k); }},
    {"engine", "max_num_batched_tokens", "integer", "8192", false,
     "vLLM --max-num-batched-tokens: tokens per forward pass in chunked prefill (sizes activations)",
     [](YamlFields& f, const std::string& k, DeployFile& d) {
       d.spec.engine.max_num_batched_tokens = positive(f, k);
     }},

    {"workload", "prompt_tokens", "integer", "", true, "prompt length of a request, in tokens",
     [](YamlFields& f, const std::string& k, DeployFile& d) { d.spec.workload.prompt_tokens = positive(f, k); }},
    {"workload", "output_tokens", "integer", "", true, "tokens generated per request",
     [](YamlFields& f, const std::string& k, DeployFile& d) { d.spec.workload.output_tokens = positive(f, k); }},
    {"workload", "concurrency", "integer", "engine.max_num_seqs", false,
     "requests in flight at once, each holding prompt_tokens + output_tokens in the cache (the worst moment)",
     [](YamlFields& f, const std::string& k, DeployFile& d) { d.spec.workload.concurrency = positive(f, k); }},

    {"limits", "fits", "true/false", "true", false,
     "the workload's memory per GPU (weights, KV cache, state, activations) must fit in usable memory",
     [](YamlFields& f, const std::string& k, DeployFile& d) { d.spec.limits.fits = f.boolean(k, true); }},
    {"limits", "min_headroom_percent", "number", "", false,
     "usable memory left free at the workload, as a percent of usable memory, must be at least this",
     [](YamlFields& f, const std::string& k, DeployFile& d) { d.spec.limits.min_headroom_percent = non_negative(f, k); }},
    {"limits", "max_model_len_fits", "true/false", "false", false,
     "one sequence of max_model_len tokens must fit (else vLLM refuses to start)",
     [](YamlFields& f, const std::string& k, DeployFile& d) {
       d.spec.limits.max_model_len_fits = f.boolean(k, false);
     }},
    {"limits", "max_num_seqs_fit", "true/false", "false", false,
     "max_num_seqs sequences of max_model_len tokens must all fit at once (no preemption at the worst case)",
     [](YamlFields& f, const std::string& k, DeployFile& d) { d.spec.limits.max_num_seqs_fit = f.boolean(k, false); }},
    {"limits", "max_ttft_s", "number", "", false,
     "time to first token, in seconds: the prefill of one prompt on an idle replica (a lower bound under load)",
     [](YamlFields& f, const std::string& k, DeployFile& d) { d.spec.limits.max_ttft_s = non_negative(f, k); }},
    {"limits", "max_time_per_output_token_s", "number", "", false,
     "seconds per decode step with concurrency sequences at prompt + output tokens (the slowest step)",
     [](YamlFields& f, const std::string& k, DeployFile& d) {
       d.spec.limits.max_time_per_output_token_s = non_negative(f, k);
     }},
    {"limits", "min_output_tokens_per_s", "number", "", false,
     "output tokens per second of one replica at that decode step, at least",
     [](YamlFields& f, const std::string& k, DeployFile& d) { d.spec.limits.min_output_tokens_per_s = non_negative(f, k); }},
    {"limits", "max_usd_per_million_output_tokens", "number", "", false,
     "US dollars per million output tokens at that step (the replica's GPU-hours / its output tokens)",
     [](YamlFields& f, const std::string& k, DeployFile& d) {
       d.spec.limits.max_usd_per_million_output_tokens = non_negative(f, k);
     }},
};

const std::vector<std::pair<std::string, std::string>> kSections = {
    {"", "the deployment"},
    {"engine", "the inference engine's settings, in vLLM's names and with vLLM's defaults"},
    {"workload", "the traffic the deployment must carry"},
    {"limits", "what must hold; kvplan check runs one check per limit that is set"},
};

}  // namespace

DeployFile parse_deploy_file(const std::string& text, const std::string& source) {
  const YAML::Node root = parse_yaml(text, source);
  if (!root.IsDefined() || root.IsNull()) throw Error("empty deployment file", {source, 1, 1});
  YamlFields top(root, source, "deployment file");
  DeployFile d;
  d.source = source;
  d.name = source;
  for (const auto& [section, what] : kSections) {
    // An absent section reads as empty, so its required keys are still reported.
    const bool is_top = section.empty();
    if (!is_top) top.expect(section);
    std::optional<YamlFields> sub;
    if (!is_top) {
      const YAML::Node node = top.has(section) ? top.node(section) : YAML::Node(YAML::NodeType::Map);
      sub.emplace(node, source, "section '" + section + "'");
    }
    YamlFields& f = is_top ? top : *sub;
    for (const KeySpec& k : kKeys)
      if (k.section == section) f.expect(k.key);
    if (is_top)
      for (const auto& [name, _] : kSections)
        if (!name.empty()) f.expect(name);
    f.finish();
    for (const KeySpec& k : kKeys) {
      if (k.section != section) continue;
      if (f.has(k.key)) k.read(f, k.key, d);
      else if (k.required) f.node(k.key);  // throws "missing required key"
    }
  }
  return d;
}

std::vector<DeployKeyDoc> deploy_key_docs() {
  std::vector<DeployKeyDoc> out;
  for (const KeySpec& k : kKeys)
    out.push_back({k.section, k.key, k.type, k.required ? "required" : k.default_value, k.meaning});
  return out;
}

std::vector<std::pair<std::string, std::string>> deploy_section_docs() { return kSections; }

std::string relative_to_file(const std::string& spec, const std::string& deploy_path) {
  namespace fs = std::filesystem;
  const bool is_path = spec.find('/') != std::string::npos || spec.ends_with(".yaml") || spec.ends_with(".yml") ||
                       spec.ends_with(".json");
  if (!is_path || fs::path(spec).is_absolute()) return spec;
  const fs::path dir = fs::path(deploy_path).parent_path();
  return dir.empty() ? spec : (dir / spec).lexically_normal().string();
}

}  // namespace kvplan
