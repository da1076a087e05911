// Engine-exact capacity: each expectation derived by hand from the engine's rules (docs/engines.md)
// and the models' published shapes. The real start-up logs are checked by tests/engine_fixtures.py.
#include <catch2/catch.hpp>

#include <cstdlib>

#include "core/engine.h"
#include "core/speculative.h"
#include "core/checked.h"
#include "core/error.h"
#include "core/kv_cache.h"
#include "io/engine_yaml.h"
#include "io/files.h"
#include "io/model_yaml.h"
#include "test_helpers.h"

using namespace kvplan;

namespace {

constexpr int64_t kGiB = int64_t{1} << 30;

// bf16 options under an engine profile with a given KV budget (the profile is skipped).
MemoryOptions engine_options(const Model& m, const std::string& engine, int64_t budget_bytes) {
  MemoryOptions o = test::bf16_options(m);
  o.engine.profile = test::bundled().resolve_engine(engine);
  o.engine.kv_cache_memory_bytes = budget_bytes;
  o.prefill_chunk = 8192;  // vLLM serve's max_num_batched_tokens on a >= 70 GiB GPU
  return o;
}

// SGLang's default mem_fraction_static for a deployment of max_model_len 8192 (method: a drafter's).
double sglang_fraction(const EngineProfile& p, const Gpu& g, const Model& m, int64_t gpus = 1, int64_t pp = 1,
                       const std::string& method = "") {
  return engine_defaults(p, g, 8192, gpus, &m, pp, false, method).gpu_memory_utilization;
}

}  // namespace

TEST_CASE("engine: a uniform model fills its pool with whole blocks of every layer", "[engine]") {
  // Llama 3.1 8B: a 16-token block of one layer = 16 x (K + V) x 8 KV heads x 128 dims x 2 B =
  // 65,536 B; 32 layers = 2 MiB per block. 50 GiB / 2 MiB = 25,600 blocks = 409,600 tokens.
  const Model m = test::model("llama-3.1-8b");
  const EnginePlan p = plan_engine(m, test::gpu("h100-sxm"), engine_options(m, "vllm@0.19", 50 * kGiB), 131072);
  CHECK(p.block_size == 16);
  CHECK(p.page_bytes == 65536);
  CHECK(p.groups.size() == 1);
  CHECK(p.num_gpu_blocks == 25600);
  CHECK(p.kv_cache_tokens == 409600);
  // A 131,072-token request holds 131072 / 16 = 8192 blocks: 25,600 / 8,192 = 3.125 requests.
  CHECK(p.blocks_per_request == 8192);
  CHECK(p.max_concurrency == 3.125);
  CHECK(p.starts);
  CHECK(requests_that_fit(p, 8192) == 50);  // 8192 tokens = 512 blocks; 25,600 / 512
}

TEST_CASE("engine: a given budget near 2^63 bytes does not start, the check free of overflow", "[engine]") {
  // 9,223,372,030,000,000,000 B of KV (6.85e9 below 2^63 - 1) plus 16,060,522,496 B of weights
  // passes 2^63: a sum would wrap negative and pass the memory check. The budget alone is past the
  // H100's 80 GiB, so the deployment does not start.
  const Model m = test::model("llama-3.1-8b");
  const EnginePlan p =
      plan_engine(m, test::gpu("h100-sxm"), engine_options(m, "vllm@0.19", 9223372030000000000LL), 4096);
  CHECK_FALSE(p.starts);
  CHECK(p.failure.rfind("CUDA out of memory", 0) == 0);
}

TEST_CASE("engine: vLLM refuses a token budget below max_num_seqs; SGLang has no such rule", "[engine]") {
  // vllm/config/scheduler.py: max_num_batched_tokens must be >= max_num_seqs (one decode token for
  // every running sequence). 64 sequences: a budget of 63 is refused, 64 starts.
  const Model m = test::model("llama-3.1-8b");
  MemoryOptions o = engine_options(m, "vllm@0.19", 50 * kGiB);
  o.engine.max_num_seqs = 64;
  o.prefill_chunk = 63;
  CHECK_THROWS_WITH(plan_engine(m, test::gpu("h100-sxm"), o, 4096),
                    "max_num_batched_tokens (63) must be at least max_num_seqs (64): vllm refuses it");
  o.prefill_chunk = 64;
  CHECK(plan_engine(m, test::gpu("h100-sxm"), o, 4096).starts);
}

TEST_CASE("engine: full-attention layers of different head counts share block ids, not one page size", "[engine]") {
  // Two layers of 8 KV heads and two of 4 (128 dims, bf16): one vLLM group (the same attention
  // type), each layer with its own pages: 16 x 2 x 8 x 128 x 2 B = 65,536 B and 32,768 B. A block id
  // spans 2 x 65,536 + 2 x 32,768 = 196,608 B, so 1 GiB holds 1,073,741,824 / 196,608 = 5,461
  // blocks (5,461.3); 4,096 tokens take 256 of them: 5,461 / 256 = 21.33 requests, 87,376 tokens.
  const Model m = parse_model_yaml(R"(id: mixed-heads
name: mixed
family: llama
source: "test"
vocab_size: 1000
hidden_size: 1024
blocks:
  wide:
    mixer: {kind: attention, heads: 8, kv_heads: 8, head_dim: 128}
    mlp: {kind: dense, intermediate_size: 2048, gated: true}
  narrow:
    mixer: {kind: attention, heads: 8, kv_heads: 4, head_dim: 128}
    mlp: {kind: dense, intermediate_size: 2048, gated: true}
layers:
  - {repeat: 2, pattern: [wide, narrow]}
)",
                                   "mixed-heads.yaml");
  const EnginePlan p = plan_engine(m, test::gpu("h100-sxm"), engine_options(m, "vllm@0.29", kGiB), 4096);
  CHECK(p.groups.size() == 1);
  CHECK(p.page_bytes == 0);  // no one page: the report says so
  CHECK(p.pool_block_bytes == 196608);
  CHECK(p.num_gpu_blocks == 5461);
  CHECK(p.kv_cache_tokens == 87376);
}

TEST_CASE("engine: vLLM 0.21 logs the cache size as max_concurrency x max_model_len", "[engine]") {
  // The same 25,600 blocks at max_model_len 1000: a request holds cdiv(1000, 16) = 63 blocks, so
  // 25,600 / 63 = 406.35 requests and int(406.349... x 1000) = 406,349 tokens (0.19: 409,600).
  const Model m = test::model("llama-3.1-8b");
  const EnginePlan p = plan_engine(m, test::gpu("h100-sxm"), engine_options(m, "vllm@0.21", 50 * kGiB), 1000);
  CHECK(p.num_gpu_blocks == 25600);
  CHECK(p.blocks_per_request == 63);
  CHECK(p.kv_cache_tokens == 406349);
}

TEST_CASE("engine: a model that cannot hold one max_model_len request does not start", "[engine]") {
  // 1 GiB = 512 blocks of 2 MiB. One 131,072-token request needs 8192 blocks (16 GiB): vLLM
  // refuses, and its estimate is the longest L with 32 x cdiv(L, 16) x 65,536 B <= 1 GiB: L = 8192.
  const Model m = test::model("llama-3.1-8b");
  const EnginePlan p = plan_engine(m, test::gpu("h100-sxm"), engine_options(m, "vllm@0.19", kGiB), 131072);
  CHECK_FALSE(p.starts);
  CHECK(p.estimated_max_model_len == 8192);
  CHECK(p.failure ==
        "To serve at least one request with the model's max seq len (131072), (16.00 GiB KV cache is needed, which "
        "is larger than the available KV cache memory (1.00 GiB). Based on the available memory, the estimated "
        "maximum model length is 8192.");
  // vLLM V0 compares max_model_len with the pool's tokens: 3 GiB = 1536 blocks = 24,576 tokens.
  const EnginePlan v0 = plan_engine(m, test::gpu("h100-sxm"), engine_options(m, "vllm@0.6", 3 * kGiB), 29000);
  CHECK(v0.kv_cache_tokens == 24576);
  CHECK_FALSE(v0.starts);
}

TEST_CASE("engine: sliding-window and full layers share one pool in groups", "[engine]") {
  // Gemma 2 9B: 21 sliding (window 4096) + 21 full layers, 8 KV heads x 256 dims: a block of one
  // layer = 16 x 2 x 8 x 256 x 2 B = 131,072 B. Two groups of 21; 42 GiB / 131,072 / 21 = 16,384.
  const Model m = test::model("gemma-2-9b");
  const EnginePlan p = plan_engine(m, test::gpu("h100-sxm"), engine_options(m, "vllm@0.19", 42 * kGiB), 8192);
  CHECK(p.page_bytes == 131072);
  CHECK(p.groups.size() == 2);
  CHECK(p.group_size == 21);
  CHECK(p.num_gpu_blocks == 16384);
  CHECK(p.kv_cache_tokens == 16384 / 2 * 16);  // blocks per group x block (0.19's log)
  // At 8192 tokens: full 8192 / 16 = 512 blocks; sliding cdiv(min(4095 + 8192, 8192), 16) + 1 = 513.
  CHECK(p.blocks_per_request == 1025);
  CHECK(p.max_concurrency == Approx(16384.0 / 1025.0));
  // Without the hybrid manager every layer takes full blocks: one uniform group of 42 layers.
  MemoryOptions off = engine_options(m, "vllm@0.19", 42 * kGiB);
  off.engine.disable_hybrid_kv_cache_manager = true;
  const EnginePlan q = plan_engine(m, test::gpu("h100-sxm"), off, 8192);
  CHECK(q.groups.size() == 1);
  CHECK(q.num_gpu_blocks == 8192);  // 42 GiB / (131,072 x 42)
  CHECK(q.blocks_per_request == 512);
}

TEST_CASE("engine: vLLM 0.12+ unifies unequal pages with larger blocks", "[engine]") {
  // Gemma-4-26B-A4B: 25 sliding layers (8 KV heads x 256: 16 x 2 x 8 x 256 x 2 B = 131,072 B a
  // block) and 5 global layers (2 x 512: 65,536 B a 16-token block). 131,072 / 65,536 = 2, so the
  // global layers take 32-token blocks of the same 131,072 B page. Groups: 5 (25 is not below
  // 1.5 x 5): 5 sliding groups + 1 global. 20 GiB / 131,072 / 5 = 32,768 blocks.
  const Model m = test::model("gemma-4-26b-a4b");
  const EnginePlan p = plan_engine(m, test::gpu("h100-sxm"), engine_options(m, "vllm@0.19", 20 * kGiB), 32768);
  CHECK(p.block_size == 16);
  CHECK(p.page_bytes == 131072);
  CHECK(p.unified_page_bytes == 131072);
  CHECK(p.group_size == 5);
  REQUIRE(p.groups.size() == 6);
  int sliding = 0;
  for (const EngineGroup& g : p.groups) {
    if (g.window > 0) {
      ++sliding;
      CHECK(g.block_size == 16);
    } else {
      CHECK(g.block_size == 32);
    }
  }
  CHECK(sliding == 5);
  CHECK(p.num_gpu_blocks == 32768);
  // A 32,768-token request: global cdiv(32768, 32) = 1024 blocks; each sliding group
  // cdiv(min(1023 + 8192, 32768), 16) + 1 = 577: 1024 + 5 x 577 = 3,909.
  CHECK(p.blocks_per_request == 3909);
  // vLLM 0.11 had no unification: the pages must be equal.
  CHECK_THROWS_WITH(plan_engine(m, test::gpu("h100-sxm"), engine_options(m, "vllm@0.11", 20 * kGiB), 32768),
                    Catch::Contains("vLLM 0.11 cannot serve this model") && Catch::Contains("65536 and 131072"));
}

TEST_CASE("engine: a hybrid's attention block grows until one page holds a state page", "[engine]") {
  // Qwen3-Next: a Gated DeltaNet state (bf16) = conv 3 x (2 x 16 x 128 + 32 x 128) x 2 B = 49,152 B
  // + recurrent 32 x 128 x 128 x 2 B = 1,048,576 B = 1,097,728 B. An attention token of one layer =
  // 2 KV heads x 256 x (K + V) x 2 B = 2048 B. Block = 16 x cdiv(1,097,728, 16 x 2048) = 16 x 34 =
  // 544 tokens; page = 544 x 2048 = 1,114,112 B, the state page padded to it.
  const Model m = test::model("qwen3-next-80b-a3b");
  const EnginePlan p = plan_engine(m, test::gpu("h200"), engine_options(m, "vllm@0.19", 40 * kGiB), 32768);
  CHECK(p.block_size == 544);
  CHECK(p.page_bytes == 1114112);
  CHECK(p.state_page_bytes == 1114112);
  // 12 attention + 36 linear-attention layers: groups of 12 (36 is not below 1.5 x 12): 1 + 3 groups.
  CHECK(p.group_size == 12);
  CHECK(p.groups.size() == 4);
  CHECK(p.num_gpu_blocks == 40 * kGiB / 1114112 / 12);  // 3212
  CHECK(p.kv_cache_tokens == 3212 / 4 * 544);
  // A 32,768-token request: cdiv(32768, 544) = 61 attention blocks + 1 state block per state group.
  CHECK(p.blocks_per_request == 61 + 3);
  // With --enable-prefix-caching, vLLM 0.18+ runs the states in 'align' mode: two blocks per state
  // group, 61 + 3 x 2 = 67 per request; the pool itself is unchanged.
  MemoryOptions align = engine_options(m, "vllm@0.19", 40 * kGiB);
  align.engine.prefix_caching = true;
  const EnginePlan a = plan_engine(m, test::gpu("h200"), align, 32768);
  CHECK(a.num_gpu_blocks == p.num_gpu_blocks);
  CHECK(a.blocks_per_request == 61 + 3 * 2);
  CHECK(a.max_concurrency == Approx(3212.0 / 67));
}

TEST_CASE("engine: an MLA hybrid's block aligns to 64 and KDA's recurrent state is fp32 under vLLM", "[engine]") {
  // Kimi-Linear-48B-A3B at tp 2 (models/kimi-linear-48b-a3b.yaml: 7 MLA + 20 KDA layers; KDA 32 heads
  // x 128, d_conv 4). vLLM's KDA state (mamba_utils.py kda_state_dtype and kda_state_shape): three
  // conv windows of (4 - 1) x 4096 / 2 in bf16 = 3 x 3 x 2048 x 2 B = 36,864 B, and the recurrent
  // state 16 x 128 x 128 in fp32 = 1,048,576 B: 1,085,440 B. An MLA token = (512 + 64) x 2 B = 1152 B
  // on every rank. The attention block aligns to 64 for MLA (models/config.py
  // HybridAttentionMambaModelConfig): 64 x cdiv(1,085,440, 64 x 1152) = 64 x cdiv(1,085,440, 73,728)
  // = 64 x 15 = 960 tokens; page 960 x 1152 = 1,105,920 B.
  const Model m = test::model("kimi-linear-48b-a3b");
  MemoryOptions o = engine_options(m, "vllm@0.11", 2469606195);  // 2.30 GiB, vllm-project/vllm#28228's budget
  o.cache.tp = 2;
  o.cache.kda_state_dtype = o.engine.profile.kda_state_dtype;  // as the CLI's options take it from the profile
  REQUIRE(o.cache.kda_state_dtype == DType::fp32);
  const EnginePlan p = plan_engine(m, test::gpu("h200"), o, 120000);
  CHECK(p.block_size == 960);
  CHECK(p.page_bytes == 1105920);
  CHECK(p.state_page_bytes == 1105920);
  // Groups of 7 (the MLA layers; 20 KDA layers take 3 groups, one padding layer): 4 groups, a block
  // id 7 x 1,105,920 = 7,741,440 B: floor(2,469,606,195 / 7,741,440) = 319 blocks, 319 // 4 = 79 a
  // group: 79 x 960 = 75,840 tokens, as the log prints.
  CHECK(p.group_size == 7);
  CHECK(p.groups.size() == 4);
  CHECK(p.num_gpu_blocks == 319);
  CHECK(p.kv_cache_tokens == 75840);
  // A 120,000-token request: cdiv(120000, 960) = 125 attention blocks + 1 per state group.
  CHECK(p.blocks_per_request == 125 + 3);
  // kvplan's own state dtype (bf16) elsewhere: the recurrent state is 16 x 128 x 128 x 2 B.
  CacheOptions ideal;
  ideal.tp = 2;
  CHECK(state_bytes(m.layers.front(), ideal).total() == 36864 + 524288);
}

TEST_CASE("engine: vLLM 0.26+ counts every batch in flight in the sliding-window bound", "[engine]") {
  // Gemma 2 9B as above (42 GiB = 16,384 blocks, max_model_len 8192, max_num_batched_tokens 8192).
  // Under async scheduling vLLM keeps 2 batches in flight on one stage (V1 runner) and the bound
  // counts 2 x 8192 tokens: cdiv(min(4095 + 16,384, 8192), 16) + 1 = 513 blocks, as 0.21's at
  // this length; at 32,768 tokens 0.21 holds cdiv(4095 + 8192, 16) + 1 = 769 and 0.26+
  // cdiv(4095 + 16,384, 16) + 1 = 1281 blocks a sliding layer (full: 2048).
  const Model m = test::model("gemma-2-9b");
  const EnginePlan old_bound = plan_engine(m, test::gpu("h100-sxm"), engine_options(m, "vllm@0.21", 42 * kGiB), 32768);
  CHECK(old_bound.blocks_per_request == 2048 + 769);
  const EnginePlan p = plan_engine(m, test::gpu("h100-sxm"), engine_options(m, "vllm@0.26", 42 * kGiB), 32768);
  CHECK(p.in_flight_tokens == 16384);
  CHECK(p.blocks_per_request == 2048 + 1281);
  CHECK(p.max_concurrency == Approx(16384.0 / 3329));
  CHECK(plan_engine(m, test::gpu("h100-sxm"), engine_options(m, "vllm@0.26", 42 * kGiB), 8192).blocks_per_request ==
        512 + 513);
  // Gemma 2 runs on Runner V2 from 0.25 (a dense model): pp + 1 batches. Two stages: 3 x 8192.
  MemoryOptions pp = engine_options(m, "vllm@0.26", 42 * kGiB);
  pp.engine.pipeline_parallel_size = 2;
  const EnginePlan q = plan_engine(m, test::gpu("h100-sxm"), pp, 32768);
  CHECK(q.runner_v2);
  CHECK(q.in_flight_tokens == 3 * 8192);
}

TEST_CASE("engine: Model Runner V2 leaves CUDA-graph memory out of the budget until 0.29", "[engine]") {
  // vllm@0.21 deducts its graph estimate for every model. Runner V2 runs Qwen3 dense from 0.22,
  // Llama and Mistral from 0.23, every dense model from 0.25, and deducts nothing until 0.29.
  // Mixtral (MoE) stays on the V1 runner and keeps the deduction. The estimate (the profiles'
  // fit): 102 graphs on an H200 at the defaults (1024 sequences: 51 capture sizes, each a
  // piecewise and a full graph) x (2,794,180 B + 170,164 B x layers), + 395,470,469 B for MoE.
  //   Qwen3-8B, 36 layers:     102 x (2,794,180 + 6,125,904)  =   909,848,568
  //   Llama-3.1-8B, 32 layers: 102 x (2,794,180 + 5,445,248)  =   840,421,656
  //   Gemma-3-12B, 48 layers:  102 x (2,794,180 + 8,167,872)  = 1,118,129,304
  //   Mixtral, 32 MoE layers:  840,421,656 + 395,470,469      = 1,235,892,125
  const Model llama = test::model("llama-3.1-8b"), qwen = test::model("qwen3-8b"), mixtral = test::model("mixtral-8x7b");
  const auto graphs = [](const Model& m, const std::string& engine) {
    MemoryOptions o = test::bf16_options(m);
    o.engine.profile = test::bundled().resolve_engine(engine);
    o.prefill_chunk = 8192;
    return plan_engine(m, test::gpu("h200"), o, 8192).cuda_graph_bytes;
  };
  CHECK(graphs(qwen, "vllm@0.21") == 909848568);
  CHECK(graphs(qwen, "vllm@0.22") == 0);
  CHECK(graphs(llama, "vllm@0.22") == 840421656);
  CHECK(graphs(llama, "vllm@0.23") == 0);
  CHECK(graphs(test::model("gemma-3-12b"), "vllm@0.23") == 1118129304);
  CHECK(graphs(test::model("gemma-3-12b"), "vllm@0.25") == 0);
  CHECK(graphs(mixtral, "vllm@0.25") == 1235892125);
  CHECK(graphs(llama, "vllm@0.29") == 840421656);
  // 0.20 deducts already (its start-up logs print the deduction); 0.19 does not.
  CHECK(graphs(llama, "vllm@0.20") == 840421656);
  CHECK(graphs(llama, "vllm@0.19") == 0);
}

TEST_CASE("engine: VLLM_USE_V2_MODEL_RUNNER picks the model runner", "[engine]") {
  // Llama-3.1-8B (32 layers) on an H200 at the defaults: 102 graphs x (2,794,180 + 32 x 170,164 B)
  // = 840,421,656 B of graph estimate, as in the test above. vllm@0.25 runs it on Runner V2, which
  // deducts none; VLLM_USE_V2_MODEL_RUNNER=0 keeps the V1 runner, which does. Mixtral (a MoE
  // model, on the V1 runner by default) deducts 840,421,656 + 395,470,469 B; =1 moves it to Runner
  // V2 and to 0. A profile that predates Runner V2 as a default (vllm@0.21) cannot model =1.
  const Model llama = test::model("llama-3.1-8b"), mixtral = test::model("mixtral-8x7b");
  const auto plan = [](const Model& m, const std::string& engine, std::optional<bool> v2) {
    MemoryOptions o = test::bf16_options(m);
    o.engine.profile = test::bundled().resolve_engine(engine);
    o.engine.v2_model_runner = v2;
    o.prefill_chunk = 8192;
    return plan_engine(m, test::gpu("h200"), o, 8192);
  };
  CHECK(plan(llama, "vllm@0.25", std::nullopt).runner_v2);
  CHECK(plan(llama, "vllm@0.25", std::nullopt).cuda_graph_bytes == 0);
  CHECK_FALSE(plan(llama, "vllm@0.25", false).runner_v2);
  CHECK(plan(llama, "vllm@0.25", false).cuda_graph_bytes == 840421656);
  CHECK(plan(mixtral, "vllm@0.25", std::nullopt).cuda_graph_bytes == 840421656 + 395470469);
  CHECK(plan(mixtral, "vllm@0.25", true).runner_v2);
  CHECK(plan(mixtral, "vllm@0.25", true).cuda_graph_bytes == 0);
  CHECK_FALSE(plan(mixtral, "vllm@0.29", false).runner_v2);
  CHECK(plan(llama, "vllm@0.21", false).cuda_graph_bytes == 840421656);
  CHECK_THROWS_WITH(plan(llama, "vllm@0.21", true),
                    Catch::Contains("VLLM_USE_V2_MODEL_RUNNER=1: the vllm 0.21 profile does not model Model Runner V2"));
}

TEST_CASE("engine: the CUDA graphs vLLM captures by default", "[engine]") {
  // Capture sizes 1, 2, 4, multiples of 8 below 256, then of 16, up to
  // min(2 x max_num_seqs x d, 512, max_num_batched_tokens), d = 1 + speculative tokens; with d > 1
  // each rounded up to a multiple of d (past the largest dropped, repeats once). Each a piecewise
  // graph, and a full one where it is at most max_num_seqs x d.
  CHECK(cuda_graph_count(1024, 8192, 0) == 102);  // up to 512: 3 + 31 + 17 = 51 sizes, all full too
  CHECK(cuda_graph_count(256, 8192, 0) == 51 + 35);  // full graphs up to 256: 3 + 31 + 1
  CHECK(cuda_graph_count(1024, 256, 0) == 70);    // up to 256 tokens: 35 sizes, all full
  // The v0.19.2rc1 Gemma-4-26B-A4B log, 2 sequences and 3 EAGLE-3 tokens (d = 4): sizes up to
  // 2 x 2 x 4 = 16: 1, 2, 4, 8, 16 rounded to 4, 4, 4, 8, 16: "PIECEWISE=3 (largest=16), FULL=2
  // (largest=8)" (full graphs up to 2 x 4 = 8).
  CHECK(cuda_graph_count(2, 16384, 3) == 3 + 2);
  // 1 sequence: sizes 1 and 2, a full graph of 1.
  CHECK(cuda_graph_count(1, 4096, 0) == 3);
  // ngram with 2 tokens under 256 batched tokens (d = 3): 1, 2 -> 3; 4 -> 6; 8 -> 9; 16 -> 18;
  // 24; 32 -> 33; ...; 248 -> 249 (the multiples of 8 from 24 to 248: 29 sizes, none repeated);
  // 256 -> 258 past 256, dropped: 4 + 29 = 33 sizes, all full (at most 3,072).
  CHECK(cuda_graph_count(1024, 256, 2) == 33 + 33);
  // One sequence with 7 tokens (d = 8): the largest is 16: 1..8 -> 8, 16: 2 sizes, full up to 8.
  CHECK(cuda_graph_count(1, 8192, 7) == 2 + 1);
}

TEST_CASE("engine: with a drafter, vLLM widens Gated DeltaNet's conv window and holds a state block per token", "[engine]") {
  // The v0.20.0 start-up log of Qwen3.6-27B (Qwen3.5-27B's layers) with 3 MTP tokens, fp8 KV, prefix
  // caching on (tests/engines/vllm-qwen3.6-27b-nvfp4-mtp-rtx5090-wsl-kvfp8-len131072-0.20.0.yaml):
  // "Setting attention block size to 1600 tokens", 49,600 tokens, 1.30x at 131,072 tokens.
  // A GDN state: conv window (3 + 3 speculative) x conv_dim 10,240 x 2 B = 122,880 B, and the
  // recurrent state 48 heads x 128 x 128 x 4 B = 3,145,728 B: 3,268,608 B. An attention page holds
  // 2 x 4 KV heads x 256 x 1 B = 2,048 B a token, so the block is the multiple of 16 tokens at or
  // above 3,268,608 / 2,048 = 1,596: 1,600 (without the speculative columns 3,207,168 B -> 1,568).
  const Model m = test::model("qwen3.5-27b");
  MemoryOptions o = test::bf16_options(m);
  o.engine.profile = test::bundled().resolve_engine("vllm@0.20");
  o.cache.kv_dtype = DType::fp8_e4m3;
  o.cache.state_dtype = DType::fp32;  // the checkpoint's mamba_ssm_dtype float32; conv windows in bf16
  o.cache.conv_dtype = DType::bf16;
  o.prefill_chunk = 16384;
  o.engine.max_num_seqs = 2;
  o.engine.prefix_caching = true;
  o.engine.speculative_method = "mtp";
  o.engine.num_speculative_tokens = 3;
  o.engine.draft = speculative_drafter(m, "mtp", std::nullopt);
  o.engine.kv_cache_memory_bytes = static_cast<int64_t>(6.56 * (1 << 30));
  const EnginePlan p = plan_engine(m, test::gpu("h200"), o, 131072);
  CHECK(p.block_size == 1600);
  CHECK(p.kv_cache_tokens == 49600);
  // Per request: 131,072 / 1,600 -> 82 attention blocks, and in each of the 3 state groups 2 blocks
  // ('align' mode) + 3 speculative = 5: 97 blocks. 126 blocks / 97 = 1.299 (the log's 1.30x).
  CHECK(p.blocks_per_request == 82 + 3 * 5);
  CHECK(p.max_concurrency == Approx(126.0 / 97).epsilon(1e-9));
  o.engine.speculative_method.clear();
  o.engine.num_speculative_tokens = 0;
  o.engine.draft.reset();
  CHECK(plan_engine(m, test::gpu("h200"), o, 131072).block_size == 1568);
}

TEST_CASE("engine: Model Runner V2 profiles the sampler's bf16 logits alone", "[engine]") {
  // Qwen2.5-0.5B (config.json: hidden 896, intermediate 4864, vocab 151,936) on an RTX 4090 under
  // vllm@0.26, 256 sampled rows. Runner V2's dummy batch registers no sampling parameters, so its
  // sampler holds the bf16 logits alone: 0.5 fp32 copies, 256 x 151,936 x 2 B = 77,791,232 B. The
  // forward pass: 2 copies x tokens x (2 x 896 + 2 x 4864) x 2 B = 46,080 B per token.
  const Model m = test::model("qwen2.5-0.5b");
  const auto peak = [&](int64_t tokens, const std::string& engine) {
    MemoryOptions o = test::bf16_options(m);
    o.engine.profile = test::bundled().resolve_engine(engine);
    o.engine.max_num_seqs = 256;
    o.prefill_chunk = tokens;
    return *plan_engine(m, test::gpu("rtx-4090"), o, 2048).activation_peak_bytes;
  };
  // 2048 tokens: the forward pass, 94,371,840 B = 0.088 GiB, outweighs the logits (the 0.27.1
  // log of tests/engines profiled 0.08 GiB); 8192 tokens: 377,487,360 B = 0.35 GiB (logged 0.31).
  CHECK(peak(2048, "vllm@0.26") == 94371840);
  CHECK(peak(8192, "vllm@0.26") == 377487360);
  const EngineProfile v2 = test::bundled().resolve_engine("vllm@0.26");
  MemoryOptions o = test::bf16_options(m);
  // At 256 tokens the forward pass (11,796,480 B) is below the logits, which set the peak.
  CHECK(activation_peak_bytes(m, o, v2, 256, 256, true) == 77791232);
  // The V1 runner (vllm@0.21 runs every model on it) keeps its 3.85 fp32 copies:
  // 3.85 x 256 x 151,936 x 4 B = 598,992,486.4 B, above the forward pass.
  CHECK(peak(2048, "vllm@0.21") == std::llround(3.85 * 256 * 151936 * 4.0));
  CHECK(activation_peak_bytes(m, o, v2, 256, 256, false) == std::llround(3.85 * 256 * 151936 * 4.0));
}

TEST_CASE("engine: vLLM 0.29 runs every model on Runner V2 but under ngram speculation", "[engine]") {
  // vLLM 0.29.0 made Runner V2 the default for all models (#53183, its release notes); ngram
  // speculation keeps the V1 runner. Mixtral-8x7B (MoE: hidden 4096, 8 experts of 14,336, top 2;
  // vocab 32,000) at max_num_seqs 256 and 256 batched tokens:
  // - forward pass: 2 copies x 256 x (2 x 4096 + 2 x 2 x 14,336 + 8) x 2 B = 67,117,056 B;
  // - fused-MoE workspace, held while the sampler runs: 256 rows x 2 x (28,672 + 14,336) x 2 B =
  //   44,040,192 B;
  // - sampler on V2: 0.5 fp32 copies, 256 x 32,000 x 2 B = 16,384,000 B; on V1 (vllm@0.28 for a MoE
  //   model, or 0.29 under ngram) 3.85 copies, 3.85 x 256 x 32,000 x 4 B = 126,156,800 B.
  // Peak = max(forward, sampler + workspace): V2 67,117,056 (the forward pass), V1 170,196,992.
  // Both runners deduct the graph estimate from 0.29.
  const Model m = test::model("mixtral-8x7b");
  const auto plan = [&](const std::string& engine, const std::string& speculative) {
    MemoryOptions o = test::bf16_options(m);
    o.engine.profile = test::bundled().resolve_engine(engine);
    o.engine.max_num_seqs = 256;
    o.engine.speculative_method = speculative;
    if (!speculative.empty()) o.engine.num_speculative_tokens = 2;
    o.prefill_chunk = 256;
    return plan_engine(m, test::gpu("h200"), o, 8192);
  };
  const EnginePlan v2 = plan("vllm@0.29", ""), v1 = plan("vllm@0.28", ""), ngram = plan("vllm@0.29", "ngram");
  CHECK(v2.runner_v2);
  CHECK_FALSE(v1.runner_v2);
  CHECK_FALSE(ngram.runner_v2);
  CHECK(*v2.activation_peak_bytes == 67117056);
  CHECK(*v1.activation_peak_bytes == 126156800 + 44040192);
  CHECK(*ngram.activation_peak_bytes == 126156800 + 44040192);
  // The graph estimate (the profiles' fit) under 256 batched tokens: 70 graphs (35 capture sizes,
  // each piecewise and full), with ngram's 2 tokens 66 (33 sizes rounded to multiples of 3),
  // each 2,794,180 + 32 x 170,164 = 8,239,428 B, + 395,470,469 B for MoE:
  //   70 x 8,239,428 + 395,470,469 = 972,230,429; 66 x 8,239,428 + 395,470,469 = 939,272,717.
  CHECK(v2.cuda_graph_bytes == 972230429);
  CHECK(ngram.cuda_graph_bytes == 939272717);
}

TEST_CASE("engine: vLLM 0.28 defaults: 16,384 batched tokens from 160 GiB, hybrids in 'align' mode", "[engine]") {
  // B200 (about 179 GiB as CUDA sees it): 8192 / 1024 in 0.21 (>= 70 GiB), 16,384 / 1024 in 0.28.
  // H200 (139.8 GiB) and A100 stay where they were.
  const auto defaults = [](const std::string& engine, const std::string& gpu) {
    return engine_defaults(test::bundled().resolve_engine(engine), test::gpu(gpu), 8192);
  };
  CHECK(defaults("vllm@0.21", "b200").max_num_batched_tokens == 8192);
  CHECK(defaults("vllm@0.28", "b200").max_num_batched_tokens == 16384);
  CHECK(defaults("vllm@0.28", "b200").max_num_seqs == 1024);
  CHECK(defaults("vllm@0.28", "h200").max_num_batched_tokens == 8192);
  CHECK(defaults("vllm@0.28", "a100-80gb").max_num_batched_tokens == 2048);
  // Qwen3-Next as above (40 GiB: 3212 blocks; 32,768 tokens: 61 attention blocks): from 0.28
  // prefix caching is on for hybrids by default, so each of the 3 state groups holds 2 blocks
  // (61 + 6 = 67) without --enable-prefix-caching; 0.26 holds 1 (61 + 3 = 64).
  const Model m = test::model("qwen3-next-80b-a3b");
  CHECK(plan_engine(m, test::gpu("h200"), engine_options(m, "vllm@0.26", 40 * kGiB), 32768).blocks_per_request == 64);
  CHECK(plan_engine(m, test::gpu("h200"), engine_options(m, "vllm@0.28", 40 * kGiB), 32768).blocks_per_request == 67);
  MemoryOptions off = engine_options(m, "vllm@0.28", 40 * kGiB);
  off.engine.prefix_caching = false;
  CHECK(plan_engine(m, test::gpu("h200"), off, 32768).blocks_per_request == 64);
  // An attention-free model (Mamba-2 2.7B: 64 state layers, one uniform group) keeps 1 state block.
  const Model mamba = test::model("mamba2-2.7b");
  CHECK(plan_engine(mamba, test::gpu("h200"), engine_options(mamba, "vllm@0.28", 40 * kGiB), 32768).blocks_per_request == 1);
}

TEST_CASE("engine: the start check counts padding layers from vLLM 0.18 and the null block from 0.29", "[engine]") {
  // Gemma 3 4B: 29 sliding (window 1024) + 5 full layers, 4 KV heads x 256 dims: a 16-token page
  // of one layer = 16 x 2 x 4 x 256 x 2 B = 65,536 B. Groups of 5: 6 sliding groups (30 slots,
  // one padding layer) + 1 full; a block id spans 5 pages = 327,680 B. At 131,072 tokens (0.21's
  // bound, 8192 batched tokens): full cdiv(131072, 16) = 8192 blocks, sliding
  // cdiv(min(1023 + 8192, 131072), 16) + 1 = 577.
  //   per layer (before #36030): (5 x 8192 + 29 x 577) x 65,536 = 57,693 x 65,536 = 3,780,968,448 B
  //   padded groups (0.18+):      (8192 + 6 x 577) x 327,680 = 11,654 x 327,680 = 3,818,782,720 B
  // A budget of 3.8e9 B passes the first and fails the second.
  const Model m = test::model("gemma-3-4b");
  const EnginePlan before = plan_engine(m, test::gpu("h100-sxm"), engine_options(m, "vllm@0.17", 3800000000), 131072);
  CHECK(before.group_size == 5);
  CHECK(before.groups.size() == 7);
  CHECK(before.starts);
  const EnginePlan padded = plan_engine(m, test::gpu("h100-sxm"), engine_options(m, "vllm@0.21", 3800000000), 131072);
  CHECK(padded.pool_block_bytes == 327680);
  CHECK_FALSE(padded.starts);
  CHECK(mul(blocks_for_request(padded, 131072), padded.pool_block_bytes) == 3818782720);
  // Llama 3.1 8B (2 MiB a block id): 131,072 tokens need 8192 blocks = 16 GiB exactly. 0.21 starts
  // with a 16 GiB budget; 0.29 keeps the null block out: 16 GiB - 2 MiB holds 8191 blocks, and the
  // longest length that fits is 8191 x 16 = 131,056 tokens.
  const Model llama = test::model("llama-3.1-8b");
  CHECK(plan_engine(llama, test::gpu("h100-sxm"), engine_options(llama, "vllm@0.21", 16 * kGiB), 131072).starts);
  const EnginePlan q = plan_engine(llama, test::gpu("h100-sxm"), engine_options(llama, "vllm@0.29", 16 * kGiB), 131072);
  CHECK_FALSE(q.starts);
  CHECK(q.estimated_max_model_len == 131056);
}

TEST_CASE("engine: pipeline stages split the layers as vLLM does; the fullest stage binds", "[engine]") {
  // 32 layers over 3 stages: 10 each, the 2 left over to the stages before the last: 11, 11, 10.
  // With the same 11 GiB on each, the 11-layer stages hold 11 GiB / (65,536 x 11) = 16,384 blocks.
  const Model m = test::model("llama-3.1-8b");
  MemoryOptions o = engine_options(m, "vllm@0.19", 11 * kGiB);
  o.engine.pipeline_parallel_size = 3;
  const EnginePlan p = plan_engine(m, test::gpu("h100-sxm"), o, 8192);
  CHECK(p.stages == 3);
  CHECK(p.stage == 0);
  CHECK(p.num_gpu_blocks == 16384);
  o.engine.pipeline_parallel_size = 33;
  CHECK_THROWS_WITH(plan_engine(m, test::gpu("h100-sxm"), o, 8192),
                    "pipeline parallel 33 exceeds the model's 32 layers");
}

TEST_CASE("engine: vLLM's memory plan subtracts weights, activations and non-torch memory", "[engine]") {
  // H100: the CUDA driver's total 85,029,158,912 B; requested = ceil(total x 0.95).
  const Model m = test::model("llama-3.1-8b");
  MemoryOptions o = test::bf16_options(m);
  o.engine.profile = test::bundled().resolve_engine("vllm@0.19");
  o.gpu_memory_utilization = 0.95;
  o.prefill_chunk = 8192;
  const EnginePlan p = plan_engine(m, test::gpu("h100-sxm"), o, 8192);
  CHECK(p.cuda_total_bytes == 85029158912);
  CHECK(p.requested_bytes == 80777700967);  // ceil(85,029,158,912 x 0.95) = ceil(80,777,700,966.4)
  CHECK(p.available_kv_cache_bytes ==
        p.requested_bytes - p.weights_bytes - *p.activation_peak_bytes - p.non_torch_bytes - p.cuda_graph_bytes);
  CHECK(p.cuda_graph_bytes == 0);  // 0.19 measures CUDA graphs but does not deduct them
  CHECK(p.non_torch_bytes == 268435456);
  // The activation peak: the larger of the sampler's 1024 rows x 128,256 vocab x 4 B x 3.85 and the
  // forward pass of 8192 tokens x (2 x 4096 + 2 x 14,336) elements x 2 B x 2 copies.
  const double sampler = 3.85 * 1024 * 128256 * 4.0;  // 2,022,545,817.6
  const double forward = 2.0 * 8192 * (2 * 4096 + 2 * 14336) * 2;  // 1,207,959,552
  CHECK(*p.activation_peak_bytes == static_cast<int64_t>(std::llround(std::max(sampler, forward))));
  // vLLM 0.21 also deducts its CUDA-graph estimate, unless eager: 102 graphs x (2,794,180 +
  // 32 layers x 170,164 B) = 840,421,656 B (0.78 GiB; the v0.19.0 log of this deployment estimated 0.84).
  o.engine.profile = test::bundled().resolve_engine("vllm@0.21");
  CHECK(plan_engine(m, test::gpu("h100-sxm"), o, 8192).cuda_graph_bytes == 840421656);
  o.engine.enforce_eager = true;
  CHECK(plan_engine(m, test::gpu("h100-sxm"), o, 8192).cuda_graph_bytes == 0);
}

TEST_CASE("engine: --dtype float32 doubles the weights, the forward pass and the KV pages", "[engine]") {
  // vLLM 0.19, Llama-3.1-8B on an H100, --dtype float32, utilization 0.95, max_model_len 8192
  // (tests/engines/vllm-llama-3.1-8b-h100-dtf32-0.19.0.yaml logs 29.98 GiB of weights, a 2.21 GiB
  // peak, 42.80 GiB and 175,296 tokens).
  const Model m = test::model("llama-3.1-8b");
  const ServingDTypes d = serving_dtypes(m, std::nullopt, std::nullopt, std::nullopt, DType::fp32);
  MemoryOptions o = test::bf16_options(m);
  o.model_dtype = DType::fp32;
  o.weights = d.weights;
  o.cache.kv_dtype = d.kv;
  o.engine.profile = test::bundled().resolve_engine("vllm@0.19");
  o.gpu_memory_utilization = 0.95;
  o.prefill_chunk = 8192;
  const EnginePlan p = plan_engine(m, test::gpu("h100-sxm"), o, 8192);
  // 8,030,261,248 parameters x 4 B, and the RoPE table 131,072 x 128 x 4 B = 67,108,864 B:
  // 32,188,153,856 B = 29.98 GiB.
  CHECK(p.weights_bytes == int64_t{8030261248} * 4 + 131072 * 128 * 4);
  // The forward pass now outweighs the sampler: 2 copies x 8192 tokens x (2 x 4096 + 2 x 14,336)
  // x 4 B = 2,415,919,104 B (2.25 GiB) > 3.85 x 1024 x 128,256 x 4 B = 2,022,545,817.6 B.
  CHECK(*p.activation_peak_bytes == int64_t{2} * 8192 * (2 * 4096 + 2 * 14336) * 4);
  // 80,777,700,967 requested - 32,188,153,856 - 2,415,919,104 - 268,435,456 non-torch
  // = 45,905,192,551 B (42.75 GiB); blocks of 16 tokens x 32 layers x 2 x 8 x 128 x 4 B = 4 MiB:
  // floor(45,905,192,551 / 4,194,304) = 10,944 blocks, 175,104 tokens (vLLM 10,956, 175,296).
  CHECK(p.available_kv_cache_bytes == 45905192551);
  CHECK(p.num_gpu_blocks == 10944);
  CHECK(p.kv_cache_tokens == 175104);
}

TEST_CASE("engine: the sampler's top-k/top-p path sets its share of vLLM's activation peak", "[engine]") {
  // Llama-3.1-8B on an H100 at vLLM's big-GPU defaults (8192 batched tokens, 1024 sequences): the
  // sampler's 1024 rows x 128,256 logits x 4 B = 525,336,576 B per copy outweigh the forward pass.
  const Model m = test::model("llama-3.1-8b");
  MemoryOptions o = test::bf16_options(m);
  o.gpu_memory_utilization = 0.9;
  auto peak = [&](const char* profile, std::optional<bool> flashinfer) {
    o.engine.profile = test::bundled().resolve_engine(profile);
    o.engine.flashinfer_sampler = flashinfer;
    return *plan_engine(m, test::gpu("h100-sxm"), o, 8192).activation_peak_bytes;
  };
  const double row = 1024.0 * 128256 * 4;
  // 0.11.1-0.16 run PyTorch's top-k/top-p, which sorts the vocabulary: 9.65 copies = 4.72 GiB (logs of
  // Llama-3.1-8B on H100s of that time: 4.76 GiB); FlashInfer's (VLLM_USE_FLASHINFER_SAMPLER=1) 3.85.
  CHECK(peak("vllm@0.14", std::nullopt) == std::llround(9.65 * row));
  CHECK(peak("vllm@0.14", false) == std::llround(9.65 * row));
  CHECK(peak("vllm@0.14", true) == std::llround(3.85 * row));
  CHECK(peak("vllm@0.10", true) == std::llround(3.85 * row));
  // From 0.17 a Triton kernel, no sort, with either setting: 1.88 GiB (the v0.19.0 log: 1.89).
  CHECK(peak("vllm@0.17", std::nullopt) == std::llround(3.85 * row));
  CHECK(peak("vllm@0.19", false) == std::llround(3.85 * row));
  CHECK(static_cast<double>(peak("vllm@0.19", std::nullopt)) / (1 << 30) == Approx(1.884).epsilon(1e-3));
}

TEST_CASE("engine: vLLM 0.14+ keeps the fused-MoE scratch while the sampler runs", "[engine]") {
  // Qwen3-30B-A3B (config.json: hidden 2048, 128 experts of intermediate 768, top-8, vocab
  // 151,936). The Triton fused-MoE kernel's scratch for 8192 tokens x top-8 rows: the gate/up
  // output max(2 x 768, 2048) = 2048 and the activation output max(768, 2048) = 2048 elements per
  // row, bf16: 8192 x 8 x 4096 x 2 B = 536,870,912 B.
  const Model m = test::model("qwen3-30b-a3b");
  MemoryOptions o = test::bf16_options(m);
  o.engine.profile = test::bundled().resolve_engine("vllm@0.19");
  o.prefill_chunk = 8192;
  CHECK(fused_moe_workspace_bytes(m, o, o.engine.profile, 8192) == 536870912);
  // The sampler's 1024 rows x 151,936 x 4 B x 3.85 = 2,395,969,945.6 B outweigh the forward pass
  // (2 copies x 8192 x (2 x 2048 + 8 x 2 x 768 + 128) x 2 B = 541,065,216), and the workspace
  // adds to them: 2,932,840,857.6 B = 2.73 GiB (the v0.19.0 H100 log of tests/engines profiled 2.68).
  const double sampler = 3.85 * 1024 * 151936 * 4.0;
  CHECK(activation_peak_bytes(m, o, o.engine.profile, 8192, 1024, false) == std::llround(sampler + 536870912));
  // 0.12-0.13 free it after each layer: the sampler's term alone, here with FlashInfer's top-k/top-p
  // (the profile's sampler_logits_copies_flashinfer, 3.85).
  o.engine.profile = test::bundled().resolve_engine("vllm@0.12");
  EngineProfile flashinfer = o.engine.profile;
  flashinfer.sampler_logits_copies = flashinfer.sampler_logits_copies_flashinfer;
  CHECK(flashinfer.sampler_logits_copies == 3.85);
  CHECK(activation_peak_bytes(m, o, flashinfer, 8192, 1024, false) == std::llround(sampler));
  // tp 2 splits each expert's intermediate (384), which leaves both widths at hidden 2048; 20,000
  // tokens run in chunks of 16,384: 16,384 x 8 x 4096 x 2 B.
  o.cache.tp = 2;
  CHECK(fused_moe_workspace_bytes(m, o, o.engine.profile, 20000) == int64_t{16384} * 8 * 4096 * 2);
  // Mixtral-8x7B at tp 2: intermediate 14,336 / 2 = 7168, top-2: rows of max(14,336, 4096) +
  // max(7168, 4096) = 21,504 elements; 8192 x 2 x 21,504 x 2 B = 704,643,072 B.
  const Model mixtral = test::model("mixtral-8x7b");
  MemoryOptions mo = test::bf16_options(mixtral);
  mo.cache.tp = 2;
  CHECK(fused_moe_workspace_bytes(mixtral, mo, o.engine.profile, 8192) == 704643072);
  // A dense model has none.
  const Model dense = test::model("llama-3.1-8b");
  CHECK(fused_moe_workspace_bytes(dense, test::bf16_options(dense), o.engine.profile, 8192) == 0);
}

TEST_CASE("engine: the loaded model holds each distinct RoPE table", "[engine]") {
  // vLLM's RotaryEmbedding keeps a [positions, rotary_dim] cos/sin table in the model dtype,
  // one per distinct configuration. Llama-3.1-8B: 131,072 x 128 x 2 B = 33,554,432 B.
  auto rope = [](const char* id) {
    const Model m = test::model(id);
    return rope_tables_bytes(m, activation_dtype(m));
  };
  CHECK(rope("llama-3.1-8b") == 33554432);
  // Gemma-3-4B: its sliding layers' local table (131,072 x 256) and its global layers' table,
  // scaled linearly by 8 (1,048,576 x 256): 1,179,648 x 256 x 2 B = 603,979,776 B (0.5625 GiB; the
  // v0.19.0 H100 log loads 8.58 GiB where the parameters are 8.01 GiB).
  CHECK(rope("gemma-3-4b") == 603979776);
  // SGLang builds Gemma 3's two tables (local and global bases) at max_position_embeddings rows,
  // without the linear x8: 2 x 131,072 x 256 x 2 B = 134,217,728 B (0.125 GiB; the 2025-03 H200 log
  // of SGLang PR #4826 loads 8.13 GiB where the parameters are 8.01 GiB).
  const Model gemma = test::model("gemma-3-4b");
  CHECK(rope_tables_bytes(gemma, activation_dtype(gemma), true) == 134217728);
  // The SGLang profiles name the family (rope_unscaled_families), so their plan's weights carry it.
  MemoryOptions sg = test::bf16_options(gemma);
  sg.engine.profile = test::bundled().resolve_engine("sglang@0.5.10");
  CHECK(plan_engine(gemma, test::gpu("h100-sxm"), sg, 8192).rope_tables_bytes == 134217728);
  sg.engine.profile = test::bundled().resolve_engine("vllm@0.19");
  CHECK(plan_engine(gemma, test::gpu("h100-sxm"), sg, 8192).rope_tables_bytes == 603979776);
  // Llama-4-Scout: max_position_embeddings 10,485,760 x 128 x 2 B = 2,684,354,560 B (2.5 GiB; the
  // tp 4 log loads 53.12 GiB where the parameters are 50.60 GiB per GPU).
  CHECK(rope("llama-4-scout") == 2684354560);
  // DeepSeek-V3's MLA: the decoupled RoPE part, 163,840 x 64 x 2 B = 20,971,520 B.
  CHECK(rope("deepseek-v3") == 20971520);
  // A pure Mamba model has none, nor a hybrid whose attention has no positional encoding (Jamba's
  // and Nemotron-H's: vLLM's jamba.py and nemotron_h.py build no rotary_emb).
  CHECK(rope("mamba2-2.7b") == 0);
  CHECK(rope("jamba-v0.1") == 0);
  CHECK(rope("nemotron-nano-9b-v2") == 0);
}

TEST_CASE("engine: vLLM pads mxfp4 experts for the Marlin kernel on GPUs without FP4 tensor cores", "[engine]") {
  // gpt-oss-120b (config.json: hidden 2880, 36 layers of 128 experts, intermediate 2880, gated,
  // with biases). mxfp4 packs a row of k inputs into k/2 bytes plus one e8m0 scale per 32; biases
  // are bf16. One whole expert: gate/up 5760 x (1440 + 90) = 8,812,800 B, down 2880 x 1530 =
  // 4,406,400 B, biases (5760 + 2880) x 2 = 17,280 B: 13,236,480 B. Padded to intermediate 2944
  // (a multiple of 128) and hidden 3072 (of 256): gate/up 5888 x (1536 + 96) = 9,609,216 B, down
  // 3072 x (1472 + 92) = 4,804,608 B, biases (5888 + 3072) x 2 = 17,920 B: 14,431,744 B.
  const Model m = test::model("gpt-oss-120b");
  MemoryOptions o = test::bf16_options(m);
  REQUIRE(o.weights.expert == DType::mxfp4);
  o.engine.profile = test::bundled().resolve_engine("vllm@0.10");
  const Gpu h100 = test::gpu("h100-sxm");
  const size_t L = m.layers.size();
  // tp 1: (14,431,744 - 13,236,480) x 128 x 36 = 1,195,264 x 4,608 = 5,507,776,512 B (5.13 GiB).
  CHECK(mxfp4_padding_bytes(m, o, o.engine.profile, h100, 0, L) == 5507776512);
  // The vLLM 0.10.1 H100 log loads 65.9651 GiB (tests/engines): the padded plan (parameters 60.78
  // GiB, the RoPE table 16 MiB and the padding) is held within 0.1 GiB of it (it is 0.05 below).
  const EnginePlan p = plan_engine(m, h100, o, 8192);
  CHECK(p.mxfp4_padding_bytes == 5507776512);
  CHECK(static_cast<double>(p.weights_bytes) / kGiB == Approx(65.9651).margin(0.1));
  // tp 4 (the 0.10.1.1 A100 tp 4 log loads 17.2217 GiB per GPU; the plan is held within 0.1 GiB, it
  // is 0.02 below): intermediate 720 per GPU, padded to
  // 768: gate/up 1536 x 1632 = 2,506,752 B, down 3072 x (384 + 24) = 1,253,376 B, biases (1536 +
  // 3072) x 2 = 9,216 B: 3,769,344 B against 13,236,480 / 4 = 3,309,120 B unpadded, 460,224 B more
  // per expert: x 4,608 = 2,120,712,192 B.
  o.cache.tp = 4;
  const Gpu a100 = test::gpu("a100-80gb");
  CHECK(mxfp4_padding_bytes(m, o, o.engine.profile, a100, 0, L) == 2120712192);
  CHECK(static_cast<double>(plan_engine(m, a100, o, 16384).weights_bytes) / kGiB == Approx(17.2217).margin(0.1));
  // Expert parallelism over 2 GPUs keeps 64 whole experts on each: 64 x 1,195,264 x 36.
  o.cache.tp = 1;
  o.parallel.dp = 2;
  o.parallel.ep = 2;
  CHECK(mxfp4_padding_bytes(m, o, o.engine.profile, h100, 0, L) == int64_t{64} * 1195264 * 36);
  // A GPU with FP4 tensor cores (the b200 preset states an nvfp4 peak) runs other kernels: no
  // Marlin padding; nor does a profile without the rule (SGLang), or a model without mxfp4 experts.
  o.parallel = {};
  CHECK(native_fp4(test::gpu("b200")));
  CHECK_FALSE(native_fp4(h100));
  CHECK(mxfp4_padding_bytes(m, o, o.engine.profile, test::gpu("b200"), 0, L) == 0);
  CHECK(mxfp4_padding_bytes(m, o, test::bundled().resolve_engine("sglang"), h100, 0, L) == 0);
  const Model mixtral = test::model("mixtral-8x7b");
  CHECK(mxfp4_padding_bytes(mixtral, test::bf16_options(mixtral), o.engine.profile, h100, 0, mixtral.layers.size()) == 0);
}

TEST_CASE("engine: SGLang 0.5.10 reserves 8 MiB per piecewise CUDA-graph size", "[engine]") {
  const EngineProfile v10 = test::bundled().resolve_engine("sglang@0.5.10");
  const EngineProfile v08 = test::bundled().resolve_engine("sglang@0.5.8");
  REQUIRE(v10.reserve);
  // The capture sizes: 4..32 by 4 (8), 48..256 by 16 (14), 288..512 by 32 (8), 576..1024 by 64 (8),
  // 1280..4096 by 256 (12), then by 512: to 2048 8 + 14 + 8 + 8 + 4 = 42; to 4096 50; to 8192
  // 50 + 8 = 58; to 16384 50 + 24 = 74 (the 74 sizes the 2026-04-27 SGLang log captures).
  CHECK(piecewise_graph_sizes(*v10.reserve, 2048) == 42);
  CHECK(piecewise_graph_sizes(*v10.reserve, 4096) == 50);
  CHECK(piecewise_graph_sizes(*v10.reserve, 8192) == 58);
  CHECK(piecewise_graph_sizes(*v10.reserve, 16384) == 74);
  // Limits inside a run: 40 takes the first run only (8); 3000 the first four (38) and 1280..2816 (7).
  CHECK(piecewise_graph_sizes(*v10.reserve, 40) == 8);
  CHECK(piecewise_graph_sizes(*v10.reserve, 3000) == 45);
  const Gpu h100 = test::gpu("h100-sxm"), h200 = test::gpu("h200"), b200 = test::gpu("b200");
  const Model llama = test::model("llama-3.1-8b"), qwen = test::model("qwen3-8b");
  // H100 (81,559 MiB, chunked prefill 8192, graph batch 256): 13,440 + 8 x 58 = 13,904;
  // (81,559 - 13,904) / 81,559 = 0.8295 -> 0.830; 0.5.8 without the term: 0.835.
  CHECK(sglang_fraction(v10, h100, llama) == Approx(0.830));
  CHECK(sglang_fraction(v08, h100, llama) == Approx(0.835));
  // B200 (183,359 MiB, 16,384 / 512): 512 + 24,576 + 1024 + 128 + 8 x 74 = 26,832;
  // (183,359 - 26,832) / 183,359 = 0.8537 -> 0.854 (the fraction the 2026-04-27 Qwen3-8B log implies).
  CHECK(sglang_fraction(v10, b200, qwen) == Approx(0.854));
  // MLA: a flat 1,536 MiB. DeepSeek-V3 on 8 H200s (graph batch 512 at tp >= 4): 512 + 12,288 + 1024 +
  // 1024 + 1536 = 16,384; (143,771 - 16,384) / 143,771 = 0.8860 -> 0.886 (0.5.8: 14,848 -> 0.897).
  const Model dsv3 = test::model("deepseek-v3");
  CHECK(sglang_fraction(v10, h200, dsv3, 8) == Approx(0.886));
  CHECK(sglang_fraction(v08, h200, dsv3, 8) == Approx(0.897));
  // None where SGLang turns piecewise graphs off: a multimodal model, pp > 1, the listed families.
  // (The multimodal model's 0.835 then takes its vision factor, 0.8965625: the test below.)
  CHECK(sglang_fraction(v10, h100, test::model("qwen2.5-vl-7b")) == Approx(0.835 * 0.8965625));
  CHECK(sglang_fraction(v10, h100, llama, 2, 2) == sglang_fraction(v08, h100, llama, 2, 2));
  const Model next = test::model("qwen3-next-80b-a3b");
  CHECK(sglang_fraction(v10, h200, next) == sglang_fraction(v08, h200, next));
  // --disable-piecewise-cuda-graph: none either.
  CHECK(engine_defaults(v10, h100, 8192, 1, &llama, 1, true).gpu_memory_utilization == Approx(0.835));
  // Without a model (the caller does not know it) the term is left out.
  CHECK(engine_defaults(v10, h100, 8192, 1).gpu_memory_utilization == Approx(0.835));
}

TEST_CASE("engine: SGLang lowers its default mem_fraction_static for a vision model by its ViT's size", "[engine]") {
  // server_args.py adjust_mem_fraction_for_vlm (PR #6881; arg_groups/memory_hook.py from PR
  // #37567): fraction x 0.95 x clamp(1 - 0.1 x (L x H^2 / (24 x 1024^2) - 1), 0.8, 1.05), L and H
  // the vision_config's num_hidden_layers and hidden_size, 24 and 1024 where it lacks the key.
  const Gpu h100 = test::gpu("h100-sxm");  // nvidia-smi 81,559 MiB
  const EngineProfile v19 = test::bundled().resolve_engine("sglang@0.5.19");
  const auto fraction = [&](const Model& m, std::optional<bool> enable_multimodal = std::nullopt) {
    return engine_defaults(v19, h100, 8192, 1, &m, 1, false, "", enable_multimodal).gpu_memory_utilization;
  };
  // A model served multimodal has no piecewise-graph term: 512 + 1.5 x 8192 + 2 x 256 + 128 =
  // 13,440 MiB; (81,559 - 13,440) / 81,559 = 0.8352 -> 0.835 before the vision factor.
  // Gemma-3-27B, SigLIP 27 x 1152: 27 x 1152^2 / (24 x 1024^2) = 35,831,808 / 25,165,824 = 1.423828;
  // 1 - 0.1 x 0.423828 = 0.957617; x 0.95 = 0.909736; x 0.835 = 0.759630 with --enable-multimodal.
  // Without it SGLang serves Gemma 3 text-only (mm_disabled_models): no vision factor, and the
  // piecewise graphs' 58 x 8 = 464 MiB: (81,559 - 13,904) / 81,559 = 0.8295 -> 0.830.
  const Model gemma = test::model("gemma-3-27b");
  CHECK(multimodal_fraction_factor(v19, gemma) == Approx(0.95 * (1 - 0.1 * (35831808.0 / 25165824 - 1))));
  CHECK(fraction(gemma, true) == Approx(0.759630).epsilon(1e-6));
  CHECK(fraction(gemma) == Approx(0.830));
  CHECK_FALSE(serves_multimodal(gemma, v19, std::nullopt));
  CHECK(serves_multimodal(gemma, v19, true));
  // Llama-4-Scout, 34 x 1408: 67,403,776 / 25,165,824 = 2.678385; 1 - 0.1678385 = 0.8321615; x 0.95 = 0.7905534.
  CHECK(multimodal_fraction_factor(v19, test::model("llama-4-scout")) == Approx(0.7905534).epsilon(1e-6));
  // Qwen2.5-VL-7B's vision_config names its depth 'depth': L = 24, H = 1280: 1280^2 / 1024^2 = 1.5625;
  // 1 - 0.05625 = 0.94375; x 0.95 = 0.8965625.
  const Model qwen_vl = test::model("qwen2.5-vl-7b");
  CHECK(multimodal_fraction_factor(v19, qwen_vl) == Approx(0.8965625));
  // SGLang's docs build logged mem_fraction_static=0.7486296874999999 for Qwen2.5-VL-3B (the same
  // vision_config keys) on 2025-12-20 (sgl-project.github.io advanced_features/vlm_query.ipynb):
  // 0.835 x 0.8965625 = 0.74862969, the H100's base fraction.
  CHECK(fraction(qwen_vl) == Approx(0.7486296874999999).epsilon(1e-12));
  CHECK(fraction(qwen_vl, false) == Approx(0.830));  // served text-only: as a text model
  // The clamp: 64 x 2048 is 10.67 x the baseline (1 - 0.967 -> 0.8): 0.76; 12 x 768 is 0.28 x
  // (1 + 0.072 -> 1.05): 0.9975.
  Model big = qwen_vl, small = qwen_vl;
  big.vision_config = Model::VisionConfig{64, 2048};
  small.vision_config = Model::VisionConfig{12, 768};
  CHECK(multimodal_fraction_factor(v19, big) == Approx(0.76));
  CHECK(multimodal_fraction_factor(v19, small) == Approx(0.9975));
  // No vision_config (SGLang returns early), a text model, a vLLM profile: no factor.
  Model towers_only = qwen_vl;
  towers_only.vision_config.reset();
  CHECK(multimodal_fraction_factor(v19, towers_only) == 1.0);
  CHECK(fraction(towers_only) == Approx(0.835));
  CHECK(multimodal_fraction_factor(v19, test::model("llama-3.1-8b")) == 1.0);
  CHECK(multimodal_fraction_factor(test::bundled().resolve_engine("vllm"), gemma) == 1.0);
}

TEST_CASE("engine: SGLang serves Gemma 3 and Llama 4 text-only unless asked, and scaled an old multimodal fraction",
          "[engine]") {
  const Gpu h100 = test::gpu("h100-sxm");  // CUDA total 79.19 GiB (cuda_total_bytes)
  const auto plan = [&](const Model& m, const std::string& engine, double fraction, std::optional<bool> mm) {
    MemoryOptions o = engine_options(m, engine, 0);
    o.engine.kv_cache_memory_bytes.reset();
    o.engine.enable_multimodal = mm;
    o.gpu_memory_utilization = fraction;
    return plan_engine(m, h100, o, 8192);
  };
  // Llama-4-Scout's towers (vision 850,960,896 and projector 5120 x 4096 = 20,971,520: 871,932,416
  // params) are 871,932,416 x 2 B = 1,743,864,832 B; at tp 1 the text-only plan leaves
  // them out (models/mllama4.py creates no vision model without enable_multimodal), the
  // multimodal plan loads them and keeps the 100 MiB multimodal cache.
  const Model scout = test::model("llama-4-scout");
  const EnginePlan text = plan(scout, "sglang@0.5.19", 0.9, std::nullopt);
  const EnginePlan mm = plan(scout, "sglang@0.5.19", 0.9, true);
  CHECK(mm.weights_bytes - text.weights_bytes == 1743864832);
  CHECK(text.available_kv_cache_bytes == text.requested_bytes - text.weights_bytes);
  CHECK(mm.available_kv_cache_bytes == mm.requested_bytes - mm.weights_bytes - 104857600);
  // Gemma 3 text-only still loads its SigLIP tower (models/gemma3_mm.py), without the 100 MiB.
  const Model gemma = test::model("gemma-3-27b");
  const EnginePlan g_text = plan(gemma, "sglang@0.5.19", 0.9, std::nullopt);
  const EnginePlan g_mm = plan(gemma, "sglang@0.5.19", 0.9, true);
  CHECK(g_text.weights_bytes == g_mm.weights_bytes);
  CHECK(g_text.available_kv_cache_bytes - g_mm.available_kv_cache_bytes == 104857600);
  // vLLM has no such rule: Llama 4's towers load.
  CHECK(plan(scout, "vllm@0.19", 0.9, std::nullopt).weights_bytes == mm.weights_bytes);
  // Before v0.4.9.post3 the model runner scaled a multimodal model's fraction, the user's too:
  // x 0.95 (sglang@0.4), x 0.90 (0.4.5). Free before loading 79.19 GiB - 0.38 GiB (non_torch_bytes
  // 408,021,893): requested = floor(free x 0.8 x scale).
  const Model qwen_vl = test::model("qwen2.5-vl-7b");
  const double free_before = static_cast<double>(cuda_total_bytes(h100) - 408021893);
  CHECK(plan(qwen_vl, "sglang@0.4", 0.8, std::nullopt).requested_bytes ==
        static_cast<int64_t>(std::floor(free_before * 0.8 * 0.95)));
  CHECK(plan(qwen_vl, "sglang@0.4.5", 0.8, std::nullopt).requested_bytes ==
        static_cast<int64_t>(std::floor(free_before * 0.8 * 0.90)));
  CHECK(plan(test::model("qwen2.5-7b"), "sglang@0.4", 0.8, std::nullopt).requested_bytes ==
        static_cast<int64_t>(std::floor(free_before * 0.8)));
}

TEST_CASE("engine: SGLang's pool and its default mem_fraction_static", "[engine]") {
  const Gpu h100 = test::gpu("h100-sxm");  // nvidia-smi 81,559 MiB
  const Gpu h200 = test::gpu("h200");      // nvidia-smi 143,771 MiB
  const EngineProfile v05 = test::bundled().resolve_engine("sglang@0.5");
  // reserved = 512 + 1.5 x max(chunked_prefill 8192, 2048) + 2 x cuda_graph_max_bs + 128 x tp x pp MiB
  // (at least 10,240 MiB above 60 GiB): H100 tp 1: 512 + 12,288 + 512 + 128 = 13,440;
  // (81,559 - 13,440) / 81,559 = 0.8352 -> 0.835.
  CHECK(engine_defaults(v05, h100, 8192, 1).gpu_memory_utilization == Approx(0.835));
  CHECK(engine_defaults(v05, h100, 8192, 1).max_num_batched_tokens == 8192);
  // tp 4: cuda_graph_max_bs 512: 512 + 12,288 + 1024 + 512 = 14,336 -> 0.8242 -> 0.824.
  CHECK(engine_defaults(v05, h100, 8192, 4).gpu_memory_utilization == Approx(0.824));
  // H200: (143,771 - 13,440) / 143,771 = 0.9065 -> 0.907.
  CHECK(engine_defaults(v05, h200, 8192, 1).gpu_memory_utilization == Approx(0.907));
  // 0.4: a table by GPUs: tp 4 -> 0.85, tp 8 -> 0.81.
  const EngineProfile v04 = test::bundled().resolve_engine("sglang@0.4");
  CHECK(engine_defaults(v04, h100, 8192, 4).gpu_memory_utilization == 0.85);
  CHECK(engine_defaults(v04, h100, 8192, 8).gpu_memory_utilization == 0.81);
  // The pool: 0.88 x (85,029,158,912 - 408,021,893 B free before loading) = 74,466,600,576 B, less
  // the weights (16,060,522,496 B of parameters + the RoPE table, 131,072 positions x 128 x 2 B =
  // 33,554,432 B: 16,094,076,928 B) = 58,372,523,648 B; / 131,072 B per token = 445,347 tokens.
  const Model m = test::model("llama-3.1-8b");
  MemoryOptions o = test::bf16_options(m);
  o.engine.profile = v04;
  o.gpu_memory_utilization = 0.88;
  const EnginePlan p = plan_engine(m, h100, o, 131072);
  CHECK(p.rope_tables_bytes == 33554432);
  CHECK(p.weights_bytes == 16094076928);
  CHECK(p.available_kv_cache_bytes == 58372523648);
  CHECK(p.kv_cache_tokens == 445347);
  CHECK(p.starts);  // SGLang starts with any positive pool, even below one context
  CHECK_FALSE(p.activation_peak_bytes.has_value());
}

TEST_CASE("engine: SGLang's ranks under tp > 1 on NVSwitch GPUs hold NCCL's init memory outside the pool", "[engine]") {
  // SGLang's total is the least free memory of the ranks after distributed init; on NVSwitch GPUs
  // NCCL's NVLink SHARP buffers take 2.01 GiB there (the median logged 'Init torch distributed ends.
  // mem usage=' growth): 408,021,893 + 2.01 x 2^30 (2,158,221,066) = 2,566,242,959 B before loading.
  const Model m = test::model("llama-3.1-8b");
  MemoryOptions o = test::bf16_options(m);
  o.engine.profile = test::bundled().resolve_engine("sglang@0.4");
  o.gpu_memory_utilization = 0.88;
  o.cache.tp = 2;
  const EnginePlan h100 = plan_engine(m, test::gpu("h100-sxm"), o, 131072);
  CHECK(h100.non_torch_bytes == 2566242959);
  // The same plan with the one-GPU figure: the pool differs by 0.88 x 2,158,221,066 =
  // 1,899,234,538.08 B (one byte either way for the rounding of each pool).
  MemoryOptions one = o;
  one.engine.profile.non_torch_bytes_tensor_parallel = one.engine.profile.non_torch_bytes;
  const EnginePlan without = plan_engine(m, test::gpu("h100-sxm"), one, 131072);
  CHECK(without.non_torch_bytes == 408021893);
  CHECK(std::llabs(without.available_kv_cache_bytes - h100.available_kv_cache_bytes - 1899234538) <= 1);
  // tp 1, or a PCIe GPU at tp 2 (the L4: no NVSwitch), keeps 0.38 GiB.
  o.cache.tp = 1;
  CHECK(plan_engine(m, test::gpu("h100-sxm"), o, 131072).non_torch_bytes == 408021893);
  o.cache.tp = 2;
  CHECK(plan_engine(m, test::gpu("l4"), o, 8192).non_torch_bytes == 408021893);
}

TEST_CASE("engine: SGLang 0.5.8+ keeps gpt-oss's and Llama 4's windowed layers in a pool of their own", "[engine]") {
  // gpt-oss-20b: 24 layers, alternately sliding (128) and full, 8 KV heads x 64 x 2 (K, V) x 2 B =
  // 2,048 B per token and layer: F = S = 12 x 2,048 = 24,576 B. A 40 GiB budget = 42,949,672,960 B
  // holds floor(42,949,672,960 / 49,152) = 873,813 cells with every layer at full length; SGLang
  // shares them out with swa = 0.8 x full: full = floor(873,813 x 49,152 / (24,576 + 0.8 x 24,576))
  // = floor(970,903.3) = 970,903 tokens, swa = floor(0.8 x 970,903) = 776,722
  // (970,903 x 24,576 + 776,722 x 24,576 = 42,949,632,000 B, within the budget).
  const Model oss = test::model("gpt-oss-20b");
  MemoryOptions o = engine_options(oss, "sglang@0.5.8", 40 * kGiB);
  const Gpu h100 = test::gpu("h100-sxm");
  EnginePlan p = plan_engine(oss, h100, o, 8192);
  CHECK(p.kv_cache_tokens == 970903);
  CHECK(p.swa_pool_tokens == 776722);
  // With pages of 64 tokens every count is rounded down to whole pages: 873,813 -> 873,792 cells.
  // Exactly, 873,792 x 2 / 1.8 = 970,880, but in floating point (as SGLang divides, 873,792 x 24 /
  // 21.6) it is 970,879.9999999999: truncated to 970,879, then 970,816 (15,169 pages);
  // swa = int(0.8 x 970,816 = 776,652.8) = 776,652, then 776,640 (12,135 pages).
  o.engine.block_size = 64;
  p = plan_engine(oss, h100, o, 8192);
  CHECK(p.kv_cache_tokens == 970816);
  CHECK(p.swa_pool_tokens == 776640);
  // Before 0.5.8 no model had the pool by default: every layer at full length.
  o = engine_options(oss, "sglang@0.5", 40 * kGiB);
  p = plan_engine(oss, h100, o, 8192);
  CHECK(p.kv_cache_tokens == 873813);
  CHECK(p.swa_pool_tokens == 0);
  // Llama-4-Scout at tp 4: 48 layers, every fourth full and the rest chunked (8,192), 2 KV heads
  // per GPU x 128 x 2 x 2 B = 1,024 B per token and layer: F = 12,288, S = 36,864. 10 GiB:
  // floor(10,737,418,240 / 49,152) = 218,453 cells; full = floor(218,453 x 49,152 / (12,288 + 0.8 x
  // 36,864)) = floor(218,453 x 20 / 17) = floor(257,003.5) = 257,003; swa = floor(205,602.4) = 205,602.
  const Model scout = test::model("llama-4-scout");
  o = engine_options(scout, "sglang@0.5.8", 10 * kGiB);
  o.cache.tp = 4;
  p = plan_engine(scout, h100, o, 8192);
  CHECK(p.kv_cache_tokens == 257003);
  CHECK(p.swa_pool_tokens == 205602);
  // Families not listed keep one pool, windows or not (Gemma 3: forced off in SGLang).
  const Model gemma = test::model("gemma-3-27b");
  CHECK(plan_engine(gemma, h100, engine_options(gemma, "sglang@0.5.8", 10 * kGiB), 8192).swa_pool_tokens == 0);
}

TEST_CASE("engine: SGLang splits a hybrid's budget between its state pool and its KV pool", "[engine]") {
  // Qwen3-Next-80B-A3B at tp 2: 36 Gated DeltaNet layers, each request's states per GPU = the
  // recurrent state 32 / 2 value heads x 128 x 128 in fp32 (--mamba-ssm-dtype default) = 1,048,576 B
  // + the conv window (2 x 16 x 128 + 32 x 128) / 2 = 4096 channels x 3 taps x 2 B (bf16) =
  // 24,576 B; x 36 = 38,633,472 B.
  const Model m = test::model("qwen3-next-80b-a3b");
  MemoryOptions o = engine_options(m, "sglang@0.5", 40 * kGiB);
  o.cache.tp = 2;
  const EnginePlan p = plan_engine(m, test::gpu("h200"), o, 8192);
  CHECK(p.state_page_bytes == 38633472);
  // mamba_full_memory_ratio 0.9: floor(42,949,672,960 x 0.9 / 1.9 / 38,633,472) = 526 slots;
  // 526 / 3 = 175 running requests with the radix cache on.
  CHECK(p.state_slots == 526);
  CHECK(p.state_request_cap == 175);
  // --disable-radix-cache: the same split, one slot per running request (526 of them).
  MemoryOptions off = o;
  off.engine.prefix_caching = false;
  const EnginePlan q = plan_engine(m, test::gpu("h200"), off, 8192);
  CHECK(q.state_slots == 526);
  CHECK(q.state_request_cap == 526);
  CHECK(q.kv_cache_tokens == p.kv_cache_tokens);
  // The rest, 42,949,672,960 - 526 x 38,633,472 = 22,628,466,688 B, holds tokens of the 12
  // attention layers: 2 KV heads / 2 x 256 x (K + V) x 2 B x 12 = 12,288 B: 1,841,509 tokens.
  CHECK(p.kv_cache_tokens == 1841509);
  // --max-mamba-cache-size 300: 300 slots whatever the budget, 300 / 3 = 100 requests; the rest,
  // 42,949,672,960 - 300 x 38,633,472 = 31,359,631,360 B, holds 31,359,631,360 / 12,288 =
  // 2,552,053 tokens (2,552,053.33 rounded down).
  MemoryOptions given = o;
  given.engine.max_mamba_cache_size = 300;
  const EnginePlan g = plan_engine(m, test::gpu("h200"), given, 8192);
  CHECK(g.state_slots == 300);
  CHECK(g.state_request_cap == 100);
  CHECK(g.kv_cache_tokens == 2552053);
  // Radix cache off with --max-running-requests 64: 64 slots, one per request; 42,949,672,960 -
  // 64 x 38,633,472 = 40,477,130,752 B / 12,288 = 3,294,037 tokens (3,294,037.33).
  MemoryOptions capped = off;
  capped.engine.max_num_seqs = 64;
  const EnginePlan c = plan_engine(m, test::gpu("h200"), capped, 8192);
  CHECK(c.state_slots == 64);
  CHECK(c.state_request_cap == 64);
  CHECK(c.kv_cache_tokens == 3294037);
  // More states than the budget holds: no KV pool left, so the engine does not start.
  given.engine.max_mamba_cache_size = 1112;  // 1112 x 38,633,472 = 42,960,420,864 B > 42,949,672,960
  const EnginePlan none = plan_engine(m, test::gpu("h200"), given, 8192);
  CHECK(none.kv_cache_tokens == 0);
  CHECK_FALSE(none.starts);
  // The state pool caps the batch: 175 requests of 1000 tokens, though the tokens hold 1,841.
  MemoryPlan mp;
  apply_engine(mp, p, 200, 1000);
  CHECK(mp.max_batch == 175);
  CHECK_FALSE(mp.fits);
  // SGLang 0.5.18 keeps one state as padding: floor((42,949,672,960 x 0.9 / 1.9 - 38,633,472) /
  // 38,633,472) = floor(525.6) = 525 slots, and takes 526 states' bytes, so the KV pool is as
  // above (1,841,509 tokens). Qwen3-Next's radix cache takes the 'extra_buffer' strategy there: 5
  // slots a request, 525 / 5 = 105 requests; without the radix cache, 525.
  MemoryOptions o18 = o;
  o18.engine.profile = test::bundled().resolve_engine("sglang@0.5.18");
  const EnginePlan p18 = plan_engine(m, test::gpu("h200"), o18, 8192);
  CHECK(p18.state_slots == 525);
  CHECK(p18.state_request_cap == 105);
  CHECK(p18.kv_cache_tokens == 1841509);
  MemoryOptions off18 = o18;
  off18.engine.prefix_caching = false;
  CHECK(plan_engine(m, test::gpu("h200"), off18, 8192).state_request_cap == 525);
  // Kimi-Linear is an extra-buffer family too (the v0.5.18 tag's _MAMBA_EXTRA_BUFFER_ARCHS, from PR
  // #31474): 5 slots a request; Jamba keeps 3.
  const Model kimi = test::model("kimi-linear-48b-a3b");
  const EnginePlan k = plan_engine(kimi, test::gpu("h200"), engine_options(kimi, "sglang@0.5.18", 40 * kGiB), 8192);
  REQUIRE(k.state_slots > 0);
  CHECK(k.state_request_cap == k.state_slots / 5);
  const Model jamba = test::model("jamba-1.5-mini");
  const EnginePlan j = plan_engine(jamba, test::gpu("h200"), engine_options(jamba, "sglang@0.5.18", 40 * kGiB), 8192);
  REQUIRE(j.state_slots > 0);
  CHECK(j.state_request_cap == j.state_slots / 3);
}

TEST_CASE("engine: SGLang 0.5.18's state pool as its log of a Qwen3.5-27B-shaped model shows it", "[engine]") {
  // tests/engines/sglang-qwen3.8-27b-fp8-h100-tp1-mfs085-mrr32-0.5.18.yaml: "max_mamba_cache_size:
  // 124, ... ssm_state size: 17.58GB", "#tokens: 330323", "max_running_requests is capped to 24".
  // One request's states: 48 GDN layers x (48 x 128 x 128 x 4 B + 3 x 10,240 x 2 B) = 153,944,064 B;
  // a KV token: 16 layers x 4 KV heads x 256 x 2 (K, V) x 2 B = 65,536 B. The log's own budget after
  // the weights: the KV pool plus the 124 + 1 padding states it allocates,
  // 330,323 x 65,536 + 125 x 153,944,064 = 21,648,048,128 + 19,243,008,000 = 40,891,056,128 B.
  // Slots: floor((40,891,056,128 x 0.9 / 1.9 - 153,944,064) / 153,944,064) = floor(124.82) = 124;
  // the KV pool keeps 40,891,056,128 - 125 x 153,944,064 = 21,648,048,128 B = 330,323 tokens;
  // Qwen3.5 holds 5 slots a request ('extra_buffer'): 124 / 5 = 24 requests.
  const Model m = test::model("qwen3.5-27b");
  MemoryOptions o = engine_options(m, "sglang@0.5.18", 40891056128);
  o.cache.state_dtype = DType::fp32;  // --mamba-ssm-dtype's default float32; conv windows in bf16
  o.cache.conv_dtype = DType::bf16;
  const EnginePlan p = plan_engine(m, test::gpu("h100-sxm"), o, 8192);
  CHECK(p.state_page_bytes == 153944064);
  CHECK(p.state_slots == 124);
  CHECK(p.state_request_cap == 24);
  CHECK(p.kv_cache_tokens == 330323);
  // From its own profile, a multimodal model's budget also keeps SGLANG_VLM_CACHE_SIZE_MB (100 MiB)
  // for the multimodal cache: requested - weights - 104,857,600 B. A text model keeps none.
  o.engine.kv_cache_memory_bytes.reset();
  const EnginePlan own = plan_engine(m, test::gpu("h100-sxm"), o, 8192);
  CHECK(own.available_kv_cache_bytes == own.requested_bytes - own.weights_bytes - 104857600);
  const Model text = test::model("qwen3-8b");
  MemoryOptions t = engine_options(text, "sglang@0.5.18", 0);
  t.engine.kv_cache_memory_bytes.reset();
  const EnginePlan tp = plan_engine(text, test::gpu("h100-sxm"), t, 8192);
  CHECK(tp.available_kv_cache_bytes == tp.requested_bytes - tp.weights_bytes);
}

TEST_CASE("engine: SGLang 0.5.18 reserves the prefill graphs for every text model, 0.5.19 for 20-35 GiB GPUs anew",
          "[engine]") {
  const EngineProfile v10 = test::bundled().resolve_engine("sglang@0.5.10");
  const EngineProfile v18 = test::bundled().resolve_engine("sglang@0.5.18");
  const EngineProfile v19 = test::bundled().resolve_engine("sglang@0.5.19");
  const Gpu h100 = test::gpu("h100-sxm"), h200 = test::gpu("h200"), l4 = test::gpu("l4");
  // Qwen3-Next on one H200 (143,771 MiB; chunked prefill 8192, graph batch 256): 512 + 12,288 + 512
  // + 128 = 13,440 MiB; 0.5.10 leaves its piecewise graphs off, (143,771 - 13,440) / 143,771 =
  // 0.9065 -> 0.907; 0.5.18's breakable graphs add 8 x 58 = 464: 13,904 -> 0.9033 -> 0.903.
  const Model next = test::model("qwen3-next-80b-a3b");
  CHECK(sglang_fraction(v10, h200, next) == Approx(0.907));
  CHECK(sglang_fraction(v18, h200, next) == Approx(0.903));
  // Two stages of two GPUs on H100s (81,559 MiB; 4 GPUs, graph batch 256 at tp 2): 512 + 12,288 +
  // 512 + 128 x 4 = 13,824, below the 10,240 floor's reach; 0.5.18 adds 464 under pipeline
  // parallelism too: 14,288 -> (81,559 - 14,288) / 81,559 = 0.8248 -> 0.825 (0.5.10: 0.8305 -> 0.831).
  const Model llama = test::model("llama-3.1-8b");
  CHECK(sglang_fraction(v10, h100, llama, 4, 2) == Approx(0.831));
  CHECK(sglang_fraction(v18, h100, llama, 4, 2) == Approx(0.825));
  // Multimodal models keep them off: as 0.5.10.
  CHECK(sglang_fraction(v18, h100, test::model("qwen2.5-vl-7b")) == sglang_fraction(v10, h100, test::model("qwen2.5-vl-7b")));
  // An L4 (23,034 MiB, below the 60 GiB floor's reach). 0.5.18: chunked prefill 2048, graph batch 24:
  // 512 + 3072 + 48 + 128 + 8 x 42 = 4,096 -> (23,034 - 4,096) / 23,034 = 0.8222 -> 0.822. 0.5.19:
  // 4096 and 48: 512 + 6,144 + 96 + 128 + 8 x 50 = 7,280 -> 0.6839 -> 0.684.
  CHECK(sglang_fraction(v18, l4, llama) == Approx(0.822));
  CHECK(sglang_fraction(v19, l4, llama) == Approx(0.684));
  CHECK(engine_defaults(v19, l4, 8192, 1, &llama).max_num_batched_tokens == 4096);
  CHECK(engine_defaults(v18, l4, 8192, 1, &llama).max_num_batched_tokens == 2048);
}

TEST_CASE("engine: SGLang 0.5.21 leaves the prefill graphs out under pipeline parallelism and for Kimi-Linear",
          "[engine]") {
  const EngineProfile v19 = test::bundled().resolve_engine("sglang@0.5.19");
  const EngineProfile v21 = test::bundled().resolve_engine("sglang@0.5.21");
  const Gpu h100 = test::gpu("h100-sxm"), h200 = test::gpu("h200"), l4 = test::gpu("l4");
  // Llama-3.1-8B in two stages of two H100s (81,559 MiB): 512 + 12,288 + 512 + 128 x 4 = 13,824 MiB
  // without the breakable graphs (opt-in under pp, PR #36248): (81,559 - 13,824) / 81,559 = 0.8305
  // -> 0.831; 0.5.19 adds 8 x 58 = 464: 14,288 -> 0.8248 -> 0.825.
  const Model llama = test::model("llama-3.1-8b");
  CHECK(sglang_fraction(v19, h100, llama, 4, 2) == Approx(0.825));
  CHECK(sglang_fraction(v21, h100, llama, 4, 2) == Approx(0.831));
  // One stage: as 0.5.19 (the L4 of the test above: 0.684).
  CHECK(sglang_fraction(v21, l4, llama) == Approx(0.684));
  // Kimi-Linear (MLA and KDA) on one H200 (143,771 MiB; chunks of 8192, graph batch 256):
  // 512 + 12,288 + 512 + 128 = 13,440 MiB; 0.5.19 adds the flat MLA 1,536: 14,976 ->
  // (143,771 - 14,976) / 143,771 = 0.8958 -> 0.896; 0.5.21 keeps KDA models' prefill graphs off:
  // 13,440 -> 0.9065 -> 0.907.
  const Model kimi = test::model("kimi-linear-48b-a3b");
  CHECK(sglang_fraction(v19, h200, kimi) == Approx(0.896));
  CHECK(sglang_fraction(v21, h200, kimi) == Approx(0.907));
}

TEST_CASE("engine: SGLang 0.5.13-0.5.17 move the prefill-graph reserve between MLA, sparse-MLA and hybrid models",
          "[engine]") {
  const EngineProfile v10 = test::bundled().resolve_engine("sglang@0.5.10");
  const EngineProfile v13 = test::bundled().resolve_engine("sglang@0.5.13");
  const EngineProfile v14 = test::bundled().resolve_engine("sglang@0.5.14");
  const EngineProfile v15 = test::bundled().resolve_engine("sglang@0.5.15");
  const EngineProfile v16 = test::bundled().resolve_engine("sglang@0.5.16");
  const EngineProfile v17 = test::bundled().resolve_engine("sglang@0.5.17");
  const Gpu h100 = test::gpu("h100-sxm"), h200 = test::gpu("h200");
  // DeepSeek-V3.2 on 8 H200s (143,771 MiB; chunked prefill 8192, graph batch 512 at tp >= 4):
  // 512 + 1.5 x 8192 + 2 x 512 + 128 x 8 = 512 + 12,288 + 1,024 + 1,024 = 14,848 MiB. 0.5.10 lists
  // deepseek_v32 off: (143,771 - 14,848) / 143,771 = 0.8967 -> 0.897. 0.5.13 drops it from the list,
  // so the flat MLA 1,536 comes in: 16,384 -> 127,387 / 143,771 = 0.8860 -> 0.886. 0.5.15's breakable
  // graphs are off for every MLA model: 0.897 again. 0.5.17 keeps them for the DSA models: 0.886.
  const Model dsv32 = test::model("deepseek-v3.2");
  CHECK(sglang_fraction(v10, h200, dsv32, 8) == Approx(0.897));
  CHECK(sglang_fraction(v13, h200, dsv32, 8) == Approx(0.886));
  CHECK(sglang_fraction(v15, h200, dsv32, 8) == Approx(0.897));
  CHECK(sglang_fraction(v17, h200, dsv32, 8) == Approx(0.886));
  // DeepSeek-V3 (MLA, no indexer) reserves the 1,536 MiB up to 0.5.14 and not from 0.5.15, 0.5.17 included.
  const Model dsv3 = test::model("deepseek-v3");
  CHECK(sglang_fraction(v14, h200, dsv3, 8) == Approx(0.886));
  CHECK(sglang_fraction(v15, h200, dsv3, 8) == Approx(0.897));
  CHECK(sglang_fraction(v17, h200, dsv3, 8) == Approx(0.897));
  // Qwen3-Next on one H200 (chunked prefill 8192, graph batch 256): 512 + 12,288 + 512 + 128 =
  // 13,440 MiB -> (143,771 - 13,440) / 143,771 = 0.9065 -> 0.907 while the model is on the
  // tc_piecewise off list (0.5.13, 0.5.14); breakable graphs from 0.5.15 add 8 x 58 = 464:
  // 13,904 -> 0.9033 -> 0.903.
  const Model next = test::model("qwen3-next-80b-a3b");
  CHECK(sglang_fraction(v13, h200, next) == Approx(0.907));
  CHECK(sglang_fraction(v14, h200, next) == Approx(0.907));
  CHECK(sglang_fraction(v15, h200, next) == Approx(0.903));
  // Two stages of two H100s (81,559 MiB; graph batch 256 at tp 2): 512 + 12,288 + 512 + 128 x 4 =
  // 13,824 -> (81,559 - 13,824) / 81,559 = 0.8305 -> 0.831 without graphs under pp (0.5.14); from
  // 0.5.15 + 464 = 14,288 -> 0.8248 -> 0.825.
  const Model llama = test::model("llama-3.1-8b");
  CHECK(sglang_fraction(v14, h100, llama, 4, 2) == Approx(0.831));
  CHECK(sglang_fraction(v15, h100, llama, 4, 2) == Approx(0.825));
  // Nemotron-H on one H100 (graph batch 256): 13,440 + 464 = 13,904 -> (81,559 - 13,904) / 81,559 =
  // 0.8295 -> 0.830 under 0.5.16; 0.5.17 turns breakable graphs off for it: 13,440 -> 0.8352 -> 0.835.
  const Model nemotron = test::model("nemotron-nano-9b-v2");
  CHECK(sglang_fraction(v16, h100, nemotron) == Approx(0.830));
  CHECK(sglang_fraction(v17, h100, nemotron) == Approx(0.835));
  // An EAGLE head on Llama on one H100: 0.5.13 adds its 4,096 MiB after the floor, 13,904 + 4,096 =
  // 18,000 -> (81,559 - 18,000) / 81,559 = 0.7793 -> 0.779; from 0.5.14 no drafter reserve (0.830),
  // the drafter's weights and layers inside the budget instead.
  CHECK(sglang_fraction(v13, h100, llama, 1, 1, "eagle") == Approx(0.779));
  CHECK(sglang_fraction(v14, h100, llama, 1, 1, "eagle") == Approx(0.830));
  REQUIRE(v13.speculative);
  REQUIRE(v14.speculative);
  CHECK_FALSE(v13.speculative->draft_pool_shared);
  CHECK(v14.speculative->draft_pool_shared);
}

TEST_CASE("engine: SGLang 0.5.14-0.5.17's state slots: extra buffers from 0.5.14, Kimi-Linear from 0.5.16, padding from 0.5.17",
          "[engine]") {
  // Qwen3-Next-80B-A3B at tp 2 with 40 GiB of budget (the hybrid test above: 38,633,472 B of states a
  // request): floor(42,949,672,960 x 0.9 / 1.9 / 38,633,472) = 526 slots. 0.5.13 holds 3 a request,
  // 526 / 3 = 175; 0.5.14 takes 'extra_buffer' for Qwen3-Next, 5 a request, 526 / 5 = 105 (no
  // padding slot yet); 0.5.17 keeps one state as padding: floor((42,949,672,960 x 0.9 / 1.9 -
  // 38,633,472) / 38,633,472) = floor(525.6) = 525 slots, 525 / 5 = 105.
  const Model m = test::model("qwen3-next-80b-a3b");
  const auto plan = [&](const Model& model, const char* version, int64_t tp) {
    MemoryOptions o = engine_options(model, version, 40 * kGiB);
    o.cache.tp = tp;
    return plan_engine(model, test::gpu("h200"), o, 8192);
  };
  const EnginePlan p13 = plan(m, "sglang@0.5.13", 2), p14 = plan(m, "sglang@0.5.14", 2), p17 = plan(m, "sglang@0.5.17", 2);
  CHECK(p13.state_slots == 526);
  CHECK(p13.state_request_cap == 175);
  CHECK(p14.state_slots == 526);
  CHECK(p14.state_request_cap == 105);
  CHECK(p17.state_slots == 525);
  CHECK(p17.state_request_cap == 105);
  // Kimi-Linear holds 3 slots a request in 0.5.15 and 5 from 0.5.16 (PR #31474); the slots are the same.
  const Model kimi = test::model("kimi-linear-48b-a3b");
  const EnginePlan k15 = plan(kimi, "sglang@0.5.15", 1), k16 = plan(kimi, "sglang@0.5.16", 1);
  REQUIRE(k15.state_slots > 0);
  CHECK(k16.state_slots == k15.state_slots);
  CHECK(k15.state_request_cap == k15.state_slots / 3);
  CHECK(k16.state_request_cap == k16.state_slots / 5);
}

TEST_CASE("engine: names, versions and kv_cache_dtype spellings", "[engine]") {
  const Registry& r = test::bundled();
  CHECK(r.resolve_engine("vllm").is_default);
  CHECK(r.resolve_engine("vllm@0.10.1.1").version == "0.10");  // a release of a profile's line
  // A release covers its candidates and builds, not a longer number: 0.20.0rc1 and 0.20.0.dev3 are
  // 0.20.0's (vllm@0.20), 0.20.2 is vllm@0.20.1's, and 0.2 is no profile's.
  CHECK(r.resolve_engine("vllm@0.20.0rc1").version == "0.20");
  CHECK(r.resolve_engine("vllm@0.20.0.dev3").version == "0.20");
  CHECK(r.resolve_engine("vllm@0.20.2").version == "0.20.1");
  CHECK(r.resolve_engine("vllm@0.14.0rc2").version == "0.14");
  // V1 before #19312: 0.8.0-0.8.3, 0.8.4, 0.8.5(.post1) and 0.9.0(.1) each have their defaults; 0.9.1
  // already profiles as 0.9.2 does (vllm@0.10), and 0.9.1 does not cover 0.9.10.
  for (const auto& [release, line] : std::vector<std::pair<std::string, std::string>>{
           {"0.8.2", "0.8.0"}, {"0.8.5.post1", "0.8.5"}, {"0.9.0.1", "0.9.0"}, {"0.9.1", "0.10"}}) {
    CAPTURE(release);
    CHECK(r.resolve_engine("vllm@" + release).version == line);
  }
  CHECK_THROWS(r.resolve_engine("vllm@0.9.10"));
  // The closest line wins: 0.4.9.post4 is 0.4.9.post3's line, not 0.4.9's.
  CHECK(r.resolve_engine("sglang@0.4.9.post4").version == "0.4.9.post3");
  CHECK(r.resolve_engine("sglang@0.4.9.post1").version == "0.4.8");
  CHECK_THROWS_WITH(r.resolve_engine("vllm@0.2"), Catch::Matchers::StartsWith("unknown vllm version '0.2'"));
  CHECK(r.resolve_engine("vllm@0.19").version == "0.19");
  CHECK(r.resolve_engine("ideal").kind == EngineKind::ideal);
  CHECK_THROWS_WITH(r.resolve_engine("vllm@0.1"),
                    Catch::Matchers::StartsWith("unknown vllm version '0.1' (profiles: 0.6, 0.8.0, 0.8.4, 0.8.5, 0.9.0, 0.10, 0.11"));
  CHECK_THROWS_WITH(r.resolve_engine("sglan"), Catch::Matchers::EndsWith("did you mean 'sglang'?"));
  // Exactly one default profile per engine.
  int vllm_defaults = 0, sglang_defaults = 0;
  for (const EngineProfile& p : r.engine_profiles()) {
    if (!p.is_default) continue;
    ++(p.kind == EngineKind::vllm ? vllm_defaults : sglang_defaults);
  }
  CHECK(vllm_defaults == 1);
  CHECK(sglang_defaults == 1);
}

TEST_CASE("engine: SGLang 0.4.8-0.5.2 reserve by GPU memory and tp x pp", "[engine]") {
  // server_args.py of the v0.4.8-v0.5.2 tags: reserved = (2.8 + P/10) GiB below 35 GiB, (9.5 + P/2)
  // below 90, (12 + P/2) below 160, else 32 GiB (P = tp x pp), + 2 GiB with a drafter; the fraction
  // round((MiB - reserved) / MiB, 3).
  const Model llama = test::model("llama-3.1-8b");
  const auto fraction = [&](const char* engine, const char* gpu, int64_t gpus, const std::string& spec = "",
                            const Model* m = nullptr) {
    return engine_defaults(test::bundled().resolve_engine(engine), test::gpu(gpu), 8192, gpus, m ? m : &llama, 1, false,
                           spec)
        .gpu_memory_utilization;
  };
  // H100, 81,559 MiB: 9,728 + 512 = 10,240 -> 71,319 / 81,559 = 0.87445 -> 0.874; tp 8: 9,728 + 4,096 =
  // 13,824 -> 0.83050 -> 0.831; with EAGLE 12,288 -> 0.84934 -> 0.849.
  CHECK(fraction("sglang@0.4.8", "h100-sxm", 1) == Approx(0.874));
  CHECK(fraction("sglang@0.4.10", "h100-sxm", 8) == Approx(0.831));
  CHECK(fraction("sglang@0.5.2", "h100-sxm", 1, "eagle") == Approx(0.849));
  // RTX 4090, 24,564 MiB: 2,867.2 + 102.4 = 2,969.6 -> 0.87911 -> 0.879; tp 4: 3,276.8 -> 0.86660 -> 0.867.
  CHECK(fraction("sglang@0.4.9", "rtx-4090", 1) == Approx(0.879));
  CHECK(fraction("sglang@0.5.1", "rtx-4090", 4) == Approx(0.867));
  // H200, 143,771 MiB: 12,288 + 512 = 12,800 -> 0.91097 -> 0.911.
  CHECK(fraction("sglang@0.5.0", "h200", 1) == Approx(0.911));
  // A vision model's fraction: x 0.90 to 0.4.9.post2, the encoder-size rule from 0.4.9.post3.
  // Qwen2.5-VL-7B on an H100: 0.874 x 0.90 = 0.7866, and 0.874 x 0.95 x (1 - 0.1 x (24 x 1280^2 /
  // (24 x 1024^2) - 1)) = 0.874 x 0.8965625 = 0.78359562, which SGLang's documentation build logged
  // from 2025-07-19 as mem_fraction_static=0.7835956249999999 (docs/engines.md, "Vision models").
  const Model vl = test::model("qwen2.5-vl-7b");
  const EngineProfile old = test::bundled().resolve_engine("sglang@0.4.9.post2");
  CHECK(old.version == "0.4.8");
  CHECK(old.multimodal_fraction_scale == 0.90);
  CHECK(fraction("sglang@0.4.9.post3", "h100-sxm", 1, "", &vl) == Approx(0.7835956249999999).epsilon(1e-12));
  // 0.5.3-0.5.4 reserve by sglang@0.5's formula with a graph batch of 16 on 20-35 GiB GPUs at tp < 4
  // (24 from 0.5.5): RTX 4090, 512 + 1.5 x 2,048 + 2 x 16 + 128 = 3,744 MiB -> 20,820 / 24,564 =
  // 0.84758 -> 0.848; 0.5.5: 3,760 -> 0.84693 -> 0.847.
  CHECK(fraction("sglang@0.5.4", "rtx-4090", 1) == Approx(0.848));
  CHECK(fraction("sglang@0.5.5", "rtx-4090", 1) == Approx(0.847));
  // Their fixed-size Mamba cache (max_mamba_cache_size 512 in v0.5.2) is not modelled: a hybrid is
  // refused there rather than sized without its states.
  const Model next = test::model("qwen3-next-80b-a3b");
  MemoryOptions o = test::bf16_options(next);
  o.engine.profile = test::bundled().resolve_engine("sglang@0.5.2");
  o.cache.tp = 2;
  CHECK_THROWS_WITH(plan_engine(next, test::gpu("h200"), o, 8192),
                    Catch::Contains("the state pool of a model with Mamba or linear-attention layers is not modelled"));
}

TEST_CASE("engine: SGLang 0.4.6-0.4.7 take the table up to 81,920 MiB and their own rules above", "[engine]") {
  // server_args.py __post_init__ of the v0.4.6, v0.4.6.post2 and v0.4.7 tags; nvidia-smi MiB from the
  // presets: A100-80GB 81,920, H100 81,559, H100 NVL 95,830, GH200 97,871, H200 143,771, B200 183,359,
  // B300 275,040. None of these fractions is rounded.
  const Model llama = test::model("llama-3.1-8b");
  const auto fraction = [&](const char* engine, const char* gpu, int64_t gpus, int64_t pp = 1,
                            const std::string& spec = "") {
    return engine_defaults(test::bundled().resolve_engine(engine), test::gpu(gpu), 8192, gpus, &llama, pp, false, spec)
        .gpu_memory_utilization;
  };
  // Up to 81,920 MiB (the bound included) every one takes sglang@0.4's table: 0.88, 0.87, 0.85, 0.81.
  for (const char* engine : {"sglang@0.4.6", "sglang@0.4.6.post2", "sglang@0.4.7"}) {
    CHECK(fraction(engine, "h100-sxm", 1) == Approx(0.88));
    CHECK(fraction(engine, "h100-sxm", 2) == Approx(0.87));
    CHECK(fraction(engine, "h100-sxm", 8) == Approx(0.81));
    CHECK(fraction(engine, "a100-80gb", 4) == Approx(0.85));
  }
  // 0.4.6 above 81,920 MiB: (MiB - 13,312) / MiB whatever tp. H100 NVL: 82,518 / 95,830 = 0.861087;
  // H200: 130,459 / 143,771 = 0.907408; B200: 170,047 / 183,359 = 0.927399.
  CHECK(fraction("sglang@0.4.6", "h100-nvl", 1) == Approx(82518.0 / 95830));
  CHECK(fraction("sglang@0.4.6", "h200", 1) == Approx(0.9074083090));
  CHECK(fraction("sglang@0.4.6", "h200", 8) == Approx(0.9074083090));
  CHECK(fraction("sglang@0.4.6", "b200", 1) == Approx(0.9273992550));
  // 0.4.6.post2 on: the table by tp x pp (4 x 2 = 8: 0.81), 0.88 flat from 81,921 to 98,304 MiB (GH200
  // at tp 8 too), and above 96 GiB min(0.88 + 49,152 x 0.12 / MiB, (MiB - 18,432) / MiB). H200:
  // min(0.88 + 5,898.24 / 143,771 = 0.921025, 125,339 / 143,771 = 0.871796) = 0.871796. B300:
  // min(0.88 + 5,898.24 / 275,040 = 0.901445, 256,608 / 275,040 = 0.932984) = 0.901445, the raised
  // fraction under the cap.
  CHECK(fraction("sglang@0.4.6.post2", "h100-sxm", 8, 2) == Approx(0.81));
  CHECK(fraction("sglang@0.4.6.post2", "gh200", 8) == Approx(0.88));
  CHECK(fraction("sglang@0.4.6.post2", "h200", 1) == Approx(125339.0 / 143771));
  CHECK(fraction("sglang@0.4.6.post2", "h200", 8) == Approx(0.8717961202));
  CHECK(fraction("sglang@0.4.6.post2", "b300", 1) == Approx(0.88 + 49152 * 0.12 / 275040));
  // B200 in 0.4.6.post2: min(0.88 + 5,898.24 / 183,359 = 0.912168, 164,927 / 183,359 = 0.899476);
  // 0.4.7 gives any GPU above 180,000 MiB 0.79, and 16,384-token chunks.
  CHECK(fraction("sglang@0.4.6.post2", "b200", 1) == Approx(0.8994758916));
  CHECK(fraction("sglang@0.4.7", "b200", 1) == Approx(0.79));
  CHECK(fraction("sglang@0.4.7", "b300", 8) == Approx(0.79));
  CHECK(fraction("sglang@0.4.7", "h200", 1) == Approx(0.8717961202));
  CHECK(engine_defaults(test::bundled().resolve_engine("sglang@0.4.7"), test::gpu("b200"), 8192, 1, &llama)
            .max_num_batched_tokens == 16384);
  CHECK(engine_defaults(test::bundled().resolve_engine("sglang@0.4.6.post2"), test::gpu("b200"), 8192, 1, &llama)
            .max_num_batched_tokens == 8192);
  // 0.4.7 with a drafter: up to 96 GiB the fraction x 0.95 (H100: 0.88 x 0.95 = 0.836, tp 8: 0.81 x
  // 0.95 = 0.7695; GH200 0.836); above, 20 GiB in place of 18 (H200: 123,291 / 143,771 = 0.857551);
  // above 180,000 MiB still 0.79. 0.4.6 and 0.4.6.post2 leave the fraction alone.
  CHECK(fraction("sglang@0.4.7", "h100-sxm", 1, 1, "eagle") == Approx(0.836));
  CHECK(fraction("sglang@0.4.7", "h100-sxm", 8, 1, "mtp") == Approx(0.7695));
  CHECK(fraction("sglang@0.4.7", "gh200", 1, 1, "eagle3") == Approx(0.836));
  CHECK(fraction("sglang@0.4.7", "h200", 1, 1, "eagle") == Approx(0.8575512447));
  CHECK(fraction("sglang@0.4.7", "b200", 1, 1, "eagle") == Approx(0.79));
  CHECK(fraction("sglang@0.4.6.post2", "h200", 1, 1, "eagle") == Approx(0.8717961202));
  CHECK(fraction("sglang@0.4.6", "h100-sxm", 1, 1, "eagle") == Approx(0.88));
  // A multimodal model's fraction x 0.90 (model_runner.py); Gemma 3 and Llama 4 text-only by default.
  for (const char* engine : {"sglang@0.4.6", "sglang@0.4.6.post2", "sglang@0.4.7"}) {
    const EngineProfile p = test::bundled().resolve_engine(engine);
    CHECK(p.multimodal_fraction_scale == 0.90);
    CHECK(p.text_only_families == std::vector<std::string>{"gemma3", "llama4"});
    CHECK(p.text_only_skips_towers.empty());
  }
}

TEST_CASE("engine: SGLang 0.4.6's releases resolve by their longest line", "[engine]") {
  // 0.4.7.post1 already has 0.4.8's reserve rule (its server_args.py __post_init__ is v0.4.8's); a
  // post release past the listed ones is no line's: 0.4.6.post50 is 0.4.6's.
  for (const auto& [release, line] : std::vector<std::pair<std::string, std::string>>{
           {"0.4.6", "0.4.6"}, {"0.4.6.post1", "0.4.6"}, {"0.4.6.post2", "0.4.6.post2"},
           {"0.4.6.post4", "0.4.6.post2"}, {"0.4.6.post5", "0.4.6.post2"}, {"0.4.7", "0.4.7"},
           {"0.4.7.post1", "0.4.8"}, {"0.4.8", "0.4.8"}, {"0.4.5.post3", "0.4.5"}, {"0.4.6.post50", "0.4.6"}}) {
    CAPTURE(release);
    CHECK(test::bundled().resolve_engine("sglang@" + release).version == line);
  }
}

TEST_CASE("engine profiles: a memory row's fraction rule is checked where it stands", "[engine][data]") {
  const std::string s047 = read_text_file(std::string(KVPLAN_SOURCE_DIR) + "/presets/engines/sglang-0.4.7.yaml");
  auto with = [&](const std::string& from, const std::string& to) {
    std::string text = s047;
    const size_t at = text.find(from);
    REQUIRE(at != std::string::npos);
    return text.replace(at, from.size(), to);
  };
  const std::string row = "cuda_graph_max_bs: 512, fraction: 0.79}";
  const EngineProfile p = parse_engine_yaml(s047, "p.yaml");
  REQUIRE(p.by_gpu_memory.size() == 5);
  CHECK(p.by_gpu_memory[3].grow_mib == 49152);
  CHECK(p.by_gpu_memory[3].min_reserve_mib.value_or(0) == 18432);
  CHECK(p.by_gpu_memory[0].drafter_scale == 0.95);
  CHECK(p.by_gpu_memory[4].fraction.value_or(0) == 0.79);
  CHECK_THROWS_WITH(parse_engine_yaml(with(row, "cuda_graph_max_bs: 512, fraction: 1.2}"), "p.yaml"),
                    Catch::Contains("'fraction' must be a fraction in (0, 1]"));
  CHECK_THROWS_WITH(parse_engine_yaml(with(row, "cuda_graph_max_bs: 512, fraction: 0.79, drafter_scale: 0.3}"), "p.yaml"),
                    Catch::Contains("'drafter_scale' must be between 0.5 and 1"));
  CHECK_THROWS_WITH(parse_engine_yaml(with(row, "cuda_graph_max_bs: 512, fraction: 0.79, grow_mb: 1}"), "p.yaml"),
                    Catch::Contains("grow_mb"));
  // Both rules in one row: refused at the second rule's value (line 55, column 91).
  try {
    parse_engine_yaml(with(row, "cuda_graph_max_bs: 512, reserve_mib: 32768, fraction: 0.79}"), "p.yaml");
    FAIL("a row with reserve_mib and fraction parsed");
  } catch (const Error& e) {
    CHECK(e.pos().file == "p.yaml");
    CHECK(e.pos().line == 55);
    CHECK(e.pos().col == 91);
    CHECK_THAT(e.what(), Catch::Contains("a by_gpu_memory row takes reserve_mib (a rounded fraction) or 'fraction'"));
  }
  CHECK_THROWS_WITH(
      parse_engine_yaml(with("  mem_fraction_static:\n",
                             "  mem_fraction_static:\n    reserve: {base_mib: 512, per_prefill_token_mib: 1.5, "
                             "min_prefill_tokens: 2048, per_graph_bs_mib: 2, per_gpu_mib: 128}\n"),
                        "p.yaml"),
      Catch::Contains("and mem_fraction_static's reserve both set the default fraction: keep one"));
}

TEST_CASE("engine: vLLM 0.14-0.16 check the whole model's cache against a pipeline stage's budget", "[engine]") {
  // Llama 3.1 8B at pp 2: 16 layers a stage. A 131,072-token request holds 131,072 / 16 = 8,192
  // blocks of 65,536 B a layer: 8 GiB for a stage's 16 layers, 16 GiB for all 32. With 10 GiB a
  // stage, vLLM 0.14-0.16 (#29431 until #33698; vllm#32105) refused to start; 0.17 checks each
  // stage against its own layers and starts.
  const Model m = test::model("llama-3.1-8b");
  MemoryOptions o = engine_options(m, "vllm@0.14", 10 * kGiB);
  o.engine.pipeline_parallel_size = 2;
  const EnginePlan old = plan_engine(m, test::gpu("h100-sxm"), o, 131072);
  CHECK_FALSE(old.starts);
  // The longest request that fits the whole model: 10 GiB / (32 x 65,536 B / 16 tokens) = 81,920.
  CHECK(old.estimated_max_model_len == 81920);
  CHECK(old.failure == "To serve at least one request with the model's max seq len (131072), (16.00 GiB KV cache is "
                       "needed, which is larger than the available KV cache memory (10.00 GiB). Based on the available "
                       "memory, the estimated maximum model length is 81920.");
  o.engine.profile = test::bundled().resolve_engine("vllm@0.17");
  CHECK(plan_engine(m, test::gpu("h100-sxm"), o, 131072).starts);
  // On one stage the whole model is the stage: its 32 layers need 16 GiB, which 10 GiB does not hold
  // and 16 GiB does.
  o.engine.profile = test::bundled().resolve_engine("vllm@0.14");
  o.engine.pipeline_parallel_size = 1;
  CHECK_FALSE(plan_engine(m, test::gpu("h100-sxm"), o, 131072).starts);
  o.engine.kv_cache_memory_bytes = 16 * kGiB;
  CHECK(plan_engine(m, test::gpu("h100-sxm"), o, 131072).starts);
  // A drafter sharing the pool joins the whole model: an EAGLE-3 head is one more layer of the
  // target's shape, 33 x 8,192 x 65,536 B = 16.5 GiB, which 16.25 GiB a stage does not hold.
  o.engine.pipeline_parallel_size = 2;
  o.engine.kv_cache_memory_bytes = 16 * kGiB + kGiB / 4;
  CHECK(plan_engine(m, test::gpu("h100-sxm"), o, 131072).starts);
  o.engine.speculative_method = "eagle3";
  o.engine.num_speculative_tokens = 3;
  o.engine.draft = speculative_drafter(m, "eagle3", std::nullopt);
  const EnginePlan drafted = plan_engine(m, test::gpu("h100-sxm"), o, 131072);
  CHECK_FALSE(drafted.starts);
  CHECK(drafted.failure.find("(16.50 GiB KV cache is needed") != std::string::npos);
}

TEST_CASE("engine: vLLM 0.20.1 prints the cache size from the concurrency", "[engine]") {
  // #41069 (in the v0.20.1 release notes): "GPU KV cache size" = int(max_concurrency x
  // max_model_len). Llama 3.1 8B, 50 GiB: 25,600 blocks of 16 tokens. At max_model_len 100,000 a
  // request holds ceil(100,000 / 16) = 6,250 blocks: 25,600 / 6,250 = 4.096 requests, printed
  // as int(4.096 x 100,000) = 409,600 tokens; 0.20.0 printed 25,600 x 16 = 409,600 as well. At
  // 100,008 tokens a request holds 6,251 blocks: int(25,600 / 6,251 x 100,008) = 409,567, where
  // 0.20.0 still prints 409,600.
  const Model m = test::model("llama-3.1-8b");
  const auto tokens = [&](const char* engine, int64_t len) {
    return plan_engine(m, test::gpu("h100-sxm"), engine_options(m, engine, 50 * kGiB), len).kv_cache_tokens;
  };
  CHECK(tokens("vllm@0.20.1", 100000) == 409600);
  CHECK(tokens("vllm@0.20.1", 100008) == 409567);
  CHECK(tokens("vllm@0.20", 100008) == 409600);
}

TEST_CASE("engine: a speculative drafter's layers share the pool and its weights the GPU", "[engine]") {
  // An EAGLE-3 head for Llama 3.1 8B: one decoder layer of the target's shape, so 33 layers of
  // 65,536 B per block: 33 GiB / (65,536 x 33) = 16,384 blocks (32 layers alone: 16,896).
  const Model m = test::model("llama-3.1-8b");
  MemoryOptions o = engine_options(m, "vllm@0.19", 33 * kGiB);
  o.engine.speculative_method = "eagle3";
  o.engine.num_speculative_tokens = 3;
  o.engine.draft = speculative_drafter(m, "eagle3", std::nullopt);
  const EnginePlan p = plan_engine(m, test::gpu("h100-sxm"), o, 8192);
  CHECK(p.num_gpu_blocks == 16384);
  CHECK(p.group_size == 33);
  // Its weights: one layer's (4096 x 4096 q and o, 2 x 1024 x 4096 k and v, 3 x 14,336 x 4096 MLP,
  // two 4096 norms) in bf16 = 2 x (2 x 16,777,216 + 2 x 4,194,304 + 3 x 58,720,256 + 8192) B.
  const int64_t layer = 2 * (2 * 16777216 + 2 * 4194304 + 3 * int64_t{58720256} + 8192);
  const EnginePlan plain = plan_engine(m, test::gpu("h100-sxm"), engine_options(m, "vllm@0.19", 33 * kGiB), 8192);
  CHECK(p.weights_bytes - plain.weights_bytes == layer);
  // ngram drafts without layers; an unknown method or a draft_model without its model is an error.
  CHECK(speculative_drafter(m, "ngram", std::nullopt) == nullptr);
  CHECK_THROWS_WITH(speculative_drafter(m, "medusa", std::nullopt),
                    Catch::Contains("speculative method 'medusa' is vLLM's, but kvplan does not model it"));
  CHECK_THROWS_WITH(speculative_drafter(m, "lookahead", std::nullopt),
                    Catch::Contains("speculative method 'lookahead' is not one of draft_model, eagle, eagle3, mtp"));
  // A model's own MTP type is vLLM's mtp: Qwen3.5-27B's config has mtp_num_hidden_layers 1, so one
  // layer of the target's shape (its last, full attention). Llama 3.1 8B has no MTP module: mtp is
  // an error there. A model of 2 MTP modules drafts with 2 layers.
  const Model qwen = test::model("qwen3.5-27b");
  REQUIRE(speculative_drafter(qwen, "qwen3_5_mtp", std::nullopt) != nullptr);
  CHECK(speculative_drafter(qwen, "qwen3_5_mtp", std::nullopt)->layers.size() == 1);
  CHECK(speculative_drafter(qwen, "mtp", std::nullopt)->layers[0] == qwen.layers.back());
  CHECK_THROWS_WITH(speculative_drafter(m, "mtp", std::nullopt),
                    Catch::Contains("speculative method mtp drafts with the model's own multi-token-prediction layers, "
                                    "and 'llama-3.1-8b' has none"));
  Model two = qwen;
  two.mtp_layers = 2;
  CHECK(speculative_drafter(two, "mtp", std::nullopt)->layers.size() == 2);
  CHECK(canonical_speculative_method("deepseek_mtp") == "mtp");
  CHECK(canonical_speculative_method("eagle3") == "eagle3");
  CHECK_THROWS_WITH(speculative_drafter(m, "draft_model", std::nullopt),
                    "speculative method draft_model needs the draft's \"model\"");
}

TEST_CASE("checked arithmetic: ceil_div never forms a + b - 1", "[checked]") {
  // INT64_MAX = 2^63 - 1 is odd: INT64_MAX / 2 = 2^62 - 1 remainder 1, rounded up 2^62.
  CHECK(ceil_div(INT64_MAX, 2) == (int64_t{1} << 62));
  CHECK(ceil_div(INT64_MAX, INT64_MAX) == 1);
  CHECK(ceil_div(0, 16) == 0);
  CHECK(ceil_div(1010, 16) == 64);  // 63 blocks hold 1008 tokens
}

TEST_CASE("engine profiles: absurd constants are refused where they stand", "[engine][data]") {
  // Found by the fuzz runs: a min_memory_gib of 7e99 overflowed its conversion to bytes.
  const std::string text = read_text_file(std::string(KVPLAN_SOURCE_DIR) + "/presets/engines/vllm-0.12.yaml");
  // `base` with its first `from` replaced by `to`.
  auto edited = [](std::string base, const std::string& from, const std::string& to) {
    const size_t at = base.find(from);
    REQUIRE(at != std::string::npos);
    return base.replace(at, from.size(), to);
  };
  auto with = [&](const std::string& from, const std::string& to) { return edited(text, from, to); };
  CHECK_THROWS_WITH(parse_engine_yaml(with("min_memory_gib: 70", "min_memory_gib: 7e99"), "p.yaml"),
                    Catch::Contains("'min_memory_gib' must be between 0 and 1.04858e+06"));
  CHECK_THROWS_WITH(parse_engine_yaml(with("group_size_ratio: 1.25", "group_size_ratio: 1e300"), "p.yaml"),
                    Catch::Contains("'group_size_ratio' must be between 1 and 1e+06"));
  CHECK_THROWS_WITH(parse_engine_yaml(with("  intermediate: 128", "  intermediate: 0"), "p.yaml"),
                    Catch::Contains("'intermediate' must be at least 1"));
  CHECK_THROWS_WITH(parse_engine_yaml(with("  hidden: 256", "  hiden: 256"), "p.yaml"), Catch::Contains("hiden"));
  // big_gpu tiers go by ascending memory (vllm@0.28 lists 70 then 160 GiB).
  const std::string v028 = read_text_file(std::string(KVPLAN_SOURCE_DIR) + "/presets/engines/vllm-0.28.yaml");
  std::string swapped = v028;
  swapped.replace(swapped.find("- min_memory_gib: 160"), 21, "- min_memory_gib: 60 ");
  CHECK_THROWS_WITH(parse_engine_yaml(swapped, "p.yaml"),
                    Catch::Contains("'big_gpu' tiers must be listed by ascending min_memory_gib"));
  CHECK(parse_engine_yaml(v028, "p.yaml").big_gpu.size() == 2);
  // Piecewise capture-size runs ascend without overlap, each with 1 <= from <= to and step >= 1.
  const std::string s010 = read_text_file(std::string(KVPLAN_SOURCE_DIR) + "/presets/engines/sglang-0.5.10.yaml");
  auto sglang_with = [&](const std::string& from, const std::string& to) { return edited(s010, from, to); };
  CHECK_THROWS_WITH(parse_engine_yaml(sglang_with("{from: 48, to: 256, step: 16}", "{from: 16, to: 256, step: 16}"), "p.yaml"),
                    Catch::Contains("'sizes' runs must ascend and not overlap"));
  CHECK_THROWS_WITH(parse_engine_yaml(sglang_with("{from: 48, to: 256, step: 16}", "{from: 48, to: 256, step: 0}"), "p.yaml"),
                    Catch::Contains("a 'sizes' run needs 1 <= from <= to and step >= 1"));
  CHECK_THROWS_WITH(parse_engine_yaml(sglang_with("{from: 48, to: 256, step: 16}", "{from: 48, to: 256, stp: 16}"), "p.yaml"),
                    Catch::Contains("step"));
  CHECK(parse_engine_yaml(s010, "p.yaml").reserve->piecewise_sizes.size() == 6);
  // runner_v2: 'all' takes no families or dense flag; 'v1_speculative' needs 'all' and names known methods.
  const std::string v029 = read_text_file(std::string(KVPLAN_SOURCE_DIR) + "/presets/engines/vllm-0.29.yaml");
  auto v029_with = [&](const std::string& from, const std::string& to) { return edited(v029, from, to); };
  CHECK(parse_engine_yaml(v029, "p.yaml").runner_v2_all);
  CHECK_THROWS_WITH(parse_engine_yaml(v029_with("  all: true", "  all: true\n  dense: true"), "p.yaml"),
                    Catch::Contains("runner_v2 'all' runs every model: it takes no 'families' or 'dense'"));
  CHECK_THROWS_WITH(parse_engine_yaml(v029_with("  all: true", "  all: false"), "p.yaml"),
                    Catch::Contains("runner_v2 'v1_speculative' needs 'all: true'"));
  CHECK_THROWS_WITH(parse_engine_yaml(v029_with("v1_speculative: [ngram]", "v1_speculative: [n-gram]"), "p.yaml"),
                    Catch::Contains("speculative method 'n-gram' is not one of") && Catch::Contains("did you mean 'ngram'"));
  // SGLang 0.5.18's extra-buffer slots: at least 1.
  const std::string s018 = read_text_file(std::string(KVPLAN_SOURCE_DIR) + "/presets/engines/sglang-0.5.18.yaml");
  CHECK(parse_engine_yaml(s018, "p.yaml").state_pool_extra_buffer_slots == 5);
  CHECK_THROWS_WITH(parse_engine_yaml(edited(s018, "    slots_per_request: 5", "    slots_per_request: 0"), "p.yaml"),
                    Catch::Contains("'slots_per_request' must be at least 1, got 0"));
  // An MLA hybrid's alignment: at least 1; KDA's state dtype: a dtype.
  CHECK(parse_engine_yaml(text, "p.yaml").block_alignment_mla == 64);
  CHECK(parse_engine_yaml(text, "p.yaml").kda_state_dtype == DType::fp32);
  CHECK_THROWS_WITH(parse_engine_yaml(with("block_alignment_mla: 64", "block_alignment_mla: 0"), "p.yaml"),
                    Catch::Contains("'block_alignment_mla' must be at least 1"));
  CHECK_THROWS_WITH(parse_engine_yaml(with("kda_state_dtype: fp32", "kda_state_dtype: fp31"), "p.yaml"),
                    Catch::Contains("unknown dtype 'fp31'"));
  CHECK_NOTHROW(parse_engine_yaml(text, "p.yaml"));
  CHECK(parse_engine_yaml(text, "p.yaml").mxfp4_marlin_intermediate == 128);
  CHECK(parse_engine_yaml(text, "p.yaml").mxfp4_marlin_hidden == 256);
  // A layout name must be one of the profile's KV dtypes.
  CHECK_THROWS_WITH(parse_engine_yaml(with("mla_fp8_ds_kv_cache_dtypes: [fp8_ds_mla]", "mla_fp8_ds_kv_cache_dtypes: [fp9]"),
                                      "p.yaml"),
                    Catch::Contains("'mla_fp8_ds_kv_cache_dtypes' names 'fp9', which is not in 'kv_cache_dtypes'"));
  const EngineProfile v012 = parse_engine_yaml(text, "p.yaml");
  const Model dsv32 = test::model("deepseek-v3.2");
  const Model dsv3 = test::model("deepseek-v3");
  CHECK(engine_mla_fp8_ds(v012, dsv32, "fp8_ds_mla"));
  CHECK(engine_mla_fp8_ds(v012, dsv3, "fp8_ds_mla"));
  // Plain fp8 is DeepSeek's layout on a sparse-MLA model only.
  CHECK(engine_mla_fp8_ds(v012, dsv32, "fp8"));
  CHECK(engine_mla_fp8_ds(v012, dsv32, "fp8_e5m2"));
  CHECK_FALSE(engine_mla_fp8_ds(v012, dsv32, "auto"));
  CHECK_FALSE(engine_mla_fp8_ds(v012, dsv3, "fp8"));
  CHECK_THROWS_WITH(engine_mla_fp8_ds(v012, test::model("llama-3.1-8b"), "fp8_ds_mla"),
                    "--kv-cache-dtype 'fp8_ds_mla' is DeepSeek's FP8 MLA layout, and Llama-3.1-8B has no MLA layers");
}

TEST_CASE("engine: vLLM runs DeepSeek-V3.2's fp8 cache in its own layout, 64-token blocks", "[engine]") {
  // vLLM turns every fp8 cache of a model with an indexer into fp8_ds_mla and forces 64-token
  // blocks for FlashMLA sparse. Per layer and token: 512 fp8 latent + 4 x 4 B scales + 64 x 2 B
  // rope = 656 B, and the indexer's key 128 fp8 + one 4 B scale = 132 B: 788 B; a 64-token block
  // 50,432 B, 61 layers 3,076,352 B. 40 GiB = 42,949,672,960 B / 3,076,352 = 13,961.3 -> 13,961
  // blocks = 893,504 tokens. (bf16, `auto`: (576 x 2 + 132) x 64 = 82,176 B a block and layer.)
  const Model m = test::model("deepseek-v3.2");
  const EngineProfile v019 = test::bundled().resolve_engine("vllm@0.19");
  MemoryOptions o = engine_options(m, "vllm@0.19", 40 * kGiB);
  o.cache.tp = 8;
  o.cache.kv_dtype = DType::fp8_e4m3;
  REQUIRE(engine_mla_fp8_ds(v019, m, "fp8"));
  o.cache.mla = MlaCache::fp8_ds;
  const EnginePlan p = plan_engine(m, test::gpu("h200"), o, 163840);
  CHECK(p.block_size == 64);
  CHECK(p.page_bytes == 50432);
  CHECK(p.num_gpu_blocks == 13961);
  CHECK(p.kv_cache_tokens == 893504);
  MemoryOptions b = engine_options(m, "vllm@0.19", 40 * kGiB);
  b.cache.tp = 8;
  CHECK(plan_engine(m, test::gpu("h200"), b, 163840).page_bytes == 82176);
}

TEST_CASE("engine: SGLang stores a sparse-MLA model's fp8_e4m3 cache in DeepSeek's FP8 layout", "[engine][sglang]") {
  // SGLang's NSATokenToKVPool takes the packed width (512 fp8 latent + 4 x 4 B scales + 64 x 2 B
  // bf16 rope = 656 B) when the cache dtype is float8_e4m3fn; fp8_e5m2 keeps the 576-byte latent.
  // GLM-5 on 8 MI355X (sglang 0.5.8.post1, tests/engines/sglang-fail-glm-5-fp8-...): the log's
  // 186.77 GiB for 3,262,823 tokens is 61,463 B a token = 78 layers x (656 + 132 B indexer key).
  const Model glm5 = test::model("glm-5");
  for (const char* version : {"sglang@0.5", "sglang@0.5.8", "sglang@0.5.10", "sglang@0.5.13", "sglang@0.5.14", "sglang@0.5.15",
                              "sglang@0.5.16", "sglang@0.5.17", "sglang@0.5.18", "sglang@0.5.19"}) {
    INFO(version);
    const EngineProfile p = test::bundled().resolve_engine(version);
    CHECK(engine_mla_fp8_ds(p, glm5, "fp8_e4m3"));
    CHECK_FALSE(engine_mla_fp8_ds(p, glm5, "fp8_e5m2"));
    CHECK_FALSE(engine_mla_fp8_ds(p, glm5, "auto"));
    CHECK_FALSE(engine_mla_fp8_ds(p, test::model("deepseek-v3"), "fp8_e4m3"));  // no indexer: the plain latent
  }
  CacheOptions c;
  c.kv_dtype = DType::fp8_e4m3;
  c.mla = MlaCache::fp8_ds;
  CHECK(kv_bytes_per_token(glm5, c) == 78 * (656 + 132));
  CHECK(186.77 * 1073741824.0 / 3262823 == Approx(78 * (656 + 132)).epsilon(0.0001));
}

TEST_CASE("engine: vLLM keeps a 16-bit copy of a quantized MLA kv_b_proj for decode", "[engine][mla]") {
  // MLACommonImpl.process_weights_after_loading dequantizes kv_b_proj and keeps W_UK_T and W_UV as
  // views of the copy. DeepSeek-R1 in fp8 at tp 8: 61 layers x 128/8 heads x (128 + 128) x 512 x
  // 2 B = 61 x 4,194,304 = 255,852,544 B (0.238 GiB) a GPU. The vLLM 0.11.0 log of DeepSeek-R1-0528
  // at tp 8 on H200s loads 79.58 GiB a GPU where the weights alone are 79.35 GiB.
  const Model r1 = test::model("deepseek-r1");
  const EngineProfile v011 = test::bundled().resolve_engine("vllm@0.11");
  MemoryOptions o;
  o.cache.tp = 8;
  o.weights = weight_dtypes(r1, DType::fp8_e4m3);
  CHECK(mla_absorbed_bytes(r1, o, v011) == 61LL * 16 * 256 * 512 * 2);
  // bf16 weights: the views alias kv_b_proj itself.
  o.weights = weight_dtypes(r1, DType::bf16);
  CHECK(mla_absorbed_bytes(r1, o, v011) == 0);
  // SGLang's profiles do not state the rule; a model without MLA has no such copy.
  o.weights = weight_dtypes(r1, DType::fp8_e4m3);
  CHECK(mla_absorbed_bytes(r1, o, test::bundled().resolve_engine("sglang@0.5")) == 0);
  CHECK(mla_absorbed_bytes(test::model("llama-3.1-8b"), o, v011) == 0);
}

TEST_CASE("engine: a sparse-MLA model holds its top-k index buffer from construction", "[engine][mla]") {
  // vLLM's DeepseekV2Model allocates max_num_batched_tokens x index_topk int32 for a model with
  // an indexer: DeepSeek-V3.2 at 8,192 batched tokens, 8192 x 2048 x 4 B = 67,108,864 B (64 MiB).
  const EngineProfile v019 = test::bundled().resolve_engine("vllm@0.19");
  CHECK(topk_indices_bytes(test::model("deepseek-v3.2"), v019, 8192) == 8192LL * 2048 * 4);
  CHECK(topk_indices_bytes(test::model("deepseek-v3"), v019, 8192) == 0);
  CHECK(topk_indices_bytes(test::model("deepseek-v3.2"), test::bundled().resolve_engine("vllm@0.10"), 8192) == 0);
}

TEST_CASE("engine: vLLM's profile runs the vision tower on its largest dummy item", "[engine][multimodal]") {
  // Qwen2.5-VL-7B's tower (config.json vision_config): hidden 1280, a SwiGLU MLP of 3420 (gate and up
  // projections: 6840 outputs, wider than the QKV projection's 3 x 1280 = 3840); its processor's
  // largest image, 12,845,056 px / (28 x 28) px a token = 16,384 tokens of 2 x 2 merged patches =
  // 65,536 patches. A patch holds, as a token of the text pass does, 2 copies x (residual + normed
  // copy + the widest projection) x 2 B = 2 x (2 x 1280 + 6840) x 2 = 37,600 B.
  const Model m = test::model("qwen2.5-vl-7b");
  const auto plan = [&](const std::string& engine, int64_t max_model_len, int64_t tp, int64_t batched,
                        std::optional<bool> v2 = std::nullopt) {
    MemoryOptions o = test::bf16_options(m);
    o.engine.profile = test::bundled().resolve_engine(engine);
    o.engine.v2_model_runner = v2;
    o.cache.tp = tp;
    o.prefill_chunk = batched;
    o.gpu_memory_utilization = 0.9;
    return plan_engine(m, test::gpu("l4"), o, max_model_len);
  };
  // vLLM 0.9-0.10 (vllm@0.10): one image-sized item (the L4 log of 0.9.0.1: 'Encoder cache will be
  // initialized with a budget of 16384 tokens, and profiled with 1 image items').
  const EnginePlan image = plan("vllm@0.10", 2048, 1, 2048);
  REQUIRE(image.encoder);
  CHECK(image.encoder->items == 1);
  CHECK(image.encoder->item_tokens == 16384);
  CHECK_FALSE(image.encoder->video);
  CHECK(image.encoder->patches == 65536);
  CHECK(image.encoder->peak_bytes == int64_t{65536} * 37600);  // 2,464,153,600 B = 2.29 GiB
  // It outweighs the text pass of 2048 tokens, so it is the peak; that log's figures: 0.9 x 22.04 GiB
  // - 15.63 GiB of weights - 1.81 GiB of KV cache leave 2.39 GiB for the peak and non-torch memory.
  CHECK(*image.activation_peak_bytes == image.encoder->peak_bytes);
  // At tp 2 the projections are split, the residual stream is not: 2 x (2560 + 3420) x 2 = 23,920 B.
  CHECK(plan("vllm@0.10", 8192, 2, 2048).encoder->peak_bytes == int64_t{65536} * 23920);
  // From 0.11 the dummy is a video of min(max_model_len / 16,384, 7) frame pairs, each pair an
  // image's 16,384 tokens: at the model's 128,000 tokens floor(128,000 / 16,384) = 7 pairs (14
  // frames) = 114,688 tokens = 458,752 patches, 458,752 x 37,600 B = 17,249,075,200 B (16.06 GiB).
  const EnginePlan video = plan("vllm@0.19", 128000, 1, 2048);
  REQUIRE(video.encoder);
  CHECK(video.encoder->video);
  CHECK(video.encoder->item_tokens == 114688);
  CHECK(video.encoder->patches == 458752);
  CHECK(video.encoder->peak_bytes == int64_t{17249075200});
  CHECK_FALSE(video.starts);  // an L4's 22 GiB hold the weights and that pass, not a KV cache
  // 32,768 tokens: 2 pairs, 131,072 patches; 8,192: less than a pair, so one image again.
  CHECK(plan("vllm@0.19", 32768, 1, 2048).encoder->patches == 131072);
  CHECK_FALSE(plan("vllm@0.19", 8192, 1, 2048).encoder->video);
  CHECK(plan("vllm@0.19", 8192, 1, 2048).encoder->patches == 65536);
  // max_num_batched_tokens / item tokens items in one call: 65,536 / 16,384 = 4 images.
  CHECK(plan("vllm@0.19", 8192, 1, 65536).encoder->items == 4);
  CHECK(plan("vllm@0.19", 8192, 1, 65536).encoder->patches == 4 * 65536);
  // Model Runner V2 (every dense model's from 0.25) ran no encoder pass before 0.26.
  CHECK_FALSE(plan("vllm@0.25", 8192, 1, 2048).encoder);
  CHECK(plan("vllm@0.25", 8192, 1, 2048, false).encoder);
  CHECK(plan("vllm@0.26", 8192, 1, 2048).encoder);
  // --limit-mm-per-prompt: with video at 0 the item is one image again (65,536 patches); with both
  // at 0, or --skip-mm-profiling, no pass; with images at 0 the video stays.
  const auto limited = [&](std::map<std::string, int64_t> limits, bool skip) {
    MemoryOptions o = test::bf16_options(m);
    o.engine.profile = test::bundled().resolve_engine("vllm@0.19");
    o.engine.limit_mm_per_prompt = limits;
    o.engine.skip_mm_profiling = skip;
    o.prefill_chunk = 2048;
    return plan_engine(m, test::gpu("h100-sxm"), o, 128000).encoder;
  };
  REQUIRE(limited({{"video", 0}}, false));
  CHECK(limited({{"video", 0}}, false)->patches == 65536);
  CHECK_FALSE(limited({{"video", 0}}, false)->video);
  CHECK_FALSE(limited({{"image", 0}, {"video", 0}}, false));
  CHECK_FALSE(limited({}, true));
  REQUIRE(limited({{"image", 0}}, false));
  CHECK(limited({{"image", 0}}, false)->patches == 458752);
  CHECK(limited({{"image", 2}, {"video", 1}}, false)->patches == 458752);  // counts above 0 change nothing here
  // Qwen3.5-27B (vision hidden 1152, a plain GELU MLP of 4304, wider than its QKV's 3456): 2 x (2 x
  // 1152 + 4304) x 2 = 26,432 B a patch, one image of 16,384 tokens (its processor's longest_edge
  // 16,777,216 px / (32 x 32) px a token) = 65,536 patches.
  const Model q35 = test::model("qwen3.5-27b");
  MemoryOptions o = test::bf16_options(q35);
  o.engine.profile = test::bundled().resolve_engine("vllm@0.19");
  o.prefill_chunk = 8192;
  const EnginePlan p35 = plan_engine(q35, test::gpu("h100-sxm"), o, 262144);
  REQUIRE(p35.encoder);
  CHECK_FALSE(p35.encoder->video);
  CHECK(p35.encoder->peak_bytes == int64_t{65536} * 26432);
  // Not modelled: a family the profile does not list (Gemma 3), a vision_config without the
  // processor's largest image, SGLang (which profiles no forward pass).
  const Model gemma = test::model("gemma-3-27b");
  MemoryOptions g = test::bf16_options(gemma);
  g.engine.profile = test::bundled().resolve_engine("vllm@0.19");
  CHECK_FALSE(plan_engine(gemma, test::gpu("h100-sxm"), g, 8192).encoder);
  Model partial = m;
  partial.vision_config->max_image_tokens.reset();
  MemoryOptions pa = test::bf16_options(partial);
  pa.engine.profile = test::bundled().resolve_engine("vllm@0.19");
  CHECK_FALSE(plan_engine(partial, test::gpu("h100-sxm"), pa, 8192).encoder);
  MemoryOptions s = test::bf16_options(m);
  s.engine.profile = test::bundled().resolve_engine("sglang@0.5.19");
  CHECK_FALSE(plan_engine(m, test::gpu("h100-sxm"), s, 8192).encoder);
}
