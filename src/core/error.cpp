#include "core/error.h"

#include <algorithm>
#include <cctype>
#include <cstdint>

namespace kvplan {

std::string Error::located() const {
  std::string out;
  if (!pos_.file.empty()) {
    out += pos_.file;
    if (pos_.line > 0) {
      out += ":" + std::to_string(pos_.line);
      if (pos_.col > 0) out += ":" + std::to_string(pos_.col);
    }
    out += ": ";
  }
  return out + what();
}

namespace {
// Levenshtein distance, case-insensitive.
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const bool same = std::tolower(static_cast<unsigned char>(a[i - 1])) ==
                        std::tolower(static_cast<unsigned char>(b[j - 1]));
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (same ? 0 : 1)});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}
}  // namespace

std::string did_you_mean(const std::string& name, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = SIZE_MAX;
  for (const auto& c : candidates) {
    size_t d = edit_distance(name, c);
    // A candidate that contains the name (e.g. "h100" in "h100-sxm") also counts as close.
    if (c.find(name) != std::string::npos && name.size() >= 3) d = std::min(d, c.size() - name.size());
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  const size_t limit = std::max<size_t>(2, name.size() / 3);
  if (best.empty() || best_d > limit) return "";
  return "; did you mean '" + best + "'?";
}

}  // namespace kvplan
