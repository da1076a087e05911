// parse_yaml (src/io/yaml_fields.cpp): syntax errors yaml-cpp lets through are reported at their
// line:col, and valid quoting (quotes inside plain text, block scalars, comments) is not.
#include <catch2/catch.hpp>

#include "core/error.h"
#include "io/yaml_fields.h"

using namespace kvplan;

namespace {
// The located message of parsing `text`, or "" when it parses.
std::string error_of(const std::string& text) {
  try {
    parse_yaml(text, "t.yaml");
  } catch (const Error& e) {
    CHECK(e.exit_status() == 2);
    return e.located();
  }
  return "";
}
}  // namespace

TEST_CASE("an unclosed quote is a syntax error where it opens", "[yaml]") {
  CHECK(error_of("name: \"Llama\nid: x\n") ==
        "t.yaml:1:7: malformed YAML: the double-quoted string that starts here has no closing \"");
  CHECK(error_of("id: x\nname: 'Llama\n") ==
        "t.yaml:2:7: malformed YAML: the single-quoted string that starts here has no closing '");
  CHECK(error_of("a: [x, \"y]\n") == "t.yaml:1:8: malformed YAML: the double-quoted string that starts here has no closing \"");
  CHECK(error_of("- \"open") == "t.yaml:1:3: malformed YAML: the double-quoted string that starts here has no closing \"");
  CHECK(error_of("a: !!str \"x\nb: 1\n").rfind("t.yaml:1:10: ", 0) == 0);
}

TEST_CASE("closed quotes and quotes that are text parse", "[yaml]") {
  CHECK(error_of("name: \"Llama\"\nid: 'x'\n") == "");
  CHECK(error_of("name: \"two\n  lines\"\n") == "");           // a quoted scalar may span lines
  CHECK(error_of("name: \"esc \\\" quote\"\n") == "");         // \" inside double quotes
  CHECK(error_of("name: 'it''s'\n") == "");                     // '' inside single quotes
  CHECK(error_of("name: it's \"here\n") == "");                 // quotes inside a plain scalar
  CHECK(error_of("name: x  # it's a comment\n") == "");
  CHECK(error_of("# \"comment\nname: x\n") == "");
  CHECK(error_of("text: |\n  it's \"open\n  more\nb: 'ok'\n") == "");  // a block scalar's lines are text
  CHECK(error_of("text: >-\n  it's\n") == "");
  CHECK(error_of("a: {b: \"c\", d: 'e'}\nf: [\"g\", 'h']\n") == "");
  CHECK(error_of("a: &x \"v\"\nb: *x\n") == "");
  CHECK(error_of("\"quoted key\": 1\n") == "");
}
