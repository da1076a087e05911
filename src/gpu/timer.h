// Device timing: warm-up, CUDA events around each sample, cold L2 between samples (a memset of
// twice the L2 size, which also keeps the GPU busy while the host enqueues the timed work), the
// noise-based stopping rule with a time cap, and an SM-clock reading before and after.
#pragma once

#include <chrono>
#include <vector>

#include "gpu/device.h"
#include "gpu/kernels.h"
#include "gpu/host/report.h"
#include "gpu/host/stats.h"

namespace kvplan::gpu {

struct TimingOptions {
  int warmup = 3;
  StoppingRule rule;
  bool flush_l2 = true;
  // After the memset, read the flush buffer back so L2 holds only clean lines: the timed work then
  // does not share DRAM with the write-back of the memset's dirty lines (~L2 size). Used by the probe.
  bool clean_l2 = false;
};

// The stopping rule kvplan's timings use: at least 10 samples, stop at 0.3% relative noise, at
// most `max_samples` samples or `max_time_s` seconds.
inline TimingOptions timing_options(double max_time_s, int max_samples) {
  TimingOptions o;
  o.rule.max_time_s = max_time_s;
  o.rule.min_samples = 10;
  o.rule.max_samples = max_samples;
  o.rule.target_rel_noise = 0.003;
  return o;
}

// The device's description, or kvplan::Error (exit 3) when no CUDA device is usable.
DeviceInfo device_info(const std::string& command = "validate");
// SM clock in MHz, measured by a kernel that counts cycles against %globaltimer for ~ms.
double measure_sm_clock_mhz(cudaStream_t s, double ms = 2.0);

class Timer {
 public:
  explicit Timer(int64_t l2_bytes) : flush_(std::max<int64_t>(2 * l2_bytes, 64 << 20)) {}
  cudaStream_t stream() const { return stream_.get(); }
  void flush_l2(bool clean = false) {
    CUDA_CHECK(cudaMemsetAsync(flush_.get(), ++flush_value_, static_cast<size_t>(flush_.bytes()), stream()));
    if (clean) launch_l2_clean_read(flush_.get(), flush_.bytes(), stream());
  }

  // Times `enqueue(stream)`; returns the summary of the samples it took.
  template <typename F>
  SampleStats measure(F&& enqueue, const TimingOptions& o) {
    for (int i = 0; i < o.warmup; ++i) {
      if (o.flush_l2) flush_l2(o.clean_l2);
      enqueue(stream());
    }
    stream_.sync();
    std::vector<double> samples;
    const auto t_start = std::chrono::steady_clock::now();
    for (;;) {
      if (o.flush_l2) flush_l2(o.clean_l2);
      start_.record(stream());
      enqueue(stream());
      stop_.record(stream());
      samples.push_back(stop_.seconds_since(start_));
      const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
      if (o.rule.check(samples, elapsed) != StoppingRule::Reason::running) break;
    }
    return summarize(samples);
  }

 private:
  Stream stream_;
  DeviceBuffer flush_;
  Event start_, stop_;
  unsigned char flush_value_ = 0;
};

}  // namespace kvplan::gpu
