// One decode step of a model, run as kernels on the GPU, as an engine's CUDA-graph decode step runs
// them: per layer, in order, the residual-add + RMSNorms, the cuBLAS linears at the model's shapes,
// rotary embedding, the KV append, the attention / MLA / SSM kernels over a cache of the requested
// context, the gated activation, for MoE the router, top-k, grouped expert GEMVs and combine; then
// the final norm and the lm_head (docs/validation/README.md lists them per family with the vLLM
// files they follow). Each op is tagged with a component: the decode model's (weights, kv_cache,
// ssm_state, lm_head) or a small-kernel one (norms, rotary, kv_append, activations, moe_routing).
// Weights are random bf16 (no model files); when the model does not fit, layers of the same shape
// share buffers round-robin (each layer's weights still come from DRAM: a layer is larger than L2).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/kv_cache.h"
#include "core/model.h"
#include "gpu/blas.h"
#include "gpu/host/report.h"

namespace kvplan::gpu {

// Where a full-attention op's K (or V) cache lies: `rows` rows (sequence x KV head) of `tokens`
// tokens, `pitch_bytes` apart, `token_bytes` per token; a row's oldest tokens come first. Offload
// validation copies each row's first tokens into it from host memory.
struct KvRows {
  void* base = nullptr;
  int64_t rows = 0, tokens = 0, pitch_bytes = 0, token_bytes = 0;
};

struct StepOp {
  std::string component;  // weights, kv_cache, ssm_state, lm_head; norms, rotary, kv_append, activations, moe_routing
  std::string label;      // e.g. "layer 3 qkv"
  int64_t bytes = 0;
  double flops = 0;
  std::function<void(cudaStream_t)> run;
  std::vector<KvRows> kv;  // full-attention ops: K and V (one entry when V lies in K, MLA)
  int64_t kernels = 1;     // kernels `run` launches
};
// Kernels the ops launch.
int64_t kernel_count(const std::vector<const StepOp*>& ops);

// The lm_head op as the decode step runs it: one cuBLAS bf16 linear of the [vocab][hidden] `weight`
// over x [batch][hidden] into the logits y [batch][vocab]; bytes = weight + x + y. The op keeps
// `weight` alive. `kvplan calibrate` times this op alone for lm_head_bandwidth_fraction.
StepOp lm_head_op(Blas& blas, std::shared_ptr<DeviceBuffer> weight, void* x, void* y, int64_t vocab, int64_t hidden,
                  int64_t batch);

class DecodeStep {
 public:
  // Throws kvplan::Error for shapes without a kernel (head_dim, KV dtype) or when even one copy
  // of each layer shape does not fit in `budget_bytes`.
  //
  // With prefill_tokens > 0 the same builder makes one whole prefill pass of `batch` prompts of
  // that many tokens each instead (context ignored), as an engine runs them unchunked: every
  // linear, norm, rotary and activation over all the prompts' rows, their K/V written into a cache
  // of their own, kvplan's causal prefill attention per prompt in each attention layer, the final
  // norm over every row and the lm_head for each prompt's last token. Attention layers with dense MLPs only (head_dim 64 or
  // 128, V as wide as K, a 16-bit KV cache, a window no shorter than the prompt).
  DecodeStep(const Model& model, const CacheOptions& cache, int64_t batch, int64_t context, const DeviceInfo& device,
             int64_t budget_bytes, int64_t prefill_tokens = 0);
  ~DecodeStep();
  const std::vector<StepOp>& ops() const { return ops_; }
  std::vector<std::string> components() const;  // in order of first appearance
  const std::vector<std::string>& notes() const { return notes_; }
  Blas& blas() { return *blas_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::unique_ptr<Blas> blas_;
  std::vector<StepOp> ops_;
  std::vector<std::string> notes_;
};

}  // namespace kvplan::gpu
