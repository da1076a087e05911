#include "core/kv_sharing.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/checked.h"
#include "core/error.h"

namespace kvplan {

const char* name(Allocation a) {
  switch (a) {
    case Allocation::exact: return "exact";
    case Allocation::paged: return "paged";
    case Allocation::contiguous: return "contiguous";
  }
  return "?";
}

void check_sharing(const KvSharing& s, int64_t context) {
  if (s.block_tokens < 1) throw Error("block size must be at least 1 token");
  if (s.branches < 1) throw Error("branches must be at least 1");
  if (s.shared_prefix < 0 || s.trunk < 0) throw Error("shared prefix and trunk must not be negative");
  if (!(s.prefix_hit_rate >= 0 && s.prefix_hit_rate <= 1))
    throw Error("prefix cache hit rate must be a fraction in [0, 1]");
  if (s.branches > 1 && s.trunk == 0)
    throw Error(std::to_string(s.branches) + " branches need a trunk: the tokens of each request that its branches "
                "share (--trunk, or workload.trunk_tokens)");
  if (s.shared_prefix > context)
    throw Error("shared prefix of " + std::to_string(s.shared_prefix) + " tokens is longer than the context (" +
                std::to_string(context) + "): the prefix is part of each sequence's context");
  if (s.trunk > context)
    throw Error("trunk of " + std::to_string(s.trunk) + " tokens is longer than the context (" + std::to_string(context) +
                "): the context is one branch's whole length, trunk included");
  if (s.trunk > 0 && s.shared_prefix > s.trunk)
    throw Error("shared prefix (" + std::to_string(s.shared_prefix) + " tokens) is longer than the trunk (" +
                std::to_string(s.trunk) + "): the prefix every request shares lies inside each trunk");
  if (s.allocation == Allocation::contiguous && (s.shared_prefix > 0 || s.trunk > 0))
    throw Error("contiguous allocation reserves each sequence's cache whole: a shared prefix or trunk needs paged "
                "(or exact) allocation");
  if (s.allocation == Allocation::contiguous && s.reserve_tokens > 0 && s.reserve_tokens < context)
    throw Error("contiguous allocation reserves " + std::to_string(s.reserve_tokens) +
                " tokens per sequence (max_model_len), fewer than the context " + std::to_string(context));
}

int64_t cached_prompt_tokens(double prefix_hit_rate, int64_t prompt) {
  if (prompt < 1 || !(prefix_hit_rate > 0)) return 0;
  const double cached = std::floor(std::min(prefix_hit_rate, 1.0) * static_cast<double>(prompt));
  return std::min(static_cast<int64_t>(cached), prompt - 1);
}

namespace {

// One sequence's tokens in one layer group (full attention: window 0) at context n.
struct Span {
  int64_t allocated = 0;  // tokens' worth of cache allocated for one sequence
  int64_t held = 0;       // tokens actually resident
};

Span span(int64_t window, int64_t n, const KvSharing& s) {
  const int64_t first = window > 0 ? std::max<int64_t>(0, n - window) : 0;  // oldest resident token
  Span out;
  out.held = n - first;
  switch (s.allocation) {
    case Allocation::exact: out.allocated = out.held; break;
    case Allocation::paged: {
      // Blocks entirely before the window are freed; the block holding `first` stays.
      const int64_t b = s.block_tokens;
      out.allocated = mul(ceil_div(n, b) - first / b, b);
      break;
    }
    case Allocation::contiguous: {
      const int64_t reserve = std::max(s.reserve_tokens, n);
      out.allocated = window > 0 ? std::min(reserve, window) : reserve;
      break;
    }
  }
  return out;
}

// Tokens of the first `prefix` tokens, in whole blocks, that are still allocated at context n.
int64_t shared_tokens(int64_t window, int64_t n, int64_t prefix, const KvSharing& s) {
  const int64_t b = s.allocation == Allocation::paged ? s.block_tokens : 1;
  const int64_t whole = prefix / b * b;  // only full blocks are shared
  const int64_t first = window > 0 ? std::max<int64_t>(0, n - window) : 0;
  const int64_t first_allocated = first / b * b;
  return std::max<int64_t>(0, whole - first_allocated);
}

}  // namespace

KvUse kv_use(const KvTerms& terms, int64_t batch, int64_t context, const KvSharing& given) {
  // A sequence shorter than the prefix or trunk shares its whole context (the searches for the
  // largest context pass through such points; a user's own context is checked by check_sharing).
  KvSharing s = given;
  s.shared_prefix = std::min(s.shared_prefix, context);
  s.trunk = std::min(s.trunk, context);
  if (s.allocation == Allocation::contiguous) s.shared_prefix = s.trunk = 0;
  KvUse u;
  u.sequences = mul(batch, s.branches);
  const int64_t trunk = std::max(s.trunk, s.shared_prefix);
  auto add_group = [&](int64_t window, int64_t bytes_per_token) {
    if (bytes_per_token == 0) return;
    const Span sp = span(window, context, s);
    const int64_t prefix = shared_tokens(window, context, s.shared_prefix, s);
    const int64_t per_request = shared_tokens(window, context, trunk, s) - prefix;
    const int64_t own = sp.allocated - prefix - per_request;
    const int64_t once = add(mul(prefix, bytes_per_token), mul(batch, per_request, bytes_per_token));
    u.shared_bytes = add(u.shared_bytes, once);
    u.owned_bytes = add(u.owned_bytes, mul(u.sequences, own, bytes_per_token));
    u.unshared_bytes = add(u.unshared_bytes, mul(u.sequences, sp.allocated, bytes_per_token));
    u.fragmentation_bytes = add(u.fragmentation_bytes, mul(u.sequences, sp.allocated - sp.held, bytes_per_token));
  };
  add_group(0, terms.full_bytes_per_token);
  for (const auto& [window, bytes] : terms.windowed) add_group(window, bytes);
  u.total_bytes = add(u.shared_bytes, u.owned_bytes);
  return u;
}

}  // namespace kvplan
