#include "core/params.h"

#include <algorithm>
#include <set>

#include "core/checked.h"

namespace kvplan {

int64_t Tensor::params() const { return mul(rows, cols, count); }

namespace {

int64_t norm_params(const Model& m) { return m.norm == Norm::layernorm ? 2 * m.hidden_size : m.hidden_size; }

void mixer_tensors(const Model& m, const Mixer& mixer, std::vector<Tensor>& out) {
  std::visit([&](const auto& x) { add_tensors(x, m.hidden_size, out); }, mixer);
}

void mlp_tensors(const Model& m, const Mlp& mlp, std::vector<Tensor>& out) {
  const int64_t h = m.hidden_size;
  auto ffn = [&](const std::string& prefix, int64_t inter, bool gated, bool bias, TensorRole role, int64_t count) {
    if (gated) out.push_back(linear_weight(prefix + "gate_proj", inter, h, role, count));
    out.push_back(linear_weight(prefix + "up_proj", inter, h, role, count));
    out.push_back(linear_weight(prefix + "down_proj", h, inter, role, count));
    if (bias) out.push_back(vector_weight(prefix + "bias", (gated ? 2 : 1) * inter + h, TensorRole::other, count));
  };
  if (auto* d = std::get_if<DenseMlp>(&mlp)) {
    ffn("", d->intermediate_size, d->gated, d->bias, TensorRole::linear, 1);
  } else if (auto* e = std::get_if<MoeMlp>(&mlp)) {
    out.push_back({"router", e->experts, h, 1, TensorRole::router, false});
    if (e->router_bias) out.push_back(vector_weight("router.bias", e->experts));
    if (e->router_scales) out.push_back(vector_weight("router.scales", add(h, e->experts), TensorRole::router));
    ffn("experts.", e->expert_intermediate_size, e->gated, e->bias, TensorRole::expert, e->experts);
    if (e->shared_experts > 0) {
      const int64_t inter = e->shared_intermediate_size > 0 ? e->shared_intermediate_size : e->expert_intermediate_size;
      ffn("shared_experts.", inter, e->gated, e->bias, TensorRole::shared_expert, e->shared_experts);
    }
    if (e->shared_expert_gate) out.push_back({"shared_expert_gate", 1, h, 1, TensorRole::router, false});
  }
}

}  // namespace

std::vector<Tensor> layer_tensors(const Model& model, const Layer& layer) {
  std::vector<Tensor> out;
  if (layer.mixer) mixer_tensors(model, *layer.mixer, out);
  if (layer.mlp) mlp_tensors(model, *layer.mlp, out);
  if (layer.norms > 0) out.push_back({"layer_norms", norm_params(model), 1, layer.norms, TensorRole::norm, false});
  for (Tensor& t : out) {
    if (!t.quantizable) continue;
    t.unquantized = std::find(layer.unquantized.begin(), layer.unquantized.end(), t.name) != layer.unquantized.end();
    for (const TensorFormat& f : layer.formats)
      if (f.tensor == t.name) t.format = f.dtype;
  }
  return out;
}

std::vector<Tensor> global_tensors(const Model& model) {
  std::vector<Tensor> out;
  out.push_back({"embed_tokens", model.vocab_size, model.hidden_size, 1, TensorRole::embedding, false});
  if (!model.tie_word_embeddings) {
    const int64_t rows = model.head_vocab_size > 0 ? model.head_vocab_size : model.vocab_size;
    Tensor head{"lm_head", rows, model.hidden_size, 1, TensorRole::lm_head, false};
    head.format = model.lm_head_dtype;
    out.push_back(head);
    if (model.lm_head_bias) out.push_back(vector_weight("lm_head.bias", model.vocab_size, TensorRole::lm_head));
  }
  if (model.final_norm) out.push_back({"final_norm", norm_params(model), 1, 1, TensorRole::norm, false});
  if (model.head_fc_inputs > 0) {
    Tensor fc{"fc", model.hidden_size, model.head_fc_inputs, 1, TensorRole::linear, true};
    fc.replicated = true;
    out.push_back(fc);
  }
  return out;
}

std::vector<bool> shares_earlier_weights(const Model& model) {
  std::vector<bool> out(model.layers.size(), false);
  std::set<std::string> seen;
  for (size_t i = 0; i < model.layers.size(); ++i) {
    const std::string& tag = model.layers[i].shared_weights;
    if (tag.empty()) continue;
    out[i] = !seen.insert(tag).second;
  }
  return out;
}

ParamCounts count_params(const Model& model) {
  ParamCounts c;
  auto add_tensor = [&](const Tensor& t, bool in_mixer) {
    const int64_t p = t.params();
    c.total = add(c.total, p);
    int64_t active = p;
    if (t.role == TensorRole::expert) active = 0;  // added per layer below with experts_per_token
    c.active = add(c.active, active);
    switch (t.role) {
      case TensorRole::embedding: c.embedding = add(c.embedding, p); break;
      case TensorRole::lm_head: c.lm_head = add(c.lm_head, p); break;
      case TensorRole::norm:
        if (t.name == "layer_norms" || t.name == "final_norm") { c.norms = add(c.norms, p); break; }
        [[fallthrough]];
      default:
        if (in_mixer) c.mixers = add(c.mixers, p); else c.mlps = add(c.mlps, p);
    }
  };
  for (const Tensor& t : global_tensors(model)) add_tensor(t, false);
  for (const Tensor& t : model.towers) {  // in the total, not per token
    c.total = add(c.total, t.params());
    c.towers = add(c.towers, t.params());
  }
  const std::vector<bool> shared = shares_earlier_weights(model);
  for (size_t i = 0; i < model.layers.size(); ++i) {
    if (shared[i]) continue;
    const Layer& layer = model.layers[i];
    std::vector<Tensor> mixer_part, mlp_part;
    if (layer.mixer) mixer_tensors(model, *layer.mixer, mixer_part);
    if (layer.mlp) mlp_tensors(model, *layer.mlp, mlp_part);
    for (const Tensor& t : mixer_part) add_tensor(t, true);
    for (const Tensor& t : mlp_part) {
      add_tensor(t, false);
      if (t.role == TensorRole::expert) {
        const auto& moe = std::get<MoeMlp>(*layer.mlp);
        c.active = add(c.active, mul(t.rows, t.cols, moe.experts_per_token));
      }
    }
    if (layer.norms > 0) add_tensor({"layer_norms", norm_params(model), 1, layer.norms, TensorRole::norm, false}, false);
  }
  return c;
}

WeightDTypes weight_dtypes(const Model& model, std::optional<DType> override) {
  if (override) return {*override, *override, false, std::nullopt};
  return {model.dtype, model.expert_dtype.value_or(model.dtype), true, std::nullopt};
}

DType base_dtype(const Model& model, DType linear_dtype) {
  if (info(linear_dtype).bits >= 16) return linear_dtype;
  return info(model.dtype).bits >= 16 ? model.dtype : DType::bf16;
}

DType base_dtype(const Model& model, const WeightDTypes& w) { return w.base.value_or(base_dtype(model, w.linear)); }

int64_t tensor_bytes(const Tensor& t, const Model& model, const WeightDTypes& w) {
  if (t.format && w.per_module) return mul(t.count, matrix_bytes(*t.format, t.rows, t.cols));
  if (t.quantizable && !(t.unquantized && w.per_module)) {
    const DType d = t.role == TensorRole::expert ? w.expert : w.linear;
    return mul(t.count, matrix_bytes(d, t.rows, t.cols));
  }
  return element_bytes(base_dtype(model, w), t.params());
}

int64_t stage_weight_bytes(const Model& model, const WeightDTypes& weight_dtype, int64_t tp, size_t first_layer,
                           size_t end_layer, bool first_stage, bool last_stage, const Parallel& parallel) {
  int64_t total = 0, replicated = 0;
  auto count = [&](const Tensor& t) {
    const int64_t b = tensor_bytes(t, model, weight_dtype);
    if (parallel.expert_parallel() && t.role == TensorRole::expert)  // whole experts, (count + redundant) / ep of them
      replicated = add(replicated, mul(b / t.count, (t.count + parallel.redundant_experts) / parallel.ep));
    else if (replicated_under_tp(t)) replicated = add(replicated, b);
    else total = add(total, b);
  };
  for (const Tensor& t : global_tensors(model)) {
    const bool here = t.role == TensorRole::embedding ? first_stage || (last_stage && model.tie_word_embeddings)
                                                      : last_stage;
    if (here) count(t);
  }
  if (first_stage)
    for (const Tensor& t : model.towers) total = add(total, tensor_bytes(t, model, weight_dtype));
  const std::vector<bool> shared = shares_earlier_weights(model);
  for (size_t i = first_layer; i < end_layer && i < model.layers.size(); ++i) {
    if (shared[i]) continue;
    for (const Tensor& t : layer_tensors(model, model.layers[i])) count(t);
  }
  // Tensor parallel (Megatron-style): matrices, embeddings and experts split over tp GPUs;
  // norms and routers are replicated on every GPU (replicated_under_tp), and so are whole experts
  // under expert parallelism (not split). Rounded up per GPU.
  return add(ceil_div(total, tp), replicated);
}

int64_t weight_bytes(const Model& model, const WeightDTypes& weight_dtype, int64_t tp, const Parallel& parallel) {
  return stage_weight_bytes(model, weight_dtype, tp, 0, model.layers.size(), true, true, parallel);
}

}  // namespace kvplan
