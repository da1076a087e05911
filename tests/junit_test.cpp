// The JUnit XML `kvplan check --junit` writes must be well-formed XML that CI systems read: a
// small validating parser here checks nesting, quoting and entities, then the counts.
#include <catch2/catch.hpp>

#include <map>
#include <memory>

#include "core/error.h"
#include "report/check_report.h"

using namespace kvplan;

namespace {

struct Element {
  std::string name;
  std::map<std::string, std::string> attrs;
  std::vector<std::unique_ptr<Element>> children;
  std::string text;
  std::vector<const Element*> all(const std::string& tag) const {
    std::vector<const Element*> out;
    for (const auto& c : children)
      if (c->name == tag) out.push_back(c.get());
    return out;
  }
};

// A strict parser for the XML subset JUnit reports use: one declaration, elements, attributes in
// double quotes, text, and the five predefined entities. Throws std::runtime_error when malformed.
class XmlParser {
 public:
  explicit XmlParser(std::string s) : s_(std::move(s)) {}
  std::unique_ptr<Element> document() {
    expect("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    skip_space();
    auto root = element();
    skip_space();
    if (i_ != s_.size()) fail("content after the root element");
    return root;
  }

 private:
  [[noreturn]] void fail(const std::string& why) { throw std::runtime_error(why + " at offset " + std::to_string(i_)); }
  void expect(const std::string& lit) {
    if (s_.compare(i_, lit.size(), lit) != 0) fail("expected '" + lit + "'");
    i_ += lit.size();
  }
  void skip_space() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }
  std::string name() {
    const size_t start = i_;
    while (i_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[i_])) || s_[i_] == '-' || s_[i_] == '_')) ++i_;
    if (i_ == start) fail("expected a name");
    return s_.substr(start, i_ - start);
  }
  std::string decoded(char end) {
    std::string out;
    while (i_ < s_.size() && s_[i_] != end) {
      const char c = s_[i_];
      if (c == '<' || (end == '"' && c == '>')) fail("unescaped markup character");
      if (c == '&') {
        static const std::map<std::string, char> entities = {
            {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
        bool ok = false;
        for (const auto& [e, ch] : entities) {
          if (s_.compare(i_, e.size(), e) == 0) {
            out += ch;
            i_ += e.size();
            ok = true;
            break;
          }
        }
        if (!ok) fail("bad entity");
        continue;
      }
      out += c;
      ++i_;
    }
    return out;
  }
  std::unique_ptr<Element> element() {
    expect("<");
    auto e = std::make_unique<Element>();
    e->name = name();
    while (true) {
      skip_space();
      if (s_.compare(i_, 2, "/>") == 0) {
        i_ += 2;
        return e;
      }
      if (s_.compare(i_, 1, ">") == 0) {
        ++i_;
        break;
      }
      const std::string key = name();
      expect("=\"");
      if (e->attrs.count(key)) fail("duplicate attribute " + key);
      e->attrs[key] = decoded('"');
      expect("\"");
    }
    while (true) {
      e->text += decoded('<');
      if (s_.compare(i_, 2, "</") == 0) {
        i_ += 2;
        if (name() != e->name) fail("mismatched closing tag for " + e->name);
        expect(">");
        return e;
      }
      if (i_ >= s_.size()) fail("unterminated element " + e->name);
      e->children.push_back(element());
    }
  }
  std::string s_;
  size_t i_ = 0;
};

CheckedFile file_with(const std::string& name, std::vector<bool> passes) {
  CheckedFile f{name + ".yaml", name, DeployResult{}, ""};
  int i = 0;
  for (bool p : passes)
    f.result->checks.push_back({"check_" + std::to_string(i++), p, 1, 2, Comparison::at_most, "bytes", "a <test> & \"q\""});
  f.result->estimates.workload.model.id = "m";
  f.result->estimates.workload.gpu.id = "g";
  return f;
}

}  // namespace

TEST_CASE("junit: the parser in this test rejects malformed XML", "[junit]") {
  auto parses = [](const std::string& s) {
    try {
      XmlParser(s).document();
      return true;
    } catch (const std::runtime_error&) {
      return false;
    }
  };
  const std::string decl = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  CHECK(parses(decl + "<a x=\"1\"><b/>t &amp; u</a>\n"));
  CHECK_FALSE(parses(decl + "<a><b></a>"));
  CHECK_FALSE(parses(decl + "<a x=\"1 & 2\"/>"));
  CHECK_FALSE(parses(decl + "<a>1 < 2</a>"));
  CHECK_FALSE(parses(decl + "<a/><b/>"));
  CHECK_FALSE(parses("<a/>"));
}

TEST_CASE("junit: one suite per file, one case per check, counts add up", "[junit]") {
  CheckedFile bad{"bad.yaml", "bad.yaml", std::nullopt, "bad.yaml:3:1: unknown key 'x' in <engine> & \"more\""};
  const std::vector<CheckedFile> files = {file_with("a", {true, true}), file_with("b & <c>", {true, false, false}), bad};
  const std::string xml = render_junit(files);
  std::unique_ptr<Element> root;
  REQUIRE_NOTHROW(root = XmlParser(xml).document());
  CHECK(root->name == "testsuites");
  CHECK(root->attrs.at("tests") == "6");
  CHECK(root->attrs.at("failures") == "2");
  CHECK(root->attrs.at("errors") == "1");
  const auto suites = root->all("testsuite");
  REQUIRE(suites.size() == 3);
  CHECK(suites[1]->attrs.at("name") == "b & <c>");
  CHECK(suites[1]->attrs.at("tests") == "3");
  CHECK(suites[1]->attrs.at("failures") == "2");
  int failures = 0;
  for (const Element* s : suites) {
    const auto cases = s->all("testcase");
    CHECK(std::to_string(cases.size()) == s->attrs.at("tests"));
    for (const Element* c : cases) {
      CHECK(c->attrs.at("classname") == s->attrs.at("name"));
      failures += static_cast<int>(c->all("failure").size());
    }
  }
  CHECK(failures == 2);
  const auto error = suites[2]->all("testcase").at(0)->all("error");
  REQUIRE(error.size() == 1);
  CHECK(error[0]->attrs.at("message") == "bad.yaml:3:1: unknown key 'x' in <engine> & \"more\"");
}

TEST_CASE("junit: exit status is the worst over files", "[junit]") {
  CheckedFile bad{"bad.yaml", "bad.yaml", std::nullopt, "x"};
  CHECK(exit_status({file_with("a", {true})}) == 0);
  CHECK(exit_status({file_with("a", {true}), file_with("b", {false})}) == 1);
  CHECK(exit_status({file_with("a", {false}), bad, file_with("c", {true})}) == 2);
  CHECK(exit_status({}) == 0);
}

TEST_CASE("check json: schema_version, status, per-check fields", "[junit]") {
  CheckedFile bad{"bad.yaml", "bad.yaml", std::nullopt, "bad.yaml:1:1: nope"};
  const Json j = check_to_json({file_with("a", {true, false}), bad});
  CHECK(j["schema_version"] == 2);
  CHECK(j["status"] == "error");
  CHECK(j["exit_status"] == 2);
  CHECK(j["summary"]["checks_failed"] == 1);
  CHECK(j["files"][0]["status"] == "fail");
  CHECK(j["files"][0]["checks"][1]["status"] == "fail");
  CHECK(j["files"][0]["checks"][1]["comparison"] == "<=");
  CHECK(j["files"][0]["checks"][1]["unit"] == "bytes");
  CHECK(j["files"][0].contains("estimate"));
  CHECK(j["files"][1]["error"] == "bad.yaml:1:1: nope");
}

TEST_CASE("junit: bytes that are not UTF-8 and control characters become U+FFFD", "[junit]") {
  // A suite named with a Latin-1 byte (0xE9) and a control byte (0x01): XML 1.0 can hold neither.
  const std::vector<CheckedFile> files = {file_with(std::string("caf\xE9\x01"), {true})};
  const std::string xml = render_junit(files);
  CHECK(invalid_utf8_at(xml) == std::string::npos);
  CHECK(xml.find('\x01') == std::string::npos);
  std::unique_ptr<Element> root;
  REQUIRE_NOTHROW(root = XmlParser(xml).document());
  CHECK(root->all("testsuite").at(0)->attrs.at("name") == "caf\xEF\xBF\xBD\xEF\xBF\xBD");
}
