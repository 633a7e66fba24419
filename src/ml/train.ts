/**
 * Training loops: genesis pretraining of the backbone (quantization-aware: latent float
 * weights, ternary forward, straight-through backward) and LoRA fine-tuning on a frozen
 * backbone. Both are deterministic functions of (backbone, data, seed, hyper-parameters) on
 * any backend; time is read only to report throughput.
 */

import { deriveKey } from '../codec/prng.ts'
import type { Clock } from '../runtime/clock.ts'
import { defaultLora, type LoraConfig } from './config.ts'
import { type Batch, evalBatches, sampleBatch } from './data/dataset.ts'
import { MlConfigError } from './errors.ts'
import type { Kernels } from './kernels/contract.ts'
import { type StageRun, stageBackward, stageForward } from './model.ts'
import { type AdamWConfig, type AdamWState, adamwStep, defaultAdamW, initAdamW } from './optimizer.ts'
import { initAdapters, matrixOf, NORMS, type Params, projectionsOf, requantize, type StageWeights } from './weights.ts'

const f = Math.fround

export interface EvalOptions {
  readonly sequences: number
  readonly tokens: number
  /** Held-out tokens evaluated. @default 8192 */
  readonly maxTokens?: number
}

/** Mean cross-entropy (nats per token) over fixed held-out windows. */
export function evaluate(
  K: Kernels,
  stage: StageWeights,
  adapters: Params,
  lora: LoraConfig,
  batches: readonly Batch[],
): number {
  let total = 0
  for (const batch of batches) {
    const run: StageRun = { kernels: K, stage, adapters, lora, sequences: batch.sequences, tokens: batch.tokens }
    total += stageForward(run, { kind: 'tokens', tokens: batch.inputs }, batch.targets).loss as number
  }
  return total / batches.length
}

/** Scale all gradients so that their global L2 norm is at most `maxNorm` (sorted-name fold). */
export function clipGradients(grads: Params, maxNorm: number): number {
  let ss = 0
  for (const name of [...grads.keys()].sort()) {
    const g = grads.get(name) as Float32Array
    for (let i = 0; i < g.length; i++) ss = f(ss + f((g[i] as number) * (g[i] as number)))
  }
  const norm = f(Math.sqrt(ss))
  if (norm > maxNorm) {
    const scale = f(maxNorm / norm)
    for (const g of grads.values()) for (let i = 0; i < g.length; i++) g[i] = f((g[i] as number) * scale)
  }
  return norm
}

/** Linear warm-up over `warmup` steps, then linear decay to 10% at `steps`. */
export function learningRate(base: number, step: number, steps: number, warmup: number): number {
  const warm = step < warmup ? f((step + 1) / warmup) : 1
  const decay = f(1 - f(0.9 * f(step / Math.max(1, steps))))
  return f(f(base * warm) * decay)
}

export interface Progress {
  readonly step: number
  readonly steps: number
  readonly loss: number
  readonly tokensPerSecond: number
}

export interface FinetuneOptions {
  readonly kernels: Kernels
  readonly clock: Clock
  readonly backbone: StageWeights
  /** Training token ids. */
  readonly train: Int32Array
  /** Held-out token ids. */
  readonly heldOut: Int32Array
  readonly steps: number
  readonly sequences: number
  readonly tokens: number
  /** Seed of the adapter init and the data order. */
  readonly seed: string
  readonly lora?: LoraConfig
  readonly optimizer?: AdamWConfig
  readonly eval?: EvalOptions
  readonly onProgress?: (p: Progress) => void
  /**
   * Called after each step with the adapters as trained so far (to read, not to change);
   * returning true ends the run after that step: a run boxed in time, evaluated on the way.
   */
  readonly onStep?: (step: number, adapters: Params) => boolean | undefined
}

export interface FinetuneResult {
  /** Held-out loss before and after, nats per token. */
  readonly before: number
  readonly after: number
  readonly tokensPerSecond: number
  /** Steps run: fewer than asked when `onStep` ended the run. */
  readonly steps: number
  readonly adapters: Params
  readonly optimizerState: AdamWState
}

function checkSteps(steps: number, sequences: number, tokens: number): void {
  for (const [name, v] of [
    ['steps', steps],
    ['sequences', sequences],
    ['tokens', tokens],
  ] as const) {
    if (!(Number.isInteger(v) && v > 0)) throw new MlConfigError(`${name} must be a positive integer, got ${v}`)
  }
}

export function finetune(o: FinetuneOptions): FinetuneResult {
  checkSteps(o.steps, o.sequences, o.tokens)
  const lora = o.lora ?? defaultLora
  const opt = o.optimizer ?? { ...defaultAdamW, lr: 2e-3 }
  const c = o.backbone.config
  const adapters = initAdapters(c, lora, o.backbone.first, o.backbone.end, deriveKey(o.seed, 'lora-init'))
  const evalOpts = o.eval ?? { sequences: 4, tokens: Math.min(128, c.contextLength) }
  const evalSet = evalBatches(o.heldOut, evalOpts.tokens, evalOpts.sequences, evalOpts.maxTokens ?? 8192)
  const before = evaluate(o.kernels, o.backbone, adapters, lora, evalSet)
  const state = initAdamW(adapters)
  const dataKey = deriveKey(o.seed, 'finetune-data')
  const started = o.clock.monotonicMs()
  let done = 0
  while (done < o.steps) {
    const step = done
    const batch = sampleBatch(o.train, dataKey, step, o.sequences, o.tokens)
    const run: StageRun = {
      kernels: o.kernels,
      stage: o.backbone,
      adapters,
      lora,
      sequences: o.sequences,
      tokens: o.tokens,
    }
    const fw = stageForward(run, { kind: 'tokens', tokens: batch.inputs }, batch.targets)
    const { grads } = stageBackward(run, fw)
    clipGradients(grads, 1)
    adamwStep(o.kernels, adapters, grads, state, {
      ...opt,
      lr: learningRate(opt.lr, step, o.steps, Math.ceil(o.steps / 20)),
    })
    const seconds = (o.clock.monotonicMs() - started) / 1000
    o.onProgress?.({
      step: step + 1,
      steps: o.steps,
      loss: fw.loss as number,
      tokensPerSecond: ((step + 1) * o.sequences * o.tokens) / seconds,
    })
    done = step + 1
    if (o.onStep?.(done, adapters) === true) break
  }
  const seconds = (o.clock.monotonicMs() - started) / 1000
  const after = evaluate(o.kernels, o.backbone, adapters, lora, evalSet)
  return {
    before,
    after,
    tokensPerSecond: (done * o.sequences * o.tokens) / seconds,
    steps: done,
    adapters,
    optimizerState: state,
  }
}

/** The trainable backbone parameters of a stage (latent projections, gains, ends), by name. */
export function backboneParams(stage: StageWeights): Params {
  const params: Params = new Map()
  stage.layers.forEach((layer, i) => {
    const li = stage.first + i
    for (const proj of projectionsOf(stage.config)) {
      const latent = matrixOf(layer, proj).latent
      if (latent === undefined) throw new MlConfigError(`layer ${li} ${proj} has no latent weights to train`)
      params.set(`L${li}.${proj}.w`, latent)
    }
    for (const norm of NORMS) params.set(`L${li}.${norm}`, layer.norm[norm])
  })
  if (stage.embedding) params.set('embedding', stage.embedding)
  if (stage.finalNorm) params.set('finalNorm', stage.finalNorm)
  if (stage.head) params.set('head', stage.head)
  return params
}

export interface PretrainState {
  step: number
  readonly optimizer: AdamWState
}

export interface PretrainStepOptions {
  readonly kernels: Kernels
  readonly stage: StageWeights
  readonly params: Params
  readonly state: PretrainState
  /** Training token ids. */
  readonly train: Int32Array
  readonly dataKey: readonly [number, number]
  readonly steps: number
  readonly sequences: number
  readonly tokens: number
  readonly optimizer: AdamWConfig
  /** LoRA adapters present during pretraining (zero B: they do not change the output). */
  readonly adapters: Params
}

/** One quantization-aware pretraining step; returns the batch loss. */
export function pretrainStep(o: PretrainStepOptions): number {
  const batch = sampleBatch(o.train, o.dataKey, o.state.step, o.sequences, o.tokens)
  const run: StageRun = {
    kernels: o.kernels,
    stage: o.stage,
    adapters: o.adapters,
    lora: defaultLora,
    sequences: o.sequences,
    tokens: o.tokens,
    trainBackbone: true,
  }
  const fw = stageForward(run, { kind: 'tokens', tokens: batch.inputs }, batch.targets)
  const { grads } = stageBackward(run, fw)
  for (const name of [...grads.keys()]) if (!o.params.has(name)) grads.delete(name)
  clipGradients(grads, 1)
  const lr = learningRate(o.optimizer.lr, o.state.step, o.steps, Math.ceil(o.steps / 20))
  adamwStep(o.kernels, o.params, grads, o.state.optimizer, { ...o.optimizer, lr })
  requantize(o.stage)
  o.state.step += 1
  return fw.loss as number
}
