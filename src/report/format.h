// Small text helpers shared by the table printers.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace kvplan {

std::string group_digits(int64_t v);             // 1234567 -> "1,234,567"
std::string gib(int64_t bytes);                  // "131.42 GiB"
std::string human_count(int64_t v);              // 70553706496 -> "70.55 B"
std::string percent(double fraction);            // 0.9 -> "90%"

}  // namespace kvplan
