/**
 * Float32 arithmetic that gives the same bits on every backend.
 *
 * Every float op here is `Math.fround(a op b)`: for + − × ÷ and sqrt, computing in double and
 * rounding once to float32 gives exactly the IEEE float32 result, so the C++ and CUDA ports
 * (`native-cuda/src/fmath.h`), written with plain float ops, `-ffp-contract=off` and
 * `--fmad=false`, agree bit for bit. Transcendentals are the project's own, built from those
 * ops only, because library `expf`/`logf`/`sinf` differ between libms and GPUs.
 *
 * Each function documents its exact sequence of operations; a port must follow it literally.
 */

const f = Math.fround

/** Round half away from zero, on a float32 value (C: `roundf`). */
export function roundHalfAway(x: number): number {
  return x < 0 ? -Math.round(-x) : Math.round(x)
}

const LOG2E = f(Math.LOG2E)
/** ln 2 split so that `n * LN2_HI` is exact for |n| < 2^9. */
const LN2_HI = f(0.693145751953125)
const LN2_LO = f(1.428606765330187e-6)
const EXP_OVERFLOW = f(88.72283)
const EXP_UNDERFLOW = f(-103.972076)
const EXP_C2 = f(1 / 2)
const EXP_C3 = f(1 / 6)
const EXP_C4 = f(1 / 24)
const EXP_C5 = f(1 / 120)
const EXP_C6 = f(1 / 720)

/**
 * e^x in float32. Range reduction x = n·ln2 + r (Cody–Waite, |r| ≤ ~0.35), Taylor polynomial
 * of degree 6 by Horner, then one multiplication by 2^n (exact power of two, so subnormal
 * results round once).
 */
export function expf(x: number): number {
  if (Number.isNaN(x)) return x
  if (x > EXP_OVERFLOW) return Number.POSITIVE_INFINITY
  if (x < EXP_UNDERFLOW) return 0
  const n = roundHalfAway(f(x * LOG2E))
  const r = f(f(x - f(n * LN2_HI)) - f(n * LN2_LO))
  let p = EXP_C6
  p = f(f(p * r) + EXP_C5)
  p = f(f(p * r) + EXP_C4)
  p = f(f(p * r) + EXP_C3)
  p = f(f(p * r) + EXP_C2)
  p = f(f(p * r) + 1)
  p = f(f(p * r) + 1)
  if (n > 127) return f(f(p * 2 ** 127) * 2 ** (n - 127))
  return f(p * 2 ** n)
}

const SQRT2 = f(Math.SQRT2)
const scratch = new DataView(new ArrayBuffer(4))

/**
 * Natural logarithm in float32. x = m·2^e with m in [√½, √2); log m = 2·atanh(s) with
 * s = (m−1)/(m+1), as an odd series up to s^9; result = e·ln2_hi + (log m + e·ln2_lo).
 */
export function logf(x: number): number {
  if (Number.isNaN(x) || x < 0) return Number.NaN
  if (x === 0) return Number.NEGATIVE_INFINITY
  if (x === Number.POSITIVE_INFINITY) return x
  let e = 0
  let v = f(x)
  if (v < 1.1754943508222875e-38) {
    v = f(v * 8388608) // 2^23: lift subnormals into the normal range
    e = -23
  }
  scratch.setFloat32(0, v, true)
  const bits = scratch.getUint32(0, true)
  e += ((bits >>> 23) & 0xff) - 127
  scratch.setUint32(0, (bits & 0x007fffff) | 0x3f800000, true)
  let m = scratch.getFloat32(0, true)
  if (m > SQRT2) {
    m = f(m * 0.5)
    e += 1
  }
  const fm = f(m - 1)
  const s = f(fm / f(m + 1))
  const z = f(s * s)
  let p = f(1 / 9)
  p = f(f(p * z) + f(1 / 7))
  p = f(f(p * z) + f(1 / 5))
  p = f(f(p * z) + f(1 / 3))
  p = f(f(p * z) + 1)
  const logm = f(f(2 * s) * p)
  return f(f(e * LN2_HI) + f(logm + f(e * LN2_LO)))
}

/** 1/√x in float32: one correctly rounded sqrt, one correctly rounded division. */
export function rsqrtf(x: number): number {
  return f(1 / f(Math.sqrt(x)))
}

/** π/2 split in three (Cephes' π/4 constants doubled) so that k·PIO2_HI is exact for moderate k. */
const PIO2_HI = f(1.5703125)
const PIO2_MID = f(4.837512969970703e-4)
const PIO2_LO = f(7.549789954891882e-8)
const TWO_OVER_PI = f(0.6366197723675814)

function sinPoly(r: number): number {
  const z = f(r * r)
  let p = f(-1 / 5040)
  p = f(f(p * z) + f(1 / 120))
  p = f(f(p * z) + f(-1 / 6))
  p = f(f(p * z) + 1)
  return f(p * r)
}

function cosPoly(r: number): number {
  const z = f(r * r)
  let p = f(1 / 40320)
  p = f(f(p * z) + f(-1 / 720))
  p = f(f(p * z) + f(1 / 24))
  p = f(f(p * z) + f(-1 / 2))
  return f(f(p * z) + 1)
}

/** Reduce x to r in about [−π/4, π/4] with x = k·π/2 + r; returns [quadrant k mod 4, r]. */
function reduceQuadrant(x: number): [number, number] {
  const k = roundHalfAway(f(x * TWO_OVER_PI))
  const r = f(f(f(x - f(k * PIO2_HI)) - f(k * PIO2_MID)) - f(k * PIO2_LO))
  return [((k % 4) + 4) % 4, r]
}

/** sin x in float32, for the |x| ≲ 10^4 that rotary tables need. */
export function sinf(x: number): number {
  const [q, r] = reduceQuadrant(f(x))
  if (q === 0) return sinPoly(r)
  if (q === 1) return cosPoly(r)
  if (q === 2) return -sinPoly(r)
  return -cosPoly(r)
}

/** cos x in float32, for the |x| ≲ 10^4 that rotary tables need. */
export function cosf(x: number): number {
  const [q, r] = reduceQuadrant(f(x))
  if (q === 0) return cosPoly(r)
  if (q === 1) return -sinPoly(r)
  if (q === 2) return -cosPoly(r)
  return sinPoly(r)
}
