#include "core/engine.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <initializer_list>
#include <tuple>
#include <map>

#include "core/checked.h"
#include "core/kv_cache.h"
#include "core/parallel.h"
#include "core/params.h"
#include "core/search.h"
#include "core/serving_dtypes.h"
#include "core/speculative.h"

namespace kvplan {

const char* name(EngineKind kind) {
  switch (kind) {
    case EngineKind::ideal: return "ideal";
    case EngineKind::vllm: return "vllm";
    case EngineKind::sglang: return "sglang";
  }
  return "?";
}

const char* name(EngineGroup::Kind kind) {
  switch (kind) {
    case EngineGroup::Kind::full: return "full";
    case EngineGroup::Kind::sliding: return "sliding";
    case EngineGroup::Kind::chunked: return "chunked";
    case EngineGroup::Kind::state: return "state";
  }
  return "?";
}

namespace {

using Kind = EngineGroup::Kind;

std::string str(int64_t v) { return std::to_string(v); }

// Whether a profile's list (families, methods, names) holds `value`.
bool listed(const std::vector<std::string>& list, const std::string& value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}
// Bytes as the engines print them: GiB with two decimals.
std::string gib(int64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", static_cast<double>(bytes) / (1024.0 * 1024.0 * 1024.0));
  return buf;
}

// One cache-holding layer as the engine sees it, per GPU: an attention-like layer (bytes per
// token) or a recurrent one (state bytes per sequence). A parallel-hybrid layer is two.
struct CacheLayer {
  Kind kind = Kind::full;
  int64_t window = 0;
  int64_t bytes_per_token = 0;  // attention-like
  int64_t state_bytes = 0;      // recurrent
};

std::vector<CacheLayer> cache_layers(const Model& model, const CacheOptions& cache, bool hybrid_groups) {
  CacheOptions windowed = cache;
  windowed.sliding = SlidingCache::window;
  std::vector<CacheLayer> out;
  for (const Layer& layer : model.layers) {
    const int64_t bytes = kv_bytes_per_token(layer, windowed);
    if (bytes > 0) {
      CacheLayer c;
      c.bytes_per_token = bytes;
      const LayerKind k = kind_of(layer);
      const int64_t window = resident_window(layer, windowed);
      if (hybrid_groups && window > 0) {
        c.kind = k == LayerKind::chunked_attention ? Kind::chunked : Kind::sliding;
        c.window = window;
      }
      out.push_back(c);
    }
    const int64_t state = state_bytes(layer, cache).total();
    if (state > 0) out.push_back({Kind::state, 0, 0, state});
  }
  return out;
}

// Which of vLLM's model runners runs the model: Runner V2 for the profile's families and, where it
// says so, every dense model (attention layers with dense MLPs only: no MoE, MLA or recurrent state)
// or every model but under the speculative methods that keep the V1 runner.
bool has_moe(const Model& model) {
  for (const Layer& layer : model.layers)
    if (layer.mlp && std::holds_alternative<MoeMlp>(*layer.mlp)) return true;
  return false;
}

bool on_runner_v2(const Model& model, const EngineProfile& profile, const EngineSettings& engine) {
  const std::string& speculative_method = engine.speculative_method;
  if (engine.v2_model_runner) {
    // VLLM_USE_V2_MODEL_RUNNER=0 keeps the V1 runner for every model; =1 asks for Runner V2.
    check_model_runner(profile, engine.v2_model_runner);
    if (!*engine.v2_model_runner) return false;
    if (!profile.runner_v2_all) return true;
  }
  if (profile.runner_v2_all) return !listed(profile.runner_v2_v1_speculative, speculative_method);
  if (listed(profile.runner_v2_families, model.family)) return true;
  if (!profile.runner_v2_dense || has_moe(model)) return false;
  for (const Layer& layer : model.layers) {
    const LayerKind k = kind_of(layer);
    if (k != LayerKind::attention && k != LayerKind::sliding_attention && k != LayerKind::chunked_attention &&
        k != LayerKind::mlp_only)
      return false;
  }
  return true;
}

}  // namespace

// Runner V2's memory rules are stated from the release that made it a default (0.22).
void check_model_runner(const EngineProfile& profile, std::optional<bool> v2_model_runner) {
  const bool modelled = profile.runner_v2_all || profile.runner_v2_dense || !profile.runner_v2_families.empty();
  if (v2_model_runner.value_or(false) && !modelled)
    throw Error("VLLM_USE_V2_MODEL_RUNNER=1: the vllm " + profile.version +
                " profile does not model Model Runner V2 (kvplan models it from vllm@0.22, where it became a default)");
}

namespace {

// Batches the engine keeps in flight, which the sliding-window admission bound counts (vLLM's
// max_concurrent_batches): with async scheduling 2 on one stage and pp on more under the V1 runner,
// pp + 1 under Runner V2; 1 where the version counts one batch.
int64_t in_flight_batches(const EngineProfile& profile, bool runner_v2, int64_t pp) {
  if (!profile.async_in_flight_batches) return 1;
  if (runner_v2) return pp + 1;
  return pp <= 1 ? 2 : pp;
}

}  // namespace

int64_t cuda_graph_count(int64_t max_num_seqs, int64_t max_num_batched_tokens, int64_t num_speculative_tokens) {
  const int64_t decode = add(1, std::max<int64_t>(num_speculative_tokens, 0));
  const int64_t largest = std::min({mul(mul(max_num_seqs, decode), 2), int64_t{512}, max_num_batched_tokens});
  const int64_t decode_largest = mul(max_num_seqs, decode);
  // The default sizes, each rounded up to a multiple of the decode tokens; those past the largest
  // dropped, repeats once; none left: the decode tokens alone.
  int64_t piecewise = 0, full = 0, last = 0;
  const auto count = [&](int64_t size) {
    ++piecewise;
    if (size <= decode_largest) ++full;
  };
  for (int64_t size = 1; size <= largest; size = size < 4 ? size * 2 : size < 8 ? 8 : size + (size < 256 ? 8 : 16)) {
    const int64_t rounded = mul(ceil_div(size, decode), decode);
    if (rounded > largest || rounded == last) continue;
    last = rounded;
    count(rounded);
  }
  if (piecewise == 0 && decode <= largest) count(decode);
  return piecewise + full;
}

namespace {

bool has_layer_of(const Model& model, std::initializer_list<LayerKind> kinds) {
  for (const Layer& layer : model.layers)
    if (std::find(kinds.begin(), kinds.end(), kind_of(layer)) != kinds.end()) return true;
  return false;
}

bool has_sparse_mla(const Model& model) { return has_layer_of(model, {LayerKind::mla_sparse}); }
bool has_mla(const Model& model) { return has_layer_of(model, {LayerKind::mla, LayerKind::mla_sparse}); }

// Tokens per block of an attention layer whose block of p.block_size tokens takes `page` bytes:
// in a pool unified to larger pages (vLLM 0.12+), its block grows until its page is the common one.
int64_t unified_block_size(const EnginePlan& p, int64_t page) {
  return p.unified_page_bytes > page ? mul(p.block_size, p.unified_page_bytes / page) : p.block_size;
}

// Blocks one layer of `kind` holds for a request of `tokens` tokens (the engine's admission bound).
int64_t layer_blocks(const EnginePlan& p, const EngineGroup& g, SlidingBound bound, int64_t tokens) {
  switch (g.kind) {
    case Kind::full: return ceil_div(tokens, g.block_size);
    case Kind::sliding:
      if (bound == SlidingBound::full) return ceil_div(tokens, g.block_size);
      return ceil_div(std::min(add(g.window - 1, p.in_flight_tokens), tokens), g.block_size) + 1;
    case Kind::chunked:
      if (bound == SlidingBound::full) return ceil_div(tokens, g.block_size);
      return ceil_div(std::min(add(g.window, p.in_flight_tokens), tokens), g.block_size);
    case Kind::state: return p.state_blocks_per_request;
  }
  return 0;
}

}  // namespace

int64_t rope_tables_bytes(const Model& model, DType dtype, bool unscaled) {
  std::vector<RopeTable> tables;
  for (const Layer& layer : model.layers)
    if (layer.mixer) std::visit([&](const auto& x) { add_rope_tables(x, model.max_context, tables); }, *layer.mixer);
  std::vector<RopeTable> distinct;
  for (const RopeTable& t : tables)
    if (std::find(distinct.begin(), distinct.end(), t) == distinct.end()) distinct.push_back(t);
  int64_t elements = 0;
  for (const RopeTable& t : distinct) elements = add(elements, mul(unscaled ? model.max_context : t.positions, t.rotary_dim));
  return element_bytes(dtype, elements);
}

bool native_fp4(const Gpu& gpu) {
  return gpu.peak_flops.count(DType::nvfp4) > 0 || gpu.peak_flops.count(DType::mxfp4) > 0;
}

int64_t mxfp4_padding_bytes(const Model& model, const MemoryOptions& memory, const EngineProfile& profile,
                            const Gpu& gpu, size_t first_layer, size_t end_layer) {
  const int64_t pad_i = profile.mxfp4_marlin_intermediate, pad_h = profile.mxfp4_marlin_hidden;
  if (pad_i <= 0 || pad_h <= 0 || native_fp4(gpu) || memory.weights.expert != DType::mxfp4) return 0;
  const Parallel& par = memory.parallel;
  // Expert parallelism keeps experts whole ((experts + redundant) / ep of them per GPU); without it
  // every GPU holds a 1/tp slice of every expert.
  const int64_t tp = par.expert_parallel() ? 1 : memory.cache.tp;
  const DType bias_dtype = base_dtype(model, memory.weights);
  double extra = 0;
  for (size_t i = first_layer; i < end_layer && i < model.layers.size(); ++i) {
    const Layer& layer = model.layers[i];
    const MoeMlp* e = layer.mlp ? std::get_if<MoeMlp>(&*layer.mlp) : nullptr;
    if (!e) continue;
    const int64_t up = e->gated ? 2 : 1;
    // One expert's gate/up and down matrices (mxfp4, scales included) and its biases.
    auto expert = [&](int64_t inter, int64_t hidden) {
      int64_t b = add(matrix_bytes(DType::mxfp4, mul(up, inter), hidden), matrix_bytes(DType::mxfp4, hidden, inter));
      return e->bias ? add(b, element_bytes(bias_dtype, add(mul(up, inter), hidden))) : b;
    };
    const int64_t inter = ceil_div(e->expert_intermediate_size, tp);
    const int64_t padded = expert(mul(ceil_div(inter, pad_i), pad_i), mul(ceil_div(model.hidden_size, pad_h), pad_h));
    const double unpadded = static_cast<double>(expert(e->expert_intermediate_size, model.hidden_size)) / static_cast<double>(tp);
    const int64_t experts = par.expert_parallel() ? (e->experts + par.redundant_experts) / par.ep : e->experts;
    extra += static_cast<double>(experts) * (static_cast<double>(padded) - unpadded);
  }
  return static_cast<int64_t>(std::llround(extra));
}

int64_t mla_absorbed_bytes(const Model& model, const MemoryOptions& memory, const EngineProfile& profile) {
  if (!profile.mla_absorbed_copy) return 0;
  const DType act = activation_dtype(model, memory);
  int64_t total = 0;
  for (const Layer& layer : model.layers) {
    const Mla* m = layer.mixer ? std::get_if<Mla>(&*layer.mixer) : nullptr;
    if (!m) continue;
    for (const Tensor& t : layer_tensors(model, layer)) {
      // Quantized: stored in fewer than 16 bits a weight (scales included).
      if (t.name != "kv_b_proj" || tensor_bytes(t, model, memory.weights) >= element_bytes(DType::bf16, t.params())) continue;
      const int64_t local_heads = ceil_div(m->heads, memory.cache.tp);
      total = add(total, element_bytes(act, mul(local_heads, m->qk_nope_head_dim + m->v_head_dim, m->kv_lora_rank)));
    }
  }
  return total;
}

int64_t topk_indices_bytes(const Model& model, const EngineProfile& profile, int64_t max_num_batched_tokens) {
  if (!profile.topk_indices_buffer) return 0;
  int64_t topk = 0;
  for (const Layer& layer : model.layers)
    if (const Mla* m = layer.mixer ? std::get_if<Mla>(&*layer.mixer) : nullptr) topk = std::max(topk, m->index_topk);
  return mul(max_num_batched_tokens, topk, 4);
}

int64_t fused_moe_workspace_bytes(const Model& model, const MemoryOptions& memory, const EngineProfile& profile,
                                  int64_t tokens) {
  // Experts in 4 bits or fewer run other kernels (Marlin, MXFP4/NVFP4 GEMMs) with their own scratch.
  const DType experts = model.expert_dtype.value_or(model.dtype);
  if (info(experts).bits < 8) return 0;
  const int64_t tp = memory.cache.tp;
  const int64_t rows = std::min(tokens, profile.moe_chunk_tokens);
  const DType act = activation_dtype(model, memory);
  int64_t widest = 0;
  for (const Layer& layer : model.layers) {
    const auto* moe = layer.mlp ? std::get_if<MoeMlp>(&*layer.mlp) : nullptr;
    if (!moe) continue;
    // Whole experts under expert parallelism; else each expert's intermediate split over tp.
    const int64_t inter = memory.parallel.expert_parallel() ? moe->expert_intermediate_size
                                                            : ceil_div(moe->expert_intermediate_size, tp);
    const int64_t first = (moe->gated ? 2 : 1) * inter;  // the gate/up GEMM's output
    const int64_t per_row = add(std::max(first, model.hidden_size), std::max(inter, model.hidden_size));
    widest = std::max(widest, mul(moe->experts_per_token, per_row));
  }
  return element_bytes(act, mul(rows, widest));
}

int64_t activation_peak_bytes(const Model& model, const MemoryOptions& memory, const EngineProfile& profile,
                              int64_t tokens, int64_t seqs, bool runner_v2) {
  const MemoryModel mm = memory_model(model, memory);
  const double forward = profile.forward_copies *
                         static_cast<double>(element_bytes(mm.activation_dtype, mul(tokens, mm.activation_elements_per_token)));
  // The sampler's rows hold the whole vocabulary on every rank (logits are gathered), in fp32, in the
  // copies of the top-k/top-p path the deployment runs (VLLM_USE_FLASHINFER_SAMPLER; unset: the
  // version's default path); Runner V2's profile runs neither path (its own copies).
  double copies = profile.sampler_logits_copies;
  if (const std::optional<bool>& flashinfer = memory.engine.flashinfer_sampler) {
    const double path = *flashinfer ? profile.sampler_logits_copies_flashinfer : profile.sampler_logits_copies_native;
    if (path > 0) copies = path;
  }
  if (runner_v2 && profile.runner_v2_sampler_logits_copies >= 0) copies = profile.runner_v2_sampler_logits_copies;
  const double sampler = copies * static_cast<double>(std::min(tokens, seqs)) *
                         static_cast<double>(model.vocab_size) * 4.0;
  // A persistent fused-MoE workspace is still held when the sampler runs after the forward pass
  // (whose own term already counts the experts' intermediates).
  const double moe =
      profile.moe_workspace_persists ? static_cast<double>(fused_moe_workspace_bytes(model, memory, profile, tokens)) : 0;
  const double peak = profile.activation_terms_add ? forward + sampler : std::max(forward, sampler + moe);
  return static_cast<int64_t>(std::llround(peak));
}

std::optional<EncoderPass> encoder_pass(const Model& model, const MemoryOptions& memory, const EngineProfile& profile,
                                        int64_t max_num_batched_tokens, int64_t max_model_len, bool runner_v2) {
  const std::optional<EngineProfile::EncoderProfile>& e = profile.encoder_profile;
  if (!e || !listed(e->families, model.family) || (runner_v2 && !e->runner_v2) || !model.vision_config ||
      memory.engine.skip_mm_profiling)
    return std::nullopt;
  const Model::VisionConfig& v = *model.vision_config;
  if (!v.hidden_size || !v.intermediate_size || !v.gated_mlp || !v.max_image_tokens || !v.patches_per_token)
    return std::nullopt;
  // --limit-mm-per-prompt: a modality at 0 is not profiled.
  const auto allowed = [&](const char* modality) {
    const auto it = memory.engine.limit_mm_per_prompt.find(modality);
    return it == memory.engine.limit_mm_per_prompt.end() || it->second > 0;
  };
  const bool video = listed(e->video_families, model.family) && allowed("video");
  if (!video && !allowed("image")) return std::nullopt;
  EncoderPass pass;
  // The largest item: one image, or for the video families a video of as many frame pairs (each an
  // image's tokens) as max_model_len holds, within the profile's cap; at least one pair (a video
  // only where images are off, else the image wins the tie).
  const int64_t pairs =
      video ? std::clamp<int64_t>(max_model_len / *v.max_image_tokens, 1, e->max_video_frame_pairs) : 1;
  pass.video = video && (pairs > 1 || !allowed("image"));
  pass.item_tokens = mul(*v.max_image_tokens, pairs);
  pass.items = std::max<int64_t>(1, max_num_batched_tokens / pass.item_tokens);
  pass.patches = mul(pass.items, pass.item_tokens, *v.patches_per_token);
  // As the text forward pass: forward_copies x (the residual stream and its normed copy, plus the
  // widest of the QKV projection and the MLP's first output, split over tp) a patch.
  const int64_t tp = memory.cache.tp;
  const int64_t widest = std::max(3 * *v.hidden_size, (*v.gated_mlp ? 2 : 1) * *v.intermediate_size);
  const int64_t per_patch = add(2 * *v.hidden_size, ceil_div(widest, tp));
  pass.peak_bytes = static_cast<int64_t>(std::llround(
      profile.forward_copies * static_cast<double>(element_bytes(activation_dtype(model, memory), mul(pass.patches, per_patch)))));
  return pass;
}

int64_t piecewise_graph_sizes(const EngineProfile::Reserve& r, int64_t max_tokens) {
  int64_t n = 0;
  for (const EngineProfile::Reserve::SizeRun& run : r.piecewise_sizes)
    if (run.from <= max_tokens) n += (std::min(run.to, max_tokens) - run.from) / run.step + 1;
  return n;
}

namespace {
// The SGLang drafter rules of the profile, where a method is given (nullptr: none).
const EngineProfile::Speculative* sglang_drafter(const EngineProfile& profile, const std::string& method) {
  return method.empty() || !profile.speculative ? nullptr : &*profile.speculative;
}

// What a drafter adds to the default fraction's reserve, MiB (0 without one).
double drafter_reserve_mib(const EngineProfile::Speculative* drafter, const std::string& method) {
  if (!drafter) return 0;
  switch (draft_kind(method)) {
    case DraftKind::model: return drafter->standalone_reserve_mib;
    case DraftKind::head: return drafter->eagle_reserve_mib;
    case DraftKind::none: return 0;
  }
  return 0;
}
}  // namespace

void resolve_speculative_shape(EngineSettings& e, const Model& target) {
  if (!sglang_drafter(e.profile, e.speculative_method)) return;
  if (e.num_speculative_tokens == 0) {
    for (const EngineProfile::Speculative::Auto& a : e.profile.speculative->auto_params) {
      if (!a.families.empty() && !listed(a.families, target.family)) continue;
      if (!a.methods.empty() && !listed(a.methods, e.speculative_method)) continue;
      e.num_speculative_tokens = a.steps;
      if (e.speculative_eagle_topk == 0) e.speculative_eagle_topk = a.topk;
      if (e.speculative_num_draft_tokens == 0) e.speculative_num_draft_tokens = a.draft_tokens;
      break;
    }
    if (e.num_speculative_tokens == 0)
      throw Error("SGLang " + e.profile.version + " has no automatic speculative_num_steps for " + target.id +
                  ": give speculative_num_steps");
  }
  if (e.speculative_eagle_topk == 0) e.speculative_eagle_topk = 1;
  if (e.speculative_eagle_topk == 1) e.speculative_num_draft_tokens = e.num_speculative_tokens + 1;
  if (e.speculative_num_draft_tokens == 0)
    throw Error("speculative_eagle_topk " + str(e.speculative_eagle_topk) +
                " drafts a tree: give speculative_num_draft_tokens, the tokens it verifies per step");
}

bool serves_multimodal(const Model& model, const EngineProfile& profile, std::optional<bool> enable_multimodal) {
  return !model.towers.empty() && enable_multimodal.value_or(!listed(profile.text_only_families, model.family));
}

EngineDefaults engine_defaults(const EngineProfile& profile, const Gpu& gpu, int64_t max_model_len, int64_t gpus,
                               const Model* model, int64_t pp, bool piecewise_off, const std::string& speculative_method,
                               std::optional<bool> enable_multimodal) {
  EngineDefaults d{profile.max_num_batched_tokens, profile.max_num_seqs, profile.gpu_memory_utilization};
  const EngineProfile::Speculative* drafter = sglang_drafter(profile, speculative_method);
  if (drafter && drafter->max_running_requests > 0) d.max_num_seqs = drafter->max_running_requests;
  for (const EngineProfile::GpuTier& tier : profile.big_gpu) {
    bool in = cuda_total_bytes(gpu) >= tier.min_bytes;
    for (const std::string& except : tier.except)
      if (gpu.id.find(except) != std::string::npos) in = false;
    if (in) {
      d.max_num_batched_tokens = tier.max_num_batched_tokens;
      d.max_num_seqs = tier.max_num_seqs;
    }
  }
  // V0: chunked prefill only past 32K tokens (then 2048 per pass); else a whole prompt per pass.
  if (profile.batched_tokens_from_model_len)
    d.max_num_batched_tokens = max_model_len > 32768 ? 2048 : std::max<int64_t>(max_model_len, 2048);
  // SGLang: by the GPU's memory as nvidia-smi reports it (MiB) and tp (the graph batch), the
  // reserve by tp x pp.
  const int64_t mib = gpu.memory_bytes >> 20;
  int64_t graph_bs = 0;
  const EngineProfile::MemoryRow* tier = nullptr;
  for (const EngineProfile::MemoryRow& row : profile.by_gpu_memory) {
    if (row.below_mib != 0 && mib >= row.below_mib) continue;
    d.max_num_batched_tokens = row.chunked_prefill_size;
    graph_bs = gpus / std::max<int64_t>(pp, 1) >= 4 ? row.cuda_graph_max_bs_tp4 : row.cuda_graph_max_bs;  // by tp
    tier = &row;
    break;
  }
  for (const auto& [min_gpus, fraction] : profile.fraction_by_gpus)
    if (gpus >= min_gpus) d.gpu_memory_utilization = fraction;
  const bool multimodal = model && serves_multimodal(*model, profile, enable_multimodal);
  // SGLang 0.4.6-0.4.7: the row's fraction, raised on big GPUs and capped by a reserve, unrounded.
  if (tier) {
    double& f = d.gpu_memory_utilization;
    if (tier->fraction) f = *tier->fraction;
    if (tier->grow_mib > 0) f += tier->grow_mib * (1 - f) / static_cast<double>(mib);
    if (tier->min_reserve_mib) {
      const double reserve = *tier->min_reserve_mib + drafter_reserve_mib(drafter, speculative_method);
      f = std::min(f, (static_cast<double>(mib) - reserve) / static_cast<double>(mib));
    }
    if (drafter) f *= tier->drafter_scale;
  }
  std::optional<double> reserved;  // MiB, where the version reserves rather than tabulates
  if (tier && tier->reserve_mib) {
    reserved = *tier->reserve_mib + tier->reserve_per_gpu_mib * static_cast<double>(gpus);
  } else if (profile.reserve) {
    const EngineProfile::Reserve& r = *profile.reserve;
    reserved = r.base_mib +
               r.per_prefill_token_mib * static_cast<double>(std::max(d.max_num_batched_tokens, r.min_prefill_tokens)) +
               r.per_graph_bs_mib * static_cast<double>(graph_bs) + r.per_gpu_mib * static_cast<double>(gpus);
    const bool piecewise = model && r.piecewise && !piecewise_off && (pp == 1 || r.piecewise_pipeline) && !multimodal &&
                           !listed(r.piecewise_off_families, model->family);
    if (piecewise)
      *reserved += has_mla(*model) ? r.piecewise_mla_mib
                                   : r.piecewise_mib_per_size *
                                         static_cast<double>(piecewise_graph_sizes(r, d.max_num_batched_tokens));
    if (r.floor_above_mib > 0 && mib > r.floor_above_mib) reserved = std::max(*reserved, static_cast<double>(r.floor_mib));
  }
  if (reserved) {
    // A drafter's reserve comes after the floor (server_args.py, _handle_gpu_memory_settings).
    *reserved += drafter_reserve_mib(drafter, speculative_method);
    d.gpu_memory_utilization = std::round((static_cast<double>(mib) - *reserved) / static_cast<double>(mib) * 1000) / 1000;
    if (multimodal) d.gpu_memory_utilization *= multimodal_fraction_factor(profile, *model);
  }
  return d;
}

double multimodal_fraction_factor(const EngineProfile& profile, const Model& model) {
  if (!profile.multimodal_fraction || !model.vision_config) return 1.0;
  const EngineProfile::MultimodalFraction& f = *profile.multimodal_fraction;
  const double layers = static_cast<double>(model.vision_config->num_hidden_layers.value_or(f.baseline_layers));
  const double hidden = static_cast<double>(model.vision_config->hidden_size.value_or(f.baseline_hidden));
  const double baseline_hidden = static_cast<double>(f.baseline_hidden);
  const double ratio = layers * hidden * hidden / (static_cast<double>(f.baseline_layers) * baseline_hidden * baseline_hidden);
  return f.factor * std::clamp(1.0 - f.slope * (ratio - 1.0), f.min, f.max);
}

std::shared_ptr<const Model> speculative_drafter(const Model& target, const std::string& method,
                                                 const std::optional<Model>& draft_model) {
  switch (draft_kind(method)) {  // throws for an unknown method
    case DraftKind::none: return nullptr;
    case DraftKind::model:
      if (!draft_model) throw Error("speculative method draft_model needs the draft's \"model\"");
      return std::make_shared<const Model>(*draft_model);
    case DraftKind::head:
      if (draft_model) return std::make_shared<const Model>(*draft_model);
      break;
  }
  if (target.layers.empty()) throw Error("model '" + target.id + "' has no layers to draft with");
  // MTP drafts with the checkpoint's own modules; a model without them cannot (vLLM finds no MTP
  // architecture for it).
  const bool mtp = method == "mtp";
  if (mtp && target.mtp_layers == 0)
    throw Error("speculative method mtp drafts with the model's own multi-token-prediction layers, and '" + target.id +
                "' has none (its config states no num_nextn_predict_layers or mtp_num_hidden_layers; a model YAML "
                "sets mtp_layers); use eagle, eagle3 or draft_model with a drafter, or ngram");
  // Decoder layers of the target's shape (one for an EAGLE head, each MTP module for mtp),
  // sharing its embedding and head.
  auto head = std::make_shared<Model>(target);
  head->layers.assign(static_cast<size_t>(mtp ? target.mtp_layers : 1), target.layers.back());
  head->towers.clear();
  return head;
}

int64_t cuda_total_bytes(const Gpu& gpu) { return gpu.cuda_total_bytes > 0 ? gpu.cuda_total_bytes : gpu.memory_bytes; }

int64_t blocks_for_request(const EnginePlan& plan, int64_t tokens) {
  int64_t blocks = 0;
  for (const EngineGroup& g : plan.groups) blocks = add(blocks, layer_blocks(plan, g, plan.sliding_bound, tokens));
  return blocks;
}

EngineBlocks blocks_for_batch(const EnginePlan& plan, int64_t batch, int64_t tokens) {
  const KvSharing& s = plan.sharing;
  EngineBlocks u;
  u.sequences = mul(batch, s.branches);
  // Tokens a sequence finds cached: its prefix, or its request's trunk (which holds the prefix),
  // never its last token.
  const int64_t reusable = std::max<int64_t>(0, tokens - 1);
  const int64_t prefix = std::min(s.shared_prefix, reusable);
  const int64_t trunk = std::min(std::max(s.trunk, s.shared_prefix), reusable);
  for (const EngineGroup& g : plan.groups) {
    const int64_t per_sequence = layer_blocks(plan, g, plan.sliding_bound, tokens);
    const bool shares = g.kind == Kind::full;
    const int64_t once = shares ? prefix / g.block_size : 0;                 // all requests share these
    const int64_t per_request = shares ? trunk / g.block_size - once : 0;   // a request's branches share these
    u.shared = add(u.shared, add(once, mul(batch, per_request)));
    u.owned = add(u.owned, mul(u.sequences, per_sequence - once - per_request));
    u.unshared = add(u.unshared, mul(u.sequences, per_sequence));
  }
  return u;
}

int64_t requests_that_fit(const EnginePlan& plan, int64_t tokens) {
  // Every sequence owns at least one block, so no more requests than blocks fit.
  return largest_true(std::max<int64_t>(1, plan.num_gpu_blocks),
                      [&](int64_t b) { return blocks_for_batch(plan, b, tokens).total() <= plan.num_gpu_blocks; });
}

bool engine_mla_fp8_ds(const EngineProfile& profile, const Model& model, const std::string& value) {
  if (listed(profile.mla_fp8_ds_kv_cache_dtypes, value)) {
    if (!has_mla(model))
      throw Error("--kv-cache-dtype '" + value + "' is DeepSeek's FP8 MLA layout, and " + model.name +
                  " has no MLA layers");
    return true;
  }
  return has_sparse_mla(model) && listed(profile.mla_sparse_fp8_ds_kv_cache_dtypes, value);
}

std::optional<DType> engine_kv_cache_dtype(const EngineProfile& profile, const std::string& value) {
  if (value.empty()) return std::nullopt;
  std::vector<std::string> names;
  std::string list;
  for (const auto& [n, dtype] : profile.kv_cache_dtypes) {
    if (n == value) return dtype;
    names.push_back(n);
    list += (list.empty() ? "" : ", ") + n;
  }
  // kvplan's own name for a dtype the engine version has under another spelling (bf16 = bfloat16);
  // an alias of kvplan's (fp8 = fp8_e4m3) is no engine's name unless its profile lists it.
  try {
    const DType d = parse_dtype(value);
    if (value == name(d))
      for (const auto& [n, dtype] : profile.kv_cache_dtypes)
        if (dtype == d) return dtype;
  } catch (const Error&) {
  }
  // Suggest the engine's names, and an engine name for kvplan's spelling of its dtype (fp8e4m3).
  std::string suggestion = did_you_mean(value, names);
  if (suggestion.empty()) {
    std::vector<std::string> kvplan_names = dtype_names();
    for (const std::string& a : dtype_aliases()) kvplan_names.push_back(a);
    const std::string close = closest(value, kvplan_names);
    if (!close.empty()) {
      const DType d = parse_dtype(close);
      for (const auto& [n, dtype] : profile.kv_cache_dtypes)
        if (dtype == d) {
          suggestion = "; did you mean '" + n + "'?";
          break;
        }
    }
  }
  throw Error("--kv-cache-dtype '" + value + "': " + name(profile.kind) + " " + profile.version + " accepts " + list +
              " (kvplan's other dtypes need --engine ideal)" + suggestion);
}

int64_t max_batch_under_engine(const Model& model, const Gpu& gpu, const MemoryOptions& memory, int64_t context) {
  if (memory.engine.profile.kind == EngineKind::ideal)
    return max_batch_at(memory_model(model, memory), usable_bytes(gpu.memory_bytes, memory.gpu_memory_utilization),
                        context);
  const EnginePlan plan = plan_engine(model, gpu, memory, memory.engine.max_model_len.value_or(context));
  return plan.starts && context <= plan.max_model_len ? requests_that_fit(plan, context) : 0;
}

void apply_engine(MemoryPlan& memory, const EnginePlan& plan, int64_t batch, int64_t context) {
  memory.engine_blocks = blocks_for_batch(plan, batch, context);
  memory.max_batch = plan.starts ? requests_that_fit(plan, context) : 0;
  memory.fits = plan.starts && memory.engine_blocks->total() <= plan.num_gpu_blocks;
  if (plan.state_request_cap) {
    // Every sequence also needs its states' slots.
    const int64_t branches = std::max<int64_t>(1, plan.sharing.branches);
    memory.max_batch = std::min(memory.max_batch, *plan.state_request_cap / branches);
    memory.fits = memory.fits && memory.engine_blocks->sequences <= *plan.state_request_cap;
  }
  int64_t lo = 0, hi = add(plan.max_model_len, 1);  // the longest context that fits: in [lo, hi)
  while (plan.starts && hi - lo > 1) {
    const int64_t mid = lo + (hi - lo) / 2;
    (blocks_for_batch(plan, batch, mid).total() <= plan.num_gpu_blocks ? lo : hi) = mid;
  }
  memory.max_context = lo;
}

namespace {

// One block table for every layer (vLLM V0, SGLang): a block holds block_size tokens of every
// attention layer. Returns the bytes of one token across the layers.
int64_t single_pool(EnginePlan& p, const std::vector<CacheLayer>& layers, const char* engine) {
  int64_t per_token = 0;
  for (const CacheLayer& l : layers) per_token = add(per_token, l.bytes_per_token);
  if (per_token == 0) throw Error(std::string("the ") + engine + " profile sizes attention caches only; this model has none");
  p.page_bytes = mul(p.block_size, per_token);
  p.pool_block_bytes = p.page_bytes;
  p.groups = {{Kind::full, 0, p.block_size, 1}};
  p.group_size = 1;
  return per_token;
}

// One request's recurrent states as SGLang's state pool keeps them: conv windows and states in
// the profile's dtypes (a --state-dtype flag sets the states', as --mamba-ssm-dtype does).
int64_t sglang_state_bytes(const Model& model, const MemoryOptions& memory, const EngineProfile& profile) {
  CacheOptions pool = memory.cache;
  pool.conv_dtype = profile.state_pool_conv_dtype;
  if (memory.dtype_rules.state != DTypeRule::flag) pool.state_dtype = profile.state_pool_ssm_dtype;
  int64_t bytes = 0;
  for (const Layer& layer : model.layers) bytes = add(bytes, state_bytes(layer, pool).total());
  return bytes;
}

// vLLM V0: whole blocks; sliding layers take full blocks.
void allocate_vllm_v0(EnginePlan& p, const std::vector<CacheLayer>& layers) {
  single_pool(p, layers, "vLLM V0");
  p.num_gpu_blocks = std::max<int64_t>(0, p.available_kv_cache_bytes / p.page_bytes);
  p.kv_cache_tokens = mul(p.num_gpu_blocks, p.block_size);
}

// SGLang: a pool of token cells over the attention layers, rounded down to whole pages. A hybrid
// first splits off its state pool of max_mamba_cache_size request states: as given
// (--max-mamba-cache-size), else max_running_requests when the radix cache is off and that is
// given, else memory_ratio / (1 + memory_ratio) of the budget in whole states. Each running
// request holds slots_per_request of them with the radix cache on, one with it off (no cached
// states to keep) (python/sglang/srt/model_executor/model_runner.py, handle_max_mamba_cache and
// init_memory_pool, 0.5.6-0.5.9); from 0.5.18 the families of the 'extra_buffer' strategy hold
// extra_buffer_slots, and the pool keeps one padding slot: (share - state) / state slots, the
// padding's bytes taken too (python/sglang/srt/mem_cache/kv_cache_configurator.py).
// A drafter's headroom (`headroom` tokens) joins the profiled cells.
void allocate_sglang(EnginePlan& p, const std::vector<CacheLayer>& layers, int64_t state_per_request,
                     const EngineProfile& profile, const EngineSettings& engine, const std::string& family,
                     const std::vector<CacheLayer>* swa_pool, int64_t headroom) {
  const bool radix_cache = engine.prefix_caching.value_or(profile.prefix_caching);
  if (state_per_request > 0 && !(profile.state_pool_ratio > 0))
    throw Error("sglang " + profile.version + ": the state pool of a model with Mamba or linear-attention layers is "
                "not modelled for this version (sglang@0.5 and later model it)");
  const int64_t per_token = single_pool(p, layers, "SGLang");
  int64_t budget = std::max<int64_t>(0, p.available_kv_cache_bytes);
  if (state_per_request > 0) {
    const double r = profile.state_pool_ratio;
    p.state_page_bytes = state_per_request;
    if (engine.max_mamba_cache_size) p.state_slots = *engine.max_mamba_cache_size;
    else if (!radix_cache && engine.max_num_seqs) p.state_slots = *engine.max_num_seqs;
    else {
      const double share = static_cast<double>(budget) * r / (1 + r);
      const double padding = profile.state_pool_padding_slot ? static_cast<double>(state_per_request) : 0;
      p.state_slots = std::max<int64_t>(
          0, static_cast<int64_t>(std::floor((share - padding) / static_cast<double>(state_per_request))));
    }
    const int64_t padding_slots = profile.state_pool_padding_slot ? 1 : 0;
    budget = std::max<int64_t>(0, budget - mul(add(p.state_slots, padding_slots), state_per_request));
    const int64_t per_request = listed(profile.state_pool_extra_buffer_families, family)
                                    ? profile.state_pool_extra_buffer_slots
                                    : profile.state_pool_slots_per_request;
    p.state_request_cap = p.state_slots / (radix_cache ? per_request : 1);
  }
  int64_t cells = budget / per_token;
  if (cells > 0 && headroom > 0) {
    p.speculative_headroom_tokens = headroom;
    cells = add(cells, headroom);
  }
  p.kv_cache_tokens = cells / p.block_size * p.block_size;
  if (swa_pool) {
    // The hybrid sliding-window pool (set_num_token_hybrid): the cells that fit with every layer at
    // full size are shared out so that the sliding layers (bytes per token S) hold r x the full
    // layers' (F) tokens: full = cells x (F + S) / (F + r S), swa = r x full, each truncated and
    // rounded down to whole pages; the full pool is max_total_num_tokens.
    int64_t full_bytes = 0, swa_bytes = 0;
    for (const CacheLayer& l : *swa_pool) (l.kind == Kind::full ? full_bytes : swa_bytes) += l.bytes_per_token;
    const double r = profile.swa_full_tokens_ratio;
    const double full = std::floor(static_cast<double>(p.kv_cache_tokens) * static_cast<double>(full_bytes + swa_bytes) /
                                   (static_cast<double>(full_bytes) + r * static_cast<double>(swa_bytes)));
    p.kv_cache_tokens = static_cast<int64_t>(full) / p.block_size * p.block_size;
    p.swa_pool_tokens = static_cast<int64_t>(std::floor(static_cast<double>(p.kv_cache_tokens) * r)) / p.block_size * p.block_size;
  }
  p.num_gpu_blocks = p.kv_cache_tokens / p.block_size;
}

// Whether SGLang gives the model its hybrid sliding-window pool: the profile lists its family and
// it has both full-attention and sliding-window or chunked layers (`layers` with their windows).
bool sglang_swa_pool(const Model& model, const EngineProfile& profile, const std::vector<CacheLayer>& layers) {
  if (profile.swa_full_tokens_ratio <= 0) return false;
  if (!listed(profile.swa_pool_families, model.family)) return false;
  bool full = false, windowed = false;
  for (const CacheLayer& l : layers) {
    if (l.bytes_per_token == 0) continue;
    (l.kind == Kind::full ? full : windowed) = true;
  }
  return full && windowed;
}

// vLLM V1: per-layer pages; uniform models in one group, hybrids in groups of equal size sharing
// one pool of equal pages (state pages padded to the attention page).
void allocate_vllm_v1(EnginePlan& p, std::vector<CacheLayer> layers, const EngineProfile& profile,
                      bool block_size_set, bool mla) {
  int64_t attn_per_token = 0, state_page = 0;
  for (const CacheLayer& l : layers) {
    attn_per_token = std::max(attn_per_token, l.bytes_per_token);
    state_page = std::max(state_page, l.state_bytes);
  }
  if (state_page > 0 && attn_per_token > 0 && profile.state_page_unification) {
    // The attention block grows (in multiples of the kernel alignment, an MLA kernel's where the
    // attention layers are MLA) until one attention page holds a state page; the state page is then
    // padded to the attention page.
    const int64_t align = mla && profile.block_alignment_mla > 0 ? profile.block_alignment_mla : profile.block_alignment;
    const int64_t needed = mul(align, ceil_div(state_page, mul(align, attn_per_token)));
    if (!block_size_set || p.block_size < needed) p.block_size = needed;
  }
  const int64_t attn_page = mul(p.block_size, attn_per_token);
  if (state_page > 0) p.state_page_bytes = std::max(state_page, attn_page);

  // Group layers by (kind, window, page).
  struct Key {
    Kind kind;
    int64_t window;
    int64_t page;
    bool operator<(const Key& o) const {
      return std::tie(kind, window, page) < std::tie(o.kind, o.window, o.page);
    }
  };
  std::map<Key, int64_t> counts;
  for (const CacheLayer& l : layers) {
    const int64_t page = l.kind == Kind::state ? p.state_page_bytes : mul(p.block_size, l.bytes_per_token);
    ++counts[{l.kind, l.window, page}];
  }
  if (counts.empty()) {  // attention-free: no pool
    p.num_gpu_blocks = 0;
    return;
  }
  bool same_kind = true;
  for (const auto& [k, n] : counts) same_kind = same_kind && k.kind == counts.begin()->first.kind &&
                                               k.window == counts.begin()->first.window;
  if (same_kind) {
    // One group: every layer has its own pages of the same block count.
    int64_t page_sum = 0, layers_n = 0;
    for (const auto& [k, n] : counts) {
      page_sum = add(page_sum, mul(k.page, n));
      layers_n += n;
    }
    const Key& k = counts.begin()->first;
    p.groups = {{k.kind, k.window, p.block_size, layers_n}};
    if (k.kind == Kind::state) p.groups[0].block_size = p.max_model_len;  // one block holds a sequence
    p.group_size = layers_n;
    // Layers whose pages differ (head sizes by layer) share block ids but no one page size: 0.
    p.page_bytes = counts.size() == 1 ? k.page : 0;
    p.pool_block_bytes = page_sum;
    p.num_gpu_blocks = std::max<int64_t>(0, p.available_kv_cache_bytes / page_sum);
  } else {
    // Pages must be equal; where the profile unifies them, an attention layer whose page divides
    // the largest gets a block that many times larger.
    int64_t page = 0;
    for (const auto& [k, n] : counts) page = std::max(page, k.page);
    for (const auto& [k, n] : counts) {
      if (k.page == page) continue;
      if (!profile.page_size_unification || k.kind == Kind::state || page % k.page != 0)
        throw Error("vLLM " + profile.version + " cannot serve this model: its layers need KV pages of different sizes (" +
                    str(k.page) + " and " + str(page) + " bytes) that no block size unifies");
      p.unified_page_bytes = page;
    }
    int64_t min_n = INT64_MAX, max_n = 0;
    for (const auto& [k, n] : counts) {
      min_n = std::min(min_n, n);
      max_n = std::max(max_n, n);
    }
    const int64_t group_size =
        static_cast<double>(max_n) < static_cast<double>(min_n) * profile.group_size_ratio ? max_n : min_n;
    p.groups.clear();
    for (const auto& [k, n] : counts)
      for (int64_t i = 0; i < ceil_div(n, group_size); ++i)
        p.groups.push_back({k.kind, k.window, k.kind == Kind::state ? 1 : unified_block_size(p, k.page), group_size});
    p.group_size = group_size;
    p.page_bytes = page;
    p.pool_block_bytes = mul(page, group_size);
    p.num_gpu_blocks = std::max<int64_t>(0, p.available_kv_cache_bytes / page / group_size);
  }
}

// The engine's "GPU KV cache size" and "Maximum concurrency" lines.
void report(EnginePlan& p, const EngineProfile& profile) {
  p.blocks_per_request = blocks_for_request(p, p.max_model_len);
  p.max_concurrency = p.blocks_per_request > 0 ? static_cast<double>(p.num_gpu_blocks) / p.blocks_per_request : 0;
  if (profile.allocator != Allocator::vllm_v1) {
    if (profile.allocator == Allocator::vllm_v0)
      p.max_concurrency = static_cast<double>(p.kv_cache_tokens) / static_cast<double>(p.max_model_len);
    return;
  }
  if (profile.tokens_from_concurrency) {
    p.kv_cache_tokens = static_cast<int64_t>(p.max_concurrency * static_cast<double>(p.max_model_len));
  } else {
    int64_t min_block = INT64_MAX;
    for (const EngineGroup& g : p.groups)
      if (g.kind != Kind::state) min_block = std::min(min_block, g.block_size);
    if (min_block == INT64_MAX) min_block = p.max_model_len;  // state only: a block holds a sequence
    p.kv_cache_tokens = mul(p.num_gpu_blocks / static_cast<int64_t>(p.groups.size()), min_block);
  }
}

// Bytes the engine's start-up check needs for one request of `tokens` tokens.
int64_t needed_bytes(const EnginePlan& p, const std::vector<CacheLayer>& layers, int64_t tokens) {
  int64_t total = 0;
  for (const CacheLayer& l : layers) {
    if (l.kind == Kind::state) {
      total = add(total, p.state_page_bytes);
      continue;
    }
    // A layer of a unified pool has the common page and a block that holds it.
    const int64_t block = unified_block_size(p, mul(p.block_size, l.bytes_per_token));
    const EngineGroup g{l.kind, l.window, block, 1};
    total = add(total, mul(layer_blocks(p, g, p.sliding_bound, tokens), mul(block, l.bytes_per_token)));
  }
  return total;
}

void check_start(EnginePlan& p, const std::vector<CacheLayer>& layers, const EngineProfile& profile) {
  // A given budget skips the profile; weights and cache must still fit in the GPU.
  if (p.budget_given && p.available_kv_cache_bytes > p.cuda_total_bytes - p.non_torch_bytes - p.weights_bytes) {  // no overflow near 2^63
    p.starts = false;
    p.failure = "CUDA out of memory: " + gib(p.weights_bytes) + " GiB of weights and " +
                gib(p.available_kv_cache_bytes) + " GiB of KV cache exceed the GPU's " + gib(p.cuda_total_bytes) + " GiB";
    return;
  }
  if (p.available_kv_cache_bytes <= 0) {
    p.starts = false;
    p.failure = profile.kind == EngineKind::sglang
                    ? "Not enough memory. Please try to increase --mem-fraction-static."
                    : "No available memory for the cache blocks. Try increasing `gpu_memory_utilization`.";
    return;
  }
  if (profile.allocator == Allocator::vllm_v1) {
    const auto need = [&](int64_t tokens) {
      return profile.start_check_padded ? mul(blocks_for_request(p, tokens), p.pool_block_bytes)
                                        : needed_bytes(p, layers, tokens);
    };
    const int64_t avail = p.available_kv_cache_bytes - (profile.start_check_null_block ? p.pool_block_bytes : 0);
    const int64_t needed = need(p.max_model_len);
    if (needed <= avail) return;
    int64_t lo = 0, hi = p.max_model_len;  // the largest length whose need fits: in [lo, hi)
    while (hi - lo > 1) {
      const int64_t mid = lo + (hi - lo) / 2;
      (need(mid) <= avail ? lo : hi) = mid;
    }
    p.starts = false;
    p.estimated_max_model_len = lo;
    p.failure = "To serve at least one request with the model's max seq len (" + str(p.max_model_len) + "), (" +
                gib(needed) + " GiB KV cache is needed, which is larger than the available KV cache memory (" +
                gib(avail) + " GiB)." +
                (lo > 0 ? " Based on the available memory, the estimated maximum model length is " + str(lo) + "." : "");
    return;
  }
  // SGLang starts with any positive pool (longer requests wait or are rejected later).
  if (profile.kind == EngineKind::sglang) {
    if (p.kv_cache_tokens <= 0) {
      p.starts = false;
      p.failure = "Not enough memory. Please try to increase --mem-fraction-static.";
    }
    return;
  }
  // V0: the pool must hold one max_model_len sequence.
  if (p.kv_cache_tokens < p.max_model_len) {
    p.starts = false;
    p.failure = "The model's max seq len (" + str(p.max_model_len) +
                ") is larger than the maximum number of tokens that can be stored in KV cache (" +
                str(p.kv_cache_tokens) + ").";
  }
}

}  // namespace

namespace {
// The workload's sharing as the engine applies it (EnginePlan::sharing). Prefix caching shares
// whole blocks of full-attention layers (vLLM V1's block hashes, SGLang's radix tree of pages);
// how the engines share a sliding window's or a recurrent state's blocks is not modelled, so a
// shared prefix or trunk there is refused.
void share_blocks(EnginePlan& p, const Model& model, const MemoryOptions& memory) {
  const EngineSettings& engine = memory.engine;
  p.sharing = memory.sharing;
  p.prefix_caching = engine.prefix_caching.value_or(engine.profile.prefix_caching);
  if (!p.prefix_caching) {
    p.sharing.shared_prefix = p.sharing.trunk = 0;
    return;
  }
  if (p.sharing.shared_prefix == 0 && p.sharing.trunk == 0) return;
  for (const EngineGroup& g : p.groups)
    if (g.kind != EngineGroup::Kind::full)
      throw Error(std::string("a shared prefix or trunk under ") + name(p.kind) + " is modelled for full-attention " +
                  "layers only: " + model.id + " has " + name(g.kind) + " layers, whose shared blocks the engine " +
                  "keeps by other rules (use --engine ideal)");
}
}  // namespace

EnginePlan plan_engine(const Model& model, const Gpu& gpu, const MemoryOptions& memory, int64_t max_model_len) {
  const EngineSettings& engine = memory.engine;
  const EngineProfile& profile = engine.profile;
  if (profile.kind == EngineKind::ideal) throw Error("plan_engine needs an engine profile (vllm or sglang)");
  // vLLM keeps room for a drafter's tokens in the recurrent layers (conv columns, state blocks).
  const bool vllm_drafter = profile.kind == EngineKind::vllm && !engine.speculative_method.empty();
  CacheOptions cache = memory.cache;
  if (vllm_drafter) cache.speculative_conv_columns = engine.num_speculative_tokens;
  EnginePlan p;
  p.kind = profile.kind;
  p.version = profile.version;
  p.sliding_bound = profile.sliding_bound;
  p.max_model_len = max_model_len;
  p.max_num_seqs = engine.max_num_seqs.value_or(
      engine_defaults(profile, gpu, max_model_len, 1, nullptr, 1, false, engine.speculative_method).max_num_seqs);
  // SGLang's drafter rules (none under vLLM): its own pool, and the target's headroom of
  // max_running_requests x (steps x topk + draft tokens) + 100 tokens for EAGLE-family and
  // STANDALONE drafts (model_runner.py, init_memory_pool).
  const EngineProfile::Speculative* drafter = sglang_drafter(profile, engine.speculative_method);
  const bool own_draft_pool = drafter && !drafter->draft_pool_shared && engine.draft;
  const int64_t headroom =
      drafter && drafter->token_headroom && draft_kind(engine.speculative_method) != DraftKind::none
          ? add(mul(p.max_num_seqs, add(mul(engine.num_speculative_tokens, engine.speculative_eagle_topk),
                                        engine.speculative_num_draft_tokens)),
                100)
          : 0;
  p.max_num_batched_tokens = memory.prefill_chunk;
  // vLLM refuses a token budget below max_num_seqs (vllm/config/scheduler.py, _verify_args): it could not give
  // every running sequence its decode token. The simulator checks the same.
  if (profile.kind == EngineKind::vllm && p.max_num_batched_tokens < p.max_num_seqs)
    throw Error("max_num_batched_tokens (" + str(p.max_num_batched_tokens) + ") must be at least max_num_seqs (" +
                str(p.max_num_seqs) + "): vllm refuses it");
  p.block_size = engine.block_size.value_or(profile.block_size);
  if (engine.block_size && !profile.block_sizes.empty() &&
      std::find(profile.block_sizes.begin(), profile.block_sizes.end(), *engine.block_size) == profile.block_sizes.end()) {
    std::string list;
    for (int64_t b : profile.block_sizes) list += (list.empty() ? "" : ", ") + str(b);
    throw Error(std::string(name(profile.kind)) + " " + profile.version + " does not accept block size " +
                str(*engine.block_size) + " (it accepts " + list + ")");
  }
  if (profile.mla_block_size > 0 && has_mla(model)) p.block_size = profile.mla_block_size;
  if (profile.mla_sparse_block_size > 0 && has_sparse_mla(model)) p.block_size = profile.mla_sparse_block_size;

  // The hybrid manager is off when asked, and (in some versions) for chunked local attention.
  bool chunked = false;
  for (const Layer& layer : model.layers) chunked = chunked || kind_of(layer) == LayerKind::chunked_attention;
  const bool groups = profile.hybrid_groups && !engine.disable_hybrid_kv_cache_manager &&
                      !(chunked && !profile.chunked_local_groups);
  p.cuda_total_bytes = cuda_total_bytes(gpu);
  p.non_torch_bytes = memory.cache.tp > 1 && gpu.nvswitch_sharp ? profile.non_torch_bytes_tensor_parallel
                      : engine.pipeline_parallel_size > 1 ? profile.non_torch_bytes_pipeline
                                                          : profile.non_torch_bytes;
  p.runner_v2 = on_runner_v2(model, profile, engine);
  p.in_flight_tokens = mul(p.max_num_batched_tokens, in_flight_batches(profile, p.runner_v2, engine.pipeline_parallel_size));
  const bool deducts_graphs = profile.deducts_cuda_graphs && (!p.runner_v2 || profile.runner_v2_deducts_cuda_graphs);
  // vLLM's graph estimate: the graphs it captures, each by the stage's own layers (the drafter's are
  // not counted), and once the MoE term.
  const bool estimate_graphs = deducts_graphs && !engine.enforce_eager;
  if (estimate_graphs)
    p.cuda_graphs = cuda_graph_count(p.max_num_seqs, p.max_num_batched_tokens, engine.num_speculative_tokens);
  const int64_t moe_graph_bytes = has_moe(model) ? profile.cuda_graph_bytes_moe : 0;
  // Served text-only, some families do not load their vision towers (SGLang's Llama 4).
  const bool multimodal = serves_multimodal(model, profile, engine.enable_multimodal);
  const double util = memory.gpu_memory_utilization * (multimodal ? profile.multimodal_fraction_scale : 1.0);
  const bool skip_towers = !multimodal && !model.towers.empty() && listed(profile.text_only_skips_towers, model.family);
  Model text_only;
  if (skip_towers) {
    text_only = model;
    text_only.towers.clear();
  }
  const Model& loaded = skip_towers ? text_only : model;

  // A hybrid (attention and recurrent state layers, in the whole model: vLLM decides per model, not
  // per pipeline stage).
  bool attention = false, state = false;
  for (const CacheLayer& l : cache_layers(model, cache, groups)) (l.kind == Kind::state ? state : attention) = true;
  const bool hybrid = attention && state;

  // Every pipeline stage sizes its own layers; the engine runs with the smallest pool.
  const std::vector<std::pair<size_t, size_t>> stages = pipeline_stages(model.layers.size(), engine.pipeline_parallel_size);
  // Where the version checks the whole model against each stage's budget (vLLM 0.14-0.16), the
  // layers of every stage, the drafter's with them when it shares the pool.
  std::vector<CacheLayer> whole_model_layers;
  if (profile.start_check_whole_model && stages.size() > 1) {
    Model whole = model;
    if (engine.draft && !own_draft_pool)
      whole.layers.insert(whole.layers.end(), engine.draft->layers.begin(), engine.draft->layers.end());
    whole_model_layers = cache_layers(whole, cache, groups);
  }
  std::optional<EnginePlan> smallest;
  for (size_t s = 0; s < stages.size(); ++s) {
    EnginePlan q = p;
    q.stage = static_cast<int64_t>(s);
    q.stages = static_cast<int64_t>(stages.size());
    const bool first = s == 0, last = s + 1 == stages.size();
    Model part = stage_model(model, stages[s].first, stages[s].second);
    if (estimate_graphs) {
      const int64_t per_graph =
          add(profile.cuda_graph_bytes, mul(profile.cuda_graph_bytes_per_layer, static_cast<int64_t>(part.layers.size())));
      q.cuda_graph_bytes = add(mul(q.cuda_graphs, per_graph), moe_graph_bytes);
    }
    q.weights_bytes = stage_weight_bytes(loaded, memory.weights, memory.cache.tp, stages[s].first, stages[s].second,
                                         first, last, memory.parallel);
    if (last && engine.draft) {
      // The drafter runs beside the last stage: its layers join the pool, its own weights the GPU
      // (an EAGLE head or MTP module shares the target's embedding and lm_head). SGLang before
      // 0.5.18 loads it after sizing the target's pool and gives it a pool of its own.
      const Model& d = *engine.draft;
      const int64_t draft_weights = draft_weight_bytes(engine, memory.weights, memory.cache.tp);
      if (own_draft_pool) {
        q.draft_weights_bytes = draft_weights;
      } else {
        part.layers.insert(part.layers.end(), d.layers.begin(), d.layers.end());
        q.weights_bytes = add(q.weights_bytes, draft_weights);
      }
    }
    if (profile.rope_tables) {
      q.rope_tables_bytes =
          rope_tables_bytes(part, activation_dtype(model, memory), listed(profile.rope_unscaled_families, model.family));
      q.weights_bytes = add(q.weights_bytes, q.rope_tables_bytes);
    }
    q.mxfp4_padding_bytes = mxfp4_padding_bytes(model, memory, profile, gpu, stages[s].first, stages[s].second);
    q.weights_bytes = add(q.weights_bytes, q.mxfp4_padding_bytes);
    q.mla_absorbed_bytes = mla_absorbed_bytes(part, memory, profile);
    q.topk_indices_bytes = topk_indices_bytes(model, profile, q.max_num_batched_tokens);
    q.weights_bytes = add(add(q.weights_bytes, q.mla_absorbed_bytes), q.topk_indices_bytes);
    if (profile.budget == Budget::requested_minus_peak) {
      // vLLM: the profiled forward pass on every stage; the sampler's rows on the last.
      q.activation_peak_bytes = activation_peak_bytes(model, memory, profile, q.max_num_batched_tokens,
                                                      last ? q.max_num_seqs : 0, p.runner_v2);
      // The vision tower runs on the first stage, before the text pass: the peak is the larger.
      if (first && multimodal) q.encoder = encoder_pass(model, memory, profile, q.max_num_batched_tokens, q.max_model_len, p.runner_v2);
      if (q.encoder) q.activation_peak_bytes = std::max(*q.activation_peak_bytes, q.encoder->peak_bytes);
      q.requested_bytes = static_cast<int64_t>(std::ceil(static_cast<double>(q.cuda_total_bytes) * util));
      q.available_kv_cache_bytes =
          q.requested_bytes - q.weights_bytes - *q.activation_peak_bytes - q.non_torch_bytes - q.cuda_graph_bytes;
    } else {
      // SGLang: mem_fraction_static of the memory free before loading, less the weights.
      const int64_t free_before = q.cuda_total_bytes - q.non_torch_bytes;
      q.requested_bytes = static_cast<int64_t>(std::floor(static_cast<double>(free_before) * util));
      q.available_kv_cache_bytes = q.requested_bytes - q.weights_bytes;
      if (multimodal) q.available_kv_cache_bytes -= profile.multimodal_reserve_bytes;
    }
    if (engine.kv_cache_memory_bytes) {
      q.budget_given = true;
      q.available_kv_cache_bytes = *engine.kv_cache_memory_bytes;
    }
    const std::vector<CacheLayer> layers = cache_layers(part, cache, groups);
    switch (profile.allocator) {
      case Allocator::vllm_v0: allocate_vllm_v0(q, layers); break;
      case Allocator::vllm_v1: allocate_vllm_v1(q, layers, profile, engine.block_size.has_value(), has_mla(model)); break;
      case Allocator::sglang: {
        // The layers with their windows, for the sliding-window pool of the profiles that have one.
        const std::vector<CacheLayer> windowed =
            profile.swa_full_tokens_ratio > 0 ? cache_layers(part, cache, true) : std::vector<CacheLayer>{};
        allocate_sglang(q, layers, sglang_state_bytes(part, memory, profile), profile, engine, model.family,
                        sglang_swa_pool(model, profile, windowed) ? &windowed : nullptr, headroom);
        if (last && own_draft_pool) {
          // The drafter's pool: the target's tokens, a cell of its own layers.
          int64_t draft_cell = 0;
          for (const CacheLayer& l : cache_layers(*engine.draft, cache, groups)) draft_cell = add(draft_cell, l.bytes_per_token);
          q.draft_kv_cache_bytes = mul(q.kv_cache_tokens, draft_cell);
          // Both come out of the memory beyond mem_fraction_static: the drafter does not load
          // where they do not fit (its CUDA graphs and activations, not modelled, need more).
          const int64_t beyond = q.cuda_total_bytes - q.non_torch_bytes - q.requested_bytes;
          if (add(q.draft_weights_bytes, q.draft_kv_cache_bytes) > beyond) {
            q.starts = false;
            q.failure = "CUDA out of memory: the drafter's " + gib(q.draft_weights_bytes) + " GiB of weights and " +
                        gib(q.draft_kv_cache_bytes) + " GiB of KV pool exceed the " + gib(beyond) +
                        " GiB beyond mem_fraction_static; lower --mem-fraction-static";
          }
        }
        break;
      }
    }
    // vLLM turns a hybrid's Mamba cache to 'align' mode when prefix caching is on (switched on, or
    // from 0.28 by default: PR #50991) (vllm/model_executor/models/config.py, MambaModelConfig; PR
    // #30877); its admission counts two state blocks per request then (vllm/v1/kv_cache_interface.py,
    // MambaSpec).
    if (profile.mamba_cache_align && engine.prefix_caching.value_or(profile.hybrid_prefix_caching && hybrid))
      q.state_blocks_per_request = 2;
    // With a drafter each state group also holds one block per speculative token (MambaSpec's
    // num_speculative_blocks, set from num_speculative_tokens in MambaBase.get_kv_cache_spec).
    if (vllm_drafter && profile.allocator == Allocator::vllm_v1)
      q.state_blocks_per_request = add(q.state_blocks_per_request, engine.num_speculative_tokens);
    report(q, profile);
    check_start(q, whole_model_layers.empty() ? layers : whole_model_layers, profile);
    // The stage that stops the engine, else the one with the fewest blocks.
    if (!smallest || (!q.starts && smallest->starts) ||
        (q.starts == smallest->starts && q.num_gpu_blocks < smallest->num_gpu_blocks))
      smallest = q;
  }
  share_blocks(*smallest, model, memory);
  return *smallest;
}

}  // namespace kvplan
