#include "io/deploy_yaml.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>

#include "core/gpu.h"
#include "core/simulate.h"
#include "core/speculative.h"
#include "io/mm_limits.h"
#include "io/numbers.h"
#include "io/yaml_fields.h"

namespace kvplan {

namespace {

// SGLang's names for the engine keys kvplan models (python -m sglang.launch_server --help); a file
// whose engine is sglang uses these, every other engine vLLM's.
const std::pair<const char*, const char*> kSglangNames[] = {
    {"gpu_memory_utilization", "mem_fraction_static"}, {"max_model_len", "context_length"},
    {"max_num_seqs", "max_running_requests"},          {"block_size", "page_size"},
    {"tensor_parallel_size", "tp_size"},               {"pipeline_parallel_size", "pp_size"},
    {"data_parallel_size", "dp_size"},
    {"max_num_batched_tokens", "chunked_prefill_size"}, {"kv_cache_dtype", "kv_cache_dtype"},
    {"enforce_eager", "disable_cuda_graph"},            {"quantization", "quantization"},
    {"dtype", "dtype"},
    {"enable_prefix_caching", "disable_radix_cache"},  // SGLang's is the negation
    {"max_mamba_cache_size", "max_mamba_cache_size"},   // SGLang only (kSglangOnly)
    {"disable_piecewise_cuda_graph", "disable_piecewise_cuda_graph"},
    {"enable_multimodal", "enable_multimodal"},         // SGLang only (kSglangOnly)
    {"speculative_algorithm", "speculative_algorithm"},
    {"speculative_draft_model_path", "speculative_draft_model_path"},
    {"speculative_num_steps", "speculative_num_steps"},
    {"speculative_eagle_topk", "speculative_eagle_topk"},
    {"speculative_num_draft_tokens", "speculative_num_draft_tokens"}};

// Modelled keys only SGLang has: a vLLM file does not take them.
const char* const kSglangOnly[] = {"max_mamba_cache_size", "disable_piecewise_cuda_graph", "enable_multimodal",
                                   "speculative_algorithm",
                                   "speculative_draft_model_path", "speculative_num_steps", "speculative_eagle_topk",
                                   "speculative_num_draft_tokens"};

// SGLang's speculative keys fill one SpeculativeConfig (sglang_speculative() finishes it).
SpeculativeConfig& sglang_speculative(DeployFile& d, const SourcePos& pos) {
  if (!d.speculative) {
    d.speculative.emplace();
    d.speculative_pos = pos;
    d.speculative_model_key = "speculative_draft_model_path";
  }
  return *d.speculative;
}

// SGLang's speculative keys, read, as kvplan's method (sglang_speculative_config).
void finish_sglang_speculative(DeployFile& d, const std::string& algorithm, const SourcePos& algorithm_pos) {
  if (!d.speculative) return;
  if (algorithm.empty())
    throw Error("SGLang's speculative keys need speculative_algorithm (EAGLE, EAGLE3, NEXTN, STANDALONE or NGRAM)",
                d.speculative_pos);
  const SpeculativeConfig& x = *d.speculative;
  try {
    d.speculative = sglang_speculative_config(algorithm, x.model, x.num_speculative_tokens, x.eagle_topk, x.num_draft_tokens);
  } catch (const Error& e) {
    throw Error(e.what(), algorithm_pos);
  }
}

const char* sglang_name(const std::string& key) {
  for (const auto& [v, s] : kSglangNames)
    if (key == v) return s;
  return nullptr;
}

// The key's spelling for the engine, or nullptr where the engine has no such argument.
const char* engine_key(bool sglang, const char* key) {
  if (sglang) return sglang_name(key);
  for (const char* k : kSglangOnly)
    if (std::string(key) == k) return nullptr;
  return key;
}

// A YAML mapping as the JSON object it writes (scalars as numbers or booleans where they read as
// such): the deploy-file form of a flag that takes JSON.
nlohmann::json json_of(const YAML::Node& node) {
  if (node.IsMap()) {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& kv : node) {
      if (!kv.first.IsScalar()) throw Error("a key of this mapping must be a name");
      const std::string key = kv.first.Scalar();
      if (out.contains(key)) throw Error("duplicate key '" + key + "' in this mapping");
      out[key] = json_of(kv.second);
    }
    return out;
  }
  if (node.IsSequence()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& v : node) out.push_back(json_of(v));
    return out;
  }
  if (!node.IsScalar()) return nullptr;
  const std::string text = node.Scalar();
  if (node.Tag() != "!") {  // unquoted: a number or a boolean where it reads as one
    const nlohmann::json parsed = nlohmann::json::parse(text, nullptr, false);
    if (!parsed.is_discarded() && (parsed.is_number() || parsed.is_boolean())) return parsed;
    if (text == "True" || text == "False") return text == "True";
  }
  return text;
}

// An environment variable's 0 or 1.
bool switch01(YamlFields& f, const std::string& key) {
  const int64_t v = f.integer(key);
  if (v != 0 && v != 1) throw Error("'" + key + "' must be 0 or 1, got " + std::to_string(v), f.pos(key));
  return v == 1;
}

int64_t positive(YamlFields& f, const std::string& key) {
  const int64_t v = f.integer(key);
  if (v < 1) throw Error("'" + key + "' must be at least 1, got " + std::to_string(v), f.pos(key));
  return v;
}

// A count of draft tokens (or SGLang's steps, topk, verified tokens), refused at its line past
// kMaxSpeculativeTokens.
int64_t speculative_count(YamlFields& f, const std::string& key) {
  const int64_t v = f.integer(key);
  try {
    check_speculative_count(v, key);
  } catch (const Error& e) {
    throw Error(e.what(), f.pos(key));
  }
  return v;
}

double non_negative(YamlFields& f, const std::string& key) {
  const double v = f.number(key);
  if (v < 0) throw Error("'" + key + "' must not be negative", f.pos(key));
  return v;
}

// A limit no deployment can meet (a zero time, a headroom above 100%) is bad input, not a failed check.
double positive_limit(YamlFields& f, const std::string& key) {
  const double v = f.number(key);
  if (!(v > 0)) throw Error("'" + key + "' must be positive (no deployment meets a limit of 0)", f.pos(key));
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
       if (v > kMaxUsdPerGpuHour) throw Error("'" + k + "' must be at most 1e6", f.pos(k));
       d.spec.usd_per_gpu_hour = v;
     }},

    {"engine", "gpu_memory_utilization", "fraction", "the engine's (vLLM 0.9)", false,
     "--gpu-memory-utilization (SGLang mem_fraction_static): fraction of each GPU's memory the engine may use, in (0, 1]",
     [](YamlFields& f, const std::string& k, DeployFile& d) {
       const double v = f.number(k);
       if (!(v > 0 && v <= 1)) throw Error("'" + k + "' must be a fraction in (0, 1], got " + f.string(k), f.pos(k));
       d.spec.engine.gpu_memory_utilization = v;
     }},
    {"engine", "max_model_len", "integer", "the model's max_position_embeddings", false,
     "--max-model-len (SGLang context_length): longest sequence (prompt + output tokens) the engine accepts",
     [](YamlFields& f, const std::string& k, DeployFile& d) { d.spec.engine.settings.max_model_len = positive(f, k); }},
    {"engine", "max_num_seqs", "integer", "", false,
     "--max-num-seqs (SGLang max_running_requests): most sequences the scheduler runs at once; the default "
     "workload.concurrency",
     [](YamlFields& f, const std::string& k, DeployFile& d) { d.spec.engine.settings.max_num_seqs = positive(f, k); }},
    {"engine", "kv_cache_dtype", "string", "auto", false,
     "--kv-cache-dtype: exactly the engine version's values (`kvplan list engines`), e.g. auto, fp8, fp8_e4m3, fp8_e5m2",
     [](YamlFields& f, const std::string& k, DeployFile& d) {
       d.spec.engine.kv_cache_dtype = f.string(k);
       d.kv_cache_dtype_pos = f.pos(k);
     }},
    {"engine", "block_size", "integer", "the engine's (vLLM 16, MLA 64; SGLang page_size 1)", false,
     "--block-size (SGLang page_size): tokens per KV-cache block",
     [](YamlFields& f, const std::string& k, DeployFile& d) { d.spec.engine.settings.block_size = positive(f, k); }},
    {"engine", "quantization", "string", "the checkpoint's", false,
     "vLLM --quantization: fp8 (weights quantized to fp8 at load), or the checkpoint's method (awq, gptq, "
     "awq_marlin, gptq_marlin: 4-bit weights)",
     [](YamlFields& f, const std::string& k, DeployFile& d) {
       static const std::pair<const char*, DType> kMethods[] = {
           {"fp8", DType::fp8_e4m3}, {"awq", DType::int4}, {"gptq", DType::int4},
           {"awq_marlin", DType::int4}, {"gptq_marlin", DType::int4}};
       const std::string v = f.string(k);
       std::vector<std::string> names;
       for (const auto& [n, dtype] : kMethods) {
         if (v == n) {
           d.spec.engine.quantization = dtype;
           return;
         }
         names.push_back(n);
       }
       throw Error("quantization '" + v + "' is not one kvplan models (fp8, awq, gptq, awq_marlin, gptq_marlin)" +
                       did_you_mean(v, names),
                   f.pos(k));
     }},
    {"engine", "dtype", "string", "auto", false,
     "--dtype (vLLM and SGLang): the model's compute dtype, auto, half/float16, bfloat16 or float/float32; "
     "activations, the auto KV cache and every 16-bit or wider weight take it (quantized formats stay)",
     [](YamlFields& f, const std::string& k, DeployFile& d) {
       try {
         d.spec.engine.dtype = parse_model_dtype(f.string(k));
       } catch (const Error& e) {
         throw Error(e.what(), f.pos(k));
       }
     }},
    {"engine", "tensor_parallel_size", "integer", "1", false,
     "--tensor-parallel-size (SGLang tp_size): GPUs one replica is split over; memory is reported per GPU",
     [](YamlFields& f, const std::string& k, DeployFile& d) { d.spec.engine.tensor_parallel_size = positive(f, k); }},
    {"engine", "data_parallel_size", "integer", "1", false,
     "--data-parallel-size (SGLang dp_size): replicas of the model; each GPU's memory is that of one replica's rank "
     "unless enable_expert_parallel spreads the MoE layers over them",
     [](YamlFields& f, const std::string& k, DeployFile& d) { d.spec.engine.data_parallel_size = positive(f, k); }},
    {"engine", "enable_expert_parallel", "true/false", "false", false,
     "--enable-expert-parallel (vLLM): the MoE layers' whole experts spread over tensor_parallel_size x "
     "data_parallel_size GPUs (docs/fleet.md \"Parallel layouts\")",
     [](YamlFields& f, const std::string& k, DeployFile& d) {
       d.spec.engine.enable_expert_parallel = f.boolean(k, false);
     }},
    {"engine", "pipeline_parallel_size", "integer", "1", false,
     "--pipeline-parallel-size (SGLang pp_size): pipeline stages",
     [](YamlFields& f, const std::string& k, DeployFile& d) {
       d.spec.engine.settings.pipeline_parallel_size = positive(f, k);
     }},
    {"engine", "max_num_batched_tokens", "integer", "the engine's (vLLM 8192 on >= 70 GiB GPUs)", false,
     "--max-num-batched-tokens (SGLang chunked_prefill_size): tokens per forward pass; sizes the profiled "
     "activation peak",
     [](YamlFields& f, const std::string& k, DeployFile& d) {
       d.spec.engine.max_num_batched_tokens = positive(f, k);
     }},
    {"engine", "kv_cache_memory_bytes", "integer", "", false,
     "vLLM --kv-cache-memory-bytes: the KV-cache budget per GPU, given instead of profiled",
     [](YamlFields& f, const std::string& k, DeployFile& d) {
       d.spec.engine.settings.kv_cache_memory_bytes = positive(f, k);
     }},
    {"engine", "speculative_config", "mapping", "", false,
     "vLLM --speculative-config: method (draft_model, eagle, eagle3, mtp, ngram), model (the draft, relative to "
     "this file) and num_speculative_tokens; the draft's layers share the KV pool and its weights the GPU (engine "
     "ideal too); workload.acceptance_rate times decode as speculative steps",
     [](YamlFields& f, const std::string& k, DeployFile& d) {
       YamlFields c(f.node(k), f.source(), "speculative_config");
       SpeculativeConfig x;
       x.method = c.string("method", "");
       if (!x.method.empty()) {
         try {
           x.method = canonical_speculative_method(x.method);
         } catch (const Error& e) {
           throw Error(e.what(), c.pos("method"));
         }
       }
       x.model = c.string("model", "");
       if (x.method.empty() && !x.model.empty()) x.method = "draft_model";
       if (x.method.empty()) throw Error("speculative_config needs a method (draft_model, eagle, eagle3, mtp or ngram)", f.pos(k));
       x.num_speculative_tokens = speculative_count(c, "num_speculative_tokens");
       for (const auto& [key, pos] : c.unused())
         if (unmodelled_speculative_key(key)) d.speculative_arguments.emplace_back(key, pos);
       for (const std::string& key : unmodelled_speculative_keys()) c.expect(key);
       c.finish();
       d.speculative = x;
       d.speculative_pos = f.pos(k);
     }},
    {"engine", "speculative_algorithm", "string", "", false,
     "SGLang --speculative-algorithm: EAGLE (with speculative_draft_model_path an EAGLE head, else the model's own "
     "MTP modules), NEXTN (the MTP modules), EAGLE3, STANDALONE (a draft model) or NGRAM; sized by the version's "
     "rules (docs/engines.md \"SGLang with a drafter\")",
     [](YamlFields& f, const std::string& k, DeployFile& d) {
       sglang_speculative(d, f.pos(k));
       d.speculative_pos = f.pos(k);
       d.sglang_algorithm = f.string(k);
       d.sglang_algorithm_pos = f.pos(k);
     }},
    {"engine", "speculative_draft_model_path", "string", "", false,
     "SGLang: the drafter (bundled id, kvplan YAML, config.json or folder, relative to this file)",
     [](YamlFields& f, const std::string& k, DeployFile& d) { sglang_speculative(d, f.pos(k)).model = f.string(k); }},
    {"engine", "speculative_num_steps", "integer", "the version's choice by model", false,
     "SGLang: draft steps per target step (num_speculative_tokens for timing)",
     [](YamlFields& f, const std::string& k, DeployFile& d) {
       sglang_speculative(d, f.pos(k)).num_speculative_tokens = speculative_count(f, k);
     }},
    {"engine", "speculative_eagle_topk", "integer", "the version's choice, else 1", false,
     "SGLang: drafts kept per step (a tree above 1)",
     [](YamlFields& f, const std::string& k, DeployFile& d) { sglang_speculative(d, f.pos(k)).eagle_topk = speculative_count(f, k); }},
    {"engine", "speculative_num_draft_tokens", "integer", "steps + 1 with topk 1", false,
     "SGLang: tokens verified per step; with the steps and topk it sizes the pool's headroom in versions that keep one",
     [](YamlFields& f, const std::string& k, DeployFile& d) {
       sglang_speculative(d, f.pos(k)).num_draft_tokens = speculative_count(f, k);
     }},
    {"engine", "enforce_eager", "true/false", "false", false,
     "--enforce-eager (SGLang disable_cuda_graph): no CUDA graphs, so no graph memory and eager decode steps",
     [](YamlFields& f, const std::string& k, DeployFile& d) { d.spec.engine.settings.enforce_eager = f.boolean(k, false); }},
    {"engine", "VLLM_USE_FLASHINFER_SAMPLER", "0/1", "the engine version's", false,
     "vLLM's environment variable: the top-k/top-p path of its start-up sampler run, 1 FlashInfer, 0 PyTorch's "
     "(which sorts the vocabulary); it sets the sampler's share of the activation peak",
     [](YamlFields& f, const std::string& k, DeployFile& d) { d.spec.engine.settings.flashinfer_sampler = switch01(f, k); }},
    {"engine", "VLLM_USE_V2_MODEL_RUNNER", "0/1", "the engine version's, by model", false,
     "vLLM's environment variable: 0 keeps the V1 model runner (CUDA-graph memory deducted, the V1 sampler's "
     "activation peak), 1 Model Runner V2 (kvplan models it from vllm@0.22)",
     [](YamlFields& f, const std::string& k, DeployFile& d) { d.spec.engine.settings.v2_model_runner = switch01(f, k); }},
    {"engine", "enable_prefix_caching", "true/false", "the engine version's", false,
     "cache prefixes, so workload.shared_prefix_tokens and trunk_tokens blocks are held once (SGLang: "
     "disable_radix_cache, the negation; on by default in vLLM V1 and SGLang, off in V0)",
     [](YamlFields& f, const std::string& k, DeployFile& d) {
       const bool v = f.boolean(k, true);
       d.spec.engine.settings.prefix_caching = k == "disable_radix_cache" ? !v : v;
     }},
    {"engine", "disable_piecewise_cuda_graph", "true/false", "false", false,
     "SGLang 0.5.10+ --disable-piecewise-cuda-graph: no piecewise CUDA graphs, so the default mem_fraction_static "
     "reserves nothing for them",
     [](YamlFields& f, const std::string& k, DeployFile& d) {
       d.spec.engine.settings.disable_piecewise_cuda_graph = f.boolean(k, false);
     }},
    {"engine", "enable_multimodal", "true/false", "SGLang's choice by model", false,
     "SGLang --enable-multimodal: serve a multimodal checkpoint with its vision tower (Gemma 3 and Llama 4 are "
     "served text-only by default; false serves any text-only)",
     [](YamlFields& f, const std::string& k, DeployFile& d) {
       d.spec.engine.settings.enable_multimodal = f.boolean(k, true);
     }},
    {"engine", "max_mamba_cache_size", "integer", "SGLang's split of the budget", false,
     "SGLang --max-mamba-cache-size: request states a hybrid's state pool holds",
     [](YamlFields& f, const std::string& k, DeployFile& d) {
       d.spec.engine.settings.max_mamba_cache_size = positive(f, k);
     }},
    {"engine", "limit_mm_per_prompt", "mapping", "the engine's", false,
     "vLLM --limit-mm-per-prompt: items of each modality (image, video, audio) a prompt may carry, a count or "
     "{count: N, ...}; a modality at 0 is left out of the profile's vision-encoder pass",
     [](YamlFields& f, const std::string& k, DeployFile& d) {
       std::map<std::string, int64_t>& limits = d.spec.engine.settings.limit_mm_per_prompt;
       if (!f.node(k).IsMap()) {  // the flag's own text: JSON or image=N,video=M
         try {
           limits = parse_mm_limits(f.string(k), k);
         } catch (const Error& e) {
           throw Error(e.what(), f.pos(k));
         }
         return;
       }
       YamlFields m(f.node(k), f.source(), k);
       for (const auto& [modality, pos] : m.unused()) {
         int64_t count = 0;
         if (m.node(modality).IsMap()) {  // {count, width, height, num_frames}: the dummy's size is not modelled
           YamlFields item(m.node(modality), f.source(), modality);
           count = item.integer("count");
           for (const char* size : {"width", "height", "num_frames"}) item.expect(size);
           item.finish();
         } else {
           count = m.integer(modality);
         }
         try {
           add_mm_limit(limits, modality, count, k);
         } catch (const Error& e) {
           throw Error(e.what(), pos);
         }
       }
     }},
    {"engine", "hf_overrides", "mapping", "none", false,
     "vLLM --hf-overrides: config.json keys the engine overrides (a mapping, or the flag's JSON text); kvplan "
     "applies max_position_embeddings and rope_scaling (a YaRN, linear or dynamic factor lifts the context limit "
     "and the RoPE tables), the other keys with a note",
     [](YamlFields& f, const std::string& k, DeployFile& d) {
       const YAML::Node& node = f.node(k);
       try {
         d.hf_overrides = parse_hf_overrides(node.IsMap() ? json_of(node).dump() : f.string(k), k);
       } catch (const Error& e) {
         throw Error(e.what(), f.pos(k));
       }
       d.hf_overrides_pos = f.pos(k);
     }},
    {"engine", "skip_mm_profiling", "true/false", "false", false,
     "vLLM --skip-mm-profiling: no vision-encoder pass in the memory profile",
     [](YamlFields& f, const std::string& k, DeployFile& d) {
       d.spec.engine.settings.skip_mm_profiling = f.boolean(k, false);
     }},
    {"engine", "disable_hybrid_kv_cache_manager", "true/false", "false", false,
     "vLLM --disable-hybrid-kv-cache-manager: sliding-window and chunked layers sized as full attention",
     [](YamlFields& f, const std::string& k, DeployFile& d) {
       d.spec.engine.settings.disable_hybrid_kv_cache_manager = f.boolean(k, false);
     }},

    {"workload", "prompt_tokens", "integer", "", true, "prompt length of a request, in tokens",
     [](YamlFields& f, const std::string& k, DeployFile& d) { d.spec.workload.prompt_tokens = positive(f, k); }},
    {"workload", "output_tokens", "integer", "", true, "tokens generated per request",
     [](YamlFields& f, const std::string& k, DeployFile& d) { d.spec.workload.output_tokens = positive(f, k); }},
    {"workload", "concurrency", "integer", "engine.max_num_seqs", false,
     "requests in flight at once, each holding prompt_tokens + output_tokens in the cache (the worst moment)",
     [](YamlFields& f, const std::string& k, DeployFile& d) { d.spec.workload.concurrency = positive(f, k); }},
    {"workload", "prompt_dist", "string", "fixed", false,
     "prompt lengths: fixed (prompt_tokens), fixed:N, uniform:A..B, or a CSV trace (prompt_tokens,output_tokens"
     "[,arrival_s]; relative to this file) whose pairs give both lengths; sizes the p99 KV cache in use (engine "
     "ideal: paged and contiguous bytes; vllm/sglang: the engine's blocks; docs/kv-economy.md)",
     [](YamlFields& f, const std::string& k, DeployFile& d) { d.spec.workload.prompt_dist = f.string(k); }},
    {"workload", "gen_dist", "string", "fixed", false,
     "output lengths, as prompt_dist: fixed (output_tokens), fixed:N, uniform:A..B or the same trace",
     [](YamlFields& f, const std::string& k, DeployFile& d) { d.spec.workload.gen_dist = f.string(k); }},
    {"workload", "shared_prefix_tokens", "integer", "0", false,
     "tokens at the start of every request that all requests share (a system prompt), held once in whole "
     "blocks (under vLLM/SGLang with prefix caching; docs/kv-economy.md)",
     [](YamlFields& f, const std::string& k, DeployFile& d) { d.spec.workload.shared_prefix_tokens = positive(f, k); }},
    {"workload", "branches", "integer", "1", false,
     "sequences per request: each request's trunk forked this many ways",
     [](YamlFields& f, const std::string& k, DeployFile& d) { d.spec.workload.branches = positive(f, k); }},
    {"workload", "trunk_tokens", "integer", "0", false,
     "tokens of each request that its branches share in whole blocks; prompt + output is one branch",
     [](YamlFields& f, const std::string& k, DeployFile& d) { d.spec.workload.trunk_tokens = positive(f, k); }},
    {"workload", "rate_rps", "number", "", false,
     "requests per second arriving (Poisson) at this one engine: a request-level simulation (engine vllm or "
     "sglang; docs/fleet.md) measures the limits max_ttft_p99_s, max_tpot_p99_s and min_goodput_rps",
     [](YamlFields& f, const std::string& k, DeployFile& d) {
       const double v = f.number(k);
       if (!(v >= kMinRateRps && v < 1e9))
         throw Error("'" + k + "' must be a rate from 1e-6 to below 1e9 requests/s, got " + f.string(k), f.pos(k));
       d.spec.workload.rate_rps = v;
     }},
    {"workload", "trace", "string", "", false,
     "a CSV trace (prompt_tokens,output_tokens,arrival_s; relative to this file) replayed at this one engine, "
     "each request at its recorded arrival with its recorded lengths: the simulation of rate_rps on recorded traffic "
     "(instead of rate_rps)",
     [](YamlFields& f, const std::string& k, DeployFile& d) {
       if (d.spec.workload.rate_rps)
         throw Error("give one of 'rate_rps' (Poisson arrivals) and 'trace' (recorded arrivals)", f.pos(k));
       d.spec.workload.trace = f.string(k);
       if (d.spec.workload.trace.empty()) throw Error("'" + k + "' needs a trace's path", f.pos(k));
     }},
    {"workload", "requests", "integer", "10000; a trace: all", false,
     "requests the simulation runs (a trace: its first, by arrival)",
     [](YamlFields& f, const std::string& k, DeployFile& d) { d.spec.workload.requests = positive(f, k); }},
    {"workload", "seed", "integer", "1", false, "seed of the simulation's arrivals and lengths (rate_rps)",
     [](YamlFields& f, const std::string& k, DeployFile& d) { d.spec.workload.seed = positive(f, k); }},
    {"workload", "prefix_hit_rate", "fraction", "0", false,
     "fraction of prompt tokens found in the prefix cache (vLLM's prefix cache hit rate): their prefill is skipped",
     [](YamlFields& f, const std::string& k, DeployFile& d) {
       const double v = f.number(k);
       if (!(v >= 0 && v <= 1)) throw Error("'" + k + "' must be a fraction in [0, 1], got " + f.string(k), f.pos(k));
       d.spec.workload.prefix_hit_rate = v;
     }},
    {"workload", "acceptance_rate", "fraction", "", false,
     "speculative decoding (engine.speculative_config): accepted / proposed draft tokens, as vLLM reports it; a "
     "step yields 1 + num_speculative_tokens x rate tokens, and decode is timed as speculative steps",
     [](YamlFields& f, const std::string& k, DeployFile& d) {
       const double v = f.number(k);
       if (!(v >= 0 && v <= 1)) throw Error("'" + k + "' must be a fraction in [0, 1], got " + f.string(k), f.pos(k));
       d.spec.workload.acceptance = Acceptance{AcceptanceKind::rate, v};
     }},
    {"workload", "acceptance_length", "number", "", false,
     "speculative decoding: tokens per target step, from 1 to num_speculative_tokens + 1 (vLLM's mean acceptance "
     "length); instead of acceptance_rate",
     [](YamlFields& f, const std::string& k, DeployFile& d) {
       if (d.spec.workload.acceptance)
         throw Error("give one of 'acceptance_rate' and 'acceptance_length' (length = 1 + k x rate)", f.pos(k));
       const double v = f.number(k);
       if (!(v >= 1)) throw Error("'" + k + "' must be at least 1 (the target's own token), got " + f.string(k), f.pos(k));
       d.spec.workload.acceptance = Acceptance{AcceptanceKind::length, v};
     }},
    {"workload", "cache_policy", "string", "full", false,
     "a bounded cache: full, sinks:S+window:W or budget:N tokens per layer (engine ideal)",
     [](YamlFields& f, const std::string& k, DeployFile& d) {
       try {
         d.spec.workload.cache_policy = parse_cache_policy(f.string(k), k);
       } catch (const Error& e) {
         throw Error(e.what(), f.pos(k));
       }
     }},

    {"workload", "offload", "string", "none", false,
     "KV offload tier (engine ideal; docs/kv-economy.md, \"Offload tiers\"): cpu (host memory over the GPU preset's "
     "host_link), c2c (Grace memory over NVLink-C2C), cxl or nvme (offload_bandwidth and offload_capacity given)",
     [](YamlFields& f, const std::string& k, DeployFile& d) {
       const std::string v = f.string(k);
       for (OffloadTier t : {OffloadTier::none, OffloadTier::cpu, OffloadTier::c2c, OffloadTier::cxl, OffloadTier::nvme})
         if (v == name(t)) {
           d.spec.workload.offload = t;
           return;
         }
       throw Error("offload tier '" + v + "' is not one of none, cpu, c2c, cxl, nvme" +
                       did_you_mean(v, {"none", "cpu", "c2c", "cxl", "nvme"}),
                   f.pos(k));
     }},
    {"workload", "offload_bytes", "bytes or %", "", false,
     "KV bytes per GPU in the offload tier (80GiB, 8e10), or a share of the full-attention KV (\"40%\")",
     [](YamlFields& f, const std::string& k, DeployFile& d) {
       const std::string v = f.string(k);
       try {
         if (!v.empty() && v.back() == '%') {
           const double pct = parse_positive(v.substr(0, v.size() - 1), k);
           if (pct > 100) throw Error(k + ": a share of the KV cache must be at most 100%, got '" + v + "'");
           d.spec.workload.offload_fraction = pct / 100;
         } else {
           d.spec.workload.offload_bytes = parse_bytes(v, k);
         }
       } catch (const Error& e) {
         throw Error(e.what(), f.pos(k));
       }
     }},
    {"workload", "offload_mode", "string", "stream", false,
     "stream: the oldest KV of each sequence lives in the tier and every decode step reads it over the link; "
     "reload: the tier holds cached prefixes, loaded back on a prefix-cache hit (needs prefix_hit_rate)",
     [](YamlFields& f, const std::string& k, DeployFile& d) {
       const std::string v = f.string(k);
       if (v == "stream") d.spec.workload.offload_mode = OffloadMode::stream;
       else if (v == "reload") d.spec.workload.offload_mode = OffloadMode::reload;
       else throw Error("offload_mode '" + v + "' is not stream or reload" + did_you_mean(v, {"stream", "reload"}), f.pos(k));
     }},
    {"workload", "offload_overlap", "string", "prefetch", false,
     "prefetch: the link runs under the step (layer l+1's KV moves during layer l); on-demand: each layer waits for its KV",
     [](YamlFields& f, const std::string& k, DeployFile& d) {
       const std::string v = f.string(k);
       if (v == "prefetch") d.spec.workload.offload_overlap = OffloadOverlap::prefetch;
       else if (v == "on-demand") d.spec.workload.offload_overlap = OffloadOverlap::on_demand;
       else
         throw Error("offload_overlap '" + v + "' is not prefetch or on-demand" + did_you_mean(v, {"prefetch", "on-demand"}),
                     f.pos(k));
     }},
    {"workload", "offload_bandwidth", "bytes/s", "the GPU preset's host link", false,
     "the offload tier's read rate into the GPU (25e9, 25GB/s); cxl and nvme are capped by the host link",
     [](YamlFields& f, const std::string& k, DeployFile& d) {
       try {
         d.spec.workload.offload_bandwidth_bytes_per_s = parse_bytes_per_s(f.string(k), k);
       } catch (const Error& e) {
         throw Error(e.what(), f.pos(k));
       }
     }},
    {"workload", "offload_capacity", "bytes", "the GPU preset's host_memory_bytes", false,
     "the offload tier's memory per GPU (256GiB)",
     [](YamlFields& f, const std::string& k, DeployFile& d) {
       try {
         d.spec.workload.offload_capacity_bytes = parse_bytes(f.string(k), k);
       } catch (const Error& e) {
         throw Error(e.what(), f.pos(k));
       }
     }},
    {"limits", "engine_starts", "true/false", "true", false,
     "the engine must start: one request of max_model_len tokens fits its KV cache (not checked for engine ideal)",
     [](YamlFields& f, const std::string& k, DeployFile& d) { d.spec.limits.engine_starts = f.boolean(k, true); }},
    {"limits", "fits", "true/false", "true", false,
     "the workload must fit: concurrency x (prompt + output) tokens in the engine's KV-cache blocks (engine "
     "ideal: weights, KV cache, state and activations in usable memory)",
     [](YamlFields& f, const std::string& k, DeployFile& d) { d.spec.limits.fits = f.boolean(k, true); }},
    {"limits", "min_headroom_percent", "number", "", false,
     "usable memory left free at the workload, as a percent of usable memory, must be at least this",
     [](YamlFields& f, const std::string& k, DeployFile& d) {
       d.spec.limits.min_headroom_percent = non_negative(f, k);
       if (d.spec.limits.min_headroom_percent >= 100)
         throw Error("'" + k + "' must be below 100 (the weights alone take some of the usable memory)", f.pos(k));
     }},
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
     [](YamlFields& f, const std::string& k, DeployFile& d) { d.spec.limits.max_ttft_s = positive_limit(f, k); }},
    {"limits", "max_time_per_output_token_s", "number", "", false,
     "seconds per decode step with concurrency sequences at prompt + output tokens (the slowest step)",
     [](YamlFields& f, const std::string& k, DeployFile& d) {
       d.spec.limits.max_time_per_output_token_s = positive_limit(f, k);
     }},
    {"limits", "min_output_tokens_per_s", "number", "", false,
     "output tokens per second of one replica at that decode step, at least",
     [](YamlFields& f, const std::string& k, DeployFile& d) { d.spec.limits.min_output_tokens_per_s = non_negative(f, k); }},
    {"limits", "max_usd_per_million_output_tokens", "number", "", false,
     "US dollars per million output tokens at that step (the replica's GPU-hours / its output tokens)",
     [](YamlFields& f, const std::string& k, DeployFile& d) {
       d.spec.limits.max_usd_per_million_output_tokens = non_negative(f, k);
     }},
    {"limits", "max_ttft_p99_s", "number", "", false,
     "p99 time to first token of the simulation at workload.rate_rps (queueing and shared steps included)",
     [](YamlFields& f, const std::string& k, DeployFile& d) { d.spec.limits.max_ttft_p99_s = positive_limit(f, k); }},
    {"limits", "max_tpot_p99_s", "number", "", false, "p99 time per output token of that simulation",
     [](YamlFields& f, const std::string& k, DeployFile& d) { d.spec.limits.max_tpot_p99_s = positive_limit(f, k); }},
    {"limits", "min_goodput_rps", "number", "", false,
     "requests per second of that simulation within max_ttft_p99_s and max_tpot_p99_s (those set), at least",
     [](YamlFields& f, const std::string& k, DeployFile& d) { d.spec.limits.min_goodput_rps = non_negative(f, k); }},
};

const std::vector<std::pair<std::string, std::string>> kSections = {
    {"", "the deployment"},
    {"engine",
     "the serving engine: `name` (vllm, sglang or ideal; default vllm) and `version` (a profile or release, "
     "`kvplan list engines`; default the profile marked default), then its arguments by their real names (vLLM's below; "
     "SGLang's for sglang). Arguments of that engine version that kvplan does not model are accepted with a note"},
    {"workload", "the traffic the deployment must carry"},
    {"limits", "what must hold; kvplan check runs one check per limit that is set"},
};

// The engine section: name and version, the modelled keys in the engine's own spelling, and the
// rest kept for check_engine_arguments.
void read_engine(YamlFields& f, DeployFile& d) {
  const std::string engine = f.string("name", "vllm");
  const std::string version = f.string("version", "");
  d.engine = version.empty() ? engine : engine + "@" + version;
  d.engine_pos = f.has("name") ? f.pos("name") : f.pos();
  d.engine_version_pinned = !version.empty();
  for (const KeySpec& k : kKeys) {
    if (std::string(k.section) != "engine") continue;
    const char* key = engine_key(engine == "sglang", k.key);
    if (!key) continue;
    f.expect(key);
    if (f.has(key)) {
      k.read(f, key, d);
      d.spec.key_pos[std::string("engine.") + k.key] = f.pos(key);
    }
  }
  d.engine_arguments = f.unused();
  if (engine == "sglang") finish_sglang_speculative(d, d.sglang_algorithm, d.sglang_algorithm_pos);
}

// A modelled key in the other engine's spelling (SGLang's mem_fraction_static under vLLM): the
// error says whose it is and suggests this engine's spelling; any other key the nearest known name.
std::string suggestion(const std::string& key, EngineKind kind, const std::vector<std::string>& known) {
  const bool sglang = kind == EngineKind::sglang;
  for (const KeySpec& k : kKeys) {
    if (std::string(k.section) != "engine") continue;
    const char* theirs = engine_key(!sglang, k.key);
    const char* ours = engine_key(sglang, k.key);
    if (!theirs || key != theirs || (ours && key == ours)) continue;
    const std::string whose = std::string(" (") + (sglang ? "vLLM" : "SGLang") + "'s spelling";
    if (ours) return whose + "); did you mean '" + ours + "'?";
    return whose + "; " + (sglang ? "SGLang" : "vLLM") + " has no such argument)";
  }
  return did_you_mean(key, known);
}

// A note's location prefix.
std::string at(const SourcePos& pos) {
  return pos.file + ":" + std::to_string(pos.line) + ":" + std::to_string(pos.col) + ": ";
}

}  // namespace

std::vector<std::string> ideal_engine_notes(const DeployFile& d) {
  std::vector<std::string> notes;
  for (const char* key : {"kv_cache_memory_bytes", "enforce_eager", "VLLM_USE_FLASHINFER_SAMPLER",
                          "VLLM_USE_V2_MODEL_RUNNER", "enable_prefix_caching", "disable_piecewise_cuda_graph",
                          "enable_multimodal", "max_mamba_cache_size", "disable_hybrid_kv_cache_manager",
                          "limit_mm_per_prompt", "skip_mm_profiling"}) {
    const auto it = d.spec.key_pos.find(std::string("engine.") + key);
    if (it != d.spec.key_pos.end())
      notes.push_back(at(it->second) + "engine." + key +
                      " acts on vLLM's or SGLang's own plan: engine ideal has none, so it does not change the numbers");
  }
  return notes;
}

std::vector<std::string> check_engine_arguments(const DeployFile& d, const EngineProfile& profile) {
  std::vector<std::string> notes;
  const std::string who = std::string(name(profile.kind)) + " " + profile.version;
  std::vector<std::string> known = profile.arguments;
  for (const KeySpec& k : kKeys) {
    if (std::string(k.section) != "engine") continue;
    const char* key = engine_key(profile.kind == EngineKind::sglang, k.key);
    if (key) known.push_back(key);
  }
  for (const auto& [key, pos] : d.engine_arguments) {
    if (std::find(profile.arguments.begin(), profile.arguments.end(), key) != profile.arguments.end()) {
      notes.push_back(at(pos) + "engine." + key + " is a " + who +
                      " argument kvplan does not model; it does not change the numbers");
      continue;
    }
    throw Error("unknown " + who + " argument '" + key + "' in section 'engine'" + suggestion(key, profile.kind, known), pos);
  }
  for (const auto& [key, pos] : d.speculative_arguments)
    notes.push_back(at(pos) + "engine.speculative_config." + key +
                    " is a vLLM speculative-config key kvplan does not model; it does not change the numbers");
  return notes;
}

std::vector<std::string> hf_overrides_notes(const DeployFile& d) {
  std::vector<std::string> notes;
  if (d.hf_overrides)
    for (const std::string& key : d.hf_overrides->unmodelled_keys)
      notes.push_back(at(d.hf_overrides_pos) + "engine.hf_overrides key '" + key +
                      "' is not applied by kvplan (it applies max_position_embeddings and rope_scaling); the numbers "
                      "are the config's");
  return notes;
}

DeployFile parse_deploy_file(const std::string& text, const std::string& source) {
  const YAML::Node root = parse_yaml(text, source);
  if (!root.IsDefined() || root.IsNull()) throw Error("empty deployment file", {source, 1, 1});
  YamlFields top(root, source, "deployment file");
  DeployFile d;
  d.source = source;
  d.name = source;
  d.spec.key_pos[""] = {source, 0, 0};
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
    if (!is_top) d.spec.key_pos[section] = top.has(section) ? top.pos(section) : top.pos();
    if (section == "engine") {
      read_engine(f, d);
      continue;
    }
    for (const KeySpec& k : kKeys)
      if (k.section == section) f.expect(k.key);
    if (is_top)
      for (const auto& [name, _] : kSections)
        if (!name.empty()) f.expect(name);
    f.finish();
    for (const KeySpec& k : kKeys) {
      if (k.section != section) continue;
      if (f.has(k.key)) {
        k.read(f, k.key, d);
        d.spec.key_pos[section.empty() ? std::string(k.key) : section + "." + k.key] = f.pos(k.key);
      } else if (k.required) {
        f.node(k.key);  // throws "missing required key"
      }
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
  const bool is_path = spec.find('/') != std::string::npos || spec.ends_with(".yaml") || spec.ends_with(".yml") ||
                       spec.ends_with(".json");
  return is_path ? path_relative_to_file(spec, deploy_path) : spec;
}

std::string path_relative_to_file(const std::string& path, const std::string& deploy_path) {
  namespace fs = std::filesystem;
  if (fs::path(path).is_absolute()) return path;
  const fs::path dir = fs::path(deploy_path).parent_path();
  return dir.empty() ? path : (dir / path).lexically_normal().string();
}

}  // namespace kvplan
