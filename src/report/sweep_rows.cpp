#include "report/sweep_rows.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <map>
#include <optional>

#include "core/error.h"
#include "report/engine_report.h"

namespace kvplan {

// Appends values as nlohmann::json dumps them (numbers) and as csv_row / dump render them.
struct RowWriter::Out {
  RowFormat format;
  std::string& s;
  RealCache* cache = nullptr;
  void integer(int64_t v) {
    char buf[24];
    s.append(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
  }
  void real(double v) {
    if (!std::isfinite(v)) {
      s += "null";
      return;
    }
    uint64_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    if (cache && cache->bits == bits) {
      s += cache->text;
      return;
    }
    char buf[64];
    char* end = nlohmann::detail::to_chars(buf, buf + sizeof buf, v);  // the serializer's own routine
    s.append(buf, end);
    if (cache) {
      cache->bits = bits;
      cache->text.assign(buf, end);
    }
  }
  void boolean(bool v) { s += v ? "true" : "false"; }
  void null() {
    if (format == RowFormat::jsonl) s += "null";
  }
  void optional_integer(const std::optional<int64_t>& v) { v ? integer(*v) : null(); }
  void optional_real(const std::optional<double>& v) { v ? real(*v) : null(); }
  void text(const std::string& v) { s += format == RowFormat::jsonl ? Json(v).dump() : csv_field(Json(v)); }
  void json(const Json& v) { s += format == RowFormat::jsonl ? v.dump() : csv_field(v); }
  std::optional<Json> engine;  // the row's engine.* object, built once for all its columns
};

namespace {
using Out = RowWriter::Out;
using Write = RowWriter::Write;

const LayerSummary* kind_summary(const Estimate& e, const std::string& kind) {
  for (const LayerSummary& s : e.layers)
    if (kind == name(s.kind)) return &s;
  return nullptr;
}

// Every varying key of to_json() and how to write it from an Estimate.
const std::map<std::string, Write>& varying() {
  static const std::map<std::string, Write> table = [] {
    std::map<std::string, Write> t;
    auto i = [&](const std::string& key, int64_t (*get)(const Estimate&)) {
      t[key] = [get](const Estimate& e, Out& o) { o.integer(get(e)); };
    };
    auto r = [&](const std::string& key, double (*get)(const Estimate&)) {
      t[key] = [get](const Estimate& e, Out& o) { o.real(get(e)); };
    };
    i("workload.batch", [](const Estimate& e) { return e.workload.batch; });
    i("workload.context", [](const Estimate& e) { return e.workload.context; });
    i("workload.prompt", [](const Estimate& e) { return e.workload.prompt; });
    i("workload.gen", [](const Estimate& e) { return e.workload.gen; });
    i("memory.kv_bytes_per_sequence", [](const Estimate& e) { return e.memory.kv_bytes_per_sequence; });
    i("memory.kv_cache_bytes", [](const Estimate& e) { return e.memory.kv_cache_bytes; });
    i("memory.state_bytes", [](const Estimate& e) { return e.memory.state_bytes; });
    i("memory.activation_bytes", [](const Estimate& e) { return e.memory.activation_bytes; });
    i("memory.total_bytes", [](const Estimate& e) { return e.memory.total_bytes; });
    i("memory.headroom_bytes", [](const Estimate& e) { return e.memory.headroom_bytes; });
    t["memory.fits"] = [](const Estimate& e, Out& o) { o.boolean(e.memory.fits); };
    i("memory.max_batch", [](const Estimate& e) { return e.memory.max_batch; });
    t["memory.max_context"] = [](const Estimate& e, Out& o) { o.optional_integer(e.memory.max_context); };
    for (LayerKind lk : kAllLayerKinds)
      t[std::string("layers.") + name(lk) + ".kv_bytes_per_sequence"] = [kind = std::string(name(lk))](const Estimate& e, Out& o) {
        const LayerSummary* s = kind_summary(e, kind);
        o.integer(s ? s->kv_bytes_per_sequence : 0);
      };

    i("prefill.prompt", [](const Estimate& e) { return e.prefill.prompt; });
    r("prefill.flops", [](const Estimate& e) { return e.prefill.flops; });
    r("prefill.linear_flops", [](const Estimate& e) { return e.prefill.linear_flops; });
    r("prefill.attention_flops", [](const Estimate& e) { return e.prefill.attention_flops; });
    r("prefill.scan_flops", [](const Estimate& e) { return e.prefill.scan_flops; });
    r("prefill.attention_share", [](const Estimate& e) { return e.prefill.attention_share; });
    i("prefill.bytes", [](const Estimate& e) { return e.prefill.bytes; });
    i("prefill.passes", [](const Estimate& e) { return e.prefill.passes; });
    r("prefill.time_floor_s", [](const Estimate& e) { return e.prefill.time_floor_s; });
    r("prefill.time_s", [](const Estimate& e) { return e.prefill.time_s; });
    t["prefill.bound"] = [](const Estimate& e, Out& o) { o.text(name(e.prefill.bound)); };
    r("prefill.batch_time_s", [](const Estimate& e) { return e.batch_prefill.time_s; });
    r("prefill.batch_tokens_per_s", [](const Estimate& e) { return e.batch_prefill.tokens_per_s; });
    for (LayerKind lk : kAllLayerKinds) {
      const std::string k = name(lk);
      auto by_kind = [k](double PrefillKind::*field) {
        return [k, field](const Estimate& e, Out& o) {
          for (const PrefillKind& p : e.prefill.kinds)
            if (k == name(p.kind)) return o.real(p.*field);
          o.real(0.0);
        };
      };
      t["prefill.by_kind." + k + ".linear_flops"] = by_kind(&PrefillKind::linear_flops);
      t["prefill.by_kind." + k + ".attention_flops"] = by_kind(&PrefillKind::attention_flops);
      t["prefill.by_kind." + k + ".scan_flops"] = by_kind(&PrefillKind::scan_flops);
    }

    i("decode.bytes_per_step", [](const Estimate& e) { return e.decode.bytes; });
    r("decode.flops_per_step", [](const Estimate& e) { return e.decode.flops; });
    r("decode.step_time_s", [](const Estimate& e) { return e.decode.time_s; });
    r("decode.step_time_floor_s", [](const Estimate& e) { return e.decode.time_floor_s; });
    r("decode.tokens_per_s", [](const Estimate& e) { return e.decode.tokens_per_s; });
    r("decode.tokens_per_s_per_seq", [](const Estimate& e) { return e.decode.tokens_per_s_per_seq; });
    t["decode.bound"] = [](const Estimate& e, Out& o) { o.text(name(e.decode.bound)); };
    r("decode.arithmetic_intensity", [](const Estimate& e) { return e.decode.arithmetic_intensity; });
    t["decode.compute_bound_batch"] = [](const Estimate& e, Out& o) { o.optional_integer(e.decode.compute_bound_batch); };
    r("decode.memory_time_s", [](const Estimate& e) { return e.decode.memory_time_s; });
    r("decode.compute_time_s", [](const Estimate& e) { return e.decode.compute_time_s; });
    r("decode.overhead_s", [](const Estimate& e) { return e.decode.overhead_s; });
    i("decode.kernels_per_step", [](const Estimate& e) { return e.decode.kernels; });
    r("decode.experts_touched", [](const Estimate& e) { return e.decode.experts_touched; });
    for (const char* component : {"weights", "kv_cache", "ssm_state", "lm_head", "embedding", "allreduce"}) {
      const std::string c = component;
      auto field = [c](auto get) {
        return [c, get](const Estimate& e, Out& o) {
          DecodeComponent zero{c};
          const DecodeComponent* x = &zero;
          for (const DecodeComponent& d : e.decode.components)
            if (d.name == c) x = &d;
          get(*x, o);
        };
      };
      const std::string p = "decode.components." + c + ".";
      t[p + "bytes"] = field([](const DecodeComponent& x, Out& o) { o.integer(x.bytes); });
      t[p + "flops"] = field([](const DecodeComponent& x, Out& o) { o.real(x.flops); });
      t[p + "kernels"] = field([](const DecodeComponent& x, Out& o) { o.integer(x.kernels); });
      t[p + "time_floor_s"] = field([](const DecodeComponent& x, Out& o) { o.real(x.time_floor_s); });
      t[p + "time_s"] = field([](const DecodeComponent& x, Out& o) { o.real(x.time_s); });
    }
    t["cost.usd_per_million_output_tokens"] = [](const Estimate& e, Out& o) {
      o.optional_real(e.cost.usd_per_million_output_tokens);
    };
    t["cost.usd_per_million_prompt_tokens"] = [](const Estimate& e, Out& o) {
      o.optional_real(e.cost.usd_per_million_prompt_tokens);
    };
    t["cost.usd_per_request"] = [](const Estimate& e, Out& o) { o.optional_real(e.cost.usd_per_request); };
    // The engine's plan follows max_model_len (by default each point's context): every key varies.
    const Json engine_keys = engine_to_json(std::nullopt);
    for (const auto& [key, _] : engine_keys.items())
      t["engine." + key] = [key = key](const Estimate& e, Out& o) {
        if (!o.engine) o.engine = engine_to_json(e.engine);
        o.json((*o.engine)[key]);
      };
    return t;
  }();
  return table;
}

}  // namespace

std::vector<std::string> RowWriter::varying_keys() {
  std::vector<std::string> keys;
  for (const auto& [key, _] : varying()) keys.push_back(key);
  return keys;
}

RowWriter::RowWriter(RowFormat format, const Estimate& representative, const std::vector<std::string>& columns)
    : format_(format) {
  const Json json = to_json(representative);
  const auto flat = flatten(json);
  std::vector<std::pair<std::string, Json>> chosen;
  if (columns.empty()) {
    chosen = flat;
  } else {
    std::map<std::string, Json> by_key(flat.begin(), flat.end());
    std::vector<std::string> known;
    for (const auto& [k, v] : flat) known.push_back(k);
    for (const std::string& c : columns) {
      auto it = by_key.find(c);
      if (it == by_key.end())
        throw Error("--columns: unknown column '" + c + "' (the columns are estimate's JSON keys, dotted)" +
                    did_you_mean(c, known));
      chosen.emplace_back(c, it->second);
    }
  }
  auto add_text = [&](const std::string& text) {
    if (segments_.empty() || segments_.back().write) segments_.push_back({});
    segments_.back().text += text;
  };
  auto add_value = [&](const std::string& key, const Json& value) {
    auto it = varying().find(key);
    if (it == varying().end()) {
      add_text(format_ == RowFormat::csv ? csv_field(value) : value.dump());
      return;
    }
    if (segments_.empty() || segments_.back().write) segments_.push_back({});
    segments_.back().write = &it->second;
  };
  if (format_ == RowFormat::csv) {
    std::string header;
    for (size_t i = 0; i < chosen.size(); ++i) {
      header += (i ? "," : "") + csv_field(Json(chosen[i].first));
      if (i) add_text(",");
      add_value(chosen[i].first, chosen[i].second);
    }
    header_ = header + "\n";
  } else if (!columns.empty()) {
    add_text("{");
    for (size_t i = 0; i < chosen.size(); ++i) {
      add_text((i ? "," : "") + Json(chosen[i].first).dump() + ":");
      add_value(chosen[i].first, chosen[i].second);
    }
    add_text("}");
  } else {
    // The nested object, walked in to_json's order: keys and constants as dump() writes them.
    std::function<void(const std::string&, const Json&)> walk = [&](const std::string& prefix, const Json& j) {
      if (!j.is_object()) return add_value(prefix, j);
      add_text("{");
      bool first = true;
      for (const auto& [k, child] : j.items()) {
        add_text((first ? "" : ",") + Json(k).dump() + ":");
        first = false;
        walk(prefix.empty() ? k : prefix + "." + k, child);
      }
      add_text("}");
    };
    walk("", json);
  }
  add_text("\n");
}

void RowWriter::write(const Estimate& e, std::string& out) const {
  Out o{format_, out};
  for (const Segment& s : segments_) {
    out += s.text;
    if (!s.write) continue;
    o.cache = &s.cache;
    (*s.write)(e, o);
  }
}

}  // namespace kvplan

#include "core/sweep.h"

namespace kvplan {

void for_each_point(const std::vector<SweepCase>& cases, const SweepAxes& axes,
                    const std::function<void(size_t, const Estimate&)>& point) {
  std::vector<SweepModel> models;
  models.reserve(cases.size());
  for (const SweepCase& c : cases) models.emplace_back(c.model, c.gpu, c.options);
  for (size_t i = 0; i < models.size(); ++i)
    for (int64_t context : axes.contexts)
      for (int64_t batch : axes.batches) point(i, models[i].at(Workload{batch, context, axes.prompt, axes.gen}));
}

int64_t write_sweep(const std::vector<SweepCase>& cases, const SweepAxes& axes, RowFormat format,
                    const std::vector<std::string>& columns, const std::function<void(const std::string&)>& sink) {
  constexpr size_t kChunk = size_t{1} << 20;
  std::string buffer;
  buffer.reserve(kChunk + (size_t{1} << 16));
  std::optional<RowWriter> writer;
  size_t writer_case = SIZE_MAX;
  int64_t rows = 0;
  for_each_point(cases, axes, [&](size_t c, const Estimate& e) {
    if (c != writer_case) {  // constants differ per case: a new template, the same header
      RowWriter next(format, e, columns);
      if (writer && next.header() != writer->header())
        throw Error("internal: sweep cases produced different columns");
      if (!writer) buffer += next.header();
      writer.emplace(std::move(next));
      writer_case = c;
    }
    writer->write(e, buffer);
    ++rows;
    if (buffer.size() >= kChunk) {
      sink(buffer);
      buffer.clear();
    }
  });
  if (!buffer.empty()) sink(buffer);
  return rows;
}

}  // namespace kvplan
