#include "core/length_dist.h"
#include "core/search.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "core/checked.h"
#include "core/engine.h"
#include "core/error.h"

namespace kvplan {

const char* name(P99Method m) {
  switch (m) {
    case P99Method::exact: return "exact";
    case P99Method::monte_carlo: return "monte_carlo";
    case P99Method::normal: return "normal";
  }
  return "?";
}

namespace {
std::string str(int64_t v) { return std::to_string(v); }

void check_range(const LengthRange& r, const char* what) {
  if (r.lo < 1 || r.hi < 1)
    throw Error(std::string(what) + " lengths must be at least 1 token (got " + str(std::min(r.lo, r.hi)) + ")");
  if (r.lo > r.hi)
    throw Error(std::string(what) + " lengths uniform:" + str(r.lo) + ".." + str(r.hi) +
                ": the first bound is above the second");
}

int64_t longest_of(const LengthDist& d) {
  switch (d.kind) {
    case LengthsKind::independent: return d.prompt.hi + d.output.hi;
    case LengthsKind::trace: {
      int64_t m = 0;
      for (const LengthPair& p : d.trace) m = std::max(m, p.prompt + p.output);
      return m;
    }
  }
  return 0;
}

// c + (c + 1) + ... + g: the engine steps of requests of outputs c..g, one each.
int64_t steps_up_to(int64_t c, int64_t g) { return (g * (g + 1) - (c - 1) * c) / 2; }  // g <= 2^22

int64_t shortest_prompt(const LengthDist& d) {
  switch (d.kind) {
    case LengthsKind::independent: return d.prompt.lo;
    case LengthsKind::trace: {
      int64_t m = d.trace.front().prompt;
      for (const LengthPair& p : d.trace) m = std::min(m, p.prompt);
      return m;
    }
  }
  return 0;
}
}  // namespace

int64_t longest_request(const LengthDist& d) {
  check_lengths(d);
  return longest_of(d);
}

void check_lengths(const LengthDist& d) {
  constexpr int64_t kHalf = kMaxDistTokens;  // each length alone, so that their sum cannot overflow
  switch (d.kind) {
    case LengthsKind::independent:
      check_range(d.prompt, "prompt");
      check_range(d.output, "output");
      if (d.prompt.hi > kHalf || d.output.hi > kHalf || d.prompt.hi + d.output.hi > kMaxDistTokens)
        throw Error("prompt + output lengths reach " + str(std::min(d.prompt.hi, kHalf) + std::min(d.output.hi, kHalf)) +
                    " tokens, past the " + str(kMaxDistTokens) + " a length distribution may hold");
      break;
    case LengthsKind::trace:
      if (d.trace.empty()) throw Error("the trace holds no request");
      for (const LengthPair& p : d.trace) {
        if (p.prompt < 1 || p.output < 1) throw Error("trace lengths must be at least 1 token");
        if (p.prompt > kHalf || p.output > kHalf || p.prompt + p.output > kMaxDistTokens)
          throw Error("a trace request of " + str(p.prompt) + " + " + str(p.output) + " tokens is past the " +
                      str(kMaxDistTokens) + " a length distribution may hold");
      }
      if (!d.arrivals_s.empty() && d.arrivals_s.size() != d.trace.size())
        throw Error("the trace has " + str(static_cast<int64_t>(d.arrivals_s.size())) + " arrival times for " +
                    str(static_cast<int64_t>(d.trace.size())) + " requests");
      if (!d.lines.empty() && d.lines.size() != d.trace.size())
        throw Error("the trace has " + str(static_cast<int64_t>(d.lines.size())) + " line numbers for " +
                    str(static_cast<int64_t>(d.trace.size())) + " requests");
      for (double a : d.arrivals_s)
        if (!(a >= 0 && std::isfinite(a))) throw Error("trace arrival times must be finite times of at least 0 s");
      break;
  }
}

// The weights are length-biased: a request of output G runs G engine steps (its prefill's, then G - 1
// decode steps), so it is G times as likely as a one-step request to be running at a given step
// (renewal theory's inspection paradox). At a step, a running request of prompt p and output g is at
// each of its g steps with probability proportional to P(p, g), the same for every step.
// Independent case: p uniform on a..b (nP values), g uniform on c..e, so every (p, g, U) with U on
// 0..g-1 weighs w = 1 / (nP x S), S = c + ... + e; t = p + U has, for each g, the trapezoid
// w x conv(1[a..b], 1[0..g-1]), whose second difference is +w at a, -w at a+g, -w at b+1, +w at
// b+g+1. A trace's pair (p, g) contributes a box of 1/(g_1 + ... + g_N) on p..p+g-1 (first
// differences).
std::vector<double> tokens_held_pmf(const LengthDist& d) {
  check_lengths(d);
  const int64_t top = longest_of(d);
  std::vector<double> pmf(static_cast<size_t>(top) + 3, 0.0);
  std::vector<char> support(pmf.size(), 0);
  switch (d.kind) {
    case LengthsKind::independent: {
      const int64_t a = d.prompt.lo, b = d.prompt.hi, c = d.output.lo, e = d.output.hi;
      const double w = 1.0 / (static_cast<double>(b - a + 1) * static_cast<double>(steps_up_to(c, e)));
      for (int64_t g = c; g <= e; ++g) {
        pmf[static_cast<size_t>(a)] += w;
        pmf[static_cast<size_t>(a + g)] -= w;
        pmf[static_cast<size_t>(b + 1)] -= w;
        pmf[static_cast<size_t>(b + g + 1)] += w;
      }
      std::partial_sum(pmf.begin(), pmf.end(), pmf.begin());
      std::partial_sum(pmf.begin(), pmf.end(), pmf.begin());
      for (int64_t t = a; t < b + e; ++t) support[static_cast<size_t>(t)] = 1;
      break;
    }
    case LengthsKind::trace: {
      std::vector<int64_t> cover(pmf.size(), 0);
      int64_t steps = 0;
      for (const LengthPair& p : d.trace) steps += p.output;  // below 2^24 pairs x 2^22
      const double w = 1.0 / static_cast<double>(steps);
      for (const LengthPair& p : d.trace) {
        pmf[static_cast<size_t>(p.prompt)] += w;
        pmf[static_cast<size_t>(p.prompt + p.output)] -= w;
        cover[static_cast<size_t>(p.prompt)] += 1;
        cover[static_cast<size_t>(p.prompt + p.output)] -= 1;
      }
      std::partial_sum(pmf.begin(), pmf.end(), pmf.begin());
      std::partial_sum(cover.begin(), cover.end(), cover.begin());
      for (size_t t = 0; t < cover.size(); ++t) support[t] = cover[t] > 0;
      break;
    }
  }
  // Rounding in the running sums leaves ~1e-17 where no request reaches: the support is exact.
  for (size_t t = 0; t < pmf.size(); ++t) pmf[t] = support[t] ? std::max(pmf[t], 0.0) : 0.0;
  pmf.resize(static_cast<size_t>(top));  // the longest request holds at most top - 1 tokens
  return pmf;
}

namespace {

constexpr double kP = 0.99;
constexpr double kZ99 = 2.3263478740408408;  // the standard normal's 99th percentile
constexpr int64_t kMaxConvolutionLength = int64_t{1} << 22;

// Draws t = P + U from the distribution above (the output length-biased, U uniform on 0..G-1):
// splitmix64 (Steele, Lea and Flood 2014; a fixed sequence of 64-bit words from the seed) and
// Lemire's multiply-shift for a uniform index, so that the draws are the same on every platform. The
// biased output is the request owning a uniformly drawn step among all requests' steps.
class Sampler {
 public:
  explicit Sampler(const LengthDist& d) : d_(d), state_(kMonteCarloSeed) {
    if (d.kind == LengthsKind::trace) {
      int64_t steps = 0;
      for (const LengthPair& p : d.trace) ends_.push_back(steps += p.output);
    }
  }
  int64_t draw() {
    switch (d_.kind) {
      case LengthsKind::independent: {
        const int64_t p = d_.prompt.lo + index(d_.prompt.hi - d_.prompt.lo + 1);
        // The smallest g whose steps c..g pass a uniform step i.
        const int64_t c = d_.output.lo, i = index(steps_up_to(c, d_.output.hi));
        int64_t lo = c, hi = d_.output.hi;
        while (lo < hi) {
          const int64_t mid = lo + (hi - lo) / 2;
          if (steps_up_to(c, mid) > i) hi = mid;
          else lo = mid + 1;
        }
        return p + index(lo);
      }
      case LengthsKind::trace: {
        const int64_t i = index(ends_.back());
        const auto k = std::upper_bound(ends_.begin(), ends_.end(), i) - ends_.begin();
        const LengthPair& r = d_.trace[static_cast<size_t>(k)];
        return r.prompt + index(r.output);
      }
    }
    return 0;
  }

 private:
  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  int64_t index(int64_t n) {
    return static_cast<int64_t>((static_cast<unsigned __int128>(next()) * static_cast<uint64_t>(n)) >> 64);
  }
  const LengthDist& d_;
  uint64_t state_;
  std::vector<int64_t> ends_;  // trace: the running sum of the outputs
};

// The p99 of the total of b = 1, 2, ... requests, one request at a time; next() throws kvplan::Error
// (with `capped` set) where the method passes its cap.
struct Capped : Error {
  using Error::Error;
};

class ExactScan {
 public:
  // values on the lattice v_min + k x step.
  ExactScan(const std::vector<int64_t>& bytes, const std::vector<double>& pmf) {
    std::vector<std::pair<int64_t, double>> atoms;
    for (size_t t = 0; t < pmf.size(); ++t)
      if (pmf[t] > 0) atoms.emplace_back(bytes[t], pmf[t]);
    std::sort(atoms.begin(), atoms.end());
    min_ = atoms.front().first;
    for (const auto& [v, p] : atoms) step_ = std::gcd(step_, v - min_);
    if (step_ == 0) step_ = 1;
    const int64_t span = (atoms.back().first - min_) / step_;
    if (span >= kMaxConvolutionLength) throw Capped("per-request sizes spread past the exact method's lattice");
    x_.assign(static_cast<size_t>(span) + 1, 0.0);
    for (const auto& [v, p] : atoms) x_[static_cast<size_t>((v - min_) / step_)] += p;
    for (size_t k = 0; k < x_.size(); ++k)
      if (x_[k] > 0) nonzero_.push_back(k);
  }
  int64_t next() {
    if (b_ == 0) {
      s_ = x_;
    } else {
      work_ += static_cast<int64_t>(s_.size()) * static_cast<int64_t>(nonzero_.size() + 1);  // and the p99's pass
      if (work_ > kMaxConvolutionWork || static_cast<int64_t>(s_.size() + x_.size()) > kMaxConvolutionLength)
        throw Capped("the exact convolution passes its cap");
      std::vector<double> out(s_.size() + x_.size() - 1, 0.0);
      for (size_t k : nonzero_) {
        const double p = x_[k];
        for (size_t i = 0; i < s_.size(); ++i) out[i + k] += s_[i] * p;
      }
      s_.swap(out);
    }
    ++b_;
    // The smallest total whose cumulative probability reaches 0.99 (1e-9: the sums' rounding).
    double cum = 0;
    size_t k = 0;
    for (; k + 1 < s_.size(); ++k) {
      cum += s_[k];
      if (cum >= kP - 1e-9) break;
    }
    return add(mul(b_, min_), mul(static_cast<int64_t>(k), step_));
  }

 private:
  int64_t min_ = 0, step_ = 0, b_ = 0, work_ = 0;
  std::vector<double> x_, s_;
  std::vector<size_t> nonzero_;
};

class MonteCarloScan {
 public:
  MonteCarloScan(const LengthDist& d, const std::vector<int64_t>& bytes)
      : sampler_(d), bytes_(bytes), sums_(static_cast<size_t>(kMonteCarloSamples), 0) {}
  // Adds one request to every sample; the largest sample total (an upper bound on the p99).
  int64_t add_request() {
    if (mul(b_ + 1, kMonteCarloSamples) > kMaxMonteCarloDraws) throw Capped("Monte Carlo passes its cap");
    ++b_;
    int64_t top = 0;
    for (int64_t& s : sums_) {
      s += bytes_[static_cast<size_t>(sampler_.draw())];  // below 2^24 x 2^22 tokens x bytes per token
      top = std::max(top, s);
    }
    if (top < 0) throw Error("size overflows 64-bit arithmetic");
    return top;
  }
  // The ceil(0.99 M)-th smallest sample total: the smallest x whose share of samples <= x is 0.99.
  int64_t p99() const {
    std::vector<int64_t> v = sums_;
    const auto k = static_cast<ptrdiff_t>(std::ceil(kP * static_cast<double>(kMonteCarloSamples)) - 1);
    std::nth_element(v.begin(), v.begin() + k, v.end());
    return v[static_cast<size_t>(k)];
  }

 private:
  Sampler sampler_;
  const std::vector<int64_t>& bytes_;
  std::vector<int64_t> sums_;
  int64_t b_ = 0;
};

// Capped at n x the largest request (the approximation's tail passes the largest possible total
// at a few requests).
int64_t normal_p99(const std::vector<int64_t>& bytes, const std::vector<double>& pmf, int64_t n) {
  long double mean = 0, var = 0, top = 0;
  for (size_t t = 0; t < pmf.size(); ++t)
    if (pmf[t] > 0) top = std::max(top, static_cast<long double>(bytes[t]));
  for (size_t t = 0; t < pmf.size(); ++t) mean += static_cast<long double>(pmf[t]) * bytes[t];
  for (size_t t = 0; t < pmf.size(); ++t) {
    const long double dv = static_cast<long double>(bytes[t]) - mean;
    var += static_cast<long double>(pmf[t]) * dv * dv;
  }
  const long double q = static_cast<long double>(n) * mean + kZ99 * std::sqrt(var * static_cast<long double>(n));
  const long double capped = std::min(q, static_cast<long double>(n) * top);
  if (!(capped < 9.0e18L)) throw Error("size overflows 64-bit arithmetic");
  return static_cast<int64_t>(std::ceil(capped));
}

constexpr int64_t kRequestLimit = int64_t{1} << 40;

}  // namespace

int64_t p99_total(const LengthDist& d, const std::vector<int64_t>& bytes, int64_t n, P99Method method) {
  if (n < 1) throw Error("the p99 needs at least one request");
  const std::vector<double> pmf = tokens_held_pmf(d);
  if (bytes.size() < pmf.size()) throw Error("per-request sizes do not cover the distribution");
  switch (method) {
    case P99Method::exact: {
      ExactScan s(bytes, pmf);
      int64_t q = 0;
      for (int64_t b = 0; b < n; ++b) q = s.next();
      return q;
    }
    case P99Method::monte_carlo: {
      MonteCarloScan s(d, bytes);
      for (int64_t b = 0; b < n; ++b) s.add_request();
      return s.p99();
    }
    case P99Method::normal: return normal_p99(bytes, pmf, n);
  }
  return 0;
}

namespace {

// The paged p99 of `requests` requests, each holding per_request[t] units (bytes or blocks) at t
// tokens, plus `once` units held once; and the most requests whose p99 fits(b, total). The p99
// grows with the requests, so one pass b = 1, 2, ... finds the most; each by the first method
// within its cap: exact, else Monte Carlo, else the normal approximation.
struct PagedP99 {
  int64_t p99 = 0;
  P99Method method = P99Method::exact;
  int64_t samples = 0;
  int64_t max_requests = 0;
  P99Method max_method = P99Method::exact;
};
template <typename Fits>
PagedP99 paged_p99(const LengthDist& d, const std::vector<double>& pmf, const std::vector<int64_t>& per_request,
                   int64_t once, int64_t requests, Fits fits) {
  PagedP99 out;
  auto p99_fits = [&](int64_t b, int64_t q) {
    try {
      return fits(b, add(once, q));
    } catch (const Error&) {
      return false;
    }
  };
  try {
    out.p99 = add(once, p99_total(d, per_request, requests, P99Method::exact));
    out.method = P99Method::exact;
  } catch (const Capped&) {
    try {
      out.p99 = add(once, p99_total(d, per_request, requests, P99Method::monte_carlo));
      out.method = P99Method::monte_carlo;
      out.samples = kMonteCarloSamples;
    } catch (const Capped&) {
      out.p99 = add(once, normal_p99(per_request, pmf, requests));
      out.method = P99Method::normal;
    }
  }
  try {
    ExactScan scan(per_request, pmf);
    int64_t most = 0;
    for (int64_t b = 1;; ++b) {
      const int64_t q = scan.next();
      if (most == b - 1 && p99_fits(b, q)) most = b;
      if (most < b) break;
    }
    out.max_requests = most;
    out.max_method = P99Method::exact;
    return out;
  } catch (const Capped&) {
  }
  try {
    MonteCarloScan scan(d, per_request);
    int64_t most = 0;
    for (int64_t b = 1;; ++b) {
      const int64_t top = scan.add_request();
      if (!p99_fits(b, top) && !p99_fits(b, scan.p99())) break;  // every sample fits, so the p99 does
      most = b;
    }
    out.max_requests = most;
    out.max_method = P99Method::monte_carlo;
    return out;
  } catch (const Capped&) {
  }
  out.max_method = P99Method::normal;
  out.max_requests = largest_true(kRequestLimit, [&](int64_t b) {
    try {
      return p99_fits(b, normal_p99(per_request, pmf, b));
    } catch (const Error&) {
      return false;
    }
  });
  return out;
}

// The method and the most requests into `out`; returns the p99.
int64_t take(KvInUse& out, const PagedP99& p) {
  out.method = p.method;
  out.samples = p.samples;
  out.paged_max_requests = p.max_requests;
  out.max_method = p.max_method;
  return p.p99;
}

void check_prefix_in_prompts(const LengthDist& d, int64_t shared_prefix) {
  if (shared_prefix > 0 && shortest_prompt(d) < shared_prefix)
    throw Error("a prompt of " + str(shortest_prompt(d)) + " tokens is shorter than the shared prefix of " +
                str(shared_prefix) + ": the prefix is part of every prompt");
}

}  // namespace

KvInUse kv_in_use(const MemoryModel& mm, const LengthDist& d, int64_t usable, int64_t requests) {
  if (requests < 1) throw Error("requests must be at least 1");
  const std::vector<double> pmf = tokens_held_pmf(d);
  KvInUse out;
  out.requests = requests;
  out.max_tokens = static_cast<int64_t>(pmf.size()) - 1;
  const KvSharing& given = mm.sharing;
  check_prefix_in_prompts(d, given.shared_prefix);

  KvSharing paged = given;
  paged.allocation = Allocation::paged;
  KvSharing exact = given;
  exact.allocation = Allocation::exact;
  out.block_tokens = paged.block_tokens;
  // kv_use is affine in the batch: total(2) - total(1) is one request (its trunk and branches),
  // 2 total(1) - total(2) the shared prefix, held once.
  auto one_request = [&](int64_t t, const KvSharing& s) {
    const KvUse one = kv_use(mm.kv, 1, t, s), two = kv_use(mm.kv, 2, t, s);
    return std::make_pair(two.total_bytes - one.total_bytes, 2 * one.total_bytes - two.total_bytes);
  };
  std::vector<int64_t> bytes(pmf.size(), 0), held(pmf.size(), 0);
  int64_t prefix = -1, held_prefix = -1;
  long double mean_bytes = 0, mean_held = 0, mean_tokens = 0;
  for (size_t t = 0; t < pmf.size(); ++t) {
    if (!(pmf[t] > 0)) continue;
    const auto [r, pre] = one_request(static_cast<int64_t>(t), paged);
    const auto [h, held_pre] = one_request(static_cast<int64_t>(t), exact);
    bytes[t] = r;
    held[t] = h;
    // The shortest request holds the most of the prefix (a sliding window may have left it).
    if (prefix < 0) prefix = pre, held_prefix = held_pre;
    mean_bytes += static_cast<long double>(pmf[t]) * r;
    mean_held += static_cast<long double>(pmf[t]) * h;
    mean_tokens += static_cast<long double>(pmf[t]) * static_cast<long double>(t);
  }
  out.mean_tokens = static_cast<double>(mean_tokens);
  auto total = [&](int64_t once, long double mean) {
    const long double v = static_cast<long double>(once) + static_cast<long double>(requests) * mean;
    if (!(v < 9.0e18L)) throw Error("size overflows 64-bit arithmetic");
    return static_cast<int64_t>(std::llround(v));
  };
  out.expected_bytes = total(prefix, mean_bytes);
  out.held_expected_bytes = total(held_prefix, mean_held);

  // What every request brings besides its cache: a state and activations per sequence (at the
  // longest request: the activations' chunk rarely depends on it).
  const int64_t branches = given.branches;
  auto others = [&](int64_t b) {
    const int64_t seqs = mul(b, branches);
    return add(add(mm.weights_bytes, mul(seqs, mm.state_bytes_per_sequence)),
               activation_bytes(mm, seqs, out.max_tokens));
  };
  auto fits = [&](int64_t b, int64_t kv) {
    try {
      return add(others(b), kv) <= usable;
    } catch (const Error&) {
      return false;
    }
  };

  // Contiguous: each sequence reserves max_model_len (default: the longest request); nothing shared.
  KvSharing contiguous = given;
  contiguous.allocation = Allocation::contiguous;
  contiguous.shared_prefix = contiguous.trunk = 0;
  const int64_t longest = longest_request(d);
  out.reserve_tokens = given.reserve_tokens > 0 ? given.reserve_tokens : longest;
  if (out.reserve_tokens < longest)
    throw Error("contiguous allocation reserves " + str(out.reserve_tokens) + " tokens per sequence (max_model_len), " +
                "fewer than the longest request's prompt + output, " + str(longest));
  contiguous.reserve_tokens = out.reserve_tokens;
  const int64_t reservation = kv_use(mm.kv, 1, out.reserve_tokens, contiguous).total_bytes;
  out.contiguous_bytes = mul(requests, reservation);
  out.contiguous_max_requests = largest_true(kRequestLimit, [&](int64_t b) {
    try {
      return fits(b, mul(b, reservation));
    } catch (const Error&) {
      return false;
    }
  });

  // Paged: the p99 of the total at `requests`, and the most requests whose p99 fits.
  out.p99_bytes = take(out, paged_p99(d, pmf, bytes, prefix, requests, fits));
  return out;
}

KvInUse engine_in_use(const EnginePlan& plan, const LengthDist& d, int64_t requests) {
  if (requests < 1) throw Error("requests must be at least 1");
  const std::vector<double> pmf = tokens_held_pmf(d);
  KvInUse out;
  out.requests = requests;
  out.max_tokens = static_cast<int64_t>(pmf.size()) - 1;
  if (const int64_t longest = longest_request(d); longest > plan.max_model_len)
    throw Error("the longest request is " + str(longest) + " tokens (prompt + output), more than max_model_len " +
                str(plan.max_model_len) + " (the engine rejects it)");
  out.in_blocks = true;
  out.block_tokens = plan.block_size;
  out.pool_blocks = plan.num_gpu_blocks;
  check_prefix_in_prompts(d, plan.sharing.shared_prefix);
  // blocks_for_batch is affine in the batch: two requests less one is a request, one less that the
  // blocks held once.
  std::vector<int64_t> blocks(pmf.size(), 0);
  int64_t once = -1;
  long double mean_blocks = 0, mean_tokens = 0;
  for (size_t t = 0; t < pmf.size(); ++t) {
    if (!(pmf[t] > 0)) continue;
    const int64_t one = blocks_for_batch(plan, 1, static_cast<int64_t>(t)).total();
    const int64_t two = blocks_for_batch(plan, 2, static_cast<int64_t>(t)).total();
    blocks[t] = two - one;
    if (once < 0) once = 2 * one - two;
    mean_blocks += static_cast<long double>(pmf[t]) * blocks[t];
    mean_tokens += static_cast<long double>(pmf[t]) * static_cast<long double>(t);
  }
  out.mean_tokens = static_cast<double>(mean_tokens);
  out.expected_blocks = static_cast<int64_t>(
      std::llround(static_cast<long double>(once) + static_cast<long double>(requests) * mean_blocks));
  // The engine admits a request while its blocks are free: its pool is the whole budget (the
  // weights, activations and CUDA graphs are outside it), and a state is one block per sequence.
  out.p99_blocks = take(out, paged_p99(d, pmf, blocks, once, requests, [&](int64_t, int64_t total) {
                          return plan.starts && total <= plan.num_gpu_blocks;
                        }));
  return out;
}

}  // namespace kvplan
