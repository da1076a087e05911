// Shared by the libFuzzer targets (tests/fuzz/README.md): the bundled registry, and the core
// (estimate, fit and plan) run on whatever a target parsed. An input error is kvplan::Error and is
// expected; any other exception escapes and libFuzzer reports it as a crash, as the CLI would
// otherwise report an input as an internal error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/error.h"
#include "core/estimate.h"
#include "core/fleet.h"
#include "core/params.h"
#include "io/registry.h"

namespace kvplan::fuzz {

inline const Registry& registry() {
  static const Registry r = Registry::load("");
  return r;
}
inline const Gpu& h100() {
  static const Gpu g = registry().resolve_gpu("h100-sxm");
  return g;
}
inline const EngineProfile& vllm() {
  static const EngineProfile p = registry().resolve_engine("vllm");
  return p;
}

inline std::string text(const uint8_t* data, size_t size) { return std::string(reinterpret_cast<const char*>(data), size); }

// Sizing a model on a GPU: the estimate at a small workload under kvplan's ideal engine and the
// default engine profile, the largest batch and context that fit, and a fleet plan for a small
// rate (tp 1 and 2; no request simulation). Input errors are expected.
// Built with KVPLAN_FUZZ_PARSE_ONLY (the *_parse targets), it does nothing: the parser alone runs
// many times faster.
inline void exercise(const Model& model, const Gpu& gpu, const EngineProfile* profile = nullptr) {
#ifdef KVPLAN_FUZZ_PARSE_ONLY
  (void)model, (void)gpu, (void)profile;
  return;
#endif
  for (int pass = 0; pass < 2; ++pass) {
    try {
      MemoryOptions o;
      o.weights = weight_dtypes(model);
      if (pass == 1) o.engine.profile = profile ? *profile : vllm();
      estimate(model, gpu, Workload{2, 4096, 0, 0}, o);
      fit(model, gpu, std::nullopt, 1, o);
      PlanRequest q;
      q.prompt = 512;
      q.gen = 64;
      q.rps = 1;
      q.tp_candidates = {1, 2};
      plan_fleet(model, gpu, q, o);
    } catch (const Error&) {
    }
  }
}

}  // namespace kvplan::fuzz
