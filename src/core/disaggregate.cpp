#include "core/disaggregate.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <vector>

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

void check_request(const DisaggRequest& q, const MemoryOptions& pre) {
  if (q.prompt < 1 || q.gen < 1) throw Error("plan needs --prompt and --gen of at least 1 token");
  if (!(q.rps > 0)) throw Error("--rps must be positive");
  if (!(pre.parallel.scale_out.bytes_per_s > 0))
    throw Error("--disaggregate sends each request's KV cache between the pools over the network: give --node");
}

Layout layout_of(const MemoryOptions& o) {
  return {o.cache.tp, o.engine.pipeline_parallel_size, o.parallel.dp, o.parallel.ep};
}

// A pool's layout and GPUs per replica; why the engines would refuse the layout, or "".
std::string start_pool(const Model& model, const MemoryOptions& o, DisaggPool& pool) {
  pool.layout = layout_of(o);
  pool.gpus_per_replica = layout_gpus(o.cache.tp, o.engine.pipeline_parallel_size, o.parallel);
  try {
    check_tensor_parallel(model, o.cache.tp);
    check_layout(model, o.cache.tp, o.engine.pipeline_parallel_size, o.parallel);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// The prefill pool at one layout, with the TTFT its prompts see.
struct PrefillSide {
  DisaggPool pool;
  double prefill_s = 0;
  int64_t kv_bytes = 0;
  double kv_transfer_s = 0;
  double ttft_s = 0;
  std::string reason;  // empty: feasible
};

PrefillSide prefill_side(const Model& model, const Gpu& gpu, const DisaggRequest& q, const MemoryOptions& pre) {
  PrefillSide p;
  // The cache one request carries over: every layer of the whole model after its prompt.
  CacheOptions whole = pre.cache;
  whole.tp = 1;
  p.kv_bytes = add(kv_bytes_per_sequence(model, q.prompt, whole), state_bytes_per_sequence(model, whole));
  p.reason = start_pool(model, pre, p.pool);
  if (!p.reason.empty()) return p;
  const int64_t in_memory = max_batch_under_engine(model, gpu, pre, q.prompt);
  if (in_memory < 1) {
    p.reason = "the prefill pool's weights and one prompt of " + std::to_string(q.prompt) + " tokens do not fit";
    return p;
  }
  const PrefillModel prefill(model, gpu, pre);
  p.pool.batch = std::min(in_memory, std::max<int64_t>(1, pre.prefill_chunk / q.prompt));
  p.prefill_s = prefill.run(1, q.prompt).time_s;
  p.pool.replica_rps = static_cast<double>(mul(pre.parallel.dp, p.pool.batch)) /
                       prefill.run(p.pool.batch, q.prompt).time_s;
  const Link& net = pre.parallel.scale_out;
  p.kv_transfer_s =
      static_cast<double>(p.kv_bytes) / (static_cast<double>(p.pool.gpus_per_replica) * net.bytes_per_s) + net.latency_s;
  p.ttft_s = p.prefill_s + p.kv_transfer_s;
  if (q.ttft_slo_s && p.ttft_s > *q.ttft_slo_s)
    p.reason = "prefill of one prompt and its KV transfer take longer than the TTFT SLO";
  return p;
}

// The decode pool at one layout: the largest batch per rank in memory (the engine's pool at
// prompt + gen) and within the TPOT SLO.
struct DecodeSide {
  DisaggPool pool;
  double tpot_s = 0;
  std::string reason;  // empty: feasible
};

DecodeSide decode_side(const Model& model, const Gpu& gpu, const DisaggRequest& q, const MemoryOptions& dec) {
  DecodeSide d;
  d.reason = start_pool(model, dec, d.pool);
  if (!d.reason.empty()) return d;
  const int64_t context = add(q.prompt, q.gen);
  const int64_t memory_batch = max_batch_under_engine(model, gpu, dec, context);
  if (memory_batch < 1) {
    d.reason = "the decode pool's weights and one sequence of " + std::to_string(context) + " tokens do not fit";
    return d;
  }
  const DecodeModel decode(model, gpu, dec);
  const int64_t decode_context = q.prompt + ceil_div(q.gen, 2);  // the average context over the generation
  auto step_s = [&](int64_t b) { return decode.step(b, decode_context).time_s; };
  int64_t b = std::min<int64_t>(memory_batch, int64_t{1} << 20);
  if (q.tpot_slo_s && step_s(1) > *q.tpot_slo_s) {
    d.reason = "a decode step at batch 1 takes longer than the TPOT SLO";
    return d;
  }
  if (q.tpot_slo_s && step_s(b) > *q.tpot_slo_s) {  // step time grows with the batch
    int64_t lo = 1, hi = b;                          // step_s(lo) within, step_s(hi) not
    while (hi - lo > 1) {
      const int64_t mid = lo + (hi - lo) / 2;
      (step_s(mid) <= *q.tpot_slo_s ? lo : hi) = mid;
    }
    b = lo;
  }
  d.pool.batch = b;
  d.tpot_s = step_s(b);
  d.pool.replica_rps = static_cast<double>(mul(dec.parallel.dp, b)) / (static_cast<double>(q.gen) * d.tpot_s);
  return d;
}

void size_pool(DisaggPool& pool, double rps) {
  pool.replicas = replicas_for(rps, pool.replica_rps);
  pool.gpus = mul(pool.replicas, pool.gpus_per_replica);
}

DisaggPlan combine(const DisaggRequest& q, const PrefillSide& pre, const DecodeSide& dec) {
  DisaggPlan p;
  p.request = q;
  p.prefill = pre.pool;
  p.decode = dec.pool;
  p.prefill_s = pre.prefill_s;
  p.kv_bytes = pre.kv_bytes;
  p.kv_transfer_s = pre.kv_transfer_s;
  p.ttft_s = pre.ttft_s;
  p.tpot_s = dec.tpot_s;
  p.reason = !pre.reason.empty() ? pre.reason : dec.reason;
  if (!p.reason.empty()) return p;
  p.prefill_share = static_cast<double>(p.prefill.gpus) / static_cast<double>(add(p.prefill.gpus, p.decode.gpus));
  p.feasible = true;
  return p;
}

// Whether `a` takes fewer GPUs than `b` (then the lower time); infeasible ones lose.
template <typename Side>
bool cheaper(const Side& a, double a_s, const Side& b, double b_s) {
  if (!a.reason.empty()) return false;
  if (!b.reason.empty()) return true;
  return a.pool.gpus < b.pool.gpus || (a.pool.gpus == b.pool.gpus && a_s < b_s);
}
}  // namespace

DisaggPlan plan_disaggregated(const Model& model, const Gpu& gpu, const DisaggRequest& q, const MemoryOptions& pre,
                              const MemoryOptions& dec) {
  return search_disaggregated(model, gpu, q, pre, {layout_of(pre)}, {layout_of(dec)});
}

DisaggPlan search_disaggregated(const Model& model, const Gpu& gpu, const DisaggRequest& q, const MemoryOptions& base,
                                const std::vector<Layout>& prefill_layouts, const std::vector<Layout>& decode_layouts) {
  check_request(q, base);
  if (prefill_layouts.empty() || decode_layouts.empty()) throw Error("--disaggregate: no layout to search");
  std::optional<PrefillSide> pre;
  for (const Layout& l : prefill_layouts) {
    PrefillSide s = prefill_side(model, gpu, q, with_layout(base, l));
    if (s.reason.empty()) size_pool(s.pool, q.rps);
    if (!pre || cheaper(s, s.ttft_s, *pre, pre->ttft_s)) pre = s;
  }
  std::optional<DecodeSide> dec;
  for (const Layout& l : decode_layouts) {
    DecodeSide s = decode_side(model, gpu, q, with_layout(base, l));
    if (s.reason.empty()) size_pool(s.pool, q.rps);
    if (!dec || cheaper(s, s.tpot_s, *dec, dec->tpot_s)) dec = s;
  }
  pre->pool.layouts_tried = static_cast<int64_t>(prefill_layouts.size());
  dec->pool.layouts_tried = static_cast<int64_t>(decode_layouts.size());
  return combine(q, *pre, *dec);
}

const char* name(Serving s) {
  switch (s) {
    case Serving::colocated: return "colocated";
    case Serving::disaggregated: return "disaggregated";
  }
  return "?";
}

Serving serving_choice(const FleetPlan& colocated, const DisaggPlan& d) {
  if (!d.feasible) return Serving::colocated;
  if (colocated.best < 0) return Serving::disaggregated;
  const int64_t gpus = colocated.options[static_cast<size_t>(colocated.best)].gpus;
  return add(d.prefill.gpus, d.decode.gpus) < gpus ? Serving::disaggregated : Serving::colocated;
}

}  // namespace kvplan
