#include "report/list_report.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "core/params.h"
#include "report/estimate_report.h"
#include "report/format.h"

namespace kvplan {

namespace {

// Column widths: the longest id / name plus two spaces (ids and names are never cut).
template <typename Entry, typename Name>
std::pair<size_t, size_t> widths(const std::vector<Entry>& entries, Name name_of) {
  size_t id_w = 2, name_w = 4;
  for (const Entry& e : entries) {
    id_w = std::max(id_w, e.id.size());
    name_w = std::max(name_w, name_of(e).size());
  }
  return {id_w + 2, name_w + 2};
}

// A table, or the rows as JSON or CSV.
std::string render_rows(const Json& rows, const std::string& table, const std::string& format) {
  if (format == "json") return json_text(rows);
  if (format == "csv") return render_csv(std::vector<Json>(rows.begin(), rows.end()));
  return table;
}

}  // namespace

std::string render_model_list(const std::vector<ListedModel>& models, const std::string& format) {
  Json rows = Json::array();
  const auto [iw, nw] = widths(models, [](const ListedModel& e) { return e.model.name; });
  std::string table = fmt::format("{:<{}}{:<{}}{:>10}{:>10}{:>8}  {}\n", "id", iw, "name", nw, "params", "active", "layers", "kinds");
  for (const auto& [id, m] : models) {
    const ParamCounts p = count_params(m);
    std::map<std::string, int> kinds;
    for (const auto& l : m.layers) kinds[name(kind_of(l))]++;
    std::string k;
    for (const auto& [kind, n] : kinds) k += fmt::format("{}{} {}", k.empty() ? "" : ", ", n, kind);
    rows.push_back({{"id", id}, {"name", m.name}, {"params", p.total}, {"active_params", p.active},
                    {"num_layers", m.layers.size()}, {"dtype", name(m.dtype)}});
    table += fmt::format("{:<{}}{:<{}}{:>10}{:>10}{:>8}  {}\n", id, iw, m.name, nw, human_count(p.total),
                         human_count(p.active), m.layers.size(), k);
  }
  if (format == "ids") {
    std::vector<std::string> ids;
    for (const auto& [id, m] : models) ids.push_back(id);
    return render_id_list(ids);
  }
  return render_rows(rows, table, format);
}

std::string render_id_list(const std::vector<std::string>& ids) {
  std::string out;
  for (const std::string& id : ids) out += id + "\n";
  return out;
}

std::string render_gpu_list(const std::vector<ListedGpu>& gpus, const std::string& format) {
  Json rows = Json::array();
  const auto [iw, nw] = widths(gpus, [](const ListedGpu& e) { return e.gpu.name; });
  std::string table =
      fmt::format("{:<{}}{:<{}}{:>10}{:>8}{:>11}{:>8}\n", "id", iw, "name", nw, "memory", "TB/s", "bf16 TF/s", "$/hour");
  std::vector<std::string> ids;  // each id, then its aliases
  for (const auto& [id, g] : gpus) {
    ids.push_back(id);
    ids.insert(ids.end(), g.aliases.begin(), g.aliases.end());
    rows.push_back({{"id", id}, {"name", g.name}, {"memory_bytes", g.memory_bytes},
                    {"memory_bandwidth_bytes_per_s", g.memory_bandwidth_bytes_per_s},
                    {"peak_bf16_flops", g.peak_flops_for(DType::bf16)}, {"usd_per_gpu_hour", g.price.usd_per_gpu_hour}});
    std::string alias;
    for (const auto& a : g.aliases) alias += " (" + a + ")";
    table += fmt::format("{:<{}}{:<{}}{:>10}{:>8.2f}{:>11.0f}{:>8}\n", id, iw, g.name, nw, gib(g.memory_bytes),
                         g.memory_bandwidth_bytes_per_s / 1e12, g.peak_flops_for(DType::bf16) / 1e12,
                         g.price.usd_per_gpu_hour > 0 ? fmt::format("{:.2f}", g.price.usd_per_gpu_hour) : "-");
  }
  if (format == "ids") return render_id_list(ids);
  return render_rows(rows, table, format);
}

std::string render_engine_list(const std::vector<EngineProfile>& profiles, const std::string& format) {
  Json rows = Json::array();
  const auto id_of = [](const EngineProfile& p) { return std::string(name(p.kind)) + "@" + p.version; };
  size_t iw = 16, rw = 10;  // the id and releases columns, as wide as their longest entry
  for (const EngineProfile& p : profiles) {
    iw = std::max(iw, id_of(p).size() + 1);
    size_t w = 0;
    for (const auto& v : p.releases) w += v.size() + 2;
    rw = std::max(rw, w + 1);
  }
  std::string table =
      fmt::format("{:<{}}{:<9}{:<{}}{}\n", "engine", iw, "default", "releases", rw, "kv_cache_dtype values");
  std::vector<std::string> ids;  // each engine (its default profile), then engine@version for each profile
  std::set<EngineKind> named;
  for (const EngineProfile& p : profiles) {
    if (named.insert(p.kind).second) ids.push_back(name(p.kind));
    std::string releases, dtypes;
    for (const auto& v : p.releases) releases += (releases.empty() ? "" : ", ") + v;
    for (const auto& [n, d] : p.kv_cache_dtypes) dtypes += (dtypes.empty() ? "" : " ") + n;
    const std::string id = id_of(p);
    rows.push_back({{"engine", name(p.kind)}, {"version", p.version}, {"default", p.is_default},
                    {"releases", p.releases}, {"source", p.source}});
    table += fmt::format("{:<{}}{:<9}{:<{}}{}\n", id, iw, p.is_default ? "yes" : "", releases, rw, dtypes);
    ids.push_back(id);
  }
  ids.push_back("ideal");
  if (format == "ids") return render_id_list(ids);
  table += fmt::format("{:<{}}{:<9}{:<{}}{}\n", "ideal", iw, "-", "-", rw,
                       "kvplan's dtypes (its own engine: exact bytes, no blocks)");
  if (format == "csv") {
    std::vector<Json> flat;
    for (Json row : rows) {
      row["releases"] = fmt::format("{}", fmt::join(row["releases"].get<std::vector<std::string>>(), " "));
      flat.push_back(row);
    }
    return render_csv(flat);
  }
  return render_rows(rows, table, format);
}

std::string render_node_list(const std::vector<Node>& nodes, const std::string& format) {
  Json rows = Json::array();
  std::vector<std::string> ids;
  std::string table = fmt::format("{:<12}{:<11}{:>6}  {:>12}  {}\n", "node", "gpu", "gpus", "scale-out", "network");
  for (const Node& n : nodes) {
    ids.push_back(n.id);
    rows.push_back({{"id", n.id}, {"name", n.name}, {"gpu", n.gpu}, {"gpus_per_node", n.gpus_per_node},
                    {"scale_out_bytes_per_s", n.scale_out.bytes_per_s}, {"scale_out_latency_s", n.scale_out.latency_s},
                    {"scale_out_kind", n.scale_out_kind}, {"source", n.source}});
    table += fmt::format("{:<12}{:<11}{:>6}  {:>7.0f} GB/s  {}\n", n.id, n.gpu, n.gpus_per_node,
                         n.scale_out.bytes_per_s / 1e9, n.scale_out_kind);
  }
  if (format == "ids") return render_id_list(ids);
  if (format == "csv") return render_csv(std::vector<Json>(rows.begin(), rows.end()));
  return render_rows(rows, table, format);
}

}  // namespace kvplan
