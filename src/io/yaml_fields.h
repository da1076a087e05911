// Strict reading of a YAML mapping: typed getters that report file:line:col, and an unknown-key
// check with "did you mean". Used by the model, preset and deployment-file parsers.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"

namespace kvplan {

SourcePos pos_of(const YAML::Node& node, const std::string& source);
// Parses YAML text; a syntax error becomes a kvplan::Error at its position.
YAML::Node parse_yaml(const std::string& text, const std::string& source);

class YamlFields {
 public:
  // `what` names the mapping in messages ("model", "mixer", ...). Throws unless node is a map.
  YamlFields(const YAML::Node& node, std::string source, std::string what);

  // Whether the key is given; throws "'key' has no value" for one given as null (`key:` or `~`).
  bool has(const std::string& key) const;
  YAML::Node node(const std::string& key);  // required
  int64_t integer(const std::string& key);
  int64_t integer(const std::string& key, int64_t fallback);
  double number(const std::string& key);
  double number(const std::string& key, double fallback);
  std::string string(const std::string& key);
  std::string string(const std::string& key, const std::string& fallback);
  bool boolean(const std::string& key, bool fallback);
  std::vector<std::string> strings(const std::string& key);  // a sequence of scalars; empty if absent

  // Counts `key` as known without reading it (finish() then accepts it and suggests it).
  void expect(const std::string& key) { used_.insert(key); }
  // Throws for the first key that no getter asked for.
  void finish() const;
  // The keys no getter asked for, with their positions (for sections whose other keys are data).
  std::vector<std::pair<std::string, SourcePos>> unused() const;
  const std::string& source() const { return source_; }
  SourcePos pos() const { return pos_of(node_, source_); }
  SourcePos pos(const std::string& key) const;  // the value's position

 private:
  YAML::Node scalar(const std::string& key);
  YAML::Node node_;
  std::string source_;
  std::string what_;
  std::set<std::string> used_;
};

// Strict scalar conversions: the whole text must be a number of the right kind.
int64_t to_integer(const YAML::Node& node, const std::string& source, const std::string& key);
double to_number(const YAML::Node& node, const std::string& source, const std::string& key);

}  // namespace kvplan
