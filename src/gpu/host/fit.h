// Least-squares line time = t0 + bytes / bandwidth over measured (bytes, time) points: the fixed
// cost of a kernel (launch, ramp, tail) and its asymptotic bandwidth (METHOD: "two numbers").
#pragma once

#include <cstdint>
#include <vector>

namespace kvplan::gpu {

struct LinearFit {
  double t0_s = 0;              // intercept
  double bytes_per_s = 0;       // 1 / slope
  double r2 = 0;                // coefficient of determination
  double max_rel_residual = 0;  // max |t - fit| / t over the points
  double predict_s(double bytes) const { return t0_s + bytes / bytes_per_s; }
};

// Ordinary least squares of time_s on bytes (weighted by 1/time^2 when relative is true, so that
// small and large sizes count alike). Throws kvplan::Error with fewer than 2 distinct sizes.
LinearFit fit_time_vs_bytes(const std::vector<double>& bytes, const std::vector<double>& time_s, bool relative = true);

// One replay of a CUDA graph of back-to-back kernels: the bytes they move, how many, how long.
struct GraphTiming {
  int64_t bytes = 0;
  int64_t kernels = 0;
  double time_s = 0;
};
struct StreamingSolve {
  double bytes_per_s = 0;        // BW of time = bytes / BW + kernels x overhead
  double kernel_overhead_s = 0;  // overhead
  double tiny_bytes_share = 0;   // tiny graph's bytes / BW over its time (small: overhead well pinned)
};
// Streaming bandwidth and per-kernel overhead of kernels run back to back in a graph, from two
// graphs that each pin one unknown of time = bytes / BW + kernels x overhead: `large` (a few
// kernels over GBs, the bytes term dominates) and `tiny` (many kernels of a few hundred KB, the
// overhead term dominates). Solved exactly; equals iterating overhead = (tiny time - tiny bytes /
// BW) / tiny kernels and BW = large bytes / (large time - large kernels x overhead). Throws
// kvplan::Error when the graphs do not separate the terms or the result is not physical:
// BW outside (0, datasheet] or a negative overhead.
StreamingSolve solve_graph_streaming(const GraphTiming& large, const GraphTiming& tiny, double datasheet_bytes_per_s);

// Streaming bandwidth of graphs whose per-kernel overhead is already known (solve_graph_streaming's):
// the mean over `runs` of bytes / (time - kernels x overhead). Calibrate's lm_head: one GEMV of the
// vocab x hidden weight per batch, bytes = the weight's. Throws kvplan::Error without runs, or when a
// run has no bytes or its time does not exceed its kernels' overhead (nothing left for the bytes).
double bytes_per_s_after_overhead(const std::vector<GraphTiming>& runs, double kernel_overhead_s);

// One whole decode step, timed and predicted: `rest_s` is the prediction without the gaps between
// its kernels (time - kernels x kernel_gap_s), `kernels` the prediction's kernel count.
struct StepSample {
  double measured_s = 0, rest_s = 0;
  int64_t kernels = 0;
};
// The per-kernel gap that makes the predictions of whole steps meet their measurements: least
// squares through the origin of (measured - rest) on kernels, sum k (m - r) / sum k^2; negative
// where the steps ran faster than their components predict (the caller decides). Throws
// kvplan::Error without a sample that has kernels.
double fit_kernel_gap(const std::vector<StepSample>& steps);

}  // namespace kvplan::gpu
