#include "gpu/host/fit.h"

#include <algorithm>
#include <cmath>

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

}  // namespace kvplan::gpu
