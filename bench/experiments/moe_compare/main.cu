// Side by side in one process: kvplan's grouped expert GEMV (src/gpu/moe.cu, launch_grouped_gemv)
// against variants of its tensor-core kernel, on the shapes of the engine-like MoE decode steps at
// 4K context (Mixtral-8x7B: 8 experts, gate_up 28672 x 4096 and down 4096 x 14336, 8, 16 and 32
// slots an expert = batch 32, 64 and 128 at top-2; Qwen3-30B-A3B: 128 experts, gate_up 1536 x 2048,
// down 2048 x 768, 8 slots an expert = batch 128 at top-8). The question: at 32 slots an expert the
// kernel (4 blocks of 8 slots, U = 2 k blocks of 32 in flight) streamed Mixtral's experts at 2.47
// TB/s on an H100 against 2.95 at 16 slots (U = 4), docs/validation/h100-sxm/moe-sweep/. ptxas (CUDA
// 13.0, sm_90a, -Xptxas -v) gives the production kernel 120 registers at 4 slot blocks and 125 at 2:
// two blocks of 256 threads a multiprocessor either way, but a lane has 64 bytes of weights in flight
// at 4 slot blocks against 128 at 2. u4 below needs 173 registers (one block a multiprocessor, so the
// same bytes in flight a multiprocessor), pf 128 (still two blocks, 128 bytes a lane), pfu4 227.
// Variants (grouped_gemv_variant<NB, U, kPrefetch>):
//   u4    4 k blocks in flight at every NB (more registers at NB = 4),
//   pf    the production U, the next U k blocks' weights loaded before the current blocks' MMAs,
//   pfu4  both.
// Each sample flushes L2 (512 MB written and read, ../cold_l2.cuh), then times one launch of each kernel in turn (events);
// medians of 40; TB/s = grouped_gemv_bytes / time. Before timing, every variant's output is compared
// with the production kernel's (the one `kvplan-gpu-bench check` verifies against a CPU reference).
// Build and run on the GPU machine: run.sh.
#include "gpu/moe.cu"  // the production kernels and launch_grouped_gemv in this translation unit

#include "../cold_l2.cuh"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

namespace kvplan::gpu {
namespace {

// The production tensor-core kernel with the k blocks in flight (U) and software prefetch of the
// weights as parameters; the fragment layout and the MMA order are the production kernel's, so the
// outputs are bit-identical.
template <int NB, int U, bool kPrefetch>
__global__ void __launch_bounds__(256) grouped_gemv_variant(GroupedGemv g) {
  const int group = blockIdx.y;
  const int lane = threadIdx.x % 32, r = lane / 4, q = lane % 4;
  const int64_t o0 = (int64_t(blockIdx.x) * 8 + threadIdx.x / 32) * 16;
  if (o0 >= g.out) return;
  const int s0 = g.offsets[group], s1 = g.offsets[group + 1];
  const int64_t chunks = g.in / 8, kblocks = g.in / 32;
  const bf16* we = static_cast<const bf16*>(g.w) + int64_t(g.expert_ids[group]) * g.out * g.in;
  const uint4* w_lo = reinterpret_cast<const uint4*>(we + min(o0 + r, g.out - 1) * g.in) + q;
  const uint4* w_hi = reinterpret_cast<const uint4*>(we + min(o0 + r + 8, g.out - 1) * g.in) + q;
  const uint4* x = static_cast<const uint4*>(g.x);
  for (int sb = s0; sb < s1; sb += 8 * NB) {
    const uint4* xs[NB];
#pragma unroll
    for (int j = 0; j < NB; ++j) {
      const int slot = sb + 8 * j + r;
      xs[j] = x + int64_t(g.in_rows[slot < s1 ? slot : s0]) * chunks + q;
    }
    const int blocks = min(NB, (s1 - sb + 7) / 8);
    float acc[NB][4] = {};
    uint4 lo[U], hi[U];
    const auto load_weights = [&](int64_t kb) {
#pragma unroll
      for (int u = 0; u < U; ++u)
        if (kb + u < kblocks) {
          lo[u] = ld_stream(w_lo + (kb + u) * 4);
          hi[u] = ld_stream(w_hi + (kb + u) * 4);
        }
    };
    if (kPrefetch) load_weights(0);
    for (int64_t kb = 0; kb < kblocks; kb += U) {
      if (!kPrefetch) load_weights(kb);
      uint4 b[U][NB], clo[U], chi[U];
#pragma unroll
      for (int u = 0; u < U; ++u)
#pragma unroll
        for (int j = 0; j < NB; ++j)
          if (kb + u < kblocks && j < blocks) b[u][j] = __ldg(xs[j] + (kb + u) * 4);
#pragma unroll
      for (int u = 0; u < U; ++u) clo[u] = lo[u], chi[u] = hi[u];
      if (kPrefetch && kb + U < kblocks) load_weights(kb + U);
#pragma unroll
      for (int u = 0; u < U; ++u) {
        if (kb + u >= kblocks) break;
        const unsigned a0[4] = {clo[u].x, chi[u].x, clo[u].y, chi[u].y};
        const unsigned a1[4] = {clo[u].z, chi[u].z, clo[u].w, chi[u].w};
#pragma unroll
        for (int j = 0; j < NB; ++j)
          if (j < blocks) {
            Mma<bf16>::run(acc[j], a0, b[u][j].x, b[u][j].y);
            Mma<bf16>::run(acc[j], a1, b[u][j].z, b[u][j].w);
          }
      }
    }
    bf16* y = static_cast<bf16*>(g.y);
#pragma unroll
    for (int j = 0; j < NB; ++j)
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const int slot = sb + 8 * j + 2 * q + (i & 1);
        const int64_t row = o0 + r + (i >= 2 ? 8 : 0);
        if (slot < s1 && row < g.out) y[int64_t(slot) * g.out + row] = __float2bfloat16(acc[j][i]);
      }
  }
}

template <int NB>
void launch_nb(const std::string& v, const GroupedGemv& g, dim3 grid) {
  constexpr int Up = NB >= 4 ? 2 : 4;  // the production kernel's U
  if (v == "u4") grouped_gemv_variant<NB, 4, false><<<grid, 256>>>(g);
  else if (v == "pf") grouped_gemv_variant<NB, Up, true><<<grid, 256>>>(g);
  else grouped_gemv_variant<NB, 4, true><<<grid, 256>>>(g);
}

}  // namespace
}  // namespace kvplan::gpu

using namespace kvplan::gpu;

#define CK(x) do { cudaError_t e_ = (x); if (e_ != cudaSuccess) { std::printf("CUDA %s at %d\n", cudaGetErrorString(e_), __LINE__); std::exit(1); } } while (0)

// Uniform bf16 values in [-1, 1) from a hash of the index.
__global__ void fill(__nv_bfloat16* p, size_t n, unsigned seed) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x) {
    unsigned h = unsigned(i) * 2654435761u ^ seed * 97u;
    h ^= h >> 15; h *= 2246822519u; h ^= h >> 13; h *= 3266489917u; h ^= h >> 16;
    p[i] = __float2bfloat16(-1.f + 2.f * (h >> 8) * (1.f / 16777216.f));
  }
}

void launch(const std::string& v, const GroupedGemv& g) {
  if (v == "prod") return launch_grouped_gemv(g, nullptr);
  const int64_t m = g.max_group_slots;
  const dim3 grid(static_cast<unsigned>((g.out + 127) / 128), static_cast<unsigned>(g.groups));
  if (m <= 8) launch_nb<1>(v, g, grid);
  else if (m <= 16) launch_nb<2>(v, g, grid);
  else launch_nb<4>(v, g, grid);
  CK(cudaGetLastError());
}

struct Shape { const char* name; int64_t experts, out, in, slots_per_expert; bool down; };

int main() {
  const ColdL2 cold;
  cudaEvent_t e0, e1; CK(cudaEventCreate(&e0)); CK(cudaEventCreate(&e1));
  cudaDeviceProp prop; CK(cudaGetDeviceProperties(&prop, 0));
  const double peak = datasheet_tb_s(prop);
  std::printf("%s: TB/s of the kernel's bytes (grouped_gemv_bytes), %% of the %.2f TB/s datasheet\n", prop.name, peak);
  const Shape shapes[] = {
      {"mixtral gate_up, 32 slots/expert (batch 128)", 8, 28672, 4096, 32, false},
      {"mixtral down,    32 slots/expert (batch 128)", 8, 4096, 14336, 32, true},
      {"mixtral gate_up, 16 slots/expert (batch 64) ", 8, 28672, 4096, 16, false},
      {"mixtral down,    16 slots/expert (batch 64) ", 8, 4096, 14336, 16, true},
      {"mixtral gate_up,  8 slots/expert (batch 32) ", 8, 28672, 4096, 8, false},
      {"qwen3-30b-a3b gate_up, 8 slots/expert (b128)", 128, 1536, 2048, 8, false},
      {"qwen3-30b-a3b down,    8 slots/expert (b128)", 128, 2048, 768, 8, true},
  };
  const std::vector<std::string> variants = {"prod", "u4", "pf", "pfu4"};
  for (const Shape& sh : shapes) {
    const int64_t slots = sh.experts * sh.slots_per_expert;
    // gate_up reads each token's hidden state (top-k slots a token; here every token row once per
    // slot index modulo the tokens), down reads each slot's own intermediate row.
    const int64_t rows = sh.down ? slots : std::max<int64_t>(1, slots / 2);
    std::vector<int> ids(sh.experts), offsets(sh.experts + 1), in_rows(slots);
    for (int64_t e = 0; e < sh.experts; ++e) ids[e] = static_cast<int>(e), offsets[e + 1] = static_cast<int>((e + 1) * sh.slots_per_expert);
    for (int64_t s = 0; s < slots; ++s) in_rows[s] = static_cast<int>(sh.down ? s : (s * 7) % rows);
    __nv_bfloat16 *w, *x;
    void *y_ref, *y;
    int *d_ids, *d_off, *d_rows;
    const size_t wn = size_t(sh.experts) * sh.out * sh.in;
    CK(cudaMalloc(&w, wn * 2)); CK(cudaMalloc(&x, size_t(rows) * sh.in * 2));
    CK(cudaMalloc(&y_ref, size_t(slots) * sh.out * 2)); CK(cudaMalloc(&y, size_t(slots) * sh.out * 2));
    CK(cudaMalloc(&d_ids, ids.size() * 4)); CK(cudaMalloc(&d_off, offsets.size() * 4)); CK(cudaMalloc(&d_rows, in_rows.size() * 4));
    CK(cudaMemcpy(d_ids, ids.data(), ids.size() * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(d_off, offsets.data(), offsets.size() * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(d_rows, in_rows.data(), in_rows.size() * 4, cudaMemcpyHostToDevice));
    fill<<<1024, 256>>>(w, wn, 1); fill<<<1024, 256>>>(x, size_t(rows) * sh.in, 2);
    GroupedGemv g;
    g.w = w; g.x = x; g.expert_ids = d_ids; g.offsets = d_off; g.in_rows = d_rows;
    g.groups = sh.experts; g.out = sh.out; g.in = sh.in; g.slots = slots; g.max_group_slots = sh.slots_per_expert;
    const int64_t bytes = grouped_gemv_bytes(g);
    // Correctness: every variant's output against the production kernel's, element by element.
    g.y = y_ref; launch("prod", g); CK(cudaDeviceSynchronize());
    std::vector<__nv_bfloat16> ref(size_t(slots) * sh.out), got(ref.size());
    CK(cudaMemcpy(ref.data(), y_ref, ref.size() * 2, cudaMemcpyDeviceToHost));
    std::string diffs;
    for (const std::string& v : variants) {
      if (v == "prod") continue;
      CK(cudaMemset(y, 0xff, got.size() * 2));
      g.y = y; launch(v, g); CK(cudaDeviceSynchronize());
      CK(cudaMemcpy(got.data(), y, got.size() * 2, cudaMemcpyDeviceToHost));
      double worst = 0;
      for (size_t i = 0; i < ref.size(); ++i) {
        const double a = __bfloat162float(got[i]), b = __bfloat162float(ref[i]);
        const double d = std::fabs(a - b) / (1 + std::fabs(b));
        worst = std::isnan(d) ? 1e9 : std::max(worst, d);
      }
      diffs += " " + v + " " + (worst == 0 ? std::string("identical") : std::to_string(worst));
    }
    std::vector<std::vector<float>> t(variants.size());
    g.y = y;
    for (int s = 0; s < 40; ++s)
      for (size_t i = 0; i < variants.size(); ++i) {
        cold.evict(s);
        CK(cudaEventRecord(e0)); launch(variants[i], g); CK(cudaEventRecord(e1)); CK(cudaEventSynchronize(e1));
        float ms; CK(cudaEventElapsedTime(&ms, e0, e1)); t[i].push_back(ms);
      }
    std::printf("%s  %.0f MB; outputs vs prod:%s\n", sh.name, bytes / 1e6, diffs.c_str());
    const auto median = [](std::vector<float> v) { std::sort(v.begin(), v.end()); return 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]); };
    const double base = median(t[0]);
    for (size_t i = 0; i < variants.size(); ++i) {
      const double ms = median(t[i]);
      std::printf("  %-5s %8.1f us  %5.2f TB/s  %5.1f%%  x%.3f\n", variants[i].c_str(), ms * 1e3, bytes / (ms * 1e-3) / 1e12,
                  100 * bytes / (ms * 1e-3) / 1e12 / peak, base / ms);
    }
    cudaFree(w); cudaFree(x); cudaFree(y_ref); cudaFree(y); cudaFree(d_ids); cudaFree(d_off); cudaFree(d_rows);
  }
  return 0;
}
