#include "core/params.h"

#include <set>

#include "core/checked.h"

namespace kvplan {

int64_t Tensor::params() const { return mul(rows, cols, count); }

namespace {

Tensor linear(std::string name, int64_t out, int64_t in, TensorRole role = TensorRole::linear, int64_t count = 1) {
  return {std::move(name), out, in, count, role, true};
}
Tensor vec(std::string name, int64_t n, TensorRole role = TensorRole::other, int64_t count = 1) {
  return {std::move(name), n, 1, count, role, false};
}

int64_t norm_params(const Model& m) { return m.norm == Norm::layernorm ? 2 * m.hidden_size : m.hidden_size; }

void mixer_tensors(const Model& m, const Mixer& mixer, std::vector<Tensor>& out) {
  const int64_t h = m.hidden_size;
  if (auto* a = std::get_if<Attention>(&mixer)) {
    const int64_t q = a->heads * a->head_dim, k = a->kv_heads * a->head_dim, v = a->kv_heads * a->v_head_dim;
    out.push_back(linear("q_proj", q, a->input_size));
    out.push_back(linear("k_proj", k, a->input_size));
    out.push_back(linear("v_proj", v, a->input_size));
    out.push_back(linear("o_proj", h, a->heads * a->v_head_dim));
    if (a->qkv_bias) out.push_back(vec("qkv_bias", q + k + v));
    if (a->o_bias) out.push_back(vec("o_bias", h));
    if (a->qk_norm) out.push_back(vec("q_norm+k_norm", 2 * a->head_dim, TensorRole::norm));
    if (a->sinks) out.push_back(vec("sinks", a->heads));
  } else if (auto* l = std::get_if<Mla>(&mixer)) {
    const int64_t qk = l->qk_nope_head_dim + l->qk_rope_head_dim;
    if (l->q_lora_rank > 0) {
      out.push_back(linear("q_a_proj", l->q_lora_rank, h));
      out.push_back(vec("q_a_layernorm", l->q_lora_rank, TensorRole::norm));
      out.push_back(linear("q_b_proj", l->heads * qk, l->q_lora_rank));
    } else {
      out.push_back(linear("q_proj", l->heads * qk, h));
    }
    out.push_back(linear("kv_a_proj_with_mqa", l->kv_lora_rank + l->qk_rope_head_dim, h));
    out.push_back(vec("kv_a_layernorm", l->kv_lora_rank, TensorRole::norm));
    out.push_back(linear("kv_b_proj", l->heads * (l->qk_nope_head_dim + l->v_head_dim), l->kv_lora_rank));
    out.push_back(linear("o_proj", h, l->heads * l->v_head_dim));
  } else if (auto* s = std::get_if<Mamba1>(&mixer)) {
    // transformers MambaMixer: in_proj, conv1d, x_proj, dt_proj (always biased), A_log, D, out_proj.
    out.push_back(linear("in_proj", 2 * s->d_inner, h));
    if (s->proj_bias) out.push_back(vec("in_proj.bias", 2 * s->d_inner));
    out.push_back({"conv1d", s->d_inner, s->d_conv, 1, TensorRole::other, false});
    if (s->conv_bias) out.push_back(vec("conv1d.bias", s->d_inner));
    out.push_back(linear("x_proj", s->dt_rank + 2 * s->d_state, s->d_inner));
    out.push_back(linear("dt_proj", s->d_inner, s->dt_rank));
    out.push_back(vec("dt_proj.bias", s->d_inner));
    out.push_back({"A_log", s->d_inner, s->d_state, 1, TensorRole::other, false});
    out.push_back(vec("D", s->d_inner));
    out.push_back(linear("out_proj", h, s->d_inner));
    if (s->proj_bias) out.push_back(vec("out_proj.bias", h));
  } else if (auto* s2 = std::get_if<Mamba2>(&mixer)) {
    // transformers Mamba2Mixer: in_proj -> [z, x, B, C, dt], conv1d over x,B,C, gated RMSNorm, out_proj.
    const int64_t in_out = 2 * s2->d_inner() + 2 * s2->n_groups * s2->d_state + s2->n_heads;
    out.push_back(linear("in_proj", in_out, h));
    if (s2->proj_bias) out.push_back(vec("in_proj.bias", in_out));
    out.push_back({"conv1d", s2->conv_dim(), s2->d_conv, 1, TensorRole::other, false});
    if (s2->conv_bias) out.push_back(vec("conv1d.bias", s2->conv_dim()));
    out.push_back(vec("dt_bias+A_log+D", 3 * s2->n_heads));
    out.push_back(vec("norm", s2->d_inner(), TensorRole::norm));
    out.push_back(linear("out_proj", h, s2->d_inner()));
    if (s2->proj_bias) out.push_back(vec("out_proj.bias", h));
  }
}

void mlp_tensors(const Model& m, const Mlp& mlp, std::vector<Tensor>& out) {
  const int64_t h = m.hidden_size;
  auto ffn = [&](const std::string& prefix, int64_t inter, bool gated, bool bias, TensorRole role, int64_t count) {
    if (gated) out.push_back(linear(prefix + "gate_proj", inter, h, role, count));
    out.push_back(linear(prefix + "up_proj", inter, h, role, count));
    out.push_back(linear(prefix + "down_proj", h, inter, role, count));
    if (bias) out.push_back(vec(prefix + "bias", (gated ? 2 : 1) * inter + h, TensorRole::other, count));
  };
  if (auto* d = std::get_if<DenseMlp>(&mlp)) {
    ffn("", d->intermediate_size, d->gated, d->bias, TensorRole::linear, 1);
  } else if (auto* e = std::get_if<MoeMlp>(&mlp)) {
    out.push_back({"router", e->experts, h, 1, TensorRole::router, false});
    if (e->router_bias) out.push_back(vec("router.bias", e->experts));
    ffn("experts.", e->expert_intermediate_size, e->gated, e->bias, TensorRole::expert, e->experts);
    if (e->shared_experts > 0) {
      const int64_t inter = e->shared_intermediate_size > 0 ? e->shared_intermediate_size : e->expert_intermediate_size;
      ffn("shared_experts.", inter, e->gated, e->bias, TensorRole::shared_expert, e->shared_experts);
    }
  }
}

}  // namespace

std::vector<Tensor> layer_tensors(const Model& model, const Layer& layer) {
  std::vector<Tensor> out;
  if (layer.mixer) mixer_tensors(model, *layer.mixer, out);
  if (layer.mlp) mlp_tensors(model, *layer.mlp, out);
  if (layer.norms > 0) out.push_back({"layer_norms", norm_params(model), 1, layer.norms, TensorRole::norm, false});
  return out;
}

std::vector<Tensor> global_tensors(const Model& model) {
  std::vector<Tensor> out;
  out.push_back({"embed_tokens", model.vocab_size, model.hidden_size, 1, TensorRole::embedding, false});
  if (!model.tie_word_embeddings)
    out.push_back({"lm_head", model.vocab_size, model.hidden_size, 1, TensorRole::lm_head, false});
  if (model.final_norm) out.push_back({"final_norm", norm_params(model), 1, 1, TensorRole::norm, false});
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
  if (override) return {*override, *override};
  return {model.dtype, model.expert_dtype.value_or(model.dtype)};
}

DType base_dtype(const Model& model, DType linear_dtype) {
  if (info(linear_dtype).bits >= 16) return linear_dtype;
  return info(model.dtype).bits >= 16 ? model.dtype : DType::bf16;
}

int64_t tensor_bytes(const Tensor& t, const Model& model, const WeightDTypes& w) {
  if (t.quantizable) {
    const DType d = t.role == TensorRole::expert ? w.expert : w.linear;
    return mul(t.count, matrix_bytes(d, t.rows, t.cols));
  }
  return element_bytes(base_dtype(model, w.linear), t.params());
}

int64_t weight_bytes(const Model& model, const WeightDTypes& weight_dtype, int64_t tp) {
  int64_t total = 0, replicated = 0;
  for (const Tensor& t : global_tensors(model)) {
    const int64_t b = tensor_bytes(t, model, weight_dtype);
    if (t.role == TensorRole::norm) replicated = add(replicated, b); else total = add(total, b);
  }
  const std::vector<bool> shared = shares_earlier_weights(model);
  for (size_t i = 0; i < model.layers.size(); ++i) {
    if (shared[i]) continue;
    for (const Tensor& t : layer_tensors(model, model.layers[i])) {
      const int64_t b = tensor_bytes(t, model, weight_dtype);
      if (t.role == TensorRole::norm) replicated = add(replicated, b); else total = add(total, b);
    }
  }
  // Tensor parallel (Megatron-style): matrices, embeddings and experts split over tp GPUs;
  // norms are replicated on every GPU. Rounded up per GPU.
  return add(ceil_div(total, tp), replicated);
}

}  // namespace kvplan
