// See blas.h.
#include <dlfcn.h>

#include <cstdlib>
#include <mutex>

#include "blas.h"

namespace r3mes {
namespace cuda {
namespace blas {

namespace {

using CreateFn = Status (*)(Handle*);
using SetStreamFn = Status (*)(Handle, void*);
using GemmExFn = Status (*)(Handle, int, int, int, int, int, const void*, const void*, cudaDataType, int, const void*,
                            cudaDataType, int, const void*, void*, cudaDataType, int, int, int);

struct Library {
  void* lib = nullptr;
  CreateFn create = nullptr;
  SetStreamFn setStream = nullptr;
  GemmExFn gemmEx = nullptr;
  Handle handle = nullptr;
  std::string why;
};

Library& library() {
  static Library l = [] {
    Library out;
    // R3MES_CUBLAS names the library file where it is not on the loader's path.
    const char* env = std::getenv("R3MES_CUBLAS");
    const char* names[] = {env != nullptr ? env : "libcublas.so.13", "libcublas.so.13", "libcublas.so.12",
                           "libcublas.so"};
    for (const char* name : names) {
      out.lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
      if (out.lib != nullptr) {
        out.why = name;
        break;
      }
    }
    if (out.lib == nullptr) {
      out.why = "libcublas not found";
      return out;
    }
    out.create = reinterpret_cast<CreateFn>(dlsym(out.lib, "cublasCreate_v2"));
    out.setStream = reinterpret_cast<SetStreamFn>(dlsym(out.lib, "cublasSetStream_v2"));
    out.gemmEx = reinterpret_cast<GemmExFn>(dlsym(out.lib, "cublasGemmEx"));
    if (out.create == nullptr || out.setStream == nullptr || out.gemmEx == nullptr) {
      out.why += " lacks cublasCreate_v2, cublasSetStream_v2 or cublasGemmEx";
      out.gemmEx = nullptr;
    }
    return out;
  }();
  return l;
}

}  // namespace

bool available(std::string* why) {
  Library& l = library();
  if (why != nullptr) *why = l.why;
  return l.gemmEx != nullptr;
}

Handle handle(void* stream) {
  static std::mutex mutex;
  std::lock_guard<std::mutex> lock(mutex);
  Library& l = library();
  if (l.gemmEx == nullptr) return nullptr;
  if (l.handle == nullptr) {
    if (l.create(&l.handle) != 0) {
      l.handle = nullptr;
      l.gemmEx = nullptr;
      l.why += ": cublasCreate failed";
      return nullptr;
    }
    l.setStream(l.handle, stream);
  }
  return l.handle;
}

Status gemmEx(Handle h, Op transa, Op transb, int m, int n, int k, const void* alpha, const void* A,
              cudaDataType Atype, int lda, const void* B, cudaDataType Btype, int ldb, const void* beta, void* C,
              cudaDataType Ctype, int ldc, ComputeType computeType, int algo) {
  return library().gemmEx(h, transa, transb, m, n, k, alpha, A, Atype, lda, B, Btype, ldb, beta, C, Ctype, ldc,
                          computeType, algo);
}

}  // namespace blas
}  // namespace cuda
}  // namespace r3mes
