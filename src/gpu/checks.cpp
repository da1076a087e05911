// Correctness of every kernel variant against the float64 CPU references (gpu/host/reference.h):
// fresh random inputs (never zeros), outputs poisoned with NaN bytes before each run, relative
// norm error; an unwritten output element stays NaN and fails the check.
#include <cuda_runtime.h>

#include <cmath>
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
};

double check_decode(const AttnCase& c, Rng& rng, int sm_count) {
  DecodeAttention a;
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
    kl = {a.kv_heads * a.context * a.qk_dim, a.context * a.qk_dim, a.qk_dim};
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
    u.heads = 16;
    u.head_dim = 64;
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

}  // namespace

std::vector<CorrectnessCheck> run_correctness_checks(uint64_t seed, int sm_count) {
  Rng rng(seed);
  std::vector<CorrectnessCheck> out;
  const double tol = 2e-2;  // bf16 inputs and P rounded to bf16 (METHOD: bf16 lands between 1e-3 and 1e-2)
  const std::vector<AttnCase> cases = {
      {"decode MHA 32/32 d128 bf16", 2, 32, 32, 128, 1000, 0, KvType::bf16, false, 0},
      {"decode MHA 32/32 d128 bf16 no split", 2, 32, 32, 128, 777, 0, KvType::bf16, false, 1},
      {"decode GQA 32/8 d128 bf16", 3, 32, 8, 128, 4097, 0, KvType::bf16, false, 0},
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
  for (const auto& c : cases) out.push_back({c.name, check_decode(c, rng, sm_count), tol});
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
  return out;
}

}  // namespace kvplan::gpu
