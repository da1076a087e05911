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
std::string seconds(double s);                   // 0.00662 -> "6.620 ms", 95.2 -> "95.20 s"
std::string human_flops(double flops);           // 6.71e13 -> "67.10 T"

}  // namespace kvplan
