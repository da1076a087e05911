#include "gpu/host/stats.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include <fmt/format.h>

#include "core/error.h"

namespace kvplan::gpu {

double SampleStats::rel_noise() const {
  if (n < 2 || median_s <= 0) return INFINITY;
  return 1.4826 * mad_s / median_s / std::sqrt(static_cast<double>(n));
}

double percentile(std::vector<double> s, double q) {
  if (s.empty()) throw Error("percentile of no samples");
  std::sort(s.begin(), s.end());
  const double pos = q * static_cast<double>(s.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, s.size() - 1);
  return s[lo] + (pos - static_cast<double>(lo)) * (s[hi] - s[lo]);
}

SampleStats summarize(const std::vector<double>& samples) {
  if (samples.empty()) throw Error("no timing samples");
  for (double x : samples)
    if (!(x >= 0)) throw Error(fmt::format("invalid timing sample {}", x));
  std::vector<double> s = samples;
  std::sort(s.begin(), s.end());
  SampleStats r;
  r.n = static_cast<int64_t>(s.size());
  r.min_s = s.front();
  r.max_s = s.back();
  r.p10_s = percentile(s, 0.10);
  r.median_s = percentile(s, 0.50);
  r.p90_s = percentile(s, 0.90);
  r.mean_s = std::accumulate(s.begin(), s.end(), 0.0) / static_cast<double>(s.size());
  double ss = 0;
  for (double x : s) ss += (x - r.mean_s) * (x - r.mean_s);
  r.stddev_s = s.size() > 1 ? std::sqrt(ss / static_cast<double>(s.size() - 1)) : 0;
  std::vector<double> dev;
  dev.reserve(s.size());
  for (double x : s) dev.push_back(std::fabs(x - r.median_s));
  r.mad_s = percentile(dev, 0.5);
  return r;
}

StoppingRule::Reason StoppingRule::check(const std::vector<double>& samples, double elapsed_s) const {
  const auto n = static_cast<int64_t>(samples.size());
  if (n >= max_samples) return Reason::max_samples;
  if (elapsed_s >= max_time_s && n >= 3) return Reason::time_cap;
  if (n < min_samples) return Reason::running;
  return summarize(samples).rel_noise() <= target_rel_noise ? Reason::converged : Reason::running;
}

const char* name(StoppingRule::Reason r) {
  switch (r) {
    case StoppingRule::Reason::running: return "running";
    case StoppingRule::Reason::converged: return "converged";
    case StoppingRule::Reason::max_samples: return "max_samples";
    case StoppingRule::Reason::time_cap: return "time_cap";
  }
  return "?";
}

ClockCheck assess_clocks(double before_mhz, double after_mhz, double max_mhz) {
  ClockCheck c{before_mhz, after_mhz, max_mhz, false, ""};
  if (max_mhz > 0 && after_mhz < 0.90 * max_mhz) {
    c.throttled = true;
    c.note = fmt::format("SM clock {:.0f} MHz after the run, below 90% of the {:.0f} MHz maximum", after_mhz, max_mhz);
  } else if (before_mhz > 0 && after_mhz < 0.95 * before_mhz) {
    c.throttled = true;
    c.note = fmt::format("SM clock fell from {:.0f} to {:.0f} MHz during the run", before_mhz, after_mhz);
  }
  return c;
}

}  // namespace kvplan::gpu
