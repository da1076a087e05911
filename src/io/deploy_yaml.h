// The deployment file `kvplan check` reads (docs/check.md): model, GPU, engine settings in vLLM's
// words, expected workload, limits. One key table drives both the parser and `check --explain`.
#pragma once

#include <string>
#include <vector>

#include "core/checks.h"
#include "core/engine_settings.h"
#include "io/hf_overrides.h"
#include "io/speculative.h"
#include "core/error.h"

namespace kvplan {

constexpr int kDeploySchemaVersion = 1;

struct DeployFile {
  std::string source;    // path, for messages
  std::string name;      // display name (default: the path)
  std::string model;     // bundled id or path, as written
  SourcePos model_pos;
  std::string gpu;       // bundled preset id/alias or path, as written
  SourcePos gpu_pos;
  DeploySpec spec;
  std::string engine;          // engine.name[@engine.version]: "vllm" when the file names none
  SourcePos engine_pos;
  bool engine_version_pinned = false;
  SourcePos kv_cache_dtype_pos;
  // engine.speculative_config (vLLM's keys), or SGLang's speculative_algorithm and its keys
  std::optional<SpeculativeConfig> speculative;
  SourcePos speculative_pos;
  std::string speculative_model_key = "speculative_config.model";  // the draft's key, for messages
  std::string sglang_algorithm;  // SGLang's speculative_algorithm as written
  SourcePos sglang_algorithm_pos;
  // engine arguments kvplan does not model, as written: the engine profile says whether the
  // engine version has them (a note) or not (an error).
  std::vector<std::pair<std::string, SourcePos>> engine_arguments;
  // vLLM's speculative_config keys kvplan does not model (a note each from check_engine_arguments).
  std::vector<std::pair<std::string, SourcePos>> speculative_arguments;
  // engine.hf_overrides (vLLM): the config keys kvplan applies to the model, and the others by name
  std::optional<HfOverrides> hf_overrides;
  SourcePos hf_overrides_pos;
};

// One note for each engine.hf_overrides key kvplan does not apply (any engine).
std::vector<std::string> hf_overrides_notes(const DeployFile& d);

// Parses the text of a deployment file; throws kvplan::Error at file:line:col for bad YAML, bad
// values, missing keys, and unknown keys (with "did you mean"). Unknown keys of the engine section
// are returned in engine_arguments for check_engine_arguments.
DeployFile parse_deploy_file(const std::string& text, const std::string& source);

// One documented key: section ("" = top level), name, value type, default, meaning.
struct DeployKeyDoc {
  std::string section;
  std::string key;
  std::string type;
  std::string default_value;  // "" = required or none
  std::string meaning;
};
// Every key the parser accepts, in file order (the same table the parser reads with).
std::vector<DeployKeyDoc> deploy_key_docs();
// The sections and what each holds.
std::vector<std::pair<std::string, std::string>> deploy_section_docs();

// Notes for the engine arguments the profile's version has but kvplan does not model; throws
// kvplan::Error at the first argument the engine version does not have (with "did you mean").
std::vector<std::string> check_engine_arguments(const DeployFile& d, const EngineProfile& profile);
// Under engine ideal: a note for each modelled key the file sets that acts only on an engine's own
// plan (its pool, profile and graphs), so changes nothing there.
std::vector<std::string> ideal_engine_notes(const DeployFile& d);

// A model or GPU spec as written in a deployment file, resolved against the file's folder when
// it is a relative path (bundled ids are returned unchanged).
std::string relative_to_file(const std::string& spec, const std::string& deploy_path);
// A path as written in a deployment file (a trace of workload.trace or prompt_dist), resolved
// against the file's folder unless it is absolute.
std::string path_relative_to_file(const std::string& path, const std::string& deploy_path);

}  // namespace kvplan
