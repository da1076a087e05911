// Shared by the unit tests: the bundled registry, and a model or GPU by id.
#pragma once

#include "core/memory.h"
#include "core/params.h"
#include "io/gpu_yaml.h"
#include "io/registry.h"

#include <catch2/catch.hpp>

#include <string>

namespace kvplan::test {

// A minimal GPU preset whose `efficiency:` block body is `efficiency` (one key per line, indented
// by two spaces).
inline std::string gpu_preset(const std::string& efficiency) {
  return "id: test\n"
         "memory_bytes: 1073741824\n"
         "memory_bandwidth_bytes_per_s: 1.0e12\n"
         "peak_flops:\n"
         "  bf16: 100.0e12\n"
         "efficiency:\n" +
         efficiency;
}
// The located message of parsing a GPU preset's text (exit status 2), or "" when it parses.
inline std::string gpu_parse_error(const std::string& text) {
  try {
    parse_gpu_yaml(text, "test.yaml");
  } catch (const Error& e) {
    CHECK(e.exit_status() == 2);
    return e.located();
  }
  return "";
}

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
