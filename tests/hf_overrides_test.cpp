// vLLM's --hf-overrides: the keys kvplan applies (the context limit and the RoPE tables), the
// others kept for a note, and its errors.
#include <catch2/catch.hpp>

#include "core/error.h"
#include "core/engine.h"
#include "core/model.h"
#include "io/hf_overrides.h"
#include "test_helpers.h"

using namespace kvplan;

namespace {
ConfigOverrides plain_override(int64_t max_position_embeddings) {
  ConfigOverrides o;
  o.max_position_embeddings = max_position_embeddings;
  return o;
}

int64_t rope_rows_of(const Model& m, size_t layer) {
  return std::get<Attention>(*m.layers.at(layer).mixer).rope_positions;
}
}  // namespace

TEST_CASE("hf overrides: YaRN lifts the context limit and the RoPE tables as vLLM derives them", "[io][model]") {
  const std::string flag = "--hf-overrides";
  // Qwen's own instructions for 131,072 tokens: YaRN, factor 4 over the 32,768 trained positions.
  // vLLM (_get_and_verify_max_len): original_max_position_embeddings x factor = 131,072; the table
  // of each attention layer has that many rows.
  const Model qwen = test::model("qwen3-8b");
  REQUIRE(qwen.max_context == 40960);
  const HfOverrides yarn = parse_hf_overrides(
      R"({"rope_scaling": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}})", flag);
  CHECK(yarn.unmodelled_keys.empty());
  const Model long_qwen = with_overrides(qwen, yarn.config);
  CHECK(long_qwen.max_context == 131072);
  CHECK(rope_rows_of(long_qwen, 0) == 131072);
  CHECK(rope_rows_of(long_qwen, 35) == 131072);
  // An explicit max_position_embeddings is the base a linear factor scales: 65,536 x 2 = 131,072.
  const HfOverrides linear =
      parse_hf_overrides(R"({"max_position_embeddings": 65536, "rope_parameters": {"type": "linear", "factor": 2}})", flag);
  CHECK(with_overrides(qwen, linear.config).max_context == 131072);
  // max_position_embeddings alone sets the limit, and the unscaled tables follow it: 8,192 x 128 x
  // 2 B = 2,097,152 B (40,960 rows before: 10,485,760 B).
  const Model plain = with_overrides(qwen, parse_hf_overrides(R"({"max_position_embeddings": 8192})", flag).config);
  CHECK(plain.max_context == 8192);
  CHECK(rope_tables_bytes(plain, DType::bf16) == 2097152);
  CHECK(rope_tables_bytes(qwen, DType::bf16) == 10485760);
  // An override's rope_scaling replaces the config's: a factor of 1 (or llama3's) leaves the
  // unscaled length. Gemma 3 keeps its limit whatever the factor (vLLM leaves gemma3 out of the
  // derivation), and its global layers' linear x 8 follows an overridden max_position_embeddings:
  // 8,192 x 8 = 65,536 rows, the sliding layers 8,192.
  const Model gemma = test::model("gemma-3-4b");
  const Model gemma_linear =
      with_overrides(gemma, parse_hf_overrides(R"({"rope_scaling": {"rope_type": "linear", "factor": 8}})", flag).config);
  CHECK(gemma_linear.max_context == 131072);
  const Model gemma_short = with_overrides(gemma, plain_override(8192));
  CHECK(gemma_short.max_context == 8192);
  // Layer 5 is a global layer (5 sliding, then 1 global), layer 0 a sliding one.
  CHECK(rope_rows_of(gemma_short, 5) == 65536);
  CHECK(rope_rows_of(gemma_short, 0) == 0);
  CHECK(rope_tables_bytes(gemma_short, DType::bf16) == (65536 + 8192) * 256 * 2);
  const Model gemma_default =
      with_overrides(gemma, parse_hf_overrides(R"({"rope_scaling": {"rope_type": "default"}})", flag).config);
  CHECK(rope_rows_of(gemma_default, 5) == 0);
  // llama3 scaling keeps the config's length (vLLM leaves su, longrope and llama3 out of the
  // derivation); so does a factor of 1.
  const Model llama = test::model("llama-3.1-8b");
  CHECK(with_overrides(llama, parse_hf_overrides(R"({"rope_scaling": {"rope_type": "llama3", "factor": 8}})", flag).config)
            .max_context == llama.max_context);
  CHECK(with_overrides(qwen, parse_hf_overrides(R"({"rope_scaling": {"rope_type": "yarn", "factor": 1}})", flag).config)
            .max_context == 40960);
  // A multimodal checkpoint's text model takes them under text_config: a Qwen3.8-27B log on a GB10
  // (vLLM 0.27.1) serves 786,432 tokens with YaRN x 3 over 262,144 there (mrope keys beside it).
  const HfOverrides nested = parse_hf_overrides(
      R"({"text_config": {"rope_parameters": {"mrope_interleaved": true, "rope_type": "yarn", "factor": 3.0,
          "original_max_position_embeddings": 262144}}})",
      flag);
  CHECK(nested.unmodelled_keys.empty());
  CHECK(with_overrides(test::model("qwen3.5-27b"), nested.config).max_context == 786432);
  // Other keys are kept by name, for a note.
  CHECK(parse_hf_overrides(R"({"num_experts": 64, "max_position_embeddings": 4096})", flag).unmodelled_keys ==
        std::vector<std::string>{"num_experts"});
}

TEST_CASE("hf overrides: bad text is one error naming the flag", "[io][model]") {
  const std::string flag = "--hf-overrides";
  CHECK_THROWS_WITH(parse_hf_overrides("rope_scaling=yarn", flag),
                    Catch::Matchers::StartsWith("--hf-overrides: not a JSON object, got 'rope_scaling=yarn'"));
  CHECK_THROWS_WITH(parse_hf_overrides("[1]", flag), Catch::Matchers::StartsWith("--hf-overrides: not a JSON object"));
  CHECK_THROWS_WITH(parse_hf_overrides(R"({"max_position_embeddings": 0})", flag),
                    "--hf-overrides: 'max_position_embeddings' must be a whole number >= 1");
  CHECK_THROWS_WITH(parse_hf_overrides(R"({"max_position_embeddings": 1.5})", flag),
                    "--hf-overrides: 'max_position_embeddings' must be a whole number >= 1");
  CHECK_THROWS_WITH(parse_hf_overrides(R"({"rope_scaling": "yarn"})", flag),
                    "--hf-overrides: 'rope_scaling' must be an object ({\"rope_type\": \"yarn\", \"factor\": 4.0, ...})");
  CHECK_THROWS_WITH(parse_hf_overrides(R"({"rope_scaling": {"factor": 4}})", flag),
                    "--hf-overrides: 'rope_scaling' needs a rope_type");
  CHECK_THROWS_WITH(parse_hf_overrides(R"({"rope_scaling": {"rope_type": "yarnn", "factor": 4}})", flag),
                    "--hf-overrides: 'rope_scaling.rope_type' 'yarnn' is not a RoPE type vLLM builds; did you mean 'yarn'?");
  CHECK_THROWS_WITH(parse_hf_overrides(R"({"rope_parameters": {"type": "lineer", "factor": 4}})", flag),
                    "--hf-overrides: 'rope_parameters.type' 'lineer' is not a RoPE type vLLM builds; did you mean 'linear'?");
  CHECK_THROWS_WITH(parse_hf_overrides(R"({"rope_scaling": {"rope_type": "yarn", "factor": -1}})", flag),
                    "--hf-overrides: 'rope_scaling.factor' must be a number > 0");
  CHECK_THROWS_WITH(
      parse_hf_overrides(R"({"rope_scaling": {"rope_type": "yarn", "factor": 4, "original_max_position_embeddings": 0}})", flag),
      "--hf-overrides: 'rope_scaling.original_max_position_embeddings' must be a whole number >= 1");
  // A factor that would make a table past 2^63 rows is refused where it is applied.
  const HfOverrides huge = parse_hf_overrides(R"({"rope_scaling": {"rope_type": "linear", "factor": 1e300}})", flag);
  CHECK_THROWS_AS(with_overrides(test::model("qwen3-8b"), huge.config), Error);
}
