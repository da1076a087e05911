#include "core/gpu.h"

#include "core/dtype.h"
#include "core/error.h"

namespace kvplan {

SourcePos Gpu::pos(const std::string& key) const {
  if (auto it = key_pos.find(key); it != key_pos.end()) return it->second;
  if (auto it = key_pos.find(""); it != key_pos.end()) return it->second;  // the file, without a line
  return {};
}

double Efficiency::gemm(double m, double n, double k) const {
  return gemm_efficiency.empty() ? flops_fraction : interpolate_gemm_efficiency(gemm_efficiency, m, n, k);
}

double Efficiency::weight_stream(double m, double n, double k) const {
  if (const std::optional<double> e = weight_stream_shapes.at(m, n, k)) return *e;
  return interpolate_gemm_efficiency(weight_stream_efficiency, m, n, k);
}

double Efficiency::state_bandwidth(int64_t d_state, int64_t bits) const {
  if (d_state > 0)
    if (const std::optional<double> e = state_efficiency.at(d_state, bits)) return *e;
  return state_bandwidth();
}

double Efficiency::attention(double tokens, double head_dim) const {
  return attention_efficiency.empty() ? attention_flops_fraction
                                      : interpolate_attention_efficiency(attention_efficiency, tokens, head_dim);
}

double Gpu::peak_flops_for(DType d) const {
  if (auto it = peak_flops.find(d); it != peak_flops.end()) return it->second;
  // Formats without their own units run on the 16-bit tensor cores (weights dequantized).
  for (DType f : {DType::bf16, DType::fp16, DType::fp32})
    if (auto it = peak_flops.find(f); it != peak_flops.end()) return it->second;
  return 0;
}

void check_gpu(const Gpu& gpu) {
  const std::string who = "gpu '" + gpu.id + "': ";
  auto fail = [&](const std::string& key, const std::string& what) { throw Error(who + what, gpu.pos(key)); };
  if (gpu.memory_bytes <= 0) fail("memory_bytes", "memory_bytes must be positive");
  if (gpu.memory_bytes > (int64_t{1} << 50)) fail("memory_bytes", "memory_bytes above 1 PiB is not a GPU");
  // Rates far outside any accelerator's (1 GB/s .. 1 PB/s, 1 GFLOP/s .. 1 EFLOP/s) would print
  // times of 1e300 s or 0; they are typos.
  if (!(gpu.memory_bandwidth_bytes_per_s > 0))
    fail("memory_bandwidth_bytes_per_s", "memory_bandwidth_bytes_per_s must be positive");
  if (!(gpu.memory_bandwidth_bytes_per_s >= 1e9 && gpu.memory_bandwidth_bytes_per_s <= 1e15))
    fail("memory_bandwidth_bytes_per_s", "memory_bandwidth_bytes_per_s must be between 1e9 and 1e15 bytes/s");
  if (gpu.peak_flops_for(DType::bf16) <= 0) fail("peak_flops", "peak_flops needs at least bf16, fp16 or fp32");
  for (const auto& [dtype, flops] : gpu.peak_flops)
    if (!(flops >= 1e9 && flops <= 1e18))
      fail("peak_flops", std::string("peak_flops.") + name(dtype) + " must be between 1e9 and 1e18 FLOP/s");
  if (!(gpu.interconnect_bytes_per_s >= 0)) fail("interconnect_bytes_per_s", "interconnect_bytes_per_s must not be negative");
  if (gpu.interconnect_bytes_per_s > 1e15)
    fail("interconnect_bytes_per_s", "interconnect_bytes_per_s must be at most 1e15 bytes/s");
  if (!(gpu.price.usd_per_gpu_hour >= 0)) fail("price.usd_per_gpu_hour", "price.usd_per_gpu_hour must not be negative");
  if (gpu.price.usd_per_gpu_hour > kMaxUsdPerGpuHour)
    fail("price.usd_per_gpu_hour", "price.usd_per_gpu_hour must be at most 1e6");
  const Efficiency& e = gpu.efficiency;
  auto fraction = [&](double v, const std::string& key) {
    if (!(v > 0 && v <= 1)) fail("efficiency." + key, "efficiency." + key + " must be in (0, 1]");
  };
  fraction(e.bandwidth_fraction, "bandwidth_fraction");
  fraction(e.flops_fraction, "flops_fraction");
  fraction(e.attention_flops_fraction, "attention_flops_fraction");
  if (e.attention_bandwidth_fraction) fraction(*e.attention_bandwidth_fraction, "attention_bandwidth_fraction");
  if (e.state_bandwidth_fraction) fraction(*e.state_bandwidth_fraction, "state_bandwidth_fraction");
  if (e.lm_head_bandwidth_fraction) fraction(*e.lm_head_bandwidth_fraction, "lm_head_bandwidth_fraction");
  if (e.expert_bandwidth_fraction) fraction(*e.expert_bandwidth_fraction, "expert_bandwidth_fraction");
  if (e.elementwise_bandwidth_fraction) fraction(*e.elementwise_bandwidth_fraction, "elementwise_bandwidth_fraction");
  if (e.decode_elementwise_bytes_per_s && !(*e.decode_elementwise_bytes_per_s > 0))
    fail("efficiency.decode_elementwise_bytes_per_s", "efficiency.decode_elementwise_bytes_per_s must be positive");
  // A kernel's fixed cost is microseconds; a second or more is a unit slip.
  auto seconds = [&](double v, const std::string& key) {
    if (!(v >= 0)) fail("efficiency." + key, "efficiency." + key + " must not be negative");
    if (!(v < 1)) fail("efficiency." + key, "efficiency." + key + " must be below 1 second");
  };
  if (e.elementwise_kernel_overhead_s) seconds(*e.elementwise_kernel_overhead_s, "elementwise_kernel_overhead_s");
  if (e.norm_kernel_overhead_s) seconds(*e.norm_kernel_overhead_s, "norm_kernel_overhead_s");
  auto curve = [&](const KernelCostCurve& c, const std::string& key) {
    for (const KernelCostPoint& p : c.points) seconds(p.seconds, key);
  };
  curve(e.attention_kernel_overhead_s, "attention_kernel_overhead_s");
  curve(e.moe_routing_kernel_overhead_s, "moe_routing_kernel_overhead_s");
  curve(e.rotary_kernel_overhead_s, "rotary_kernel_overhead_s");
  seconds(e.kernel_overhead_s, "kernel_overhead_s");
  seconds(e.kernel_gap_s, "kernel_gap_s");
  seconds(e.allreduce_latency_s, "allreduce_latency_s");
}

}  // namespace kvplan
