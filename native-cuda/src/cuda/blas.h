// cuBLAS, opened at run time: the CUDA backend uses it for int8 GEMMs (exact int32 sums) and the
// benchmarks for the bf16 yardstick. Opening it with dlopen keeps the build free of cuBLAS
// headers and libraries (a machine with nvcc but no cuBLAS still builds the backend), and a
// machine without libcublas still runs every kernel, on the dp4a path.
//
// The few declarations below mirror cublas_api.h (cuBLAS 12 and 13 share them).
#pragma once

#include <library_types.h>

#include <string>

namespace r3mes {
namespace cuda {
namespace blas {

using Handle = struct cublasContext*;
using Status = int;  // CUBLAS_STATUS_SUCCESS = 0
enum Op : int { OpN = 0, OpT = 1 };
enum ComputeType : int { Compute32F = 68, Compute32I = 72 };
constexpr int kGemmDefault = -1;

/** Whether cuBLAS could be opened; `why` says which library was used or why none was. */
bool available(std::string* why = nullptr);
/** A handle bound to `stream`, created on first use; null when cuBLAS is not available. */
Handle handle(void* stream);

Status gemmEx(Handle h, Op transa, Op transb, int m, int n, int k, const void* alpha, const void* A,
              cudaDataType Atype, int lda, const void* B, cudaDataType Btype, int ldb, const void* beta, void* C,
              cudaDataType Ctype, int ldc, ComputeType computeType, int algo);

}  // namespace blas
}  // namespace cuda
}  // namespace r3mes
