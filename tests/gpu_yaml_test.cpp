// GPU preset parsing (src/io/gpu_yaml.cpp): the efficiency block's optional per-traffic-class
// bandwidth fractions, their defaults, and errors at the value's file:line:col.
#include <catch2/catch.hpp>

#include "core/error.h"
#include "io/gpu_yaml.h"
#include "test_helpers.h"

using namespace kvplan;

namespace {
std::string preset(const std::string& efficiency) { return kvplan::test::gpu_preset(efficiency); }
std::string error_of(const std::string& text) { return kvplan::test::gpu_parse_error(text); }
}  // namespace

TEST_CASE("attention and state bandwidth fractions parse, and follow bandwidth_fraction when absent",
          "[gpu-yaml][efficiency]") {
  const Gpu both = parse_gpu_yaml(preset("  bandwidth_fraction: 0.92\n"
                                         "  attention_bandwidth_fraction: 0.85\n"
                                         "  state_bandwidth_fraction: 0.76\n"),
                                  "test.yaml");
  CHECK(both.efficiency.bandwidth_fraction == 0.92);
  CHECK(both.efficiency.attention_bandwidth_fraction == 0.85);
  CHECK(both.efficiency.state_bandwidth_fraction == 0.76);
  CHECK(both.efficiency.attention_bandwidth() == 0.85);
  CHECK(both.efficiency.state_bandwidth() == 0.76);

  const Gpu none = parse_gpu_yaml(preset("  bandwidth_fraction: 0.92\n"), "test.yaml");
  CHECK_FALSE(none.efficiency.attention_bandwidth_fraction);
  CHECK_FALSE(none.efficiency.state_bandwidth_fraction);
  CHECK(none.efficiency.attention_bandwidth() == 0.92);
  CHECK(none.efficiency.state_bandwidth() == 0.92);

  // One set: the other still follows bandwidth_fraction (here the 0.90 default: no bandwidth_fraction key).
  const Gpu one = parse_gpu_yaml(preset("  state_bandwidth_fraction: 1\n"), "test.yaml");
  CHECK(one.efficiency.attention_bandwidth() == 0.90);
  CHECK(one.efficiency.state_bandwidth() == 1.0);
}

TEST_CASE("bandwidth fractions out of range or not numbers fail at file:line:col", "[gpu-yaml][efficiency]") {
  // Line 7 is the efficiency block's first key; the value starts after "  attention_bandwidth_fraction: ".
  CHECK(error_of(preset("  attention_bandwidth_fraction: 1.2\n")) ==
        "test.yaml:7:33: 'attention_bandwidth_fraction' must be a fraction in (0, 1], got 1.2");
  CHECK(error_of(preset("  state_bandwidth_fraction: 0\n")) ==
        "test.yaml:7:29: 'state_bandwidth_fraction' must be a fraction in (0, 1], got 0");
  CHECK(error_of(preset("  state_bandwidth_fraction: -0.5\n")) ==
        "test.yaml:7:29: 'state_bandwidth_fraction' must be a fraction in (0, 1], got -0.5");
  CHECK(error_of(preset("  attention_bandwidth_fraction: fast\n")) ==
        "test.yaml:7:33: 'attention_bandwidth_fraction' must be a number, got 'fast'");
  // The existing fractions are checked the same way.
  CHECK(error_of(preset("  bandwidth_fraction: 1.5\n")) ==
        "test.yaml:7:23: 'bandwidth_fraction' must be a fraction in (0, 1], got 1.5");
  // A misspelt key is unknown, with a suggestion.
  CHECK(error_of(preset("  attention_bandwith_fraction: 0.8\n")) ==
        "test.yaml:7:3: unknown key 'attention_bandwith_fraction' in efficiency; did you mean "
        "'attention_bandwidth_fraction'?");
  CHECK(error_of(preset("  attention_bandwidth_fraction: 1.0\n")).empty());
}

TEST_CASE("lm_head_bandwidth_fraction parses, follows bandwidth_fraction when absent, and fails at file:line:col",
          "[gpu-yaml][efficiency]") {
  const Gpu set = parse_gpu_yaml(preset("  bandwidth_fraction: 0.92\n"
                                        "  lm_head_bandwidth_fraction: 0.78\n"),
                                 "test.yaml");
  CHECK(set.efficiency.lm_head_bandwidth_fraction == 0.78);
  CHECK(set.efficiency.lm_head_bandwidth() == 0.78);
  // The other classes still follow bandwidth_fraction.
  CHECK(set.efficiency.attention_bandwidth() == 0.92);
  CHECK(set.efficiency.state_bandwidth() == 0.92);

  const Gpu none = parse_gpu_yaml(preset("  bandwidth_fraction: 0.92\n"), "test.yaml");
  CHECK_FALSE(none.efficiency.lm_head_bandwidth_fraction);
  CHECK(none.efficiency.lm_head_bandwidth() == 0.92);

  // Line 7 is the efficiency block's first key; "  lm_head_bandwidth_fraction: " is 2 + 26 + 2 = 30
  // characters, so the value starts at column 31.
  CHECK(error_of(preset("  lm_head_bandwidth_fraction: 1.05\n")) ==
        "test.yaml:7:31: 'lm_head_bandwidth_fraction' must be a fraction in (0, 1], got 1.05");
  CHECK(error_of(preset("  lm_head_bandwidth_fraction: 0\n")) ==
        "test.yaml:7:31: 'lm_head_bandwidth_fraction' must be a fraction in (0, 1], got 0");
  CHECK(error_of(preset("  lm_head_bandwidth_fraction: slow\n")) ==
        "test.yaml:7:31: 'lm_head_bandwidth_fraction' must be a number, got 'slow'");
  // Second key of the block: line 8.
  CHECK(error_of(preset("  bandwidth_fraction: 0.9\n"
                        "  lm_head_bandwidth_fraction: -0.8\n")) ==
        "test.yaml:8:31: 'lm_head_bandwidth_fraction' must be a fraction in (0, 1], got -0.8");
  CHECK(error_of(preset("  lm_head_bandwidth_fraction: 1\n")).empty());
}

TEST_CASE("whole numbers in exponent form are read exactly; fractions are refused at file:line:col",
          "[gpu-yaml][numbers]") {
  auto with_memory = [](const std::string& memory) {
    return "id: test\nmemory_bytes: " + memory + "\nmemory_bandwidth_bytes_per_s: 1.0e12\npeak_flops: {bf16: 1.0e14}\n";
  };
  CHECK(parse_gpu_yaml(with_memory("8.5e10"), "test.yaml").memory_bytes == 85'000'000'000);
  CHECK(parse_gpu_yaml(with_memory("8.5520809984e10"), "test.yaml").memory_bytes == 85'520'809'984);
  CHECK(parse_gpu_yaml(with_memory("1E9"), "test.yaml").memory_bytes == 1'000'000'000);
  CHECK(parse_gpu_yaml(with_memory("1073741824.0"), "test.yaml").memory_bytes == 1'073'741'824);
  CHECK(error_of(with_memory("9.223372036854775807e18")) == "test.yaml:2:15: gpu 'test': memory_bytes above 1 PiB is not a GPU");
  CHECK(error_of(with_memory("8.55208099845e10")) ==
        "test.yaml:2:15: 'memory_bytes' must be a whole number, got '8.55208099845e10', which has a fraction");
  CHECK(error_of(with_memory("1e-3")) == "test.yaml:2:15: 'memory_bytes' must be a whole number, got '1e-3', which has a fraction");
  CHECK(error_of(with_memory("1e19")) == "test.yaml:2:15: 'memory_bytes' overflows 64-bit: '1e19'");
  CHECK(error_of(with_memory("1e30")) == "test.yaml:2:15: 'memory_bytes' overflows 64-bit: '1e30'");
  CHECK(error_of(with_memory("8.5e")) == "test.yaml:2:15: 'memory_bytes' must be a whole number, got '8.5e'");
  CHECK(error_of(with_memory("0x10")) == "test.yaml:2:15: 'memory_bytes' must be a whole number, got '0x10'");
}

TEST_CASE("checks after parsing report the preset's file:line:col", "[gpu-yaml][positions]") {
  CHECK(error_of("id: t\nmemory_bytes: 2e15\nmemory_bandwidth_bytes_per_s: 1.0e12\npeak_flops: {bf16: 1.0e14}\n") ==
        "test.yaml:2:15: gpu 't': memory_bytes above 1 PiB is not a GPU");
  CHECK(error_of(preset("  allreduce_latency_s: -1e-6\n")) ==
        "test.yaml:7:24: gpu 'test': efficiency.allreduce_latency_s must not be negative");
  CHECK(error_of("id: t\nmemory_bytes: 1000\nmemory_bandwidth_bytes_per_s: 1.0e12\npeak_flops: {bf16: -1.0e14}\n") ==
        "test.yaml:4:20: peak_flops 'bf16' must be positive, got -1.0e14");
  // Rates and costs no accelerator has, which would print times of 1e300 s or infinite costs.
  CHECK(error_of("id: t\nmemory_bytes: 1000\nmemory_bandwidth_bytes_per_s: 1e-300\npeak_flops: {bf16: 1.0e14}\n") ==
        "test.yaml:3:31: gpu 't': memory_bandwidth_bytes_per_s must be between 1e9 and 1e15 bytes/s");
  CHECK(error_of("id: t\nmemory_bytes: 1000\nmemory_bandwidth_bytes_per_s: 1.0e12\npeak_flops: {bf16: 1e-300}\n") ==
        "test.yaml:4:13: gpu 't': peak_flops.bf16 must be between 1e9 and 1e18 FLOP/s");
  CHECK(error_of(preset("  kernel_overhead_s: 1e300\n")) ==
        "test.yaml:7:22: gpu 'test': efficiency.kernel_overhead_s must be below 1 second");
  CHECK(error_of("price:\n  usd_per_gpu_hour: 1e308\n" + preset("  bandwidth_fraction: 0.9\n")) ==
        "test.yaml:2:21: gpu 'test': price.usd_per_gpu_hour must be at most 1e6");
}

TEST_CASE("preset schema: cuda_total_bytes needs schema 2, and only schemas 1 and 2 are read", "[gpu-yaml]") {
  // The H100 80GB's CUDA total (79.19 GiB) in a 1 GiB test preset would exceed memory_bytes: use 1000 B.
  const std::string v2 = "schema_version: 2\ncuda_total_bytes: 1000\n" + preset("  bandwidth_fraction: 0.9\n");
  CHECK(parse_gpu_yaml(v2, "test.yaml").cuda_total_bytes == 1000);
  CHECK(parse_gpu_yaml(preset("  bandwidth_fraction: 0.9\n"), "test.yaml").cuda_total_bytes == 0);
  CHECK(error_of("cuda_total_bytes: 1000\n" + preset("  bandwidth_fraction: 0.9\n")) ==
        "test.yaml:1:19: 'cuda_total_bytes' is a schema 2 key: add 'schema_version: 2'");
  CHECK(error_of("schema_version: 3\n" + preset("  bandwidth_fraction: 0.9\n")) ==
        "test.yaml:1:17: 'schema_version' 3 is not one kvplan reads (1 or 2)");
  CHECK(error_of("schema_version: 2\ncuda_total_bytes: 2147483648\n" + preset("  bandwidth_fraction: 0.9\n")) ==
        "test.yaml:2:19: 'cuda_total_bytes' must be positive and at most memory_bytes");
}
