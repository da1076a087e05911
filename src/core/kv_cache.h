// KV cache and SSM state sizing: exact bytes per token, per sequence, per layer
// (docs/formulas.md, "KV cache" and "SSM state"). Conventions where engines differ are options.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "core/cache_options.h"
#include "core/dtype.h"
#include "core/model.h"

namespace kvplan {

// Throws kvplan::Error if the model cannot be split over tp GPUs.
void check_tensor_parallel(const Model& model, int64_t tp);

// Bytes one token adds to this layer's cache on one GPU (0 for recurrent and MLP-only layers).
int64_t kv_bytes_per_token(const Layer& layer, const CacheOptions& opt);
// The most tokens a layer keeps: its sliding window (when the engine frees tokens outside it),
// or 0 = no limit (full attention, MLA); a bounded cache (CacheOptions::policy) caps both.
// Meaningless for layers without a KV cache.
int64_t resident_window(const Layer& layer, const CacheOptions& opt);
// Tokens the layer keeps at context N: N for full attention, min(N, window) for sliding.
int64_t tokens_resident(const Layer& layer, int64_t context, const CacheOptions& opt);

// The KV cache of a whole model as a few terms, so that sizing at any context is O(#windows):
// bytes(N) = N x full_bytes_per_token + sum over windows w of min(N, w) x bytes_per_token(w).
struct KvTerms {
  int64_t full_bytes_per_token = 0;
  std::vector<std::pair<int64_t, int64_t>> windowed;  // (window, bytes per token of all layers with it)
};
KvTerms kv_terms(const Model& model, const CacheOptions& opt);
int64_t kv_bytes_per_sequence(const KvTerms& terms, int64_t context);
// Sum over layers of bytes per token (a token that is resident in every layer).
int64_t kv_bytes_per_token(const Model& model, const CacheOptions& opt);
// Exact KV bytes of one sequence at context N: sum of tokens_resident x bytes_per_token.
int64_t kv_bytes_per_sequence(const Model& model, int64_t context, const CacheOptions& opt);

// Conv + recurrent state of one layer for one sequence (zero for attention layers); constant in N.
SsmState state_bytes(const Layer& layer, const CacheOptions& opt);
int64_t state_bytes_per_sequence(const Model& model, const CacheOptions& opt);

}  // namespace kvplan
