// The resolved model of a network: a list of layers, each with an optional token mixer (one of
// the layer-kind modules in core/layers/) and an optional MLP (dense or mixture of experts).
// Everything kvplan computes is a sum over this list; docs/model-format.md describes the YAML.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "core/dtype.h"
#include "core/layers/attention.h"
#include "core/layers/gated_deltanet.h"
#include "core/layers/kda.h"
#include "core/layers/mamba1.h"
#include "core/layers/mamba2.h"
#include "core/layers/mla.h"
#include "core/layers/parallel_hybrid.h"
#include "core/tensor.h"

namespace kvplan {

// The token mixers, one module each under core/layers/ (common.h lists what a module provides).
// Dispatch over a Mixer is std::visit with a generic lambda, so a new alternative fails to compile
// until its module provides every function.
using Mixer = std::variant<Attention, Mla, Mamba1, Mamba2, GatedDeltaNet, Kda, ParallelHybrid>;

struct DenseMlp {
  int64_t intermediate_size = 0;
  bool gated = true;  // SwiGLU/GeGLU: gate+up+down (3 matrices) vs up+down (2)
  bool bias = false;
  bool operator==(const DenseMlp&) const = default;
};

struct MoeMlp {
  int64_t experts = 0;
  int64_t experts_per_token = 0;
  int64_t expert_intermediate_size = 0;
  int64_t shared_experts = 0;
  int64_t shared_intermediate_size = 0;  // per shared expert; 0 = expert_intermediate_size
  bool gated = true;
  bool bias = false;         // biases inside each expert (gpt-oss)
  bool router_bias = false;  // bias on the router logits (gpt-oss)
  bool shared_expert_gate = false;  // sigmoid gate [1, hidden] on the shared experts' output (Qwen2-MoE, Qwen3-Next)
  bool router_scales = false;  // a scale per input feature and one per expert in the router (Gemma 4): hidden + experts
  bool operator==(const MoeMlp&) const = default;
};

using Mlp = std::variant<DenseMlp, MoeMlp>;

enum class Norm { rmsnorm, layernorm };

// A linear tensor of a layer (layer_tensors' name) that the checkpoint stores in a quantized
// format other than the model's `dtype` / `expert_dtype`.
struct TensorFormat {
  std::string tensor;
  DType dtype = DType::bf16;
  bool operator==(const TensorFormat&) const = default;
};

struct Layer {
  std::string block;           // the name of the block it came from (for display)
  std::optional<Mixer> mixer;  // absent: an MLP-only layer (Nemotron-H '-')
  std::optional<Mlp> mlp;      // absent: a mixer-only layer (Mamba, Nemotron-H 'M'/'*')
  int64_t norms = 0;           // hidden-size norms in the layer
  // Layers naming the same shared_weights tag reuse one copy of the weights (Zamba2's shared
  // transformer blocks): parameters are counted once per tag, KV cache per layer.
  std::string shared_weights;
  // Linear tensors (layer_tensors' names) that a quantized checkpoint keeps in 16 bits
  // (quantization_config ignore / exclude_modules / modules_to_not_convert).
  std::vector<std::string> unquantized;
  // Linear tensors stored in another quantized format (per-module formats of the checkpoint).
  std::vector<TensorFormat> formats;
  bool operator==(const Layer&) const = default;
};

struct Model {
  std::string id;               // registry id, e.g. "llama-3.1-8b"
  std::string name;             // display name
  std::string family;           // e.g. "llama", "deepseek_v3"
  std::string source;           // where the numbers come from
  DType dtype = DType::bf16;    // published weight dtype
  std::optional<DType> expert_dtype;  // routed experts' published dtype when it differs (gpt-oss: mxfp4)
  std::optional<DType> activation_dtype;  // the config's torch_dtype when the weights are stored otherwise (fp8)
  std::optional<DType> kv_dtype;     // a KV quantization the checkpoint declares (kv_cache_scheme)
  std::optional<DType> state_dtype;  // a recurrent-state dtype the checkpoint declares (mamba_ssm_dtype)
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t max_context = 0;      // max_position_embeddings; 0 = unknown / unbounded
  bool tie_word_embeddings = false;
  // An untied lm_head the checkpoint stores quantized (GPTQ/AWQ `lm_head: true`, a ModelOpt
  // MIXED_PRECISION entry); absent: the 16-bit base dtype.
  std::optional<DType> lm_head_dtype;
  bool lm_head_bias = false;    // a bias of vocab_size on the lm_head (phi-1/1.5/2, Phi-3.5-MoE)
  Norm norm = Norm::rmsnorm;
  bool final_norm = true;
  // Multi-token-prediction modules the checkpoint stores beside the served layers
  // (num_nextn_predict_layers, mtp_num_hidden_layers): not served or counted, but speculative
  // method mtp drafts with them (each one decoder layer of the target's shape).
  int64_t mtp_layers = 0;
  // A speculative head's own parts (EAGLE-3 in the speculators format): the fc that projects the
  // target's auxiliary hidden states (head_fc_inputs wide) to hidden_size, replicated under tensor
  // parallel, and the vocabulary of its own lm_head (draft_vocab_size); 0: none.
  int64_t head_fc_inputs = 0;
  int64_t head_vocab_size = 0;
  std::vector<Layer> layers;
  // Weights outside the language model (vision/audio encoders and their projectors of multimodal
  // checkpoints): loaded with the model and counted in its total, never read by a decode step.
  // One tensor per tower, kept in the 16-bit base dtype.
  std::vector<Tensor> towers;
  // The vision_config fields the engines read: num_hidden_layers and hidden_size size SGLang's
  // headroom for a multimodal model (adjust_mem_fraction_for_vlm); with intermediate_size, whether
  // the MLP is gated (gate and up projections), the tokens of the processor's largest image
  // (preprocessor_config.json, not config.json) and the patches merged into one token
  // (spatial_merge_size^2) they price vLLM's profiled pass of the vision tower. Present where the
  // config has a vision_config, each key only where it is stated (Qwen2.5-VL names its depth
  // 'depth', not num_hidden_layers).
  struct VisionConfig {
    std::optional<int64_t> num_hidden_layers;
    std::optional<int64_t> hidden_size;
    std::optional<int64_t> intermediate_size;
    std::optional<bool> gated_mlp;
    std::optional<int64_t> max_image_tokens;
    std::optional<int64_t> patches_per_token;
    bool operator==(const VisionConfig&) const = default;
  };
  std::optional<VisionConfig> vision_config;
  // What the importer assumed or left out that could change an answer (printed as warnings).
  std::vector<std::string> warnings;
  bool operator==(const Model&) const = default;
};

LayerKind kind_of(const Layer& layer);

// Throws kvplan::Error if the structure is impossible (zero layers, heads not divisible by KV
// heads, non-positive sizes, experts_per_token > experts, ...). `where` prefixes messages.
void check_model(const Model& model);
// The same checks for one layer; `where` prefixes messages.
void check_layer(const Layer& layer, const std::string& where);

// A config's rope_scaling (or rope_parameters): its type and the two numbers that size a table.
struct RopeScaling {
  std::string type;                                 // rope_type (or type): linear, dynamic, yarn, llama3, ...
  double factor = 1.0;
  std::optional<int64_t> original_max_position_embeddings;  // yarn's
};
// Rows of a RoPE table a config with `max_position_embeddings` and `rope` builds: linear and
// dynamic multiply max_position_embeddings by the factor, yarn original_max_position_embeddings
// (else max_position_embeddings) by it, rounded down; 0 where the scaling keeps the config's rows
// (llama3, longrope, mrope, default, a factor of 1 or less). Throws kvplan::Error past 2^63.
int64_t rope_rows(const RopeScaling& rope, int64_t max_position_embeddings);
// Gives the attention layers RoPE tables of `rows` rows (Gemma 3's sliding layers keep theirs: its
// scaling is the global layers').
void set_rope_rows(Model& model, int64_t rows);

// The config keys of an engine's model override (vLLM --hf-overrides) that kvplan applies.
struct ConfigOverrides {
  std::optional<int64_t> max_position_embeddings;
  std::optional<RopeScaling> rope_scaling;
};
// The model as vLLM loads it under `o` (vllm/config/model.py, _get_and_verify_max_len): the
// override's max_position_embeddings as the context limit; an override's rope_scaling replaces the
// config's, its tables taking rope_rows' rows (the unscaled length where none) and the limit that
// length (Gemma 3's excepted: its factor scales its global layers' positions only, which follow an
// overridden max_position_embeddings). The config's own scaling is not re-derived (docs/engines.md,
// Limits).
Model with_overrides(Model model, const ConfigOverrides& o);

}  // namespace kvplan
