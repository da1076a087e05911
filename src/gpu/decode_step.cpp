#include "gpu/decode_step.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "core/error.h"
#include "gpu/device.h"
#include "gpu/kernels.h"

namespace kvplan::gpu {

namespace {

template <class... F>
struct Overloaded : F... {
  using F::operator()...;
};

enum class Fill { weights, kv_fp8, state_fp32, params_fp32, params_neg_fp32, act };

struct Req {
  int64_t bytes;
  Fill fill;
};

// Hands out a layer's buffers in a fixed order; in sizing mode only records the requests.
struct Alloc {
  bool sizing = true;
  std::vector<Req> reqs;
  std::vector<DeviceBuffer>* slot = nullptr;
  size_t next = 0;
  void* get(int64_t bytes, Fill f) {
    if (sizing) {
      reqs.push_back({bytes, f});
      return nullptr;
    }
    return (*slot)[next++].get();
  }
};

KvType kv_type_of(DType d) {
  switch (d) {
    case DType::bf16: return KvType::bf16;
    case DType::fp16: return KvType::fp16;
    case DType::fp8_e4m3: return KvType::fp8_e4m3;
    default: throw Error(std::string("validate: no decode attention kernel for KV dtype ") + name(d) + " (bf16, fp16, fp8_e4m3)");
  }
}

void fill(void* p, const Req& r, uint64_t seed, cudaStream_t s) {
  switch (r.fill) {
    case Fill::weights: fill_random_bf16(p, r.bytes / 2, seed, -0.05f, 0.05f, s); break;
    case Fill::act: fill_random_bf16(p, r.bytes / 2, seed, -1.f, 1.f, s); break;
    case Fill::kv_fp8: fill_bytes(p, r.bytes, 0x3a, s); break;            // e4m3 1.25
    case Fill::state_fp32: fill_bytes(p, r.bytes, 0x3c, s); break;        // 0.0115
    case Fill::params_fp32: fill_bytes(p, r.bytes, 0x3c, s); break;
    case Fill::params_neg_fp32: fill_bytes(p, r.bytes, 0xbc, s); break;   // -0.0115
  }
}

}  // namespace

StepOp lm_head_op(Blas& blas, std::shared_ptr<DeviceBuffer> weight, void* x, void* y, int64_t vocab, int64_t hidden,
                  int64_t batch) {
  const int64_t V = vocab, H = hidden, B = batch;
  Blas* b = &blas;
  return {"lm_head", "lm_head", (V * H + B * (V + H)) * 2, 2.0 * static_cast<double>(V * H * B),
          [w = std::move(weight), x, y, V, H, B, b](cudaStream_t s) {
            b->set_stream(s);
            b->linear(w->get(), x, y, V, H, B);
          }};
}

struct DecodeStep::Impl {
  std::map<std::string, std::vector<std::vector<DeviceBuffer>>> slots;  // signature -> copies
  std::map<std::string, int64_t> uses;
  DeviceBuffer scratch_a, scratch_b, scratch_c, workspace;
};

DecodeStep::DecodeStep(const Model& model, const CacheOptions& cache, int64_t batch, int64_t context,
                       const DeviceInfo& device, int64_t budget_bytes)
    : impl_(std::make_unique<Impl>()), blas_(std::make_unique<Blas>()) {
  const int64_t B = batch;
  int64_t scratch_a = 0, scratch_b = 0, scratch_c = 0, workspace = 0;
  bool scratch_ready = false;
  const int64_t sdt = cache.state_dtype == DType::fp32 ? 4 : 2;
  if (cache.state_dtype != DType::fp32 && cache.state_dtype != DType::bf16)
    throw Error(std::string("validate: SSM state kernels take fp32 or bf16 state, not ") + name(cache.state_dtype));
  Blas* blas = blas_.get();
  Impl* im = impl_.get();

  // Builds one layer's ops; `A` hands out its buffers. Returns the signature of its buffers.
  auto build = [&](const Layer& layer, int li, Alloc& A) {
    const bool real = !A.sizing;
    auto need = [&](int64_t& slot, int64_t bytes) { slot = std::max(slot, bytes); };
    auto linear = [&](const std::string& label, int64_t out, int64_t in, int64_t rows, int64_t count = 1,
                      const std::string& component = "weights") {
      void* w = A.get(out * in * count * 2, Fill::weights);
      need(scratch_a, rows * in * count * 2);
      need(scratch_b, rows * out * count * 2);
      if (!real) return;
      void* x = impl_->scratch_a.get();
      void* y = impl_->scratch_b.get();
      StepOp op{component, fmt::format("layer {} {}", li, label), (out * in * count + rows * count * (in + out)) * 2,
                2.0 * static_cast<double>(out * in * rows * count), nullptr};
      if (count == 1)
        op.run = [=](cudaStream_t s) { blas->set_stream(s); blas->linear(w, x, y, out, in, rows); };
      else
        op.run = [=](cudaStream_t s) { blas->set_stream(s); blas->linear_batched(w, x, y, out, in, rows, count); };
      ops_.push_back(std::move(op));
    };
    auto attention = [&](DecodeAttention a, const std::string& label) {
      const int64_t kv_el = kv_type_bytes(a.kv);
      void* k = A.get((a.v_in_k ? B * a.context * a.qk_dim : B * a.kv_heads * a.context * a.qk_dim) * kv_el,
                      a.kv == KvType::fp8_e4m3 ? Fill::kv_fp8 : Fill::act);
      void* v = a.v_in_k ? k : A.get(B * a.kv_heads * a.context * a.v_dim * kv_el, a.kv == KvType::fp8_e4m3 ? Fill::kv_fp8 : Fill::act);
      need(scratch_c, B * a.heads * a.qk_dim * 2);
      need(scratch_b, B * a.heads * a.v_dim * 2);
      a.batch = B;
      need(workspace, plan_decode_attention(a, device.sm_count));
      if (!real) return;
      if (a.v_in_k) {
        a.k_batch_stride = a.v_batch_stride = a.context * a.qk_dim;
        a.k_token_stride = a.v_token_stride = a.qk_dim;
      } else {
        a.k_batch_stride = a.v_batch_stride = a.kv_heads * a.context * a.qk_dim;
        a.k_head_stride = a.v_head_stride = a.context * a.qk_dim;
        a.k_token_stride = a.v_token_stride = a.qk_dim;
      }
      a.q = impl_->scratch_c.get();
      a.out = impl_->scratch_b.get();
      a.k = k;
      a.v = v;
      bind_decode_workspace(a, impl_->workspace.get());
      const int64_t first = a.window > 0 ? std::max<int64_t>(0, a.context - a.window) : 0;
      StepOp op{"kv_cache", fmt::format("layer {} {}", li, label), decode_attention_bytes(a),
                2.0 * static_cast<double>(B * a.heads * (a.context - first) * (a.qk_dim + a.v_dim)), nullptr};
      op.run = [a](cudaStream_t s) { launch_decode_attention(a, s); };
      if (first == 0 && a.window == 0 && a.context == context) {
        if (a.v_in_k) {
          op.kv.push_back({k, B, a.context, a.context * a.qk_dim * kv_el, a.qk_dim * kv_el});
        } else {
          op.kv.push_back({k, B * a.kv_heads, a.context, a.context * a.qk_dim * kv_el, a.qk_dim * kv_el});
          op.kv.push_back({v, B * a.kv_heads, a.context, a.context * a.v_dim * kv_el, a.v_dim * kv_el});
        }
      }
      ops_.push_back(std::move(op));
    };
    auto ssm = [&](int64_t channels, int64_t d_conv, SsmUpdate u) {
      const bool fp32 = sdt == 4;
      void* cs = A.get(B * channels * (d_conv - 1) * sdt, fp32 ? Fill::state_fp32 : Fill::act);
      void* cw = A.get(channels * d_conv * 4, Fill::params_fp32);
      void* cb = A.get(channels * 4, Fill::params_fp32);
      const int64_t rows = u.heads * u.head_dim;
      void* st = A.get(B * rows * u.d_state * sdt, fp32 ? Fill::state_fp32 : Fill::act);
      void* Ap = A.get((u.mamba2 ? u.heads : rows * u.d_state) * 4, Fill::params_neg_fp32);
      void* Dp = A.get(rows * 4, Fill::params_fp32);
      void* dtb = A.get(rows * 4, Fill::params_fp32);
      need(scratch_a, B * std::max(channels, 3 * rows) * 2);
      need(scratch_b, B * std::max(channels, rows) * 2);
      need(scratch_c, B * (u.groups * u.d_state * 2 + rows) * 2);
      if (!real) return;
      char* a = impl_->scratch_a.get() ? static_cast<char*>(impl_->scratch_a.get()) : nullptr;
      char* c = static_cast<char*>(impl_->scratch_c.get());
      ConvUpdate cu{cs, a, cw, cb, impl_->scratch_b.get(), B, channels, d_conv, fp32};
      StepOp conv{"ssm_state", fmt::format("layer {} conv", li), 2 * B * channels * (d_conv - 1) * sdt + B * channels * 4 + channels * d_conv * 4,
                  0, nullptr};
      conv.run = [cu](cudaStream_t s) { launch_conv_update(cu, s); };
      ops_.push_back(std::move(conv));
      u.batch = B;
      u.state = st;
      u.x = a;
      u.z = a + B * rows * 2;
      u.dt = a + 2 * B * rows * 2;
      u.B = c;
      u.C = c + B * u.groups * u.d_state * 2;
      u.A = Ap;
      u.D = Dp;
      u.dt_bias = dtb;
      u.y = impl_->scratch_b.get();
      u.state_fp32 = fp32;
      StepOp op{"ssm_state", fmt::format("layer {} ssm", li), ssm_update_bytes(u), 0, nullptr};
      op.run = [u](cudaStream_t s) { launch_ssm_update(u, s); };
      ops_.push_back(std::move(op));
    };

    auto run_attention = [&](const Attention& at) {
      const int64_t in = at.input_size > 0 ? at.input_size : model.hidden_size;
      const int64_t vd = at.v_head_dim > 0 ? at.v_head_dim : at.head_dim;
      const int64_t q_rows = (at.output_gate ? 2 : 1) * at.heads * at.head_dim;
      linear("qkv", q_rows + at.kv_heads * (at.head_dim + vd), in, B);
      DecodeAttention a;
      a.heads = at.heads;
      a.kv_heads = at.kv_heads;
      a.qk_dim = at.head_dim;
      a.v_dim = vd;
      a.kv = kv_type_of(cache.kv_dtype);
      a.context = tokens_resident(layer, context, cache);
      const int64_t window = at.chunk_size > 0 ? at.chunk_size : at.sliding_window;
      a.window = (window > 0 && cache.sliding == SlidingCache::full) ? window : 0;
      a.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(at.head_dim)));
      if (a.kv == KvType::fp8_e4m3) a.k_scale = a.v_scale = 0.01f;
      attention(a, window > 0 ? (at.chunk_size > 0 ? "chunked attention" : "sliding attention") : "attention");
      linear("o_proj", model.hidden_size, at.heads * vd, B);
    };
    auto run_mamba2 = [&](const Mamba2& m2) {
      linear("in_proj", 2 * m2.d_inner() + 2 * m2.n_groups * m2.d_state + m2.n_heads, model.hidden_size, B);
      SsmUpdate u;
      u.mamba2 = true;
      u.heads = m2.n_heads;
      u.head_dim = m2.head_dim;
      u.groups = m2.n_groups;
      u.d_state = m2.d_state;
      ssm(m2.conv_dim(), m2.d_conv, u);
      linear("out_proj", model.hidden_size, m2.d_inner(), B);
    };
    auto unsupported = [](const char* kind) {
      throw Error(std::string("validate: no reference kernel for ") + kind + " layers yet");
    };
    if (layer.mixer) {
      std::visit(Overloaded{
                     run_attention,
                     [&](const Mla& m) {
                       if (m.index_topk > 0) unsupported("mla_sparse (DeepSeek sparse attention)");
                       if (cache.mla != MlaCache::latent)
                         throw Error("validate: the MLA kernel reads the latent cache (--mla-cache latent)");
                       const int64_t qd = m.qk_nope_head_dim + m.qk_rope_head_dim;
                       if (m.q_lora_rank > 0) {
                         linear("q_a", m.q_lora_rank, model.hidden_size, B);
                         linear("q_b", m.heads * qd, m.q_lora_rank, B);
                       } else {
                         linear("q", m.heads * qd, model.hidden_size, B);
                       }
                       linear("kv_a", m.kv_lora_rank + m.qk_rope_head_dim, model.hidden_size, B);
                       linear("absorb W_UK", m.kv_lora_rank, m.qk_nope_head_dim, B, m.heads);
                       DecodeAttention a;
                       a.heads = m.heads;
                       a.kv_heads = 1;
                       a.qk_dim = m.kv_lora_rank + m.qk_rope_head_dim;
                       a.v_dim = m.kv_lora_rank;
                       a.v_in_k = true;
                       a.kv = kv_type_of(cache.kv_dtype);
                       a.context = tokens_resident(layer, context, cache);
                       a.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(qd)));
                       attention(a, "MLA attention");
                       linear("absorb W_UV", m.v_head_dim, m.kv_lora_rank, B, m.heads);
                       linear("o_proj", model.hidden_size, m.heads * m.v_head_dim, B);
                     },
                     [&](const Mamba1& m1) {
                       linear("in_proj", 2 * m1.d_inner, model.hidden_size, B);
                       SsmUpdate u;
                       u.heads = m1.d_inner;
                       u.head_dim = 1;
                       u.groups = 1;
                       u.d_state = m1.d_state;
                       linear("x_proj", m1.dt_rank + 2 * m1.d_state, m1.d_inner, B);
                       linear("dt_proj", m1.d_inner, m1.dt_rank, B);
                       ssm(m1.d_inner, m1.d_conv, u);
                       linear("out_proj", model.hidden_size, m1.d_inner, B);
                     },
                     run_mamba2,
                     [&](const GatedDeltaNet&) { unsupported("gated_deltanet"); },
                     [&](const Kda&) { unsupported("kda"); },
                     [&](const ParallelHybrid& p) {
                       run_attention(p.attention);
                       run_mamba2(p.mamba);
                     },
                 },
                 *layer.mixer);
    }
    if (layer.mlp) {
      if (const auto* d = std::get_if<DenseMlp>(&*layer.mlp)) {
        linear(d->gated ? "gate_up" : "up", (d->gated ? 2 : 1) * d->intermediate_size, model.hidden_size, B);
        linear("down", model.hidden_size, d->intermediate_size, B);
      } else if (const auto* e = std::get_if<MoeMlp>(&*layer.mlp)) {
        linear("router", e->experts, model.hidden_size, B);
        // Distinct experts a batch of B tokens touches on average: E (1 - (1 - k/E)^B).
        const double E = static_cast<double>(e->experts), k = static_cast<double>(e->experts_per_token);
        const int64_t active = std::max<int64_t>(1, std::llround(E * (1.0 - std::pow(1.0 - k / E, static_cast<double>(B)))));
        const int64_t rows = std::max<int64_t>(1, (B * e->experts_per_token + active - 1) / active);
        linear(fmt::format("experts gate_up x{}", active), (e->gated ? 2 : 1) * e->expert_intermediate_size, model.hidden_size,
               rows, active);
        linear(fmt::format("experts down x{}", active), model.hidden_size, e->expert_intermediate_size, rows, active);
        if (e->shared_experts > 0) {
          const int64_t si = e->shared_experts * (e->shared_intermediate_size > 0 ? e->shared_intermediate_size : e->expert_intermediate_size);
          linear("shared gate_up", (e->gated ? 2 : 1) * si, model.hidden_size, B);
          linear("shared down", model.hidden_size, si, B);
        }
      }
    }
    std::string sig;
    for (const auto& r : A.reqs) sig += std::to_string(r.bytes) + ",";
    return sig;
  };

  // Pass 1: sizes and signatures of every layer.
  std::vector<std::string> sigs;
  std::vector<std::vector<Req>> reqs;
  for (size_t i = 0; i < model.layers.size(); ++i) {
    Alloc A;
    sigs.push_back(build(model.layers[i], static_cast<int>(i), A));
    reqs.push_back(A.reqs);
  }
  const int64_t lm_bytes = model.vocab_size * model.hidden_size * 2;
  scratch_b = std::max(scratch_b, B * model.vocab_size * 2);
  scratch_a = std::max(scratch_a, B * model.hidden_size * 2);
  int64_t used = lm_bytes + scratch_a + scratch_b + scratch_c + workspace + (64 << 20);
  // Pass 2: one copy per layer while the budget lasts, then round-robin over the copies made.
  std::vector<size_t> copy_of(model.layers.size());
  int reused = 0;
  for (size_t i = 0; i < model.layers.size(); ++i) {
    int64_t bytes = 0;
    for (const auto& r : reqs[i]) bytes += r.bytes;
    auto& copies = im->slots[sigs[i]];
    if (used + bytes <= budget_bytes || copies.empty()) {
      if (used + bytes > budget_bytes)
        throw Error(fmt::format("validate: layer {} alone needs {:.1f} GB, more than the {:.1f} GB free for this run", i,
                                bytes / 1e9, (budget_bytes - used + bytes) / 1e9),
                    {}, 2);
      std::vector<DeviceBuffer> bufs;
      for (size_t k = 0; k < reqs[i].size(); ++k) {
        bufs.emplace_back(reqs[i][k].bytes);
        fill(bufs.back().get(), reqs[i][k], 1000 * i + k, nullptr);
      }
      copies.push_back(std::move(bufs));
      used += bytes;
      copy_of[i] = copies.size() - 1;
    } else {
      copy_of[i] = static_cast<size_t>(im->uses[sigs[i]]++ % static_cast<int64_t>(copies.size()));
      ++reused;
    }
  }
  if (reused > 0)
    notes_.push_back(fmt::format("{} of {} layers reuse the buffers of an earlier layer of the same shape (model larger than "
                                 "the memory budget); each layer still streams its weights from DRAM",
                                 reused, model.layers.size()));
  impl_->scratch_a = DeviceBuffer(scratch_a);
  impl_->scratch_b = DeviceBuffer(scratch_b);
  impl_->scratch_c = DeviceBuffer(std::max<int64_t>(scratch_c, 16));
  impl_->workspace = DeviceBuffer(std::max<int64_t>(workspace, 256));
  fill(impl_->scratch_a.get(), {scratch_a, Fill::act}, 7, nullptr);
  fill(impl_->scratch_c.get(), {impl_->scratch_c.bytes(), Fill::act}, 8, nullptr);
  CUDA_CHECK(cudaMemset(impl_->workspace.get(), 0, static_cast<size_t>(impl_->workspace.bytes())));
  (void)scratch_ready;

  // Pass 3: the ops, in layer order.
  for (size_t i = 0; i < model.layers.size(); ++i) {
    Alloc A;
    A.sizing = false;
    A.slot = &im->slots[sigs[i]][copy_of[i]];
    build(model.layers[i], static_cast<int>(i), A);
  }
  auto lm = std::make_shared<DeviceBuffer>(lm_bytes);
  fill(lm->get(), {lm_bytes, Fill::weights}, 99, nullptr);
  void* x = impl_->scratch_a.get();
  void* y = impl_->scratch_b.get();
  ops_.push_back(lm_head_op(*blas, lm, x, y, model.vocab_size, model.hidden_size, B));
  notes_.push_back("linears run in bf16 through cuBLAS (weights random, shapes from the model); norms, rotary embedding, "
                   "activations, residual adds, the embedding gather and the KV append are not run (a few KB per token each)");
  CUDA_CHECK(cudaDeviceSynchronize());
}

DecodeStep::~DecodeStep() = default;

std::vector<std::string> DecodeStep::components() const {
  std::vector<std::string> out;
  for (const auto& op : ops_)
    if (std::find(out.begin(), out.end(), op.component) == out.end()) out.push_back(op.component);
  return out;
}

}  // namespace kvplan::gpu
