#include "report/plots.h"

#include <fmt/format.h>

#include <algorithm>
#include <iterator>
#include <cmath>
#include <map>
#include <set>

#include "core/error.h"
#include "report/svg.h"

namespace kvplan {

namespace {

constexpr double kGiB = 1024.0 * 1024 * 1024;
constexpr size_t kMaxSeries = 12;
// Tableau 10 and two more (olive, cyan): one distinct colour for each of the kMaxSeries series.
const char* const kPalette[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948",
                                "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac", "#bcbd22", "#17becf"};
static_assert(std::size(kPalette) == kMaxSeries);
const char* color(size_t i) { return kPalette[i % kMaxSeries]; }

// Chart geometry: the plot area inside the margins; the legend sits right of it.
constexpr double kWidth = 960, kHeight = 540;
constexpr double kLeft = 90, kRight = 700, kTop = 60, kBottom = 470;

struct Tick {
  double value;
  std::string label;
};

struct Axis {
  double lo = 0, hi = 1;
  bool log = false;
  double px_lo = 0, px_hi = 1;  // pixel positions of lo and hi
  double map(double v) const {
    const double t = log ? (std::log(v) - std::log(lo)) / (std::log(hi) - std::log(lo)) : (v - lo) / (hi - lo);
    return px_lo + t * (px_hi - px_lo);
  }
};

std::string trim_number(double v) {
  std::string s = fmt::format("{:.6g}", v);
  return s;
}

// About six round ticks (1, 2, 5 x 10^k) over [lo, hi].
std::vector<Tick> linear_ticks(double lo, double hi) {
  const double raw = (hi - lo) / 6;
  const double mag = std::pow(10, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (raw <= m * mag) {
      step = m * mag;
      break;
    }
  std::vector<Tick> out;
  for (double v = std::ceil(lo / step) * step; v <= hi + step * 1e-9; v += step)
    out.push_back({v, trim_number(std::abs(v) < step * 1e-9 ? 0 : v)});
  return out;
}

// Decades for a log axis of GiB (0.01, 0.1, 1, 10, ...).
std::vector<Tick> decade_ticks(double lo, double hi) {
  std::vector<Tick> out;
  for (int k = static_cast<int>(std::floor(std::log10(lo))); k <= static_cast<int>(std::ceil(std::log10(hi))); ++k) {
    const double v = std::pow(10.0, k);
    if (v >= lo * 0.999 && v <= hi * 1.001) out.push_back({v, trim_number(v)});
  }
  return out;
}

// Powers of two for a token or batch axis, thinned to at most ~10 labels.
std::vector<Tick> power2_ticks(double lo, double hi) {
  std::vector<double> values;
  for (int k = 0; k < 63; ++k) {
    const double v = std::ldexp(1.0, k);
    if (v >= lo * 0.999 && v <= hi * 1.001) values.push_back(v);
  }
  const size_t stride = values.size() / 10 + 1;
  std::vector<Tick> out;
  for (size_t i = 0; i < values.size(); i += stride) out.push_back({values[i], token_label(values[i])});
  return out;
}

struct Frame {
  std::string title, subtitle, x_label, y_label;
  Axis x, y;
  std::vector<Tick> x_ticks, y_ticks;
};

void draw_frame(Svg& svg, const Frame& f) {
  svg.text(kLeft, 28, f.title, {17, "start", "#111", true});
  if (!f.subtitle.empty()) svg.text(kLeft, 48, f.subtitle, {12, "start", "#555"});
  const Stroke grid{"#e3e3e3", 1, ""};
  const Stroke axis{"#444", 1, ""};
  for (const Tick& t : f.y_ticks) {
    const double y = f.y.map(t.value);
    svg.line(kLeft, y, kRight, y, grid);
    svg.text(kLeft - 8, y + 4, t.label, {11, "end", "#333"});
  }
  for (const Tick& t : f.x_ticks) {
    const double x = f.x.map(t.value);
    svg.line(x, kTop, x, kBottom, grid);
    svg.text(x, kBottom + 18, t.label, {11, "middle", "#333"});
  }
  svg.line(kLeft, kBottom, kRight, kBottom, axis);
  svg.line(kLeft, kTop, kLeft, kBottom, axis);
  svg.text((kLeft + kRight) / 2, kBottom + 44, f.x_label, {13, "middle", "#222"});
  svg.text(24, (kTop + kBottom) / 2, f.y_label, {13, "middle", "#222", false, -90});
}

struct LegendEntry {
  std::string label;
  std::string color;
  std::string dash;  // line entries; "" solid
  bool box = false;  // a filled box (stacked bars) instead of a line
};

void draw_legend(Svg& svg, const std::vector<LegendEntry>& entries, const std::string& note = "") {
  double y = kTop + 6;
  for (const LegendEntry& e : entries) {
    if (e.box) {
      const Stroke outline{"#999", 0.5, ""};
      svg.rect(kRight + 24, y - 9, 14, 12, e.color, &outline);
    } else {
      svg.line(kRight + 20, y - 3, kRight + 44, y - 3, {e.color, 2.5, e.dash});
    }
    svg.text(kRight + 52, y + 1, e.label, {12, "start", "#222"});
    y += 20;
  }
  if (!note.empty()) svg.text(kRight + 20, y + 10, note, {11, "start", "#666"});
}

std::string gib_label(double gib) { return gib >= 10 ? fmt::format("{:.0f} GiB", gib) : fmt::format("{:.1f} GiB", gib); }

// Labels that tell the sweep's cases apart: the parts that differ between them.
std::vector<std::string> case_labels(const std::vector<SweepCase>& cases) {
  std::set<std::string> models, gpus, kvs, tps;
  for (const SweepCase& c : cases) {
    models.insert(c.model.id);
    gpus.insert(c.gpu.id);
    kvs.insert(name(c.options.cache.kv_dtype));
    tps.insert(std::to_string(c.options.cache.tp));
  }
  std::vector<std::string> out;
  for (const SweepCase& c : cases) {
    std::string s = c.model.id;
    if (gpus.size() > 1) s += " on " + c.gpu.id;
    if (kvs.size() > 1) s += ", KV " + std::string(name(c.options.cache.kv_dtype));
    if (tps.size() > 1) s += ", tp " + std::to_string(c.options.cache.tp);
    out.push_back(s);
  }
  return out;
}

struct Point {
  double x, y;
  bool fits;
};
struct Series {
  std::string label;
  std::vector<Point> points;
  size_t case_index = 0;
  std::optional<int64_t> knee;  // compute-bound batch (throughput plot)
  int64_t max_batch = 0;        // memory limit (throughput plot)
};

void draw_series(Svg& svg, const Frame& f, const Series& s, const char* c) {
  std::vector<std::pair<double, double>> pts;
  for (const Point& p : s.points) pts.emplace_back(f.x.map(p.x), f.y.map(p.y));
  svg.polyline(pts, {c, 2.5, ""});
  const Stroke ring{c, 1.5, ""};
  if (s.points.size() <= 64)
    for (const Point& p : s.points) svg.circle(f.x.map(p.x), f.y.map(p.y), 3.5, p.fits ? c : "#fff", &ring);
}

std::pair<double, double> padded_log_range(double lo, double hi) {
  if (!(lo > 0)) lo = hi > 0 ? hi / 10 : 1;
  if (!(hi > lo)) hi = lo * 10;
  return {std::pow(10, std::floor(std::log10(lo))), std::pow(10, std::ceil(std::log10(hi)))};
}

// One series per (case, value of the other axis), in first-seen order, at most kMaxSeries; each
// point from `point` (nullopt: nothing to draw). The knee and memory limit come with the series.
template <typename Key, typename Suffix, typename MakePoint>
std::vector<Series> collect_series(const std::vector<SweepCase>& cases, const SweepAxes& axes, Key key_of,
                                   Suffix label_suffix, MakePoint point) {
  const std::vector<std::string> labels = case_labels(cases);
  std::map<std::pair<size_t, int64_t>, size_t> index;  // (case, key) -> series
  std::vector<Series> series;
  for_each_point(cases, axes, [&](size_t c, const Estimate& e) {
    const auto key = std::make_pair(c, key_of(e));
    auto it = index.find(key);
    if (it == index.end()) {
      if (series.size() >= kMaxSeries) return;
      it = index.emplace(key, series.size()).first;
      series.push_back({labels[c] + label_suffix(e), {}, c, e.decode.compute_bound_batch, e.memory.max_batch});
    }
    if (const std::optional<Point> p = point(e)) series[it->second].points.push_back(*p);
  });
  return series;
}

// Log x (powers of 2, at least one octave wide) and log y (decades) over the plot area.
void set_log_axes(Frame& f, int64_t x_lo, int64_t x_hi, double y_lo, double y_hi) {
  f.x = {static_cast<double>(x_lo), static_cast<double>(std::max(x_hi, x_lo * 2)), true, kLeft + 10, kRight - 10};
  f.y = {y_lo, y_hi, true, kBottom, kTop};
  f.x_ticks = power2_ticks(f.x.lo, f.x.hi);
  f.y_ticks = decade_ticks(y_lo, y_hi);
}

std::pair<double, double> y_extent(const std::vector<Series>& series) {
  double y_lo = INFINITY, y_hi = 0;
  for (const Series& s : series)
    for (const Point& p : s.points) y_lo = std::min(y_lo, p.y), y_hi = std::max(y_hi, p.y);
  return {y_lo, y_hi};
}

std::string memory_vs_context(const std::vector<SweepCase>& cases, const SweepAxes& axes) {
  const bool per_batch = axes.batches.size() > 1;
  const std::vector<Series> series = collect_series(
      cases, axes, [](const Estimate& e) { return e.workload.batch; },
      [&](const Estimate& e) { return per_batch ? fmt::format(", batch {}", e.workload.batch) : std::string(); },
      [](const Estimate& e) -> std::optional<Point> {
        const double bytes = static_cast<double>(e.memory.kv_cache_bytes + e.memory.state_bytes);
        if (!(bytes > 0)) return std::nullopt;
        return Point{static_cast<double>(e.workload.context), bytes / kGiB, e.memory.fits};
      });
  auto [y_lo, y_hi] = y_extent(series);
  std::map<std::string, double> capacity;  // GPU name -> GiB
  for (const SweepCase& c : cases) capacity[c.gpu.name] = static_cast<double>(c.gpu.memory_bytes) / kGiB;
  for (const auto& [gpu, gib] : capacity) y_hi = std::max(y_hi, gib), y_lo = std::min(y_lo, gib);
  const auto [lo, hi] = padded_log_range(y_lo, y_hi);
  const auto [x_lo_it, x_hi_it] = std::minmax_element(axes.contexts.begin(), axes.contexts.end());
  Frame f;
  f.title = "KV cache + state vs context";
  f.subtitle = per_batch ? "per GPU, one line per batch size; hollow markers: the whole deployment does not fit"
                         : fmt::format("per GPU at batch {}; hollow markers: the whole deployment does not fit",
                                       axes.batches.front());
  f.x_label = "context (tokens per sequence, log scale)";
  f.y_label = "KV cache + SSM state (GiB, log scale)";
  set_log_axes(f, *x_lo_it, *x_hi_it, lo, hi);
  Svg svg(kWidth, kHeight);
  draw_frame(svg, f);
  std::vector<LegendEntry> legend;
  // One label per capacity line; labels closer than a line of text apart are stacked upwards.
  double last_label_y = kBottom + 100;
  std::vector<std::pair<std::string, double>> lines(capacity.begin(), capacity.end());
  std::sort(lines.begin(), lines.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
  for (const auto& [gpu, gib] : lines) {
    const double y = f.y.map(gib);
    svg.line(kLeft, y, kRight, y, {"#222", 1.5, "7 4"});
    const double label_y = std::min(y - 6, last_label_y - 13);
    svg.text(kLeft + 6, label_y, fmt::format("{} capacity {}", gpu, gib_label(gib)), {11, "start", "#222"});
    last_label_y = label_y;
  }
  for (size_t i = 0; i < series.size(); ++i) {
    draw_series(svg, f, series[i], color(i));
    legend.push_back({series[i].label, color(i), "", false});
  }
  legend.push_back({"GPU memory capacity", "#222", "7 4", false});
  draw_legend(svg, legend);
  return svg.str();
}

std::string throughput_vs_batch(const std::vector<SweepCase>& cases, const SweepAxes& axes) {
  const bool per_context = axes.contexts.size() > 1;
  const std::vector<Series> series = collect_series(
      cases, axes, [](const Estimate& e) { return e.workload.context; },
      [&](const Estimate& e) {
        return per_context ? ", context " + token_label(static_cast<double>(e.workload.context)) : std::string();
      },
      [](const Estimate& e) -> std::optional<Point> {
        if (!(e.decode.tokens_per_s > 0)) return std::nullopt;
        return Point{static_cast<double>(e.workload.batch), e.decode.tokens_per_s, e.memory.fits};
      });
  auto [y_lo, y_hi] = y_extent(series);
  const auto [lo, hi] = padded_log_range(y_lo, y_hi);
  const auto [b_lo, b_hi] = std::minmax_element(axes.batches.begin(), axes.batches.end());
  Frame f;
  f.title = "Decode throughput vs batch";
  f.subtitle = (per_context ? std::string("one line per context")
                            : "at context " + token_label(static_cast<double>(axes.contexts.front()))) +
               "; dotted: compute-bound from this batch; thin: largest batch that fits; hollow: does not fit";
  f.x_label = "batch (concurrent sequences, log scale)";
  f.y_label = "decode tokens/s per replica (log scale)";
  set_log_axes(f, *b_lo, *b_hi, lo, hi);
  Svg svg(kWidth, kHeight);
  draw_frame(svg, f);
  std::vector<LegendEntry> legend;
  for (size_t i = 0; i < series.size(); ++i) {
    const Series& s = series[i];
    const double mb = static_cast<double>(s.max_batch);
    if (mb >= f.x.lo && mb <= f.x.hi) {
      const double x = f.x.map(mb);
      svg.line(x, kTop, x, kBottom, {color(i), 1, ""});
      svg.text(x - 4, kBottom - 8 - 14 * static_cast<double>(series.size() + i),
               fmt::format("fits up to batch {}", s.max_batch), {10, "end", color(i)});
    }
    if (s.knee && static_cast<double>(*s.knee) >= f.x.lo && static_cast<double>(*s.knee) <= f.x.hi) {
      const double x = f.x.map(static_cast<double>(*s.knee));
      svg.line(x, kTop, x, kBottom, {color(i), 1.5, "2 4"});
      svg.text(x - 4, kBottom - 8 - 14 * static_cast<double>(i), fmt::format("compute-bound from {}", *s.knee),
               {10, "end", color(i)});
    }
    draw_series(svg, f, s, color(i));
    legend.push_back({s.label, color(i), "", false});
  }
  draw_legend(svg, legend);
  return svg.str();
}

struct Bar {
  std::string label;
  MemoryPlan memory;
};

std::string breakdown(const std::vector<Bar>& bars, const std::string& subtitle) {
  struct Part {
    const char* name;
    const char* color;
    int64_t MemoryPlan::*bytes;
  };
  const Part parts[] = {{"weights", "#4e79a7", &MemoryPlan::weights_bytes},
                        {"KV cache", "#f28e2b", &MemoryPlan::kv_cache_bytes},
                        {"SSM state", "#59a14f", &MemoryPlan::state_bytes},
                        {"activations", "#b07aa1", &MemoryPlan::activation_bytes}};
  double x_hi = 0;
  for (const Bar& b : bars)
    x_hi = std::max({x_hi, static_cast<double>(b.memory.capacity_bytes), static_cast<double>(b.memory.total_bytes)});
  x_hi /= kGiB;
  Frame f;
  f.title = "Memory per GPU";
  f.subtitle = subtitle;
  f.x_label = "GiB per GPU";
  f.y_label = "";
  f.x = {0, x_hi * 1.05, false, kLeft + 150, kRight};
  f.x_ticks = linear_ticks(0, f.x.hi);
  // Height follows the number of bars: one 64-pixel slot each (at least room for the legend).
  const double slot = 64;
  const double bottom = kTop + std::max(slot * static_cast<double>(bars.size()), 150.0);
  Svg svg(kWidth, bottom + 70);
  svg.text(kLeft, 28, f.title, {17, "start", "#111", true});
  svg.text(kLeft, 48, f.subtitle, {12, "start", "#555"});
  const double area_left = f.x.px_lo;
  for (const Tick& t : f.x_ticks) {
    const double x = f.x.map(t.value);
    svg.line(x, kTop, x, bottom, {"#e3e3e3", 1, ""});
    svg.text(x, bottom + 18, t.label, {11, "middle", "#333"});
  }
  svg.line(area_left, bottom, kRight, bottom, {"#444", 1, ""});
  svg.text((area_left + kRight) / 2, bottom + 44, f.x_label, {13, "middle", "#222"});
  const double height = 30;
  for (size_t i = 0; i < bars.size(); ++i) {
    const MemoryPlan& m = bars[i].memory;
    const double y = kTop + slot * static_cast<double>(i) + 8;
    svg.text(area_left - 10, y + height / 2 + 4, bars[i].label, {12, "end", "#222"});
    double at = 0;
    for (const Part& p : parts) {
      const double gib = static_cast<double>(m.*(p.bytes)) / kGiB;
      if (gib <= 0) continue;
      svg.rect(f.x.map(at), y, f.x.map(at + gib) - f.x.map(at), height, p.color);
      at += gib;
    }
    const double usable = static_cast<double>(m.usable_bytes) / kGiB;
    const Stroke edge{"#bbb", 1, "3 3"};
    if (at < usable) svg.rect(f.x.map(at), y, f.x.map(usable) - f.x.map(at), height, "#f4f4f4", &edge);
    const double cap = static_cast<double>(m.capacity_bytes) / kGiB;
    svg.line(f.x.map(usable), y - 4, f.x.map(usable), y + height + 4, {"#222", 1.5, "4 3"});
    svg.line(f.x.map(cap), y - 4, f.x.map(cap), y + height + 4, {"#222", 2, ""});
    const std::string verdict =
        m.fits ? fmt::format("fits: {} used, {} of usable free", gib_label(at), gib_label(usable - at))
               : fmt::format("does NOT fit: {} needed, {} over usable", gib_label(at), gib_label(at - usable));
    svg.text(area_left, y + height + 15, verdict, {11, "start", m.fits ? "#2a7a2a" : "#c0392b", !m.fits});
  }
  std::vector<LegendEntry> legend;
  for (const Part& p : parts) legend.push_back({p.name, p.color, "", true});
  legend.push_back({"free (of usable)", "#f4f4f4", "", true});
  legend.push_back({"usable (utilization)", "#222", "4 3", false});
  legend.push_back({"GPU capacity", "#222", "", false});
  draw_legend(svg, legend);
  return svg.str();
}

std::string bar_label(const Estimate& e, const std::string& prefix) {
  return fmt::format("{}{} x {}", prefix, e.workload.batch, token_label(static_cast<double>(e.workload.context)));
}

}  // namespace

std::string token_label(double v) {
  const auto n = static_cast<int64_t>(std::llround(v));
  if (n >= (1 << 20) && n % (1 << 20) == 0) return fmt::format("{}M", n >> 20);
  if (n >= 1024 && n % 1024 == 0) return fmt::format("{}k", n >> 10);
  return std::to_string(n);
}

std::vector<std::string> plot_kinds() { return {"auto", "memory-vs-context", "breakdown", "throughput"}; }

std::string plot_sweep(const std::vector<SweepCase>& cases, const SweepAxes& axes, const std::string& kind) {
  std::string k = kind;
  if (k == "auto") k = axes.contexts.size() > 1 ? "memory-vs-context" : axes.batches.size() > 1 ? "throughput" : "breakdown";
  if (k == "memory-vs-context") return memory_vs_context(cases, axes);
  if (k == "throughput") return throughput_vs_batch(cases, axes);
  if (k != "breakdown") throw Error("unknown plot kind '" + kind + "'" + did_you_mean(kind, plot_kinds()));
  const std::vector<std::string> labels = case_labels(cases);
  std::vector<Bar> bars;
  for_each_point(cases, axes, [&](size_t c, const Estimate& e) {
    if (bars.size() < kMaxSeries) bars.push_back({bar_label(e, labels[c] + ": "), e.memory});
  });
  return breakdown(bars, "batch x context per bar; dashed: usable (gpu_memory_utilization), solid: capacity");
}

std::string plot_estimate(const Estimate& e) {
  const std::string label = e.model.id + (e.options.cache.tp > 1 ? fmt::format(" (tp {})", e.options.cache.tp) : "");
  return breakdown({{bar_label(e, ""), e.memory}},
                   fmt::format("{} on {}, batch {} x context {} tokens; dashed: usable ({:g}%), solid: capacity", label,
                               e.gpu.name, e.workload.batch, e.workload.context, 100 * e.options.gpu_memory_utilization));
}

}  // namespace kvplan
