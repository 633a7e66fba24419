/**
 * Golden cases: seeded inputs → SHA-256 of every output, on any backend. `r3mes ml check`
 * runs them on every available backend and compares the hashes with each other and with
 * the committed golden file, which the TypeScript reference produced.
 *
 * Case i draws everything from Philox keyed by ("golden", "case-i"), so a case can be rebuilt
 * alone, by any implementation (the CUDA harness included), from its index.
 */

import { toHex } from '../codec/bytes.ts'
import { incrementalSha256 } from '../codec/hash.ts'
import { deriveKey, PhiloxStream } from '../codec/prng.ts'
import { aggregateGradients } from './aggregate.ts'
import { defaultLora, type ModelConfig, modelConfigs } from './config.ts'
import { cosf, expf, logf, rsqrtf, sinf } from './fmath.ts'
import type { Kernels } from './kernels/contract.ts'
import { type StageRun, stageBackward, stageForward } from './model.ts'
import { adamwStep, initAdamW } from './optimizer.ts'
import { initAdapters, initStageWeights, type Params, type StageWeights } from './weights.ts'

const f = Math.fround

export const GOLDEN_KINDS = [
  'matmul',
  'ternary',
  'rmsnorm',
  'rope',
  'attention',
  'elementwise',
  'crossEntropy',
  'adamw',
  'aggregate',
  'fmath',
  'stage',
  'pretrainStep',
] as const
export type GoldenKind = (typeof GOLDEN_KINDS)[number]

export interface GoldenResult {
  readonly index: number
  readonly kind: GoldenKind
  /** SHA-256 (hex) over the case's named outputs in name order. */
  readonly sha256: string
  /** Failures of invariants the case checks on its own (e.g. split = whole). */
  readonly problems: string[]
}

class Inputs {
  readonly stream: PhiloxStream
  constructor(index: number) {
    this.stream = new PhiloxStream(deriveKey('golden', `case-${index}`))
  }
  int(lo: number, hi: number): number {
    return lo + this.stream.nextInt(hi - lo + 1)
  }
  /** Uniform in ±scale, with occasional exact zeros and negative zeros. */
  floats(n: number, scale = 1): Float32Array {
    const out = new Float32Array(n)
    for (let i = 0; i < n; i++) {
      const u = this.stream.nextSignedUnit()
      const r = this.stream.nextU32() & 63
      out[i] = r === 0 ? 0 : r === 1 ? -0 : f(u * scale)
    }
    return out
  }
  ternary(n: number): Int8Array {
    const out = new Int8Array(n)
    for (let i = 0; i < n; i++) out[i] = this.stream.nextInt(3) - 1
    return out
  }
  bytes(n: number, bound: number): Uint8Array {
    const out = new Uint8Array(n)
    for (let i = 0; i < n; i++) out[i] = this.stream.nextInt(bound)
    return out
  }
}

type Outputs = Map<string, ArrayBufferView | number>

function hashOutputs(outputs: Outputs): string {
  const hasher = incrementalSha256()
  for (const name of [...outputs.keys()].sort()) {
    const value = outputs.get(name) as ArrayBufferView | number
    hasher.update(name).update('\0')
    if (typeof value === 'number') {
      const b = Buffer.alloc(4)
      b.writeFloatLE(value, 0)
      hasher.update(b)
    } else {
      hasher.update(new Uint8Array(value.buffer, value.byteOffset, value.byteLength))
    }
  }
  return toHex(hasher.digest())
}

function paramsInto(outputs: Outputs, prefix: string, params: Params): void {
  for (const [name, value] of params) outputs.set(`${prefix}${name}`, value)
}

function matmulCase(K: Kernels, x: Inputs, out: Outputs): void {
  const m = x.int(1, 24)
  const k = x.int(1, 40)
  const n = x.int(1, 24)
  const a = x.floats(m * k, 4)
  const b = x.floats(k * n, 4)
  const nt = new Float32Array(m * n)
  K.matmulNT(nt, a, b, m, k, n)
  const nn = new Float32Array(m * n)
  K.matmulNN(nn, a, b, m, k, n)
  const tn = new Float32Array(m * n)
  K.matmulTN(tn, x.floats(k * m, 2), b, k, m, n)
  out.set('nt', nt).set('nn', nn).set('tn', tn)
}

function ternaryCase(K: Kernels, x: Inputs, out: Outputs): void {
  const t = x.int(1, 12)
  const k = x.int(1, 70)
  const n = x.int(1, 40)
  const act = x.floats(t * k, x.int(0, 1) === 0 ? 1 : 300)
  const q = new Int8Array(t * k)
  const inv = new Float32Array(t)
  K.quantizeRows(q, inv, act, t, k)
  const w = x.ternary(n * k)
  const gamma = f(Math.abs(x.stream.nextSignedUnit()) + f(0.01))
  const y = new Float32Array(t * n)
  K.ternaryMatmul(y, q, inv, w, gamma, t, k, n)
  const dx = new Float32Array(t * k)
  K.ternaryMatmulT(dx, x.floats(t * n), w, gamma, t, k, n)
  out.set('q', q).set('inv', inv).set('y', y).set('dx', dx)
}

function rmsnormCase(K: Kernels, x: Inputs, out: Outputs): void {
  const rows = x.int(1, 10)
  const cols = x.int(1, 80)
  const input = x.floats(rows * cols, 3)
  const g = x.floats(cols, 2)
  const y = new Float32Array(rows * cols)
  const inv = new Float32Array(rows)
  K.rmsnormForward(y, inv, input, g, rows, cols, f(1e-5))
  const dx = new Float32Array(rows * cols)
  const dg = x.floats(cols, 0.1)
  K.rmsnormBackward(dx, dg, input, g, inv, x.floats(rows * cols), rows, cols)
  out.set('y', y).set('inv', inv).set('dx', dx).set('dg', dg)
}

function ropeCase(K: Kernels, x: Inputs, out: Outputs): void {
  const t = x.int(1, 16)
  const heads = x.int(1, 4)
  const headDim = 2 * x.int(1, 8)
  const half = headDim / 2
  const cos = new Float32Array(t * half)
  const sin = new Float32Array(t * half)
  for (let i = 0; i < cos.length; i++) {
    const angle = f(x.stream.nextSignedUnit() * 50)
    cos[i] = cosf(angle)
    sin[i] = sinf(angle)
  }
  const v = x.floats(t * heads * headDim, 2)
  K.rope(v, cos, sin, t, heads, headDim, false)
  const forward = v.slice()
  K.rope(v, cos, sin, t, heads, headDim, true)
  out.set('cos', cos).set('sin', sin).set('forward', forward).set('inverse', v)
}

function attentionCase(K: Kernels, x: Inputs, out: Outputs): void {
  const t = x.int(1, 12)
  const heads = x.int(1, 3)
  const headDim = x.int(1, 10)
  const w = heads * headDim
  const q = x.floats(t * w, 2)
  const k = x.floats(t * w, 2)
  const v = x.floats(t * w, 2)
  const scale = rsqrtf(headDim)
  const o = new Float32Array(t * w)
  const probs = new Float32Array(heads * t * t)
  K.attentionForward(o, probs, q, k, v, t, heads, headDim, scale)
  const dq = new Float32Array(t * w)
  const dk = new Float32Array(t * w)
  const dv = new Float32Array(t * w)
  K.attentionBackward(dq, dk, dv, x.floats(t * w), probs, q, k, v, t, heads, headDim, scale)
  out.set('o', o).set('probs', probs).set('dq', dq).set('dk', dk).set('dv', dv)
}

function elementwiseCase(K: Kernels, x: Inputs, out: Outputs): void {
  const n = x.int(1, 200)
  const a = x.floats(n, 5)
  const y = new Float32Array(n)
  K.relu2Forward(y, a)
  const dx = new Float32Array(n)
  K.relu2Backward(dx, a, x.floats(n))
  const s = new Float32Array(n)
  K.addScaled(s, a, x.floats(n), f(x.stream.nextSignedUnit() * 3))
  out.set('relu2', y).set('drelu2', dx).set('addScaled', s)
}

function crossEntropyCase(K: Kernels, x: Inputs, out: Outputs): void {
  const t = x.int(1, 10)
  const vocab = x.int(2, 300)
  const logits = x.floats(t * vocab, x.int(0, 1) === 0 ? 3 : 60)
  const targets = Int32Array.from(x.bytes(t, Math.min(vocab, 256)))
  const d = new Float32Array(t * vocab)
  const loss = K.crossEntropy(d, logits, targets, t, vocab)
  out.set('loss', loss).set('dlogits', d)
}

function adamwCase(K: Kernels, x: Inputs, out: Outputs): void {
  const n = x.int(1, 100)
  const p = x.floats(n)
  const m = x.floats(n, 0.1)
  const v = x.floats(n, 0.01).map(Math.abs)
  const beta1 = f(0.9)
  const beta2 = f(0.999)
  let pow1 = 1
  let pow2 = 1
  for (let step = 0; step < 3; step++) {
    pow1 = f(pow1 * beta1)
    pow2 = f(pow2 * beta2)
    K.adamw(p, m, v, x.floats(n), f(1e-3), beta1, beta2, f(1e-8), f(0.01), f(1 - pow1), f(1 - pow2))
  }
  out.set('p', p).set('m', m).set('v', v)
}

function aggregateCase(K: Kernels, x: Inputs, out: Outputs): void {
  const parts = x.int(1, 5)
  const n = x.int(1, 50)
  const contributions = Array.from({ length: parts }, () => ({
    grads: new Map([
      ['a', x.floats(n)],
      ['b', x.floats(3)],
    ]),
    tokens: x.int(1, 5000),
  }))
  paramsInto(out, 'agg.', aggregateGradients(K, contributions))
}

function fmathCase(_K: Kernels, x: Inputs, out: Outputs): void {
  const n = 64
  const e = new Float32Array(n)
  const l = new Float32Array(n)
  const s = new Float32Array(n)
  const c = new Float32Array(n)
  for (let i = 0; i < n; i++) {
    const u = x.stream.nextSignedUnit()
    e[i] = expf(f(u * 110))
    l[i] = logf(f(Math.abs(u) * 2 ** x.int(-140, 120)))
    s[i] = sinf(f(u * 1000))
    c[i] = cosf(f(u * 1000))
  }
  out.set('exp', e).set('log', l).set('sin', s).set('cos', c)
}

function makeRun(
  K: Kernels,
  stage: StageWeights,
  adapters: Params,
  sequences: number,
  tokens: number,
  trainBackbone = false,
): StageRun {
  return { kernels: K, stage, adapters, lora: defaultLora, sequences, tokens, trainBackbone }
}

/** Give adapters random B so that LoRA paths carry signal (fresh B is zero). */
function perturbAdapters(adapters: Params, x: Inputs): void {
  for (const [name, p] of adapters) if (name.endsWith('loraB')) p.set(x.floats(p.length, 0.05))
}

function stageCase(K: Kernels, x: Inputs, out: Outputs, problems: string[], index: number): void {
  const config = index % 25 === 10 ? (modelConfigs.tiny as ModelConfig) : (modelConfigs.micro as ModelConfig)
  const sequences = x.int(1, 2)
  const tokens = config.name === 'tiny' ? 4 : x.int(2, 12)
  const rows = sequences * tokens
  const key = deriveKey('golden', `backbone-${index}`)
  const whole = initStageWeights(config, 0, config.nLayers, key)
  const adapters = initAdapters(config, defaultLora, 0, config.nLayers, deriveKey('golden', `lora-${index}`))
  perturbAdapters(adapters, x)
  const inputs = Int32Array.from(x.bytes(rows, 256))
  const targets = Int32Array.from(x.bytes(rows, 256))
  const run = makeRun(K, whole, adapters, sequences, tokens)
  const fw = stageForward(run, { kind: 'tokens', tokens: inputs }, targets)
  const bw = stageBackward(run, fw)
  out.set('loss', fw.loss as number).set('logits', fw.output)
  paramsInto(out, 'grad.', bw.grads)

  // The same model as two pipeline stages must give the same bytes.
  const cut = Math.max(1, Math.floor(config.nLayers / 2))
  const first = { ...whole, end: cut, layers: whole.layers.slice(0, cut) }
  const last = { ...whole, first: cut, layers: whole.layers.slice(cut) }
  const { finalNorm: _n, head: _h, ...firstOnly } = first
  const { embedding: _e, ...lastOnly } = last
  const run1 = makeRun(K, firstOnly, adapters, sequences, tokens)
  const run2 = makeRun(K, lastOnly, adapters, sequences, tokens)
  const fw1 = stageForward(run1, { kind: 'tokens', tokens: inputs })
  const fw2 = stageForward(run2, { kind: 'activations', activations: fw1.output }, targets)
  const bw2 = stageBackward(run2, fw2)
  const bw1 = stageBackward(run1, fw1, bw2.dInput)
  const split: Outputs = new Map<string, ArrayBufferView | number>([
    ['loss', fw2.loss as number],
    ['logits', fw2.output],
  ])
  paramsInto(split, 'grad.', bw1.grads)
  paramsInto(split, 'grad.', bw2.grads)
  if (hashOutputs(split) !== hashOutputs(out)) problems.push('stage-split run differs from the whole model')
}

function pretrainStepCase(K: Kernels, x: Inputs, out: Outputs, _problems: string[], index: number): void {
  const config = modelConfigs.micro as ModelConfig
  const sequences = 1
  const tokens = x.int(2, 10)
  const stage = initStageWeights(config, 0, config.nLayers, deriveKey('golden', `backbone-${index}`))
  const adapters = initAdapters(config, defaultLora, 0, config.nLayers, deriveKey('golden', `lora-${index}`))
  const run = makeRun(K, stage, adapters, sequences, tokens, true)
  const fw = stageForward(
    run,
    { kind: 'tokens', tokens: Int32Array.from(x.bytes(tokens, 256)) },
    Int32Array.from(x.bytes(tokens, 256)),
  )
  const bw = stageBackward(run, fw)
  const loraGrads: Params = new Map([...bw.grads].filter(([name]) => name.includes('lora')))
  const state = initAdamW(adapters)
  adamwStep(K, adapters, loraGrads, state, { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 })
  out.set('loss', fw.loss as number)
  paramsInto(out, 'grad.', bw.grads)
  paramsInto(out, 'adapter.', adapters)
  paramsInto(out, 'adam.m.', state.m)
}

const RUNNERS: Record<GoldenKind, (K: Kernels, x: Inputs, out: Outputs, problems: string[], index: number) => void> = {
  matmul: matmulCase,
  ternary: ternaryCase,
  rmsnorm: rmsnormCase,
  rope: ropeCase,
  attention: attentionCase,
  elementwise: elementwiseCase,
  crossEntropy: crossEntropyCase,
  adamw: adamwCase,
  aggregate: aggregateCase,
  fmath: fmathCase,
  stage: stageCase,
  pretrainStep: pretrainStepCase,
}

export function goldenKind(index: number): GoldenKind {
  return GOLDEN_KINDS[index % GOLDEN_KINDS.length] as GoldenKind
}

export function runGoldenCase(K: Kernels, index: number): GoldenResult {
  const kind = goldenKind(index)
  const outputs: Outputs = new Map()
  const problems: string[] = []
  RUNNERS[kind](K, new Inputs(index), outputs, problems, index)
  return { index, kind, sha256: hashOutputs(outputs), problems }
}
