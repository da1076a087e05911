// Efficiency by shape: a preset's measured grids of GEMMs, (m, n, k) -> fraction of the dense
// peak, of prefill attention, (tokens, head_dim) -> fraction of the bf16 peak, and of the decode
// step's selective-state update, (d_state, state bits) -> fraction of the datasheet bandwidth, each
// interpolated in log space (docs/timing.md "GEMM efficiency by shape", "Prefill attention by length",
// "SSM state by shape").
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace kvplan {

// One measured GEMM: [m, k] x [k, n] ran at `efficiency` of the dense peak.
struct GemmPoint {
  int64_t m = 0;
  int64_t n = 0;
  int64_t k = 0;
  double efficiency = 0;
  bool operator==(const GemmPoint&) const = default;
};

// A full Cartesian product of its m, n and k values (each sorted ascending, distinct), the
// efficiencies m-major: efficiency[(i_m x n.size() + i_n) x k.size() + i_k]. Empty: no grid.
struct GemmGrid {
  std::vector<int64_t> m, n, k;
  std::vector<double> efficiency;
  bool empty() const { return efficiency.empty(); }
  double at(size_t i_m, size_t i_n, size_t i_k) const { return efficiency[(i_m * n.size() + i_n) * k.size() + i_k]; }
  bool operator==(const GemmGrid&) const = default;
};

// The grid of `points`; throws Error for a size that is not positive, an efficiency outside
// (0, 1], a point given twice, or a missing point of the product (each naming the point and the
// grid's preset key `key`).
GemmGrid gemm_grid(const std::vector<GemmPoint>& points, const std::string& key = "gemm_efficiency");

// Trilinear interpolation in log2(m), log2(n), log2(k) over the grid, each coordinate clamped to
// the grid's range (one value along an axis with a single point). The grid must not be empty.
double interpolate_gemm_efficiency(const GemmGrid& grid, double m, double n, double k);

// Measured shapes (`weight_stream_shapes:`): whole (n, k) matrices, each at one or more m, for
// shapes a grid over powers of two cannot see (cuBLAS picks its kernel by the exact shape:
// Qwen2.5-7B's 3584 x 3584 o_proj streams at 0.59 of the H200's datasheet at batch 1 where the
// grid's 4096 x 4096 point says 0.70). Points sorted by (n, k, m), distinct.
struct ShapeTable {
  std::vector<GemmPoint> points;
  bool empty() const { return points.empty(); }
  // The efficiency of the measured shape (n, k) at m, interpolated in log2(m) over its own points
  // and clamped to them; nullopt when (n, k) was not measured.
  std::optional<double> at(double m, double n, double k) const;
  bool operator==(const ShapeTable&) const = default;
};

// The table of `points`; throws Error as gemm_grid does for a size that is not positive, an
// efficiency outside (0, 1] or a point given twice.
ShapeTable shape_table(const std::vector<GemmPoint>& points, const std::string& key);

// One measured prefill attention: a causal pass whose queries attend to up to `tokens` keys, at
// `head_dim` (the query/key head size), ran at `efficiency` of the dense bf16 peak.
struct AttentionPoint {
  int64_t tokens = 0;
  int64_t head_dim = 0;
  double efficiency = 0;
  bool operator==(const AttentionPoint&) const = default;
};

// A full product of its head_dim and tokens values (sorted ascending, distinct), the efficiencies
// head_dim-major: efficiency[i_head_dim x tokens.size() + i_tokens]. Empty: no grid.
struct AttentionGrid {
  std::vector<int64_t> tokens, head_dim;
  std::vector<double> efficiency;
  bool empty() const { return efficiency.empty(); }
  double at(size_t i_head_dim, size_t i_tokens) const { return efficiency[i_head_dim * tokens.size() + i_tokens]; }
  bool operator==(const AttentionGrid&) const = default;
};

// The grid of `points`; throws Error as gemm_grid does (naming the point by tokens and head_dim).
AttentionGrid attention_grid(const std::vector<AttentionPoint>& points);

// Bilinear interpolation in log2(head_dim), log2(tokens), each clamped to the grid's range. The
// grid must not be empty.
double interpolate_attention_efficiency(const AttentionGrid& grid, double tokens, double head_dim);

// One measured selective-state update (a Mamba layer's decode step): state rows of `d_state`
// elements of `bits` bits each (32: fp32, 16: bf16/fp16), read and written, streamed at
// `efficiency` of the datasheet bandwidth.
struct StatePoint {
  int64_t d_state = 0;
  int64_t bits = 0;
  double efficiency = 0;
  bool operator==(const StatePoint&) const = default;
};

// The state widths a StatePoint may have: 16 (bf16/fp16) or 32 (fp32) bits.
constexpr bool state_bits_supported(int64_t bits) { return bits == 16 || bits == 32; }

// Measured state updates (`state_efficiency:`), sorted by (bits, d_state), distinct. The kernel's
// rate depends on the row: Mamba-1's 16-element rows and 16-bit states stream slower per byte
// than Mamba-2's 128-element fp32 rows (docs/validation/README.md, item 9).
struct StateTable {
  std::vector<StatePoint> points;
  bool empty() const { return points.empty(); }
  // The efficiency of a state of `bits`-bit elements with `d_state` per row, interpolated in
  // log2(d_state) over the points of the same width and clamped to them; nullopt when none was
  // measured at that width.
  std::optional<double> at(int64_t d_state, int64_t bits) const;
  bool operator==(const StateTable&) const = default;
};

// The table of `points`; throws Error for a d_state that is not positive, a width other than 16 or
// 32 bits, an efficiency outside (0, 1] or a point given twice (naming the preset key `key`).
StateTable state_table(const std::vector<StatePoint>& points, const std::string& key = "state_efficiency");

// A per-kernel fixed cost that depends on the kernel's size: the bytes one launch moves
// (`attention_kernel_overhead_s`: a decode attention launch of a few MB is mostly fixed cost, and
// that cost grows while the launch is too short to reach its streaming rate), the (cos, sin) pairs
// a token of a rotary kernel (`rotary_kernel_overhead_s`), a MoE layer's experts
// (`moe_routing_kernel_overhead_s`); docs/timing.md "Where the timing stands". Points sorted by
// size, distinct; one point is a constant. Empty: no curve.
struct KernelCostPoint {
  int64_t size = 0;    // bytes a launch, pairs a token, or experts
  double seconds = 0;  // its cost beyond its bytes at the component's rate
  bool operator==(const KernelCostPoint&) const = default;
};
struct KernelCostCurve {
  std::vector<KernelCostPoint> points;
  bool empty() const { return points.empty(); }
  // The cost at `size`, interpolated in log2(size) and clamped to the points. Must not be empty.
  double at(double size) const;
  bool operator==(const KernelCostCurve&) const = default;
};

// The curve of `points`; throws Error for a size that is not positive, a cost that is negative or
// not finite, or a size given twice (naming the preset key `key` and the size's `unit`).
KernelCostCurve kernel_cost_curve(const std::vector<KernelCostPoint>& points, const std::string& key,
                                  const std::string& unit = "bytes");

}  // namespace kvplan
