// KV offload tiers (core/offload.h), derived by hand. Llama-3.1-8B in bf16 holds 131,072 B/token
// (32 layers x 8 KV heads x 128 x (K+V) 2 x 2 B, tests/kv_cache_test.cpp); 1M tokens = 2^20, so one
// sequence at 1M holds 2^20 x 2^17 = 2^37 B = 128 GiB.
#include <catch2/catch.hpp>

#include "core/decode.h"
#include "core/error.h"
#include "core/estimate.h"
#include "core/memory.h"
#include "core/offload.h"
#include "core/prefill.h"
#include "io/numbers.h"
#include "test_helpers.h"

using namespace kvplan;
using Catch::Matchers::Contains;
using kvplan::test::gpu;
using kvplan::test::model;

namespace {
constexpr int64_t kGiB = int64_t{1} << 30;
constexpr int64_t k8b = 131072;          // Llama-3.1-8B, B/token
constexpr int64_t k1M = int64_t{1} << 20;

// Host memory over the preset's host link, `bytes` per GPU in the tier.
MemoryOptions offloaded(const Model& m, const Gpu& g, int64_t bytes, OffloadOverlap overlap = OffloadOverlap::prefetch) {
  MemoryOptions o = kvplan::test::bf16_options(m);
  o.offload = resolve_offload(OffloadTier::cpu, g.host_link, g.host_memory_bytes, g.id, 0, 0);
  o.offload.bytes = bytes;
  o.offload.overlap = overlap;
  return o;
}
Offload tier(int64_t bytes, double fraction, OffloadOverlap overlap) {
  Offload o;
  o.tier = OffloadTier::cpu;
  o.bytes = bytes;
  o.fraction = fraction;
  o.overlap = overlap;
  o.link_bytes_per_s = 50e9;
  o.capacity_bytes = 1000 * kGiB;
  return o;
}
}  // namespace

TEST_CASE("offload: PCIe payload bandwidth per direction from generation and lanes", "[offload]") {
  // Gen4 x16: 16 lanes x 16 GT/s x 128/130 / 8 = 31.5077 GB/s.
  CHECK(pcie_nominal_bytes_per_s(4, 16) == Approx(16e9 * 16 * 128 / 130 / 8).epsilon(1e-12));
  CHECK(pcie_nominal_bytes_per_s(4, 16) == Approx(31.5077e9).epsilon(1e-5));
  // Gen5 x16: 16 x 32 GT/s x 128/130 / 8 = 63.0154 GB/s.
  CHECK(pcie_nominal_bytes_per_s(5, 16) == Approx(63.0154e9).epsilon(1e-5));
  // Gen6 x16: 16 x 64 GT/s x 242/256 (FLIT) / 8 = 128e9 x 0.9453125 = 121e9 exactly.
  CHECK(pcie_nominal_bytes_per_s(6, 16) == Approx(121e9).epsilon(1e-12));
  // Gen3 x8: 8 x 8 GT/s x 128/130 / 8 = 7.8769 GB/s.
  CHECK(pcie_nominal_bytes_per_s(3, 8) == Approx(7.8769e9).epsilon(1e-4));
  REQUIRE_THROWS_WITH(pcie_nominal_bytes_per_s(7, 16), Contains("generation must be 3, 4, 5 or 6"));
  REQUIRE_THROWS_WITH(pcie_nominal_bytes_per_s(5, 32), Contains("lanes must be 1 to 16"));
  REQUIRE_THROWS_WITH(pcie_nominal_bytes_per_s(5, 0), Contains("lanes must be 1 to 16"));
}

TEST_CASE("offload: the achievable host-link rate is nominal x 0.87 unless measured", "[offload]") {
  HostLink l;
  l.kind = HostLinkKind::pcie;
  l.nominal_bytes_per_s = pcie_nominal_bytes_per_s(5, 16);
  // 63.0154e9 x 0.87 = 54.8234 GB/s: the efficiency is 54.8 measured / 63.0 nominal.
  CHECK(l.achievable_bytes_per_s() == Approx(54.8234e9).epsilon(1e-5));
  l.bytes_per_s = 50e9;  // measured wins
  CHECK(l.achievable_bytes_per_s() == 50e9);
  HostLink c2c;
  c2c.kind = HostLinkKind::nvlink_c2c;
  c2c.nominal_bytes_per_s = 450e9;  // no measurement to scale by: the nominal rate
  CHECK(c2c.achievable_bytes_per_s() == 450e9);
  CHECK(HostLink{}.achievable_bytes_per_s() == 0);
  // The presets: h100-sxm states PCIe Gen5 x16 unmeasured; h200 the measured 54.8e9.
  CHECK(gpu("h100").host_link.achievable_bytes_per_s() == Approx(54.8234e9).epsilon(1e-5));
  CHECK(gpu("h200").host_link.achievable_bytes_per_s() == 54.8e9);
  CHECK(gpu("h200").host_link.nominal_bytes_per_s == Approx(63.0154e9).epsilon(1e-5));
}

TEST_CASE("offload: resolving a tier from the GPU preset", "[offload]") {
  const Gpu h100 = gpu("h100"), gh200 = gpu("gh200");
  SECTION("cpu: the preset's host link and host memory, or what is given") {
    const Offload o = resolve_offload(OffloadTier::cpu, h100.host_link, h100.host_memory_bytes, h100.id, 0, 0);
    CHECK(o.tier == OffloadTier::cpu);
    CHECK(o.link_bytes_per_s == Approx(54.8234e9).epsilon(1e-5));
    CHECK(o.link_nominal_bytes_per_s == Approx(63.0154e9).epsilon(1e-5));
    CHECK(o.capacity_bytes == 250000000000);  // DGX H100: 2 TB / 8 GPUs
    const Offload given = resolve_offload(OffloadTier::cpu, h100.host_link, h100.host_memory_bytes, h100.id, 20e9, 64 * kGiB);
    CHECK(given.link_bytes_per_s == 20e9);
    CHECK(given.link_nominal_bytes_per_s == 20e9);
    CHECK(given.capacity_bytes == 64 * kGiB);
    // GH200's cpu tier is Grace memory over NVLink-C2C: 450 GB/s each way, 480 GB.
    const Offload grace = resolve_offload(OffloadTier::cpu, gh200.host_link, gh200.host_memory_bytes, gh200.id, 0, 0);
    CHECK(grace.link_bytes_per_s == 450e9);
    CHECK(grace.capacity_bytes == 480000000000);
  }
  SECTION("cpu: a preset without a host link or host memory needs them given") {
    REQUIRE_THROWS_WITH(resolve_offload(OffloadTier::cpu, HostLink{}, 0, "x", 0, 0), Contains("has no host_link"));
    REQUIRE_THROWS_WITH(resolve_offload(OffloadTier::cpu, HostLink{}, 0, "x", 10e9, 0),
                        Contains("states no host_memory_bytes"));
    const Offload o = resolve_offload(OffloadTier::cpu, HostLink{}, 0, "x", 10e9, 8 * kGiB);
    CHECK(o.link_bytes_per_s == 10e9);
    CHECK(o.capacity_bytes == 8 * kGiB);
  }
  SECTION("c2c: only over NVLink-C2C, unless a bandwidth is given") {
    const Offload o = resolve_offload(OffloadTier::c2c, gh200.host_link, gh200.host_memory_bytes, gh200.id, 0, 0);
    CHECK(o.tier == OffloadTier::c2c);
    CHECK(o.link_bytes_per_s == 450e9);
    CHECK(o.link_nominal_bytes_per_s == 450e9);
    CHECK(o.capacity_bytes == 480000000000);
    REQUIRE_THROWS_WITH(resolve_offload(OffloadTier::c2c, h100.host_link, h100.host_memory_bytes, h100.id, 0, 0),
                        Contains("reaches its host over PCIe Gen5 x16, not NVLink-C2C"));
    const Offload given = resolve_offload(OffloadTier::c2c, h100.host_link, h100.host_memory_bytes, h100.id, 100e9, 0);
    CHECK(given.link_bytes_per_s == 100e9);
    CHECK(given.capacity_bytes == 250000000000);
  }
  SECTION("cxl and nvme: both rate and size given, the rate capped by the host link") {
    for (OffloadTier t : {OffloadTier::cxl, OffloadTier::nvme}) {
      REQUIRE_THROWS_WITH(resolve_offload(t, h100.host_link, h100.host_memory_bytes, h100.id, 0, 0),
                          Contains("needs --offload-bandwidth and --offload-capacity"));
      REQUIRE_THROWS_WITH(resolve_offload(t, h100.host_link, h100.host_memory_bytes, h100.id, 20e9, 0),
                          Contains("needs --offload-bandwidth and --offload-capacity"));
      REQUIRE_THROWS_WITH(resolve_offload(t, h100.host_link, h100.host_memory_bytes, h100.id, 0, 512 * kGiB),
                          Contains("needs --offload-bandwidth and --offload-capacity"));
    }
    // 100 GB/s of CXL behind a 54.82 GB/s PCIe link: the link's rate.
    const Offload cxl = resolve_offload(OffloadTier::cxl, h100.host_link, h100.host_memory_bytes, h100.id, 100e9, 512 * kGiB);
    CHECK(cxl.link_bytes_per_s == Approx(54.8234e9).epsilon(1e-5));
    CHECK(cxl.capacity_bytes == 512 * kGiB);  // not the host memory
    // A 7 GB/s NVMe drive is slower than the link: its own rate.
    const Offload nvme = resolve_offload(OffloadTier::nvme, h100.host_link, h100.host_memory_bytes, h100.id, 7e9, 4000 * kGiB);
    CHECK(nvme.link_bytes_per_s == 7e9);
    // No host link described: the given rate as is.
    CHECK(resolve_offload(OffloadTier::nvme, HostLink{}, 0, "x", 7e9, kGiB).link_bytes_per_s == 7e9);
  }
}

TEST_CASE("offload: bytes in the tier and staging in HBM", "[offload]") {
  // 32 full-attention layers holding 1000 x 131,072 = 131,072,000 B.
  const int64_t full = 1000 * k8b;
  SECTION("bytes, capped at the full-attention KV") {
    // 70 GiB asked, 131,072,000 exist: all of it; staging 2 layers' share = 2 x ceil(131,072,000 / 32) = 8,192,000.
    const OffloadUse u = offload_use(tier(70 * kGiB, 0, OffloadOverlap::prefetch), full, 32);
    CHECK(u.offloaded_bytes == 131072000);
    CHECK(u.staging_bytes == 8192000);
    // 100,000,000 B: staging 2 x ceil(100,000,000 / 32) = 2 x 3,125,000; on demand one layer's share.
    CHECK(offload_use(tier(100000000, 0, OffloadOverlap::prefetch), full, 32).staging_bytes == 6250000);
    const OffloadUse d = offload_use(tier(100000001, 0, OffloadOverlap::on_demand), full, 32);
    CHECK(d.offloaded_bytes == 100000001);
    CHECK(d.staging_bytes == 3125001);  // ceil(100,000,001 / 32) = 3,125,001 (rounded up)
  }
  SECTION("a fraction of the full-attention KV") {
    // 40% of 2^37 = 54,975,581,388.8 -> 54,975,581,388; staging 2 x ceil(/32) = 2 x 1,717,986,919.
    const OffloadUse u = offload_use(tier(0, 0.4, OffloadOverlap::prefetch), k1M * k8b, 32);
    CHECK(u.offloaded_bytes == 54975581388);
    CHECK(u.staging_bytes == 3435973838);
    CHECK(offload_use(tier(0, 1.0, OffloadOverlap::prefetch), full, 32).offloaded_bytes == full);
  }
  SECTION("one layer: staging is that layer, not two") {
    CHECK(offload_use(tier(1000, 0, OffloadOverlap::prefetch), full, 1).staging_bytes == 1000);
  }
  SECTION("no tier, reload mode, or no full-attention layer: nothing offloaded") {
    CHECK(offload_use(Offload{}, full, 32).offloaded_bytes == 0);
    Offload r = tier(1000, 0, OffloadOverlap::prefetch);
    r.mode = OffloadMode::reload;
    CHECK(offload_use(r, full, 32).offloaded_bytes == 0);
    CHECK(offload_use(r, full, 32).staging_bytes == 0);
    CHECK(offload_use(tier(1000, 0, OffloadOverlap::prefetch), 0, 0).offloaded_bytes == 0);
  }
  SECTION("check_offload refuses impossible tiers") {
    Offload o = tier(1001 * kGiB, 0, OffloadOverlap::prefetch);
    REQUIRE_THROWS_WITH(check_offload(o), Contains("is larger than the cpu tier"));
    o.bytes = 0;
    REQUIRE_THROWS_WITH(check_offload(o), Contains("needs --offload-bytes"));
    o.fraction = 1.5;
    REQUIRE_THROWS_WITH(check_offload(o), Contains("fraction must be in (0, 100%]"));
    o = tier(kGiB, 0, OffloadOverlap::prefetch);
    o.link_bytes_per_s = 0;
    REQUIRE_THROWS_WITH(check_offload(o), Contains("link has no bandwidth"));
    CHECK_NOTHROW(check_offload(tier(kGiB, 0, OffloadOverlap::prefetch)));
  }
}

TEST_CASE("offload: Llama-3.1-8B at 1M tokens on an H100 with 70 GiB in host memory", "[offload][memory]") {
  const Model m = model("llama-3.1-8b");
  const Gpu g = gpu("h100");
  const MemoryOptions o = offloaded(m, g, 70 * kGiB);
  const MemoryPlan p = plan_memory(m, g, 1, k1M, o);
  // KV 128 GiB = 137,438,953,472; 70 GiB = 75,161,927,680 in the tier; staging 2 x ceil(70 GiB / 32)
  // = 2 x 2,348,810,240 = 4,697,620,480 (4.375 GiB). HBM KV = 128 - 70 + 4.375 = 62.375 GiB = 66,974,646,272.
  CHECK(p.kv_cache_bytes == 128 * kGiB);
  CHECK(p.offload.offloaded_bytes == 70 * kGiB);
  CHECK(p.offload.staging_bytes == 4697620480);
  CHECK(p.kv_cache_bytes - p.offload.offloaded_bytes + p.offload.staging_bytes == 66974646272);
  // total = weights 16,060,522,496 + HBM KV 66,974,646,272 + activations (8192 x 36,864 x 2 + 128,256 x 4
  // = 604,492,800) = 83,639,661,568 > usable 76,968,728,985: 6,670,932,583 short.
  CHECK(p.total_bytes == 83639661568);
  CHECK(p.headroom_bytes == -6670932583);
  CHECK_FALSE(p.fits);
  // The longest context at batch 1: n x 131,072 <= usable - weights - activations + 70 GiB - staging
  // = 76,968,728,985 - 16,060,522,496 - 604,492,800 + 75,161,927,680 - 4,697,620,480 = 130,768,020,889,
  // n = 997,680 (remainder 107,929 < 131,072); 70 GiB is all offloaded there (n x 131,072 > 70 GiB).
  REQUIRE(p.max_context.has_value());
  CHECK(*p.max_context == 997680);
  const MemoryModel mm = memory_model(m, o);
  CHECK(total_bytes(mm, 1, 997680) <= p.usable_bytes);
  CHECK(total_bytes(mm, 1, 997681) > p.usable_bytes);
  CHECK(p.usable_bytes - total_bytes(mm, 1, 997680) == 107929);
  // Without the tier: n x 131,072 <= 60,303,713,689 -> 460,080.
  CHECK(*plan_memory(m, g, 1, k1M, kvplan::test::bf16_options(m)).max_context == 460080);
  // Largest batch at 1M: none fits (batch 1 is already 6.2 GiB over).
  CHECK(p.max_batch == 0);
}

TEST_CASE("offload: the tier's capacity bounds a share of the cache", "[offload][memory]") {
  const Model m = model("llama-3.1-8b");
  const Gpu g = gpu("h100");
  MemoryOptions o = offloaded(m, g, 0);
  o.offload.fraction = 1.0;
  o.offload.capacity_bytes = 64 * kGiB;
  // All the KV offloaded: HBM holds the 2-layer staging only, growing as n x 131,072 x 2/32 = 8,192 n.
  // The tier holds 64 GiB = 524,288 tokens x 131,072: the longest context is 524,288, set by the tier.
  const MemoryPlan p = plan_memory(m, g, 1, 524288, o);
  CHECK(p.fits);
  REQUIRE(p.max_context.has_value());
  CHECK(*p.max_context == 524288);
  Workload w;
  w.context = 524289;
  REQUIRE_THROWS_WITH(estimate(m, g, w, o), Contains("needs more than the cpu tier holds"));
}

TEST_CASE("offload: a sliding-window model offloads only its full-attention layers' KV", "[offload][memory]") {
  // gpt-oss-20b: 24 layers alternating sliding (128 tokens) and full, 8 KV heads x 64 x 2 x 2 B = 2,048 B/token
  // per layer. Full attention: 12 layers x 2,048 = 24,576 B/token; sliding: 12 x 128 x 2,048 = 3,145,728 B per sequence.
  const Model m = model("gpt-oss-20b");
  const Gpu g = gpu("h100");
  MemoryOptions o = offloaded(m, g, 0);
  o.offload.fraction = 1.0;
  const MemoryModel mm = memory_model(m, o);
  CHECK(mm.full_kv_layers == 12);
  CHECK(mm.kv.full_bytes_per_token == 24576);
  const MemoryPlan p = plan_memory(m, g, 2, 100000, o);
  // Two sequences at 100,000 tokens: full KV 2 x 2,457,600,000 = 4,915,200,000, all in the tier; the windows
  // 2 x 3,145,728 = 6,291,456 stay. Staging 2 x ceil(4,915,200,000 / 12) = 2 x 409,600,000.
  CHECK(p.kv_cache_bytes == 4915200000 + 6291456);
  CHECK(p.offload.offloaded_bytes == 4915200000);
  CHECK(p.offload.staging_bytes == 819200000);
  // Bytes past the full-attention KV are capped there: the windows never move.
  const MemoryOptions big = offloaded(m, g, 200 * kGiB);
  CHECK(plan_memory(m, g, 2, 100000, big).offload.offloaded_bytes == 4915200000);
}

TEST_CASE("offload: decode step times over the H200's measured host link", "[offload][decode]") {
  const Model m = model("llama-3.1-8b");
  const Gpu g = gpu("h200");
  const DecodeStep plain = decode_step(m, g, 1, k1M, kvplan::test::bf16_options(m));
  SECTION("70 GiB: the link dominates") {
    const DecodeStep s = decode_step(m, g, 1, k1M, offloaded(m, g, 70 * kGiB));
    REQUIRE(s.offload.has_value());
    const DecodeOffload& o = *s.offload;
    CHECK(o.link_bytes == 70 * kGiB);
    CHECK(o.transfers == 32);  // one per full-attention layer
    // 75,161,927,680 / 54.8e9 = 1.371568 s + 32 copies x 2.6 us (the h200 preset's kernel_overhead_s)
    // = 1.371651 s.
    CHECK(o.link_time_s == Approx(75161927680.0 / 54.8e9 + 32 * 2.6e-6).epsilon(1e-12));
    CHECK(o.link_time_s == Approx(1.371651).epsilon(1e-6));
    // The rest of the step is the step without a tier (attention reads the staged KV from HBM).
    CHECK(o.step_without_s == Approx(plain.time_s).epsilon(1e-12));
    CHECK(o.step_without_s < o.link_time_s);
    // Prefetch: the link plus one layer's share of the rest (the pipeline fill); on demand: both.
    CHECK(o.step_prefetch_s == Approx(o.link_time_s + plain.time_s / 32).epsilon(1e-12));
    CHECK(o.step_on_demand_s == Approx(o.link_time_s + plain.time_s).epsilon(1e-12));
    CHECK(s.time_s == Approx(o.step_prefetch_s).epsilon(1e-12));
    CHECK(s.bound == Bound::link);
    CHECK(s.tokens_per_s == Approx(1 / o.step_prefetch_s).epsilon(1e-12));
    // The kv_offload component is the time the link adds.
    CHECK(s.components.back().name == std::string("kv_offload"));
    CHECK(s.components.back().time_s == Approx(o.step_prefetch_s - plain.time_s).epsilon(1e-9));
    const DecodeStep d = decode_step(m, g, 1, k1M, offloaded(m, g, 70 * kGiB, OffloadOverlap::on_demand));
    CHECK(d.time_s == Approx(o.link_time_s + plain.time_s).epsilon(1e-12));
  }
  SECTION("1 GiB: the link hides under the step") {
    const DecodeStep s = decode_step(m, g, 1, k1M, offloaded(m, g, kGiB));
    REQUIRE(s.offload.has_value());
    // 1,073,741,824 / 54.8e9 = 19.594 ms + 0.083 ms, under the ~30 ms of reading 128 GiB of KV from HBM.
    CHECK(s.offload->link_time_s == Approx(1073741824.0 / 54.8e9 + 32 * 2.6e-6).epsilon(1e-12));
    REQUIRE(s.offload->link_time_s < plain.time_s);
    CHECK(s.time_s == Approx(plain.time_s + s.offload->link_time_s / 32).epsilon(1e-12));
    CHECK(s.bound == plain.bound);
    CHECK(s.bound == Bound::memory);
  }
  SECTION("no tier: no offload block") { CHECK_FALSE(plain.offload.has_value()); }
}

TEST_CASE("offload: reload mode loads a cached prefix's KV instead of recomputing it", "[offload][prefill]") {
  const Model m = model("llama-3.1-8b");
  const Gpu g = gpu("h200");
  MemoryOptions base = kvplan::test::bf16_options(m);
  base.sharing.prefix_hit_rate = 0.5;
  MemoryOptions o = offloaded(m, g, 200 * kGiB);
  o.offload.mode = OffloadMode::reload;
  o.sharing.prefix_hit_rate = 0.5;
  const PrefillResult plain = prefill(m, g, 1, 100000, base);
  const PrefillResult r = prefill(m, g, 1, 100000, o);
  // floor(0.5 x 100,000) = 50,000 cached tokens x 131,072 B = 6,553,600,000 B over 54.8 GB/s = 0.119591 s.
  CHECK(r.cached == 50000);
  CHECK(r.load_bytes == 6553600000);
  CHECK(r.load_time_s == Approx(6553600000.0 / 54.8e9).epsilon(1e-12));
  CHECK(r.load_time_s == Approx(0.119591).epsilon(1e-5));
  // Prefetched layer by layer under the 50,000 computed tokens' work (32 layers).
  CHECK(r.time_s == Approx(std::max(plain.time_s, r.load_time_s) + std::min(plain.time_s, r.load_time_s) / 32)
                        .epsilon(1e-12));
  // A batch of 4 loads 4 prefixes.
  CHECK(prefill(m, g, 4, 100000, o).load_bytes == 4 * 6553600000);
  o.offload.overlap = OffloadOverlap::on_demand;
  CHECK(prefill(m, g, 1, 100000, o).time_s == Approx(plain.time_s + r.load_time_s).epsilon(1e-12));
  // Reload leaves HBM as it is: nothing offloaded or staged.
  const MemoryPlan p = plan_memory(m, g, 1, 100000, o);
  CHECK(p.offload.offloaded_bytes == 0);
  CHECK(p.offload.staging_bytes == 0);
  CHECK(p.total_bytes == plan_memory(m, g, 1, 100000, base).total_bytes);
  // Decode is untouched.
  CHECK_FALSE(decode_step(m, g, 1, 100000, o).offload.has_value());
  SECTION("a sliding window reloads only the window") {
    // gpt-oss-20b: 12 full layers x 2,048 x 50,000 = 1,228,800,000 + 12 sliding x 2,048 x 128 = 3,145,728.
    const Model s = model("gpt-oss-20b");
    MemoryOptions so = offloaded(s, g, 200 * kGiB);
    so.offload.mode = OffloadMode::reload;
    so.sharing.prefix_hit_rate = 0.5;
    CHECK(prefill(s, g, 1, 100000, so).load_bytes == 1228800000 + 3145728);
  }
}

TEST_CASE("offload: what the workload checks refuse", "[offload]") {
  const Model m = model("llama-3.1-8b");
  const Gpu g = gpu("h100");
  Workload w;
  w.context = 100000;
  SECTION("more than the tier holds") {
    const MemoryOptions o = offloaded(m, g, 300 * kGiB);  // the DGX H100 has 250e9 per GPU
    REQUIRE_THROWS_WITH(estimate(m, g, w, o), Contains("is larger than the cpu tier (250000000000 bytes per GPU)"));
  }
  SECTION("under a serving engine") {
    MemoryOptions o = offloaded(m, g, kGiB);
    o.engine.profile = test::bundled().resolve_engine("vllm");
    REQUIRE_THROWS_WITH(estimate(m, g, w, o), Contains("use it with --engine ideal"));
  }
  SECTION("stream mode with a shared prefix, branches or a bounded cache") {
    MemoryOptions o = offloaded(m, g, kGiB);
    o.sharing.shared_prefix = 1000;
    REQUIRE_THROWS_WITH(estimate(m, g, w, o), Contains("not combined with a shared prefix, branches or a bounded cache"));
    o.sharing.shared_prefix = 0;
    o.sharing.branches = 4;
    o.sharing.trunk = 1000;
    REQUIRE_THROWS_WITH(estimate(m, g, w, o), Contains("not combined with a shared prefix, branches or a bounded cache"));
    o.sharing.branches = 1;
    o.sharing.trunk = 0;
    o.cache.policy = parse_cache_policy("budget:4096", "--cache-policy");
    REQUIRE_THROWS_WITH(estimate(m, g, w, o), Contains("not combined with a shared prefix, branches or a bounded cache"));
    // Reload mode with a shared prefix is fine: the tier holds prefixes.
    o.cache.policy = CachePolicy{};
    o.sharing.shared_prefix = 1000;
    o.sharing.prefix_hit_rate = 0.5;
    o.offload.mode = OffloadMode::reload;
    o.offload.bytes = 100 * kGiB;  // the 50,000 cached tokens' 6,553,600,000 B fit
    CHECK(estimate(m, g, w, o).prefill.load_bytes == 6553600000);
  }
  SECTION("stream mode with a speculative drafter") {
    // The drafter's own DecodeModel would size its offload from the drafter's KV again (its layers
    // are already in the target's memory plan): refused until the drafter's link reads are modelled.
    MemoryOptions o = offloaded(m, g, kGiB);
    o.engine.speculative_method = "draft_model";
    o.engine.num_speculative_tokens = 3;
    o.engine.draft = std::make_shared<const Model>(model("llama-3.1-8b"));
    o.engine.acceptance = Acceptance{AcceptanceKind::rate, 0.5};
    REQUIRE_THROWS_WITH(estimate(m, g, w, o), Contains("stream offload with a speculative drafter is not modelled yet"));
  }
  SECTION("reload without a prefix hit rate, or as a share") {
    MemoryOptions o = offloaded(m, g, kGiB);
    o.offload.mode = OffloadMode::reload;
    REQUIRE_THROWS_WITH(estimate(m, g, w, o), Contains("give the hit rate"));
    o.sharing.prefix_hit_rate = 0.5;
    o.offload.bytes = 0;
    o.offload.fraction = 0.4;
    REQUIRE_THROWS_WITH(estimate(m, g, w, o), Contains("not as a share"));
  }
  SECTION("reload: a prefix larger than the tier's prefix cache") {
    // floor(0.5 x 100,000) = 50,000 tokens x 131,072 = 6,553,600,000 B > 6,553,599,999.
    MemoryOptions o = offloaded(m, g, 6553599999);
    o.offload.mode = OffloadMode::reload;
    o.sharing.prefix_hit_rate = 0.5;
    REQUIRE_THROWS_WITH(estimate(m, g, w, o), Contains("6553600000 bytes of KV, more than the tier's prefix cache holds"));
    o.offload.bytes = 6553600000;
    CHECK(estimate(m, g, w, o).prefill.load_bytes == 6553600000);
  }
  SECTION("a model without full-attention KV has nothing to offload") {
    const Model mamba = model("mamba-2.8b");
    REQUIRE_THROWS_WITH(estimate(mamba, g, w, offloaded(mamba, g, kGiB)), Contains("nothing to offload: mamba-2.8b"));
  }
}
