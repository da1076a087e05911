#include "core/parallel.h"

#include <algorithm>
#include <set>
#include <string>

#include "core/checked.h"
#include "core/error.h"
#include "core/model.h"

namespace kvplan {

namespace {
std::string str(int64_t v) { return std::to_string(v); }
}  // namespace

std::vector<std::pair<size_t, size_t>> pipeline_stages(size_t layers, int64_t pp) {
  if (pp < 1) throw Error("--pp must be at least 1");
  const size_t n = static_cast<size_t>(pp);
  if (n > layers) throw Error("pipeline parallel " + str(pp) + " exceeds the model's " + str(static_cast<int64_t>(layers)) + " layers");
  std::vector<size_t> sizes(n, layers / n);
  for (size_t i = 0; i < layers % n; ++i) sizes[n >= 2 + i ? n - 2 - i : 0] += 1;
  std::vector<std::pair<size_t, size_t>> out;
  size_t begin = 0;
  for (size_t size : sizes) {
    out.emplace_back(begin, begin + size);
    begin += size;
  }
  return out;
}

Model stage_model(const Model& model, size_t first, size_t end) {
  Model part = model;
  part.layers.assign(model.layers.begin() + static_cast<std::ptrdiff_t>(first),
                     model.layers.begin() + static_cast<std::ptrdiff_t>(end));
  return part;
}

std::vector<bool> stage_sends_cross_nodes(int64_t tp, int64_t pp, const Parallel& p) {
  std::vector<bool> out(static_cast<size_t>(std::max<int64_t>(pp, 1)), false);
  const int64_t per_node = p.gpus_per_node;
  if (per_node <= 0 || mul(tp, pp) <= per_node) return out;
  for (int64_t s = 1; s < pp; ++s) out[static_cast<size_t>(s)] = mul(s, tp) % per_node == 0;
  return out;
}

int64_t layout_gpus(int64_t tp, int64_t pp, const Parallel& p) { return mul(tp, pp, p.dp); }

void check_layout(const Model& model, int64_t tp, int64_t pp, const Parallel& p) {
  if (tp < 1 || pp < 1 || p.dp < 1 || p.ep < 1) throw Error("--tp, --pp, --dp and --ep must be at least 1");
  // Past a million GPUs a layout is a typo (the largest clusters hold about 1e5), and its counts and
  // costs would overflow into nonsense.
  constexpr int64_t kMaxGpus = 1000000;
  if (tp > kMaxGpus || pp > kMaxGpus || p.dp > kMaxGpus || layout_gpus(tp, pp, p) > kMaxGpus)
    throw Error("tp x pp x dp = " + str(tp) + " x " + str(pp) + " x " + str(p.dp) + " is past the 1,000,000 GPUs a layout may use");
  if (p.redundant_experts < 0) throw Error("--redundant-experts must not be negative");
  pipeline_stages(model.layers.size(), pp);  // no more stages than layers
  if (p.micro_batches < 0 || (p.micro_batches > 0 && pp == 1))
    throw Error("--micro-batches needs pipeline stages (--pp above 1) and must be at least 1");
  std::set<int64_t> experts;
  for (const Layer& layer : model.layers)
    if (layer.mlp)
      if (auto* e = std::get_if<MoeMlp>(&*layer.mlp)) experts.insert(e->experts);
  if (!p.expert_parallel()) {
    if (p.redundant_experts > 0) throw Error("--redundant-experts needs expert parallelism (--ep)");
    return;
  }
  if (experts.empty()) throw Error("--ep: model '" + model.id + "' has no MoE layers to spread over GPUs");
  const int64_t group = mul(tp, p.dp);
  if (p.ep != group)
    throw Error("--ep " + str(p.ep) + " must equal tp x dp = " + str(tp) + " x " + str(p.dp) + " = " + str(group) +
                " (the engines spread the experts over every GPU of the data-parallel group)");
  for (int64_t e : experts)
    if ((e + p.redundant_experts) % p.ep != 0)
      throw Error(str(e) + " experts" + (p.redundant_experts > 0 ? " + " + str(p.redundant_experts) + " redundant" : "") +
                  " do not divide over ep = " + str(p.ep) + " GPUs");
}

}  // namespace kvplan
