#include "core/decode.h"

#include <algorithm>
#include <cmath>

#include "core/collectives.h"
#include "core/checked.h"
#include "core/error.h"
#include "core/moe_align.h"
#include "core/parallel.h"

namespace kvplan {

namespace {

// Each routing kernel's cost for a group of MoE layers in a pass of `tokens` rows: vLLM's align
// runs as one kernel whose serial scans grow with the experts, or as two (moe_align.h), so the
// cost goes by the experts among the points measured on the group's side of that switch (a point
// is timed at a batch of few top-k ids: its side is its experts'), all the points where that side
// has none.
double routing_kernel_cost(const KernelCostCurve& c, const ExpertGroup& g, int64_t tokens) {
  const bool two = moe_align_two_kernels(g.experts, mul(mul(tokens, g.token_replicas), g.experts_per_token));
  KernelCostCurve side;
  for (const KernelCostPoint& p : c.points)
    if (moe_align_two_kernels(p.size, 0) == two) side.points.push_back(p);
  return (side.empty() ? c : side).at(static_cast<double>(g.experts));
}

}  // namespace

DecodeModel::DecodeModel(const Model& model, const Gpu& gpu, const MemoryOptions& opt)
    : work_(model_work(model, opt)),
      gpu_(gpu),
      rates_(rates(model, gpu, opt)),
      keep_tokens_(opt.cache.policy.keep_tokens()),
      eager_launch_s_(opt.engine.enforce_eager ? opt.engine.profile.eager_launch_s : 0) {
  if (opt.offload.enabled() && opt.offload.mode == OffloadMode::stream) offload_ = memory_model(model, opt);
  const int64_t pp = opt.engine.pipeline_parallel_size;
  if (pp > 1) {
    for (const auto& [first, end] : pipeline_stages(model.layers.size(), pp))
      stages_.push_back(stage_work(model, opt, first, end));
    sends_cross_nodes_ = stage_sends_cross_nodes(opt.cache.tp, pp, opt.parallel);
    micro_batches_ = opt.parallel.micro_batches > 0 ? opt.parallel.micro_batches : pp;
  }
}

DecodeStep DecodeModel::step(int64_t batch, int64_t context, int64_t query_tokens) const {
  if (batch < 1) throw Error("batch must be at least 1");
  if (context < 1) throw Error("context must be at least 1 token");
  if (query_tokens < 1) throw Error("a decode pass needs at least 1 query token per sequence");
  return stages_.empty() ? stage_step(work_, batch, context, query_tokens) : pipeline_step(batch, context, query_tokens);
}

DecodeStep DecodeModel::pipeline_step(int64_t batch, int64_t context, int64_t query_tokens) const {
  const int64_t m = std::min(micro_batches_, batch);
  const int64_t micro = ceil_div(batch, m);
  DecodeStep s;
  s.batch = batch;
  s.context = context;
  s.query_tokens = query_tokens;
  double stages_s = 0, slowest_s = 0;
  for (const ModelWork& w : stages_) {
    const DecodeStep st = stage_step(w, micro, context, query_tokens);
    stages_s += st.time_s;
    slowest_s = std::max(slowest_s, st.time_s);
    s.bytes = add(s.bytes, st.bytes);
    s.flops += st.flops;
    s.time_floor_s += st.time_floor_s;
    s.memory_time_s += st.memory_time_s;
    s.compute_time_s += st.compute_time_s;
    s.overhead_s += st.overhead_s;
    s.kernels += st.kernels;
    s.experts_touched = std::max(s.experts_touched, st.experts_touched);
    for (const DecodeComponent& c : st.components) {
      auto it = std::find_if(s.components.begin(), s.components.end(),
                             [&](const DecodeComponent& x) { return x.name == c.name; });
      if (it == s.components.end()) {
        s.components.push_back(c);
        continue;
      }
      it->bytes = add(it->bytes, c.bytes);
      it->flops += c.flops;
      it->kernels += c.kernels;
      it->time_floor_s += c.time_floor_s;
      it->time_s += c.time_s;
    }
  }
  // Between stages: the micro-batch's hidden states and residual (two tensors), core/collectives.h.
  const ModelWork& w = work_;
  const double message = 2.0 * static_cast<double>(mul(mul(micro, query_tokens), w.hidden_size, w.activation_bytes_per_element));
  DecodeComponent send{"pp_send", 0, 0, 0, 0, 0};
  for (size_t i = 1; i < stages_.size(); ++i) {
    send.bytes = add(send.bytes, std::llround(message / static_cast<double>(w.tp)));
    send.kernels += 1;
    send.time_floor_s += stage_send_s(message, w.tp, sends_cross_nodes_[i], gpu_, w.parallel, false);
    send.time_s += stage_send_s(message, w.tp, sends_cross_nodes_[i], gpu_, w.parallel, true);
  }
  const double cycle = std::max(stages_s + send.time_s, static_cast<double>(m) * slowest_s);
  s.time_floor_s += send.time_floor_s;
  s.overhead_s += send.time_s;
  s.kernels += send.kernels;
  s.components.push_back(send);
  s.components.push_back({"pp_bubble", 0, 0, 0, 0, std::max(0.0, cycle - stages_s - send.time_s)});
  s.time_s = cycle;
  s.bound = s.compute_time_s > s.memory_time_s ? Bound::compute : Bound::memory;
  s.tokens_per_s = static_cast<double>(batch) / s.time_s;
  s.tokens_per_s_per_seq = 1.0 / s.time_s;
  s.arithmetic_intensity = s.bytes > 0 ? s.flops / static_cast<double>(s.bytes) : 0;
  return s;
}

DecodeStep DecodeModel::stage_step(const ModelWork& w, int64_t batch, int64_t context, int64_t query_tokens) const {
  const double b = static_cast<double>(batch);
  const int64_t tokens = mul(batch, query_tokens);  // rows of every GEMM in the pass
  const double t = static_cast<double>(tokens);
  const double overhead = gpu_.efficiency.kernel_overhead_s;
  DecodeStep s;
  s.batch = batch;
  s.context = context;
  s.query_tokens = query_tokens;
  s.components.reserve(6);
  // Bytes stream at the component's bandwidth (rates(): kv_cache, ssm_state and lm_head have their
  // own fractions), FLOPs at its math rate.
  auto component = [&](const char* name, int64_t bytes, const Rate& bandwidth, double flops, int64_t kernels,
                       const Rate& math, double per_kernel_s) {
    DecodeComponent c{name, bytes, flops, kernels, 0, 0};
    const double byte_time = static_cast<double>(bytes) / bandwidth.achievable;
    const double flop_time = math.achievable > 0 ? flops / math.achievable : 0;
    c.time_floor_s = std::max(static_cast<double>(bytes) / bandwidth.peak, math.peak > 0 ? flops / math.peak : 0);
    c.time_s = std::max(byte_time, flop_time) + static_cast<double>(kernels) * per_kernel_s;
    s.memory_time_s += byte_time;
    s.compute_time_s += flop_time;
    s.overhead_s += static_cast<double>(kernels) * per_kernel_s;
    s.bytes = add(s.bytes, bytes);
    s.flops += flops;
    s.kernels += kernels;
    s.components.push_back(std::move(c));
  };

  // Weights: dense tensors once; each MoE group the experts the pass's tokens touch (under expert
  // parallelism: the GPU's own experts, touched by the tokens of every replica).
  int64_t expert_bytes = 0;
  for (const ExpertGroup& g : w.expert_groups) {
    const double touched = expected_local_experts_touched(g, tokens);
    s.experts_touched = std::max(s.experts_touched, touched);
    expert_bytes = add(expert_bytes, std::llround(touched * static_cast<double>(g.bytes_per_expert)));
  }
  const int64_t weight_bytes = add(w.dense_weight_bytes, expert_bytes);
  // The dense tensors stream at the bandwidth (or the preset's rate for their GEMMs' shapes at this
  // many rows, weight_stream_efficiency), the experts at the fused MoE kernel's
  // (expert_bandwidth_fraction): one rate for the component, bytes over the two streams' time.
  const Efficiency& eff = gpu_.efficiency;
  const Rate dense_rate = weight_stream_rate(rates_.bandwidth, w.gemms, eff, t);
  Rate weight_rate = dense_rate;
  if (expert_bytes > 0 && rates_.expert_bandwidth.achievable != dense_rate.achievable)
    weight_rate.achievable = static_cast<double>(weight_bytes) /
                             (static_cast<double>(w.dense_weight_bytes) / dense_rate.achievable +
                              static_cast<double>(expert_bytes) / rates_.expert_bandwidth.achievable);
  // The GEMMs' math at the preset's efficiency for their shapes, rows = the pass's tokens.
  component("weights", weight_bytes, weight_rate, t * w.linear_flops_per_token, w.kernels.weights,
            gemm_rate(rates_.linear, w.gemms, eff, t), overhead);

  // KV cache: every sequence reads min(context, window) tokens per layer (a bounded cache: at most
  // its kept tokens) once, each of its query tokens attends to all of them, and it writes one
  // token's K/V per query token.
  if (!w.attention.empty()) {
    int64_t read_per_seq = 0;
    double flops_per_seq = 0;
    // The kernels' fixed cost: where the preset prices it by the bytes one launch moves, a group's
    // layers launch its share of the kernels (kv_cache kernels x its layers / every group's), each
    // over the batch's keys and new tokens of one layer.
    const KernelCostCurve& cost = eff.attention_kernel_overhead_s;
    int64_t group_layers = 0;
    for (const AttentionGroup& g : w.attention) group_layers += g.layers;
    double kernel_cost_s = 0;
    for (const AttentionGroup& g : w.attention) {
      int64_t keys = g.window > 0 ? std::min(context, g.window) : context;
      if (keep_tokens_ > 0) keys = std::min(keys, keep_tokens_);
      read_per_seq = add(read_per_seq, mul(keys, g.kv_bytes_per_token));
      flops_per_seq += static_cast<double>(keys) * g.decode_flops_per_key;
      if (cost.empty() || group_layers <= 0 || w.kernels.kv_cache <= 0) continue;
      const double kernels = static_cast<double>(w.kernels.kv_cache) * static_cast<double>(g.layers) /
                             static_cast<double>(group_layers);
      const double launch_bytes = b * static_cast<double>(keys + query_tokens) * static_cast<double>(g.kv_bytes_per_token) / kernels;
      kernel_cost_s += kernels * cost.at(launch_bytes);
    }
    const double per_kernel = cost.empty() || w.kernels.kv_cache <= 0
                                  ? overhead
                                  : kernel_cost_s / static_cast<double>(w.kernels.kv_cache);
    const int64_t bytes = mul(batch, add(read_per_seq, mul(query_tokens, w.kv_write_bytes_per_token)));
    component("kv_cache", bytes, rates_.kv_bandwidth, t * flops_per_seq, w.kernels.kv_cache, rates_.attention, per_kernel);
  }
  // SSM state: read and written once per sequence, updated once per query token. The update also
  // reads each token's inputs and writes its output (x, dt, B, C in, y out: the scan's bytes per
  // token), bytes `kvplan calibrate` counts in the rate it measures (Falcon-Mamba-7B at batch 32:
  // 2.1 MB a layer beside 16.8 MB of state read and written).
  if (w.state_bytes_per_sequence > 0)
    component("ssm_state", add(mul(2, batch, w.state_bytes_per_sequence), mul(tokens, w.scan_bytes_per_token)),
              state_rate(rates_.state_bandwidth, w.state_groups, eff),
              t * w.scan_flops_per_token,
              w.kernels.ssm_state, rates_.fp32, overhead);
  component("lm_head", w.lm_head_bytes, weight_stream_rate(rates_.lm_head_bandwidth, {w.lm_head_gemm}, eff, t),
            t * w.lm_head_flops_per_token, w.kernels.lm_head,
            gemm_rate(rates_.head, {w.lm_head_gemm}, eff, t), overhead);
  component("embedding", mul(tokens, w.embedding_bytes_per_token), rates_.bandwidth, 0, w.kernels.embedding, Rate{},
            overhead);
  // Element-wise kernels (norms, RoPE, activations, cache writes, MoE routing): their activation
  // traffic, as in prefill, at the decode step's rate (its activations stay in L2 between kernels);
  // the norms, the rotary embeddings and the MoE routing at their own per-kernel cost where the
  // preset has one.
  const int64_t elementwise_kernels = add(w.kernels.elementwise, moe_two_kernel_align_layers(w.expert_groups, tokens));
  const double other_per_kernel = eff.elementwise_kernel_overhead_s.value_or(overhead);
  double elementwise_per_kernel = other_per_kernel;
  if ((eff.norm_kernel_overhead_s || !eff.rotary_kernel_overhead_s.empty() || !eff.moe_routing_kernel_overhead_s.empty()) &&
      elementwise_kernels > 0) {
    const double norms = static_cast<double>(w.kernels.norms);
    double rotary = 0, rotary_s = 0;  // each rotary kernel by its pairs a token
    for (const auto& [pairs, kernels] : w.rotary_groups) {
      rotary += static_cast<double>(kernels);
      rotary_s += static_cast<double>(kernels) * (eff.rotary_kernel_overhead_s.empty()
                                                      ? other_per_kernel
                                                      : eff.rotary_kernel_overhead_s.at(static_cast<double>(pairs)));
    }
    // Each group of MoE layers routes over its own experts.
    double routing = 0, routing_s = 0;
    for (const ExpertGroup& g : w.expert_groups) {
      const double kernels = static_cast<double>(moe_routing_kernels(g, tokens));
      routing += kernels;
      routing_s += kernels * (eff.moe_routing_kernel_overhead_s.empty()
                                  ? other_per_kernel
                                  : routing_kernel_cost(eff.moe_routing_kernel_overhead_s, g, tokens));
    }
    elementwise_per_kernel = (norms * eff.norm_kernel_overhead_s.value_or(other_per_kernel) +
                              rotary_s + routing_s +
                              (static_cast<double>(elementwise_kernels) - norms - rotary - routing) * other_per_kernel) /
                             static_cast<double>(elementwise_kernels);
  }
  component("elementwise", mul(tokens, w.elementwise_bytes_per_token), rates_.decode_elementwise_bandwidth, 0,
            elementwise_kernels, Rate{}, elementwise_per_kernel);
  // The whole graph's gaps between kernels of different kinds, beyond each component's own.
  if (gpu_.efficiency.kernel_gap_s > 0) {
    const double gaps = static_cast<double>(s.kernels) * gpu_.efficiency.kernel_gap_s;
    s.overhead_s += gaps;
    s.components.push_back({"kernel_gaps", 0, 0, 0, 0, gaps});
  }

  // Tensor parallel: one ring all-reduce of the pass's hidden states per mixer and per MLP.
  const int64_t message = mul(tokens, w.hidden_size, w.activation_bytes_per_element);
  auto collective = [&](DecodeComponent c) {
    s.overhead_s += c.time_s;
    s.kernels += c.kernels;
    s.components.push_back(std::move(c));
  };
  if (w.tp > 1 && w.allreduces_per_pass > 0) {
    const double n = static_cast<double>(w.allreduces_per_pass);
    collective({"allreduce", std::llround(n * ring_allreduce_link_bytes(message, w.tp)), 0, w.allreduces_per_pass,
                n * allreduce_s(message, w.tp, gpu_, w.parallel, false),
                n * allreduce_s(message, w.tp, gpu_, w.parallel, true)});
  }
  // Expert parallelism over dp replicas: each MoE layer sends every token's hidden state to the
  // GPUs of its k experts (dispatch) and gets the k results back (combine); a GPU sends its 1/tp
  // share of its replica's tokens (core/collectives.h).
  if (w.parallel.expert_parallel() && w.parallel.dp > 1 && w.moe_layers > 0) {
    const double sent = static_cast<double>(message) * static_cast<double>(w.experts_per_token) /
                        static_cast<double>(w.tp);
    const AllToAll floor = all_to_all(sent, w.parallel.ep, gpu_, w.parallel, false);
    const AllToAll a = all_to_all(sent, w.parallel.ep, gpu_, w.parallel, true);
    const double n = static_cast<double>(w.moe_layers);
    const int64_t bytes = std::llround(n * (a.on_node_bytes + a.off_node_bytes));
    for (const char* name : {"ep_dispatch", "ep_combine"})
      collective({name, bytes, 0, w.moe_layers, n * floor.time_s, n * a.time_s});
  }

  for (const DecodeComponent& c : s.components) {
    s.time_floor_s += c.time_floor_s;
    s.time_s += c.time_s;
  }
  s.bound = s.compute_time_s > s.memory_time_s ? Bound::compute : Bound::memory;

  // Without a CUDA graph the host issues the step's kernels one by one: the GPU waits for the
  // launches whenever issuing them takes longer than running them (eager_launch: the wait).
  if (eager_launch_s_ > 0) {
    const double issue = static_cast<double>(s.kernels) * eager_launch_s_;
    if (issue > s.time_s) {
      s.components.push_back({"eager_launch", 0, 0, 0, 0, issue - s.time_s});
      s.overhead_s += issue - s.time_s;
      s.time_s = issue;
    }
  }

  // Stream offload: the oldest KV crosses the link into HBM staging each step, layer by layer.
  // Prefetched, layer l+1's transfer runs under layer l's work: the step is the longer of the two
  // streams plus one layer's share of the shorter (the pipeline's fill); on demand they add up.
  if (offload_) {
    const OffloadUse use = offload_at(*offload_, batch, context);
    DecodeOffload o;
    o.link_bytes = use.offloaded_bytes;
    o.transfers = o.link_bytes > 0 ? offload_->full_kv_layers : 0;
    o.link_time_s = link_time_s(offload_->offload, o.link_bytes) + static_cast<double>(o.transfers) * overhead;
    o.step_without_s = s.time_s;
    const double layers = static_cast<double>(std::max<int64_t>(1, offload_->full_kv_layers));
    o.step_prefetch_s = std::max(s.time_s, o.link_time_s) + std::min(s.time_s, o.link_time_s) / layers;
    o.step_on_demand_s = s.time_s + o.link_time_s;
    const double step = offload_->offload.overlap == OffloadOverlap::prefetch ? o.step_prefetch_s : o.step_on_demand_s;
    const double floor_link = offload_->offload.link_nominal_bytes_per_s > 0
                                  ? static_cast<double>(o.link_bytes) / offload_->offload.link_nominal_bytes_per_s
                                  : 0;
    DecodeComponent c{"kv_offload", o.link_bytes, 0, o.transfers, 0, step - s.time_s};
    c.time_floor_s = offload_->offload.overlap == OffloadOverlap::prefetch ? std::max(0.0, floor_link - s.time_floor_s)
                                                                            : floor_link;
    s.time_floor_s += c.time_floor_s;
    s.time_s = step;
    s.kernels += c.kernels;
    if (o.link_time_s > std::max(s.memory_time_s, s.compute_time_s)) s.bound = Bound::link;
    s.components.push_back(std::move(c));
    s.offload = o;
  }
  s.tokens_per_s = b / s.time_s;
  s.tokens_per_s_per_seq = 1.0 / s.time_s;
  s.arithmetic_intensity = s.bytes > 0 ? s.flops / static_cast<double>(s.bytes) : 0;
  return s;
}

std::optional<int64_t> DecodeModel::compute_bound_batch(int64_t context, int64_t limit) const {
  auto compute = [&](int64_t b) {
    try {
      const DecodeStep s = step(b, context);
      return s.compute_time_s > s.memory_time_s;
    } catch (const Error&) {  // bytes past 64 bits: memory-bound
      return false;
    }
  };
  if (!compute(limit)) return std::nullopt;
  if (compute(1)) return 1;
  int64_t lo = 1, hi = limit;  // !compute(lo), compute(hi)
  while (hi - lo > 1) {
    const int64_t mid = lo + (hi - lo) / 2;
    (compute(mid) ? hi : lo) = mid;
  }
  return hi;
}

DecodeStep decode_step(const Model& model, const Gpu& gpu, int64_t batch, int64_t context, const MemoryOptions& opt) {
  const DecodeModel dm(model, gpu, opt);
  DecodeStep s = dm.step(batch, context);
  s.compute_bound_batch = dm.compute_bound_batch(context);
  return s;
}

}  // namespace kvplan
