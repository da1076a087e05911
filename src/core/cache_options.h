// The cache conventions where engines differ (docs/formulas.md, "Conventions"), and the state
// of one recurrent layer. Shared by the layer modules and kv_cache.h.
#pragma once

#include <cstdint>
#include <optional>

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
// (DeepSeek's own inference code, vLLM, SGLang, TensorRT-LLM), in the KV dtype. `decompressed`: K
// (nope+rope) and V per head for all heads, as transformers' eager path caches. `fp8_ds`: the latent
// in DeepSeek's FP8 layout for sparse MLA (FlashMLA; vLLM's kv_cache_dtype fp8_ds_mla): the
// kv_lora_rank part in fp8 with one fp32 scale per 128 elements, the rope part in bf16: 512 + 16 +
// 128 = 656 B per token for DeepSeek-V3.2, whatever the KV dtype.
enum class MlaCache { latent, decompressed, fp8_ds };

// A bounded cache (docs/kv-economy.md): full keeps every token; sinks_window keeps the first
// `sinks` and the last `window` tokens of each layer (StreamingLLM, Xiao et al. 2023, arXiv
// 2309.17453); budget keeps at most `budget` tokens per layer, chosen by the method (H2O, Zhang et al.
// 2023, arXiv 2306.14048; SnapKV, Li et al. 2024, arXiv 2404.14469). kvplan sizes the memory and the
// decode reads; it does not judge the quality.
enum class CachePolicyKind { full, sinks_window, budget };
struct CachePolicy {
  CachePolicyKind kind = CachePolicyKind::full;
  int64_t sinks = 0;
  int64_t window = 0;
  int64_t budget = 0;
  // Most tokens a layer keeps per sequence; 0 = no bound.
  int64_t keep_tokens() const {
    switch (kind) {
      case CachePolicyKind::full: return 0;
      case CachePolicyKind::sinks_window: return sinks + window;
      case CachePolicyKind::budget: return budget;
    }
    return 0;
  }
};

struct CacheOptions {
  DType kv_dtype = DType::bf16;
  DType state_dtype = DType::bf16;
  // The conv windows' dtype when it differs from the states' (unset: the same). A checkpoint's
  // mamba_ssm_dtype sets the states only: vLLM copies it into mamba_ssm_cache_dtype (the Qwen3.5
  // config hook in vllm/model_executor/models/config.py) and keeps the conv windows in
  // mamba_cache_dtype, "auto" = the model dtype (vllm/model_executor/layers/mamba/mamba_utils.py).
  std::optional<DType> conv_dtype;
  ConvStateWidth conv_width = ConvStateWidth::kernel_minus_1;
  // Extra columns in the conv window of a Gated DeltaNet layer: vLLM keeps one per speculative
  // token, so a rejected draft can roll the window back (mamba_utils.py gated_delta_net_state_shape,
  // conv_kernel_size - 1 + num_spec). Its KDA shape with three conv windows takes num_spec without
  // widening them (only a later single-window KDA does), so KDA keeps kernel - 1.
  int64_t speculative_conv_columns = 0;
  // KDA's recurrent state in this dtype whatever state_dtype says (unset: state_dtype). vLLM keeps it
  // in fp32 and only its conv windows in mamba_cache_dtype (mamba_utils.py kda_state_dtype).
  std::optional<DType> kda_state_dtype;
  SlidingCache sliding = SlidingCache::window;
  MlaCache mla = MlaCache::latent;
  // The decompressed form stores V padded to the QK head dim (vLLM's non-MLA DeepseekV2Attention
  // runs one head size, qk_nope + qk_rope, for K and V).
  bool mla_value_padded = false;
  int64_t tp = 1;  // tensor-parallel degree: sizes are per GPU
  CachePolicy policy;  // bounded caches (kvplan's ideal engine)

  // Columns of the cached conv window for a causal conv of d_conv taps.
  int64_t conv_columns(int64_t d_conv) const { return conv_width == ConvStateWidth::kernel ? d_conv : d_conv - 1; }
  DType conv() const { return conv_dtype.value_or(state_dtype); }
};

// Fixed per-sequence state of a recurrent layer (Mamba, linear attention): conv window + state.
struct SsmState {
  int64_t conv_bytes = 0;
  int64_t ssm_bytes = 0;
  int64_t total() const { return conv_bytes + ssm_bytes; }
};

}  // namespace kvplan
