// The CPU backend's public kernels (kernels.h): pick the instruction-set table once, split
// outputs across threads, and do the O(n) work (quantization, norms, rotary, elementwise,
// loss, optimizer) in plain C++. Every loop mirrors src/ml/kernels/ts-kernels.ts; comments name
// the reference expression where the C++ form is not the obvious one.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#if defined(__linux__)
#include <sched.h>
#endif

#include "../fmath.h"
#include "../kernels.h"
#include "isa.h"
#include "parallel.h"

namespace r3mes {
namespace cpu {

namespace fm = r3mes_fmath;

// ---------------------------------------------------------------------------------------------
// Instruction set and threads: process-wide settings, read atomically by every call.

Isa detectIsa() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("bmi2")) {
    return Isa::Avx512;
  }
  if (__builtin_cpu_supports("avx2")) return Isa::Avx2;
#endif
  return Isa::Scalar;
}

namespace {

Isa isaFromEnv() {
  const Isa best = detectIsa();
  const char* env = std::getenv("R3MES_NATIVE_ISA");
  if (env == nullptr) return best;
  Isa want = best;
  if (std::strcmp(env, "scalar") == 0) want = Isa::Scalar;
  if (std::strcmp(env, "avx2") == 0) want = Isa::Avx2;
  return static_cast<int>(want) < static_cast<int>(best) ? want : best;
}

int threadsFromEnv() {
  const char* env = std::getenv("R3MES_NATIVE_THREADS");
  if (env != nullptr) {
    const int n = std::atoi(env);
    if (n >= 1 && n <= 256) return n;
  }
#if defined(__linux__)
  // The CPUs this process may run on (a container or taskset may allow fewer than the machine has).
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n >= 1) return std::min(n, 64);
  }
#endif
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(std::min(hw, 64u));
}

std::atomic<int> gIsa{static_cast<int>(isaFromEnv())};
std::atomic<int> gThreads{threadsFromEnv()};

const IsaTable* table() {
  switch (static_cast<Isa>(gIsa.load(std::memory_order_relaxed))) {
#if defined(__x86_64__)
    case Isa::Avx512:
      return isaTableAvx512();
    case Isa::Avx2:
      return isaTableAvx2();
#endif
    default:
      return isaTableScalar();
  }
}

}  // namespace

Isa currentIsa() { return static_cast<Isa>(gIsa.load()); }

Isa setIsa(Isa isa) {
  const Isa best = detectIsa();
  const Isa set = static_cast<int>(isa) < static_cast<int>(best) ? isa : best;
  gIsa.store(static_cast<int>(set));
  return set;
}

const char* isaName(Isa isa) {
  switch (isa) {
    case Isa::Avx512:
      return "avx512";
    case Isa::Avx2:
      return "avx2";
    default:
      return "scalar";
  }
}

int threadCount() { return gThreads.load(); }
void setThreadCount(int n) { gThreads.store(n < 1 ? 1 : (n > 256 ? 256 : n)); }

void parallelFor(int64_t items, int64_t chunk, double costPerItem, const std::function<void(int64_t, int64_t)>& body) {
  if (items <= 0) return;
  if (chunk < 1) chunk = 1;
  const int64_t chunks = (items + chunk - 1) / chunk;
  int64_t threads = std::min<int64_t>(threadCount(), chunks);
  // Below ~100k multiply-adds a thread costs more to start than it saves.
  if (static_cast<double>(items) * costPerItem < 1.0e5) threads = 1;
  std::atomic<int64_t> next{0};
  auto work = [&]() {
    const IeeeFloatMode ieee;
    for (;;) {
      const int64_t c = next.fetch_add(1);
      if (c >= chunks) return;
      const int64_t b = c * chunk;
      body(b, std::min(items, b + chunk));
    }
  };
  std::vector<std::thread> pool;
  for (int64_t i = 1; i < threads; i++) {
    try {
      pool.emplace_back(work);
    } catch (...) {
      break;  // could not start a thread: the others (and this one) take its chunks
    }
  }
  work();
  for (auto& th : pool) th.join();
}

// ---------------------------------------------------------------------------------------------
// Matrix products.

namespace {

/** Transpose src [rows, cols] into dst [cols, rows]. */
void transpose(float* dst, const float* src, int64_t rows, int64_t cols) {
  // Eight destination rows at a time: with a power-of-two row length they all fall in one
  // cache set, and eight stay within its associativity.
  parallelFor(cols, 64, static_cast<double>(rows) * 0.1, [&](int64_t c0, int64_t c1) {
    for (int64_t cb = c0; cb < c1; cb += 8) {
      const int64_t ce = std::min(c1, cb + 8);
      for (int64_t r = 0; r < rows; r++) {
        const float* s = src + r * cols;
        for (int64_t c = cb; c < ce; c++) dst[c * rows + r] = s[c];
      }
    }
  });
}

/** Runs table()->gemmLanes over lanes [0, lanes) × others [0, others), split across threads. */
void runGemm(float* out, int64_t osl, int64_t oso, const float* P, int64_t ldp, const float* S, int64_t ssp,
             int64_t sso, int64_t k, int64_t lanes, int64_t others) {
  const IsaTable* tb = table();
  if (others >= 32 || others * 8 >= lanes) {
    parallelFor(others, 16, static_cast<double>(lanes) * static_cast<double>(k), [&](int64_t o0, int64_t o1) {
      tb->gemmLanes(out, osl, oso, P, ldp, S, ssp, sso, k, 0, lanes, o0, o1);
    });
  } else {
    parallelFor(lanes, 64, static_cast<double>(others) * static_cast<double>(k), [&](int64_t l0, int64_t l1) {
      tb->gemmLanes(out, osl, oso, P, ldp, S, ssp, sso, k, l0, l1, 0, others);
    });
  }
}

/** Lanes across output columns j when there are enough of them, else across rows i. */
bool lanesOverColumns(int64_t m, int64_t n) { return n >= 8 || n >= m; }

}  // namespace

void matmulNN(float* out, const float* a, const float* b, int64_t m, int64_t k, int64_t n) {
  if (m == 0 || n == 0) return;
  if (lanesOverColumns(m, n)) {
    runGemm(out, 1, n, b, n, a, 1, k, k, n, m);
  } else {
    std::vector<float> aT(static_cast<size_t>(m * k));
    transpose(aT.data(), a, m, k);
    runGemm(out, n, 1, aT.data(), m, b, n, 1, k, m, n);
  }
}

void matmulTN(float* out, const float* a, const float* b, int64_t k, int64_t m, int64_t n) {
  if (m == 0 || n == 0) return;
  if (lanesOverColumns(m, n)) {
    runGemm(out, 1, n, b, n, a, m, 1, k, n, m);
  } else {
    runGemm(out, n, 1, a, m, b, n, 1, k, m, n);
  }
}

void matmulNT(float* out, const float* a, const float* b, int64_t m, int64_t k, int64_t n) {
  if (m == 0 || n == 0) return;
  if (lanesOverColumns(m, n)) {
    std::vector<float> bT(static_cast<size_t>(n * k));
    transpose(bT.data(), b, n, k);
    runGemm(out, 1, n, bT.data(), n, a, 1, k, k, n, m);
  } else {
    std::vector<float> aT(static_cast<size_t>(m * k));
    transpose(aT.data(), a, m, k);
    runGemm(out, n, 1, aT.data(), m, b, 1, k, k, m, n);
  }
}

// ---------------------------------------------------------------------------------------------
// BitLinear.

void quantizeRows(int8_t* q, float* invScale, const float* x, int64_t rows, int64_t cols) {
  parallelFor(rows, 16, static_cast<double>(cols) * 2.0, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
      const float* xr = x + r * cols;
      int8_t* qr = q + r * cols;
      float amax = 0.0f;
      for (int64_t i = 0; i < cols; i++) {
        const float a = std::fabs(xr[i]);
        if (a > amax) amax = a;  // NaN never wins, as in the reference
      }
      // Reference: `if (!(amax >= 1e-5)) amax = f(1e-5)`, the comparison against the double 1e-5.
      if (!(static_cast<double>(amax) >= 1e-5)) amax = 0x1.4f8b58p-17f;  // f(1e-5), 0x3727c5ac
      const float scale = 127.0f / amax;
      for (int64_t i = 0; i < cols; i++) {
        const float v = fm::roundHalfAway(xr[i] * scale);
        // Math.min(127, Math.max(-127, v)) stored into an Int8Array: NaN becomes 0.
        int8_t s;
        if (v != v) {
          s = 0;
        } else if (v > 127.0f) {
          s = 127;
        } else if (v < -127.0f) {
          s = -127;
        } else {
          s = static_cast<int8_t>(v);
        }
        qr[i] = s;
      }
      invScale[r] = 1.0f / scale;
    }
  });
}

void ternaryMatmul(float* out, const int8_t* q, const float* invScale, const int8_t* w, double gamma, int64_t t,
                   int64_t k, int64_t n) {
  if (t == 0 || n == 0) return;
  // Reference: s = f(gamma · invScale[r]), once per row.
  std::vector<float> rowScale(static_cast<size_t>(t));
  for (int64_t r = 0; r < t; r++) rowScale[r] = static_cast<float>(gamma * static_cast<double>(invScale[r]));
  const IsaTable* tb = table();
  const double cost = static_cast<double>(k) * 0.25;
  if (n >= 128 || n >= t) {
    parallelFor(n, 64, static_cast<double>(t) * cost, [&](int64_t j0, int64_t j1) {
      tb->ternaryRows(out, q, rowScale.data(), w, k, n, 0, t, j0, j1);
    });
  } else {
    parallelFor(t, 16, static_cast<double>(n) * cost, [&](int64_t r0, int64_t r1) {
      tb->ternaryRows(out, q, rowScale.data(), w, k, n, r0, r1, 0, n);
    });
  }
}

void ternaryMatmulT(float* out, const float* dy, const int8_t* w, double gamma, int64_t t, int64_t k, int64_t n) {
  if (t == 0 || k == 0) return;
  const IsaTable* tb = table();
  if (t >= 32) {
    parallelFor(t, 16, static_cast<double>(k) * static_cast<double>(n), [&](int64_t r0, int64_t r1) {
      tb->ternaryTRows(out, dy, w, gamma, k, n, r0, r1, 0, k);
    });
  } else {
    parallelFor(k, 64, static_cast<double>(t) * static_cast<double>(n), [&](int64_t c0, int64_t c1) {
      tb->ternaryTRows(out, dy, w, gamma, k, n, 0, t, c0, c1);
    });
  }
}

// ---------------------------------------------------------------------------------------------
// RMSNorm and rotary embedding.

void rmsnormForward(float* y, float* invRms, const float* x, const float* g, int64_t rows, int64_t cols, double eps) {
  parallelFor(rows, 16, static_cast<double>(cols) * 3.0, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
      const float* xr = x + r * cols;
      float ss = 0.0f;
      for (int64_t i = 0; i < cols; i++) ss = ss + xr[i] * xr[i];
      // Reference: rsqrtf(f(f(ss / cols) + eps)): each a double op rounded once to float32
      // (the same as the float op when cols < 2^24, and literal beyond).
      const float mean = static_cast<float>(static_cast<double>(ss) / static_cast<double>(cols));
      const float inv = fm::rsqrtf(static_cast<float>(static_cast<double>(mean) + eps));
      invRms[r] = inv;
      float* yr = y + r * cols;
      for (int64_t i = 0; i < cols; i++) yr[i] = (xr[i] * inv) * g[i];
    }
  });
}

void rmsnormBackward(float* dx, float* dg, const float* x, const float* g, const float* invRms, const float* dy,
                     int64_t rows, int64_t cols) {
  parallelFor(rows, 16, static_cast<double>(cols) * 6.0, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
      const int64_t base = r * cols;
      const float inv = invRms[r];
      float dot = 0.0f;
      for (int64_t i = 0; i < cols; i++) {
        const float xh = x[base + i] * inv;
        dot = dot + (dy[base + i] * g[i]) * xh;
      }
      const float c = static_cast<float>(static_cast<double>(dot) / static_cast<double>(cols));
      for (int64_t i = 0; i < cols; i++) {
        const float xh = x[base + i] * inv;
        const float gdy = dy[base + i] * g[i];
        dx[base + i] = (gdy - xh * c) * inv;
      }
    }
  });
  if (dg != nullptr) {
    // dg_i: a fold over rows for each column, onto dg's value; lanes across columns.
    parallelFor(cols, 64, static_cast<double>(rows) * 2.0, [&](int64_t c0, int64_t c1) {
      for (int64_t r = 0; r < rows; r++) {
        const float inv = invRms[r];
        const float* xr = x + r * cols;
        const float* dyr = dy + r * cols;
        for (int64_t i = c0; i < c1; i++) dg[i] = dg[i] + dyr[i] * (xr[i] * inv);
      }
    });
  }
}

void rope(float* x, const float* cos, const float* sin, int64_t t, int64_t heads, int64_t headDim, bool inverse) {
  const int64_t half = headDim / 2;
  const int64_t width = heads * headDim;
  parallelFor(t, 16, static_cast<double>(width) * 3.0, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
      for (int64_t h = 0; h < heads; h++) {
        float* xb = x + r * width + h * headDim;
        for (int64_t i = 0; i < half; i++) {
          const float c = cos[r * half + i];
          const float s = sin[r * half + i];
          const float a = xb[2 * i];
          const float b = xb[2 * i + 1];
          if (inverse) {
            xb[2 * i] = a * c + b * s;
            xb[2 * i + 1] = b * c - a * s;
          } else {
            xb[2 * i] = a * c - b * s;
            xb[2 * i + 1] = a * s + b * c;
          }
        }
      }
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Attention.

void attentionForward(float* out, float* probs, const float* q, const float* k, const float* v, int64_t t,
                      int64_t heads, int64_t headDim, double scale) {
  if (t == 0 || heads == 0) return;
  const int64_t width = heads * headDim;
  std::vector<float> kT(static_cast<size_t>(width * t));
  transpose(kT.data(), k, t, width);
  const IsaTable* tb = table();
  // Items are (head, row); a row's cost grows with its index, so chunks are claimed dynamically.
  parallelFor(heads * t, 8, static_cast<double>(t) * static_cast<double>(headDim), [&](int64_t b, int64_t e) {
    for (int64_t it = b; it < e; it++) {
      const int64_t h = it / t;
      const int64_t i = it % t;
      tb->attnForwardRows(out, probs, q, kT.data(), v, t, heads, headDim, scale, h, i, i + 1);
    }
  });
}

void attentionBackward(float* dq, float* dk, float* dv, const float* dout, const float* probs, const float* q,
                       const float* k, const float* v, int64_t t, int64_t heads, int64_t headDim, double scale) {
  if (t == 0 || heads == 0) return;
  const int64_t width = heads * headDim;
  std::vector<float> vT(static_cast<size_t>(width * t));
  transpose(vT.data(), v, t, width);
  std::vector<float> g(static_cast<size_t>(heads * t * t));
  const IsaTable* tb = table();
  const double cost = static_cast<double>(t) * static_cast<double>(headDim);
  parallelFor(heads * t, 8, cost, [&](int64_t b, int64_t e) {
    for (int64_t it = b; it < e; it++) {
      const int64_t h = it / t;
      const int64_t i = it % t;
      tb->attnBackwardRows(dq, g.data(), dout, probs, k, vT.data(), t, heads, headDim, scale, h, i, i + 1);
    }
  });
  parallelFor(heads * t, 8, cost, [&](int64_t b, int64_t e) {
    for (int64_t it = b; it < e; it++) {
      const int64_t h = it / t;
      const int64_t j = it % t;
      tb->attnBackwardCols(dk, dv, g.data(), dout, probs, q, t, heads, headDim, h, j, j + 1);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Elementwise kernels, loss, optimizer, aggregation.

void relu2Forward(float* y, const float* x, int64_t n) {
  parallelFor(n, 1 << 16, 1.0, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; i++) {
      const float v = x[i];
      y[i] = v > 0.0f ? v * v : 0.0f;
    }
  });
}

void relu2Backward(float* dx, const float* x, const float* dy, int64_t n) {
  parallelFor(n, 1 << 16, 1.0, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; i++) {
      const float v = x[i];
      dx[i] = v > 0.0f ? dy[i] * (2.0f * v) : 0.0f;
    }
  });
}

void addScaled(float* out, const float* a, const float* b, double scale, int64_t n) {
  const float fscale = static_cast<float>(scale);
  const bool exactScale = static_cast<double>(fscale) == scale;
  parallelFor(n, 1 << 16, 1.0, [&](int64_t s, int64_t e) {
    if (exactScale) {
      // A float32 scale: the double product of two floats is exact, so f(b·scale) is the float
      // product.
      for (int64_t i = s; i < e; i++) out[i] = a[i] + b[i] * fscale;
    } else {
      for (int64_t i = s; i < e; i++) out[i] = a[i] + static_cast<float>(static_cast<double>(b[i]) * scale);
    }
  });
}

float crossEntropy(float* dlogits, const float* logits, const int32_t* targets, int64_t t, int64_t vocab) {
  if (t == 0) return std::nanf("");  // reference: f(0 / 0)
  std::vector<float> rowLoss(static_cast<size_t>(t));
  parallelFor(t, 16, static_cast<double>(vocab) * 30.0, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
      const float* l = logits + r * vocab;
      float* dl = dlogits + r * vocab;
      float m = -__builtin_inff();
      for (int64_t j = 0; j < vocab; j++)
        if (l[j] > m) m = l[j];
      float z = 0.0f;
      for (int64_t j = 0; j < vocab; j++) {
        const float e = fm::expf(l[j] - m);
        dl[j] = e;
        z = z + e;
      }
      const int64_t target = targets[r];
      const float lse = m + fm::logf(z);
      rowLoss[r] = lse - l[target];
      for (int64_t j = 0; j < vocab; j++) {
        const float p = dl[j] / z;
        dl[j] = static_cast<float>(static_cast<double>(j == target ? p - 1.0f : p) / static_cast<double>(t));
      }
    }
  });
  float total = 0.0f;
  for (int64_t r = 0; r < t; r++) total = total + rowLoss[r];
  return static_cast<float>(static_cast<double>(total) / static_cast<double>(t));
}

void adamw(float* p, float* m, float* v, const float* g, int64_t n, double lr, double beta1, double beta2, double eps,
           double weightDecay, double bc1, double bc2) {
  const float omb1 = static_cast<float>(1.0 - beta1);
  const float omb2 = static_cast<float>(1.0 - beta2);
  parallelFor(n, 1 << 14, 20.0, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; i++) {
      const float gi = g[i];
      const float mi = static_cast<float>(beta1 * static_cast<double>(m[i])) + omb1 * gi;
      const float vi = static_cast<float>(beta2 * static_cast<double>(v[i])) + (omb2 * gi) * gi;
      m[i] = mi;
      v[i] = vi;
      const float mh = static_cast<float>(static_cast<double>(mi) / bc1);
      const float vh = static_cast<float>(static_cast<double>(vi) / bc2);
      const float pi = p[i];
      const float den = static_cast<float>(static_cast<double>(__builtin_sqrtf(vh)) + eps);
      const float update = mh / den + static_cast<float>(weightDecay * static_cast<double>(pi));
      p[i] = pi - static_cast<float>(lr * static_cast<double>(update));
    }
  });
}

void weightedSum(float* out, const float* const* grads, const float* coef, int64_t count, int64_t n) {
  // Chunks of outputs are accumulated locally and written at the end, so `out` may alias a
  // gradient, as it may in the reference.
  parallelFor(n, 4096, static_cast<double>(count) * 2.0, [&](int64_t s, int64_t e) {
    float acc[256];
    for (int64_t c0 = s; c0 < e; c0 += 256) {
      const int64_t len = std::min<int64_t>(256, e - c0);
      for (int64_t j = 0; j < len; j++) acc[j] = 0.0f;
      for (int64_t i = 0; i < count; i++) {
        const float ci = coef[i];
        const float* gi = grads[i] + c0;
        for (int64_t j = 0; j < len; j++) acc[j] = acc[j] + ci * gi[j];
      }
      std::memcpy(out + c0, acc, static_cast<size_t>(len) * sizeof(float));
    }
  });
}

void fmathMap(float* out, const float* x, int64_t n, int op) {
  for (int64_t i = 0; i < n; i++) {
    switch (op) {
      case 0:
        out[i] = fm::expf(x[i]);
        break;
      case 1:
        out[i] = fm::logf(x[i]);
        break;
      case 2:
        out[i] = fm::rsqrtf(x[i]);
        break;
      default:
        out[i] = fm::roundHalfAway(x[i]);
        break;
    }
  }
}

uint64_t streamRead(const uint8_t* data, int64_t bytes) {
  const IsaTable* tb = table();
  const int64_t chunk = 1 << 20;
  std::atomic<uint64_t> h{0};
  parallelFor((bytes + chunk - 1) / chunk, 1, static_cast<double>(chunk), [&](int64_t c0, int64_t c1) {
    const uint64_t part = tb->streamRead(data, c0 * chunk, std::min(bytes, c1 * chunk));
    h.fetch_xor(part);
  });
  return h.load();
}

}  // namespace cpu
}  // namespace r3mes
