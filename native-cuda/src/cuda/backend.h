// The CUDA backend's kernels: the same functions, signatures and bits as ../kernels.h (the CPU
// backend), taking host arrays. Each call copies its inputs to the GPU, runs there and copies
// the outputs back; the canonical order of every float32 reduction is the contract's left
// fold, one thread per output (threads split outputs, never the terms of one output), and
// the library is built with --fmad=false, IEEE division, square root and denormals.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace r3mes {
namespace cuda {

void matmulNT(float* out, const float* a, const float* b, int64_t m, int64_t k, int64_t n);
void matmulNN(float* out, const float* a, const float* b, int64_t m, int64_t k, int64_t n);
void matmulTN(float* out, const float* a, const float* b, int64_t k, int64_t m, int64_t n);

void quantizeRows(int8_t* q, float* invScale, const float* x, int64_t rows, int64_t cols);
void ternaryMatmul(float* out, const int8_t* q, const float* invScale, const int8_t* w, double gamma, int64_t t,
                   int64_t k, int64_t n);
void ternaryMatmulT(float* out, const float* dy, const int8_t* w, double gamma, int64_t t, int64_t k, int64_t n);

void rmsnormForward(float* y, float* invRms, const float* x, const float* g, int64_t rows, int64_t cols, double eps);
void rmsnormBackward(float* dx, float* dg, const float* x, const float* g, const float* invRms, const float* dy,
                     int64_t rows, int64_t cols);
void rope(float* x, const float* cos, const float* sin, int64_t t, int64_t heads, int64_t headDim, bool inverse);
void attentionForward(float* out, float* probs, const float* q, const float* k, const float* v, int64_t t,
                      int64_t heads, int64_t headDim, double scale);
void attentionBackward(float* dq, float* dk, float* dv, const float* dout, const float* probs, const float* q,
                       const float* k, const float* v, int64_t t, int64_t heads, int64_t headDim, double scale);
void relu2Forward(float* y, const float* x, int64_t n);
void relu2Backward(float* dx, const float* x, const float* dy, int64_t n);
void addScaled(float* out, const float* a, const float* b, double scale, int64_t n);
float crossEntropy(float* dlogits, const float* logits, const int32_t* targets, int64_t t, int64_t vocab);
void adamw(float* p, float* m, float* v, const float* g, int64_t n, double lr, double beta1, double beta2, double eps,
           double weightDecay, double bc1, double bc2);
void weightedSum(float* out, const float* const* grads, const float* coef, int64_t count, int64_t n);
void fmathMap(float* out, const float* x, int64_t n, int op);

// ---------------------------------------------------------------------------------------------
// Device-resident forms of the ternary product, used by ternaryMatmul and by the benchmarks
// (a miner keeps its frozen backbone on the GPU). All integer sums are exact.

/** int32 acc[t, n] = Σ_k q[t,k]·w[n,k] for device arrays; cuBLAS int8 tensor cores when the shape allows. */
void ternaryAccumulateDevice(int32_t* acc, const int8_t* q, const int8_t* w, int64_t t, int64_t k, int64_t n);
/** The same sums with the dp4a tile kernel only (any shape). */
void ternaryAccumulateDp4aDevice(int32_t* acc, const int8_t* q, const int8_t* w, int64_t t, int64_t k, int64_t n);
/**
 * out[r, j] = float(double(acc[r, j]) · double(float(gamma · invScale[r]))), as the reference
 * rounds it; on `stream` (default: the context's).
 */
void ternaryScaleDevice(float* out, const int32_t* acc, const float* invScale, double gamma, int64_t t, int64_t n,
                        cudaStream_t stream = nullptr);
/**
 * The whole BitLinear product on device arrays (acc is scratch of t·n int32): sums, then scale;
 * bandRows > 0 overlaps the scale of one band of rows with the sums of the next.
 */
void ternaryMatmulDevice(float* out, int32_t* acc, const int8_t* q, const float* invScale, const int8_t* w,
                         double gamma, int64_t t, int64_t k, int64_t n, int64_t bandRows = 0);

/** Words of 2-bit codes per packed row: k rounded up to 16 weights per uint32. */
#ifdef __CUDACC__
__host__ __device__
#endif
inline int64_t packedWordsPerRow(int64_t k) {
  return (k + 15) / 16;
}
/**
 * Packs ternary w[n, k] (device) into 2-bit codes (w + 1) on the device: in word g of a row, byte b
 * holds weights 16g + 4b + s at bits 2s (s = 0..3), so (word >> 2s) & 0x03030303 gives four codes
 * at once, one per byte, ready for dp4a.
 */
void packTernaryDevice(uint32_t* packed, const int8_t* w, int64_t n, int64_t k);
/**
 * Matrix-vector product over packed weights, scaled: out[j] = the reference's rounding of
 * (Σ_k q[k]·w[j,k]) · float(gamma · invScale[0]), the exact int32 sum taken from the 2-bit
 * codes as Σ q·code − Σ q. Reads each packed byte once. k must be a multiple of 64.
 */
void ternaryMatvecPackedDevice(float* out, const int8_t* q, const float* invScale, const uint32_t* packed,
                               double gamma, int64_t k, int64_t n);

}  // namespace cuda
}  // namespace r3mes
