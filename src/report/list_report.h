// `kvplan list`: the bundled (and --data-dir) models, GPU presets and engine profiles as a table,
// JSON or CSV (one row per entry, the same keys in JSON and CSV).
#pragma once

#include <string>
#include <vector>

#include "core/engine_settings.h"
#include "core/gpu.h"
#include "core/model.h"
#include "core/parallel.h"

namespace kvplan {

struct ListedModel {
  std::string id;
  Model model;
};

struct ListedGpu {
  std::string id;
  Gpu gpu;
};

// format: table, json, csv or ids (the names --model, --gpu or --engine accepts, one a line: a
// GPU's id then its aliases; each engine, then engine@version for each profile, then ideal).
std::string render_model_list(const std::vector<ListedModel>& models, const std::string& format);
std::string render_gpu_list(const std::vector<ListedGpu>& gpus, const std::string& format);
std::string render_engine_list(const std::vector<EngineProfile>& profiles, const std::string& format);
std::string render_node_list(const std::vector<Node>& nodes, const std::string& format);
std::string render_id_list(const std::vector<std::string>& ids);  // one a line

}  // namespace kvplan
