// Measurements the bench executable, `kvplan validate` and `kvplan calibrate` share: correctness
// checks against the float64 CPU references, and timed runs of each kernel at a given shape.
#pragma once

#include <vector>

#include "gpu/blas.h"
#include "gpu/host/fit.h"
#include "gpu/host/report.h"
#include "gpu/kernels.h"
#include "gpu/timer.h"

namespace kvplan::gpu {

// Every kernel variant on fresh random inputs (seeded), outputs poisoned before each run.
std::vector<CorrectnessCheck> run_correctness_checks(uint64_t seed, int sm_count);

struct ProbeResult {
  std::vector<int64_t> sizes;
  std::vector<SampleStats> read, copy;
  LinearFit read_fit, copy_fit;
  double read_bytes_per_s = 0, copy_bytes_per_s = 0;  // at the largest size (copy counts read + write)
};
ProbeResult run_probe(Timer& t, const DeviceInfo& d, const TimingOptions& o, int64_t max_bytes);

// Bytes of K and V for the shape (K then V, contiguous, [batch][kv_heads][context][dim] each).
int64_t decode_attention_kv_bytes(const DecodeAttention& a);
// Allocates random inputs for the shape (pointers in `a` are ignored), plans splits, times it.
// K and V go to `kv_memory` (>= decode_attention_kv_bytes(a)) when given, else a fresh allocation.
// shared_kv: every sequence's block table points at sequence 0's blocks (a prefix shared whole, read
// through each sequence's own pointers as a paged kernel reads it); bytes still count every sequence.
TimedCheck time_decode_attention(Timer& t, const DeviceInfo& d, DecodeAttention a, const TimingOptions& o,
                                 void* kv_memory = nullptr, bool shared_kv = false);
TimedCheck time_prefill_attention(Timer& t, PrefillAttention a, const TimingOptions& o);
TimedCheck time_ssm_update(Timer& t, SsmUpdate u, const TimingOptions& o);
TimedCheck time_linear(Timer& t, Blas& blas, int64_t out, int64_t in, int64_t batch, const TimingOptions& o);

}  // namespace kvplan::gpu
