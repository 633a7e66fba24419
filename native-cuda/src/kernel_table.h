// The kernel contract as a plain C table of function pointers, one per kernel of kernels.h.
// The Node-API layer calls a backend only through such a table: the `cpu` table points at the
// functions of cpu/dispatch.cpp, the `cuda` table comes from the separately built CUDA library
// (build/libr3mes_cuda.so), which the addon opens at run time. So the addon builds, loads and
// runs without CUDA, and a machine with a GPU gains the `cuda` backend by building one more file.
//
// Every function has the signature and the preconditions of its kernels.h counterpart; a
// failure (e.g. a CUDA error) is thrown as a std::exception, which the binding turns into a
// JS error.
#pragma once

#include <cstdint>

extern "C" {

/** Bump when the table changes: the addon refuses a CUDA library of another version. */
#define R3MES_KERNEL_TABLE_VERSION 1

struct R3mesKernelTable {
  int version;
  void (*matmulNT)(float* out, const float* a, const float* b, int64_t m, int64_t k, int64_t n);
  void (*matmulNN)(float* out, const float* a, const float* b, int64_t m, int64_t k, int64_t n);
  void (*matmulTN)(float* out, const float* a, const float* b, int64_t k, int64_t m, int64_t n);
  void (*quantizeRows)(int8_t* q, float* invScale, const float* x, int64_t rows, int64_t cols);
  void (*ternaryMatmul)(float* out, const int8_t* q, const float* invScale, const int8_t* w, double gamma, int64_t t,
                        int64_t k, int64_t n);
  void (*ternaryMatmulT)(float* out, const float* dy, const int8_t* w, double gamma, int64_t t, int64_t k, int64_t n);
  void (*rmsnormForward)(float* y, float* invRms, const float* x, const float* g, int64_t rows, int64_t cols,
                         double eps);
  void (*rmsnormBackward)(float* dx, float* dg, const float* x, const float* g, const float* invRms, const float* dy,
                          int64_t rows, int64_t cols);
  void (*rope)(float* x, const float* cos, const float* sin, int64_t t, int64_t heads, int64_t headDim, bool inverse);
  void (*attentionForward)(float* out, float* probs, const float* q, const float* k, const float* v, int64_t t,
                           int64_t heads, int64_t headDim, double scale);
  void (*attentionBackward)(float* dq, float* dk, float* dv, const float* dout, const float* probs, const float* q,
                            const float* k, const float* v, int64_t t, int64_t heads, int64_t headDim, double scale);
  void (*relu2Forward)(float* y, const float* x, int64_t n);
  void (*relu2Backward)(float* dx, const float* x, const float* dy, int64_t n);
  void (*addScaled)(float* out, const float* a, const float* b, double scale, int64_t n);
  float (*crossEntropy)(float* dlogits, const float* logits, const int32_t* targets, int64_t t, int64_t vocab);
  void (*adamw)(float* p, float* m, float* v, const float* g, int64_t n, double lr, double beta1, double beta2,
                double eps, double weightDecay, double bc1, double bc2);
  void (*weightedSum)(float* out, const float* const* grads, const float* coef, int64_t count, int64_t n);
  void (*fmathMap)(float* out, const float* x, int64_t n, int op);
};

/**
 * The CUDA library's entry point (looked up with dlsym): fills `reason` (NUL-terminated, at most
 * `reasonBytes`) and returns null when no usable GPU is present; else returns the table and
 * writes a one-line description of the device into `reason`.
 */
typedef const R3mesKernelTable* (*R3mesCudaOpenFn)(char* reason, int reasonBytes);

/**
 * The CUDA library's benchmark (dlsym "r3mes_cuda_bench"): runs the GPU benchmarks, checks the
 * ternary products bit for bit against the `cpu` table, and writes
 * one JSON object into `json` (at most `jsonBytes`); returns 0 on success, else writes an error
 * message instead.
 */
typedef int (*R3mesCudaBenchFn)(const R3mesKernelTable* cpu, char* json, int jsonBytes, int quick);
}
