#include "core/simulate.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <deque>
#include <limits>
#include <numeric>
#include <random>
#include <string>

#include "core/checked.h"
#include "core/error.h"

namespace kvplan {

namespace {

// Most requests one call draws or simulates: keeps a mistyped count from allocating without bound.
constexpr int64_t kMaxSimRequests = int64_t{1} << 24;

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// A double uniform on [0, 1): the top 53 bits of a 64-bit word, each value a multiple of 2^-53.
double unit(uint64_t word) { return static_cast<double>(word >> 11) * 0x1.0p-53; }

// An integer uniform on 0..n-1 (n >= 1), unbiased: Lemire's multiply-shift with rejection (D. Lemire,
// "Fast Random Integer Generation in an Interval", ACM TOMACS 29(1), 2019).
int64_t below(std::mt19937_64& gen, int64_t n) {
  const uint64_t range = static_cast<uint64_t>(n);
  unsigned __int128 m = static_cast<unsigned __int128>(gen()) * range;
  uint64_t low = static_cast<uint64_t>(m);
  if (low < range) {
    const uint64_t threshold = (0 - range) % range;  // 2^64 mod range: the words to reject
    while (low < threshold) {
      m = static_cast<unsigned __int128>(gen()) * range;
      low = static_cast<uint64_t>(m);
    }
  }
  return static_cast<int64_t>(m >> 64);
}

// The queue series of SimResult::queue: one sample per step, merged pairwise when the series is
// full so that every point covers `stride_` steps (the last point possibly fewer).
class QueueSeries {
 public:
  void add(double time_s, int64_t waiting, int64_t running) {
    if (in_pending_ == 0) {
      pending_ = {time_s, waiting, running};
    } else {
      pending_.waiting = std::max(pending_.waiting, waiting);
      pending_.running = std::max(pending_.running, running);
    }
    if (++in_pending_ < stride_) return;
    if (static_cast<int64_t>(points_.size()) == kQueuePoints) {
      halve();  // the pending run is now half of one point; it goes on filling
      return;
    }
    points_.push_back(pending_);
    in_pending_ = 0;
  }
  std::vector<QueuePoint> finish() {
    if (in_pending_ > 0) {
      if (static_cast<int64_t>(points_.size()) == kQueuePoints) {
        merge(points_.back(), pending_);
      } else {
        points_.push_back(pending_);
      }
      in_pending_ = 0;
    }
    return std::move(points_);
  }

 private:
  static void merge(QueuePoint& into, const QueuePoint& later) {
    into.waiting = std::max(into.waiting, later.waiting);
    into.running = std::max(into.running, later.running);
  }
  void halve() {
    const size_t half = points_.size() / 2;  // kQueuePoints is even
    for (size_t i = 0; i < half; ++i) {
      QueuePoint p = points_[2 * i];
      merge(p, points_[2 * i + 1]);
      points_[i] = p;
    }
    points_.resize(half);
    stride_ *= 2;
  }
  std::vector<QueuePoint> points_;
  QueuePoint pending_;
  int64_t in_pending_ = 0;
  int64_t stride_ = 1;
};

// One request's progress, in vLLM V1's terms: `tokens` is num_tokens (the prompt and the outputs
// sampled so far), `computed` num_computed_tokens (those whose KV is in the cache). A step that
// brings computed up to tokens samples the next output token.
struct Progress {
  int64_t tokens = 0;
  int64_t computed = 0;
  int64_t generated = 0;
  int64_t blocks = 0;  // held
  int64_t preemptions = 0;
  double first_token_s = 0;
  double finish_s = 0;
  bool done = false;
};

void check_config(const SimConfig& c) {
  auto at_least_1 = [](int64_t v, const char* what) {
    if (v < 1) throw Error(std::string(what) + " must be at least 1, got " + std::to_string(v));
  };
  at_least_1(c.max_num_seqs, "max_num_seqs");
  at_least_1(c.max_num_batched_tokens, "max_num_batched_tokens");
  at_least_1(c.block_tokens, "block_tokens");
  at_least_1(c.pool_blocks, "the KV pool's blocks");
  // vLLM refuses the same (SchedulerConfig): a budget below max_num_seqs could not give every
  // running sequence its decode token.
  if (c.max_num_batched_tokens < c.max_num_seqs)
    throw Error("max_num_batched_tokens (" + std::to_string(c.max_num_batched_tokens) +
                ") must be at least max_num_seqs (" + std::to_string(c.max_num_seqs) + ")");
  auto slo = [](const std::optional<double>& v, const char* what) {
    if (v && !(*v > 0 && std::isfinite(*v)))
      throw Error(std::string(what) + " must be a positive number of seconds, got " + num(*v));
  };
  slo(c.ttft_slo_s, "the TTFT SLO");
  slo(c.tpot_slo_s, "the TPOT SLO");
}

}  // namespace

std::vector<SimRequest> poisson_requests(double rate_rps, int64_t n, uint64_t seed, const LengthDist& lengths) {
  if (!(rate_rps > 0 && std::isfinite(rate_rps)))
    throw Error("the arrival rate must be a positive number of requests per second, got " + num(rate_rps));
  if (n < 1 || n > kMaxSimRequests)
    throw Error("the number of requests must be from 1 to " + std::to_string(kMaxSimRequests) + ", got " +
                std::to_string(n));
  check_lengths(lengths);
  std::mt19937_64 gen(seed);
  std::vector<SimRequest> out;
  out.reserve(static_cast<size_t>(n));
  double t = 0;
  for (int64_t i = 0; i < n; ++i) {
    // Exponential gap by inversion; log1p(-u) stays exact near u = 0, and u < 1 keeps it finite.
    t += -std::log1p(-unit(gen())) / rate_rps;
    SimRequest r;
    r.arrival_s = t;
    switch (lengths.kind) {
      case LengthsKind::independent:
        r.prompt = lengths.prompt.lo + below(gen, lengths.prompt.hi - lengths.prompt.lo + 1);
        r.output = lengths.output.lo + below(gen, lengths.output.hi - lengths.output.lo + 1);
        break;
      case LengthsKind::trace: {
        const LengthPair& p = lengths.trace[static_cast<size_t>(below(gen, static_cast<int64_t>(lengths.trace.size())))];
        r.prompt = p.prompt;
        r.output = p.output;
        break;
      }
    }
    out.push_back(r);
  }
  return out;
}

namespace {

// The trace's requests to replay, as indices into it: stably sorted by arrival, the first `first`.
std::vector<size_t> trace_order(const LengthDist& trace, std::optional<int64_t> first) {
  if (trace.kind != LengthsKind::trace) throw Error("replaying arrivals needs a trace, not independent lengths");
  check_lengths(trace);
  if (trace.arrivals_s.empty())
    throw Error("the trace has no arrival_s column: replaying it needs each request's arrival time",
                {trace.prompt_source, 0, 0});
  const int64_t n = static_cast<int64_t>(trace.trace.size());
  if (first && (*first < 1 || *first > kMaxSimRequests))
    throw Error("the number of requests must be from 1 to " + std::to_string(kMaxSimRequests) + ", got " +
                std::to_string(*first));
  if (first && *first > n)
    throw Error("the trace holds " + std::to_string(n) + " requests, fewer than the " + std::to_string(*first) +
                    " asked for",
                {trace.prompt_source, 0, 0});
  std::vector<size_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return trace.arrivals_s[a] < trace.arrivals_s[b]; });
  order.resize(static_cast<size_t>(first.value_or(n)));
  return order;
}

// The requests of `order` (trace_order) that one of `replicas` round-robin replicas receives.
std::vector<SimRequest> replica_share(const LengthDist& trace, const std::vector<size_t>& order, int64_t replicas) {
  if (replicas < 1) throw Error("the replicas sharing a trace must be at least 1, got " + std::to_string(replicas));
  const double start_s = trace.arrivals_s[order.front()];
  std::vector<SimRequest> out;
  for (size_t k = 0; k < order.size(); k += static_cast<size_t>(replicas)) {
    const size_t i = order[k];
    out.push_back({trace.arrivals_s[i] - start_s, trace.trace[i].prompt, trace.trace[i].output});
  }
  return out;
}

}  // namespace

std::vector<SimRequest> trace_requests(const LengthDist& trace, std::optional<int64_t> first, int64_t replicas) {
  return replica_share(trace, trace_order(trace, first), replicas);
}

std::optional<double> trace_rate_rps(const LengthDist& trace, std::optional<int64_t> first) {
  const std::vector<size_t> order = trace_order(trace, first);
  const double span_s = trace.arrivals_s[order.back()] - trace.arrivals_s[order.front()];
  if (order.size() < 2 || !(span_s > 0)) return std::nullopt;
  return static_cast<double>(order.size() - 1) / span_s;
}

namespace {
MemoryOptions one_pass_no_hits(MemoryOptions opt) {
  opt.prefill_chunk = std::numeric_limits<int64_t>::max();  // the simulation chunks; each call is one pass
  opt.sharing.prefix_hit_rate = 0;                          // the simulation computes every prompt token
  return opt;
}
}  // namespace

KvplanStepCost::KvplanStepCost(const Model& model, const Gpu& gpu, const MemoryOptions& opt)
    : decode_(model, gpu, opt), prefill_(model, gpu, one_pass_no_hits(opt)) {}

double KvplanStepCost::decode_s(int64_t seqs, int64_t context_tokens) const {
  if (seqs == 0) return 0;
  return decode_.step(seqs, ceil_div(context_tokens, seqs)).time_s;
}

double KvplanStepCost::prefill_s(int64_t seqs, int64_t tokens, int64_t context_tokens) const {
  if (seqs == 0) return 0;
  const int64_t n = ceil_div(tokens, seqs), c = ceil_div(context_tokens, seqs);
  const double alone = prefill_.run(seqs, n).time_s;
  if (c == 0) return alone;
  const double growth = prefill_.run(seqs, add(c, n)).time_s - prefill_.run(seqs, c).time_s;
  return std::max(alone, growth);
}

double KvplanStepCost::step_s(const StepLoad& load) const {
  return decode_s(load.decode_seqs, load.decode_context_tokens) +
         prefill_s(load.prefill_seqs, load.prefill_tokens, load.prefill_context_tokens);
}

void StepTable::check(const char* what) const {
  auto ascending = [](const std::vector<int64_t>& g) {
    for (size_t i = 1; i < g.size(); ++i)
      if (g[i] <= g[i - 1]) return false;
    return g.size() >= 2;
  };
  if (!ascending(rows) || !ascending(cols))
    throw Error(std::string(what) + " step table: each grid needs at least 2 strictly ascending points");
  if (seconds.size() != rows.size())
    throw Error(std::string(what) + " step table: " + std::to_string(seconds.size()) + " rows of times for " +
                std::to_string(rows.size()) + " grid rows");
  for (const auto& r : seconds)
    if (r.size() != cols.size()) throw Error(std::string(what) + " step table: a row of times is not as long as the column grid");
}

namespace {
// The segment [k, k + 1] of an ascending grid that x falls in, or the first / last beyond the ends,
// and x's position along it (0 at g[k], 1 at g[k + 1]; below 0 or above 1 beyond the ends).
std::pair<size_t, double> segment(const std::vector<int64_t>& g, double x) {
  size_t k = 0;
  while (k + 2 < g.size() && x > static_cast<double>(g[k + 1])) ++k;
  const double a = static_cast<double>(g[k]), b = static_cast<double>(g[k + 1]);
  return {k, (x - a) / (b - a)};
}
}  // namespace

double StepTable::at(double row, double col) const {
  const auto [i, u] = segment(rows, row);
  const auto [j, v] = segment(cols, col);
  const double s00 = seconds[i][j], s01 = seconds[i][j + 1], s10 = seconds[i + 1][j], s11 = seconds[i + 1][j + 1];
  return (1 - u) * ((1 - v) * s00 + v * s01) + u * ((1 - v) * s10 + v * s11);
}

TableStepCost::TableStepCost(StepTable decode, StepTable prefill) : decode_(std::move(decode)), prefill_(std::move(prefill)) {
  decode_.check("decode");
  prefill_.check("prefill");
}

double TableStepCost::step_s(const StepLoad& load) const {
  double t = 0;
  if (load.decode_seqs > 0)
    t += decode_.at(static_cast<double>(load.decode_seqs),
                    static_cast<double>(ceil_div(load.decode_context_tokens, load.decode_seqs)));
  if (load.prefill_seqs > 0) {
    const double s = static_cast<double>(load.prefill_seqs);
    const int64_t n = ceil_div(load.prefill_tokens, load.prefill_seqs);
    const int64_t c = ceil_div(load.prefill_context_tokens, load.prefill_seqs);
    double p = prefill_.at(s, static_cast<double>(n));
    if (c > 0) p = std::max(p, prefill_.at(s, static_cast<double>(c + n)) - prefill_.at(s, static_cast<double>(c)));
    t += p;
  }
  if (!(t > 0) || !std::isfinite(t))
    throw Error("a measured step table priced a step at " + std::to_string(t) + " s (a grid too small for the run)");
  return t;
}

double nearest_rank(const std::vector<double>& sorted, double p) {
  const double n = static_cast<double>(sorted.size());
  // p x n / 100 rather than p / 100 x n: exact for whole percents (0.9 x 10 would round up past 9).
  const double k = std::ceil(p * n / 100.0);
  const size_t rank = static_cast<size_t>(std::clamp(k, 1.0, n));
  return sorted[rank - 1];
}

Stats stats_of(std::vector<double> values) {
  Stats s;
  if (values.empty()) return s;
  std::sort(values.begin(), values.end());
  s.count = static_cast<int64_t>(values.size());
  s.mean = std::accumulate(values.begin(), values.end(), 0.0) / static_cast<double>(values.size());
  s.p50 = nearest_rank(values, 50);
  s.p90 = nearest_rank(values, 90);
  s.p99 = nearest_rank(values, 99);
  s.max = values.back();
  return s;
}

SimResult simulate(const std::vector<SimRequest>& requests, const SimConfig& config, const StepCost& cost) {
  if (requests.empty()) throw Error("the simulation needs at least 1 request");
  if (static_cast<int64_t>(requests.size()) > kMaxSimRequests)
    throw Error("the simulation takes at most " + std::to_string(kMaxSimRequests) + " requests, got " +
                std::to_string(requests.size()));
  check_config(config);
  const int64_t pool = config.pool_blocks;
  auto blocks_of = [&](int64_t tokens) {
    if (!config.blocks_for_tokens) return ceil_div(tokens, config.block_tokens);
    const int64_t b = config.blocks_for_tokens(tokens);
    if (b < 0) throw Error("the blocks of a request at " + std::to_string(tokens) + " tokens came out negative");
    return b;
  };

  const size_t n = requests.size();
  std::vector<Progress> st(n);
  for (size_t i = 0; i < n; ++i) {
    const SimRequest& r = requests[i];
    auto which = [i] { return "request " + std::to_string(i) + " (counting from 0)"; };
    if (!(r.arrival_s >= 0 && std::isfinite(r.arrival_s)))
      throw Error(which() + " arrives at " + num(r.arrival_s) + " s; an arrival is a finite time of at least 0 s");
    if (r.prompt < 1 || r.output < 1)
      throw Error(which() + " has a prompt of " + std::to_string(r.prompt) + " and an output of " +
                  std::to_string(r.output) + " tokens; each is at least 1");
    // At its longest a request holds its prompt and every output token but the last (which is
    // sampled, never fed back); alone in the pool it must fit, or it could never finish.
    const int64_t longest = add(r.prompt, r.output) - 1;
    const int64_t need = blocks_of(longest);
    if (need > pool)
      throw Error(which() + " needs " + std::to_string(need) + " KV blocks at its longest (" + std::to_string(longest) +
                  " tokens) but the pool holds " + std::to_string(pool));
    st[i].tokens = r.prompt;
  }

  // Arrival order; a stable sort keeps equal arrival times in the order given.
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return requests[a].arrival_s < requests[b].arrival_s; });

  SimResult res;
  QueueSeries queue;
  std::deque<size_t> waiting;   // arrived, not running; preempted requests go back to the front
  std::vector<size_t> running;  // admission order: the last is the first to be preempted
  struct Scheduled {
    size_t request;
    int64_t tokens;
  };
  std::vector<Scheduled> step;
  int64_t free_blocks = pool;
  size_t next_arrival = 0, finished = 0;
  double t = requests[order[0]].arrival_s;
  res.start_s = t;

  auto preempt = [&](size_t r) {
    Progress& p = st[r];
    free_blocks += p.blocks;
    p.blocks = 0;
    p.computed = 0;  // recompute: its prompt and outputs so far are prefilled again on resumption
    ++p.preemptions;
    ++res.preemptions;
    waiting.push_front(r);
  };
  auto allocate = [&](size_t r, int64_t tokens) {
    Progress& p = st[r];
    const int64_t more = blocks_of(p.computed + tokens) - p.blocks;
    free_blocks -= more;
    p.blocks += more;
    step.push_back({r, tokens});
  };

  while (finished < n) {
    while (next_arrival < n && requests[order[next_arrival]].arrival_s <= t) waiting.push_back(order[next_arrival++]);
    if (running.empty() && waiting.empty()) {
      t = requests[order[next_arrival]].arrival_s;  // idle until the next arrival
      continue;
    }

    // Schedule one step. First the running requests in admission order: a decoding one takes 1
    // token, one part-way through its prefill the rest of its prompt, up to the budget left.
    step.clear();
    int64_t budget = config.max_num_batched_tokens;
    bool preempted = false;
    for (size_t k = 0; k < running.size() && budget > 0;) {
      const size_t r = running[k];
      const Progress& p = st[r];
      const int64_t tokens = std::min(p.tokens - p.computed, budget);
      const int64_t upto = p.computed + tokens;
      bool fits = true;
      while (blocks_of(upto) - p.blocks > free_blocks) {
        const size_t victim = running.back();
        running.pop_back();
        preempt(victim);
        preempted = true;
        if (victim == r) {
          // Alone in the pool a request fits at its longest (checked above) unless the blocks
          // function shrinks somewhere on the way.
          if (k == 0)
            throw Error("the blocks of a request at " + std::to_string(upto) +
                        " tokens pass the pool, though not at its longest; the blocks function must not "
                        "decrease as the tokens grow");
          fits = false;
          break;
        }
      }
      if (!fits) break;
      allocate(r, tokens);
      budget -= tokens;
      ++k;
    }
    // Then waiting requests, first come first served, while the budget, max_num_seqs and the pool
    // allow: each takes as much of its prefill as the budget leaves. Not in a step that preempted
    // (vLLM V1 admits nothing then), and the first that does not fit stops the admissions.
    if (!preempted) {
      while (!waiting.empty() && budget > 0 && static_cast<int64_t>(running.size()) < config.max_num_seqs) {
        const size_t r = waiting.front();
        const int64_t tokens = std::min(st[r].tokens, budget);
        if (blocks_of(tokens) > free_blocks) break;
        waiting.pop_front();
        running.push_back(r);
        allocate(r, tokens);
        budget -= tokens;
      }
    }
    // Every iteration schedules something: the first running request always fits once the others
    // are preempted, and with none running the pool is empty and the first waiting one fits.
    if (step.empty()) throw Error("internal error: a simulation step scheduled no token");

    StepLoad load;
    for (const Scheduled& s : step) {
      const Progress& p = st[s.request];
      // A decode token: one behind its request's tokens (the token just sampled), after the first.
      if (p.generated > 0 && s.tokens == 1 && p.computed == p.tokens - 1) {
        ++load.decode_seqs;
        load.decode_context_tokens = add(load.decode_context_tokens, p.computed);
      } else {
        ++load.prefill_seqs;
        load.prefill_tokens = add(load.prefill_tokens, s.tokens);
        load.prefill_context_tokens = add(load.prefill_context_tokens, p.computed);
      }
    }
    const double dt = cost.step_s(load);
    if (!(dt > 0 && std::isfinite(dt)))
      throw Error("the step cost gave " + num(dt) + " s for a step of " + std::to_string(load.decode_seqs) +
                  " decoding and " + std::to_string(load.prefill_seqs) +
                  " prefilling requests; a step takes a positive, finite time");

    const int64_t n_waiting = static_cast<int64_t>(waiting.size()), n_running = static_cast<int64_t>(running.size());
    queue.add(t, n_waiting, n_running);
    res.max_waiting = std::max(res.max_waiting, n_waiting);
    res.max_running = std::max(res.max_running, n_running);
    res.max_blocks_used = std::max(res.max_blocks_used, pool - free_blocks);
    if (config.on_step) config.on_step(n_running, pool - free_blocks);
    ++res.steps;
    res.busy_s += dt;
    t += dt;

    bool any_done = false;
    for (const Scheduled& s : step) {
      Progress& p = st[s.request];
      p.computed += s.tokens;
      if (p.computed < p.tokens) continue;  // a prefill chunk that leaves more to compute
      ++p.generated;
      ++p.tokens;
      if (p.generated == 1) p.first_token_s = t;
      if (p.generated == requests[s.request].output) {
        p.finish_s = t;
        p.done = true;
        free_blocks += p.blocks;
        p.blocks = 0;
        ++finished;
        any_done = true;
      }
    }
    if (any_done)
      running.erase(std::remove_if(running.begin(), running.end(), [&](size_t r) { return st[r].done; }), running.end());
  }

  res.queue = queue.finish();
  res.end_s = t;
  res.span_s = res.end_s - res.start_s;
  res.requests.resize(n);
  std::vector<double> ttft, tpot, e2e;
  ttft.reserve(n);
  e2e.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const SimRequest& r = requests[i];
    const Progress& p = st[i];
    SimRequestResult& out = res.requests[i];
    out.arrival_s = r.arrival_s;
    out.first_token_s = p.first_token_s;
    out.finish_s = p.finish_s;
    out.ttft_s = p.first_token_s - r.arrival_s;
    out.e2e_s = p.finish_s - r.arrival_s;
    if (r.output > 1) out.tpot_s = (out.e2e_s - out.ttft_s) / static_cast<double>(r.output - 1);
    out.preemptions = p.preemptions;
    ttft.push_back(out.ttft_s);
    e2e.push_back(out.e2e_s);
    if (out.tpot_s) tpot.push_back(*out.tpot_s);
    res.output_tokens = add(res.output_tokens, r.output);
    const bool good = (!config.ttft_slo_s || out.ttft_s <= *config.ttft_slo_s) &&
                      (!config.tpot_slo_s || !out.tpot_s || *out.tpot_s <= *config.tpot_slo_s);
    if (good) ++res.good_requests;
  }
  res.ttft_s = stats_of(std::move(ttft));
  res.tpot_s = stats_of(std::move(tpot));
  res.e2e_s = stats_of(std::move(e2e));
  // span_s > 0: every request takes at least one step of positive time.
  res.output_tokens_per_s = static_cast<double>(res.output_tokens) / res.span_s;
  res.requests_per_s = static_cast<double>(n) / res.span_s;
  res.goodput_rps = static_cast<double>(res.good_requests) / res.span_s;
  return res;
}

const char* name(ArrivalsKind k) {
  switch (k) {
    case ArrivalsKind::poisson: return "poisson";
    case ArrivalsKind::trace: return "trace";
  }
  return "?";
}

std::vector<SimRequest> requests_of(const Arrivals& a) {
  switch (a.kind) {
    case ArrivalsKind::poisson:
      return poisson_requests(a.rate_rps, a.requests.value_or(kDefaultSimRequests), a.seed, a.lengths);
    case ArrivalsKind::trace: return trace_requests(a.lengths, a.requests, a.replicas);
  }
  return {};
}

SimConfig engine_sim_config(const EnginePlan& engine, int64_t max_num_batched_tokens) {
  SimConfig c;
  c.max_num_seqs = engine.max_num_seqs;
  c.max_num_batched_tokens = max_num_batched_tokens;
  c.block_tokens = engine.block_size;
  c.pool_blocks = engine.num_gpu_blocks;
  c.blocks_for_tokens = [engine](int64_t tokens) { return blocks_for_request(engine, tokens); };
  return c;
}

SimResult simulate_engine(const Model& model, const Gpu& gpu, const MemoryOptions& opt, const EnginePlan& engine,
                          const Arrivals& arrivals, std::optional<double> ttft_slo_s, std::optional<double> tpot_slo_s) {
  if (!engine.starts) throw Error("the engine does not start: " + engine.failure);
  // A trace is put in order once: for its requests and for the lines of the too-long ones.
  std::vector<size_t> order;
  if (arrivals.kind == ArrivalsKind::trace) order = trace_order(arrivals.lengths, arrivals.requests);
  const std::vector<SimRequest> requests = arrivals.kind == ArrivalsKind::trace
                                               ? replica_share(arrivals.lengths, order, arrivals.replicas)
                                               : requests_of(arrivals);
  // The engine rejects a request past max_model_len (prompt + output tokens): a trace's is named at
  // its line, wherever the round robin sends it.
  auto too_long = [&](int64_t prompt, int64_t output, const SourcePos& at) {
    if (add(prompt, output) > engine.max_model_len)
      throw Error("a request of " + std::to_string(prompt) + " + " + std::to_string(output) + " = " +
                      std::to_string(prompt + output) + " tokens (prompt + output) is longer than max_model_len " +
                      std::to_string(engine.max_model_len) + " (the engine rejects it)",
                  at);
  };
  switch (arrivals.kind) {
    case ArrivalsKind::poisson:
      for (const SimRequest& r : requests) too_long(r.prompt, r.output, {});
      break;
    case ArrivalsKind::trace: {
      const LengthDist& t = arrivals.lengths;
      for (size_t i : order) {
        const int line = t.lines.empty() ? 0 : t.lines[i];
        too_long(t.trace[i].prompt, t.trace[i].output, {t.prompt_source, line, line > 0 ? 1 : 0});
      }
      break;
    }
  }
  SimConfig c = engine_sim_config(engine, opt.prefill_chunk);
  c.ttft_slo_s = ttft_slo_s;
  c.tpot_slo_s = tpot_slo_s;
  return simulate(requests, c, KvplanStepCost(model, gpu, opt));
}

}  // namespace kvplan
