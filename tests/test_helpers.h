// Shared by the unit tests: the bundled registry, and a model or GPU by id.
#pragma once

#include "io/registry.h"

namespace kvplan::test {

inline const Registry& bundled() {
  static const Registry r = Registry::load("");
  return r;
}
inline Model model(const std::string& id) { return bundled().resolve_model(id); }
inline Gpu gpu(const std::string& id) { return bundled().resolve_gpu(id); }

}  // namespace kvplan::test
