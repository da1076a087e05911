// Parallel layouts beyond one tensor-parallel group (docs/fleet.md, "Layouts"): data and expert
// parallelism, pipeline stages, and the server (node) the GPUs sit in.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace kvplan {

struct Model;  // core/model.h

// One direction of a link, per GPU.
struct Link {
  double bytes_per_s = 0;
  double latency_s = 0;
};

// A server of GPUs (presets/nodes/*.yaml): which GPU preset it holds, how many GPUs share its
// scale-up domain (NVLink/NVSwitch: the GPU preset's interconnect_bytes_per_s), and its scale-out
// network per GPU (the NICs), with sources.
struct Node {
  std::string id;
  std::string name;
  std::string gpu;              // a GPU preset id
  int64_t gpus_per_node = 0;
  std::string scale_out_kind;   // e.g. "InfiniBand NDR, 8 x 400 Gb/s"
  Link scale_out;               // per GPU, one direction
  std::string source;
};

// The layout of one serving group of GPUs = tp x pp x dp (tp in CacheOptions, pp in EngineSettings).
// Attention and dense layers run tensor-parallel within each of the dp replicas (tp = 1 with dp > 1
// is data-parallel attention); with ep > 1 every MoE layer's experts sit whole on the ep = tp x dp
// GPUs of the group (vLLM --enable-expert-parallel, SGLang --ep-size), each GPU holding
// (experts + redundant_experts) / ep of them; with ep = 1 every expert is split over tp.
struct Parallel {
  int64_t dp = 1;
  int64_t ep = 1;
  int64_t redundant_experts = 0;  // extra expert copies per MoE layer over the EP group (EPLB)
  int64_t micro_batches = 0;      // pipeline micro-batches in flight; 0 = pp (the engines' virtual engines)
  int64_t gpus_per_node = 0;      // GPUs per scale-up domain; 0 = every GPU of the group in one
  Link scale_out;                 // the network between nodes
  std::string node;               // the node preset's id ("" = none)

  bool expert_parallel() const { return ep > 1; }
};

// Layers [first, end) of each pipeline stage: L / pp each, the remainder one more to every stage
// but the last, counting back from the second-to-last (vLLM's get_pp_indices). Throws when pp < 1
// or pp exceeds the layers.
std::vector<std::pair<size_t, size_t>> pipeline_stages(size_t layers, int64_t pp);

// The model as one pipeline stage sees it: layers [first, end) only (the embedding, lm_head and
// the rest of the model's fields as they are).
Model stage_model(const Model& model, size_t first, size_t end);

// Whether each stage's incoming send crosses nodes (entry 0: none). Ranks run tp innermost, then
// stages: stage s starts at GPU s x tp of its replica, on a new node when that is a multiple of
// the node's GPUs and the replica's tp x pp GPUs fill more than one node.
std::vector<bool> stage_sends_cross_nodes(int64_t tp, int64_t pp, const Parallel& p);

// GPUs a layout takes: tp x pp x dp.
int64_t layout_gpus(int64_t tp, int64_t pp, const Parallel& p);

// Throws kvplan::Error for a layout the engines would refuse: ep other than 1 or tp x dp, expert
// parallelism on a model without MoE layers, experts (plus redundant ones) that do not divide over
// ep, redundant experts without expert parallelism, more pipeline stages than layers, micro-batches
// below 1 or with pp = 1.
void check_layout(const Model& model, int64_t tp, int64_t pp, const Parallel& p);

}  // namespace kvplan
