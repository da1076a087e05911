#include "gpu/bench.h"

#include <cmath>
#include <cstdlib>
#include <utility>

namespace kvplan::gpu {

ProbeResult run_probe(Timer& t, const DeviceInfo& d, const TimingOptions& opts, int64_t max_bytes) {
  ProbeResult r;
  TimingOptions o = opts;
  o.clean_l2 = std::getenv("KVPLAN_PROBE_DIRTY_FLUSH") == nullptr;  // experiment switch: old memset-only flush
  DeviceBuffer src(max_bytes), dst(max_bytes / 2), sink(static_cast<int64_t>(d.sm_count) * 4 * 4);
  fill_random_bf16(src.get(), max_bytes / 2, 1, -1, 1, t.stream());
  fill_random_bf16(dst.get(), max_bytes / 4, 2, -1, 1, t.stream());
  std::vector<double> xs, ys, cx, cy;
  for (int64_t bytes = 1 << 20; bytes <= max_bytes; bytes *= 4) {
    r.sizes.push_back(bytes);
    const auto rs = t.measure([&](cudaStream_t s) { launch_read_probe(src.get(), bytes, sink.as<unsigned>(), d.sm_count, s); }, o);
    const int64_t half = bytes / 2;
    const auto cs = t.measure([&](cudaStream_t s) { launch_copy_probe(src.get(), dst.get(), half, d.sm_count, s); }, o);
    r.read.push_back(rs);
    r.copy.push_back(cs);
    xs.push_back(static_cast<double>(bytes));
    ys.push_back(rs.median_s);
    cx.push_back(static_cast<double>(bytes));  // read + write
    cy.push_back(cs.median_s);
  }
  r.read_fit = fit_time_vs_bytes(xs, ys);
  r.copy_fit = fit_time_vs_bytes(cx, cy);
  r.read_bytes_per_s = xs.back() / ys.back();
  r.copy_bytes_per_s = cx.back() / cy.back();
  return r;
}

namespace {
// Elements of K and of V for the shape ([batch][kv_heads][context][dim] each; MLA: one latent, no V).
std::pair<int64_t, int64_t> kv_elems(const DecodeAttention& a) {
  if (a.v_in_k) return {a.batch * a.context * a.qk_dim, 0};
  return {a.batch * a.kv_heads * a.context * a.qk_dim, a.batch * a.kv_heads * a.context * a.v_dim};
}
}  // namespace

int64_t decode_attention_kv_bytes(const DecodeAttention& a) {
  const auto [k, v] = kv_elems(a);
  return (k + v) * kv_type_bytes(a.kv);
}

TimedCheck time_decode_attention(Timer& t, const DeviceInfo& d, DecodeAttention a, const TimingOptions& o, void* kv_memory,
                                 bool shared_kv) {
  const int64_t kv_el = kv_type_bytes(a.kv);
  const auto [k_elems, v_elems] = kv_elems(a);
  // K then V in `kv_memory` when given (the caller's one allocation, as an engine allocates its KV
  // cache once: cudaMalloc/cudaFree churn of multi-GB buffers in one process measured 16% slower
  // streaming for some later shapes, docs/validation/README.md), else a fresh allocation.
  const int64_t k_bytes = k_elems * kv_el, v_bytes = v_elems * kv_el;
  DeviceBuffer own(kv_memory ? 0 : k_bytes + std::max<int64_t>(v_bytes, 16));
  char* const k_ptr = kv_memory ? static_cast<char*>(kv_memory) : own.as<char>();
  char* const v_ptr = k_ptr + k_bytes;
  DeviceBuffer q(a.batch * a.heads * a.qk_dim * 2), out(a.batch * a.heads * a.v_dim * 2);
  fill_random_bf16(q.get(), a.batch * a.heads * a.qk_dim, 11, -1, 1, t.stream());
  // fp8: random bf16 bytes read as e4m3 hold NaN codes at times; fill in a finite range instead.
  if (a.kv == KvType::fp8_e4m3) {
    fill_bytes(k_ptr, k_bytes, 0x3a, t.stream());
    fill_bytes(v_ptr, v_bytes, 0x35, t.stream());
  } else {
    fill_random_bf16(k_ptr, k_elems * kv_el / 2, 12, -1, 1, t.stream());
    if (v_elems) fill_random_bf16(v_ptr, v_elems * kv_el / 2, 13, -1, 1, t.stream());
  }
  if (a.v_in_k) {
    a.k_batch_stride = a.v_batch_stride = a.context * a.qk_dim;
    a.k_head_stride = a.v_head_stride = 0;
    a.k_token_stride = a.v_token_stride = a.qk_dim;
  } else {
    a.k_batch_stride = a.v_batch_stride = a.kv_heads * a.context * a.qk_dim;
    a.k_head_stride = a.v_head_stride = a.context * a.qk_dim;
    a.k_token_stride = a.v_token_stride = a.qk_dim;
  }
  if (shared_kv) a.k_batch_stride = a.v_batch_stride = 0;
  a.q = q.get();
  a.k = k_ptr;
  a.v = a.v_in_k ? k_ptr : v_ptr;
  a.out = out.get();
  if (a.scale == 0) a.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(a.qk_dim)));
  const int64_t ws_bytes = plan_decode_attention(a, d.sm_count);
  DeviceBuffer ws(ws_bytes);
  CUDA_CHECK(cudaMemsetAsync(ws.get(), 0, static_cast<size_t>(ws_bytes), t.stream()));
  bind_decode_workspace(a, ws.get());
  TimedCheck r;
  r.name = "decode_attention";
  r.bytes = decode_attention_bytes(a);
  const int64_t first = a.window > 0 ? std::max<int64_t>(0, a.context - a.window) : 0;
  r.flops = 2.0 * static_cast<double>(a.batch * a.heads * (a.context - first) * (a.qk_dim + a.v_dim));
  r.kernels = 1;
  r.measured = t.measure([&](cudaStream_t s) { launch_decode_attention(a, s); }, o);
  r.note = "splits " + std::to_string(a.splits) + ", " + decode_attention_copies(a) + " copies";
  return r;
}

TimedCheck time_prefill_attention(Timer& t, PrefillAttention a, const TimingOptions& o) {
  const int64_t qn = a.batch * a.heads * a.tokens * a.dim, kn = a.batch * a.kv_heads * a.tokens * a.dim;
  DeviceBuffer q(qn * 2), k(kn * 2), v(kn * 2), out(qn * 2);
  fill_random_bf16(q.get(), qn, 21, -1, 1, t.stream());
  fill_random_bf16(k.get(), kn, 22, -1, 1, t.stream());
  fill_random_bf16(v.get(), kn, 23, -1, 1, t.stream());
  a.q = q.get();
  a.k = k.get();
  a.v = v.get();
  a.out = out.get();
  if (a.scale == 0) a.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(a.dim)));
  TimedCheck r;
  r.name = "prefill_attention";
  r.bytes = (2 * qn + 2 * kn) * 2;
  r.flops = prefill_attention_flops(a);
  r.kernels = 1;
  r.measured = t.measure([&](cudaStream_t s) { launch_prefill_attention(a, s); }, o);
  return r;
}

TimedCheck time_ssm_update(Timer& t, SsmUpdate u, const TimingOptions& o) {
  const int64_t rows = u.batch * u.heads * u.head_dim;
  const int64_t st_bytes = rows * u.d_state * (u.state_fp32 ? 4 : 2);
  DeviceBuffer state(st_bytes), x(rows * 2), z(rows * 2), dt(rows * 2), dtb(u.heads * u.head_dim * 4),
      A(u.heads * u.head_dim * u.d_state * 4), B(u.batch * u.groups * u.d_state * 2), C(u.batch * u.groups * u.d_state * 2),
      D(u.heads * u.head_dim * 4), y(rows * 2);
  for (auto* b : {&state, &x, &z, &dt, &B, &C}) fill_random_bf16(b->get(), b->bytes() / 2, 31, -1, 1, t.stream());
  // fp32 parameters: bytes 0x3c3c3c3c = 0.0115 (finite, non-zero); A negative via 0xbc.
  fill_bytes(dtb.get(), dtb.bytes(), 0x3c, t.stream());
  fill_bytes(A.get(), A.bytes(), 0xbc, t.stream());
  fill_bytes(D.get(), D.bytes(), 0x3c, t.stream());
  if (u.state_fp32) fill_bytes(state.get(), st_bytes, 0x3c, t.stream());
  u.state = state.get();
  u.x = x.get();
  u.z = z.get();
  u.dt = dt.get();
  u.dt_bias = dtb.get();
  u.A = A.get();
  u.B = B.get();
  u.C = C.get();
  u.D = D.get();
  u.y = y.get();
  TimedCheck r;
  r.name = u.mamba2 ? "mamba2_ssm_update" : "mamba1_ssm_update";
  r.bytes = ssm_update_bytes(u);
  r.kernels = 1;
  r.measured = t.measure([&](cudaStream_t s) { launch_ssm_update(u, s); }, o);
  return r;
}

TimedCheck time_linear(Timer& t, Blas& blas, int64_t out, int64_t in, int64_t batch, const TimingOptions& o) {
  DeviceBuffer w(out * in * 2), x(batch * in * 2), y(batch * out * 2);
  fill_random_bf16(w.get(), out * in, 41, -0.05f, 0.05f, t.stream());
  fill_random_bf16(x.get(), batch * in, 42, -1, 1, t.stream());
  blas.set_stream(t.stream());
  TimedCheck r;
  r.name = "linear";
  r.bytes = (out * in + batch * (in + out)) * 2;
  r.flops = 2.0 * static_cast<double>(out * in * batch);
  r.kernels = 1;
  r.measured = t.measure([&](cudaStream_t) { blas.linear(w.get(), x.get(), y.get(), out, in, batch); }, o);
  return r;
}

}  // namespace kvplan::gpu
