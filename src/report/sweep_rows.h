// Rows of `estimate`'s JSON for many points, fast: `kvplan sweep` writes a million of them a
// second, so it cannot build a JSON object per row. The columns that stay the same for one
// SweepModel (model, GPU, options, weights...) are rendered once from to_json(); the columns that
// vary with the point are written straight from the Estimate. tests/sweep_test.cpp holds every
// row byte-equal to csv_row(to_json(e)) / to_json(e).dump(), so the two cannot drift.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/estimate.h"
#include "report/estimate_report.h"

namespace kvplan {

enum class RowFormat { csv, jsonl };

class RowWriter {
 public:
  // `representative`: any estimate of the (model, GPU, options) the rows will come from. `columns`:
  // dotted keys to keep, in that order (empty: every key of estimate's JSON, in its order); a JSONL
  // row with selected columns is a flat object with the dotted keys. Throws kvplan::Error for an
  // unknown column (with "did you mean").
  RowWriter(RowFormat format, const Estimate& representative, const std::vector<std::string>& columns = {});
  // The CSV header line (with "\n"); "" for JSONL.
  const std::string& header() const { return header_; }
  // Appends one row (with "\n") for an estimate of the same (model, GPU, options).
  void write(const Estimate& e, std::string& out) const;

  // Keys of estimate's JSON that vary with batch, context, prompt and gen.
  static std::vector<std::string> varying_keys();

  struct Out;  // appends values in the row's format
  using Write = std::function<void(const Estimate&, Out&)>;

 private:
  // The last real number a segment wrote and its text: many columns repeat along the inner axis
  // (prefill depends on the prompt only), and formatting doubles is most of a row's cost.
  struct RealCache {
    uint64_t bits = ~uint64_t{0};  // the double's bits (so -0.0 and 0.0 differ); a NaN pattern = empty
    std::string text;
  };
  struct Segment {
    std::string text;              // written first
    const Write* write = nullptr;  // then this varying column, if any
    mutable RealCache cache;       // write() is const but not thread-safe
  };
  RowFormat format_;
  std::string header_;
  std::vector<Segment> segments_;
};

}  // namespace kvplan

namespace kvplan {

// One (model, GPU, options) of a sweep.
struct SweepCase {
  Model model;
  Gpu gpu;
  MemoryOptions options;
};

// The per-point axes; prompt 0 = each point's context, gen 0 = unknown.
struct SweepAxes {
  std::vector<int64_t> contexts;
  std::vector<int64_t> batches;
  int64_t prompt = 0;
  int64_t gen = 0;
};

// Calls `point` for every point: cases outermost, then contexts, then batches. Validates every case
// before the first point (a bad combination, e.g. tp not dividing the heads, throws up front).
void for_each_point(const std::vector<SweepCase>& cases, const SweepAxes& axes,
                    const std::function<void(size_t case_index, const Estimate&)>& point);

// Writes the sweep as CSV (header once) or JSONL through `sink`, in chunks of about 1 MiB.
// Returns the number of rows.
int64_t write_sweep(const std::vector<SweepCase>& cases, const SweepAxes& axes, RowFormat format,
                    const std::vector<std::string>& columns, const std::function<void(const std::string&)>& sink);

}  // namespace kvplan
