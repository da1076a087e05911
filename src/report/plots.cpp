#include "report/plots.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <map>
#include <optional>
#include <set>

#include "core/error.h"
#include "report/svg.h"

namespace kvplan {

namespace {

constexpr double kGiB = 1024.0 * 1024 * 1024;

// The Okabe-Ito palette (Okabe & Ito 2008, "Color Universal Design"; hex values as in Wong 2011,
// Nature Methods 8:441), told apart with every common colour-vision deficiency. Ordered so that a
// few series get the strongest contrasts on white; black and the faint yellow come last.
struct PaletteColor {
  const char* line;
  const char* text;  // yellow text on white is unreadable: its labels use a dark yellow
};
constexpr PaletteColor kPalette[] = {{"#0072B2", "#0072B2"}, {"#D55E00", "#D55E00"}, {"#009E73", "#009E73"},
                                     {"#CC79A7", "#CC79A7"}, {"#E69F00", "#E69F00"}, {"#56B4E9", "#56B4E9"},
                                     {"#000000", "#000000"}, {"#F0E442", "#9A8F00"}};
// Solid, dashed, dotted: the second and third round of colours.
constexpr const char* kDashes[] = {"", "10 4", "2.5 3"};
constexpr size_t kColors = std::size(kPalette), kDashCount = std::size(kDashes);
static_assert(kColors * kDashCount >= kMaxPlotSeries);
constexpr Marker kMarkers[] = {Marker::circle, Marker::square, Marker::triangle};

// Chart geometry: the plot area inside the margins; labels or the legend sit right of it.
constexpr double kWidth = 960, kHeight = 540;
constexpr double kLeft = 90, kRight = 700, kTop = 60, kBottom = 470;
// Where the key (direct labels or legend) starts: its swatch, then the text.
constexpr double kKeyLeft = kRight + 16, kKeySwatch = 26, kKeyText = kKeyLeft + kKeySwatch + 6;
const TextStyle kKeyFont{12, "start", "#222"};
// Direct labels may move this far from their line's end before a legend is drawn instead.
constexpr double kMaxNudge = 48;
const Stroke kCapacityStroke{"#555", 1.5, "12 4 3 4"};

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

// One entry of a plot's key: a series (line, dash, marker), a reference line, or a filled box.
struct KeyEntry {
  std::string label;
  Stroke line;                      // the swatch's line
  std::string text_color = "#222";
  std::optional<Marker> marker;
  std::string box_fill;             // non-empty: a filled box instead of a line
  std::optional<std::pair<double, double>> end;  // where the entry's line ends in the plot area
};

void draw_marker(Svg& svg, double x, double y, Marker marker, const SeriesStyle& style, bool filled) {
  const Stroke ring{style.label_color, 1.5, ""};
  const std::string fill = filled ? style.color : "#fff";
  switch (marker) {
    case Marker::circle: svg.circle(x, y, 3.5, fill, &ring); break;
    case Marker::square: svg.rect(x - 3.2, y - 3.2, 6.4, 6.4, fill, &ring); break;
    case Marker::triangle: svg.polygon({{x, y - 4.5}, {x - 4.2, y + 3}, {x + 4.2, y + 3}}, fill, &ring); break;
  }
}

double text_width(const std::string& text, const TextStyle& style) {
  const TextBox b = text_box(0, 0, text, style);
  return b.right - b.left;
}

// The baseline that centres a line of text of `size` at `center` (text_box: 0.76 above, 0.24 below).
double baseline_for(double center, double size) { return center + 0.26 * size; }

// Centres for labels `height` tall, at least `pitch` apart inside [lo, hi], each as near as it can
// be to where it wants to sit: labels that crowd form a run centred on their wanted places (the
// least-squares position), runs that then touch merge. nullopt when they cannot all fit or one
// would move more than `max_move` from its wanted place.
std::optional<std::vector<double>> place_in_column(const std::vector<double>& wanted, double height, double pitch,
                                                   double lo, double hi, double max_move) {
  const size_t n = wanted.size();
  if (n == 0) return std::vector<double>{};
  if (height + pitch * static_cast<double>(n - 1) > hi - lo) return std::nullopt;
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return wanted[a] < wanted[b]; });
  struct Run {
    size_t first, count;
    double sum;  // of wanted[k] - (position in run) x pitch: the run's first centre is their mean
    double top = 0;
  };
  const auto settle = [&](Run& r) {
    const double last_max = hi - height / 2 - pitch * static_cast<double>(r.count - 1);
    r.top = std::clamp(r.sum / static_cast<double>(r.count), lo + height / 2, last_max);
  };
  std::vector<Run> runs;
  for (size_t k = 0; k < n; ++k) {
    runs.push_back({k, 1, wanted[order[k]]});
    settle(runs.back());
    while (runs.size() > 1) {
      Run& prev = runs[runs.size() - 2];
      const Run& last = runs.back();
      if (prev.top + pitch * static_cast<double>(prev.count) <= last.top) break;
      prev.sum += last.sum - pitch * static_cast<double>(prev.count) * static_cast<double>(last.count);
      prev.count += last.count;
      runs.pop_back();
      settle(runs.back());
    }
  }
  std::vector<double> at(n);
  for (const Run& r : runs)
    for (size_t j = 0; j < r.count; ++j) {
      const size_t i = order[r.first + j];
      at[i] = r.top + pitch * static_cast<double>(j);
      if (std::abs(at[i] - wanted[i]) > max_move) return std::nullopt;
    }
  return at;
}

// The key's layout: direct labels (each entry beside its line's end, moved as little as needed)
// when every entry has an end and they fit, else a legend in entry order.
struct KeyLayout {
  std::vector<double> centers;
  bool direct = false;
};

KeyLayout layout_key(const std::vector<KeyEntry>& entries) {
  std::vector<double> wanted;
  for (const KeyEntry& e : entries)
    if (e.end) wanted.push_back(e.end->second);
  if (!entries.empty() && wanted.size() == entries.size())
    if (auto at = place_in_column(wanted, kKeyFont.size, kKeyFont.size + 3, kTop - 4, kBottom + 10, kMaxNudge))
      return {*at, true};
  KeyLayout legend;
  for (size_t i = 0; i < entries.size(); ++i) legend.centers.push_back(kTop + 8 + 18 * static_cast<double>(i));
  return legend;
}

// The canvas width that holds the key right of `key_left`.
double width_with_key(const std::vector<KeyEntry>& entries, double key_left) {
  double text = 0;
  for (const KeyEntry& e : entries) text = std::max(text, text_width(e.label, kKeyFont));
  return std::max(kWidth, key_left + kKeySwatch + 6 + text + 14);
}

void draw_key(Svg& svg, const std::vector<KeyEntry>& entries, const KeyLayout& layout, double key_left) {
  if (entries.empty()) return;
  const double text_x = key_left + kKeySwatch + 6;
  if (!layout.direct) {  // a framed legend
    double text = 0;
    for (const KeyEntry& e : entries) text = std::max(text, text_width(e.label, kKeyFont));
    const Stroke frame{"#ccc", 1, ""};
    svg.rect(key_left - 6, layout.centers.front() - 12, text_x + text + 8 - (key_left - 6),
             layout.centers.back() - layout.centers.front() + 24, "#fff", &frame);
  }
  for (size_t i = 0; i < entries.size(); ++i) {
    const KeyEntry& e = entries[i];
    const double c = layout.centers[i];
    if (layout.direct && e.end) svg.line(e.end->first + 5, e.end->second, key_left - 3, c, {e.line.color, 1, ""});
    if (!e.box_fill.empty()) {
      const Stroke outline{"#999", 0.5, ""};
      svg.rect(key_left + 6, c - 6, 14, 12, e.box_fill, &outline);
    } else {
      svg.line(key_left, c, key_left + kKeySwatch, c, e.line);
      if (e.marker)
        draw_marker(svg, key_left + kKeySwatch / 2, c, *e.marker, {e.line.color, e.text_color, "", *e.marker}, true);
    }
    TextStyle font = kKeyFont;
    font.color = e.text_color;
    svg.text(text_x, baseline_for(c, font.size), e.label, font);
  }
}

// Says, under the plot, how many series (or bars) of the sweep were left out.
void draw_left_out(Svg& svg, double y, size_t left_out, const char* what) {
  if (left_out == 0) return;
  svg.text(kLeft, y, fmt::format("{} more {} not drawn: a plot shows the first {}, in sweep order", left_out, what,
                                 kMaxPlotSeries),
           {11, "start", "#666"});
}

std::string gib_label(double gib) { return gib >= 10 ? fmt::format("{:.0f} GiB", gib) : fmt::format("{:.1f} GiB", gib); }

// Labels that tell the sweep's cases apart: the parts that differ between them.
std::vector<std::string> case_labels(const std::vector<SweepCase>& cases) {
  auto offload_label = [](const MemoryOptions& o) {
    if (!o.offload.enabled()) return std::string("no offload");
    const std::string amount = o.offload.fraction > 0 ? fmt::format("{:g}%", 100 * o.offload.fraction)
                                                      : gib_label(static_cast<double>(o.offload.bytes) / kGiB);
    return amount + " in " + name(o.offload.tier);
  };
  std::set<std::string> models, gpus, kvs, tps, branches, offloads;
  for (const SweepCase& c : cases) {
    models.insert(c.model.id);
    gpus.insert(c.gpu.id);
    kvs.insert(name(c.options.cache.kv_dtype));
    tps.insert(std::to_string(c.options.cache.tp));
    branches.insert(std::to_string(c.options.sharing.branches));
    offloads.insert(offload_label(c.options));
  }
  std::vector<std::string> out;
  for (const SweepCase& c : cases) {
    std::string s = c.model.id;
    if (gpus.size() > 1) s += " on " + c.gpu.id;
    if (kvs.size() > 1) s += ", KV " + std::string(name(c.options.cache.kv_dtype));
    if (tps.size() > 1) s += ", tp " + std::to_string(c.options.cache.tp);
    if (branches.size() > 1) s += fmt::format(", {} branch{}", c.options.sharing.branches, c.options.sharing.branches == 1 ? "" : "es");
    if (offloads.size() > 1) s += ", " + offload_label(c.options);
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

void draw_series(Svg& svg, const Frame& f, const Series& s, const SeriesStyle& style) {
  std::vector<std::pair<double, double>> pts;
  for (const Point& p : s.points) pts.emplace_back(f.x.map(p.x), f.y.map(p.y));
  svg.polyline(pts, {style.color, 2.5, style.dash});
  if (s.points.size() <= 64)
    for (const Point& p : s.points) draw_marker(svg, f.x.map(p.x), f.y.map(p.y), style.marker, style, p.fits);
}

// The key entry of series i: its style, and the pixel position of its rightmost point.
KeyEntry series_key(const Frame& f, const Series& s, size_t i, const std::string& label) {
  const SeriesStyle style = series_style(i);
  KeyEntry e{label, {style.color, 2.5, style.dash}, style.label_color, style.marker, "", std::nullopt};
  const auto right =
      std::max_element(s.points.begin(), s.points.end(), [](const Point& a, const Point& b) { return a.x < b.x; });
  if (right != s.points.end()) e.end = std::make_pair(f.x.map(right->x), f.y.map(right->y));
  return e;
}

std::pair<double, double> padded_log_range(double lo, double hi) {
  if (!(lo > 0)) lo = hi > 0 ? hi / 10 : 1;
  if (!(hi > lo)) hi = lo * 10;
  return {std::pow(10, std::floor(std::log10(lo))), std::pow(10, std::ceil(std::log10(hi)))};
}

struct SeriesSet {
  std::vector<Series> series;
  size_t left_out = 0;  // series past kMaxPlotSeries
};

// One series per (case, value of the other axis), in first-seen order, at most kMaxPlotSeries; each
// point from `point` (nullopt: nothing to draw). The knee and memory limit come with the series.
template <typename Key, typename Suffix, typename MakePoint>
SeriesSet collect_series(const std::vector<SweepCase>& cases, const SweepAxes& axes, Key key_of, Suffix label_suffix,
                         MakePoint point) {
  const std::vector<std::string> labels = case_labels(cases);
  constexpr size_t kLeftOut = SIZE_MAX;
  std::map<std::pair<size_t, int64_t>, size_t> index;  // (case, key) -> series, or kLeftOut
  SeriesSet out;
  for_each_point(cases, axes, [&](size_t c, const Estimate& e) {
    const auto key = std::make_pair(c, key_of(e));
    auto it = index.find(key);
    if (it == index.end()) {
      if (out.series.size() >= kMaxPlotSeries) {
        index.emplace(key, kLeftOut);
        ++out.left_out;
        return;
      }
      it = index.emplace(key, out.series.size()).first;
      out.series.push_back({labels[c] + label_suffix(e), {}, c, e.decode.compute_bound_batch, e.memory.max_batch});
    }
    if (it->second == kLeftOut) return;
    if (const std::optional<Point> p = point(e)) out.series[it->second].points.push_back(*p);
  });
  return out;
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

// A text with its place and style, decided before it is drawn.
struct PlacedText {
  double x, y;
  std::string text;
  TextStyle style;
};

bool clear_of(const TextBox& box, const std::vector<TextBox>& taken) {
  return std::none_of(taken.begin(), taken.end(), [&](const TextBox& t) {
    return box.overlaps({t.left - 2, t.top - 1, t.right + 2, t.bottom + 1});
  });
}

std::string memory_vs_context(const std::vector<SweepCase>& cases, const SweepAxes& axes) {
  const bool per_batch = axes.batches.size() > 1;
  const SeriesSet set = collect_series(
      cases, axes, [](const Estimate& e) { return e.workload.batch; },
      [&](const Estimate& e) { return per_batch ? fmt::format(", batch {}", e.workload.batch) : std::string(); },
      [](const Estimate& e) -> std::optional<Point> {
        const double bytes = static_cast<double>(e.memory.kv_cache_bytes + e.memory.state_bytes);
        if (!(bytes > 0)) return std::nullopt;
        return Point{static_cast<double>(e.workload.context), bytes / kGiB, e.memory.fits};
      });
  const std::vector<Series>& series = set.series;
  auto [y_lo, y_hi] = y_extent(series);
  // One capacity line per capacity as labelled (GPUs within half a GiB share a pixel row), labelled
  // once with every GPU that has it.
  struct Capacity {
    double gib;
    std::vector<std::string> gpus;  // names, in sweep order
  };
  std::map<std::string, Capacity> by_label;  // gib_label -> line
  for (const SweepCase& c : cases) {
    const double gib = static_cast<double>(c.gpu.memory_bytes) / kGiB;
    Capacity& line = by_label.try_emplace(gib_label(gib), Capacity{gib, {}}).first->second;
    if (std::find(line.gpus.begin(), line.gpus.end(), c.gpu.name) == line.gpus.end()) line.gpus.push_back(c.gpu.name);
  }
  std::vector<std::pair<std::string, Capacity>> capacity(by_label.begin(), by_label.end());
  std::sort(capacity.begin(), capacity.end(), [](const auto& a, const auto& b) { return a.second.gib < b.second.gib; });
  for (const auto& [label, line] : capacity) y_hi = std::max(y_hi, line.gib), y_lo = std::min(y_lo, line.gib);
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

  // Capacity labels sit just above their lines at the left; when they cannot (too many, too long)
  // the lines join the key instead.
  std::vector<KeyEntry> key;
  for (size_t i = 0; i < series.size(); ++i) key.push_back(series_key(f, series[i], i, series[i].label));
  const TextStyle capacity_font{11, "start", "#222", false, 0, true};
  std::vector<std::string> capacity_text;
  std::vector<double> capacity_y, wanted;
  for (const auto& [gib_text, line] : capacity) {
    std::string names;
    for (const std::string& g : line.gpus) names += (names.empty() ? "" : ", ") + g;
    capacity_text.push_back(fmt::format("{} capacity {}", names, gib_text));
    capacity_y.push_back(f.y.map(line.gib));
    wanted.push_back(capacity_y.back() - 6 - 0.26 * capacity_font.size);
  }
  std::optional<std::vector<double>> at =
      place_in_column(wanted, capacity_font.size, capacity_font.size + 2, kTop, kBottom, 40);
  for (const std::string& t : capacity_text)
    if (kLeft + 6 + text_width(t, capacity_font) > kRight - 4) at.reset();
  if (!at)
    for (size_t i = 0; i < capacity_text.size(); ++i)
      key.push_back(
          {capacity_text[i], kCapacityStroke, "#222", std::nullopt, "", std::make_pair(kRight, capacity_y[i])});

  const KeyLayout layout = layout_key(key);
  Svg svg(width_with_key(key, kKeyLeft), kHeight);
  draw_frame(svg, f);
  for (const double y : capacity_y) svg.line(kLeft, y, kRight, y, kCapacityStroke);
  for (size_t i = 0; i < series.size(); ++i) draw_series(svg, f, series[i], series_style(i));
  if (at)
    for (size_t i = 0; i < capacity_text.size(); ++i)
      svg.text(kLeft + 6, baseline_for((*at)[i], capacity_font.size), capacity_text[i], capacity_font);
  draw_key(svg, key, layout, kKeyLeft);
  draw_left_out(svg, kBottom + 64, set.left_out, "series");
  svg.grow_to_fit_text(8);
  return svg.str();
}

std::string throughput_vs_batch(const std::vector<SweepCase>& cases, const SweepAxes& axes) {
  const bool per_context = axes.contexts.size() > 1;
  const SeriesSet set = collect_series(
      cases, axes, [](const Estimate& e) { return e.workload.context; },
      [&](const Estimate& e) {
        return per_context ? ", context " + token_label(static_cast<double>(e.workload.context)) : std::string();
      },
      [](const Estimate& e) -> std::optional<Point> {
        if (!(e.decode.tokens_per_s > 0)) return std::nullopt;
        return Point{static_cast<double>(e.workload.batch), e.decode.tokens_per_s, e.memory.fits};
      });
  const std::vector<Series>& series = set.series;
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

  // One vertical line per distinct (knee or memory limit, batch), in its series' colour (grey when
  // series share it), labelled once.
  std::map<std::pair<bool, int64_t>, std::vector<size_t>> marks;  // (is knee, batch) -> series
  const auto in_range = [&](int64_t b) { return static_cast<double>(b) >= f.x.lo && static_cast<double>(b) <= f.x.hi; };
  for (size_t i = 0; i < series.size(); ++i) {
    if (in_range(series[i].max_batch)) marks[{false, series[i].max_batch}].push_back(i);
    if (series[i].knee && in_range(*series[i].knee)) marks[{true, *series[i].knee}].push_back(i);
  }
  const auto mark_text = [](bool knee, int64_t batch) {
    return knee ? fmt::format("compute-bound from {}", batch) : fmt::format("fits up to batch {}", batch);
  };

  Svg frame_only(kWidth, kHeight);  // the frame's texts, which mark labels must stay clear of
  draw_frame(frame_only, f);
  // Mark labels go in rows up from the bottom of the plot area, beside their lines, clear of each
  // other; past a few rows they would hide the curves, so the numbers move into the series' labels.
  constexpr size_t kMarkRows = 6;
  std::vector<TextBox> taken = frame_only.text_boxes();
  std::vector<PlacedText> mark_labels;
  bool marks_labelled = true;
  for (auto it = marks.rbegin(); it != marks.rend() && marks_labelled; ++it) {
    const auto& [key, users] = *it;
    const double x = f.x.map(static_cast<double>(key.second));
    const std::string color = users.size() == 1 ? series_style(users.front()).label_color : "#333";
    bool placed = false;
    for (size_t row = 0; row < kMarkRows && !placed; ++row)
      for (const char* anchor : {"end", "start"}) {
        const PlacedText t{std::string(anchor) == "end" ? x - 4 : x + 4, kBottom - 8 - 13 * static_cast<double>(row),
                           mark_text(key.first, key.second), {10, anchor, color, false, 0, true}};
        const TextBox box = text_box(t.x, t.y, t.text, t.style);
        if (box.left < kLeft + 2 || box.right > kRight - 2 || !clear_of(box, taken)) continue;
        taken.push_back(box);
        mark_labels.push_back(t);
        placed = true;
        break;
      }
    marks_labelled = placed;
  }

  std::vector<KeyEntry> key;
  for (size_t i = 0; i < series.size(); ++i) {
    std::string label = series[i].label;
    if (!marks_labelled) {
      std::vector<std::string> notes;
      if (series[i].knee && in_range(*series[i].knee)) notes.push_back(mark_text(true, *series[i].knee));
      if (in_range(series[i].max_batch)) notes.push_back(mark_text(false, series[i].max_batch));
      for (size_t n = 0; n < notes.size(); ++n) label += (n == 0 ? " (" : "; ") + notes[n];
      if (!notes.empty()) label += ")";
    }
    key.push_back(series_key(f, series[i], i, label));
  }
  const KeyLayout layout = layout_key(key);
  Svg svg(width_with_key(key, kKeyLeft), kHeight);
  draw_frame(svg, f);
  for (const auto& [mark, users] : marks) {
    const double x = f.x.map(static_cast<double>(mark.second));
    const std::string color = users.size() == 1 ? series_style(users.front()).color : "#444";
    svg.line(x, kTop, x, kBottom, mark.first ? Stroke{color, 1.5, "2 4"} : Stroke{color, 1, ""});
  }
  for (size_t i = 0; i < series.size(); ++i) draw_series(svg, f, series[i], series_style(i));
  if (marks_labelled)
    for (const PlacedText& t : mark_labels) svg.text(t.x, t.y, t.text, t.style);
  draw_key(svg, key, layout, kKeyLeft);
  draw_left_out(svg, kBottom + 64, set.left_out, "series");
  svg.grow_to_fit_text(8);
  return svg.str();
}

struct Bar {
  std::string label;
  MemoryPlan memory;
};

std::string breakdown(const std::vector<Bar>& bars, size_t left_out, const std::string& subtitle) {
  struct Part {
    const char* name;
    const char* color;
    int64_t MemoryPlan::*bytes;
  };
  // Okabe-Ito colours, as for the series.
  const Part parts[] = {{"weights", "#0072B2", &MemoryPlan::weights_bytes},
                        {"KV cache", "#E69F00", &MemoryPlan::kv_cache_bytes},
                        {"SSM state", "#009E73", &MemoryPlan::state_bytes},
                        {"activations", "#CC79A7", &MemoryPlan::activation_bytes}};
  double x_hi = 0;
  for (const Bar& b : bars)
    x_hi = std::max({x_hi, static_cast<double>(b.memory.capacity_bytes), static_cast<double>(b.memory.total_bytes)});
  x_hi /= kGiB;
  // The bars start right of their longest label; the bar area keeps its width.
  const TextStyle bar_font{12, "end", "#222"};
  double label_width = 0;
  for (const Bar& b : bars) label_width = std::max(label_width, text_width(b.label, bar_font));
  const double area_left = std::max(kLeft + 150, label_width + 24), area_right = area_left + (kRight - kLeft - 150);
  Frame f;
  f.title = "Memory per GPU";
  f.subtitle = subtitle;
  f.x_label = "GiB per GPU";
  f.x = {0, x_hi * 1.05, false, area_left, area_right};
  f.x_ticks = linear_ticks(0, f.x.hi);
  std::vector<KeyEntry> key;
  for (const Part& p : parts) key.push_back({p.name, {}, "#222", std::nullopt, p.color, std::nullopt});
  key.push_back({"free (of usable)", {}, "#222", std::nullopt, "#f4f4f4", std::nullopt});
  key.push_back({"usable (utilization)", {"#222", 1.5, "4 3"}, "#222", std::nullopt, "", std::nullopt});
  key.push_back({"GPU capacity", {"#222", 2, ""}, "#222", std::nullopt, "", std::nullopt});
  const double key_left = area_right + 16;
  // Height follows the number of bars: one 64-pixel slot each (at least room for the legend).
  const double slot = 64;
  const double bottom = kTop + std::max(slot * static_cast<double>(bars.size()), 150.0);
  Svg svg(width_with_key(key, key_left), bottom + 70);
  svg.text(kLeft, 28, f.title, {17, "start", "#111", true});
  svg.text(kLeft, 48, f.subtitle, {12, "start", "#555"});
  for (const Tick& t : f.x_ticks) {
    const double x = f.x.map(t.value);
    svg.line(x, kTop, x, bottom, {"#e3e3e3", 1, ""});
    svg.text(x, bottom + 18, t.label, {11, "middle", "#333"});
  }
  svg.line(area_left, bottom, area_right, bottom, {"#444", 1, ""});
  svg.text((area_left + area_right) / 2, bottom + 44, f.x_label, {13, "middle", "#222"});
  const double height = 30;
  for (size_t i = 0; i < bars.size(); ++i) {
    const MemoryPlan& m = bars[i].memory;
    const double y = kTop + slot * static_cast<double>(i) + 8;
    svg.text(area_left - 10, y + height / 2 + 4, bars[i].label, bar_font);
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
  draw_key(svg, key, layout_key(key), key_left);
  draw_left_out(svg, bottom + 64, left_out, "bars");
  svg.grow_to_fit_text(8);
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

SeriesStyle series_style(size_t i) {
  // Colour changes fastest, then the dash pattern; the marker steps with both, so the three series
  // of one colour (i, i + 8, i + 16) also have three different markers.
  const size_t color = i % kColors, round = i / kColors;
  return {kPalette[color].line, kPalette[color].text, kDashes[round % kDashCount],
          kMarkers[(color + round) % std::size(kMarkers)]};
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
  size_t left_out = 0;
  for_each_point(cases, axes, [&](size_t c, const Estimate& e) {
    if (bars.size() < kMaxPlotSeries)
      bars.push_back({bar_label(e, labels[c] + ": "), e.memory});
    else
      ++left_out;
  });
  return breakdown(bars, left_out, "batch x context per bar; dashed: usable (gpu_memory_utilization), solid: capacity");
}

std::string plot_queue(const std::vector<QueuePoint>& queue, const std::string& subtitle) {
  Series waiting{"waiting", {}, 0, std::nullopt, 0}, running{"running", {}, 0, std::nullopt, 0};
  double t_hi = 0, n_hi = 0;
  for (const QueuePoint& q : queue) {
    waiting.points.push_back({q.time_s, static_cast<double>(q.waiting), true});
    running.points.push_back({q.time_s, static_cast<double>(q.running), true});
    t_hi = std::max(t_hi, q.time_s);
    n_hi = std::max({n_hi, static_cast<double>(q.waiting), static_cast<double>(q.running)});
  }
  Frame f;
  f.title = "Requests waiting and running over time";
  f.subtitle = subtitle;
  f.x_label = "time (s)";
  f.y_label = "requests (most in each interval)";
  f.x = {0, t_hi > 0 ? t_hi : 1, false, kLeft + 10, kRight - 10};
  f.y = {0, std::max(5.0, n_hi * 1.08), false, kBottom, kTop};
  f.x_ticks = linear_ticks(f.x.lo, f.x.hi);
  f.y_ticks = linear_ticks(f.y.lo, f.y.hi);
  const std::vector<KeyEntry> key{series_key(f, waiting, 0, "waiting"), series_key(f, running, 1, "running")};
  const KeyLayout layout = layout_key(key);
  Svg svg(width_with_key(key, kKeyLeft), kHeight);
  draw_frame(svg, f);
  draw_series(svg, f, waiting, series_style(0));
  draw_series(svg, f, running, series_style(1));
  draw_key(svg, key, layout, kKeyLeft);
  svg.grow_to_fit_text(8);
  return svg.str();
}

std::string plot_estimate(const Estimate& e) {
  const std::string label = e.model.id + (e.options.cache.tp > 1 ? fmt::format(" (tp {})", e.options.cache.tp) : "");
  return breakdown({{bar_label(e, ""), e.memory}}, 0,
                   fmt::format("{} on {}, batch {} x context {} tokens; dashed: usable ({:g}%), solid: capacity", label,
                               e.gpu.name, e.workload.batch, e.workload.context, 100 * e.options.gpu_memory_utilization));
}

}  // namespace kvplan
