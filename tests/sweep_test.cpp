#include <catch2/catch.hpp>

#include <set>

#include "core/error.h"
#include "core/sweep.h"
#include "io/registry.h"
#include "report/sweep_rows.h"

using namespace kvplan;

namespace {
const Registry& registry() {
  static const Registry r = Registry::load("");
  return r;
}

SweepCase make_case(const std::string& model_id, const std::string& gpu_id, int64_t tp = 1,
                    std::optional<DType> kv = std::nullopt) {
  const Model m = registry().resolve_model(model_id);
  MemoryOptions o;
  o.weights = weight_dtypes(m);
  o.cache.kv_dtype = kv.value_or(m.dtype);
  o.cache.state_dtype = m.dtype;
  o.cache.tp = tp;
  return {m, registry().resolve_gpu(gpu_id), o};
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    const size_t end = text.find('\n', start);
    out.push_back(text.substr(start, end - start + 1));
    start = end + 1;
  }
  return out;
}

std::string run(const std::vector<SweepCase>& cases, const SweepAxes& axes, RowFormat format,
                const std::vector<std::string>& columns = {}) {
  std::string out;
  write_sweep(cases, axes, format, columns, [&](const std::string& chunk) { out += chunk; });
  return out;
}
}  // namespace

TEST_CASE("sweep: the CSV header is estimate's JSON keys, in order", "[sweep]") {
  const SweepCase c = make_case("llama-3.1-8b", "h100-sxm");
  const Estimate e = estimate(c.model, c.gpu, Workload{4, 2048, 0, 0}, c.options);
  std::string want;
  for (const auto& [key, value] : flatten(to_json(e))) want += (want.empty() ? "" : ",") + key;
  const std::string csv = run({c}, {{2048}, {4}, 0, 0}, RowFormat::csv);
  CHECK(lines(csv).at(0) == want + "\n");
  CHECK(RowWriter(RowFormat::csv, e).header() == csv_header(to_json(e)));
}

TEST_CASE("sweep: every row equals estimate's CSV and JSON, byte for byte", "[sweep]") {
  // Full attention, sliding windows, Mamba, a hybrid, MLA + MoE under tp, and a price-less GPU.
  const std::vector<SweepCase> cases = {make_case("llama-3.1-8b", "h100-sxm"),
                                        make_case("gemma-2-9b", "l4", 1, DType::fp8_e4m3),
                                        make_case("mamba2-2.7b", "a10g"),
                                        make_case("jamba-v0.1", "h100-sxm", 2),
                                        make_case("deepseek-v3", "h200", 8),
                                        make_case("mixtral-8x7b", "a100-80gb", 2)};
  // Contexts and batches reach far past what fits: non-fitting rows must be there too.
  const SweepAxes axes{{1, 1000, 4096, 131072, 1048576}, {1, 3, 64, 4096}, 0, 128};
  const std::vector<std::string> csv = lines(run(cases, axes, RowFormat::csv));
  const std::vector<std::string> jsonl = lines(run(cases, axes, RowFormat::jsonl));
  REQUIRE(csv.size() == 1 + cases.size() * 5 * 4);
  REQUIRE(jsonl.size() == cases.size() * 5 * 4);
  size_t row = 0, not_fitting = 0;
  for (const SweepCase& c : cases)
    for (int64_t context : axes.contexts)
      for (int64_t batch : axes.batches) {
        const Estimate e = estimate(c.model, c.gpu, Workload{batch, context, 0, 128}, c.options);
        INFO(c.model.id << " batch " << batch << " context " << context);
        CHECK(csv.at(1 + row) == csv_row(to_json(e)));
        CHECK(jsonl.at(row) == to_json(e).dump() + "\n");
        not_fitting += e.memory.fits ? 0 : 1;
        ++row;
      }
  CHECK(not_fitting > 10);
}

TEST_CASE("sweep: SweepModel equals estimate() under an engine too", "[sweep]") {
  SweepCase c = make_case("gemma-3-27b", "h100-sxm");
  c.options.engine.profile = registry().resolve_engine("vllm@0.19");
  SweepModel sm(c.model, c.gpu, c.options);
  for (const auto& [batch, context] : std::vector<std::pair<int64_t, int64_t>>{{8, 4096}, {1, 8192}, {8, 100}, {8, 4096}}) {
    const Estimate e = estimate(c.model, c.gpu, Workload{batch, context, 512, 0}, c.options);
    CHECK(to_json(sm.at(Workload{batch, context, 512, 0})) == to_json(e));
  }
  // The engine's max_model_len is each point's context (no --max-model-len given).
  const std::string csv = run({c}, {{1024, 8192}, {1, 64}, 0, 0}, RowFormat::csv, {"engine.max_model_len"});
  CHECK(csv == "engine.max_model_len\n1024\n1024\n8192\n8192\n");
}

TEST_CASE("sweep: SweepModel equals estimate() however the points are visited", "[sweep]") {
  const SweepCase c = make_case("gemma-3-27b", "h100-sxm");
  SweepModel sm(c.model, c.gpu, c.options);
  for (const auto& [batch, context] : std::vector<std::pair<int64_t, int64_t>>{{8, 4096}, {1, 4096}, {8, 100}, {8, 4096}}) {
    const Estimate e = estimate(c.model, c.gpu, Workload{batch, context, 512, 0}, c.options);
    CHECK(to_json(sm.at(Workload{batch, context, 512, 0})) == to_json(e));
  }
}

TEST_CASE("sweep: non-fitting rows are kept and marked", "[sweep]") {
  const SweepCase c = make_case("llama-3.1-70b", "h100-sxm");  // 131 GiB of weights on an 80 GiB GPU
  const std::string csv = run({c}, {{1024, 2048}, {1, 2, 4}, 0, 0}, RowFormat::csv,
                              {"workload.batch", "workload.context", "memory.fits"});
  CHECK(csv ==
        "workload.batch,workload.context,memory.fits\n"
        "1,1024,false\n2,1024,false\n4,1024,false\n1,2048,false\n2,2048,false\n4,2048,false\n");
}

TEST_CASE("sweep: selected columns, in the order asked, also as flat JSONL", "[sweep]") {
  const SweepCase c = make_case("llama-3.1-8b", "h100-sxm");
  const Estimate e = estimate(c.model, c.gpu, Workload{2, 1024, 0, 0}, c.options);
  const std::string jsonl = run({c}, {{1024}, {2}, 0, 0}, RowFormat::jsonl, {"memory.kv_cache_bytes", "model.id"});
  CHECK(jsonl == "{\"memory.kv_cache_bytes\":" + std::to_string(e.memory.kv_cache_bytes) + ",\"model.id\":\"llama-3.1-8b\"}\n");
  CHECK_THROWS_WITH(RowWriter(RowFormat::csv, e, {"memory.kv_cache_byte"}),
                    "--columns: unknown column 'memory.kv_cache_byte' (the columns are estimate's JSON keys, dotted); "
                    "did you mean 'memory.kv_cache_bytes'?");
}

TEST_CASE("sweep: every varying key is a key of estimate's JSON", "[sweep]") {
  const SweepCase c = make_case("llama-3.1-8b", "h100-sxm");
  std::set<std::string> keys;
  for (const auto& [k, v] : flatten(to_json(estimate(c.model, c.gpu, Workload{1, 1, 0, 0}, c.options)))) keys.insert(k);
  for (const std::string& k : RowWriter::varying_keys()) CHECK(keys.count(k) == 1);
}

TEST_CASE("sweep: a bad combination fails before any output", "[sweep]") {
  bool wrote = false;
  CHECK_THROWS_AS(write_sweep({make_case("llama-3.1-8b", "h100-sxm"), make_case("llama-3.1-8b", "h100-sxm", 3)},
                              {{1024}, {1}, 0, 0}, RowFormat::csv, {}, [&](const std::string&) { wrote = true; }),
                  Error);
  CHECK_FALSE(wrote);
}

TEST_CASE("sweep: rows equal estimate() with paged sharing and branches", "[sweep][sharing]") {
  // Sliding windows and full attention (Gemma 2), a 1,024-token trunk forked 4 ways, a 512-token
  // prefix every request shares, paged in blocks of 16.
  SweepCase c = make_case("gemma-2-9b", "h100-sxm");
  c.options.sharing.allocation = Allocation::paged;
  c.options.sharing.shared_prefix = 512;
  c.options.sharing.trunk = 1024;
  c.options.sharing.branches = 4;
  const SweepAxes axes{{1024, 3000, 8192}, {1, 7, 64}, 0, 0};
  const std::vector<std::string> jsonl = lines(run({c}, axes, RowFormat::jsonl));
  REQUIRE(jsonl.size() == 9);
  size_t row = 0;
  for (int64_t context : axes.contexts)
    for (int64_t batch : axes.batches) {
      const Estimate e = estimate(c.model, c.gpu, Workload{batch, context, 0, 0}, c.options);
      INFO("batch " << batch << " context " << context);
      CHECK(jsonl.at(row++) == to_json(e).dump() + "\n");
      CHECK(e.memory.kv.sequences == 4 * batch);
      CHECK(e.decode.bytes > 0);
    }
  // A prefix longer than a point's context is that point's error, before any output.
  SweepAxes short_context{{256}, {1}, 0, 0};
  CHECK_THROWS_AS(run({c}, short_context, RowFormat::csv), Error);
}

TEST_CASE("sweep: rows equal estimate() with speculative decoding", "[sweep][speculative]") {
  // An EAGLE-3 head (the ideal engine counts its weights and KV) and an ngram drafter under vLLM.
  for (const char* engine : {"ideal", "vllm@0.19"}) {
    SweepCase c = make_case("llama-3.1-8b", "h100-sxm");
    c.options.engine.profile = registry().resolve_engine(engine);
    const std::string method = std::string(engine) == "ideal" ? "eagle3" : "ngram";
    c.options.engine.speculative_method = method;
    c.options.engine.num_speculative_tokens = 3;
    c.options.engine.draft = speculative_drafter(c.model, method, std::nullopt);
    c.options.engine.acceptance = Acceptance{AcceptanceKind::rate, 0.5};
    SweepModel sm(c.model, c.gpu, c.options);
    for (const auto& [batch, context] : std::vector<std::pair<int64_t, int64_t>>{{8, 512}, {1, 4096}, {300, 512}, {8, 512}}) {
      INFO(engine << " batch " << batch << " context " << context);
      const Estimate e = estimate(c.model, c.gpu, Workload{batch, context, 256, 0}, c.options);
      REQUIRE(e.speculative);
      CHECK(to_json(sm.at(Workload{batch, context, 256, 0})) == to_json(e));
    }
  }
}
