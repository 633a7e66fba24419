/**
 * Backbone and adapter parameters, named so that every tensor has one place in an artifact:
 *
 *   embedding [V,d] · finalNorm [d] · head [V,d]
 *   L{i}.{q,k,v,o,up,down}.w (ternary [out,in]) and .gamma [1]
 *   L{i}.{attnNorm,attnSubNorm,ffnNorm,ffnSubNorm} [width]
 *   L{i}.{proj}.loraA [r,in] · L{i}.{proj}.loraB [out,r]
 *
 * The backbone is frozen on the network: a miner holds the ternary weights of its layer range
 * only. Genesis pretraining also keeps latent float weights, quantized to ternary every step.
 */

import type { PhiloxKey } from '../codec/prng.ts'
import { PhiloxStream } from '../codec/prng.ts'
import type { LoraConfig, ModelConfig } from './config.ts'
import { MlConfigError } from './errors.ts'
import { roundHalfAway, rsqrtf } from './fmath.ts'

const f = Math.fround

export const PROJECTIONS = ['q', 'k', 'v', 'o', 'up', 'down'] as const
export type Projection = (typeof PROJECTIONS)[number]
export const NORMS = ['attnNorm', 'attnSubNorm', 'ffnNorm', 'ffnSubNorm'] as const
export type NormName = (typeof NORMS)[number]

/** [out, in] of each projection. */
export function projectionShape(config: ModelConfig, proj: Projection): [number, number] {
  const d = config.dModel
  if (proj === 'up') return [config.dFF, d]
  if (proj === 'down') return [d, config.dFF]
  return [d, d]
}

export function normWidth(config: ModelConfig, norm: NormName): number {
  return norm === 'ffnSubNorm' ? config.dFF : config.dModel
}

export interface TernaryMatrix {
  readonly rows: number
  readonly cols: number
  /** Values in {−1, 0, +1}, [rows, cols]. */
  w: Int8Array
  /** The matrix's absmean scale. */
  gamma: number
  /** Latent float weights, present only while pretraining. */
  latent?: Float32Array
}

export interface LayerWeights {
  readonly proj: Record<Projection, TernaryMatrix>
  readonly norm: Record<NormName, Float32Array>
}

/** The backbone weights a stage needs: layers [first, end), plus the ends it owns. */
export interface StageWeights {
  readonly config: ModelConfig
  readonly first: number
  readonly end: number
  readonly layers: LayerWeights[]
  /** Present when first = 0. */
  readonly embedding?: Float32Array
  /** Present when end = nLayers. */
  readonly finalNorm?: Float32Array
  readonly head?: Float32Array
}

/**
 * BitNet b1.58 absmean quantization: gamma = Σ|w| / n (fold in index order), floored at
 * 1e-5; w_t = clamp(roundHalfAway(w / gamma), −1, 1).
 */
export function quantizeTernary(latent: Float32Array, out: Int8Array): number {
  let sum = 0
  for (let i = 0; i < latent.length; i++) sum = f(sum + Math.abs(latent[i] as number))
  let gamma = f(sum / latent.length)
  if (!(gamma >= 1e-5)) gamma = f(1e-5)
  for (let i = 0; i < latent.length; i++) {
    const v = roundHalfAway(f((latent[i] as number) / gamma))
    out[i] = Math.min(1, Math.max(-1, v))
  }
  return gamma
}

/** Re-derive every ternary matrix of a stage from its latent weights (pretraining). */
export function requantize(stage: StageWeights): void {
  for (const layer of stage.layers) {
    for (const proj of PROJECTIONS) {
      const m = layer.proj[proj]
      if (m.latent !== undefined) m.gamma = quantizeTernary(m.latent, m.w)
    }
  }
}

/**
 * Fresh latent weights for genesis pretraining, from a Philox stream per tensor: uniform in
 * ±1/√in for projections and the head, ±1 scaled by 0.02·√3 for the embedding, gains 1.
 */
export function initStageWeights(config: ModelConfig, first: number, end: number, key: PhiloxKey): StageWeights {
  if (!(Number.isInteger(first) && Number.isInteger(end) && 0 <= first && first < end && end <= config.nLayers)) {
    throw new MlConfigError(`invalid layer range [${first}, ${end}) for ${config.nLayers} layers`)
  }
  const uniform = (n: number, bound: number, a: number, b: number): Float32Array => {
    const stream = new PhiloxStream(key, a, b)
    const out = new Float32Array(n)
    for (let i = 0; i < n; i++) out[i] = f(stream.nextSignedUnit() * bound)
    return out
  }
  const layers: LayerWeights[] = []
  for (let li = first; li < end; li++) {
    const proj = {} as Record<Projection, TernaryMatrix>
    PROJECTIONS.forEach((name, pi) => {
      const [rows, cols] = projectionShape(config, name)
      const latent = uniform(rows * cols, rsqrtf(cols), li + 1, pi)
      const w = new Int8Array(rows * cols)
      proj[name] = { rows, cols, w, gamma: quantizeTernary(latent, w), latent }
    })
    const norm = {} as Record<NormName, Float32Array>
    for (const name of NORMS) norm[name] = new Float32Array(normWidth(config, name)).fill(1)
    layers.push({ proj, norm })
  }
  const d = config.dModel
  const V = config.vocabSize
  return {
    config,
    first,
    end,
    layers,
    ...(first === 0 ? { embedding: uniform(V * d, f(0.02 * Math.sqrt(3)), 0, 100) } : {}),
    ...(end === config.nLayers
      ? { finalNorm: new Float32Array(d).fill(1), head: uniform(V * d, rsqrtf(d), 0, 101) }
      : {}),
  }
}

/** LoRA adapters of a stage, by parameter name (`L{i}.{proj}.loraA|loraB`). */
export type Params = Map<string, Float32Array>

export function loraNames(layer: number, proj: Projection): { a: string; b: string } {
  return { a: `L${layer}.${proj}.loraA`, b: `L${layer}.${proj}.loraB` }
}

/**
 * Fresh adapters: A uniform in ±1/√in from a Philox stream per (layer, projection), B zero,
 * so a new adapter changes nothing until it is trained (as in LoRA).
 */
export function initAdapters(
  config: ModelConfig,
  lora: LoraConfig,
  first: number,
  end: number,
  key: PhiloxKey,
): Params {
  const params: Params = new Map()
  for (let li = first; li < end; li++) {
    PROJECTIONS.forEach((proj, pi) => {
      const [rows, cols] = projectionShape(config, proj)
      const stream = new PhiloxStream(key, li, pi, 1)
      const bound = rsqrtf(cols)
      const a = new Float32Array(lora.rank * cols)
      for (let i = 0; i < a.length; i++) a[i] = f(stream.nextSignedUnit() * bound)
      const names = loraNames(li, proj)
      params.set(names.a, a)
      params.set(names.b, new Float32Array(rows * lora.rank))
    })
  }
  return params
}

export function loraScale(lora: LoraConfig): number {
  return f(lora.alpha / lora.rank)
}
