// Command-line number parsing: token counts with k/M/G suffixes (32k = 32768, 1M = 1048576).
#pragma once

#include <cstdint>
#include <string>

namespace kvplan {

// A positive whole count; `flag` names the option in errors. Suffixes k/K = 2^10, m/M = 2^20, g/G = 2^30.
int64_t parse_count(const std::string& text, const std::string& flag);
// A positive finite real number (a fraction when max1 is true: (0, 1]).
double parse_positive(const std::string& text, const std::string& flag, bool max1 = false);

}  // namespace kvplan
