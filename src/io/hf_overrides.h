// vLLM's --hf-overrides (a JSON object of config.json keys the engine sets before loading) and its
// deploy-file twin: the keys that change what kvplan sizes (the context limit and the RoPE tables)
// are read; any other key is kept by name for a note (docs/engines.md, "Engine settings").
#pragma once

#include <string>
#include <vector>

#include "core/model.h"

namespace kvplan {

struct HfOverrides {
  ConfigOverrides config;                   // max_position_embeddings, rope_scaling / rope_parameters
  std::vector<std::string> unmodelled_keys;  // the other keys given: a note each
};

// Parses the flag's JSON text (a multimodal checkpoint's text keys may sit under text_config). Throws kvplan::Error naming `flag` for text that is not a JSON
// object, a max_position_embeddings that is not a whole number >= 1, or a rope_scaling that is not
// an object with a type and a positive factor (original_max_position_embeddings, where given, a
// whole number >= 1).
HfOverrides parse_hf_overrides(const std::string& json_text, const std::string& flag);

}  // namespace kvplan
