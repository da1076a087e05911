// Qwen3 MoE, Qwen3-Next and Qwen3.5 families (gated attention, Gated DeltaNet).
#include "io/hf/families.h"

namespace kvplan::hf {

void register_qwen(std::vector<Family>&) {}

}  // namespace kvplan::hf
