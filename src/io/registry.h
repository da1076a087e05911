// Bundled models, GPU presets and engine profiles (embedded in the binary), plus files from --data-dir /
// KVPLAN_DATA_DIR that add or override entries, and resolution of a --model / --gpu argument.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/engine.h"
#include "core/gpu.h"
#include "core/model.h"
#include "core/parallel.h"

namespace kvplan {

class Registry {
 public:
  // Embedded data, then DIR/models/*.yaml and DIR/presets/*.yaml override by id (dir may be "").
  static Registry load(const std::string& data_dir);

  std::vector<std::string> model_ids() const;
  std::vector<std::string> gpu_ids() const;  // without aliases
  std::vector<std::string> gpu_names() const;  // ids and aliases: the names --gpu accepts
  // Ids and aliases match case-insensitively, as resolve_model and resolve_gpu match them.
  bool has_model(const std::string& id) const;
  bool has_gpu(const std::string& id) const;
  // A bundled id, a path to a kvplan model YAML, or a path to an HF config.json.
  Model resolve_model(const std::string& spec) const;
  // A bundled id or alias, or a path to a preset YAML.
  Gpu resolve_gpu(const std::string& spec) const;
  // "ideal", an engine name (its default profile), or NAME@VERSION (a profile label such as
  // vllm@0.10, or one of its releases such as vllm@0.10.1).
  EngineProfile resolve_engine(const std::string& spec) const;
  std::vector<EngineProfile> engine_profiles() const;  // every bundled profile, by name and version
  // A bundled node preset id (presets/nodes/), or a path to a node preset YAML.
  Node resolve_node(const std::string& spec) const;
  std::vector<std::string> node_ids() const;

  // What loading a data directory decided that the user should hear (a bundled entry overridden).
  const std::vector<std::string>& notes() const { return notes_; }

 private:
  struct Entry {
    std::string source;  // path for messages
    std::string text;
  };
  std::map<std::string, Entry> models_;
  std::map<std::string, Entry> gpus_;
  std::map<std::string, std::string> gpu_aliases_;  // alias -> id
  std::map<std::string, Entry> engines_;            // file stem (vllm-0.10) -> profile
  std::map<std::string, Entry> nodes_;              // node presets by id
  std::vector<std::string> notes_;
};

}  // namespace kvplan
