// kvplan-gpu-bench: the correctness checks of every kernel variant ([gpu] tests, GPU machine only)
// and the timing runs bench/gpu.sh and bench/sdpa_compare.py read (JSON on stdout or --out).
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <tuple>
#include <vector>
#include <fstream>

#include "gpu/bench.h"

using namespace kvplan::gpu;

namespace {

void write(const std::string& path, const Json& j) {
  if (path.empty() || path == "-") {
    fmt::print("{}\n", j.dump(1));
  } else {
    std::ofstream(path) << j.dump(1) << "\n";
  }
}

TimingOptions options(double max_time_s) { return timing_options(max_time_s, 200); }

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"kvplan-gpu-bench: correctness and timing of kvplan's CUDA reference kernels"};
  app.require_subcommand(1);
  std::string out;
  double max_time = 0.3;
  uint64_t seed = 1;
  app.add_option("--out", out, "JSON output file (default stdout)");
  app.add_option("--max-time", max_time, "Measured-time cap per shape, seconds");
  auto* check = app.add_subcommand("check", "Correctness of every kernel variant vs float64 CPU references ([gpu] tests)");
  check->add_option("--seed", seed);
  auto* probe = app.add_subcommand("probe", "Bandwidth probe: read and copy over sizes, fit t0 + bytes/BW");
  int64_t probe_max = int64_t(4) << 30;
  probe->add_option("--max-bytes", probe_max);
  auto* grid = app.add_subcommand("attn-grid", "Decode attention over the PyTorch SDPA comparison grid");
  std::string kv = "bf16";
  grid->add_option("--kv", kv)->check(CLI::IsMember({"bf16", "fp16", "fp8"}));
  std::vector<int64_t> only;
  grid->add_option("--shape", only, "Only this grid shape: heads,kv_heads,batch,context (e.g. for ncu)")
      ->expected(4)->delimiter(',');
  auto* shared = app.add_subcommand("shared-kv", "Decode attention with every sequence reading one shared KV vs its own");
  auto* extra = app.add_subcommand("kernels", "Timings of the other variants: fp8, MLA, sliding, SSM, GEMV");
  auto* prefill = app.add_subcommand("prefill-grid", "Causal prefill attention (batch 1), every kernel that runs here");
  std::vector<int64_t> pshape;
  prefill->add_option("--shape", pshape, "Only this shape: heads,kv_heads,tokens,head_dim (e.g. for ncu)")->expected(4)->delimiter(',');
  try {
    app.parse(argc, argv);
    const DeviceInfo d = device_info();
    Timer timer(d.l2_bytes);
    const TimingOptions o = options(max_time);
    Json j;
    j["device"] = d.name;
    j["driver"] = d.driver;
    const double clk0 = measure_sm_clock_mhz(timer.stream());
    if (*check) {
      Json rows = Json::array();
      bool ok = true;
      for (const auto& c : run_correctness_checks(seed, d.sm_count)) {
        fmt::print(stderr, "{:<45} rel err {:.2e} (tol {:.0e}) {}\n", c.kernel, c.rel_error, c.tolerance, c.pass() ? "ok" : "FAIL");
        rows.push_back({{"kernel", c.kernel}, {"rel_error", c.rel_error}, {"tolerance", c.tolerance}, {"pass", c.pass()}});
        ok = ok && c.pass();
      }
      j["checks"] = rows;
      j["all_pass"] = ok;
      write(out, j);
      return ok ? 0 : 1;
    }
    if (*shared) {
      // GQA 32/8 heads, head_dim 128, bf16: the KV one layer reads, per sequence and shared whole.
      Json rows = Json::array();
      int64_t kv_max = 0;
      std::vector<DecodeAttention> shapes;
      for (auto [b, n] : {std::pair<int64_t, int64_t>{8, 4096}, {64, 4096}, {8, 32768}, {64, 32768}, {16, 131072}}) {
        DecodeAttention a;
        a.batch = b;
        a.heads = 32;
        a.kv_heads = 8;
        a.context = n;
        shapes.push_back(a);
        kv_max = std::max(kv_max, decode_attention_kv_bytes(a));
      }
      DeviceBuffer kv_memory(kv_max);
      for (const DecodeAttention& a : shapes) {
        const TimedCheck own = time_decode_attention(timer, d, a, o, kv_memory.get(), false);
        const TimedCheck one = time_decode_attention(timer, d, a, o, kv_memory.get(), true);
        // Read once: the shared pass of a cascade kernel, every sequence's query heads stacked on
        // one batch row (Q ordered [kv_head][sequence][group]), so each KV tile is loaded once for all
        // of them; the same arithmetic as the shared runs, the KV bytes of one sequence.
        DecodeAttention stacked = a;
        stacked.batch = 1;
        stacked.heads = a.batch * a.heads;
        const TimedCheck once = time_decode_attention(timer, d, stacked, o, kv_memory.get(), false);
        const int64_t kv_one = decode_attention_kv_bytes(a) / a.batch;
        fmt::print(stderr, "batch {:>3} context {:>6} (one sequence's KV {:>6.1f} MiB): own {:8.1f} us, shared {:8.1f} us "
                   "(x{:.2f}), read once {:8.1f} us (x{:.2f})\n", a.batch, a.context, kv_one / 1048576.0,
                   own.measured.median_s * 1e6, one.measured.median_s * 1e6,
                   own.measured.median_s / one.measured.median_s, once.measured.median_s * 1e6,
                   own.measured.median_s / once.measured.median_s);
        rows.push_back({{"batch", a.batch}, {"context", a.context}, {"kv_bytes_per_sequence", kv_one},
                        {"bytes_counted", own.bytes}, {"own_s", own.measured.median_s},
                        {"shared_s", one.measured.median_s}, {"once_s", once.measured.median_s},
                        {"once_bytes_counted", once.bytes}, {"own_spread", own.measured.rel_spread()},
                        {"shared_spread", one.measured.rel_spread()}, {"once_spread", once.measured.rel_spread()}});
      }
      j["shared_kv"] = rows;
      write(out, j);
      return 0;
    }
    if (*probe) {
      const ProbeResult r = run_probe(timer, d, o, probe_max);
      Json rows = Json::array();
      for (size_t i = 0; i < r.sizes.size(); ++i)
        rows.push_back({{"bytes", r.sizes[i]}, {"read", to_json(r.read[i])}, {"copy", to_json(r.copy[i])}});
      j["points"] = rows;
      j["read_bytes_per_s"] = r.read_bytes_per_s;
      j["copy_bytes_per_s"] = r.copy_bytes_per_s;
      j["read_fit"] = {{"t0_s", r.read_fit.t0_s}, {"bytes_per_s", r.read_fit.bytes_per_s}, {"r2", r.read_fit.r2}};
      j["copy_fit"] = {{"t0_s", r.copy_fit.t0_s}, {"bytes_per_s", r.copy_fit.bytes_per_s}, {"r2", r.copy_fit.r2}};
    }
    if (*grid) {
      Json rows = Json::array();
      const KvType kvt = kv == "fp8" ? KvType::fp8_e4m3 : kv == "fp16" ? KvType::fp16 : KvType::bf16;
      std::vector<DecodeAttention> shapes;
      const auto add_shape = [&](int64_t h, int64_t kvh, int64_t b, int64_t n) {
        DecodeAttention a;
        a.batch = b;
        a.heads = h;
        a.kv_heads = kvh;
        a.qk_dim = a.v_dim = 128;
        a.context = n;
        a.kv = kvt;
        shapes.push_back(a);
      };
      if (only.size() == 4) {
        add_shape(only[0], only[1], only[2], only[3]);
      } else {
        for (auto [h, kvh] : {std::pair{32, 32}, {32, 8}, {32, 1}, {64, 8}})
          for (int64_t b : {1, 8, 32})
            for (int64_t n : {4096, 32768, 131072}) add_shape(h, kvh, b, n);
      }
      if (const char* rv = std::getenv("KVPLAN_GRID_REVERSE"); rv && *rv) std::reverse(shapes.begin(), shapes.end());
      // One KV allocation for the whole grid, as an engine allocates its cache once (freeing and
      // re-allocating multi-GB buffers between shapes measured up to 16% slower for later shapes).
      int64_t kv_max = 0;
      for (const auto& a : shapes) kv_max = std::max(kv_max, decode_attention_kv_bytes(a));
      DeviceBuffer kv_memory(kv_max);
      for (DecodeAttention a : shapes) {
        if (const char* sp = std::getenv("KVPLAN_ATTN_SPLITS")) a.splits = std::atoi(sp);  // experiment switch
        const double mhz0 = measure_sm_clock_mhz(timer.stream());
        const TimedCheck r = time_decode_attention(timer, d, a, o, kv_memory.get());
        const double mhz1 = measure_sm_clock_mhz(timer.stream());
        fmt::print(stderr, "attn {}/{} b{} n{}: {:.1f} us, {:.0f} GB/s ({}), SM clock {:.0f}/{:.0f} MHz\n", a.heads, a.kv_heads,
                   a.batch, a.context, r.measured.median_s * 1e6, r.achieved_bytes_per_s() / 1e9, r.note, mhz0, mhz1);
        Json row = to_json(r);
        row["heads"] = a.heads;
        row["kv_heads"] = a.kv_heads;
        row["batch"] = a.batch;
        row["context"] = a.context;
        row["sm_clock_mhz"] = {mhz0, mhz1};  // before and after this shape's samples
        if (r.note.find("tma") != std::string::npos) {  // the same kernel with cp.async copies, side by side
          a.cp_async_only = true;
          const TimedCheck c = time_decode_attention(timer, d, a, o, kv_memory.get());
          fmt::print(stderr, "     cp.async copies: {:.1f} us, {:.0f} GB/s ({})\n", c.measured.median_s * 1e6,
                     c.achieved_bytes_per_s() / 1e9, c.note);
          row["cp_async"] = to_json(c);
        }
        rows.push_back(row);
      }
      j["attention"] = rows;
    }
    if (*prefill) {
      Json rows = Json::array();
      std::vector<std::array<int64_t, 4>> pshapes;  // heads, kv_heads, tokens, head_dim
      for (auto [h, kvh] : {std::pair{32, 8}, {32, 32}})
        for (int64_t t : {2048, 4096, 8192, 16384}) pshapes.push_back({h, kvh, t, 128});
      for (int64_t t : {4096, 16384}) pshapes.push_back({64, 8, t, 64});  // gpt-oss-20b's attention shape
      if (pshape.size() == 4) pshapes = {{pshape[0], pshape[1], pshape[2], pshape[3]}};
      for (auto [h, kvh, t, dim] : pshapes) {
        PrefillAttention p;
        p.heads = h;
        p.kv_heads = kvh;
        p.tokens = t;
        p.dim = dim;
        const bool hopper = std::string(prefill_attention_kernel(p)) == "wgmma";
        for (const bool mma_sync : {false, true}) {  // both kernels side by side where the wgmma one runs
          if (mma_sync && !hopper) break;
          p.mma_sync_only = mma_sync;
          TimedCheck r = time_prefill_attention(timer, p, o);
          r.name = prefill_attention_kernel(p);
          fmt::print(stderr, "prefill causal {}/{} d{} t{} {:<8} {:9.1f} us {:7.1f} TFLOP/s\n", h, kvh, dim, t, r.name,
                     r.measured.median_s * 1e6, r.achieved_flops() / 1e12);
          Json row = to_json(r);
          row["heads"] = h;
          row["kv_heads"] = kvh;
          row["tokens"] = t;
          row["dim"] = dim;
          rows.push_back(row);
        }
      }
      j["prefill"] = rows;
    }
    if (*extra) {
      Json rows = Json::array();
      auto add = [&](const std::string& what, TimedCheck r) {
        r.name = what;
        fmt::print(stderr, "{:<44} {:9.1f} us  {:7.0f} GB/s  {:7.1f} TFLOP/s  {}\n", what, r.measured.median_s * 1e6,
                   r.achieved_bytes_per_s() / 1e9, r.achieved_flops() / 1e12, r.note);
        rows.push_back(to_json(r));
      };
      auto attn = [&](int64_t b, int64_t h, int64_t kvh, int64_t dim, int64_t n, int64_t window, KvType t, bool mla) {
        DecodeAttention a;
        a.batch = b;
        a.heads = h;
        a.kv_heads = mla ? 1 : kvh;
        a.qk_dim = mla ? 576 : dim;
        a.v_dim = mla ? 512 : dim;
        a.v_in_k = mla;
        a.context = n;
        a.window = window;
        a.kv = t;
        return time_decode_attention(timer, d, a, o);
      };
      add("decode fp8 32/8 d128 b8 n32K", attn(8, 32, 8, 128, 32768, 0, KvType::fp8_e4m3, false));
      add("decode fp8 32/8 d128 b32 n32K", attn(32, 32, 8, 128, 32768, 0, KvType::fp8_e4m3, false));
      add("decode fp8 32/1 d128 b32 n128K", attn(32, 32, 1, 128, 131072, 0, KvType::fp8_e4m3, false));
      add("decode bf16 32/8 d128 b32 n32K (ref)", attn(32, 32, 8, 128, 32768, 0, KvType::bf16, false));
      add("decode fp16 32/8 d128 b32 n32K", attn(32, 32, 8, 128, 32768, 0, KvType::fp16, false));
      add("decode sliding 32/8 w4096 b32 n128K", attn(32, 32, 8, 128, 131072, 4096, KvType::bf16, false));
      add("decode d64 64/8 b32 n32K", attn(32, 64, 8, 64, 32768, 0, KvType::bf16, false));
      add("decode d256 16/8 b32 n32K", attn(32, 16, 8, 256, 32768, 0, KvType::bf16, false));
      add("decode MLA 16 heads b32 n32K", attn(32, 16, 1, 0, 32768, 0, KvType::bf16, true));
      add("decode MLA 128 heads b8 n32K", attn(8, 128, 1, 0, 32768, 0, KvType::bf16, true));
      for (bool fp32 : {true, false}) {
        SsmUpdate m1;
        m1.batch = 256;
        m1.heads = 8192;  // falcon-mamba-7b d_inner
        m1.head_dim = 1;
        m1.d_state = 16;
        m1.state_fp32 = fp32;
        add(fmt::format("mamba1 ssm b256 d_inner 8192 N16 {}", fp32 ? "fp32" : "bf16"), time_ssm_update(timer, m1, o));
        SsmUpdate m2;
        m2.mamba2 = true;
        m2.batch = 64;
        m2.heads = 80;  // mamba2-2.7b: 80 heads x 64, 1 group, d_state 128
        m2.head_dim = 64;
        m2.groups = 1;
        m2.d_state = 128;
        m2.state_fp32 = fp32;
        add(fmt::format("mamba2 ssm b64 80x64 N128 {}", fp32 ? "fp32" : "bf16"), time_ssm_update(timer, m2, o));
      }
      Blas blas;
      for (int64_t bsz : {1, 8, 32})
        add(fmt::format("cuBLAS linear 14336x4096 batch {}", bsz), time_linear(timer, blas, 14336, 4096, bsz, o));
      add("cuBLAS GEMM 8192^3", time_linear(timer, blas, 8192, 8192, 8192, o));
      // falcon-mamba-7b's four projections per layer (hidden 4096, d_inner 8192, dt_rank 256, d_state 16:
      // in_proj 4096 -> 2 x 8192, x_proj 8192 -> 256 + 2 x 16, dt_proj 256 -> 8192, out_proj 8192 -> 4096),
      // each alone with a cold L2, at batch 1 and 32: how fast cuBLAS streams each shape.
      for (int64_t bsz : {1, 32})
        for (auto [name, out_f, in_f] : {std::tuple{"in_proj", 16384, 4096}, {"x_proj", 288, 8192}, {"dt_proj", 8192, 256},
                                         {"out_proj", 4096, 8192}})
          add(fmt::format("falcon-mamba {} {}x{} batch {}", name, out_f, in_f, bsz), time_linear(timer, blas, out_f, in_f, bsz, o));
      j["kernels"] = rows;
    }
    const double clk1 = measure_sm_clock_mhz(timer.stream());
    const ClockCheck c = assess_clocks(clk0, clk1, d.max_sm_clock_mhz);
    j["clocks"] = {{"before_mhz", clk0}, {"after_mhz", clk1}, {"max_mhz", d.max_sm_clock_mhz}, {"throttled", c.throttled}, {"note", c.note}};
    write(out, j);
    return 0;
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    fmt::print(stderr, "kvplan-gpu-bench: error: {}\n", e.what());
    return 1;
  }
}
