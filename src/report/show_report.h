// Readable and JSON renderings of a resolved model structure and a GPU preset (`kvplan show`).
#pragma once

#include <string>

#include "core/gpu.h"
#include "core/model.h"
#include "report/estimate_report.h"

namespace kvplan {

std::string describe(const Layer& layer);  // "attention 32 heads / 8 KV x 128 | dense mlp 14336 gated"
std::string render_model(const Model& m);
Json model_to_json(const Model& m);
std::string render_gpu(const Gpu& g);
Json gpu_to_json(const Gpu& g);

}  // namespace kvplan
