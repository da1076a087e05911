#include "report/show_report.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "core/params.h"
#include "report/format.h"

namespace kvplan {

namespace {

std::string describe_mixer(const Mixer& mixer) {
  return std::visit([](const auto& m) { return kvplan::describe(m); }, mixer);
}

std::string describe_mlp(const Mlp& mlp) {
  if (auto* d = std::get_if<DenseMlp>(&mlp))
    return fmt::format("dense mlp {}{}", d->intermediate_size, d->gated ? " gated" : "");
  const auto& e = std::get<MoeMlp>(mlp);
  std::string s = fmt::format("moe {} experts top-{} x {}", e.experts, e.experts_per_token, e.expert_intermediate_size);
  if (e.shared_experts > 0) s += fmt::format(" + {} shared", e.shared_experts);
  return s + (e.gated ? " gated" : "");
}

// A decode kernel cost of the preset: one figure, or its points by `unit` (`label` prints a size).
template <class Label>
std::string render_cost_curve(const KernelCostCurve& c, const std::string& kind, const std::string& unit, Label label) {
  if (c.points.size() == 1) return fmt::format("  decode {} {:.2f} us per kernel\n", kind, c.points[0].seconds * 1e6);
  if (c.points.empty()) return "";
  std::string out = fmt::format("  decode {} per kernel by {}, log-interpolated, clamped at the edges:", kind, unit);
  for (const KernelCostPoint& p : c.points)
    out += fmt::format(" {} {:.2f} us{}", label(p.size), p.seconds * 1e6, &p == &c.points.back() ? "" : ",");
  return out + "\n";
}

}  // namespace

std::string describe(const Layer& layer) {
  std::string s = layer.mixer ? describe_mixer(*layer.mixer) : "no mixer";
  s += " | " + (layer.mlp ? describe_mlp(*layer.mlp) : std::string("no mlp"));
  if (!layer.shared_weights.empty()) s += " [shared weights " + layer.shared_weights + "]";
  if (!layer.unquantized.empty()) {
    s += " [16-bit in the checkpoint:";
    for (const std::string& t : layer.unquantized) s += " " + t;
    s += "]";
  }
  if (!layer.formats.empty()) {
    s += " [own formats in the checkpoint:";
    for (const TensorFormat& f : layer.formats) s += " " + f.tensor + " " + name(f.dtype);
    s += "]";
  }
  return s;
}

std::string render_model(const Model& m) {
  const ParamCounts p = count_params(m);
  std::string out = fmt::format("{} ({})\n", m.name, m.id);
  if (!m.source.empty()) out += fmt::format("  source      {}\n", m.source);
  out += fmt::format("  family      {}, dtype {}, vocab {}, hidden {}, {} embeddings, {}\n", m.family, name(m.dtype),
                     group_digits(m.vocab_size), group_digits(m.hidden_size), m.tie_word_embeddings ? "tied" : "untied",
                     m.norm == Norm::layernorm ? "layernorm" : "rmsnorm");
  if (m.lm_head_dtype || m.lm_head_bias)
    out += fmt::format("  lm_head     {}{}\n", name(m.lm_head_dtype.value_or(base_dtype(m, m.dtype))),
                       m.lm_head_bias ? ", with a bias" : "");
  out += fmt::format("  params      {} total, {} active per token\n", group_digits(p.total), group_digits(p.active));
  if (m.max_context > 0) out += fmt::format("  max context {}\n", group_digits(m.max_context));
  for (const Tensor& t : m.towers) out += fmt::format("  tower       {}: {} params\n", t.name, group_digits(t.params()));
  if (m.vision_config) {
    const Model::VisionConfig& v = *m.vision_config;
    std::vector<std::string> parts;
    if (v.num_hidden_layers) parts.push_back(fmt::format("{} layers", *v.num_hidden_layers));
    if (v.hidden_size) parts.push_back(fmt::format("hidden {}", group_digits(*v.hidden_size)));
    if (v.intermediate_size)
      parts.push_back(fmt::format("mlp {}{}", group_digits(*v.intermediate_size),
                                  v.gated_mlp ? (*v.gated_mlp ? " gated" : " not gated") : ""));
    if (v.max_image_tokens) parts.push_back(fmt::format("largest image {} tokens", group_digits(*v.max_image_tokens)));
    if (v.patches_per_token) parts.push_back(fmt::format("{} patches a token", *v.patches_per_token));
    if (!parts.empty()) out += fmt::format("  vision      {}\n", fmt::join(parts, ", "));
  }
  // Distinct layers get letters; the layout is their sequence, folded into a repeated pattern
  // when it has one ("(a b a b c b a b) x 4"), else run-length encoded ("a x 3, b x 58").
  auto letter = [](size_t k) { return static_cast<char>(k < 26 ? 'a' + k : 'A' + (k - 26) % 26); };
  std::vector<const Layer*> kinds;
  std::string seq;
  for (const Layer& l : m.layers) {
    size_t k = 0;
    while (k < kinds.size() && !(*kinds[k] == l)) ++k;
    if (k == kinds.size()) kinds.push_back(&l);
    seq += letter(k);
  }
  out += fmt::format("  layers      {}, {} distinct\n", m.layers.size(), kinds.size());
  for (size_t k = 0; k < kinds.size(); ++k) out += fmt::format("    {}  {}\n", letter(k), describe(*kinds[k]));
  auto run_length = [](const std::string& text) {
    std::string r;
    for (size_t i = 0; i < text.size();) {
      size_t j = i;
      while (j < text.size() && text[j] == text[i]) ++j;
      r += fmt::format("{}{}{}", r.empty() ? "" : ", ", text[i], j - i > 1 ? fmt::format(" x {}", j - i) : "");
      i = j;
    }
    return r;
  };
  std::string layout = run_length(seq);
  for (size_t period = 2; period * 2 <= seq.size(); ++period) {
    if (seq.size() % period != 0) continue;
    if (seq.compare(period, std::string::npos, seq, 0, seq.size() - period) != 0) continue;
    std::string unit;
    for (size_t i = 0; i < period; ++i) unit += fmt::format("{}{}", i ? " " : "", seq[i]);
    layout = fmt::format("({}) x {}", unit, seq.size() / period);
    break;
  }
  out += fmt::format("  layout      {}\n", layout);
  return out;
}

Json model_to_json(const Model& m) {
  const ParamCounts p = count_params(m);
  Json layers = Json::array();
  for (size_t i = 0; i < m.layers.size(); ++i)
    layers.push_back({{"index", i}, {"block", m.layers[i].block}, {"kind", name(kind_of(m.layers[i]))},
                      {"description", describe(m.layers[i])}});
  return {{"schema_version", kSchemaVersion}, {"id", m.id}, {"name", m.name}, {"family", m.family},
          {"source", m.source}, {"dtype", name(m.dtype)}, {"vocab_size", m.vocab_size}, {"hidden_size", m.hidden_size},
          {"tie_word_embeddings", m.tie_word_embeddings}, {"max_context", m.max_context}, {"params", p.total},
          {"active_params", p.active}, {"layers", layers}};
}

std::string render_gpu(const Gpu& g) {
  std::string out = fmt::format("{} ({})\n", g.name, g.id);
  out += fmt::format("  memory        {} B ({})\n", group_digits(g.memory_bytes), gib(g.memory_bytes));
  out += fmt::format("  bandwidth     {:.3f} TB/s\n", g.memory_bandwidth_bytes_per_s / 1e12);
  for (const auto& [d, f] : g.peak_flops) out += fmt::format("  peak {:<9}{:.1f} TFLOP/s dense\n", name(d), f / 1e12);
  out += fmt::format("  interconnect  {:.0f} GB/s per direction\n", g.interconnect_bytes_per_s / 1e9);
  if (g.host_link.kind != HostLinkKind::none) {
    const HostLink& l = g.host_link;
    const std::string link = l.kind == HostLinkKind::pcie ? fmt::format("PCIe Gen{} x{}", l.pcie_generation, l.pcie_lanes)
                                                          : std::string("NVLink-C2C");
    out += fmt::format("  host link     {}: {:.1f} GB/s nominal, {:.1f} GB/s {}\n", link, l.nominal_bytes_per_s / 1e9,
                       l.achievable_bytes_per_s() / 1e9, l.bytes_per_s > 0 ? "measured" : "planned");
  }
  if (g.host_memory_bytes > 0) out += fmt::format("  host memory   {} per GPU\n", gib(g.host_memory_bytes));
  if (g.price.usd_per_gpu_hour > 0)
    out += fmt::format("  price         ${:.2f}/GPU-hour ({}, {})\n", g.price.usd_per_gpu_hour, g.price.date, g.price.source);
  const Efficiency& e = g.efficiency;
  // The KV-cache, state, lm_head and expert bandwidths only where the preset sets them apart from bandwidth_fraction.
  std::string apart;
  if (e.attention_bandwidth() != e.bandwidth_fraction) apart += "KV cache " + percent(e.attention_bandwidth());
  if (e.state_bandwidth() != e.bandwidth_fraction)
    apart += (apart.empty() ? "" : ", ") + std::string("SSM state ") + percent(e.state_bandwidth());
  if (e.lm_head_bandwidth() != e.bandwidth_fraction)
    apart += (apart.empty() ? "" : ", ") + std::string("lm_head ") + percent(e.lm_head_bandwidth());
  if (e.expert_bandwidth() != e.bandwidth_fraction)
    apart += (apart.empty() ? "" : ", ") + std::string("MoE experts ") + percent(e.expert_bandwidth());
  if (e.elementwise_bandwidth() != e.bandwidth_fraction)
    apart += (apart.empty() ? "" : ", ") + std::string("element-wise ") + percent(e.elementwise_bandwidth());
  const std::string bandwidth = percent(e.bandwidth_fraction) + (apart.empty() ? "" : " (" + apart + ")") +
                                (e.weight_stream_efficiency.empty() ? "" : " (decode weight streams by shape below)");
  // With grids the single figures cover only what the grids leave out (the rows below).
  const std::string gemm = percent(e.flops_fraction) + (e.gemm_efficiency.empty() ? "" : " (prefill GEMMs by shape below)");
  const std::string attention =
      percent(e.attention_flops_fraction) + (e.attention_efficiency.empty() ? "" : " (prefill by length below)");
  const std::string gap = e.kernel_gap_s > 0 ? fmt::format(" + {:.1f} us between kinds", e.kernel_gap_s * 1e6) : "";
  out += fmt::format("  efficiency    bandwidth {}, GEMM {}, attention {}, kernel overhead {:.1f} us{}{}\n", bandwidth, gemm,
                     attention, e.kernel_overhead_s * 1e6, gap, e.calibrated ? " (calibrated)" : " (defaults)");
  // One row per (m, n), one column per k: a grid's measured fractions (of the FLOP peak for the
  // prefill GEMMs, of the datasheet bandwidth for the decode step's weight streams).
  auto gemm_grid_rows = [&out](const char* title, const GemmGrid& grid) {
    if (grid.empty()) return;
    out += fmt::format("  {} {} points, log-interpolated, clamped at the edges; columns k =", title, grid.efficiency.size());
    for (int64_t k : grid.k) out += fmt::format(" {}", k);
    out += "\n";
    for (size_t i = 0; i < grid.m.size(); ++i)
      for (size_t j = 0; j < grid.n.size(); ++j) {
        out += fmt::format("    m {:>6} n {:>6} ", grid.m[i], grid.n[j]);
        for (size_t l = 0; l < grid.k.size(); ++l) out += fmt::format(" {:.3f}", grid.at(i, j, l));
        out += "\n";
      }
  };
  gemm_grid_rows("GEMM by shape", e.gemm_efficiency);
  gemm_grid_rows("decode weight streams by shape", e.weight_stream_efficiency);
  if (!e.weight_stream_shapes.empty()) {
    // The measured whole matrices: how many (n, k) and at which m, not each point (hundreds).
    std::vector<std::pair<int64_t, int64_t>> shapes;
    std::vector<int64_t> ms;
    for (const GemmPoint& p : e.weight_stream_shapes.points) {
      if (shapes.empty() || shapes.back() != std::pair{p.n, p.k}) shapes.emplace_back(p.n, p.k);
      if (std::find(ms.begin(), ms.end(), p.m) == ms.end()) ms.push_back(p.m);
    }
    std::sort(ms.begin(), ms.end());
    out += fmt::format("  decode weight streams of {} measured matrices (n x k) at m = {}: their own points before the grid\n",
                       shapes.size(), fmt::join(ms, ", "));
  }
  if (!e.state_efficiency.empty()) {
    out += "  SSM state update by row (Mamba layers):";
    for (const StatePoint& p : e.state_efficiency.points)
      out += fmt::format(" d_state {} {}-bit {:.3f};", p.d_state, p.bits, p.efficiency);
    out.back() = '\n';
  }
  if (e.decode_elementwise_bytes_per_s || e.elementwise_kernel_overhead_s) {
    const double rate = e.decode_elementwise_bytes_per_s.value_or(e.elementwise_bandwidth() * g.memory_bandwidth_bytes_per_s);
    out += fmt::format("  decode element-wise {:.2f} TB/s{}, {:.2f} us per kernel\n", rate / 1e12,
                       e.decode_elementwise_bytes_per_s ? " (activations in L2)" : "",
                       e.elementwise_kernel_overhead_s.value_or(e.kernel_overhead_s) * 1e6);
    if (e.norm_kernel_overhead_s) out += fmt::format("  decode norms {:.2f} us per kernel\n", *e.norm_kernel_overhead_s * 1e6);
  }
  if (!e.attention_efficiency.empty()) {
    // One row per head_dim, one column per key count: prefill attention's measured fractions of peak.
    const AttentionGrid& grid = e.attention_efficiency;
    out += fmt::format("  attention by length {} points, log-interpolated, clamped at the edges; columns tokens =",
                       grid.efficiency.size());
    for (int64_t t : grid.tokens) out += fmt::format(" {}", t);
    out += "\n";
    for (size_t i = 0; i < grid.head_dim.size(); ++i) {
      out += fmt::format("    head_dim {:>4} ", grid.head_dim[i]);
      for (size_t j = 0; j < grid.tokens.size(); ++j) out += fmt::format(" {:.3f}", grid.at(i, j));
      out += "\n";
    }
  }
  out += render_cost_curve(e.rotary_kernel_overhead_s, "rotary", "its (cos, sin) pairs a token",
                           [](int64_t pairs) { return std::to_string(pairs); });
  out += render_cost_curve(e.moe_routing_kernel_overhead_s, "MoE routing", "the layer's experts",
                           [](int64_t experts) { return std::to_string(experts); });
  out += render_cost_curve(e.attention_kernel_overhead_s, "attention", "bytes a launch moves",
                           [](int64_t bytes) { return fmt::format("{:.1f} MB", static_cast<double>(bytes) / 1e6); });
  if (!g.source.empty()) out += fmt::format("  source        {}\n", g.source);
  return out;
}

Json gpu_to_json(const Gpu& g) {
  Json peaks = Json::object();
  for (const auto& [d, f] : g.peak_flops) peaks[name(d)] = f;
  const Efficiency& e = g.efficiency;
  Json out = {{"schema_version", kSchemaVersion}, {"id", g.id}, {"name", g.name}, {"aliases", g.aliases},
          {"memory_bytes", g.memory_bytes}, {"memory_bandwidth_bytes_per_s", g.memory_bandwidth_bytes_per_s},
          {"peak_flops", peaks}, {"interconnect_bytes_per_s", g.interconnect_bytes_per_s},
          {"host_link", g.host_link.kind == HostLinkKind::none
                            ? Json(nullptr)
                            : Json{{"kind", name(g.host_link.kind)},
                                   {"pcie_generation", g.host_link.pcie_generation},
                                   {"pcie_lanes", g.host_link.pcie_lanes},
                                   {"nominal_bytes_per_s", g.host_link.nominal_bytes_per_s},
                                   {"measured_bytes_per_s", g.host_link.bytes_per_s > 0 ? Json(g.host_link.bytes_per_s) : Json(nullptr)},
                                   {"achievable_bytes_per_s", g.host_link.achievable_bytes_per_s()}}},
          {"host_memory_bytes", g.host_memory_bytes > 0 ? Json(g.host_memory_bytes) : Json(nullptr)},
          {"price", {{"usd_per_gpu_hour", g.price.usd_per_gpu_hour}, {"date", g.price.date}, {"source", g.price.source}}},
          {"efficiency", {{"bandwidth_fraction", e.bandwidth_fraction},
                          {"attention_bandwidth_fraction", e.attention_bandwidth()},
                          {"state_bandwidth_fraction", e.state_bandwidth()},
                          {"lm_head_bandwidth_fraction", e.lm_head_bandwidth()},
                          {"expert_bandwidth_fraction", e.expert_bandwidth()},
                          {"elementwise_bandwidth_fraction", e.elementwise_bandwidth()}, {"flops_fraction", e.flops_fraction},
                          {"attention_flops_fraction", e.attention_flops_fraction},
                          {"kernel_overhead_s", e.kernel_overhead_s}, {"kernel_gap_s", e.kernel_gap_s},
                          {"allreduce_latency_s", e.allreduce_latency_s},
                          {"calibrated", e.calibrated}}},
          {"source", g.source}};
  // Only where the preset has them: efficiency.gemm_efficiency and weight_stream_efficiency, their
  // points m-major; decode_elementwise_bytes_per_s.
  for (const auto& [key, grid] : {std::pair<const char*, const GemmGrid*>{"gemm_efficiency", &e.gemm_efficiency},
                                  {"weight_stream_efficiency", &e.weight_stream_efficiency}}) {
    if (grid->empty()) continue;
    Json points = Json::array();
    for (size_t i = 0; i < grid->m.size(); ++i)
      for (size_t j = 0; j < grid->n.size(); ++j)
        for (size_t l = 0; l < grid->k.size(); ++l)
          points.push_back({{"m", grid->m[i]}, {"n", grid->n[j]}, {"k", grid->k[l]}, {"efficiency", grid->at(i, j, l)}});
    out["efficiency"][key] = points;
  }
  // Only where the preset has them: the measured whole matrices and the state updates by row.
  if (!e.weight_stream_shapes.empty()) {
    Json points = Json::array();
    for (const GemmPoint& p : e.weight_stream_shapes.points)
      points.push_back({{"m", p.m}, {"n", p.n}, {"k", p.k}, {"efficiency", p.efficiency}});
    out["efficiency"]["weight_stream_shapes"] = points;
  }
  if (!e.state_efficiency.empty()) {
    Json points = Json::array();
    for (const StatePoint& p : e.state_efficiency.points)
      points.push_back({{"d_state", p.d_state}, {"bits", p.bits}, {"efficiency", p.efficiency}});
    out["efficiency"]["state_efficiency"] = points;
  }
  if (e.decode_elementwise_bytes_per_s)
    out["efficiency"]["decode_elementwise_bytes_per_s"] = *e.decode_elementwise_bytes_per_s;
  if (e.elementwise_kernel_overhead_s) out["efficiency"]["elementwise_kernel_overhead_s"] = *e.elementwise_kernel_overhead_s;
  if (e.norm_kernel_overhead_s) out["efficiency"]["norm_kernel_overhead_s"] = *e.norm_kernel_overhead_s;
  // One figure as a number, a curve as its {bytes or experts, seconds} points (as the preset writes them).
  auto curve = [&](const KernelCostCurve& c, const char* key, const char* unit) {
    if (c.points.size() == 1) out["efficiency"][key] = c.points[0].seconds;
    if (c.points.size() <= 1) return;
    Json points = Json::array();
    for (const KernelCostPoint& p : c.points) points.push_back({{unit, p.size}, {"seconds", p.seconds}});
    out["efficiency"][key] = points;
  };
  curve(e.rotary_kernel_overhead_s, "rotary_kernel_overhead_s", "pairs");
  curve(e.moe_routing_kernel_overhead_s, "moe_routing_kernel_overhead_s", "experts");
  curve(e.attention_kernel_overhead_s, "attention_kernel_overhead_s", "bytes");
  // Only where the preset has one: efficiency.attention_efficiency, its points head_dim-major.
  if (!e.attention_efficiency.empty()) {
    const AttentionGrid& grid = e.attention_efficiency;
    Json points = Json::array();
    for (size_t i = 0; i < grid.head_dim.size(); ++i)
      for (size_t j = 0; j < grid.tokens.size(); ++j)
        points.push_back({{"tokens", grid.tokens[j]}, {"head_dim", grid.head_dim[i]}, {"efficiency", grid.at(i, j)}});
    out["efficiency"]["attention_efficiency"] = points;
  }
  return out;
}

}  // namespace kvplan
