#include "report/estimate_fields.h"

#include <optional>

namespace kvplan {

namespace {

std::vector<InUseField> build_in_use();

FieldValue optional(const std::optional<int64_t>& v) { return v ? FieldValue(*v) : FieldValue(nullptr); }
FieldValue optional(const std::optional<double>& v) { return v ? FieldValue(*v) : FieldValue(nullptr); }

// The decode components every row has (zeros where the model has none), so CSV rows share a header.
constexpr const char* kDecodeComponents[] = {"weights",   "kv_cache",    "ssm_state", "lm_head",
                                             "embedding", "elementwise", "kernel_gaps", "allreduce"};

const LayerSummary& layer_summary(const Estimate& e, LayerKind k) {
  static const LayerSummary none{};
  for (const LayerSummary& s : e.layers)
    if (s.kind == k) return s;
  return none;
}

const PrefillKind& prefill_kind(const Estimate& e, LayerKind k) {
  static const PrefillKind none{};
  for (const PrefillKind& p : e.prefill.kinds)
    if (p.kind == k) return p;
  return none;
}

constexpr const char* kPrefillPhases[] = {"linear", "attention", "elementwise", "scan"};

const PrefillPhase* prefill_phase(const Estimate& e, const char* n) {
  for (const PrefillPhase& p : e.prefill.phases)
    if (p.name == n) return &p;
  return nullptr;
}

const DecodeComponent& component(const Estimate& e, const char* n) {
  static const DecodeComponent none{};
  for (const DecodeComponent& c : e.decode.components)
    if (c.name == n) return c;
  return none;
}

std::vector<SpeculativeField> build_speculative() {
  using Spec = std::optional<SpeculativeDecode>;
  std::vector<SpeculativeField> t;
  auto config = [&](std::string key, std::function<FieldValue(const EngineSettings&)> get) {
    t.push_back({std::move(key), [get](const EngineSettings& e, const Spec&) {
                   return e.speculative_method.empty() ? FieldValue(nullptr) : get(e);
                 }});
  };
  auto step = [&](std::string key, std::function<FieldValue(const SpeculativeDecode&)> get) {
    t.push_back({std::move(key), [get](const EngineSettings&, const Spec& s) { return s ? get(*s) : FieldValue(nullptr); }});
  };
  config("method", [](const EngineSettings& e) { return FieldValue(e.speculative_method.c_str()); });
  config("num_speculative_tokens", [](const EngineSettings& e) { return FieldValue(e.num_speculative_tokens); });
  step("acceptance_rate", [](const SpeculativeDecode& s) { return s.acceptance_rate; });
  step("acceptance_length", [](const SpeculativeDecode& s) { return s.acceptance_length; });
  step("draft_time_s", [](const SpeculativeDecode& s) { return s.draft_time_s; });
  step("verify_time_s", [](const SpeculativeDecode& s) { return s.verify_time_s; });
  step("step_time_s", [](const SpeculativeDecode& s) { return s.step_time_s; });
  step("time_per_output_token_s", [](const SpeculativeDecode& s) { return s.time_per_output_token_s; });
  step("tokens_per_s", [](const SpeculativeDecode& s) { return s.tokens_per_s; });
  step("speedup", [](const SpeculativeDecode& s) { return s.speedup; });
  step("pays_up_to_batch", [](const SpeculativeDecode& s) { return optional(s.pays_up_to_batch); });
  return t;
}

std::vector<EstimateField> build() {
  std::vector<EstimateField> t;
  auto fixed = [&](std::string key, std::function<FieldValue(const Estimate&)> get) {
    t.push_back({std::move(key), false, std::move(get)});
  };
  auto varying = [&](std::string key, std::function<FieldValue(const Estimate&)> get) {
    t.push_back({std::move(key), true, std::move(get)});
  };
  varying("workload.batch", [](const Estimate& e) { return e.workload.batch; });
  varying("workload.context", [](const Estimate& e) { return e.workload.context; });
  varying("workload.prompt", [](const Estimate& e) { return e.workload.prompt; });
  fixed("workload.tp", [](const Estimate& e) { return int64_t{e.options.cache.tp}; });
  varying("workload.gen", [](const Estimate& e) { return e.workload.gen; });
  fixed("workload.shared_prefix", [](const Estimate& e) { return e.options.sharing.shared_prefix; });
  fixed("workload.branches", [](const Estimate& e) { return e.options.sharing.branches; });
  fixed("workload.trunk", [](const Estimate& e) { return e.options.sharing.trunk; });
  fixed("workload.prefix_hit_rate", [](const Estimate& e) { return e.options.sharing.prefix_hit_rate; });

  fixed("memory.weights_bytes", [](const Estimate& e) { return e.memory.weights_bytes; });
  fixed("memory.kv_bytes_per_token", [](const Estimate& e) { return e.memory.kv_bytes_per_token; });
  fixed("memory.draft_weights_bytes", [](const Estimate& e) { return e.memory.draft_weights_bytes; });
  fixed("memory.draft_kv_bytes_per_token", [](const Estimate& e) { return e.memory.draft_kv_bytes_per_token; });
  varying("memory.kv_bytes_per_sequence", [](const Estimate& e) { return e.memory.kv_bytes_per_sequence; });
  varying("memory.kv_cache_bytes", [](const Estimate& e) { return e.memory.kv_cache_bytes; });
  fixed("memory.state_bytes_per_sequence", [](const Estimate& e) { return e.memory.state_bytes_per_sequence; });
  varying("memory.state_bytes", [](const Estimate& e) { return e.memory.state_bytes; });
  varying("memory.activation_bytes", [](const Estimate& e) { return e.memory.activation_bytes; });
  varying("memory.total_bytes", [](const Estimate& e) { return e.memory.total_bytes; });
  fixed("memory.capacity_bytes", [](const Estimate& e) { return e.memory.capacity_bytes; });
  fixed("memory.usable_bytes", [](const Estimate& e) { return e.memory.usable_bytes; });
  varying("memory.headroom_bytes", [](const Estimate& e) { return e.memory.headroom_bytes; });
  varying("memory.fits", [](const Estimate& e) { return e.memory.fits; });
  varying("memory.max_batch", [](const Estimate& e) { return e.memory.max_batch; });
  varying("memory.max_context", [](const Estimate& e) { return optional(e.memory.max_context); });
  // kvplan's own accounting (--engine ideal); under an engine its blocks are engine.* (null here).
  fixed("memory.sharing.allocation", [](const Estimate& e) {
    return e.engine ? FieldValue(nullptr) : FieldValue(name(e.options.sharing.allocation));
  });
  fixed("memory.sharing.block_tokens", [](const Estimate& e) {
    return !e.engine && e.options.sharing.allocation == Allocation::paged ? FieldValue(e.options.sharing.block_tokens)
                                                                         : FieldValue(nullptr);
  });
  varying("memory.sharing.sequences", [](const Estimate& e) { return e.memory.kv.sequences; });
  auto ideal = [&](const std::string& key, int64_t KvUse::*field) {
    varying(key, [field](const Estimate& e) { return e.engine ? FieldValue(nullptr) : FieldValue(e.memory.kv.*field); });
  };
  ideal("memory.sharing.shared_bytes", &KvUse::shared_bytes);
  ideal("memory.sharing.owned_bytes", &KvUse::owned_bytes);
  ideal("memory.sharing.unshared_bytes", &KvUse::unshared_bytes);
  ideal("memory.sharing.fragmentation_bytes", &KvUse::fragmentation_bytes);
  // The same under an engine, in its blocks (null under ideal).
  auto blocks = [&](const std::string& key, int64_t EngineBlocks::*field) {
    varying(key, [field](const Estimate& e) {
      return e.memory.engine_blocks ? FieldValue((*e.memory.engine_blocks).*field) : FieldValue(nullptr);
    });
  };
  blocks("memory.sharing.shared_blocks", &EngineBlocks::shared);
  blocks("memory.sharing.owned_blocks", &EngineBlocks::owned);
  blocks("memory.sharing.unshared_blocks", &EngineBlocks::unshared);
  // The KV cache in use under the length distributions (null without --prompt-dist/--gen-dist).
  for (const InUseField& f : in_use_fields())
    t.push_back({"memory.in_use." + f.key, f.varies, [get = f.get](const Estimate& e) {
                   return e.in_use && e.options.lengths ? get(*e.in_use, *e.options.lengths) : FieldValue(nullptr);
                 }});

  // An offload tier (null without one); memory.kv_cache_bytes is the whole cache, wherever it lives.
  auto tiered = [](const Estimate& e) { return e.options.offload.enabled(); };
  auto tier = [&](const std::string& key, std::function<FieldValue(const Estimate&)> get) {
    varying(key, [get, tiered](const Estimate& e) { return tiered(e) ? get(e) : FieldValue(nullptr); });
  };
  tier("memory.tiers.tier", [](const Estimate& e) { return FieldValue(name(e.options.offload.tier)); });
  tier("memory.tiers.mode", [](const Estimate& e) { return FieldValue(name(e.options.offload.mode)); });
  tier("memory.tiers.overlap", [](const Estimate& e) { return FieldValue(name(e.options.offload.overlap)); });
  tier("memory.tiers.hbm_kv_bytes", [](const Estimate& e) {
    return FieldValue(e.memory.kv_cache_bytes - e.memory.offload.offloaded_bytes + e.memory.offload.staging_bytes);
  });
  tier("memory.tiers.offloaded_bytes", [](const Estimate& e) {
    return FieldValue(e.options.offload.mode == OffloadMode::stream ? e.memory.offload.offloaded_bytes
                                                                    : e.options.offload.bytes);
  });
  tier("memory.tiers.staging_bytes", [](const Estimate& e) { return FieldValue(e.memory.offload.staging_bytes); });
  tier("memory.tiers.capacity_bytes", [](const Estimate& e) { return FieldValue(e.options.offload.capacity_bytes); });
  tier("memory.tiers.link_bytes_per_s", [](const Estimate& e) { return FieldValue(e.options.offload.link_bytes_per_s); });

  for (LayerKind k : kAllLayerKinds) {
    const std::string p = std::string("layers.") + name(k) + ".";
    fixed(p + "count", [k](const Estimate& e) { return layer_summary(e, k).count; });
    fixed(p + "params", [k](const Estimate& e) { return layer_summary(e, k).params; });
    fixed(p + "kv_bytes_per_token", [k](const Estimate& e) { return layer_summary(e, k).kv_bytes_per_token; });
    varying(p + "kv_bytes_per_sequence", [k](const Estimate& e) { return layer_summary(e, k).kv_bytes_per_sequence; });
    fixed(p + "state_bytes_per_sequence", [k](const Estimate& e) { return layer_summary(e, k).state_bytes_per_sequence; });
  }

  varying("prefill.prompt", [](const Estimate& e) { return e.prefill.prompt; });
  varying("prefill.cached_tokens", [](const Estimate& e) { return e.prefill.cached; });
  varying("prefill.flops", [](const Estimate& e) { return e.prefill.flops; });
  varying("prefill.linear_flops", [](const Estimate& e) { return e.prefill.linear_flops; });
  varying("prefill.attention_flops", [](const Estimate& e) { return e.prefill.attention_flops; });
  varying("prefill.scan_flops", [](const Estimate& e) { return e.prefill.scan_flops; });
  varying("prefill.attention_share", [](const Estimate& e) { return e.prefill.attention_share; });
  varying("prefill.bytes", [](const Estimate& e) { return e.prefill.bytes; });
  varying("prefill.passes", [](const Estimate& e) { return e.prefill.passes; });
  varying("prefill.time_floor_s", [](const Estimate& e) { return e.prefill.time_floor_s; });
  varying("prefill.time_s", [](const Estimate& e) { return e.prefill.time_s; });
  varying("prefill.bound", [](const Estimate& e) { return name(e.prefill.bound); });
  varying("prefill.batch_time_s", [](const Estimate& e) { return e.batch_prefill.time_s; });
  tier("prefill.load_bytes", [](const Estimate& e) { return FieldValue(e.prefill.load_bytes); });
  tier("prefill.load_time_s", [](const Estimate& e) { return FieldValue(e.prefill.load_time_s); });
  varying("prefill.batch_tokens_per_s", [](const Estimate& e) { return e.batch_prefill.tokens_per_s; });
  // Each phase of the prefill model (src/core/prefill.h); null where the model has none (scan
  // without Mamba layers, attention without attention layers).
  for (const char* ph : kPrefillPhases) {
    const std::string p = std::string("prefill.phases.") + ph + ".";
    varying(p + "bytes", [ph](const Estimate& e) {
      const PrefillPhase* x = prefill_phase(e, ph);
      return x ? FieldValue(x->bytes) : FieldValue(nullptr);
    });
    varying(p + "flops", [ph](const Estimate& e) {
      const PrefillPhase* x = prefill_phase(e, ph);
      return x ? FieldValue(x->flops) : FieldValue(nullptr);
    });
    varying(p + "time_s", [ph](const Estimate& e) {
      const PrefillPhase* x = prefill_phase(e, ph);
      return x ? FieldValue(x->time_s) : FieldValue(nullptr);
    });
  }
  for (LayerKind k : kAllLayerKinds) {
    const std::string p = std::string("prefill.by_kind.") + name(k) + ".";
    varying(p + "linear_flops", [k](const Estimate& e) { return prefill_kind(e, k).linear_flops; });
    varying(p + "attention_flops", [k](const Estimate& e) { return prefill_kind(e, k).attention_flops; });
    varying(p + "scan_flops", [k](const Estimate& e) { return prefill_kind(e, k).scan_flops; });
  }

  varying("decode.bytes_per_step", [](const Estimate& e) { return e.decode.bytes; });
  varying("decode.flops_per_step", [](const Estimate& e) { return e.decode.flops; });
  varying("decode.step_time_s", [](const Estimate& e) { return e.decode.time_s; });
  varying("decode.step_time_floor_s", [](const Estimate& e) { return e.decode.time_floor_s; });
  varying("decode.tokens_per_s", [](const Estimate& e) { return e.decode.tokens_per_s; });
  varying("decode.tokens_per_s_per_seq", [](const Estimate& e) { return e.decode.tokens_per_s_per_seq; });
  varying("decode.bound", [](const Estimate& e) { return name(e.decode.bound); });
  varying("decode.arithmetic_intensity", [](const Estimate& e) { return e.decode.arithmetic_intensity; });
  varying("decode.compute_bound_batch", [](const Estimate& e) { return optional(e.decode.compute_bound_batch); });
  varying("decode.memory_time_s", [](const Estimate& e) { return e.decode.memory_time_s; });
  varying("decode.compute_time_s", [](const Estimate& e) { return e.decode.compute_time_s; });
  varying("decode.overhead_s", [](const Estimate& e) { return e.decode.overhead_s; });
  varying("decode.kernels_per_step", [](const Estimate& e) { return e.decode.kernels; });
  varying("decode.experts_touched", [](const Estimate& e) { return e.decode.experts_touched; });
  auto streamed = [&](const std::string& key, std::function<FieldValue(const DecodeOffload&)> get) {
    varying(key, [get](const Estimate& e) { return e.decode.offload ? get(*e.decode.offload) : FieldValue(nullptr); });
  };
  streamed("decode.offload.link_bytes", [](const DecodeOffload& o) { return FieldValue(o.link_bytes); });
  streamed("decode.offload.link_time_s", [](const DecodeOffload& o) { return FieldValue(o.link_time_s); });
  streamed("decode.offload.step_without_offload_s", [](const DecodeOffload& o) { return FieldValue(o.step_without_s); });
  streamed("decode.offload.step_prefetch_s", [](const DecodeOffload& o) { return FieldValue(o.step_prefetch_s); });
  streamed("decode.offload.step_on_demand_s", [](const DecodeOffload& o) { return FieldValue(o.step_on_demand_s); });
  for (const char* c : kDecodeComponents) {
    const std::string p = std::string("decode.components.") + c + ".";
    varying(p + "bytes", [c](const Estimate& e) { return component(e, c).bytes; });
    varying(p + "flops", [c](const Estimate& e) { return component(e, c).flops; });
    varying(p + "kernels", [c](const Estimate& e) { return component(e, c).kernels; });
    varying(p + "time_floor_s", [c](const Estimate& e) { return component(e, c).time_floor_s; });
    varying(p + "time_s", [c](const Estimate& e) { return component(e, c).time_s; });
  }
  for (const SpeculativeField& f : speculative_fields())
    varying("decode.speculative." + f.key, [get = f.get](const Estimate& e) { return get(e.options.engine, e.speculative); });

  fixed("cost.usd_per_gpu_hour", [](const Estimate& e) { return e.cost.usd_per_gpu_hour; });
  fixed("cost.gpus", [](const Estimate& e) { return e.cost.gpus; });
  fixed("cost.usd_per_hour", [](const Estimate& e) { return optional(e.cost.usd_per_hour); });
  varying("cost.usd_per_million_output_tokens", [](const Estimate& e) { return optional(e.cost.usd_per_million_output_tokens); });
  varying("cost.usd_per_million_prompt_tokens", [](const Estimate& e) { return optional(e.cost.usd_per_million_prompt_tokens); });
  varying("cost.usd_per_request", [](const Estimate& e) { return optional(e.cost.usd_per_request); });
  return t;
}

std::vector<InUseField> build_in_use() {
  std::vector<InUseField> t;
  auto field = [&](std::string key, bool varies, std::function<FieldValue(const KvInUse&)> get) {
    t.push_back({std::move(key), varies, [get](const KvInUse& u, const LengthDist&) { return get(u); }});
  };
  t.push_back({"prompt_dist", false, [](const KvInUse&, const LengthDist& d) { return FieldValue(d.prompt_source.c_str()); }});
  t.push_back({"gen_dist", false, [](const KvInUse&, const LengthDist& d) { return FieldValue(d.output_source.c_str()); }});
  field("requests", true, [](const KvInUse& u) { return u.requests; });
  field("mean_tokens", false, [](const KvInUse& u) { return u.mean_tokens; });
  field("max_tokens", false, [](const KvInUse& u) { return u.max_tokens; });
  field("block_tokens", false, [](const KvInUse& u) { return u.block_tokens; });
  // kvplan's own cache in bytes (null under an engine), or the engine's blocks (null under ideal).
  auto bytes = [&](std::string key, bool varies, std::function<FieldValue(const KvInUse&)> get) {
    field(std::move(key), varies, [get](const KvInUse& u) { return u.in_blocks ? FieldValue(nullptr) : get(u); });
  };
  auto blocks = [&](std::string key, std::function<FieldValue(const KvInUse&)> get) {
    field(std::move(key), true, [get](const KvInUse& u) { return u.in_blocks ? get(u) : FieldValue(nullptr); });
  };
  bytes("held_expected_bytes", true, [](const KvInUse& u) { return u.held_expected_bytes; });
  bytes("expected_bytes", true, [](const KvInUse& u) { return u.expected_bytes; });
  bytes("p99_bytes", true, [](const KvInUse& u) { return u.p99_bytes; });
  blocks("expected_blocks", [](const KvInUse& u) { return u.expected_blocks; });
  blocks("p99_blocks", [](const KvInUse& u) { return u.p99_blocks; });
  blocks("pool_blocks", [](const KvInUse& u) { return u.pool_blocks; });
  bytes("reserve_tokens", false, [](const KvInUse& u) { return u.reserve_tokens; });
  bytes("contiguous_bytes", true, [](const KvInUse& u) { return u.contiguous_bytes; });
  field("paged_max_requests", true, [](const KvInUse& u) { return u.paged_max_requests; });
  bytes("contiguous_max_requests", false, [](const KvInUse& u) { return u.contiguous_max_requests; });
  field("paging_gain", true, [](const KvInUse& u) {
    return !u.in_blocks && u.contiguous_max_requests > 0
               ? FieldValue(static_cast<double>(u.paged_max_requests) / static_cast<double>(u.contiguous_max_requests))
               : FieldValue(nullptr);
  });
  field("p99_method", true, [](const KvInUse& u) { return name(u.method); });
  field("samples", true, [](const KvInUse& u) { return u.samples > 0 ? FieldValue(u.samples) : FieldValue(nullptr); });
  field("paged_max_method", true, [](const KvInUse& u) { return name(u.max_method); });
  return t;
}

}  // namespace

const std::vector<SpeculativeField>& speculative_fields() {
  static const std::vector<SpeculativeField> table = build_speculative();
  return table;
}

const std::vector<InUseField>& in_use_fields() {
  static const std::vector<InUseField> table = build_in_use();
  return table;
}

const std::vector<EstimateField>& estimate_fields() {
  static const std::vector<EstimateField> table = build();
  return table;
}

}  // namespace kvplan
