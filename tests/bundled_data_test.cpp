// Every bundled model and GPU preset loads, the embedded copies match the YAML files, and
// the parameter counts agree with the published sizes.
#include <catch2/catch.hpp>

#include <cmath>
#include <map>
#include <utility>
#include <yaml-cpp/yaml.h>

#include "core/estimate.h"
#include "core/params.h"
#include "core/serving_dtypes.h"
#include "io/embedded_data.h"
#include "io/files.h"
#include "io/node_yaml.h"
#include "io/engine_yaml.h"
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
                         "gh200", "b200", "b300", "l40s", "l4", "a10g", "rtx-4090", "mi300x", "mi325x"})
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
    } else if (std::string(f.path).rfind("presets/nodes/", 0) == 0) {
      const Node n = parse_node_yaml(f.text, f.path);
      CHECK_FALSE(n.source.empty());
      CHECK(Registry::load("").has_gpu(n.gpu));  // a node names a bundled GPU preset
    } else if (std::string(f.path).rfind("presets/engines/", 0) == 0) {
      const EngineProfile p = parse_engine_yaml(f.text, f.path);
      CHECK_FALSE(p.source.empty());
      CHECK_FALSE(p.releases.empty());
    } else {
      const Gpu g = parse_gpu_yaml(f.text, f.path);
      CHECK_FALSE(g.source.empty());
    }
    ++files;
  }
  CHECK(files >= 35);
}

namespace {

// "70.6B" -> (70.6e9, half a unit of the last printed digit = 0.05e9): the range a count rounds into.
std::pair<double, double> published_figure(const std::string& text) {
  REQUIRE_FALSE(text.empty());
  const char unit = text.back();
  REQUIRE((unit == 'B' || unit == 'M' || unit == 'T'));
  const double scale = unit == 'T' ? 1e12 : unit == 'B' ? 1e9 : 1e6;
  const std::string digits = text.substr(0, text.size() - 1);
  const size_t dot = digits.find('.');
  const int decimals = dot == std::string::npos ? 0 : static_cast<int>(digits.size() - dot - 1);
  return {std::stod(digits) * scale, 0.5 * std::pow(10.0, -decimals) * scale};
}

}  // namespace

TEST_CASE("parameter counts agree with the exact and the published sizes", "[data][params]") {
  // Every bundled model states its published total as printed on its card (published_params),
  // and where the checkpoint's exact count is known (exact_params: its tensors summed, less what
  // kvplan leaves out, e.g. MTP layers), that too. kvplan's count must be within 0.5% of the exact
  // figure and round to the published one; a model that cannot says why in params_note, and is
  // then held to 5% of the published total (the old bound).
  int models = 0, exact = 0;
  for (const EmbeddedFile& f : embedded_files()) {
    if (std::string(f.path).rfind("models/", 0) != 0) continue;
    INFO(f.path);
    const YAML::Node y = YAML::Load(f.text);
    const Model m = parse_model_yaml(f.text, f.path);
    const ParamCounts p = count_params(m);
    const bool noted = y["params_note"].IsDefined();
    REQUIRE(y["published_params"].IsDefined());
    const auto [total, half_unit] = published_figure(y["published_params"].as<std::string>());
    // Cards of multimodal models often give the language model's size without the towers.
    const bool language_only = y["published_params_scope"].IsDefined();
    if (language_only) REQUIRE(y["published_params_scope"].as<std::string>() == "language_model");
    const double counted = static_cast<double>(language_only ? p.total - p.towers : p.total);
    if (noted) {
      CHECK(std::fabs(counted / total - 1) < 0.05);
    } else {
      CHECK(std::fabs(counted - total) <= half_unit);
    }
    // Cards count active parameters by their own conventions (with or without the embedding and
    // lm_head); a model whose convention differs says so in params_note and is held to its total.
    if (y["published_active_params"].IsDefined() && !noted) {
      const auto [active, active_half_unit] = published_figure(y["published_active_params"].as<std::string>());
      CHECK(std::fabs(static_cast<double>(p.active) - active) <= active_half_unit);
    }
    if (y["exact_params"].IsDefined()) {
      CHECK(y["exact_params_source"].IsDefined());
      CHECK(std::fabs(static_cast<double>(p.total) / y["exact_params"].as<double>() - 1) < 0.005);
      ++exact;
    }
    ++models;
  }
  CHECK(models >= 20);
  CHECK(exact >= 1);
}

TEST_CASE("every bundled model estimates, sweeps its kinds and shows", "[data]") {
  // Each model on an H200 at 4K tokens x 2 sequences, as the CLI resolves its dtypes: the whole
  // pipeline (memory, prefill, decode, cost) runs for every layer kind a bundled model uses.
  const Gpu gpu = kvplan::test::gpu("h200");
  for (const std::string& id : kvplan::test::bundled().model_ids()) {
    INFO(id);
    const Model m = kvplan::test::model(id);
    const ServingDTypes d = serving_dtypes(m, std::nullopt, std::nullopt, std::nullopt);
    MemoryOptions o;
    o.weights = d.weights;
    o.cache.kv_dtype = d.kv;
    o.cache.state_dtype = d.state;
    o.cache.conv_dtype = d.conv;
    const Estimate e = estimate(m, gpu, Workload{2, 4096, 0, 0}, o);
    CHECK(e.memory.kv_bytes_per_sequence + e.memory.state_bytes_per_sequence > 0);
    CHECK(e.decode.time_s > 0);
    CHECK(e.prefill.time_s > 0);
  }
}
