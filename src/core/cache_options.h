// The cache conventions where engines differ (docs/formulas.md, "Conventions"), and the state
// of one recurrent layer. Shared by the layer modules and kv_cache.h.
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace kvplan {

// Width of the cached conv window. Default kernel_minus_1: the d_conv-1 past inputs the causal
// conv needs (vLLM, causal-conv1d's update kernel). `kernel` = d_conv columns (transformers'
// MambaCache / mamba_ssm's allocate_inference_cache keep the whole window).
enum class ConvStateWidth { kernel_minus_1, kernel };
// Tokens a sliding-window (or chunked local) layer keeps. Default window: min(N, window), a
// rolling buffer (vLLM, SGLang, transformers' hybrid cache). `full`: the engine keeps all N tokens.
enum class SlidingCache { window, full };
// MLA cache contents. Default latent: kv_lora_rank + qk_rope_head_dim per token and layer
// (DeepSeek's own inference code, vLLM, SGLang, TensorRT-LLM). `decompressed`: K (nope+rope)
// and V per head for all heads, as transformers' eager path caches.
enum class MlaCache { latent, decompressed };

struct CacheOptions {
  DType kv_dtype = DType::bf16;
  DType state_dtype = DType::bf16;
  ConvStateWidth conv_width = ConvStateWidth::kernel_minus_1;
  SlidingCache sliding = SlidingCache::window;
  MlaCache mla = MlaCache::latent;
  int64_t tp = 1;  // tensor-parallel degree: sizes are per GPU

  // Columns of the cached conv window for a causal conv of d_conv taps.
  int64_t conv_columns(int64_t d_conv) const { return conv_width == ConvStateWidth::kernel ? d_conv : d_conv - 1; }
};

// Fixed per-sequence state of a recurrent layer (Mamba, linear attention): conv window + state.
struct SsmState {
  int64_t conv_bytes = 0;
  int64_t ssm_bytes = 0;
  int64_t total() const { return conv_bytes + ssm_bytes; }
};

}  // namespace kvplan
