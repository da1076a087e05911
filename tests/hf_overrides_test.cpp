// vLLM's --hf-overrides: the keys kvplan applies (the context limit and the RoPE tables), the
// others kept for a note, and its errors.
#include <catch2/catch.hpp>

#include "core/error.h"
#include "core/model.h"
#include "io/hf_overrides.h"
#include "test_helpers.h"

using namespace kvplan;

namespace {
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
  // max_position_embeddings alone sets the limit; the tables keep the config's rows.
  const Model plain = with_overrides(qwen, parse_hf_overrides(R"({"max_position_embeddings": 8192})", flag).config);
  CHECK(plain.max_context == 8192);
  CHECK(rope_rows_of(plain, 0) == rope_rows_of(qwen, 0));
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
  CHECK_THROWS_WITH(parse_hf_overrides(R"({"rope_scaling": {"rope_type": "yarn", "factor": -1}})", flag),
                    "--hf-overrides: 'rope_scaling.factor' must be a number > 0");
  CHECK_THROWS_WITH(
      parse_hf_overrides(R"({"rope_scaling": {"rope_type": "yarn", "factor": 4, "original_max_position_embeddings": 0}})", flag),
      "--hf-overrides: 'rope_scaling.original_max_position_embeddings' must be a whole number >= 1");
  // A factor that would make a table past 2^63 rows is refused where it is applied.
  const HfOverrides huge = parse_hf_overrides(R"({"rope_scaling": {"rope_type": "linear", "factor": 1e300}})", flag);
  CHECK_THROWS_AS(with_overrides(test::model("qwen3-8b"), huge.config), Error);
}
