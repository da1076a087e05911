#include "core/allreduce.h"

#include "core/error.h"

namespace kvplan {

double ring_allreduce_link_bytes(int64_t message_bytes, int64_t tp) {
  if (tp <= 1) return 0;
  return 2.0 * static_cast<double>(tp - 1) / static_cast<double>(tp) * static_cast<double>(message_bytes);
}

double ring_allreduce_s(int64_t message_bytes, int64_t tp, const Gpu& gpu, bool with_latency) {
  if (tp <= 1) return 0;
  if (!(gpu.interconnect_bytes_per_s > 0))
    throw Error("gpu '" + gpu.id + "' has no interconnect_bytes_per_s: cannot time tensor parallel all-reduces");
  return ring_allreduce_link_bytes(message_bytes, tp) / gpu.interconnect_bytes_per_s +
         (with_latency ? gpu.efficiency.allreduce_latency_s : 0.0);
}

}  // namespace kvplan
