#include "gpu/decode_step.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <tuple>

#include <fmt/format.h>

#include "core/error.h"
#include "core/layer_work.h"
#include "gpu/device.h"
#include "gpu/kernels.h"

namespace kvplan::gpu {

namespace {

template <class... F>
struct Overloaded : F... {
  using F::operator()...;
};

// Slots per block of vLLM's moe_align_block_size before the fused MoE GEMMs: fused_moe.py passes its
// config's BLOCK_SIZE_M, 16 for decode-sized batches in the default config.
constexpr int64_t kAlignBlock = 16;

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

// The fixed routing of a MoE layer's decode step, chosen before capture: over the model's MoE layers
// the batch touches as many experts on average as uniform random top-k routing touches, E (1 - (1 -
// k/E)^B) (the decode model's expected count, docs/timing.md): the i-th MoE layer touches
// floor((i + 1) x) - floor(i x) of them, x that count (so layers alternate between the two nearest
// integers, at least k), and spreads its B k assignments evenly over them: token t's j-th expert is
// (t k + j) mod touched, k distinct experts per token. Slots (one per assignment) are ordered by
// expert, as vLLM's moe_align_block_size orders them for the fused_moe kernel.
struct MoeRouting {
  int64_t touched = 0, slots = 0;
  std::vector<int> expert_ids, offsets, slot_token, slot_of;  // [touched], [touched + 1], [slots], [B][k]
};

double expected_touched(int64_t batch, int64_t experts, int64_t k) {
  return std::clamp(expected_experts_touched(experts, k, batch), static_cast<double>(k),
                    static_cast<double>(std::min(experts, batch * k)));
}

// The experts the `moe_layer`-th MoE layer (from 0) touches.
int64_t touched_in_layer(int64_t batch, int64_t experts, int64_t k, int64_t moe_layer) {
  const double x = expected_touched(batch, experts, k);
  const auto upto = [x](int64_t layers) { return static_cast<int64_t>(std::floor(static_cast<double>(layers) * x + 1e-9)); };
  return upto(moe_layer + 1) - upto(moe_layer);
}

MoeRouting uniform_routing(int64_t batch, int64_t experts, int64_t k, int64_t moe_layer) {
  MoeRouting r;
  r.touched = touched_in_layer(batch, experts, k, moe_layer);
  r.slots = batch * k;
  r.slot_of.assign(static_cast<size_t>(r.slots), 0);
  r.offsets.push_back(0);
  for (int64_t e = 0; e < r.touched; ++e) {
    r.expert_ids.push_back(static_cast<int>(e));
    for (int64_t t = 0; t < batch; ++t)
      for (int64_t j = 0; j < k; ++j)
        if ((t * k + j) % r.touched == e) {
          r.slot_of[static_cast<size_t>(t * k + j)] = static_cast<int>(r.slot_token.size());
          r.slot_token.push_back(static_cast<int>(t));
        }
    r.offsets.push_back(static_cast<int>(r.slot_token.size()));
  }
  return r;
}

// Whether validate runs the engine-like step (default) or the heavy kernels only, as before the
// small kernels existed (KVPLAN_DECODE_STEP=heavy: an experiment switch for before/after runs).
bool engine_like_step() {
  const char* e = std::getenv("KVPLAN_DECODE_STEP");
  return !(e && std::string(e) == "heavy");
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
  DeviceBuffer residual, moe_h, moe_a, moe_y, topk_weights, topk_ids, align;
  std::map<int64_t, DeviceBuffer> index_arrays;               // value -> int64 [batch] filled with it
  std::map<int64_t, DeviceBuffer> rope_tables;                // rotary_dim -> bf16 [positions][rotary_dim]
  std::map<std::tuple<int64_t, int64_t, int64_t>, std::vector<DeviceBuffer>> routings;  // (experts, k, touched) -> arrays
  const int64_t* index_array(int64_t value, int64_t batch) {
    auto it = index_arrays.find(value);
    if (it == index_arrays.end())
      it = index_arrays.emplace(value, to_device(std::vector<int64_t>(static_cast<size_t>(batch), value))).first;
    return it->second.as<int64_t>();
  }
  DeviceBuffer positions;  // 0, 1, ..., rows - 1: a prefill's token positions and cache slots
  const int64_t* iota(int64_t rows) {
    if (!positions.get()) {
      std::vector<int64_t> v(static_cast<size_t>(rows));
      for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<int64_t>(i);
      positions = to_device(v);
    }
    return positions.as<int64_t>();
  }
};

DecodeStep::DecodeStep(const Model& model, const CacheOptions& cache, int64_t batch, int64_t context,
                       const DeviceInfo& device, int64_t budget_bytes, int64_t prefill_tokens)
    : impl_(std::make_unique<Impl>()), blas_(std::make_unique<Blas>()) {
  const bool prefill = prefill_tokens > 0;
  const int64_t B = prefill ? batch * prefill_tokens : batch;  // rows of the linears, norms and activations
  if (prefill) context = B;  // positions 0 .. B-1: the rotary table's rows
  const int64_t H = model.hidden_size;
  const bool engine = engine_like_step();
  int64_t scratch_a = 0, scratch_b = 0, scratch_c = 0, workspace = 0, moe_h = 0, moe_a = 0, moe_y = 0, topk = 0, align = 0;
  const int64_t sdt = cache.state_dtype == DType::fp32 ? 4 : 2;
  if (cache.state_dtype != DType::fp32 && cache.state_dtype != DType::bf16)
    throw Error(std::string("validate: SSM state kernels take fp32 or bf16 state, not ") + name(cache.state_dtype));
  // Gemma's norms scale by 1 + weight and its MLP is GeGLU (vLLM gemma2.py / gemma3.py: GemmaRMSNorm,
  // GeluAndMul "tanh"); the other families here SwiGLU (gpt-oss's clamped variant moves the same bytes).
  const bool gemma = model.family.rfind("gemma", 0) == 0;
  const Activation act = gemma ? Activation::gelu_tanh : Activation::silu;
  // The activation of an up + down MLP (no gate): Nemotron-H's squared ReLU (nemotron_h.py
  // NemotronHMLP, ReLUSquaredActivation), else the family's function alone; one kernel reading and
  // writing the intermediate rows either way.
  const Activation plain_act = model.family.rfind("nemotron_h", 0) == 0 ? Activation::relu2 : act;
  Blas* blas = blas_.get();
  Impl* im = impl_.get();
  int64_t rope_rows = 0;  // rotary_dim of the model's rotary tables (0: none)

  // Builds one layer's ops; `A` hands out its buffers. Returns the signature of its buffers.
  auto build = [&](const Layer& layer, int li, Alloc& A) {
    const bool real = !A.sizing;
    auto need = [&](int64_t& slot, int64_t bytes) { slot = std::max(slot, bytes); };
    auto push = [&](const std::string& component, const std::string& label, int64_t bytes, std::function<void(cudaStream_t)> run) {
      ops_.push_back(StepOp{component, fmt::format("layer {} {}", li, label), bytes, 0, std::move(run)});
    };
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
    // RMSNorm over `rows` x `heads` vectors of `width` at x (`stride` elements between rows; 0 =
    // packed), fused with the residual add when `fused` (the residual stream, [B][width]).
    auto norm = [&](const std::string& label, bool fused, void* x, int64_t width, int64_t rows, int64_t heads = 1,
                    int64_t stride = 0) {
      void* w = A.get(width * 2, Fill::weights);
      need(scratch_a, B * width * 2);
      if (!real) return;
      RmsNorm n{x, fused ? impl_->residual.get() : nullptr, w, rows, heads, width, stride, 1e-6f, gemma};
      push("norms", label, rms_norm_bytes(n), [n](cudaStream_t s) { launch_rms_norm(n, s); });
    };
    auto hidden_norm = [&](const std::string& label, bool fused) {
      norm(label, fused, real ? impl_->scratch_a.get() : nullptr, H, B);
    };
    // act(gate) * up over rows of 2 x width at `in`, into `out`; not `gated`: the plain activation
    // over rows of width.
    auto activation = [&](const std::string& label, void* in, void* out, int64_t rows, int64_t width, bool gated = true) {
      if (!real) return;
      ActAndMul a{in, out, rows, width, gated ? act : plain_act, gated};
      push("activations", label, act_and_mul_bytes(a), [a](cudaStream_t s) { launch_act_and_mul(a, s); });
    };
    auto rope_table = [&](int64_t rotary_dim) {
      rope_rows = std::max(rope_rows, rotary_dim);
      return real ? impl_->rope_tables.at(rope_rows).get() : nullptr;
    };
    // A whole prefill's attention: the prompt's K/V rows written into a cache of T tokens, then
    // causal attention over them ([heads][T][dim] as the kernel reads it; Q is the scratch rows).
    auto prefill_attention = [&](const DecodeAttention& a, const std::string& label, const KvAppend* append) {
      if (a.v_in_k || a.qk_dim != a.v_dim || (a.qk_dim != 64 && a.qk_dim != 128))
        throw Error("validate: whole prefills are timed for attention with head_dim 64 or 128 and V as wide as K");
      if (a.kv != KvType::bf16 && a.kv != KvType::fp16)
        throw Error("validate: whole prefills are timed with a 16-bit KV cache (--kv-dtype bf16)");
      if (a.window > 0 && a.window < prefill_tokens)
        throw Error(fmt::format("validate: a {}-token prompt is longer than the model's {}-token window; the prefill "
                                "attention kernel has no window",
                                prefill_tokens, a.window));
      void* k = A.get(a.kv_heads * B * a.qk_dim * 2, Fill::act);
      void* v = A.get(a.kv_heads * B * a.v_dim * 2, Fill::act);
      need(scratch_c, B * a.heads * a.qk_dim * 2);
      need(scratch_b, B * a.heads * a.v_dim * 2);
      if (!real) return;
      if (append) {  // row t's K/V to token t of the one sequence's cache
        KvAppend w = *append;
        w.k_cache = k;
        w.v_cache = v;
        w.slots = impl_->iota(B);
        w.batch = B;
        w.kv = a.kv;
        w.k_batch_stride = w.v_batch_stride = 0;
        w.k_head_stride = w.v_head_stride = B * a.qk_dim;
        w.k_token_stride = w.v_token_stride = a.qk_dim;
        push("kv_append", "kv append", kv_append_bytes(w), [w](cudaStream_t s) { launch_kv_append(w, s); });
      }
      PrefillAttention p;
      p.q = impl_->scratch_c.get();
      p.k = k;
      p.v = v;
      p.out = impl_->scratch_b.get();
      p.batch = batch;
      p.heads = a.heads;
      p.kv_heads = a.kv_heads;
      p.tokens = prefill_tokens;
      p.dim = a.qk_dim;
      p.scale = a.scale;
      const int64_t qn = a.heads * B * a.qk_dim, kn = a.kv_heads * B * a.qk_dim;
      StepOp op{"kv_cache", fmt::format("layer {} {}", li, label), (2 * qn + 2 * kn) * 2, prefill_attention_flops(p),
                [p](cudaStream_t s) { launch_prefill_attention(p, s); }};
      ops_.push_back(std::move(op));
    };
    auto attention = [&](DecodeAttention a, const std::string& label, const KvAppend* append) {
      if (prefill) return prefill_attention(a, label, append);
      const int64_t kv_el = kv_type_bytes(a.kv);
      void* k = A.get((a.v_in_k ? B * a.context * a.qk_dim : B * a.kv_heads * a.context * a.qk_dim) * kv_el,
                      a.kv == KvType::fp8_e4m3 ? Fill::kv_fp8 : Fill::act);
      void* v = a.v_in_k ? k : A.get(B * a.kv_heads * a.context * a.v_dim * kv_el, a.kv == KvType::fp8_e4m3 ? Fill::kv_fp8 : Fill::act);
      need(scratch_c, B * a.heads * a.qk_dim * 2);
      need(scratch_b, B * a.heads * a.v_dim * 2);
      a.batch = B;
      if (a.v_in_k) {
        a.k_batch_stride = a.v_batch_stride = a.context * a.qk_dim;
        a.k_token_stride = a.v_token_stride = a.qk_dim;
      } else {
        a.k_batch_stride = a.v_batch_stride = a.kv_heads * a.context * a.qk_dim;
        a.k_head_stride = a.v_head_stride = a.context * a.qk_dim;
        a.k_token_stride = a.v_token_stride = a.qk_dim;
      }
      a.k = k;  // the plan picks the copy path by the layout (decode_attention_copies)
      a.v = v;
      need(workspace, plan_decode_attention(a, device.sm_count));
      if (!real) return;
      if (append) {  // this step's K/V into the last slot the attention reads
        KvAppend w = *append;
        w.k_cache = k;
        w.v_cache = a.v_in_k ? nullptr : v;
        w.slots = impl_->index_array(a.context - 1, B);
        w.batch = B;
        w.kv = a.kv;
        w.k_scale = a.k_scale;
        w.v_scale = a.v_scale;
        w.k_batch_stride = a.k_batch_stride;
        w.k_head_stride = a.k_head_stride;
        w.k_token_stride = a.k_token_stride;
        w.v_batch_stride = a.v_batch_stride;
        w.v_head_stride = a.v_head_stride;
        w.v_token_stride = a.v_token_stride;
        push("kv_append", "kv append", kv_append_bytes(w), [w](cudaStream_t s) { launch_kv_append(w, s); });
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
      const int64_t qkv = q_rows + at.kv_heads * (at.head_dim + vd);
      linear("qkv", qkv, in, B);
      KvAppend append;
      if (engine) {
        // vLLM's attention layer (llama.py, gemma2.py, gpt_oss.py ...): per-head Q/K norms where the
        // model has them, rotary_emb(positions, q, k) where it has positional encoding (not Jamba's
        // or Nemotron-H's), then the cache write inside the attention op.
        char* y = real ? static_cast<char*>(impl_->scratch_b.get()) : nullptr;
        if (at.qk_norm || at.qk_norm_full)
          norm("q/k norm", false, y, at.head_dim, B, at.heads + at.kv_heads, qkv);
        if (at.rope) {
          void* table = rope_table(at.head_dim);
          if (real) {
            Rotary r{y, y + q_rows * 2, table, prefill ? impl_->iota(B) : impl_->index_array(context - 1, B), B, at.heads,
                     at.kv_heads, at.head_dim, at.head_dim, qkv, 0};
            push("rotary", "rotary", rotary_bytes(r), [r](cudaStream_t s) { launch_rotary(r, s); });
          }
        }
        append.k = y + q_rows * 2;
        append.v = y + (q_rows + at.kv_heads * at.head_dim) * 2;
        append.kv_heads = at.kv_heads;
        append.head_dim = at.head_dim;
        append.v_dim = vd;
        append.src_stride = qkv;
      }
      DecodeAttention a;
      a.heads = at.heads;
      a.kv_heads = at.kv_heads;
      a.qk_dim = at.head_dim;
      a.v_dim = vd;
      a.kv = kv_type_of(cache.kv_dtype);
      a.context = tokens_resident(layer, context, cache);
      const int64_t window = at.chunk_size > 0 ? at.chunk_size : at.sliding_window;
      a.window = (window > 0 && (prefill || cache.sliding == SlidingCache::full)) ? window : 0;
      a.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(at.head_dim)));
      if (a.kv == KvType::fp8_e4m3) a.k_scale = a.v_scale = 0.01f;
      attention(a, window > 0 ? (at.chunk_size > 0 ? "chunked attention" : "sliding attention") : "attention",
                engine && !at.kv_shared ? &append : nullptr);
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
      if (engine && m2.gated_norm) {
        // vLLM's MambaMixer2 normalizes the scan's output by groups before out_proj (RMSNormGated,
        // mamba_mixer2.py: one Triton kernel reading y and z). The state update here applies the gate
        // silu(z) itself, so this is the norm over y alone, one vector per group: the same launch,
        // one d_inner read fewer.
        norm("gated norm", false, real ? impl_->scratch_b.get() : nullptr, m2.d_inner() / m2.n_groups, B, m2.n_groups);
      } else if (engine) {
        // Without the norm (Falcon-H1's mamba_rms_norm false) vLLM still gates y by silu(z) in a
        // kernel of its own (Mixer2RMSNormGated with use_rms_norm false): it reads y and z and
        // writes the gated rows, the bytes of a SiLU-and-mul over rows of 2 x d_inner. (The state
        // update here also reads z, B x d_inner elements against its B x d_inner x d_state state.)
        activation("gate y*silu(z)", real ? impl_->scratch_a.get() : nullptr, real ? impl_->scratch_b.get() : nullptr, B,
                   m2.d_inner());
      }
      linear("out_proj", model.hidden_size, m2.d_inner(), B);
    };
    auto unsupported = [](const char* kind) {
      throw Error(std::string("validate: no reference kernel for ") + kind + " layers yet");
    };
    if (prefill) {  // the whole-prefill pass covers attention layers with dense MLPs
      const bool attention_only = !layer.mixer || std::holds_alternative<Attention>(*layer.mixer);
      const bool dense = !layer.mlp || std::holds_alternative<DenseMlp>(*layer.mlp);
      if (!attention_only || !dense)
        throw Error(fmt::format("validate: whole prefills are timed for attention layers with dense MLPs; layer {} has {}",
                                li, layer.mixer && !attention_only ? "another mixer" : "a mixture of experts"));
    }
    // Norms: the residual-fused norm before the mixer and before the MLP (vLLM's input_layernorm and
    // post_attention_layernorm); a layer with more (Gemma 2/3: four) adds plain norms after the
    // mixer and after the MLP (post_attention_layernorm, post_feedforward_layernorm in gemma2.py).
    int64_t extra_norms = std::max<int64_t>(0, layer.norms - (layer.mixer ? 1 : 0) - (layer.mlp ? 1 : 0));
    auto pre_norm = [&](const char* label) {
      if (engine && layer.norms > 0) hidden_norm(label, true);
    };
    auto post_norm = [&](const char* label) {
      if (engine && extra_norms > 0) {
        --extra_norms;
        hidden_norm(label, false);
      }
    };
    if (layer.mixer) {
      pre_norm("input norm");
      std::visit(Overloaded{
                     run_attention,
                     [&](const Mla& m) {
                       if (m.index_topk > 0) unsupported("mla_sparse (DeepSeek sparse attention)");
                       if (cache.mla != MlaCache::latent)
                         throw Error("validate: the MLA kernel reads the latent cache (--mla-cache latent)");
                       const int64_t qd = m.qk_nope_head_dim + m.qk_rope_head_dim;
                       const int64_t latent = m.kv_lora_rank + m.qk_rope_head_dim;
                       char* y = real ? static_cast<char*>(impl_->scratch_b.get()) : nullptr;
                       char* c = real ? static_cast<char*>(impl_->scratch_c.get()) : nullptr;
                       if (m.q_lora_rank > 0) {
                         linear("q_a", m.q_lora_rank, model.hidden_size, B);
                         if (engine) norm("q_a norm", false, y, m.q_lora_rank, B);
                         linear("q_b", m.heads * qd, m.q_lora_rank, B);
                       } else {
                         linear("q", m.heads * qd, model.hidden_size, B);
                       }
                       linear("kv_a", latent, model.hidden_size, B);
                       KvAppend append;
                       if (engine) {
                         // deepseek_v2.py: kv_a_layernorm on the latent, rotary on the rope parts of q
                         // and k, then the latent row into the cache (concat_and_cache_mla).
                         need(scratch_c, B * latent * 2);
                         norm("kv_a norm", false, c, m.kv_lora_rank, B, 1, latent);
                         void* table = rope_table(m.qk_rope_head_dim);
                         if (real) {
                           Rotary r{y + m.qk_nope_head_dim * 2, c + m.kv_lora_rank * 2, table,
                                    impl_->index_array(context - 1, B), B, m.heads, 1, qd, m.qk_rope_head_dim,
                                    m.heads * qd, latent};
                           push("rotary", "rotary", rotary_bytes(r), [r](cudaStream_t s) { launch_rotary(r, s); });
                         }
                         append.k = c;
                         append.kv_heads = 1;
                         append.head_dim = latent;
                         append.src_stride = latent;
                       }
                       linear("absorb W_UK", m.kv_lora_rank, m.qk_nope_head_dim, B, m.heads);
                       DecodeAttention a;
                       a.heads = m.heads;
                       a.kv_heads = 1;
                       a.qk_dim = latent;
                       a.v_dim = m.kv_lora_rank;
                       a.v_in_k = true;
                       a.kv = kv_type_of(cache.kv_dtype);
                       a.context = tokens_resident(layer, context, cache);
                       a.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(qd)));
                       attention(a, "MLA attention", engine ? &append : nullptr);
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
                       const int64_t x_out = m1.dt_rank + 2 * m1.d_state;
                       linear("x_proj", x_out, m1.d_inner, B);
                       if (engine && m1.bc_dt_norm) {
                         // Falcon-Mamba: vLLM's RMSNorms on dt, B and C, slices of x_proj's rows
                         // (mamba_mixer.py _ssm_transform with use_rms_norm).
                         char* y = real ? static_cast<char*>(impl_->scratch_b.get()) : nullptr;
                         norm("dt norm", false, y, m1.dt_rank, B, 1, x_out);
                         norm("B norm", false, y ? y + m1.dt_rank * 2 : nullptr, m1.d_state, B, 1, x_out);
                         norm("C norm", false, y ? y + (m1.dt_rank + m1.d_state) * 2 : nullptr, m1.d_state, B, 1, x_out);
                       }
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
      post_norm("post-mixer norm");
    }
    if (layer.mlp) {
      pre_norm("pre-MLP norm");
      char* sa = real ? static_cast<char*>(impl_->scratch_a.get()) : nullptr;
      char* sb = real ? static_cast<char*>(impl_->scratch_b.get()) : nullptr;
      if (const auto* d = std::get_if<DenseMlp>(&*layer.mlp)) {
        linear(d->gated ? "gate_up" : "up", (d->gated ? 2 : 1) * d->intermediate_size, model.hidden_size, B);
        if (engine) activation(d->gated ? "act_and_mul" : "activation", sb, sa, B, d->intermediate_size, d->gated);
        linear("down", model.hidden_size, d->intermediate_size, B);
      } else if (const auto* e = std::get_if<MoeMlp>(&*layer.mlp)) {
        linear("router", e->experts, model.hidden_size, B);
        const int64_t I = e->expert_intermediate_size, up = (e->gated ? 2 : 1) * I;
        if (engine) {
          // vLLM's FusedMoE for a fixed routing (mixtral.py, gpt_oss.py -> fused_moe.py): top-k over
          // the router logits, the align of the top-k ids by expert (moe_align_block_size), one
          // grouped GEMV over the touched experts for gate_up, the activation
          // over every slot, one grouped GEMV for down, the weighted sum of each token's k rows.
          int64_t moe_layer = 0;  // MoE layers before this one
          for (int j = 0; j < li; ++j)
            if (model.layers[static_cast<size_t>(j)].mlp && std::holds_alternative<MoeMlp>(*model.layers[static_cast<size_t>(j)].mlp))
              ++moe_layer;
          const MoeRouting route = uniform_routing(B, e->experts, e->experts_per_token, moe_layer);
          void* w13 = A.get(route.touched * up * H * 2, Fill::weights);
          void* w2 = A.get(route.touched * H * I * 2, Fill::weights);
          need(moe_h, route.slots * up * 2);
          need(moe_a, route.slots * I * 2);
          need(moe_y, route.slots * H * 2);
          need(topk, route.slots * 4);
          MoeAlign al;
          al.slots = route.slots;
          al.experts = e->experts;
          al.block = kAlignBlock;
          need(align, moe_align_ints(al) * 4);
          if (real) {
            auto key = std::make_tuple(e->experts, e->experts_per_token, route.touched);
            if (!im->routings.count(key)) {
              std::vector<int> identity(static_cast<size_t>(route.slots));
              for (size_t i = 0; i < identity.size(); ++i) identity[i] = static_cast<int>(i);
              std::vector<float> weights(static_cast<size_t>(route.slots), 1.f / static_cast<float>(e->experts_per_token));
              std::vector<DeviceBuffer> arrays;
              arrays.push_back(to_device(route.expert_ids));
              arrays.push_back(to_device(route.offsets));
              arrays.push_back(to_device(route.slot_token));
              arrays.push_back(to_device(identity));
              arrays.push_back(to_device(route.slot_of));
              arrays.push_back(to_device(weights));
              im->routings.emplace(key, std::move(arrays));
            }
            const auto& r = im->routings.at(key);
            TopK t{sb, im->topk_weights.as<float>(), im->topk_ids.as<int>(), B, e->experts, e->experts_per_token};
            push("moe_routing", "top-k", B * e->experts * 2 + route.slots * 8, [t](cudaStream_t s) { launch_topk(t, s); });
            // The top-k ids grouped by expert, as the engine does before its grouped GEMMs; the GEMVs
            // below take the fixed routing instead (this kernel's output is not read).
            al.ids = im->topk_ids.as<int>();
            bind_moe_align(al, im->align.as<int>());
            const bool two = moe_align_two_kernels(al);
            push("moe_routing", two ? "align + sort" : "align", moe_align_bytes(al), [al](cudaStream_t s) { launch_moe_align(al, s); });
            ops_.back().kernels = two ? 2 : 1;
            const int64_t per_expert = (route.slots + route.touched - 1) / route.touched;  // even spread
            GroupedGemv g1{w13, sa, im->moe_h.get(), r[0].as<int>(), r[1].as<int>(), r[2].as<int>(), route.touched, up, H, route.slots,
                           per_expert};
            StepOp op1{"weights", fmt::format("layer {} experts gate_up x{} (grouped)", li, route.touched), grouped_gemv_bytes(g1),
                       2.0 * static_cast<double>(route.slots * up * H), [g1](cudaStream_t s) { launch_grouped_gemv(g1, s); }};
            ops_.push_back(std::move(op1));
            activation(e->gated ? "experts act_and_mul" : "experts activation", im->moe_h.get(), im->moe_a.get(), route.slots, I,
                       e->gated);
            GroupedGemv g2{w2, im->moe_a.get(), im->moe_y.get(), r[0].as<int>(), r[1].as<int>(),
                           r[3].as<int>(), route.touched, H, I, route.slots, per_expert};
            StepOp op2{"weights", fmt::format("layer {} experts down x{} (grouped)", li, route.touched), grouped_gemv_bytes(g2),
                       2.0 * static_cast<double>(route.slots * H * I), [g2](cudaStream_t s) { launch_grouped_gemv(g2, s); }};
            ops_.push_back(std::move(op2));
            MoeCombine c{im->moe_y.get(), r[5].as<float>(), r[4].as<int>(), sb, B, e->experts_per_token, H};
            push("moe_routing", "combine", moe_combine_bytes(c), [c](cudaStream_t s) { launch_moe_combine(c, s); });
          }
        } else {
          // Distinct experts a batch of B tokens touches on average: E (1 - (1 - k/E)^B).
          const int64_t active = std::llround(expected_touched(B, e->experts, e->experts_per_token));
          const int64_t rows = std::max<int64_t>(1, (B * e->experts_per_token + active - 1) / active);
          linear(fmt::format("experts gate_up x{}", active), up, model.hidden_size, rows, active);
          linear(fmt::format("experts down x{}", active), model.hidden_size, I, rows, active);
        }
        if (e->shared_experts > 0) {
          const int64_t si = e->shared_experts * (e->shared_intermediate_size > 0 ? e->shared_intermediate_size : e->expert_intermediate_size);
          linear("shared gate_up", (e->gated ? 2 : 1) * si, model.hidden_size, B);
          if (engine) activation(e->gated ? "shared act_and_mul" : "shared activation", sb, sa, B, si, e->gated);
          linear("shared down", model.hidden_size, si, B);
        }
      }
      post_norm("post-MLP norm");
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
  const int64_t lm_rows = batch;  // a prefill's logits: each prompt's last token only
  scratch_b = std::max(scratch_b, lm_rows * model.vocab_size * 2);
  scratch_a = std::max(scratch_a, B * model.hidden_size * 2);
  const int64_t rope_bytes = rope_rows > 0 ? context * rope_rows * 2 : 0;
  const int64_t small = engine ? B * H * 2 + moe_h + moe_a + moe_y + 2 * topk + rope_bytes : 0;
  int64_t used = lm_bytes + scratch_a + scratch_b + scratch_c + workspace + small + (64 << 20);
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
  fill(impl_->scratch_b.get(), {scratch_b, Fill::act}, 9, nullptr);
  fill(impl_->scratch_c.get(), {impl_->scratch_c.bytes(), Fill::act}, 8, nullptr);
  CUDA_CHECK(cudaMemset(impl_->workspace.get(), 0, static_cast<size_t>(impl_->workspace.bytes())));
  if (engine) {
    impl_->residual = DeviceBuffer(B * H * 2);
    fill(impl_->residual.get(), {B * H * 2, Fill::act}, 10, nullptr);
    for (auto* b : {&impl_->moe_h, &impl_->moe_a, &impl_->moe_y}) {
      const int64_t bytes = b == &impl_->moe_h ? moe_h : b == &impl_->moe_a ? moe_a : moe_y;
      *b = DeviceBuffer(std::max<int64_t>(bytes, 16));
      fill(b->get(), {b->bytes(), Fill::act}, 11, nullptr);
    }
    impl_->topk_weights = DeviceBuffer(std::max<int64_t>(topk, 16));
    impl_->topk_ids = DeviceBuffer(std::max<int64_t>(topk, 16));
    impl_->align = DeviceBuffer(std::max<int64_t>(align, 16));
    if (rope_rows > 0) {  // cos/sin rows for positions 0..context-1 (values random: only the reads matter)
      DeviceBuffer t(rope_bytes);
      fill(t.get(), {rope_bytes, Fill::act}, 12, nullptr);
      impl_->rope_tables.emplace(rope_rows, std::move(t));
    }
  }

  // Pass 3: the ops, in layer order.
  for (size_t i = 0; i < model.layers.size(); ++i) {
    Alloc A;
    A.sizing = false;
    A.slot = &im->slots[sigs[i]][copy_of[i]];
    build(model.layers[i], static_cast<int>(i), A);
  }
  void* x = impl_->scratch_a.get();
  void* y = impl_->scratch_b.get();
  if (engine && model.final_norm) {  // the model's final norm (fused with the last residual add)
    auto w = std::make_shared<DeviceBuffer>(H * 2);
    fill(w->get(), {H * 2, Fill::weights}, 13, nullptr);
    RmsNorm n{x, impl_->residual.get(), w->get(), B, 1, H, 0, 1e-6f, gemma};
    ops_.push_back(StepOp{"norms", "final norm", rms_norm_bytes(n), 0, [n, w](cudaStream_t s) { launch_rms_norm(n, s); }});
  }
  auto lm = std::make_shared<DeviceBuffer>(lm_bytes);
  fill(lm->get(), {lm_bytes, Fill::weights}, 99, nullptr);
  ops_.push_back(lm_head_op(*blas, lm, x, y, model.vocab_size, model.hidden_size, lm_rows));
  if (prefill) {
    notes_.push_back(fmt::format("whole prefill of {} prompt(s) of {} tokens in one pass: linears in bf16 through cuBLAS "
                                 "over all their rows, kvplan's residual-add + RMSNorm, rotary, KV append, gated activation "
                                 "and causal prefill attention per prompt; the lm_head for each prompt's last token",
                                 batch, prefill_tokens));
  } else if (engine) {
    notes_.push_back("engine-like step: linears in bf16 through cuBLAS (weights random, shapes from the model) plus, per "
                     "layer, kvplan's residual-add + RMSNorm, rotary, KV append, gated activation and, for MoE, top-k, "
                     "grouped expert GEMVs over a fixed uniform routing and the combine (docs/validation/README.md); "
                     "not run: the embedding gather, logit soft-capping, sampling");
    for (const auto& layer : model.layers)
      if (layer.mlp)
        if (const auto* e = std::get_if<MoeMlp>(&*layer.mlp)) {
          notes_.push_back(fmt::format("MoE routing fixed before capture: {} tokens x top-{} spread evenly over {:.2f} of {} "
                                       "experts on average over the layers (the expected count under uniform random routing; "
                                       "each layer the floor or the ceiling)",
                                       B, e->experts_per_token, expected_touched(B, e->experts, e->experts_per_token), e->experts));
          break;
        }
  } else {
    notes_.push_back("heavy kernels only (KVPLAN_DECODE_STEP=heavy): linears in bf16 through cuBLAS (weights random, shapes "
                     "from the model), attention / SSM kernels, lm_head; norms, rotary embedding, activations, residual adds, "
                     "the embedding gather and the KV append are not run; MoE experts as one strided-batched cuBLAS GEMM per "
                     "projection over the expected distinct experts");
  }
  CUDA_CHECK(cudaDeviceSynchronize());
}

DecodeStep::~DecodeStep() = default;

std::vector<std::string> DecodeStep::components() const {
  std::vector<std::string> out;
  for (const auto& op : ops_)
    if (std::find(out.begin(), out.end(), op.component) == out.end()) out.push_back(op.component);
  return out;
}

int64_t kernel_count(const std::vector<const StepOp*>& ops) {
  int64_t n = 0;
  for (const StepOp* op : ops) n += op->kernels;
  return n;
}

}  // namespace kvplan::gpu
