// Launchers of kvplan's CUDA reference kernels (definitions in the .cu files). Plain C++ types
// so that host code compiled by the C++ compiler can call them; pointers are device pointers.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace kvplan::gpu {

enum class KvType { bf16, fp16, fp8_e4m3 };
int kv_type_bytes(KvType t);

// --- bandwidth probe (probe.cu) --------------------------------------------------------------
// Reads `bytes` (a multiple of 16) with 16-byte loads; writes one word per block to `sink`.
// Reads `bytes` with default-cached loads (leaves clean lines in L2); Timer's clean L2 flush.
void launch_l2_clean_read(const void* p, int64_t bytes, cudaStream_t s);
void launch_read_probe(const void* src, int64_t bytes, unsigned* sink, int sm_count, cudaStream_t s);
void launch_copy_probe(const void* src, void* dst, int64_t bytes, int sm_count, cudaStream_t s);
// Spins for about `ns` nanoseconds and returns SM cycles / ns (the SM clock in GHz) via `out`.
void launch_clock_probe(unsigned long long ns, double* out, cudaStream_t s);

// --- decode attention (decode_attention.cu) ---------------------------------------------------
// One query token per sequence against a KV cache, split-KV with an in-kernel log-sum-exp combine.
// q/out: [batch][heads][qk_dim] / [batch][heads][v_dim] in bf16 (fp16 when kv is fp16).
// K element (b, kv_head, token, d) at k + b*k_batch_stride + h*k_head_stride + t*k_token_stride.
// MLA (absorbed form): one latent "KV head", v_in_k: V is the first v_dim entries of each K row.
struct DecodeAttention {
  const void* q = nullptr;
  const void* k = nullptr;
  const void* v = nullptr;
  void* out = nullptr;
  int64_t batch = 1, heads = 1, kv_heads = 1, qk_dim = 128, v_dim = 128;
  int64_t context = 0, window = 0;  // attends to [max(0, context - window), context); window 0 = all
  int64_t k_batch_stride = 0, k_head_stride = 0, k_token_stride = 0;
  int64_t v_batch_stride = 0, v_head_stride = 0, v_token_stride = 0;
  bool v_in_k = false;
  KvType kv = KvType::bf16;
  float scale = 0;                    // softmax scale (1/sqrt(qk_dim) usually)
  float k_scale = 1, v_scale = 1;     // fp8 dequantization scales (per tensor)
  int splits = 0;                     // 0 = choose; set by plan_decode_attention
  bool cp_async_only = false;         // bf16/fp16: cp.async copies even where TMA runs (checks, side-by-side timing)
  // Workspace (plan_decode_attention sizes it): partial outputs, (max, sum) pairs, tickets.
  float* partial_o = nullptr;
  float* partial_ml = nullptr;
  int* counters = nullptr;            // unused since the merge became its own kernel (layout kept)
};
// Fills `splits` (if 0) for this device and returns the workspace bytes the launch needs.
int64_t plan_decode_attention(DecodeAttention& a, int sm_count);
// Carves the workspace (zeroed by the caller once) into partial_o / partial_ml / counters.
void bind_decode_workspace(DecodeAttention& a, void* workspace);
// Throws kvplan::Error for shapes without a compiled variant.
void launch_decode_attention(const DecodeAttention& a, cudaStream_t s);
// Bytes the call must move: the KV it reads (window only), q and out.
int64_t decode_attention_bytes(const DecodeAttention& a);
// How the kernel launch_decode_attention runs for a copies its KV tiles: "tma" (the tensor memory
// accelerator: bf16/fp16 on a compute capability 9.0 device in an sm_90a build, 16-byte aligned K
// and V with strides that are multiples of 16 bytes, a.cp_async_only unset) or "cp.async".
const char* decode_attention_copies(const DecodeAttention& a);
// True in an sm_90a build running on a compute capability 9.0 device (prefill_attention.cu).
bool hopper_kernels_available();

// --- prefill attention (prefill_attention.cu) --------------------------------------------------
// Causal attention over `tokens` queries, SDPA layout [batch][heads][tokens][dim], bf16, tiled with
// an online softmax on tensor cores (dim 64 or 128): warpgroup MMAs (wgmma) on sm_90a builds running
// on Hopper, else mma.sync.
struct PrefillAttention {
  const void* q = nullptr;
  const void* k = nullptr;
  const void* v = nullptr;
  void* out = nullptr;
  int64_t batch = 1, heads = 1, kv_heads = 1, tokens = 0, dim = 128;
  float scale = 0;
  bool mma_sync_only = false;  // the sm_80 kernel even where the wgmma one runs (checks, side-by-side timing)
};
void launch_prefill_attention(const PrefillAttention& a, cudaStream_t s);
// "wgmma" or "mma.sync": the kernel launch_prefill_attention runs for a.
const char* prefill_attention_kernel(const PrefillAttention& a);
double prefill_attention_flops(const PrefillAttention& a);  // causal: half of 4 * t^2 * dim per head

// --- SSM single-step updates (ssm.cu) ---------------------------------------------------------
// Causal conv1d update, in place: state [batch][channels][width-1] (bf16 or fp32), x/out bf16.
struct ConvUpdate {
  void* state = nullptr;
  const void* x = nullptr;
  const void* weight = nullptr;  // fp32 [channels][width]
  const void* bias = nullptr;    // fp32 [channels]
  void* out = nullptr;
  int64_t batch = 1, channels = 0, width = 4;
  bool state_fp32 = false;
};
void launch_conv_update(const ConvUpdate& c, cudaStream_t s);

// Mamba-1 (per-channel A [d_inner][d_state]) or Mamba-2 (heads x head_dim rows sharing a scalar A
// per head and B/C per group) selective state update, in place. Inputs bf16, parameters fp32.
struct SsmUpdate {
  void* state = nullptr;  // [batch][rows][d_state], rows = d_inner (Mamba-1) or heads*head_dim (Mamba-2)
  const void* x = nullptr;      // [batch][rows]
  const void* z = nullptr;      // [batch][rows]
  const void* dt = nullptr;     // [batch][d_inner] (Mamba-1) or [batch][heads] (Mamba-2)
  const void* dt_bias = nullptr;
  const void* A = nullptr;      // [d_inner][d_state] or [heads]
  const void* B = nullptr;      // [batch][groups][d_state] (Mamba-1: groups = 1)
  const void* C = nullptr;
  const void* D = nullptr;      // [d_inner] or [heads]
  void* y = nullptr;            // [batch][rows]
  int64_t batch = 1, heads = 1, head_dim = 1, groups = 1, d_state = 16;
  bool mamba2 = false;
  bool state_fp32 = true;
};
void launch_ssm_update(const SsmUpdate& u, cudaStream_t s);
int64_t ssm_update_bytes(const SsmUpdate& u);

// --- the decode step's small kernels (elementwise.cu) -----------------------------------------
// What an engine's decode step launches around the linears and attention (docs/validation/README.md,
// "The engine-like decode step"). Activations bf16; one launch each.

// RMSNorm in place over vectors of `width` (a multiple of 8): each of `rows` rows (`row_stride`
// elements apart; 0 = heads x width) holds `heads` consecutive vectors, each normalized on its own
// (heads > 1: per-head Q/K norms inside the fused QKV output). With `residual` (same layout), first
// residual = x + residual (rounded to bf16, stored) and x = norm(residual) (vLLM's
// fused_add_rms_norm), else x = norm(x). norm(r) = r / sqrt(mean(r^2) + eps) * (weight, or
// 1 + weight for Gemma's).
struct RmsNorm {
  void* x = nullptr;
  void* residual = nullptr;      // nullable
  const void* weight = nullptr;  // bf16 [width], shared by the heads
  int64_t rows = 1, heads = 1, width = 0, row_stride = 0;
  float eps = 1e-6f;
  bool unit_offset = false;      // Gemma: weight + 1
};
void launch_rms_norm(const RmsNorm& n, cudaStream_t s);
int64_t rms_norm_bytes(const RmsNorm& n);

// Rotary embedding, GPT-NeoX style (rotate halves), in place on q [tokens][heads][head_dim] and k
// [tokens][kv_heads][head_dim], token rows `token_stride` (k: `k_token_stride`, 0 = the same)
// elements apart (the fused QKV output); the first `rotary_dim` entries of each head rotate.
// cos_sin: bf16 [positions][rotary_dim], cos half then sin half (vLLM's cos_sin_cache); positions:
// int64 [tokens].
struct Rotary {
  void* q = nullptr;
  void* k = nullptr;
  const void* cos_sin = nullptr;
  const int64_t* positions = nullptr;
  int64_t tokens = 1, heads = 0, kv_heads = 0, head_dim = 0, rotary_dim = 0, token_stride = 0, k_token_stride = 0;
};
void launch_rotary(const Rotary& r, cudaStream_t s);
int64_t rotary_bytes(const Rotary& r);

// KV append (vLLM's reshape_and_cache): sequence b's new K row (kv_heads x head_dim, `src_stride`
// elements between sequences, heads contiguous) goes to token slots[b] of its cache row, element
// (b, h, t, d) at cache + b*batch_stride + h*head_stride + t*token_stride + d; likewise V (nullable:
// MLA's latent is K only). fp8 caches store round(x / scale) in e4m3.
struct KvAppend {
  const void* k = nullptr;
  const void* v = nullptr;
  void* k_cache = nullptr;
  void* v_cache = nullptr;
  const int64_t* slots = nullptr;  // [batch]
  int64_t batch = 1, kv_heads = 1, head_dim = 128, v_dim = 128, src_stride = 0;
  int64_t k_batch_stride = 0, k_head_stride = 0, k_token_stride = 0;
  int64_t v_batch_stride = 0, v_head_stride = 0, v_token_stride = 0;
  KvType kv = KvType::bf16;
  float k_scale = 1, v_scale = 1;
};
void launch_kv_append(const KvAppend& a, cudaStream_t s);
int64_t kv_append_bytes(const KvAppend& a);

// Gated activation: out[r][i] = act(in[r][i]) * in[r][width + i] over rows of 2*width (gate half,
// then up half); width a multiple of 8. SiLU (SwiGLU: vLLM's silu_and_mul) or tanh-GELU (GeGLU:
// gelu_tanh_and_mul). Not gated: out[r][i] = act(in[r][i]) over rows of width (the activation of
// an up + down MLP: Nemotron-H's squared ReLU, relu(x)^2, ReLUSquaredActivation in vLLM's
// activation.py).
enum class Activation { silu, gelu_tanh, relu2 };
struct ActAndMul {
  const void* in = nullptr;
  void* out = nullptr;
  int64_t rows = 1, width = 0;
  Activation act = Activation::silu;
  bool gated = true;
};
void launch_act_and_mul(const ActAndMul& a, cudaStream_t s);
int64_t act_and_mul_bytes(const ActAndMul& a);

// --- MoE decode kernels (moe.cu) --------------------------------------------------------------
// Router top-k: per row of bf16 logits [rows][experts] (experts <= 256), the k largest (ties: lower
// index) with their softmax weights over all experts, renormalized over the k (Mixtral, gpt-oss:
// softmax over the chosen k is the same thing); vLLM's topk_softmax.
struct TopK {
  const void* logits = nullptr;
  float* weights = nullptr;  // [rows][k]
  int* ids = nullptr;        // [rows][k]
  int64_t rows = 1, experts = 0, k = 1;
};
void launch_topk(const TopK& t, cudaStream_t s);

// Grouped GEMV over the experts a batch touches: group g (expert expert_ids[g], its weight
// [out][in] bf16 at w + expert_ids[g]*out*in) owns slots offsets[g]..offsets[g+1]; slot s computes
// y[s][:] = W x[in_rows[s]][:]. Each weight row is read once per group for a pass of its slots
// (more slots: again per pass, mostly from L2). One launch for all experts, as vLLM's fused_moe
// kernel. `max_group_slots` (the host's bound on a group's slots; 0 = unknown) picks the kernel: up to
// 2 slots, CUDA cores, 4 rows a warp; from 3, tensor-core MMAs, 16 rows a warp for 8, 16 or 32 slots a
// pass, when in % 32 == 0 (otherwise CUDA cores, 2 or 1 rows a warp for 4 or 8 slots a pass).
struct GroupedGemv {
  const void* w = nullptr;
  const void* x = nullptr;
  void* y = nullptr;
  const int* expert_ids = nullptr;  // [groups]
  const int* offsets = nullptr;     // [groups + 1]
  const int* in_rows = nullptr;     // [slots]
  int64_t groups = 0, out = 0, in = 0, slots = 0, max_group_slots = 0;
};
void launch_grouped_gemv(const GroupedGemv& g, cudaStream_t s);
int64_t grouped_gemv_bytes(const GroupedGemv& g);

// MoE align (vLLM's moe_align_block_size, the small-batch path: one block): groups the slots of
// `ids` (each slot's expert, [slots]) by expert, each group padded to a multiple of `block` slots:
// sorted[offset_e ..] = the slots of expert e (in any order), padding = `slots`; block_expert[b] =
// the expert of block b; *total = the padded count. sorted holds align_capacity() ints, block_expert
// align_capacity() / block. Ids outside 0..experts-1 are left out, as vLLM drops them.
struct MoeAlign {
  const int* ids = nullptr;
  int* sorted = nullptr;
  int* block_expert = nullptr;
  int* total = nullptr;
  int* cursor = nullptr;  // the two-kernel path's per-expert next place
  int64_t slots = 0, experts = 0, block = 16;
};
int64_t align_capacity(const MoeAlign& a);
// The int32 workspace of an align (sorted, block experts, total, cursors), and its carving.
int64_t moe_align_ints(const MoeAlign& a);
void bind_moe_align(MoeAlign& a, int* workspace);
// True where the align runs vLLM's two-kernel path (src/core/moe_align.h): a block-wide scan, then
// a count-and-sort kernel over the slots; else one kernel with a serial offset scan.
bool moe_align_two_kernels(const MoeAlign& a);
void launch_moe_align(const MoeAlign& a, cudaStream_t s);
int64_t moe_align_bytes(const MoeAlign& a);

// MoE combine (vLLM's moe_sum with the routed weights applied): out[t][:] = sum_j weights[t][j] *
// y[slot_of[t][j]][:], bf16 rows of `width`.
struct MoeCombine {
  const void* y = nullptr;
  const float* weights = nullptr;  // [tokens][k]
  const int* slot_of = nullptr;    // [tokens][k]
  void* out = nullptr;
  int64_t tokens = 1, k = 1, width = 0;
};
void launch_moe_combine(const MoeCombine& c, cudaStream_t s);
int64_t moe_combine_bytes(const MoeCombine& c);

// --- misc --------------------------------------------------------------------------------------
// Fills `n` elements with deterministic pseudo-random values in [lo, hi) (never zero-filled).
void fill_random_bf16(void* p, int64_t n, uint64_t seed, float lo, float hi, cudaStream_t s);
void fill_bytes(void* p, int64_t bytes, unsigned char value, cudaStream_t s);

}  // namespace kvplan::gpu
