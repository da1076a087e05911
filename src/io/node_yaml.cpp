#include "io/node_yaml.h"

#include "io/yaml_fields.h"

namespace kvplan {

namespace {
// A positive number no larger than `hi` (the byte rates and latencies become times).
double positive_within(YamlFields& f, const std::string& key, double hi) {
  const double v = f.number(key);
  if (!(v > 0 && v <= hi)) throw Error("'" + key + "' must be positive and at most " + std::to_string(hi), f.pos(key));
  return v;
}
}  // namespace

Node parse_node_yaml(const std::string& text, const std::string& source) {
  const YAML::Node root = parse_yaml(text, source);
  YamlFields f(root, source, "node preset");
  Node n;
  n.id = f.string("id");
  n.name = f.string("name");
  n.gpu = f.string("gpu");
  n.gpus_per_node = f.integer("gpus_per_node");
  if (n.gpus_per_node < 1 || n.gpus_per_node > 1024)
    throw Error("'gpus_per_node' must be between 1 and 1024", f.pos("gpus_per_node"));
  YamlFields net(f.node("scale_out"), source, "scale_out");
  n.scale_out_kind = net.string("kind");
  n.scale_out.bytes_per_s = positive_within(net, "bytes_per_s", 1e15);
  n.scale_out.latency_s = positive_within(net, "latency_s", 1.0);
  net.finish();
  n.source = f.string("source");
  f.finish();
  return n;
}

}  // namespace kvplan
