#include "core/disaggregate.h"

#include <algorithm>
#include <cmath>

#include "core/checked.h"
#include "core/decode.h"
#include "core/engine.h"
#include "core/error.h"
#include "core/kv_cache.h"
#include "core/parallel.h"
#include "core/prefill.h"

namespace kvplan {

namespace {
int64_t replicas_for(double rps, double replica_rps) {
  const double n = std::ceil(rps / replica_rps);
  if (!(n < 0x1p40)) throw Error("--rps needs more than 2^40 replicas: not a fleet kvplan can plan");
  return std::max<int64_t>(1, static_cast<int64_t>(n));
}
}  // namespace

DisaggPlan plan_disaggregated(const Model& model, const Gpu& gpu, const DisaggRequest& q, const MemoryOptions& pre,
                              const MemoryOptions& dec) {
  if (q.prompt < 1 || q.gen < 1) throw Error("plan needs --prompt and --gen of at least 1 token");
  if (!(q.rps > 0)) throw Error("--rps must be positive");
  const Parallel& net = pre.parallel;
  if (!(net.scale_out.bytes_per_s > 0))
    throw Error("--disaggregate sends each request's KV cache between the pools over the network: give --node");
  DisaggPlan p;
  p.request = q;

  // Prefill pool.
  const PrefillModel prefill(model, gpu, pre);
  p.prefill.gpus_per_replica = layout_gpus(pre.cache.tp, pre.engine.pipeline_parallel_size, pre.parallel);
  p.prefill.batch = std::max<int64_t>(1, pre.prefill_chunk / q.prompt);
  p.prefill_s = prefill.run(1, q.prompt).time_s;
  p.prefill.replica_rps = static_cast<double>(mul(pre.parallel.dp, p.prefill.batch)) /
                          prefill.run(p.prefill.batch, q.prompt).time_s;

  // The cache one request carries over: every layer of the whole model after its prompt.
  CacheOptions whole = pre.cache;
  whole.tp = 1;
  p.kv_bytes = add(kv_bytes_per_sequence(model, q.prompt, whole), state_bytes_per_sequence(model, whole));
  p.kv_transfer_s = static_cast<double>(p.kv_bytes) /
                        (static_cast<double>(p.prefill.gpus_per_replica) * net.scale_out.bytes_per_s) +
                    net.scale_out.latency_s;
  p.ttft_s = p.prefill_s + p.kv_transfer_s;
  if (q.ttft_slo_s && p.ttft_s > *q.ttft_slo_s) {
    p.reason = "prefill of one prompt and its KV transfer take longer than the TTFT SLO";
    return p;
  }

  // Decode pool: the largest batch per rank in memory (the engine's pool at prompt + gen) and
  // within the TPOT SLO.
  const int64_t context = add(q.prompt, q.gen);
  const int64_t memory_batch = max_batch_under_engine(model, gpu, dec, context);
  if (memory_batch < 1) {
    p.reason = "the decode pool's weights and one sequence of " + std::to_string(context) + " tokens do not fit";
    return p;
  }
  const DecodeModel decode(model, gpu, dec);
  const int64_t decode_context = q.prompt + ceil_div(q.gen, 2);  // the average context over the generation
  auto step_s = [&](int64_t b) { return decode.step(b, decode_context).time_s; };
  int64_t b = std::min<int64_t>(memory_batch, int64_t{1} << 20);
  if (q.tpot_slo_s && step_s(1) > *q.tpot_slo_s) {
    p.reason = "a decode step at batch 1 takes longer than the TPOT SLO";
    return p;
  }
  if (q.tpot_slo_s && step_s(b) > *q.tpot_slo_s) {  // step time grows with the batch
    int64_t lo = 1, hi = b;                          // step_s(lo) within, step_s(hi) not
    while (hi - lo > 1) {
      const int64_t mid = lo + (hi - lo) / 2;
      (step_s(mid) <= *q.tpot_slo_s ? lo : hi) = mid;
    }
    b = lo;
  }
  p.decode.gpus_per_replica = layout_gpus(dec.cache.tp, dec.engine.pipeline_parallel_size, dec.parallel);
  p.decode.batch = b;
  p.tpot_s = step_s(b);
  p.decode.replica_rps = static_cast<double>(mul(dec.parallel.dp, b)) / (static_cast<double>(q.gen) * p.tpot_s);

  for (DisaggPool* pool : {&p.prefill, &p.decode}) {
    pool->replicas = replicas_for(q.rps, pool->replica_rps);
    pool->gpus = mul(pool->replicas, pool->gpus_per_replica);
  }
  p.prefill_share = static_cast<double>(p.prefill.gpus) / static_cast<double>(add(p.prefill.gpus, p.decode.gpus));
  p.feasible = true;
  return p;
}

}  // namespace kvplan
