// Command-line number parsing: token counts with k/M/G suffixes (32k = 32768, 1M = 1048576).
#pragma once

#include <cstdint>
#include <string>

#include "core/cache_options.h"

namespace kvplan {

// A positive whole count; `flag` names the option in errors. Suffixes k/K = 2^10, m/M = 2^20, g/G = 2^30.
int64_t parse_count(const std::string& text, const std::string& flag);
// A finite real number (any sign; callers check its range).
double parse_real(const std::string& text, const std::string& flag);
// A positive finite real number (a fraction when max1 is true: (0, 1]).
double parse_positive(const std::string& text, const std::string& flag, bool max1 = false);

// A positive byte count: a whole number (17179869184), a real in scientific notation (1.6e10), or
// a number with a binary (KiB, MiB, GiB, TiB) or decimal (KB, MB, GB, TB) unit: 16GiB, 17.5GB.
int64_t parse_bytes(const std::string& text, const std::string& flag);

// A positive rate in bytes per second: a byte count (as parse_bytes) with an optional "/s": 25e9, 25GB/s.
double parse_bytes_per_s(const std::string& text, const std::string& flag);

// A bounded cache: full, sinks:S+window:W (S >= 0, W >= 1) or budget:N (counts as parse_count).
CachePolicy parse_cache_policy(const std::string& text, const std::string& flag);

}  // namespace kvplan
