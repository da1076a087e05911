#include "core/layer_work.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include "core/checked.h"
#include "core/kv_cache.h"
#include "core/moe_align.h"
#include "core/parallel.h"
#include "core/params.h"
#include "core/serving_dtypes.h"

namespace kvplan {

const char* name(Bound b) {
  switch (b) {
    case Bound::memory: return "memory";
    case Bound::compute: return "compute";
    case Bound::link: return "link";
  }
  return "?";
}

double expected_experts_touched(int64_t experts, int64_t experts_per_token, int64_t tokens) {
  if (experts <= 0 || tokens <= 0) return 0;
  const double untouched_by_one = 1.0 - static_cast<double>(experts_per_token) / static_cast<double>(experts);
  return static_cast<double>(experts) * (1.0 - std::pow(untouched_by_one, static_cast<double>(tokens)));
}

int64_t moe_routing_kernels(const ExpertGroup& g, int64_t tokens) {
  return mul(g.layers, moe_align_two_kernels(g.experts, mul(mul(tokens, g.token_replicas), g.experts_per_token)) ? 4 : 3);
}

int64_t moe_two_kernel_align_layers(const std::vector<ExpertGroup>& groups, int64_t tokens) {
  int64_t layers = 0;
  for (const ExpertGroup& g : groups) layers += moe_routing_kernels(g, tokens) - 3 * g.layers;
  return layers;
}

double expected_local_experts_touched(const ExpertGroup& g, int64_t tokens) {
  if (g.experts <= 0 || tokens <= 0) return 0;
  const double mean = static_cast<double>(g.local_experts) / static_cast<double>(g.experts) *
                      expected_experts_touched(g.experts, g.experts_per_token, mul(tokens, g.token_replicas));
  if (g.ranks <= 1 || g.local_experts <= 0) return mean;
  const int64_t slots = g.local_experts;
  const double p = mean / static_cast<double>(slots);
  if (p <= 0) return 0;
  if (p >= 1) return static_cast<double>(slots);
  // Binomial(slots, p) pmf in log space (no underflow at p near 0 or 1), then the CDF.
  const double n = static_cast<double>(slots), log_p = std::log(p), log_q = std::log1p(-p);
  const double log_n_factorial = std::lgamma(n + 1);
  double cdf = 0, busiest = 0;
  for (int64_t m = 1; m <= slots; ++m) {
    const double j = static_cast<double>(m - 1);
    cdf += std::exp(log_n_factorial - std::lgamma(j + 1) - std::lgamma(n - j + 1) + j * log_p + (n - j) * log_q);
    busiest += 1.0 - std::pow(std::min(cdf, 1.0), static_cast<double>(g.ranks));
  }
  return busiest;
}

DType gemm_dtype(DType weights) {
  switch (weights) {
    case DType::int8:
    case DType::int4:
    case DType::mxfp4:
    case DType::nvfp4: return DType::bf16;
    default: return weights;
  }
}

double causal_pairs(int64_t prompt, int64_t window) {
  const double p = static_cast<double>(prompt);
  if (window <= 0 || window >= prompt) return p * (p + 1) / 2;
  const double w = static_cast<double>(window);
  return w * (w + 1) / 2 + (p - w) * w;
}

double chunked_pairs(int64_t prompt, int64_t chunk) {
  if (chunk <= 0 || chunk >= prompt) return causal_pairs(prompt, 0);
  const double c = static_cast<double>(chunk), r = static_cast<double>(prompt % chunk);
  return static_cast<double>(prompt / chunk) * c * (c + 1) / 2 + r * (r + 1) / 2;
}

double attention_pairs(int64_t prompt, const AttentionGroup& g) {
  return g.chunked ? chunked_pairs(prompt, g.window) : causal_pairs(prompt, g.window);
}

namespace {

// Plain norms beyond the residual-fused one before the mixer and the one before the MLP (Gemma 2/3:
// after the mixer and after the MLP, gemma2.py's post_attention_layernorm and
// post_feedforward_layernorm).
int64_t extra_norms(const Layer& layer) {
  return std::max<int64_t>(0, layer.norms - (layer.mixer ? 1 : 0) - (layer.mlp ? 1 : 0));
}

// Kernels per decode step of one layer, by component (vLLM's decode path; docs/timing.md).
void add_kernels(const Layer& layer, const MixerWork* mixer, KernelCounts& k) {
  if (mixer) {
    k.weights += mixer->kernels.weights;
    k.kv_cache += mixer->kernels.kv_cache;
    k.ssm_state += mixer->kernels.ssm_state;
    k.elementwise += mixer->kernels.elementwise;
    k.norms += mixer->kernels.norms;
  }
  if (layer.mlp) {
    if (auto* e = std::get_if<MoeMlp>(&*layer.mlp)) {
      k.weights += 3;      // router GEMM, grouped GEMM, grouped GEMM
      k.elementwise += 5;  // norm, top-k softmax, align (a second at times: moe_two_kernel_align_layers), activation, combine
      k.norms += 1;
      if (e->shared_experts > 0) {  // shared expert: gate_up, down | activation
        k.weights += 2;
        k.elementwise += 1;
      }
    } else {
      k.weights += 2;      // gate_up (or up) GEMM, down
      k.elementwise += 2;  // norm, activation
      k.norms += 1;
    }
  }
  k.elementwise += extra_norms(layer);
  k.norms += extra_norms(layer);
}

// Activation elements per token of a layer's element-wise kernels outside its mixer, per GPU: a
// fused residual add + RMSNorm before the mixer and before the MLP (reads x and the residual, writes
// both: 4 x hidden each), the MLP's activation (gated: reads gate and up, writes one; else reads
// and writes one) and, for MoE, each routed expert's activation and the combine (reads the k
// experts' outputs, writes one row); a plain norm beyond those reads and writes the hidden state.
int64_t layer_elementwise_elements(const Layer& layer, int64_t hidden, int64_t tp) {
  int64_t n = (layer.mixer ? 4 * hidden : 0) + (layer.mlp ? 4 * hidden : 0) + 2 * hidden * extra_norms(layer);
  if (!layer.mlp) return n;
  if (auto* e = std::get_if<MoeMlp>(&*layer.mlp)) {
    const int64_t per = e->gated ? 3 : 2;
    const int64_t shared = e->shared_intermediate_size > 0 ? e->shared_intermediate_size : e->expert_intermediate_size;
    n += per * (e->experts_per_token * e->expert_intermediate_size + e->shared_experts * shared) / tp;
    n += (e->experts_per_token + 1) * hidden;
  } else {
    const auto& d = std::get<DenseMlp>(*layer.mlp);
    n += (d.gated ? 3 : 2) * d.intermediate_size / tp;
  }
  return n;
}

// An MLP's GEMMs per GPU: gate and up in one GEMM, down; MoE: the router, the routed experts' pair
// as grouped GEMMs over all tokens x top_k routed rows (one launch fills the GPU with every
// expert's tiles, as one GEMM of that many rows would; docs/timing.md), the shared experts' pair,
// the shared-expert gate.
void add_mlp_gemms(const Mlp& mlp, int64_t hidden, int64_t tp, std::vector<Gemm>& out) {
  auto ffn = [&](int64_t inter, bool gated, double count, double rows_per_token, bool routed) {
    Gemm up = column_parallel((gated ? 2 : 1) * inter, hidden, tp, count), down = row_parallel(hidden, inter, tp, count);
    up.rows_per_token = down.rows_per_token = rows_per_token;
    up.routed = down.routed = routed;
    out.push_back(up);
    out.push_back(down);
  };
  if (auto* d = std::get_if<DenseMlp>(&mlp)) {
    ffn(d->intermediate_size, d->gated, 1, 1, false);
  } else if (auto* e = std::get_if<MoeMlp>(&mlp)) {
    // The router and a shared expert's gate are replicated on every GPU (vLLM and SGLang build them
    // as ReplicatedLinear): whole matrices under any tp.
    out.push_back(Gemm{static_cast<double>(e->experts), static_cast<double>(hidden)});
    ffn(e->expert_intermediate_size, e->gated, 1, static_cast<double>(e->experts_per_token), true);
    if (e->shared_experts > 0)
      ffn(e->shared_intermediate_size > 0 ? e->shared_intermediate_size : e->expert_intermediate_size, e->gated,
          static_cast<double>(e->shared_experts), 1, false);
    if (e->shared_expert_gate) out.push_back(Gemm{1, static_cast<double>(hidden)});
  }
}

// Adds a layer's GEMMs to the model's list, merging equal shapes.
void merge_gemms(const std::vector<Gemm>& layer, std::vector<Gemm>& all) {
  for (const Gemm& g : layer) {
    auto it = std::find_if(all.begin(), all.end(), [&](const Gemm& a) {
      return a.n == g.n && a.k == g.k && a.rows_per_token == g.rows_per_token && a.routed == g.routed;
    });
    if (it == all.end()) all.push_back(g); else it->count += g.count;
  }
}

AttentionGroup& group_for(std::vector<AttentionGroup>& groups, const AttentionPart& part) {
  auto it = std::find_if(groups.begin(), groups.end(),
                         [&](const AttentionGroup& g) {
                           return g.window == part.window && g.chunked == part.chunked && g.head_dim == part.head_dim;
                         });
  if (it != groups.end()) return *it;
  AttentionGroup g;
  g.window = part.window;
  g.chunked = part.chunked;
  g.head_dim = part.head_dim;
  groups.push_back(g);
  return groups.back();
}

}  // namespace

ModelWork model_work(const Model& model, const MemoryOptions& opt) {
  ModelWork w;
  const int64_t tp = opt.cache.tp;
  w.tp = tp;
  w.hidden_size = model.hidden_size;
  const DType act = activation_dtype(model, opt);
  w.activation_bytes_per_element = info(act).bits / 8;
  // Per-GPU bytes of a tensor (as weight_bytes).
  const Parallel& par = opt.parallel;
  w.parallel = par;
  auto per_gpu = [&](const Tensor& t) {
    const int64_t b = tensor_bytes(t, model, opt.weights);
    const bool whole = replicated_under_tp(t) || (par.expert_parallel() && t.role == TensorRole::expert);
    return whole ? b : ceil_div(b, tp);
  };
  // A replicated matrix (router, shared expert's gate) runs whole on every GPU, the rest 1/tp.
  auto matrix_flops = [&](const Tensor& t, int64_t copies) {
    return 2.0 * static_cast<double>(t.rows) * static_cast<double>(t.cols) * static_cast<double>(copies) /
           (replicated_under_tp(t) ? 1.0 : static_cast<double>(tp));
  };
  for (const Layer& layer : model.layers) {
    const LayerKind kind = kind_of(layer);
    auto kit = std::find_if(w.kinds.begin(), w.kinds.end(), [&](const KindWork& k) { return k.kind == kind; });
    if (kit == w.kinds.end()) {
      w.kinds.emplace_back();
      w.kinds.back().kind = kind;
      kit = w.kinds.end() - 1;
    }
    KindWork& kw = *kit;
    kw.layers += 1;
    int64_t experts_per_token = 0;
    if (layer.mlp)
      if (auto* e = std::get_if<MoeMlp>(&*layer.mlp)) experts_per_token = e->experts_per_token;
    int64_t expert_bytes = 0;
    double layer_flops = 0;
    for (const Tensor& t : layer_tensors(model, layer)) {
      if (t.role == TensorRole::expert) {
        expert_bytes = add(expert_bytes, per_gpu(t));
        layer_flops += matrix_flops(t, experts_per_token);
        continue;
      }
      w.dense_weight_bytes = add(w.dense_weight_bytes, per_gpu(t));
      // Matrices only: a router's scale vector (Gemma 4) multiplies element-wise.
      if (t.quantizable || (t.role == TensorRole::router && t.cols > 1)) layer_flops += matrix_flops(t, t.count);
    }
    w.linear_flops_per_token += layer_flops;
    std::vector<Gemm> layer_gemms;
    if (layer.mixer) std::visit([&](const auto& m) { add_gemms(m, model.hidden_size, tp, layer_gemms); }, *layer.mixer);
    if (layer.mlp) add_mlp_gemms(*layer.mlp, model.hidden_size, tp, layer_gemms);
    merge_gemms(layer_gemms, w.gemms);
    kw.linear_flops_per_token += layer_flops;
    if (expert_bytes > 0) {
      const auto& moe = std::get<MoeMlp>(*layer.mlp);
      auto it = std::find_if(w.expert_groups.begin(), w.expert_groups.end(), [&](const ExpertGroup& g) {
        return g.experts == moe.experts && g.experts_per_token == moe.experts_per_token;
      });
      if (it == w.expert_groups.end()) {
        ExpertGroup g{moe.experts, moe.experts_per_token, 0, moe.experts, 1, 0};
        if (par.expert_parallel()) {
          g.local_experts = (moe.experts + par.redundant_experts) / par.ep;
          g.token_replicas = par.dp;
          g.ranks = par.ep;
        }
        w.expert_groups.push_back(g);
        it = w.expert_groups.end() - 1;
      }
      it->bytes_per_expert = add(it->bytes_per_expert, expert_bytes / moe.experts);
      it->layers += 1;
      w.moe_layers += 1;
      w.experts_per_token = std::max(w.experts_per_token, moe.experts_per_token);
    }
    std::optional<MixerWork> mw;
    if (layer.mixer) {
      mw = std::visit([&](const auto& m) { return mixer_work(m, opt.cache); }, *layer.mixer);
      for (const AttentionPart& part : mw->attention) {
        for (std::vector<AttentionGroup>* groups : {&w.attention, &kw.attention}) {
          AttentionGroup& g = group_for(*groups, part);
          g.layers += 1;
          g.kv_bytes_per_token = add(g.kv_bytes_per_token, part.kv_bytes_per_token);
          g.decode_flops_per_key += part.decode_flops_per_key;
          g.prefill_flops_per_pair += part.prefill_flops_per_pair;
        }
      }
      w.kv_write_bytes_per_token = add(w.kv_write_bytes_per_token, mw->kv_write_bytes_per_token);
      const int64_t state = state_bytes(layer, opt.cache).total();
      w.state_bytes_per_sequence = add(w.state_bytes_per_sequence, state);
      if (state > 0) {
        const int64_t bits = mw->ssm_d_state > 0 ? info(opt.cache.state_dtype).bits : 0;
        auto it = std::find_if(w.state_groups.begin(), w.state_groups.end(), [&](const StateGroup& g) {
          return g.d_state == mw->ssm_d_state && g.bits == bits;
        });
        if (it == w.state_groups.end()) it = w.state_groups.insert(w.state_groups.end(), {mw->ssm_d_state, bits, 0});
        it->bytes_per_sequence = add(it->bytes_per_sequence, state);
      }
      w.scan_flops_per_token += mw->scan_flops_per_token;
      kw.scan_flops_per_token += mw->scan_flops_per_token;
      w.scan_bytes_per_token = add(w.scan_bytes_per_token, mw->scan_bytes_per_token);
      if (mw->scan_on_tensor_cores) w.scan_on_tensor_cores = true;
    }
    add_kernels(layer, mw ? &*mw : nullptr, w.kernels);
    if (mw && mw->kernels.rotary > 0) {
      auto it = std::find_if(w.rotary_groups.begin(), w.rotary_groups.end(),
                             [&](const auto& g) { return g.first == mw->kernels.rotary_pairs; });
      if (it == w.rotary_groups.end()) it = w.rotary_groups.insert(it, {mw->kernels.rotary_pairs, 0});
      it->second += mw->kernels.rotary;
    }
    w.elementwise_bytes_per_token = add(
        w.elementwise_bytes_per_token,
        mul(add(layer_elementwise_elements(layer, model.hidden_size, tp), mw ? mw->elementwise_elements_per_token : 0),
            w.activation_bytes_per_element));
    w.allreduces_per_pass += (mw ? mw->allreduces : 0) + (layer.mlp ? 1 : 0);
  }
  for (const Tensor& t : global_tensors(model)) {
    if (t.role == TensorRole::lm_head && t.cols == 1) {  // its bias, split over the vocabulary as the head is
      w.lm_head_bytes = add(w.lm_head_bytes, per_gpu(t));
    } else if (t.role == TensorRole::lm_head || (t.role == TensorRole::embedding && model.tie_word_embeddings)) {
      w.lm_head_bytes = add(w.lm_head_bytes, per_gpu(t));
      w.lm_head_flops_per_token = matrix_flops(t, 1);
      w.lm_head_gemm = column_parallel(t.rows, t.cols, tp);
    } else if (t.role == TensorRole::linear) {  // an EAGLE-3 head's fc, read once a pass
      w.dense_weight_bytes = add(w.dense_weight_bytes, per_gpu(t));
      w.linear_flops_per_token += matrix_flops(t, 1);
    }
    if (t.role == TensorRole::embedding)
      w.embedding_bytes_per_token = element_bytes(base_dtype(model, opt.weights), model.hidden_size);
  }
  // The final norm, a fused residual add + RMSNorm like the layers' (4 x hidden).
  w.elementwise_bytes_per_token = add(w.elementwise_bytes_per_token, mul(4 * model.hidden_size, w.activation_bytes_per_element));
  // Under EP with dp > 1 the MoE layers exchange tokens by all-to-all instead of reducing over tp;
  // with dp = 1 every GPU of the group holds the same tokens and the MoE output is all-reduced.
  if (par.expert_parallel() && par.dp > 1) w.allreduces_per_pass -= w.moe_layers;
  if (tp == 1) w.allreduces_per_pass = 0;
  return w;
}

ModelWork stage_work(const Model& model, const MemoryOptions& opt, size_t first_layer, size_t end_layer) {
  ModelWork w = model_work(stage_model(model, first_layer, end_layer), opt);
  if (first_layer > 0) {  // the embedding gather runs on the first stage only
    w.embedding_bytes_per_token = 0;
    w.kernels.embedding = 0;
  }
  if (end_layer < model.layers.size()) {  // the final norm and the lm_head on the last only
    w.lm_head_bytes = 0;
    w.lm_head_flops_per_token = 0;
    w.kernels.lm_head = 0;
    w.kernels.elementwise -= 1;  // the final norm
    w.kernels.norms -= 1;
    w.elementwise_bytes_per_token -= mul(4 * model.hidden_size, w.activation_bytes_per_element);
  }
  return w;
}

Rate gemm_rate(const Rate& flat, const std::vector<Gemm>& gemms, const Efficiency& e, double tokens) {
  if (e.gemm_efficiency.empty() || tokens <= 0) return flat;
  double flops = 0, at_peak = 0;  // per token; at_peak: sum of flops / efficiency
  for (const Gemm& g : gemms) {
    const double f = g.flops_per_token();
    flops += f;
    at_peak += f / e.gemm(tokens * g.rows_per_token, g.n, g.k);
  }
  return at_peak > 0 ? Rate{flat.peak, flat.peak * flops / at_peak} : flat;
}

Rate weight_stream_rate(const Rate& flat, const std::vector<Gemm>& gemms, const Efficiency& e, double tokens) {
  if (e.weight_stream_efficiency.empty() || tokens <= 0) return flat;
  double params = 0, at_peak = 0;  // at_peak: sum of params / efficiency
  for (const Gemm& g : gemms) {
    if (g.routed) continue;
    const double p = g.n * g.k * g.count;
    params += p;
    at_peak += p / e.weight_stream(tokens * g.rows_per_token, g.n, g.k);
  }
  return at_peak > 0 ? Rate{flat.peak, flat.peak * params / at_peak} : flat;
}

Rate state_rate(const Rate& flat, const std::vector<StateGroup>& groups, const Efficiency& e) {
  double bytes = 0, at_peak = 0;  // at_peak: sum of bytes / fraction
  for (const StateGroup& g : groups) {
    const double b = static_cast<double>(g.bytes_per_sequence);
    bytes += b;
    at_peak += b / e.state_bandwidth(g.d_state, g.bits);
  }
  return at_peak > 0 ? Rate{flat.peak, flat.peak * bytes / at_peak} : flat;
}

Rates rates(const Model& model, const Gpu& gpu, const MemoryOptions& opt) {
  const Efficiency& e = gpu.efficiency;
  auto rate = [](double peak, double fraction) { return Rate{peak, peak * fraction}; };
  Rates r;
  r.bandwidth = rate(gpu.memory_bandwidth_bytes_per_s, e.bandwidth_fraction);
  r.kv_bandwidth = rate(gpu.memory_bandwidth_bytes_per_s, e.attention_bandwidth());
  r.state_bandwidth = rate(gpu.memory_bandwidth_bytes_per_s, e.state_bandwidth());
  r.lm_head_bandwidth = rate(gpu.memory_bandwidth_bytes_per_s, e.lm_head_bandwidth());
  r.expert_bandwidth = rate(gpu.memory_bandwidth_bytes_per_s, e.expert_bandwidth());
  r.elementwise_bandwidth = rate(gpu.memory_bandwidth_bytes_per_s, e.elementwise_bandwidth());
  // L2-resident activations can move faster than the datasheet's HBM rate: the floor is the faster.
  r.decode_elementwise_bandwidth = r.elementwise_bandwidth;
  if (e.decode_elementwise_bytes_per_s)
    r.decode_elementwise_bandwidth = {std::max(gpu.memory_bandwidth_bytes_per_s, *e.decode_elementwise_bytes_per_s),
                                      *e.decode_elementwise_bytes_per_s};
  r.linear = rate(gpu.peak_flops_for(gemm_dtype(opt.weights.linear)), e.flops_fraction);
  // Attention's matrix work runs in the activation dtype (16-bit tensor cores, or fp32 under --dtype float32).
  r.attention = rate(gpu.peak_flops_for(activation_dtype(model, opt)), e.attention_flops_fraction);
  r.fp32 = rate(gpu.peak_flops_for(DType::fp32), e.flops_fraction);
  r.bf16 = rate(gpu.peak_flops_for(DType::bf16), e.flops_fraction);
  r.head = rate(gpu.peak_flops_for(base_dtype(model, opt.weights)), e.flops_fraction);
  return r;
}

}  // namespace kvplan
