// RAII owners for device memory, events, streams and graphs (copy deleted, move allowed).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <map>
#include <utility>
#include <vector>

#include "gpu/cuda_check.h"

namespace kvplan::gpu {

// Device memory is allocated through a process-wide cache that keeps freed blocks mapped and hands
// them out again (the smallest cached block >= the request, at most twice its size), as PyTorch's
// caching allocator and serving engines' one-time KV allocation do. Measured on the H100
// (docs/validation/README.md): after cudaFree of multi-GB buffers, buffers cudaMalloc'ed later in the
// same process streamed up to 16% slower than in a fresh process, so kvplan's timings never cudaFree.
// When cudaMalloc fails, the cache is released and the allocation retried once.
class BlockCache {
 public:
  static BlockCache& instance() {
    static BlockCache c;
    return c;
  }
  // Returns a block of at least `bytes`; `capacity` receives its real size.
  void* take(int64_t bytes, int64_t& capacity) {
    auto it = free_.lower_bound(bytes);
    if (it != free_.end() && it->first <= 2 * bytes) {
      capacity = it->first;
      void* p = it->second;
      free_.erase(it);
      return p;
    }
    void* p = nullptr;
    if (cudaMalloc(&p, static_cast<size_t>(bytes)) != cudaSuccess) {
      (void)cudaGetLastError();
      release();
      CUDA_CHECK(cudaMalloc(&p, static_cast<size_t>(bytes)));
    }
    capacity = bytes;
    return p;
  }
  // Takes a block back; waits for the device first, as cudaFree would, so no stream still uses it.
  void give(void* p, int64_t capacity) {
    cudaDeviceSynchronize();
    free_.emplace(capacity, p);
  }
  void release() {
    cudaDeviceSynchronize();
    for (auto& [bytes, p] : free_) cudaFree(p);
    free_.clear();
  }

 private:
  std::multimap<int64_t, void*> free_;
};

class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(int64_t bytes) : bytes_(bytes) {
    if (bytes > 0) ptr_ = BlockCache::instance().take(bytes, capacity_);
  }
  ~DeviceBuffer() {
    if (ptr_) BlockCache::instance().give(ptr_, capacity_);
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept
      : ptr_(std::exchange(o.ptr_, nullptr)), bytes_(std::exchange(o.bytes_, 0)), capacity_(std::exchange(o.capacity_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    std::swap(ptr_, o.ptr_);
    std::swap(bytes_, o.bytes_);
    std::swap(capacity_, o.capacity_);
    return *this;
  }
  void* get() const { return ptr_; }
  template <typename T>
  T* as() const { return static_cast<T*>(ptr_); }
  int64_t bytes() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  int64_t bytes_ = 0;
  int64_t capacity_ = 0;
};

// A device copy of a host vector (at least one element's bytes, so an empty vector still gives a
// valid pointer).
template <class T>
DeviceBuffer to_device(const std::vector<T>& v) {
  DeviceBuffer d(static_cast<int64_t>((v.empty() ? 1 : v.size()) * sizeof(T)));
  if (!v.empty()) CUDA_CHECK(cudaMemcpy(d.get(), v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice));
  return d;
}

// Page-locked host memory (cudaHostAlloc): what a KV offload tier in host DRAM is, so that the
// GPU's copy engines move it at the link's rate.
class PinnedBuffer {
 public:
  explicit PinnedBuffer(int64_t bytes) : bytes_(bytes) {
    if (bytes > 0) CUDA_CHECK(cudaHostAlloc(&ptr_, static_cast<size_t>(bytes), cudaHostAllocDefault));
  }
  ~PinnedBuffer() {
    if (ptr_) cudaFreeHost(ptr_);
  }
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  void* get() const { return ptr_; }
  int64_t bytes() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  int64_t bytes_ = 0;
};

class Event {
 public:
  Event() { CUDA_CHECK(cudaEventCreate(&e_)); }
  explicit Event(unsigned flags) { CUDA_CHECK(cudaEventCreateWithFlags(&e_, flags)); }
  ~Event() { cudaEventDestroy(e_); }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  cudaEvent_t get() const { return e_; }
  void record(cudaStream_t s) { CUDA_CHECK(cudaEventRecord(e_, s)); }
  // Seconds from `start` to this event (both recorded and complete).
  double seconds_since(const Event& start) const {
    float ms = 0;
    CUDA_CHECK(cudaEventSynchronize(e_));
    CUDA_CHECK(cudaEventElapsedTime(&ms, start.e_, e_));
    return ms * 1e-3;
  }

 private:
  cudaEvent_t e_ = nullptr;
};

class Stream {
 public:
  Stream() { CUDA_CHECK(cudaStreamCreateWithFlags(&s_, cudaStreamNonBlocking)); }
  ~Stream() { cudaStreamDestroy(s_); }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  cudaStream_t get() const { return s_; }
  void sync() const { CUDA_CHECK(cudaStreamSynchronize(s_)); }

 private:
  cudaStream_t s_ = nullptr;
};

class GraphExec {
 public:
  GraphExec() = default;
  ~GraphExec() {
    if (exec_) cudaGraphExecDestroy(exec_);
    if (graph_) cudaGraphDestroy(graph_);
  }
  GraphExec(const GraphExec&) = delete;
  GraphExec& operator=(const GraphExec&) = delete;
  // Captures what `record` enqueues on `s` and instantiates it.
  template <typename F>
  void capture(cudaStream_t s, F&& record) {
    CUDA_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
    record();
    CUDA_CHECK(cudaStreamEndCapture(s, &graph_));
    CUDA_CHECK(cudaGraphInstantiate(&exec_, graph_, 0));
  }
  void launch(cudaStream_t s) const { CUDA_CHECK(cudaGraphLaunch(exec_, s)); }

 private:
  cudaGraph_t graph_ = nullptr;
  cudaGraphExec_t exec_ = nullptr;
};

}  // namespace kvplan::gpu
