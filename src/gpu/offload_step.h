// A decode step with part of every sequence's KV in pinned host memory (kvplan's stream offload,
// core/offload.h): before each full-attention layer's attention, the oldest `tokens` of every
// (sequence, KV head) row are copied host -> device into that layer's cache, either on demand (the
// compute stream waits for them) or prefetched on a second stream, two layers ahead at most (the
// two staging buffers kvplan counts). The step's other kernels are DecodeStep's.
#pragma once

#include <string>
#include <vector>

#include "gpu/decode_step.h"
#include "gpu/host/report.h"
#include "gpu/timer.h"

namespace kvplan::gpu {

struct OffloadCase {
  std::string name;
  int64_t tokens = 0;        // oldest tokens per sequence in the host tier, every full-attention layer
  bool prefetch = true;      // false: on demand
  double predicted_s = -1;   // kvplan's step time for this case
};

// Bytes one step copies for `tokens` per row over every full-attention op.
int64_t offload_copy_bytes(const std::vector<StepOp>& ops, int64_t tokens);
// The copies alone, back to back on one stream (the link's rate for KV rows); predicted_s as given.
TimedCheck time_offload_copies(Timer& t, const std::vector<StepOp>& ops, int64_t tokens, double predicted_s,
                               const TimingOptions& o);
// The whole step (one CUDA graph) with the copies placed as the case says.
TimedCheck time_offloaded_step(Timer& t, const std::vector<StepOp>& ops, const OffloadCase& c, const TimingOptions& o);

}  // namespace kvplan::gpu
