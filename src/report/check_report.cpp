#include "report/check_report.h"

#include <fmt/format.h>

#include <cmath>

#include "core/error.h"
#include "report/format.h"

namespace kvplan {

namespace {

const char* status_name(CheckStatus s) {
  return s == CheckStatus::pass ? "pass" : s == CheckStatus::fail ? "fail" : "error";
}

struct Counts {
  int files = 0, files_passed = 0, files_failed = 0, files_error = 0;
  int checks = 0, checks_passed = 0, checks_failed = 0;
};

Counts count(const std::vector<CheckedFile>& files) {
  Counts c;
  for (const CheckedFile& f : files) {
    ++c.files;
    switch (status_of(f)) {
      case CheckStatus::pass: ++c.files_passed; break;
      case CheckStatus::fail: ++c.files_failed; break;
      case CheckStatus::error: ++c.files_error; break;
    }
    if (!f.result) continue;
    for (const CheckResult& r : f.result->checks) {
      ++c.checks;
      ++(r.pass ? c.checks_passed : c.checks_failed);
    }
  }
  return c;
}

std::string plural(int n, const std::string& word) { return fmt::format("{} {}{}", n, word, n == 1 ? "" : "s"); }

std::string comparison_text(const CheckResult& r) {
  if (r.unit == "start") return format_measure(r.measured, r.unit);
  // A failed check states the requirement it missed: "574 tokens/s, below the 3,000 tokens/s required".
  if (!r.pass)
    return fmt::format("{}, {} the {} {}", format_measure(r.measured, r.unit),
                       r.comparison == Comparison::at_most ? "above" : "below", format_measure(r.limit, r.unit),
                       r.comparison == Comparison::at_most ? "allowed" : "required");
  return fmt::format("{} {} {}", format_measure(r.measured, r.unit), symbol(r.comparison), format_measure(r.limit, r.unit));
}

std::string heading(const CheckedFile& f) {
  const Estimate& e = f.result->estimates.workload;
  std::string out = f.name == f.file ? f.file : fmt::format("{} ({})", f.name, f.file);
  return out + fmt::format(": {} on {}{}", e.model.id, e.gpu.id,
                           e.options.cache.tp > 1 ? fmt::format(" x{} (tensor parallel)", e.options.cache.tp) : "");
}

}  // namespace

CheckStatus status_of(const CheckedFile& f) {
  if (!f.result) return CheckStatus::error;
  return f.result->pass() ? CheckStatus::pass : CheckStatus::fail;
}

int exit_status(const std::vector<CheckedFile>& files) {
  int worst = 0;
  for (const CheckedFile& f : files) {
    const CheckStatus s = status_of(f);
    worst = std::max(worst, s == CheckStatus::error ? 2 : s == CheckStatus::fail ? 1 : 0);
  }
  return worst;
}

std::string format_measure(double value, const std::string& unit) {
  if (unit == "bytes") return gib(static_cast<int64_t>(value));
  if (unit == "percent") return fmt::format("{:.1f}%", value);
  if (unit == "sequences") return group_digits(static_cast<int64_t>(value)) + (value == 1 ? " sequence" : " sequences");
  if (unit == "s") return value < 1 ? fmt::format("{:.1f} ms", value * 1e3) : fmt::format("{:.3f} s", value);
  if (unit == "USD") return fmt::format("${:.4f}", value);
  if (unit == "blocks") return group_digits(static_cast<int64_t>(value)) + (value == 1 ? " block" : " blocks");
  if (unit == "start") return value >= 1 ? "starts" : "fails to start";
  if (unit == "tokens/s") return group_digits(static_cast<int64_t>(std::llround(value))) + " tokens/s";
  return fmt::format("{:.6g} {}", value, unit);
}

std::string render_check_text(const std::vector<CheckedFile>& files) {
  std::string out;
  for (const CheckedFile& f : files) {
    if (!f.result) continue;
    out += heading(f) + "\n";
    int failed = 0;
    for (const CheckResult& r : f.result->checks) {
      failed += r.pass ? 0 : 1;
      out += fmt::format("  {}  {:<33}  {:<44}  {}\n", r.pass ? "PASS" : "FAIL", r.name, comparison_text(r),
                         r.description);
    }
    const int n = static_cast<int>(f.result->checks.size());
    out += fmt::format("  {}: {} passed, {} failed\n\n", plural(n, "check"), n - failed, failed);
  }
  const Counts c = count(files);
  out += fmt::format("kvplan check: {}: {} passed, {} failed, {} with bad input\n", plural(c.files, "file"),
                     c.files_passed, c.files_failed, c.files_error);
  return out;
}

Json check_to_json(const std::vector<CheckedFile>& files) {
  const Counts c = count(files);
  const int status = exit_status(files);
  Json j;
  j["schema_version"] = kSchemaVersion;
  j["status"] = status == 0 ? "pass" : status == 1 ? "fail" : "error";
  j["exit_status"] = status;
  j["summary"] = {{"files", c.files},   {"files_passed", c.files_passed},   {"files_failed", c.files_failed},
                  {"files_error", c.files_error}, {"checks", c.checks}, {"checks_passed", c.checks_passed},
                  {"checks_failed", c.checks_failed}};
  Json list = Json::array();
  for (const CheckedFile& f : files) {
    Json jf;
    jf["file"] = f.file;
    jf["name"] = f.name;
    jf["status"] = status_name(status_of(f));
    jf["notes"] = f.notes;
    jf["warnings"] = f.warnings;
    if (!f.result) {
      jf["error"] = f.error;
      list.push_back(jf);
      continue;
    }
    Json checks = Json::array();
    for (const CheckResult& r : f.result->checks)
      checks.push_back({{"name", r.name},
                        {"status", r.pass ? "pass" : "fail"},
                        {"measured", r.measured},
                        {"comparison", symbol(r.comparison)},
                        {"limit", r.limit},
                        {"unit", r.unit},
                        {"description", r.description}});
    jf["checks"] = checks;
    jf["estimate"] = to_json(f.result->estimates.workload);
    list.push_back(jf);
  }
  j["files"] = list;
  return j;
}

// XML 1.0 text: markup characters as entities; bytes that are not UTF-8 and control characters
// XML cannot hold (all below 0x20 but tab, newline and carriage return) become U+FFFD.
std::string xml_escape(const std::string& raw) {
  std::string text;
  for (size_t i = 0; i < raw.size();) {
    const size_t bad = invalid_utf8_at(raw, i);
    const size_t good_end = bad == std::string::npos ? raw.size() : bad;
    text.append(raw, i, good_end - i);
    i = good_end;
    if (bad != std::string::npos) {
      text += "\xEF\xBF\xBD";
      ++i;
    }
  }
  std::string out;
  for (char ch : text) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
      out += "\xEF\xBF\xBD";
      continue;
    }
    switch (ch) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += ch;
    }
  }
  return out;
}

std::string render_junit(const std::vector<CheckedFile>& files) {
  const Counts c = count(files);
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  out += fmt::format("<testsuites name=\"kvplan check\" tests=\"{}\" failures=\"{}\" errors=\"{}\">\n",
                     c.checks + c.files_error, c.checks_failed, c.files_error);
  for (const CheckedFile& f : files) {
    const std::string suite = xml_escape(f.name);
    const std::string file = xml_escape(f.file);
    if (!f.result) {
      out += fmt::format("  <testsuite name=\"{}\" tests=\"1\" failures=\"0\" errors=\"1\" file=\"{}\">\n", suite, file);
      out += fmt::format("    <testcase name=\"input\" classname=\"{}\" file=\"{}\">\n", suite, file);
      out += fmt::format("      <error type=\"input\" message=\"{}\"/>\n", xml_escape(f.error));
      out += "    </testcase>\n  </testsuite>\n";
      continue;
    }
    int failed = 0;
    for (const CheckResult& r : f.result->checks) failed += r.pass ? 0 : 1;
    out += fmt::format("  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" file=\"{}\">\n", suite,
                       f.result->checks.size(), failed, file);
    for (const CheckResult& r : f.result->checks) {
      out += fmt::format("    <testcase name=\"{}\" classname=\"{}\" file=\"{}\">\n", xml_escape(r.name), suite, file);
      const std::string text = xml_escape(comparison_text(r) + ": " + r.description);
      if (r.pass) out += fmt::format("      <system-out>{}</system-out>\n", text);
      else out += fmt::format("      <failure type=\"limit\" message=\"{}\">{}</failure>\n", text, text);
      out += "    </testcase>\n";
    }
    out += "  </testsuite>\n";
  }
  out += "</testsuites>\n";
  return out;
}

}  // namespace kvplan

namespace kvplan {

std::string render_deploy_explain(const std::vector<std::pair<std::string, std::string>>& sections,
                                  const std::vector<DeployKeyDoc>& keys) {
  std::string out = fmt::format(
      "kvplan deployment file (schema_version {}), read by `kvplan check FILE...`; see docs/check.md.\n"
      "Unknown keys are errors. Paths are relative to the deployment file.\n",
      kDeploySchemaVersion);
  for (const auto& [section, what] : sections) {
    const std::string indent = section.empty() ? "" : "  ";
    out += "\n" + (section.empty() ? std::string("top level") : section + ":") + "  # " + what + "\n";
    for (const DeployKeyDoc& k : keys) {
      if (k.section != section) continue;
      const std::string dflt = k.default_value == "required" ? "required"
                               : k.default_value.empty()     ? "default: unset"
                                                             : "default: " + k.default_value;
      out += fmt::format("{}{:<24} {:<11} {} [{}]\n", indent, k.key, k.type, k.meaning, dflt);
    }
  }
  return out;
}

}  // namespace kvplan
