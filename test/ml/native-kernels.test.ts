/**
 * The `cpu` backend against the `ts` reference, byte for byte: every kernel, many seeded random
 * cases (odd sizes, 1, sizes that are not multiples of any SIMD width, negative zeros, huge and
 * tiny values, NaN and infinities where the kernel passes them through), on every instruction
 * set this CPU can run and with one and two threads. Skipped only when the addon is not built.
 * Where a GPU and the CUDA library are present, every case also runs on the `cuda` backend.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { Worker } from 'node:worker_threads'
import { deriveKey, PhiloxStream } from '../../src/codec/prng.ts'
import { MlConfigError, ShapeError } from '../../src/ml/errors.ts'
import { expf, logf, roundHalfAway, rsqrtf } from '../../src/ml/fmath.ts'
import type { Kernels } from '../../src/ml/kernels/contract.ts'
import {
  cpuKernels,
  cpuKernelsAsync,
  cudaKernels,
  cudaStatus,
  loadNativeAddon,
  NATIVE_ADDON_PATH,
  type NativeAddon,
  nativeStatus,
} from '../../src/ml/kernels/native.ts'
import { availableBackends, backendStatuses, getKernels, selectBackend } from '../../src/ml/kernels/select.ts'
import { tsKernels } from '../../src/ml/kernels/ts-kernels.ts'

const f = Math.fround
const status = nativeStatus()
const addon = loadNativeAddon().addon as NativeAddon
const isas: readonly string[] = status.available ? status.info.isas : []
const cuda = cudaStatus()
const NATIVE_TS_URL = new URL('../../src/ml/kernels/native.ts', import.meta.url).href

function skipUnlessBuilt(ctx: Mocha.Context): void {
  if (!status.available) {
    if (ctx.test !== undefined) ctx.test.title += ` (skipped: ${status.reason})`
    ctx.skip()
  }
}

// ---------------------------------------------------------------------------------------------
// Inputs.

function stream(kernel: string, seed: number): PhiloxStream {
  return new PhiloxStream(deriveKey(`native-kernels-test/${seed}`, kernel))
}

const SPECIAL = [0, -0, 1e-45, -1e-45, 1e-40, -3e-39, 1.1754943508222875e-38, 1e30, -1e30, 3.4028234663852886e38, 0.5]

interface Mix {
  /** Magnitude of ordinary values. */
  scale: number
  /** Probability of a special value (±0, subnormal, huge). */
  special?: number
  /** Probability of NaN or ±Infinity. */
  nonFinite?: number
}

function floats(rng: PhiloxStream, n: number, mix: Mix): Float32Array {
  const out = new Float32Array(n)
  for (let i = 0; i < n; i++) {
    const u = rng.nextU32() / 2 ** 32
    if (u < (mix.nonFinite ?? 0)) {
      out[i] = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY][rng.nextInt(3)] as number
    } else if (u < (mix.nonFinite ?? 0) + (mix.special ?? 0)) {
      out[i] = SPECIAL[rng.nextInt(SPECIAL.length)] as number
    } else {
      // Spread magnitudes over a few binades so that rounding differs from value to value.
      out[i] = f(rng.nextSignedUnit() * mix.scale * 2 ** (rng.nextInt(7) - 3))
    }
  }
  return out
}

function ternary(rng: PhiloxStream, n: number): Int8Array {
  const w = new Int8Array(n)
  for (let i = 0; i < n; i++) w[i] = rng.nextInt(3) - 1
  return w
}

function int8s(rng: PhiloxStream, n: number): Int8Array {
  const q = new Int8Array(n)
  for (let i = 0; i < n; i++) q[i] = rng.nextInt(256) - 128
  return q
}

function bytesOf(a: Float32Array | Int8Array | Uint8Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength)
}

let compared = 0
let cases = 0
let nanPatternsIgnored = 0

/**
 * Asserts equal bytes, naming the first differing element. The one exception: two NaNs match
 * whatever their bits, because the reference's NaN sign and payload are not reproducible (V8
 * may canonicalize a NaN when it stores it, depending on the code path), so no backend can be
 * held to them. Every other value, −0 included, must match bit for bit.
 */
function assertSameBytes(what: string, ref: Float32Array | Int8Array, got: Float32Array | Int8Array): void {
  compared++
  if (bytesOf(ref).equals(bytesOf(got))) return
  for (let i = 0; i < ref.length; i++) {
    const a = ref[i] as number
    const b = got[i] as number
    if (Number.isNaN(a) && Number.isNaN(b)) {
      nanPatternsIgnored++
      continue
    }
    if (!Object.is(a, b)) assert.fail(`${what}: differs at ${i} of ${ref.length}: ts ${a} vs native ${b}`)
  }
}

/**
 * Runs `body` with each backend on fresh copies of the same inputs and compares every output
 * array byte for byte: cpu on every ISA and with 1 and 2 threads, and cuda where it runs.
 */
function compare(label: string, make: () => Float32Array[] | (Float32Array | Int8Array)[], body: CaseBody): void {
  cases++
  const ref = make()
  const refResult = body(tsKernels, ref)
  for (const isa of isas) {
    addon.setIsa(isa)
    for (const threads of [1, 2]) {
      addon.setThreads(threads)
      const got = make()
      const result = body(cpuKernels, got)
      const where = `${label} [${isa}, ${threads} thread${threads > 1 ? 's' : ''}]`
      for (let i = 0; i < ref.length; i++) {
        assertSameBytes(`${where} array ${i}`, ref[i] as Float32Array, got[i] as Float32Array)
      }
      if (refResult !== undefined) {
        assertSameBytes(`${where} result`, Float32Array.of(refResult), Float32Array.of(result as number))
      }
    }
  }
  if (cuda.available) {
    const got = make()
    const result = body(cudaKernels, got)
    for (let i = 0; i < ref.length; i++) {
      assertSameBytes(`${label} [cuda] array ${i}`, ref[i] as Float32Array, got[i] as Float32Array)
    }
    if (refResult !== undefined) {
      assertSameBytes(`${label} [cuda] result`, Float32Array.of(refResult), Float32Array.of(result as number))
    }
  }
}
type CaseBody = (K: Kernels, arrays: (Float32Array | Int8Array)[]) => number | undefined

function restoreDefaults(): void {
  if (!status.available) return
  addon.setIsa(status.info.bestIsa)
  addon.setThreads(status.info.threads)
}

// ---------------------------------------------------------------------------------------------

describe('cpu backend (native) vs ts reference, bytewise', function () {
  this.timeout(120_000)
  before(function () {
    skipUnlessBuilt(this)
  })
  after(restoreDefaults)

  const matmulShapes = [
    [1, 1, 1],
    [1, 7, 1],
    [3, 5, 2],
    [7, 13, 17],
    [16, 8, 8],
    [33, 17, 40],
    [64, 64, 8],
    [8, 64, 64],
    [65, 31, 33],
    [100, 9, 129],
    [5, 300, 3],
    [130, 70, 50],
  ] as const
  for (const variant of ['matmulNT', 'matmulNN', 'matmulTN'] as const) {
    it(`${variant}: ${matmulShapes.length} shapes × 3 seeds`, () => {
      for (const [m, k, n] of matmulShapes) {
        for (let seed = 0; seed < 3; seed++) {
          compare(
            `${variant} ${m}×${k}×${n} seed ${seed}`,
            () => {
              const rng = stream(variant, seed * 1000 + m * 7 + n)
              const mix = { scale: 4, special: seed === 2 ? 0.05 : 0, nonFinite: seed === 2 ? 0.002 : 0 }
              return [new Float32Array(m * n), floats(rng, m * k, mix), floats(rng, k * n, mix)]
            },
            (K, [out, a, b]) => {
              if (variant === 'matmulTN') K.matmulTN(out as Float32Array, a as Float32Array, b as Float32Array, k, m, n)
              else K[variant](out as Float32Array, a as Float32Array, b as Float32Array, m, k, n)
              return undefined
            },
          )
        }
      }
    })
  }

  it('quantizeRows: rows with ties, zeros, tiny, huge, NaN and ±Infinity', () => {
    const shapes = [
      [1, 1],
      [3, 7],
      [16, 64],
      [5, 257],
      [9, 1000],
      [40, 33],
    ] as const
    for (const [rows, cols] of shapes) {
      for (let seed = 0; seed < 4; seed++) {
        compare(
          `quantizeRows ${rows}×${cols} seed ${seed}`,
          () => {
            const rng = stream('quantizeRows', seed * 100 + cols)
            const x = floats(rng, rows * cols, {
              scale: [3, 1e-6, 200, 1][seed] as number,
              special: seed === 3 ? 0.1 : 0.01,
              nonFinite: seed === 3 ? 0.01 : 0,
            })
            if (seed === 1 && cols > 2) {
              // A row whose amax is 127 exactly: scale 1, and values on .5 ties.
              x[0] = 127
              for (let i = 1; i < cols; i++) x[i] = (i % 2 === 0 ? -1 : 1) * (i % 50) + 0.5
            }
            if (seed === 2 && rows > 1) x.fill(0, cols, 2 * cols)
            return [new Int8Array(rows * cols), new Float32Array(rows), x]
          },
          (K, [q, inv, x]) => {
            K.quantizeRows(q as Int8Array, inv as Float32Array, x as Float32Array, rows, cols)
            return undefined
          },
        )
      }
    }
  })

  const ternaryShapes = [
    [1, 1, 1],
    [1, 64, 4],
    [1, 65, 5],
    [3, 127, 9],
    [4, 256, 16],
    [17, 100, 33],
    [5, 1000, 7],
    [1, 4096, 64],
    [70, 64, 130],
    [9, 200, 70],
  ] as const
  it(`ternaryMatmul: ${ternaryShapes.length} shapes × 4 seeds, ternary and general int8 weights`, () => {
    for (const [t, k, n] of ternaryShapes) {
      for (let seed = 0; seed < 4; seed++) {
        compare(
          `ternaryMatmul ${t}×${k}×${n} seed ${seed}`,
          () => {
            const rng = stream('ternaryMatmul', seed * 100 + k)
            const q = int8s(rng, t * k)
            if (seed === 3) q.fill(-128)
            const w = seed >= 2 ? int8s(rng, n * k) : ternary(rng, n * k)
            return [new Float32Array(t * n), q, floats(rng, t, { scale: 0.05, special: 0.05 }), w]
          },
          (K, [out, q, inv, w]) => {
            // A gamma that is not a float32 (a JS double) on odd seeds.
            const gamma = seed % 2 === 1 ? 0.7311 : f(0.7311)
            K.ternaryMatmul(out as Float32Array, q as Int8Array, inv as Float32Array, w as Int8Array, gamma, t, k, n)
            return undefined
          },
        )
      }
    }
  })

  it(`ternaryMatmulT: ${ternaryShapes.length} shapes × 3 seeds, with −0, NaN and ±Infinity in dy`, () => {
    for (const [t, k, n] of ternaryShapes) {
      if (t * k * n > 400_000) continue
      for (let seed = 0; seed < 3; seed++) {
        compare(
          `ternaryMatmulT ${t}×${k}×${n} seed ${seed}`,
          () => {
            const rng = stream('ternaryMatmulT', seed * 100 + k)
            const dy = floats(rng, t * n, { scale: 2, special: 0.1, nonFinite: seed === 2 ? 0.01 : 0 })
            const w = seed === 1 ? int8s(rng, n * k) : ternary(rng, n * k)
            return [new Float32Array(t * k), dy, w]
          },
          (K, [out, dy, w]) => {
            const gamma = seed === 0 ? f(1.25) : 0.3
            K.ternaryMatmulT(out as Float32Array, dy as Float32Array, w as Int8Array, gamma, t, k, n)
            return undefined
          },
        )
      }
    }
  })

  const normShapes = [
    [1, 1],
    [2, 3],
    [7, 64],
    [33, 17],
    [16, 256],
    [300, 40],
  ] as const
  it('rmsnormForward and rmsnormBackward (with and without dg)', () => {
    for (const [rows, cols] of normShapes) {
      for (let seed = 0; seed < 3; seed++) {
        const eps = seed === 0 ? 1e-5 : f(1e-6)
        const make = () => {
          const rng = stream('rmsnorm', seed * 100 + cols)
          const mix = { scale: [1, 1e-3, 50][seed] as number, special: 0.02 }
          return [
            floats(rng, rows * cols, mix),
            floats(rng, cols, { scale: 1.5 }),
            floats(rng, rows * cols, { scale: 1 }),
            floats(rng, cols, { scale: 0.1 }),
          ]
        }
        compare(`rmsnormForward ${rows}×${cols} seed ${seed}`, make, (K, [x, g]) => {
          const y = new Float32Array(rows * cols)
          const inv = new Float32Array(rows)
          K.rmsnormForward(y, inv, x as Float32Array, g as Float32Array, rows, cols, eps)
          x?.set(y)
          g?.set(inv.subarray(0, Math.min(rows, cols)))
          return undefined
        })
        for (const withDg of [true, false]) {
          compare(`rmsnormBackward ${rows}×${cols} seed ${seed} dg ${withDg}`, make, (K, [x, g, dy, dg]) => {
            const y = new Float32Array(rows * cols)
            const inv = new Float32Array(rows)
            tsKernels.rmsnormForward(y, inv, x as Float32Array, g as Float32Array, rows, cols, eps)
            const dx = new Float32Array(rows * cols)
            K.rmsnormBackward(
              dx,
              withDg ? (dg as Float32Array) : null,
              x as Float32Array,
              g as Float32Array,
              inv,
              dy as Float32Array,
              rows,
              cols,
            )
            ;(dy as Float32Array).set(dx)
            return undefined
          })
        }
      }
    }
  })

  it('rope, forward and inverse', () => {
    for (const [t, heads, headDim] of [
      [1, 1, 2],
      [5, 3, 6],
      [17, 4, 16],
      [33, 2, 64],
      [64, 4, 64],
    ] as const) {
      for (const inverse of [false, true]) {
        compare(
          `rope ${t}×${heads}×${headDim} inverse ${inverse}`,
          () => {
            const rng = stream('rope', t * 10 + headDim)
            return [
              floats(rng, t * heads * headDim, { scale: 3, special: 0.02 }),
              floats(rng, (t * headDim) / 2, { scale: 1 }),
              floats(rng, (t * headDim) / 2, { scale: 1 }),
            ]
          },
          (K, [x, c, s]) => {
            K.rope(x as Float32Array, c as Float32Array, s as Float32Array, t, heads, headDim, inverse)
            return undefined
          },
        )
      }
    }
  })

  const attentionShapes = [
    [1, 1, 1],
    [2, 1, 4],
    [5, 2, 8],
    [17, 3, 13],
    [33, 2, 16],
    [40, 4, 64],
    [64, 1, 20],
  ] as const
  it(`attentionForward: ${attentionShapes.length} shapes × 3 seeds`, () => {
    for (const [t, heads, headDim] of attentionShapes) {
      for (let seed = 0; seed < 3; seed++) {
        const size = t * heads * headDim
        compare(
          `attentionForward ${t}×${heads}×${headDim} seed ${seed}`,
          () => {
            const rng = stream('attentionForward', seed * 100 + t)
            const mix = { scale: [1, 8, 0.01][seed] as number, special: seed === 2 ? 0.05 : 0 }
            return [
              new Float32Array(size),
              new Float32Array(heads * t * t).fill(7), // stale values: the kernel must overwrite all
              floats(rng, size, mix),
              floats(rng, size, mix),
              floats(rng, size, mix),
            ]
          },
          (K, [out, probs, q, k, v]) => {
            const scale = seed === 1 ? 0.3 : rsqrtf(headDim)
            K.attentionForward(
              out as Float32Array,
              probs as Float32Array,
              q as Float32Array,
              k as Float32Array,
              v as Float32Array,
              t,
              heads,
              headDim,
              scale,
            )
            return undefined
          },
        )
      }
    }
  })

  it(`attentionBackward: ${attentionShapes.length} shapes × 3 seeds`, () => {
    for (const [t, heads, headDim] of attentionShapes) {
      for (let seed = 0; seed < 3; seed++) {
        const size = t * heads * headDim
        const scale = seed === 1 ? 0.3 : rsqrtf(headDim)
        compare(
          `attentionBackward ${t}×${heads}×${headDim} seed ${seed}`,
          () => {
            const rng = stream('attentionBackward', seed * 100 + t)
            const mix = { scale: [1, 4, 0.5][seed] as number }
            const q = floats(rng, size, mix)
            const k = floats(rng, size, mix)
            const v = floats(rng, size, mix)
            const probs = new Float32Array(heads * t * t)
            tsKernels.attentionForward(new Float32Array(size), probs, q, k, v, t, heads, headDim, scale)
            const dout = floats(rng, size, { scale: 1, special: seed === 2 ? 0.05 : 0 })
            return [new Float32Array(size), new Float32Array(size), new Float32Array(size), dout, probs, q, k, v]
          },
          (K, [dq, dk, dv, dout, probs, q, k, v]) => {
            K.attentionBackward(
              dq as Float32Array,
              dk as Float32Array,
              dv as Float32Array,
              dout as Float32Array,
              probs as Float32Array,
              q as Float32Array,
              k as Float32Array,
              v as Float32Array,
              t,
              heads,
              headDim,
              scale,
            )
            return undefined
          },
        )
      }
    }
  })

  it('relu2Forward, relu2Backward and addScaled (also in place)', () => {
    for (const n of [0, 1, 17, 1000, 70_001]) {
      for (let seed = 0; seed < 3; seed++) {
        const make = () => {
          const rng = stream('elementwise', seed * 1_000_000 + n)
          const mix = { scale: 10, special: 0.05, nonFinite: seed === 2 ? 0.01 : 0 }
          return [floats(rng, n, mix), floats(rng, n, mix), floats(rng, n, mix)]
        }
        compare(`relu2Forward ${n} seed ${seed}`, make, (K, [x, y]) => {
          K.relu2Forward(y as Float32Array, x as Float32Array)
          return undefined
        })
        compare(`relu2Backward ${n} seed ${seed}`, make, (K, [x, dy, dx]) => {
          K.relu2Backward(dx as Float32Array, x as Float32Array, dy as Float32Array)
          return undefined
        })
        for (const scale of [1, f(0.5), 0.1, -3.7, 2]) {
          compare(`addScaled ${n} seed ${seed} scale ${scale}`, make, (K, [a, b, out]) => {
            K.addScaled(out as Float32Array, a as Float32Array, b as Float32Array, scale)
            K.addScaled(a as Float32Array, a as Float32Array, out as Float32Array, scale)
            return undefined
          })
        }
      }
    }
  })

  it('crossEntropy: logits and the returned loss', () => {
    for (const [t, vocab] of [
      [1, 1],
      [1, 2],
      [3, 7],
      [16, 256],
      [37, 256],
      [5, 1000],
    ] as const) {
      for (let seed = 0; seed < 4; seed++) {
        compare(
          `crossEntropy ${t}×${vocab} seed ${seed}`,
          () => {
            const rng = stream('crossEntropy', seed * 100 + t)
            const logits = floats(rng, t * vocab, {
              scale: [1, 30, 100, 5][seed] as number,
              special: seed === 3 ? 0.05 : 0,
            })
            const targets = new Float32Array(t)
            for (let r = 0; r < t; r++) targets[r] = rng.nextInt(vocab)
            return [new Float32Array(t * vocab), logits, targets]
          },
          (K, [dl, logits, targets]) =>
            K.crossEntropy(
              dl as Float32Array,
              logits as Float32Array,
              Int32Array.from(targets as Float32Array),
              t,
              vocab,
            ),
        )
      }
    }
  })

  it('adamw over several steps', () => {
    for (const n of [1, 7, 1000, 20_001]) {
      compare(
        `adamw ${n}`,
        () => {
          const rng = stream('adamw', n)
          return [
            floats(rng, n, { scale: 1 }),
            new Float32Array(n),
            new Float32Array(n),
            floats(rng, n, { scale: 0.01, special: 0.02 }),
          ]
        },
        (K, [p, m, v, g]) => {
          let pow1 = f(1)
          let pow2 = f(1)
          for (let step = 1; step <= 3; step++) {
            pow1 = f(pow1 * f(0.9))
            pow2 = f(pow2 * f(0.999))
            const bc1 = f(1 - pow1)
            const bc2 = f(1 - pow2)
            K.adamw(
              p as Float32Array,
              m as Float32Array,
              v as Float32Array,
              g as Float32Array,
              1e-3,
              0.9,
              0.999,
              1e-8,
              0.01,
              bc1,
              bc2,
            )
          }
          return undefined
        },
      )
    }
  })

  it('weightedSum, also into the first gradient', () => {
    for (const count of [0, 1, 2, 5]) {
      for (const n of [1, 7, 300, 5000]) {
        const make = () => {
          const rng = stream('weightedSum', count * 100_000 + n)
          const arrays = [floats(rng, count, { scale: 1 })]
          for (let i = 0; i < count; i++) arrays.push(floats(rng, n, { scale: 3, special: 0.05 }))
          arrays.push(new Float32Array(n))
          return arrays
        }
        compare(`weightedSum ${count}×${n}`, make, (K, arrays) => {
          const coef = arrays[0] as Float32Array
          const grads = arrays.slice(1, 1 + count) as Float32Array[]
          K.weightedSum(arrays[1 + count] as Float32Array, grads, coef)
          if (count > 0) K.weightedSum(grads[0] as Float32Array, grads, coef)
          return undefined
        })
      }
    }
  })

  it('fmath expf, logf, rsqrtf and roundHalfAway over a wide sweep of float32 bit patterns', () => {
    // Every 257th bit pattern (all exponents, both signs, subnormals, ±Infinity, NaNs), plus the
    // specials and a fine sweep where exp and log change regime.
    const values: number[] = [...SPECIAL, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]
    const bits = new Uint32Array(1)
    const asFloat = new Float32Array(bits.buffer)
    for (let b = 0; b < 2 ** 32; b += 257 * 64) {
      bits[0] = b
      values.push(asFloat[0] as number)
    }
    for (let x = -110; x <= 95; x += 0.0137) values.push(f(x))
    for (let b = 1; b < 0x00800000; b += 4099) {
      bits[0] = b
      values.push(asFloat[0] as number)
    }
    for (let x = 0.5; x < 2; x += 0.00031) values.push(f(x), f(x + 0.5), f(-x - 0.5))
    const x = Float32Array.from(values)
    const refs: [number, (v: number) => number][] = [
      [0, expf],
      [1, logf],
      [2, rsqrtf],
      [3, roundHalfAway],
    ]
    for (const [op, fn] of refs) {
      const ref = x.map((v) => fn(v))
      const got = new Float32Array(x.length)
      addon.fmathMap(got, x, op)
      assertSameBytes(`fmath op ${op} over ${x.length} values`, ref, got)
    }
  })

  it('compared enough arrays', function () {
    assert.ok(compared > 1000, `only ${compared} comparisons ran`)
    if (this.test !== undefined) {
      this.test.title += ` (${cases} cases, ${compared} arrays on ${isas.join('/')} × 1/2 threads; NaN bit patterns set aside: ${nanPatternsIgnored})`
    }
  })
})

describe('cpu backend: off the JS thread', function () {
  this.timeout(60_000)
  before(function () {
    skipUnlessBuilt(this)
  })

  function matmulInputs(seed: number): [Float32Array, Float32Array] {
    const rng = stream('async', seed)
    return [floats(rng, 96 * 80, { scale: 2 }), floats(rng, 72 * 80, { scale: 2 })]
  }

  it('cpuKernelsAsync gives the reference bytes, several calls at once', async () => {
    const jobs = [0, 1, 2, 3].map(async (seed) => {
      const [a, b] = matmulInputs(seed)
      const ref = new Float32Array(96 * 72)
      tsKernels.matmulNT(ref, a, b, 96, 80, 72)
      const out = new Float32Array(96 * 72)
      await cpuKernelsAsync.matmulNT(out, a, b, 96, 80, 72)
      assertSameBytes(`async matmulNT seed ${seed}`, ref, out)
    })
    await Promise.all(jobs)
    const dl = new Float32Array(2 * 3)
    const logits = Float32Array.of(1, 2, 3, -1, 0.5, 4)
    const targets = Int32Array.of(2, 0)
    const loss = await cpuKernelsAsync.crossEntropy(dl, logits, targets, 2, 3)
    assert.equal(loss, tsKernels.crossEntropy(new Float32Array(6), logits, targets, 2, 3))
  })

  it('every kernel has an async form that gives the sync bytes', async () => {
    const rng = stream('async-all', 1)
    const F = (n: number, scale = 1) => floats(rng, n, { scale })
    const [t, heads, hd] = [9, 2, 6]
    const size = t * heads * hd
    const probs = new Float32Array(heads * t * t)
    const [q, k, v] = [F(size), F(size), F(size)]
    tsKernels.attentionForward(new Float32Array(size), probs, q, k, v, t, heads, hd, 0.4)
    // For each kernel: the arguments, with outputs first; outputs are fresh per run.
    const cases: Record<string, () => unknown[]> = {
      matmulNT: () => [new Float32Array(35), F(15), F(21), 5, 3, 7],
      matmulNN: () => [new Float32Array(35), F(15), F(21), 5, 3, 7],
      matmulTN: () => [new Float32Array(35), F(15), F(21), 3, 5, 7],
      quantizeRows: () => [new Int8Array(21), new Float32Array(3), F(21), 3, 7],
      ternaryMatmul: () => [new Float32Array(12), int8s(rng, 30), F(3), ternary(rng, 40), 0.3, 3, 10, 4],
      ternaryMatmulT: () => [new Float32Array(30), F(12), ternary(rng, 40), 0.3, 3, 10, 4],
      rmsnormForward: () => [new Float32Array(21), new Float32Array(3), F(21), F(7), 3, 7, 1e-5],
      rmsnormBackward: () => [new Float32Array(21), F(7), F(21), F(7), F(3), F(21), 3, 7],
      rope: () => [F(size), F(t * 3), F(t * 3), t, heads, hd, true],
      attentionForward: () => [new Float32Array(size), new Float32Array(heads * t * t), q, k, v, t, heads, hd, 0.4],
      attentionBackward: () => [
        new Float32Array(size),
        new Float32Array(size),
        new Float32Array(size),
        F(size),
        probs,
        q,
        k,
        v,
        t,
        heads,
        hd,
        0.4,
      ],
      relu2Forward: () => [new Float32Array(33), F(33)],
      relu2Backward: () => [new Float32Array(33), F(33), F(33)],
      addScaled: () => [new Float32Array(33), F(33), F(33), 0.7],
      crossEntropy: () => [new Float32Array(12), F(12, 5), Int32Array.of(0, 3, 1), 3, 4],
      adamw: () => [F(33), F(33), F(33, 0.1).map(Math.abs), F(33), 1e-3, 0.9, 0.999, 1e-8, 0.01, 0.1, 0.01],
      weightedSum: () => [new Float32Array(33), [F(33), F(33), F(33)], F(3)],
    }
    const sync = cpuKernels as unknown as Record<string, (...a: unknown[]) => unknown>
    const async = cpuKernelsAsync as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>
    assert.deepEqual(Object.keys(cases).sort(), Object.keys(cpuKernelsAsync).sort())
    for (const [name, make] of Object.entries(cases)) {
      const args = make()
      const copies = (a: unknown[]) =>
        a.map((x) =>
          x instanceof Float32Array || x instanceof Int8Array || x instanceof Uint8Array || x instanceof Int32Array
            ? x.slice()
            : Array.isArray(x)
              ? x.map((y: Float32Array) => y.slice())
              : x,
        )
      const a1 = copies(args)
      const a2 = copies(args)
      const r1 = (sync[name] as (...a: unknown[]) => unknown)(...a1)
      const r2 = await (async[name] as (...a: unknown[]) => Promise<unknown>)(...a2)
      assert.equal(r2, r1, `${name} result`)
      for (let i = 0; i < a1.length; i++) {
        const x = a1[i]
        const y = a2[i]
        if (x instanceof Float32Array || x instanceof Int8Array)
          assertSameBytes(`${name} async arg ${i}`, x, y as Float32Array)
      }
    }
  })

  it('async calls validate synchronously', () => {
    assert.throws(
      () => cpuKernelsAsync.matmulNT(new Float32Array(1), new Float32Array(1), new Float32Array(1), 2, 2, 2),
      ShapeError,
    )
  })

  it('loads in worker threads and computes the same bytes there', async () => {
    const [a, b] = matmulInputs(9)
    const ref = new Float32Array(96 * 72)
    tsKernels.matmulNT(ref, a, b, 96, 80, 72)
    const code = `
      const { parentPort, workerData } = require('node:worker_threads')
      const addon = require(workerData.path)
      const out = new Float32Array(96 * 72)
      addon.matmulNT(out, workerData.a, workerData.b, 96, 80, 72)
      parentPort.postMessage(out)
    `
    const results = await Promise.all(
      [0, 1].map(
        () =>
          new Promise<Float32Array>((resolve, reject) => {
            const worker = new Worker(code, { eval: true, workerData: { path: NATIVE_ADDON_PATH, a, b } })
            worker.once('message', (m: Float32Array) => {
              resolve(m)
              void worker.terminate()
            })
            worker.once('error', reject)
          }),
      ),
    )
    for (const r of results) assertSameBytes('worker matmulNT', ref, r)
  })
})

describe('cpu backend: bad input', () => {
  before(function () {
    skipUnlessBuilt(this)
  })

  it('throws ShapeError for lengths that do not match the dimensions', () => {
    const K = cpuKernels
    const f32 = (n: number) => new Float32Array(n)
    assert.throws(() => K.matmulNT(f32(6), f32(6), f32(5), 2, 3, 3), ShapeError)
    assert.throws(() => K.matmulNN(f32(4), f32(6), f32(6), 2, 3, 3), ShapeError)
    assert.throws(() => K.matmulTN(f32(9), f32(6), f32(5), 2, 3, 3), ShapeError)
    assert.throws(() => K.quantizeRows(new Int8Array(6), f32(1), f32(6), 2, 3), ShapeError)
    assert.throws(() => K.ternaryMatmul(f32(4), new Int8Array(6), f32(2), new Int8Array(5), 1, 2, 3, 2), ShapeError)
    assert.throws(() => K.ternaryMatmulT(f32(6), f32(4), new Int8Array(7), 1, 2, 3, 2), ShapeError)
    assert.throws(() => K.rmsnormForward(f32(6), f32(2), f32(6), f32(2), 2, 3, 1e-5), ShapeError)
    assert.throws(() => K.rmsnormBackward(f32(6), f32(2), f32(6), f32(3), f32(2), f32(6), 2, 3), ShapeError)
    assert.throws(() => K.rope(f32(12), f32(5), f32(6), 2, 1, 6, false), ShapeError)
    assert.throws(() => K.rope(f32(10), f32(5), f32(5), 2, 1, 5, false), ShapeError)
    assert.throws(() => K.attentionForward(f32(8), f32(7), f32(8), f32(8), f32(8), 2, 2, 2, 1), ShapeError)
    assert.throws(
      () => K.attentionBackward(f32(8), f32(8), f32(8), f32(8), f32(8), f32(8), f32(9), f32(8), 2, 2, 2, 1),
      ShapeError,
    )
    assert.throws(() => K.relu2Forward(f32(3), f32(4)), ShapeError)
    assert.throws(() => K.relu2Backward(f32(4), f32(4), f32(3)), ShapeError)
    assert.throws(() => K.addScaled(f32(4), f32(4), f32(5), 1), ShapeError)
    assert.throws(() => K.crossEntropy(f32(6), f32(6), new Int32Array(3), 2, 3), ShapeError)
    assert.throws(() => K.adamw(f32(4), f32(4), f32(3), f32(4), 1, 0.9, 0.9, 1e-8, 0, 1, 1), ShapeError)
    assert.throws(() => K.weightedSum(f32(4), [f32(4), f32(3)], f32(2)), ShapeError)
    assert.throws(() => K.weightedSum(f32(4), [f32(4)], f32(2)), ShapeError)
  })

  it('throws ShapeError for bad dimensions, types, targets and overlapping outputs', () => {
    const K = cpuKernels
    const f32 = (n: number) => new Float32Array(n)
    assert.throws(() => K.matmulNT(f32(6), f32(6), f32(9), 2, 3.5, 3), ShapeError)
    assert.throws(() => K.matmulNT(f32(0), f32(0), f32(0), -1, 0, 0), ShapeError)
    assert.throws(() => K.matmulNT(new Float64Array(6) as unknown as Float32Array, f32(6), f32(9), 2, 3, 3), ShapeError)
    assert.throws(() => K.crossEntropy(f32(6), f32(6), Int32Array.of(0, 3), 2, 3), ShapeError)
    assert.throws(() => K.crossEntropy(f32(6), f32(6), Int32Array.of(-1, 0), 2, 3), /outside \[0, 3\)/)
    // Byte targets are not token ids: the element type is checked before C++ reads them.
    assert.throws(() => K.crossEntropy(f32(6), f32(6), Uint8Array.of(0, 1) as unknown as Int32Array, 2, 3), ShapeError)
    const shared = f32(12)
    assert.throws(() => K.matmulNN(shared.subarray(0, 4), shared.subarray(2, 8), f32(6), 2, 3, 2), ShapeError)
    assert.throws(
      () => K.ternaryMatmul(f32(1), new Int8Array(131072), f32(1), new Int8Array(131072), 1, 1, 131072, 1),
      ShapeError,
    )
  })

  it('the addon itself rejects out-of-range calls instead of crashing', () => {
    const raw = addon as unknown as Record<string, (...a: unknown[]) => unknown>
    assert.throws(
      () => raw.matmulNT?.(new Float32Array(1), new Float32Array(1), new Float32Array(1), 100, 100, 100),
      RangeError,
    )
    assert.throws(() => raw.matmulNT?.(new Float32Array(1), 'a', new Float32Array(1), 1, 1, 1), TypeError)
    assert.throws(
      () => raw.crossEntropy?.(new Float32Array(2), new Float32Array(2), Int32Array.of(5), 1, 2),
      RangeError,
    )
    assert.throws(
      () => raw.crossEntropy?.(new Float32Array(2), new Float32Array(2), Int32Array.of(-1), 1, 2),
      RangeError,
    )
    assert.throws(() => raw.crossEntropy?.(new Float32Array(2), new Float32Array(2), Uint8Array.of(1), 1, 2), TypeError)
    assert.throws(() => raw.matmulNT?.(new Float32Array(1)), TypeError)
  })
})

describe('backend selection', () => {
  it('always offers ts, cpu exactly when the addon loaded, cuda exactly when a GPU can run it', () => {
    const names = availableBackends()
    assert.equal(names[0], 'ts')
    assert.equal(names.includes('cpu'), status.available)
    assert.equal(names.includes('cuda'), cuda.available)
    const cpu = backendStatuses().find((b) => b.name === 'cpu')
    assert.equal(cpu?.available, status.available)
    if (!status.available) assert.match(cpu?.reason ?? '', /native/)
  })

  it('auto takes cuda, else cpu when available, else ts with a notice', () => {
    const sel = selectBackend('auto')
    if (cuda.available) {
      assert.equal(sel.kernels.name, 'cuda')
    } else if (status.available) {
      assert.equal(sel.kernels.name, 'cpu')
      assert.equal(sel.notice, undefined)
    } else {
      assert.equal(sel.kernels.name, 'ts')
      assert.equal(typeof sel.notice, 'string')
      assert.equal(selectBackend('auto').notice, undefined, 'the notice comes once')
    }
    assert.equal(getKernels('ts').name, 'ts')
  })

  it('throws MlConfigError for an unknown backend, or cpu/cuda where they cannot run', () => {
    assert.throws(() => selectBackend('gpu'), MlConfigError)
    if (!cuda.available) assert.throws(() => getKernels('cuda'), MlConfigError)
    if (!status.available) assert.throws(() => getKernels('cpu'), MlConfigError)
  })

  it('without a GPU, cuda is reported unavailable with the reason, and its kernels refuse to run', function () {
    if (cuda.available) {
      if (this.test !== undefined) this.test.title += ` (skipped: a GPU is present: ${cuda.device})`
      this.skip()
    }
    const entry = backendStatuses().find((b) => b.name === 'cuda')
    assert.equal(entry?.available, false)
    // The reason names what is missing: the addon, the CUDA library, or a usable driver/device.
    assert.match(entry?.reason ?? '', /native addon|CUDA library is not built|CUDA driver|CUDA device/)
    assert.throws(
      () => selectBackend('cuda'),
      (e: unknown) => e instanceof MlConfigError && e.message.includes(entry?.reason ?? '?'),
    )
    assert.throws(() => cudaKernels.relu2Forward(new Float32Array(2), new Float32Array(2)), MlConfigError)
    if (status.available) {
      assert.throws(() => addon.cuda.relu2Forward?.(new Float32Array(2), new Float32Array(2)), /not available/)
    }
  })

  it('a cuda library that cannot be opened is reported, not thrown', function () {
    if (!status.available) this.skip()
    // A fresh process with R3MES_CUDA_LIB pointing nowhere: the status says the library is missing.
    const script = 'const { cudaStatus } = await import(process.argv[1]); console.log(JSON.stringify(cudaStatus()))'
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', script, NATIVE_TS_URL], {
      encoding: 'utf8',
      env: { ...process.env, R3MES_CUDA_LIB: '/nonexistent/libr3mes_cuda.so' },
    })
    assert.equal(run.status, 0, run.stderr)
    const reported = JSON.parse(run.stdout) as { available: boolean; reason: string }
    assert.equal(reported.available, false)
    assert.match(reported.reason, /CUDA library is not built.*build:cuda/)
  })

  it('a missing addon is reported, not thrown', () => {
    const missing = loadNativeAddon('/nonexistent/r3mes_native.node')
    assert.equal(missing.status.available, false)
    assert.equal(missing.addon, undefined)
    if (!missing.status.available) assert.match(missing.status.reason, /not built/)
  })

  it('golden: a fixed matmul hashes the same on every backend', () => {
    const rng = stream('golden', 1)
    const a = floats(rng, 32 * 48, { scale: 1 })
    const b = floats(rng, 24 * 48, { scale: 1 })
    const hashes = availableBackends().map((name) => {
      const out = new Float32Array(32 * 24)
      getKernels(name).matmulNT(out, a, b, 32, 48, 24)
      return createHash('sha256').update(bytesOf(out)).digest('hex')
    })
    assert.equal(new Set(hashes).size, 1)
  })
})
