#include "gpu/run.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <memory>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.h"
#include "gpu/bench.h"
#include "gpu/decode_step.h"
#include "gpu/offload_step.h"

namespace kvplan::gpu {

namespace {

// Cold L2 before each sample, and clean: the flush buffer is read back after its memset, so the
// timed graph does not pay for writing L2's dirty lines back to DRAM (6-8 us a replay on an H200,
// 8% of a 262 MB vocab projection timed alone; an engine's step finds no such backlog).
// KVPLAN_DIRTY_FLUSH set (any value) keeps the memset-only flush, for before/after runs.
TimingOptions timing(double max_time_s) {
  TimingOptions o = timing_options(max_time_s, 300);
  o.clean_l2 = std::getenv("KVPLAN_DIRTY_FLUSH") == nullptr;
  return o;
}

// Times a list of ops captured in one CUDA graph (launch gaps as an engine's graph has them).
SampleStats time_graph(Timer& t, const std::vector<const StepOp*>& ops, const TimingOptions& o) {
  GraphExec g;
  g.capture(t.stream(), [&] {
    for (const auto* op : ops) op->run(t.stream());
  });
  return t.measure([&](cudaStream_t s) { g.launch(s); }, o);
}

std::vector<const StepOp*> all_ops(const DecodeStep& step) {
  std::vector<const StepOp*> all;
  for (const auto& op : step.ops()) all.push_back(&op);
  return all;
}

// Room for a step's buffers: most of what is free now, as validate leaves some to the driver.
int64_t step_budget_bytes() {
  size_t free_b = 0, total_b = 0;
  CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
  return static_cast<int64_t>(0.85 * static_cast<double>(free_b));
}

// The step's small kernels, by role (gpu/decode_step.h), which the decode model counts as its one
// `elementwise` component.
bool is_elementwise_role(const std::string& component) {
  return component == "norms" || component == "rotary" || component == "kv_append" || component == "activations" ||
         component == "moe_routing";
}

// The prefill model's phase an op of the prefill pass belongs to.
const char* prefill_phase(const std::string& component) {
  if (component == "weights" || component == "lm_head") return "linear";
  if (component == "kv_cache") return "attention";
  return "elementwise";  // norms, rotary, kv_append, activations
}

// The ops of a prefill pass that belong to one of the prefill model's phases.
std::vector<const StepOp*> phase_ops(const DecodeStep& step, const std::string& phase) {
  std::vector<const StepOp*> ops;
  for (const auto* op : all_ops(step))
    if (prefill_phase(op->component) == phase) ops.push_back(op);
  return ops;
}

// Each whole prefill: its phases' ops in one graph each, then all of them in one graph, against
// the prediction. A model the prefill pass does not cover gets a note instead.
void time_prefills(const ValidateRequest& r, const DeviceInfo& device, Timer& timer, const TimingOptions& o,
                   const Progress& progress, ValidateReport& rep) {
  const double peak_bf16 = r.gpu.peak_flops_for(DType::bf16);
  for (const PrefillCase& pc : r.prefills) {
    // Each timed graph gets a pass built afresh: the GEMMs run power-limited on Hopper, and their
    // speed depends on the values an earlier graph left in the activation buffers.
    std::unique_ptr<DecodeStep> step;
    auto build = [&] {
      step.reset();
      step = std::make_unique<DecodeStep>(r.model, r.cache, 1, 0, device, step_budget_bytes(), pc.tokens);
      return all_ops(*step);
    };
    progress(fmt::format("allocating the whole prefill of {} tokens", pc.tokens));
    try {
      build();
    } catch (const Error& e) {
      rep.notes.push_back(fmt::format("whole prefills not timed: {}", e.what()));
      return;
    }
    std::vector<const StepOp*> all;
    auto check = [&](const std::string& name, const std::vector<const StepOp*>& ops, double predicted_s) {
      TimedCheck t;
      t.name = name;
      for (const auto* op : ops) {
        t.bytes += op->bytes;
        t.flops += op->flops;
      }
      t.kernels = kernel_count(ops);
      t.measured = time_graph(timer, ops, o);
      t.predicted_s = predicted_s;
      t.peak_bytes_per_s = r.gpu.memory_bandwidth_bytes_per_s;
      t.peak_flops = peak_bf16;
      t.note = fmt::format("batch 1, {} tokens, one pass", pc.tokens);
      rep.prefill.push_back(t);
    };
    progress(fmt::format("timing the whole {}-token prefill (one CUDA graph)", pc.tokens));
    all = all_ops(*step);
    check(fmt::format("prefill {} (graph)", pc.tokens), all, pc.predicted_s);
    for (const char* phase : {"linear", "attention", "elementwise"}) {
      progress(fmt::format("timing the {}-token prefill's {}", pc.tokens, phase));
      build();
      const std::vector<const StepOp*> ops = phase_ops(*step, phase);
      if (ops.empty()) continue;
      double predicted = -1;
      for (const auto& p : pc.phases)
        if (p.name == phase) predicted = p.time_s;
      check(fmt::format("prefill {}: {}", pc.tokens, phase), ops, predicted);
    }
  }
}

// Each grid point's engine-like step (decode) or prefill pass in one CUDA graph, median replay.
void time_grids(const ValidateRequest& r, const DeviceInfo& device, Timer& timer, const TimingOptions& o,
                const Progress& progress, ValidateReport& rep) {
  for (StepGrid g : r.grids) {
    g.measured_s.assign(g.rows.size(), std::vector<double>(g.cols.size(), 0));
    for (size_t i = 0; i < g.rows.size(); ++i)
      for (size_t k = 0; k < g.cols.size(); ++k) {
        const bool decode = g.what == "decode";
        progress(fmt::format("{} grid: {} x {}", g.what, g.rows[i], g.cols[k]));
        const DecodeStep step(r.model, r.cache, g.rows[i], decode ? g.cols[k] : 0, device, step_budget_bytes(),
                              decode ? 0 : g.cols[k]);
        g.measured_s[i][k] = time_graph(timer, all_ops(step), o).median_s;
      }
    rep.grids.push_back(g);
  }
}

}  // namespace

DeviceInfo local_device(const std::string& command) { return device_info(command); }

ValidateReport run_validate(const ValidateRequest& r, const Progress& progress) {
  ValidateReport rep;
  rep.device = device_info("validate");
  rep.model = r.model.id;
  rep.gpu_preset = r.gpu.id;
  rep.kv_dtype = name(r.cache.kv_dtype);
  rep.batch = r.batch;
  rep.context = r.context;
  rep.prompt = r.prompt;
  Timer timer(rep.device.l2_bytes);
  const TimingOptions o = timing(r.max_time_per_item_s);
  const double clk0 = measure_sm_clock_mhz(timer.stream());
  if (r.check) {
    progress("correctness checks");
    rep.correctness = run_correctness_checks(static_cast<uint64_t>(std::time(nullptr)), rep.device.sm_count);
  }
  progress("allocating the decode step");
  DecodeStep step(r.model, r.cache, r.batch, r.context, rep.device, step_budget_bytes());
  for (const auto& n : step.notes()) rep.notes.push_back(n);
  const double peak_bf16 = r.gpu.peak_flops_for(DType::bf16);
  const std::vector<const StepOp*> all = all_ops(step);
  // One component's ops (or a group's) alone in a graph, against the model's component of that name.
  auto time_component = [&](const std::string& name, auto&& belongs) {
    progress("timing " + name);
    std::vector<const StepOp*> ops;
    TimedCheck t;
    t.name = name;
    for (const auto* op : all)
      if (belongs(op->component)) {
        ops.push_back(op);
        t.bytes += op->bytes;
        t.flops += op->flops;
      }
    t.kernels = kernel_count(ops);
    t.measured = time_graph(timer, ops, o);
    t.peak_bytes_per_s = r.gpu.memory_bandwidth_bytes_per_s;
    t.peak_flops = peak_bf16;
    for (const auto& p : r.predicted)
      if (p.name == name) {
        t.predicted_s = p.time_s;
        if (p.bytes > 0 && std::llabs(p.bytes - t.bytes) > t.bytes / 50)
          t.note = fmt::format("model counts {:.3g} GB, kernels move {:.3g} GB", p.bytes / 1e9, t.bytes / 1e9);
      }
    return t;
  };
  // The model's components, each timed alone; the small kernels' roles (norms, rotary, ...) each
  // alone too, then together as the model's `elementwise`.
  double parts_s = 0;
  bool small = false;
  for (const auto& comp : step.components()) {
    rep.decode.push_back(time_component(comp, [&](const std::string& c) { return c == comp; }));
    if (is_elementwise_role(comp)) {
      small = true;
      rep.decode.back().note = "(element-wise)";
    } else {
      parts_s += rep.decode.back().measured.median_s;
    }
  }
  if (small) {
    rep.decode.push_back(time_component("elementwise", is_elementwise_role));
    rep.decode.back().note = "the rows above marked (element-wise), in one graph";
    parts_s += rep.decode.back().measured.median_s;
  }
  for (const auto& p : r.predicted) {
    bool run = p.name == "kernel_gaps" || (p.name == "elementwise" && small);
    for (const auto& c : step.components()) run = run || c == p.name;
    if (!run && p.time_s > 0)
      rep.notes.push_back(fmt::format("predicted component '{}' ({:.1f} us) has no kernel here", p.name, p.time_s * 1e6));
  }
  progress("timing the whole decode step (one CUDA graph)");
  TimedCheck s;
  s.name = "decode step (graph)";
  for (const auto* op : all) {
    s.bytes += op->bytes;
    s.flops += op->flops;
  }
  s.kernels = kernel_count(all);
  s.measured = time_graph(timer, all, o);
  s.predicted_s = r.predicted_step_s;
  s.peak_bytes_per_s = r.gpu.memory_bandwidth_bytes_per_s;
  s.peak_flops = peak_bf16;
  rep.decode_step = s;
  // The whole graph beyond its components' graphs: the model's kernel_gaps (a difference of medians).
  TimedCheck gaps;
  gaps.name = "kernel_gaps";
  gaps.kernels = s.kernels;
  gaps.measured.n = 1;
  gaps.measured.median_s = s.measured.median_s - parts_s;
  gaps.predicted_s = 0;
  for (const auto& p : r.predicted)
    if (p.name == "kernel_gaps") gaps.predicted_s = p.time_s;
  gaps.note = "whole step's graph - the components' graphs above";
  rep.decode.push_back(gaps);
  // Each component's cost inside the step: the whole graph less the graph without it, which also
  // takes away the waits between it and its neighbours that its graph alone does not have.
  if (r.in_step)
    for (const auto& comp : step.components()) {
      progress("timing the step without " + comp);
      std::vector<const StepOp*> rest;
      for (const auto* op : all)
        if (op->component != comp) rest.push_back(op);
      TimedCheck t;
      t.name = "in step: " + comp;
      t.kernels = s.kernels - kernel_count(rest);
      const auto m = time_graph(timer, rest, o);
      t.measured.n = 1;
      t.measured.median_s = s.measured.median_s - m.median_s;
      t.note = "whole step's graph - the graph without it";
      rep.decode.push_back(t);
    }

  if (r.offload_tokens > 0) {
    progress("timing the host->device copies of the offloaded KV");
    TimedCheck c = time_offload_copies(timer, step.ops(), r.offload_tokens, r.predicted_link_s, o);
    c.peak_bytes_per_s = r.gpu.host_link.nominal_bytes_per_s;
    rep.offload.push_back(c);
    for (const bool prefetch : {true, false}) {
      progress(prefetch ? "timing the step with the offloaded KV prefetched" : "timing the step with the offloaded KV on demand");
      OffloadCase oc{prefetch ? "step, prefetch" : "step, on demand", r.offload_tokens, prefetch,
                     prefetch ? r.predicted_prefetch_s : r.predicted_on_demand_s};
      TimedCheck t = time_offloaded_step(timer, step.ops(), oc, o);
      t.peak_bytes_per_s = r.gpu.host_link.nominal_bytes_per_s;
      rep.offload.push_back(t);
    }
  }

  // Prefill: the causal attention kernel at the prompt length for the model's first attention shape.
  for (const auto& layer : r.model.layers) {
    if (!layer.mixer) continue;
    const auto* at = std::get_if<Attention>(&*layer.mixer);
    if (!at || at->sliding_window > 0 || at->chunk_size > 0 || (at->head_dim != 64 && at->head_dim != 128)) continue;
    const int64_t tokens = std::min<int64_t>(r.prompt > 0 ? r.prompt : r.context, 16384);
    progress(fmt::format("timing prefill attention at {} tokens", tokens));
    PrefillAttention p;
    p.heads = at->heads;
    p.kv_heads = at->kv_heads;
    p.tokens = tokens;
    p.dim = at->head_dim;
    TimedCheck t = time_prefill_attention(timer, p, o);
    t.name = "prefill attention/layer";
    if (r.prefill_attention_s_per_flop > 0) t.predicted_s = r.prefill_attention_s_per_flop * t.flops;
    t.peak_flops = peak_bf16;
    t.peak_bytes_per_s = r.gpu.memory_bandwidth_bytes_per_s;
    t.note = fmt::format("{} tokens, {}/{} heads", tokens, at->heads, at->kv_heads);
    rep.prefill.push_back(t);
    break;
  }
  time_prefills(r, rep.device, timer, o, progress, rep);
  time_grids(r, rep.device, timer, o, progress, rep);
  const double clk1 = measure_sm_clock_mhz(timer.stream());
  rep.clocks = assess_clocks(clk0, clk1, rep.device.max_sm_clock_mhz);
  return rep;
}

std::vector<GraphTiming> time_decode_steps(const std::vector<StepCase>& cases, const Progress& progress) {
  const DeviceInfo device = device_info("calibrate");
  Timer timer(device.l2_bytes);
  const TimingOptions o = timing(0.3);
  std::vector<GraphTiming> out;
  for (const StepCase& c : cases) {
    progress(fmt::format("engine-like decode step: {} batch {} context {}", c.model.id, c.batch, c.context));
    const DecodeStep step(c.model, c.cache, c.batch, c.context, device, step_budget_bytes());
    const std::vector<const StepOp*> all = all_ops(step);
    GraphTiming g;
    for (const auto* op : all) g.bytes += op->bytes;
    g.kernels = kernel_count(all);
    g.time_s = time_graph(timer, all, o).median_s;
    out.push_back(g);
  }
  return out;
}

std::vector<GraphTiming> time_component(const Model& model, const CacheOptions& cache,
                                        const std::vector<PassCase>& cases, const std::string& component,
                                        const Progress& progress) {
  const DeviceInfo device = device_info("calibrate");
  Timer timer(device.l2_bytes);
  const TimingOptions o = timing(0.3);
  std::vector<GraphTiming> out;
  for (const PassCase& c : cases) {
    progress(c.prefill_tokens > 0
                 ? fmt::format("{} kernels of a prefill: {} {} tokens", component, model.id, c.prefill_tokens)
                 : fmt::format("{} kernels of a decode step: {} batch {} context {}", component, model.id, c.batch,
                               c.context));
    const DecodeStep step(model, cache, c.batch, c.context, device, step_budget_bytes(), c.prefill_tokens);
    std::vector<const StepOp*> ops;
    for (const auto* op : all_ops(step))
      if (component == "elementwise" ? is_elementwise_role(op->component) : op->component == component)
        ops.push_back(op);
    if (ops.empty()) throw Error("no " + component + " kernels in the " + model.id + " pass");
    GraphTiming g;
    for (const auto* op : ops) g.bytes += op->bytes;
    g.kernels = kernel_count(ops);
    g.time_s = time_graph(timer, ops, o).median_s;
    out.push_back(g);
  }
  return out;
}

namespace {

// The decode step's rows (batch x query tokens) at which weight streams are timed.
constexpr int64_t kStreamRows[] = {1, 8, 32, 128};

// One decode weight shape [m, k] x [k, n] at each of kStreamRows: per m one CUDA graph of
// back-to-back cuBLAS GEMMs (32, or as many as hold 4 GiB of weights, at least 4) on up to 1 GiB
// of distinct weights, as the weights component runs them; cold L2 before each replay, median.
void time_weight_stream(Timer& timer, Blas& blas, const TimingOptions& o, int64_t n, int64_t k,
                        std::vector<Calibration::StreamRun>& out, const Progress& progress) {
  const int64_t pool_bytes = int64_t{1} << 30;
  const int64_t weight_bytes = n * k * 2;
  const int64_t launches = std::clamp<int64_t>((int64_t{4} << 30) / weight_bytes, 4, 32);
  const int64_t copies = std::clamp<int64_t>(pool_bytes / weight_bytes, 1, launches);
  std::vector<DeviceBuffer> weights;
  for (int64_t i = 0; i < copies; ++i) {
    weights.emplace_back(weight_bytes);
    fill_random_bf16(weights.back().get(), n * k, static_cast<uint64_t>(61 + i), -0.05f, 0.05f, timer.stream());
  }
  const int64_t max_m = kStreamRows[std::size(kStreamRows) - 1];
  DeviceBuffer x(max_m * k * 2), y(max_m * n * 2);
  fill_random_bf16(x.get(), max_m * k, 62, -1, 1, timer.stream());
  for (const int64_t m : kStreamRows) {
    progress(fmt::format("decode weight streams: m {} n {} k {}", m, n, k));
    std::vector<StepOp> ops;
    for (int64_t i = 0; i < launches; ++i) {
      void* w = weights[static_cast<size_t>(i % copies)].get();
      Blas* b = &blas;
      ops.push_back({"weights", "gemm", weight_bytes, 2.0 * static_cast<double>(m * n * k),
                     [b, w, xp = x.get(), yp = y.get(), m, n, k](cudaStream_t st) {
                       b->set_stream(st);
                       b->linear(w, xp, yp, n, k, m);
                     }});
    }
    std::vector<const StepOp*> list;
    for (const StepOp& op : ops) list.push_back(&op);
    out.push_back({m, n, k, launches, launches * weight_bytes, time_graph(timer, list, o).median_s});
  }
}

}  // namespace

std::vector<Calibration::StreamRun> time_weight_shapes(const std::vector<std::pair<int64_t, int64_t>>& shapes,
                                                       const Progress& progress) {
  const DeviceInfo device = device_info("calibrate");
  Timer timer(device.l2_bytes);
  const TimingOptions o = timing(0.3);
  Blas blas;
  blas.set_stream(timer.stream());
  std::vector<Calibration::StreamRun> out;
  for (const auto& [n, k] : shapes) time_weight_stream(timer, blas, o, n, k, out, progress);
  return out;
}

Calibration run_calibrate(const Gpu& base, const Progress& progress) {
  Calibration c;
  c.device = device_info("calibrate");
  {
    const std::time_t now = std::time(nullptr);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%d", std::gmtime(&now));
    c.date = buf;
  }
  Timer timer(c.device.l2_bytes);
  const TimingOptions o = timing(0.3);
  progress("bandwidth probe");
  const ProbeResult pr = run_probe(timer, c.device, o, int64_t(4) << 30);
  c.read_bytes_per_s = pr.read_bytes_per_s;
  c.copy_bytes_per_s = pr.copy_bytes_per_s;
  c.read_fit = pr.read_fit;
  const std::string read_method =
      std::getenv("KVPLAN_PROBE_VARIANT") != nullptr ? std::string("variant KVPLAN_PROBE_VARIANT of src/gpu/probe.cu")
      : c.device.cc_major >= 9
          ? fmt::format("the bulk copy engine (cp.async.bulk) into shared memory, 32 KB chunks, four in flight per SM, one "
                        "warp on each of the {} SMs", c.device.sm_count)
          : fmt::format("16-byte loads, block-contiguous 16 KB tiles, L2::256B prefetch, a persistent grid of {} SMs x "
                        "resident blocks", c.device.sm_count);
  c.methods.push_back(fmt::format(
      "probe: read: {}; copy: 16-byte loads and stores, grid-stride; sizes 1 MiB..4 GiB (x4); clean cold L2 before each "
      "sample (memset of 2x L2, then a read of it); CUDA events; median of >= 10 samples, stop at 0.3% noise or 0.3 s; "
      "read BW at 4 GiB, copy counts read+write",
      read_method));
  progress("GEMV curve and decode attention");
  Blas blas;
  std::vector<double> xs, ys;
  // Weight-read linears at decode batch 1 over the shapes of the bundled dense models (hidden 2K..16K).
  const std::vector<std::pair<int64_t, int64_t>> shapes = {{2048, 2048},  {4096, 4096},   {6144, 4096},  {14336, 4096},
                                                           {4096, 14336}, {28672, 8192},  {8192, 28672}, {53248, 16384},
                                                           {16384, 16384}, {128256, 4096}};
  for (const auto& [out, in] : shapes) {
    const TimedCheck t = time_linear(timer, blas, out, in, 1, o);
    xs.push_back(static_cast<double>(t.bytes));
    ys.push_back(t.measured.median_s);
    c.gemv_curve.emplace_back(t.bytes, t.achieved_bytes_per_s());
  }
  std::vector<DecodeAttention> attention_shapes;
  for (auto [h, kvh, b, n] : {std::tuple{32, 8, 1, 32768}, {32, 8, 8, 32768}, {32, 8, 32, 32768}, {32, 32, 8, 32768},
                              {64, 8, 16, 131072}}) {
    DecodeAttention a;
    a.batch = b;
    a.heads = h;
    a.kv_heads = kvh;
    a.context = n;
    attention_shapes.push_back(a);
  }
  std::vector<double> attention_rates;  // shapes moving >= 256 MiB: the KV cache sizes decode time matters at
  {
    // One KV allocation for all shapes, as an engine allocates its cache once (re-allocating multi-GB
    // buffers between shapes measured up to 16% slower on an H100).
    int64_t kv_max = 0;
    for (const auto& a : attention_shapes) kv_max = std::max(kv_max, decode_attention_kv_bytes(a));
    DeviceBuffer kv_memory(kv_max);
    for (const DecodeAttention& a : attention_shapes) {
      const TimedCheck t = time_decode_attention(timer, c.device, a, o, kv_memory.get());
      xs.push_back(static_cast<double>(t.bytes));
      ys.push_back(t.measured.median_s);
      c.decode_attention_curve.emplace_back(t.bytes, t.achieved_bytes_per_s());
      if (t.bytes >= (int64_t(256) << 20)) attention_rates.push_back(t.achieved_bytes_per_s());
    }
  }
  c.decode_attention_bytes_per_s = percentile(attention_rates, 0.5);
  c.decode_fit = fit_time_vs_bytes(xs, ys);
  c.methods.push_back(
      "decode_kernel_fit (for reference): time = t0 + bytes / BW fitted (relative least squares) over cuBLAS bf16 GEMVs at "
      "batch 1 (10 shapes of the bundled models, 8 MB..1.7 GB of weights) and kvplan's decode attention (GQA/MHA, 32K and "
      "128K context), each launched alone between CUDA events with a cold L2 (includes the launch latency a graph hides)");
  c.methods.push_back(fmt::format(
      "attention_bandwidth_fraction (the decode step's kv_cache component): kvplan's split-KV decode attention (split "
      "kernel + combine), bf16 KV, head_dim 128, heads q/kv x batch x context 32/8 x 1 x 32K, 32/8 x 8 x 32K, 32/8 x 32 "
      "x 32K, 32/32 x 8 x 32K, 64/8 x 16 x 128K, K/V in one allocation for all shapes, each launched alone between CUDA "
      "events with a cold L2; bytes = KV + q + out; median of bytes / time over the {} shapes moving >= 256 MiB = "
      "{:.4g} B/s; / datasheet bandwidth",
      attention_rates.size(), c.decode_attention_bytes_per_s));
  progress("SSM state update");
  {
    SsmUpdate m1;  // Mamba-1 as falcon-mamba-7b: d_inner 8192, d_state 16
    m1.batch = 256;
    m1.heads = 8192;
    m1.head_dim = 1;
    m1.d_state = 16;
    m1.state_fp32 = true;
    SsmUpdate m2;  // Mamba-2 as mamba2-2.7b: 80 heads x 64, 1 group, d_state 128
    m2.mamba2 = true;
    m2.batch = 64;
    m2.heads = 80;
    m2.head_dim = 64;
    m2.groups = 1;
    m2.d_state = 128;
    m2.state_fp32 = true;
    // Engines keep the state in either dtype (vLLM's mamba_ssm_cache_dtype: the model's, or float32),
    // and the kernel streams bf16 state slower per byte: each shape is timed with both and averaged.
    double r[2][2];  // [mamba1, mamba2][fp32, bf16]
    for (int fp = 0; fp < 2; ++fp) {
      m1.state_fp32 = m2.state_fp32 = fp == 0;
      r[0][fp] = time_ssm_update(timer, m1, o).achieved_bytes_per_s();
      r[1][fp] = time_ssm_update(timer, m2, o).achieved_bytes_per_s();
    }
    for (int fp = 0; fp < 2; ++fp) {
      c.ssm_runs.push_back({m1.d_state, fp == 0 ? 32 : 16, r[0][fp]});
      c.ssm_runs.push_back({m2.d_state, fp == 0 ? 32 : 16, r[1][fp]});
    }
    c.ssm_mamba1_bytes_per_s = (r[0][0] + r[0][1]) / 2;
    c.ssm_mamba2_bytes_per_s = (r[1][0] + r[1][1]) / 2;
    c.ssm_update_bytes_per_s = (c.ssm_mamba1_bytes_per_s + c.ssm_mamba2_bytes_per_s) / 2;
    c.methods.push_back(fmt::format(
        "state_bandwidth_fraction (the decode step's ssm_state component): kvplan's selective-state update kernel, "
        "Mamba-1 batch 256 x d_inner 8192 x d_state 16 (fp32 state {:.4g} B/s, bf16 state {:.4g} B/s) and Mamba-2 batch "
        "64 x 80 heads x 64 x d_state 128, 1 group (fp32 {:.4g} B/s, bf16 {:.4g} B/s), each launched alone between CUDA "
        "events with a cold L2; bytes = state read + written + x, z, y, B, C, A; mean of the four = {:.4g} B/s; / "
        "datasheet bandwidth; state_efficiency: each of the four / datasheet bandwidth by (d_state, the state's bits), which "
        "a Mamba layer's update takes by its own d_state and state dtype (interpolated in log2(d_state))",
        r[0][0], r[0][1], r[1][0], r[1][1], c.ssm_update_bytes_per_s));
  }
  progress("GEMVs in a CUDA graph");
  // Weight streaming as the decode step runs it: `count` distinct matrices, back-to-back GEMVs in one graph.
  auto graph_gemvs = [&](int64_t out, int64_t in, int64_t count) {
    std::vector<DeviceBuffer> w;
    for (int64_t i = 0; i < count; ++i) {
      w.emplace_back(out * in * 2);
      fill_random_bf16(w.back().get(), out * in, 100 + static_cast<uint64_t>(i), -0.05f, 0.05f, timer.stream());
    }
    DeviceBuffer x(in * 2), y(out * 2);
    fill_random_bf16(x.get(), in, 99, -1, 1, timer.stream());
    blas.set_stream(timer.stream());
    GraphExec g;
    g.capture(timer.stream(), [&] {
      for (const auto& m : w) blas.linear(m.get(), x.get(), y.get(), out, in, 1);
    });
    const SampleStats st = timer.measure([&](cudaStream_t s) { g.launch(s); }, o);
    return GraphTiming{count * (out * in + in + out) * 2, count, st.median_s};
  };
  // Large: 5.6 GB in 48 kernels, the bytes term ~90% of the time. Tiny: 1000 kernels of 128 KB, the
  // per-kernel term > 90% of the time, so each graph pins one unknown (the solve is well conditioned).
  c.graph_large = graph_gemvs(14336, 4096, 48);
  c.graph_tiny = graph_gemvs(256, 256, 1000);
  const StreamingSolve sol = solve_graph_streaming(c.graph_large, c.graph_tiny, base.memory_bandwidth_bytes_per_s);
  c.step_bytes_per_s = sol.bytes_per_s;
  c.step_kernel_overhead_s = sol.kernel_overhead_s;
  const auto ms = [](const GraphTiming& t) { return t.time_s * 1e3; };
  c.methods.push_back(fmt::format(
      "bandwidth_fraction and kernel_overhead_s (used by the decode model): two CUDA graphs of back-to-back cuBLAS bf16 "
      "GEMVs at batch 1 on distinct weights, as a decode step runs them, cold L2 before each replay: 1000 x (256x256) = "
      "{:.3f} GB in {:.3f} ms pins the per-kernel overhead (its bytes are {:.1f}% of its time) and 48 x (14336x4096) = "
      "{:.2f} GB in {:.3f} ms the bandwidth, solved jointly for time = bytes / BW + kernels x overhead: BW = large bytes "
      "/ (large time - 48 x overhead), overhead = (tiny time - tiny bytes / BW) / 1000; BW / datasheet = "
      "bandwidth_fraction",
      static_cast<double>(c.graph_tiny.bytes) / 1e9, ms(c.graph_tiny), sol.tiny_bytes_share * 100,
      static_cast<double>(c.graph_large.bytes) / 1e9, ms(c.graph_large)));
  progress("lm_head in a CUDA graph");
  {
    // Llama-3's vocab projection (meta-llama/Llama-3.1-8B config.json: vocab_size 128256, hidden_size 4096),
    // the decode step's lm_head op alone in a graph, as validate times the lm_head component.
    const int64_t vocab = 128256, hidden = 4096, weight_bytes = vocab * hidden * 2;
    const int64_t batches[] = {1, 8}, max_batch = batches[1];  // x and y sized for the larger
    auto weight = std::make_shared<DeviceBuffer>(weight_bytes);
    fill_random_bf16(weight->get(), vocab * hidden, 98, -0.05f, 0.05f, timer.stream());
    DeviceBuffer x(max_batch * hidden * 2), y(max_batch * vocab * 2);
    fill_random_bf16(x.get(), max_batch * hidden, 97, -1, 1, timer.stream());
    std::vector<GraphTiming> runs;
    for (const int64_t batch : batches) {
      const StepOp op = lm_head_op(blas, weight, x.get(), y.get(), vocab, hidden, batch);
      // The model counts the lm_head's weight bytes (the activations are < 0.2% at batch 8) and one GEMM kernel.
      runs.push_back(GraphTiming{weight_bytes, 1, time_graph(timer, {&op}, o).median_s});
      c.lm_head_graphs.emplace_back(batch, runs.back());
    }
    c.lm_head_bytes_per_s = bytes_per_s_after_overhead(runs, c.step_kernel_overhead_s);
    c.methods.push_back(fmt::format(
        "lm_head_bandwidth_fraction (the decode step's lm_head component): the decode step's lm_head op (one cuBLAS "
        "bf16 cublasGemmEx, fp32 accumulate) on a 128256 x 4096 weight (Llama-3 vocab x hidden), alone in a CUDA graph "
        "as validate times the lm_head, between CUDA events with a cold L2 before each replay, median replay at batch "
        "{} ({:.1f} us) and batch {} ({:.1f} us); bytes = the weight's {} B; per batch weight bytes / (time - 1 x "
        "kernel_overhead_s {:.3f} us), mean of the two = {:.4g} B/s; / datasheet bandwidth",
        batches[0], runs[0].time_s * 1e6, batches[1], runs[1].time_s * 1e6, weight_bytes, c.step_kernel_overhead_s * 1e6,
        c.lm_head_bytes_per_s));
  }
  {
    // The decode step's weight GEMMs by shape: m = the step's rows (batch x query tokens), n and k
    // from a tensor-parallel shard's projections (4096) to a vocab (131072), each shape as
    // back-to-back cuBLAS GEMMs in one CUDA graph on distinct weights, as the weights component runs
    // them. Wide shapes start at 4096 x 4096 (32 MiB, 7 us of bytes), so that the per-kernel cost
    // subtracted below stays a small share of their time; n = 256 is the narrow projections (an SSM's
    // x_proj, MLA's latent down-projection), whose few output rows leave most of the GPU idle.
    const int64_t ns[] = {256, 4096, 16384, 65536, 131072}, ks[] = {4096, 16384};
    const int64_t* ms = kStreamRows;
    blas.set_stream(timer.stream());
    for (const int64_t n : ns)
      for (const int64_t k : ks) time_weight_stream(timer, blas, o, n, k, c.stream_runs, progress);
    c.methods.push_back(fmt::format(
        "weight_stream_efficiency (the decode step's dense weight GEMMs and lm_head by shape): cuBLAS bf16 GEMMs "
        "(cublasGemmEx, fp32 accumulate) of [m, k] x [k, n], m in {{{}}} rows, n in {{{}}}, k in {{{}}}, each shape "
        "as back-to-back GEMMs in one CUDA graph (32, or as many as hold 4 GiB of weights, at least 4) on up to 1 GiB "
        "of distinct weights, cold L2 before each replay, median replay; weight bytes / (time - launches x "
        "kernel_overhead_s) / datasheet bandwidth, at most 1",
        fmt::join(ms, ms + std::size(kStreamRows), ", "), fmt::join(ns, ", "), fmt::join(ks, ", ")));
  }
  progress("MoE experts in a CUDA graph");
  {
    // Mixtral-8x7B's experts (mistralai/Mixtral-8x7B-v0.1 config.json: hidden 4096, intermediate
    // 14336, 8 experts, top-2): gate_up [2 x 14336][4096] and down [4096][14336] per expert, the
    // decode step's grouped GEMV over all 8 at 2 slots each (batch 8: the CUDA-core path) and 8 each
    // (batch 32: the tensor cores), every expert's weights read once; four launches back to back on
    // distinct copies of the weights, as a step's layers run them.
    const int64_t experts = 8, hidden = 4096, inter = 14336, copies = 4;
    struct Proj {
      const char* name;
      int64_t out, in;
    };
    const Proj projs[] = {{"gate_up", 2 * inter, hidden}, {"down", hidden, inter}};
    std::vector<GraphTiming> runs;
    for (const int64_t per : {int64_t{2}, int64_t{8}}) {
      const int64_t slots = experts * per;
      std::vector<int> ids(static_cast<size_t>(experts)), offsets(static_cast<size_t>(experts + 1)),
          rows(static_cast<size_t>(slots));
      for (int64_t e = 0; e <= experts; ++e) {
        if (e < experts) ids[static_cast<size_t>(e)] = static_cast<int>(e);
        offsets[static_cast<size_t>(e)] = static_cast<int>(e * per);
      }
      for (int64_t s = 0; s < slots; ++s) rows[static_cast<size_t>(s)] = static_cast<int>(s);
      const DeviceBuffer d_ids = to_device(ids), d_offsets = to_device(offsets), d_rows = to_device(rows);
      for (const Proj& p : projs) {
        const int64_t bytes = experts * p.out * p.in * 2;  // the model counts the experts' weights
        std::vector<DeviceBuffer> ws;
        DeviceBuffer x(slots * p.in * 2), y(slots * p.out * 2);
        fill_random_bf16(x.get(), slots * p.in, 95, -1, 1, timer.stream());
        std::vector<StepOp> ops;
        for (int64_t i = 0; i < copies; ++i) {
          ws.emplace_back(bytes);
          fill_random_bf16(ws.back().get(), experts * p.out * p.in, static_cast<uint64_t>(96 + i), -0.05f, 0.05f,
                           timer.stream());
          const GroupedGemv g{ws.back().get(), x.get(), y.get(), d_ids.as<int>(), d_offsets.as<int>(), d_rows.as<int>(),
                              experts,         p.out,   p.in,    slots,           per};
          ops.push_back({"weights", p.name, bytes, 2.0 * static_cast<double>(slots * p.out * p.in),
                         [g](cudaStream_t s) { launch_grouped_gemv(g, s); }});
        }
        std::vector<const StepOp*> list;
        for (const StepOp& op : ops) list.push_back(&op);
        runs.push_back(GraphTiming{copies * bytes, copies, time_graph(timer, list, o).median_s});
        c.expert_graphs.emplace_back(fmt::format("{} x{} experts, {} slots each, {} back to back", p.name, experts, per,
                                                 copies),
                                     runs.back());
      }
    }
    c.expert_bytes_per_s = bytes_per_s_after_overhead(runs, c.step_kernel_overhead_s);
    c.methods.push_back(fmt::format(
        "expert_bandwidth_fraction (the decode step's routed experts): the decode step's grouped expert GEMV "
        "(src/gpu/moe.cu) over Mixtral-8x7B's 8 experts, gate_up (28672 x 4096) and down (4096 x 14336) at 2 and 8 "
        "slots per expert, each as {} launches back to back on distinct copies of the weights in one CUDA graph, cold "
        "L2 before each replay, median replay; per graph expert weight bytes / (time - {} x kernel_overhead_s {:.3f} "
        "us), mean of the four = {:.4g} B/s; / datasheet bandwidth",
        copies, copies, c.step_kernel_overhead_s * 1e6, c.expert_bytes_per_s));
  }
  progress("GEMM and prefill attention");
  const TimedCheck g = time_linear(timer, blas, 8192, 8192, 8192, o);
  c.gemm_flops = g.achieved_flops();
  c.methods.push_back("flops_fraction: cuBLAS bf16 GEMM 8192^3 (cublasGemmEx, fp32 accumulate) / datasheet dense bf16 peak");
  {
    // Prefill attention by length and head size: a prefill's attention phase as one CUDA graph of
    // 32 launches of kvplan's causal attention (Llama-3.1-8B's 32/8 heads at head_dim 128,
    // gpt-oss's 64/8 at 64), cold L2, median replay, per prompt length.
    struct Shape {
      int64_t heads, kv_heads, dim;
    };
    const int64_t layers = 32;
    for (const Shape sh : {Shape{32, 8, 128}, Shape{64, 8, 64}}) {
      const int64_t max_tokens = c.attention_tokens.back();
      const int64_t qn = sh.heads * max_tokens * sh.dim, kn = sh.kv_heads * max_tokens * sh.dim;
      DeviceBuffer q(qn * 2), k(kn * 2), v(kn * 2), out(qn * 2);
      fill_random_bf16(q.get(), qn, 21, -1, 1, timer.stream());
      fill_random_bf16(k.get(), kn, 22, -1, 1, timer.stream());
      fill_random_bf16(v.get(), kn, 23, -1, 1, timer.stream());
      for (const int64_t tokens : c.attention_tokens) {
        progress(fmt::format("prefill attention: head_dim {}, {} tokens", sh.dim, tokens));
        PrefillAttention a;
        a.q = q.get();
        a.k = k.get();
        a.v = v.get();
        a.out = out.get();
        a.heads = sh.heads;
        a.kv_heads = sh.kv_heads;
        a.tokens = tokens;
        a.dim = sh.dim;
        a.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(sh.dim)));
        const StepOp op{"kv_cache", "attention", (2 * sh.heads + 2 * sh.kv_heads) * tokens * sh.dim * 2,
                        prefill_attention_flops(a), [a](cudaStream_t st) { launch_prefill_attention(a, st); }};
        const std::vector<const StepOp*> ops(static_cast<size_t>(layers), &op);
        const Calibration::AttentionRun run{tokens, sh.dim, layers, static_cast<double>(layers) * op.flops,
                                            time_graph(timer, ops, o).median_s};
        c.attention_runs.push_back(run);
        if (tokens == Calibration::kAttentionReference.tokens && sh.dim == Calibration::kAttentionReference.head_dim)
          c.prefill_attention_flops = run.flops / run.time_s;
      }
    }
    c.methods.push_back(fmt::format(
        "attention_efficiency, attention_flops_fraction: kvplan's causal prefill attention ({}, online softmax) as a "
        "prefill's attention phase, {} launches in one CUDA graph on the same q, k, v, cold L2 before each replay, median "
        "replay; heads 32/8 at head_dim 128 and 64/8 at head_dim 64, prompts of {} tokens; causal FLOPs "
        "4 x heads x head_dim x T (T + 1) / 2 per launch / (time - launches x the GEMV graphs' per-kernel cost) / "
        "datasheet dense bf16 peak; attention_flops_fraction = the point at 16384 tokens, head_dim 128",
        prefill_attention_kernel(PrefillAttention{}), layers, fmt::join(c.attention_tokens, ", ")));
  }
  {
    // The weight GEMMs of prefill: tokens m x the linears' n and k, as the bundled presets' grids,
    // timed as a prefill runs them: 32 back-to-back GEMMs of the shape in one CUDA graph (a model's
    // layers), on distinct weights while they fit a 1 GiB pool, so the GPU runs them at the clock a
    // prefill's sustained GEMMs get (timed alone, one at a time, m = 1024's larger shapes ran up to
    // 17% faster on an H200, and a whole prefill's linears 10% slower than that grid predicted).
    // Measured last: timed after these GEMMs, the prefill attention reached 0.48 of the bf16 peak
    // on an H200 instead of 0.65.
    const int64_t ms[] = {1024, 4096, 8192}, nks[] = {1024, 4096, 16384, 32768};
    const int64_t launches = 32, pool_bytes = int64_t{1} << 30;
    blas.set_stream(timer.stream());
    for (const int64_t m : ms)
      for (const int64_t n : nks)
        for (const int64_t k : nks) {
          progress(fmt::format("GEMM grid: m {} n {} k {}", m, n, k));
          const int64_t weight_bytes = n * k * 2;
          const int64_t copies = std::clamp<int64_t>(pool_bytes / weight_bytes, 1, launches);
          std::vector<DeviceBuffer> weights;
          for (int64_t i = 0; i < copies; ++i) {
            weights.emplace_back(weight_bytes);
            fill_random_bf16(weights.back().get(), n * k, static_cast<uint64_t>(41 + i), -0.05f, 0.05f, timer.stream());
          }
          DeviceBuffer x(m * k * 2), y(m * n * 2);
          fill_random_bf16(x.get(), m * k, 42, -1, 1, timer.stream());
          std::vector<StepOp> ops;
          for (int64_t i = 0; i < launches; ++i) {
            void* w = weights[static_cast<size_t>(i % copies)].get();
            Blas* b = &blas;
            ops.push_back({"weights", "gemm", weight_bytes + (m * (n + k)) * 2, 2.0 * static_cast<double>(m * n * k),
                           [b, w, xp = x.get(), yp = y.get(), m, n, k](cudaStream_t st) {
                             b->set_stream(st);
                             b->linear(w, xp, yp, n, k, m);
                           }});
          }
          std::vector<const StepOp*> list;
          for (const StepOp& op : ops) list.push_back(&op);
          c.gemm_runs.push_back({m, n, k, launches, static_cast<double>(launches) * 2.0 * static_cast<double>(m * n * k),
                                 time_graph(timer, list, o).median_s});
        }
    c.methods.push_back(fmt::format(
        "gemm_efficiency: cuBLAS bf16 GEMMs (cublasGemmEx, fp32 accumulate) of [m, k] x [k, n] over m in {{1024, 4096, "
        "8192}} tokens and n, k in {{1024, 4096, 16384, 32768}}, each shape as {} back-to-back GEMMs in one CUDA graph on "
        "up to {} distinct weights (a 1 GiB pool), cold L2 before each replay, median replay; {} x 2 m n k FLOPs / (time - "
        "{} x the GEMV graphs' per-kernel cost) / datasheet dense bf16 peak (below m = 1024 the decode step's weight bytes "
        "bind and the grid is clamped)",
        launches, launches, launches, launches));
  }
  c.methods.push_back("allreduce_latency_s: not measured (one GPU); copied from the bundled preset");
  return c;
}

}  // namespace kvplan::gpu
