// `kvplan list models|gpus|engines|nodes`: the bundled (and --data-dir) entries, one per line.
#include <memory>

#include "cli/subcommands.h"
#include "report/list_report.h"

namespace kvplan::cli {

namespace {
struct ListOptions {
  std::string what;
  std::string format = "table";
};

}  // namespace

void setup_list(CLI::App* sub, Globals& globals) {
  auto o = std::make_shared<ListOptions>();
  sub->add_option("what", o->what, "models, gpus, engines or nodes")
      ->required()
      ->check(one_of({"models", "gpus", "engines", "nodes"}));
  // ids: the names --model, --gpu or --engine accepts, one a line (for scripts and shell completion).
  add_format_option(sub, o->format, {"table", "json", "csv", "ids"});
  sub->callback([o, &globals] {
    const Registry r = globals.registry();
    if (o->what == "models" && o->format == "ids") {
      print(render_id_list(r.model_ids()));  // without parsing every model
    } else if (o->what == "models") {
      std::vector<ListedModel> models;
      for (const std::string& id : r.model_ids()) models.push_back({id, r.resolve_model(id)});
      print(render_model_list(models, o->format));
    } else if (o->what == "engines") {
      print(render_engine_list(r.engine_profiles(), o->format));
    } else if (o->what == "nodes") {
      std::vector<Node> nodes;
      for (const std::string& id : r.node_ids()) nodes.push_back(r.resolve_node(id));
      print(render_node_list(nodes, o->format));
    } else {
      std::vector<ListedGpu> gpus;
      for (const std::string& id : r.gpu_ids()) gpus.push_back({id, r.resolve_gpu(id)});
      print(render_gpu_list(gpus, o->format));
    }
  });
}

}  // namespace kvplan::cli
