// See context.h.
#include <cstdio>

#include "context.h"

namespace r3mes {
namespace cuda {

void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess) {
    throw std::runtime_error(std::string("CUDA error in ") + what + ": " + cudaGetErrorString(status));
  }
}

void checkLaunch(const char* what) { check(cudaGetLastError(), what); }

void* Context::slot(int s, size_t bytes) {
  if (s < 0 || s >= kSlots) throw std::logic_error("device buffer slot out of range");
  if (bytes < 256) bytes = 256;
  if (sizes_[s] < bytes) {
    if (buffers_[s] != nullptr) {
      check(cudaStreamSynchronize(stream), "synchronize before reallocation");
      check(cudaFree(buffers_[s]), "cudaFree");
      buffers_[s] = nullptr;
      sizes_[s] = 0;
    }
    // Grow by a quarter beyond the request, so that slowly growing shapes do not reallocate every call.
    const size_t want = bytes + bytes / 4;
    check(cudaMalloc(&buffers_[s], want), "cudaMalloc");
    sizes_[s] = want;
  }
  return buffers_[s];
}

char* Context::stage(size_t bytes) {
  const size_t aligned = (bytes + 255) & ~size_t{255};
  if (stagingUsed_ + aligned > stagingSize_) {
    // Wait for the copies in flight from the old buffer, then replace it with a larger one.
    check(cudaStreamSynchronize(stream), "synchronize before restaging");
    const size_t want = 2 * (stagingUsed_ + aligned) + (size_t{1} << 20);
    if (staging_ != nullptr) check(cudaFreeHost(staging_), "cudaFreeHost");
    staging_ = nullptr;
    stagingSize_ = 0;
    void* p = nullptr;
    check(cudaMallocHost(&p, want), "cudaMallocHost");
    staging_ = static_cast<char*>(p);
    stagingSize_ = want;
    stagingUsed_ = 0;
  }
  char* region = staging_ + stagingUsed_;
  stagingUsed_ += aligned;
  return region;
}

void Context::copyToDevice(void* device, const void* host, size_t bytes) {
  if (bytes == 0) return;
  char* region = stage(bytes);
  std::memcpy(region, host, bytes);
  check(cudaMemcpyAsync(device, region, bytes, cudaMemcpyHostToDevice, stream), "copy to the GPU");
}

void Context::copyToHost(void* host, const void* device, size_t bytes) {
  char* region = bytes > 0 ? stage(bytes) : nullptr;
  if (bytes > 0) check(cudaMemcpyAsync(region, device, bytes, cudaMemcpyDeviceToHost, stream), "copy from the GPU");
  check(cudaStreamSynchronize(stream), "kernel");
  if (bytes > 0) std::memcpy(host, region, bytes);
  stagingUsed_ = 0;  // the stream is idle: every staged copy has completed
}

bool probe(std::string& description) {
  int count = 0;
  const cudaError_t st = cudaGetDeviceCount(&count);
  if (st != cudaSuccess) {
    description = std::string("no usable CUDA driver or device (") + cudaGetErrorString(st) + ")";
    return false;
  }
  if (count == 0) {
    description = "no CUDA device";
    return false;
  }
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess) {
    description = "cannot read the properties of CUDA device 0";
    return false;
  }
  char line[512];
  std::snprintf(line, sizeof line, "%s, compute capability %d.%d, %d SMs, %.0f MiB", prop.name, prop.major,
                prop.minor, prop.multiProcessorCount, static_cast<double>(prop.totalGlobalMem) / (1024.0 * 1024.0));
  description = line;
  return true;
}

Context& context() {
  static Context* ctx = [] {
    std::string why;
    if (!probe(why)) throw std::runtime_error(why);
    auto* c = new Context();  // lives for the process: its device memory goes with it
    check(cudaSetDevice(0), "cudaSetDevice");
    check(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking), "cudaStreamCreate");
    check(cudaStreamCreateWithFlags(&c->aux, cudaStreamNonBlocking), "cudaStreamCreate");
    for (cudaEvent_t* e : {&c->mainReady, &c->bandDone, &c->auxDone}) {
      check(cudaEventCreateWithFlags(e, cudaEventDisableTiming), "cudaEventCreate");
    }
    return c;
  }();
  return *ctx;
}

}  // namespace cuda
}  // namespace r3mes
