// vLLM's --limit-mm-per-prompt: how many items of each modality one prompt may carry. A modality
// at 0 takes no part in the engine's profiled vision-encoder pass (docs/engines.md).
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace kvplan {

// The modalities vLLM's multimodal models take.
bool known_modality(const std::string& name);

// Parses the flag's text: a JSON object ('{"image": 0, "video": 0}', a modality's value a count
// or an object with "count" and the dummy item's size, which kvplan does not model) or the older
// 'image=4,video=1'. Throws kvplan::Error naming `flag` for bad syntax, an unknown modality (with
// "did you mean") or a count that is not a whole number >= 0.
std::map<std::string, int64_t> parse_mm_limits(const std::string& text, const std::string& flag);

}  // namespace kvplan
