#include <catch2/catch.hpp>

#include "core/error.h"
#include "io/deploy_yaml.h"
#include "io/registry.h"
#include "report/check_report.h"

using namespace kvplan;

namespace {
// The located message of the error parsing `text` throws ("no error" if none).
std::string error_of(const std::string& text) {
  try {
    parse_deploy_file(text, "deploy.yaml");
  } catch (const Error& e) {
    return e.located();
  }
  return "no error";
}

const std::string kMinimal = "model: llama-3.1-8b\ngpu: h100-sxm\nworkload:\n  prompt_tokens: 100\n  output_tokens: 10\n";
}  // namespace

TEST_CASE("deploy: a minimal file leaves the engine's settings to its defaults", "[deploy]") {
  const DeployFile d = parse_deploy_file(kMinimal, "deploy.yaml");
  CHECK(d.name == "deploy.yaml");
  CHECK(d.model == "llama-3.1-8b");
  CHECK(d.model_pos.line == 1);
  CHECK(d.gpu == "h100-sxm");
  CHECK(d.engine == "vllm");  // no engine section: vLLM, its default version, unpinned
  CHECK_FALSE(d.engine_version_pinned);
  CHECK_FALSE(d.spec.engine.gpu_memory_utilization.has_value());
  CHECK_FALSE(d.spec.engine.settings.block_size.has_value());
  CHECK(d.spec.engine.tensor_parallel_size == 1);
  CHECK_FALSE(d.spec.engine.max_num_batched_tokens.has_value());
  CHECK(d.spec.engine.kv_cache_dtype.empty());
  CHECK_FALSE(d.spec.engine.settings.max_num_seqs.has_value());
  CHECK(d.spec.workload.prompt_tokens == 100);
  CHECK(d.spec.workload.output_tokens == 10);
  CHECK(d.spec.limits.fits);
  CHECK_FALSE(d.spec.limits.min_headroom_percent.has_value());
}

TEST_CASE("deploy: every key reads into its field", "[deploy]") {
  const DeployFile d = parse_deploy_file(R"(schema_version: 1
name: chat
model: models/x.yaml
gpu: h100
engine:
  name: vllm
  version: "0.19"
  gpu_memory_utilization: 0.85
  max_model_len: 8192
  max_num_seqs: 32
  kv_cache_dtype: fp8_e5m2
  block_size: 32
  tensor_parallel_size: 2
  max_num_batched_tokens: 2048
  pipeline_parallel_size: 2
  kv_cache_memory_bytes: 17179869184
  enforce_eager: true
  disable_hybrid_kv_cache_manager: true
workload:
  prompt_tokens: 1000
  output_tokens: 200
  concurrency: 16
limits:
  fits: false
  min_headroom_percent: 12.5
  max_model_len_fits: true
  max_num_seqs_fit: true
)",
                                         "d.yaml");
  CHECK(d.name == "chat");
  CHECK(d.engine == "vllm@0.19");
  CHECK(d.engine_version_pinned);
  CHECK(d.spec.engine.gpu_memory_utilization == 0.85);
  CHECK(d.spec.engine.settings.max_model_len == 8192);
  CHECK(d.spec.engine.settings.max_num_seqs == 32);
  CHECK(d.spec.engine.kv_cache_dtype == "fp8_e5m2");
  CHECK(d.spec.engine.settings.block_size == 32);
  CHECK(d.spec.engine.tensor_parallel_size == 2);
  CHECK(d.spec.engine.max_num_batched_tokens == 2048);
  CHECK(d.spec.engine.settings.pipeline_parallel_size == 2);
  CHECK(d.spec.engine.settings.kv_cache_memory_bytes == 17179869184);
  CHECK(d.spec.engine.settings.enforce_eager);
  CHECK(d.spec.engine.settings.disable_hybrid_kv_cache_manager);
  CHECK(d.engine_arguments.empty());
  CHECK(d.spec.workload.concurrency == 16);
  CHECK_FALSE(d.spec.limits.fits);
  CHECK(d.spec.limits.min_headroom_percent == 12.5);
  CHECK(d.spec.limits.max_model_len_fits);
  CHECK(d.spec.limits.max_num_seqs_fit);
}

TEST_CASE("deploy: an sglang engine section takes SGLang's names", "[deploy]") {
  const DeployFile d = parse_deploy_file(kMinimal + R"(engine:
  name: sglang
  mem_fraction_static: 0.8
  context_length: 4096
  page_size: 64
  tp_size: 2
  chunked_prefill_size: 4096
  max_running_requests: 48
)",
                                         "d.yaml");
  CHECK(d.engine == "sglang");
  CHECK(d.spec.engine.gpu_memory_utilization == 0.8);
  CHECK(d.spec.engine.settings.max_model_len == 4096);
  CHECK(d.spec.engine.settings.block_size == 64);
  CHECK(d.spec.engine.tensor_parallel_size == 2);
  CHECK(d.spec.engine.max_num_batched_tokens == 4096);
  CHECK(d.spec.engine.settings.max_num_seqs == 48);
  // vLLM's spelling in an sglang section is not SGLang's: kept for the profile to judge.
  const DeployFile v = parse_deploy_file(kMinimal + "engine:\n  name: sglang\n  gpu_memory_utilization: 0.8\n", "d.yaml");
  REQUIRE(v.engine_arguments.size() == 1);
  CHECK(v.engine_arguments[0].first == "gpu_memory_utilization");
  CHECK_THROWS_WITH(check_engine_arguments(v, Registry::load("").resolve_engine("sglang@0.5.10")),
                    "unknown sglang 0.5.10 argument 'gpu_memory_utilization' in section 'engine' (vLLM's spelling); "
                    "did you mean 'mem_fraction_static'?");
}

TEST_CASE("deploy: unknown keys are errors at file:line:col with did-you-mean", "[deploy]") {
  CHECK(error_of(kMinimal + "limts:\n  fits: true\n") ==
        "deploy.yaml:6:1: unknown key 'limts' in deployment file; did you mean 'limits'?");
  CHECK(error_of(kMinimal + "limits:\n  max_ttft: 1\n") ==
        "deploy.yaml:7:3: unknown key 'max_ttft' in section 'limits'; did you mean 'max_ttft_s'?");
  CHECK(error_of(kMinimal + "limits:\n  latency: 1\n") == "deploy.yaml:7:3: unknown key 'latency' in section 'limits'");
  CHECK(error_of(kMinimal + "limits:\n  min_headroom_pct: 10\n") ==
        "deploy.yaml:7:3: unknown key 'min_headroom_pct' in section 'limits'; did you mean 'min_headroom_percent'?");
}

TEST_CASE("deploy: text that is not UTF-8 is refused by the parser itself, where it stops being text", "[deploy]") {
  // The file reader refuses such bytes; the parser given text directly must too (a key of
  // hf_overrides with byte 0xFF was written into JSON and threw outside kvplan::Error).
  // kMinimal has 5 lines; line 6 is "engine:", 7 "  hf_overrides:", 8 the key: four spaces,
  // 'r' at column 5, 'o' at 6, byte 0xFF at 7.
  CHECK(error_of(kMinimal + "engine:\n  hf_overrides:\n    ro\xffpe: 1\n") == "deploy.yaml:8:7: not UTF-8 text (byte 0xff)");
  // "name: a" is columns 1-7 of line 6, the NUL column 8.
  CHECK(error_of(kMinimal + std::string("name: a\0b\n", 10)) == "deploy.yaml:6:8: not a text file (a NUL byte)");
}

TEST_CASE("deploy: bad values are errors at the value", "[deploy]") {
  CHECK(error_of(kMinimal + "engine:\n  gpu_memory_utilization: 1.5\n") ==
        "deploy.yaml:7:27: 'gpu_memory_utilization' must be a fraction in (0, 1], got 1.5");
  CHECK(error_of(kMinimal + "engine:\n  max_num_seqs: many\n") ==
        "deploy.yaml:7:17: 'max_num_seqs' must be a whole number, got 'many'");
  CHECK(error_of(kMinimal + "engine:\n  block_size: 0\n") == "deploy.yaml:7:15: 'block_size' must be at least 1, got 0");
  CHECK(error_of(kMinimal + "limits:\n  fits: maybe\n") ==
        "deploy.yaml:7:9: 'fits' must be true or false, got 'maybe'");
  CHECK(error_of("schema_version: 2\n" + kMinimal) ==
        "deploy.yaml:1:17: unsupported schema_version 2 (this kvplan reads version 1)");
  CHECK(error_of(kMinimal + "engine: 5\n") == "deploy.yaml:6:9: section 'engine' must be a mapping of keys to values");
}

TEST_CASE("deploy: engine arguments are the engine version's", "[deploy]") {
  const EngineProfile vllm = Registry::load("").resolve_engine("vllm@0.19");
  // An argument vLLM 0.19 has but kvplan does not model: a note with its place.
  const DeployFile known = parse_deploy_file(kMinimal + "engine:\n  swap_space: 4\n", "deploy.yaml");
  const std::vector<std::string> notes = check_engine_arguments(known, vllm);
  REQUIRE(notes.size() == 1);
  CHECK(notes[0] ==
        "deploy.yaml:7:3: engine.swap_space is a vllm 0.19 argument kvplan does not model; it does not "
        "change the numbers");
  // Prefix caching is modelled: vLLM's enable_prefix_caching, SGLang's disable_radix_cache (negated).
  const DeployFile off = parse_deploy_file(kMinimal + "engine:\n  enable_prefix_caching: false\n", "deploy.yaml");
  CHECK(check_engine_arguments(off, vllm).empty());
  CHECK(off.spec.engine.settings.prefix_caching == std::optional<bool>(false));
  const DeployFile radix =
      parse_deploy_file(kMinimal + "engine:\n  name: sglang\n  disable_radix_cache: true\n", "deploy.yaml");
  CHECK(radix.spec.engine.settings.prefix_caching == std::optional<bool>(false));
  // SGLang's max_mamba_cache_size is modelled there; vLLM has no such argument.
  const DeployFile states =
      parse_deploy_file(kMinimal + "engine:\n  name: sglang\n  max_mamba_cache_size: 300\n", "deploy.yaml");
  CHECK(states.spec.engine.settings.max_mamba_cache_size == std::optional<int64_t>(300));
  CHECK(check_engine_arguments(states, Registry::load("").resolve_engine("sglang@0.5")).empty());
  // SGLang 0.5.10's disable_piecewise_cuda_graph is modelled (the default fraction's reserve).
  const DeployFile piecewise =
      parse_deploy_file(kMinimal + "engine:\n  name: sglang\n  disable_piecewise_cuda_graph: true\n", "deploy.yaml");
  CHECK(piecewise.spec.engine.settings.disable_piecewise_cuda_graph);
  CHECK(check_engine_arguments(piecewise, Registry::load("").resolve_engine("sglang@0.5.10")).empty());
  // SGLang's enable_multimodal is modelled (Gemma 3 and Llama 4 served with their towers).
  const DeployFile mm = parse_deploy_file(kMinimal + "engine:\n  name: sglang\n  enable_multimodal: true\n", "deploy.yaml");
  CHECK(mm.spec.engine.settings.enable_multimodal == std::optional<bool>(true));
  CHECK(check_engine_arguments(mm, Registry::load("").resolve_engine("sglang@0.5.19")).empty());
  CHECK(parse_deploy_file(kMinimal + "engine:\n  name: sglang\n", "deploy.yaml").spec.engine.settings.enable_multimodal ==
        std::nullopt);
  // vLLM's limit_mm_per_prompt and skip_mm_profiling are modelled (the profile's vision pass).
  const DeployFile limits = parse_deploy_file(
      kMinimal + "engine:\n  limit_mm_per_prompt: {image: 1, video: {count: 0, num_frames: 8}}\n  skip_mm_profiling: true\n",
      "deploy.yaml");
  CHECK(limits.spec.engine.settings.limit_mm_per_prompt == std::map<std::string, int64_t>{{"image", 1}, {"video", 0}});
  CHECK(limits.spec.engine.settings.skip_mm_profiling);
  CHECK(check_engine_arguments(limits, vllm).empty());
  CHECK(parse_deploy_file(kMinimal + "engine:\n  limit_mm_per_prompt: '{\"video\": 0}'\n", "deploy.yaml")
            .spec.engine.settings.limit_mm_per_prompt == std::map<std::string, int64_t>{{"video", 0}});
  CHECK(error_of(kMinimal + "engine:\n  limit_mm_per_prompt: {vidoe: 0}\n") ==
        "deploy.yaml:7:25: limit_mm_per_prompt: unknown modality 'vidoe' (image, video or audio); did you mean 'video'?");
  CHECK(error_of(kMinimal + "engine:\n  limit_mm_per_prompt: 'image=x'\n") ==
        "deploy.yaml:7:24: limit_mm_per_prompt: 'image' must be a whole number >= 0, got 'x'");
  // vLLM's hf_overrides: a mapping or the flag's JSON text; the keys kvplan does not apply are kept
  // for a note, bad values are errors at the value.
  const DeployFile over = parse_deploy_file(
      kMinimal + "engine:\n  hf_overrides:\n    rope_scaling: {rope_type: yarn, factor: 4.0, "
                 "original_max_position_embeddings: 32768}\n    num_experts: 64\n",
      "deploy.yaml");
  REQUIRE(over.hf_overrides);
  REQUIRE(over.hf_overrides->config.rope_scaling);
  CHECK(over.hf_overrides->config.rope_scaling->type == "yarn");
  CHECK(over.hf_overrides->config.rope_scaling->factor == 4.0);
  CHECK(over.hf_overrides->config.rope_scaling->original_max_position_embeddings == std::optional<int64_t>(32768));
  CHECK(over.hf_overrides->unmodelled_keys == std::vector<std::string>{"num_experts"});
  CHECK(check_engine_arguments(over, vllm).empty());
  CHECK(parse_deploy_file(kMinimal + "engine:\n  hf_overrides: '{\"max_position_embeddings\": 8192}'\n", "deploy.yaml")
            .hf_overrides->config.max_position_embeddings == std::optional<int64_t>(8192));
  CHECK(error_of(kMinimal + "engine:\n  hf_overrides: {max_position_embeddings: 0}\n") ==
        "deploy.yaml:7:17: hf_overrides: 'max_position_embeddings' must be a whole number >= 1");
  // --dtype is modelled under both engines' spelling; a weight format there is an error in place.
  const DeployFile fp32 = parse_deploy_file(kMinimal + "engine:\n  dtype: float32\n", "deploy.yaml");
  CHECK(fp32.spec.engine.dtype == std::optional<DType>(DType::fp32));
  CHECK(check_engine_arguments(fp32, vllm).empty());
  const DeployFile half = parse_deploy_file(kMinimal + "engine:\n  name: sglang\n  dtype: half\n", "deploy.yaml");
  CHECK(half.spec.engine.dtype == std::optional<DType>(DType::fp16));
  CHECK(error_of(kMinimal + "engine:\n  dtype: fp8\n") ==
        "deploy.yaml:7:10: --dtype 'fp8' is not one of auto, half, float16, bfloat16, float, float32 (the model's "
        "compute dtype; weight formats are --weight-dtype's, a deploy file's quantization)");
  // The engines' spellings only: vLLM and SGLang refuse kvplan's short names.
  CHECK_THROWS(parse_deploy_file(kMinimal + "engine:\n  dtype: fp16\n", "deploy.yaml"));
  // A misspelling, and SGLang's name in a vLLM file: errors with "did you mean".
  auto error = [&](const std::string& engine_lines) {
    try {
      check_engine_arguments(parse_deploy_file(kMinimal + "engine:\n" + engine_lines, "deploy.yaml"), vllm);
    } catch (const Error& e) {
      return e.located();
    }
    return std::string("no error");
  };
  // Real arguments kvplan does not model, from a deploy file of each engine: one note each.
  CHECK(check_engine_arguments(parse_deploy_file(kMinimal + "engine:\n  async_scheduling: true\n  attention_backend: "
                                                              "FLASH_ATTN\n  enable_sleep_mode: true\n",
                                                 "deploy.yaml"),
                               vllm)
            .size() == 3);
  CHECK(check_engine_arguments(parse_deploy_file(kMinimal + "engine:\n  name: sglang\n  enable_memory_saver: true\n  "
                                                              "attention_backend: fa3\n",
                                                 "deploy.yaml"),
                               Registry::load("").resolve_engine("sglang@0.5.10"))
            .size() == 2);
  CHECK(error("  max_num_seq: 64\n") ==
        "deploy.yaml:7:3: unknown vllm 0.19 argument 'max_num_seq' in section 'engine'; did you mean 'max_num_seqs'?");
  CHECK(error("  mem_fraction_static: 0.8\n") ==
        "deploy.yaml:7:3: unknown vllm 0.19 argument 'mem_fraction_static' in section 'engine' (SGLang's spelling); "
        "did you mean 'gpu_memory_utilization'?");
  CHECK(error("  context_length: 8192\n") ==
        "deploy.yaml:7:3: unknown vllm 0.19 argument 'context_length' in section 'engine' (SGLang's spelling); "
        "did you mean 'max_model_len'?");
  CHECK(error("  enable_multimodal: true\n") ==
        "deploy.yaml:7:3: unknown vllm 0.19 argument 'enable_multimodal' in section 'engine' (SGLang's spelling; "
        "vLLM has no such argument)");
  CHECK(error("  max_mamba_cache_size: 300\n") ==
        "deploy.yaml:7:3: unknown vllm 0.19 argument 'max_mamba_cache_size' in section 'engine' (SGLang's spelling; "
        "vLLM has no such argument)");
  // The KV dtype is exactly the profile's spelling.
  CHECK_THROWS_WITH(engine_kv_cache_dtype(vllm, "fp9"),
                    "--kv-cache-dtype 'fp9': vllm 0.19 accepts auto, fp8, fp8_e4m3, fp8_e5m2, fp8_inc, bfloat16, "
                    "fp8_ds_mla (kvplan's other dtypes need --engine ideal); did you mean 'fp8'?");
  CHECK(engine_kv_cache_dtype(vllm, "fp8") == DType::fp8_e4m3);
  CHECK(engine_kv_cache_dtype(vllm, "bfloat16") == DType::bf16);
  CHECK_FALSE(engine_kv_cache_dtype(vllm, "auto").has_value());
}

TEST_CASE("deploy: a key given twice is an error at the second", "[deploy]") {
  CHECK(error_of(kMinimal + "engine:\n  max_num_seqs: 8\n  max_num_seqs: 16\n") ==
        "deploy.yaml:8:3: duplicate key 'max_num_seqs' in section 'engine'");
}

TEST_CASE("deploy: missing required keys and empty files", "[deploy]") {
  CHECK(error_of("gpu: h100\nworkload:\n  prompt_tokens: 1\n  output_tokens: 1\n") ==
        "deploy.yaml:1:1: deployment file is missing required key 'model'");
  CHECK(error_of("model: m\ngpu: g\nworkload:\n  prompt_tokens: 1\n") ==
        "deploy.yaml:4:3: section 'workload' is missing required key 'output_tokens'");
  CHECK(error_of("model: m\ngpu: g\n") == "deploy.yaml: section 'workload' is missing required key 'prompt_tokens'");
  CHECK(error_of("") == "deploy.yaml:1:1: empty deployment file");
  CHECK(error_of("model: [a\n").rfind("deploy.yaml:", 0) == 0);  // malformed YAML, located
}

TEST_CASE("deploy: --explain lists every key the parser reads, and the parser reads every listed key", "[deploy]") {
  const std::vector<DeployKeyDoc> keys = deploy_key_docs();
  const std::string explain = render_deploy_explain(deploy_section_docs(), keys);
  std::string file;
  std::string section = "-";
  for (const DeployKeyDoc& k : keys) {
    CHECK(explain.find(k.key) != std::string::npos);
    CHECK(explain.find(k.meaning) != std::string::npos);
    CHECK_FALSE(k.meaning.empty());
    if (k.section != section) {
      section = k.section;
      if (!section.empty()) file += section + ":\n";
    }
    std::string value = k.type == "integer" ? "8" : k.type == "fraction" ? "0.5" : k.type == "number" ? "10"
                        : k.type == "true/false" ? "true" : "x";
    if (k.key == "acceptance_length") continue;  // instead of acceptance_rate: parsed alone below
    if (k.key == "trace") continue;              // instead of rate_rps: parsed alone below
    if (k.key == "schema_version") value = "1";
    if (k.key == "kv_cache_dtype" || k.key == "quantization") value = "fp8";
    if (k.key == "dtype") value = "bfloat16";
    if (k.key == "cache_policy") value = "budget:2048";
    if (k.key == "offload") value = "cpu";
    if (k.key == "offload_bytes") value = "10GiB";
    if (k.key == "offload_mode") value = "stream";
    if (k.key == "offload_overlap") value = "on-demand";
    if (k.key == "offload_bandwidth") value = "25GB/s";
    if (k.key == "offload_capacity") value = "64GiB";
    if (k.key == "VLLM_USE_FLASHINFER_SAMPLER") value = "1";
    if (k.key == "VLLM_USE_V2_MODEL_RUNNER") value = "0";
    if (k.type == "mapping") value = "{method: ngram, num_speculative_tokens: 2}";
    if (k.key == "limit_mm_per_prompt") value = "{image: 1, video: 0}";
    if (k.key == "hf_overrides") value = "{max_position_embeddings: 65536}";
    file += (section.empty() ? "" : "  ") + k.key + ": " + value + "\n";
  }
  CHECK_NOTHROW(parse_deploy_file(file, "all-keys.yaml"));
  const std::string base = "model: m\ngpu: g\nworkload:\n  prompt_tokens: 8\n  output_tokens: 8\n";
  const DeployFile by_length = parse_deploy_file(base + "  acceptance_length: 2.5\n", "length.yaml");
  REQUIRE(by_length.spec.workload.acceptance);
  CHECK(by_length.spec.workload.acceptance->kind == AcceptanceKind::length);
  CHECK(by_length.spec.workload.acceptance->value == 2.5);
  CHECK_THROWS_WITH(parse_deploy_file(base + "  acceptance_rate: 0.5\n  acceptance_length: 2.5\n", "both.yaml"),
                    "give one of 'acceptance_rate' and 'acceptance_length' (length = 1 + k x rate)");
  CHECK_THROWS_WITH(parse_deploy_file(base + "  acceptance_rate: 1.5\n", "rate.yaml"),
                    "'acceptance_rate' must be a fraction in [0, 1], got 1.5");
  CHECK(parse_deploy_file(base + "  trace: t.csv\n", "trace.yaml").spec.workload.trace == "t.csv");
  CHECK_THROWS_WITH(parse_deploy_file(base + "  trace: t.csv\n  rate_rps: 2\n", "both.yaml"),
                    "give one of 'rate_rps' (Poisson arrivals) and 'trace' (recorded arrivals)");
  CHECK_THROWS_WITH(parse_deploy_file(base + "  trace: ''\n", "empty.yaml"), "'trace' needs a trace's path");
}

TEST_CASE("deploy: model and GPU paths are relative to the deployment file", "[deploy]") {
  CHECK(relative_to_file("llama-3.1-8b", "deploy/a.yaml") == "llama-3.1-8b");
  CHECK(relative_to_file("models/x.yaml", "deploy/a.yaml") == "deploy/models/x.yaml");
  CHECK(relative_to_file("../m/config.json", "ci/deploy/a.yaml") == "ci/m/config.json");
  CHECK(relative_to_file("x.yaml", "a.yaml") == "x.yaml");
  CHECK(relative_to_file("/abs/x.yaml", "deploy/a.yaml") == "/abs/x.yaml");
  // A trace's path is always a path, even without a slash or a known extension.
  CHECK(path_relative_to_file("t.csv", "deploy/a.yaml") == "deploy/t.csv");
  CHECK(path_relative_to_file("../traces/t", "deploy/a.yaml") == "traces/t");
  CHECK(path_relative_to_file("t.csv", "a.yaml") == "t.csv");
  CHECK(path_relative_to_file("/abs/t.csv", "deploy/a.yaml") == "/abs/t.csv");
}

TEST_CASE("deploy: the offload keys", "[deploy][offload]") {
  const std::string base = "model: m\ngpu: g\nworkload:\n  prompt_tokens: 8\n  output_tokens: 8\n";
  const DeployWorkload w = parse_deploy_file(base + "  offload: nvme\n  offload_bytes: 10GiB\n  offload_mode: reload\n"
                                             "  offload_overlap: on-demand\n  offload_bandwidth: 7GB/s\n"
                                             "  offload_capacity: 4TiB\n",
                                             "nvme.yaml")
                               .spec.workload;
  CHECK(w.offload == OffloadTier::nvme);
  CHECK(w.offload_bytes == 10737418240);  // 10 x 2^30
  CHECK(w.offload_fraction == 0);
  CHECK(w.offload_mode == OffloadMode::reload);
  CHECK(w.offload_overlap == OffloadOverlap::on_demand);
  CHECK(w.offload_bandwidth_bytes_per_s == 7e9);
  CHECK(w.offload_capacity_bytes == 4398046511104);  // 4 x 2^40
  const DeployWorkload share = parse_deploy_file(base + "  offload: cpu\n  offload_bytes: \"40%\"\n", "share.yaml").spec.workload;
  CHECK(share.offload_fraction == Approx(0.4));
  CHECK(share.offload_bytes == 0);
  // Line 6, column 12: the value after "  offload: ".
  CHECK_THROWS_WITH(parse_deploy_file(base + "  offload: dram\n", "tier.yaml"),
                    Catch::Contains("offload tier 'dram' is not one of none, cpu, c2c, cxl, nvme"));
  try {
    parse_deploy_file(base + "  offload: cpu\n  offload_bytes: \"101%\"\n", "pct.yaml");
    FAIL("a share above 100% parsed");
  } catch (const Error& e) {
    CHECK(e.pos().line == 7);
    CHECK(e.pos().col == 18);
    CHECK(std::string(e.what()).find("at most 100%") != std::string::npos);
  }
  CHECK_THROWS_WITH(parse_deploy_file(base + "  offload_overlap: prefech\n", "overlap.yaml"),
                    Catch::Contains("did you mean 'prefetch'?"));
}

TEST_CASE("deploy: speculative_config takes vLLM's keys and method names", "[deploy][speculative]") {
  const EngineProfile vllm = Registry::load("").resolve_engine("vllm@0.19");
  // A model's own MTP method is vLLM's mtp; vLLM's other keys get a note each.
  const DeployFile d = parse_deploy_file(kMinimal + "engine:\n  speculative_config:\n    method: qwen3_5_mtp\n"
                                                    "    num_speculative_tokens: 2\n    draft_sample_method: greedy\n",
                                         "deploy.yaml");
  REQUIRE(d.speculative);
  CHECK(d.speculative->method == "mtp");
  const std::vector<std::string> notes = check_engine_arguments(d, vllm);
  REQUIRE(notes.size() == 1);
  CHECK(notes[0] == "deploy.yaml:10:5: engine.speculative_config.draft_sample_method is a vLLM speculative-config key "
                    "kvplan does not model; it does not change the numbers");
  // A misspelt key and an unmodelled method are errors at their place.
  CHECK(error_of(kMinimal + "engine:\n  speculative_config:\n    method: ngram\n    num_speculative_tokens: 2\n"
                            "    prompt_lookup_mx: 4\n") ==
        "deploy.yaml:10:5: unknown key 'prompt_lookup_mx' in speculative_config; did you mean 'prompt_lookup_max'?");
  CHECK(error_of(kMinimal + "engine:\n  speculative_config:\n    method: medusa\n    num_speculative_tokens: 2\n") ==
        "deploy.yaml:8:13: speculative method 'medusa' is vLLM's, but kvplan does not model it (it models draft_model, "
        "eagle, eagle3, mtp with the models' own MTP names, and ngram)");
}

TEST_CASE("speculative counts past 1024 draft tokens are refused where they are read", "[deploy][speculative]") {
  // kMaxSpeculativeTokens = 1024: a step then verifies at most 1,025 tokens of a sequence. The
  // counts at the bound pass, one above fails, at the value's own line and column.
  CHECK(parse_deploy_file(kMinimal + "engine:\n  speculative_config:\n    method: ngram\n    num_speculative_tokens: 1024\n",
                          "deploy.yaml")
            .speculative->num_speculative_tokens == 1024);
  CHECK(error_of(kMinimal + "engine:\n  speculative_config:\n    method: ngram\n    num_speculative_tokens: 1025\n") ==
        "deploy.yaml:9:29: 'num_speculative_tokens' must be from 1 to 1024, got 1025");
  CHECK(error_of(kMinimal + "engine:\n  name: sglang\n  speculative_algorithm: NGRAM\n  speculative_eagle_topk: 2000\n") ==
        "deploy.yaml:9:27: 'speculative_eagle_topk' must be from 1 to 1024, got 2000");
  // JSON: 2^64 - 1 is an unsigned number past int64's range, 0 is below the range.
  CHECK_THROWS_WITH(parse_speculative_config(R"({"method": "ngram", "num_speculative_tokens": 18446744073709551615})"),
                    "--speculative-config: 'num_speculative_tokens' must be from 1 to 1024, got 18446744073709551615");
  CHECK_THROWS_WITH(parse_speculative_config(R"({"method": "ngram", "num_speculative_tokens": 0})"),
                    "--speculative-config: 'num_speculative_tokens' must be from 1 to 1024, got 0");
  CHECK(parse_speculative_config(R"({"method": "ngram", "num_speculative_tokens": 1024})").num_speculative_tokens == 1024);
  CHECK_THROWS_WITH(sglang_speculative_config("EAGLE3", "head", 1025, 0, 0),
                    "'speculative_num_steps' must be from 1 to 1024, got 1025");
}

TEST_CASE("speculative config: vLLM's other keys are listed for a note, unknown ones refused", "[speculative]") {
  const SpeculativeConfig c =
      parse_speculative_config(R"({"method": "deepseek_mtp", "num_speculative_tokens": 1, "prompt_lookup_max": 4})");
  CHECK(c.method == "mtp");
  CHECK(c.unmodelled_keys == std::vector<std::string>{"prompt_lookup_max"});
  CHECK_THROWS_WITH(parse_speculative_config(R"({"method": "ngram", "num_speculative_tokens": 1, "foo": 4})"),
                    "--speculative-config: unknown key 'foo' (kvplan reads method, model and num_speculative_tokens)");
}
