// Length distributions as the user writes them: `fixed`, `fixed:N`, `uniform:A..B`, or a CSV trace
// with the header `prompt_tokens,output_tokens[,arrival_s]` (docs/kv-economy.md).
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "core/length_dist.h"

namespace kvplan {

// Whether the text is a spec (fixed, fixed:N, uniform:A..B) rather than a trace's path.
bool is_length_spec(const std::string& text);

// `fixed` (the length `fixed_default`; nullopt: none known, an error naming `fallback`), `fixed:N`
// or `uniform:A..B` (counts as --context takes them: 4k). Returns nullopt for anything else (a
// trace's path). Throws kvplan::Error naming `flag` for a malformed spec or A > B.
std::optional<LengthRange> parse_length_spec(const std::string& text, const std::string& flag,
                                             std::optional<int64_t> fixed_default, const std::string& fallback);

// A CSV trace: a header naming prompt_tokens and output_tokens (any order; arrival_s optional),
// then one request per line; blank lines are skipped. Keeps each request's lengths, its arrival_s
// when the column is there, and its line. Throws kvplan::Error at source:line:col for a missing or
// unknown column, a field that is not a length of at least 1 token (or, for arrival_s, a time of at
// least 0 seconds), a line with too few or too many fields, or a trace with no request.
LengthDist parse_trace(const std::string& text, const std::string& source);
// A trace to replay (plan --trace, a deployment's workload.trace): parse_trace, with the arrival_s
// column required (its absence an error at the header), and check_lengths.
LengthDist parse_arrival_trace(const std::string& text, const std::string& source);

// The prompt and output specs as given (empty: not given, = fixed), with their flags (or keys), the
// lengths `fixed` stands for, and what gives those (for the error when there is none).
struct LengthSpecs {
  std::string prompt, output;
  std::string prompt_flag = "--prompt-dist", output_flag = "--gen-dist";
  std::optional<int64_t> prompt_fixed, output_fixed;
  std::string prompt_fallback = "--prompt", output_fallback = "--gen";
};
// The distribution: independent ranges, or a trace (the one path given, read with `read_file`),
// which gives both lengths, so the other spec must be absent or name the same path. Throws
// kvplan::Error for bad specs and bad traces (check_lengths included).
LengthDist length_dist(const LengthSpecs& s, const std::function<std::string(const std::string&)>& read_file);

}  // namespace kvplan
