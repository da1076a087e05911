// KV cache placed in a tier slower than HBM (docs/kv-economy.md, "Offload tiers"): host DRAM over
// PCIe, Grace memory over NVLink-C2C, CXL-attached memory, NVMe. Two ways to use the tier:
//   stream: the oldest KV of every sequence lives in the tier and each decode step brings it over
//           the link into an HBM staging buffer that attention reads (a CPU or CXL memory tier);
//   reload: the tier holds cached prefixes; a prefix-cache hit loads its KV back once instead of
//           recomputing its prefill (engines' KV-offload connectors).
// The link is either overlapped with the step (prefetch: layer l+1's KV moves while layer l runs)
// or not (on demand: each layer waits for its KV).
#pragma once

#include <cstdint>
#include <string>

#include "core/kv_cache.h"
#include "core/kv_sharing.h"

namespace kvplan {

enum class OffloadTier { none, cpu, c2c, cxl, nvme };
enum class OffloadMode { stream, reload };
enum class OffloadOverlap { prefetch, on_demand };
const char* name(OffloadTier t);
const char* name(OffloadMode m);
const char* name(OffloadOverlap o);

// The link between a GPU and its host, from the GPU preset (docs/presets.md, host_link).
enum class HostLinkKind { none, pcie, nvlink_c2c };
const char* name(HostLinkKind k);
struct HostLink {
  HostLinkKind kind = HostLinkKind::none;
  int pcie_generation = 0;          // pcie: 3, 4, 5 or 6
  int pcie_lanes = 0;               // pcie: 1..16
  double bytes_per_s = 0;           // host->device rate a copy achieves (measured; 0 = not measured)
  double nominal_bytes_per_s = 0;   // one direction, from the spec (PCIe: from generation and lanes)
  // What offload planning uses: the measured rate, else the nominal one x kPcieEfficiency (PCIe) or
  // the nominal one (NVLink-C2C, no measurement to scale by).
  double achievable_bytes_per_s() const;
};
// PCIe payload bandwidth per direction: lanes x GT/s x encoding / 8 (PCI-SIG: Gen3 8 GT/s, Gen4 16,
// Gen5 32 with 128b/130b; Gen6 64 GT/s with 242/256 FLIT efficiency). Throws for an unknown generation.
double pcie_nominal_bytes_per_s(int generation, int lanes);
// Achieved / nominal of a pinned host->device copy on PCIe Gen5 x16 (54.8e9 / 63.0e9, measured on an
// H200: bench/results/h200_host_link.json): TLP headers and flow control on 256-byte payloads.
inline constexpr double kPcieEfficiency = 0.87;

struct Offload {
  OffloadTier tier = OffloadTier::none;
  OffloadMode mode = OffloadMode::stream;
  OffloadOverlap overlap = OffloadOverlap::prefetch;
  int64_t bytes = 0;             // KV bytes per GPU in the tier; with fraction > 0, unused
  double fraction = 0;           // stream: this fraction of the full-attention KV instead
  double link_bytes_per_s = 0;   // achievable tier -> HBM rate
  double link_nominal_bytes_per_s = 0;  // the link's spec rate (the roofline floor)
  int64_t capacity_bytes = 0;    // the tier's memory per GPU
  bool enabled() const { return tier != OffloadTier::none; }
};

// Where a batch's KV lives under `o` (stream mode; reload leaves HBM as it is).
struct OffloadUse {
  int64_t offloaded_bytes = 0;  // in the tier: the oldest tokens of each sequence's full-attention layers
  int64_t staging_bytes = 0;    // HBM for the layers in flight: 2 layers' share (prefetch), 1 (on demand)
};
// full_kv_bytes: the batch's full-attention KV (the part that grows with context); full_layers: the
// layers holding it. Sliding windows and recurrent state stay in HBM.
OffloadUse offload_use(const Offload& o, int64_t full_kv_bytes, int64_t full_layers);
// The batch's full-attention KV at a point (kv_use over the full-attention term alone).
int64_t full_kv_bytes(const KvTerms& terms, int64_t batch, int64_t context, const KvSharing& s);
// Seconds to move `bytes` over the tier's link.
double link_time_s(const Offload& o, int64_t bytes);
// Throws kvplan::Error for an impossible description: negative or zero sizes, a fraction outside
// (0, 1], more bytes than the tier holds, a link without bandwidth.
void check_offload(const Offload& o);

}  // namespace kvplan

namespace kvplan {

// The tier a GPU reaches: cpu = host memory over the preset's host link (PCIe, or NVLink-C2C on
// Grace parts), c2c = the same where the link is NVLink-C2C; cxl and nvme sit behind the host and
// need their rate and size given (bandwidth_bytes_per_s, capacity_bytes; 0 = not given), their
// rate capped by the host link when the preset has one. Throws kvplan::Error naming what is missing.
Offload resolve_offload(OffloadTier tier, const HostLink& link, int64_t host_memory_bytes, const std::string& gpu_id,
                        double bandwidth_bytes_per_s, int64_t capacity_bytes);

}  // namespace kvplan
