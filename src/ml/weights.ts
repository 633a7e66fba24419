/**
 * Backbone and adapter parameters, named so that every tensor has one place in an artifact:
 *
 *   embedding [V,d] · finalNorm [d] · head [V,d]
 *   L{i}.{q,k,v,o,up,down}.w (ternary [out,in]) and .gamma [1]; also .gate with `ffnGate`
 *   L{i}.{attnNorm,attnSubNorm,ffnNorm,ffnSubNorm} [width]
 *   L{i}.{proj}.loraA [r,in] · L{i}.{proj}.loraB [out,r]
 *
 * The backbone is frozen on the network: a miner holds the ternary weights of its layer range
 * only. Genesis pretraining also keeps latent float weights, quantized to ternary every step.
 */

import type { PhiloxKey } from '../codec/prng.ts'
import { PhiloxStream } from '../codec/prng.ts'
import { kvHeadsOf, type LoraConfig, type ModelConfig } from './config.ts'
import { MlConfigError } from './errors.ts'
import { roundHalfAway, rsqrtf } from './fmath.ts'

const f = Math.fround

/** The projections of every configuration, in artifact and adapter order. */
export const PROJECTIONS = ['q', 'k', 'v', 'o', 'up', 'down'] as const
export type CoreProjection = (typeof PROJECTIONS)[number]
export type Projection = CoreProjection | 'gate'
/**
 * Every projection, each with a fixed index that seeds its Philox streams: `gate` comes last so
 * the streams of the others (and so the bytes of configurations without a gate) never move.
 */
export const ALL_PROJECTIONS: readonly Projection[] = [...PROJECTIONS, 'gate']

/** The projections of a layer of `config`, in order (with `gate` when the FFN is gated). */
export function projectionsOf(config: ModelConfig): readonly Projection[] {
  return config.ffnGate === true ? ALL_PROJECTIONS : PROJECTIONS
}

/** Width of one attention head. */
export function headDimOf(config: ModelConfig): number {
  return config.dModel / config.nHeads
}
export const NORMS = ['attnNorm', 'attnSubNorm', 'ffnNorm', 'ffnSubNorm'] as const
export type NormName = (typeof NORMS)[number]

/** [out, in] of each projection. */
export function projectionShape(config: ModelConfig, proj: Projection): [number, number] {
  const d = config.dModel
  if (proj === 'up' || proj === 'gate') return [config.dFF, d]
  if (proj === 'down') return [d, config.dFF]
  if (proj === 'k' || proj === 'v') return [kvHeadsOf(config) * headDimOf(config), d]
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

/** A layer's projections: the core ones always, `gate` only in a gated-FFN configuration. */
export type LayerProjections = Record<CoreProjection, TernaryMatrix> & { gate?: TernaryMatrix }

export interface LayerWeights {
  readonly proj: LayerProjections
  readonly norm: Record<NormName, Float32Array>
}

/** A layer's matrix of `proj`; throws when the layer lacks it (a gate in an ungated layer). */
export function matrixOf(layer: LayerWeights, proj: Projection): TernaryMatrix {
  const m = layer.proj[proj]
  if (m === undefined) throw new MlConfigError(`layer has no '${proj}' projection`)
  return m
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
    for (const proj of projectionsOf(stage.config)) {
      const m = matrixOf(layer, proj)
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
    const proj = {} as LayerProjections
    projectionsOf(config).forEach((name) => {
      const pi = ALL_PROJECTIONS.indexOf(name)
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
    projectionsOf(config).forEach((proj) => {
      const pi = ALL_PROJECTIONS.indexOf(proj)
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
