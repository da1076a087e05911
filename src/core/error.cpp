#include "core/error.h"

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>

namespace kvplan {

namespace {
constexpr char kHex[] = "0123456789abcdef";
}  // namespace

size_t invalid_utf8_at(const std::string& text, size_t from) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  size_t i = from;
  while (i < n) {
    const unsigned char c = s[i];
    size_t len = 0;
    unsigned min = 0;
    if (c < 0x80) len = 1;
    else if (c >= 0xC2 && c <= 0xDF) len = 2, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF) len = 3, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4) len = 4, min = 0x10000;
    else return i;
    if (i + len > n) return i;
    unsigned cp = len == 1 ? c : c & (0x7F >> len);
    for (size_t k = 1; k < len; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;  // overlong, out of range, surrogate
    i += len;
  }
  return std::string::npos;
}

void require_text(const std::string& text, const std::string& source) {
  const size_t bad = std::min(invalid_utf8_at(text), text.find('\0'));
  if (bad == std::string::npos) return;
  const size_t line_start = text.rfind('\n', bad == 0 ? 0 : bad - 1);
  const int line = 1 + static_cast<int>(std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(bad), '\n'));
  const int col = 1 + static_cast<int>(line_start == std::string::npos ? bad : bad - line_start - 1);
  const auto c = static_cast<unsigned char>(text[bad]);
  throw Error(c == 0 ? std::string("not a text file (a NUL byte)")
                     : std::string("not UTF-8 text (byte 0x") + kHex[c >> 4] + kHex[c & 15] + ")",
              {source, line, col});
}

std::string printable(const std::string& text) {
  auto escape = [&](std::string& out, unsigned char c) {
    out += "\\x";
    out += kHex[c >> 4];
    out += kHex[c & 15];
  };
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    const size_t bad = invalid_utf8_at(text, i);
    const size_t good_end = bad == std::string::npos ? text.size() : bad;
    for (; i < good_end; ++i) {
      const unsigned char c = static_cast<unsigned char>(text[i]);
      if (c < 0x20 || c == 0x7F) escape(out, c);
      else out += text[i];
    }
    if (bad != std::string::npos) escape(out, static_cast<unsigned char>(text[i++]));
  }
  return out;
}

std::string Error::located() const {
  std::string out;
  if (!pos_.file.empty()) {
    out += pos_.file;
    if (pos_.line > 0) {
      out += ":" + std::to_string(pos_.line);
      if (pos_.col > 0) out += ":" + std::to_string(pos_.col);
    }
    out += ": ";
  }
  return printable(out + what());
}

namespace {
// Levenshtein distance, case-insensitive.
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const bool same = std::tolower(static_cast<unsigned char>(a[i - 1])) ==
                        std::tolower(static_cast<unsigned char>(b[j - 1]));
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (same ? 0 : 1)});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}
}  // namespace

std::string closest(const std::string& name, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = SIZE_MAX;
  for (const auto& c : candidates) {
    size_t d = edit_distance(name, c);
    // A candidate that contains the name (e.g. "h100" in "h100-sxm") also counts as close.
    if (c.find(name) != std::string::npos && name.size() >= 3) d = std::min(d, c.size() - name.size());
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  const size_t limit = std::max<size_t>(2, name.size() / 3);
  if (best.empty() || best_d > limit) return "";
  return best;
}

std::string did_you_mean(const std::string& name, const std::vector<std::string>& candidates) {
  const std::string best = closest(name, candidates);
  return best.empty() ? "" : "; did you mean '" + best + "'?";
}

}  // namespace kvplan
