// Estimates over many (batch, context) points of one (model, GPU, options), for `kvplan sweep`.
// What does not depend on the point is computed once (memory model, per-kind KV terms, prefill
// and decode models); searches that depend on one axis only (largest batch at a context, largest
// context at a batch, the decode knee at a context) run once per distinct value.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/estimate.h"

namespace kvplan {

class SweepModel {
 public:
  // Validates like estimate() (throws kvplan::Error).
  SweepModel(const Model& model, const Gpu& gpu, const MemoryOptions& options);
  // The estimate at a point: equal, field for field, to estimate(model, gpu, w, options). The
  // reference stays valid (and is overwritten) until the next call.
  const Estimate& at(const Workload& w);

 private:
  Estimate e_;
  MemoryModel memory_;
  std::vector<std::pair<size_t, KvTerms>> kind_kv_;  // index into e_.layers, that kind's KV terms
  PrefillModel prefill_;
  DecodeModel decode_;
  std::optional<SpeculativeModel> speculative_;  // with a speculative config and an acceptance
  int64_t memo_context_ = -1;  // the context the next three were found for
  int64_t memo_max_batch_ = 0;
  std::optional<int64_t> memo_compute_bound_batch_;
  std::optional<int64_t> memo_pays_up_to_batch_;
  std::unordered_map<int64_t, std::optional<int64_t>> max_context_by_batch_;
  std::unordered_map<int64_t, KvInUse> in_use_by_batch_;  // the length distributions' KV in use, by batch
};

}  // namespace kvplan
