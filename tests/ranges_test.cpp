#include <catch2/catch.hpp>

#include "core/error.h"
#include "io/ranges.h"

using namespace kvplan;
using V = std::vector<int64_t>;

TEST_CASE("range: single values and lists with suffixes", "[ranges]") {
  CHECK(parse_range("4096", "--context") == V{4096});
  CHECK(parse_range("1,8,32k", "--batch") == V{1, 8, 32768});
  CHECK(parse_range("1M", "--context") == V{1048576});
}

TEST_CASE("range: geometric includes both ends when hit", "[ranges]") {
  CHECK(parse_range("1k..16k:x2", "--context") == V{1024, 2048, 4096, 8192, 16384});
  CHECK(parse_range("1k..1M:x2", "--context").size() == 11);
  CHECK(parse_range("1..100:x10", "--batch") == V{1, 10, 100});
  CHECK(parse_range("3..100:x10", "--batch") == V{3, 30});  // 300 > HI
}

TEST_CASE("range: geometric with a fractional factor rounds and never repeats", "[ranges]") {
  CHECK(parse_range("1..8:x1.5", "--batch") == V{1, 2, 3, 5, 8});  // 1, 1.5->2, 2.25->2 (skipped), 3.4, 5.1, 7.6
}

TEST_CASE("range: arithmetic", "[ranges]") {
  CHECK(parse_range("1..5:+1", "--batch") == V{1, 2, 3, 4, 5});
  CHECK(parse_range("1..10:+4", "--batch") == V{1, 5, 9});
  CHECK(parse_range("1..1M:+1", "--context").size() == 1048576);
  CHECK(parse_range("1k..2k:+512", "--context") == V{1024, 1536, 2048});
}

TEST_CASE("range: lists mix values and ranges in order", "[ranges]") {
  CHECK(parse_range("1..4:x2,100,1k..2k:x2", "--batch") == V{1, 2, 4, 100, 1024, 2048});
}

TEST_CASE("range: errors name the flag and the expected syntax", "[ranges]") {
  auto message = [](const std::string& text) {
    try {
      parse_range(text, "--context");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(message("1k..1M") ==
        "--context: a range needs a step in '1k..1M' (expected LO..HI:xF for a geometric range such as 1k..1M:x2, "
        "or LO..HI:+S such as 1..64:+1)");
  CHECK(message("8..1:+1").find("the end is below the start") != std::string::npos);
  CHECK(message("1..8:x1").find("the factor must be a number above 1") != std::string::npos);
  CHECK(message("1..8:/2").find("the step must be xF or +S") != std::string::npos);
  CHECK(message("1..8:+0").find("must be positive") != std::string::npos);
  CHECK(message("1,,2") == "--context: empty item in '1,,2'");
  CHECK(message("").find("empty value") != std::string::npos);
  CHECK(message("1..1G:+1").find("more than") != std::string::npos);
}

TEST_CASE("list: names split on commas", "[ranges]") {
  CHECK(parse_list("a,b,c", "--model") == std::vector<std::string>{"a", "b", "c"});
  CHECK_THROWS_AS(parse_list("a,", "--model"), Error);
}
