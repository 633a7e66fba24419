// The inner loops of the CPU backend, compiled once per instruction set (see isa.h). Before
// including this file a translation unit defines:
//   R3MES_ISA_NS     the namespace for this copy (internal symbols differ per ISA)
//   R3MES_VW         the widest float vector in lanes: 16 (AVX-512), 8 (AVX2) or 4 (SSE2)
//   R3MES_TERNARY    1 = AVX-512 VNNI, 2 = AVX2, 0 = portable integer loops
//   R3MES_TABLE_FN   the name of the function that returns this copy's IsaTable
//
// Float vectors are GCC vector extensions: `a * b` and `a + b` are the IEEE float32 operations
// lane by lane, so a lane computes exactly what the scalar reference computes for its output.
// The build passes -ffp-contract=off, so a product is rounded before it is added.
#include <cstdint>

#include "../fmath.h"
#include "isa.h"

#if R3MES_TERNARY != 0
#include <immintrin.h>
#endif

namespace r3mes {
namespace cpu {
namespace R3MES_ISA_NS {
namespace {

typedef float f4v __attribute__((vector_size(16)));
typedef int32_t i4v __attribute__((vector_size(16)));
typedef int8_t b4v __attribute__((vector_size(4)));
#if R3MES_VW >= 8
typedef float f8v __attribute__((vector_size(32)));
typedef int32_t i8v __attribute__((vector_size(32)));
typedef int8_t b8v __attribute__((vector_size(8)));
#endif
#if R3MES_VW >= 16
typedef float f16v __attribute__((vector_size(64)));
typedef int32_t i16v __attribute__((vector_size(64)));
typedef int8_t b16v __attribute__((vector_size(16)));
#endif

// Lane traits: the float vector type T, its int32 twin and its int8 twin.
template <class T>
struct L;
template <>
struct L<float> {
  static const int n = 1;
  typedef int32_t I;
  typedef int8_t B;
};
template <>
struct L<f4v> {
  static const int n = 4;
  typedef i4v I;
  typedef b4v B;
};
#if R3MES_VW >= 8
template <>
struct L<f8v> {
  static const int n = 8;
  typedef i8v I;
  typedef b8v B;
};
#endif
#if R3MES_VW >= 16
template <>
struct L<f16v> {
  static const int n = 16;
  typedef i16v I;
  typedef b16v B;
};
#endif

template <class T>
static inline T ld(const float* p) {
  T v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}
template <class T>
static inline void st(float* p, T v) {
  __builtin_memcpy(p, &v, sizeof v);
}
template <class T>
static inline T zero() {
  T v;
  __builtin_memset(&v, 0, sizeof v);
  return v;
}
static inline float laneOf(float v, int) { return v; }
template <class T>
static inline float laneOf(T v, int i) {
  return v[i];
}

/** Calls fn(T{}, x) for x covering [a, b): widest vectors first, then narrower, then scalars. */
template <class F>
static inline void forLanes(int64_t a, int64_t b, F&& fn) {
  int64_t x = a;
#if R3MES_VW >= 16
  for (; x + 16 <= b; x += 16) fn(f16v{}, x);
#endif
#if R3MES_VW >= 8
  for (; x + 8 <= b; x += 8) fn(f8v{}, x);
#endif
  for (; x + 4 <= b; x += 4) fn(f4v{}, x);
  for (; x < b; x++) fn(0.0f, x);
}

// ---------------------------------------------------------------------------------------------
// Float matrix product with lanes across outputs.

/** One tile: NV vectors of lanes starting at l, OB "other" outputs starting at o. */
template <class T, int NV, int OB>
static inline void gemmTile(float* out, int64_t osl, int64_t oso, const float* P, int64_t ldp, const float* S,
                            int64_t ssp, int64_t sso, int64_t k, int64_t l, int64_t o) {
  const int W = L<T>::n;
  T acc[OB][NV];
  for (int b = 0; b < OB; b++)
    for (int v = 0; v < NV; v++) acc[b][v] = zero<T>();
  const float* pp = P + l;
  const float* sp = S + o * sso;
  for (int64_t p = 0; p < k; p++) {
    T pv[NV];
    for (int v = 0; v < NV; v++) pv[v] = ld<T>(pp + v * W);
    for (int b = 0; b < OB; b++) {
      const float sv = sp[b * sso];
      for (int v = 0; v < NV; v++) acc[b][v] = acc[b][v] + pv[v] * sv;
    }
    pp += ldp;
    sp += ssp;
  }
  for (int b = 0; b < OB; b++) {
    for (int v = 0; v < NV; v++) {
      float* dst = out + (l + v * W) * osl + (o + b) * oso;
      if (osl == 1) {
        st<T>(dst, acc[b][v]);
      } else {
        for (int i = 0; i < W; i++) dst[i * osl] = laneOf(acc[b][v], i);
      }
    }
  }
}

template <class T, int NV>
static inline void gemmColumn(float* out, int64_t osl, int64_t oso, const float* P, int64_t ldp, const float* S,
                              int64_t ssp, int64_t sso, int64_t k, int64_t l, int64_t o0, int64_t o1) {
  int64_t o = o0;
  if (NV == 1) {
    // One vector of lanes per output row: more rows keep enough independent sums in flight.
    for (; o + 8 <= o1; o += 8) gemmTile<T, NV, 8>(out, osl, oso, P, ldp, S, ssp, sso, k, l, o);
  }
  for (; o + 4 <= o1; o += 4) gemmTile<T, NV, 4>(out, osl, oso, P, ldp, S, ssp, sso, k, l, o);
  for (; o < o1; o++) gemmTile<T, NV, 1>(out, osl, oso, P, ldp, S, ssp, sso, k, l, o);
}

static void gemmLanes(float* out, int64_t osl, int64_t oso, const float* P, int64_t ldp, const float* S, int64_t ssp,
                      int64_t sso, int64_t k, int64_t l0, int64_t l1, int64_t o0, int64_t o1) {
  int64_t l = l0;
#if R3MES_VW >= 16
  for (; l + 32 <= l1; l += 32) gemmColumn<f16v, 2>(out, osl, oso, P, ldp, S, ssp, sso, k, l, o0, o1);
#elif R3MES_VW >= 8
  for (; l + 16 <= l1; l += 16) gemmColumn<f8v, 2>(out, osl, oso, P, ldp, S, ssp, sso, k, l, o0, o1);
#else
  for (; l + 8 <= l1; l += 8) gemmColumn<f4v, 2>(out, osl, oso, P, ldp, S, ssp, sso, k, l, o0, o1);
#endif
  forLanes(l, l1, [&](auto z, int64_t x) {
    gemmColumn<decltype(z), 1>(out, osl, oso, P, ldp, S, ssp, sso, k, x, o0, o1);
  });
}

// ---------------------------------------------------------------------------------------------
// Ternary forward: exact int32 sums, any order.

#if R3MES_TERNARY == 1
// AVX-512 VNNI: vpdpbusd multiplies unsigned bytes by signed bytes. With qb = q + 128 (q xor
// 0x80) in [0, 255], Σ qb·w = Σ q·w + 128·Σ w, so Σ q·w = Σ qb·w − 128·Σ w, exact for every
// int8 q and w (int32 arithmetic wraps, and the true result fits in int32).
static inline int32_t rowSum(const int8_t* w, int64_t k) {
  const __m512i ones = _mm512_set1_epi8(1);
  __m512i acc = _mm512_setzero_si512();
  int64_t p = 0;
  for (; p + 64 <= k; p += 64) acc = _mm512_dpbusd_epi32(acc, ones, _mm512_loadu_si512(w + p));
  if (p < k) {
    const __mmask64 m = _bzhi_u64(~0ull, static_cast<unsigned>(k - p));
    acc = _mm512_dpbusd_epi32(acc, ones, _mm512_maskz_loadu_epi8(m, w + p));
  }
  return _mm512_reduce_add_epi32(acc);
}

/** [Σ a, Σ b, Σ c, Σ d] of four vectors of int32 lanes (wrapping, so exact modulo 2^32). */
static inline __m128i sum4(__m512i a, __m512i b, __m512i c, __m512i d) {
  const __m512i ab = _mm512_add_epi32(_mm512_unpacklo_epi32(a, b), _mm512_unpackhi_epi32(a, b));
  const __m512i cd = _mm512_add_epi32(_mm512_unpacklo_epi32(c, d), _mm512_unpackhi_epi32(c, d));
  // Each 128-bit lane now holds [a, b, a, b] and [c, d, c, d] partial sums.
  const __m512i abcd = _mm512_add_epi32(_mm512_unpacklo_epi64(ab, cd), _mm512_unpackhi_epi64(ab, cd));
  const __m256i half = _mm256_add_epi32(_mm512_castsi512_si256(abcd), _mm512_extracti64x4_epi64(abcd, 1));
  return _mm_add_epi32(_mm256_castsi256_si128(half), _mm256_extracti128_si256(half, 1));
}

// FUSED: also sum the weight rows in the same pass (one pass over the weights, for few
// activation rows); otherwise take the row sums from wsum (computed once per weight row).
template <int RB, int JN, bool FUSED>
static inline void ternaryBlock(float* out, const int8_t* q, const float* rowScale, const int8_t* w,
                                const int32_t* wsum, int64_t k, int64_t n, int64_t r, int64_t j) {
  const __m512i bias = _mm512_set1_epi8(static_cast<char>(0x80));
  const __m512i ones = _mm512_set1_epi8(1);
  __m512i acc[RB][JN];
  __m512i ws[JN];
  for (int a = 0; a < RB; a++)
    for (int b = 0; b < JN; b++) acc[a][b] = _mm512_setzero_si512();
  for (int b = 0; b < JN; b++) ws[b] = _mm512_setzero_si512();
  int64_t p = 0;
  for (; p + 64 <= k; p += 64) {
    __m512i wv[JN];
    for (int b = 0; b < JN; b++) wv[b] = _mm512_loadu_si512(w + (j + b) * k + p);
    if (FUSED) {
      for (int b = 0; b < JN; b++) {
        _mm_prefetch(reinterpret_cast<const char*>(w + (j + b) * k + p + 512), _MM_HINT_T0);
        ws[b] = _mm512_dpbusd_epi32(ws[b], ones, wv[b]);
      }
    }
    for (int a = 0; a < RB; a++) {
      const __m512i qv = _mm512_xor_si512(_mm512_loadu_si512(q + (r + a) * k + p), bias);
      for (int b = 0; b < JN; b++) acc[a][b] = _mm512_dpbusd_epi32(acc[a][b], qv, wv[b]);
    }
  }
  if (p < k) {
    const __mmask64 m = _bzhi_u64(~0ull, static_cast<unsigned>(k - p));
    __m512i wv[JN];
    for (int b = 0; b < JN; b++) wv[b] = _mm512_maskz_loadu_epi8(m, w + (j + b) * k + p);
    if (FUSED) {
      for (int b = 0; b < JN; b++) ws[b] = _mm512_dpbusd_epi32(ws[b], ones, wv[b]);
    }
    for (int a = 0; a < RB; a++) {
      // Masked-off bytes are zero in w, so whatever qb holds there contributes nothing.
      const __m512i qv = _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, q + (r + a) * k + p), bias);
      for (int b = 0; b < JN; b++) acc[a][b] = _mm512_dpbusd_epi32(acc[a][b], qv, wv[b]);
    }
  }
  uint32_t sumW[JN];
  for (int b = 0; b < JN; b++) {
    sumW[b] = FUSED ? static_cast<uint32_t>(_mm512_reduce_add_epi32(ws[b])) : static_cast<uint32_t>(wsum[b]);
  }
  for (int a = 0; a < RB; a++) {
    uint32_t dots[JN];
    if constexpr (JN == 4) {
      int32_t four[4];
      _mm_storeu_si128(reinterpret_cast<__m128i*>(four), sum4(acc[a][0], acc[a][1], acc[a][2], acc[a][3]));
      for (int b = 0; b < 4; b++) dots[b] = static_cast<uint32_t>(four[b]);
    } else {
      for (int b = 0; b < JN; b++) dots[b] = static_cast<uint32_t>(_mm512_reduce_add_epi32(acc[a][b]));
    }
    for (int b = 0; b < JN; b++) {
      const uint32_t dot = dots[b] - 128u * sumW[b];
      out[(r + a) * n + j + b] =
          static_cast<float>(static_cast<double>(static_cast<int32_t>(dot)) * static_cast<double>(rowScale[r + a]));
    }
  }
}
#define R3MES_NEEDS_WSUM 1
#elif R3MES_TERNARY == 2
// AVX2: widen to int16 and use vpmaddwd (pairs of int16 products summed into int32): exact for
// every int8 q and w.
static inline int32_t hsum256(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return _mm_cvtsi128_si32(s);
}

template <int RB, int JN, bool>
static inline void ternaryBlock(float* out, const int8_t* q, const float* rowScale, const int8_t* w, const int32_t*,
                                int64_t k, int64_t n, int64_t r, int64_t j) {
  __m256i acc[RB][JN];
  for (int a = 0; a < RB; a++)
    for (int b = 0; b < JN; b++) acc[a][b] = _mm256_setzero_si256();
  int64_t p = 0;
  for (; p + 16 <= k; p += 16) {
    __m256i wv[JN];
    for (int b = 0; b < JN; b++)
      wv[b] = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + (j + b) * k + p)));
    for (int a = 0; a < RB; a++) {
      const __m256i qv = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q + (r + a) * k + p)));
      for (int b = 0; b < JN; b++) acc[a][b] = _mm256_add_epi32(acc[a][b], _mm256_madd_epi16(qv, wv[b]));
    }
  }
  for (int a = 0; a < RB; a++) {
    for (int b = 0; b < JN; b++) {
      int32_t dot = hsum256(acc[a][b]);
      for (int64_t pp = p; pp < k; pp++) dot += static_cast<int32_t>(q[(r + a) * k + pp]) * w[(j + b) * k + pp];
      out[(r + a) * n + j + b] =
          static_cast<float>(static_cast<double>(dot) * static_cast<double>(rowScale[r + a]));
    }
  }
}
#else
template <int RB, int JN, bool>
static inline void ternaryBlock(float* out, const int8_t* q, const float* rowScale, const int8_t* w, const int32_t*,
                                int64_t k, int64_t n, int64_t r, int64_t j) {
  for (int a = 0; a < RB; a++) {
    for (int b = 0; b < JN; b++) {
      const int8_t* qr = q + (r + a) * k;
      const int8_t* wr = w + (j + b) * k;
      int32_t dot = 0;
      for (int64_t p = 0; p < k; p++) dot += static_cast<int32_t>(qr[p]) * wr[p];
      out[(r + a) * n + j + b] =
          static_cast<float>(static_cast<double>(dot) * static_cast<double>(rowScale[r + a]));
    }
  }
}
#endif

template <int RB, bool FUSED>
static inline void ternaryRowBlock(float* out, const int8_t* q, const float* rowScale, const int8_t* w,
                                   const int32_t* wsum, int64_t k, int64_t n, int64_t r, int64_t j, int64_t jn) {
  switch (jn) {
    case 4:
      ternaryBlock<RB, 4, FUSED>(out, q, rowScale, w, wsum, k, n, r, j);
      break;
    case 3:
      ternaryBlock<RB, 3, FUSED>(out, q, rowScale, w, wsum, k, n, r, j);
      break;
    case 2:
      ternaryBlock<RB, 2, FUSED>(out, q, rowScale, w, wsum, k, n, r, j);
      break;
    default:
      ternaryBlock<RB, 1, FUSED>(out, q, rowScale, w, wsum, k, n, r, j);
      break;
  }
}

template <bool FUSED>
static inline void ternaryRowsBlocked(float* out, const int8_t* q, const float* rowScale, const int8_t* w,
                                      const int32_t* ws, int64_t k, int64_t n, int64_t r, int64_t rb, int64_t j,
                                      int64_t jn) {
  switch (rb) {
    case 4:
      ternaryRowBlock<4, FUSED>(out, q, rowScale, w, ws, k, n, r, j, jn);
      break;
    case 3:
      ternaryRowBlock<3, FUSED>(out, q, rowScale, w, ws, k, n, r, j, jn);
      break;
    case 2:
      ternaryRowBlock<2, FUSED>(out, q, rowScale, w, ws, k, n, r, j, jn);
      break;
    default:
      ternaryRowBlock<1, FUSED>(out, q, rowScale, w, ws, k, n, r, j, jn);
      break;
  }
}

static void ternaryRows(float* out, const int8_t* q, const float* rowScale, const int8_t* w, int64_t k, int64_t n,
                        int64_t r0, int64_t r1, int64_t j0, int64_t j1) {
  if (r1 - r0 <= 4) {
    // Few activation rows (a matrix-vector product): one streaming pass over the weights.
    for (int64_t j = j0; j < j1; j += 4) {
      const int64_t jn = j1 - j < 4 ? j1 - j : 4;
      ternaryRowsBlocked<true>(out, q, rowScale, w, nullptr, k, n, r0, r1 - r0, j, jn);
    }
    return;
  }
  // Weight rows in chunks that stay in cache while every activation row passes over them.
  const int64_t chunk = 64;
  int32_t wsum[64];
  for (int64_t jc = j0; jc < j1; jc += chunk) {
    const int64_t jcEnd = jc + chunk < j1 ? jc + chunk : j1;
#ifdef R3MES_NEEDS_WSUM
    for (int64_t j = jc; j < jcEnd; j++) wsum[j - jc] = rowSum(w + j * k, k);
#endif
    for (int64_t r = r0; r < r1; r += 4) {
      const int64_t rb = r1 - r < 4 ? r1 - r : 4;
      for (int64_t j = jc; j < jcEnd; j += 4) {
        const int64_t jn = jcEnd - j < 4 ? jcEnd - j : 4;
        ternaryRowsBlocked<false>(out, q, rowScale, w, wsum + (j - jc), k, n, r, rb, j, jn);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Ternary input gradient: float folds over j with lanes across input columns c.

template <class T, int RB>
static inline void ternaryTTile(float* out, const float* dy, const int8_t* w, double gamma, int64_t k, int64_t n,
                                int64_t r, int64_t c) {
  typedef typename L<T>::I I;
  typedef typename L<T>::B B;
  const int W = L<T>::n;
  T acc[RB];
  for (int a = 0; a < RB; a++) acc[a] = zero<T>();
  const int8_t* wp = w + c;
  for (int64_t j = 0; j < n; j++, wp += k) {
    B wb;
    __builtin_memcpy(&wb, wp, sizeof wb);
    I wi;
    if constexpr (W == 1) {
      wi = wb;
    } else {
      wi = __builtin_convertvector(wb, I);
    }
    // w > 0 → +dy, w < 0 → −dy (flip the sign bit), w = 0 → +0, which leaves the sum as it is
    // (the sum starts at +0 and can never become −0), exactly like skipping the term.
    I nz;
    I neg;
    if constexpr (W == 1) {
      nz = wi != 0 ? -1 : 0;
      neg = wi < 0 ? INT32_MIN : 0;
    } else {
      nz = wi != 0;                    // lanes: −1 where w ≠ 0, else 0
      neg = (wi < 0) & INT32_MIN;      // lanes: the sign bit where w < 0
    }
    for (int a = 0; a < RB; a++) {
      const int32_t bits = static_cast<int32_t>(r3mes_fmath::floatToBits(dy[(r + a) * n + j]));
      const I term = (neg ^ bits) & nz;
      T tf;
      __builtin_memcpy(&tf, &term, sizeof tf);
      acc[a] = acc[a] + tf;
    }
  }
  for (int a = 0; a < RB; a++) {
    for (int l = 0; l < W; l++) {
      out[(r + a) * k + c + l] = static_cast<float>(static_cast<double>(laneOf(acc[a], l)) * gamma);
    }
  }
}

#if R3MES_TERNARY == 1
// AVX-512: the weight bytes give the lane masks directly (w ≠ 0, w < 0); a masked xor flips the
// sign of dy, a masked add leaves the lanes with w = 0 untouched (exactly a skipped term).
template <int RB, int NV>
static inline void ternaryTTile512(float* out, const float* dy, const int8_t* w, double gamma, int64_t k, int64_t n,
                                   int64_t r, int64_t c) {
  const __m512i sign = _mm512_set1_epi32(INT32_MIN);
  __m512 acc[RB][NV];
  for (int a = 0; a < RB; a++)
    for (int v = 0; v < NV; v++) acc[a][v] = _mm512_setzero_ps();
  const int8_t* wp = w + c;
  for (int64_t j = 0; j < n; j++, wp += k) {
    __mmask16 nz[NV];
    __mmask16 neg[NV];
    for (int v = 0; v < NV; v++) {
      const __m128i wb = _mm_loadu_si128(reinterpret_cast<const __m128i*>(wp + 16 * v));
      nz[v] = _mm_test_epi8_mask(wb, wb);
      neg[v] = _mm_movepi8_mask(wb);
    }
    for (int a = 0; a < RB; a++) {
      const __m512i d = _mm512_set1_epi32(static_cast<int32_t>(r3mes_fmath::floatToBits(dy[(r + a) * n + j])));
      for (int v = 0; v < NV; v++) {
        const __m512 term = _mm512_castsi512_ps(_mm512_mask_xor_epi32(d, neg[v], d, sign));
        acc[a][v] = _mm512_mask_add_ps(acc[a][v], nz[v], acc[a][v], term);
      }
    }
  }
  for (int a = 0; a < RB; a++) {
    for (int v = 0; v < NV; v++) {
      float lanes[16];
      _mm512_storeu_ps(lanes, acc[a][v]);
      float* dst = out + (r + a) * k + c + 16 * v;
      for (int l = 0; l < 16; l++) dst[l] = static_cast<float>(static_cast<double>(lanes[l]) * gamma);
    }
  }
}

template <int NV>
static inline void ternaryTColumn512(float* out, const float* dy, const int8_t* w, double gamma, int64_t k, int64_t n,
                                     int64_t r0, int64_t r1, int64_t c) {
  int64_t r = r0;
  for (; r + 4 <= r1; r += 4) ternaryTTile512<4, NV>(out, dy, w, gamma, k, n, r, c);
  for (; r < r1; r++) ternaryTTile512<1, NV>(out, dy, w, gamma, k, n, r, c);
}
#endif

static void ternaryTRows(float* out, const float* dy, const int8_t* w, double gamma, int64_t k, int64_t n,
                         int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
#if R3MES_TERNARY == 1
  for (; c0 + 64 <= c1; c0 += 64) ternaryTColumn512<4>(out, dy, w, gamma, k, n, r0, r1, c0);
  for (; c0 + 16 <= c1; c0 += 16) ternaryTColumn512<1>(out, dy, w, gamma, k, n, r0, r1, c0);
#endif
  forLanes(c0, c1, [&](auto z, int64_t c) {
    typedef decltype(z) T;
    int64_t r = r0;
    for (; r + 4 <= r1; r += 4) ternaryTTile<T, 4>(out, dy, w, gamma, k, n, r, c);
    for (; r < r1; r++) ternaryTTile<T, 1>(out, dy, w, gamma, k, n, r, c);
  });
}

// ---------------------------------------------------------------------------------------------
// Attention.

static void attnForwardRows(float* out, float* probs, const float* q, const float* kT, const float* v, int64_t t,
                            int64_t heads, int64_t headDim, double scale, int64_t h, int64_t i0, int64_t i1) {
  const int64_t width = heads * headDim;
  const int64_t off = h * headDim;
  const float* kTh = kT + off * t;
  for (int64_t i = i0; i < i1; i++) {
    float* prow = probs + (h * t + i) * t;
    const float* qi = q + i * width + off;
    // Dots s_j = q_i·k_j, each a fold over d; lanes across j.
    forLanes(0, i + 1, [&](auto z, int64_t j) {
      typedef decltype(z) T;
      T acc = zero<T>();
      for (int64_t d = 0; d < headDim; d++) acc = acc + ld<T>(kTh + d * t + j) * qi[d];
      st<T>(prow + j, acc);
    });
    float m = -__builtin_inff();
    for (int64_t j = 0; j <= i; j++) {
      const float s = static_cast<float>(static_cast<double>(prow[j]) * scale);
      prow[j] = s;
      if (s > m) m = s;
    }
    float zsum = 0.0f;
    for (int64_t j = 0; j <= i; j++) {
      const float e = r3mes_fmath::expf(prow[j] - m);
      prow[j] = e;
      zsum = zsum + e;
    }
    for (int64_t j = 0; j <= i; j++) prow[j] = prow[j] / zsum;
    for (int64_t j = i + 1; j < t; j++) prow[j] = 0.0f;
    // out_i[d] = fold over j of p_j·v_j[d]; lanes across d.
    forLanes(0, headDim, [&](auto z, int64_t d) {
      typedef decltype(z) T;
      T acc = zero<T>();
      const float* vp = v + off + d;
      for (int64_t j = 0; j <= i; j++, vp += width) acc = acc + ld<T>(vp) * prow[j];
      st<T>(out + i * width + off + d, acc);
    });
  }
}

static void attnBackwardRows(float* dq, float* g, const float* dout, const float* probs, const float* k,
                             const float* vT, int64_t t, int64_t heads, int64_t headDim, double scale, int64_t h,
                             int64_t i0, int64_t i1) {
  const int64_t width = heads * headDim;
  const int64_t off = h * headDim;
  const float* vTh = vT + off * t;
  for (int64_t i = i0; i < i1; i++) {
    float* grow = g + (h * t + i) * t;
    const float* prow = probs + (h * t + i) * t;
    const float* di = dout + i * width + off;
    forLanes(0, i + 1, [&](auto z, int64_t j) {
      typedef decltype(z) T;
      T acc = zero<T>();
      for (int64_t d = 0; d < headDim; d++) acc = acc + ld<T>(vTh + d * t + j) * di[d];
      st<T>(grow + j, acc);
    });
    float sum = 0.0f;
    for (int64_t j = 0; j <= i; j++) sum = sum + prow[j] * grow[j];
    for (int64_t j = 0; j <= i; j++) {
      grow[j] = static_cast<float>(static_cast<double>(prow[j] * (grow[j] - sum)) * scale);
    }
    forLanes(0, headDim, [&](auto z, int64_t d) {
      typedef decltype(z) T;
      T acc = zero<T>();
      const float* kp = k + off + d;
      for (int64_t j = 0; j <= i; j++, kp += width) acc = acc + ld<T>(kp) * grow[j];
      st<T>(dq + i * width + off + d, acc);
    });
  }
}

static void attnBackwardCols(float* dk, float* dv, const float* g, const float* dout, const float* probs,
                             const float* q, int64_t t, int64_t heads, int64_t headDim, int64_t h, int64_t j0,
                             int64_t j1) {
  const int64_t width = heads * headDim;
  const int64_t off = h * headDim;
  for (int64_t j = j0; j < j1; j++) {
    forLanes(0, headDim, [&](auto z, int64_t d) {
      typedef decltype(z) T;
      T accK = zero<T>();
      T accV = zero<T>();
      for (int64_t i = j; i < t; i++) {
        const int64_t gi = (h * t + i) * t + j;
        accK = accK + ld<T>(q + i * width + off + d) * g[gi];
        accV = accV + ld<T>(dout + i * width + off + d) * probs[gi];
      }
      st<T>(dk + j * width + off + d, accK);
      st<T>(dv + j * width + off + d, accV);
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Bandwidth probe: xor-fold every 8-byte word with the widest vectors (no float involved).

static uint64_t streamRead(const uint8_t* data, int64_t b0, int64_t b1) {
  typedef uint64_t u64v __attribute__((vector_size(R3MES_VW * 4)));
  const int64_t step = static_cast<int64_t>(sizeof(u64v));
  u64v a0 = {}, a1 = {}, a2 = {}, a3 = {};
  int64_t b = b0;
  for (; b + 4 * step <= b1; b += 4 * step) {
    u64v x0, x1, x2, x3;
    __builtin_memcpy(&x0, data + b, sizeof x0);
    __builtin_memcpy(&x1, data + b + step, sizeof x1);
    __builtin_memcpy(&x2, data + b + 2 * step, sizeof x2);
    __builtin_memcpy(&x3, data + b + 3 * step, sizeof x3);
    a0 ^= x0;
    a1 ^= x1;
    a2 ^= x2;
    a3 ^= x3;
  }
  a0 ^= a1 ^ a2 ^ a3;
  uint64_t h = 0;
  for (int i = 0; i < static_cast<int>(sizeof(u64v) / 8); i++) h ^= a0[i];
  for (; b < b1; b++) h ^= data[b];
  return h;
}

#if R3MES_VW >= 16
const char kName[] = "avx512";
#elif R3MES_VW >= 8
const char kName[] = "avx2";
#else
const char kName[] = "scalar";
#endif

const IsaTable kTable = {
    kName,           gemmLanes,        ternaryRows,      ternaryTRows,
    attnForwardRows, attnBackwardRows, attnBackwardCols, streamRead,
};

}  // namespace
}  // namespace R3MES_ISA_NS

const IsaTable* R3MES_TABLE_FN() { return &R3MES_ISA_NS::kTable; }

}  // namespace cpu
}  // namespace r3mes
