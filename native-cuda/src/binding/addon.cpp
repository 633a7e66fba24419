// Node-API binding of the native backends. Each kernel has three parts, as in llm.c and BitNet:
//   prepare  (JS thread): read and check the arguments, keep the typed arrays alive, and
//            capture raw pointers into a Job;
//   compute  (any thread): the pure C++ or CUDA kernel, called through a kernel table
//            (../kernel_table.h), no Node-API;
//   finish   (JS thread): return the result, or settle the promise.
// `name(...)` runs the job at once on the calling thread; `nameAsync(...)` runs it on the libuv
// thread pool and returns a promise (the caller must not touch the arrays until it settles).
//
// The JS wrapper (src/ml/kernels/native.ts) validates shapes first and throws typed errors;
// the checks here are a backstop so that no call can read or write outside its arrays.
// The module keeps no per-instance state, so it loads in any number of worker threads.
//
// Backends: the top-level functions run the CPU kernels (cpu/dispatch.cpp, linked in). The
// `cuda` object holds the same functions for the CUDA backend, a separate library
// (build/libr3mes_cuda.so, built by build-cuda.sh where nvcc exists) that is opened on first use
// and only if a GPU is present; `cudaStatus()` says whether it can run, and why not.
#define NAPI_VERSION 8
#define NAPI_CPP_EXCEPTIONS
#define NODE_ADDON_API_DISABLE_DEPRECATED
#include <napi.h>

#include <dlfcn.h>

#include <cmath>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <memory>
#include <string>
#include <vector>

#include "../cpu/parallel.h"
#include "../kernel_table.h"
#include "../kernels.h"

namespace {

namespace cpu = r3mes::cpu;

/** Bump when the exported functions change, so the JS side can refuse a stale build. */
constexpr int kAbiVersion = 2;

struct Job {
  std::vector<Napi::Reference<Napi::Value>> keep;
  std::function<void()> run;
  double result = 0;
  bool hasResult = false;
};

using Table = R3mesKernelTable;
using Prepare = std::unique_ptr<Job> (*)(const Napi::CallbackInfo&, bool keepAlive, const Table* kt);

// ---------------------------------------------------------------------------------------------
// The CUDA library, opened once per process beside this addon (or at R3MES_CUDA_LIB).

struct CudaLibrary {
  const Table* table = nullptr;
  R3mesCudaBenchFn bench = nullptr;
  std::string path;
  /** The device when table is set, else why the backend cannot run. */
  std::string detail;
};

std::string addonDirectory() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&addonDirectory), &info) == 0 || info.dli_fname == nullptr) return ".";
  const std::string self(info.dli_fname);
  const size_t slash = self.rfind('/');
  return slash == std::string::npos ? "." : self.substr(0, slash);
}

const CudaLibrary& cudaLibrary() {
  static std::once_flag once;
  static CudaLibrary lib;
  std::call_once(once, [] {
    const char* env = std::getenv("R3MES_CUDA_LIB");
    lib.path = env != nullptr ? env : addonDirectory() + "/libr3mes_cuda.so";
    void* handle = dlopen(lib.path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      const char* err = dlerror();
      lib.detail = "the CUDA library is not built (" + std::string(err != nullptr ? err : lib.path) +
                   "); run `npm run build:cuda` on a machine with nvcc";
      return;
    }
    auto open = reinterpret_cast<R3mesCudaOpenFn>(dlsym(handle, "r3mes_cuda_open"));
    lib.bench = reinterpret_cast<R3mesCudaBenchFn>(dlsym(handle, "r3mes_cuda_bench"));
    if (open == nullptr) {
      lib.detail = lib.path + " is not an r3mes CUDA library (no r3mes_cuda_open)";
      return;
    }
    char reason[512] = {};
    const Table* table = open(reason, sizeof reason);
    if (table == nullptr) {
      lib.detail = reason;
      return;
    }
    if (table->version != R3MES_KERNEL_TABLE_VERSION) {
      lib.detail = lib.path + " has kernel table version " + std::to_string(table->version) + ", this addon needs " +
                   std::to_string(R3MES_KERNEL_TABLE_VERSION) + ": rebuild it with `npm run build:cuda`";
      return;
    }
    lib.table = table;
    lib.detail = reason;
  });
  return lib;
}

[[noreturn]] void fail(Napi::Env env, const std::string& message) { throw Napi::RangeError::New(env, message); }

template <typename T>
struct View {
  T* data;
  int64_t length;
};

template <typename T>
View<T> typedArg(const Napi::CallbackInfo& info, size_t i, napi_typedarray_type want, const char* name, Job& job,
                 bool keepAlive) {
  Napi::Env env = info.Env();
  Napi::Value v = info[i];
  if (!v.IsTypedArray()) throw Napi::TypeError::New(env, std::string(name) + " must be a typed array");
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  napi_value buffer;
  size_t offset = 0;
  napi_status st = napi_get_typedarray_info(env, v, &type, &length, &data, &buffer, &offset);
  if (st != napi_ok) throw Napi::TypeError::New(env, std::string(name) + ": cannot read typed array");
  if (type != want) throw Napi::TypeError::New(env, std::string(name) + " has the wrong element type");
  if (keepAlive) job.keep.push_back(Napi::Persistent(v));
  return View<T>{static_cast<T*>(data), static_cast<int64_t>(length)};
}

View<float> f32(const Napi::CallbackInfo& info, size_t i, const char* name, Job& job, bool keepAlive) {
  return typedArg<float>(info, i, napi_float32_array, name, job, keepAlive);
}
View<int8_t> i8(const Napi::CallbackInfo& info, size_t i, const char* name, Job& job, bool keepAlive) {
  return typedArg<int8_t>(info, i, napi_int8_array, name, job, keepAlive);
}
View<uint8_t> u8(const Napi::CallbackInfo& info, size_t i, const char* name, Job& job, bool keepAlive) {
  return typedArg<uint8_t>(info, i, napi_uint8_array, name, job, keepAlive);
}
View<int32_t> i32(const Napi::CallbackInfo& info, size_t i, const char* name, Job& job, bool keepAlive) {
  return typedArg<int32_t>(info, i, napi_int32_array, name, job, keepAlive);
}

/** A dimension: an integer in [0, 2^31). */
int64_t dimArg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  Napi::Env env = info.Env();
  if (!info[i].IsNumber()) throw Napi::TypeError::New(env, std::string(name) + " must be a number");
  const double d = info[i].As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d < 2147483648.0) || std::floor(d) != d) fail(env, std::string(name) + " must be an integer ≥ 0");
  return static_cast<int64_t>(d);
}

double numArg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a number");
  return info[i].As<Napi::Number>().DoubleValue();
}

/** a·b (·c), failing instead of overflowing. */
int64_t mul(Napi::Env env, int64_t a, int64_t b, int64_t c = 1) {
  int64_t ab = 0;
  int64_t abc = 0;
  if (__builtin_mul_overflow(a, b, &ab) || __builtin_mul_overflow(ab, c, &abc) || abc > (int64_t{1} << 40)) {
    fail(env, "tensor too large");
  }
  return abc;
}

template <typename T>
void need(Napi::Env env, const View<T>& v, int64_t count, const char* name) {
  if (v.length < count) {
    fail(env, std::string(name) + " holds " + std::to_string(v.length) + " values, needs " + std::to_string(count));
  }
}

void argc(const Napi::CallbackInfo& info, size_t n) {
  if (info.Length() < n) throw Napi::TypeError::New(info.Env(), "expected " + std::to_string(n) + " arguments");
}

// ---------------------------------------------------------------------------------------------
// prepare: one function per kernel, arguments in the order of contract.ts.

std::unique_ptr<Job> prepMatmul(const Napi::CallbackInfo& info, bool keep, const Table* kt, int variant) {
  argc(info, 6);
  Napi::Env env = info.Env();
  auto job = std::make_unique<Job>();
  auto out = f32(info, 0, "out", *job, keep);
  auto a = f32(info, 1, "a", *job, keep);
  auto b = f32(info, 2, "b", *job, keep);
  const int64_t d0 = dimArg(info, 3, "dim0");
  const int64_t d1 = dimArg(info, 4, "dim1");
  const int64_t n = dimArg(info, 5, "n");
  // NT and NN take (m, k, n); TN takes (k, m, n).
  const int64_t m = variant == 2 ? d1 : d0;
  const int64_t k = variant == 2 ? d0 : d1;
  need(env, out, mul(env, m, n), "out");
  need(env, a, mul(env, m, k), "a");
  need(env, b, mul(env, k, n), "b");
  float* o = out.data;
  const float* pa = a.data;
  const float* pb = b.data;
  if (variant == 0) job->run = [=] { kt->matmulNT(o, pa, pb, m, k, n); };
  if (variant == 1) job->run = [=] { kt->matmulNN(o, pa, pb, m, k, n); };
  if (variant == 2) job->run = [=] { kt->matmulTN(o, pa, pb, k, m, n); };
  return job;
}
std::unique_ptr<Job> prepMatmulNT(const Napi::CallbackInfo& info, bool keep, const Table* kt) {
  return prepMatmul(info, keep, kt, 0);
}
std::unique_ptr<Job> prepMatmulNN(const Napi::CallbackInfo& info, bool keep, const Table* kt) {
  return prepMatmul(info, keep, kt, 1);
}
std::unique_ptr<Job> prepMatmulTN(const Napi::CallbackInfo& info, bool keep, const Table* kt) {
  return prepMatmul(info, keep, kt, 2);
}

std::unique_ptr<Job> prepQuantizeRows(const Napi::CallbackInfo& info, bool keep, const Table* kt) {
  argc(info, 5);
  Napi::Env env = info.Env();
  auto job = std::make_unique<Job>();
  auto q = i8(info, 0, "q", *job, keep);
  auto inv = f32(info, 1, "invScale", *job, keep);
  auto x = f32(info, 2, "x", *job, keep);
  const int64_t rows = dimArg(info, 3, "rows");
  const int64_t cols = dimArg(info, 4, "cols");
  need(env, q, mul(env, rows, cols), "q");
  need(env, inv, rows, "invScale");
  need(env, x, mul(env, rows, cols), "x");
  job->run = [=] { kt->quantizeRows(q.data, inv.data, x.data, rows, cols); };
  return job;
}

/** Largest k for which |Σ q·w| ≤ 128·128·k stays below 2^31 (exact int32 sums). */
constexpr int64_t kMaxTernaryK = 131071;

std::unique_ptr<Job> prepTernaryMatmul(const Napi::CallbackInfo& info, bool keep, const Table* kt) {
  argc(info, 8);
  Napi::Env env = info.Env();
  auto job = std::make_unique<Job>();
  auto out = f32(info, 0, "out", *job, keep);
  auto q = i8(info, 1, "q", *job, keep);
  auto inv = f32(info, 2, "invScale", *job, keep);
  auto w = i8(info, 3, "w", *job, keep);
  const double gamma = numArg(info, 4, "gamma");
  const int64_t t = dimArg(info, 5, "t");
  const int64_t k = dimArg(info, 6, "k");
  const int64_t n = dimArg(info, 7, "n");
  if (k > kMaxTernaryK) fail(env, "k exceeds the exact int32 range");
  need(env, out, mul(env, t, n), "out");
  need(env, q, mul(env, t, k), "q");
  need(env, inv, t, "invScale");
  need(env, w, mul(env, n, k), "w");
  job->run = [=] { kt->ternaryMatmul(out.data, q.data, inv.data, w.data, gamma, t, k, n); };
  return job;
}

std::unique_ptr<Job> prepTernaryMatmulT(const Napi::CallbackInfo& info, bool keep, const Table* kt) {
  argc(info, 7);
  Napi::Env env = info.Env();
  auto job = std::make_unique<Job>();
  auto out = f32(info, 0, "out", *job, keep);
  auto dy = f32(info, 1, "dy", *job, keep);
  auto w = i8(info, 2, "w", *job, keep);
  const double gamma = numArg(info, 3, "gamma");
  const int64_t t = dimArg(info, 4, "t");
  const int64_t k = dimArg(info, 5, "k");
  const int64_t n = dimArg(info, 6, "n");
  need(env, out, mul(env, t, k), "out");
  need(env, dy, mul(env, t, n), "dy");
  need(env, w, mul(env, n, k), "w");
  job->run = [=] { kt->ternaryMatmulT(out.data, dy.data, w.data, gamma, t, k, n); };
  return job;
}

std::unique_ptr<Job> prepRmsnormForward(const Napi::CallbackInfo& info, bool keep, const Table* kt) {
  argc(info, 7);
  Napi::Env env = info.Env();
  auto job = std::make_unique<Job>();
  auto y = f32(info, 0, "y", *job, keep);
  auto inv = f32(info, 1, "invRms", *job, keep);
  auto x = f32(info, 2, "x", *job, keep);
  auto g = f32(info, 3, "g", *job, keep);
  const int64_t rows = dimArg(info, 4, "rows");
  const int64_t cols = dimArg(info, 5, "cols");
  const double eps = numArg(info, 6, "eps");
  need(env, y, mul(env, rows, cols), "y");
  need(env, inv, rows, "invRms");
  need(env, x, mul(env, rows, cols), "x");
  need(env, g, cols, "g");
  job->run = [=] { kt->rmsnormForward(y.data, inv.data, x.data, g.data, rows, cols, eps); };
  return job;
}

std::unique_ptr<Job> prepRmsnormBackward(const Napi::CallbackInfo& info, bool keep, const Table* kt) {
  argc(info, 8);
  Napi::Env env = info.Env();
  auto job = std::make_unique<Job>();
  auto dx = f32(info, 0, "dx", *job, keep);
  float* dg = nullptr;
  const int64_t rows = dimArg(info, 6, "rows");
  const int64_t cols = dimArg(info, 7, "cols");
  if (!info[1].IsNull()) {
    auto dgv = f32(info, 1, "dg", *job, keep);
    need(env, dgv, cols, "dg");
    dg = dgv.data;
  }
  auto x = f32(info, 2, "x", *job, keep);
  auto g = f32(info, 3, "g", *job, keep);
  auto inv = f32(info, 4, "invRms", *job, keep);
  auto dy = f32(info, 5, "dy", *job, keep);
  need(env, dx, mul(env, rows, cols), "dx");
  need(env, x, mul(env, rows, cols), "x");
  need(env, g, cols, "g");
  need(env, inv, rows, "invRms");
  need(env, dy, mul(env, rows, cols), "dy");
  job->run = [=] { kt->rmsnormBackward(dx.data, dg, x.data, g.data, inv.data, dy.data, rows, cols); };
  return job;
}

std::unique_ptr<Job> prepRope(const Napi::CallbackInfo& info, bool keep, const Table* kt) {
  argc(info, 7);
  Napi::Env env = info.Env();
  auto job = std::make_unique<Job>();
  auto x = f32(info, 0, "x", *job, keep);
  auto c = f32(info, 1, "cos", *job, keep);
  auto s = f32(info, 2, "sin", *job, keep);
  const int64_t t = dimArg(info, 3, "t");
  const int64_t heads = dimArg(info, 4, "heads");
  const int64_t headDim = dimArg(info, 5, "headDim");
  if (headDim % 2 != 0) fail(env, "headDim must be even");
  const bool inverse = info[6].ToBoolean().Value();
  need(env, x, mul(env, t, heads, headDim), "x");
  need(env, c, mul(env, t, headDim / 2), "cos");
  need(env, s, mul(env, t, headDim / 2), "sin");
  job->run = [=] { kt->rope(x.data, c.data, s.data, t, heads, headDim, inverse); };
  return job;
}

std::unique_ptr<Job> prepAttentionForward(const Napi::CallbackInfo& info, bool keep, const Table* kt) {
  argc(info, 9);
  Napi::Env env = info.Env();
  auto job = std::make_unique<Job>();
  auto out = f32(info, 0, "out", *job, keep);
  auto probs = f32(info, 1, "probs", *job, keep);
  auto q = f32(info, 2, "q", *job, keep);
  auto k = f32(info, 3, "k", *job, keep);
  auto v = f32(info, 4, "v", *job, keep);
  const int64_t t = dimArg(info, 5, "t");
  const int64_t heads = dimArg(info, 6, "heads");
  const int64_t headDim = dimArg(info, 7, "headDim");
  const double scale = numArg(info, 8, "scale");
  const int64_t size = mul(env, t, heads, headDim);
  need(env, out, size, "out");
  need(env, probs, mul(env, heads, t, t), "probs");
  need(env, q, size, "q");
  need(env, k, size, "k");
  need(env, v, size, "v");
  job->run = [=] { kt->attentionForward(out.data, probs.data, q.data, k.data, v.data, t, heads, headDim, scale); };
  return job;
}

std::unique_ptr<Job> prepAttentionBackward(const Napi::CallbackInfo& info, bool keep, const Table* kt) {
  argc(info, 12);
  Napi::Env env = info.Env();
  auto job = std::make_unique<Job>();
  auto dq = f32(info, 0, "dq", *job, keep);
  auto dk = f32(info, 1, "dk", *job, keep);
  auto dv = f32(info, 2, "dv", *job, keep);
  auto dout = f32(info, 3, "dout", *job, keep);
  auto probs = f32(info, 4, "probs", *job, keep);
  auto q = f32(info, 5, "q", *job, keep);
  auto k = f32(info, 6, "k", *job, keep);
  auto v = f32(info, 7, "v", *job, keep);
  const int64_t t = dimArg(info, 8, "t");
  const int64_t heads = dimArg(info, 9, "heads");
  const int64_t headDim = dimArg(info, 10, "headDim");
  const double scale = numArg(info, 11, "scale");
  const int64_t size = mul(env, t, heads, headDim);
  need(env, dq, size, "dq");
  need(env, dk, size, "dk");
  need(env, dv, size, "dv");
  need(env, dout, size, "dout");
  need(env, probs, mul(env, heads, t, t), "probs");
  need(env, q, size, "q");
  need(env, k, size, "k");
  need(env, v, size, "v");
  job->run = [=] {
    kt->attentionBackward(dq.data, dk.data, dv.data, dout.data, probs.data, q.data, k.data, v.data, t, heads, headDim,
                           scale);
  };
  return job;
}

std::unique_ptr<Job> prepRelu2(const Napi::CallbackInfo& info, bool keep, const Table* kt, bool backward) {
  argc(info, backward ? 3 : 2);
  Napi::Env env = info.Env();
  auto job = std::make_unique<Job>();
  auto out = f32(info, 0, backward ? "dx" : "y", *job, keep);
  auto x = f32(info, 1, "x", *job, keep);
  need(env, out, x.length, backward ? "dx" : "y");
  if (backward) {
    auto dy = f32(info, 2, "dy", *job, keep);
    need(env, dy, x.length, "dy");
    job->run = [=] { kt->relu2Backward(out.data, x.data, dy.data, x.length); };
  } else {
    job->run = [=] { kt->relu2Forward(out.data, x.data, x.length); };
  }
  return job;
}
std::unique_ptr<Job> prepRelu2Forward(const Napi::CallbackInfo& info, bool keep, const Table* kt) {
  return prepRelu2(info, keep, kt, false);
}
std::unique_ptr<Job> prepRelu2Backward(const Napi::CallbackInfo& info, bool keep, const Table* kt) {
  return prepRelu2(info, keep, kt, true);
}

std::unique_ptr<Job> prepAddScaled(const Napi::CallbackInfo& info, bool keep, const Table* kt) {
  argc(info, 4);
  Napi::Env env = info.Env();
  auto job = std::make_unique<Job>();
  auto out = f32(info, 0, "out", *job, keep);
  auto a = f32(info, 1, "a", *job, keep);
  auto b = f32(info, 2, "b", *job, keep);
  const double scale = numArg(info, 3, "scale");
  need(env, a, out.length, "a");
  need(env, b, out.length, "b");
  job->run = [=] { kt->addScaled(out.data, a.data, b.data, scale, out.length); };
  return job;
}

std::unique_ptr<Job> prepCrossEntropy(const Napi::CallbackInfo& info, bool keep, const Table* kt) {
  argc(info, 5);
  Napi::Env env = info.Env();
  auto job = std::make_unique<Job>();
  auto dl = f32(info, 0, "dlogits", *job, keep);
  auto logits = f32(info, 1, "logits", *job, keep);
  auto targets = i32(info, 2, "targets", *job, keep);
  const int64_t t = dimArg(info, 3, "t");
  const int64_t vocab = dimArg(info, 4, "vocab");
  need(env, dl, mul(env, t, vocab), "dlogits");
  need(env, logits, mul(env, t, vocab), "logits");
  need(env, targets, t, "targets");
  for (int64_t r = 0; r < t; r++) {
    if (targets.data[r] < 0 || targets.data[r] >= vocab)
      fail(env, "target " + std::to_string(targets.data[r]) + " outside [0, vocab)");
  }
  Job* self = job.get();
  job->hasResult = true;
  job->run = [=] { self->result = kt->crossEntropy(dl.data, logits.data, targets.data, t, vocab); };
  return job;
}

std::unique_ptr<Job> prepAdamw(const Napi::CallbackInfo& info, bool keep, const Table* kt) {
  argc(info, 11);
  Napi::Env env = info.Env();
  auto job = std::make_unique<Job>();
  auto p = f32(info, 0, "p", *job, keep);
  auto m = f32(info, 1, "m", *job, keep);
  auto v = f32(info, 2, "v", *job, keep);
  auto g = f32(info, 3, "g", *job, keep);
  need(env, m, p.length, "m");
  need(env, v, p.length, "v");
  need(env, g, p.length, "g");
  double s[7];
  const char* names[7] = {"lr", "beta1", "beta2", "eps", "weightDecay", "bc1", "bc2"};
  for (int i = 0; i < 7; i++) s[i] = numArg(info, 4 + i, names[i]);
  job->run = [=] { kt->adamw(p.data, m.data, v.data, g.data, p.length, s[0], s[1], s[2], s[3], s[4], s[5], s[6]); };
  return job;
}

std::unique_ptr<Job> prepWeightedSum(const Napi::CallbackInfo& info, bool keep, const Table* kt) {
  argc(info, 3);
  Napi::Env env = info.Env();
  auto job = std::make_unique<Job>();
  auto out = f32(info, 0, "out", *job, keep);
  if (!info[1].IsArray()) throw Napi::TypeError::New(env, "grads must be an array");
  Napi::Array arr = info[1].As<Napi::Array>();
  auto coef = f32(info, 2, "coef", *job, keep);
  const uint32_t count = arr.Length();
  need(env, coef, count, "coef");
  auto ptrs = std::make_shared<std::vector<const float*>>();
  for (uint32_t i = 0; i < count; i++) {
    Napi::Value g = arr.Get(i);
    if (!g.IsTypedArray() || g.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
      throw Napi::TypeError::New(env, "grads[" + std::to_string(i) + "] must be a Float32Array");
    }
    Napi::Float32Array ga = g.As<Napi::Float32Array>();
    if (static_cast<int64_t>(ga.ElementLength()) < out.length) fail(env, "grads[" + std::to_string(i) + "] too short");
    if (keep) job->keep.push_back(Napi::Persistent(g));
    ptrs->push_back(ga.Data());
  }
  job->run = [=] { kt->weightedSum(out.data, ptrs->data(), coef.data, count, out.length); };
  return job;
}

std::unique_ptr<Job> prepFmathMap(const Napi::CallbackInfo& info, bool keep, const Table* kt) {
  argc(info, 3);
  Napi::Env env = info.Env();
  auto job = std::make_unique<Job>();
  auto out = f32(info, 0, "out", *job, keep);
  auto x = f32(info, 1, "x", *job, keep);
  const int64_t op = dimArg(info, 2, "op");
  need(env, out, x.length, "out");
  job->run = [=] { kt->fmathMap(out.data, x.data, x.length, static_cast<int>(op)); };
  return job;
}

std::unique_ptr<Job> prepStreamRead(const Napi::CallbackInfo& info, bool keep, const Table*) {
  argc(info, 1);
  auto job = std::make_unique<Job>();
  auto data = u8(info, 0, "data", *job, keep);
  Job* self = job.get();
  job->hasResult = true;
  job->run = [=] {
    self->result = static_cast<double>(cpu::streamRead(data.data, data.length) & 0xffffffffu);
  };
  return job;
}

// ---------------------------------------------------------------------------------------------
// Sync and async wrappers.

Napi::Value resultOf(Napi::Env env, const Job& job) {
  return job.hasResult ? Napi::Value(Napi::Number::New(env, job.result)) : env.Undefined();
}

/** The kernel table of a backend: the CPU's, or the CUDA library's (a JS error when it cannot run). */
template <bool Cuda>
const Table* tableOf(Napi::Env env) {
  if (!Cuda) return cpu::kernelTable();
  const CudaLibrary& lib = cudaLibrary();
  if (lib.table == nullptr) throw Napi::Error::New(env, "the cuda backend is not available: " + lib.detail);
  return lib.table;
}

template <Prepare P, bool Cuda>
Napi::Value runSync(const Napi::CallbackInfo& info) {
  std::unique_ptr<Job> job = P(info, false, tableOf<Cuda>(info.Env()));
  try {
    const cpu::IeeeFloatMode ieee;
    job->run();
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), std::string("native kernel failed: ") + e.what());
  }
  return resultOf(info.Env(), *job);
}

class KernelWorker : public Napi::AsyncWorker {
 public:
  KernelWorker(Napi::Env env, std::unique_ptr<Job> job)
      : Napi::AsyncWorker(env, "r3mes-kernel"), job_(std::move(job)), deferred_(Napi::Promise::Deferred::New(env)) {}

  void Execute() override {
    try {
      const cpu::IeeeFloatMode ieee;
      job_->run();
    } catch (const std::exception& e) {
      SetError(std::string("native kernel failed: ") + e.what());
    }
  }
  void OnOK() override { deferred_.Resolve(resultOf(Env(), *job_)); }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }
  Napi::Promise promise() { return deferred_.Promise(); }

 private:
  std::unique_ptr<Job> job_;
  Napi::Promise::Deferred deferred_;
};

template <Prepare P, bool Cuda>
Napi::Value runAsync(const Napi::CallbackInfo& info) {
  std::unique_ptr<Job> job = P(info, true, tableOf<Cuda>(info.Env()));
  auto* worker = new KernelWorker(info.Env(), std::move(job));
  Napi::Promise promise = worker->promise();
  worker->Queue();  // the worker deletes itself after it settles
  return promise;
}

/** Exports `name` and `nameAsync` for the CPU backend, and (a kernel of the contract) the same on `cudaExports`. */
template <Prepare P>
void exportKernel(Napi::Env env, Napi::Object exports, Napi::Object cudaExports, const char* name,
                  bool contractKernel = true) {
  const std::string asyncName = std::string(name) + "Async";
  exports.Set(name, Napi::Function::New(env, runSync<P, false>, name));
  exports.Set(asyncName, Napi::Function::New(env, runAsync<P, false>, asyncName));
  if (!contractKernel) return;
  cudaExports.Set(name, Napi::Function::New(env, runSync<P, true>, name));
  cudaExports.Set(asyncName, Napi::Function::New(env, runAsync<P, true>, asyncName));
}

// ---------------------------------------------------------------------------------------------
// Settings and information.

Napi::Value info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("abi", kAbiVersion);
  o.Set("isa", cpu::isaName(cpu::currentIsa()));
  o.Set("bestIsa", cpu::isaName(cpu::detectIsa()));
  Napi::Array isas = Napi::Array::New(env);
  for (int i = 0; i <= static_cast<int>(cpu::detectIsa()); i++) isas.Set(i, cpu::isaName(static_cast<cpu::Isa>(i)));
  o.Set("isas", isas);
  o.Set("threads", cpu::threadCount());
#ifdef R3MES_FAST_MATH_BUILD
  o.Set("fastMath", true);
#else
  o.Set("fastMath", false);
#endif
  return o;
}

Napi::Value setIsa(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw Napi::TypeError::New(env, "isa must be a string");
  const std::string name = info[0].As<Napi::String>().Utf8Value();
  cpu::Isa want;
  if (name == "scalar") {
    want = cpu::Isa::Scalar;
  } else if (name == "avx2") {
    want = cpu::Isa::Avx2;
  } else if (name == "avx512") {
    want = cpu::Isa::Avx512;
  } else {
    fail(env, "unknown isa " + name);
  }
  return Napi::String::New(env, cpu::isaName(cpu::setIsa(want)));
}

Napi::Value setThreads(const Napi::CallbackInfo& info) {
  cpu::setThreadCount(static_cast<int>(dimArg(info, 0, "threads")));
  return Napi::Number::New(info.Env(), cpu::threadCount());
}

/** { available, detail, path }: whether the CUDA backend can run here; detail names the device or the reason. */
Napi::Value cudaStatus(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const CudaLibrary& lib = cudaLibrary();
  Napi::Object o = Napi::Object::New(env);
  o.Set("available", lib.table != nullptr);
  o.Set("detail", lib.detail);
  o.Set("path", lib.path);
  return o;
}

/** The GPU benchmarks (build/libr3mes_cuda.so, src/cuda/bench.cu) as a JSON string; `quick` shrinks them. */
Napi::Value cudaBench(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  tableOf<true>(env);  // throws when the backend cannot run
  const CudaLibrary& lib = cudaLibrary();
  if (lib.bench == nullptr) throw Napi::Error::New(env, "the CUDA library has no benchmarks");
  const bool quick = info.Length() > 0 && info[0].ToBoolean().Value();
  std::vector<char> json(1 << 16);
  const int rc = lib.bench(cpu::kernelTable(), json.data(), static_cast<int>(json.size()), quick ? 1 : 0);
  if (rc != 0) throw Napi::Error::New(env, std::string("CUDA benchmark failed: ") + json.data());
  return Napi::String::New(env, json.data());
}

Napi::Object init(Napi::Env env, Napi::Object exports) {
  Napi::Object cudaExports = Napi::Object::New(env);
  exportKernel<prepMatmulNT>(env, exports, cudaExports, "matmulNT");
  exportKernel<prepMatmulNN>(env, exports, cudaExports, "matmulNN");
  exportKernel<prepMatmulTN>(env, exports, cudaExports, "matmulTN");
  exportKernel<prepQuantizeRows>(env, exports, cudaExports, "quantizeRows");
  exportKernel<prepTernaryMatmul>(env, exports, cudaExports, "ternaryMatmul");
  exportKernel<prepTernaryMatmulT>(env, exports, cudaExports, "ternaryMatmulT");
  exportKernel<prepRmsnormForward>(env, exports, cudaExports, "rmsnormForward");
  exportKernel<prepRmsnormBackward>(env, exports, cudaExports, "rmsnormBackward");
  exportKernel<prepRope>(env, exports, cudaExports, "rope");
  exportKernel<prepAttentionForward>(env, exports, cudaExports, "attentionForward");
  exportKernel<prepAttentionBackward>(env, exports, cudaExports, "attentionBackward");
  exportKernel<prepRelu2Forward>(env, exports, cudaExports, "relu2Forward");
  exportKernel<prepRelu2Backward>(env, exports, cudaExports, "relu2Backward");
  exportKernel<prepAddScaled>(env, exports, cudaExports, "addScaled");
  exportKernel<prepCrossEntropy>(env, exports, cudaExports, "crossEntropy");
  exportKernel<prepAdamw>(env, exports, cudaExports, "adamw");
  exportKernel<prepWeightedSum>(env, exports, cudaExports, "weightedSum");
  exportKernel<prepFmathMap>(env, exports, cudaExports, "fmathMap");
  exportKernel<prepStreamRead>(env, exports, cudaExports, "streamRead", false);  // a CPU bench helper
  exports.Set("cuda", cudaExports);
  exports.Set("cudaStatus", Napi::Function::New(env, cudaStatus, "cudaStatus"));
  exports.Set("cudaBench", Napi::Function::New(env, cudaBench, "cudaBench"));
  exports.Set("info", Napi::Function::New(env, info, "info"));
  exports.Set("setIsa", Napi::Function::New(env, setIsa, "setIsa"));
  exports.Set("setThreads", Napi::Function::New(env, setThreads, "setThreads"));
  return exports;
}

}  // namespace

NODE_API_MODULE(r3mes_native, init)
