#include "core/speculative.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"

namespace kvplan {

namespace {
// vLLM's MTPModelTypes (vllm/config/speculative.py, mid-2026): each a model's own MTP module,
// which SpeculativeConfig runs as method "mtp".
const std::vector<std::string> kMtpModelTypes = {
    "deepseek_mtp",     "dots3_note_mtp",     "mimo_mtp",       "mimo_v2_mtp",          "glm4_moe_mtp",
    "glm4_moe_lite_mtp", "glm_ocr_mtp",       "ernie_mtp",      "nemotron_h_mtp",       "exaone_moe_mtp",
    "exaone4_5_mtp",    "qwen3_next_mtp",     "qwen3_5_mtp",    "longcat_flash_mtp",    "bailing_hybrid_v3_mtp",
    "minimax_m3_mtp",   "bailing_hybrid_mtp", "kimi_k3_mtp",    "pangu_ultra_moe_mtp",  "step3p5_mtp",
    "hy_v3_mtp",        "hy_v4_mtp",          "gemma4_mtp",     "inkling_mtp",          "glm5_next_mtp"};
// vLLM's other methods, which kvplan does not size.
const std::vector<std::string> kUnmodelledMethods = {"medusa",      "mlp_speculator", "suffix", "custom_class",
                                                     "ngram_gpu",   "dflash",         "dspark",
                                                     "extract_hidden_states"};
const std::vector<std::string> kMethods = {"draft_model", "eagle", "eagle3", "mtp", "ngram"};
}  // namespace

std::string canonical_speculative_method(const std::string& method) {
  if (std::find(kMethods.begin(), kMethods.end(), method) != kMethods.end()) return method;
  if (std::find(kMtpModelTypes.begin(), kMtpModelTypes.end(), method) != kMtpModelTypes.end()) return "mtp";
  if (std::find(kUnmodelledMethods.begin(), kUnmodelledMethods.end(), method) != kUnmodelledMethods.end())
    throw Error("speculative method '" + method + "' is vLLM's, but kvplan does not model it (it models draft_model, "
                "eagle, eagle3, mtp with the models' own MTP names, and ngram)");
  std::vector<std::string> known = kMethods;
  known.insert(known.end(), kMtpModelTypes.begin(), kMtpModelTypes.end());
  throw Error("speculative method '" + method + "' is not one of draft_model, eagle, eagle3, mtp (or a model's "
              "own, e.g. deepseek_mtp), ngram" + did_you_mean(method, known));
}

DraftKind draft_kind(const std::string& method) {
  const std::string m = canonical_speculative_method(method);
  if (m == "draft_model") return DraftKind::model;
  if (m == "ngram") return DraftKind::none;
  return DraftKind::head;  // eagle, eagle3, mtp
}

double acceptance_length(const Acceptance& a, int64_t k) {
  switch (a.kind) {
    case AcceptanceKind::rate: return 1.0 + static_cast<double>(k) * a.value;
    case AcceptanceKind::length: return a.value;
  }
  return 1.0;
}

namespace {
std::string number(double v) {
  std::string s = std::to_string(v);
  while (s.size() > 1 && s.back() == '0') s.pop_back();
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}
}  // namespace

void check_acceptance(const EngineSettings& e) {
  if (!e.acceptance) return;
  if (e.speculative_method.empty())
    throw Error("an acceptance rate or length needs a speculative config (method and num_speculative_tokens)");
  const double v = e.acceptance->value;
  const int64_t k = e.num_speculative_tokens;
  switch (e.acceptance->kind) {
    case AcceptanceKind::rate:
      if (!(v >= 0 && v <= 1))
        throw Error("the acceptance rate is accepted / proposed draft tokens, a fraction in [0, 1], got " + number(v));
      break;
    case AcceptanceKind::length:
      if (!(v >= 1 && v <= static_cast<double>(k) + 1))
        throw Error("the acceptance length is tokens per target step, from 1 to num_speculative_tokens + 1 = " +
                    std::to_string(k + 1) + ", got " + number(v));
      break;
  }
}

int64_t draft_weight_bytes(const EngineSettings& e, const WeightDTypes& w, int64_t tp) {
  if (e.speculative_method.empty() || !e.draft) return 0;
  const Model& d = *e.draft;
  switch (draft_kind(e.speculative_method)) {
    case DraftKind::model: return weight_bytes(d, w, tp);
    // A head shares the target's embedding and (unless it has its own vocabulary, EAGLE-3) its
    // lm_head; an EAGLE-3 head also holds its fc and final norm.
    case DraftKind::head: return stage_weight_bytes(d, w, tp, 0, d.layers.size(), false, d.head_vocab_size > 0);
    case DraftKind::none: return 0;
  }
  return 0;
}

SpeculativeModel::SpeculativeModel(const Model& target, const Gpu& gpu, const MemoryOptions& opt)
    : target_(target, gpu, opt), method_(opt.engine.speculative_method), k_(opt.engine.num_speculative_tokens) {
  check_acceptance(opt.engine);
  if (!opt.engine.acceptance) throw Error("speculative decoding timing needs an acceptance rate or length");
  length_ = acceptance_length(*opt.engine.acceptance, k_);
  switch (draft_kind(method_)) {
    case DraftKind::model:
    case DraftKind::head:
      if (!opt.engine.draft) throw Error("speculative method " + method_ + " has no drafter");
      draft_.emplace(*opt.engine.draft, gpu, opt);
      break;
    case DraftKind::none: break;
  }
}

SpeculativeDecode SpeculativeModel::at(int64_t batch, int64_t context) const {
  SpeculativeDecode s;
  s.method = method_;
  s.num_speculative_tokens = k_;
  s.acceptance_length = length_;
  s.acceptance_rate = (length_ - 1.0) / static_cast<double>(k_);
  if (draft_) {
    s.draft = draft_->step(batch, context);
    s.draft_time_s = static_cast<double>(k_) * s.draft->time_s;
  }
  s.verify = target_.step(batch, context, k_ + 1);
  s.verify_time_s = s.verify.time_s;
  s.step_time_s = s.draft_time_s + s.verify_time_s;
  s.tokens_per_s = static_cast<double>(batch) * length_ / s.step_time_s;
  s.time_per_output_token_s = s.step_time_s / length_;
  s.plain_tokens_per_s = target_.step(batch, context).tokens_per_s;
  s.speedup = s.tokens_per_s / s.plain_tokens_per_s;
  return s;
}

double SpeculativeModel::speedup(int64_t batch, int64_t context) const {
  const double draft_s = draft_ ? static_cast<double>(k_) * draft_->step(batch, context).time_s : 0;
  const double step_s = draft_s + target_.step(batch, context, k_ + 1).time_s;
  return length_ * target_.step(batch, context).time_s / step_s;
}

std::optional<int64_t> SpeculativeModel::pays_up_to_batch(int64_t context) const {
  auto pays = [&](int64_t b) {
    try {
      return speedup(b, context) > 1;
    } catch (const Error&) {  // bytes past 64 bits: no batch kvplan can time
      return false;
    }
  };
  constexpr int64_t kEvery = 256, kLimit = int64_t{1} << 24;
  for (int64_t b = 1; b <= kEvery; ++b)
    if (!pays(b)) return b - 1;
  int64_t lo = kEvery, hi = 2 * kEvery;  // pays(lo)
  while (pays(hi)) {
    if (hi == kLimit) return std::nullopt;
    lo = hi;
    hi *= 2;
  }
  while (hi - lo > 1) {  // pays(lo), !pays(hi)
    const int64_t mid = lo + (hi - lo) / 2;
    (pays(mid) ? lo : hi) = mid;
  }
  return lo;
}

std::optional<SpeculativeDecode> speculative_decode(const Model& target, const Gpu& gpu, int64_t batch,
                                                    int64_t context, const MemoryOptions& opt) {
  if (opt.engine.speculative_method.empty() || !opt.engine.acceptance) return std::nullopt;
  const SpeculativeModel m(target, gpu, opt);
  SpeculativeDecode s = m.at(batch, context);
  s.pays_up_to_batch = m.pays_up_to_batch(context);
  return s;
}

}  // namespace kvplan
