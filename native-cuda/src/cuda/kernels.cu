// The float32 kernels of the CUDA backend (see backend.h). Each mirrors the CPU backend
// (../cpu/dispatch.cpp, kernels_impl.h) expression for expression: a float op where the
// reference rounds a float op, a double op then one conversion where the reference multiplies
// a float32 by a JS number. Every sum is computed by one thread in increasing index order;
// maxima are taken in order too (the sign of a zero maximum depends on it). No float atomics.
#define R3MES_HD __host__ __device__
#include "../fmath.h"
#include "backend.h"
#include "context.h"

namespace r3mes {
namespace cuda {

namespace fm = r3mes_fmath;

namespace {

constexpr int kThreads = 256;

// ---------------------------------------------------------------------------------------------
// Matrix products: out[i, j] = Σ_p A(i, p)·B(p, j) with A(i, p) = a[i·sai + p·sap] and
// B(p, j) = b[p·sbp + j·sbj]. A 64×64 tile per block, 4×4 outputs per thread, each output a
// left fold over p in increasing order (tiles of p are visited in order, and a tile's terms
// in order; padding is never added, so no +0 or 0·inf term enters a sum).

constexpr int BM = 64;
constexpr int BN = 64;
constexpr int BK = 16;

__global__ void gemmKernel(float* out, const float* a, int64_t sai, int64_t sap, const float* b, int64_t sbp,
                           int64_t sbj, int m, int k, int n) {
  __shared__ float As[BK][BM + 1];
  __shared__ float Bs[BK][BN + 1];
  const int tx = threadIdx.x % 16;
  const int ty = threadIdx.x / 16;
  const int i0 = blockIdx.y * BM;
  const int j0 = blockIdx.x * BN;
  float acc[4][4];
#pragma unroll
  for (int r = 0; r < 4; r++)
#pragma unroll
    for (int c = 0; c < 4; c++) acc[r][c] = 0.0f;
  for (int p0 = 0; p0 < k; p0 += BK) {
    // Loads: the index that is contiguous in memory varies fastest across threads.
    for (int e = threadIdx.x; e < BM * BK; e += kThreads) {
      const int ii = sap == 1 ? e / BK : e % BM;
      const int pp = sap == 1 ? e % BK : e / BM;
      const int gi = i0 + ii;
      const int gp = p0 + pp;
      As[pp][ii] = (gi < m && gp < k) ? a[gi * sai + gp * sap] : 0.0f;
    }
    for (int e = threadIdx.x; e < BN * BK; e += kThreads) {
      const int jj = sbp == 1 ? e / BK : e % BN;
      const int pp = sbp == 1 ? e % BK : e / BN;
      const int gj = j0 + jj;
      const int gp = p0 + pp;
      Bs[pp][jj] = (gj < n && gp < k) ? b[gp * sbp + gj * sbj] : 0.0f;
    }
    __syncthreads();
    const int kend = min(BK, k - p0);
    for (int pp = 0; pp < kend; pp++) {
      float av[4];
      float bv[4];
#pragma unroll
      for (int r = 0; r < 4; r++) av[r] = As[pp][ty * 4 + r];
#pragma unroll
      for (int c = 0; c < 4; c++) bv[c] = Bs[pp][tx * 4 + c];
#pragma unroll
      for (int r = 0; r < 4; r++)
#pragma unroll
        for (int c = 0; c < 4; c++) acc[r][c] = acc[r][c] + av[r] * bv[c];
    }
    __syncthreads();
  }
#pragma unroll
  for (int r = 0; r < 4; r++) {
    const int i = i0 + ty * 4 + r;
    if (i >= m) continue;
#pragma unroll
    for (int c = 0; c < 4; c++) {
      const int j = j0 + tx * 4 + c;
      if (j < n) out[static_cast<int64_t>(i) * n + j] = acc[r][c];
    }
  }
}

void gemm(float* out, const float* a, int64_t sai, int64_t sap, const float* b, int64_t sbp, int64_t sbj, int64_t m,
          int64_t k, int64_t n, int64_t aCount, int64_t bCount) {
  Context& c = context();
  std::lock_guard<std::mutex> lock(c.mutex);
  const float* da = c.upload(0, a, aCount);
  const float* db = c.upload(1, b, bCount);
  float* dout = c.slotOf<float>(2, m * n);
  const dim3 grid(blocksFor(n, BN), blocksFor(m, BM));
  gemmKernel<<<grid, kThreads, 0, c.stream>>>(dout, da, sai, sap, db, sbp, sbj, static_cast<int>(m),
                                               static_cast<int>(k), static_cast<int>(n));
  checkLaunch("matmul");
  c.download(out, dout, m * n);
}

// ---------------------------------------------------------------------------------------------
// BitLinear helpers.

/** One block per row: the row's absmax in order by thread 0, then the quantized values in parallel. */
__global__ void quantizeKernel(int8_t* q, float* invScale, const float* x, int64_t cols) {
  const int64_t r = blockIdx.x;
  const float* xr = x + r * cols;
  __shared__ float sScale;
  // Partial maxima per thread, then thread 0 folds them: max is exact and NaN never wins (as in
  // `if (a > amax) amax = a`), and |x| is never −0, so the order cannot change the result.
  __shared__ float part[kThreads];
  float amax = 0.0f;
  for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) {
    const float a = fabsf(xr[i]);
    if (a > amax) amax = a;
  }
  part[threadIdx.x] = amax;
  __syncthreads();
  if (threadIdx.x == 0) {
    float m = 0.0f;
    for (int i = 0; i < blockDim.x; i++)
      if (part[i] > m) m = part[i];
    if (!(static_cast<double>(m) >= 1e-5)) m = 0x1.4f8b58p-17f;  // f(1e-5)
    const float scale = 127.0f / m;
    sScale = scale;
    invScale[r] = 1.0f / scale;
  }
  __syncthreads();
  const float scale = sScale;
  for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) {
    const float v = fm::roundHalfAway(xr[i] * scale);
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
    q[r * cols + i] = s;
  }
}

/** out[r, c] = (Σ_{j: w≠0} ±dy[r, j]) · gamma, a fold over j in increasing order; one thread per output. */
__global__ void ternaryTKernel(float* out, const float* dy, const int8_t* w, double gamma, int64_t t, int64_t k,
                               int64_t n) {
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= t * k) return;
  const int64_t r = idx / k;
  const int64_t c = idx % k;
  const float* dr = dy + r * n;
  float acc = 0.0f;
  for (int64_t j = 0; j < n; j++) {
    const int8_t wv = w[j * k + c];
    if (wv > 0) acc = acc + dr[j];
    if (wv < 0) acc = acc + (-dr[j]);
  }
  out[idx] = static_cast<float>(static_cast<double>(acc) * gamma);
}

// ---------------------------------------------------------------------------------------------
// RMSNorm and rotary embedding.

__global__ void rmsnormForwardKernel(float* y, float* invRms, const float* x, const float* g, int64_t cols,
                                     double eps) {
  const int64_t r = blockIdx.x;
  const float* xr = x + r * cols;
  __shared__ float sInv;
  if (threadIdx.x == 0) {
    float ss = 0.0f;
    for (int64_t i = 0; i < cols; i++) ss = ss + xr[i] * xr[i];
    const float mean = static_cast<float>(static_cast<double>(ss) / static_cast<double>(cols));
    const float inv = fm::rsqrtf(static_cast<float>(static_cast<double>(mean) + eps));
    invRms[r] = inv;
    sInv = inv;
  }
  __syncthreads();
  const float inv = sInv;
  for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) y[r * cols + i] = (xr[i] * inv) * g[i];
}

__global__ void rmsnormBackwardRowsKernel(float* dx, const float* x, const float* g, const float* invRms,
                                          const float* dy, int64_t cols) {
  const int64_t r = blockIdx.x;
  const int64_t base = r * cols;
  const float inv = invRms[r];
  __shared__ float sC;
  if (threadIdx.x == 0) {
    float dot = 0.0f;
    for (int64_t i = 0; i < cols; i++) {
      const float xh = x[base + i] * inv;
      dot = dot + (dy[base + i] * g[i]) * xh;
    }
    sC = static_cast<float>(static_cast<double>(dot) / static_cast<double>(cols));
  }
  __syncthreads();
  const float c = sC;
  for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) {
    const float xh = x[base + i] * inv;
    const float gdy = dy[base + i] * g[i];
    dx[base + i] = (gdy - xh * c) * inv;
  }
}

/** dg[i] += Σ_rows dy·xh, a fold over rows in increasing order onto dg's value; one thread per column. */
__global__ void rmsnormGainKernel(float* dg, const float* x, const float* invRms, const float* dy, int64_t rows,
                                  int64_t cols) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= cols) return;
  float acc = dg[i];
  for (int64_t r = 0; r < rows; r++) acc = acc + dy[r * cols + i] * (x[r * cols + i] * invRms[r]);
  dg[i] = acc;
}

__global__ void ropeKernel(float* x, const float* cos, const float* sin, int64_t t, int64_t heads, int64_t half,
                           bool inverse) {
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= t * heads * half) return;
  const int64_t i = idx % half;
  const int64_t h = (idx / half) % heads;
  const int64_t r = idx / (half * heads);
  float* xb = x + r * heads * 2 * half + h * 2 * half;
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

// ---------------------------------------------------------------------------------------------
// Attention. One block per (head, row i).

__global__ void attentionForwardKernel(float* out, float* probs, const float* q, const float* k, const float* v,
                                       int64_t t, int64_t heads, int64_t headDim, double scale) {
  const int64_t h = blockIdx.x / t;
  const int64_t i = blockIdx.x % t;
  const int64_t width = heads * headDim;
  const int64_t off = h * headDim;
  float* prow = probs + (h * t + i) * t;
  // Scores s_j = (q_i·k_j)·scale, one thread per key j, each dot a fold over d.
  for (int64_t j = threadIdx.x; j < t; j += blockDim.x) {
    if (j > i) {
      prow[j] = 0.0f;
      continue;
    }
    float dot = 0.0f;
    for (int64_t d = 0; d < headDim; d++) dot = dot + q[i * width + off + d] * k[j * width + off + d];
    prow[j] = static_cast<float>(static_cast<double>(dot) * scale);
  }
  __syncthreads();
  __shared__ float sMax;
  __shared__ float sZ;
  if (threadIdx.x == 0) {
    float m = -__builtin_inff();
    for (int64_t j = 0; j <= i; j++)
      if (prow[j] > m) m = prow[j];
    sMax = m;
  }
  __syncthreads();
  const float m = sMax;
  for (int64_t j = threadIdx.x; j <= i; j += blockDim.x) prow[j] = fm::expf(prow[j] - m);
  __syncthreads();
  if (threadIdx.x == 0) {
    float z = 0.0f;
    for (int64_t j = 0; j <= i; j++) z = z + prow[j];
    sZ = z;
  }
  __syncthreads();
  const float z = sZ;
  for (int64_t j = threadIdx.x; j <= i; j += blockDim.x) prow[j] = prow[j] / z;
  __syncthreads();
  for (int64_t d = threadIdx.x; d < headDim; d += blockDim.x) {
    float acc = 0.0f;
    for (int64_t j = 0; j <= i; j++) acc = acc + prow[j] * v[j * width + off + d];
    out[i * width + off + d] = acc;
  }
}

/** g[h, i, j] = p·(dp − Σ_j' p·dp)·scale with dp = dout_i·v_j; zeros above the diagonal. */
__global__ void attentionGradKernel(float* g, const float* dout, const float* probs, const float* v, int64_t t,
                                    int64_t heads, int64_t headDim, double scale) {
  const int64_t h = blockIdx.x / t;
  const int64_t i = blockIdx.x % t;
  const int64_t width = heads * headDim;
  const int64_t off = h * headDim;
  const float* prow = probs + (h * t + i) * t;
  float* grow = g + (h * t + i) * t;
  for (int64_t j = threadIdx.x; j < t; j += blockDim.x) {
    if (j > i) {
      grow[j] = 0.0f;
      continue;
    }
    float dp = 0.0f;
    for (int64_t d = 0; d < headDim; d++) dp = dp + dout[i * width + off + d] * v[j * width + off + d];
    grow[j] = dp;
  }
  __syncthreads();
  __shared__ float sSum;
  if (threadIdx.x == 0) {
    float sum = 0.0f;
    for (int64_t j = 0; j <= i; j++) sum = sum + prow[j] * grow[j];
    sSum = sum;
  }
  __syncthreads();
  const float sum = sSum;
  for (int64_t j = threadIdx.x; j <= i; j += blockDim.x) {
    grow[j] = static_cast<float>(static_cast<double>(prow[j] * (grow[j] - sum)) * scale);
  }
}

/** dq[i, d] = Σ_{j≤i} g_ij·k_jd; one thread per (head, i, d). */
__global__ void attentionDqKernel(float* dq, const float* g, const float* k, int64_t t, int64_t heads,
                                  int64_t headDim) {
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= heads * t * headDim) return;
  const int64_t d = idx % headDim;
  const int64_t i = (idx / headDim) % t;
  const int64_t h = idx / (headDim * t);
  const int64_t width = heads * headDim;
  const int64_t off = h * headDim;
  const float* grow = g + (h * t + i) * t;
  float acc = 0.0f;
  for (int64_t j = 0; j <= i; j++) acc = acc + grow[j] * k[j * width + off + d];
  dq[i * width + off + d] = acc;
}

/** dk[j, d] = Σ_{i≥j} g_ij·q_id and dv[j, d] = Σ_{i≥j} p_ij·dout_id; one thread per (head, j, d). */
__global__ void attentionDkDvKernel(float* dk, float* dv, const float* g, const float* probs, const float* q,
                                    const float* dout, int64_t t, int64_t heads, int64_t headDim) {
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= heads * t * headDim) return;
  const int64_t d = idx % headDim;
  const int64_t j = (idx / headDim) % t;
  const int64_t h = idx / (headDim * t);
  const int64_t width = heads * headDim;
  const int64_t off = h * headDim;
  float accK = 0.0f;
  float accV = 0.0f;
  for (int64_t i = j; i < t; i++) {
    const int64_t pij = (h * t + i) * t + j;
    accK = accK + g[pij] * q[i * width + off + d];
    accV = accV + probs[pij] * dout[i * width + off + d];
  }
  dk[j * width + off + d] = accK;
  dv[j * width + off + d] = accV;
}

// ---------------------------------------------------------------------------------------------
// Elementwise kernels, loss, optimizer, aggregation.

__global__ void relu2ForwardKernel(float* y, const float* x, int64_t n) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float v = x[i];
  y[i] = v > 0.0f ? v * v : 0.0f;
}

__global__ void relu2BackwardKernel(float* dx, const float* x, const float* dy, int64_t n) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float v = x[i];
  dx[i] = v > 0.0f ? dy[i] * (2.0f * v) : 0.0f;
}

__global__ void addScaledKernel(float* out, const float* a, const float* b, double scale, int64_t n) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  // f(b·scale): the double product rounded once (for a float32 scale it is the float product).
  out[i] = a[i] + static_cast<float>(static_cast<double>(b[i]) * scale);
}

/** One block per row: max and Σ exp in order by thread 0, exponentials and gradients in parallel. */
__global__ void crossEntropyKernel(float* dlogits, float* rowLoss, const float* logits, const int32_t* targets,
                                   int64_t t, int64_t vocab) {
  const int64_t r = blockIdx.x;
  const float* l = logits + r * vocab;
  float* dl = dlogits + r * vocab;
  __shared__ float sMax;
  __shared__ float sZ;
  if (threadIdx.x == 0) {
    float m = -__builtin_inff();
    for (int64_t j = 0; j < vocab; j++)
      if (l[j] > m) m = l[j];
    sMax = m;
  }
  __syncthreads();
  const float m = sMax;
  for (int64_t j = threadIdx.x; j < vocab; j += blockDim.x) dl[j] = fm::expf(l[j] - m);
  __syncthreads();
  if (threadIdx.x == 0) {
    float z = 0.0f;
    for (int64_t j = 0; j < vocab; j++) z = z + dl[j];
    sZ = z;
    const float lse = m + fm::logf(z);
    rowLoss[r] = lse - l[targets[r]];
  }
  __syncthreads();
  const float z = sZ;
  const int64_t target = targets[r];
  for (int64_t j = threadIdx.x; j < vocab; j += blockDim.x) {
    const float p = dl[j] / z;
    dl[j] = static_cast<float>(static_cast<double>(j == target ? p - 1.0f : p) / static_cast<double>(t));
  }
}

/** The mean loss: a fold over rows in order, then one division (a single thread). */
__global__ void meanLossKernel(float* loss, const float* rowLoss, int64_t t) {
  float total = 0.0f;
  for (int64_t r = 0; r < t; r++) total = total + rowLoss[r];
  *loss = static_cast<float>(static_cast<double>(total) / static_cast<double>(t));
}

__global__ void adamwKernel(float* p, float* m, float* v, const float* g, int64_t n, double lr, double beta1,
                            double beta2, double eps, double weightDecay, double bc1, double bc2, float omb1,
                            float omb2) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
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

/** out[j] = Σ_i coef_i·grads[i, j], a fold over i in order; one thread per j. */
__global__ void weightedSumKernel(float* out, const float* grads, const float* coef, int64_t count, int64_t n) {
  const int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (j >= n) return;
  float acc = 0.0f;
  for (int64_t i = 0; i < count; i++) acc = acc + coef[i] * grads[i * n + j];
  out[j] = acc;
}

__global__ void fmathKernel(float* out, const float* x, int64_t n, int op) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
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

/** Threads per block for a per-row kernel: enough for the row, at most kThreads. */
int rowThreads(int64_t cols) {
  int threads = 32;
  while (threads < kThreads && threads < cols) threads *= 2;
  return threads;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Host wrappers: copy in, launch, copy out.

void matmulNT(float* out, const float* a, const float* b, int64_t m, int64_t k, int64_t n) {
  if (m == 0 || n == 0) return;
  gemm(out, a, k, 1, b, 1, k, m, k, n, m * k, n * k);
}

void matmulNN(float* out, const float* a, const float* b, int64_t m, int64_t k, int64_t n) {
  if (m == 0 || n == 0) return;
  gemm(out, a, k, 1, b, n, 1, m, k, n, m * k, k * n);
}

void matmulTN(float* out, const float* a, const float* b, int64_t k, int64_t m, int64_t n) {
  if (m == 0 || n == 0) return;
  gemm(out, a, 1, m, b, n, 1, m, k, n, k * m, k * n);
}

void quantizeRows(int8_t* q, float* invScale, const float* x, int64_t rows, int64_t cols) {
  if (rows == 0) return;
  Context& c = context();
  std::lock_guard<std::mutex> lock(c.mutex);
  const float* dx = c.upload(0, x, rows * cols);
  int8_t* dq = c.slotOf<int8_t>(1, rows * cols);
  float* dinv = c.slotOf<float>(2, rows);
  quantizeKernel<<<static_cast<unsigned>(rows), kThreads, 0, c.stream>>>(dq, dinv, dx, cols);
  checkLaunch("quantizeRows");
  c.download(q, dq, rows * cols);
  c.download(invScale, dinv, rows);
}

void ternaryMatmulT(float* out, const float* dy, const int8_t* w, double gamma, int64_t t, int64_t k, int64_t n) {
  if (t == 0 || k == 0) return;
  Context& c = context();
  std::lock_guard<std::mutex> lock(c.mutex);
  const float* ddy = c.upload(0, dy, t * n);
  const int8_t* dw = c.upload(1, w, n * k);
  float* dout = c.slotOf<float>(2, t * k);
  ternaryTKernel<<<blocksFor(t * k, kThreads), kThreads, 0, c.stream>>>(dout, ddy, dw, gamma, t, k, n);
  checkLaunch("ternaryMatmulT");
  c.download(out, dout, t * k);
}

void rmsnormForward(float* y, float* invRms, const float* x, const float* g, int64_t rows, int64_t cols, double eps) {
  if (rows == 0) return;
  Context& c = context();
  std::lock_guard<std::mutex> lock(c.mutex);
  const float* dx = c.upload(0, x, rows * cols);
  const float* dg = c.upload(1, g, cols);
  float* dy = c.slotOf<float>(2, rows * cols);
  float* dinv = c.slotOf<float>(3, rows);
  rmsnormForwardKernel<<<static_cast<unsigned>(rows), rowThreads(cols), 0, c.stream>>>(dy, dinv, dx, dg, cols, eps);
  checkLaunch("rmsnormForward");
  c.download(y, dy, rows * cols);
  c.download(invRms, dinv, rows);
}

void rmsnormBackward(float* dx, float* dg, const float* x, const float* g, const float* invRms, const float* dy,
                     int64_t rows, int64_t cols) {
  if (rows == 0 && dg == nullptr) return;
  Context& c = context();
  std::lock_guard<std::mutex> lock(c.mutex);
  const float* dX = c.upload(0, x, rows * cols);
  const float* dG = c.upload(1, g, cols);
  const float* dInv = c.upload(2, invRms, rows);
  const float* dDy = c.upload(3, dy, rows * cols);
  float* dDx = c.slotOf<float>(4, rows * cols);
  if (rows > 0) {
    rmsnormBackwardRowsKernel<<<static_cast<unsigned>(rows), rowThreads(cols), 0, c.stream>>>(dDx, dX, dG, dInv,
                                                                                                dDy, cols);
    checkLaunch("rmsnormBackward");
  }
  if (dg != nullptr && cols > 0) {
    float* dDg = c.upload(5, static_cast<const float*>(dg), cols);
    rmsnormGainKernel<<<blocksFor(cols, kThreads), kThreads, 0, c.stream>>>(dDg, dX, dInv, dDy, rows, cols);
    checkLaunch("rmsnormBackward gains");
    c.download(dg, dDg, cols);
  }
  c.download(dx, dDx, rows * cols);
}

void rope(float* x, const float* cos, const float* sin, int64_t t, int64_t heads, int64_t headDim, bool inverse) {
  const int64_t half = headDim / 2;
  const int64_t items = t * heads * half;
  if (items == 0) return;
  Context& c = context();
  std::lock_guard<std::mutex> lock(c.mutex);
  float* dx = c.upload(0, static_cast<const float*>(x), t * heads * headDim);
  const float* dc = c.upload(1, cos, t * half);
  const float* ds = c.upload(2, sin, t * half);
  ropeKernel<<<blocksFor(items, kThreads), kThreads, 0, c.stream>>>(dx, dc, ds, t, heads, half, inverse);
  checkLaunch("rope");
  c.download(x, dx, t * heads * headDim);
}

void attentionForward(float* out, float* probs, const float* q, const float* k, const float* v, int64_t t,
                      int64_t heads, int64_t headDim, double scale) {
  if (t == 0 || heads == 0) return;
  const int64_t size = t * heads * headDim;
  Context& c = context();
  std::lock_guard<std::mutex> lock(c.mutex);
  const float* dq = c.upload(0, q, size);
  const float* dk = c.upload(1, k, size);
  const float* dv = c.upload(2, v, size);
  float* dout = c.slotOf<float>(3, size);
  float* dp = c.slotOf<float>(4, heads * t * t);
  attentionForwardKernel<<<static_cast<unsigned>(heads * t), rowThreads(t > headDim ? t : headDim), 0, c.stream>>>(
      dout, dp, dq, dk, dv, t, heads, headDim, scale);
  checkLaunch("attentionForward");
  c.download(out, dout, size);
  c.download(probs, dp, heads * t * t);
}

void attentionBackward(float* dq, float* dk, float* dv, const float* dout, const float* probs, const float* q,
                       const float* k, const float* v, int64_t t, int64_t heads, int64_t headDim, double scale) {
  if (t == 0 || heads == 0) return;
  const int64_t size = t * heads * headDim;
  Context& c = context();
  std::lock_guard<std::mutex> lock(c.mutex);
  const float* dDout = c.upload(0, dout, size);
  const float* dP = c.upload(1, probs, heads * t * t);
  const float* dQ = c.upload(2, q, size);
  const float* dK = c.upload(3, k, size);
  const float* dV = c.upload(4, v, size);
  float* dG = c.slotOf<float>(5, heads * t * t);
  float* dDq = c.slotOf<float>(6, size);
  float* dDk = c.slotOf<float>(7, size);
  float* dDv = c.slotOf<float>(8, size);
  attentionGradKernel<<<static_cast<unsigned>(heads * t), rowThreads(t), 0, c.stream>>>(dG, dDout, dP, dV, t, heads,
                                                                                        headDim, scale);
  checkLaunch("attentionBackward scores");
  if (size > 0) {
    attentionDqKernel<<<blocksFor(size, kThreads), kThreads, 0, c.stream>>>(dDq, dG, dK, t, heads, headDim);
    checkLaunch("attentionBackward dq");
    attentionDkDvKernel<<<blocksFor(size, kThreads), kThreads, 0, c.stream>>>(dDk, dDv, dG, dP, dQ, dDout, t, heads,
                                                                              headDim);
    checkLaunch("attentionBackward dk dv");
  }
  c.download(dq, dDq, size);
  c.download(dk, dDk, size);
  c.download(dv, dDv, size);
}

void relu2Forward(float* y, const float* x, int64_t n) {
  if (n == 0) return;
  Context& c = context();
  std::lock_guard<std::mutex> lock(c.mutex);
  const float* dx = c.upload(0, x, n);
  float* dy = c.slotOf<float>(1, n);
  relu2ForwardKernel<<<blocksFor(n, kThreads), kThreads, 0, c.stream>>>(dy, dx, n);
  checkLaunch("relu2Forward");
  c.download(y, dy, n);
}

void relu2Backward(float* dx, const float* x, const float* dy, int64_t n) {
  if (n == 0) return;
  Context& c = context();
  std::lock_guard<std::mutex> lock(c.mutex);
  const float* dX = c.upload(0, x, n);
  const float* dDy = c.upload(1, dy, n);
  float* dDx = c.slotOf<float>(2, n);
  relu2BackwardKernel<<<blocksFor(n, kThreads), kThreads, 0, c.stream>>>(dDx, dX, dDy, n);
  checkLaunch("relu2Backward");
  c.download(dx, dDx, n);
}

void addScaled(float* out, const float* a, const float* b, double scale, int64_t n) {
  if (n == 0) return;
  Context& c = context();
  std::lock_guard<std::mutex> lock(c.mutex);
  const float* dA = c.upload(0, a, n);
  const float* dB = c.upload(1, b, n);
  float* dOut = c.slotOf<float>(2, n);
  addScaledKernel<<<blocksFor(n, kThreads), kThreads, 0, c.stream>>>(dOut, dA, dB, scale, n);
  checkLaunch("addScaled");
  c.download(out, dOut, n);
}

float crossEntropy(float* dlogits, const float* logits, const int32_t* targets, int64_t t, int64_t vocab) {
  if (t == 0) return __builtin_nanf("");  // reference: f(0 / 0)
  Context& c = context();
  std::lock_guard<std::mutex> lock(c.mutex);
  const float* dL = c.upload(0, logits, t * vocab);
  const int32_t* dT = c.upload(1, targets, t);
  float* dD = c.slotOf<float>(2, t * vocab);
  float* dRow = c.slotOf<float>(3, t);
  float* dLoss = c.slotOf<float>(4, 1);
  crossEntropyKernel<<<static_cast<unsigned>(t), rowThreads(vocab), 0, c.stream>>>(dD, dRow, dL, dT, t, vocab);
  checkLaunch("crossEntropy");
  meanLossKernel<<<1, 1, 0, c.stream>>>(dLoss, dRow, t);
  checkLaunch("crossEntropy mean");
  float loss = 0.0f;
  c.download(dlogits, dD, t * vocab);
  c.download(&loss, dLoss, 1);
  return loss;
}

void adamw(float* p, float* m, float* v, const float* g, int64_t n, double lr, double beta1, double beta2, double eps,
           double weightDecay, double bc1, double bc2) {
  if (n == 0) return;
  Context& c = context();
  std::lock_guard<std::mutex> lock(c.mutex);
  float* dP = c.upload(0, static_cast<const float*>(p), n);
  float* dM = c.upload(1, static_cast<const float*>(m), n);
  float* dV = c.upload(2, static_cast<const float*>(v), n);
  const float* dG = c.upload(3, g, n);
  const float omb1 = static_cast<float>(1.0 - beta1);
  const float omb2 = static_cast<float>(1.0 - beta2);
  adamwKernel<<<blocksFor(n, kThreads), kThreads, 0, c.stream>>>(dP, dM, dV, dG, n, lr, beta1, beta2, eps,
                                                                 weightDecay, bc1, bc2, omb1, omb2);
  checkLaunch("adamw");
  c.download(p, dP, n);
  c.download(m, dM, n);
  c.download(v, dV, n);
}

void weightedSum(float* out, const float* const* grads, const float* coef, int64_t count, int64_t n) {
  if (n == 0) return;
  Context& c = context();
  std::lock_guard<std::mutex> lock(c.mutex);
  float* dGrads = c.slotOf<float>(0, count * n);
  for (int64_t i = 0; i < count; i++) c.copyToDevice(dGrads + i * n, grads[i], static_cast<size_t>(n) * sizeof(float));
  const float* dCoef = c.upload(1, coef, count);
  float* dOut = c.slotOf<float>(2, n);
  weightedSumKernel<<<blocksFor(n, kThreads), kThreads, 0, c.stream>>>(dOut, dGrads, dCoef, count, n);
  checkLaunch("weightedSum");
  c.download(out, dOut, n);
}

void fmathMap(float* out, const float* x, int64_t n, int op) {
  if (n == 0) return;
  Context& c = context();
  std::lock_guard<std::mutex> lock(c.mutex);
  const float* dX = c.upload(0, x, n);
  float* dOut = c.slotOf<float>(1, n);
  fmathKernel<<<blocksFor(n, kThreads), kThreads, 0, c.stream>>>(dOut, dX, n, op);
  checkLaunch("fmathMap");
  c.download(out, dOut, n);
}

}  // namespace cuda
}  // namespace r3mes
