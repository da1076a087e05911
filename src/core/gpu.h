// A GPU preset: capacity, datasheet peaks, interconnect, price, and the efficiency model that
// turns roofline floors into expected times (docs/presets.md).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "core/gemm_efficiency.h"
#include "core/offload.h"

namespace kvplan {

// How far below the datasheet a real GPU runs, and the fixed cost per kernel.
// Defaults: docs/timing.md "Efficiency parameters" and docs/presets.md; calibrated presets measure them.
struct Efficiency {
  double bandwidth_fraction = 0.90;  // achievable fraction of memory_bandwidth for large reads
  // Decode attention streaming the KV cache (the decode step's kv_cache component), the SSM and
  // conv state read and written by the decode step's state update (ssm_state), and the one GEMV/GEMM
  // of the vocab x hidden matrix (lm_head); unset: bandwidth_fraction.
  std::optional<double> attention_bandwidth_fraction;
  std::optional<double> state_bandwidth_fraction;
  std::optional<double> lm_head_bandwidth_fraction;
  // A Mamba layer's state update by its rows (`state_efficiency:`, d_state and the state's bits);
  // empty, or no point of the state's width: state_bandwidth_fraction.
  StateTable state_efficiency;
  // The decode step's routed experts, each touched expert's weights read once by a fused MoE kernel
  // (the expert bytes of the weights component); unset: bandwidth_fraction.
  std::optional<double> expert_bandwidth_fraction;
  // The element-wise kernels' activation traffic (fused residual add + RMSNorm, rotary, KV append,
  // gated activation), which reads and writes in one pass; unset: bandwidth_fraction.
  std::optional<double> elementwise_bandwidth_fraction;
  double flops_fraction = 0.70;      // achievable fraction of peak FLOP/s for large GEMMs
  // Measured efficiency by GEMM shape (`gemm_efficiency:`); empty: flops_fraction for every shape.
  GemmGrid gemm_efficiency;
  // The decode step's dense weight GEMMs and lm_head by shape (`weight_stream_efficiency:`): weight
  // bytes / time / datasheet bandwidth of [m, k] x [k, n] at decode-sized m; empty:
  // bandwidth_fraction and lm_head_bandwidth_fraction.
  GemmGrid weight_stream_efficiency;
  // Whole shapes measured apart (`weight_stream_shapes:`, the bundled models' own matrices): a
  // decode weight GEMM of a listed (n, k) takes its shape's points instead of the grid's.
  ShapeTable weight_stream_shapes;
  // The decode step's element-wise kernels, whose activations stay in L2 from one kernel to the
  // next (bytes/s, may exceed the HBM datasheet); unset: elementwise_bandwidth_fraction.
  std::optional<double> decode_elementwise_bytes_per_s;
  // Each of the decode step's element-wise kernels in a CUDA graph of its kind (they start and end
  // sooner than a GEMV); unset: kernel_overhead_s.
  std::optional<double> elementwise_kernel_overhead_s;
  // Each of the decode step's norm kernels (RMSNorm, residual-fused or not: a reduction over the row
  // before the row is written, longer than a point-wise kernel of its bytes); where set,
  // elementwise_kernel_overhead_s is the other element-wise kernels'. Unset: as the others.
  std::optional<double> norm_kernel_overhead_s;
  // Each of the decode step's rotary-embedding kernels (Q and K rotated in place, their cos/sin
  // read by position), by the kernel's (cos, sin) pairs a token (MixerKernels::rotary_pairs; one
  // point: a constant); where set, elementwise_kernel_overhead_s is the kernels that are neither
  // norms nor rotary. Empty: as the others.
  KernelCostCurve rotary_kernel_overhead_s;
  // Each of the decode step's MoE routing kernels (top-k over the router logits, the align of the
  // top-k ids by expert, the weighted combine of each token's k rows: a reduction or a serial scan
  // each, longer the more experts), by the layer's experts (one point: a constant); where set,
  // elementwise_kernel_overhead_s is the rest. Empty: as the others.
  KernelCostCurve moe_routing_kernel_overhead_s;
  // The same for the decode step's attention kernels (split-KV attention and its combine: the
  // kv_cache component), by the bytes one launch moves (one point: a constant); empty:
  // kernel_overhead_s.
  KernelCostCurve attention_kernel_overhead_s;
  double kernel_overhead_s = 4e-6;   // fixed cost per kernel launch (latency + tail)
  // Per kernel, what a whole step's CUDA graph costs beyond its components' kernels run apart
  // (kernels of different kinds one after another): the decode step's `kernel_gaps`, and added
  // to each prefill kernel's cost. 0: kernel_overhead_s covers the whole step.
  double kernel_gap_s = 0;
  // Achievable fraction of peak in attention's matrix work: prefill attention without a grid, and
  // the decode step's attention FLOPs.
  double attention_flops_fraction = 0.50;
  // Measured prefill attention by keys attended and head_dim (`attention_efficiency:`); empty:
  // attention_flops_fraction for every pass.
  AttentionGrid attention_efficiency;
  double allreduce_latency_s = 10e-6;      // fixed cost per all-reduce
  bool calibrated = false;
  double attention_bandwidth() const { return attention_bandwidth_fraction.value_or(bandwidth_fraction); }
  double state_bandwidth() const { return state_bandwidth_fraction.value_or(bandwidth_fraction); }
  // The fraction a selective-state update with `d_state` elements of `bits` bits a row streams
  // at: state_efficiency where it has that width, else state_bandwidth(). d_state 0: a recurrent
  // state other than Mamba's (linear attention), always state_bandwidth().
  double state_bandwidth(int64_t d_state, int64_t bits) const;
  double lm_head_bandwidth() const { return lm_head_bandwidth_fraction.value_or(bandwidth_fraction); }
  double expert_bandwidth() const { return expert_bandwidth_fraction.value_or(bandwidth_fraction); }
  double elementwise_bandwidth() const { return elementwise_bandwidth_fraction.value_or(bandwidth_fraction); }
  // The fraction of peak a weight GEMM [m, k] x [k, n] reaches: the grid interpolated in log space
  // and clamped at its edges, or flops_fraction without a grid.
  double gemm(double m, double n, double k) const;
  // The fraction of the datasheet bandwidth a decode weight GEMM [m, k] x [k, n] streams its
  // weights at: the measured shape's points when (n, k) is listed, else weight_stream_efficiency
  // interpolated and clamped. The grid must not be empty.
  double weight_stream(double m, double n, double k) const;
  // The fraction of the bf16 peak a causal prefill attention pass reaches whose queries attend to
  // up to `tokens` keys at `head_dim`: the grid interpolated and clamped, or attention_flops_fraction.
  double attention(double tokens, double head_dim) const;
};

struct Price {
  double usd_per_gpu_hour = 0;  // 0 = unknown
  std::string date;
  std::string source;
};
// The largest price per GPU-hour kvplan takes (a preset's, --usd-per-gpu-hour, a deploy file's):
// costs stay finite numbers of a sane width.
inline constexpr double kMaxUsdPerGpuHour = 1e6;

struct Gpu {
  std::string id;    // registry id, e.g. "h100-sxm"
  std::string name;  // display name
  std::vector<std::string> aliases;
  int64_t memory_bytes = 0;           // as nvidia-smi reports it
  int64_t cuda_total_bytes = 0;       // as the CUDA driver reports it to the engines (0 = unknown)
  double memory_bandwidth_bytes_per_s = 0;
  std::map<DType, double> peak_flops;  // dense peak FLOP/s per dtype (no structured sparsity)
  double interconnect_bytes_per_s = 0; // per GPU, one direction, scale-up link (0 = none)
  bool nvswitch_sharp = false;         // NVSwitch with NVLink SHARP (Hopper and later SXM): NCCL reserves
                                       // buffers for it when GPUs communicate (tensor parallel)
  HostLink host_link;                  // to the host's memory (KV offload tiers)
  int64_t host_memory_bytes = 0;       // host DRAM (Grace memory) per GPU; 0 = unknown
  Price price;
  Efficiency efficiency;
  std::string source;
  // Where a preset file gave each checked key ("memory_bytes", "efficiency.kernel_overhead_s"), so
  // that check_gpu reports a bad value at its file:line:col; empty for a Gpu built in code.
  std::map<std::string, SourcePos> key_pos;
  SourcePos pos(const std::string& key) const;
  // Peak dense FLOP/s for math in dtype d; falls back to bf16/fp16 for formats without units.
  double peak_flops_for(DType d) const;
};

void check_gpu(const Gpu& gpu);

}  // namespace kvplan
