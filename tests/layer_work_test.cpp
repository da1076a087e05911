// The per-token work's two views of the weight matrices agree: the GEMM shapes the layer modules
// list (fused as engines run them, split over tensor-parallel ranks) do exactly the FLOPs of the
// matrices' parameters (2 x params touched / tp per token); their rate with an efficiency grid; and
// prefill and decode timing the GEMMs at the grid's efficiency for their rows.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>

#include "core/decode.h"
#include "core/error.h"
#include "core/layer_work.h"
#include "core/prefill.h"
#include "test_helpers.h"

using namespace kvplan;
using kvplan::test::flat_h100;
using kvplan::test::model;

namespace {
double gemm_flops(const std::vector<Gemm>& gemms) {
  double f = 0;
  for (const Gemm& g : gemms) f += g.flops_per_token();
  return f;
}
}  // namespace

TEST_CASE("GEMM shapes do the matrices' FLOPs for every kind of layer", "[layer-work][gemm]") {
  // Dense (Llama-3.1-8B), GQA with Q/K norms (Qwen3-32B), MoE (Mixtral, Qwen3-30B-A3B, gpt-oss),
  // MLA + MoE with shared experts (DeepSeek-V3), MLA with the sparse indexer (DeepSeek-V3.2),
  // Mamba-1, Mamba-2, hybrids (Jamba, Zamba2's shared blocks, Falcon-H1's parallel layers),
  // Gated DeltaNet with an output gate (Qwen3-Next), KDA (Kimi-Linear), kv-shared and k_eq_v
  // attention (Gemma 4).
  for (const char* id : {"llama-3.1-8b", "qwen3-32b", "mixtral-8x7b", "qwen3-30b-a3b", "gpt-oss-20b", "deepseek-v3",
                         "deepseek-v3.2", "mamba-2.8b", "mamba2-2.7b", "jamba-v0.1", "zamba2-2.7b", "falcon-h1-7b",
                         "qwen3-next-80b-a3b", "kimi-linear-48b-a3b", "gemma-4-26b-a4b"}) {
    const Model m = model(id);
    for (int64_t tp : {1, 2, 8}) {
      MemoryOptions opt = kvplan::test::bf16_options(m);
      opt.cache.tp = tp;
      ModelWork w;
      try {
        w = model_work(m, opt);
      } catch (const Error&) {
        continue;  // tp does not split this model's heads
      }
      INFO(id << " tp " << tp);
      CHECK(gemm_flops(w.gemms) == Approx(w.linear_flops_per_token).epsilon(1e-12));
      CHECK(w.lm_head_gemm.flops_per_token() == Approx(w.lm_head_flops_per_token).epsilon(1e-12));
    }
  }
  // And for every bundled model at tp 1.
  for (const std::string& id : kvplan::test::bundled().model_ids()) {
    const Model m = model(id);
    const ModelWork w = model_work(m, kvplan::test::bf16_options(m));
    INFO(id);
    CHECK(gemm_flops(w.gemms) == Approx(w.linear_flops_per_token).epsilon(1e-12));
  }
}

TEST_CASE("Llama-3.1-8B's GEMM shapes per GPU", "[layer-work][gemm]") {
  const Model m = model("llama-3.1-8b");
  MemoryOptions opt = kvplan::test::bf16_options(m);
  opt.cache.tp = 2;
  const ModelWork w = model_work(m, opt);
  // Per layer, tp 2: QKV (4096 + 2 x 1024) / 2 = 3072 x 4096; o_proj 4096 x 4096 / 2 = 2048;
  // gate_up 2 x 14336 / 2 = 14336 x 4096; down 4096 x 14336 / 2 = 7168; 32 layers each.
  REQUIRE(w.gemms.size() == 4);
  CHECK(w.gemms[0].n == 3072);
  CHECK(w.gemms[0].k == 4096);
  CHECK(w.gemms[0].count == 32);
  CHECK(w.gemms[1].n == 4096);
  CHECK(w.gemms[1].k == 2048);
  CHECK(w.gemms[2].n == 14336);
  CHECK(w.gemms[3].k == 7168);
  CHECK(w.lm_head_gemm.n == 128256 / 2);
}

TEST_CASE("MoE experts run as grouped GEMMs over tokens x top_k rows", "[layer-work][gemm]") {
  const Model m = model("mixtral-8x7b");
  const ModelWork w = model_work(m, kvplan::test::bf16_options(m));
  // Router 8 x 4096; the experts' gate_up (2 x 14336) x 4096 as one grouped GEMM per layer over
  // 2 rows per token (top-2), 32 layers.
  auto it = std::find_if(w.gemms.begin(), w.gemms.end(), [](const Gemm& g) { return g.n == 2 * 14336; });
  REQUIRE(it != w.gemms.end());
  CHECK(it->rows_per_token == 2);
  CHECK(it->count == 32);
}

TEST_CASE("gemm_rate is the FLOP-weighted harmonic mean of the shapes' efficiencies", "[layer-work][gemm]") {
  const Rate flat{100.0, 75.0};
  Efficiency e;
  e.flops_fraction = 0.75;
  // Two shapes of equal FLOPs (2 x 1024 x 4096 x 1 and 2 x 4096 x 1024 x 1), without a grid: flat.
  const std::vector<Gemm> gemms{{1024, 4096, 1, 1}, {4096, 1024, 1, 1}};
  CHECK(gemm_rate(flat, gemms, e, 8192).achievable == 75.0);
  // A grid where n = 1024 runs at 0.5 and n = 4096 at 1.0 (k and m do not matter): time per FLOP
  // (1/0.5 + 1/1.0) / 2 = 1.5, so the rate is 100 / 1.5 = 66.67.
  e.gemm_efficiency = gemm_grid({{1024, 1024, 1024, 0.5}, {1024, 1024, 4096, 0.5}, {1024, 4096, 1024, 1.0},
                                 {1024, 4096, 4096, 1.0}});
  CHECK(gemm_rate(flat, gemms, e, 8192).achievable == Approx(100.0 / 1.5));
  CHECK(gemm_rate(flat, gemms, e, 8192).peak == 100.0);
}

namespace {
// An H100 SXM whose GEMMs run at 0.4 of peak at m <= 1024 and 0.8 at m >= 8192, log-linear in
// between, whatever n and k (the grid's n and k span every shape of Llama-3.1-8B).
Gpu gpu_with_m_grid() {
  Gpu g = kvplan::test::flat_h100();
  std::vector<GemmPoint> points;
  for (int64_t m : {1024, 8192})
    for (int64_t n : {1024, 131072})
      for (int64_t k : {1024, 131072}) points.push_back({m, n, k, m == 1024 ? 0.4 : 0.8});
  g.efficiency.gemm_efficiency = gemm_grid(points);
  return g;
}
// The grid's efficiency at m rows: 0.4 + 0.4 x (log2 m - 10) / 3, clamped to [0.4, 0.8].
double m_efficiency(double m) { return std::clamp(0.4 + 0.4 * (std::log2(m) - 10) / 3, 0.4, 0.8); }
}  // namespace

TEST_CASE("prefill times the GEMMs per chunk at the grid's efficiency", "[layer-work][gemm][prefill]") {
  const Model m = model("llama-3.1-8b");
  const Gpu g = gpu_with_m_grid();
  const MemoryOptions opt = kvplan::test::bf16_options(m);  // chunks of 8192 tokens
  const PrefillResult r = prefill(m, g, 1, 10000, opt);
  const ModelWork w = model_work(m, opt);
  // 10,000 tokens = one pass of 8192 at 0.8 and one of 1808 at 0.4 + 0.4 x (10.820 - 10) / 3 =
  // 0.509; the lm_head's one row clamps to m = 1024: 0.4. Compute-bound: the phase is its FLOP time.
  const double peak = 989.4e12;
  const double expected = 8192 * w.linear_flops_per_token / (peak * 0.8) +
                          1808 * w.linear_flops_per_token / (peak * m_efficiency(1808)) +
                          w.lm_head_flops_per_token / (peak * 0.4);
  CHECK(m_efficiency(1808) == Approx(0.5094).epsilon(1e-3));
  REQUIRE(r.phases[0].name == "linear");
  CHECK(r.phases[0].time_s == Approx(expected).epsilon(1e-12));
}

TEST_CASE("the decode step's weights math runs at the grid's efficiency for batch x query tokens",
          "[layer-work][gemm][decode]") {
  const Model m = model("llama-3.1-8b");
  const Gpu g = gpu_with_m_grid();
  const MemoryOptions opt = kvplan::test::bf16_options(m);
  const DecodeStep s = decode_step(m, g, 2048, 1024, opt);
  const ModelWork w = model_work(m, opt);
  // m = 2048 rows: 0.4 + 0.4 / 3 = 0.533; 2048 x 14.0 GFLOP at that rate (54 ms) outlasts the
  // weights' bytes (5 ms): the component is its FLOP time plus its kernels x 4 us.
  const double flop_s = 2048 * w.linear_flops_per_token / (989.4e12 * m_efficiency(2048));
  CHECK(m_efficiency(2048) == Approx(0.5333).epsilon(1e-3));
  REQUIRE(s.components[0].name == "weights");
  CHECK(s.components[0].time_s == Approx(flop_s + static_cast<double>(w.kernels.weights) * 4e-6).epsilon(1e-12));
}
