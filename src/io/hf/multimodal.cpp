// Multimodal wrappers and their towers: llama4, llava, mistral3, qwen2_5_vl.
#include "io/hf/families.h"

namespace kvplan::hf {

void register_multimodal(std::vector<Family>&) {}

}  // namespace kvplan::hf
