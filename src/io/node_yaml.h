// Parses a node preset (presets/nodes/<id>.yaml, docs/fleet.md "Layouts") into a Node.
#pragma once

#include <string>

#include "core/parallel.h"

namespace kvplan {

Node parse_node_yaml(const std::string& text, const std::string& source);

}  // namespace kvplan
