#include "core/kv_cache.h"

#include <algorithm>
#include <string>

#include "core/checked.h"
#include "core/error.h"

namespace kvplan {

int64_t kv_heads_per_gpu(const Attention& a, int64_t tp) {
  if (a.kv_heads % tp == 0) return a.kv_heads / tp;
  if (tp % a.kv_heads == 0) return 1;
  throw Error("tensor parallel " + std::to_string(tp) + " does not divide " + std::to_string(a.kv_heads) +
              " KV heads (nor do the KV heads divide it), so the KV cache cannot be split evenly");
}

void check_tensor_parallel(const Model& model, int64_t tp) {
  if (tp < 1) throw Error("--tp must be at least 1");
  if (tp == 1) return;
  for (const Layer& layer : model.layers) {
    if (!layer.mixer) continue;
    int64_t heads = 0;
    if (auto* a = std::get_if<Attention>(&*layer.mixer)) {
      heads = a->heads;
      kv_heads_per_gpu(*a, tp);
    } else if (auto* l = std::get_if<Mla>(&*layer.mixer)) {
      heads = l->heads;
    } else if (auto* s = std::get_if<Mamba2>(&*layer.mixer)) {
      heads = s->n_heads;
    } else if (auto* s1 = std::get_if<Mamba1>(&*layer.mixer)) {
      heads = s1->d_inner;
    }
    if (heads % tp != 0)
      throw Error("tensor parallel " + std::to_string(tp) + " does not divide the " + std::to_string(heads) +
                  " heads of layer '" + layer.block + "' of model '" + model.id + "'");
  }
}

int64_t kv_bytes_per_token(const Layer& layer, const CacheOptions& opt) {
  if (!layer.mixer) return 0;
  const DType d = opt.kv_dtype;
  if (auto* a = std::get_if<Attention>(&*layer.mixer)) {
    const int64_t heads = kv_heads_per_gpu(*a, opt.tp);
    return mul(heads, add(kv_head_vector_bytes(d, a->head_dim), kv_head_vector_bytes(d, a->v_head_dim)));
  }
  if (auto* l = std::get_if<Mla>(&*layer.mixer)) {
    if (opt.mla == MlaCache::latent)  // one latent "head", replicated on every TP rank
      return kv_head_vector_bytes(d, l->kv_lora_rank + l->qk_rope_head_dim);
    const int64_t heads = l->heads / opt.tp;
    return mul(heads, add(kv_head_vector_bytes(d, l->qk_nope_head_dim + l->qk_rope_head_dim),
                          kv_head_vector_bytes(d, l->v_head_dim)));
  }
  return 0;
}

int64_t resident_window(const Layer& layer, const CacheOptions& opt) {
  if (!layer.mixer) return 0;
  if (auto* a = std::get_if<Attention>(&*layer.mixer))
    if (a->sliding_window > 0 && opt.sliding == SlidingCache::window) return a->sliding_window;
  return 0;
}

int64_t tokens_resident(const Layer& layer, int64_t context, const CacheOptions& opt) {
  if (!layer.mixer) return 0;
  if (std::holds_alternative<Attention>(*layer.mixer) || std::holds_alternative<Mla>(*layer.mixer)) {
    const int64_t window = resident_window(layer, opt);
    return window > 0 ? std::min(context, window) : context;
  }
  return 0;
}

KvTerms kv_terms(const Model& model, const CacheOptions& opt) {
  KvTerms t;
  for (const Layer& layer : model.layers) {
    const int64_t bytes = kv_bytes_per_token(layer, opt);
    if (bytes == 0) continue;
    const int64_t window = resident_window(layer, opt);
    if (window == 0) {
      t.full_bytes_per_token = add(t.full_bytes_per_token, bytes);
      continue;
    }
    auto it = std::find_if(t.windowed.begin(), t.windowed.end(), [&](const auto& w) { return w.first == window; });
    if (it == t.windowed.end()) t.windowed.emplace_back(window, bytes);
    else it->second = add(it->second, bytes);
  }
  return t;
}

int64_t kv_bytes_per_sequence(const KvTerms& terms, int64_t context) {
  int64_t total = mul(context, terms.full_bytes_per_token);
  for (const auto& [window, bytes] : terms.windowed) total = add(total, mul(std::min(context, window), bytes));
  return total;
}

int64_t kv_bytes_per_token(const Model& model, const CacheOptions& opt) {
  int64_t total = 0;
  for (const Layer& layer : model.layers) total = add(total, kv_bytes_per_token(layer, opt));
  return total;
}

int64_t kv_bytes_per_sequence(const Model& model, int64_t context, const CacheOptions& opt) {
  int64_t total = 0;
  for (const Layer& layer : model.layers)
    total = add(total, mul(tokens_resident(layer, context, opt), kv_bytes_per_token(layer, opt)));
  return total;
}

SsmState state_bytes(const Layer& layer, const CacheOptions& opt) {
  if (!layer.mixer) return {};
  auto width = [&](int64_t d_conv) { return opt.conv_width == ConvStateWidth::kernel ? d_conv : d_conv - 1; };
  if (auto* s = std::get_if<Mamba1>(&*layer.mixer)) {
    const int64_t d_inner = s->d_inner / opt.tp;
    return {element_bytes(opt.state_dtype, mul(d_inner, width(s->d_conv))),
            element_bytes(opt.state_dtype, mul(d_inner, s->d_state))};
  }
  if (auto* s = std::get_if<Mamba2>(&*layer.mixer)) {
    // Under TP each rank holds its heads' x channels and (vLLM) a full copy of B and C when
    // n_groups < tp; we split groups when they divide and replicate otherwise.
    const int64_t heads = s->n_heads / opt.tp;
    const int64_t groups = s->n_groups % opt.tp == 0 ? s->n_groups / opt.tp : s->n_groups;
    const int64_t conv_dim = add(mul(heads, s->head_dim), mul(2, groups, s->d_state));
    return {element_bytes(opt.state_dtype, mul(conv_dim, width(s->d_conv))),
            element_bytes(opt.state_dtype, mul(heads, s->head_dim, s->d_state))};
  }
  return {};
}

int64_t state_bytes_per_sequence(const Model& model, const CacheOptions& opt) {
  int64_t total = 0;
  for (const Layer& layer : model.layers) total = add(total, state_bytes(layer, opt).total());
  return total;
}

}  // namespace kvplan
