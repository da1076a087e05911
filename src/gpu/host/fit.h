// Least-squares line time = t0 + bytes / bandwidth over measured (bytes, time) points: the fixed
// cost of a kernel (launch, ramp, tail) and its asymptotic bandwidth (METHOD: "two numbers").
#pragma once

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

}  // namespace kvplan::gpu
