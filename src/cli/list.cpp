// `kvplan list models|gpus|engines`: the bundled (and --data-dir) entries, one per line.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <memory>
#include <set>
#include <utility>

#include "cli/subcommands.h"
#include "core/params.h"
#include "report/estimate_report.h"
#include "report/format.h"

namespace kvplan::cli {

namespace {
struct ListOptions {
  std::string what;
  std::string format = "table";
};

// Column widths: the longest id / name plus two spaces (ids and names are never cut).
template <typename Resolve>
std::pair<size_t, size_t> widths(const std::vector<std::string>& ids, Resolve resolve) {
  size_t id_w = 2, name_w = 4;
  for (const auto& id : ids) {
    id_w = std::max(id_w, id.size());
    name_w = std::max(name_w, resolve(id).name.size());
  }
  return {id_w + 2, name_w + 2};
}

void list_models(const Registry& r, const std::string& format) {
  Json rows = Json::array();
  const auto [iw, nw] = widths(r.model_ids(), [&](const std::string& id) { return r.resolve_model(id); });
  std::string table = fmt::format("{:<{}}{:<{}}{:>10}{:>10}{:>8}  {}\n", "id", iw, "name", nw, "params", "active", "layers", "kinds");
  for (const auto& id : r.model_ids()) {
    const Model m = r.resolve_model(id);
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
  if (format == "json") print(json_text(rows));
  else if (format == "csv") print(render_csv(std::vector<Json>(rows.begin(), rows.end())));
  else if (format == "ids") print(fmt::format("{}\n", fmt::join(r.model_ids(), "\n")));
  else print(table);
}

void list_gpus(const Registry& r, const std::string& format) {
  Json rows = Json::array();
  const auto [iw, nw] = widths(r.gpu_ids(), [&](const std::string& id) { return r.resolve_gpu(id); });
  std::string table =
      fmt::format("{:<{}}{:<{}}{:>10}{:>8}{:>11}{:>8}\n", "id", iw, "name", nw, "memory", "TB/s", "bf16 TF/s", "$/hour");
  std::string ids;  // each id, then its aliases
  for (const auto& id : r.gpu_ids()) {
    const Gpu g = r.resolve_gpu(id);
    ids += id + "\n";
    for (const auto& a : g.aliases) ids += a + "\n";
    rows.push_back({{"id", id}, {"name", g.name}, {"memory_bytes", g.memory_bytes},
                    {"memory_bandwidth_bytes_per_s", g.memory_bandwidth_bytes_per_s},
                    {"peak_bf16_flops", g.peak_flops_for(DType::bf16)}, {"usd_per_gpu_hour", g.price.usd_per_gpu_hour}});
    std::string alias;
    for (const auto& a : g.aliases) alias += " (" + a + ")";
    table += fmt::format("{:<{}}{:<{}}{:>10}{:>8.2f}{:>11.0f}{:>8}\n", id, iw, g.name, nw, gib(g.memory_bytes),
                         g.memory_bandwidth_bytes_per_s / 1e12, g.peak_flops_for(DType::bf16) / 1e12,
                         g.price.usd_per_gpu_hour > 0 ? fmt::format("{:.2f}", g.price.usd_per_gpu_hour) : "-");
  }
  if (format == "json") print(json_text(rows));
  else if (format == "csv") print(render_csv(std::vector<Json>(rows.begin(), rows.end())));
  else if (format == "ids") print(ids);
  else print(table);
}

void list_engines(const Registry& r, const std::string& format) {
  Json rows = Json::array();
  const std::vector<EngineProfile> profiles = r.engine_profiles();
  size_t rw = 10;
  for (const EngineProfile& p : profiles) {
    size_t w = 0;
    for (const auto& v : p.releases) w += v.size() + 2;
    rw = std::max(rw, w + 1);
  }
  std::string table = fmt::format("{:<16}{:<9}{:<{}}{}\n", "engine", "default", "releases", rw, "kv_cache_dtype values");
  std::string ids;  // each engine (its default profile), then engine@version for each profile
  std::set<EngineKind> named;
  for (const EngineProfile& p : profiles) {
    if (named.insert(p.kind).second) ids += std::string(name(p.kind)) + "\n";
    std::string releases, dtypes;
    for (const auto& v : p.releases) releases += (releases.empty() ? "" : ", ") + v;
    for (const auto& [n, d] : p.kv_cache_dtypes) dtypes += (dtypes.empty() ? "" : " ") + n;
    const std::string id = std::string(name(p.kind)) + "@" + p.version;
    rows.push_back({{"engine", name(p.kind)}, {"version", p.version}, {"default", p.is_default},
                    {"releases", p.releases}, {"source", p.source}});
    table += fmt::format("{:<16}{:<9}{:<{}}{}\n", id, p.is_default ? "yes" : "", releases, rw, dtypes);
    ids += id + "\n";
  }
  table += fmt::format("{:<16}{:<9}{:<{}}{}\n", "ideal", "-", "-", rw, "kvplan's dtypes (its own engine: exact bytes, no blocks)");
  if (format == "json") print(json_text(rows));
  else if (format == "ids") print(ids + "ideal\n");
  else if (format == "csv") {
    std::vector<Json> flat;
    for (Json row : rows) {
      row["releases"] = fmt::format("{}", fmt::join(row["releases"].get<std::vector<std::string>>(), " "));
      flat.push_back(row);
    }
    print(render_csv(flat));
  } else print(table);
}
}  // namespace

void setup_list(CLI::App* sub, Globals& globals) {
  auto o = std::make_shared<ListOptions>();
  sub->add_option("what", o->what, "models, gpus or engines")->required()->check(one_of({"models", "gpus", "engines"}));
  // ids: the names --model, --gpu or --engine accepts, one a line (for scripts and shell completion).
  add_format_option(sub, o->format, {"table", "json", "csv", "ids"});
  sub->callback([o, &globals] {
    const Registry r = globals.registry();
    if (o->what == "models") list_models(r, o->format);
    else if (o->what == "engines") list_engines(r, o->format);
    else list_gpus(r, o->format);
  });
}

}  // namespace kvplan::cli
