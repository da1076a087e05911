// The model_types the importer knows, registered by one file per group of families.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "io/hf/reader.h"

namespace kvplan::hf {

struct Family {
  std::string model_type;
  std::function<Model(const Config&)> import;
};

// Each appends its families (src/io/hf/<group>.cpp).
void register_dense(std::vector<Family>& out);
void register_mla(std::vector<Family>& out);
void register_ssm(std::vector<Family>& out);
void register_qwen(std::vector<Family>& out);
void register_multimodal(std::vector<Family>& out);
void register_moe(std::vector<Family>& out);
void register_more_dense(std::vector<Family>& out);

// A drafter in the speculators format (speculators_model_type; it has no model_type).
Model speculator(const Config& top);

}  // namespace kvplan::hf
