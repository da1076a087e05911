#include "core/prefill.h"

#include <algorithm>
#include <cmath>

#include "core/collectives.h"
#include "core/checked.h"
#include "core/error.h"
#include "core/kv_sharing.h"

namespace kvplan {

PrefillModel::PrefillModel(const Model& model, const Gpu& gpu, const MemoryOptions& opt)
    : work_(model_work(model, opt)),
      gpu_(gpu),
      chunk_(opt.prefill_chunk),
      prefix_hit_rate_(opt.sharing.prefix_hit_rate),
      reload_(opt.offload.mode == OffloadMode::reload ? opt.offload : Offload{}),
      rates_(rates(model, gpu, opt)),
      scan_(work_.scan_on_tensor_cores ? rates_.bf16 : rates_.fp32),
      sends_cross_nodes_(opt.engine.pipeline_parallel_size > 1
                             ? stage_sends_cross_nodes(opt.cache.tp, opt.engine.pipeline_parallel_size, opt.parallel)
                             : std::vector<bool>{}) {}

// A sequence's computed queries (after `cached`) run in passes of chunk_ tokens; each pass's
// (query, key) pairs divided by the preset's efficiency for a causal pass of as many keys: all
// keys up to the pass's end (full attention), twice the window (sliding: every query block loops
// over W keys, as the blocks of a causal 2W-token pass do on average), or the pass's position in
// its local chunk (chunked: each chunk of W tokens is a causal pass of its own; W where the pass
// spans a chunk boundary or a whole chunk). More than 4096 passes are priced as 4096 equal ones.
double PrefillModel::pass_pairs_at_peak(const AttentionGroup& g, int64_t cached, int64_t prompt) const {
  const Efficiency& e = gpu_.efficiency;
  const double head_dim = static_cast<double>(std::max<int64_t>(g.head_dim, 1));
  const int64_t pass_tokens = std::max(chunk_, ceil_div(prompt - cached, int64_t{4096}));
  auto keys = [&](int64_t start, int64_t end) {
    if (g.chunked && g.window > 0) {
      const bool spans = end - start >= g.window || start / g.window != (end - 1) / g.window;
      return spans ? g.window : (end - 1) % g.window + 1;
    }
    return g.window > 0 ? std::min(end, mul(2, g.window)) : end;
  };
  double sum = 0;
  for (int64_t start = cached; start < prompt;) {
    const int64_t end = prompt - start > pass_tokens ? start + pass_tokens : prompt;
    sum += (attention_pairs(end, g) - attention_pairs(start, g)) / e.attention(static_cast<double>(keys(start, end)), head_dim);
    start = end;
  }
  return sum;
}

PrefillResult PrefillModel::run(int64_t batch, int64_t prompt) const {
  if (batch < 1) throw Error("batch must be at least 1");
  if (prompt < 1) throw Error("prompt must be at least 1 token");
  const ModelWork& w = work_;
  // A prefix-cache hit skips the cached tokens: only the rest are computed, attending to all.
  const int64_t cached = cached_prompt_tokens(prefix_hit_rate_, prompt);
  const int64_t computed = prompt - cached;
  const int64_t tokens = mul(batch, computed);
  const int64_t pass_tokens = std::min(tokens, chunk_);
  const int64_t passes = ceil_div(tokens, chunk_);
  const double t = static_cast<double>(tokens);
  const double b = static_cast<double>(batch);
  PrefillResult r;
  r.batch = batch;
  r.prompt = prompt;
  r.cached = cached;
  r.passes = passes;
  double memory_s = 0, compute_s = 0;
  // A phase's bytes stream at `memory` (the bandwidth; element-wise kernels at their own rate), its
  // FLOPs at `rate` of `peak`.
  auto phase = [&](const char* name, int64_t bytes, double flops, double peak, double rate, const Rate& memory) {
    PrefillPhase p{name, bytes, flops, 0, 0};
    const double byte_s = static_cast<double>(bytes) / memory.achievable, flop_s = flops / rate;
    p.time_floor_s = std::max(static_cast<double>(bytes) / memory.peak, flops / peak);
    p.time_s = std::max(byte_s, flop_s);
    memory_s += byte_s;
    compute_s += flop_s;
    r.bytes = add(r.bytes, bytes);
    r.flops += flops;
    r.phases.push_back(std::move(p));
  };

  // Linear: weights read once per pass (MoE: experts the pass's tokens touch), lm_head on the last token.
  int64_t weights_per_pass = add(w.dense_weight_bytes, w.lm_head_bytes);
  for (const ExpertGroup& g : w.expert_groups)
    weights_per_pass = add(weights_per_pass, std::llround(expected_local_experts_touched(g, pass_tokens) *
                                                          static_cast<double>(g.bytes_per_expert)));
  const int64_t linear_bytes = add(mul(passes, weights_per_pass), mul(tokens, w.embedding_bytes_per_token));
  r.linear_flops = t * w.linear_flops_per_token + b * w.lm_head_flops_per_token;
  // The GEMMs at the preset's efficiency for their shapes: the layers' with rows = the tokens of
  // each pass (full passes of chunk_ tokens, then the rest), the lm_head's with one row per prompt.
  // Their summed time sets the phase's rate; without a grid one rate for all.
  double linear_rate = rates_.linear.achievable;
  if (!gpu_.efficiency.gemm_efficiency.empty()) {
    const double per_token = w.linear_flops_per_token, chunk = static_cast<double>(chunk_);
    const double full = static_cast<double>(tokens / chunk_), rest = static_cast<double>(tokens % chunk_);
    auto layers_s = [&](double rows) {
      return rows > 0 ? rows * per_token / gemm_rate(rates_.linear, w.gemms, gpu_.efficiency, rows).achievable : 0.0;
    };
    const double head_s = b * w.lm_head_flops_per_token /
                          gemm_rate(rates_.linear, {w.lm_head_gemm}, gpu_.efficiency, b).achievable;
    const double linear_s = full * layers_s(chunk) + layers_s(rest) + head_s;
    if (linear_s > 0) linear_rate = r.linear_flops / linear_s;
  }
  phase("linear", linear_bytes, r.linear_flops, rates_.linear.peak, linear_rate, rates_.bandwidth);

  // Attention: causal pairs per window of the computed queries (those after the cached prefix);
  // the KV cache read once (cached prefix included) and the computed tokens' KV written once
  // (lower bound).
  auto pairs = [&](const AttentionGroup& g) { return attention_pairs(prompt, g) - attention_pairs(cached, g); };
  if (!w.attention.empty()) {
    int64_t kv_bytes_per_seq = 0;
    double attention_s = 0;  // with a measured grid: each pass at the efficiency of its keys and head size
    for (const AttentionGroup& g : w.attention) {
      r.attention_flops += b * pairs(g) * g.prefill_flops_per_pair;
      if (!gpu_.efficiency.attention_efficiency.empty())
        attention_s += b * g.prefill_flops_per_pair * pass_pairs_at_peak(g, cached, prompt) / rates_.attention.peak;
      const int64_t read = g.window > 0 ? std::min(prompt, g.window) : prompt;
      const int64_t written = g.window > 0 ? std::min(computed, g.window) : computed;
      kv_bytes_per_seq = add(kv_bytes_per_seq, mul(add(read, written), g.kv_bytes_per_token));
    }
    const double attention_rate = attention_s > 0 ? r.attention_flops / attention_s : rates_.attention.achievable;
    phase("attention", mul(batch, kv_bytes_per_seq), r.attention_flops, rates_.attention.peak, attention_rate,
          rates_.bandwidth);
  }
  // Element-wise kernels: their activation traffic, no FLOPs that count.
  phase("elementwise", mul(tokens, w.elementwise_bytes_per_token), 0.0, 1.0, 1.0, rates_.elementwise_bandwidth);
  // Scan: per-token inputs/outputs and the final state written.
  if (w.scan_flops_per_token > 0) {
    r.scan_flops = t * w.scan_flops_per_token;
    phase("scan", add(mul(tokens, w.scan_bytes_per_token), mul(batch, w.state_bytes_per_sequence)), r.scan_flops,
          scan_.peak, scan_.achievable, rates_.bandwidth);
  }

  // Each kernel's fixed cost, and the whole pass's gap between kernels of different kinds.
  const Efficiency& e = gpu_.efficiency;
  // Full passes of pass_tokens rows, then the rest, whose MoE align may take one kernel fewer.
  const int64_t tail_tokens = tokens - (passes - 1) * pass_tokens;
  const int64_t kernels = add(mul(passes, w.kernels.total()),
                              add(mul(passes - 1, moe_two_kernel_align_layers(w.expert_groups, pass_tokens)),
                                  moe_two_kernel_align_layers(w.expert_groups, tail_tokens)));
  r.overhead_s = static_cast<double>(kernels) * (e.kernel_overhead_s + e.kernel_gap_s);
  // Collectives per pass, as in a decode step (decode.h): the tensor-parallel all-reduces, expert
  // parallelism's dispatch and combine, and each pipeline stage's send of the pass's hidden states
  // and residual to the next (a prompt passes the stages one after another).
  double allreduce_floor_s = 0;
  const int64_t message = mul(pass_tokens, w.hidden_size, w.activation_bytes_per_element);
  const Parallel& par = w.parallel;
  if (w.tp > 1 && w.allreduces_per_pass > 0) {
    const double n = static_cast<double>(passes) * static_cast<double>(w.allreduces_per_pass);
    allreduce_floor_s = n * allreduce_s(message, w.tp, gpu_, par, false);
    r.overhead_s += n * allreduce_s(message, w.tp, gpu_, par, true);
  }
  if (par.expert_parallel() && par.dp > 1 && w.moe_layers > 0) {
    const double sent = static_cast<double>(message) * static_cast<double>(w.experts_per_token) / static_cast<double>(w.tp);
    const double n = 2.0 * static_cast<double>(passes) * static_cast<double>(w.moe_layers);  // dispatch + combine
    allreduce_floor_s += n * all_to_all(sent, par.ep, gpu_, par, false).time_s;
    r.overhead_s += n * all_to_all(sent, par.ep, gpu_, par, true).time_s;
  }
  for (size_t i = 1; i < sends_cross_nodes_.size(); ++i) {
    const double sent = 2.0 * static_cast<double>(message);
    allreduce_floor_s += static_cast<double>(passes) * stage_send_s(sent, w.tp, sends_cross_nodes_[i], gpu_, par, false);
    r.overhead_s += static_cast<double>(passes) * stage_send_s(sent, w.tp, sends_cross_nodes_[i], gpu_, par, true);
  }
  for (const PrefillPhase& p : r.phases) {
    r.time_floor_s += p.time_floor_s;
    r.time_s += p.time_s;
  }
  r.time_floor_s += allreduce_floor_s;
  r.time_s += r.overhead_s;
  if (reload_.enabled() && cached > 0) {
    int64_t per_seq = w.state_bytes_per_sequence;  // the recurrent state at the prefix's end
    for (const AttentionGroup& g : w.attention)
      per_seq = add(per_seq, mul(g.window > 0 ? std::min(cached, g.window) : cached, g.kv_bytes_per_token));
    r.load_bytes = mul(batch, per_seq);
    r.load_time_s = link_time_s(reload_, r.load_bytes);
    int64_t layer_count = 0;
    for (const KindWork& kw : w.kinds) layer_count += kw.layers;
    const double layers = static_cast<double>(std::max<int64_t>(1, layer_count));
    r.time_s = reload_.overlap == OffloadOverlap::prefetch
                   ? std::max(r.time_s, r.load_time_s) + std::min(r.time_s, r.load_time_s) / layers
                   : r.time_s + r.load_time_s;
  }
  r.attention_share = r.flops > 0 ? r.attention_flops / r.flops : 0;
  r.tokens_per_s = static_cast<double>(mul(batch, prompt)) / r.time_s;  // prompt tokens served, cached included
  r.bound = compute_s > memory_s ? Bound::compute : Bound::memory;
  for (const KindWork& kw : w.kinds) {
    PrefillKind pk{kw.kind, kw.layers, t * kw.linear_flops_per_token, 0, t * kw.scan_flops_per_token};
    for (const AttentionGroup& g : kw.attention) pk.attention_flops += b * pairs(g) * g.prefill_flops_per_pair;
    r.kinds.push_back(pk);
  }
  return r;
}

PrefillResult prefill(const Model& model, const Gpu& gpu, int64_t batch, int64_t prompt, const MemoryOptions& opt) {
  return PrefillModel(model, gpu, opt).run(batch, prompt);
}

}  // namespace kvplan
