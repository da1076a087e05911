// Decode step: bytes, FLOPs, kernels and times, derived by hand from the published configs
// (models/*.yaml cite them) and the H100 SXM preset (3.35e12 B/s, 989.4e12 bf16 FLOP/s,
// bandwidth_fraction 0.90, flops_fraction 0.75, attention_flops_fraction 0.50, 4 us per kernel).
#include <catch2/catch.hpp>

#include "core/decode.h"
#include "core/layer_work.h"
#include "core/prefill.h"
#include "test_helpers.h"

using namespace kvplan;
using kvplan::test::gpu;
using kvplan::test::flat_h100;
using kvplan::test::model;

namespace {
MemoryOptions options(const Model& m, DType kv = DType::bf16, int64_t tp = 1) {
  MemoryOptions o;
  o.weights = weight_dtypes(m);
  o.cache.kv_dtype = kv;
  o.cache.state_dtype = DType::bf16;
  o.cache.tp = tp;
  return o;
}
const DecodeComponent& part(const DecodeStep& s, const std::string& name) {
  for (const auto& c : s.components)
    if (c.name == name) return c;
  FAIL("no component " << name);
  return s.components.front();
}
bool has_part(const DecodeStep& s, const std::string& name) {
  for (const auto& c : s.components)
    if (c.name == name) return true;
  return false;
}
}  // namespace

TEST_CASE("Llama-3.1-8B decode step at batch 1, context 4096, bf16", "[decode]") {
  const Model m = model("llama-3.1-8b");
  const DecodeStep s = decode_step(m, flat_h100(), 1, 4096, options(m));
  // Per layer: q 4096x4096 + k 1024x4096 + v 1024x4096 + o 4096x4096 + gate/up/down 3 x 14336x4096
  // = 218,103,808 matrix params, plus 2 RMSNorms x 4096 = 218,112,000 params; 32 layers x 2 B.
  CHECK(part(s, "weights").bytes == 32LL * 218112000 * 2);  // 13,959,168,000
  CHECK(part(s, "lm_head").bytes == 128256LL * 4096 * 2);    // untied lm_head read in full
  CHECK(part(s, "embedding").bytes == 4096 * 2);             // one gathered row
  // KV: 32 layers x 8 KV heads x (128 + 128) x 2 B = 131,072 B per token; read 4096 tokens, write 1.
  CHECK(part(s, "kv_cache").bytes == 4096LL * 131072 + 131072);
  // Element-wise traffic of the token (tests/prefill_test.cpp derives it): 5,668,864 B.
  CHECK(part(s, "elementwise").bytes == 5668864);
  // Kernels by component, as vLLM's CUDA-graph step launches them (docs/timing.md): per layer the GEMMs
  // qkv, o_proj, gate_up, down; attention + split-KV combine; input norm, RoPE, cache write, pre-MLP
  // norm, SiLU x up. weights 32 x 4 = 128, kv_cache 32 x 2 = 64, elementwise 32 x 5 + final norm = 161,
  // lm_head 1, embedding 1.
  CHECK(part(s, "weights").kernels == 128);
  CHECK(part(s, "kv_cache").kernels == 64);
  CHECK(part(s, "elementwise").kernels == 161);
  CHECK(part(s, "lm_head").kernels == 1);
  CHECK(part(s, "embedding").kernels == 1);
  CHECK_FALSE(has_part(s, "kernel_gaps"));  // flat_h100() sets kernel_gap_s to 0 (the bundled preset's is 1.5 us)
  CHECK(s.bytes == 13959168000LL + 1050673152LL + 8192 + 536870912LL + 131072 + 5668864);  // 15,552,520,192
  // FLOPs: 2 x 32 x 218,103,808 + 2 x 128256 x 4096 + attention 4096 keys x 32 layers x 32 heads x 2 x (128 + 128).
  CHECK(s.flops == Approx(13958643712.0 + 1050673152.0 + 2147483648.0));
  // Kernels: 128 + 64 + 161 + 1 + 1 = 355.
  CHECK(s.kernels == 355);
  // Every component is memory-bound at batch 1: expected = bytes / (0.90 x 3.35e12) + 355 x 4 us.
  CHECK(s.time_s == Approx(15552520192.0 / (0.90 * 3.35e12) + 355 * 4e-6));  // 6.578 ms
  CHECK(s.time_floor_s == Approx(15552520192.0 / 3.35e12));                   // 4.643 ms
  CHECK(s.bound == kvplan::Bound::memory);
  CHECK(s.tokens_per_s == Approx(1.0 / s.time_s));
  CHECK(s.arithmetic_intensity == Approx(s.flops / 15552520192.0));
  CHECK_FALSE(has_part(s, "ssm_state"));
  CHECK_FALSE(has_part(s, "allreduce"));
}

TEST_CASE("the compute-bound batch is where FLOP time passes byte time", "[decode]") {
  const Model m = model("llama-3.1-8b");
  const DecodeModel dm(m, flat_h100(), options(m));
  // Context 16: the weights' 15.0 GB take 15.0e9 / 3.015e12 = 4.98 ms; each sequence adds 15.0
  // GFLOP (13.96 linear + 1.05 lm_head) / 742e12 = 20.2 us of compute and its own bytes, 16 x
  // 131,072 B of KV and 5.67 MB of element-wise traffic, 7.8 MB / 3.015e12 = 2.6 us: the flip is
  // near 4.98 ms / (20.2 - 2.6) us = 283 sequences.
  const auto b = dm.compute_bound_batch(16);
  REQUIRE(b);
  CHECK(*b > 270);
  CHECK(*b < 300);
  CHECK(dm.step(*b, 16).bound == kvplan::Bound::compute);
  CHECK(dm.step(*b - 1, 16).bound == kvplan::Bound::memory);
  // At 512 tokens a sequence's KV (67 MB) costs as much bandwidth time as its FLOPs: never flips.
  CHECK_FALSE(dm.compute_bound_batch(512));
}

TEST_CASE("MoE reads the experts a batch is expected to touch", "[decode][moe]") {
  // E x (1 - (1 - k/E)^B): Mixtral 8 experts, top-2.
  CHECK(expected_experts_touched(8, 2, 1) == Approx(2.0));
  CHECK(expected_experts_touched(8, 2, 4) == Approx(8 * (1 - 0.31640625)));  // 0.75^4 = 0.31640625
  CHECK(expected_experts_touched(8, 2, 1000) == Approx(8.0));
  const Model m = model("mixtral-8x7b");
  const DecodeModel dm(m, flat_h100(), options(m));
  // Non-expert params per layer: q 16,777,216 + k 4,194,304 + v 4,194,304 + o 16,777,216 + router 8 x 4096
  // + 2 norms x 4096 = 41,984,000; one expert = 3 x 14336 x 4096 = 176,160,768 params.
  CHECK(part(dm.step(1, 1024), "weights").bytes == 32LL * (41984000LL * 2 + 2 * 176160768LL * 2));
  CHECK(part(dm.step(4, 1024), "weights").bytes ==
        32LL * 41984000 * 2 + std::llround(8 * (1 - 0.31640625) * 32 * 176160768.0 * 2));
  // FLOPs follow the active experts only: per token 2 x (41,943,040 + 32,768 + 2 x 176,160,768) per layer.
  CHECK(part(dm.step(1, 1024), "weights").flops == Approx(2.0 * 32 * (41943040 + 32768 + 2 * 176160768.0)));
}

TEST_CASE("under expert parallelism the busiest GPU's experts set the step", "[decode][moe]") {
  // 8 experts, top-2, over 2 GPUs of 4 each, one token: every slot is touched with p = 1 - 0.75 =
  // 0.25, so a GPU's count is taken as Binomial(4, 0.25): pmf 0.31640625, 0.421875, 0.2109375,
  // 0.046875, 0.00390625; CDF F(0..3) = 0.31640625, 0.73828125, 0.94921875, 0.99609375. The busiest
  // of 2: sum over m = 1..4 of 1 - F(m-1)^2 = 0.899887085 + 0.454940796 + 0.098983765 + 0.007797241
  // = 1.461608887 (the mean is 1.0; the exact hypergeometric answer is 40/28 = 1.4286).
  ExpertGroup g{8, 2, 0, 4, 1, 1, 2};
  CHECK(expected_local_experts_touched(g, 1) == Approx(1.461608887).epsilon(1e-9));
  // Under tensor parallelism (one rank holding a slice of all 8) it is the mean: 8 x 0.25 = 2.
  const ExpertGroup tp{8, 2, 0, 8, 1, 1, 1};
  CHECK(expected_local_experts_touched(tp, 1) == Approx(2.0));
  // Every expert touched: the busiest reads all 4.
  CHECK(expected_local_experts_touched(g, 1000) == Approx(4.0));
}

TEST_CASE("DeepSeek-V3: MLA latent cache and 8 of 256 experts", "[decode][mla]") {
  const Model m = model("deepseek-v3");
  const DecodeModel dm(m, flat_h100(), options(m));
  const DecodeStep s1 = dm.step(1, 4096), s2 = dm.step(2, 4096);
  // Latent per token and layer: (kv_lora_rank 512 + rope 64) x 2 B = 1152 B; 61 MLA layers.
  CHECK(part(s1, "kv_cache").bytes == 4096LL * 61 * 1152 + 61 * 1152);
  // Absorbed decode attention per key and layer: 128 heads x 2 x (512 + 64 scores + 512 values) = 278,528 FLOPs.
  CHECK(part(s1, "kv_cache").flops == Approx(4096.0 * 61 * 278528));
  CHECK(s1.experts_touched == Approx(8.0));
  CHECK(s2.experts_touched == Approx(15.75));  // 256 x (1 - (248/256)^2)
  // One fp8 expert (per-output-channel fp32 scales): gate and up 2048 x 7168 + 2048 x 4 B, down
  // 7168 x 2048 + 7168 x 4 B = 44,085,248 B; 58 MoE layers = 2,556,944,384 B per expert index.
  CHECK(part(s2, "weights").bytes - part(s1, "weights").bytes == std::llround(15.75 * 2556944384.0) - 8 * 2556944384LL);
  // Kernels: 61 MLA blocks x 12 (below: 5 GEMMs, attention + combine, 5 element-wise), 3 dense MLPs x 4,
  // 58 MoE MLPs x 12 (5 GEMMs, 7 element-wise), the final norm, lm_head and embedding 3.
  CHECK(s1.kernels == 61 * 12 + 3 * 4 + 58 * 12 + 3);
  // By component. GEMMs: MLA q_a + kv_a, q_b, W_UK, W_UV, o_proj (5); dense gate_up, down (2); MoE
  // router, two grouped, shared gate_up and down (5). Attention + combine per MLA layer. Element-wise:
  // MLA input norm, q_a and kv_a norms, RoPE, latent cache write (5); dense norm, activation (2); MoE
  // norm, top-k, align and its count-and-sort kernel (256 experts > 64: vLLM's two-kernel path at
  // any batch), activation, combine, shared activation (7); the final norm.
  CHECK(part(s1, "weights").kernels == 61 * 5 + 3 * 2 + 58 * 5);
  CHECK(part(s1, "kv_cache").kernels == 61 * 2);
  CHECK(part(s1, "elementwise").kernels == 61 * 5 + 3 * 2 + 58 * 7 + 1);
}

TEST_CASE("MoE routing alignment: one kernel for a small batch of few experts, else two", "[decode][moe]") {
  // vLLM's moe_align_block_size runs one kernel while tokens x top-k < 1024 and experts <= 64.
  const std::vector<ExpertGroup> mixtral{{8, 2, 0, 8, 1, 32, 1}};  // 8 experts, top-2, 32 layers
  CHECK(moe_two_kernel_align_layers(mixtral, 511) == 0);           // 511 x 2 = 1022 ids
  CHECK(moe_two_kernel_align_layers(mixtral, 512) == 32);          // 1024 ids
  const std::vector<ExpertGroup> qwen3{{128, 8, 0, 128, 1, 48, 1}};  // 128 experts: always two
  CHECK(moe_two_kernel_align_layers(qwen3, 1) == 48);
  // Under expert parallelism with dp 8 a GPU's align sees every replica's ids: 8 x tokens x 2.
  const std::vector<ExpertGroup> ep8{{8, 2, 0, 1, 8, 32, 8}};
  CHECK(moe_two_kernel_align_layers(ep8, 63) == 0);   // 1008 ids
  CHECK(moe_two_kernel_align_layers(ep8, 64) == 32);  // 1024 ids
  // In a decode step: Mixtral-8x7B's element-wise kernels gain one per MoE layer from batch 512.
  const Model m = model("mixtral-8x7b");
  const DecodeModel dm(m, flat_h100(), options(m));
  CHECK(part(dm.step(512, 1024), "elementwise").kernels - part(dm.step(511, 1024), "elementwise").kernels == 32);
}

TEST_CASE("kernels by component: Gemma's extra norms, Qwen3's Q/K norm, the gaps between kinds", "[decode]") {
  // Gemma-2-9B (42 layers, hidden 3584, 16 heads / 8 KV x 256, FFN 14336, four norms a layer): per layer
  // 4 GEMMs, attention + combine, and 7 element-wise kernels: input norm, RoPE, cache write, pre-MLP norm,
  // GeGLU, and the two plain norms after the mixer and the MLP; 42 x 7 + the final norm = 295.
  const Model g = model("gemma-2-9b");
  const DecodeStep sg = decode_step(g, flat_h100(), 1, 1024, options(g));
  CHECK(part(sg, "weights").kernels == 42 * 4);
  CHECK(part(sg, "kv_cache").kernels == 42 * 2);
  CHECK(part(sg, "elementwise").kernels == 42 * 7 + 1);
  // Element-wise elements per token and layer: fused add + norm twice 2 x 4 x 3584 = 28,672, the plain
  // norms 2 x 2 x 3584 = 14,336, RoPE on q and k 2 x (4096 + 2048) = 12,288, the cache write 2048 + 2048,
  // GeGLU 3 x 14336 = 43,008: 102,400; x 42 + the final norm's 4 x 3584 = 4,315,136 elements x 2 B.
  CHECK(part(sg, "elementwise").bytes == 4315136LL * 2);
  // Qwen3-8B (36 layers, per-head Q/K RMSNorm): per layer input norm, Q/K norm, RoPE, cache write,
  // pre-MLP norm, SiLU x up = 6; 36 x 6 + 1 = 217.
  const Model q = model("qwen3-8b");
  CHECK(part(decode_step(q, flat_h100(), 1, 1024, options(q)), "elementwise").kernels == 36 * 6 + 1);
  // kernel_gap_s: the whole step's kernels x the gap, as one more component; the others unchanged.
  const Model m = model("llama-3.1-8b");
  Gpu gapped = flat_h100();
  gapped.efficiency.kernel_gap_s = 1e-6;
  const DecodeStep s0 = decode_step(m, flat_h100(), 1, 4096, options(m));
  const DecodeStep s = decode_step(m, gapped, 1, 4096, options(m));
  CHECK(part(s, "kernel_gaps").time_s == Approx(355 * 1e-6));
  CHECK(part(s, "kernel_gaps").kernels == 0);  // counted in their own components
  CHECK(s.kernels == 355);
  CHECK(s.time_s == Approx(s0.time_s + 355e-6));
  for (const char* name : {"weights", "kv_cache", "elementwise", "lm_head"}) CHECK(part(s, name).time_s == part(s0, name).time_s);
}

TEST_CASE("sliding layers read only their window", "[decode][sliding]") {
  const Model g = model("gemma-2-9b");
  const DecodeModel dg(g, flat_h100(), options(g));
  // 8 KV heads x (256 + 256) x 2 B = 8192 B per token and layer; 21 local (window 4096) + 21 global.
  CHECK(part(dg.step(1, 8192), "kv_cache").bytes == 21LL * 4096 * 8192 + 21LL * 8192 * 8192 + 42 * 8192);
  // Per key and layer 16 heads x 2 x 512 = 16,384 FLOPs over 21 x 4096 + 21 x 8192 keys.
  CHECK(part(dg.step(1, 8192), "kv_cache").flops == Approx(16384.0 * (21 * 4096 + 21 * 8192)));
  const Model o = model("gpt-oss-20b");
  const DecodeModel doss(o, flat_h100(), options(o));
  // 8 KV heads x (64 + 64) x 2 B = 2048 B; 12 layers keep 128 tokens, 12 keep all 100,000.
  CHECK(part(doss.step(1, 100000), "kv_cache").bytes == 2048LL * (12 * 128 + 12 * 100000) + 24 * 2048);
  const Model mi = model("mistral-7b-v0.1");
  const DecodeModel dmi(mi, flat_h100(), options(mi));
  // Window 4096 on every layer: the step at 32K costs what it costs at 4K.
  CHECK(dmi.step(1, 32768).bytes == dmi.step(1, 4096).bytes);
  CHECK(dmi.step(1, 32768).time_s == Approx(dmi.step(1, 4096).time_s));
}

TEST_CASE("pure SSM: constant state read and written, no KV", "[decode][ssm]") {
  const Model m = model("mamba2-2.7b");
  const DecodeModel dm(m, flat_h100(), options(m));
  // Per layer: conv (5120 + 2 x 1 x 128) x 3 + ssm 80 x 64 x 128 = 16,128 + 655,360 elements x 2 B;
  // 64 layers; read and written once per sequence. The update also reads each token's x (5120), dt
  // (80 heads), B and C (1 group x 128 each) and writes y (5120): 10,576 elements x 2 B a layer.
  const DecodeStep s = dm.step(8, 1000);
  CHECK(part(s, "ssm_state").bytes == 2LL * 8 * 64 * (16128 + 655360) * 2 + 8LL * 64 * (2 * 5120 + 80 + 2 * 128) * 2);
  CHECK_FALSE(has_part(s, "kv_cache"));
  CHECK(dm.step(8, 1000000).bytes == s.bytes);
  // Scan FLOPs per token and layer: conv 2 x 5376 x 4 + state 5 x 5120 x 128 = 3,319,808.
  CHECK(part(s, "ssm_state").flops == Approx(8.0 * 64 * 3319808));
  // Kernels: 64 x (4 + 2) + lm_head 2 + embedding 1; the lm_head is the tied embedding.
  CHECK(s.kernels == 64 * 6 + 3);
  CHECK(part(s, "lm_head").bytes == 50288LL * 2560 * 2);
}

TEST_CASE("hybrids: Jamba and Zamba2", "[decode][hybrid]") {
  const Model j = model("jamba-v0.1");
  const DecodeModel dj(j, flat_h100(), options(j));
  const DecodeStep s = dj.step(1, 8192);
  // 4 attention layers x 8 KV heads x 256 x 2 B = 4096 B per token and layer.
  CHECK(part(s, "kv_cache").bytes == 4LL * 8192 * 4096 + 4 * 4096);
  // 28 Mamba-1 layers: conv 8192 x 3 + ssm 8192 x 16 = 155,648 elements x 2 B, read + written; the
  // update's token inputs x, z, dt (8192 each), B, C (16 each) and output y (8192): 32,800 x 2 B.
  CHECK(part(s, "ssm_state").bytes == 2LL * 28 * 155648 * 2 + 28LL * (4 * 8192 + 2 * 16) * 2);
  // GEMMs: 28 Mamba x 4 (in, x, dt, out) + 4 attention x 2 (qkv, o) + 16 dense MLPs x 2 (gate_up, down)
  // + 16 MoE x 3 (router, two grouped) (each group of 8 layers: 3 mamba_dense + 1 attn_dense have dense
  // MLPs, 4 mamba_moe have MoE).
  CHECK(part(s, "weights").kernels == 28 * 4 + 4 * 2 + 16 * 2 + 16 * 3);
  CHECK(part(s, "ssm_state").kernels == 28 * 2);
  CHECK(part(s, "kv_cache").kernels == 4 * 2);
  // Element-wise: 28 Mamba norms + 4 attention x 2 (norm, cache write: Jamba's attention has no
  // positional encoding, no RoPE) + 16 dense x 2 (norm, activation) + 16 MoE x 5 (norm, top-k,
  // align, activation, combine) + the final norm.
  CHECK(part(s, "elementwise").kernels == 28 + 4 * 2 + 16 * 2 + 16 * 5 + 1);

  const Model z = model("zamba2-2.7b");
  const ModelWork w = model_work(z, options(z));
  // Shared blocks are read at every use: 9 shared-transformer layers + 54 Mamba-2 layers.
  // Shared block: q, k, v 5120 x 5120 each, o 2560 x 5120, gate/up 10240 x 2560, down 2560 x 10240,
  // 3 norms x 2560 = 170,401,280 params. Mamba-2 layer: in_proj (2 x 5120 + 2 x 64 + 80) x 2560 =
  // 26,746,880, conv 5248 x 4 + bias 5248, dt/A/D 240, norm 5120, out_proj 2560 x 5120, 1 norm x 2560
  // = 39,888,240 params.
  CHECK(w.dense_weight_bytes == 9LL * 170401280 * 2 + 54LL * 39888240 * 2);
}

TEST_CASE("tensor parallel adds ring all-reduces", "[decode][tp]") {
  const Model m = model("llama-3.1-70b");
  const Gpu h100 = flat_h100();
  const DecodeStep s = decode_step(m, h100, 1, 4096, options(m, DType::bf16, 4));
  // 80 layers x 2 all-reduces of batch x hidden 8192 x 2 B = 16,384 B; ring: 2 x 3/4 x 16,384 = 24,576 B
  // sent per GPU per all-reduce, at 450e9 B/s, plus 10 us each.
  const DecodeComponent& ar = part(s, "allreduce");
  CHECK(ar.kernels == 160);
  CHECK(ar.bytes == 160 * 24576);
  CHECK(ar.time_floor_s == Approx(160 * 24576 / 450e9));
  CHECK(ar.time_s == Approx(160 * (24576 / 450e9 + 10e-6)));
  // KV per GPU: 8 KV heads / 4 = 2 per GPU: 80 layers x 2 x 256 x 2 B = 81,920 B per token.
  CHECK(part(s, "kv_cache").bytes == 4096LL * 81920 + 81920);
  // The all-reduce bytes are interconnect bytes, not in the step's HBM bytes.
  int64_t hbm = 0;
  for (const auto& c : s.components)
    if (c.name != "allreduce") hbm += c.bytes;
  CHECK(s.bytes == hbm);
}

TEST_CASE("attention_bandwidth_fraction times the kv_cache component, nothing else", "[decode][efficiency]") {
  const Model m = model("llama-3.1-8b");
  const Gpu base = flat_h100();
  Gpu split = base;
  split.efficiency.attention_bandwidth_fraction = 0.8;
  const DecodeStep s0 = decode_step(m, base, 8, 4096, options(m));
  const DecodeStep s = decode_step(m, split, 8, 4096, options(m));
  // KV: 2 (K, V) x 32 layers x 8 KV heads x 128 x 2 B = 131,072 B per token; batch 8 reads 4096 tokens
  // and writes 1 each: 8 x 4097 x 131,072 = 4,296,015,872 B.
  const DecodeComponent& kv = part(s, "kv_cache");
  CHECK(kv.bytes == 8LL * 4097 * 131072);
  // Kernels: 32 layers x 2 (attention, combine) = 64, 4 us each (decode.cpp: kernels x overhead; the
  // cache write is an element-wise kernel).
  CHECK(kv.kernels == 64);
  // FLOPs 8 x 4096 keys x 32 layers x 32 heads x 2 x 256 = 17.18 G at 0.5 x 989.4e12 = 34.7 us, below the
  // bytes' 4,296,015,872 / (0.8 x 3.35e12) = 1.603 ms: memory-bound. 1.603 ms + 64 x 4 us = 1.859 ms.
  CHECK(kv.flops == Approx(8.0 * 4096 * 32 * 32 * 2 * 256));
  CHECK(kv.time_s == Approx(4296015872.0 / (0.8 * 3.35e12) + 64 * 4e-6));
  // At the default 0.90: 4,296,015,872 / (0.9 x 3.35e12) + 64 x 4 us = 1.681 ms.
  CHECK(part(s0, "kv_cache").time_s == Approx(4296015872.0 / (0.9 * 3.35e12) + 64 * 4e-6));
  // The floor is the datasheet's: 4,296,015,872 / 3.35e12 = 1.282 ms, either way.
  CHECK(kv.time_floor_s == Approx(4296015872.0 / 3.35e12));
  CHECK(kv.time_floor_s == part(s0, "kv_cache").time_floor_s);
  // Weights, lm_head and embedding stream at bandwidth_fraction as before.
  for (const char* name : {"weights", "lm_head", "embedding"}) CHECK(part(s, name).time_s == part(s0, name).time_s);
  CHECK(s.time_s == Approx(s0.time_s + 4296015872.0 / 3.35e12 * (1 / 0.8 - 1 / 0.9)));
  CHECK(s.memory_time_s == Approx(s0.memory_time_s + 4296015872.0 / 3.35e12 * (1 / 0.8 - 1 / 0.9)));
}

TEST_CASE("state_bandwidth_fraction times the ssm_state component, nothing else", "[decode][efficiency][ssm]") {
  const Model m = model("mamba2-2.7b");
  const Gpu base = flat_h100();
  Gpu split = base;
  split.efficiency.state_bandwidth_fraction = 0.7;
  const DecodeStep s0 = DecodeModel(m, base, options(m)).step(8, 1000);
  const DecodeStep s = DecodeModel(m, split, options(m)).step(8, 1000);
  // State per layer (conv (5120 + 2 x 128) x 3 + ssm 80 x 64 x 128 = 671,488 elements x 2 B), 64 layers,
  // batch 8, read and written: 2 x 8 x 64 x 671,488 x 2 = 1,375,207,424 B; plus each token's x, dt, B,
  // C in and y out (5120 + 80 + 256 + 5120 = 10,576 elements x 2 B): 8 x 64 x 21,152 = 10,829,824 B.
  const DecodeComponent& st = part(s, "ssm_state");
  CHECK(st.bytes == 1375207424LL + 10829824LL);
  // Kernels 64 x 2 (conv update, state update); FLOPs 8 x 64 x 3,319,808 at 0.75 x 66.9e12 (fp32) = 33.9 us,
  // below the bytes' 1,386,037,248 / (0.7 x 3.35e12) = 591.0 us: 591.0 us + 128 x 4 us = 1.103 ms.
  CHECK(st.kernels == 128);
  CHECK(st.time_s == Approx(1386037248.0 / (0.7 * 3.35e12) + 128 * 4e-6));
  CHECK(part(s0, "ssm_state").time_s == Approx(1386037248.0 / (0.9 * 3.35e12) + 128 * 4e-6));  // 0.972 ms
  CHECK(st.time_floor_s == Approx(1386037248.0 / 3.35e12));
  for (const char* name : {"weights", "lm_head", "embedding"}) CHECK(part(s, name).time_s == part(s0, name).time_s);
}

TEST_CASE("lm_head_bandwidth_fraction times the lm_head component, nothing else", "[decode][efficiency]") {
  const Model m = model("llama-3.1-8b");
  const Gpu base = flat_h100();
  Gpu split = base;
  split.efficiency.lm_head_bandwidth_fraction = 0.8;
  const DecodeStep s0 = decode_step(m, base, 8, 4096, options(m));
  const DecodeStep s = decode_step(m, split, 8, 4096, options(m));
  // lm_head (untied, bf16): vocab 128,256 x d_model 4096 x 2 B = 1,050,673,152 B, read once per step.
  const DecodeComponent& lm = part(s, "lm_head");
  CHECK(lm.bytes == 128256LL * 4096 * 2);
  // One kernel (the GEMM; the final norm is element-wise). FLOPs 8 x 2 x 128,256 x 4096 = 8.40 G at 0.75 x
  // 989.4e12 = 11.3 us, below the bytes' 1,050,673,152 / (0.8 x 3.35e12) = 392.04 us: memory-bound.
  // 392.04 us + 4 us = 396.04 us.
  CHECK(lm.kernels == 1);
  CHECK(lm.flops == Approx(8.0 * 2 * 128256 * 4096));
  CHECK(lm.time_s == Approx(1050673152.0 / (0.8 * 3.35e12) + 4e-6));
  CHECK(lm.time_s == Approx(396.04e-6).epsilon(1e-5));
  // At the default 0.90: 1,050,673,152 / (0.9 x 3.35e12) + 4 us = 348.48 + 4 = 352.48 us.
  CHECK(part(s0, "lm_head").time_s == Approx(1050673152.0 / (0.9 * 3.35e12) + 4e-6));
  CHECK(part(s0, "lm_head").time_s == Approx(352.48e-6).epsilon(1e-5));
  // The floor is the datasheet's either way: 1,050,673,152 / 3.35e12 = 313.63 us.
  CHECK(lm.time_floor_s == Approx(1050673152.0 / 3.35e12));
  CHECK(lm.time_floor_s == part(s0, "lm_head").time_floor_s);
  // Weights, KV cache and embedding stream as before, to the last bit.
  for (const char* name : {"weights", "kv_cache", "embedding"}) CHECK(part(s, name).time_s == part(s0, name).time_s);
  // The step grows by the lm_head's difference only: 1,050,673,152 / 3.35e12 x (1/0.8 - 1/0.9) = 43.56 us.
  CHECK(s.time_s == Approx(s0.time_s + 43.56e-6).epsilon(1e-6));
  CHECK(s.memory_time_s == Approx(s0.memory_time_s + 1050673152.0 / 3.35e12 * (1 / 0.8 - 1 / 0.9)));
  // Prefill reads the lm_head with the pass's weights, at bandwidth_fraction: unchanged. A 16-token prompt is
  // memory-bound (16 x 2 x ~8e9 params = 0.26 TFLOP in 0.35 ms at 742 TFLOP/s, against ~16 GB in 5.3 ms), so a
  // changed lm_head rate would show.
  CHECK(prefill(m, split, 1, 16, options(m)).time_s == prefill(m, base, 1, 16, options(m)).time_s);
}

TEST_CASE("expert_bandwidth_fraction times the routed experts' bytes, nothing else", "[decode][efficiency][moe]") {
  const Model m = model("mixtral-8x7b");
  const Gpu base = flat_h100();
  Gpu split = base;
  split.efficiency.expert_bandwidth_fraction = 0.75;
  const DecodeStep s0 = decode_step(m, base, 1, 1024, options(m));
  const DecodeStep s = decode_step(m, split, 1, 1024, options(m));
  // Batch 1 touches 2 experts a layer: 32 layers x 2 x 176,160,768 params x 2 B = 22,548,578,304 B of experts,
  // beside 32 x 41,984,000 x 2 B = 2,686,976,000 B of dense weights (the MoE test above derives both).
  const DecodeComponent& w = part(s, "weights");
  CHECK(w.bytes == 22548578304LL + 2686976000LL);
  CHECK(w.bytes == part(s0, "weights").bytes);
  // Memory-bound at batch 1 (2 x 32 x 394,297,344 = 25.2 GFLOP at 742 TFLOP/s = 34 us against ~10 ms of bytes): dense bytes at 0.90 x
  // 3.35e12 plus expert bytes at 0.75 x 3.35e12, plus the kernels' overhead as before.
  const double dense_s = 2686976000.0 / (0.90 * 3.35e12), expert_s = 22548578304.0 / (0.75 * 3.35e12);  // 0.891 + 8.975 ms
  CHECK(w.time_s == Approx(dense_s + expert_s + static_cast<double>(w.kernels) * 4e-6));
  // The difference is the experts' alone: 22,548,578,304 / 3.35e12 x (1/0.75 - 1/0.90) = 1.4958 ms.
  CHECK(w.time_s - part(s0, "weights").time_s == Approx(1.4958e-3).epsilon(1e-4));
  CHECK(s.time_s - s0.time_s == Approx(1.4958e-3).epsilon(1e-4));
  // The floor is the datasheet's either way; the other components stream as before, to the last bit.
  CHECK(w.time_floor_s == part(s0, "weights").time_floor_s);
  for (const char* name : {"kv_cache", "lm_head", "embedding"}) CHECK(part(s, name).time_s == part(s0, name).time_s);
  // A dense model has no expert bytes: the fraction changes nothing.
  const Model llama = model("llama-3.1-8b");
  CHECK(decode_step(llama, split, 8, 4096, options(llama)).time_s == decode_step(llama, base, 8, 4096, options(llama)).time_s);
}

TEST_CASE("elementwise_bandwidth_fraction times the decode step's element-wise bytes", "[decode][efficiency]") {
  const Model m = model("llama-3.1-8b");
  const Gpu base = flat_h100();
  Gpu split = base;
  split.efficiency.elementwise_bandwidth_fraction = 0.5;
  const DecodeStep s0 = decode_step(m, base, 32, 4096, options(m));
  const DecodeStep s = decode_step(m, split, 32, 4096, options(m));
  // 32 tokens x 5,668,864 B (prefill_test derives the bytes per token) = 181,403,648 B at 0.5 x 3.35e12
  // = 108.30 us (60.17 us at 0.9), plus its 161 kernels x 4 us.
  const DecodeComponent& e = part(s, "elementwise");
  CHECK(e.bytes == 32LL * 5668864);
  CHECK(e.time_s == Approx(181403648.0 / (0.5 * 3.35e12) + 161 * 4e-6));
  CHECK(s.time_s - s0.time_s == Approx(181403648.0 / 3.35e12 * (1 / 0.5 - 1 / 0.9)));
  for (const char* name : {"weights", "kv_cache", "lm_head"}) CHECK(part(s, name).time_s == part(s0, name).time_s);
}

TEST_CASE("a hybrid uses each fraction for its own component", "[decode][efficiency][hybrid]") {
  const Model j = model("jamba-v0.1");
  Gpu split = flat_h100();
  split.efficiency.attention_bandwidth_fraction = 0.8;
  split.efficiency.state_bandwidth_fraction = 0.7;
  const DecodeStep s = DecodeModel(j, split, options(j)).step(4, 8192);
  // Both memory-bound at batch 4: bytes / (fraction x 3.35e12) + kernels x 4 us (bytes: "hybrids" above).
  const DecodeComponent& kv = part(s, "kv_cache");
  CHECK(kv.bytes == 4LL * (4 * 8192 * 4096 + 4 * 4096));
  CHECK(kv.time_s == Approx(static_cast<double>(kv.bytes) / (0.8 * 3.35e12) + 8 * 4e-6));
  const DecodeComponent& st = part(s, "ssm_state");
  CHECK(st.bytes == 4LL * 2 * 28 * 155648 * 2 + 4LL * 28 * (4 * 8192 + 2 * 16) * 2);
  CHECK(st.time_s == Approx(static_cast<double>(st.bytes) / (0.7 * 3.35e12) + 56 * 4e-6));
}

TEST_CASE("unset KV-cache and state fractions follow bandwidth_fraction", "[decode][efficiency]") {
  const Model m = model("jamba-v0.1");
  Gpu same = flat_h100();
  REQUIRE_FALSE(same.efficiency.attention_bandwidth_fraction);
  REQUIRE_FALSE(same.efficiency.state_bandwidth_fraction);
  REQUIRE_FALSE(same.efficiency.lm_head_bandwidth_fraction);
  CHECK(same.efficiency.attention_bandwidth() == 0.90);
  CHECK(same.efficiency.state_bandwidth() == 0.90);
  CHECK(same.efficiency.lm_head_bandwidth() == 0.90);
  // Set to bandwidth_fraction explicitly: the step is the same to the last bit.
  Gpu set = same;
  set.efficiency.attention_bandwidth_fraction = 0.90;
  set.efficiency.state_bandwidth_fraction = 0.90;
  set.efficiency.lm_head_bandwidth_fraction = 0.90;
  const DecodeStep a = decode_step(m, same, 4, 8192, options(m)), b = decode_step(m, set, 4, 8192, options(m));
  CHECK(a.time_s == b.time_s);
  CHECK(a.memory_time_s == b.memory_time_s);
  // Unset, they move with bandwidth_fraction: every byte at 0.8 (kv_cache: 4 x (4 x 8193 x 4096) B).
  same.efficiency.bandwidth_fraction = 0.8;
  const DecodeStep c = decode_step(m, same, 4, 8192, options(m));
  CHECK(part(c, "kv_cache").time_s == Approx(4.0 * 4 * 8193 * 4096 / (0.8 * 3.35e12) + 8 * 4e-6));
  CHECK(c.memory_time_s == Approx(static_cast<double>(c.bytes) / (0.8 * 3.35e12)));
}

TEST_CASE("Eager decode (--enforce-eager): a step waits for its kernels' launches", "[decode][engine]") {
  const Model m = model("llama-3.1-8b");
  MemoryOptions o = options(m);
  o.engine.profile = test::bundled().resolve_engine("vllm@0.19");
  // The profile's host time per kernel launched without a graph: 28 us (presets/engines/vllm-0.19.yaml).
  REQUIRE(o.engine.profile.eager_launch_s == Approx(28e-6));
  const DecodeStep graph = decode_step(m, flat_h100(), 1, 4096, o);
  CHECK(graph.time_s == Approx(15552520192.0 / (0.90 * 3.35e12) + 355 * 4e-6));  // 6.578 ms, as above
  CHECK_FALSE(has_part(graph, "eager_launch"));
  o.engine.enforce_eager = true;
  // Batch 1: issuing the 355 kernels takes 355 x 28 us = 9.94 ms, longer than the GPU's 6.578 ms,
  // so the step is the host's 9.94 ms and the GPU waits 9.94 - 6.578 = 3.362 ms.
  const DecodeStep eager = decode_step(m, flat_h100(), 1, 4096, o);
  CHECK(eager.time_s == Approx(355 * 28e-6));
  CHECK(part(eager, "eager_launch").time_s == Approx(355 * 28e-6 - (15552520192.0 / (0.90 * 3.35e12) + 355 * 4e-6)));
  CHECK(eager.kernels == 355);
  // Batch 32 at 8K: the KV cache alone is 32 x 8192 x 131,072 B = 34.4 GB, 11.4 ms at 0.90 x 3.35 TB/s,
  // more than the launches' 9.94 ms: the GPU binds and eager changes nothing.
  const DecodeStep big_graph = decode_step(m, flat_h100(), 32, 8192, options(m));
  const DecodeStep big_eager = decode_step(m, flat_h100(), 32, 8192, o);
  CHECK(big_graph.time_s > 355 * 28e-6);
  CHECK(big_eager.time_s == Approx(big_graph.time_s));
  CHECK_FALSE(has_part(big_eager, "eager_launch"));
  // Two pipeline stages, batch 1 (one micro-batch): each stage issues its own kernels, 16 layers x 11 plus
  // the embedding (177) and 16 x 11 plus the lm_head's 2 (178), 4.96 and 4.98 ms of launches against about
  // 3 ms of GPU time each; the micro-batch passes both stages and the send between them.
  MemoryOptions pp = o;
  pp.engine.pipeline_parallel_size = 2;
  const DecodeStep staged = decode_step(m, flat_h100(), 1, 4096, pp);
  CHECK(staged.time_s == Approx(177 * 28e-6 + 178 * 28e-6 + part(staged, "pp_send").time_s));
  CHECK(part(staged, "eager_launch").time_s > 0);
  CHECK(part(staged, "pp_bubble").time_s == Approx(0).margin(1e-12));
  // The ideal engine has no host-launch figure: eager changes nothing there either.
  MemoryOptions ideal = options(m);
  ideal.engine.enforce_eager = true;
  CHECK(decode_step(m, flat_h100(), 1, 4096, ideal).time_s == Approx(graph.time_s));
}

namespace {
// A weight stream grid over m {1, 64}, n {1024, 131072}, k {1024, 32768}: `at_1` at m = 1 and
// `at_64` at m = 64 for every n and k (the tests below vary m only, so that the interpolation is
// one log2 step: m = 8 lies halfway, log2 8 = 3 of log2 64 = 6).
GemmGrid stream_grid(double at_1, double at_64) {
  std::vector<GemmPoint> points;
  for (int64_t m : {1, 64})
    for (int64_t n : {1024, 131072})
      for (int64_t k : {1024, 32768}) points.push_back({m, n, k, m == 1 ? at_1 : at_64});
  return gemm_grid(points, "weight_stream_efficiency");
}
}  // namespace

TEST_CASE("weight_stream_rate: parameter-weighted harmonic mean over the dense shapes", "[decode][stream]") {
  // n = 1024 streams at 0.5 of the peak at m = 1, n = 131072 at 1.0; each half that at m = 64.
  std::vector<GemmPoint> points;
  for (int64_t m : {1, 64})
    for (int64_t n : {1024, 131072})
      for (int64_t k : {1024, 32768}) points.push_back({m, n, k, (n == 1024 ? 0.5 : 1.0) * (m == 1 ? 1.0 : 0.5)});
  Efficiency e;
  e.weight_stream_efficiency = gemm_grid(points, "weight_stream_efficiency");
  const Rate flat{3.35e12, 3.0e12};
  Gemm a{1024, 1024, 2, 1}, b{131072, 1024, 1, 1}, routed{131072, 1024, 8, 2};
  routed.routed = true;  // a routed expert pair: the expert rate's, not the grid's
  const std::vector<Gemm> gemms{a, b, routed};
  // Params: a 2 x 1024 x 1024 = 2,097,152 at 0.5; b 131072 x 1024 = 134,217,728 at 1.0.
  CHECK(weight_stream_rate(flat, gemms, e, 1).achievable ==
        Approx(3.35e12 * (2097152.0 + 134217728.0) / (2097152.0 / 0.5 + 134217728.0 / 1.0)));
  CHECK(weight_stream_rate(flat, gemms, e, 1).peak == 3.35e12);
  // 8 rows: halfway in log2 m, so 0.375 and 0.75.
  CHECK(weight_stream_rate(flat, gemms, e, 8).achievable ==
        Approx(3.35e12 * (2097152.0 + 134217728.0) / (2097152.0 / 0.375 + 134217728.0 / 0.75)));
  // rows_per_token scales m: 32 tokens x 2 rows = m 64, where b streams at 0.5.
  CHECK(weight_stream_rate(flat, {Gemm{131072, 1024, 1, 2}}, e, 32).achievable == Approx(3.35e12 * 0.5));
  // Past the grid's m: clamped at m = 64.
  CHECK(weight_stream_rate(flat, {b}, e, 4096).achievable == Approx(3.35e12 * 0.5));
  // Only routed shapes, or no grid: the flat rate.
  CHECK(weight_stream_rate(flat, {routed}, e, 1).achievable == 3.0e12);
  CHECK(weight_stream_rate(flat, gemms, Efficiency{}, 1).achievable == 3.0e12);
}

TEST_CASE("a weight stream grid prices the decode step's weights and lm_head by rows", "[decode][stream]") {
  const Model m = model("llama-3.1-8b");
  Gpu streamed = flat_h100();
  streamed.efficiency.weight_stream_efficiency = stream_grid(0.8, 0.6);
  // Batch 1: every shape at 0.8 of 3.35e12. Weights 13,959,168,000 B in 128 GEMMs, lm_head
  // 128256 x 4096 x 2 = 1,050,673,152 B in one, 4 us each (h100-sxm).
  const DecodeStep s1 = decode_step(m, streamed, 1, 4096, options(m));
  CHECK(part(s1, "weights").time_s == Approx(13959168000.0 / (0.8 * 3.35e12) + 128 * 4e-6));
  CHECK(part(s1, "lm_head").time_s == Approx(1050673152.0 / (0.8 * 3.35e12) + 4e-6));
  // Batch 8: halfway in log2 m, 0.7. The FLOPs (8 x 13,958,643,712 at the flat 0.75 x 989.4e12 =
  // 150 us) stay under the bytes' 5.95 ms.
  const DecodeStep s8 = decode_step(m, streamed, 8, 4096, options(m));
  CHECK(part(s8, "weights").time_s == Approx(13959168000.0 / (0.7 * 3.35e12) + 128 * 4e-6));
  CHECK(part(s8, "lm_head").time_s == Approx(1050673152.0 / (0.7 * 3.35e12) + 4e-6));
  // The other components do not move, and the floor stays at the datasheet bandwidth.
  const DecodeStep plain = decode_step(m, flat_h100(), 8, 4096, options(m));
  CHECK(part(s8, "kv_cache").time_s == part(plain, "kv_cache").time_s);
  CHECK(part(s8, "weights").time_floor_s == part(plain, "weights").time_floor_s);
}

TEST_CASE("decode_elementwise_bytes_per_s prices the decode step's element-wise kernels", "[decode][elementwise]") {
  const Model m = model("llama-3.1-8b");
  Gpu l2 = flat_h100();
  l2.efficiency.decode_elementwise_bytes_per_s = 10e12;  // above the 3.35e12 datasheet: activations in L2
  const DecodeStep plain = decode_step(m, flat_h100(), 64, 4096, options(m));
  const DecodeStep s = decode_step(m, l2, 64, 4096, options(m));
  // Element-wise bytes: 64 tokens x 5,668,864 B (the batch-1 step's above), 161 kernels x 4 us.
  const double bytes = 64.0 * 5668864;
  CHECK(part(s, "elementwise").bytes == 64LL * 5668864);
  CHECK(part(plain, "elementwise").time_s == Approx(bytes / (0.90 * 3.35e12) + 161 * 4e-6));
  CHECK(part(s, "elementwise").time_s == Approx(bytes / 10e12 + 161 * 4e-6));
  // The floor is the faster of the two rates: never above the expected time.
  CHECK(part(s, "elementwise").time_floor_s == Approx(bytes / 10e12));
  // Prefill keeps elementwise_bandwidth_fraction: its activations do not fit in L2.
  CHECK(prefill(m, l2, 1, 4096, options(m)).time_s == Approx(prefill(m, flat_h100(), 1, 4096, options(m)).time_s));
  // elementwise_kernel_overhead_s: the element-wise kernels' own fixed cost, 2.5 us in place of 4.
  l2.efficiency.elementwise_kernel_overhead_s = 2.5e-6;
  const DecodeStep k = decode_step(m, l2, 64, 4096, options(m));
  CHECK(part(k, "elementwise").time_s == Approx(bytes / 10e12 + 161 * 2.5e-6));
  CHECK(part(k, "weights").time_s == part(s, "weights").time_s);  // the others keep kernel_overhead_s
  CHECK(k.time_s == Approx(s.time_s - 161 * 1.5e-6));
  // attention_kernel_overhead_s: the kv_cache component's 64 kernels (attention + combine in 32
  // layers) at 3.5 us in place of 4; the rest of the step unchanged.
  l2.efficiency.attention_kernel_overhead_s = KernelCostCurve{{{1, 3.5e-6}}};
  const DecodeStep a = decode_step(m, l2, 64, 4096, options(m));
  CHECK(part(a, "kv_cache").time_s == Approx(part(k, "kv_cache").time_s - 64 * 0.5e-6));
  CHECK(part(a, "elementwise").time_s == part(k, "elementwise").time_s);
  CHECK(a.time_s == Approx(k.time_s - 64 * 0.5e-6));
}

TEST_CASE("norm_kernel_overhead_s and rotary_kernel_overhead_s price the norms and rotary embeddings among the "
          "element-wise kernels",
          "[decode][elementwise]") {
  // The element-wise component = bytes / rate + norms x 3 us + rotary x 2.5 us (where the preset
  // prices them apart; else at 2 us) + the other element-wise kernels x 2 us.
  Gpu g = flat_h100();
  g.efficiency.decode_elementwise_bytes_per_s = 10e12;
  g.efficiency.elementwise_kernel_overhead_s = 2e-6;
  g.efficiency.norm_kernel_overhead_s = 3e-6;
  // {model, element-wise kernels, of them norms, of them rotary}, at batch 1 (MoE: vLLM's one-kernel
  // align, except DeepSeek-V3's 256 experts: two); one rotary kernel (Q and K) per attention or MLA
  // layer, none in a Mamba layer.
  struct Case {
    const char* id;
    int64_t elementwise, norms, rotary;
  };
  const Case cases[] = {
      // 32 layers x (input norm, RoPE, cache write, pre-MLP norm, SiLU x up) + the final norm; norms
      // 2 a layer + 1.
      {"llama-3.1-8b", 32 * 5 + 1, 32 * 2 + 1, 32},
      // 42 layers x 7 (above); norms: input, post-attention, pre-MLP, post-MLP = 4 a layer + 1.
      {"gemma-2-9b", 42 * 7 + 1, 42 * 4 + 1, 42},
      // 36 layers x 6 (above); norms: input, per-head Q/K, pre-MLP = 3 a layer + 1.
      {"qwen3-8b", 36 * 6 + 1, 36 * 3 + 1, 36},
      // 64 Mamba-1 layers: the input norm and Falcon-Mamba's norms on dt, B and C (vLLM's
      // mamba_mixer.py with use_rms_norm), those three at the point-wise kernels' cost; + the final
      // norm.
      {"falcon-mamba-7b", 64 * 4 + 1, 64 + 1, 0},
      // 64 Mamba-2 layers: the input norm and the gated RMSNorm, both norms; + the final norm.
      {"mamba2-2.7b", 64 * 2 + 1, 64 * 2 + 1, 0},
      // Falcon-H1: 44 layers x (one input norm for attention and Mamba-2 side by side; RoPE, cache
      // write; the gate y x silu(z) without a norm, a point-wise kernel; pre-MLP norm, SiLU x up)
      // = 6, two of them norms; + the final norm.
      {"falcon-h1-7b", 44 * 6 + 1, 44 * 2 + 1, 44},
      // 61 MLA layers x 5 (input, q_a and kv_a norms; RoPE, cache write), 3 dense MLPs x 2 (norm,
      // activation), 58 MoE x 7 (norm, top-k, two align kernels, activation, combine, shared
      // activation); norms 61 x 3 + 3 + 58 + 1.
      {"deepseek-v3", 61 * 5 + 3 * 2 + 58 * 7 + 1, 61 * 3 + 3 + 58 + 1, 61},
      // Jamba: 28 Mamba norms, 4 attention x 2 (one norm; no RoPE), 16 dense x 2 (one norm), 16 MoE x
      // 5 (one norm), the final norm.
      {"jamba-v0.1", 28 + 4 * 2 + 16 * 2 + 16 * 5 + 1, 28 + 4 + 16 + 16 + 1, 0},
  };
  for (const double rotary : {2e-6, 2.5e-6}) {
    if (rotary != 2e-6) g.efficiency.rotary_kernel_overhead_s = kernel_cost_curve({{2560, rotary}}, "test", "pairs");
    for (const Case& c : cases) {
      INFO(c.id << ", rotary " << rotary);
      const Model m = model(c.id);
      const DecodeComponent e = part(decode_step(m, g, 1, 1024, options(m)), "elementwise");
      CHECK(e.kernels == c.elementwise);
      CHECK(e.time_s == Approx(static_cast<double>(e.bytes) / 10e12 + static_cast<double>(c.norms) * 3e-6 +
                               static_cast<double>(c.rotary) * rotary +
                               static_cast<double>(c.elementwise - c.norms - c.rotary) * 2e-6));
    }
  }
  // Rotary alone (no norm figure): the norms go with the rest at 2 us.
  {
    g.efficiency.norm_kernel_overhead_s.reset();
    const Model m = model("llama-3.1-8b");
    const DecodeComponent e = part(decode_step(m, g, 1, 1024, options(m)), "elementwise");
    CHECK(e.time_s == Approx(static_cast<double>(e.bytes) / 10e12 + 32 * 2.5e-6 + 129 * 2e-6));
    g.efficiency.rotary_kernel_overhead_s = {};
  }
  // Unset: every element-wise kernel at elementwise_kernel_overhead_s.
  g.efficiency.norm_kernel_overhead_s.reset();
  const Model m = model("llama-3.1-8b");
  const DecodeComponent e = part(decode_step(m, g, 1, 1024, options(m)), "elementwise");
  CHECK(e.time_s == Approx(static_cast<double>(e.bytes) / 10e12 + 161 * 2e-6));
}

TEST_CASE("rotary_kernel_overhead_s prices each rotary kernel by its (cos, sin) pairs a token", "[decode][elementwise]") {
  // Pairs a token = (Q heads + K heads) x head_dim / 2 (rotary over the whole head). Curve: 2 us at
  // 512 pairs, 3 us at 2560, log2-interpolated. The element-wise component = bytes / rate + norms x
  // 3 us + rotary kernels x the curve + the rest x 2 us.
  Gpu g = flat_h100();
  g.efficiency.decode_elementwise_bytes_per_s = 10e12;
  g.efficiency.elementwise_kernel_overhead_s = 2e-6;
  g.efficiency.norm_kernel_overhead_s = 3e-6;
  g.efficiency.rotary_kernel_overhead_s = kernel_cost_curve({{512, 2e-6}, {2560, 3e-6}}, "test", "pairs");
  struct Case {
    const char* id;
    int64_t elementwise, norms, rotary;
    double rotary_s;
  };
  const Case cases[] = {
      // Llama-3.1-8B: (32 + 8) x 128 / 2 = 2560 pairs: 3 us; 32 layers x 5 + 1 kernels, 65 norms.
      {"llama-3.1-8b", 32 * 5 + 1, 32 * 2 + 1, 32, 3e-6},
      // Qwen2.5-0.5B: (14 + 2) x 64 / 2 = 512 pairs: 2 us; 24 layers x 5 + 1, 49 norms.
      {"qwen2.5-0.5b", 24 * 5 + 1, 24 * 2 + 1, 24, 2e-6},
      // Falcon-H1-7B: (12 + 2) x 128 / 2 = 896 pairs: 2 + log2(896 / 512) / log2(2560 / 512) =
      // 2 + 0.80735 / 2.32193 = 2.34771 us; 44 x 6 + 1 kernels, 89 norms (the test above).
      {"falcon-h1-7b", 44 * 6 + 1, 44 * 2 + 1, 44, 2.34771e-6},
  };
  for (const Case& c : cases) {
    INFO(c.id);
    const Model m = model(c.id);
    const DecodeComponent e = part(decode_step(m, g, 1, 1024, options(m)), "elementwise");
    CHECK(e.kernels == c.elementwise);
    CHECK(e.time_s == Approx(static_cast<double>(e.bytes) / 10e12 + static_cast<double>(c.norms) * 3e-6 +
                             static_cast<double>(c.rotary) * c.rotary_s +
                             static_cast<double>(c.elementwise - c.norms - c.rotary) * 2e-6));
  }
}

TEST_CASE("moe_routing_kernel_overhead_s prices the MoE routing kernels by the layer's experts",
          "[decode][elementwise][moe]") {
  // The element-wise component = bytes / rate + norms x 3 us + routing kernels x the curve at the
  // layer's experts + the rest x 2 us (rotary unset: with the rest). Curve: 2 us at 16 experts, 4
  // us at 64, 5 us at 256; a layer takes the points on its side of vLLM's align switch (one kernel
  // for at most 64 experts and fewer than 1024 top-k ids: 16 and 64; else 256), log2-interpolated
  // and clamped there: 32 experts is log2(32 / 16) = 1 of log2(64 / 16) = 2, so 3 us; 8 experts
  // is clamped to 2 us; 256 is 5 us, and so is any layer whose align takes two kernels.
  Gpu g = flat_h100();
  g.efficiency.decode_elementwise_bytes_per_s = 10e12;
  g.efficiency.elementwise_kernel_overhead_s = 2e-6;
  g.efficiency.norm_kernel_overhead_s = 3e-6;
  g.efficiency.moe_routing_kernel_overhead_s =
      kernel_cost_curve({{16, 2e-6}, {64, 4e-6}, {256, 5e-6}}, "test", "experts");
  struct Case {
    const char* id;
    int64_t batch, elementwise, norms, routing;
    double routing_s;  // per routing kernel
  };
  const Case cases[] = {
      // Mixtral: 32 layers x (input norm, RoPE, cache write; pre-MLP norm, top-k, align, activation,
      // combine) = 8 + the final norm; norms 2 a layer + 1; routing 3 a layer (8 experts, batch 1:
      // one align kernel) at 2 us.
      {"mixtral-8x7b", 1, 32 * 8 + 1, 32 * 2 + 1, 32 * 3, 2e-6},
      // At batch 512, top-2: 1024 top-k ids, the align takes two kernels: 4 a layer at 5 us.
      {"mixtral-8x7b", 512, 32 * 9 + 1, 32 * 2 + 1, 32 * 4, 5e-6},
      // gpt-oss-20b: 24 layers x 8 as Mixtral's + the final norm; 32 experts at 3 us.
      {"gpt-oss-20b", 1, 24 * 8 + 1, 24 * 2 + 1, 24 * 3, 3e-6},
      // DeepSeek-V3: as in the test above, 61 x 5 + 3 x 2 + 58 x 7 + 1, norms 61 x 3 + 3 + 58 + 1; the
      // routing of its 58 MoE layers is 4 kernels (256 experts: the align takes two) at 5 us.
      {"deepseek-v3", 1, 61 * 5 + 3 * 2 + 58 * 7 + 1, 61 * 3 + 3 + 58 + 1, 58 * 4, 5e-6},
      // Granite-4.0-H-Tiny: 4 attention layers x (input norm, RoPE, cache write: 3) + 36 Mamba-2
      // layers x (input norm, gated norm: 2), each layer's MoE + shared expert x (pre-MLP norm, top-k,
      // align, activation, combine, shared activation: 6) over 40 layers, the final norm; norms 4 + 72
      // + 40 + 1; routing 40 x 3 (64 experts, top-6 of batch 1: one align kernel) at 4 us.
      {"granite-4.0-h-tiny", 1, 4 * 3 + 36 * 2 + 40 * 6 + 1, 4 + 72 + 40 + 1, 40 * 3, 4e-6},
      // A dense model has none: Llama-3.1-8B as priced without the figure.
      {"llama-3.1-8b", 1, 32 * 5 + 1, 32 * 2 + 1, 0, 0},
  };
  for (const Case& c : cases) {
    INFO(c.id << " batch " << c.batch);
    const Model m = model(c.id);
    const DecodeComponent e = part(decode_step(m, g, c.batch, 1024, options(m)), "elementwise");
    CHECK(e.kernels == c.elementwise);
    CHECK(e.time_s == Approx(static_cast<double>(e.bytes) / 10e12 + static_cast<double>(c.norms) * 3e-6 +
                             static_cast<double>(c.routing) * c.routing_s +
                             static_cast<double>(c.elementwise - c.norms - c.routing) * 2e-6));
  }
  // One figure (a one-point curve) for every model, and no norm figure: the norms go with the rest.
  g.efficiency.norm_kernel_overhead_s.reset();
  g.efficiency.moe_routing_kernel_overhead_s = kernel_cost_curve({{1, 4e-6}}, "test", "experts");
  const Model m = model("mixtral-8x7b");
  const DecodeComponent e = part(decode_step(m, g, 1, 1024, options(m)), "elementwise");
  CHECK(e.time_s == Approx(static_cast<double>(e.bytes) / 10e12 + 96 * 4e-6 + (257 - 96) * 2e-6));
}

TEST_CASE("attention_kernel_overhead_s by bytes a launch prices each attention group's kernels", "[decode][kv]") {
  Gpu g = flat_h100();
  Gpu free = flat_h100();
  free.efficiency.attention_kernel_overhead_s = KernelCostCurve{{{1, 0.0}}};  // no fixed cost: the difference is it
  auto overhead = [&](const Model& m, int64_t batch, int64_t context) {
    return part(decode_step(m, g, batch, context, options(m)), "kv_cache").time_s -
           part(decode_step(m, free, batch, context, options(m)), "kv_cache").time_s;
  };
  {
    // Llama-3.1-8B: 32 layers x 8 KV heads x 128 x (K, V) x 2 B = 131,072 B a token; 64 kernels
    // (attention and combine a layer). Batch 1 at 4,096 tokens + the new one: a launch moves
    // 4,097 x 131,072 / 64 = 8,390,656 B. Points 4 MiB -> 3 us, 16 MiB -> 4 us: log2(8,390,656 /
    // 4,194,304) = 1.000352 of the 2 between them, 3 + 0.500176 = 3.500176 us a kernel.
    g.efficiency.attention_kernel_overhead_s = kernel_cost_curve({{4194304, 3e-6}, {16777216, 4e-6}}, "test");
    const Model m = model("llama-3.1-8b");
    CHECK(overhead(m, 1, 4096) == Approx(64 * 3.500176e-6).epsilon(1e-5));
    // Clamped at the ends: 64 tokens (a launch of 133,120 B) at 3 us, batch 64 x 8K at 4 us.
    CHECK(overhead(m, 1, 64) == Approx(64 * 3e-6));
    CHECK(overhead(m, 64, 8192) == Approx(64 * 4e-6));
    // One point is one figure for every launch.
    g.efficiency.attention_kernel_overhead_s = KernelCostCurve{{{1, 3.5e-6}}};
    CHECK(overhead(m, 1, 4096) == Approx(64 * 3.5e-6));
  }
  {
    // Gemma-2-9B at 8,192 tokens: 21 global layers read all of them, 21 local ones their window of
    // 4,096; each group 21 x 8 KV heads x 256 x (K, V) x 2 B = 172,032 B a token and 84 x 21/42 =
    // 42 kernels. A global launch: 8,193 x 172,032 / 42 = 33,558,528 B, log2(/ 2^23) = 2.000176 of
    // the 3 between 2^23 (3 us) and 2^26 (6 us): 5.000176 us; a local one: 4,097 x 4,096 =
    // 16,781,312 B, log2(/ 2^23) = 1.000352: 4.000352 us. 42 x (5.000176 + 4.000352) us.
    g.efficiency.attention_kernel_overhead_s = kernel_cost_curve({{8388608, 3e-6}, {67108864, 6e-6}}, "test");
    const Model m = model("gemma-2-9b");
    CHECK(overhead(m, 1, 8192) == Approx(42 * (5.000176e-6 + 4.000352e-6)).epsilon(1e-5));
  }
}

TEST_CASE("a measured shape takes its own points instead of the weight stream grid", "[decode][stream]") {
  // The grid puts every shape at 0.8 (m = 1) and 0.6 (m = 64); the table lists Mistral's lm_head
  // (vocab 32000 x hidden 4096) at 0.70 (m = 1) and 0.64 (m = 64).
  Efficiency e;
  e.weight_stream_efficiency = stream_grid(0.8, 0.6);
  e.weight_stream_shapes = shape_table({{64, 32000, 4096, 0.64}, {1, 32000, 4096, 0.70}}, "weight_stream_shapes");
  // Sorted by (n, k, m) whatever the order given.
  REQUIRE(e.weight_stream_shapes.points.size() == 2);
  CHECK(e.weight_stream_shapes.points[0].m == 1);
  CHECK(e.weight_stream(1, 32000, 4096) == Approx(0.70));
  // m = 8: halfway in log2 m between its own points, (0.70 + 0.64) / 2 = 0.67; clamped outside them.
  CHECK(e.weight_stream(8, 32000, 4096) == Approx(0.67));
  CHECK(e.weight_stream(512, 32000, 4096) == Approx(0.64));
  CHECK(e.weight_stream(0.5, 32000, 4096) == Approx(0.70));
  // Another shape, even one that differs in k only: the grid's 0.8 and 0.7.
  CHECK(e.weight_stream(1, 32000, 5120) == Approx(0.8));
  CHECK(e.weight_stream(8, 32768, 4096) == Approx(0.7));
  // Neighbouring shapes in one table keep their own points: (32000, 4096) sits between (4096,
  // 4096) and (32000, 5120) in the table's order, and each lookup stays within its shape.
  Efficiency three = e;
  three.weight_stream_shapes = shape_table({{1, 32000, 5120, 0.50}, {64, 32000, 5120, 0.40}, {1, 32000, 4096, 0.70},
                                            {64, 32000, 4096, 0.64}, {1, 4096, 4096, 0.30}},
                                           "weight_stream_shapes");
  CHECK(three.weight_stream(8, 32000, 4096) == Approx(0.67));
  CHECK(three.weight_stream(8, 32000, 5120) == Approx(0.45));  // (0.50 + 0.40) / 2
  CHECK(three.weight_stream(64, 4096, 4096) == Approx(0.30));  // one point: every m
  // A tensor-parallel shard's shape (n 16000) is not the listed whole matrix: the grid.
  CHECK(three.weight_stream(1, 16000, 4096) == Approx(0.8));
  // The decode step's lm_head of Mistral-7B at batch 1: 32000 x 4096 x 2 B = 262,144,000 B at 0.70
  // of 3.35e12 B/s, plus one kernel's 4 us (h100-sxm).
  const Model m = model("mistral-7b-v0.1");
  Gpu g = flat_h100();
  g.efficiency.weight_stream_efficiency = e.weight_stream_efficiency;
  g.efficiency.weight_stream_shapes = e.weight_stream_shapes;
  CHECK(part(decode_step(m, g, 1, 4096, options(m)), "lm_head").time_s == Approx(262144000.0 / (0.70 * 3.35e12) + 4e-6));
  // A point given twice, or a size that is not positive, is refused.
  CHECK_THROWS_WITH(shape_table({{1, 32000, 4096, 0.7}, {1, 32000, 4096, 0.6}}, "weight_stream_shapes"),
                    "weight_stream_shapes point (m 1, n 32000, k 4096) is given twice");
  CHECK_THROWS_WITH(shape_table({{1, 0, 4096, 0.7}}, "weight_stream_shapes"),
                    "weight_stream_shapes point (m 1, n 0, k 4096): m, n and k must be positive");
}

TEST_CASE("state_efficiency times a Mamba state by its d_state and width; other states keep the fraction",
          "[decode][efficiency][ssm]") {
  Gpu g = flat_h100();
  g.efficiency.state_bandwidth_fraction = 0.6;
  g.efficiency.state_efficiency = state_table({{16, 16, 0.5}, {16, 32, 0.8}, {128, 32, 0.9}});
  // Falcon-Mamba-7B: 64 Mamba-1 layers, d_inner 8192, d_state 16, d_conv 4: conv 8192 x 3 + ssm
  // 8192 x 16 = 155,648 elements a layer; batch 32, read and written.
  const Model fm = model("falcon-mamba-7b");
  MemoryOptions o = options(fm);
  const DecodeComponent bf16 = part(DecodeModel(fm, g, o).step(32, 4096), "ssm_state");  // a copy: the step is a temporary
  CHECK(bf16.bytes == 2LL * 32 * 64 * 155648 * 2);  // 1,275,068,416 B
  // bf16 rows of 16: 0.5 x 3.35e12; 64 x 2 kernels at 4 us: 761.2 us + 512 us.
  CHECK(bf16.time_s == Approx(1275068416.0 / (0.5 * 3.35e12) + 128 * 4e-6));
  o.cache.state_dtype = DType::fp32;  // the conv state follows it
  const DecodeComponent fp32 = part(DecodeModel(fm, g, o).step(32, 4096), "ssm_state");
  CHECK(fp32.bytes == 2LL * 32 * 64 * 155648 * 4);
  CHECK(fp32.time_s == Approx(2550136832.0 / (0.8 * 3.35e12) + 128 * 4e-6));
  // Mamba-2.7B: d_state 128 fp32 -> 0.9. State per layer 671,488 elements (test above) x 4 B, batch 8.
  const Model m2 = model("mamba2-2.7b");
  MemoryOptions o2 = options(m2);
  o2.cache.state_dtype = DType::fp32;
  CHECK(part(DecodeModel(m2, g, o2).step(8, 1000), "ssm_state").time_s ==
        Approx(2.0 * 8 * 64 * 671488 * 4 / (0.9 * 3.35e12) + 128 * 4e-6));
  // Qwen3-Next's Gated DeltaNet state is no Mamba row: state_bandwidth_fraction 0.6, as without the table.
  const Model qn = model("qwen3-next-80b-a3b");
  Gpu flat = g;
  flat.efficiency.state_efficiency = {};
  const DecodeComponent gdn = part(DecodeModel(qn, g, options(qn)).step(4, 4096), "ssm_state");
  CHECK(gdn.time_s == part(DecodeModel(qn, flat, options(qn)).step(4, 4096), "ssm_state").time_s);
  CHECK(gdn.time_s == Approx(static_cast<double>(gdn.bytes) / (0.6 * 3.35e12) +
                             static_cast<double>(gdn.kernels) * 4e-6));
}
