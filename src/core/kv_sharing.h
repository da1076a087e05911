// How a workload's sequences hold the KV cache: token-exact, in paged blocks, or in contiguous
// reservations; a prefix shared by every sequence; requests forked into branches that share their
// trunk copy-on-write (docs/kv-economy.md). Sharing is at block granularity: only full blocks of a
// prefix are shared, as paged engines share them.
#pragma once

#include <cstdint>

#include "core/kv_cache.h"

namespace kvplan {

// exact: the bytes of the tokens held (kvplan's ideal engine). paged: whole blocks of
// block_tokens, allocated as tokens arrive (the last block partly empty). contiguous: every
// sequence reserves reserve_tokens up front (servers without paging).
enum class Allocation { exact, paged, contiguous };
const char* name(Allocation a);

struct KvSharing {
  Allocation allocation = Allocation::exact;
  int64_t block_tokens = 16;    // paged: tokens per block
  int64_t reserve_tokens = 0;   // contiguous: tokens reserved per sequence (0 = the context)
  int64_t shared_prefix = 0;    // tokens at the start of every sequence, identical in all
  int64_t branches = 1;         // sequences per request: a trunk forked into this many branches
  int64_t trunk = 0;            // tokens at the start of each request that its branches share
  // Fraction of prompt tokens served from the prefix cache (vLLM's prefix cache hit rate): their
  // prefill is skipped (docs/kv-economy.md). Applies under every engine.
  double prefix_hit_rate = 0;
};

// Prompt tokens a request finds cached: floor(rate x prompt), at most prompt - 1 (the last prompt
// token is always computed, for the first output token's logits).
int64_t cached_prompt_tokens(double prefix_hit_rate, int64_t prompt);

// Throws kvplan::Error where the description is impossible at this context (a prefix or trunk
// longer than the context, sharing under contiguous allocation, a block of no tokens).
void check_sharing(const KvSharing& s, int64_t context);

// The KV cache of `batch` requests at `context` tokens per sequence (one branch's whole length).
struct KvUse {
  int64_t sequences = 0;            // batch x branches
  int64_t unshared_bytes = 0;       // every sequence holding all its blocks alone
  int64_t shared_bytes = 0;         // shared-prefix blocks once, plus each request's trunk blocks once
  int64_t owned_bytes = 0;          // blocks each sequence holds alone, all sequences
  int64_t total_bytes = 0;          // shared + owned
  int64_t fragmentation_bytes = 0;  // allocated beyond the tokens held (last blocks, reservations)
};
// Equals batch x kv_bytes_per_sequence(terms, context) for the defaults (exact, nothing shared).
KvUse kv_use(const KvTerms& terms, int64_t batch, int64_t context, const KvSharing& s);

// The same under a serving engine, in its blocks (core/engine.h, blocks_for_batch).
struct EngineBlocks {
  int64_t sequences = 0;  // batch x branches
  int64_t shared = 0;     // held once: the prefix's blocks, and each request's trunk blocks
  int64_t owned = 0;      // held by one sequence each, all sequences
  int64_t unshared = 0;   // every sequence holding all its blocks alone
  int64_t total() const { return shared + owned; }
};

}  // namespace kvplan
