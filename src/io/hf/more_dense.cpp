// More dense attention families: phi3, olmo2/olmo3, cohere/cohere2, smollm3, granite, exaone4.
#include "io/hf/families.h"

namespace kvplan::hf {

void register_more_dense(std::vector<Family>&) {}

}  // namespace kvplan::hf
