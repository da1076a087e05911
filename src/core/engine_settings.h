// An engine profile (how one engine version range sizes its KV cache) and the engine settings of
// a query. Data only: the rules are in core/engine.h.
#pragma once

#include <cstdint>
#include <memory>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/dtype.h"
#include "core/model.h"

namespace kvplan {

// Which engine's rules size the cache. `ideal` is kvplan's own engine: exact bytes, no blocks.
enum class EngineKind { ideal, vllm, sglang };
const char* name(EngineKind kind);

// How the engine lays out the KV cache in blocks (docs/engines.md "Allocators").
enum class Allocator {
  vllm_v0,      // one block holds block_size tokens of every layer; sliding layers sized as full
  vllm_v1,      // per-layer pages; layers of different kinds in groups sharing one block pool
  sglang,       // a token pool: one cell holds one token of every layer (page_size tokens per page)
};

// How the engine budgets memory for the KV cache (docs/engines.md "Memory plan").
enum class Budget {
  requested_minus_peak,  // vLLM: total x utilization - (weights + activation peak + non-torch [+ CUDA graphs])
  free_minus_reserved,   // SGLang: mem_fraction_static x free memory before loading - weights
};

// Admission bound of a sliding-window layer: blocks one request may hold.
enum class SlidingBound {
  window_plus_batch,  // cdiv(min(W - 1 + max_num_batched_tokens, L), block) + 1
  full,               // as a full-attention layer: cdiv(L, block)
};

// One engine version range's rules and defaults (presets/engines/<name>-<version>.yaml).
struct EngineProfile {
  EngineKind kind = EngineKind::ideal;
  std::string version;                 // the profile's label, e.g. "0.10"
  std::vector<std::string> releases;   // the releases it covers, e.g. 0.10.0 .. 0.10.2
  bool is_default = false;             // what a bare engine name resolves to
  std::string source;                  // the engine files and version the rules were read from
  Allocator allocator = Allocator::vllm_v1;
  Budget budget = Budget::requested_minus_peak;
  SlidingBound sliding_bound = SlidingBound::window_plus_batch;
  bool hybrid_groups = true;           // V1: sliding/chunked/state layers in their own groups
  bool state_page_unification = true;  // V1 hybrids: attention block enlarged to hold one state page
  bool page_size_unification = false;  // V1 hybrids: a layer whose page divides the largest gets a block
                                       // that many times larger (else pages must be equal)
  int64_t block_alignment = 16;        // the attention block of a unified hybrid is a multiple of this
  int64_t block_alignment_mla = 0;     // ... and of this when the attention layers are MLA (0: block_alignment)
  // KDA's recurrent state in this dtype whatever the state dtype (unset: the state dtype)
  std::optional<DType> kda_state_dtype;
  double group_size_ratio = 1.5;        // V1 groups: the largest layer count is the group size when
                                       // below this multiple of the smallest, else the smallest
  bool tokens_from_concurrency = false;  // V1 "GPU KV cache size": max_concurrency x max_model_len
                                       // (else blocks per group x smallest block)
  bool deducts_cuda_graphs = false;    // CUDA-graph memory is taken from the KV budget
  // When deducted (0 with --enforce-eager), vLLM's own estimate of the graphs' memory, fitted over
  // the "Estimated CUDA graph memory" lines of the logs in tests/engines (tools/fit_graph_estimate.py):
  // graphs x (cuda_graph_bytes + cuda_graph_bytes_per_layer x the stage's layers), + cuda_graph_bytes_moe
  // once for a MoE model; graphs as cuda_graph_count counts them.
  int64_t cuda_graph_bytes = 0;
  int64_t cuda_graph_bytes_per_layer = 0;
  int64_t cuda_graph_bytes_moe = 0;
  // vLLM's Model Runner V2 runs the models of these families (HF model_type), or every dense model
  // (no MoE, MLA or recurrent layers) with runner_v2_dense; where runner_v2_deducts_cuda_graphs is
  // false it leaves CUDA-graph memory out of the budget (its profile_cudagraph_memory returns 0).
  std::vector<std::string> runner_v2_families;
  bool runner_v2_dense = false;
  // Runner V2 for every model (vLLM 0.29, #53183), except under the listed speculative methods,
  // which keep the V1 runner (ngram).
  bool runner_v2_all = false;
  std::vector<std::string> runner_v2_v1_speculative;
  bool runner_v2_deducts_cuda_graphs = false;
  // Runner V2's profiled sampler: its dummy batch registers no sampling parameters, so the fp32
  // upcast and top-k/top-p never run and the peak holds the logits alone, in the model's dtype
  // (vLLM #57926): the sampler's copies of fp32 logits there (0.5 at 16 bits); negative: as the
  // V1 runner's sampler_logits_copies.
  double runner_v2_sampler_logits_copies = -1;
  // Async scheduling keeps more than one batch in flight, and the sliding-window (chunked) admission
  // bound counts max_concurrent_batches x max_num_batched_tokens tokens in flight: 2 on one stage
  // (pp on more) with the V1 runner, pp + 1 with Runner V2 (vLLM 0.26+, PR #47728); else 1.
  bool async_in_flight_batches = false;
  // A hybrid (attention and recurrent state layers) gets prefix caching, hence the Mamba cache's
  // 'align' mode, by default (vLLM 0.28+, PR #50991); before, prefix caching was off for hybrids
  // unless asked. Attention-free models (pure Mamba) are left as they were.
  bool hybrid_prefix_caching = false;
  // The V1 start check's need for one max_model_len request: the sum of every layer's own blocks
  // (before #36030), or the groups' blocks x group size x page, padding layers included
  // (_max_memory_usage_bytes_from_groups after #36030, vLLM 0.18+).
  bool start_check_padded = false;
  // The start check leaves out one block of the pool, the allocator's null block (#47272, 0.29+).
  bool start_check_null_block = false;
  // Under pipeline parallelism the start check needs the whole model's layers (every stage's) to
  // fit the smallest stage's budget, not each stage's own (#29431 until #33698: vLLM 0.14-0.16).
  bool start_check_whole_model = false;
  // Host time to issue one kernel from the engine's Python model code when no CUDA graph replays
  // the step (--enforce-eager): a decode step then takes max(its GPU time, kernels x this) (0: not
  // modelled; docs/timing.md "Eager decode steps").
  double eager_launch_s = 0;
  int64_t non_torch_bytes = 0;         // memory outside PyTorch's allocator the profile sees grow: one GPU
  int64_t non_torch_bytes_tensor_parallel = 0;  // the same under tp > 1 on NVSwitch GPUs (NCCL's NVLink SHARP buffers)
  int64_t non_torch_bytes_pipeline = 0;         // the same under pp > 1 with tp = 1
  // SGLang (0.5.18+, PR #34141): a multimodal model's KV budget leaves this much for the runtime's
  // multimodal cache (SGLANG_VLM_CACHE_SIZE_MB, 100 MiB by default; mm_runtime_reservation_gb).
  int64_t multimodal_reserve_bytes = 0;
  // SGLang serves these families (HF model_type) text-only unless --enable-multimodal
  // (model_config.py mm_disabled_models: Gemma3ForConditionalGeneration,
  // Llama4ForConditionalGeneration): not multimodal then for the reserve, the piecewise graphs and
  // the vision fraction; those in text_only_skips_towers do not load their towers then either.
  std::vector<std::string> text_only_families;
  std::vector<std::string> text_only_skips_towers;
  // SGLang before 0.4.9.post3: the model runner scales the fraction (the default or the user's) of a
  // multimodal model by this (model_runner.py: 0.95, then 0.90 from 2025-03-31); 1: no such rule.
  double multimodal_fraction_scale = 1.0;
  // Activation peak of the profiling forward pass (vLLM), two terms: the forward pass of
  // max_num_batched_tokens tokens (forward_copies x the residual stream and widest intermediate
  // per token) and the sampler's max_num_seqs logits rows (sampler_logits_copies x vocab x 4 B);
  // the peak is their maximum or, where the profile keeps both alive, their sum.
  double forward_copies = 0;
  double sampler_logits_copies = 0;
  // The sampler's copies when vLLM's top-k/top-p runs on FlashInfer (VLLM_USE_FLASHINFER_SAMPLER=1,
  // or FlashInfer installed where the version uses it when present) or in PyTorch's native code,
  // which sorts the whole vocabulary (VLLM_USE_FLASHINFER_SAMPLER=0, or FlashInfer missing); 0: as
  // sampler_logits_copies (docs/engines.md "Activation peak").
  double sampler_logits_copies_flashinfer = 0;
  double sampler_logits_copies_native = 0;
  bool activation_terms_add = false;
  // The fused-MoE kernel's scratch (16- and 8-bit experts): tokens x top-k rows of the widest
  // first-GEMM output and of the activation output, in chunks of at most moe_chunk_tokens tokens.
  // Where it persists (a grow-only workspace shared by every MoE layer), it is still held while
  // the sampler runs, so it adds to the sampler's term; else it lives inside the forward pass.
  bool moe_workspace_persists = false;
  // The profile's encoder pass (vLLM): before the text forward pass it runs the vision tower once on
  // max(1, max_num_batched_tokens / item tokens) dummy items of the maximum feature size, batched;
  // the peak is the larger of the two passes. Only the families listed (those whose rules were
  // read); for video_families the dummy item is a video of min(max_model_len / image tokens,
  // max_video_frame_pairs) frame pairs, each pair an image's tokens; runner_v2: whether Model
  // Runner V2 runs the pass too.
  struct EncoderProfile {
    std::vector<std::string> families;
    std::vector<std::string> video_families;
    int64_t max_video_frame_pairs = 1;
    bool runner_v2 = true;
  };
  std::optional<EncoderProfile> encoder_profile;
  // The loaded model also holds its RoPE cos/sin tables (part of the weights the engine logs).
  bool rope_tables = false;
  // Families whose tables the engine builds at max_position_embeddings rows whatever the config's
  // scaling (SGLang's Gemma 3 gives every layer rope_type default: models/gemma3_causal.py): as many
  // tables as the scaled model has distinct ones (Gemma 3: its local and global bases).
  std::vector<std::string> rope_unscaled_families;
  // MLA decode absorbs kv_b_proj into W_UK and W_UV; where kv_b_proj is quantized the engine keeps
  // a 16-bit dequantized copy of it for those products, beside the quantized weight.
  bool mla_absorbed_copy = false;
  // A model with a sparse-attention indexer holds, from its construction, a buffer of
  // max_num_batched_tokens x index_topk int32 top-k indices.
  bool topk_indices_buffer = false;
  // mxfp4 experts on a GPU without FP4 tensor cores run on a weight-only Marlin kernel, which the
  // engine creates padded: each expert's intermediate size per partition rounded up to a multiple
  // of mxfp4_marlin_intermediate and the hidden size to one of mxfp4_marlin_hidden (0: no padding).
  int64_t mxfp4_marlin_intermediate = 0;
  int64_t mxfp4_marlin_hidden = 0;
  // SGLang's hybrid sliding-window pool: for the model families listed, the sliding-window (and
  // chunked) layers get a pool of their own, swa_full_tokens_ratio times the full layers' tokens
  // (0: none).
  double swa_full_tokens_ratio = 0;
  std::vector<std::string> swa_pool_families;
  // SGLang: hybrids keep their Mamba/linear-attention states in a pool of their own, split off
  // the KV budget as memory_ratio : 1 (mamba_full_memory_ratio); the conv windows and recurrent
  // states in their own dtypes (bf16, --mamba-ssm-dtype float32); slots_per_request state slots
  // per running request (radix cache on). 0 ratio: no separate pool.
  double state_pool_ratio = 0;
  DType state_pool_conv_dtype = DType::bf16;
  DType state_pool_ssm_dtype = DType::fp32;
  int64_t state_pool_slots_per_request = 1;
  // The families whose radix cache keeps extra state buffers (SGLang's 'extra_buffer' strategy,
  // chosen by 'auto' for them): state_pool_extra_buffer_slots per running request instead.
  std::vector<std::string> state_pool_extra_buffer_families;
  int64_t state_pool_extra_buffer_slots = 0;
  // The pool keeps one state slot as padding: (budget - one state) / state slots, and the padding
  // slot's bytes leave the KV budget too.
  bool state_pool_padding_slot = false;
  int64_t moe_chunk_tokens = 16384;
  bool chunked_local_groups = true;    // V1: chunked local attention keeps its own groups (else full)
  bool batched_tokens_from_model_len = false;  // V0: max(max_model_len, 2048), 2048 past 32K tokens
  // Defaults as `serve` applies them.
  int64_t block_size = 16;
  std::vector<int64_t> block_sizes;    // values the engine accepts
  int64_t mla_block_size = 0;          // MLA backends force this block size (0 = none)
  int64_t mla_sparse_block_size = 0;   // sparse MLA (an indexer, DeepSeek-V3.2) forces this one (0 = none)
  int64_t max_num_batched_tokens = 8192;
  int64_t max_num_seqs = 256;
  double gpu_memory_utilization = 0.9;
  // Larger defaults on big GPUs: tiers by CUDA memory (ascending); a GPU takes the last tier whose
  // min_bytes it reaches and whose except list names no part of its id (vLLM: 70 GiB, not A100;
  // from 0.28 also 160 GiB).
  struct GpuTier {
    int64_t min_bytes = 0;
    std::vector<std::string> except;
    int64_t max_num_batched_tokens = 0;
    int64_t max_num_seqs = 0;
  };
  std::vector<GpuTier> big_gpu;
  // SGLang's defaults by GPU memory (nvidia-smi MiB): rows sorted by below_mib (0 = the rest).
  struct MemoryRow {
    int64_t below_mib = 0;
    int64_t chunked_prefill_size = 0;
    int64_t cuda_graph_max_bs = 0;      // tp < 4
    int64_t cuda_graph_max_bs_tp4 = 0;  // tp >= 4
    // The default mem_fraction_static's reserve on these GPUs where the version sets it by GPU
    // memory (SGLang 0.4.8-0.5.2): reserve_mib + reserve_per_gpu_mib x tp x pp, in place of a table
    // or the profile's reserve formula.
    std::optional<double> reserve_mib;
    double reserve_per_gpu_mib = 0;
    // SGLang 0.4.6-0.4.7 (server_args.py __post_init__), not rounded: the row's fraction f in place
    // of the by_gpus table, raised to f + grow_mib x (1 - f) / MiB, at most (MiB - min_reserve_mib -
    // a drafter's reserve) / MiB, then x drafter_scale with a drafter.
    std::optional<double> fraction;
    double grow_mib = 0;
    std::optional<double> min_reserve_mib;
    double drafter_scale = 1;
  };
  std::vector<MemoryRow> by_gpu_memory;
  // SGLang's default mem_fraction_static: a table by tp x pp (largest key not above it wins), or
  // (gpu_mib - reserved) / gpu_mib with reserved = base + per_prefill_token x max(chunked prefill,
  // min_prefill_tokens) + per_graph_bs x cuda_graph_max_bs + per_gpu x tp x pp, at least floor
  // on GPUs above floor_above_mib; rounded to 3 decimals.
  std::vector<std::pair<int64_t, double>> fraction_by_gpus;
  struct Reserve {
    double base_mib = 0, per_prefill_token_mib = 0, per_graph_bs_mib = 0, per_gpu_mib = 0;
    int64_t min_prefill_tokens = 0, floor_mib = 0, floor_above_mib = 0;
    // Piecewise CUDA graphs (SGLang 0.5.10+, on by default), reserved before the floor:
    // piecewise_mib_per_size x the capture sizes up to the chunked-prefill size, the sizes being
    // the runs {from, to, step} below; a flat piecewise_mla_mib for MLA models. None where SGLang
    // turns them off: multimodal models, pipeline parallelism, the listed families (HF model_type).
    struct SizeRun {
      int64_t from = 0, to = 0, step = 1;
    };
    bool piecewise = false;  // the profile reserves for piecewise graphs (section present)
    bool piecewise_pipeline = false;  // ... with pipeline parallelism too
    double piecewise_mib_per_size = 0, piecewise_mla_mib = 0;
    std::vector<SizeRun> piecewise_sizes;
    std::vector<std::string> piecewise_off_families;
  };
  std::optional<Reserve> reserve;
  // SGLang's default fraction for a model with a vision_config (adjust_mem_fraction_for_vlm, PR
  // #6881): the reserve's fraction x factor x clamp(1 - slope x (L x H^2 / (baseline_layers x
  // baseline_hidden^2) - 1), min, max), L and H the vision_config's num_hidden_layers and
  // hidden_size (the baselines where it does not state them); not rounded.
  struct MultimodalFraction {
    double factor = 1, slope = 0, min = 0, max = 0;
    int64_t baseline_layers = 0, baseline_hidden = 0;
  };
  std::optional<MultimodalFraction> multimodal_fraction;
  // SGLang with a drafter (--speculative-algorithm): its version's rules (python/sglang/srt/
  // server_args.py, model_runner.py; docs/engines.md "SGLang with a drafter"). Absent (vLLM): the
  // drafter's layers join the pool and its weights the budget.
  struct Speculative {
    // Added to the default mem_fraction_static's reserve, after its floor: EAGLE-family drafts
    // (eagle, eagle3, mtp) and STANDALONE draft models (draft_model); ngram none.
    double eagle_reserve_mib = 0;
    double standalone_reserve_mib = 0;
    int64_t max_running_requests = 0;  // the default max_running_requests with a drafter (0: the profile's)
    // The target's pool gets R x (steps x topk + draft tokens) + 100 tokens beyond the profiled
    // ones (R = max_running_requests), which the drafter's pool holds too.
    bool token_headroom = false;
    // Shared: the drafter's weights are loaded before the pool is profiled and its layers widen the
    // target's cell by L_draft / L_target; else the drafter's weights and its own pool (the target's
    // tokens, its layers) come out of the memory left beyond mem_fraction_static.
    bool draft_pool_shared = false;
    // (steps, topk, draft tokens) when speculative_num_steps is not given: the first rule whose
    // families (HF model_type; empty: any) and methods (empty: any) match.
    struct Auto {
      std::vector<std::string> families, methods;
      int64_t steps = 0, topk = 0, draft_tokens = 0;
    };
    std::vector<Auto> auto_params;
  };
  std::optional<Speculative> speculative;
  // --kv-cache-dtype spellings: name -> dtype (nullopt = auto: the model's activation dtype)
  std::vector<std::pair<std::string, std::optional<DType>>> kv_cache_dtypes;
  // Of those names, the ones that also lay MLA latents out in DeepSeek's FP8 sparse format
  // (MlaCache::fp8_ds; vLLM's fp8_ds_mla).
  std::vector<std::string> mla_fp8_ds_kv_cache_dtypes;
  // Names that select that layout on a sparse-MLA model only (vLLM turns every fp8 cache of
  // DeepSeek-V3.2 into fp8_ds_mla).
  std::vector<std::string> mla_sparse_fp8_ds_kv_cache_dtypes;
  bool prefix_caching = false;          // prefix caching on by default (vLLM V1, SGLang's radix cache)
  bool mla_value_padding = false;       // decompressed MLA stores V padded to the QK head dim (CacheOptions)
  // A hybrid deployed with prefix caching switched on keeps two state blocks per request in each
  // state group (vLLM's mamba_cache_mode 'align': the running state and the last block-aligned
  // one), else one.
  bool mamba_cache_align = false;
  std::vector<std::string> arguments;  // every argument of this version; those not modelled get a note
};

// How often the drafter's guesses are accepted, as vLLM's spec-decode metrics report it: the
// acceptance rate F = accepted / proposed draft tokens, or the mean acceptance length L = 1 +
// accepted / drafts (tokens a target step yields per sequence); L = 1 + k x F (core/speculative.h).
enum class AcceptanceKind { rate, length };
struct Acceptance {
  AcceptanceKind kind = AcceptanceKind::rate;
  double value = 0;
};

// The engine-only settings of a query (the engine's spelling in comments); unset values take the
// profile's defaults. Utilization, max_num_batched_tokens, the KV dtype and tp live in
// MemoryOptions, which every engine (ideal included) uses.
struct EngineSettings {
  EngineProfile profile;                         // kind ideal: kvplan's own engine, no blocks
  std::optional<int64_t> max_model_len;          // --max-model-len / --context-length
  std::optional<int64_t> max_num_seqs;           // --max-num-seqs / --max-running-requests
  std::optional<int64_t> block_size;             // --block-size / --page-size
  std::optional<int64_t> kv_cache_memory_bytes;  // --kv-cache-memory-bytes: skip the profile
  int64_t pipeline_parallel_size = 1;            // --pipeline-parallel-size
  bool enforce_eager = false;                    // --enforce-eager: no CUDA graphs
  std::optional<bool> flashinfer_sampler;        // vLLM's VLLM_USE_FLASHINFER_SAMPLER; unset: the profile's path
  std::optional<bool> v2_model_runner;           // vLLM's VLLM_USE_V2_MODEL_RUNNER; unset: the profile's choice by model
  bool disable_hybrid_kv_cache_manager = false;  // vLLM: sliding/chunked layers sized as full attention
  std::optional<bool> prefix_caching;            // --[no-]enable-prefix-caching / --disable-radix-cache
  std::optional<int64_t> max_mamba_cache_size;   // SGLang --max-mamba-cache-size: a hybrid's state slots
  bool disable_piecewise_cuda_graph = false;     // SGLang --disable-piecewise-cuda-graph: none of their reserve
  std::optional<bool> enable_multimodal;         // SGLang --enable-multimodal; unset: the profile's choice by family
  std::map<std::string, int64_t> limit_mm_per_prompt;  // vLLM --limit-mm-per-prompt: a modality at 0 is not profiled
  bool skip_mm_profiling = false;                // vLLM --skip-mm-profiling: no vision-encoder pass in the profile
  // --speculative-config: the drafter's layers share the KV pool and its weights the GPU (the last
  // pipeline stage). ngram drafts without layers.
  std::string speculative_method;                // "" = none; draft_model, eagle, eagle3, mtp, ngram
  int64_t num_speculative_tokens = 0;            // SGLang: speculative_num_steps (0: the profile's choice)
  int64_t speculative_eagle_topk = 0;            // SGLang: drafts per step (0: 1, or the profile's choice)
  int64_t speculative_num_draft_tokens = 0;      // SGLang: tokens verified per step (0: steps + 1, or the profile's)
  std::shared_ptr<const Model> draft;            // the drafter's layers and weights (none for ngram)
  // The workload's acceptance (--acceptance-rate / --acceptance-length): with it, decode is timed
  // as speculative steps (core/speculative.h); without it, as plain decode steps.
  std::optional<Acceptance> acceptance;
};

}  // namespace kvplan
