#include "io/mm_limits.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <vector>

#include "core/error.h"

namespace kvplan {

namespace {
const std::vector<std::string> kModalities = {"image", "video", "audio"};

int64_t count_of(const nlohmann::json& v, const std::string& modality, const std::string& flag) {
  const nlohmann::json& c = v.is_object() && v.contains("count") ? v["count"] : v;
  if (!c.is_number_integer() || c.get<int64_t>() < 0)
    throw Error(flag + ": '" + modality + "' must be a whole number >= 0 (or an object with \"count\")");
  return c.get<int64_t>();
}

}  // namespace

void add_mm_limit(std::map<std::string, int64_t>& limits, const std::string& modality, int64_t count,
                  const std::string& what) {
  if (std::find(kModalities.begin(), kModalities.end(), modality) == kModalities.end())
    throw Error(what + ": unknown modality '" + modality + "' (image, video or audio)" + did_you_mean(modality, kModalities));
  if (count < 0) throw Error(what + ": '" + modality + "' must be a whole number >= 0");
  limits[modality] = count;
}

std::map<std::string, int64_t> parse_mm_limits(const std::string& text, const std::string& flag) {
  std::map<std::string, int64_t> out;
  const size_t first = text.find_first_not_of(" \t");
  if (first != std::string::npos && text[first] == '{') {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception&) {
      throw Error(flag + ": not a JSON object, got '" + text + "' (e.g. '{\"image\": 0, \"video\": 0}')");
    }
    for (const auto& [modality, value] : j.items()) add_mm_limit(out, modality, count_of(value, modality, flag), flag);
    return out;
  }
  // image=4,video=1
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = std::min(text.find(',', start), text.size());
    const std::string item = text.substr(start, comma - start);
    const size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == item.size())
      throw Error(flag + ": expected a JSON object or modality=count pairs (image=4,video=1), got '" + text + "'");
    const std::string modality = item.substr(0, eq), count = item.substr(eq + 1);
    if (count.find_first_not_of("0123456789") != std::string::npos || count.size() > 9)
      throw Error(flag + ": '" + modality + "' must be a whole number >= 0, got '" + count + "'");
    add_mm_limit(out, modality, std::stoll(count), flag);
    start = comma + 1;
  }
  return out;
}

}  // namespace kvplan
