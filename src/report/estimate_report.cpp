#include "report/estimate_report.h"

#include <fmt/format.h>

#include <functional>

#include "report/engine_report.h"
#include "report/estimate_fields.h"
#include "report/format.h"

namespace kvplan {

namespace {

const char* conv_width_name(ConvStateWidth w) { return w == ConvStateWidth::kernel ? "kernel" : "kernel-1"; }
const char* sliding_name(SlidingCache s) { return s == SlidingCache::full ? "full" : "window"; }
const char* mla_name(MlaCache m) {
  switch (m) {
    case MlaCache::latent: return "latent";
    case MlaCache::decompressed: return "decompressed";
    case MlaCache::fp8_ds: return "fp8_ds";
  }
  return "?";
}

// "tp 8", or the whole layout when it goes beyond one tensor-parallel group.
std::string layout_text(const MemoryOptions& o) {
  const Parallel& p = o.parallel;
  const int64_t pp = o.engine.pipeline_parallel_size;
  if (pp == 1 && p.dp == 1 && !p.expert_parallel() && p.node.empty()) return fmt::format("tp {}", o.cache.tp);
  std::string out = fmt::format("tp {} x pp {} x dp {} = {} GPUs", o.cache.tp, pp, p.dp, layout_gpus(o.cache.tp, pp, p));
  if (p.expert_parallel())
    out += fmt::format(", ep {}{}", p.ep, p.redundant_experts > 0 ? fmt::format(" (+{} redundant experts)", p.redundant_experts) : "");
  if (pp > 1) out += fmt::format(", {} micro-batches", p.micro_batches > 0 ? p.micro_batches : pp);
  if (!p.node.empty()) out += fmt::format(", {} ({} GPUs per node)", p.node, p.gpus_per_node);
  return out;
}

// As --cache-policy takes it.
std::string describe(const CachePolicy& p) {
  switch (p.kind) {
    case CachePolicyKind::full: return "full";
    case CachePolicyKind::sinks_window: return fmt::format("sinks:{}+window:{}", p.sinks, p.window);
    case CachePolicyKind::budget: return fmt::format("budget:{}", p.budget);
  }
  return "?";
}

// The table's fields of one section ("memory"), as nested objects in the table's order.
Json section(const Estimate& e, const std::string& name) {
  Json out = Json::object();
  const std::string prefix = name + ".";
  for (const EstimateField& f : estimate_fields()) {
    if (f.key.compare(0, prefix.size(), prefix) != 0) continue;
    Json* at = &out;
    size_t from = prefix.size();
    for (size_t dot = f.key.find('.', from); dot != std::string::npos; from = dot + 1, dot = f.key.find('.', from))
      at = &(*at)[f.key.substr(from, dot - from)];
    (*at)[f.key.substr(from)] = field_json(f.get(e));
  }
  return out;
}

}  // namespace

Json field_json(const FieldValue& v) {
  return std::visit([](auto x) { return Json(x); }, v);
}

Json to_json(const Estimate& e) {
  const MemoryOptions& o = e.options;
  Json j;
  j["schema_version"] = kSchemaVersion;
  j["model"] = {{"id", e.model.id},
                {"name", e.model.name},
                {"family", e.model.family},
                {"params", e.params.total},
                {"active_params", e.params.active},
                {"dtype", name(e.model.dtype)},
                {"num_layers", static_cast<int64_t>(e.model.layers.size())},
                {"max_context", e.model.max_context}};
  j["gpu"] = {{"id", e.gpu.id},
              {"name", e.gpu.name},
              {"memory_bytes", e.gpu.memory_bytes},
              {"memory_bandwidth_bytes_per_s", e.gpu.memory_bandwidth_bytes_per_s},
              {"peak_bf16_flops", e.gpu.peak_flops_for(DType::bf16)}};
  j["workload"] = section(e, "workload");
  j["options"] = {{"activation_dtype", name(activation_dtype(e.model, o))},
                  {"weight_dtype", name(o.weights.linear)},
                  {"expert_weight_dtype", name(o.weights.expert)},
                  {"kv_dtype", name(o.cache.kv_dtype)},
                  {"state_dtype", name(o.cache.state_dtype)},
                  {"conv_state_dtype", name(o.cache.conv())},
                  {"weight_dtype_rule", name(o.dtype_rules.weights)},
                  {"kv_dtype_rule", name(o.dtype_rules.kv)},
                  {"state_dtype_rule", name(o.dtype_rules.state)},
                  {"weight_quantization", describe_weight_quant(o.weights.linear)},
                  {"kv_quantization", describe_kv_quant(o.cache.kv_dtype)},
                  {"conv_state_width", conv_width_name(o.cache.conv_width)},
                  {"sliding_window_cache", sliding_name(o.cache.sliding)},
                  {"mla_cache", mla_name(o.cache.mla)},
                  {"cache_policy", describe(o.cache.policy)},
                  {"gpu_memory_utilization", o.gpu_memory_utilization},
                  {"max_num_batched_tokens", o.prefill_chunk}};
  const Parallel& p = o.parallel;
  j["layout"] = {{"tp", o.cache.tp},
                 {"pp", o.engine.pipeline_parallel_size},
                 {"dp", p.dp},
                 {"ep", p.ep},
                 {"redundant_experts", p.redundant_experts},
                 {"micro_batches", p.micro_batches > 0 ? p.micro_batches : o.engine.pipeline_parallel_size},
                 {"gpus", layout_gpus(o.cache.tp, o.engine.pipeline_parallel_size, p)},
                 {"node", p.node.empty() ? Json(nullptr) : Json(p.node)},
                 {"gpus_per_node", p.gpus_per_node > 0 ? Json(p.gpus_per_node) : Json(nullptr)}};
  j["engine"] = engine_to_json(e.engine);
  for (const char* s : {"memory", "layers", "prefill", "decode", "cost"}) j[s] = section(e, s);
  return j;
}

std::string json_text(const Json& j) { return j.dump(2, ' ', false, Json::error_handler_t::replace) + "\n"; }

std::string render_table(const Estimate& e) {
  const MemoryPlan& m = e.memory;
  const MemoryOptions& o = e.options;
  std::string layer_kinds;
  for (const auto& s : e.layers)
    layer_kinds += fmt::format("{}{} {}", layer_kinds.empty() ? "" : ", ", s.count, name(s.kind));
  std::string out;
  out += fmt::format("{} on {}\n", e.model.name, e.gpu.name);
  out += fmt::format("  model      {} params ({} active), {}, {} layers: {}\n", human_count(e.params.total),
                     human_count(e.params.active), name(e.model.dtype), e.model.layers.size(), layer_kinds);
  out += fmt::format("  workload   batch {} x context {} tokens, {}\n", group_digits(e.workload.batch),
                     group_digits(e.workload.context), layout_text(o));
  out += fmt::format("  dtypes     {}weights {}{} ({}), KV {} ({}), state {} ({}){}\n",
                     o.model_dtype ? fmt::format("activations {} (--dtype), ", name(*o.model_dtype)) : "",
                     name(o.weights.linear),
                     o.weights.expert != o.weights.linear ? fmt::format(", experts {}", name(o.weights.expert)) : "",
                     name(o.dtype_rules.weights), name(o.cache.kv_dtype), name(o.dtype_rules.kv),
                     name(o.cache.state_dtype), name(o.dtype_rules.state),
                     o.cache.conv() != o.cache.state_dtype ? fmt::format(", conv windows {}", name(o.cache.conv())) : "");
  out += "\n";
  const std::string per_gpu = o.cache.tp > 1 ? " (per GPU)" : "";
  out += fmt::format("  {:<28}{:>22}{:>14}\n", "memory" + per_gpu, "bytes", "GiB");
  auto row = [&](const std::string& label, int64_t bytes, const std::string& note = "") {
    out += fmt::format("  {:<28}{:>22}{:>14}{}\n", label, group_digits(bytes),
                       fmt::format("{:.2f}", static_cast<double>(bytes) / (1024.0 * 1024 * 1024)),
                       note.empty() ? "" : "  " + note);
  };
  row("weights", m.weights_bytes,
      m.draft_weights_bytes > 0 ? fmt::format("drafter {}", gib(m.draft_weights_bytes)) : "");
  const OffloadUse& off = m.offload;
  if (off.offloaded_bytes > 0)
    row("KV cache in HBM", m.kv_cache_bytes - off.offloaded_bytes + off.staging_bytes,
        fmt::format("of {} KV, {} in the {} tier; staging {}", gib(m.kv_cache_bytes), gib(off.offloaded_bytes),
                    name(o.offload.tier), gib(off.staging_bytes)));
  else
    row("KV cache", m.kv_cache_bytes,
        fmt::format("{} B/token{}, {} B/sequence", group_digits(m.kv_bytes_per_token),
                    m.draft_kv_bytes_per_token > 0
                        ? fmt::format(" (drafter {})", group_digits(m.draft_kv_bytes_per_token))
                        : "",
                    group_digits(m.kv_bytes_per_sequence)));
  row("SSM state", m.state_bytes, fmt::format("{} B/sequence", group_digits(m.state_bytes_per_sequence)));
  row("activations", m.activation_bytes);
  row("total", m.total_bytes);
  row(fmt::format("usable ({} of capacity)", percent(o.gpu_memory_utilization)), m.usable_bytes,
      fmt::format("capacity {}", gib(m.capacity_bytes)));
  row("headroom", m.headroom_bytes);
  out += "\n";
  if (e.engine) out += render_engine(*e.engine) + "\n";
  const KvSharing& s = o.sharing;
  if (!e.engine && (s.allocation != Allocation::exact || s.shared_prefix > 0 || s.branches > 1 || s.trunk > 0)) {
    out += fmt::format("  sharing    {} sequences ({} request{} x {} branch{}), {}: shared {} once, owned {}\n",
                       group_digits(m.kv.sequences), group_digits(e.workload.batch), e.workload.batch == 1 ? "" : "s",
                       s.branches, s.branches == 1 ? "" : "es",
                       s.allocation == Allocation::paged ? fmt::format("paged in blocks of {}", s.block_tokens)
                                                         : std::string(name(s.allocation)),
                       gib(m.kv.shared_bytes), gib(m.kv.owned_bytes));
    out += fmt::format("             every sequence alone: {} (sharing saves {}); allocated but empty: {}\n",
                       gib(m.kv.unshared_bytes), gib(m.kv.unshared_bytes - m.kv.total_bytes),
                       gib(m.kv.fragmentation_bytes));
  }
  if (e.engine && m.engine_blocks && (s.shared_prefix > 0 || s.branches > 1 || s.trunk > 0)) {
    const EngineBlocks& b = *m.engine_blocks;
    const EnginePlan& p = *e.engine;
    out += fmt::format("  sharing    {} sequences ({} request{} x {} branch{}) in {}-token blocks, {}: shared {} once, "
                       "owned {}\n",
                       group_digits(b.sequences), group_digits(e.workload.batch), e.workload.batch == 1 ? "" : "s",
                       s.branches, s.branches == 1 ? "" : "es", p.block_size,
                       p.prefix_caching ? "prefix cache on" : "no prefix cache", group_digits(b.shared),
                       group_digits(b.owned));
    out += fmt::format("             every sequence alone: {} blocks (sharing saves {}); the pool holds {}\n",
                       group_digits(b.unshared), group_digits(b.unshared - b.total()), group_digits(p.num_gpu_blocks));
  }
  if (o.offload.enabled()) {
    const Offload& t = o.offload;
    out += fmt::format("  offload    {} tier, {} mode ({}): {} per GPU, link {:.1f} GB/s\n", name(t.tier), name(t.mode),
                       name(t.overlap), gib(t.capacity_bytes), t.link_bytes_per_s / 1e9);
    if (t.mode == OffloadMode::reload)
      out += fmt::format("             holds {} of cached prefixes ({} tokens); hits load from it\n", gib(t.bytes),
                         group_digits(m.kv_bytes_per_token > 0 ? t.bytes / m.kv_bytes_per_token : 0));
  }
  if (e.in_use) out += render_in_use(*e.in_use, *o.lengths);
  out += fmt::format("  fits       {}\n", m.fits ? "yes" : "NO");
  out += fmt::format("  max batch at context {}: {}\n", group_digits(e.workload.context), group_digits(m.max_batch));
  out += fmt::format("  max context at batch {}: {}\n", group_digits(e.workload.batch),
                     !m.max_context     ? std::string("unbounded (memory stops growing with context)")
                     : *m.max_context == 0 ? std::string("none (weights and activations alone exceed usable memory)")
                                           : group_digits(*m.max_context) + " tokens");
  out += "\n";
  out += fmt::format("  {:<18}{:>6}{:>18}{:>14}{:>20}{:>18}\n", "layers by kind", "count", "params", "KV B/token",
                     "KV B/sequence", "state B/seq");
  for (const auto& s : e.layers)
    out += fmt::format("  {:<18}{:>6}{:>18}{:>14}{:>20}{:>18}\n", name(s.kind), s.count, group_digits(s.params),
                       group_digits(s.kv_bytes_per_token), group_digits(s.kv_bytes_per_sequence),
                       group_digits(s.state_bytes_per_sequence));
  out += "\n";
  out += render_timing(e);
  return out;
}

std::string render_in_use(const KvInUse& u, const LengthDist& d) {
  std::string out;
  const std::string lengths = d.kind == LengthsKind::trace
                                  ? fmt::format("trace {} ({} requests)", d.prompt_source, group_digits(static_cast<int64_t>(d.trace.size())))
                                  : fmt::format("prompts {}, outputs {}", d.prompt_source, d.output_source);
  out += fmt::format("  in use     {} requests of {}, running at a random engine step\n", group_digits(u.requests),
                     lengths);
  out += fmt::format("             {:.1f} tokens held per request on average, at most {}\n", u.mean_tokens,
                     group_digits(u.max_tokens));
  const std::string method =
      std::string(name(u.method)) + (u.samples > 0 ? fmt::format(", {} samples", group_digits(u.samples)) : "");
  if (u.in_blocks) {
    out += fmt::format("             in the engine's blocks of {}: expected {}, p99 {} ({}) of the pool's {}\n",
                       u.block_tokens, group_digits(u.expected_blocks), group_digits(u.p99_blocks), method,
                       group_digits(u.pool_blocks));
    out += fmt::format("             most requests at p99: {} ({})\n", group_digits(u.paged_max_requests),
                       name(u.max_method));
    return out;
  }
  out += fmt::format("             paged in blocks of {}: expected {}, p99 {} ({}); the tokens alone {}\n",
                     u.block_tokens, gib(u.expected_bytes), gib(u.p99_bytes), method, gib(u.held_expected_bytes));
  out += fmt::format("             contiguous, {} tokens reserved per sequence: {}\n", group_digits(u.reserve_tokens),
                     gib(u.contiguous_bytes));
  out += fmt::format("             most requests at p99: paged {} ({}), contiguous {}{}\n",
                     group_digits(u.paged_max_requests), name(u.max_method), group_digits(u.contiguous_max_requests),
                     u.contiguous_max_requests > 0
                         ? fmt::format(" (paging buys {:.2f}x)", static_cast<double>(u.paged_max_requests) /
                                                                    static_cast<double>(u.contiguous_max_requests))
                         : "");
  return out;
}

std::string render_timing(const Estimate& e) {
  const PrefillResult& p = e.prefill;
  const DecodeStep& d = e.decode;
  const CostResult& c = e.cost;
  std::string out;
  out += fmt::format("  prefill    {} prompt tokens{}: {} FLOP (attention {:.1f}%), {} to first token, {}-bound\n",
                     group_digits(p.prompt), p.cached > 0 ? fmt::format(" ({} cached)", group_digits(p.cached)) : "",
                     human_flops(p.flops), 100 * p.attention_share, seconds(p.time_s), name(p.bound));
  if (p.load_bytes > 0)
    out += fmt::format("             cached KV loaded from the {} tier: {} in {} ({})\n", name(e.options.offload.tier),
                       gib(p.load_bytes), seconds(p.load_time_s), name(e.options.offload.overlap));
  out += fmt::format("  decode     batch {} at context {}: {} per step, {} (floor {}), {}-bound\n",
                     group_digits(d.batch), group_digits(d.context), gib(d.bytes), seconds(d.time_s),
                     seconds(d.time_floor_s), name(d.bound));
  if (d.offload)
    out += fmt::format("             {} of offloaded KV over the link per step: {}; step {} prefetched, {} on demand\n",
                       gib(d.offload->link_bytes), seconds(d.offload->link_time_s), seconds(d.offload->step_prefetch_s),
                       seconds(d.offload->step_on_demand_s));
  out += fmt::format("             {:.1f} tokens/s ({:.2f} per sequence); compute binds {}\n", d.tokens_per_s,
                     d.tokens_per_s_per_seq,
                     d.compute_bound_batch ? fmt::format("from batch {}", group_digits(*d.compute_bound_batch))
                                           : std::string("at no batch (memory-bound throughout)"));
  out += render_speculative(e.options.engine, e.speculative);
  if (c.usd_per_hour) {
    out += fmt::format("  cost       ${:.2f}/GPU-hour x {} GPU{}: ${:.4f} per 1M output tokens{}, ${:.4f} per 1M prompt tokens",
                       c.usd_per_gpu_hour, c.gpus, c.gpus > 1 ? "s" : "", *c.usd_per_million_output_tokens,
                       e.speculative ? " (speculative)" : "", *c.usd_per_million_prompt_tokens);
    out += c.usd_per_request ? fmt::format(", ${:.6f} per request\n", *c.usd_per_request) : "\n";
  } else {
    out += "  cost       unknown (the preset has no price; pass --usd-per-gpu-hour)\n";
  }
  out += "\n";
  out += fmt::format("  {:<18}{:>20}{:>14}{:>9}{:>12}{:>14}\n", "decode step", "bytes", "GFLOP", "kernels", "floor ms",
                     "expected ms");
  for (const auto& x : d.components)
    out += fmt::format("  {:<18}{:>20}{:>14.1f}{:>9}{:>12.4f}{:>14.4f}\n", x.name, group_digits(x.bytes), x.flops / 1e9,
                       x.kernels, x.time_floor_s * 1e3, x.time_s * 1e3);
  return out;
}

std::string render_speculative(const EngineSettings& engine, const std::optional<SpeculativeDecode>& spec) {
  if (engine.speculative_method.empty()) return "";
  if (!spec)
    return fmt::format("  speculative {}, k = {}: no --acceptance-rate or --acceptance-length, so decode is timed "
                       "without speculation\n",
                       engine.speculative_method, engine.num_speculative_tokens);
  const SpeculativeDecode& s = *spec;
  std::string out = fmt::format(
      "  speculative {}, k = {}, acceptance {:.2f}: {:.2f} tokens per step; draft {} + verify {} = {}\n",
      s.method, s.num_speculative_tokens, s.acceptance_rate, s.acceptance_length,
      s.draft ? fmt::format("{} x {}", s.num_speculative_tokens, seconds(s.draft->time_s)) : std::string("none"),
      seconds(s.verify_time_s), seconds(s.step_time_s));
  out += fmt::format("             {:.1f} tokens/s, {:.2f}x plain decode; pays {}\n", s.tokens_per_s, s.speedup,
                     !s.pays_up_to_batch        ? std::string("at every batch")
                     : *s.pays_up_to_batch == 0 ? std::string("at no batch")
                                                : "up to batch " + group_digits(*s.pays_up_to_batch));
  return out;
}

std::vector<std::pair<std::string, Json>> flatten(const Json& j) {
  std::vector<std::pair<std::string, Json>> out;
  std::function<void(const std::string&, const Json&)> walk = [&](const std::string& prefix, const Json& v) {
    if (v.is_object()) {
      for (const auto& [k, child] : v.items()) walk(prefix.empty() ? k : prefix + "." + k, child);
    } else {
      out.emplace_back(prefix, v);
    }
  };
  walk("", j);
  return out;
}

std::string csv_field(const Json& v) {
  std::string s;
  if (v.is_null()) return "";
  if (v.is_string()) s = v.get<std::string>();
  else if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  else s = v.dump();
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

std::string csv_header(const Json& row) {
  std::string out;
  for (const auto& [k, v] : flatten(row)) out += (out.empty() ? "" : ",") + csv_field(k);
  return out + "\n";
}

std::string csv_row(const Json& row) {
  std::string out;
  bool first = true;
  for (const auto& [k, v] : flatten(row)) {
    out += (first ? "" : ",") + csv_field(v);
    first = false;
  }
  return out + "\n";
}

std::string render_csv(const std::vector<Json>& rows) {
  if (rows.empty()) return "";
  std::string out = csv_header(rows.front());
  for (const Json& r : rows) out += csv_row(r);
  return out;
}

}  // namespace kvplan
