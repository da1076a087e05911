#include "io/yaml_fields.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>

namespace kvplan {

SourcePos pos_of(const YAML::Node& node, const std::string& source) {
  const YAML::Mark m = node.Mark();
  if (m.is_null() || m.line < 0) return {source, 0, 0};
  return {source, m.line + 1, m.column + 1};  // yaml-cpp marks are 0-based
}

namespace {

// One document per file: YAML::Load reads the first and ignores the rest, so a document marker
// after content ('---', or content after '...') is refused at its line. (YAML::LoadAll would
// tell, but it loops for ever on some malformed input.)
void check_single_document(const std::string& text, const std::string& source) {
  bool content = false, ended = false;
  int line = 0;
  for (size_t start = 0; start <= text.size();) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const std::string l = text.substr(start, end - start);
    ++line;
    start = end + 1;
    auto marker = [&](const char* m) { return l.rfind(m, 0) == 0 && (l.size() == 3 || l[3] == ' ' || l[3] == '\t' || l[3] == '\r'); };
    const size_t first = l.find_first_not_of(" \t\r");
    if (first == std::string::npos || l[first] == '#') continue;
    if (marker("---")) {
      if (content || ended) throw Error("more than one YAML document in the file (a second '---')", {source, line, 1});
      continue;
    }
    if (marker("...")) {
      ended = true;
      continue;
    }
    if (ended) throw Error("content after the end of the YAML document ('...')", {source, line, 1});
    content = true;
  }
}

}  // namespace

YAML::Node parse_yaml(const std::string& text, const std::string& source) {
  check_single_document(text, source);
  try {
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    SourcePos pos{source, e.mark.is_null() ? 0 : e.mark.line + 1, e.mark.is_null() ? 0 : e.mark.column + 1};
    throw Error("malformed YAML: " + e.msg, pos);
  }
}

YamlFields::YamlFields(const YAML::Node& node, std::string source, std::string what)
    : node_(node), source_(std::move(source)), what_(std::move(what)) {
  if (!node_.IsMap()) throw Error(what_ + " must be a mapping of keys to values", pos_of(node_, source_));
  std::set<std::string> seen;  // YAML would keep one of two equal keys silently
  for (const auto& kv : node_)
    if (!seen.insert(kv.first.Scalar()).second)
      throw Error("duplicate key '" + kv.first.Scalar() + "' in " + what_, pos_of(kv.first, source_));
}

bool YamlFields::has(const std::string& key) const {
  return node_[key].IsDefined() && !node_[key].IsNull();
}

SourcePos YamlFields::pos(const std::string& key) const {
  return has(key) ? pos_of(node_[key], source_) : pos();
}

YAML::Node YamlFields::node(const std::string& key) {
  used_.insert(key);
  if (node_[key].IsDefined() && node_[key].IsNull())
    throw Error("'" + key + "' has no value", pos_of(node_[key], source_));
  if (!has(key)) {
    // A misspelt required key is reported as the misspelling, where it stands.
    for (const auto& kv : node_) {
      const std::string other = kv.first.Scalar();
      if (!used_.count(other) && !did_you_mean(other, {key}).empty())
        throw Error("unknown key '" + other + "' in " + what_ + did_you_mean(other, {key}), pos_of(kv.first, source_));
    }
    throw Error(what_ + " is missing required key '" + key + "'", pos());
  }
  return node_[key];
}

YAML::Node YamlFields::scalar(const std::string& key) {
  YAML::Node n = node(key);
  if (!n.IsScalar()) throw Error("'" + key + "' must be a single value", pos_of(n, source_));
  return n;
}

int64_t to_integer(const YAML::Node& n, const std::string& source, const std::string& key) {
  const std::string& s = n.Scalar();
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0') throw Error("'" + key + "' must be a whole number, got '" + s + "'", pos_of(n, source));
  if (errno == ERANGE) throw Error("'" + key + "' overflows 64-bit: '" + s + "'", pos_of(n, source));
  return v;
}

double to_number(const YAML::Node& n, const std::string& source, const std::string& key) {
  const std::string& s = n.Scalar();
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (s.empty() || *end != '\0' || !std::isfinite(v))
    throw Error("'" + key + "' must be a number, got '" + s + "'", pos_of(n, source));
  return v;
}

int64_t YamlFields::integer(const std::string& key) { return to_integer(scalar(key), source_, key); }
int64_t YamlFields::integer(const std::string& key, int64_t fallback) {
  used_.insert(key);
  return has(key) ? integer(key) : fallback;
}
double YamlFields::number(const std::string& key) { return to_number(scalar(key), source_, key); }
double YamlFields::number(const std::string& key, double fallback) {
  used_.insert(key);
  return has(key) ? number(key) : fallback;
}
std::string YamlFields::string(const std::string& key) { return scalar(key).Scalar(); }
std::string YamlFields::string(const std::string& key, const std::string& fallback) {
  used_.insert(key);
  return has(key) ? string(key) : fallback;
}
bool YamlFields::boolean(const std::string& key, bool fallback) {
  used_.insert(key);
  if (!has(key)) return fallback;
  YAML::Node n = scalar(key);
  const std::string& s = n.Scalar();
  if (s == "true" || s == "True" || s == "yes") return true;
  if (s == "false" || s == "False" || s == "no") return false;
  throw Error("'" + key + "' must be true or false, got '" + s + "'", pos_of(n, source_));
}

std::vector<std::string> YamlFields::strings(const std::string& key) {
  used_.insert(key);
  std::vector<std::string> out;
  if (!has(key)) return out;
  YAML::Node n = node_[key];
  if (!n.IsSequence()) throw Error("'" + key + "' must be a list", pos_of(n, source_));
  for (const auto& item : n) {
    if (!item.IsScalar()) throw Error("'" + key + "' must be a list of names", pos_of(item, source_));
    out.push_back(item.Scalar());
  }
  return out;
}

std::vector<std::pair<std::string, SourcePos>> YamlFields::unused() const {
  std::vector<std::pair<std::string, SourcePos>> out;
  for (const auto& kv : node_)
    if (!used_.count(kv.first.Scalar())) out.emplace_back(kv.first.Scalar(), pos_of(kv.first, source_));
  return out;
}

void YamlFields::finish() const {
  std::vector<std::string> known(used_.begin(), used_.end());
  for (const auto& kv : node_) {
    const std::string key = kv.first.Scalar();
    if (!used_.count(key))
      throw Error("unknown key '" + key + "' in " + what_ + did_you_mean(key, known), pos_of(kv.first, source_));
  }
}

}  // namespace kvplan
