// Numbers, byte sizes, ranges and lists as the command line reads them (io/numbers.h, io/ranges.h).
#include "fuzz_common.h"
#include "io/numbers.h"
#include "io/ranges.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string s = kvplan::fuzz::text(data, size);
  auto quiet = [](auto&& f) {
    try {
      f();
    } catch (const kvplan::Error&) {
    }
  };
  quiet([&] { kvplan::parse_count(s, "--batch"); });
  quiet([&] { kvplan::parse_positive(s, "--rps"); });
  quiet([&] { kvplan::parse_positive(s, "--gpu-memory-utilization", true); });
  quiet([&] { kvplan::parse_bytes(s, "--kv-cache-memory"); });
  quiet([&] { kvplan::parse_range(s, "--context"); });
  quiet([&] { kvplan::parse_list(s, "--model"); });
  return 0;
}
