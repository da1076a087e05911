// kvplan's all-reduce time (core/collectives.h) against published nccl-tests all_reduce_perf tables
// for 8 x H100 / H200 on NVSwitch, 4 x H100 on NVSwitch, and 2 nodes over InfiniBand NDR
// (docs/fleet.md "Checked against published figures"). Each check states how far kvplan is in one
// regime; the bundled presets are not fitted to any row.
#include <catch2/catch.hpp>

#include <cstdint>
#include <vector>

#include "core/collectives.h"
#include "core/parallel.h"
#include "test_helpers.h"

using namespace kvplan;

namespace {

// One nccl-tests row: message bytes and the published time (us) for that size.
struct Row {
  int64_t bytes;
  double time_us;
};

// nccl-tests' bus bandwidth for all-reduce is algbw x 2(n-1)/n, algbw = bytes / time; so
// time = bytes x 2(n-1)/n / busbw (nccl-tests doc/PERFORMANCE.md).
Row from_busbw(int64_t bytes, double busbw_gb_per_s, int64_t ranks) {
  const double factor = 2.0 * static_cast<double>(ranks - 1) / static_cast<double>(ranks);
  return {bytes, static_cast<double>(bytes) * factor / (busbw_gb_per_s * 1e9) * 1e6};
}

constexpr int64_t KiB = 1024;
constexpr int64_t MiB = 1024 * KiB;
constexpr int64_t GiB = 1024 * MiB;

// Azure ND H100 v5 and ND H200 v5 (8 GPUs on NVSwitch, one VM): github.com/Azure/AI-benchmarking-guide,
// "Azure Results/NDv5 Results.md", "NCCL Bandwidth": NCCL_ALGO=NVLS all_reduce_perf -b 8 -e 8G -f 2
// -g 8 (Benchmarks/NVIDIA/NCCLBandwidth.py), in-place busbw in GB/s; NCCL 2.18.5 (H100), 2.20.5 (H200).
// The sizes the table labels 256K, 1M, 33M ... are powers of two.
std::vector<Row> azure_nvls(bool h200) {
  struct B {
    int64_t bytes;
    double h100, h200;
  };
  const B t[] = {
      {256 * KiB, 10.86, 14.75},   {512 * KiB, 21.35, 29.38},   {1 * MiB, 43.70, 52.96},
      {2 * MiB, 81.93, 88.78},     {4 * MiB, 128.73, 138.44},   {8 * MiB, 172.13, 181.94},
      {16 * MiB, 234.45, 240.41},  {32 * MiB, 295.53, 300.91},  {64 * MiB, 361.78, 368.11},
      {128 * MiB, 400.61, 412.45}, {256 * MiB, 423.38, 432.24}, {512 * MiB, 438.46, 442.72},
      {1 * GiB, 466.35, 467.58},   {2 * GiB, 472.36, 472.57},   {4 * GiB, 475.54, 477.41},
      {8 * GiB, 478.87, 479.98},
  };
  std::vector<Row> rows;
  for (const B& b : t) rows.push_back(from_busbw(b.bytes, h200 ? b.h200 : b.h100, 8));
  return rows;
}

// kvplan's time over the published time for one row.
double ratio(double kvplan_s, const Row& r) { return kvplan_s / (r.time_us * 1e-6); }

Parallel node_layout(const Node& n) {
  Parallel p;
  p.gpus_per_node = n.gpus_per_node;
  p.scale_out = n.scale_out;
  p.node = n.id;
  return p;
}

}  // namespace

TEST_CASE("published: 8-GPU NVLS all-reduce on ND H100 v5 / ND H200 v5", "[collectives][published]") {
  for (const char* node_id : {"dgx-h100", "dgx-h200"}) {
    const Node node = kvplan::test::bundled().resolve_node(node_id);
    const Gpu g = kvplan::test::gpu(node.gpu);
    const bool h200 = node.gpu == "h200";
    INFO(node_id);
    for (const Row& r : azure_nvls(h200)) {
      INFO("bytes " << r.bytes << ", published " << r.time_us << " us");
      const double kv = ring_allreduce_s(r.bytes, 8, g, true);
      if (r.bytes >= 256 * MiB) {
        // Bandwidth-bound: within 7% (-5.0% .. +6.7%). Above 1 GiB kvplan is 4-7% slow, as NVLS's
        // in-switch reduction reaches busbw 466-480 GB/s, more than the 450 GB/s line rate the
        // ring formula divides by; at 256-512 MiB kvplan is 1-5% fast.
        CHECK(ratio(kv, r) > 0.93);
        CHECK(ratio(kv, r) < 1.07);
      } else if (r.bytes <= 32 * MiB) {
        // Decode sizes (256 KiB - 32 MiB): kvplan is 0.26-0.71 of the published time (H100),
        // 0.35-0.72 (H200); it is faster at every row.
        CHECK(ratio(kv, r) > 0.25);
        CHECK(ratio(kv, r) < 0.73);
        // What the published time has beyond kvplan's bandwidth term (2(n-1)/n x bytes / 450 GB/s)
        // is 29-68 us, against kvplan's allreduce_latency_s of 10 us: the slope is right, the
        // fixed cost of an eager NVLS call is 3-7x kvplan's.
        const double beyond_us = r.time_us - (kv - g.efficiency.allreduce_latency_s) * 1e6;
        CHECK(beyond_us > 29.0);
        CHECK(beyond_us < 69.0);
      }
    }
  }
}

TEST_CASE("published: 8 x H100 all-reduce at large sizes, default algorithm", "[collectives][published]") {
  // github.com/NVIDIA/nccl-tests/issues/290 (2025-03), single node, 8 x H100 80GB HBM3, default
  // algorithm (NVLS per the maintainer's reply), out-of-place time:
  const std::vector<Row> rows = {{256 * MiB, 1139.2}, {512 * MiB, 2175.8}, {1 * GiB, 4038.8},
                                 {2 * GiB, 8020.3},   {4 * GiB, 15870.0}};
  const Gpu g = kvplan::test::gpu("h100-sxm");
  for (const Row& r : rows) {
    INFO("bytes " << r.bytes);
    // -7.5% at 256 MiB to +5.3% at 4 GiB.
    CHECK(ratio(ring_allreduce_s(r.bytes, 8, g, true), r) > 0.92);
    CHECK(ratio(ring_allreduce_s(r.bytes, 8, g, true), r) < 1.06);
  }
}

TEST_CASE("published: 4 x H100 ring all-reduce", "[collectives][published]") {
  // github.com/waynehacking8/nccl-collectives-bench results/all_reduce.txt: 4 x H100 80GB HBM3 of
  // an 8-GPU NVSwitch board (topology_host.txt: NV18), nccl-tests 2.18.3, NCCL 2.29.2 (its header),
  // default algorithm, which the repo's NCCL_DEBUG logs show is Ring at 4 GPUs; out-of-place time.
  const std::vector<Row> rows = {
      {256 * KiB, 27.69}, {512 * KiB, 28.66}, {1 * MiB, 27.03},   {2 * MiB, 31.27},   {4 * MiB, 43.41},
      {8 * MiB, 62.88},   {16 * MiB, 102.10}, {32 * MiB, 176.20}, {1 * GiB, 4511.11}, {2 * GiB, 8923.11},
      {4 * GiB, 17735.5}, {8 * GiB, 35168.9},
  };
  const Gpu g = kvplan::test::gpu("h100-sxm");
  for (const Row& r : rows) {
    INFO("bytes " << r.bytes);
    const double q = ratio(ring_allreduce_s(r.bytes, 4, g, true), r);
    if (r.bytes >= 1 * GiB) {
      // kvplan is 18.6-20.4% fast: the ring carries 366 GB/s of bus bandwidth, 0.81 of the 450 GB/s
      // NVLink line rate kvplan uses (NCCL's maintainers: ~370 GB/s after the NVLink protocol's
      // overhead, nccl-tests issue #212).
      CHECK(q > 0.79);
      CHECK(q < 0.82);
    } else {
      // Decode sizes: 0.39 (256 KiB) to 0.69 (32 MiB) of the published time.
      CHECK(q > 0.39);
      CHECK(q < 0.70);
    }
  }
}

TEST_CASE("published: 16-GPU all-reduce across two nodes over InfiniBand", "[collectives][published]") {
  // kvplan runs a group larger than a node as one ring at min(scale-up, scale-out) = 50 GB/s.
  const Node node = kvplan::test::bundled().resolve_node("dgx-h100");
  const Gpu g = kvplan::test::gpu(node.gpu);
  const Parallel p = node_layout(node);
  auto kv = [&](int64_t bytes) { return allreduce_s(bytes, 16, g, p, true); };

  // github.com/NVIDIA/nccl-tests/issues/290: 2 x 8 H100 80GB HBM3, ConnectX-7 NDR 400 Gb/s per GPU,
  // Quantum-2 switches; out-of-place time. NCCL_ALGO=RING (the reporter's second run, with the
  // maintainer's suggested settings):
  const std::vector<Row> ring = {{8 * MiB, 407.5},   {16 * MiB, 495.4},  {32 * MiB, 666.0},
                                 {512 * MiB, 11557}, {1 * GiB, 22920},   {2 * GiB, 45157},
                                 {4 * GiB, 89577},   {8 * GiB, 179148}};
  for (const Row& r : ring) {
    INFO("ring, bytes " << r.bytes);
    const double q = ratio(kv(r.bytes), r);
    if (r.bytes >= 512 * MiB) {
      // kvplan is 1.74-1.80x slow: NCCL's ring reaches busbw 87-90 GB/s, not the 50 GB/s of one NIC.
      CHECK(q > 1.73);
      CHECK(q < 1.81);
    } else {
      // 0.81 at 8 MiB, 1.30 at 16 MiB, 1.91 at 32 MiB.
      CHECK(q > 0.80);
      CHECK(q < 1.92);
    }
  }
  // The same cluster, default algorithm (the reporter's first run):
  const std::vector<Row> dflt = {{8 * MiB, 215.3},   {16 * MiB, 262.9}, {32 * MiB, 439.3},
                                 {512 * MiB, 6983.7}, {1 * GiB, 13435},  {2 * GiB, 26301},
                                 {4 * GiB, 52043},    {8 * GiB, 103530}};
  for (const Row& r : dflt) {
    INFO("default, bytes " << r.bytes);
    // 1.53x slow at 8 MiB, 2.45x at 16 MiB, 2.9x at 32 MiB, 2.9-3.1x from 512 MiB.
    CHECK(ratio(kv(r.bytes), r) > 1.5);
    CHECK(ratio(kv(r.bytes), r) < 3.2);
  }

  // github.com/nebius/ml-cookbook runai/README.md, "Example output": 2 x 8 H200 on Nebius (the
  // network is not stated there), default algorithm, out-of-place time.
  const Node node200 = kvplan::test::bundled().resolve_node("dgx-h200");
  const Gpu g200 = kvplan::test::gpu(node200.gpu);
  const Parallel p200 = node_layout(node200);
  const std::vector<Row> nebius = {
      {1 * GiB, 4508.0}, {2 * GiB, 8680.6}, {4 * GiB, 17054}, {8 * GiB, 34104}, {16 * GiB, 67369}};
  for (const Row& r : nebius) {
    INFO("H200, bytes " << r.bytes);
    // kvplan is 8.9-9.6x slow: busbw 447-478 GB/s, the intra-node NVLink rate, not one NIC's.
    CHECK(ratio(allreduce_s(r.bytes, 16, g200, p200, true), r) > 8.9);
    CHECK(ratio(allreduce_s(r.bytes, 16, g200, p200, true), r) < 9.6);
  }
}
