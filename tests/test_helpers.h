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
// The H100 SXM's datasheet with one flat efficiency per class, the figures the hand-derived timing
// tests work with: 0.90 of the bandwidth for every stream, 0.75 of the peak for every GEMM, 0.50 for
// attention, 4 us a kernel, no grids (the bundled h100-sxm's efficiency before it took its
// calibration's grids). Tests of the grids set their own.
inline Gpu flat_h100() {
  Gpu g = gpu("h100-sxm");
  g.efficiency = Efficiency{};
  g.efficiency.bandwidth_fraction = 0.90;
  g.efficiency.flops_fraction = 0.75;
  g.efficiency.attention_flops_fraction = 0.50;
  g.efficiency.kernel_overhead_s = 4e-6;
  g.efficiency.kernel_gap_s = 0;
  g.efficiency.allreduce_latency_s = 10e-6;
  return g;
}
// The model's published weight formats, bf16 KV cache and state, defaults otherwise.
inline MemoryOptions bf16_options(const Model& m) {
  MemoryOptions o;
  o.weights = weight_dtypes(m);
  o.cache.kv_dtype = DType::bf16;
  o.cache.state_dtype = DType::bf16;
  return o;
}

}  // namespace kvplan::test
