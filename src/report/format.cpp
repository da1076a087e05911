#include "report/format.h"

#include <fmt/format.h>

#include <cmath>

namespace kvplan {

std::string group_digits(int64_t v) {
  const bool neg = v < 0;
  std::string d = std::to_string(v);
  if (neg) d.erase(0, 1);
  std::string out;
  for (size_t i = 0; i < d.size(); ++i) {
    if (i > 0 && (d.size() - i) % 3 == 0) out += ',';
    out += d[i];
  }
  return neg ? "-" + out : out;
}

std::string gib(int64_t bytes) { return fmt::format("{:.2f} GiB", static_cast<double>(bytes) / (1024.0 * 1024 * 1024)); }

std::string human_count(int64_t v) {
  const double x = static_cast<double>(v);
  if (std::fabs(x) >= 1e9) return fmt::format("{:.2f} B", x / 1e9);
  if (std::fabs(x) >= 1e6) return fmt::format("{:.2f} M", x / 1e6);
  return group_digits(v);
}

std::string percent(double fraction) { return fmt::format("{:g}%", fraction * 100); }

std::string seconds(double s) {
  if (s >= 1) return fmt::format("{:.2f} s", s);
  if (s >= 1e-3) return fmt::format("{:.3f} ms", s * 1e3);
  return fmt::format("{:.1f} us", s * 1e6);
}

std::string human_flops(double flops) {
  if (flops >= 1e15) return fmt::format("{:.2f} P", flops / 1e15);
  if (flops >= 1e12) return fmt::format("{:.2f} T", flops / 1e12);
  if (flops >= 1e9) return fmt::format("{:.2f} G", flops / 1e9);
  return fmt::format("{:.3g}", flops);
}

}  // namespace kvplan
