#include "io/lengths.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <vector>

#include "core/error.h"
#include "io/numbers.h"

namespace kvplan {

bool is_length_spec(const std::string& text) {
  return text == "fixed" || text.rfind("fixed:", 0) == 0 || text.rfind("uniform:", 0) == 0;
}

std::optional<LengthRange> parse_length_spec(const std::string& text, const std::string& flag,
                                             std::optional<int64_t> fixed_default, const std::string& fallback) {
  const std::string forms = " (expected fixed, fixed:N, uniform:A..B or a CSV trace's path)";
  if (text == "fixed") {
    if (!fixed_default) throw Error(flag + " fixed takes its length from " + fallback + ": give it, or write fixed:N");
    return LengthRange{*fixed_default, *fixed_default};
  }
  if (text.rfind("fixed:", 0) == 0) {
    const int64_t n = parse_count(text.substr(6), flag);
    return LengthRange{n, n};
  }
  if (text.rfind("uniform:", 0) == 0) {
    const std::string body = text.substr(8);
    const size_t dots = body.find("..");
    if (dots == std::string::npos) throw Error(flag + ": '" + text + "' is not uniform:A..B" + forms);
    const int64_t a = parse_count(body.substr(0, dots), flag + " lower bound");
    const int64_t b = parse_count(body.substr(dots + 2), flag + " upper bound");
    if (a > b) throw Error(flag + ": uniform:" + std::to_string(a) + ".." + std::to_string(b) + ": the lower bound is above the upper");
    return LengthRange{a, b};
  }
  if (text.empty()) throw Error(flag + ": empty value" + forms);
  return std::nullopt;
}

namespace {

struct Field {
  std::string text;  // trimmed
  int col = 0;       // 1-based column of the field's first byte (after leading spaces)
};

// One CSV line split on commas (no quoting: the fields are numbers), spaces trimmed.
std::vector<Field> split(const std::string& line) {
  std::vector<Field> out;
  size_t start = 0;
  while (true) {
    const size_t comma = line.find(',', start);
    const size_t end = comma == std::string::npos ? line.size() : comma;
    size_t a = start, b = end;
    while (a < b && (line[a] == ' ' || line[a] == '\t')) ++a;
    while (b > a && (line[b - 1] == ' ' || line[b - 1] == '\t')) --b;
    out.push_back({line.substr(a, b - a), static_cast<int>(a) + 1});
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

enum class Column { prompt, output, arrival };

}  // namespace

namespace {

LengthDist parse_trace_columns(const std::string& text, const std::string& source, bool need_arrivals) {
  const std::string header_form =
      need_arrivals ? "prompt_tokens,output_tokens,arrival_s" : "prompt_tokens,output_tokens[,arrival_s]";
  std::vector<std::string> lines;
  size_t from = text.compare(0, 3, "\xEF\xBB\xBF") == 0 ? 3 : 0;  // a UTF-8 byte-order mark
  while (from < text.size()) {
    size_t nl = text.find('\n', from);
    if (nl == std::string::npos) nl = text.size();
    std::string line = text.substr(from, nl - from);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(line);
    from = nl + 1;
  }
  size_t first = 0;
  while (first < lines.size() && split(lines[first]).size() == 1 && split(lines[first])[0].text.empty()) ++first;
  if (first == lines.size())
    throw Error("empty trace: expected a header " + header_form + " and one request per line", {source, 1, 1});
  const int header_line = static_cast<int>(first) + 1;
  std::vector<Column> columns;
  bool seen[3] = {false, false, false};
  for (const Field& f : split(lines[first])) {
    Column c;
    if (f.text == "prompt_tokens") c = Column::prompt;
    else if (f.text == "output_tokens") c = Column::output;
    else if (f.text == "arrival_s") c = Column::arrival;
    else
      throw Error("unknown trace column '" + f.text + "' (expected " + header_form + ")" +
                      did_you_mean(f.text, {"prompt_tokens", "output_tokens", "arrival_s"}),
                  {source, header_line, f.col});
    if (seen[static_cast<int>(c)]) throw Error("column '" + f.text + "' appears twice in the header", {source, header_line, f.col});
    seen[static_cast<int>(c)] = true;
    columns.push_back(c);
  }
  for (const char* need : {"prompt_tokens", "output_tokens"})
    if (!seen[std::string(need) == "prompt_tokens" ? 0 : 1])
      throw Error("the header has no column '" + std::string(need) + "' (expected " + header_form + ")",
                  {source, header_line, 1});
  if (need_arrivals && !seen[static_cast<int>(Column::arrival)])
    throw Error("the header has no column 'arrival_s': replaying a trace needs each request's arrival time (expected " +
                    header_form + ")",
                {source, header_line, 1});

  LengthDist d;
  d.kind = LengthsKind::trace;
  d.prompt_source = d.output_source = source;
  for (size_t i = first + 1; i < lines.size(); ++i) {
    const int line_no = static_cast<int>(i) + 1;
    const std::vector<Field> fields = split(lines[i]);
    if (fields.size() == 1 && fields[0].text.empty()) continue;
    if (fields.size() != columns.size())
      throw Error(std::to_string(fields.size()) + " fields where the header has " + std::to_string(columns.size()) +
                      " (" + header_form + ")",
                  {source, line_no, fields.size() > columns.size() ? fields[columns.size()].col : static_cast<int>(lines[i].size()) + 1});
    LengthPair pair;
    for (size_t k = 0; k < fields.size(); ++k) {
      const Field& f = fields[k];
      const SourcePos at{source, line_no, f.col};
      switch (columns[k]) {
        case Column::prompt:
        case Column::output: {
          const char* what = columns[k] == Column::prompt ? "prompt_tokens" : "output_tokens";
          if (!f.text.empty() && f.text[0] == '-')
            throw Error(std::string(what) + " '" + f.text + "' is negative: a length is at least 1 token", at);
          if (f.text.empty() || f.text.find_first_not_of("0123456789") != std::string::npos)
            throw Error(std::string(what) + " '" + f.text + "' is not a whole number of tokens", at);
          errno = 0;
          const long long v = std::strtoll(f.text.c_str(), nullptr, 10);
          if (errno == ERANGE || v > kMaxDistTokens)
            throw Error(std::string(what) + " " + f.text + " is past the " + std::to_string(kMaxDistTokens) +
                            " tokens a length distribution may hold",
                        at);
          if (v < 1) throw Error(std::string(what) + " must be at least 1 token, got " + f.text, at);
          (columns[k] == Column::prompt ? pair.prompt : pair.output) = v;
          break;
        }
        case Column::arrival: {
          char* end = nullptr;
          const double s = f.text.empty() ? NAN : std::strtod(f.text.c_str(), &end);
          if (f.text.empty() || *end != '\0' || !std::isfinite(s) || s < 0)
            throw Error("arrival_s '" + f.text + "' is not a time of at least 0 seconds", at);
          if (s >= 1e9)  // 31 years: past it, arrivals lose the resolution of a step's time
            throw Error("arrival_s " + f.text + " is past the 1e9 seconds a trace may span", at);
          d.arrivals_s.push_back(s);
          break;
        }
      }
    }
    d.trace.push_back(pair);
    d.lines.push_back(line_no);
  }
  if (d.trace.empty()) throw Error("the trace holds no request, only its header", {source, header_line, 1});
  return d;
}

}  // namespace

LengthDist parse_trace(const std::string& text, const std::string& source) {
  return parse_trace_columns(text, source, false);
}

LengthDist parse_arrival_trace(const std::string& text, const std::string& source) {
  LengthDist d = parse_trace_columns(text, source, true);
  check_lengths(d);
  return d;
}

LengthDist length_dist(const LengthSpecs& s, const std::function<std::string(const std::string&)>& read_file) {
  const bool prompt_trace = !s.prompt.empty() && !is_length_spec(s.prompt);
  const bool output_trace = !s.output.empty() && !is_length_spec(s.output);
  if (prompt_trace || output_trace) {
    const std::string& path = prompt_trace ? s.prompt : s.output;
    const std::string& other = prompt_trace ? s.output : s.prompt;
    if (!other.empty() && other != path)
      throw Error((prompt_trace ? s.output_flag : s.prompt_flag) + " " + other + ": a trace (" + path +
                  ") gives each request's prompt and output lengths together; give it once");
    LengthDist d = parse_trace(read_file(path), path);
    check_lengths(d);
    return d;
  }
  auto range = [](const std::string& text, const std::string& flag, std::optional<int64_t> fixed,
                  const std::string& fallback, std::string& source) {
    const LengthRange r = *parse_length_spec(text.empty() ? "fixed" : text, flag, fixed, fallback);
    source = r.lo == r.hi ? "fixed:" + std::to_string(r.lo) : "uniform:" + std::to_string(r.lo) + ".." + std::to_string(r.hi);
    return r;
  };
  LengthDist d;
  d.kind = LengthsKind::independent;
  d.prompt = range(s.prompt, s.prompt_flag, s.prompt_fixed, s.prompt_fallback, d.prompt_source);
  d.output = range(s.output, s.output_flag, s.output_fixed, s.output_fallback, d.output_source);
  check_lengths(d);
  return d;
}

}  // namespace kvplan
