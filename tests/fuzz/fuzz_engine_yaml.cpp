// An engine profile (io/engine_yaml.h), then the core sizing bundled models under it.
#include "fuzz_common.h"
#include "io/engine_yaml.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kvplan;
  EngineProfile p;
  try {
    p = parse_engine_yaml(fuzz::text(data, size), "fuzz.yaml");
  } catch (const Error&) {
    return 0;
  }
    static const Model gemma = fuzz::registry().resolve_model("gemma-2-9b");
  static const Model hybrid = fuzz::registry().resolve_model("qwen3-next-80b-a3b");
  fuzz::exercise(gemma, fuzz::h100(), &p);
  fuzz::exercise(hybrid, fuzz::h100(), &p);
  return 0;
}
