// Float64 CPU references for the GPU kernels and the numeric formats they read (bf16, fp16,
// fp8 e4m3), plus the relative norm error the correctness checks use (METHOD: "Correct first").
#pragma once

#include <cstdint>
#include <vector>

namespace kvplan::gpu {

// Bit-exact conversions, round to nearest even (IEEE 754 binary16, bfloat16, OCP FP8 E4M3).
uint16_t float_to_bf16(float f);
float bf16_to_float(uint16_t b);
uint16_t float_to_fp16(float f);
float fp16_to_float(uint16_t h);
float e4m3_to_float(uint8_t b);  // 0x7f/0xff are NaN; no infinities; max 448

// ||out - ref|| / ||ref||; +inf when out holds a NaN/inf or sizes differ.
double rel_norm_error(const std::vector<double>& out, const std::vector<double>& ref);

// Deterministic random numbers for inputs (never zero-filled): splitmix64.
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed) {}
  uint64_t next();
  double uniform(double lo, double hi);  // [lo, hi)
 private:
  uint64_t s_;
};

// Decode attention, one query per sequence. K/V element (b, kv_head, token, dim) is at
// b*batch_stride + h*head_stride + t*token_stride + dim; for MLA the latent is K and its first
// v_dim entries are V (same array, head_stride 0). Attends to tokens [max(0, N - window), N)
// (window 0 = all). q: [batch][heads][qk_dim]; returns [batch][heads][v_dim].
struct KvLayout {
  int64_t batch_stride = 0, head_stride = 0, token_stride = 0;
};
std::vector<double> decode_attention_ref(const std::vector<double>& q, const std::vector<double>& k,
                                         const std::vector<double>& v, const KvLayout& kl, const KvLayout& vl,
                                         int64_t batch, int64_t heads, int64_t kv_heads, int64_t qk_dim,
                                         int64_t v_dim, int64_t context, int64_t window, double scale);

// Causal prefill attention, SDPA layout: q [batch][heads][tokens][dim], k/v [batch][kv_heads][tokens][dim];
// returns o [batch][heads][tokens][dim] for the rows where row % row_step == 0 (others 0).
std::vector<double> prefill_attention_ref(const std::vector<double>& q, const std::vector<double>& k,
                                          const std::vector<double>& v, int64_t batch, int64_t heads,
                                          int64_t kv_heads, int64_t tokens, int64_t dim, double scale,
                                          int64_t row_step);

// Causal conv1d single-step update (causal-conv1d's causal_conv1d_update, silu activation):
// state [batch][channels][width-1] shifts left and takes x; out = silu(sum w * window + bias).
void conv_update_ref(std::vector<double>& state, const std::vector<double>& x, const std::vector<double>& w,
                     const std::vector<double>& bias, int64_t batch, int64_t channels, int64_t width,
                     std::vector<double>& out);

// Mamba-1 selective_state_update (mamba_ssm): state [batch][d_inner][d_state], A [d_inner][d_state],
// x/z/dt [batch][d_inner], B/C [batch][d_state]; dt = softplus(dt + dt_bias); y *= silu(z).
void mamba1_step_ref(std::vector<double>& state, const std::vector<double>& x, const std::vector<double>& dt,
                     const std::vector<double>& dt_bias, const std::vector<double>& A, const std::vector<double>& B,
                     const std::vector<double>& C, const std::vector<double>& D, const std::vector<double>& z,
                     int64_t batch, int64_t d_inner, int64_t d_state, std::vector<double>& y);

// Mamba-2 single step (mamba_ssm selective_state_update with per-head scalar A): state
// [batch][heads][head_dim][d_state], x/z [batch][heads][head_dim], dt [batch][heads],
// B/C [batch][groups][d_state], A/D/dt_bias [heads].
void mamba2_step_ref(std::vector<double>& state, const std::vector<double>& x, const std::vector<double>& dt,
                     const std::vector<double>& dt_bias, const std::vector<double>& A, const std::vector<double>& B,
                     const std::vector<double>& C, const std::vector<double>& D, const std::vector<double>& z,
                     int64_t batch, int64_t heads, int64_t head_dim, int64_t groups, int64_t d_state,
                     std::vector<double>& y);

// --- the decode step's small kernels (gpu/kernels.h) -------------------------------------------
// RMSNorm of `vectors` vectors of `width` (x packed): with `residual`, residual = bf16(x + residual)
// first (the stored rounding the kernel and vLLM's fused_add_rms_norm apply) and the norm reads it;
// returns r / sqrt(mean(r^2) + eps) * (w or 1 + w).
std::vector<double> rms_norm_ref(const std::vector<double>& x, std::vector<double>* residual, const std::vector<double>& w,
                                 int64_t vectors, int64_t width, double eps, bool unit_offset);

// NeoX rotary in place on one head of `head_dim` at v: pairs (i, i + rotary_dim/2), i < rotary_dim/2,
// with cos/sin from `cs` (rotary_dim/2 cos values, then rotary_dim/2 sin values).
void rotary_ref(double* v, const double* cs, int64_t rotary_dim);

// Gated: act(gate) * up over rows of 2 x width (gate first); else act(x) over rows of width.
// gelu_tanh: the tanh approximation; relu2: relu(x)^2.
enum class ActRef { silu, gelu_tanh, relu2 };
std::vector<double> act_and_mul_ref(const std::vector<double>& in, int64_t rows, int64_t width, ActRef act,
                                    bool gated = true);

// Top-k of each row of `experts` logits (ties: lower index first) with weights softmax-renormalized
// over the k chosen.
void topk_ref(const std::vector<double>& logits, int64_t rows, int64_t experts, int64_t k, std::vector<int>& ids,
              std::vector<double>& weights);

}  // namespace kvplan::gpu
