// models/*.yaml and presets/*.yaml compiled into the binary (cmake/embed_data.cmake).
#pragma once

#include <vector>

namespace kvplan {

struct EmbeddedFile {
  const char* path;  // "models/llama-3.1-8b.yaml"
  const char* text;
};

const std::vector<EmbeddedFile>& embedded_files();

}  // namespace kvplan
