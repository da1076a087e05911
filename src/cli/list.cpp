// `kvplan list models|gpus`: the bundled (and --data-dir) entries, one per line.
#include <fmt/format.h>

#include <algorithm>
#include <memory>
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
  if (format == "json") print(rows.dump(2) + "\n");
  else if (format == "csv") print(render_csv(std::vector<Json>(rows.begin(), rows.end())));
  else print(table);
}

void list_gpus(const Registry& r, const std::string& format) {
  Json rows = Json::array();
  const auto [iw, nw] = widths(r.gpu_ids(), [&](const std::string& id) { return r.resolve_gpu(id); });
  std::string table =
      fmt::format("{:<{}}{:<{}}{:>10}{:>8}{:>11}{:>8}\n", "id", iw, "name", nw, "memory", "TB/s", "bf16 TF/s", "$/hour");
  for (const auto& id : r.gpu_ids()) {
    const Gpu g = r.resolve_gpu(id);
    rows.push_back({{"id", id}, {"name", g.name}, {"memory_bytes", g.memory_bytes},
                    {"memory_bandwidth_bytes_per_s", g.memory_bandwidth_bytes_per_s},
                    {"peak_bf16_flops", g.peak_flops_for(DType::bf16)}, {"usd_per_gpu_hour", g.price.usd_per_gpu_hour}});
    std::string alias;
    for (const auto& a : g.aliases) alias += " (" + a + ")";
    table += fmt::format("{:<{}}{:<{}}{:>10}{:>8.2f}{:>11.0f}{:>8}\n", id, iw, g.name, nw, gib(g.memory_bytes),
                         g.memory_bandwidth_bytes_per_s / 1e12, g.peak_flops_for(DType::bf16) / 1e12,
                         g.price.usd_per_gpu_hour > 0 ? fmt::format("{:.2f}", g.price.usd_per_gpu_hour) : "-");
  }
  if (format == "json") print(rows.dump(2) + "\n");
  else if (format == "csv") print(render_csv(std::vector<Json>(rows.begin(), rows.end())));
  else print(table);
}
}  // namespace

void setup_list(CLI::App& app, Globals& globals) {
  auto o = std::make_shared<ListOptions>();
  CLI::App* sub = app.add_subcommand("list", "List the bundled models or GPU presets");
  sub->add_option("what", o->what, "models or gpus")->required()->check(CLI::IsMember({"models", "gpus"}));
  add_format_option(sub, o->format, {"table", "json", "csv"});
  sub->callback([o, &globals] {
    const Registry r = globals.registry();
    if (o->what == "models") list_models(r, o->format);
    else list_gpus(r, o->format);
  });
}

}  // namespace kvplan::cli
