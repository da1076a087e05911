// Correctness of every kernel variant against the float64 CPU references (gpu/host/reference.h):
// fresh random inputs (never zeros), outputs poisoned with NaN bytes before each run, relative
// norm error; an unwritten output element stays NaN and fails the check.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include <fmt/format.h>

#include "gpu/bench.h"
#include "gpu/host/reference.h"

namespace kvplan::gpu {
namespace {

enum class Fmt { bf16, fp16, fp32, e4m3 };

// Rounds `v` to the format in place (so the reference sees the exact device inputs) and uploads it.
DeviceBuffer upload(std::vector<double>& v, Fmt f) {
  const size_t n = v.size();
  const size_t el = f == Fmt::fp32 ? 4 : f == Fmt::e4m3 ? 1 : 2;
  std::vector<unsigned char> raw(n * el);
  for (size_t i = 0; i < n; ++i) {
    if (f == Fmt::bf16) {
      const uint16_t b = float_to_bf16(static_cast<float>(v[i]));
      std::memcpy(&raw[i * 2], &b, 2);
      v[i] = bf16_to_float(b);
    } else if (f == Fmt::fp16) {
      const uint16_t h = float_to_fp16(static_cast<float>(v[i]));
      std::memcpy(&raw[i * 2], &h, 2);
      v[i] = fp16_to_float(h);
    } else if (f == Fmt::fp32) {
      const float x = static_cast<float>(v[i]);
      std::memcpy(&raw[i * 4], &x, 4);
      v[i] = x;
    }
  }
  DeviceBuffer d(static_cast<int64_t>(raw.size()));
  CUDA_CHECK(cudaMemcpy(d.get(), raw.data(), raw.size(), cudaMemcpyHostToDevice));
  return d;
}

// Random e4m3 codes with exponent field 4..9 (|x| in [2^-3, 2^2)), decoded into `v`.
DeviceBuffer upload_e4m3(std::vector<double>& v, Rng& rng, double scale) {
  std::vector<uint8_t> raw(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    const uint8_t code = static_cast<uint8_t>(((rng.next() & 1) << 7) | ((4 + rng.next() % 6) << 3) | (rng.next() & 7));
    raw[i] = code;
    v[i] = e4m3_to_float(code) * scale;
  }
  DeviceBuffer d(static_cast<int64_t>(raw.size()));
  CUDA_CHECK(cudaMemcpy(d.get(), raw.data(), raw.size(), cudaMemcpyHostToDevice));
  return d;
}

std::vector<double> random(Rng& rng, int64_t n, double lo, double hi) {
  std::vector<double> v(static_cast<size_t>(n));
  for (auto& x : v) x = rng.uniform(lo, hi);
  return v;
}

DeviceBuffer poisoned(int64_t bytes) {
  DeviceBuffer d(bytes);
  CUDA_CHECK(cudaMemset(d.get(), 0xff, static_cast<size_t>(bytes)));  // NaN in bf16, fp16 and fp32
  return d;
}

std::vector<double> download(const DeviceBuffer& d, int64_t n, Fmt f) {
  const size_t el = f == Fmt::fp32 ? 4 : 2;
  std::vector<unsigned char> raw(static_cast<size_t>(n) * el);
  CUDA_CHECK(cudaMemcpy(raw.data(), d.get(), raw.size(), cudaMemcpyDeviceToHost));
  std::vector<double> v(static_cast<size_t>(n));
  for (size_t i = 0; i < v.size(); ++i) {
    if (f == Fmt::fp32) {
      float x;
      std::memcpy(&x, &raw[i * 4], 4);
      v[i] = x;
    } else {
      uint16_t b;
      std::memcpy(&b, &raw[i * 2], 2);
      v[i] = f == Fmt::bf16 ? bf16_to_float(b) : fp16_to_float(b);
    }
  }
  return v;
}

struct AttnCase {
  std::string name;
  int64_t batch, heads, kv_heads, dim, context, window;
  KvType kv;
  bool mla;
  int splits;  // 0 = planned
  bool token_major = false;  // K/V as [batch][context][kv_heads][dim] (an engine's cache) instead of [batch][kv_heads][context][dim]
};

// The kernel's relative error against the host reference; `copies` receives how its tiles were
// copied (decode_attention_copies).
double check_decode(const AttnCase& c, Rng& rng, int sm_count, bool cp_async_only, std::string& copies) {
  DecodeAttention a;
  a.cp_async_only = cp_async_only;
  a.batch = c.batch;
  a.heads = c.heads;
  a.kv_heads = c.mla ? 1 : c.kv_heads;
  a.qk_dim = c.mla ? 576 : c.dim;
  a.v_dim = c.mla ? 512 : c.dim;
  a.context = c.context;
  a.window = c.window;
  a.kv = c.kv;
  a.v_in_k = c.mla;
  a.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(c.mla ? 192 : c.dim)));
  a.splits = c.splits;
  const Fmt qf = c.kv == KvType::fp16 ? Fmt::fp16 : Fmt::bf16;
  auto q = random(rng, a.batch * a.heads * a.qk_dim, -1, 1);
  DeviceBuffer dq = upload(q, qf);
  KvLayout kl, vl;
  std::vector<double> k, v;
  DeviceBuffer dk, dv;
  if (c.mla) {
    kl = {a.context * a.qk_dim, 0, a.qk_dim};
    vl = kl;
    k = random(rng, a.batch * a.context * a.qk_dim, -1, 1);
    dk = upload(k, Fmt::bf16);
    v = k;
    a.k_batch_stride = a.v_batch_stride = kl.batch_stride;
    a.k_token_stride = a.v_token_stride = kl.token_stride;
  } else {
    kl = c.token_major ? KvLayout{a.context * a.kv_heads * a.qk_dim, a.qk_dim, a.kv_heads * a.qk_dim}
                       : KvLayout{a.kv_heads * a.context * a.qk_dim, a.context * a.qk_dim, a.qk_dim};
    vl = kl;
    const int64_t n = a.batch * a.kv_heads * a.context * a.qk_dim;
    if (c.kv == KvType::fp8_e4m3) {
      a.k_scale = 0.25f;
      a.v_scale = 0.5f;
      k.resize(static_cast<size_t>(n));
      v.resize(static_cast<size_t>(n));
      dk = upload_e4m3(k, rng, a.k_scale);
      dv = upload_e4m3(v, rng, a.v_scale);
    } else {
      k = random(rng, n, -1, 1);
      v = random(rng, n, -1, 1);
      dk = upload(k, qf);
      dv = upload(v, qf);
    }
    a.k_batch_stride = a.v_batch_stride = kl.batch_stride;
    a.k_head_stride = a.v_head_stride = kl.head_stride;
    a.k_token_stride = a.v_token_stride = kl.token_stride;
  }
  a.q = dq.get();
  a.k = dk.get();
  a.v = c.mla ? dk.get() : dv.get();
  const int64_t ws_bytes = plan_decode_attention(a, sm_count);
  copies = decode_attention_copies(a);
  DeviceBuffer ws(ws_bytes);
  CUDA_CHECK(cudaMemset(ws.get(), 0, static_cast<size_t>(ws_bytes)));
  bind_decode_workspace(a, ws.get());
  DeviceBuffer out = poisoned(a.batch * a.heads * a.v_dim * 2);
  a.out = out.get();
  double worst = 0;
  for (int rep = 0; rep < 2; ++rep) {  // twice: the ticket counters must come back to zero
    CUDA_CHECK(cudaMemset(out.get(), 0xff, static_cast<size_t>(out.bytes())));
    launch_decode_attention(a, nullptr);
    CUDA_CHECK(cudaDeviceSynchronize());
    const auto got = download(out, a.batch * a.heads * a.v_dim, qf);
    const auto ref = decode_attention_ref(q, k, v, kl, vl, a.batch, a.heads, a.kv_heads, a.qk_dim, a.v_dim, a.context,
                                          a.window, a.scale);
    worst = std::max(worst, rel_norm_error(got, ref));
  }
  return worst;
}

double check_prefill(int64_t heads, int64_t kv_heads, int64_t tokens, int64_t dim, bool mma_sync_only, Rng& rng) {
  PrefillAttention a;
  a.mma_sync_only = mma_sync_only;
  a.batch = 1;
  a.heads = heads;
  a.kv_heads = kv_heads;
  a.tokens = tokens;
  a.dim = dim;
  a.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(dim)));
  auto q = random(rng, heads * tokens * dim, -1, 1);
  auto k = random(rng, kv_heads * tokens * dim, -1, 1);
  auto v = random(rng, kv_heads * tokens * dim, -1, 1);
  DeviceBuffer dq = upload(q, Fmt::bf16), dk = upload(k, Fmt::bf16), dv = upload(v, Fmt::bf16);
  DeviceBuffer out = poisoned(heads * tokens * dim * 2);
  a.q = dq.get();
  a.k = dk.get();
  a.v = dv.get();
  a.out = out.get();
  launch_prefill_attention(a, nullptr);
  CUDA_CHECK(cudaDeviceSynchronize());
  auto got = download(out, heads * tokens * dim, Fmt::bf16);
  const int64_t step = 5;
  const auto ref = prefill_attention_ref(q, k, v, 1, heads, kv_heads, tokens, dim, a.scale, step);
  for (int64_t r = 0; r < heads * tokens; ++r)  // compare the reference's rows only (all rows must be written)
    if ((r % tokens) % step)
      for (int64_t d = 0; d < dim; ++d) {
        if (!std::isfinite(got[static_cast<size_t>(r * dim + d)])) return INFINITY;
        got[static_cast<size_t>(r * dim + d)] = 0;
      }
  return rel_norm_error(got, ref);
}

double check_conv(int64_t batch, int64_t channels, int64_t width, bool fp32, Rng& rng) {
  auto state = random(rng, batch * channels * (width - 1), -1, 1);
  auto x = random(rng, batch * channels, -1, 1);
  auto w = random(rng, channels * width, -0.5, 0.5);
  auto bias = random(rng, channels, -0.1, 0.1);
  DeviceBuffer ds = upload(state, fp32 ? Fmt::fp32 : Fmt::bf16), dx = upload(x, Fmt::bf16), dw = upload(w, Fmt::fp32),
               db = upload(bias, Fmt::fp32);
  DeviceBuffer out = poisoned(batch * channels * 2);
  ConvUpdate c{ds.get(), dx.get(), dw.get(), db.get(), out.get(), batch, channels, width, fp32};
  launch_conv_update(c, nullptr);
  CUDA_CHECK(cudaDeviceSynchronize());
  std::vector<double> ref_out;
  conv_update_ref(state, x, w, bias, batch, channels, width, ref_out);
  const double e1 = rel_norm_error(download(out, batch * channels, Fmt::bf16), ref_out);
  const double e2 = rel_norm_error(download(ds, batch * channels * (width - 1), fp32 ? Fmt::fp32 : Fmt::bf16), state);
  return std::max(e1, e2);
}

double check_ssm(bool mamba2, bool fp32, Rng& rng) {
  SsmUpdate u;
  u.batch = 3;
  u.mamba2 = mamba2;
  u.state_fp32 = fp32;
  if (mamba2) {
    u.heads = 26;  // 13 heads per group, head_dim 49: 1,274 rows per sequence, 3,822 in all, divisors that
    u.head_dim = 49;  // are not powers of two and a partial last block at 16 or 32 rows per block
    u.groups = 2;
    u.d_state = 128;
  } else {
    u.heads = 520;  // d_inner; not a multiple of the rows one block covers (partial last block)
    u.head_dim = 1;
    u.groups = 1;
    u.d_state = 16;
  }
  const int64_t rows = u.batch * u.heads * u.head_dim;
  const int64_t dts = mamba2 ? u.batch * u.heads : rows;
  auto state = random(rng, rows * u.d_state, -1, 1);
  auto x = random(rng, rows, -1, 1), z = random(rng, rows, -2, 2), dt = random(rng, dts, -3, 0);
  auto dt_bias = random(rng, u.heads, -0.5, 0.5);
  auto A = random(rng, mamba2 ? u.heads : u.heads * u.d_state, -2, -0.1);
  auto B = random(rng, u.batch * u.groups * u.d_state, -1, 1), C = random(rng, u.batch * u.groups * u.d_state, -1, 1);
  auto D = random(rng, u.heads, 0.5, 1.5);
  const Fmt sf = fp32 ? Fmt::fp32 : Fmt::bf16;
  DeviceBuffer ds = upload(state, sf), dx = upload(x, Fmt::bf16), dz = upload(z, Fmt::bf16), ddt = upload(dt, Fmt::bf16),
               ddb = upload(dt_bias, Fmt::fp32), dA = upload(A, Fmt::fp32), dB = upload(B, Fmt::bf16),
               dC = upload(C, Fmt::bf16), dD = upload(D, Fmt::fp32);
  DeviceBuffer y = poisoned(rows * 2);
  u.state = ds.get();
  u.x = dx.get();
  u.z = dz.get();
  u.dt = ddt.get();
  u.dt_bias = ddb.get();
  u.A = dA.get();
  u.B = dB.get();
  u.C = dC.get();
  u.D = dD.get();
  u.y = y.get();
  launch_ssm_update(u, nullptr);
  CUDA_CHECK(cudaDeviceSynchronize());
  std::vector<double> ref_y;
  if (mamba2)
    mamba2_step_ref(state, x, dt, dt_bias, A, B, C, D, z, u.batch, u.heads, u.head_dim, u.groups, u.d_state, ref_y);
  else
    mamba1_step_ref(state, x, dt, dt_bias, A, B, C, D, z, u.batch, u.heads, u.d_state, ref_y);
  return std::max(rel_norm_error(download(y, rows, Fmt::bf16), ref_y), rel_norm_error(download(ds, rows * u.d_state, sf), state));
}

double check_linear(Rng& rng) {
  const int64_t out = 384, in = 1024, batch = 5;
  auto w = random(rng, out * in, -1, 1), x = random(rng, batch * in, -1, 1);
  DeviceBuffer dw = upload(w, Fmt::bf16), dx = upload(x, Fmt::bf16);
  DeviceBuffer y = poisoned(batch * out * 2);
  Blas blas;
  blas.linear(dw.get(), dx.get(), y.get(), out, in, batch);
  CUDA_CHECK(cudaDeviceSynchronize());
  std::vector<double> ref(static_cast<size_t>(batch * out));
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t o = 0; o < out; ++o) {
      double acc = 0;
      for (int64_t i = 0; i < in; ++i) acc += x[static_cast<size_t>(b * in + i)] * w[static_cast<size_t>(o * in + i)];
      ref[static_cast<size_t>(b * out + o)] = acc;
    }
  return rel_norm_error(download(y, batch * out, Fmt::bf16), ref);
}

// --- the decode step's small kernels ---------------------------------------------------------
// Tolerances: each kernel computes in fp32 and rounds its output to bf16 once, so every element is
// within 2^-9 (bf16's unit roundoff) of the exact result on the same (bf16-rounded) inputs and the
// relative norm error is at most 1.95e-3 plus fp32 rounding (< 1e-5 at these widths); 4e-3 leaves a
// factor 2. Parts of a buffer a kernel must not touch are compared bit for bit.
constexpr double kBf16OutTol = 4e-3;

// Fused residual add + RMSNorm over `rows` x `heads` vectors of `width`, `stride` apart (0 =
// packed); the stride's gap (V in a QKV row) must come back unchanged.
double check_rms_norm(int64_t rows, int64_t heads, int64_t width, int64_t stride, bool fused, bool unit_offset, Rng& rng) {
  const int64_t row = stride > 0 ? stride : heads * width, n = rows * row;
  auto x = random(rng, n, -2, 2), res = random(rng, n, -2, 2), w = random(rng, width, -1, 1);
  DeviceBuffer dx = upload(x, Fmt::bf16), dr = upload(res, Fmt::bf16), dw = upload(w, Fmt::bf16);
  RmsNorm nm{dx.get(), fused ? dr.get() : nullptr, dw.get(), rows, heads, width, stride, 1e-6f, unit_offset};
  launch_rms_norm(nm, nullptr);
  CUDA_CHECK(cudaDeviceSynchronize());
  const auto got_x = download(dx, n, Fmt::bf16), got_r = download(dr, n, Fmt::bf16);
  // Packed copies of the normalized vectors for the reference.
  std::vector<double> px, pr, gx, gr;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < heads * width; ++i) {
      const size_t at = static_cast<size_t>(r * row + i);
      px.push_back(x[at]);
      pr.push_back(res[at]);
      gx.push_back(got_x[at]);
      gr.push_back(got_r[at]);
    }
  for (int64_t r = 0; r < rows; ++r)  // the gap after the vectors is untouched
    for (int64_t i = heads * width; i < row; ++i) {
      const size_t at = static_cast<size_t>(r * row + i);
      if (got_x[at] != x[at]) return INFINITY;
    }
  const auto ref = rms_norm_ref(px, fused ? &pr : nullptr, w, rows * heads, width, 1e-6, unit_offset);
  double err = rel_norm_error(gx, ref);
  if (fused) err = std::max(err, rel_norm_error(gr, pr));  // the stored sum: the same rounding, so ~0
  else if (got_r != res) return INFINITY;
  return err;
}

// Rotary on q and k heads inside a QKV row (V after them must stay), positions random < 4096.
// k_offset > 0: K lives in its own buffer of rows `k_stride` apart, at that offset (MLA's latent).
double check_rotary(int64_t tokens, int64_t heads, int64_t kv_heads, int64_t head_dim, int64_t rotary_dim, int64_t q_offset,
                    int64_t k_stride, int64_t k_offset, Rng& rng) {
  const int64_t positions = 4096;
  const bool own_k = k_stride > 0;
  const int64_t qrow = own_k ? heads * head_dim : (heads + 2 * kv_heads) * head_dim;  // q, k, v (v untouched)
  auto qkv = random(rng, tokens * qrow, -2, 2);
  auto kb = random(rng, own_k ? tokens * k_stride : 1, -2, 2);
  auto cs = random(rng, positions * rotary_dim, -1, 1);
  std::vector<int64_t> pos(static_cast<size_t>(tokens));
  for (auto& p : pos) p = static_cast<int64_t>(rng.next() % positions);
  DeviceBuffer dq = upload(qkv, Fmt::bf16), dk = upload(kb, Fmt::bf16), dcs = upload(cs, Fmt::bf16), dp = to_device(pos);
  char* q = static_cast<char*>(dq.get());
  Rotary r{q + q_offset * 2, own_k ? static_cast<char*>(dk.get()) + k_offset * 2 : q + (q_offset + heads * head_dim) * 2,
           dcs.get(), dp.as<int64_t>(), tokens, heads, kv_heads, head_dim, rotary_dim, qrow, own_k ? k_stride : 0};
  launch_rotary(r, nullptr);
  CUDA_CHECK(cudaDeviceSynchronize());
  auto ref_q = qkv, ref_k = kb;
  for (int64_t t = 0; t < tokens; ++t) {
    const double* c = &cs[static_cast<size_t>(pos[static_cast<size_t>(t)] * rotary_dim)];
    for (int64_t h = 0; h < heads; ++h) rotary_ref(&ref_q[static_cast<size_t>(t * qrow + q_offset + h * head_dim)], c, rotary_dim);
    for (int64_t h = 0; h < kv_heads; ++h)
      rotary_ref(own_k ? &ref_k[static_cast<size_t>(t * k_stride + k_offset + h * head_dim)]
                       : &ref_q[static_cast<size_t>(t * qrow + q_offset + (heads + h) * head_dim)],
                 c, rotary_dim);
  }
  double err = rel_norm_error(download(dq, tokens * qrow, Fmt::bf16), ref_q);
  if (own_k) err = std::max(err, rel_norm_error(download(dk, tokens * k_stride, Fmt::bf16), ref_k));
  return err;
}

// KV append of `batch` new K/V rows into caches of `context` tokens at random slots; every other
// cache element must keep its value. bf16 copies exactly; fp16 rounds once (2^-11); fp8 e4m3
// quantizes (3 mantissa bits: within 2^-4 of each value, so the norm error is at most 6.25e-2).
double check_kv_append(int64_t batch, int64_t kv_heads, int64_t head_dim, bool with_v, int64_t context, KvType kv, Rng& rng) {
  const int64_t el = kv_type_bytes(kv), src_stride = kv_heads * head_dim * (with_v ? 2 : 1) + 8;  // padded rows
  const int64_t cache_n = batch * kv_heads * context * head_dim;
  auto src = random(rng, batch * src_stride, -2, 2);
  DeviceBuffer dsrc = upload(src, Fmt::bf16);
  std::vector<int64_t> slots(static_cast<size_t>(batch));
  for (auto& s : slots) s = static_cast<int64_t>(rng.next() % context);
  DeviceBuffer dslots = to_device(slots);
  std::vector<uint8_t> pattern(static_cast<size_t>(cache_n * el));
  for (auto& b : pattern) b = static_cast<uint8_t>(0x30 + rng.next() % 8);  // finite in every format
  DeviceBuffer kc = to_device(pattern), vc = to_device(pattern);
  KvAppend a;
  a.k = dsrc.get();
  a.v = with_v ? static_cast<char*>(dsrc.get()) + kv_heads * head_dim * 2 : nullptr;
  a.k_cache = kc.get();
  a.v_cache = with_v ? vc.get() : nullptr;
  a.slots = dslots.as<int64_t>();
  a.batch = batch;
  a.kv_heads = kv_heads;
  a.head_dim = a.v_dim = head_dim;
  a.src_stride = src_stride;
  a.k_batch_stride = a.v_batch_stride = kv_heads * context * head_dim;
  a.k_head_stride = a.v_head_stride = context * head_dim;
  a.k_token_stride = a.v_token_stride = head_dim;
  a.kv = kv;
  a.k_scale = kv == KvType::fp8_e4m3 ? 0.25f : 1.f;
  a.v_scale = kv == KvType::fp8_e4m3 ? 0.5f : 1.f;
  launch_kv_append(a, nullptr);
  CUDA_CHECK(cudaDeviceSynchronize());
  double worst = 0;
  for (int part = 0; part < (with_v ? 2 : 1); ++part) {
    std::vector<uint8_t> got(pattern.size());
    CUDA_CHECK(cudaMemcpy(got.data(), (part ? vc : kc).get(), got.size(), cudaMemcpyDeviceToHost));
    const double scale = part ? a.v_scale : a.k_scale;
    std::vector<double> g, ref;
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t h = 0; h < kv_heads; ++h)
        for (int64_t t = 0; t < context; ++t)
          for (int64_t d = 0; d < head_dim; ++d) {
            const size_t at = static_cast<size_t>(((b * kv_heads + h) * context + t) * head_dim + d);
            if (t != slots[static_cast<size_t>(b)]) {
              if (std::memcmp(&got[at * el], &pattern[at * el], static_cast<size_t>(el))) return INFINITY;
              continue;
            }
            ref.push_back(src[static_cast<size_t>(b * src_stride + part * kv_heads * head_dim + h * head_dim + d)]);
            uint16_t u16 = 0;
            std::memcpy(&u16, &got[at * el], static_cast<size_t>(std::min<int64_t>(el, 2)));
            g.push_back(kv == KvType::bf16   ? bf16_to_float(u16)
                        : kv == KvType::fp16 ? fp16_to_float(u16)
                                             : e4m3_to_float(got[at]) * scale);
          }
    worst = std::max(worst, rel_norm_error(g, ref));
  }
  return worst;
}

ActRef ref_of(Activation a) {
  switch (a) {
    case Activation::silu: return ActRef::silu;
    case Activation::gelu_tanh: return ActRef::gelu_tanh;
    case Activation::relu2: return ActRef::relu2;
  }
  return ActRef::silu;
}

double check_act_and_mul(int64_t rows, int64_t width, Activation act, Rng& rng, bool gated = true) {
  auto in = random(rng, rows * (gated ? 2 : 1) * width, -4, 4);
  DeviceBuffer din = upload(in, Fmt::bf16);
  DeviceBuffer out = poisoned(rows * width * 2);
  launch_act_and_mul({din.get(), out.get(), rows, width, act, gated}, nullptr);
  CUDA_CHECK(cudaDeviceSynchronize());
  return rel_norm_error(download(out, rows * width, Fmt::bf16), act_and_mul_ref(in, rows, width, ref_of(act), gated));
}

// Ids must match exactly (the reference breaks ties the same way); weights are fp32 with __expf
// (relative error ~1e-6): tolerance 1e-5.
double check_topk(int64_t rows, int64_t experts, int64_t k, Rng& rng) {
  auto logits = random(rng, rows * experts, -4, 4);
  DeviceBuffer dl = upload(logits, Fmt::bf16);
  DeviceBuffer w = poisoned(rows * k * 4), ids = poisoned(rows * k * 4);
  launch_topk({dl.get(), w.as<float>(), ids.as<int>(), rows, experts, k}, nullptr);
  CUDA_CHECK(cudaDeviceSynchronize());
  std::vector<int> got_ids(static_cast<size_t>(rows * k)), ref_ids;
  std::vector<double> ref_w;
  CUDA_CHECK(cudaMemcpy(got_ids.data(), ids.get(), got_ids.size() * 4, cudaMemcpyDeviceToHost));
  topk_ref(logits, rows, experts, k, ref_ids, ref_w);
  if (got_ids != ref_ids) return INFINITY;
  return rel_norm_error(download(w, rows * k, Fmt::fp32), ref_w);
}

// Grouped GEMV over `expert_ids` (of a pool of `pool` experts) with the given slot offsets; slot s
// reads input row in_rows[s] of `inputs` rows.
double check_grouped_gemv(int64_t pool, const std::vector<int>& expert_ids, const std::vector<int>& offsets, int64_t inputs,
                          int64_t out, int64_t in, Rng& rng) {
  const int64_t slots = offsets.back();
  std::vector<int> in_rows(static_cast<size_t>(slots));
  for (auto& r : in_rows) r = static_cast<int>(rng.next() % static_cast<uint64_t>(inputs));
  auto w = random(rng, pool * out * in, -1, 1), x = random(rng, inputs * in, -1, 1);
  DeviceBuffer dw = upload(w, Fmt::bf16), dx = upload(x, Fmt::bf16), de = to_device(expert_ids), doff = to_device(offsets),
               drows = to_device(in_rows);
  DeviceBuffer y = poisoned(slots * out * 2);
  int64_t most = 0;
  for (size_t gi = 0; gi + 1 < offsets.size(); ++gi) most = std::max<int64_t>(most, offsets[gi + 1] - offsets[gi]);
  GroupedGemv g{dw.get(), dx.get(), y.get(), de.as<int>(), doff.as<int>(), drows.as<int>(),
                static_cast<int64_t>(expert_ids.size()), out, in, slots, most};
  launch_grouped_gemv(g, nullptr);
  CUDA_CHECK(cudaDeviceSynchronize());
  std::vector<double> ref(static_cast<size_t>(slots * out));
  for (size_t gi = 0; gi < expert_ids.size(); ++gi)
    for (int s = offsets[gi]; s < offsets[gi + 1]; ++s)
      for (int64_t o = 0; o < out; ++o) {
        const double* wr = &w[static_cast<size_t>((expert_ids[gi] * out + o) * in)];
        const double* xr = &x[static_cast<size_t>(in_rows[static_cast<size_t>(s)] * in)];
        double acc = 0;
        for (int64_t i = 0; i < in; ++i) acc += wr[i] * xr[i];
        ref[static_cast<size_t>(s * out + o)] = acc;
      }
  return rel_norm_error(download(y, slots * out, Fmt::bf16), ref);
}

// Each expert's group must hold exactly its slots (any order), padded with `slots` to a multiple of
// the block; the block experts and the padded total as counted on the host. 0 when all hold, else
// INFINITY (integers: no tolerance).
double check_moe_align(int64_t slots, int64_t experts, int64_t block, Rng& rng) {
  std::vector<int> ids(static_cast<size_t>(slots));
  const bool some_invalid = slots <= 8;  // then ids of -1, which the kernel leaves out
  for (auto& v : ids)
    v = some_invalid ? static_cast<int>(rng.next() % static_cast<uint64_t>(experts + 1)) - 1
                     : static_cast<int>(rng.next() % static_cast<uint64_t>(experts));
  MoeAlign a;
  a.slots = slots;
  a.experts = experts;
  a.block = block;
  const int64_t cap = align_capacity(a);
  DeviceBuffer did = to_device(ids), out = poisoned(moe_align_ints(a) * 4);
  a.ids = did.as<int>();
  bind_moe_align(a, out.as<int>());
  launch_moe_align(a, nullptr);
  CUDA_CHECK(cudaDeviceSynchronize());
  std::vector<int> got(static_cast<size_t>(cap + cap / block + 1));  // sorted, block experts, total
  CUDA_CHECK(cudaMemcpy(got.data(), out.get(), got.size() * 4, cudaMemcpyDeviceToHost));
  int64_t offset = 0;
  for (int e = 0; e < experts; ++e) {
    std::vector<int> want, have;
    for (int64_t i = 0; i < slots; ++i)
      if (ids[static_cast<size_t>(i)] == e) want.push_back(static_cast<int>(i));
    const int64_t padded = (static_cast<int64_t>(want.size()) + block - 1) / block * block;
    for (int64_t i = offset; i < offset + padded; ++i) {
      const int v = got[static_cast<size_t>(i)];
      if (v != slots) have.push_back(v);
    }
    std::sort(have.begin(), have.end());
    if (have != want) return INFINITY;
    for (int64_t b = offset / block; b < (offset + padded) / block; ++b)
      if (got[static_cast<size_t>(cap + b)] != e) return INFINITY;
    offset += padded;
  }
  return got.back() == offset ? 0 : INFINITY;
}

double check_moe_combine(int64_t tokens, int64_t k, int64_t width, Rng& rng) {
  const int64_t slots = tokens * k;
  auto y = random(rng, slots * width, -2, 2);
  std::vector<int> slot_of(static_cast<size_t>(slots));
  for (int64_t i = 0; i < slots; ++i) slot_of[static_cast<size_t>(i)] = static_cast<int>((i * 7 + 3) % slots);  // a permutation
  std::vector<float> wf(static_cast<size_t>(slots));
  for (auto& v : wf) v = static_cast<float>(rng.uniform(0.05, 1));
  DeviceBuffer dy = upload(y, Fmt::bf16), ds = to_device(slot_of), dwt = to_device(wf);
  DeviceBuffer out = poisoned(tokens * width * 2);
  launch_moe_combine({dy.get(), dwt.as<float>(), ds.as<int>(), out.get(), tokens, k, width}, nullptr);
  CUDA_CHECK(cudaDeviceSynchronize());
  std::vector<double> ref(static_cast<size_t>(tokens * width), 0.0);
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t j = 0; j < k; ++j)
      for (int64_t i = 0; i < width; ++i)
        ref[static_cast<size_t>(t * width + i)] +=
            wf[static_cast<size_t>(t * k + j)] * y[static_cast<size_t>(slot_of[static_cast<size_t>(t * k + j)] * width + i)];
  return rel_norm_error(download(out, tokens * width, Fmt::bf16), ref);
}

}  // namespace

std::vector<CorrectnessCheck> run_correctness_checks(uint64_t seed, int sm_count) {
  Rng rng(seed);
  std::vector<CorrectnessCheck> out;
  const double tol = 2e-2;  // bf16 inputs and P rounded to bf16 (METHOD: bf16 lands between 1e-3 and 1e-2)
  const std::vector<AttnCase> cases = {
      {"decode MHA 32/32 d128 bf16", 2, 32, 32, 128, 1000, 0, KvType::bf16, false, 0},
      {"decode MHA 32/32 d128 bf16 no split", 2, 32, 32, 128, 777, 0, KvType::bf16, false, 1},
      {"decode GQA 32/8 d128 bf16", 3, 32, 8, 128, 4097, 0, KvType::bf16, false, 0},
      {"decode GQA 32/8 d128 bf16 token-major cache", 2, 32, 8, 128, 3001, 0, KvType::bf16, false, 0, true},
      {"decode GQA 32/8 d128 bf16 100 splits (empty)", 1, 32, 8, 128, 3000, 0, KvType::bf16, false, 100},
      {"decode GQA 64/8 d128 bf16", 1, 64, 8, 128, 2500, 0, KvType::bf16, false, 0},
      {"decode MQA 32/1 d128 bf16", 2, 32, 1, 128, 3001, 0, KvType::bf16, false, 0},
      {"decode GQA 48/2 d128 bf16 (padded rows)", 1, 48, 2, 128, 999, 0, KvType::bf16, false, 0},
      {"decode MQA 32/1 d128 bf16 (2 M tiles)", 4, 32, 1, 128, 8192, 0, KvType::bf16, false, 0},
      {"decode GQA 48/2 d128 bf16 (2 M tiles, padded)", 2, 48, 2, 128, 4500, 0, KvType::bf16, false, 0},
      {"decode MQA 32/1 d128 fp8 e4m3 (2 M tiles)", 4, 32, 1, 128, 8192, 0, KvType::fp8_e4m3, false, 0},
      {"decode GQA 64/8 d64 bf16", 2, 64, 8, 64, 1500, 0, KvType::bf16, false, 0},
      {"decode GQA 16/8 d256 bf16", 2, 16, 8, 256, 1200, 0, KvType::bf16, false, 0},
      {"decode GQA 32/8 d128 fp16", 2, 32, 8, 128, 2049, 0, KvType::fp16, false, 0},
      {"decode MQA 32/1 d128 fp16 (2 M tiles)", 4, 32, 1, 128, 8191, 0, KvType::fp16, false, 0},
      {"decode GQA 64/2 d64 bf16 (2 M tiles)", 4, 64, 2, 64, 9000, 0, KvType::bf16, false, 0},
      {"decode MQA 32/1 d256 bf16 (2 head tiles)", 2, 32, 1, 256, 3000, 0, KvType::bf16, false, 0},
      {"decode sliding 32/8 d128 window 700 no split", 2, 32, 8, 128, 2000, 700, KvType::bf16, false, 1},
      {"decode GQA 32/8 d128 fp8 e4m3", 2, 32, 8, 128, 2000, 0, KvType::fp8_e4m3, false, 0},
      {"decode MQA 32/1 d128 fp8 e4m3", 1, 32, 1, 128, 1999, 0, KvType::fp8_e4m3, false, 0},
      {"decode sliding 32/8 d128 window 512", 2, 32, 8, 128, 3000, 512, KvType::bf16, false, 0},
      {"decode MLA 16 heads 512+64 bf16", 2, 16, 1, 576, 1500, 0, KvType::bf16, true, 0},
      {"decode MLA 128 heads 512+64 bf16", 1, 128, 1, 576, 700, 0, KvType::bf16, true, 0},
  };
  for (const auto& c : cases) {  // where a case's tiles come by TMA (Hopper), again with cp.async copies
    std::string copies;
    const double err = check_decode(c, rng, sm_count, false, copies);
    if (copies != "tma") {
      out.push_back({c.name, err, tol});
      continue;
    }
    out.push_back({c.name + " tma", err, tol});
    out.push_back({c.name + " cp.async", check_decode(c, rng, sm_count, true, copies), tol});
  }
  const bool hopper = std::string(prefill_attention_kernel(PrefillAttention{})) == "wgmma";
  for (const bool mma_sync : {false, true}) {  // the wgmma kernel where it runs (Hopper), and the mma.sync one
    if (mma_sync && !hopper) break;
    const std::string kernel = mma_sync ? "mma.sync" : prefill_attention_kernel(PrefillAttention{});
    out.push_back({"prefill causal 8/2 d128 t1000 " + kernel, check_prefill(8, 2, 1000, 128, mma_sync, rng), tol});
    out.push_back({"prefill causal 4/1 d128 t2309 " + kernel, check_prefill(4, 1, 2309, 128, mma_sync, rng), tol});
    out.push_back({"prefill causal 4/4 d64 t517 " + kernel, check_prefill(4, 4, 517, 64, mma_sync, rng), tol});
    out.push_back({"prefill causal 8/1 d64 t1410 " + kernel, check_prefill(8, 1, 1410, 64, mma_sync, rng), tol});
  }
  out.push_back({"conv update width 4, fp32 state", check_conv(3, 1000, 4, true, rng), 1e-2});
  out.push_back({"conv update width 4, bf16 state", check_conv(3, 1000, 4, false, rng), 1e-2});
  out.push_back({"mamba1 ssm update, fp32 state", check_ssm(false, true, rng), 1e-2});
  out.push_back({"mamba1 ssm update, bf16 state", check_ssm(false, false, rng), 2e-2});
  out.push_back({"mamba2 ssm update, fp32 state", check_ssm(true, true, rng), 1e-2});
  out.push_back({"mamba2 ssm update, bf16 state", check_ssm(true, false, rng), 2e-2});
  out.push_back({"cuBLAS bf16 linear 384x1024 batch 5", check_linear(rng), 1e-2});
  // The decode step's small kernels at the validated models' shapes (Llama-3.1-8B hidden 4096,
  // 32/8 heads x 128; Gemma-2-9B hidden 3584, 16/8 x 256, GeGLU 14336; Mixtral 8 experts top-2,
  // 14336; gpt-oss 32 experts top-4, 2880, 64/8 x 64; DeepSeek-V3's MLA latent 512 + 64).
  const double t = kBf16OutTol;
  out.push_back({"rms norm fused add, 8 x 4096", check_rms_norm(8, 1, 4096, 0, true, false, rng), t});
  out.push_back({"rms norm plain, Gemma (1 + w), 3 x 3584", check_rms_norm(3, 1, 3584, 0, false, true, rng), t});
  out.push_back({"rms norm fused add, 5 x 2880", check_rms_norm(5, 1, 2880, 0, true, false, rng), t});
  out.push_back({"rms norm per head q/k, 5 x (32+8) x 128 in a QKV row", check_rms_norm(5, 40, 128, 48 * 128, false, false, rng), t});
  out.push_back({"rotary neox 32/8 x d128, 6 tokens", check_rotary(6, 32, 8, 128, 128, 0, 0, 0, rng), t});
  out.push_back({"rotary neox 16/8 x d256, 3 tokens", check_rotary(3, 16, 8, 256, 256, 0, 0, 0, rng), t});
  out.push_back({"rotary neox 64/8 x d64, 8 tokens", check_rotary(8, 64, 8, 64, 64, 0, 0, 0, rng), t});
  out.push_back({"rotary MLA rope parts: 16 x 64 of 192, latent k", check_rotary(4, 16, 1, 192, 64, 128, 576, 512, rng), t});
  out.push_back({"rotary neox 32/8 x d128, 300 tokens (many blocks)", check_rotary(300, 32, 8, 128, 128, 0, 0, 0, rng), t});
  // The scalar path: half of the rotary dims not a multiple of 8, or q not 16-byte aligned.
  out.push_back({"rotary partial 24 of d96, 8/2 heads, 5 tokens (scalar)", check_rotary(5, 8, 2, 96, 24, 0, 0, 0, rng), t});
  out.push_back({"rotary 8/2 x d128, q 4 elements in (scalar)", check_rotary(5, 8, 2, 128, 128, 4, 0, 0, rng), t});
  out.push_back({"kv append bf16 8 x 128, batch 3", check_kv_append(3, 8, 128, true, 300, KvType::bf16, rng), 1e-12});
  out.push_back({"kv append fp16 8 x 256, batch 2", check_kv_append(2, 8, 256, true, 100, KvType::fp16, rng), 2e-3});
  out.push_back({"kv append fp8 e4m3 8 x 128, batch 3", check_kv_append(3, 8, 128, true, 200, KvType::fp8_e4m3, rng), 6.25e-2});
  out.push_back({"kv append MLA latent 576 (K only), batch 2", check_kv_append(2, 1, 576, false, 150, KvType::bf16, rng), 1e-12});
  out.push_back({"silu_and_mul 8 x 14336", check_act_and_mul(8, 14336, Activation::silu, rng), t});
  out.push_back({"gelu_tanh_and_mul 8 x 14336", check_act_and_mul(8, 14336, Activation::gelu_tanh, rng), t});
  out.push_back({"silu_and_mul 32 x 2880", check_act_and_mul(32, 2880, Activation::silu, rng), t});
  out.push_back({"relu^2 (not gated) 8 x 15680", check_act_and_mul(8, 15680, Activation::relu2, rng, false), t});
  out.push_back({"top-k 8 experts top-2, 8 rows", check_topk(8, 8, 2, rng), 1e-5});
  out.push_back({"top-k 32 experts top-4, 8 rows", check_topk(8, 32, 4, rng), 1e-5});
  out.push_back({"top-k 256 experts top-8, 5 rows", check_topk(5, 256, 8, rng), 1e-5});
  out.push_back({"grouped GEMV 8 experts x 2 slots, 1022 x 4096 (partial row tile)",
                 check_grouped_gemv(8, {0, 1, 2, 3, 4, 5, 6, 7}, {0, 2, 4, 6, 8, 10, 12, 14, 16}, 8, 1022, 4096, rng), t});
  out.push_back({"grouped GEMV experts 5/2/7 of 8, 1/11/0 slots, 640 x 2880",
                 check_grouped_gemv(8, {5, 2, 7}, {0, 1, 12, 12}, 12, 640, 2880, rng), t});
  out.push_back({"grouped GEMV 3 experts x 4 slots, 768 x 4096", check_grouped_gemv(3, {0, 1, 2}, {0, 4, 8, 12}, 12, 768, 4096, rng), t});
  out.push_back({"grouped GEMV 4 experts x 2 slots, 512 x 14336",
                 check_grouped_gemv(4, {0, 1, 2, 3}, {0, 2, 4, 6, 8}, 8, 512, 14336, rng), t});
  // 3+ slots a group take the tensor-core kernel (8, 16 or 32 slots a pass).
  out.push_back({"grouped GEMV (tensor cores) 4 experts x 8 slots, 1022 x 4096 (partial row tile)",
                 check_grouped_gemv(4, {3, 0, 1, 2}, {0, 8, 16, 24, 32}, 32, 1022, 4096, rng), t});
  out.push_back({"grouped GEMV (tensor cores) experts 5/2/7 of 8, 3/13/0 slots, 640 x 2880",
                 check_grouped_gemv(8, {5, 2, 7}, {0, 3, 16, 16}, 16, 640, 2880, rng), t});
  out.push_back({"grouped GEMV (tensor cores) 3 experts x 20 slots (3 of 4 slot blocks), 512 x 4096",
                 check_grouped_gemv(3, {2, 0, 1}, {0, 20, 40, 60}, 60, 512, 4096, rng), t});
  out.push_back({"grouped GEMV (tensor cores) 2 experts x 20 slots, 512 x 4128 (129 k blocks: an odd tail)",
                 check_grouped_gemv(2, {1, 0}, {0, 20, 40}, 40, 512, 4128, rng), t});
  out.push_back({"grouped GEMV (tensor cores) 2 experts x 40 slots (two passes), 256 x 14336",
                 check_grouped_gemv(2, {1, 0}, {0, 40, 80}, 80, 256, 14336, rng), t});
  out.push_back({"MoE align 4 tokens x top-2 of 8 experts, block 16 (ids of -1 left out; one kernel)", check_moe_align(8, 8, 16, rng), 0});
  out.push_back({"MoE align 256 tokens x top-2 of 8 experts, block 16 (one kernel)", check_moe_align(512, 8, 16, rng), 0});
  out.push_back({"MoE align 512 tokens x top-2 of 8 experts, block 16 (two kernels: 1024 slots)", check_moe_align(1024, 8, 16, rng), 0});
  out.push_back({"MoE align 1 token x top-8 of 128 experts, block 16 (ids of -1 left out; two kernels)", check_moe_align(8, 128, 16, rng), 0});
  out.push_back({"MoE align 64 tokens x top-8 of 256 experts, block 16 (two kernels)", check_moe_align(512, 256, 16, rng), 0});
  out.push_back({"MoE combine 8 tokens x top-2, 4096", check_moe_combine(8, 2, 4096, rng), t});
  out.push_back({"MoE combine 8 tokens x top-4, 2880", check_moe_combine(8, 4, 2880, rng), t});
  return out;
}

}  // namespace kvplan::gpu
