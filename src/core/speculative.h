// Speculative decoding: what the drafter weighs and caches, and how long a speculative step takes
// (docs/kv-economy.md, "Speculative decoding").
//
// Each step, a drafter proposes k = num_speculative_tokens tokens per sequence, then one forward
// pass of the target over k + 1 query tokens per sequence verifies them. A step yields
// L = 1 + k x F tokens per sequence on average, F being vLLM's acceptance rate (accepted /
// proposed draft tokens), L its mean acceptance length (1 + accepted / drafts). Step time:
//   draft   k passes of the drafter at the batch, one token per sequence each (a draft model:
//           its own weights, KV and lm_head; an EAGLE head or MTP module: one layer, the
//           target's embedding and lm_head; ngram: none, it drafts on the CPU)
//   verify  the target's pass of k + 1 tokens per sequence: weights and KV read once, FLOPs,
//           KV writes and all-reduces x (k + 1) (DecodeModel::step with query_tokens = k + 1)
// tokens/s = batch x L / (draft + verify); speedup = that / the plain decode step's tokens/s.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/decode.h"
#include "core/engine_settings.h"
#include "core/gpu.h"
#include "core/memory.h"
#include "core/model.h"
#include "core/params.h"

namespace kvplan {

// What drafts: a model of its own (draft_model), a head on the target sharing its embedding and
// lm_head (eagle, eagle3, mtp), or nothing on the GPU (ngram: prompt lookup).
enum class DraftKind { model, head, none };
// The kind of a --speculative-config method; throws kvplan::Error for an unknown one.
DraftKind draft_kind(const std::string& method);
// vLLM's spelling of a method as kvplan models it: a model's own MTP type (deepseek_mtp,
// qwen3_5_mtp, ...) is mtp, as vLLM folds it; the five modelled methods stay; vLLM's methods kvplan
// does not model (medusa, mlp_speculator, suffix, dflash, ...) and unknown names are a kvplan::Error.
std::string canonical_speculative_method(const std::string& method);

// Tokens a target step yields per sequence: 1 + k x F for a rate F, the length L as given.
double acceptance_length(const Acceptance& a, int64_t k);
// Throws kvplan::Error when the acceptance is impossible: a rate outside [0, 1], a length below 1
// or above k + 1 (a step yields at most the k drafted tokens and the target's own), or an
// acceptance without a speculative method. The message names no flag: callers add theirs.
void check_acceptance(const EngineSettings& engine);

// The drafter's weights per GPU under tensor parallel tp: a draft model's own, embedding and
// lm_head included; a head's layers only (it shares the target's embedding and lm_head); 0 for
// ngram or no speculation. vLLM runs the drafter at the target's tensor-parallel degree.
int64_t draft_weight_bytes(const EngineSettings& engine, const WeightDTypes& w, int64_t tp);

// One speculative step of `batch` sequences at `context` tokens.
struct SpeculativeDecode {
  std::string method;
  int64_t num_speculative_tokens = 0;  // k
  double acceptance_rate = 0;          // F = (L - 1) / k
  double acceptance_length = 0;        // L = 1 + k x F: tokens per target step per sequence
  std::optional<DecodeStep> draft;     // one draft pass (none for ngram)
  DecodeStep verify;                   // the target's pass of k + 1 tokens per sequence
  double draft_time_s = 0;             // k draft passes
  double verify_time_s = 0;
  double step_time_s = 0;              // draft + verify
  double tokens_per_s = 0;             // batch x L / step_time_s (per replica)
  double time_per_output_token_s = 0;  // step_time_s / L
  double plain_tokens_per_s = 0;       // the plain decode step's, at the same batch and context
  double speedup = 0;                  // tokens_per_s / plain_tokens_per_s
  // The largest batch b such that speculation pays (speedup > 1) at every batch 1..b; 0 = not at
  // batch 1; nullopt = at every batch up to 2^24. Filled by speculative_decode() and the sweep.
  std::optional<int64_t> pays_up_to_batch;
};

// The drafter and the target, set up once (sweeps, searches). Needs a speculative method and an
// acceptance in opt.engine (check_acceptance).
class SpeculativeModel {
 public:
  SpeculativeModel(const Model& target, const Gpu& gpu, const MemoryOptions& opt);
  SpeculativeDecode at(int64_t batch, int64_t context) const;
  // Speedup of speculation over plain decode at one point.
  double speedup(int64_t batch, int64_t context) const;
  // SpeculativeDecode::pays_up_to_batch. Speedup is not monotone in the batch in general (an MoE's
  // verify pass touches more experts than a decode step, most at small batch): every batch up to
  // 256 is tried in turn; beyond, powers of two until it stops paying, then bisection (there
  // compute binds the verify pass, and the speedup falls with the batch).
  std::optional<int64_t> pays_up_to_batch(int64_t context) const;

 private:
  DecodeModel target_;
  std::optional<DecodeModel> draft_;
  std::string method_;
  int64_t k_ = 0;
  double length_ = 0;
};

// The speculative step at a point with pays_up_to_batch, or nullopt without a speculative method
// and an acceptance.
std::optional<SpeculativeDecode> speculative_decode(const Model& target, const Gpu& gpu, int64_t batch,
                                                    int64_t context, const MemoryOptions& opt);

}  // namespace kvplan
