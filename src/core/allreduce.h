// Tensor-parallel all-reduce time over the preset's scale-up interconnect (docs/timing.md).
#pragma once

#include <cstdint>

#include "core/gpu.h"

namespace kvplan {

// Bytes each GPU sends (and receives) in a ring all-reduce of `message_bytes` over tp GPUs:
// reduce-scatter then all-gather, 2 (tp-1)/tp x message (Patarasuk & Yuan 2009; NCCL's ring).
double ring_allreduce_link_bytes(int64_t message_bytes, int64_t tp);
// link bytes / interconnect_bytes_per_s, plus efficiency.allreduce_latency_s when with_latency.
// 0 when tp == 1; throws kvplan::Error when tp > 1 and the preset has no interconnect.
double ring_allreduce_s(int64_t message_bytes, int64_t tp, const Gpu& gpu, bool with_latency);

}  // namespace kvplan
