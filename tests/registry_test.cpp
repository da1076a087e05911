// The registry: bundled entries, --data-dir additions and overrides, and name resolution.
#include <catch2/catch.hpp>

#include "core/error.h"
#include "core/kv_cache.h"
#include "core/params.h"
#include "io/numbers.h"
#include "io/registry.h"

using namespace kvplan;

namespace {
const std::string kDataDir = std::string(KVPLAN_SOURCE_DIR) + "/tests/fixtures/datadir";
}

TEST_CASE("a data dir adds models and overrides presets", "[registry]") {
  const Registry r = Registry::load(kDataDir);
  const Model m = r.resolve_model("tiny-mha");
  // 2 layers x 4 KV heads x 16 x (K+V) x 2 B = 512 B/token.
  CacheOptions o;
  CHECK(kv_bytes_per_token(m, o) == 512);
  // params: embed 100 x 64 twice = 12,800; per layer q,k,v,o 4 x 64 x 64 = 16,384, MLP 3 x 64 x 128 = 24,576,
  // norms 128 -> 41,088 x 2 = 82,176; final norm 64: 95,040.
  CHECK(count_params(m).total == 95040);
  CHECK(r.resolve_gpu("h100").memory_bytes == 1073741824);  // alias follows the override
  CHECK(r.has_model("llama-3.1-8b"));                        // bundled entries stay
}

TEST_CASE("a missing data dir is an error", "[registry]") {
  CHECK_THROWS_WITH(Registry::load("/nonexistent-kvplan"), Catch::Contains("does not exist"));
}

TEST_CASE("models resolve from a path to a YAML or a config.json", "[registry]") {
  const Registry r = Registry::load("");
  CHECK(r.resolve_model(kDataDir + "/models/tiny-mha.yaml").id == "tiny-mha");
  const Model hf = r.resolve_model(std::string(KVPLAN_SOURCE_DIR) + "/tests/fixtures/hf/llama-3.1-8b.json");
  CHECK(hf.layers == r.resolve_model("llama-3.1-8b").layers);
  CHECK_THROWS_WITH(r.resolve_model("mixtral-8x7"), Catch::Contains("did you mean 'mixtral-8x7b'?"));
  CHECK_THROWS_WITH(r.resolve_gpu("b100"), Catch::Contains("did you mean"));
}

TEST_CASE("token counts accept k/M/G suffixes", "[numbers]") {
  CHECK(parse_count("32k", "--context") == 32768);
  CHECK(parse_count("32K", "--context") == 32768);
  CHECK(parse_count("1M", "--context") == 1048576);
  CHECK(parse_count("100000", "--context") == 100000);
  CHECK(parse_count("2G", "--context") == 2147483648LL);
  CHECK_THROWS_WITH(parse_count("1.5k", "--context"), Catch::StartsWith("--context: not a whole number"));
  CHECK_THROWS_WITH(parse_count("0", "--batch"), Catch::StartsWith("--batch: must be positive"));
  CHECK_THROWS_WITH(parse_count("", "--batch"), Catch::StartsWith("--batch: empty value"));
  CHECK_THROWS_WITH(parse_count("9223372036854775807k", "--context"), Catch::StartsWith("--context: overflows"));
  CHECK(parse_count("9223372036854775807", "--context") == INT64_MAX);
}

TEST_CASE("did you mean suggests only close names", "[errors]") {
  CHECK(did_you_mean("h10", {"h100", "a100-40gb"}) == "; did you mean 'h100'?");
  CHECK(did_you_mean("llama-3.1-8", {"llama-3.1-8b", "llama-3.1-70b"}) == "; did you mean 'llama-3.1-8b'?");
  CHECK(did_you_mean("zzzzzz", {"h100", "a100-40gb"}).empty());
}
