#include "report/sweep_rows.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <map>
#include <optional>
#include <type_traits>
#include <variant>

#include "core/error.h"
#include "report/engine_report.h"
#include "report/estimate_fields.h"

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
    if (!cache) {
      s += Json(v).dump();  // exactly as the serializer writes it
      return;
    }
    cache->bits = bits;
    cache->text = Json(v).dump();
    s += cache->text;
  }
  void boolean(bool v) { s += v ? "true" : "false"; }
  void null() {
    if (format == RowFormat::jsonl) s += "null";
  }
  void text(const char* v) { s += format == RowFormat::jsonl ? Json(v).dump() : csv_field(Json(v)); }
  void json(const Json& v) { s += format == RowFormat::jsonl ? v.dump() : csv_field(v); }
  void value(const FieldValue& v) {
    std::visit(
        [this](auto x) {
          using T = decltype(x);
          if constexpr (std::is_same_v<T, std::nullptr_t>) null();
          else if constexpr (std::is_same_v<T, int64_t>) integer(x);
          else if constexpr (std::is_same_v<T, double>) real(x);
          else if constexpr (std::is_same_v<T, bool>) boolean(x);
          else text(x);
        },
        v);
  }
  std::optional<Json> engine;  // the row's engine.* object, built once for all its columns
};

namespace {
using Out = RowWriter::Out;
using Write = RowWriter::Write;

// Every varying key of to_json() and how to write it from an Estimate: the varying fields of
// report/estimate_fields, and the engine's plan.
const std::map<std::string, Write>& varying() {
  static const std::map<std::string, Write> table = [] {
    std::map<std::string, Write> t;
    for (const EstimateField& f : estimate_fields())
      if (f.varies) t[f.key] = [get = f.get](const Estimate& e, Out& o) { o.value(get(e)); };
    // The engine's plan follows max_model_len (by default each point's context): every key varies.
    const Json engine_keys = engine_to_json(std::nullopt);
    const auto add = [&t](const std::string& column, const Json::json_pointer& at) {
      t[column] = [at](const Estimate& e, Out& o) {
        if (!o.engine) o.engine = engine_to_json(e.engine);
        o.json((*o.engine)[at]);
      };
    };
    for (const auto& [key, value] : engine_keys.items()) {
      if (!value.is_object()) {
        add("engine." + key, Json::json_pointer("/" + key));
        continue;
      }
      for (const auto& [sub, _] : value.items())  // an object of the plan (encoder_pass): its members
        add("engine." + key + "." + sub, Json::json_pointer("/" + key + "/" + sub));
    }
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
  Out o{format_, out, nullptr, std::nullopt};
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
