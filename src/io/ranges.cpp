#include "io/ranges.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "core/error.h"
#include "io/numbers.h"

namespace kvplan {

namespace {

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    const size_t end = text.find(sep, start);
    out.push_back(text.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) return out;
    start = end + 1;
  }
}

void append_range(const std::string& item, const std::string& flag, std::vector<int64_t>& out) {
  auto bad = [&](const std::string& why) {
    return Error(flag + ": " + why + " in '" + item +
                 "' (expected LO..HI:xF for a geometric range such as 1k..1M:x2, or LO..HI:+S such as 1..64:+1)");
  };
  const size_t dots = item.find("..");
  const size_t colon = item.find(':', dots);
  if (colon == std::string::npos) throw bad("a range needs a step");
  const int64_t lo = parse_count(item.substr(0, dots), flag);
  const int64_t hi = parse_count(item.substr(dots + 2, colon - dots - 2), flag);
  if (hi < lo) throw bad("the end is below the start");
  const std::string step = item.substr(colon + 1);
  if (step.size() < 2 || (step[0] != 'x' && step[0] != '+')) throw bad("the step must be xF or +S");
  const size_t first = out.size();
  auto push = [&](int64_t v) {
    if (static_cast<int64_t>(out.size() - first) >= kMaxRangeValues)
      throw bad("more than " + std::to_string(kMaxRangeValues) + " values");
    out.push_back(v);
  };
  if (step[0] == '+') {
    const int64_t s = parse_count(step.substr(1), flag);
    if ((hi - lo) / s >= kMaxRangeValues) throw bad("more than " + std::to_string(kMaxRangeValues) + " values");
    for (int64_t v = lo;; v += s) {
      push(v);
      if (v > hi - s) return;
    }
  }
  const std::string factor_text = step.substr(1);
  char* end = nullptr;
  errno = 0;
  const double factor = std::strtod(factor_text.c_str(), &end);
  if (*end != '\0' || errno == ERANGE || !std::isfinite(factor) || !(factor > 1))
    throw bad("the factor must be a number above 1");
  // Each value is LO x F^k rounded, computed from LO (no accumulated rounding); values that round
  // to the previous one (small LO with F < 2) are skipped so the range strictly increases. The
  // number of steps, log(HI/LO) / log(F), is bounded first: a factor a hair above 1 would
  // otherwise step for ever without a new value.
  const double steps = std::log(static_cast<double>(hi) / static_cast<double>(std::max<int64_t>(lo, 1))) / std::log(factor);
  if (!(steps < static_cast<double>(kMaxRangeValues))) throw bad("the factor is too close to 1 (more than " + std::to_string(kMaxRangeValues) + " steps)");
  for (int64_t k = 0;; ++k) {
    const double exact = static_cast<double>(lo) * std::pow(factor, k);
    if (exact > static_cast<double>(hi) + 0.5) return;
    const int64_t v = std::llround(exact);
    if (v > hi) return;
    if (out.size() == first || v > out.back()) push(v);
  }
}

}  // namespace

std::vector<int64_t> parse_range(const std::string& text, const std::string& flag) {
  if (text.empty()) throw Error(flag + ": empty value");
  std::vector<int64_t> out;
  for (const std::string& item : split(text, ',')) {
    if (item.empty()) throw Error(flag + ": empty item in '" + text + "'");
    if (item.find("..") != std::string::npos) append_range(item, flag, out);
    else out.push_back(parse_count(item, flag));
    if (static_cast<int64_t>(out.size()) > kMaxRangeValues)
      throw Error(flag + ": more than " + std::to_string(kMaxRangeValues) + " values in all");
  }
  return out;
}

std::vector<std::string> parse_list(const std::string& text, const std::string& flag) {
  if (text.empty()) throw Error(flag + ": empty value");
  std::vector<std::string> out = split(text, ',');
  for (const std::string& item : out)
    if (item.empty()) throw Error(flag + ": empty item in '" + text + "'");
  return out;
}

}  // namespace kvplan
