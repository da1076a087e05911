#include "gpu/host/reference.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace kvplan::gpu {

uint16_t float_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);  // NaN stays NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

float bf16_to_float(uint16_t b) {
  const uint32_t u = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

uint16_t float_to_fp16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  x &= 0x7fffffffu;
  if (x > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u);
  if (x >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // overflow to inf
  if (x < 0x38800000u) {                                               // subnormal or zero
    if (x < 0x33000000u) return static_cast<uint16_t>(sign);
    const uint32_t e = x >> 23;
    const uint32_t m = (x & 0x7fffffu) | 0x800000u;
    const int s = static_cast<int>(113 - e + 13);  // bits to drop
    uint32_t q = m >> s;
    const uint32_t rem = m & ((1u << s) - 1);
    const uint32_t half = 1u << (s - 1);
    if (rem > half || (rem == half && (q & 1u))) ++q;
    return static_cast<uint16_t>(sign | q);
  }
  uint32_t h = ((x >> 13) - (112u << 10));
  const uint32_t rem = x & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;
  return static_cast<uint16_t>(sign | h);
}

float fp16_to_float(uint16_t h) {
  const uint32_t sign = (h & 0x8000u) << 16;
  const uint32_t e = (h >> 10) & 0x1f;
  const uint32_t m = h & 0x3ff;
  float f;
  if (e == 0) {
    f = std::ldexp(static_cast<float>(m), -24);
  } else if (e == 31) {
    f = m ? std::numeric_limits<float>::quiet_NaN() : std::numeric_limits<float>::infinity();
  } else {
    f = std::ldexp(static_cast<float>(m | 0x400), static_cast<int>(e) - 25);
  }
  uint32_t u;
  std::memcpy(&u, &f, 4);
  u |= sign;
  std::memcpy(&f, &u, 4);
  return f;
}

float e4m3_to_float(uint8_t b) {
  const int s = b >> 7, e = (b >> 3) & 0xf, m = b & 7;
  if (e == 15 && m == 7) return std::numeric_limits<float>::quiet_NaN();
  const float v = e == 0 ? std::ldexp(static_cast<float>(m), -9) : std::ldexp(static_cast<float>(8 + m), e - 10);
  return s ? -v : v;
}

double rel_norm_error(const std::vector<double>& out, const std::vector<double>& ref) {
  if (out.size() != ref.size()) return INFINITY;
  double num = 0, den = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    if (!std::isfinite(out[i])) return INFINITY;
    num += (out[i] - ref[i]) * (out[i] - ref[i]);
    den += ref[i] * ref[i];
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

uint64_t Rng::next() {
  uint64_t z = (s_ += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

double Rng::uniform(double lo, double hi) {
  return lo + (hi - lo) * static_cast<double>(next() >> 11) * 0x1.0p-53;
}

std::vector<double> decode_attention_ref(const std::vector<double>& q, const std::vector<double>& k,
                                         const std::vector<double>& v, const KvLayout& kl, const KvLayout& vl,
                                         int64_t batch, int64_t heads, int64_t kv_heads, int64_t qk_dim,
                                         int64_t v_dim, int64_t context, int64_t window, double scale) {
  std::vector<double> out(static_cast<size_t>(batch * heads * v_dim), 0.0);
  const int64_t group = heads / kv_heads;
  const int64_t first = window > 0 ? std::max<int64_t>(0, context - window) : 0;
  std::vector<double> s(static_cast<size_t>(context));
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t h = 0; h < heads; ++h) {
      const int64_t kvh = h / group;
      const double* qh = &q[static_cast<size_t>((b * heads + h) * qk_dim)];
      double mx = -INFINITY;
      for (int64_t t = first; t < context; ++t) {
        const double* kt = &k[static_cast<size_t>(b * kl.batch_stride + kvh * kl.head_stride + t * kl.token_stride)];
        double acc = 0;
        for (int64_t d = 0; d < qk_dim; ++d) acc += qh[d] * kt[d];
        s[static_cast<size_t>(t)] = acc * scale;
        mx = std::max(mx, s[static_cast<size_t>(t)]);
      }
      double l = 0;
      for (int64_t t = first; t < context; ++t) l += (s[static_cast<size_t>(t)] = std::exp(s[static_cast<size_t>(t)] - mx));
      double* o = &out[static_cast<size_t>((b * heads + h) * v_dim)];
      for (int64_t t = first; t < context; ++t) {
        const double p = s[static_cast<size_t>(t)] / l;
        const double* vt = &v[static_cast<size_t>(b * vl.batch_stride + kvh * vl.head_stride + t * vl.token_stride)];
        for (int64_t d = 0; d < v_dim; ++d) o[d] += p * vt[d];
      }
    }
  return out;
}

std::vector<double> prefill_attention_ref(const std::vector<double>& q, const std::vector<double>& k,
                                          const std::vector<double>& v, int64_t batch, int64_t heads,
                                          int64_t kv_heads, int64_t tokens, int64_t dim, double scale,
                                          int64_t row_step) {
  std::vector<double> out(static_cast<size_t>(batch * heads * tokens * dim), 0.0);
  const int64_t group = heads / kv_heads;
  std::vector<double> s(static_cast<size_t>(tokens));
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t h = 0; h < heads; ++h) {
      const int64_t kvh = h / group;
      const double* kb = &k[static_cast<size_t>((b * kv_heads + kvh) * tokens * dim)];
      const double* vb = &v[static_cast<size_t>((b * kv_heads + kvh) * tokens * dim)];
      for (int64_t i = 0; i < tokens; i += row_step) {
        const double* qi = &q[static_cast<size_t>(((b * heads + h) * tokens + i) * dim)];
        double mx = -INFINITY;
        for (int64_t j = 0; j <= i; ++j) {
          double acc = 0;
          for (int64_t d = 0; d < dim; ++d) acc += qi[d] * kb[j * dim + d];
          s[static_cast<size_t>(j)] = acc * scale;
          mx = std::max(mx, s[static_cast<size_t>(j)]);
        }
        double l = 0;
        for (int64_t j = 0; j <= i; ++j) l += (s[static_cast<size_t>(j)] = std::exp(s[static_cast<size_t>(j)] - mx));
        double* o = &out[static_cast<size_t>(((b * heads + h) * tokens + i) * dim)];
        for (int64_t j = 0; j <= i; ++j)
          for (int64_t d = 0; d < dim; ++d) o[d] += s[static_cast<size_t>(j)] / l * vb[j * dim + d];
      }
    }
  return out;
}

namespace {
double silu(double x) { return x / (1.0 + std::exp(-x)); }
double softplus(double x) { return x > 20 ? x : std::log1p(std::exp(x)); }
}  // namespace

void conv_update_ref(std::vector<double>& state, const std::vector<double>& x, const std::vector<double>& w,
                     const std::vector<double>& bias, int64_t batch, int64_t channels, int64_t width,
                     std::vector<double>& out) {
  out.assign(static_cast<size_t>(batch * channels), 0.0);
  const int64_t keep = width - 1;
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t c = 0; c < channels; ++c) {
      double* st = &state[static_cast<size_t>((b * channels + c) * keep)];
      const double xn = x[static_cast<size_t>(b * channels + c)];
      double acc = bias[static_cast<size_t>(c)];
      for (int64_t i = 0; i < keep; ++i) acc += w[static_cast<size_t>(c * width + i)] * st[i];
      acc += w[static_cast<size_t>(c * width + keep)] * xn;
      for (int64_t i = 0; i + 1 < keep; ++i) st[i] = st[i + 1];
      if (keep > 0) st[keep - 1] = xn;
      out[static_cast<size_t>(b * channels + c)] = silu(acc);
    }
}

void mamba1_step_ref(std::vector<double>& state, const std::vector<double>& x, const std::vector<double>& dt,
                     const std::vector<double>& dt_bias, const std::vector<double>& A, const std::vector<double>& B,
                     const std::vector<double>& C, const std::vector<double>& D, const std::vector<double>& z,
                     int64_t batch, int64_t d_inner, int64_t d_state, std::vector<double>& y) {
  y.assign(static_cast<size_t>(batch * d_inner), 0.0);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t d = 0; d < d_inner; ++d) {
      const size_t bd = static_cast<size_t>(b * d_inner + d);
      const double delta = softplus(dt[bd] + dt_bias[static_cast<size_t>(d)]);
      double acc = 0;
      for (int64_t n = 0; n < d_state; ++n) {
        double& s = state[bd * static_cast<size_t>(d_state) + static_cast<size_t>(n)];
        s = s * std::exp(delta * A[static_cast<size_t>(d * d_state + n)]) + delta * B[static_cast<size_t>(b * d_state + n)] * x[bd];
        acc += s * C[static_cast<size_t>(b * d_state + n)];
      }
      y[bd] = (acc + D[static_cast<size_t>(d)] * x[bd]) * silu(z[bd]);
    }
}

void mamba2_step_ref(std::vector<double>& state, const std::vector<double>& x, const std::vector<double>& dt,
                     const std::vector<double>& dt_bias, const std::vector<double>& A, const std::vector<double>& B,
                     const std::vector<double>& C, const std::vector<double>& D, const std::vector<double>& z,
                     int64_t batch, int64_t heads, int64_t head_dim, int64_t groups, int64_t d_state,
                     std::vector<double>& y) {
  y.assign(static_cast<size_t>(batch * heads * head_dim), 0.0);
  const int64_t per_group = heads / groups;
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t h = 0; h < heads; ++h) {
      const double delta = softplus(dt[static_cast<size_t>(b * heads + h)] + dt_bias[static_cast<size_t>(h)]);
      const double dA = std::exp(delta * A[static_cast<size_t>(h)]);
      const int64_t g = h / per_group;
      const double* Bg = &B[static_cast<size_t>((b * groups + g) * d_state)];
      const double* Cg = &C[static_cast<size_t>((b * groups + g) * d_state)];
      for (int64_t p = 0; p < head_dim; ++p) {
        const size_t row = static_cast<size_t>((b * heads + h) * head_dim + p);
        double acc = 0;
        for (int64_t n = 0; n < d_state; ++n) {
          double& s = state[row * static_cast<size_t>(d_state) + static_cast<size_t>(n)];
          s = s * dA + delta * x[row] * Bg[n];
          acc += s * Cg[n];
        }
        y[row] = (acc + D[static_cast<size_t>(h)] * x[row]) * silu(z[row]);
      }
    }
}

std::vector<double> rms_norm_ref(const std::vector<double>& x, std::vector<double>* residual, const std::vector<double>& w,
                                 int64_t vectors, int64_t width, double eps, bool unit_offset) {
  std::vector<double> out(x.size());
  for (int64_t v = 0; v < vectors; ++v) {
    const size_t o = static_cast<size_t>(v * width);
    std::vector<double> r(x.begin() + static_cast<std::ptrdiff_t>(o), x.begin() + static_cast<std::ptrdiff_t>(o + width));
    if (residual)
      for (int64_t i = 0; i < width; ++i) {
        const double sum = bf16_to_float(float_to_bf16(static_cast<float>(r[static_cast<size_t>(i)] + (*residual)[o + i])));
        (*residual)[o + i] = sum;
        r[static_cast<size_t>(i)] = sum;
      }
    double ss = 0;
    for (const double a : r) ss += a * a;
    const double inv = 1.0 / std::sqrt(ss / static_cast<double>(width) + eps);
    for (int64_t i = 0; i < width; ++i)
      out[o + i] = r[static_cast<size_t>(i)] * inv * (w[static_cast<size_t>(i)] + (unit_offset ? 1.0 : 0.0));
  }
  return out;
}

void rotary_ref(double* v, const double* cs, int64_t rotary_dim) {
  const int64_t half = rotary_dim / 2;
  for (int64_t i = 0; i < half; ++i) {
    const double c = cs[i], s = cs[half + i], x1 = v[i], x2 = v[i + half];
    v[i] = x1 * c - x2 * s;
    v[i + half] = x2 * c + x1 * s;
  }
}

std::vector<double> act_and_mul_ref(const std::vector<double>& in, int64_t rows, int64_t width, ActRef act, bool gated) {
  auto f = [act](double g) {
    switch (act) {
      case ActRef::silu: return silu(g);
      case ActRef::gelu_tanh: return 0.5 * g * (1 + std::tanh(std::sqrt(2 / M_PI) * (g + 0.044715 * g * g * g)));
      case ActRef::relu2: return g > 0 ? g * g : 0.0;
    }
    return g;
  };
  const int64_t row = (gated ? 2 : 1) * width;
  std::vector<double> out(static_cast<size_t>(rows * width));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < width; ++i) {
      const double a = f(in[static_cast<size_t>(r * row + i)]);
      out[static_cast<size_t>(r * width + i)] = gated ? a * in[static_cast<size_t>(r * row + width + i)] : a;
    }
  return out;
}

void topk_ref(const std::vector<double>& logits, int64_t rows, int64_t experts, int64_t k, std::vector<int>& ids,
              std::vector<double>& weights) {
  ids.assign(static_cast<size_t>(rows * k), 0);
  weights.assign(static_cast<size_t>(rows * k), 0);
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<int> order(static_cast<size_t>(experts));
    for (int64_t e = 0; e < experts; ++e) order[static_cast<size_t>(e)] = static_cast<int>(e);
    const double* l = &logits[static_cast<size_t>(r * experts)];
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return l[a] > l[b]; });
    double sum = 0;
    for (int64_t j = 0; j < k; ++j) sum += std::exp(l[order[static_cast<size_t>(j)]] - l[order[0]]);
    for (int64_t j = 0; j < k; ++j) {
      ids[static_cast<size_t>(r * k + j)] = order[static_cast<size_t>(j)];
      weights[static_cast<size_t>(r * k + j)] = std::exp(l[order[static_cast<size_t>(j)]] - l[order[0]]) / sum;
    }
  }
}

}  // namespace kvplan::gpu
