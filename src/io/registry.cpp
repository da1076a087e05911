#include "io/registry.h"

#include <cstdlib>
#include <algorithm>
#include <cctype>
#include <filesystem>

#include "core/error.h"
#include "io/embedded_data.h"
#include "io/engine_yaml.h"
#include "io/node_yaml.h"
#include "io/files.h"
#include "io/gpu_yaml.h"
#include "io/hf_config.h"
#include "io/model_yaml.h"
#include "io/yaml_fields.h"

namespace kvplan {

namespace {

std::string stem(const std::string& path) { return std::filesystem::path(path).stem().string(); }
bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }
bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
bool looks_like_path(const std::string& spec) {
  return spec.find('/') != std::string::npos || ends_with(spec, ".yaml") || ends_with(spec, ".yml") ||
         ends_with(spec, ".json");
}

// Aliases are read from the text so that the registry need not parse every preset at start-up.
std::vector<std::string> aliases_of(const std::string& text, const std::string& source) {
  // Every start-up reads every preset's aliases: a one-line flow list (`aliases: [a, b]`) is read
  // alone; any other form, the whole file.
  const size_t at = text.rfind("\naliases:") != std::string::npos ? text.find("\naliases:") + 1
                    : text.rfind("aliases:", 0) == 0                ? 0
                                                                    : std::string::npos;
  if (at != std::string::npos) {
    const size_t end = text.find('\n', at);
    const std::string line = text.substr(at + 8, end == std::string::npos ? std::string::npos : end - at - 8);
    const size_t open = line.find_first_not_of(' ');
    const size_t close = line.find(']');
    if (open != std::string::npos && line[open] == '[' && close != std::string::npos) {
      // Plain names (letters, digits, '-', '_', '.') are split here; anything else goes to YAML.
      const std::string inner = line.substr(open + 1, close - open - 1);
      const std::string rest = line.substr(close + 1);
      const bool plain = inner.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_., ") ==
                             std::string::npos &&
                         (rest.find_first_not_of(' ') == std::string::npos || rest[rest.find_first_not_of(' ')] == '#');
      if (plain) {
        std::vector<std::string> out;
        size_t at = 0;
        while (at <= inner.size()) {
          const size_t comma = std::min(inner.find(',', at), inner.size());
          const size_t b = inner.find_first_not_of(' ', at), e = inner.find_last_not_of(' ', comma - 1);
          if (b < comma && e != std::string::npos && e >= b) out.push_back(inner.substr(b, e - b + 1));
          at = comma + 1;
        }
        return out;
      }
      const YAML::Node list = parse_yaml(line, source);
      std::vector<std::string> out;
      if (list.IsSequence())
        for (const auto& a : list) out.push_back(a.Scalar());
      return out;
    }
  }
  const YAML::Node root = parse_yaml(text, source);
  std::vector<std::string> out;
  if (root.IsMap() && root["aliases"] && root["aliases"].IsSequence())
    for (const auto& a : root["aliases"]) out.push_back(a.Scalar());
  return out;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool is_directory(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_directory(path, ec);
}

// A Hugging Face hub id ("ORG/NAME") as the hub library caches it: $HF_HUB_CACHE, else
// $HF_HOME/hub, else ~/.cache/huggingface/hub; models--ORG--NAME/snapshots/<refs/main>/config.json
// (huggingface_hub's cache layout). Returns the config path, or "" with `looked` naming where.
std::string hub_config(const std::string& id, std::string& looked) {
  const size_t slash = id.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == id.size() || id.find('/', slash + 1) != std::string::npos ||
      id[0] == '.' || ends_with(id, ".json") || ends_with(id, ".yaml") || ends_with(id, ".yml"))
    return "";
  std::string cache;
  if (const char* v = std::getenv("HF_HUB_CACHE"); v && *v) cache = v;
  else if (const char* h = std::getenv("HF_HOME"); h && *h) cache = std::string(h) + "/hub";
  else if (const char* home = std::getenv("HOME"); home && *home) cache = std::string(home) + "/.cache/huggingface/hub";
  if (cache.empty()) return "";
  const std::string repo = cache + "/models--" + id.substr(0, slash) + "--" + id.substr(slash + 1);
  const std::string ref = repo + "/refs/main";
  looked = ref;
  if (!is_regular_file(ref)) return "";
  std::string commit = read_text_file(ref);
  while (!commit.empty() && (commit.back() == '\n' || commit.back() == '\r' || commit.back() == ' ')) commit.pop_back();
  const std::string config = repo + "/snapshots/" + commit + "/config.json";
  looked = config;
  return is_regular_file(config) ? config : "";
}

// A config.json's sibling hf_quant_config.json (ModelOpt checkpoints), if the folder has one.
std::optional<HfQuantFile> hf_quant_file(const std::string& config) {
  const std::filesystem::path p(config);
  if (p.filename() != "config.json") return std::nullopt;
  const std::string quant = (p.parent_path() / "hf_quant_config.json").string();
  if (!is_regular_file(quant)) return std::nullopt;
  return HfQuantFile{read_text_file(quant), quant};
}

}  // namespace

Registry Registry::load(const std::string& data_dir) {
  Registry r;
  auto add = [&](const std::string& path, const std::string& text) {
    if (starts_with(path, "models/") || path.find("/models/") != std::string::npos)
      r.models_[stem(path)] = {path, text};
    else if (path.find("engines/") != std::string::npos)
      r.engines_[stem(path)] = {path, text};
    else if (path.find("nodes/") != std::string::npos)
      r.nodes_[stem(path)] = {path, text};
    else
      r.gpus_[stem(path)] = {path, text};
  };
  for (const EmbeddedFile& f : embedded_files()) add(f.path, f.text);
  if (!data_dir.empty()) {
    std::error_code ec;
    if (!std::filesystem::is_directory(data_dir, ec))
      throw Error("data directory does not exist or is not a directory", {data_dir, 0, 0});
    // A data-directory file replaces the bundled entry of its id; where its text differs (an
    // installed copy does not), a note says so.
    auto put = [&](std::map<std::string, Entry>& into, const std::string& path, const char* what) {
      Entry e{path, read_text_file(path)};
      // Ids are looked up case-insensitively: a file replaces the entry of exactly its id, and one
      // whose id differs from another's only in case is refused (it could never be chosen).
      const std::string id = stem(path);
      const std::string key = lower(id);
      if (auto it = into.find(key); it != into.end()) {
        const std::string other = stem(it->second.source);
        if (other != id)
          throw Error("the " + std::string(what) + " id '" + id + "' differs only in case from '" + other + "' (" +
                          it->second.source + "); ids are case-insensitive: name the file " + other +
                          ".yaml to replace it, or choose another id",
                      {path, 0, 0});
        if (it->second.text != e.text) r.notes_.push_back(path + " replaces the bundled " + what + " '" + id + "'");
      }
      into[key] = std::move(e);
    };
    for (const auto& p : yaml_files_in(data_dir + "/models")) put(r.models_, p, "model");
    for (const auto& p : yaml_files_in(data_dir + "/presets")) put(r.gpus_, p, "GPU preset");
    if (is_directory(data_dir + "/presets/engines"))
      for (const auto& p : yaml_files_in(data_dir + "/presets/engines")) put(r.engines_, p, "engine profile");
    if (is_directory(data_dir + "/presets/nodes"))
      for (const auto& p : yaml_files_in(data_dir + "/presets/nodes")) put(r.nodes_, p, "node preset");
  }
  // An alias names one preset: never another preset's id, never two presets.
  for (const auto& [id, e] : r.gpus_)
    for (const auto& given : aliases_of(e.text, e.source)) {
      const std::string alias = lower(given);  // matched case-insensitively, as ids are
      if (alias != id && r.gpus_.count(alias))
        throw Error("alias '" + given + "' is the id of another GPU preset (" + r.gpus_.at(alias).source + ")",
                    {e.source, 0, 0});
      if (auto it = r.gpu_aliases_.find(alias); it != r.gpu_aliases_.end() && it->second != id)
        throw Error("alias '" + given + "' is also an alias of the GPU preset '" + it->second + "' (" +
                        r.gpus_.at(it->second).source + ")",
                    {e.source, 0, 0});
      r.gpu_aliases_[alias] = id;
    }
  return r;
}

std::vector<std::string> Registry::model_ids() const {
  std::vector<std::string> out;
  for (const auto& [id, e] : models_) out.push_back(id);
  return out;
}

std::vector<std::string> Registry::gpu_ids() const {
  std::vector<std::string> out;
  for (const auto& [id, e] : gpus_) out.push_back(id);
  return out;
}

std::vector<std::string> Registry::gpu_names() const {
  std::vector<std::string> out = gpu_ids();
  for (const auto& [alias, target] : gpu_aliases_) out.push_back(alias);
  return out;
}

bool Registry::has_model(const std::string& id) const { return models_.count(lower(id)) > 0; }
bool Registry::has_gpu(const std::string& id) const {
  return gpus_.count(lower(id)) > 0 || gpu_aliases_.count(lower(id)) > 0;
}

// Precedence: a path (file, or a model folder holding config.json), then a bundled id, then a
// Hugging Face hub id found in the local hub cache. Paths are taken as given, never case-folded.
Model Registry::resolve_model(const std::string& spec) const {
  if (is_regular_file(spec)) {
    const std::string text = read_text_file(spec);
    if (ends_with(spec, ".json")) return import_hf_config(text, spec, hf_quant_file(spec));
    return parse_model_yaml(text, spec, stem(spec));
  }
  if (is_directory(spec)) {
    const std::string config = (std::filesystem::path(spec) / "config.json").string();
    if (!is_regular_file(config)) throw Error("no config.json in this model folder", {spec, 0, 0});
    return import_hf_config(read_text_file(config), config, hf_quant_file(config));
  }
  if (auto it = models_.find(lower(spec)); it != models_.end())  // bundled ids are lower-case: Llama-3.1-8B works
    return parse_model_yaml(it->second.text, it->second.source, it->first);
  std::string looked;
  const std::string hub = hub_config(spec, looked);
  if (!hub.empty()) return import_hf_config(read_text_file(hub), hub, hf_quant_file(hub));
  if (!looked.empty())
    throw Error("unknown model '" + spec + "': not a file, not a bundled id, and not in the Hugging Face cache (looked for " +
                looked + ")" + did_you_mean(spec, model_ids()));
  if (looks_like_path(spec)) return parse_model_yaml(read_text_file(spec), spec, stem(spec));  // read_text_file says why
  throw Error("unknown model '" + spec + "' (see `kvplan list models`, or pass a path to a YAML, a config.json or a model folder)" +
              did_you_mean(spec, model_ids()));
}

Gpu Registry::resolve_gpu(const std::string& spec) const {
  std::string id = lower(spec);  // ids and aliases are lower-case: H100 works
  if (auto a = gpu_aliases_.find(id); a != gpu_aliases_.end()) id = a->second;
  if (auto it = gpus_.find(id); it != gpus_.end()) return parse_gpu_yaml(it->second.text, it->second.source, it->first);
  if (looks_like_path(spec) || is_regular_file(spec)) return parse_gpu_yaml(read_text_file(spec), spec, stem(spec));
  throw Error("unknown GPU '" + spec + "' (see `kvplan list gpus`, or pass a path to a preset YAML)" +
              did_you_mean(spec, gpu_names()));
}

std::vector<std::string> Registry::node_ids() const {
  std::vector<std::string> out;
  for (const auto& [id, e] : nodes_) out.push_back(id);
  return out;
}

Node Registry::resolve_node(const std::string& spec) const {
  if (auto it = nodes_.find(lower(spec)); it != nodes_.end()) return parse_node_yaml(it->second.text, it->second.source);
  if (looks_like_path(spec) || is_regular_file(spec)) return parse_node_yaml(read_text_file(spec), spec);
  throw Error("unknown node '" + spec + "' (see `kvplan list nodes`, or pass a path to a node preset YAML)" +
              did_you_mean(spec, node_ids()));
}

namespace {

// A version's numbers, for release order (0.6 before 0.10).
std::vector<long> version_numbers(const std::string& v) {
  std::vector<long> n;
  size_t i = 0;
  while (i < v.size()) {
    n.push_back(std::strtol(v.c_str() + i, nullptr, 10));
    i = v.find('.', i);
    if (i == std::string::npos) break;
    ++i;
  }
  return n;
}

// By engine, then by version number (0.6 before 0.10).
bool profile_order(const EngineProfile& a, const EngineProfile& b) {
  if (a.kind != b.kind) return a.kind < b.kind;
  return version_numbers(a.version) < version_numbers(b.version);
}

// A release line covers its own releases and builds: 0.10 covers 0.10.1.1, 0.20.0 covers 0.20.0rc1
// and 0.20.0.dev3, but 0.2 does not cover 0.20.
bool covers(const std::string& release, const std::string& version) {
  return version.rfind(release, 0) == 0 &&
         (version.size() == release.size() || !std::isdigit(static_cast<unsigned char>(version[release.size()])));
}

// The profile to suggest for a version no profile covers, in release order: the newest profile
// at or before it (the newest for a version past them all), else the oldest. `versions` ascends.
std::string nearest_release(const std::string& version, const std::vector<std::string>& versions) {
  if (version.find_first_not_of("0123456789.") != std::string::npos || versions.empty()) return "";
  const std::vector<long> want = version_numbers(version);
  std::string best = versions.front();
  for (const std::string& v : versions)
    if (version_numbers(v) <= want) best = v;
  return best;
}

}  // namespace

std::vector<EngineProfile> Registry::engine_profiles() const {
  std::vector<EngineProfile> out;
  for (const auto& [id, e] : engines_) out.push_back(parse_engine_yaml(e.text, e.source));
  std::stable_sort(out.begin(), out.end(), profile_order);
  return out;
}

EngineProfile Registry::resolve_engine(const std::string& given) const {
  const std::string spec = lower(given);
  if (spec == "ideal") return EngineProfile{};
  if (spec.rfind("ideal@", 0) == 0)
    throw Error("engine '" + given + "': the ideal engine (kvplan's own sizing) has no versions; write ideal");
  const size_t at = spec.find('@');
  const std::string engine = spec.substr(0, at);
  const std::string version = at == std::string::npos ? "" : spec.substr(at + 1);
  if (at != std::string::npos && version.empty())
    throw Error("engine '" + given + "': no version after '@' (write " + engine + " for the default, or " + engine +
                "@VERSION)");
  std::vector<std::string> names = {"ideal"};
  std::vector<std::string> versions;
  bool known = false;
  // Each profile's identity is read alone; only the chosen profile is parsed whole.
  std::vector<std::pair<EngineProfile, const Entry*>> headers;
  for (const auto& [id, e] : engines_) headers.emplace_back(parse_engine_header(e.text, e.source), &e);
  std::stable_sort(headers.begin(), headers.end(),
                   [](const auto& a, const auto& b) { return profile_order(a.first, b.first); });
  // The profile named, else the one whose release line covers the version most closely (0.4.9.post3's
  // own line before 0.4.9's).
  const Entry* best = nullptr;
  size_t best_length = 0;
  for (const auto& [p, entry] : headers) {
    const std::string n = name(p.kind);
    names.push_back(n + "@" + p.version);
    if (n != engine) continue;
    known = true;
    versions.push_back(p.version);
    size_t length = (version.empty() ? p.is_default : version == p.version) ? std::string::npos : 0;
    for (const std::string& r : p.releases)
      if (covers(r, version)) length = std::max(length, r.size());
    if (length > best_length) {
      best_length = length;
      best = entry;
    }
  }
  if (best) return parse_engine_yaml(best->text, best->source);
  if (!known) {
    std::vector<std::string> bare = {"ideal"};
    for (const auto& [p, entry] : headers) bare.push_back(name(p.kind));
    throw Error("unknown engine '" + engine + "' (kvplan knows vllm, sglang and ideal)" + did_you_mean(engine, bare));
  }
  if (version.empty()) throw Error("engine '" + engine + "' has no default profile");
  std::string list;
  for (const std::string& v : versions) list += (list.empty() ? "" : ", ") + v;
  const std::string nearest = nearest_release(version, versions);
  const std::string suggestion =
      nearest.empty() ? did_you_mean(spec, names)
      : nearest == versions.back() && version_numbers(version) > version_numbers(nearest)
          ? "; it is newer than every profile: the newest is '" + engine + "@" + nearest + "'"
          : "; did you mean '" + engine + "@" + nearest + "'?";
  throw Error("unknown " + engine + " version '" + version + "' (profiles: " + list +
              "; `kvplan list engines` shows the releases each covers)" + suggestion);
}

}  // namespace kvplan
