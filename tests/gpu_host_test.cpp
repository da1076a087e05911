// Host-side logic of the GPU validation ([gpu-host], runs in CI without a GPU): statistics, the
// stopping rule, the clock check, the t0 + bytes/BW fit, number formats, CPU references, reports.
#include <catch2/catch.hpp>

#include <cmath>

#include "core/error.h"
#include "gpu/host/availability.h"
#include "gpu/host/fit.h"
#include "gpu/host/reference.h"
#include "gpu/host/report.h"
#include "gpu/host/stats.h"
#include "io/gpu_yaml.h"
#include "io/registry.h"
#include "test_helpers.h"

using namespace kvplan;
using namespace kvplan::gpu;

TEST_CASE("summarize: median, percentiles, spread of synthetic samples", "[gpu-host]") {
  const SampleStats s = summarize({5, 1, 4, 2, 3});
  CHECK(s.n == 5);
  CHECK(s.median_s == 3);
  CHECK(s.min_s == 1);
  CHECK(s.max_s == 5);
  CHECK(s.p10_s == Approx(1.4));
  CHECK(s.p90_s == Approx(4.6));
  CHECK(s.mean_s == 3);
  CHECK(s.stddev_s == Approx(std::sqrt(2.5)));
  CHECK(s.mad_s == 1);
  CHECK(s.rel_spread() == Approx(3.2 / 3));
  CHECK(percentile({10, 20}, 0.25) == Approx(12.5));
  CHECK_THROWS_AS(summarize({}), Error);
  CHECK_THROWS_AS(summarize({1, NAN}), Error);
}

TEST_CASE("stopping rule: converges on quiet samples, caps time and count on noisy ones", "[gpu-host]") {
  StoppingRule r;
  r.min_samples = 10;
  r.max_samples = 100;
  r.target_rel_noise = 0.01;
  r.max_time_s = 1.0;
  std::vector<double> quiet(9, 1e-3);
  CHECK(r.check(quiet, 0.01) == StoppingRule::Reason::running);  // fewer than min_samples
  quiet.push_back(1.001e-3);
  CHECK(r.check(quiet, 0.01) == StoppingRule::Reason::converged);
  std::vector<double> noisy;
  for (int i = 0; i < 20; ++i) noisy.push_back(i % 2 ? 1e-3 : 3e-3);
  CHECK(r.check(noisy, 0.1) == StoppingRule::Reason::running);
  CHECK(r.check(noisy, 1.5) == StoppingRule::Reason::time_cap);
  noisy.resize(100, 2e-3);
  CHECK(r.check(noisy, 0.1) == StoppingRule::Reason::max_samples);
}

TEST_CASE("clock check flags throttling", "[gpu-host]") {
  CHECK_FALSE(assess_clocks(1980, 1980, 1980).throttled);
  CHECK(assess_clocks(1980, 1500, 1980).throttled);   // under 90% of max
  CHECK(assess_clocks(1800, 1600, 1780).throttled);   // fell by > 5% during the run (and under 90%)
  CHECK_FALSE(assess_clocks(1900, 1850, 1980).throttled);
  CHECK(assess_clocks(1980, 1500, 1980).note.find("1500") != std::string::npos);
}

TEST_CASE("fit recovers t0 and bandwidth from time = t0 + bytes / BW", "[gpu-host]") {
  std::vector<double> b, t;
  for (double x = 1e6; x <= 4e9; x *= 4) {
    b.push_back(x);
    t.push_back(4e-6 + x / 3.1e12);
  }
  const LinearFit f = fit_time_vs_bytes(b, t);
  CHECK(f.t0_s == Approx(4e-6).epsilon(1e-6));
  CHECK(f.bytes_per_s == Approx(3.1e12).epsilon(1e-6));
  CHECK(f.r2 == Approx(1.0));
  CHECK(f.predict_s(1e9) == Approx(4e-6 + 1e9 / 3.1e12));
  CHECK_THROWS_AS(fit_time_vs_bytes({1, 1}, {1, 2}), Error);
  CHECK_THROWS_AS(fit_time_vs_bytes({1, 2}, {2, 1}), Error);  // time falls with size
}

TEST_CASE("number formats round to nearest even and decode exactly", "[gpu-host]") {
  CHECK(float_to_bf16(1.0f) == 0x3f80);
  CHECK(bf16_to_float(0x3f80) == 1.0f);
  CHECK(float_to_bf16(1.0f + 1.0f / 256) == 0x3f80);  // tie, rounds to even
  CHECK(float_to_bf16(1.0f + 3.0f / 256) == 0x3f82);  // tie, rounds up to even
  CHECK(float_to_fp16(1.0f) == 0x3c00);
  CHECK(fp16_to_float(0x3c00) == 1.0f);
  CHECK(fp16_to_float(float_to_fp16(0.1f)) == Approx(0.1f).epsilon(1e-3));
  CHECK(fp16_to_float(0x0001) == std::ldexp(1.0f, -24));
  CHECK(float_to_fp16(std::ldexp(1.0f, -24)) == 0x0001);
  CHECK(float_to_fp16(65504.0f) == 0x7bff);
  CHECK(e4m3_to_float(0x38) == 1.0f);
  CHECK(e4m3_to_float(0x7e) == 448.0f);
  CHECK(e4m3_to_float(0xb8) == -1.0f);
  CHECK(e4m3_to_float(0x01) == std::ldexp(1.0f, -9));
  CHECK(std::isnan(e4m3_to_float(0x7f)));
  CHECK(rel_norm_error({1, 2}, {1, 2}) == 0);
  CHECK(std::isinf(rel_norm_error({NAN, 2}, {1, 2})));
}

TEST_CASE("decode attention reference: equal keys give the mean of V, window and GQA sharing", "[gpu-host]") {
  // 2 query heads share one KV head; all keys equal -> uniform weights -> output = mean of V rows.
  const int64_t n = 4, d = 2;
  std::vector<double> q = {1, 2, -1, 0.5};
  std::vector<double> k(n * d, 0.3), v = {1, 10, 2, 20, 3, 30, 4, 40};
  const KvLayout l{n * d, n * d, d};
  auto o = decode_attention_ref(q, k, v, l, l, 1, 2, 1, d, d, n, 0, 1.0);
  CHECK(o[0] == Approx(2.5));
  CHECK(o[1] == Approx(25));
  CHECK(o[2] == Approx(2.5));
  o = decode_attention_ref(q, k, v, l, l, 1, 2, 1, d, d, n, 2, 1.0);  // window 2: the last two tokens
  CHECK(o[0] == Approx(3.5));
  CHECK(o[3] == Approx(35));
}

TEST_CASE("SSM references: one Mamba-2 step by hand, conv shift", "[gpu-host]") {
  std::vector<double> state = {1.0, 2.0};  // 1 head x 1 dim x 2 states
  std::vector<double> y;
  const double dt_raw = 0.0, bias = 0.0;  // softplus(0) = ln 2
  mamba2_step_ref(state, {1.0}, {dt_raw}, {bias}, {-1.0}, {0.5, 1.0}, {1.0, 1.0}, {0.0}, {100.0}, 1, 1, 1, 1, 2, y);
  const double dt = std::log(2.0), dA = std::exp(-dt);
  CHECK(state[0] == Approx(1.0 * dA + dt * 0.5));
  CHECK(state[1] == Approx(2.0 * dA + dt * 1.0));
  CHECK(y[0] == Approx((state[0] + state[1]) * 100.0 / (1 + std::exp(-100.0))));
  std::vector<double> cs = {1, 2, 3}, out;
  conv_update_ref(cs, {4}, {0, 0, 0, 1}, {0}, 1, 1, 4, out);
  CHECK(cs == std::vector<double>{2, 3, 4});
  CHECK(out[0] == Approx(4 / (1 + std::exp(-4.0))));
}

TEST_CASE("small-kernel references: norm, rotary, gated activation, top-k by hand", "[gpu-host]") {
  // RMSNorm of (3, 4): rms = sqrt(12.5); with a residual the stored sum is rounded to bf16 first.
  std::vector<double> res = {0.5, 0.0};
  const auto n = rms_norm_ref({2.5, 4}, &res, {1, 0.5}, 1, 2, 0, false);
  CHECK(res == std::vector<double>{3, 4});
  CHECK(n[0] == Approx(3 / std::sqrt(12.5)));
  CHECK(n[1] == Approx(0.5 * 4 / std::sqrt(12.5)));
  CHECK(rms_norm_ref({3, 4}, nullptr, {0, 0}, 1, 2, 0, true)[1] == Approx(4 / std::sqrt(12.5)));  // Gemma: 1 + w
  // NeoX rotary by 90 degrees: (x1, x2) -> (-x2, x1); entries past rotary_dim stay.
  double v[3] = {1, 2, 7};
  const double cs[2] = {0, 1};
  rotary_ref(v, cs, 2);
  CHECK(v[0] == Approx(-2));
  CHECK(v[1] == Approx(1));
  CHECK(v[2] == 7);
  const auto a = act_and_mul_ref({1, 3}, 1, 1, ActRef::silu);
  CHECK(a[0] == Approx(3 / (1 + std::exp(-1.0))));
  CHECK(act_and_mul_ref({0, 5}, 1, 1, ActRef::gelu_tanh)[0] == 0);
  // Not gated, squared ReLU over one row of 2: (-2, 3) -> (0, 9).
  CHECK(act_and_mul_ref({-2, 3}, 1, 2, ActRef::relu2, false) == std::vector<double>{0, 9});
  // Top-2 of (1, 3, 3, 0): the tie at 3 goes to the lower index; equal logits share the weight.
  std::vector<int> ids;
  std::vector<double> w;
  topk_ref({1, 3, 3, 0}, 1, 4, 2, ids, w);
  CHECK(ids == std::vector<int>{1, 2});
  CHECK(w[0] == Approx(0.5));
}

TEST_CASE("validate report: error %, JSON with schema_version, table", "[gpu-host]") {
  ValidateReport r;
  r.model = "llama-3.1-8b";
  r.device.name = "NVIDIA H100 80GB HBM3";
  TimedCheck t;
  t.name = "weights";
  t.bytes = 16000000000;
  t.predicted_s = 5.5e-3;
  t.measured = summarize({5e-3, 5e-3, 5e-3});
  t.peak_bytes_per_s = 3.35e12;
  r.decode.push_back(t);
  r.decode_step = t;
  r.correctness.push_back({"decode GQA", 3e-3, 2e-2});
  CHECK(t.error_pct() == Approx(10.0));
  CHECK(t.achieved_bytes_per_s() == Approx(3.2e12));
  const Json j = to_json(r);
  CHECK(j["schema_version"] == kValidateSchemaVersion);
  CHECK(j["decode"][0]["error_pct"].get<double>() == Approx(10.0));
  CHECK(j["correctness"][0]["pass"] == true);
  const std::string table = render_table(r);
  CHECK(table.find("+10.0%") != std::string::npos);
  CHECK(table.find("3200 GB/s (96%)") != std::string::npos);
  TimedCheck none;
  CHECK(std::isnan(none.error_pct()));
}

TEST_CASE("calibrated preset YAML loads back and carries the measured efficiency", "[gpu-host]") {
  const Gpu base = Registry::load("").resolve_gpu("h100-sxm");  // 3.35e12 B/s, bf16 989.4e12 FLOP/s
  Calibration c;
  c.device.name = "NVIDIA H100 80GB HBM3";
  c.device.driver = "580.159.04";
  c.device.blas = "13.1.0 (/venv/lib/python3.12/site-packages/nvidia/cu13/lib/libcublas.so.13)";
  c.date = "2026-11-23";
  c.decode_fit = {3.5e-6, 3.0e12, 0.999, 0.02};  // for reference only: not what the preset uses
  c.graph_large = {5638914048, 48, 1.891e-3};
  c.graph_tiny = {132096000, 1000, 1.543e-3};
  c.step_bytes_per_s = 3.1e12;
  c.step_kernel_overhead_s = 1.5e-6;
  c.decode_attention_bytes_per_s = 2.85e12;
  c.decode_attention_curve = {{134283264, 2.2e12}, {1073872896, 2.8e12}, {4295491584, 2.9e12}};
  c.ssm_mamba1_bytes_per_s = 2.6e12;
  c.ssm_mamba2_bytes_per_s = 2.5e12;
  c.ssm_update_bytes_per_s = 2.55e12;
  // The four runs behind the means: Mamba-1 (d_state 16) (2.9 + 2.3) / 2 = 2.6, Mamba-2 (128) (2.8 + 2.2) / 2 = 2.5.
  c.ssm_runs = {{16, 32, 2.9e12}, {128, 32, 2.8e12}, {16, 16, 2.3e12}, {128, 16, 2.2e12}};
  c.gemm_flops = 790e12;
  c.prefill_attention_flops = 300e12;
  c.gemv_curve = {{8388608, 1.5e12}};
  c.methods = {"probe: \"quoted\" text"};
  const std::string yaml = render_calibrated_preset(base, c);
  const Gpu g = parse_gpu_yaml(yaml, "calibrated.yaml");
  CHECK(g.id == "h100-sxm-calibrated");
  CHECK(g.efficiency.calibrated);
  // Written with 4 decimals: 3.1e12 / 3.35e12 = 0.92537 -> 0.9254; the graphs' overhead as measured.
  CHECK(yaml.find("  bandwidth_fraction: 0.9254\n") != std::string::npos);
  CHECK(g.efficiency.bandwidth_fraction == Approx(3.1e12 / 3.35e12).epsilon(1e-4));
  CHECK(g.efficiency.kernel_overhead_s == Approx(1.5e-6).epsilon(1e-3));
  // attention_bandwidth_fraction = decode attention bytes/s / datasheet = 2.85e12 / 3.35e12 = 0.85075 -> 0.8507.
  CHECK(yaml.find("  attention_bandwidth_fraction: 0.8507\n") != std::string::npos);
  REQUIRE(g.efficiency.attention_bandwidth_fraction);
  CHECK(*g.efficiency.attention_bandwidth_fraction == Approx(2.85e12 / 3.35e12).epsilon(1e-4));
  // state_bandwidth_fraction = mean SSM update bytes/s / datasheet = 2.55e12 / 3.35e12 = 0.76119 -> 0.7612.
  CHECK(yaml.find("  state_bandwidth_fraction: 0.7612\n") != std::string::npos);
  REQUIRE(g.efficiency.state_bandwidth_fraction);
  CHECK(*g.efficiency.state_bandwidth_fraction == Approx(2.55e12 / 3.35e12).epsilon(1e-4));
  // state_efficiency: each run / 3.35e12, sorted by (bits, d_state): 2.3 -> 0.6866, 2.2 -> 0.6567,
  // 2.9 -> 0.8657, 2.8 -> 0.8358; a Mamba layer takes its own row's figure.
  CHECK(yaml.find("  state_efficiency:  #") != std::string::npos);
  CHECK(yaml.find("    - {d_state: 16, bits: 16, efficiency: 0.6866}\n    - {d_state: 128, bits: 16, efficiency: 0.6567}\n"
                  "    - {d_state: 16, bits: 32, efficiency: 0.8657}\n    - {d_state: 128, bits: 32, efficiency: 0.8358}\n") !=
        std::string::npos);
  CHECK(g.efficiency.state_bandwidth(16, 32) == Approx(2.9e12 / 3.35e12).epsilon(1e-4));
  CHECK(g.efficiency.state_bandwidth(128, 16) == Approx(2.2e12 / 3.35e12).epsilon(1e-4));
  CHECK(yaml.find("    - {d_state: 128, bits: 16, bytes_per_s: 2.2e+12}\n") != std::string::npos);
  // 790e12 / 989.4e12 = 0.7985.
  CHECK(g.efficiency.flops_fraction == Approx(790e12 / 989.4e12).epsilon(1e-3));
  CHECK(g.memory_bytes == base.memory_bytes);
  // The engines' total (cudaMemGetInfo's, 79.19 GiB on an H100) travels with it.
  CHECK(g.cuda_total_bytes == 85029158912);
  // The raw figures behind them are recorded under calibration:, with the cuBLAS they ran on.
  CHECK(yaml.find("calibration:") != std::string::npos);
  CHECK(yaml.find("  cublas: \"13.1.0 (/venv/lib/python3.12/site-packages/nvidia/cu13/lib/libcublas.so.13)\"\n") !=
        std::string::npos);
  CHECK(yaml.find("  graph_gemv_tiny: {kernels: 1000, bytes: 132096000, time_s: 1.5430e-03}\n") != std::string::npos);
  CHECK(yaml.find("  decode_attention_bytes_per_s: 2.85e+12\n") != std::string::npos);
  CHECK(yaml.find("    - [1073872896, 2.8e+12]\n") != std::string::npos);
  CHECK(yaml.find("  ssm_update_bytes_per_s: 2.55e+12\n") != std::string::npos);
  CHECK(yaml.find("  ssm_update_mamba2_bytes_per_s: 2.5e+12\n") != std::string::npos);
}

TEST_CASE("a calibration without attention, SSM, lm_head or expert figures writes none of their fractions", "[gpu-host]") {
  const Gpu base = Registry::load("").resolve_gpu("h100-sxm");
  Calibration c;
  c.step_bytes_per_s = 3.0e12;
  c.step_kernel_overhead_s = 2e-6;
  const std::string yaml = render_calibrated_preset(base, c);
  CHECK(yaml.find("attention_bandwidth_fraction") == std::string::npos);
  CHECK(yaml.find("state_bandwidth_fraction") == std::string::npos);
  CHECK(yaml.find("lm_head_bandwidth_fraction") == std::string::npos);
  CHECK(yaml.find("expert_bandwidth_fraction") == std::string::npos);
  const Gpu g = parse_gpu_yaml(yaml, "calibrated.yaml");
  // The bundled h100-sxm sets each of them (two cards' mean); here all follow the measured
  // bandwidth_fraction instead: 3.0e12 / 3.35e12 = 0.89552 -> 0.8955.
  REQUIRE(base.efficiency.attention_bandwidth_fraction);
  REQUIRE(base.efficiency.expert_bandwidth_fraction);
  CHECK(g.efficiency.attention_bandwidth() == Approx(0.8955));
  CHECK(g.efficiency.state_bandwidth() == Approx(0.8955));
  CHECK(g.efficiency.state_bandwidth(128, 16) == Approx(0.8955));
  CHECK(g.efficiency.lm_head_bandwidth() == Approx(0.8955));
  CHECK(g.efficiency.expert_bandwidth() == Approx(0.8955));
}

TEST_CASE("lm_head bandwidth: weight bytes over time less the kernel overhead, mean of the batches", "[gpu-host]") {
  // Synthetic graphs of the 128,256 x 4096 bf16 lm_head (1,050,673,152 B), one kernel each, with the
  // 1.5 us per-kernel overhead of the GEMV-graph solve:
  // batch 1 streaming at 2.6e12: 1,050,673,152 / 2.6e12 = 404.105 us + 1.5 us = 405.605 us;
  // batch 8 streaming at 2.4e12: 1,050,673,152 / 2.4e12 = 437.780 us + 1.5 us = 439.280 us.
  const int64_t bytes = 128256LL * 4096 * 2;
  const double o = 1.5e-6;
  const GraphTiming b1{bytes, 1, static_cast<double>(bytes) / 2.6e12 + o};
  const GraphTiming b8{bytes, 1, static_cast<double>(bytes) / 2.4e12 + o};
  CHECK(bytes == 1050673152);
  // Each run gives back its rate, and two runs their mean: (2.6e12 + 2.4e12) / 2 = 2.5e12.
  CHECK(bytes_per_s_after_overhead({b1}, o) == Approx(2.6e12));
  CHECK(bytes_per_s_after_overhead({b8}, o) == Approx(2.4e12));
  CHECK(bytes_per_s_after_overhead({b1, b8}, o) == Approx(2.5e12));
  // Without the overhead subtracted, batch 1 would read 1,050,673,152 / 405.605 us = 2.5904e12.
  CHECK(bytes_per_s_after_overhead({b1}, 0) == Approx(2.5904e12).epsilon(1e-4));
  // The overhead counts once per kernel: two kernels over the same time leave 405.605 - 3.0 = 402.605 us,
  // 1,050,673,152 / 402.605 us = 2.6097e12.
  CHECK(bytes_per_s_after_overhead({GraphTiming{bytes, 2, b1.time_s}}, o) == Approx(2.6097e12).epsilon(1e-4));
  // No time left for the bytes, no bytes, or no runs: an error, not a rate.
  CHECK_THROWS_WITH(bytes_per_s_after_overhead({GraphTiming{bytes, 1, 1.0e-6}}, o), Catch::Contains("leaves no time"));
  CHECK_THROWS_AS(bytes_per_s_after_overhead({GraphTiming{bytes, 1, o}}, o), Error);
  CHECK_THROWS_AS(bytes_per_s_after_overhead({GraphTiming{0, 1, b1.time_s}}, o), Error);
  CHECK_THROWS_AS(bytes_per_s_after_overhead({}, o), Error);
}

TEST_CASE("calibrated preset writes lm_head_bandwidth_fraction and its graphs", "[gpu-host]") {
  const Gpu base = Registry::load("").resolve_gpu("h100-sxm");  // 3.35e12 B/s
  Calibration c;
  c.step_bytes_per_s = 3.05e12;
  c.step_kernel_overhead_s = 1.5e-6;
  // The two graphs of the test above: 405.605 us at batch 1, 439.280 us at batch 8; mean 2.5e12 B/s.
  const int64_t bytes = 1050673152;
  c.lm_head_graphs = {{1, GraphTiming{bytes, 1, bytes / 2.6e12 + 1.5e-6}},
                      {8, GraphTiming{bytes, 1, bytes / 2.4e12 + 1.5e-6}}};
  std::vector<GraphTiming> runs;
  for (const auto& [batch, g] : c.lm_head_graphs) runs.push_back(g);
  c.lm_head_bytes_per_s = bytes_per_s_after_overhead(runs, c.step_kernel_overhead_s);
  c.methods.push_back("lm_head_bandwidth_fraction (the decode step's lm_head component): synthetic");
  const std::string yaml = render_calibrated_preset(base, c);
  // 2.5e12 / 3.35e12 = 0.746269 -> 0.7463, written after the other bandwidth fractions.
  CHECK(yaml.find("  lm_head_bandwidth_fraction: 0.7463\n") != std::string::npos);
  CHECK(yaml.find("lm_head_bandwidth_fraction") > yaml.find("  bandwidth_fraction:"));
  const Gpu g = parse_gpu_yaml(yaml, "calibrated.yaml");
  REQUIRE(g.efficiency.lm_head_bandwidth_fraction);
  CHECK(*g.efficiency.lm_head_bandwidth_fraction == Approx(2.5e12 / 3.35e12).epsilon(1e-4));
  // Only the lm_head moves: the others follow bandwidth_fraction 3.05e12 / 3.35e12 = 0.91045 -> 0.9104.
  CHECK(g.efficiency.bandwidth_fraction == Approx(0.9104));
  CHECK(g.efficiency.attention_bandwidth() == Approx(0.9104));
  CHECK(g.efficiency.state_bandwidth() == Approx(0.9104));
  // The raw figures under calibration: 405.605 us = 4.0561e-04 s, 439.280 us = 4.3928e-04 s.
  CHECK(yaml.find("  lm_head_bytes_per_s: 2.5e+12\n") != std::string::npos);
  CHECK(yaml.find("    - {batch: 1, kernels: 1, bytes: 1050673152, time_s: 4.0561e-04}\n") != std::string::npos);
  CHECK(yaml.find("    - {batch: 8, kernels: 1, bytes: 1050673152, time_s: 4.3928e-04}\n") != std::string::npos);
  CHECK(yaml.find("    - \"lm_head_bandwidth_fraction (the decode step's lm_head component): synthetic\"\n") !=
        std::string::npos);
}

TEST_CASE("calibrated preset writes elementwise_bandwidth_fraction and its graphs", "[gpu-host]") {
  const Gpu base = kvplan::test::flat_h100();  // 3.35e12 B/s, no element-wise or expert fraction of its own
  Calibration c;
  c.step_bytes_per_s = 3.05e12;
  c.step_kernel_overhead_s = 4.0e-6;  // each kernel's cost in a graph: what the element-wise graphs subtract
  // Llama-3.1-8B's element-wise bytes at 4096 tokens, 4096 x 5,668,864 = 23,219,666,944 B (prefill_test), in
  // 193 kernels (synthetic timings): one graph at 2.4e12 B/s and one at 2.2e12 B/s after 193 x 4 us.
  const int64_t bytes = 23219666944;
  const GraphTiming fast{bytes, 193, bytes / 2.4e12 + 193 * 4.0e-6}, slow{bytes, 193, bytes / 2.2e12 + 193 * 4.0e-6};
  c.elementwise_graphs = {{"llama-3.1-8b prefill of 4096 tokens", fast}, {"llama-3.1-8b prefill of 16384 tokens", slow}};
  c.elementwise_bytes_per_s = bytes_per_s_after_overhead({fast, slow}, c.step_kernel_overhead_s);
  CHECK(c.elementwise_bytes_per_s == Approx(2.3e12));
  const std::string yaml = render_calibrated_preset(base, c);
  // 2.3e12 / 3.35e12 = 0.686567 -> 0.6866.
  CHECK(yaml.find("  elementwise_bandwidth_fraction: 0.6866\n") != std::string::npos);
  const Gpu g = parse_gpu_yaml(yaml, "calibrated.yaml");
  REQUIRE(g.efficiency.elementwise_bandwidth_fraction);
  CHECK(g.efficiency.elementwise_bandwidth() == Approx(0.6866));
  CHECK(g.efficiency.bandwidth_fraction == Approx(0.9104));  // 3.05e12 / 3.35e12: the weights keep theirs
  CHECK(g.efficiency.kernel_overhead_s == Approx(4.0e-6).epsilon(1e-3));
  // The raw figures: 23,219,666,944 / 2.4e12 + 772 us = 10.4469 ms.
  CHECK(yaml.find("  elementwise_bytes_per_s: 2.3e+12\n") != std::string::npos);
  CHECK(yaml.find("    - {pass: \"llama-3.1-8b prefill of 4096 tokens\", kernels: 193, bytes: 23219666944, time_s: "
                  "1.0447e-02}\n") != std::string::npos);
  c.elementwise_bytes_per_s = 0;
  CHECK(render_calibrated_preset(base, c).find("elementwise_bandwidth_fraction") == std::string::npos);
}

namespace {
// Synthetic, as calibrate solves it: Llama-3.1-8B's 161 decode element-wise kernels at 2.466 us each
// after the fit, at 6.485e12 B/s; its 65 norms alone at batch 1 in 183.4 us with 2,662,400 B:
// (183.4 - 0.4105) / 65 = 2.8152 us a norm. The other kernels' cost is each test's.
Calibration llama_norm_calibration() {
  Calibration c;
  c.step_bytes_per_s = 3.05e12;
  c.step_kernel_overhead_s = 2.5e-6;
  c.decode_elementwise_bytes_per_s = 6.485e12;
  c.norm_kernel_overhead_s = (183.4e-6 - 2662400 / 6.485e12) / 65;
  return c;
}
}  // namespace

TEST_CASE("calibrated preset writes the decode step's norm and other element-wise kernel costs", "[gpu-host]") {
  const Gpu base = kvplan::test::flat_h100();
  // The norms as llama_norm_calibration has them; the other 96 kernels take 161 x 2.466 - 65 x 2.815
  // = 214.0 us, 2.229 us each.
  Calibration c = llama_norm_calibration();
  const double norm = c.norm_kernel_overhead_s;
  c.elementwise_kernel_overhead_s = (161 * 2.466e-6 - 65 * norm) / 96;
  CHECK(norm == Approx(2.8152e-6).epsilon(1e-4));
  CHECK(c.elementwise_kernel_overhead_s == Approx(2.2295e-6).epsilon(1e-4));
  c.decode_norm_graphs = {{"llama-3.1-8b decode step, batch 1", GraphTiming{2662400, 65, 183.4e-6}}};
  const std::string yaml = render_calibrated_preset(base, c);
  const Gpu g = parse_gpu_yaml(yaml, "calibrated.yaml");
  REQUIRE(g.efficiency.norm_kernel_overhead_s);
  CHECK(*g.efficiency.norm_kernel_overhead_s == Approx(2.815e-6).epsilon(1e-3));
  REQUIRE(g.efficiency.elementwise_kernel_overhead_s);
  CHECK(*g.efficiency.elementwise_kernel_overhead_s == Approx(2.230e-6).epsilon(1e-3));
  // The raw graph under calibration.
  CHECK(yaml.find("decode_norm_graphs:") != std::string::npos);
  CHECK(yaml.find("kernels: 65, bytes: 2662400") != std::string::npos);
  // Not measured: no norm figure; every element-wise kernel at elementwise_kernel_overhead_s.
  c.norm_kernel_overhead_s = 0;
  const Gpu without = parse_gpu_yaml(render_calibrated_preset(base, c), "calibrated.yaml");
  CHECK_FALSE(without.efficiency.norm_kernel_overhead_s);
}

TEST_CASE("calibrated preset writes the rotary and MoE routing kernels' cost and attention's cost by launch bytes", "[gpu-host]") {
  const Gpu base = kvplan::test::flat_h100();
  // The norms as llama_norm_calibration has them (2.8152 us); its 32 rotary kernels alone in 93.1 us
  // (663,808 B) at the same rate: (93.1 - 0.1024) / 32 = 2.9062 us a rotary; the other 64 take 161 x
  // 2.466 - 65 x 2.8152 - 32 x 2.9062 = 121.07 us, 1.8917 us each.
  Calibration c = llama_norm_calibration();
  // Llama-3.1-8B's rotary: (32 + 8) x 128 / 2 = 2560 pairs a token; Qwen2.5-0.5B's 24 kernels at
  // 512 pairs in 50.0 us, 100,000 B: (50.0 - 0.0154) / 24 = 2.0827 us.
  c.rotary_kernel_overhead = {{2560, (93.1e-6 - 663808 / 6.485e12) / 32}, {512, (50.0e-6 - 100000 / 6.485e12) / 24}};
  c.elementwise_kernel_overhead_s =
      (161 * 2.466e-6 - 65 * c.norm_kernel_overhead_s - 32 * c.rotary_kernel_overhead[0].seconds) / 64;
  CHECK(c.rotary_kernel_overhead[0].seconds == Approx(2.9062e-6).epsilon(1e-4));
  CHECK(c.rotary_kernel_overhead[1].seconds == Approx(2.0827e-6).epsilon(1e-4));
  CHECK(c.elementwise_kernel_overhead_s == Approx(1.8917e-6).epsilon(1e-3));
  c.decode_rotary_graphs = {{"llama-3.1-8b decode step, batch 1", GraphTiming{663808, 32, 93.1e-6}}};
  // MoE routing: gpt-oss-20b's 72 routing kernels (24 layers x top-k, align, combine) in 240.0 us,
  // 1,000,000 B at the same rate: (240.0 - 0.1542) / 72 = 3.3312 us each, at 32 experts; a
  // 128-expert model's 3.8 us.
  c.moe_routing_kernel_overhead = {{32, (240.0e-6 - 1000000 / 6.485e12) / 72}, {128, 3.8e-6}};
  CHECK(c.moe_routing_kernel_overhead[0].seconds == Approx(3.3312e-6).epsilon(1e-4));
  c.decode_moe_routing_graphs = {{"gpt-oss-20b decode step, batch 8", GraphTiming{1000000, 72, 240.0e-6}}};
  // Attention: per graph (time - KV bytes / rate) / 64 kernels, at KV bytes / 64 a launch. 1K:
  // 134,348,800 B in 242.2 us at 3.05e12 B/s: (242.2 - 44.049) / 64 = 3.0961 us at 2,099,200 B;
  // 4K: 537,001,984 B in 388.5 us: (388.5 - 176.066) / 64 = 3.3193 us at 8,390,656 B.
  c.decode_attention_bytes_per_s = 3.05e12;
  c.attention_kernel_overhead = {{2099200, (242.2e-6 - 134348800 / 3.05e12) / 64},
                                 {8390656, (388.5e-6 - 537001984 / 3.05e12) / 64}};
  CHECK(c.attention_kernel_overhead[0].seconds == Approx(3.0961e-6).epsilon(1e-4));
  CHECK(c.attention_kernel_overhead[1].seconds == Approx(3.3193e-6).epsilon(1e-4));
  const std::string yaml = render_calibrated_preset(base, c);
  const Gpu g = parse_gpu_yaml(yaml, "calibrated.yaml");
  REQUIRE(g.efficiency.rotary_kernel_overhead_s.points.size() == 2);
  CHECK(g.efficiency.rotary_kernel_overhead_s.at(2560) == Approx(2.9062e-6).epsilon(1e-3));
  CHECK(g.efficiency.rotary_kernel_overhead_s.at(512) == Approx(2.0827e-6).epsilon(1e-3));
  REQUIRE(g.efficiency.moe_routing_kernel_overhead_s.points.size() == 2);
  CHECK(g.efficiency.moe_routing_kernel_overhead_s.at(32) == Approx(3.3312e-6).epsilon(1e-3));
  // 64 experts: half way in log2 between 32 and 128.
  CHECK(g.efficiency.moe_routing_kernel_overhead_s.at(64) == Approx((3.3312e-6 + 3.8e-6) / 2).epsilon(1e-3));
  REQUIRE(g.efficiency.attention_kernel_overhead_s.points.size() == 2);
  CHECK(g.efficiency.attention_kernel_overhead_s.at(2099200) == Approx(3.0961e-6).epsilon(1e-3));
  // 4,194,304 B: log2(4,194,304 / 2,099,200) = 0.99859 of log2(8,390,656 / 2,099,200) = 1.99894.
  CHECK(g.efficiency.attention_kernel_overhead_s.at(4194304) ==
        Approx(3.0961e-6 + (3.3193e-6 - 3.0961e-6) * 0.99859 / 1.99894).epsilon(1e-3));
  // The raw figures under calibration.
  CHECK(yaml.find("decode_rotary_graphs:") != std::string::npos);
  CHECK(yaml.find("kernels: 32, bytes: 663808") != std::string::npos);
  CHECK(yaml.find("decode_moe_routing_graphs:") != std::string::npos);
  CHECK(yaml.find("kernels: 72, bytes: 1000000") != std::string::npos);
  CHECK(yaml.find("    - [2099200, 3.096e-06]\n") != std::string::npos);
  // Not measured: neither key.
  c.rotary_kernel_overhead.clear();
  c.moe_routing_kernel_overhead.clear();
  c.attention_kernel_overhead.clear();
  const Gpu without = parse_gpu_yaml(render_calibrated_preset(base, c), "calibrated.yaml");
  CHECK(without.efficiency.rotary_kernel_overhead_s.empty());
  CHECK(without.efficiency.moe_routing_kernel_overhead_s.empty());
  CHECK(without.efficiency.attention_kernel_overhead_s.empty());
}

TEST_CASE("calibrated preset writes expert_bandwidth_fraction and its graphs", "[gpu-host]") {
  const Gpu base = kvplan::test::flat_h100();  // 3.35e12 B/s, no element-wise or expert fraction of its own
  Calibration c;
  c.step_bytes_per_s = 3.05e12;
  c.step_kernel_overhead_s = 2.0e-6;
  // Mixtral's 8 gate_up experts, 8 x 28672 x 4096 x 2 B = 1,879,048,192 B: one graph at 2.8e12 B/s and one
  // at 2.6e12 B/s after its one kernel's 2 us; the mean rate is 2.7e12 B/s.
  const int64_t bytes = 1879048192;
  const GraphTiming fast{bytes, 1, bytes / 2.8e12 + 2.0e-6}, slow{bytes, 1, bytes / 2.6e12 + 2.0e-6};
  c.expert_graphs = {{"gate_up x8 experts, 2 slots each", fast}, {"gate_up x8 experts, 8 slots each", slow}};
  c.expert_bytes_per_s = bytes_per_s_after_overhead({fast, slow}, c.step_kernel_overhead_s);
  CHECK(c.expert_bytes_per_s == Approx(2.7e12));
  const std::string yaml = render_calibrated_preset(base, c);
  // 2.7e12 / 3.35e12 = 0.805970 -> 0.8060.
  CHECK(yaml.find("  expert_bandwidth_fraction: 0.8060\n") != std::string::npos);
  const Gpu g = parse_gpu_yaml(yaml, "calibrated.yaml");
  REQUIRE(g.efficiency.expert_bandwidth_fraction);
  CHECK(g.efficiency.expert_bandwidth() == Approx(0.8060));
  // Only the experts move: the dense weights and the lm_head follow 3.05e12 / 3.35e12 = 0.9104.
  CHECK(g.efficiency.bandwidth_fraction == Approx(0.9104));
  CHECK(g.efficiency.lm_head_bandwidth() == Approx(0.9104));
  // The raw figures under calibration: 1,879,048,192 / 2.8e12 + 2 us = 673.089 us = 6.7309e-04 s.
  CHECK(yaml.find("  expert_bytes_per_s: 2.7e+12\n") != std::string::npos);
  CHECK(yaml.find("    - {op: \"gate_up x8 experts, 2 slots each\", kernels: 1, bytes: 1879048192, time_s: 6.7309e-04}\n") !=
        std::string::npos);
  // Without a measurement the preset has no expert figure: experts stream at bandwidth_fraction.
  c.expert_bytes_per_s = 0;
  CHECK(render_calibrated_preset(base, c).find("expert_bandwidth_fraction") == std::string::npos);
}

TEST_CASE("a measured rate above the datasheet writes no preset", "[gpu-host]") {
  const Gpu base = Registry::load("").resolve_gpu("h100-sxm");
  Calibration c;
  c.step_bytes_per_s = 3.0e12;
  c.decode_attention_bytes_per_s = 3.5e12;  // 3.5e12 / 3.35e12 = 1.045
  CHECK_THROWS_WITH(calibrated_efficiency(base, c),
                    Catch::Contains("attention_bandwidth_fraction would be 1.0448") && Catch::Contains("no preset written"));
  c.decode_attention_bytes_per_s = 0;
  c.ssm_update_bytes_per_s = 4e12;
  CHECK_THROWS_WITH(calibrated_efficiency(base, c), Catch::Contains("state_bandwidth_fraction"));
  c.ssm_update_bytes_per_s = 0;
  c.lm_head_bytes_per_s = 3.4e12;  // 3.4e12 / 3.35e12 = 1.01493
  CHECK_THROWS_WITH(calibrated_efficiency(base, c), Catch::Contains("lm_head_bandwidth_fraction would be 1.0149") &&
                                                        Catch::Contains("no preset written"));
  CHECK_THROWS_WITH(render_calibrated_preset(base, c), Catch::Contains("lm_head_bandwidth_fraction"));
  c.lm_head_bytes_per_s = 2.7e12;  // 0.8060: in range
  CHECK(*calibrated_efficiency(base, c).lm_head_bandwidth_fraction == Approx(2.7e12 / 3.35e12));
}

TEST_CASE("graph streaming solve: overhead from tiny GEMVs, bandwidth from large ones", "[gpu-host]") {
  // Synthetic graphs that follow time = bytes / 3.1e12 + kernels x 1.5 us:
  // large 48 x (14336 x 4096 + 4096 + 14336) x 2 B = 5,638,914,048 B: 1.8190 ms + 72 us = 1.8910 ms;
  // tiny 1000 x (256 x 256 + 256 + 256) x 2 B = 132,096,000 B: 42.6 us + 1.5 ms = 1.5426 ms.
  const double bw = 3.1e12, o = 1.5e-6;
  const GraphTiming large{5638914048, 48, 5638914048 / bw + 48 * o};
  const GraphTiming tiny{132096000, 1000, 132096000 / bw + 1000 * o};
  const StreamingSolve r = solve_graph_streaming(large, tiny, 3.35e12);
  CHECK(r.bytes_per_s == Approx(bw));
  CHECK(r.kernel_overhead_s == Approx(o));
  CHECK(r.tiny_bytes_share == Approx(42.6e-6 / 1.5426e-3).epsilon(1e-3));  // 2.8%: the tiny graph pins the overhead
  // Tiny kernels far from streaming speed (their bytes at 1 TB/s: 132 us + 1.5 ms = 1.632 ms) move the
  // overhead by 0.09 us (to 1.59 us) and the bandwidth by 48 x 0.09 us / 1.82 ms = 0.24% (to 3.107e12).
  const GraphTiming slow_tiny{132096000, 1000, 132096000 / 1e12 + 1000 * o};
  const StreamingSolve s = solve_graph_streaming(large, slow_tiny, 3.35e12);
  CHECK(s.bytes_per_s == Approx(bw).epsilon(0.003));
  CHECK(s.kernel_overhead_s == Approx(1.59e-6).epsilon(0.01));
  // Not physical: fails instead of writing a preset.
  // A large graph faster than the datasheet: 5,638,914,048 B in 1.5 ms + 72 us is 3.59e12 B/s.
  const GraphTiming fast{5638914048, 48, 5638914048 / 3.59e12 + 48 * o};
  CHECK_THROWS_WITH(solve_graph_streaming(fast, tiny, 3.35e12), Catch::Contains("above the datasheet"));
  // A tiny graph faster than its bytes at the large graph's rate: negative overhead.
  const GraphTiming instant{132096000, 1000, 132096000 / 3.2e12};
  CHECK_THROWS_WITH(solve_graph_streaming(large, instant, 3.35e12), Catch::Contains("negative per-kernel overhead"));
  // Both graphs with the same bytes per kernel cannot separate the two terms.
  CHECK_THROWS_AS(solve_graph_streaming(large, large, 3.35e12), Error);
  CHECK_THROWS_AS(solve_graph_streaming(large, GraphTiming{}, 3.35e12), Error);
}

TEST_CASE("kernel gap of whole steps: least squares through the origin", "[gpu-host]") {
  // Two steps whose gap is exactly 4 us per kernel: (1.5 - 1.1) ms / 100 = (2.0 - 1.2) ms / 200 = 4 us.
  std::vector<StepSample> steps{{1.5e-3, 1.1e-3, 100}, {2.0e-3, 1.2e-3, 200}};
  CHECK(fit_kernel_gap(steps) == Approx(4e-6).epsilon(1e-12));
  // A third at 6 us per kernel (0.6 ms over 100): sum k (m - r) / sum k^2 =
  // (100 x 0.4e-3 + 200 x 0.8e-3 + 100 x 0.6e-3) / (100^2 + 200^2 + 100^2) = 0.26 / 60000 = 4.3333 us.
  steps.push_back({1.7e-3, 1.1e-3, 100});
  CHECK(fit_kernel_gap(steps) == Approx(0.26 / 60000).epsilon(1e-12));
  CHECK_THROWS_WITH(fit_kernel_gap({}), Catch::Contains("no step with kernels"));
  // A step faster than its components: -0.1 ms over 100 kernels = -1 us, returned as fitted.
  CHECK(fit_kernel_gap({{1.0e-3, 1.1e-3, 100}}) == Approx(-1e-6).epsilon(1e-12));
}

TEST_CASE("calibrated preset: the GEMV graphs' per-kernel cost, the whole steps' gap, and every step listed",
          "[gpu-host]") {
  const Gpu base = Registry::load("").resolve_gpu("h100-sxm");
  Calibration c;
  c.step_bytes_per_s = 3.0e12;
  c.step_kernel_overhead_s = 2e-6;
  c.step_kernel_gap_fit_s = 1.9e-6;
  c.kernel_gap_s = 1.9e-6;
  c.steps = {{"llama-3.1-8b", 8, 32768, 322, 13.1e-3, 13.0e-3, true},
             {"gemma-2-9b", 8, 8192, 400, 10.0e-3, 10.5e-3, false}};
  const std::string yaml = render_calibrated_preset(base, c);
  const Gpu g = parse_gpu_yaml(yaml, "calibrated.yaml");
  CHECK(g.efficiency.kernel_overhead_s == Approx(2e-6).epsilon(1e-3));
  CHECK(g.efficiency.kernel_gap_s == Approx(1.9e-6).epsilon(1e-3));
  CHECK(yaml.find("  step_kernel_gap_fit_s: 1.900e-06\n") != std::string::npos);
  // error = predicted / measured - 1: 13.0 / 13.1 - 1 = -0.0076; 10.5 / 10.0 - 1 = +0.0500.
  CHECK(yaml.find("    - {model: llama-3.1-8b, batch: 8, context: 32768, kernels: 322, measured_s: 1.3100e-02, "
                  "predicted_s: 1.3000e-02, error: -0.0076, role: fit}\n") != std::string::npos);
  CHECK(yaml.find("error: +0.0500, role: check}") != std::string::npos);
}

TEST_CASE("calibrated preset: the measured GEMM grid is written and loads back as gemm_efficiency", "[gpu-host]") {
  const Gpu base = Registry::load("").resolve_gpu("h100-sxm");  // bf16 989.4e12 FLOP/s
  Calibration c;
  c.step_bytes_per_s = 3.0e12;
  c.step_kernel_overhead_s = 2.0e-6;
  c.kernel_gap_s = 2.0e-6;  // the whole-step gap, not what the grids' graphs subtract
  // 32 GEMMs of 2 x 1024 x 4096 x 4096 = 3.43597e10 FLOPs each, synthetic times at 0.5 and 0.7 of the peak
  // plus 32 x 2 us, the GEMV graphs' per-kernel cost (step_kernel_overhead_s).
  const double f = 32 * 2.0 * 1024 * 4096 * 4096, f4 = 4 * f;
  c.gemm_runs = {{1024, 4096, 4096, 32, f, f / (0.5 * 989.4e12) + 32 * 2.0e-6},
                 {4096, 4096, 4096, 32, f4, f4 / (0.7 * 989.4e12) + 32 * 2.0e-6}};
  const std::string yaml = render_calibrated_preset(base, c);
  CHECK(yaml.find("    - {m: 1024, n: 4096, k: 4096, efficiency: 0.5000}\n") != std::string::npos);
  CHECK(yaml.find("    - {m: 4096, n: 4096, k: 4096, efficiency: 0.7000}\n") != std::string::npos);
  CHECK(yaml.find("    - {m: 1024, n: 4096, k: 4096, kernels: 32, flops: 1.09951e+12, time_s: ") != std::string::npos);
  const Gpu g = parse_gpu_yaml(yaml, "calibrated.yaml");
  // m = 2048 lies halfway between 1024 and 4096 in log2: (0.5 + 0.7) / 2 = 0.6; n and k clamp.
  CHECK(g.efficiency.gemm(2048, 4096, 4096) == Approx(0.6));
  CHECK(g.efficiency.gemm(512, 8192, 1024) == Approx(0.5));
  // A point past the peak is a wrong measurement: no preset.
  c.gemm_runs[1].time_s = f4 / (1.2 * 989.4e12) + 32 * 2.0e-6;
  CHECK_THROWS_WITH(render_calibrated_preset(base, c),
                    Catch::Contains("gemm_efficiency at m 4096 n 4096 k 4096 would be 1.2000") &&
                        Catch::Contains("no preset written"));
}

TEST_CASE("calibrated preset: prefill attention by length from its graphs, less the per-kernel cost", "[gpu-host]") {
  const Gpu base = Registry::load("").resolve_gpu("h100-sxm");  // bf16 989.4e12 FLOP/s
  Calibration c;
  c.step_bytes_per_s = 3.0e12;
  c.step_kernel_overhead_s = 2.0e-6;
  c.kernel_gap_s = 2.0e-6;  // the whole-step gap, not what the grids' graphs subtract
  // 32 launches of Llama-3.1-8B's attention at 1024 tokens: 32 x 4 x 32 heads x 128 x 1024 x 1025 / 2 =
  // 2.75146e11 FLOPs, synthetic time at 0.25 of the peak plus 32 x 2 us (the GEMV graphs' per-kernel
  // cost); at 16384 tokens 7.0373e13 at 0.6.
  const double f1k = 32 * 4.0 * 32 * 128 * 1024.0 * 1025 / 2, f16k = 32 * 4.0 * 32 * 128 * 16384.0 * 16385 / 2;
  CHECK(f1k == Approx(2.75146e11).epsilon(1e-5));
  c.attention_runs = {{1024, 128, 32, f1k, f1k / (0.25 * 989.4e12) + 32 * 2.0e-6},
                      {16384, 128, 32, f16k, f16k / (0.6 * 989.4e12) + 32 * 2.0e-6}};
  const std::string yaml = render_calibrated_preset(base, c);
  CHECK(yaml.find("    - {tokens: 1024, head_dim: 128, efficiency: 0.2500}\n") != std::string::npos);
  CHECK(yaml.find("    - {tokens: 16384, head_dim: 128, efficiency: 0.6000}\n") != std::string::npos);
  CHECK(yaml.find("  attention_flops_fraction: 0.6000\n") != std::string::npos);  // the 16K point
  const Gpu g = parse_gpu_yaml(yaml, "calibrated.yaml");
  // 4096 tokens: halfway in log2 from 2^10 to 2^14, (0.25 + 0.6) / 2 = 0.425; head_dim 64 clamps to 128's row.
  CHECK(g.efficiency.attention(4096, 64) == Approx(0.425));
  CHECK(yaml.find("    - {tokens: 1024, head_dim: 128, kernels: 32, flops: 2.75146e+11, time_s: ") != std::string::npos);
  // A point past the peak is a wrong measurement: no preset.
  c.attention_runs[0].time_s = f1k / (1.5 * 989.4e12) + 32 * 2.0e-6;
  CHECK_THROWS_WITH(render_calibrated_preset(base, c),
                    Catch::Contains("attention_efficiency at 1024 tokens, head_dim 128 would be 1.5000") &&
                        Catch::Contains("no preset written"));
}

TEST_CASE("no device: exit status 3 with a reason", "[gpu-host]") {
  try {
    fail_no_device("calibrate", "cudaGetDeviceCount: cudaErrorNoDevice");
    FAIL("no throw");
  } catch (const Error& e) {
    CHECK(e.exit_status() == 3);
    CHECK(std::string(e.what()).find("cudaErrorNoDevice") != std::string::npos);
  }
}
