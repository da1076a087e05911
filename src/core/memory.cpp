#include "core/memory.h"

#include <algorithm>
#include <cmath>

#include "core/checked.h"
#include "core/params.h"

namespace kvplan {

namespace {

// Widest per-token intermediate a layer materializes (elements), before tensor-parallel split.
int64_t widest_intermediate(const Layer& layer) {
  int64_t w = 0;
  if (layer.mixer) {
    if (auto* a = std::get_if<Attention>(&*layer.mixer)) {
      w = a->heads * a->head_dim + a->kv_heads * (a->head_dim + a->v_head_dim);
    } else if (auto* l = std::get_if<Mla>(&*layer.mixer)) {
      w = l->heads * (l->qk_nope_head_dim + l->qk_rope_head_dim) + l->kv_lora_rank + l->qk_rope_head_dim;
    } else if (auto* s = std::get_if<Mamba1>(&*layer.mixer)) {
      w = 2 * s->d_inner;
    } else if (auto* s2 = std::get_if<Mamba2>(&*layer.mixer)) {
      w = 2 * s2->d_inner() + 2 * s2->n_groups * s2->d_state + s2->n_heads;
    }
  }
  if (layer.mlp) {
    if (auto* d = std::get_if<DenseMlp>(&*layer.mlp)) {
      w = std::max(w, (d->gated ? 2 : 1) * d->intermediate_size);
    } else if (auto* e = std::get_if<MoeMlp>(&*layer.mlp)) {
      const int64_t shared = e->shared_experts * (e->shared_intermediate_size > 0 ? e->shared_intermediate_size
                                                                                  : e->expert_intermediate_size);
      w = std::max(w, (e->gated ? 2 : 1) * (e->experts_per_token * e->expert_intermediate_size + shared) + e->experts);
    }
  }
  return w;
}

DType activation_dtype(const Model& model) {
  return info(model.dtype).bits >= 16 ? model.dtype : DType::bf16;
}

}  // namespace

// Peak of one forward pass: T tokens in flight, T = max(B, min(B*N, prefill_chunk)) (decode
// steps carry B tokens, chunked prefill at most `prefill_chunk`). Each token holds the residual
// stream and its normed copy (2*hidden) plus the widest intermediate of any layer (split over tp),
// in the activation dtype; plus fp32 logits for one row per sequence (vocab split over tp).
int64_t activation_bytes(const Model& model, int64_t batch, int64_t context, const MemoryOptions& opt) {
  const int64_t tp = opt.cache.tp;
  int64_t widest = 0;
  for (const Layer& layer : model.layers) widest = std::max(widest, widest_intermediate(layer));
  const int64_t tokens = std::max(batch, std::min(mul(batch, context), opt.prefill_chunk));
  const int64_t per_token = add(2 * model.hidden_size, ceil_div(widest, tp));
  const int64_t act = element_bytes(activation_dtype(model), mul(tokens, per_token));
  const int64_t logits = mul(batch, ceil_div(model.vocab_size, tp), 4);
  return add(act, logits);
}

int64_t total_bytes(const Model& model, int64_t batch, int64_t context, const MemoryOptions& opt) {
  const int64_t weights = weight_bytes(model, opt.weights, opt.cache.tp);
  const int64_t per_seq = add(kv_bytes_per_sequence(model, context, opt.cache), state_bytes_per_sequence(model, opt.cache));
  return add(add(weights, mul(batch, per_seq)), activation_bytes(model, batch, context, opt));
}

namespace {
bool fits(const Model& model, int64_t usable, int64_t batch, int64_t context, const MemoryOptions& opt) {
  try {
    return total_bytes(model, batch, context, opt) <= usable;
  } catch (const Error&) {  // a size past 64 bits certainly does not fit
    return false;
  }
}

// Largest x in [1, limit] with ok(x), given ok is monotone (true then false); 0 if !ok(1).
template <typename Ok>
int64_t largest_true(int64_t limit, Ok ok) {
  if (!ok(1)) return 0;
  int64_t lo = 1, hi = 2;
  while (hi < limit && ok(hi)) {
    lo = hi;
    hi = hi > limit / 2 ? limit : hi * 2;
  }
  if (hi >= limit && ok(limit)) return limit;
  while (hi - lo > 1) {  // ok(lo) && !ok(hi)
    const int64_t mid = lo + (hi - lo) / 2;
    (ok(mid) ? lo : hi) = mid;
  }
  return lo;
}
constexpr int64_t kSearchLimit = int64_t{1} << 50;  // beyond any real batch or context
}  // namespace

int64_t max_batch_at(const Model& model, int64_t usable, int64_t context, const MemoryOptions& opt) {
  return largest_true(kSearchLimit, [&](int64_t b) { return fits(model, usable, b, context, opt); });
}

std::optional<int64_t> max_context_at(const Model& model, int64_t usable, int64_t batch, const MemoryOptions& opt) {
  const int64_t n = largest_true(kSearchLimit, [&](int64_t c) { return fits(model, usable, batch, c, opt); });
  if (n == kSearchLimit) return std::nullopt;
  return n;
}

MemoryPlan plan_memory(const Model& model, const Gpu& gpu, int64_t batch, int64_t context, const MemoryOptions& opt) {
  MemoryPlan p;
  p.weights_bytes = weight_bytes(model, opt.weights, opt.cache.tp);
  p.kv_bytes_per_token = kv_bytes_per_token(model, opt.cache);
  p.kv_bytes_per_sequence = kv_bytes_per_sequence(model, context, opt.cache);
  p.kv_cache_bytes = mul(batch, p.kv_bytes_per_sequence);
  p.state_bytes_per_sequence = state_bytes_per_sequence(model, opt.cache);
  p.state_bytes = mul(batch, p.state_bytes_per_sequence);
  p.activation_bytes = activation_bytes(model, batch, context, opt);
  p.total_bytes = add(add(p.weights_bytes, p.kv_cache_bytes), add(p.state_bytes, p.activation_bytes));
  p.capacity_bytes = gpu.memory_bytes;
  p.usable_bytes = static_cast<int64_t>(std::floor(static_cast<double>(gpu.memory_bytes) * opt.gpu_memory_utilization));
  p.headroom_bytes = p.usable_bytes - p.total_bytes;
  p.fits = p.headroom_bytes >= 0;
  p.max_batch = max_batch_at(model, p.usable_bytes, context, opt);
  p.max_context = max_context_at(model, p.usable_bytes, batch, opt);
  return p;
}

}  // namespace kvplan
