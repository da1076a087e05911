#include "io/engine_yaml.h"

#include <algorithm>
#include <cstdio>
#include <optional>
#include <string_view>

#include "core/speculative.h"
#include "io/yaml_fields.h"

namespace kvplan {

namespace {

// One of `names` (an enum's spellings), else an error at the value with "did you mean".
template <typename E>
E choice(YamlFields& f, const std::string& key, const std::vector<std::pair<std::string, E>>& names) {
  const std::string v = f.string(key);
  std::vector<std::string> all;
  for (const auto& [n, e] : names) {
    if (n == v) return e;
    all.push_back(n);
  }
  std::string list;
  for (const auto& n : all) list += (list.empty() ? "" : ", ") + n;
  throw Error("'" + key + "' must be one of " + list + ", got '" + v + "'" + did_you_mean(v, all), f.pos(key));
}

// A real number within [lo, hi]: the profile's constants become byte counts and fractions, so
// absurd values are refused where they stand (never converted past int64).
// (No fallback: the key is required.)
double within(YamlFields& f, const std::string& key, std::optional<double> fallback, double lo, double hi) {
  const double v = fallback && !f.has(key) ? *fallback : f.number(key);
  if (!(v >= lo && v <= hi)) {
    char range[64];
    std::snprintf(range, sizeof range, "%g and %g", lo, hi);
    throw Error("'" + key + "' must be between " + range, f.pos(key));
  }
  return v;
}

// A dtype name at `key`, an unknown name reported where it stands.
DType dtype_at(YamlFields& f, const std::string& key) {
  try {
    return parse_dtype(f.string(key));
  } catch (const Error& e) {
    throw Error(e.what(), f.pos(key));
  }
}

int64_t at_least(YamlFields& f, const std::string& key, int64_t fallback, int64_t min) {
  const int64_t v = f.integer(key, fallback);
  if (v < min) throw Error("'" + key + "' must be at least " + std::to_string(min), f.pos(key));
  return v;
}

// The keys that identify a profile.
void read_identity(YamlFields& f, EngineProfile& p) {
  p.kind = choice<EngineKind>(f, "engine", {{"vllm", EngineKind::vllm}, {"sglang", EngineKind::sglang}});
  p.version = f.string("version");
  p.releases = f.strings("releases");
  p.is_default = f.boolean("default", false);
}

// The text up to the first top-level line that is not a comment, a blank or one of the identity
// keys; "" unless all four keys were seen there, each on one line.
std::string identity_lines(const std::string& text) {
  static const char* const keys[] = {"engine:", "version:", "releases:", "default:"};
  size_t at = 0, seen = 0;
  while (at < text.size()) {
    const size_t end = std::min(text.find('\n', at), text.size());
    const std::string_view line(text.data() + at, end - at);
    if (!line.empty() && line[0] != '#' && line.find_first_not_of(' ') != std::string_view::npos) {
      bool identity = false;
      for (const char* k : keys) identity = identity || line.rfind(k, 0) == 0;
      if (!identity) break;
      ++seen;
    }
    at = end + 1;
  }
  return seen == 4 ? text.substr(0, std::min(at, text.size())) : std::string();
}

}  // namespace

EngineProfile parse_engine_header(const std::string& text, const std::string& source) {
  const std::string head = identity_lines(text);
  const YAML::Node root = parse_yaml(head.empty() ? text : head, source);
  YamlFields f(root, source, "engine profile");
  EngineProfile p;
  read_identity(f, p);
  return p;
}

EngineProfile parse_engine_yaml(const std::string& text, const std::string& source) {
  const YAML::Node root = parse_yaml(text, source);
  YamlFields f(root, source, "engine profile");
  EngineProfile p;
  read_identity(f, p);
  p.source = f.string("source");
  p.allocator = choice<Allocator>(
      f, "allocator", {{"vllm_v0", Allocator::vllm_v0}, {"vllm_v1", Allocator::vllm_v1}, {"sglang", Allocator::sglang}});
  p.budget = choice<Budget>(f, "budget", {{"requested_minus_peak", Budget::requested_minus_peak},
                                          {"free_minus_reserved", Budget::free_minus_reserved}});
  p.sliding_bound = f.has("sliding_bound")
                        ? choice<SlidingBound>(f, "sliding_bound", {{"window_plus_batch", SlidingBound::window_plus_batch},
                                                                    {"full", SlidingBound::full}})
                        : SlidingBound::full;
  p.hybrid_groups = f.boolean("hybrid_groups", false);
  p.state_page_unification = f.boolean("state_page_unification", false);
  p.page_size_unification = f.boolean("page_size_unification", false);
  p.block_alignment = at_least(f, "block_alignment", 16, 1);
  p.block_alignment_mla = f.has("block_alignment_mla") ? at_least(f, "block_alignment_mla", 0, 1) : 0;
  if (f.has("kda_state_dtype")) p.kda_state_dtype = dtype_at(f, "kda_state_dtype");
  p.group_size_ratio = within(f, "group_size_ratio", 1.5, 1, 1e6);
  p.tokens_from_concurrency = f.boolean("tokens_from_concurrency", false);
  p.deducts_cuda_graphs = f.boolean("deducts_cuda_graphs", false);
  p.cuda_graph_bytes = at_least(f, "cuda_graph_bytes", 0, 0);
  p.cuda_graph_bytes_per_layer = at_least(f, "cuda_graph_bytes_per_layer", 0, 0);
  p.cuda_graph_bytes_moe = at_least(f, "cuda_graph_bytes_moe", 0, 0);
  p.eager_launch_s = within(f, "eager_launch_s", 0, 0, 1e-3);
  p.non_torch_bytes = at_least(f, "non_torch_bytes", 0, 0);
  p.non_torch_bytes_tensor_parallel = at_least(f, "non_torch_bytes_tensor_parallel", p.non_torch_bytes, 0);
  p.non_torch_bytes_pipeline = at_least(f, "non_torch_bytes_pipeline", p.non_torch_bytes, 0);
  p.multimodal_reserve_bytes = at_least(f, "multimodal_reserve_bytes", 0, 0);
  p.text_only_families = f.strings("text_only_families");
  p.text_only_skips_towers = f.strings("text_only_skips_towers");
  p.multimodal_fraction_scale = within(f, "multimodal_fraction_scale", 1.0, 0.5, 1.0);
  if (f.has("speculative")) {
    if (p.kind != EngineKind::sglang) throw Error("'speculative' is SGLang's drafter rules: engine sglang only", f.pos("speculative"));
    YamlFields r(f.node("speculative"), source, "speculative");
    EngineProfile::Speculative x;
    x.eagle_reserve_mib = within(r, "eagle_reserve_mib", 0, 0, 1 << 20);
    x.standalone_reserve_mib = within(r, "standalone_reserve_mib", 0, 0, 1 << 20);
    x.max_running_requests = at_least(r, "max_running_requests", 0, 0);
    x.token_headroom = r.boolean("token_headroom", false);
    x.draft_pool_shared = r.boolean("draft_pool_shared", false);
    if (r.has("auto")) {
      const YAML::Node rules = r.node("auto");
      if (!rules.IsSequence()) throw Error("'auto' must be a list of {families, methods, steps, topk, draft_tokens}", pos_of(rules, source));
      for (const auto& rule : rules) {
        YamlFields a(rule, source, "auto rule");
        EngineProfile::Speculative::Auto z;
        z.families = a.strings("families");
        z.methods = a.strings("methods");
        for (const std::string& method : z.methods) try {
            draft_kind(method);  // throws for an unknown method, with "did you mean"
          } catch (const Error& e) {
            throw Error(std::string("speculative 'auto' methods: ") + e.what(), a.pos("methods"));
          }
        z.steps = at_least(a, "steps", 1, 1);
        z.topk = at_least(a, "topk", 1, 1);
        z.draft_tokens = at_least(a, "draft_tokens", z.steps + 1, 1);
        a.finish();
        x.auto_params.push_back(z);
      }
    }
    r.finish();
    p.speculative = x;
  }
  if (f.has("runner_v2")) {
    YamlFields r(f.node("runner_v2"), source, "runner_v2");
    p.runner_v2_families = r.strings("families");
    p.runner_v2_dense = r.boolean("dense", false);
    p.runner_v2_all = r.boolean("all", false);
    if (p.runner_v2_all && (r.has("families") || r.has("dense")))
      throw Error("runner_v2 'all' runs every model: it takes no 'families' or 'dense'", r.pos("all"));
    p.runner_v2_v1_speculative = r.strings("v1_speculative");
    if (r.has("v1_speculative")) {
      if (!p.runner_v2_all) throw Error("runner_v2 'v1_speculative' needs 'all: true'", r.pos("v1_speculative"));
      for (const std::string& method : p.runner_v2_v1_speculative) try {
          draft_kind(method);  // throws for an unknown method, with "did you mean"
        } catch (const Error& e) {
          throw Error(std::string("runner_v2 'v1_speculative': ") + e.what(), r.pos("v1_speculative"));
        }
    }
    p.runner_v2_deducts_cuda_graphs = r.boolean("deducts_cuda_graphs", false);
    if (r.has("sampler_logits_copies")) p.runner_v2_sampler_logits_copies = within(r, "sampler_logits_copies", 0, 0, 1e6);
    r.finish();
  }
  p.async_in_flight_batches = f.boolean("async_in_flight_batches", false);
  p.hybrid_prefix_caching = f.boolean("hybrid_prefix_caching", false);
  p.start_check_padded = f.boolean("start_check_padded", false);
  p.start_check_null_block = f.boolean("start_check_null_block", false);
  p.start_check_whole_model = f.boolean("start_check_whole_model", false);
  p.chunked_local_groups = f.boolean("chunked_local_groups", true);
  p.prefix_caching = f.boolean("prefix_caching", false);
  p.mla_value_padding = f.boolean("mla_decompressed_value_padding", false);
  p.mamba_cache_align = f.boolean("mamba_cache_align", false);
  p.rope_tables = f.boolean("rope_tables", false);
  p.rope_unscaled_families = f.strings("rope_unscaled_families");
  p.mla_absorbed_copy = f.boolean("mla_absorbed_copy", false);
  p.topk_indices_buffer = f.boolean("topk_indices_buffer", false);
  if (f.has("hybrid_swa_pool")) {
    YamlFields h(f.node("hybrid_swa_pool"), source, "hybrid_swa_pool");
    p.swa_full_tokens_ratio = within(h, "swa_full_tokens_ratio", std::nullopt, 1e-6, 1);
    p.swa_pool_families = h.strings("families");
    h.finish();
  }
  if (f.has("mxfp4_marlin_padding")) {
    YamlFields m(f.node("mxfp4_marlin_padding"), source, "mxfp4_marlin_padding");
    for (auto [key, out] : {std::pair{"intermediate", &p.mxfp4_marlin_intermediate}, std::pair{"hidden", &p.mxfp4_marlin_hidden}}) {
      *out = m.integer(key);
      if (*out < 1) throw Error(std::string("'") + key + "' must be at least 1", m.pos(key));
    }
    m.finish();
  }
  if (f.has("state_pool")) {
    YamlFields s(f.node("state_pool"), source, "state_pool");
    p.state_pool_ratio = within(s, "memory_ratio", std::nullopt, 1e-6, 1e6);
    p.state_pool_conv_dtype = dtype_at(s, "conv_dtype");
    p.state_pool_ssm_dtype = dtype_at(s, "ssm_dtype");
    p.state_pool_slots_per_request = at_least(s, "slots_per_request", 1, 1);
    if (s.has("extra_buffer")) {
      YamlFields x(s.node("extra_buffer"), source, "extra_buffer");
      p.state_pool_extra_buffer_families = x.strings("families");
      p.state_pool_extra_buffer_slots = x.integer("slots_per_request");
      if (p.state_pool_extra_buffer_slots < 1)
        throw Error("'slots_per_request' must be at least 1, got " + x.string("slots_per_request"), x.pos("slots_per_request"));
      x.finish();
    }
    p.state_pool_padding_slot = s.boolean("padding_slot", false);
    s.finish();
  }
  if (f.has("activation")) {
    YamlFields a(f.node("activation"), source, "activation");
    p.forward_copies = within(a, "forward_copies", 0, 0, 1e6);
    p.sampler_logits_copies = within(a, "sampler_logits_copies", 0, 0, 1e6);
    p.sampler_logits_copies_flashinfer = within(a, "sampler_logits_copies_flashinfer", 0, 0, 1e6);
    p.sampler_logits_copies_native = within(a, "sampler_logits_copies_native", 0, 0, 1e6);
    const std::string combine = a.string("combine", "max");
    if (combine != "max" && combine != "sum")
      throw Error("'combine' must be max or sum, got '" + combine + "'", a.pos("combine"));
    p.activation_terms_add = combine == "sum";
    const std::string moe = a.string("moe_workspace", "per_call");
    if (moe != "per_call" && moe != "persistent")
      throw Error("'moe_workspace' must be per_call or persistent, got '" + moe + "'", a.pos("moe_workspace"));
    p.moe_workspace_persists = moe == "persistent";
    p.moe_chunk_tokens = at_least(a, "moe_chunk_tokens", 16384, 1);
    if (a.has("encoder")) {
      YamlFields e(a.node("encoder"), source, "encoder");
      EngineProfile::EncoderProfile enc;
      enc.families = e.strings("families");
      enc.video_families = e.strings("video_families");
      enc.max_video_frame_pairs = at_least(e, "max_video_frame_pairs", 1, 1);
      enc.runner_v2 = e.boolean("runner_v2", true);
      e.finish();
      p.encoder_profile = enc;
    }
    a.finish();
  }
  YamlFields d(f.node("defaults"), source, "defaults");
  p.block_size = at_least(d, "block_size", 16, 1);
  p.mla_block_size = at_least(d, "mla_block_size", 0, 0);
  p.mla_sparse_block_size = at_least(d, "mla_sparse_block_size", 0, 0);
  if (d.has("max_num_batched_tokens") && d.string("max_num_batched_tokens") == "from_max_model_len") {
    p.batched_tokens_from_model_len = true;
  } else {
    p.max_num_batched_tokens = at_least(d, "max_num_batched_tokens", 8192, 1);
  }
  p.max_num_seqs = at_least(d, "max_num_seqs", 256, 1);
  p.gpu_memory_utilization = d.number("gpu_memory_utilization", 0.9);
  if (!(p.gpu_memory_utilization > 0 && p.gpu_memory_utilization <= 1))
    throw Error("'gpu_memory_utilization' must be a fraction in (0, 1]", d.pos("gpu_memory_utilization"));
  std::optional<SourcePos> row_fraction_at;  // the first row with a fraction rule of its own
  if (d.has("by_gpu_memory")) {
    const YAML::Node rows = d.node("by_gpu_memory");
    if (!rows.IsSequence()) throw Error("'by_gpu_memory' must be a list of rows", pos_of(rows, source));
    for (const auto& row : rows) {
      YamlFields r(row, source, "by_gpu_memory row");
      EngineProfile::MemoryRow m;
      m.below_mib = r.integer("below_mib", 0);
      m.chunked_prefill_size = at_least(r, "chunked_prefill_size", 1, 1);
      m.cuda_graph_max_bs = at_least(r, "cuda_graph_max_bs", 1, 1);
      m.cuda_graph_max_bs_tp4 = at_least(r, "cuda_graph_max_bs_tp4", m.cuda_graph_max_bs, 1);
      if (r.has("reserve_mib")) {
        m.reserve_mib = r.number("reserve_mib");
        m.reserve_per_gpu_mib = r.number("reserve_per_gpu_mib", 0);
        if (!(*m.reserve_mib >= 0 && *m.reserve_mib < 1e7) || !(m.reserve_per_gpu_mib >= 0 && m.reserve_per_gpu_mib < 1e6))
          throw Error("a by_gpu_memory row's reserve_mib and reserve_per_gpu_mib must be MiB >= 0", r.pos("reserve_mib"));
      }
      for (const char* key : {"fraction", "grow_mib", "min_reserve_mib", "drafter_scale"}) {
        if (!r.has(key)) continue;
        if (m.reserve_mib)
          throw Error(std::string("a by_gpu_memory row takes reserve_mib (a rounded fraction) or '") + key +
                          "' (SGLang 0.4.6-0.4.7's rule), not both",
                      r.pos(key));
        if (!row_fraction_at) row_fraction_at = r.pos(key);
      }
      if (r.has("fraction")) {
        m.fraction = r.number("fraction");
        if (!(*m.fraction > 0 && *m.fraction <= 1)) throw Error("'fraction' must be a fraction in (0, 1]", r.pos("fraction"));
      }
      m.grow_mib = within(r, "grow_mib", 0, 0, 1 << 20);
      if (r.has("min_reserve_mib")) m.min_reserve_mib = within(r, "min_reserve_mib", std::nullopt, 0, 1 << 20);
      m.drafter_scale = within(r, "drafter_scale", 1.0, 0.5, 1.0);
      r.finish();
      p.by_gpu_memory.push_back(m);
    }
  }
  if (d.has("mem_fraction_static")) {
    YamlFields m(d.node("mem_fraction_static"), source, "mem_fraction_static");
    if (m.has("by_gpus")) {
      for (const auto& kv : m.node("by_gpus")) {
        const double fraction = to_number(kv.second, source, "by_gpus");
        if (!(fraction > 0 && fraction <= 1))
          throw Error("'by_gpus' fractions must be in (0, 1]", pos_of(kv.second, source));
        p.fraction_by_gpus.emplace_back(to_integer(kv.first, source, "by_gpus"), fraction);
      }
    }
    if (m.has("reserve")) {
      YamlFields r(m.node("reserve"), source, "reserve");
      EngineProfile::Reserve x;
      x.base_mib = within(r, "base_mib", std::nullopt, 0, 1 << 30);
      x.per_prefill_token_mib = within(r, "per_prefill_token_mib", std::nullopt, 0, 1 << 20);
      x.min_prefill_tokens = r.integer("min_prefill_tokens");
      x.per_graph_bs_mib = within(r, "per_graph_bs_mib", std::nullopt, 0, 1 << 20);
      x.per_gpu_mib = within(r, "per_gpu_mib", std::nullopt, 0, 1 << 20);
      x.floor_mib = r.integer("floor_mib", 0);
      x.floor_above_mib = r.integer("floor_above_mib", 0);
      if (r.has("piecewise_graphs")) {
        YamlFields g(r.node("piecewise_graphs"), source, "piecewise_graphs");
        x.piecewise = true;
        x.piecewise_mib_per_size = within(g, "mib_per_size", std::nullopt, 0, 1 << 20);
        x.piecewise_mla_mib = within(g, "mla_mib", 0, 0, 1 << 30);
        x.piecewise_off_families = g.strings("off_families");
        x.piecewise_pipeline = g.boolean("pipeline", false);
        const YAML::Node runs = g.node("sizes");
        if (!runs.IsSequence()) throw Error("'sizes' must be a list of {from, to, step} runs", pos_of(runs, source));
        int64_t last = 0;
        for (const auto& run : runs) {
          YamlFields s(run, source, "sizes run");
          EngineProfile::Reserve::SizeRun z;
          z.from = s.integer("from");
          z.to = s.integer("to");
          z.step = s.integer("step");
          if (z.from < 1 || z.to < z.from || z.step < 1)
            throw Error("a 'sizes' run needs 1 <= from <= to and step >= 1", s.pos());
          if (z.from <= last) throw Error("'sizes' runs must ascend and not overlap", s.pos());
          last = z.to;
          s.finish();
          x.piecewise_sizes.push_back(z);
        }
        g.finish();
      }
      r.finish();
      if (row_fraction_at)
        throw Error("a by_gpu_memory row's fraction rule (fraction, grow_mib, min_reserve_mib, drafter_scale) and "
                    "mem_fraction_static's reserve both set the default fraction: keep one",
                    *row_fraction_at);
      p.reserve = x;
    }
    if (m.has("multimodal")) {
      YamlFields g(m.node("multimodal"), source, "multimodal");
      EngineProfile::MultimodalFraction x;
      x.factor = within(g, "factor", std::nullopt, 0, 1);
      x.slope = within(g, "slope", std::nullopt, 0, 1);
      x.min = within(g, "min", std::nullopt, 0, 2);
      x.max = within(g, "max", std::nullopt, x.min, 2);
      for (auto [key, field] : {std::pair{"baseline_layers", &x.baseline_layers}, std::pair{"baseline_hidden", &x.baseline_hidden}}) {
        *field = g.integer(key);
        if (*field < 1) throw Error(std::string("'") + key + "' must be at least 1", g.pos(key));
      }
      g.finish();
      p.multimodal_fraction = x;
    }
    m.finish();
  }
  if (d.has("big_gpu")) {  // one tier, or a list of tiers by ascending memory
    const YAML::Node node = d.node("big_gpu");
    std::vector<YAML::Node> tiers;
    if (node.IsSequence()) {
      for (const auto& t : node) tiers.push_back(t);
    } else {
      tiers.push_back(node);
    }
    for (const YAML::Node& t : tiers) {
      YamlFields b(t, source, "big_gpu");
      EngineProfile::GpuTier tier;
      tier.min_bytes = static_cast<int64_t>(within(b, "min_memory_gib", std::nullopt, 0, 1 << 20) * 1073741824.0);  // <= 1 PiB
      if (!p.big_gpu.empty() && tier.min_bytes <= p.big_gpu.back().min_bytes)
        throw Error("'big_gpu' tiers must be listed by ascending min_memory_gib", b.pos("min_memory_gib"));
      tier.except = b.strings("except");
      tier.max_num_batched_tokens = at_least(b, "max_num_batched_tokens", p.max_num_batched_tokens, 1);
      tier.max_num_seqs = at_least(b, "max_num_seqs", p.max_num_seqs, 1);
      b.finish();
      p.big_gpu.push_back(tier);
    }
  }
  d.finish();

  for (const std::string& s : f.strings("block_sizes")) {
    YAML::Node n(s);
    p.block_sizes.push_back(to_integer(n, source, "block_sizes"));
  }
  const YAML::Node dtypes = f.node("kv_cache_dtypes");
  if (!dtypes.IsMap()) throw Error("'kv_cache_dtypes' must map the engine's names to kvplan dtypes or auto", pos_of(dtypes, source));
  for (const auto& kv : dtypes) {
    const std::string value = kv.second.Scalar();
    std::optional<DType> dtype;
    if (value != "auto") {
      try {
        dtype = parse_dtype(value);
      } catch (const Error& e) {
        throw Error(e.what(), pos_of(kv.second, source));
      }
    }
    p.kv_cache_dtypes.emplace_back(kv.first.Scalar(), dtype);
  }
  // Lists of --kv-cache-dtype names: each must be one of kv_cache_dtypes.
  auto dtype_names = [&](const char* key) {
    std::vector<std::string> names;
    if (!f.has(key)) return names;
    names = f.strings(key);
    for (const std::string& n : names) {
      bool known = false;
      for (const auto& [name, dtype] : p.kv_cache_dtypes) known = known || name == n;
      if (!known)
        throw Error("'" + std::string(key) + "' names '" + n + "', which is not in 'kv_cache_dtypes'",
                    pos_of(f.node(key), source));
    }
    return names;
  };
  p.mla_fp8_ds_kv_cache_dtypes = dtype_names("mla_fp8_ds_kv_cache_dtypes");
  p.mla_sparse_fp8_ds_kv_cache_dtypes = dtype_names("mla_sparse_fp8_ds_kv_cache_dtypes");
  p.arguments = f.strings("arguments");
  f.finish();
  return p;
}

}  // namespace kvplan
