// A GPU preset (io/gpu_yaml.h), then the core sizing a bundled model on it.
#include "fuzz_common.h"
#include "io/gpu_yaml.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kvplan;
  Gpu g;
  try {
    g = parse_gpu_yaml(fuzz::text(data, size), "fuzz.yaml");
  } catch (const Error&) {
    return 0;
  }
  static const Model llama = fuzz::registry().resolve_model("llama-3.1-8b");
  static const Model hybrid = fuzz::registry().resolve_model("qwen3-next-80b-a3b");
  fuzz::exercise(llama, g);
  fuzz::exercise(hybrid, g);
  return 0;
}
