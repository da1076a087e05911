#include "io/numbers.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <utility>

#include "core/error.h"

namespace kvplan {

int64_t parse_count(const std::string& text, const std::string& flag) {
  auto bad = [&](const std::string& why) {
    return Error(flag + ": " + why + ", got '" + text + "' (expected a positive whole number such as 8192, 32k or 1M)");
  };
  if (text.empty()) throw bad("empty value");
  std::string digits = text;
  int shift = 0;
  switch (digits.back()) {
    case 'k': case 'K': shift = 10; break;
    case 'm': case 'M': shift = 20; break;
    case 'g': case 'G': shift = 30; break;
    default: break;
  }
  if (shift) digits.pop_back();
  if (!digits.empty() && digits[0] == '-') throw bad("must be positive");
  if (digits.find_first_of("eE.") != std::string::npos && digits.find_first_not_of("0123456789eE.+") == std::string::npos) {
    // Scientific notation of a whole number (1e3, 2.5e4).
    char* end = nullptr;
    const double d = std::strtod(digits.c_str(), &end);
    if (*end != '\0' || !std::isfinite(d) || d != std::trunc(d)) throw bad("not a whole number");
    if (!(d < std::ldexp(1.0, 63 - shift))) throw bad("overflows 64-bit");
    if (d < 1) throw bad("must be positive");
    return static_cast<int64_t>(d) << shift;
  }
  if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos) throw bad("not a whole number");
  errno = 0;
  const unsigned long long v = std::strtoull(digits.c_str(), nullptr, 10);
  if (errno == ERANGE || v > (static_cast<unsigned long long>(INT64_MAX) >> shift)) throw bad("overflows 64-bit");
  if (v == 0) throw bad("must be positive");
  return static_cast<int64_t>(v << shift);
}

double parse_real(const std::string& text, const std::string& flag) {
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !std::isfinite(v)) throw Error(flag + ": not a number, got '" + text + "'");
  return v;
}

double parse_positive(const std::string& text, const std::string& flag, bool max1) {
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !std::isfinite(v))
    throw Error(flag + ": not a number, got '" + text + "'");
  if (!(v > 0)) throw Error(flag + ": must be positive, got '" + text + "'");
  if (max1 && v > 1) throw Error(flag + ": must be a fraction in (0, 1], got '" + text + "'");
  return v;
}

int64_t parse_bytes(const std::string& text, const std::string& flag) {
  static const std::pair<const char*, double> kUnits[] = {
      {"KiB", 0x1p10}, {"MiB", 0x1p20}, {"GiB", 0x1p30}, {"TiB", 0x1p40},
      {"KB", 1e3},     {"MB", 1e6},     {"GB", 1e9},     {"TB", 1e12}, {"B", 1}};
  std::string number = text;
  double unit = 1;
  for (const auto& [suffix, factor] : kUnits) {
    const std::string u = suffix;
    if (number.size() > u.size() && number.compare(number.size() - u.size(), u.size(), u) == 0) {
      number.resize(number.size() - u.size());
      unit = factor;
      break;
    }
  }
  char* end = nullptr;
  const double v = std::strtod(number.c_str(), &end);
  if (number.empty() || *end != '\0' || !std::isfinite(v))
    throw Error(flag + ": not a byte count, got '" + text + "' (expected e.g. 17179869184, 1.6e10 or 16GiB)");
  // Without a unit the number is bytes and must be whole; with one it is rounded to a byte.
  if (unit == 1 && v != std::floor(v)) throw Error(flag + ": not a whole number of bytes, got '" + text + "'");
  const double bytes = std::round(v * unit);
  if (!(bytes >= 1)) throw Error(flag + ": must be at least 1 byte, got '" + text + "'");
  if (bytes >= 0x1p63) throw Error(flag + ": overflows 64-bit, got '" + text + "'");
  return static_cast<int64_t>(bytes);
}

double parse_bytes_per_s(const std::string& text, const std::string& flag) {
  const bool per_s = text.size() > 2 && text.compare(text.size() - 2, 2, "/s") == 0;
  return static_cast<double>(parse_bytes(per_s ? text.substr(0, text.size() - 2) : text, flag));
}

CachePolicy parse_cache_policy(const std::string& text, const std::string& flag) {
  const std::string forms = " (full, sinks:S+window:W such as sinks:4+window:4092, or budget:N such as budget:2048)";
  CachePolicy p;
  if (text == "full") return p;
  if (text.rfind("budget:", 0) == 0) {
    p.kind = CachePolicyKind::budget;
    p.budget = parse_count(text.substr(7), flag + " budget");
    return p;
  }
  const size_t plus = text.find("+window:");
  if (text.rfind("sinks:", 0) == 0 && plus != std::string::npos) {
    p.kind = CachePolicyKind::sinks_window;
    const std::string sinks = text.substr(6, plus - 6);
    p.sinks = sinks == "0" ? 0 : parse_count(sinks, flag + " sinks");
    p.window = parse_count(text.substr(plus + 8), flag + " window");
    if (p.sinks > INT64_MAX - p.window) throw Error(flag + ": sinks + window overflows 64-bit, got '" + text + "'");
    return p;
  }
  throw Error(flag + ": unknown cache policy '" + text + "'" + forms +
              did_you_mean(text, {"full", "sinks:4+window:4092", "budget:2048"}));
}

}  // namespace kvplan
