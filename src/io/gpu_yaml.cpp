#include "io/gpu_yaml.h"

#include <array>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "io/yaml_fields.h"

namespace kvplan {

namespace {

// A measured efficiency grid under `efficiency.<key>`: a list of maps of positive integer `axes`
// and an `efficiency` in (0, 1], each point once; each bad point reported where it stands, and
// `build`'s errors (a missing point) at the list.
template <typename Point, size_t N, typename Build, typename Check = void (*)(const Point&, YamlFields&)>
auto parse_grid(const YAML::Node& list, const std::string& source, const std::string& key,
                const std::array<std::pair<const char*, int64_t Point::*>, N>& axes, Build build,
                Check check = [](const Point&, YamlFields&) {}) {
  std::string names;
  for (const auto& [name, member] : axes) names += std::string(name) + ", ";
  if (!list.IsSequence()) throw Error("'" + key + "' must be a list of {" + names + "efficiency} maps", pos_of(list, source));
  std::vector<Point> points;
  std::set<std::vector<int64_t>> seen;
  for (const YAML::Node& item : list) {
    YamlFields f(item, source, key + " point");
    Point p;
    std::vector<int64_t> at;
    std::string shape;
    for (const auto& [name, member] : axes) {
      p.*member = f.integer(name);
      if (p.*member <= 0)
        throw Error(key + " '" + name + "' must be positive, got " + f.string(name), f.pos(name));
      at.push_back(p.*member);
      shape += (shape.empty() ? "" : ", ") + std::string(name) + " " + std::to_string(p.*member);
    }
    check(p, f);
    p.efficiency = f.number("efficiency");
    if (!(p.efficiency > 0 && p.efficiency <= 1))
      throw Error(key + " 'efficiency' must be a fraction in (0, 1], got " + f.string("efficiency"), f.pos("efficiency"));
    f.finish();
    if (!seen.insert(at).second) throw Error(key + " point (" + shape + ") is given twice", f.pos());
    points.push_back(p);
  }
  try {
    return build(points);
  } catch (const Error& err) {
    throw Error(err.what(), pos_of(list, source));
  }
}

GemmGrid parse_gemm_grid(const YAML::Node& list, const std::string& source, const std::string& key) {
  return parse_grid(list, source, key,
                    std::array<std::pair<const char*, int64_t GemmPoint::*>, 3>{
                        {{"m", &GemmPoint::m}, {"n", &GemmPoint::n}, {"k", &GemmPoint::k}}},
                    [&key](const std::vector<GemmPoint>& p) { return gemm_grid(p, key); });
}

ShapeTable parse_shape_table(const YAML::Node& list, const std::string& source, const std::string& key) {
  return parse_grid(list, source, key,
                    std::array<std::pair<const char*, int64_t GemmPoint::*>, 3>{
                        {{"m", &GemmPoint::m}, {"n", &GemmPoint::n}, {"k", &GemmPoint::k}}},
                    [&key](const std::vector<GemmPoint>& p) { return shape_table(p, key); });
}

AttentionGrid parse_attention_grid(const YAML::Node& list, const std::string& source) {
  return parse_grid(list, source, "attention_efficiency",
                    std::array<std::pair<const char*, int64_t AttentionPoint::*>, 2>{
                        {{"tokens", &AttentionPoint::tokens}, {"head_dim", &AttentionPoint::head_dim}}},
                    [](const std::vector<AttentionPoint>& p) { return attention_grid(p); });
}

StateTable parse_state_table(const YAML::Node& list, const std::string& source) {
  return parse_grid(list, source, "state_efficiency",
                    std::array<std::pair<const char*, int64_t StatePoint::*>, 2>{
                        {{"d_state", &StatePoint::d_state}, {"bits", &StatePoint::bits}}},
                    [](const std::vector<StatePoint>& p) { return state_table(p); },
                    [](const StatePoint& p, YamlFields& f) {
                      if (!state_bits_supported(p.bits))
                        throw Error("state_efficiency 'bits' must be 16 or 32 (bf16/fp16 or fp32 state), got " +
                                        f.string("bits"),
                                    f.pos("bits"));
                    });
}

// A per-kernel cost by size (`unit`: bytes a launch moves, or experts): a list of {unit, seconds}
// maps, each bad point reported where it stands.
KernelCostCurve parse_kernel_cost_curve(const YAML::Node& list, const std::string& source, const std::string& key,
                                        const std::string& unit) {
  std::vector<KernelCostPoint> points;
  for (const YAML::Node& item : list) {
    YamlFields f(item, source, key + " point");
    KernelCostPoint p;
    p.size = f.integer(unit);
    if (p.size <= 0) throw Error(key + " '" + unit + "' must be positive, got " + f.string(unit), f.pos(unit));
    p.seconds = f.number("seconds");
    if (!(p.seconds >= 0)) throw Error(key + " 'seconds' must not be negative, got " + f.string("seconds"), f.pos("seconds"));
    f.finish();
    for (const KernelCostPoint& q : points)
      if (q.size == p.size) throw Error(key + " point (" + unit + " " + std::to_string(p.size) + ") is given twice", f.pos());
    points.push_back(p);
  }
  if (points.empty())
    throw Error("'" + key + "' must be a figure or a list of {" + unit + ", seconds} maps", pos_of(list, source));
  return kernel_cost_curve(points, key, unit);
}

}  // namespace

Gpu parse_gpu_yaml(const std::string& text, const std::string& source, const std::string& default_id) {
  const YAML::Node root = parse_yaml(text, source);
  YamlFields f(root, source, "GPU preset");
  Gpu g;
  g.key_pos[""] = {source, 0, 0};
  for (const char* key : {"memory_bytes", "memory_bandwidth_bytes_per_s", "interconnect_bytes_per_s", "peak_flops"})
    if (f.has(key)) g.key_pos[key] = f.pos(key);
  // Schema 2 (kvplan 2026-12) adds cuda_total_bytes; a file without schema_version is schema 1.
  const int64_t schema = f.integer("schema_version", 1);
  if (schema != 1 && schema != 2)
    throw Error("'schema_version' " + std::to_string(schema) + " is not one kvplan reads (1 or 2)",
                f.pos("schema_version"));
  if (schema < 2 && f.has("cuda_total_bytes"))
    throw Error("'cuda_total_bytes' is a schema 2 key: add 'schema_version: 2'", f.pos("cuda_total_bytes"));
  g.id = f.string("id", default_id);
  g.name = f.string("name", g.id);
  g.aliases = f.strings("aliases");
  g.memory_bytes = f.integer("memory_bytes");
  if (g.memory_bytes <= 0) throw Error("'memory_bytes' must be positive", f.pos("memory_bytes"));
  g.cuda_total_bytes = f.integer("cuda_total_bytes", 0);
  if (g.cuda_total_bytes < 0 || g.cuda_total_bytes > g.memory_bytes)
    throw Error("'cuda_total_bytes' must be positive and at most memory_bytes", f.pos("cuda_total_bytes"));
  g.memory_bandwidth_bytes_per_s = f.number("memory_bandwidth_bytes_per_s");
  if (!(g.memory_bandwidth_bytes_per_s > 0))
    throw Error("'memory_bandwidth_bytes_per_s' must be positive", f.pos("memory_bandwidth_bytes_per_s"));
  g.interconnect_bytes_per_s = f.number("interconnect_bytes_per_s", 0);
  g.nvswitch_sharp = f.boolean("nvswitch_sharp", false);
  g.source = f.string("source", "");
  g.host_memory_bytes = f.integer("host_memory_bytes", 0);
  if (g.host_memory_bytes < 0) throw Error("'host_memory_bytes' must be positive", f.pos("host_memory_bytes"));
  if (f.has("host_memory_bytes")) g.key_pos["host_memory_bytes"] = f.pos("host_memory_bytes");
  if (f.has("host_link")) {
    YamlFields h(f.node("host_link"), source, "host_link");
    HostLink& l = g.host_link;
    const std::string kind = h.string("kind");
    if (kind == "pcie") {
      l.kind = HostLinkKind::pcie;
      l.pcie_generation = static_cast<int>(h.integer("generation"));
      l.pcie_lanes = static_cast<int>(h.integer("lanes"));
      try {
        l.nominal_bytes_per_s = pcie_nominal_bytes_per_s(l.pcie_generation, l.pcie_lanes);
      } catch (const Error& e) {
        throw Error(e.what(), h.pos("generation"));
      }
    } else if (kind == "nvlink-c2c") {
      l.kind = HostLinkKind::nvlink_c2c;
      l.nominal_bytes_per_s = h.number("nominal_bytes_per_s");
      if (!(l.nominal_bytes_per_s > 0)) throw Error("'nominal_bytes_per_s' must be positive", h.pos("nominal_bytes_per_s"));
    } else {
      throw Error("host_link 'kind' must be pcie or nvlink-c2c, not '" + kind + "'" +
                      did_you_mean(kind, {"pcie", "nvlink-c2c"}),
                  h.pos("kind"));
    }
    l.bytes_per_s = h.number("bytes_per_s", 0);
    if (l.bytes_per_s < 0) throw Error("'bytes_per_s' must be positive", h.pos("bytes_per_s"));
    h.finish();
  }

  const YAML::Node peaks = f.node("peak_flops");
  if (!peaks.IsMap()) throw Error("'peak_flops' must map dtypes to FLOP/s", pos_of(peaks, source));
  for (const auto& kv : peaks) {
    const std::string key = kv.first.Scalar();
    DType d;
    if (key == "tf32") continue;  // informational: fp32 matmuls on tensor cores; kvplan times no tf32 math
    try {
      d = parse_dtype(key);
    } catch (const Error& e) {
      throw Error(e.what(), pos_of(kv.first, source));
    }
    const double flops = to_number(kv.second, source, key);
    if (!(flops > 0)) throw Error("peak_flops '" + key + "' must be positive, got " + kv.second.Scalar(), pos_of(kv.second, source));
    g.peak_flops[d] = flops;
  }

  if (f.has("price")) {
    YamlFields p(f.node("price"), source, "price");
    g.price.usd_per_gpu_hour = p.number("usd_per_gpu_hour");
    g.key_pos["price.usd_per_gpu_hour"] = p.pos("usd_per_gpu_hour");
    g.price.date = p.string("date", "");
    g.price.source = p.string("source", "");
    p.finish();
  }
  if (f.has("efficiency")) {
    YamlFields e(f.node("efficiency"), source, "efficiency");
    Efficiency& x = g.efficiency;
    // A fraction of a datasheet peak, in (0, 1], reported at the value's position; nullopt if absent.
    auto fraction = [&](const std::string& key) -> std::optional<double> {
      e.expect(key);
      if (!e.has(key)) return std::nullopt;
      const double v = e.number(key);
      if (!(v > 0 && v <= 1)) throw Error("'" + key + "' must be a fraction in (0, 1], got " + e.string(key), e.pos(key));
      return v;
    };
    x.bandwidth_fraction = fraction("bandwidth_fraction").value_or(x.bandwidth_fraction);
    x.attention_bandwidth_fraction = fraction("attention_bandwidth_fraction");  // unset: bandwidth_fraction
    x.state_bandwidth_fraction = fraction("state_bandwidth_fraction");
    x.lm_head_bandwidth_fraction = fraction("lm_head_bandwidth_fraction");
    x.expert_bandwidth_fraction = fraction("expert_bandwidth_fraction");
    x.elementwise_bandwidth_fraction = fraction("elementwise_bandwidth_fraction");
    x.flops_fraction = fraction("flops_fraction").value_or(x.flops_fraction);
    x.attention_flops_fraction = fraction("attention_flops_fraction").value_or(x.attention_flops_fraction);
    x.kernel_overhead_s = e.number("kernel_overhead_s", x.kernel_overhead_s);
    x.kernel_gap_s = e.number("kernel_gap_s", x.kernel_gap_s);
    if (e.has("elementwise_kernel_overhead_s")) x.elementwise_kernel_overhead_s = e.number("elementwise_kernel_overhead_s");
    e.expect("elementwise_kernel_overhead_s");
    if (e.has("norm_kernel_overhead_s")) x.norm_kernel_overhead_s = e.number("norm_kernel_overhead_s");
    e.expect("norm_kernel_overhead_s");
    // One figure (checked with the others in check_gpu) or a list: attention's by the bytes one
    // launch moves, the MoE routing's by the layer's experts, the rotary's by its pairs a token.
    auto curve = [&](const char* key, const char* unit) {
      e.expect(key);
      if (!e.has(key)) return KernelCostCurve{};
      const YAML::Node n = e.node(key);
      return n.IsSequence() ? parse_kernel_cost_curve(n, source, key, unit) : KernelCostCurve{{{1, e.number(key)}}};
    };
    x.moe_routing_kernel_overhead_s = curve("moe_routing_kernel_overhead_s", "experts");
    x.rotary_kernel_overhead_s = curve("rotary_kernel_overhead_s", "pairs");
    x.attention_kernel_overhead_s = curve("attention_kernel_overhead_s", "bytes");
    x.allreduce_latency_s = e.number("allreduce_latency_s", x.allreduce_latency_s);
    x.calibrated = e.boolean("calibrated", false);
    e.expect("gemm_efficiency");
    if (e.has("gemm_efficiency")) x.gemm_efficiency = parse_gemm_grid(e.node("gemm_efficiency"), source, "gemm_efficiency");
    e.expect("weight_stream_efficiency");
    if (e.has("weight_stream_efficiency"))
      x.weight_stream_efficiency =
          parse_gemm_grid(e.node("weight_stream_efficiency"), source, "weight_stream_efficiency");
    e.expect("weight_stream_shapes");
    if (e.has("weight_stream_shapes")) {
      if (x.weight_stream_efficiency.empty())
        throw Error("'weight_stream_shapes' needs the 'weight_stream_efficiency' grid for the shapes it does not list",
                    e.pos("weight_stream_shapes"));
      x.weight_stream_shapes = parse_shape_table(e.node("weight_stream_shapes"), source, "weight_stream_shapes");
    }
    e.expect("decode_elementwise_bytes_per_s");
    if (e.has("decode_elementwise_bytes_per_s")) {
      x.decode_elementwise_bytes_per_s = e.number("decode_elementwise_bytes_per_s");
      if (!(*x.decode_elementwise_bytes_per_s > 0))
        throw Error("'decode_elementwise_bytes_per_s' must be positive, got " + e.string("decode_elementwise_bytes_per_s"),
                    e.pos("decode_elementwise_bytes_per_s"));
    }
    e.expect("state_efficiency");
    if (e.has("state_efficiency")) x.state_efficiency = parse_state_table(e.node("state_efficiency"), source);
    e.expect("attention_efficiency");
    if (e.has("attention_efficiency"))
      x.attention_efficiency = parse_attention_grid(e.node("attention_efficiency"), source);
    for (const char* key : {"bandwidth_fraction", "attention_bandwidth_fraction", "state_bandwidth_fraction",
                            "lm_head_bandwidth_fraction", "expert_bandwidth_fraction", "elementwise_bandwidth_fraction", "flops_fraction",
                            "attention_flops_fraction",
                            "kernel_overhead_s", "kernel_gap_s", "allreduce_latency_s", "decode_elementwise_bytes_per_s",
                            "elementwise_kernel_overhead_s", "norm_kernel_overhead_s", "rotary_kernel_overhead_s",
                            "moe_routing_kernel_overhead_s", "attention_kernel_overhead_s"})
      if (e.has(key)) g.key_pos[std::string("efficiency.") + key] = e.pos(key);
    e.finish();
  }
  // Calibrated presets (kvplan calibrate) record how they were measured; kept as free text.
  if (f.has("calibration")) f.node("calibration");
  f.finish();
  check_gpu(g);  // reports a bad value at key_pos
  return g;
}

}  // namespace kvplan
