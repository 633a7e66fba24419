// Float32 transcendentals that give the same bits on every backend: a literal port of
// src/ml/fmath.ts (exp, log, rsqrt, sin, cos, roundHalfAway). Every line mirrors one line of
// the TypeScript reference; each float op is rounded on its own (build with -ffp-contract=off,
// no fast-math, and, for CUDA, --fmad=false; the CUDA files define R3MES_HD as
// __host__ __device__ so that the same functions run on the GPU). Constants are written as
// exact float32 bit patterns (the hex in each comment is the IEEE bit pattern of the TypeScript
// `Math.fround(...)` value).
//
// The functions are `static inline` on purpose: this header is compiled into translation units
// built for different instruction sets, and internal linkage keeps the linker from picking an
// AVX-512 copy for a machine without AVX-512.
#pragma once

#include <cstdint>
#include <cstring>

#ifndef R3MES_HD
#define R3MES_HD
#endif

namespace r3mes_fmath {

static inline R3MES_HD float bitsToFloat(uint32_t b) {
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}

static inline R3MES_HD uint32_t floatToBits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}

/** Exact 2^n as a double, for -1022 <= n <= 1023 (built from its bits, no libm). */
static inline R3MES_HD double pow2d(int n) {
  const uint64_t b = static_cast<uint64_t>(n + 1023) << 52;
  double d;
  std::memcpy(&d, &b, 8);
  return d;
}

/** Round half away from zero (JS: x < 0 ? -Math.round(-x) : Math.round(x)); NaN stays NaN. */
static inline R3MES_HD float roundHalfAway(float x) { return __builtin_roundf(x); }

static const float LOG2E = 0x1.715476p0f;           // 0x3fb8aa3b
static const float LN2_HI = 0x1.62e4p-1f;           // 0x3f317200
static const float LN2_LO = 0x1.7f7d1cp-20f;        // 0x35bfbe8e
static const float EXP_OVERFLOW = 0x1.62e42ep6f;    // 0x42b17217
static const float EXP_UNDERFLOW = -0x1.9fe368p6f;  // 0xc2cff1b4
static const float EXP_C2 = 0x1p-1f;                // 0x3f000000
static const float EXP_C3 = 0x1.555556p-3f;         // 0x3e2aaaab
static const float EXP_C4 = 0x1.555556p-5f;         // 0x3d2aaaab
static const float EXP_C5 = 0x1.111112p-7f;         // 0x3c088889
static const float EXP_C6 = 0x1.6c16c2p-10f;        // 0x3ab60b61
static const float SQRT2 = 0x1.6a09e6p0f;           // 0x3fb504f3
static const float LOG_C9 = 0x1.c71c72p-4f;         // 0x3de38e39  f(1/9)
static const float LOG_C7 = 0x1.24924ap-3f;         // 0x3e124925  f(1/7)
static const float LOG_C5 = 0x1.99999ap-3f;         // 0x3e4ccccd  f(1/5)
static const float LOG_C3 = 0x1.555556p-2f;         // 0x3eaaaaab  f(1/3)
static const float FLT_MIN_NORMAL = 0x1p-126f;      // 0x00800000

/** e^x: fmath.ts `expf`, line for line. */
static inline R3MES_HD float expf(float x) {
  if (x != x) return x;
  if (x > EXP_OVERFLOW) return __builtin_inff();
  if (x < EXP_UNDERFLOW) return 0.0f;
  const float n = roundHalfAway(x * LOG2E);
  const float r = (x - n * LN2_HI) - n * LN2_LO;
  float p = EXP_C6;
  p = p * r + EXP_C5;
  p = p * r + EXP_C4;
  p = p * r + EXP_C3;
  p = p * r + EXP_C2;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  // JS multiplies the float32 p by the double 2 ** n and rounds the exact product once; in
  // double the product of a float and a power of two is exact (n >= -150 here), so one
  // conversion to float rounds once, subnormal results included.
  const int ni = static_cast<int>(n);
  if (ni > 127) {
    const float big = static_cast<float>(static_cast<double>(p) * pow2d(127));
    return static_cast<float>(static_cast<double>(big) * pow2d(ni - 127));
  }
  return static_cast<float>(static_cast<double>(p) * pow2d(ni));
}

/** Natural logarithm: fmath.ts `logf`, line for line. */
static inline R3MES_HD float logf(float x) {
  if (x != x || x < 0.0f) return __builtin_nanf("");
  if (x == 0.0f) return -__builtin_inff();
  if (x == __builtin_inff()) return x;
  int e = 0;
  float v = x;
  if (v < FLT_MIN_NORMAL) {
    v = v * 8388608.0f;  // 2^23: lift subnormals into the normal range
    e = -23;
  }
  const uint32_t bits = floatToBits(v);
  e += static_cast<int>((bits >> 23) & 0xffu) - 127;
  float m = bitsToFloat((bits & 0x007fffffu) | 0x3f800000u);
  if (m > SQRT2) {
    m = m * 0.5f;
    e += 1;
  }
  const float fm = m - 1.0f;
  const float s = fm / (m + 1.0f);
  const float z = s * s;
  float p = LOG_C9;
  p = p * z + LOG_C7;
  p = p * z + LOG_C5;
  p = p * z + LOG_C3;
  p = p * z + 1.0f;
  const float logm = (2.0f * s) * p;
  // e·LN2 in JS is an exact double product (|e| < 2^8) rounded once; float(e) is exact and the
  // float multiply rounds the same exact product once.
  const float fe = static_cast<float>(e);
  return fe * LN2_HI + (logm + fe * LN2_LO);
}

/** 1/sqrt(x): one correctly rounded sqrt, one correctly rounded division. */
static inline R3MES_HD float rsqrtf(float x) { return 1.0f / __builtin_sqrtf(x); }

// sin and cos (fmath.ts `sinf`, `cosf`): quadrant reduction with pi/2 split in three, then
// Taylor polynomials by Horner. Each constant is the float32 rounding of the reference's double.
static const float PIO2_HI = 1.5703125f;
static const float PIO2_MID = static_cast<float>(4.837512969970703e-4);
static const float PIO2_LO = static_cast<float>(7.549789954891882e-8);
static const float TWO_OVER_PI = static_cast<float>(0.6366197723675814);

static inline R3MES_HD float sinPoly(float r) {
  const float z = r * r;
  float p = static_cast<float>(-1.0 / 5040.0);
  p = p * z + static_cast<float>(1.0 / 120.0);
  p = p * z + static_cast<float>(-1.0 / 6.0);
  p = p * z + 1.0f;
  return p * r;
}

static inline R3MES_HD float cosPoly(float r) {
  const float z = r * r;
  float p = static_cast<float>(1.0 / 40320.0);
  p = p * z + static_cast<float>(-1.0 / 720.0);
  p = p * z + static_cast<float>(1.0 / 24.0);
  p = p * z + static_cast<float>(-1.0 / 2.0);
  return p * z + 1.0f;
}

/** x = k·pi/2 + r; returns k mod 4 and sets r. */
static inline R3MES_HD int reduceQuadrant(float x, float* r) {
  const float k = roundHalfAway(x * TWO_OVER_PI);
  *r = ((x - k * PIO2_HI) - k * PIO2_MID) - k * PIO2_LO;
  const int ki = static_cast<int>(k);
  return ((ki % 4) + 4) % 4;
}

/** sin x for the |x| up to about 10^4 that rotary tables need: fmath.ts `sinf`. */
static inline R3MES_HD float sinf(float x) {
  float r;
  const int q = reduceQuadrant(x, &r);
  if (q == 0) return sinPoly(r);
  if (q == 1) return cosPoly(r);
  if (q == 2) return -sinPoly(r);
  return -cosPoly(r);
}

/** cos x: fmath.ts `cosf`. */
static inline R3MES_HD float cosf(float x) {
  float r;
  const int q = reduceQuadrant(x, &r);
  if (q == 0) return cosPoly(r);
  if (q == 1) return -sinPoly(r);
  if (q == 2) return -cosPoly(r);
  return sinPoly(r);
}

}  // namespace r3mes_fmath
