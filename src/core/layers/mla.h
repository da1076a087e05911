// Multi-head latent attention (DeepSeek-V2/V3, Kimi-K2, GLM-5): the cache holds one latent per
// token and layer, kv_lora_rank + qk_rope_head_dim elements, no separate K and V (arXiv
// 2405.04434; vLLM's MLA backend). With an indexer (DeepSeek-V3.2 sparse attention, arXiv
// 2512.02556 / the DeepSeek-V3.2-Exp report) each layer also caches one fp8 index key per token,
// and a decode step scores every cached key but attends to only index_topk latents.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/cache_options.h"
#include "core/layers/common.h"
#include "core/tensor.h"

namespace kvplan {

struct Mla {
  static constexpr const char* kKind = "mla";
  int64_t heads = 0;
  int64_t q_lora_rank = 0;  // 0 = queries projected directly from the hidden state
  int64_t kv_lora_rank = 0;
  int64_t qk_nope_head_dim = 0;
  int64_t qk_rope_head_dim = 0;
  int64_t v_head_dim = 0;
  // DeepSeek sparse attention's lightning indexer; index_topk 0 = dense MLA.
  int64_t index_heads = 0;
  int64_t index_head_dim = 0;
  int64_t index_topk = 0;
  bool operator==(const Mla&) const = default;

  template <class Reader>
  static Mla read(Reader& r, int64_t) {
    Mla m;
    m.heads = r.integer("heads");
    m.q_lora_rank = r.integer("q_lora_rank", 0);
    m.kv_lora_rank = r.integer("kv_lora_rank");
    m.qk_nope_head_dim = r.integer("qk_nope_head_dim");
    m.qk_rope_head_dim = r.integer("qk_rope_head_dim");
    m.v_head_dim = r.integer("v_head_dim");
    m.index_topk = r.integer("index_topk", 0);
    m.index_heads = r.integer("index_heads", 0);
    m.index_head_dim = r.integer("index_head_dim", 0);
    return m;
  }
};

// Bytes of one token's index key: index_head_dim fp8 values plus one fp32 scale per 128 of them
// (vLLM's DeepseekV32IndexerCache; DeepSeek-V3.2's inference code quantizes the key in blocks of 128).
int64_t index_key_bytes(const Mla& m);

LayerKind layer_kind(const Mla& m);
void check(const Mla& m, const Checker& c);
void add_tensors(const Mla& m, int64_t hidden, std::vector<Tensor>& out);
void add_gemms(const Mla& m, int64_t hidden, int64_t tp, std::vector<Gemm>& out);
std::vector<int64_t> tp_split_heads(const Mla& m, int64_t tp);
int64_t kv_bytes_per_token(const Mla& m, const CacheOptions& opt);
int64_t resident_window(const Mla& m, const CacheOptions& opt);
SsmState state_bytes(const Mla& m, const CacheOptions& opt);
int64_t widest_intermediate(const Mla& m);
void add_rope_tables(const Mla& m, int64_t max_context, std::vector<RopeTable>& out);
MixerWork mixer_work(const Mla& m, const CacheOptions& opt);
std::string describe(const Mla& m);

}  // namespace kvplan
