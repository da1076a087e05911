#include "core/cost.h"

namespace kvplan {

double usd_per_million(double usd_per_hour, double tokens_per_s) { return usd_per_hour / 3600.0 / tokens_per_s * 1e6; }

CostResult cost(double usd_per_gpu_hour, int64_t gpus, double output_tokens_per_s, const PrefillResult& prefill,
                int64_t prompt, int64_t gen) {
  CostResult c;
  c.usd_per_gpu_hour = usd_per_gpu_hour;
  c.gpus = gpus;
  if (!(usd_per_gpu_hour > 0)) return c;
  const double usd_per_hour = usd_per_gpu_hour * static_cast<double>(gpus);
  c.usd_per_hour = usd_per_hour;
  c.usd_per_million_output_tokens = usd_per_million(usd_per_hour, output_tokens_per_s);
  c.usd_per_million_prompt_tokens = usd_per_million(usd_per_hour, prefill.tokens_per_s);
  if (gen > 0)
    c.usd_per_request = (static_cast<double>(prompt) * *c.usd_per_million_prompt_tokens +
                         static_cast<double>(gen) * *c.usd_per_million_output_tokens) /
                        1e6;
  return c;
}

}  // namespace kvplan
