// GPU benchmarks, measured side by side in one run and written as one JSON object:
//   - HBM read bandwidth (a streaming read kernel) and the ternary matrix-vector product over
//     2-bit packed weights, and cuBLAS bf16 at the same shape;
//   - the ternary matrix product (cuBLAS int8 tensor cores, int32 sums, then the float scale)
//     and the dp4a kernel, against cuBLAS bf16 at the same shape, with the result checked bit
//     for bit against the CPU backend.
// cuBLAS bf16 appears here only as the yardstick; no result of the backend comes from it.
#include <cuda_bf16.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "../kernel_table.h"
#include "backend.h"
#include "blas.h"
#include "context.h"

namespace r3mes {
namespace cuda {

namespace {

__device__ uint32_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  x ^= x >> 33;
  return static_cast<uint32_t>(x);
}

__global__ void fillTernary(int8_t* w, int64_t count, uint64_t seed) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    w[i] = static_cast<int8_t>(static_cast<int>(mix(seed + i) % 3u) - 1);
  }
}

__global__ void fillInt8(int8_t* q, int64_t count, uint64_t seed) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    q[i] = static_cast<int8_t>(static_cast<int>(mix(seed + i) % 255u) - 127);
  }
}

__global__ void toBf16(__nv_bfloat16* out, const int8_t* in, int64_t count) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    out[i] = __float2bfloat16(static_cast<float>(in[i]));
  }
}

/** Reads every 16-byte vector once; the xor goes to one word per block so nothing is optimized away. */
__global__ void streamReadKernel(const uint4* data, int64_t vecs, uint32_t* sink) {
  uint32_t h = 0;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < vecs;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const uint4 v = __ldcs(data + i);
    h ^= v.x ^ v.y ^ v.z ^ v.w;
  }
  if (h == 0x9e3779b9u) sink[blockIdx.x] = h;
}

/** Median seconds of `reps` timed runs of `body` after `warm` untimed ones. */
double timeIt(cudaStream_t stream, int warm, int reps, const std::function<void()>& body) {
  for (int i = 0; i < warm; i++) body();
  cudaEvent_t a;
  cudaEvent_t b;
  check(cudaEventCreate(&a), "cudaEventCreate");
  check(cudaEventCreate(&b), "cudaEventCreate");
  std::vector<double> times;
  for (int i = 0; i < reps; i++) {
    check(cudaEventRecord(a, stream), "cudaEventRecord");
    body();
    check(cudaEventRecord(b, stream), "cudaEventRecord");
    check(cudaEventSynchronize(b), "cudaEventSynchronize");
    float ms = 0;
    check(cudaEventElapsedTime(&ms, a, b), "cudaEventElapsedTime");
    times.push_back(ms / 1e3);
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

struct DeviceArray {
  void* ptr = nullptr;
  explicit DeviceArray(size_t bytes) { check(cudaMalloc(&ptr, bytes < 256 ? 256 : bytes), "cudaMalloc"); }
  ~DeviceArray() { cudaFree(ptr); }
  template <typename T>
  T* as() const {
    return static_cast<T*>(ptr);
  }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
};

constexpr unsigned kFillBlocks = 4096;

/** cuBLAS bf16 GEMM out[t, n] = x[t, k]·W[n, k]ᵀ (fp32 accumulation, bf16 result). */
void bf16Gemm(blas::Handle h, __nv_bfloat16* out, const __nv_bfloat16* x, const __nv_bfloat16* w, int64_t t,
              int64_t k, int64_t n) {
  const float one = 1.0f;
  const float zero = 0.0f;
  const blas::Status st = blas::gemmEx(h, blas::OpT, blas::OpN, static_cast<int>(n), static_cast<int>(t),
                                       static_cast<int>(k), &one, w, CUDA_R_16BF, static_cast<int>(k), x, CUDA_R_16BF,
                                       static_cast<int>(k), &zero, out, CUDA_R_16BF, static_cast<int>(n),
                                       blas::Compute32F, blas::kGemmDefault);
  if (st != 0) throw std::runtime_error("cuBLAS bf16 GEMM failed with status " + std::to_string(st));
}

std::string bench(const R3mesKernelTable* cpu, bool quick) {
  Context& c = context();
  std::lock_guard<std::mutex> lock(c.mutex);
  cudaDeviceProp prop{};
  check(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
  char buf[4096];
  std::string json = "{";
  auto add = [&](const char* fmt, auto... args) {
    std::snprintf(buf, sizeof buf, fmt, args...);
    json += buf;
  };
  std::string blasWhy;
  if (!blas::available(&blasWhy)) throw std::runtime_error("the benchmarks need cuBLAS: " + blasWhy);
  const blas::Handle h = blas::handle(c.stream);
  if (h == nullptr) throw std::runtime_error("cuBLAS did not start");
  add("\"device\":\"%s\",\"sms\":%d,\"cublas\":\"%s\"", prop.name, prop.multiProcessorCount, blasWhy.c_str());

  // --- HBM bandwidth: a read of a buffer far larger than L2.
  {
    const int64_t bytes = quick ? (int64_t{256} << 20) : (int64_t{2} << 30);
    DeviceArray data(bytes);
    DeviceArray sink(1 << 20);
    check(cudaMemsetAsync(data.ptr, 1, bytes, c.stream), "cudaMemset");
    const unsigned blocks = static_cast<unsigned>(prop.multiProcessorCount) * 8;
    const double s = timeIt(c.stream, 3, 20, [&] {
      streamReadKernel<<<blocks, 512, 0, c.stream>>>(data.as<uint4>(), bytes / 16, sink.as<uint32_t>());
    });
    checkLaunch("stream read");
    add(",\"hbmRead\":{\"bytes\":%lld,\"seconds\":%.9f,\"bytesPerSecond\":%.6g}", static_cast<long long>(bytes), s,
        bytes / s);
  }
  double hbmBytesPerSecond = 0;
  {
    // Parse back the figure just written (keeps one source of truth for the ratio).
    const char* p = std::strstr(json.c_str(), "\"hbmRead\":{");
    const char* b = std::strstr(p, "bytesPerSecond\":");
    hbmBytesPerSecond = std::atof(b + 16);
  }

  // --- Ternary matrix-vector product: packed 2-bit weights, device-resident.
  {
    const int64_t n = quick ? 8192 : 16384;
    const int64_t k = quick ? 8192 : 16384;
    DeviceArray w(n * k);
    DeviceArray q(k);
    DeviceArray inv(sizeof(float));
    DeviceArray packed(n * packedWordsPerRow(k) * 4);
    DeviceArray out(n * 4);
    fillTernary<<<kFillBlocks, 256, 0, c.stream>>>(w.as<int8_t>(), n * k, 1);
    fillInt8<<<kFillBlocks, 256, 0, c.stream>>>(q.as<int8_t>(), k, 2);
    const float invScale = 0x1.0p-7f * 1.5f;
    const double gamma = 0.73;
    check(cudaMemcpyAsync(inv.ptr, &invScale, 4, cudaMemcpyHostToDevice, c.stream), "copy");
    packTernaryDevice(packed.as<uint32_t>(), w.as<int8_t>(), n, k);
    const double s = timeIt(c.stream, 3, 20, [&] {
      ternaryMatvecPackedDevice(out.as<float>(), q.as<int8_t>(), inv.as<float>(), packed.as<uint32_t>(), gamma, k, n);
    });
    // Bit check against the CPU backend.
    std::vector<int8_t> hw(static_cast<size_t>(n * k));
    std::vector<int8_t> hq(static_cast<size_t>(k));
    std::vector<float> gpu(static_cast<size_t>(n));
    std::vector<float> ref(static_cast<size_t>(n));
    check(cudaMemcpyAsync(hw.data(), w.ptr, n * k, cudaMemcpyDeviceToHost, c.stream), "copy");
    check(cudaMemcpyAsync(hq.data(), q.ptr, k, cudaMemcpyDeviceToHost, c.stream), "copy");
    check(cudaMemcpyAsync(gpu.data(), out.ptr, n * 4, cudaMemcpyDeviceToHost, c.stream), "copy");
    check(cudaStreamSynchronize(c.stream), "sync");
    cpu->ternaryMatmul(ref.data(), hq.data(), &invScale, hw.data(), gamma, 1, k, n);
    const bool exact = std::memcmp(ref.data(), gpu.data(), static_cast<size_t>(n) * 4) == 0;
    const double packedBytes = static_cast<double>(n * packedWordsPerRow(k) * 4);

    // cuBLAS bf16 at the same shape (weights 2 bytes each).
    DeviceArray wb(n * k * 2);
    DeviceArray xb(k * 2);
    DeviceArray yb(n * 2);
    toBf16<<<kFillBlocks, 256, 0, c.stream>>>(wb.as<__nv_bfloat16>(), w.as<int8_t>(), n * k);
    toBf16<<<kFillBlocks, 256, 0, c.stream>>>(xb.as<__nv_bfloat16>(), q.as<int8_t>(), k);
    const double sb = timeIt(c.stream, 3, 20, [&] {
      bf16Gemm(h, yb.as<__nv_bfloat16>(), xb.as<__nv_bfloat16>(), wb.as<__nv_bfloat16>(), 1, k, n);
    });
    add(",\"ternaryMatvec\":{\"n\":%lld,\"k\":%lld,\"seconds\":%.9f,\"weightsPerSecond\":%.6g,"
        "\"packedBytesPerSecond\":%.6g,\"vsHbmRead\":%.4f,\"bf16Seconds\":%.9f,\"bf16BytesPerSecond\":%.6g,"
        "\"speedupVsBf16\":%.4f,\"bitExactWithCpu\":%s}",
        static_cast<long long>(n), static_cast<long long>(k), s, static_cast<double>(n * k) / s, packedBytes / s,
        packedBytes / s / hbmBytesPerSecond, sb, static_cast<double>(n * k * 2) / sb, sb / s,
        exact ? "true" : "false");
  }

  // --- Ternary matrix product at 4096³ (quick: 1024³).
  {
    const int64_t d = quick ? 1024 : 4096;
    DeviceArray q(d * d);
    DeviceArray w(d * d);
    DeviceArray inv(d * 4);
    DeviceArray acc(d * d * 4);
    DeviceArray out(d * d * 4);
    fillInt8<<<kFillBlocks, 256, 0, c.stream>>>(q.as<int8_t>(), d * d, 3);
    fillTernary<<<kFillBlocks, 256, 0, c.stream>>>(w.as<int8_t>(), d * d, 4);
    std::vector<float> hinv(static_cast<size_t>(d));
    for (int64_t r = 0; r < d; r++) hinv[r] = 1.0f / (100.0f + static_cast<float>(r % 27));
    check(cudaMemcpyAsync(inv.ptr, hinv.data(), d * 4, cudaMemcpyHostToDevice, c.stream), "copy");
    const double gamma = 0.61;
    const double s = timeIt(c.stream, 3, 10, [&] {
      ternaryMatmulDevice(out.as<float>(), acc.as<int32_t>(), q.as<int8_t>(), inv.as<float>(), w.as<int8_t>(), gamma,
                          d, d, d);
    });
    std::vector<float> gpu(static_cast<size_t>(d * d));
    check(cudaMemcpyAsync(gpu.data(), out.ptr, d * d * 4, cudaMemcpyDeviceToHost, c.stream), "copy");
    // The same product in bands of 1024 rows, the scale of each band overlapping the next band's sums.
    const double sBanded = timeIt(c.stream, 3, 10, [&] {
      ternaryMatmulDevice(out.as<float>(), acc.as<int32_t>(), q.as<int8_t>(), inv.as<float>(), w.as<int8_t>(), gamma,
                          d, d, d, 1024);
    });
    std::vector<float> gpuBanded(static_cast<size_t>(d * d));
    check(cudaMemcpyAsync(gpuBanded.data(), out.ptr, d * d * 4, cudaMemcpyDeviceToHost, c.stream), "copy");
    // The integer product alone (no float scale), to show where the time goes.
    const double sInt = timeIt(c.stream, 1, 10, [&] {
      ternaryAccumulateDevice(acc.as<int32_t>(), q.as<int8_t>(), w.as<int8_t>(), d, d, d);
    });
    const double sdp = timeIt(c.stream, 1, 5, [&] {
      ternaryAccumulateDp4aDevice(acc.as<int32_t>(), q.as<int8_t>(), w.as<int8_t>(), d, d, d);
      ternaryScaleDevice(out.as<float>(), acc.as<int32_t>(), inv.as<float>(), gamma, d, d);
    });
    std::vector<float> gpuDp4a(static_cast<size_t>(d * d));
    check(cudaMemcpyAsync(gpuDp4a.data(), out.ptr, d * d * 4, cudaMemcpyDeviceToHost, c.stream), "copy");
    std::vector<int8_t> hq(static_cast<size_t>(d * d));
    std::vector<int8_t> hw(static_cast<size_t>(d * d));
    check(cudaMemcpyAsync(hq.data(), q.ptr, d * d, cudaMemcpyDeviceToHost, c.stream), "copy");
    check(cudaMemcpyAsync(hw.data(), w.ptr, d * d, cudaMemcpyDeviceToHost, c.stream), "copy");
    check(cudaStreamSynchronize(c.stream), "sync");
    std::vector<float> ref(static_cast<size_t>(d * d));
    const auto t0 = std::chrono::steady_clock::now();
    cpu->ternaryMatmul(ref.data(), hq.data(), hinv.data(), hw.data(), gamma, d, d, d);
    const double cpuSeconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const bool exact = std::memcmp(ref.data(), gpu.data(), gpu.size() * 4) == 0;
    const bool exactDp4a = std::memcmp(ref.data(), gpuDp4a.data(), gpu.size() * 4) == 0;
    const bool exactBanded = std::memcmp(ref.data(), gpuBanded.data(), gpu.size() * 4) == 0;

    DeviceArray qb(d * d * 2);
    DeviceArray wb(d * d * 2);
    DeviceArray ob(d * d * 2);
    toBf16<<<kFillBlocks, 256, 0, c.stream>>>(qb.as<__nv_bfloat16>(), q.as<int8_t>(), d * d);
    toBf16<<<kFillBlocks, 256, 0, c.stream>>>(wb.as<__nv_bfloat16>(), w.as<int8_t>(), d * d);
    const double sb = timeIt(c.stream, 3, 10, [&] {
      bf16Gemm(h, ob.as<__nv_bfloat16>(), qb.as<__nv_bfloat16>(), wb.as<__nv_bfloat16>(), d, d, d);
    });
    const double ops = 2.0 * static_cast<double>(d) * static_cast<double>(d) * static_cast<double>(d);
    const long long dd = static_cast<long long>(d);
    add(",\"ternaryMatmul\":{\"m\":%lld,\"k\":%lld,\"n\":%lld,\"seconds\":%.9f,\"opsPerSecond\":%.6g,"
        "\"bandedSeconds\":%.9f,\"bandedBitExactWithCpu\":%s,\"integerProductSeconds\":%.9f,"
        "\"dp4aSeconds\":%.9f,\"bf16Seconds\":%.9f,\"bf16FlopsPerSecond\":%.6g,\"speedupVsBf16\":%.4f,"
        "\"bitExactWithCpu\":%s,\"dp4aBitExactWithCpu\":%s,\"cpuSeconds\":%.4f}",
        dd, dd, dd, s, ops / s, sBanded, exactBanded ? "true" : "false", sInt, sdp, sb, ops / sb, sb / s,
        exact ? "true" : "false", exactDp4a ? "true" : "false", cpuSeconds);
  }
  json += "}";
  return json;
}

}  // namespace

}  // namespace cuda
}  // namespace r3mes

extern "C" __attribute__((visibility("default"))) int r3mes_cuda_bench(const R3mesKernelTable* cpu, char* json,
                                                                       int jsonBytes, int quick) {
  try {
    const std::string out = r3mes::cuda::bench(cpu, quick != 0);
    std::snprintf(json, static_cast<size_t>(jsonBytes), "%s", out.c_str());
    return 0;
  } catch (const std::exception& e) {
    std::snprintf(json, static_cast<size_t>(jsonBytes), "%s", e.what());
    return 1;
  }
}
