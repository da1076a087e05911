// Softmax attention over a KV cache: full (MHA, GQA and MQA are kv_heads = heads, < heads, = 1),
// sliding-window, and chunked local attention (Llama 4). Formulas: docs/formulas.md "KV cache".
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/cache_options.h"
#include "core/layers/common.h"
#include "core/tensor.h"

namespace kvplan {

struct Attention {
  static constexpr const char* kKind = "attention";
  int64_t heads = 0;
  int64_t kv_heads = 0;
  int64_t head_dim = 0;        // K (and Q) head dim
  int64_t v_head_dim = 0;      // V head dim (= head_dim unless the model differs)
  int64_t sliding_window = 0;  // 0 = full attention; else the layer attends to the last `window` tokens
  int64_t chunk_size = 0;      // 0 = none; else queries attend within their own chunk (Llama 4 attention_chunk_size)
  int64_t input_size = 0;      // width the Q/K/V projections read (= hidden_size except Zamba2's 2*hidden)
  bool qkv_bias = false;
  bool o_bias = false;
  bool qk_norm = false;        // per-head RMSNorm on Q and K, one weight shared by the heads (Qwen3, Gemma 3): 2*head_dim params
  bool qk_norm_full = false;   // Q and K norms with a weight per head (OLMo-2, MiniMax-M2, Command R+): (heads+kv_heads)*head_dim params
  bool sinks = false;          // learned per-head attention sink logits (gpt-oss): `heads` params, no KV
  bool output_gate = false;    // sigmoid gate on the attention output from q_proj (Qwen3-Next): q_proj 2x wide
  bool k_eq_v = false;         // V is the K projection's output (Gemma 4 global layers): no v_proj; K and V still cached
  bool kv_shared = false;      // attends over an earlier layer's cache (Gemma 4 num_kv_shared_layers): no k/v
                               // projections or k norm, no cache of its own; the decode step still reads the keys
  bool rope = true;            // rotary position embedding on Q and K; false: no positional encoding in the
                               // layer (Jamba's and Nemotron-H's attention): no rotary kernel, no RoPE table
  int64_t rope_positions = 0;  // rows of its RoPE table: max_position_embeddings x a linear, dynamic or YaRN
                               // factor (Gemma 3 global layers: x 8); 0 = the model's max_context
  bool operator==(const Attention&) const = default;

  template <class Reader>
  static Attention read(Reader& r, int64_t hidden) {
    Attention a;
    a.heads = r.integer("heads");
    a.kv_heads = r.integer("kv_heads", a.heads);
    if (!r.has("head_dim") && a.heads > 0 && hidden % a.heads != 0)
      throw Error("hidden_size " + std::to_string(hidden) + " is not a multiple of heads " + std::to_string(a.heads) +
                      ": give head_dim",
                  r.pos("heads"));
    a.head_dim = r.integer("head_dim", a.heads > 0 ? hidden / a.heads : 0);
    a.v_head_dim = r.integer("v_head_dim", a.head_dim);
    a.sliding_window = r.integer("sliding_window", 0);
    a.chunk_size = r.integer("chunk_size", 0);
    a.input_size = r.integer("input_size", hidden);
    a.qkv_bias = r.boolean("qkv_bias", false);
    a.o_bias = r.boolean("o_bias", false);
    a.qk_norm = r.boolean("qk_norm", false);
    a.qk_norm_full = r.boolean("qk_norm_full", false);
    a.sinks = r.boolean("sinks", false);
    a.output_gate = r.boolean("output_gate", false);
    a.k_eq_v = r.boolean("k_eq_v", false);
    a.kv_shared = r.boolean("kv_shared", false);
    a.rope = r.boolean("rope", true);
    a.rope_positions = r.integer("rope_positions", 0);
    return a;
  }
};

// KV heads each GPU holds under tensor parallel degree tp: kv_heads/tp when it divides; 1 when
// tp is a multiple of kv_heads (heads replicated, as vLLM does). Throws if neither divides.
int64_t kv_heads_per_gpu(const Attention& a, int64_t tp);

LayerKind layer_kind(const Attention& a);
void check(const Attention& a, const Checker& c);
void add_tensors(const Attention& a, int64_t hidden, std::vector<Tensor>& out);
void add_gemms(const Attention& a, int64_t hidden, int64_t tp, std::vector<Gemm>& out);
std::vector<int64_t> tp_split_heads(const Attention& a, int64_t tp);
int64_t kv_bytes_per_token(const Attention& a, const CacheOptions& opt);
int64_t resident_window(const Attention& a, const CacheOptions& opt);
SsmState state_bytes(const Attention& a, const CacheOptions& opt);
int64_t widest_intermediate(const Attention& a);
void add_rope_tables(const Attention& a, int64_t max_context, std::vector<RopeTable>& out);
MixerWork mixer_work(const Attention& a, const CacheOptions& opt);
std::string describe(const Attention& a);

}  // namespace kvplan
