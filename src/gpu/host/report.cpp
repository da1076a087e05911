#include "gpu/host/report.h"

#include <cmath>

#include <fmt/format.h>

#include "core/dtype.h"
#include "core/error.h"

namespace kvplan::gpu {

double TimedCheck::error_pct() const {
  if (predicted_s < 0 || measured.median_s <= 0) return NAN;
  return (predicted_s - measured.median_s) / measured.median_s * 100.0;
}

Json to_json(const SampleStats& s) {
  Json j;
  j["samples"] = s.n;
  j["median_s"] = s.median_s;
  j["min_s"] = s.min_s;
  j["p10_s"] = s.p10_s;
  j["p90_s"] = s.p90_s;
  j["max_s"] = s.max_s;
  j["mean_s"] = s.mean_s;
  j["stddev_s"] = s.stddev_s;
  j["rel_spread"] = s.rel_spread();
  return j;
}

namespace {
Json number_or_null(double x) { return std::isfinite(x) ? Json(x) : Json(nullptr); }
}  // namespace

Json to_json(const TimedCheck& t) {
  Json j;
  j["name"] = t.name;
  j["bytes"] = t.bytes;
  j["flops"] = t.flops;
  j["kernels"] = t.kernels;
  j["predicted_s"] = t.predicted_s >= 0 ? Json(t.predicted_s) : Json(nullptr);
  j["measured"] = to_json(t.measured);
  j["error_pct"] = number_or_null(t.error_pct());
  j["achieved_bytes_per_s"] = t.achieved_bytes_per_s();
  j["achieved_flops_per_s"] = t.achieved_flops();
  j["pct_of_peak_bandwidth"] = t.peak_bytes_per_s > 0 ? Json(100.0 * t.achieved_bytes_per_s() / t.peak_bytes_per_s) : Json(nullptr);
  j["pct_of_peak_flops"] = t.peak_flops > 0 && t.flops > 0 ? Json(100.0 * t.achieved_flops() / t.peak_flops) : Json(nullptr);
  if (!t.note.empty()) j["note"] = t.note;
  return j;
}

Json to_json(const ValidateReport& r) {
  Json j;
  j["schema_version"] = kValidateSchemaVersion;
  j["device"] = {{"name", r.device.name},
                 {"sm_count", r.device.sm_count},
                 {"compute_capability", fmt::format("{}.{}", r.device.cc_major, r.device.cc_minor)},
                 {"memory_bytes", r.device.memory_bytes},
                 {"l2_bytes", r.device.l2_bytes},
                 {"driver", r.device.driver},
                 {"cuda_runtime", r.device.cuda_runtime},
                 {"cublas", r.device.blas}};
  j["model"] = r.model;
  j["gpu_preset"] = r.gpu_preset;
  j["kv_dtype"] = r.kv_dtype;
  j["batch"] = r.batch;
  j["context"] = r.context;
  j["prompt"] = r.prompt;
  j["clocks"] = {{"before_mhz", r.clocks.before_mhz},
                 {"after_mhz", r.clocks.after_mhz},
                 {"max_mhz", r.clocks.max_mhz},
                 {"throttled", r.clocks.throttled}};
  Json c = Json::array();
  for (const auto& x : r.correctness)
    c.push_back({{"kernel", x.kernel}, {"rel_error", x.rel_error}, {"tolerance", x.tolerance}, {"pass", x.pass()}});
  j["correctness"] = c;
  Json d = Json::array();
  for (const auto& x : r.decode) d.push_back(to_json(x));
  j["decode"] = d;
  j["decode_step"] = to_json(r.decode_step);
  Json p = Json::array();
  for (const auto& x : r.prefill) p.push_back(to_json(x));
  j["prefill"] = p;
  Json off = Json::array();
  for (const auto& x : r.offload) off.push_back(to_json(x));
  j["offload"] = off;
  if (r.schedule.requests > 0) {
    Json grids = Json::array();
    for (const StepGrid& g : r.grids)
      grids.push_back({{"what", g.what}, {"rows", g.rows}, {"cols", g.cols}, {"measured_s", g.measured_s},
                       {"predicted_s", g.predicted_s}});
    j["step_grids"] = grids;
    const ScheduleCheck& sc = r.schedule;
    Json runs = Json::array();
    for (const ScheduleRun& x : sc.runs)
      runs.push_back({{"steps", x.steps},
                      {"ttft_s", {{"p50", x.ttft_p50_s}, {"p90", x.ttft_p90_s}, {"p99", x.ttft_p99_s}}},
                      {"tpot_s", {{"p50", x.tpot_p50_s}, {"p90", x.tpot_p90_s}, {"p99", x.tpot_p99_s}}},
                      {"output_tokens_per_s", x.output_tokens_per_s},
                      {"span_s", x.span_s},
                      {"steps_run", x.steps_run}});
    j["schedule"] = {{"requests", sc.requests},       {"rate_rps", sc.rate_rps}, {"prompt", sc.prompt},
                     {"output", sc.output},           {"seed", sc.seed},         {"max_num_seqs", sc.max_num_seqs},
                     {"max_num_batched_tokens", sc.max_num_batched_tokens},     {"runs", runs}};
  }
  j["notes"] = r.notes;
  return j;
}

namespace {
std::string us(double s) { return s >= 0 ? fmt::format("{:.1f}", s * 1e6) : "-"; }
std::string pct(double x) { return std::isfinite(x) ? fmt::format("{:+.1f}%", x) : "-"; }

std::string row(const TimedCheck& t) {
  std::string rate;
  if (t.bytes > 0 && (t.flops <= 0 || t.achieved_bytes_per_s() / t.peak_bytes_per_s > t.achieved_flops() / t.peak_flops))
    rate = fmt::format("{:.0f} GB/s ({:.0f}%)", t.achieved_bytes_per_s() / 1e9,
                       t.peak_bytes_per_s > 0 ? 100 * t.achieved_bytes_per_s() / t.peak_bytes_per_s : 0.0);
  else if (t.flops > 0)
    rate = fmt::format("{:.0f} TFLOP/s ({:.0f}%)", t.achieved_flops() / 1e12,
                       t.peak_flops > 0 ? 100 * t.achieved_flops() / t.peak_flops : 0.0);
  return fmt::format("  {:<22} {:>12} {:>12} {:>8} {:>8} {:>22} {}\n", t.name, us(t.predicted_s), us(t.measured.median_s),
                     pct(t.error_pct()), fmt::format("{:.1f}%", 100 * t.measured.rel_spread()), rate, t.note);
}

std::string header(const char* title) {
  return fmt::format("{}\n  {:<22} {:>12} {:>12} {:>8} {:>8} {:>22}\n", title, "component", "predicted us",
                     "measured us", "error", "spread", "achieved (% of peak)");
}
}  // namespace

std::string render_table(const ValidateReport& r) {
  std::string out = fmt::format("kvplan validate: {} on {} (preset {}), batch {}, context {}, kv {}\n", r.model,
                                r.device.name, r.gpu_preset, r.batch, r.context, r.kv_dtype);
  out += fmt::format("device: {} SMs, sm_{}{}, driver {}, CUDA runtime {}, cuBLAS {}; SM clock {:.0f} -> {:.0f} MHz (max {:.0f}){}\n\n",
                     r.device.sm_count, r.device.cc_major, r.device.cc_minor, r.device.driver, r.device.cuda_runtime,
                     r.device.blas.empty() ? "?" : r.device.blas,
                     r.clocks.before_mhz, r.clocks.after_mhz, r.clocks.max_mhz,
                     r.clocks.throttled ? "  THROTTLED: " + r.clocks.note : "");
  out += "correctness (relative norm error vs float64 CPU reference, random inputs)\n";
  for (const auto& c : r.correctness)
    out += fmt::format("  {:<40} {:>10.2e}  (tol {:.0e})  {}\n", c.kernel, c.rel_error, c.tolerance, c.pass() ? "ok" : "FAIL");
  out += "\n" + header("decode step, per component (median of samples; spread = (p90-p10)/median)");
  for (const auto& t : r.decode) out += row(t);
  out += row(r.decode_step);
  if (!r.prefill.empty()) {
    out += "\n" + header("prefill");
    for (const auto& t : r.prefill) out += row(t);
  }
  if (!r.offload.empty()) {
    out += "\n" + header("KV offload (stream from pinned host memory; one CUDA graph)");
    for (const auto& t : r.offload) out += row(t);
  }
  for (const StepGrid& g : r.grids) {
    // Mean |error| of kvplan's step times over the grid, and the worst point.
    double sum = 0, worst = 0;
    int n = 0;
    for (size_t i = 0; i < g.rows.size(); ++i)
      for (size_t k = 0; k < g.cols.size(); ++k) {
        const double e = (g.predicted_s[i][k] - g.measured_s[i][k]) / g.measured_s[i][k] * 100;
        sum += std::fabs(e);
        if (std::fabs(e) > std::fabs(worst)) worst = e;
        ++n;
      }
    out += fmt::format("\n{} steps measured on a {} x {} grid ({} {}..{}, {} {}..{}): kvplan's mean |error| {:.1f}%, worst "
                       "{:+.1f}%\n",
                       g.what, g.rows.size(), g.cols.size(), g.what == "decode" ? "sequences" : "prompts", g.rows.front(),
                       g.rows.back(), g.what == "decode" ? "context" : "tokens", g.cols.front(), g.cols.back(),
                       n > 0 ? sum / n : 0.0, worst);
  }
  if (r.schedule.requests > 0) {
    const ScheduleCheck& sc = r.schedule;
    out += fmt::format("\nschedule: {} requests at {:.3g}/s (Poisson, seed {}), {} + {} tokens, max_num_seqs {}, token "
                       "budget {}; the same scheduler with kvplan's step times and with the measured ones\n",
                       sc.requests, sc.rate_rps, sc.seed, sc.prompt, sc.output, sc.max_num_seqs, sc.max_num_batched_tokens);
    out += fmt::format("  {:<10} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>12} {:>7}\n", "steps", "TTFT p50", "p90", "p99",
                       "TPOT p50", "p90", "p99", "output tok/s", "steps");
    auto ms = [](double s) { return fmt::format("{:.1f}ms", s * 1e3); };
    for (const ScheduleRun& x : sc.runs)
      out += fmt::format("  {:<10} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>12.0f} {:>7}\n", x.steps, ms(x.ttft_p50_s),
                         ms(x.ttft_p90_s), ms(x.ttft_p99_s), ms(x.tpot_p50_s), ms(x.tpot_p90_s), ms(x.tpot_p99_s),
                         x.output_tokens_per_s, x.steps_run);
  }
  if (!r.notes.empty()) {
    out += "\nnotes:\n";
    for (const auto& n : r.notes) out += "  - " + n + "\n";
  }
  return out;
}

Efficiency calibrated_efficiency(const Gpu& base, const Calibration& c) {
  Efficiency e = base.efficiency;
  const double bw = base.memory_bandwidth_bytes_per_s, bf16_peak = base.peak_flops_for(DType::bf16);
  // Measured / datasheet; a measurement past the datasheet is a wrong measurement, not a faster GPU.
  auto fraction = [&](double measured, double datasheet, const char* key) {
    const double f = measured / datasheet;
    if (!(f > 0 && f <= 1))
      throw Error(fmt::format("calibrate: {} would be {:.4f} ({:.4g} measured / {:.4g} datasheet), outside (0, 1]; "
                              "no preset written",
                              key, f, measured, datasheet));
    return f;
  };
  if (c.step_bytes_per_s > 0) {
    e.bandwidth_fraction = fraction(c.step_bytes_per_s, bw, "bandwidth_fraction");
    e.kernel_overhead_s = c.step_kernel_overhead_s;
    e.kernel_gap_s = c.kernel_gap_s;
    // The base's other weight and cache streams are other cards' figures: on this card each one the
    // calibration does not measure follows its measured bandwidth.
    e.attention_bandwidth_fraction.reset();
    e.state_bandwidth_fraction.reset();
    e.state_efficiency = {};
    e.lm_head_bandwidth_fraction.reset();
    e.expert_bandwidth_fraction.reset();
  }
  if (c.decode_attention_bytes_per_s > 0)
    e.attention_bandwidth_fraction = fraction(c.decode_attention_bytes_per_s, bw, "attention_bandwidth_fraction");
  if (!c.attention_kernel_overhead.empty())
    e.attention_kernel_overhead_s = kvplan::kernel_cost_curve(c.attention_kernel_overhead, "attention_kernel_overhead_s");
  if (!c.moe_routing_kernel_overhead.empty() && c.decode_elementwise_bytes_per_s > 0)
    e.moe_routing_kernel_overhead_s =
        kvplan::kernel_cost_curve(c.moe_routing_kernel_overhead, "moe_routing_kernel_overhead_s", "experts");
  if (c.ssm_update_bytes_per_s > 0)
    e.state_bandwidth_fraction = fraction(c.ssm_update_bytes_per_s, bw, "state_bandwidth_fraction");
  if (!c.ssm_runs.empty()) {
    std::vector<StatePoint> points;
    for (const Calibration::SsmRun& r : c.ssm_runs)
      points.push_back({r.d_state, r.bits, fraction(r.bytes_per_s, bw, "state_efficiency")});
    e.state_efficiency = kvplan::state_table(points);
  }
  if (c.lm_head_bytes_per_s > 0)
    e.lm_head_bandwidth_fraction = fraction(c.lm_head_bytes_per_s, bw, "lm_head_bandwidth_fraction");
  if (c.expert_bytes_per_s > 0)
    e.expert_bandwidth_fraction = fraction(c.expert_bytes_per_s, bw, "expert_bandwidth_fraction");
  if (c.elementwise_bytes_per_s > 0)
    e.elementwise_bandwidth_fraction = fraction(c.elementwise_bytes_per_s, bw, "elementwise_bandwidth_fraction");
  if (c.gemm_flops > 0 && bf16_peak > 0) e.flops_fraction = fraction(c.gemm_flops, bf16_peak, "flops_fraction");
  // The grids' graphs run back-to-back kernels of one kind: each pays the launch gap of a kernel in
  // a graph, the GEMV graphs' per-kernel cost (step_kernel_overhead_s = kernel_overhead_s).
  const double graph_gap_s = c.step_kernel_overhead_s;
  if (!c.gemm_runs.empty() && bf16_peak > 0) {
    const std::vector<GemmPoint> points = gemm_points(c, graph_gap_s, bf16_peak);
    for (const GemmPoint& p : points)
      if (!(p.efficiency > 0 && p.efficiency <= 1))
        throw Error(fmt::format("calibrate: gemm_efficiency at m {} n {} k {} would be {:.4f}, outside (0, 1]; no preset "
                                "written",
                                p.m, p.n, p.k, p.efficiency));
    e.gemm_efficiency = kvplan::gemm_grid(points);
  }
  // A narrow shape's few microseconds can fall within its launches' per-kernel cost plus the
  // datasheet's bytes time: up to twice the datasheet it is written as 1 (the prediction is then
  // that cost plus the bytes at the datasheet rate, about what was measured); beyond, an error.
  const auto stream_fractions = [&](const std::vector<Calibration::StreamRun>& runs, const char* name) {
    std::vector<GemmPoint> points;
    for (const GemmPoint& p : weight_stream_points(runs, graph_gap_s, bw)) {
      const std::string key = fmt::format("{} at m {} n {} k {}", name, p.m, p.n, p.k);
      const double f = p.efficiency > 1 && p.efficiency <= 2 ? 1.0 : fraction(p.efficiency * bw, bw, key.c_str());
      points.push_back({p.m, p.n, p.k, f});
    }
    return points;
  };
  if (!c.stream_runs.empty()) {
    e.weight_stream_efficiency =
        kvplan::gemm_grid(stream_fractions(c.stream_runs, "weight_stream_efficiency"), "weight_stream_efficiency");
    if (!c.shape_runs.empty()) {
      // A shape whose graph took no longer than its launches' per-kernel cost has no measurable
      // rate of its own: it is left to the grid.
      const std::vector<GemmPoint> points = weight_stream_points(c.shape_runs, graph_gap_s, bw);  // runs' order
      std::vector<Calibration::StreamRun> measurable;
      for (size_t i = 0; i < points.size(); ++i)
        if (points[i].efficiency > 0) measurable.push_back(c.shape_runs[i]);
      e.weight_stream_shapes =
          kvplan::shape_table(stream_fractions(measurable, "weight_stream_shapes"), "weight_stream_shapes");
    }
  }
  if (c.decode_elementwise_bytes_per_s > 0) {
    e.decode_elementwise_bytes_per_s = c.decode_elementwise_bytes_per_s;
    e.elementwise_kernel_overhead_s = c.elementwise_kernel_overhead_s;
    if (c.norm_kernel_overhead_s > 0) e.norm_kernel_overhead_s = c.norm_kernel_overhead_s;
    if (!c.rotary_kernel_overhead.empty())
      e.rotary_kernel_overhead_s = kvplan::kernel_cost_curve(c.rotary_kernel_overhead, "rotary_kernel_overhead_s", "pairs");
  }
  if (c.prefill_attention_flops > 0 && bf16_peak > 0)
    e.attention_flops_fraction = fraction(c.prefill_attention_flops, bf16_peak, "attention_flops_fraction");
  if (!c.attention_runs.empty() && bf16_peak > 0) {
    std::vector<AttentionPoint> points;
    for (const AttentionPoint& p : attention_points(c, graph_gap_s, bf16_peak)) {
      const std::string key = fmt::format("attention_efficiency at {} tokens, head_dim {}", p.tokens, p.head_dim);
      points.push_back({p.tokens, p.head_dim, fraction(p.efficiency * bf16_peak, bf16_peak, key.c_str())});
      const AttentionPoint& ref = Calibration::kAttentionReference;
      if (p.tokens == ref.tokens && p.head_dim == ref.head_dim) e.attention_flops_fraction = points.back().efficiency;
    }
    e.attention_efficiency = kvplan::attention_grid(points);
  }
  e.calibrated = true;
  return e;
}

namespace {
// FLOPs over the graph's time less its kernels' fixed cost, as a fraction of the peak.
double efficiency_after_overhead(double flops, double time_s, int64_t kernels, double kernel_overhead_s, double peak) {
  const double compute_s = time_s - static_cast<double>(kernels) * kernel_overhead_s;
  return compute_s > 0 ? flops / compute_s / peak : 0.0;
}
}  // namespace

std::vector<GemmPoint> gemm_points(const Calibration& c, double kernel_overhead_s, double bf16_peak) {
  std::vector<GemmPoint> points;
  for (const Calibration::GemmRun& r : c.gemm_runs)
    points.push_back({r.m, r.n, r.k, efficiency_after_overhead(r.flops, r.time_s, r.kernels, kernel_overhead_s, bf16_peak)});
  return points;
}

std::vector<GemmPoint> weight_stream_points(const std::vector<Calibration::StreamRun>& runs, double kernel_overhead_s,
                                            double bandwidth) {
  std::vector<GemmPoint> points;
  for (const Calibration::StreamRun& r : runs)
    points.push_back({r.m, r.n, r.k,
                      efficiency_after_overhead(static_cast<double>(r.bytes), r.time_s, r.kernels, kernel_overhead_s,
                                                bandwidth)});
  return points;
}

std::vector<AttentionPoint> attention_points(const Calibration& c, double kernel_overhead_s, double bf16_peak) {
  std::vector<AttentionPoint> points;
  for (const Calibration::AttentionRun& a : c.attention_runs)
    points.push_back(
        {a.tokens, a.head_dim, efficiency_after_overhead(a.flops, a.time_s, a.kernels, kernel_overhead_s, bf16_peak)});
  return points;
}

namespace {
std::string yaml_quote(const std::string& s) {
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\') out += '\\';
    out += ch;
  }
  return out + "\"";
}
}  // namespace

std::string render_calibrated_preset(const Gpu& base, const Calibration& c) {
  const Efficiency e = calibrated_efficiency(base, c);
  std::string y;
  y += fmt::format("# {} as measured by `kvplan calibrate` on {} ({}), {}.\n", base.name, c.device.name, c.date,
                   "datasheet fields copied from the bundled preset " + base.id);
  y += "schema_version: 2\n";
  y += fmt::format("id: {}-calibrated\n", base.id);
  y += fmt::format("name: {}\n", yaml_quote(base.name + " (calibrated)"));
  y += "aliases: []\n";
  y += fmt::format("memory_bytes: {}\n", base.memory_bytes);
  if (base.cuda_total_bytes > 0) y += fmt::format("cuda_total_bytes: {}\n", base.cuda_total_bytes);
  y += fmt::format("memory_bandwidth_bytes_per_s: {:.6g}\n", base.memory_bandwidth_bytes_per_s);
  y += "peak_flops:\n";
  for (const auto& [d, f] : base.peak_flops) y += fmt::format("  {}: {:.6g}\n", name(d), f);
  y += fmt::format("interconnect_bytes_per_s: {:.6g}\n", base.interconnect_bytes_per_s);
  const HostLink& l = base.host_link;
  switch (l.kind) {
    case HostLinkKind::none: break;
    case HostLinkKind::pcie:
      y += fmt::format("host_link:\n  kind: pcie\n  generation: {}\n  lanes: {}\n", l.pcie_generation, l.pcie_lanes);
      break;
    case HostLinkKind::nvlink_c2c:
      y += fmt::format("host_link:\n  kind: nvlink-c2c\n  nominal_bytes_per_s: {:.6g}\n", l.nominal_bytes_per_s);
      break;
  }
  if (l.kind != HostLinkKind::none && l.bytes_per_s > 0) y += fmt::format("  bytes_per_s: {:.6g}\n", l.bytes_per_s);
  if (base.host_memory_bytes > 0) y += fmt::format("host_memory_bytes: {}\n", base.host_memory_bytes);
  if (base.price.usd_per_gpu_hour > 0) {
    y += "price:\n";
    y += fmt::format("  usd_per_gpu_hour: {}\n", base.price.usd_per_gpu_hour);
    y += fmt::format("  date: {}\n", yaml_quote(base.price.date));
    y += fmt::format("  source: {}\n", yaml_quote(base.price.source));
  }
  y += "efficiency:\n";
  y += fmt::format("  bandwidth_fraction: {:.4f}\n", e.bandwidth_fraction);
  if (e.attention_bandwidth_fraction)
    y += fmt::format("  attention_bandwidth_fraction: {:.4f}\n", *e.attention_bandwidth_fraction);
  if (e.state_bandwidth_fraction) y += fmt::format("  state_bandwidth_fraction: {:.4f}\n", *e.state_bandwidth_fraction);
  if (!e.state_efficiency.empty()) {
    y += "  state_efficiency:  # a Mamba layer's state update by d_state and the state's bits (calibration.method)\n";
    for (const StatePoint& p : e.state_efficiency.points)
      y += fmt::format("    - {{d_state: {}, bits: {}, efficiency: {:.4f}}}\n", p.d_state, p.bits, p.efficiency);
  }
  if (e.lm_head_bandwidth_fraction)
    y += fmt::format("  lm_head_bandwidth_fraction: {:.4f}\n", *e.lm_head_bandwidth_fraction);
  if (e.expert_bandwidth_fraction)
    y += fmt::format("  expert_bandwidth_fraction: {:.4f}\n", *e.expert_bandwidth_fraction);
  if (e.elementwise_bandwidth_fraction)
    y += fmt::format("  elementwise_bandwidth_fraction: {:.4f}\n", *e.elementwise_bandwidth_fraction);
  y += fmt::format("  flops_fraction: {:.4f}\n", e.flops_fraction);
  // A GEMM-shaped grid under its key, points m-major.
  auto grid_points = [&y](const char* header, const GemmGrid& grid) {
    if (grid.empty()) return;
    y += header;
    for (size_t i = 0; i < grid.m.size(); ++i)
      for (size_t j = 0; j < grid.n.size(); ++j)
        for (size_t l = 0; l < grid.k.size(); ++l)
          y += fmt::format("    - {{m: {}, n: {}, k: {}, efficiency: {:.4f}}}\n", grid.m[i], grid.n[j], grid.k[l],
                           grid.at(i, j, l));
  };
  grid_points("  gemm_efficiency:  # bf16 GEMM [m, k] x [k, n] achieved / datasheet peak (calibration.method)\n",
              e.gemm_efficiency);
  grid_points("  weight_stream_efficiency:  # decode weight GEMM [m, k] x [k, n]: weight bytes / time / datasheet "
              "bandwidth (calibration.method)\n",
              e.weight_stream_efficiency);
  if (!e.weight_stream_shapes.empty()) {
    y += "  weight_stream_shapes:  # whole matrices measured apart, as the grid (calibration.method)\n";
    // Four significant digits: a narrow matrix's few bytes stream at a small fraction (0.0003).
    for (const GemmPoint& p : e.weight_stream_shapes.points)
      y += fmt::format("    - {{m: {}, n: {}, k: {}, efficiency: {:.4g}}}\n", p.m, p.n, p.k, p.efficiency);
  }
  if (e.decode_elementwise_bytes_per_s)
    y += fmt::format("  decode_elementwise_bytes_per_s: {:.4g}\n", *e.decode_elementwise_bytes_per_s);
  if (e.elementwise_kernel_overhead_s)
    y += fmt::format("  elementwise_kernel_overhead_s: {:.3e}\n", *e.elementwise_kernel_overhead_s);
  if (e.norm_kernel_overhead_s) y += fmt::format("  norm_kernel_overhead_s: {:.3e}\n", *e.norm_kernel_overhead_s);
  auto curve = [&](const KernelCostCurve& c, const char* key, const char* unit, const char* by) {
    if (c.points.size() == 1) y += fmt::format("  {}: {:.3e}\n", key, c.points[0].seconds);
    if (c.points.size() <= 1) return;
    y += fmt::format("  {}:  # per kernel, by {} (calibration.method)\n", key, by);
    for (const KernelCostPoint& p : c.points) y += fmt::format("    - {{{}: {}, seconds: {:.3e}}}\n", unit, p.size, p.seconds);
  };
  curve(e.rotary_kernel_overhead_s, "rotary_kernel_overhead_s", "pairs", "the kernel's (cos, sin) pairs a token");
  curve(e.moe_routing_kernel_overhead_s, "moe_routing_kernel_overhead_s", "experts", "the MoE layer's experts");
  curve(e.attention_kernel_overhead_s, "attention_kernel_overhead_s", "bytes", "the bytes one launch moves");
  if (!e.attention_efficiency.empty()) {
    y += "  attention_efficiency:  # prefill attention by keys attended and head_dim, achieved / bf16 peak (calibration.method)\n";
    const AttentionGrid& grid = e.attention_efficiency;
    for (size_t i = 0; i < grid.head_dim.size(); ++i)
      for (size_t j = 0; j < grid.tokens.size(); ++j)
        y += fmt::format("    - {{tokens: {}, head_dim: {}, efficiency: {:.4f}}}\n", grid.tokens[j], grid.head_dim[i],
                         grid.at(i, j));
  }
  y += fmt::format("  attention_flops_fraction: {:.4f}\n", e.attention_flops_fraction);
  y += fmt::format("  kernel_overhead_s: {:.3e}\n", e.kernel_overhead_s);
  y += fmt::format("  kernel_gap_s: {:.3e}\n", e.kernel_gap_s);
  y += fmt::format("  allreduce_latency_s: {:.3e}\n", e.allreduce_latency_s);
  y += "  calibrated: true\n";
  y += fmt::format("source: {}\n", yaml_quote("kvplan calibrate on " + c.device.name + ", " + c.date + "; datasheet: " + base.source));
  y += "calibration:\n";
  y += fmt::format("  device: {}\n", yaml_quote(c.device.name));
  y += fmt::format("  driver: {}\n", yaml_quote(c.device.driver));
  y += fmt::format("  cuda_runtime: {}\n", yaml_quote(c.device.cuda_runtime));
  y += fmt::format("  cublas: {}\n", yaml_quote(c.device.blas));
  y += fmt::format("  date: {}\n", yaml_quote(c.date));
  y += fmt::format("  sm_count: {}\n", c.device.sm_count);
  y += fmt::format("  probe_read_bytes_per_s: {:.4g}\n", c.read_bytes_per_s);
  y += fmt::format("  probe_copy_bytes_per_s: {:.4g}\n", c.copy_bytes_per_s);
  y += fmt::format("  probe_fit: {{t0_s: {:.3e}, bytes_per_s: {:.4g}, r2: {:.5f}}}\n", c.read_fit.t0_s, c.read_fit.bytes_per_s, c.read_fit.r2);
  y += fmt::format("  decode_kernel_fit: {{t0_s: {:.3e}, bytes_per_s: {:.4g}, r2: {:.5f}}}\n", c.decode_fit.t0_s,
                   c.decode_fit.bytes_per_s, c.decode_fit.r2);
  auto graph = [](const GraphTiming& g) {
    return fmt::format("{{kernels: {}, bytes: {}, time_s: {:.4e}}}", g.kernels, g.bytes, g.time_s);
  };
  y += fmt::format("  graph_gemv_large: {}\n", graph(c.graph_large));
  y += fmt::format("  graph_gemv_tiny: {}\n", graph(c.graph_tiny));
  y += fmt::format("  graph_gemv_bytes_per_s: {:.4g}\n", c.step_bytes_per_s);
  y += fmt::format("  graph_gemv_kernel_overhead_s: {:.3e}\n", c.step_kernel_overhead_s);
  y += fmt::format("  decode_attention_bytes_per_s: {:.4g}\n", c.decode_attention_bytes_per_s);
  y += "  decode_attention_curve:  # [bytes moved, achieved bytes/s], kvplan's decode attention, cold L2\n";
  for (const auto& [b, r] : c.decode_attention_curve) y += fmt::format("    - [{}, {:.4g}]\n", b, r);
  y += fmt::format("  ssm_update_bytes_per_s: {:.4g}\n", c.ssm_update_bytes_per_s);
  y += fmt::format("  ssm_update_mamba1_bytes_per_s: {:.4g}\n", c.ssm_mamba1_bytes_per_s);
  y += fmt::format("  ssm_update_mamba2_bytes_per_s: {:.4g}\n", c.ssm_mamba2_bytes_per_s);
  if (!c.ssm_runs.empty()) {
    y += "  ssm_update_runs:  # each timed update: d_state, the state's bits, achieved bytes/s\n";
    for (const Calibration::SsmRun& r : c.ssm_runs)
      y += fmt::format("    - {{d_state: {}, bits: {}, bytes_per_s: {:.4g}}}\n", r.d_state, r.bits, r.bytes_per_s);
  }
  y += fmt::format("  lm_head_bytes_per_s: {:.4g}\n", c.lm_head_bytes_per_s);
  y += "  lm_head_graphs:  # one cuBLAS bf16 GEMV/GEMM of the vocab x hidden weight in a CUDA graph, cold L2\n";
  for (const auto& [b, g] : c.lm_head_graphs)
    y += fmt::format("    - {{batch: {}, kernels: {}, bytes: {}, time_s: {:.4e}}}\n", b, g.kernels, g.bytes, g.time_s);
  // A list of labelled graphs (calibration.*_graphs): header, then one map per graph.
  auto labelled_graphs = [&y](const char* header, const char* field,
                              const std::vector<std::pair<std::string, GraphTiming>>& graphs) {
    y += fmt::format("  {}\n", header);
    for (const auto& [label, g] : graphs)
      y += fmt::format("    - {{{}: {}, kernels: {}, bytes: {}, time_s: {:.4e}}}\n", field, yaml_quote(label), g.kernels,
                       g.bytes, g.time_s);
  };
  if (c.expert_bytes_per_s > 0) {
    y += fmt::format("  expert_bytes_per_s: {:.4g}\n", c.expert_bytes_per_s);
    labelled_graphs("expert_graphs:  # the grouped expert GEMV, launches back to back in a CUDA graph, cold L2; bytes = "
                    "expert weights",
                    "op", c.expert_graphs);
  }
  if (c.elementwise_bytes_per_s > 0) {
    y += fmt::format("  elementwise_bytes_per_s: {:.4g}\n", c.elementwise_bytes_per_s);
    labelled_graphs("elementwise_graphs:  # a prefill's element-wise kernels alone in a CUDA graph, cold L2; bytes = the "
                    "model's",
                    "pass", c.elementwise_graphs);
  }
  if (c.decode_elementwise_bytes_per_s > 0) {
    y += fmt::format("  decode_elementwise_bytes_per_s: {:.4g}\n", c.decode_elementwise_bytes_per_s);
    y += fmt::format("  elementwise_kernel_overhead_s: {:.3e}\n", c.elementwise_kernel_overhead_s);
    labelled_graphs("decode_elementwise_graphs:  # a decode step's element-wise kernels alone in a CUDA graph, cold L2; "
                    "bytes = the model's",
                    "pass", c.decode_elementwise_graphs);
  }
  if (c.norm_kernel_overhead_s > 0) {
    y += fmt::format("  norm_kernel_overhead_s: {:.3e}\n", c.norm_kernel_overhead_s);
    labelled_graphs("decode_norm_graphs:  # a decode step's norm kernels alone in a CUDA graph, cold L2; bytes = the "
                    "kernels'",
                    "pass", c.decode_norm_graphs);
  }
  // A per-kernel cost by size, its points and the graphs they came from.
  const auto cost_points = [&](const char* header, const std::vector<KernelCostPoint>& points, const char* graphs_header,
                               const std::vector<std::pair<std::string, GraphTiming>>& graphs) {
    if (points.empty()) return;
    y += header;
    for (const KernelCostPoint& p : points) y += fmt::format("    - [{}, {:.3e}]\n", p.size, p.seconds);
    labelled_graphs(graphs_header, "pass", graphs);
  };
  cost_points("  rotary_kernel_overhead:  # [the kernel's (cos, sin) pairs a token, seconds a kernel beyond its bytes]\n",
              c.rotary_kernel_overhead,
              "decode_rotary_graphs:  # a decode step's rotary kernels alone in a CUDA graph, cold L2; bytes = the kernels'",
              c.decode_rotary_graphs);
  cost_points("  moe_routing_kernel_overhead:  # [the MoE layers' experts, seconds a kernel beyond its bytes]\n",
              c.moe_routing_kernel_overhead,
              "decode_moe_routing_graphs:  # a MoE decode step's routing kernels alone in a CUDA graph, cold L2; bytes = "
              "the kernels'",
              c.decode_moe_routing_graphs);
  cost_points("  attention_kernel_overhead:  # [bytes one launch moves, seconds a kernel beyond its bytes]\n",
              c.attention_kernel_overhead,
              "attention_graphs:  # a decode step's attention kernels alone in a CUDA graph, cold L2; bytes = the model's",
              c.attention_graphs);
  const auto stream_graphs = [&y](const char* header, const std::vector<Calibration::StreamRun>& runs) {
    if (runs.empty()) return;
    y += header;
    for (const Calibration::StreamRun& r : runs)
      y += fmt::format("    - {{m: {}, n: {}, k: {}, kernels: {}, bytes: {}, time_s: {:.4e}}}\n", r.m, r.n, r.k, r.kernels,
                       r.bytes, r.time_s);
  };
  stream_graphs("  weight_stream_graphs:  # back-to-back cuBLAS bf16 GEMMs at decode-sized m in one CUDA graph, cold L2; "
                "bytes = weights\n",
                c.stream_runs);
  stream_graphs("  weight_shape_graphs:  # the same for the bundled models' own matrices\n", c.shape_runs);
  y += fmt::format("  gemm_bf16_flops: {:.4g}\n", c.gemm_flops);
  y += fmt::format("  prefill_attention_flops: {:.4g}\n", c.prefill_attention_flops);
  if (!c.gemm_runs.empty()) {
    y += "  gemm_graphs:  # back-to-back cuBLAS bf16 GEMMs in one CUDA graph, cold L2; flops = kernels x 2 m n k\n";
    for (const Calibration::GemmRun& r : c.gemm_runs)
      y += fmt::format("    - {{m: {}, n: {}, k: {}, kernels: {}, flops: {:.6g}, time_s: {:.4e}}}\n", r.m, r.n, r.k, r.kernels,
                       r.flops, r.time_s);
  }
  if (!c.attention_runs.empty()) {
    y += "  attention_graphs:  # causal prefill attention launches in one CUDA graph, cold L2; flops = the causal pairs'\n";
    for (const Calibration::AttentionRun& a : c.attention_runs)
      y += fmt::format("    - {{tokens: {}, head_dim: {}, kernels: {}, flops: {:.6g}, time_s: {:.4e}}}\n", a.tokens, a.head_dim,
                       a.kernels, a.flops, a.time_s);
  }
  y += "  gemv_curve:  # [weight bytes, achieved bytes/s], cuBLAS bf16 GEMV at batch 1, cold L2\n";
  for (const auto& [b, bw] : c.gemv_curve) y += fmt::format("    - [{}, {:.4g}]\n", b, bw);
  if (!c.steps.empty()) {
    y += fmt::format("  step_kernel_gap_fit_s: {:.3e}\n", c.step_kernel_gap_fit_s);
    y += "  engine_steps:  # whole engine-like decode steps, one CUDA graph, cold L2; fit: set kernel_gap_s\n";
    for (const Calibration::Step& s : c.steps)
      y += fmt::format("    - {{model: {}, batch: {}, context: {}, kernels: {}, measured_s: {:.4e}, predicted_s: {:.4e}, "
                       "error: {:+.4f}, role: {}}}\n",
                       s.model, s.batch, s.context, s.kernels, s.measured_s, s.predicted_s,
                       s.predicted_s / s.measured_s - 1, s.fit ? "fit" : "check");
  }
  y += "  method:\n";
  for (const auto& m : c.methods) y += "    - " + yaml_quote(m) + "\n";
  return y;
}

}  // namespace kvplan::gpu
