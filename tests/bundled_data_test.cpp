// Every bundled model and GPU preset loads, the embedded copies match the YAML files, and
// the parameter counts agree with the published sizes.
#include <catch2/catch.hpp>

#include <cmath>
#include <map>

#include "core/params.h"
#include "io/embedded_data.h"
#include "io/files.h"
#include "io/gpu_yaml.h"
#include "io/model_yaml.h"
#include "test_helpers.h"

using namespace kvplan;

TEST_CASE("the required models and presets are bundled", "[data]") {
  const auto& r = kvplan::test::bundled();
  for (const char* id : {"llama-2-7b", "llama-2-70b", "llama-3.1-8b", "llama-3.1-70b", "llama-3.1-405b", "mistral-7b-v0.1",
                         "mixtral-8x7b", "falcon-7b", "falcon-40b", "qwen2.5-7b", "gemma-2-9b", "gemma-3-27b", "deepseek-v3",
                         "gpt-oss-20b", "gpt-oss-120b", "mamba-2.8b", "falcon-mamba-7b", "mamba2-2.7b", "jamba-v0.1",
                         "zamba2-2.7b"})
    CHECK(r.has_model(id));
  for (const char* id : {"a100-40gb", "a100-80gb", "a100-80gb-pcie", "h100-sxm", "h100", "h100-pcie", "h100-nvl", "h200",
                         "gh200", "b200", "l40s", "l4", "a10g", "rtx-4090", "mi300x", "mi325x"})
    CHECK(r.has_gpu(id));
  CHECK(r.resolve_gpu("h100").id == "h100-sxm");
}

TEST_CASE("every bundled file parses, cites a source, and matches its embedded copy", "[data]") {
  int files = 0;
  for (const EmbeddedFile& f : embedded_files()) {
    INFO(f.path);
    const std::string disk = read_text_file(std::string(KVPLAN_SOURCE_DIR) + "/" + f.path);
    CHECK(disk == f.text);
    if (std::string(f.path).rfind("models/", 0) == 0) {
      const Model m = parse_model_yaml(f.text, f.path);
      CHECK_FALSE(m.source.empty());
    } else {
      const Gpu g = parse_gpu_yaml(f.text, f.path);
      CHECK_FALSE(g.source.empty());
    }
    ++files;
  }
  CHECK(files >= 35);
}

TEST_CASE("parameter counts agree with the published sizes", "[data][params]") {
  // Published totals (model cards / papers), rounded as published; the structure must land within 2%.
  const std::map<std::string, double> published = {
      {"llama-2-7b", 6.74e9},     {"llama-2-70b", 68.98e9},   {"llama-3.1-8b", 8.03e9},  {"llama-3.1-70b", 70.6e9},
      {"llama-3.1-405b", 405.9e9}, {"mistral-7b-v0.1", 7.24e9}, {"mixtral-8x7b", 46.7e9},  {"falcon-7b", 6.92e9},
      {"falcon-40b", 41.8e9},     {"qwen2.5-7b", 7.61e9},     {"gemma-2-9b", 9.24e9},    {"gemma-3-27b", 27.0e9},
      {"deepseek-v3", 671e9},     {"gpt-oss-20b", 20.9e9},    {"gpt-oss-120b", 116.8e9}, {"mamba-2.8b", 2.77e9},
      {"falcon-mamba-7b", 7.27e9}, {"mamba2-2.7b", 2.7e9},     {"jamba-v0.1", 51.6e9},    {"zamba2-2.7b", 2.7e9}};
  for (const auto& [id, want] : published) {
    INFO(id);
    const double got = static_cast<double>(count_params(kvplan::test::model(id)).total);
    CHECK(std::fabs(got / want - 1) < 0.05);
  }
  // Active parameters of the MoE models.
  CHECK(std::fabs(count_params(kvplan::test::model("deepseek-v3")).active / 37e9 - 1) < 0.03);
  CHECK(std::fabs(count_params(kvplan::test::model("mixtral-8x7b")).active / 12.9e9 - 1) < 0.01);
}
