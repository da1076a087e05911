#include "gpu/offload_step.h"

#include <algorithm>
#include <deque>

#include <fmt/format.h>

#include "core/error.h"
#include "gpu/device.h"

namespace kvplan::gpu {

namespace {

// Copies the first `tokens` of every row of `r` from `host` (laid out densely, row after row).
void copy_rows(const KvRows& r, int64_t tokens, const void* host, cudaStream_t s) {
  const size_t width = static_cast<size_t>(tokens * r.token_bytes);
  CUDA_CHECK(cudaMemcpy2DAsync(r.base, static_cast<size_t>(r.pitch_bytes), host, width, width,
                               static_cast<size_t>(r.rows), cudaMemcpyHostToDevice, s));
}

int64_t largest_rows_bytes(const std::vector<StepOp>& ops, int64_t tokens) {
  int64_t m = 0;
  for (const StepOp& op : ops)
    for (const KvRows& r : op.kv) m = std::max(m, r.rows * tokens * r.token_bytes);
  return m;
}

void check_tokens(const std::vector<StepOp>& ops, int64_t tokens) {
  bool any = false;
  for (const StepOp& op : ops)
    for (const KvRows& r : op.kv) {
      any = true;
      if (tokens < 1 || tokens > r.tokens)
        throw Error(fmt::format("validate: {} offloaded tokens per sequence, but {} holds {}", tokens, op.label, r.tokens));
    }
  if (!any) throw Error("validate: the model has no full-attention layer whose KV could be offloaded");
}

}  // namespace

int64_t offload_copy_bytes(const std::vector<StepOp>& ops, int64_t tokens) {
  int64_t b = 0;
  for (const StepOp& op : ops)
    for (const KvRows& r : op.kv) b += r.rows * tokens * r.token_bytes;
  return b;
}

TimedCheck time_offload_copies(Timer& t, const std::vector<StepOp>& ops, int64_t tokens, double predicted_s,
                               const TimingOptions& o) {
  check_tokens(ops, tokens);
  // One host buffer as large as the largest copy stands for the tier: every copy reads it (it is
  // far larger than the CPU's caches, so each copy reads DRAM).
  PinnedBuffer host(largest_rows_bytes(ops, tokens));
  TimedCheck c;
  c.name = "host->device copies";
  c.bytes = offload_copy_bytes(ops, tokens);
  c.predicted_s = predicted_s;
  GraphExec g;
  g.capture(t.stream(), [&] {
    for (const StepOp& op : ops)
      for (const KvRows& r : op.kv) {
        copy_rows(r, tokens, host.get(), t.stream());
        ++c.kernels;
      }
  });
  c.measured = t.measure([&](cudaStream_t s) { g.launch(s); }, o);
  c.note = fmt::format("{} tokens per row, cudaMemcpy2DAsync from pinned memory", tokens);
  return c;
}

TimedCheck time_offloaded_step(Timer& t, const std::vector<StepOp>& ops, const OffloadCase& c, const TimingOptions& o) {
  check_tokens(ops, c.tokens);
  PinnedBuffer host(largest_rows_bytes(ops, c.tokens));
  TimedCheck r;
  r.name = c.name;
  r.predicted_s = c.predicted_s;
  r.bytes = offload_copy_bytes(ops, c.tokens);
  for (const StepOp& op : ops) r.kernels += 1 + static_cast<int64_t>(op.kv.size());
  Stream side;
  std::vector<const StepOp*> full;
  for (const StepOp& op : ops)
    if (!op.kv.empty()) full.push_back(&op);
  const size_t n = full.size();
  std::deque<Event> copied, done;  // Event is neither copied nor moved
  for (size_t i = 0; i < n; ++i) {
    copied.emplace_back(cudaEventDisableTiming);
    done.emplace_back(cudaEventDisableTiming);
  }
  Event fork(cudaEventDisableTiming), join(cudaEventDisableTiming);
  const cudaStream_t s = t.stream();
  auto copy_layer = [&](size_t i, cudaStream_t st) {
    for (const KvRows& kv : full[i]->kv) copy_rows(kv, c.tokens, host.get(), st);
  };
  GraphExec g;
  g.capture(s, [&] {
    if (c.prefetch) {
      // Two staging buffers: layer i's copy may start once layer i-2's attention is done.
      fork.record(s);
      CUDA_CHECK(cudaStreamWaitEvent(side.get(), fork.get()));
      for (size_t i = 0; i < std::min<size_t>(2, n); ++i) {
        copy_layer(i, side.get());
        copied[i].record(side.get());
      }
    }
    size_t i = 0;
    for (const StepOp& op : ops) {
      if (op.kv.empty()) {
        op.run(s);
        continue;
      }
      if (c.prefetch) {
        CUDA_CHECK(cudaStreamWaitEvent(s, copied[i].get()));
        op.run(s);
        done[i].record(s);
        if (i + 2 < n) {
          CUDA_CHECK(cudaStreamWaitEvent(side.get(), done[i].get()));
          copy_layer(i + 2, side.get());
          copied[i + 2].record(side.get());
        }
      } else {
        copy_layer(i, s);
        op.run(s);
      }
      ++i;
    }
    if (c.prefetch) {
      join.record(side.get());
      CUDA_CHECK(cudaStreamWaitEvent(s, join.get()));
    }
  });
  r.measured = t.measure([&](cudaStream_t st) { g.launch(st); }, o);
  r.note = fmt::format("{} tokens per sequence in host memory, {} full-attention layers, {}", c.tokens, n,
                       c.prefetch ? "prefetched two layers ahead on a second stream" : "copied on demand");
  return r;
}

}  // namespace kvplan::gpu
