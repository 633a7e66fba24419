/**
 * BitNet b1.58 decoder, run over a layer range [first, end): the pipeline stage one subnet
 * executes. Every number goes through the kernel contract (kernels/contract.ts), so a stage
 * gives the same bytes on every backend, and running stages one after another gives exactly
 * the bytes of the whole model.
 *
 * One block, for x [rows, d] (rows = sequences × tokens):
 *   a = RMSNorm(x)                 q,k,v = BitLinear(a) + LoRA(a); RoPE(q,k); causal attention
 *   b = RMSNorm(attn)              h = x + BitLinear_o(b) + LoRA_o(b)
 *   c = RMSNorm(h)                 u = BitLinear_up(c) + LoRA_up(c);  r = relu(u)²
 *   e = RMSNorm(r)                 out = h + BitLinear_down(e) + LoRA_down(e)
 * BitLinear quantizes its input per token to int8 (absmax) and multiplies by ternary weights
 * in exact integer arithmetic. Backward uses the straight-through estimator for both
 * quantizers.
 *
 * Two options of the configuration, for published BitNet b1.58 checkpoints (config.ts):
 * grouped-query attention (k and v have nKvHeads heads; each serves nHeads / nKvHeads
 * consecutive query heads, copied before attention and its gradient summed back over those
 * heads in increasing head order) and a gated FFN (r = relu(gate(c))² · up(c), elementwise,
 * each product rounded to float32).
 */
import { kvHeadsOf, type LoraConfig } from './config.ts'
import { ShapeError } from './errors.ts'
import { rsqrtf } from './fmath.ts'
import type { Kernels } from './kernels/contract.ts'
import { ropeTables } from './rope.ts'
import { assertFinite } from './tensor.ts'
import {
  headDimOf,
  type LayerWeights,
  loraNames,
  loraScale,
  matrixOf,
  type NormName,
  type Params,
  type Projection,
  projectionsOf,
  type StageWeights,
  type TernaryMatrix,
} from './weights.ts'

/** What a stage receives: tokens for the first stage, activations for the others. */
export type StageInput = { kind: 'tokens'; tokens: Int32Array } | { kind: 'activations'; activations: Float32Array }

export interface StageRun {
  readonly kernels: Kernels
  readonly stage: StageWeights
  readonly adapters: Params
  readonly lora: LoraConfig
  /** Number of sequences in the batch. */
  readonly sequences: number
  /** Tokens per sequence (≤ contextLength). */
  readonly tokens: number
  /** Also compute gradients of the backbone (genesis pretraining). @default false */
  readonly trainBackbone?: boolean
}

interface ProjCache {
  /** The float input to the projection (the RMSNorm output). */
  x: Float32Array
  /** LoRA intermediate x·Aᵀ [rows, r]. */
  u: Float32Array
}

interface NormCache {
  x: Float32Array
  invRms: Float32Array
}

export interface LayerCache {
  norms: Record<NormName, NormCache>
  proj: Partial<Record<Projection, ProjCache>>
  q: Float32Array
  /** Keys and values as attention read them: expanded to nHeads heads. */
  k: Float32Array
  v: Float32Array
  probs: Float32Array[]
  /** The up projection's output. */
  u: Float32Array
  /** The gate projection's output (gated FFN only). */
  gate?: Float32Array
}

export interface StageForward {
  /** Output activations [rows, d] (not the last stage) or logits [rows, V] (the last stage). */
  readonly output: Float32Array
  /** Mean cross-entropy (nats per token), last stage only. */
  readonly loss?: number
  readonly cache: StageCache
}

export interface StageCache {
  readonly layers: LayerCache[]
  readonly input: StageInput
  readonly finalNorm?: NormCache
  readonly finalOut?: Float32Array
  /** dlogits, computed with the loss. */
  readonly dlogits?: Float32Array
}

export interface StageBackward {
  /** Gradients by parameter name: LoRA always, backbone when `trainBackbone`. */
  readonly grads: Params
  /** Gradient of the input activations; absent for the first stage. */
  readonly dInput?: Float32Array
}

const f = Math.fround

function rowsOf(run: StageRun): number {
  return run.sequences * run.tokens
}

function checkRun(run: StageRun, input: StageInput, targets?: Int32Array): void {
  const { stage, tokens, sequences } = run
  const c = stage.config
  if (!(Number.isInteger(sequences) && sequences > 0 && Number.isInteger(tokens) && tokens > 0)) {
    throw new ShapeError(`batch must be a positive number of sequences and tokens, got ${sequences}×${tokens}`)
  }
  if (tokens > c.contextLength) throw new ShapeError(`sequence of ${tokens} tokens exceeds context ${c.contextLength}`)
  const rows = sequences * tokens
  if (input.kind === 'tokens') {
    if (stage.first !== 0) throw new ShapeError(`stage [${stage.first}, ${stage.end}) takes activations, not tokens`)
    if (input.tokens.length !== rows) throw new ShapeError(`expected ${rows} input tokens, got ${input.tokens.length}`)
    for (let i = 0; i < rows; i++) {
      const id = input.tokens[i] as number
      if (id < 0 || id >= c.vocabSize) throw new ShapeError(`token ${id} outside [0, ${c.vocabSize})`)
    }
  } else {
    if (stage.first === 0) throw new ShapeError('the first stage takes tokens, not activations')
    if (input.activations.length !== rows * c.dModel) {
      throw new ShapeError(`expected ${rows}×${c.dModel} input activations, got ${input.activations.length} values`)
    }
    assertFinite('input activations', input.activations)
  }
  const isLast = stage.end === c.nLayers
  if (isLast && (targets === undefined || targets.length !== rows)) {
    throw new ShapeError(`the last stage needs ${rows} targets, got ${targets?.length ?? 'none'}`)
  }
  for (let li = stage.first; li < stage.end; li++) {
    const layer = stage.layers[li - stage.first]
    if (layer === undefined) throw new ShapeError(`stage [${stage.first}, ${stage.end}) lacks layer ${li}`)
    for (const proj of projectionsOf(c)) {
      const names = loraNames(li, proj)
      const m = matrixOf(layer, proj)
      const a = run.adapters.get(names.a)
      const b = run.adapters.get(names.b)
      if (a?.length !== run.lora.rank * m.cols || b?.length !== m.rows * run.lora.rank) {
        throw new ShapeError(`adapter ${names.a}/${names.b} missing or of the wrong size`)
      }
    }
  }
}

function normForward(
  K: Kernels,
  x: Float32Array,
  g: Float32Array,
  rows: number,
  eps: number,
): [Float32Array, NormCache] {
  const y = new Float32Array(x.length)
  const invRms = new Float32Array(rows)
  K.rmsnormForward(y, invRms, x, g, rows, g.length, eps)
  return [y, { x, invRms }]
}

function projForward(
  run: StageRun,
  layer: number,
  proj: Projection,
  m: TernaryMatrix,
  x: Float32Array,
): [Float32Array, ProjCache] {
  const K = run.kernels
  const rows = rowsOf(run)
  const r = run.lora.rank
  const q = new Int8Array(rows * m.cols)
  const invScale = new Float32Array(rows)
  K.quantizeRows(q, invScale, x, rows, m.cols)
  const y = new Float32Array(rows * m.rows)
  K.ternaryMatmul(y, q, invScale, m.w, m.gamma, rows, m.cols, m.rows)
  const names = loraNames(layer, proj)
  const u = new Float32Array(rows * r)
  K.matmulNT(u, x, run.adapters.get(names.a) as Float32Array, rows, m.cols, r)
  const z = new Float32Array(rows * m.rows)
  K.matmulNT(z, u, run.adapters.get(names.b) as Float32Array, rows, r, m.rows)
  K.addScaled(y, y, z, loraScale(run.lora))
  return [y, { x, u }]
}

function projBackward(
  run: StageRun,
  layer: number,
  proj: Projection,
  m: TernaryMatrix,
  cache: ProjCache,
  dy: Float32Array,
  grads: Params,
): Float32Array {
  const K = run.kernels
  const rows = rowsOf(run)
  const r = run.lora.rank
  const names = loraNames(layer, proj)
  const dx = new Float32Array(rows * m.cols)
  K.ternaryMatmulT(dx, dy, m.w, m.gamma, rows, m.cols, m.rows)
  const dys = new Float32Array(dy.length)
  K.addScaled(dys, dys, dy, loraScale(run.lora))
  const dB = new Float32Array(m.rows * r)
  K.matmulTN(dB, dys, cache.u, rows, m.rows, r)
  const du = new Float32Array(rows * r)
  K.matmulNN(du, dys, run.adapters.get(names.b) as Float32Array, rows, m.rows, r)
  const dA = new Float32Array(r * m.cols)
  K.matmulTN(dA, du, cache.x, rows, r, m.cols)
  const dxLora = new Float32Array(rows * m.cols)
  K.matmulNN(dxLora, du, run.adapters.get(names.a) as Float32Array, rows, r, m.cols)
  K.addScaled(dx, dx, dxLora, 1)
  grads.set(names.a, dA)
  grads.set(names.b, dB)
  if (run.trainBackbone === true) {
    const dW = new Float32Array(m.rows * m.cols)
    K.matmulTN(dW, dy, cache.x, rows, m.rows, m.cols)
    grads.set(`L${layer}.${proj}.w`, dW)
  }
  return dx
}

/** Apply `fn` to each sequence's rows of a [rows, width] buffer. */
function perSequence(
  run: StageRun,
  width: number,
  fn: (seq: number, view: (a: Float32Array) => Float32Array) => void,
): void {
  const span = run.tokens * width
  for (let s = 0; s < run.sequences; s++) fn(s, (a) => a.subarray(s * span, (s + 1) * span))
}

/**
 * Copy each of the `kvHeads` heads of x [t, kvHeads·headDim] to its `group` consecutive query
 * heads: out [t, kvHeads·group·headDim] (Llama's repeat_kv).
 */
function expandKv(x: Float32Array, t: number, kvHeads: number, group: number, headDim: number): Float32Array {
  const out = new Float32Array(t * kvHeads * group * headDim)
  for (let i = 0; i < t; i++) {
    for (let h = 0; h < kvHeads * group; h++) {
      const from = (i * kvHeads + Math.floor(h / group)) * headDim
      out.set(x.subarray(from, from + headDim), (i * kvHeads * group + h) * headDim)
    }
  }
  return out
}

/** The gradient of `expandKv`: each kv head's sum over its query heads, a fold in increasing head order. */
function reduceKv(dx: Float32Array, t: number, kvHeads: number, group: number, headDim: number): Float32Array {
  const out = new Float32Array(t * kvHeads * headDim)
  for (let i = 0; i < t; i++) {
    for (let g = 0; g < kvHeads; g++) {
      const to = (i * kvHeads + g) * headDim
      for (let j = 0; j < group; j++) {
        const from = (i * kvHeads * group + g * group + j) * headDim
        for (let e = 0; e < headDim; e++) out[to + e] = f((out[to + e] as number) + (dx[from + e] as number))
      }
    }
  }
  return out
}

export function layerForward(run: StageRun, li: number, w: LayerWeights, x: Float32Array): [Float32Array, LayerCache] {
  const K = run.kernels
  const c = run.stage.config
  const rows = rowsOf(run)
  const T = run.tokens
  const headDim = headDimOf(c)
  const kvHeads = kvHeadsOf(c)
  const group = c.nHeads / kvHeads
  const rope = ropeTables(c)
  const cos = rope.cos.subarray(0, (T * headDim) / 2)
  const sin = rope.sin.subarray(0, (T * headDim) / 2)

  const [a, attnNorm] = normForward(K, x, w.norm.attnNorm, rows, c.normEps)
  const [q, qc] = projForward(run, li, 'q', w.proj.q, a)
  const [k, kc] = projForward(run, li, 'k', w.proj.k, a)
  const [v, vc] = projForward(run, li, 'v', w.proj.v, a)
  const attn = new Float32Array(rows * c.dModel)
  const probs: Float32Array[] = []
  const scale = rsqrtf(headDim)
  const kvSpan = T * kvHeads * headDim
  // Attention reads keys and values with nHeads heads: the projections' own when there is no grouping.
  const kAttn = group === 1 ? k : new Float32Array(rows * c.dModel)
  const vAttn = group === 1 ? v : new Float32Array(rows * c.dModel)
  perSequence(run, c.dModel, (s, view) => {
    const ks = k.subarray(s * kvSpan, (s + 1) * kvSpan)
    K.rope(view(q), cos, sin, T, c.nHeads, headDim, false)
    K.rope(ks, cos, sin, T, kvHeads, headDim, false)
    if (group !== 1) {
      view(kAttn).set(expandKv(ks, T, kvHeads, group, headDim))
      view(vAttn).set(expandKv(v.subarray(s * kvSpan, (s + 1) * kvSpan), T, kvHeads, group, headDim))
    }
    const p = new Float32Array(c.nHeads * T * T)
    K.attentionForward(view(attn), p, view(q), view(kAttn), view(vAttn), T, c.nHeads, headDim, scale)
    probs.push(p)
  })
  const [b, attnSubNorm] = normForward(K, attn, w.norm.attnSubNorm, rows, c.normEps)
  const [o, oc] = projForward(run, li, 'o', w.proj.o, b)
  const h = new Float32Array(rows * c.dModel)
  K.addScaled(h, x, o, 1)

  const [cn, ffnNorm] = normForward(K, h, w.norm.ffnNorm, rows, c.normEps)
  const [u, upc] = projForward(run, li, 'up', w.proj.up, cn)
  const r2 = new Float32Array(u.length)
  let gate: Float32Array | undefined
  let gatec: ProjCache | undefined
  if (c.ffnGate === true) {
    ;[gate, gatec] = projForward(run, li, 'gate', matrixOf(w, 'gate'), cn)
    K.relu2Forward(r2, gate)
    for (let i = 0; i < r2.length; i++) r2[i] = f((r2[i] as number) * (u[i] as number))
  } else {
    K.relu2Forward(r2, u)
  }
  const [e, ffnSubNorm] = normForward(K, r2, w.norm.ffnSubNorm, rows, c.normEps)
  const [dn, downc] = projForward(run, li, 'down', w.proj.down, e)
  const out = new Float32Array(rows * c.dModel)
  K.addScaled(out, h, dn, 1)
  return [
    out,
    {
      norms: { attnNorm, attnSubNorm, ffnNorm, ffnSubNorm },
      proj: { q: qc, k: kc, v: vc, o: oc, up: upc, down: downc, ...(gatec ? { gate: gatec } : {}) },
      q,
      k: kAttn,
      v: vAttn,
      probs,
      u,
      ...(gate ? { gate } : {}),
    },
  ]
}

function normBackward(
  run: StageRun,
  name: string,
  g: Float32Array,
  cache: NormCache,
  dy: Float32Array,
  grads: Params,
): Float32Array {
  const rows = rowsOf(run)
  const dx = new Float32Array(cache.x.length)
  let dg: Float32Array | null = null
  if (run.trainBackbone === true) {
    dg = new Float32Array(g.length)
    grads.set(name, dg)
  }
  run.kernels.rmsnormBackward(dx, dg, cache.x, g, cache.invRms, dy, rows, g.length)
  return dx
}

export function layerBackward(
  run: StageRun,
  li: number,
  w: LayerWeights,
  cache: LayerCache,
  dOut: Float32Array,
  grads: Params,
): Float32Array {
  const K = run.kernels
  const c = run.stage.config
  const T = run.tokens
  const headDim = headDimOf(c)
  const kvHeads = kvHeadsOf(c)
  const group = c.nHeads / kvHeads
  const rope = ropeTables(c)
  const cos = rope.cos.subarray(0, (T * headDim) / 2)
  const sin = rope.sin.subarray(0, (T * headDim) / 2)
  const projCache = (proj: Projection): ProjCache => {
    const pc = cache.proj[proj]
    if (pc === undefined) throw new ShapeError(`layer ${li} cache lacks the '${proj}' projection`)
    return pc
  }

  // out = h + down(e): the residual passes dOut to h unchanged.
  const de = projBackward(run, li, 'down', w.proj.down, projCache('down'), dOut, grads)
  const dr = normBackward(run, `L${li}.ffnSubNorm`, w.norm.ffnSubNorm, cache.norms.ffnSubNorm, de, grads)
  const du = new Float32Array(dr.length)
  let dcn: Float32Array
  if (c.ffnGate === true) {
    // r = relu(g)²·u: du = dr·relu(g)², d relu(g)² = dr·u; the up path's input gradient, then the gate's.
    const gate = cache.gate as Float32Array
    const act = new Float32Array(gate.length)
    K.relu2Forward(act, gate)
    const dact = new Float32Array(gate.length)
    for (let i = 0; i < du.length; i++) {
      du[i] = f((dr[i] as number) * (act[i] as number))
      dact[i] = f((dr[i] as number) * (cache.u[i] as number))
    }
    const dg = new Float32Array(gate.length)
    K.relu2Backward(dg, gate, dact)
    dcn = projBackward(run, li, 'up', w.proj.up, projCache('up'), du, grads)
    K.addScaled(dcn, dcn, projBackward(run, li, 'gate', matrixOf(w, 'gate'), projCache('gate'), dg, grads), 1)
  } else {
    K.relu2Backward(du, cache.u, dr)
    dcn = projBackward(run, li, 'up', w.proj.up, projCache('up'), du, grads)
  }
  const dhFfn = normBackward(run, `L${li}.ffnNorm`, w.norm.ffnNorm, cache.norms.ffnNorm, dcn, grads)
  const dh = new Float32Array(dOut.length)
  K.addScaled(dh, dOut, dhFfn, 1)

  // h = x + o(b)
  const db = projBackward(run, li, 'o', w.proj.o, projCache('o'), dh, grads)
  const dattn = normBackward(run, `L${li}.attnSubNorm`, w.norm.attnSubNorm, cache.norms.attnSubNorm, db, grads)
  const dq = new Float32Array(dattn.length)
  const dkAttn = new Float32Array(dattn.length)
  const dvAttn = new Float32Array(dattn.length)
  const kvSpan = T * kvHeads * headDim
  const rows = rowsOf(run)
  const dk = group === 1 ? dkAttn : new Float32Array(rows * kvHeads * headDim)
  const dv = group === 1 ? dvAttn : new Float32Array(rows * kvHeads * headDim)
  const scale = rsqrtf(headDim)
  perSequence(run, c.dModel, (s, view) => {
    K.attentionBackward(
      view(dq),
      view(dkAttn),
      view(dvAttn),
      view(dattn),
      cache.probs[s] as Float32Array,
      view(cache.q),
      view(cache.k),
      view(cache.v),
      T,
      c.nHeads,
      headDim,
      scale,
    )
    const dks = dk.subarray(s * kvSpan, (s + 1) * kvSpan)
    if (group !== 1) {
      dks.set(reduceKv(view(dkAttn), T, kvHeads, group, headDim))
      dv.subarray(s * kvSpan, (s + 1) * kvSpan).set(reduceKv(view(dvAttn), T, kvHeads, group, headDim))
    }
    K.rope(view(dq), cos, sin, T, c.nHeads, headDim, true)
    K.rope(dks, cos, sin, T, kvHeads, headDim, true)
  })
  const da = projBackward(run, li, 'q', w.proj.q, projCache('q'), dq, grads)
  K.addScaled(da, da, projBackward(run, li, 'k', w.proj.k, projCache('k'), dk, grads), 1)
  K.addScaled(da, da, projBackward(run, li, 'v', w.proj.v, projCache('v'), dv, grads), 1)
  const dxAttn = normBackward(run, `L${li}.attnNorm`, w.norm.attnNorm, cache.norms.attnNorm, da, grads)
  const dx = new Float32Array(dh.length)
  K.addScaled(dx, dh, dxAttn, 1)
  return dx
}

/**
 * Run the stage forward. The last stage needs `targets` (the next byte of each input
 * position) and returns logits and the mean cross-entropy.
 */
export function stageForward(
  run: StageRun,
  input: StageInput,
  targets?: Int32Array,
  onStep?: StepObserver,
): StageForward {
  checkRun(run, input, targets)
  const { stage } = run
  const c = stage.config
  let x = input.kind === 'tokens' ? embed(run, input.tokens) : input.activations
  onStep?.(x)
  const layers: LayerCache[] = []
  for (let li = stage.first; li < stage.end; li++) {
    const [out, cache] = layerForward(run, li, stage.layers[li - stage.first] as LayerWeights, x)
    layers.push(cache)
    x = out
    onStep?.(x)
  }
  if (stage.end !== c.nLayers) return { output: x, cache: { layers, input } }
  const head = headForward(run, x, targets as Int32Array)
  return {
    output: head.logits,
    loss: head.loss,
    cache: { layers, input, finalNorm: head.finalNorm, finalOut: head.finalOut, dlogits: head.dlogits },
  }
}

/**
 * Called with each step's output as a stage runs (src/ml/steps.ts names the steps): the
 * stage's input, each layer's output, the gradient entering the last layer, and each layer's
 * backward (its input gradient followed by its parameter gradients, names sorted).
 */
export type StepObserver = (output: Float32Array) => void

/** The first stage's input activations: each token's embedding row. */
export function embed(run: StageRun, tokens: Int32Array): Float32Array {
  const c = run.stage.config
  const emb = run.stage.embedding as Float32Array
  const x = new Float32Array(tokens.length * c.dModel)
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i] as number
    x.set(emb.subarray(t * c.dModel, (t + 1) * c.dModel), i * c.dModel)
  }
  return x
}

interface HeadForward {
  readonly logits: Float32Array
  readonly loss: number
  readonly finalNorm: NormCache
  readonly finalOut: Float32Array
  readonly dlogits: Float32Array
}

/** The last stage's head: final norm, logits and the loss with its gradient. */
function headForward(run: StageRun, x: Float32Array, targets: Int32Array): HeadForward {
  const { stage, kernels: K } = run
  const c = stage.config
  const rows = rowsOf(run)
  const [y, finalNorm] = normForward(K, x, stage.finalNorm as Float32Array, rows, c.normEps)
  const logits = new Float32Array(rows * c.vocabSize)
  K.matmulNT(logits, y, stage.head as Float32Array, rows, c.dModel, c.vocabSize)
  const dlogits = new Float32Array(logits.length)
  const loss = K.crossEntropy(dlogits, logits, targets, rows, c.vocabSize)
  return { logits, loss, finalNorm, finalOut: y, dlogits }
}

/** The head backward: the gradient of the last layer's output (and the head's, with the backbone). */
function headBackward(
  run: StageRun,
  cache: Pick<StageCache, 'dlogits' | 'finalOut' | 'finalNorm'>,
  grads: Params,
): Float32Array {
  const { stage, kernels: K } = run
  const c = stage.config
  const rows = rowsOf(run)
  const dlogits = cache.dlogits as Float32Array
  const dy = new Float32Array(rows * c.dModel)
  K.matmulNN(dy, dlogits, stage.head as Float32Array, rows, c.vocabSize, c.dModel)
  if (run.trainBackbone === true) {
    const dHead = new Float32Array(c.vocabSize * c.dModel)
    K.matmulTN(dHead, dlogits, cache.finalOut as Float32Array, rows, c.vocabSize, c.dModel)
    grads.set('head', dHead)
  }
  return normBackward(run, 'finalNorm', stage.finalNorm as Float32Array, cache.finalNorm as NormCache, dy, grads)
}

/** The head's forward and backward from the last layer's output: that layer's output gradient. */
export function headGradient(run: StageRun, x: Float32Array, targets: Int32Array): Float32Array {
  return headBackward(run, headForward(run, x, targets), new Map())
}

/** One layer's backward step output: its input gradient, then its parameter gradients by sorted name. */
export function packLayerBackward(dx: Float32Array, grads: Params): Float32Array {
  const names = [...grads.keys()].sort()
  let size = dx.length
  for (const name of names) size += (grads.get(name) as Float32Array).length
  const out = new Float32Array(size)
  out.set(dx, 0)
  let at = dx.length
  for (const name of names) {
    const g = grads.get(name) as Float32Array
    out.set(g, at)
    at += g.length
  }
  return out
}

/**
 * Run the stage backward. The last stage starts from its own loss (`dOutput` omitted); the
 * others take the gradient of their output activations from the next stage.
 */
export function stageBackward(
  run: StageRun,
  forward: StageForward,
  dOutput?: Float32Array,
  onStep?: StepObserver,
): StageBackward {
  const { stage } = run
  const c = stage.config
  const rows = rowsOf(run)
  const cache = forward.cache
  const grads: Params = new Map()
  let dx: Float32Array
  if (stage.end === c.nLayers) {
    dx = headBackward(run, cache, grads)
  } else {
    if (dOutput?.length !== rows * c.dModel) {
      throw new ShapeError(
        `stage needs an output gradient of ${rows}×${c.dModel} values, got ${dOutput?.length ?? 'none'}`,
      )
    }
    assertFinite('output gradient', dOutput)
    dx = dOutput
  }
  onStep?.(dx)
  for (let li = stage.end - 1; li >= stage.first; li--) {
    const w = stage.layers[li - stage.first] as LayerWeights
    // Each layer's gradients apart first, so a step trace can name them; the union is the same map.
    const layerGrads: Params = new Map()
    dx = layerBackward(run, li, w, cache.layers[li - stage.first] as LayerCache, dx, layerGrads)
    for (const [name, g] of layerGrads) grads.set(name, g)
    onStep?.(packLayerBackward(dx, layerGrads))
  }
  if (cache.input.kind === 'activations') return { grads, dInput: dx }
  if (run.trainBackbone === true) {
    // Embedding gradient: scatter-add rows in increasing row order (the canonical fold).
    const dEmb = new Float32Array(c.vocabSize * c.dModel)
    for (let i = 0; i < rows; i++) {
      const t = cache.input.tokens[i] as number
      for (let j = 0; j < c.dModel; j++) {
        dEmb[t * c.dModel + j] = Math.fround((dEmb[t * c.dModel + j] as number) + (dx[i * c.dModel + j] as number))
      }
    }
    grads.set('embedding', dEmb)
  }
  return { grads }
}
