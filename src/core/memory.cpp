#include "core/memory.h"
#include "core/search.h"

#include <algorithm>
#include <cmath>

#include "core/checked.h"
#include "core/params.h"
#include "core/serving_dtypes.h"
#include "core/speculative.h"

namespace kvplan {

namespace {

// Widest per-token intermediate a layer materializes (elements), before tensor-parallel split.
int64_t widest_intermediate(const Layer& layer) {
  int64_t w = 0;
  if (layer.mixer) w = std::visit([](const auto& m) { return widest_intermediate(m); }, *layer.mixer);
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

}  // namespace

MemoryModel memory_model(const Model& model, const MemoryOptions& opt) {
  const int64_t tp = opt.cache.tp;
  MemoryModel mm;
  mm.weights_bytes = weight_bytes(model, opt.weights, tp, opt.parallel);
  mm.kv = kv_terms(model, opt.cache);
  mm.kv_bytes_per_token = kv_bytes_per_token(model, opt.cache);
  mm.state_bytes_per_sequence = state_bytes_per_sequence(model, opt.cache);
  // A speculative drafter runs beside the (last) stage: its layers cache every token of the
  // sequence as the target's do, and its own weights join the GPU's (every engine; engine.cpp sizes
  // the engines' pools the same way).
  const Model* draft = opt.engine.draft.get();
  const int64_t draft_weights = draft ? draft_weight_bytes(opt.engine, opt.weights, tp) : 0;
  const int64_t draft_kv = draft ? kv_bytes_per_token(*draft, opt.cache) : 0;
  if (opt.engine.pipeline_parallel_size > 1) {
    // Pipeline stages: a GPU holds its stage's layers. The plan is the fullest stage's, taking the
    // largest weights and the largest cache over the stages (the engine's plan sizes each stage).
    const auto stages = pipeline_stages(model.layers.size(), opt.engine.pipeline_parallel_size);
    mm.weights_bytes = 0;
    int64_t kv_most = -1;
    for (size_t s = 0; s < stages.size(); ++s) {
      const auto [first, end] = stages[s];
      const bool last = s + 1 == stages.size();
      int64_t weights = stage_weight_bytes(model, opt.weights, tp, first, end, s == 0, last, opt.parallel);
      Model part = stage_model(model, first, end);
      if (last && draft) {
        weights = add(weights, draft_weights);
        part.layers.insert(part.layers.end(), draft->layers.begin(), draft->layers.end());
      }
      if (weights > mm.weights_bytes) {
        mm.weights_bytes = weights;
        mm.draft_weights_bytes = last ? draft_weights : 0;
      }
      const int64_t per_token = kv_bytes_per_token(part, opt.cache), state = state_bytes_per_sequence(part, opt.cache);
      if (add(per_token, state) <= kv_most) continue;
      kv_most = add(per_token, state);
      mm.kv = kv_terms(part, opt.cache);
      mm.kv_bytes_per_token = per_token;
      mm.state_bytes_per_sequence = state;
      mm.draft_kv_bytes_per_token = last ? draft_kv : 0;
    }
  } else if (draft) {
    mm.draft_weights_bytes = draft_weights;
    mm.weights_bytes = add(mm.weights_bytes, draft_weights);
    const KvTerms dk = kv_terms(*draft, opt.cache);
    mm.kv.full_bytes_per_token = add(mm.kv.full_bytes_per_token, dk.full_bytes_per_token);
    mm.kv.windowed.insert(mm.kv.windowed.end(), dk.windowed.begin(), dk.windowed.end());
    mm.draft_kv_bytes_per_token = draft_kv;
    mm.kv_bytes_per_token = add(mm.kv_bytes_per_token, mm.draft_kv_bytes_per_token);
    mm.state_bytes_per_sequence = add(mm.state_bytes_per_sequence, state_bytes_per_sequence(*draft, opt.cache));
  }
  int64_t widest = 0;
  for (const Layer& layer : model.layers) widest = std::max(widest, widest_intermediate(layer));
  mm.activation_elements_per_token = add(2 * model.hidden_size, ceil_div(widest, tp));
  mm.activation_dtype = activation_dtype(model, opt);
  mm.logits_bytes_per_sequence = mul(ceil_div(model.vocab_size, tp), 4);
  mm.prefill_chunk = opt.prefill_chunk;
  mm.sharing = opt.sharing;
  mm.offload = opt.offload;
  for (const Layer& layer : model.layers)
    if (kv_bytes_per_token(layer, opt.cache) > 0 && resident_window(layer, opt.cache) == 0) ++mm.full_kv_layers;
  return mm;
}

DType activation_dtype(const Model& model, const MemoryOptions& opt) {
  return opt.model_dtype.value_or(activation_dtype(model));
}

// Peak of one forward pass: T tokens in flight, T = max(B, min(B*N, prefill_chunk)) (decode
// steps carry B tokens, chunked prefill at most `prefill_chunk`). Each token holds the residual
// stream and its normed copy (2*hidden) plus the widest intermediate of any layer (split over tp),
// in the activation dtype; plus fp32 logits for one row per sequence (vocab split over tp).
int64_t activation_bytes(const MemoryModel& mm, int64_t batch, int64_t context) {
  const int64_t tokens = std::max(batch, std::min(mul(batch, context), mm.prefill_chunk));
  const int64_t act = element_bytes(mm.activation_dtype, mul(tokens, mm.activation_elements_per_token));
  return add(act, mul(batch, mm.logits_bytes_per_sequence));
}

int64_t activation_bytes(const Model& model, int64_t batch, int64_t context, const MemoryOptions& opt) {
  return activation_bytes(memory_model(model, opt), batch, context);
}

// batch requests of `branches` sequences each: the KV cache as shared and allocated, a state and
// activations per sequence.
OffloadUse offload_at(const MemoryModel& mm, int64_t batch, int64_t context) {
  if (!mm.offload.enabled()) return {};
  return offload_use(mm.offload, full_kv_bytes(mm.kv, batch, context, mm.sharing), mm.full_kv_layers);
}

namespace {
// The parts of one (batch, context) point that memory sums: the one place of that sum.
struct Parts {
  KvUse kv;
  OffloadUse offload;
  int64_t state_bytes = 0;
  int64_t activation_bytes = 0;
  int64_t total_bytes = 0;  // weights + KV in HBM (all of it, less the tier's, plus staging) + state + activations
};
Parts parts(const MemoryModel& mm, int64_t batch, int64_t context) {
  Parts p;
  p.kv = kv_use(mm.kv, batch, context, mm.sharing);
  p.offload = offload_at(mm, batch, context);
  p.state_bytes = mul(p.kv.sequences, mm.state_bytes_per_sequence);
  p.activation_bytes = activation_bytes(mm, p.kv.sequences, context);
  const int64_t hbm_kv = add(p.kv.total_bytes - p.offload.offloaded_bytes, p.offload.staging_bytes);
  p.total_bytes = add(add(mm.weights_bytes, hbm_kv), add(p.state_bytes, p.activation_bytes));
  return p;
}
}  // namespace

int64_t total_bytes(const MemoryModel& mm, int64_t batch, int64_t context) { return parts(mm, batch, context).total_bytes; }

int64_t total_bytes(const Model& model, int64_t batch, int64_t context, const MemoryOptions& opt) {
  return total_bytes(memory_model(model, opt), batch, context);
}

namespace {
bool fits(const MemoryModel& mm, int64_t usable, int64_t batch, int64_t context) {
  try {
    const Parts p = parts(mm, batch, context);
    if (mm.offload.enabled() && p.offload.offloaded_bytes > mm.offload.capacity_bytes) return false;
    return p.total_bytes <= usable;
  } catch (const Error&) {  // a size past 64 bits certainly does not fit
    return false;
  }
}

constexpr int64_t kSearchLimit = int64_t{1} << 50;  // beyond any real batch or context
}  // namespace

int64_t max_batch_at(const MemoryModel& mm, int64_t usable, int64_t context) {
  return largest_true(kSearchLimit, [&](int64_t b) { return fits(mm, usable, b, context); });
}

std::optional<int64_t> max_context_at(const MemoryModel& mm, int64_t usable, int64_t batch) {
  const int64_t n = largest_true(kSearchLimit, [&](int64_t c) { return fits(mm, usable, batch, c); });
  if (n == kSearchLimit) return std::nullopt;
  return n;
}

int64_t usable_bytes(int64_t gpu_memory_bytes, double utilization) {
  return static_cast<int64_t>(std::floor(static_cast<double>(gpu_memory_bytes) * utilization));
}

MemoryPlan size_memory(const MemoryModel& mm, int64_t gpu_memory_bytes, double utilization, int64_t batch,
                       int64_t context) {
  MemoryPlan p;
  p.weights_bytes = mm.weights_bytes;
  p.kv_bytes_per_token = mm.kv_bytes_per_token;
  p.draft_weights_bytes = mm.draft_weights_bytes;
  p.draft_kv_bytes_per_token = mm.draft_kv_bytes_per_token;
  p.kv_bytes_per_sequence = kv_bytes_per_sequence(mm.kv, context);
  const Parts sum = parts(mm, batch, context);
  p.kv = sum.kv;
  p.kv_cache_bytes = sum.kv.total_bytes;
  p.offload = sum.offload;
  p.state_bytes_per_sequence = mm.state_bytes_per_sequence;
  p.state_bytes = sum.state_bytes;
  p.activation_bytes = sum.activation_bytes;
  p.total_bytes = sum.total_bytes;
  p.capacity_bytes = gpu_memory_bytes;
  p.usable_bytes = usable_bytes(gpu_memory_bytes, utilization);
  p.headroom_bytes = p.usable_bytes - p.total_bytes;
  p.fits = p.headroom_bytes >= 0;
  return p;
}

MemoryPlan plan_memory(const MemoryModel& mm, int64_t gpu_memory_bytes, double utilization, int64_t batch,
                       int64_t context) {
  MemoryPlan p = size_memory(mm, gpu_memory_bytes, utilization, batch, context);
  p.max_batch = max_batch_at(mm, p.usable_bytes, context);
  p.max_context = max_context_at(mm, p.usable_bytes, batch);
  return p;
}

MemoryPlan plan_memory(const Model& model, const Gpu& gpu, int64_t batch, int64_t context, const MemoryOptions& opt) {
  return plan_memory(memory_model(model, opt), gpu.memory_bytes, opt.gpu_memory_utilization, batch, context);
}

}  // namespace kvplan
