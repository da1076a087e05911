#include "core/sweep.h"

#include <algorithm>
#include <string>

#include "core/error.h"

namespace kvplan {

namespace {
// The layers of one kind, as a model of their own (for that kind's KV terms).
Model only_kind(const Model& model, LayerKind kind) {
  Model m = model;
  m.layers.clear();
  for (const Layer& layer : model.layers)
    if (kind_of(layer) == kind) m.layers.push_back(layer);
  return m;
}
}  // namespace

namespace {
// The smallest point an estimate accepts: one token, or the shared prefix or trunk's length.
Workload smallest_point(const MemoryOptions& o) {
  const int64_t n = std::max<int64_t>({1, o.sharing.shared_prefix, o.sharing.trunk});
  return Workload{1, n, n, 0};
}
}  // namespace

SweepModel::SweepModel(const Model& model, const Gpu& gpu, const MemoryOptions& options)
    : e_(estimate(model, gpu, smallest_point(options), options)),
      memory_(memory_model(model, options)),
      prefill_(model, gpu, options),
      decode_(model, gpu, options) {
  for (size_t i = 0; i < e_.layers.size(); ++i)
    kind_kv_.emplace_back(i, kv_terms(only_kind(model, e_.layers[i].kind), options.cache));
  if (e_.speculative) speculative_.emplace(model, gpu, options);
}

const Estimate& SweepModel::at(const Workload& w) {
  Estimate& e = e_;
  if (w.batch < 1 || w.context < 1 || w.prompt < 0 || w.gen < 0)  // estimate()'s own check, for its message
    estimate(e.model, e.gpu, w, e.options);
  check_sharing(e.options.sharing, w.context);
  e.workload = w;
  if (e.workload.prompt == 0) e.workload.prompt = w.context;
  try {
    e.memory = size_memory(memory_, e.gpu.memory_bytes, e.options.gpu_memory_utilization, w.batch, w.context);
  } catch (const Error& err) {
    throw Error(std::string(err.what()) + " (batch " + std::to_string(w.batch) + " x context " +
                std::to_string(w.context) + " tokens)");
  }
  const bool engine = e.options.engine.profile.kind != EngineKind::ideal;
  if (w.context != memo_context_) {
    memo_context_ = w.context;
    memo_max_batch_ = max_batch_at(memory_, e.memory.usable_bytes, w.context);
    memo_compute_bound_batch_ = decode_.compute_bound_batch(w.context);
    if (speculative_) memo_pays_up_to_batch_ = speculative_->pays_up_to_batch(w.context);
    // Under an engine, its plan at max_model_len (default: the point's context), as estimate().
    if (engine) {
      const int64_t max_model_len = e.options.engine.max_model_len.value_or(w.context);
      if (w.context > max_model_len) estimate(e.model, e.gpu, w, e.options);  // its error
      e.engine = plan_engine(e.model, e.gpu, e.options, max_model_len);
    }
  }
  e.memory.max_batch = memo_max_batch_;
  auto it = max_context_by_batch_.find(w.batch);
  if (it == max_context_by_batch_.end())
    it = max_context_by_batch_.emplace(w.batch, max_context_at(memory_, e.memory.usable_bytes, w.batch)).first;
  e.memory.max_context = it->second;
  if (engine) apply_engine(e.memory, *e.engine, w.batch, w.context);
  if (e.options.lengths) {
    auto in_use = in_use_by_batch_.find(w.batch);
    if (in_use == in_use_by_batch_.end())
      in_use = in_use_by_batch_
                   .emplace(w.batch, engine ? engine_in_use(*e.engine, *e.options.lengths, w.batch)
                                            : kv_in_use(memory_, *e.options.lengths, e.memory.usable_bytes, w.batch))
                   .first;
    e.in_use = in_use->second;
  }
  for (const auto& [i, terms] : kind_kv_) e.layers[i].kv_bytes_per_sequence = kv_bytes_per_sequence(terms, w.context);
  e.prefill = prefill_.run(1, e.workload.prompt);
  e.batch_prefill = prefill_.run(w.batch, e.workload.prompt);
  e.decode = decode_.step(e.memory.kv.sequences, w.context);
  e.decode.compute_bound_batch = memo_compute_bound_batch_;
  if (speculative_) {
    e.speculative = speculative_->at(e.memory.kv.sequences, w.context);
    e.speculative->pays_up_to_batch = memo_pays_up_to_batch_;
  }
  e.cost = cost(e.gpu.price.usd_per_gpu_hour, e.options.cache.tp, output_tokens_per_s(e), e.batch_prefill,
                e.workload.prompt, w.gen);
  return e;
}

}  // namespace kvplan
