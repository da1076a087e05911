// Standalone experiment (no kvplan dependencies): variants of the Mamba-2 selective-state update
// against an in-place read-modify-write copy of the same state, at the shape `kvplan-gpu-bench`
// times (mamba2-2.7b: batch 64 x 80 heads x 64 head_dim, 1 group, d_state 128, fp32 state).
// Build and run on the GPU machine: nvcc -O3 -arch=sm_90a -o ssm_variants ssm_variants.cu && ./ssm_variants
// Prints one line per variant: median microseconds over 30 cold-L2 samples and TB/s of state traffic.
#include <cuda_bf16.h>
#include <cstdio>
#include <cstdlib>
#include <vector>
#include <algorithm>
#include <cmath>

#define CK(x) do { cudaError_t e_ = (x); if (e_ != cudaSuccess) { std::printf("CUDA %s at %d\n", cudaGetErrorString(e_), __LINE__); std::exit(1); } } while (0)

constexpr int BATCH = 64, HEADS = 80, HD = 64, DS = 128, GROUPS = 1;
constexpr int ROWS = BATCH * HEADS * HD;  // 327,680 rows of 128 fp32

struct Args {
  float* state; const __nv_bfloat16 *x, *z, *dt, *B, *C; const float *A, *D, *dtb; __nv_bfloat16* y;
};

__device__ __forceinline__ float softplus(float v) { return v > 20.f ? v : log1pf(__expf(v)); }
__device__ __forceinline__ float silu(float v) { return v / (1.f + __expf(-v)); }

// V0: kvplan's current scheme (lanes_per_row = 32, 4 fp32 per lane, R rows per thread).
template <int R>
__global__ void __launch_bounds__(256) v0(Args a) {
  const int lanes = 32, E = 4;
  const unsigned slab = blockDim.x / lanes;
  const unsigned row0 = blockIdx.x * slab * R + threadIdx.x / lanes;
  const int j = threadIdx.x % lanes, n0 = j * E;
  float4 raw[R]; float xr[R], zr[R], dtr[R], Ar[R], Dr[R], dtb[R]; __nv_bfloat162 Bv[R][2], Cv[R][2];
#pragma unroll
  for (int k = 0; k < R; ++k) {
    const unsigned row = row0 + k * slab;
    const unsigned b = row / (HEADS * HD), h = (row % (HEADS * HD)) / HD;
    raw[k] = *reinterpret_cast<const float4*>(a.state + size_t(row) * DS + n0);
    xr[k] = __bfloat162float(a.x[row]); zr[k] = __bfloat162float(a.z[row]);
    dtr[k] = __bfloat162float(a.dt[b * HEADS + h]); dtb[k] = a.dtb[h]; Dr[k] = a.D[h]; Ar[k] = a.A[h];
    const size_t bc = size_t(b) * GROUPS * DS + n0;
    *reinterpret_cast<uint2*>(Bv[k]) = *reinterpret_cast<const uint2*>(a.B + bc);
    *reinterpret_cast<uint2*>(Cv[k]) = *reinterpret_cast<const uint2*>(a.C + bc);
  }
#pragma unroll
  for (int k = 0; k < R; ++k) {
    const unsigned row = row0 + k * slab;
    const float delta = softplus(dtr[k] + dtb[k]), dA = __expf(delta * Ar[k]), dx = delta * xr[k];
    float s[4] = {raw[k].x, raw[k].y, raw[k].z, raw[k].w};
    float bb[4] = {__low2float(Bv[k][0]), __high2float(Bv[k][0]), __low2float(Bv[k][1]), __high2float(Bv[k][1])};
    float cc[4] = {__low2float(Cv[k][0]), __high2float(Cv[k][0]), __low2float(Cv[k][1]), __high2float(Cv[k][1])};
    float acc = 0.f;
#pragma unroll
    for (int e = 0; e < 4; ++e) { s[e] = s[e] * dA + dx * bb[e]; acc += s[e] * cc[e]; }
    *reinterpret_cast<float4*>(a.state + size_t(row) * DS + n0) = make_float4(s[0], s[1], s[2], s[3]);
    for (int off = 16; off > 0; off /= 2) acc += __shfl_xor_sync(0xffffffff, acc, off);
    if (j == 0) a.y[row] = __float2bfloat16((acc + Dr[k] * xr[k]) * silu(zr[k]));
  }
}

// V1: L lanes per row, each lane V float4s (L * V * 4 = 128); R rows per thread; optional streaming hints.
template <int L, int V, int R, bool CS>
__global__ void __launch_bounds__(256) v1(Args a) {
  const unsigned slab = blockDim.x / L;
  const unsigned row0 = blockIdx.x * slab * R + threadIdx.x / L;
  const int j = threadIdx.x % L;
  float4 raw[R][V]; float xr[R], zr[R], dtr[R], Ar[R], Dr[R], dtb[R];
#pragma unroll
  for (int k = 0; k < R; ++k) {
    const unsigned row = row0 + k * slab;
    const unsigned b = row / (HEADS * HD), h = (row % (HEADS * HD)) / HD;
#pragma unroll
    for (int v = 0; v < V; ++v) {
      const float4* p = reinterpret_cast<const float4*>(a.state + size_t(row) * DS + (v * L + j) * 4);
      raw[k][v] = CS ? __ldcs(p) : *p;
    }
    xr[k] = __bfloat162float(a.x[row]); zr[k] = __bfloat162float(a.z[row]);
    dtr[k] = __bfloat162float(a.dt[b * HEADS + h]); dtb[k] = a.dtb[h]; Dr[k] = a.D[h]; Ar[k] = a.A[h];
  }
#pragma unroll
  for (int k = 0; k < R; ++k) {
    const unsigned row = row0 + k * slab;
    const unsigned b = row / (HEADS * HD);
    const float delta = softplus(dtr[k] + dtb[k]), dA = __expf(delta * Ar[k]), dx = delta * xr[k];
    float acc = 0.f;
#pragma unroll
    for (int v = 0; v < V; ++v) {
      const int n0 = (v * L + j) * 4;
      const uint2 bq = *reinterpret_cast<const uint2*>(a.B + size_t(b) * DS + n0);
      const uint2 cq = *reinterpret_cast<const uint2*>(a.C + size_t(b) * DS + n0);
      const __nv_bfloat162* bp = reinterpret_cast<const __nv_bfloat162*>(&bq);
      const __nv_bfloat162* cp = reinterpret_cast<const __nv_bfloat162*>(&cq);
      float4 s = raw[k][v];
      s.x = s.x * dA + dx * __low2float(bp[0]); acc += s.x * __low2float(cp[0]);
      s.y = s.y * dA + dx * __high2float(bp[0]); acc += s.y * __high2float(cp[0]);
      s.z = s.z * dA + dx * __low2float(bp[1]); acc += s.z * __low2float(cp[1]);
      s.w = s.w * dA + dx * __high2float(bp[1]); acc += s.w * __high2float(cp[1]);
      float4* p = reinterpret_cast<float4*>(a.state + size_t(row) * DS + n0);
      if (CS) __stcs(p, s); else *p = s;
    }
    for (int off = L / 2; off > 0; off /= 2) acc += __shfl_xor_sync(0xffffffff, acc, off);
    if (j == 0) a.y[row] = __float2bfloat16((acc + Dr[k] * xr[k]) * silu(zr[k]));
  }
}

// The ceiling: the same bytes read and written in place, V float4s per thread, all loads first.
template <int V, bool CS>
__global__ void __launch_bounds__(256) rmw(float4* p, size_t n) {
  const size_t base = (size_t(blockIdx.x) * blockDim.x * V) + threadIdx.x;
  float4 r[V];
#pragma unroll
  for (int v = 0; v < V; ++v) { const size_t i = base + size_t(v) * blockDim.x; if (i < n) r[v] = CS ? __ldcs(p + i) : p[i]; }
#pragma unroll
  for (int v = 0; v < V; ++v) {
    const size_t i = base + size_t(v) * blockDim.x;
    if (i < n) { float4 s = r[v]; s.x += 1.f; s.y += 1.f; s.z += 1.f; s.w += 1.f; if (CS) __stcs(p + i, s); else p[i] = s; }
  }
}
// A read-only stream of the same bytes (sum kept live), V float4s per thread.
template <int V>
__global__ void __launch_bounds__(256) rd(const float4* p, size_t n, float* out) {
  const size_t base = (size_t(blockIdx.x) * blockDim.x * V) + threadIdx.x;
  float acc = 0.f;
#pragma unroll
  for (int v = 0; v < V; ++v) { const size_t i = base + size_t(v) * blockDim.x; if (i < n) { float4 s = __ldcs(p + i); acc += s.x + s.y + s.z + s.w; } }
  if (acc == 12345.f) *out = acc;
}

struct Timer {
  void* flush; size_t fb = 512u << 20; cudaEvent_t e0, e1;
  Timer() { CK(cudaMalloc(&flush, fb)); CK(cudaEventCreate(&e0)); CK(cudaEventCreate(&e1)); }
  template <class F> double median_us(F f, int n = 30) {
    f(); CK(cudaDeviceSynchronize());
    std::vector<float> t;
    for (int i = 0; i < n; ++i) {
      CK(cudaMemsetAsync(flush, i & 0xff, fb));
      CK(cudaEventRecord(e0)); f(); CK(cudaEventRecord(e1)); CK(cudaEventSynchronize(e1));
      float ms; CK(cudaEventElapsedTime(&ms, e0, e1)); t.push_back(ms * 1000.f);
    }
    std::sort(t.begin(), t.end()); return t[n / 2];
  }
};

int main() {
  const size_t sbytes = size_t(ROWS) * DS * 4;
  float* state; CK(cudaMalloc(&state, sbytes)); CK(cudaMemset(state, 0, sbytes));
  std::vector<__nv_bfloat16> hx(ROWS); for (int i = 0; i < ROWS; ++i) hx[i] = __float2bfloat16(0.01f * (i % 97 - 48));
  __nv_bfloat16 *x, *z, *dt, *B, *C, *y; float *A, *D, *dtb, *out;
  CK(cudaMalloc(&x, ROWS * 2)); CK(cudaMalloc(&z, ROWS * 2)); CK(cudaMalloc(&y, ROWS * 2));
  CK(cudaMemcpy(x, hx.data(), ROWS * 2, cudaMemcpyHostToDevice)); CK(cudaMemcpy(z, hx.data(), ROWS * 2, cudaMemcpyHostToDevice));
  CK(cudaMalloc(&dt, BATCH * HEADS * 2)); CK(cudaMemcpy(dt, hx.data(), BATCH * HEADS * 2, cudaMemcpyHostToDevice));
  CK(cudaMalloc(&B, BATCH * DS * 2)); CK(cudaMemcpy(B, hx.data(), BATCH * DS * 2, cudaMemcpyHostToDevice));
  CK(cudaMalloc(&C, BATCH * DS * 2)); CK(cudaMemcpy(C, hx.data() + 7, BATCH * DS * 2, cudaMemcpyHostToDevice));
  std::vector<float> ha(HEADS, -0.5f), hd(HEADS, 1.0f), hb(HEADS, 0.1f);
  CK(cudaMalloc(&A, HEADS * 4)); CK(cudaMalloc(&D, HEADS * 4)); CK(cudaMalloc(&dtb, HEADS * 4)); CK(cudaMalloc(&out, 4));
  CK(cudaMemcpy(A, ha.data(), HEADS * 4, cudaMemcpyHostToDevice)); CK(cudaMemcpy(D, hd.data(), HEADS * 4, cudaMemcpyHostToDevice));
  CK(cudaMemcpy(dtb, hb.data(), HEADS * 4, cudaMemcpyHostToDevice));
  Args a{state, x, z, dt, B, C, A, D, dtb, y};
  Timer t;
  const double traffic = 2.0 * sbytes;  // read + write of the state (the small operands are < 1%)
  auto report = [&](const char* name, double us, double bytes) { std::printf("%-34s %9.1f us  %6.3f TB/s  %5.1f%% of 4.8\n", name, us, bytes / us * 1e-6, bytes / us * 1e-6 / 4.8 * 100); };
  // Correctness: every variant from the same starting state must give the same y and state as v0.
  std::vector<__nv_bfloat16> y0(ROWS), y1(ROWS); std::vector<float> s0(size_t(ROWS) * DS), s1(size_t(ROWS) * DS);
  auto check = [&](const char* name, auto launch) {
    CK(cudaMemset(state, 0, sbytes)); v0<2><<<ROWS / 16, 256>>>(a); v0<2><<<ROWS / 16, 256>>>(a); CK(cudaDeviceSynchronize());
    CK(cudaMemcpy(y0.data(), y, ROWS * 2, cudaMemcpyDeviceToHost)); CK(cudaMemcpy(s0.data(), state, sbytes, cudaMemcpyDeviceToHost));
    CK(cudaMemset(state, 0, sbytes)); launch(); launch(); CK(cudaDeviceSynchronize());
    CK(cudaMemcpy(y1.data(), y, ROWS * 2, cudaMemcpyDeviceToHost)); CK(cudaMemcpy(s1.data(), state, sbytes, cudaMemcpyDeviceToHost));
    double worst = 0; for (size_t i = 0; i < s0.size(); i += 7) worst = std::max(worst, (double)std::fabs(s0[i] - s1[i]));
    double wy = 0; for (int i = 0; i < ROWS; ++i) wy = std::max(wy, (double)std::fabs(__bfloat162float(y0[i]) - __bfloat162float(y1[i])));
    std::printf("check %-28s state max|diff| %.3g  y max|diff| %.3g\n", name, worst, wy);
  };
  for (int rep = 0; rep < 2; ++rep) {
    std::printf("--- pass %d (state %.1f MB, read + write %.1f MB)\n", rep, sbytes / 1e6, traffic / 1e6);
    const size_t n4 = sbytes / 16;
    report("read only (ldcs, 4 x 16 B/thread)", t.median_us([&] { rd<4><<<(n4 + 1023) / 1024, 256>>>(reinterpret_cast<float4*>(state), n4, out); }), sbytes);
    report("rmw in place (2 x 16 B/thread)", t.median_us([&] { rmw<2, false><<<(n4 + 511) / 512, 256>>>(reinterpret_cast<float4*>(state), n4); }), traffic);
    report("rmw in place (4 x 16 B/thread)", t.median_us([&] { rmw<4, false><<<(n4 + 1023) / 1024, 256>>>(reinterpret_cast<float4*>(state), n4); }), traffic);
    report("rmw in place (4 x 16 B, cs hints)", t.median_us([&] { rmw<4, true><<<(n4 + 1023) / 1024, 256>>>(reinterpret_cast<float4*>(state), n4); }), traffic);
    report("rmw in place (8 x 16 B, cs hints)", t.median_us([&] { rmw<8, true><<<(n4 + 2047) / 2048, 256>>>(reinterpret_cast<float4*>(state), n4); }), traffic);
    report("v0 R=1 (kvplan, 32 lanes/row)", t.median_us([&] { v0<1><<<ROWS / 8, 256>>>(a); }), traffic);
    report("v0 R=2 (kvplan default)", t.median_us([&] { v0<2><<<ROWS / 16, 256>>>(a); }), traffic);
    report("v0 R=4", t.median_us([&] { v0<4><<<ROWS / 32, 256>>>(a); }), traffic);
    report("v1 L=32 V=1 R=2 cs", t.median_us([&] { v1<32, 1, 2, true><<<ROWS / 16, 256>>>(a); }), traffic);
    report("v1 L=16 V=2 R=1", t.median_us([&] { v1<16, 2, 1, false><<<ROWS / 16, 256>>>(a); }), traffic);
    report("v1 L=16 V=2 R=2", t.median_us([&] { v1<16, 2, 2, false><<<ROWS / 32, 256>>>(a); }), traffic);
    report("v1 L=16 V=2 R=2 cs", t.median_us([&] { v1<16, 2, 2, true><<<ROWS / 32, 256>>>(a); }), traffic);
    report("v1 L=8 V=4 R=1", t.median_us([&] { v1<8, 4, 1, false><<<ROWS / 32, 256>>>(a); }), traffic);
    report("v1 L=8 V=4 R=1 cs", t.median_us([&] { v1<8, 4, 1, true><<<ROWS / 32, 256>>>(a); }), traffic);
    report("v1 L=8 V=4 R=2 cs", t.median_us([&] { v1<8, 4, 2, true><<<ROWS / 64, 256>>>(a); }), traffic);
    report("v1 L=4 V=8 R=1 cs", t.median_us([&] { v1<4, 8, 1, true><<<ROWS / 64, 256>>>(a); }), traffic);
  }
  check("v1 L=16 V=2 R=2", [&] { v1<16, 2, 2, false><<<ROWS / 32, 256>>>(a); });
  check("v1 L=8 V=4 R=1 cs", [&] { v1<8, 4, 1, true><<<ROWS / 32, 256>>>(a); });
  check("v1 L=4 V=8 R=1 cs", [&] { v1<4, 8, 1, true><<<ROWS / 64, 256>>>(a); });
  return 0;
}
