// --model resolution: a path (file or model folder), then a bundled id, then a Hugging Face hub id
// from the local hub cache.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>

#include "core/error.h"
#include "io/files.h"
#include "io/registry.h"

using namespace kvplan;
namespace fs = std::filesystem;

namespace {

const std::string kLlama = std::string(KVPLAN_SOURCE_DIR) + "/tests/fixtures/hf/llama-3.1-8b.json";

// A fresh hub cache holding meta-llama/Llama-3.1-8B at one snapshot, as huggingface_hub lays it out.
fs::path make_hub_cache() {
  const fs::path root = fs::temp_directory_path() / "kvplan-hub-test";
  fs::remove_all(root);
  const fs::path repo = root / "models--meta-llama--Llama-3.1-8B";
  fs::create_directories(repo / "refs");
  fs::create_directories(repo / "snapshots" / "0123abcd");
  write_text_file((repo / "refs" / "main").string(), "0123abcd\n");
  write_text_file((repo / "snapshots" / "0123abcd" / "config.json").string(), read_text_file(kLlama));
  return root;
}

}  // namespace

TEST_CASE("a model folder holding config.json is a model", "[registry]") {
  const fs::path dir = fs::temp_directory_path() / "kvplan-folder-test" / "My-Model";
  fs::create_directories(dir);
  write_text_file((dir / "config.json").string(), read_text_file(kLlama));
  const Registry r = Registry::load("");
  const Model m = r.resolve_model(dir.string());
  CHECK(m.id == "My-Model");  // the folder names the model; never case-folded
  CHECK(m.layers == r.resolve_model("llama-3.1-8b").layers);
  fs::remove(dir / "config.json");
  CHECK_THROWS_WITH(r.resolve_model(dir.string()), Catch::Contains("no config.json in this model folder"));
}

TEST_CASE("a hub id resolves from the local Hugging Face cache", "[registry]") {
  const fs::path cache = make_hub_cache();
  setenv("HF_HUB_CACHE", cache.string().c_str(), 1);
  const Registry r = Registry::load("");
  const Model m = r.resolve_model("meta-llama/Llama-3.1-8B");
  CHECK(m.layers == r.resolve_model("llama-3.1-8b").layers);
  CHECK(m.source.find("snapshots/0123abcd/config.json") != std::string::npos);
  // Not cached: the error says where it looked.
  CHECK_THROWS_WITH(r.resolve_model("meta-llama/Llama-3.3-70B"),
                    Catch::Contains("models--meta-llama--Llama-3.3-70B/refs/main"));
  // HF_HOME/hub when HF_HUB_CACHE is unset.
  unsetenv("HF_HUB_CACHE");
  const fs::path home = fs::temp_directory_path() / "kvplan-hf-home";
  fs::remove_all(home);
  fs::create_directories(home);
  fs::rename(cache, home / "hub");
  setenv("HF_HOME", home.string().c_str(), 1);
  CHECK(r.resolve_model("meta-llama/Llama-3.1-8B").layers == m.layers);
  unsetenv("HF_HOME");
  fs::remove_all(home);
}

TEST_CASE("a bundled id wins over a hub id, a path over both", "[registry]") {
  const Registry r = Registry::load("");
  CHECK(r.resolve_model("llama-3.1-8b").source.find("huggingface.co") != std::string::npos);
  CHECK(r.resolve_model(kLlama).source == kLlama);
}
