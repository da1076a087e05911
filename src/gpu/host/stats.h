// Timing statistics for GPU measurements: summaries of samples (median, percentiles, spread), the
// noise-based stopping rule with a time cap, and the clock check that flags throttled runs.
// Plain host code, tested on synthetic samples (tests/gpu_host_test.cpp); the method follows
// NVIDIA nvbench's cold/hot timers (noise-based stopping, hard timeout, throttle detection).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace kvplan::gpu {

struct SampleStats {
  int64_t n = 0;
  double min_s = 0, p10_s = 0, median_s = 0, p90_s = 0, max_s = 0;
  double mean_s = 0, stddev_s = 0;
  double mad_s = 0;  // median absolute deviation
  // Relative spread of one sample: (p90 - p10) / median.
  double rel_spread() const { return median_s > 0 ? (p90_s - p10_s) / median_s : 0; }
  // Relative uncertainty of the median: 1.4826 MAD / median / sqrt(n) (normal-equivalent sigma).
  double rel_noise() const;
};

// Linear interpolation between order statistics (type 7, numpy's default); q in [0, 1].
double percentile(std::vector<double> samples, double q);
// Throws kvplan::Error on an empty sample set or a negative/NaN sample.
SampleStats summarize(const std::vector<double>& samples_s);

// When to stop sampling: at least min_samples, then until the median's relative noise is under
// target_rel_noise, never more than max_samples or max_time_s of measured time.
struct StoppingRule {
  int64_t min_samples = 10;
  int64_t max_samples = 2000;
  double target_rel_noise = 0.005;
  double max_time_s = 1.0;  // sum of sample times plus overheads the caller reports
  enum class Reason { running, converged, max_samples, time_cap };
  Reason check(const std::vector<double>& samples_s, double elapsed_s) const;
};
const char* name(StoppingRule::Reason r);

// Clock check: the SM clock measured before and after a series against the device's maximum.
struct ClockCheck {
  double before_mhz = 0, after_mhz = 0, max_mhz = 0;
  bool throttled = false;  // after < 90% of max, or dropped by > 5% during the series
  std::string note;
};
ClockCheck assess_clocks(double before_mhz, double after_mhz, double max_mhz);

}  // namespace kvplan::gpu
