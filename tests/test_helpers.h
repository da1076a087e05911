// Shared by the unit tests: the bundled registry, and a model or GPU by id.
#pragma once

#include "core/memory.h"
#include "core/params.h"
#include "io/registry.h"

namespace kvplan::test {

inline const Registry& bundled() {
  static const Registry r = Registry::load("");
  return r;
}
inline Model model(const std::string& id) { return bundled().resolve_model(id); }
inline Gpu gpu(const std::string& id) { return bundled().resolve_gpu(id); }
// The model's published weight formats, bf16 KV cache and state, defaults otherwise.
inline MemoryOptions bf16_options(const Model& m) {
  MemoryOptions o;
  o.weights = weight_dtypes(m);
  o.cache.kv_dtype = DType::bf16;
  o.cache.state_dtype = DType::bf16;
  return o;
}

}  // namespace kvplan::test
