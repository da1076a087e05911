// Sweep axes on the command line: lists and ranges of counts (`1k..1M:x2` geometric,
// `1..64:+1` arithmetic, `1,8,32k`, or any comma-separated mix), and plain comma lists of names.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace kvplan {

// Values of a range expression, in the order written (duplicates kept). Each comma-separated item
// is a count (k/M/G suffixes as in parse_count) or LO..HI:STEP, where STEP is xF (multiply by F > 1,
// rounding to whole numbers) or +S (add S >= 1); the range holds LO and every step up to HI
// inclusive. `flag` names the option in errors (kvplan::Error).
std::vector<int64_t> parse_range(const std::string& text, const std::string& flag);

// Comma-separated names ("llama-3.1-8b,mistral-7b-v0.1"), empty items rejected.
std::vector<std::string> parse_list(const std::string& text, const std::string& flag);

// Most values one flag's ranges and lists may expand to, in all (a typo such as 1..1G:+1 fails
// fast instead of exhausting memory).
constexpr int64_t kMaxRangeValues = int64_t{1} << 20;

}  // namespace kvplan
