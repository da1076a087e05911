// kvplan's pictures, as SVG text (docs/plots.md): KV cache + state vs context per model with the
// GPU's capacity, a stacked memory breakdown, decode tokens/s vs batch with the memory/compute knee,
// and a simulation's queue over time.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "core/estimate.h"
#include "core/simulate.h"
#include "report/sweep_rows.h"

namespace kvplan {

// The most lines (or bars) one plot draws: the first in sweep order; the plot says how many more
// the sweep held. 24 = 8 colours x 3 dash patterns, so every drawn series has a style of its own.
constexpr size_t kMaxPlotSeries = 24;

enum class Marker { circle, square, triangle };

// How series i is drawn: colour, dash pattern and marker shape, no two alike for i < kMaxPlotSeries.
struct SeriesStyle {
  std::string color;        // line and marker
  std::string label_color;  // text in the series' colour (darker where the colour is faint on white)
  std::string dash;         // SVG stroke-dasharray, "" = solid
  Marker marker = Marker::circle;
};
SeriesStyle series_style(size_t i);

// --plot-kind values: auto, memory-vs-context, breakdown, throughput.
std::vector<std::string> plot_kinds();
// A plot of a sweep. auto: memory-vs-context when several contexts, else throughput when several
// batches, else breakdown. At most kMaxPlotSeries series (or bars) are drawn, the first in sweep order.
std::string plot_sweep(const std::vector<SweepCase>& cases, const SweepAxes& axes, const std::string& kind);
// The requests waiting and running over a simulation's time (`kvplan plan --simulate --plot`): one
// point per entry of the queue series, each the most in its interval.
std::string plot_queue(const std::vector<QueuePoint>& queue, const std::string& subtitle);
// The stacked memory breakdown of one estimate (`kvplan estimate --plot`).
std::string plot_estimate(const Estimate& e);

// Axis tick labels: 1024 -> "1k", 1048576 -> "1M", 1536 -> "1536"; GiB values "0.5", "80".
std::string token_label(double tokens);

}  // namespace kvplan
