// Checked 64-bit integer arithmetic for byte and token counts: an overflow is a kvplan::Error,
// never a wrapped (wrong) number.
#pragma once

#include <cstdint>

#include "core/error.h"

namespace kvplan {

inline int64_t mul(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) throw Error("size overflows 64-bit arithmetic");
  return r;
}
inline int64_t add(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) throw Error("size overflows 64-bit arithmetic");
  return r;
}
inline int64_t mul(int64_t a, int64_t b, int64_t c) { return mul(mul(a, b), c); }
// Rounds up without forming a + b - 1 (which overflows near 2^63); a >= 0, b > 0.
inline int64_t ceil_div(int64_t a, int64_t b) { return a / b + (a % b != 0 ? 1 : 0); }

}  // namespace kvplan
