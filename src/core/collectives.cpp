#include "core/collectives.h"

#include <algorithm>

#include "core/error.h"

namespace kvplan {

namespace {
double scale_up_bytes_per_s(const Gpu& gpu, const char* what) {
  if (!(gpu.interconnect_bytes_per_s > 0))
    throw Error("gpu '" + gpu.id + "' has no interconnect_bytes_per_s: cannot time " + what);
  return gpu.interconnect_bytes_per_s;
}
const Link& scale_out(const Parallel& p, const char* what) {
  if (!(p.scale_out.bytes_per_s > 0))
    throw Error(std::string("the layout's ") + what + " spans nodes: give --node (a node preset with its network)");
  return p.scale_out;
}
bool spans_nodes(int64_t ranks, const Parallel& p) { return p.gpus_per_node > 0 && ranks > p.gpus_per_node; }
}  // namespace

double ring_allreduce_link_bytes(int64_t message_bytes, int64_t tp) {
  if (tp <= 1) return 0;
  return 2.0 * static_cast<double>(tp - 1) / static_cast<double>(tp) * static_cast<double>(message_bytes);
}

double ring_allreduce_s(int64_t message_bytes, int64_t tp, const Gpu& gpu, bool with_latency) {
  if (tp <= 1) return 0;
  return ring_allreduce_link_bytes(message_bytes, tp) / scale_up_bytes_per_s(gpu, "tensor parallel all-reduces") +
         (with_latency ? gpu.efficiency.allreduce_latency_s : 0.0);
}

double allreduce_s(int64_t message_bytes, int64_t ranks, const Gpu& gpu, const Parallel& p, bool with_latency) {
  if (!spans_nodes(ranks, p)) return ring_allreduce_s(message_bytes, ranks, gpu, with_latency);
  const Link& net = scale_out(p, "tensor-parallel group");
  const double rate = std::min(scale_up_bytes_per_s(gpu, "tensor parallel all-reduces"), net.bytes_per_s);
  return ring_allreduce_link_bytes(message_bytes, ranks) / rate +
         (with_latency ? gpu.efficiency.allreduce_latency_s + net.latency_s : 0.0);
}

AllToAll all_to_all(double bytes_per_rank, int64_t ranks, const Gpu& gpu, const Parallel& p, bool with_latency) {
  AllToAll a;
  if (ranks <= 1) return a;
  const double n = static_cast<double>(ranks);
  const int64_t local = spans_nodes(ranks, p) ? p.gpus_per_node : ranks;  // GPUs of a node in the group
  a.on_node_bytes = bytes_per_rank * static_cast<double>(local - 1) / n;
  a.off_node_bytes = bytes_per_rank * static_cast<double>(ranks - local) / n;
  double latency = gpu.efficiency.allreduce_latency_s;
  a.time_s = a.on_node_bytes / scale_up_bytes_per_s(gpu, "expert-parallel all-to-alls");
  if (a.off_node_bytes > 0) {
    const Link& net = scale_out(p, "expert-parallel group");
    a.time_s = std::max(a.time_s, a.off_node_bytes / net.bytes_per_s);
    latency += net.latency_s;
  }
  if (with_latency) a.time_s += latency;
  return a;
}

double send_s(double bytes, bool across_nodes, const Gpu& gpu, const Parallel& p, bool with_latency) {
  if (across_nodes) {
    const Link& net = scale_out(p, "pipeline");
    return bytes / net.bytes_per_s + (with_latency ? net.latency_s : 0.0);
  }
  return bytes / scale_up_bytes_per_s(gpu, "pipeline sends") + (with_latency ? gpu.efficiency.allreduce_latency_s : 0.0);
}

double stage_send_s(double message_bytes, int64_t tp, bool across_nodes, const Gpu& gpu, const Parallel& p,
                    bool with_latency) {
  const double share = message_bytes / static_cast<double>(tp);
  const double gather = tp > 1 ? (message_bytes - share) / scale_up_bytes_per_s(gpu, "pipeline sends") : 0;
  return send_s(share, across_nodes, gpu, p, with_latency) + gather;
}

}  // namespace kvplan
