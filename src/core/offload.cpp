#include "core/offload.h"

#include <cmath>

#include "core/checked.h"
#include "core/error.h"

namespace kvplan {

const char* name(OffloadTier t) {
  switch (t) {
    case OffloadTier::none: return "none";
    case OffloadTier::cpu: return "cpu";
    case OffloadTier::c2c: return "c2c";
    case OffloadTier::cxl: return "cxl";
    case OffloadTier::nvme: return "nvme";
  }
  return "?";
}

const char* name(OffloadMode m) {
  switch (m) {
    case OffloadMode::stream: return "stream";
    case OffloadMode::reload: return "reload";
  }
  return "?";
}

const char* name(OffloadOverlap o) {
  switch (o) {
    case OffloadOverlap::prefetch: return "prefetch";
    case OffloadOverlap::on_demand: return "on-demand";
  }
  return "?";
}

const char* name(HostLinkKind k) {
  switch (k) {
    case HostLinkKind::none: return "none";
    case HostLinkKind::pcie: return "pcie";
    case HostLinkKind::nvlink_c2c: return "nvlink-c2c";
  }
  return "?";
}

double pcie_nominal_bytes_per_s(int generation, int lanes) {
  if (lanes < 1 || lanes > 16) throw Error("PCIe lanes must be 1 to 16, not " + std::to_string(lanes));
  double gt_per_s = 0, encoding = 0;
  switch (generation) {
    case 3: gt_per_s = 8e9; encoding = 128.0 / 130.0; break;
    case 4: gt_per_s = 16e9; encoding = 128.0 / 130.0; break;
    case 5: gt_per_s = 32e9; encoding = 128.0 / 130.0; break;
    case 6: gt_per_s = 64e9; encoding = 242.0 / 256.0; break;
    default: throw Error("PCIe generation must be 3, 4, 5 or 6, not " + std::to_string(generation));
  }
  return static_cast<double>(lanes) * gt_per_s * encoding / 8.0;
}

double HostLink::achievable_bytes_per_s() const {
  if (bytes_per_s > 0) return bytes_per_s;
  switch (kind) {
    case HostLinkKind::none: return 0;
    case HostLinkKind::pcie: return nominal_bytes_per_s * kPcieEfficiency;
    case HostLinkKind::nvlink_c2c: return nominal_bytes_per_s;
  }
  return 0;
}

int64_t full_kv_bytes(const KvTerms& terms, int64_t batch, int64_t context, const KvSharing& s) {
  KvTerms full;
  full.full_bytes_per_token = terms.full_bytes_per_token;
  return kv_use(full, batch, context, s).total_bytes;
}

OffloadUse offload_use(const Offload& o, int64_t full_kv, int64_t full_layers) {
  OffloadUse u;
  if (!o.enabled() || o.mode != OffloadMode::stream || full_layers < 1) return u;
  u.offloaded_bytes = o.fraction > 0 ? static_cast<int64_t>(std::floor(o.fraction * static_cast<double>(full_kv)))
                                     : std::min(o.bytes, full_kv);
  const int64_t staged_layers = o.overlap == OffloadOverlap::prefetch ? 2 : 1;
  u.staging_bytes = mul(std::min(staged_layers, full_layers), ceil_div(u.offloaded_bytes, full_layers));
  return u;
}

double link_time_s(const Offload& o, int64_t bytes) {
  return o.link_bytes_per_s > 0 ? static_cast<double>(bytes) / o.link_bytes_per_s : 0;
}

void check_offload(const Offload& o) {
  if (!o.enabled()) return;
  if (o.bytes < 0) throw Error("offload bytes must not be negative");
  if (o.fraction < 0 || o.fraction > 1) throw Error("an offloaded fraction must be in (0, 100%]");
  if (o.bytes == 0 && o.fraction == 0)
    throw Error(std::string("--offload ") + name(o.tier) + " needs --offload-bytes: the KV bytes per GPU to place there");
  if (!(o.link_bytes_per_s > 0)) throw Error(std::string("the ") + name(o.tier) + " tier's link has no bandwidth");
  if (o.capacity_bytes <= 0) throw Error(std::string("the ") + name(o.tier) + " tier's capacity is unknown");
  if (o.bytes > o.capacity_bytes)
    throw Error("offload of " + std::to_string(o.bytes) + " bytes is larger than the " + name(o.tier) + " tier (" +
                std::to_string(o.capacity_bytes) + " bytes per GPU)");
}

}  // namespace kvplan

namespace kvplan {

Offload resolve_offload(OffloadTier tier, const HostLink& link, int64_t host_memory_bytes, const std::string& gpu_id,
                        double bandwidth, int64_t capacity) {
  Offload o;
  o.tier = tier;
  const double host_rate = link.achievable_bytes_per_s();
  const std::string link_name = link.kind == HostLinkKind::pcie ? "PCIe Gen" + std::to_string(link.pcie_generation) +
                                                                     " x" + std::to_string(link.pcie_lanes)
                                                                : std::string(name(link.kind));
  switch (tier) {
    case OffloadTier::none: return o;
    case OffloadTier::c2c:
      if (link.kind != HostLinkKind::nvlink_c2c && !(bandwidth > 0))
        throw Error("GPU preset '" + gpu_id + "' reaches its host over " +
                    (link.kind == HostLinkKind::none ? std::string("a link it does not describe") : link_name) +
                    ", not NVLink-C2C: use --offload cpu, or give --offload-bandwidth");
      [[fallthrough]];
    case OffloadTier::cpu:
      if (bandwidth > 0) {
        o.link_bytes_per_s = o.link_nominal_bytes_per_s = bandwidth;
      } else if (link.kind != HostLinkKind::none) {
        o.link_bytes_per_s = host_rate;
        o.link_nominal_bytes_per_s = link.nominal_bytes_per_s;
      } else {
        throw Error("GPU preset '" + gpu_id + "' has no host_link: give --offload-bandwidth (bytes/s to the host)");
      }
      o.capacity_bytes = capacity > 0 ? capacity : host_memory_bytes;
      if (o.capacity_bytes <= 0)
        throw Error("GPU preset '" + gpu_id + "' states no host_memory_bytes: give --offload-capacity (host memory per GPU)");
      return o;
    case OffloadTier::cxl:
    case OffloadTier::nvme:
      if (!(bandwidth > 0) || capacity <= 0)
        throw Error(std::string("--offload ") + name(tier) + " needs --offload-bandwidth and --offload-capacity: the " +
                    name(tier) + " device's read rate and size per GPU (no preset describes them)");
      o.link_bytes_per_s = o.link_nominal_bytes_per_s = host_rate > 0 ? std::min(bandwidth, host_rate) : bandwidth;
      o.capacity_bytes = capacity;
      return o;
  }
  return o;
}

}  // namespace kvplan
