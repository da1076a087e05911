#include "core/model.h"

#include <cmath>
#include <map>

#include <string>

#include "core/checked.h"
#include "core/error.h"

namespace kvplan {

LayerKind kind_of(const Layer& layer) {
  if (!layer.mixer) return LayerKind::mlp_only;
  return std::visit([](const auto& m) { return layer_kind(m); }, *layer.mixer);
}

const char* name(LayerKind kind) {
  switch (kind) {
    case LayerKind::attention: return "attention";
    case LayerKind::sliding_attention: return "sliding_attention";
    case LayerKind::chunked_attention: return "chunked_attention";
    case LayerKind::mla: return "mla";
    case LayerKind::mla_sparse: return "mla_sparse";
    case LayerKind::mamba1: return "mamba1";
    case LayerKind::mamba2: return "mamba2";
    case LayerKind::gated_deltanet: return "gated_deltanet";
    case LayerKind::kda: return "kda";
    case LayerKind::parallel_hybrid: return "parallel_hybrid";
    case LayerKind::mlp_only: return "mlp_only";
  }
  return "?";
}

namespace {

void check_mlp(const Checker& c, const Mlp& m) {
  std::visit(
      [&](const auto& mlp) {
        using T = std::decay_t<decltype(mlp)>;
        if constexpr (std::is_same_v<T, DenseMlp>) {
          c.positive(mlp.intermediate_size, "intermediate_size");
        } else {
          static_assert(std::is_same_v<T, MoeMlp>);
          c.positive(mlp.experts, "experts");
          c.positive(mlp.experts_per_token, "experts_per_token");
          c.positive(mlp.expert_intermediate_size, "expert_intermediate_size");
          c.non_negative(mlp.shared_experts, "shared_experts");
          c.non_negative(mlp.shared_intermediate_size, "shared_intermediate_size");
          if (mlp.shared_expert_gate && mlp.shared_experts == 0) c.fail("shared_expert_gate without shared experts");
          if (mlp.experts_per_token > mlp.experts)
            c.fail("experts_per_token (" + std::to_string(mlp.experts_per_token) + ") exceeds experts (" +
                   std::to_string(mlp.experts) + ")");
        }
      },
      m);
}

}  // namespace

void check_model(const Model& model) {
  const std::string who = "model '" + model.id + "': ";
  Checker top{who};
  top.positive(model.vocab_size, "vocab_size");
  top.positive(model.hidden_size, "hidden_size");
  top.non_negative(model.max_context, "max_context");
  if (model.layers.empty()) top.fail("has no layers");
  if (model.tie_word_embeddings && (model.lm_head_dtype || model.lm_head_bias))
    top.fail(std::string("sets ") + (model.lm_head_dtype ? "lm_head_dtype" : "lm_head_bias") +
             " but ties its lm_head to the embedding (tie_word_embeddings)");
  for (size_t i = 0; i < model.layers.size(); ++i)
    check_layer(model.layers[i], who + "layer " + std::to_string(i) + " (" + model.layers[i].block + "): ");
  // Layers that share one copy of weights must have one shape: the copy is counted once.
  std::map<std::string, const Layer*> first;
  for (const Layer& l : model.layers) {
    if (l.shared_weights.empty()) continue;
    const auto [it, added] = first.emplace(l.shared_weights, &l);
    const Layer& a = *it->second;
    if (!added && (a.mixer != l.mixer || a.mlp != l.mlp || a.norms != l.norms))
      top.fail("blocks '" + a.block + "' and '" + l.block + "' share weights ('" + l.shared_weights +
               "') but differ in shape");
  }
}

void check_layer(const Layer& layer, const std::string& where) {
  Checker c{where};
  if (!layer.mixer && !layer.mlp) c.fail("has neither a mixer nor an mlp");
  if (layer.mixer) std::visit([&](const auto& m) { check(m, c); }, *layer.mixer);
  if (layer.mlp) check_mlp(c, *layer.mlp);
  c.non_negative(layer.norms, "norms");
}

int64_t rope_rows(const RopeScaling& rope, int64_t max_position_embeddings) {
  if (!(rope.factor > 1.0)) return 0;
  int64_t base = 0;
  if (rope.type == "linear" || rope.type == "dynamic") base = max_position_embeddings;
  else if (rope.type == "yarn") base = rope.original_max_position_embeddings.value_or(max_position_embeddings);
  if (base <= 0) return 0;
  const double rows = std::floor(static_cast<double>(base) * rope.factor);
  if (!(rows < 9.2e18)) throw Error("a rope_scaling factor this large makes a RoPE table past 2^63 positions");
  return static_cast<int64_t>(rows);
}

void set_rope_rows(Model& model, int64_t rows) {
  for (Layer& layer : model.layers) {
    if (!layer.mixer) continue;
    auto* a = std::get_if<Attention>(&*layer.mixer);
    if (!a || (model.family == "gemma3" && a->sliding_window > 0)) continue;
    a->rope_positions = rows;
  }
}

Model with_overrides(Model model, const ConfigOverrides& o) {
  const int64_t config_max = model.max_context;
  if (o.max_position_embeddings) {
    model.max_context = *o.max_position_embeddings;
    // Gemma 3's global tables are its linear factor times max_position_embeddings: they follow it.
    if (!o.rope_scaling && model.family == "gemma3" && config_max > 0)
      for (Layer& layer : model.layers) {
        auto* a = layer.mixer ? std::get_if<Attention>(&*layer.mixer) : nullptr;
        if (a && a->rope_positions > 0) a->rope_positions = mul(a->rope_positions / config_max, model.max_context);
      }
  }
  if (!o.rope_scaling) return model;
  // The override replaces the config's scaling: the tables take its rows (none: the unscaled length).
  const int64_t rows = rope_rows(*o.rope_scaling, model.max_context);
  set_rope_rows(model, rows);
  // vLLM leaves Gemma 3's factor out of the limit (it scales the global layers' positions only).
  if (rows > 0 && model.family != "gemma3") model.max_context = rows;
  return model;
}

}  // namespace kvplan
