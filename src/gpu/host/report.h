// Result structures of `kvplan validate` and `kvplan calibrate`, with their printers (table, JSON
// with schema_version, and the calibrated preset YAML). Host-only: the CUDA side fills them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/gemm_efficiency.h"
#include "core/gpu.h"
#include "gpu/host/fit.h"
#include "gpu/host/stats.h"

namespace kvplan::gpu {

using Json = nlohmann::ordered_json;
constexpr int kValidateSchemaVersion = 1;

// What the device says about itself.
struct DeviceInfo {
  std::string name;
  int sm_count = 0;
  int cc_major = 0, cc_minor = 0;
  int64_t memory_bytes = 0;
  int64_t l2_bytes = 0;
  double max_sm_clock_mhz = 0;
  std::string driver;        // e.g. "580.159" (from cudaDriverGetVersion: CUDA level, e.g. 13.0)
  std::string cuda_runtime;  // e.g. "13.0"
  std::string blas;          // the cuBLAS the loader found: version and file, e.g. "13.0.0 (/usr/local/cuda/lib64/libcublas.so.13)"
};

// One timed item: a predicted time (from kvplan's model) against a measured one.
struct TimedCheck {
  std::string name;
  int64_t bytes = 0;        // bytes the item must move (inputs once, outputs once)
  double flops = 0;
  int64_t kernels = 0;
  double predicted_s = -1;  // < 0: no prediction
  SampleStats measured;
  double peak_bytes_per_s = 0;  // the preset's datasheet figures, for "% of peak"
  double peak_flops = 0;
  std::string note;
  double error_pct() const;  // (predicted - measured) / measured x 100; NaN without a prediction
  double achieved_bytes_per_s() const { return measured.median_s > 0 ? static_cast<double>(bytes) / measured.median_s : 0; }
  double achieved_flops() const { return measured.median_s > 0 ? flops / measured.median_s : 0; }
};

struct CorrectnessCheck {
  std::string kernel;
  double rel_error = 0;
  double tolerance = 0;
  bool pass() const { return rel_error <= tolerance; }
};

// Step times on a grid (validate --simulate): decode steps (rows: sequences, cols: tokens cached
// per sequence) or whole prefill passes (rows: prompts, cols: tokens per prompt), each an engine-like
// step in one CUDA graph; predicted_s is kvplan's time for the same step.
struct StepGrid {
  std::string what;  // "decode" or "prefill"
  std::vector<int64_t> rows, cols;
  std::vector<std::vector<double>> measured_s, predicted_s;  // [rows][cols]
};

// One simulation of validate --simulate's requests: the step times from kvplan's model or from the
// measured grids.
struct ScheduleRun {
  std::string steps;  // "kvplan" or "measured"
  double ttft_p50_s = 0, ttft_p90_s = 0, ttft_p99_s = 0;
  double tpot_p50_s = 0, tpot_p90_s = 0, tpot_p99_s = 0;
  double output_tokens_per_s = 0, span_s = 0;
  int64_t steps_run = 0;
};
struct ScheduleCheck {
  int64_t requests = 0, prompt = 0, output = 0, max_num_seqs = 0, max_num_batched_tokens = 0;
  double rate_rps = 0;
  uint64_t seed = 1;
  std::vector<ScheduleRun> runs;  // kvplan, then measured
};

struct ValidateReport {
  DeviceInfo device;
  std::string model, gpu_preset, kv_dtype;
  int64_t batch = 0, context = 0, prompt = 0;
  ClockCheck clocks;
  std::vector<CorrectnessCheck> correctness;
  std::vector<TimedCheck> decode;  // per component, as kvplan's decode model names them
  TimedCheck decode_step;          // all layers' kernels in order, one CUDA graph
  std::vector<TimedCheck> prefill;
  // Stream offload (--offload): the host->device copies alone, then the step with them prefetched
  // and on demand (gpu/offload_step.h); empty without an offload.
  std::vector<TimedCheck> offload;
  std::vector<StepGrid> grids;     // validate --simulate: the measured step grids
  ScheduleCheck schedule;          // validate --simulate (requests 0: not run)
  std::vector<std::string> notes;
};

Json to_json(const SampleStats& s);
Json to_json(const TimedCheck& t);
Json to_json(const ValidateReport& r);
std::string render_table(const ValidateReport& r);

// Figures `kvplan calibrate` measures; each keeps a line on how it was measured.
struct Calibration {
  DeviceInfo device;
  std::string date;  // ISO date of the run
  double read_bytes_per_s = 0, copy_bytes_per_s = 0;  // probe, largest size
  LinearFit read_fit;                                   // probe, time = t0 + bytes / BW
  LinearFit decode_fit;                                 // GEMVs + decode attention, each launched alone
  // Weight streaming as a decode step runs it (back-to-back GEMVs in one CUDA graph): a graph of
  // large GEMVs and one of tiny GEMVs, solved by solve_graph_streaming (bandwidth_fraction,
  // kernel_overhead_s).
  GraphTiming graph_large, graph_tiny;
  double step_bytes_per_s = 0, step_kernel_overhead_s = 0;
  double gemm_flops = 0;                                // bf16 GEMM, large square
  // bf16 GEMMs over the preset's grid of shapes (gemm_efficiency), each shape one CUDA graph of
  // `kernels` back-to-back GEMMs, as a prefill runs them; efficiency = flops / (time - kernels x
  // the GEMV graphs' per-kernel cost step_kernel_overhead_s) / bf16 peak, a launch gap the model
  // adds back per kernel (gemm_points). Empty: the preset keeps flops_fraction alone.
  struct GemmRun {
    int64_t m = 0, n = 0, k = 0, kernels = 0;
    double flops = 0, time_s = 0;
  };
  std::vector<GemmRun> gemm_runs;
  // The decode step's weight GEMMs by shape (weight_stream_efficiency): per shape one CUDA graph of
  // `kernels` back-to-back cuBLAS GEMMs at a decode-sized m on distinct weights; efficiency = weight
  // bytes / (time - kernels x step_kernel_overhead_s) / datasheet bandwidth (weight_stream_points).
  struct StreamRun {
    int64_t m = 0, n = 0, k = 0, kernels = 0, bytes = 0;
    double time_s = 0;
  };
  std::vector<StreamRun> stream_runs;
  // The bundled models' own matrices, timed as the grid's shapes (weight_stream_shapes).
  std::vector<StreamRun> shape_runs;
  // Prefill attention by length (attention_efficiency): per head size and prompt length one CUDA
  // graph of `kernels` launches of the causal attention, a prefill's attention phase; efficiency as
  // for the GEMMs (attention_points). attention_flops_fraction = the point at kAttentionReference;
  // prefill_attention_flops records that graph's FLOPs / time as measured.
  static constexpr AttentionPoint kAttentionReference{16384, 128, 0};
  double prefill_attention_flops = 0;
  struct AttentionRun {
    int64_t tokens = 0, head_dim = 0, kernels = 0;
    double flops = 0, time_s = 0;
  };
  std::vector<int64_t> attention_tokens{1024, 2048, 4096, 8192, 16384, 32768};
  std::vector<AttentionRun> attention_runs;
  // kvplan's decode attention: median over the shapes moving >= 256 MiB (attention_bandwidth_fraction).
  double decode_attention_bytes_per_s = 0;
  // The decode step's attention kernels (attention + combine per layer) in one CUDA graph at batch 1
  // and contexts of 1K-32K: per graph, the per-kernel cost after the bytes at
  // decode_attention_bytes_per_s, by the bytes one launch moves (attention_kernel_overhead_s; empty:
  // not measured).
  std::vector<std::pair<std::string, GraphTiming>> attention_graphs;  // label -> one replay
  std::vector<KernelCostPoint> attention_kernel_overhead;
  std::vector<std::pair<int64_t, double>> decode_attention_curve;  // bytes moved -> achieved bytes/s, per shape
  // kvplan's SSM state update, fp32 state, read + write: mean of a Mamba-1 and a Mamba-2 shape
  // (state_bandwidth_fraction).
  double ssm_update_bytes_per_s = 0;
  double ssm_mamba1_bytes_per_s = 0, ssm_mamba2_bytes_per_s = 0;
  // Each timed update by its state's row: d_state elements of `bits` bits, achieved bytes/s.
  struct SsmRun {
    int64_t d_state = 0;
    int64_t bits = 0;
    double bytes_per_s = 0;
  };
  std::vector<SsmRun> ssm_runs;
  // The lm_head as the decode step runs it: one cuBLAS GEMV/GEMM of a vocab x hidden bf16 weight alone
  // in a CUDA graph, per batch (bytes = the weight's); lm_head_bytes_per_s = the mean over the batches of
  // bytes / (time - kernel overhead) (bytes_per_s_after_overhead; lm_head_bandwidth_fraction).
  std::vector<std::pair<int64_t, GraphTiming>> lm_head_graphs;  // batch -> one replay
  double lm_head_bytes_per_s = 0;
  // The decode step's fused MoE op (gpu/moe.cu's grouped GEMV) alone in a CUDA graph, Mixtral's
  // experts at 2 and 8 slots each (both kernel paths); expert_bytes_per_s = the mean of expert
  // weight bytes / (time - kernel overhead) (expert_bandwidth_fraction).
  std::vector<std::pair<std::string, GraphTiming>> expert_graphs;  // label -> one replay
  double expert_bytes_per_s = 0;
  // The element-wise kernels of whole prefill passes (norms, rotary, KV append, activations of every
  // layer, gpu/decode_step.h) alone in a CUDA graph; bytes = the prefill model's element-wise bytes;
  // elementwise_bytes_per_s = the mean of bytes / (time - kernels x kernel overhead)
  // (elementwise_bandwidth_fraction).
  std::vector<std::pair<std::string, GraphTiming>> elementwise_graphs;  // label -> one replay
  double elementwise_bytes_per_s = 0;
  // The same kernels of whole decode steps (decode_elementwise_bytes_per_s), whose activations stay
  // in L2 between kernels; bytes = the decode model's element-wise bytes.
  // solve_graph_streaming on batch 1 (tiny) and the largest batch gives the per-kernel cost
  // (elementwise_kernel_overhead_s); the rate is then the mean over the large batches.
  std::vector<std::pair<std::string, GraphTiming>> decode_elementwise_graphs;  // label -> one replay
  double decode_elementwise_bytes_per_s = 0, elementwise_kernel_overhead_s = 0;
  // The norms among them alone in a graph at batch 1 (norm_kernel_overhead_s; 0: not measured, and
  // elementwise_kernel_overhead_s covers every element-wise kernel).
  std::vector<std::pair<std::string, GraphTiming>> decode_norm_graphs;  // label -> one replay
  double norm_kernel_overhead_s = 0;
  // The rotary embeddings among them, the same way, one point by each model's (cos, sin) pairs a
  // token (rotary_kernel_overhead_s; empty: not measured, and elementwise_kernel_overhead_s covers
  // them).
  std::vector<std::pair<std::string, GraphTiming>> decode_rotary_graphs;  // label -> one replay
  std::vector<KernelCostPoint> rotary_kernel_overhead;                    // pairs -> seconds
  // MoE models' routing kernels (top-k, align, combine) alone in a graph, the same way, one point
  // by the models' experts each (moe_routing_kernel_overhead_s; empty: not measured).
  std::vector<std::pair<std::string, GraphTiming>> decode_moe_routing_graphs;  // label -> one replay
  std::vector<KernelCostPoint> moe_routing_kernel_overhead;                      // experts -> seconds
  std::vector<std::pair<int64_t, double>> gemv_curve;   // weight bytes -> achieved bytes/s
  // Whole engine-like decode steps (one CUDA graph each, gpu/decode_step.h): the `fit` ones set
  // kernel_gap_s (fit_kernel_gap; kernel_overhead_s is the GEMV graphs' step_kernel_overhead_s),
  // the others check the written preset on models and shapes it was not fitted on. predicted_s is
  // the written preset's prediction.
  struct Step {
    std::string model;
    int64_t batch = 0, context = 0, kernels = 0;
    double measured_s = 0, predicted_s = 0;
    bool fit = false;
  };
  std::vector<Step> steps;
  double step_kernel_gap_fit_s = 0;  // fit_kernel_gap on the `fit` steps, as fitted (may be negative)
  double kernel_gap_s = 0;           // written: the fit, at least 0
  std::vector<std::string> methods;                     // one line per figure
};

// The GEMM grid and the prefill attention grid of a calibration: per graph flops / (time - kernels
// x kernel_overhead_s) / bf16_peak (0 where the overhead would take the whole time;
// calibrated_efficiency rejects it).
std::vector<GemmPoint> gemm_points(const Calibration& c, double kernel_overhead_s, double bf16_peak);
std::vector<AttentionPoint> attention_points(const Calibration& c, double kernel_overhead_s, double bf16_peak);
// The weight stream grid: per graph weight bytes / (time - kernels x kernel_overhead_s) / bandwidth
// (0 where the overhead would take the whole time; calibrated_efficiency rejects it).
std::vector<GemmPoint> weight_stream_points(const std::vector<Calibration::StreamRun>& runs, double kernel_overhead_s,
                                            double bandwidth);

// Efficiency block derived from a calibration against the preset's datasheet figures; a figure
// left at 0 keeps the base preset's value. Throws kvplan::Error when a measured fraction of the
// datasheet is outside (0, 1] (a preset that would not load, or a wrong measurement).
Efficiency calibrated_efficiency(const Gpu& base, const Calibration& c);
// Preset YAML that src/io/gpu_yaml.cpp accepts: the base preset's datasheet fields, the calibrated
// efficiency block, and a `calibration:` mapping that records device, driver, date and method.
std::string render_calibrated_preset(const Gpu& base, const Calibration& c);

}  // namespace kvplan::gpu
