// A deploy file (io/deploy_yaml.h) and its engine arguments, then the core on the model and GPU
// it names when both are bundled ids (paths are not followed: a fuzzer must not read the disk).
#include "fuzz_common.h"
#include "io/deploy_yaml.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kvplan;
  DeployFile d;
  try {
    d = parse_deploy_file(fuzz::text(data, size), "fuzz.yaml");
    check_engine_arguments(d, fuzz::vllm());
  } catch (const Error&) {
    return 0;
  }
  const Registry& r = fuzz::registry();
  if (r.has_model(d.model) && r.has_gpu(d.gpu)) fuzz::exercise(r.resolve_model(d.model), r.resolve_gpu(d.gpu));
  return 0;
}
