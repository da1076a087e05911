// Prefill FLOPs and time, derived by hand from the published configs (models/*.yaml) and the
// H100 SXM preset (989.4e12 bf16 FLOP/s, flops_fraction 0.75, attention_flops_fraction 0.50).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>

#include "core/layer_work.h"
#include "core/prefill.h"
#include "test_helpers.h"

using namespace kvplan;
using kvplan::test::gpu;
using kvplan::test::flat_h100;
using kvplan::test::model;

TEST_CASE("causal pairs include the diagonal; a window caps each query's keys", "[prefill]") {
  CHECK(causal_pairs(4, 0) == 10);        // 1 + 2 + 3 + 4
  CHECK(causal_pairs(10, 4) == 34);       // 1 + 2 + 3 + 4 x 7
  CHECK(causal_pairs(3, 4) == 6);         // window longer than the prompt: full triangle
  CHECK(causal_pairs(8192, 0) == 8192.0 * 8193 / 2);
}

TEST_CASE("Llama-3.1-8B prefill of 8192 tokens", "[prefill]") {
  const Model m = model("llama-3.1-8b");
  const PrefillResult r = prefill(m, flat_h100(), 1, 8192, kvplan::test::bf16_options(m));
  // Linear: 2 x 32 x 218,103,808 matrix params = 13,958,643,712 FLOPs per token x 8192, plus the
  // lm_head (2 x 128256 x 4096) for the last token only.
  CHECK(r.linear_flops == Approx(8192.0 * 13958643712 + 1050673152));
  // Attention: 32 layers x 32 heads x 2 x (128 + 128) = 524,288 FLOPs per pair x 8192 x 8193 / 2 pairs.
  CHECK(r.attention_flops == Approx(524288.0 * 33558528));
  CHECK(r.attention_share == Approx(17594333528064.0 / (17594333528064.0 + 114350259961856.0)));  // 13.3%
  CHECK(r.passes == 1);
  CHECK(r.bound == kvplan::Bound::compute);
  // Element-wise activation traffic per token and layer, in bf16 elements: two fused residual add +
  // RMSNorm (4 x 4096 each) = 32,768; RoPE on Q and K in place, 2 x (4096 + 1024) = 10,240; the cache
  // write reads K and V, 2 x 1024 = 2,048; SiLU(gate) x up reads 2 x 14,336 and writes 14,336 =
  // 43,008. 88,064 elements x 2 B x 32 layers = 5,636,096 B, plus the final norm's 4 x 4096 x 2 B =
  // 32,768: 5,668,864 B per token.
  const auto ew = std::find_if(r.phases.begin(), r.phases.end(), [](const PrefillPhase& p) { return p.name == "elementwise"; });
  REQUIRE(ew != r.phases.end());
  CHECK(ew->bytes == 8192LL * 5668864);
  CHECK(ew->flops == 0);
  // Compute-bound phases, the element-wise bytes at 90% of 3.35 TB/s, + 355 kernels x 4 us (one pass).
  CHECK(r.time_s == Approx(114350259961856.0 / (989.4e12 * 0.75) + 17594333528064.0 / (989.4e12 * 0.5) +
                           8192.0 * 5668864 / (3.35e12 * 0.9) + 355 * 4e-6));
  // A preset with a gap between kernels of different kinds pays it per kernel of the pass too.
  Gpu gapped = flat_h100();
  gapped.efficiency.kernel_gap_s = 1e-6;
  const PrefillResult rg = prefill(m, gapped, 1, 8192, kvplan::test::bf16_options(m));
  CHECK(rg.time_s == Approx(r.time_s + 355 * 1e-6));
  // The quadratic wall: at 128K the attention share is 71%.
  const PrefillResult r128 = prefill(m, flat_h100(), 1, 131072, kvplan::test::bf16_options(m));
  CHECK(r128.attention_share == Approx(0.7111).epsilon(1e-3));
  CHECK(r128.passes == 16);  // 131072 / 8192-token chunks
}

TEST_CASE("elementwise_bandwidth_fraction times the element-wise bytes, nothing else", "[prefill][efficiency]") {
  const Model m = model("llama-3.1-8b");
  const Gpu base = flat_h100();
  Gpu split = base;
  split.efficiency.elementwise_bandwidth_fraction = 0.6;
  const PrefillResult r0 = prefill(m, base, 1, 8192, kvplan::test::bf16_options(m));
  const PrefillResult r = prefill(m, split, 1, 8192, kvplan::test::bf16_options(m));
  auto phase = [](const PrefillResult& x, const char* name) {
    return *std::find_if(x.phases.begin(), x.phases.end(), [&](const PrefillPhase& p) { return p.name == name; });
  };
  // The 8192 x 5,668,864 B of element-wise traffic (the test above) at 0.6 x 3.35 TB/s: 23.10 ms, against
  // 15.40 ms at 0.9; the pass grows by the difference, 46,439,333,888 / 3.35e12 x (1/0.6 - 1/0.9) = 7.70 ms.
  CHECK(phase(r, "elementwise").time_s == Approx(8192.0 * 5668864 / (0.6 * 3.35e12)));
  CHECK(r.time_s - r0.time_s == Approx(46439333888.0 / 3.35e12 * (1 / 0.6 - 1 / 0.9)));
  CHECK(r.time_s - r0.time_s == Approx(7.70e-3).epsilon(1e-3));
  // Its floor stays the datasheet's; the GEMMs and attention do not move.
  CHECK(phase(r, "elementwise").time_floor_s == phase(r0, "elementwise").time_floor_s);
  for (const char* name : {"linear", "attention"}) CHECK(phase(r, name).time_s == phase(r0, name).time_s);
}

TEST_CASE("sliding, MLA and Mamba prefill work", "[prefill]") {
  // Gemma-2-9B: 21 local layers (window 4096) + 21 global; 16 heads x 2 x (256 + 256) = 16,384 per pair.
  // Local pairs at 8192: 4096 x 4097 / 2 + 4096 x 4096 = 25,167,872; global 8192 x 8193 / 2 = 33,558,528.
  const Model g = model("gemma-2-9b");
  const PrefillResult rg = prefill(g, flat_h100(), 1, 8192, kvplan::test::bf16_options(g));
  CHECK(rg.attention_flops == Approx(21.0 * 16384 * (25167872 + 33558528)));
  for (const PrefillKind& k : rg.kinds)
    if (k.kind == LayerKind::sliding_attention) CHECK(k.attention_flops == Approx(21.0 * 16384 * 25167872));

  // DeepSeek-V3 prefill decompresses K and V: 128 heads x 2 x (128 + 64 + 128) = 81,920 per pair and layer.
  const Model d = model("deepseek-v3");
  CHECK(prefill(d, flat_h100(), 1, 1024, kvplan::test::bf16_options(d)).attention_flops == Approx(61.0 * 81920 * 1024 * 1025 / 2));

  // Mamba-2 (64 layers): conv 2 x 5376 x 4 + state 5 x 5120 x 128 = 3,319,808 FLOPs per token and layer.
  const Model m2 = model("mamba2-2.7b");
  const PrefillResult r2 = prefill(m2, flat_h100(), 2, 1000, kvplan::test::bf16_options(m2));
  CHECK(r2.scan_flops == Approx(2000.0 * 64 * 3319808));
  CHECK(r2.attention_flops == 0);
  // Its element-wise traffic per token and layer: the input norm 4 x 2560 = 10,240, the convolution
  // reads and writes x, B, C (2 x 5376 = 10,752), the gated RMSNorm reads y and z and writes (3 x
  // 5120 = 15,360): 36,352 x 64 layers + the final norm 4 x 2560 = 2,336,768 elements x 2 B.
  for (const PrefillPhase& p : r2.phases)
    if (p.name == "elementwise") CHECK(p.bytes == 2000LL * 2336768 * 2);
  // Mixtral-8x7B per layer: norms 2 x 4 x 4096 = 32,768; RoPE 2 x (4096 + 1024) + the cache write's
  // K and V 2,048 = 12,288; two experts' SiLU x up 2 x 3 x 14,336 = 86,016 and the combine reading
  // 2 rows and writing 1, 3 x 4096 = 12,288: 143,360 x 2 B x 32 layers + the final norm 32,768 B =
  // 9,207,808 B per token.
  const Model mx = model("mixtral-8x7b");
  for (const PrefillPhase& p : prefill(mx, flat_h100(), 1, 512, kvplan::test::bf16_options(mx)).phases)
    if (p.name == "elementwise") CHECK(p.bytes == 512LL * 9207808);
  // Mamba-1 (mamba-2.8b, 64 layers): 5120 x (2 x 4 + 8 x 16) = 696,320 per token and layer.
  const Model m1 = model("mamba-2.8b");
  CHECK(prefill(m1, flat_h100(), 1, 100, kvplan::test::bf16_options(m1)).scan_flops == Approx(100.0 * 64 * 696320));

  // Jamba: the hybrid's phases add up by kind.
  const Model j = model("jamba-v0.1");
  const PrefillResult rj = prefill(j, flat_h100(), 1, 4096, kvplan::test::bf16_options(j));
  double total = 0;
  for (const PrefillKind& k : rj.kinds) total += k.linear_flops + k.attention_flops + k.scan_flops;
  // The per-kind sum has everything but the lm_head: 2 x 65536 x 4096 for the last token.
  CHECK(total + 2.0 * 65536 * 4096 == Approx(rj.flops));
}

TEST_CASE("chunked prefill re-reads the weights once per pass", "[prefill]") {
  const Model m = model("llama-3.1-8b");
  MemoryOptions o = kvplan::test::bf16_options(m);
  const PrefillResult one = prefill(m, flat_h100(), 1, 100, o);
  const PrefillResult three = prefill(m, flat_h100(), 1, 20000, o);  // 8192 + 8192 + 3616
  CHECK(three.passes == 3);
  // Linear bytes: passes x (layer weights + lm_head) + tokens x one embedding row.
  CHECK(three.phases[0].bytes == 3 * (13959168000LL + 1050673152LL) + 20000LL * 8192);
  CHECK(one.phases[0].bytes == 13959168000LL + 1050673152LL + 100LL * 8192);
  // A 100-token prompt is weight-bound: 1.4 TFLOP in 1.9 ms vs 15 GB in 5.0 ms.
  CHECK(one.bound == kvplan::Bound::memory);
}

TEST_CASE("attention_efficiency prices each prefill pass at its keys and head size", "[prefill][efficiency]") {
  auto attention = [](const PrefillResult& x) {
    return *std::find_if(x.phases.begin(), x.phases.end(), [](const PrefillPhase& p) { return p.name == "attention"; });
  };
  {
    // Llama-3.1-8B, 32,768 tokens in four 8192-token passes, a head_dim-128 curve of 0.4 at 8192 keys
    // and 0.6 at 32,768. Causal pairs P(n) = n (n + 1) / 2: P(8192) = 33,558,528, P(16384) =
    // 134,225,920, P(24576) = 302,002,176, P(32768) = 536,887,296, so the passes hold 33,558,528,
    // 100,667,392, 167,776,256 and 234,885,120 pairs. Their keys 8192, 16384 (log2 halfway: 0.5),
    // 24576 (log2 = 14.585, weight 0.7925: 0.5585) and 32768 (0.6). 524,288 FLOPs per pair (the
    // 8192-token test above) over 989.4 TFLOP/s.
    const Model m = model("llama-3.1-8b");
    Gpu g = flat_h100();
    g.efficiency.attention_efficiency = attention_grid({{8192, 128, 0.4}, {32768, 128, 0.6}});
    const PrefillResult r = prefill(m, g, 1, 32768, kvplan::test::bf16_options(m));
    const double at_24576 = 0.4 + 0.2 * (std::log2(24576.0) - 13) / 2;
    CHECK(at_24576 == Approx(0.5585).epsilon(1e-3));
    const double seconds =
        524288.0 * (33558528.0 / 0.4 + 100667392.0 / 0.5 + 167776256.0 / at_24576 + 234885120.0 / 0.6) / 989.4e12;
    CHECK(attention(r).time_s == Approx(seconds));
    CHECK(attention(r).flops == Approx(524288.0 * 536887296));
    // In one pass (a 32K chunk) every pair runs at 0.6.
    MemoryOptions whole = kvplan::test::bf16_options(m);
    whole.prefill_chunk = 32768;
    CHECK(attention(prefill(m, g, 1, 32768, whole)).time_s == Approx(524288.0 * 536887296 / (0.6 * 989.4e12)));
  }
  {
    // gpt-oss-20b (head_dim 64: the curve's 64 row, not its 128 one), 4096 tokens in 1024-token passes,
    // a head_dim-64 curve of 0.1 at 128 keys and 0.5 at 4096: 0.1 + 0.4 x log2(keys / 128) / 5.
    // 12 full layers x 64 heads x 2 x (64 + 64) = 196,608 FLOPs per pair, and as many in the 12
    // sliding ones (window 128). Full: keys 1024, 2048, 3072, 4096. Sliding: the first pass
    // P_128(1024) = 128 x 129 / 2 + 896 x 128 = 122,944 pairs, the others 1024 x 128 = 131,072 each,
    // all at twice the window, 256 keys: 0.1 + 0.4 / 5 = 0.18.
    const Model m = model("gpt-oss-20b");
    Gpu g = flat_h100();
    g.efficiency.attention_efficiency =
        attention_grid({{128, 64, 0.1}, {4096, 64, 0.5}, {128, 128, 0.9}, {4096, 128, 0.9}});
    MemoryOptions o = kvplan::test::bf16_options(m);
    o.prefill_chunk = 1024;
    const PrefillResult r = prefill(m, g, 1, 4096, o);
    auto eff = [](double keys) { return 0.1 + 0.4 * std::log2(keys / 128) / 5; };
    CHECK(eff(256) == Approx(0.18));
    auto P = [](double n) { return n * (n + 1) / 2; };
    double full = 0;
    for (int i = 0; i < 4; ++i) full += (P(1024.0 * (i + 1)) - P(1024.0 * i)) / eff(1024.0 * (i + 1));
    const double sliding = (122944.0 + 3 * 131072.0) / 0.18;
    CHECK(attention(r).time_s == Approx(196608.0 * (full + sliding) / 989.4e12));
  }
  {
    // Llama-4-Scout: 36 chunked layers (local chunks of 8192) and 12 full, 40 heads x 2 x (128 + 128)
    // = 20,480 FLOPs per pair and layer: 737,280 and 245,760. 16,384 tokens in 4096-token passes,
    // a curve of 0.2 + 0.1 x log2(keys / 1024) (0.2 at 1024, 0.6 at 16384 keys).
    // Chunked: each local chunk is its own causal pass; the passes end at local positions 4096,
    // 8192, 4096, 8192 (0.4, 0.5, 0.4, 0.5) with P(4096) = 8,390,656 and P(8192) - P(4096) =
    // 25,167,872 pairs, twice over. Full: keys 4096, 8192, 12288, 16384 (0.4, 0.5, 0.2 + 0.1 x
    // log2(12) = 0.5585, 0.6) with 8,390,656, 25,167,872, P(12288) - P(8192) = 41,945,088 and
    // P(16384) - P(12288) = 58,722,304 pairs.
    const Model m = model("llama-4-scout");
    Gpu g = flat_h100();
    g.efficiency.attention_efficiency = attention_grid({{1024, 128, 0.2}, {16384, 128, 0.6}});
    MemoryOptions o = kvplan::test::bf16_options(m);
    o.prefill_chunk = 4096;
    const PrefillResult r = prefill(m, g, 1, 16384, o);
    const double at_12288 = 0.2 + 0.1 * std::log2(12.0);
    const double chunked = 2 * (8390656.0 / 0.4 + 25167872.0 / 0.5);
    const double full = 8390656.0 / 0.4 + 25167872.0 / 0.5 + 41945088.0 / at_12288 + 58722304.0 / 0.6;
    CHECK(attention(r).time_s == Approx((737280.0 * chunked + 245760.0 * full) / 989.4e12));
  }
  {
    // More than 4096 passes are priced as 4096 equal ones: a 131,072-token prompt in passes of one
    // token costs what it costs in passes of 131072 / 4096 = 32 tokens.
    const Model m = model("llama-3.1-8b");
    Gpu g = flat_h100();
    g.efficiency.attention_efficiency = attention_grid({{1024, 128, 0.2}, {131072, 128, 0.6}});
    MemoryOptions one = kvplan::test::bf16_options(m), thirty_two = one;
    one.prefill_chunk = 1;
    thirty_two.prefill_chunk = 32;
    CHECK(attention(prefill(m, g, 1, 131072, one)).time_s == Approx(attention(prefill(m, g, 1, 131072, thirty_two)).time_s));
  }
}

TEST_CASE("Mixtral prefill: the MoE align's second kernel only in passes of >= 512 tokens", "[prefill][moe]") {
  // Passes of 8192 tokens (max_num_batched_tokens); top-2 of 8 experts: a pass of n tokens aligns
  // 2n ids, two kernels per MoE layer (32 layers) from 1024 ids (src/core/moe_align.h). A prompt of
  // 8192 + 600 tokens ends in a 600-token pass (1200 ids: two kernels), one of 8192 + 100 in a
  // 100-token pass (200 ids: one): the first costs 32 kernels more, at the preset's per-kernel cost.
  const Model m = model("mixtral-8x7b");
  const Gpu g = flat_h100();
  const auto options = kvplan::test::bf16_options(m);
  const double per_kernel = g.efficiency.kernel_overhead_s + g.efficiency.kernel_gap_s;
  const PrefillResult a = prefill(m, g, 1, 8192 + 600, options), b = prefill(m, g, 1, 8192 + 100, options);
  REQUIRE(a.passes == 2);
  REQUIRE(b.passes == 2);
  CHECK((a.overhead_s - b.overhead_s) / per_kernel == Approx(32.0));
}
