// Collectives a parallel layout adds to a step (docs/timing.md "Tensor parallel", docs/fleet.md
// "Layouts"): the tensor-parallel all-reduce, expert parallelism's all-to-all dispatch and combine,
// and a pipeline stage's send to the next. Within a node they run over the scale-up link (the GPU
// preset's interconnect_bytes_per_s, latency efficiency.allreduce_latency_s); across nodes over the
// node preset's scale-out network (Parallel::scale_out).
#pragma once

#include <cstdint>

#include "core/gpu.h"
#include "core/parallel.h"

namespace kvplan {

// Bytes each GPU sends (and receives) in a ring all-reduce of `message_bytes` over tp GPUs:
// reduce-scatter then all-gather, 2 (tp-1)/tp x message (Patarasuk & Yuan 2009; NCCL's ring).
double ring_allreduce_link_bytes(int64_t message_bytes, int64_t tp);
// link bytes / interconnect_bytes_per_s, plus efficiency.allreduce_latency_s when with_latency.
// 0 when tp == 1; throws kvplan::Error when tp > 1 and the preset has no interconnect.
double ring_allreduce_s(int64_t message_bytes, int64_t tp, const Gpu& gpu, bool with_latency);
// The same for a group that may span nodes: a ring over more GPUs than a node holds runs at its
// slowest hop, min(scale-up, scale-out), and adds the network's latency.
double allreduce_s(int64_t message_bytes, int64_t ranks, const Gpu& gpu, const Parallel& p, bool with_latency);

// All-to-all among `ranks` GPUs, each sending `bytes_per_rank` spread evenly over all ranks (its
// own share stays local): of the rest, the share bound for the GPUs of its own node crosses the
// scale-up link and the share bound for other nodes the scale-out network, both at once:
//   time = max(on_node / scale_up, off_node / scale_out) + latency (the network's when any crosses it).
struct AllToAll {
  double on_node_bytes = 0;   // per GPU sent
  double off_node_bytes = 0;
  double time_s = 0;
};
AllToAll all_to_all(double bytes_per_rank, int64_t ranks, const Gpu& gpu, const Parallel& p, bool with_latency);

// A point-to-point send of `bytes` from one GPU to another, within a node or across nodes.
double send_s(double bytes, bool across_nodes, const Gpu& gpu, const Parallel& p, bool with_latency);
// A pipeline stage handing `message_bytes` (the pass's hidden states and residual) to the next:
// each of its tp GPUs sends its 1/tp share to its peer, and the next stage's GPUs gather the
// shares over the scale-up link ((tp - 1)/tp of the message, an all-gather's ring).
double stage_send_s(double message_bytes, int64_t tp, bool across_nodes, const Gpu& gpu, const Parallel& p,
                    bool with_latency);

}  // namespace kvplan
