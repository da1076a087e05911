// Shared by the HF importer tests: the fixture folder, importing a file, and views of a model.
#pragma once

#include <map>
#include <string>
#include <variant>
#include <vector>

#include "core/error.h"
#include "core/kv_cache.h"
#include "core/model.h"
#include "io/files.h"
#include "io/hf_config.h"

namespace kvplan::test {

inline const std::string kFixtures = std::string(KVPLAN_SOURCE_DIR) + "/tests/fixtures/hf";

inline Model import_file(const std::string& path) { return import_hf_config(read_text_file(path), path); }

// The located message an import of `json` fails with ("" when it imports).
inline std::string import_error(const std::string& json, const std::string& source = "cfg.json") {
  try {
    import_hf_config(json, source);
  } catch (const Error& e) {
    return e.located();
  }
  return "";
}

// Layers compared on structure only: the block names of a YAML are free text.
inline std::vector<Layer> structure(const Model& m) {
  std::vector<Layer> out = m.layers;
  for (Layer& l : out) l.block.clear();
  return out;
}

inline std::map<LayerKind, int> count_kinds(const Model& m) {
  std::map<LayerKind, int> out;
  for (const Layer& l : m.layers) ++out[kind_of(l)];
  return out;
}

inline const Attention& attention_of(const Layer& l) { return std::get<Attention>(*l.mixer); }

// bf16 KV cache and state, defaults otherwise.
inline CacheOptions bf16_cache() {
  CacheOptions o;
  o.kv_dtype = DType::bf16;
  o.state_dtype = DType::bf16;
  return o;
}

}  // namespace kvplan::test
