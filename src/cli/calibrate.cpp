// `kvplan calibrate --out FILE`: measures the local GPU and writes a preset YAML whose efficiency
// block comes from the measurements (kvplan estimate --gpu FILE reads it).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <set>
#include <utility>

#include "cli/subcommands.h"
#include "core/error.h"
#include "gpu/host/availability.h"
#include "gpu/host/report.h"
#include "io/files.h"
#include "io/gpu_yaml.h"
#if KVPLAN_HAVE_CUDA
#include "core/decode.h"
#include "core/layer_work.h"
#include "core/prefill.h"
#include "gpu/host/fit.h"
#include "gpu/run.h"
#endif

namespace kvplan::cli {

namespace {

#if KVPLAN_HAVE_CUDA
// Whole engine-like decode steps: the gap between kernels is fitted on Llama-3.1-8B at three shapes, then
// the written preset is checked on models it was not fitted on: other GQA shapes (Qwen2.5-7B),
// head_dim 256 with four norms a layer (Gemma-2-9B), and an MoE at a batch whose routing touches
// every expert in the model and in the step alike (Mixtral batch 32: 64 slots over 8 experts; the
// model's expected 8 x (1 - 0.75^32) = 7.992).
struct StepPlan {
  const char* model;
  int64_t batch, context;
  bool fit;
};
constexpr StepPlan kSteps[] = {{"llama-3.1-8b", 1, 4096, true},  {"llama-3.1-8b", 8, 32768, true},
                               {"llama-3.1-8b", 32, 8192, true}, {"qwen2.5-7b", 16, 16384, false},
                               {"gemma-2-9b", 8, 8192, false},   {"mixtral-8x7b", 32, 4096, false}};

// The options the reference kernels run a model with: bf16 linears, and kvplan's own (ideal) engine,
// since an engine's block layout does not change the kernels.
MemoryOptions reference_memory(const Model& m, const Gpu& base, const Registry& registry) {
  QueryOptions q;
  q.model = m.id;
  q.weight_dtype = "bf16";
  q.engine = "ideal";
  return memory_options_of(q, m, base, registry);
}

// The bundled models' own decode weight matrices (every dense projection and the lm_head at tensor
// parallel 1), each timed as the weight-stream grid's shapes: cuBLAS picks its kernel by the exact
// shape, which a grid over powers of two does not see (docs/timing.md "Decode weights by shape").
void calibrate_model_shapes(const Gpu& base, gpu::Calibration& c, const Registry& registry) {
  std::set<std::pair<int64_t, int64_t>> shapes;
  for (const std::string& id : registry.model_ids()) {
    const Model m = registry.resolve_model(id);
    const ModelWork w = model_work(m, reference_memory(m, base, registry));
    for (const Gemm& g : w.gemms)
      if (!g.routed) shapes.insert({std::llround(g.n), std::llround(g.k)});
    shapes.insert({std::llround(w.lm_head_gemm.n), std::llround(w.lm_head_gemm.k)});
  }
  c.shape_runs = gpu::time_weight_shapes({shapes.begin(), shapes.end()}, ProgressLine{});
  c.methods.push_back(fmt::format(
      "weight_stream_shapes (the bundled models' own decode weight matrices): the {} distinct (n, k) of every bundled "
      "model's dense projections and lm_head at tensor parallel 1, each timed as weight_stream_efficiency's shapes (m "
      "1, 8, 32, 128); a GEMM of a listed (n, k) takes its own points, interpolated in log2(m), instead of the grid",
      shapes.size()));
}

// Each model's `component` kernels of one pass alone in a CUDA graph: (time - their bytes / the
// element-wise `rate`) / kernels is a point at the model's size (`size_of`, in `unit`), its graph
// kept with it; a model the reference step cannot build, or whose graph leaves no cost, is left
// out. The method line is `method` followed by one line a model (after `lines`, points measured
// before).
template <class SizeOf>
void time_kernel_costs(const Gpu& base, const Registry& registry, gpu::Calibration& c,
                       std::initializer_list<const char*> ids, const gpu::PassCase& step, const char* component,
                       const char* unit, SizeOf size_of, std::vector<KernelCostPoint>& points,
                       std::vector<std::pair<std::string, gpu::GraphTiming>>& graphs, const std::string& method,
                       std::vector<std::string> lines = {}) {
  const double rate = c.decode_elementwise_bytes_per_s;
  for (const char* id : ids) {
    const Model m = registry.resolve_model(id);
    const MemoryOptions memory = reference_memory(m, base, registry);
    const int64_t size = size_of(m, memory);
    try {
      const gpu::GraphTiming g = gpu::time_component(m, memory.cache, {step}, component, ProgressLine{}).front();
      const double per = (g.time_s - static_cast<double>(g.bytes) / rate) / static_cast<double>(g.kernels);
      if (!(per >= 0)) {
        lines.push_back(fmt::format("{}: left out, {} kernels in {:.1f} us leave {:.3f} us a kernel", id, g.kernels,
                                    g.time_s * 1e6, per * 1e6));
        continue;
      }
      graphs.emplace_back(fmt::format("{} decode step, batch {}", m.id, step.batch), g);
      points.push_back({size, per});
      lines.push_back(fmt::format("{} ({} {}): {} kernels in {:.1f} us, {:.3f} us each", id, size, unit, g.kernels,
                                  g.time_s * 1e6, per * 1e6));
    } catch (const Error& e) {  // said in the method line
      lines.push_back(fmt::format("{}: left out, {}", id, e.what()));
    }
  }
  c.methods.push_back(method + ": " + fmt::format("{}", fmt::join(lines, "; ")));
}

// A model's rotary kernel's (cos, sin) pairs a token at the reference memory's tensor parallelism
// (the first rotary layer's; 0 without one).
int64_t rotary_pairs(const Model& m, const MemoryOptions& memory) {
  const ModelWork w = model_work(m, memory);
  return w.rotary_groups.empty() ? 0 : w.rotary_groups.front().first;
}

// The element-wise kernels of Llama-3.1-8B's whole prefills at 4K and 16K tokens (every layer's fused
// residual add + RMSNorm, rotary, KV append and gated activation, alone in a CUDA graph): their rate
// is the prefill model's element-wise bytes over the time left after each kernel's cost in a graph.
// validate's whole prefills then check it on the models it was not fitted on.
void calibrate_elementwise(const Gpu& base, gpu::Calibration& c, const Registry& registry) {
  const Model m = registry.resolve_model("llama-3.1-8b");
  MemoryOptions memory = reference_memory(m, base, registry);
  const std::vector<int64_t> prompts = {4096, 16384};
  std::vector<gpu::PassCase> cases;
  for (const int64_t p : prompts) cases.push_back({1, 0, p});
  const std::vector<gpu::GraphTiming> measured = gpu::time_component(m, memory.cache, cases, "elementwise", ProgressLine{});
  std::vector<gpu::GraphTiming> runs;
  for (size_t i = 0; i < prompts.size(); ++i) {
    memory.prefill_chunk = std::max(memory.prefill_chunk, prompts[i]);  // one pass, as the GPU ran it
    int64_t bytes = 0;
    for (const PrefillPhase& ph : prefill(m, base, 1, prompts[i], memory).phases)
      if (ph.name == "elementwise") bytes = ph.bytes;
    runs.push_back({bytes, measured[i].kernels, measured[i].time_s});
    c.elementwise_graphs.emplace_back(fmt::format("{} prefill of {} tokens", m.id, prompts[i]), runs.back());
  }
  const double overhead = c.step_kernel_overhead_s;
  c.elementwise_bytes_per_s = gpu::bytes_per_s_after_overhead(runs, overhead);
  c.methods.push_back(fmt::format(
      "elementwise_bandwidth_fraction (the prefill's and decode step's element-wise kernels): the element-wise ops of "
      "llama-3.1-8b's whole prefill pass at 4096 and 16384 tokens (per layer the fused residual add + RMSNorm twice, "
      "rotary, KV append, SiLU x up; the final norm), alone in one CUDA graph, cold L2 before each replay, median "
      "replay; per pass the prefill model's element-wise bytes / (time - kernels x kernel_overhead_s {:.3f} us), mean "
      "of the two = {:.4g} B/s; / datasheet bandwidth",
      overhead * 1e6, c.elementwise_bytes_per_s));

  // The same kernels in decode steps of 1, 192 and 256 sequences: at batch 1 the kernels' fixed cost
  // is all of the graph's time, at 192 and 256 the bytes are a third of it; a layer's activations (at
  // most a batch x intermediate x 2 x 2 B read by the activation, 29 MB at 256) stay in the 50 MB L2
  // of a Hopper GPU from one kernel to the next.
  const int64_t context = 512;
  std::vector<gpu::PassCase> steps;
  for (const int64_t batch : {1, 192, 256}) steps.push_back({batch, context, 0});
  const std::vector<gpu::GraphTiming> decode_measured = gpu::time_component(m, memory.cache, steps, "elementwise", ProgressLine{});
  std::vector<gpu::GraphTiming> decode_runs;
  for (size_t i = 0; i < steps.size(); ++i) {
    int64_t bytes = 0;
    for (const DecodeComponent& comp : decode_step(m, base, steps[i].batch, context, memory).components)
      if (comp.name == "elementwise") bytes = comp.bytes;
    decode_runs.push_back({bytes, decode_measured[i].kernels, decode_measured[i].time_s});
    c.decode_elementwise_graphs.emplace_back(fmt::format("{} decode step, batch {}", m.id, steps[i].batch),
                                             decode_runs.back());
  }
  try {
    // L2 moves bytes faster than HBM: the solve's bound is 10 x the datasheet, against a wrong fit only.
    const gpu::StreamingSolve sol =
        gpu::solve_graph_streaming(decode_runs.back(), decode_runs.front(), 10 * base.memory_bandwidth_bytes_per_s);
    c.elementwise_kernel_overhead_s = sol.kernel_overhead_s;
    c.decode_elementwise_bytes_per_s = gpu::bytes_per_s_after_overhead(
        std::vector<gpu::GraphTiming>(decode_runs.begin() + 1, decode_runs.end()), sol.kernel_overhead_s);
  } catch (const Error& e) {  // the preset then keeps elementwise_bandwidth_fraction and kernel_overhead_s
    c.decode_elementwise_bytes_per_s = c.elementwise_kernel_overhead_s = 0;
    c.methods.push_back(std::string("decode_elementwise_bytes_per_s: not written: ") + e.what());
    return;
  }
  c.methods.push_back(fmt::format(
      "decode_elementwise_bytes_per_s and elementwise_kernel_overhead_s (the decode step's element-wise kernels): the "
      "same ops of llama-3.1-8b's decode step at batch 1, 192 and 256 ({} tokens of context), alone in one CUDA graph, "
      "cold L2 before each replay, median replay; bytes = the decode model's element-wise bytes; time = kernels x "
      "overhead + bytes / rate solved on batch 1 and 256 (overhead {:.3f} us), then the rate = the mean over batch 192 "
      "and 256 of bytes / (time - kernels x overhead) = {:.4g} B/s (the activations stay in L2 between kernels, so "
      "this may exceed the datasheet's HBM bandwidth)",
      context, c.elementwise_kernel_overhead_s * 1e6, c.decode_elementwise_bytes_per_s));

  // The norms and the rotary embeddings among them, each kind alone in a graph at batch 1: a norm
  // reduces its row before it writes it, and a rotary kernel reads its cos/sin by position, so both
  // take longer than a point-wise kernel of their bytes (a cache write, an activation), and a model
  // of another mix (Gemma 2's four norms a layer, a Mamba layer's input norm and its narrow dt/B/C
  // norms) runs a step of a different cost. A kind's cost is its graph's time less its bytes at the
  // rate, per kernel; the other kernels' is what is left of the whole graph's fitted per-kernel
  // cost, so that the batch-1 step of the fit keeps its total.
  const int64_t all = decode_runs.front().kernels;
  const double mixed = c.elementwise_kernel_overhead_s;
  double left = static_cast<double>(all) * mixed;
  int64_t left_kernels = all;
  std::vector<std::string> parts;
  for (const char* kind : {"norms", "rotary"}) {
    const gpu::GraphTiming g = gpu::time_component(m, memory.cache, {steps.front()}, kind, ProgressLine{}).front();
    const double per = (g.time_s - static_cast<double>(g.bytes) / c.decode_elementwise_bytes_per_s) / static_cast<double>(g.kernels);
    const double rest = left_kernels > g.kernels
                            ? (left - static_cast<double>(g.kernels) * per) / static_cast<double>(left_kernels - g.kernels)
                            : -1;
    if (!(per >= 0) || !(rest >= 0)) {
      c.methods.push_back(fmt::format(
          "{}_kernel_overhead_s: not written: the {} graph ({} kernels, {:.1f} us) leaves {:.3f} us a kernel and {:.3f} "
          "us per other kernel; elementwise_kernel_overhead_s covers them",
          kind == std::string("norms") ? "norm" : kind, kind, g.kernels, g.time_s * 1e6, per * 1e6, rest * 1e6));
      break;
    }
    const std::string label = fmt::format("{} decode step, batch {}", m.id, steps.front().batch);
    if (kind == std::string("norms")) {
      c.decode_norm_graphs.emplace_back(label, g);
      c.norm_kernel_overhead_s = per;
    } else {
      c.decode_rotary_graphs.emplace_back(label, g);
      c.rotary_kernel_overhead.push_back({rotary_pairs(m, memory), per});
    }
    parts.push_back(fmt::format("the {} {} kernels ({:.1f} us): {:.3f} us each", g.kernels, kind, g.time_s * 1e6, per * 1e6));
    left -= static_cast<double>(g.kernels) * per;
    left_kernels -= g.kernels;
  }
  if (parts.empty()) return;
  c.elementwise_kernel_overhead_s = left / static_cast<double>(left_kernels);
  c.methods.push_back(fmt::format(
      "norm_kernel_overhead_s and rotary_kernel_overhead_s (the decode step's norms and rotary embeddings) and "
      "elementwise_kernel_overhead_s (its other element-wise kernels): each kind of llama-3.1-8b's decode step at "
      "batch 1 (two residual-fused RMSNorms a layer and the final norm; one rotary a layer) alone in one CUDA graph, "
      "cold L2 before each replay, median replay, (time - their bytes / the rate above) / kernels: {}; the other {} "
      "kernels then take the rest of the {} kernels x {:.3f} us fitted above: {:.3f} us each",
      fmt::join(parts, "; "), left_kernels, all, mixed * 1e6, c.elementwise_kernel_overhead_s * 1e6));
  if (c.rotary_kernel_overhead.empty()) return;

  // The rotary kernel's cost by its (cos, sin) pairs a token: a kernel that loops over a token's
  // pairs in one block (vLLM's CUDA custom op) costs more the more heads; kvplan's, a flat grid over
  // the batch's pairs, about the same at any count. Two more models alone in a graph at batch 1,
  // from 512 to 4608 pairs.
  time_kernel_costs(base, registry, c, {"qwen2.5-0.5b", "llama-3.1-70b"}, steps.front(), "rotary", "pairs", rotary_pairs,
                    c.rotary_kernel_overhead, c.decode_rotary_graphs,
                    "rotary_kernel_overhead_s by the kernel's (cos, sin) pairs a token ((Q heads + K heads) x "
                    "rotary_dim / 2): each model's rotary kernels of a batch-1 decode step alone in one CUDA graph, cold "
                    "L2, median replay, (time - their bytes / the rate above) / kernels",
                    {fmt::format("{} ({} pairs): {:.3f} us each", m.id, c.rotary_kernel_overhead.front().size,
                                 c.rotary_kernel_overhead.front().seconds * 1e6)});
}

// MoE decode steps' routing kernels (per MoE layer the top-k over the router logits, the align of
// the top-k ids by expert, the weighted combine of each token's k rows) alone in a graph: each
// reduces or scans over the experts before it writes, so, like a norm, it costs more than a
// point-wise kernel of its bytes, and vLLM's one-kernel align (at most 64 experts) the more, the
// more experts. One point per model, by its experts, at batch 8: Llama-4-Scout (16) and
// gpt-oss-20b (32) on the one-kernel side, gpt-oss-120b (128) on the two-kernel side (decode.cpp
// prices a layer by the points of its side); Mixtral, Jamba, Granite-4-H and Qwen3's MoE steps (8
// to 128 experts) check the curve.
void calibrate_moe_routing(const Gpu& base, gpu::Calibration& c, const Registry& registry) {
  if (!(c.decode_elementwise_bytes_per_s > 0)) return;
  auto experts = [](const Model& m, const MemoryOptions&) {
    int64_t e = 0;
    for (const Layer& l : m.layers)
      if (const auto* moe = l.mlp ? std::get_if<MoeMlp>(&*l.mlp) : nullptr) e = moe->experts;
    return e;
  };
  time_kernel_costs(base, registry, c, {"llama-4-scout", "gpt-oss-20b", "gpt-oss-120b"}, {8, 512, 0}, "moe_routing",
                    "experts", experts, c.moe_routing_kernel_overhead, c.decode_moe_routing_graphs,
                    "moe_routing_kernel_overhead_s (the decode step's MoE routing kernels, by the MoE layers' experts): "
                    "the top-k, align and combine kernels of each model's decode step at batch 8 alone in one CUDA "
                    "graph, cold L2 before each replay, median replay, (time - their bytes / the element-wise rate "
                    "above) / kernels");
}

// The decode step's attention kernels (split-KV attention, combine in-kernel, every layer) of
// Llama-3.1-8B at batch 1 and 1K-32K tokens of context, alone in a CUDA graph: from short kernels
// (2 MB a launch), whose fixed cost is most of their time, to launches long enough to stream. Per
// graph, (time - the model's KV bytes at the measured attention rate) / the model's kv_cache
// kernels, by the bytes one of those kernels moves: attention_kernel_overhead_s's points.
void calibrate_attention_kernels(const Gpu& base, gpu::Calibration& c, const Registry& registry) {
  if (!(c.decode_attention_bytes_per_s > 0)) return;
  const Model m = registry.resolve_model("llama-3.1-8b");
  const MemoryOptions memory = reference_memory(m, base, registry);
  std::vector<gpu::PassCase> cases;
  for (const int64_t context : {1024, 2048, 4096, 8192, 16384, 32768}) cases.push_back({1, context, 0});
  const std::vector<gpu::GraphTiming> measured = gpu::time_component(m, memory.cache, cases, "kv_cache", ProgressLine{});
  // Divided by the model's kernel count (the one the prediction multiplies by: an engine's split-KV
  // attention and its combine), not the graph's: kvplan's kernel combines in-kernel, one launch a layer.
  std::vector<std::string> points;
  for (size_t i = 0; i < cases.size(); ++i) {
    int64_t bytes = 0, kernels = 0;
    for (const DecodeComponent& comp : decode_step(m, base, 1, cases[i].context, memory).components)
      if (comp.name == "kv_cache") {
        bytes = comp.bytes;
        kernels = comp.kernels;
      }
    if (kernels <= 0) throw Error("calibrate: " + m.id + " has no attention kernels");
    const gpu::GraphTiming g{bytes, measured[i].kernels, measured[i].time_s};
    c.attention_graphs.emplace_back(fmt::format("{} decode step, batch 1, context {}", m.id, cases[i].context), g);
    const double per_kernel =
        (g.time_s - static_cast<double>(bytes) / c.decode_attention_bytes_per_s) / static_cast<double>(kernels);
    const int64_t launch = bytes / kernels;
    if (!(per_kernel >= 0)) {
      points.push_back(fmt::format("{:.1f} MB: {:.3f} us, not written", static_cast<double>(launch) / 1e6, per_kernel * 1e6));
      continue;
    }
    c.attention_kernel_overhead.push_back({launch, per_kernel});
    points.push_back(fmt::format("{:.1f} MB: {:.3f} us", static_cast<double>(launch) / 1e6, per_kernel * 1e6));
  }
  if (c.attention_kernel_overhead.empty()) {
    c.methods.push_back(fmt::format("attention_kernel_overhead_s: not written: no graph left a cost after its bytes ({})",
                                    fmt::join(points, "; ")));
    return;
  }
  c.methods.push_back(fmt::format(
      "attention_kernel_overhead_s (the decode step's kv_cache kernels, by the bytes one launch moves): the attention "
      "ops (kvplan's split-KV attention with its combine in-kernel, every layer) of llama-3.1-8b's decode step at "
      "batch 1 and 1024-32768 tokens of context, alone in one CUDA graph, cold L2 before each replay, median replay; "
      "per graph (time - the decode model's KV bytes / the attention rate {:.4g} B/s) / the decode model's kv_cache "
      "kernels (an engine's attention and combine, two a layer; the graph launches one), at bytes a launch = the KV "
      "bytes / those kernels: {}",
      c.decode_attention_bytes_per_s, fmt::join(points, "; ")));
}

// Measures the element-wise rate, times the steps, fits kernel_gap_s on the `fit` ones
// (gpu::fit_kernel_gap), and records every step with the written preset's prediction.
void calibrate_on_steps(const Gpu& base, gpu::Calibration& c, const Registry& registry) {
  struct Planned {
    StepPlan plan;
    Model model;
    MemoryOptions memory;
  };
  std::vector<Planned> planned;
  std::vector<gpu::StepCase> cases;
  for (const StepPlan& p : kSteps) {
    const Model m = registry.resolve_model(p.model);
    planned.push_back({p, m, reference_memory(m, base, registry)});
    cases.push_back({m, planned.back().memory.cache, p.batch, p.context});
  }
  const std::vector<gpu::GraphTiming> measured = gpu::time_decode_steps(cases, ProgressLine{});
  calibrate_elementwise(base, c, registry);
  calibrate_moe_routing(base, c, registry);
  calibrate_attention_kernels(base, c, registry);
  Gpu g = base;
  g.efficiency = gpu::calibrated_efficiency(base, c);  // no gap yet: every component, its kernels apart
  auto predict = [&](const Planned& p) { return decode_step(p.model, g, p.plan.batch, p.plan.context, p.memory); };
  std::vector<gpu::StepSample> samples;
  for (size_t i = 0; i < planned.size(); ++i)
    if (planned[i].plan.fit) {
      const DecodeStep d = predict(planned[i]);
      samples.push_back({measured[i].time_s, d.time_s, d.kernels});
    }
  c.step_kernel_gap_fit_s = gpu::fit_kernel_gap(samples);
  c.kernel_gap_s = std::max(0.0, c.step_kernel_gap_fit_s);
  g.efficiency = gpu::calibrated_efficiency(base, c);
  for (size_t i = 0; i < planned.size(); ++i) {
    const DecodeStep d = predict(planned[i]);
    c.steps.push_back({planned[i].model.id, planned[i].plan.batch, planned[i].plan.context, d.kernels,
                       measured[i].time_s, d.time_s, planned[i].plan.fit});
  }
  c.methods.push_back(fmt::format(
      "kernel_gap_s (per kernel, a whole step's graph beyond its components' kernels; kernel_overhead_s = the GEMV "
      "graphs' {:.3f} us): whole engine-like decode steps (every layer's norms, rotary, KV append, linears, attention, "
      "activation; one CUDA graph; cold L2; median replay) of llama-3.1-8b at batch x context 1 x 4K, 8 x 32K, 32 x 8K; "
      "least squares through the origin of (measured - predicted without gaps) on the prediction's kernel count = "
      "{:.3f} us, written as {:.3f} us (at least 0); engine_steps lists every step, the others checking the written "
      "preset on models it was not fitted on",
      c.step_kernel_overhead_s * 1e6, c.step_kernel_gap_fit_s * 1e6, c.kernel_gap_s * 1e6));
}

#endif

struct CalibrateOptions {
  std::string out;
  std::string base;  // preset whose datasheet fields the calibrated preset keeps
};

// The output path and the --base preset, checked before any GPU is touched (in kvplan as in
// kvplan-gpu): a folder that exists, not a folder itself, not an input file.
void check_calibrate_arguments(const CalibrateOptions& o, const Registry& registry) {
  check_output_path(o.out, "--out");
  if (!o.base.empty()) registry.resolve_gpu(o.base);
}

void run_calibrate_command(const CalibrateOptions& o, Globals& globals) {
  const Registry registry = globals.registry();
  check_calibrate_arguments(o, registry);
#if !KVPLAN_HAVE_CUDA
  globals.exit_status = run_on_gpu_helper("calibrate", globals);
#else
  gpu::Calibration c;
  std::string base_id = o.base;
  // The preset to take datasheet figures from: given, or guessed from the device's name.
  const gpu::DeviceInfo dev = gpu::local_device("calibrate");
  if (base_id.empty()) {
    if (dev.name.find("H200") != std::string::npos) base_id = "h200";
    else if (dev.name.find("H100") != std::string::npos && dev.name.find("PCIe") != std::string::npos) base_id = "h100-pcie";
    else if (dev.name.find("H100") != std::string::npos) base_id = "h100-sxm";
    else throw Error("calibrate: no bundled preset matches '" + dev.name + "'; name one with --base");
  }
  const Gpu base = registry.resolve_gpu(base_id);
  c = gpu::run_calibrate(base, ProgressLine{});
  calibrate_model_shapes(base, c, registry);
  calibrate_on_steps(base, c, registry);
  const std::string yaml = gpu::render_calibrated_preset(base, c);
  parse_gpu_yaml(yaml, o.out, base.id + "-calibrated");  // what we write must load
  write_text_file(o.out, yaml);
  print(yaml);
#endif
}

}  // namespace

void setup_calibrate(CLI::App* sub, Globals& globals) {
  auto o = std::make_shared<CalibrateOptions>();
  sub->add_option("--out,-o", o->out, "Preset YAML to write (e.g. presets/h100-sxm-calibrated.yaml)")
      ->type_name("FILE")
      ->required();
  sub->add_option("--base", o->base, "Bundled preset for the datasheet fields (default: from the device name)")
      ->type_name("GPU");
  sub->callback([o, &globals] { run_calibrate_command(*o, globals); });
}

}  // namespace kvplan::cli
