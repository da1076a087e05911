// Integer search over a monotone predicate, shared by the memory plan's searches (largest batch,
// longest context) and the length distributions' most requests.
#pragma once

#include <cstdint>

namespace kvplan {

// Largest x in [1, limit] with ok(x), given ok is monotone (true then false); 0 if !ok(1).
// Doubling from 1, then bisection: O(log x) calls of ok.
template <typename Ok>
int64_t largest_true(int64_t limit, Ok ok) {
  if (!ok(1)) return 0;
  int64_t lo = 1, hi = 2;
  while (hi < limit && ok(hi)) {
    lo = hi;
    hi = hi > limit / 2 ? limit : hi * 2;
  }
  if (hi >= limit && ok(limit)) return limit;
  while (hi - lo > 1) {  // ok(lo) && !ok(hi)
    const int64_t mid = lo + (hi - lo) / 2;
    (ok(mid) ? lo : hi) = mid;
  }
  return lo;
}

}  // namespace kvplan
