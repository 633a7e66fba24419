/**
 * The native backends, loaded as one Node-API addon (native-cuda/): `cpu`, the kernel contract in
 * C++, and `cuda`, the same kernels on an NVIDIA GPU, which the addon opens from a separately
 * built library (`npm run build:cuda`) only where a GPU is present.
 *
 * The addon is optional: `npm ci` builds it when a C++ compiler is present, and everything
 * else runs on the `ts` reference when it is not. `nativeStatus()` says whether it loaded and,
 * if not, why. Every call is validated here first (lengths against dimensions, overlapping
 * buffers), so bad input gives a typed `ShapeError` and never reaches C++; the addon checks
 * again as a backstop.
 *
 * The addon keeps no per-instance state, so it may be loaded in any number of worker threads.
 * `cpuKernelsAsync` runs the same kernels on libuv's thread pool and resolves when done; the
 * caller must leave the arrays alone until then.
 */
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { MlConfigError, ShapeError } from '../errors.ts'
import type { Kernels } from './contract.ts'

/** The addon's exports version this wrapper speaks (native-cuda/src/binding/addon.cpp). */
const ABI_VERSION = 2

/** The default location of the built addon. */
export const NATIVE_ADDON_PATH = fileURLToPath(new URL('../../../native-cuda/build/r3mes_native.node', import.meta.url))

/** What the loaded addon reports about itself. */
export interface NativeInfo {
  readonly abi: number
  /** Instruction set in use: 'scalar', 'avx2' or 'avx512'. */
  readonly isa: string
  /** The best instruction set this CPU supports. */
  readonly bestIsa: string
  /** Every instruction set this CPU can run, for tests that compare them. */
  readonly isas: readonly string[]
  readonly threads: number
  /** True only for the bench-only fast-math build. */
  readonly fastMath: boolean
}

export type NativeStatus =
  | { readonly available: true; readonly path: string; readonly info: NativeInfo }
  | { readonly available: false; readonly path: string; readonly reason: string }

type KernelName = Exclude<keyof Kernels, 'name'>
type AnyFn = (...args: unknown[]) => unknown

/** The raw addon: every kernel sync and `…Async`, plus settings. Exported for benches and tests. */
export interface NativeAddon {
  info(): NativeInfo
  /** Process-wide: picks the instruction set (clamped to what the CPU has); returns the one set. */
  setIsa(isa: string): string
  /** Process-wide: threads per kernel call; returns the count set. */
  setThreads(n: number): number
  /** Elementwise fmath for tests: op 0 expf, 1 logf, 2 rsqrtf, 3 roundHalfAway. */
  fmathMap(out: Float32Array, x: Float32Array, op: number): void
  /** Reads every byte once from all threads (a bandwidth probe); returns a checksum. */
  streamRead(data: Uint8Array): number
  /** The CUDA backend's kernels (sync and `…Async`); each throws when the backend cannot run. */
  readonly cuda: Readonly<Record<string, ((...args: unknown[]) => unknown) | undefined>>
  /** Whether the CUDA backend can run here: `detail` names the device, or says why not. */
  cudaStatus(): { available: boolean; detail: string; path: string }
  /** The GPU benchmarks as a JSON string (throws without a GPU); `quick` shrinks the shapes. */
  cudaBench(quick: boolean): string
}

const loaded = new Map<string, { addon?: NativeAddon; status: NativeStatus }>()

/** Loads an addon build (the default one unless `path` is given), once per path. */
export function loadNativeAddon(path: string = NATIVE_ADDON_PATH): { addon?: NativeAddon; status: NativeStatus } {
  const hit = loaded.get(path)
  if (hit !== undefined) return hit
  let result: { addon?: NativeAddon; status: NativeStatus }
  try {
    const addon = createRequire(import.meta.url)(path) as NativeAddon
    const info = addon.info()
    if (info.abi !== ABI_VERSION) {
      result = {
        status: {
          available: false,
          path,
          reason: `addon speaks ABI ${info.abi}, this code needs ${ABI_VERSION}: rebuild it with \`npm run build:native\``,
        },
      }
    } else {
      result = { addon, status: { available: true, path, info } }
    }
  } catch (e) {
    const err = e as NodeJS.ErrnoException
    const reason =
      err.code === 'MODULE_NOT_FOUND'
        ? 'the native addon is not built (no C++ compiler at install time?); run `npm run build:native`'
        : `the native addon failed to load: ${err.message}`
    result = { status: { available: false, path, reason } }
  }
  loaded.set(path, result)
  return result
}

/** Whether the `cpu` backend can run here, and why not when it cannot. */
export function nativeStatus(): NativeStatus {
  return loadNativeAddon().status
}

/** What `cudaStatus()` reports: the device when the `cuda` backend can run, else the reason. */
export type CudaStatus =
  | { readonly available: true; readonly device: string; readonly path: string }
  | { readonly available: false; readonly reason: string }

/** Whether the `cuda` backend can run here (addon loaded, CUDA library built, GPU present), and why not. */
export function cudaStatus(): CudaStatus {
  const { addon: a, status } = loadNativeAddon()
  if (a === undefined) {
    return { available: false, reason: `the native addon is needed first: ${(status as { reason: string }).reason}` }
  }
  const s = a.cudaStatus()
  return s.available ? { available: true, device: s.detail, path: s.path } : { available: false, reason: s.detail }
}

function addon(): Record<string, AnyFn> {
  const { addon: a, status } = loadNativeAddon()
  if (a === undefined) {
    throw new MlConfigError(`the cpu backend is not available: ${(status as { reason: string }).reason}`, {
      backend: 'cpu',
    })
  }
  return a as unknown as Record<string, AnyFn>
}

// ---------------------------------------------------------------------------------------------
// Validation: the same shapes the reference assumes, as typed errors.

const MAX_DIM = 2 ** 31 - 1
/** |Σ q·w| ≤ 128·128·k must stay below 2^31 for the int32 sums to be exact. */
const MAX_TERNARY_K = 131071

function dims(kernel: string, named: Record<string, number>): void {
  for (const [name, v] of Object.entries(named)) {
    if (!(Number.isInteger(v) && v >= 0 && v <= MAX_DIM)) {
      throw new ShapeError(`${kernel}: ${name} must be an integer ≥ 0, got ${v}`, { kernel, [name]: v })
    }
  }
}

type View = Float32Array | Int8Array | Uint8Array | Int32Array

function len(kernel: string, name: string, a: unknown, type: { new (n: number): View }, expected: number): void {
  if (!(a instanceof type)) throw new ShapeError(`${kernel}: ${name} must be a ${type.name}`, { kernel, name })
  if (a.length !== expected) {
    throw new ShapeError(`${kernel}: ${name} holds ${a.length} values, expected ${expected}`, {
      kernel,
      name,
      length: a.length,
      expected,
    })
  }
}

function overlap(a: View, b: View): boolean {
  if (a.buffer !== b.buffer || a.byteLength === 0 || b.byteLength === 0) return false
  return a.byteOffset < b.byteOffset + b.byteLength && b.byteOffset < a.byteOffset + a.byteLength
}

/** Outputs of a non-elementwise kernel must not overlap its inputs or each other. */
function distinct(kernel: string, outputs: Record<string, View | null>, inputs: Record<string, View>): void {
  const outs = Object.entries(outputs).filter((e): e is [string, View] => e[1] !== null)
  const all = [...outs, ...Object.entries(inputs)]
  for (const [i, [on, o]] of outs.entries()) {
    for (const [j, [n, v]] of all.entries()) {
      if (j > i && overlap(o, v)) {
        throw new ShapeError(`${kernel}: output ${on} overlaps ${n}`, { kernel, output: on, other: n })
      }
    }
  }
}

const F32 = Float32Array
const I8 = Int8Array
const I32 = Int32Array

const validate: { readonly [K in KernelName]: (...args: Parameters<Kernels[K]>) => void } = {
  matmulNT(out, a, b, m, k, n) {
    dims('matmulNT', { m, k, n })
    len('matmulNT', 'out', out, F32, m * n)
    len('matmulNT', 'a', a, F32, m * k)
    len('matmulNT', 'b', b, F32, n * k)
    distinct('matmulNT', { out }, { a, b })
  },
  matmulNN(out, a, b, m, k, n) {
    dims('matmulNN', { m, k, n })
    len('matmulNN', 'out', out, F32, m * n)
    len('matmulNN', 'a', a, F32, m * k)
    len('matmulNN', 'b', b, F32, k * n)
    distinct('matmulNN', { out }, { a, b })
  },
  matmulTN(out, a, b, k, m, n) {
    dims('matmulTN', { k, m, n })
    len('matmulTN', 'out', out, F32, m * n)
    len('matmulTN', 'a', a, F32, k * m)
    len('matmulTN', 'b', b, F32, k * n)
    distinct('matmulTN', { out }, { a, b })
  },
  quantizeRows(q, invScale, x, rows, cols) {
    dims('quantizeRows', { rows, cols })
    len('quantizeRows', 'q', q, I8, rows * cols)
    len('quantizeRows', 'invScale', invScale, F32, rows)
    len('quantizeRows', 'x', x, F32, rows * cols)
    distinct('quantizeRows', { q, invScale }, { x })
  },
  ternaryMatmul(out, q, invScale, w, _gamma, t, k, n) {
    dims('ternaryMatmul', { t, k, n })
    if (k > MAX_TERNARY_K) throw new ShapeError(`ternaryMatmul: k = ${k} exceeds ${MAX_TERNARY_K}`, { k })
    len('ternaryMatmul', 'out', out, F32, t * n)
    len('ternaryMatmul', 'q', q, I8, t * k)
    len('ternaryMatmul', 'invScale', invScale, F32, t)
    len('ternaryMatmul', 'w', w, I8, n * k)
    distinct('ternaryMatmul', { out }, { q, invScale, w })
  },
  ternaryMatmulT(out, dy, w, _gamma, t, k, n) {
    dims('ternaryMatmulT', { t, k, n })
    len('ternaryMatmulT', 'out', out, F32, t * k)
    len('ternaryMatmulT', 'dy', dy, F32, t * n)
    len('ternaryMatmulT', 'w', w, I8, n * k)
    distinct('ternaryMatmulT', { out }, { dy, w })
  },
  rmsnormForward(y, invRms, x, g, rows, cols, _eps) {
    dims('rmsnormForward', { rows, cols })
    len('rmsnormForward', 'y', y, F32, rows * cols)
    len('rmsnormForward', 'invRms', invRms, F32, rows)
    len('rmsnormForward', 'x', x, F32, rows * cols)
    len('rmsnormForward', 'g', g, F32, cols)
    distinct('rmsnormForward', { y, invRms }, { x, g })
  },
  rmsnormBackward(dx, dg, x, g, invRms, dy, rows, cols) {
    dims('rmsnormBackward', { rows, cols })
    len('rmsnormBackward', 'dx', dx, F32, rows * cols)
    if (dg !== null) len('rmsnormBackward', 'dg', dg, F32, cols)
    len('rmsnormBackward', 'x', x, F32, rows * cols)
    len('rmsnormBackward', 'g', g, F32, cols)
    len('rmsnormBackward', 'invRms', invRms, F32, rows)
    len('rmsnormBackward', 'dy', dy, F32, rows * cols)
    distinct('rmsnormBackward', { dx, dg }, { x, g, invRms, dy })
  },
  rope(x, cos, sin, t, heads, headDim, _inverse) {
    dims('rope', { t, heads, headDim })
    if (headDim % 2 !== 0) throw new ShapeError(`rope: headDim must be even, got ${headDim}`, { headDim })
    len('rope', 'x', x, F32, t * heads * headDim)
    len('rope', 'cos', cos, F32, (t * headDim) / 2)
    len('rope', 'sin', sin, F32, (t * headDim) / 2)
    distinct('rope', { x }, { cos, sin })
  },
  attentionForward(out, probs, q, k, v, t, heads, headDim, _scale) {
    dims('attentionForward', { t, heads, headDim })
    const size = t * heads * headDim
    len('attentionForward', 'out', out, F32, size)
    len('attentionForward', 'probs', probs, F32, heads * t * t)
    len('attentionForward', 'q', q, F32, size)
    len('attentionForward', 'k', k, F32, size)
    len('attentionForward', 'v', v, F32, size)
    distinct('attentionForward', { out, probs }, { q, k, v })
  },
  attentionBackward(dq, dk, dv, dout, probs, q, k, v, t, heads, headDim, _scale) {
    dims('attentionBackward', { t, heads, headDim })
    const size = t * heads * headDim
    for (const [name, a] of Object.entries({ dq, dk, dv, dout, q, k, v })) len('attentionBackward', name, a, F32, size)
    len('attentionBackward', 'probs', probs, F32, heads * t * t)
    distinct('attentionBackward', { dq, dk, dv }, { dout, probs, q, k, v })
  },
  relu2Forward(y, x) {
    len('relu2Forward', 'x', x, F32, x.length)
    len('relu2Forward', 'y', y, F32, x.length)
  },
  relu2Backward(dx, x, dy) {
    len('relu2Backward', 'x', x, F32, x.length)
    len('relu2Backward', 'dx', dx, F32, x.length)
    len('relu2Backward', 'dy', dy, F32, x.length)
  },
  addScaled(out, a, b, _scale) {
    len('addScaled', 'out', out, F32, out.length)
    len('addScaled', 'a', a, F32, out.length)
    len('addScaled', 'b', b, F32, out.length)
  },
  crossEntropy(dlogits, logits, targets, t, vocab) {
    dims('crossEntropy', { t, vocab })
    len('crossEntropy', 'dlogits', dlogits, F32, t * vocab)
    len('crossEntropy', 'logits', logits, F32, t * vocab)
    len('crossEntropy', 'targets', targets, I32, t)
    distinct('crossEntropy', { dlogits }, { logits, targets })
    for (let r = 0; r < t; r++) {
      const target = targets[r] as number
      if (target < 0 || target >= vocab)
        throw new ShapeError(`crossEntropy: target ${target} outside [0, ${vocab})`, { row: r, target })
    }
  },
  adamw(p, m, v, g) {
    len('adamw', 'p', p, F32, p.length)
    len('adamw', 'm', m, F32, p.length)
    len('adamw', 'v', v, F32, p.length)
    len('adamw', 'g', g, F32, p.length)
  },
  weightedSum(out, grads, coef) {
    len('weightedSum', 'out', out, F32, out.length)
    if (!Array.isArray(grads)) throw new ShapeError('weightedSum: grads must be an array')
    for (const [i, g] of grads.entries()) len('weightedSum', `grads[${i}]`, g, F32, out.length)
    len('weightedSum', 'coef', coef, F32, grads.length)
  },
}

const KERNEL_NAMES = Object.keys(validate) as KernelName[]

/** The kernels with promises: each resolves when the C++ kernel, run off the JS thread, is done. */
export type AsyncKernels = {
  readonly [K in KernelName]: (...args: Parameters<Kernels[K]>) => Promise<ReturnType<Kernels[K]>>
}

function cudaAddon(): Record<string, AnyFn> {
  const status = cudaStatus()
  if (!status.available) {
    throw new MlConfigError(`the cuda backend is not available: ${status.reason}`, { backend: 'cuda' })
  }
  return addon().cuda as unknown as Record<string, AnyFn>
}

function bind(name: KernelName, suffix: '' | 'Async', backend: 'cpu' | 'cuda' = 'cpu'): AnyFn {
  const check = validate[name] as AnyFn
  const fn = `${name}${suffix}`
  const functions = backend === 'cpu' ? addon : cudaAddon
  return (...args: unknown[]) => {
    check(...args)
    return (functions()[fn] as AnyFn)(...args)
  }
}

/** The `cpu` backend. Calls throw `MlConfigError` when the addon is not available (see nativeStatus). */
export const cpuKernels: Kernels = Object.freeze(
  Object.fromEntries([['name', 'cpu'], ...KERNEL_NAMES.map((k) => [k, bind(k, '')])]) as unknown as Kernels,
)

/** The `cpu` backend with promises: the same kernels run on libuv's thread pool. */
export const cpuKernelsAsync: AsyncKernels = Object.freeze(
  Object.fromEntries(KERNEL_NAMES.map((k) => [k, bind(k, 'Async')])) as unknown as AsyncKernels,
)

/**
 * The `cuda` backend: the same validation, then the CUDA kernels (each call copies its arrays to
 * the GPU and back). Calls throw `MlConfigError` where it cannot run (see cudaStatus).
 */
export const cudaKernels: Kernels = Object.freeze(
  Object.fromEntries([['name', 'cuda'], ...KERNEL_NAMES.map((k) => [k, bind(k, '', 'cuda')])]) as unknown as Kernels,
)

/** The `cuda` backend with promises, run off the JS thread. */
export const cudaKernelsAsync: AsyncKernels = Object.freeze(
  Object.fromEntries(KERNEL_NAMES.map((k) => [k, bind(k, 'Async', 'cuda')])) as unknown as AsyncKernels,
)
