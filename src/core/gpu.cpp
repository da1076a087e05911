#include "core/gpu.h"

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
  if (!(gpu.memory_bandwidth_bytes_per_s > 0))
    fail("memory_bandwidth_bytes_per_s", "memory_bandwidth_bytes_per_s must be positive");
  if (gpu.peak_flops_for(DType::bf16) <= 0) fail("peak_flops", "peak_flops needs at least bf16, fp16 or fp32");
  if (gpu.interconnect_bytes_per_s < 0) fail("interconnect_bytes_per_s", "interconnect_bytes_per_s must not be negative");
  if (gpu.price.usd_per_gpu_hour < 0) fail("price.usd_per_gpu_hour", "price.usd_per_gpu_hour must not be negative");
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
  if (e.elementwise_kernel_overhead_s && !(*e.elementwise_kernel_overhead_s >= 0))
    fail("efficiency.elementwise_kernel_overhead_s", "efficiency.elementwise_kernel_overhead_s must not be negative");
  if (e.norm_kernel_overhead_s && !(*e.norm_kernel_overhead_s >= 0))
    fail("efficiency.norm_kernel_overhead_s", "efficiency.norm_kernel_overhead_s must not be negative");
  auto not_negative = [&](const KernelCostCurve& c, const std::string& key) {
    for (const KernelCostPoint& p : c.points)
      if (!(p.seconds >= 0)) fail("efficiency." + key, "efficiency." + key + " must not be negative");
  };
  not_negative(e.attention_kernel_overhead_s, "attention_kernel_overhead_s");
  not_negative(e.moe_routing_kernel_overhead_s, "moe_routing_kernel_overhead_s");
  not_negative(e.rotary_kernel_overhead_s, "rotary_kernel_overhead_s");
  if (e.kernel_overhead_s < 0) fail("efficiency.kernel_overhead_s", "efficiency.kernel_overhead_s must not be negative");
  if (!(e.kernel_gap_s >= 0)) fail("efficiency.kernel_gap_s", "efficiency.kernel_gap_s must not be negative");
  if (e.allreduce_latency_s < 0)
    fail("efficiency.allreduce_latency_s", "efficiency.allreduce_latency_s must not be negative");
}

}  // namespace kvplan
