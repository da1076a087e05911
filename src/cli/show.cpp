// `kvplan show <model|gpu>`: the resolved per-layer structure of a model, or a GPU preset.
#include <filesystem>
#include <memory>

#include "cli/subcommands.h"
#include "core/error.h"
#include "io/files.h"
#include "report/show_report.h"

namespace kvplan::cli {

namespace {
struct ShowOptions {
  std::string name;
  std::string format = "table";
};

// A preset file is recognised by its peak_flops key; anything else is read as a model.
bool is_gpu_file(const std::string& path) {
  return is_regular_file(path) && read_text_file(path).find("peak_flops:") != std::string::npos;
}
}  // namespace

void setup_show(CLI::App* sub, Globals& globals) {
  auto o = std::make_shared<ShowOptions>();
  sub->add_option("name", o->name, "Model or GPU id, or a path to a model YAML, config.json or preset YAML")
      ->type_name("MODEL|GPU")
      ->required();
  add_format_option(sub, o->format, {"table", "json"});
  sub->callback([o, &globals] {
    const Registry r = globals.registry();
    const bool json = o->format == "json";
    std::error_code ec;
    if (!r.has_model(o->name) && (r.has_gpu(o->name) || is_gpu_file(o->name))) {
      const Gpu g = r.resolve_gpu(o->name);
      print(json ? json_text(gpu_to_json(g)) : render_gpu(g));
      return;
    }
    if (!r.has_model(o->name) && !is_regular_file(o->name) && !std::filesystem::is_directory(o->name, ec) &&
        o->name.find('/') == std::string::npos && !o->name.ends_with(".yaml") && !o->name.ends_with(".yml") &&
        !o->name.ends_with(".json")) {
      // Neither a model nor a GPU: suggest from both.
      std::vector<std::string> names = r.model_ids();
      for (const std::string& g : r.gpu_names()) names.push_back(g);
      throw Error("unknown model or GPU '" + o->name + "' (see `kvplan list models` and `kvplan list gpus`, or pass a path)" +
                  did_you_mean(o->name, names));
    }
    const Model m = r.resolve_model(o->name);
    print(json ? json_text(model_to_json(m)) : render_model(m));
    warn(m.warnings);
  });
}

}  // namespace kvplan::cli
