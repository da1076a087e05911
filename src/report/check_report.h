// Printers for `kvplan check`: one line per check for people, JSON (schema_version 1) for
// scripts, JUnit XML for CI test reports. All over the same list of checked files.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/checks.h"
#include "report/estimate_report.h"

namespace kvplan {

// One deployment file's outcome: results, or the input error that stopped it.
struct CheckedFile {
  std::string file;                   // path as given
  std::string name;                   // display name (the file's `name`, else the path)
  std::optional<DeployResult> result; // absent when the input was bad
  std::string error;                  // "file:line:col: message" when the input was bad
  std::vector<std::string> notes;     // what kvplan accepted without modelling (engine arguments, defaults)
  std::vector<std::string> warnings;  // what may make the answer another engine's (an unpinned version)
};

enum class CheckStatus { pass, fail, error };
CheckStatus status_of(const CheckedFile& f);
// 0 all checks pass, 1 a check fails, 2 an input is bad: the worst over all files.
int exit_status(const std::vector<CheckedFile>& files);

// "38.21 GiB", "42.1%", "12 sequences", "0.25 s": a check's value in its unit, for people.
std::string format_measure(double value, const std::string& unit);

// Per file: a heading, one PASS/FAIL line per check, a count; then an overall summary line.
// Input errors are not included (the CLI prints them to stderr).
std::string render_check_text(const std::vector<CheckedFile>& files);
Json check_to_json(const std::vector<CheckedFile>& files);
// JUnit XML: one <testsuite> per file, one <testcase> per check; a bad file is one <error>.
std::string render_junit(const std::vector<CheckedFile>& files);
// Escapes &, <, >, " and ' for XML text and attributes.
std::string xml_escape(const std::string& text);

}  // namespace kvplan

#include "io/deploy_yaml.h"

namespace kvplan {
// `kvplan check --explain`: every deployment-file key with its type, default and meaning.
std::string render_deploy_explain(const std::vector<std::pair<std::string, std::string>>& sections,
                                  const std::vector<DeployKeyDoc>& keys);
}  // namespace kvplan
