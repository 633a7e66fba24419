// The CUDA backend's process-wide state: one device, one stream and a set of
// grow-only device buffers that the kernels' host wrappers reuse from call to call. Calls are
// serialized by one mutex (the kernels take host arrays, copy them in, compute, copy back), so
// the contract's synchronous semantics hold even when the addon calls from several threads.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>

namespace r3mes {
namespace cuda {

/** Throws std::runtime_error naming `what` when a CUDA call failed. */
void check(cudaError_t status, const char* what);
/** Checks the last kernel launch. */
void checkLaunch(const char* what);

class Context {
 public:
  static constexpr int kSlots = 16;

  std::mutex mutex;
  cudaStream_t stream = nullptr;
  /** A second stream and events, for work that overlaps the main stream (see ternaryMatmulDevice). */
  cudaStream_t aux = nullptr;
  cudaEvent_t mainReady = nullptr;
  cudaEvent_t bandDone = nullptr;
  cudaEvent_t auxDone = nullptr;

  /** A device buffer of at least `bytes` bytes in `slot` (grown as needed, never shrunk). */
  void* slot(int slot, size_t bytes);
  template <typename T>
  T* slotOf(int s, int64_t count) {
    return static_cast<T*>(slot(s, static_cast<size_t>(count) * sizeof(T)));
  }
  /** Copies `count` values from the host into `slot` and returns the device copy. */
  template <typename T>
  T* upload(int s, const T* host, int64_t count) {
    T* d = slotOf<T>(s, count);
    copyToDevice(d, host, static_cast<size_t>(count) * sizeof(T));
    return d;
  }
  /** Copies `count` values back to the host and waits for the stream. */
  template <typename T>
  void download(T* host, const T* device, int64_t count) {
    copyToHost(host, device, static_cast<size_t>(count) * sizeof(T));
  }
  /** Host → device through the pinned staging buffer (asynchronous on `stream`). */
  void copyToDevice(void* device, const void* host, size_t bytes);
  /** Device → host through the pinned staging buffer; waits for the stream. */
  void copyToHost(void* host, const void* device, size_t bytes);

 private:
  /**
   * A region of pinned host memory for one copy. Copies from pageable memory (a JS typed array)
   * are several times slower than from pinned memory, so every copy goes through this buffer:
   * a memcpy on the host, then DMA. Regions are handed out in order and the buffer is reused
   * from the start once the stream has drained (copyToHost waits for it).
   */
  char* stage(size_t bytes);

  void* buffers_[kSlots] = {};
  size_t sizes_[kSlots] = {};
  char* staging_ = nullptr;
  size_t stagingSize_ = 0;
  size_t stagingUsed_ = 0;
};

/**
 * The context, created on first use. Throws when no GPU can be used; `probe` answers the same
 * question without throwing.
 */
Context& context();
/** True when a CUDA device can be used; else false with the reason. Fills `description` either way. */
bool probe(std::string& description);

/** Blocks of `threads` for `items` independent items. */
inline unsigned blocksFor(int64_t items, int threads) {
  return static_cast<unsigned>((items + threads - 1) / threads);
}

}  // namespace cuda
}  // namespace r3mes
