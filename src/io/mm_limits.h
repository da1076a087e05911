// vLLM's --limit-mm-per-prompt: how many items of each modality one prompt may carry. A modality
// at 0 takes no part in the engine's profiled vision-encoder pass (docs/engines.md).
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace kvplan {

// Adds one modality's count to `limits`: a modality vLLM's multimodal models take (image, video,
// audio) and a count >= 0, else kvplan::Error naming `what` (with "did you mean").
void add_mm_limit(std::map<std::string, int64_t>& limits, const std::string& modality, int64_t count,
                  const std::string& what);

// Parses the flag's text: a JSON object ('{"image": 0, "video": 0}', a modality's value a count
// or an object with "count" and the dummy item's size, which kvplan does not model) or the older
// 'image=4,video=1'. Throws kvplan::Error naming `flag` for bad syntax, an unknown modality (with
// "did you mean") or a count that is not a whole number >= 0.
std::map<std::string, int64_t> parse_mm_limits(const std::string& text, const std::string& flag);

}  // namespace kvplan
