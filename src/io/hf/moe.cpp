// Mixture-of-experts families on attention layers: glm4_moe, minimax_m2, ernie4_5_moe, phimoe, granitemoe.
#include "io/hf/families.h"

namespace kvplan::hf {

void register_moe(std::vector<Family>&) {}

}  // namespace kvplan::hf
