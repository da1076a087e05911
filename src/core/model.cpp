#include "core/model.h"

#include <string>

#include "core/error.h"

namespace kvplan {

LayerKind kind_of(const Layer& layer) {
  if (!layer.mixer) return LayerKind::mlp_only;
  if (auto* a = std::get_if<Attention>(&*layer.mixer))
    return a->sliding_window > 0 ? LayerKind::sliding_attention : LayerKind::attention;
  if (std::holds_alternative<Mla>(*layer.mixer)) return LayerKind::mla;
  if (std::holds_alternative<Mamba1>(*layer.mixer)) return LayerKind::mamba1;
  return LayerKind::mamba2;
}

const char* name(LayerKind kind) {
  switch (kind) {
    case LayerKind::attention: return "attention";
    case LayerKind::sliding_attention: return "sliding_attention";
    case LayerKind::mla: return "mla";
    case LayerKind::mamba1: return "mamba1";
    case LayerKind::mamba2: return "mamba2";
    case LayerKind::mlp_only: return "mlp_only";
  }
  return "?";
}

namespace {

struct Checker {
  std::string where;
  void positive(int64_t v, const char* key) const {
    if (v <= 0) throw Error(where + key + " must be positive (got " + std::to_string(v) + ")");
  }
  void non_negative(int64_t v, const char* key) const {
    if (v < 0) throw Error(where + key + " must not be negative (got " + std::to_string(v) + ")");
  }
  void fail(const std::string& what) const { throw Error(where + what); }
};

void check_mixer(const Checker& c, const Mixer& m) {
  if (auto* a = std::get_if<Attention>(&m)) {
    c.positive(a->heads, "heads");
    c.positive(a->kv_heads, "kv_heads");
    c.positive(a->head_dim, "head_dim");
    c.positive(a->v_head_dim, "v_head_dim");
    c.positive(a->input_size, "input_size");
    c.non_negative(a->sliding_window, "sliding_window");
    if (a->kv_heads > a->heads)
      c.fail("kv_heads (" + std::to_string(a->kv_heads) + ") exceeds heads (" + std::to_string(a->heads) + ")");
    if (a->heads % a->kv_heads != 0)
      c.fail("heads (" + std::to_string(a->heads) + ") not divisible by kv_heads (" + std::to_string(a->kv_heads) + ")");
  } else if (auto* l = std::get_if<Mla>(&m)) {
    c.positive(l->heads, "heads");
    c.non_negative(l->q_lora_rank, "q_lora_rank");
    c.positive(l->kv_lora_rank, "kv_lora_rank");
    c.positive(l->qk_nope_head_dim, "qk_nope_head_dim");
    c.positive(l->qk_rope_head_dim, "qk_rope_head_dim");
    c.positive(l->v_head_dim, "v_head_dim");
  } else if (auto* s = std::get_if<Mamba1>(&m)) {
    c.positive(s->d_inner, "d_inner");
    c.positive(s->d_state, "d_state");
    c.positive(s->d_conv, "d_conv");
    c.positive(s->dt_rank, "dt_rank");
  } else if (auto* s2 = std::get_if<Mamba2>(&m)) {
    c.positive(s2->n_heads, "n_heads");
    c.positive(s2->head_dim, "head_dim");
    c.positive(s2->n_groups, "n_groups");
    c.positive(s2->d_state, "d_state");
    c.positive(s2->d_conv, "d_conv");
    if (s2->n_heads % s2->n_groups != 0)
      c.fail("n_heads (" + std::to_string(s2->n_heads) + ") not divisible by n_groups (" +
             std::to_string(s2->n_groups) + ")");
  }
}

void check_mlp(const Checker& c, const Mlp& m) {
  if (auto* d = std::get_if<DenseMlp>(&m)) {
    c.positive(d->intermediate_size, "intermediate_size");
  } else if (auto* e = std::get_if<MoeMlp>(&m)) {
    c.positive(e->experts, "experts");
    c.positive(e->experts_per_token, "experts_per_token");
    c.positive(e->expert_intermediate_size, "expert_intermediate_size");
    c.non_negative(e->shared_experts, "shared_experts");
    c.non_negative(e->shared_intermediate_size, "shared_intermediate_size");
    if (e->experts_per_token > e->experts)
      c.fail("experts_per_token (" + std::to_string(e->experts_per_token) + ") exceeds experts (" +
             std::to_string(e->experts) + ")");
  }
}

}  // namespace

void check_model(const Model& model) {
  const std::string who = "model '" + model.id + "': ";
  Checker top{who};
  top.positive(model.vocab_size, "vocab_size");
  top.positive(model.hidden_size, "hidden_size");
  top.non_negative(model.max_context, "max_context");
  if (model.layers.empty()) top.fail("has no layers");
  for (size_t i = 0; i < model.layers.size(); ++i)
    check_layer(model.layers[i], who + "layer " + std::to_string(i) + " (" + model.layers[i].block + "): ");
}

void check_layer(const Layer& layer, const std::string& where) {
  Checker c{where};
  if (!layer.mixer && !layer.mlp) c.fail("has neither a mixer nor an mlp");
  if (layer.mixer) check_mixer(c, *layer.mixer);
  if (layer.mlp) check_mlp(c, *layer.mlp);
  c.non_negative(layer.norms, "norms");
}

}  // namespace kvplan
