#include "core/kv_cache.h"

#include <algorithm>
#include <string>

#include "core/checked.h"
#include "core/error.h"

namespace kvplan {

void check_tensor_parallel(const Model& model, int64_t tp) {
  if (tp < 1) throw Error("--tp must be at least 1");
  if (tp == 1) return;
  for (const Layer& layer : model.layers) {
    if (!layer.mixer) continue;
    for (int64_t heads : std::visit([&](const auto& m) { return tp_split_heads(m, tp); }, *layer.mixer))
      if (heads % tp != 0)
        throw Error("tensor parallel " + std::to_string(tp) + " does not divide the " + std::to_string(heads) +
                    " heads of layer '" + layer.block + "' of model '" + model.id + "'");
  }
}

int64_t kv_bytes_per_token(const Layer& layer, const CacheOptions& opt) {
  if (!layer.mixer) return 0;
  return std::visit([&](const auto& m) { return kv_bytes_per_token(m, opt); }, *layer.mixer);
}

int64_t resident_window(const Layer& layer, const CacheOptions& opt) {
  if (!layer.mixer) return 0;
  const int64_t window = std::visit([&](const auto& m) { return resident_window(m, opt); }, *layer.mixer);
  // A bounded cache caps every layer that caches tokens.
  const int64_t keep = opt.policy.keep_tokens();
  if (keep == 0 || kv_bytes_per_token(layer, opt) == 0) return window;
  return window > 0 ? std::min(window, keep) : keep;
}

int64_t tokens_resident(const Layer& layer, int64_t context, const CacheOptions& opt) {
  if (kv_bytes_per_token(layer, opt) == 0) return 0;
  const int64_t window = resident_window(layer, opt);
  return window > 0 ? std::min(context, window) : context;
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
  return std::visit([&](const auto& m) { return state_bytes(m, opt); }, *layer.mixer);
}

int64_t state_bytes_per_sequence(const Model& model, const CacheOptions& opt) {
  int64_t total = 0;
  for (const Layer& layer : model.layers) total = add(total, state_bytes(layer, opt).total());
  return total;
}

}  // namespace kvplan
