#include "core/cost.h"

namespace kvplan {

CostResult cost(double usd_per_gpu_hour, int64_t gpus, const DecodeStep& decode, const PrefillResult& prefill,
                int64_t prompt, int64_t gen) {
  CostResult c;
  c.usd_per_gpu_hour = usd_per_gpu_hour;
  c.gpus = gpus;
  if (!(usd_per_gpu_hour > 0)) return c;
  const double usd_per_hour = usd_per_gpu_hour * static_cast<double>(gpus);
  const double usd_per_s = usd_per_hour / 3600.0;
  const double usd_per_output_token = usd_per_s / decode.tokens_per_s;
  const double usd_per_prompt_token = usd_per_s / prefill.tokens_per_s;
  c.usd_per_hour = usd_per_hour;
  c.usd_per_million_output_tokens = usd_per_output_token * 1e6;
  c.usd_per_million_prompt_tokens = usd_per_prompt_token * 1e6;
  if (gen > 0)
    c.usd_per_request = static_cast<double>(prompt) * usd_per_prompt_token + static_cast<double>(gen) * usd_per_output_token;
  return c;
}

}  // namespace kvplan
