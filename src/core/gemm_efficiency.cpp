#include "core/gemm_efficiency.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <tuple>

#include "core/error.h"

namespace kvplan {

namespace {

std::string shape(int64_t m, int64_t n, int64_t k) {
  return "(m " + std::to_string(m) + ", n " + std::to_string(n) + ", k " + std::to_string(k) + ")";
}

// Where x falls on a sorted axis: the lower index and the weight of the upper one, in log2 space,
// x clamped to [axis.front(), axis.back()].
std::pair<size_t, double> locate(const std::vector<int64_t>& axis, double x) {
  if (axis.size() == 1 || !(x > static_cast<double>(axis.front()))) return {0, 0.0};
  if (x >= static_cast<double>(axis.back())) return {axis.size() - 2, 1.0};
  const size_t hi = static_cast<size_t>(std::upper_bound(axis.begin(), axis.end(), x,
                                                         [](double v, int64_t a) { return v < static_cast<double>(a); }) -
                                        axis.begin());
  const double lo_v = std::log2(static_cast<double>(axis[hi - 1])), hi_v = std::log2(static_cast<double>(axis[hi]));
  return {hi - 1, (std::log2(x) - lo_v) / (hi_v - lo_v)};
}

// Checks a measured point (positive sizes, an efficiency in (0, 1]) and files it under `where`,
// once: the checks every list of GEMM points shares, each error naming the preset key.
void add_point(std::map<std::tuple<int64_t, int64_t, int64_t>, double>& at,
               const std::tuple<int64_t, int64_t, int64_t>& where, const GemmPoint& p, const std::string& key) {
  if (p.m <= 0 || p.n <= 0 || p.k <= 0)
    throw Error(key + " point " + shape(p.m, p.n, p.k) + ": m, n and k must be positive");
  if (!(p.efficiency > 0 && p.efficiency <= 1))
    throw Error(key + " point " + shape(p.m, p.n, p.k) + ": efficiency must be in (0, 1]");
  if (!at.emplace(where, p.efficiency).second) throw Error(key + " point " + shape(p.m, p.n, p.k) + " is given twice");
}

}  // namespace

GemmGrid gemm_grid(const std::vector<GemmPoint>& points, const std::string& key) {
  GemmGrid g;
  if (points.empty()) return g;
  std::map<std::tuple<int64_t, int64_t, int64_t>, double> at;
  for (const GemmPoint& p : points) {
    add_point(at, {p.m, p.n, p.k}, p, key);
    g.m.push_back(p.m);
    g.n.push_back(p.n);
    g.k.push_back(p.k);
  }
  for (std::vector<int64_t>* axis : {&g.m, &g.n, &g.k}) {
    std::sort(axis->begin(), axis->end());
    axis->erase(std::unique(axis->begin(), axis->end()), axis->end());
  }
  for (int64_t m : g.m)
    for (int64_t n : g.n)
      for (int64_t k : g.k) {
        auto it = at.find({m, n, k});
        if (it == at.end())
          throw Error(key + " is not a full grid over its m, n and k values: " + shape(m, n, k) + " is missing");
        g.efficiency.push_back(it->second);
      }
  return g;
}

ShapeTable shape_table(const std::vector<GemmPoint>& points, const std::string& key) {
  ShapeTable t;
  std::map<std::tuple<int64_t, int64_t, int64_t>, double> at;  // by (n, k, m)
  for (const GemmPoint& p : points) add_point(at, {p.n, p.k, p.m}, p, key);
  for (const auto& [nkm, e] : at) t.points.push_back({std::get<2>(nkm), std::get<0>(nkm), std::get<1>(nkm), e});
  return t;
}

std::optional<double> ShapeTable::at(double m, double n, double k) const {
  // The points of (n, k), contiguous and ascending in m.
  const auto same = [&](const GemmPoint& p) {
    return static_cast<double>(p.n) == n && static_cast<double>(p.k) == k;
  };
  const auto first = std::find_if(points.begin(), points.end(), same);
  if (first == points.end()) return std::nullopt;
  const auto last = std::find_if_not(first, points.end(), same);
  std::vector<int64_t> ms;
  for (auto it = first; it != last; ++it) ms.push_back(it->m);
  const auto [i, w] = locate(ms, m);
  const double lo = first[static_cast<std::ptrdiff_t>(i)].efficiency;
  const double hi = first[static_cast<std::ptrdiff_t>(std::min(i + 1, ms.size() - 1))].efficiency;
  return (1 - w) * lo + w * hi;
}

double interpolate_gemm_efficiency(const GemmGrid& grid, double m, double n, double k) {
  const auto [im, wm] = locate(grid.m, m);
  const auto [in, wn] = locate(grid.n, n);
  const auto [ik, wk] = locate(grid.k, k);
  // Corners along an axis of one point collapse onto it (weight 0 on the missing upper index).
  auto up = [](size_t i, const std::vector<int64_t>& axis) { return std::min(i + 1, axis.size() - 1); };
  double e = 0;
  for (int dm = 0; dm < 2; ++dm)
    for (int dn = 0; dn < 2; ++dn)
      for (int dk = 0; dk < 2; ++dk) {
        const double w = (dm ? wm : 1 - wm) * (dn ? wn : 1 - wn) * (dk ? wk : 1 - wk);
        if (w == 0) continue;
        e += w * grid.at(dm ? up(im, grid.m) : im, dn ? up(in, grid.n) : in, dk ? up(ik, grid.k) : ik);
      }
  return e;
}

namespace {

std::string attention_shape(int64_t tokens, int64_t head_dim) {
  return "(tokens " + std::to_string(tokens) + ", head_dim " + std::to_string(head_dim) + ")";
}

}  // namespace

AttentionGrid attention_grid(const std::vector<AttentionPoint>& points) {
  AttentionGrid g;
  if (points.empty()) return g;
  std::map<std::pair<int64_t, int64_t>, double> at;
  for (const AttentionPoint& p : points) {
    const std::string name = "attention_efficiency point " + attention_shape(p.tokens, p.head_dim);
    if (p.tokens <= 0 || p.head_dim <= 0) throw Error(name + ": tokens and head_dim must be positive");
    if (!(p.efficiency > 0 && p.efficiency <= 1)) throw Error(name + ": efficiency must be in (0, 1]");
    if (!at.emplace(std::pair{p.head_dim, p.tokens}, p.efficiency).second) throw Error(name + " is given twice");
    g.tokens.push_back(p.tokens);
    g.head_dim.push_back(p.head_dim);
  }
  for (std::vector<int64_t>* axis : {&g.tokens, &g.head_dim}) {
    std::sort(axis->begin(), axis->end());
    axis->erase(std::unique(axis->begin(), axis->end()), axis->end());
  }
  for (int64_t d : g.head_dim)
    for (int64_t t : g.tokens) {
      auto it = at.find({d, t});
      if (it == at.end())
        throw Error("attention_efficiency is not a full grid over its tokens and head_dim values: " +
                    attention_shape(t, d) + " is missing");
      g.efficiency.push_back(it->second);
    }
  return g;
}

double interpolate_attention_efficiency(const AttentionGrid& grid, double tokens, double head_dim) {
  const auto [id, wd] = locate(grid.head_dim, head_dim);
  const auto [it, wt] = locate(grid.tokens, tokens);
  auto up = [](size_t i, const std::vector<int64_t>& axis) { return std::min(i + 1, axis.size() - 1); };
  double e = 0;
  for (int dd = 0; dd < 2; ++dd)
    for (int dt = 0; dt < 2; ++dt) {
      const double w = (dd ? wd : 1 - wd) * (dt ? wt : 1 - wt);
      if (w == 0) continue;
      e += w * grid.at(dd ? up(id, grid.head_dim) : id, dt ? up(it, grid.tokens) : it);
    }
  return e;
}

StateTable state_table(const std::vector<StatePoint>& points, const std::string& key) {
  std::map<std::pair<int64_t, int64_t>, double> at;  // by (bits, d_state)
  for (const StatePoint& p : points) {
    const std::string where = key + " point (d_state " + std::to_string(p.d_state) + ", " + std::to_string(p.bits) + " bits)";
    if (p.d_state <= 0) throw Error(where + ": d_state must be positive");
    if (!state_bits_supported(p.bits)) throw Error(where + ": the state must be 16 or 32 bits (fp32, bf16 or fp16)");
    if (!(p.efficiency > 0 && p.efficiency <= 1)) throw Error(where + ": efficiency must be in (0, 1]");
    if (!at.emplace(std::pair{p.bits, p.d_state}, p.efficiency).second) throw Error(where + " is given twice");
  }
  StateTable t;
  for (const auto& [key_bits_d, e] : at) t.points.push_back({key_bits_d.second, key_bits_d.first, e});
  return t;
}

std::optional<double> StateTable::at(int64_t d_state, int64_t bits) const {
  std::vector<int64_t> ds;
  std::vector<double> es;
  for (const StatePoint& p : points)
    if (p.bits == bits) {
      ds.push_back(p.d_state);
      es.push_back(p.efficiency);
    }
  if (ds.empty()) return std::nullopt;
  const auto [i, w] = locate(ds, static_cast<double>(d_state));
  return (1 - w) * es[i] + w * es[std::min(i + 1, ds.size() - 1)];
}

KernelCostCurve kernel_cost_curve(const std::vector<KernelCostPoint>& points, const std::string& key,
                                  const std::string& unit) {
  std::map<int64_t, double> at;
  for (const KernelCostPoint& p : points) {
    const std::string where = key + " point (" + unit + " " + std::to_string(p.size) + ")";
    if (p.size <= 0) throw Error(where + ": " + unit + " must be positive");
    if (!(p.seconds >= 0) || !std::isfinite(p.seconds)) throw Error(where + ": seconds must not be negative");
    if (!at.emplace(p.size, p.seconds).second) throw Error(where + " is given twice");
  }
  KernelCostCurve c;
  for (const auto& [size, seconds] : at) c.points.push_back({size, seconds});
  return c;
}

double KernelCostCurve::at(double size) const {
  std::vector<int64_t> axis;
  for (const KernelCostPoint& p : points) axis.push_back(p.size);
  const auto [i, w] = locate(axis, size);
  return (1 - w) * points[i].seconds + w * points[std::min(i + 1, points.size() - 1)].seconds;
}

}  // namespace kvplan
