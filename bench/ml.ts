/**
 * `npm run bench -- ml [--json]`: the ML engine's kernels, each figure beside the baseline it is
 * judged against, both measured in this one run (interleaved, median of several repetitions):
 *
 * - ternaryMatvecVsBandwidth: the native ternary matrix-vector product (int8 activations ×
 *   int8-stored ternary weights, 4096×4096) against a streaming read of a buffer of the same
 *   byte size in C++ (the memory-bandwidth ceiling for reading the weights once). Target ≥ 0.6.
 * - ternaryGemmVsSgemm: the native ternary matrix product against numpy's float32 SGEMM
 *   (OpenBLAS) at the same shape, as a speed ratio. Target ≥ 1.5.
 * - deterministicVsFastMath: the same C++ kernels (matmulNT at training shapes and attention
 *   forward) built a second time with -ffast-math -ffp-contract=fast -march=native; the time
 *   of the deterministic build over the fast one. Target ≤ 1.3.
 * - trainingStep: cpu vs ts tokens per second of a training step on `tiny` (hook below, filled
 *   in by the training code).
 */
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { cpuKernels, loadNativeAddon, NATIVE_ADDON_PATH } from '../src/ml/kernels/native.ts'
import { tsKernels } from '../src/ml/kernels/ts-kernels.ts'
import { trainStepThroughput } from './ml-train.ts'

type Raw = Record<string, (...args: unknown[]) => unknown> & {
  info(): { isa: string; threads: number; fastMath: boolean }
}

const FAST_MATH_PATH = fileURLToPath(new URL('../native-cuda/build/r3mes_native_fastmath.node', import.meta.url))
const BUILD_SCRIPT = fileURLToPath(new URL('../native-cuda/build.mjs', import.meta.url))
const NATIVE_SOURCES = fileURLToPath(new URL('../native-cuda/src/', import.meta.url))

/** Newest modification time of the C++ sources, so a stale bench build is rebuilt. */
function newestSourceMs(dir: string): number {
  let newest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    newest = Math.max(newest, entry.isDirectory() ? newestSourceMs(path) : statSync(path).mtimeMs)
  }
  return newest
}

function seconds(fn: () => void): number {
  const t0 = process.hrtime.bigint()
  fn()
  return Number(process.hrtime.bigint() - t0) / 1e9
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)] as number
}

/** Times several functions interleaved (one of each per round, after a warm-up); medians. */
function interleaved(fns: readonly (() => void)[], rounds: number): number[] {
  for (const fn of fns) fn()
  const times = fns.map(() => [] as number[])
  for (let r = 0; r < rounds; r++) {
    for (const [i, fn] of fns.entries()) times[i]?.push(seconds(fn))
  }
  return times.map(median)
}

/** Deterministic filler: a splitmix-like hash of the index. */
function fillInt8(a: Int8Array, lo: number, hi: number, salt: number): Int8Array {
  for (let i = 0; i < a.length; i++) {
    let x = Math.imul(i ^ salt, 0x9e3779b1)
    x ^= x >>> 15
    x = Math.imul(x, 0x85ebca77)
    x ^= x >>> 13
    a[i] = lo + ((x >>> 0) % (hi - lo + 1))
  }
  return a
}

function fillF32(a: Float32Array, salt: number): Float32Array {
  const q = fillInt8(new Int8Array(a.length), -127, 127, salt)
  for (let i = 0; i < a.length; i++) a[i] = (q[i] as number) / 64
  return a
}

interface Section {
  readonly name: string
  run(native: Raw): Record<string, unknown>
}

const matvec: Section = {
  name: 'ternary matrix-vector product vs memory bandwidth',
  run(native) {
    const k = 4096
    const n = 4096
    const w = fillInt8(new Int8Array(n * k), -1, 1, 1)
    const q = fillInt8(new Int8Array(k), -127, 127, 2)
    const inv = Float32Array.of(0.01)
    const out = new Float32Array(n)
    const buffer = fillInt8(new Int8Array(n * k), -128, 127, 3)
    const bytes = new Uint8Array(buffer.buffer)
    const [tMatvec, tStream] = interleaved(
      [() => native.ternaryMatmul?.(out, q, inv, w, 1, 1, k, n), () => native.streamRead?.(bytes)],
      60,
    ) as [number, number]
    return {
      shape: `1×${k} · (${n}×${k})ᵀ, weights stored as int8 (${(w.byteLength / 2 ** 20).toFixed(0)} MiB)`,
      matvecMs: tMatvec * 1e3,
      matvecWeightGBps: w.byteLength / tMatvec / 1e9,
      streamReadMs: tStream * 1e3,
      streamReadGBps: bytes.byteLength / tStream / 1e9,
      ternaryMatvecVsBandwidth: tStream / tMatvec,
    }
  },
}

function numpySgemm(m: number, k: number, n: number, rounds: number): { seconds: number; note?: string } {
  const code = `
import json, time
import numpy as np
m, k, n, rounds = ${m}, ${k}, ${n}, ${rounds}
rng = np.random.default_rng(1)
a = rng.standard_normal((m, k), dtype=np.float32)
b = rng.standard_normal((n, k), dtype=np.float32)
c = a @ b.T
ts = []
for _ in range(rounds):
    t = time.perf_counter(); c = a @ b.T; ts.append(time.perf_counter() - t)
ts.sort()
print(json.dumps({"seconds": ts[len(ts) // 2], "numpy": np.__version__}))
`
  // The machine's environment pins OpenBLAS to a core type and cache size; the baseline gets
  // OpenBLAS's own detection instead (for this child only).
  const env = { ...process.env }
  delete env.OPENBLAS_CORETYPE
  delete env.OPENBLAS_L2_SIZE
  const r = spawnSync('python3', ['-c', code], { env, encoding: 'utf8', timeout: 120_000 })
  if (r.status !== 0) return { seconds: Number.NaN, note: `numpy unavailable: ${(r.stderr || String(r.error)).trim()}` }
  return JSON.parse(r.stdout.trim().split('\n').pop() as string) as { seconds: number }
}

const gemm: Section = {
  name: 'ternary matrix product vs numpy float32 SGEMM',
  run(native) {
    const m = 512
    const k = 4096
    const n = 4096
    const w = fillInt8(new Int8Array(n * k), -1, 1, 4)
    const q = fillInt8(new Int8Array(m * k), -127, 127, 5)
    const inv = new Float32Array(m).fill(0.01)
    const out = new Float32Array(m * n)
    // The two cannot run at once (they share the cores), so they alternate: numpy's child
    // process times its own repetitions, the ternary product its own, twice each.
    const tern: number[] = []
    const sg: number[] = []
    let note: string | undefined
    for (let round = 0; round < 2; round++) {
      tern.push(...interleaved([() => native.ternaryMatmul?.(out, q, inv, w, 1, m, k, n)], 5))
      const s = numpySgemm(m, k, n, 5)
      sg.push(s.seconds)
      note = s.note ?? note
    }
    const tTernary = median(tern)
    const tSgemm = median(sg)
    const ops = 2 * m * n * k
    return {
      shape: `${m}×${k} · (${n}×${k})ᵀ`,
      ternaryMs: tTernary * 1e3,
      ternaryGops: ops / tTernary / 1e9,
      sgemmMs: tSgemm * 1e3,
      sgemmGflops: ops / tSgemm / 1e9,
      ternaryGemmVsSgemm: tSgemm / tTernary,
      ...(note === undefined ? {} : { note }),
    }
  },
}

function loadFastMath(): Raw | string {
  if (!existsSync(FAST_MATH_PATH) || statSync(FAST_MATH_PATH).mtimeMs < newestSourceMs(NATIVE_SOURCES)) {
    const r = spawnSync(process.execPath, [BUILD_SCRIPT, '--fast-math'], { encoding: 'utf8' })
    if (!existsSync(FAST_MATH_PATH)) return `fast-math build failed: ${(r.stdout + r.stderr).trim()}`
  }
  const { addon, status } = loadNativeAddon(FAST_MATH_PATH)
  if (addon === undefined) return status.available ? 'unknown' : status.reason
  return addon as unknown as Raw
}

const determinism: Section = {
  name: 'cost of determinism: the same kernels with -ffast-math, FMA and -march=native',
  run(native) {
    const fast = loadFastMath()
    if (typeof fast === 'string') return { deterministicVsFastMath: null, note: fast }
    const rows = 2048
    const d = 256
    const rank = 8
    const vocab = 256
    // matmulNT at the shapes a training step uses: LoRA down (x·Aᵀ), LoRA up (u·Bᵀ), the head.
    const cases: { name: string; args: unknown[]; kernel: string }[] = []
    for (const [m, k, n, label] of [
      [rows, d, rank, 'matmulNT lora x·Aᵀ'],
      [rows, rank, 1024, 'matmulNT lora u·Bᵀ'],
      [rows, d, vocab, 'matmulNT head'],
    ] as const) {
      cases.push({
        name: `${label} ${m}×${k}×${n}`,
        kernel: 'matmulNT',
        args: [
          new Float32Array(m * n),
          fillF32(new Float32Array(m * k), 6),
          fillF32(new Float32Array(n * k), 7),
          m,
          k,
          n,
        ],
      })
    }
    const t = 256
    const heads = 4
    const headDim = 64
    const size = t * heads * headDim
    cases.push({
      name: `attentionForward t=${t} heads=${heads} headDim=${headDim}`,
      kernel: 'attentionForward',
      args: [
        new Float32Array(size),
        new Float32Array(heads * t * t),
        fillF32(new Float32Array(size), 8),
        fillF32(new Float32Array(size), 9),
        fillF32(new Float32Array(size), 10),
        t,
        heads,
        headDim,
        0.125,
      ],
    })
    const perKernel: Record<string, { deterministicMs: number; fastMathMs: number; ratio: number }> = {}
    let totalDet = 0
    let totalFast = 0
    for (const c of cases) {
      const [tDet, tFast] = interleaved(
        [() => native[c.kernel]?.(...c.args), () => fast[c.kernel]?.(...c.args)],
        15,
      ) as [number, number]
      perKernel[c.name] = { deterministicMs: tDet * 1e3, fastMathMs: tFast * 1e3, ratio: tDet / tFast }
      totalDet += tDet
      totalFast += tFast
    }
    return { perKernel, deterministicVsFastMath: totalDet / totalFast }
  },
}

/**
 * Training step tokens/s, cpu vs ts on `tiny`: forward + backward + AdamW of LoRA fine-tuning on
 * the same batch (1 × 64 tokens, the reference is slow), best of a few steps, side by side.
 */
const trainingStep: Section = {
  name: 'training step tokens/s, cpu vs ts (tiny)',
  run() {
    const cpu = trainStepThroughput(cpuKernels, 'tiny', 1, 64, 3)
    const ts = trainStepThroughput(tsKernels, 'tiny', 1, 64, 1)
    return {
      cpuTokensPerSecond: cpu.tokensPerSecond,
      tsTokensPerSecond: ts.tokensPerSecond,
      trainingStepCpuVsTs: cpu.tokensPerSecond / ts.tokensPerSecond,
    }
  },
}

export const sections: Section[] = [matvec, gemm, determinism, trainingStep]

export async function runMlBench(json: boolean): Promise<void> {
  const { addon, status } = loadNativeAddon(NATIVE_ADDON_PATH)
  if (addon === undefined) {
    const reason = status.available ? 'unknown' : status.reason
    if (json) console.log(JSON.stringify({ suite: 'ml', error: `native backend unavailable: ${reason}` }))
    else console.error(`ml bench needs the native backend: ${reason}`)
    process.exitCode = 1
    return
  }
  const native = addon as unknown as Raw
  const info = native.info()
  const result: Record<string, unknown> = { suite: 'ml', isa: info.isa, threads: info.threads }
  for (const section of sections) {
    if (!json) console.log(`\n== ${section.name}`)
    const r = section.run(native)
    result[section.name] = r
    if (!json) {
      for (const [key, value] of Object.entries(r)) {
        if (typeof value === 'object' && value !== null) {
          for (const [k2, v2] of Object.entries(value)) console.log(`  ${k2}: ${JSON.stringify(v2, roundNumbers)}`)
        } else {
          console.log(`  ${key}: ${typeof value === 'number' ? value.toFixed(3) : value}`)
        }
      }
    }
  }
  // The headline ratios, flat, for scripts.
  const pick = (s: Section, key: string) => (result[s.name] as Record<string, unknown>)[key] ?? null
  const ratios = {
    ternaryMatvecVsBandwidth: pick(matvec, 'ternaryMatvecVsBandwidth'),
    ternaryGemmVsSgemm: pick(gemm, 'ternaryGemmVsSgemm'),
    deterministicVsFastMath: pick(determinism, 'deterministicVsFastMath'),
    trainingStepCpuVsTs: pick(trainingStep, 'trainingStepCpuVsTs'),
  }
  if (json) console.log(JSON.stringify({ ...result, ...ratios }, roundNumbers))
  else console.log(`\nratios: ${JSON.stringify(ratios, roundNumbers)}`)
}

function roundNumbers(_key: string, value: unknown): unknown {
  return typeof value === 'number' && !Number.isInteger(value) ? Number(value.toPrecision(4)) : value
}
