// kvplan's model YAML (io/model_yaml.h), then the core on the model it describes.
#include "fuzz_common.h"
#include "io/model_yaml.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kvplan;
  Model m;
  try {
    m = parse_model_yaml(fuzz::text(data, size), "fuzz.yaml");
  } catch (const Error&) {
    return 0;
  }
  fuzz::exercise(m, fuzz::h100());
  return 0;
}
