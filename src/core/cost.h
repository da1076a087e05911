// Cost: dollars per token from the price per GPU-hour and the timing model (docs/timing.md, "Cost").
// One meaning throughout: dollars per hour divided by the tokens served per hour. A replica of tp
// GPUs costs tp x usd_per_gpu_hour; running its batch, it serves decode tokens_per_s:
//   $/1M output tokens = replica $/s / decode tokens_per_s (aggregate, at the batch) x 1e6
//   $/1M prompt tokens = replica $/s x prefill time / (batch x prompt) x 1e6
//   $ per request      = prompt x $/prompt token + gen x $/output token
#pragma once

#include <cstdint>
#include <optional>

#include "core/decode.h"
#include "core/prefill.h"

namespace kvplan {

struct CostResult {
  double usd_per_gpu_hour = 0;   // 0 = unknown: the dollar figures are nullopt
  int64_t gpus = 1;              // per replica (tp)
  std::optional<double> usd_per_hour;
  std::optional<double> usd_per_million_output_tokens;
  std::optional<double> usd_per_million_prompt_tokens;
  std::optional<double> usd_per_request;  // nullopt also when gen is 0 (unknown)
};

// Dollars per million tokens at `usd_per_hour` while serving `tokens_per_s` (the one formula).
double usd_per_million(double usd_per_hour, double tokens_per_s);

// `output_tokens_per_s` is the replica's at the batch (a decode step's, or a speculative step's),
// `prefill` the batch's prefill (its tokens_per_s).
CostResult cost(double usd_per_gpu_hour, int64_t gpus, double output_tokens_per_s, const PrefillResult& prefill,
                int64_t prompt, int64_t gen);

}  // namespace kvplan
