#include "core/layer_work.h"

#include <algorithm>
#include <cmath>

#include "core/checked.h"
#include "core/kv_cache.h"
#include "core/params.h"

namespace kvplan {

double expected_experts_touched(int64_t experts, int64_t experts_per_token, int64_t tokens) {
  if (experts <= 0 || tokens <= 0) return 0;
  const double untouched_by_one = 1.0 - static_cast<double>(experts_per_token) / static_cast<double>(experts);
  return static_cast<double>(experts) * (1.0 - std::pow(untouched_by_one, static_cast<double>(tokens)));
}

DType gemm_dtype(DType weights) {
  switch (weights) {
    case DType::int8:
    case DType::int4:
    case DType::mxfp4: return DType::bf16;
    default: return weights;
  }
}

double causal_pairs(int64_t prompt, int64_t window) {
  const double p = static_cast<double>(prompt);
  if (window <= 0 || window >= prompt) return p * (p + 1) / 2;
  const double w = static_cast<double>(window);
  return w * (w + 1) / 2 + (p - w) * w;
}

namespace {

// The window a layer's attention reads: the model's sliding window (whatever the cache keeps).
int64_t attention_window(const Layer& layer) {
  if (layer.mixer)
    if (auto* a = std::get_if<Attention>(&*layer.mixer)) return a->sliding_window;
  return 0;
}

// FLOPs of QK^T + PV for one query against one key, per GPU (heads split over tp). Decode runs MLA
// in the absorbed form over the latent (scores over kv_lora_rank + rope dims, values over
// kv_lora_rank: DeepSeek-V2 sec. 2.1.2, vLLM/FlashMLA); prefill decompresses K and V per head.
struct PairFlops {
  double decode = 0;
  double prefill = 0;
};
PairFlops pair_flops(const Mixer& mixer, const CacheOptions& opt) {
  const double tp = static_cast<double>(opt.tp);
  if (auto* a = std::get_if<Attention>(&mixer)) {
    const double f = 2.0 * static_cast<double>(a->heads) / tp * static_cast<double>(a->head_dim + a->v_head_dim);
    return {f, f};
  }
  if (auto* l = std::get_if<Mla>(&mixer)) {
    const double heads = static_cast<double>(l->heads) / tp;
    const double expanded = 2.0 * heads * static_cast<double>(l->qk_nope_head_dim + l->qk_rope_head_dim + l->v_head_dim);
    const double latent = 2.0 * heads * static_cast<double>(2 * l->kv_lora_rank + l->qk_rope_head_dim);
    return {opt.mla == MlaCache::latent ? latent : expanded, expanded};
  }
  return {};
}

// Recurrent-form work of one token in a Mamba layer, per GPU: the causal conv (2 FLOPs per channel
// and tap) plus the state update. Mamba-1 per (channel, state): exp(dt*A), dt*B*x, h = dA*h + dBx,
// y += C*h = 8 FLOPs. Mamba-2 per (head channel, state), dA scalar per head: h = dA*h + (dt*x)*B,
// y += C*h = 5 FLOPs. (Prefill's chunked SSD does more, on tensor cores; this is the lower bound.)
double scan_flops(const Mixer& mixer, int64_t tp) {
  if (auto* s = std::get_if<Mamba1>(&mixer)) {
    const double d_inner = static_cast<double>(s->d_inner / tp);
    return d_inner * (2.0 * static_cast<double>(s->d_conv) + 8.0 * static_cast<double>(s->d_state));
  }
  if (auto* s = std::get_if<Mamba2>(&mixer)) {
    const double d_inner = static_cast<double>(s->d_inner() / tp);
    const double conv = static_cast<double>(s->conv_dim()) / static_cast<double>(tp);
    return 2.0 * conv * static_cast<double>(s->d_conv) + 5.0 * d_inner * static_cast<double>(s->d_state);
  }
  return 0;
}

// Bytes a prefill scan kernel reads and writes per token (x, dt, B, C in; y out), 16-bit.
int64_t scan_bytes(const Mixer& mixer, int64_t tp) {
  if (auto* s = std::get_if<Mamba1>(&mixer)) return 2 * (3 * s->d_inner / tp + 2 * s->d_state);
  if (auto* s = std::get_if<Mamba2>(&mixer))
    return 2 * (2 * s->d_inner() / tp + s->n_heads / tp + 2 * s->n_groups * s->d_state);
  return 0;
}

// Kernels per decode step of one layer, by component (vLLM's decode path; docs/timing.md).
void add_kernels(const Layer& layer, KernelCounts& k) {
  if (layer.mixer) {
    const Mixer& m = *layer.mixer;
    if (std::holds_alternative<Attention>(m)) {
      k.weights += 4;   // input norm, fused QKV GEMM, RoPE, o_proj
      k.kv_cache += 3;  // cache write, attention (split-KV), combine
    } else if (std::holds_alternative<Mla>(m)) {
      k.weights += 9;   // norm, fused q_a+kv_a GEMM, q_a norm, kv_a norm, q_b, W_UK absorb, RoPE, W_UV, o_proj
      k.kv_cache += 3;
    } else if (std::holds_alternative<Mamba1>(m)) {
      k.weights += 5;   // norm, in_proj, x_proj, dt_proj, out_proj
      k.ssm_state += 2; // conv-state update, selective-state update
    } else {
      k.weights += 4;   // norm, in_proj, gated RMSNorm, out_proj
      k.ssm_state += 2;
    }
  }
  if (layer.mlp) {
    if (auto* e = std::get_if<MoeMlp>(&*layer.mlp)) {
      k.weights += 8;   // norm, router GEMM, top-k softmax, align, grouped GEMM, activation, grouped GEMM, combine
      if (e->shared_experts > 0) k.weights += 3;  // shared expert: gate_up, activation, down
    } else {
      k.weights += 4;   // norm, gate_up (or up) GEMM, activation, down
    }
  }
}

template <typename Group>
Group& group_for(std::vector<Group>& groups, int64_t window) {
  auto it = std::find_if(groups.begin(), groups.end(), [&](const Group& g) { return g.window == window; });
  if (it != groups.end()) return *it;
  groups.push_back(Group{window});
  return groups.back();
}

}  // namespace

ModelWork model_work(const Model& model, const MemoryOptions& opt) {
  ModelWork w;
  const int64_t tp = opt.cache.tp;
  w.tp = tp;
  w.hidden_size = model.hidden_size;
  const DType act = info(model.dtype).bits >= 16 ? model.dtype : DType::bf16;
  w.activation_bytes_per_element = info(act).bits / 8;
  // Per-GPU bytes of a tensor: matrices and embeddings split over tp, norms replicated (as weight_bytes).
  auto per_gpu = [&](const Tensor& t) {
    const int64_t b = tensor_bytes(t, model, opt.weights);
    return t.role == TensorRole::norm ? b : ceil_div(b, tp);
  };
  auto matrix_flops = [&](const Tensor& t, int64_t copies) {
    return 2.0 * static_cast<double>(t.rows) * static_cast<double>(t.cols) * static_cast<double>(copies) /
           static_cast<double>(tp);
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
      if (t.quantizable || t.role == TensorRole::router) layer_flops += matrix_flops(t, t.count);
    }
    w.linear_flops_per_token += layer_flops;
    kw.linear_flops_per_token += layer_flops;
    if (expert_bytes > 0) {
      const auto& moe = std::get<MoeMlp>(*layer.mlp);
      auto it = std::find_if(w.expert_groups.begin(), w.expert_groups.end(), [&](const ExpertGroup& g) {
        return g.experts == moe.experts && g.experts_per_token == moe.experts_per_token;
      });
      if (it == w.expert_groups.end()) {
        w.expert_groups.push_back({moe.experts, moe.experts_per_token, 0});
        it = w.expert_groups.end() - 1;
      }
      it->bytes_per_expert = add(it->bytes_per_expert, expert_bytes / moe.experts);
    }
    if (layer.mixer) {
      const Mixer& m = *layer.mixer;
      const int64_t kv = kv_bytes_per_token(layer, opt.cache);
      if (std::holds_alternative<Attention>(m) || std::holds_alternative<Mla>(m)) {
        const PairFlops f = pair_flops(m, opt.cache);
        for (std::vector<AttentionGroup>* groups : {&w.attention, &kw.attention}) {
          AttentionGroup& g = group_for(*groups, attention_window(layer));
          g.layers += 1;
          g.kv_bytes_per_token = add(g.kv_bytes_per_token, kv);
          g.decode_flops_per_key += f.decode;
          g.prefill_flops_per_pair += f.prefill;
        }
        w.kv_write_bytes_per_token = add(w.kv_write_bytes_per_token, kv);
      } else {
        w.state_bytes_per_sequence = add(w.state_bytes_per_sequence, state_bytes(layer, opt.cache).total());
        w.scan_flops_per_token += scan_flops(m, tp);
        kw.scan_flops_per_token += scan_flops(m, tp);
        w.scan_bytes_per_token = add(w.scan_bytes_per_token, scan_bytes(m, tp));
        if (std::holds_alternative<Mamba2>(m)) w.scan_on_tensor_cores = true;
      }
    }
    add_kernels(layer, w.kernels);
    w.allreduces_per_pass += (layer.mixer ? 1 : 0) + (layer.mlp ? 1 : 0);
  }
  for (const Tensor& t : global_tensors(model)) {
    if (t.role == TensorRole::lm_head || (t.role == TensorRole::embedding && model.tie_word_embeddings)) {
      w.lm_head_bytes = per_gpu(t);
      w.lm_head_flops_per_token = matrix_flops(t, 1);
    }
    if (t.role == TensorRole::embedding)
      w.embedding_bytes_per_token = element_bytes(base_dtype(model, opt.weights.linear), model.hidden_size);
  }
  if (tp == 1) w.allreduces_per_pass = 0;
  return w;
}

Rates rates(const Model& model, const Gpu& gpu, const MemoryOptions& opt) {
  const Efficiency& e = gpu.efficiency;
  auto rate = [](double peak, double fraction) { return Rate{peak, peak * fraction}; };
  Rates r;
  r.bandwidth = rate(gpu.memory_bandwidth_bytes_per_s, e.bandwidth_fraction);
  r.kv_bandwidth = rate(gpu.memory_bandwidth_bytes_per_s, e.attention_bandwidth());
  r.state_bandwidth = rate(gpu.memory_bandwidth_bytes_per_s, e.state_bandwidth());
  r.lm_head_bandwidth = rate(gpu.memory_bandwidth_bytes_per_s, e.lm_head_bandwidth());
  r.linear = rate(gpu.peak_flops_for(gemm_dtype(opt.weights.linear)), e.flops_fraction);
  r.attention = rate(gpu.peak_flops_for(DType::bf16), e.attention_flops_fraction);
  r.fp32 = rate(gpu.peak_flops_for(DType::fp32), e.flops_fraction);
  r.bf16 = rate(gpu.peak_flops_for(DType::bf16), e.flops_fraction);
  r.head = rate(gpu.peak_flops_for(base_dtype(model, opt.weights.linear)), e.flops_fraction);
  return r;
}

}  // namespace kvplan
