/**
 * Text generation with the whole model (backbone + LoRA adapters), one token at a time; each
 * token id stands for a fixed byte string (src/ml/tokenizer), so a completion is handed out as bytes.
 *
 * Each token recomputes the full context (the model is tiny, and there is no key/value cache
 * in the kernel contract). At the context limit the context is a sliding window: the model
 * sees the last `contextLength` tokens of prompt + completion, with rotary positions counted
 * from the window's start, as if those tokens were the whole text.
 *
 * Sampling is a pure function of the logits and the request: temperature 0 takes the argmax
 * (lowest index on ties); otherwise softmax at the temperature (the project's own expf, every
 * op rounded to float32), nucleus (top-p) cut in descending order (ties by index), and one
 * draw per token from a Philox stream keyed by the request seed and indexed by the token's
 * position in the completion. The kernels give the same logits on every backend, so the same
 * request gives the same text on every backend.
 *
 * Stop strings are matched on bytes. Bytes that could still turn out to be the start of a stop
 * string are held back, so what a step hands out never has to be taken back, and the streamed
 * pieces concatenate to exactly the final completion.
 */

import { deriveKey, type PhiloxKey, philox } from '../codec/prng.ts'
import type { LoraConfig } from './config.ts'
import { MlConfigError } from './errors.ts'
import { expf } from './fmath.ts'
import type { Kernels } from './kernels/contract.ts'
import { stageForward } from './model.ts'
import type { Params, StageWeights } from './weights.ts'

const f = Math.fround

/** What generation runs: the whole backbone (all layers, embedding, head) and its adapters. */
export interface GenerationModel {
  readonly kernels: Kernels
  readonly backbone: StageWeights
  readonly adapters: Params
  readonly lora: LoraConfig
  /** The bytes each token id stands for (index = id); absent for byte tokens (id = byte). */
  readonly tokenPieces?: readonly Uint8Array[]
}

export interface GenerationOptions {
  /** Most tokens to generate; at least 1. */
  readonly maxTokens: number
  /** Softmax temperature; 0 is greedy (argmax). */
  readonly temperature: number
  /** Nucleus mass kept before the draw, in [0, 1]; 1 keeps every token. @default 1 */
  readonly topP?: number
  /** Keys the sampling stream: the same seed gives the same completion. */
  readonly seed: string
  /** Generation ends before the first occurrence of any of these byte strings. @default [] */
  readonly stop?: readonly Uint8Array[]
}

export type FinishReason = 'stop' | 'length'

/** The logits of the next token after `context` (its last `contextLength` tokens are used). */
export function nextTokenLogits(model: GenerationModel, context: Int32Array): Float32Array {
  const { backbone } = model
  const c = backbone.config
  if (backbone.first !== 0 || backbone.end !== c.nLayers) {
    throw new MlConfigError(`generation needs the whole model, got layers [${backbone.first}, ${backbone.end})`)
  }
  if (context.length === 0) throw new MlConfigError('generation needs at least one context token')
  const window = context.subarray(Math.max(0, context.length - c.contextLength))
  const tokens = window.length
  // The last stage also computes a loss; its targets do not affect the logits.
  const { output } = stageForward(
    { kernels: model.kernels, stage: backbone, adapters: model.adapters, lora: model.lora, sequences: 1, tokens },
    { kind: 'tokens', tokens: window },
    new Int32Array(tokens),
  )
  return output.slice((tokens - 1) * c.vocabSize, tokens * c.vocabSize)
}

/** The sampling key of a request seed. */
export function samplingKey(seed: string): PhiloxKey {
  return deriveKey(seed, 'generate')
}

/** A uniform in [0, 1) with 24 random bits (exact in float32) for completion token `index`. */
export function samplingDraw(key: PhiloxKey, index: number): number {
  return (philox(key, [index >>> 0, 0, 0, 0])[0] >>> 8) / 0x1000000
}

/**
 * Pick a token from `logits`: argmax at temperature 0, otherwise a top-p draw at `uniform`
 * (in [0, 1)). Every float op is rounded to float32 in one fixed order.
 */
export function sampleToken(logits: Float32Array, temperature: number, topP: number, uniform: number): number {
  if (!(temperature >= 0 && Number.isFinite(temperature))) {
    throw new MlConfigError(`temperature must be a finite number ≥ 0, got ${temperature}`)
  }
  if (!(topP >= 0 && topP <= 1)) throw new MlConfigError(`top_p must be in [0, 1], got ${topP}`)
  if (!(uniform >= 0 && uniform < 1)) throw new MlConfigError(`uniform draw must be in [0, 1), got ${uniform}`)
  const n = logits.length
  let best = 0
  for (let i = 1; i < n; i++) if ((logits[i] as number) > (logits[best] as number)) best = i
  if (temperature === 0) return best
  const t = f(temperature)
  const max = f((logits[best] as number) / t)
  const weight = new Float32Array(n)
  for (let i = 0; i < n; i++) weight[i] = expf(f(f((logits[i] as number) / t) - max))
  const order = Array.from({ length: n }, (_, i) => i)
  order.sort((a, b) => (weight[b] as number) - (weight[a] as number) || a - b)
  let total = 0
  for (const i of order) total = f(total + (weight[i] as number))
  const threshold = f(f(topP) * total)
  let kept = 0
  let keptMass = 0
  while (kept < n && (kept === 0 || keptMass < threshold)) {
    keptMass = f(keptMass + (weight[order[kept] as number] as number))
    kept++
  }
  const target = f(uniform * keptMass)
  let acc = 0
  for (let k = 0; k < kept; k++) {
    const i = order[k] as number
    acc = f(acc + (weight[i] as number))
    if (target < acc) return i
  }
  return order[kept - 1] as number
}

/**
 * Where the first stop string occurrence starts that ends at or after `from` (a token may add
 * several bytes, so a stop can end inside the new piece), or undefined.
 */
function firstStop(bytes: readonly number[], stops: readonly Uint8Array[], from: number): number | undefined {
  let first: number | undefined
  for (const stop of stops) {
    for (let start = Math.max(0, from - stop.length + 1); start + stop.length <= bytes.length; start++) {
      let match = true
      for (let i = 0; i < stop.length && match; i++) match = bytes[start + i] === stop[i]
      if (match) {
        if (first === undefined || start < first) first = start
        break
      }
    }
  }
  return first
}

/** Length of the longest suffix of `bytes` that is a proper prefix of some stop string. */
function heldBack(bytes: readonly number[], stops: readonly Uint8Array[]): number {
  let longest = 0
  for (const stop of stops) {
    for (let k = Math.min(stop.length - 1, bytes.length); k > longest; k--) {
      let match = true
      for (let i = 0; i < k && match; i++) match = bytes[bytes.length - k + i] === stop[i]
      if (match) {
        longest = k
        break
      }
    }
  }
  return longest
}

/**
 * One completion in progress. Each `step()` runs the model once, appends one token and returns
 * the bytes that became final (possibly none while a stop string might be starting). Callers
 * that serve several requests call `step()` between other work.
 */
export class Generation {
  readonly #model: GenerationModel
  readonly #options: Required<GenerationOptions>
  readonly #key: PhiloxKey
  readonly #context: number[]
  readonly #promptTokens: number
  readonly #completion: number[] = []
  /** The bytes of the completion's tokens, in order. */
  readonly #bytes: number[] = []
  #emitted = 0
  #finishReason: FinishReason | undefined

  constructor(model: GenerationModel, prompt: Int32Array, options: GenerationOptions) {
    if (prompt.length === 0) throw new MlConfigError('prompt must hold at least one token')
    if (!(Number.isInteger(options.maxTokens) && options.maxTokens >= 1)) {
      throw new MlConfigError(`maxTokens must be a positive integer, got ${options.maxTokens}`)
    }
    const stop = options.stop ?? []
    if (stop.some((s) => s.length === 0)) throw new MlConfigError('stop strings must not be empty')
    const topP = options.topP ?? 1
    // Checks temperature and top-p once, before any compute.
    sampleToken(Float32Array.of(0), options.temperature, topP, 0)
    this.#model = model
    this.#options = { ...options, topP, stop }
    this.#key = samplingKey(options.seed)
    // Only the last window of the context is ever read (see nextTokenLogits).
    this.#context = Array.from(prompt.subarray(Math.max(0, prompt.length - model.backbone.config.contextLength)))
    this.#promptTokens = prompt.length
  }

  get done(): boolean {
    return this.#finishReason !== undefined
  }

  get finishReason(): FinishReason | undefined {
    return this.#finishReason
  }

  get promptTokens(): number {
    return this.#promptTokens
  }

  /** Tokens generated so far, those of a matched stop string included. */
  get completionTokens(): number {
    return this.#completion.length
  }

  step(): Uint8Array {
    if (this.done) throw new MlConfigError('generation already finished')
    const c = this.#model.backbone.config
    const logits = nextTokenLogits(this.#model, Int32Array.from(this.#context))
    const o = this.#options
    const uniform = o.temperature === 0 ? 0 : samplingDraw(this.#key, this.#completion.length)
    const token = sampleToken(logits, o.temperature, o.topP, uniform)
    this.#context.push(token)
    if (this.#context.length > c.contextLength) this.#context.shift()
    this.#completion.push(token)
    const piece = this.#model.tokenPieces?.[token]
    if (piece !== undefined) for (const b of piece) this.#bytes.push(b)
    else if (token < 256) this.#bytes.push(token)
    else throw new MlConfigError(`token ${token} has no bytes: the model names no tokenizer pieces`)
    // A stop string completes with the bytes just added, so it ends within them: find the
    // earliest occurrence that ends in the new piece.
    const stopAt = firstStop(this.#bytes, o.stop, this.#bytes.length - (piece?.length ?? 1))
    let end: number
    if (stopAt !== undefined) {
      this.#finishReason = 'stop'
      end = stopAt
    } else if (this.#completion.length >= o.maxTokens) {
      this.#finishReason = 'length'
      end = this.#bytes.length
    } else {
      end = this.#bytes.length - heldBack(this.#bytes, o.stop)
    }
    // Held-back bytes cover every stop prefix, so a matched stop never starts before `emitted`.
    const fresh = Uint8Array.from(this.#bytes.slice(this.#emitted, Math.max(end, this.#emitted)))
    this.#emitted = Math.max(end, this.#emitted)
    return fresh
  }
}

export interface GenerationResult {
  /** The completion's bytes, without the stop string that ended it. */
  readonly bytes: Uint8Array
  readonly finishReason: FinishReason
  readonly promptTokens: number
  readonly completionTokens: number
}

/** Generate a whole completion synchronously. */
export function generate(model: GenerationModel, prompt: Int32Array, options: GenerationOptions): GenerationResult {
  const generation = new Generation(model, prompt, options)
  const pieces: number[] = []
  while (!generation.done) pieces.push(...generation.step())
  return {
    bytes: Uint8Array.from(pieces),
    finishReason: generation.finishReason as FinishReason,
    promptTokens: generation.promptTokens,
    completionTokens: generation.completionTokens,
  }
}
