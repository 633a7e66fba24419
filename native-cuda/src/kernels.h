// The CPU backend's compute API: every kernel of the contract (src/ml/kernels/contract.ts) as a
// plain C++ function over raw pointers. No Node-API here: the binding layer (binding/addon.cpp)
// checks arguments on the JS thread and then calls these, synchronously or from a worker
// thread. A CUDA backend can sit beside this file with the same signatures and the same
// canonical order.
//
// Canonical order (the contract's rule, restated for C++ readers): every float32 sum is a left
// fold acc = 0; acc = acc + term_i for increasing i, each term rounded to float32 before it is
// added; SIMD lanes and threads split *different outputs*, never the terms of one output.
// Scalars that the TypeScript API passes as JS numbers (double) stay double here, because the
// reference computes `Math.fround(float32 op double)`, i.e. the double op rounded to float32.
//
// Preconditions (checked by the binding): every pointer covers the extent its dimensions name,
// outputs do not overlap inputs except where noted (elementwise kernels allow out == a).
#pragma once

#include <cstdint>

namespace r3mes {
namespace cpu {

/** Instruction-set level of the float and integer inner loops. */
enum class Isa : int { Scalar = 0, Avx2 = 1, Avx512 = 2 };

/** Best level this CPU (and OS) supports. */
Isa detectIsa();
/** Level in use; `setIsa` clamps to what the CPU supports and returns the level set. */
Isa currentIsa();
Isa setIsa(Isa isa);
const char* isaName(Isa isa);

/** Worker threads per kernel call (process-wide; at least 1). */
int threadCount();
void setThreadCount(int n);

void matmulNT(float* out, const float* a, const float* b, int64_t m, int64_t k, int64_t n);
void matmulNN(float* out, const float* a, const float* b, int64_t m, int64_t k, int64_t n);
void matmulTN(float* out, const float* a, const float* b, int64_t k, int64_t m, int64_t n);

void quantizeRows(int8_t* q, float* invScale, const float* x, int64_t rows, int64_t cols);
/** Integer sums are exact int32 (the binding limits k so that |Σ q·w| < 2^31). */
void ternaryMatmul(float* out, const int8_t* q, const float* invScale, const int8_t* w, double gamma, int64_t t,
                   int64_t k, int64_t n);
void ternaryMatmulT(float* out, const float* dy, const int8_t* w, double gamma, int64_t t, int64_t k, int64_t n);

void rmsnormForward(float* y, float* invRms, const float* x, const float* g, int64_t rows, int64_t cols, double eps);
/** `dg` may be null (frozen gains). */
void rmsnormBackward(float* dx, float* dg, const float* x, const float* g, const float* invRms, const float* dy,
                     int64_t rows, int64_t cols);

void rope(float* x, const float* cos, const float* sin, int64_t t, int64_t heads, int64_t headDim, bool inverse);

void attentionForward(float* out, float* probs, const float* q, const float* k, const float* v, int64_t t,
                      int64_t heads, int64_t headDim, double scale);
void attentionBackward(float* dq, float* dk, float* dv, const float* dout, const float* probs, const float* q,
                       const float* k, const float* v, int64_t t, int64_t heads, int64_t headDim, double scale);

void relu2Forward(float* y, const float* x, int64_t n);
void relu2Backward(float* dx, const float* x, const float* dy, int64_t n);
/** out may alias a or b. */
void addScaled(float* out, const float* a, const float* b, double scale, int64_t n);

/** Requires every target < vocab. Returns the mean loss as float32. */
float crossEntropy(float* dlogits, const float* logits, const int32_t* targets, int64_t t, int64_t vocab);

void adamw(float* p, float* m, float* v, const float* g, int64_t n, double lr, double beta1, double beta2, double eps,
           double weightDecay, double bc1, double bc2);

void weightedSum(float* out, const float* const* grads, const float* coef, int64_t count, int64_t n);

/** Elementwise fmath, for tests: op 0 = expf, 1 = logf, 2 = rsqrtf, 3 = roundHalfAway. */
void fmathMap(float* out, const float* x, int64_t n, int op);

/** Bench helper: reads `bytes` bytes once, with every thread, as fast as the CPU streams them. */
uint64_t streamRead(const uint8_t* data, int64_t bytes);

}  // namespace cpu
}  // namespace r3mes

struct R3mesKernelTable;

namespace r3mes {
namespace cpu {

/** These kernels as a kernel table (kernel_table.h; cpu/table.cpp). */
const R3mesKernelTable* kernelTable();

}  // namespace cpu
}  // namespace r3mes
