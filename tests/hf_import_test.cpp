// HF config.json import: every bundled model's real config must give the same layers as its
// models/<id>.yaml, plus families without a bundled model checked against their published configs.
#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <map>
#include <string>

#include "core/error.h"
#include "io/files.h"
#include "io/hf_config.h"
#include "io/model_yaml.h"
#include "hf_test_helpers.h"

using namespace kvplan;
using namespace kvplan::test;

namespace {

std::string error_of(const std::string& json, const std::string& source = "cfg.json") {
  try {
    import_hf_config(json, source);
  } catch (const Error& e) {
    return e.located();
  }
  return "";
}

}  // namespace

TEST_CASE("every bundled model's HF config imports to its YAML", "[hf]") {
  int compared = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kFixtures)) {
    if (entry.path().extension() != ".json") continue;
    const std::string id = entry.path().stem().string();
    const std::string yaml_path = std::string(KVPLAN_SOURCE_DIR) + "/models/" + id + ".yaml";
    if (!is_regular_file(yaml_path)) continue;
    INFO("model " << id);
    const Model hf = import_file(entry.path().string());
    const Model yaml = parse_model_yaml(read_text_file(yaml_path), yaml_path, id);
    CHECK(hf.id == id);
    CHECK(hf.vocab_size == yaml.vocab_size);
    CHECK(hf.hidden_size == yaml.hidden_size);
    CHECK(hf.max_context == yaml.max_context);
    CHECK(hf.tie_word_embeddings == yaml.tie_word_embeddings);
    CHECK(hf.norm == yaml.norm);
    CHECK(name(hf.dtype) == std::string(name(yaml.dtype)));
    CHECK(hf.expert_dtype == yaml.expert_dtype);
    CHECK(hf.activation_dtype == yaml.activation_dtype);
    CHECK(hf.kv_dtype == yaml.kv_dtype);
    CHECK(hf.state_dtype == yaml.state_dtype);
    CHECK(hf.towers == yaml.towers);
    // The MLP's form and the largest image's tokens come from the modeling code and
    // preprocessor_config.json, not config.json: the YAML alone states them.
    std::optional<Model::VisionConfig> from_config = yaml.vision_config;
    if (from_config) from_config->gated_mlp.reset(), from_config->max_image_tokens.reset();
    CHECK(hf.vision_config == from_config);
    CHECK(hf.mtp_layers == yaml.mtp_layers);
    REQUIRE(hf.layers.size() == yaml.layers.size());
    const auto a = structure(hf), b = structure(yaml);
    for (size_t i = 0; i < a.size(); ++i) {
      INFO("layer " << i << ": imported " << name(kind_of(a[i])) << " (" << hf.layers[i].block << "), yaml "
                    << name(kind_of(b[i])) << " (" << yaml.layers[i].block << ")");
      CHECK(a[i] == b[i]);
    }
    ++compared;
  }
  CHECK(compared >= 20);
}

TEST_CASE("Qwen3-8B: qk-norm, explicit head_dim, no sliding window", "[hf]") {
  // Qwen/Qwen3-8B config.json: 36 layers, 32 heads, 8 KV heads, head_dim 128, use_sliding_window false.
  const Model m = import_file(kFixtures + "/extra/qwen3-8b.json");
  CHECK(m.id == "qwen3-8b");
  REQUIRE(m.layers.size() == 36);
  CHECK(count_kinds(m) == std::map<LayerKind, int>{{LayerKind::attention, 36}});
  const Attention& a = attention_of(m.layers[0]);
  CHECK(a.heads == 32);
  CHECK(a.kv_heads == 8);
  CHECK(a.head_dim == 128);
  CHECK(a.qk_norm);
  CHECK_FALSE(a.qkv_bias);
  CHECK(std::get<DenseMlp>(*m.layers[0].mlp).intermediate_size == 12288);
  CHECK(m.vocab_size == 151936);
  CHECK(m.max_context == 40960);
  CHECK_FALSE(m.tie_word_embeddings);
  CHECK(m.dtype == DType::bf16);
}

TEST_CASE("DeepSeek-V2-Lite: MLA without query compression, one dense layer then MoE", "[hf]") {
  // deepseek-ai/DeepSeek-V2-Lite config.json: 27 layers, first_k_dense_replace 1, q_lora_rank null,
  // kv_lora_rank 512, 64 routed + 2 shared experts of 1408, top-6.
  const Model m = import_file(kFixtures + "/extra/deepseek-v2-lite.json");
  REQUIRE(m.layers.size() == 27);
  CHECK(count_kinds(m) == std::map<LayerKind, int>{{LayerKind::mla, 27}});
  const Mla& mla = std::get<Mla>(*m.layers[0].mixer);
  CHECK(mla.heads == 16);
  CHECK(mla.q_lora_rank == 0);
  CHECK(mla.kv_lora_rank == 512);
  CHECK(mla.qk_nope_head_dim == 128);
  CHECK(mla.qk_rope_head_dim == 64);
  CHECK(mla.v_head_dim == 128);
  CHECK(std::get<DenseMlp>(*m.layers[0].mlp).intermediate_size == 10944);
  for (size_t i = 1; i < m.layers.size(); ++i) REQUIRE(std::holds_alternative<MoeMlp>(*m.layers[i].mlp));
  const MoeMlp& moe = std::get<MoeMlp>(*m.layers[1].mlp);
  CHECK(moe.experts == 64);
  CHECK(moe.experts_per_token == 6);
  CHECK(moe.expert_intermediate_size == 1408);
  CHECK(moe.shared_experts == 2);
  CHECK(moe.shared_intermediate_size == 1408);
  CHECK_FALSE(moe.router_bias);  // greedy softmax routing, no correction bias
  CHECK(m.vocab_size == 102400);
}

TEST_CASE("Gemma-3-4B (multimodal): shapes under text_config, defaults filled in", "[hf]") {
  // google/gemma-3-4b-it config.json lists only hidden 2560, intermediate 10240, 34 layers and
  // window 1024; Gemma3TextConfig supplies 8 heads, 4 KV heads, head_dim 256, vocab 262208, tied.
  const Model m = import_file(kFixtures + "/extra/gemma-3-4b-it.json");
  REQUIRE(m.layers.size() == 34);
  // (i+1) % 6 == 0 is global: layers 5, 11, 17, 23, 29.
  CHECK(count_kinds(m) == std::map<LayerKind, int>{{LayerKind::sliding_attention, 29}, {LayerKind::attention, 5}});
  CHECK(kind_of(m.layers[5]) == LayerKind::attention);
  CHECK(kind_of(m.layers[33]) == LayerKind::sliding_attention);
  const Attention& a = attention_of(m.layers[0]);
  CHECK(a.heads == 8);
  CHECK(a.kv_heads == 4);
  CHECK(a.head_dim == 256);
  CHECK(a.sliding_window == 1024);
  CHECK(a.qk_norm);
  CHECK(m.layers[0].norms == 4);
  CHECK(m.hidden_size == 2560);
  CHECK(m.vocab_size == 262208);
  CHECK(m.tie_word_embeddings);
  CHECK(m.max_context == 131072);
  // rope_scaling {linear, factor 8} scales the global layers' RoPE table only: 131,072 x 8.
  CHECK(attention_of(m.layers[5]).rope_positions == 1048576);
  CHECK(a.rope_positions == 0);
}

TEST_CASE("Nemotron-H-8B: Mamba-2, attention and MLP-only layers from the pattern", "[hf]") {
  // nvidia/Nemotron-H-8B-Base-8K config.json: 52-letter pattern with 24 'M', 4 '*', 24 '-'.
  const Model m = import_file(kFixtures + "/extra/nemotron-h-8b.json");
  REQUIRE(m.layers.size() == 52);
  CHECK(count_kinds(m) ==
        std::map<LayerKind, int>{{LayerKind::mamba2, 24}, {LayerKind::attention, 4}, {LayerKind::mlp_only, 24}});
  const auto attn =
      std::find_if(m.layers.begin(), m.layers.end(), [](const Layer& l) { return kind_of(l) == LayerKind::attention; });
  REQUIRE(attn != m.layers.end());
  CHECK(attn - m.layers.begin() == 7);
  CHECK(attention_of(*attn).kv_heads == 8);
  CHECK(attention_of(*attn).head_dim == 128);
  CHECK_FALSE(attn->mlp);
  const Mamba2& s = std::get<Mamba2>(*m.layers[0].mixer);
  CHECK(s.n_heads == 128);
  CHECK(s.head_dim == 64);
  CHECK(s.n_groups == 8);
  CHECK(s.d_state == 128);
  CHECK(s.d_conv == 4);
  const DenseMlp& mlp = std::get<DenseMlp>(*m.layers[1].mlp);
  CHECK(mlp.intermediate_size == 21504);
  CHECK_FALSE(mlp.gated);
  for (const Layer& l : m.layers) CHECK(l.norms == 1);
}

TEST_CASE("HF import: family rules", "[hf]") {
  SECTION("Falcon-7B converted config: multi_query overrides num_kv_heads") {
    const Model m = import_file(kFixtures + "/falcon-7b.json");
    CHECK(attention_of(m.layers[0]).kv_heads == 1);
    CHECK(m.layers[0].norms == 1);
  }
  SECTION("RoPE tables: rope_scaling as vLLM sizes them") {
    const std::string base = R"("model_type": "llama", "hidden_size": 4096, "num_hidden_layers": 2,
        "num_attention_heads": 32, "num_key_value_heads": 8, "intermediate_size": 14336, "vocab_size": 128256,
        "max_position_embeddings": 32768)";
    // YaRN: original_max_position_embeddings x factor = 8192 x 4 = 32,768 rows.
    Model m = import_hf_config("{" + base + R"(, "rope_scaling": {"rope_type": "yarn", "factor": 4.0,
        "original_max_position_embeddings": 8192}})", "yarn.json");
    CHECK(attention_of(m.layers[1]).rope_positions == 32768);
    // Dynamic NTK (legacy "type" spelling): max_position_embeddings x factor = 32,768 x 2.5.
    m = import_hf_config("{" + base + R"(, "rope_scaling": {"type": "dynamic", "factor": 2.5}})", "dynamic.json");
    CHECK(attention_of(m.layers[0]).rope_positions == 81920);
    // llama3 scaling keeps max_position_embeddings rows (0: the model's max_context).
    m = import_hf_config("{" + base + R"(, "rope_scaling": {"rope_type": "llama3", "factor": 8.0,
        "original_max_position_embeddings": 8192}})", "llama3.json");
    CHECK(attention_of(m.layers[0]).rope_positions == 0);
  }
  SECTION("legacy RefinedWeb names") {
    const Model m = import_hf_config(R"({"model_type": "RefinedWeb", "hidden_size": 8192, "n_layer": 60,
        "n_head": 128, "n_head_kv": 8, "vocab_size": 65024, "parallel_attn": true, "bias": false})",
                                     "falcon-40b-legacy.json");
    REQUIRE(m.layers.size() == 60);
    CHECK(attention_of(m.layers[0]).kv_heads == 8);
    CHECK(m.layers[0].norms == 2);
    CHECK(m.family == "falcon");
  }
  SECTION("mistral: sliding_window null means full attention") {
    const Model m = import_hf_config(R"({"model_type": "mistral", "hidden_size": 4096, "num_hidden_layers": 2,
        "num_attention_heads": 32, "num_key_value_heads": 8, "intermediate_size": 14336, "vocab_size": 32768,
        "sliding_window": null, "dtype": "float16", "torch_dtype": "bfloat16"})",
                                     "m.json");
    CHECK(kind_of(m.layers[0]) == LayerKind::attention);
    CHECK(m.dtype == DType::fp16);  // dtype wins over torch_dtype
  }
  SECTION("qwen2 with use_sliding_window slides from max_window_layers on") {
    const Model m = import_hf_config(R"({"model_type": "qwen2", "hidden_size": 896, "num_hidden_layers": 4,
        "num_attention_heads": 14, "num_key_value_heads": 2, "intermediate_size": 4864, "vocab_size": 151936,
        "use_sliding_window": true, "sliding_window": 4096, "max_window_layers": 2})",
                                     "q.json");
    CHECK(kind_of(m.layers[1]) == LayerKind::attention);
    CHECK(kind_of(m.layers[2]) == LayerKind::sliding_attention);
    CHECK(attention_of(m.layers[0]).qkv_bias);
    CHECK(m.dtype == DType::bf16);
  }
  SECTION("nemotron_h: MoE layers ('E') and the newer layers_block_type list") {
    const std::string common = R"("model_type": "nemotron_h", "vocab_size": 131072, "hidden_size": 2688,
        "num_attention_heads": 32, "num_key_value_heads": 2, "head_dim": 128, "mamba_num_heads": 64,
        "mamba_head_dim": 64, "n_groups": 8, "ssm_state_size": 128, "intermediate_size": 1856,
        "n_routed_experts": 128, "n_shared_experts": 1, "moe_intermediate_size": 1856,
        "moe_shared_expert_intermediate_size": 3712, "num_experts_per_tok": 6)";
    const Model a = import_hf_config("{" + common + R"(, "hybrid_override_pattern": "MEM*E"})", "a.json");
    const Model b = import_hf_config(
        "{" + common + R"(, "layers_block_type": ["mamba", "moe", "mamba", "attention", "moe"]})", "b.json");
    CHECK(structure(a) == structure(b));
    REQUIRE(a.layers.size() == 5);
    CHECK(kind_of(a.layers[1]) == LayerKind::mlp_only);
    const MoeMlp& e = std::get<MoeMlp>(*a.layers[1].mlp);
    CHECK(e.experts == 128);
    CHECK(e.shared_intermediate_size == 3712);
    CHECK_FALSE(e.gated);
  }
  SECTION("Python's Infinity is tolerated in fields kvplan does not read") {
    const Model m = import_hf_config(R"({"model_type": "mamba2", "hidden_size": 2560, "num_hidden_layers": 2,
        "num_heads": 80, "head_dim": 64, "n_groups": 1, "vocab_size": 50288, "time_step_limit": [0.0, Infinity]})",
                                     "dir/config.json");
    CHECK(m.layers.size() == 2);
    CHECK(m.id == "dir");  // <model>/config.json: the folder names the model
  }
}

TEST_CASE("HF import errors", "[hf]") {
  SECTION("malformed JSON points at the line and column") {
    const std::string e = error_of("{\n  \"model_type\": \"llama\",\n  \"hidden_size\": 40x6\n}", "bad.json");
    CHECK(e.rfind("bad.json:3:", 0) == 0);
    CHECK(e.find("invalid JSON") != std::string::npos);
  }
  SECTION("truncated JSON") {
    const std::string e = error_of("{\n  \"model_type\": \"llama\",\n", "cut.json");
    CHECK(e.rfind("cut.json:3:1: invalid JSON", 0) == 0);
  }
  SECTION("unknown model_type: suggestions only from the config's architectures, never by spelling") {
    const std::string e = error_of(R"({"model_type": "lama"})");
    CHECK(e.find("unsupported model_type 'lama'; docs/hf-import.md lists the supported families") != std::string::npos);
    CHECK(e.find("docs/model-format.md") != std::string::npos);
    CHECK(e.find("did you mean") == std::string::npos);
    // A family one edit away from a supported one is not that family: falcon_h9 is no falcon.
    const std::string f = error_of(R"({"model_type": "falcon_h9", "architectures": ["FalconH9ForCausalLM"]})");
    CHECK(f.find("unsupported model_type 'falcon_h9'") != std::string::npos);
    CHECK(f.find("'falcon'") == std::string::npos);
    CHECK(f.find("did you mean") == std::string::npos);
    // The architectures class names the family kvplan reads.
    const std::string g = error_of(R"({"model_type": "my_llama", "architectures": ["LlamaForCausalLM"]})");
    CHECK(g.find("its architectures name LlamaForCausalLM, which kvplan reads as model_type 'llama'") !=
          std::string::npos);
  }
  SECTION("an unknown wrapper around a known text model imports the text model, with a warning") {
    const Model m = import_hf_config(R"({"model_type": "some_vlm", "text_config": {"model_type": "llama",
        "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
        "vocab_size": 100}})", "vlm.json");
    CHECK(m.layers.size() == 2);
    REQUIRE(m.warnings.size() == 1);
    CHECK(m.warnings[0].find("model_type 'some_vlm' is a wrapper kvplan does not know: imported its text_config (llama)") == 0);
  }
  SECTION("integers out of range are named with the value as written") {
    const std::string llama = R"({"model_type": "llama", "hidden_size": 64, "intermediate_size": 128,
        "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": )";
    // Each stands at the key: line 2, after 8 spaces, "num_hidden_layers": 2, (24 characters) and
    // "num_attention_heads": 4, (26): column 9 + 24 + 26 = 59.
    CHECK(error_of(llama + "18446744073709551615}") ==
          "cfg.json:2:59: field 'vocab_size' must be an integer below 2^63 (got 18446744073709551615)");
    CHECK(error_of(llama + "1e19}") == "cfg.json:2:59: field 'vocab_size' must be an integer below 2^63 (got 1e+19)");
    CHECK(error_of(llama + "NaN}") == "cfg.json:2:59: field 'vocab_size' must be an integer (got NaN)");
    CHECK(error_of(llama + "-Infinity}") == "cfg.json:2:59: field 'vocab_size' must be an integer (got -Infinity)");
    CHECK(error_of(llama + "32000.5}") == "cfg.json:2:59: field 'vocab_size' must be an integer (got 32000.5)");
    CHECK(import_hf_config(llama + "32000.0}", "cfg.json").vocab_size == 32000);  // Python's 32000.0
  }
  SECTION("a nested field stands at its own key; a repeated key at the last one, whose value is read") {
    CHECK(error_of(R"({"model_type": "some_vlm", "text_config": {"model_type": "llama",
"vocab_size": "64"}})") == "cfg.json:2:1: field 'text_config.vocab_size' must be an integer (got \"64\")");
    // The top level's own vocab_size (line 1, column 2) is not text_config's.
    CHECK(error_of(R"({"vocab_size": 64, "model_type": "some_vlm", "text_config": {"model_type": "llama",
  "vocab_size": true}})") == "cfg.json:2:3: field 'text_config.vocab_size' must be an integer (got true)");
    CHECK(error_of(R"({"model_type": "llama", "vocab_size": 64,
  "vocab_size": "x"})") == "cfg.json:2:3: field 'vocab_size' must be an integer (got \"x\")");
  }
  SECTION("a key named twice is a warning with both positions; the last value counts, as in Python") {
    const Model m = import_hf_config("{\"model_type\": \"llama\", \"hidden_size\": 64,\n \"intermediate_size\": 128, "
                                     "\"num_hidden_layers\": 2, \"num_attention_heads\": 4,\n \"vocab_size\": 100, "
                                     "\"vocab_size\": 200}",
                                     "dup.json");
    CHECK(m.vocab_size == 200);
    REQUIRE(m.warnings.size() == 1);
    CHECK(m.warnings[0] == "dup.json: key 'vocab_size' appears twice in one object (line 3, column 2 and line 3, "
                           "column 21); the last value is used, as the engines' Python json does");
    // The same key in two objects is no duplicate.
    CHECK(import_hf_config(R"({"model_type": "llama", "hidden_size": 64, "intermediate_size": 128,
        "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 100, "rope_scaling": {"vocab_size": 1}})",
                           "ok.json").warnings.empty());
  }
  SECTION("missing model_type") {
    CHECK(error_of(R"({"hidden_size": 4096})").find("missing field 'model_type'") != std::string::npos);
  }
  SECTION("missing required field is named") {
    const std::string e = error_of(R"({"model_type": "llama", "hidden_size": 4096, "num_hidden_layers": 2,
        "num_attention_heads": 32, "vocab_size": 32000})");
    CHECK(e == "cfg.json: missing field 'intermediate_size'");
  }
  SECTION("wrong type is named, nested fields with their path") {
    CHECK(error_of(R"({"model_type": "llama", "vocab_size": 32000, "hidden_size": "4096"})")
              .find("field 'hidden_size' must be an integer") != std::string::npos);
    CHECK(error_of(R"({"model_type": "gemma3", "text_config": {"num_hidden_layers": true}})")
              .find("field 'text_config.num_hidden_layers' must be an integer") != std::string::npos);
  }
  SECTION("impossible shapes are reported, not thrown as anything else") {
    CHECK(error_of(R"({"model_type": "llama", "hidden_size": 4096, "num_hidden_layers": 2, "num_attention_heads": 32,
        "num_key_value_heads": 5, "intermediate_size": 1, "vocab_size": 32000})")
              .find("not divisible") != std::string::npos);
    CHECK(error_of("[1, 2]").find("must be a JSON object") != std::string::npos);
    // No head_dim and a hidden size the heads do not divide (3585 / 28 = 128.04): the head size
    // transformers would derive (3585 // 28 = 128) does not match the projections' 3585 columns.
    CHECK(error_of(R"({"model_type": "qwen2", "hidden_size": 3585, "num_hidden_layers": 2, "num_attention_heads": 28,
        "num_key_value_heads": 4, "intermediate_size": 18944, "vocab_size": 152064})") ==
          "cfg.json: 3585 (the hidden width) is not a multiple of 28 heads, and 'head_dim' is not given");
  }
  CHECK(supported_hf_model_types().size() >= 20);
}
