#include "report/engine_report.h"

#include <fmt/format.h>

#include "report/format.h"

namespace kvplan {

namespace {
using Json = nlohmann::ordered_json;
template <typename T>
Json or_null(bool present, const T& v) {
  return present ? Json(v) : Json(nullptr);
}
std::string gib2(int64_t bytes) { return fmt::format("{:.2f} GiB", static_cast<double>(bytes) / (1024.0 * 1024 * 1024)); }
}  // namespace

Json engine_to_json(const std::optional<EnginePlan>& plan) {
  const bool on = plan.has_value();
  const EnginePlan p = plan.value_or(EnginePlan{});
  Json j;
  j["name"] = name(on ? p.kind : EngineKind::ideal);
  j["version"] = or_null(on, p.version);
  j["cuda_total_bytes"] = or_null(on, p.cuda_total_bytes);
  j["requested_bytes"] = or_null(on, p.requested_bytes);
  j["weights_bytes"] = or_null(on, p.weights_bytes);
  j["rope_tables_bytes"] = or_null(on, p.rope_tables_bytes);
  j["mxfp4_padding_bytes"] = or_null(on, p.mxfp4_padding_bytes);
  j["mla_absorbed_bytes"] = or_null(on, p.mla_absorbed_bytes);
  j["topk_indices_bytes"] = or_null(on, p.topk_indices_bytes);
  j["activation_peak_bytes"] = or_null(on && p.activation_peak_bytes, p.activation_peak_bytes.value_or(0));
  // Always an object (fixed CSV columns), its members null where no encoder pass is modelled.
  const bool enc = on && p.encoder;
  const EncoderPass e = enc ? *p.encoder : EncoderPass{};
  j["encoder_pass"] = Json{{"items", or_null(enc, e.items)},     {"item_tokens", or_null(enc, e.item_tokens)},
                           {"video", or_null(enc, e.video)},     {"patches", or_null(enc, e.patches)},
                           {"peak_bytes", or_null(enc, e.peak_bytes)}};
  j["cuda_graph_bytes"] = or_null(on, p.cuda_graph_bytes);
  j["cuda_graphs"] = or_null(on && p.cuda_graphs > 0, p.cuda_graphs);
  j["non_torch_bytes"] = or_null(on, p.non_torch_bytes);
  j["kv_cache_memory_given"] = or_null(on, p.budget_given);
  j["available_kv_cache_bytes"] = or_null(on, p.available_kv_cache_bytes);
  j["block_size"] = or_null(on, p.block_size);
  j["page_bytes"] = or_null(on && p.page_bytes > 0, p.page_bytes);
  j["pool_block_bytes"] = or_null(on, p.pool_block_bytes);
  j["state_page_bytes"] = or_null(on, p.state_page_bytes);
  j["state_slots"] = or_null(on, p.state_slots);
  j["state_request_cap"] = or_null(on && p.state_request_cap, p.state_request_cap.value_or(0));
  j["kv_cache_groups"] = or_null(on, static_cast<int64_t>(p.groups.size()));
  j["layers_per_group"] = or_null(on, p.group_size);
  j["num_gpu_blocks"] = or_null(on, p.num_gpu_blocks);
  j["kv_cache_tokens"] = or_null(on, p.kv_cache_tokens);
  j["swa_pool_tokens"] = or_null(on && p.swa_pool_tokens > 0, p.swa_pool_tokens);
  j["draft_weights_bytes"] = or_null(on && p.draft_kv_cache_bytes > 0, p.draft_weights_bytes);
  j["draft_kv_cache_bytes"] = or_null(on && p.draft_kv_cache_bytes > 0, p.draft_kv_cache_bytes);
  j["speculative_headroom_tokens"] = or_null(on && p.speculative_headroom_tokens > 0, p.speculative_headroom_tokens);
  j["max_model_len"] = or_null(on, p.max_model_len);
  j["max_num_seqs"] = or_null(on, p.max_num_seqs);
  j["max_num_batched_tokens"] = or_null(on, p.max_num_batched_tokens);
  j["blocks_per_request"] = or_null(on, p.blocks_per_request);
  j["max_concurrency"] = or_null(on, p.max_concurrency);
  j["starts"] = or_null(on, p.starts);
  j["failure"] = or_null(on && !p.starts, p.failure);
  j["estimated_max_model_len"] = or_null(on && p.estimated_max_model_len, p.estimated_max_model_len.value_or(0));
  return j;
}

std::string render_engine(const EnginePlan& p) {
  std::string out = fmt::format("  engine     {} {}: ", name(p.kind), p.version);
  if (p.budget_given) {
    out += fmt::format("KV cache memory given: {}\n", gib2(p.available_kv_cache_bytes));
  } else if (p.activation_peak_bytes) {
    out += fmt::format("total {} x utilization = {}; weights {}, activation peak {}, non-torch {}{}\n",
                       gib2(p.cuda_total_bytes), gib2(p.requested_bytes), gib2(p.weights_bytes),
                       gib2(*p.activation_peak_bytes), gib2(p.non_torch_bytes),
                       p.cuda_graph_bytes > 0
                           ? fmt::format(", CUDA graphs {} ({} graphs)", gib2(p.cuda_graph_bytes), p.cuda_graphs)
                           : "");
    if (p.encoder)
      out += fmt::format("             vision encoder pass: {} {}{} of {} tokens, {} patches, peak {}\n",
                         group_digits(p.encoder->items), p.encoder->video ? "video" : "image",
                         p.encoder->items == 1 ? "" : "s",
                         group_digits(p.encoder->item_tokens), group_digits(p.encoder->patches), gib2(p.encoder->peak_bytes));
  } else {
    out += fmt::format("total {}, kept back {}; weights {}, non-torch {}\n", gib2(p.cuda_total_bytes),
                       gib2(p.cuda_total_bytes - p.requested_bytes), gib2(p.weights_bytes), gib2(p.non_torch_bytes));
  }
  out += fmt::format("             available KV cache memory {}; block {} tokens, ", gib2(p.available_kv_cache_bytes),
                     p.block_size);
  out += p.page_bytes > 0 ? fmt::format("page {} B", group_digits(p.page_bytes))
                          : fmt::format("pages of several sizes, {} B a block across the layers", group_digits(p.pool_block_bytes));
  if (p.state_slots > 0)
    out += fmt::format(", state pool {} slots of {} B ({} requests)", group_digits(p.state_slots),
                       group_digits(p.state_page_bytes), group_digits(p.state_request_cap.value_or(0)));
  else if (p.state_page_bytes > 0)
    out += fmt::format(", state page {} B", group_digits(p.state_page_bytes));
  if (p.groups.size() > 1) out += fmt::format(", {} groups of {} layers", p.groups.size(), p.group_size);
  if (p.swa_pool_tokens > 0)
    out += fmt::format(", sliding-window pool {} tokens (full-attention pool below)", group_digits(p.swa_pool_tokens));
  out += "\n";
  out += fmt::format("             {} blocks, KV cache size {} tokens; max concurrency {:.2f}x at {} tokens per request\n",
                     group_digits(p.num_gpu_blocks), group_digits(p.kv_cache_tokens), p.max_concurrency,
                     group_digits(p.max_model_len));
  if (p.speculative_headroom_tokens > 0)
    out += fmt::format("             of which {} tokens of headroom for the drafter's steps\n",
                       group_digits(p.speculative_headroom_tokens));
  if (p.draft_kv_cache_bytes > 0)
    out += fmt::format("             drafter beyond mem_fraction_static: weights {}, its own KV pool {} ({} tokens)\n",
                       gib2(p.draft_weights_bytes), gib2(p.draft_kv_cache_bytes), group_digits(p.kv_cache_tokens));
  if (!p.starts) out += "             DOES NOT START: " + p.failure + "\n";
  return out;
}

}  // namespace kvplan
