#include "io/yaml_fields.h"

#include <cerrno>
#include <cctype>
#include <cmath>
#include <optional>
#include <cstdlib>
#include <cstring>

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

// yaml-cpp ends a quoted scalar left open at the end of the input without complaint, taking the
// rest of the file as its text (so `name: "Llama` swallows every later key). This pass finds the
// quote that opens a scalar and never closes, and reports it where it opens. It follows YAML's
// lexical rules only as far as telling quoted scalars from plain text, comments and block scalars.
void check_quotes_closed(const std::string& text, const std::string& source) {
  int line = 1, flow = 0;
  size_t line_start = 0;
  bool token_start = true;  // the next non-blank character may open a scalar
  size_t block_indent = std::string::npos;  // inside a block scalar: lines indented deeper than this
  auto indent_of = [&](size_t at) { return text.find_first_not_of(' ', at) - at; };
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\n') {
      ++line;
      line_start = i + 1;
      token_start = true;
      if (block_indent != std::string::npos) {
        // Skip the block scalar's lines: blank or indented deeper than its parent's line.
        while (line_start < text.size()) {
          const size_t end = std::min(text.find('\n', line_start), text.size());
          const size_t first = text.find_first_not_of(" \t\r", line_start);
          if (first < end && indent_of(line_start) <= block_indent) break;
          if (end == text.size()) return;
          ++line;
          line_start = end + 1;
        }
        block_indent = std::string::npos;
        i = line_start - 1;
      }
      continue;
    }
    if (c == ' ' || c == '\t' || c == '\r') continue;
    if (c == '#' && (i == line_start || text[i - 1] == ' ' || text[i - 1] == '\t')) {
      i = std::min(text.find('\n', i), text.size()) - 1;  // a comment, to the end of the line
      continue;
    }
    if (token_start && (c == '"' || c == '\'')) {
      const int open_line = line, open_col = static_cast<int>(i - line_start) + 1;
      size_t j = i + 1;
      for (;; ++j) {
        if (j >= text.size())
          throw Error(std::string("malformed YAML: the ") + (c == '"' ? "double" : "single") +
                          "-quoted string that starts here has no closing " + c,
                      {source, open_line, open_col});
        if (text[j] == '\n') {
          ++line;
          line_start = j + 1;
        } else if (c == '"' && text[j] == '\\') {
          ++j;  // an escaped character, \" included
          if (j < text.size() && text[j] == '\n') ++line, line_start = j + 1;
        } else if (text[j] == c) {
          if (c == '\'' && j + 1 < text.size() && text[j + 1] == '\'') ++j;  // '' is a quote inside
          else break;
        }
      }
      i = j;
      token_start = false;
      continue;
    }
    if (c == '[' || c == '{') ++flow, token_start = true;
    else if (c == ']' || c == '}') flow = std::max(flow - 1, 0), token_start = false;
    else if (c == ',' && flow > 0) token_start = true;
    else if ((c == ':' || c == '-' || c == '?') &&
             (i + 1 == text.size() || std::strchr(" \t\r\n", text[i + 1]) || (c == ':' && flow > 0)))
      token_start = token_start || c == ':';  // "- " and "? " keep a token start; ": " makes one
    else if (token_start && (c == '!' || c == '&')) {
      // A tag or an anchor: the scalar (perhaps quoted) follows it.
      while (i + 1 < text.size() && !std::strchr(" \t\r\n", text[i + 1])) ++i;
    } else if (token_start && (c == '|' || c == '>')) {
      block_indent = indent_of(line_start);  // a block scalar: its lines are text
      token_start = false;
    } else {
      token_start = false;  // a plain scalar: quotes inside it are text
      // A plain scalar runs to ": ", " #" or the line's end (in flow, to , ] or } too).
      while (i + 1 < text.size() && text[i + 1] != '\n') {
        const char n = text[i + 1];
        if (n == ':' && (i + 2 == text.size() || std::strchr(" \t\r\n", text[i + 2]) || flow > 0)) break;
        if (n == '#' && (text[i] == ' ' || text[i] == '\t')) break;
        if (flow > 0 && (n == ',' || n == ']' || n == '}')) break;
        ++i;
      }
    }
  }
}

}  // namespace

YAML::Node parse_yaml(const std::string& text, const std::string& source) {
  require_text(text, source);
  check_quotes_closed(text, source);
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
  // A key written without a value (`dtype:`, `dtype: ~`, `dtype: null`) is an error, not a default:
  // it cannot be told from a value forgotten.
  // Reported at the key: an empty value's own mark is the next token's.
  if (node_[key].IsDefined() && node_[key].IsNull())
    for (const auto& kv : node_)
      if (kv.first.Scalar() == key) throw Error("'" + key + "' has no value", pos_of(kv.first, source_));
  return node_[key].IsDefined();
}

SourcePos YamlFields::pos(const std::string& key) const {
  return has(key) ? pos_of(node_[key], source_) : pos();
}

YAML::Node YamlFields::node(const std::string& key) {
  used_.insert(key);
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

namespace {
// A whole number written with a decimal point or an exponent (8.5e10, 1.0): its value as digits,
// exactly (no rounding through a double). nullopt when the text is not such a number; "" for a
// number with a fraction.
std::optional<std::string> whole_digits(const std::string& s) {
  size_t i = 0;
  std::string sign;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) sign = s[i++] == '-' ? "-" : "";
  std::string digits;
  int point = -1;  // digits before the decimal point
  for (; i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.'); ++i) {
    if (s[i] == '.') {
      if (point >= 0) return std::nullopt;
      point = static_cast<int>(digits.size());
    } else {
      digits += s[i];
    }
  }
  if (digits.empty()) return std::nullopt;
  if (point < 0) point = static_cast<int>(digits.size());
  long exponent = 0;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    char* end = nullptr;
    exponent = std::strtol(s.c_str() + i + 1, &end, 10);
    if (end == s.c_str() + i + 1 || *end != '\0' || exponent > 1000 || exponent < -1000) return std::nullopt;
    i = s.size();
  }
  if (i != s.size()) return std::nullopt;
  const long whole = point + exponent;  // digits before the point once the exponent is applied
  if (whole < 0) return digits.find_first_not_of('0') == std::string::npos ? std::optional<std::string>("0") : "";
  if (static_cast<size_t>(whole) >= digits.size()) return sign + digits + std::string(whole - digits.size(), '0');
  if (digits.find_first_not_of('0', whole) != std::string::npos) return "";  // a fraction
  return sign + (whole == 0 ? std::string("0") : digits.substr(0, whole));
}
}  // namespace

int64_t to_integer(const YAML::Node& n, const std::string& source, const std::string& key) {
  std::string s = n.Scalar();
  const bool plain = !s.empty() && s.find_first_not_of("+-0123456789") == std::string::npos;
  if (!plain) {
    // 8.5e10 or 1.0: accepted when the value is whole; a fraction is refused as one.
    const std::optional<std::string> digits = whole_digits(s);
    if (digits && digits->empty())
      throw Error("'" + key + "' must be a whole number, got '" + s + "', which has a fraction", pos_of(n, source));
    if (!digits) throw Error("'" + key + "' must be a whole number, got '" + s + "'", pos_of(n, source));
    const size_t nonzero = digits->find_first_not_of("-0");
    if (nonzero == std::string::npos) return 0;
    if (digits->size() - nonzero > 19) throw Error("'" + key + "' overflows 64-bit: '" + s + "'", pos_of(n, source));
    s = ((*digits)[0] == '-' ? "-" : "") + digits->substr(nonzero);
  }
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0') throw Error("'" + key + "' must be a whole number, got '" + n.Scalar() + "'", pos_of(n, source));
  if (errno == ERANGE) throw Error("'" + key + "' overflows 64-bit: '" + n.Scalar() + "'", pos_of(n, source));
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
