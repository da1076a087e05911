// A Hugging Face config.json (io/hf_config.h), then the core on the imported model.
#include "fuzz_common.h"
#include "io/hf_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kvplan;
  Model m;
  try {
    m = import_hf_config(fuzz::text(data, size), "config.json");
  } catch (const Error&) {
    return 0;
  }
  fuzz::exercise(m, fuzz::h100());
  return 0;
}
