// Disaggregated serving (docs/fleet.md, "Disaggregated prefill and decode"): prompts run on a
// prefill pool, each request's KV cache then crosses the network to a decode pool that only
// decodes. Each pool has its own layout (MemoryOptions: tp, pp, dp, ep, node).
//
//   prefill pool  a replica runs k = max(1, floor(max_num_batched_tokens / prompt)) prompts per
//                 forward pass on each of its dp ranks: dp x k / prefill(k, prompt) requests/s;
//   transfer      the request's cache after its prompt (every layer, whole model: kv bytes per
//                 token x prompt, sliding layers their window, plus recurrent state) leaves the
//                 prefill replica's GPUs in parallel over the network (each its 1/gpus share),
//                 kv_bytes / (gpus x scale_out) + latency;
//   decode pool   no prefill stalls its steps: a rank of batch b yields b / (gen x step(b))
//                 requests/s, TPOT = step(b); b is the largest that fits memory and the TPOT SLO;
//   TTFT          prefill(1, prompt) + transfer (no queueing);
//   ratio         the GPUs of the two pools that carry the rate: replicas = ceil(rps / replica rps).
// plan --disaggregate --node searches each pool's layout (search_disaggregated): the pools are
// independent given the SLOs, so the cheapest pair is each pool's cheapest layout. The plan then
// serves colocated or disaggregated, whichever takes fewer GPUs (serving_choice).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/fleet.h"
#include "core/gpu.h"
#include "core/memory.h"
#include "core/model.h"

namespace kvplan {

struct DisaggRequest {
  int64_t prompt = 0;
  int64_t gen = 0;
  double rps = 0;
  std::optional<double> ttft_slo_s;
  std::optional<double> tpot_slo_s;
};

struct DisaggPool {
  Layout layout;
  int64_t layouts_tried = 1;     // search_disaggregated: the candidates it chose from
  int64_t gpus_per_replica = 0;  // tp x pp x dp
  int64_t batch = 0;             // prefill: prompts per pass per rank; decode: requests per rank
  double replica_rps = 0;        // requests/s one replica carries
  int64_t replicas = 0;
  int64_t gpus = 0;
};

struct DisaggPlan {
  DisaggRequest request;
  DisaggPool prefill;
  DisaggPool decode;
  double prefill_s = 0;         // one prompt alone
  int64_t kv_bytes = 0;         // one request's cache after its prompt
  double kv_transfer_s = 0;
  double ttft_s = 0;
  double tpot_s = 0;            // the decode pool's step at its batch
  double prefill_share = 0;     // prefill GPUs / all GPUs
  bool feasible = false;
  std::string reason;           // why not, when infeasible
};

// Throws kvplan::Error for bad requests (prompt or gen below 1, rps not positive) or a layout
// whose network is unknown (the transfer needs a node preset's scale-out link).
DisaggPlan plan_disaggregated(const Model& model, const Gpu& gpu, const DisaggRequest& request,
                              const MemoryOptions& prefill, const MemoryOptions& decode);
// Each pool's layout from its candidates (with_layout over `base`): the prefill pool's with the
// fewest GPUs within the TTFT SLO (then the lower TTFT), the decode pool's with the fewest within
// memory and the TPOT SLO (then the lower TPOT), the first on a tie. Infeasible when a pool has no
// such layout, with the first candidate's reason. Throws as plan_disaggregated, and for an empty list.
DisaggPlan search_disaggregated(const Model& model, const Gpu& gpu, const DisaggRequest& request,
                                const MemoryOptions& base, const std::vector<Layout>& prefill_layouts,
                                const std::vector<Layout>& decode_layouts);

// Colocated (the closed-form plan's best) or disaggregated serving: the one with fewer GPUs,
// colocated on a tie or when the disaggregated plan is infeasible.
enum class Serving { colocated, disaggregated };
const char* name(Serving s);
Serving serving_choice(const FleetPlan& colocated, const DisaggPlan& disaggregated);

}  // namespace kvplan
