#include "gpu/host/fit.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "core/error.h"

namespace kvplan::gpu {

LinearFit fit_time_vs_bytes(const std::vector<double>& x, const std::vector<double>& y, bool relative) {
  if (x.size() != y.size()) throw Error("fit: sizes and times differ in length");
  if (x.size() < 2 || *std::min_element(x.begin(), x.end()) == *std::max_element(x.begin(), x.end()))
    throw Error("fit: need at least two distinct sizes");
  double sw = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    if (!(y[i] > 0)) throw Error("fit: times must be positive");
    const double w = relative ? 1.0 / (y[i] * y[i]) : 1.0;
    sw += w;
    sx += w * x[i];
    sy += w * y[i];
    sxx += w * x[i] * x[i];
    sxy += w * x[i] * y[i];
  }
  const double det = sw * sxx - sx * sx;
  const double slope = (sw * sxy - sx * sy) / det;
  const double icpt = (sy - slope * sx) / sw;
  if (!(slope > 0)) throw Error("fit: time does not grow with bytes");
  LinearFit f;
  f.t0_s = icpt;
  f.bytes_per_s = 1.0 / slope;
  double ybar = 0;
  for (double v : y) ybar += v;
  ybar /= static_cast<double>(y.size());
  double ss_res = 0, ss_tot = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double r = y[i] - (icpt + slope * x[i]);
    ss_res += r * r;
    ss_tot += (y[i] - ybar) * (y[i] - ybar);
    f.max_rel_residual = std::max(f.max_rel_residual, std::fabs(r) / y[i]);
  }
  f.r2 = ss_tot > 0 ? 1.0 - ss_res / ss_tot : 1.0;
  return f;
}

StreamingSolve solve_graph_streaming(const GraphTiming& large, const GraphTiming& tiny, double datasheet_bytes_per_s) {
  const auto describe = [](const char* what, const GraphTiming& g) {
    return fmt::format("{} graph: {} kernels, {:.3f} GB in {:.3f} ms", what, g.kernels, static_cast<double>(g.bytes) / 1e9,
                       g.time_s * 1e3);
  };
  const std::string graphs = describe("large", large) + "; " + describe("tiny", tiny);
  if (large.kernels <= 0 || tiny.kernels <= 0 || large.bytes <= 0 || tiny.bytes < 0 || !(large.time_s > 0) ||
      !(tiny.time_s > 0))
    throw Error("streaming solve: needs kernels, bytes and a positive time in both graphs (" + graphs + ")");
  const double lb = static_cast<double>(large.bytes), lk = static_cast<double>(large.kernels);
  const double tb = static_cast<double>(tiny.bytes), tk = static_cast<double>(tiny.kernels);
  // The large graph must move more bytes per kernel than the tiny one, or the two equations coincide.
  const double det = lb * tk - tb * lk;
  if (!(det > 0))
    throw Error("streaming solve: the large graph moves no more bytes per kernel than the tiny one (" + graphs + ")");
  const double inv_bw = (large.time_s * tk - tiny.time_s * lk) / det;
  StreamingSolve r;
  r.kernel_overhead_s = (lb * tiny.time_s - tb * large.time_s) / det;
  if (!(inv_bw > 0))
    throw Error("streaming solve: the tiny graph's per-kernel time leaves the large graph no time for its bytes (" +
                graphs + ")");
  r.bytes_per_s = 1.0 / inv_bw;
  if (r.bytes_per_s > datasheet_bytes_per_s)
    throw Error(fmt::format("streaming solve: bandwidth {:.3f} TB/s is above the datasheet's {:.3f} TB/s ({}); "
                            "the graphs' times do not follow bytes / BW + kernels x overhead",
                            r.bytes_per_s / 1e12, datasheet_bytes_per_s / 1e12, graphs));
  if (r.kernel_overhead_s < 0)
    throw Error(fmt::format("streaming solve: negative per-kernel overhead {:.3f} us ({})", r.kernel_overhead_s * 1e6, graphs));
  r.tiny_bytes_share = tb * inv_bw / tiny.time_s;
  return r;
}

double bytes_per_s_after_overhead(const std::vector<GraphTiming>& runs, double kernel_overhead_s) {
  if (runs.empty()) throw Error("bandwidth after overhead: no timed graphs");
  double sum = 0;
  for (const GraphTiming& g : runs) {
    const double overhead = static_cast<double>(g.kernels) * kernel_overhead_s;
    const double streaming_s = g.time_s - overhead;
    if (g.bytes <= 0 || !(streaming_s > 0))
      throw Error(fmt::format("bandwidth after overhead: {:.3f} GB in {:.3f} us leaves no time for the bytes after {} "
                              "kernel(s) x {:.3f} us overhead",
                              static_cast<double>(g.bytes) / 1e9, g.time_s * 1e6, g.kernels, kernel_overhead_s * 1e6));
    sum += static_cast<double>(g.bytes) / streaming_s;
  }
  return sum / static_cast<double>(runs.size());
}

double fit_kernel_gap(const std::vector<StepSample>& steps) {
  double num = 0, den = 0;
  for (const StepSample& s : steps) {
    const double k = static_cast<double>(s.kernels);
    num += k * (s.measured_s - s.rest_s);
    den += k * k;
  }
  if (!(den > 0)) throw Error("kernel gap of whole steps: no step with kernels");
  return num / den;
}

}  // namespace kvplan::gpu
