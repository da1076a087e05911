#include <catch2/catch.hpp>

#include "core/error.h"
#include "io/numbers.h"
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

TEST_CASE("numbers: whole numbers in scientific notation; bytes whole unless a unit rounds them", "[numbers]") {
  CHECK(parse_count("1e3", "--batch") == 1000);
  CHECK(parse_count("2.5e3", "--batch") == 2500);
  CHECK(parse_count("1e3k", "--context") == 1024000);
  CHECK_THROWS_WITH(parse_count("1.5", "--batch"), Catch::Contains("not a whole number"));
  CHECK_THROWS_WITH(parse_count("1e19", "--batch"), Catch::Contains("overflows 64-bit"));  // 1e19 > 2^63
  CHECK_THROWS_WITH(parse_count("1e-3", "--batch"), Catch::Contains("not a whole number"));
  CHECK_THROWS_WITH(parse_bytes("1.5", "--kv-cache-memory"), Catch::Contains("not a whole number of bytes"));
  CHECK(parse_bytes("1.5KiB", "--kv-cache-memory") == 1536);
  CHECK(parse_bytes("0.3GB", "--kv-cache-memory") == 300000000);  // 0.3 x 1e9 rounds to the byte
  CHECK(parse_bytes("1.6e10", "--kv-cache-memory") == 16000000000);
}

TEST_CASE("range: a factor a hair above 1 and too many values in all fail fast", "[ranges]") {
  // log(2) / log(1 + 2^-52) ~ 3e15 steps, above the 2^20 values a flag may expand to.
  CHECK_THROWS_WITH(parse_range("1..2:x1.0000000000000002", "--context"), Catch::Contains("too close to 1"));
  // Each item is below 2^20 values; the four together are not.
  CHECK_THROWS_WITH(parse_range("1..300000:+1,1..300000:+1,1..300000:+1,1..300000:+1", "--batch"),
                    Catch::Contains("more than 1048576 values in all"));
}

TEST_CASE("text: UTF-8 validation and one-line printing", "[errors]") {
  CHECK(invalid_utf8_at("plain ascii") == std::string::npos);
  CHECK(invalid_utf8_at("caf\xC3\xA9") == std::string::npos);   // é
  CHECK(invalid_utf8_at("caf\xE9!") == 3);                       // Latin-1 é
  CHECK(invalid_utf8_at("\xC0\xAF") == 0);                       // overlong '/'
  CHECK(invalid_utf8_at("\xED\xA0\x80") == 0);                   // a UTF-16 surrogate
  CHECK(invalid_utf8_at("ok\xF0\x9F\x98") == 2);                 // truncated 4-byte sequence
  CHECK(printable("two\nlines\x01 caf\xE9") == "two\\x0alines\\x01 caf\\xe9");
  CHECK(Error("bad\rvalue", {"f.yaml", 2, 3}).located() == "f.yaml:2:3: bad\\x0dvalue");
}
