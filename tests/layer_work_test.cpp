// The per-token work's two views of the weight matrices agree: the GEMM shapes the layer modules
// list (fused as engines run them, split over tensor-parallel ranks) do exactly the FLOPs of the
// matrices' parameters (2 x params touched / tp per token); and their rate with an efficiency grid.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/layer_work.h"
#include "test_helpers.h"

using namespace kvplan;
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
