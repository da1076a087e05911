// GEMM efficiency by shape (src/core/gemm_efficiency.cpp): the grid's checks, trilinear
// interpolation in log2 space with clamping, hand-derived; and the preset key's parsing.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/gemm_efficiency.h"
#include "core/gpu.h"
#include "io/gpu_yaml.h"
#include "test_helpers.h"

using namespace kvplan;

namespace {
// A 2 x 2 x 2 grid: m in {1024, 4096}, n in {1024, 4096}, k in {1024, 16384}; the efficiency of
// a corner is 0.5 + 0.1 [m = 4096] + 0.02 [n = 4096] + 0.004 [k = 16384], so every corner differs.
std::vector<GemmPoint> corners() {
  std::vector<GemmPoint> p;
  for (int64_t m : {1024, 4096})
    for (int64_t n : {1024, 4096})
      for (int64_t k : {1024, 16384})
        p.push_back({m, n, k, 0.5 + (m == 4096 ? 0.1 : 0) + (n == 4096 ? 0.02 : 0) + (k == 16384 ? 0.004 : 0)});
  return p;
}
std::string error_of(const std::vector<GemmPoint>& points) {
  try {
    gemm_grid(points);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("a GEMM efficiency grid interpolates in log space and clamps at its edges", "[gemm]") {
  const GemmGrid g = gemm_grid(corners());
  CHECK(g.m == std::vector<int64_t>{1024, 4096});
  CHECK(g.k == std::vector<int64_t>{1024, 16384});
  // On a grid point: its own value, 0.5 + 0.1 + 0.004 = 0.604.
  CHECK(interpolate_gemm_efficiency(g, 4096, 1024, 16384) == Approx(0.604));
  // m = 2048 is halfway between 1024 and 4096 in log2 (10, 11, 12): 0.5 + 0.1 / 2 = 0.55.
  CHECK(interpolate_gemm_efficiency(g, 2048, 1024, 1024) == Approx(0.55));
  // k = 4096 is 2/4 of the way from 1024 to 16384 in log2 (10 -> 12 of 10 -> 14): + 0.004 x 0.5.
  // With m = 2048 and n = 2048 (each halfway): 0.5 + 0.05 + 0.01 + 0.002 = 0.562 (the corners'
  // contributions are additive, so trilinear interpolation adds the three halves).
  CHECK(interpolate_gemm_efficiency(g, 2048, 2048, 4096) == Approx(0.562));
  // Below the grid: clamped to its lowest m, n and k, 0.5; m = 1 too (the grid starts at 1024).
  CHECK(interpolate_gemm_efficiency(g, 1, 16, 64) == Approx(0.5));
  CHECK(interpolate_gemm_efficiency(g, 0.25, 1024, 1024) == Approx(0.5));
  // Above it: the highest corner, 0.5 + 0.1 + 0.02 + 0.004 = 0.624.
  CHECK(interpolate_gemm_efficiency(g, 1e6, 65536, 1e5) == Approx(0.624));
  // Clamped along m only, midway in n (log2 1024 -> 2048 -> 4096): 0.5 + 0.1 + 0.01 = 0.61.
  CHECK(interpolate_gemm_efficiency(g, 8192, 2048, 1024) == Approx(0.61));
}

TEST_CASE("a grid with one value along an axis uses it for every coordinate there", "[gemm]") {
  const GemmGrid g = gemm_grid({{1024, 4096, 4096, 0.6}, {8192, 4096, 4096, 0.7}});
  // m = 2896.3 = 2^11.5: halfway from 2^10 to 2^13 is 2^11.5, so 0.6 + 0.1 x 0.5 = 0.65.
  CHECK(interpolate_gemm_efficiency(g, std::pow(2.0, 11.5), 1024, 65536) == Approx(0.65));
}

TEST_CASE("Efficiency::gemm uses the grid, or flops_fraction without one", "[gemm]") {
  Efficiency e;
  e.flops_fraction = 0.75;
  CHECK(e.gemm(8192, 4096, 4096) == 0.75);
  e.gemm_efficiency = gemm_grid(corners());
  CHECK(e.gemm(8192, 4096, 16384) == Approx(0.624));
}

TEST_CASE("a GEMM grid must be a full product of positive sizes, each point once", "[gemm]") {
  CHECK(error_of({{0, 1024, 1024, 0.5}}) == "gemm_efficiency point (m 0, n 1024, k 1024): m, n and k must be positive");
  CHECK(error_of({{1, 1024, 1024, 1.5}}) == "gemm_efficiency point (m 1, n 1024, k 1024): efficiency must be in (0, 1]");
  CHECK(error_of({{1, 1024, 1024, 0.5}, {1, 1024, 1024, 0.6}}) ==
        "gemm_efficiency point (m 1, n 1024, k 1024) is given twice");
  std::vector<GemmPoint> holed = corners();
  holed.erase(holed.begin() + 3);  // (1024, 4096, 16384)
  CHECK(error_of(holed) ==
        "gemm_efficiency is not a full grid over its m, n and k values: (m 1024, n 4096, k 16384) is missing");
  CHECK(gemm_grid({}).empty());
}

namespace {
std::string preset(const std::string& grid) {
  return kvplan::test::gpu_preset("  flops_fraction: 0.75\n  gemm_efficiency:\n" + grid);
}
std::string parse_error(const std::string& text) { return kvplan::test::gpu_parse_error(text); }
}  // namespace

TEST_CASE("gemm_efficiency parses from a preset and fails at file:line:col", "[gemm][gpu-yaml]") {
  const Gpu g = parse_gpu_yaml(preset("    - {m: 1024, n: 4096, k: 4096, efficiency: 0.6}\n"
                                      "    - {m: 8192, n: 4096, k: 4096, efficiency: 0.7}\n"),
                               "test.yaml");
  CHECK(g.efficiency.gemm_efficiency.m == std::vector<int64_t>{1024, 8192});
  CHECK(g.efficiency.gemm(1024, 4096, 4096) == Approx(0.6));
  // `gemm_efficiency:` with nothing under it (line 8 of the preset) is a value forgotten, not "no grid".
  CHECK(parse_error(preset("")) == "test.yaml:8:3: 'gemm_efficiency' has no value");
  CHECK(parse_gpu_yaml(kvplan::test::gpu_preset("  flops_fraction: 0.75\n"), "test.yaml").efficiency.gemm_efficiency.empty());
  CHECK(parse_error(preset("    - {m: 1024, n: 4096, k: 4096, eff: 0.6}\n")) ==
        "test.yaml:9:7: gemm_efficiency point is missing required key 'efficiency'");
  CHECK(parse_error(preset("    - {m: 1024, n: 0, k: 4096, efficiency: 0.6}\n")) ==
        "test.yaml:9:20: gemm_efficiency 'n' must be positive, got 0");
  CHECK(parse_error(preset("    - {m: 1024, n: 4096, k: 4096, efficiency: 1.2}\n")) ==
        "test.yaml:9:47: gemm_efficiency 'efficiency' must be a fraction in (0, 1], got 1.2");
  CHECK(parse_error(preset("    - {m: 1024, n: 4096, k: 4096, efficiency: 0.6}\n"
                           "    - {m: 1024, n: 4096, k: 4096, efficiency: 0.7}\n")) ==
        "test.yaml:10:7: gemm_efficiency point (m 1024, n 4096, k 4096) is given twice");
  CHECK(parse_error(preset("    - {m: 1024, n: 4096, k: 4096, efficiency: 0.6}\n"
                           "    - {m: 8192, n: 1024, k: 4096, efficiency: 0.7}\n")) ==
        "test.yaml:9:5: gemm_efficiency is not a full grid over its m, n and k values: (m 1024, n 1024, k 4096) is "
        "missing");
  CHECK(parse_error(preset("    {m: 1024}\n")) ==
        "test.yaml:9:5: 'gemm_efficiency' must be a list of {m, n, k, efficiency} maps");
}

TEST_CASE("weight_stream_shapes parses beside its grid and fails at file:line:col", "[gemm][gpu-yaml]") {
  const std::string grid = "  weight_stream_efficiency:\n    - {m: 1, n: 4096, k: 4096, efficiency: 0.8}\n";
  const Gpu g = parse_gpu_yaml(kvplan::test::gpu_preset(grid + "  weight_stream_shapes:\n"
                                                                "    - {m: 1, n: 32000, k: 4096, efficiency: 0.7}\n"),
                               "test.yaml");
  CHECK(g.efficiency.weight_stream(1, 32000, 4096) == Approx(0.7));
  CHECK(g.efficiency.weight_stream(1, 4096, 4096) == Approx(0.8));
  CHECK(parse_error(kvplan::test::gpu_preset("  weight_stream_shapes:\n    - {m: 1, n: 32000, k: 4096, efficiency: 0.7}\n")) ==
        "test.yaml:8:5: 'weight_stream_shapes' needs the 'weight_stream_efficiency' grid for the shapes it does not list");
  CHECK(parse_error(kvplan::test::gpu_preset(grid + "  weight_stream_shapes:\n"
                                                    "    - {m: 1, n: 32000, k: 4096, efficiency: 1.5}\n")) ==
        "test.yaml:10:45: weight_stream_shapes 'efficiency' must be a fraction in (0, 1], got 1.5");
}

namespace {
// Prefill attention: tokens in {1024, 4096}, head_dim in {64, 128}; 0.1 + 0.2 [tokens = 4096] + 0.1
// [head_dim = 128], every corner distinct.
std::vector<AttentionPoint> attention_corners() {
  std::vector<AttentionPoint> p;
  for (int64_t t : {1024, 4096})
    for (int64_t d : {64, 128}) p.push_back({t, d, 0.1 + (t == 4096 ? 0.2 : 0) + (d == 128 ? 0.1 : 0)});
  return p;
}
std::string attention_error_of(const std::vector<AttentionPoint>& points) {
  try {
    attention_grid(points);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}
std::string attention_preset(const std::string& grid) {
  return kvplan::test::gpu_preset("  attention_flops_fraction: 0.5\n  attention_efficiency:\n" + grid);
}
}  // namespace

TEST_CASE("a prefill attention grid interpolates in log2(tokens) and log2(head_dim), clamped", "[gemm][attention]") {
  const AttentionGrid g = attention_grid(attention_corners());
  CHECK(g.tokens == std::vector<int64_t>{1024, 4096});
  CHECK(g.head_dim == std::vector<int64_t>{64, 128});
  CHECK(interpolate_attention_efficiency(g, 1024, 128) == Approx(0.2));
  CHECK(interpolate_attention_efficiency(g, 4096, 64) == Approx(0.3));
  // 2048 tokens is halfway from 2^10 to 2^12 in log2: at head_dim 128, 0.2 + 0.2 x 0.5 = 0.3.
  CHECK(interpolate_attention_efficiency(g, 2048, 128) == Approx(0.3));
  // head_dim 96: log2(96) = 6.585, weight 0.585 on 128; at 2048 tokens 0.2 x 0.415 + 0.3 x 0.585 = 0.2585.
  CHECK(interpolate_attention_efficiency(g, 2048, 96) == Approx(0.2 + 0.1 * (std::log2(96.0) - 6)));
  CHECK(interpolate_attention_efficiency(g, 2048, 96) == Approx(0.2585).epsilon(1e-3));
  // Outside the grid the edge's value: 256 tokens, head_dim 256 -> (1024, 128); 1M tokens, head_dim 32 -> (4096, 64).
  CHECK(interpolate_attention_efficiency(g, 256, 256) == Approx(0.2));
  CHECK(interpolate_attention_efficiency(g, 1 << 20, 32) == Approx(0.3));
  // One head_dim only: that value's curve at every head size.
  const AttentionGrid one = attention_grid({{1024, 128, 0.2}, {4096, 128, 0.6}});
  CHECK(interpolate_attention_efficiency(one, 2048, 64) == Approx(0.4));
}

TEST_CASE("Efficiency::attention uses the grid, or attention_flops_fraction without one", "[gemm][attention]") {
  Efficiency e;
  e.attention_flops_fraction = 0.5;
  CHECK(e.attention(1024, 128) == 0.5);
  e.attention_efficiency = attention_grid(attention_corners());
  CHECK(e.attention(1024, 128) == Approx(0.2));
}

TEST_CASE("an attention grid must be a full product of positive sizes, each point once", "[gemm][attention]") {
  CHECK(attention_error_of({{0, 128, 0.5}}) ==
        "attention_efficiency point (tokens 0, head_dim 128): tokens and head_dim must be positive");
  CHECK(attention_error_of({{1024, 128, 0}}) == "attention_efficiency point (tokens 1024, head_dim 128): efficiency must be in (0, 1]");
  CHECK(attention_error_of({{1024, 128, 0.5}, {1024, 128, 0.6}}) ==
        "attention_efficiency point (tokens 1024, head_dim 128) is given twice");
  std::vector<AttentionPoint> holed = attention_corners();
  holed.pop_back();  // (4096, 128)
  CHECK(attention_error_of(holed) ==
        "attention_efficiency is not a full grid over its tokens and head_dim values: (tokens 4096, head_dim 128) is missing");
  CHECK(attention_grid({}).empty());
}

TEST_CASE("attention_efficiency parses from a preset and fails at file:line:col", "[gemm][attention][gpu-yaml]") {
  const Gpu g = parse_gpu_yaml(attention_preset("    - {tokens: 1024, head_dim: 128, efficiency: 0.25}\n"
                                                "    - {tokens: 16384, head_dim: 128, efficiency: 0.6}\n"),
                               "test.yaml");
  CHECK(g.efficiency.attention_efficiency.tokens == std::vector<int64_t>{1024, 16384});
  CHECK(g.efficiency.attention(4096, 128) == Approx(0.25 + 0.35 * 0.5));  // 2^12: halfway from 2^10 to 2^14
  CHECK(parse_error(attention_preset("    - {tokens: 1024, head_dim: 128, eff: 0.6}\n")) ==
        "test.yaml:9:7: attention_efficiency point is missing required key 'efficiency'");
  CHECK(parse_error(attention_preset("    - {tokens: 1024, head_dim: -64, efficiency: 0.6}\n")) ==
        "test.yaml:9:32: attention_efficiency 'head_dim' must be positive, got -64");
  CHECK(parse_error(attention_preset("    - {tokens: 1024, head_dim: 128, efficiency: 1.5}\n")) ==
        "test.yaml:9:49: attention_efficiency 'efficiency' must be a fraction in (0, 1], got 1.5");
  CHECK(parse_error(attention_preset("    - {tokens: 1024, head_dim: 128, efficiency: 0.6}\n"
                                     "    - {tokens: 1024, head_dim: 128, efficiency: 0.7}\n")) ==
        "test.yaml:10:7: attention_efficiency point (tokens 1024, head_dim 128) is given twice");
  CHECK(parse_error(attention_preset("    - {tokens: 1024, head_dim: 128, efficiency: 0.6}\n"
                                     "    - {tokens: 4096, head_dim: 64, efficiency: 0.7}\n")) ==
        "test.yaml:9:5: attention_efficiency is not a full grid over its tokens and head_dim values: (tokens 1024, "
        "head_dim 64) is missing");
  CHECK(parse_error(attention_preset("    {tokens: 1024}\n")) ==
        "test.yaml:9:5: 'attention_efficiency' must be a list of {tokens, head_dim, efficiency} maps");
}

TEST_CASE("a state table interpolates in log2(d_state) within the state's width, clamped", "[gemm][ssm]") {
  // fp32: 0.70 at d_state 16, 0.80 at 128; bf16: 0.55 at 16 only.
  const StateTable t = state_table({{128, 32, 0.80}, {16, 32, 0.70}, {16, 16, 0.55}});
  CHECK(*t.at(16, 32) == Approx(0.70));
  CHECK(*t.at(128, 32) == Approx(0.80));
  // d_state 64: log2 6 is 2/3 of the way from 4 to 7: 0.70 + 2/3 x 0.10 = 0.7667.
  CHECK(*t.at(64, 32) == Approx(0.70 + 0.10 * 2.0 / 3.0));
  CHECK(*t.at(8, 32) == Approx(0.70));    // clamped below
  CHECK(*t.at(256, 32) == Approx(0.80));  // clamped above
  CHECK(*t.at(128, 16) == Approx(0.55));  // one point of that width
  CHECK_FALSE(StateTable{{{16, 32, 0.7}}}.at(16, 16));
  CHECK_THROWS_WITH(state_table({{16, 8, 0.5}}),
                    "state_efficiency point (d_state 16, 8 bits): the state must be 16 or 32 bits (fp32, bf16 or fp16)");
  CHECK_THROWS_WITH(state_table({{0, 32, 0.5}}), "state_efficiency point (d_state 0, 32 bits): d_state must be positive");
  // Efficiency::state_bandwidth: the table at the state's width; without a point there, or for a
  // state other than Mamba's (d_state 0), state_bandwidth_fraction.
  Efficiency e;
  e.state_bandwidth_fraction = 0.6;
  e.state_efficiency = state_table({{16, 32, 0.7}});
  CHECK(e.state_bandwidth(16, 32) == Approx(0.7));
  CHECK(e.state_bandwidth(16, 16) == Approx(0.6));
  CHECK(e.state_bandwidth(0, 0) == Approx(0.6));
}

TEST_CASE("state_efficiency parses from a preset and fails at file:line:col", "[gemm][ssm][gpu-yaml]") {
  const Gpu g = parse_gpu_yaml(kvplan::test::gpu_preset("  state_efficiency:\n"
                                                        "    - {d_state: 16, bits: 16, efficiency: 0.57}\n"
                                                        "    - {d_state: 128, bits: 32, efficiency: 0.81}\n"),
                               "test.yaml");
  CHECK(g.efficiency.state_bandwidth(16, 16) == Approx(0.57));
  CHECK(g.efficiency.state_bandwidth(128, 32) == Approx(0.81));
  CHECK(parse_error(kvplan::test::gpu_preset("  state_efficiency:\n    - {d_state: 16, bits: 8, efficiency: 0.5}\n")) ==
        "test.yaml:8:27: state_efficiency 'bits' must be 16 or 32 (bf16/fp16 or fp32 state), got 8");
  CHECK(parse_error(kvplan::test::gpu_preset("  state_efficiency:\n    - {d_state: 16, bits: 16, efficiency: 0}\n")) ==
        "test.yaml:8:43: state_efficiency 'efficiency' must be a fraction in (0, 1], got 0");
  CHECK(parse_error(kvplan::test::gpu_preset("  state_efficiency:\n    - {d_state: 16, bits: 16, efficiency: 0.5}\n"
                                             "    - {d_state: 16, bits: 16, efficiency: 0.6}\n")) ==
        "test.yaml:9:7: state_efficiency point (d_state 16, bits 16) is given twice");
}

TEST_CASE("a kernel cost curve interpolates in log2(bytes) and clamps at its ends", "[gemm][gpu-yaml]") {
  // 1 MiB -> 3 us, 16 MiB -> 5 us: 4 MiB is log2(4) = 2 of the 4 between them, 3 + 2 x 2/4 = 4 us.
  const KernelCostCurve c = kernel_cost_curve({{16777216, 5e-6}, {1048576, 3e-6}}, "k");
  REQUIRE(c.points.size() == 2);
  CHECK(c.points.front().size == 1048576);  // sorted by bytes
  CHECK(c.at(4194304) == Approx(4e-6));
  CHECK(c.at(1000) == Approx(3e-6));
  CHECK(c.at(1e12) == Approx(5e-6));
  CHECK_THROWS_WITH(kernel_cost_curve({{0, 1e-6}}, "k"), "k point (bytes 0): bytes must be positive");
  CHECK_THROWS_WITH(kernel_cost_curve({{1, -1e-6}}, "k"), "k point (bytes 1): seconds must not be negative");
  CHECK_THROWS_WITH(kernel_cost_curve({{1, 1e-6}, {1, 2e-6}}, "k"), "k point (bytes 1) is given twice");
}

TEST_CASE("attention_kernel_overhead_s parses as a figure or a curve and fails at file:line:col", "[gemm][gpu-yaml]") {
  const Gpu one = parse_gpu_yaml(kvplan::test::gpu_preset("  attention_kernel_overhead_s: 3.1e-6\n"), "test.yaml");
  REQUIRE(one.efficiency.attention_kernel_overhead_s.points.size() == 1);
  CHECK(one.efficiency.attention_kernel_overhead_s.at(1e9) == Approx(3.1e-6));
  const Gpu curve = parse_gpu_yaml(kvplan::test::gpu_preset("  attention_kernel_overhead_s:\n"
                                                            "    - {bytes: 8388608, seconds: 3.4e-6}\n"
                                                            "    - {bytes: 2097152, seconds: 3.0e-6}\n"),
                                   "test.yaml");
  REQUIRE(curve.efficiency.attention_kernel_overhead_s.points.size() == 2);
  // 4 MiB: halfway in log2 between 2 and 8 MiB.
  CHECK(curve.efficiency.attention_kernel_overhead_s.at(4194304) == Approx(3.2e-6));
  CHECK(parse_error(kvplan::test::gpu_preset("  attention_kernel_overhead_s:\n    - {bytes: 0, seconds: 3e-6}\n")) ==
        "test.yaml:8:15: attention_kernel_overhead_s 'bytes' must be positive, got 0");
  CHECK(parse_error(kvplan::test::gpu_preset("  attention_kernel_overhead_s:\n    - {bytes: 4, seconds: -3e-6}\n")) ==
        "test.yaml:8:27: attention_kernel_overhead_s 'seconds' must not be negative, got -3e-6");
  CHECK(parse_error(kvplan::test::gpu_preset("  attention_kernel_overhead_s:\n    - {bytes: 4, seconds: 3e-6}\n"
                                             "    - {bytes: 4, seconds: 4e-6}\n")) ==
        "test.yaml:9:7: attention_kernel_overhead_s point (bytes 4) is given twice");
  CHECK(parse_error(kvplan::test::gpu_preset("  attention_kernel_overhead_s:\n    - {bytes: 4, second: 3e-6}\n"))
            .find("test.yaml:8:") == 0);
  CHECK(parse_error(kvplan::test::gpu_preset("  attention_kernel_overhead_s: []\n")) ==
        "test.yaml:7:32: 'attention_kernel_overhead_s' must be a figure or a list of {bytes, seconds} maps");
  // rotary_kernel_overhead_s: one figure or a list by pairs, not negative.
  const Gpu rot = parse_gpu_yaml(kvplan::test::gpu_preset("  rotary_kernel_overhead_s: 2.9e-6\n"), "test.yaml");
  REQUIRE(rot.efficiency.rotary_kernel_overhead_s.points.size() == 1);
  CHECK(rot.efficiency.rotary_kernel_overhead_s.at(2560) == Approx(2.9e-6));
  const Gpu rot_pairs = parse_gpu_yaml(
      kvplan::test::gpu_preset("  rotary_kernel_overhead_s:\n    - {pairs: 512, seconds: 2e-6}\n"
                               "    - {pairs: 2048, seconds: 3e-6}\n"),
      "test.yaml");
  // 1024 pairs: log2(1024 / 512) = 1 of log2(2048 / 512) = 2: 2.5 us.
  CHECK(rot_pairs.efficiency.rotary_kernel_overhead_s.at(1024) == Approx(2.5e-6));
  CHECK(parse_error(kvplan::test::gpu_preset("  rotary_kernel_overhead_s: -1e-6\n")).find(
            "efficiency.rotary_kernel_overhead_s must not be negative") != std::string::npos);
  // moe_routing_kernel_overhead_s: one figure, or a list by experts.
  const Gpu routing = parse_gpu_yaml(kvplan::test::gpu_preset("  moe_routing_kernel_overhead_s: 3.8e-6\n"), "test.yaml");
  REQUIRE(routing.efficiency.moe_routing_kernel_overhead_s.points.size() == 1);
  CHECK(routing.efficiency.moe_routing_kernel_overhead_s.at(128) == Approx(3.8e-6));
  CHECK(parse_error(kvplan::test::gpu_preset("  moe_routing_kernel_overhead_s: -1e-6\n")).find(
            "efficiency.moe_routing_kernel_overhead_s must not be negative") != std::string::npos);
  const Gpu by_experts = parse_gpu_yaml(
      kvplan::test::gpu_preset("  moe_routing_kernel_overhead_s:\n    - {experts: 8, seconds: 2.3e-6}\n"
                               "    - {experts: 64, seconds: 3.8e-6}\n"),
      "test.yaml");
  // 16 experts: log2(16 / 8) = 1 of log2(64 / 8) = 3: 2.3 + 1.5 / 3 = 2.8 us.
  CHECK(by_experts.efficiency.moe_routing_kernel_overhead_s.at(16) == Approx(2.8e-6));
  CHECK(parse_error(kvplan::test::gpu_preset("  moe_routing_kernel_overhead_s:\n    - {bytes: 8, seconds: 2.3e-6}\n"))
            .find("test.yaml:8:") == 0);
  // Line 8, the 0 after "    - {experts: " (16 characters): column 17.
  CHECK(parse_error(kvplan::test::gpu_preset("  moe_routing_kernel_overhead_s:\n    - {experts: 0, seconds: 2.3e-6}\n")) ==
        "test.yaml:8:17: moe_routing_kernel_overhead_s 'experts' must be positive, got 0");
}
