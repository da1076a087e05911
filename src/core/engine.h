// Engine-exact capacity: how a serving engine (vLLM, SGLang) turns a GPU's memory into KV-cache
// blocks at start-up, step by step as the engine computes and logs it (docs/engines.md). Each
// engine version's behaviour is data (EngineProfile, read from presets/engines/*.yaml); the
// rules themselves are written once here.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/dtype.h"
#include "core/engine_settings.h"
#include "core/gpu.h"
#include "core/kv_sharing.h"
#include "core/memory.h"
#include "core/model.h"

namespace kvplan {

const char* name(EngineKind kind);

// One KV-cache group of vLLM V1 (or the one group of V0 / SGLang): layers of one kind that share
// a block table.
struct EngineGroup {
  enum class Kind { full, sliding, chunked, state };
  Kind kind = Kind::full;
  int64_t window = 0;         // sliding window or attention chunk, tokens
  int64_t block_size = 0;     // tokens per block (state: one block per sequence)
  int64_t layers = 0;         // layers in the group (padded groups count their padding)
};
const char* name(EngineGroup::Kind kind);

// vLLM's profiled pass of the vision tower: `items` dummy items of `item_tokens` tokens each (a
// video where `video`), `patches` patches in one batched call, and its activation peak per GPU.
struct EncoderPass {
  int64_t items = 0;
  int64_t item_tokens = 0;
  bool video = false;
  int64_t patches = 0;
  int64_t peak_bytes = 0;
  bool operator==(const EncoderPass&) const = default;
};

// The engine's start-up plan for one GPU, as the engine logs it: under pipeline parallelism, of
// the stage with the fewest blocks (or the first that does not start).
struct EnginePlan {
  EngineKind kind = EngineKind::ideal;
  std::string version;
  int64_t cuda_total_bytes = 0;          // total memory as the CUDA driver reports it
  int64_t requested_bytes = 0;           // utilization x total (SGLang: mem_fraction_static x free memory before loading)
  int64_t weights_bytes = 0;             // per GPU, the RoPE tables included
  int64_t rope_tables_bytes = 0;         // of weights_bytes: the RoPE cos/sin tables
  int64_t mxfp4_padding_bytes = 0;       // of weights_bytes: mxfp4 experts padded for the Marlin kernel
  int64_t mla_absorbed_bytes = 0;        // of weights_bytes: MLA's 16-bit copies of a quantized kv_b_proj
  int64_t topk_indices_bytes = 0;        // of weights_bytes: a sparse-MLA model's top-k index buffer
  int64_t swa_pool_tokens = 0;           // SGLang's hybrid sliding-window pool: its tokens (0: no such pool)
  // SGLang with a drafter whose pool is its own (profile speculative, not draft_pool_shared): the
  // drafter's weights and its pool of the target's tokens, both outside the KV budget; and the
  // tokens the target's pool gets beyond the profiled ones (token_headroom).
  int64_t draft_weights_bytes = 0;
  int64_t draft_kv_cache_bytes = 0;
  int64_t speculative_headroom_tokens = 0;
  std::optional<int64_t> activation_peak_bytes;  // profiled forward pass (vLLM); nullopt: SGLang
  std::optional<EncoderPass> encoder;    // vLLM's profiled vision-tower pass, where modelled (its peak is within the above)
  int64_t cuda_graph_bytes = 0;          // deducted from the budget (0 where the version does not)
  int64_t cuda_graphs = 0;               // the graphs that estimate counts (0 where not deducted)
  int64_t non_torch_bytes = 0;
  bool budget_given = false;             // --kv-cache-memory: the budget below was given
  int64_t available_kv_cache_bytes = 0;  // the KV budget
  int64_t block_size = 0;                // tokens per attention block (after hybrid unification)
  int64_t page_bytes = 0;                // bytes of one block of one layer (V0/SGLang: of all layers); 0: the
                                         // layers of one V1 group have pages of different sizes
  int64_t state_page_bytes = 0;          // one recurrent-state page, padded (0: none); SGLang: one request's states
  int64_t state_slots = 0;               // SGLang hybrids: slots of the state pool (max_mamba_cache_size)
  std::optional<int64_t> state_request_cap;  // SGLang hybrids: sequences the state pool lets run at once
  int64_t unified_page_bytes = 0;        // V1 hybrids with unified pages: every attention page (0: not unified)
  std::vector<EngineGroup> groups;
  int64_t group_size = 1;                // layers sharing one block (V1: the group size)
  int64_t pool_block_bytes = 0;          // bytes of one block id across the pool (every layer's page, padding included)
  int64_t num_gpu_blocks = 0;
  int64_t kv_cache_tokens = 0;           // "GPU KV cache size: N tokens"
  SlidingBound sliding_bound = SlidingBound::full;
  int64_t stage = 0;                     // the pipeline stage this plan is of (the binding one)
  int64_t stages = 1;
  int64_t max_model_len = 0;
  int64_t max_num_seqs = 0;
  int64_t max_num_batched_tokens = 0;
  int64_t in_flight_tokens = 0;          // the sliding-window admission bound's tokens in flight: max_num_batched_tokens x batches in flight
  bool runner_v2 = false;                // vLLM's Model Runner V2 runs the model
  int64_t blocks_per_request = 0;        // at max_model_len
  int64_t state_blocks_per_request = 1;  // in each state group (2 under vLLM's mamba_cache_mode 'align'; + the speculative tokens)
  double max_concurrency = 0;            // "Maximum concurrency for max_model_len tokens per request"
  bool starts = true;
  std::string failure;                   // the engine's reason when it does not start
  std::optional<int64_t> estimated_max_model_len;  // the engine's suggestion when it does not start
  // The workload's sharing as the engine applies it: with prefix caching on, full blocks of the
  // shared prefix and of each request's trunk are held once (blocks_for_batch); with it off, every
  // sequence holds its own (shared_prefix and trunk zeroed here, branches kept).
  KvSharing sharing;
  bool prefix_caching = true;            // the engine caches prefixes (profile default, or the setting)
};

// The engine's start-up plan for memory.engine (a vllm or sglang profile) at max_model_len. Throws
// kvplan::Error for a configuration the engine rejects (e.g. a block size it does not accept).
EnginePlan plan_engine(const Model& model, const Gpu& gpu, const MemoryOptions& memory, int64_t max_model_len);

// Blocks one sequence of `tokens` tokens holds across all groups, sharing nothing (the engine's
// own "maximum concurrency" arithmetic).
int64_t blocks_for_request(const EnginePlan& plan, int64_t tokens);

// The blocks `batch` requests of `tokens` tokens per sequence hold under plan.sharing: each request
// is plan.sharing.branches sequences; in full-attention groups (the only kind plan_engine lets
// share) the prefix caches hold the full blocks of the shared prefix once and each request's full
// trunk blocks once for its branches. A sequence reuses at most tokens - 1 of its tokens from the
// cache (both engines compute the last one), so every sequence owns at least one block.
EngineBlocks blocks_for_batch(const EnginePlan& plan, int64_t batch, int64_t tokens);
// Requests of `tokens` tokens per sequence the pool holds at once, with plan.sharing (without
// sharing: floor(num_gpu_blocks / blocks per request)).
int64_t requests_that_fit(const EnginePlan& plan, int64_t tokens);

// The drafter of a speculative method: `draft_model` / `eagle` / `eagle3` take `model` (the draft's
// own config); without one, eagle and eagle3 take one decoder layer of the target's shape (an EAGLE
// head), and mtp the target's last layer (DeepSeek's single MTP module); ngram has none. Throws
// kvplan::Error for an unknown method or a draft_model without its model.
std::shared_ptr<const Model> speculative_drafter(const Model& target, const std::string& method,
                                                 const std::optional<Model>& draft_model);

// The profile's defaults for a GPU (big-GPU defaults by CUDA memory and id) and max_model_len
// (vLLM V0 sizes the batched tokens from it).
struct EngineDefaults {
  int64_t max_num_batched_tokens = 0;
  int64_t max_num_seqs = 0;
  double gpu_memory_utilization = 0;  // SGLang: mem_fraction_static by its heuristic
};
// `model`, `pp` and `piecewise_off` (SGLang --disable-piecewise-cuda-graph) decide SGLang's piecewise
// CUDA-graph reserve (none without a model).
// `speculative_method` (SGLang): a drafter's reserve and its default max_running_requests.
// `enable_multimodal` (SGLang --enable-multimodal): whether a model with towers is served multimodal.
EngineDefaults engine_defaults(const EngineProfile& profile, const Gpu& gpu, int64_t max_model_len, int64_t gpus = 1,
                               const Model* model = nullptr, int64_t pp = 1, bool piecewise_off = false,
                               const std::string& speculative_method = "",
                               std::optional<bool> enable_multimodal = std::nullopt);
// Whether the engine serves the model multimodal: it has towers, and SGLang does not serve its
// family text-only by default (--enable-multimodal decides where given).
bool serves_multimodal(const Model& model, const EngineProfile& profile, std::optional<bool> enable_multimodal);
// SGLang's factor on its default mem_fraction_static for a model with a vision_config (1 where the
// profile has no such rule or the model no vision_config).
double multimodal_fraction_factor(const EngineProfile& profile, const Model& model);
// SGLang's drafter shape (server_args.py): without speculative_num_steps, steps, topk and draft
// tokens take the profile's automatic choice for the model's family and the method; topk unset is
// 1; with topk 1 the draft tokens are steps + 1 (a chain; SGLang overrides a given value). Throws
// kvplan::Error for topk > 1 without the draft tokens. No-op without a method or outside SGLang.
void resolve_speculative_shape(EngineSettings& engine, const Model& target);
// SGLang's piecewise CUDA-graph capture sizes up to `max_tokens` (the reserve's runs).
int64_t piecewise_graph_sizes(const EngineProfile::Reserve& r, int64_t max_tokens);

// The CUDA graphs vLLM (0.19+) captures by default, which its memory estimate counts. The capture
// sizes are 1, 2, 4, then multiples of 8 below 256, then of 16, up to
// min(2 x max_num_seqs x d, 512, max_num_batched_tokens), with d = 1 + the speculative tokens; with
// d > 1 each is rounded up to a multiple of d, those past the largest dropped and repeats once (none
// left: d) (vllm/config/vllm.py; vllm/config/compilation.py adjust_cudagraph_sizes_for_spec_decode).
// Each size gets a piecewise graph, and a full graph when it is a uniform decode batch of at most
// max_num_seqs x d tokens (vllm/v1/cudagraph_dispatcher.py, FULL_AND_PIECEWISE).
int64_t cuda_graph_count(int64_t max_num_seqs, int64_t max_num_batched_tokens, int64_t num_speculative_tokens);
// Total memory as the CUDA driver reports it: the preset's cuda_total_bytes, else nvidia-smi's.
int64_t cuda_total_bytes(const Gpu& gpu);

// The KV dtype an engine's --kv-cache-dtype value names (nullopt = auto); exactly the profile's
// spellings, else a kvplan::Error listing them with "did you mean".
std::optional<DType> engine_kv_cache_dtype(const EngineProfile& profile, const std::string& value);

// Throws when VLLM_USE_V2_MODEL_RUNNER (`v2_model_runner`) asks for Model Runner V2 on a profile
// that states no Runner V2 rules (before vllm@0.22).
void check_model_runner(const EngineProfile& profile, std::optional<bool> v2_model_runner);

// Whether the engine's --kv-cache-dtype value also selects DeepSeek's FP8 sparse-MLA layout for
// the model; a value that names that layout for a model without MLA layers is a kvplan::Error.
bool engine_mla_fp8_ds(const EngineProfile& profile, const Model& model, const std::string& value);

// An ideal memory plan made the engine's: fits (the engine starts and the batch's blocks fit in
// its pool), max_batch (requests of `context` tokens the pool holds), max_context (the longest
// context, up to max_model_len, at which `batch` requests fit) and engine_blocks, all with the
// plan's sharing.
void apply_engine(MemoryPlan& memory, const EnginePlan& plan, int64_t batch, int64_t context);

// Requests of `context` tokens that fit on one GPU under memory.engine: the ideal engine's exact
// bytes, or the engine's block pool (planned at max_model_len, default the context).
int64_t max_batch_under_engine(const Model& model, const Gpu& gpu, const MemoryOptions& memory, int64_t context);

// The RoPE cos/sin tables a model's layers build, in its activation dtype: each distinct table once,
// at its own rows, or at the model's max_context rows where `unscaled` (the engine ignores scaling).
int64_t rope_tables_bytes(const Model& model, DType dtype, bool unscaled = false);
// Whether the GPU multiplies FP4 natively (its preset states an nvfp4 or mxfp4 peak: Blackwell).
bool native_fp4(const Gpu& gpu);
// The bytes the engine adds to layers [first_layer, end_layer) per GPU by creating mxfp4 experts
// padded for its weight-only Marlin kernel (profile mxfp4_marlin_*; GPUs without native FP4 only):
// each expert's slice at intermediate/tp (whole under expert parallelism) rounded up to a multiple
// of mxfp4_marlin_intermediate and hidden to one of mxfp4_marlin_hidden, its biases with it, less
// the unpadded 1/tp share. vLLM model_executor/layers/quantization/mxfp4.py (Mxfp4MoEMethod,
// create_weights, Marlin backend: the MoE Marlin kernel needs n % 256 == 0 and k % 128 == 0).
int64_t mxfp4_padding_bytes(const Model& model, const MemoryOptions& memory, const EngineProfile& profile,
                            const Gpu& gpu, size_t first_layer, size_t end_layer);

// The 16-bit copies of every quantized MLA kv_b_proj of `model` (profile mla_absorbed_copy), per
// GPU: each layer's heads/tp x (qk_nope + v_head) x kv_lora_rank elements in the activation dtype.
// vLLM's MLA attention (MLACommonImpl.process_weights_after_loading, vllm/v1/attention/backends/mla/
// common.py) dequantizes kv_b_proj and keeps W_UK_T and W_UV as views of that copy ("we just store
// fp16/bf16 copies and perform the bmm's in 16-bit"); an unquantized kv_b_proj is viewed in place.
int64_t mla_absorbed_bytes(const Model& model, const MemoryOptions& memory, const EngineProfile& profile);

// A sparse-MLA model's top-k index buffer (profile topk_indices_buffer): max_num_batched_tokens x
// index_topk int32, allocated with the model (vLLM's DeepseekV2Model, vllm/model_executor/models/
// deepseek_v2.py), so part of the memory the engine logs for loading. 0 without an indexer.
int64_t topk_indices_bytes(const Model& model, const EngineProfile& profile, int64_t max_num_batched_tokens);

// The fused-MoE kernel's scratch for a forward pass of `tokens` tokens, per GPU: the largest over
// the MoE layers with 16- or 8-bit experts (0 for none).
int64_t fused_moe_workspace_bytes(const Model& model, const MemoryOptions& memory, const EngineProfile& profile,
                                  int64_t tokens);

// vLLM's profiled vision-tower pass (EngineProfile::EncoderProfile): nullopt where the profile has
// none for the model's family, Runner V2 skips it, or the model's vision_config lacks a field it needs.
std::optional<EncoderPass> encoder_pass(const Model& model, const MemoryOptions& memory, const EngineProfile& profile,
                                        int64_t max_num_batched_tokens, int64_t max_model_len, bool runner_v2);

// The engine's activation peak for a forward pass of `tokens` tokens with `seqs` sampled rows, on
// vLLM's Model Runner V2 where `runner_v2`.
int64_t activation_peak_bytes(const Model& model, const MemoryOptions& memory, const EngineProfile& profile,
                              int64_t tokens, int64_t seqs, bool runner_v2);

}  // namespace kvplan
